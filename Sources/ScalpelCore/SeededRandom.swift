/// A small, fast, seedable generator (SplitMix64) for reproducible test data, weights and
/// shuffles. Not for cryptography.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    /// The SplitMix64 state, advanced by 0x9E3779B97F4A7C15 at every draw; `init(state:)` with
    /// a saved value resumes the sequence there.
    public private(set) var state: UInt64

    /// A generator whose sequence is fixed by `seed`, which becomes the initial `state`.
    public init(seed: UInt64) {
        state = seed
    }

    /// Resumes a generator from `state` (see `state`).
    public init(state: UInt64) {
        self.state = state
    }


    /// The next 64 random bits; counted as one host random number when profiling is on.
    public mutating func next() -> UInt64 {
        // Counted: a training step should draw nothing on the host.
        if Profiler.isEnabled { Profiler.shared.recordHostRandom(1) }
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform value in [low, high).
    public mutating func uniform(_ low: Float = -1, _ high: Float = 1) -> Float {
        low + (high - low) * Float(next() >> 40) / Float(1 << 24)
    }

    /// `count` uniform values in [low, high).
    public mutating func uniformArray(_ count: Int, _ low: Float = -1, _ high: Float = 1) -> [Float] {
        (0 ..< count).map { _ in uniform(low, high) }
    }

    /// A uniform integer in `0..<bound`, without modulo bias (Lemire's multiply-and-reject).
    public mutating func uniform(below bound: UInt64) -> UInt64 {
        precondition(bound > 0, "uniform(below:) needs a positive bound")
        var product = next().multipliedFullWidth(by: bound)
        if product.low < bound {
            // Reject the few low halves that would make some results more likely than others.
            let threshold = (0 &- bound) % bound
            while product.low < threshold {
                product = next().multipliedFullWidth(by: bound)
            }
        }
        return product.high
    }

    /// Shuffles `elements` in place (Fisher–Yates), with draws that depend only on the seed —
    /// unlike the standard library's `shuffle(using:)`, whose use of the generator may change
    /// between Swift releases: a split recorded with a seed gives the same rows everywhere.
    public mutating func shuffle<T>(_ elements: inout [T]) {
        guard elements.count > 1 else { return }
        for i in stride(from: elements.count - 1, to: 0, by: -1) {
            let j = Int(uniform(below: UInt64(i + 1)))
            elements.swapAt(i, j)
        }
    }
}
