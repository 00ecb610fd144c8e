/// Philox-4x32-10, the counter-based generator of Salmon, Moraes, Dror and Shaw ("Parallel
/// random numbers: as easy as 1, 2, 3", SC 2011): a keyed bijection of a 128-bit counter, so
/// the random bits of any element are a pure function of (key, counter) — no state to carry
/// between draws, and a device draws element i's bits without drawing those before it.
///
/// `Kernels/random.cl` computes the same function bit for bit; `RandomTests` pins both to the
/// published known-answer vectors. How the engine lays out counters (`stream` below):
/// element n of a draw takes word n mod 4 of the block whose counter is
/// (lo32(n / 4), hi32(n / 4), stream, 0), with the key (lo32(seed), hi32(seed)).
public enum Philox {
    /// The round multipliers and the Weyl key increments (the golden ratio and √3 − 1, in 32 bits).
    @usableFromInline static let m0: UInt32 = 0xD251_1F53, m1: UInt32 = 0xCD9E_8D57
    @usableFromInline static let w0: UInt32 = 0x9E37_79B9, w1: UInt32 = 0xBB67_AE85

    /// The four 32-bit words of Philox-4x32-10 for `counter` under `key`.
    @inlinable
    public static func block(counter: SIMD4<UInt32>, key: SIMD2<UInt32>) -> SIMD4<UInt32> {
        // Scalars, not SIMD lanes: the rounds are a serial chain, and lane access in a loop
        // kept the optimiser from unrolling it (six times slower in the dropout loop).
        var (c0, c1, c2, c3) = (counter.x, counter.y, counter.z, counter.w)
        var (k0, k1) = (key.x, key.y)
        @inline(__always) func round() {
            let p0 = UInt64(m0) &* UInt64(c0), p1 = UInt64(m1) &* UInt64(c2)
            (c0, c1, c2, c3) = (UInt32(truncatingIfNeeded: p1 >> 32) ^ c1 ^ k0, UInt32(truncatingIfNeeded: p1),
                                UInt32(truncatingIfNeeded: p0 >> 32) ^ c3 ^ k1, UInt32(truncatingIfNeeded: p0))
        }
        round()
        for _ in 1 ..< 10 {
            k0 &+= w0
            k1 &+= w1
            round()
        }
        return SIMD4(c0, c1, c2, c3)
    }

    /// The key of `seed`: its low and high 32 bits.
    @inlinable
    public static func key(_ seed: UInt64) -> SIMD2<UInt32> {
        SIMD2(UInt32(truncatingIfNeeded: seed), UInt32(truncatingIfNeeded: seed >> 32))
    }

    /// The counter of block `index` of `stream`.
    @inlinable
    public static func counter(block index: UInt64, stream: Stream) -> SIMD4<UInt32> {
        SIMD4(UInt32(truncatingIfNeeded: index), UInt32(truncatingIfNeeded: index >> 32), stream.rawValue, 0)
    }

    /// The 32 random bits of element `n` of `stream` under `seed` (word n mod 4 of block n / 4).
    @inlinable
    public static func bits(seed: UInt64, stream: Stream, element n: UInt64) -> UInt32 {
        block(counter: counter(block: n >> 2, stream: stream), key: key(seed))[Int(n & 3)]
    }

    /// A uniform float in [0, 1) from 32 random bits: the top 24 bits times 2⁻²⁴ (exact in
    /// fp32, so every device computes the same value).
    @inlinable
    public static func uniform(_ bits: UInt32) -> Float { Float(bits >> 8) * 0x1p-24 }

    /// What a draw is for, the third counter word: draws of different purposes under one seed
    /// never share a block. The values are part of the kernels' contract (random.cl).
    public enum Stream: UInt32, Sendable {
        /// Dropout masks, one word per element.
        case dropout = 0
        /// Image augmentation, one block per sample: (flip, angle, shift x, shift y).
        case augmentation = 1
    }
}
