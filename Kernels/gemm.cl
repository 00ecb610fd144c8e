// gemm.cl: fp32 GEMM, row-major, C = alpha·op(A)·op(B) + beta·C, batched with strides.
//
// Three families, chosen per device (and per product) by the tuning table (and by measurement in `scalpel bench`):
//
//  * packed (CPU-type devices such as PoCL): gemm_pack (one launch) copies op(A) and op(B)
//    into zero-padded micro-panels, then gemm_packed gives each work-item a PACK_RM × PACK_VW
//    block of C held in PACK_RM explicit float vectors. PoCL vectorises only innermost loops and
//    turns __local tiles into gathers, so this kernel vectorises itself: one vector load of B
//    and PACK_RM fma() per k, no __local memory, no barrier. Packing also removes the edge
//    cases from the inner loop, handles both transposes, and avoids the cache-set conflicts
//    of power-of-two leading dimensions.
//
//  * direct (the packed family's choice for products whose operands stay cached, see
//    GEMMTuning.directPays): gemm_direct and gemm_direct_nt read op(A) and op(B) in place, one
//    launch instead of three.
//
//  * tiled (GPUs): gemm_tiled stages TILE_K-deep slices of op(A) and op(B) in __local memory;
//    each work-item accumulates TILE_WPT_M × TILE_WPT_N outputs in registers.
//
// Split-K (both families): a product with a long K and a small M·N (a convolution's weight
// gradient: M = output channels, N = input channels·kernel area, K = images·output positions)
// leaves most of the device idle, or streams panels far larger than the caches. The host then
// cuts K into `splits` slices of Kc (the last one shorter): launch index z = b·splits + s
// computes slice s of batch entry b into a partial buffer P (batch·splits × M × N, dense), and
// gemm_splitk_reduce adds the slices in order (deterministic, no atomics) into C with alpha
// and beta. Without a split, splits = 1 and Kc = K.
//
// Shapes (elements): op(A) is M×K, op(B) is K×N, C is M×N. A is stored M×K (lda ≥ K) or, when
// transA, K×M (lda ≥ M); B is stored K×N (ldb ≥ N) or, when transB, N×K (ldb ≥ K). Batch entry
// b of X starts at offX + b·strideX. When beta == 0, C is not read.
//
// Epilogue (every family, applied where C is finally stored — by gemm_splitk_reduce when K is
// split): `epilogue` holds GEMM_BIAS (add bias[offBias + j] to column j of every row and
// batch entry: a Linear layer's y = x·Wᵀ + b) and GEMM_RELU (then max(0, ·), as UNARY_RELU:
// v > 0 ? v : 0). The product, its bias and its activation are stored once instead of being
// read and written again by two element-wise launches.

// ---- Tuning knobs (override with -D; these defaults are safe on any OpenCL 1.2 device) ----

// packed: rows of C per work-item (one float vector accumulator each). 6 fills the 16 AVX2
// registers with PACK_VW = 16; 8 suits AVX-512 (32 registers). Supported: 1, 2, 4, 6, 8.
#ifndef PACK_RM
#define PACK_RM 6
#endif
// packed: columns of C per work-item, the float vector width. Supported: 4, 8, 16.
#ifndef PACK_VW
#define PACK_VW 16
#endif
// tiled: tile of C per work-group (TILE_M × TILE_N) and depth of a __local slice (TILE_K).
#ifndef TILE_M
#define TILE_M 64
#endif
#ifndef TILE_N
#define TILE_N 64
#endif
#ifndef TILE_K
#define TILE_K 16
#endif
// tiled: outputs per work-item along M and N; the work-group is
// (TILE_N / TILE_WPT_N) × (TILE_M / TILE_WPT_M) work-items.
#ifndef TILE_WPT_M
#define TILE_WPT_M 4
#endif
#ifndef TILE_WPT_N
#define TILE_WPT_N 4
#endif

