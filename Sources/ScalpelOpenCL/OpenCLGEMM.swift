import COpenCL
import Foundation
import ScalpelCPU
import ScalpelCore

/// GEMM on an OpenCL device (gemm.cl): the kernel family the tuning table picks for the device,
/// or the CPU-Swift backend when the program does not build.
extension OpenCLBackend {
    /// The GEMM with no epilogue in the tuning table's family (the direct kernels where the plan
    /// prefers them), through `gemm(_:a:b:c:variant:splits:epilogue:)`; sizes and leading
    /// dimensions must be below 2³¹ (else `shapeMismatch`).
    public func gemm(_ p: GEMMParameters, a: any DeviceBuffer, b: any DeviceBuffer, c: any DeviceBuffer) throws {
        try gemm(p, a: a, b: b, c: c, variant: nil)
    }

    /// The GEMM with its epilogue in the kernels' store (gemm_splitk_reduce's when K is split).
    public func gemm(_ p: GEMMParameters, a: any DeviceBuffer, b: any DeviceBuffer, c: any DeviceBuffer, epilogue: GEMMEpilogue) throws {
        try gemm(p, a: a, b: b, c: c, variant: nil, epilogue: epilogue)
    }

    /// GEMM with an explicit kernel family (nil: the tuning table's choice) and, for the
    /// self-test, an explicit number of K slices (nil: the plan's choice), then `epilogue`.
    public func gemm(_ p: GEMMParameters, a: any DeviceBuffer, b: any DeviceBuffer, c: any DeviceBuffer, variant: GEMMTuning.Variant?,
                     splits: Int? = nil, epilogue: GEMMEpilogue = .none) throws {
        let (ba, bb, bc) = (try storage(a, op: "gemm"), try storage(b, op: "gemm"), try storage(c, op: "gemm"))
        try p.validate(countA: ba.count, countB: bb.count, countC: bc.count)
        let biasBuffer = try epilogue.bias.map { try storage($0, op: "gemm bias") }
        try epilogue.validate(p, biasCount: biasBuffer?.count ?? 0)
        // The epilogue's kernel arguments: C stands in for an absent bias (never read).
        let epilogueArguments: [KernelArgument] = [.buffer((biasBuffer ?? bc).mem), .long(Int64(epilogue.biasOffset)),
                                                   .int((biasBuffer == nil ? 0 : 1) | (epilogue.relu ? 2 : 0))]
        let noEpilogue: [KernelArgument] = [.buffer(bc.mem), .long(0), .int(0)]
        let limit = Int(Int32.max)
        guard p.m < limit, p.n < limit, p.k < limit, p.batch < limit, p.lda < limit, p.ldb < limit, p.ldc < limit else {
            throw ScalpelError.shapeMismatch(op: "gemm \(p)", detail: "sizes and leading dimensions must be below 2³¹ on OpenCL")
        }
        if p.m == 0 || p.n == 0 || p.batch == 0 { return }
        var family = variant ?? tuning.variant
        try lock.withLock {
            let program: CLProgram
            do {
                program = try self.program("gemm.cl", options: tuning.buildOptions)
            } catch {
                Diagnostics.shared.warnOnce(key: "gemm-unavailable-\(id)", "gemm runs on the CPU-Swift backend instead of \(id): \(error)")
                Diagnostics.shared.countFallback(op: "gemm")
                try gemmOnCPU(p, a: ba, b: bb, c: bc, epilogue: epilogue, bias: biasBuffer)
                return
            }
            var plan = tuning.plan(p, variant: family, computeUnits: info.computeUnits, forcedSplits: splits)
            if plan.splits * p.batch >= limit { plan = GEMMTuning.Plan(smallTile: plan.smallTile, k: p.k) }
            // The tuning table's family reads a small product in place (an explicit family is
            // what the caller asked for: the self-test and the benchmark time each one).
            if variant == nil && plan.direct { family = .direct }
            // The product lands in C directly, or — split — in dense partial slices that the
            // second pass adds into C with alpha and beta.
            var target = p
            var output = bc
            // Split and packed with B transposed and wider than A (a weight gradient dY·colsᵀ):
            // packing B transposed would transpose the large operand, while packing A reads it in
            // contiguous runs. Computing the partials of Cᵀ = op(B)ᵀ·op(A)ᵀ sends the large
            // operand through A's packing and the small one through B's transposed one; the second
            // pass reads the partials transposed.
            let swap = GEMMTuning.swapsOperands(p, variant: family, splits: plan.splits)
            var (first, second) = (ba, bb)
            if plan.splits > 1 {
                output = try scratchBuffer("gemm split-K partials", count: p.batch * plan.splits * p.m * p.n)
                (target.alpha, target.beta, target.offsetC, target.ldc, target.strideC) = (1, 0, 0, p.n, p.m * p.n)
                if swap {
                    (target.m, target.n, target.transA, target.transB) = (p.n, p.m, !p.transB, !p.transA)
                    (target.lda, target.ldb, target.offsetA, target.offsetB, target.strideA, target.strideB) =
                        (p.ldb, p.lda, p.offsetB, p.offsetA, p.strideB, p.strideA)
                    target.ldc = p.m
                    (first, second) = (bb, ba)
                }
            }
            // Split, the epilogue waits for the second pass: it applies to the whole sum.
            let storeEpilogue = plan.splits > 1 ? noEpilogue : epilogueArguments
            switch family {
            case .packed: try gemmPacked(target, plan: plan, program: program, a: first, b: second, c: output, epilogue: storeEpilogue)
            case .tiled: try gemmTiled(target, plan: plan, program: program, a: first, b: second, c: output, epilogue: storeEpilogue)
            case .direct: try gemmDirect(target, plan: plan, program: program, a: first, b: second, c: output, epilogue: storeEpilogue)
            }
            if plan.splits > 1 {
                let reduce = try program.kernel("gemm_splitk_reduce")
                try setArguments(reduce, [.int(Int32(p.m)), .int(Int32(p.n)), .int(Int32(plan.splits)), .int(swap ? 1 : 0), .float(p.alpha),
                                          .float(p.beta), .buffer(output.mem), .buffer(bc.mem), .long(Int64(p.offsetC)), .int(Int32(p.ldc)),
                                          .long(Int64(p.strideC))] + epilogueArguments)
                let (fast, slow) = swap ? (p.m, p.n) : (p.n, p.m)
                let across = min(fast, info.kind == .cpu ? 16 : 64)
                try enqueue(reduce, name: "gemm_splitk_reduce", global: [(fast + across - 1) / across * across, slow, p.batch], local: [across, 1, 1])
            }
        }
    }

