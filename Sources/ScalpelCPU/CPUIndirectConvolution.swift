import ScalpelCore
import ScalpelCPUKernels

/// The indirect form of the gathered convolution's forward pass and input gradient (XNNPACK's
/// igemm): the micro-kernel's rows are positions, read in place from the channels-last copy of
/// x (or dY) through a table of pointers, one per position and tap; its columns are 16 filters,
/// packed once. No operand is packed per call, and each tile's sums stay in registers across
/// all of its class's taps. It runs where a block of 16 filters, across the taps a position
/// reads, stays in L2 beside the positions (`runsIndirect`); deeper layers keep the packed form
/// of `CPUGatheredConvolution`.
extension CPUBackend {
    /// Floats of packed filters one block of 16 filters may read across its taps for the indirect
    /// form to run (96 KiB). Measured on ResNet-18's stride-2 layers at 28×28 input (`bench conv`,
    /// one thread, ms per pass against the packed form): faster at 64 and 128 input channels
    /// (36 and 72 KiB; forward 10.5 / 11.3, 9.2 / 9.6) and for the input gradient over 128 and 256
    /// output channels with at most 4 taps a phase (32 and 64 KiB; 11.4 / 11.8, 9.5 / 10.1);
    /// slower at 256 input channels (144 KiB; 9.5 / 9.1) and 512 output channels (128 KiB;
    /// 10.4 / 10.0), where both operands stream from L2 at every step.
    static let indirectFilterBudget = 24 * 1024

    /// Position panels per job of the indirect form: a job's positions are read once per block
    /// of 16 filters, from L1 or L2.
    static let indirectGroupPanels = 8

    /// Whether a pass whose positions read at most `taps` taps, each a reduction of `depth`
    /// channels, runs in the indirect form (`indirectFilterBudget`).
    func runsIndirect(taps: Int, depth: Int) -> Bool {
        taps * depth * GatheredConvKernels.indirectColumns <= Self.indirectFilterBudget
    }

    /// The filters packed for `GatheredConvKernels.indirectBlock`, the blocks of 16 split over
    /// the threads.
    private func packIndirect(_ g: Conv2dGeometry, _ w: UnsafePointer<Float>, transposed: Bool, into packed: UnsafeMutablePointer<Float>) {
        let (c, k) = (g.inChannels, g.outChannels)
        let nr = GatheredConvKernels.indirectColumns
        let panels = ((transposed ? c : k) + nr - 1) / nr
        forParts(panels, elements: 9 * k * c) { panels in
            GatheredConvKernels.packIndirect(w, outChannels: k, inChannels: c, transposed: transposed, panels: panels, into: packed)
        }
    }

    /// Floats of the filters packed by `packIndirect` for `columns` filters (output channels, or
    /// input channels for the input gradient) over a reduction of `depth` channels.
    private static func indirectPackedCount(columns: Int, depth: Int) -> Int {
        let nr = GatheredConvKernels.indirectColumns
        return (columns + nr - 1) / nr * nr * 9 * depth
    }

    /// One group of panels of `plan`: the table of row pointers of its positions (source +
    /// (position's source + tap offset)·depth, a padding position pointing at its panel's
    /// first), then per block of 16 of the `filters` filters and per panel, the tile of
    /// `indirectBlock` (rows 16 apart), handed to `store(panel, the block's filters, tile, valid
    /// positions)`. The block of plan tap t is packed at packed + (block·9 + filterTap(t))·depth·16.
    private func multiplyIndirect(_ plan: GatheredPlan, group: (classIndex: Int, first: Int, panels: Int), filterTap: (Int) -> Int,
                                  source: UnsafePointer<Float>, depth: Int, packed: UnsafePointer<Float>, filters: Int,
                                  store: (Int, Range<Int>, UnsafePointer<Float>, Int) -> Void) {
        let (mr, nr) = (GatheredConvKernels.indirectRows, GatheredConvKernels.indirectColumns)
        let classTaps = plan.classTaps[group.classIndex]
        withUnsafeTemporaryAllocation(of: Int.self, capacity: classTaps.count) { taps in
            for (i, t) in classTaps.enumerated() { taps[i] = filterTap(t) * depth * nr }
            withUnsafeTemporaryAllocation(of: UnsafePointer<Float>.self, capacity: group.panels * classTaps.count * mr) { rows in
                for q in 0 ..< group.panels {
                    let panel = group.first + q
                    let valid = plan.validColumns(panel: panel, classIndex: group.classIndex)
                    for (i, t) in classTaps.enumerated() {
                        for r in 0 ..< mr {
                            rows[(q * classTaps.count + i) * mr + r] = source + (plan.sources[panel * mr + min(r, valid - 1)] + plan.tapOffsets[t]) * depth
                        }
                    }
                }
                withUnsafeTemporaryAllocation(of: Float.self, capacity: mr * nr) { tile in
                    // Filter block outermost: its packed filters stay in L2 while the group's
                    // panels meet them, and its results go to 16 channels' runs of positions.
                    for block in 0 ..< (filters + nr - 1) / nr {
                        for q in 0 ..< group.panels {
                            let panel = group.first + q
                            let valid = plan.validColumns(panel: panel, classIndex: group.classIndex)
                            GatheredConvKernels.indirectBlock(taps: taps.baseAddress!, count: classTaps.count, depth: depth,
                                                              rows: rows.baseAddress! + q * classTaps.count * mr, b: packed + block * 9 * depth * nr,
                                                              tile: tile.baseAddress!, valid: valid)
                            store(panel, block * nr ..< min(filters, block * nr + nr), tile.baseAddress!, valid)
                        }
                    }
                }
            }
        }
    }

