import COpenCL
import Foundation
import ScalpelCPU
import ScalpelCore

/// The Backend protocol's tensor operations on an OpenCL device: each is one launch of a kernel
/// in pointwise.cl (built once per operation), elementwise.cl, reduce.cl, loss.cl or optim.cl.
/// When a program fails to build, its operations run on the CPU-Swift backend (operands copied
/// over and back), with one warning carrying the build log and a fallback count.
extension OpenCLBackend {
    /// Work-items per work-group for 1-D element-wise launches.
    private var groupSize: Int { info.kind == .cpu ? 64 : 256 }

    /// Runs `body` with `file`'s program built with `options`, or — when it does not build —
    /// runs `fallback` on the CPU backend with copies of `operands` (each copied back
    /// afterwards), warning once per `variant` (what the options select, named in the warning).
    /// Holds the lock.
    func launch(_ op: String, file: String, options: String = "", variant: String? = nil, operands: [(any DeviceBuffer, Int)],
                        body: (CLProgram, [CLBuffer]) throws -> Void,
                        fallback: (CPUBackend, [any DeviceBuffer]) throws -> Void) throws {
        let buffers = try operands.map { buffer, needed -> CLBuffer in
            let cl = try storage(buffer, op: op)
            guard needed <= cl.count else {
                throw ScalpelError.shapeMismatch(op: op, detail: "needs \(needed) elements, a buffer holds \(cl.count)")
            }
            return cl
        }
        try lock.withLock {
            let program: CLProgram
            do {
                program = try self.program(file, options: options)
            } catch {
                let what = variant.map { "\(file) (\($0))" } ?? file
                Diagnostics.shared.warnOnce(key: "\(what)-unavailable-\(id)", "\(what) operations run on the CPU-Swift backend instead of \(id): \(error)")
                Diagnostics.shared.countFallback(op: op)
                var copies: [any DeviceBuffer] = []
                for (buffer, needed) in zip(buffers, operands.map(\.1)) {
                    let host = try cpu.makeBuffer(count: max(needed, 1)) as! CPUBuffer
                    try transfer(buffer, host: host.pointer, count: needed, toHost: true, what: "moving a fallback operand")
                    copies.append(host)
                }
                try fallback(cpu, copies)
                for (index, buffer) in buffers.enumerated() {
                    try transfer(buffer, host: (copies[index] as! CPUBuffer).pointer, count: operands[index].1, toHost: false,
                                 what: "moving a fallback operand")
                }
                return
            }
            try body(program, buffers)
        }
    }

    func run1D(_ program: CLProgram, _ name: String, _ arguments: [KernelArgument], count: Int) throws {
        let kernel = try program.kernel(name)
        try setArguments(kernel, arguments)
        try enqueue(kernel, name: name, global: [count], local: [min(groupSize, max(count, 1))])
    }

    static func int8(_ values: [Int]) -> KernelArgument {
        var padded = values.map { Int32($0) }
        padded += [Int32](repeating: 0, count: 8 - padded.count)
        return .int8(padded)
    }

    /// A coalesced strided shape split for copy_strided and binary_broadcast: the innermost
    /// dimension and the one before it as (size, stride of each operand) — the range's first two
    /// axes, so no work-item divides per element — and the outer dimensions with their product.
    static func splitInnerDimensions(_ shape: [Int], _ strides: [[Int]], op: String) throws
        -> (inner: [Int], middle: [Int], outer: (shape: [Int], strides: [[Int]], count: Int)) {
        var (shape, strides) = (shape, strides)
        func take() -> [Int] {
            guard let size = shape.popLast() else { return [1] + strides.map { _ in 0 } }
            return [size] + strides.indices.map { strides[$0].removeLast() }
        }
        let inner = take(), middle = take()
        let count = shape.reduce(1, *)
        guard count < Int(Int32.max), inner[0] < Int(Int32.max), middle[0] < Int(Int32.max) else {
            throw ScalpelError.shapeMismatch(op: op, detail: "a dimension is too large for OpenCL's index range")
        }
        return (inner, middle, (shape, strides, count))
    }

