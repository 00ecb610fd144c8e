import ScalpelCore

// Fused operations of layers and losses.
extension Tensor {
    /// y = x·Wᵀ + b for x (…, in), W (out, in), b (out), then max(0, y) when `relu`: one GEMM
    /// with B transposed (the weight keeps PyTorch's layout and is never copied) whose store
    /// adds the bias and applies the ReLU (`Backend.gemm(_:a:b:c:epilogue:)`; a backend without
    /// a fused store does them as element-wise passes, with the same results).
    public func linear(weight: Tensor, bias: Tensor?, relu: Bool = false) throws -> Tensor {
        try sameBackend(weight, "linear")
        guard rank >= 1, weight.rank == 2, shape[rank - 1] == weight.shape[1] else {
            throw ScalpelError.shapeMismatch(op: "linear", detail: "input \(shape) does not match weight \(weight.shape) (expected last dimension \(weight.rank == 2 ? weight.shape[1] : -1))")
        }
        let (inFeatures, outFeatures) = (weight.shape[1], weight.shape[0])
        if let bias {
            try sameBackend(bias, "linear")
            guard bias.shape == [outFeatures] else {
                throw ScalpelError.shapeMismatch(op: "linear", detail: "bias \(bias.shape) does not match \(outFeatures) outputs")
            }
        }
        let rows = count / Swift.max(inFeatures, 1)
        let product = try Tensor.empty(Array(shape.dropLast()) + [outFeatures], on: backend)
        try backend.gemm(GEMMParameters(m: rows, n: outFeatures, k: inFeatures, transB: true), a: storage, b: weight.storage, c: product.storage,
                         epilogue: GEMMEpilogue(bias: bias?.storage, relu: relu))
        let x = self
        // The closure holds the output's storage, never the output (see `unary`).
        return Tensor.record(product, relu ? "linear+relu" : "linear", [x, weight] + (bias.map { [$0] } ?? [])) { [backend, yStorage = product.storage] g in
            let dz = relu ? try Tensor.throughReLU(g, output: yStorage) : g
            var gx: Tensor?, gw: Tensor?
            if x.requiresGrad {
                let dx = try Tensor.empty(x.shape, on: backend)
                try backend.gemm(GEMMParameters(m: rows, n: inFeatures, k: outFeatures), a: dz.storage, b: weight.storage, c: dx.storage)
                gx = dx
            }
            if weight.requiresGrad {
                let dw = try Tensor.empty(weight.shape, on: backend)
                try backend.gemm(GEMMParameters(m: outFeatures, n: inFeatures, k: rows, transA: true), a: dz.storage, b: x.storage, c: dw.storage)
                gw = dw
            }
            guard let bias else { return [gx, gw] }
            return [gx, gw, bias.requiresGrad ? try dz.sum(to: bias.shape) : nil]
        }
    }

    /// Mean cross-entropy of `self` (rows × classes logits) against integral `labels` (rows),
    /// with optional class weights (the mean is then weighted, as in PyTorch) and label smoothing.
    public func crossEntropy(labels: Tensor, classWeights: Tensor? = nil, labelSmoothing: Float = 0) throws -> Tensor {
        try sameBackend(labels, "crossEntropy")
        guard rank == 2, labels.count == shape[0] else {
            throw ScalpelError.shapeMismatch(op: "crossEntropy", detail: "logits \(shape) need rows × classes and one label per row (labels \(labels.shape))")
        }
        guard (0 ... 1).contains(labelSmoothing) else { throw ScalpelError.invalidArgument("label smoothing \(labelSmoothing) is outside [0, 1]") }
        let (rows, classes) = (shape[0], shape[1])
        if let classWeights {
            try sameBackend(classWeights, "crossEntropy")
            guard classWeights.shape == [classes] else {
                throw ScalpelError.shapeMismatch(op: "crossEntropy", detail: "class weights \(classWeights.shape) for \(classes) classes")
            }
        }
        let settings = LossSettings(labelSmoothing: labelSmoothing)
        let probabilities = try Tensor.empty(shape, on: backend)
        let losses = try Tensor.empty([rows], on: backend)
        let rowWeights = try Tensor.empty([rows], on: backend)
        try backend.crossEntropy(logits: storage, labels: labels.storage, classWeights: classWeights?.storage, probabilities: probabilities.storage,
                                 losses: losses.storage, rowWeights: rowWeights.storage, rows: rows, classes: classes, settings: settings)
        let perRow = Tensor.record(losses, "crossEntropy", [self]) { [backend, shape] g in
            let dx = try Tensor.empty(shape, on: backend)
            try backend.crossEntropyBackward(probabilities: probabilities.storage, labels: labels.storage, classWeights: classWeights?.storage,
                                             dLoss: g.storage, dLogits: dx.storage, rows: rows, classes: classes, settings: settings)
            return [dx]
        }
        return try perRow.sum() / rowWeights.sum()
    }

    /// Mean binary cross-entropy of logits `self` against `targets` (same shape, values in
    /// [0, 1]); `posWeight` (the last dimension's size) weighs the positive term.
    public func bceWithLogits(targets: Tensor, posWeight: Tensor? = nil) throws -> Tensor {
        try sameBackend(targets, "bceWithLogits")
        guard targets.shape == shape else {
            throw ScalpelError.shapeMismatch(op: "bceWithLogits", detail: "targets \(targets.shape) differ from logits \(shape)")
        }
        let classes = rank == 0 ? 1 : shape[rank - 1]
        if let posWeight {
            guard posWeight.count == classes else {
                throw ScalpelError.shapeMismatch(op: "bceWithLogits", detail: "pos_weight \(posWeight.shape) for a last dimension of \(classes)")
            }
        }
        let losses = try Tensor.empty(shape, on: backend)
        try backend.bceWithLogits(logits: storage, targets: targets.storage, posWeight: posWeight?.storage, losses: losses.storage,
                                  count: count, classes: classes)
        let perElement = Tensor.record(losses, "bceWithLogits", [self]) { [backend, shape, storage, count] g in
            let dx = try Tensor.empty(shape, on: backend)
            try backend.bceWithLogitsBackward(logits: storage, targets: targets.storage, posWeight: posWeight?.storage, dLoss: g.storage,
                                              dLogits: dx.storage, count: count, classes: classes)
            return [dx]
        }
        return try perElement.mean()
    }

    /// Mean squared error against `target`.
    public func mseLoss(_ target: Tensor) throws -> Tensor {
        guard target.shape == shape else {
            throw ScalpelError.shapeMismatch(op: "mseLoss", detail: "target \(target.shape) differs from prediction \(shape)")
        }
        return try (self - target).square().mean()
    }
}
