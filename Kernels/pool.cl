// pool.cl: max and average pooling over NCHW tensors, forward and backward.
//
// The window (POOL_R × POOL_S) and the stride (POOL_SH, POOL_SW) are compile-time constants:
// the host builds one program per window and stride. With constant bounds the loops unroll into
// straight-line code that a CPU device's compiler can vectorise across work-items (PoCL and
// Intel's runtime vectorise only innermost loops: a kernel with a loop of run-time length runs
// one work-item at a time; on PoCL the backward and the window-tiling kernels vectorise, the
// general forward stays scalar) and a GPU's compiler keeps the window in registers.
//
// Work-items: one per output element (forward) or input element (backward) on a 3-D range
// (x, y, plane), so no work-item divides by a run-time size (a CPU has no vector integer
// division: PoCL would run 16 scalar divisions per vector of work-items), and only the plane's
// base is 64-bit. Geometry, one int8: p = (N·C, H, W, padH, padW, OH, OW, 0). Every kernel
// checks its bound, so global sizes may be rounded up.

#ifndef POOL_R
#define POOL_R 2
#endif
#ifndef POOL_S
#define POOL_S 2
#endif
#ifndef POOL_SH
#define POOL_SH POOL_R
#endif
#ifndef POOL_SW
#define POOL_SW POOL_S
#endif
// The windows do not overlap (stride ≥ window on both axes: the usual 2×2/2 max pool), so at
// most one window holds an input element.
#define POOL_DISJOINT (POOL_SH >= POOL_R && POOL_SW >= POOL_S)

// The window of output (y, x) over `in` (one H × W plane): its maximum (NaN when it holds a
// NaN; −∞ for a window wholly in the padding) or its mean over the whole window.
inline float pool_window(const __global float *in, int H, int W, int top, int left, int isMax) {
  float acc = isMax ? -INFINITY : 0.0f;
#pragma unroll
  for (int r = 0; r < POOL_R; r++) {
#pragma unroll
    for (int s = 0; s < POOL_S; s++) {
      const int h = top + r, w = left + s;
      const bool inside = h >= 0 && h < H && w >= 0 && w < W;
      // Every work-item loads (from a clamped address) and selects: a load under a condition
      // cost the forward pass 2x on PoCL and 4x on Intel's runtime.
      const float loaded = in[clamp(h, 0, H - 1) * W + clamp(w, 0, W - 1)];
      const float v = inside ? loaded : (isMax ? -INFINITY : 0.0f);
      if (isMax) acc = (v > acc || isnan(v)) ? v : acc;
      else acc += v;
    }
  }
  return isMax ? acc : acc / (float)(POOL_R * POOL_S);
}

// Whether input element (h, w) is the first maximum (row-major) of the window at (top, left)
// whose maximum is `peak`: the element the forward pass took, as the CPU reference decides it.
inline bool pool_first_max(const __global float *in, int H, int W, int top, int left, float peak, int h, int w) {
  int first = -1;
#pragma unroll
  for (int r = POOL_R - 1; r >= 0; r--) {
#pragma unroll
    for (int s = POOL_S - 1; s >= 0; s--) {
      const int hh = top + r, ww = left + s;
      const bool inside = hh >= 0 && hh < H && ww >= 0 && ww < W;
      const float loaded = in[clamp(hh, 0, H - 1) * W + clamp(ww, 0, W - 1)];  // unconditional, as in pool_window
      if (inside && loaded == peak) first = r * POOL_S + s;  // the last hit walking backwards
    }
  }
  return first == (h - top) * POOL_S + (w - left);
}

// output (N·C, OH, OW): one element per work-item.
__kernel void pool2d(__global const float *input, __global float *output, const int8 p, const int isMax) {
  const int H = p.s1, W = p.s2, ph = p.s3, pw = p.s4, OH = p.s5, OW = p.s6;
  const int x = get_global_id(0), y = get_global_id(1), plane = get_global_id(2);
  if (x >= OW || y >= OH) return;
  output[(long)plane * OH * OW + y * OW + x] = pool_window(input + (long)plane * H * W, H, W, y * POOL_SH - ph, x * POOL_SW - pw, isMax);
}

