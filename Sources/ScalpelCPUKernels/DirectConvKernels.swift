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

