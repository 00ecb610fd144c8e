// elementwise.cl: fill, unary and binary (broadcasting) maps, axpby, strided copies, gather
// and scatter-add. One work-item per output element unless noted; every kernel checks its
// bound, so global sizes may be rounded up.
//
// Operation codes are ScalpelCore's UnaryOp and BinaryOp, by name (UNARY_RELU …, generated
// from the Swift enums into the source's prelude).

__kernel void fill(__global float *buf, const long offset, const long count, const float value) {
  const long i = get_global_id(0);
  if (i < count) buf[offset + i] = value;
}

// y = f(x)
__kernel void unary(const int op, __global const float *x, __global float *y, const long count) {
  const long i = get_global_id(0);
  if (i >= count) return;
  const float v = x[i];
  float r;
  switch (op) {
    case UNARY_NEG: r = -v; break;
    case UNARY_EXP: r = exp(v); break;
    case UNARY_LOG: r = log(v); break;
    case UNARY_SQRT: r = sqrt(v); break;
    case UNARY_ABS: r = fabs(v); break;
    case UNARY_RELU: r = v > 0.0f ? v : 0.0f; break;
    case UNARY_SIGMOID: r = scalpel_sigmoid(v); break;
    case UNARY_TANH: r = tanh(v); break;
    case UNARY_GELU: r = v * scalpel_phi(v); break;
    case UNARY_SQUARE: r = v * v; break;
    case UNARY_RECIPROCAL: r = 1.0f / v; break;
    default: r = NAN; break;  // an unknown code shows, never passes for another op
  }
  y[i] = r;
}

// dx = dy · f'(x), given x and y = f(x).
__kernel void unary_backward(const int op, __global const float *x, __global const float *y, __global const float *dy,
                             __global float *dx, const long count) {
  const long i = get_global_id(0);
  if (i >= count) return;
  const float v = x[i], w = y[i], g = dy[i];
  float r;
  switch (op) {
    case UNARY_NEG: r = -g; break;
    case UNARY_EXP: r = g * w; break;
    case UNARY_LOG: r = g / v; break;
    case UNARY_SQRT: r = g / (2.0f * w); break;
    case UNARY_ABS: r = v > 0.0f ? g : (v < 0.0f ? -g : 0.0f); break;
    case UNARY_RELU: r = v > 0.0f ? g : 0.0f; break;
    case UNARY_SIGMOID: r = g * w * (1.0f - w); break;
    case UNARY_TANH: r = g * (1.0f - w * w); break;
    case UNARY_GELU: r = g * (scalpel_phi(v) + v * 0.39894228040143268f * exp(-0.5f * v * v)); break;
    case UNARY_SQUARE: r = g * 2.0f * v; break;
    case UNARY_RECIPROCAL: r = -g * w * w; break;
    default: r = NAN; break;
  }
  dx[i] = r;
}

inline float apply_binary(int op, float a, float b) {
  switch (op) {
    case BINARY_ADD: return a + b;
    case BINARY_SUB: return a - b;
    case BINARY_MUL: return a * b;
    case BINARY_DIV: return a / b;
    case BINARY_MAXIMUM: return (isnan(a) || isnan(b)) ? NAN : fmax(a, b);
    case BINARY_MINIMUM: return (isnan(a) || isnan(b)) ? NAN : fmin(a, b);
    case BINARY_POW: return pow(a, b);
    case BINARY_EQUAL: return a == b ? 1.0f : 0.0f;
    case BINARY_NOT_EQUAL: return a != b ? 1.0f : 0.0f;
    case BINARY_LESS: return a < b ? 1.0f : 0.0f;
    case BINARY_LESS_EQUAL: return a <= b ? 1.0f : 0.0f;
    case BINARY_GREATER: return a > b ? 1.0f : 0.0f;
    case BINARY_GREATER_EQUAL: return a >= b ? 1.0f : 0.0f;
    default: return NAN;
  }
}

// out = a ⊕ b, all three contiguous in the same shape (the common case, no index arithmetic).
__kernel void binary_same(const int op, __global const float *a, __global const float *b, __global float *out, const long count) {
  const long i = get_global_id(0);
  if (i < count) out[i] = apply_binary(op, a[i], b[i]);
}

// Coordinate k of a flat index (dimensions k+1… already divided out of `rest`) added to the
// offsets, dimension by dimension from the innermost, fully unrolled over the int8 components:
// no private array indexed at run time, and only the `rank` innermost dimensions cost a
// division. T is int where every offset fits (the host says so), else long.
#define STRIDED_STEP(T, dims, s1, s2, rest, o1, o2)                     \
  {                                                                    \
    const T coordinate = rest % (T)(dims);                             \
    rest /= (T)(dims);                                                 \
    o1 += coordinate * (T)(s1);                                        \
    o2 += coordinate * (T)(s2);                                        \
  }
// Dimension d of the int8 arguments counts from the outermost; `rank` dimensions are used,
// so the innermost is component rank − 1: walk components 7…0 and skip those ≥ rank.
#define STRIDED_OFFSETS(T, rank, shape, x1, x2, rest, o1, o2)                                  \
  {                                                                                            \
    if (rank > 7) STRIDED_STEP(T, shape.s7, x1.s7, x2.s7, rest, o1, o2)                  \
    if (rank > 6) STRIDED_STEP(T, shape.s6, x1.s6, x2.s6, rest, o1, o2)                  \
    if (rank > 5) STRIDED_STEP(T, shape.s5, x1.s5, x2.s5, rest, o1, o2)                  \
    if (rank > 4) STRIDED_STEP(T, shape.s4, x1.s4, x2.s4, rest, o1, o2)                  \
    if (rank > 3) STRIDED_STEP(T, shape.s3, x1.s3, x2.s3, rest, o1, o2)                  \
    if (rank > 2) STRIDED_STEP(T, shape.s2, x1.s2, x2.s2, rest, o1, o2)                  \
    if (rank > 1) STRIDED_STEP(T, shape.s1, x1.s1, x2.s1, rest, o1, o2)                  \
    if (rank > 0) STRIDED_STEP(T, shape.s0, x1.s0, x2.s0, rest, o1, o2)                  \
  }

// out = a ⊕ b with broadcasting: out is contiguous in `shape` (rank ≤ 8, unused dimensions 1);
// sa and sb give each input's stride per output dimension (0 where it broadcasts). small: every
// offset fits in an int (32-bit index arithmetic).
__kernel void binary_broadcast(const int op, __global const float *a, __global const float *b, __global float *out,
                               const long count, const int rank, const int8 shape, const int8 sa, const int8 sb,
                               const int small) {
  const long i = get_global_id(0);
  if (i >= count) return;
  if (small) {
    int rest = (int)i, ia = 0, ib = 0;
    STRIDED_OFFSETS(int, rank, shape, sa, sb, rest, ia, ib)
    out[i] = apply_binary(op, a[ia], b[ib]);
  } else {
    long rest = i, ia = 0, ib = 0;
    STRIDED_OFFSETS(long, rank, shape, sa, sb, rest, ia, ib)
    out[i] = apply_binary(op, a[ia], b[ib]);
  }
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
