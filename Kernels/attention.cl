// attention.cl: fused scaled-dot-product attention, forward and backward (the FlashAttention-2
// scheme): the score matrix never reaches global memory. The forward pass streams key tiles
// through local memory and keeps an online softmax per query (running maximum m, running sum
// l, unnormalised output); the backward pass recomputes the probabilities from the saved
// log-sum-exp, one kernel for dk and dv per key block (iterating over queries) and one for dq
// per query block (iterating over keys). Each gradient element is owned by one work-item and
// summed in a fixed order: no atomics, the same result on every run.
//
// Layouts (fp32), with bh = b·heads + h. Each of q, k, v and out comes with its rows
// (ROWS: offset, batch stride, head stride, row stride, in elements): row i of (b, h) is the d
// adjacent floats from off + b·batch + h·head + i·row. dq shares q's rows, dk k's, dv v's, and
// dout out's. Contiguous (batch, heads, N, d) is off 0, batch H·N·d, head N·d, row d; attention
// on a fused projection (N, L, 3·H·d) reads q, k, v in place (offsets 0, H·d, 2·H·d, row
// 3·H·d, head d) and writes out as (N, L, H, d), so no permute copy sits on either side.
// Distinct work-items write distinct rows, so dq, dk, dv may share one buffer.
//   q, out, dout, dq   (batch, heads, Nq, d) rows
//   k, v, dk, dv       (batch, heads, Nk, d) rows
//   lse, delta         (batch, heads, Nq) contiguous
//   keyLengths         (batch) integral floats; read only when hasLengths is 1
// Query i sees key j when j < keyLengths[b] and, when causal, j ≤ i (top-left aligned): always
// a prefix 0 ≤ j < visible(i) of the keys. A query that sees no key gets output 0 and lse −∞.
//
// Knobs (-D, set by the host per head-size class and device type):
//   HEAD_CAP  floats per row held in private vectors and local tiles: the head size d rounded up
//             (a multiple of VEC). Columns d ≤ c < HEAD_CAP are zero, so they add nothing; loops
//             over them have a compile-time trip count the compiler can unroll.
//   VEC       floats per vector, 4 or 8: a GPU's 128-bit loads, a CPU's AVX registers (PoCL
//             vectorises only what the kernel spells out in vector types).
//   BLOCK_Q   queries per work-group, one work-item each (forward, dq)
//   BLOCK_K   keys per local tile (forward, dq)
//   BLOCK_KV  keys per work-group, one work-item each (dk/dv)
//   TILE_Q    queries per local tile (dk/dv)
// Local memory: 2·BLOCK_K·HEAD_CAP floats (forward, dq), 2·TILE_Q·(HEAD_CAP + 1) floats (dk/dv).
// Private memory: 2–4 rows of HEAD_CAP floats per work-item; on a GPU, HEAD_CAP 128 exceeds the
// registers of the dk/dv kernel (four rows) and spills to (cached) local memory.

#ifndef HEAD_CAP
#define HEAD_CAP 64
#endif
#ifndef BLOCK_Q
#define BLOCK_Q 64
#endif
#ifndef BLOCK_K
#define BLOCK_K 32
#endif
#ifndef BLOCK_KV
#define BLOCK_KV 64
#endif
#ifndef TILE_Q
#define TILE_Q 32
#endif
#ifndef VEC
#define VEC 4
#endif

#if VEC == 8
typedef float8 vecf;
#define VLOAD vload8
#define VSTORE vstore8
inline float vsum(const float8 v) { const float4 h = v.lo + v.hi; return (h.x + h.y) + (h.z + h.w); }
#else
typedef float4 vecf;
#define VLOAD vload4
#define VSTORE vstore4
inline float vsum(const float4 v) { return (v.x + v.y) + (v.z + v.w); }
#endif

// Vectors per row.
#define HV (HEAD_CAP / VEC)

// The row arguments of operand x, and the first element of row 0 of pair bh in it.
#define ROWS(x) const long x##Off, const long x##Batch, const long x##Head, const long x##Row
#define PAIR_BASE(x, bh) (x##Off + (long)((bh) / heads) * x##Batch + (long)((bh) % heads) * x##Head)

// Keys 0 ≤ j < limit survive the padding mask of batch entry b (keys j < keyLengths[b]; a NaN
// or non-positive length masks every key).
inline int key_limit(__global const float *keyLengths, const int hasLengths, const int b, const int Nk) {
  if (!hasLengths) return Nk;
  const float length = keyLengths[b];
  if (!(length > 0.0f)) return 0;
  return length >= (float)Nk ? Nk : (int)ceil(length);
}

// Keys query i sees: a prefix of length visible_keys (0 ≤ j < visible_keys).
inline int visible_keys(const int i, const int limit, const int causal) {
  return causal ? min(limit, i + 1) : limit;
}

