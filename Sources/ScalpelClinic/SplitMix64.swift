// A seeded generator of our own, because a split recorded with a seed must give the same rows
// on every machine and Swift version. SystemRandomNumberGenerator cannot be seeded, and the
// standard library does not promise that shuffle(using:) or random(in:using:) keep drawing
// the same numbers from a generator across releases, so the shuffle is written out here too.

/// SplitMix64 (Steele, Lea and Flood, 2014): a small, fast, seedable 64-bit generator.
///
/// Its outputs for a seed are fixed forever (the reference C implementation's), so anything
/// shuffled with it can be reproduced from the seed alone.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    /// The internal state; advances by the golden-ratio increment on every draw.
    public private(set) var state: UInt64

    /// A generator that starts from `seed`.
    public init(seed: UInt64) {
        state = seed
    }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
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

    /// Shuffles `elements` in place (Fisher–Yates), with draws that depend only on the seed.
    public mutating func shuffle<T>(_ elements: inout [T]) {
        guard elements.count > 1 else { return }
        for i in stride(from: elements.count - 1, to: 0, by: -1) {
            let j = Int(uniform(below: UInt64(i + 1)))
            elements.swapAt(i, j)
        }
    }
}
