import ScalpelCore

// Convolution and pooling on NCHW tensors.
extension Tensor {
    /// 2-D convolution of self (N, C, H, W) with weight (K, C/groups, R, S) and optional bias (K):
    /// per chunk of images, im2col into a (C·R·S, n·OH·OW) matrix, one GEMM per group into
    /// (K, n·OH·OW), a permute into (N, K, OH, OW). Gradients: the weight's is one GEMM per group
    /// and chunk against the (recomputed) columns, accumulated; the input's a GEMM and col2im.
    ///
    /// - algorithm: how the forward pass is computed; nil lets the backend choose
    ///   (`conv2dForwardAlgorithm`). The self-test forces each in turn. The backward pass is the
    ///   same for both.
    public func conv2d(weight: Tensor, bias: Tensor? = nil, stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
                       dilation: (Int, Int) = (1, 1), groups: Int = 1, columnBudget: Int = 8 << 20,
                       algorithm: ConvAlgorithm? = nil) throws -> Tensor {
        try sameBackend(weight, "conv2d")
        guard rank == 4, weight.rank == 4 else {
            throw ScalpelError.shapeMismatch(op: "conv2d", detail: "needs input (N, C, H, W) and weight (K, C/groups, R, S), got \(shape) and \(weight.shape)")
        }
        let g = Conv2dGeometry(batch: shape[0], inChannels: shape[1], height: shape[2], width: shape[3], outChannels: weight.shape[0],
                               kernel: (weight.shape[2], weight.shape[3]), stride: stride, padding: padding, dilation: dilation, groups: groups)
        try g.validate()
        guard weight.shape[1] * groups == shape[1] else {
            throw ScalpelError.shapeMismatch(op: "conv2d", detail: "weight \(weight.shape) expects \(weight.shape[1] * groups) input channels with \(groups) group(s), the input has \(shape[1])")
        }
        let (n, k, oh, ow) = (g.batch, g.outChannels, g.outHeight, g.outWidth)
        let spatial = oh * ow, rowsPerGroup = g.columnRows / groups, outPerGroup = k / groups
        // Images are processed in chunks whose column matrix stays near `columnBudget` floats
        // (default 8 Mi): memory
        // stays bounded (one 3×3 layer of 64 channels on 128 images of 28×28 would need 231 MB
        // of columns at once) and the columns stay warm in cache between im2col and the GEMMs.
        let perImage = g.columnRows * spatial
        let chunk = Swift.max(1, Swift.min(n, columnBudget / Swift.max(perImage, 1)))
        let imageSize = g.inChannels * g.height * g.width
        let out = try Tensor.empty([n, k, oh, ow], on: backend)
        if (algorithm ?? backend.conv2dForwardAlgorithm(g)) == .direct {
            try backend.conv2dDirect(g, input: storage, weight: weight.storage, output: out.storage)
        } else {
            for start in Swift.stride(from: 0, to: n, by: chunk) {
                var cg = g
                cg.batch = Swift.min(chunk, n - start)
                let columnsPerRow = cg.columnCount
                let columns = try backend.makeBuffer(count: g.columnRows * columnsPerRow)
                try backend.im2col(cg, input: storage, offset: start * imageSize, columns: columns)
                let permuted = try backend.makeBuffer(count: k * columnsPerRow)
                for group in 0 ..< groups {
                    var p = GEMMParameters(m: outPerGroup, n: columnsPerRow, k: rowsPerGroup)
                    p.offsetA = group * outPerGroup * rowsPerGroup
                    p.offsetB = group * rowsPerGroup * columnsPerRow
                    p.offsetC = group * outPerGroup * columnsPerRow
                    try backend.gemm(p, a: weight.storage, b: columns, c: permuted)
                }
                // (K, chunk, OH·OW) → images start… of (N, K, OH·OW)
                try backend.copy(StridedCopy(shape: [cg.batch, k, spatial], srcStrides: [spatial, columnsPerRow, 1], dstOffset: start * k * spatial,
                                             dstStrides: [k * spatial, spatial, 1]), from: permuted, to: out.storage)
            }
        }
        let x = self
        let convolved = Tensor.record(out, "conv2d", [x, weight]) { [backend] grad in
            let dw = weight.requiresGrad ? try Tensor.empty(weight.shape, on: backend) : nil
            let dx = x.requiresGrad ? try Tensor.empty(x.shape, on: backend) : nil
            for start in Swift.stride(from: 0, to: n, by: chunk) {
                var cg = g
                cg.batch = Swift.min(chunk, n - start)
                let columnsPerRow = cg.columnCount
                // dOut of these images (chunk, K, OH·OW) → (K, chunk·OH·OW), the layout the GEMMs want.
                let gradPermuted = try backend.makeBuffer(count: k * columnsPerRow)
                try backend.copy(StridedCopy(shape: [k, cg.batch, spatial], srcOffset: start * k * spatial, srcStrides: [spatial, k * spatial, 1],
                                             dstStrides: [columnsPerRow, spatial, 1]), from: grad.storage, to: gradPermuted)
                if let dw {
                    // Recomputing the columns costs less than keeping them for every image.
                    let columns = try backend.makeBuffer(count: g.columnRows * columnsPerRow)
                    try backend.im2col(cg, input: x.storage, offset: start * imageSize, columns: columns)
                    for group in 0 ..< groups {
                        var p = GEMMParameters(m: outPerGroup, n: rowsPerGroup, k: columnsPerRow, transB: true, beta: start == 0 ? 0 : 1)
                        p.offsetA = group * outPerGroup * columnsPerRow
                        p.offsetB = group * rowsPerGroup * columnsPerRow
                        p.offsetC = group * outPerGroup * rowsPerGroup
                        try backend.gemm(p, a: gradPermuted, b: columns, c: dw.storage)
                    }
                }
                if let dx {
                    let gradColumns = try backend.makeBuffer(count: g.columnRows * columnsPerRow)
                    for group in 0 ..< groups {
                        var p = GEMMParameters(m: rowsPerGroup, n: columnsPerRow, k: outPerGroup, transA: true)
                        p.offsetA = group * outPerGroup * rowsPerGroup
                        p.offsetB = group * outPerGroup * columnsPerRow
                        p.offsetC = group * rowsPerGroup * columnsPerRow
                        try backend.gemm(p, a: weight.storage, b: gradPermuted, c: gradColumns)
                    }
                    try backend.col2im(cg, columns: gradColumns, gradInput: dx.storage, offset: start * imageSize)
                }
            }
            return [dx, dw]
        }
        guard let bias else { return convolved }
        guard bias.shape == [k] else { throw ScalpelError.shapeMismatch(op: "conv2d", detail: "bias \(bias.shape) for \(k) output channels") }
        return try convolved + bias.reshaped([k, 1, 1])
    }

