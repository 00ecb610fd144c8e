import Foundation
import Scalpel
import ScalpelCPU
import ScalpelCore
import ScalpelNN
import ScalpelOpenCL
import ScalpelTensor
import Testing

/// A differentiable operation under test: input shapes, how to make valid inputs, and the
/// function of the inputs (any shapes out).
struct OpCase: Sendable, CustomStringConvertible {
    var name: String
    var shapes: [[Int]]
    /// Inputs are uniform in [low, high), one range per input.
    var ranges: [(Float, Float)]
    var body: @Sendable ([Tensor]) throws -> Tensor
    /// Inputs the body uses as constants (detached): no gradient is expected for them.
    var constants: Set<Int>
    var description: String { name }

    init(_ name: String, _ shapes: [[Int]], ranges: [(Float, Float)]? = nil, constants: Set<Int> = [],
         _ body: @escaping @Sendable ([Tensor]) throws -> Tensor) {
        self.name = name
        self.constants = constants
        self.shapes = shapes
        self.ranges = ranges ?? shapes.map { _ in (-1, 1) }
        self.body = body
    }

    static let labels: [Int32] = [2, 0, 1, 2, 1]

    static let all: [OpCase] = [
        OpCase("neg", [[3, 4]]) { try $0[0].neg() },
        OpCase("exp", [[3, 4]]) { try $0[0].exp() },
        OpCase("log", [[3, 4]], ranges: [(0.5, 2)]) { try $0[0].log() },
        OpCase("sqrt", [[3, 4]], ranges: [(0.5, 2)]) { try $0[0].sqrt() },
        OpCase("abs", [[3, 4]]) { try $0[0].abs() },
        OpCase("relu", [[3, 4]]) { try $0[0].relu() },
        OpCase("sigmoid", [[3, 4]], ranges: [(-4, 4)]) { try $0[0].sigmoid() },
        OpCase("tanh", [[3, 4]], ranges: [(-2, 2)]) { try $0[0].tanh() },
        OpCase("gelu", [[3, 4]], ranges: [(-3, 3)]) { try $0[0].gelu() },
        OpCase("square", [[3, 4]]) { try $0[0].square() },
        OpCase("reciprocal", [[3, 4]], ranges: [(0.5, 2)]) { try $0[0].reciprocal() },
        OpCase("add broadcast", [[2, 3, 4], [3, 1]]) { try $0[0] + $0[1] },
        OpCase("sub broadcast", [[4], [2, 3, 4]]) { try $0[0] - $0[1] },
        OpCase("mul broadcast", [[2, 1, 4], [1, 3, 1]]) { try $0[0] * $0[1] },
        OpCase("div", [[3, 4], [3, 4]], ranges: [(-1, 1), (0.5, 2)]) { try $0[0] / $0[1] },
        OpCase("maximum", [[3, 4], [3, 4]]) { try $0[0].maximum($0[1]) },
        OpCase("minimum", [[3, 4], [4]]) { try $0[0].minimum($0[1]) },
        OpCase("pow", [[3, 4], [3, 4]], ranges: [(0.5, 2), (-1.5, 1.5)]) { try $0[0].pow($0[1]) },
        OpCase("scalar ops", [[3, 4]]) { try (2 - $0[0] * 3 + 1) / 4 },
        OpCase("sum all", [[3, 4, 2]]) { try $0[0].sum() },
        OpCase("sum axes", [[3, 4, 2]]) { try $0[0].sum(axes: [0, 2]) },
        OpCase("mean keepDims", [[3, 4, 2]]) { try $0[0].mean(axes: [1], keepDims: true) },
        OpCase("variance", [[5, 3]]) { try $0[0].variance(axes: [0]) },
        OpCase("max axis", [[3, 5]]) { try $0[0].max(axis: 1) },
        OpCase("reshape", [[3, 4]]) { try $0[0].reshaped([2, -1]) * $0[0].reshaped([2, 6]) },
        OpCase("permute", [[2, 3, 4]]) { try $0[0].permuted([2, 0, 1]) },
        OpCase("transpose", [[3, 4]]) { try $0[0].transposed() },
        OpCase("slice", [[5, 4]]) { try $0[0].slice(axis: 0, 1 ..< 4) },
        OpCase("concatenate", [[2, 3], [4, 3]]) { try Tensor.concatenate([$0[0], $0[1]], axis: 0) },
        OpCase("expand", [[3, 1]]) { try $0[0].expanded(to: [2, 3, 4]) },
        OpCase("indexSelect", [[4, 3]]) { x in try x[0].indexSelect(axis: 0, try Tensor([3, 0, 3, 1], shape: [4], on: x[0].backend)) },
        OpCase("softmax", [[3, 5]], ranges: [(-3, 3)]) { try $0[0].softmax() },
        OpCase("logSoftmax", [[3, 5]], ranges: [(-3, 3)]) { try $0[0].logSoftmax() },
        OpCase("matmul", [[3, 4], [4, 5]]) { try $0[0].matmul($0[1]) },
        OpCase("batched matmul", [[2, 3, 4], [2, 4, 5]]) { try $0[0].matmul($0[1]) },
        OpCase("shared-weight matmul", [[2, 3, 4], [4, 5]]) { try $0[0].matmul($0[1]) },
        OpCase("linear", [[5, 4], [3, 4], [3]]) { try $0[0].linear(weight: $0[1], bias: $0[2]) },
        OpCase("crossEntropy", [[5, 3]], ranges: [(-2, 2)]) { x in
            try x[0].crossEntropy(labels: try Tensor(labels: labels, on: x[0].backend))
        },
        OpCase("crossEntropy weights smoothing", [[5, 3], [3]], ranges: [(-2, 2), (0.5, 2)], constants: [1]) { x in
            try x[0].crossEntropy(labels: try Tensor(labels: labels, on: x[0].backend), classWeights: x[1].detached(), labelSmoothing: 0.1)
        },
        OpCase("bceWithLogits posWeight", [[4, 3], [4, 3]], ranges: [(-3, 3), (0, 1)], constants: [1]) { x in
            try x[0].bceWithLogits(targets: x[1].detached(), posWeight: try Tensor([0.5, 1, 2], shape: [3], on: x[0].backend))
        },
        OpCase("mseLoss", [[3, 4], [3, 4]]) { try $0[0].mseLoss($0[1]) },
        OpCase("conv2d 3×3 pad 1 bias", [[2, 3, 5, 6], [4, 3, 3, 3], [4]]) { try $0[0].conv2d(weight: $0[1], bias: $0[2], padding: (1, 1)) },
        OpCase("conv2d 1×1", [[2, 5, 3, 4], [3, 5, 1, 1]]) { try $0[0].conv2d(weight: $0[1]) },
        OpCase("conv2d in chunks of one image", [[3, 2, 4, 5], [4, 1, 3, 3], [4]]) {
            try $0[0].conv2d(weight: $0[1], bias: $0[2], padding: (1, 1), groups: 2, columnBudget: 1)
        },
        OpCase("conv2d 7×7 stride 2 pad 3", [[1, 2, 9, 7], [3, 2, 7, 7]]) { try $0[0].conv2d(weight: $0[1], stride: (2, 2), padding: (3, 3)) },
        OpCase("conv2d stride 2 dilation 2 odd", [[2, 2, 9, 8], [3, 2, 3, 2]]) { try $0[0].conv2d(weight: $0[1], stride: (2, 1), padding: (1, 2), dilation: (2, 2)) },
        OpCase("conv2d groups 2", [[2, 4, 5, 5], [6, 2, 3, 3], [6]]) { try $0[0].conv2d(weight: $0[1], bias: $0[2], padding: (1, 1), groups: 2) },
        OpCase("conv2d depthwise", [[2, 3, 6, 5], [3, 1, 3, 3]]) { try $0[0].conv2d(weight: $0[1], stride: (2, 2), padding: (1, 1), groups: 3) },
        OpCase("maxPool2d 2×2", [[2, 3, 6, 5]]) { try $0[0].maxPool2d(kernel: (2, 2)) },
        OpCase("maxPool2d 3×3 stride 2 pad 1", [[2, 2, 7, 7]]) { try $0[0].maxPool2d(kernel: (3, 3), stride: (2, 2), padding: (1, 1)) },
        OpCase("avgPool2d 3×3 stride 2 pad 1", [[2, 2, 7, 6]]) { try $0[0].avgPool2d(kernel: (3, 3), stride: (2, 2), padding: (1, 1)) },
        OpCase("global average pool", [[2, 3, 4, 5]]) { try $0[0].mean(axes: [2, 3]) },
        OpCase("layer norm (composite)", [[3, 6]]) { x in
            let centered = try x[0] - x[0].mean(axes: [-1], keepDims: true)
            return try centered / (centered.square().mean(axes: [-1], keepDims: true) + 1e-5).sqrt()
        },
    ]
}

