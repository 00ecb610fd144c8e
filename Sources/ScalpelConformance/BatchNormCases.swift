import ScalpelCore
import ScalpelNN
import ScalpelTensor

extension KernelCases {
    /// The kernels of a training-mode forward and backward pass (statistics with the running
    /// update, normalisation; per-channel gradient sums, dx).
    static let batchNormKernels = ["batch_norm_statistics", "batch_norm_apply", "batch_norm_backward_reduce", "batch_norm_backward_input"]

    /// The batch-normalisation layers: training mode (batch statistics; the output scaled and
    /// shifted by inputs, so that those get gradients too), evaluation mode (running statistics
    /// from a training step on other data), the fused op with its own weight and bias as inputs
    /// (with and without the fused ReLU, at the edges of the work-group walk over N·L, and with
    /// more images than a work-group has work-items), and the running statistics a training step
    /// leaves.
    public static let batchNorm: [KernelCase] = [
        batchNormCase("BatchNorm2d training", [4, 3, 5, 6], quick: true),
        batchNormCase("BatchNorm1d training", [6, 5]),
        batchNormCase("BatchNorm1d training", [4, 3, 7]),
        batchNormCase("BatchNorm2d training", [2, 17, 9, 11]),
        batchNormCase("BatchNorm2d evaluation after a step", [3, 4, 5, 5], evaluation: true, quick: true),
        fusedBatchNormCase("fused with ReLU", [3, 2, 33], relu: true, quick: true),
        fusedBatchNormCase("fused with ReLU", [5, 3, 257], relu: true),
        fusedBatchNormCase("fused", [2, 64, 31]),
        fusedBatchNormCase("fused (N, C)", [70, 3], relu: true),
        fusedBatchNormCase("fused, more images than a work-group", [80, 2, 20], relu: true),
        fusedBatchNormCase("fused evaluation with ReLU", [3, 3, 32], relu: true, evaluation: true, quick: true),
        fusedBatchNormCase("fused evaluation", [4, 2, 255], evaluation: true),
        .buffers(.batchNorm, "running statistics after 2 steps", shape: "BatchNorm2d 5×6×7×3, BatchNorm1d 9×4",
                 kernels: ["batch_norm_statistics", "batch_norm_apply"], quick: true) { backend in
            var random = SeededRandom(seed: 91)
            let layer2d = try BatchNorm2d(6, momentum: 0.3, on: backend), layer1d = try BatchNorm1d(4, momentum: 0.3, on: backend)
            try Autograd.noGrad {
                for _ in 0 ..< 2 {
                    _ = try layer2d(try Tensor(random.uniformArray(5 * 6 * 7 * 3, -2, 3), shape: [5, 6, 7, 3], on: backend))
                    _ = try layer1d(try Tensor(random.uniformArray(9 * 4, -1, 2), shape: [9, 4], on: backend))
                }
            }
            return try [("2d running mean", layer2d.runningMean), ("2d running variance", layer2d.runningVar),
                        ("1d running mean", layer1d.runningMean), ("1d running variance", layer1d.runningVar)].map {
                KernelOutput($0.0, try doubles($0.1))
            }
        },
    ]

    /// y = BatchNorm(x)·scale + shift. In evaluation mode the running statistics come from a
    /// training step on fixed data (not the inputs: they are state, outside the gradient).
    static func batchNormCase(_ name: String, _ shape: [Int], evaluation: Bool = false, quick: Bool = false) -> KernelCase {
        let c = shape[1]
        let broadcast = [c] + [Int](repeating: 1, count: shape.count - 2)
        // Both modes run a training forward pass (evaluation in its step for the running
        // statistics) and the two backward kernels.
        return .tensor(.batchNorm, name, [shape, [c], [c]], ranges: [-2 ... 3, 0.5 ... 1.5, -1 ... 1], inputNames: ["input", "scale", "shift"],
                       kernels: batchNormKernels, quick: quick) { x in
            let backend = x[0].backend
            let layer: BatchNorm = shape.count == 4 ? try BatchNorm2d(c, momentum: 0.3, on: backend) : try BatchNorm1d(c, momentum: 0.3, on: backend)
            func apply(_ input: Tensor) throws -> Tensor {
                if let layer = layer as? BatchNorm2d { return try layer(input) }
                return try (layer as! BatchNorm1d)(input)
            }
            if evaluation {
                var random = SeededRandom(seed: 92)
                _ = try Autograd.noGrad { try apply(try Tensor(random.uniformArray(x[0].count, -1, 4), shape: shape, on: backend)) }
                layer.eval()
            }
            return try apply(x[0]) * x[1].reshaped(broadcast) + x[2].reshaped(broadcast)
        }
    }

    /// The fused op on (input, weight, bias), optionally with its ReLU. Evaluation mode reads
    /// running statistics set by a training pass on other data; the inputs' mean is offset from
    /// 0 (range −2…5) so that a variance formed as E[x²] − E[x]² would lose digits.
    static func fusedBatchNormCase(_ name: String, _ shape: [Int], relu: Bool = false, evaluation: Bool = false, quick: Bool = false) -> KernelCase {
        let c = shape[1]
        return .tensor(.batchNorm, name, [shape, [c], [c]], ranges: [-2 ... 5, 0.5 ... 1.5, -1 ... 1], inputNames: ["input", "weight", "bias"],
                       kernels: batchNormKernels, quick: quick) { x in
            let backend = x[0].backend
            let runningMean = try Tensor.zeros([c], on: backend), runningVar = try Tensor.ones([c], on: backend)
            if evaluation {
                var random = SeededRandom(seed: 93)
                let other = try Tensor(random.uniformArray(x[0].count, -1, 4), shape: shape, on: backend)
                _ = try Autograd.noGrad {
                    try other.batchNorm(weight: x[1], bias: x[2], runningMean: runningMean, runningVar: runningVar, training: true, momentum: 0.6,
                                        epsilon: 1e-5)
                }
            }
            return try x[0].batchNorm(weight: x[1], bias: x[2], runningMean: runningMean, runningVar: runningVar, training: !evaluation,
                                      momentum: 0.1, epsilon: 1e-5, relu: relu)
        }
    }
}
