import Foundation
import ScalpelCore
import ScalpelCPUKernels

/// The implicit-GEMM convolution operations on the CPU-Swift backend: the shifted layout
/// (`CPUShiftedConvolution`) for 3×3 padding-1 layers at stride 1 or 2, the direct weight
/// gradient of a single-channel 3×3 stride-1 layer, and the column path (im2col and the fast
/// GEMM) for every other geometry — and the rule that picks among all the CPU's algorithms.
extension CPUBackend {
    /// Validates `geometry` (throwing `shapeMismatch`), then computes the convolution plus the
    /// bias, then ReLU: for a 3×3, padding-1 layer with stride 1 or 2 and the fast fp32 kernels,
    /// on the shifted layout (`shiftedForward`: the input copied once by phase, the GEMM reading
    /// it in place at the taps' offsets); otherwise `conv2dImplicitForwardByColumns` (im2col, a
    /// GEMM per group and a permute per chunk of images, the bias and ReLU as separate passes).
    public func conv2dImplicitForward(_ geometry: Conv2dGeometry, input: any DeviceBuffer, weight: any DeviceBuffer,
                                      bias: (any DeviceBuffer)?, relu: Bool, output: any DeviceBuffer) throws {
        let g = geometry
        try g.validate()
        guard runsShifted(g) else {
            return try conv2dImplicitForwardByColumns(g, input: input, weight: weight, bias: bias, relu: relu, output: output)
        }
        let span = ProfileSpan.begin("conv2d shifted forward"); defer { span?.end() }
        let b = try typedBuffers("conv2d shifted forward", [(input, g.batch * g.inChannels * g.height * g.width), (weight, g.outChannels * g.inChannels * 9),
                                                            (output, g.batch * g.outChannels * g.outHeight * g.outWidth)])
        let biasPointer = try bias.map { try typedBuffers("conv2d shifted forward bias", [($0, g.outChannels)])[0].pointer }
        shiftedForward(g, b[0].pointer, b[1].pointer, bias: biasPointer.map { UnsafePointer($0) }, relu: relu, b[2].pointer)
    }

    /// Validates `geometry` (throwing `shapeMismatch`), then computes gradInput: for a 3×3,
    /// padding-1 layer with stride 1 or 2 and the fast fp32 kernels, on the shifted layout
    /// (`shiftedBackwardData`: one GEMM per phase of the input); otherwise on the column path
    /// (`conv2dBackwardColumns`): per chunk of images, a GEMM per group against the weight, then
    /// col2im.
    public func conv2dImplicitBackwardData(_ geometry: Conv2dGeometry, gradOutput: any DeviceBuffer, weight: any DeviceBuffer,
                                           gradInput: any DeviceBuffer) throws {
        let g = geometry
        try g.validate()
        guard runsShifted(g) else {
            return try conv2dBackwardColumns(g, input: gradInput, weight: weight, gradOutput: gradOutput, gradInput: gradInput, gradWeight: nil)
        }
        let span = ProfileSpan.begin("conv2d shifted backward-data"); defer { span?.end() }
        let b = try typedBuffers("conv2d shifted backward-data", [(gradOutput, g.batch * g.outChannels * g.outHeight * g.outWidth),
                                                                  (weight, g.outChannels * g.inChannels * 9),
                                                                  (gradInput, g.batch * g.inChannels * g.height * g.width)])
        shiftedBackwardData(g, b[0].pointer, b[1].pointer, b[2].pointer)
    }

