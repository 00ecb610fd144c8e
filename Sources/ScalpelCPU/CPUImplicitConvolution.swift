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

    /// The CPU keeps im2col + its fast GEMM for every pass (the direct loop is the reference
    /// for the OpenCL kernel).
    public func conv2dAlgorithm(_ geometry: Conv2dGeometry, pass: ConvPass) -> ConvAlgorithm { .im2colGEMM }
}
