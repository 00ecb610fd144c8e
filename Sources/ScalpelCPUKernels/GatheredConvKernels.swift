// The packing of a gathered convolution, compiled for AVX2+FMA (see Package.swift): GEMM
// operands read straight from an image tensor at per-row and per-column offsets, so that a
// convolution's GEMM skips the filter taps that fall on the padding instead of multiplying the
// zeros im2col writes for them. On a small plane those are a large share of the work: a 3×3
// stride-2 layer from 7×7 to 4×4 has 31% of its taps on the padding, one from 14×14 to 7×7 9%.
// The multiplies are PackedGEMM's micro-kernel on the packed panels, or the indirect kernel
// (`indirectBlock`) that reads the positions in place through a table of row pointers.

/// Gathered packing for the convolution passes of `CPUGatheredConvolution`.
public enum GatheredConvKernels {
    /// Copies `images` planes of (channels × area) floats into channels-last order, (area ×
    /// channels) each, through 8×8 register transposes: a position's channels become one
    /// contiguous run, which the packing below reads eight at a time.
    public static func channelsLast(_ source: UnsafePointer<Float>, images: Range<Int>, channels: Int, area: Int,
                                    into target: UnsafeMutablePointer<Float>) {
        for image in images {
            let (from, to) = (source + image * channels * area, target + image * channels * area)
            var c = 0
            // Sixteen channels at a time, so that each position's 64 bytes of them (a cache line
            // when aligned) are written together.
            while c + 16 <= channels {
                var p = 0
                while p + 8 <= area {
                    PackedGEMM.transposed8x8(from + c * area + p, stride: area, into: to + p * channels + c, stride: channels)
                    PackedGEMM.transposed8x8(from + (c + 8) * area + p, stride: area, into: to + p * channels + c + 8, stride: channels)
                    p += 8
                }
                for q in p ..< area {
                    for i in 0 ..< 16 { to[q * channels + c + i] = from[(c + i) * area + q] }
                }
                c += 16
            }
            while c + 8 <= channels {
                var p = 0
                while p + 8 <= area {
                    PackedGEMM.transposed8x8(from + c * area + p, stride: area, into: to + p * channels + c, stride: channels)
                    p += 8
                }
                for q in p ..< area {
                    for i in 0 ..< 8 { to[q * channels + c + i] = from[(c + i) * area + q] }
                }
                c += 8
            }
            for i in c ..< channels {
                for q in 0 ..< area { to[q * channels + i] = from[i * area + q] }
            }
        }
    }

    /// Packs a `depth` × NR micro-panel of B from a channels-last tensor (`channels` floats per
    /// position): out[k·NR + j] = source[positions[j]·channels + first + k] for j < `count`,
    /// zero for the columns from `count` to NR (past a class of positions). Eight positions by
    /// eight channels at a time through a register transpose.
    public static func packB(_ source: UnsafePointer<Float>, channels: Int, first: Int, depth: Int,
                             positions: UnsafePointer<Int>, count: Int, into out: UnsafeMutablePointer<Float>) {
        let nr = PackedGEMM.nr
        for half in stride(from: 0, to: nr, by: 8) {
            let valid = max(0, min(8, count - half))
            func row(_ i: Int, _ k: Int) -> SIMD8<Float> {
                i < valid ? UnsafeRawPointer(source + positions[half + i] * channels + first + k).loadUnaligned(as: SIMD8<Float>.self) : SIMD8()
            }
            var k = 0
            while k + 8 <= depth {
                let t = PackedGEMM.transpose((row(0, k), row(1, k), row(2, k), row(3, k), row(4, k), row(5, k), row(6, k), row(7, k)))
                let target = UnsafeMutableRawPointer(out + k * nr + half)
                target.storeBytes(of: t.0, as: SIMD8<Float>.self)
                target.storeBytes(of: t.1, toByteOffset: 4 * nr, as: SIMD8<Float>.self)
                target.storeBytes(of: t.2, toByteOffset: 8 * nr, as: SIMD8<Float>.self)
                target.storeBytes(of: t.3, toByteOffset: 12 * nr, as: SIMD8<Float>.self)
                target.storeBytes(of: t.4, toByteOffset: 16 * nr, as: SIMD8<Float>.self)
                target.storeBytes(of: t.5, toByteOffset: 20 * nr, as: SIMD8<Float>.self)
                target.storeBytes(of: t.6, toByteOffset: 24 * nr, as: SIMD8<Float>.self)
                target.storeBytes(of: t.7, toByteOffset: 28 * nr, as: SIMD8<Float>.self)
                k += 8
            }
            while k < depth {
                for i in 0 ..< 8 { out[k * nr + half + i] = i < valid ? source[positions[half + i] * channels + first + k] : 0 }
                k += 1
            }
        }
    }

