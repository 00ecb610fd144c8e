import ScalpelCore

// Reductions, softmax and matrix products.
extension Tensor {
    /// (outer, axis, inner) around dimension d.
    func split(_ d: Int) -> (Int, Int, Int) {
        (shape[..<d].reduce(1, *), shape[d], shape[(d + 1)...].reduce(1, *))
    }

    /// Reduces one axis (kept as size 1).
    func reduceAxis(_ op: ReduceOp, _ d: Int) throws -> Tensor {
        let (outer, length, inner) = split(d)
        var outShape = shape
        outShape[d] = 1
        let out = try Tensor.empty(outShape, on: backend)
        try backend.reduce(op, x: storage, out: out.storage, outer: outer, axis: length, inner: inner)
        return out
    }

    /// Σ over the sorted axes `dims` in one backend call when, with neighbouring axes merged,
    /// the reduced ones form one run (`reduce` over (outer, axis, inner)) or two runs around a
    /// kept one (`channelSums` over (batch, channels, positions): a convolution's or batch
    /// norm's per-channel sums over (N, C, H, W)); nil for any other pattern.
    private func sumInOnePass(dims: [Int], keptShape: [Int]) throws -> Tensor? {
        guard !dims.isEmpty else { return nil }
        // Runs of neighbouring axes that are all reduced or all kept; size-1 axes join either.
        var runs: [(size: Int, reduced: Bool)] = []
        for d in shape.indices where shape[d] != 1 {
            let reduced = dims.contains(d)
            if let last = runs.last, last.reduced == reduced { runs[runs.count - 1].size *= shape[d] } else { runs.append((shape[d], reduced)) }
        }
        let pattern = runs.map(\.reduced)
        guard [[true], [false, true], [true, false], [false, true, false], [true, false, true]].contains(pattern) else { return nil }
        let out = try Tensor.empty(keptShape, on: backend)
        switch pattern {
        case [true]: try backend.reduce(.sum, x: storage, out: out.storage, outer: 1, axis: runs[0].size, inner: 1)
        case [false, true]: try backend.reduce(.sum, x: storage, out: out.storage, outer: runs[0].size, axis: runs[1].size, inner: 1)
        case [true, false]: try backend.reduce(.sum, x: storage, out: out.storage, outer: 1, axis: runs[0].size, inner: runs[1].size)
        case [false, true, false]:
            try backend.reduce(.sum, x: storage, out: out.storage, outer: runs[0].size, axis: runs[1].size, inner: runs[2].size)
        case [true, false, true]:
            try backend.channelSums(storage, out: out.storage, batch: runs[0].size, channels: runs[1].size, positions: runs[2].size)
        default: preconditionFailure("pattern \(pattern) was checked above")
        }
        return out
    }

    /// Σ over `axes` (all when nil).
    public func sum(axes: [Int]? = nil, keepDims: Bool = false) throws -> Tensor {
        let dims = try Set((axes ?? Array(0 ..< rank)).map { try axis($0) }).sorted()
        var result: Tensor = self
        // Reduce without recording, then record one node for the whole reduction.
        var keptShape = shape
        for d in dims { keptShape[d] = 1 }
        if let merged = try Autograd.noGrad({ try sumInOnePass(dims: dims, keptShape: keptShape) }) {
            result = merged
        } else {
            try Autograd.noGrad {
                for d in dims { result = try result.reduceAxis(.sum, d) }
            }
        }
        if dims.isEmpty { result = try Autograd.noGrad { try self.reshaped(shape) } }
        let finalShape = keepDims ? keptShape : shape.enumerated().filter { !dims.contains($0.offset) }.map(\.element)
        let out = Tensor(storage: result.storage, shape: finalShape, backend: backend)
        let inputShape = shape
        return Tensor.record(out, "sum", [self]) { g in [try g.reshaped(keptShape).expanded(to: inputShape)] }
    }

    /// Mean over `axes` (all when nil).
    public func mean(axes: [Int]? = nil, keepDims: Bool = false) throws -> Tensor {
        let dims = try Set((axes ?? Array(0 ..< rank)).map { try axis($0) })
        let n = dims.map { shape[$0] }.reduce(1, *)
        let scale = try Tensor.constant(1 / Float(Swift.max(n, 1)), on: backend)
        let kept = try Autograd.noGrad { try sum(axes: axes, keepDims: true) * scale }
        let keptShape = kept.shape, inputShape = shape
        let finalShape = keepDims ? keptShape : shape.enumerated().filter { !dims.contains($0.offset) }.map(\.element)
        let out = Tensor(storage: kept.storage, shape: finalShape, backend: backend)
        // The gradient g/n broadcast back to the input in one launch: the broadcast is the
        // product's layout, not a copy of g expanded first.
        return Tensor.record(out, "mean", [self]) { [backend] g in
            var layout = try BroadcastLayout(keptShape, inputShape, op: "mean")
            layout.stridesB = [Int](repeating: 0, count: layout.shape.count)
            let dx = try Tensor.empty(inputShape, on: backend)
            try backend.binary(.mul, a: g.storage, b: scale.storage, out: dx.storage, layout: layout)
            return [dx]
        }
    }

