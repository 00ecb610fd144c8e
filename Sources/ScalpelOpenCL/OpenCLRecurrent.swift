import ScalpelCore

/// The recurrent cells on an OpenCL device: one launch of a recurrent.cl kernel per call, one
/// work-item per (batch row, hidden unit). When the program does not build they run on the
/// CPU-Swift backend, like every other operation (see `launch`).
extension OpenCLBackend {
    private static func checkCell(_ op: String, batch: Int, hidden: Int) throws {
        guard batch >= 0, hidden >= 0, batch * 4 * hidden <= Int(Int32.max) else {
            throw ScalpelError.shapeMismatch(op: op, detail: "batch \(batch) × hidden \(hidden) is negative or beyond the kernels' 32-bit sizes")
        }
    }

    /// Throws `shapeMismatch` for a negative size, batch·4·hidden beyond 2³¹ − 1 or a buffer too
    /// short, then enqueues recurrent.cl's lstm_cell, one work-item per (batch row, hidden unit);
    /// when recurrent.cl does not build, runs the CPU-Swift backend's `lstmCell` on copies of the
    /// operands.
    public func lstmCell(gates: any DeviceBuffer, cPrev: any DeviceBuffer, c: any DeviceBuffer, h: any DeviceBuffer,
                         batch: Int, hidden: Int) throws {
        try Self.checkCell("lstm_cell", batch: batch, hidden: hidden)
        let n = batch * hidden
        guard n > 0 else { return }
        try launch("lstm_cell", file: "recurrent.cl", operands: [(gates, 4 * n), (cPrev, n), (c, n), (h, n)]) { program, b in
            try run1D(program, "lstm_cell", [.buffer(b[0].mem), .buffer(b[1].mem), .buffer(b[2].mem), .buffer(b[3].mem),
                                             .int(Int32(batch)), .int(Int32(hidden))], count: n)
        } fallback: { cpu, b in try cpu.lstmCell(gates: b[0], cPrev: b[1], c: b[2], h: b[3], batch: batch, hidden: hidden) }
    }

    /// Checks as `lstmCell` does, then enqueues lstm_cell_backward, one work-item per (batch row,
    /// hidden unit); when recurrent.cl does not build, runs the CPU-Swift backend's
    /// `lstmCellBackward` on copies of the operands.
    public func lstmCellBackward(gates: any DeviceBuffer, cPrev: any DeviceBuffer, c: any DeviceBuffer, dh: any DeviceBuffer,
                                 dc: (any DeviceBuffer)?, dGates: any DeviceBuffer, dcPrev: any DeviceBuffer, batch: Int, hidden: Int) throws {
        try Self.checkCell("lstm_cell backward", batch: batch, hidden: hidden)
        let n = batch * hidden
        guard n > 0 else { return }
        // Without dc the kernel still needs a buffer argument: pass dh (not read).
        try launch("lstm_cell backward", file: "recurrent.cl",
                   operands: [(gates, 4 * n), (cPrev, n), (c, n), (dh, n), (dc ?? dh, dc == nil ? 0 : n), (dGates, 4 * n), (dcPrev, n)]) { program, b in
            try run1D(program, "lstm_cell_backward", [.buffer(b[0].mem), .buffer(b[1].mem), .buffer(b[2].mem), .buffer(b[3].mem),
                                                      .buffer(b[4].mem), .int(dc == nil ? 0 : 1), .buffer(b[5].mem), .buffer(b[6].mem),
                                                      .int(Int32(batch)), .int(Int32(hidden))], count: n)
        } fallback: { cpu, b in
            try cpu.lstmCellBackward(gates: b[0], cPrev: b[1], c: b[2], dh: b[3], dc: dc == nil ? nil : b[4], dGates: b[5], dcPrev: b[6],
                                     batch: batch, hidden: hidden)
        }
    }

    /// Checks as `lstmCell` does, then enqueues gru_cell, one work-item per (batch row, hidden
    /// unit); when recurrent.cl does not build, runs the CPU-Swift backend's `gruCell` on copies of
    /// the operands.
    public func gruCell(gi: any DeviceBuffer, gh: any DeviceBuffer, hPrev: any DeviceBuffer, h: any DeviceBuffer,
                        saved: any DeviceBuffer, batch: Int, hidden: Int) throws {
        try Self.checkCell("gru_cell", batch: batch, hidden: hidden)
        let n = batch * hidden
        guard n > 0 else { return }
        try launch("gru_cell", file: "recurrent.cl", operands: [(gi, 3 * n), (gh, 3 * n), (hPrev, n), (h, n), (saved, 3 * n)]) { program, b in
            try run1D(program, "gru_cell", [.buffer(b[0].mem), .buffer(b[1].mem), .buffer(b[2].mem), .buffer(b[3].mem), .buffer(b[4].mem),
                                            .int(Int32(batch)), .int(Int32(hidden))], count: n)
        } fallback: { cpu, b in try cpu.gruCell(gi: b[0], gh: b[1], hPrev: b[2], h: b[3], saved: b[4], batch: batch, hidden: hidden) }
    }

    /// Checks as `lstmCell` does, then enqueues gru_cell_backward, one work-item per (batch row,
    /// hidden unit); when recurrent.cl does not build, runs the CPU-Swift backend's
    /// `gruCellBackward` on copies of the operands.
    public func gruCellBackward(saved: any DeviceBuffer, gh: any DeviceBuffer, hPrev: any DeviceBuffer, dh: any DeviceBuffer,
                                dgi: any DeviceBuffer, dgh: any DeviceBuffer, dhPrev: any DeviceBuffer, batch: Int, hidden: Int) throws {
        try Self.checkCell("gru_cell backward", batch: batch, hidden: hidden)
        let n = batch * hidden
        guard n > 0 else { return }
        try launch("gru_cell backward", file: "recurrent.cl",
                   operands: [(saved, 3 * n), (gh, 3 * n), (hPrev, n), (dh, n), (dgi, 3 * n), (dgh, 3 * n), (dhPrev, n)]) { program, b in
            try run1D(program, "gru_cell_backward", [.buffer(b[0].mem), .buffer(b[1].mem), .buffer(b[2].mem), .buffer(b[3].mem),
                                                     .buffer(b[4].mem), .buffer(b[5].mem), .buffer(b[6].mem), .int(Int32(batch)),
                                                     .int(Int32(hidden))], count: n)
        } fallback: { cpu, b in
            try cpu.gruCellBackward(saved: b[0], gh: b[1], hPrev: b[2], dh: b[3], dgi: b[4], dgh: b[5], dhPrev: b[6], batch: batch, hidden: hidden)
        }
    }
}
