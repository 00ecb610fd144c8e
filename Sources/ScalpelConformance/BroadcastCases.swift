import ScalpelCore
import ScalpelTensor

extension KernelCases {
    /// Binary ops whose inputs broadcast (gradients reduce back to each input's shape), scalar
    /// operands, the rank-8 limit, and comparisons.
    public static let broadcast: [KernelCase] = [
        .tensor(.broadcast, "add", [[2, 3, 4], [3, 1]], kernels: ["binary_broadcast", "reduce_axis"], quick: true) { try $0[0] + $0[1] },
        .tensor(.broadcast, "sub", [[4], [2, 3, 4]], kernels: ["binary_broadcast", "reduce_axis", "unary"]) { try $0[0] - $0[1] },
        .tensor(.broadcast, "mul", [[2, 1, 4], [1, 3, 1]], kernels: ["binary_broadcast", "reduce_axis"]) { try $0[0] * $0[1] },
        .tensor(.broadcast, "div", [[33, 65], [65]], ranges: [-1 ... 1, 0.5 ... 2], kernels: ["binary_broadcast", "reduce_axis", "unary"]) { try $0[0] / $0[1] },
        .tensor(.broadcast, "maximum", [[5, 1, 7], [3, 1]], kernels: ["binary_broadcast", "reduce_axis"]) { try $0[0].maximum($0[1]) },
        .tensor(.broadcast, "minimum", [[3, 4], [4]], kernels: ["binary_broadcast", "reduce_axis"]) { try $0[0].minimum($0[1]) },
        .tensor(.broadcast, "pow", [[4, 5], [4, 1]], ranges: [0.5 ... 2, -1.5 ... 1.5], kernels: ["binary_broadcast", "reduce_axis", "unary"]) {
            try $0[0].pow($0[1])
        },
        // A per-channel operand over (N, C, H, W): H and W merge into one dimension on a device.
        .tensor(.broadcast, "per-channel mul", [[4, 6, 5, 7], [1, 6, 1, 1]], kernels: ["binary_broadcast", "reduce_axis"], quick: true) {
            try $0[0] * $0[1]
        },
        .tensor(.broadcast, "scalar operands", [[3, 4]], kernels: ["binary_broadcast", "unary"]) { try (2 - $0[0] * 3 + 1) / 4 },
        .tensor(.broadcast, "rank 8", [[2, 1, 2, 1, 2, 1, 2, 3], [1, 2, 1, 2, 1, 2, 1, 3]], kernels: ["binary_broadcast", "reduce_axis"], quick: true) {
            try $0[0] * $0[1]
        },
        comparisons(.broadcast, [4, 1, 5], [3, 1], kernel: "binary_broadcast"),
    ]
}
