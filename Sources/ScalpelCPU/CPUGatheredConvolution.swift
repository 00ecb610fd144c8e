import ScalpelCore
import ScalpelCPUKernels
import Synchronization

/// The CPU-Swift backend's gathered convolution: the three passes of a 3×3, padding-1 layer
/// with stride 1 or 2 as GEMMs on the micro-kernel whose image operand is packed straight from
/// the tensor, tap by tap, for the positions where that tap reads inside the image
/// (`GatheredPlan`, `GatheredConvKernels`): no column matrix, no padding multiplied, every
/// result written once. What the backend runs as `implicitGEMM` at those geometries. The
/// forward pass and the input gradient hand over to the indirect form
/// (`CPUIndirectConvolution`) where its filters fit L2; this file holds the packed form, the
/// weight gradient and what all of them share.
extension CPUBackend {
    /// Whether the gathered convolution runs: fp32 with the fast kernels, an ungrouped,
    /// undilated 3×3 layer with padding 1 and stride 1 or 2 in both directions.
    func runsGathered(_ g: Conv2dGeometry) -> Bool {
        simd && g.kernelHeight == 3 && g.kernelWidth == 3 && g.dilationH == 1 && g.dilationW == 1 && g.groups == 1
            && g.padH == 1 && g.padW == 1 && g.strideH == g.strideW && (1 ... 2).contains(g.strideH)
    }

    /// Depth of a packed block along the reduction (a B panel of 16 KiB stays in L1).
    private static let gatheredDepth = FastGEMM.kc

    /// The blocks of `0 ..< total` at most `gatheredDepth` long.
    private static func depthBlocks(_ total: Int) -> [Range<Int>] {
        stride(from: 0, to: total, by: gatheredDepth).map { $0 ..< min(total, $0 + gatheredDepth) }
    }

    /// Images per chunk of a pass, so that the channels-last copy of the chunk's input (or
    /// output gradient), `perImage` floats an image, stays near `budget` floats
    /// (`convColumnBudget`, as im2col's columns do): a large image batch is not copied whole.
    private func gatheredChunks(_ g: Conv2dGeometry, perImage: Int, budget: Int?) -> [Range<Int>] {
        let chunk = max(1, min(g.batch, (budget ?? convColumnBudget) / max(perImage, 1)))
        return stride(from: 0, to: g.batch, by: chunk).map { $0 ..< min(g.batch, $0 + chunk) }
    }

    /// Per worker thread, room for one group's B panels (`groupPanels` panels of up to
    /// `gatheredDepth` × NR) and its tile (`rows` × `groupPanels`·NR); give them back to
    /// `scratchCache`.
    private func takeGroupBuffers(rows: Int) -> [AlignedFloats] {
        let width = GatheredPlan.groupPanels * PackedGEMM.nr
        return (0 ..< max(1, threads)).map { _ in Self.scratchCache.take(count: Self.gatheredDepth * width + rows * width) }
    }

    /// A worker's buffers from `takeGroupBuffers`: the B panels, then the tile.
    private static func groupBuffers(_ buffer: AlignedFloats) -> (packedB: UnsafeMutablePointer<Float>, tile: UnsafeMutablePointer<Float>) {
        (buffer.pointer, buffer.pointer + gatheredDepth * GatheredPlan.groupPanels * PackedGEMM.nr)
    }

    /// Runs `body(worker, item)` for every item over the backend's threads (one when the work is
    /// small or the kernels are the reference), each item on one thread. The threads take the
    /// items largest `cost` first, so that the last ones to finish are small (the classes of a
    /// small plane differ fourfold in work); each item writes its own results, so the order
    /// changes no bit of them.
    private func gatheredJobs(_ count: Int, multiplyAdds: Int, cost: (Int) -> Int, _ body: (Int, Int) -> Void) {
        if gatheredWorkers(count, multiplyAdds: multiplyAdds) == 1 {
            for item in 0 ..< count { body(0, item) }
            return
        }
        let costs: [Int] = (0 ..< count).map(cost)
        gatheredJobs(order: (0 ..< count).sorted { (a: Int, b: Int) -> Bool in costs[a] != costs[b] ? costs[a] > costs[b] : a < b },
                     multiplyAdds: multiplyAdds, body)
    }

