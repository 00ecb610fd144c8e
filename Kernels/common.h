// common.h: what every program shares, put in front of each .cl file when it is built
// (KernelSources), after the op codes generated from ScalpelCore's enums (UNARY_RELU,
// BINARY_ADD, REDUCE_SUM, …: the Swift enums are the one place their numbers are written).
// Helpers here are defined once, not per file.

// σ(x) without overflow for large |x|.
inline float scalpel_sigmoid(float x) {
  return x >= 0.0f ? 1.0f / (1.0f + exp(-x)) : exp(x) / (1.0f + exp(x));
}

// erfc(z) for z ≥ 0 with a fractional error below 1.2·10⁻⁷ everywhere: the Chebyshev fit of
// Numerical Recipes' erfcc, one exp and a polynomial. The built-in erf is far slower on CPU
// devices (PoCL: 21 ns per value, scalar, against 1.6 for exp; GELU spent most of a
// transformer step's element-wise time in it).
inline float scalpel_erfc_positive(float z) {
  const float t = 1.0f / (1.0f + 0.5f * z);
  const float p = -1.26551223f + t * (1.00002368f + t * (0.37409196f + t * (0.09678418f + t * (-0.18628806f
                  + t * (0.27886807f + t * (-1.13520398f + t * (1.48851587f + t * (-0.82215223f + t * 0.17087277f))))))));
  return t * exp(p - z * z);
}

// Φ(x), the standard normal CDF (the exact GELU is x·Φ(x)), from the tail on x's side so that
// it stays accurate in relative terms where Φ is tiny.
inline float scalpel_phi(float x) {
  const float tail = 0.5f * scalpel_erfc_positive(fabs(x) * 0.70710678118654752f);
  return x < 0.0f ? tail : 1.0f - tail;
}

// log(1 + eˣ) without overflow.
inline float scalpel_softplus(float x) { return x > 0.0f ? x + log1p(exp(-x)) : log1p(exp(x)); }

// Strided offsets (binary_broadcast, copy_strided). Coordinate k of a flat index (dimensions
// k+1… already divided out of `rest`) added to the offsets, dimension by dimension from the
// innermost, fully unrolled over the int8 components:
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

