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
// The caller works through the tiles a block at a time (NNPACK's and oneDNN's design): a block
// of whole tile rows is transformed, multiplied and transformed back while its matrices are in
// the core's cache. Tile rows are numbered across the images, r = image·tilesH + ty, and a
// block's tile t = (r − r₀)·tilesW + tx covers outputs (2ty…2ty+1, 2tx…2tx+1) of its image.
//
// Layouts: the transformed filters are 16 matrices packed for the GEMM micro-kernel (`PackedGEMM`'s
// A panels: MR rows side by side per column, rows padded to whole panels with zeros),
// u[ξ·S + (i/MR)·MR·cols + j·MR + i%MR]; a block's transformed inputs and its products are 16
// matrices of (channels, tiles) with rows `ld` floats apart, v[ξ·S + c·ld + t]. S is
// `matrixStride`, a little more than one matrix. The tile loops run over eight tiles of a row at
// once, one SIMD lane each.

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

    /// Rows of a transformed filter matrix with `rows` rows, padded to whole micro-kernel panels.
    public static func paddedRows(_ rows: Int) -> Int { (rows + PackedGEMM.mr - 1) / PackedGEMM.mr * PackedGEMM.mr }

    /// Floats between the 16 packed transformed filter matrices of a K×C convolution (or C×K).
    public static func filterMatrixStride(rows: Int, columns: Int) -> Int { matrixStride(paddedRows(rows) * columns) }

    /// The 16 transformed filters U = G·g·Gᵀ of 3×3 filters of `weight` (K, C, 3, 3), for the
    /// matrix rows `rows`, packed as the micro-kernel's A panels (see the layouts above). With
    /// `flipped` false, row k and column c of matrix ξ transform filter (k, c): the forward
    /// convolution's K×C matrices. With `flipped` true, row c and column k transform filter
    /// (k, c) rotated by 180°: the filters of the input gradient, itself a 3×3 stride-1
    /// convolution of the output gradient (C×K matrices). The range holding the last row also
    /// writes the zero rows that pad the last panel.
    public static func transformFilters(_ weight: UnsafePointer<Float>, outChannels: Int, inChannels: Int, flipped: Bool,
                                        rows: Range<Int>, into u: UnsafeMutablePointer<Float>) {
        let mr = PackedGEMM.mr
        let (rowCount, columns) = flipped ? (inChannels, outChannels) : (outChannels, inChannels)
        let plane = filterMatrixStride(rows: rowCount, columns: columns)
        for i in rows {
            let target = u + i / mr * mr * columns + i % mr
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
                    let out = target + j * mr + 4 * row * plane
                    out[0] = t.x
                    out[plane] = 0.5 * (t.x + t.y + t.z)
                    out[2 * plane] = 0.5 * (t.x - t.y + t.z)
                    out[3 * plane] = t.z
                }
                put(0, r0); put(1, t1); put(2, t2); put(3, r2)
            }
        }
        if rows.contains(rowCount - 1) {
            for xi in 0 ..< points {
                for i in rowCount ..< paddedRows(rowCount) {
                    let target = u + xi * plane + i / mr * mr * columns + i % mr
                    for j in 0 ..< columns { target[j * mr] = 0 }
                }
            }
        }
    }

    /// The width of the zero-bordered rows that `transformInput` copies input rows into: every
    /// tile's 4×4 window, eight tiles at a time, lies inside them.
    public static func paddedWidth(tilesW: Int) -> Int { 2 * ((tilesW + 7) / 8 * 8) + 2 }

    /// Floats of the scratch rows `transformInput` needs.
    public static func rowScratchSize(tilesW: Int) -> Int { 4 * paddedWidth(tilesW: tilesW) }

    /// V = Bᵀ·d·B of every tile of the tile rows `tileRows` (numbered across the images), for the
    /// input planes `channelRange` (default: all `channels`) of `x` (images, C, H, W) padded by (padH, padW) zeros, into a
    /// block: v[ξ·matrix + c·ld + t], t counted from the block's first tile. Writes tiles
    /// 0..<tileRows.count·tilesW of each row, nothing past them. `rows` is the caller's scratch
    /// of `rowScratchSize` floats, all zero on the first call (its borders stay zero: each call
    /// writes the same interior).
    public static func transformInput(_ x: UnsafePointer<Float>, channels: Int, height: Int, width: Int, padH: Int, padW: Int,
                                      tilesH: Int, tilesW: Int, tileRows: Range<Int>, channelRange: Range<Int>? = nil,
                                      rows: UnsafeMutablePointer<Float>, into v: UnsafeMutablePointer<Float>, ld: Int, matrix: Int) {
        let wp = paddedWidth(tilesW: tilesW)
        let tileCount = tileRows.count * tilesW
        let r0 = UnsafeRawPointer(rows)
        let stride = wp * 4
        // Channel by channel, tile row by tile row: each matrix row is written in order.
        for c in channelRange ?? 0 ..< channels {
            for r in tileRows {
                let (image, ty) = r.quotientAndRemainder(dividingBy: tilesH)
                let source = x + (image * channels + c) * height * width
                // The four input rows of this tile row's windows, zero outside the image.
                for i in 0 ..< 4 {
                    let y = 2 * ty + i - padH
                    let target = rows + i * wp + padW
                    if y >= 0 && y < height {
                        target.update(from: source + y * width, count: width)
                    } else {
                        target.update(repeating: 0, count: width)
                    }
                }
                let first = (r - tileRows.lowerBound) * tilesW
                let target = v + c * ld + first
                var tx = 0
                while tx < tilesW {
                    // Row i of the eight tiles' windows: columns 2tx + {0, 1, 2, 3} + 2·lane.
                    func window(_ i: Int) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
                        let a = r0.loadUnaligned(fromByteOffset: i * stride + 8 * tx, as: SIMD16<Float>.self)
                        let b = r0.loadUnaligned(fromByteOffset: i * stride + 8 * tx + 8, as: SIMD16<Float>.self)
                        return (a.evenHalf, a.oddHalf, b.evenHalf, b.oddHalf)
                    }
                    let d0 = window(0), d1 = window(1), d2 = window(2), d3 = window(3)
                    // Bᵀ·d: row combinations.
                    let t0 = (d0.0 - d2.0, d0.1 - d2.1, d0.2 - d2.2, d0.3 - d2.3)
                    let t1 = (d1.0 + d2.0, d1.1 + d2.1, d1.2 + d2.2, d1.3 + d2.3)
                    let t2 = (d2.0 - d1.0, d2.1 - d1.1, d2.2 - d1.2, d2.3 - d1.3)
                    let t3 = (d1.0 - d3.0, d1.1 - d3.1, d1.2 - d3.2, d1.3 - d3.3)
                    // All eight lanes are stored: lanes past the row's last tile land on the
                    // next tile row's first tiles of this channel, which are written after
                    // this. Only the block's last tiles must not spill over.
                    let count = min(8, tileCount - first - tx)
                    let out = target + tx
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

    /// Floats the caller must allocate past the end of a block's products: the output transform
    /// reads eight tiles at a time, the last group past the last tile.
    public static let productSlack = 8

    /// Y = Aᵀ·M·A of every tile of the tile rows `tileRows` from a block's products
    /// m[ξ·matrix + k·ld + t] (allocated with `productSlack` floats more), for all `channels`
    /// output planes, plus bias[k] when given and then max(·, 0) when `relu`, into
    /// y (images, K, outHeight, outWidth).
    public static func transformOutput(_ m: UnsafePointer<Float>, ld: Int, matrix: Int, channels: Int, outHeight: Int, outWidth: Int,
                                       tilesH: Int, tilesW: Int, tileRows: Range<Int>, bias: UnsafePointer<Float>?, relu: Bool,
                                       into y: UnsafeMutablePointer<Float>) {
        // Channel by channel, tile row by tile row: each matrix row is read in order.
        for k in 0 ..< channels {
            let offset = bias.map { SIMD8<Float>(repeating: $0[k]) } ?? SIMD8()
            for r in tileRows {
                let (image, ty) = r.quotientAndRemainder(dividingBy: tilesH)
                let source = UnsafeRawPointer(m + k * ld + (r - tileRows.lowerBound) * tilesW)
                let row0 = y + (image * channels + k) * outHeight * outWidth + 2 * ty * outWidth
                var tx = 0
                while tx < tilesW {
                    func point(_ xi: Int) -> SIMD8<Float> {
                        source.loadUnaligned(fromByteOffset: 4 * (xi * matrix + tx), as: SIMD8<Float>.self)
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
                    // Each output row of the eight tiles (only this tile row's): their two
                    // columns interleaved.
                    let columns = min(16, outWidth - 2 * tx)
                    storeInterleaved(y00, y01, to: row0 + 2 * tx, count: columns)
                    if 2 * ty + 1 < outHeight { storeInterleaved(y10, y11, to: row0 + outWidth + 2 * tx, count: columns) }
                    tx += 8
                }
            }
        }
    }

    /// The adjoint of `transformOutput` for the weight gradient: dM = A·dY·Aᵀ of every tile of
    /// the tile rows `tileRows`, for the output-gradient planes `channelRange` of dy (images, K,
    /// outHeight, outWidth) (outputs past the edge count as 0), into a block
    /// dm[ξ·matrix + k·ld + t] (the layout of `transformInput`; nothing written past the block's
    /// last tile). `rows` is the caller's scratch of `rowScratchSize` floats, all zero on the
    /// first call.
    public static func transformOutputGradient(_ dy: UnsafePointer<Float>, channels: Int, outHeight: Int, outWidth: Int,
                                               tilesH: Int, tilesW: Int, tileRows: Range<Int>, channelRange: Range<Int>,
                                               rows: UnsafeMutablePointer<Float>, into dm: UnsafeMutablePointer<Float>, ld: Int, matrix: Int) {
        let wp = paddedWidth(tilesW: tilesW)
        let tileCount = tileRows.count * tilesW
        for k in channelRange {
            for r in tileRows {
                let (image, ty) = r.quotientAndRemainder(dividingBy: tilesH)
                let source = dy + (image * channels + k) * outHeight * outWidth
                // The tile row's two output rows, zero past the edges.
                for i in 0 ..< 2 {
                    let y = 2 * ty + i
                    if y < outHeight {
                        (rows + i * wp).update(from: source + y * outWidth, count: outWidth)
                    } else {
                        (rows + i * wp).update(repeating: 0, count: outWidth)
                    }
                }
                let first = (r - tileRows.lowerBound) * tilesW
                let target = dm + k * ld + first
                var tx = 0
                while tx < tilesW {
                    let (e0, o0) = loadDeinterleaved(rows + 2 * tx), (e1, o1) = loadDeinterleaved(rows + wp + 2 * tx)
                    let count = min(8, tileCount - first - tx)
                    let out = target + tx
                    // (A·dY)·Aᵀ along row i of A·dY, (e, o): e, e + o, e − o, −o; point ξ = 4i + j.
                    func put(_ i: Int, _ e: SIMD8<Float>, _ o: SIMD8<Float>) {
                        storePartial8(e, to: out + (4 * i) * matrix, count: count)
                        storePartial8(e + o, to: out + (4 * i + 1) * matrix, count: count)
                        storePartial8(e - o, to: out + (4 * i + 2) * matrix, count: count)
                        storePartial8(-o, to: out + (4 * i + 3) * matrix, count: count)
                    }
                    // A·dY: row 0, row 0 + row 1, row 0 − row 1, −row 1.
                    put(0, e0, o0); put(1, e0 + e1, o0 + o1); put(2, e0 - e1, o0 - o1); put(3, -e1, -o1)
                    tx += 8
                }
            }
        }
    }

    /// The adjoint of `transformFilters` for the weight gradient: dW[k][c] = Gᵀ·dU·G (3×3) from
    /// the 16 K×C matrices du[ξ·matrix + k·C + c], for the output channels `rows`, into
    /// dw (K, C, 3, 3), overwritten.
    public static func transformFilterGradient(_ du: UnsafePointer<Float>, outChannels: Int, inChannels: Int, matrix: Int,
                                               rows: Range<Int>, into dw: UnsafeMutablePointer<Float>) {
        for k in rows {
            for c in 0 ..< inChannels {
                let source = du + k * inChannels + c
                func row(_ a: Int) -> SIMD4<Float> {
                    SIMD4(source[4 * a * matrix], source[(4 * a + 1) * matrix], source[(4 * a + 2) * matrix], source[(4 * a + 3) * matrix])
                }
                let (d0, d1, d2, d3) = (row(0), row(1), row(2), row(3))
                // Gᵀ·dU: three rows of four.
                let w0 = d0 + 0.5 * (d1 + d2), w1 = 0.5 * (d1 - d2), w2 = 0.5 * (d1 + d2) + d3
                let target = dw + (k * inChannels + c) * 9
                // (Gᵀ·dU)·G along each row w: w0 + (w1 + w2)/2, (w1 − w2)/2, (w1 + w2)/2 + w3.
                func put(_ p: Int, _ w: SIMD4<Float>) {
                    target[3 * p] = w.x + 0.5 * (w.y + w.z)
                    target[3 * p + 1] = 0.5 * (w.y - w.z)
                    target[3 * p + 2] = 0.5 * (w.y + w.z) + w.w
                }
                put(0, w0); put(1, w1); put(2, w2)
            }
        }
    }
}
