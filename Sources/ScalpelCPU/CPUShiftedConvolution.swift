import ScalpelCore
import ScalpelCPUKernels
import Synchronization

/// The CPU-Swift backend's indirect convolution: the three passes of a 3×3, padding-1 layer with
/// stride 1 or 2 on the shifted layout of `ShiftedConvKernels` — the input (by phase) or the
/// output gradient copied once into it, then GEMMs on the micro-kernel reading those planes in
/// place at the taps' offsets, or dot products along them. What the backend runs as
/// `implicitGEMM` at those geometries.
extension CPUBackend {
    /// Whether the shifted-layout kernels run: fp32 with the fast kernels, an ungrouped,
    /// undilated 3×3 layer with padding 1 and stride 1 or 2 in both directions.
    func runsShifted(_ g: Conv2dGeometry) -> Bool {
        simd && g.kernelHeight == 3 && g.kernelWidth == 3 && g.dilationH == 1 && g.dilationW == 1 && g.groups == 1
            && g.padH == 1 && g.padW == 1 && g.strideH == g.strideW && (1 ... 2).contains(g.strideH)
    }

    /// The shifted layout's sizes for `g`'s output grid.
    private struct ShiftedGrid {
        let pitch: Int, length: Int, margin: Int, planeStride: Int, stride: Int, images: Int, outHeight: Int

        init(_ g: Conv2dGeometry) {
            pitch = ShiftedConvKernels.pitch(outWidth: g.outWidth)
            length = ShiftedConvKernels.length(images: g.batch, outHeight: g.outHeight, outWidth: g.outWidth)
            margin = ShiftedConvKernels.margin(outWidth: g.outWidth)
            planeStride = ShiftedConvKernels.planeStride(images: g.batch, outHeight: g.outHeight, outWidth: g.outWidth)
            stride = g.strideH
            images = g.batch
            outHeight = g.outHeight
        }

        /// The image, output row and first position of row ρ of the layout, or nil for a zero row
        /// (or one past the last image, in the rounding of the length).
        func row(_ rho: Int) -> (image: Int, y: Int, start: Int)? {
            let (image, y) = rho.quotientAndRemainder(dividingBy: outHeight + 1)
            return y == outHeight || image >= images ? nil : (image, y, rho * pitch)
        }
    }

    /// Copies x (N, C, H, W) into the shifted layout by phase (C·σ² planes at `xs`), the
    /// channels split over the threads.
    private func layOutInput(_ g: Conv2dGeometry, _ grid: ShiftedGrid, _ x: UnsafePointer<Float>, into xs: UnsafeMutablePointer<Float>) {
        let (c, s) = (g.inChannels, grid.stride)
        forParts(c, elements: c * s * s * grid.planeStride) { channels in
            ShiftedConvKernels.layOut(x, images: g.batch, channelCount: c, height: g.height, width: g.width, stride: s,
                                      outHeight: g.outHeight, outWidth: g.outWidth, channels: channels, margin: grid.margin,
                                      planeStride: grid.planeStride, into: xs)
        }
    }

    /// Copies dY (N, K, OH, OW) into the shifted layout (K planes at `ds`, `planeStride` apart,
    /// each position `margin` floats in), the channels split over the threads.
    private func layOutGradient(_ g: Conv2dGeometry, _ dy: UnsafePointer<Float>, margin: Int, planeStride: Int,
                                into ds: UnsafeMutablePointer<Float>) {
        let k = g.outChannels
        forParts(k, elements: k * planeStride) { channels in
            ShiftedConvKernels.layOut(dy, images: g.batch, channelCount: k, height: g.outHeight, width: g.outWidth, stride: 1,
                                      outHeight: g.outHeight, outWidth: g.outWidth, channels: channels, margin: margin,
                                      planeStride: planeStride, into: ds)
        }
    }

    /// Positions per block of the forward and input-gradient GEMMs (a multiple of NR).
    private static let shiftedPositions = 256

    /// Depth of a packed A block of those GEMMs (its panels stay in L1/L2 beside B's).
    private static let shiftedDepth = FastGEMM.kc

    /// `planes` (rows × depth, row-major, `depth` floats apart) packed as the micro-kernel's A,
    /// block by block along the depth (block b at b·shiftedDepth·paddedRows).
    private func packShiftedA(_ planes: UnsafePointer<Float>, rows: Int, depth: Int, into packed: UnsafeMutablePointer<Float>) {
        let paddedRows = WinogradKernels.paddedRows(rows)
        for k0 in stride(from: 0, to: depth, by: Self.shiftedDepth) {
            PackedGEMM.packA(planes, lda: depth, trans: false, i0: 0, mc: rows, k0: k0, kc: min(Self.shiftedDepth, depth - k0),
                             into: packed + k0 * paddedRows)
        }
    }