    /// Runs `body(worker, item)` for the items in `order`, taken in that order by the backend's
    /// threads (one when the work is small or the kernels are the reference).
    func gatheredJobs(order: [Int], multiplyAdds: Int, _ body: (Int, Int) -> Void) {
        let workers = gatheredWorkers(order.count, multiplyAdds: multiplyAdds)
        if workers == 1 {
            for item in order { body(0, item) }
            return
        }
        let next = Atomic<Int>(0)
        CPUBackend.pool(size: threads).run(threads: workers) { worker, _ in
            while true {
                let item = next.add(1, ordering: .relaxed).oldValue
                if item >= order.count { break }
                body(worker, order[item])
            }
        }
    }

    /// Threads for `count` jobs of `multiplyAdds` in all: one for small work or the reference kernels.
    private func gatheredWorkers(_ count: Int, multiplyAdds: Int) -> Int {
        kernels == .fast && multiplyAdds >= FastGEMM.parallelThreshold ? max(1, min(threads, count)) : 1
    }

    /// `source` (N, channels, area) copied channels-last, (N, area, channels), the images split
    /// over the threads.
    private func channelsLast(_ source: UnsafePointer<Float>, images: Int, channels: Int, area: Int, into target: UnsafeMutablePointer<Float>) {
        forParts(images, elements: images * channels * area) { images in
            GatheredConvKernels.channelsLast(source, images: images, channels: channels, area: area, into: target)
        }
    }

    /// The filters packed tap by tap (`GatheredConvKernels.packTaps`), the micro-panels split
    /// over the threads.
    private func packTaps(_ g: Conv2dGeometry, _ w: UnsafePointer<Float>, transposed: Bool, into packed: UnsafeMutablePointer<Float>) {
        let (c, k) = (g.inChannels, g.outChannels)
        let panels = ((transposed ? c : k) + PackedGEMM.mr - 1) / PackedGEMM.mr
        forParts(panels, elements: 9 * k * c) { panels in
            GatheredConvKernels.packTaps(w, outChannels: k, inChannels: c, transposed: transposed, depth: Self.gatheredDepth, panels: panels, into: packed)
        }
    }

    /// One group of panels of `plan`'s positions: tile (rows × panels·NR, `groupPanels`·NR
    /// apart) = Σ over the class's taps and the blocks of the reduction of A(filter tap, block) ·
    /// B, where B is the channels-last `source` gathered at the tap for the group's positions and
    /// A the filters packed by `packTaps` (tap f, block b at packedA + (f·channels + b.start)·rows).
    private func multiplyGathered(_ plan: GatheredPlan, group: (classIndex: Int, first: Int, panels: Int), filterTap: (Int) -> Int,
                                  source: UnsafePointer<Float>, channels: Int, blocks: [Range<Int>], packedA: UnsafePointer<Float>, rows: Int,
                                  packedB: UnsafeMutablePointer<Float>, into tile: UnsafeMutablePointer<Float>) {
        let nr = PackedGEMM.nr
        withUnsafeTemporaryAllocation(of: Int.self, capacity: nr) { columns in
            var first = true
            for t in plan.classTaps[group.classIndex] {
                let a = packedA + filterTap(t) * channels * rows
                for block in blocks {
                    for q in 0 ..< group.panels {
                        let panel = group.first + q
                        for j in 0 ..< nr { columns[j] = plan.sources[panel * nr + j] + plan.tapOffsets[t] }
                        GatheredConvKernels.packB(source, channels: channels, first: block.lowerBound, depth: block.count,
                                                  positions: columns.baseAddress!, count: plan.validColumns(panel: panel, classIndex: group.classIndex),
                                                  into: packedB + q * block.count * nr)
                    }
                    GatheredConvKernels.multiply(rows: rows, panels: group.panels, depth: block.count, packedA: a + block.lowerBound * rows,
                                                 panelStride: block.count * PackedGEMM.mr, packedB: packedB, c: tile, ldc: GatheredPlan.groupPanels * nr,
                                                 accumulate: !first, rowBlock: FastGEMM.mc)
                    first = false
                }
            }
        }
    }

