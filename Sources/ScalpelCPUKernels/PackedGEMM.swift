// The hot loops of the fast Swift GEMM, compiled for AVX2+FMA (see Package.swift). Callers
// (ScalpelCPU's FastGEMM) check the CPU first and do the blocking and threading; everything
// here works on one cache block and is concrete (no generics), so it is never run unspecialised.
//
// Layouts (Goto/BLIS): a packed A block is ⌈mc/MR⌉ micro-panels, each kc×MR (MR values of one
// k contiguous); a packed B block is ⌈nc/NR⌉ micro-panels, each kc×NR. Rows and columns past
// the matrix edge are packed as zeros, so the micro-kernel never branches on edges in its loop.

/// Register-block sizes of the micro-kernel: MR rows × NR columns of C live in 12 AVX registers.
public enum PackedGEMM {
    /// MR: rows of C per micro-kernel call, and values per k in a packed A micro-panel.
    public static let mr = 6
    /// NR: columns of C per micro-kernel call, and values per k in a packed B micro-panel.
    public static let nr = 16

    /// Floats needed to pack an mc×kc block of A.
    public static func packedASize(mc: Int, kc: Int) -> Int { (mc + mr - 1) / mr * mr * kc }
    /// Floats needed to pack a kc×nc block of B into micro-panels `nr` columns wide.
    public static func packedBSize(kc: Int, nc: Int, nr: Int = PackedGEMM.nr) -> Int { (nc + nr - 1) / nr * nr * kc }

    /// Packs rows i0..<i0+mc, columns k0..<k0+kc of op(A) (op(A) is m×k; A stored m×k with
    /// leading dimension lda, or k×m when `trans`).
    public static func packA(_ a: UnsafePointer<Float>, lda: Int, trans: Bool,
                             i0: Int, mc: Int, k0: Int, kc: Int, into dst: UnsafeMutablePointer<Float>) {
        var out = dst
        var i = 0
        while i < mc {
            let rows = min(mr, mc - i)
            if trans {
                // (row r, col p) of op(A) is a[(k0+p)*lda + i0+i+r]: MR contiguous values per p.
                for p in 0 ..< kc {
                    let src = a + (k0 + p) * lda + i0 + i
                    for r in 0 ..< rows { out[r] = src[r] }
                    for r in rows ..< mr { out[r] = 0 }
                    out += mr
                }
            } else {
                // (row r, col p) is a[(i0+i+r)*lda + k0+p]: walk MR rows side by side.
                if rows == mr {
                    let r0 = a + (i0 + i) * lda + k0
                    let r1 = r0 + lda, r2 = r1 + lda, r3 = r2 + lda, r4 = r3 + lda, r5 = r4 + lda
                    var p = 0
                    while p + 8 <= kc {
                        packSixRows(r0, r1, r2, r3, r4, r5, at: p, into: out)
                        out += 8 * mr
                        p += 8
                    }
                    while p < kc {
                        out[0] = r0[p]; out[1] = r1[p]; out[2] = r2[p]
                        out[3] = r3[p]; out[4] = r4[p]; out[5] = r5[p]
                        out += mr
                        p += 1
                    }
                } else {
                    for p in 0 ..< kc {
                        for r in 0 ..< rows { out[r] = a[(i0 + i + r) * lda + k0 + p] }
                        for r in rows ..< mr { out[r] = 0 }
                        out += mr
                    }
                }
            }
            i += mr
        }
    }

