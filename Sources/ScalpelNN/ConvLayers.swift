import Foundation
import ScalpelCore
import ScalpelTensor

/// 2-D convolution. Weight (K, C/groups, R, S) and bias (K) start uniform in ±1/√fan_in,
/// fan_in = C/groups·R·S, as in PyTorch.
public final class Conv2d: Module, ReLUFusing {
    /// The kernels, (K, C/groups, kernel, kernel).
    public let weight: Tensor
    /// The bias per output channel, (K); nil when made with `bias: false`.
    public let bias: Tensor?
    /// The step between windows, (vertical, horizontal); both the `stride` given.
    public let stride: (Int, Int)
    /// The zeros added on each side, (vertical, horizontal); both the `padding` given.
    public let padding: (Int, Int)
    /// The spacing between kernel taps, (vertical, horizontal); both the `dilation` given.
    public let dilation: (Int, Int)
    /// The number of channel groups, each convolved with its own K/groups kernels.
    public let groups: Int

    /// A convolution from `inChannels` to `outChannels` with square `kernel`×`kernel` windows (PyTorch's
    /// `nn.Conv2d`), the weight then the bias drawn uniform in ±1/√fan_in from `generator`; throws
    /// `ScalpelError.invalidArgument` unless `groups` ≥ 1 divides both channel counts.
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

    /// The convolution of x (N, C, H, W) plus the bias, (N, K, OH, OW) with
    /// OH = ⌊(H + 2·padding − dilation·(kernel − 1) − 1)/stride⌋ + 1 (OW alike); throws
    /// `ScalpelError.shapeMismatch` when x is not (N, C, H, W) with C input channels.
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
    /// The side of the square window.
    public let kernel: Int
    /// The step between windows, in both directions.
    public let stride: Int
    /// The padding on each side of both spatial axes.
    public let padding: Int

    /// Pooling over `kernel`×`kernel` windows, `stride` apart (nil: `kernel`), with `padding` on each side.
    public init(_ kernel: Int, stride: Int? = nil, padding: Int = 0) {
        self.kernel = kernel
        self.stride = stride ?? kernel
        self.padding = padding
    }
}

/// Max pooling over square windows of (N, C, H, W) (PyTorch's `nn.MaxPool2d`); padding counts as −∞.
public final class MaxPool2d: Pool2d, Layer {
    /// The maximum of each window of x (N, C, H, W), (N, C, OH, OW) with OH = ⌊(H + 2·padding − kernel)/stride⌋ + 1
    /// (OW alike); throws `ScalpelError.shapeMismatch` unless x has rank 4 and the window fits (padding at most
    /// half the kernel).
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        try x.maxPool2d(kernel: (kernel, kernel), stride: (stride, stride), padding: (padding, padding))
    }
}

/// Average pooling; the average divides by the whole window, padding included.
public final class AvgPool2d: Pool2d, Layer {
    /// The mean of each window of x (N, C, H, W), (N, C, OH, OW) with OH = ⌊(H + 2·padding − kernel)/stride⌋ + 1
    /// (OW alike); throws `ScalpelError.shapeMismatch` unless x has rank 4 and the window fits (padding at most
    /// half the kernel).
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        try x.avgPool2d(kernel: (kernel, kernel), stride: (stride, stride), padding: (padding, padding))
    }
}

/// Mean over the spatial dimensions: (N, C, H, W) → (N, C).
public final class GlobalAvgPool2d: Module, Layer {
    override public init() {}
    /// The mean of each channel of x (N, C, H, W) over H and W, shape (N, C).
    public func callAsFunction(_ x: Tensor) throws -> Tensor { try x.mean(axes: [2, 3]) }
}

/// (N, …) → (N, product of the rest).
public final class Flatten: Module, Layer {
    override public init() {}
    /// x reshaped to (N, product of the other dimensions), values in row-major order.
    public func callAsFunction(_ x: Tensor) throws -> Tensor { try x.reshaped([x.shape[0], -1]) }
}

/// Batch normalisation of (N, C, H, W) per channel (see `BatchNorm`).
public final class BatchNorm2d: BatchNorm, ReLUFusing {
    /// Batch normalisation of `channels` channels (PyTorch's `nn.BatchNorm2d`), γ starting at 1, β at 0, the
    /// running mean at 0 and the running variance at 1.
    public init(_ channels: Int, momentum: Float = 0.1, epsilon: Float = 1e-5, on backend: any Backend) throws {
        try super.init(channels, momentum: momentum, epsilon: epsilon, inputRanks: [4], on: backend)
    }

    /// x (N, C, H, W) normalised per channel, same shape; throws `ScalpelError.shapeMismatch` for any other shape,
    /// or in training when there is only one value per channel.
    public func callAsFunction(_ x: Tensor) throws -> Tensor { try normalize(x) }
}

/// ResNet's basic block: two 3×3 convolutions with batch norm, ReLU, and a shortcut (a 1×1
/// convolution with batch norm where the shape changes).
public final class BasicBlock: Module, Layer {
    /// The first 3×3 convolution (padding 1, the block's stride, no bias).
    public let conv1: Conv2d
    /// The batch norm after `conv1`, followed by a ReLU.
    public let bn1: BatchNorm2d
    /// The second 3×3 convolution (padding 1, stride 1, no bias).
    public let conv2: Conv2d
    /// The batch norm after `conv2`, before the shortcut is added.
    public let bn2: BatchNorm2d
    /// The shortcut's 1×1 convolution (the block's stride, no bias) and batch norm; nil (the identity) when the
    /// stride is 1 and the channel counts are equal.
    public let downsample: Sequential?

    /// A block from `inChannels` to `outChannels` whose first convolution (and shortcut) has `stride`; the
    /// convolutions are drawn from `generator` as `Conv2d` draws them (uniform in ±1/√fan_in, not torchvision's
    /// Kaiming normal), the batch norms start at γ = 1, β = 0.
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

    /// ReLU(bn2(conv2(ReLU(bn1(conv1(x))))) + shortcut(x)) for x (N, inChannels, H, W), shape
    /// (N, outChannels, ⌈H/stride⌉, ⌈W/stride⌉).
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

    /// A compact convolutional network with batch norm, for small images (the default image
    /// model): three stages of 3×3 convolution (no bias) + batch norm + ReLU — two of `width`
    /// channels, max-pool 2, two of 2·`width`, max-pool 2, one of 4·`width` — then global average
    /// pooling and a linear classifier. Global pooling makes it take any image of at least 4×4.
    /// - Parameters:
    ///   - inChannels: The images' channels (1 grey, 3 RGB).
    ///   - width: The first stage's channels (32 by default).
    ///   - classes: The number of classes (one logit each).
    ///   - generator: Draws the initial weights.
    ///   - backend: Where the parameters live.
    /// - Returns: The network, mapping (N, inChannels, H, W) to (N, classes).
    public static func convNet(inChannels: Int, width: Int = 32, classes: Int, generator: inout SeededRandom,
                               on backend: any Backend) throws -> Sequential {
        func block(_ a: Int, _ b: Int) throws -> [any Layer] {
            [try Conv2d(a, b, kernel: 3, padding: 1, bias: false, generator: &generator, on: backend), try BatchNorm2d(b, on: backend), ReLU()]
        }
        var layers: [any Layer] = []
        layers += try block(inChannels, width) + block(width, width) + [MaxPool2d(2)]
        layers += try block(width, 2 * width) + block(2 * width, 2 * width) + [MaxPool2d(2)]
        layers += try block(2 * width, 4 * width) + [GlobalAvgPool2d(), try Linear(4 * width, classes, generator: &generator, on: backend)]
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
