import COpenCL
import Foundation
import ScalpelCore

// Convolution pieces (conv.cl) and pooling (pool.cl).
extension OpenCLBackend {
    static func convGeometry(_ g: Conv2dGeometry) -> [KernelArgument] {
        [int8([g.batch, g.inChannels, g.height, g.width, g.outChannels, g.kernelHeight, g.kernelWidth, g.groups]),
         int8([g.strideH, g.strideW, g.padH, g.padW, g.dilationH, g.dilationW, g.outHeight, g.outWidth])]
    }

    /// pool.cl's geometry argument (N·C, H, W, padH, padW, OH, OW, 0).
    private static func poolGeometry(_ g: Pool2dGeometry) -> KernelArgument {
        int8([g.batch * g.channels, g.height, g.width, g.padH, g.padW, g.outHeight, g.outWidth, 0])
    }

    /// Whether the windows tile the input exactly (stride = window, no padding, no leftover
    /// rows or columns): pool.cl's per-window kernels then apply.
    private static func poolTiles(_ g: Pool2dGeometry) -> Bool {
        g.strideH == g.kernelHeight && g.strideW == g.kernelWidth && g.padH == 0 && g.padW == 0
            && g.height == g.outHeight * g.kernelHeight && g.width == g.outWidth * g.kernelWidth
    }

    /// pool.cl's build options: the window and the stride are compile-time constants, one
    /// program per window and stride.
    private static func poolOptions(_ g: Pool2dGeometry) -> String {
        "-DPOOL_R=\(g.kernelHeight) -DPOOL_S=\(g.kernelWidth) -DPOOL_SH=\(g.strideH) -DPOOL_SW=\(g.strideW)"
    }

    /// Validates `geometry` and the buffers (`shapeMismatch`), then enqueues conv.cl's im2col over
    /// (OW, N·OH, C·R·S), or its unguarded im2col_rows form where row-shaped work-groups tile that
    /// range and every index fits 32 bits; when conv.cl does not build, runs the CPU-Swift
    /// backend's `im2col` on copies of the operands.
    public func im2col(_ geometry: Conv2dGeometry, input: any DeviceBuffer, offset: Int, columns: any DeviceBuffer) throws {
        try geometry.validate()
        let g = geometry, total = g.columnRows * g.columnCount
        try launch("im2col", file: "conv.cl", operands: [(input, offset + g.batch * g.inChannels * g.height * g.width), (columns, total)]) { program, b in
            try runRowsExactly(program, "im2col", small: Self.fitsInt(offset + g.batch * g.inChannels * g.height * g.width, total),
                               global: [g.outWidth, g.batch * g.outHeight, g.columnRows], offset: offset) { offset in
                [.buffer(b[0].mem), offset, .buffer(b[1].mem)] + Self.convGeometry(g)
            }
        } fallback: { cpu, b in try cpu.im2col(g, input: b[0], offset: offset, columns: b[1]) }
    }

    /// Validates `geometry` and the buffers (`shapeMismatch`), then enqueues conv.cl's col2im,
    /// built for this window, stride and dilation: one work-item per input element gathers its
    /// column entries (no atomics), in the unguarded col2im_rows form where the launch tiles
    /// exactly and every index fits 32 bits; when conv.cl does not build, runs the CPU-Swift
    /// backend's `col2im` on copies of the operands.
    public func col2im(_ geometry: Conv2dGeometry, columns: any DeviceBuffer, gradInput: any DeviceBuffer, offset: Int) throws {
        try geometry.validate()
        let g = geometry, total = g.batch * g.inChannels * g.height * g.width
        let options = "-DCOL_R=\(g.kernelHeight) -DCOL_S=\(g.kernelWidth) -DCOL_SH=\(g.strideH) -DCOL_SW=\(g.strideW)"
            + " -DCOL_DH=\(g.dilationH) -DCOL_DW=\(g.dilationW)"
        try launch("col2im", file: "conv.cl", options: options, variant: "col2im \(g.kernelHeight)×\(g.kernelWidth)",
                   operands: [(columns, g.columnRows * g.columnCount), (gradInput, offset + total)]) { program, b in
            try runRowsExactly(program, "col2im", small: Self.fitsInt(g.columnRows * g.columnCount, offset + total),
                               global: [g.width, g.batch * g.inChannels * g.height, 1], offset: offset) { offset in
                [.buffer(b[0].mem), .buffer(b[1].mem), offset] + Self.convGeometry(g)
            }
        } fallback: { cpu, b in try cpu.col2im(g, columns: b[0], gradInput: b[1], offset: offset) }
    }

