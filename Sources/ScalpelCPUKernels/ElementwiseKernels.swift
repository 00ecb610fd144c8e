// Float element-wise loops for the CPU backend's fast path, 8 lanes at a time (AVX2).
// Compiled for the haswell level like the GEMM micro-kernel; ScalpelCPU calls them only after
// its CPU check, and keeps the generic loops (which also serve fp64) for everything else.

/// SIMD versions of the hottest element-wise operations of a training step.
public enum ElementwiseKernels {

    /// y = max(x, 0).
    public static func relu(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        var i = 0
        while i + 8 <= n {
            let v = load8(x, i)
            store8(v.replacing(with: 0, where: v .<= 0), y, i)
            i += 8
        }
        while i < n {
            y[i] = x[i] > 0 ? x[i] : 0
            i += 1
        }
    }

    /// dx = dy where x > 0, else 0 (branch-free: signs are random in training).
    public static func reluBackward(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, _ n: Int) {
        var i = 0
        while i + 8 <= n {
            store8(load8(dy, i).replacing(with: 0, where: load8(x, i) .<= 0), dx, i)
            i += 8
        }
        while i < n {
            dx[i] = x[i] > 0 ? dy[i] : 0
            i += 1
        }
    }

    /// The arithmetic operations with a SIMD path: 0 add, 1 sub, 2 mul, 3 div.
    public static func isArithmetic(_ op: Int) -> Bool { (0 ... 3).contains(op) }

    @inline(__always)
    static func apply(_ op: Int, _ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
        switch op {
        case 0: return a + b
        case 1: return a - b
        case 2: return a * b
        default: return a / b
        }
    }

    @inline(__always)
    static func apply(_ op: Int, _ a: Float, _ b: Float) -> Float {
        switch op {
        case 0: return a + b
        case 1: return a - b
        case 2: return a * b
        default: return a / b
        }
    }

    /// out[r, c] = a[r, c] ⊕ b[r, c] (bRowStride = cols), or ⊕ b[c] (bRowStride = 0, a row
    /// vector broadcast over the rows, as a bias), or with a and b swapped (`bFirst`).
    public static func arithmetic(_ op: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                                  rows: Int, cols: Int, bRowStride: Int, bFirst: Bool) {
        for r in 0 ..< rows {
            let ar = a + r * cols, br = b + r * bRowStride, o = out + r * cols
            var c = 0
            switch (op, bFirst) {
            case (0, _), (2, _):
                while c + 8 <= cols { store8(apply(op, load8(ar, c), load8(br, c)), o, c); c += 8 }
                while c < cols { o[c] = apply(op, ar[c], br[c]); c += 1 }
            case (_, false):
                while c + 8 <= cols { store8(apply(op, load8(ar, c), load8(br, c)), o, c); c += 8 }
                while c < cols { o[c] = apply(op, ar[c], br[c]); c += 1 }
            case (_, true):
                while c + 8 <= cols { store8(apply(op, load8(br, c), load8(ar, c)), o, c); c += 8 }
                while c < cols { o[c] = apply(op, br[c], ar[c]); c += 1 }
            }
        }
    }

    /// y = alpha·x + beta·y (y not read when beta is 0).
    public static func axpby(_ alpha: Float, _ x: UnsafePointer<Float>, _ beta: Float, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        var i = 0
        let va = SIMD8<Float>(repeating: alpha), vb = SIMD8<Float>(repeating: beta)
        if beta == 0 {
            while i + 8 <= n { store8(va * load8(x, i), y, i); i += 8 }
            while i < n { y[i] = alpha * x[i]; i += 1 }
        } else {
            while i + 8 <= n { store8((va * load8(x, i)).addingProduct(vb, load8(y, i)), y, i); i += 8 }
            // The same fused multiply-add as the vector loop: an element's result must not
            // depend on where it falls in the buffer (tensors packed into one flat buffer are
            // updated by one call and must match one call per tensor).
            while i < n { y[i] = (alpha * x[i]).addingProduct(beta, y[i]); i += 1 }
        }
    }

    /// out[c] = Σ_r x[r·stride + c] for c in 0..<cols (stride: the row length, `cols` when
    /// nil): the gradient of a broadcast bias, row by row so loads stay contiguous. A caller
    /// may split the columns over threads: each column is summed in the same order either way.
    public static func sumRows(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, rows: Int, cols: Int, stride: Int? = nil) {
        let stride = stride ?? cols
        out.update(repeating: 0, count: cols)
        for r in 0 ..< rows {
            let xr = x + r * stride
            var c = 0
            while c + 8 <= cols { store8(load8(out, c) + load8(xr, c), out, c); c += 8 }
            while c < cols { out[c] += xr[c]; c += 1 }
        }
    }