    /// Max pooling over (N, C, H, W); padding counts as −∞.
    public func maxPool2d(kernel: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0)) throws -> Tensor {
        try pool(max: true, kernel: kernel, stride: stride ?? kernel, padding: padding)
    }

    /// Average pooling over (N, C, H, W), dividing by the whole window (padding included).
    public func avgPool2d(kernel: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0)) throws -> Tensor {
        try pool(max: false, kernel: kernel, stride: stride ?? kernel, padding: padding)
    }

    func pool(max: Bool, kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int)) throws -> Tensor {
        guard rank == 4 else { throw ScalpelError.shapeMismatch(op: max ? "maxPool2d" : "avgPool2d", detail: "needs (N, C, H, W), got \(shape)") }
        let g = Pool2dGeometry(batch: shape[0], channels: shape[1], height: shape[2], width: shape[3], kernel: kernel, stride: stride, padding: padding)
        try g.validate()
        let out = try Tensor.empty([shape[0], shape[1], g.outHeight, g.outWidth], on: backend)
        try backend.pool2d(g, max: max, input: storage, output: out.storage)
        return Tensor.record(out, max ? "maxPool2d" : "avgPool2d", [self]) { [self, outStorage = out.storage] grad in
            let dx = try Tensor.empty(shape, on: backend)
            try backend.pool2dBackward(g, max: max, input: storage, output: outStorage, gradOutput: grad.storage, gradInput: dx.storage)
            return [dx]
        }
    }
}