    /// The packed family over `plan`'s K slices: C (or the partial slices) has batch·splits
    /// entries. Callers hold the lock.
    private func gemmPacked(_ p: GEMMParameters, plan: GEMMTuning.Plan, program: CLProgram, a: CLBuffer, b: CLBuffer, c: CLBuffer,
                            epilogue: [KernelArgument]) throws {
        let rm = tuning.packRM, vw = tuning.packVW
        let rowPanels = (p.m + rm - 1) / rm, colPanels = (p.n + vw - 1) / vw
        let (splits, depth) = (plan.splits, plan.sliceDepth)
        let entries = p.batch * splits
        let packedA = try scratchBuffer("gemm packed A", count: entries * rowPanels * depth * rm)
        let packedB = try scratchBuffer("gemm packed B", count: entries * colPanels * depth * vw)
        if p.k > 0 {
            // Both operands in one launch: row panels of A, then column panels of B, along
            // dimension 1; dimension 0 as deep as the deeper of the two walks.
            let depthItemsB = p.transB ? (depth + vw - 1) / vw : depth
            let items = max(depth, depthItemsB)
            let pack = try program.kernel("gemm_pack")
            try setArguments(pack, [.int(Int32(p.m)), .int(Int32(p.n)), .int(Int32(p.k)), .int(Int32(depth)), .int(Int32(splits)),
                                    .int(p.transA ? 1 : 0), .int(p.transB ? 1 : 0),
                                    .buffer(a.mem), .long(Int64(p.offsetA)), .int(Int32(p.lda)), .long(Int64(p.strideA)),
                                    .buffer(b.mem), .long(Int64(p.offsetB)), .int(Int32(p.ldb)), .long(Int64(p.strideB)),
                                    .buffer(packedA.mem), .buffer(packedB.mem)])
            try enqueue(pack, name: "gemm_pack", global: [items, rowPanels + colPanels, entries], local: [min(items, 16), 1, 1])
        }
        let kernel = try program.kernel("gemm_packed")
        try setArguments(kernel, [.int(Int32(p.m)), .int(Int32(p.n)), .int(Int32(depth)), .float(p.alpha), .float(p.beta),
                                  .buffer(packedA.mem), .buffer(packedB.mem),
                                  .buffer(c.mem), .long(Int64(p.offsetC)), .int(Int32(p.ldc)), .long(Int64(p.strideC))] + epilogue)
        // An explicit work-group: PoCL's own choice collapses for awkward global sizes (49×43
        // work-items ran at half speed).
        try enqueue(kernel, name: "gemm_packed", global: [rowPanels, colPanels, entries], local: [tuning.packedGroup, 1, 1])
    }

