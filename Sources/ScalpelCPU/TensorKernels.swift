import Foundation
import RealModule
import ScalpelCore

/// The CPU's tensor kernels, generic over Float (the CPU backend) and Double (the reference
/// path gradient checks run on). Plain loops: they are the reference the OpenCL kernels are
/// tested against, and fast enough for the CPU backend (these operations are memory-bound).
enum TensorKernels {
    typealias Scalar = Real & BinaryFloatingPoint

    static func unary<T: Scalar>(_ op: UnaryOp, _ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, _ count: Int) {
        switch op {
        case .neg: for i in 0 ..< count { y[i] = -x[i] }
        case .exp: for i in 0 ..< count { y[i] = .exp(x[i]) }
        case .log: for i in 0 ..< count { y[i] = .log(x[i]) }
        case .sqrt: for i in 0 ..< count { y[i] = x[i].squareRoot() }
        case .abs: for i in 0 ..< count { y[i] = Swift.abs(x[i]) }
        case .relu: for i in 0 ..< count { y[i] = x[i] > 0 ? x[i] : 0 }
        case .sigmoid: for i in 0 ..< count { y[i] = sigmoid(x[i]) }
        case .tanh: for i in 0 ..< count { y[i] = .tanh(x[i]) }
        case .gelu: for i in 0 ..< count { y[i] = x[i] * phi(x[i]) }
        case .square: for i in 0 ..< count { y[i] = x[i] * x[i] }
        case .reciprocal: for i in 0 ..< count { y[i] = 1 / x[i] }
        }
    }

    /// σ(x), computed without overflow for large |x|.
    @inline(__always)
    static func sigmoid<T: Scalar>(_ x: T) -> T {
        x >= 0 ? 1 / (1 + .exp(-x)) : .exp(x) / (1 + .exp(x))
    }

    /// Φ(x), the standard normal CDF (exact GELU uses x·Φ(x)).
    @inline(__always)
    static func phi<T: Scalar>(_ x: T) -> T {
        (1 + .erf(x / T(2).squareRoot())) / 2
    }

    static func unaryBackward<T: Scalar>(_ op: UnaryOp, _ x: UnsafePointer<T>, _ y: UnsafePointer<T>, _ dy: UnsafePointer<T>,
                                         _ dx: UnsafeMutablePointer<T>, _ count: Int) {
        switch op {
        case .neg: for i in 0 ..< count { dx[i] = -dy[i] }
        case .exp: for i in 0 ..< count { dx[i] = dy[i] * y[i] }
        case .log: for i in 0 ..< count { dx[i] = dy[i] / x[i] }
        case .sqrt: for i in 0 ..< count { dx[i] = dy[i] / (2 * y[i]) }
        case .abs: for i in 0 ..< count { dx[i] = x[i] > 0 ? dy[i] : (x[i] < 0 ? -dy[i] : 0) }
        case .relu: for i in 0 ..< count { dx[i] = x[i] > 0 ? dy[i] : 0 }
        case .sigmoid: for i in 0 ..< count { dx[i] = dy[i] * y[i] * (1 - y[i]) }
        case .tanh: for i in 0 ..< count { dx[i] = dy[i] * (1 - y[i] * y[i]) }
        case .gelu:
            let norm = 1 / (2 * T.pi).squareRoot()
            for i in 0 ..< count { dx[i] = dy[i] * (phi(x[i]) + x[i] * norm * .exp(-x[i] * x[i] / 2)) }
        case .square: for i in 0 ..< count { dx[i] = dy[i] * 2 * x[i] }
        case .reciprocal: for i in 0 ..< count { dx[i] = -dy[i] * y[i] * y[i] }
        }
    }

    @inline(__always)
    static func apply<T: Scalar>(_ op: BinaryOp, _ a: T, _ b: T) -> T {
        switch op {
        case .add: return a + b
        case .sub: return a - b
        case .mul: return a * b
        case .div: return a / b
        case .maximum: return a.isNaN || b.isNaN ? .nan : Swift.max(a, b)
        case .minimum: return a.isNaN || b.isNaN ? .nan : Swift.min(a, b)
        case .pow: return .pow(a, b)
        case .equal: return a == b ? 1 : 0
        case .notEqual: return a != b ? 1 : 0
        case .less: return a < b ? 1 : 0
        case .lessEqual: return a <= b ? 1 : 0
        case .greater: return a > b ? 1 : 0
        case .greaterEqual: return a >= b ? 1 : 0
        }
    }

