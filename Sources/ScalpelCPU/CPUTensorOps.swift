import Foundation
import ScalpelCPUKernels
import ScalpelCore

/// The Backend protocol's tensor operations on the CPU: bounds checks, then the generic
/// kernels of `TensorKernels` in the backend's precision.
extension CPUBackend {
    /// Typed access to buffers after checking ownership and that each holds `needed` elements.
    func typedBuffers(_ op: String, _ list: [(any DeviceBuffer, Int)]) throws -> [CPUBuffer] {
        try list.map { buffer, needed in
            let cpu = try storage(buffer, op: op)
            guard needed <= cpu.count else {
                throw ScalpelError.shapeMismatch(op: op, detail: "needs \(needed) elements, a buffer holds \(cpu.count)")
            }
            return cpu
        }
    }

    /// Writes the value straight into the buffer's memory, in the backend's precision.
    public func fill(_ buffer: any DeviceBuffer, value: Float, offset: Int, count: Int) throws {
        let span = ProfileSpan.begin("fill"); defer { span?.end() }
        let b = try typedBuffers("fill", [(buffer, offset + count)])[0]
        switch precision {
        case .float32: (b.pointer + offset).update(repeating: value, count: count)
        case .float64: (b.doublePointer + offset).update(repeating: Double(value), count: count)
        }
    }

    /// Whether the SIMD loops of ScalpelCPUKernels may run (fp32, fast kernels, a capable CPU):
    /// the one test every fast fp32 path of the backend makes.
    var simd: Bool { precision == .float32 && kernels == .fast }

    /// ReLU with fast kernels runs the SIMD loop `ElementwiseKernels.relu`; every other case, the
    /// plain loops of `TensorKernels`. In fp32 with the fast kernels, a large tensor is split over
    /// the worker threads (`forParts`).
    public func unary(_ op: UnaryOp, x: any DeviceBuffer, y: any DeviceBuffer, count: Int) throws {
        let span = ProfileSpan.begin(op.rawValue); defer { span?.end() }
        let b = try typedBuffers(op.rawValue, [(x, count), (y, count)])
        switch precision {
        case .float32:
            let (xs, ys, relu) = (UnsafePointer(b[0].pointer), b[1].pointer, simd && op == .relu)
            forParts(count, elements: count, alignment: 16) { r in
                if relu {
                    ElementwiseKernels.relu(xs + r.lowerBound, ys + r.lowerBound, r.count)
                } else {
                    TensorKernels.unary(op, xs + r.lowerBound, ys + r.lowerBound, r.count)
                }
            }
        case .float64: TensorKernels.unary(op, b[0].doublePointer, b[1].doublePointer, count)
        }
    }

    /// ReLU with fast kernels runs the SIMD loop `ElementwiseKernels.reluBackward`; every other case,
    /// the plain loops of `TensorKernels`; split over the worker threads as `unary` is.
    public func unaryBackward(_ op: UnaryOp, x: any DeviceBuffer, y: any DeviceBuffer, dy: any DeviceBuffer, dx: any DeviceBuffer, count: Int) throws {
        let span = ProfileSpan.begin("\(op.rawValue) backward"); defer { span?.end() }
        let b = try typedBuffers("\(op.rawValue) backward", [(x, count), (y, count), (dy, count), (dx, count)])
        switch precision {
        case .float32:
            let (xs, ys, dys, dxs) = (UnsafePointer(b[0].pointer), UnsafePointer(b[1].pointer), UnsafePointer(b[2].pointer), b[3].pointer)
            let relu = simd && op == .relu
            forParts(count, elements: count, alignment: 16) { r in
                let o = r.lowerBound
                if relu {
                    ElementwiseKernels.reluBackward(xs + o, dys + o, dxs + o, r.count)
                } else {
                    TensorKernels.unaryBackward(op, xs + o, ys + o, dys + o, dxs + o, r.count)
                }
            }
        case .float64: TensorKernels.unaryBackward(op, b[0].doublePointer, b[1].doublePointer, b[2].doublePointer, b[3].doublePointer, count)
        }
    }

