import ScalpelCore

// Recurrent operations: one LSTM or GRU step (the fused cell kernels), and a whole layer
// direction over a sequence (the input projection of every step as one GEMM, then per step one
// GEMM for h·W_hhᵀ and one cell kernel; backward per step one cell kernel and one GEMM, then the
// weight and input gradients of all steps as single GEMMs). Gate orders are PyTorch's: LSTM
// (i, f, g, o), GRU (r, z, n).

/// Gradients that reach the extra outputs of a multi-output operation (an LSTM cell's c, a
/// sequence's final states), held until the backward pass of its primary output reads them.
///
/// The tape has one node per tensor. A multi-output operation records its primary output with
/// the real backward, and each extra output as a node whose only input is the primary. The
/// extra depends on the primary, so its backward runs first: it parks its gradient here and
/// hands the primary a zero gradient, which makes sure the primary's backward runs even when
/// nothing else used the primary. The primary's backward takes what was parked (nil: the extra
/// was not part of the loss).
final class ExtraOutputGradients {
    private var slots: [Tensor?]

    init(count: Int) { slots = Array(repeating: nil, count: count) }

    /// The gradient parked in `slot` during this backward pass, cleared for the next one.
    func take(_ slot: Int) -> Tensor? {
        defer { slots[slot] = nil }
        return slots[slot]
    }

    /// Records `extra` as output `slot` of the operation whose primary output is `primary`.
    func record(_ extra: Tensor, slot: Int, name: String, primary: Tensor) -> Tensor {
        let (shape, backend) = (primary.shape, primary.backend)
        return Tensor.record(extra, name, [primary]) { [self] g in
            slots[slot] = g
            return [try Tensor.zeros(shape, on: backend)]
        }
    }
}

extension Tensor {
    /// One LSTM step, fused: `gates` (batch, 4·hidden) holds the pre-activations
    /// x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh in PyTorch's gate order (i, f, g, o) and `cPrev`
    /// (batch, hidden) the previous cell state. Returns h = σ(o)·tanh(c) and
    /// c = σ(f)·cPrev + σ(i)·tanh(g). Gradients from both h and c flow to gates and cPrev,
    /// through one backward kernel.
    public static func lstmCell(gates: Tensor, cPrev: Tensor) throws -> (h: Tensor, c: Tensor) {
        try gates.sameBackend(cPrev, "lstmCell")
        guard gates.rank == 2, cPrev.rank == 2, gates.shape[1] % 4 == 0, cPrev.shape == [gates.shape[0], gates.shape[1] / 4] else {
            throw ScalpelError.shapeMismatch(op: "lstmCell", detail: "gates \(gates.shape) must be (batch, 4·hidden) and cPrev \(cPrev.shape) (batch, hidden)")
        }
        let backend = gates.backend
        let (batch, hidden) = (cPrev.shape[0], cPrev.shape[1])
        // The kernel turns the pre-activations into activations in place: it works on a copy,
        // which the backward pass reads.
        let activations = try backend.makeBuffer(count: gates.count)
        try backend.copy(StridedCopy(shape: [gates.count], srcStrides: [1], dstStrides: [1]), from: gates.storage, to: activations)
        let h = try Tensor.empty(cPrev.shape, on: backend), c = try Tensor.empty(cPrev.shape, on: backend)
        try backend.lstmCell(gates: activations, cPrev: cPrev.storage, c: c.storage, h: h.storage, batch: batch, hidden: hidden)
        let extras = ExtraOutputGradients(count: 1)
        let cStorage = c.storage // not `c`: its node holds h, whose node holds this closure
        let hOut = Tensor.record(h, "lstmCell", [gates, cPrev]) { g in
            let dc = extras.take(0)
            let dGates = try Tensor.empty(gates.shape, on: backend), dcPrev = try Tensor.empty(cPrev.shape, on: backend)
            try backend.lstmCellBackward(gates: activations, cPrev: cPrev.storage, c: cStorage, dh: g.storage, dc: dc?.storage,
                                         dGates: dGates.storage, dcPrev: dcPrev.storage, batch: batch, hidden: hidden)
            return [dGates, cPrev.requiresGrad ? dcPrev : nil]
        }
        return (hOut, extras.record(c, slot: 0, name: "lstmCell.c", primary: hOut))
    }

