// conv.cl: the pieces of 2-D convolution on NCHW tensors that are not GEMM (pooling: pool.cl).
// A convolution is im2col, one GEMM per group, and a permute; its input gradient is a GEMM
// and col2im; its weight gradient a GEMM. Every kernel checks its bound, so global sizes may be
// rounded up. Gradients are gathered (each output element sums what reaches it, in a fixed
// order): no atomics, and the same result on every run.

// Geometry, passed as two int8 vectors:
//   g0 = (N, C, H, W, K, R, S, groups)   g1 = (strideH, strideW, padH, padW, dilationH, dilationW, OH, OW)

// columns[(c·R + r)·S + s][(n·OH + y)·OW + x] = input[n][c][y·sh − ph + r·dh][x·sw − pw + s·dw] or 0.
__kernel void im2col(__global const float *input, const long offset, __global float *columns, const int8 g0, const int8 g1) {
  const int N = g0.s0, C = g0.s1, H = g0.s2, W = g0.s3, R = g0.s5, S = g0.s6;
  const int sh = g1.s0, sw = g1.s1, ph = g1.s2, pw = g1.s3, dh = g1.s4, dw = g1.s5, OH = g1.s6, OW = g1.s7;
  const long perRow = (long)N * OH * OW;
  const long e = get_global_id(0);
  if (e >= (long)C * R * S * perRow) return;
  const long column = e % perRow;
  const int row = e / perRow;
  const int s = row % S, r = (row / S) % R, c = row / (R * S);
  const int x = column % OW, y = (column / OW) % OH, n = column / ((long)OW * OH);
  const int h = y * sh - ph + r * dh, w = x * sw - pw + s * dw;
  columns[e] = (h >= 0 && h < H && w >= 0 && w < W) ? input[offset + (((long)n * C + c) * H + h) * W + w] : 0.0f;
}

// gradInput[n][c][h][w] = Σ over (r, s) whose window position lands on (h, w) of the column entry.
__kernel void col2im(__global const float *columns, __global float *gradInput, const long offset, const int8 g0, const int8 g1) {
  const int N = g0.s0, C = g0.s1, H = g0.s2, W = g0.s3, R = g0.s5, S = g0.s6;
  const int sh = g1.s0, sw = g1.s1, ph = g1.s2, pw = g1.s3, dh = g1.s4, dw = g1.s5, OH = g1.s6, OW = g1.s7;
  const long e = get_global_id(0);
  if (e >= (long)N * C * H * W) return;
  const int w = e % W, h = (e / W) % H, c = (e / ((long)W * H)) % C, n = e / ((long)W * H * C);
  const long perRow = (long)N * OH * OW;
  float acc = 0.0f;
  for (int r = 0; r < R; r++) {
    const int ty = h + ph - r * dh;
    if (ty < 0 || ty % sh) continue;
    const int y = ty / sh;
    if (y >= OH) continue;
    for (int s = 0; s < S; s++) {
      const int tx = w + pw - s * dw;
      if (tx < 0 || tx % sw) continue;
      const int x = tx / sw;
      if (x >= OW) continue;
      acc += columns[((long)(c * R + r) * S + s) * perRow + ((long)n * OH + y) * OW + x];
    }
  }
  gradInput[offset + e] = acc;
}

// Direct convolution, one output element per work-item: output[n][k][y][x] =
// Σ_{c in k's group, r, s} input[n][c][y·sh − ph + r·dh][x·sw − pw + s·dw] · weight[k][c][r][s].
// No column matrix: for few input channels (a network's first layer) it beats im2col + GEMM,
// whose GEMM then has a tiny depth. Which one runs is measured per shape.
__kernel void conv2d_direct(__global const float *input, __global const float *weight, __global float *output,
                            const int8 g0, const int8 g1) {
  const int N = g0.s0, C = g0.s1, H = g0.s2, W = g0.s3, K = g0.s4, R = g0.s5, S = g0.s6, groups = g0.s7;
  const int sh = g1.s0, sw = g1.s1, ph = g1.s2, pw = g1.s3, dh = g1.s4, dw = g1.s5, OH = g1.s6, OW = g1.s7;
  const long e = get_global_id(0);
  if (e >= (long)N * K * OH * OW) return;
  const int x = e % OW, y = (e / OW) % OH, k = (e / ((long)OW * OH)) % K, n = e / ((long)OW * OH * K);
  const int cg = C / groups, group = k / (K / groups);
  float acc = 0.0f;
  for (int c = 0; c < cg; c++) {
    const __global float *plane = input + ((long)n * C + group * cg + c) * H * W;
    const __global float *kernel_ = weight + ((long)k * cg + c) * R * S;
    for (int r = 0; r < R; r++) {
      const int h = y * sh - ph + r * dh;
      if (h < 0 || h >= H) continue;
      for (int s = 0; s < S; s++) {
        const int w = x * sw - pw + s * dw;
        if (w >= 0 && w < W) acc = fma(plane[h * W + w], kernel_[r * S + s], acc);
      }
    }
  }
  output[e] = acc;
}
