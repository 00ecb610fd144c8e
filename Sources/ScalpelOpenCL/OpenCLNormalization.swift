import ScalpelCPU
import ScalpelCore

/// Fused batch and layer normalisation on an OpenCL device (normalization.cl). Batch norm in
/// training is two launches forward (per-channel statistics with the running update, then the
/// normalisation) and two backward (per-channel sums, then dx); in evaluation one. Layer norm is
/// one launch forward and two backward (dx per row, dweight/dbias per column block). When the
/// program does not build, every call runs on the CPU-Swift backend (see `launch`).
extension OpenCLBackend {
    /// Work-items per group of the reducing kernels: 256 on a GPU (enough to hide memory latency
    /// in one channel's reduction), 64 on a CPU device (PoCL runs a group's work-items as a
    /// vectorised loop on one core: larger groups only lengthen the serial tree), never above the
    /// device's limit, rounded down to a power of two (the tree reduction halves it).
    var normalizationGroup: Int {
        let limit = min(info.kind == .cpu ? 64 : 256, max(1, info.maxWorkGroupSize))
        var group = 1
        while group * 2 <= limit { group *= 2 }
        return group
    }

    /// Launches element-wise kernel `name` over x (N, C, L): work-item (l, c, n), or (c, n) when
    /// L = 1 (see normalization.cl), in row-walking groups (`runRows`).
    private func runElements(_ program: CLProgram, _ name: String, _ arguments: [KernelArgument], _ g: BatchNormGeometry) throws {
        let global = g.spatial == 1 ? [g.channels, g.batch, 1] : [g.spatial, g.channels, g.batch]
        try runRows(program, name, arguments, global: global)
    }

    /// Sizes the kernels index with 32-bit integers.
    private static func checkNormalizationLimits(_ op: String, _ sizes: [Int]) throws {
        guard sizes.allSatisfy({ $0 < Int(Int32.max) }) else {
            throw ScalpelError.shapeMismatch(op: op, detail: "sizes \(sizes) must be below 2³¹ on OpenCL")
        }
    }

    /// Runs `body` with normalization.cl built for this device's group size, or `fallback` on the CPU backend.
    private func normalizationLaunch(_ op: String, operands: [(any DeviceBuffer, Int)], body: (CLProgram, [CLBuffer]) throws -> Void,
                                     fallback: (CPUBackend, [any DeviceBuffer]) throws -> Void) throws {
        let group = normalizationGroup
        // A CPU device sums a channel's runs in float16 vectors per work-item (ROW_VECTORS); a
        // GPU keeps one value per work-item, consecutive work-items on consecutive values.
        let rowVectors = info.kind == .cpu ? 1 : 0
        // 32-bit element indices where every operand fits them.
        let intIndex = Self.fitsInt(operands.map(\.1).max() ?? 0) ? 1 : 0
        try launch(op, file: "normalization.cl", options: "-DGROUP=\(group) -DROW_VECTORS=\(rowVectors) -DBN_INT_INDEX=\(intIndex)",
                   variant: "group \(group)" + (intIndex == 1 ? ", 32-bit indices" : ""), operands: operands, body: body, fallback: fallback)
    }

    /// Throws for an invalid geometry (`BatchNormGeometry.validate`), a channel with a single
    /// value, a size of 2³¹ or more or a buffer too short (`shapeMismatch`), then enqueues two
    /// launches of normalization.cl: batch_norm_statistics, one work-group of `normalizationGroup`
    /// per channel, for the saved and running statistics, then batch_norm_apply per element; when
    /// normalization.cl does not build, runs the CPU-Swift backend's `batchNormTraining` on copies
    /// of the operands.
    public func batchNormTraining(_ geometry: BatchNormGeometry, x: any DeviceBuffer, weight: any DeviceBuffer, bias: any DeviceBuffer,
                                  runningMean: any DeviceBuffer, runningVar: any DeviceBuffer,
                                  savedMean: any DeviceBuffer, savedInvStd: any DeviceBuffer, y: any DeviceBuffer) throws {
        let g = geometry
        try g.validate(op: "batch_norm")
        guard g.perChannel > 1 || g.channels == 0 else {
            throw ScalpelError.shapeMismatch(op: "batch_norm", detail: "training needs more than one value per channel (\(g))")
        }
        try Self.checkNormalizationLimits("batch_norm", [g.perChannel, g.batch * g.channels, g.spatial])
        let c = g.channels
        guard g.count > 0 else { return }
        let group = normalizationGroup
        try normalizationLaunch("batch_norm", operands: [(x, g.count), (weight, c), (bias, c), (runningMean, c), (runningVar, c),
                                                         (savedMean, c), (savedInvStd, c), (y, g.count)]) { program, b in
            let statistics = try program.kernel("batch_norm_statistics")
            try setArguments(statistics, [.buffer(b[0].mem), .buffer(b[3].mem), .buffer(b[4].mem), .buffer(b[5].mem), .buffer(b[6].mem),
                                          .int(Int32(g.batch)), .int(Int32(c)), .int(Int32(g.spatial)), .float(g.epsilon), .float(g.momentum)])
            try enqueue(statistics, name: "batch_norm_statistics", global: [c * group], local: [group])
            try runElements(program, "batch_norm_apply", [.buffer(b[0].mem), .buffer(b[1].mem), .buffer(b[2].mem), .buffer(b[5].mem), .buffer(b[6].mem),
                                                          .int(0), .buffer(b[7].mem), .int(Int32(g.batch)), .int(Int32(c)), .int(Int32(g.spatial)),
                                                          .float(g.epsilon), .int(g.relu ? 1 : 0)], g)
        } fallback: { cpu, b in
            try cpu.batchNormTraining(g, x: b[0], weight: b[1], bias: b[2], runningMean: b[3], runningVar: b[4], savedMean: b[5],
                                      savedInvStd: b[6], y: b[7])
        }
    }

