import Foundation
import RealModule
import ScalpelCPUKernels
import ScalpelCore
import Synchronization

extension AttentionGeometry {
    /// Throws a `shapeMismatch` naming `op` unless every size is non-negative, the scale finite
    /// and, under a layout, every operand's rows disjoint at non-negative offsets and strides
    /// (a gradient row written twice would be a race). Keeping the operands apart from each
    /// other (dq, dk, dv in one buffer) is the caller's part.
    public func validate(op: String) throws {
        guard batch >= 0, heads >= 0, queryLength >= 0, keyLength >= 0, headSize >= 0 else {
            throw ScalpelError.shapeMismatch(op: op, detail: "sizes must be non-negative (\(self))")
        }
        guard scale.isFinite else { throw ScalpelError.shapeMismatch(op: op, detail: "scale \(scale) is not finite") }
        guard let layout else { return }
        for (name, rows, count) in [("query", layout.query, queryLength), ("key", layout.key, keyLength), ("value", layout.value, keyLength),
                                    ("output", layout.output, queryLength)]
            where !rows.isValid(batch: batch, heads: heads, rows: count, width: headSize) {
            throw ScalpelError.shapeMismatch(op: op, detail: "\(name) rows \(rows) overlap or have a negative offset or stride (\(self))")
        }
    }

    /// Keys 0..<result survive batch entry b's padding mask (keys j < length survive; a NaN
    /// or non-positive length masks every key).
    public func keyLimit(length: Double?) -> Int {
        guard let length else { return keyLength }
        guard length > 0 else { return 0 }
        return length >= Double(keyLength) ? keyLength : Int(length.rounded(.up))
    }

    /// Keys query i sees: the prefix 0..<result (the padding limit, and j ≤ i when causal).
    @inline(__always)
    public func visibleKeys(query i: Int, limit: Int) -> Int {
        causal ? min(limit, i + 1) : limit
    }
}

/// Fused scaled-dot-product attention on the CPU. fp64 backends and the reference kernels run
/// `AttentionReference` (row by row, plainly); the fast fp32 kernels run `FastAttention`
/// (blocks of queries, packed products, SIMD softmax, threads over heads and blocks).
extension CPUBackend {
    /// Validates `geometry` and the buffers (throwing `shapeMismatch`, or `foreignBuffer` for a
    /// buffer of another backend or precision), then runs `AttentionReference.forward` in fp64 or
    /// with the reference kernels, and `FastAttention.forward` over the worker pool otherwise.
    public func attention(_ geometry: AttentionGeometry, q: any DeviceBuffer, k: any DeviceBuffer, v: any DeviceBuffer,
                          keyLengths: (any DeviceBuffer)?, output: any DeviceBuffer, logSumExp: any DeviceBuffer) throws {
        let span = ProfileSpan.begin("attention"); defer { span?.end() }
        let g = geometry
        try g.validate(op: "attention")
        let b = try typedBuffers("attention", [(q, g.queryExtent), (k, g.keyExtent), (v, g.valueExtent), (output, g.outputExtent),
                                               (logSumExp, g.rowCount)])
        let lengths = try keyLengths.map { try typedBuffers("attention", [($0, g.batch)])[0] }
        switch precision {
        case .float64:
            AttentionReference.forward(g, b[0].doublePointer, b[1].doublePointer, b[2].doublePointer, lengths.map { UnsafePointer($0.doublePointer) },
                                       b[3].doublePointer, b[4].doublePointer)
        case .float32 where kernels == .reference:
            AttentionReference.forward(g, b[0].pointer, b[1].pointer, b[2].pointer, lengths.map { UnsafePointer($0.pointer) }, b[3].pointer, b[4].pointer)
        case .float32:
            FastAttention(g, pool: CPUBackend.pool(size: threads), threads: threads, keyLengths: lengths.map { UnsafePointer($0.pointer) })
                .forward(q: b[0].pointer, k: b[1].pointer, v: b[2].pointer, output: b[3].pointer, lse: b[4].pointer)
        }
    }

