// optim.cl: one fused update per parameter tensor, PyTorch's rules, one work-item per element.

// SGD with momentum (m), dampening, Nesterov and L2 weight decay.
__kernel void sgd_step(__global float *p, __global const float *g, __global float *m, const long count,
                       const float lr, const float momentum, const float dampening, const float weightDecay,
                       const int nesterov, const int first) {
  const long i = get_global_id(0);
  if (i >= count) return;
  float d = g[i] + weightDecay * p[i];
  if (momentum != 0.0f) {
    const float buf = first ? d : momentum * m[i] + (1.0f - dampening) * d;
    m[i] = buf;
    d = nesterov ? d + momentum * buf : buf;
  }
  p[i] -= lr * d;
}

// Adam (L2 weight decay through the gradient) or AdamW (decoupled: the parameter shrinks).
// stepSize = lr / (1 − β1ᵗ), root2 = √(1 − β2ᵗ), computed on the host in double.
__kernel void adam_step(__global float *p, __global const float *g, __global float *m, __global float *v, const long count,
                        const float lr, const float beta1, const float beta2, const float eps, const float weightDecay,
                        const int decoupled, const float stepSize, const float root2) {
  const long i = get_global_id(0);
  if (i >= count) return;
  float d = g[i];
  float w = p[i];
  if (decoupled) w *= 1.0f - lr * weightDecay; else d += weightDecay * w;
  const float mi = beta1 * m[i] + (1.0f - beta1) * d;
  const float vi = beta2 * v[i] + (1.0f - beta2) * d * d;
  m[i] = mi;
  v[i] = vi;
  p[i] = w - stepSize * mi / (sqrt(vi) / root2 + eps);
}