/// The backends every op runs on: the fp64 reference, the fast CPU backend, each OpenCL device.
enum TensorBackends {
    static let reference = CPUBackend(kernels: .reference, precision: .float64)
    static let cpu = CPUBackend()
    static let names: [String] = ["cpu"] + OpenCLInventory.shared.devices.map(\.id.description)

    static func backend(_ name: String) throws -> any Backend {
        if name == "cpu" { return cpu }
        guard let device = GEMMContenders.devices.first(where: { $0.key.description == name })?.value else {
            throw ScalpelError.deviceUnavailable(device: name, reason: "could not be opened")
        }
        return device
    }
}

/// Runs `op` on `backend` with `inputs` (as Double values), reducing the output with fixed
/// weights to a scalar; returns the output values, the scalar and each input's gradient.
func evaluate(_ op: OpCase, on backend: any Backend, inputs: [[Double]], weights: [Double]?) throws
    -> (output: [Double], scalar: Double, grads: [[Double]]) {
    let reference = backend as? CPUBackend
    let fp64 = reference?.precision == .float64
    let tensors = try zip(inputs, op.shapes).map { values, shape -> Tensor in
        let t = Tensor(storage: try backend.makeBuffer(count: values.count), shape: shape, backend: backend, requiresGrad: true)
        if fp64 { try reference!.writeDoubles(values, to: t.storage) } else {
            try values.map(Float.init).withUnsafeBufferPointer { try backend.write($0, to: t.storage, at: 0) }
        }
        return t
    }
    func read(_ t: Tensor) throws -> [Double] {
        fp64 ? try reference!.readDoubles(t.storage).prefix(t.count).map { $0 } : try t.array().map(Double.init)
    }
    let out = try op.body(tensors)
    let w: [Double] = weights ?? (0 ..< out.count).map { (i: Int) -> Double in Double((i * 7919) % 13) / 13.0 - 0.4 }
    let weightTensor = Tensor(storage: try backend.makeBuffer(count: w.count), shape: out.shape, backend: backend)
    if fp64 { try reference!.writeDoubles(w, to: weightTensor.storage) } else {
        try w.map(Float.init).withUnsafeBufferPointer { try backend.write($0, to: weightTensor.storage, at: 0) }
    }
    let scalar = try (out * weightTensor).sum()
    try scalar.backward()
    return (try read(out), try read(scalar)[0], try tensors.map { t in try t.grad.map(read) ?? [Double](repeating: 0, count: t.count) })
}

