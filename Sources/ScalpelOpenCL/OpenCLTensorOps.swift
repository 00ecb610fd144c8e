import COpenCL
import Foundation
import ScalpelCPU
import ScalpelCore

/// The Backend protocol's tensor operations on an OpenCL device: each is one launch of a kernel
/// in elementwise.cl, reduce.cl, loss.cl or optim.cl. When a program fails to build, its
/// operations run on the CPU-Swift backend (operands copied over and back), with one warning
/// carrying the build log and a fallback count.
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

    public func fill(_ buffer: any DeviceBuffer, value: Float, offset: Int, count: Int) throws {
        guard count > 0 else { return }
        try launch("fill", file: "elementwise.cl", operands: [(buffer, offset + count)]) { program, b in
            try run1D(program, "fill", [.buffer(b[0].mem), .long(Int64(offset)), .long(Int64(count)), .float(value)], count: count)
        } fallback: { cpu, b in try cpu.fill(b[0], value: value, offset: offset, count: count) }
    }

    public func unary(_ op: UnaryOp, x: any DeviceBuffer, y: any DeviceBuffer, count: Int) throws {
        guard count > 0 else { return }
        try launch(op.rawValue, file: "elementwise.cl", operands: [(x, count), (y, count)]) { program, b in
            try run1D(program, "unary", [.int(op.code), .buffer(b[0].mem), .buffer(b[1].mem), .long(Int64(count))], count: count)
        } fallback: { cpu, b in try cpu.unary(op, x: b[0], y: b[1], count: count) }
    }

    public func unaryBackward(_ op: UnaryOp, x: any DeviceBuffer, y: any DeviceBuffer, dy: any DeviceBuffer, dx: any DeviceBuffer, count: Int) throws {
        guard count > 0 else { return }
        try launch("\(op.rawValue) backward", file: "elementwise.cl", operands: [(x, count), (y, count), (dy, count), (dx, count)]) { program, b in
            try run1D(program, "unary_backward", [.int(op.code), .buffer(b[0].mem), .buffer(b[1].mem), .buffer(b[2].mem), .buffer(b[3].mem),
                                                  .long(Int64(count))], count: count)
        } fallback: { cpu, b in try cpu.unaryBackward(op, x: b[0], y: b[1], dy: b[2], dx: b[3], count: count) }
    }

    public func binary(_ op: BinaryOp, a: any DeviceBuffer, b: any DeviceBuffer, out: any DeviceBuffer, layout: BroadcastLayout) throws {
        let count = layout.count
        guard count > 0 else { return }
        let extentA = zip(layout.shape, layout.stridesA).map { ($0 - 1) * $1 }.reduce(0, +) + 1
        let extentB = zip(layout.shape, layout.stridesB).map { ($0 - 1) * $1 }.reduce(0, +) + 1
        try launch(op.rawValue, file: "elementwise.cl", operands: [(a, extentA), (b, extentB), (out, count)]) { program, m in
            if layout.isElementwise {
                try run1D(program, "binary_same", [.int(op.code), .buffer(m[0].mem), .buffer(m[1].mem), .buffer(m[2].mem), .long(Int64(count))], count: count)
            } else {
                try run1D(program, "binary_broadcast", [.int(op.code), .buffer(m[0].mem), .buffer(m[1].mem), .buffer(m[2].mem), .long(Int64(count)),
                                                        .int(Int32(layout.shape.count)), Self.int8(layout.shape), Self.int8(layout.stridesA),
                                                        Self.int8(layout.stridesB)], count: count)
            }
        } fallback: { cpu, m in try cpu.binary(op, a: m[0], b: m[1], out: m[2], layout: layout) }
    }

    public func axpby(alpha: Float, x: any DeviceBuffer, beta: Float, y: any DeviceBuffer, count: Int) throws {
        guard count > 0 else { return }
        try launch("axpby", file: "elementwise.cl", operands: [(x, count), (y, count)]) { program, b in
            try run1D(program, "axpby", [.float(alpha), .buffer(b[0].mem), .float(beta), .buffer(b[1].mem), .long(Int64(count))], count: count)
        } fallback: { cpu, b in try cpu.axpby(alpha: alpha, x: b[0], beta: beta, y: b[1], count: count) }
    }

    public func reduce(_ op: ReduceOp, x: any DeviceBuffer, out: any DeviceBuffer, outer: Int, axis: Int, inner: Int) throws {
        let outputs = outer * inner
        guard outputs > 0 else { return }
        // A long axis with few outputs would leave the device idle: sum in two passes
        // (partial sums over chunks first). Not for argmax, whose partials are not values.
        if op != .argmax && outputs < 64 && axis >= 8192 && inner == 1 {
            let chunk = 1024
            let chunks = axis / chunk
            let partial = try makeBuffer(count: outer * (chunks + 1))
            for o in 0 ..< outer {
                // Partials of the whole chunks of row o, then the tail, then combine.
                try reduceOnce(op, x: x, out: partial, outer: chunks, axis: chunk, inner: 1, xOffset: o * axis, outOffset: o * (chunks + 1))
                let tail = axis - chunks * chunk
                if tail > 0 {
                    try reduceOnce(op, x: x, out: partial, outer: 1, axis: tail, inner: 1, xOffset: o * axis + chunks * chunk, outOffset: o * (chunks + 1) + chunks)
                } else {
                    try fill(partial, value: op == .max ? -.infinity : 0, offset: o * (chunks + 1) + chunks, count: 1)
                }
            }
            try reduceOnce(op == .sumOfSquares ? .sum : op, x: partial, out: out, outer: outer, axis: chunks + 1, inner: 1, xOffset: 0, outOffset: 0)
            return
        }
        try reduceOnce(op, x: x, out: out, outer: outer, axis: axis, inner: inner, xOffset: 0, outOffset: 0)
    }

    private func reduceOnce(_ op: ReduceOp, x: any DeviceBuffer, out: any DeviceBuffer, outer: Int, axis: Int, inner: Int,
                            xOffset: Int, outOffset: Int) throws {
        let outputs = outer * inner
        guard xOffset == 0 && outOffset == 0 else {
            // Offsets: copy the operand window out (rare path: the two-pass split above).
            let window = try makeBuffer(count: outer * axis * inner)
            try copy(StridedCopy(shape: [outer * axis * inner], srcOffset: xOffset, srcStrides: [1], dstStrides: [1]), from: x, to: window)
            let result = try makeBuffer(count: outputs)
            try reduceOnce(op, x: window, out: result, outer: outer, axis: axis, inner: inner, xOffset: 0, outOffset: 0)
            try copy(StridedCopy(shape: [outputs], srcStrides: [1], dstOffset: outOffset, dstStrides: [1]), from: result, to: out)
            return
        }
        try launch(op.rawValue, file: "reduce.cl", operands: [(x, outer * axis * inner), (out, outputs)]) { program, b in
            try run1D(program, "reduce_axis", [.int(op.code), .buffer(b[0].mem), .buffer(b[1].mem), .int(Int32(outer)), .int(Int32(axis)),
                                               .int(Int32(inner))], count: outputs)
        } fallback: { cpu, b in try cpu.reduce(op, x: b[0], out: b[1], outer: outer, axis: axis, inner: inner) }
    }

    public func softmax(x: any DeviceBuffer, y: any DeviceBuffer, rows: Int, cols: Int, log: Bool) throws {
        guard rows * cols > 0 else { return }
        try launch(log ? "log_softmax" : "softmax", file: "reduce.cl", operands: [(x, rows * cols), (y, rows * cols)]) { program, b in
            try run1D(program, "softmax_rows", [.buffer(b[0].mem), .buffer(b[1].mem), .int(Int32(rows)), .int(Int32(cols)), .int(log ? 1 : 0)], count: rows)
        } fallback: { cpu, b in try cpu.softmax(x: b[0], y: b[1], rows: rows, cols: cols, log: log) }
    }

    public func softmaxBackward(y: any DeviceBuffer, dy: any DeviceBuffer, dx: any DeviceBuffer, rows: Int, cols: Int, log: Bool) throws {
        guard rows * cols > 0 else { return }
        try launch("softmax backward", file: "reduce.cl", operands: [(y, rows * cols), (dy, rows * cols), (dx, rows * cols)]) { program, b in
            try run1D(program, "softmax_rows_backward", [.buffer(b[0].mem), .buffer(b[1].mem), .buffer(b[2].mem), .int(Int32(rows)), .int(Int32(cols)),
                                                         .int(log ? 1 : 0)], count: rows)
        } fallback: { cpu, b in try cpu.softmaxBackward(y: b[0], dy: b[1], dx: b[2], rows: rows, cols: cols, log: log) }
    }

    public func copy(_ copy: StridedCopy, from source: any DeviceBuffer, to destination: any DeviceBuffer) throws {
        let count = copy.count
        guard count > 0 else { return }
        guard copy.shape.count <= 8 else { throw ScalpelError.shapeMismatch(op: "copy", detail: "rank \(copy.shape.count) exceeds 8") }
        try launch("copy", file: "elementwise.cl", operands: [(source, copy.srcExtent), (destination, copy.dstExtent)]) { program, b in
            try run1D(program, "copy_strided", [.buffer(b[0].mem), .long(Int64(copy.srcOffset)), .buffer(b[1].mem), .long(Int64(copy.dstOffset)),
                                                .long(Int64(count)), .int(Int32(copy.shape.count)), Self.int8(copy.shape),
                                                Self.int8(copy.srcStrides), Self.int8(copy.dstStrides)], count: count)
        } fallback: { cpu, b in try cpu.copy(copy, from: b[0], to: b[1]) }
    }

    public func gather(x: any DeviceBuffer, index: any DeviceBuffer, out: any DeviceBuffer, outer: Int, axis: Int, inner: Int, count: Int) throws {
        let total = outer * count * inner
        guard total > 0 else { return }
        try launch("gather", file: "elementwise.cl", operands: [(x, outer * axis * inner), (index, count), (out, total)]) { program, b in
            try run1D(program, "gather", [.buffer(b[0].mem), .buffer(b[1].mem), .buffer(b[2].mem), .int(Int32(outer)), .int(Int32(axis)),
                                          .int(Int32(inner)), .int(Int32(count))], count: total)
        } fallback: { cpu, b in try cpu.gather(x: b[0], index: b[1], out: b[2], outer: outer, axis: axis, inner: inner, count: count) }
    }

    public func scatterAdd(dy: any DeviceBuffer, index: any DeviceBuffer, dx: any DeviceBuffer, outer: Int, axis: Int, inner: Int, count: Int) throws {
        let total = outer * axis * inner
        guard total > 0 else { return }
        try launch("scatter_add", file: "elementwise.cl", operands: [(dy, outer * count * inner), (index, count), (dx, total)]) { program, b in
            try run1D(program, "scatter_add", [.buffer(b[0].mem), .buffer(b[1].mem), .buffer(b[2].mem), .int(Int32(outer)), .int(Int32(axis)),
                                               .int(Int32(inner)), .int(Int32(count))], count: total)
        } fallback: { cpu, b in try cpu.scatterAdd(dy: b[0], index: b[1], dx: b[2], outer: outer, axis: axis, inner: inner, count: count) }
    }

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

    public func optimizerStep(_ step: OptimizerStep, parameter: any DeviceBuffer, gradient: any DeviceBuffer,
                              state1: any DeviceBuffer, state2: any DeviceBuffer, count: Int) throws {
        guard count > 0 else { return }
        try launch("optimizer", file: "optim.cl", operands: [(parameter, count), (gradient, count), (state1, count), (state2, count)]) { program, b in
            switch step.kind {
            case .sgd:
                try run1D(program, "sgd_step", [.buffer(b[0].mem), .buffer(b[1].mem), .buffer(b[2].mem), .long(Int64(count)), .float(step.learningRate),
                                                .float(step.beta1), .float(step.dampening), .float(step.weightDecay), .int(step.nesterov ? 1 : 0),
                                                .int(step.step <= 1 ? 1 : 0)], count: count)
            case .adam:
                let correction1 = 1 - pow(Double(step.beta1), Double(step.step)), correction2 = 1 - pow(Double(step.beta2), Double(step.step))
                try run1D(program, "adam_step", [.buffer(b[0].mem), .buffer(b[1].mem), .buffer(b[2].mem), .buffer(b[3].mem), .long(Int64(count)),
                                                 .float(step.learningRate), .float(step.beta1), .float(step.beta2), .float(step.epsilon),
                                                 .float(step.weightDecay), .int(step.decoupledWeightDecay ? 1 : 0),
                                                 .float(Float(Double(step.learningRate) / correction1)), .float(Float(correction2.squareRoot()))],
                          count: count)
            }
        } fallback: { cpu, b in try cpu.optimizerStep(step, parameter: b[0], gradient: b[1], state1: b[2], state2: b[3], count: count) }
    }
}

