import Foundation
import Scalpel
import ScalpelCPU
import ScalpelCore
import ScalpelNN
import ScalpelOpenCL
import ScalpelTensor
import ScalpelTestSupport
import Testing

/// One fused batch-normalisation check: input (N, C, L) (rank 2 when L is nil), the mode and
/// whether the ReLU is fused.
struct BatchNormCase: CustomStringConvertible, Sendable {
    var batch: Int
    var channels: Int
    var spatial: Int?
    var relu: Bool
    var training: Bool

    var shape: [Int] { [batch, channels] + (spatial.map { [$0] } ?? []) }
    var description: String { "\(shape)\(relu ? " relu" : "")\(training ? " training" : " evaluation")" }

    /// Values per channel of 1, of a work-group's width and either side of it (32, 256 on a
    /// GPU; 64 on a CPU device), for 1, 3 and 64 channels; both modes, with and without ReLU.
    static let all: [BatchNormCase] = {
        var cases: [BatchNormCase] = []
        for spatial in [nil, 1, 31, 32, 33, 255, 257] as [Int?] {
            for channels in [1, 3, 64] {
                for (relu, training) in [(false, true), (true, true), (false, false), (true, false)] {
                    cases.append(BatchNormCase(batch: spatial == nil ? 5 : 2, channels: channels, spatial: spatial, relu: relu, training: training))
                }
            }
        }
        return cases
    }()

    /// Seeded inputs: x offset from 0 (range −2…5, where E[x²] − E[x]² would lose digits),
    /// weight, bias, and the running statistics before the step.
    func inputs() -> [[Double]] {
        var random = SeededRandom(seed: UInt64(batch * 1000 + channels * 10 + (spatial ?? 0)))
        let count = shape.reduce(1, *)
        func draw(_ n: Int, _ low: Float, _ high: Float) -> [Double] { random.uniformArray(n, low, high).map(Double.init) }
        return [draw(count, -2, 5), draw(channels, 0.5, 1.5), draw(channels, -1, 1), draw(channels, -0.5, 0.5), draw(channels, 0.5, 2)]
    }
}

/// Output, gradients (x, weight, bias) and the running statistics after the step.
struct NormalizationResult {
    var output: [Double]
    var grads: [[Double]]
    var running: [[Double]]
}

/// The batch normalisation of the layers before the fused kernels, written with primitive
/// tensor operations (the reference): batch statistics in training (biased variance, the
/// running ones updated with the unbiased), running statistics otherwise.
func composedBatchNorm(_ x: Tensor, weight: Tensor, bias: Tensor, runningMean: Tensor, runningVar: Tensor, training: Bool, momentum: Float,
                       epsilon: Float, relu: Bool) throws -> Tensor {
    let c = weight.count
    let shape = [c] + [Int](repeating: 1, count: x.rank - 2)
    let axes = [0] + Array(2 ..< x.rank)
    let scale = try weight.reshaped(shape), shift = try bias.reshaped(shape)
    let y: Tensor
    if training {
        let n = x.count / c
        let mean = try x.mean(axes: axes, keepDims: true)
        let centered = try x - mean
        let variance = try centered.square().mean(axes: axes, keepDims: true)
        try Autograd.noGrad {
            try x.backend.axpby(alpha: momentum, x: mean.storage, beta: 1 - momentum, y: runningMean.storage, count: c)
            let unbiased = try variance * (Float(n) / Float(n - 1))
            try x.backend.axpby(alpha: momentum, x: unbiased.storage, beta: 1 - momentum, y: runningVar.storage, count: c)
        }
        y = try centered / (variance + epsilon).sqrt() * scale + shift
    } else {
        y = try (x - runningMean.reshaped(shape)) / (runningVar.reshaped(shape) + epsilon).sqrt() * scale + shift
    }
    return relu ? try y.relu() : y
}

/// The layer normalisation of the layer before the fused kernels, composed.
func composedLayerNorm(_ x: Tensor, weight: Tensor, bias: Tensor, epsilon: Float) throws -> Tensor {
    let mean = try x.mean(axes: [-1], keepDims: true)
    let centered = try x - mean
    let variance = try centered.square().mean(axes: [-1], keepDims: true)
    return try centered / (variance + epsilon).sqrt() * weight + bias
}

/// Fixed weights for reducing an output of `count` values to a scalar.
func outputWeights(_ count: Int) -> [Double] { (0 ..< count).map { Double(($0 * 7919) % 13) / 13 - 0.4 } }

