import Foundation
import ScalpelCore

/// Fused batch and layer normalisation on the CPU. Every call is one pass (or two: the
/// statistics, then the outputs) per channel or row instead of the ten-odd element-wise passes
/// of the composed operations. fp64 backends and the reference kernels run the generic loops of
/// `NormalizationKernels`; the fast fp32 kernels run the same formulas eight lanes at a time
/// (`NormalizationSIMD`), over the worker pool when a call is large enough.
extension CPUBackend {
    /// Throws for an invalid geometry (`BatchNormGeometry.validate`), a buffer too short or a
    /// channel with a single value (`shapeMismatch`), then runs the kernels per channel:
    /// `NormalizationSIMD` with the fast fp32 kernels (channels split over the worker pool from
    /// `parallelThreshold` elements), `NormalizationKernels` otherwise.
    public func batchNormTraining(_ geometry: BatchNormGeometry, x: any DeviceBuffer, weight: any DeviceBuffer, bias: any DeviceBuffer,
                                  runningMean: any DeviceBuffer, runningVar: any DeviceBuffer,
                                  savedMean: any DeviceBuffer, savedInvStd: any DeviceBuffer, y: any DeviceBuffer) throws {
        let span = ProfileSpan.begin("batchNormTraining"); defer { span?.end() }
        let g = geometry
        try g.validate(op: "batch_norm")
        guard g.perChannel > 1 || g.channels == 0 else {
            throw ScalpelError.shapeMismatch(op: "batch_norm", detail: "training needs more than one value per channel (\(g))")
        }
        let c = g.channels
        let b = try typedBuffers("batch_norm", [(x, g.count), (weight, c), (bias, c), (runningMean, c), (runningVar, c),
                                                (savedMean, c), (savedInvStd, c), (y, g.count)])
        switch precision {
        case .float32:
            let p = b.map(\.pointer)
            let simd = self.simd
            forParts(c, elements: g.count) { channels in
                if simd {
                    NormalizationSIMD.batchNormTraining(g, p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], channels: channels)
                } else {
                    NormalizationKernels.batchNormTraining(g, p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], channels: channels)
                }
            }
        case .float64:
            let p = b.map(\.doublePointer)
            NormalizationKernels.batchNormTraining(g, p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], channels: 0 ..< c)
        }
    }

    /// Throws for an invalid geometry or a buffer too short, then normalises with the running
    /// statistics per channel, with the same kernels and threading as `batchNormTraining`.
    public func batchNormInference(_ geometry: BatchNormGeometry, x: any DeviceBuffer, weight: any DeviceBuffer, bias: any DeviceBuffer,
                                   runningMean: any DeviceBuffer, runningVar: any DeviceBuffer, y: any DeviceBuffer) throws {
        let span = ProfileSpan.begin("batchNormInference"); defer { span?.end() }
        let g = geometry
        try g.validate(op: "batch_norm evaluation")
        let c = g.channels
        let b = try typedBuffers("batch_norm evaluation", [(x, g.count), (weight, c), (bias, c), (runningMean, c), (runningVar, c), (y, g.count)])
        switch precision {
        case .float32:
            let p = b.map(\.pointer)
            let simd = self.simd
            forParts(c, elements: g.count) { channels in
                if simd {
                    NormalizationSIMD.batchNormInference(g, p[0], p[1], p[2], p[3], p[4], p[5], channels: channels)
                } else {
                    NormalizationKernels.batchNormInference(g, p[0], p[1], p[2], p[3], p[4], p[5], channels: channels)
                }
            }
        case .float64:
            let p = b.map(\.doublePointer)
            NormalizationKernels.batchNormInference(g, p[0], p[1], p[2], p[3], p[4], p[5], channels: 0 ..< c)
        }
    }

    /// Throws for an invalid geometry or a buffer too short (y is checked and read only when
    /// `relu`), then computes the gradients per channel with the same kernels and threading as
    /// `batchNormTraining`.
    public func batchNormBackward(_ geometry: BatchNormGeometry, training: Bool, x: any DeviceBuffer, weight: any DeviceBuffer, y: any DeviceBuffer,
                                  dy: any DeviceBuffer, mean: any DeviceBuffer, statistic: any DeviceBuffer,
                                  dx: (any DeviceBuffer)?, dWeight: any DeviceBuffer, dBias: any DeviceBuffer) throws {
        let span = ProfileSpan.begin("batchNormBackward"); defer { span?.end() }
        let g = geometry
        try g.validate(op: "batch_norm backward")
        let c = g.channels
        let b = try typedBuffers("batch_norm backward", [(x, g.count), (weight, c), (y, g.relu ? g.count : 0), (dy, g.count), (mean, c),
                                                         (statistic, c), (dWeight, c), (dBias, c)])
        let dxBuffer = try dx.map { try typedBuffers("batch_norm backward", [($0, g.count)])[0] }
        switch precision {
        case .float32:
            let p = b.map(\.pointer), dxp = dxBuffer?.pointer
            let simd = self.simd
            forParts(c, elements: g.count) { channels in
                if simd {
                    NormalizationSIMD.batchNormBackward(g, training: training, p[0], p[1], p[2], p[3], p[4], p[5], dxp, p[6], p[7], channels: channels)
                } else {
                    NormalizationKernels.batchNormBackward(g, training: training, p[0], p[1], p[2], p[3], p[4], p[5], dxp, p[6], p[7], channels: channels)
                }
            }
        case .float64:
            let p = b.map(\.doublePointer)
            NormalizationKernels.batchNormBackward(g, training: training, p[0], p[1], p[2], p[3], p[4], p[5], dxBuffer?.doublePointer, p[6], p[7],
                                                   channels: 0 ..< c)
        }
    }

    /// Throws for an invalid geometry or a buffer too short, then normalises each row:
    /// `NormalizationSIMD` with the fast fp32 kernels (rows split over the worker pool from
    /// `parallelThreshold` elements), `NormalizationKernels` otherwise.
    public func layerNorm(_ geometry: LayerNormGeometry, x: any DeviceBuffer, weight: any DeviceBuffer, bias: any DeviceBuffer,
                          y: any DeviceBuffer, mean: any DeviceBuffer, rstd: any DeviceBuffer) throws {
        let span = ProfileSpan.begin("layerNorm"); defer { span?.end() }
        let g = geometry
        try g.validate(op: "layer_norm")
        let b = try typedBuffers("layer_norm", [(x, g.count), (weight, g.features), (bias, g.features), (y, g.count), (mean, g.rows), (rstd, g.rows)])
        switch precision {
        case .float32:
            let p = b.map(\.pointer)
            let simd = self.simd
            forParts(g.rows, elements: g.count) { rows in
                if simd {
                    NormalizationSIMD.layerNorm(g, p[0], p[1], p[2], p[3], p[4], p[5], rows: rows)
                } else {
                    NormalizationKernels.layerNorm(g, p[0], p[1], p[2], p[3], p[4], p[5], rows: rows)
                }
            }
        case .float64:
            let p = b.map(\.doublePointer)
            NormalizationKernels.layerNorm(g, p[0], p[1], p[2], p[3], p[4], p[5], rows: 0 ..< g.rows)
        }
    }

    /// Throws for an invalid geometry or a buffer too short among those given, then computes dx per
    /// row (SIMD and threaded as in `layerNorm`) and dWeight and dBias in one single-threaded pass
    /// of `NormalizationKernels`.
    public func layerNormBackward(_ geometry: LayerNormGeometry, x: any DeviceBuffer, weight: any DeviceBuffer, dy: any DeviceBuffer,
                                  mean: any DeviceBuffer, rstd: any DeviceBuffer,
                                  dx: (any DeviceBuffer)?, dWeight: (any DeviceBuffer)?, dBias: (any DeviceBuffer)?) throws {
        let span = ProfileSpan.begin("layerNormBackward"); defer { span?.end() }
        let g = geometry
        try g.validate(op: "layer_norm backward")
        let b = try typedBuffers("layer_norm backward", [(x, g.count), (weight, g.features), (dy, g.count), (mean, g.rows), (rstd, g.rows)])
        let wanted: [((any DeviceBuffer)?, Int)] = [(dx, g.count), (dWeight, g.features), (dBias, g.features)]
        let outputs = try wanted.map { buffer, count -> CPUBuffer? in
            try buffer.map { try typedBuffers("layer_norm backward", [($0, count)])[0] }
        }
        switch precision {
        case .float32:
            let p = b.map(\.pointer), o = outputs.map { $0?.pointer }
            if let dxp = o[0] {
                let simd = self.simd
                forParts(g.rows, elements: g.count) { rows in
                    if simd {
                        NormalizationSIMD.layerNormBackwardInput(g, p[0], p[1], p[2], p[3], p[4], dxp, rows: rows)
                    } else {
                        NormalizationKernels.layerNormBackwardInput(g, p[0], p[1], p[2], p[3], p[4], dxp, rows: rows)
                    }
                }
            }
            if o[1] != nil || o[2] != nil {
                NormalizationKernels.layerNormBackwardParameters(g, p[0], p[2], p[3], p[4], o[1], o[2])
            }
        case .float64:
            let p = b.map(\.doublePointer), o = outputs.map { $0?.doublePointer }
            if let dxp = o[0] { NormalizationKernels.layerNormBackwardInput(g, p[0], p[1], p[2], p[3], p[4], dxp, rows: 0 ..< g.rows) }
            if o[1] != nil || o[2] != nil {
                NormalizationKernels.layerNormBackwardParameters(g, p[0], p[2], p[3], p[4], o[1], o[2])
            }
        }
    }
}

