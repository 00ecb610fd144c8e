import Foundation
import RealModule
import ScalpelCore

/// The recurrent cells of the Backend protocol on the CPU. Each call is one pass over
/// (batch, hidden): plain generic loops on the reference backends (Float, and Double for the
/// fp64 truth), and with the fast kernels eight-lane SIMD loops whose exp is a polynomial (a
/// call to libm per element cannot be vectorised; measured 4.5× slower), spread over the worker
/// pool when a step is large enough to pay for waking it.
extension CPUBackend {
    /// Elements (batch·hidden) from which a cell call is split over the worker threads. Measured
    /// here (one core, SIMD loops): ~15 ns per element for the LSTM forward and ~6 for its
    /// backward (libm's expf and tanhf in the generic loop: ~69 and ~24), so 8192 elements are
    /// 50–120 µs of work against a pool round trip of ~16 µs (median, two busy cores).
    static let recurrentParallelThreshold = 8192

    private func checkCell(_ op: String, batch: Int, hidden: Int) throws {
        guard batch >= 0, hidden >= 0 else {
            throw ScalpelError.shapeMismatch(op: op, detail: "batch \(batch) and hidden \(hidden) must be non-negative")
        }
    }

    /// Runs `body(rows)` over 0..<batch, on the pool when the fast kernels run and the call is large.
    private func forRows(batch: Int, hidden: Int, _ body: (Range<Int>) -> Void) {
        let threadCount = kernels == .fast && batch * hidden >= Self.recurrentParallelThreshold ? min(threads, batch) : 1
        if threadCount <= 1 { return body(0 ..< batch) }
        CPUBackend.pool(size: threads).run(threads: threadCount) { t, count in
            body(batch * t / count ..< batch * (t + 1) / count)
        }
    }

    /// Throws `shapeMismatch` for a negative size or a buffer too short, then runs the cell over
    /// the batch's rows: `RecurrentSIMD` with the fast fp32 kernels (rows split over the worker
    /// pool from `recurrentParallelThreshold` elements), `RecurrentKernels` otherwise.
    public func lstmCell(gates: any DeviceBuffer, cPrev: any DeviceBuffer, c: any DeviceBuffer, h: any DeviceBuffer,
                         batch: Int, hidden: Int) throws {
        let span = ProfileSpan.begin("lstmCell"); defer { span?.end() }
        try checkCell("lstm_cell", batch: batch, hidden: hidden)
        let n = batch * hidden
        let b = try typedBuffers("lstm_cell", [(gates, 4 * n), (cPrev, n), (c, n), (h, n)])
        switch precision {
        case .float32:
            let (g, cp, cc, hh) = (b[0].pointer, b[1].pointer, b[2].pointer, b[3].pointer)
            let simd = self.simd
            forRows(batch: batch, hidden: hidden) { rows in
                if simd { RecurrentSIMD.lstmCell(g, cp, cc, hh, rows: rows, hidden: hidden) } else {
                    RecurrentKernels.lstmCell(g, cp, cc, hh, rows: rows, hidden: hidden)
                }
            }
        case .float64:
            RecurrentKernels.lstmCell(b[0].doublePointer, b[1].doublePointer, b[2].doublePointer, b[3].doublePointer, rows: 0 ..< batch, hidden: hidden)
        }
    }

    /// Checks and runs as `lstmCell` does, with the backward loops of `RecurrentSIMD` or
    /// `RecurrentKernels`; dc, when given, must hold batch·hidden values.
    public func lstmCellBackward(gates: any DeviceBuffer, cPrev: any DeviceBuffer, c: any DeviceBuffer, dh: any DeviceBuffer,
                                 dc: (any DeviceBuffer)?, dGates: any DeviceBuffer, dcPrev: any DeviceBuffer, batch: Int, hidden: Int) throws {
        let span = ProfileSpan.begin("lstmCellBackward"); defer { span?.end() }
        try checkCell("lstm_cell backward", batch: batch, hidden: hidden)
        let n = batch * hidden
        let b = try typedBuffers("lstm_cell backward", [(gates, 4 * n), (cPrev, n), (c, n), (dh, n), (dGates, 4 * n), (dcPrev, n)])
        let dcBuffer = try dc.map { try typedBuffers("lstm_cell backward", [($0, n)])[0] }
        switch precision {
        case .float32:
            let (g, cp, cc, dhp, dg, dcp) = (b[0].pointer, b[1].pointer, b[2].pointer, b[3].pointer, b[4].pointer, b[5].pointer)
            let dcp0 = dcBuffer.map { UnsafePointer($0.pointer) }
            let simd = self.simd
            forRows(batch: batch, hidden: hidden) { rows in
                if simd { RecurrentSIMD.lstmCellBackward(g, cp, cc, dhp, dcp0, dg, dcp, rows: rows, hidden: hidden) } else {
                    RecurrentKernels.lstmCellBackward(g, cp, cc, dhp, dcp0, dg, dcp, rows: rows, hidden: hidden)
                }
            }
        case .float64:
            RecurrentKernels.lstmCellBackward(b[0].doublePointer, b[1].doublePointer, b[2].doublePointer, b[3].doublePointer,
                                              dcBuffer.map { UnsafePointer($0.doublePointer) }, b[4].doublePointer, b[5].doublePointer,
                                              rows: 0 ..< batch, hidden: hidden)
        }
    }

