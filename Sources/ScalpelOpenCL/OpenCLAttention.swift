import COpenCL
import Foundation
import ScalpelCPU
import ScalpelCore

/// The work-group and tile sizes of attention.cl for one head size on one device: its `-D`
/// knobs. One program is built per head-size class (a power of two from 8 to 128, then a
/// multiple of 64), so a model compiles it once, whatever its sequence lengths.
struct AttentionKernelConfig: Hashable, CustomStringConvertible {
    /// Floats per row in private vectors and local tiles (≥ the head size, zero-padded).
    var headCapacity: Int
    /// Queries per work-group of the forward and dq kernels (one work-item each).
    var blockQ: Int
    /// Keys per local-memory tile of the forward and dq kernels.
    var blockK: Int
    /// Keys per work-group of the dk/dv kernel (one work-item each).
    var blockKV: Int
    /// Queries per local-memory tile of the dk/dv kernel.
    var tileQ: Int
    /// Floats per vector: 8 on a CPU device (AVX), 4 elsewhere.
    var vector: Int

    init(headSize: Int, info: OpenCLDeviceInfo) {
        var capacity = 8
        while capacity < headSize && capacity < 128 { capacity *= 2 }
        if headSize > capacity { capacity = (headSize + 63) / 64 * 64 }
        headCapacity = capacity
        // Local tiles of ≤ 2·4096 floats (32 KiB; GPUs offer 32–64 KiB per work-group). A GPU
        // wants many work-items per group to hide latency; on PoCL's CPU device 32 to 128 ran
        // alike and 16 at half speed (a tile load is then shared by too few queries), and 32
        // wastes less on the causal diagonal.
        var tile = min(64, max(4, 4096 / capacity))
        let localFloats = max(info.localMemoryBytes / 4, 64)
        while tile > 1 && 2 * tile * (capacity + 1) > localFloats { tile /= 2 }
        blockK = tile
        tileQ = tile
        let group = info.kind == .cpu ? 32 : 64
        vector = info.kind == .cpu ? 8 : 4
        let widest = max(1, info.maxWorkGroupSize)
        blockQ = min(group, widest)
        blockKV = min(group, widest)
    }

    var buildOptions: String {
        "-DHEAD_CAP=\(headCapacity) -DBLOCK_Q=\(blockQ) -DBLOCK_K=\(blockK) -DBLOCK_KV=\(blockKV) -DTILE_Q=\(tileQ) -DVEC=\(vector)"
    }

    var description: String { buildOptions }
}

/// Fused attention on an OpenCL device (attention.cl). The forward pass is one launch; the
/// backward pass three (delta = rowsum(dO·O), dk/dv per key block, dq per query block). Beyond
/// its outputs the backward pass allocates one scratch row of batch·heads·Nq floats; neither
/// pass ever holds the Nq×Nk scores. The geometry's layout places the rows of q, k, v, the
/// output and the gradients (strided views of larger buffers; q, k, v may be one buffer, and
/// dq, dk, dv another). When the program does not build, both run on the CPU-Swift backend
/// (each distinct buffer copied over and back once) with one warning carrying the build log.
extension OpenCLBackend {
    /// Validates the geometry (its lengths, head size and batch·heads below 2³¹, else
    /// `shapeMismatch`) and the buffers, then enqueues attention_forward, one launch over (queries,
    /// batch·heads) in work-groups of `blockQ` queries; when attention.cl does not build, runs the
    /// CPU-Swift backend's `attention` on copies of the operands.
    public func attention(_ geometry: AttentionGeometry, q: any DeviceBuffer, k: any DeviceBuffer, v: any DeviceBuffer,
                          keyLengths: (any DeviceBuffer)?, output: any DeviceBuffer, logSumExp: any DeviceBuffer) throws {
        let g = geometry
        try g.validate(op: "attention")
        try checkAttentionLimits(g, op: "attention")
        let lengths = keyLengths ?? q // the kernel needs a buffer argument; not read without lengths
        let operands = AttentionOperands([(q, g.queryExtent), (k, g.keyExtent), (v, g.valueExtent), (lengths, keyLengths == nil ? 0 : g.batch),
                                          (output, g.outputExtent), (logSumExp, g.rowCount)])
        if g.rowCount == 0 { return }
        let config = AttentionKernelConfig(headSize: g.headSize, info: info)
        try attentionLaunch("attention", config: config, operands: operands) { program, b in
            let kernel = try program.kernel("attention_forward")
            try setArguments(kernel, [.buffer(b[0].mem), .buffer(b[1].mem), .buffer(b[2].mem), .buffer(b[3].mem), .int(keyLengths == nil ? 0 : 1),
                                      .buffer(b[4].mem), .buffer(b[5].mem)] + Self.attentionRows(g) + Self.attentionShape(g))
            try enqueue(kernel, name: "attention_forward", global: [g.queryLength, g.batch * g.heads], local: [config.blockQ, 1])
        } fallback: { cpu, b in
            try cpu.attention(g, q: b[0], k: b[1], v: b[2], keyLengths: keyLengths == nil ? nil : b[3], output: b[4], logSumExp: b[5])
        }
    }