#define SCL_CAT_(a, b) a##b
#define SCL_CAT(a, b) SCL_CAT_(a, b)
#define floatV SCL_CAT(float, PACK_VW)
#define vloadV SCL_CAT(vload, PACK_VW)
#define vstoreV SCL_CAT(vstore, PACK_VW)

#if PACK_RM == 1
#define PACK_ROWS(X) X(0)
#elif PACK_RM == 2
#define PACK_ROWS(X) X(0) X(1)
#elif PACK_RM == 4
#define PACK_ROWS(X) X(0) X(1) X(2) X(3)
#elif PACK_RM == 6
#define PACK_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)
#elif PACK_RM == 8
#define PACK_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#else
#error "PACK_RM must be 1, 2, 4, 6 or 8"
#endif

// Packed A: for each launch index z = b·splits + s, ceil(M/PACK_RM) panels of Kc×PACK_RM
// (row-block ib, depth k, row r at ((ib·Kc + k)·PACK_RM + r)) holding rows of op(A) over the
// K slice [s·Kc, s·Kc + Kc), zero past M and past K. One work-item per (k, ib, z).
inline void gemm_pack_a(const int k, const int ib, const int z, const int M, const int K, const int Kc, const int splits, const int transA,
                        __global const float *A, const long offA, const int lda, const long strideA, __global float *Ap) {
  if (k >= Kc) return;
  const int b = z / splits, l = (z - b * splits) * Kc + k;
  const int panels = (M + PACK_RM - 1) / PACK_RM;
  const __global float *a = A + offA + (long)b * strideA;
  __global float *out = Ap + (((long)z * panels + ib) * Kc + k) * PACK_RM;
  for (int r = 0; r < PACK_RM; r++) {
    const int i = ib * PACK_RM + r;
    out[r] = i < M && l < K ? (transA ? a[(long)l * lda + i] : a[(long)i * lda + l]) : 0.0f;
  }
}

// Packed B: for each launch index z = b·splits + s, ceil(N/PACK_VW) panels of Kc×PACK_VW
// (column-block jb, depth k, column c at ((jb·Kc + k)·PACK_VW + c)) over the K slice of s,
// zero past N and past K. One work-item per (k, jb, z).
inline void gemm_pack_b(const int k, const int jb, const int z, const int N, const int K, const int Kc, const int splits,
                        __global const float *B, const long offB, const int ldb, const long strideB, __global float *Bp) {
  if (k >= Kc) return;
  const int b = z / splits, l = (z - b * splits) * Kc + k;
  const int panels = (N + PACK_VW - 1) / PACK_VW;
  __global float *out = Bp + (((long)z * panels + jb) * Kc + k) * PACK_VW;
  if (l >= K) {
    vstoreV((floatV)(0.0f), 0, out);
    return;
  }
  const __global float *src = B + offB + (long)b * strideB + (long)l * ldb;
  const int j0 = jb * PACK_VW;
  if (j0 + PACK_VW <= N) {
    vstoreV(vloadV(0, src + j0), 0, out);
  } else {
    for (int c = 0; c < PACK_VW; c++) out[c] = j0 + c < N ? src[j0 + c] : 0.0f;
  }
}

