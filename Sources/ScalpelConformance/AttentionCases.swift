import ScalpelCore
import ScalpelTensor

/// One attention problem of the table: shapes, masks and scale.
public struct AttentionCase: Sendable, CustomStringConvertible {
    /// Batch entries (B).
    public var batch: Int
    /// Heads per entry (H).
    public var heads: Int
    /// Queries per head (Nq).
    public var queries: Int
    /// Keys (and values) per head (Nk).
    public var keys: Int
    /// Floats per query, key and value (d).
    public var headSize: Int
    /// Whether query i attends only to keys j ≤ i.
    public var causal: Bool
    /// Keys each batch entry attends to (nil: all); 0 leaves its queries no key at all.
    public var lengths: [Int]?
    /// The factor on q·kᵀ (nil: 1/√d).
    public var scale: Float?
    /// Whether the case belongs to the quick subset.
    public var quick: Bool

    /// A case of the given sizes and masks (not quick unless said).
    public init(batch: Int, heads: Int, queries: Int, keys: Int, headSize: Int, causal: Bool = false, lengths: [Int]? = nil,
                scale: Float? = nil, quick: Bool = false) {
        (self.batch, self.heads, self.queries, self.keys, self.headSize) = (batch, heads, queries, keys, headSize)
        (self.causal, self.lengths, self.scale, self.quick) = (causal, lengths, scale, quick)
    }

    /// The case as its self-test cases name their shape: "B… H… Nq… Nk… d…", then "causal", the
    /// lengths and the scale where set.
    public var description: String {
        "B\(batch) H\(heads) Nq\(queries) Nk\(keys) d\(headSize)" + (causal ? " causal" : "")
            + (lengths.map { " lengths \($0)" } ?? "") + (scale.map { " scale \($0)" } ?? "")
    }

    /// (batch, heads, queries, head size).
    public var queryShape: [Int] { [batch, heads, queries, headSize] }
    /// (batch, heads, keys, head size), for keys and values.
    public var keyShape: [Int] { [batch, heads, keys, headSize] }

    /// q, k, v as Double values (exact in fp32), uniform in [−1.5, 1.5).
    public func inputs(seed: UInt64 = 11) -> [[Double]] {
        var random = SeededRandom(seed: seed &+ UInt64(queries * 131 + keys * 17 + headSize))
        return [queryShape, keyShape, keyShape].map { shape in
            (0 ..< shape.reduce(1, *)).map { _ in Double(Float(random.uniform(-1.5, 1.5))) }
        }
    }

    /// The fused op on q, k, v with this case's masks and scale.
    public func attention(_ q: Tensor, _ k: Tensor, _ v: Tensor) throws -> Tensor {
        let keyLengths = try lengths.map { try Tensor($0.map(Float.init), shape: [batch], on: q.backend) }
        return try q.scaledDotProductAttention(key: k, value: v, keyLengths: keyLengths, causal: causal, scale: scale)
    }

    /// (batch, queries, 3·heads·headSize): the fused projection a packed case reads (queries = keys).
    public var packedShape: [Int] { [batch, queries, 3 * heads * headSize] }

    /// `Tensor.selfAttention` on qkv (batch, queries, 3·heads·headSize) with this case's masks
    /// and scale: q, k and v read in place, the output (batch, queries, heads·headSize).
    public func selfAttention(_ qkv: Tensor) throws -> Tensor {
        let keyLengths = try lengths.map { try Tensor($0.map(Float.init), shape: [batch], on: qkv.backend) }
        return try qkv.selfAttention(heads: heads, keyLengths: keyLengths, causal: causal, scale: scale)
    }

    /// What `selfAttention` replaces: reshape qkv to (batch, L, 3, heads, headSize), permute to
    /// (3, batch, heads, L, headSize), slice q, k, v, the fused op on contiguous operands, and
    /// permute the output back to (batch, L, heads·headSize).
    public func composedSelfAttention(_ qkv: Tensor) throws -> Tensor {
        let (n, length) = (batch, queries)
        let split = try qkv.reshaped([n, length, 3, heads, headSize]).permuted([2, 0, 3, 1, 4])
        let parts = try (0 ..< 3).map { try split.slice(axis: 0, $0 ..< $0 + 1).reshaped([n, heads, length, headSize]) }
        return try attention(parts[0], parts[1], parts[2]).permuted([0, 2, 1, 3]).reshaped([n, length, heads * headSize])
    }

