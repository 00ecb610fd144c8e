/// The shape of one scaled-dot-product attention call. Unless `layout` says otherwise every
/// buffer is contiguous fp32: q and output (batch, heads, queryLength, headSize); k and v
/// (batch, heads, keyLength, headSize). logSumExp (batch, heads, queryLength) and keyLengths
/// (batch) are always contiguous.
public struct AttentionGeometry: Sendable, Hashable, Codable {
    /// Batch entries.
    public var batch: Int
    /// Attention heads per batch entry.
    public var heads: Int
    /// Query positions per (batch entry, head): the rows of q and of the output.
    public var queryLength: Int
    /// Key positions per (batch entry, head): the rows of k and of v.
    public var keyLength: Int
    /// Floats in each row of q, k, v and the output (the per-head dimension).
    public var headSize: Int
    /// The factor applied to q·kᵀ (usually 1/√headSize).
    public var scale: Float
    /// Masks key j for query i when j > i (top-left aligned, as PyTorch's `is_causal`).
    public var causal: Bool
    /// Where the rows of q, k, v and the output (and of their gradients) lie; nil: contiguous
    /// (batch, heads, rows, headSize). Optional so that a geometry encoded without it decodes
    /// as before.
    public var layout: AttentionLayout?

    /// A geometry whose `scale` defaults to 1/√headSize, without a causal mask and, with a nil
    /// `layout`, with every operand contiguous.
    public init(batch: Int, heads: Int, queryLength: Int, keyLength: Int, headSize: Int, scale: Float? = nil, causal: Bool = false,
                layout: AttentionLayout? = nil) {
        self.batch = batch
        self.heads = heads
        self.queryLength = queryLength
        self.keyLength = keyLength
        self.headSize = headSize
        self.scale = scale ?? 1 / Float(headSize).squareRoot()
        self.causal = causal
        self.layout = layout
    }

    /// Elements of q (and of the output).
    public var queryCount: Int { batch * heads * queryLength * headSize }
    /// Elements of k (and of v).
    public var keyCount: Int { batch * heads * keyLength * headSize }
    /// Elements of logSumExp.
    public var rowCount: Int { batch * heads * queryLength }

    /// The layout in force: `layout`, or the contiguous one.
    public var rows: AttentionLayout { layout ?? .contiguous(self) }
    /// Whether every operand is contiguous (batch, heads, rows, headSize).
    public var isContiguous: Bool { rows == .contiguous(self) }

    /// Elements a buffer must hold for q (and dq) under the layout in force.
    public var queryExtent: Int { rows.query.extent(batch: batch, heads: heads, rows: queryLength, width: headSize) }
    /// Elements a buffer must hold for k (and dk).
    public var keyExtent: Int { rows.key.extent(batch: batch, heads: heads, rows: keyLength, width: headSize) }
    /// Elements a buffer must hold for v (and dv).
    public var valueExtent: Int { rows.value.extent(batch: batch, heads: heads, rows: keyLength, width: headSize) }
    /// Elements a buffer must hold for the output (and its gradient).
    public var outputExtent: Int { rows.output.extent(batch: batch, heads: heads, rows: queryLength, width: headSize) }
}

/// Where the rows of one attention operand lie in its buffer: row i of batch entry b, head h
/// starts at offset + b·batchStride + h·headStride + i·rowStride, and its headSize floats are
/// adjacent. Lets attention read q, k, v where an input projection wrote them, e.g. from one
/// (N, L, 3·d) buffer, and write its output as (N, L, heads, headSize).
public struct AttentionRows: Sendable, Hashable, Codable {
    /// The first element of row 0 of batch entry 0, head 0.
    public var offset: Int
    /// Elements from one batch entry's rows to the next's.
    public var batchStride: Int
    /// Elements from one head's rows to the next's.
    public var headStride: Int
    /// Elements from one row (query or key) to the next.
    public var rowStride: Int

    /// Rows at the given offset and strides (elements).
    public init(offset: Int = 0, batchStride: Int, headStride: Int, rowStride: Int) {
        (self.offset, self.batchStride, self.headStride, self.rowStride) = (offset, batchStride, headStride, rowStride)
    }