/// The normalisation kernels as plain loops, generic over Float and Double: the reference the
/// OpenCL and SIMD kernels are tested against, and the fp64 path of gradient checks. Sums are
/// formed in Double whatever T is. Layouts: x, y, dy, dx (N, C, L) for batch normalisation —
/// channel c of batch entry n is the contiguous run x[(n·C + c)·L ..< +L] — and (rows,
/// features) for layer normalisation; statistics, weights and biases one value per channel,
/// row or feature.
enum NormalizationKernels {
    typealias Scalar = TensorKernels.Scalar

    /// Σ over channel c's N·L values of f(value index within x).
    @inline(__always)
    static func channelSum(_ g: BatchNormGeometry, _ c: Int, _ f: (Int) -> Double) -> Double {
        var total = 0.0
        for n in 0 ..< g.batch {
            let base = (n * g.channels + c) * g.spatial
            for l in 0 ..< g.spatial { total += f(base + l) }
        }
        return total
    }

    static func batchNormTraining<T: Scalar>(_ g: BatchNormGeometry, _ x: UnsafePointer<T>, _ weight: UnsafePointer<T>, _ bias: UnsafePointer<T>,
                                             _ runningMean: UnsafeMutablePointer<T>, _ runningVar: UnsafeMutablePointer<T>,
                                             _ savedMean: UnsafeMutablePointer<T>, _ savedInvStd: UnsafeMutablePointer<T>,
                                             _ y: UnsafeMutablePointer<T>, channels: Range<Int>) {
        let m = Double(g.perChannel)
        for c in channels {
            let mean = channelSum(g, c) { Double(x[$0]) } / m
            let variance = channelSum(g, c) { let d = Double(x[$0]) - mean; return d * d } / m
            let invStd = 1 / (variance + Double(g.epsilon)).squareRoot()
            savedMean[c] = T(mean)
            savedInvStd[c] = T(invStd)
            let momentum = T(g.momentum)
            runningMean[c] = momentum * T(mean) + (1 - momentum) * runningMean[c]
            runningVar[c] = momentum * (T(variance) * (T(m) / T(m - 1))) + (1 - momentum) * runningVar[c]
            normalizeChannel(g, c, x, T(mean), T(invStd), weight[c], bias[c], y)
        }
    }