func runBatchNorm(_ c: BatchNormCase, on backend: any Backend, inputs v: [[Double]], fused: Bool) throws -> NormalizationResult {
    let x = try tensor(v[0], c.shape, on: backend, requiresGrad: true)
    let weight = try tensor(v[1], [c.channels], on: backend, requiresGrad: true)
    let bias = try tensor(v[2], [c.channels], on: backend, requiresGrad: true)
    let runningMean = try tensor(v[3], [c.channels], on: backend), runningVar = try tensor(v[4], [c.channels], on: backend)
    let out = fused
        ? try x.batchNorm(weight: weight, bias: bias, runningMean: runningMean, runningVar: runningVar, training: c.training, momentum: 0.3,
                          epsilon: 1e-5, relu: c.relu)
        : try composedBatchNorm(x, weight: weight, bias: bias, runningMean: runningMean, runningVar: runningVar, training: c.training,
                                momentum: 0.3, epsilon: 1e-5, relu: c.relu)
    try (out * tensor(outputWeights(out.count), out.shape, on: backend)).reshaped([-1]).sum().backward()
    return NormalizationResult(output: try doubles(out), grads: try [x, weight, bias].map { try $0.grad.map(doubles) ?? [] },
                               running: [try doubles(runningMean), try doubles(runningVar)])
}

/// Expects `got` within `tolerance` of `want`, relative to the largest reference magnitude (at least 1).
func expectClose(_ got: [Double], _ want: [Double], _ what: String, tolerance: Double, sourceLocation: SourceLocation = #_sourceLocation) {
    guard got.count == want.count else {
        Issue.record("\(what): \(got.count) values, expected \(want.count)", sourceLocation: sourceLocation)
        return
    }
    let (error, scale) = maxError(got, want)
    #expect(error <= tolerance * Swift.max(scale, 1), "\(what): max error \(error) (scale \(scale))", sourceLocation: sourceLocation)
}

@Suite struct NormalizationTests {
    static let backendNames = AttentionBackends.names

    /// The fused batch normalisation (forward, the gradients of x, weight and bias, the running
    /// statistics after the step) equals the composed formula computed in fp64, on every backend.
    @Test(arguments: backendNames, BatchNormCase.all)
    func fusedBatchNormMatchesTheComposedReference(_ backendName: String, _ c: BatchNormCase) throws {
        let backend = try AttentionBackends.backend(backendName)
        let v = c.inputs()
        let want = try runBatchNorm(c, on: TensorBackends.reference, inputs: v, fused: false)
        let got = try runBatchNorm(c, on: backend, inputs: v, fused: true)
        // The composed formula's constants (1/n of the mean, n/(n−1), ε) are fp32 even on the
        // fp64 backend, where the fused op forms them in Double: fp64 agrees to their rounding.
        let tolerance = (backend as? CPUBackend)?.precision == .float64 ? 1e-6 : 2e-5
        expectClose(got.output, want.output, "\(c) on \(backendName): output", tolerance: tolerance)
        for (i, name) in ["dx", "dweight", "dbias"].enumerated() {
            expectClose(got.grads[i], want.grads[i], "\(c) on \(backendName): \(name)", tolerance: tolerance * 10)
        }
        expectClose(got.running[0], want.running[0], "\(c) on \(backendName): running mean", tolerance: tolerance)
        expectClose(got.running[1], want.running[1], "\(c) on \(backendName): running variance", tolerance: tolerance)
    }

    /// Layer normalisation, fused, against the composed formula in fp64: rows of 1, 31, 32, 33,
    /// 255 and 257 features (either side of the work-group widths), 1, 3 and 64 rows.
    @Test(arguments: backendNames, [(1, 31), (3, 32), (64, 33), (3, 255), (1, 257), (64, 1), (3, 64)])
    func fusedLayerNormMatchesTheComposedReference(_ backendName: String, _ size: (rows: Int, features: Int)) throws {
        let backend = try AttentionBackends.backend(backendName)
        var random = SeededRandom(seed: UInt64(size.rows * 1000 + size.features))
        let v = [random.uniformArray(size.rows * size.features, -2, 5), random.uniformArray(size.features, 0.5, 1.5),
                 random.uniformArray(size.features, -1, 1)].map { $0.map(Double.init) }
        func run(_ backend: any Backend, fused: Bool) throws -> NormalizationResult {
            let x = try tensor(v[0], [size.rows, size.features], on: backend, requiresGrad: true)
            let weight = try tensor(v[1], [size.features], on: backend, requiresGrad: true)
            let bias = try tensor(v[2], [size.features], on: backend, requiresGrad: true)
            let out = fused ? try x.layerNorm(weight: weight, bias: bias, epsilon: 1e-5) : try composedLayerNorm(x, weight: weight, bias: bias, epsilon: 1e-5)
            try (out * tensor(outputWeights(out.count), out.shape, on: backend)).reshaped([-1]).sum().backward()
            return NormalizationResult(output: try doubles(out), grads: try [x, weight, bias].map { try $0.grad.map(doubles) ?? [] }, running: [])
        }
        let want = try run(TensorBackends.reference, fused: false), got = try run(backend, fused: true)
        // fp64: to the rounding of the composed mean's fp32 1/F (see the batch-norm test).
        let tolerance = (backend as? CPUBackend)?.precision == .float64 ? 1e-6 : 2e-5
        let what = "\(size.rows)×\(size.features) on \(backendName)"
        expectClose(got.output, want.output, "\(what): output", tolerance: tolerance)
        for (i, name) in ["dx", "dweight", "dbias"].enumerated() {
            expectClose(got.grads[i], want.grads[i], "\(what): \(name)", tolerance: tolerance * 10)
        }
    }

