import ScalpelCPU
import ScalpelCore
import ScalpelOpenCL
import ScalpelTensor

/// The kernel families `scalpel selftest` reports on; every case of `KernelCases` belongs to one.
public enum KernelFamily: String, CaseIterable, Sendable, Codable, CustomStringConvertible {
    /// GEMM, each kernel variant of a device, and the ops built on it (matmul, linear).
    case gemm
    /// One input or two of one shape: unary functions and their gradients, same-shape binary
    /// ops, fill and axpby.
    case elementwise
    /// Binary ops whose inputs broadcast, and the reductions their gradients need.
    case broadcast
    /// Strided copies: reshape, permute, transpose, slice, concatenate, expand, raw copies.
    case copy
    /// Gather and its gradient scatter-add (indexSelect, embeddings).
    case gather
    /// Sum, mean, variance, max, argmax and sum of squares along axes.
    case reduction
    /// Softmax and log-softmax over rows, forward and backward.
    case softmax
    /// The fused losses: cross-entropy (class weights, label smoothing), BCE with logits, MSE.
    case loss
    /// 2-D convolution forward (every algorithm), backward-data and backward-weight.
    case convolution
    /// Max and average pooling, forward and backward.
    case pooling
    /// Batch normalisation layers in training and evaluation mode (with and without the fused ReLU).
    case batchNorm = "batchnorm"
    /// Layer normalisation over the last dimension, forward and backward.
    case layerNorm = "layernorm"
    /// The fused optimizer updates: SGD (momentum, dampening, Nesterov, weight decay), Adam, AdamW.
    case optimizer
    /// Fused scaled-dot-product attention with causal and padding masks, forward and backward.
    case attention
    /// LSTM and GRU cells and sequences, forward and backward.
    case recurrent
    /// Philox-4x32-10 on the device (the published known answers) and the ops that draw from
    /// it: dropout forward and backward, batch image augmentation.
    case random

    /// The family's raw value ("gemm", "batchnorm" …), as `scalpel selftest` shows it.
    public var description: String { rawValue }
}

/// Named values one case produced on one backend (an output, a gradient, an updated state).
public struct KernelOutput: Sendable {
    /// What the values are ("forward", "d weight", "state1 after 3 steps" …).
    public var name: String
    /// The values, in Double (exact for an fp64 reference, widened from fp32 elsewhere).
    public var values: [Double]

    /// Values named `name`.
    public init(_ name: String, _ values: [Double]) {
        self.name = name
        self.values = values
    }

    /// fp32 values named `name`.
    public init(_ name: String, _ values: [Float]) {
        self.init(name, values.map(Double.init))
    }
}

/// A differentiable operation on tensors: input shapes, the ranges their values are drawn
/// from, and the function (any output shape). Checked forward and backward: the output and the
/// gradient of a fixed weighting of it with respect to every non-constant input.
public struct TensorCase: Sendable {
    /// The shape of each input.
    public var shapes: [[Int]]
    /// Inputs are uniform in [low, high), one range per input.
    public var ranges: [ClosedRange<Float>]
    /// Inputs the body uses as constants (detached): no gradient is expected for them.
    public var constants: Set<Int>
    /// Names of the inputs in reports ("d input", "d weight"): input i is `inputNames[i]`.
    public var inputNames: [String]
    /// The operation.
    public var body: @Sendable ([Tensor]) throws -> Tensor

    /// An operation on inputs of `shapes` (values in [-1, 1] unless `ranges` says otherwise).
    public init(shapes: [[Int]], ranges: [ClosedRange<Float>]? = nil, constants: Set<Int> = [], inputNames: [String]? = nil,
                body: @escaping @Sendable ([Tensor]) throws -> Tensor) {
        self.shapes = shapes
        self.ranges = ranges ?? shapes.map { _ in -1 ... 1 }
        self.constants = constants
        self.inputNames = inputNames ?? shapes.indices.map { "input \($0)" }
        self.body = body
    }

    /// Forward values, the weighted scalar and every input's gradient on one backend.
    public struct Evaluation: Sendable {
        /// The operation's output, flattened.
        public var output: [Double]
        /// Σ w·output with the fixed weights w (what is differentiated).
        public var scalar: Double
        /// Σ |w·output|: the scale of the rounding error in `scalar`.
        public var magnitude: Double
        /// The gradient of `scalar` for each input (zeros for inputs that got none).
        public var gradients: [[Double]]
    }

