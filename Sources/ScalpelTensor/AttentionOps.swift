import ScalpelCore

// Scaled-dot-product attention: the fused operation (one backend call forward, one backward),
// the same computation composed of differentiable operations (the reference tests compare
// against), and the attention weights themselves (for attention maps).
extension Tensor {
    /// softmax(scale·q·kᵀ + mask)·v for self = query (B, H, Nq, d), key and value (B, H, Nk, d),
    /// in one fused kernel that never stores the Nq×Nk scores; gradients reach query, key and
    /// value (recomputing the probabilities from each query's saved log-sum-exp).
    ///
    /// - keyLengths: (B) integral values; batch entry b attends to keys j < keyLengths[b]
    ///   (padding). nil: every key.
    /// - causal: query i attends to keys j ≤ i (top-left aligned, as PyTorch's `is_causal`).
    /// - scale: the factor on q·kᵀ; nil: 1/√d.
    ///
    /// A query that sees no key at all (a batch entry with keyLengths 0) gets output 0 and
    /// passes no gradient.
    public func scaledDotProductAttention(key: Tensor, value: Tensor, keyLengths: Tensor? = nil, causal: Bool = false,
                                          scale: Float? = nil) throws -> Tensor {
        let g = try attentionGeometry("scaledDotProductAttention", key: key, value: value, keyLengths: keyLengths, causal: causal, scale: scale)
        let output = try Tensor.empty(shape, on: backend)
        let logSumExp = try Tensor.empty([g.batch, g.heads, g.queryLength], on: backend)
        try backend.attention(g, q: storage, k: key.storage, v: value.storage, keyLengths: keyLengths?.storage,
                              output: output.storage, logSumExp: logSumExp.storage)
        // The closure holds the output's storage, never the output itself (see unary).
        return Tensor.record(output, "scaledDotProductAttention", [self, key, value]) {
            [backend, shape, storage, outputStorage = output.storage, keyShape = key.shape] gradient in
            let dq = try Tensor.empty(shape, on: backend)
            let dk = try Tensor.empty(keyShape, on: backend), dv = try Tensor.empty(keyShape, on: backend)
            try backend.attentionBackward(g, q: storage, k: key.storage, v: value.storage, keyLengths: keyLengths?.storage,
                                          output: outputStorage, logSumExp: logSumExp.storage, dOutput: gradient.storage,
                                          dq: dq.storage, dk: dk.storage, dv: dv.storage)
            return [dq, dk, dv]
        }
    }

    /// Multi-head self-attention read straight from a fused input projection: self = qkv
    /// (N, L, 3·d), each row holding q, k and v of every head side by side (d = heads·headSize;
    /// head h of q at columns h·headSize, of k at d + h·headSize, of v at 2·d + h·headSize, as
    /// PyTorch's `in_proj` lays them out). Returns (N, L, d): each head's
    /// softmax(scale·q·kᵀ + mask)·v at columns h·headSize, what an output projection takes. The
    /// same values as reshaping to (N, L, 3, heads, headSize), permuting to (3, N, heads, L,
    /// headSize), slicing q, k, v, `scaledDotProductAttention` and permuting back, without the
    /// copies: the kernels address the rows in place, and the backward pass writes dq, dk and dv
    /// into the thirds of one (N, L, 3·d) gradient.
    ///
    /// - keyLengths: (N) integral values; sequence b attends to time steps j < keyLengths[b]. nil: all.
    /// - causal: step i attends to steps j ≤ i.
    /// - scale: the factor on q·kᵀ; nil: 1/√headSize.
    public func selfAttention(heads: Int, keyLengths: Tensor? = nil, causal: Bool = false, scale: Float? = nil) throws -> Tensor {
        let op = "selfAttention"
        guard rank == 3, heads >= 1, shape[2] % (3 * heads) == 0 else {
            throw ScalpelError.shapeMismatch(op: op, detail: "qkv \(shape) must be (batch, length, 3·d) with d a multiple of \(Swift.max(heads, 1)) heads")
        }
        let (batch, length, d) = (shape[0], shape[1], shape[2] / 3)
        let headSize = d / heads
        try checkAttentionOptions(op, keyLengths: keyLengths, batch: batch, scale: scale)
        let g = AttentionGeometry(batch: batch, heads: heads, queryLength: length, keyLength: length, headSize: headSize,
                                  scale: scale ?? (headSize == 0 ? 1 : nil), causal: causal,
                                  layout: .packedSelfAttention(heads: heads, length: length, headSize: headSize))
        let output = try Tensor.empty([batch, length, d], on: backend)
        let logSumExp = try Tensor.empty([batch, heads, length], on: backend)
        try backend.attention(g, q: storage, k: storage, v: storage, keyLengths: keyLengths?.storage,
                              output: output.storage, logSumExp: logSumExp.storage)
        // The closure holds the output's storage, never the output itself (see unary).
        return Tensor.record(output, op, [self]) { [backend, shape, storage, outputStorage = output.storage] gradient in
            // dq, dk, dv fill the three thirds of every row: no zero fill needed.
            let dqkv = try Tensor.empty(shape, on: backend)
            try backend.attentionBackward(g, q: storage, k: storage, v: storage, keyLengths: keyLengths?.storage,
                                          output: outputStorage, logSumExp: logSumExp.storage, dOutput: gradient.storage,
                                          dq: dqkv.storage, dk: dqkv.storage, dv: dqkv.storage)
            return [dqkv]
        }
    }