// Packed B from B stored transposed (N×K, B(k, j) at j·ldb + k). One work-item per
// (PACK_VW-deep run of the slice, jb, z): it reads PACK_VW contiguous runs along k, one per
// column, and writes the PACK_VW × PACK_VW block of the panel they fill; reading along k keeps
// the loads contiguous instead of gathering PACK_VW columns for every k. Kc is a multiple of
// PACK_VW when splits > 1, so runs never straddle two slices.
inline void gemm_pack_bt(const int item, const int jb, const int z, const int N, const int K, const int Kc, const int splits,
                         __global const float *B, const long offB, const int ldb, const long strideB, __global float *Bp) {
  const int k0 = item * PACK_VW;
  if (k0 >= Kc) return;
  const int b = z / splits, l0 = (z - b * splits) * Kc + k0;
  const int panels = (N + PACK_VW - 1) / PACK_VW;
  const __global float *src = B + offB + (long)b * strideB;
  __global float *out = Bp + (((long)z * panels + jb) * Kc + k0) * PACK_VW;
  const int j0 = jb * PACK_VW;
  const int depth = min(PACK_VW, Kc - k0);    // rows of the panel this work-item writes
  const int valid = clamp(K - l0, 0, depth);  // of which hold data; the rest are zero
  for (int c = 0; c < PACK_VW; c++) {
    const int j = j0 + c;
    const __global float *column = src + (long)j * ldb + l0;
    if (j < N && valid == PACK_VW) {
      const floatV v = vloadV(0, column);
#define PACK_BT_STORE(kk, lane) out[(kk) * PACK_VW + c] = v.s##lane;
      PACK_BT_STORE(0, 0) PACK_BT_STORE(1, 1) PACK_BT_STORE(2, 2) PACK_BT_STORE(3, 3)
#if PACK_VW >= 8
      PACK_BT_STORE(4, 4) PACK_BT_STORE(5, 5) PACK_BT_STORE(6, 6) PACK_BT_STORE(7, 7)
#endif
#if PACK_VW == 16
      PACK_BT_STORE(8, 8) PACK_BT_STORE(9, 9) PACK_BT_STORE(10, a) PACK_BT_STORE(11, b)
      PACK_BT_STORE(12, c) PACK_BT_STORE(13, d) PACK_BT_STORE(14, e) PACK_BT_STORE(15, f)
#endif
#undef PACK_BT_STORE
    } else {
      for (int kk = 0; kk < depth; kk++) out[kk * PACK_VW + c] = j < N && kk < valid ? column[kk] : 0.0f;
    }
  }
}

// Both operands packed in one launch: work-items (item, panel, z) with panel < ⌈M/PACK_RM⌉
// pack row panel `panel` of A (item = depth k), the others column panel panel − ⌈M/PACK_RM⌉
// of B (item = depth k, or the item-th PACK_VW-deep run when B is stored transposed). The
// host makes dimension 0 as long as the longer of the two and each work-group one panel, so a
// work-group takes one branch. One launch instead of two for every packed product. The
// vector-type hint tells Intel's runtime that a work-item already works in PACK_VW-wide
// vectors: it then does not widen the kernel across work-items, which turned each vector
// load into a transposition (B of ResNet-18's stage-1 forward GEMM, 576 × 25088: 14.7 → 7.8
// ms on Intel, 6.7 → 5.7 on PoCL).
__kernel __attribute__((vec_type_hint(floatV))) void gemm_pack(const int M, const int N, const int K, const int Kc, const int splits, const int transA, const int transB,
                        __global const float *A, const long offA, const int lda, const long strideA,
                        __global const float *B, const long offB, const int ldb, const long strideB,
                        __global float *Ap, __global float *Bp) {
  const int item = get_global_id(0), panel = get_global_id(1), z = get_global_id(2);
  const int rowPanels = (M + PACK_RM - 1) / PACK_RM;
  if (panel < rowPanels) gemm_pack_a(item, panel, z, M, K, Kc, splits, transA, A, offA, lda, strideA, Ap);
  else if (transB) gemm_pack_bt(item, panel - rowPanels, z, N, K, Kc, splits, B, offB, ldb, strideB, Bp);
  else gemm_pack_b(item, panel - rowPanels, z, N, K, Kc, splits, B, offB, ldb, strideB, Bp);
}

#define GEMM_BIAS 1
#define GEMM_RELU 2
// The epilogue `ep` on a vector of row r's columns j0… (whole block) and on one value.
#define GEMM_EPILOGUE_V(v)                                                            \
  if (ep & GEMM_BIAS) v += vloadV(0, bias + offBias + j0);                            \
  if (ep & GEMM_RELU) v = select((floatV)(0.0f), v, v > (floatV)(0.0f));