    /// Packs micro-panels `panels` (each `nr` columns — NR, or the AVX-512 kernel's 32 —,
    /// counted from column j0) of rows k0..<k0+kc of op(B) (op(B) is k×n; B stored k×n with
    /// leading dimension ldb, or n×k when `trans`). `dst` is the start of the whole packed
    /// block; panel q goes to dst + q·kc·nr. `n` bounds the columns (past it: zeros). `nr` is
    /// a multiple of 8.
    public static func packB(_ b: UnsafePointer<Float>, ldb: Int, trans: Bool, n: Int,
                             k0: Int, kc: Int, j0: Int, panels: Range<Int>, into dst: UnsafeMutablePointer<Float>,
                             nr: Int = PackedGEMM.nr) {
        for q in panels {
            var out = dst + q * kc * nr
            let jStart = j0 + q * nr
            let cols = max(0, min(nr, n - jStart))
            if trans {
                // (row p, col c) is b[(jStart+c)*ldb + k0+p]: eight columns by eight k at a
                // time through a register transpose, the rest one value at a time.
                var c = 0
                while c + 8 <= cols {
                    let src = b + (jStart + c) * ldb + k0
                    var p = 0
                    while p + 8 <= kc {
                        transposed8x8(src + p, stride: ldb, into: out + p * nr + c, stride: nr)
                        p += 8
                    }
                    while p < kc {
                        for i in 0 ..< 8 { out[p * nr + c + i] = src[i * ldb + p] }
                        p += 1
                    }
                    c += 8
                }
                while c < cols {
                    let src = b + (jStart + c) * ldb + k0
                    var o = out + c
                    for p in 0 ..< kc {
                        o.pointee = src[p]
                        o += nr
                    }
                    c += 1
                }
                if cols < nr {
                    for p in 0 ..< kc {
                        for c in cols ..< nr { out[p * nr + c] = 0 }
                    }
                }
            } else if cols == nr {
                var src = b + k0 * ldb + jStart
                for _ in 0 ..< kc {
                    var c = 0
                    while c < nr {
                        let v = UnsafeRawPointer(src + c).loadUnaligned(as: SIMD8<Float>.self)
                        UnsafeMutableRawPointer(out + c).storeBytes(of: v, as: SIMD8<Float>.self)
                        c += 8
                    }
                    out += nr
                    src += ldb
                }
            } else {
                for p in 0 ..< kc {
                    let src = b + (k0 + p) * ldb + jStart
                    for c in 0 ..< cols { out[c] = src[c] }
                    for c in cols ..< nr { out[c] = 0 }
                    out += nr
                }
            }
        }
    }