    /// Checks and runs as `lstmCell` does, with the GRU loops of `RecurrentSIMD` or
    /// `RecurrentKernels`.
    public func gruCell(gi: any DeviceBuffer, gh: any DeviceBuffer, hPrev: any DeviceBuffer, h: any DeviceBuffer,
                        saved: any DeviceBuffer, batch: Int, hidden: Int) throws {
        let span = ProfileSpan.begin("gruCell"); defer { span?.end() }
        try checkCell("gru_cell", batch: batch, hidden: hidden)
        let n = batch * hidden
        let b = try typedBuffers("gru_cell", [(gi, 3 * n), (gh, 3 * n), (hPrev, n), (h, n), (saved, 3 * n)])
        switch precision {
        case .float32:
            let (pi, ph, hp, hh, s) = (b[0].pointer, b[1].pointer, b[2].pointer, b[3].pointer, b[4].pointer)
            let simd = self.simd
            forRows(batch: batch, hidden: hidden) { rows in
                if simd { RecurrentSIMD.gruCell(pi, ph, hp, hh, s, rows: rows, hidden: hidden) } else {
                    RecurrentKernels.gruCell(pi, ph, hp, hh, s, rows: rows, hidden: hidden)
                }
            }
        case .float64:
            RecurrentKernels.gruCell(b[0].doublePointer, b[1].doublePointer, b[2].doublePointer, b[3].doublePointer, b[4].doublePointer,
                                     rows: 0 ..< batch, hidden: hidden)
        }
    }

    /// Checks and runs as `lstmCell` does, with the GRU backward loops of `RecurrentSIMD` or
    /// `RecurrentKernels`.
    public func gruCellBackward(saved: any DeviceBuffer, gh: any DeviceBuffer, hPrev: any DeviceBuffer, dh: any DeviceBuffer,
                                dgi: any DeviceBuffer, dgh: any DeviceBuffer, dhPrev: any DeviceBuffer, batch: Int, hidden: Int) throws {
        let span = ProfileSpan.begin("gruCellBackward"); defer { span?.end() }
        try checkCell("gru_cell backward", batch: batch, hidden: hidden)
        let n = batch * hidden
        let b = try typedBuffers("gru_cell backward", [(saved, 3 * n), (gh, 3 * n), (hPrev, n), (dh, n), (dgi, 3 * n), (dgh, 3 * n), (dhPrev, n)])
        switch precision {
        case .float32:
            let (s, ph, hp, dhp, dpi, dph, dhPrevP) = (b[0].pointer, b[1].pointer, b[2].pointer, b[3].pointer, b[4].pointer, b[5].pointer, b[6].pointer)
            let simd = self.simd
            forRows(batch: batch, hidden: hidden) { rows in
                if simd { RecurrentSIMD.gruCellBackward(s, ph, hp, dhp, dpi, dph, dhPrevP, rows: rows, hidden: hidden) } else {
                    RecurrentKernels.gruCellBackward(s, ph, hp, dhp, dpi, dph, dhPrevP, rows: rows, hidden: hidden)
                }
            }
        case .float64:
            RecurrentKernels.gruCellBackward(b[0].doublePointer, b[1].doublePointer, b[2].doublePointer, b[3].doublePointer,
                                             b[4].doublePointer, b[5].doublePointer, b[6].doublePointer, rows: 0 ..< batch, hidden: hidden)
        }
    }
}

/// The cells as plain loops over rows `rows` of a batch, generic over Float and Double: the
/// reference the OpenCL and SIMD kernels are tested against. Shapes: LSTM gates (batch,
/// 4·hidden) in PyTorch's order i, f, g, o; GRU gi, gh, saved (batch, 3·hidden) in order r, z,
/// n; every state (batch, hidden).
enum RecurrentKernels {
    typealias Scalar = TensorKernels.Scalar

