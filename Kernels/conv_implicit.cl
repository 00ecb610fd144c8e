// conv_implicit.cl: implicit-GEMM convolution on NCHW tensors. Each pass is a GEMM whose
// operands are read through the convolution's geometry (stride, padding, dilation, groups)
// instead of from an im2col matrix, and whose result is written in NCHW directly:
//
//   forward          out (N, K, OH, OW)  = W (K/G × C/G·R·S) · cols(input)        (+ bias, ReLU)
//                    per group: M = K/G, columns = N·OH·OW pixels, depth = C/G·R·S
//   backward-data    dx  (N, C, H, W)    = Wᵀ · cols(dy)  (the window positions that reach (h, w))
//                    per group: M = C/G, columns = N·H·W pixels, depth = K/G·R·S
//   backward-weight  dW  (K, C/G, R, S)  = dy (K/G × N·OH·OW) · cols(input)ᵀ
//                    per group: M = K/G, columns = C/G·R·S, depth = N·OH·OW (tall and skinny:
//                    split into SPLITS ranges over the work-groups, each writing its own
//                    partial (SPLITS, K, C/G·R·S), summed by conv_igemm_sum_splits in split
//                    order: no atomics, the same result on every run).
//
// Geometry, as conv.cl: g0 = (N, C, H, W, K, R, S, G), g1 = (sh, sw, ph, pw, dh, dw, OH, OW).
// Every index fits an int (the host checks that every tensor holds fewer than 2³¹ elements).
//
// Two variants with the same kernel names, chosen by the build option CONV_TILED, as gemm.cl's
// families are chosen per device type:
//  * packed (CONV_TILED 0, CPU-type devices such as PoCL): a work-item holds an IG_RM × IG_VW
//    block of the result in IG_RM float vectors (IG_VW columns each) and vectorises itself:
//    per depth step one IG_VW-lane gather of the image operand, IG_RM broadcasts of the
//    weight operand and IG_RM fma(). No __local memory, no barrier (what PoCL needs).
//  * tiled (CONV_TILED 1, GPUs): a work-group stages IGT_K-deep slices of both operands in
//    __local memory; each work-item accumulates IGT_WPT × IGT_WPT results in registers.

#ifndef CONV_TILED
#define CONV_TILED 0
#endif
// packed: rows of the result per work-item (float vector accumulators). Supported: 4, 6, 8.
#ifndef IG_RM
#define IG_RM 8
#endif
// packed: columns per work-item, the float vector width. Supported: 8, 16.
#ifndef IG_VW
#define IG_VW 16
#endif
// tiled: a work-group computes IGT_TILE × IGT_TILE results over IGT_K-deep slices, with
// (IGT_TILE / IGT_WPT)² work-items of IGT_WPT × IGT_WPT results each.
#ifndef IGT_TILE
#define IGT_TILE 64
#endif
#ifndef IGT_K
#define IGT_K 16
#endif
#ifndef IGT_WPT
#define IGT_WPT 4
#endif

// Sums SPLITS partial weight gradients in split order: dW[e] = Σ_s partial[s·count + e].
__kernel void conv_igemm_sum_splits(__global const float *partial, __global float *gradWeight, const int count, const int splits) {
  const int e = get_global_id(0);
  if (e >= count) return;
  float acc = 0.0f;
  for (int s = 0; s < splits; s++) acc += partial[(long)s * count + e];
  gradWeight[e] = acc;
}

#define IG_GEOMETRY                                                                                   \
  const int N = g0.s0, C = g0.s1, H = g0.s2, W = g0.s3, K = g0.s4, R = g0.s5, S = g0.s6, G = g0.s7; \
  const int sh = g1.s0, sw = g1.s1, ph = g1.s2, pw = g1.s3, dh = g1.s4, dw = g1.s5, OH = g1.s6, OW = g1.s7; \
  const int KG = K / G, CG = C / G, RS = R * S, HW = H * W, OHW = OH * OW;

#if !CONV_TILED

#define IG_CAT_(a, b) a##b
#define IG_CAT(a, b) IG_CAT_(a, b)
#define floatV IG_CAT(float, IG_VW)
#define intV IG_CAT(int, IG_VW)
#define vloadV IG_CAT(vload, IG_VW)
#define vstoreV IG_CAT(vstore, IG_VW)
#if IG_VW == 8
#define IG_IOTA ((int8)(0, 1, 2, 3, 4, 5, 6, 7))
#elif IG_VW == 16
#define IG_IOTA ((int16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15))
#else
#error "IG_VW must be 8 or 16"
#endif
#if IG_RM == 4
#define IG_ROWS(X) X(0) X(1) X(2) X(3)
#elif IG_RM == 6
#define IG_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)
#elif IG_RM == 8
#define IG_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#else
#error "IG_RM must be 4, 6 or 8"
#endif

