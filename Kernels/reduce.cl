// reduce.cl: reductions along one axis and row-wise softmax.
//
// A tensor is viewed as (outer, axis, inner); one work-item per (outer, inner) output walks the
// axis. Consecutive work-items take consecutive inner positions, so their loads are adjacent.
// The host splits a long reduction of few outputs into two passes (partial sums first).
// Operation codes match ScalpelCore's ReduceOp: 0 sum, 1 max, 2 argmax, 3 sum of squares.

__kernel void reduce_axis(const int op, __global const float *x, __global float *out,
                          const int outer, const int axis, const int inner) {
  const long e = get_global_id(0);
  if (e >= (long)outer * inner) return;
  const int n = e % inner, o = e / inner;
  const __global float *base = x + (long)o * axis * inner + n;
  float acc;
  if (op == 0) {
    acc = 0.0f;
    for (int a = 0; a < axis; a++) acc += base[(long)a * inner];
  } else if (op == 3) {
    acc = 0.0f;
    for (int a = 0; a < axis; a++) acc = fma(base[(long)a * inner], base[(long)a * inner], acc);
  } else if (op == 1) {
    acc = -INFINITY;
    for (int a = 0; a < axis; a++) {
      const float v = base[(long)a * inner];
      if (isnan(v)) { acc = v; break; }
      acc = fmax(acc, v);
    }
  } else {
    float best = axis > 0 ? base[0] : 0.0f;
    int bestIndex = 0;
    for (int a = 1; a < axis; a++) {
      const float v = base[(long)a * inner];
      if (v > best) { best = v; bestIndex = a; }
    }
    acc = (float)bestIndex;
  }
  out[e] = acc;
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