    static func batchNormInference<T: Scalar>(_ g: BatchNormGeometry, _ x: UnsafePointer<T>, _ weight: UnsafePointer<T>, _ bias: UnsafePointer<T>,
                                              _ runningMean: UnsafePointer<T>, _ runningVar: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>,
                                              channels: Range<Int>) {
        for c in channels {
            normalizeChannel(g, c, x, runningMean[c], 1 / (runningVar[c] + T(g.epsilon)).squareRoot(), weight[c], bias[c], y)
        }
    }

    /// y = (x − mean)·invStd·w + b over channel c (then max(0, ·) when fused with ReLU).
    @inline(__always)
    static func normalizeChannel<T: Scalar>(_ g: BatchNormGeometry, _ c: Int, _ x: UnsafePointer<T>, _ mean: T, _ invStd: T, _ w: T, _ b: T,
                                            _ y: UnsafeMutablePointer<T>) {
        for n in 0 ..< g.batch {
            let base = (n * g.channels + c) * g.spatial
            for l in base ..< base + g.spatial {
                let v = (x[l] - mean) * invStd * w + b
                y[l] = g.relu && !(v > 0) ? 0 : v
            }
        }
    }

    static func batchNormBackward<T: Scalar>(_ g: BatchNormGeometry, training: Bool, _ x: UnsafePointer<T>, _ weight: UnsafePointer<T>,
                                             _ y: UnsafePointer<T>, _ dy: UnsafePointer<T>, _ mean: UnsafePointer<T>, _ statistic: UnsafePointer<T>,
                                             _ dx: UnsafeMutablePointer<T>?, _ dWeight: UnsafeMutablePointer<T>, _ dBias: UnsafeMutablePointer<T>,
                                             channels: Range<Int>) {
        let m = Double(g.perChannel)
        for c in channels {
            let mu = Double(mean[c])
            let invStd = training ? Double(statistic[c]) : 1 / (Double(statistic[c]) + Double(g.epsilon)).squareRoot()
            // dy′: dy where the fused ReLU passed its input on, 0 where it clamped.
            let grad: (Int) -> Double = { i in g.relu && !(y[i] > 0) ? 0 : Double(dy[i]) }
            let sumG = channelSum(g, c, grad)
            let sumGX = channelSum(g, c) { grad($0) * (Double(x[$0]) - mu) * invStd }
            dWeight[c] = T(sumGX)
            dBias[c] = T(sumG)
            guard let dx else { continue }
            let scale = Double(weight[c]) * invStd
            for n in 0 ..< g.batch {
                let base = (n * g.channels + c) * g.spatial
                for i in base ..< base + g.spatial {
                    let value = training ? grad(i) - (sumG + (Double(x[i]) - mu) * invStd * sumGX) / m : grad(i)
                    dx[i] = T(scale * value)
                }
            }
        }
    }

