import ScalpelTensor

extension KernelCases {
    /// Softmax and log-softmax over rows: short rows, one column, and rows longer than any
    /// work-group.
    public static let softmax: [KernelCase] = [
        .tensor(.softmax, "softmax", [[3, 5]], ranges: [-3 ... 3], kernels: ["softmax_rows", "softmax_rows_backward"], quick: true) {
            try $0[0].softmax()
        },
        .tensor(.softmax, "logSoftmax", [[3, 5]], ranges: [-3 ... 3], kernels: ["softmax_rows", "softmax_rows_backward"], quick: true) {
            try $0[0].logSoftmax()
        },
        // One column: softmax is 1 whatever x, so the output is multiplied by x to give x a gradient.
        .tensor(.softmax, "softmax one column, times x", [[2, 3, 1]], kernels: ["softmax_rows", "softmax_rows_backward"]) {
            try $0[0].softmax() * $0[0]
        },
        .tensor(.softmax, "softmax", [[67, 1031]], ranges: [-8 ... 8], kernels: ["softmax_rows", "softmax_rows_backward"]) { try $0[0].softmax() },
        .tensor(.softmax, "logSoftmax", [[5, 1031]], ranges: [-30 ... 30], kernels: ["softmax_rows", "softmax_rows_backward"]) {
            try $0[0].logSoftmax()
        },
    ]
}