    /// Validates as `attention` does, then enqueues three launches: attention_backward_delta
    /// (rowsum(dO·O) into a scratch row of batch·heads·queryLength floats), attention_backward_dkdv
    /// per key block and attention_backward_dq per query block; when attention.cl does not build,
    /// runs the CPU-Swift backend's `attentionBackward` on copies of the operands.
    public func attentionBackward(_ geometry: AttentionGeometry, q: any DeviceBuffer, k: any DeviceBuffer, v: any DeviceBuffer,
                                  keyLengths: (any DeviceBuffer)?, output: any DeviceBuffer, logSumExp: any DeviceBuffer,
                                  dOutput: any DeviceBuffer, dq: any DeviceBuffer, dk: any DeviceBuffer, dv: any DeviceBuffer) throws {
        let g = geometry
        try g.validate(op: "attention backward")
        try checkAttentionLimits(g, op: "attention backward")
        let lengths = keyLengths ?? q
        let operands = AttentionOperands([(q, g.queryExtent), (k, g.keyExtent), (v, g.valueExtent), (lengths, keyLengths == nil ? 0 : g.batch),
                                          (output, g.outputExtent), (logSumExp, g.rowCount), (dOutput, g.outputExtent),
                                          (dq, g.queryExtent), (dk, g.keyExtent), (dv, g.valueExtent)])
        if g.queryCount == 0 && g.keyCount == 0 { return }
        let config = AttentionKernelConfig(headSize: g.headSize, info: info)
        try attentionLaunch("attention backward", config: config, operands: operands) { program, b in
            let delta = try scratchBuffer("attention delta", count: g.rowCount)
            let rows = Self.attentionRows(g)
            if g.rowCount > 0 {
                let kernel = try program.kernel("attention_backward_delta")
                try setArguments(kernel, [.buffer(b[4].mem), .buffer(b[6].mem), .buffer(delta.mem), .long(Int64(g.rowCount)), .int(Int32(g.headSize))]
                                     + rows.suffix(4) + [.int(Int32(g.heads)), .int(Int32(g.queryLength))])
                try enqueue(kernel, name: "attention_backward_delta", global: [g.rowCount], local: [min(64, g.rowCount)])
            }
            let common: [KernelArgument] = [.buffer(b[0].mem), .buffer(b[1].mem), .buffer(b[2].mem), .buffer(b[3].mem), .int(keyLengths == nil ? 0 : 1),
                                            .buffer(b[5].mem), .buffer(delta.mem), .buffer(b[6].mem)]
            let keys = try program.kernel("attention_backward_dkdv")
            try setArguments(keys, common + [.buffer(b[8].mem), .buffer(b[9].mem)] + rows + Self.attentionShape(g))
            try enqueue(keys, name: "attention_backward_dkdv", global: [g.keyLength, g.batch * g.heads], local: [config.blockKV, 1])
            let queries = try program.kernel("attention_backward_dq")
            try setArguments(queries, common + [.buffer(b[7].mem)] + rows + Self.attentionShape(g))
            try enqueue(queries, name: "attention_backward_dq", global: [g.queryLength, g.batch * g.heads], local: [config.blockQ, 1])
        } fallback: { cpu, b in
            try cpu.attentionBackward(g, q: b[0], k: b[1], v: b[2], keyLengths: keyLengths == nil ? nil : b[3], output: b[4], logSumExp: b[5],
                                      dOutput: b[6], dq: b[7], dk: b[8], dv: b[9])
        }
    }

