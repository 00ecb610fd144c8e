// normalization.cl: fused batch and layer normalisation, forward and backward.
//
// Batch normalisation views x (and y, dy, dx) as (N, C, L), contiguous fp32: channel c of batch
// entry n is the run x[(n·C + c)·L ..< +L] (L = H·W for images, 1 for (N, C)). Statistics are
// per channel over its M = N·L values. One work-group of GROUP work-items reduces one channel
// (the statistics, the backward sums); consecutive work-items read consecutive values of a run,
// so reads are coalesced whenever L is large, and walk on to the next batch entry's run when L is
// small. The element-wise kernels (apply, backward_input) take one work-item per value, in three
// dimensions (l, c, n).
//   training forward:  batch_norm_statistics, then batch_norm_apply (2 launches)
//   evaluation:        batch_norm_apply from the running statistics (1 launch)
//   backward:          batch_norm_backward_reduce, then batch_norm_backward_input (2 launches)
// Layer normalisation views x as (rows, F) and normalises each row: one work-group per row
// forward and for dx; dweight/dbias are column sums over rows, one work-group per COLS columns.
//
// Sums are formed by each work-item over its share, then in a fixed tree in local memory: no
// atomics, the same result on every run. The variance takes two passes (the mean first, then
// the squared deviations from it), which stays accurate when |mean| ≫ std, unlike E[x²] − E[x]².
//
// Knob (-D, set by the host from the device): GROUP, work-items per group, a power of two
// within the device's and the kernels' work-group limits (256 on a GPU, 64 on a CPU device).

#ifndef GROUP
#define GROUP 256
#endif

// Columns per work-group of layer_norm_backward_parameters, and the row slices it splits into.
#if GROUP < 32
#define COLS GROUP
#else
#define COLS 32
#endif
#define SLICES (GROUP / COLS)