    /// add, sub, mul and div with fast kernels run SIMD loops: row by row when both operands are
    /// dense, or one is and the other repeats a trailing block of at least 8 elements over the
    /// leading dimensions (a bias); else in runs along the last dimension when each operand's
    /// innermost stride is 0 or 1. Every other case runs the plain strided loops of `TensorKernels`.
    public func binary(_ op: BinaryOp, a: any DeviceBuffer, b: any DeviceBuffer, out: any DeviceBuffer, layout: BroadcastLayout) throws {
        let span = ProfileSpan.begin(op.rawValue); defer { span?.end() }
        let extentA = zip(layout.shape, layout.stridesA).map { ($0 - 1) * $1 }.reduce(0, +) + 1
        let extentB = zip(layout.shape, layout.stridesB).map { ($0 - 1) * $1 }.reduce(0, +) + 1
        let count = layout.count
        if count == 0 { return }
        let p = try typedBuffers(op.rawValue, [(a, extentA), (b, extentB), (out, count)])
        if simd && ElementwiseKernels.isArithmetic(Int(op.code)) {
            if let (rows, cols, bRowStride, swapped) = Self.rowBroadcast(layout) {
                let (first, second) = swapped ? (p[1], p[0]) : (p[0], p[1])
                let (fa, sb, out, code) = (UnsafePointer(first.pointer), UnsafePointer(second.pointer), p[2].pointer, Int(op.code))
                if rows == 1 {
                    // Both dense: split the elements over the worker threads.
                    forParts(cols, elements: count, alignment: 16) { r in
                        let o = r.lowerBound
                        ElementwiseKernels.arithmetic(code, fa + o, sb + o, out + o, rows: 1, cols: r.count, bRowStride: 0, bFirst: swapped)
                    }
                } else {
                    // One row broadcast over the rest (a bias): split the rows.
                    forParts(rows, elements: count) { r in
                        let o = r.lowerBound * cols
                        ElementwiseKernels.arithmetic(code, fa + o, sb + r.lowerBound * bRowStride, out + o, rows: r.count, cols: cols,
                                                      bRowStride: bRowStride, bFirst: swapped)
                    }
                }
                return
            }
            let (sa, sb) = (layout.stridesA.last ?? 0, layout.stridesB.last ?? 0)
            if (sa == 0 || sa == 1) && (sb == 0 || sb == 1) {
                // Any other broadcast (a per-channel bias over (N, C, H, W), …): vector runs
                // along the last dimension.
                let (pa, pb, po) = (p[0].pointer, p[1].pointer, p[2].pointer)
                TensorKernels.forEachRun(shape: layout.shape, strides: [layout.stridesA, layout.stridesB, BroadcastLayout.contiguousStrides(layout.shape)]) { o, n in
                    ElementwiseKernels.arithmeticRun(Int(op.code), pa + o[0], sa, pb + o[1], sb, po + o[2], n)
                }
                return
            }
        }
        switch precision {
        case .float32: TensorKernels.binary(op, p[0].pointer, p[1].pointer, p[2].pointer, layout)
        case .float64: TensorKernels.binary(op, p[0].doublePointer, p[1].doublePointer, p[2].doublePointer, layout)
        }
    }

    /// The layouts the SIMD arithmetic covers: both operands full (one row), or one a suffix of
    /// the output's dimensions broadcast over the leading ones (a bias). Returns rows, columns,
    /// the broadcast operand's row stride (0: broadcast) and whether that operand is `a`.
    static func rowBroadcast(_ layout: BroadcastLayout) -> (Int, Int, Int, Bool)? {
        let dense = BroadcastLayout.contiguousStrides(layout.shape), count = layout.count
        if layout.stridesA == dense && layout.stridesB == dense { return (1, count, 0, false) }
        for (full, partial, swapped) in [(layout.stridesA, layout.stridesB, false), (layout.stridesB, layout.stridesA, true)] where full == dense {
            // partial must be 0 on a leading run of dimensions and dense on the rest.
            var split = 0
            while split < partial.count && partial[split] == 0 { split += 1 }
            guard split > 0, Array(partial[split...]) == Array(dense[split...]) else { continue }
            let cols = layout.shape[split...].reduce(1, *)
            guard cols >= 8 else { continue }
            return (count / cols, cols, 0, swapped)
        }
        return nil
    }

