import Foundation

// The row-wise pieces of the fast fp32 attention path, 8 lanes at a time (AVX2), compiled for
// the haswell level like the GEMM micro-kernel. ScalpelCPU's CPUAttention does the blocking,
// the products (with PackedGEMM's micro-kernel) and the threading; everything here works on a
// block of score rows that fits in cache.
//
// A row r of a score block has `visible[r]` live columns (a prefix: padding and causal masks
// both cut keys off at the end), `width` ≥ that many columns in all, and stride `ld`.

/// Softmax and its gradient along score rows, with a vectorised exp.
public enum AttentionKernels {

    /// Elements i..<i+count (count < 8) of p, the other lanes `fill`.
    @inline(__always)
    static func loadPartial(_ p: UnsafePointer<Float>, _ i: Int, _ count: Int, fill: Float) -> SIMD8<Float> {
        var v = SIMD8<Float>(repeating: fill)
        for lane in 0 ..< count { v[lane] = p[i + lane] }
        return v
    }

    @inline(__always)
    static func storePartial(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>, _ i: Int, _ count: Int) {
        for lane in 0 ..< count { p[i + lane] = v[lane] }
    }

    /// Lane-wise maximum and minimum as compare-and-select (the stdlib's generic pointwiseMax
    /// runs lane by lane, unspecialised: measured at a third of the forward pass).
    @inline(__always)
    static func maximum(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> { a.replacing(with: b, where: b .> a) }

    @inline(__always)
    static func minimum(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> { a.replacing(with: b, where: b .< a) }

    /// The largest lane.
    @inline(__always)
    static func largest(_ v: SIMD8<Float>) -> Float {
        let four = v.lowHalf.replacing(with: v.highHalf, where: v.highHalf .> v.lowHalf)
        let two = four.lowHalf.replacing(with: four.highHalf, where: four.highHalf .> four.lowHalf)
        return two[0] > two[1] ? two[0] : two[1]
    }

    /// The sum of the lanes.
    @inline(__always)
    static func total(_ v: SIMD8<Float>) -> Float {
        let four = v.lowHalf + v.highHalf, two = four.lowHalf + four.highHalf
        return two[0] + two[1]
    }

    /// eˣ per lane (Cephes' expf: x = n·ln 2 + r with |r| ≤ ln 2 / 2, a degree-6 polynomial for
    /// eʳ, 2ⁿ put into the exponent bits): within 2 ulp of the exact value over the normal range;
    /// 0 below −87.3 (where eˣ leaves the normal floats) and for −∞.
    @inline(__always)
    public static func exp(_ x: SIMD8<Float>) -> SIMD8<Float> {
        let low = SIMD8<Float>(repeating: -87.33654), high = SIMD8<Float>(repeating: 88.37626)
        let clamped = minimum(maximum(x, low), high)
        // n = round(x / ln 2) by the 1.5·2²³ trick: the sum's low mantissa bits hold n.
        let magic = SIMD8<Float>(repeating: 12_582_912)
        let shifted = clamped * SIMD8(repeating: 1.442_695_04) + magic
        let n = shifted - magic
        var r = clamped.addingProduct(n, SIMD8(repeating: -0.693_359_375))
        r = r.addingProduct(n, SIMD8(repeating: 2.121_944_4e-4))
        // Horner's rule with fused multiply-adds: p = c + p·r.
        var p = SIMD8<Float>(repeating: 1.987_569_15e-4)
        p = SIMD8(repeating: 1.398_199_95e-3).addingProduct(p, r)
        p = SIMD8(repeating: 8.333_451_9e-3).addingProduct(p, r)
        p = SIMD8(repeating: 4.166_579_59e-2).addingProduct(p, r)
        p = SIMD8(repeating: 1.666_666_55e-1).addingProduct(p, r)
        p = SIMD8(repeating: 5.000_000_12e-1).addingProduct(p, r)
        let y = (r + SIMD8(repeating: 1)).addingProduct(p, r * r)
        let nBits = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- SIMD8(repeating: 0x4B40_0000)
        let scale = unsafeBitCast((nBits &+ SIMD8(repeating: 127)) &<< SIMD8(repeating: 23), to: SIMD8<Float>.self)
        return (y * scale).replacing(with: 0, where: x .< low)
    }

    /// Row-wise softmax of a block of scaled scores, in place: row r becomes its probabilities
    /// over columns 0..<visible[r] and 0 over visible[r]..<width; lse[r] = log Σ exp(score)
    /// over the visible columns (−∞, and a zero row, when none is visible).
    public static func softmaxRows(_ s: UnsafeMutablePointer<Float>, ld: Int, rows: Int, width: Int,
                                   visible: UnsafePointer<Int>, lse: UnsafeMutablePointer<Float>) {
        for r in 0 ..< rows {
            let row = s + r * ld, live = min(visible[r], width)
            if live <= 0 {
                row.update(repeating: 0, count: width)
                lse[r] = -.infinity
                continue
            }
            var peakLanes = SIMD8<Float>(repeating: -.infinity)
            var j = 0
            while j + 8 <= live { peakLanes = maximum(peakLanes, load8(row, j)); j += 8 }
            if j < live { peakLanes = maximum(peakLanes, loadPartial(row, j, live - j, fill: -.infinity)) }
            let peak = largest(peakLanes)
            let vPeak = SIMD8<Float>(repeating: peak)
            var sum = SIMD8<Float>()
            j = 0
            while j + 8 <= live {
                let e = exp(load8(row, j) - vPeak)
                store8(e, row, j)
                sum += e
                j += 8
            }
            if j < live {
                let e = exp(loadPartial(row, j, live - j, fill: -.infinity) - vPeak)
                storePartial(e, row, j, live - j)
                sum += e
            }
            let rowTotal = total(sum)
            let inverse = SIMD8<Float>(repeating: 1 / rowTotal)
            j = 0
            while j + 8 <= live { store8(load8(row, j) * inverse, row, j); j += 8 }
            while j < live { row[j] *= inverse[0]; j += 1 }
            (row + live).update(repeating: 0, count: width - live)
            lse[r] = peak + Foundation.log(rowTotal)
        }
    }

    /// The backward pass's row work, in place: p[r, j] = exp(s[r, j] − lse[r]) (the scaled
    /// scores become probabilities) and dp[r, j] = p·(dp[r, j] − delta[r]) (the gradient of the
    /// probabilities becomes that of the scores), for j < visible[r]; both 0 up to width.
    public static func softmaxGradientRows(scores s: UnsafeMutablePointer<Float>, dp: UnsafeMutablePointer<Float>, ld: Int, rows: Int,
                                           width: Int, visible: UnsafePointer<Int>, lse: UnsafePointer<Float>, delta: UnsafePointer<Float>) {
        for r in 0 ..< rows {
            let sRow = s + r * ld, gRow = dp + r * ld, live = min(visible[r], width)
            if live > 0 {
                let vLse = SIMD8<Float>(repeating: lse[r]), vDelta = SIMD8<Float>(repeating: delta[r])
                var j = 0
                while j + 8 <= live {
                    let p = exp(load8(sRow, j) - vLse)
                    store8(p, sRow, j)
                    store8(p * (load8(gRow, j) - vDelta), gRow, j)
                    j += 8
                }
                if j < live {
                    let count = live - j
                    let p = exp(loadPartial(sRow, j, count, fill: -.infinity) - vLse)
                    storePartial(p, sRow, j, count)
                    storePartial(p * (loadPartial(gRow, j, count, fill: 0) - vDelta), gRow, j, count)
                }
            }
            let start = max(live, 0)
            (sRow + start).update(repeating: 0, count: width - start)
            (gRow + start).update(repeating: 0, count: width - start)
        }
    }

    /// out[r] = Σ_c a[r·lda + c]·b[r·ldb + c] for r < rows, c < n (delta = rowsum(dO ⊙ O)).
    public static func rowDots(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, rows: Int, n: Int, lda: Int, ldb: Int,
                               into out: UnsafeMutablePointer<Float>) {
        for r in 0 ..< rows {
            let ar = a + r * lda, br = b + r * ldb
            var acc = SIMD8<Float>()
            var c = 0
            while c + 8 <= n { acc = acc.addingProduct(load8(ar, c), load8(br, c)); c += 8 }
            var sum = total(acc)
            while c < n { sum += ar[c] * br[c]; c += 1 }
            out[r] = sum
        }
    }
}
