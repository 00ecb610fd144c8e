import ScalpelCore
import ScalpelNN
import ScalpelTensor

extension KernelCases {
    /// Layer normalisation over the last dimension with weight and bias as inputs: rows of a
    /// few features and of more features than a work-group has work-items, a rank-3 input (the
    /// transformer's), and the layer whose weight and bias need no gradient from the input side.
    public static let layerNorm: [KernelCase] = [
        layerNormCase([5, 7], quick: true),
        layerNormCase([3, 4, 33], quick: true),
        layerNormCase([6, 257]),
        layerNormCase([2, 64]),
        layerNormCase([20, 3]),
        .tensor(.layerNorm, "LayerNorm layer", [[3, 5, 16]], ranges: [-3 ... 4], kernels: ["layer_norm_forward", "layer_norm_backward_input",
                                                                                           "layer_norm_backward_parameters"]) { x in
            try LayerNorm(16, on: x[0].backend)(x[0])
        },
    ]

    /// (x − mean)/√(var + ε)·weight + bias over the last dimension of `shape`.
    static func layerNormCase(_ shape: [Int], quick: Bool = false) -> KernelCase {
        let features = shape[shape.count - 1]
        return .tensor(.layerNorm, "layer_norm", [shape, [features], [features]], ranges: [-2 ... 5, 0.5 ... 1.5, -1 ... 1],
                       inputNames: ["input", "weight", "bias"],
                       kernels: ["layer_norm_forward", "layer_norm_backward_input", "layer_norm_backward_parameters"], quick: quick) { x in
            try x[0].layerNorm(weight: x[1], bias: x[2], epsilon: 1e-5)
        }
    }
}
