/// Memory owned by one backend, holding `count` fp32 values.
public protocol DeviceBuffer: AnyObject, Sendable {
    /// Number of fp32 elements.
    var count: Int { get }
    /// The backend that made this buffer; only it may use the buffer.
    var owner: DeviceID { get }
}

/// A compute backend: the pure-Swift CPU backend or one OpenCL device.
///
/// Backends offer coarse operations on their own buffers. Autograd and everything above sit
/// over this protocol, so a backend holds no gradient logic beyond the backward kernels of
/// fused operations. Operations are enqueued in order; `synchronize()` waits for all of them.
public protocol Backend: AnyObject, Sendable {
    /// Which device this is.
    var id: DeviceID { get }
    /// A human-readable name (the device's name, or the CPU model).
    var displayName: String { get }

    /// Allocates a buffer of `count` fp32 values (contents undefined).
    func makeBuffer(count: Int) throws -> any DeviceBuffer
    /// A buffer sharing `count` elements of `buffer` from element `offset`: writes through one
    /// are seen through the other, and kernels take it as a buffer of its own (a flat buffer of
    /// every parameter, with a view per tensor, lets one launch update them all). `offset` must
    /// be a multiple of `viewAlignment`.
    func makeView(of buffer: any DeviceBuffer, offset: Int, count: Int) throws -> any DeviceBuffer
    /// The alignment, in elements, of a view's offset on this backend.
    var viewAlignment: Int { get }
    /// Copies `source` into `buffer` starting at element `offset`.
    func write(_ source: UnsafeBufferPointer<Float>, to buffer: any DeviceBuffer, at offset: Int) throws
    /// Copies elements of `buffer` starting at `offset` into `destination` (which sets the count).
    func read(_ buffer: any DeviceBuffer, at offset: Int, into destination: UnsafeMutableBufferPointer<Float>) throws

    /// C = alpha·op(A)·op(B) + beta·C for each batch entry (row-major fp32). See `GEMMParameters`.
    func gemm(_ parameters: GEMMParameters, a: any DeviceBuffer, b: any DeviceBuffer, c: any DeviceBuffer) throws
    /// The same GEMM, then `epilogue` (a bias along the columns, a ReLU) on C; C must be dense.
    /// The default is `gemmComposed` (separate element-wise passes).
    func gemm(_ parameters: GEMMParameters, a: any DeviceBuffer, b: any DeviceBuffer, c: any DeviceBuffer, epilogue: GEMMEpilogue) throws

    /// Blocks until every operation enqueued so far has finished.
    func synchronize() throws

    // MARK: Tensor operations (contiguous fp32 buffers; shapes as documented per call)