    /// Enqueues a kernel over (row, rows, outer) whose first axis walks along rows: work-groups
    /// a multiple of 16 wide where the row allows (a CPU device's vector), stacked to the 1-D
    /// group size (64 work-items on a CPU device, 256 on a GPU).
    func enqueueRows(_ kernel: cl_kernel, name: String, global: [Int]) throws {
        let limit = min(groupSize, info.maxWorkGroupSize)
        let across = min((global[0] + 15) / 16 * 16, limit)
        try enqueue(kernel, name: name, global: global, local: [across, max(1, min(global[1], limit / across)), 1])
    }

    /// Whether element counts and extents (offset included) all stay below 2³¹, so that a
    /// kernel may index in 32-bit ints.
    static func fitsInt(_ sizes: Int...) -> Bool { sizes.allSatisfy { $0 < Int(Int32.max) } }

    /// `shape` with the strides of each operand, simplified for the strided kernels: size-1
    /// dimensions dropped and neighbours merged wherever every operand steps through them as
    /// one (stride[d] = stride[d+1]·shape[d+1]), so that a kernel divides once per remaining
    /// dimension (a batch-norm broadcast over (N, C, H, W) becomes (N, C, H·W)). At least rank 1.
    public static func coalesce(_ shape: [Int], _ strides: [[Int]]) -> (shape: [Int], strides: [[Int]]) {
        var outShape: [Int] = []
        var outStrides = [[Int]](repeating: [], count: strides.count)
        for d in shape.indices.reversed() where shape[d] != 1 {
            if let innerSize = outShape.first, outStrides.indices.allSatisfy({ strides[$0][d] == outStrides[$0][0] * innerSize }) {
                outShape[0] *= shape[d]
            } else {
                outShape.insert(shape[d], at: 0)
                for i in strides.indices { outStrides[i].insert(strides[i][d], at: 0) }
            }
        }
        if outShape.isEmpty { return ([1], strides.map { _ in [0] }) }
        return (outShape, outStrides)
    }

    /// One launch of `fill` (elementwise.cl), one work-item per element; on the CPU-Swift backend if
    /// elementwise.cl does not build.
    public func fill(_ buffer: any DeviceBuffer, value: Float, offset: Int, count: Int) throws {
        guard count > 0 else { return }
        try launch("fill", file: "elementwise.cl", operands: [(buffer, offset + count)]) { program, b in
            try run1D(program, "fill", [.buffer(b[0].mem), .long(Int64(offset)), .long(Int64(count)), .float(value)], count: count)
        } fallback: { cpu, b in try cpu.fill(b[0], value: value, offset: offset, count: count) }
    }

    /// One launch of `unary` from pointwise.cl built for this op alone (`-DFIXED_UNARY`), one
    /// work-item per element; on the CPU-Swift backend if that program does not build.
    public func unary(_ op: UnaryOp, x: any DeviceBuffer, y: any DeviceBuffer, count: Int) throws {
        guard count > 0 else { return }
        try launch(op.rawValue, file: "pointwise.cl", options: "-DFIXED_UNARY=\(op.code)", variant: op.rawValue,
                   operands: [(x, count), (y, count)]) { program, b in
            try run1D(program, "unary", [.int(op.code), .buffer(b[0].mem), .buffer(b[1].mem), .long(Int64(count))], count: count)
        } fallback: { cpu, b in try cpu.unary(op, x: b[0], y: b[1], count: count) }
    }

    /// One launch of `unary_backward` from pointwise.cl built for this op alone (`-DFIXED_UNARY`), one
    /// work-item per element; on the CPU-Swift backend if that program does not build.
    public func unaryBackward(_ op: UnaryOp, x: any DeviceBuffer, y: any DeviceBuffer, dy: any DeviceBuffer, dx: any DeviceBuffer, count: Int) throws {
        guard count > 0 else { return }
        try launch("\(op.rawValue) backward", file: "pointwise.cl", options: "-DFIXED_UNARY=\(op.code)", variant: op.rawValue,
                   operands: [(x, count), (y, count), (dy, count), (dx, count)]) { program, b in
            try run1D(program, "unary_backward", [.int(op.code), .buffer(b[0].mem), .buffer(b[1].mem), .buffer(b[2].mem), .buffer(b[3].mem),
                                                  .long(Int64(count))], count: count)
        } fallback: { cpu, b in try cpu.unaryBackward(op, x: b[0], y: b[1], dy: b[2], dx: b[3], count: count) }
    }