// Convolution pieces and pooling (conv.cl).
extension OpenCLBackend {
    static func convGeometry(_ g: Conv2dGeometry) -> [KernelArgument] {
        [int8([g.batch, g.inChannels, g.height, g.width, g.outChannels, g.kernelHeight, g.kernelWidth, g.groups]),
         int8([g.strideH, g.strideW, g.padH, g.padW, g.dilationH, g.dilationW, g.outHeight, g.outWidth])]
    }

    private static func poolGeometry(_ g: Pool2dGeometry, max: Bool) -> [KernelArgument] {
        [int8([g.batch * g.channels, g.height, g.width, g.kernelHeight, g.kernelWidth, g.strideH, g.strideW, 0]),
         int8([g.padH, g.padW, g.outHeight, g.outWidth, max ? 1 : 0, 0, 0, 0])]
    }

    public func im2col(_ geometry: Conv2dGeometry, input: any DeviceBuffer, offset: Int, columns: any DeviceBuffer) throws {
        try geometry.validate()
        let g = geometry, total = g.columnRows * g.columnCount
        try launch("im2col", file: "conv.cl", operands: [(input, offset + g.batch * g.inChannels * g.height * g.width), (columns, total)]) { program, b in
            try run1D(program, "im2col", [.buffer(b[0].mem), .long(Int64(offset)), .buffer(b[1].mem)] + Self.convGeometry(g), count: total)
        } fallback: { cpu, b in try cpu.im2col(g, input: b[0], offset: offset, columns: b[1]) }
    }