    /// A SIMD loop with fast kernels, else plain loops.
    public func axpby(alpha: Float, x: any DeviceBuffer, beta: Float, y: any DeviceBuffer, count: Int) throws {
        let span = ProfileSpan.begin("axpby"); defer { span?.end() }
        let b = try typedBuffers("axpby", [(x, count), (y, count)])
        if simd {
            let (xs, ys) = (UnsafePointer(b[0].pointer), b[1].pointer)
            return forParts(count, elements: count, alignment: 16) { r in
                ElementwiseKernels.axpby(alpha, xs + r.lowerBound, beta, ys + r.lowerBound, r.count)
            }
        }
        switch precision {
        case .float32:
            let (xs, ys) = (b[0].pointer, b[1].pointer)
            if beta == 0 { for i in 0 ..< count { ys[i] = alpha * xs[i] } } else { for i in 0 ..< count { ys[i] = alpha * xs[i] + beta * ys[i] } }
        case .float64:
            let (xs, ys) = (b[0].doublePointer, b[1].doublePointer), (a, c) = (Double(alpha), Double(beta))
            if beta == 0 { for i in 0 ..< count { ys[i] = a * xs[i] } } else { for i in 0 ..< count { ys[i] = a * xs[i] + c * ys[i] } }
        }
    }

    /// Sums with `inner` ≥ 8 run the SIMD row-sum loop once per outer slice with fast kernels; every
    /// other case, the plain loops of `TensorKernels`. In fp32 the outer slices (or, with one,
    /// the output positions) are split over the worker threads from `parallelThreshold` elements:
    /// each output is still formed by one thread in one order, so the result does not change.
    public func reduce(_ op: ReduceOp, x: any DeviceBuffer, out: any DeviceBuffer, outer: Int, axis: Int, inner: Int) throws {
        let span = ProfileSpan.begin("reduce \(op)"); defer { span?.end() }
        let b = try typedBuffers(op.rawValue, [(x, outer * axis * inner), (out, outer * inner)])
        if simd && op == .sum && inner >= 8 {
            let (x, y) = (UnsafePointer(b[0].pointer), b[1].pointer)
            // Split over the outer slices when there are several, else over 16-column strips;
            // each output is summed by one thread in the same order (the same result).
            if outer > 1 {
                forParts(outer, elements: outer * axis * inner) { slices in
                    for o in slices { ElementwiseKernels.sumRows(x + o * axis * inner, y + o * inner, rows: axis, cols: inner) }
                }
            } else {
                forParts(inner, elements: axis * inner, alignment: 16) { columns in
                    ElementwiseKernels.sumRows(x + columns.lowerBound, y + columns.lowerBound, rows: axis, cols: columns.count, stride: inner)
                }
            }
            return
        }
        switch precision {
        case .float32:
            // Over the outer slices when there are several, else over the inner positions.
            let (x, y) = (UnsafePointer(b[0].pointer), b[1].pointer)
            if outer > 1 {
                forParts(outer, elements: outer * axis * inner) { slices in
                    TensorKernels.reduce(op, x + slices.lowerBound * axis * inner, y + slices.lowerBound * inner, slices.count, axis, inner)
                }
            } else {
                forParts(inner, elements: axis * inner) { positions in
                    TensorKernels.reduce(op, x, y, 1, axis, inner, positions: positions)
                }
            }
        case .float64: TensorKernels.reduce(op, b[0].doublePointer, b[1].doublePointer, outer, axis, inner)
        }
    }

    /// The plain loops of `TensorKernels`, row by row, subtracting each row's maximum before `exp`.
    public func softmax(x: any DeviceBuffer, y: any DeviceBuffer, rows: Int, cols: Int, log: Bool) throws {
        let span = ProfileSpan.begin(log ? "logSoftmax" : "softmax"); defer { span?.end() }
        let b = try typedBuffers(log ? "log_softmax" : "softmax", [(x, rows * cols), (y, rows * cols)])
        switch precision {
        case .float32: TensorKernels.softmax(b[0].pointer, b[1].pointer, rows, cols, log: log)
        case .float64: TensorKernels.softmax(b[0].doublePointer, b[1].doublePointer, rows, cols, log: log)
        }
    }

