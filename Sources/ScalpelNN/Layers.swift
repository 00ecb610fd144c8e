import Foundation
import ScalpelCore
import ScalpelTensor

/// y = x·Wᵀ + b. Weight (out, in) and bias (out) start uniform in ±1/√in, as in PyTorch.
public final class Linear: Module, ReLUFusing {
    /// The weight W, (out, in) as in PyTorch.
    public let weight: Tensor
    /// The bias b, (out); nil when made with `bias: false`.
    public let bias: Tensor?

    /// A layer from `inFeatures` to `outFeatures` (PyTorch's `nn.Linear`), with a bias unless `bias` is false; the
    /// weight, then the bias, drawn uniform in ±1/√inFeatures from `generator` on `backend`.
    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, generator: inout SeededRandom, on backend: any Backend) throws {
        let bound = 1 / Float(inFeatures).squareRoot()
        weight = try .uniform([outFeatures, inFeatures], low: -bound, high: bound, generator: &generator, on: backend, requiresGrad: true)
        self.bias = bias ? try .uniform([outFeatures], low: -bound, high: bound, generator: &generator, on: backend, requiresGrad: true) : nil
    }

    /// x·Wᵀ + b for x (…, in), shape (…, out); throws `ScalpelError.shapeMismatch` when x's last dimension is not `in`.
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        try x.linear(weight: weight, bias: bias)
    }

    /// The layer followed by a ReLU, max(0, x·Wᵀ + b), with the bias and the ReLU applied
    /// where the GEMM stores its result (no separate passes or buffers). `Sequential` uses it
    /// for a Linear directly followed by a `ReLU` layer.
    public func callAsFunction(_ x: Tensor, relu: Bool) throws -> Tensor {
        try x.linear(weight: weight, bias: bias, relu: relu)
    }
}

/// max(0, x) element-wise (PyTorch's `nn.ReLU`); in a `Sequential` directly after a `ReLUFusing` layer it runs
/// inside that layer's kernels.
public final class ReLU: Module, Layer {
    override public init() {}
    /// max(0, x) for each element of x, same shape.
    public func callAsFunction(_ x: Tensor) throws -> Tensor { try x.relu() }
}

/// The exact GELU, x·Φ(x) element-wise, Φ the standard normal CDF (PyTorch's default `nn.GELU`).
public final class GELU: Module, Layer {
    override public init() {}
    /// x·Φ(x) for each element of x, same shape.
    public func callAsFunction(_ x: Tensor) throws -> Tensor { try x.gelu() }
}

/// SiLU (swish), x·σ(x), element-wise (PyTorch's `nn.SiLU`).
public final class SiLU: Module, Layer {
    /// A SiLU layer (no parameters).
    override public init() {}
    /// x·σ(x) for every element of `x`, any shape.
    public func callAsFunction(_ x: Tensor) throws -> Tensor { try x.silu() }
}

/// The logistic function 1/(1 + e^−x) element-wise (PyTorch's `nn.Sigmoid`).
public final class Sigmoid: Module, Layer {
    override public init() {}
    /// 1/(1 + e^−x) for each element of x, same shape.
    public func callAsFunction(_ x: Tensor) throws -> Tensor { try x.sigmoid() }
}

/// The hyperbolic tangent element-wise (PyTorch's `nn.Tanh`).
public final class Tanh: Module, Layer {
    override public init() {}
    /// tanh(x) for each element of x, same shape.
    public func callAsFunction(_ x: Tensor) throws -> Tensor { try x.tanh() }
}

/// Zeroes each element with probability p in training (scaling the rest by 1/(1−p)); the
/// identity in evaluation. The mask is drawn on the backend from a counter-based generator
/// (`Philox`): the layer's seed is the key and its counter advances by each call's element
/// count (rounded up to a whole Philox block), so runs repeat exactly and a resumed run that
/// restores the counter draws the masks an uninterrupted run would.
public final class Dropout: Module, Layer {
    /// The probability p that an element is zeroed in training.
    public let probability: Float
    /// The generator's key.
    public let seed: UInt64
    private var counter: UInt64 = 0

    /// Dropout with probability `probability` (PyTorch's `nn.Dropout(p)`; it must lie in [0, 1) for training), its
    /// masks drawn under the key `seed` from counter 0.
    public init(_ probability: Float, seed: UInt64) {
        self.probability = probability
        self.seed = seed
    }

    /// The generator's state, for checkpoints: the counter of the next draw (a resumed run that
    /// sets it draws the same masks).
    public var generatorState: UInt64 {
        get { counter }
        set { counter = newValue }
    }