    /// One GRU step, fused, as PyTorch defines it: `gi` = x·W_ihᵀ + b_ih and `gh` = h·W_hhᵀ + b_hh,
    /// each (batch, 3·hidden) in gate order (r, z, n), and `hPrev` (batch, hidden). Returns
    /// h = (1 − z)·n + z·hPrev with r = σ(gi_r + gh_r), z = σ(gi_z + gh_z), n = tanh(gi_n + r·gh_n).
    public static func gruCell(gi: Tensor, gh: Tensor, hPrev: Tensor) throws -> Tensor {
        try gi.sameBackend(gh, "gruCell")
        try gi.sameBackend(hPrev, "gruCell")
        guard gi.rank == 2, hPrev.rank == 2, gh.shape == gi.shape, gi.shape[1] % 3 == 0, hPrev.shape == [gi.shape[0], gi.shape[1] / 3] else {
            throw ScalpelError.shapeMismatch(op: "gruCell", detail: "gi \(gi.shape) and gh \(gh.shape) must both be (batch, 3·hidden) and hPrev \(hPrev.shape) (batch, hidden)")
        }
        let backend = gi.backend
        let (batch, hidden) = (hPrev.shape[0], hPrev.shape[1])
        let saved = try backend.makeBuffer(count: gi.count)
        let h = try Tensor.empty(hPrev.shape, on: backend)
        try backend.gruCell(gi: gi.storage, gh: gh.storage, hPrev: hPrev.storage, h: h.storage, saved: saved, batch: batch, hidden: hidden)
        return Tensor.record(h, "gruCell", [gi, gh, hPrev]) { g in
            let dgi = try Tensor.empty(gi.shape, on: backend), dgh = try Tensor.empty(gi.shape, on: backend)
            let dhPrev = try Tensor.empty(hPrev.shape, on: backend)
            try backend.gruCellBackward(saved: saved, gh: gh.storage, hPrev: hPrev.storage, dh: g.storage, dgi: dgi.storage, dgh: dgh.storage,
                                        dhPrev: dhPrev.storage, batch: batch, hidden: hidden)
            return [gi.requiresGrad ? dgi : nil, gh.requiresGrad ? dgh : nil, hPrev.requiresGrad ? dhPrev : nil]
        }
    }

