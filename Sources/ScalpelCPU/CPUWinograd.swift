import ScalpelCore
import ScalpelCPUKernels
import Synchronization

/// Winograd F(2×2, 3×3) on the CPU-Swift backend: blocks of tiles, each transformed (`WinogradKernels`),
/// multiplied by the packed transformed filters (16 GEMMs on the fast GEMM's micro-kernel) and
/// transformed back while it is in the core's cache, the blocks shared out over the worker threads.
extension CPUBackend {
    /// Whether Winograd's kernels run: fp32 with the fast kernels, at a geometry that
    /// `supportsWinograd`.
    func runsWinograd(_ g: Conv2dGeometry) -> Bool {
        simd && g.supportsWinograd
    }

    /// Tiles per block (at least) for C input and K output channels: a block's transformed
    /// inputs and products, 16·(C + K) floats per tile, about 2 MiB, between 64 and 256 tiles.
    /// Measured on ResNet-18's and the small CNN's layers (`bench conv`, one thread, 32 to 256
    /// tiles): within 5% of the best at every layer.
    static func winogradBlockTiles(inChannels: Int, outChannels: Int) -> Int {
        min(256, max(64, (1 << 19) / (WinogradKernels.points * (inChannels + outChannels))))
    }

    /// By Winograd F(2×2, 3×3) where it `runsWinograd` (the filters transformed once, then per
    /// block of tiles: the input transform, 16 GEMMs, the output transform with the bias and
    /// ReLU); elsewhere the column path, `conv2dImplicitForwardByColumns`. Throws
    /// `shapeMismatch` for an invalid geometry or a buffer too short.
    public func conv2dWinogradForward(_ geometry: Conv2dGeometry, input: any DeviceBuffer, weight: any DeviceBuffer,
                                      bias: (any DeviceBuffer)?, relu: Bool, output: any DeviceBuffer) throws {
        let g = geometry
        try g.validate()
        guard runsWinograd(g) else {
            return try conv2dImplicitForwardByColumns(g, input: input, weight: weight, bias: bias, relu: relu, output: output)
        }
        let span = ProfileSpan.begin("winograd forward"); defer { span?.end() }
        let (c, k) = (g.inChannels, g.outChannels)
        let b = try typedBuffers("conv2d winograd", [(input, g.batch * c * g.height * g.width), (weight, k * c * 9),
                                                     (output, g.batch * k * g.outHeight * g.outWidth)])
        let biasPointer = try bias.map { try typedBuffers("conv2d winograd bias", [($0, k)])[0].pointer }
        try winograd(images: g.batch, inChannels: c, height: g.height, width: g.width, padH: g.padH, padW: g.padW,
                     outChannels: k, outHeight: g.outHeight, outWidth: g.outWidth,
                     input: b[0].pointer, filters: { u, rows in
                         WinogradKernels.transformFilters(b[1].pointer, outChannels: k, inChannels: c, flipped: false, rows: rows, into: u)
                     },
                     bias: biasPointer.map { UnsafePointer($0) }, relu: relu, output: b[2].pointer)
    }

    /// By Winograd F(2×2, 3×3) where it `runsWinograd`: the input gradient is the 3×3 stride-1
    /// convolution of the output gradient, padded by 2 − padding, with each filter rotated by
    /// 180° and the channel axes swapped. Elsewhere the column path. Throws `shapeMismatch` for
    /// an invalid geometry or a buffer too short.
    public func conv2dWinogradBackwardData(_ geometry: Conv2dGeometry, gradOutput: any DeviceBuffer, weight: any DeviceBuffer,
                                           gradInput: any DeviceBuffer) throws {
        let g = geometry
        try g.validate()
        guard runsWinograd(g) else {
            return try conv2dBackwardColumns(g, input: gradInput, weight: weight, gradOutput: gradOutput, gradInput: gradInput, gradWeight: nil)
        }
        let span = ProfileSpan.begin("winograd backward-data"); defer { span?.end() }
        let (c, k) = (g.inChannels, g.outChannels)
        let b = try typedBuffers("conv2d winograd backward-data", [(gradOutput, g.batch * k * g.outHeight * g.outWidth), (weight, k * c * 9),
                                                                   (gradInput, g.batch * c * g.height * g.width)])
        try winograd(images: g.batch, inChannels: k, height: g.outHeight, width: g.outWidth, padH: 2 - g.padH, padW: 2 - g.padW,
                     outChannels: c, outHeight: g.height, outWidth: g.width,
                     input: b[0].pointer, filters: { u, rows in
                         WinogradKernels.transformFilters(b[1].pointer, outChannels: k, inChannels: c, flipped: true, rows: rows, into: u)
                     },
                     bias: nil, relu: false, output: b[2].pointer)
    }

    /// Floats of transformed inputs and output gradients per chunk of tiles in the weight
    /// gradient (16·(C + K) per tile): 2 Mi (8 MiB), about a thousand tiles for 64 channels in
    /// and out — the GEMMs' reduction — with dU read and written once per chunk.
    static let winogradGradientChunk = 2 << 20

