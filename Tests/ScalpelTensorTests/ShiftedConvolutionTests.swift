import ScalpelCore
import ScalpelCPU
import ScalpelTensor
import ScalpelTestSupport
import Testing

/// The CPU-Swift backend's convolution on the shifted layout (3×3, padding 1, stride 1 or 2) at
/// training sizes: all three passes against im2col + GEMM, the same bits on one thread as on
/// two; and the rule that picks it.
struct ShiftedConvolutionTests {
    static let backend = CPUBackend(threads: 2)

    /// Forward (with bias and ReLU), the input gradient and the weight gradient with `algorithm`.
    static func passes(_ g: Conv2dGeometry, _ algorithm: ConvAlgorithm, on backend: CPUBackend = backend) throws -> [[Float]] {
        var generator = SeededRandom(seed: 31)
        let x = try Tensor.normal([g.batch, g.inChannels, g.height, g.width], generator: &generator, on: backend, requiresGrad: true)
        let w = try Tensor.normal([g.outChannels, g.inChannels, 3, 3], generator: &generator, on: backend, requiresGrad: true)
        let bias = try Tensor.normal([g.outChannels], generator: &generator, on: backend)
        let seed = try Tensor.normal([g.batch, g.outChannels, g.outHeight, g.outWidth], generator: &generator, on: backend)
        let y = try x.conv2d(weight: w, bias: bias, stride: (g.strideH, g.strideW), padding: (1, 1), algorithm: algorithm, relu: true)
        try (y * seed).sum().backward()
        return [try y.array(), try x.grad!.array(), try w.grad!.array()]
    }

    /// Stride 1: 28×28 (several blocks of positions; 64 output channels, the last group of
    /// three one short), 14×14 with 37 output channels, 15×17 (odd). Stride 2: 28×28 → 14×14,
    /// 15×13 → 8×7 (the last phase row and column past the image).
    @Test(arguments: [(4, 16, 28, 28, 64, 1), (6, 24, 14, 14, 37, 1), (3, 20, 15, 17, 8, 1), (4, 16, 28, 28, 32, 2), (5, 12, 15, 13, 19, 2)])
    func agreesWithColumnsAtTrainingSizes(_ batch: Int, _ channels: Int, _ height: Int, _ width: Int, _ outChannels: Int, _ stride: Int) throws {
        let g = Conv2dGeometry(batch: batch, inChannels: channels, height: height, width: width, outChannels: outChannels, kernel: (3, 3),
                               stride: (stride, stride), padding: (1, 1))
        let shifted = try Self.passes(g, .implicitGEMM), columns = try Self.passes(g, .im2colGEMM)
        for (name, (a, b)) in zip(["forward", "d input", "d weight"], zip(shifted, columns)) {
            let scale = max(b.map(abs).max() ?? 0, 1e-30)
            let error = zip(a, b).map { abs($0 - $1) }.max()! / scale
            #expect(a.count == b.count && error < 1e-5, "\(name): \(error)")
        }
        #expect(try Self.passes(g, .implicitGEMM, on: CPUBackend(threads: 1)) == shifted, "the same bits on one thread")
    }

    /// Chosen for every pass of wide stride-2 layers with planes of at least 196 outputs and
    /// padding 1 (wide stride-1 layers run Winograd).
    @Test func theRuleNeedsStrideTwoPaddingOneChannelsAndPlanes() {
        let strided = Conv2dGeometry(batch: 2, inChannels: 32, height: 28, width: 28, outChannels: 64, kernel: (3, 3), stride: (2, 2),
                                     padding: (1, 1))
        for pass in ConvPass.allCases { #expect(Self.backend.conv2dAlgorithm(strided, pass: pass) == .implicitGEMM, "\(pass)") }
        var small = strided
        small.height = 14
        small.width = 14
        var narrow = strided
        narrow.inChannels = 8
        var unpadded = strided
        unpadded.padH = 0
        unpadded.padW = 0
        var unstrided = strided
        unstrided.strideH = 1
        unstrided.strideW = 1
        for g in [small, narrow, unpadded] {
            for pass in ConvPass.allCases { #expect(Self.backend.conv2dAlgorithm(g, pass: pass) == .im2colGEMM, "\(g) \(pass)") }
        }
        for pass in ConvPass.allCases { #expect(Self.backend.conv2dAlgorithm(unstrided, pass: pass) == .winograd, "\(pass)") }
        #expect(CPUBackend(kernels: .reference).conv2dAlgorithm(strided, pass: .forward) == .im2colGEMM)
    }
}