    /// gates ← (σ(i), σ(f), tanh(g), σ(o)); c = f·cPrev + i·g; h = o·tanh(c).
    static func lstmCell<T: Scalar>(_ gates: UnsafeMutablePointer<T>, _ cPrev: UnsafePointer<T>, _ c: UnsafeMutablePointer<T>,
                                    _ h: UnsafeMutablePointer<T>, rows: Range<Int>, hidden: Int) {
        for b in rows {
            let gi = gates + b * 4 * hidden, gf = gi + hidden, gg = gf + hidden, go = gg + hidden
            let row = b * hidden
            for j in 0 ..< hidden {
                let i = TensorKernels.sigmoid(gi[j]), f = TensorKernels.sigmoid(gf[j]), g = T.tanh(gg[j]), o = TensorKernels.sigmoid(go[j])
                let cell = f * cPrev[row + j] + i * g
                gi[j] = i; gf[j] = f; gg[j] = g; go[j] = o
                c[row + j] = cell
                h[row + j] = o * T.tanh(cell)
            }
        }
    }

    /// With dc_total = dc + dh·o·(1 − tanh²c): dGates = (dc_total·g·i(1−i), dc_total·cPrev·f(1−f),
    /// dc_total·i·(1−g²), dh·tanh(c)·o(1−o)) and dcPrev = dc_total·f.
    static func lstmCellBackward<T: Scalar>(_ gates: UnsafePointer<T>, _ cPrev: UnsafePointer<T>, _ c: UnsafePointer<T>, _ dh: UnsafePointer<T>,
                                            _ dc: UnsafePointer<T>?, _ dGates: UnsafeMutablePointer<T>, _ dcPrev: UnsafeMutablePointer<T>,
                                            rows: Range<Int>, hidden: Int) {
        for b in rows {
            let gi = gates + b * 4 * hidden, gf = gi + hidden, gg = gf + hidden, go = gg + hidden
            let di = dGates + b * 4 * hidden, df = di + hidden, dg = df + hidden, dO = dg + hidden
            let row = b * hidden
            for j in 0 ..< hidden {
                let (i, f, g, o) = (gi[j], gf[j], gg[j], go[j])
                let t = T.tanh(c[row + j]), dhv = dh[row + j]
                let dcv = (dc?[row + j] ?? 0) + dhv * o * (1 - t * t)
                di[j] = dcv * g * i * (1 - i)
                df[j] = dcv * cPrev[row + j] * f * (1 - f)
                dg[j] = dcv * i * (1 - g * g)
                dO[j] = dhv * t * o * (1 - o)
                dcPrev[row + j] = dcv * f
            }
        }
    }

    /// r = σ(gi_r + gh_r), z = σ(gi_z + gh_z), n = tanh(gi_n + r·gh_n), h = (1 − z)·n + z·hPrev;
    /// saved ← (r, z, n).
    static func gruCell<T: Scalar>(_ gi: UnsafePointer<T>, _ gh: UnsafePointer<T>, _ hPrev: UnsafePointer<T>, _ h: UnsafeMutablePointer<T>,
                                   _ saved: UnsafeMutablePointer<T>, rows: Range<Int>, hidden: Int) {
        for b in rows {
            let base = b * 3 * hidden, row = b * hidden
            for j in 0 ..< hidden {
                let r = TensorKernels.sigmoid(gi[base + j] + gh[base + j])
                let z = TensorKernels.sigmoid(gi[base + hidden + j] + gh[base + hidden + j])
                let n = T.tanh(gi[base + 2 * hidden + j] + r * gh[base + 2 * hidden + j])
                saved[base + j] = r; saved[base + hidden + j] = z; saved[base + 2 * hidden + j] = n
                h[row + j] = (1 - z) * n + z * hPrev[row + j]
            }
        }
    }

    /// dn = dh·(1−z)·(1−n²); dz = dh·(hPrev − n)·z(1−z); dr = dn·gh_n·r(1−r):
    /// dgi = (dr, dz, dn), dgh = (dr, dz, dn·r), dhPrev = dh·z.
    static func gruCellBackward<T: Scalar>(_ saved: UnsafePointer<T>, _ gh: UnsafePointer<T>, _ hPrev: UnsafePointer<T>, _ dh: UnsafePointer<T>,
                                           _ dgi: UnsafeMutablePointer<T>, _ dgh: UnsafeMutablePointer<T>, _ dhPrev: UnsafeMutablePointer<T>,
                                           rows: Range<Int>, hidden: Int) {
        for b in rows {
            let base = b * 3 * hidden, row = b * hidden
            for j in 0 ..< hidden {
                let (r, z, n) = (saved[base + j], saved[base + hidden + j], saved[base + 2 * hidden + j])
                let dhv = dh[row + j]
                let dn = dhv * (1 - z) * (1 - n * n)
                let dz = dhv * (hPrev[row + j] - n) * z * (1 - z)
                let dr = dn * gh[base + 2 * hidden + j] * r * (1 - r)
                dgi[base + j] = dr; dgi[base + hidden + j] = dz; dgi[base + 2 * hidden + j] = dn
                dgh[base + j] = dr; dgh[base + hidden + j] = dz; dgh[base + 2 * hidden + j] = dn * r
                dhPrev[row + j] = dhv * z
            }
        }
    }
}