    /// The forward pass: y (N, K, OH, OW) = conv(x, W) + bias, then ReLU. Per group of output
    /// panels (one class of positions), for each tap of the class and block of input channels, x
    /// gathered at the tap into B panels and multiplied by that tap's packed filters; then the
    /// tile is written out with the bias and ReLU. Images go in chunks whose channels-last copy
    /// fits `chunkBudget` floats (default `convColumnBudget`); the results do not depend on it.
    func gatheredForward(_ g: Conv2dGeometry, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, bias: UnsafePointer<Float>?, relu: Bool,
                         _ y: UnsafeMutablePointer<Float>, chunkBudget: Int? = nil) {
        if runsIndirect(taps: 9, depth: g.inChannels) { return indirectForward(g, x, w, bias: bias, relu: relu, y, chunkBudget: chunkBudget) }
        let (c, k, outArea) = (g.inChannels, g.outChannels, g.outHeight * g.outWidth)
        let rows = WinogradKernels.paddedRows(k)
        let buffers = takeGroupBuffers(rows: rows)
        defer { buffers.forEach { Self.scratchCache.give($0) } }
        // Tap t, input channels `block`: a K × block.count packed block at packed + (t·C + block.start)·rows.
        gatheredChunked(g, x, channels: c, area: g.height * g.width, packedCount: 9 * rows * c,
                        pack: { packTaps(g, w, transposed: false, into: $0) }, chunkBudget: chunkBudget) { chunk, xn, packed, firstImage in
            gatheredForwardChunk(chunk, xn, packed: packed, bias: bias, relu: relu, buffers: buffers, y + firstImage * k * outArea)
        }
    }

    /// What every forward pass and input gradient shares: the filters packed once by `pack`
    /// (`packedCount` floats), and the images in chunks whose `operand` (x or dY, `channels` ×
    /// `area` floats an image) is copied channels-last, at most `chunkBudget` floats of it
    /// (default `convColumnBudget`). `body(chunk's geometry, its channels-last operand, packed
    /// filters, its first image)` runs the pass on each chunk.
    func gatheredChunked(_ g: Conv2dGeometry, _ operand: UnsafePointer<Float>, channels: Int, area: Int, packedCount: Int,
                         pack: (UnsafeMutablePointer<Float>) -> Void, chunkBudget: Int?,
                         _ body: (Conv2dGeometry, UnsafePointer<Float>, UnsafePointer<Float>, Int) -> Void) {
        let chunks = gatheredChunks(g, perImage: channels * area, budget: chunkBudget)
        let scratch = Self.scratchCache.take(count: packedCount + chunks[0].count * channels * area)
        defer { Self.scratchCache.give(scratch) }
        let (packed, copy) = (scratch.pointer, scratch.pointer + packedCount)
        pack(packed)
        for images in chunks {
            var chunk = g
            chunk.batch = images.count
            channelsLast(operand + images.lowerBound * channels * area, images: images.count, channels: channels, area: area, into: copy)
            body(chunk, copy, packed, images.lowerBound)
        }
    }

