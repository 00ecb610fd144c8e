// loss.cl: fused cross-entropy (softmax, pick, class weights, label smoothing) and
// binary cross-entropy with logits (pos_weight), forward and backward.
// HAS_WEIGHTS-style optional buffers are passed with a flag, since OpenCL 1.2 has no null
// buffer arguments on every driver.

// One work-item per row: probabilities, the row's loss and its weight w[y].
__kernel void cross_entropy(__global const float *logits, __global const float *labels, __global const float *weights,
                            const int hasWeights, __global float *probabilities, __global float *losses, __global float *rowWeights,
                            const int rows, const int classes, const float smoothing) {
  const int r = get_global_id(0);
  if (r >= rows) return;
  const __global float *z = logits + (long)r * classes;
  __global float *p = probabilities + (long)r * classes;
  float peak = -INFINITY;
  for (int c = 0; c < classes; c++) peak = fmax(peak, z[c]);
  float total = 0.0f;
  for (int c = 0; c < classes; c++) total += exp(z[c] - peak);
  const float logTotal = peak + log(total);
  for (int c = 0; c < classes; c++) p[c] = exp(z[c] - logTotal);
  const float raw = labels[r];
  const int y = (int)raw;
  if (y < 0 || y >= classes || (float)y != raw) {
    losses[r] = NAN;
    rowWeights[r] = NAN;
    return;
  }
  const float w = hasWeights ? weights[y] : 1.0f;
  float smooth = 0.0f;
  if (smoothing != 0.0f)
    for (int c = 0; c < classes; c++) smooth += (hasWeights ? weights[c] : 1.0f) * (z[c] - logTotal);
  losses[r] = -(1.0f - smoothing) * w * (z[y] - logTotal) - smoothing / classes * smooth;
  rowWeights[r] = w;
}

// One work-item per logit.
__kernel void cross_entropy_backward(__global const float *probabilities, __global const float *labels, __global const float *weights,
                                     const int hasWeights, __global const float *dLoss, __global float *dLogits,
                                     const int rows, const int classes, const float smoothing) {
  const long e = get_global_id(0);
  if (e >= (long)rows * classes) return;
  const int j = e % classes, r = e / classes;
  const int y = (int)labels[r];
  const int valid = y >= 0 && y < classes;
  float weightTotal = classes;
  if (hasWeights) {
    weightTotal = 0.0f;
    for (int c = 0; c < classes; c++) weightTotal += weights[c];
  }
  const float w = valid ? (hasWeights ? weights[y] : 1.0f) : NAN;
  const float p = probabilities[e];
  const float hard = (1.0f - smoothing) * w * (p - (j == y ? 1.0f : 0.0f));
  const float soft = smoothing / classes * (weightTotal * p - (hasWeights ? weights[j] : 1.0f));
  dLogits[e] = dLoss[r] * (hard + soft);
}


// losses = pw·y·softplus(−x) + (1−y)·softplus(x); pw = posWeight[i mod classes] or 1.
__kernel void bce_with_logits(__global const float *x, __global const float *y, __global const float *posWeight, const int hasPosWeight,
                              __global float *losses, const long count, const int classes) {
  const long i = get_global_id(0);
  if (i >= count) return;
  const float pw = hasPosWeight ? posWeight[i % classes] : 1.0f;
  losses[i] = pw * y[i] * scalpel_softplus(-x[i]) + (1.0f - y[i]) * scalpel_softplus(x[i]);
}

__kernel void bce_with_logits_backward(__global const float *x, __global const float *y, __global const float *posWeight,
                                       const int hasPosWeight, __global const float *dLoss, __global float *dx,
                                       const long count, const int classes) {
  const long i = get_global_id(0);
  if (i >= count) return;
  const float pw = hasPosWeight ? posWeight[i % classes] : 1.0f;
  dx[i] = dLoss[i] * (-pw * y[i] * scalpel_sigmoid(-x[i]) + (1.0f - y[i]) * scalpel_sigmoid(x[i]));
}