    /// Validates `geometry` (throwing `shapeMismatch`), then computes gradWeight with the fast
    /// fp32 kernels directly: for a single-channel 3×3 stride-1 layer with padding ≤ 1 as nine
    /// dot products per filter over every output position (`DirectConvKernels`, the filters
    /// split over the threads); for another 3×3 padding-1 layer at stride 1 or 2 as dot products
    /// along the shifted layout of the input and the output gradient (`shiftedWeightGradient`,
    /// the input channels split over the threads); otherwise on the column path
    /// (`conv2dBackwardColumns`): per chunk of images, the columns recomputed by im2col and a
    /// GEMM per group, accumulated over the chunks in order.
    public func conv2dImplicitBackwardWeight(_ geometry: Conv2dGeometry, input: any DeviceBuffer, gradOutput: any DeviceBuffer,
                                             gradWeight: any DeviceBuffer) throws {
        let g = geometry
        try g.validate()
        guard runsDirectWeightGradient(g) || runsShifted(g) else {
            return try conv2dBackwardColumns(g, input: input, weight: gradWeight, gradOutput: gradOutput, gradInput: nil, gradWeight: gradWeight)
        }
        let span = ProfileSpan.begin("conv2d direct backward-weight"); defer { span?.end() }
        let b = try typedBuffers("conv2d direct backward-weight", [(input, g.batch * g.inChannels * g.height * g.width),
                                                                   (gradOutput, g.batch * g.outChannels * g.outHeight * g.outWidth),
                                                                   (gradWeight, g.outChannels * g.inChannels * 9)])
        let (x, dy, dw) = (UnsafePointer(b[0].pointer), UnsafePointer(b[1].pointer), b[2].pointer)
        if !runsDirectWeightGradient(g) {
            return shiftedWeightGradient(g, x, dy, dw)
        }
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

    /// Whether the backend chooses the shifted layout (`runsShifted`) for a layer of its own
    /// accord: a stride-2 layer with at least `winogradMinimumChannels` input and output
    /// channels and output planes of at least `shiftedMinimumPlane` positions (on smaller planes
    /// the layout's zero row and column are too large a share). Wide stride-1 layers run
    /// Winograd on all three passes, faster still.
    func prefersShifted(_ g: Conv2dGeometry) -> Bool {
        runsShifted(g) && g.strideH == 2 && min(g.inChannels, g.outChannels) >= Self.winogradMinimumChannels
            && g.outHeight * g.outWidth >= Self.shiftedMinimumPlane
    }

    /// Output positions per plane from which the shifted layout beats im2col + GEMM at stride 2.
    /// Measured (`bench conv --algorithms implicitGEMM,im2colGEMM`, one thread, ResNet-18's layers
    /// at 28×28): 14×14 outputs faster (fwd+bwd 47.4 → 40.7 ms), 7×7 and 4×4 slower (38.4 → 45.0,
    /// 43.1 → 71.7 ms).
    static let shiftedMinimumPlane = 196

    /// Scratch blocks reused across calls (Winograd's blocks, the shifted layouts): fresh
    /// multi-MiB allocations would fault in their pages on every call.
    static let scratchCache = ScratchCache()

    /// Winograd F(2×2, 3×3) for all three passes of a 3×3 stride-1 layer with at least
    /// `winogradMinimumChannels` input and output channels, where its kernels run; as
    /// implicitGEMM, the direct weight gradient of a single-channel 3×3 stride-1 layer and the
    /// shifted layout where `prefersShifted`; im2col + the fast GEMM for everything else (the
    /// direct loop is the reference for the OpenCL kernel). A rule, not a timing at run time, so
    /// that a training run repeats bit for bit; `bench conv` measured it (Winograd's weight
    /// gradient against the shifted layout's and im2col's, one thread, ResNet-18's stride-1
    /// layers fwd+bwd: 43.5 / 51.0 ms at 28×28, 37.7 / 47.4 at 14×14, 41.8 / 52.4 (im2col) at
    /// 7×7, 51.0 / 64.7 (im2col) at 4×4). `SCALPEL_CONV_ALGORITHM` forces one algorithm on
    /// every pass that it can compute (to compare them inside a whole training step).
    public func conv2dAlgorithm(_ geometry: Conv2dGeometry, pass: ConvPass) -> ConvAlgorithm {
        if let forced = Self.forcedConvAlgorithm { return forced.resolved(for: pass, at: geometry) }
        if pass == .backwardWeight && runsDirectWeightGradient(geometry) { return .implicitGEMM }
        if min(geometry.inChannels, geometry.outChannels) >= Self.winogradMinimumChannels && runsWinograd(geometry) { return .winograd }
        return prefersShifted(geometry) ? .implicitGEMM : .im2colGEMM
    }

    /// `SCALPEL_CONV_ALGORITHM`, read once (a training step asks for every convolution's passes).
    static let forcedConvAlgorithm = ProcessInfo.processInfo.environment["SCALPEL_CONV_ALGORITHM"].flatMap(ConvAlgorithm.init(rawValue:))

    /// Channels (input and output) from which Winograd beats im2col + GEMM: below, its
    /// transforms cost more than the multiplies they save.
    static let winogradMinimumChannels = 16
}
