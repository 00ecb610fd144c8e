import Foundation
import ScalpelCore
import ScalpelCPUKernels

/// The implicit-GEMM convolution operations on the CPU-Swift backend: computed on its column
/// path (im2col and its fast GEMM), so results are those of the convolution it always ran —
/// except the weight gradient of a single-channel 3×3 stride-1 layer, computed directly.
extension CPUBackend {
    /// Runs `conv2dImplicitForwardByColumns`: im2col, a GEMM per group and a permute for each chunk
    /// of images, then the bias and the ReLU as separate element-wise passes; throws
    /// `shapeMismatch` for an invalid geometry.
    public func conv2dImplicitForward(_ geometry: Conv2dGeometry, input: any DeviceBuffer, weight: any DeviceBuffer,
                                      bias: (any DeviceBuffer)?, relu: Bool, output: any DeviceBuffer) throws {
        try conv2dImplicitForwardByColumns(geometry, input: input, weight: weight, bias: bias, relu: relu, output: output)
    }

    /// Validates `geometry` (throwing `shapeMismatch`), then computes gradInput on the column path
    /// (`conv2dBackwardColumns`): per chunk of images, a GEMM per group against the weight, then
    /// col2im.
    public func conv2dImplicitBackwardData(_ geometry: Conv2dGeometry, gradOutput: any DeviceBuffer, weight: any DeviceBuffer,
                                           gradInput: any DeviceBuffer) throws {
        try geometry.validate()
        try conv2dBackwardColumns(geometry, input: gradInput, weight: weight, gradOutput: gradOutput, gradInput: gradInput, gradWeight: nil)
    }

