// reduce.cl: reductions along one axis and row-wise softmax.
//
// A tensor is viewed as (outer, axis, inner). reduce_axis runs work-groups of
// (RX along inner) × (RY along the axis), RX·RY ≤ REDUCE_GROUP, RY a power of two: work-item
// (lx, ly) walks axis positions ly, ly + RY, … of inner position n, so the RX work-items of a
// row read consecutive addresses when inner is large (RX = 32), and a whole work-group strides
// along one contiguous row when inner = 1 (RX = 1, a work-group per output). The RY partial
// results are combined by a tree in __local memory, always in the same order: deterministic.
// A long axis with few outputs is cut into `chunks` slices, one work-group each, written as
// partials (outer, chunks, inner) that a second launch over axis = chunks combines.
// Operation codes match ScalpelCore's ReduceOp: 0 sum, 1 max, 2 argmax, 3 sum of squares.

#ifndef REDUCE_GROUP
#define REDUCE_GROUP 256
#endif

// max that propagates NaN, as the CPU reference does (any NaN along the axis gives NaN).
inline float nanMax(float a, float b) { return isnan(a) || isnan(b) ? NAN : fmax(a, b); }

// argmax candidates (value, index): the larger value wins, the smaller index on ties. The CPU
// reference keeps x[0] when it is NaN and otherwise never picks a NaN, so a NaN at index 0
// enters as +∞ and a NaN elsewhere as (−∞, INT_MAX), which loses to everything.
inline void argmaxTake(float *best, int *bestIndex, float v, int i) {
  if (v > *best || (v == *best && i < *bestIndex)) { *best = v; *bestIndex = i; }
}

// Global size (ceil(inner/RX)·RX, outer·chunks·RY), work-group (RX, RY). Group row g = o·chunks
// + c covers axis positions [c·chunk, min(axis, c·chunk + chunk)) of outer index o and writes
// out[g·inner + n]: the result when chunks = 1, else a partial for the second launch.
__kernel void reduce_axis(const int op, __global const float *x, __global float *out,
                          const int outer, const int axis, const int inner, const int chunks, const int chunk) {
  __local float values[REDUCE_GROUP];
  __local int indices[REDUCE_GROUP];
  const int lx = get_local_id(0), ly = get_local_id(1);
  const int rx = get_local_size(0), ry = get_local_size(1);
  const int n = get_global_id(0), g = get_group_id(1);
  const int o = g / chunks, c = g - o * chunks;
  const int start = c * chunk, end = min(axis, start + chunk);
  const bool active = n < inner;
  const __global float *base = x + ((long)o * axis) * inner + n;
  float acc;
  int accIndex = INT_MAX;
  if (op == REDUCE_MAX || op == REDUCE_ARGMAX) acc = -INFINITY; else acc = 0.0f;
  if (active) {
    if (op == REDUCE_SUM) {
      for (int a = start + ly; a < end; a += ry) acc += base[(long)a * inner];
    } else if (op == REDUCE_SUM_OF_SQUARES) {
      for (int a = start + ly; a < end; a += ry) { const float v = base[(long)a * inner]; acc = fma(v, v, acc); }
    } else if (op == REDUCE_MAX) {
      for (int a = start + ly; a < end; a += ry) acc = nanMax(acc, base[(long)a * inner]);
    } else {
      for (int a = start + ly; a < end; a += ry) {
        const float v = base[(long)a * inner];
        if (isnan(v)) { if (a == 0) argmaxTake(&acc, &accIndex, INFINITY, 0); }
        else argmaxTake(&acc, &accIndex, v, a);
      }
    }
  }
  const int slot = ly * rx + lx;
  values[slot] = acc;
  indices[slot] = accIndex;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (int span = ry / 2; span > 0; span /= 2) {
    if (ly < span) {
      const int other = slot + span * rx;
      if (op == REDUCE_SUM || op == REDUCE_SUM_OF_SQUARES) values[slot] += values[other];
      else if (op == REDUCE_MAX) values[slot] = nanMax(values[slot], values[other]);
      else {
        float best = values[slot];
        int bestIndex = indices[slot];
        argmaxTake(&best, &bestIndex, values[other], indices[other]);
        values[slot] = best;
        indices[slot] = bestIndex;
      }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (ly == 0 && active) {
    // An empty axis (or no candidate) gives index 0, as the reference does.
    out[(long)g * inner + n] = op == REDUCE_ARGMAX ? (float)(indices[lx] == INT_MAX ? 0 : indices[lx]) : values[lx];
  }
}

// out[k] = Σ_n Σ_p x[(n·K + k)·P + p]: per-channel sums of x (N, K, P), a convolution's bias
// gradient, in one pass. One work-group per channel; its work-items stride along each
// contiguous run of P positions (consecutive work-items, consecutive addresses), then a tree in
// __local memory combines them in a fixed order: deterministic. Loop bounds are uniform across
// the work-group. Global size (G·K), work-group (G), G a power of two ≤ REDUCE_GROUP.
__kernel void reduce_channels(__global const float *x, __global float *out, const int N, const int K, const int P) {
  __local float values[REDUCE_GROUP];
  const int lid = get_local_id(0), group = get_local_size(0), k = get_group_id(0);
  float acc = 0.0f;
  for (int n = 0; n < N; n++) {
    const __global float *row = x + ((long)n * K + k) * P;
    for (int p0 = 0; p0 < P; p0 += group) {
      const int p = p0 + lid;
      if (p < P) acc += row[p];
    }
  }
  values[lid] = acc;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (int span = group / 2; span > 0; span /= 2) {
    if (lid < span) values[lid] += values[lid + span];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (lid == 0) out[k] = values[0];
}

// y = softmax(x) (or log-softmax) along each row of x (rows × cols); one work-item per row.
__kernel void softmax_rows(__global const float *x, __global float *y, const int rows, const int cols, const int logarithm) {
  const int r = get_global_id(0);
  if (r >= rows) return;
  const __global float *xr = x + (long)r * cols;
  __global float *yr = y + (long)r * cols;
  float peak = -INFINITY;
  for (int c = 0; c < cols; c++) peak = fmax(peak, xr[c]);
  float total = 0.0f;
  for (int c = 0; c < cols; c++) total += exp(xr[c] - peak);
  if (logarithm) {
    const float logTotal = log(total);
    for (int c = 0; c < cols; c++) yr[c] = xr[c] - peak - logTotal;
  } else {
    const float inverse = 1.0f / total;
    for (int c = 0; c < cols; c++) yr[c] = exp(xr[c] - peak) * inverse;
  }
}

// dx from y = softmax(x) (or log-softmax) and dy; one work-item per row.
__kernel void softmax_rows_backward(__global const float *y, __global const float *dy, __global float *dx,
                                    const int rows, const int cols, const int logarithm) {
  const int r = get_global_id(0);
  if (r >= rows) return;
  const __global float *yr = y + (long)r * cols, *dyr = dy + (long)r * cols;
  __global float *dxr = dx + (long)r * cols;
  float acc = 0.0f;
  if (logarithm) {
    for (int c = 0; c < cols; c++) acc += dyr[c];
    for (int c = 0; c < cols; c++) dxr[c] = dyr[c] - exp(yr[c]) * acc;
  } else {
    for (int c = 0; c < cols; c++) acc += yr[c] * dyr[c];
    for (int c = 0; c < cols; c++) dxr[c] = yr[c] * (dyr[c] - acc);
  }
}