    /// `gatheredForward` for the images of `g` (a chunk), their input channels-last at `xn`.
    private func gatheredForwardChunk(_ g: Conv2dGeometry, _ xn: UnsafePointer<Float>, packed: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                                      relu: Bool, buffers: [AlignedFloats], _ y: UnsafeMutablePointer<Float>) {
        let plan = GatheredPlan.forward(g)
        let (c, k) = (g.inChannels, g.outChannels)
        let (rows, nr, outArea) = (WinogradKernels.paddedRows(k), PackedGEMM.nr, g.outHeight * g.outWidth)
        let blocks = Self.depthBlocks(c)
        let width = GatheredPlan.groupPanels * nr
        let multiplyAdds = g.batch * outArea * k * c * 9
        plan.targets.withUnsafeBufferPointer { targets in
            gatheredJobs(plan.groups.count, multiplyAdds: multiplyAdds,
                         cost: { plan.groups[$0].panels * plan.classTaps[plan.groups[$0].classIndex].count }) { worker, index in
                let group = plan.groups[index]
                let (packedB, tile) = Self.groupBuffers(buffers[worker])
                multiplyGathered(plan, group: group, filterTap: { $0 }, source: xn, channels: c, blocks: blocks, packedA: packed, rows: rows,
                                 packedB: packedB, into: tile)
                // Channel by channel, so that a class's neighbouring positions are stored together.
                for q in 0 ..< group.panels {
                    let panel = group.first + q
                    let count = plan.validColumns(panel: panel, classIndex: group.classIndex)
                    for channel in 0 ..< k {
                        let (out, row, offset) = (y + channel * outArea, tile + channel * width + q * nr, bias?[channel] ?? 0)
                        for j in 0 ..< count {
                            let v = row[j] + offset
                            out[targets[panel * nr + j]] = relu && !(v > 0) ? 0 : v
                        }
                    }
                }
            }
        }
    }

    /// The input gradient: for each phase (a, b) of the input, dX at (σ·i + a, σ·j + b) = Σ over
    /// that phase's taps inside dY of Wᵀ(tap) · dY at (i − d, j − d'); per group of panels of a
    /// class, dY gathered at each tap into B panels. Every element of dX is written once. Images
    /// go in chunks, as in `gatheredForward`.
    func gatheredBackwardData(_ g: Conv2dGeometry, _ dy: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                              chunkBudget: Int? = nil) {
        // A phase's taps: ⌈3/σ⌉ filter rows by as many columns (9 at stride 1, 4 at stride 2).
        let phaseTaps = (3 + g.strideH - 1) / g.strideH
        if runsIndirect(taps: phaseTaps * phaseTaps, depth: g.outChannels) { return indirectBackwardData(g, dy, w, dx, chunkBudget: chunkBudget) }
        let (c, k, area) = (g.inChannels, g.outChannels, g.height * g.width)
        let rows = WinogradKernels.paddedRows(c)
        let buffers = takeGroupBuffers(rows: rows)
        defer { buffers.forEach { Self.scratchCache.give($0) } }
        // Tap t, output channels `block`: Wᵀ (C × block) packed at packed + (t·K + block.start)·rows.
        gatheredChunked(g, dy, channels: k, area: g.outHeight * g.outWidth, packedCount: 9 * rows * k,
                        pack: { packTaps(g, w, transposed: true, into: $0) }, chunkBudget: chunkBudget) { chunk, dyn, packed, firstImage in
            gatheredBackwardDataChunk(chunk, dyn, packed: packed, buffers: buffers, dx + firstImage * c * area)
        }
    }

