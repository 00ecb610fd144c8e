import Foundation
@testable import ScalpelConformance
import ScalpelCPU
import ScalpelCore
import ScalpelNN
import ScalpelOpenCL
import ScalpelTensor
import ScalpelTestSupport
import Testing

/// The tensor cases of the table (`KernelCases`): the differentiable ones.
let tensorCases: [KernelCase] = KernelCases.all.filter { $0.tensorCase != nil }

/// Autograd's gradients of `testCase` on the fp64 reference against central finite differences
/// (the first 24 elements of every non-constant input). The allowance adds the differences' own
/// rounding error, ε·Σ|w·output|/h, which dominates for outputs with many large values.
func expectGradientsMatchFiniteDifferences(_ testCase: KernelCase) throws {
    let op = try #require(testCase.tensorCase)
    let reference = TensorBackends.reference
    let x = op.inputs(seed: testCase.seed)
    let base = try op.evaluate(on: reference, inputs: x)
    let h = 1e-6
    let rounding = 8 * base.magnitude * Double.ulpOfOne / h
    for (i, values) in x.enumerated() where !op.constants.contains(i) {
        #expect(base.gradients[i].contains { $0 != 0 }, "\(testCase): input \(i) got no gradient")
        for j in values.indices.prefix(24) {
            var plus = x, minus = x
            plus[i][j] += h
            minus[i][j] -= h
            let numeric = (try op.evaluate(on: reference, inputs: plus).scalar - op.evaluate(on: reference, inputs: minus).scalar) / (2 * h)
            let analytic = base.gradients[i][j]
            #expect(abs(numeric - analytic) <= 1e-6 * (1 + abs(analytic)) + rounding, "\(testCase) input \(i)[\(j)]: finite difference \(numeric), autograd \(analytic)")
        }
    }
}

@Suite struct AutogradTests {
    /// Every differentiable case of the table: autograd against finite differences in fp64.
    @Test(arguments: tensorCases)
    func gradientsMatchFiniteDifferencesInDouble(_ testCase: KernelCase) throws {
        try expectGradientsMatchFiniteDifferences(testCase)
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
    @Test(arguments: tensorCases)
    func outputsAreFreedAfterBackward(_ testCase: KernelCase) throws {
        let op = try #require(testCase.tensorCase)
        weak var output: Tensor?
        weak var storage: (any DeviceBuffer)?
        try {
            var random = SeededRandom(seed: 3)
            let inputs = try zip(op.shapes, op.ranges).map { shape, range in
                try Tensor(random.uniformArray(shape.reduce(1, *), range.lowerBound, range.upperBound), shape: shape, on: TensorBackends.cpu,
                           requiresGrad: true)
            }
            let out = try op.body(inputs)
            output = out
            storage = out.storage
            try out.sum().backward()
        }()
        #expect(output == nil, "\(testCase): the output outlives its graph")
        #expect(storage == nil, "\(testCase): the output's memory outlives its graph")
    }
}

@Suite struct ConvAlgorithmTests {
    /// A window longer than the padded input has no position: the geometry says so and
    /// `validate()` refuses it, where truncating division counted one output (reading past the
    /// input as if it were padding).
    @Test func aWindowLongerThanTheInputIsRefused() throws {
        let conv = Conv2dGeometry(batch: 1, inChannels: 1, height: 1, width: 1, outChannels: 1, kernel: (3, 3), stride: (3, 3))
        #expect(conv.outHeight == 0 && conv.outWidth == 0)
        #expect(throws: ScalpelError.self) { try conv.validate() }
        let pool = Pool2dGeometry(batch: 1, channels: 1, height: 2, width: 2, kernel: (3, 3), stride: (3, 3))
        #expect(pool.outHeight == 0)
        #expect(throws: ScalpelError.self) { try pool.validate() }
        // Still one output where the window just fits.
        #expect(Conv2dGeometry(batch: 1, inChannels: 1, height: 3, width: 3, outChannels: 1, kernel: (3, 3), stride: (3, 3)).outHeight == 1)
    }

