// The weight gradient of a 3×3 stride-1 convolution with few input channels (an image model's
// first layer), computed directly, compiled for AVX2+FMA (see Package.swift). With one or three
// input channels im2col + GEMM multiplies a (K × N·OH·OW) matrix by an (N·OH·OW × 9·C) one: a
// 9- or 27-wide product that fills a third of the GEMM's 16-wide register block, on one thread.
// Here each filter (k, c) is nine dot products over every output position, eight positions per
// SIMD lane group, the nine sums in registers.

/// Direct loops for convolution shapes that the GEMM paths serve badly.
public enum DirectConvKernels {
    /// dW[k][c][r][s] = Σ_n Σ_oy Σ_ox dY[n][k][oy][ox] · x[n][c][oy + r − padH][ox + s − padW]
    /// (positions outside the image count as 0) for the output channels `filters`, over all
    /// `images` of x (images, C, H, W) and dY (images, K, OH, OW), stride 1; dW is (K, C, 3, 3),
    /// overwritten. `plane` is the caller's scratch of `planeSize` floats, all zero on the
    /// first call (each call writes the same interior). Each filter sums over the images, rows
    /// and columns in that order, eight columns per lane and the leftover columns apart: one
    /// thread, one order.
    public static func weightGradient3x3(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, images: Int, inChannels: Int,
                                         height: Int, width: Int, outChannels: Int, outHeight: Int, outWidth: Int,
                                         padH: Int, padW: Int, filters: Range<Int>, plane: UnsafeMutablePointer<Float>,
                                         into dw: UnsafeMutablePointer<Float>) {
        let wp = paddedWidth(outWidth: outWidth)
        let filterCount = filters.count * inChannels
        // Per filter (k, c): nine lane sums and nine sums of the leftover columns.
        var lanes = [SIMD8<Float>](repeating: SIMD8(), count: 9 * filterCount)
        var tails = [Float](repeating: 0, count: 9 * filterCount)
        lanes.withUnsafeMutableBufferPointer { lanes in
            tails.withUnsafeMutableBufferPointer { tails in
                for image in 0 ..< images {
                    for c in 0 ..< inChannels {
                        // The input plane, shifted by the padding, into the zero border.
                        let source = x + (image * inChannels + c) * height * width
                        for y in 0 ..< height {
                            (plane + (y + padH) * wp + padW).update(from: source + y * width, count: width)
                        }
                        for k in filters {
                            let slot = (k - filters.lowerBound) * inChannels + c
                            let sums = lanes.baseAddress! + 9 * slot, rest = tails.baseAddress! + 9 * slot
                            var s0 = sums[0], s1 = sums[1], s2 = sums[2], s3 = sums[3], s4 = sums[4]
                            var s5 = sums[5], s6 = sums[6], s7 = sums[7], s8 = sums[8]
                            let gradient = dy + (image * outChannels + k) * outHeight * outWidth
                            for oy in 0 ..< outHeight {
                                let g = gradient + oy * outWidth
                                let r0 = UnsafeRawPointer(plane + oy * wp), r1 = r0 + 4 * wp, r2 = r1 + 4 * wp
                                var ox = 0
                                while ox + 8 <= outWidth {
                                    let d = UnsafeRawPointer(g + ox).loadUnaligned(as: SIMD8<Float>.self)
                                    let o = 4 * ox
                                    s0 = s0.addingProduct(d, r0.loadUnaligned(fromByteOffset: o, as: SIMD8<Float>.self))
                                    s1 = s1.addingProduct(d, r0.loadUnaligned(fromByteOffset: o + 4, as: SIMD8<Float>.self))
                                    s2 = s2.addingProduct(d, r0.loadUnaligned(fromByteOffset: o + 8, as: SIMD8<Float>.self))
                                    s3 = s3.addingProduct(d, r1.loadUnaligned(fromByteOffset: o, as: SIMD8<Float>.self))
                                    s4 = s4.addingProduct(d, r1.loadUnaligned(fromByteOffset: o + 4, as: SIMD8<Float>.self))
                                    s5 = s5.addingProduct(d, r1.loadUnaligned(fromByteOffset: o + 8, as: SIMD8<Float>.self))
                                    s6 = s6.addingProduct(d, r2.loadUnaligned(fromByteOffset: o, as: SIMD8<Float>.self))
                                    s7 = s7.addingProduct(d, r2.loadUnaligned(fromByteOffset: o + 4, as: SIMD8<Float>.self))
                                    s8 = s8.addingProduct(d, r2.loadUnaligned(fromByteOffset: o + 8, as: SIMD8<Float>.self))
                                    ox += 8
                                }
                                while ox < outWidth {
                                    let d = g[ox]
                                    for r in 0 ..< 3 {
                                        let row = plane + (oy + r) * wp + ox
                                        for s in 0 ..< 3 { rest[3 * r + s] += d * row[s] }
                                    }
                                    ox += 1
                                }
                            }
                            sums[0] = s0; sums[1] = s1; sums[2] = s2; sums[3] = s3; sums[4] = s4
                            sums[5] = s5; sums[6] = s6; sums[7] = s7; sums[8] = s8
                        }
                    }
                }
                for k in filters {
                    for c in 0 ..< inChannels {
                        let slot = (k - filters.lowerBound) * inChannels + c
                        let target = dw + (k * inChannels + c) * 9
                        for t in 0 ..< 9 { target[t] = lanes[9 * slot + t].sum() + tails[9 * slot + t] }
                    }
                }
            }
        }
    }