    /// Validates as `attention` does (dOutput, dq, dk and dv included), then runs
    /// `AttentionReference.backward` in fp64 or with the reference kernels, and
    /// `FastAttention.backward` over the worker pool otherwise.
    public func attentionBackward(_ geometry: AttentionGeometry, q: any DeviceBuffer, k: any DeviceBuffer, v: any DeviceBuffer,
                                  keyLengths: (any DeviceBuffer)?, output: any DeviceBuffer, logSumExp: any DeviceBuffer,
                                  dOutput: any DeviceBuffer, dq: any DeviceBuffer, dk: any DeviceBuffer, dv: any DeviceBuffer) throws {
        let span = ProfileSpan.begin("attentionBackward"); defer { span?.end() }
        let g = geometry
        try g.validate(op: "attention backward")
        let b = try typedBuffers("attention backward", [(q, g.queryExtent), (k, g.keyExtent), (v, g.valueExtent), (output, g.outputExtent),
                                                        (logSumExp, g.rowCount), (dOutput, g.outputExtent), (dq, g.queryExtent),
                                                        (dk, g.keyExtent), (dv, g.valueExtent)])
        let lengths = try keyLengths.map { try typedBuffers("attention backward", [($0, g.batch)])[0] }
        switch precision {
        case .float64:
            AttentionReference.backward(g, b[0].doublePointer, b[1].doublePointer, b[2].doublePointer, lengths.map { UnsafePointer($0.doublePointer) },
                                        b[3].doublePointer, b[4].doublePointer, b[5].doublePointer, b[6].doublePointer, b[7].doublePointer,
                                        b[8].doublePointer)
        case .float32 where kernels == .reference:
            AttentionReference.backward(g, b[0].pointer, b[1].pointer, b[2].pointer, lengths.map { UnsafePointer($0.pointer) }, b[3].pointer,
                                        b[4].pointer, b[5].pointer, b[6].pointer, b[7].pointer, b[8].pointer)
        case .float32:
            FastAttention(g, pool: CPUBackend.pool(size: threads), threads: threads, keyLengths: lengths.map { UnsafePointer($0.pointer) })
                .backward(q: b[0].pointer, k: b[1].pointer, v: b[2].pointer, output: b[3].pointer, lse: b[4].pointer, dOutput: b[5].pointer,
                          dq: b[6].pointer, dk: b[7].pointer, dv: b[8].pointer)
        }
    }
}

/// The plain attention kernels, generic over Float and Double: per (batch, head) and query, the
/// scores of its visible keys (one row, scale·q·kᵀ), their softmax, and the weighted sum of the
/// values — matmul, softmax, matmul, one row at a time. The truth the other kernels are tested
/// against, and the fp64 path of gradient checks.
enum AttentionReference {
    typealias Scalar = Real & BinaryFloatingPoint

    static func forward<T: Scalar>(_ g: AttentionGeometry, _ q: UnsafePointer<T>, _ k: UnsafePointer<T>, _ v: UnsafePointer<T>,
                                   _ keyLengths: UnsafePointer<T>?, _ out: UnsafeMutablePointer<T>, _ lse: UnsafeMutablePointer<T>) {
        let (nq, d) = (g.queryLength, g.headSize)
        let layout = g.rows
        let scale = T(g.scale)
        var scores = [T](repeating: 0, count: g.keyLength)
        for bh in 0 ..< g.batch * g.heads {
            let limit = g.keyLimit(length: keyLengths.map { Double($0[bh / g.heads]) })
            let kb = k + layout.key.start(pair: bh, heads: g.heads), vb = v + layout.value.start(pair: bh, heads: g.heads)
            let (ks, vs) = (layout.key.rowStride, layout.value.rowStride)
            let qb = q + layout.query.start(pair: bh, heads: g.heads), ob = out + layout.output.start(pair: bh, heads: g.heads)
            for i in 0 ..< nq {
                let row = bh * nq + i
                let qi = qb + i * layout.query.rowStride, oi = ob + i * layout.output.rowStride
                let visible = g.visibleKeys(query: i, limit: limit)
                guard visible > 0 else {
                    oi.update(repeating: 0, count: d)
                    lse[row] = -.infinity
                    continue
                }
                var peak = -T.infinity
                for j in 0 ..< visible {
                    var dot: T = 0
                    for c in 0 ..< d { dot += qi[c] * kb[j * ks + c] }
                    scores[j] = scale * dot
                    peak = max(peak, scores[j])
                }
                var total: T = 0
                for j in 0 ..< visible {
                    scores[j] = .exp(scores[j] - peak)
                    total += scores[j]
                }
                for c in 0 ..< d {
                    var acc: T = 0
                    for j in 0 ..< visible { acc += scores[j] * vb[j * vs + c] }
                    oi[c] = acc / total
                }
                lse[row] = peak + .log(total)
            }
        }
    }