    /// The plain loops of `TensorKernels`, row by row.
    public func softmaxBackward(y: any DeviceBuffer, dy: any DeviceBuffer, dx: any DeviceBuffer, rows: Int, cols: Int, log: Bool) throws {
        let span = ProfileSpan.begin(log ? "logSoftmax backward" : "softmax backward"); defer { span?.end() }
        let b = try typedBuffers("softmax backward", [(y, rows * cols), (dy, rows * cols), (dx, rows * cols)])
        switch precision {
        case .float32: TensorKernels.softmaxBackward(b[0].pointer, b[1].pointer, b[2].pointer, rows, cols, log: log)
        case .float64: TensorKernels.softmaxBackward(b[0].doublePointer, b[1].doublePointer, b[2].doublePointer, rows, cols, log: log)
        }
    }

    /// The plain strided loops of `TensorKernels`.
    public func copy(_ copy: StridedCopy, from source: any DeviceBuffer, to destination: any DeviceBuffer) throws {
        let span = ProfileSpan.begin("copy"); defer { span?.end() }
        if copy.count == 0 { return }
        let b = try typedBuffers("copy", [(source, copy.srcExtent), (destination, copy.dstExtent)])
        switch precision {
        case .float32: TensorKernels.copy(copy, b[0].pointer, b[1].pointer)
        case .float64: TensorKernels.copy(copy, b[0].doublePointer, b[1].doublePointer)
        }
    }

    /// The plain loops of `TensorKernels`; an index outside 0..<axis gives NaN.
    public func gather(x: any DeviceBuffer, index: any DeviceBuffer, out: any DeviceBuffer, outer: Int, axis: Int, inner: Int, count: Int) throws {
        let span = ProfileSpan.begin("gather"); defer { span?.end() }
        let b = try typedBuffers("gather", [(x, outer * axis * inner), (index, count), (out, outer * count * inner)])
        switch precision {
        case .float32: TensorKernels.gather(b[0].pointer, b[1].pointer, b[2].pointer, outer, axis, inner, count)
        case .float64: TensorKernels.gather(b[0].doublePointer, b[1].doublePointer, b[2].doublePointer, outer, axis, inner, count)
        }
    }

    /// The plain loops of `TensorKernels`, adding in index order (deterministic); an index outside
    /// 0..<axis is skipped.
    public func scatterAdd(dy: any DeviceBuffer, index: any DeviceBuffer, dx: any DeviceBuffer, outer: Int, axis: Int, inner: Int, count: Int) throws {
        let span = ProfileSpan.begin("scatterAdd"); defer { span?.end() }
        let b = try typedBuffers("scatter_add", [(dy, outer * count * inner), (index, count), (dx, outer * axis * inner)])
        switch precision {
        case .float32: TensorKernels.scatterAdd(b[0].pointer, b[1].pointer, b[2].pointer, outer, axis, inner, count)
        case .float64: TensorKernels.scatterAdd(b[0].doublePointer, b[1].doublePointer, b[2].doublePointer, outer, axis, inner, count)
        }
    }

    /// The plain loops of `TensorKernels`, row by row.
    public func crossEntropy(logits: any DeviceBuffer, labels: any DeviceBuffer, classWeights: (any DeviceBuffer)?,
                             probabilities: any DeviceBuffer, losses: any DeviceBuffer, rowWeights: any DeviceBuffer,
                             rows: Int, classes: Int, settings: LossSettings) throws {
        let span = ProfileSpan.begin("crossEntropy"); defer { span?.end() }
        let n = rows * classes
        let b = try typedBuffers("cross_entropy", [(logits, n), (labels, rows), (probabilities, n), (losses, rows), (rowWeights, rows)])
        let w = try classWeights.map { try typedBuffers("cross_entropy", [($0, classes)])[0] }
        switch precision {
        case .float32:
            TensorKernels.crossEntropy(b[0].pointer, b[1].pointer, w.map { UnsafePointer($0.pointer) }, b[2].pointer, b[3].pointer, b[4].pointer,
                                       rows, classes, settings.labelSmoothing)
        case .float64:
            TensorKernels.crossEntropy(b[0].doublePointer, b[1].doublePointer, w.map { UnsafePointer($0.doublePointer) }, b[2].doublePointer,
                                       b[3].doublePointer, b[4].doublePointer, rows, classes, Double(settings.labelSmoothing))
        }
    }