    /// Checks as `batchNormTraining` does (a single value per channel allowed), then enqueues one
    /// batch_norm_apply per element with the running statistics; when normalization.cl does not
    /// build, runs the CPU-Swift backend's `batchNormInference` on copies of the operands.
    public func batchNormInference(_ geometry: BatchNormGeometry, x: any DeviceBuffer, weight: any DeviceBuffer, bias: any DeviceBuffer,
                                   runningMean: any DeviceBuffer, runningVar: any DeviceBuffer, y: any DeviceBuffer) throws {
        let g = geometry
        try g.validate(op: "batch_norm evaluation")
        try Self.checkNormalizationLimits("batch_norm evaluation", [g.batch * g.channels, g.spatial])
        let c = g.channels
        guard g.count > 0 else { return }
        try normalizationLaunch("batch_norm evaluation", operands: [(x, g.count), (weight, c), (bias, c), (runningMean, c), (runningVar, c),
                                                                    (y, g.count)]) { program, b in
            try runElements(program, "batch_norm_apply", [.buffer(b[0].mem), .buffer(b[1].mem), .buffer(b[2].mem), .buffer(b[3].mem), .buffer(b[4].mem),
                                                          .int(1), .buffer(b[5].mem), .int(Int32(g.batch)), .int(Int32(c)), .int(Int32(g.spatial)),
                                                          .float(g.epsilon), .int(g.relu ? 1 : 0)], g)
        } fallback: { cpu, b in
            try cpu.batchNormInference(g, x: b[0], weight: b[1], bias: b[2], runningMean: b[3], runningVar: b[4], y: b[5])
        }
    }

    /// Throws for an invalid geometry, a size of 2³¹ or more or a buffer too short (y checked only
    /// when `relu`), then enqueues batch_norm_backward_reduce, one work-group per channel, for
    /// dWeight and dBias and, when dx is given, batch_norm_backward_input per element; when normalization.cl does not build, runs
    /// the CPU-Swift backend's `batchNormBackward` on copies of the operands.
    public func batchNormBackward(_ geometry: BatchNormGeometry, training: Bool, x: any DeviceBuffer, weight: any DeviceBuffer, y: any DeviceBuffer,
                                  dy: any DeviceBuffer, mean: any DeviceBuffer, statistic: any DeviceBuffer,
                                  dx: (any DeviceBuffer)?, dWeight: any DeviceBuffer, dBias: any DeviceBuffer) throws {
        let g = geometry
        try g.validate(op: "batch_norm backward")
        try Self.checkNormalizationLimits("batch_norm backward", [g.perChannel, g.batch * g.channels, g.spatial])
        let c = g.channels
        guard c > 0 else { return }
        let group = normalizationGroup
        // Without dx the kernels still need a buffer argument: dy stands in (not written).
        let operands: [(any DeviceBuffer, Int)] = [(x, g.count), (weight, c), (y, g.relu ? g.count : 0), (dy, g.count), (mean, c), (statistic, c),
                                                   (dx ?? dy, dx == nil ? 0 : g.count), (dWeight, c), (dBias, c)]
        try normalizationLaunch("batch_norm backward", operands: operands) { program, b in
            let reduce = try program.kernel("batch_norm_backward_reduce")
            try setArguments(reduce, [.buffer(b[0].mem), .buffer(b[2].mem), .buffer(b[3].mem), .buffer(b[4].mem), .buffer(b[5].mem),
                                      .int(training ? 0 : 1), .buffer(b[7].mem), .buffer(b[8].mem), .int(Int32(g.batch)), .int(Int32(c)),
                                      .int(Int32(g.spatial)), .float(g.epsilon), .int(g.relu ? 1 : 0)])
            try enqueue(reduce, name: "batch_norm_backward_reduce", global: [c * group], local: [group])
            guard dx != nil, g.count > 0 else { return }
            try runElements(program, "batch_norm_backward_input", [.buffer(b[0].mem), .buffer(b[1].mem), .buffer(b[2].mem), .buffer(b[3].mem),
                                                                   .buffer(b[4].mem), .buffer(b[5].mem), .int(training ? 1 : 0), .buffer(b[7].mem),
                                                                   .buffer(b[8].mem), .buffer(b[6].mem), .int(Int32(g.batch)), .int(Int32(c)),
                                                                   .int(Int32(g.spatial)), .int(Int32(g.perChannel)), .float(g.epsilon),
                                                                   .int(g.relu ? 1 : 0)], g)
        } fallback: { cpu, b in
            try cpu.batchNormBackward(g, training: training, x: b[0], weight: b[1], y: b[2], dy: b[3], mean: b[4], statistic: b[5],
                                      dx: dx == nil ? nil : b[6], dWeight: b[7], dBias: b[8])
        }
    }