    /// One launch from pointwise.cl built for this op alone (`-DFIXED_BINARY`): `binary_same` when
    /// neither input broadcasts, else `binary_broadcast` over the coalesced shape, its two innermost
    /// dimensions as work-item axes; on the CPU-Swift backend if that program does not build.
    public func binary(_ op: BinaryOp, a: any DeviceBuffer, b: any DeviceBuffer, out: any DeviceBuffer, layout: BroadcastLayout) throws {
        let count = layout.count
        guard count > 0 else { return }
        let extentA = zip(layout.shape, layout.stridesA).map { ($0 - 1) * $1 }.reduce(0, +) + 1
        let extentB = zip(layout.shape, layout.stridesB).map { ($0 - 1) * $1 }.reduce(0, +) + 1
        try launch(op.rawValue, file: "pointwise.cl", options: "-DFIXED_BINARY=\(op.code)", variant: op.rawValue,
                   operands: [(a, extentA), (b, extentB), (out, count)]) { program, m in
            let (shape, strides) = Self.coalesce(layout.shape, [layout.stridesA, layout.stridesB])
            if layout.isElementwise {
                try run1D(program, "binary_same", [.int(op.code), .buffer(m[0].mem), .buffer(m[1].mem), .buffer(m[2].mem), .long(Int64(count))], count: count)
            } else {
                let small = Self.fitsInt(count, extentA, extentB)
                let (inner, middle, outer) = try Self.splitInnerDimensions(shape, strides, op: "binary \(op.rawValue)")
                let kernel = try program.kernel("binary_broadcast")
                try setArguments(kernel, [.int(op.code), .buffer(m[0].mem), .buffer(m[1].mem), .buffer(m[2].mem), Self.int8(inner), Self.int8(middle),
                                          .int(Int32(outer.count)), .int(Int32(outer.shape.count)), Self.int8(outer.shape),
                                          Self.int8(outer.strides[0]), Self.int8(outer.strides[1]), .int(small ? 1 : 0)])
                try enqueueRows(kernel, name: "binary_broadcast", global: [inner[0], middle[0], outer.count])
            }
        } fallback: { cpu, m in try cpu.binary(op, a: m[0], b: m[1], out: m[2], layout: layout) }
    }

    /// One launch of `axpby` (elementwise.cl), one work-item per element; on the CPU-Swift backend if
    /// elementwise.cl does not build.
    public func axpby(alpha: Float, x: any DeviceBuffer, beta: Float, y: any DeviceBuffer, count: Int) throws {
        guard count > 0 else { return }
        try launch("axpby", file: "elementwise.cl", operands: [(x, count), (y, count)]) { program, b in
            try run1D(program, "axpby", [.float(alpha), .buffer(b[0].mem), .float(beta), .buffer(b[1].mem), .long(Int64(count))], count: count)
        } fallback: { cpu, b in try cpu.axpby(alpha: alpha, x: b[0], beta: beta, y: b[1], count: count) }
    }