    /// dq, dk, dv from the probabilities recomputed from lse: with p_ij = exp(scale·q_i·k_j − lse_i),
    /// D_i = dO_i·O_i and ds_ij = p_ij·(dO_i·v_j − D_i): dv_j = Σ_i p_ij dO_i, dq_i = scale Σ_j ds_ij k_j,
    /// dk_j = scale Σ_i ds_ij q_i (summed over queries in order). Writes only the rows of dq, dk,
    /// dv (which may share a buffer).
    static func backward<T: Scalar>(_ g: AttentionGeometry, _ q: UnsafePointer<T>, _ k: UnsafePointer<T>, _ v: UnsafePointer<T>,
                                    _ keyLengths: UnsafePointer<T>?, _ out: UnsafePointer<T>, _ lse: UnsafePointer<T>, _ dOut: UnsafePointer<T>,
                                    _ dq: UnsafeMutablePointer<T>, _ dk: UnsafeMutablePointer<T>, _ dv: UnsafeMutablePointer<T>) {
        let (nq, nk, d) = (g.queryLength, g.keyLength, g.headSize)
        let layout = g.rows
        let scale = T(g.scale)
        let (qs, ks, vs, os) = (layout.query.rowStride, layout.key.rowStride, layout.value.rowStride, layout.output.rowStride)
        for bh in 0 ..< g.batch * g.heads {
            let limit = g.keyLimit(length: keyLengths.map { Double($0[bh / g.heads]) })
            let kb = k + layout.key.start(pair: bh, heads: g.heads), vb = v + layout.value.start(pair: bh, heads: g.heads)
            let dkb = dk + layout.key.start(pair: bh, heads: g.heads), dvb = dv + layout.value.start(pair: bh, heads: g.heads)
            let qb = q + layout.query.start(pair: bh, heads: g.heads), dqb = dq + layout.query.start(pair: bh, heads: g.heads)
            let ob = out + layout.output.start(pair: bh, heads: g.heads), gb = dOut + layout.output.start(pair: bh, heads: g.heads)
            for j in 0 ..< nk {
                (dkb + j * ks).update(repeating: 0, count: d)
                (dvb + j * vs).update(repeating: 0, count: d)
            }
            for i in 0 ..< nq {
                let row = bh * nq + i
                let qi = qb + i * qs, gi = gb + i * os, oi = ob + i * os, dqi = dqb + i * qs
                dqi.update(repeating: 0, count: d)
                let visible = g.visibleKeys(query: i, limit: limit)
                guard visible > 0 else { continue }
                var delta: T = 0
                for c in 0 ..< d { delta += gi[c] * oi[c] }
                for j in 0 ..< visible {
                    var dot: T = 0, dp: T = 0
                    for c in 0 ..< d {
                        dot += qi[c] * kb[j * ks + c]
                        dp += gi[c] * vb[j * vs + c]
                    }
                    let p = T.exp(scale * dot - lse[row])
                    let ds = p * (dp - delta)
                    for c in 0 ..< d {
                        dvb[j * vs + c] += p * gi[c]
                        dqi[c] += scale * ds * kb[j * ks + c]
                        dkb[j * ks + c] += scale * ds * qi[c]
                    }
                }
            }
        }
    }
}