    /// The direct kernels over `plan`'s K slices: gemm_direct_nt when B is stored N×K (each
    /// work-group stages a panel of op(B) in __local memory for its row blocks), gemm_direct
    /// otherwise. Callers hold the lock.
    private func gemmDirect(_ p: GEMMParameters, plan: GEMMTuning.Plan, program: CLProgram, a: CLBuffer, b: CLBuffer, c: CLBuffer,
                            epilogue: [KernelArgument]) throws {
        let entries = p.batch * plan.splits
        let sizes: [KernelArgument] = [.int(Int32(p.m)), .int(Int32(p.n)), .int(Int32(p.k)), .int(Int32(plan.sliceDepth)), .int(Int32(plan.splits)),
                                   .float(p.alpha), .float(p.beta)]
        let operandA: [KernelArgument] = [.buffer(a.mem), .long(Int64(p.offsetA)), .int(Int32(p.lda)), .long(Int64(p.strideA))]
        let operandB: [KernelArgument] = [.buffer(b.mem), .long(Int64(p.offsetB)), .int(Int32(p.ldb)), .long(Int64(p.strideB))]
        let operandC: [KernelArgument] = [.buffer(c.mem), .long(Int64(p.offsetC)), .int(Int32(p.ldc)), .long(Int64(p.strideC))] + epilogue
        let (rm, vw, group) = (tuning.packRM, tuning.packVW, GEMMTuning.directGroup)
        let rowBlocks = (p.m + rm - 1) / rm, columnBlocks = (p.n + vw - 1) / vw
        if GEMMTuning.directStagesB(p) {
            let kernel = try program.kernel("gemm_direct_nt")
            try setArguments(kernel, sizes + [.int(p.transA ? 1 : 0)] + operandA + operandB + operandC)
            try enqueue(kernel, name: "gemm_direct_nt", global: [columnBlocks, (rowBlocks + group - 1) / group * group, entries], local: [1, group, 1])
        } else {
            let kernel = try program.kernel("gemm_direct")
            try setArguments(kernel, sizes + [.int(p.transA ? 1 : 0)] + operandA + [.int(p.transB ? 1 : 0)] + operandB + operandC)
            try enqueue(kernel, name: "gemm_direct", global: [columnBlocks, rowBlocks, entries], local: [tuning.packGroup, 1, 1])
        }
    }

    /// The tiled family over `plan`'s K slices with the plan's tile — the large one only when
    /// its compiled kernel fits the device (`CL_KERNEL_WORK_GROUP_SIZE` at least the tile's
    /// work-group, `CL_KERNEL_PRIVATE_MEM_SIZE` no more than twice its accumulators, beyond
    /// which registers spill). Callers hold the lock.
    private func gemmTiled(_ p: GEMMParameters, plan: GEMMTuning.Plan, program: CLProgram, a: CLBuffer, b: CLBuffer, c: CLBuffer,
                           epilogue: [KernelArgument]) throws {
        var (tileM, tileN, tileProgram) = (tuning.tileM, tuning.tileN, program)
        let (wn, wm) = tuning.tileWorkGroup
        var kernel = try program.kernel("gemm_tiled")
        if let small = tuning.smallTile, let options = tuning.smallTileBuildOptions,
           plan.smallTile || !launcher.fits(kernel, workGroup: wn * wm, privateBytes: 2 * 4 * tuning.wptM * tuning.wptN) {
            tileProgram = try self.program("gemm.cl", options: options)
            kernel = try tileProgram.kernel("gemm_tiled")
            (tileM, tileN) = small
        }
        try setArguments(kernel, [.int(Int32(p.m)), .int(Int32(p.n)), .int(Int32(p.k)), .int(Int32(plan.sliceDepth)), .int(Int32(plan.splits)),
                                  .float(p.alpha), .float(p.beta),
                                  .int(p.transA ? 1 : 0), .buffer(a.mem), .long(Int64(p.offsetA)), .int(Int32(p.lda)), .long(Int64(p.strideA)),
                                  .int(p.transB ? 1 : 0), .buffer(b.mem), .long(Int64(p.offsetB)), .int(Int32(p.ldb)), .long(Int64(p.strideB)),
                                  .buffer(c.mem), .long(Int64(p.offsetC)), .int(Int32(p.ldc)), .long(Int64(p.strideC))] + epilogue)
        let groupsN = (p.n + tileN - 1) / tileN, groupsM = (p.m + tileM - 1) / tileM
        try enqueue(kernel, name: "gemm_tiled", global: [groupsN * wn, groupsM * wm, p.batch * plan.splits], local: [wn, wm, 1])
    }

    /// The CPU fallback for a device whose gemm program does not build: copy the operands to
    /// the host, run the CPU backend, copy C back. Callers hold the lock.
    private func gemmOnCPU(_ p: GEMMParameters, a: CLBuffer, b: CLBuffer, c: CLBuffer, epilogue: GEMMEpilogue, bias: CLBuffer?) throws {
        func download(_ buffer: CLBuffer, count: Int) throws -> any DeviceBuffer {
            let host = try cpu.makeBuffer(count: max(count, 1))
            try transfer(buffer, host: (host as! CPUBuffer).pointer, count: count, toHost: true, what: "copying a gemm operand to the host")
            return host
        }
        let (countA, countB, countC) = (p.requiredCountA, p.requiredCountB, p.requiredCountC)
        let hostA = try download(a, count: countA), hostB = try download(b, count: countB), hostC = try download(c, count: countC)
        var hostEpilogue = epilogue
        if let bias { hostEpilogue.bias = try download(bias, count: epilogue.biasOffset + p.n) }
        try cpu.gemm(p, a: hostA, b: hostB, c: hostC, epilogue: hostEpilogue)
        try transfer(c, host: (hostC as! CPUBuffer).pointer, count: countC, toHost: false, what: "copying the gemm result back")
    }
}

