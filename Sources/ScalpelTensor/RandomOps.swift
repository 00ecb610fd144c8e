import ScalpelCore

extension Tensor {
    /// Dropout with its mask drawn on the backend (`Backend.dropout`): each element is kept
    /// with probability `keep` and scaled by 1/keep, or zeroed; element i's fate comes from
    /// element `offset + i` of the dropout stream under `seed`. The gradient is the same op on
    /// the incoming gradient (same seed and offset), so the mask is never stored.
    public func dropout(keep: Float, seed: UInt64, offset: UInt64) throws -> Tensor {
        guard keep > 0, keep <= 1 else {
            throw ScalpelError.invalidArgument("dropout keeps a fraction in (0, 1], got \(keep)")
        }
        let scale = 1 / keep
        let y = try Tensor.empty(shape, on: backend)
        try backend.dropout(x: storage, y: y.storage, count: count, keep: keep, scale: scale, seed: seed, offset: offset)
        let (shape, backend, count) = (shape, backend, count)
        return Tensor.record(y, "dropout", [self]) { g in
            let dx = try Tensor.empty(shape, on: backend)
            try backend.dropout(x: g.storage, y: dx.storage, count: count, keep: keep, scale: scale, seed: seed, offset: offset)
            return [dx]
        }
    }
}