/// Seeded inputs for `op` in its ranges (values exact in Float, so every backend sees the same).
func inputs(_ op: OpCase) -> [[Double]] {
    var random = SeededRandom(seed: UInt64(op.name.utf8.reduce(0) { $0 &* 31 &+ UInt64($1) }))
    return zip(op.shapes, op.ranges).map { shape, range in
        (0 ..< shape.reduce(1, *)).map { _ in Double(Float(random.uniform(range.0, range.1))) }
    }
}

/// Autograd's gradients of `op` on the fp64 reference against central finite differences
/// (the first 24 elements of every non-constant input).
func expectGradientsMatchFiniteDifferences(_ op: OpCase) throws {
    let reference = TensorBackends.reference
    let x = inputs(op)
    let base = try evaluate(op, on: reference, inputs: x, weights: nil)
    let h = 1e-6
    for (i, values) in x.enumerated() where !op.constants.contains(i) {
        #expect(base.grads[i].contains { $0 != 0 }, "\(op): input \(i) got no gradient")
        for j in values.indices.prefix(24) {
            var plus = x, minus = x
            plus[i][j] += h
            minus[i][j] -= h
            let numeric = (try evaluate(op, on: reference, inputs: plus, weights: nil).scalar
                - evaluate(op, on: reference, inputs: minus, weights: nil).scalar) / (2 * h)
            let analytic = base.grads[i][j]
            #expect(abs(numeric - analytic) <= 1e-6 * (1 + abs(analytic)), "\(op) input \(i)[\(j)]: finite difference \(numeric), autograd \(analytic)")
        }
    }
}

