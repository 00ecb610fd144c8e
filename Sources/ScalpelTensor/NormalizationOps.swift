import ScalpelCore

// Batch and layer normalisation as fused operations: one backend call forward and one
// backward each, one autograd node (inputs x, weight, bias) instead of the dozen of the same
// formula composed of element-wise operations and reductions.
extension Tensor {
    /// Batch normalisation of self, (N, C), (N, C, L) or (N, C, H, W), per channel (axis 1):
    /// y = (x − μ)/√(σ² + ε)·weight + bias, weight and bias (C). In training μ and σ² are the
    /// batch's (biased variance), and the running statistics (C each) are updated in place,
    /// running ← (1 − momentum)·running + momentum·batch with the variance unbiased, as in
    /// PyTorch; otherwise μ and σ² are the running statistics. With `relu` the output is
    /// max(0, y), the ReLU fused into the same kernels. Gradients reach x, weight and bias, each
    /// only when it requires one.
    public func batchNorm(weight: Tensor, bias: Tensor, runningMean: Tensor, runningVar: Tensor, training: Bool, momentum: Float,
                          epsilon: Float, relu: Bool = false) throws -> Tensor {
        let op = "batchNorm"
        for other in [weight, bias, runningMean, runningVar] { try sameBackend(other, op) }
        guard rank >= 2, rank <= 4 else {
            throw ScalpelError.shapeMismatch(op: op, detail: "input \(shape) must be (N, C), (N, C, L) or (N, C, H, W)")
        }
        let c = shape[1]
        guard [weight, bias, runningMean, runningVar].allSatisfy({ $0.count == c }) else {
            throw ScalpelError.shapeMismatch(op: op, detail: "weight \(weight.shape), bias \(bias.shape) and running statistics "
                + "\(runningMean.shape), \(runningVar.shape) must hold \(c) values, one per channel of \(shape)")
        }
        let g = BatchNormGeometry(batch: shape[0], channels: c, spatial: shape[2...].reduce(1, *), epsilon: epsilon, momentum: momentum, relu: relu)
        if training && g.perChannel <= 1 {
            throw ScalpelError.shapeMismatch(op: op, detail: "training needs more than one value per channel, got \(shape)")
        }
        let output = try Tensor.empty(shape, on: backend)
        let mean: any DeviceBuffer, statistic: any DeviceBuffer
        if training {
            let saved = (try backend.makeBuffer(count: Swift.max(c, 1)), try backend.makeBuffer(count: Swift.max(c, 1)))
            try backend.batchNormTraining(g, x: storage, weight: weight.storage, bias: bias.storage, runningMean: runningMean.storage,
                                          runningVar: runningVar.storage, savedMean: saved.0, savedInvStd: saved.1, y: output.storage)
            (mean, statistic) = saved
        } else {
            try backend.batchNormInference(g, x: storage, weight: weight.storage, bias: bias.storage, runningMean: runningMean.storage,
                                           runningVar: runningVar.storage, y: output.storage)
            (mean, statistic) = (runningMean.storage, runningVar.storage)
        }
        let needs = (requiresGrad, weight.requiresGrad, bias.requiresGrad)
        // The closure holds the output's storage, never the output itself (see unary): the
        // fused ReLU's mask is y > 0.
        return Tensor.record(output, op, [self, weight, bias]) {
            [backend, shape, storage, weightStorage = weight.storage, outputStorage = output.storage,
             weightShape = weight.shape, biasShape = bias.shape] gradient in
            // dWeight and dBias are the sums dx needs: formed even when no parameter wants them.
            let dx = needs.0 ? try Tensor.empty(shape, on: backend) : nil
            let dWeight = try Tensor.empty(weightShape, on: backend), dBias = try Tensor.empty(biasShape, on: backend)
            try backend.batchNormBackward(g, training: training, x: storage, weight: weightStorage, y: outputStorage, dy: gradient.storage,
                                          mean: mean, statistic: statistic, dx: dx?.storage, dWeight: dWeight.storage, dBias: dBias.storage)
            return [dx, needs.1 ? dWeight : nil, needs.2 ? dBias : nil]
        }
    }

    /// Layer normalisation over the last dimension: each row (all leading dimensions
    /// flattened) becomes (x − mean)/√(var + ε)·weight + bias, var biased, weight and bias
    /// (features). Gradients reach x, weight and bias, each only when it requires one.
    public func layerNorm(weight: Tensor, bias: Tensor, epsilon: Float) throws -> Tensor {
        let op = "layerNorm"
        try sameBackend(weight, op)
        try sameBackend(bias, op)
        guard rank >= 1 else { throw ScalpelError.shapeMismatch(op: op, detail: "a scalar has no last dimension to normalise") }
        let features = shape[rank - 1]
        guard weight.count == features, bias.count == features else {
            throw ScalpelError.shapeMismatch(op: op, detail: "weight \(weight.shape) and bias \(bias.shape) must hold \(features) values for input \(shape)")
        }
        let g = LayerNormGeometry(rows: features == 0 ? 0 : count / features, features: features, epsilon: epsilon)
        let output = try Tensor.empty(shape, on: backend)
        let mean = try backend.makeBuffer(count: Swift.max(g.rows, 1)), rstd = try backend.makeBuffer(count: Swift.max(g.rows, 1))
        try backend.layerNorm(g, x: storage, weight: weight.storage, bias: bias.storage, y: output.storage, mean: mean, rstd: rstd)
        let needs = (requiresGrad, weight.requiresGrad, bias.requiresGrad)
        return Tensor.record(output, op, [self, weight, bias]) {
            [backend, shape, storage, weightStorage = weight.storage, weightShape = weight.shape, biasShape = bias.shape] gradient in
            let dx = needs.0 ? try Tensor.empty(shape, on: backend) : nil
            let dWeight = needs.1 ? try Tensor.empty(weightShape, on: backend) : nil
            let dBias = needs.2 ? try Tensor.empty(biasShape, on: backend) : nil
            try backend.layerNormBackward(g, x: storage, weight: weightStorage, dy: gradient.storage, mean: mean, rstd: rstd,
                                          dx: dx?.storage, dWeight: dWeight?.storage, dBias: dBias?.storage)
            return [dx, dWeight, dBias]
        }
    }
}
