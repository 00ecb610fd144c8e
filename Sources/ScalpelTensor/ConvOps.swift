import ScalpelCore

// Convolution and pooling on NCHW tensors.
extension Tensor {
    /// 2-D convolution of self (N, C, H, W) with weight (K, C/groups, R, S) and optional bias (K):
    /// im2col into a (C·R·S, N·OH·OW) matrix, one GEMM per group into (K, N·OH·OW), a permute to
    /// (N, K, OH, OW). Gradients: the weight's is one GEMM per group against the same columns; the
    /// input's a GEMM per group and col2im.
    public func conv2d(weight: Tensor, bias: Tensor? = nil, stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
                       dilation: (Int, Int) = (1, 1), groups: Int = 1) throws -> Tensor {
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
        let spatial = oh * ow, columnsPerRow = g.columnCount
        let rowsPerGroup = g.columnRows / groups, outPerGroup = k / groups
        let columns = try backend.makeBuffer(count: g.columnRows * columnsPerRow)
        try backend.im2col(g, input: storage, columns: columns)
        let permuted = try backend.makeBuffer(count: k * columnsPerRow)
        for group in 0 ..< groups {
            var p = GEMMParameters(m: outPerGroup, n: columnsPerRow, k: rowsPerGroup)
            p.offsetA = group * outPerGroup * rowsPerGroup
            p.offsetB = group * rowsPerGroup * columnsPerRow
            p.offsetC = group * outPerGroup * columnsPerRow
            try backend.gemm(p, a: weight.storage, b: columns, c: permuted)
        }
        // (K, N, OH·OW) → (N, K, OH·OW)
        let out = try Tensor.empty([n, k, oh, ow], on: backend)
        try backend.copy(StridedCopy(shape: [n, k, spatial], srcStrides: [spatial, columnsPerRow, 1], dstStrides: [k * spatial, spatial, 1]),
                         from: permuted, to: out.storage)
        let x = self
        let convolved = Tensor.record(out, "conv2d", [x, weight]) { [backend] grad in
            // dOut (N, K, OH·OW) → (K, N·OH·OW), the layout the GEMMs want.
            let gradPermuted = try backend.makeBuffer(count: k * columnsPerRow)
            try backend.copy(StridedCopy(shape: [k, n, spatial], srcStrides: [spatial, k * spatial, 1], dstStrides: [columnsPerRow, spatial, 1]),
                             from: grad.storage, to: gradPermuted)
            var gx: Tensor?, gw: Tensor?
            if weight.requiresGrad {
                let dw = try Tensor.empty(weight.shape, on: backend)
                for group in 0 ..< groups {
                    var p = GEMMParameters(m: outPerGroup, n: rowsPerGroup, k: columnsPerRow, transB: true)
                    p.offsetA = group * outPerGroup * columnsPerRow
                    p.offsetB = group * rowsPerGroup * columnsPerRow
                    p.ldb = columnsPerRow
                    p.offsetC = group * outPerGroup * rowsPerGroup
                    try backend.gemm(p, a: gradPermuted, b: columns, c: dw.storage)
                }
                gw = dw
            }
            if x.requiresGrad {
                let gradColumns = try backend.makeBuffer(count: g.columnRows * columnsPerRow)
                for group in 0 ..< groups {
                    var p = GEMMParameters(m: rowsPerGroup, n: columnsPerRow, k: outPerGroup, transA: true)
                    p.offsetA = group * outPerGroup * rowsPerGroup
                    p.offsetB = group * outPerGroup * columnsPerRow
                    p.offsetC = group * rowsPerGroup * columnsPerRow
                    try backend.gemm(p, a: weight.storage, b: gradPermuted, c: gradColumns)
                }
                let dx = try Tensor.empty(x.shape, on: backend)
                try backend.col2im(g, columns: gradColumns, gradInput: dx.storage)
                gx = dx
            }
            return [gx, gw]
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
