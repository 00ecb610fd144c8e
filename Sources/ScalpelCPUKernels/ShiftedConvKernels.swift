// 3×3 convolutions with padding 1 and stride 1 or 2 on a shifted layout, compiled for AVX2+FMA
// (see Package.swift): the CPU's indirect convolution (XNNPACK's design), without im2col's
// nine-fold copy of the input.
//
// The shifted layout puts a set of planes on the output grid (OH × OW) with each image's rows
// P = OW + 1 floats apart (a zero column after each row), a zero row after each image, and zeros
// before the first position: position t = image·(OH + 1)·P + oy·P + ox. The input is copied into
// it by phase: for stride σ, phase (a, b) of channel c holds x[c][σ·i + a][σ·j + b] at position
// (i, j) (zero past the image), σ² planes per channel. Then filter tap (r, s) of output position t
// reads phase (a(r), a(s)) at t + d(r)·P + d(s), where r − 1 = σ·d(r) + a(r) — so a tap is one
// plane read at one fixed offset, and the zeros stand for the padding: the zero column for the
// neighbours left of the first column and right of the last, the zero rows for those above and
// below. A convolution pass is then a GEMM whose operand rows are planes at tap offsets, read in
// place through a table of row pointers (the forward and input-gradient passes), or dot products
// along the planes (the weight gradient).

/// The shifted layout and the three passes of a 3×3, padding-1 convolution on it.
public enum ShiftedConvKernels {
    /// Floats between the rows of an image in the shifted layout: the row and one zero.
    public static func pitch(outWidth: Int) -> Int { outWidth + 1 }

    /// Positions of the shifted layout of `images` images on an outHeight×outWidth grid, rounded
    /// up to whole micro-kernel panels: the length of an output-grid plane.
    public static func length(images: Int, outHeight: Int, outWidth: Int) -> Int {
        (images * (outHeight + 1) * pitch(outWidth: outWidth) + PackedGEMM.nr - 1) / PackedGEMM.nr * PackedGEMM.nr
    }

    /// Zero floats before a plane's first position: one zero row and one more, so that a tap
    /// up and to the left of the first position reads zeros.
    public static func margin(outWidth: Int) -> Int { pitch(outWidth: outWidth) + 1 }

    /// Floats per plane: the margin, the positions, and one row and one float more after them
    /// (taps below and to the right), plus a panel of slack.
    public static func planeStride(images: Int, outHeight: Int, outWidth: Int) -> Int {
        2 * margin(outWidth: outWidth) + length(images: images, outHeight: outHeight, outWidth: outWidth) + PackedGEMM.nr
    }

    /// Tap r of a 3×3 window at stride σ with padding 1: the phase a and the grid offset d with
    /// r − 1 = σ·d + a.
    public static func tap(_ r: Int, stride: Int) -> (phase: Int, offset: Int) {
        let d = r == 0 ? -1 : (r - 1) / stride
        return (r - 1 - stride * d, d)
    }

    /// Copies channels `channels` of `source` (images, channelCount, height, width) into the
    /// shifted layout by phase: plane (c·σ + a)·σ + b at `target + plane·planeStride`, its
    /// first position `margin` floats in, every other float of the plane zero.
    public static func layOut(_ source: UnsafePointer<Float>, images: Int, channelCount: Int, height: Int, width: Int,
                              stride: Int, outHeight: Int, outWidth: Int, channels: Range<Int>, margin: Int, planeStride: Int,
                              into target: UnsafeMutablePointer<Float>) {
        let p = pitch(outWidth: outWidth)
        for c in channels {
            for a in 0 ..< stride {
                for b in 0 ..< stride {
                    let plane = target + ((c * stride + a) * stride + b) * planeStride
                    plane.update(repeating: 0, count: margin)
                    var out = plane + margin
                    for image in 0 ..< images {
                        let channel = source + (image * channelCount + c) * height * width
                        for i in 0 ..< outHeight {
                            let y = stride * i + a
                            if y < height {
                                let row = channel + y * width + b
                                if stride == 1 {
                                    out.update(from: row, count: outWidth)
                                } else {
                                    let columns = min(outWidth, (width - b + stride - 1) / stride)
                                    for j in 0 ..< columns { out[j] = row[stride * j] }
                                    (out + columns).update(repeating: 0, count: outWidth - columns)
                                }
                            } else {
                                out.update(repeating: 0, count: outWidth)
                            }
                            out[outWidth] = 0
                            out += p
                        }
                        out.update(repeating: 0, count: p)
                        out += p
                    }
                    out.update(repeating: 0, count: planeStride - (out - plane))
                }
            }
        }
    }