    /// Self-attention cases (queries = keys) for `selfAttention`, whose rows are strided views of
    /// one buffer: odd head sizes put a head's columns off the vector alignment (5, 33), lengths
    /// straddle the kernels' blocks (31–33, 65, 129), and ECG5000's transformer shape (140 steps,
    /// 4 heads of 16) is there.
    public static let packed: [AttentionCase] = [
        AttentionCase(batch: 2, heads: 2, queries: 33, keys: 33, headSize: 8, causal: true, lengths: [33, 20], quick: true),
        AttentionCase(batch: 3, heads: 3, queries: 7, keys: 7, headSize: 5, lengths: [1, 0, 6], quick: true),
        AttentionCase(batch: 2, heads: 4, queries: 65, keys: 65, headSize: 16),
        AttentionCase(batch: 1, heads: 2, queries: 129, keys: 129, headSize: 32, causal: true, lengths: [100]),
        AttentionCase(batch: 2, heads: 1, queries: 31, keys: 31, headSize: 33, lengths: [31, 9], scale: 0.3),
        AttentionCase(batch: 2, heads: 4, queries: 140, keys: 140, headSize: 16, causal: true),
    ]

    /// One query; lengths 1 and 0 (a batch entry that sees one key, or none) and beyond the keys (all of them);
    /// sizes on both sides of the kernels' query and key blocks (32 or 64 queries, 32 or 64
    /// keys per tile: 31–33, 63–65, 129); head sizes in every program class (8, 16, 32, 64,
    /// 128, and 160 in the class of 192) and odd ones (5, 33); causal with Nq > Nk and Nq < Nk.
    public static let all: [AttentionCase] = [
        AttentionCase(batch: 2, heads: 2, queries: 33, keys: 65, headSize: 8, causal: true, lengths: [65, 20], quick: true),
        AttentionCase(batch: 3, heads: 2, queries: 7, keys: 33, headSize: 8, lengths: [1, 0, 20], quick: true),
        AttentionCase(batch: 1, heads: 1, queries: 1, keys: 2, headSize: 8),
        AttentionCase(batch: 2, heads: 2, queries: 7, keys: 7, headSize: 8),
        AttentionCase(batch: 1, heads: 2, queries: 33, keys: 33, headSize: 32, causal: true),
        AttentionCase(batch: 2, heads: 1, queries: 33, keys: 129, headSize: 32, lengths: [200, 50]),
        AttentionCase(batch: 1, heads: 1, queries: 129, keys: 129, headSize: 64, causal: true, lengths: [100]),
        AttentionCase(batch: 1, heads: 2, queries: 129, keys: 7, headSize: 5, causal: true),
        AttentionCase(batch: 2, heads: 1, queries: 7, keys: 129, headSize: 33, causal: true, lengths: [3, 0], scale: 0.3),
        AttentionCase(batch: 1, heads: 1, queries: 33, keys: 65, headSize: 128),
        AttentionCase(batch: 2, heads: 1, queries: 65, keys: 63, headSize: 16, causal: true, lengths: [64, 31]),
        AttentionCase(batch: 1, heads: 1, queries: 31, keys: 64, headSize: 160, causal: true, lengths: [33]),
    ]
}

extension KernelCases {
    /// Fused attention forward and backward (dq, dk, dv) with causal and padding masks, at
    /// every `AttentionCase`.
    /// Then self-attention reading q, k, v in place from one (B, L, 3·d) buffer at every
    /// `AttentionCase.packed` (strided rows; dq, dk, dv written into one gradient).
    public static let attention: [KernelCase] = AttentionCase.all.map { c in
        KernelCase.tensor(.attention, "attention" + (c.causal ? " causal" : "") + (c.lengths == nil ? "" : " padded"),
                          [c.queryShape, c.keyShape, c.keyShape], shape: c.description, ranges: [-1.5 ... 1.5, -1.5 ... 1.5, -1.5 ... 1.5],
                          inputNames: ["q", "k", "v"], kernels: attentionKernels, quick: c.quick) { x in
            try c.attention(x[0], x[1], x[2])
        }
    } + AttentionCase.packed.map { c in
        KernelCase.tensor(.attention, "self-attention qkv" + (c.causal ? " causal" : "") + (c.lengths == nil ? "" : " padded"),
                          [c.packedShape], shape: c.description, ranges: [-1.5 ... 1.5], inputNames: ["qkv"], kernels: attentionKernels,
                          quick: c.quick) { x in
            try c.selfAttention(x[0])
        }
    }

    /// attention.cl's kernels: each case launches all four.
    private static let attentionKernels = ["attention_forward", "attention_backward_delta", "attention_backward_dkdv", "attention_backward_dq"]
}