    static func layerNorm<T: Scalar>(_ g: LayerNormGeometry, _ x: UnsafePointer<T>, _ weight: UnsafePointer<T>, _ bias: UnsafePointer<T>,
                                     _ y: UnsafeMutablePointer<T>, _ mean: UnsafeMutablePointer<T>, _ rstd: UnsafeMutablePointer<T>,
                                     rows: Range<Int>) {
        let f = g.features
        for r in rows {
            let row = x + r * f, out = y + r * f
            var total = 0.0
            for j in 0 ..< f { total += Double(row[j]) }
            let mu = total / Double(f)
            var squares = 0.0
            for j in 0 ..< f { let d = Double(row[j]) - mu; squares += d * d }
            let inv = 1 / (squares / Double(f) + Double(g.epsilon)).squareRoot()
            mean[r] = T(mu)
            rstd[r] = T(inv)
            let (m, s) = (T(mu), T(inv))
            for j in 0 ..< f { out[j] = (row[j] - m) * s * weight[j] + bias[j] }
        }
    }

    static func layerNormBackwardInput<T: Scalar>(_ g: LayerNormGeometry, _ x: UnsafePointer<T>, _ weight: UnsafePointer<T>, _ dy: UnsafePointer<T>,
                                                  _ mean: UnsafePointer<T>, _ rstd: UnsafePointer<T>, _ dx: UnsafeMutablePointer<T>,
                                                  rows: Range<Int>) {
        let f = g.features
        for r in rows {
            let row = x + r * f, d = dy + r * f, out = dx + r * f
            let (mu, inv) = (Double(mean[r]), Double(rstd[r]))
            var sumG = 0.0, sumGX = 0.0
            for j in 0 ..< f {
                let gj = Double(d[j]) * Double(weight[j])
                sumG += gj
                sumGX += gj * (Double(row[j]) - mu) * inv
            }
            let (meanG, meanGX) = (sumG / Double(f), sumGX / Double(f))
            for j in 0 ..< f {
                out[j] = T(inv * (Double(d[j]) * Double(weight[j]) - meanG - (Double(row[j]) - mu) * inv * meanGX))
            }
        }
    }

