/// The im2col + GEMM path of convolution on any backend, built from its coarse ops (im2col,
/// gemm, strided copy, col2im): the reference path the other algorithms are checked and timed
/// against. It lives here, not in the tensor layer, so that a backend can time it against its
/// own kernels with exactly the calls a training step makes, and so that a backend without
/// implicit-GEMM kernels (the CPU-Swift one) can offer those operations with the same results.
extension Backend {
    /// Floats of column matrix per chunk of images when a caller does not say: 8 Mi (32 MiB),
    /// which keeps a chunk's columns warm in a CPU's caches between im2col and the GEMM.
    /// Backends whose launches cost more than the cache misses (OpenCL) take more.
    public var convColumnBudget: Int { 8 << 20 }

    /// Images per chunk so that one chunk's column matrix holds about `columnBudget` floats:
    /// memory stays bounded (one 3×3 layer of 64 channels on 128 images of 28×28 would need
    /// 231 MB of columns at once) and the columns stay warm in cache between im2col and GEMM.
    public static func convColumnChunk(_ g: Conv2dGeometry, columnBudget: Int) -> Int {
        let perImage = g.columnRows * g.outHeight * g.outWidth
        return Swift.max(1, Swift.min(g.batch, columnBudget / Swift.max(perImage, 1)))
    }

    /// output (N, K, OH, OW) = conv(input, weight), no bias: per chunk of images, im2col into a
    /// (C·R·S, n·OH·OW) matrix, one GEMM per group into (K, n·OH·OW), a permute into NCHW.
    public func conv2dForwardColumns(_ g: Conv2dGeometry, input: any DeviceBuffer, weight: any DeviceBuffer, output: any DeviceBuffer,
                                     columnBudget: Int? = nil) throws {
        let columnBudget = columnBudget ?? convColumnBudget
        let (k, groups) = (g.outChannels, g.groups)
        let spatial = g.outHeight * g.outWidth, rowsPerGroup = g.columnRows / groups, outPerGroup = k / groups
        let imageSize = g.inChannels * g.height * g.width
        try forEachColumnChunk(g, columnBudget: columnBudget) { cg, start in
            let columnsPerRow = cg.columnCount
            let columns = try makeBuffer(count: g.columnRows * columnsPerRow)
            try im2col(cg, input: input, offset: start * imageSize, columns: columns)
            let permuted = try makeBuffer(count: k * columnsPerRow)
            for group in 0 ..< groups {
                var p = GEMMParameters(m: outPerGroup, n: columnsPerRow, k: rowsPerGroup)
                p.offsetA = group * outPerGroup * rowsPerGroup
                p.offsetB = group * rowsPerGroup * columnsPerRow
                p.offsetC = group * outPerGroup * columnsPerRow
                try gemm(p, a: weight, b: columns, c: permuted)
            }
            // (K, chunk, OH·OW) → images start… of (N, K, OH·OW)
            try copy(StridedCopy(shape: [cg.batch, k, spatial], srcStrides: [spatial, columnsPerRow, 1], dstOffset: start * k * spatial,
                                 dstStrides: [k * spatial, spatial, 1]), from: permuted, to: output)
        }
    }

    /// Runs `body` on each chunk of images whose columns fit `columnBudget` floats: the chunk's
    /// geometry (its batch the chunk's size) and its first image.
    private func forEachColumnChunk(_ g: Conv2dGeometry, columnBudget: Int, _ body: (Conv2dGeometry, Int) throws -> Void) throws {
        let chunk = Self.convColumnChunk(g, columnBudget: columnBudget)
        for start in Swift.stride(from: 0, to: g.batch, by: chunk) {
            var cg = g
            cg.batch = Swift.min(chunk, g.batch - start)
            try body(cg, start)
        }
    }

