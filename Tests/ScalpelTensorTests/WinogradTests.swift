import Foundation
import ScalpelCore
import ScalpelCPU
import ScalpelTensor
import ScalpelTestSupport
import Testing

/// Winograd F(2×2, 3×3) on the CPU-Swift backend at training sizes: several blocks of tiles
/// (the last one shorter), many tiles per row, both threads — against im2col + GEMM on the same backend (the op-case
/// table checks the small geometries against the fp64 reference). And the rule that chooses it.
struct WinogradTests {
    static let backend = CPUBackend(threads: 2)

    /// The largest difference between `a` and `b`, relative to the largest magnitude of `b`.
    static func relativeError(_ a: [Float], _ b: [Float]) -> Float {
        let scale = max(b.map(abs).max() ?? 0, 1e-30)
        return zip(a, b).map { abs($0 - $1) }.max()! / scale
    }

    /// Forward (with bias and ReLU) and both gradients by Winograd and by columns.
    static func passes(_ g: Conv2dGeometry, _ algorithm: ConvAlgorithm) throws -> [[Float]] {
        var generator = SeededRandom(seed: 11)
        let x = try Tensor.normal([g.batch, g.inChannels, g.height, g.width], generator: &generator, on: backend, requiresGrad: true)
        let w = try Tensor.normal([g.outChannels, g.inChannels, 3, 3], generator: &generator, on: backend, requiresGrad: true)
        let bias = try Tensor.normal([g.outChannels], generator: &generator, on: backend, requiresGrad: true)
        let seed = try Tensor.normal([g.batch, g.outChannels, g.outHeight, g.outWidth], generator: &generator, on: backend)
        let y = try x.conv2d(weight: w, bias: bias, padding: (g.padH, g.padW), algorithm: algorithm, relu: true)
        try (y * seed).sum().backward()
        return [try y.array(), try x.grad!.array(), try w.grad!.array(), try bias.grad!.array()]
    }

    /// 28×28 images with 48 channels (15 blocks of 19 tile rows, the last of 14; 56 output
    /// channels, not a whole number of micro-kernel panels; the weight gradient in four chunks of
    /// tile rows, the last of 10), and a 7×7 layer (odd: the last tile half used) with padding 0
    /// and 2.
    @Test(arguments: [(20, 48, 28, 1), (6, 40, 7, 0), (5, 32, 9, 2)])
    func agreesWithColumnsAtTrainingSizes(_ batch: Int, _ channels: Int, _ size: Int, _ padding: Int) throws {
        let g = Conv2dGeometry(batch: batch, inChannels: channels, height: size, width: size, outChannels: channels + 8, kernel: (3, 3),
                               padding: (padding, padding))
        #expect(g.supportsWinograd)
        let winograd = try Self.passes(g, .winograd), columns = try Self.passes(g, .im2colGEMM)
        for (name, (a, b)) in zip(["forward", "d input", "d weight", "d bias"], zip(winograd, columns)) {
            #expect(a.count == b.count && !a.contains { !$0.isFinite }, "\(name)")
            #expect(Self.relativeError(a, b) < 1e-5, "\(name): \(Self.relativeError(a, b))")
        }
    }

    /// The CPU backend chooses Winograd for all three passes of wide 3×3 stride-1 layers only,
    /// and repeats its result bit for bit.
    @Test func theRuleChoosesWinogradForWide3x3StrideOneLayers() throws {
        let wide = Conv2dGeometry(batch: 2, inChannels: 32, height: 14, width: 14, outChannels: 64, kernel: (3, 3), padding: (1, 1))
        #expect(Self.backend.conv2dAlgorithm(wide, pass: .forward) == .winograd)
        #expect(Self.backend.conv2dAlgorithm(wide, pass: .backwardData) == .winograd)
        #expect(Self.backend.conv2dAlgorithm(wide, pass: .backwardWeight) == .winograd)
        var narrow = wide
        narrow.inChannels = 1
        var strided = wide
        strided.strideH = 2
        strided.strideW = 2
        var grouped = wide
        grouped.groups = 2
        for g in [narrow, strided, grouped] {
            for pass in ConvPass.allCases {
                // A single-channel layer's weight gradient is the direct kernel's (DirectWeightGradientTests),
                // a wide stride-2 layer the gathered convolution's (GatheredConvolutionTests).
                let expected: ConvAlgorithm = g == strided || (g == narrow && pass == .backwardWeight) ? .implicitGEMM : .im2colGEMM
                #expect(Self.backend.conv2dAlgorithm(g, pass: pass) == expected, "\(g) \(pass)")
            }
        }
        // The reference kernels and fp64 never run it.
        #expect(CPUBackend(kernels: .reference).conv2dAlgorithm(wide, pass: .forward) == .im2colGEMM)
        #expect(CPUBackend(precision: .float64).conv2dAlgorithm(wide, pass: .forward) == .im2colGEMM)
        let g = Conv2dGeometry(batch: 3, inChannels: 16, height: 10, width: 10, outChannels: 16, kernel: (3, 3), padding: (1, 1))
        #expect(try Self.passes(g, .winograd) == Self.passes(g, .winograd))
    }

    /// Forced where it cannot run, Winograd means im2col + GEMM.
    @Test func forcedWhereItCannotRunItMeansColumns() {
        let strided = Conv2dGeometry(batch: 1, inChannels: 4, height: 8, width: 8, outChannels: 4, kernel: (3, 3), stride: (2, 2), padding: (1, 1))
        let wide = Conv2dGeometry(batch: 1, inChannels: 4, height: 8, width: 8, outChannels: 4, kernel: (3, 3), padding: (3, 3))
        let fits = Conv2dGeometry(batch: 1, inChannels: 4, height: 8, width: 8, outChannels: 4, kernel: (3, 3), padding: (2, 2))
        #expect(!strided.supportsWinograd && !wide.supportsWinograd && fits.supportsWinograd)
        #expect(ConvAlgorithm.winograd.resolved(for: .forward, at: strided) == .im2colGEMM)
        #expect(ConvAlgorithm.winograd.resolved(for: .forward, at: fits) == .winograd)
        #expect(ConvAlgorithm.winograd.resolved(for: .backwardData, at: fits) == .winograd)
        #expect(ConvAlgorithm.winograd.resolved(for: .backwardWeight, at: fits) == .winograd)
        #expect(ConvAlgorithm.winograd.resolved(for: .backwardWeight, at: strided) == .im2colGEMM)
    }
}