    public func col2im(_ geometry: Conv2dGeometry, columns: any DeviceBuffer, gradInput: any DeviceBuffer, offset: Int) throws {
        try geometry.validate()
        let g = geometry, total = g.batch * g.inChannels * g.height * g.width
        try launch("col2im", file: "conv.cl", operands: [(columns, g.columnRows * g.columnCount), (gradInput, offset + total)]) { program, b in
            try run1D(program, "col2im", [.buffer(b[0].mem), .buffer(b[1].mem), .long(Int64(offset))] + Self.convGeometry(g), count: total)
        } fallback: { cpu, b in try cpu.col2im(g, columns: b[0], gradInput: b[1], offset: offset) }
    }

    public func pool2d(_ geometry: Pool2dGeometry, max: Bool, input: any DeviceBuffer, output: any DeviceBuffer) throws {
        try geometry.validate()
        let g = geometry, outCount = g.batch * g.channels * g.outHeight * g.outWidth
        try launch("pool2d", file: "conv.cl", operands: [(input, g.batch * g.channels * g.height * g.width), (output, outCount)]) { program, b in
            try run1D(program, "pool2d", [.buffer(b[0].mem), .buffer(b[1].mem)] + Self.poolGeometry(g, max: max), count: outCount)
        } fallback: { cpu, b in try cpu.pool2d(g, max: max, input: b[0], output: b[1]) }
    }

