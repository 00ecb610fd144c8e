import Foundation
import ScalpelCore
import ScalpelTensor

/// 2-D convolution. Weight (K, C/groups, R, S) and bias (K) start uniform in ±1/√fan_in,
/// fan_in = C/groups·R·S, as in PyTorch.
public final class Conv2d: Module, ReLUFusing {
    public let weight: Tensor
    public let bias: Tensor?
    public let stride: (Int, Int)
    public let padding: (Int, Int)
    public let dilation: (Int, Int)
    public let groups: Int

    public init(_ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0, dilation: Int = 1, groups: Int = 1,
                bias: Bool = true, generator: inout SeededRandom, on backend: any Backend) throws {
        guard groups >= 1, inChannels % groups == 0, outChannels % groups == 0 else {
            throw ScalpelError.invalidArgument("Conv2d: groups \(groups) must divide \(inChannels) input and \(outChannels) output channels")
        }
        let fanIn = inChannels / groups * kernel * kernel
        let bound = 1 / Float(fanIn).squareRoot()
        weight = try .uniform([outChannels, inChannels / groups, kernel, kernel], low: -bound, high: bound, generator: &generator, on: backend,
                              requiresGrad: true)
        self.bias = bias ? try .uniform([outChannels], low: -bound, high: bound, generator: &generator, on: backend, requiresGrad: true) : nil
        self.stride = (stride, stride)
        self.padding = (padding, padding)
        self.dilation = (dilation, dilation)
        self.groups = groups
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        try x.conv2d(weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
    }

    /// The layer followed by a ReLU, max(0, conv(x) + b), the ReLU in the implicit-GEMM
    /// forward pass's store when the backend runs that algorithm. `Sequential` uses it for a
    /// Conv2d directly followed by a `ReLU` layer.
    public func callAsFunction(_ x: Tensor, relu: Bool) throws -> Tensor {
        try x.conv2d(weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups, relu: relu)
    }
}

/// Square pooling windows: kernel, stride (default: the kernel) and padding.
public class Pool2d: Module {
    public let kernel: Int
    public let stride: Int
    public let padding: Int

    public init(_ kernel: Int, stride: Int? = nil, padding: Int = 0) {
        self.kernel = kernel
        self.stride = stride ?? kernel
        self.padding = padding
    }
}

public final class MaxPool2d: Pool2d, Layer {
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        try x.maxPool2d(kernel: (kernel, kernel), stride: (stride, stride), padding: (padding, padding))
    }
}

/// Average pooling; the average divides by the whole window, padding included.
public final class AvgPool2d: Pool2d, Layer {
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        try x.avgPool2d(kernel: (kernel, kernel), stride: (stride, stride), padding: (padding, padding))
    }
}

/// Mean over the spatial dimensions: (N, C, H, W) → (N, C).
public final class GlobalAvgPool2d: Module, Layer {
    override public init() {}
    public func callAsFunction(_ x: Tensor) throws -> Tensor { try x.mean(axes: [2, 3]) }
}

/// (N, …) → (N, product of the rest).
public final class Flatten: Module, Layer {
    override public init() {}
    public func callAsFunction(_ x: Tensor) throws -> Tensor { try x.reshaped([x.shape[0], -1]) }
}

/// Batch normalisation of (N, C, H, W) per channel (see `BatchNorm`).
public final class BatchNorm2d: BatchNorm, ReLUFusing {
    public init(_ channels: Int, momentum: Float = 0.1, epsilon: Float = 1e-5, on backend: any Backend) throws {
        try super.init(channels, momentum: momentum, epsilon: epsilon, inputRanks: [4], on: backend)
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor { try normalize(x) }
}

/// ResNet's basic block: two 3×3 convolutions with batch norm, ReLU, and a shortcut (a 1×1
/// convolution with batch norm where the shape changes).
public final class BasicBlock: Module, Layer {
    public let conv1: Conv2d
    public let bn1: BatchNorm2d
    public let conv2: Conv2d
    public let bn2: BatchNorm2d
    public let downsample: Sequential?

    public init(_ inChannels: Int, _ outChannels: Int, stride: Int, generator: inout SeededRandom, on backend: any Backend) throws {
        conv1 = try Conv2d(inChannels, outChannels, kernel: 3, stride: stride, padding: 1, bias: false, generator: &generator, on: backend)
        bn1 = try BatchNorm2d(outChannels, on: backend)
        conv2 = try Conv2d(outChannels, outChannels, kernel: 3, padding: 1, bias: false, generator: &generator, on: backend)
        bn2 = try BatchNorm2d(outChannels, on: backend)
        downsample = stride != 1 || inChannels != outChannels
            ? Sequential([try Conv2d(inChannels, outChannels, kernel: 1, stride: stride, bias: false, generator: &generator, on: backend),
                          try BatchNorm2d(outChannels, on: backend)])
            : nil
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        let y = try bn2(conv2(bn1(conv1(x), relu: true)))
        return try (y + (downsample.map { try $0(x) } ?? x)).relu()
    }
}

/// Model builders for images (N, C, H, W).
public enum VisionModels {
    /// ResNet-18 for small (28×28) inputs in the MedMNIST style: a 3×3 stride-1 stem without
    /// max-pooling, four stages of two basic blocks (64, 128, 256, 512 channels), global
    /// average pooling and a linear classifier.
    public static func resnet18(inChannels: Int, classes: Int, generator: inout SeededRandom, on backend: any Backend) throws -> Sequential {
        var layers: [any Layer] = [
            try Conv2d(inChannels, 64, kernel: 3, padding: 1, bias: false, generator: &generator, on: backend),
            try BatchNorm2d(64, on: backend), ReLU(),
        ]
        var channels = 64
        for (stage, width) in [64, 128, 256, 512].enumerated() {
            layers.append(try BasicBlock(channels, width, stride: stage == 0 ? 1 : 2, generator: &generator, on: backend))
            layers.append(try BasicBlock(width, width, stride: 1, generator: &generator, on: backend))
            channels = width
        }
        layers += [GlobalAvgPool2d(), try Linear(512, classes, generator: &generator, on: backend)]
        return Sequential(layers)
    }

    /// The small CNN of the benchmarks: conv 3×3 C→32, ReLU, max-pool 2, conv 3×3 32→64, ReLU,
    /// max-pool 2, linear 64·(H/4)·(W/4) → 128, ReLU, linear 128 → classes.
    public static func smallCNN(inChannels: Int, height: Int, width: Int, classes: Int, generator: inout SeededRandom,
                                on backend: any Backend) throws -> Sequential {
        Sequential([
            try Conv2d(inChannels, 32, kernel: 3, padding: 1, generator: &generator, on: backend), ReLU(), MaxPool2d(2),
            try Conv2d(32, 64, kernel: 3, padding: 1, generator: &generator, on: backend), ReLU(), MaxPool2d(2),
            Flatten(), try Linear(64 * (height / 4) * (width / 4), 128, generator: &generator, on: backend), ReLU(),
            try Linear(128, classes, generator: &generator, on: backend),
        ])
    }
}
