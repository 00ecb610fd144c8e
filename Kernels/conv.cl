// conv.cl: the pieces of 2-D convolution on NCHW tensors that are not GEMM (pooling: pool.cl).
// A convolution is im2col, one GEMM per group, and a permute; its input gradient is a GEMM
// and col2im; its weight gradient a GEMM. Every kernel checks its bound, so global sizes may be
// rounded up, except the *_rows kernels, whose work-groups tile the range exactly. Gradients are gathered (each output element sums what reaches it, in a fixed
// order): no atomics, and the same result on every run.

// Geometry, passed as two int8 vectors:
//   g0 = (N, C, H, W, K, R, S, groups)   g1 = (strideH, strideW, padH, padW, dilationH, dilationW, OH, OW)

// Both column kernels run on 3-D ranges whose first dimension walks along an image row:
// consecutive work-items touch consecutive addresses, and the divisions that decode the other
// two dimensions are per row, not per element (a CPU has no vector integer division; im2col
// of ResNet-18's stage-1 shape went from 137 to 50 ms on PoCL and from 132 to 16 ms on Intel's
// runtime).

// columns[(c·R + r)·S + s][(n·OH + y)·OW + x] = input[n][c][y·sh − ph + r·dh][x·sw − pw + s·dw] or 0.
// Work-item (x, n·OH + y, (c·R + r)·S + s): global (OW, N·OH, C·R·S), rounded up.
__kernel void im2col(__global const float *input, const long offset, __global float *columns, const int8 g0, const int8 g1) {
  const int N = g0.s0, C = g0.s1, H = g0.s2, W = g0.s3, R = g0.s5, S = g0.s6;
  const int sh = g1.s0, sw = g1.s1, ph = g1.s2, pw = g1.s3, dh = g1.s4, dw = g1.s5, OH = g1.s6, OW = g1.s7;
  const int x = get_global_id(0), row = get_global_id(1), crs = get_global_id(2);
  // No early return and no load under a condition (each cost 1.3x on PoCL and on Intel): the
  // coordinates are clamped into range, every work-item loads, and only the store is guarded.
  const int rowIn = min(row, N * OH - 1), crsIn = min(crs, C * R * S - 1);
  const int n = rowIn / OH, y = rowIn - n * OH;
  const int c = crsIn / (R * S), rs = crsIn - c * (R * S), r = rs / S, s = rs - r * S;
  const int h = y * sh - ph + r * dh, w = x * sw - pw + s * dw;
  const bool inside = h >= 0 && h < H && w >= 0 && w < W;
  const float v = input[offset + (((long)n * C + c) * H + clamp(h, 0, H - 1)) * W + clamp(w, 0, W - 1)];
  if (x < OW && row < N * OH && crs < C * R * S) columns[(long)crs * N * OH * OW + (long)row * OW + x] = inside ? v : 0.0f;
}

// im2col for launches whose work-groups tile the range exactly (OW work-items across, a
// divisor of N·OH down) and whose sizes fit 32-bit indices: no guard, no 64-bit arithmetic,
// and "inside" tested as "clamping changed nothing". Only in that form does PoCL vectorise it
// (a guarded store, an early return or a && of range tests kept it scalar or made it gather);
// ResNet-18's stage-1 columns took 7 ms instead of 24 on PoCL and 8.5 instead of 19 on Intel's
// runtime.
__kernel void im2col_rows(__global const float *input, const int offset, __global float *columns, const int8 g0, const int8 g1) {
  const int N = g0.s0, C = g0.s1, H = g0.s2, W = g0.s3, R = g0.s5, S = g0.s6;
  const int sh = g1.s0, sw = g1.s1, ph = g1.s2, pw = g1.s3, dh = g1.s4, dw = g1.s5, OH = g1.s6, OW = g1.s7;
  const int x = get_global_id(0), row = get_global_id(1), crs = get_global_id(2);
  const int n = row / OH, y = row - n * OH;
  const int c = crs / (R * S), rs = crs - c * (R * S), r = rs / S, s = rs - r * S;
  const int h = y * sh - ph + r * dh, w = x * sw - pw + s * dw;
  const int hc = clamp(h, 0, H - 1), wc = clamp(w, 0, W - 1);
  const float v = input[offset + ((n * C + c) * H + hc) * W + wc];
  columns[crs * N * OH * OW + row * OW + x] = (hc == h && wc == w) ? v : 0.0f;
}

// The window and its steps are compile-time constants for col2im (one program per
// convolution geometry), so its loops unroll into straight-line code a CPU device vectorises.
#ifndef COL_R
#define COL_R 3
#endif
#ifndef COL_S
#define COL_S 3
#endif
#ifndef COL_SH
#define COL_SH 1
#endif
#ifndef COL_SW
#define COL_SW 1
#endif
#ifndef COL_DH
#define COL_DH 1
#endif
#ifndef COL_DW
#define COL_DW 1
#endif