    /// The width of the padded input plane `weightGradient3x3` uses: the padded row (OW + 2)
    /// and eight columns more, which a group of eight positions may read past the last one.
    static func paddedWidth(outWidth: Int) -> Int { outWidth + 2 + 8 }

    /// Floats of scratch plane `weightGradient3x3` needs: (OH + 2) rows of `paddedWidth`.
    public static func planeSize(outHeight: Int, outWidth: Int) -> Int { (outHeight + 2) * paddedWidth(outWidth: outWidth) }
}

// The weight gradient of a wide 3×3 stride-1 convolution with padding 1 (ResNet's and the small
// CNN's inner layers), computed directly: dW[k][c][r][s] = Σ_t dY[k][t] · x[c][t + (r−1)·P + s−1]
// over every output position t of every image. Both operands are laid out first in a shifted
// layout — each image's rows P = W + 1 floats apart (a zero column after each row) and a zero
// row after each image, a zero row and one zero float before the first — so that the nine
// neighbours of a position are the same plane read at nine fixed offsets, the zeros standing for
// the padding. Each (k, c) pair is then nine dot products along the whole layout: im2col +
// GEMM's arithmetic without its nine-fold copy of the input, and a GEMM whose operands both
// hold the reduction along their rows (both transposed for packing).
extension DirectConvKernels {
    /// Floats between the rows of an image in the shifted layout: the row and one zero.
    public static func shiftedPitch(width: Int) -> Int { width + 1 }

    /// Positions of the shifted layout of `images` images of height×width, rounded up to whole
    /// groups of eight (the dot products' lanes): the dY planes' length.
    public static func shiftedLength(images: Int, height: Int, width: Int) -> Int {
        (images * (height + 1) * shiftedPitch(width: width) + 7) / 8 * 8
    }

    /// Zero floats before an input plane's first position in the shifted layout: one zero row
    /// and one more, so that the neighbours up and to the left of the first position are zeros.
    public static func shiftedMargin(width: Int) -> Int { shiftedPitch(width: width) + 1 }

    /// Floats of an input plane in the shifted layout: the margin, the positions, and the
    /// neighbours below and to the right of the last group of eight (one row and one more), plus
    /// the rest of that group.
    public static func shiftedInputPlane(images: Int, height: Int, width: Int) -> Int {
        2 * shiftedMargin(width: width) + shiftedLength(images: images, height: height, width: width) + 8
    }

    /// Copies the planes `channels` of `source` (images, channelCount, height, width) into the
    /// shifted layout: plane c at `target + c·planeStride`, its first position `margin` floats
    /// in, every other float of the plane (margins, zero columns and rows, the tail) zero.
    public static func layOutShifted(_ source: UnsafePointer<Float>, images: Int, channelCount: Int, height: Int, width: Int,
                                     channels: Range<Int>, margin: Int, planeStride: Int, into target: UnsafeMutablePointer<Float>) {
        let pitch = shiftedPitch(width: width)
        for c in channels {
            let plane = target + c * planeStride
            plane.update(repeating: 0, count: margin)
            var out = plane + margin
            for image in 0 ..< images {
                var row = source + (image * channelCount + c) * height * width
                for _ in 0 ..< height {
                    out.update(from: row, count: width)
                    out[width] = 0
                    out += pitch
                    row += width
                }
                out.update(repeating: 0, count: pitch)
                out += pitch
            }
            let written = out - plane
            out.update(repeating: 0, count: planeStride - written)
        }
    }

    /// Positions per dot-product block: the three dY rows of a block (12 KiB) stay in L1 while
    /// every input plane's block streams past them.
    static let shiftedBlock = 1024