#define IG_DECLARE(m) floatV acc##m = (floatV)(0.0f);
#define IG_FMA(m) acc##m = fma((floatV)(a##m[aIndex]), v, acc##m);

// IG_VW values src[idx[lane]] where ok[lane] (a vector compare: −1 true), 0 elsewhere. The
// gather goes through a private array: OpenCL C cannot index a vector with a variable.
inline floatV ig_gather(const __global float *src, intV idx, intV ok) {
  int at[IG_VW], use[IG_VW];
  float values[IG_VW];
  vstoreV(idx, 0, at);
  vstoreV(ok, 0, use);
  for (int lane = 0; lane < IG_VW; lane++) values[lane] = use[lane] ? src[at[lane]] : 0.0f;
  return vloadV(0, values);
}

// Forward, one IG_RM × IG_VW block per work-item: output channels grp·KG + i0 … i0+IG_RM−1 at
// the IG_VW pixels j0 … of the N·OH·OW output pixels (n, y, x). Global size
// (ceil(N·OH·OW / IG_VW), ceil(KG / IG_RM), G), rounded up to the work-group.
// input (N, C, H, W), weight (K, CG, R, S), bias (K) read when flags & 1, output (N, K, OH, OW);
// flags & 2: ReLU after the bias.
#define IG_WEIGHT_ROW(m) const __global float *a##m = weight + (long)(grp * KG + min(i0 + m, KG - 1)) * CG * RS;
#define IG_STORE_FWD(m)                                                                     \
  if (i0 + m < KG) {                                                                        \
    const int k = grp * KG + i0 + m;                                                        \
    floatV v = acc##m;                                                                      \
    if (flags & 1) v += (floatV)(bias[k]);                                                  \
    if (flags & 2) v = fmax(v, (floatV)(0.0f));                                             \
    if (whole) {                                                                            \
      vstoreV(v, 0, output + ((long)n0 * K + k) * OHW + rem0);                              \
    } else {                                                                                \
      float vals[IG_VW];                                                                    \
      vstoreV(v, 0, vals);                                                                  \
      for (int lane = 0; lane < IG_VW && j0 + lane < P; lane++) {                           \
        const int j = j0 + lane, n = j / OHW;                                               \
        output[((long)n * K + k) * OHW + (j - n * OHW)] = vals[lane];                       \
      }                                                                                     \
    }                                                                                       \
  }
__kernel void conv_igemm_forward(__global const float *input, __global const float *weight, __global const float *bias,
                                 __global float *output, const int8 g0, const int8 g1, const int flags) {
  IG_GEOMETRY
  const int P = N * OHW;
  const int jb = get_global_id(0), ib = get_global_id(1), grp = get_global_id(2);
  const int i0 = ib * IG_RM, j0 = jb * IG_VW;
  if (i0 >= KG || j0 >= P || grp >= G) return;
  const intV j = min(j0 + IG_IOTA, (intV)(P - 1));
  const intV live = (j0 + IG_IOTA) < P;
  const intV n = j / OHW, rem = j - n * OHW, y = rem / OW, x = rem - y * OW;
  const intV base = (n * C + grp * CG) * HW;
  const intV h0 = y * sh - ph, w0 = x * sw - pw;
  IG_ROWS(IG_WEIGHT_ROW)
  IG_ROWS(IG_DECLARE)
  // Window position outside, input channel inside: the bounds test and the index are formed
  // once per (r, s) and advance by one plane per channel.
  for (int r = 0; r < R; r++) {
    const intV h = h0 + r * dh;
    const intV hok = live & (h >= 0) & (h < H);
    for (int s = 0; s < S; s++) {
      const intV w = w0 + s * dw;
      const intV ok = hok & (w >= 0) & (w < W);
      intV idx = select((intV)(0), base + h * W + w, ok);
      int aIndex = r * S + s;
      for (int c = 0; c < CG; c++) {
        const floatV v = ig_gather(input, idx, ok);
        IG_ROWS(IG_FMA)
        idx += HW;
        aIndex += RS;
      }
    }
  }
  const int n0 = j0 / OHW, rem0 = j0 - n0 * OHW;
  const bool whole = j0 + IG_VW <= P && rem0 + IG_VW <= OHW;
  IG_ROWS(IG_STORE_FWD)
}