    /// Seeded input values in the case's ranges, each exact in Float so that every backend
    /// sees the same numbers.
    public func inputs(seed: UInt64) -> [[Double]] {
        var random = SeededRandom(seed: seed)
        return zip(shapes, ranges).map { shape, range in
            (0 ..< shape.reduce(1, *)).map { _ in Double(Float(random.uniform(range.lowerBound, range.upperBound))) }
        }
    }

    /// Runs the operation on `backend` with `inputs`, reduces the output with fixed weights to a
    /// scalar and back-propagates. On an fp64 CPU backend values go in and come out in Double.
    public func evaluate(on backend: any Backend, inputs: [[Double]]) throws -> Evaluation {
        let tensors = try zip(inputs, shapes).map { values, shape in
            try KernelCases.tensor(values, shape, on: backend, requiresGrad: true)
        }
        let out = try body(tensors)
        let weights = (0 ..< out.count).map { Double(($0 * 7919) % 13) / 13 - 0.4 }
        // Flattened before the sum: one reduction (and one gradient copy) whatever the rank.
        let scalar = try (out * KernelCases.tensor(weights, out.shape, on: backend)).reshaped([-1]).sum()
        try scalar.backward()
        let output = try KernelCases.doubles(out)
        return Evaluation(output: output, scalar: try KernelCases.doubles(scalar)[0],
                          magnitude: zip(output, weights).reduce(0) { $0 + Swift.abs($1.0 * $1.1) },
                          gradients: try tensors.map { t in try t.grad.map(KernelCases.doubles) ?? [Double](repeating: 0, count: t.count) })
    }

    /// The evaluation as named outputs: "forward", then "d NAME" for every non-constant input.
    public func outputs(of evaluation: Evaluation) -> [KernelOutput] {
        [KernelOutput("forward", evaluation.output)]
            + evaluation.gradients.indices.filter { !constants.contains($0) }.map { KernelOutput("d \(inputNames[$0])", evaluation.gradients[$0]) }
    }
}

/// One op case of the kernel self-test and of `swift test`: what runs, at which shape, which
/// OpenCL kernels it checks, and how close it must come to the float64 Swift reference.
///
/// Cases live in one table, `KernelCases.all`, one file per family (`ElementwiseCases.swift`,
/// `ConvolutionCases.swift` …). A kernel added later gets a case there, or the test that
/// every `__kernel` of the OpenCL sources is claimed by a case fails.
public struct KernelCase: Sendable, CustomStringConvertible {
    /// How a case computes what is compared.
    public enum Check: Sendable {
        /// A differentiable tensor operation: forward and gradients.
        case tensor(TensorCase)
        /// Direct backend calls that return named outputs (optimizer steps, raw copies…), run on
        /// the backend under test and on the reference.
        case buffers(@Sendable (any Backend) throws -> [KernelOutput])
        /// One GEMM, checked element by element by `GEMMCheck`. With a variant it runs only on
        /// OpenCL devices, with that kernel family; without, only on the CPU-Swift backend.
        case gemm(GEMMCases.Case, variant: GEMMTuning.Variant?)
    }

    /// The family the case reports under.
    public var family: KernelFamily
    /// What runs ("relu", "conv2d direct 3×3 pad 1", "gemm_packed").
    public var name: String
    /// The shapes, as the table prints them.
    public var shape: String
    /// The OpenCL kernels (`__kernel` names) this case checks; each is launched when the case
    /// runs on an OpenCL device. Kernels of the harness itself (the weighting and sum of the
    /// output, gradient seeding) may run too without being listed.
    public var kernels: [String]
    /// Whether the case belongs to the quick subset (the check run when a device is opened).
    public var quick: Bool
    /// The largest error allowed, relative to the largest reference magnitude of each output
    /// (at least 1). GEMM cases use `GEMMCheck`'s own tolerance instead.
    public var tolerance: Double
    /// What is run and compared.
    public var check: Check
    /// Whether the case runs only on the CPU-Swift backend: it checks an algorithm only that
    /// backend has kernels for (it claims no OpenCL kernels).
    public var cpuOnly = false

    /// A case; see `tensor` and `buffers` for the two usual kinds.
    public init(_ family: KernelFamily, _ name: String, shape: String, kernels: [String], quick: Bool = false,
                tolerance: Double = 2e-5, check: Check) {
        self.family = family
        self.name = name
        self.shape = shape
        self.kernels = kernels
        self.quick = quick
        self.tolerance = tolerance
        self.check = check
    }