    /// buffer[offset ..< offset+count] = value.
    func fill(_ buffer: any DeviceBuffer, value: Float, offset: Int, count: Int) throws
    /// y = f(x), element-wise over `count` elements.
    func unary(_ op: UnaryOp, x: any DeviceBuffer, y: any DeviceBuffer, count: Int) throws
    /// dx = dy · f′(x), given x, y = f(x) and dy, element-wise.
    func unaryBackward(_ op: UnaryOp, x: any DeviceBuffer, y: any DeviceBuffer, dy: any DeviceBuffer, dx: any DeviceBuffer, count: Int) throws
    /// out = a ⊕ b with broadcasting as described by `layout` (out is contiguous in layout.shape).
    func binary(_ op: BinaryOp, a: any DeviceBuffer, b: any DeviceBuffer, out: any DeviceBuffer, layout: BroadcastLayout) throws
    /// y = alpha·x + beta·y over `count` elements (y not read when beta is 0).
    func axpby(alpha: Float, x: any DeviceBuffer, beta: Float, y: any DeviceBuffer, count: Int) throws
    /// out[o, n] = reduce over a of x[o, a, n]; x is (outer, axis, inner), out is (outer, inner).
    func reduce(_ op: ReduceOp, x: any DeviceBuffer, out: any DeviceBuffer, outer: Int, axis: Int, inner: Int) throws
    /// out[k] = Σ over n and p of x[n, k, p]; x is (batch, channels, positions), out is
    /// (channels): a convolution's bias gradient. The default sums over the batch, then over
    /// the positions, with `reduce`; a backend overrides it where one pass pays.
    func channelSums(_ x: any DeviceBuffer, out: any DeviceBuffer, batch: Int, channels: Int, positions: Int) throws
    /// out[0] = Σ over `segments` (ascending, not overlapping, within x) of the Σ of squares of
    /// each segment's elements: the squared global norm of tensors packed in one buffer. The
    /// elements between segments must be zero (an arena's padding), so a backend may sum the
    /// whole span at once; the CPU-Swift backend sums each segment, then the segments' sums.
    func sumOfSquares(_ x: any DeviceBuffer, segments: [Range<Int>], out: any DeviceBuffer) throws
    /// Row-wise softmax (or log-softmax) of x (rows × cols) into y.
    func softmax(x: any DeviceBuffer, y: any DeviceBuffer, rows: Int, cols: Int, log: Bool) throws
    /// dx from y = softmax(x) (or log-softmax) and dy, row-wise.
    func softmaxBackward(y: any DeviceBuffer, dy: any DeviceBuffer, dx: any DeviceBuffer, rows: Int, cols: Int, log: Bool) throws
    /// A strided copy between two buffers (or within one, if the regions do not overlap).
    func copy(_ copy: StridedCopy, from source: any DeviceBuffer, to destination: any DeviceBuffer) throws
    /// out[o, i, n] = x[o, index[i], n]: x is (outer, axis, inner), index holds `count` integral
    /// values in 0..<axis (as floats), out is (outer, count, inner).
    func gather(x: any DeviceBuffer, index: any DeviceBuffer, out: any DeviceBuffer, outer: Int, axis: Int, inner: Int, count: Int) throws
    /// dx[o, index[i], n] += dy[o, i, n] (the gradient of `gather`; dx is added to, deterministically).
    func scatterAdd(dy: any DeviceBuffer, index: any DeviceBuffer, dx: any DeviceBuffer, outer: Int, axis: Int, inner: Int, count: Int) throws
    /// Fused cross-entropy on logits (rows × classes) and integral labels (rows, as floats):
    /// probabilities = softmax(logits); losses[r] = −(1−ε)·w[y]·log p[y] − (ε/C)·Σ_c w[c]·log p[c];
    /// rowWeights[r] = w[y_r] (w = 1 without class weights). A label outside 0..<classes gives NaN.
    func crossEntropy(logits: any DeviceBuffer, labels: any DeviceBuffer, classWeights: (any DeviceBuffer)?,
                      probabilities: any DeviceBuffer, losses: any DeviceBuffer, rowWeights: any DeviceBuffer,
                      rows: Int, classes: Int, settings: LossSettings) throws
    /// dlogits[r, j] = dLoss[r] · ((1−ε)·w[y]·(p[j] − δ_jy) + (ε/C)·(W·p[j] − w[j])), W = Σ w.
    func crossEntropyBackward(probabilities: any DeviceBuffer, labels: any DeviceBuffer, classWeights: (any DeviceBuffer)?,
                              dLoss: any DeviceBuffer, dLogits: any DeviceBuffer, rows: Int, classes: Int, settings: LossSettings) throws
    /// losses = pw·y·softplus(−x) + (1−y)·softplus(x), element-wise over `count`; pw =
    /// posWeight[i mod classes] (1 without it).
    func bceWithLogits(logits: any DeviceBuffer, targets: any DeviceBuffer, posWeight: (any DeviceBuffer)?, losses: any DeviceBuffer,
                       count: Int, classes: Int) throws
    /// dx = dLoss · (−pw·y·σ(−x) + (1−y)·σ(x)).
    func bceWithLogitsBackward(logits: any DeviceBuffer, targets: any DeviceBuffer, posWeight: (any DeviceBuffer)?, dLoss: any DeviceBuffer,
                               dLogits: any DeviceBuffer, count: Int, classes: Int) throws
    /// Unfolds input (N, C, H, W), starting at element `offset` of its buffer, into the column
    /// matrix (C·R·S, N·OH·OW): row (c, r, s), column (n, oh, ow) holds
    /// input[n, c, oh·sh − ph + r·dh, ow·sw − pw + s·dw] (0 outside).
    func im2col(_ geometry: Conv2dGeometry, input: any DeviceBuffer, offset: Int, columns: any DeviceBuffer) throws
    /// The transpose of im2col: gradInput[n, c, h, w] (from element `offset` of its buffer) = Σ of
    /// the column entries that read it (overwritten; each sum is formed in a fixed order).
    func col2im(_ geometry: Conv2dGeometry, columns: any DeviceBuffer, gradInput: any DeviceBuffer, offset: Int) throws
    /// output (N, K, OH, OW) = the convolution of input with weight (K, C/groups, R, S), no bias,
    /// computed directly (no column matrix).
    func conv2dDirect(_ geometry: Conv2dGeometry, input: any DeviceBuffer, weight: any DeviceBuffer, output: any DeviceBuffer) throws
    /// Max (or average) pooling of input (N, C, H, W) into output (N, C, OH, OW).
    func pool2d(_ geometry: Pool2dGeometry, max: Bool, input: any DeviceBuffer, output: any DeviceBuffer) throws
    /// gradInput (overwritten) from gradOutput; max pooling routes each gradient to the first
    /// maximum of its window (found again by comparing input with output).
    func pool2dBackward(_ geometry: Pool2dGeometry, max: Bool, input: any DeviceBuffer, output: any DeviceBuffer,
                        gradOutput: any DeviceBuffer, gradInput: any DeviceBuffer) throws
    // MARK: Attention (AttentionGeometry documents the layouts)