    /// Runs `name`_rows — the form of `name` without bounds tests and with 32-bit indices —
    /// where its work-groups can tile the (row, rows, outer) range exactly (the whole row across,
    /// the most rows down that keep a group within 256 work-items and what the kernel and the
    /// device allow) and the sizes are `small` (below 2³¹); else the bounds-checked `name` in
    /// `enqueueRows`' groups. `arguments` gets the one argument the two forms type differently,
    /// `offset`: int for the exact form, long for the other.
    func runRowsExactly(_ program: CLProgram, _ name: String, small: Bool, global: [Int], offset: Int,
                        arguments: (KernelArgument) -> [KernelArgument]) throws {
        let exact = try program.kernel(name + "_rows")
        let limit = min(256, info.maxWorkGroupSize, launcher.maxWorkGroup(exact))
        guard small, global[0] <= limit else {
            return try runRows(program, name, arguments(.long(Int64(offset))), global: global)
        }
        let down = stride(from: min(global[1], limit / global[0]), through: 1, by: -1).first { global[1] % $0 == 0 } ?? 1
        try setArguments(exact, arguments(.int(Int32(offset))))
        try enqueue(exact, name: name + "_rows", global: global, local: [global[0], down, 1])
    }

    /// Runs kernel `name` of `program` with `arguments` over a range whose first dimension walks
    /// along image rows, in the row-shaped work-groups of `enqueueRows`.
    func runRows(_ program: CLProgram, _ name: String, _ arguments: [KernelArgument], global: [Int]) throws {
        let kernel = try program.kernel(name)
        try setArguments(kernel, arguments)
        try enqueueRows(kernel, name: name, global: global)
    }

    /// Validates `geometry` and the buffers (`shapeMismatch`), then enqueues pool.cl, built for
    /// this window and stride, one work-item per output element (pool2d_tiles when the windows tile
    /// the input exactly); when pool.cl does not build, runs the CPU-Swift backend's `pool2d` on
    /// copies of the operands.
    public func pool2d(_ geometry: Pool2dGeometry, max: Bool, input: any DeviceBuffer, output: any DeviceBuffer) throws {
        try geometry.validate()
        let g = geometry, outCount = g.batch * g.channels * g.outHeight * g.outWidth
        try launch("pool2d", file: "pool.cl", options: Self.poolOptions(g), operands: [(input, g.batch * g.channels * g.height * g.width), (output, outCount)]) { program, b in
            try runRows(program, Self.poolTiles(g) ? "pool2d_tiles" : "pool2d", [.buffer(b[0].mem), .buffer(b[1].mem), Self.poolGeometry(g), .int(max ? 1 : 0)],
                        global: [g.outWidth, g.outHeight, g.batch * g.channels])
        } fallback: { cpu, b in try cpu.pool2d(g, max: max, input: b[0], output: b[1]) }
    }

    /// Validates `geometry` and the buffers (`shapeMismatch`), then enqueues pool.cl's
    /// pool2d_backward, one work-item per input element, or pool2d_backward_tiles, one per window,
    /// when the windows tile the input exactly (no atomics either way); when pool.cl does not
    /// build, runs the CPU-Swift backend's `pool2dBackward` on copies of the operands.
    public func pool2dBackward(_ geometry: Pool2dGeometry, max: Bool, input: any DeviceBuffer, output: any DeviceBuffer,
                               gradOutput: any DeviceBuffer, gradInput: any DeviceBuffer) throws {
        try geometry.validate()
        let g = geometry
        let inCount = g.batch * g.channels * g.height * g.width, outCount = g.batch * g.channels * g.outHeight * g.outWidth
        try launch("pool2d backward", file: "pool.cl", options: Self.poolOptions(g),
                   operands: [(input, inCount), (output, outCount), (gradOutput, outCount), (gradInput, inCount)]) { program, b in
            let arguments: [KernelArgument] = [.buffer(b[0].mem), .buffer(b[1].mem), .buffer(b[2].mem), .buffer(b[3].mem), Self.poolGeometry(g),
                                               .int(max ? 1 : 0)]
            // Windows that tile the input exactly: one work-item per window writes all of it.
            if Self.poolTiles(g) {
                try runRows(program, "pool2d_backward_tiles", arguments, global: [g.outWidth, g.outHeight, g.batch * g.channels])
            } else {
                try runRows(program, "pool2d_backward", arguments, global: [g.width, g.height, g.batch * g.channels])
            }
        } fallback: { cpu, b in try cpu.pool2dBackward(g, max: max, input: b[0], output: b[1], gradOutput: b[2], gradInput: b[3]) }
    }
}

extension OpenCLBackend {
    /// Validates `geometry` and the buffers (`shapeMismatch`), then enqueues conv.cl's
    /// conv2d_direct, one work-item per output element; when conv.cl does not build, runs the
    /// CPU-Swift backend's `conv2dDirect` on copies of the operands.
    public func conv2dDirect(_ geometry: Conv2dGeometry, input: any DeviceBuffer, weight: any DeviceBuffer, output: any DeviceBuffer) throws {
        try geometry.validate()
        let g = geometry, total = g.batch * g.outChannels * g.outHeight * g.outWidth
        try launch("conv2d direct", file: "conv.cl", operands: [(input, g.batch * g.inChannels * g.height * g.width),
                                                               (weight, g.outChannels * g.inChannels / g.groups * g.kernelHeight * g.kernelWidth),
                                                               (output, total)]) { program, b in
            try run1D(program, "conv2d_direct", [.buffer(b[0].mem), .buffer(b[1].mem), .buffer(b[2].mem)] + Self.convGeometry(g), count: total)
        } fallback: { cpu, b in try cpu.conv2dDirect(g, input: b[0], weight: b[1], output: b[2]) }
    }
}