// Backward-data, one IG_RM × IG_VW block per work-item: input channels grp·CG + i0 … at the
// IG_VW pixels j0 … of the N·H·W input pixels (n, h, w). dx[n][c][h][w] = Σ over (k, r, s) with
// h + ph − r·dh = y·sh, w + pw − s·dw = x·sw inside the output of dy[n][k][y][x]·W[k][c][r][s].
// gradOutput (N, K, OH, OW), weight (K, CG, R, S), gradInput (N, C, H, W) overwritten.
// Global size (ceil(N·H·W / IG_VW), ceil(CG / IG_RM), G).
#define IG_WEIGHT_COL(m) const __global float *a##m = weight + ((long)grp * KG * CG + min(i0 + m, CG - 1)) * RS;
#define IG_STORE_DATA(m)                                                                    \
  if (i0 + m < CG) {                                                                        \
    const int c = grp * CG + i0 + m;                                                        \
    if (whole) {                                                                            \
      vstoreV(acc##m, 0, gradInput + ((long)n0 * C + c) * HW + rem0);                       \
    } else {                                                                                \
      float vals[IG_VW];                                                                    \
      vstoreV(acc##m, 0, vals);                                                             \
      for (int lane = 0; lane < IG_VW && j0 + lane < P; lane++) {                           \
        const int jj = j0 + lane, nn = jj / HW;                                             \
        gradInput[((long)nn * C + c) * HW + (jj - nn * HW)] = vals[lane];                   \
      }                                                                                     \
    }                                                                                       \
  }
__kernel void conv_igemm_backward_data(__global const float *gradOutput, __global const float *weight, __global float *gradInput,
                                       const int8 g0, const int8 g1) {
  IG_GEOMETRY
  const int P = N * HW;
  const int jb = get_global_id(0), ib = get_global_id(1), grp = get_global_id(2);
  const int i0 = ib * IG_RM, j0 = jb * IG_VW;
  if (i0 >= CG || j0 >= P || grp >= G) return;
  const intV j = min(j0 + IG_IOTA, (intV)(P - 1));
  const intV live = (j0 + IG_IOTA) < P;
  const intV n = j / HW, rem = j - n * HW, h = rem / W, w = rem - h * W;
  const intV base = (n * K + grp * KG) * OHW;
  IG_ROWS(IG_WEIGHT_COL)
  IG_ROWS(IG_DECLARE)
  for (int r = 0; r < R; r++) {
    const intV ty = h + ph - r * dh;
    const intV tyc = max(ty, (intV)(0));
    const intV y = tyc / sh;
    const intV yok = live & (ty >= 0) & (y * sh == tyc) & (y < OH);
    for (int s = 0; s < S; s++) {
      const intV tx = w + pw - s * dw;
      const intV txc = max(tx, (intV)(0));
      const intV x = txc / sw;
      const intV ok = yok & (tx >= 0) & (x * sw == txc) & (x < OW);
      intV idx = select((intV)(0), base + y * OW + x, ok);
      int aIndex = r * S + s;
      for (int k = 0; k < KG; k++) {
        const floatV v = ig_gather(gradOutput, idx, ok);
        IG_ROWS(IG_FMA)
        idx += OHW;
        aIndex += CG * RS;
      }
    }
  }
  const int n0 = j0 / HW, rem0 = j0 - n0 * HW;
  const bool whole = j0 + IG_VW <= P && rem0 + IG_VW <= HW;
  IG_ROWS(IG_STORE_DATA)
}

// Backward-weight, one IG_RM × IG_VW block per work-item over one split of the pixels:
// output channels grp·KG + i0 … by the IG_VW columns j0 … of the CG·R·S (c, r, s) columns,
// summed over pixels p in [split·chunk, min((split+1)·chunk, N·OH·OW)) in order.
// input (N, C, H, W), gradOutput (N, K, OH, OW), partial (splits, K, CG·R·S).
// Global size (ceil(CG·R·S / IG_VW), ceil(KG / IG_RM), G·splits); dimension 2 is grp·splits + split.
#define IG_DY_ROW(m) const __global float *a##m = gradOutput + (long)(grp * KG + min(i0 + m, KG - 1)) * OHW;
#define IG_STORE_WEIGHT(m)                                                                  \
  if (i0 + m < KG) {                                                                        \
    __global float *dst = partial + ((long)split * K + grp * KG + i0 + m) * L;              \
    if (j0 + IG_VW <= L) {                                                                  \
      vstoreV(acc##m, 0, dst + j0);                                                         \
    } else {                                                                                \
      float vals[IG_VW];                                                                    \
      vstoreV(acc##m, 0, vals);                                                             \
      for (int lane = 0; lane < IG_VW && j0 + lane < L; lane++) dst[j0 + lane] = vals[lane]; \
    }                                                                                       \
  }
__kernel void conv_igemm_backward_weight(__global const float *input, __global const float *gradOutput, __global float *partial,
                                         const int8 g0, const int8 g1, const int splits, const int chunk) {
  IG_GEOMETRY
  const int L = CG * RS, P = N * OHW;
  const int jb = get_global_id(0), ib = get_global_id(1), grp = get_global_id(2) / splits, split = get_global_id(2) % splits;
  const int i0 = ib * IG_RM, j0 = jb * IG_VW;
  if (i0 >= KG || j0 >= L || grp >= G) return;
  const intV j = min(j0 + IG_IOTA, (intV)(L - 1));
  const intV live = (j0 + IG_IOTA) < L;
  const intV c = j / RS, rs = j - c * RS, r = rs / S, s = rs - r * S;
  const intV plane = (grp * CG + c) * HW;
  const intV rr = r * dh - ph, ss = s * dw - pw;
  IG_ROWS(IG_DY_ROW)
  IG_ROWS(IG_DECLARE)
  const int pBegin = min(split * chunk, P), pEnd = min(pBegin + chunk, P);
  int n = pBegin / OHW, rem = pBegin - n * OHW, y = rem / OW, x = rem - y * OW;
  for (int p = pBegin; p < pEnd; p++) {
    const intV hh = y * sh + rr, ww = x * sw + ss;
    const intV ok = live & (hh >= 0) & (hh < H) & (ww >= 0) & (ww < W);
    const intV idx = select((intV)(0), n * C * HW + plane + hh * W + ww, ok);
    const floatV v = ig_gather(input, idx, ok);
    const int aIndex = n * K * OHW + rem;
    IG_ROWS(IG_FMA)
    // Next pixel: (n, y, x) in row-major order.
    rem++;
    if (++x == OW) {
      x = 0;
      if (++y == OH) { y = 0; n++; rem = 0; }
    }
  }
  IG_ROWS(IG_STORE_WEIGHT)
}

#else  // CONV_TILED

#define IGT_RTS (IGT_TILE / IGT_WPT)  // work-items along each side of the work-group
#define IGT_THREADS (IGT_RTS * IGT_RTS)

// Forward image operand: input[n][c0 + c][y·sh − ph + r·dh][x·sw − pw + s·dw] for depth
// l = (c, r, s) and pixel j = (n, y, x) of the N·OH·OW output pixels; 0 outside.
inline float fwd_b(const __global float *input, int l, int j, int P, int C, int H, int W, int R, int S, int sh, int sw,
                   int ph, int pw, int dh, int dw, int OW, int OHW, int c0) {
  if (j >= P) return 0.0f;
  const int RS = R * S, c = l / RS, rs = l - c * RS, r = rs / S, s = rs - r * S;
  const int n = j / OHW, rem = j - n * OHW, y = rem / OW, x = rem - y * OW;
  const int h = y * sh - ph + r * dh, w = x * sw - pw + s * dw;
  return (h >= 0 && h < H && w >= 0 && w < W) ? input[((n * C + c0 + c) * H + h) * W + w] : 0.0f;
}

// Backward-data image operand: dy[n][k0 + k][y][x] for depth l = (k, r, s) and input pixel
// j = (n, h, w), where h + ph − r·dh = y·sh and w + pw − s·dw = x·sw; 0 when no such output.
inline float data_b(const __global float *gradOutput, int l, int j, int P, int K, int H, int W, int S, int RS, int sh, int sw,
                    int ph, int pw, int dh, int dw, int OH, int OW, int OHW, int HW, int k0) {
  if (j >= P) return 0.0f;
  const int k = l / RS, rs = l - k * RS, r = rs / S, s = rs - r * S;
  const int n = j / HW, rem = j - n * HW, h = rem / W, w = rem - h * W;
  const int ty = h + ph - r * dh, tx = w + pw - s * dw;
  if (ty < 0 || tx < 0 || ty % sh != 0 || tx % sw != 0) return 0.0f;
  const int y = ty / sh, x = tx / sw;
  return (y < OH && x < OW) ? gradOutput[((n * K + k0 + k) * OH + y) * OW + x] : 0.0f;
}

// Backward-weight image operand: input[n][c0 + c][y·sh − ph + r·dh][x·sw − pw + s·dw] for
// pixel p = (n, y, x) of the N·OH·OW output pixels and column j = (c, r, s); 0 outside.
inline float wgt_b(const __global float *input, int p, int j, int L, int C, int H, int W, int S, int RS, int sh, int sw,
                   int ph, int pw, int dh, int dw, int OW, int OHW, int c0) {
  if (j >= L) return 0.0f;
  const int c = j / RS, rs = j - c * RS, r = rs / S, s = rs - r * S;
  const int n = p / OHW, rem = p - n * OHW, y = rem / OW, x = rem - y * OW;
  const int h = y * sh - ph + r * dh, w = x * sw - pw + s * dw;
  return (h >= 0 && h < H && w >= 0 && w < W) ? input[((n * C + c0 + c) * H + h) * W + w] : 0.0f;
}

// The work-group (IGT_RTS, IGT_RTS, 1) computes rows row0 … row0+IGT_TILE−1 by columns
// col0 … of the result over depth [l0, l1). LOAD_A(i, l) and LOAD_B(l, j) give the operands
// (0 outside); work-item (tx, ty) owns rows ty + w·IGT_RTS and columns tx + w·IGT_RTS.
// The loop bounds are the same for the whole work-group, so every barrier is reached by all.
#define IGT_MAIN_LOOP(LOAD_A, LOAD_B)                                                        \
  __local float As[IGT_K][IGT_TILE + 1];                                                     \
  __local float Bs[IGT_K][IGT_TILE + 1];                                                     \
  float acc[IGT_WPT][IGT_WPT];                                                               \
  for (int wm = 0; wm < IGT_WPT; wm++)                                                       \
    for (int wn = 0; wn < IGT_WPT; wn++) acc[wm][wn] = 0.0f;                                 \
  const int tx = get_local_id(0), ty = get_local_id(1), tid = ty * IGT_RTS + tx;             \
  for (int lt = l0; lt < l1; lt += IGT_K) {                                                  \
    for (int e = tid; e < IGT_TILE * IGT_K; e += IGT_THREADS) {                              \
      const int kk = e / IGT_TILE, ii = e % IGT_TILE;                                        \
      const int l = lt + kk;                                                                 \
      As[kk][ii] = l < l1 ? LOAD_A(row0 + ii, l) : 0.0f;                                     \
      Bs[kk][ii] = l < l1 ? LOAD_B(l, col0 + ii) : 0.0f;                                     \
    }                                                                                        \
    barrier(CLK_LOCAL_MEM_FENCE);                                                            \
    for (int kk = 0; kk < IGT_K; kk++) {                                                     \
      float breg[IGT_WPT];                                                                   \
      for (int wn = 0; wn < IGT_WPT; wn++) breg[wn] = Bs[kk][tx + wn * IGT_RTS];             \
      for (int wm = 0; wm < IGT_WPT; wm++) {                                                 \
        const float areg = As[kk][ty + wm * IGT_RTS];                                        \
        for (int wn = 0; wn < IGT_WPT; wn++) acc[wm][wn] = fma(areg, breg[wn], acc[wm][wn]); \
      }                                                                                      \
    }                                                                                        \
    barrier(CLK_LOCAL_MEM_FENCE);                                                            \
  }

// Forward: A(i, l) = weight[grp·KG + i][l] over l = (c, r, s); B(l, j) = input at pixel
// j = (n, y, x) through window position (r, s) of channel grp·CG + c. Global size
// (ceil(N·OH·OW / IGT_TILE)·IGT_RTS, ceil(KG / IGT_TILE)·IGT_RTS, G).
__kernel __attribute__((reqd_work_group_size(IGT_RTS, IGT_RTS, 1)))
void conv_igemm_forward(__global const float *input, __global const float *weight, __global const float *bias,
                        __global float *output, const int8 g0, const int8 g1, const int flags) {
  IG_GEOMETRY
  const int P = N * OHW, L = CG * RS, grp = get_global_id(2);
  const int row0 = get_group_id(1) * IGT_TILE, col0 = get_group_id(0) * IGT_TILE, l0 = 0, l1 = L;
#define FWD_A(i, l) ((i) < KG ? weight[(long)(grp * KG + (i)) * L + (l)] : 0.0f)
#define FWD_B(l, jj) fwd_b(input, l, jj, P, C, H, W, R, S, sh, sw, ph, pw, dh, dw, OW, OHW, grp * CG)
  IGT_MAIN_LOOP(FWD_A, FWD_B)
  for (int wm = 0; wm < IGT_WPT; wm++) {
    const int i = row0 + ty + wm * IGT_RTS;
    if (i >= KG) continue;
    const int k = grp * KG + i;
    const float b = (flags & 1) ? bias[k] : 0.0f;
    for (int wn = 0; wn < IGT_WPT; wn++) {
      const int j = col0 + tx + wn * IGT_RTS;
      if (j >= P) continue;
      float v = acc[wm][wn] + b;
      if (flags & 2) v = fmax(v, 0.0f);
      const int n = j / OHW;
      output[((long)n * K + k) * OHW + (j - n * OHW)] = v;
    }
  }
}

// Backward-data: A(i, l) = weight[grp·KG + k][i][r][s] over l = (k, r, s); B(l, j) = dy at the
// output position whose window position (r, s) lands on input pixel j = (n, h, w), 0 when none.
// Global size (ceil(N·H·W / IGT_TILE)·IGT_RTS, ceil(CG / IGT_TILE)·IGT_RTS, G).
__kernel __attribute__((reqd_work_group_size(IGT_RTS, IGT_RTS, 1)))
void conv_igemm_backward_data(__global const float *gradOutput, __global const float *weight, __global float *gradInput,
                              const int8 g0, const int8 g1) {
  IG_GEOMETRY
  const int P = N * HW, L = KG * RS, grp = get_global_id(2);
  const int row0 = get_group_id(1) * IGT_TILE, col0 = get_group_id(0) * IGT_TILE, l0 = 0, l1 = L;
#define DATA_A(i, l) ((i) < CG ? weight[((long)(grp * KG + (l) / RS) * CG + (i)) * RS + (l) % RS] : 0.0f)
#define DATA_B(l, jj) data_b(gradOutput, l, jj, P, K, H, W, S, RS, sh, sw, ph, pw, dh, dw, OH, OW, OHW, HW, grp * KG)
  IGT_MAIN_LOOP(DATA_A, DATA_B)
  for (int wm = 0; wm < IGT_WPT; wm++) {
    const int i = row0 + ty + wm * IGT_RTS;
    if (i >= CG) continue;
    for (int wn = 0; wn < IGT_WPT; wn++) {
      const int j = col0 + tx + wn * IGT_RTS;
      if (j >= P) continue;
      const int n = j / HW;
      gradInput[((long)n * C + grp * CG + i) * HW + (j - n * HW)] = acc[wm][wn];
    }
  }
}

// Backward-weight over one split of the pixels: A(i, p) = dy[n][grp·KG + i][y][x] for pixel
// p = (n, y, x); B(p, j) = input at pixel p through column j = (c, r, s). partial (splits, K, L).
// Global size (ceil(L / IGT_TILE)·IGT_RTS, ceil(KG / IGT_TILE)·IGT_RTS, G·splits).
__kernel __attribute__((reqd_work_group_size(IGT_RTS, IGT_RTS, 1)))
void conv_igemm_backward_weight(__global const float *input, __global const float *gradOutput, __global float *partial,
                                const int8 g0, const int8 g1, const int splits, const int chunk) {
  IG_GEOMETRY
  const int L = CG * RS, P = N * OHW;
  const int grp = get_global_id(2) / splits, split = get_global_id(2) % splits;
  const int row0 = get_group_id(1) * IGT_TILE, col0 = get_group_id(0) * IGT_TILE;
  const int l0 = min(split * chunk, P), l1 = min(l0 + chunk, P);
#define WGT_A(i, p) ((i) < KG ? gradOutput[((long)((p) / OHW) * K + grp * KG + (i)) * OHW + (p) % OHW] : 0.0f)
#define WGT_B(p, jj) wgt_b(input, p, jj, L, C, H, W, S, RS, sh, sw, ph, pw, dh, dw, OW, OHW, grp * CG)
  IGT_MAIN_LOOP(WGT_A, WGT_B)
  for (int wm = 0; wm < IGT_WPT; wm++) {
    const int i = row0 + ty + wm * IGT_RTS;
    if (i >= KG) continue;
    for (int wn = 0; wn < IGT_WPT; wn++) {
      const int j = col0 + tx + wn * IGT_RTS;
      if (j < L) partial[((long)split * K + grp * KG + i) * L + j] = acc[wm][wn];
    }
  }
}

#endif  // CONV_TILED