// gradInput (N·C, H, W), one element per work-item: the sum over windows holding (h, w) of
// their gradient — for max pooling only from windows whose first maximum is (h, w). Disjoint
// windows: the one window holding (h, w) is found by a division per axis.
__kernel void pool2d_backward(__global const float *input, __global const float *output, __global const float *gradOutput,
                              __global float *gradInput, const int8 p, const int isMax) {
  const int H = p.s1, W = p.s2, ph = p.s3, pw = p.s4, OH = p.s5, OW = p.s6;
  const int w = get_global_id(0), h = get_global_id(1), plane = get_global_id(2);
  if (w >= W || h >= H) return;
  const __global float *in = input + (long)plane * H * W;
  const __global float *go = gradOutput + (long)plane * OH * OW;
  const __global float *out = output + (long)plane * OH * OW;
  float acc = 0.0f;
#if POOL_DISJOINT
  const int ty = h + ph, tx = w + pw;
  const int y = ty / POOL_SH, x = tx / POOL_SW;  // divisions by constants: multiplies and shifts
  if (ty - y * POOL_SH < POOL_R && tx - x * POOL_SW < POOL_S && y < OH && x < OW) {
    const int o = y * OW + x;
    if (!isMax) acc = go[o] / (float)(POOL_R * POOL_S);
    else if (pool_first_max(in, H, W, y * POOL_SH - ph, x * POOL_SW - pw, out[o], h, w)) acc = go[o];
  }
#else
#pragma unroll
  for (int r = 0; r < POOL_R; r++) {
    const int ty = h + ph - r;
    const int y = ty / POOL_SH;
    if (ty < 0 || ty - y * POOL_SH != 0 || y >= OH) continue;
#pragma unroll
    for (int s = 0; s < POOL_S; s++) {
      const int tx = w + pw - s;
      const int x = tx / POOL_SW;
      if (tx < 0 || tx - x * POOL_SW != 0 || x >= OW) continue;
      const int o = y * OW + x;
      if (!isMax) acc += go[o] / (float)(POOL_R * POOL_S);
      else if (pool_first_max(in, H, W, y * POOL_SH - ph, x * POOL_SW - pw, out[o], h, w)) acc += go[o];
    }
  }
#endif
  gradInput[(long)plane * H * W + h * W + w] = acc;
}

// output when the windows tile the input exactly (see pool2d_backward_tiles): every load in
// bounds, so no clamping or selecting. Global (OW, OH, N·C), rounded up.
__kernel void pool2d_tiles(__global const float *input, __global float *output, const int8 p, const int isMax) {
  const int H = p.s1, W = p.s2, OH = p.s5, OW = p.s6;
  const int x = get_global_id(0), y = get_global_id(1), plane = get_global_id(2);
  if (x >= OW || y >= OH) return;
  const long base = (long)plane * H * W + (y * POOL_R) * W + x * POOL_S;
  float acc = isMax ? -INFINITY : 0.0f;
#pragma unroll
  for (int r = 0; r < POOL_R; r++) {
#pragma unroll
    for (int s = 0; s < POOL_S; s++) {
      const float v = input[base + r * W + s];
      if (isMax) acc = (v > acc || isnan(v)) ? v : acc;
      else acc += v;
    }
  }
  output[(long)plane * OH * OW + y * OW + x] = isMax ? acc : acc / (float)(POOL_R * POOL_S);
}

// gradInput when the windows tile the input exactly (stride = window, no padding, H = OH·R,
// W = OW·S: a 2×2/2 pool of even sizes), one output window per work-item: it writes its R·S
// input gradients — the window's gradient at its first maximum (max pooling; none when the
// maximum is NaN, as the CPU reference) or spread evenly (average) — reading the window once,
// where the per-input kernel reads it once per element. Global (OW, OH, N·C), rounded up.
__kernel void pool2d_backward_tiles(__global const float *input, __global const float *output, __global const float *gradOutput,
                                    __global float *gradInput, const int8 p, const int isMax) {
  const int H = p.s1, W = p.s2, OH = p.s5, OW = p.s6;
  const int x = get_global_id(0), y = get_global_id(1), plane = get_global_id(2);
  if (x >= OW || y >= OH) return;
  const long base = (long)plane * H * W + (y * POOL_R) * W + x * POOL_S;
  const int o = y * OW + x;
  const float g = gradOutput[(long)plane * OH * OW + o];
  const float peak = output[(long)plane * OH * OW + o];
  int first = POOL_R * POOL_S;  // none
#pragma unroll
  for (int r = POOL_R - 1; r >= 0; r--) {
#pragma unroll
    for (int s = POOL_S - 1; s >= 0; s--) {
      if (input[base + r * W + s] == peak) first = r * POOL_S + s;  // the last hit walking backwards
    }
  }
#pragma unroll
  for (int r = 0; r < POOL_R; r++) {
#pragma unroll
    for (int s = 0; s < POOL_S; s++) {
      gradInput[base + r * W + s] = isMax ? (first == r * POOL_S + s ? g : 0.0f) : g / (float)(POOL_R * POOL_S);
    }
  }
}