    /// Packs a `depth` × NR micro-panel of B whose rows are positions of a channels-last tensor:
    /// out[p·NR + j] = source[rows[p] + j] for j < `count` (contiguous channels), zero after.
    public static func packRows(_ source: UnsafePointer<Float>, rows: UnsafePointer<Int>, depth: Int, count: Int,
                                into out: UnsafeMutablePointer<Float>) {
        let nr = PackedGEMM.nr
        if count == nr {
            var target = UnsafeMutableRawPointer(out)
            for p in 0 ..< depth {
                let row = UnsafeRawPointer(source + rows[p])
                target.storeBytes(of: row.loadUnaligned(as: SIMD8<Float>.self), as: SIMD8<Float>.self)
                target.storeBytes(of: row.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self), toByteOffset: 32, as: SIMD8<Float>.self)
                target += 4 * nr
            }
            return
        }
        var target = out
        for p in 0 ..< depth {
            let row = source + rows[p]
            for j in 0 ..< count { target[j] = row[j] }
            for j in count ..< nr { target[j] = 0 }
            target += nr
        }
    }

    /// Packs A as `PackedGEMM.packA` lays it out with kc = `depth` (MR-row micro-panels, each
    /// `depth` × MR): row i, column p of A is source[rows[i] + columns[p]], for `count` rows;
    /// rows past `count`, up to a multiple of MR, are zero.
    public static func packA(_ source: UnsafePointer<Float>, rows: UnsafePointer<Int>, count: Int,
                             columns: UnsafePointer<Int>, depth: Int, into out: UnsafeMutablePointer<Float>) {
        let mr = PackedGEMM.mr
        var panel = out
        var i = 0
        while i < count {
            let valid = min(mr, count - i)
            var target = panel
            if valid == mr {
                let (r0, r1, r2) = (source + rows[i], source + rows[i + 1], source + rows[i + 2])
                let (r3, r4, r5) = (source + rows[i + 3], source + rows[i + 4], source + rows[i + 5])
                for p in 0 ..< depth {
                    let column = columns[p]
                    target[0] = r0[column]; target[1] = r1[column]; target[2] = r2[column]
                    target[3] = r3[column]; target[4] = r4[column]; target[5] = r5[column]
                    target += mr
                }
            } else {
                for p in 0 ..< depth {
                    let column = columns[p]
                    for r in 0 ..< valid { target[r] = source[rows[i + r] + column] }
                    for r in valid ..< mr { target[r] = 0 }
                    target += mr
                }
            }
            panel += mr * depth
            i += mr
        }
    }
}

extension GatheredConvKernels {
    /// C (rows × panels·NR, rows `ldc` apart) (+)= A · B on the 6×16 micro-kernel: A packed in
    /// MR-row micro-panels `panelStride` floats apart, each read for `depth` values of k from its
    /// start; B `panels` micro-panels of `depth` × NR, one after another. `rows` is a multiple of
    /// MR (A and C padded to it). With `accumulate`, C += A·B; otherwise C = A·B. The rows go
    /// in blocks of `rowBlock` (a multiple of MR), whose A micro-panels stay in L2 while each B
    /// micro-panel, in L1, meets them.
    public static func multiply(rows: Int, panels: Int, depth: Int, packedA: UnsafePointer<Float>, panelStride: Int,
                                packedB: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool,
                                rowBlock: Int) {
        let (mr, nr) = (PackedGEMM.mr, PackedGEMM.nr)
        for first in stride(from: 0, to: rows, by: rowBlock) {
            let last = min(rows, first + rowBlock)
            for q in 0 ..< panels {
                let b = packedB + q * depth * nr
                var i = first
                while i < last {
                    PackedGEMM.microKernel(kc: depth, a: packedA + (i / mr) * panelStride, b: b, c: c + i * ldc + q * nr, ldc: ldc,
                                           rows: mr, cols: nr, alpha: 1, beta: accumulate ? 1 : 0)
                    i += mr
                }
            }
        }
    }
}

