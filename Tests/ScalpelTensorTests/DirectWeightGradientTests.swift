import ScalpelCore
import ScalpelCPU
import ScalpelTensor
import ScalpelTestSupport
import Testing

/// The direct weight gradient of a single-channel 3×3 stride-1 layer (an image model's first
/// layer) on the CPU-Swift backend: against im2col + GEMM at training sizes, on two threads,
/// with rows of whole eight-column groups and leftover columns; and the rule that picks it.
struct DirectWeightGradientTests {
    static let backend = CPUBackend(threads: 2)

    static func weightGradient(_ g: Conv2dGeometry, _ algorithm: ConvAlgorithm) throws -> [Float] {
        var generator = SeededRandom(seed: 21)
        let x = try Tensor.normal([g.batch, g.inChannels, g.height, g.width], generator: &generator, on: backend)
        let w = try Tensor.normal([g.outChannels, g.inChannels, 3, 3], generator: &generator, on: backend, requiresGrad: true)
        let seed = try Tensor.normal([g.batch, g.outChannels, g.outHeight, g.outWidth], generator: &generator, on: backend)
        try (x.conv2d(weight: w, padding: (g.padH, g.padW), algorithm: algorithm) * seed).sum().backward()
        return try w.grad!.array()
    }

    /// 28×28 with padding 1 (whole groups of eight), 27 wide unpadded (25 outputs: three groups
    /// and a leftover), and one padded on rows only.
    @Test(arguments: [(12, 28, 28, 1, 1), (5, 30, 27, 0, 0), (3, 9, 20, 1, 0)])
    func agreesWithColumns(_ batch: Int, _ height: Int, _ width: Int, _ padH: Int, _ padW: Int) throws {
        let g = Conv2dGeometry(batch: batch, inChannels: 1, height: height, width: width, outChannels: 32, kernel: (3, 3), padding: (padH, padW))
        #expect(Self.backend.conv2dAlgorithm(g, pass: .backwardWeight) == .implicitGEMM)
        let direct = try Self.weightGradient(g, .implicitGEMM), columns = try Self.weightGradient(g, .im2colGEMM)
        let scale = columns.map(abs).max()!
        let error = zip(direct, columns).map { abs($0 - $1) }.max()! / scale
        #expect(error < 1e-5, "\(error)")
        #expect(try Self.weightGradient(g, .implicitGEMM) == direct, "repeats bit for bit")
    }

    /// Only single-channel 3×3 stride-1 layers with padding ≤ 1, with the fast fp32 kernels.
    @Test func theRuleIsNarrow() {
        let first = Conv2dGeometry(batch: 2, inChannels: 1, height: 12, width: 12, outChannels: 8, kernel: (3, 3), padding: (1, 1))
        #expect(Self.backend.conv2dAlgorithm(first, pass: .backwardWeight) == .implicitGEMM)
        var rgb = first
        rgb.inChannels = 3
        var strided = first
        strided.strideH = 2
        var padded = first
        padded.padW = 2
        for g in [rgb, strided, padded] { #expect(Self.backend.conv2dAlgorithm(g, pass: .backwardWeight) == .im2colGEMM, "\(g)") }
        #expect(CPUBackend(kernels: .reference).conv2dAlgorithm(first, pass: .backwardWeight) == .im2colGEMM)
    }
}
