/// Element-wise functions of one input, y = f(x).
public enum UnaryOp: String, Sendable, CaseIterable, Codable, KernelOpCode {
    case neg, exp, log, sqrt, abs, relu, sigmoid, tanh, gelu, square, reciprocal

    /// Numeric code shared with the kernels: the OpenCL C sees it as `UNARY_<NAME>` (see
    /// `KernelOpCodes`). Explicit, so that adding a case cannot renumber the others.
    public var code: Int32 {
        switch self {
        case .neg: 0
        case .exp: 1
        case .log: 2
        case .sqrt: 3
        case .abs: 4
        case .relu: 5
        case .sigmoid: 6
        case .tanh: 7
        case .gelu: 8
        case .square: 9
        case .reciprocal: 10
        }
    }

    /// The prefix of the kernels' names for these codes (`UNARY_RELU`, …).
    public static let kernelPrefix = "UNARY"
}

/// Element-wise functions of two inputs with broadcasting, out = f(a, b). Comparisons give 1 or 0.
public enum BinaryOp: String, Sendable, CaseIterable, Codable, KernelOpCode {
    case add, sub, mul, div, maximum, minimum, pow, equal, notEqual, less, lessEqual, greater, greaterEqual

    /// Numeric code shared with the kernels (`BINARY_<NAME>` in OpenCL C). The CPU kernels rely
    /// on add, sub, mul, div being 0–3.
    public var code: Int32 {
        switch self {
        case .add: 0
        case .sub: 1
        case .mul: 2
        case .div: 3
        case .maximum: 4
        case .minimum: 5
        case .pow: 6
        case .equal: 7
        case .notEqual: 8
        case .less: 9
        case .lessEqual: 10
        case .greater: 11
        case .greaterEqual: 12
        }
    }

    /// The prefix of the kernels' names for these codes (`BINARY_ADD`, …).
    public static let kernelPrefix = "BINARY"

    /// Whether the result is a 0/1 mask (no gradient flows through it).
    public var isComparison: Bool {
        switch self {
        case .equal, .notEqual, .less, .lessEqual, .greater, .greaterEqual: true
        default: false
        }
    }
}

/// Reductions along one axis of a tensor viewed as (outer, axis, inner).
public enum ReduceOp: String, Sendable, CaseIterable, Codable, KernelOpCode {
    /// Σ over the axis.
    case sum
    /// max over the axis.
    case max
    /// Index of the first maximum (as a float).
    case argmax
    /// Σ of squares over the axis (for norms).
    case sumOfSquares

    /// Numeric code shared with the kernels (`REDUCE_<NAME>` in OpenCL C).
    public var code: Int32 {
        switch self {
        case .sum: 0
        case .max: 1
        case .argmax: 2
        case .sumOfSquares: 3
        }
    }

    /// The prefix of the kernels' names for these codes (`REDUCE_SUM`, …).
    public static let kernelPrefix = "REDUCE"
}

/// An operation code passed to a kernel as an integer argument. The Swift enum is the one
/// place the numbers are written: the OpenCL C sees them as `#define`s generated from it
/// (`KernelOpCodes.definitions`), never as literals of its own.
public protocol KernelOpCode: CaseIterable, RawRepresentable where RawValue == String {
    /// The number the kernels switch on.
    var code: Int32 { get }
    /// The prefix of the kernels' names for the codes (`UNARY` gives `UNARY_RELU`).
    static var kernelPrefix: String { get }
}

extension KernelOpCode {
    /// The kernels' name for this code: the prefix and the case name in capitals with
    /// underscores (`BINARY_GREATER_EQUAL`).
    public var kernelName: String {
        var name = ""
        for character in rawValue {
            if character.isUppercase { name += "_" }
            name += character.uppercased()
        }
        return "\(Self.kernelPrefix)_\(name)"
    }
}