// Columns VEC·c … VEC·c + VEC − 1 of a row of d floats, zero past d.
inline vecf load_row(__global const float *row, const int c, const int d) {
  const int x = VEC * c;
  if (x + VEC <= d) return VLOAD(0, row + x);
  float part[VEC];
  for (int t = 0; t < VEC; t++) part[t] = x + t < d ? row[x + t] : 0.0f;
  return VLOAD(0, part);
}

inline void store_row(__global float *row, const int c, const int d, const vecf value) {
  const int x = VEC * c;
  if (x + VEC <= d) {
    VSTORE(value, 0, row + x);
    return;
  }
  float part[VEC];
  VSTORE(value, 0, part);
  for (int t = 0; t < VEC; t++) {
    if (x + t < d) row[x + t] = part[t];
  }
}

// out = softmax(scale·q·kᵀ + mask)·v and lse = log Σ_j exp(scale·q·k_j) over visible keys.
// Work-group (BLOCK_Q) = one block of queries of one (b, h); global (⌈Nq/BLOCK_Q⌉·BLOCK_Q, batch·heads).
__kernel __attribute__((reqd_work_group_size(BLOCK_Q, 1, 1)))
void attention_forward(__global const float *q, __global const float *k, __global const float *v,
                       __global const float *keyLengths, const int hasLengths,
                       __global float *out, __global float *lse,
                       ROWS(q), ROWS(k), ROWS(v), ROWS(o),
                       const int heads, const int Nq, const int Nk, const int d, const float scale, const int causal) {
  __local vecf kTile[BLOCK_K * HV];
  __local vecf vTile[BLOCK_K * HV];
  const int lid = get_local_id(0);
  const int q0 = get_group_id(0) * BLOCK_Q;
  const int bh = get_group_id(1);
  const int i = q0 + lid;
  const int limit = key_limit(keyLengths, hasLengths, bh / heads, Nk);
  const int rowEnd = i < Nq ? visible_keys(i, limit, causal) : 0;
  // The most keys any query of this group sees: every work-item walks the same tiles.
  const int groupEnd = causal ? min(limit, min(Nq, q0 + BLOCK_Q)) : limit;
  const __global float *kBase = k + PAIR_BASE(k, bh);
  const __global float *vBase = v + PAIR_BASE(v, bh);

  vecf qs[HV], acc[HV];
  const __global float *qFirst = q + PAIR_BASE(q, bh) + (long)min(i, Nq - 1) * qRow;
  for (int c = 0; c < HV; c++) {
    qs[c] = i < Nq ? load_row(qFirst, c, d) * scale : (vecf)(0.0f);
    acc[c] = (vecf)(0.0f);
  }
  float m = -INFINITY, l = 0.0f;

  for (int j0 = 0; j0 < groupEnd; j0 += BLOCK_K) {
    const int tileKeys = min(BLOCK_K, groupEnd - j0);
    barrier(CLK_LOCAL_MEM_FENCE); // the previous tile is consumed
    for (int e = lid; e < BLOCK_K * HV; e += BLOCK_Q) {
      const int jj = e / HV, c = e % HV;
      const long key = j0 + jj;
      kTile[e] = jj < tileKeys ? load_row(kBase + key * kRow, c, d) : (vecf)(0.0f);
      vTile[e] = jj < tileKeys ? load_row(vBase + key * vRow, c, d) : (vecf)(0.0f);
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    const int visible = min(tileKeys, rowEnd - j0);
    if (visible > 0) {
      // Scores of the whole tile (masked keys −∞), then one rescale of the running state.
      float s[BLOCK_K];
      float tileMax = -INFINITY;
      for (int jj = 0; jj < BLOCK_K; jj++) {
        vecf dot = qs[0] * kTile[jj * HV];
        for (int c = 1; c < HV; c++) dot = fma(qs[c], kTile[jj * HV + c], dot);
        s[jj] = jj < visible ? vsum(dot) : -INFINITY;
        tileMax = fmax(tileMax, s[jj]);
      }
      const float mNew = fmax(m, tileMax);
      const float correction = exp(m - mNew); // 0 on the first visible tile (m = −∞)
      l *= correction;
      for (int c = 0; c < HV; c++) acc[c] *= correction;
      for (int jj = 0; jj < BLOCK_K; jj++) {
        const float p = exp(s[jj] - mNew); // 0 for masked keys
        l += p;
        const vecf pv = (vecf)(p);
        for (int c = 0; c < HV; c++) acc[c] = fma(pv, vTile[jj * HV + c], acc[c]);
      }
      m = mNew;
    }
  }
  if (i >= Nq) return;
  const long rowIndex = (long)bh * Nq + i;
  __global float *outRow = out + PAIR_BASE(o, bh) + (long)i * oRow;
  const float inverse = l > 0.0f ? 1.0f / l : 0.0f;
  for (int c = 0; c < HV; c++) store_row(outRow, c, d, acc[c] * inverse);
  lse[rowIndex] = l > 0.0f ? m + log(l) : -INFINITY;
}

// delta_i = dout_i · out_i (the row sums D of the backward pass), out and dout in out's rows,
// delta (batch, heads, Nq) contiguous. One work-item per row r = bh·Nq + i.
__kernel void attention_backward_delta(__global const float *out, __global const float *dout, __global float *delta,
                                       const long rows, const int d, ROWS(o), const int heads, const int Nq) {
  const long r = get_global_id(0);
  if (r >= rows) return;
  const int bh = (int)(r / Nq), i = (int)(r % Nq);
  const long start = PAIR_BASE(o, bh) + (long)i * oRow;
  const __global float *o = out + start, *g = dout + start;
  vecf acc = (vecf)(0.0f);
  for (int c = 0; c < (d + VEC - 1) / VEC; c++) acc = fma(load_row(o, c, d), load_row(g, c, d), acc);
  delta[r] = vsum(acc);
}

// dq_i = scale · Σ_j p_ij (dout_i·v_j − delta_i) k_j with p_ij = exp(scale·q_i·k_j − lse_i).
// Work-group (BLOCK_Q) = one block of queries of one (b, h), walking key tiles in local memory.
__kernel __attribute__((reqd_work_group_size(BLOCK_Q, 1, 1)))
void attention_backward_dq(__global const float *q, __global const float *k, __global const float *v,
                           __global const float *keyLengths, const int hasLengths,
                           __global const float *lse, __global const float *delta, __global const float *dout,
                           __global float *dq,
                           ROWS(q), ROWS(k), ROWS(v), ROWS(o),
                           const int heads, const int Nq, const int Nk, const int d, const float scale, const int causal) {
  __local vecf kTile[BLOCK_K * HV];
  __local vecf vTile[BLOCK_K * HV];
  const int lid = get_local_id(0);
  const int q0 = get_group_id(0) * BLOCK_Q;
  const int bh = get_group_id(1);
  const int i = q0 + lid;
  const int limit = key_limit(keyLengths, hasLengths, bh / heads, Nk);
  const int rowEnd = i < Nq ? visible_keys(i, limit, causal) : 0;
  const int groupEnd = causal ? min(limit, min(Nq, q0 + BLOCK_Q)) : limit;
  const __global float *kBase = k + PAIR_BASE(k, bh);
  const __global float *vBase = v + PAIR_BASE(v, bh);
  const int row = min(i, Nq - 1);
  const long rowIndex = (long)bh * Nq + row;
  const long qStart = PAIR_BASE(q, bh) + (long)row * qRow;
  const long gStart = PAIR_BASE(o, bh) + (long)row * oRow;

  vecf qs[HV], g[HV], acc[HV];
  for (int c = 0; c < HV; c++) {
    qs[c] = i < Nq ? load_row(q + qStart, c, d) * scale : (vecf)(0.0f);
    g[c] = i < Nq ? load_row(dout + gStart, c, d) : (vecf)(0.0f);
    acc[c] = (vecf)(0.0f);
  }
  // Only read for a query that sees a key (whose lse is finite).
  const float rowLse = rowEnd > 0 ? lse[rowIndex] : 0.0f;
  const float rowDelta = rowEnd > 0 ? delta[rowIndex] : 0.0f;

  for (int j0 = 0; j0 < groupEnd; j0 += BLOCK_K) {
    const int tileKeys = min(BLOCK_K, groupEnd - j0);
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int e = lid; e < BLOCK_K * HV; e += BLOCK_Q) {
      const int jj = e / HV, c = e % HV;
      const long key = j0 + jj;
      kTile[e] = jj < tileKeys ? load_row(kBase + key * kRow, c, d) : (vecf)(0.0f);
      vTile[e] = jj < tileKeys ? load_row(vBase + key * vRow, c, d) : (vecf)(0.0f);
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    const int visible = min(tileKeys, rowEnd - j0);
    for (int jj = 0; jj < visible; jj++) {
      vecf sDot = qs[0] * kTile[jj * HV], pDot = g[0] * vTile[jj * HV];
      for (int c = 1; c < HV; c++) {
        sDot = fma(qs[c], kTile[jj * HV + c], sDot);
        pDot = fma(g[c], vTile[jj * HV + c], pDot);
      }
      const float p = exp(vsum(sDot) - rowLse);
      const vecf ds = (vecf)(p * (vsum(pDot) - rowDelta));
      for (int c = 0; c < HV; c++) acc[c] = fma(ds, kTile[jj * HV + c], acc[c]);
    }
  }
  if (i >= Nq) return;
  __global float *dqRow = dq + qStart;
  for (int c = 0; c < HV; c++) store_row(dqRow, c, d, acc[c] * scale);
}

// dv_j = Σ_i p_ij dout_i and dk_j = scale · Σ_i p_ij (dout_i·v_j − delta_i) q_i, over the queries
// that see key j. Work-group (BLOCK_KV) = one block of keys of one (b, h), one work-item per key,
// walking query tiles (q, dout, lse, delta) in local memory.
__kernel __attribute__((reqd_work_group_size(BLOCK_KV, 1, 1)))
void attention_backward_dkdv(__global const float *q, __global const float *k, __global const float *v,
                             __global const float *keyLengths, const int hasLengths,
                             __global const float *lse, __global const float *delta, __global const float *dout,
                             __global float *dk, __global float *dv,
                             ROWS(q), ROWS(k), ROWS(v), ROWS(o),
                             const int heads, const int Nq, const int Nk, const int d, const float scale, const int causal) {
  __local vecf qTile[TILE_Q * HV];
  __local vecf gTile[TILE_Q * HV];
  __local float lseTile[TILE_Q];
  __local float deltaTile[TILE_Q];
  const int lid = get_local_id(0);
  const int k0 = get_group_id(0) * BLOCK_KV;
  const int bh = get_group_id(1);
  const int j = k0 + lid;
  const int limit = key_limit(keyLengths, hasLengths, bh / heads, Nk);
  // Key j is seen by queries i with j < limit and (causal) i ≥ j: the group starts at its
  // first key's first query, and a block wholly past the limit sees none.
  const int qStart = causal ? k0 : 0;
  const int qEnd = k0 < limit ? Nq : qStart;
  const bool live = j < limit;
  const long key = min(j, Nk - 1);
  const long kStart = PAIR_BASE(k, bh) + key * kRow, vStart = PAIR_BASE(v, bh) + key * vRow;

  vecf ks[HV], vs[HV], dkAcc[HV], dvAcc[HV];
  for (int c = 0; c < HV; c++) {
    ks[c] = live ? load_row(k + kStart, c, d) * scale : (vecf)(0.0f);
    vs[c] = live ? load_row(v + vStart, c, d) : (vecf)(0.0f);
    dkAcc[c] = (vecf)(0.0f);
    dvAcc[c] = (vecf)(0.0f);
  }
  const __global float *qBase = q + PAIR_BASE(q, bh);
  const __global float *gBase = dout + PAIR_BASE(o, bh);

  for (int i0 = qStart; i0 < qEnd; i0 += TILE_Q) {
    const int tileQueries = min(TILE_Q, qEnd - i0);
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int e = lid; e < TILE_Q * HV; e += BLOCK_KV) {
      const int ii = e / HV, c = e % HV;
      const long query = i0 + ii;
      qTile[e] = ii < tileQueries ? load_row(qBase + query * qRow, c, d) : (vecf)(0.0f);
      gTile[e] = ii < tileQueries ? load_row(gBase + query * oRow, c, d) : (vecf)(0.0f);
    }
    for (int ii = lid; ii < TILE_Q; ii += BLOCK_KV) {
      const long r = (long)bh * Nq + i0 + ii;
      lseTile[ii] = ii < tileQueries ? lse[r] : 0.0f;
      deltaTile[ii] = ii < tileQueries ? delta[r] : 0.0f;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    if (!live) continue;
    // Causal: queries i < j of this tile do not see key j.
    const int first = causal ? max(0, j - i0) : 0;
    for (int ii = first; ii < tileQueries; ii++) {
      vecf sDot = ks[0] * qTile[ii * HV], pDot = vs[0] * gTile[ii * HV];
      for (int c = 1; c < HV; c++) {
        sDot = fma(ks[c], qTile[ii * HV + c], sDot);
        pDot = fma(vs[c], gTile[ii * HV + c], pDot);
      }
      const float p = exp(vsum(sDot) - lseTile[ii]);
      const vecf pv = (vecf)(p);
      const vecf ds = (vecf)(p * (vsum(pDot) - deltaTile[ii]));
      for (int c = 0; c < HV; c++) {
        dvAcc[c] = fma(pv, gTile[ii * HV + c], dvAcc[c]);
        dkAcc[c] = fma(ds, qTile[ii * HV + c], dkAcc[c]);
      }
    }
  }
  if (j >= Nk) return;
  for (int c = 0; c < HV; c++) {
    store_row(dk + kStart, c, d, dkAcc[c] * scale);
    store_row(dv + vStart, c, d, dvAcc[c]);
  }
}