    static func binary<T: Scalar>(_ op: BinaryOp, _ a: UnsafePointer<T>, _ b: UnsafePointer<T>, _ out: UnsafeMutablePointer<T>,
                                  _ layout: BroadcastLayout) {
        let count = layout.count
        if layout.isElementwise {
            for i in 0 ..< count { out[i] = apply(op, a[i], b[i]) }
            return
        }
        forEachRun(shape: layout.shape, strides: [layout.stridesA, layout.stridesB, BroadcastLayout.contiguousStrides(layout.shape)]) { offsets, n in
            let (pa, pb, po) = (a + offsets[0], b + offsets[1], out + offsets[2])
            let (sa, sb) = (layout.stridesA.last ?? 0, layout.stridesB.last ?? 0)
            for i in 0 ..< n { po[i] = apply(op, pa[i * sa], pb[i * sb]) }
        }
    }

    /// Calls `body(offsets, n)` for every run of the innermost dimension of `shape`: `offsets`
    /// holds, for each strides array, the element offset of the run's start; `n` is the run's
    /// length. Callers vectorise the run; the odometer over the outer dimensions costs once per run.
    @inline(__always)
    static func forEachRun(shape: [Int], strides: [[Int]], _ body: ([Int], Int) -> Void) {
        let rank = shape.count
        if rank == 0 {
            body([Int](repeating: 0, count: strides.count), 1)
            return
        }
        if shape.contains(0) { return }
        let n = shape[rank - 1]
        var index = [Int](repeating: 0, count: rank - 1)
        var offsets = [Int](repeating: 0, count: strides.count)
        let runs = shape.dropLast().reduce(1, *)
        for _ in 0 ..< runs {
            body(offsets, n)
            var d = rank - 2
            while d >= 0 {
                index[d] += 1
                for k in strides.indices { offsets[k] += strides[k][d] }
                if index[d] < shape[d] { break }
                for k in strides.indices { offsets[k] -= strides[k][d] * index[d] }
                index[d] = 0
                d -= 1
            }
        }
    }

    static func reduce<T: Scalar>(_ op: ReduceOp, _ x: UnsafePointer<T>, _ out: UnsafeMutablePointer<T>, _ outer: Int, _ axis: Int, _ inner: Int,
                                  positions: Range<Int>? = nil) {
        for o in 0 ..< outer {
            for n in positions ?? 0 ..< inner {
                let base = x + o * axis * inner + n
                var acc: T
                switch op {
                case .sum:
                    acc = 0
                    for a in 0 ..< axis { acc += base[a * inner] }
                case .sumOfSquares:
                    acc = 0
                    for a in 0 ..< axis { acc += base[a * inner] * base[a * inner] }
                case .max:
                    acc = -.infinity
                    for a in 0 ..< axis {
                        let v = base[a * inner]
                        if v > acc || v.isNaN { acc = v }
                        if v.isNaN { break }
                    }
                case .argmax:
                    var best = axis > 0 ? base[0] : 0, bestIndex = 0
                    for a in 1 ..< Swift.max(axis, 1) where base[a * inner] > best {
                        best = base[a * inner]
                        bestIndex = a
                    }
                    acc = T(bestIndex)
                }
                out[o * inner + n] = acc
            }
        }
    }

    static func softmax<T: Scalar>(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, _ rows: Int, _ cols: Int, log: Bool) {
        for r in 0 ..< rows {
            let xr = x + r * cols, yr = y + r * cols
            var peak = -T.infinity
            for c in 0 ..< cols { peak = Swift.max(peak, xr[c]) }
            var total: T = 0
            for c in 0 ..< cols { total += .exp(xr[c] - peak) }
            if log {
                let logTotal = T.log(total)
                for c in 0 ..< cols { yr[c] = xr[c] - peak - logTotal }
            } else {
                for c in 0 ..< cols { yr[c] = .exp(xr[c] - peak) / total }
            }
        }
    }

