import ScalpelCore
import ScalpelTensor

extension KernelCases {
    /// LSTM and GRU cells at small odd sizes (gradients through h, c and both, two chained
    /// steps), whole sequences in both directions, and the raw cell kernels at a size the fast
    /// CPU backend splits over threads, with pre-activations deep into saturation.
    public static let recurrent: [KernelCase] = [
        .tensor(.recurrent, "lstmCell h and c", [[3, 20], [3, 5]], ranges: [-3 ... 3, -2 ... 2], inputNames: ["gates", "cPrev"],
                kernels: ["lstm_cell", "lstm_cell_backward", "copy_strided"], quick: true) { x in
            let (h, c) = try Tensor.lstmCell(gates: x[0], cPrev: x[1])
            return try Tensor.concatenate([h, c], axis: 1)
        },
        .tensor(.recurrent, "lstmCell h only", [[3, 20], [3, 5]], ranges: [-3 ... 3, -2 ... 2], inputNames: ["gates", "cPrev"],
                kernels: ["lstm_cell", "lstm_cell_backward", "copy_strided"]) { x in try Tensor.lstmCell(gates: x[0], cPrev: x[1]).h },
        .tensor(.recurrent, "lstmCell c only", [[3, 20], [3, 5]], ranges: [-3 ... 3, -2 ... 2], inputNames: ["gates", "cPrev"],
                kernels: ["lstm_cell", "lstm_cell_backward", "copy_strided"]) { x in try Tensor.lstmCell(gates: x[0], cPrev: x[1]).c },
        .tensor(.recurrent, "lstmCell two chained steps", [[2, 12], [2, 12], [2, 3]], ranges: [-2 ... 2, -2 ... 2, -1 ... 1],
                kernels: ["lstm_cell", "lstm_cell_backward", "copy_strided"]) { x in
            let first = try Tensor.lstmCell(gates: x[0], cPrev: x[2])
            let gates = try x[1] + Tensor.concatenate([first.h, first.h, first.h, first.h], axis: 1) * 0.7
            let second = try Tensor.lstmCell(gates: gates, cPrev: first.c)
            return try Tensor.concatenate([second.h, second.c], axis: 1)
        },
        .tensor(.recurrent, "gruCell", [[3, 15], [3, 15], [3, 5]], ranges: [-3 ... 3, -3 ... 3, -1 ... 1], inputNames: ["gi", "gh", "hPrev"],
                kernels: ["gru_cell", "gru_cell_backward"], quick: true) { x in
            try Tensor.gruCell(gi: x[0], gh: x[1], hPrev: x[2])
        },
        .tensor(.recurrent, "lstmSequence reverse with initial states", [[2, 3, 3], [8, 3], [8, 2], [8], [8], [2, 2], [2, 2]],
                kernels: ["lstm_cell", "lstm_cell_backward"]) { x in
            let r = try Tensor.lstmSequence(x[0], weightIH: x[1], weightHH: x[2], biasIH: x[3], biasHH: x[4], h0: x[5], c0: x[6], reverse: true)
            return try joined([r.output, r.h, r.c])
        },
        .tensor(.recurrent, "lstmSequence from zeros, one bias", [[3, 4, 2], [12, 2], [12, 3], [12]], kernels: ["lstm_cell", "lstm_cell_backward"]) { x in
            let r = try Tensor.lstmSequence(x[0], weightIH: x[1], weightHH: x[2], biasIH: nil, biasHH: x[3])
            return try joined([r.output, r.c])
        },
        .tensor(.recurrent, "gruSequence with initial state", [[2, 3, 3], [6, 3], [6, 2], [6], [6], [2, 2]],
                kernels: ["gru_cell", "gru_cell_backward"]) { x in
            let r = try Tensor.gruSequence(x[0], weightIH: x[1], weightHH: x[2], biasIH: x[3], biasHH: x[4], h0: x[5])
            return try joined([r.output, r.h])
        },
        .tensor(.recurrent, "gruSequence reverse from zeros, no biases", [[3, 4, 2], [9, 2], [9, 3]], kernels: ["gru_cell", "gru_cell_backward"]) { x in
            let r = try Tensor.gruSequence(x[0], weightIH: x[1], weightHH: x[2], biasIH: nil, biasHH: nil, reverse: true)
            return try joined([r.output, r.h])
        },
        .buffers(.recurrent, "lstm cell kernels, dc given", shape: "batch 64, hidden 515, gates in [-9, 9]",
                 kernels: ["lstm_cell", "lstm_cell_backward"], tolerance: 2e-6) { try lstmCellKernels($0, withDc: true) },
        .buffers(.recurrent, "lstm cell kernels, no dc", shape: "batch 64, hidden 515, gates in [-9, 9]",
                 kernels: ["lstm_cell", "lstm_cell_backward"], tolerance: 2e-6) { try lstmCellKernels($0, withDc: false) },
        .buffers(.recurrent, "gru cell kernels", shape: "batch 64, hidden 515, gates in [-5, 5]",
                 kernels: ["gru_cell", "gru_cell_backward"], tolerance: 2e-6) { backend in
            let (batch, hidden) = (64, 515)
            let n = batch * hidden
            var random = SeededRandom(seed: 22)
            let gi = try backend.makeBuffer(random.uniformArray(3 * n, -5, 5)), gh = try backend.makeBuffer(random.uniformArray(3 * n, -5, 5))
            let hPrev = try backend.makeBuffer(random.uniformArray(n, -2, 2)), dh = try backend.makeBuffer(random.uniformArray(n))
            let h = try backend.makeBuffer(count: n), saved = try backend.makeBuffer(count: 3 * n)
            try backend.gruCell(gi: gi, gh: gh, hPrev: hPrev, h: h, saved: saved, batch: batch, hidden: hidden)
            let dgi = try backend.makeBuffer(count: 3 * n), dgh = try backend.makeBuffer(count: 3 * n), dhPrev = try backend.makeBuffer(count: n)
            try backend.gruCellBackward(saved: saved, gh: gh, hPrev: hPrev, dh: dh, dgi: dgi, dgh: dgh, dhPrev: dhPrev, batch: batch, hidden: hidden)
            return try [("h", h), ("saved r, z, n", saved), ("dgi", dgi), ("dgh", dgh), ("dhPrev", dhPrev)].map {
                KernelOutput($0.0, try doubles($0.1, on: backend))
            }
        },
    ]