// The sums of a and b over the work-group, returned to every work-item. Called in uniform
// control flow; scratch is free again on return.
inline float2 group_sum2(__local float2 *scratch, const float a, const float b) {
  const int lid = get_local_id(0);
  scratch[lid] = (float2)(a, b);
  barrier(CLK_LOCAL_MEM_FENCE);
  for (int s = GROUP / 2; s > 0; s >>= 1) {
    if (lid < s) scratch[lid] += scratch[lid + s];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  const float2 total = scratch[0];
  barrier(CLK_LOCAL_MEM_FENCE);
  return total;
}

inline float group_sum(__local float2 *scratch, const float a) { return group_sum2(scratch, a, 0.0f).x; }

// The inverse standard deviation from a saved one (statisticIsVariance 0) or from a running
// variance (1).
inline float inverse_std(__global const float *statistic, const int c, const int statisticIsVariance, const float epsilon) {
  return statisticIsVariance ? 1.0f / sqrt(statistic[c] + epsilon) : statistic[c];
}

#ifndef ROW_VECTORS
#define ROW_VECTORS 0
#endif

// The sum of a float16's lanes, in a fixed order.
inline float sum16(const float16 v) {
  const float8 a = v.lo + v.hi;
  const float4 b = a.lo + a.hi;
  const float2 d = b.lo + b.hi;
  return d.x + d.y;
}

// Work-item lid's share of channel c's Σ x (squares = 0) or Σ (x − mean)² (squares = 1) over
// x (N, C, L): values i = lid, lid + GROUP, … of the channel's M = N·L, walked as (n, l)
// without dividing; consecutive work-items read consecutive values (coalesced on a GPU).
inline float bn_share_strided(const __global float *x, const int c, const int N, const int C, const int L, const int lid,
                              const float mean, const int squares) {
  const int M = N * L;
  // Value i of the channel is (n, l) = (i / L, i % L); a stride of GROUP moves n and l by these.
  const int stepN = GROUP / L, stepL = GROUP - stepN * L;
  float acc = 0.0f;
  for (int i = lid, n = lid / L, l = lid - (lid / L) * L; i < M; i += GROUP) {
    const float v = x[((long)n * C + c) * L + l];
    acc += squares ? (v - mean) * (v - mean) : v;
    n += stepN;
    l += stepL;
    if (l >= L) { l -= L; n++; }
  }
  return acc;
}

// The same share on a CPU device (ROW_VECTORS) for runs of L ≥ 16: work-item lid takes the
// runs n = lid, lid + GROUP, … whole, in float16 vectors along the run (PoCL vectorises no loop
// inside a work-item by itself, and a scalar sum waits on each addition's latency).
inline float bn_share_rows(const __global float *x, const int c, const int N, const int C, const int L, const int lid,
                           const float mean, const int squares) {
  float16 acc16 = 0.0f;
  float acc = 0.0f;
  for (int n = lid; n < N; n += GROUP) {
    const __global float *run = x + ((long)n * C + c) * L;
    int l = 0;
    for (; l + 16 <= L; l += 16) {
      const float16 v = vload16(0, run + l);
      acc16 = squares ? fma(v - mean, v - mean, acc16) : acc16 + v;
    }
    for (; l < L; l++) acc += squares ? (run[l] - mean) * (run[l] - mean) : run[l];
  }
  return acc + sum16(acc16);
}

inline float bn_share(const __global float *x, const int c, const int N, const int C, const int L, const int lid, const float mean,
                      const int squares) {
  return ROW_VECTORS && L >= 16 ? bn_share_rows(x, c, N, C, L, lid, mean, squares) : bn_share_strided(x, c, N, C, L, lid, mean, squares);
}

// Per channel c (work-group c): mean and biased variance of x's M = N·L values; savedMean[c],
// savedInvStd[c] = 1/√(var + ε); running ← (1 − momentum)·running + momentum·batch, the variance
// unbiased (·M/(M−1)). Global (C·GROUP), local (GROUP).
__kernel __attribute__((reqd_work_group_size(GROUP, 1, 1)))
void batch_norm_statistics(__global const float *x, __global float *runningMean, __global float *runningVar,
                           __global float *savedMean, __global float *savedInvStd,
                           const int N, const int C, const int L, const float epsilon, const float momentum) {
  __local float2 scratch[GROUP];
  const int lid = get_local_id(0);
  const int c = get_group_id(0);
  const int M = N * L;
  const float mean = group_sum(scratch, bn_share(x, c, N, C, L, lid, 0.0f, 0)) / (float)M;
  const float variance = group_sum(scratch, bn_share(x, c, N, C, L, lid, mean, 1)) / (float)M;
  if (lid == 0) {
    savedMean[c] = mean;
    savedInvStd[c] = 1.0f / sqrt(variance + epsilon);
    runningMean[c] = momentum * mean + (1.0f - momentum) * runningMean[c];
    runningVar[c] = momentum * (variance * ((float)M / (float)(M - 1))) + (1.0f - momentum) * runningVar[c];
  }
}

// The element-wise kernels (apply, backward_input) run on a 3-D range (l, c, n), so no
// work-item divides (a CPU device has no vector integer division: `row % C` per value ran
// scalar and cost as much as the rest): global (⌈L⌉, C, N), or (C, N, 1) when L = 1 (the
// (N, C) input of a batch norm over features, where a row of one value would idle a vector).
// BODY(i, c) for value i of channel c. The two layouts are separate branches (uniform: L is
// one for the launch) so that each knows its channel without a per-value select. The index is
// 32-bit where the host says the tensor fits (BN_INT_INDEX): Intel's runtime vectorises these
// kernels only then (ResNet-18's stage-1 batch norm, 32×64×28×28: 3.3 → 0.3–0.6 ms forward,
// 4.0 → 0.8–1.4 backward; PoCL the same either way).
#ifndef BN_INT_INDEX
#define BN_INT_INDEX 0
#endif
#if BN_INT_INDEX
#define BN_INDEX_T int
#else
#define BN_INDEX_T long
#endif
#define BN_FOR_EACH_VALUE(BODY)                                                           \
  if (L == 1) {                                                                           \
    const int c = get_global_id(0), n = get_global_id(1);                                 \
    if (c < C && n < N) BODY((BN_INDEX_T)n * C + c, c)                                    \
  } else {                                                                                \
    const int l = get_global_id(0), c = get_global_id(1), n = get_global_id(2);           \
    if (l < L && c < C && n < N) BODY(((BN_INDEX_T)n * C + c) * L + l, c)                 \
  }

// y = (x − mean[c])·invStd·weight[c] + bias[c], then max(0, ·) when relu; invStd from the saved
// one (training) or from the running variance (evaluation).
__kernel void batch_norm_apply(__global const float *x, __global const float *weight, __global const float *bias,
                               __global const float *mean, __global const float *statistic, const int statisticIsVariance,
                               __global float *y, const int N, const int C, const int L, const float epsilon, const int relu) {
#define BN_APPLY(i, c)                                                                    \
  {                                                                                       \
    const float v = (x[i] - mean[c]) * inverse_std(statistic, c, statisticIsVariance, epsilon) * weight[c] + bias[c]; \
    y[i] = relu && !(v > 0.0f) ? 0.0f : v;                                                \
  }
  BN_FOR_EACH_VALUE(BN_APPLY)
}

// Work-item lid's share of channel c's (Σ dy′, Σ dy′·x̂), with dy′ = dy (0 where relu clamped
// y) and x̂ = (x − mu)·s: strided over the channel's values as bn_share_strided, or (ROW_VECTORS,
// L ≥ 16) whole runs in float16 vectors as bn_share_rows.
inline float2 bn_grad_share(const __global float *x, const __global float *y, const __global float *dy, const int c, const int N,
                            const int C, const int L, const int lid, const float mu, const float s, const int relu) {
  float accG = 0.0f, accGX = 0.0f;
  if (ROW_VECTORS && L >= 16) {
    float16 g16 = 0.0f, gx16 = 0.0f;
    for (int n = lid; n < N; n += GROUP) {
      const long base = ((long)n * C + c) * L;
      int l = 0;
      for (; l + 16 <= L; l += 16) {
        const float16 d = vload16(0, dy + base + l);
        const float16 g = relu ? select((float16)(0.0f), d, vload16(0, y + base + l) > 0.0f) : d;
        g16 += g;
        gx16 = fma(g, (vload16(0, x + base + l) - mu) * s, gx16);
      }
      for (; l < L; l++) {
        const float g = relu && !(y[base + l] > 0.0f) ? 0.0f : dy[base + l];
        accG += g;
        accGX += g * ((x[base + l] - mu) * s);
      }
    }
    return (float2)(accG + sum16(g16), accGX + sum16(gx16));
  }
  const int M = N * L;
  const int stepN = GROUP / L, stepL = GROUP - stepN * L;
  for (int i = lid, n = lid / L, l = lid - (lid / L) * L; i < M; i += GROUP) {
    const long at = ((long)n * C + c) * L + l;
    const float g = relu && !(y[at] > 0.0f) ? 0.0f : dy[at];
    accG += g;
    accGX += g * ((x[at] - mu) * s);
    n += stepN;
    l += stepL;
    if (l >= L) { l -= L; n++; }
  }
  return (float2)(accG, accGX);
}

// Per channel c (work-group c): with dy′ = dy (0 where relu clamped y) and x̂ = (x − mean)·invStd,
// dWeight[c] = Σ dy′·x̂ and dBias[c] = Σ dy′. Global (C·GROUP), local (GROUP).
__kernel __attribute__((reqd_work_group_size(GROUP, 1, 1)))
void batch_norm_backward_reduce(__global const float *x, __global const float *y, __global const float *dy,
                                __global const float *mean, __global const float *statistic, const int statisticIsVariance,
                                __global float *dWeight, __global float *dBias,
                                const int N, const int C, const int L, const float epsilon, const int relu) {
  __local float2 scratch[GROUP];
  const int lid = get_local_id(0);
  const int c = get_group_id(0);
  const float2 share = bn_grad_share(x, y, dy, c, N, C, L, lid, mean[c], inverse_std(statistic, c, statisticIsVariance, epsilon), relu);
  const float2 sums = group_sum2(scratch, share.x, share.y);
  if (lid == 0) {
    dWeight[c] = sums.y;
    dBias[c] = sums.x;
  }
}

// dx = weight·invStd·(dy′ − (dBias + x̂·dWeight)/M) when training (the batch statistics depend
// on x), weight·invStd·dy′ in evaluation. Work-item (l, c, n) as in batch_norm_apply.
__kernel void batch_norm_backward_input(__global const float *x, __global const float *weight, __global const float *y,
                                        __global const float *dy, __global const float *mean, __global const float *statistic,
                                        const int training, __global const float *dWeight, __global const float *dBias,
                                        __global float *dx, const int N, const int C, const int L, const int M,
                                        const float epsilon, const int relu) {
#define BN_BACKWARD_INPUT(i, c)                                                           \
  {                                                                                       \
    const float s = inverse_std(statistic, c, !training, epsilon);                        \
    const float g = relu && !(y[i] > 0.0f) ? 0.0f : dy[i];                                \
    dx[i] = training ? weight[c] * s * (g - (dBias[c] + (x[i] - mean[c]) * s * dWeight[c]) / (float)M) : weight[c] * s * g; \
  }
  BN_FOR_EACH_VALUE(BN_BACKWARD_INPUT)
}

// Row r of x (rows, F) (work-group r): mean[r], rstd[r] = 1/√(var + ε),
// y = (x − mean)·rstd·weight + bias. Global (rows·GROUP), local (GROUP).
__kernel __attribute__((reqd_work_group_size(GROUP, 1, 1)))
void layer_norm_forward(__global const float *x, __global const float *weight, __global const float *bias,
                        __global float *y, __global float *mean, __global float *rstd, const int F, const float epsilon) {
  __local float2 scratch[GROUP];
  const int lid = get_local_id(0);
  const long base = (long)get_group_id(0) * F;
  float acc = 0.0f;
  for (int j = lid; j < F; j += GROUP) acc += x[base + j];
  const float mu = group_sum(scratch, acc) / (float)F;
  acc = 0.0f;
  for (int j = lid; j < F; j += GROUP) {
    const float d = x[base + j] - mu;
    acc += d * d;
  }
  const float inv = 1.0f / sqrt(group_sum(scratch, acc) / (float)F + epsilon);
  for (int j = lid; j < F; j += GROUP) y[base + j] = (x[base + j] - mu) * inv * weight[j] + bias[j];
  if (lid == 0) {
    mean[get_group_id(0)] = mu;
    rstd[get_group_id(0)] = inv;
  }
}

// Row r (work-group r): with g = dy·weight and x̂ = (x − mean)·rstd,
// dx = rstd·(g − mean_F(g) − x̂·mean_F(g·x̂)). Global (rows·GROUP), local (GROUP).
__kernel __attribute__((reqd_work_group_size(GROUP, 1, 1)))
void layer_norm_backward_input(__global const float *x, __global const float *weight, __global const float *dy,
                               __global const float *mean, __global const float *rstd, __global float *dx, const int F) {
  __local float2 scratch[GROUP];
  const int lid = get_local_id(0);
  const int r = get_group_id(0);
  const long base = (long)r * F;
  const float mu = mean[r], inv = rstd[r];
  float accG = 0.0f, accGX = 0.0f;
  for (int j = lid; j < F; j += GROUP) {
    const float g = dy[base + j] * weight[j];
    accG += g;
    accGX += g * ((x[base + j] - mu) * inv);
  }
  const float2 sums = group_sum2(scratch, accG, accGX);
  const float a = sums.x / (float)F, b = sums.y / (float)F;
  for (int j = lid; j < F; j += GROUP) {
    dx[base + j] = inv * (dy[base + j] * weight[j] - a - (x[base + j] - mu) * inv * b);
  }
}

// Columns COLS·g … COLS·g + COLS − 1 (work-group g): dWeight[f] = Σ_r dy·x̂, dBias[f] = Σ_r dy
// (each written when its has- flag is 1). Work-item (column t, slice s) sums rows s, s + SLICES,
// … (a row's COLS columns are read together, coalesced); the slices are then added in order.
// Global (⌈F/COLS⌉·GROUP), local (GROUP).
__kernel __attribute__((reqd_work_group_size(GROUP, 1, 1)))
void layer_norm_backward_parameters(__global const float *x, __global const float *dy, __global const float *mean,
                                    __global const float *rstd, __global float *dWeight, const int hasWeight,
                                    __global float *dBias, const int hasBias, const int rows, const int F) {
  __local float2 partial[GROUP];
  const int lid = get_local_id(0);
  const int t = lid % COLS, slice = lid / COLS;
  const int f = get_group_id(0) * COLS + t;
  float accW = 0.0f, accB = 0.0f;
  if (f < F) {
    for (int r = slice; r < rows; r += SLICES) {
      const long at = (long)r * F + f;
      const float d = dy[at];
      accW += d * ((x[at] - mean[r]) * rstd[r]);
      accB += d;
    }
  }
  partial[lid] = (float2)(accW, accB);
  barrier(CLK_LOCAL_MEM_FENCE);
  if (slice == 0 && f < F) {
    float2 total = partial[t];
    for (int s = 1; s < SLICES; s++) total += partial[s * COLS + t];
    if (hasWeight) dWeight[f] = total.x;
    if (hasBias) dBias[f] = total.y;
  }
}