    /// A differentiable case; `shape` defaults to the input shapes ("2×3×4, 3×1").
    public static func tensor(_ family: KernelFamily, _ name: String, _ shapes: [[Int]], shape: String? = nil,
                              ranges: [ClosedRange<Float>]? = nil, constants: Set<Int> = [], inputNames: [String]? = nil,
                              kernels: [String], quick: Bool = false, tolerance: Double = 2e-5,
                              _ body: @escaping @Sendable ([Tensor]) throws -> Tensor) -> KernelCase {
        KernelCase(family, name, shape: shape ?? shapes.map(KernelCases.shapeText).joined(separator: ", "), kernels: kernels, quick: quick,
                   tolerance: tolerance,
                   check: .tensor(TensorCase(shapes: shapes, ranges: ranges, constants: constants, inputNames: inputNames, body: body)))
    }

    /// A case of direct backend calls.
    public static func buffers(_ family: KernelFamily, _ name: String, shape: String, kernels: [String], quick: Bool = false,
                               tolerance: Double = 2e-5, _ body: @escaping @Sendable (any Backend) throws -> [KernelOutput]) -> KernelCase {
        KernelCase(family, name, shape: shape, kernels: kernels, quick: quick, tolerance: tolerance, check: .buffers(body))
    }

    /// "family name shape".
    public var description: String { "\(family) \(name) \(shape)" }

    /// The seed of the case's input values (from its description, so it is stable).
    public var seed: UInt64 { description.utf8.reduce(5381) { $0 &* 33 &+ UInt64($1) } }

    /// The differentiable operation, for tensor cases.
    public var tensorCase: TensorCase? {
        if case let .tensor(op) = check { return op }
        return nil
    }

    /// Whether the case runs on `backend`: GEMM cases of one kernel variant only on OpenCL
    /// devices, the plain GEMM cases and `cpuOnly` cases only elsewhere, every other case
    /// everywhere.
    public func applies(to backend: any Backend) -> Bool {
        if cpuOnly { return !(backend is OpenCLBackend) }
        guard case let .gemm(_, variant) = check else { return true }
        return (variant != nil) == (backend is OpenCLBackend)
    }
}

/// The one table of op cases, shared by `scalpel selftest`, the check run when a device is
/// opened (`quick`) and `swift test`. Each family's cases are in their own file.
public enum KernelCases {
    /// Every case, family by family.
    public static let all: [KernelCase] = gemm + elementwise + broadcast + copy + gather + reduction + softmax + loss
        + convolution + pooling + batchNorm + layerNorm + optimizer + attention + recurrent + random

    /// The quick subset: a few cases per family.
    public static var quick: [KernelCase] { all.filter(\.quick) }

    /// The cases of `families` (all when nil), quick ones only if `quick`.
    public static func select(quick: Bool, families: Set<KernelFamily>? = nil) -> [KernelCase] {
        all.filter { (!quick || $0.quick) && (families?.contains($0.family) ?? true) }
    }

    /// "2×3×4" ("scalar" for []).
    static func shapeText(_ shape: [Int]) -> String {
        shape.isEmpty ? "scalar" : shape.map(String.init).joined(separator: "×")
    }

    /// A tensor of Double values on `backend` (exact on an fp64 CPU backend, rounded to fp32 elsewhere).
    public static func tensor(_ values: [Double], _ shape: [Int], on backend: any Backend, requiresGrad: Bool = false) throws -> Tensor {
        let t = Tensor(storage: try backend.makeBuffer(count: max(values.count, 1)), shape: shape, backend: backend, requiresGrad: requiresGrad)
        if let cpu = backend as? CPUBackend, cpu.precision == .float64 {
            try cpu.writeDoubles(values, to: t.storage)
        } else {
            try values.map(Float.init).withUnsafeBufferPointer { try backend.write($0, to: t.storage, at: 0) }
        }
        return t
    }

    /// A buffer's first `count` values (all when nil) as Doubles (exact on an fp64 CPU backend).
    public static func doubles(_ buffer: any DeviceBuffer, on backend: any Backend, count: Int? = nil) throws -> [Double] {
        let values: [Double]
        if let cpu = backend as? CPUBackend, cpu.precision == .float64 {
            values = try cpu.readDoubles(buffer)
        } else {
            values = try backend.read(buffer).map(Double.init)
        }
        return Array(values.prefix(count ?? buffer.count))
    }

    /// A tensor's values as Doubles (exact on an fp64 CPU backend).
    public static func doubles(_ t: Tensor) throws -> [Double] {
        if let cpu = t.backend as? CPUBackend, cpu.precision == .float64 {
            return Array(try cpu.readDoubles(t.storage).prefix(t.count))
        }
        return try t.array().map(Double.init)
    }
}