    /// Positions per dot-product block of the weight gradient: the three dY rows of a block
    /// (12 KiB) stay in L1 while every input plane's block streams past them.
    static let block = 1024

    /// dW[k][c][r][s] for the input channels `channels` and every output channel, from dY
    /// (outChannels planes of `length` positions, `length` apart, no margin) and x (its phase
    /// planes, `planeStride` apart, each position `margin` floats in), both in the shifted
    /// layout of rows `pitch` apart; dW (K, C, 3, 3) is overwritten for those channels. The
    /// positions go in blocks of `block`; per block, filter column s and three output channels,
    /// each input channel's three rows times three filters = nine sums run in registers and are
    /// added to dW. The order of every sum is fixed by the layout alone (not the threads).
    public static func weightGradient(_ x: UnsafePointer<Float>, planeStride: Int, margin: Int,
                                      _ dy: UnsafePointer<Float>, length: Int, pitch: Int, stride: Int,
                                      outChannels: Int, inChannels: Int, channels: Range<Int>,
                                      into dw: UnsafeMutablePointer<Float>) {
        for k in 0 ..< outChannels {
            for c in channels { (dw + (k * inChannels + c) * 9).update(repeating: 0, count: 9) }
        }
        let rows = (0 ..< 3).map { tap($0, stride: stride) }
        var start = 0
        while start < length {
            let count = min(block, length - start)
            for s in 0 ..< 3 {
                let column = tap(s, stride: stride)
                var k = 0
                while k < outChannels {
                    let group = min(3, outChannels - k)
                    let g = dy + k * length + start
                    for c in channels {
                        // Filter row r reads phase (a(r), a(s)) at t + d(r)·pitch + d(s).
                        func plane(_ r: Int) -> UnsafePointer<Float> {
                            x + ((c * stride + rows[r].phase) * stride + column.phase) * planeStride + margin + start
                                + rows[r].offset * pitch + column.offset
                        }
                        let (x0, x1, x2) = (plane(0), plane(1), plane(2))
                        let target = dw + (k * inChannels + c) * 9 + s
                        if group == 3 {
                            dot3x3(g, length: length, x0, x1, x2, count: count, into: target, filterStride: inChannels * 9)
                        } else {
                            for j in 0 ..< group {
                                dot1x3(g + j * length, x0, x1, x2, count: count, into: target + j * inChannels * 9)
                            }
                        }
                    }
                    k += group
                }
            }
            start += count
        }
    }

