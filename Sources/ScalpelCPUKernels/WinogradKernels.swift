// The transforms of Winograd's minimal filtering algorithm F(2×2, 3×3) (Lavin & Gray, "Fast
// Algorithms for Convolutional Neural Networks", 2016), compiled for AVX2+FMA (see Package.swift).
//
// A 3×3 stride-1 convolution computes each 2×2 block of outputs (a tile) from a 4×4 block of
// the padded input: with the input tile d and the filter g transformed to V = Bᵀ·d·B and
// U = G·g·Gᵀ (both 4×4), the tile is Y = Aᵀ·(Σ_c U ⊙ V)·A. The sum over input channels at each
// of the 16 points ξ is a GEMM (K×C times C×tiles), so a convolution becomes three transforms
// around 16 GEMMs with 16 multiplies per tile and channel pair where im2col + GEMM does 36.
//
//   Bᵀ = [1  0 -1  0]    G = [1    0    0  ]    Aᵀ = [1  1  1  0]
//        [0  1  1  0]        [1/2  1/2  1/2]         [0  1 -1 -1]
//        [0 -1  1  0]        [1/2 -1/2  1/2]
//        [0  1  0 -1]        [0    0    1  ]
//
// Layouts: a transformed filter set is 16 matrices, u[ξ·S + i·cols + j]; transformed inputs
// and the products are 16 matrices of (channels, tiles), v[ξ·S + c·P + p] (S: `matrixStride`,
// a little more than one matrix), with tile
// p = (image·tilesH + ty)·tilesW + tx covering outputs (2ty…2ty+1, 2tx…2tx+1). The tile loops
// run over eight tiles of a row at once, one SIMD lane each.

/// Winograd F(2×2, 3×3): the filter, input and output transforms of a 3×3 stride-1
/// convolution. The caller runs the 16 GEMMs between them and splits the work over threads.
public enum WinogradKernels {
    /// Points of the transformed domain per tile (4×4), and GEMMs per convolution.
    public static let points = 16

    /// Tiles along an axis with `outputs` positions: one per two outputs, the last maybe half used.
    public static func tiles(_ outputs: Int) -> Int { (outputs + 1) / 2 }

    /// Floats from one of the 16 matrices of `count` floats to the next: whole cache lines plus
    /// one, so that the 16 streams a transform reads or writes at once do not fall on the same
    /// cache sets (with matrices of a power-of-two size they would, and evict each other).
    public static func matrixStride(_ count: Int) -> Int { (count + 15) / 16 * 16 + 16 }

    /// Floats the caller must allocate past the end of a product buffer (16·S floats): the
    /// output transform reads eight tiles at a time, the last group past the last tile.
    public static let productSlack = 8