    /// `gatheredBackwardData` for the images of `g` (a chunk), their output gradient
    /// channels-last at `dyn`.
    private func gatheredBackwardDataChunk(_ g: Conv2dGeometry, _ dyn: UnsafePointer<Float>, packed: UnsafePointer<Float>, buffers: [AlignedFloats],
                                           _ dx: UnsafeMutablePointer<Float>) {
        let s = g.strideH
        let (c, k) = (g.inChannels, g.outChannels)
        let (rows, nr, area, outArea) = (WinogradKernels.paddedRows(c), PackedGEMM.nr, g.height * g.width, g.outHeight * g.outWidth)
        let blocks = Self.depthBlocks(k)
        let width = GatheredPlan.groupPanels * nr
        let phases = (0 ..< s).flatMap { a in (0 ..< s).compactMap { GatheredPlan.backwardData(g, phase: a, $0) } }
        let jobs = phases.indices.flatMap { p in phases[p].plan.groups.indices.map { (p, $0) } }
        gatheredJobs(jobs.count, multiplyAdds: g.batch * outArea * k * c * 9, cost: { index in
            let (plan, group) = (phases[jobs[index].0].plan, phases[jobs[index].0].plan.groups[jobs[index].1])
            return group.panels * plan.classTaps[group.classIndex].count
        }) { worker, index in
            let (plan, tapRows, tapColumns) = phases[jobs[index].0]
            let group = plan.groups[jobs[index].1]
            let (packedB, tile) = Self.groupBuffers(buffers[worker])
            multiplyGathered(plan, group: group, filterTap: { tapRows[$0 / plan.columnTaps] * 3 + tapColumns[$0 % plan.columnTaps] },
                             source: dyn, channels: k, blocks: blocks, packedA: packed, rows: rows, packedB: packedB, into: tile)
            // Channel by channel, so that a class's neighbouring positions are stored together.
            for q in 0 ..< group.panels {
                let panel = group.first + q
                let count = plan.validColumns(panel: panel, classIndex: group.classIndex)
                plan.targets.withUnsafeBufferPointer { targets in
                    for channel in 0 ..< c {
                        let (out, row) = (dx + channel * area, tile + channel * width + q * nr)
                        for j in 0 ..< count { out[targets[panel * nr + j]] = row[j] }
                    }
                }
            }
        }
    }

    /// The weight gradient: dW[·][·][tap] = dY · x gathered at the tap, summed over the output
    /// positions where the tap reads inside the image (the classes that have it, in plan
    /// order). dY is packed once as A (output channels × positions); per tap, group of 16·4
    /// input channels and (with several threads) block of output channels, x is gathered into B
    /// panels block by block of positions. Each element of dW is summed by one thread in one
    /// order, chunk of images by chunk.
    func gatheredWeightGradient(_ g: Conv2dGeometry, _ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dw: UnsafeMutablePointer<Float>,
                                chunkBudget: Int? = nil) {
        let (c, k) = (g.inChannels, g.outChannels)
        let (area, outArea) = (g.height * g.width, g.outHeight * g.outWidth)
        let buffers = takeGroupBuffers(rows: WinogradKernels.paddedRows(k))
        defer { buffers.forEach { Self.scratchCache.give($0) } }
        for images in gatheredChunks(g, perImage: c * area, budget: chunkBudget) {
            var cg = g
            cg.batch = images.count
            gatheredWeightGradientChunk(cg, x + images.lowerBound * c * area, dy + images.lowerBound * k * outArea, buffers: buffers, dw,
                                        accumulate: images.lowerBound > 0)
        }
    }