    /// One launch of `reduce_axis` (reduce.cl); two when few outputs lie along a long axis (not for
    /// argmax): partial results per slice of the axis, then their combination. On the CPU-Swift
    /// backend if reduce.cl does not build.
    public func reduce(_ op: ReduceOp, x: any DeviceBuffer, out: any DeviceBuffer, outer: Int, axis: Int, inner: Int) throws {
        let outputs = outer * inner
        guard outputs > 0 else { return }
        let shape = reduceShape(outer: outer, axis: axis, inner: inner, splittable: op != .argmax)
        guard shape.chunks > 1 else {
            try launch(op.rawValue, file: "reduce.cl", operands: [(x, outer * axis * inner), (out, outputs)]) { program, b in
                try reduceLaunch(program, op: op, x: b[0], out: b[1], outer: outer, axis: axis, inner: inner, shape: shape)
            } fallback: { cpu, b in try cpu.reduce(op, x: b[0], out: b[1], outer: outer, axis: axis, inner: inner) }
            return
        }
        // Few outputs along a long axis: partials (outer, chunks, inner) from one work-group per
        // slice, then a second launch combines them (sums of squares add as sums).
        let partial = try makeBuffer(count: outer * shape.chunks * inner)
        try launch(op.rawValue, file: "reduce.cl", operands: [(x, outer * axis * inner), (out, outputs), (partial, outer * shape.chunks * inner)]) { program, b in
            try reduceLaunch(program, op: op, x: b[0], out: b[2], outer: outer, axis: axis, inner: inner, shape: shape)
            let combine = reduceShape(outer: outer, axis: shape.chunks, inner: inner, splittable: false)
            try reduceLaunch(program, op: op == .sumOfSquares ? .sum : op, x: b[2], out: b[1], outer: outer, axis: shape.chunks, inner: inner,
                             shape: combine)
        } fallback: { cpu, b in try cpu.reduce(op, x: b[0], out: b[1], outer: outer, axis: axis, inner: inner) }
    }

    /// One launch of `reduce_channels` (reduce.cl): a work-group per channel (up to 16 work-items on a
    /// CPU device, 256 on a GPU) sums batch and positions in one pass and combines its partial sums
    /// in a fixed-order tree; on the CPU-Swift backend if reduce.cl does not build.
    public func channelSums(_ x: any DeviceBuffer, out: any DeviceBuffer, batch: Int, channels: Int, positions: Int) throws {
        guard channels > 0 else { return }
        // A CPU device runs a work-group's items as one vector loop: 16 lanes cover a row
        // without the barrier tree of a wide group; a GPU wants enough items to hide latency.
        var group = 1
        while group * 2 <= min(info.kind == .cpu ? 16 : 256, info.maxWorkGroupSize, max(positions, 1)) { group *= 2 }
        try launch("channel sums", file: "reduce.cl", operands: [(x, batch * channels * positions), (out, channels)]) { program, b in
            let kernel = try program.kernel("reduce_channels")
            try setArguments(kernel, [.buffer(b[0].mem), .buffer(b[1].mem), .int(Int32(batch)), .int(Int32(channels)), .int(Int32(positions))])
            try enqueue(kernel, name: "reduce_channels", global: [group * channels], local: [group])
        } fallback: { cpu, b in try cpu.channelSums(b[0], out: b[1], batch: batch, channels: channels, positions: positions) }
    }

    /// The work-group of reduce_axis for (outer, axis, inner) — `x` work-items along inner
    /// (coalesced when inner is long), `y` along the axis (a power of two, a tree combines
    /// them) — and the axis slices per output: more than one only for a long axis whose outputs
    /// would leave the device with fewer than two work-groups per compute unit.
    func reduceShape(outer: Int, axis: Int, inner: Int, splittable: Bool) -> (x: Int, y: Int, chunks: Int, chunk: Int) {
        func powerOfTwo(atLeast value: Int) -> Int { var p = 1; while p < value { p *= 2 }; return p }
        var group = 1
        while group * 2 <= min(256, info.maxWorkGroupSize) { group *= 2 }
        let target = 2 * max(info.computeUnits, 1)
        let along = min(powerOfTwo(atLeast: inner), 32, group)
        var y = min(powerOfTwo(atLeast: max(axis, 1)), group / along)
        // A CPU device gains nothing from splitting an axis across work-items when the
        // outputs along a wide inner axis already fill it: each work-item walks its axis
        // alone, with no tree and no barrier (PoCL runs a barrier by splitting the kernel).
        if info.kind == .cpu && inner >= 32 && (inner + group - 1) / group * outer >= 4 * target { y = 1 }
        let x = min(powerOfTwo(atLeast: inner), group / y)
        let groups = (inner + x - 1) / x * outer
        guard splittable, groups < target, axis >= 8 * y else { return (x, y, 1, max(axis, 1)) }
        let wanted = min((target + groups - 1) / groups, axis / (4 * y))
        let chunk = (axis + wanted - 1) / wanted
        return (x, y, (axis + chunk - 1) / chunk, chunk)
    }

