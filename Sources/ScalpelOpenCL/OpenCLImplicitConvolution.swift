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

    /// packed: output (or input) channels per work-item for forward and backward-data (a
    /// supported row count at most the GEMM's) and the float vector width: lanes are columns
    /// of one image row, so 8 wastes little on the narrow rows of late stages (7 of 8 lanes at
    /// 7×7). tiled: the square tile and results per work-item along each side, shrunk where a
    /// device's work-group cannot hold 16×16.
    private var implicitConvBlock: (rows: Int, columns: Int, perItem: Int) {
        if implicitConvTiled {
            return info.maxWorkGroupSize >= 256 ? (64, 64, 4) : (32, 32, 4)
        }
        return ([8, 6, 4].first { $0 <= tuning.packRM } ?? 4, 8, 1)
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

    /// Enqueues one implicit-GEMM kernel. tiled: a result of `rows` × `pixels` per slice in
    /// square tiles. packed: `rows` in blocks of `rowsPerItem` by `images`·`height` image rows
    /// of `width` columns in vectors of the block's width (the work-item's lanes), or — when
    /// `itemsAlong0` is given — that many work-items along dimension 0. `slices` (groups, or
    /// groups × splits) along dimension 2.
    private func enqueueImplicit(_ kernel: cl_kernel, name: String, rows: Int, pixels: Int, imageRows: Int, width: Int, slices: Int,
                                 rowsPerItem: Int? = nil, itemsAlong0: Int? = nil) throws {
        let block = implicitConvBlock
        if implicitConvTiled {
            let side = block.rows / block.perItem
            let rowBlocks = (rows + block.rows - 1) / block.rows, columnBlocks = (pixels + block.columns - 1) / block.columns
            try enqueue(kernel, name: name, global: [columnBlocks * side, rowBlocks * side, slices], local: [side, side, 1])
        } else {
            let perItem = rowsPerItem ?? block.rows
            let items = itemsAlong0 ?? imageRows * ((width + block.columns - 1) / block.columns)
            // An explicit work-group, as gemm_packed: PoCL's own choice collapses for awkward sizes.
            let group = max(1, tuning.packGroup)
            try enqueue(kernel, name: name, global: [(items + group - 1) / group * group, (rows + perItem - 1) / perItem, slices],
                        local: [group, 1, 1])
        }
    }

    /// Validates `geometry` and the buffers (`shapeMismatch`; every tensor must hold fewer than 2³¹
    /// elements), then enqueues conv_implicit.cl's conv_igemm_forward, one launch that adds the
    /// bias and applies the ReLU as it stores, in the packed or tiled family (`implicitConvTiled`);
    /// when conv_implicit.cl does not build, runs the CPU-Swift backend's `conv2dImplicitForward`
    /// on copies of the operands.
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
            try enqueueImplicit(kernel, name: "conv_igemm_forward", rows: g.outChannels / g.groups, pixels: g.batch * g.outHeight * g.outWidth,
                                imageRows: g.batch * g.outHeight, width: g.outWidth, slices: g.groups)
        } fallback: { cpu, b in
            try cpu.conv2dImplicitForward(g, input: b[0], weight: b[1], bias: bias != nil ? b[3] : nil, relu: relu, output: b[2])
        }
    }

    /// Validates as `conv2dImplicitForward` does, then enqueues conv_igemm_backward_data, one
    /// launch in which each input element's gradient is gathered (no atomics); when
    /// conv_implicit.cl does not build, runs the CPU-Swift backend's `conv2dImplicitBackwardData`
    /// on copies of the operands.
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
            try enqueueImplicit(kernel, name: "conv_igemm_backward_data", rows: g.inChannels / g.groups, pixels: g.batch * g.height * g.width,
                                imageRows: g.batch * g.height, width: g.width, slices: g.groups)
        } fallback: { cpu, b in try cpu.conv2dImplicitBackwardData(g, gradOutput: b[0], weight: b[1], gradInput: b[2]) }
    }

    /// How the N·OH·OW reduction of the weight gradient is split: enough slices for the device
    /// (about 8 work-items per compute unit for the packed kernels, 4 work-groups per compute
    /// unit for the tiled ones), none shorter than about 64 pixels. The tiled kernels split
    /// pixels, the packed ones whole output rows (their lanes run along a row). Depends on the
    /// shape and the device only, so results repeat from run to run.
    func implicitWeightSplits(_ g: Conv2dGeometry) -> (splits: Int, chunk: Int) {
        let tiled = implicitConvTiled, block = implicitConvBlock
        let rows = g.outChannels / g.groups, columns = g.columnRows / g.groups
        let (rowBlock, columnBlock) = tiled ? (block.rows, block.columns) : (4, 4)
        let tiles = (rows + rowBlock - 1) / rowBlock * ((columns + columnBlock - 1) / columnBlock) * g.groups
        let target = max(1, info.computeUnits) * (tiled ? 4 : 8)
        // What is split: pixels (tiled) or output rows (packed), at least ~64 pixels a slice.
        let units = tiled ? g.batch * g.outHeight * g.outWidth : g.batch * g.outHeight
        let shortest = tiled ? 64 : max(1, 64 / g.outWidth)
        let wanted = max(1, min((target + tiles - 1) / tiles, units / shortest))
        let chunk = (units + wanted - 1) / wanted
        return ((units + chunk - 1) / chunk, chunk)
    }

    /// Validates as `conv2dImplicitForward` does, then enqueues conv_igemm_backward_weight with the
    /// N·OH·OW sum split as `implicitWeightSplits` says; more than one slice writes partial
    /// gradients to a scratch buffer, which conv_igemm_sum_splits adds in slice order
    /// (deterministic, no atomics). When conv_implicit.cl does not build, runs the CPU-Swift
    /// backend's `conv2dImplicitBackwardWeight` on copies of the operands.
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
            // packed: 4 × 4 blocks of (K/G) × (C/G·R·S); the pixels are the reduction.
            try enqueueImplicit(kernel, name: "conv_igemm_backward_weight", rows: g.outChannels / g.groups, pixels: g.columnRows / g.groups,
                                imageRows: 0, width: 0, slices: g.groups * splits, rowsPerItem: 4, itemsAlong0: (g.columnRows / g.groups + 3) / 4)
            if splits > 1 {
                try run1D(program, "conv_igemm_sum_splits", [.buffer(partial.mem), .buffer(b[2].mem), .int(Int32(weightCount)), .int(Int32(splits))],
                          count: weightCount)
            }
        } fallback: { cpu, b in try cpu.conv2dImplicitBackwardWeight(g, input: b[0], gradOutput: b[1], gradWeight: b[2]) }
    }

    /// Twice the CPU backend's column budget: 16 Mi floats (64 MiB), so that ResNet-18's
    /// stage-1 layers on 32 images of 28×28 (14.5 M floats of columns) take one chunk. With
    /// 8 Mi they took two — twice the launches of each pass, and each chunk's operands packed on
    /// their own —, which cost PoCL 70 ms of an 855 ms step.
    public var convColumnBudget: Int { Self.columnBudget }
    static let columnBudget = 16 << 20

    /// Times the algorithms that can compute `pass` once per geometry, on scratch data, each
    /// with exactly the calls a training step makes, and remembers the fastest on disk next to
    /// the program cache. The cost is bounded: a warm-up, a calibration and three timed calls
    /// per candidate, each one draining the queue — only the first time a shape is met.
    /// `SCALPEL_CONV_ALGORITHM` (im2colGEMM, direct, implicitGEMM or winograd) forces one algorithm on
    /// every pass, measuring nothing (to compare the algorithms inside a whole training step).
    public func conv2dAlgorithm(_ geometry: Conv2dGeometry, pass: ConvPass) -> ConvAlgorithm {
        if let forced = ProcessInfo.processInfo.environment["SCALPEL_CONV_ALGORITHM"].flatMap(ConvAlgorithm.init(rawValue:)) {
            return forced.resolved(for: pass)
        }
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
                case (.forward, .winograd):
                    try conv2dWinogradForward(g, input: b.input, weight: b.weight, bias: nil, relu: false, output: b.result)
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
