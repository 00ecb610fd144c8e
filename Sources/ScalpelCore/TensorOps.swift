/// Element-wise functions of one input, y = f(x).
public enum UnaryOp: String, Sendable, CaseIterable, Codable {
    case neg, exp, log, sqrt, abs, relu, sigmoid, tanh, gelu, square, reciprocal

    /// Numeric code shared with the OpenCL kernels (elementwise.cl).
    public var code: Int32 { Int32(UnaryOp.allCases.firstIndex(of: self)!) }
}

/// Element-wise functions of two inputs with broadcasting, out = f(a, b). Comparisons give 1 or 0.
public enum BinaryOp: String, Sendable, CaseIterable, Codable {
    case add, sub, mul, div, maximum, minimum, pow, equal, notEqual, less, lessEqual, greater, greaterEqual

    public var code: Int32 { Int32(BinaryOp.allCases.firstIndex(of: self)!) }
    /// Whether the result is a 0/1 mask (no gradient flows through it).
    public var isComparison: Bool { code >= BinaryOp.equal.code }
}

/// Reductions along one axis of a tensor viewed as (outer, axis, inner).
public enum ReduceOp: String, Sendable, CaseIterable, Codable {
    /// Σ over the axis.
    case sum
    /// max over the axis.
    case max
    /// Index of the first maximum (as a float).
    case argmax
    /// Σ of squares over the axis (for norms).
    case sumOfSquares

    public var code: Int32 { Int32(ReduceOp.allCases.firstIndex(of: self)!) }
}

/// Up to 8 dimensions of a broadcast element-wise operation: the output's shape and, for each
/// input, the stride (in elements) of each output dimension (0 where the input broadcasts).
public struct BroadcastLayout: Sendable, Hashable {
    public static let maxRank = 8
    public var shape: [Int]
    public var stridesA: [Int]
    public var stridesB: [Int]

    public var count: Int { shape.reduce(1, *) }

    /// Whether both inputs are laid out exactly like the output (no broadcasting).
    public var isElementwise: Bool {
        let dense = BroadcastLayout.contiguousStrides(shape)
        return stridesA == dense && stridesB == dense
    }

    /// The layout of a ⊕ b under NumPy broadcasting rules, or a `shapeMismatch` error.
    public init(_ a: [Int], _ b: [Int], op: String) throws {
        let rank = Swift.max(a.count, b.count)
        guard rank <= BroadcastLayout.maxRank else {
            throw ScalpelError.shapeMismatch(op: op, detail: "rank \(rank) exceeds \(BroadcastLayout.maxRank)")
        }
        let pa = [Int](repeating: 1, count: rank - a.count) + a
        let pb = [Int](repeating: 1, count: rank - b.count) + b
        var shape: [Int] = []
        for d in 0 ..< rank {
            guard pa[d] == pb[d] || pa[d] == 1 || pb[d] == 1 else {
                throw ScalpelError.shapeMismatch(op: op, detail: "shapes \(a) and \(b) do not broadcast (dimension \(d): \(pa[d]) vs \(pb[d]))")
            }
            shape.append(pa[d] == 1 ? pb[d] : pa[d])
        }
        let sa = BroadcastLayout.contiguousStrides(pa), sb = BroadcastLayout.contiguousStrides(pb)
        self.shape = shape
        stridesA = (0 ..< rank).map { pa[$0] == 1 && shape[$0] != 1 ? 0 : sa[$0] }
        stridesB = (0 ..< rank).map { pb[$0] == 1 && shape[$0] != 1 ? 0 : sb[$0] }
    }

    /// Row-major strides of `shape`.
    public static func contiguousStrides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var running = 1
        for d in shape.indices.reversed() {
            strides[d] = running
            running *= shape[d]
        }
        return strides
    }
}

/// A strided copy of up to 8 dimensions: dst[dstOffset + Σ i_d·dstStrides_d] =
/// src[srcOffset + Σ i_d·srcStrides_d] for every index i of `shape`. Serves permute, slice,
/// concatenate and expand.
public struct StridedCopy: Sendable, Hashable {
    public var shape: [Int]
    public var srcOffset: Int
    public var srcStrides: [Int]
    public var dstOffset: Int
    public var dstStrides: [Int]

    public init(shape: [Int], srcOffset: Int = 0, srcStrides: [Int], dstOffset: Int = 0, dstStrides: [Int]) {
        self.shape = shape
        self.srcOffset = srcOffset
        self.srcStrides = srcStrides
        self.dstOffset = dstOffset
        self.dstStrides = dstStrides
    }

    public var count: Int { shape.reduce(1, *) }

    /// The largest element index read and written, plus one (0 when empty).
    public var srcExtent: Int { extent(srcOffset, srcStrides) }
    public var dstExtent: Int { extent(dstOffset, dstStrides) }

    private func extent(_ offset: Int, _ strides: [Int]) -> Int {
        if count == 0 { return 0 }
        return offset + zip(shape, strides).map { ($0 - 1) * $1 }.reduce(0, +) + 1
    }
}

/// Settings of one optimizer update, applied element-wise to a parameter.
public struct OptimizerStep: Sendable, Hashable {
    public enum Kind: Int32, Sendable { case sgd = 0, adam = 1 }
    public var kind: Kind
    public var learningRate: Float
    /// SGD momentum (0: none) or Adam β1.
    public var beta1: Float
    /// Adam β2.
    public var beta2: Float
    public var epsilon: Float
    public var weightDecay: Float
    /// AdamW: weight decay applied to the parameter directly instead of through the gradient.
    public var decoupledWeightDecay: Bool
    /// SGD: Nesterov momentum.
    public var nesterov: Bool
    /// SGD: dampening of the momentum buffer's gradient term.
    public var dampening: Float
    /// 1-based step count (Adam bias correction; SGD: the first step initialises momentum).
    public var step: Int

    public init(kind: Kind, learningRate: Float, beta1: Float = 0, beta2: Float = 0, epsilon: Float = 0, weightDecay: Float = 0,
                decoupledWeightDecay: Bool = false, nesterov: Bool = false, dampening: Float = 0, step: Int) {
        self.kind = kind
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.decoupledWeightDecay = decoupledWeightDecay
        self.nesterov = nesterov
        self.dampening = dampening
        self.step = step
    }
}

/// Cross-entropy and BCE settings for the fused loss kernels.
public struct LossSettings: Sendable, Hashable {
    /// Cross-entropy: probability mass spread uniformly over the classes (PyTorch's label_smoothing).
    public var labelSmoothing: Float = 0
    public init(labelSmoothing: Float = 0) { self.labelSmoothing = labelSmoothing }
}
