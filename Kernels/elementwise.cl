// elementwise.cl: fill, axpby, strided copies, gather and scatter-add (the unary and binary
// maps, built once per operation, are in pointwise.cl). One work-item per output element
// unless noted; every kernel checks its bound, so global sizes may be rounded up.

__kernel void fill(__global float *buf, const long offset, const long count, const float value) {
  const long i = get_global_id(0);
  if (i < count) buf[offset + i] = value;
}

// y = alpha·x + beta·y (y not read when beta is 0).
__kernel void axpby(const float alpha, __global const float *x, const float beta, __global float *y, const long count) {
  const long i = get_global_id(0);
  if (i >= count) return;
  y[i] = beta == 0.0f ? alpha * x[i] : alpha * x[i] + beta * y[i];
}

// dst[dstOffset + Σ i_d·ds_d] = src[srcOffset + Σ i_d·ss_d] for every index i of `shape`
// (rank ≤ 8). small: every offset fits in an int (32-bit index arithmetic).
__kernel void copy_strided(__global const float *src, const long srcOffset, __global float *dst, const long dstOffset,
                           const long count, const int rank, const int8 shape, const int8 ss, const int8 ds,
                           const int small) {
  const long i = get_global_id(0);
  if (i >= count) return;
  if (small) {
    int rest = (int)i, s = (int)srcOffset, d = (int)dstOffset;
    STRIDED_OFFSETS(int, rank, shape, ss, ds, rest, s, d)
    dst[d] = src[s];
  } else {
    long rest = i, s = srcOffset, d = dstOffset;
    STRIDED_OFFSETS(long, rank, shape, ss, ds, rest, s, d)
    dst[d] = src[s];
  }
}

// out[o, i, n] = x[o, index[i], n]; x is (outer, axis, inner), out is (outer, count, inner).
// An index outside 0..<axis gives NaN.
__kernel void gather(__global const float *x, __global const float *index, __global float *out,
                     const int outer, const int axis, const int inner, const int count) {
  const long e = get_global_id(0);
  if (e >= (long)outer * count * inner) return;
  const int n = e % inner, i = (e / inner) % count, o = e / ((long)inner * count);
  const float raw = index[i];
  const int k = (int)raw;
  out[e] = (k >= 0 && k < axis && (float)k == raw) ? x[((long)o * axis + k) * inner + n] : NAN;
}

// dx[o, k, n] += Σ_{i: index[i] = k} dy[o, i, n]: one work-item per element of dx, looping over
// the indices in order, so the sum is deterministic (no atomics).
__kernel void scatter_add(__global const float *dy, __global const float *index, __global float *dx,
                          const int outer, const int axis, const int inner, const int count) {
  const long e = get_global_id(0);
  if (e >= (long)outer * axis * inner) return;
  const int n = e % inner, k = (e / inner) % axis, o = e / ((long)inner * axis);
  float acc = dx[e];
  for (int i = 0; i < count; i++)
    if ((int)index[i] == k) acc += dy[((long)o * count + i) * inner + n];
  dx[e] = acc;
}