    /// Scaled-dot-product attention, fused: output = softmax(scale·q·kᵀ + mask)·v and, per query,
    /// logSumExp = log Σ_j exp(scale·q·k_j) over its unmasked keys (what the backward pass needs).
    /// keyLengths (batch values, integral floats; nil: every key) masks keys j ≥ keyLengths[b];
    /// `causal` masks keys j > i. A query with no unmasked key gets output 0 and logSumExp −∞.
    /// Memory beyond the outputs: O(queryLength·headSize) per head, never the score matrix.
    /// `geometry.layout` places the rows of q, k, v and the output (strided views: q, k and v
    /// may be one buffer); logSumExp and keyLengths are contiguous.
    func attention(_ geometry: AttentionGeometry, q: any DeviceBuffer, k: any DeviceBuffer, v: any DeviceBuffer,
                   keyLengths: (any DeviceBuffer)?, output: any DeviceBuffer, logSumExp: any DeviceBuffer) throws
    /// Gradients dq, dk, dv (overwritten) of `attention`, from its inputs, output, logSumExp and
    /// dOutput (recomputing the probabilities; deterministic, no atomics). dOutput has the
    /// output's rows, dq q's, dk k's and dv v's; every row of dq, dk and dv is written and
    /// nothing else, so the three may be disjoint parts of one buffer that needs no zero fill.
    func attentionBackward(_ geometry: AttentionGeometry, q: any DeviceBuffer, k: any DeviceBuffer, v: any DeviceBuffer,
                           keyLengths: (any DeviceBuffer)?, output: any DeviceBuffer, logSumExp: any DeviceBuffer,
                           dOutput: any DeviceBuffer, dq: any DeviceBuffer, dk: any DeviceBuffer, dv: any DeviceBuffer) throws

    // MARK: Recurrent cells (one time step; the GEMMs around them are separate calls)

