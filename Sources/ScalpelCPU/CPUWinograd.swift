import ScalpelCore
import ScalpelCPUKernels

/// Winograd F(2×2, 3×3) on the CPU-Swift backend: the transforms of `WinogradKernels`, split
/// over the worker threads by channel, around 16 GEMMs of the fast GEMM per chunk of images.
extension CPUBackend {
    /// Whether Winograd's kernels run: fp32 with the fast kernels, at a geometry that
    /// `supportsWinograd`.
    func runsWinograd(_ g: Conv2dGeometry) -> Bool {
        simd && g.supportsWinograd
    }

    /// Floats of transformed inputs and products per chunk of images: 4 Mi (16 MiB), so that a
    /// chunk's 16 matrices stay in the last-level cache between the transforms and the GEMMs.
    static let winogradChunkBudget = 4 << 20

    /// By Winograd F(2×2, 3×3) where it `runsWinograd` (the filters transformed once, then per
    /// chunk of images: the input transform, 16 GEMMs, the output transform with the bias and
    /// ReLU); elsewhere the column path, `conv2dImplicitForwardByColumns`. Throws
    /// `shapeMismatch` for an invalid geometry or a buffer too short.
    public func conv2dWinogradForward(_ geometry: Conv2dGeometry, input: any DeviceBuffer, weight: any DeviceBuffer,
                                      bias: (any DeviceBuffer)?, relu: Bool, output: any DeviceBuffer) throws {
        let g = geometry
        try g.validate()
        guard runsWinograd(g) else {
            return try conv2dImplicitForwardByColumns(g, input: input, weight: weight, bias: bias, relu: relu, output: output)
        }
        let span = ProfileSpan.begin("winograd forward"); defer { span?.end() }
        let (c, k) = (g.inChannels, g.outChannels)
        let b = try typedBuffers("conv2d winograd", [(input, g.batch * c * g.height * g.width), (weight, k * c * 9),
                                                     (output, g.batch * k * g.outHeight * g.outWidth)])
        let biasPointer = try bias.map { try typedBuffers("conv2d winograd bias", [($0, k)])[0].pointer }
        try winograd(images: g.batch, inChannels: c, height: g.height, width: g.width, padH: g.padH, padW: g.padW,
                     outChannels: k, outHeight: g.outHeight, outWidth: g.outWidth,
                     input: b[0].pointer, filters: { u, rows in
                         WinogradKernels.transformFilters(b[1].pointer, outChannels: k, inChannels: c, flipped: false, rows: rows, into: u)
                     },
                     bias: biasPointer.map { UnsafePointer($0) }, relu: relu, output: b[2].pointer)
    }

    /// By Winograd F(2×2, 3×3) where it `runsWinograd`: the input gradient is the 3×3 stride-1
    /// convolution of the output gradient, padded by 2 − padding, with each filter rotated by
    /// 180° and the channel axes swapped. Elsewhere the column path. Throws `shapeMismatch` for
    /// an invalid geometry or a buffer too short.
    public func conv2dWinogradBackwardData(_ geometry: Conv2dGeometry, gradOutput: any DeviceBuffer, weight: any DeviceBuffer,
                                           gradInput: any DeviceBuffer) throws {
        let g = geometry
        try g.validate()
        guard runsWinograd(g) else {
            return try conv2dBackwardColumns(g, input: gradInput, weight: weight, gradOutput: gradOutput, gradInput: gradInput, gradWeight: nil)
        }
        let span = ProfileSpan.begin("winograd backward-data"); defer { span?.end() }
        let (c, k) = (g.inChannels, g.outChannels)
        let b = try typedBuffers("conv2d winograd backward-data", [(gradOutput, g.batch * k * g.outHeight * g.outWidth), (weight, k * c * 9),
                                                                   (gradInput, g.batch * c * g.height * g.width)])
        try winograd(images: g.batch, inChannels: k, height: g.outHeight, width: g.outWidth, padH: 2 - g.padH, padW: 2 - g.padW,
                     outChannels: c, outHeight: g.height, outWidth: g.width,
                     input: b[0].pointer, filters: { u, rows in
                         WinogradKernels.transformFilters(b[1].pointer, outChannels: k, inChannels: c, flipped: true, rows: rows, into: u)
                     },
                     bias: nil, relu: false, output: b[2].pointer)
    }

