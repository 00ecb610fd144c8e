import COpenCL
import Foundation
import ScalpelCPU
import ScalpelCore

/// GEMM on an OpenCL device (gemm.cl): the kernel family the tuning table picks for the device,
/// or the CPU-Swift backend when the program does not build.
extension OpenCLBackend {
    public func gemm(_ p: GEMMParameters, a: any DeviceBuffer, b: any DeviceBuffer, c: any DeviceBuffer) throws {
        try gemm(p, a: a, b: b, c: c, variant: nil)
    }

    /// GEMM with an explicit kernel family (nil: the tuning table's choice).
    public func gemm(_ p: GEMMParameters, a: any DeviceBuffer, b: any DeviceBuffer, c: any DeviceBuffer, variant: GEMMTuning.Variant?) throws {
        let (ba, bb, bc) = (try storage(a, op: "gemm"), try storage(b, op: "gemm"), try storage(c, op: "gemm"))
        try p.validate(countA: ba.count, countB: bb.count, countC: bc.count)
        let limit = Int(Int32.max)
        guard p.m < limit, p.n < limit, p.k < limit, p.batch < limit, p.lda < limit, p.ldb < limit, p.ldc < limit else {
            throw ScalpelError.shapeMismatch(op: "gemm \(p)", detail: "sizes and leading dimensions must be below 2³¹ on OpenCL")
        }
        if p.m == 0 || p.n == 0 || p.batch == 0 { return }
        try lock.withLock {
            let program: CLProgram
            do {
                program = try self.program("gemm.cl", options: tuning.buildOptions)
            } catch {
                Diagnostics.shared.warnOnce(key: "gemm-unavailable-\(id)", "gemm runs on the CPU-Swift backend instead of \(id): \(error)")
                Diagnostics.shared.countFallback(op: "gemm")
                try gemmOnCPU(p, a: ba, b: bb, c: bc)
                return
            }
            switch variant ?? tuning.variant {
            case .packed: try gemmPacked(p, program: program, a: ba, b: bb, c: bc)
            case .tiled: try gemmTiled(p, program: program, a: ba, b: bb, c: bc)
            }
        }
    }

    private func gemmPacked(_ p: GEMMParameters, program: CLProgram, a: CLBuffer, b: CLBuffer, c: CLBuffer) throws {
        let rm = tuning.packRM, vw = tuning.packVW
        let rowPanels = (p.m + rm - 1) / rm, colPanels = (p.n + vw - 1) / vw
        let packedA = try scratchBuffer("gemm packed A", count: p.batch * rowPanels * p.k * rm)
        let packedB = try scratchBuffer("gemm packed B", count: p.batch * colPanels * p.k * vw)
        if p.k > 0 {
            let packA = try program.kernel("gemm_pack_a")
            try setArguments(packA, [.int(Int32(p.m)), .int(Int32(p.k)), .int(p.transA ? 1 : 0),
                                     .buffer(a.mem), .long(Int64(p.offsetA)), .int(Int32(p.lda)), .long(Int64(p.strideA)),
                                     .buffer(packedA.mem)])
            try enqueue(packA, name: "gemm_pack_a", global: [p.k, rowPanels, p.batch], local: [min(p.k, 16), 1, 1])
            let packName = p.transB ? "gemm_pack_bt" : "gemm_pack_b"
            let packB = try program.kernel(packName)
            try setArguments(packB, [.int(Int32(p.n)), .int(Int32(p.k)),
                                     .buffer(b.mem), .long(Int64(p.offsetB)), .int(Int32(p.ldb)), .long(Int64(p.strideB)),
                                     .buffer(packedB.mem)])
            let depthItems = p.transB ? (p.k + vw - 1) / vw : p.k
            try enqueue(packB, name: packName, global: [depthItems, colPanels, p.batch], local: [min(depthItems, 16), 1, 1])
        }
        let kernel = try program.kernel("gemm_packed")
        try setArguments(kernel, [.int(Int32(p.m)), .int(Int32(p.n)), .int(Int32(p.k)), .float(p.alpha), .float(p.beta),
                                  .buffer(packedA.mem), .buffer(packedB.mem),
                                  .buffer(c.mem), .long(Int64(p.offsetC)), .int(Int32(p.ldc)), .long(Int64(p.strideC))])
        // An explicit work-group: PoCL's own choice collapses for awkward global sizes (49×43
        // work-items ran at half speed).
        try enqueue(kernel, name: "gemm_packed", global: [colPanels, rowPanels, p.batch], local: [tuning.packGroup, 1, 1])
    }

    private func gemmTiled(_ p: GEMMParameters, program: CLProgram, a: CLBuffer, b: CLBuffer, c: CLBuffer) throws {
        let kernel = try program.kernel("gemm_tiled")
        let (wn, wm) = tuning.tileWorkGroup
        try setArguments(kernel, [.int(Int32(p.m)), .int(Int32(p.n)), .int(Int32(p.k)), .float(p.alpha), .float(p.beta),
                                  .int(p.transA ? 1 : 0), .buffer(a.mem), .long(Int64(p.offsetA)), .int(Int32(p.lda)), .long(Int64(p.strideA)),
                                  .int(p.transB ? 1 : 0), .buffer(b.mem), .long(Int64(p.offsetB)), .int(Int32(p.ldb)), .long(Int64(p.strideB)),
                                  .buffer(c.mem), .long(Int64(p.offsetC)), .int(Int32(p.ldc)), .long(Int64(p.strideC))])
        let groupsN = (p.n + tuning.tileN - 1) / tuning.tileN, groupsM = (p.m + tuning.tileM - 1) / tuning.tileM
        try enqueue(kernel, name: "gemm_tiled", global: [groupsN * wn, groupsM * wm, p.batch], local: [wn, wm, 1])
    }

    /// The CPU fallback for a device whose gemm program does not build: copy the operands to
    /// the host, run the CPU backend, copy C back. Callers hold the lock.
    private func gemmOnCPU(_ p: GEMMParameters, a: CLBuffer, b: CLBuffer, c: CLBuffer) throws {
        func download(_ buffer: CLBuffer, count: Int) throws -> any DeviceBuffer {
            let host = try cpu.makeBuffer(count: max(count, 1))
            try transfer(buffer, host: (host as! CPUBuffer).pointer, count: count, toHost: true, what: "copying a gemm operand to the host")
            return host
        }
        let (countA, countB, countC) = (p.requiredCountA, p.requiredCountB, p.requiredCountC)
        let hostA = try download(a, count: countA), hostB = try download(b, count: countB), hostC = try download(c, count: countC)
        try cpu.gemm(p, a: hostA, b: hostB, c: hostC)
        try transfer(c, host: (hostC as! CPUBuffer).pointer, count: countC, toHost: false, what: "copying the gemm result back")
    }
}