/// The op codes as OpenCL C `#define`s, prepended to every kernel source.
public enum KernelOpCodes {
    /// `#define UNARY_NEG 0` … for every code of every kind.
    public static var definitions: String {
        func lines<T: KernelOpCode>(_ type: T.Type) -> [String] { T.allCases.map { "#define \($0.kernelName) \($0.code)" } }
        return (lines(UnaryOp.self) + lines(BinaryOp.self) + lines(ReduceOp.self)).joined(separator: "\n") + "\n"
    }
}

/// Up to 8 dimensions of a broadcast element-wise operation: the output's shape and, for each
/// input, the stride (in elements) of each output dimension (0 where the input broadcasts).
public struct BroadcastLayout: Sendable, Hashable {
    /// The most dimensions a broadcast may have; a higher rank is a `shapeMismatch` error.
    public static let maxRank = 8
    /// The output's shape: the broadcast of both inputs' shapes.
    public var shape: [Int]
    /// The stride, in elements, of input a along each output dimension (0 where it broadcasts).
    public var stridesA: [Int]
    /// The stride, in elements, of input b along each output dimension (0 where it broadcasts).
    public var stridesB: [Int]

    /// The number of output elements.
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
    /// The size of each dimension of the region copied.
    public var shape: [Int]
    /// The source element that index (0, …, 0) reads.
    public var srcOffset: Int
    /// The source's stride, in elements, along each dimension of `shape`.
    public var srcStrides: [Int]
    /// The destination element that index (0, …, 0) writes.
    public var dstOffset: Int
    /// The destination's stride, in elements, along each dimension of `shape`.
    public var dstStrides: [Int]

    /// A copy of the region `shape` with the given offsets (default 0) and strides.
    public init(shape: [Int], srcOffset: Int = 0, srcStrides: [Int], dstOffset: Int = 0, dstStrides: [Int]) {
        self.shape = shape
        self.srcOffset = srcOffset
        self.srcStrides = srcStrides
        self.dstOffset = dstOffset
        self.dstStrides = dstStrides
    }

    /// The number of elements copied.
    public var count: Int { shape.reduce(1, *) }

    /// The largest element index read and written, plus one (0 when empty).
    public var srcExtent: Int { extent(srcOffset, srcStrides) }
    /// The largest element index written, plus one (0 when empty).
    public var dstExtent: Int { extent(dstOffset, dstStrides) }

    private func extent(_ offset: Int, _ strides: [Int]) -> Int {
        if count == 0 { return 0 }
        return offset + zip(shape, strides).map { ($0 - 1) * $1 }.reduce(0, +) + 1
    }
}

/// Settings of one optimizer update, applied element-wise to a parameter.
public struct OptimizerStep: Sendable, Hashable {
    /// The update rule: SGD (with optional momentum) or Adam/AdamW.
    public enum Kind: Int32, Sendable { case sgd = 0, adam = 1 }
    /// Which update rule runs.
    public var kind: Kind
    /// The learning rate, lr.
    public var learningRate: Float
    /// SGD momentum (0: none) or Adam β1.
    public var beta1: Float
    /// Adam β2.
    public var beta2: Float
    /// Adam ε, added to the denominator: √v̂ + ε.
    public var epsilon: Float
    /// L2 weight decay λ, added to the gradient as λ·parameter (Adam with
    /// `decoupledWeightDecay` scales the parameter by 1 − lr·λ instead).
    public var weightDecay: Float
    /// AdamW: weight decay applied to the parameter directly instead of through the gradient.
    public var decoupledWeightDecay: Bool
    /// SGD: Nesterov momentum.
    public var nesterov: Bool
    /// SGD: dampening of the momentum buffer's gradient term.
    public var dampening: Float
    /// 1-based step count (Adam bias correction; SGD: the first step initialises momentum).
    public var step: Int

    /// An update of `kind`; settings the rule does not use may keep their defaults.
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
    /// Settings with `labelSmoothing` (default 0: none).
    public init(labelSmoothing: Float = 0) { self.labelSmoothing = labelSmoothing }
}