    /// The forward pass in the indirect form: y (N, K, OH, OW) = conv(x, W) + bias, then ReLU,
    /// each tile written out with the bias and ReLU. The jobs (groups of a class's panels) go
    /// image by image, so that an image's outputs stay in cache while its classes fill them in.
    func indirectForward(_ g: Conv2dGeometry, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, bias: UnsafePointer<Float>?, relu: Bool,
                         _ y: UnsafeMutablePointer<Float>, chunkBudget: Int?) {
        let (c, k, outArea) = (g.inChannels, g.outChannels, g.outHeight * g.outWidth)
        let mr = GatheredConvKernels.indirectRows
        gatheredChunked(g, x, channels: c, area: g.height * g.width, packedCount: Self.indirectPackedCount(columns: k, depth: c),
                        pack: { packIndirect(g, w, transposed: false, into: $0) }, chunkBudget: chunkBudget) { g, xn, packed, firstImage in
            let y = y + firstImage * k * outArea
            let plan = GatheredPlan.forward(g, panelWidth: mr, groupPanels: Self.indirectGroupPanels)
            let order = plan.groups.indices.sorted { (plan.groupImages[$0], $0) < (plan.groupImages[$1], $1) }
            plan.targets.withUnsafeBufferPointer { targets in
                gatheredJobs(order: order, multiplyAdds: g.batch * outArea * k * c * 9) { _, index in
                    multiplyIndirect(plan, group: plan.groups[index], filterTap: { $0 }, source: xn, depth: c, packed: packed,
                                     filters: k) { panel, channels, tile, valid in
                        for (j, channel) in channels.enumerated() {
                            let (out, offset) = (y + channel * outArea, bias?[channel] ?? 0)
                            for i in 0 ..< valid {
                                let v = tile[i * 16 + j] + offset
                                out[targets[panel * mr + i]] = relu && !(v > 0) ? 0 : v
                            }
                        }
                    }
                }
            }
        }
    }

    /// The input gradient in the indirect form: per phase (a, b) of the input, dX at
    /// (σ·i + a, σ·j + b) = Σ over the phase's taps inside dY of Wᵀ(tap) · dY at (i − d, j − d').
    /// Every element of dX is written once; the jobs go image by image across the phases, so
    /// that the four phases of an image meet in cache.
    func indirectBackwardData(_ g: Conv2dGeometry, _ dy: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                              chunkBudget: Int?) {
        let (c, k, area, outArea) = (g.inChannels, g.outChannels, g.height * g.width, g.outHeight * g.outWidth)
        let (mr, s) = (GatheredConvKernels.indirectRows, g.strideH)
        gatheredChunked(g, dy, channels: k, area: outArea, packedCount: Self.indirectPackedCount(columns: c, depth: k),
                        pack: { packIndirect(g, w, transposed: true, into: $0) }, chunkBudget: chunkBudget) { g, dyn, packed, firstImage in
            let dx = dx + firstImage * c * area
            let phases = (0 ..< s).flatMap { a in
                (0 ..< s).compactMap { GatheredPlan.backwardData(g, phase: a, $0, panelWidth: mr, groupPanels: Self.indirectGroupPanels) }
            }
            let jobs = phases.indices.flatMap { p in phases[p].plan.groups.indices.map { (phase: p, group: $0) } }
            let images = jobs.map { phases[$0.phase].plan.groupImages[$0.group] }
            gatheredJobs(order: jobs.indices.sorted { (images[$0], $0) < (images[$1], $1) }, multiplyAdds: g.batch * outArea * k * c * 9) { _, index in
                let (plan, tapRows, tapColumns) = phases[jobs[index].phase]
                plan.targets.withUnsafeBufferPointer { targets in
                    multiplyIndirect(plan, group: plan.groups[jobs[index].group],
                                     filterTap: { tapRows[$0 / plan.columnTaps] * 3 + tapColumns[$0 % plan.columnTaps] },
                                     source: dyn, depth: k, packed: packed, filters: c) { panel, channels, tile, valid in
                        for (j, channel) in channels.enumerated() {
                            let out = dx + channel * area
                            for i in 0 ..< valid { out[targets[panel * mr + i]] = tile[i * 16 + j] }
                        }
                    }
                }
            }
        }
    }
}