    static func softmaxBackward<T: Scalar>(_ y: UnsafePointer<T>, _ dy: UnsafePointer<T>, _ dx: UnsafeMutablePointer<T>,
                                           _ rows: Int, _ cols: Int, log: Bool) {
        for r in 0 ..< rows {
            let yr = y + r * cols, dyr = dy + r * cols, dxr = dx + r * cols
            if log {
                // y = log softmax: dx = dy − softmax · Σ dy
                var total: T = 0
                for c in 0 ..< cols { total += dyr[c] }
                for c in 0 ..< cols { dxr[c] = dyr[c] - .exp(yr[c]) * total }
            } else {
                // y = softmax: dx = y · (dy − Σ y·dy)
                var dot: T = 0
                for c in 0 ..< cols { dot += yr[c] * dyr[c] }
                for c in 0 ..< cols { dxr[c] = yr[c] * (dyr[c] - dot) }
            }
        }
    }

    static func copy<T: Scalar>(_ spec: StridedCopy, _ src: UnsafePointer<T>, _ dst: UnsafeMutablePointer<T>) {
        let (ss, ds) = (spec.srcStrides.last ?? 1, spec.dstStrides.last ?? 1)
        forEachRun(shape: spec.shape, strides: [spec.srcStrides, spec.dstStrides]) { offsets, n in
            let (s, d) = (src + spec.srcOffset + offsets[0], dst + spec.dstOffset + offsets[1])
            if ss == 1 && ds == 1 {
                d.update(from: s, count: n)
            } else if ss == 0 && ds == 1 {
                d.update(repeating: s[0], count: n)
            } else {
                for i in 0 ..< n { d[i * ds] = s[i * ss] }
            }
        }
    }

    static func gather<T: Scalar>(_ x: UnsafePointer<T>, _ index: UnsafePointer<T>, _ out: UnsafeMutablePointer<T>,
                                  _ outer: Int, _ axis: Int, _ inner: Int, _ count: Int) {
        for o in 0 ..< outer {
            for i in 0 ..< count {
                let k = Int(index[i])
                let valid = k >= 0 && k < axis
                for n in 0 ..< inner { out[(o * count + i) * inner + n] = valid ? x[(o * axis + k) * inner + n] : .nan }
            }
        }
    }

    static func scatterAdd<T: Scalar>(_ dy: UnsafePointer<T>, _ index: UnsafePointer<T>, _ dx: UnsafeMutablePointer<T>,
                                      _ outer: Int, _ axis: Int, _ inner: Int, _ count: Int) {
        for o in 0 ..< outer {
            for i in 0 ..< count {
                let k = Int(index[i])
                guard k >= 0 && k < axis else { continue }
                for n in 0 ..< inner { dx[(o * axis + k) * inner + n] += dy[(o * count + i) * inner + n] }
            }
        }
    }

    static func crossEntropy<T: Scalar>(_ logits: UnsafePointer<T>, _ labels: UnsafePointer<T>, _ weights: UnsafePointer<T>?,
                                        _ probabilities: UnsafeMutablePointer<T>, _ losses: UnsafeMutablePointer<T>,
                                        _ rowWeights: UnsafeMutablePointer<T>, _ rows: Int, _ classes: Int, _ smoothing: T) {
        softmax(logits, probabilities, rows, classes, log: false)
        for r in 0 ..< rows {
            let label = Int(labels[r])
            guard label >= 0 && label < classes, labels[r] == T(label) else {
                losses[r] = .nan
                rowWeights[r] = .nan
                continue
            }
            let z = logits + r * classes
            var peak = -T.infinity
            for c in 0 ..< classes { peak = Swift.max(peak, z[c]) }
            var total: T = 0
            for c in 0 ..< classes { total += .exp(z[c] - peak) }
            let logTotal = peak + T.log(total)
            let w = weights?[label] ?? 1
            var smooth: T = 0
            if smoothing != 0 {
                for c in 0 ..< classes { smooth += (weights?[c] ?? 1) * (z[c] - logTotal) }
            }
            losses[r] = -(1 - smoothing) * w * (z[label] - logTotal) - smoothing / T(classes) * smooth
            rowWeights[r] = w
        }
    }