    /// Contiguous (batch, heads, rows, width).
    public static func contiguous(heads: Int, rows: Int, width: Int) -> AttentionRows {
        AttentionRows(batchStride: heads * rows * width, headStride: rows * width, rowStride: width)
    }

    /// The first element of row `row` of (batch, head).
    @inline(__always)
    public func start(batch b: Int, head h: Int, row: Int) -> Int { offset + b * batchStride + h * headStride + row * rowStride }

    /// The first element of row 0 of the pair bh = batch·heads + head.
    @inline(__always)
    public func start(pair: Int, heads: Int) -> Int { offset + pair / heads * batchStride + pair % heads * headStride }

    /// One past the last element addressed by rows of `width` floats (0 when there are none).
    public func extent(batch: Int, heads: Int, rows: Int, width: Int) -> Int {
        guard batch > 0, heads > 0, rows > 0, width > 0 else { return 0 }
        return offset + (batch - 1) * batchStride + (heads - 1) * headStride + (rows - 1) * rowStride + width
    }

    /// Whether the strides are non-negative and no two rows of `width` floats overlap.
    public func isValid(batch: Int, heads: Int, rows: Int, width: Int) -> Bool {
        guard offset >= 0, batchStride >= 0, headStride >= 0, rowStride >= 0 else { return false }
        // Rows are disjoint when the strides, ordered, each step past everything the smaller
        // ones span (ignoring axes of size ≤ 1, which take no step).
        var axes = [(batchStride, batch), (headStride, heads), (rowStride, rows)].filter { $0.1 > 1 }
        axes.sort { $0.0 < $1.0 }
        var span = width
        for (stride, count) in axes {
            guard stride >= span else { return false }
            span = stride * (count - 1) + span
        }
        return true
    }
}

/// The rows of every attention operand. A gradient takes the layout of the tensor it belongs to:
/// dq that of q, dk of k, dv of v, dOutput of the output.
public struct AttentionLayout: Sendable, Hashable, Codable {
    /// The rows of q (and dq): queryLength per (batch, head).
    public var query: AttentionRows
    /// The rows of k (and dk): keyLength per (batch, head).
    public var key: AttentionRows
    /// The rows of v (and dv): keyLength per (batch, head).
    public var value: AttentionRows
    /// The rows of the output (and of its gradient): queryLength per (batch, head).
    public var output: AttentionRows

    /// Rows as given.
    public init(query: AttentionRows, key: AttentionRows, value: AttentionRows, output: AttentionRows) {
        (self.query, self.key, self.value, self.output) = (query, key, value, output)
    }

    /// Every operand contiguous (batch, heads, rows, headSize): the layout without one.
    public static func contiguous(_ g: AttentionGeometry) -> AttentionLayout {
        let queries = AttentionRows.contiguous(heads: g.heads, rows: g.queryLength, width: g.headSize)
        let keys = AttentionRows.contiguous(heads: g.heads, rows: g.keyLength, width: g.headSize)
        return AttentionLayout(query: queries, key: keys, value: keys, output: queries)
    }

    /// Self-attention on a fused projection: q, k, v are the three thirds of each row of one
    /// (batch, length, 3·heads·headSize) buffer (head h of q at columns h·headSize, of k at
    /// d + h·headSize, of v at 2·d + h·headSize, d = heads·headSize); the output, and its
    /// gradient, (batch, length, heads, headSize): (batch, length, d) with no permute.
    public static func packedSelfAttention(heads: Int, length: Int, headSize: Int) -> AttentionLayout {
        let d = heads * headSize
        func third(_ index: Int) -> AttentionRows {
            AttentionRows(offset: index * d, batchStride: length * 3 * d, headStride: headSize, rowStride: 3 * d)
        }
        return AttentionLayout(query: third(0), key: third(1), value: third(2),
                               output: AttentionRows(batchStride: length * d, headStride: headSize, rowStride: d))
    }
}