    /// out (rows × length of the layout) = A · B by blocks of positions over the threads, B's
    /// row p read at rows[p] + position, each block then handed to `store(block, first position,
    /// count)` (a rows × shiftedPositions matrix).
    private func shiftedGEMM(rows: Int, depth: Int, packedA: UnsafePointer<Float>, table: UnsafePointer<UnsafePointer<Float>>, length: Int,
                             store: (UnsafePointer<Float>, Int, Int) -> Void) {
        let paddedRows = WinogradKernels.paddedRows(rows)
        let width = Self.shiftedPositions
        let blocks = (length + width - 1) / width
        let workers = max(1, min(kernels == .fast ? threads : 1, blocks))
        let scratch = (0 ..< workers).map { _ in Self.scratchCache.take(count: paddedRows * width) }
        defer { scratch.forEach { Self.scratchCache.give($0) } }
        let next = Atomic<Int>(0)
        func body(_ worker: Int) {
            let c = scratch[worker].pointer
            while true {
                let block = next.add(1, ordering: .relaxed).oldValue
                if block >= blocks { break }
                let first = block * width, count = min(width, length - first)
                for k0 in stride(from: 0, to: depth, by: Self.shiftedDepth) {
                    ShiftedConvKernels.multiplyIndirect(m: paddedRows, n: count, k: min(Self.shiftedDepth, depth - k0),
                                                        packedA: packedA + k0 * paddedRows, rows: table + k0, column: first,
                                                        c: c, ldc: width, accumulate: k0 > 0)
                }
                store(c, first, count)
            }
        }
        if workers == 1 { body(0) } else { CPUBackend.pool(size: threads).run(threads: workers) { t, _ in body(t) } }
    }

    /// The forward pass on the shifted layout: x copied by phase, then y (K × positions) =
    /// W (K × 9C, as stored) · the taps' planes, plus the bias and then ReLU as each block of
    /// positions is copied out into y (N, K, OH, OW).
    func shiftedForward(_ g: Conv2dGeometry, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, bias: UnsafePointer<Float>?, relu: Bool,
                        _ y: UnsafeMutablePointer<Float>) {
        let grid = ShiftedGrid(g)
        let (c, k, s) = (g.inChannels, g.outChannels, grid.stride)
        let depth = 9 * c
        let planes = c * s * s * grid.planeStride, packedSize = WinogradKernels.paddedRows(k) * depth
        let scratch = Self.scratchCache.take(count: planes + packedSize)
        defer { Self.scratchCache.give(scratch) }
        let (xs, packed) = (scratch.pointer, scratch.pointer + planes)
        layOutInput(g, grid, x, into: xs)
        packShiftedA(w, rows: k, depth: depth, into: packed)
        // Row (c, r, t) of B: phase (a(r), a(t)) of channel c at d(r)·pitch + d(t).
        var table = [UnsafePointer<Float>]()
        table.reserveCapacity(depth)
        for channel in 0 ..< c {
            for r in 0 ..< 3 {
                for t in 0 ..< 3 {
                    let (row, column) = (ShiftedConvKernels.tap(r, stride: s), ShiftedConvKernels.tap(t, stride: s))
                    table.append(UnsafePointer(xs + ((channel * s + row.phase) * s + column.phase) * grid.planeStride + grid.margin
                        + row.offset * grid.pitch + column.offset))
                }
            }
        }
        let (oh, ow) = (g.outHeight, g.outWidth)
        let width = Self.shiftedPositions
        table.withUnsafeBufferPointer { table in
            shiftedGEMM(rows: k, depth: depth, packedA: packed, table: table.baseAddress!, length: grid.length) { block, first, count in
                for rho in first / grid.pitch ... (first + count - 1) / grid.pitch {
                    guard let (image, row, start) = grid.row(rho) else { continue }
                    let lo = max(first, start), hi = min(first + count, start + ow)
                    if lo >= hi { continue }
                    for channel in 0 ..< k {
                        let offset = bias?[channel] ?? 0
                        let source = block + channel * width + (lo - first)
                        let out = y + ((image * k + channel) * oh + row) * ow + (lo - start)
                        for i in 0 ..< hi - lo {
                            let v = source[i] + offset
                            out[i] = relu && !(v > 0) ? 0 : v
                        }
                    }
                }
            }
        }
    }