    /// Validates `geometry` (throwing `shapeMismatch`), then computes gradWeight: for a 3×3
    /// stride-1 layer with the fast fp32 kernels, directly — a single-channel one as nine dot
    /// products per filter over every output position (the filters split over the threads), a
    /// wide one with padding 1 as dot products along the shifted layout of the input and the
    /// output gradient (`DirectConvKernels`, the input channels split over the threads);
    /// otherwise on the column path (`conv2dBackwardColumns`): per chunk of images, the columns
    /// recomputed by im2col and a GEMM per group, accumulated over the chunks in order.
    public func conv2dImplicitBackwardWeight(_ geometry: Conv2dGeometry, input: any DeviceBuffer, gradOutput: any DeviceBuffer,
                                             gradWeight: any DeviceBuffer) throws {
        let g = geometry
        try g.validate()
        guard runsDirectWeightGradient(g) || runsShiftedWeightGradient(g) else {
            return try conv2dBackwardColumns(g, input: input, weight: gradWeight, gradOutput: gradOutput, gradInput: nil, gradWeight: gradWeight)
        }
        let span = ProfileSpan.begin("conv2d direct backward-weight"); defer { span?.end() }
        let b = try typedBuffers("conv2d direct backward-weight", [(input, g.batch * g.inChannels * g.height * g.width),
                                                                   (gradOutput, g.batch * g.outChannels * g.outHeight * g.outWidth),
                                                                   (gradWeight, g.outChannels * g.inChannels * 9)])
        let (x, dy, dw) = (UnsafePointer(b[0].pointer), UnsafePointer(b[1].pointer), b[2].pointer)
        if runsShiftedWeightGradient(g) {
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

    /// The wide direct weight gradient: x and dY copied into the shifted layout (in the shared
    /// scratch), then the dot products, each thread its own input channels.
    private func shiftedWeightGradient(_ g: Conv2dGeometry, _ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dw: UnsafeMutablePointer<Float>) {
        let (c, k) = (g.inChannels, g.outChannels)
        let pitch = DirectConvKernels.shiftedPitch(width: g.width)
        let length = DirectConvKernels.shiftedLength(images: g.batch, height: g.height, width: g.width)
        let margin = DirectConvKernels.shiftedMargin(width: g.width)
        let planeStride = DirectConvKernels.shiftedInputPlane(images: g.batch, height: g.height, width: g.width)
        let scratch = Self.scratchCache.take(count: c * planeStride + k * length)
        defer { Self.scratchCache.give(scratch) }
        let (xs, ds) = (scratch.pointer, scratch.pointer + c * planeStride)
        forParts(c, elements: c * planeStride) { channels in
            DirectConvKernels.layOutShifted(x, images: g.batch, channelCount: c, height: g.height, width: g.width, channels: channels,
                                            margin: margin, planeStride: planeStride, into: xs)
        }
        forParts(k, elements: k * length) { channels in
            DirectConvKernels.layOutShifted(dy, images: g.batch, channelCount: k, height: g.outHeight, width: g.outWidth, channels: channels,
                                            margin: 0, planeStride: length, into: ds)
        }
        forParts(c, elements: 9 * k * c * length) { channels in
            DirectConvKernels.weightGradient3x3Shifted(xs, planeStride: planeStride, margin: margin, ds, length: length, pitch: pitch,
                                                       outChannels: k, inChannels: c, channels: channels, into: dw)
        }
    }

    /// Whether the direct weight gradient runs: fp32 with the fast kernels, a single-channel 3×3
    /// stride-1 undilated layer with padding of at most 1 (an image model's first layer), where
    /// im2col + GEMM is a 9-wide product on one thread.
    func runsDirectWeightGradient(_ g: Conv2dGeometry) -> Bool {
        simd && g.inChannels == 1 && g.supportsWinograd && g.padH <= 1 && g.padW <= 1
    }

    /// Whether the wide direct weight gradient runs: fp32 with the fast kernels, a 3×3 stride-1
    /// undilated layer with padding 1 (outputs the input's size), at least
    /// `winogradMinimumChannels` input channels and planes of at least `shiftedMinimumPlane`
    /// positions (on smaller planes the layout's zero row and column are too large a share).
    func runsShiftedWeightGradient(_ g: Conv2dGeometry) -> Bool {
        simd && g.supportsWinograd && g.padH == 1 && g.padW == 1 && g.inChannels >= Self.winogradMinimumChannels
            && g.height * g.width >= Self.shiftedMinimumPlane
    }

    /// Positions per plane from which the wide direct weight gradient beats im2col + GEMM.
    /// Measured (`bench conv`, one thread, ResNet-18's layers): 28×28 and 14×14 faster (stage 1
    /// fwd+bwd 82.7 → 49.0 ms), 7×7 even, 4×4 slower (65.3 → 74.7 ms).
    static let shiftedMinimumPlane = 196

    /// Scratch blocks reused across calls (Winograd's blocks, the shifted layouts): fresh
    /// multi-MiB allocations would fault in their pages on every call.
    static let scratchCache = ScratchCache()

    /// Winograd F(2×2, 3×3) for the forward and input-gradient passes of a 3×3 stride-1 layer
    /// with at least `winogradMinimumChannels` input and output channels, where its kernels run;
    /// the direct weight gradient (as implicitGEMM) of a single-channel 3×3 stride-1 layer;
    /// im2col + the fast GEMM for everything else (the direct loop is the reference for the
    /// OpenCL kernel). A rule, not a timing at run time, so that a training run repeats bit for
    /// bit; `bench conv` measured it. `SCALPEL_CONV_ALGORITHM` forces one algorithm on every pass
    /// that it can compute (to compare them inside a whole training step).
    public func conv2dAlgorithm(_ geometry: Conv2dGeometry, pass: ConvPass) -> ConvAlgorithm {
        if let forced = Self.forcedConvAlgorithm { return forced.resolved(for: pass, at: geometry) }
        if pass == .backwardWeight && (runsDirectWeightGradient(geometry) || runsShiftedWeightGradient(geometry)) { return .implicitGEMM }
        let wide = min(geometry.inChannels, geometry.outChannels) >= Self.winogradMinimumChannels
        return pass != .backwardWeight && wide && runsWinograd(geometry) ? .winograd : .im2colGEMM
    }

    /// `SCALPEL_CONV_ALGORITHM`, read once (a training step asks for every convolution's passes).
    static let forcedConvAlgorithm = ProcessInfo.processInfo.environment["SCALPEL_CONV_ALGORITHM"].flatMap(ConvAlgorithm.init(rawValue:))

    /// Channels (input and output) from which Winograd beats im2col + GEMM: below, its
    /// transforms cost more than the multiplies they save.
    static let winogradMinimumChannels = 16
}