    /// One direction of one LSTM layer over a whole sequence. x is (batch, time, input),
    /// batch first; weightIH (4·hidden, input), weightHH (4·hidden, hidden) and the biases
    /// (4·hidden) have PyTorch's layouts; h0 and c0 (batch, hidden) default to zeros. With
    /// `reverse` the sequence is read from its last step to its first (the backward direction
    /// of a bidirectional layer), and output[:, t] is still the state after reading step t.
    /// Returns the output sequence (batch, time, hidden) and the final states h and c
    /// (batch, hidden).
    public static func lstmSequence(_ x: Tensor, weightIH: Tensor, weightHH: Tensor, biasIH: Tensor?, biasHH: Tensor?,
                                    h0: Tensor? = nil, c0: Tensor? = nil, reverse: Bool = false) throws -> (output: Tensor, h: Tensor, c: Tensor) {
        let s = try SequenceShape("lstmSequence", x, weightIH, weightHH, biasIH, biasHH, states: [h0, c0], gateCount: 4)
        let backend = x.backend
        let (batch, steps, hidden, width) = (s.batch, s.steps, s.hidden, s.width)
        // Both biases are added once, into the projection of every step.
        var bias: (any DeviceBuffer)?
        if let biasIH, let biasHH {
            let sum = try backend.makeBuffer(count: width)
            try backend.copy(StridedCopy(shape: [width], srcStrides: [1], dstStrides: [1]), from: biasIH.storage, to: sum)
            try backend.axpby(alpha: 1, x: biasHH.storage, beta: 1, y: sum, count: width)
            bias = sum
        } else {
            bias = biasIH?.storage ?? biasHH?.storage
        }
        let projected = try s.projection(x, weightIH, bias: bias)
        let output = try Tensor.empty([batch, steps, hidden], on: backend)
        let cInitial = try c0?.storage ?? s.zeros(batch * hidden)
        // Per step, in the order read: the gate activations and the cell state (for backward).
        var gates: [any DeviceBuffer] = [], cells: [any DeviceBuffer] = []
        var hPrev: (any DeviceBuffer)? = h0?.storage
        for t in 0 ..< steps {
            let step = s.time(t, reverse)
            let g = try backend.makeBuffer(count: batch * width)
            try s.loadStep(step, of: projected, width: width, into: g)
            if let hPrev {
                try backend.gemm(GEMMParameters(m: batch, n: width, k: hidden, transB: true, beta: 1), a: hPrev, b: weightHH.storage, c: g)
            }
            let c = try backend.makeBuffer(count: batch * hidden), h = try backend.makeBuffer(count: batch * hidden)
            try backend.lstmCell(gates: g, cPrev: t == 0 ? cInitial : cells[t - 1], c: c, h: h, batch: batch, hidden: hidden)
            try s.storeStep(step, from: h, width: hidden, into: output.storage)
            gates.append(g)
            cells.append(c)
            hPrev = h
        }
        let inputs = [x, weightIH, weightHH] + [biasIH, biasHH, h0, c0].compactMap { $0 }
        let extras = ExtraOutputGradients(count: 2)
        let outputStorage = output.storage // not `output`: see ExtraOutputGradients
        let result = Tensor.record(output, "lstmSequence", inputs) { gY in
            let (dhLast, dcLast) = (extras.take(0), extras.take(1))
            let dProjected = try backend.makeBuffer(count: batch * steps * width)
            let dh = try backend.makeBuffer(count: batch * hidden)
            // Ping-pong pairs: step t reads what step t+1 wrote.
            let dGates = [try backend.makeBuffer(count: batch * width), try backend.makeBuffer(count: batch * width)]
            let dcPrev = [try backend.makeBuffer(count: batch * hidden), try backend.makeBuffer(count: batch * hidden)]
            var dcNext: (any DeviceBuffer)? = dcLast?.storage
            for t in (0 ..< steps).reversed() {
                let step = s.time(t, reverse)
                // dh = dOutput[:, step] + (dh_final at the last step read, else dGates_{t+1}·W_hh).
                try s.loadStep(step, of: gY.storage, width: hidden, into: dh)
                if t == steps - 1 {
                    if let dhLast { try backend.axpby(alpha: 1, x: dhLast.storage, beta: 1, y: dh, count: batch * hidden) }
                } else {
                    try backend.gemm(GEMMParameters(m: batch, n: hidden, k: width, beta: 1), a: dGates[(t + 1) % 2], b: weightHH.storage, c: dh)
                }
                try backend.lstmCellBackward(gates: gates[t], cPrev: t == 0 ? cInitial : cells[t - 1], c: cells[t], dh: dh, dc: dcNext,
                                             dGates: dGates[t % 2], dcPrev: dcPrev[t % 2], batch: batch, hidden: hidden)
                try s.storeStep(step, from: dGates[t % 2], width: width, into: dProjected)
                dcNext = dcPrev[t % 2]
            }
            var grads = try s.projectionGradients(x, weightIH, dProjected: dProjected)
            grads.append(try s.recurrentWeightGradient(weightHH, dGates: dProjected, outputs: outputStorage, h0: h0?.storage, reverse: reverse))
            // b_ih and b_hh enter as one sum: each gets the gradient of the sum.
            let dBias = biasIH?.requiresGrad == true || biasHH?.requiresGrad == true ? try s.columnSums(dProjected) : nil
            if let biasIH { grads.append(biasIH.requiresGrad ? dBias : nil) }
            if let biasHH { grads.append(biasHH.requiresGrad ? dBias : nil) }
            if let h0 {
                var dh0: Tensor?
                if h0.requiresGrad {
                    let buffer = try backend.makeBuffer(count: batch * hidden)
                    try backend.gemm(GEMMParameters(m: batch, n: hidden, k: width), a: dGates[0], b: weightHH.storage, c: buffer)
                    dh0 = Tensor(storage: buffer, shape: [batch, hidden], backend: backend)
                }
                grads.append(dh0)
            }
            if let c0 { grads.append(c0.requiresGrad ? Tensor(storage: dcPrev[0], shape: [batch, hidden], backend: backend) : nil) }
            return grads
        }
        let hLast = Tensor(storage: hPrev!, shape: [batch, hidden], backend: backend)
        let cLast = Tensor(storage: cells[steps - 1], shape: [batch, hidden], backend: backend)
        return (result, extras.record(hLast, slot: 0, name: "lstmSequence.h", primary: result),
                extras.record(cLast, slot: 1, name: "lstmSequence.c", primary: result))
    }

