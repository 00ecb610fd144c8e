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

// dst[dstOffset + Σ i_d·ds_d] = src[srcOffset + Σ i_d·ss_d] for every index i of a shape of
// rank ≤ 8, passed as its two innermost dimensions (inner: (size, src stride, dst stride, …) of
// the last, middle: of the one before) and the rest (`rank` ≤ 6 outer dimensions in shape, ss,
// ds). Work-item (i, j, o): global (inner size, middle size, product of the outer sizes), so
// the two inner coordinates cost no division (a CPU device has no vector integer division)
// and the outer ones are decoded once per row. small: every offset fits in an int.
__kernel void copy_strided(__global const float *src, const long srcOffset, __global float *dst, const long dstOffset,
                           const int8 inner, const int8 middle, const int outerCount, const int rank, const int8 shape,
                           const int8 ss, const int8 ds, const int small) {
  const int i = get_global_id(0), j = get_global_id(1), o = get_global_id(2);
  if (i >= inner.s0 || j >= middle.s0 || o >= outerCount) return;
  if (small) {
    int rest = o, s = (int)srcOffset + i * inner.s1 + j * middle.s1, d = (int)dstOffset + i * inner.s2 + j * middle.s2;
    STRIDED_OFFSETS(int, rank, shape, ss, ds, rest, s, d)
    dst[d] = src[s];
  } else {
    long rest = o, s = srcOffset + (long)i * inner.s1 + (long)j * middle.s1, d = dstOffset + (long)i * inner.s2 + (long)j * middle.s2;
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