    /// dWeight[f] = Σ_r dy·x̂ and dBias[f] = Σ_r dy, rows in order (deterministic).
    static func layerNormBackwardParameters<T: Scalar>(_ g: LayerNormGeometry, _ x: UnsafePointer<T>, _ dy: UnsafePointer<T>,
                                                       _ mean: UnsafePointer<T>, _ rstd: UnsafePointer<T>,
                                                       _ dWeight: UnsafeMutablePointer<T>?, _ dBias: UnsafeMutablePointer<T>?) {
        let f = g.features
        var sumW = [Double](repeating: 0, count: f), sumB = [Double](repeating: 0, count: f)
        for r in 0 ..< g.rows {
            let row = x + r * f, d = dy + r * f
            let (mu, inv) = (Double(mean[r]), Double(rstd[r]))
            for j in 0 ..< f {
                sumW[j] += Double(d[j]) * (Double(row[j]) - mu) * inv
                sumB[j] += Double(d[j])
            }
        }
        for j in 0 ..< f {
            dWeight?[j] = T(sumW[j])
            dBias?[j] = T(sumB[j])
        }
    }
}

/// The fp32 normalisation kernels eight lanes at a time (the fast CPU kernels): the formulas
/// of `NormalizationKernels`, each contiguous run of a channel or row summed in SIMD8 lanes
/// whose totals are carried on in Double.
enum NormalizationSIMD {
    typealias V = SIMD8<Float>

    @inline(__always)
    static func load(_ p: UnsafePointer<Float>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }

