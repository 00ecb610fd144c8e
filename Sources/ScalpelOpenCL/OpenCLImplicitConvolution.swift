import COpenCL
import Foundation
import ScalpelCore

/// Implicit-GEMM convolution (conv_implicit.cl) and the measured choice between it, im2col +
/// GEMM and the direct kernel, per shape and pass.
extension OpenCLBackend {
    /// Whether the implicit-GEMM kernels use the tiled (GPU) family: the GEMM tuning table's
    /// family for the device, unless `SCALPEL_CONV_VARIANT` (`packed` or `tiled`) forces one —
    /// so that each family can be checked on every device (the packed one for out-of-bounds
    /// accesses under Oclgrind, the tiled one on PoCL).
    var implicitConvTiled: Bool {
        switch ProcessInfo.processInfo.environment["SCALPEL_CONV_VARIANT"] {
        case "tiled": true
        case "packed": false
        default: tuning.variant == .tiled
        }
    }

    /// packed: rows × columns of the result per work-item (a supported row count at most the
    /// GEMM's, float vectors of the GEMM's width). tiled: the square tile and results per
    /// work-item along each side, shrunk where a device's work-group cannot hold 16×16.
    private var implicitConvBlock: (rows: Int, columns: Int, perItem: Int) {
        if implicitConvTiled {
            return info.maxWorkGroupSize >= 256 ? (64, 64, 4) : (32, 32, 4)
        }
        let rows = [8, 6, 4].first { $0 <= tuning.packRM } ?? 4
        return (rows, tuning.packVW == 8 ? 8 : 16, 1)
    }

    private var implicitConvOptions: String {
        let block = implicitConvBlock
        if implicitConvTiled { return "-DCONV_TILED=1 -DIGT_TILE=\(block.rows) -DIGT_WPT=\(block.perItem)" }
        return "-DCONV_TILED=0 -DIG_RM=\(block.rows) -DIG_VW=\(block.columns)" + (tuning.silenceWarnings ? " -w" : "")
    }

    private var implicitConvVariantName: String { implicitConvTiled ? "implicit GEMM tiled" : "implicit GEMM packed" }

    /// The kernels index with int: every tensor they touch must hold fewer than 2³¹ elements.
    private static func checkImplicitRange(_ g: Conv2dGeometry) throws {
        let largest = max(g.batch * g.inChannels * g.height * g.width, g.batch * g.outChannels * g.outHeight * g.outWidth,
                          g.outChannels * g.columnRows / g.groups)
        guard largest < Int(Int32.max) else {
            throw ScalpelError.shapeMismatch(op: "conv2d implicit GEMM", detail: "\(g) has a tensor of \(largest) elements; the kernels index below 2³¹")
        }
    }

    /// Enqueues one implicit-GEMM kernel over a result of `rows` × `columns` per slice, with
    /// `slices` slices (groups, or groups × splits) along dimension 2.
    private func enqueueImplicit(_ kernel: cl_kernel, name: String, rows: Int, columns: Int, slices: Int) throws {
        let block = implicitConvBlock
        let rowBlocks = (rows + block.rows - 1) / block.rows, columnBlocks = (columns + block.columns - 1) / block.columns
        if implicitConvTiled {
            let side = block.rows / block.perItem
            try enqueue(kernel, name: name, global: [columnBlocks * side, rowBlocks * side, slices], local: [side, side, 1])
        } else {
            // An explicit work-group, as gemm_packed: PoCL's own choice collapses for awkward sizes.
            let group = max(1, tuning.packGroup)
            try enqueue(kernel, name: name, global: [(columnBlocks + group - 1) / group * group, rowBlocks, slices], local: [group, 1, 1])
        }
    }

