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
//                    split into SPLITS ranges — of pixels (tiled) or of output rows
//                    (packed) — over the work-groups, each writing its own
//                    partial (SPLITS, K, C/G·R·S), summed by conv_igemm_sum_splits in split
//                    order: no atomics, the same result on every run).
//
// Geometry, as conv.cl: g0 = (N, C, H, W, K, R, S, G), g1 = (sh, sw, ph, pw, dh, dw, OH, OW).
// Every index fits an int (the host checks that every tensor holds fewer than 2³¹ elements).
//
// Two variants with the same kernel names, chosen by the build option CONV_TILED, as gemm.cl's
// families are chosen per device type:
//  * packed (CONV_TILED 0, CPU-type devices such as PoCL): a work-item holds an IG_RM × IG_VW
//    block of the result in IG_RM float vectors whose lanes are IG_VW columns of one image
//    row, and vectorises itself: per depth step one vector load of the image operand (a
//    window of a row), IG_RM broadcasts of the weight operand and IG_RM fma(). The weight
//    gradient keeps 4 × 4 such vectors of partial sums along the row. No __local memory,
//    no barrier (what PoCL needs).
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
#define floatHalfV float4
#define vloadHalfV vload4
// Spreads the IG_VW/2 values of h over the even (or odd) lanes, zeros between.
#define IG_SPREAD_EVEN(h) shuffle2((h), (float4)(0.0f), (uint8)(0, 4, 1, 4, 2, 4, 3, 4))
#define IG_SPREAD_ODD(h) shuffle2((h), (float4)(0.0f), (uint8)(4, 0, 4, 1, 4, 2, 4, 3))
// IG_VW values at p, p + 2, p + 4 … (a stride-2 window): one wide load, even lanes.
#define IG_LOAD_STRIDE2(p) (vload16(0, (p)).even)
#elif IG_VW == 16
#define IG_IOTA ((int16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15))
#define floatHalfV float8
#define vloadHalfV vload8
#define IG_SPREAD_EVEN(h) shuffle2((h), (float8)(0.0f), (uint16)(0, 8, 1, 8, 2, 8, 3, 8, 4, 8, 5, 8, 6, 8, 7, 8))
#define IG_SPREAD_ODD(h) shuffle2((h), (float8)(0.0f), (uint16)(8, 0, 8, 1, 8, 2, 8, 3, 8, 4, 8, 5, 8, 6, 8, 7))
#define IG_LOAD_STRIDE2(p) ((float16)(vload16(0, (p)).even, vload16(0, (p) + 16).even))
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

// In the packed kernels the IG_VW lanes are IG_VW consecutive columns of one row of an image
// (output row for forward and backward-weight, input row for backward-data): a window then
// reads IG_VW consecutive (stride 1) or every other (stride 2) input elements, one vector
// load, with lanes outside the image zeroed by a select. Only edge windows near the ends of
// the buffer, and other strides, gather lane by lane.

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

// Elements a window of lane step `step` reads from its start: a stride-2 window loads
// 2·IG_VW and keeps the even lanes.
#define IG_SPAN(step) ((step) == 2 ? 2 * IG_VW : (IG_VW - 1) * (step) + 1)

// The IG_VW-lane window of src starting at p with lane step `step`, lanes where !ok zeroed.
// `inside`: the whole span p … p + IG_SPAN(step) lies in the buffer (so a vector load is safe
// even where some lanes fall outside the image row and are then zeroed).
inline floatV ig_window(const __global float *src, int p, int step, intV ok, bool inside) {
  if (inside && step == 1) return select((floatV)(0.0f), vloadV(0, src + p), ok);
  if (inside && step == 2) return select((floatV)(0.0f), IG_LOAD_STRIDE2(src + p), ok);
  return ig_gather(src, select((intV)(0), p + IG_IOTA * step, ok), ok);
}

// Stores the IG_VW lanes of v at dst[0 … count−1] (count ≤ IG_VW).
inline void ig_store(__global float *dst, floatV v, int count) {
  if (count >= IG_VW) {
    vstoreV(v, 0, dst);
  } else {
    float vals[IG_VW];
    vstoreV(v, 0, vals);
    for (int lane = 0; lane < count; lane++) dst[lane] = vals[lane];
  }
}