    /// In training, x with each element zeroed with probability p and the rest scaled by 1/(1−p), the counter
    /// advanced; in evaluation or with p = 0, x itself. Throws `ScalpelError.invalidArgument` for p ≥ 1 in training.
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        guard isTraining && probability > 0 else { return x }
        let offset = counter
        // Whole blocks of four, so that each call starts a fresh Philox block.
        counter &+= (UInt64(x.count) + 3) & ~3
        return try x.dropout(keep: 1 - probability, seed: seed, offset: offset)
    }
}

/// Normalises the last dimension to zero mean and unit variance, then scales and shifts.
public final class LayerNorm: Module, Layer {
    /// The scale γ per feature, (features), starting at 1.
    public let weight: Tensor
    /// The shift β per feature, (features), starting at 0.
    public let bias: Tensor
    /// Added to the (biased) variance before its square root.
    public let epsilon: Float

    /// Layer normalisation over a last dimension of `features` values (PyTorch's `nn.LayerNorm(features, eps)`),
    /// γ starting at 1 and β at 0.
    public init(_ features: Int, epsilon: Float = 1e-5, on backend: any Backend) throws {
        weight = try .ones([features], on: backend, requiresGrad: true)
        bias = try .zeros([features], on: backend, requiresGrad: true)
        self.epsilon = epsilon
    }

    /// (x − mean)/√(var + ε)·γ + β over the last dimension of x (…, features), var biased; throws
    /// `ScalpelError.shapeMismatch` when that dimension is not `features`.
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        try x.layerNorm(weight: weight, bias: bias, epsilon: epsilon)
    }
}

/// Batch normalisation per feature (channel): batch statistics in training (running
/// statistics updated with `momentum`, the variance unbiased, as in PyTorch), running ones in
/// evaluation. The running statistics are module state, saved in checkpoints.
public class BatchNorm: Module {
    /// The scale γ per feature (starts at 1).
    public let weight: Tensor
    /// The shift β per feature (starts at 0).
    public let bias: Tensor
    /// The running mean per feature, used in evaluation.
    public let runningMean: Tensor
    /// The running (unbiased) variance per feature, used in evaluation.
    public let runningVar: Tensor
    /// How far one training batch moves the running statistics (PyTorch's 0.1 by default).
    public let momentum: Float
    /// Added to the variance before its square root.
    public let epsilon: Float
    /// The input ranks accepted (BatchNorm1d: 2 for (N, C) and 3 for (N, C, L); BatchNorm2d: 4
    /// for (N, C, H, W)); statistics are over every axis but 1.
    public let inputRanks: [Int]
    /// The processes whose batches this layer's training statistics span (synchronised batch
    /// normalisation in a data-parallel run); nil: this process's batch alone. Set it for a
    /// whole model with `Module.synchronizeBatchNorm(over:)`.
    public var processGroup: (any ProcessGroup)?

    /// Batch normalisation of `features` features (axis 1) for inputs of the ranks in
    /// `inputRanks`; `BatchNorm1d` and `BatchNorm2d` are the usual ways in.
    public init(_ features: Int, momentum: Float, epsilon: Float, inputRanks: [Int], on backend: any Backend) throws {
        weight = try .ones([features], on: backend, requiresGrad: true)
        bias = try .zeros([features], on: backend, requiresGrad: true)
        runningMean = try .zeros([features], on: backend)
        runningVar = try .ones([features], on: backend)
        self.momentum = momentum
        self.epsilon = epsilon
        self.inputRanks = inputRanks
    }

    /// The layer followed by a ReLU, max(0, BatchNorm(x)), with the ReLU fused into the
    /// normalisation's kernels (no separate pass or buffer). `Sequential` uses it for a
    /// BatchNorm directly followed by a `ReLU` layer.
    public func callAsFunction(_ x: Tensor, relu: Bool) throws -> Tensor { try normalize(x, relu: relu) }