    /// One direction of one GRU layer over a whole sequence: shapes as in `lstmSequence`, with
    /// 3·hidden gate rows in order (r, z, n). Returns the output sequence (batch, time, hidden)
    /// and the final state h (batch, hidden).
    public static func gruSequence(_ x: Tensor, weightIH: Tensor, weightHH: Tensor, biasIH: Tensor?, biasHH: Tensor?,
                                   h0: Tensor? = nil, reverse: Bool = false) throws -> (output: Tensor, h: Tensor) {
        let s = try SequenceShape("gruSequence", x, weightIH, weightHH, biasIH, biasHH, states: [h0], gateCount: 3)
        let backend = x.backend
        let (batch, steps, hidden, width) = (s.batch, s.steps, s.hidden, s.width)
        let projected = try s.projection(x, weightIH, bias: biasIH?.storage)
        let output = try Tensor.empty([batch, steps, hidden], on: backend)
        let hInitial = try h0?.storage ?? s.zeros(batch * hidden)
        let gi = try backend.makeBuffer(count: batch * width)
        // Per step, in the order read: gh, the saved gates (r, z, n) and h (for backward).
        var ghs: [any DeviceBuffer] = [], saveds: [any DeviceBuffer] = [], hs: [any DeviceBuffer] = []
        for t in 0 ..< steps {
            let step = s.time(t, reverse)
            try s.loadStep(step, of: projected, width: width, into: gi)
            let gh = try backend.makeBuffer(count: batch * width)
            let hasPrevious = t > 0 || h0 != nil
            if let biasHH {
                try s.broadcastRows(biasHH.storage, rows: batch, into: gh)
            } else if !hasPrevious {
                try backend.fill(gh, value: 0, offset: 0, count: batch * width)
            }
            if hasPrevious {
                try backend.gemm(GEMMParameters(m: batch, n: width, k: hidden, transB: true, beta: biasHH == nil ? 0 : 1),
                                 a: t == 0 ? hInitial : hs[t - 1], b: weightHH.storage, c: gh)
            }
            let h = try backend.makeBuffer(count: batch * hidden), saved = try backend.makeBuffer(count: batch * width)
            try backend.gruCell(gi: gi, gh: gh, hPrev: t == 0 ? hInitial : hs[t - 1], h: h, saved: saved, batch: batch, hidden: hidden)
            try s.storeStep(step, from: h, width: hidden, into: output.storage)
            ghs.append(gh)
            saveds.append(saved)
            hs.append(h)
        }
        let inputs = [x, weightIH, weightHH] + [biasIH, biasHH, h0].compactMap { $0 }
        let extras = ExtraOutputGradients(count: 1)
        let outputStorage = output.storage // not `output`: see ExtraOutputGradients
        let result = Tensor.record(output, "gruSequence", inputs) { gY in
            let dhLast = extras.take(0)
            let dProjected = try backend.makeBuffer(count: batch * steps * width)
            let dHidden = try backend.makeBuffer(count: batch * steps * width)
            let dh = try backend.makeBuffer(count: batch * hidden), dgi = try backend.makeBuffer(count: batch * width)
            // Ping-pong pairs: step t reads what step t+1 wrote.
            let dgh = [try backend.makeBuffer(count: batch * width), try backend.makeBuffer(count: batch * width)]
            let dhPrev = [try backend.makeBuffer(count: batch * hidden), try backend.makeBuffer(count: batch * hidden)]
            for t in (0 ..< steps).reversed() {
                let step = s.time(t, reverse)
                // dh = dOutput[:, step] + (dh_final at the last step read, else the direct path
                // z·dh_{t+1} plus dgh_{t+1}·W_hh).
                try s.loadStep(step, of: gY.storage, width: hidden, into: dh)
                if t == steps - 1 {
                    if let dhLast { try backend.axpby(alpha: 1, x: dhLast.storage, beta: 1, y: dh, count: batch * hidden) }
                } else {
                    try backend.axpby(alpha: 1, x: dhPrev[(t + 1) % 2], beta: 1, y: dh, count: batch * hidden)
                    try backend.gemm(GEMMParameters(m: batch, n: hidden, k: width, beta: 1), a: dgh[(t + 1) % 2], b: weightHH.storage, c: dh)
                }
                try backend.gruCellBackward(saved: saveds[t], gh: ghs[t], hPrev: t == 0 ? hInitial : hs[t - 1], dh: dh, dgi: dgi,
                                            dgh: dgh[t % 2], dhPrev: dhPrev[t % 2], batch: batch, hidden: hidden)
                try s.storeStep(step, from: dgi, width: width, into: dProjected)
                try s.storeStep(step, from: dgh[t % 2], width: width, into: dHidden)
            }
            var grads = try s.projectionGradients(x, weightIH, dProjected: dProjected)
            grads.append(try s.recurrentWeightGradient(weightHH, dGates: dHidden, outputs: outputStorage, h0: h0?.storage, reverse: reverse))
            if let biasIH { grads.append(biasIH.requiresGrad ? try s.columnSums(dProjected) : nil) }
            if let biasHH { grads.append(biasHH.requiresGrad ? try s.columnSums(dHidden) : nil) }
            if let h0 {
                var dh0: Tensor?
                if h0.requiresGrad {
                    try backend.gemm(GEMMParameters(m: batch, n: hidden, k: width, beta: 1), a: dgh[0], b: weightHH.storage, c: dhPrev[0])
                    dh0 = Tensor(storage: dhPrev[0], shape: [batch, hidden], backend: backend)
                }
                grads.append(dh0)
            }
            return grads
        }
        let hLast = Tensor(storage: hs[steps - 1], shape: [batch, hidden], backend: backend)
        return (result, extras.record(hLast, slot: 0, name: "gruSequence.h", primary: result))
    }
}

