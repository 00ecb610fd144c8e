// recurrent.cl: the fused LSTM and GRU cells of one time step, forward and backward. The
// GEMMs around them (x·W_ihᵀ for the whole sequence, h·W_hhᵀ per step) are separate calls;
// these kernels do all of a step's element-wise gate work in one launch, so a step costs a
// GEMM and one kernel rather than a dozen element-wise launches.
//
// One work-item per (batch row b, hidden unit j), e = b·hidden + j. Layouts (row-major):
//   LSTM gates, dGates   (batch, 4·hidden), gate order i, f, g, o (PyTorch's)
//   GRU gi, gh, saved, dgi, dgh   (batch, 3·hidden), gate order r, z, n (PyTorch's)
//   every state and its gradient   (batch, hidden)
// Work-items of one row touch consecutive addresses in each gate block, so loads coalesce on
// a GPU and PoCL vectorises across work-items.

// gates ← (σ(i), σ(f), tanh(g), σ(o)); c = f·cPrev + i·g; h = o·tanh(c).
__kernel void lstm_cell(__global float *gates, __global const float *cPrev, __global float *c, __global float *h,
                        const int batch, const int hidden) {
  const long e = get_global_id(0);
  if (e >= (long)batch * hidden) return;
  const long b = e / hidden, j = e - b * hidden;
  __global float *g = gates + b * 4 * hidden + j;
  const float i = scalpel_sigmoid(g[0]), f = scalpel_sigmoid(g[hidden]), n = tanh(g[2 * hidden]), o = scalpel_sigmoid(g[3 * hidden]);
  g[0] = i;
  g[hidden] = f;
  g[2 * hidden] = n;
  g[3 * hidden] = o;
  const float cell = f * cPrev[e] + i * n;
  c[e] = cell;
  h[e] = o * tanh(cell);
}

// From the activations in gates: dc_total = dc + dh·o·(1 − tanh²c);
// dGates = (dc_total·g·i(1−i), dc_total·cPrev·f(1−f), dc_total·i·(1−g²), dh·tanh(c)·o(1−o)),
// dcPrev = dc_total·f. hasDc = 0: no gradient reaches c from later steps (dc is not read).
__kernel void lstm_cell_backward(__global const float *gates, __global const float *cPrev, __global const float *c,
                                 __global const float *dh, __global const float *dc, const int hasDc, __global float *dGates,
                                 __global float *dcPrev, const int batch, const int hidden) {
  const long e = get_global_id(0);
  if (e >= (long)batch * hidden) return;
  const long b = e / hidden, j = e - b * hidden;
  const long g0 = b * 4 * hidden + j;
  const float i = gates[g0], f = gates[g0 + hidden], n = gates[g0 + 2 * hidden], o = gates[g0 + 3 * hidden];
  const float t = tanh(c[e]), dhv = dh[e];
  const float dcv = (hasDc ? dc[e] : 0.0f) + dhv * o * (1.0f - t * t);
  dGates[g0] = dcv * n * i * (1.0f - i);
  dGates[g0 + hidden] = dcv * cPrev[e] * f * (1.0f - f);
  dGates[g0 + 2 * hidden] = dcv * i * (1.0f - n * n);
  dGates[g0 + 3 * hidden] = dhv * t * o * (1.0f - o);
  dcPrev[e] = dcv * f;
}

// r = σ(gi_r + gh_r), z = σ(gi_z + gh_z), n = tanh(gi_n + r·gh_n), h = (1 − z)·n + z·hPrev;
// saved ← (r, z, n).
__kernel void gru_cell(__global const float *gi, __global const float *gh, __global const float *hPrev, __global float *h,
                       __global float *saved, const int batch, const int hidden) {
  const long e = get_global_id(0);
  if (e >= (long)batch * hidden) return;
  const long b = e / hidden, j = e - b * hidden;
  const long g0 = b * 3 * hidden + j;
  const float r = scalpel_sigmoid(gi[g0] + gh[g0]);
  const float z = scalpel_sigmoid(gi[g0 + hidden] + gh[g0 + hidden]);
  const float n = tanh(gi[g0 + 2 * hidden] + r * gh[g0 + 2 * hidden]);
  saved[g0] = r;
  saved[g0 + hidden] = z;
  saved[g0 + 2 * hidden] = n;
  h[e] = (1.0f - z) * n + z * hPrev[e];
}

// dn = dh·(1−z)·(1−n²); dz = dh·(hPrev − n)·z(1−z); dr = dn·gh_n·r(1−r):
// dgi = (dr, dz, dn), dgh = (dr, dz, dn·r), dhPrev = dh·z (the direct path; the caller adds
// dgh·W_hh for the path through the gates).
__kernel void gru_cell_backward(__global const float *saved, __global const float *gh, __global const float *hPrev,
                                __global const float *dh, __global float *dgi, __global float *dgh, __global float *dhPrev,
                                const int batch, const int hidden) {
  const long e = get_global_id(0);
  if (e >= (long)batch * hidden) return;
  const long b = e / hidden, j = e - b * hidden;
  const long g0 = b * 3 * hidden + j;
  const float r = saved[g0], z = saved[g0 + hidden], n = saved[g0 + 2 * hidden];
  const float dhv = dh[e];
  const float dn = dhv * (1.0f - z) * (1.0f - n * n);
  const float dz = dhv * (hPrev[e] - n) * z * (1.0f - z);
  const float dr = dn * gh[g0 + 2 * hidden] * r * (1.0f - r);
  dgi[g0] = dr;
  dgi[g0 + hidden] = dz;
  dgi[g0 + 2 * hidden] = dn;
  dgh[g0] = dr;
  dgh[g0 + hidden] = dz;
  dgh[g0 + 2 * hidden] = dn * r;
  dhPrev[e] = dhv * z;
}