    static func crossEntropyBackward<T: Scalar>(_ p: UnsafePointer<T>, _ labels: UnsafePointer<T>, _ weights: UnsafePointer<T>?,
                                                _ dLoss: UnsafePointer<T>, _ dLogits: UnsafeMutablePointer<T>,
                                                _ rows: Int, _ classes: Int, _ smoothing: T) {
        var weightTotal: T = 0
        for c in 0 ..< classes { weightTotal += weights?[c] ?? 1 }
        for r in 0 ..< rows {
            let label = Int(labels[r])
            let valid = label >= 0 && label < classes
            let w = valid ? (weights?[label] ?? 1) : .nan
            for j in 0 ..< classes {
                let pj = p[r * classes + j]
                let hard = (1 - smoothing) * w * (pj - (j == label ? 1 : 0))
                let soft = smoothing / T(classes) * (weightTotal * pj - (weights?[j] ?? 1))
                dLogits[r * classes + j] = dLoss[r] * (hard + soft)
            }
        }
    }

    /// log(1 + eˣ) without overflow.
    @inline(__always)
    static func softplus<T: Scalar>(_ x: T) -> T {
        x > 0 ? x + .log(1 + .exp(-x)) : .log(1 + .exp(x))
    }

    static func bce<T: Scalar>(_ x: UnsafePointer<T>, _ y: UnsafePointer<T>, _ posWeight: UnsafePointer<T>?, _ losses: UnsafeMutablePointer<T>,
                               _ count: Int, _ classes: Int) {
        for i in 0 ..< count {
            let pw = posWeight?[i % classes] ?? 1
            losses[i] = pw * y[i] * softplus(-x[i]) + (1 - y[i]) * softplus(x[i])
        }
    }

    static func bceBackward<T: Scalar>(_ x: UnsafePointer<T>, _ y: UnsafePointer<T>, _ posWeight: UnsafePointer<T>?, _ dLoss: UnsafePointer<T>,
                                       _ dx: UnsafeMutablePointer<T>, _ count: Int, _ classes: Int) {
        for i in 0 ..< count {
            let pw = posWeight?[i % classes] ?? 1
            dx[i] = dLoss[i] * (-pw * y[i] * sigmoid(-x[i]) + (1 - y[i]) * sigmoid(x[i]))
        }
    }

    /// PyTorch's SGD and Adam/AdamW update rules, element-wise.
    static func optimizerStep<T: Scalar>(_ s: OptimizerStep, _ p: UnsafeMutablePointer<T>, _ g: UnsafePointer<T>,
                                         _ m: UnsafeMutablePointer<T>, _ v: UnsafeMutablePointer<T>, _ count: Int) {
        let lr = T(s.learningRate), wd = T(s.weightDecay)
        switch s.kind {
        case .sgd:
            let momentum = T(s.beta1), dampening = T(s.dampening)
            for i in 0 ..< count {
                var d = g[i] + wd * p[i]
                if momentum != 0 {
                    m[i] = s.step <= 1 ? d : momentum * m[i] + (1 - dampening) * d
                    d = s.nesterov ? d + momentum * m[i] : m[i]
                }
                p[i] -= lr * d
            }
        case .adam:
            let b1 = T(s.beta1), b2 = T(s.beta2), eps = T(s.epsilon)
            // The corrections in Double, then rounded, exactly as the OpenCL host code does.
            let correction1 = 1 - Foundation.pow(Double(s.beta1), Double(s.step))
            let correction2 = 1 - Foundation.pow(Double(s.beta2), Double(s.step))
            let stepSize = T(Double(s.learningRate) / correction1), root2 = T(correction2.squareRoot())
            for i in 0 ..< count {
                var d = g[i]
                if s.decoupledWeightDecay {
                    p[i] *= 1 - lr * wd
                } else {
                    d += wd * p[i]
                }
                m[i] = b1 * m[i] + (1 - b1) * d
                v[i] = b2 * v[i] + (1 - b2) * d * d
                p[i] -= stepSize * m[i] / (v[i].squareRoot() / root2 + eps)
            }
        }
    }
}

