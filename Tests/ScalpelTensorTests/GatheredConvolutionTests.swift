import ScalpelCore
@testable import ScalpelCPU
import ScalpelTensor
import ScalpelTestSupport
import Testing

/// The CPU-Swift backend's gathered convolution (3×3, padding 1, stride 1 or 2; what it runs as
/// implicitGEMM) at training sizes: all three passes against im2col + GEMM, the same bits on one
/// thread as on two; the plans that skip the taps on the padding; and the rule that picks it.
struct GatheredConvolutionTests {
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

    /// Stride 1: 28×28 (many panels; 64 output channels), 14×14 with 37 output channels (a
    /// short last row panel), 15×17 (odd), 4×4 with 270 output channels (two depth blocks in
    /// the input gradient, which runs the packed form). Stride 2: 28×28 → 14×14, 15×13 → 8×7
    /// (the last phase row and column past the image), 7×7 → 4×4 and 14×14 → 7×7 with more than
    /// 256 input channels (two depth blocks in the forward pass, the packed form) and a batch of
    /// 1 and 3 (classes that are not whole panels: the indirect form's short blocks), 8×8 → 4×4
    /// with 400 output channels (the input gradient in the packed form).
    @Test(arguments: [(4, 16, 28, 28, 64, 1), (6, 24, 14, 14, 37, 1), (3, 20, 15, 17, 8, 1), (2, 20, 4, 4, 270, 1),
                      (4, 16, 28, 28, 32, 2), (5, 12, 15, 13, 19, 2), (1, 264, 7, 7, 40, 2), (3, 300, 14, 14, 20, 2),
                      (2, 12, 8, 8, 400, 2)])
    func agreesWithColumnsAtTrainingSizes(_ batch: Int, _ channels: Int, _ height: Int, _ width: Int, _ outChannels: Int, _ stride: Int) throws {
        let g = Conv2dGeometry(batch: batch, inChannels: channels, height: height, width: width, outChannels: outChannels, kernel: (3, 3),
                               stride: (stride, stride), padding: (1, 1))
        let gathered = try Self.passes(g, .implicitGEMM), columns = try Self.passes(g, .im2colGEMM)
        for (name, (a, b)) in zip(["forward", "d input", "d weight"], zip(gathered, columns)) {
            let scale = max(b.map(abs).max() ?? 0, 1e-30)
            let error = zip(a, b).map { abs($0 - $1) }.max()! / scale
            #expect(a.count == b.count && error < 1e-5, "\(name): \(error)")
        }
        #expect(try Self.passes(g, .implicitGEMM, on: CPUBackend(threads: 1)) == gathered, "the same bits on one thread")
    }

    /// The forward plan visits every output position once and, in its classes, exactly the
    /// (position, tap) pairs whose tap reads inside the image; the input-gradient plans of all
    /// phases together write every input position once, with exactly the taps whose output
    /// position exists.
    @Test(arguments: [(7, 7, 2), (14, 14, 2), (15, 13, 2), (4, 4, 1), (5, 9, 1)])
    func plansSkipExactlyTheTapsOnThePadding(_ height: Int, _ width: Int, _ stride: Int) {
        let g = Conv2dGeometry(batch: 3, inChannels: 4, height: height, width: width, outChannels: 5, kernel: (3, 3),
                               stride: (stride, stride), padding: (1, 1))
        func inside(_ y: Int, _ x: Int, _ h: Int, _ w: Int) -> Bool { (0 ..< h).contains(y) && (0 ..< w).contains(x) }
        // Forward: positions and their taps inside x.
        let plan = GatheredPlan.forward(g)
        var expected = 0, targets: [Int] = []
        for image in 0 ..< g.batch {
            for oy in 0 ..< g.outHeight {
                for ox in 0 ..< g.outWidth {
                    targets.append((image * g.outChannels * g.outHeight + oy) * g.outWidth + ox)
                    for r in 0 ..< 3 {
                        for s in 0 ..< 3 where inside(stride * oy + r - 1, stride * ox + s - 1, height, width) { expected += 1 }
                    }
                }
            }
        }
        let planned = plan.classColumns.indices.reduce(0) { $0 + plan.classColumns[$1].count * plan.classTaps[$1].count }
        let visited = plan.classColumns.flatMap { plan.targets[$0.first ..< $0.first + $0.count] }
        #expect(planned == expected && visited.sorted() == targets.sorted(), "forward: \(planned) vs \(expected)")
        #expect(planned < 9 * targets.count, "some taps fall on the padding")
        // Input gradient: (input position, tap) pairs whose output position exists.
        var expectedBack = 0, inputs: [Int] = []
        for image in 0 ..< g.batch {
            for y in 0 ..< height {
                for x in 0 ..< width {
                    inputs.append((image * g.inChannels * height + y) * width + x)
                    for r in 0 ..< 3 {
                        for s in 0 ..< 3 {
                            let (oy, ox) = (y + 1 - r, x + 1 - s)
                            if oy % stride == 0 && ox % stride == 0 && inside(oy / stride, ox / stride, g.outHeight, g.outWidth) && oy >= 0 && ox >= 0 {
                                expectedBack += 1
                            }
                        }
                    }
                }
            }
        }
        var plannedBack = 0, written: [Int] = []
        for a in 0 ..< stride {
            for b in 0 ..< stride {
                guard let (phase, _, _) = GatheredPlan.backwardData(g, phase: a, b) else { continue }
                plannedBack += phase.classColumns.indices.reduce(0) { $0 + phase.classColumns[$1].count * phase.classTaps[$1].count }
                written += phase.classColumns.flatMap { phase.targets[$0.first ..< $0.first + $0.count] }
            }
        }
        #expect(plannedBack == expectedBack && written.sorted() == inputs.sorted(), "input gradient: \(plannedBack) vs \(expectedBack)")
    }