    /// The same attention as `scaledDotProductAttention`, built from differentiable operations:
    /// scores = scale·q·kᵀ (B, H, Nq, Nk), masked keys pushed to −10⁹, softmax, the masked
    /// weights zeroed (so that a query with no visible key outputs 0, as the fused op does),
    /// times v. Holds the whole score matrix: the reference, not the way to run long sequences.
    public func composedAttention(key: Tensor, value: Tensor, keyLengths: Tensor? = nil, causal: Bool = false,
                                  scale: Float? = nil) throws -> Tensor {
        let g = try attentionGeometry("composedAttention", key: key, value: value, keyLengths: keyLengths, causal: causal, scale: scale)
        return try attentionWeights(g, key: key, keyLengths: keyLengths).matmul(value)
    }

    /// The attention weights softmax(scale·q·kᵀ + mask), (B, H, Nq, Nk), for self = query
    /// (B, H, Nq, d) and key (B, H, Nk, d): what each query attends to (attention maps). Masked
    /// keys get weight 0; a query that sees no key gets a zero row. Not recorded for gradients.
    public func attentionProbabilities(key: Tensor, keyLengths: Tensor? = nil, causal: Bool = false, scale: Float? = nil) throws -> Tensor {
        let g = try attentionGeometry("attentionProbabilities", key: key, value: key, keyLengths: keyLengths, causal: causal, scale: scale)
        return try Autograd.noGrad { try attentionWeights(g, key: key, keyLengths: keyLengths) }
    }

    /// softmax(scale·q·kᵀ + mask) ⊙ keep, composed (differentiable).
    private func attentionWeights(_ g: AttentionGeometry, key: Tensor, keyLengths: Tensor?) throws -> Tensor {
        let scores = try matmul(key.transposed()) * g.scale
        guard let keep = try attentionKeepMask(g, keyLengths: keyLengths) else { return try scores.softmax() }
        // keep is 1 for visible keys, 0 for masked ones: −10⁹ on masked scores drives their
        // weights to exactly 0 (in fp32 and fp64), and ⊙ keep zeroes a row that sees no key.
        let masked = try scores + (keep - 1) * 1e9
        return try masked.softmax() * keep
    }

    /// 1 where query i sees key j, else 0, broadcastable to (B, H, Nq, Nk); nil when nothing is masked.
    private func attentionKeepMask(_ g: AttentionGeometry, keyLengths: Tensor?) throws -> Tensor? {
        var keep: Tensor?
        let keyIndex = try Tensor.arange(g.keyLength, on: backend).reshaped([1, 1, 1, g.keyLength])
        if let keyLengths {
            keep = try keyIndex.lt(keyLengths.reshaped([g.batch, 1, 1, 1]))
        }
        if g.causal {
            let queryIndex = try Tensor.arange(g.queryLength, on: backend).reshaped([1, 1, g.queryLength, 1])
            let causalKeep = try keyIndex.le(queryIndex)
            keep = try keep.map { try $0 * causalKeep } ?? causalKeep
        }
        return keep
    }

    /// Checks what both attention entry points take besides q, k and v: key lengths (one per
    /// batch entry, on this backend) and a finite scale; the errors name `op`.
    private func checkAttentionOptions(_ op: String, keyLengths: Tensor?, batch: Int, scale: Float?) throws {
        if let keyLengths {
            try sameBackend(keyLengths, op)
            guard keyLengths.shape == [batch] else {
                throw ScalpelError.shapeMismatch(op: op, detail: "keyLengths \(keyLengths.shape) must be (\(batch)), one length per batch entry")
            }
        }
        if let scale, !scale.isFinite {
            throw ScalpelError.invalidArgument("\(op): scale \(scale) is not finite")
        }
    }

    /// The geometry of an attention call, or a shape error naming `op`.
    private func attentionGeometry(_ op: String, key: Tensor, value: Tensor, keyLengths: Tensor?, causal: Bool,
                                   scale: Float?) throws -> AttentionGeometry {
        try sameBackend(key, op)
        try sameBackend(value, op)
        guard rank == 4 else {
            throw ScalpelError.shapeMismatch(op: op, detail: "query \(shape) must be (batch, heads, queries, head size)")
        }
        let (batch, heads, queries, headSize) = (shape[0], shape[1], shape[2], shape[3])
        guard key.rank == 4, key.shape[0] == batch, key.shape[1] == heads, key.shape[3] == headSize else {
            throw ScalpelError.shapeMismatch(op: op, detail: "key \(key.shape) must be (\(batch), \(heads), keys, \(headSize)) for query \(shape)")
        }
        guard value.shape == key.shape else {
            throw ScalpelError.shapeMismatch(op: op, detail: "value \(value.shape) must have the key's shape \(key.shape)")
        }
        try checkAttentionOptions(op, keyLengths: keyLengths, batch: batch, scale: scale)
        // A head size of 0 has no 1/√d: its scores are all 0 whatever the scale.
        return AttentionGeometry(batch: batch, heads: heads, queryLength: queries, keyLength: key.shape[2], headSize: headSize,
                                 scale: scale ?? (headSize == 0 ? 1 : nil), causal: causal)
    }
}