    /// An input that needs no gradient gets none (and the others still get theirs): x frozen,
    /// then weight and bias frozen, for both operations.
    @Test(arguments: backendNames)
    func onlyInputsThatRequireGradientsGetThem(_ backendName: String) throws {
        let backend = try AttentionBackends.backend(backendName)
        var random = SeededRandom(seed: 7)
        for freezeInput in [true, false] {
            let x = try Tensor(random.uniformArray(2 * 3 * 5, -1, 2), shape: [2, 3, 5], on: backend, requiresGrad: !freezeInput)
            let w = try Tensor(random.uniformArray(3, 0.5, 1.5), shape: [3], on: backend, requiresGrad: freezeInput)
            let b = try Tensor(random.uniformArray(3), shape: [3], on: backend, requiresGrad: freezeInput)
            let y = try x.batchNorm(weight: w, bias: b, runningMean: Tensor.zeros([3], on: backend), runningVar: Tensor.ones([3], on: backend),
                                    training: true, momentum: 0.1, epsilon: 1e-5, relu: true)
            try (y * y).sum().backward()
            #expect((x.grad == nil) == freezeInput && (w.grad == nil) == !freezeInput && (b.grad == nil) == !freezeInput,
                    "batchNorm on \(backendName), input frozen: \(freezeInput)")
            let lw = try Tensor(random.uniformArray(5, 0.5, 1.5), shape: [5], on: backend, requiresGrad: freezeInput)
            let lb = try Tensor(random.uniformArray(5), shape: [5], on: backend, requiresGrad: false)
            let z = try x.layerNorm(weight: lw, bias: lb, epsilon: 1e-5)
            try (z * z).sum().backward()
            #expect(lb.grad == nil && (lw.grad == nil) == !freezeInput, "layerNorm on \(backendName)")
        }
    }

    /// The backend's layer-norm backward writes exactly the outputs it is given: dBias alone
    /// (the column sums of dy) leaves no dx or dWeight to fill.
    @Test(arguments: backendNames)
    func layerNormBackwardWritesOnlyTheRequestedOutputs(_ backendName: String) throws {
        let backend = try AttentionBackends.backend(backendName)
        let g = LayerNormGeometry(rows: 3, features: 4, epsilon: 1e-5)
        var random = SeededRandom(seed: 8)
        let dyValues = random.uniformArray(12)
        let x = try backend.makeBuffer(random.uniformArray(12)), w = try backend.makeBuffer([Float](repeating: 1, count: 4))
        let dy = try backend.makeBuffer(dyValues), mean = try backend.makeBuffer([0, 0, 0]), rstd = try backend.makeBuffer([1, 1, 1])
        let dBias = try backend.makeBuffer([Float](repeating: .nan, count: 4))
        try backend.layerNormBackward(g, x: x, weight: w, dy: dy, mean: mean, rstd: rstd, dx: nil, dWeight: nil, dBias: dBias)
        let got = try backend.read(dBias)
        for f in 0 ..< 4 {
            let want = (0 ..< 3).map { Double(dyValues[$0 * 4 + f]) }.reduce(0, +)
            #expect(Swift.abs(Double(got[f]) - want) < 1e-5, "\(backendName): dBias[\(f)] \(got[f]) vs \(want)")
        }
    }

    /// A BatchNorm followed by a ReLU in a Sequential (the ReLU fused) gives what the two layers
    /// give one after the other, forward and backward, and a BasicBlock runs on it.
    @Test(arguments: backendNames)
    func sequentialFusesTheReLUAfterABatchNorm(_ backendName: String) throws {
        let backend = try AttentionBackends.backend(backendName)
        var random = SeededRandom(seed: 9)
        let values = random.uniformArray(4 * 3 * 6, -2, 3)
        let weights = try tensor(outputWeights(values.count), [4, 3, 6], on: backend)
        var results: [[Double]] = []
        for fused in [true, false] {
            let norm = try BatchNorm1d(3, on: backend)
            let x = try Tensor(values, shape: [4, 3, 6], on: backend, requiresGrad: true)
            let y = fused ? try Sequential([norm, ReLU()])(x) : try ReLU()(norm(x))
            try (y * weights).sum().backward()
            results.append(try doubles(y) + doubles(try #require(x.grad)) + doubles(norm.runningVar))
        }
        expectClose(results[0], results[1], "\(backendName): fused ReLU", tolerance: 1e-5)
    }
}
