/// The shape and settings of one fused batch-normalisation call. The input x is viewed as
/// (batch, channels, spatial) — (N, C) has spatial 1, (N, C, L) spatial L, (N, C, H, W) spatial
/// H·W — and statistics are per channel over the batch·spatial values of that channel.
public struct BatchNormGeometry: Sendable, Hashable, CustomStringConvertible {
    /// N.
    public var batch: Int
    /// C: the number of statistics (and of weights and biases).
    public var channels: Int
    /// L: the values per channel per batch entry.
    public var spatial: Int
    /// ε added to the variance under the square root.
    public var epsilon: Float
    /// The weight of the new batch statistics in the running statistics' update (training).
    public var momentum: Float
    /// Whether y is followed by a ReLU fused into the same kernels (y = max(0, ·)).
    public var relu: Bool

    /// A geometry; see the properties.
    public init(batch: Int, channels: Int, spatial: Int, epsilon: Float, momentum: Float, relu: Bool) {
        self.batch = batch
        self.channels = channels
        self.spatial = spatial
        self.epsilon = epsilon
        self.momentum = momentum
        self.relu = relu
    }

    /// N·C·L: the values of x and y.
    public var count: Int { batch * channels * spatial }
    /// N·L: the values each channel's statistics are taken over.
    public var perChannel: Int { batch * spatial }

    /// Throws a `shapeMismatch` naming `op` unless the sizes are non-negative and ε finite.
    public func validate(op: String) throws {
        guard batch >= 0, channels >= 0, spatial >= 0 else {
            throw ScalpelError.shapeMismatch(op: op, detail: "sizes must be non-negative (\(self))")
        }
        guard epsilon.isFinite, momentum.isFinite else {
            throw ScalpelError.invalidArgument("\(op): epsilon \(epsilon) and momentum \(momentum) must be finite")
        }
    }

    /// "N 32 C 64 L 784 relu".
    public var description: String { "N \(batch) C \(channels) L \(spatial)\(relu ? " relu" : "")" }
}

/// The shape of one fused layer-normalisation call: x is (rows, features), each row normalised
/// over its features, then scaled and shifted by per-feature weight and bias.
public struct LayerNormGeometry: Sendable, Hashable, CustomStringConvertible {
    /// Rows (every leading dimension of the input, flattened).
    public var rows: Int
    /// The normalised (last) dimension.
    public var features: Int
    /// ε added to the variance under the square root.
    public var epsilon: Float

    /// A geometry; see the properties.
    public init(rows: Int, features: Int, epsilon: Float) {
        self.rows = rows
        self.features = features
        self.epsilon = epsilon
    }

    /// rows·features.
    public var count: Int { rows * features }

    /// Throws a `shapeMismatch` naming `op` unless the sizes are non-negative and ε finite.
    public func validate(op: String) throws {
        guard rows >= 0, features >= 0 else { throw ScalpelError.shapeMismatch(op: op, detail: "sizes must be non-negative (\(self))") }
        guard epsilon.isFinite else { throw ScalpelError.invalidArgument("\(op): epsilon \(epsilon) must be finite") }
    }

    /// "rows 2240 features 64".
    public var description: String { "rows \(rows) features \(features)" }
}