    /// A batch too large to copy channels-last at once goes in chunks of images: with one image
    /// per chunk the forward pass and the input gradient are the same bits as in one chunk (each
    /// result is summed within its image), the weight gradient the same sums to rounding. In the
    /// indirect form (20 → 24 channels) and the packed one (264 → 400).
    @Test(arguments: [(1, 20, 24), (2, 20, 24), (2, 264, 400)])
    func chunksOfImagesGiveTheSameResults(_ stride: Int, _ inChannels: Int, _ outChannels: Int) {
        let g = Conv2dGeometry(batch: 5, inChannels: inChannels, height: 9, width: 9, outChannels: outChannels, kernel: (3, 3),
                               stride: (stride, stride), padding: (1, 1))
        var generator = SeededRandom(seed: 7)
        let x = generator.uniformArray(g.batch * g.inChannels * g.height * g.width, -1, 1)
        let w = generator.uniformArray(g.outChannels * g.inChannels * 9, -1, 1)
        let dy = generator.uniformArray(g.batch * g.outChannels * g.outHeight * g.outWidth, -1, 1)
        let backend = Self.backend
        func run(_ budget: Int?) -> (y: [Float], dx: [Float], dw: [Float]) {
            var (y, dx, dw) = ([Float](repeating: 0, count: dy.count), [Float](repeating: 0, count: x.count), [Float](repeating: 0, count: w.count))
            backend.gatheredForward(g, x, w, bias: nil, relu: false, &y, chunkBudget: budget)
            backend.gatheredBackwardData(g, dy, w, &dx, chunkBudget: budget)
            backend.gatheredWeightGradient(g, x, dy, &dw, chunkBudget: budget)
            return (y, dx, dw)
        }
        let whole = run(nil), chunked = run(1)
        #expect(chunked.y == whole.y && chunked.dx == whole.dx)
        let error = zip(chunked.dw, whole.dw).map { abs($0 - $1) }.max()!
        #expect(error < 1e-4 && chunked.dw != [Float](repeating: 0, count: w.count), "\(error)")
    }

    /// Chosen for every pass of stride-2 layers with padding 1 and at least 16 channels, at any
    /// plane size (wide stride-1 layers run Winograd).
    @Test func theRuleNeedsStrideTwoPaddingOneAndChannels() {
        let strided = Conv2dGeometry(batch: 2, inChannels: 32, height: 28, width: 28, outChannels: 64, kernel: (3, 3), stride: (2, 2),
                                     padding: (1, 1))
        var small = strided
        small.height = 7
        small.width = 7
        for g in [strided, small] {
            for pass in ConvPass.allCases { #expect(Self.backend.conv2dAlgorithm(g, pass: pass) == .implicitGEMM, "\(g) \(pass)") }
        }
        var narrow = strided
        narrow.inChannels = 8
        var unpadded = strided
        unpadded.padH = 0
        unpadded.padW = 0
        var unstrided = strided
        unstrided.strideH = 1
        unstrided.strideW = 1
        for g in [narrow, unpadded] {
            for pass in ConvPass.allCases { #expect(Self.backend.conv2dAlgorithm(g, pass: pass) == .im2colGEMM, "\(g) \(pass)") }
        }
        for pass in ConvPass.allCases { #expect(Self.backend.conv2dAlgorithm(unstrided, pass: pass) == .winograd, "\(pass)") }
        #expect(CPUBackend(kernels: .reference).conv2dAlgorithm(strided, pass: .forward) == .im2colGEMM)
    }
}

extension GatheredConvolutionTests {
    /// The indirect form runs where a block of 16 filters across a position's taps fits its
    /// budget: ResNet-18's stage-2 and stage-3 stride-2 layers (64 and 128 input channels; input
    /// gradients over 128 and 256 output channels with 4 taps a phase), not stage 4's (256 → 512).
    @Test func theIndirectFormRunsWhereItsFiltersFitTheBudget() {
        let backend = Self.backend
        for depth in [64, 128] { #expect(backend.runsIndirect(taps: 9, depth: depth), "forward over \(depth)") }
        for depth in [128, 256] { #expect(backend.runsIndirect(taps: 4, depth: depth), "input gradient over \(depth)") }
        #expect(!backend.runsIndirect(taps: 9, depth: 256) && !backend.runsIndirect(taps: 4, depth: 512))
        #expect(!backend.runsIndirect(taps: 9, depth: 264) && !backend.runsIndirect(taps: 4, depth: 400), "the packed cases of the tests")
    }
}