    /// The gradients of `conv2dForwardColumns`, per chunk of images: gradWeight (K, C/groups, R, S)
    /// is one GEMM per group against the recomputed columns, accumulated over chunks;
    /// gradInput (N, C, H, W) a GEMM per group and col2im. Either may be nil (not computed);
    /// both are overwritten.
    public func conv2dBackwardColumns(_ g: Conv2dGeometry, input: any DeviceBuffer, weight: any DeviceBuffer, gradOutput: any DeviceBuffer,
                                      gradInput: (any DeviceBuffer)?, gradWeight: (any DeviceBuffer)?, columnBudget: Int? = nil) throws {
        let columnBudget = columnBudget ?? convColumnBudget
        let (k, groups) = (g.outChannels, g.groups)
        let spatial = g.outHeight * g.outWidth, rowsPerGroup = g.columnRows / groups, outPerGroup = k / groups
        let imageSize = g.inChannels * g.height * g.width
        try forEachColumnChunk(g, columnBudget: columnBudget) { cg, start in
            let columnsPerRow = cg.columnCount
            // dOut of these images (chunk, K, OH·OW) → (K, chunk·OH·OW), the layout the GEMMs want.
            let gradPermuted = try makeBuffer(count: k * columnsPerRow)
            try copy(StridedCopy(shape: [k, cg.batch, spatial], srcOffset: start * k * spatial, srcStrides: [spatial, k * spatial, 1],
                                 dstStrides: [columnsPerRow, spatial, 1]), from: gradOutput, to: gradPermuted)
            if let gradWeight {
                // Recomputing the columns costs less than keeping them for every image.
                let columns = try makeBuffer(count: g.columnRows * columnsPerRow)
                try im2col(cg, input: input, offset: start * imageSize, columns: columns)
                for group in 0 ..< groups {
                    var p = GEMMParameters(m: outPerGroup, n: rowsPerGroup, k: columnsPerRow, transB: true, beta: start == 0 ? 0 : 1)
                    p.offsetA = group * outPerGroup * columnsPerRow
                    p.offsetB = group * rowsPerGroup * columnsPerRow
                    p.offsetC = group * outPerGroup * rowsPerGroup
                    try gemm(p, a: gradPermuted, b: columns, c: gradWeight)
                }
            }
            if let gradInput {
                let gradColumns = try makeBuffer(count: g.columnRows * columnsPerRow)
                for group in 0 ..< groups {
                    var p = GEMMParameters(m: rowsPerGroup, n: columnsPerRow, k: outPerGroup, transA: true)
                    p.offsetA = group * outPerGroup * rowsPerGroup
                    p.offsetB = group * outPerGroup * columnsPerRow
                    p.offsetC = group * rowsPerGroup * columnsPerRow
                    try gemm(p, a: weight, b: gradPermuted, c: gradColumns)
                }
                try col2im(cg, columns: gradColumns, gradInput: gradInput, offset: start * imageSize)
            }
        }
    }

    /// The implicit-GEMM forward contract computed on the column path: conv, then the bias
    /// broadcast over (N, ·, OH, OW), then ReLU. For backends without implicit-GEMM kernels.
    public func conv2dImplicitForwardByColumns(_ g: Conv2dGeometry, input: any DeviceBuffer, weight: any DeviceBuffer,
                                               bias: (any DeviceBuffer)?, relu: Bool, output: any DeviceBuffer) throws {
        try g.validate()
        try conv2dForwardColumns(g, input: input, weight: weight, output: output)
        let shape = [g.batch, g.outChannels, g.outHeight * g.outWidth]
        if let bias {
            try binary(.add, a: output, b: bias, out: output, layout: BroadcastLayout(shape, [g.outChannels, 1], op: "conv2d bias"))
        }
        if relu { try unary(.relu, x: output, y: output, count: shape.reduce(1, *)) }
    }

    /// Winograd's forward contract on the column path: what a backend without Winograd kernels
    /// runs (`conv2dImplicitForwardByColumns`).
    public func conv2dWinogradForward(_ geometry: Conv2dGeometry, input: any DeviceBuffer, weight: any DeviceBuffer,
                                      bias: (any DeviceBuffer)?, relu: Bool, output: any DeviceBuffer) throws {
        try conv2dImplicitForwardByColumns(geometry, input: input, weight: weight, bias: bias, relu: relu, output: output)
    }

    /// Winograd's input-gradient contract on the column path (`conv2dBackwardColumns`): what a
    /// backend without Winograd kernels runs.
    public func conv2dWinogradBackwardData(_ geometry: Conv2dGeometry, gradOutput: any DeviceBuffer, weight: any DeviceBuffer,
                                           gradInput: any DeviceBuffer) throws {
        try geometry.validate()
        try conv2dBackwardColumns(geometry, input: gradInput, weight: weight, gradOutput: gradOutput, gradInput: gradInput, gradWeight: nil)
    }

    /// Winograd's weight-gradient contract on the column path (`conv2dBackwardColumns`): what a
    /// backend without Winograd kernels runs.
    public func conv2dWinogradBackwardWeight(_ geometry: Conv2dGeometry, input: any DeviceBuffer, gradOutput: any DeviceBuffer,
                                             gradWeight: any DeviceBuffer) throws {
        try geometry.validate()
        try conv2dBackwardColumns(geometry, input: input, weight: gradWeight, gradOutput: gradOutput, gradInput: nil, gradWeight: gradWeight)
    }
}
