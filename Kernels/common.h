// common.h: what every program shares, put in front of each .cl file when it is built
// (KernelSources), after the op codes generated from ScalpelCore's enums (UNARY_RELU,
// BINARY_ADD, REDUCE_SUM, …: the Swift enums are the one place their numbers are written).
// Helpers here are defined once, not per file.

// σ(x) without overflow for large |x|.
inline float scalpel_sigmoid(float x) {
  return x >= 0.0f ? 1.0f / (1.0f + exp(-x)) : exp(x) / (1.0f + exp(x));
}

// Φ(x), the standard normal CDF (the exact GELU is x·Φ(x)).
inline float scalpel_phi(float x) { return 0.5f * (1.0f + erf(x * 0.70710678118654752f)); }

// log(1 + eˣ) without overflow.
inline float scalpel_softplus(float x) { return x > 0.0f ? x + log1p(exp(-x)) : log1p(exp(x)); }