    /// The plain loops of `TensorKernels`, row by row.
    public func crossEntropyBackward(probabilities: any DeviceBuffer, labels: any DeviceBuffer, classWeights: (any DeviceBuffer)?,
                                     dLoss: any DeviceBuffer, dLogits: any DeviceBuffer, rows: Int, classes: Int, settings: LossSettings) throws {
        let span = ProfileSpan.begin("crossEntropyBackward"); defer { span?.end() }
        let n = rows * classes
        let b = try typedBuffers("cross_entropy backward", [(probabilities, n), (labels, rows), (dLoss, rows), (dLogits, n)])
        let w = try classWeights.map { try typedBuffers("cross_entropy backward", [($0, classes)])[0] }
        switch precision {
        case .float32:
            TensorKernels.crossEntropyBackward(b[0].pointer, b[1].pointer, w.map { UnsafePointer($0.pointer) }, b[2].pointer, b[3].pointer,
                                               rows, classes, settings.labelSmoothing)
        case .float64:
            TensorKernels.crossEntropyBackward(b[0].doublePointer, b[1].doublePointer, w.map { UnsafePointer($0.doublePointer) }, b[2].doublePointer,
                                               b[3].doublePointer, rows, classes, Double(settings.labelSmoothing))
        }
    }

    /// The plain loops of `TensorKernels`, element by element.
    public func bceWithLogits(logits: any DeviceBuffer, targets: any DeviceBuffer, posWeight: (any DeviceBuffer)?, losses: any DeviceBuffer,
                              count: Int, classes: Int) throws {
        let span = ProfileSpan.begin("bceWithLogits"); defer { span?.end() }
        let b = try typedBuffers("bce_with_logits", [(logits, count), (targets, count), (losses, count)])
        let w = try posWeight.map { try typedBuffers("bce_with_logits", [($0, classes)])[0] }
        switch precision {
        case .float32: TensorKernels.bce(b[0].pointer, b[1].pointer, w.map { UnsafePointer($0.pointer) }, b[2].pointer, count, max(classes, 1))
        case .float64: TensorKernels.bce(b[0].doublePointer, b[1].doublePointer, w.map { UnsafePointer($0.doublePointer) }, b[2].doublePointer, count, max(classes, 1))
        }
    }

    /// The plain loops of `TensorKernels`, element by element.
    public func bceWithLogitsBackward(logits: any DeviceBuffer, targets: any DeviceBuffer, posWeight: (any DeviceBuffer)?, dLoss: any DeviceBuffer,
                                      dLogits: any DeviceBuffer, count: Int, classes: Int) throws {
        let span = ProfileSpan.begin("bceWithLogitsBackward"); defer { span?.end() }
        let b = try typedBuffers("bce_with_logits backward", [(logits, count), (targets, count), (dLoss, count), (dLogits, count)])
        let w = try posWeight.map { try typedBuffers("bce_with_logits backward", [($0, classes)])[0] }
        switch precision {
        case .float32:
            TensorKernels.bceBackward(b[0].pointer, b[1].pointer, w.map { UnsafePointer($0.pointer) }, b[2].pointer, b[3].pointer, count, max(classes, 1))
        case .float64:
            TensorKernels.bceBackward(b[0].doublePointer, b[1].doublePointer, w.map { UnsafePointer($0.doublePointer) }, b[2].doublePointer,
                                      b[3].doublePointer, count, max(classes, 1))
        }
    }

    /// One `reduce(.sumOfSquares)` per segment into a partial sum each, then one `reduce(.sum)` of
    /// the partials.
    public func sumOfSquares(_ x: any DeviceBuffer, segments: [Range<Int>], out: any DeviceBuffer) throws {
        // Each segment's sum, then the sum of those: the order one reduction per tensor gives,
        // so packing the parameters does not change a clipped run's numbers.
        let partial = try makeBuffer(count: Swift.max(segments.count, 1))
        if segments.isEmpty || segments.contains(where: \.isEmpty) { try fill(partial, value: 0, offset: 0, count: partial.count) }
        for (index, segment) in segments.enumerated() where !segment.isEmpty {
            let part = try makeView(of: partial, offset: index, count: 1)
            try reduce(.sumOfSquares, x: try makeView(of: x, offset: segment.lowerBound, count: segment.count), out: part, outer: 1, axis: segment.count, inner: 1)
        }
        try reduce(.sum, x: partial, out: out, outer: 1, axis: partial.count, inner: 1)
    }