    /// Population variance over `axes` (mean of squared deviations).
    public func variance(axes: [Int], keepDims: Bool = false) throws -> Tensor {
        let centered = try self - mean(axes: axes, keepDims: true)
        return try centered.square().mean(axes: axes, keepDims: keepDims)
    }

    /// Maximum along `axis`; the gradient goes to every element equal to the maximum.
    public func max(axis a: Int, keepDims: Bool = false) throws -> Tensor {
        let d = try axis(a)
        let kept = try Autograd.noGrad { try reduceAxis(.max, d) }
        var finalShape = shape
        if keepDims { finalShape[d] = 1 } else { finalShape.remove(at: d) }
        let out = Tensor(storage: kept.storage, shape: finalShape, backend: backend)
        let keptShape = kept.shape
        return Tensor.record(out, "max", [self]) { [self] g in
            let mask = try eq(kept)
            return [try g.reshaped(keptShape) * mask]
        }
    }

    /// Index of the first maximum along `axis` (an int32 tensor, no gradient).
    public func argmax(axis a: Int) throws -> Tensor {
        let d = try axis(a)
        let kept = try Autograd.noGrad { try reduceAxis(.argmax, d) }
        var finalShape = shape
        finalShape.remove(at: d)
        return Tensor(storage: kept.storage, shape: finalShape, backend: backend, dtype: .int32)
    }

    /// Softmax along the last axis.
    public func softmax() throws -> Tensor { try softmaxLast(log: false) }
    /// Log-softmax along the last axis.
    public func logSoftmax() throws -> Tensor { try softmaxLast(log: true) }

    func softmaxLast(log: Bool) throws -> Tensor {
        guard rank >= 1 else { throw ScalpelError.shapeMismatch(op: "softmax", detail: "needs at least one dimension") }
        let cols = shape[rank - 1], rows = count / Swift.max(cols, 1)
        let y = try Tensor.empty(shape, on: backend)
        try backend.softmax(x: storage, y: y.storage, rows: rows, cols: cols, log: log)
        return Tensor.record(y, log ? "logSoftmax" : "softmax", [self]) { [backend, shape, yStorage = y.storage] g in
            let dx = try Tensor.empty(shape, on: backend)
            try backend.softmaxBackward(y: yStorage, dy: g.storage, dx: dx.storage, rows: rows, cols: cols, log: log)
            return [dx]
        }
    }

    /// Matrix product over the last two dimensions: (…, m, k) · (…, k, n) → (…, m, n). A 2-D
    /// right operand is shared by every batch entry; leading (batch) dimensions must match.
    public func matmul(_ other: Tensor) throws -> Tensor {
        try sameBackend(other, "matmul")
        guard rank >= 2, other.rank >= 2 else {
            throw ScalpelError.shapeMismatch(op: "matmul", detail: "needs matrices, got \(shape) and \(other.shape)")
        }
        let (m, k) = (shape[rank - 2], shape[rank - 1])
        let (k2, n) = (other.shape[other.rank - 2], other.shape[other.rank - 1])
        let batchA = Array(shape.dropLast(2)), batchB = Array(other.shape.dropLast(2))
        guard k == k2, batchB.isEmpty || batchB == batchA else {
            throw ScalpelError.shapeMismatch(op: "matmul", detail: "\(shape) · \(other.shape): inner dimensions or batches differ")
        }
        let batch = batchA.reduce(1, *)
        let out = try Tensor.empty(batchA + [m, n], on: backend)
        if batchB.isEmpty {
            // (batch·m, k) · (k, n) as one GEMM.
            try backend.gemm(GEMMParameters(m: batch * m, n: n, k: k), a: storage, b: other.storage, c: out.storage)
        } else {
            try backend.gemm(GEMMParameters(m: m, n: n, k: k, batch: batch), a: storage, b: other.storage, c: out.storage)
        }
        let (a, b) = (self, other)
        return Tensor.record(out, "matmul", [a, b]) { [backend] g in
            var ga: Tensor?, gb: Tensor?
            if a.requiresGrad {
                // dA = dC · Bᵀ
                let dA = try Tensor.empty(a.shape, on: backend)
                if batchB.isEmpty {
                    try backend.gemm(GEMMParameters(m: batch * m, n: k, k: n, transB: true), a: g.storage, b: b.storage, c: dA.storage)
                } else {
                    try backend.gemm(GEMMParameters(m: m, n: k, k: n, transB: true, batch: batch), a: g.storage, b: b.storage, c: dA.storage)
                }
                ga = dA
            }
            if b.requiresGrad {
                // dB = Aᵀ · dC (summed over the batch when B is shared)
                let dB = try Tensor.empty(b.shape, on: backend)
                if batchB.isEmpty {
                    try backend.gemm(GEMMParameters(m: k, n: n, k: batch * m, transA: true), a: a.storage, b: g.storage, c: dB.storage)
                } else {
                    try backend.gemm(GEMMParameters(m: k, n: n, k: m, transA: true, batch: batch), a: a.storage, b: g.storage, c: dB.storage)
                }
                gb = dB
            }
            return [ga, gb]
        }
    }
}