/// op(B) (k×n) packed once into PackedGEMM's B layout, in blocks of `depth` rows of k (each
/// block ⌈n/NR⌉ panels of depth×NR), so that many products with different A reuse it.
struct PackedRight {
    let base: UnsafeMutablePointer<Float>
    let k: Int
    let n: Int
    let depth: Int

    static func floats(k: Int, n: Int) -> Int { (n + PackedGEMM.nr - 1) / PackedGEMM.nr * PackedGEMM.nr * k }

    /// A view of an operand already packed at `base`.
    init(existing base: UnsafeMutablePointer<Float>, k: Int, n: Int, depth: Int) {
        self.base = base
        self.k = k
        self.n = n
        self.depth = depth
    }

    /// Packs op(B): B stored k×n (ldb ≥ n), or n×k when `trans`.
    init(_ b: UnsafePointer<Float>, ldb: Int, trans: Bool, k: Int, n: Int, depth: Int, into base: UnsafeMutablePointer<Float>) {
        self.base = base
        self.k = k
        self.n = n
        self.depth = depth
        let panels = (n + PackedGEMM.nr - 1) / PackedGEMM.nr
        var k0 = 0
        while k0 < k {
            let kc = min(depth, k - k0)
            PackedGEMM.packB(b, ldb: ldb, trans: trans, n: n, k0: k0, kc: kc, j0: 0, panels: 0 ..< panels, into: base + k0 * panels * PackedGEMM.nr)
            k0 += kc
        }
    }

    /// C (m × columns) = alpha·op(A)·op(B)[0..<kUsed, 0..<columns] (+ C when `accumulate`), for op(A)
    /// m×kUsed (A stored m×· with lda, or ·×m when `transA`). kUsed must end a block (a multiple of
    /// `depth`, or k). `packedA` holds PackedGEMM.packedASize(mc: FastGEMM.mc, kc: depth) floats.
    func multiply(_ a: UnsafePointer<Float>, lda: Int, transA: Bool, m: Int, kUsed: Int, columns: Int,
                  c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, accumulate: Bool, packedA: UnsafeMutablePointer<Float>) {
        precondition(kUsed == k || kUsed % depth == 0, "a product must end on a packed block")
        let panels = (n + PackedGEMM.nr - 1) / PackedGEMM.nr
        let usedPanels = (columns + PackedGEMM.nr - 1) / PackedGEMM.nr
        if kUsed == 0 {
            if !accumulate { for i in 0 ..< m { (c + i * ldc).update(repeating: 0, count: columns) } }
            return
        }
        var k0 = 0
        while k0 < kUsed {
            let kc = min(depth, k - k0)
            var i0 = 0
            while i0 < m {
                let mc = min(FastGEMM.mc, m - i0)
                PackedGEMM.packA(a, lda: lda, trans: transA, i0: i0, mc: mc, k0: k0, kc: kc, into: packedA)
                PackedGEMM.macroKernel(mc: mc, n: columns, kc: kc, packedA: packedA, packedB: base + k0 * panels * PackedGEMM.nr,
                                       j0: 0, panels: 0 ..< usedPanels, c: c + i0 * ldc, ldc: ldc, alpha: alpha, beta: 0,
                                       accumulate: accumulate || k0 > 0)
                i0 += mc
            }
            k0 += kc
        }
    }
}

/// Per-thread working memory of the fast path, kept between calls (fresh multi-hundred-KiB
/// blocks would fault their pages in on every call). Grows to the largest call seen.
final class AttentionScratch: @unchecked Sendable {
    private(set) var storage: AlignedFloats
    init() { storage = AlignedFloats(count: 0) }