/// `op`'s forward values and input gradients on `backend` against the fp64 reference.
func expectMatchesTheReference(_ op: OpCase, on backend: any Backend, named backendName: String) throws {
    let x = inputs(op)
    let want = try evaluate(op, on: TensorBackends.reference, inputs: x, weights: nil)
    let got = try evaluate(op, on: backend, inputs: x, weights: nil)
    func close(_ a: [Double], _ b: [Double], _ what: String) {
        #expect(a.count == b.count, "\(op) \(what): \(a.count) vs \(b.count) values")
        let scale = max(b.map(abs).max() ?? 0, 1)
        let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 0
        #expect(worst <= 2e-5 * scale, "\(op) on \(backendName) \(what): max error \(worst) (scale \(scale))")
    }
    close(got.output, want.output, "forward")
    for (i, g) in got.grads.enumerated() { close(g, want.grads[i], "gradient of input \(i)") }
}

@Suite struct AutogradTests {
    @Test(arguments: OpCase.all)
    func gradientsMatchFiniteDifferencesInDouble(_ op: OpCase) throws {
        try expectGradientsMatchFiniteDifferences(op)
    }

    @Test(arguments: TensorBackends.names, OpCase.all)
    func forwardAndBackwardMatchTheReference(_ backendName: String, _ op: OpCase) throws {
        try expectMatchesTheReference(op, on: try TensorBackends.backend(backendName), named: backendName)
    }

    @Test func comparisonsAndArgmaxGiveMasksAndIndices() throws {
        for name in TensorBackends.names {
            let backend = try TensorBackends.backend(name)
            let a = try Tensor([1, 5, 3, 3], shape: [2, 2], on: backend), b = try Tensor([3], shape: [1], on: backend)
            #expect(try a.gt(b).array() == [0, 1, 0, 0])
            #expect(try a.eq(b).array() == [0, 0, 1, 1])
            #expect(try a.le(b).array() == [1, 0, 1, 1])
            #expect(try a.argmax(axis: 1).array() == [1, 0], "\(name)")
            #expect(try a.argmax(axis: 1).dtype == .int32)
        }
    }

    @Test func gradientsAccumulateAcrossBackwardCallsAndNoGradRecordsNothing() throws {
        let backend = TensorBackends.cpu
        let w = try Tensor([1, 2], shape: [2], on: backend, requiresGrad: true)
        try (w * 3).sum().backward()
        try (w * 3).sum().backward()
        #expect(try w.grad!.array() == [6, 6])
        try w.zeroGrad()
        #expect(try w.grad!.array() == [0, 0])
        let y = try Autograd.noGrad { try w * 2 }
        #expect(!y.requiresGrad)
        #expect(throws: ScalpelError.self) { try y.sum().backward() }
    }