    /// The table forces every algorithm on every pass at every convolution geometry: each
    /// geometry appears once per algorithm, and each algorithm has a quick case.
    @Test func everyGeometryIsCheckedWithEveryAlgorithm() {
        let names = Set(ConvAlgorithm.allCases.map(KernelCases.convolutionCaseName))
        let byShape = Dictionary(grouping: KernelCases.convolution.filter { names.contains($0.name) }, by: \.shape)
        #expect(KernelCases.convolutionAlgorithms == ConvAlgorithm.allCases)
        #expect(byShape.count >= 11)
        for (shape, cases) in byShape {
            #expect(Set(cases.map(\.name)) == names, "\(shape): \(cases.map(\.name))")
        }
        for name in names { #expect(KernelCases.convolution.contains { $0.quick && $0.name == name }, "\(name) has no quick case") }
        // The split weight gradient and the ReLU epilogue have quick cases of their own.
        #expect(KernelCases.convolution.contains { $0.quick && $0.kernels.contains("conv_igemm_sum_splits") })
        #expect(KernelCases.convolution.contains { $0.quick && $0.shape.hasSuffix("ReLU") })
    }

    /// A backend with a choice measures it without failing, and picks for each pass an
    /// algorithm that can compute it and that the table checks.
    @Test(arguments: TensorBackends.names)
    func theAlgorithmChosenIsOneTheTableChecks(_ backendName: String) throws {
        let backend = try TensorBackends.backend(backendName)
        for g in [Conv2dGeometry(batch: 2, inChannels: 1, height: 9, width: 7, outChannels: 5, kernel: (3, 3), padding: (1, 1)),
                  Conv2dGeometry(batch: 3, inChannels: 3, height: 5, width: 6, outChannels: 3, kernel: (1, 1), groups: 3)] {
            for pass in ConvPass.allCases {
                let chosen = backend.conv2dAlgorithm(g, pass: pass)
                #expect(ConvAlgorithm.candidates(for: pass).contains(chosen) && KernelCases.convolutionAlgorithms.contains(chosen),
                        "\(backendName) \(g) \(pass): \(chosen)")
            }
        }
    }

    /// Forcing direct on a backward pass means im2col + GEMM (direct has no backward kernels).
    @Test func directResolvesToColumnsOnTheBackwardPasses() {
        #expect(ConvAlgorithm.direct.resolved(for: .forward) == .direct)
        #expect(ConvAlgorithm.direct.resolved(for: .backwardData) == .im2colGEMM)
        #expect(ConvAlgorithm.direct.resolved(for: .backwardWeight) == .im2colGEMM)
        #expect(ConvAlgorithm.implicitGEMM.resolved(for: .backwardWeight) == .implicitGEMM)
    }

    /// The weight gradient's split reduction repeats bit for bit (no atomics, a fixed order),
    /// and the implicit-GEMM passes agree with im2col + GEMM, on every OpenCL backend.
    @Test(arguments: TensorBackends.names)
    func implicitGEMMIsDeterministicAndAgreesWithColumns(_ backendName: String) throws {
        let backend = try TensorBackends.backend(backendName)
        let g = Conv2dGeometry(batch: 3, inChannels: 4, height: 13, width: 11, outChannels: 6, kernel: (3, 3), stride: (2, 1), padding: (1, 1))
        var random = SeededRandom(seed: 5)
        let input = try backend.makeBuffer(random.uniformArray(g.batch * g.inChannels * g.height * g.width))
        let weight = try backend.makeBuffer(random.uniformArray(g.outChannels * g.columnRows))
        let gradOutput = try backend.makeBuffer(random.uniformArray(g.batch * g.outChannels * g.outHeight * g.outWidth))
        let first = try backend.makeBuffer(count: weight.count), second = try backend.makeBuffer(count: weight.count)
        let columns = try backend.makeBuffer(count: weight.count), dataImplicit = try backend.makeBuffer(count: input.count)
        let dataColumns = try backend.makeBuffer(count: input.count)
        try backend.conv2dImplicitBackwardWeight(g, input: input, gradOutput: gradOutput, gradWeight: first)
        try backend.conv2dImplicitBackwardWeight(g, input: input, gradOutput: gradOutput, gradWeight: second)
        try backend.conv2dImplicitBackwardData(g, gradOutput: gradOutput, weight: weight, gradInput: dataImplicit)
        try backend.conv2dBackwardColumns(g, input: input, weight: weight, gradOutput: gradOutput, gradInput: dataColumns, gradWeight: columns)
        let (a, b) = (try backend.read(first), try backend.read(second))
        #expect(a == b, "\(backendName): two runs of the split weight gradient differ")
        for (implicit, reference, what) in [(a, try backend.read(columns), "weight"), (try backend.read(dataImplicit), try backend.read(dataColumns), "data")] {
            let error = zip(implicit, reference).map { abs($0 - $1) }.max() ?? 0
            #expect(error < 1e-4, "\(backendName) backward-\(what): max difference \(error)")
        }
    }
}
