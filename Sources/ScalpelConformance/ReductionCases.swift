import ScalpelCore
import ScalpelTensor

extension KernelCases {
    /// Reductions over every axis position, over long axes (the two-pass path of a device: a
    /// long axis into few outputs is cut into slices, with and without a short last slice, for
    /// inner = 1 and for a wide inner), per-channel sums over (N, C, positions) in one pass, and
    /// argmax (ties, NaN) and sum of squares, which have no tensor gradient.
    public static let reduction: [KernelCase] = [
        .tensor(.reduction, "sum all", [[3, 4, 2]], kernels: ["reduce_axis", "copy_strided"], quick: true) { try $0[0].sum() },
        .tensor(.reduction, "sum axes 0, 2", [[3, 4, 2]], kernels: ["reduce_channels", "copy_strided"]) { try $0[0].sum(axes: [0, 2]) },
        .tensor(.reduction, "per-channel sums, long rows", [[3, 5, 2, 350]], kernels: ["reduce_channels", "copy_strided"], quick: true) {
            try $0[0].sum(axes: [0, 2, 3])
        },
        .tensor(.reduction, "per-channel sums, short rows", [[33, 4, 3]], kernels: ["reduce_channels", "copy_strided"]) {
            try $0[0].sum(axes: [0, 2])
        },
        .tensor(.reduction, "mean keepDims", [[3, 4, 2]], kernels: ["reduce_axis", "binary_broadcast", "copy_strided"]) {
            try $0[0].mean(axes: [1], keepDims: true)
        },
        .tensor(.reduction, "variance", [[5, 3]], kernels: ["reduce_axis", "binary_broadcast", "unary", "unary_backward"]) {
            try $0[0].variance(axes: [0])
        },
        .tensor(.reduction, "max axis", [[3, 5]], kernels: ["reduce_axis", "binary_broadcast"]) { try $0[0].max(axis: 1) },
        .tensor(.reduction, "max axis 0", [[67, 33]], kernels: ["reduce_axis", "binary_broadcast"]) { try $0[0].max(axis: 0) },
        .tensor(.reduction, "global average pool", [[2, 3, 4, 5]], kernels: ["reduce_axis", "binary_broadcast", "copy_strided"]) {
            try $0[0].mean(axes: [2, 3])
        },
        .tensor(.reduction, "sum long axis", [[2, 9000]], kernels: ["reduce_axis", "copy_strided"], quick: true) { try $0[0].sum(axes: [1]) },
        .tensor(.reduction, "sum long axis, whole chunks", [[1, 8192]], kernels: ["reduce_axis", "copy_strided", "fill"]) {
            try $0[0].sum(axes: [1])
        },
        .buffers(.reduction, "argmax, max, sum of squares", shape: "outer 7, axis 33, inner 5; ties", kernels: ["reduce_axis"]) { backend in
            let (outer, axis, inner) = (7, 33, 5)
            var random = SeededRandom(seed: 71)
            // Values on a coarse grid, so that maxima tie and argmax must pick the first.
            let x = try backend.makeBuffer(random.uniformArray(outer * axis * inner, -1, 1).map { ($0 * 3).rounded() / 3 })
            return try [ReduceOp.argmax, .max, .sumOfSquares, .sum].map { op in
                let out = try backend.makeBuffer(count: outer * inner)
                try backend.reduce(op, x: x, out: out, outer: outer, axis: axis, inner: inner)
                return KernelOutput(op.rawValue, try doubles(out, on: backend))
            }
        },
        .buffers(.reduction, "max, sum of squares, long axis", shape: "outer 3, axis 10000", kernels: ["reduce_axis"]) { backend in
            let (outer, axis) = (3, 10_000)
            var random = SeededRandom(seed: 72)
            let x = try backend.makeBuffer(random.uniformArray(outer * axis))
            return try [ReduceOp.max, .sumOfSquares].map { op in
                let out = try backend.makeBuffer(count: outer)
                try backend.reduce(op, x: x, out: out, outer: outer, axis: axis, inner: 1)
                return KernelOutput(op.rawValue, try doubles(out, on: backend))
            }
        },
        .buffers(.reduction, "sum, max, argmax, long axis, wide inner", shape: "outer 1, axis 3001, inner 30", kernels: ["reduce_axis"], quick: true) { backend in
            let (outer, axis, inner) = (1, 3001, 30)
            var random = SeededRandom(seed: 73)
            let x = try backend.makeBuffer(random.uniformArray(outer * axis * inner))
            return try [ReduceOp.sum, .max, .argmax, .sumOfSquares].map { op in
                let out = try backend.makeBuffer(count: outer * inner)
                try backend.reduce(op, x: x, out: out, outer: outer, axis: axis, inner: inner)
                return KernelOutput(op.rawValue, try doubles(out, on: backend))
            }
        },
        // Many outputs along a wide inner axis: on a CPU device each work-item walks its axis alone.
        .buffers(.reduction, "sum, max, argmax, many wide outputs", shape: "outer 20, axis 9, inner 40", kernels: ["reduce_axis"]) { backend in
            let (outer, axis, inner) = (20, 9, 40)
            var random = SeededRandom(seed: 74)
            let x = try backend.makeBuffer(random.uniformArray(outer * axis * inner))
            return try [ReduceOp.sum, .max, .argmax].map { op in
                let out = try backend.makeBuffer(count: outer * inner)
                try backend.reduce(op, x: x, out: out, outer: outer, axis: axis, inner: inner)
                return KernelOutput(op.rawValue, try doubles(out, on: backend))
            }
        },
        .buffers(.reduction, "argmax and max with NaN, -inf and an empty axis", shape: "rows of 6", kernels: ["reduce_axis"], quick: true) { backend in
            // Rows: NaN first (argmax keeps index 0, max is NaN); NaN later (argmax skips it);
            // all −∞ (index 0); a tie between the last two.
            let rows: [[Float]] = [[.nan, 1, 5, 2, 0, 0], [1, 2, .nan, 7, 7, 0], [-.infinity, -.infinity, -.infinity, -.infinity, -.infinity, -.infinity],
                                   [0, 1, 2, 3, 9, 9]]
            let x = try backend.makeBuffer(rows.flatMap { $0 })
            var outputs = try [ReduceOp.argmax, .max].map { op in
                let out = try backend.makeBuffer(count: rows.count)
                try backend.reduce(op, x: x, out: out, outer: rows.count, axis: 6, inner: 1)
                return KernelOutput(op.rawValue, try doubles(out, on: backend))
            }
            let empty = try backend.makeBuffer([Float](repeating: 3, count: 4))
            try backend.reduce(.argmax, x: x, out: empty, outer: 2, axis: 0, inner: 2)
            outputs.append(KernelOutput("argmax of an empty axis", try doubles(empty, on: backend)))
            return outputs
        },
    ]
}