/// The sizes of one recurrent layer direction, checked, and the buffer moves its forward and
/// backward passes share. Sequences are (batch, time, ·) batch first; a step's rows are
/// gathered into (and scattered from) a contiguous (batch, ·) buffer, since the cell kernels
/// work on whole buffers.
struct SequenceShape {
    let backend: any Backend
    let batch: Int, steps: Int, inputSize: Int, hidden: Int
    /// gates · hidden: the rows of W_ih and W_hh.
    let width: Int

    init(_ op: String, _ x: Tensor, _ weightIH: Tensor, _ weightHH: Tensor, _ biasIH: Tensor?, _ biasHH: Tensor?,
         states: [Tensor?], gateCount: Int) throws {
        for t in [weightIH, weightHH] + [biasIH, biasHH].compactMap({ $0 }) + states.compactMap({ $0 }) { try x.sameBackend(t, op) }
        guard x.rank == 3, x.shape[0] > 0, x.shape[1] > 0 else {
            throw ScalpelError.shapeMismatch(op: op, detail: "input \(x.shape) must be (batch, time, features) with at least one sequence and one step")
        }
        guard weightHH.rank == 2, weightHH.shape[1] > 0, weightHH.shape[0] == gateCount * weightHH.shape[1] else {
            throw ScalpelError.shapeMismatch(op: op, detail: "weightHH \(weightHH.shape) must be (\(gateCount)·hidden, hidden)")
        }
        backend = x.backend
        (batch, steps, inputSize) = (x.shape[0], x.shape[1], x.shape[2])
        hidden = weightHH.shape[1]
        width = gateCount * hidden
        guard weightIH.shape == [width, inputSize] else {
            throw ScalpelError.shapeMismatch(op: op, detail: "weightIH \(weightIH.shape) must be (\(width), \(inputSize)) for input \(x.shape) and hidden size \(hidden)")
        }
        for (name, bias) in [("biasIH", biasIH), ("biasHH", biasHH)] {
            if let bias, bias.shape != [width] {
                throw ScalpelError.shapeMismatch(op: op, detail: "\(name) \(bias.shape) must be (\(width))")
            }
        }
        for state in states.compactMap({ $0 }) where state.shape != [batch, hidden] {
            throw ScalpelError.shapeMismatch(op: op, detail: "initial state \(state.shape) must be (batch, hidden) = (\(batch), \(hidden))")
        }
    }

    /// The sequence position of the t-th step read.
    func time(_ t: Int, _ reverse: Bool) -> Int { reverse ? steps - 1 - t : t }

    /// A buffer of `count` zeros.
    func zeros(_ count: Int) throws -> any DeviceBuffer {
        let buffer = try backend.makeBuffer(count: count)
        try backend.fill(buffer, value: 0, offset: 0, count: count)
        return buffer
    }

