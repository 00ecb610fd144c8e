import Foundation
import ScalpelCore
import ScalpelCPUKernels

/// The implicit-GEMM convolution operations on the CPU-Swift backend: the gathered convolution
/// (`CPUGatheredConvolution`) for 3×3 padding-1 layers at stride 1 or 2, the direct weight
/// gradient of a single-channel 3×3 stride-1 layer, and the column path (im2col and the fast
/// GEMM) for every other geometry — and the rule that picks among all the CPU's algorithms.
extension CPUBackend {
    /// Validates `geometry` (throwing `shapeMismatch`), then computes the convolution plus the
    /// bias, then ReLU: for a 3×3, padding-1 layer with stride 1 or 2 and the fast fp32 kernels,
    /// by the gathered convolution (`gatheredForward`: per filter tap, the input gathered for the
    /// positions where the tap reads inside the image, the bias and ReLU applied as the result
    /// is written); otherwise `conv2dImplicitForwardByColumns` (im2col, a GEMM per group and a
    /// permute per chunk of images, the bias and ReLU as separate passes).
    public func conv2dImplicitForward(_ geometry: Conv2dGeometry, input: any DeviceBuffer, weight: any DeviceBuffer,
                                      bias: (any DeviceBuffer)?, relu: Bool, output: any DeviceBuffer) throws {
        let g = geometry
        try g.validate()
        guard runsGathered(g) else {
            return try conv2dImplicitForwardByColumns(g, input: input, weight: weight, bias: bias, relu: relu, output: output)
        }
        let span = ProfileSpan.begin("conv2d gathered forward"); defer { span?.end() }
        let b = try typedBuffers("conv2d gathered forward", [(input, g.batch * g.inChannels * g.height * g.width), (weight, g.outChannels * g.inChannels * 9),
                                                             (output, g.batch * g.outChannels * g.outHeight * g.outWidth)])
        let biasPointer = try bias.map { try typedBuffers("conv2d gathered forward bias", [($0, g.outChannels)])[0].pointer }
        gatheredForward(g, b[0].pointer, b[1].pointer, bias: biasPointer.map { UnsafePointer($0) }, relu: relu, b[2].pointer)
    }

    /// Validates `geometry` (throwing `shapeMismatch`), then computes gradInput: for a 3×3,
    /// padding-1 layer with stride 1 or 2 and the fast fp32 kernels, by the gathered
    /// convolution (`gatheredBackwardData`: per phase of the input, the output gradient gathered
    /// at the phase's taps, every element of gradInput written once); otherwise on the column
    /// path (`conv2dBackwardColumns`): per chunk of images, a GEMM per group against the weight,
    /// then col2im.
    public func conv2dImplicitBackwardData(_ geometry: Conv2dGeometry, gradOutput: any DeviceBuffer, weight: any DeviceBuffer,
                                           gradInput: any DeviceBuffer) throws {
        let g = geometry
        try g.validate()
        guard runsGathered(g) else {
            return try conv2dBackwardColumns(g, input: gradInput, weight: weight, gradOutput: gradOutput, gradInput: gradInput, gradWeight: nil)
        }
        let span = ProfileSpan.begin("conv2d gathered backward-data"); defer { span?.end() }
        let b = try typedBuffers("conv2d gathered backward-data", [(gradOutput, g.batch * g.outChannels * g.outHeight * g.outWidth),
                                                                   (weight, g.outChannels * g.inChannels * 9),
                                                                   (gradInput, g.batch * g.inChannels * g.height * g.width)])
        gatheredBackwardData(g, b[0].pointer, b[1].pointer, b[2].pointer)
    }

