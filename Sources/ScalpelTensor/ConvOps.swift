import ScalpelCore

// Convolution and pooling on NCHW tensors.
extension Tensor {
    /// 2-D convolution of self (N, C, H, W) with weight (K, C/groups, R, S) and optional bias (K).
    ///
    /// Each pass — forward, the input's gradient (backward-data) and the weight's gradient
    /// (backward-weight) — runs the algorithm the backend measured fastest for this shape
    /// (`conv2dAlgorithm`): im2col + GEMM (the reference: per chunk of images of about
    /// `columnBudget` floats of columns — nil: the backend's `convColumnBudget` —, im2col, one
    /// GEMM per group, permutes; see `conv2dForwardColumns`), the direct kernel (forward only),
    /// implicit GEMM (no column matrix; the forward pass adds the bias, and the ReLU when
    /// `relu`, in its epilogue), or Winograd F(2×2, 3×3) (3×3 stride-1 layers, forward — with
    /// the bias and ReLU in its output transform — and input gradient).
    ///
    /// - algorithm: forces every pass to this algorithm (`direct` means im2col + GEMM for the
    ///   backward passes, `winograd` for the weight gradient and where the geometry does not
    ///   `supportsWinograd`); nil lets the backend choose per pass. The self-test forces each in turn.
    /// - relu: max(0, ·) on the result: in the implicit-GEMM forward pass's store, or an
    ///   element-wise pass after the other algorithms; the same values either way.
    public func conv2d(weight: Tensor, bias: Tensor? = nil, stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
                       dilation: (Int, Int) = (1, 1), groups: Int = 1, columnBudget: Int? = nil,
                       algorithm: ConvAlgorithm? = nil, relu: Bool = false) throws -> Tensor {
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
        let k = g.outChannels
        if let bias {
            try sameBackend(bias, "conv2d")
            guard bias.shape == [k] else { throw ScalpelError.shapeMismatch(op: "conv2d", detail: "bias \(bias.shape) for \(k) output channels") }
        }
        let backend = self.backend
        func choice(_ pass: ConvPass) -> ConvAlgorithm {
            (algorithm ?? backend.conv2dAlgorithm(g, pass: pass)).resolved(for: pass, at: g)
        }
        let out = try Tensor.empty([g.batch, k, g.outHeight, g.outWidth], on: backend)
        let forward = choice(.forward)
        switch forward {
        case .direct: try backend.conv2dDirect(g, input: storage, weight: weight.storage, output: out.storage)
        case .im2colGEMM: try backend.conv2dForwardColumns(g, input: storage, weight: weight.storage, output: out.storage, columnBudget: columnBudget)
        case .implicitGEMM:
            try backend.conv2dImplicitForward(g, input: storage, weight: weight.storage, bias: bias?.storage, relu: relu, output: out.storage)
        case .winograd:
            try backend.conv2dWinogradForward(g, input: storage, weight: weight.storage, bias: bias?.storage, relu: relu, output: out.storage)
        }
        let x = self
        // Implicit GEMM and Winograd add the bias and apply the ReLU as they store.
        let fused = forward == .implicitGEMM || forward == .winograd
        let fusedBias = fused ? bias : nil
        let fusedReLU = relu && fused
        let convolved = Tensor.record(out, fusedReLU ? "conv2d+relu" : "conv2d", [x, weight] + (fusedBias.map { [$0] } ?? [])) { [yStorage = out.storage] output in
            let grad = fusedReLU ? try Tensor.throughReLU(output, output: yStorage) : output
            let dw = weight.requiresGrad ? try Tensor.empty(weight.shape, on: backend) : nil
            let dx = x.requiresGrad ? try Tensor.empty(x.shape, on: backend) : nil
            let data = dx == nil ? nil : choice(.backwardData), weights = dw == nil ? nil : choice(.backwardWeight)
            // Both on the column path: one pass over the chunks shares the permuted gradient.
            let dataByColumns = data == .im2colGEMM, weightByColumns = weights == .im2colGEMM
            if dataByColumns || weightByColumns {
                try backend.conv2dBackwardColumns(g, input: x.storage, weight: weight.storage, gradOutput: grad.storage,
                                                  gradInput: dataByColumns ? dx?.storage : nil, gradWeight: weightByColumns ? dw?.storage : nil,
                                                  columnBudget: columnBudget)
            }
            if let dx, data == .implicitGEMM {
                try backend.conv2dImplicitBackwardData(g, gradOutput: grad.storage, weight: weight.storage, gradInput: dx.storage)
            }
            if let dx, data == .winograd {
                try backend.conv2dWinogradBackwardData(g, gradOutput: grad.storage, weight: weight.storage, gradInput: dx.storage)
            }
            if let dw, weights == .implicitGEMM {
                try backend.conv2dImplicitBackwardWeight(g, input: x.storage, gradOutput: grad.storage, gradWeight: dw.storage)
            }
            if let dw, weights == .winograd {
                try backend.conv2dWinogradBackwardWeight(g, input: x.storage, gradOutput: grad.storage, gradWeight: dw.storage)
            }
            guard let fusedBias else { return [dx, dw] }
            guard fusedBias.requiresGrad else { return [dx, dw, nil] }
            // The bias gradient: dOut (N, K, OH·OW) summed over OH·OW, then over N.
            let db = try Tensor.empty([k], on: backend)
            try backend.channelSums(grad.storage, out: db.storage, batch: g.batch, channels: k, positions: g.outHeight * g.outWidth)
            return [dx, dw, db]
        }
        let biased = try bias.map { fusedBias == nil ? try convolved + $0.reshaped([k, 1, 1]) : convolved } ?? convolved
        return relu && !fusedReLU ? try biased.relu() : biased
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