    /// At least `count` floats (contents undefined).
    func reserve(_ count: Int) -> UnsafeMutablePointer<Float> {
        if storage.count < count { storage = AlignedFloats(count: count) }
        return storage.pointer
    }

    private static let spare = Mutex<[AttentionScratch]>([])

    static func take(_ count: Int) -> [AttentionScratch] {
        spare.withLock { pool in (0 ..< count).map { _ in pool.popLast() ?? AttentionScratch() } }
    }

    static func give(_ sets: [AttentionScratch]) {
        spare.withLock { pool in
            for set in sets where pool.count < 8 { pool.append(set) }
        }
    }
}

/// The fast fp32 attention: per (batch, head) pair and block of queries, scores into an
/// O(block·Nk) scratch with PackedGEMM's micro-kernel (keys and values packed once per pair),
/// the SIMD softmax of AttentionKernels, then the products with the values. Work items (pairs,
/// blocks, or — in the backward pass — chunks of blocks) are spread over the worker pool; each
/// output element is computed by one work item in a fixed order, so results do not depend on
/// scheduling. Memory: O(threads·(block·Nk + Nk·d)), never batch·heads·Nq·Nk.
struct FastAttention {
    let g: AttentionGeometry
    let pool: WorkerPool
    let threads: Int
    let keyLengths: UnsafePointer<Float>?
    /// Where q, k, v, the output and their gradients lie (`g.rows`).
    let layout: AttentionLayout
    /// Queries per block.
    let block: Int
    /// Depth of the packed blocks along the keys (the granularity of causal and padding skips).
    static let keyDepth = 64
    /// Depth of the packed blocks along the head size and the query block.
    static let depth = 256

    init(_ geometry: AttentionGeometry, pool: WorkerPool, threads: Int, keyLengths: UnsafePointer<Float>?) {
        g = geometry
        self.pool = pool
        self.keyLengths = keyLengths
        layout = geometry.rows
        // Blocks of ≤ 128 queries (≤ 48 when causal, so that the masked triangle is mostly
        // skipped), with a score block of at most ~128 K floats; evened out over the queries.
        let cap = max(24, min(geometry.causal ? 48 : 128, 131_072 / max(geometry.keyLength, 1)))
        let blocks = max(1, (geometry.queryLength + cap - 1) / cap)
        block = max(1, (geometry.queryLength + blocks - 1) / blocks)
        // Small problems: waking a thread costs more than it saves.
        let work = geometry.batch * geometry.heads * geometry.queryLength * max(geometry.keyLength, 1) * max(geometry.headSize, 1)
        self.threads = work < 64 * 64 * 64 ? 1 : max(1, min(threads, pool.size))
    }

    var pairs: Int { g.batch * g.heads }
    var blocksPerPair: Int { (g.queryLength + block - 1) / block }

    func limit(pair: Int) -> Int {
        g.keyLimit(length: keyLengths.map { Double($0[pair / g.heads]) })
    }

    /// Visible keys of the block's rows into `visible`; returns the most of them.
    func visibility(pair: Int, i0: Int, rows: Int, into visible: UnsafeMutablePointer<Int>) -> Int {
        let limit = limit(pair: pair)
        var most = 0
        for r in 0 ..< rows {
            visible[r] = g.visibleKeys(query: i0 + r, limit: limit)
            most = max(most, visible[r])
        }
        return most
    }

    /// Columns computed for a block whose rows see at most `most` keys: whole packed key blocks.
    func width(most: Int) -> Int {
        min(g.keyLength, (most + FastAttention.keyDepth - 1) / FastAttention.keyDepth * FastAttention.keyDepth)
    }

    /// Sets `rows` rows of `width` floats, `stride` apart, to 0 (one run when they are adjacent).
    static func zero(_ p: UnsafeMutablePointer<Float>, rows: Int, width: Int, stride: Int) {
        if stride == width { return p.update(repeating: 0, count: rows * width) }
        for r in 0 ..< rows { (p + r * stride).update(repeating: 0, count: width) }
    }