    func normalize(_ x: Tensor, relu: Bool = false) throws -> Tensor {
        let c = weight.count
        guard inputRanks.contains(x.rank), x.shape[1] == c else {
            let expected = inputRanks.map { ["(N, \(c))", "(N, \(c), L)", "(N, \(c), H, W)"][$0 - 2] }.joined(separator: " or ")
            throw ScalpelError.shapeMismatch(op: "BatchNorm", detail: "expected \(expected), got \(x.shape)")
        }
        // In a data-parallel run the statistics are those of the global batch (synchronised
        // batch normalisation). That run keeps the composed operations, whose per-channel sums
        // are all-reduced between processes (one allreduce for the mean, one for the variance);
        // a single process runs the fused kernels.
        if isTraining, let processGroup, processGroup.size > 1 {
            let y = try synchronisedNormalize(x, over: processGroup)
            return relu ? try y.relu() : y
        }
        if isTraining && x.count / c <= 1 {
            throw ScalpelError.shapeMismatch(op: "BatchNorm", detail: "training needs more than one value per channel")
        }
        return try x.batchNorm(weight: weight, bias: bias, runningMean: runningMean, runningVar: runningVar, training: isTraining,
                               momentum: momentum, epsilon: epsilon, relu: relu)
    }

    /// Training-mode batch normalisation over the global batch of a data-parallel run, composed
    /// of differentiable operations: sums over every process's slice, so that N ranks compute
    /// what one process would on the whole batch.
    private func synchronisedNormalize(_ x: Tensor, over group: any ProcessGroup) throws -> Tensor {
        let c = weight.count
        let inputRank = x.rank
        // Parameters and statistics broadcast over every axis but the channel's.
        let shape = [c] + [Int](repeating: 1, count: inputRank - 2)
        let axes = [0] + Array(2 ..< inputRank)
        let scale = try weight.reshaped(shape), shift = try bias.reshaped(shape)
        var count = [Float(x.count / c)]
        try group.allreduceSum(&count)
        let n = Int(count[0])
        guard n > 1 else { throw ScalpelError.shapeMismatch(op: "BatchNorm", detail: "training needs more than one value per channel") }
        let mean = try x.sum(axes: axes, keepDims: true).sumAcrossProcesses(group) / Float(n)
        let centered = try x - mean
        let variance = try centered.square().sum(axes: axes, keepDims: true).sumAcrossProcesses(group) / Float(n)
        try Autograd.noGrad {
            let backend = x.backend
            try backend.axpby(alpha: momentum, x: mean.storage, beta: 1 - momentum, y: runningMean.storage, count: c)
            let unbiased = try variance * (Float(n) / Float(n - 1))
            try backend.axpby(alpha: momentum, x: unbiased.storage, beta: 1 - momentum, y: runningVar.storage, count: c)
        }
        return try centered / (variance + epsilon).sqrt() * scale + shift
    }
}

extension Module {
    /// Makes every batch-norm layer here and below compute its training statistics over the
    /// global batch of `group`'s processes (nil: each process's own batch again).
    public func synchronizeBatchNorm(over group: (any ProcessGroup)?) {
        for case let layer as BatchNorm in modules() { layer.processGroup = group }
    }
}

/// Batch normalisation of (N, C) or (N, C, L) inputs (see `BatchNorm`).
public final class BatchNorm1d: BatchNorm, ReLUFusing {
    /// Batch normalisation of `features` features for (N, C) or (N, C, L) inputs (PyTorch's `nn.BatchNorm1d`),
    /// γ starting at 1, β at 0, the running mean at 0 and the running variance at 1.
    public init(_ features: Int, momentum: Float = 0.1, epsilon: Float = 1e-5, on backend: any Backend) throws {
        try super.init(features, momentum: momentum, epsilon: epsilon, inputRanks: [2, 3], on: backend)
    }

    /// x (N, C) or (N, C, L) normalised per feature, same shape; throws `ScalpelError.shapeMismatch` for any
    /// other shape, or in training when there is only one value per feature.
    public func callAsFunction(_ x: Tensor) throws -> Tensor { try normalize(x) }
}

/// A lookup table: integral indices (any shape) → rows of a (count, dimension) weight.
public final class Embedding: Module, Layer {
    /// The table, (count, dimension): row i is index i's vector.
    public let weight: Tensor

    /// A table of `count` vectors of `dimension` values (PyTorch's `nn.Embedding`), drawn from N(0, 1) with
    /// `generator`.
    public init(_ count: Int, _ dimension: Int, generator: inout SeededRandom, on backend: any Backend) throws {
        weight = try .normal([count, dimension], generator: &generator, on: backend, requiresGrad: true)
    }

    /// The rows of `weight` that `indices` (any shape, integral values in 0..<count) pick: shape
    /// indices.shape + [dimension]; gradients add back into the picked rows.
    public func callAsFunction(_ indices: Tensor) throws -> Tensor {
        try weight.indexSelect(axis: 0, indices)
    }
}