    /// Validates `geometry` (throwing `shapeMismatch`), then computes gradWeight with the fast
    /// fp32 kernels directly: for a single-channel 3×3 stride-1 layer with padding ≤ 1 as nine
    /// dot products per filter over every output position (`DirectConvKernels`, the filters
    /// split over the threads); for another 3×3 padding-1 layer at stride 1 or 2 by the
    /// gathered convolution (`gatheredWeightGradient`: per tap, the output gradient times the
    /// input gathered where the tap reads inside the image); otherwise on the column path
    /// (`conv2dBackwardColumns`): per chunk of images, the columns recomputed by im2col and a
    /// GEMM per group, accumulated over the chunks in order.
    public func conv2dImplicitBackwardWeight(_ geometry: Conv2dGeometry, input: any DeviceBuffer, gradOutput: any DeviceBuffer,
                                             gradWeight: any DeviceBuffer) throws {
        let g = geometry
        try g.validate()
        let direct = runsDirectWeightGradient(g)
        guard direct || runsGathered(g) else {
            return try conv2dBackwardColumns(g, input: input, weight: gradWeight, gradOutput: gradOutput, gradInput: nil, gradWeight: gradWeight)
        }
        let name = direct ? "conv2d direct backward-weight" : "conv2d gathered backward-weight"
        let span = ProfileSpan.begin(name); defer { span?.end() }
        let b = try typedBuffers(name, [(input, g.batch * g.inChannels * g.height * g.width),
                                        (gradOutput, g.batch * g.outChannels * g.outHeight * g.outWidth),
                                        (gradWeight, g.outChannels * g.inChannels * 9)])
        let (x, dy, dw) = (UnsafePointer(b[0].pointer), UnsafePointer(b[1].pointer), b[2].pointer)
        guard direct else { return gatheredWeightGradient(g, x, dy, dw) }
        let planeSize = DirectConvKernels.planeSize(outHeight: g.outHeight, outWidth: g.outWidth)
        forParts(g.outChannels, elements: 9 * g.batch * g.outChannels * g.outHeight * g.outWidth) { filters in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: planeSize) { plane in
                plane.initialize(repeating: 0)
                DirectConvKernels.weightGradient3x3(x, dy, images: g.batch, inChannels: g.inChannels, height: g.height, width: g.width,
                                                    outChannels: g.outChannels, outHeight: g.outHeight, outWidth: g.outWidth,
                                                    padH: g.padH, padW: g.padW, filters: filters, plane: plane.baseAddress!, into: dw)
            }
        }
    }

    /// Whether the direct weight gradient runs: fp32 with the fast kernels, a single-channel 3×3
    /// stride-1 undilated layer with padding of at most 1 (an image model's first layer), where
    /// im2col + GEMM is a 9-wide product on one thread.
    func runsDirectWeightGradient(_ g: Conv2dGeometry) -> Bool {
        simd && g.inChannels == 1 && g.supportsWinograd && g.padH <= 1 && g.padW <= 1
    }

    /// Whether the backend chooses the gathered convolution (`runsGathered`) for a layer of its
    /// own accord: a stride-2 layer with at least `winogradMinimumChannels` input and output
    /// channels (wide stride-1 layers run Winograd, faster still). Measured against the column
    /// path and the shifted layout it replaced (`bench conv`, ResNet-18's stride-2 layers,
    /// fwd+bwd GFLOP/s on one thread): 77.8 / 67.8 (shifted) at 28×28 → 14×14, 95.0 / 76.2
    /// (im2col) at 14×14 → 7×7, 115.3 / 86.1 (im2col) at 7×7 → 4×4.
    func prefersGathered(_ g: Conv2dGeometry) -> Bool {
        runsGathered(g) && g.strideH == 2 && min(g.inChannels, g.outChannels) >= Self.winogradMinimumChannels
    }

    /// Scratch blocks reused across calls (Winograd's blocks, the gathered convolution's packed
    /// operands): fresh multi-MiB allocations would fault in their pages on every call.
    static let scratchCache = ScratchCache()

    /// Winograd F(2×2, 3×3) for all three passes of a 3×3 stride-1 layer with at least
    /// `winogradMinimumChannels` input and output channels, where its kernels run; as
    /// implicitGEMM, the direct weight gradient of a single-channel 3×3 stride-1 layer and the
    /// gathered convolution where `prefersGathered`; im2col + the fast GEMM for everything else
    /// (the direct loop is the reference for the OpenCL kernel). A rule, not a timing at run time, so
    /// that a training run repeats bit for bit; `bench conv` measured it (Winograd's weight
    /// gradient against an earlier implicit GEMM's and im2col's, one thread, ResNet-18's stride-1
    /// layers fwd+bwd: 43.5 / 51.0 ms at 28×28, 37.7 / 47.4 at 14×14, 41.8 / 52.4 (im2col) at
    /// 7×7, 51.0 / 64.7 (im2col) at 4×4). `SCALPEL_CONV_ALGORITHM` forces one algorithm on
    /// every pass that it can compute (to compare them inside a whole training step).
    public func conv2dAlgorithm(_ geometry: Conv2dGeometry, pass: ConvPass) -> ConvAlgorithm {
        if let forced = Self.forcedConvAlgorithm { return forced.resolved(for: pass, at: geometry) }
        if pass == .backwardWeight && runsDirectWeightGradient(geometry) { return .implicitGEMM }
        if min(geometry.inChannels, geometry.outChannels) >= Self.winogradMinimumChannels && runsWinograd(geometry) { return .winograd }
        return prefersGathered(geometry) ? .implicitGEMM : .im2colGEMM
    }

    /// `SCALPEL_CONV_ALGORITHM`, read once (a training step asks for every convolution's passes).
    static let forcedConvAlgorithm = ProcessInfo.processInfo.environment["SCALPEL_CONV_ALGORITHM"].flatMap(ConvAlgorithm.init(rawValue:))

    /// Channels (input and output) from which Winograd beats im2col + GEMM: below, its
    /// transforms cost more than the multiplies they save.
    static let winogradMinimumChannels = 16
}