    private func reduceLaunch(_ program: CLProgram, op: ReduceOp, x: CLBuffer, out: CLBuffer, outer: Int, axis: Int, inner: Int,
                              shape: (x: Int, y: Int, chunks: Int, chunk: Int)) throws {
        let kernel = try program.kernel("reduce_axis")
        try setArguments(kernel, [.int(op.code), .buffer(x.mem), .buffer(out.mem), .int(Int32(outer)), .int(Int32(axis)), .int(Int32(inner)),
                                  .int(Int32(shape.chunks)), .int(Int32(shape.chunk))])
        try enqueue(kernel, name: "reduce_axis", global: [(inner + shape.x - 1) / shape.x * shape.x, outer * shape.chunks * shape.y],
                    local: [shape.x, shape.y])
    }

    /// One launch of `softmax_rows` (reduce.cl), one work-item per row; on the CPU-Swift backend if
    /// reduce.cl does not build.
    public func softmax(x: any DeviceBuffer, y: any DeviceBuffer, rows: Int, cols: Int, log: Bool) throws {
        guard rows * cols > 0 else { return }
        try launch(log ? "log_softmax" : "softmax", file: "reduce.cl", operands: [(x, rows * cols), (y, rows * cols)]) { program, b in
            try run1D(program, "softmax_rows", [.buffer(b[0].mem), .buffer(b[1].mem), .int(Int32(rows)), .int(Int32(cols)), .int(log ? 1 : 0)], count: rows)
        } fallback: { cpu, b in try cpu.softmax(x: b[0], y: b[1], rows: rows, cols: cols, log: log) }
    }

    /// One launch of `softmax_rows_backward` (reduce.cl), one work-item per row; on the CPU-Swift
    /// backend if reduce.cl does not build.
    public func softmaxBackward(y: any DeviceBuffer, dy: any DeviceBuffer, dx: any DeviceBuffer, rows: Int, cols: Int, log: Bool) throws {
        guard rows * cols > 0 else { return }
        try launch("softmax backward", file: "reduce.cl", operands: [(y, rows * cols), (dy, rows * cols), (dx, rows * cols)]) { program, b in
            try run1D(program, "softmax_rows_backward", [.buffer(b[0].mem), .buffer(b[1].mem), .buffer(b[2].mem), .int(Int32(rows)), .int(Int32(cols)),
                                                         .int(log ? 1 : 0)], count: rows)
        } fallback: { cpu, b in try cpu.softmaxBackward(y: b[0], dy: b[1], dx: b[2], rows: rows, cols: cols, log: log) }
    }

    /// One launch of `copy_strided` (elementwise.cl) over the coalesced shape (rank 8 at most); on the
    /// CPU-Swift backend if elementwise.cl does not build.
    public func copy(_ copy: StridedCopy, from source: any DeviceBuffer, to destination: any DeviceBuffer) throws {
        let count = copy.count
        guard count > 0 else { return }
        guard copy.shape.count <= 8 else { throw ScalpelError.shapeMismatch(op: "copy", detail: "rank \(copy.shape.count) exceeds 8") }
        try launch("copy", file: "elementwise.cl", operands: [(source, copy.srcExtent), (destination, copy.dstExtent)]) { program, b in
            let small = Self.fitsInt(count, copy.srcExtent, copy.dstExtent)
            let (shape, strides) = Self.coalesce(copy.shape, [copy.srcStrides, copy.dstStrides])
            let (inner, middle, outer) = try Self.splitInnerDimensions(shape, strides, op: "copy")
            let kernel = try program.kernel("copy_strided")
            try setArguments(kernel, [.buffer(b[0].mem), .long(Int64(copy.srcOffset)), .buffer(b[1].mem), .long(Int64(copy.dstOffset)),
                                      Self.int8(inner), Self.int8(middle), .int(Int32(outer.count)),
                                      .int(Int32(outer.shape.count)), Self.int8(outer.shape), Self.int8(outer.strides[0]),
                                      Self.int8(outer.strides[1]), .int(small ? 1 : 0)])
            try enqueueRows(kernel, name: "copy_strided", global: [inner[0], middle[0], outer.count])
        } fallback: { cpu, b in try cpu.copy(copy, from: b[0], to: b[1]) }
    }