    /// Adam/AdamW with fast kernels runs the SIMD loop `ElementwiseKernels.adam`; SGD, and every
    /// other case, runs PyTorch's rules in the plain loops of `TensorKernels`.
    public func optimizerStep(_ step: OptimizerStep, parameter: any DeviceBuffer, gradient: any DeviceBuffer,
                              state1: any DeviceBuffer, state2: any DeviceBuffer, count: Int) throws {
        let span = ProfileSpan.begin("optimizer \(step.kind)"); defer { span?.end() }
        let b = try typedBuffers("optimizer", [(parameter, count), (gradient, count), (state1, count), (state2, count)])
        if simd && step.kind == .adam {
            let correction1 = 1 - Foundation.pow(Double(step.beta1), Double(step.step))
            let correction2 = 1 - Foundation.pow(Double(step.beta2), Double(step.step))
            return ElementwiseKernels.adam(b[0].pointer, b[1].pointer, b[2].pointer, b[3].pointer, count, lr: step.learningRate,
                                           beta1: step.beta1, beta2: step.beta2, eps: step.epsilon, weightDecay: step.weightDecay,
                                           decoupled: step.decoupledWeightDecay, stepSize: Float(Double(step.learningRate) / correction1),
                                           root2: Float(correction2.squareRoot()))
        }
        switch precision {
        case .float32: TensorKernels.optimizerStep(step, b[0].pointer, b[1].pointer, b[2].pointer, b[3].pointer, count)
        case .float64: TensorKernels.optimizerStep(step, b[0].doublePointer, b[1].doublePointer, b[2].doublePointer, b[3].doublePointer, count)
        }
    }
}

extension CPUBackend {
    /// 2×2 windows, stride 2, no padding, even sizes: the CNN's pooling, with a direct loop.
    static func isPlain2x2(_ g: Pool2dGeometry) -> Bool {
        g.kernelHeight == 2 && g.kernelWidth == 2 && g.strideH == 2 && g.strideW == 2 && g.padH == 0 && g.padW == 0
            && g.height % 2 == 0 && g.width % 2 == 0
    }

    /// The plain loops of `TensorKernels`, the input channels split over the worker threads in
    /// fp32 with the fast kernels (each channel fills its own column rows).
    public func im2col(_ geometry: Conv2dGeometry, input: any DeviceBuffer, offset: Int, columns: any DeviceBuffer) throws {
        let span = ProfileSpan.begin("im2col"); defer { span?.end() }
        try geometry.validate()
        let g = geometry
        let b = try typedBuffers("im2col", [(input, offset + g.batch * g.inChannels * g.height * g.width), (columns, g.columnRows * g.columnCount)])
        switch precision {
        case .float32:
            let (source, target) = (UnsafePointer(b[0].pointer + offset), b[1].pointer)
            forParts(g.inChannels, elements: g.columnRows * g.columnCount) { channels in
                TensorKernels.im2col(g, source, target, channels: channels)
            }
        case .float64: TensorKernels.im2col(g, b[0].doublePointer + offset, b[1].doublePointer)
        }
    }

    /// The plain loops of `TensorKernels`: gradInput zeroed, then the columns added in a fixed
    /// order; in fp32 with the fast kernels the input channels are split over the worker threads
    /// (a channel sums its own column rows only, in the same order: the same result).
    public func col2im(_ geometry: Conv2dGeometry, columns: any DeviceBuffer, gradInput: any DeviceBuffer, offset: Int) throws {
        let span = ProfileSpan.begin("col2im"); defer { span?.end() }
        try geometry.validate()
        let g = geometry
        let b = try typedBuffers("col2im", [(columns, g.columnRows * g.columnCount), (gradInput, offset + g.batch * g.inChannels * g.height * g.width)])
        switch precision {
        case .float32:
            let (source, target) = (UnsafePointer(b[0].pointer), b[1].pointer + offset)
            forParts(g.inChannels, elements: g.columnRows * g.columnCount) { channels in
                TensorKernels.col2im(g, source, target, channels: channels)
            }
        case .float64: TensorKernels.col2im(g, b[0].doublePointer, b[1].doublePointer + offset)
        }
    }