    /// LSTM cell in PyTorch's gate order (i, f, g, o). gates (batch, 4·hidden) holds the
    /// pre-activations x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh and is overwritten with the activations
    /// (σ(i), σ(f), tanh(g), σ(o)); c = f·cPrev + i·g and h = o·tanh(c), each (batch, hidden).
    func lstmCell(gates: any DeviceBuffer, cPrev: any DeviceBuffer, c: any DeviceBuffer, h: any DeviceBuffer,
                  batch: Int, hidden: Int) throws
    /// From the activations left in `gates` by `lstmCell`, cPrev, c, dh and dc (the gradient
    /// reaching c from later steps; nil: none): dGates (batch, 4·hidden, gradients of the
    /// pre-activations) and dcPrev (batch, hidden), both overwritten.
    func lstmCellBackward(gates: any DeviceBuffer, cPrev: any DeviceBuffer, c: any DeviceBuffer, dh: any DeviceBuffer,
                          dc: (any DeviceBuffer)?, dGates: any DeviceBuffer, dcPrev: any DeviceBuffer, batch: Int, hidden: Int) throws
    /// GRU cell as PyTorch defines it. gi = x·W_ihᵀ + b_ih and gh = h·W_hhᵀ + b_hh, each
    /// (batch, 3·hidden) in gate order (r, z, n): r = σ(gi_r + gh_r), z = σ(gi_z + gh_z),
    /// n = tanh(gi_n + r·gh_n), h = (1 − z)·n + z·hPrev. `saved` (batch, 3·hidden) receives (r, z, n).
    func gruCell(gi: any DeviceBuffer, gh: any DeviceBuffer, hPrev: any DeviceBuffer, h: any DeviceBuffer,
                 saved: any DeviceBuffer, batch: Int, hidden: Int) throws
    /// dgi, dgh (batch, 3·hidden) and dhPrev (batch, hidden), overwritten, from `saved`, gh, hPrev and dh.
    func gruCellBackward(saved: any DeviceBuffer, gh: any DeviceBuffer, hPrev: any DeviceBuffer, dh: any DeviceBuffer,
                         dgi: any DeviceBuffer, dgh: any DeviceBuffer, dhPrev: any DeviceBuffer, batch: Int, hidden: Int) throws

    /// One fused optimizer update of `count` parameters in place (state1: momentum or Adam's
    /// first moment; state2: Adam's second moment; both zero before the first step).
    func optimizerStep(_ step: OptimizerStep, parameter: any DeviceBuffer, gradient: any DeviceBuffer,
                       state1: any DeviceBuffer, state2: any DeviceBuffer, count: Int) throws

    // MARK: Randomness (Philox-4x32-10 drawn where it is used; see `Philox`) and resident data

    /// Dropout by a mask drawn on the backend: y[i] = x[i]·scale where element `offset + i` of
    /// the dropout stream under `seed` gives u = `Philox.uniform(bits)` < keep, else 0; x and
    /// y hold `count` values (y may be x). The same call on dy is the backward pass, so no mask
    /// is stored; every backend draws the same mask.
    func dropout(x: any DeviceBuffer, y: any DeviceBuffer, count: Int, keep: Float, scale: Float, seed: UInt64, offset: UInt64) throws
    /// A batch of randomly transformed images: output[b] (C, H, W) is images[index[b]] under
    /// the transform of sample `offset + b` (`AugmentationParameters.transform`); images is
    /// (imageCount, C, H, W), index holds `batch` integral values in 0..<imageCount (as
    /// floats), output is (batch, C, H, W).
    func augmentImages(_ parameters: AugmentationParameters, images: any DeviceBuffer, imageCount: Int, index: any DeviceBuffer,
                       output: any DeviceBuffer, batch: Int, seed: UInt64, offset: UInt64) throws
    /// Copies `values` into `buffer` from element `offset` without waiting for the copy: the
    /// backend keeps its own copy of the values alive until the device has read them. Later
    /// operations on the queue see the new values.
    func writeWithoutWaiting(_ values: [Float], to buffer: any DeviceBuffer, at offset: Int) throws
    /// The most bytes of data a run should keep resident on this backend beside its model (one
    /// allocation at most the device's largest, and a share of its memory); nil: no limit
    /// beyond the host's.
    var residentDataLimit: Int? { get }

    // MARK: Normalisation (BatchNormGeometry and LayerNormGeometry document the layouts)