// Forward, one IG_RM × IG_VW block per work-item: output channels grp·KG + i0 … i0+IG_RM−1 at
// output columns x0 … x0+IG_VW−1 of row y of image n. Global size
// (N·OH·ceil(OW / IG_VW), ceil(KG / IG_RM), G), dimension 0 rounded up to the work-group.
// input (N, C, H, W), weight (K, CG, R, S), bias (K) read when flags & 1, output (N, K, OH, OW);
// flags & 2: ReLU after the bias.
#define IG_WEIGHT_ROW(m) const __global float *a##m = weight + (long)(grp * KG + min(i0 + m, KG - 1)) * CG * RS;
#define IG_STORE_FWD(m)                                                                     \
  if (i0 + m < KG) {                                                                        \
    const int k = grp * KG + i0 + m;                                                        \
    floatV v = acc##m;                                                                      \
    if (flags & 1) v += (floatV)(bias[k]);                                                  \
    if (flags & 2) v = fmax(v, (floatV)(0.0f));                                             \
    ig_store(output + (((long)n * K + k) * OH + y) * OW + x0, v, OW - x0);                  \
  }
__kernel void conv_igemm_forward(__global const float *input, __global const float *weight, __global const float *bias,
                                 __global float *output, const int8 g0, const int8 g1, const int flags) {
  IG_GEOMETRY
  const int tilesX = (OW + IG_VW - 1) / IG_VW, total = N * C * HW;
  const int t = get_global_id(0), ib = get_global_id(1), grp = get_global_id(2);
  const int i0 = ib * IG_RM;
  if (t >= N * OH * tilesX || i0 >= KG || grp >= G) return;
  const int xb = t % tilesX, row = t / tilesX, y = row % OH, n = row / OH, x0 = xb * IG_VW;
  const intV live = (x0 + IG_IOTA) < OW;
  const int planes = (n * C + grp * CG) * HW;
  IG_ROWS(IG_WEIGHT_ROW)
  IG_ROWS(IG_DECLARE)
  // Window position outside, input channel inside: the bounds test is formed once per
  // (r, s) and the window advances by one plane per channel.
  for (int r = 0; r < R; r++) {
    const int h = y * sh - ph + r * dh;
    if (h < 0 || h >= H) continue;
    for (int s = 0; s < S; s++) {
      const int w0 = x0 * sw - pw + s * dw;
      const intV w = w0 + IG_IOTA * sw;
      const intV ok = live & (w >= 0) & (w < W);
      int p = planes + h * W + w0;
      const bool inside = p >= 0 && p + (CG - 1) * HW + IG_SPAN(sw) <= total;
      int aIndex = r * S + s;
      for (int c = 0; c < CG; c++) {
        const floatV v = ig_window(input, p, sw, ok, inside);
        IG_ROWS(IG_FMA)
        p += HW;
        aIndex += RS;
      }
    }
  }
  IG_ROWS(IG_STORE_FWD)
}