/// The fp32 cells eight lanes at a time (the fast CPU kernels). Same formulas as
/// `RecurrentKernels`; exp is `exp8` (within ~2 ulp of libm's), σ and tanh are built on it.
enum RecurrentSIMD {
    typealias V = SIMD8<Float>

    @inline(__always)
    static func load(_ p: UnsafePointer<Float>, _ lanes: Int) -> V {
        if lanes == 8 { return UnsafeRawPointer(p).loadUnaligned(as: V.self) }
        var v = V()
        for l in 0 ..< lanes { v[l] = p[l] }
        return v
    }

    @inline(__always)
    static func store(_ v: V, _ p: UnsafeMutablePointer<Float>, _ lanes: Int) {
        if lanes == 8 { return UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self) }
        for l in 0 ..< lanes { p[l] = v[l] }
    }

    /// eˣ: x = n·ln2 + r with |r| ≤ ln2/2 (ln2 split in two so that n·ln2 is exact enough),
    /// eʳ by its Taylor polynomial to r⁷ (truncation below 1e-8 relative), then 2ⁿ from the
    /// exponent bits. x is clamped to [−87, 88], where 2ⁿ stays a normal float (σ and tanh
    /// saturate long before). Rounding and the conversion to an integer add 1.5·2²³, which
    /// leaves n in the low mantissa bits: SIMD's own rounding and Float→Int32 conversions
    /// compile to per-lane code at this module's SSE2 baseline (the LSTM cell ran 10× slower
    /// with them).
    @inline(__always)
    static func exp8(_ x: V) -> V {
        let magic = V(repeating: 12_582_912)
        var clamped = x
        clamped.replace(with: -87, where: x .< -87)
        clamped.replace(with: 88, where: x .> 88)
        let shifted = clamped * 1.44269504088896341 + magic
        let n = shifted - magic
        let r = clamped - n * 0.693359375 + n * 2.12194440054690583e-4
        var p = V(repeating: 1.0 / 5040)
        p = p * r + 1.0 / 720
        p = p * r + 1.0 / 120
        p = p * r + 1.0 / 24
        p = p * r + 1.0 / 6
        p = p * r + 0.5
        p = p * r + 1
        p = p * r + 1
        let exponent = (unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- unsafeBitCast(magic, to: SIMD8<Int32>.self) &+ 127) &<< 23
        return p * unsafeBitCast(exponent, to: V.self)
    }

    @inline(__always)
    static func sigmoid8(_ x: V) -> V { 1 / (1 + exp8(-x)) }

    /// tanh: an odd Taylor polynomial for |x| < 0.25 (where 1 − 2/(e²ˣ + 1) would cancel),
    /// 1 − 2/(e^{2|x|} + 1) with the sign restored elsewhere.
    @inline(__always)
    static func tanh8(_ x: V) -> V {
        let negative = x .< 0
        let a = x.replacing(with: -x, where: negative)
        let magnitude = 1 - 2 / (exp8(2 * a) + 1)
        let s = x * x
        var p = V(repeating: -1382.0 / 155925)
        p = p * s + 62.0 / 2835
        p = p * s - 17.0 / 315
        p = p * s + 2.0 / 15
        p = p * s - 1.0 / 3
        let small = x + x * s * p
        return magnitude.replacing(with: -magnitude, where: negative).replacing(with: small, where: a .< 0.25)
    }

    static func lstmCell(_ gates: UnsafeMutablePointer<Float>, _ cPrev: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
                         _ h: UnsafeMutablePointer<Float>, rows: Range<Int>, hidden: Int) {
        for b in rows {
            let gi = gates + b * 4 * hidden, gf = gi + hidden, gg = gf + hidden, go = gg + hidden
            let row = b * hidden
            var j = 0
            while j < hidden {
                let lanes = min(8, hidden - j)
                let i = sigmoid8(load(gi + j, lanes)), f = sigmoid8(load(gf + j, lanes))
                let g = tanh8(load(gg + j, lanes)), o = sigmoid8(load(go + j, lanes))
                let cell = f * load(cPrev + row + j, lanes) + i * g
                store(i, gi + j, lanes); store(f, gf + j, lanes); store(g, gg + j, lanes); store(o, go + j, lanes)
                store(cell, c + row + j, lanes)
                store(o * tanh8(cell), h + row + j, lanes)
                j += 8
            }
        }
    }

    static func lstmCellBackward(_ gates: UnsafePointer<Float>, _ cPrev: UnsafePointer<Float>, _ c: UnsafePointer<Float>, _ dh: UnsafePointer<Float>,
                                 _ dc: UnsafePointer<Float>?, _ dGates: UnsafeMutablePointer<Float>, _ dcPrev: UnsafeMutablePointer<Float>,
                                 rows: Range<Int>, hidden: Int) {
        for b in rows {
            let gi = gates + b * 4 * hidden, gf = gi + hidden, gg = gf + hidden, go = gg + hidden
            let di = dGates + b * 4 * hidden, df = di + hidden, dg = df + hidden, dO = dg + hidden
            let row = b * hidden
            var j = 0
            while j < hidden {
                let lanes = min(8, hidden - j)
                let (i, f, g, o) = (load(gi + j, lanes), load(gf + j, lanes), load(gg + j, lanes), load(go + j, lanes))
                let t = tanh8(load(c + row + j, lanes)), dhv = load(dh + row + j, lanes)
                var dcv = dhv * o * (1 - t * t)
                if let dc { dcv += load(dc + row + j, lanes) }
                store(dcv * g * i * (1 - i), di + j, lanes)
                store(dcv * load(cPrev + row + j, lanes) * f * (1 - f), df + j, lanes)
                store(dcv * i * (1 - g * g), dg + j, lanes)
                store(dhv * t * o * (1 - o), dO + j, lanes)
                store(dcv * f, dcPrev + row + j, lanes)
                j += 8
            }
        }
    }

    static func gruCell(_ gi: UnsafePointer<Float>, _ gh: UnsafePointer<Float>, _ hPrev: UnsafePointer<Float>, _ h: UnsafeMutablePointer<Float>,
                        _ saved: UnsafeMutablePointer<Float>, rows: Range<Int>, hidden: Int) {
        for b in rows {
            let base = b * 3 * hidden, row = b * hidden
            var j = 0
            while j < hidden {
                let lanes = min(8, hidden - j)
                let (r0, z0, n0) = (base + j, base + hidden + j, base + 2 * hidden + j)
                let r = sigmoid8(load(gi + r0, lanes) + load(gh + r0, lanes))
                let z = sigmoid8(load(gi + z0, lanes) + load(gh + z0, lanes))
                let n = tanh8(load(gi + n0, lanes) + r * load(gh + n0, lanes))
                store(r, saved + r0, lanes); store(z, saved + z0, lanes); store(n, saved + n0, lanes)
                store((1 - z) * n + z * load(hPrev + row + j, lanes), h + row + j, lanes)
                j += 8
            }
        }
    }

    static func gruCellBackward(_ saved: UnsafePointer<Float>, _ gh: UnsafePointer<Float>, _ hPrev: UnsafePointer<Float>, _ dh: UnsafePointer<Float>,
                                _ dgi: UnsafeMutablePointer<Float>, _ dgh: UnsafeMutablePointer<Float>, _ dhPrev: UnsafeMutablePointer<Float>,
                                rows: Range<Int>, hidden: Int) {
        for b in rows {
            let base = b * 3 * hidden, row = b * hidden
            var j = 0
            while j < hidden {
                let lanes = min(8, hidden - j)
                let (r0, z0, n0) = (base + j, base + hidden + j, base + 2 * hidden + j)
                let (r, z, n) = (load(saved + r0, lanes), load(saved + z0, lanes), load(saved + n0, lanes))
                let dhv = load(dh + row + j, lanes)
                let dn = dhv * (1 - z) * (1 - n * n)
                let dz = dhv * (load(hPrev + row + j, lanes) - n) * z * (1 - z)
                let dr = dn * load(gh + n0, lanes) * r * (1 - r)
                store(dr, dgi + r0, lanes); store(dz, dgi + z0, lanes); store(dn, dgi + n0, lanes)
                store(dr, dgh + r0, lanes); store(dz, dgh + z0, lanes); store(dn * r, dgh + n0, lanes)
                store(dhv * z, dhPrev + row + j, lanes)
                j += 8
            }
        }
    }
}