    /// Max pooling over plain 2×2 windows (stride 2, no padding, even sizes) with fast kernels runs
    /// the direct loop `ElementwiseKernels.maxPool2x2`, the planes split over the worker threads;
    /// every other case, the plain loops of `TensorKernels`.
    public func pool2d(_ geometry: Pool2dGeometry, max: Bool, input: any DeviceBuffer, output: any DeviceBuffer) throws {
        let span = ProfileSpan.begin(max ? "maxPool2d" : "avgPool2d"); defer { span?.end() }
        try geometry.validate()
        let g = geometry
        let b = try typedBuffers("pool2d", [(input, g.batch * g.channels * g.height * g.width), (output, g.batch * g.channels * g.outHeight * g.outWidth)])
        if simd && max && Self.isPlain2x2(g) {
            // Planes split over the worker threads: each writes only its own output planes.
            let (x, y, h, w) = (b[0].pointer, b[1].pointer, g.height, g.width)
            forParts(g.batch * g.channels, elements: g.batch * g.channels * h * w) { planes in
                ElementwiseKernels.maxPool2x2(x + planes.lowerBound * h * w, y + planes.lowerBound * (h / 2) * (w / 2),
                                              planes: planes.count, h: h, w: w)
            }
            return
        }
        switch precision {
        case .float32: TensorKernels.pool2d(g, max: max, b[0].pointer, b[1].pointer)
        case .float64: TensorKernels.pool2d(g, max: max, b[0].doublePointer, b[1].doublePointer)
        }
    }

    /// Max pooling over plain 2×2 windows (stride 2, no padding, even sizes) with fast kernels runs
    /// the direct loop `ElementwiseKernels.maxPool2x2Backward`, the planes split over the worker
    /// threads; every other case, the plain loops of `TensorKernels`.
    public func pool2dBackward(_ geometry: Pool2dGeometry, max: Bool, input: any DeviceBuffer, output: any DeviceBuffer,
                               gradOutput: any DeviceBuffer, gradInput: any DeviceBuffer) throws {
        let span = ProfileSpan.begin(max ? "maxPool2d backward" : "avgPool2d backward"); defer { span?.end() }
        try geometry.validate()
        let g = geometry
        let inCount = g.batch * g.channels * g.height * g.width, outCount = g.batch * g.channels * g.outHeight * g.outWidth
        let b = try typedBuffers("pool2d backward", [(input, inCount), (output, outCount), (gradOutput, outCount), (gradInput, inCount)])
        if simd && max && Self.isPlain2x2(g) {
            // Planes split over the worker threads: each zeroes and fills only its own gradient planes.
            let (h, w) = (g.height, g.width)
            let (x, y, dy, dx) = (b[0].pointer, b[1].pointer, b[2].pointer, b[3].pointer)
            forParts(g.batch * g.channels, elements: inCount) { planes in
                let (input, output) = (planes.lowerBound * h * w, planes.lowerBound * (h / 2) * (w / 2))
                ElementwiseKernels.maxPool2x2Backward(x + input, y + output, dy + output, dx + input, planes: planes.count, h: h, w: w)
            }
            return
        }
        switch precision {
        case .float32: TensorKernels.pool2dBackward(g, max: max, b[0].pointer, b[1].pointer, b[2].pointer, b[3].pointer)
        case .float64: TensorKernels.pool2dBackward(g, max: max, b[0].doublePointer, b[1].doublePointer, b[2].doublePointer, b[3].doublePointer)
        }
    }
}

extension CPUBackend {
    /// The plain nested loops of `TensorKernels`, one accumulation per output element, single-threaded.
    public func conv2dDirect(_ geometry: Conv2dGeometry, input: any DeviceBuffer, weight: any DeviceBuffer, output: any DeviceBuffer) throws {
        let span = ProfileSpan.begin("conv2dDirect"); defer { span?.end() }
        try geometry.validate()
        let g = geometry
        let b = try typedBuffers("conv2d direct", [(input, g.batch * g.inChannels * g.height * g.width),
                                                   (weight, g.outChannels * g.inChannels / g.groups * g.kernelHeight * g.kernelWidth),
                                                   (output, g.batch * g.outChannels * g.outHeight * g.outWidth)])
        switch precision {
        case .float32: TensorKernels.conv2dDirect(g, b[0].pointer, b[1].pointer, b[2].pointer)
        case .float64: TensorKernels.conv2dDirect(g, b[0].doublePointer, b[1].doublePointer, b[2].doublePointer)
        }
    }
}