    /// By Winograd F(2×2, 3×3) where it `runsWinograd`: per chunk of tile rows, the input's tiles
    /// V and the output gradient's dM = A·dY·Aᵀ transformed (the channels over the threads), then
    /// dU[ξ] (K × C) += dM[ξ] · V[ξ]ᵀ (16 GEMMs of the fast GEMM, the tiles the short reduction),
    /// and at the end dW = Gᵀ·dU·G. Elsewhere the column path. Throws `shapeMismatch` for an
    /// invalid geometry or a buffer too short.
    public func conv2dWinogradBackwardWeight(_ geometry: Conv2dGeometry, input: any DeviceBuffer, gradOutput: any DeviceBuffer,
                                             gradWeight: any DeviceBuffer) throws {
        let g = geometry
        try g.validate()
        guard runsWinograd(g) else {
            return try conv2dBackwardColumns(g, input: input, weight: gradWeight, gradOutput: gradOutput, gradInput: nil, gradWeight: gradWeight)
        }
        let span = ProfileSpan.begin("winograd backward-weight"); defer { span?.end() }
        let (c, k) = (g.inChannels, g.outChannels)
        let b = try typedBuffers("conv2d winograd backward-weight", [(input, g.batch * c * g.height * g.width),
                                                                     (gradOutput, g.batch * k * g.outHeight * g.outWidth), (gradWeight, k * c * 9)])
        let (x, dy, dw) = (UnsafePointer(b[0].pointer), UnsafePointer(b[1].pointer), b[2].pointer)
        let points = WinogradKernels.points
        let tilesH = WinogradKernels.tiles(g.outHeight), tilesW = WinogradKernels.tiles(g.outWidth)
        let tileRows = g.batch * tilesH
        let rowsPerChunk = max(1, min(tileRows, Self.winogradGradientChunk / (points * (c + k) * tilesW)))
        let ld = rowsPerChunk * tilesW
        let vMatrix = WinogradKernels.matrixStride(c * ld), mMatrix = WinogradKernels.matrixStride(k * ld)
        let uMatrix = WinogradKernels.matrixStride(k * c)
        let rowScratch = WinogradKernels.rowScratchSize(tilesW: tilesW)
        let scratch = Self.scratchCache.take(count: points * (vMatrix + mMatrix + uMatrix))
        defer { Self.scratchCache.give(scratch) }
        let (v, dm, du) = (scratch.pointer, scratch.pointer + points * vMatrix, scratch.pointer + points * (vMatrix + mMatrix))
        for first in stride(from: 0, to: tileRows, by: rowsPerChunk) {
            let range = first ..< min(tileRows, first + rowsPerChunk)
            let tiles = range.count * tilesW
            forParts(c + k, elements: points * (c + k) * tiles) { channels in
                withUnsafeTemporaryAllocation(of: Float.self, capacity: rowScratch) { rows in
                    rows.initialize(repeating: 0)
                    let inputs = channels.clamped(to: 0 ..< c), gradients = (channels.clamped(to: c ..< c + k))
                    if !inputs.isEmpty {
                        WinogradKernels.transformInput(x, channels: c, height: g.height, width: g.width, padH: g.padH, padW: g.padW,
                                                       tilesH: tilesH, tilesW: tilesW, tileRows: range, channelRange: inputs,
                                                       rows: rows.baseAddress!, into: v, ld: tiles, matrix: vMatrix)
                    }
                    if !gradients.isEmpty {
                        rows.initialize(repeating: 0)
                        WinogradKernels.transformOutputGradient(dy, channels: k, outHeight: g.outHeight, outWidth: g.outWidth, tilesH: tilesH,
                                                                tilesW: tilesW, tileRows: range,
                                                                channelRange: gradients.lowerBound - c ..< gradients.upperBound - c,
                                                                rows: rows.baseAddress!, into: dm, ld: tiles, matrix: mMatrix)
                    }
                }
            }
            // dU[ξ] (K × C) (+)= dM[ξ] (K × tiles) · V[ξ]ᵀ (tiles × C).
            var p = GEMMParameters(m: k, n: c, k: tiles, transB: true, beta: first == 0 ? 0 : 1, batch: points)
            p.strideA = mMatrix
            p.strideB = vMatrix
            p.strideC = uMatrix
            let gemmSpan = ProfileSpan.begin("gemm")
            fastGEMM?.run(p, a: dm, b: v, c: du, threads: threads)
            gemmSpan?.end()
        }
        forParts(k, elements: points * k * c) { rows in
            WinogradKernels.transformFilterGradient(du, outChannels: k, inChannels: c, matrix: uMatrix, rows: rows, into: dw)
        }
    }