// MARK: Convolution and pooling

extension TensorKernels {
    /// The column rows of the input channels `channels` (all by default): each channel's rows
    /// are its own, so parts of the channels can be filled on different threads.
    static func im2col<T: Scalar>(_ g: Conv2dGeometry, _ input: UnsafePointer<T>, _ columns: UnsafeMutablePointer<T>,
                                  channels: Range<Int>? = nil) {
        let (oh, ow) = (g.outHeight, g.outWidth)
        let columnsPerRow = g.batch * oh * ow
        for c in channels ?? 0 ..< g.inChannels {
            for r in 0 ..< g.kernelHeight {
                for s in 0 ..< g.kernelWidth {
                    let row = columns + ((c * g.kernelHeight + r) * g.kernelWidth + s) * columnsPerRow
                    for n in 0 ..< g.batch {
                        let plane = input + (n * g.inChannels + c) * g.height * g.width
                        for y in 0 ..< oh {
                            let h = y * g.strideH - g.padH + r * g.dilationH
                            let out = row + (n * oh + y) * ow
                            guard h >= 0 && h < g.height else {
                                out.update(repeating: 0, count: ow)
                                continue
                            }
                            if g.strideW == 1 {
                                // w = x + shift: zeros, one contiguous run of the input row, zeros.
                                let shift = s * g.dilationW - g.padW
                                let lo = Swift.min(ow, Swift.max(0, -shift)), hi = Swift.max(lo, Swift.min(ow, g.width - shift))
                                out.update(repeating: 0, count: lo)
                                (out + lo).update(from: plane + h * g.width + lo + shift, count: hi - lo)
                                (out + hi).update(repeating: 0, count: ow - hi)
                                continue
                            }
                            for x in 0 ..< ow {
                                let w = x * g.strideW - g.padW + s * g.dilationW
                                out[x] = w >= 0 && w < g.width ? plane[h * g.width + w] : 0
                            }
                        }
                    }
                }
            }
        }
    }

    /// The input gradient of the channels `channels` (all by default), zeroed and then summed
    /// from their column rows: a channel takes sums from its own rows only, so parts of the
    /// channels can be done on different threads with the same result.
    static func col2im<T: Scalar>(_ g: Conv2dGeometry, _ columns: UnsafePointer<T>, _ gradInput: UnsafeMutablePointer<T>,
                                  channels: Range<Int>? = nil) {
        let (oh, ow) = (g.outHeight, g.outWidth)
        let columnsPerRow = g.batch * oh * ow
        let chosen = channels ?? 0 ..< g.inChannels
        let area = g.height * g.width
        for n in 0 ..< g.batch {
            (gradInput + (n * g.inChannels + chosen.lowerBound) * area).update(repeating: 0, count: chosen.count * area)
        }
        // Scatter in a fixed order: the same sums, in the same order, on every run.
        for c in chosen {
            for r in 0 ..< g.kernelHeight {
                for s in 0 ..< g.kernelWidth {
                    let row = columns + ((c * g.kernelHeight + r) * g.kernelWidth + s) * columnsPerRow
                    for n in 0 ..< g.batch {
                        let plane = gradInput + (n * g.inChannels + c) * g.height * g.width
                        for y in 0 ..< oh {
                            let h = y * g.strideH - g.padH + r * g.dilationH
                            guard h >= 0 && h < g.height else { continue }
                            let source = row + (n * oh + y) * ow
                            if g.strideW == 1 {
                                let shift = s * g.dilationW - g.padW
                                let lo = Swift.min(ow, Swift.max(0, -shift)), hi = Swift.max(lo, Swift.min(ow, g.width - shift))
                                let target = plane + h * g.width + shift
                                for x in lo ..< hi { target[x] += source[x] }
                                continue
                            }
                            for x in 0 ..< ow {
                                let w = x * g.strideW - g.padW + s * g.dilationW
                                if w >= 0 && w < g.width { plane[h * g.width + w] += source[x] }
                            }
                        }
                    }
                }
            }
        }
    }

