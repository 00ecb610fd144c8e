import Foundation
import ScalpelCore

extension Tensor {
    /// A scalar constant for arithmetic with a `Float` (`x + 1e-5`, `x * 0.5`): one buffer per
    /// value and backend, filled once and then shared by every use — a training step's
    /// constants (epsilons, 1/n, momenta) cost no allocation and no launch after the first step.
    /// The buffer is never written after it is filled, so it must not be handed out where
    /// someone may write into it: `scalar(_:on:)` gives a fresh one for that.
    public static func constant(_ value: Float, on backend: any Backend) throws -> Tensor {
        let storage = try ConstantCache.shared.buffer(value, on: backend)
        return Tensor(storage: storage, shape: [], backend: backend)
    }
}

/// The constants' buffers, per backend and value (by bit pattern, so −0 and 0 differ and NaN
/// is one value). A backend's entries go when the backend does; at most `limit` values are kept
/// per backend (a run that makes new constants every step, such as a schedule's rate, starts
/// the backend's table afresh when it fills up).
final class ConstantCache: @unchecked Sendable {
    static let shared = ConstantCache()
    static let limit = 4096

    private struct Entry {
        weak var backend: (any Backend)?
        var buffers: [UInt32: any DeviceBuffer]
    }

    private let lock = NSLock()
    private var entries: [ObjectIdentifier: Entry] = [:]

    func buffer(_ value: Float, on backend: any Backend) throws -> any DeviceBuffer {
        let key = ObjectIdentifier(backend), bits = value.bitPattern
        if let known = lock.withLock({ () -> (any DeviceBuffer)? in
            guard let entry = entries[key], entry.backend === backend else { return nil }
            return entry.buffers[bits]
        }) {
            return known
        }
        let buffer = try backend.makeBuffer(count: 1)
        try backend.fill(buffer, value: value, offset: 0, count: 1)
        lock.withLock {
            // An identifier may be reused by a new backend once the old one is gone.
            if entries[key]?.backend !== backend {
                entries = entries.filter { $0.value.backend != nil }
                entries[key] = Entry(backend: backend, buffers: [:])
            }
            if entries[key]!.buffers.count >= ConstantCache.limit { entries[key]!.buffers.removeAll() }
            entries[key]!.buffers[bits] = buffer
        }
        return buffer
    }
}
