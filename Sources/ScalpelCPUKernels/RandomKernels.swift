// Dropout's Philox-4x32-10 for the CPU backend's fast path, eight blocks at a time (AVX2's
// 32×32→64-bit multiply does a round's two products for eight blocks in two instructions).
// The generator is ScalpelCore's `Philox` (this module sees no other module): the constants
// and the counter layout are the same, and the tests compare the two bit for bit.

/// SIMD Philox draws of the CPU backend.
public enum RandomKernels {
    static let m0: UInt64 = 0xD251_1F53, m1: UInt64 = 0xCD9E_8D57
    static let w0: UInt32 = 0x9E37_79B9, w1: UInt32 = 0xBB67_AE85

    /// y[i] = x[i]·scale where the top 24 bits of element offset + i of the dropout stream
    /// (stream word 0) are below `threshold`, else 0, for i in start ..< end; element n is word
    /// n mod 4 of the block with counter (lo32(n / 4), hi32(n / 4), 0, 0) under (key0, key1).
    public static func dropout(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, start: Int, end: Int, offset: UInt64,
                               key0: UInt32, key1: UInt32, threshold: UInt32, scale: Float) {
        var i = start
        while i < end {
            let n = offset &+ UInt64(i)
            if n & 3 == 0 && i + 32 <= end {
                let (a, b, c, d) = blocks8(first: n >> 2, key0: key0, key1: key1)
                for lane in 0 ..< 8 {
                    let e = i + 4 * lane
                    y[e] = a[lane] >> 8 < threshold ? x[e] * scale : 0
                    y[e + 1] = b[lane] >> 8 < threshold ? x[e + 1] * scale : 0
                    y[e + 2] = c[lane] >> 8 < threshold ? x[e + 2] * scale : 0
                    y[e + 3] = d[lane] >> 8 < threshold ? x[e + 3] * scale : 0
                }
                i += 32
                continue
            }
            let (a, b, c, d) = blocks8(first: n >> 2, key0: key0, key1: key1)
            var word = Int(n & 3)
            while word < 4 && i < end {
                let bits = word == 0 ? a[0] : word == 1 ? b[0] : word == 2 ? c[0] : d[0]
                y[i] = bits >> 8 < threshold ? x[i] * scale : 0
                word += 1
                i += 1
            }
        }
    }

    /// Words 0, 1, 2, 3 of the dropout stream's blocks first ..< first + 8, lane l for block first + l.
    @inline(__always)
    static func blocks8(first: UInt64, key0: UInt32, key1: UInt32) -> (SIMD8<UInt32>, SIMD8<UInt32>, SIMD8<UInt32>, SIMD8<UInt32>) {
        let blocks = SIMD8<UInt64>(repeating: first) &+ SIMD8(0, 1, 2, 3, 4, 5, 6, 7)
        var c0 = SIMD8<UInt32>(truncatingIfNeeded: blocks), c1 = SIMD8<UInt32>(truncatingIfNeeded: blocks &>> 32)
        var c2 = SIMD8<UInt32>(repeating: 0), c3 = SIMD8<UInt32>(repeating: 0)
        var (k0, k1) = (key0, key1)
        for round in 0 ..< 10 {
            if round > 0 {
                k0 &+= w0
                k1 &+= w1
            }
            let p0 = SIMD8<UInt64>(truncatingIfNeeded: c0) &* SIMD8(repeating: m0)
            let p1 = SIMD8<UInt64>(truncatingIfNeeded: c2) &* SIMD8(repeating: m1)
            (c0, c1, c2, c3) = (SIMD8<UInt32>(truncatingIfNeeded: p1 &>> 32) ^ c1 ^ SIMD8(repeating: k0), SIMD8<UInt32>(truncatingIfNeeded: p1),
                                SIMD8<UInt32>(truncatingIfNeeded: p0 &>> 32) ^ c3 ^ SIMD8(repeating: k1), SIMD8<UInt32>(truncatingIfNeeded: p0))
        }
        return (c0, c1, c2, c3)
    }
}
