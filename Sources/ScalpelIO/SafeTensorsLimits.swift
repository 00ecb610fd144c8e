// Bounds checked before anything a header announces is allocated, so a hostile or corrupt
// file costs at most a clear error.

/// Upper bounds a header must respect before the reader trusts it.
public struct SafeTensorsLimits: Sendable, Equatable {
    /// The largest accepted header, in bytes. The reference reader stops at 100 MB.
    public var maxHeaderBytes: Int
    /// The most dimensions a tensor shape may have.
    public var maxDimensions: Int
    /// The most elements one tensor may have.
    public var maxElements: Int
    /// How deeply JSON arrays and objects may nest; a valid header needs 3 levels, and the
    /// bound keeps the recursive parser's stack small on adversarial input.
    public var maxJSONDepth: Int

    /// Creates limits; every argument defaults to the value in `default`.
    public init(
        maxHeaderBytes: Int = 100 * 1024 * 1024,
        maxDimensions: Int = 16,
        maxElements: Int = 1 << 34,
        maxJSONDepth: Int = 16
    ) {
        self.maxHeaderBytes = maxHeaderBytes
        self.maxDimensions = maxDimensions
        self.maxElements = maxElements
        self.maxJSONDepth = maxJSONDepth
    }

    /// 100 MiB of header, 16 dimensions, 2³⁴ elements per tensor, JSON nested 16 deep.
    public static let `default` = SafeTensorsLimits()
}
