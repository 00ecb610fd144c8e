import ScalpelCPUKernels
import ScalpelCPUKernelsAVX512
import ScalpelCore
import Synchronization

/// The fast Swift GEMM: Goto/BLIS cache blocking around a packed SIMD micro-kernel — 6×16 on
/// AVX2 + FMA (ScalpelCPUKernels), 6×32 on AVX-512 (ScalpelCPUKernelsAVX512), by the CPU level —
/// spread over a blocking worker pool.
///
/// Loop nest per GEMM: columns in blocks of NC, then k in blocks of KC (the packed B block,
/// KC×NC), then rows in blocks of MC (each thread packs its own A block, MC×KC, sized for its
/// L2). Threads split a tall C's rows around one shared B block (meeting at a barrier before
/// each refill) and a wide C's columns (each packing its own B panels, no barrier). Small
/// problems run on one thread, and a batch of small GEMMs is spread over threads one GEMM each.
public final class FastGEMM: @unchecked Sendable {
    /// Rows of A per packed block (a multiple of MR; MC×KC floats ≈ 144 KiB, in L2).
    public static let mc = 144
    /// Depth of a packed block (KC×NR floats = 16 KiB, one B micro-panel in L1).
    public static let kc = 256
    /// Columns of B per packed block (KC×NC floats = 4 MiB, in L3).
    public static let nc = 4096

    private let pool: WorkerPool
    /// Whether the AVX-512 micro-kernel runs (else the AVX2 one).
    private let wide: Bool
    /// Columns per packed B micro-panel: the micro-kernel's NR.
    private let nr: Int

    /// A GEMM whose calls run on `pool`'s threads (its `size` caps the threads of a call), with
    /// the micro-kernel of `level`: AVX-512's 6×32 block at `avx512` on a CPU that runs it
    /// (`CPUInfo.hasAVX512Kernels`), else the 6×16 one (AVX2 + FMA on x86-64, NEON on arm64).
    public init(pool: WorkerPool, level: CPULevel = CPUInfo.level) {
        self.pool = pool
        wide = level == .avx512 && CPUInfo.hasAVX512Kernels
        nr = wide ? PackedGEMM512.nr : PackedGEMM.nr
    }

    /// Below this many multiply-adds per GEMM one thread is faster than waking another.
    static let parallelThreshold = 96 * 96 * 96

    /// C = alpha·op(A)·op(B) + beta·C for every batch entry as `p` lays them out, on at most
    /// `threads` threads (one for small products). Checks nothing: the caller validates `p` against
    /// the arrays. Safe to call from several threads at once: each call takes its own packing
    /// buffers, and a call that finds the pool busy runs on its own thread alone.
    public func run(_ p: GEMMParameters, a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, threads: Int) {
        if p.m == 0 || p.n == 0 || p.batch == 0 { return }
        let work = p.m * p.n * max(p.k, 1)
        // One thread for small products, and for a small C with a long k (a first layer's weight
        // gradient, 32×9×50176): each k block is then too little work to pay for waking a thread.
        let small = work < FastGEMM.parallelThreshold || p.m * p.n < 64 * 64
        let threads = small && p.batch == 1 ? 1 : max(1, min(threads, pool.size))
        let scratch = acquireScratch(threads: threads)
        defer { releaseScratch(scratch) }
        if p.batch >= threads && threads > 1 && work < FastGEMM.parallelThreshold * 8 {
            // Many small GEMMs: one thread each, each with its own buffers.
            let next = Atomic<Int>(0)
            pool.run(threads: threads) { t, _ in
                while true {
                    let index = next.add(1, ordering: .relaxed).oldValue
                    if index >= p.batch { break }
                    self.single(p, index: index, a: a, b: b, c: c, threads: 1, thread: 0, barrier: nil,
                                packedA: scratch.a[t].pointer, packedB: scratch.b[t].pointer, ownB: scratch.b[t].pointer)
                }
            }
            return
        }
        for index in 0 ..< p.batch {
            if threads == 1 {
                single(p, index: index, a: a, b: b, c: c, threads: 1, thread: 0, barrier: nil,
                       packedA: scratch.a[0].pointer, packedB: scratch.b[0].pointer, ownB: scratch.b[0].pointer)
            } else {
                // One shared B block; each thread packs its own A blocks.
                let barrier = Barrier(count: threads)
                pool.run(threads: threads) { t, count in
                    self.single(p, index: index, a: a, b: b, c: c, threads: count, thread: t, barrier: count > 1 ? barrier : nil,
                                packedA: scratch.a[t].pointer, packedB: scratch.b[0].pointer, ownB: scratch.b[t].pointer)
                }
            }
        }
    }

    /// Packing buffers for one call: an A block and a B block per thread (64-byte aligned).
    /// Kept for reuse, since fresh multi-MiB allocations would fault in their pages every call.
    final class ScratchSet: @unchecked Sendable {
        let a: [AlignedFloats]
        let b: [AlignedFloats]
        init(threads: Int, nr: Int) {
            a = (0 ..< threads).map { _ in AlignedFloats(count: PackedGEMM.packedASize(mc: FastGEMM.mc, kc: FastGEMM.kc)) }
            b = (0 ..< threads).map { _ in AlignedFloats(count: PackedGEMM.packedBSize(kc: FastGEMM.kc, nc: FastGEMM.nc, nr: nr)) }
        }
    }