// Backward-data, one IG_RM × IG_VW block per work-item: input channels grp·CG + i0 … at input
// columns x0 … of row h of image n. dx[n][c][h][w] = Σ over (k, r, s) with
// h + ph − r·dh = y·sh, w + pw − s·dw = x·sw inside the output of dy[n][k][y][x]·W[k][c][r][s].
// gradOutput (N, K, OH, OW), weight (K, CG, R, S), gradInput (N, C, H, W) overwritten.
// Global size (N·H·ceil(W / IG_VW), ceil(CG / IG_RM), G).
#define IG_WEIGHT_COL(m) const __global float *a##m = weight + ((long)grp * KG * CG + min(i0 + m, CG - 1)) * RS;
#define IG_STORE_DATA(m) \
  if (i0 + m < CG) ig_store(gradInput + (((long)n * C + grp * CG + i0 + m) * H + h) * W + x0, acc##m, W - x0);
__kernel void conv_igemm_backward_data(__global const float *gradOutput, __global const float *weight, __global float *gradInput,
                                       const int8 g0, const int8 g1) {
  IG_GEOMETRY
  const int tilesX = (W + IG_VW - 1) / IG_VW, total = N * K * OHW;
  const int t = get_global_id(0), ib = get_global_id(1), grp = get_global_id(2);
  const int i0 = ib * IG_RM;
  if (t >= N * H * tilesX || i0 >= CG || grp >= G) return;
  const int xb = t % tilesX, row = t / tilesX, h = row % H, n = row / H, x0 = xb * IG_VW;
  const intV live = (x0 + IG_IOTA) < W;
  const int planes = (n * K + grp * KG) * OHW;
  IG_ROWS(IG_WEIGHT_COL)
  IG_ROWS(IG_DECLARE)
  for (int r = 0; r < R; r++) {
    const int ty = h + ph - r * dh;
    if (ty < 0 || ty % sh != 0 || ty / sh >= OH) continue;
    const int y = ty / sh;
    for (int s = 0; s < S; s++) {
      // Lane w reads output column (w + pw − s·dw) / sw where that divides exactly.
      const int tx0 = x0 + pw - s * dw;
      const intV tx = tx0 + IG_IOTA;
      const intV txc = max(tx, (intV)(0));
      const intV ok = live & (tx >= 0) & ((txc / sw) * sw == txc) & (txc / sw < OW);
      int aIndex = r * S + s;
      if (sw == 1) {
        // Consecutive lanes read consecutive outputs: a window load.
        int p = planes + y * OW + tx0;
        const bool inside = p >= 0 && p + (KG - 1) * OHW + IG_VW <= total;
        for (int k = 0; k < KG; k++) {
          const floatV v = ig_window(gradOutput, p, 1, ok, inside);
          IG_ROWS(IG_FMA)
          p += OHW;
          aIndex += CG * RS;
        }
      } else if (sw == 2) {
        // Every other lane reads an output, consecutive ones: a half-width load spread over
        // the even or the odd lanes (by the parity of the first lane's tx).
        const int odd = tx0 & 1, xFirst = (tx0 + odd) / 2;
        int p = planes + y * OW + xFirst;
        const bool inside = p >= 0 && p + (KG - 1) * OHW + IG_VW / 2 <= total;
        intV idx = select((intV)(0), planes + y * OW + txc / sw, ok);
        for (int k = 0; k < KG; k++) {
          floatV v;
          if (inside) {
            const floatHalfV outs = vloadHalfV(0, gradOutput + p);
            v = select((floatV)(0.0f), odd ? IG_SPREAD_ODD(outs) : IG_SPREAD_EVEN(outs), ok);
          } else {
            v = ig_gather(gradOutput, idx, ok);
          }
          IG_ROWS(IG_FMA)
          p += OHW;
          idx += OHW;
          aIndex += CG * RS;
        }
      } else {
        intV idx = select((intV)(0), planes + y * OW + txc / sw, ok);
        for (int k = 0; k < KG; k++) {
          const floatV v = ig_gather(gradOutput, idx, ok);
          IG_ROWS(IG_FMA)
          idx += OHW;
          aIndex += CG * RS;
        }
      }
    }
  }
  IG_ROWS(IG_STORE_DATA)
}

// Backward-weight: a work-item owns 4 output channels grp·KG + i0 … by 4 columns j0 … of the
// CG·R·S (c, r, s) columns and sums over the output rows (n, y) of its split, in order, IG_VW
// output columns at a time: 16 vector accumulators, each lane a partial sum over its own x,
// added across lanes at the end (a fixed order). Per step: 4 dy windows (contiguous along x),
// 4 input windows, 16 fma. input (N, C, H, W), gradOutput (N, K, OH, OW),
// partial (splits, K, CG·R·S). Global size (ceil(CG·R·S / 4), ceil(KG / 4), G·splits),
// dimension 2 = grp·splits + split; split covers output rows [split·chunk, (split+1)·chunk).
#define IGW_4(X) X(0) X(1) X(2) X(3)
#define IGW_COLUMN(q)                                                                       \
  const int col##q = min(j0 + q, L - 1), c##q = col##q / RS, r##q = (col##q % RS) / S, s##q = col##q % S; \
  const int plane##q = (grp * CG + c##q) * HW;
#define IGW_ACC_ROW(m) floatV acc##m##_0 = 0.0f, acc##m##_1 = 0.0f, acc##m##_2 = 0.0f, acc##m##_3 = 0.0f;
#define IGW_DY(m) const floatV d##m = select((floatV)(0.0f), vloadV(0, gradOutput + dyRow + (long)min(i0 + m, KG - 1) * OHW), live);
#define IGW_DY_EDGE(m) const floatV d##m = ig_gather(gradOutput, dyRow + min(i0 + m, KG - 1) * OHW + IG_IOTA, live);
#define IGW_INPUT(q)                                                                        \
  floatV v##q = (floatV)(0.0f);                                                             \
  {                                                                                         \
    const int h = y * sh - ph + r##q * dh, w0 = x0 * sw - pw + s##q * dw;                   \
    if (h >= 0 && h < H) {                                                                  \
      const intV w = w0 + IG_IOTA * sw;                                                     \
      const int p = n * C * HW + plane##q + h * W + w0;                                     \
      v##q = ig_window(input, p, sw, live & (w >= 0) & (w < W), p >= 0 && p + IG_SPAN(sw) <= totalIn);         \
    }                                                                                       \
  }
#define IGW_FMA_ROW(m)                                                                      \
  acc##m##_0 = fma(d##m, v0, acc##m##_0);                                                   \
  acc##m##_1 = fma(d##m, v1, acc##m##_1);                                                   \
  acc##m##_2 = fma(d##m, v2, acc##m##_2);                                                   \
  acc##m##_3 = fma(d##m, v3, acc##m##_3);
#define IGW_STORE_ONE(m, q)                                                                 \
  if (j0 + q < L) {                                                                         \
    float vals[IG_VW];                                                                      \
    vstoreV(acc##m##_##q, 0, vals);                                                         \
    float sum = 0.0f;                                                                       \
    for (int lane = 0; lane < IG_VW; lane++) sum += vals[lane];                             \
    dst[j0 + q] = sum;                                                                      \
  }
#define IGW_STORE_ROW(m)                                                                    \
  if (i0 + m < KG) {                                                                        \
    __global float *dst = partial + ((long)split * K + grp * KG + i0 + m) * L;              \
    IGW_STORE_ONE(m, 0) IGW_STORE_ONE(m, 1) IGW_STORE_ONE(m, 2) IGW_STORE_ONE(m, 3)         \
  }
__kernel void conv_igemm_backward_weight(__global const float *input, __global const float *gradOutput, __global float *partial,
                                         const int8 g0, const int8 g1, const int splits, const int chunk) {
  IG_GEOMETRY
  const int L = CG * RS, tilesX = (OW + IG_VW - 1) / IG_VW, totalIn = N * C * HW, totalOut = N * K * OHW;
  const int jb = get_global_id(0), ib = get_global_id(1), grp = get_global_id(2) / splits, split = get_global_id(2) % splits;
  const int i0 = ib * 4, j0 = jb * 4;
  if (i0 >= KG || j0 >= L || grp >= G) return;
  IGW_4(IGW_COLUMN)
  IGW_4(IGW_ACC_ROW)
  const int rowBegin = min(split * chunk, N * OH), rowEnd = min(rowBegin + chunk, N * OH);
  for (int row = rowBegin; row < rowEnd; row++) {
    const int n = row / OH, y = row - n * OH;
    for (int xb = 0; xb < tilesX; xb++) {
      const int x0 = xb * IG_VW;
      const intV live = (x0 + IG_IOTA) < OW;
      const int dyRow = (n * K + grp * KG) * OHW + y * OW + x0;
      if (dyRow + (KG - 1) * OHW + IG_VW <= totalOut) {
        IGW_4(IGW_DY)
        IGW_4(IGW_INPUT)
        IGW_4(IGW_FMA_ROW)
      } else {
        IGW_4(IGW_DY_EDGE)
        IGW_4(IGW_INPUT)
        IGW_4(IGW_FMA_ROW)
      }
    }
  }
  IGW_4(IGW_STORE_ROW)
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