    /// Runs `body(item, scratch, participant)` for items 0..<count on the pool, each item once;
    /// a participant keeps its scratch memory across its items.
    func parallel(_ count: Int, scratchFloats: Int, _ body: (Int, UnsafeMutablePointer<Float>, Int) -> Void) {
        let participants = max(1, min(threads, count))
        let scratch = AttentionScratch.take(participants)
        defer { AttentionScratch.give(scratch) }
        let next = Atomic<Int>(0)
        pool.run(threads: participants) { t, _ in
            let memory = scratch[t].reserve(scratchFloats)
            while true {
                let item = next.add(1, ordering: .relaxed).oldValue
                if item >= count { break }
                body(item, memory, t)
            }
        }
    }

    // MARK: Forward

    func forward(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                 output: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>) {
        let (nq, nk, d) = (g.queryLength, g.keyLength, g.headSize)
        if pairs == 0 || nq == 0 { return }
        // Scratch: packed kᵀ and v (one pair at a time), the score block, packed A, visibility.
        let kFloats = PackedRight.floats(k: d, n: nk), vFloats = PackedRight.floats(k: nk, n: d)
        let aFloats = PackedGEMM.packedASize(mc: FastGEMM.mc, kc: FastAttention.depth)
        let sFloats = block * max(nk, 1)
        // (`visible` holds Ints: two floats' room each.)
        let sizes = [kFloats, vFloats, aFloats, sFloats, 2 * block].map { ($0 + 15) / 16 * 16 }
        let offsets = sizes.reduce(into: [0]) { $0.append($0.last! + $1) }
        // Each thread packs a pair's keys and values when it meets the pair first; items are
        // pair-major, so a thread mostly continues with the pair it holds.
        let packedPair = UnsafeMutablePointer<Int>.allocate(capacity: threads)
        packedPair.initialize(repeating: -1, count: threads)
        defer { packedPair.deallocate() }
        parallel(pairs * blocksPerPair, scratchFloats: offsets.last!) { item, memory, participant in
            let pair = item / blocksPerPair, i0 = (item % blocksPerPair) * block
            let rows = min(block, nq - i0)
            let kPacked = memory + offsets[0], vPacked = memory + offsets[1], packedA = memory + offsets[2]
            let scores = memory + offsets[3]
            let visible = UnsafeMutableRawPointer(memory + offsets[4]).bindMemory(to: Int.self, capacity: block)
            let rowBase = pair * nq + i0
            let (qs, os) = (layout.query.rowStride, layout.output.rowStride)
            let outBlock = output + layout.output.start(pair: pair, heads: g.heads) + i0 * os
            let most = visibility(pair: pair, i0: i0, rows: rows, into: visible)
            if most == 0 {
                FastAttention.zero(outBlock, rows: rows, width: d, stride: os)
                (lse + rowBase).update(repeating: -.infinity, count: rows)
                return
            }
            let kt = PackedRight(existing: kPacked, k: d, n: nk, depth: FastAttention.depth)
            let vv = PackedRight(existing: vPacked, k: nk, n: d, depth: FastAttention.keyDepth)
            if packedPair[participant] != pair {
                _ = PackedRight(k + layout.key.start(pair: pair, heads: g.heads), ldb: layout.key.rowStride, trans: true, k: d, n: nk,
                                depth: FastAttention.depth, into: kPacked)
                _ = PackedRight(v + layout.value.start(pair: pair, heads: g.heads), ldb: layout.value.rowStride, trans: false, k: nk, n: d,
                                depth: FastAttention.keyDepth, into: vPacked)
                packedPair[participant] = pair
            }
            let width = width(most: most)
            // scores = scale · q_block · kᵀ (rows × width), then softmax rows, then p · v.
            kt.multiply(q + layout.query.start(pair: pair, heads: g.heads) + i0 * qs, lda: qs, transA: false, m: rows, kUsed: d,
                        columns: width, c: scores, ldc: width, alpha: g.scale, accumulate: false, packedA: packedA)
            AttentionKernels.softmaxRows(scores, ld: width, rows: rows, width: width, visible: visible, lse: lse + rowBase)
            vv.multiply(scores, lda: width, transA: false, m: rows, kUsed: width, columns: d, c: outBlock, ldc: os,
                        alpha: 1, accumulate: false, packedA: packedA)
        }
    }