    /// Adam / AdamW in place (PyTorch's rule; stepSize = lr/(1−β1ᵗ), root2 = √(1−β2ᵗ)).
    public static func adam(_ p: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>, _ m: UnsafeMutablePointer<Float>,
                            _ v: UnsafeMutablePointer<Float>, _ n: Int, lr: Float, beta1: Float, beta2: Float, eps: Float,
                            weightDecay: Float, decoupled: Bool, stepSize: Float, root2: Float) {
        var i = 0
        let b1 = SIMD8<Float>(repeating: beta1), b2 = SIMD8<Float>(repeating: beta2)
        let c1 = SIMD8<Float>(repeating: 1 - beta1), c2 = SIMD8<Float>(repeating: 1 - beta2)
        let wd = SIMD8<Float>(repeating: weightDecay), shrink = SIMD8<Float>(repeating: 1 - lr * weightDecay)
        let step = SIMD8<Float>(repeating: stepSize), r2 = SIMD8<Float>(repeating: root2), e = SIMD8<Float>(repeating: eps)
        while i + 8 <= n {
            var d = load8(g, i), w = load8(p, i)
            if decoupled { w = w * shrink } else { d = d + wd * w }
            let mi = b1 * load8(m, i) + c1 * d
            let vi = b2 * load8(v, i) + c2 * d * d
            store8(mi, m, i)
            store8(vi, v, i)
            store8(w - step * mi / (vi.squareRoot() / r2 + e), p, i)
            i += 8
        }
        while i < n {
            var d = g[i], w = p[i]
            if decoupled { w *= 1 - lr * weightDecay } else { d += weightDecay * w }
            m[i] = beta1 * m[i] + (1 - beta1) * d
            v[i] = beta2 * v[i] + (1 - beta2) * d * d
            p[i] = w - stepSize * m[i] / (v[i].squareRoot() / root2 + eps)
            i += 1
        }
    }
}

extension ElementwiseKernels {
    /// out[i] = a[i·sa] ⊕ b[i·sb] for i < n, with each stride 0 (broadcast) or 1: the innermost
    /// run of a broadcast operation. `op` as in `arithmetic`.
    public static func arithmeticRun(_ op: Int, _ a: UnsafePointer<Float>, _ sa: Int, _ b: UnsafePointer<Float>, _ sb: Int,
                                     _ out: UnsafeMutablePointer<Float>, _ n: Int) {
        var i = 0
        switch (sa, sb) {
        case (1, 1):
            while i + 8 <= n { store8(apply(op, load8(a, i), load8(b, i)), out, i); i += 8 }
        case (1, 0):
            let vb = SIMD8<Float>(repeating: b[0])
            while i + 8 <= n { store8(apply(op, load8(a, i), vb), out, i); i += 8 }
        case (0, 1):
            let va = SIMD8<Float>(repeating: a[0])
            while i + 8 <= n { store8(apply(op, va, load8(b, i)), out, i); i += 8 }
        default:
            break
        }
        while i < n { out[i] = apply(op, a[i * sa], b[i * sb]); i += 1 }
    }

    /// Non-overlapping 2×2 max pooling of `planes` planes of h×w (h, w even) into (h/2)×(w/2):
    /// eight windows of a row at a time, the rest one by one. Each maximum is `Swift.max`'s
    /// (`b >= a ? b : a`, so a NaN is kept only where it comes first), lane for lane.
    public static func maxPool2x2(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, planes: Int, h: Int, w: Int) {
        let (oh, ow) = (h / 2, w / 2)
        @inline(__always) func larger(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> { a.replacing(with: b, where: b .>= a) }
        for p in 0 ..< planes {
            let xp = x + p * h * w, yp = y + p * oh * ow
            for r in 0 ..< oh {
                let top = xp + 2 * r * w, bottom = top + w, out = yp + r * ow
                var c = 0
                while c + 8 <= ow {
                    let t = loadDeinterleaved(top + 2 * c), b = loadDeinterleaved(bottom + 2 * c)
                    store8(larger(larger(t.even, t.odd), larger(b.even, b.odd)), out, c)
                    c += 8
                }
                while c < ow {
                    out[c] = Swift.max(Swift.max(top[2 * c], top[2 * c + 1]), Swift.max(bottom[2 * c], bottom[2 * c + 1]))
                    c += 1
                }
            }
        }
    }

    /// The gradient of `maxPool2x2`: each output's gradient goes to the first position (in row
    /// order) of its window that holds the maximum; the rest of dx is 0. Eight windows of a row
    /// at a time, the rest one by one.
    public static func maxPool2x2Backward(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                                          _ dx: UnsafeMutablePointer<Float>, planes: Int, h: Int, w: Int) {
        let (oh, ow) = (h / 2, w / 2)
        let zero = SIMD8<Float>()
        // Every dx element written once, without a separate zeroing pass: each window position
        // gets the gradient if it is the first to hold the maximum, else 0.
        for p in 0 ..< planes {
            let xp = x + p * h * w, dxp = dx + p * h * w, yp = y + p * oh * ow, dyp = dy + p * oh * ow
            for r in 0 ..< oh {
                let top = xp + 2 * r * w, bottom = top + w, dTop = dxp + 2 * r * w, dBottom = dTop + w
                var c = 0
                while c + 8 <= ow {
                    let peak = load8(yp, r * ow + c), g = load8(dyp, r * ow + c)
                    let t = loadDeinterleaved(top + 2 * c), b = loadDeinterleaved(bottom + 2 * c)
                    let first = t.even .== peak, second = .!first .& (t.odd .== peak)
                    let rest = .!first .& .!(t.odd .== peak), third = rest .& (b.even .== peak), fourth = rest .& .!(b.even .== peak)
                    storeInterleaved(zero.replacing(with: g, where: first), zero.replacing(with: g, where: second), to: dTop + 2 * c, count: 16)
                    storeInterleaved(zero.replacing(with: g, where: third), zero.replacing(with: g, where: fourth), to: dBottom + 2 * c, count: 16)
                    c += 8
                }
                while c < ow {
                    let peak = yp[r * ow + c], g = dyp[r * ow + c]
                    let (a, b, d) = (top[2 * c] == peak, top[2 * c + 1] == peak, bottom[2 * c] == peak)
                    dTop[2 * c] = a ? g : 0
                    dTop[2 * c + 1] = !a && b ? g : 0
                    dBottom[2 * c] = !a && !b && d ? g : 0
                    dBottom[2 * c + 1] = !a && !b && !d ? g : 0
                    c += 1
                }
            }
        }
    }
}