    /// A sequence op's outputs flattened and joined, so that one weighted sum reaches them all.
    static func joined(_ parts: [Tensor]) throws -> Tensor {
        try Tensor.concatenate(parts.map { try $0.reshaped([-1]) }, axis: 0)
    }

    /// The LSTM cell kernels forward and backward on their own, with or without a gradient
    /// reaching c from later steps.
    static func lstmCellKernels(_ backend: any Backend, withDc: Bool) throws -> [KernelOutput] {
        let (batch, hidden) = (64, 515)
        let n = batch * hidden
        var random = SeededRandom(seed: 21)
        let gates = try backend.makeBuffer(random.uniformArray(4 * n, -9, 9)), cPrev = try backend.makeBuffer(random.uniformArray(n, -2, 2))
        let dh = try backend.makeBuffer(random.uniformArray(n)), dc = try backend.makeBuffer(random.uniformArray(n))
        let c = try backend.makeBuffer(count: n), h = try backend.makeBuffer(count: n)
        try backend.lstmCell(gates: gates, cPrev: cPrev, c: c, h: h, batch: batch, hidden: hidden)
        let dGates = try backend.makeBuffer(count: 4 * n), dcPrev = try backend.makeBuffer(count: n)
        try backend.lstmCellBackward(gates: gates, cPrev: cPrev, c: c, dh: dh, dc: withDc ? dc : nil, dGates: dGates, dcPrev: dcPrev,
                                     batch: batch, hidden: hidden)
        return try [("activations", gates), ("c", c), ("h", h), ("dGates", dGates), ("dcPrev", dcPrev)].map {
            KernelOutput($0.0, try doubles($0.1, on: backend))
        }
    }
}