    /// Adds to target[j·filterStride + 3r] (j < 3, r < 3) the dot product of dY row j
    /// (`g + j·length`) with x row r (`x0`, `x1`, `x2`), over `count` positions (a multiple of 8).
    @inline(__always)
    static func dot3x3(_ g: UnsafePointer<Float>, length: Int, _ x0: UnsafePointer<Float>, _ x1: UnsafePointer<Float>,
                       _ x2: UnsafePointer<Float>, count: Int, into target: UnsafeMutablePointer<Float>, filterStride: Int) {
        var a00 = SIMD8<Float>(), a01 = SIMD8<Float>(), a02 = SIMD8<Float>()
        var a10 = SIMD8<Float>(), a11 = SIMD8<Float>(), a12 = SIMD8<Float>()
        var a20 = SIMD8<Float>(), a21 = SIMD8<Float>(), a22 = SIMD8<Float>()
        let g0 = UnsafeRawPointer(g), g1 = g0 + 4 * length, g2 = g1 + 4 * length
        let (r0, r1, r2) = (UnsafeRawPointer(x0), UnsafeRawPointer(x1), UnsafeRawPointer(x2))
        var o = 0
        let end = 4 * count
        while o < end {
            let d0 = g0.loadUnaligned(fromByteOffset: o, as: SIMD8<Float>.self)
            let d1 = g1.loadUnaligned(fromByteOffset: o, as: SIMD8<Float>.self)
            let d2 = g2.loadUnaligned(fromByteOffset: o, as: SIMD8<Float>.self)
            var v = r0.loadUnaligned(fromByteOffset: o, as: SIMD8<Float>.self)
            a00 = a00.addingProduct(d0, v); a10 = a10.addingProduct(d1, v); a20 = a20.addingProduct(d2, v)
            v = r1.loadUnaligned(fromByteOffset: o, as: SIMD8<Float>.self)
            a01 = a01.addingProduct(d0, v); a11 = a11.addingProduct(d1, v); a21 = a21.addingProduct(d2, v)
            v = r2.loadUnaligned(fromByteOffset: o, as: SIMD8<Float>.self)
            a02 = a02.addingProduct(d0, v); a12 = a12.addingProduct(d1, v); a22 = a22.addingProduct(d2, v)
            o += 32
        }
        target[0] += a00.sum(); target[3] += a01.sum(); target[6] += a02.sum()
        let t1 = target + filterStride, t2 = t1 + filterStride
        t1[0] += a10.sum(); t1[3] += a11.sum(); t1[6] += a12.sum()
        t2[0] += a20.sum(); t2[3] += a21.sum(); t2[6] += a22.sum()
    }

    /// Adds to target[3r] (r < 3) the dot product of one dY row with x row r, over `count`
    /// positions (a multiple of 8): the leftover output channels of `dot3x3`.
    @inline(__always)
    static func dot1x3(_ g: UnsafePointer<Float>, _ x0: UnsafePointer<Float>, _ x1: UnsafePointer<Float>, _ x2: UnsafePointer<Float>,
                       count: Int, into target: UnsafeMutablePointer<Float>) {
        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>()
        let g0 = UnsafeRawPointer(g)
        let (r0, r1, r2) = (UnsafeRawPointer(x0), UnsafeRawPointer(x1), UnsafeRawPointer(x2))
        var o = 0
        let end = 4 * count
        while o < end {
            let d = g0.loadUnaligned(fromByteOffset: o, as: SIMD8<Float>.self)
            a0 = a0.addingProduct(d, r0.loadUnaligned(fromByteOffset: o, as: SIMD8<Float>.self))
            a1 = a1.addingProduct(d, r1.loadUnaligned(fromByteOffset: o, as: SIMD8<Float>.self))
            a2 = a2.addingProduct(d, r2.loadUnaligned(fromByteOffset: o, as: SIMD8<Float>.self))
            o += 32
        }
        target[0] += a0.sum(); target[3] += a1.sum(); target[6] += a2.sum()
    }

    /// C (m × n, rows `ldc` apart; m a multiple of MR, n of NR) = Apacked · B (+ C when
    /// `accumulate`), B's row p being the n floats at rows[p] + column: A packed by `PackedGEMM.packA`
    /// with kc = k. The GEMM of the forward and input-gradient passes, B's rows planes at tap
    /// offsets. Each B panel (k × NR) stays in L1 while the A panels stream past it.
    public static func multiplyIndirect(m: Int, n: Int, k: Int, packedA: UnsafePointer<Float>, rows: UnsafePointer<UnsafePointer<Float>>,
                                        column: Int, c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool) {
        var j = 0
        while j < n {
            var i = 0
            while i < m {
                PackedGEMM.microKernelIndirectB(kc: k, a: packedA + i * k, rows: rows, column: column + j, c: c + i * ldc + j, ldc: ldc,
                                                accumulate: accumulate)
                i += PackedGEMM.mr
            }
            j += PackedGEMM.nr
        }
    }
}