// gradInput[n][c][h][w] = Σ over (r, s) whose window position lands on (h, w) of the column
// entry. Work-item (w, (n·C + c)·H + h): global (W, N·C·H), rounded up. R, S, sh, sw, dh, dw
// are COL_R … COL_DW (the host builds conv.cl with them).
__kernel void col2im(__global const float *columns, __global float *gradInput, const long offset, const int8 g0, const int8 g1) {
  const int N = g0.s0, C = g0.s1, H = g0.s2, W = g0.s3;
  const int ph = g1.s2, pw = g1.s3, OH = g1.s6, OW = g1.s7;
  const int w = get_global_id(0), row = get_global_id(1);
  if (w >= W || row >= N * C * H) return;
  const int plane = row / H, h = row - plane * H, n = plane / C, c = plane - n * C;
  const long perRow = (long)N * OH * OW;
  float acc = 0.0f;
#pragma unroll
  for (int r = 0; r < COL_R; r++) {
    const int ty = h + ph - r * COL_DH;
    const int y = ty / COL_SH;
    if (ty < 0 || ty - y * COL_SH != 0 || y >= OH) continue;
#pragma unroll
    for (int s = 0; s < COL_S; s++) {
      const int tx = w + pw - s * COL_DW;
      const int x = tx / COL_SW;
      if (tx < 0 || tx - x * COL_SW != 0 || x >= OW) continue;
      acc += columns[(long)((c * COL_R + r) * COL_S + s) * perRow + ((long)n * OH + y) * OW + x];
    }
  }
  gradInput[offset + (long)row * W + w] = acc;
}

// col2im for launches whose work-groups tile the range exactly (W work-items across, a
// divisor of N·C·H down) and whose sizes fit 32-bit indices. A window row that misses the
// output is skipped by a branch uniform along the image row (h, not w, decides it); along the
// row each tap loads at a clamped column and keeps the value where clamping changed nothing.
// Only in that form does PoCL load the taps as contiguous vectors rather than gathers (or
// scalars): ResNet-18's stage-1 shape took 2.4 ms instead of 9.5 on PoCL, 3.7 instead of 4.6
// on Intel's runtime.
__kernel void col2im_rows(__global const float *columns, __global float *gradInput, const int offset, const int8 g0, const int8 g1) {
  const int N = g0.s0, C = g0.s1, H = g0.s2, W = g0.s3;
  const int ph = g1.s2, pw = g1.s3, OH = g1.s6, OW = g1.s7;
  const int w = get_global_id(0), row = get_global_id(1);
  const int plane = row / H, h = row - plane * H, n = plane / C, c = plane - n * C;
  const int perRow = N * OH * OW;
  float acc = 0.0f;
#pragma unroll
  for (int r = 0; r < COL_R; r++) {
    const int ty = h + ph - r * COL_DH;
    const int y = ty / COL_SH;
    if (ty >= 0 && ty - y * COL_SH == 0 && y < OH) {
      const __global float *taps = columns + (c * COL_R + r) * COL_S * perRow + (n * OH + y) * OW;
#pragma unroll
      for (int s = 0; s < COL_S; s++) {
        const int tx = w + pw - s * COL_DW;
        const int x = tx / COL_SW, xc = clamp(x, 0, OW - 1);
        const float v = taps[s * perRow + xc];
        acc += (xc == x && tx == x * COL_SW) ? v : 0.0f;
      }
    }
  }
  gradInput[offset + row * W + w] = acc;
}

// Direct convolution, one output element per work-item: output[n][k][y][x] =
// Σ_{c in k's group, r, s} input[n][c][y·sh − ph + r·dh][x·sw − pw + s·dw] · weight[k][c][r][s].
// No column matrix: for few input channels (a network's first layer) it beats im2col + GEMM,
// whose GEMM then has a tiny depth. Which one runs is measured per shape.
__kernel void conv2d_direct(__global const float *input, __global const float *weight, __global float *output,
                            const int8 g0, const int8 g1) {
  const int N = g0.s0, C = g0.s1, H = g0.s2, W = g0.s3, K = g0.s4, R = g0.s5, S = g0.s6, groups = g0.s7;
  const int sh = g1.s0, sw = g1.s1, ph = g1.s2, pw = g1.s3, dh = g1.s4, dw = g1.s5, OH = g1.s6, OW = g1.s7;
  const long e = get_global_id(0);
  if (e >= (long)N * K * OH * OW) return;
  const int x = e % OW, y = (e / OW) % OH, k = (e / ((long)OW * OH)) % K, n = e / ((long)OW * OH * K);
  const int cg = C / groups, group = k / (K / groups);
  float acc = 0.0f;
  for (int c = 0; c < cg; c++) {
    const __global float *plane = input + ((long)n * C + group * cg + c) * H * W;
    const __global float *kernel_ = weight + ((long)k * cg + c) * R * S;
    for (int r = 0; r < R; r++) {
      const int h = y * sh - ph + r * dh;
      if (h < 0 || h >= H) continue;
      for (int s = 0; s < S; s++) {
        const int w = x * sw - pw + s * dw;
        if (w >= 0 && w < W) acc = fma(plane[h * W + w], kernel_[r * S + s], acc);
      }
    }
  }
  output[e] = acc;
}
