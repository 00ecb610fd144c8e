import Foundation
import ScalpelCore

/// The implicit-GEMM convolution operations on the CPU-Swift backend: computed on its column
/// path (im2col and its fast GEMM), so results are those of the convolution it always ran.
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

    /// Validates `geometry` (throwing `shapeMismatch`), then computes gradWeight on the column path
    /// (`conv2dBackwardColumns`): per chunk of images, the columns recomputed by im2col and a GEMM
    /// per group, accumulated over the chunks in order.
    public func conv2dImplicitBackwardWeight(_ geometry: Conv2dGeometry, input: any DeviceBuffer, gradOutput: any DeviceBuffer,
                                             gradWeight: any DeviceBuffer) throws {
        try geometry.validate()
        try conv2dBackwardColumns(geometry, input: input, weight: gradWeight, gradOutput: gradOutput, gradInput: nil, gradWeight: gradWeight)
    }

    /// Winograd F(2×2, 3×3) for the forward and input-gradient passes of a 3×3 stride-1 layer
    /// with at least `winogradMinimumChannels` input and output channels, where its kernels run;
    /// im2col + the fast GEMM for everything else (the direct loop is the reference for the
    /// OpenCL kernel). A rule, not a timing at run time, so that a training run repeats bit for
    /// bit; `bench conv` measured it. `SCALPEL_CONV_ALGORITHM` forces one algorithm on every pass
    /// that it can compute (to compare them inside a whole training step).
    public func conv2dAlgorithm(_ geometry: Conv2dGeometry, pass: ConvPass) -> ConvAlgorithm {
        if let forced = Self.forcedConvAlgorithm { return forced.resolved(for: pass, at: geometry) }
        let wide = min(geometry.inChannels, geometry.outChannels) >= Self.winogradMinimumChannels
        return pass != .backwardWeight && wide && runsWinograd(geometry) ? .winograd : .im2colGEMM
    }

    /// `SCALPEL_CONV_ALGORITHM`, read once (a training step asks for every convolution's passes).
    static let forcedConvAlgorithm = ProcessInfo.processInfo.environment["SCALPEL_CONV_ALGORITHM"].flatMap(ConvAlgorithm.init(rawValue:))

    /// Channels (input and output) from which Winograd beats im2col + GEMM: below, its
    /// transforms cost more than the multiplies they save.
    static let winogradMinimumChannels = 16
}