    @Test func badShapesAreClearErrors() throws {
        let backend = TensorBackends.cpu
        let a = try Tensor.zeros([2, 3], on: backend), b = try Tensor.zeros([4], on: backend)
        #expect { try a + b } throws: { "\($0)".contains("do not broadcast") }
        #expect { try a.matmul(b.reshaped([4, 1])) } throws: { "\($0)".contains("inner dimensions") }
        #expect { try a.reshaped([5]) } throws: { "\($0)".contains("cannot reshape") }
        #expect { try Tensor([1, 2, 3], shape: [2, 2], on: backend) } throws: { "\($0)".contains("do not fill") }
        let logits = try Tensor.zeros([2, 3], on: backend)
        let nanLoss = try logits.crossEntropy(labels: try Tensor(labels: [0, 7], on: backend)).item()
        #expect(nanLoss.isNaN, "a label outside the classes gives NaN, which training reports")
    }
}

@Suite struct GraphLifetimeTests {
    /// Every op's output, its graph and its gradients are freed once the caller lets go:
    /// a reference cycle through a backward closure would leak a training step's tensors.
    @Test(arguments: OpCase.all)
    func outputsAreFreedAfterBackward(_ op: OpCase) throws {
        weak var output: Tensor?
        weak var storage: (any DeviceBuffer)?
        try {
            var random = SeededRandom(seed: 3)
            let inputs = try zip(op.shapes, op.ranges).map { shape, range in
                try Tensor(random.uniformArray(shape.reduce(1, *), range.0, range.1), shape: shape, on: TensorBackends.cpu, requiresGrad: true)
            }
            let out = try op.body(inputs)
            output = out
            storage = out.storage
            try out.sum().backward()
        }()
        #expect(output == nil, "\(op): the output outlives its graph")
        #expect(storage == nil, "\(op): the output's memory outlives its graph")
    }
}

@Suite struct ConvAlgorithmTests {
    static let geometries: [Conv2dGeometry] = [
        Conv2dGeometry(batch: 2, inChannels: 1, height: 9, width: 7, outChannels: 5, kernel: (3, 3), padding: (1, 1)),
        Conv2dGeometry(batch: 1, inChannels: 4, height: 8, width: 8, outChannels: 6, kernel: (3, 2), stride: (2, 1), padding: (1, 0),
                       dilation: (1, 2), groups: 2),
        Conv2dGeometry(batch: 3, inChannels: 3, height: 5, width: 6, outChannels: 3, kernel: (1, 1), groups: 3),
    ]

    /// The direct kernel computes what im2col + GEMM computes, on every backend.
    @Test(arguments: TensorBackends.names, geometries)
    func directConvolutionMatchesIm2colGEMM(_ backendName: String, _ g: Conv2dGeometry) throws {
        let backend = try TensorBackends.backend(backendName)
        var random = SeededRandom(seed: 4)
        let x = try Tensor(random.uniformArray(g.batch * g.inChannels * g.height * g.width), shape: [g.batch, g.inChannels, g.height, g.width], on: backend)
        let w = try Tensor(random.uniformArray(g.outChannels * g.inChannels / g.groups * g.kernelHeight * g.kernelWidth),
                           shape: [g.outChannels, g.inChannels / g.groups, g.kernelHeight, g.kernelWidth], on: backend)
        let reference = TensorBackends.reference
        let want = try Tensor(x.array(), shape: x.shape, on: reference).conv2d(weight: try Tensor(w.array(), shape: w.shape, on: reference),
                                                                               stride: (g.strideH, g.strideW), padding: (g.padH, g.padW),
                                                                               dilation: (g.dilationH, g.dilationW), groups: g.groups).array()
        let out = try backend.makeBuffer(count: want.count)
        try backend.conv2dDirect(g, input: x.storage, weight: w.storage, output: out)
        let got = try backend.read(out)
        let worst = zip(got, want).map { abs($0 - $1) }.max() ?? 0
        #expect(worst < 1e-5, "\(backendName) \(g): max error \(worst)")
        _ = backend.conv2dForwardAlgorithm(g) // a backend with a choice measures it without failing
    }
}