#define GEMM_EPILOGUE_S(v, j)                                                         \
  if (ep & GEMM_BIAS) v += bias[offBias + (j)];                                       \
  if (ep & GEMM_RELU) v = v > 0.0f ? v : 0.0f;

#define PACK_DECLARE(r) floatV acc##r = (floatV)(0.0f);
#define PACK_FMA(r) acc##r = fma((floatV)(a[r]), bv, acc##r);
// Row r of a block's C = alpha·acc + B·C (C not read when B is 0), then the epilogue `ep`:
// whole (all PACK_VW columns inside) or at the edges of C. B is beta, or gemm_direct_nt's
// per-slice factor.
#define GEMM_STORE_FULL(r, B)                                                         \
  {                                                                                   \
    __global float *row = c + (long)(i0 + r) * ldc + j0;                              \
    floatV v = alpha * acc##r;                                                        \
    if ((B) != 0.0f) v = fma((floatV)(B), vloadV(0, row), v);                         \
    GEMM_EPILOGUE_V(v)                                                                \
    vstoreV(v, 0, row);                                                               \
  }
#define GEMM_STORE_EDGE(r, B)                                                         \
  if (i0 + r < M) {                                                                   \
    __global float *row = c + (long)(i0 + r) * ldc + j0;                              \
    float vals[PACK_VW];                                                              \
    vstoreV(acc##r, 0, vals);                                                         \
    for (int cc = 0; cc < PACK_VW && j0 + cc < N; cc++) {                             \
      float v = (B) != 0.0f ? alpha * vals[cc] + (B) * row[cc] : alpha * vals[cc];    \
      GEMM_EPILOGUE_S(v, j0 + cc)                                                     \
      row[cc] = v;                                                                    \
    }                                                                                 \
  }
#define PACK_STORE_FULL(r) GEMM_STORE_FULL(r, beta)
#define PACK_STORE_EDGE(r) GEMM_STORE_EDGE(r, beta)

// One PACK_RM × PACK_VW block of C per work-item: global size
// (ceil(M/PACK_RM), ceil(N/PACK_VW), batch). Consecutive work-items share a B panel: row
// panels vary fastest, so a panel of B is streamed once while it is cached, and the smaller A
// is what the caches hold across panels. With column panels fastest, a product much wider
// than tall (a convolution's forward pass, 64×25088×576) re-read every B panel from memory
// once per row panel and ran at 109 GFLOP/s on PoCL; this way, in work-groups of 8, 200
// (1024³: 205 → 212; Intel's runtime 200–227 either way).
__kernel void gemm_packed(const int M, const int N, const int K, const float alpha, const float beta,
                          __global const float *Ap, __global const float *Bp,
                          __global float *C, const long offC, const int ldc, const long strideC,
                          __global const float *bias, const long offBias, const int epilogue) {
  const int ib = get_global_id(0), jb = get_global_id(1), b = get_global_id(2);
  const int ep = epilogue;
  const int i0 = ib * PACK_RM, j0 = jb * PACK_VW;
  if (i0 >= M || j0 >= N) return;
  const int rowPanels = (M + PACK_RM - 1) / PACK_RM, colPanels = (N + PACK_VW - 1) / PACK_VW;
  const __global float *a = Ap + ((long)b * rowPanels + ib) * K * PACK_RM;
  const __global float *bp = Bp + ((long)b * colPanels + jb) * K * PACK_VW;
  __global float *c = C + offC + (long)b * strideC;
  PACK_ROWS(PACK_DECLARE)
  for (int k = 0; k < K; k++) {
    const floatV bv = vloadV(0, bp);
    PACK_ROWS(PACK_FMA)
    a += PACK_RM;
    bp += PACK_VW;
  }
  if (i0 + PACK_RM <= M && j0 + PACK_VW <= N) {
    PACK_ROWS(PACK_STORE_FULL)
  } else {
    PACK_ROWS(PACK_STORE_EDGE)
  }
}

// ---- direct (CPU-type devices, products too small to repay packing) ----
// gemm_direct and gemm_direct_nt read op(A) and op(B) where they are: one launch instead of
// gemm_pack_a, gemm_pack_b(t) and gemm_packed. For the small products of a training step
// (M = batch·length in the thousands, N and K in the tens or hundreds) each pack launch costs
// about as much as the product. Both take gemm_tiled's arguments (transposes — gemm_direct_nt
// only transA —, batch strides, offsets, K slices: launch index z = b·splits + s covers
// [s·Kc, min(K, s·Kc + Kc)) of batch entry b and writes C's entry z) and store like
// gemm_packed: C = alpha·acc + beta·C, C not read when beta is 0. Rows past M and columns
// past N read the last valid row or column (in bounds, no guard in the inner loop) and are
// never stored.

// gemm_direct_nt's stores of one slice's sum: C = alpha·acc + b1·C with b1 = beta for the
// first slice (C not read when it is 0) and 1 for the others.
#define DIRECT_STORE_FULL(r) GEMM_STORE_FULL(r, b1)
#define DIRECT_STORE_EDGE(r) GEMM_STORE_EDGE(r, b1)
#define DIRECT_AOFF(r) const long aOff##r = (long)min(i0 + r, M - 1) * aRow;
#define DIRECT_FMA(r) acc##r = fma((floatV)(ak[aOff##r]), bv, acc##r);

// One PACK_RM × PACK_VW block of C per work-item, vectorised along N like gemm_packed: global
// size (ceil(N/PACK_VW), ceil(M/PACK_RM), batch·splits). Per k, one vector load of a row of
// op(B) (B stored K×N) and PACK_RM broadcasts of op(A) (A stored M×K or K×M). A block past
// N's edge loads op(B)'s row element by element, and so would B stored N×K (where a row of
// op(B) is a gather); the host sends those products to gemm_direct_nt instead.
__kernel void gemm_direct(const int M, const int N, const int K, const int Kc, const int splits, const float alpha, const float beta,
                          const int transA, __global const float *A, const long offA, const int lda, const long strideA,
                          const int transB, __global const float *B, const long offB, const int ldb, const long strideB,
                          __global float *C, const long offC, const int ldc, const long strideC,
                          __global const float *bias, const long offBias, const int epilogue) {
  const int jb = get_global_id(0), ib = get_global_id(1), z = get_global_id(2);
  const int i0 = ib * PACK_RM, j0 = jb * PACK_VW;
  if (i0 >= M || j0 >= N) return;
  const int ep = epilogue;
  const int b = z / splits, kStart = (z - b * splits) * Kc;
  const int kLen = min(Kc, K - kStart);
  // op(A)(i, l) at ak[i·aRow] where ak points at depth l; op(B)(l, j) likewise at bk[j·bCol].
  const long aRow = transA ? 1 : lda, aK = transA ? lda : 1;
  const long bCol = transB ? ldb : 1, bK = transB ? 1 : ldb;
  const __global float *ak = A + offA + (long)b * strideA + (long)kStart * aK;
  const __global float *bk = B + offB + (long)b * strideB + (long)kStart * bK;
  __global float *c = C + offC + (long)z * strideC;
  PACK_ROWS(DIRECT_AOFF)
  PACK_ROWS(PACK_DECLARE)
  if (bCol == 1 && j0 + PACK_VW <= N) {
    bk += j0;
    for (int k = 0; k < kLen; k++) {
      const floatV bv = vloadV(0, bk);
      PACK_ROWS(DIRECT_FMA)
      ak += aK;
      bk += bK;
    }
  } else {
    long bOff[PACK_VW];
    for (int cc = 0; cc < PACK_VW; cc++) bOff[cc] = (long)min(j0 + cc, N - 1) * bCol;
    for (int k = 0; k < kLen; k++) {
      float brow[PACK_VW];
      for (int cc = 0; cc < PACK_VW; cc++) brow[cc] = bk[bOff[cc]];
      const floatV bv = vloadV(0, brow);
      PACK_ROWS(DIRECT_FMA)
      ak += aK;
      bk += bK;
    }
  }
  if (i0 + PACK_RM <= M && j0 + PACK_VW <= N) {
    PACK_ROWS(PACK_STORE_FULL)
  } else {
    PACK_ROWS(PACK_STORE_EDGE)
  }
}

// gemm_direct_nt: work-items along M per work-group (all on one column block of C), and the
// depth of the slice of op(B) they stage together.
#ifndef DIRECT_GROUP
#define DIRECT_GROUP 8
#endif
#ifndef DIRECT_KC
#define DIRECT_KC 128
#endif

// C = alpha·A·Bᵀ + beta·C with B stored N×K (a Linear layer's forward pass y = x·Wᵀ): a row
// of op(B) is a gather of PACK_VW columns, so the work-group stages op(B)'s PACK_VW-column
// panel, DIRECT_KC deep at a time, in __local memory as gemm_pack_bt would (each work-item
// copies PACK_VW / DIRECT_GROUP columns, reading along K), and its DIRECT_GROUP work-items —
// row blocks i0 = PACK_RM·(group row + w) of the same columns — then run gemm_direct's inner
// loop on it: the transposition costs 1/(DIRECT_GROUP·PACK_RM) of the multiply-adds and no
// launch. Global size (ceil(N/PACK_VW), ceil(M/PACK_RM) rounded up to DIRECT_GROUP,
// batch·splits), work-group (1, DIRECT_GROUP, 1); work-items past M take part in the staging
// and barriers but store nothing. Each slice's sum goes to C before the next slice is staged
// (measured on PoCL, 2240×192×64: 0.89 of the packed path's GFLOP/s with accumulators kept
// across the slices' barriers, 0.97 this way; 2240×64×128: 1.24 and 1.74).
__kernel __attribute__((reqd_work_group_size(1, DIRECT_GROUP, 1)))
void gemm_direct_nt(const int M, const int N, const int K, const int Kc, const int splits, const float alpha, const float beta,
                    const int transA, __global const float *A, const long offA, const int lda, const long strideA,
                    __global const float *B, const long offB, const int ldb, const long strideB,
                    __global float *C, const long offC, const int ldc, const long strideC,
                    __global const float *bias, const long offBias, const int epilogue) {
  __local float Bs[DIRECT_KC * PACK_VW];  // Bs[t·PACK_VW + cc] = op(B)(l0 + t, j0 + cc)
  const int jb = get_global_id(0), ib = get_global_id(1), z = get_global_id(2), w = get_local_id(1);
  const int i0 = ib * PACK_RM, j0 = jb * PACK_VW;
  const int b = z / splits, kStart = (z - b * splits) * Kc;
  const int kLen = min(Kc, K - kStart);
  const long aRow = transA ? 1 : lda, aK = transA ? lda : 1;
  const __global float *a0 = A + offA + (long)b * strideA + (long)kStart * aK;
  const __global float *bk = B + offB + (long)b * strideB + kStart;
  __global float *c = C + offC + (long)z * strideC;
  PACK_ROWS(DIRECT_AOFF)
  const bool stores = i0 < M && j0 < N, full = i0 + PACK_RM <= M && j0 + PACK_VW <= N;
  // C takes each slice's sum in turn (the first with beta, the rest added), so that no
  // accumulator lives across a barrier: PoCL would keep it in memory, not in registers.
  for (int l0 = 0; l0 == 0 || l0 < kLen; l0 += DIRECT_KC) {
    const int depth = clamp(kLen - l0, 0, DIRECT_KC);
    barrier(CLK_LOCAL_MEM_FENCE);  // the previous slice is consumed
    for (int cc = w; cc < PACK_VW; cc += DIRECT_GROUP) {
      const __global float *column = bk + (long)min(j0 + cc, N - 1) * ldb + l0;
      for (int t = 0; t < depth; t++) Bs[t * PACK_VW + cc] = column[t];
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    PACK_ROWS(PACK_DECLARE)
    const __global float *ak = a0 + (long)l0 * aK;
    const __local float *bp = Bs;
    for (int t = 0; t < depth; t++) {
      const floatV bv = vloadV(0, bp);
      PACK_ROWS(DIRECT_FMA)
      ak += aK;
      bp += PACK_VW;
    }
    if (stores) {
      const float b1 = l0 == 0 ? beta : 1.0f;  // later slices add to C
      const int ep = l0 + DIRECT_KC >= kLen ? epilogue : 0;  // on the whole sum only
      if (full) {
        PACK_ROWS(DIRECT_STORE_FULL)
      } else {
        PACK_ROWS(DIRECT_STORE_EDGE)
      }
    }
  }
}

// ---- tiled (GPU) ----
#define TILE_RTS_M (TILE_M / TILE_WPT_M)  // work-items along M
#define TILE_RTS_N (TILE_N / TILE_WPT_N)  // work-items along N
#define TILE_THREADS (TILE_RTS_M * TILE_RTS_N)

// Element (i, l) of op(A) and (l, j) of op(B), zero outside the matrix.
inline float loadA(const __global float *a, int transA, int lda, int M, int K, int i, int l) {
  if (i >= M || l >= K) return 0.0f;
  return transA ? a[(long)l * lda + i] : a[(long)i * lda + l];
}
inline float loadB(const __global float *b, int transB, int ldb, int K, int N, int l, int j) {
  if (l >= K || j >= N) return 0.0f;
  return transB ? b[(long)j * ldb + l] : b[(long)l * ldb + j];
}

// Work-group (TILE_RTS_N, TILE_RTS_M, 1) computes a TILE_M × TILE_N tile of C; global size
// (ceil(N/TILE_N)·TILE_RTS_N, ceil(M/TILE_M)·TILE_RTS_M, batch·splits). Work-item (tx, ty) owns
// rows ty + w·TILE_RTS_M and columns tx + w·TILE_RTS_N, so neighbouring work-items touch
// neighbouring addresses (coalesced) and distinct __local banks. Launch index z = b·splits + s
// covers the K slice [s·Kc, min(K, s·Kc + Kc)) of batch entry b and writes C's entry z (the
// partial buffer when splits > 1).
__kernel __attribute__((reqd_work_group_size(TILE_RTS_N, TILE_RTS_M, 1)))
void gemm_tiled(const int M, const int N, const int K, const int Kc, const int splits, const float alpha, const float beta,
                const int transA, __global const float *A, const long offA, const int lda, const long strideA,
                const int transB, __global const float *B, const long offB, const int ldb, const long strideB,
                __global float *C, const long offC, const int ldc, const long strideC,
                __global const float *bias, const long offBias, const int epilogue) {
  const int tx = get_local_id(0), ty = get_local_id(1), z = get_global_id(2);
  const int ep = epilogue;
  const int b = z / splits, kStart = (z - b * splits) * Kc;
  const int kLen = min(Kc, K - kStart);
  const int tileRow = get_group_id(1) * TILE_M, tileCol = get_group_id(0) * TILE_N;
  const __global float *a = A + offA + (long)b * strideA + (long)kStart * (transA ? lda : 1);
  const __global float *bb = B + offB + (long)b * strideB + (long)kStart * (transB ? 1 : ldb);
  __global float *c = C + offC + (long)z * strideC;
  __local float As[TILE_K][TILE_M + 1];
  __local float Bs[TILE_K][TILE_N + 1];
  float acc[TILE_WPT_M][TILE_WPT_N];
  for (int wm = 0; wm < TILE_WPT_M; wm++)
    for (int wn = 0; wn < TILE_WPT_N; wn++) acc[wm][wn] = 0.0f;
  const int tid = ty * TILE_RTS_N + tx;
  for (int l0 = 0; l0 < kLen; l0 += TILE_K) {
    for (int e = tid; e < TILE_M * TILE_K; e += TILE_THREADS) {
      // Consecutive e walk along the contiguous direction of A as stored.
      const int kk = transA ? e / TILE_M : e % TILE_K;
      const int ii = transA ? e % TILE_M : e / TILE_K;
      As[kk][ii] = loadA(a, transA, lda, M, kLen, tileRow + ii, l0 + kk);
    }
    for (int e = tid; e < TILE_N * TILE_K; e += TILE_THREADS) {
      const int kk = transB ? e % TILE_K : e / TILE_N;
      const int jj = transB ? e / TILE_K : e % TILE_N;
      Bs[kk][jj] = loadB(bb, transB, ldb, kLen, N, l0 + kk, tileCol + jj);
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int kk = 0; kk < TILE_K; kk++) {
      float breg[TILE_WPT_N];
      for (int wn = 0; wn < TILE_WPT_N; wn++) breg[wn] = Bs[kk][tx + wn * TILE_RTS_N];
      for (int wm = 0; wm < TILE_WPT_M; wm++) {
        const float areg = As[kk][ty + wm * TILE_RTS_M];
        for (int wn = 0; wn < TILE_WPT_N; wn++) acc[wm][wn] = fma(areg, breg[wn], acc[wm][wn]);
      }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  for (int wm = 0; wm < TILE_WPT_M; wm++) {
    const int i = tileRow + ty + wm * TILE_RTS_M;
    if (i >= M) continue;
    for (int wn = 0; wn < TILE_WPT_N; wn++) {
      const int j = tileCol + tx + wn * TILE_RTS_N;
      if (j >= N) continue;
      __global float *dst = c + (long)i * ldc + j;
      float v = beta != 0.0f ? alpha * acc[wm][wn] + beta * *dst : alpha * acc[wm][wn];
      GEMM_EPILOGUE_S(v, j)
      *dst = v;
    }
  }
}

// ---- split-K, second pass ----
// C[b](i, j) = alpha·Σ_s P[b·splits + s](i, j) + beta·C[b](i, j), then the epilogue; the slices added in order s =
// 0, 1, … so the result does not depend on scheduling. P is dense: batch·splits slices of M × N,
// or of N × M when `transposed` (the host computed Cᵀ = op(B)ᵀ·op(A)ᵀ, which packs the larger
// operand the cheap way). C is not read when beta is 0. Global size (fast, slow, batch) with
// fast = j (or i when transposed), so consecutive work-items read consecutive partials.
__kernel void gemm_splitk_reduce(const int M, const int N, const int splits, const int transposed, const float alpha, const float beta,
                                 __global const float *P, __global float *C, const long offC, const int ldc,
                                 const long strideC, __global const float *bias, const long offBias, const int epilogue) {
  const int ep = epilogue;
  const int fast = get_global_id(0), slow = get_global_id(1), b = get_global_id(2);
  const int i = transposed ? fast : slow, j = transposed ? slow : fast;
  if (i >= M || j >= N) return;
  const long slice = (long)M * N;
  const __global float *p = P + (long)b * splits * slice + (transposed ? (long)j * M + i : (long)i * N + j);
  float sum = 0.0f;
  for (int s = 0; s < splits; s++) sum += p[s * slice];
  __global float *dst = C + offC + (long)b * strideC + (long)i * ldc + j;
  float v = beta != 0.0f ? alpha * sum + beta * *dst : alpha * sum;
  GEMM_EPILOGUE_S(v, j)
  *dst = v;
}
