// The fast GEMM's register block for AVX-512 (compiled for skylake-avx512, i.e. x86-64-v4; see
// Package.swift): 6 rows × 32 columns of C in twelve 512-bit registers. The packed A panels are
// PackedGEMM's (MR = 6); the B panels are 32 columns wide, packed by PackedGEMM.packB with
// nr = 32. ScalpelCPU calls into this module only after checking that the CPU has AVX-512 F,
// BW, CD, DQ and VL.

/// The AVX-512 macro- and micro-kernel of the fast GEMM (MR = 6, NR = 32).
public enum PackedGEMM512 {
    /// MR: rows of C per micro-kernel call (the packed A panels are PackedGEMM's).
    public static let mr = 6
    /// NR: columns of C per micro-kernel call, and values per k in a packed B micro-panel.
    public static let nr = 32

    /// C[i0..<i0+mc, columns of panels] (op)= alpha · Apacked · Bpacked for the 32-wide B
    /// micro-panels in `panels` (counted from column j0); the contract of PackedGEMM.macroKernel.
    public static func macroKernel(mc: Int, n: Int, kc: Int,
                                   packedA: UnsafePointer<Float>, packedB: UnsafePointer<Float>,
                                   j0: Int, panels: Range<Int>,
                                   c: UnsafeMutablePointer<Float>, ldc: Int,
                                   alpha: Float, beta: Float, accumulate: Bool) {
        let effectiveBeta: Float = accumulate ? 1 : beta
        for q in panels {
            let jStart = j0 + q * nr
            let cols = min(nr, n - jStart)
            if cols <= 0 { break }
            let bPanel = packedB + q * kc * nr
            var i = 0
            while i < mc {
                microKernel(kc: kc, a: packedA + (i / mr) * kc * mr, b: bPanel, c: c + i * ldc + jStart, ldc: ldc,
                            rows: min(mr, mc - i), cols: cols, alpha: alpha, beta: effectiveBeta)
                i += mr
            }
        }
    }

    /// The 6×32 register block: C[0..<rows, 0..<cols] = alpha·Σ_p a[p]⊗b[p] + beta·C. Never
    /// inlined, like the AVX2 block: inside the macro-kernel's loops the accumulators would spill.
    @inline(never)
    static func microKernel(kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                            c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, cols: Int,
                            alpha: Float, beta: Float) {
        var c00 = SIMD16<Float>(), c01 = SIMD16<Float>()
        var c10 = SIMD16<Float>(), c11 = SIMD16<Float>()
        var c20 = SIMD16<Float>(), c21 = SIMD16<Float>()
        var c30 = SIMD16<Float>(), c31 = SIMD16<Float>()
        var c40 = SIMD16<Float>(), c41 = SIMD16<Float>()
        var c50 = SIMD16<Float>(), c51 = SIMD16<Float>()
        var ap = a
        var bp = UnsafeRawPointer(b)
        for _ in 0 ..< kc {
            let b0 = bp.loadUnaligned(as: SIMD16<Float>.self)
            let b1 = bp.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float>.self)
            var av = SIMD16<Float>(repeating: ap[0])
            c00 = c00.addingProduct(av, b0); c01 = c01.addingProduct(av, b1)
            av = SIMD16<Float>(repeating: ap[1])
            c10 = c10.addingProduct(av, b0); c11 = c11.addingProduct(av, b1)
            av = SIMD16<Float>(repeating: ap[2])
            c20 = c20.addingProduct(av, b0); c21 = c21.addingProduct(av, b1)
            av = SIMD16<Float>(repeating: ap[3])
            c30 = c30.addingProduct(av, b0); c31 = c31.addingProduct(av, b1)
            av = SIMD16<Float>(repeating: ap[4])
            c40 = c40.addingProduct(av, b0); c41 = c41.addingProduct(av, b1)
            av = SIMD16<Float>(repeating: ap[5])
            c50 = c50.addingProduct(av, b0); c51 = c51.addingProduct(av, b1)
            ap += 6
            bp += 128
        }
        if rows == 6 && cols == 32 {
            store(c00, c01, to: c, alpha: alpha, beta: beta)
            store(c10, c11, to: c + ldc, alpha: alpha, beta: beta)
            store(c20, c21, to: c + 2 * ldc, alpha: alpha, beta: beta)
            store(c30, c31, to: c + 3 * ldc, alpha: alpha, beta: beta)
            store(c40, c41, to: c + 4 * ldc, alpha: alpha, beta: beta)
            store(c50, c51, to: c + 5 * ldc, alpha: alpha, beta: beta)
        } else {
            // Edge block: spill the tile and write only the valid part.
            withUnsafeTemporaryAllocation(of: SIMD16<Float>.self, capacity: 12) { tile in
                tile.initializeElement(at: 0, to: c00); tile.initializeElement(at: 1, to: c01)
                tile.initializeElement(at: 2, to: c10); tile.initializeElement(at: 3, to: c11)
                tile.initializeElement(at: 4, to: c20); tile.initializeElement(at: 5, to: c21)
                tile.initializeElement(at: 6, to: c30); tile.initializeElement(at: 7, to: c31)
                tile.initializeElement(at: 8, to: c40); tile.initializeElement(at: 9, to: c41)
                tile.initializeElement(at: 10, to: c50); tile.initializeElement(at: 11, to: c51)
                let t = UnsafeRawPointer(tile.baseAddress!).assumingMemoryBound(to: Float.self)
                for r in 0 ..< rows {
                    let row = c + r * ldc
                    for j in 0 ..< cols {
                        let v = alpha * t[r * 32 + j]
                        row[j] = beta == 0 ? v : v + beta * row[j]
                    }
                }
            }
        }
    }

    @inline(__always)
    static func store(_ lo: SIMD16<Float>, _ hi: SIMD16<Float>, to c: UnsafeMutablePointer<Float>, alpha: Float, beta: Float) {
        let raw = UnsafeMutableRawPointer(c)
        var l = lo * alpha, h = hi * alpha
        if beta != 0 {
            l = l.addingProduct(SIMD16(repeating: beta), raw.loadUnaligned(as: SIMD16<Float>.self))
            h = h.addingProduct(SIMD16(repeating: beta), raw.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float>.self))
        }
        raw.storeBytes(of: l, as: SIMD16<Float>.self)
        raw.storeBytes(of: h, toByteOffset: 64, as: SIMD16<Float>.self)
    }
}