    /// `gatheredWeightGradient` for the images of `g` (a chunk): dW = the chunk's sum, or dW +=
    /// it when `accumulate`.
    private func gatheredWeightGradientChunk(_ g: Conv2dGeometry, _ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, buffers: [AlignedFloats],
                                             _ dw: UnsafeMutablePointer<Float>, accumulate: Bool) {
        let plan = GatheredPlan.forward(g)
        let (c, k) = (g.inChannels, g.outChannels)
        let (rows, nr, area, outArea) = (WinogradKernels.paddedRows(k), PackedGEMM.nr, g.height * g.width, g.outHeight * g.outWidth)
        let columns = plan.sources.count
        let scratch = Self.scratchCache.take(count: rows * columns + g.batch * c * area)
        defer { Self.scratchCache.give(scratch) }
        let (packed, xn) = (scratch.pointer, scratch.pointer + rows * columns)
        channelsLast(x, images: g.batch, channels: c, area: area, into: xn)
        // dY packed as A, its micro-panels of MR output channels split over the threads.
        let channelOffsets = (0 ..< k).map { $0 * outArea }
        channelOffsets.withUnsafeBufferPointer { offsets in
            plan.targets.withUnsafeBufferPointer { targets in
                forParts(k, elements: k * columns, alignment: PackedGEMM.mr) { channels in
                    GatheredConvKernels.packA(dy, rows: offsets.baseAddress! + channels.lowerBound, count: channels.count, columns: targets.baseAddress!,
                                              depth: columns, into: packed + channels.lowerBound * columns)
                }
            }
        }
        // Per tap: the runs of columns (positions, padding excluded) where it reads inside x.
        let runs: [[Range<Int>]] = (0 ..< 9).map { t in
            plan.classColumns.indices.filter { plan.classTaps[$0].contains(t) }.map { plan.classColumns[$0].first ..< plan.classColumns[$0].first + plan.classColumns[$0].count }
        }
        let channelPanels = (c + nr - 1) / nr
        let groupPanels = GatheredPlan.groupPanels
        let channelGroups = (channelPanels + groupPanels - 1) / groupPanels
        // With several threads, the output channels go in blocks so that each thread has about
        // eight jobs (nine taps of unequal work alone leave one of two threads a tenth idle);
        // each block gathers its own copy of the B panels.
        let rowPanels = rows / PackedGEMM.mr
        let blocks = threads > 1 ? min(rowPanels, max(1, (8 * threads + 9 * channelGroups - 1) / (9 * channelGroups))) : 1
        let blockPanels = (rowPanels + blocks - 1) / blocks
        let jobs = (0 ..< 9).flatMap { t in
            (0 ..< channelGroups).flatMap { group in
                stride(from: 0, to: rowPanels, by: blockPanels).map { (tap: t, firstPanel: group * groupPanels, rowPanel: $0) }
            }
        }
        let width = groupPanels * nr
        gatheredJobs(jobs.count, multiplyAdds: g.batch * outArea * k * c * 9, cost: { index in
            let job = jobs[index]
            return min(groupPanels, channelPanels - job.firstPanel) * min(blockPanels, rowPanels - job.rowPanel) * runs[job.tap].reduce(0) { $0 + $1.count }
        }) { worker, index in
            let (t, firstPanel, firstRowPanel) = jobs[index]
            let panels = min(groupPanels, channelPanels - firstPanel)
            let outputRows = firstRowPanel * PackedGEMM.mr ..< min(rows, (firstRowPanel + blockPanels) * PackedGEMM.mr)
            let (packedB, tile) = Self.groupBuffers(buffers[worker])
            var first = true
            withUnsafeTemporaryAllocation(of: Int.self, capacity: Self.gatheredDepth) { positions in
                for run in runs[t] {
                    for block in stride(from: run.lowerBound, to: run.upperBound, by: Self.gatheredDepth).map({ $0 ..< min(run.upperBound, $0 + Self.gatheredDepth) }) {
                        for (i, column) in block.enumerated() { positions[i] = (plan.sources[column] + plan.tapOffsets[t]) * c }
                        for q in 0 ..< panels {
                            let c0 = (firstPanel + q) * nr
                            GatheredConvKernels.packRows(xn + c0, rows: positions.baseAddress!, depth: block.count, count: min(nr, c - c0),
                                                         into: packedB + q * block.count * nr)
                        }
                        GatheredConvKernels.multiply(rows: outputRows.count, panels: panels, depth: block.count,
                                                     packedA: packed + outputRows.lowerBound * columns + block.lowerBound * PackedGEMM.mr,
                                                     panelStride: columns * PackedGEMM.mr, packedB: packedB, c: tile + outputRows.lowerBound * width,
                                                     ldc: width, accumulate: !first, rowBlock: FastGEMM.mc)
                        first = false
                    }
                }
            }
            for q in 0 ..< panels {
                let c0 = (firstPanel + q) * nr
                for j in 0 ..< min(nr, c - c0) {
                    for o in outputRows.lowerBound ..< min(k, outputRows.upperBound) {
                        let sum = first ? 0 : tile[o * width + q * nr + j]
                        let target = dw + (o * c + c0 + j) * 9 + t
                        target.pointee = accumulate ? target.pointee + sum : sum
                    }
                }
            }
        }
    }
}