    /// One 3×3 stride-1 convolution of `input` (images, inChannels, height, width) padded by
    /// (padH, padW) into `output` (images, outChannels, outHeight, outWidth): `filters(u, rows)`
    /// writes the given rows of the 16 transformed outChannels×inChannels filter matrices.
    private func winograd(images: Int, inChannels: Int, height: Int, width: Int, padH: Int, padW: Int,
                          outChannels: Int, outHeight: Int, outWidth: Int,
                          input: UnsafePointer<Float>, filters: (UnsafeMutablePointer<Float>, Range<Int>) -> Void,
                          bias: UnsafePointer<Float>?, relu: Bool, output: UnsafeMutablePointer<Float>) throws {
        let points = WinogradKernels.points
        let tilesH = WinogradKernels.tiles(outHeight), tilesW = WinogradKernels.tiles(outWidth)
        let tilesPerImage = tilesH * tilesW
        let chunk = max(1, min(images, Self.winogradChunkBudget / max(1, points * (inChannels + outChannels) * tilesPerImage)))
        let uStride = WinogradKernels.matrixStride(outChannels * inChannels)
        let u = try makeBuffer(count: points * uStride)
        let uPointer = try storage(u, op: "winograd").pointer
        do {
            let span = ProfileSpan.begin("winograd filter transform"); defer { span?.end() }
            forParts(outChannels, elements: points * outChannels * inChannels) { rows in filters(uPointer, rows) }
        }
        let tileCapacity = chunk * tilesPerImage
        let v = try makeBuffer(count: points * WinogradKernels.matrixStride(inChannels * tileCapacity))
        let m = try makeBuffer(count: points * WinogradKernels.matrixStride(outChannels * tileCapacity) + WinogradKernels.productSlack)
        let (vPointer, mPointer) = (try storage(v, op: "winograd").pointer, try storage(m, op: "winograd").pointer)
        let planeSize = WinogradKernels.paddedHeight(tilesH: tilesH) * WinogradKernels.paddedWidth(tilesW: tilesW)
        let inputImage = inChannels * height * width, outputImage = outChannels * outHeight * outWidth
        for start in stride(from: 0, to: images, by: chunk) {
            let n = min(chunk, images - start)
            let tiles = n * tilesPerImage
            var span = ProfileSpan.begin("winograd input transform")
            forParts(inChannels, elements: points * inChannels * tiles) { channels in
                withUnsafeTemporaryAllocation(of: Float.self, capacity: planeSize) { plane in
                    plane.initialize(repeating: 0)
                    WinogradKernels.transformInput(input + start * inputImage, images: n, channels: inChannels, height: height, width: width,
                                                   padH: padH, padW: padW, tilesH: tilesH, tilesW: tilesW, channelRange: channels,
                                                   plane: plane.baseAddress!, into: vPointer)
                }
            }
            span?.end()
            // M[ξ] (outChannels × tiles) = U[ξ] (outChannels × inChannels) · V[ξ] (inChannels × tiles).
            var p = GEMMParameters(m: outChannels, n: tiles, k: inChannels, batch: points)
            p.strideA = uStride
            p.strideB = WinogradKernels.matrixStride(inChannels * tiles)
            p.strideC = WinogradKernels.matrixStride(outChannels * tiles)
            try gemm(p, a: u, b: v, c: m)
            span = ProfileSpan.begin("winograd output transform")
            forParts(outChannels, elements: points * outChannels * tiles) { channels in
                WinogradKernels.transformOutput(mPointer, images: n, channels: outChannels, outHeight: outHeight, outWidth: outWidth,
                                                tilesH: tilesH, tilesW: tilesW, channelRange: channels, bias: bias, relu: relu,
                                                into: output + start * outputImage)
            }
            span?.end()
        }
    }
}