    public func pool2dBackward(_ geometry: Pool2dGeometry, max: Bool, input: any DeviceBuffer, output: any DeviceBuffer,
                               gradOutput: any DeviceBuffer, gradInput: any DeviceBuffer) throws {
        try geometry.validate()
        let g = geometry
        let inCount = g.batch * g.channels * g.height * g.width, outCount = g.batch * g.channels * g.outHeight * g.outWidth
        try launch("pool2d backward", file: "conv.cl", operands: [(input, inCount), (output, outCount), (gradOutput, outCount), (gradInput, inCount)]) { program, b in
            try run1D(program, "pool2d_backward", [.buffer(b[0].mem), .buffer(b[1].mem), .buffer(b[2].mem), .buffer(b[3].mem)]
                + Self.poolGeometry(g, max: max), count: inCount)
        } fallback: { cpu, b in try cpu.pool2dBackward(g, max: max, input: b[0], output: b[1], gradOutput: b[2], gradInput: b[3]) }
    }
}

extension OpenCLBackend {
    public func conv2dDirect(_ geometry: Conv2dGeometry, input: any DeviceBuffer, weight: any DeviceBuffer, output: any DeviceBuffer) throws {
        try geometry.validate()
        let g = geometry, total = g.batch * g.outChannels * g.outHeight * g.outWidth
        try launch("conv2d direct", file: "conv.cl", operands: [(input, g.batch * g.inChannels * g.height * g.width),
                                                               (weight, g.outChannels * g.inChannels / g.groups * g.kernelHeight * g.kernelWidth),
                                                               (output, total)]) { program, b in
            try run1D(program, "conv2d_direct", [.buffer(b[0].mem), .buffer(b[1].mem), .buffer(b[2].mem)] + Self.convGeometry(g), count: total)
        } fallback: { cpu, b in try cpu.conv2dDirect(g, input: b[0], weight: b[1], output: b[2]) }
    }

