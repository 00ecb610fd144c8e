import ScalpelCore

// Reshape, permute, slice, concatenate, expand and gather.
extension Tensor {
    /// The same elements in another shape (one dimension may be −1, inferred). Shares storage.
    public func reshaped(_ newShape: [Int]) throws -> Tensor {
        var resolved = newShape
        if let unknown = newShape.firstIndex(of: -1) {
            let known = newShape.enumerated().filter { $0.offset != unknown }.map(\.element).reduce(1, *)
            guard known > 0, count % known == 0 else {
                throw ScalpelError.shapeMismatch(op: "reshape", detail: "cannot infer a dimension to reshape \(shape) to \(newShape)")
            }
            resolved[unknown] = count / known
        }
        try Tensor.checkShape(resolved)
        guard resolved.reduce(1, *) == count else {
            throw ScalpelError.shapeMismatch(op: "reshape", detail: "cannot reshape \(shape) (\(count) elements) to \(newShape)")
        }
        let out = Tensor(storage: storage, shape: resolved, backend: backend, dtype: dtype)
        let original = shape
        return Tensor.record(out, "reshape", [self]) { g in [try g.reshaped(original)] }
    }

    /// Dimensions reordered: output dimension i is input dimension `order[i]`.
    public func permuted(_ order: [Int]) throws -> Tensor {
        guard order.sorted() == Array(0 ..< rank) else {
            throw ScalpelError.shapeMismatch(op: "permute", detail: "\(order) is not a permutation of the \(rank) dimensions of \(shape)")
        }
        let strides = BroadcastLayout.contiguousStrides(shape)
        let outShape = order.map { shape[$0] }
        let out = try Tensor.empty(outShape, on: backend, dtype: dtype)
        try backend.copy(StridedCopy(shape: outShape, srcStrides: order.map { strides[$0] }, dstStrides: BroadcastLayout.contiguousStrides(outShape)),
                         from: storage, to: out.storage)
        var inverse = [Int](repeating: 0, count: rank)
        for (i, d) in order.enumerated() { inverse[d] = i }
        return Tensor.record(out, "permute", [self]) { g in [try g.permuted(inverse)] }
    }

    /// Dimensions `a` and `b` swapped (default: the last two).
    public func transposed(_ a: Int = -2, _ b: Int = -1) throws -> Tensor {
        var order = Array(0 ..< rank)
        let (x, y) = (try axis(a), try axis(b))
        order.swapAt(x, y)
        return try permuted(order)
    }

    /// A normalised axis index (negative counts from the end).
    func axis(_ a: Int) throws -> Int {
        let resolved = a < 0 ? a + rank : a
        guard resolved >= 0 && resolved < rank else {
            throw ScalpelError.shapeMismatch(op: "axis", detail: "axis \(a) is out of range for shape \(shape)")
        }
        return resolved
    }

    /// Elements start..<end along `axis`.
    public func slice(axis a: Int, _ range: Range<Int>) throws -> Tensor {
        let d = try axis(a)
        guard range.lowerBound >= 0, range.upperBound <= shape[d] else {
            throw ScalpelError.shapeMismatch(op: "slice", detail: "\(range) is outside 0..<\(shape[d]) on axis \(a) of \(shape)")
        }
        var outShape = shape
        outShape[d] = range.count
        let strides = BroadcastLayout.contiguousStrides(shape)
        let out = try Tensor.empty(outShape, on: backend, dtype: dtype)
        try backend.copy(StridedCopy(shape: outShape, srcOffset: range.lowerBound * strides[d], srcStrides: strides,
                                     dstStrides: BroadcastLayout.contiguousStrides(outShape)), from: storage, to: out.storage)
        let (inputShape, backend) = (shape, backend)
        return Tensor.record(out, "slice", [self]) { g in
            let dx = try Tensor.zeros(inputShape, on: backend)
            try backend.copy(StridedCopy(shape: outShape, srcStrides: BroadcastLayout.contiguousStrides(outShape),
                                         dstOffset: range.lowerBound * strides[d], dstStrides: strides), from: g.storage, to: dx.storage)
            return [dx]
        }
    }

    /// `tensors` joined along `axis` (all other dimensions equal).
    public static func concatenate(_ tensors: [Tensor], axis a: Int) throws -> Tensor {
        guard let first = tensors.first else { throw ScalpelError.invalidArgument("concatenate needs at least one tensor") }
        let d = try first.axis(a)
        for t in tensors {
            try first.sameBackend(t, "concatenate")
            guard t.rank == first.rank, t.shape.enumerated().allSatisfy({ $0.offset == d || $0.element == first.shape[$0.offset] }) else {
                throw ScalpelError.shapeMismatch(op: "concatenate", detail: "shapes \(tensors.map(\.shape)) differ outside axis \(a)")
            }
        }
        var outShape = first.shape
        outShape[d] = tensors.map { $0.shape[d] }.reduce(0, +)
        let outStrides = BroadcastLayout.contiguousStrides(outShape)
        let out = try Tensor.empty(outShape, on: first.backend, dtype: first.dtype)
        var start = 0
        var ranges: [Range<Int>] = []
        for t in tensors {
            try first.backend.copy(StridedCopy(shape: t.shape, srcStrides: BroadcastLayout.contiguousStrides(t.shape),
                                               dstOffset: start * outStrides[d], dstStrides: outStrides), from: t.storage, to: out.storage)
            ranges.append(start ..< start + t.shape[d])
            start += t.shape[d]
        }
        return Tensor.record(out, "concatenate", tensors) { g in
            try ranges.enumerated().map { index, range in tensors[index].requiresGrad ? try g.slice(axis: d, range).detached() : nil }
        }
    }

    /// This tensor broadcast to `target` (materialised); its gradient sums back.
    public func expanded(to target: [Int]) throws -> Tensor {
        let layout = try BroadcastLayout(shape, target, op: "expand")
        guard layout.shape == target else {
            throw ScalpelError.shapeMismatch(op: "expand", detail: "\(shape) does not expand to \(target)")
        }
        let out = try Tensor.empty(target, on: backend, dtype: dtype)
        try backend.copy(StridedCopy(shape: target, srcStrides: layout.stridesA, dstStrides: BroadcastLayout.contiguousStrides(target)),
                         from: storage, to: out.storage)
        let original = shape
        return Tensor.record(out, "expand", [self]) { g in [try g.sum(to: original)] }
    }

    /// Rows (slices along `axis`) picked by integral `indices` (any shape; the result has the
    /// indices' shape in place of `axis`). Gradients scatter-add back, deterministically.
    public func indexSelect(axis a: Int, _ indices: Tensor) throws -> Tensor {
        try sameBackend(indices, "indexSelect")
        let d = try axis(a)
        let outer = shape[..<d].reduce(1, *), inner = shape[(d + 1)...].reduce(1, *), n = indices.count
        let outShape = Array(shape[..<d]) + indices.shape + Array(shape[(d + 1)...])
        let out = try Tensor.empty(outShape, on: backend, dtype: dtype)
        try backend.gather(x: storage, index: indices.storage, out: out.storage, outer: outer, axis: shape[d], inner: inner, count: n)
        let (inputShape, backend, axisLength) = (shape, backend, shape[d])
        return Tensor.record(out, "indexSelect", [self]) { g in
            let dx = try Tensor.zeros(inputShape, on: backend)
            try backend.scatterAdd(dy: g.storage, index: indices.storage, dx: dx.storage, outer: outer, axis: axisLength, inner: inner, count: n)
            return [dx]
        }
    }
}
