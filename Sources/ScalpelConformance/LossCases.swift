import ScalpelCore
import ScalpelTensor

extension KernelCases {
    /// The fused losses: cross-entropy plain, with class weights and label smoothing, and over
    /// many classes; BCE with logits with and without a positive weight; MSE (composite).
    public static let loss: [KernelCase] = [
        .tensor(.loss, "crossEntropy", [[5, 3]], ranges: [-2 ... 2], kernels: ["cross_entropy", "cross_entropy_backward"], quick: true) { x in
            try x[0].crossEntropy(labels: try Tensor(labels: [2, 0, 1, 2, 1], on: x[0].backend))
        },
        .tensor(.loss, "crossEntropy weights smoothing", [[5, 3], [3]], ranges: [-2 ... 2, 0.5 ... 2], constants: [1],
                kernels: ["cross_entropy", "cross_entropy_backward"]) { x in
            try x[0].crossEntropy(labels: try Tensor(labels: [2, 0, 1, 2, 1], on: x[0].backend), classWeights: x[1].detached(), labelSmoothing: 0.1)
        },
        .tensor(.loss, "crossEntropy", [[67, 1000]], ranges: [-6 ... 6], kernels: ["cross_entropy", "cross_entropy_backward"]) { x in
            try x[0].crossEntropy(labels: try Tensor(labels: (0 ..< 67).map { Int32($0 * 389 % 1000) }, on: x[0].backend), labelSmoothing: 0.05)
        },
        .tensor(.loss, "bceWithLogits posWeight", [[4, 3], [4, 3]], ranges: [-3 ... 3, 0 ... 1], constants: [1],
                kernels: ["bce_with_logits", "bce_with_logits_backward"], quick: true) { x in
            try x[0].bceWithLogits(targets: x[1].detached(), posWeight: try Tensor([0.5, 1, 2], shape: [3], on: x[0].backend))
        },
        .tensor(.loss, "bceWithLogits", [[37, 29], [37, 29]], ranges: [-20 ... 20, 0 ... 1], constants: [1],
                kernels: ["bce_with_logits", "bce_with_logits_backward"]) { x in
            try x[0].bceWithLogits(targets: x[1].detached())
        },
        .tensor(.loss, "mseLoss", [[3, 4], [3, 4]], kernels: ["binary_same", "unary", "unary_backward", "reduce_axis"]) { try $0[0].mseLoss($0[1]) },
    ]
}
