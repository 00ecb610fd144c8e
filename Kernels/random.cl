// random.cl: Philox-4x32-10 (Salmon, Moraes, Dror and Shaw, SC 2011) and the ops that draw
// from it on the device: dropout and image augmentation. ScalpelCore's `Philox` computes the
// same bits on the host; the counter layout is theirs: block b of stream s under a seed is the
// counter (lo32(b), hi32(b), s, 0) with the key (lo32(seed), hi32(seed)).
//
// No contraction of a·b + c into fma: the host computes each product and sum rounded on its
// own, and the transforms must agree bit for bit before the trigonometry.
#pragma OPENCL FP_CONTRACT OFF

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

// Stream numbers (ScalpelCore's Philox.Stream).
#define STREAM_DROPOUT 0u
#define STREAM_AUGMENTATION 1u

inline uint4 philox_round(uint4 c, uint2 k) {
  const uint hi0 = mul_hi(PHILOX_M0, c.x), lo0 = PHILOX_M0 * c.x;
  const uint hi1 = mul_hi(PHILOX_M1, c.z), lo1 = PHILOX_M1 * c.z;
  return (uint4)(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
}

// The four words of Philox-4x32-10 for `c` under `k` (ten rounds, the key bumped between).
inline uint4 philox4x32_10(uint4 c, uint2 k) {
  for (int r = 0; r < 10; r++) {
    if (r > 0) k += (uint2)(PHILOX_W0, PHILOX_W1);
    c = philox_round(c, k);
  }
  return c;
}

// The same ten rounds on scalar words c0…c3 under k0, k1, in place, for kernels that a CPU
// device should vectorise across work-items: PoCL's vectoriser widens scalar code only (no
// uint4 inside a work-item, no 64-bit multiply), so this form runs 16 work-items per AVX-512
// instruction where philox4x32_10 runs one.
#define PHILOX_SCALAR_ROUND(c0, c1, c2, c3, k0, k1)                                     \
  {                                                                                     \
    const uint hi0 = mul_hi(PHILOX_M0, c0), lo0 = PHILOX_M0 * c0;                       \
    const uint hi1 = mul_hi(PHILOX_M1, c2), lo1 = PHILOX_M1 * c2;                       \
    c0 = hi1 ^ c1 ^ k0;                                                                 \
    c1 = lo1;                                                                           \
    c2 = hi0 ^ c3 ^ k1;                                                                 \
    c3 = lo0;                                                                           \
  }
#define PHILOX_SCALAR_BUMP(k0, k1) { k0 += PHILOX_W0; k1 += PHILOX_W1; }
#define PHILOX_SCALAR_10(c0, c1, c2, c3, k0, k1)                                        \
  PHILOX_SCALAR_ROUND(c0, c1, c2, c3, k0, k1) PHILOX_SCALAR_BUMP(k0, k1)                \
  PHILOX_SCALAR_ROUND(c0, c1, c2, c3, k0, k1) PHILOX_SCALAR_BUMP(k0, k1)                \
  PHILOX_SCALAR_ROUND(c0, c1, c2, c3, k0, k1) PHILOX_SCALAR_BUMP(k0, k1)                \
  PHILOX_SCALAR_ROUND(c0, c1, c2, c3, k0, k1) PHILOX_SCALAR_BUMP(k0, k1)                \
  PHILOX_SCALAR_ROUND(c0, c1, c2, c3, k0, k1) PHILOX_SCALAR_BUMP(k0, k1)                \
  PHILOX_SCALAR_ROUND(c0, c1, c2, c3, k0, k1) PHILOX_SCALAR_BUMP(k0, k1)                \
  PHILOX_SCALAR_ROUND(c0, c1, c2, c3, k0, k1) PHILOX_SCALAR_BUMP(k0, k1)                \
  PHILOX_SCALAR_ROUND(c0, c1, c2, c3, k0, k1) PHILOX_SCALAR_BUMP(k0, k1)                \
  PHILOX_SCALAR_ROUND(c0, c1, c2, c3, k0, k1) PHILOX_SCALAR_BUMP(k0, k1)                \
  PHILOX_SCALAR_ROUND(c0, c1, c2, c3, k0, k1)

inline uint4 philox_block(ulong seed, uint stream, ulong block) {
  return philox4x32_10((uint4)((uint)block, (uint)(block >> 32), stream, 0u), (uint2)((uint)seed, (uint)(seed >> 32)));
}

// A uniform float in [0, 1): the top 24 bits times 2^-24 (exact).
inline float philox_uniform(uint bits) { return (float)(bits >> 8) * 0x1p-24f; }

// The raw words, for checking the generator against published known answers: block i of
// out (count, 4 words) is Philox-4x32-10 of counters[i] (count, 4 words) under keys[i] (count,
// 2 words). The host passes the 32-bit words in fp32 buffers bit for bit.
__kernel void philox_words(__global const uint *counters, __global const uint *keys, __global uint *out, const int count) {
  const int i = get_global_id(0);
  if (i >= count) return;
  const uint4 r = philox4x32_10(vload4(i, counters), vload2(i, keys));
  vstore4(r, i, out);
}

// y[i] = u < keep ? x[i]·scale : 0, u from element offset + i of the dropout stream; x and y
// hold `count` values (y may be x). One work-item per Philox block: block b covers elements
// 4b ..< 4b + 4 of the stream, of which those in offset ..< offset + count are written. Scalar
// words and no loop, so that a CPU device vectorises across work-items (measured on PoCL: 2.3×
// the uint4 form's speed).
#define DROPOUT_LANE(lane, word)                                                        \
  if (first + lane >= offset && first + lane < end) {                                   \
    const long i = (long)(first + lane - offset);                                       \
    y[i] = philox_uniform(word) < keep ? x[i] * scale : 0.0f;                           \
  }
__kernel void dropout(__global const float *x, __global float *y, const long count, const float keep, const float scale,
                      const ulong seed, const ulong offset) {
  const ulong block = (offset >> 2) + get_global_id(0);
  const ulong first = block << 2, end = offset + (ulong)count;
  if (first >= end) return;
  uint c0 = (uint)block, c1 = (uint)(block >> 32), c2 = STREAM_DROPOUT, c3 = 0u;
  uint k0 = (uint)seed, k1 = (uint)(seed >> 32);
  PHILOX_SCALAR_10(c0, c1, c2, c3, k0, k1)
  DROPOUT_LANE(0, c0) DROPOUT_LANE(1, c1) DROPOUT_LANE(2, c2) DROPOUT_LANE(3, c3)
}

// A batch of randomly transformed images. images: (imageCount, C, H, W); index: (batch)
// integral row numbers as floats; out: (batch, C, H, W). One work-item per output pixel
// (b, y, x), looping over the channels. Sample b's transform is block offset + b of the
// augmentation stream: u0 < ½ flips (when `flip`), u1 the angle in ±maxDegrees, u2 and u3
// the shift in ±maxShift; the source point undoes the shift, the rotation about the centre
// and the flip, and is sampled bilinearly with `fill` outside. An index out of range gives NaN.
__kernel void augment_images(__global const float *images, const int imageCount, __global const float *index, __global float *out,
                             const int batch, const int channels, const int height, const int width,
                             const float maxDegrees, const float maxShift, const int flip, const float fill,
                             const ulong seed, const ulong offset) {
  const int e = get_global_id(0);
  const int plane = height * width;
  if (e >= batch * plane) return;
  const int b = e / plane, p = e - b * plane, y = p / width, x = p - y * width;
  const long size = (long)channels * plane;
  __global float *o = out + b * size + p;
  const float raw = index[b];
  const int row = (int)raw;
  if (!(row >= 0 && row < imageCount && (float)row == raw)) {
    for (int ch = 0; ch < channels; ch++) o[(long)ch * plane] = NAN;
    return;
  }
  const uint4 r = philox_block(seed, STREAM_AUGMENTATION, offset + (ulong)b);
  const float degrees = -maxDegrees + 2.0f * maxDegrees * philox_uniform(r.y);
  const float angle = degrees * (M_PI_F / 180.0f);
  const float dx = -maxShift + 2.0f * maxShift * philox_uniform(r.z);
  const float dy = -maxShift + 2.0f * maxShift * philox_uniform(r.w);
  const bool flipped = flip != 0 && philox_uniform(r.x) < 0.5f;
  const float c = cos(angle), s = sin(angle);
  const float cx = (float)(width - 1) / 2.0f, cy = (float)(height - 1) / 2.0f;
  const float ux = (float)x - cx - dx, uy = (float)y - cy - dy;
  float sx = c * ux + s * uy + cx;
  const float sy = -s * ux + c * uy + cy;
  if (flipped) sx = (float)(width - 1) - sx;
  const float fx0 = floor(sx), fy0 = floor(sy);
  const float fx = sx - fx0, fy = sy - fy0;
  const bool inside = fx0 > -2.0f && fx0 < (float)width && fy0 > -2.0f && fy0 < (float)height;
  const int x0 = inside ? (int)fx0 : -2, y0 = inside ? (int)fy0 : -2;
  const bool in00 = x0 >= 0 && x0 < width && y0 >= 0 && y0 < height;
  const bool in10 = x0 + 1 >= 0 && x0 + 1 < width && y0 >= 0 && y0 < height;
  const bool in01 = x0 >= 0 && x0 < width && y0 + 1 >= 0 && y0 + 1 < height;
  const bool in11 = x0 + 1 >= 0 && x0 + 1 < width && y0 + 1 >= 0 && y0 + 1 < height;
  __global const float *image = images + (long)row * size;
  for (int ch = 0; ch < channels; ch++) {
    __global const float *src = image + (long)ch * plane;
    const float p00 = in00 ? src[y0 * width + x0] : fill;
    const float p10 = in10 ? src[y0 * width + x0 + 1] : fill;
    const float p01 = in01 ? src[(y0 + 1) * width + x0] : fill;
    const float p11 = in11 ? src[(y0 + 1) * width + x0 + 1] : fill;
    const float top = p00 * (1.0f - fx) + p10 * fx;
    const float bottom = p01 * (1.0f - fx) + p11 * fx;
    o[(long)ch * plane] = top * (1.0f - fy) + bottom * fy;
  }
}
