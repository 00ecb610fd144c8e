import Foundation
import Scalpel
import ScalpelCore
import ScalpelNN
import ScalpelTensor

/// The convolution benchmark of `scalpel bench conv`: one network's convolutions alone,
/// forward or forward and backward, synchronised at the end of each call.
public enum TrainingBenchmark {
    /// One convolution of a benchmark set: square kernel, stride and padding, no dilation or groups.
    public struct ConvShape: Sendable {
        /// What the table prints ("conv 3×3 1→32, 64×1×28×28").
        public var name: String
        /// The input (N, C, H, W).
        public var input: [Int]
        /// Output channels K.
        public var outChannels: Int
        /// Kernel height and width.
        public var kernel = 3
        /// Stride along both axes.
        public var stride = 1
        /// Zero padding on every side.
        public var padding = 1
        /// Whether the layer has a bias (ResNet's convolutions are followed by batch norm and have none).
        public var bias = true

        /// Nominal FLOPs of the forward pass (2 per multiply-add).
        public var forwardFlops: Double {
            let outH = (input[2] + 2 * padding - kernel) / stride + 1, outW = (input[3] + 2 * padding - kernel) / stride + 1
            return 2 * Double(input[0] * outChannels * outH * outW * input[1] * kernel * kernel)
        }
    }

    /// The convolutions inside the small CNN (batch 64).
    public static let convShapes: [ConvShape] = [
        ConvShape(name: "conv 3×3 1→32, 64×1×28×28", input: [64, 1, 28, 28], outChannels: 32),
        ConvShape(name: "conv 3×3 32→64, 64×32×14×14", input: [64, 32, 14, 14], outChannels: 64),
    ]

    /// The distinct convolutions of ResNet-18 for 28×28 inputs (3×3 stride-1 stem, no max-pool)
    /// at batch 32: the stem, then per stage its 3×3 convolutions and 1×1 shortcut.
    public static let resnet18ConvShapes: [ConvShape] = [
        ConvShape(name: "stem 3×3 1→64, 32×1×28×28", input: [32, 1, 28, 28], outChannels: 64, bias: false),
        ConvShape(name: "stage1 3×3 64→64, 32×64×28×28", input: [32, 64, 28, 28], outChannels: 64, bias: false),
        ConvShape(name: "stage2 3×3/2 64→128, 32×64×28×28", input: [32, 64, 28, 28], outChannels: 128, stride: 2, bias: false),
        ConvShape(name: "stage2 1×1/2 64→128, 32×64×28×28", input: [32, 64, 28, 28], outChannels: 128, kernel: 1, stride: 2, padding: 0, bias: false),
        ConvShape(name: "stage2 3×3 128→128, 32×128×14×14", input: [32, 128, 14, 14], outChannels: 128, bias: false),
        ConvShape(name: "stage3 3×3/2 128→256, 32×128×14×14", input: [32, 128, 14, 14], outChannels: 256, stride: 2, bias: false),
        ConvShape(name: "stage3 3×3 256→256, 32×256×7×7", input: [32, 256, 7, 7], outChannels: 256, bias: false),
        ConvShape(name: "stage4 3×3/2 256→512, 32×256×7×7", input: [32, 256, 7, 7], outChannels: 512, stride: 2, bias: false),
        ConvShape(name: "stage4 3×3 512→512, 32×512×4×4", input: [32, 512, 4, 4], outChannels: 512, bias: false),
    ]

    /// One convolution, forward only or forward and backward (the weight gradient always; the
    /// input gradient when `inputGradient`), synchronised at the end. `algorithm` forces every
    /// pass (nil: the backend's measured choice).
    public static func convStep(on backend: any Backend, shape: ConvShape, backward: Bool, inputGradient: Bool,
                                algorithm: ConvAlgorithm? = nil) throws -> () throws -> Void {
        var generator = SeededRandom(seed: 2)
        let x = try Tensor.normal(shape.input, generator: &generator, on: backend, requiresGrad: backward && inputGradient)
        let conv = try Conv2d(shape.input[1], shape.outChannels, kernel: shape.kernel, stride: shape.stride, padding: shape.padding,
                              bias: shape.bias, generator: &generator, on: backend)
        func apply() throws -> Tensor {
            try x.conv2d(weight: conv.weight, bias: conv.bias, stride: conv.stride, padding: conv.padding, algorithm: algorithm)
        }
        return {
            if backward {
                try conv.zeroGrad()
                try apply().sum().backward()
            } else {
                _ = try Autograd.noGrad { try apply() }
            }
            try backend.synchronize()
        }
    }
}