    /// One 3×3 stride-1 convolution of `input` (images, inChannels, height, width) padded by
    /// (padH, padW) into `output` (images, outChannels, outHeight, outWidth): `filters(u, rows)`
    /// writes the given rows of the 16 transformed outChannels×inChannels filter matrices,
    /// packed (`WinogradKernels.transformFilters`). The threads take blocks of whole tile rows in
    /// turn; each block is transformed, multiplied (16 GEMMs on the micro-kernel, B read in
    /// place) and transformed back in its thread's own scratch.
    private func winograd(images: Int, inChannels: Int, height: Int, width: Int, padH: Int, padW: Int,
                          outChannels: Int, outHeight: Int, outWidth: Int,
                          input: UnsafePointer<Float>, filters: (UnsafeMutablePointer<Float>, Range<Int>) -> Void,
                          bias: UnsafePointer<Float>?, relu: Bool, output: UnsafeMutablePointer<Float>) throws {
        let points = WinogradKernels.points
        let tilesH = WinogradKernels.tiles(outHeight), tilesW = WinogradKernels.tiles(outWidth)
        let paddedK = WinogradKernels.paddedRows(outChannels)
        let uMatrix = WinogradKernels.filterMatrixStride(rows: outChannels, columns: inChannels)
        let u = try makeBuffer(count: points * uMatrix)
        let uPointer = try storage(u, op: "winograd").pointer
        do {
            let span = ProfileSpan.begin("winograd filter transform"); defer { span?.end() }
            forParts(outChannels, elements: points * outChannels * inChannels) { rows in filters(uPointer, rows) }
        }
        // Blocks of whole tile rows, at least `winogradBlockTiles` tiles, fewer rows when that
        // leaves a thread without a block.
        let tileRows = images * tilesH
        let threadCount = kernels == .fast ? threads : 1
        let blockTiles = Self.winogradBlockTiles(inChannels: inChannels, outChannels: paddedK)
        var rowsPerBlock = max(1, (blockTiles + tilesW - 1) / tilesW)
        if threadCount > 1 { rowsPerBlock = max(1, min(rowsPerBlock, tileRows / threadCount)) }
        let blocks = (tileRows + rowsPerBlock - 1) / rowsPerBlock
        let nr = PackedGEMM.nr
        let ld = (rowsPerBlock * tilesW + nr - 1) / nr * nr
        let vMatrix = WinogradKernels.matrixStride(inChannels * ld), mMatrix = WinogradKernels.matrixStride(paddedK * ld)
        let rowScratch = WinogradKernels.rowScratchSize(tilesW: tilesW)
        let scratchSize = points * (vMatrix + mMatrix) + WinogradKernels.productSlack + rowScratch
        let workers = min(threadCount, blocks)
        let scratch = (0 ..< workers).map { _ in Self.scratchCache.take(count: scratchSize) }
        defer { scratch.forEach { Self.scratchCache.give($0) } }
        let next = Atomic<Int>(0)
        let body = { (worker: Int) in
            let v = scratch[worker].pointer, m = v + points * vMatrix, rows = m + points * mMatrix + WinogradKernels.productSlack
            rows.update(repeating: 0, count: rowScratch)
            while true {
                let block = next.add(1, ordering: .relaxed).oldValue
                if block >= blocks { break }
                let range = block * rowsPerBlock ..< min(tileRows, (block + 1) * rowsPerBlock)
                let columns = (range.count * tilesW + nr - 1) / nr * nr
                WinogradKernels.transformInput(input, channels: inChannels, height: height, width: width, padH: padH, padW: padW,
                                               tilesH: tilesH, tilesW: tilesW, tileRows: range, rows: rows, into: v, ld: ld, matrix: vMatrix)
                // M[ξ] (outChannels × tiles) = U[ξ] (outChannels × inChannels) · V[ξ] (inChannels × tiles).
                for xi in 0 ..< points {
                    PackedGEMM.multiplyUnpackedB(m: paddedK, n: columns, k: inChannels, packedA: uPointer + xi * uMatrix,
                                                 b: v + xi * vMatrix, ldb: ld, c: m + xi * mMatrix, ldc: ld)
                }
                WinogradKernels.transformOutput(m, ld: ld, matrix: mMatrix, channels: outChannels, outHeight: outHeight, outWidth: outWidth,
                                                tilesH: tilesH, tilesW: tilesW, tileRows: range, bias: bias, relu: relu, into: output)
            }
        }
        if workers <= 1 {
            body(0)
        } else {
            CPUBackend.pool(size: threads).run(threads: workers) { t, _ in body(t) }
        }
    }
}

/// Float scratch blocks kept for reuse across calls (at most eight), handed out to one caller
/// at a time. Thread-safe.
final class ScratchCache: Sendable {
    private let spare = Mutex<[AlignedFloats]>([])

    /// A block of at least `count` floats (contents unspecified).
    func take(count: Int) -> AlignedFloats {
        let found = spare.withLock { blocks -> AlignedFloats? in
            guard let index = blocks.firstIndex(where: { $0.count >= count }) else { return nil }
            return blocks.remove(at: index)
        }
        return found ?? AlignedFloats(count: count)
    }

    /// Returns a block taken with `take`.
    func give(_ block: AlignedFloats) {
        spare.withLock { blocks in
            if blocks.count < 8 { blocks.append(block) }
        }
    }
}