    /// Batch normalisation in training mode, fused: per channel c of x (N, C, L), the mean μ and
    /// biased variance σ² of its N·L values (two passes, not E[x²] − E[x]²); savedMean[c] = μ,
    /// savedInvStd[c] = 1/√(σ² + ε); the running statistics (C each) updated in place,
    /// running ← (1 − momentum)·running + momentum·batch, the variance unbiased (·n/(n−1)) as in
    /// PyTorch; y = (x − μ)·invStd·weight[c] + bias[c], then max(0, ·) when `relu`.
    func batchNormTraining(_ geometry: BatchNormGeometry, x: any DeviceBuffer, weight: any DeviceBuffer, bias: any DeviceBuffer,
                           runningMean: any DeviceBuffer, runningVar: any DeviceBuffer,
                           savedMean: any DeviceBuffer, savedInvStd: any DeviceBuffer, y: any DeviceBuffer) throws
    /// Batch normalisation in evaluation mode: y = (x − runningMean[c])/√(runningVar[c] + ε)·
    /// weight[c] + bias[c] (then max(0, ·) when `relu`); nothing is updated.
    func batchNormInference(_ geometry: BatchNormGeometry, x: any DeviceBuffer, weight: any DeviceBuffer, bias: any DeviceBuffer,
                            runningMean: any DeviceBuffer, runningVar: any DeviceBuffer, y: any DeviceBuffer) throws
    /// Gradients of either batch-normalisation mode. With `training`, mean and `statistic` are
    /// the saved batch mean and inverse std (the statistics depend on x); otherwise they are the
    /// running mean and variance (invStd = 1/√(var + ε), constants). dy′ = dy, masked to y > 0
    /// when `relu`; x̂ = (x − mean)·invStd. dWeight[c] = Σ dy′·x̂ and dBias[c] = Σ dy′ (always
    /// written); dx (when not nil) = weight·invStd·(dy′ − (dBias + x̂·dWeight)/(N·L)) in
    /// training, weight·invStd·dy′ in evaluation.
    func batchNormBackward(_ geometry: BatchNormGeometry, training: Bool, x: any DeviceBuffer, weight: any DeviceBuffer, y: any DeviceBuffer,
                           dy: any DeviceBuffer, mean: any DeviceBuffer, statistic: any DeviceBuffer,
                           dx: (any DeviceBuffer)?, dWeight: any DeviceBuffer, dBias: any DeviceBuffer) throws
    /// Layer normalisation of each row of x (rows × features): mean[r], rstd[r] = 1/√(σ² + ε)
    /// (biased variance, two passes) saved, y = (x − mean)·rstd·weight[f] + bias[f].
    func layerNorm(_ geometry: LayerNormGeometry, x: any DeviceBuffer, weight: any DeviceBuffer, bias: any DeviceBuffer,
                   y: any DeviceBuffer, mean: any DeviceBuffer, rstd: any DeviceBuffer) throws
    /// Gradients of `layerNorm` from x, the saved mean and rstd and dy, each written only when
    /// not nil: dx = rstd·(g − mean_f(g) − x̂·mean_f(g·x̂)) with g = dy·weight, x̂ = (x − mean)·rstd;
    /// dWeight[f] = Σ_r dy·x̂ and dBias[f] = Σ_r dy.
    func layerNormBackward(_ geometry: LayerNormGeometry, x: any DeviceBuffer, weight: any DeviceBuffer, dy: any DeviceBuffer,
                           mean: any DeviceBuffer, rstd: any DeviceBuffer,
                           dx: (any DeviceBuffer)?, dWeight: (any DeviceBuffer)?, dBias: (any DeviceBuffer)?) throws

    // MARK: Implicit-GEMM convolution (Conv2dGeometry documents the layouts)