    /// `vector` (width) repeated in each of the `rows` rows of `buffer` (rows, width).
    func broadcastRows(_ vector: any DeviceBuffer, rows: Int, into buffer: any DeviceBuffer) throws {
        try backend.copy(StridedCopy(shape: [rows, width], srcStrides: [0, 1], dstStrides: [width, 1]), from: vector, to: buffer)
    }

    /// step (batch, w) ← all[:, time] of all (batch, steps, w).
    func loadStep(_ time: Int, of all: any DeviceBuffer, width w: Int, into step: any DeviceBuffer) throws {
        try backend.copy(StridedCopy(shape: [batch, w], srcOffset: time * w, srcStrides: [steps * w, 1], dstStrides: [w, 1]), from: all, to: step)
    }

    /// all[:, time] ← step, for all (batch, steps, w).
    func storeStep(_ time: Int, from step: any DeviceBuffer, width w: Int, into all: any DeviceBuffer) throws {
        try backend.copy(StridedCopy(shape: [batch, w], srcStrides: [w, 1], dstOffset: time * w, dstStrides: [steps * w, 1]), from: step, to: all)
    }

    /// The input projection of every step at once: (batch·steps, width) = x·W_ihᵀ (+ bias).
    func projection(_ x: Tensor, _ weightIH: Tensor, bias: (any DeviceBuffer)?) throws -> any DeviceBuffer {
        let rows = batch * steps
        let projected = try backend.makeBuffer(count: rows * width)
        if let bias { try broadcastRows(bias, rows: rows, into: projected) }
        try backend.gemm(GEMMParameters(m: rows, n: width, k: inputSize, transB: true, beta: bias == nil ? 0 : 1),
                         a: x.storage, b: weightIH.storage, c: projected)
        return projected
    }

    /// Column sums of (batch·steps, width): a bias gradient.
    func columnSums(_ gradients: any DeviceBuffer) throws -> Tensor {
        let sums = try Tensor.empty([width], on: backend)
        try backend.reduce(.sum, x: gradients, out: sums.storage, outer: 1, axis: batch * steps, inner: width)
        return sums
    }

    /// [dx, dW_ih] from the gradient of the projection (nil where not wanted).
    func projectionGradients(_ x: Tensor, _ weightIH: Tensor, dProjected: any DeviceBuffer) throws -> [Tensor?] {
        let rows = batch * steps
        var dx: Tensor?, dW: Tensor?
        if x.requiresGrad {
            let t = try Tensor.empty(x.shape, on: backend)
            try backend.gemm(GEMMParameters(m: rows, n: inputSize, k: width), a: dProjected, b: weightIH.storage, c: t.storage)
            dx = t
        }
        if weightIH.requiresGrad {
            let t = try Tensor.empty(weightIH.shape, on: backend)
            try backend.gemm(GEMMParameters(m: width, n: inputSize, k: rows, transA: true), a: dProjected, b: x.storage, c: t.storage)
            dW = t
        }
        return [dx, dW]
    }

    /// dW_hh = Σ_steps dGatesᵀ·hPrev as one GEMM over every (sequence, step) row: the previous
    /// states are the outputs shifted by one step (h0, or zeros, before the first step read).
    func recurrentWeightGradient(_ weightHH: Tensor, dGates: any DeviceBuffer, outputs: any DeviceBuffer, h0: (any DeviceBuffer)?,
                                 reverse: Bool) throws -> Tensor? {
        guard weightHH.requiresGrad else { return nil }
        let previous = try backend.makeBuffer(count: batch * steps * hidden)
        let strides = [steps * hidden, hidden, 1]
        if steps > 1 {
            try backend.copy(StridedCopy(shape: [batch, steps - 1, hidden], srcOffset: reverse ? hidden : 0, srcStrides: strides,
                                         dstOffset: reverse ? 0 : hidden, dstStrides: strides), from: outputs, to: previous)
        }
        let first = time(0, reverse)
        if let h0 {
            try storeStep(first, from: h0, width: hidden, into: previous)
        } else {
            try backend.copy(StridedCopy(shape: [batch, hidden], srcStrides: [0, 0], dstOffset: first * hidden, dstStrides: [steps * hidden, 1]),
                             from: try zeros(1), to: previous)
        }
        let dW = try Tensor.empty(weightHH.shape, on: backend)
        try backend.gemm(GEMMParameters(m: width, n: hidden, k: batch * steps, transA: true), a: dGates, b: previous, c: dW.storage)
        return dW
    }
}