    /// The input gradient on the shifted layout: dY copied once, then for each phase (a, b) of
    /// the input, dX's phase (C × positions) = Wᵀ restricted to the taps of that phase
    /// (C × K·taps) · the taps' dY planes (tap (r, t) reads dY at −d(r)·pitch − d(t)), copied out
    /// into dx (N, C, H, W) at rows σ·i + a, columns σ·j + b. Every element of dx is written once.
    func shiftedBackwardData(_ g: Conv2dGeometry, _ dy: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>) {
        let grid = ShiftedGrid(g)
        let (c, k, s) = (g.inChannels, g.outChannels, grid.stride)
        let ow = g.outWidth
        let planes = k * grid.planeStride, packedSize = WinogradKernels.paddedRows(c) * 9 * k
        let scratch = Self.scratchCache.take(count: planes + packedSize + c * 9 * k)
        defer { Self.scratchCache.give(scratch) }
        let (ds, packed, gathered) = (scratch.pointer, scratch.pointer + planes, scratch.pointer + planes + packedSize)
        layOutGradient(g, dy, margin: grid.margin, planeStride: grid.planeStride, into: ds)
        let width = Self.shiftedPositions
        let (height, imageWidth) = (g.height, g.width)
        for a in 0 ..< s {
            for b in 0 ..< s {
                let taps = (0 ..< 3).flatMap { r in (0 ..< 3).map { (r, $0) } }.filter {
                    ShiftedConvKernels.tap($0.0, stride: s).phase == a && ShiftedConvKernels.tap($0.1, stride: s).phase == b
                }
                let depth = k * taps.count
                // A[channel][(o, tap)] = W[o][channel][r][t].
                for channel in 0 ..< c {
                    for o in 0 ..< k {
                        for (i, (r, t)) in taps.enumerated() { gathered[channel * depth + o * taps.count + i] = w[((o * c + channel) * 3 + r) * 3 + t] }
                    }
                }
                packShiftedA(gathered, rows: c, depth: depth, into: packed)
                var table = [UnsafePointer<Float>]()
                table.reserveCapacity(depth)
                for o in 0 ..< k {
                    for (r, t) in taps {
                        let (row, column) = (ShiftedConvKernels.tap(r, stride: s), ShiftedConvKernels.tap(t, stride: s))
                        table.append(UnsafePointer(ds + o * grid.planeStride + grid.margin - row.offset * grid.pitch - column.offset))
                    }
                }
                table.withUnsafeBufferPointer { table in
                    shiftedGEMM(rows: c, depth: depth, packedA: packed, table: table.baseAddress!, length: grid.length) { block, first, count in
                        for rho in first / grid.pitch ... (first + count - 1) / grid.pitch {
                            guard let (image, i, start) = grid.row(rho) else { continue }
                            let yIn = s * i + a
                            if yIn >= height { continue }
                            // Phase columns j with σ·j + b inside the image.
                            let columns = (imageWidth - b + s - 1) / s
                            let lo = max(first, start), hi = min(first + count, start + min(ow, columns))
                            for channel in 0 ..< c {
                                let source = block + channel * width - first
                                let row = dx + ((image * c + channel) * height + yIn) * imageWidth + b
                                for position in lo ..< hi { row[s * (position - start)] = source[position] }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The weight gradient on the shifted layout: x (by phase) and dY copied, then nine dot
    /// products per filter (`ShiftedConvKernels.weightGradient`), each thread its own input
    /// channels.
    func shiftedWeightGradient(_ g: Conv2dGeometry, _ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dw: UnsafeMutablePointer<Float>) {
        let grid = ShiftedGrid(g)
        let (c, k, s) = (g.inChannels, g.outChannels, grid.stride)
        let planes = c * s * s * grid.planeStride
        let scratch = Self.scratchCache.take(count: planes + k * grid.length)
        defer { Self.scratchCache.give(scratch) }
        let (xs, ds) = (scratch.pointer, scratch.pointer + planes)
        layOutInput(g, grid, x, into: xs)
        layOutGradient(g, dy, margin: 0, planeStride: grid.length, into: ds)
        forParts(c, elements: 9 * k * c * grid.length) { channels in
            ShiftedConvKernels.weightGradient(xs, planeStride: grid.planeStride, margin: grid.margin, ds, length: grid.length,
                                              pitch: grid.pitch, stride: s, outChannels: k, inChannels: c, channels: channels, into: dw)
        }
    }
}