    /// output (N, K, OH, OW) = the convolution of input (N, C, H, W) with weight (K, C/groups,
    /// R, S), plus bias (K) when given, then max(·, 0) when `relu`: a GEMM reading the image
    /// through the geometry, with no column matrix and no permute.
    func conv2dImplicitForward(_ geometry: Conv2dGeometry, input: any DeviceBuffer, weight: any DeviceBuffer,
                               bias: (any DeviceBuffer)?, relu: Bool, output: any DeviceBuffer) throws
    /// gradInput (N, C, H, W), overwritten, from gradOutput (N, K, OH, OW) and weight.
    func conv2dImplicitBackwardData(_ geometry: Conv2dGeometry, gradOutput: any DeviceBuffer, weight: any DeviceBuffer,
                                    gradInput: any DeviceBuffer) throws
    /// gradWeight (K, C/groups, R, S), overwritten, from input and gradOutput; the sum over
    /// N·OH·OW is formed in a fixed order (deterministic, no atomics).
    func conv2dImplicitBackwardWeight(_ geometry: Conv2dGeometry, input: any DeviceBuffer, gradOutput: any DeviceBuffer,
                                      gradWeight: any DeviceBuffer) throws
    /// output (N, K, OH, OW) = the convolution plus bias (K) when given, then max(·, 0) when
    /// `relu`, by Winograd F(2×2, 3×3), for a geometry that `supportsWinograd` (by default, and
    /// at any other geometry: the column path, `conv2dImplicitForwardByColumns`).
    func conv2dWinogradForward(_ geometry: Conv2dGeometry, input: any DeviceBuffer, weight: any DeviceBuffer,
                               bias: (any DeviceBuffer)?, relu: Bool, output: any DeviceBuffer) throws
    /// gradInput (N, C, H, W), overwritten, from gradOutput and weight by Winograd F(2×2, 3×3),
    /// for a geometry that `supportsWinograd` (by default, and at any other geometry: the column
    /// path, `conv2dBackwardColumns`).
    func conv2dWinogradBackwardData(_ geometry: Conv2dGeometry, gradOutput: any DeviceBuffer, weight: any DeviceBuffer,
                                    gradInput: any DeviceBuffer) throws
    /// gradWeight (K, C, 3, 3), overwritten, from input and gradOutput by Winograd F(2×2, 3×3)
    /// (the transformed tiles of both multiplied in the transformed domain), for a geometry that
    /// `supportsWinograd` (by default, and at any other geometry: the column path,
    /// `conv2dBackwardColumns`).
    func conv2dWinogradBackwardWeight(_ geometry: Conv2dGeometry, input: any DeviceBuffer, gradOutput: any DeviceBuffer,
                                      gradWeight: any DeviceBuffer) throws
    /// The algorithm for `pass` at `geometry`: a backend with a choice times the candidates
    /// once per shape and pass (with a bounded number of runs) and remembers the fastest.
    func conv2dAlgorithm(_ geometry: Conv2dGeometry, pass: ConvPass) -> ConvAlgorithm
    /// Floats of column matrix per chunk of images on the im2col + GEMM path when the caller
    /// does not say (see `conv2dForwardColumns`).
    var convColumnBudget: Int { get }

    // MARK: Composed operations — each has a default body in ComposedOps.swift built from the
    // primitives above, so it runs on every backend as written; a backend overrides one only
    // where a fused kernel pays.

    /// y = x·σ(x) (SiLU, also called swish), element-wise over `count` elements.
    func silu(x: any DeviceBuffer, y: any DeviceBuffer, count: Int) throws
    /// dx = dy·σ(x)·(1 + x·(1 − σ(x))), the gradient of `silu`, given x, y = silu(x) and dy.
    func siluBackward(x: any DeviceBuffer, y: any DeviceBuffer, dy: any DeviceBuffer, dx: any DeviceBuffer, count: Int) throws
}

extension Backend {
    /// A new buffer holding `values`.
    public func makeBuffer(_ values: [Float]) throws -> any DeviceBuffer {
        let buffer = try makeBuffer(count: values.count)
        try values.withUnsafeBufferPointer { try write($0, to: buffer, at: 0) }
        return buffer
    }

    /// The whole contents of `buffer` as an array.
    public func read(_ buffer: any DeviceBuffer) throws -> [Float] {
        try [Float](unsafeUninitializedCapacity: buffer.count) { storage, initialized in
            try read(buffer, at: 0, into: storage)
            initialized = buffer.count
        }
    }

    /// Throws unless `buffer` was made by this backend.
    public func checkOwnership(_ buffer: any DeviceBuffer, op: String) throws {
        guard buffer.owner == id else {
            throw ScalpelError.foreignBuffer(op: op, expected: id.description, got: buffer.owner.description)
        }
    }
}

extension Backend {
    /// Runs one GEMM on host arrays: uploads A, B and C, computes, and returns the new C.
    /// `body` performs the call (default: `gemm`), so callers can pick a kernel variant.
    public func gemm(_ p: GEMMParameters, a: [Float], b: [Float], c: [Float],
                     body: ((any DeviceBuffer, any DeviceBuffer, any DeviceBuffer) throws -> Void)? = nil) throws -> [Float] {
        let (da, db, dc) = (try makeBuffer(a), try makeBuffer(b), try makeBuffer(c))
        if let body { try body(da, db, dc) } else { try gemm(p, a: da, b: db, c: dc) }
        return try read(dc)
    }
}
