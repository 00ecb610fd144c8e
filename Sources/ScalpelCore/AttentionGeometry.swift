/// The shape of one scaled-dot-product attention call. Every buffer is contiguous fp32:
/// q and output (batch, heads, queryLength, headSize); k and v (batch, heads, keyLength,
/// headSize); logSumExp (batch, heads, queryLength); keyLengths (batch).
public struct AttentionGeometry: Sendable, Hashable, Codable {
    public var batch: Int
    public var heads: Int
    public var queryLength: Int
    public var keyLength: Int
    public var headSize: Int
    /// The factor applied to q·kᵀ (usually 1/√headSize).
    public var scale: Float
    /// Masks key j for query i when j > i (top-left aligned, as PyTorch's `is_causal`).
    public var causal: Bool

    public init(batch: Int, heads: Int, queryLength: Int, keyLength: Int, headSize: Int, scale: Float? = nil, causal: Bool = false) {
        self.batch = batch
        self.heads = heads
        self.queryLength = queryLength
        self.keyLength = keyLength
        self.headSize = headSize
        self.scale = scale ?? 1 / Float(headSize).squareRoot()
        self.causal = causal
    }

    /// Elements of q (and of the output).
    public var queryCount: Int { batch * heads * queryLength * headSize }
    /// Elements of k (and of v).
    public var keyCount: Int { batch * heads * keyLength * headSize }
    /// Elements of logSumExp.
    public var rowCount: Int { batch * heads * queryLength }
}