    public func conv2dImplicitForward(_ geometry: Conv2dGeometry, input: any DeviceBuffer, weight: any DeviceBuffer,
                                      bias: (any DeviceBuffer)?, relu: Bool, output: any DeviceBuffer) throws {
        try geometry.validate()
        let g = geometry
        try Self.checkImplicitRange(g)
        var operands: [(any DeviceBuffer, Int)] = [(input, g.batch * g.inChannels * g.height * g.width),
                                                   (weight, g.outChannels * g.columnRows / g.groups),
                                                   (output, g.batch * g.outChannels * g.outHeight * g.outWidth)]
        if let bias { operands.append((bias, g.outChannels)) }
        let flags: Int32 = (bias != nil ? 1 : 0) | (relu ? 2 : 0)
        try launch("conv2d implicit GEMM", file: "conv_implicit.cl", options: implicitConvOptions, variant: implicitConvVariantName,
                   operands: operands) { program, b in
            let kernel = try program.kernel("conv_igemm_forward")
            // Without a bias the kernel never reads its bias argument: any buffer will do.
            try setArguments(kernel, [.buffer(b[0].mem), .buffer(b[1].mem), .buffer(b[bias != nil ? 3 : 1].mem), .buffer(b[2].mem)]
                + Self.convGeometry(g) + [.int(flags)])
            try enqueueImplicit(kernel, name: "conv_igemm_forward", rows: g.outChannels / g.groups,
                                columns: g.batch * g.outHeight * g.outWidth, slices: g.groups)
        } fallback: { cpu, b in
            try cpu.conv2dImplicitForward(g, input: b[0], weight: b[1], bias: bias != nil ? b[3] : nil, relu: relu, output: b[2])
        }
    }

    public func conv2dImplicitBackwardData(_ geometry: Conv2dGeometry, gradOutput: any DeviceBuffer, weight: any DeviceBuffer,
                                           gradInput: any DeviceBuffer) throws {
        try geometry.validate()
        let g = geometry
        try Self.checkImplicitRange(g)
        try launch("conv2d implicit GEMM backward-data", file: "conv_implicit.cl", options: implicitConvOptions, variant: implicitConvVariantName,
                   operands: [(gradOutput, g.batch * g.outChannels * g.outHeight * g.outWidth), (weight, g.outChannels * g.columnRows / g.groups),
                              (gradInput, g.batch * g.inChannels * g.height * g.width)]) { program, b in
            let kernel = try program.kernel("conv_igemm_backward_data")
            try setArguments(kernel, [.buffer(b[0].mem), .buffer(b[1].mem), .buffer(b[2].mem)] + Self.convGeometry(g))
            try enqueueImplicit(kernel, name: "conv_igemm_backward_data", rows: g.inChannels / g.groups,
                                columns: g.batch * g.height * g.width, slices: g.groups)
        } fallback: { cpu, b in try cpu.conv2dImplicitBackwardData(g, gradOutput: b[0], weight: b[1], gradInput: b[2]) }
    }

    /// How the N·OH·OW reduction of the weight gradient is split: enough slices for the device
    /// (about 8 work-items per compute unit for the packed kernels, 4 work-groups per compute
    /// unit for the tiled ones) but no slice shorter than 32 (packed) or 64 (tiled) pixels.
    /// Depends on the shape and the device only, so results repeat from run to run.
    func implicitWeightSplits(_ g: Conv2dGeometry) -> (splits: Int, chunk: Int) {
        let block = implicitConvBlock, pixels = g.batch * g.outHeight * g.outWidth
        let rows = g.outChannels / g.groups, columns = g.columnRows / g.groups
        let tiles = (rows + block.rows - 1) / block.rows * ((columns + block.columns - 1) / block.columns) * g.groups
        let target = max(1, info.computeUnits) * (implicitConvTiled ? 4 : 8)
        let shortest = implicitConvTiled ? 64 : 32
        let wanted = min((target + tiles - 1) / tiles, max(1, pixels / shortest))
        let chunk = (pixels + max(wanted, 1) - 1) / max(wanted, 1)
        return ((pixels + chunk - 1) / chunk, chunk)
    }