    /// Throws for an invalid geometry, rows or features of 2³¹ or more, or a buffer too short, then
    /// enqueues layer_norm_forward, one work-group of `normalizationGroup` per row; when
    /// normalization.cl does not build, runs the CPU-Swift backend's `layerNorm` on copies of the
    /// operands.
    public func layerNorm(_ geometry: LayerNormGeometry, x: any DeviceBuffer, weight: any DeviceBuffer, bias: any DeviceBuffer,
                          y: any DeviceBuffer, mean: any DeviceBuffer, rstd: any DeviceBuffer) throws {
        let g = geometry
        try g.validate(op: "layer_norm")
        try Self.checkNormalizationLimits("layer_norm", [g.rows, g.features])
        guard g.rows > 0 else { return }
        let group = normalizationGroup
        try normalizationLaunch("layer_norm", operands: [(x, g.count), (weight, g.features), (bias, g.features), (y, g.count), (mean, g.rows),
                                                         (rstd, g.rows)]) { program, b in
            let kernel = try program.kernel("layer_norm_forward")
            try setArguments(kernel, [.buffer(b[0].mem), .buffer(b[1].mem), .buffer(b[2].mem), .buffer(b[3].mem), .buffer(b[4].mem),
                                      .buffer(b[5].mem), .int(Int32(g.features)), .float(g.epsilon)])
            try enqueue(kernel, name: "layer_norm_forward", global: [g.rows * group], local: [group])
        } fallback: { cpu, b in
            try cpu.layerNorm(g, x: b[0], weight: b[1], bias: b[2], y: b[3], mean: b[4], rstd: b[5])
        }
    }

    /// Checks as `layerNorm` does, then enqueues layer_norm_backward_input, one work-group per row,
    /// when dx is given, and layer_norm_backward_parameters, one work-group per block of up to 32
    /// features, when dWeight or dBias is; when normalization.cl does not build, runs the CPU-Swift
    /// backend's `layerNormBackward` on copies of the operands.
    public func layerNormBackward(_ geometry: LayerNormGeometry, x: any DeviceBuffer, weight: any DeviceBuffer, dy: any DeviceBuffer,
                                  mean: any DeviceBuffer, rstd: any DeviceBuffer,
                                  dx: (any DeviceBuffer)?, dWeight: (any DeviceBuffer)?, dBias: (any DeviceBuffer)?) throws {
        let g = geometry
        try g.validate(op: "layer_norm backward")
        try Self.checkNormalizationLimits("layer_norm backward", [g.rows, g.features])
        guard g.features > 0 else { return }
        let group = normalizationGroup
        // Missing outputs: dy stands in as the argument (not written; the flags say so).
        let operands: [(any DeviceBuffer, Int)] = [(x, g.count), (weight, g.features), (dy, g.count), (mean, g.rows), (rstd, g.rows),
                                                   (dx ?? dy, dx == nil ? 0 : g.count), (dWeight ?? dy, dWeight == nil ? 0 : g.features),
                                                   (dBias ?? dy, dBias == nil ? 0 : g.features)]
        try normalizationLaunch("layer_norm backward", operands: operands) { program, b in
            if dx != nil && g.rows > 0 {
                let rows = try program.kernel("layer_norm_backward_input")
                try setArguments(rows, [.buffer(b[0].mem), .buffer(b[1].mem), .buffer(b[2].mem), .buffer(b[3].mem), .buffer(b[4].mem),
                                        .buffer(b[5].mem), .int(Int32(g.features))])
                try enqueue(rows, name: "layer_norm_backward_input", global: [g.rows * group], local: [group])
            }
            if dWeight != nil || dBias != nil {
                let columns = min(32, group)
                let kernel = try program.kernel("layer_norm_backward_parameters")
                try setArguments(kernel, [.buffer(b[0].mem), .buffer(b[2].mem), .buffer(b[3].mem), .buffer(b[4].mem), .buffer(b[6].mem),
                                          .int(dWeight == nil ? 0 : 1), .buffer(b[7].mem), .int(dBias == nil ? 0 : 1), .int(Int32(g.rows)),
                                          .int(Int32(g.features))])
                try enqueue(kernel, name: "layer_norm_backward_parameters", global: [(g.features + columns - 1) / columns * group], local: [group])
            }
        } fallback: { cpu, b in
            try cpu.layerNormBackward(g, x: b[0], weight: b[1], dy: b[2], mean: b[3], rstd: b[4], dx: dx == nil ? nil : b[5],
                                      dWeight: dWeight == nil ? nil : b[6], dBias: dBias == nil ? nil : b[7])
        }
    }
}