    /// The 16 transformed filters U = G·g·Gᵀ of 3×3 filters of `weight` (K, C, 3, 3), for the
    /// matrix rows `rows`. With `flipped` false, u[ξ·S + k·C + c] transforms filter (k, c):
    /// the forward convolution's K×C matrices (rows are k). With `flipped` true,
    /// u[ξ·S + c·K + k] transforms filter (k, c) rotated by 180°: the filters of the input
    /// gradient, itself a 3×3 stride-1 convolution of the output gradient (C×K matrices, rows
    /// are c). Each row's 16 runs are written in order.
    public static func transformFilters(_ weight: UnsafePointer<Float>, outChannels: Int, inChannels: Int, flipped: Bool,
                                        rows: Range<Int>, into u: UnsafeMutablePointer<Float>) {
        let plane = matrixStride(outChannels * inChannels)
        let columns = flipped ? outChannels : inChannels
        for i in rows {
            let target = u + i * columns
            for j in 0 ..< columns {
                // The filter, as nine values in reading order (reversed when flipped).
                let g = weight + (flipped ? j * inChannels + i : i * inChannels + j) * 9
                var f = (g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8])
                if flipped { f = (f.8, f.7, f.6, f.5, f.4, f.3, f.2, f.1, f.0) }
                // G·g: four rows of three.
                let r0 = SIMD4(f.0, f.1, f.2, 0), r1 = SIMD4(f.3, f.4, f.5, 0), r2 = SIMD4(f.6, f.7, f.8, 0)
                let t1 = 0.5 * (r0 + r1 + r2), t2 = 0.5 * (r0 - r1 + r2)
                // (G·g)·Gᵀ along each row t = (a, b, d): a, (a+b+d)/2, (a−b+d)/2, d.
                func put(_ row: Int, _ t: SIMD4<Float>) {
                    let out = target + j + 4 * row * plane
                    out[0] = t.x
                    out[plane] = 0.5 * (t.x + t.y + t.z)
                    out[2 * plane] = 0.5 * (t.x - t.y + t.z)
                    out[3 * plane] = t.z
                }
                put(0, r0); put(1, t1); put(2, t2); put(3, r2)
            }
        }
    }

    /// The width of the zero-bordered plane that `transformInput` copies each input plane into:
    /// every tile's 4×4 window, eight tiles at a time, lies inside it.
    public static func paddedWidth(tilesW: Int) -> Int { 2 * ((tilesW + 7) / 8 * 8) + 2 }

    /// The rows of that plane.
    public static func paddedHeight(tilesH: Int) -> Int { 2 * tilesH + 2 }

    /// V = Bᵀ·d·B of every tile of the input planes of channels `channelRange`, for `images`
    /// images of `x` (images, C, H, W) padded by (padH, padW) zeros:
    /// v[ξ·S + c·P + p], P = images·tilesH·tilesW, S = matrixStride(C·P). `plane` is the caller's scratch of
    /// paddedHeight·paddedWidth floats, all zero on the first call (its border stays zero: each
    /// call writes the same interior).
    public static func transformInput(_ x: UnsafePointer<Float>, images: Int, channels: Int, height: Int, width: Int,
                                      padH: Int, padW: Int, tilesH: Int, tilesW: Int, channelRange: Range<Int>,
                                      plane: UnsafeMutablePointer<Float>, into v: UnsafeMutablePointer<Float>) {
        let wp = paddedWidth(tilesW: tilesW)
        let tileCount = images * tilesH * tilesW
        let matrix = matrixStride(channels * tileCount)
        // Channel by channel, image by image: each matrix row is written in order.
        for c in channelRange {
            for image in 0 ..< images {
                let source = x + (image * channels + c) * height * width
                for y in 0 ..< height {
                    (plane + (y + padH) * wp + padW).update(from: source + y * width, count: width)
                }
                let target = v + c * tileCount + image * tilesH * tilesW
                for ty in 0 ..< tilesH {
                    let r0 = UnsafeRawPointer(plane + 2 * ty * wp)
                    let stride = wp * 4
                    var tx = 0
                    while tx < tilesW {
                        // Row r of the eight tiles' windows: columns 2tx + {0, 1, 2, 3} + 2·lane.
                        func window(_ r: Int) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
                            let a = r0.loadUnaligned(fromByteOffset: r * stride + 8 * tx, as: SIMD16<Float>.self)
                            let b = r0.loadUnaligned(fromByteOffset: r * stride + 8 * tx + 8, as: SIMD16<Float>.self)
                            return (a.evenHalf, a.oddHalf, b.evenHalf, b.oddHalf)
                        }
                        let d0 = window(0), d1 = window(1), d2 = window(2), d3 = window(3)
                        // Bᵀ·d: row combinations.
                        let t0 = (d0.0 - d2.0, d0.1 - d2.1, d0.2 - d2.2, d0.3 - d2.3)
                        let t1 = (d1.0 + d2.0, d1.1 + d2.1, d1.2 + d2.2, d1.3 + d2.3)
                        let t2 = (d2.0 - d1.0, d2.1 - d1.1, d2.2 - d1.2, d2.3 - d1.3)
                        let t3 = (d1.0 - d3.0, d1.1 - d3.1, d1.2 - d3.2, d1.3 - d3.3)
                        // All eight lanes are stored: lanes past the row's last tile land on the
                        // next rows' (or images') first tiles of this channel, which are written
                        // after this. Only the channel's last tiles must not spill over.
                        let count = min(8, tileCount - ((image * tilesH + ty) * tilesW + tx))
                        let out = target + ty * tilesW + tx
                        // (Bᵀ·d)·B: column combinations; point ξ = 4i + j.
                        func put(_ i: Int, _ t: (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>)) {
                            storePartial8(t.0 - t.2, to: out + (4 * i) * matrix, count: count)
                            storePartial8(t.1 + t.2, to: out + (4 * i + 1) * matrix, count: count)
                            storePartial8(t.2 - t.1, to: out + (4 * i + 2) * matrix, count: count)
                            storePartial8(t.1 - t.3, to: out + (4 * i + 3) * matrix, count: count)
                        }
                        put(0, t0); put(1, t1); put(2, t2); put(3, t3)
                        tx += 8
                    }
                }
            }
        }
    }

    /// Y = Aᵀ·M·A of every tile of the output planes of channels `channelRange` from the products
    /// m[ξ·S + k·P + p], S = matrixStride(K·P) (allocated with `productSlack` floats more), plus bias[k] when given and
    /// then max(·, 0) when `relu`, into y (images, K, outHeight, outWidth).
    public static func transformOutput(_ m: UnsafePointer<Float>, images: Int, channels: Int, outHeight: Int, outWidth: Int,
                                       tilesH: Int, tilesW: Int, channelRange: Range<Int>, bias: UnsafePointer<Float>?, relu: Bool,
                                       into y: UnsafeMutablePointer<Float>) {
        let tileCount = images * tilesH * tilesW
        let matrix = matrixStride(channels * tileCount)
        // Channel by channel, image by image: each matrix row is read in order.
        for k in channelRange {
            for image in 0 ..< images {
                let offset = bias.map { SIMD8<Float>(repeating: $0[k]) } ?? SIMD8()
                let source = UnsafeRawPointer(m + k * tileCount + image * tilesH * tilesW)
                let target = y + (image * channels + k) * outHeight * outWidth
                for ty in 0 ..< tilesH {
                    var tx = 0
                    while tx < tilesW {
                        let base = 4 * (ty * tilesW + tx)
                        func point(_ xi: Int) -> SIMD8<Float> {
                            source.loadUnaligned(fromByteOffset: 4 * xi * matrix + base, as: SIMD8<Float>.self)
                        }
                        // Aᵀ·M: two rows of four (column j sums the points j, 4+j, 8+j, 12+j).
                        func column(_ j: Int) -> (SIMD8<Float>, SIMD8<Float>) {
                            let (m0, m1, m2, m3) = (point(j), point(4 + j), point(8 + j), point(12 + j))
                            return (m0 + m1 + m2, m1 - m2 - m3)
                        }
                        let (a0, b0) = column(0), (a1, b1) = column(1), (a2, b2) = column(2), (a3, b3) = column(3)
                        // (Aᵀ·M)·A: the 2×2 outputs of eight tiles.
                        var y00 = a0 + a1 + a2 + offset, y01 = a1 - a2 - a3 + offset
                        var y10 = b0 + b1 + b2 + offset, y11 = b1 - b2 - b3 + offset
                        if relu {
                            // Compare and select (the stdlib's generic pointwiseMax is not specialised).
                            y00 = y00.replacing(with: 0, where: y00 .< 0); y01 = y01.replacing(with: 0, where: y01 .< 0)
                            y10 = y10.replacing(with: 0, where: y10 .< 0); y11 = y11.replacing(with: 0, where: y11 .< 0)
                        }
                        // Each output row of the eight tiles: their two columns interleaved.
                        let columns = min(16, outWidth - 2 * tx)
                        let row0 = target + 2 * ty * outWidth + 2 * tx
                        storeInterleaved(y00, y01, to: row0, count: columns)
                        if 2 * ty + 1 < outHeight { storeInterleaved(y10, y11, to: row0 + outWidth, count: columns) }
                        tx += 8
                    }
                }
            }
        }
    }
}