    // MARK: Backward

    func backward(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, output: UnsafePointer<Float>,
                  lse: UnsafePointer<Float>, dOutput: UnsafePointer<Float>,
                  dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>) {
        let (nq, nk, d) = (g.queryLength, g.keyLength, g.headSize)
        if pairs == 0 { return }
        // With fewer pairs than threads, each pair's query blocks are split into chunks whose
        // dk, dv partial sums are added afterwards in chunk order.
        let chunks = pairs >= threads ? 1 : max(1, min(blocksPerPair, (threads + pairs - 1) / pairs))
        let blocksPerChunk = (blocksPerPair + chunks - 1) / chunks
        let partials = chunks > 1 ? AlignedFloats(count: 2 * pairs * chunks * nk * d) : nil
        let ktFloats = PackedRight.floats(k: d, n: nk), kFloats = PackedRight.floats(k: nk, n: d)
        let blockFloats = PackedRight.floats(k: block, n: d)
        let aFloats = PackedGEMM.packedASize(mc: FastGEMM.mc, kc: FastAttention.depth)
        let sFloats = block * max(nk, 1)
        let sizes = [ktFloats, ktFloats, kFloats, blockFloats, blockFloats, aFloats, sFloats, sFloats, 2 * block, block].map { ($0 + 15) / 16 * 16 }
        let offsets = sizes.reduce(into: [0]) { $0.append($0.last! + $1) }
        parallel(pairs * chunks, scratchFloats: offsets.last!) { item, memory, _ in
            let pair = item / chunks, chunk = item % chunks
            let ktPacked = memory + offsets[0], vtPacked = memory + offsets[1], kPacked = memory + offsets[2]
            let qPacked = memory + offsets[3], gPacked = memory + offsets[4], packedA = memory + offsets[5]
            let scores = memory + offsets[6], dScores = memory + offsets[7]
            let visible = UnsafeMutableRawPointer(memory + offsets[8]).bindMemory(to: Int.self, capacity: block)
            let delta = memory + offsets[9]
            let (qs, ks, vs, os) = (layout.query.rowStride, layout.key.rowStride, layout.value.rowStride, layout.output.rowStride)
            let kBase = k + layout.key.start(pair: pair, heads: g.heads), vBase = v + layout.value.start(pair: pair, heads: g.heads)
            // Partial sums are contiguous (nk × d); the gradients themselves have k's and v's rows.
            let (dkTarget, dvTarget): (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>)
            let (dkStride, dvStride): (Int, Int)
            if let partials {
                dkTarget = partials.pointer + (pair * chunks + chunk) * 2 * nk * d
                dvTarget = dkTarget + nk * d
                (dkStride, dvStride) = (d, d)
            } else {
                (dkTarget, dvTarget) = (dk + layout.key.start(pair: pair, heads: g.heads), dv + layout.value.start(pair: pair, heads: g.heads))
                (dkStride, dvStride) = (ks, vs)
            }
            FastAttention.zero(dkTarget, rows: nk, width: d, stride: dkStride)
            FastAttention.zero(dvTarget, rows: nk, width: d, stride: dvStride)
            let firstBlock = chunk * blocksPerChunk, lastBlock = min(blocksPerPair, firstBlock + blocksPerChunk)
            guard firstBlock < lastBlock else { return }
            let kt = PackedRight(kBase, ldb: ks, trans: true, k: d, n: nk, depth: FastAttention.depth, into: ktPacked)
            let vt = PackedRight(vBase, ldb: vs, trans: true, k: d, n: nk, depth: FastAttention.depth, into: vtPacked)
            let kk = PackedRight(kBase, ldb: ks, trans: false, k: nk, n: d, depth: FastAttention.keyDepth, into: kPacked)
            for blockIndex in firstBlock ..< lastBlock {
                let i0 = blockIndex * block, rows = min(block, nq - i0)
                let rowBase = pair * nq + i0
                let dqBlock = dq + layout.query.start(pair: pair, heads: g.heads) + i0 * qs
                let most = visibility(pair: pair, i0: i0, rows: rows, into: visible)
                if most == 0 {
                    FastAttention.zero(dqBlock, rows: rows, width: d, stride: qs)
                    continue
                }
                let width = width(most: most)
                let qBlock = q + layout.query.start(pair: pair, heads: g.heads) + i0 * qs
                let outputStart = layout.output.start(pair: pair, heads: g.heads) + i0 * os
                let gBlock = dOutput + outputStart
                AttentionKernels.rowDots(gBlock, output + outputStart, rows: rows, n: d, lda: os, ldb: os, into: delta)
                // scores = scale·q·kᵀ, dScores = dO·vᵀ (rows × width); then p and ds in place.
                kt.multiply(qBlock, lda: qs, transA: false, m: rows, kUsed: d, columns: width, c: scores, ldc: width,
                            alpha: g.scale, accumulate: false, packedA: packedA)
                vt.multiply(gBlock, lda: os, transA: false, m: rows, kUsed: d, columns: width, c: dScores, ldc: width,
                            alpha: 1, accumulate: false, packedA: packedA)
                AttentionKernels.softmaxGradientRows(scores: scores, dp: dScores, ld: width, rows: rows, width: width, visible: visible,
                                                     lse: lse + rowBase, delta: delta)
                // dv[0..<width] += pᵀ·dO and dk[0..<width] += scale·dsᵀ·q (k = the block's rows).
                let gRight = PackedRight(gBlock, ldb: os, trans: false, k: rows, n: d, depth: FastAttention.depth, into: gPacked)
                gRight.multiply(scores, lda: width, transA: true, m: width, kUsed: rows, columns: d, c: dvTarget, ldc: dvStride,
                                alpha: 1, accumulate: true, packedA: packedA)
                let qRight = PackedRight(qBlock, ldb: qs, trans: false, k: rows, n: d, depth: FastAttention.depth, into: qPacked)
                qRight.multiply(dScores, lda: width, transA: true, m: width, kUsed: rows, columns: d, c: dkTarget, ldc: dkStride,
                                alpha: g.scale, accumulate: true, packedA: packedA)
                // dq = scale·ds·k (rows × d, k = width keys).
                kk.multiply(dScores, lda: width, transA: false, m: rows, kUsed: width, columns: d, c: dqBlock, ldc: qs,
                            alpha: g.scale, accumulate: false, packedA: packedA)
            }
        }
        if let partials {
            // dk, dv = Σ over chunks in order (a whole pair at once when its rows are adjacent).
            let n = nk * d
            let (ks, vs) = (layout.key.rowStride, layout.value.rowStride)
            for pair in 0 ..< pairs {
                let dkOut = dk + layout.key.start(pair: pair, heads: g.heads), dvOut = dv + layout.value.start(pair: pair, heads: g.heads)
                for chunk in 0 ..< chunks {
                    let source = partials.pointer + (pair * chunks + chunk) * 2 * n
                    let beta: Float = chunk == 0 ? 0 : 1
                    for (target, from, stride) in [(dkOut, source, ks), (dvOut, source + n, vs)] {
                        if stride == d {
                            ElementwiseKernels.axpby(1, from, beta, target, n)
                        } else {
                            for j in 0 ..< nk { ElementwiseKernels.axpby(1, from + j * d, beta, target + j * stride, d) }
                        }
                    }
                }
            }
        }
    }
}