    /// C[i0..<i0+mc, columns of panels] (op)= alpha · Apacked · Bpacked, for the B micro-panels
    /// in `panels` (counted from column j0). With `accumulate` false, C = alpha·AB + beta·C
    /// (C not read when beta is 0); with `accumulate` true, C += alpha·AB (later k blocks).
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
                let rows = min(mr, mc - i)
                microKernel(kc: kc, a: packedA + (i / mr) * kc * mr, b: bPanel,
                            c: c + i * ldc + jStart, ldc: ldc, rows: rows, cols: cols,
                            alpha: alpha, beta: effectiveBeta)
                i += mr
            }
        }
    }

    /// The 6×16 register block: C[0..<rows, 0..<cols] = alpha·Σ_p a[p]⊗b[p] + beta·C.
    /// Never inlined: inside the macro-kernel's loops LLVM spills the twelve accumulators
    /// (measured 40 GFLOP/s per core inlined, 88 on its own).
    @inline(never)
    static func microKernel(kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                            c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, cols: Int,
                            alpha: Float, beta: Float) {
        let bp = UnsafeRawPointer(b)
        let sums = block(kc: kc, a: a) { bp + 64 * $0 }
        if rows == 6 && cols == 16 {
            storeBlock(sums, to: c, ldc: ldc, alpha: alpha, beta: beta)
        } else {
            // Edge block: spill the tile and write only the valid part.
            withUnsafeTemporaryAllocation(of: SIMD8<Float>.self, capacity: 12) { tile in
                tile.initializeElement(at: 0, to: sums.0); tile.initializeElement(at: 1, to: sums.1)
                tile.initializeElement(at: 2, to: sums.2); tile.initializeElement(at: 3, to: sums.3)
                tile.initializeElement(at: 4, to: sums.4); tile.initializeElement(at: 5, to: sums.5)
                tile.initializeElement(at: 6, to: sums.6); tile.initializeElement(at: 7, to: sums.7)
                tile.initializeElement(at: 8, to: sums.8); tile.initializeElement(at: 9, to: sums.9)
                tile.initializeElement(at: 10, to: sums.10); tile.initializeElement(at: 11, to: sums.11)
                let t = UnsafeRawPointer(tile.baseAddress!).assumingMemoryBound(to: Float.self)
                for r in 0 ..< rows {
                    let row = c + r * ldc
                    for j in 0 ..< cols {
                        let v = alpha * t[r * 16 + j]
                        row[j] = beta == 0 ? v : v + beta * row[j]
                    }
                }
            }
        }
    }

    /// C (m×n, rows `ldc` apart) = Apacked · B for a packed A of m rows (a multiple of MR, as
    /// `packA` lays them out with kc = k) and a B of k rows `ldb` apart read in place, n a
    /// multiple of NR: no B packing, for a caller that writes B in a cache-friendly layout itself
    /// (Winograd's transformed tiles). Each A panel stays in L1 while B's panels stream past it.
    public static func multiplyUnpackedB(m: Int, n: Int, k: Int, packedA: UnsafePointer<Float>,
                                         b: UnsafePointer<Float>, ldb: Int, c: UnsafeMutablePointer<Float>, ldc: Int) {
        var i = 0
        while i < m {
            var j = 0
            while j < n {
                microKernelUnpackedB(kc: k, a: packedA + i * k, b: b + j, ldb: ldb, c: c + i * ldc + j, ldc: ldc)
                j += nr
            }
            i += mr
        }
    }

    /// The 6×16 register block with B read in place, rows `ldb` apart: C = Σ_p a[p]⊗b[p].
    /// Never inlined, as `microKernel`.
    @inline(never)
    static func microKernelUnpackedB(kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, ldb: Int,
                                     c: UnsafeMutablePointer<Float>, ldc: Int) {
        let bp = UnsafeRawPointer(b), step = 4 * ldb
        storeBlock(block(kc: kc, a: a) { bp + step * $0 }, to: c, ldc: ldc, beta: 0)
    }

    /// The twelve accumulators of a 6×16 block of C.
    typealias Block12 = (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>,
                         SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>)

    /// Σ_p a[p]⊗b(p) for a packed A micro-panel and B's k-th 16 values at `b(k)`: the loop
    /// every micro-kernel shares (inlined into each, so that the twelve sums stay in registers).
    @inline(__always)
    static func block(kc: Int, a: UnsafePointer<Float>, _ b: (Int) -> UnsafeRawPointer) -> Block12 {
        var c00 = SIMD8<Float>(), c01 = SIMD8<Float>()
        var c10 = SIMD8<Float>(), c11 = SIMD8<Float>()
        var c20 = SIMD8<Float>(), c21 = SIMD8<Float>()
        var c30 = SIMD8<Float>(), c31 = SIMD8<Float>()
        var c40 = SIMD8<Float>(), c41 = SIMD8<Float>()
        var c50 = SIMD8<Float>(), c51 = SIMD8<Float>()
        var ap = a
        for p in 0 ..< kc {
            let bp = b(p)
            let b0 = bp.loadUnaligned(as: SIMD8<Float>.self)
            let b1 = bp.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self)
            var av = SIMD8<Float>(repeating: ap[0])
            c00.addProduct(av, b0); c01.addProduct(av, b1)
            av = SIMD8<Float>(repeating: ap[1])
            c10.addProduct(av, b0); c11.addProduct(av, b1)
            av = SIMD8<Float>(repeating: ap[2])
            c20.addProduct(av, b0); c21.addProduct(av, b1)
            av = SIMD8<Float>(repeating: ap[3])
            c30.addProduct(av, b0); c31.addProduct(av, b1)
            av = SIMD8<Float>(repeating: ap[4])
            c40.addProduct(av, b0); c41.addProduct(av, b1)
            av = SIMD8<Float>(repeating: ap[5])
            c50.addProduct(av, b0); c51.addProduct(av, b1)
            ap += 6
        }
        return (c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51)
    }

    /// Stores a whole 6×16 block: C = alpha·block + beta·C.
    @inline(__always)
    static func storeBlock(_ t: Block12, to c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float = 1, beta: Float) {
        store(t.0, t.1, to: c, alpha: alpha, beta: beta)
        store(t.2, t.3, to: c + ldc, alpha: alpha, beta: beta)
        store(t.4, t.5, to: c + 2 * ldc, alpha: alpha, beta: beta)
        store(t.6, t.7, to: c + 3 * ldc, alpha: alpha, beta: beta)
        store(t.8, t.9, to: c + 4 * ldc, alpha: alpha, beta: beta)
        store(t.10, t.11, to: c + 5 * ldc, alpha: alpha, beta: beta)
    }

    /// Eight SIMD rows, or the columns of their transpose.
    typealias Block8 = (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>)

    /// The columns of the 8×8 block whose rows are `r`: three rounds of two-input shuffles
    /// (pairs, then quads, then halves), as BLAS packing routines do.
    @inline(__always)
    static func transpose(_ r: Block8) -> Block8 {
        // Interleave pairs of rows: (a0 b0 a1 b1 a4 b4 a5 b5), (a2 b2 a3 b3 a6 b6 a7 b7).
        func low(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> { SIMD8(a[0], b[0], a[1], b[1], a[4], b[4], a[5], b[5]) }
        func high(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> { SIMD8(a[2], b[2], a[3], b[3], a[6], b[6], a[7], b[7]) }
        let t0 = low(r.0, r.1), t1 = high(r.0, r.1), t2 = low(r.2, r.3), t3 = high(r.2, r.3)
        let t4 = low(r.4, r.5), t5 = high(r.4, r.5), t6 = low(r.6, r.7), t7 = high(r.6, r.7)
        // Pairs of pairs: (x0 x1 y0 y1 x4 x5 y4 y5), (x2 x3 y2 y3 x6 x7 y6 y7).
        func lowPairs(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> { SIMD8(a[0], a[1], b[0], b[1], a[4], a[5], b[4], b[5]) }
        func highPairs(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> { SIMD8(a[2], a[3], b[2], b[3], a[6], a[7], b[6], b[7]) }
        let u0 = lowPairs(t0, t2), u1 = highPairs(t0, t2), u2 = lowPairs(t1, t3), u3 = highPairs(t1, t3)
        let u4 = lowPairs(t4, t6), u5 = highPairs(t4, t6), u6 = lowPairs(t5, t7), u7 = highPairs(t5, t7)
        // Halves: column j of rows 0–3 from u, of rows 4–7 from the matching u of the lower rows.
        return (SIMD8(lowHalf: u0.lowHalf, highHalf: u4.lowHalf), SIMD8(lowHalf: u1.lowHalf, highHalf: u5.lowHalf),
                SIMD8(lowHalf: u2.lowHalf, highHalf: u6.lowHalf), SIMD8(lowHalf: u3.lowHalf, highHalf: u7.lowHalf),
                SIMD8(lowHalf: u0.highHalf, highHalf: u4.highHalf), SIMD8(lowHalf: u1.highHalf, highHalf: u5.highHalf),
                SIMD8(lowHalf: u2.highHalf, highHalf: u6.highHalf), SIMD8(lowHalf: u3.highHalf, highHalf: u7.highHalf))
    }

    /// Writes the transpose of the 8×8 block at `source` (rows `stride` floats apart) to
    /// `target` (rows `targetStride` apart): target[j][i] = source[i][j].
    @inline(__always)
    static func transposed8x8(_ source: UnsafePointer<Float>, stride: Int, into target: UnsafeMutablePointer<Float>, stride targetStride: Int) {
        func row(_ i: Int) -> SIMD8<Float> { UnsafeRawPointer(source + i * stride).loadUnaligned(as: SIMD8<Float>.self) }
        let c = transpose((row(0), row(1), row(2), row(3), row(4), row(5), row(6), row(7)))
        func put(_ j: Int, _ v: SIMD8<Float>) { UnsafeMutableRawPointer(target + j * targetStride).storeBytes(of: v, as: SIMD8<Float>.self) }
        put(0, c.0); put(1, c.1); put(2, c.2); put(3, c.3); put(4, c.4); put(5, c.5); put(6, c.6); put(7, c.7)
    }

    /// Packs eight k of six rows (`r0` … `r5` at k offset `p`) as 8 groups of MR = 6 values:
    /// out[6q + i] = r_i[p + q]. Each group is stored as eight lanes (the last two land on the
    /// next group's first, written after it) but the last, stored as six.
    @inline(__always)
    static func packSixRows(_ r0: UnsafePointer<Float>, _ r1: UnsafePointer<Float>, _ r2: UnsafePointer<Float>, _ r3: UnsafePointer<Float>,
                            _ r4: UnsafePointer<Float>, _ r5: UnsafePointer<Float>, at p: Int, into out: UnsafeMutablePointer<Float>) {
        let zero = SIMD8<Float>()
        let c = transpose((load8(r0, p), load8(r1, p), load8(r2, p), load8(r3, p), load8(r4, p), load8(r5, p), zero, zero))
        store8(c.0, out, 0); store8(c.1, out, 6); store8(c.2, out, 12); store8(c.3, out, 18)
        store8(c.4, out, 24); store8(c.5, out, 30); store8(c.6, out, 36); storePartial8(c.7, to: out + 42, count: 6)
    }

    @inline(__always)
    static func store(_ lo: SIMD8<Float>, _ hi: SIMD8<Float>, to c: UnsafeMutablePointer<Float>, alpha: Float, beta: Float) {
        let raw = UnsafeMutableRawPointer(c)
        var l = lo * alpha, h = hi * alpha
        if beta != 0 {
            l.addProduct(SIMD8(repeating: beta), raw.loadUnaligned(as: SIMD8<Float>.self))
            h.addProduct(SIMD8(repeating: beta), raw.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self))
        }
        raw.storeBytes(of: l, as: SIMD8<Float>.self)
        raw.storeBytes(of: h, toByteOffset: 32, as: SIMD8<Float>.self)
    }
}

extension SIMD8 where Scalar == Float {
    /// self += a·b as one fused multiply-add per lane.
    @inline(__always)
    mutating func addProduct(_ a: SIMD8<Float>, _ b: SIMD8<Float>) {
        self = self.addingProduct(a, b)
    }
}