extension GatheredConvKernels {
    /// Packs the filters W (K, C, 3, 3) tap by tap as the A operand, in one pass over W: for
    /// tap t, A_t is W[·][·][t] (K × C), or its transpose (C × K) when `transposed`; its
    /// columns go in blocks of `depth`, each block packed as `PackedGEMM.packA` lays out an A
    /// block at packed + (t·columns + block start)·paddedRows. Only the micro-panels of rows
    /// `panels` (counted in MR rows) are written, so that threads can share the work.
    public static func packTaps(_ w: UnsafePointer<Float>, outChannels k: Int, inChannels c: Int, transposed: Bool, depth: Int,
                                panels: Range<Int>, into packed: UnsafeMutablePointer<Float>) {
        let mr = PackedGEMM.mr
        let (rows, columns) = transposed ? (c, k) : (k, c)
        let paddedRows = (rows + mr - 1) / mr * mr
        for panel in panels {
            for column in 0 ..< columns {
                let blockStart = column / depth * depth, blockCount = min(depth, columns - blockStart)
                for t in 0 ..< 9 {
                    let target = packed + (t * columns + blockStart) * paddedRows + panel * mr * blockCount + (column - blockStart) * mr
                    for r in 0 ..< mr {
                        let row = panel * mr + r
                        target[r] = row < rows ? (transposed ? w[(column * c + row) * 9 + t] : w[(row * c + column) * 9 + t]) : 0
                    }
                }
            }
        }
    }
}

extension GatheredConvKernels {
    /// Positions per register block of the indirect micro-kernel (its rows).
    public static let indirectRows = PackedGEMM.mr
    /// Filters per register block of the indirect micro-kernel (its columns).
    public static let indirectColumns = PackedGEMM.nr

    /// The register block of an indirect GEMM (XNNPACK's igemm) for the first `valid` of six
    /// positions: tile[i·16 + j] = Σ over the `count` taps t and k < `depth` of rows[t·6 + i][k] ·
    /// b[taps[t] + k·16 + j], for i < `valid` (the rows after it are left as they were). Row i of
    /// tap t is a position's channels-last input at that tap, read in place (no packing); b holds
    /// the packed filters (`packIndirect`), `taps[t]` the offset of tap t's block. The sums stay
    /// in registers across every tap and the tile is written once. A block of two or four valid
    /// positions (a class's last) runs a two- or four-row kernel: no multiplies for padding.
    public static func indirectBlock(taps: UnsafePointer<Int>, count: Int, depth: Int, rows: UnsafePointer<UnsafePointer<Float>>,
                                     b: UnsafePointer<Float>, tile: UnsafeMutablePointer<Float>, valid: Int) {
        switch valid {
        case 1 ... 2: indirectBlock2(taps: taps, count: count, depth: depth, rows: rows, b: b, tile: tile)
        case 3 ... 4: indirectBlock4(taps: taps, count: count, depth: depth, rows: rows, b: b, tile: tile)
        default: indirectBlock6(taps: taps, count: count, depth: depth, rows: rows, b: b, tile: tile)
        }
    }

    /// `indirectSums` for six rows. Never inlined, as `PackedGEMM.microKernel`.
    @inline(never)
    static func indirectBlock6(taps: UnsafePointer<Int>, count: Int, depth: Int, rows: UnsafePointer<UnsafePointer<Float>>,
                               b: UnsafePointer<Float>, tile: UnsafeMutablePointer<Float>) {
        indirectSums(6, taps: taps, count: count, depth: depth, rows: rows, b: b, tile: tile)
    }

    /// `indirectSums` for four rows.
    @inline(never)
    static func indirectBlock4(taps: UnsafePointer<Int>, count: Int, depth: Int, rows: UnsafePointer<UnsafePointer<Float>>,
                               b: UnsafePointer<Float>, tile: UnsafeMutablePointer<Float>) {
        indirectSums(4, taps: taps, count: count, depth: depth, rows: rows, b: b, tile: tile)
    }

    /// `indirectSums` for two rows.
    @inline(never)
    static func indirectBlock2(taps: UnsafePointer<Int>, count: Int, depth: Int, rows: UnsafePointer<UnsafePointer<Float>>,
                               b: UnsafePointer<Float>, tile: UnsafeMutablePointer<Float>) {
        indirectSums(2, taps: taps, count: count, depth: depth, rows: rows, b: b, tile: tile)
    }

