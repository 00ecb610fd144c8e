// The packing of a gathered convolution, compiled for AVX2+FMA (see Package.swift): GEMM
// operands read straight from an image tensor at per-row and per-column offsets, so that a
// convolution's GEMM skips the filter taps that fall on the padding instead of multiplying the
// zeros im2col writes for them. On a small plane those are a large share of the work: a 3×3
// stride-2 layer from 7×7 to 4×4 has 31% of its taps on the padding, one from 14×14 to 7×7 9%.
// The multiplies are PackedGEMM's micro-kernel on the packed panels.

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