    /// One launch of `gather` (elementwise.cl), one work-item per output element; on the CPU-Swift
    /// backend if elementwise.cl does not build.
    public func gather(x: any DeviceBuffer, index: any DeviceBuffer, out: any DeviceBuffer, outer: Int, axis: Int, inner: Int, count: Int) throws {
        let total = outer * count * inner
        guard total > 0 else { return }
        try launch("gather", file: "elementwise.cl", operands: [(x, outer * axis * inner), (index, count), (out, total)]) { program, b in
            try run1D(program, "gather", [.buffer(b[0].mem), .buffer(b[1].mem), .buffer(b[2].mem), .int(Int32(outer)), .int(Int32(axis)),
                                          .int(Int32(inner)), .int(Int32(count))], count: total)
        } fallback: { cpu, b in try cpu.gather(x: b[0], index: b[1], out: b[2], outer: outer, axis: axis, inner: inner, count: count) }
    }

    /// One launch of `scatter_add` (elementwise.cl): one work-item per element of dx, looping over the
    /// indices in order (deterministic, no atomics); on the CPU-Swift backend if elementwise.cl does
    /// not build.
    public func scatterAdd(dy: any DeviceBuffer, index: any DeviceBuffer, dx: any DeviceBuffer, outer: Int, axis: Int, inner: Int, count: Int) throws {
        let total = outer * axis * inner
        guard total > 0 else { return }
        try launch("scatter_add", file: "elementwise.cl", operands: [(dy, outer * count * inner), (index, count), (dx, total)]) { program, b in
            try run1D(program, "scatter_add", [.buffer(b[0].mem), .buffer(b[1].mem), .buffer(b[2].mem), .int(Int32(outer)), .int(Int32(axis)),
                                               .int(Int32(inner)), .int(Int32(count))], count: total)
        } fallback: { cpu, b in try cpu.scatterAdd(dy: b[0], index: b[1], dx: b[2], outer: outer, axis: axis, inner: inner, count: count) }
    }

    /// One launch of `cross_entropy` (loss.cl), one work-item per row; on the CPU-Swift backend if
    /// loss.cl does not build.
    public func crossEntropy(logits: any DeviceBuffer, labels: any DeviceBuffer, classWeights: (any DeviceBuffer)?,
                             probabilities: any DeviceBuffer, losses: any DeviceBuffer, rowWeights: any DeviceBuffer,
                             rows: Int, classes: Int, settings: LossSettings) throws {
        guard rows > 0 else { return }
        let n = rows * classes
        // Without class weights the kernel still needs a buffer argument: pass the labels.
        let weights = classWeights ?? labels
        try launch("cross_entropy", file: "loss.cl", operands: [(logits, n), (labels, rows), (weights, classWeights == nil ? 0 : classes),
                                                               (probabilities, n), (losses, rows), (rowWeights, rows)]) { program, b in
            try run1D(program, "cross_entropy", [.buffer(b[0].mem), .buffer(b[1].mem), .buffer(b[2].mem), .int(classWeights == nil ? 0 : 1),
                                                 .buffer(b[3].mem), .buffer(b[4].mem), .buffer(b[5].mem), .int(Int32(rows)), .int(Int32(classes)),
                                                 .float(settings.labelSmoothing)], count: rows)
        } fallback: { cpu, b in
            try cpu.crossEntropy(logits: b[0], labels: b[1], classWeights: classWeights == nil ? nil : b[2], probabilities: b[3], losses: b[4],
                                 rowWeights: b[5], rows: rows, classes: classes, settings: settings)
        }
    }