    /// The ROWS arguments of q, k, v and the output, in that order (offset, batch, head and row
    /// strides each; the delta kernel takes the output's, the last four).
    private static func attentionRows(_ g: AttentionGeometry) -> [KernelArgument] {
        let layout = g.rows
        return [layout.query, layout.key, layout.value, layout.output].flatMap { rows -> [KernelArgument] in
            [.long(Int64(rows.offset)), .long(Int64(rows.batchStride)), .long(Int64(rows.headStride)), .long(Int64(rows.rowStride))]
        }
    }

    /// The trailing kernel arguments every attention kernel shares.
    private static func attentionShape(_ g: AttentionGeometry) -> [KernelArgument] {
        [.int(Int32(g.heads)), .int(Int32(g.queryLength)), .int(Int32(g.keyLength)), .int(Int32(g.headSize)), .float(g.scale), .int(g.causal ? 1 : 0)]
    }

    /// Sizes the kernels index with 32-bit integers.
    private func checkAttentionLimits(_ g: AttentionGeometry, op: String) throws {
        let limit = Int(Int32.max)
        guard g.queryLength < limit, g.keyLength < limit, g.headSize < limit, g.batch * g.heads < limit else {
            throw ScalpelError.shapeMismatch(op: op, detail: "lengths, head size and batch·heads must be below 2³¹ on OpenCL (\(g))")
        }
    }

    /// Runs `body` with attention.cl built for `config`, or `fallback` on the CPU backend (see
    /// `launch`); both see the operands in their original order, aliases included.
    private func attentionLaunch(_ op: String, config: AttentionKernelConfig, operands: AttentionOperands,
                                 body: (CLProgram, [CLBuffer]) throws -> Void,
                                 fallback: (CPUBackend, [any DeviceBuffer]) throws -> Void) throws {
        try launch(op, file: "attention.cl", options: config.buildOptions, variant: "head size class \(config.headCapacity)",
                   operands: operands.distinct, body: { program, buffers in try body(program, operands.expand(buffers)) },
                   fallback: { cpu, buffers in try fallback(cpu, operands.expand(buffers)) })
    }
}

/// Attention's operands with each buffer listed once (at the largest extent asked of it). q, k
/// and v of a fused projection are one buffer, and so are dq, dk and dv: `launch`'s CPU
/// fallback copies each listed buffer over and back, and a second copy of a shared gradient
/// buffer would write its stale parts over the first's results.
struct AttentionOperands {
    /// The distinct buffers with the elements each must hold.
    private(set) var distinct: [(any DeviceBuffer, Int)] = []
    /// For each original operand, its index in `distinct`.
    private(set) var index: [Int] = []

    init(_ operands: [(any DeviceBuffer, Int)]) {
        for (buffer, needed) in operands {
            if let at = distinct.firstIndex(where: { $0.0 === buffer }) {
                distinct[at].1 = max(distinct[at].1, needed)
                index.append(at)
            } else {
                index.append(distinct.count)
                distinct.append((buffer, needed))
            }
        }
    }

    /// Per-distinct-buffer values back in the original operands' order.
    func expand<T>(_ values: [T]) -> [T] { index.map { values[$0] } }
}