    @inline(__always)
    static func store(_ v: V, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self) }

    /// Σ p[0..<n].
    @inline(__always)
    static func sum(_ p: UnsafePointer<Float>, _ n: Int) -> Double {
        var acc = V(), i = 0
        while i + 8 <= n { acc += load(p + i); i += 8 }
        var total = Double(acc.sum())
        while i < n { total += Double(p[i]); i += 1 }
        return total
    }

    /// Σ (p[i] − mean)² over 0..<n.
    @inline(__always)
    static func squaredDeviations(_ p: UnsafePointer<Float>, _ n: Int, _ mean: Float) -> Double {
        var acc = V(), i = 0
        let m = V(repeating: mean)
        while i + 8 <= n { let d = load(p + i) - m; acc += d * d; i += 8 }
        var total = Double(acc.sum())
        while i < n { let d = Double(p[i] - mean); total += d * d; i += 1 }
        return total
    }

    /// out = (x − mean)·scale + shift over 0..<n, clamped at 0 when `relu`.
    @inline(__always)
    static func affine(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ n: Int, mean: Float, invStd: Float, weight: Float,
                       bias: Float, relu: Bool) {
        let (m, s, w, b, zero) = (V(repeating: mean), V(repeating: invStd), V(repeating: weight), V(repeating: bias), V())
        var i = 0
        while i + 8 <= n {
            var v = (load(x + i) - m) * s * w + b
            if relu { v.replace(with: zero, where: .!(v .> zero)) }
            store(v, out + i)
            i += 8
        }
        while i < n {
            let v = (x[i] - mean) * invStd * weight + bias
            out[i] = relu && !(v > 0) ? 0 : v
            i += 1
        }
    }

    static func batchNormTraining(_ g: BatchNormGeometry, _ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, _ bias: UnsafePointer<Float>,
                                  _ runningMean: UnsafeMutablePointer<Float>, _ runningVar: UnsafeMutablePointer<Float>,
                                  _ savedMean: UnsafeMutablePointer<Float>, _ savedInvStd: UnsafeMutablePointer<Float>,
                                  _ y: UnsafeMutablePointer<Float>, channels: Range<Int>) {
        let (L, m) = (g.spatial, Double(g.perChannel))
        for c in channels {
            var total = 0.0
            for n in 0 ..< g.batch { total += sum(x + (n * g.channels + c) * L, L) }
            let mean = Float(total / m)
            var squares = 0.0
            for n in 0 ..< g.batch { squares += squaredDeviations(x + (n * g.channels + c) * L, L, mean) }
            let variance = squares / m
            let invStd = Float(1 / (variance + Double(g.epsilon)).squareRoot())
            savedMean[c] = mean
            savedInvStd[c] = invStd
            runningMean[c] = g.momentum * mean + (1 - g.momentum) * runningMean[c]
            runningVar[c] = g.momentum * (Float(variance) * (Float(m) / Float(m - 1))) + (1 - g.momentum) * runningVar[c]
            for n in 0 ..< g.batch {
                let base = (n * g.channels + c) * L
                affine(x + base, y + base, L, mean: mean, invStd: invStd, weight: weight[c], bias: bias[c], relu: g.relu)
            }
        }
    }

    static func batchNormInference(_ g: BatchNormGeometry, _ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, _ bias: UnsafePointer<Float>,
                                   _ runningMean: UnsafePointer<Float>, _ runningVar: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                                   channels: Range<Int>) {
        for c in channels {
            let invStd = 1 / (runningVar[c] + g.epsilon).squareRoot()
            for n in 0 ..< g.batch {
                let base = (n * g.channels + c) * g.spatial
                affine(x + base, y + base, g.spatial, mean: runningMean[c], invStd: invStd, weight: weight[c], bias: bias[c], relu: g.relu)
            }
        }
    }

    static func batchNormBackward(_ g: BatchNormGeometry, training: Bool, _ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>,
                                  _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ mean: UnsafePointer<Float>, _ statistic: UnsafePointer<Float>,
                                  _ dx: UnsafeMutablePointer<Float>?, _ dWeight: UnsafeMutablePointer<Float>, _ dBias: UnsafeMutablePointer<Float>,
                                  channels: Range<Int>) {
        let (L, m) = (g.spatial, Float(g.perChannel))
        let zero = V()
        for c in channels {
            let mu = mean[c]
            let invStd = training ? statistic[c] : 1 / (statistic[c] + g.epsilon).squareRoot()
            let (muV, sV) = (V(repeating: mu), V(repeating: invStd))
            var sumG = 0.0, sumGX = 0.0
            for n in 0 ..< g.batch {
                let base = (n * g.channels + c) * L
                var accG = V(), accGX = V(), i = 0
                while i + 8 <= L {
                    var gv = load(dy + base + i)
                    if g.relu { gv.replace(with: zero, where: .!(load(y + base + i) .> zero)) }
                    accG += gv
                    accGX += gv * ((load(x + base + i) - muV) * sV)
                    i += 8
                }
                sumG += Double(accG.sum())
                sumGX += Double(accGX.sum())
                while i < L {
                    let gv = g.relu && !(y[base + i] > 0) ? 0 : dy[base + i]
                    sumG += Double(gv)
                    sumGX += Double(gv * ((x[base + i] - mu) * invStd))
                    i += 1
                }
            }
            dWeight[c] = Float(sumGX)
            dBias[c] = Float(sumG)
            guard let dx else { continue }
            let scale = weight[c] * invStd
            // Training: dx = scale·(dy′ − (ΣG + x̂·ΣGX)/M); evaluation: scale·dy′.
            let (a, b) = training ? (Float(sumG) / m, Float(sumGX) / m) : (0, 0)
            let (aV, bV, scaleV) = (V(repeating: a), V(repeating: b), V(repeating: scale))
            for n in 0 ..< g.batch {
                let base = (n * g.channels + c) * L
                var i = 0
                while i + 8 <= L {
                    var gv = load(dy + base + i)
                    if g.relu { gv.replace(with: zero, where: .!(load(y + base + i) .> zero)) }
                    store(scaleV * (gv - (aV + (load(x + base + i) - muV) * sV * bV)), dx + base + i)
                    i += 8
                }
                while i < L {
                    let gv = g.relu && !(y[base + i] > 0) ? 0 : dy[base + i]
                    dx[base + i] = scale * (gv - (a + (x[base + i] - mu) * invStd * b))
                    i += 1
                }
            }
        }
    }

    static func layerNorm(_ g: LayerNormGeometry, _ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, _ bias: UnsafePointer<Float>,
                          _ y: UnsafeMutablePointer<Float>, _ mean: UnsafeMutablePointer<Float>, _ rstd: UnsafeMutablePointer<Float>,
                          rows: Range<Int>) {
        let f = g.features
        for r in rows {
            let row = x + r * f, out = y + r * f
            let mu = Float(sum(row, f) / Double(f))
            let inv = Float(1 / (squaredDeviations(row, f, mu) / Double(f) + Double(g.epsilon)).squareRoot())
            mean[r] = mu
            rstd[r] = inv
            let (m, s) = (V(repeating: mu), V(repeating: inv))
            var j = 0
            while j + 8 <= f {
                store((load(row + j) - m) * s * load(weight + j) + load(bias + j), out + j)
                j += 8
            }
            while j < f { out[j] = (row[j] - mu) * inv * weight[j] + bias[j]; j += 1 }
        }
    }

    static func layerNormBackwardInput(_ g: LayerNormGeometry, _ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                                       _ mean: UnsafePointer<Float>, _ rstd: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                                       rows: Range<Int>) {
        let f = g.features
        for r in rows {
            let row = x + r * f, d = dy + r * f, out = dx + r * f
            let (mu, inv) = (mean[r], rstd[r])
            let (muV, sV) = (V(repeating: mu), V(repeating: inv))
            var accG = V(), accGX = V(), j = 0
            while j + 8 <= f {
                let gv = load(d + j) * load(weight + j)
                accG += gv
                accGX += gv * ((load(row + j) - muV) * sV)
                j += 8
            }
            var sumG = accG.sum(), sumGX = accGX.sum()
            while j < f {
                let gv = d[j] * weight[j]
                sumG += gv
                sumGX += gv * ((row[j] - mu) * inv)
                j += 1
            }
            let (a, b) = (sumG / Float(f), sumGX / Float(f))
            let (aV, bV) = (V(repeating: a), V(repeating: b))
            j = 0
            while j + 8 <= f {
                store(sV * (load(d + j) * load(weight + j) - aV - (load(row + j) - muV) * sV * bV), out + j)
                j += 8
            }
            while j < f { out[j] = inv * (d[j] * weight[j] - a - (row[j] - mu) * inv * b); j += 1 }
        }
    }
}