    /// Times the direct kernel against im2col + GEMM once per geometry (on scratch data) and
    /// remembers the faster, on disk next to the program cache.
    public func conv2dForwardAlgorithm(_ geometry: Conv2dGeometry) -> ConvAlgorithm {
        let g = geometry
        func candidate(_ algorithm: ConvAlgorithm) -> Scheduler.Candidate {
            var buffers: (any DeviceBuffer, any DeviceBuffer, any DeviceBuffer, any DeviceBuffer)?
            return Scheduler.Candidate(id: algorithm.rawValue) { [self] in
                if buffers == nil {
                    buffers = (try makeBuffer(count: g.batch * g.inChannels * g.height * g.width),
                               try makeBuffer(count: g.outChannels * g.inChannels / g.groups * g.kernelHeight * g.kernelWidth),
                               try makeBuffer(count: g.batch * g.outChannels * g.outHeight * g.outWidth),
                               try makeBuffer(count: algorithm == .direct ? 1 : g.columnRows * g.columnCount))
                    try fill(buffers!.0, value: 0.5, offset: 0, count: buffers!.0.count)
                    try fill(buffers!.1, value: 0.25, offset: 0, count: buffers!.1.count)
                }
                let (input, weight, output, columns) = buffers!
                switch algorithm {
                case .direct:
                    try conv2dDirect(g, input: input, weight: weight, output: output)
                case .im2colGEMM:
                    try im2col(g, input: input, offset: 0, columns: columns)
                    let rows = g.columnRows / g.groups, outs = g.outChannels / g.groups
                    for group in 0 ..< g.groups {
                        var p = GEMMParameters(m: outs, n: g.columnCount, k: rows)
                        p.offsetA = group * outs * rows
                        p.offsetB = group * rows * g.columnCount
                        p.offsetC = group * outs * g.columnCount
                        try gemm(p, a: weight, b: columns, c: output)
                    }
                }
                try synchronize()
            }
        }
        let choice = convScheduler.choose(key: "conv2d forward \(g)", measuredShape: g.description,
                                          candidates: [candidate(.im2colGEMM), candidate(.direct)])
        return ConvAlgorithm(rawValue: choice) ?? .im2colGEMM
    }
}