    public func conv2dImplicitBackwardWeight(_ geometry: Conv2dGeometry, input: any DeviceBuffer, gradOutput: any DeviceBuffer,
                                             gradWeight: any DeviceBuffer) throws {
        try geometry.validate()
        let g = geometry
        try Self.checkImplicitRange(g)
        let weightCount = g.outChannels * g.columnRows / g.groups
        let (splits, chunk) = implicitWeightSplits(g)
        try launch("conv2d implicit GEMM backward-weight", file: "conv_implicit.cl", options: implicitConvOptions, variant: implicitConvVariantName,
                   operands: [(input, g.batch * g.inChannels * g.height * g.width), (gradOutput, g.batch * g.outChannels * g.outHeight * g.outWidth),
                              (gradWeight, weightCount)]) { program, b in
            // One slice writes dW itself; more write partials, summed in slice order below.
            let partial = splits == 1 ? b[2] : try scratchBuffer("conv2d implicit GEMM partial weight gradients", count: splits * weightCount)
            let kernel = try program.kernel("conv_igemm_backward_weight")
            try setArguments(kernel, [.buffer(b[0].mem), .buffer(b[1].mem), .buffer(partial.mem)] + Self.convGeometry(g)
                + [.int(Int32(splits)), .int(Int32(chunk))])
            try enqueueImplicit(kernel, name: "conv_igemm_backward_weight", rows: g.outChannels / g.groups, columns: g.columnRows / g.groups,
                                slices: g.groups * splits)
            if splits > 1 {
                try run1D(program, "conv_igemm_sum_splits", [.buffer(partial.mem), .buffer(b[2].mem), .int(Int32(weightCount)), .int(Int32(splits))],
                          count: weightCount)
            }
        } fallback: { cpu, b in try cpu.conv2dImplicitBackwardWeight(g, input: b[0], gradOutput: b[1], gradWeight: b[2]) }
    }

    /// Times the algorithms that can compute `pass` once per geometry, on scratch data, each
    /// with exactly the calls a training step makes, and remembers the fastest on disk next to
    /// the program cache. The cost is bounded: a warm-up, a calibration and three timed calls
    /// per candidate, each one draining the queue — only the first time a shape is met.
    public func conv2dAlgorithm(_ geometry: Conv2dGeometry, pass: ConvPass) -> ConvAlgorithm {
        let g = geometry
        let inputCount = g.batch * g.inChannels * g.height * g.width
        let weightCount = g.outChannels * g.columnRows / g.groups
        let outputCount = g.batch * g.outChannels * g.outHeight * g.outWidth
        // Operands shared by the candidates: what the pass reads, filled once, and what it writes.
        final class Operands {
            var input, weight, output, result: (any DeviceBuffer)?
        }
        let operands = Operands()
        func prepare() throws -> (input: any DeviceBuffer, weight: any DeviceBuffer, output: any DeviceBuffer, result: any DeviceBuffer) {
            if operands.input == nil {
                let input = try makeBuffer(count: inputCount), weight = try makeBuffer(count: weightCount)
                let output = try makeBuffer(count: outputCount)
                try fill(input, value: 0.5, offset: 0, count: inputCount)
                try fill(weight, value: 0.25, offset: 0, count: weightCount)
                try fill(output, value: 0.125, offset: 0, count: outputCount)
                operands.input = input
                operands.weight = weight
                operands.output = output
                switch pass {
                case .forward: operands.result = output
                case .backwardData: operands.result = try makeBuffer(count: inputCount)
                case .backwardWeight: operands.result = try makeBuffer(count: weightCount)
                }
            }
            return (operands.input!, operands.weight!, operands.output!, operands.result!)
        }
        let candidates = ConvAlgorithm.candidates(for: pass).map { algorithm in
            Scheduler.Candidate(id: algorithm.rawValue) { [self] in
                let b = try prepare()
                switch (pass, algorithm) {
                case (.forward, .direct): try conv2dDirect(g, input: b.input, weight: b.weight, output: b.result)
                case (.forward, .im2colGEMM): try conv2dForwardColumns(g, input: b.input, weight: b.weight, output: b.result)
                case (.forward, .implicitGEMM):
                    try conv2dImplicitForward(g, input: b.input, weight: b.weight, bias: nil, relu: false, output: b.result)
                case (.backwardData, .implicitGEMM):
                    try conv2dImplicitBackwardData(g, gradOutput: b.output, weight: b.weight, gradInput: b.result)
                case (.backwardWeight, .implicitGEMM):
                    try conv2dImplicitBackwardWeight(g, input: b.input, gradOutput: b.output, gradWeight: b.result)
                case (.backwardData, _):
                    try conv2dBackwardColumns(g, input: b.input, weight: b.weight, gradOutput: b.output, gradInput: b.result, gradWeight: nil)
                case (.backwardWeight, _):
                    try conv2dBackwardColumns(g, input: b.input, weight: b.weight, gradOutput: b.output, gradInput: nil, gradWeight: b.result)
                }
                try synchronize()
            }
        }
        let choice = convScheduler.choose(key: "conv2d \(pass.rawValue) \(g)", measuredShape: g.description, candidates: candidates,
                                          samples: 3, minSampleSeconds: 0)
        return ConvAlgorithm(rawValue: choice) ?? .im2colGEMM
    }
}