    /// One launch of `cross_entropy_backward` (loss.cl), one work-item per element of dLogits; on the
    /// CPU-Swift backend if loss.cl does not build.
    public func crossEntropyBackward(probabilities: any DeviceBuffer, labels: any DeviceBuffer, classWeights: (any DeviceBuffer)?,
                                     dLoss: any DeviceBuffer, dLogits: any DeviceBuffer, rows: Int, classes: Int, settings: LossSettings) throws {
        let n = rows * classes
        guard n > 0 else { return }
        let weights = classWeights ?? labels
        try launch("cross_entropy backward", file: "loss.cl", operands: [(probabilities, n), (labels, rows), (weights, classWeights == nil ? 0 : classes),
                                                                        (dLoss, rows), (dLogits, n)]) { program, b in
            try run1D(program, "cross_entropy_backward", [.buffer(b[0].mem), .buffer(b[1].mem), .buffer(b[2].mem), .int(classWeights == nil ? 0 : 1),
                                                          .buffer(b[3].mem), .buffer(b[4].mem), .int(Int32(rows)), .int(Int32(classes)),
                                                          .float(settings.labelSmoothing)], count: n)
        } fallback: { cpu, b in
            try cpu.crossEntropyBackward(probabilities: b[0], labels: b[1], classWeights: classWeights == nil ? nil : b[2], dLoss: b[3], dLogits: b[4],
                                         rows: rows, classes: classes, settings: settings)
        }
    }

    /// One launch of `bce_with_logits` (loss.cl), one work-item per element; on the CPU-Swift backend
    /// if loss.cl does not build.
    public func bceWithLogits(logits: any DeviceBuffer, targets: any DeviceBuffer, posWeight: (any DeviceBuffer)?, losses: any DeviceBuffer,
                              count: Int, classes: Int) throws {
        guard count > 0 else { return }
        let weights = posWeight ?? targets
        try launch("bce_with_logits", file: "loss.cl", operands: [(logits, count), (targets, count), (weights, posWeight == nil ? 0 : classes),
                                                                 (losses, count)]) { program, b in
            try run1D(program, "bce_with_logits", [.buffer(b[0].mem), .buffer(b[1].mem), .buffer(b[2].mem), .int(posWeight == nil ? 0 : 1),
                                                   .buffer(b[3].mem), .long(Int64(count)), .int(Int32(max(classes, 1)))], count: count)
        } fallback: { cpu, b in
            try cpu.bceWithLogits(logits: b[0], targets: b[1], posWeight: posWeight == nil ? nil : b[2], losses: b[3], count: count, classes: classes)
        }
    }

    /// One launch of `bce_with_logits_backward` (loss.cl), one work-item per element; on the CPU-Swift
    /// backend if loss.cl does not build.
    public func bceWithLogitsBackward(logits: any DeviceBuffer, targets: any DeviceBuffer, posWeight: (any DeviceBuffer)?, dLoss: any DeviceBuffer,
                                      dLogits: any DeviceBuffer, count: Int, classes: Int) throws {
        guard count > 0 else { return }
        let weights = posWeight ?? targets
        try launch("bce_with_logits backward", file: "loss.cl", operands: [(logits, count), (targets, count), (weights, posWeight == nil ? 0 : classes),
                                                                          (dLoss, count), (dLogits, count)]) { program, b in
            try run1D(program, "bce_with_logits_backward", [.buffer(b[0].mem), .buffer(b[1].mem), .buffer(b[2].mem), .int(posWeight == nil ? 0 : 1),
                                                            .buffer(b[3].mem), .buffer(b[4].mem), .long(Int64(count)), .int(Int32(max(classes, 1)))],
                      count: count)
        } fallback: { cpu, b in
            try cpu.bceWithLogitsBackward(logits: b[0], targets: b[1], posWeight: posWeight == nil ? nil : b[2], dLoss: b[3], dLogits: b[4],
                                          count: count, classes: classes)
        }
    }
}