    static func pool2d<T: Scalar>(_ g: Pool2dGeometry, max: Bool, _ input: UnsafePointer<T>, _ output: UnsafeMutablePointer<T>) {
        let (oh, ow) = (g.outHeight, g.outWidth)
        let area = T(g.kernelHeight * g.kernelWidth)
        for plane in 0 ..< g.batch * g.channels {
            let x = input + plane * g.height * g.width, out = output + plane * oh * ow
            for y in 0 ..< oh {
                for xo in 0 ..< ow {
                    var acc: T = max ? -.infinity : 0
                    for r in 0 ..< g.kernelHeight {
                        let h = y * g.strideH - g.padH + r
                        guard h >= 0 && h < g.height else { continue }
                        for s in 0 ..< g.kernelWidth {
                            let w = xo * g.strideW - g.padW + s
                            guard w >= 0 && w < g.width else { continue }
                            let v = x[h * g.width + w]
                            if max { if v > acc || v.isNaN { acc = v } } else { acc += v }
                        }
                    }
                    out[y * ow + xo] = max ? acc : acc / area
                }
            }
        }
    }

    static func pool2dBackward<T: Scalar>(_ g: Pool2dGeometry, max: Bool, _ input: UnsafePointer<T>, _ output: UnsafePointer<T>,
                                          _ gradOutput: UnsafePointer<T>, _ gradInput: UnsafeMutablePointer<T>) {
        let (oh, ow) = (g.outHeight, g.outWidth)
        let area = T(g.kernelHeight * g.kernelWidth)
        gradInput.update(repeating: 0, count: g.batch * g.channels * g.height * g.width)
        for plane in 0 ..< g.batch * g.channels {
            let x = input + plane * g.height * g.width, dx = gradInput + plane * g.height * g.width
            let out = output + plane * oh * ow, dout = gradOutput + plane * oh * ow
            for y in 0 ..< oh {
                for xo in 0 ..< ow {
                    let grad = dout[y * ow + xo]
                    var routed = false
                    for r in 0 ..< g.kernelHeight where !routed {
                        let h = y * g.strideH - g.padH + r
                        guard h >= 0 && h < g.height else { continue }
                        for s in 0 ..< g.kernelWidth {
                            let w = xo * g.strideW - g.padW + s
                            guard w >= 0 && w < g.width else { continue }
                            if max {
                                // The first position holding the maximum gets the gradient.
                                if x[h * g.width + w] == out[y * ow + xo] {
                                    dx[h * g.width + w] += grad
                                    routed = true
                                    break
                                }
                            } else {
                                dx[h * g.width + w] += grad / area
                            }
                        }
                    }
                }
            }
        }
    }
}

extension TensorKernels {
    static func conv2dDirect<T: Scalar>(_ g: Conv2dGeometry, _ input: UnsafePointer<T>, _ weight: UnsafePointer<T>, _ output: UnsafeMutablePointer<T>) {
        let (oh, ow) = (g.outHeight, g.outWidth)
        let cg = g.inChannels / g.groups, kg = g.outChannels / g.groups
        for n in 0 ..< g.batch {
            for k in 0 ..< g.outChannels {
                let group = k / kg
                let out = output + (n * g.outChannels + k) * oh * ow
                for y in 0 ..< oh {
                    for x in 0 ..< ow {
                        var acc: T = 0
                        for c in 0 ..< cg {
                            let plane = input + (n * g.inChannels + group * cg + c) * g.height * g.width
                            let kernel = weight + (k * cg + c) * g.kernelHeight * g.kernelWidth
                            for r in 0 ..< g.kernelHeight {
                                let h = y * g.strideH - g.padH + r * g.dilationH
                                guard h >= 0 && h < g.height else { continue }
                                for s in 0 ..< g.kernelWidth {
                                    let w = x * g.strideW - g.padW + s * g.dilationW
                                    if w >= 0 && w < g.width { acc += plane[h * g.width + w] * kernel[r * g.kernelWidth + s] }
                                }
                            }
                        }
                        out[y * ow + x] = acc
                    }
                }
            }
        }
    }
}