    private let spareScratch = Mutex<[ScratchSet]>([])

    private func acquireScratch(threads: Int) -> ScratchSet {
        let spare = spareScratch.withLock { sets -> ScratchSet? in
            guard let index = sets.firstIndex(where: { $0.a.count >= threads }) else { return nil }
            return sets.remove(at: index)
        }
        return spare ?? ScratchSet(threads: max(threads, pool.size), nr: nr)
    }

    private func releaseScratch(_ set: ScratchSet) {
        spareScratch.withLock { sets in
            if sets.count < 4 { sets.append(set) }
        }
    }

    /// One batch entry, computed by `threads` cooperating threads of which this is `thread`.
    private func single(_ p: GEMMParameters, index: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>,
                        threads: Int, thread: Int, barrier: Barrier?,
                        packedA: UnsafeMutablePointer<Float>, packedB sharedB: UnsafeMutablePointer<Float>, ownB: UnsafeMutablePointer<Float>) {
        let aBase = a + p.offsetA + index * p.strideA
        let bBase = b + p.offsetB + index * p.strideB
        let cBase = c + p.offsetC + index * p.strideC
        let (m, n, k) = (p.m, p.n, p.k)
        if k == 0 {
            // C = beta·C: no products to add.
            if thread == 0 {
                for i in 0 ..< m {
                    for j in 0 ..< n { cBase[i * p.ldc + j] = p.beta == 0 ? 0 : p.beta * cBase[i * p.ldc + j] }
                }
            }
            return
        }
        let mr = PackedGEMM.mr, nr = self.nr
        // C at least as tall as wide splits its rows (whole MR blocks): the threads share one
        // packed B block and meet at a barrier around each refill. A wide C splits its columns
        // (whole NR panels): each thread packs and reads only its own B panels and all of A
        // (cheap when A is short), with no barrier — a GEMM with a long k, like a convolution's
        // weight gradient, would otherwise wait at two barriers per k block. Measured: 1024³
        // loses 20% split by columns (A packed twice), 64×288×12544 wins by columns.
        let rowBlocks = (m + mr - 1) / mr, panels = (n + nr - 1) / nr
        let splitRows = rowBlocks >= 2 * threads && (panels < 2 * threads || m >= n)
        let barrier = splitRows ? barrier : nil
        // Split by columns, threads run through the k blocks at their own pace, and a shorter
        // last block changes where each panel starts: each thread packs into its own buffer.
        let packedB = splitRows ? sharedB : ownB
        var rowRange = 0 ..< m
        if splitRows {
            let lo = rowBlocks * thread / threads * mr, hi = min(m, rowBlocks * (thread + 1) / threads * mr)
            rowRange = lo ..< hi
        }
        var jc = 0
        while jc < n {
            let ncCur = min(FastGEMM.nc, n - jc)
            let panelCount = (ncCur + nr - 1) / nr
            var pc = 0
            while pc < k {
                let kcCur = min(FastGEMM.kc, k - pc)
                // Pack this thread's share of the B micro-panels (all of them when alone).
                let myPanels = panelCount * thread / threads ..< panelCount * (thread + 1) / threads
                PackedGEMM.packB(bBase, ldb: p.ldb, trans: p.transB, n: n, k0: pc, kc: kcCur, j0: jc,
                                 panels: threads == 1 ? 0 ..< panelCount : myPanels, into: packedB, nr: nr)
                barrier?.wait()
                let computePanels = splitRows || threads == 1 ? 0 ..< panelCount : myPanels
                var ic = rowRange.lowerBound
                while ic < rowRange.upperBound {
                    let mcCur = min(FastGEMM.mc, rowRange.upperBound - ic)
                    PackedGEMM.packA(aBase, lda: p.lda, trans: p.transA, i0: ic, mc: mcCur, k0: pc, kc: kcCur, into: packedA)
                    if wide {
                        PackedGEMM512.macroKernel(mc: mcCur, n: n, kc: kcCur, packedA: packedA, packedB: packedB,
                                                  j0: jc, panels: computePanels, c: cBase + ic * p.ldc, ldc: p.ldc,
                                                  alpha: p.alpha, beta: p.beta, accumulate: pc > 0)
                    } else {
                        PackedGEMM.macroKernel(mc: mcCur, n: n, kc: kcCur, packedA: packedA, packedB: packedB,
                                               j0: jc, panels: computePanels, c: cBase + ic * p.ldc, ldc: p.ldc,
                                               alpha: p.alpha, beta: p.beta, accumulate: pc > 0)
                    }
                    ic += mcCur
                }
                // Nobody may repack B while another thread still reads it.
                barrier?.wait()
                pc += kcCur
            }
            jc += ncCur
        }
    }
}

/// An owned, 64-byte-aligned array of floats.
final class AlignedFloats: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    let count: Int

    init(count: Int) {
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * MemoryLayout<Float>.stride, alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
    }

    deinit { pointer.deallocate() }
}