    /// dW[k][c][r][s] for the input channels `channels` and every output channel, from dY
    /// (outChannels planes of `length` positions, `length` apart) and x (inChannels planes
    /// `planeStride` apart, each position `margin` floats in), both in the shifted layout of
    /// rows `pitch` apart; dW (K, C, 3, 3) is overwritten for those channels. The positions go
    /// in blocks of `shiftedBlock`; per block, column offset s and three output channels, each
    /// input channel's 3×3 = nine sums (three rows, three filters) run in registers and are
    /// added to dW. The order of every sum is fixed by the layout alone (not the threads).
    public static func weightGradient3x3Shifted(_ x: UnsafePointer<Float>, planeStride: Int, margin: Int,
                                                _ dy: UnsafePointer<Float>, length: Int, pitch: Int,
                                                outChannels: Int, inChannels: Int, channels: Range<Int>,
                                                into dw: UnsafeMutablePointer<Float>) {
        for k in 0 ..< outChannels {
            for c in channels { (dw + (k * inChannels + c) * 9).update(repeating: 0, count: 9) }
        }
        var start = 0
        while start < length {
            let count = min(shiftedBlock, length - start)
            for s in 0 ..< 3 {
                var k = 0
                while k < outChannels {
                    let rows = min(3, outChannels - k)
                    let g = dy + k * length + start
                    for c in channels {
                        // Row r of the filter reads x at t + (r − 1)·pitch + s − 1.
                        let plane = x + c * planeStride + margin + start + s - 1
                        let target = dw + (k * inChannels + c) * 9 + s
                        if rows == 3 {
                            dot3x3(g, length: length, plane - pitch, pitch: pitch, count: count, into: target, filterStride: inChannels * 9)
                        } else {
                            for j in 0 ..< rows {
                                dot1x3(g + j * length, plane - pitch, pitch: pitch, count: count, into: target + j * inChannels * 9)
                            }
                        }
                    }
                    k += rows
                }
            }
            start += count
        }
    }

    /// Adds to target[j·filterStride + 3r] (j < 3, r < 3) the dot product of dY row j
    /// (`g + j·length`) with x read from `x + r·pitch`, over `count` positions (a multiple of 8).
    @inline(__always)
    static func dot3x3(_ g: UnsafePointer<Float>, length: Int, _ x: UnsafePointer<Float>, pitch: Int, count: Int,
                       into target: UnsafeMutablePointer<Float>, filterStride: Int) {
        var a00 = SIMD8<Float>(), a01 = SIMD8<Float>(), a02 = SIMD8<Float>()
        var a10 = SIMD8<Float>(), a11 = SIMD8<Float>(), a12 = SIMD8<Float>()
        var a20 = SIMD8<Float>(), a21 = SIMD8<Float>(), a22 = SIMD8<Float>()
        let g0 = UnsafeRawPointer(g), g1 = g0 + 4 * length, g2 = g1 + 4 * length
        let x0 = UnsafeRawPointer(x), x1 = x0 + 4 * pitch, x2 = x1 + 4 * pitch
        var o = 0
        let end = 4 * count
        while o < end {
            let d0 = g0.loadUnaligned(fromByteOffset: o, as: SIMD8<Float>.self)
            let d1 = g1.loadUnaligned(fromByteOffset: o, as: SIMD8<Float>.self)
            let d2 = g2.loadUnaligned(fromByteOffset: o, as: SIMD8<Float>.self)
            var v = x0.loadUnaligned(fromByteOffset: o, as: SIMD8<Float>.self)
            a00 = a00.addingProduct(d0, v); a10 = a10.addingProduct(d1, v); a20 = a20.addingProduct(d2, v)
            v = x1.loadUnaligned(fromByteOffset: o, as: SIMD8<Float>.self)
            a01 = a01.addingProduct(d0, v); a11 = a11.addingProduct(d1, v); a21 = a21.addingProduct(d2, v)
            v = x2.loadUnaligned(fromByteOffset: o, as: SIMD8<Float>.self)
            a02 = a02.addingProduct(d0, v); a12 = a12.addingProduct(d1, v); a22 = a22.addingProduct(d2, v)
            o += 32
        }
        target[0] += a00.sum(); target[3] += a01.sum(); target[6] += a02.sum()
        let t1 = target + filterStride, t2 = t1 + filterStride
        t1[0] += a10.sum(); t1[3] += a11.sum(); t1[6] += a12.sum()
        t2[0] += a20.sum(); t2[3] += a21.sum(); t2[6] += a22.sum()
    }

    /// Adds to target[3r] (r < 3) the dot product of one dY row with x read from `x + r·pitch`,
    /// over `count` positions (a multiple of 8): the leftover output channels of `dot3x3`.
    @inline(__always)
    static func dot1x3(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, pitch: Int, count: Int, into target: UnsafeMutablePointer<Float>) {
        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>()
        let g0 = UnsafeRawPointer(g)
        let x0 = UnsafeRawPointer(x), x1 = x0 + 4 * pitch, x2 = x1 + 4 * pitch
        var o = 0
        let end = 4 * count
        while o < end {
            let d = g0.loadUnaligned(fromByteOffset: o, as: SIMD8<Float>.self)
            a0 = a0.addingProduct(d, x0.loadUnaligned(fromByteOffset: o, as: SIMD8<Float>.self))
            a1 = a1.addingProduct(d, x1.loadUnaligned(fromByteOffset: o, as: SIMD8<Float>.self))
            a2 = a2.addingProduct(d, x2.loadUnaligned(fromByteOffset: o, as: SIMD8<Float>.self))
            o += 32
        }
        target[0] += a0.sum(); target[3] += a1.sum(); target[6] += a2.sum()
    }
}