    /// The loop of `indirectBlock` for its first `r` rows (2, 4 or 6: a constant once inlined,
    /// so that the unused accumulators vanish).
    @inline(__always)
    static func indirectSums(_ r: Int, taps: UnsafePointer<Int>, count: Int, depth: Int, rows: UnsafePointer<UnsafePointer<Float>>,
                             b: UnsafePointer<Float>, tile: UnsafeMutablePointer<Float>) {
        var c00 = SIMD8<Float>(), c01 = SIMD8<Float>()
        var c10 = SIMD8<Float>(), c11 = SIMD8<Float>()
        var c20 = SIMD8<Float>(), c21 = SIMD8<Float>()
        var c30 = SIMD8<Float>(), c31 = SIMD8<Float>()
        var c40 = SIMD8<Float>(), c41 = SIMD8<Float>()
        var c50 = SIMD8<Float>(), c51 = SIMD8<Float>()
        for t in 0 ..< count {
            let row = rows + t * 6
            let (a0, a1) = (row[0], row[1])
            let (a2, a3) = r > 2 ? (row[2], row[3]) : (a0, a0)
            let (a4, a5) = r > 4 ? (row[4], row[5]) : (a0, a0)
            var bp = UnsafeRawPointer(b + taps[t])
            for k in 0 ..< depth {
                let b0 = bp.loadUnaligned(as: SIMD8<Float>.self)
                let b1 = bp.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self)
                var av = SIMD8<Float>(repeating: a0[k])
                c00.addProduct(av, b0); c01.addProduct(av, b1)
                av = SIMD8<Float>(repeating: a1[k])
                c10.addProduct(av, b0); c11.addProduct(av, b1)
                if r > 2 {
                    av = SIMD8<Float>(repeating: a2[k])
                    c20.addProduct(av, b0); c21.addProduct(av, b1)
                    av = SIMD8<Float>(repeating: a3[k])
                    c30.addProduct(av, b0); c31.addProduct(av, b1)
                }
                if r > 4 {
                    av = SIMD8<Float>(repeating: a4[k])
                    c40.addProduct(av, b0); c41.addProduct(av, b1)
                    av = SIMD8<Float>(repeating: a5[k])
                    c50.addProduct(av, b0); c51.addProduct(av, b1)
                }
                bp += 64
            }
        }
        PackedGEMM.store(c00, c01, to: tile, alpha: 1, beta: 0)
        PackedGEMM.store(c10, c11, to: tile + 16, alpha: 1, beta: 0)
        if r > 2 {
            PackedGEMM.store(c20, c21, to: tile + 32, alpha: 1, beta: 0)
            PackedGEMM.store(c30, c31, to: tile + 48, alpha: 1, beta: 0)
        }
        if r > 4 {
            PackedGEMM.store(c40, c41, to: tile + 64, alpha: 1, beta: 0)
            PackedGEMM.store(c50, c51, to: tile + 80, alpha: 1, beta: 0)
        }
    }

    /// Packs the filters W (K, C, 3, 3) for `indirectBlock`, 16 filters a panel: for panel P,
    /// tap t and reduction index k, out[((P·9 + t)·depth + k)·16 + j] is W[o][c][t] with
    /// (o, c) = (16P + j, k), or (k, 16P + j) when `transposed` (the input gradient's Wᵀ), and
    /// zero past the last filter. Only the panels `panels` are written, so that threads can
    /// share the work.
    public static func packIndirect(_ w: UnsafePointer<Float>, outChannels k: Int, inChannels c: Int, transposed: Bool,
                                    panels: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        let (columns, depth) = transposed ? (c, k) : (k, c)
        for panel in panels {
            for j in 0 ..< 16 {
                let column = panel * 16 + j
                for t in 0 ..< 9 {
                    let target = out + (panel * 9 + t) * depth * 16 + j
                    if column < columns {
                        for r in 0 ..< depth { target[r * 16] = transposed ? w[(r * c + column) * 9 + t] : w[(column * c + r) * 9 + t] }
                    } else {
                        for r in 0 ..< depth { target[r * 16] = 0 }
                    }
                }
            }
        }
    }
}
