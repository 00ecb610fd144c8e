import Foundation
import ScalpelCore
import ScalpelTensor

/// 1-D convolution of (N, C, L) inputs, computed by the 2-D convolution on (N, C, 1, L).
/// Weight (K, C/groups, kernel) and bias (K), PyTorch's shapes and initialisation.
/// `padding: .same` keeps the length at stride 1, padding ⌊(kernel−1)·dilation/2⌋ on the left and
/// the rest on the right, as PyTorch's `padding="same"` does.
public final class Conv1d: Module, Layer {
    /// How a `Conv1d` pads the time axis with zeros.
    public enum Padding: Sendable, Equatable {
        /// The same amount on both sides.
        case symmetric(Int)
        /// Output length = input length (stride 1 only).
        case same
    }

    /// The kernels, (K, C/groups, kernel).
    public let weight: Tensor
    /// The bias per output channel, (K); nil when made with `bias: false`.
    public let bias: Tensor?
    /// The step between windows along the time axis.
    public let stride: Int
    /// The zeros added along the time axis.
    public let padding: Padding
    /// The spacing between kernel taps.
    public let dilation: Int
    /// The number of channel groups, each convolved with its own K/groups kernels.
    public let groups: Int

    /// A convolution from `inChannels` to `outChannels` with windows of `kernel` steps (PyTorch's `nn.Conv1d`), the
    /// weight then the bias drawn uniform in ±1/√(C/groups·kernel) from `generator`; throws
    /// `ScalpelError.invalidArgument` unless `groups` ≥ 1 divides both channel counts, `kernel`, `stride` and
    /// `dilation` are positive, and `.same` comes with stride 1.
    public init(_ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int = 1, padding: Padding = .symmetric(0), dilation: Int = 1,
                groups: Int = 1, bias: Bool = true, generator: inout SeededRandom, on backend: any Backend) throws {
        guard groups >= 1, inChannels % groups == 0, outChannels % groups == 0 else {
            throw ScalpelError.invalidArgument("Conv1d: groups \(groups) must divide \(inChannels) input and \(outChannels) output channels")
        }
        guard kernel >= 1, stride >= 1, dilation >= 1 else {
            throw ScalpelError.invalidArgument("Conv1d: kernel \(kernel), stride \(stride) and dilation \(dilation) must be positive")
        }
        if padding == .same && stride != 1 {
            throw ScalpelError.invalidArgument("Conv1d: padding \"same\" needs stride 1 (got \(stride)), as in PyTorch")
        }
        let bound = 1 / Float(inChannels / groups * kernel).squareRoot()
        weight = try .uniform([outChannels, inChannels / groups, kernel], low: -bound, high: bound, generator: &generator, on: backend,
                              requiresGrad: true)
        self.bias = bias ? try .uniform([outChannels], low: -bound, high: bound, generator: &generator, on: backend, requiresGrad: true) : nil
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
    }

    /// The convolution of x (N, C, L) plus the bias, (N, K, L′): L′ = L with `.same`, with `.symmetric(p)`
    /// ⌊(L + 2·p − dilation·(kernel − 1) − 1)/stride⌋ + 1; throws `ScalpelError.shapeMismatch` unless x is
    /// (N, C, L) with C input channels.
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        guard x.rank == 3 else {
            throw ScalpelError.shapeMismatch(op: "conv1d", detail: "needs input (N, C, L), got \(x.shape)")
        }
        let (n, c, length) = (x.shape[0], x.shape[1], x.shape[2])
        let k = weight.shape[2]
        let w = try weight.reshaped([weight.shape[0], weight.shape[1], 1, k])
        let input = try x.reshaped([n, c, 1, length])
        switch padding {
        case let .symmetric(p):
            let y = try input.conv2d(weight: w, bias: bias, stride: (1, stride), padding: (0, p), dilation: (1, dilation), groups: groups)
            return try y.reshaped([n, y.shape[1], y.shape[3]])
        case .same:
            // Total padding (k−1)·d: left ⌊·/2⌋, right the rest. With the larger side on both,
            // an odd total gives one extra leading output, dropped.
            let total = (k - 1) * dilation
            let (left, right) = (total / 2, total - total / 2)
            var y = try input.conv2d(weight: w, bias: bias, stride: (1, 1), padding: (0, right), dilation: (1, dilation), groups: groups)
            y = try y.reshaped([n, y.shape[1], y.shape[3]])
            return left == right ? y : try y.slice(axis: 2, (right - left) ..< (right - left + length))
        }
    }
}

/// Mean over the time axis: (N, C, L) → (N, C).
public final class GlobalAvgPool1d: Module, Layer {
    override public init() {}
    /// The mean of each channel of x (N, C, L) over L, shape (N, C); throws `ScalpelError.shapeMismatch` unless
    /// x has rank 3.
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        guard x.rank == 3 else { throw ScalpelError.shapeMismatch(op: "GlobalAvgPool1d", detail: "needs (N, C, L), got \(x.shape)") }
        return try x.mean(axes: [2])
    }
}

/// Multi-head self-attention on (N, L, dModel): one projection to queries, keys and values
/// (weight (3·dModel, dModel), PyTorch's `in_proj_weight`), the fused scaled-dot-product
/// attention per head, and an output projection (PyTorch's `out_proj`).
public final class MultiheadAttention: Module, Layer {
    /// The projection dModel → 3·dModel to queries, keys and values side by side (PyTorch's `in_proj_weight` and
    /// `in_proj_bias`).
    public let inputProjection: Linear
    /// The projection dModel → dModel of the heads' concatenated outputs (PyTorch's `out_proj`).
    public let outputProjection: Linear
    /// The number of heads, each dModel/heads wide.
    public let heads: Int
    /// Whether step i attends only to steps j ≤ i.
    public let causal: Bool
    /// When set (in evaluation), each call also keeps its attention probabilities averaged over
    /// the heads, (N, L, L), in `lastAttention`: what attention maps are drawn from.
    public var keepsAttention = false
    /// The last call's head-averaged attention probabilities and their shape [N, L, L].
    public private(set) var lastAttention: (values: [Float], shape: [Int])?

    /// Self-attention of width `dModel` split into `heads` heads, causal when `causal`; both projections are
    /// `Linear` layers drawn from `generator` (uniform in ±1/√dModel, where PyTorch draws `in_proj_weight`
    /// Xavier-uniform and zeroes the biases). Throws `ScalpelError.invalidArgument` unless `heads` ≥ 1 divides `dModel`.
    public init(_ dModel: Int, heads: Int, causal: Bool = false, generator: inout SeededRandom, on backend: any Backend) throws {
        guard heads >= 1, dModel % heads == 0 else {
            throw ScalpelError.invalidArgument("MultiheadAttention: \(heads) heads must divide the model width \(dModel)")
        }
        inputProjection = try Linear(dModel, 3 * dModel, generator: &generator, on: backend)
        outputProjection = try Linear(dModel, dModel, generator: &generator, on: backend)
        self.heads = heads
        self.causal = causal
    }

    /// Self-attention over x (N, L, dModel) with every time step a valid key, shape (N, L, dModel); throws
    /// `ScalpelError.shapeMismatch` for any other shape.
    public func callAsFunction(_ x: Tensor) throws -> Tensor { try self(x, keyLengths: nil) }

    /// keyLengths (N): the number of valid time steps of each sequence (padding after them is masked).
    public func callAsFunction(_ x: Tensor, keyLengths: Tensor?) throws -> Tensor {
        let d = inputProjection.weight.shape[1]
        guard x.rank == 3, x.shape[2] == d else {
            throw ScalpelError.shapeMismatch(op: "MultiheadAttention", detail: "needs (N, L, \(d)), got \(x.shape)")
        }
        let (n, length, headSize) = (x.shape[0], x.shape[1], d / heads)
        // (N, L, 3·d): the attention kernels read q, k and v where the projection wrote them and
        // write (N, L, heads, headSize), which is the output projection's (N, L, d) input.
        let qkv = try inputProjection(x)
        if keepsAttention {
            try Autograd.noGrad {
                // (N, L, 3, H, headSize) → (3, N, H, L, headSize): the maps want q and k as tensors.
                let split = try qkv.reshaped([n, length, 3, heads, headSize]).permuted([2, 0, 3, 1, 4])
                let q = try split.slice(axis: 0, 0 ..< 1).reshaped([n, heads, length, headSize])
                let k = try split.slice(axis: 0, 1 ..< 2).reshaped([n, heads, length, headSize])
                let p = try q.attentionProbabilities(key: k, keyLengths: keyLengths, causal: causal).mean(axes: [1])
                lastAttention = (try p.array(), p.shape)
            }
        }
        return try outputProjection(qkv.selfAttention(heads: heads, keyLengths: keyLengths, causal: causal))
    }
}

/// Adds the fixed sinusoidal position code of "Attention is all you need" to (N, L, d):
/// PE[t, 2i] = sin(t / 10000^(2i/d)), PE[t, 2i+1] = cos(t / 10000^(2i/d)).
public final class SinusoidalPositionalEncoding: Module, Layer {
    /// The longest sequence it encodes (the table's rows).
    public let maxLength: Int
    /// The width d of its inputs (the table's columns).
    public let dModel: Int
    private let table: ConstantTable

    /// Computes the (maxLength, dModel) table on the host once; it is no parameter or state, so checkpoints do not
    /// hold it.
    public init(maxLength: Int, dModel: Int) {
        self.maxLength = maxLength
        self.dModel = dModel
        var values = [Float](repeating: 0, count: maxLength * dModel)
        for t in 0 ..< maxLength {
            for i in stride(from: 0, to: dModel, by: 2) {
                let angle = Double(t) / pow(10000, Double(i) / Double(dModel))
                values[t * dModel + i] = Float(sin(angle))
                if i + 1 < dModel { values[t * dModel + i + 1] = Float(cos(angle)) }
            }
        }
        table = ConstantTable(values: values)
    }

    /// The code, (maxLength, dModel) row-major: row t is what step t gets added (what an
    /// exported graph holds as a constant).
    public var code: [Float] { table.values }

    /// x (N, L, dModel) plus the table's first L rows; throws `ScalpelError.shapeMismatch` unless x is
    /// (N, L ≤ maxLength, dModel).
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        guard x.rank == 3, x.shape[2] == dModel, x.shape[1] <= maxLength else {
            throw ScalpelError.shapeMismatch(op: "SinusoidalPositionalEncoding", detail: "needs (N, L ≤ \(maxLength), \(dModel)), got \(x.shape)")
        }
        return try x + table.tensor(rows: x.shape[1], columns: dModel, on: x.backend)
    }
}

/// Adds a learned position embedding (maxLength, d), initialised N(0, 0.02²), to (N, L, d).
public final class LearnedPositionalEncoding: Module, Layer {
    /// The position embedding, (maxLength, dModel): row t is added at time step t.
    public let weight: Tensor

    /// A trainable (maxLength, dModel) embedding drawn from N(0, 0.02²) with `generator`.
    public init(maxLength: Int, dModel: Int, generator: inout SeededRandom, on backend: any Backend) throws {
        weight = try .normal([maxLength, dModel], std: 0.02, generator: &generator, on: backend, requiresGrad: true)
    }

    /// x (N, L, dModel) plus the embedding's first L rows; throws `ScalpelError.shapeMismatch` unless x is
    /// (N, L ≤ maxLength, dModel).
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        let (maxLength, d) = (weight.shape[0], weight.shape[1])
        guard x.rank == 3, x.shape[2] == d, x.shape[1] <= maxLength else {
            throw ScalpelError.shapeMismatch(op: "LearnedPositionalEncoding", detail: "needs (N, L ≤ \(maxLength), \(d)), got \(x.shape)")
        }
        return try x + (x.shape[1] == maxLength ? weight : weight.slice(axis: 0, 0 ..< x.shape[1]))
    }
}

/// A constant host table uploaded once per backend and row count (not a parameter or state,
/// so checkpoints do not carry it).
final class ConstantTable: @unchecked Sendable {
    let values: [Float]
    private var cached: [String: Tensor] = [:]
    private let lock = NSLock()

    init(values: [Float]) { self.values = values }

    func tensor(rows: Int, columns: Int, on backend: any Backend) throws -> Tensor {
        try lock.withLock {
            let key = "\(backend.id) \(rows)"
            if let hit = cached[key] { return hit }
            let made = try Tensor(Array(values[0 ..< rows * columns]), shape: [rows, columns], on: backend)
            cached[key] = made
            return made
        }
    }
}

/// A pre-norm transformer encoder layer (PyTorch's `TransformerEncoderLayer` with
/// `norm_first=True`, `batch_first=True`, GELU): x + Dropout(MHA(LN(x))), then
/// x + Dropout(W₂·Dropout(GELU(W₁·LN(x)))).
public final class TransformerEncoderLayer: Module, Layer {
    /// The LayerNorm before the attention.
    public let norm1: LayerNorm
    /// The multi-head self-attention.
    public let attention: MultiheadAttention
    /// The dropout on the attention's output, before the residual addition.
    public let dropout1: Dropout
    /// The LayerNorm before the feed-forward network.
    public let norm2: LayerNorm
    /// The feed-forward network's first projection, W₁: dModel → feedForward, followed by GELU.
    public let linear1: Linear
    /// The dropout between the GELU and `linear2`.
    public let dropout: Dropout
    /// The feed-forward network's second projection, W₂: feedForward → dModel.
    public let linear2: Linear
    /// The dropout on the feed-forward output, before the residual addition.
    public let dropout2: Dropout

    /// A layer of width `dModel` with `heads` attention heads (causal when `causal`), a feed-forward hidden width
    /// of `feedForward` and dropout probability `p` in all three dropouts; the linear layers are drawn from
    /// `generator` (uniform in ±1/√fan_in), each dropout's seed too, the LayerNorms start at γ = 1, β = 0.
    /// Throws `ScalpelError.invalidArgument` unless `heads` ≥ 1 divides `dModel`.
    public init(dModel: Int, heads: Int, feedForward: Int, dropout p: Float = 0.1, causal: Bool = false, generator: inout SeededRandom,
                on backend: any Backend) throws {
        norm1 = try LayerNorm(dModel, on: backend)
        attention = try MultiheadAttention(dModel, heads: heads, causal: causal, generator: &generator, on: backend)
        dropout1 = Dropout(p, seed: generator.next())
        norm2 = try LayerNorm(dModel, on: backend)
        linear1 = try Linear(dModel, feedForward, generator: &generator, on: backend)
        dropout = Dropout(p, seed: generator.next())
        linear2 = try Linear(feedForward, dModel, generator: &generator, on: backend)
        dropout2 = Dropout(p, seed: generator.next())
    }

    /// The layer applied to x (N, L, dModel) with every time step a valid key, shape (N, L, dModel).
    public func callAsFunction(_ x: Tensor) throws -> Tensor { try self(x, keyLengths: nil) }

    /// The layer applied to x (N, L, dModel); keyLengths (N): the valid time steps of each sequence, later keys
    /// masked in the attention (nil: all valid).
    public func callAsFunction(_ x: Tensor, keyLengths: Tensor?) throws -> Tensor {
        let h = try x + dropout1(attention(norm1(x), keyLengths: keyLengths))
        return try h + dropout2(linear2(dropout(linear1(norm2(h)).gelu())))
    }

    /// The dropout layers, whose generator states a resumable checkpoint records.
    public var dropouts: [Dropout] { [dropout1, dropout, dropout2] }
}

/// A transformer classifier for (N, C, L) signals: a convolutional stem (kernel 7, "same") to
/// dModel channels with GELU, a position code, pre-norm encoder layers, a final LayerNorm, the
/// mean over (valid) time steps and a linear head.
public final class TransformerClassifier: Module, Layer {
    /// The convolution inChannels → dModel (kernel 7, "same" padding), followed by GELU.
    public let stem: Conv1d
    /// The fixed sinusoidal position code; nil with learned positions.
    public let sinusoidal: SinusoidalPositionalEncoding?
    /// The learned position embedding; nil unless made with `learnedPositions`.
    public let learned: LearnedPositionalEncoding?
    /// The encoder layers, in the order they run.
    public let layers: [TransformerEncoderLayer]
    /// The LayerNorm after the last encoder layer.
    public let norm: LayerNorm
    /// The linear classifier dModel → classes, applied to the pooled features (logits).
    public let head: Linear

    /// A classifier of `inChannels`-channel signals of at most `length` steps into `classes` classes, with
    /// `layers` encoder layers of width `dModel`, `heads` heads, feed-forward width `feedForward` and dropout
    /// `dropout`, and learned positions when `learnedPositions` (else sinusoidal); parameters and dropout seeds
    /// are drawn from `generator`. Throws `ScalpelError.invalidArgument` unless `heads` ≥ 1 divides `dModel`.
    public init(inChannels: Int, length: Int, classes: Int, dModel: Int = 64, heads: Int = 4, layers count: Int = 2, feedForward: Int = 128,
                dropout: Float = 0.1, learnedPositions: Bool = false, generator: inout SeededRandom, on backend: any Backend) throws {
        stem = try Conv1d(inChannels, dModel, kernel: 7, padding: .same, generator: &generator, on: backend)
        sinusoidal = learnedPositions ? nil : SinusoidalPositionalEncoding(maxLength: length, dModel: dModel)
        learned = learnedPositions ? try LearnedPositionalEncoding(maxLength: length, dModel: dModel, generator: &generator, on: backend) : nil
        layers = try (0 ..< count).map { _ in
            try TransformerEncoderLayer(dModel: dModel, heads: heads, feedForward: feedForward, dropout: dropout, generator: &generator, on: backend)
        }
        norm = try LayerNorm(dModel, on: backend)
        head = try Linear(dModel, classes, generator: &generator, on: backend)
    }

    /// The logits (N, classes) of x (N, inChannels, L ≤ length), every time step valid; throws
    /// `ScalpelError.shapeMismatch` for any other shape.
    public func callAsFunction(_ x: Tensor) throws -> Tensor { try self(x, lengths: nil) }

    /// lengths (N): valid time steps per sequence (keys after them are masked and excluded from
    /// the pooled mean); nil when every sequence fills L.
    public func callAsFunction(_ x: Tensor, lengths: Tensor?) throws -> Tensor {
        var h = try stem(x).gelu().permuted([0, 2, 1])  // (N, L, d)
        if let sinusoidal { h = try sinusoidal(h) }
        if let learned { h = try learned(h) }
        for layer in layers { h = try layer(h, keyLengths: lengths) }
        h = try norm(h)
        guard let lengths else { return try head(h.mean(axes: [1])) }
        // Masked mean over time: Σ_t h[n, t]·[t < len_n] / len_n.
        let (n, length) = (h.shape[0], h.shape[1])
        let steps = try Tensor((0 ..< length).map(Float.init), shape: [1, length], on: h.backend)
        let mask = try steps.lt(lengths.reshaped([n, 1]))  // (N, L)
        let pooled = try (h * mask.reshaped([n, length, 1])).sum(axes: [1]) / lengths.reshaped([n, 1]).maximum(Tensor.constant(1, on: h.backend))
        return try head(pooled)
    }

    /// The dropout layers, whose generator states a resumable checkpoint records.
    public var dropouts: [Dropout] { layers.flatMap(\.dropouts) }

    /// Turns keeping the last encoder layer's attention probabilities on or off.
    public func keepAttention(_ on: Bool) { layers.last?.attention.keepsAttention = on }

    /// Per time step, the attention the last layer's queries paid to it (the head-averaged
    /// probabilities averaged over queries): (N, L) values summing to 1 per sequence, from the
    /// last call made with `keepAttention(true)`.
    public func attentionOverTime() -> (values: [Float], shape: [Int])? {
        guard let (values, shape) = layers.last?.attention.lastAttention else { return nil }
        let (n, l) = (shape[0], shape[1])
        var out = [Float](repeating: 0, count: n * l)
        for b in 0 ..< n {
            for q in 0 ..< l {
                for k in 0 ..< l { out[b * l + k] += values[(b * l + q) * l + k] / Float(l) }
            }
        }
        return (out, [n, l])
    }
}

/// Model builders for signals (N, C, L).
public enum SequenceModels {
    /// The fully convolutional network of Wang et al. (2017), the strongest published baseline on
    /// UCR data: three blocks of conv ("same" padding) + batch norm + ReLU with 128, 256 and 128
    /// filters of widths 8, 5 and 3, global average pooling, a linear classifier.
    public static func fcn(inChannels: Int, classes: Int, generator: inout SeededRandom, on backend: any Backend) throws -> Sequential {
        var layers: [any Layer] = []
        var channels = inChannels
        for (width, kernel) in [(128, 8), (256, 5), (128, 3)] {
            layers += [try Conv1d(channels, width, kernel: kernel, padding: .same, generator: &generator, on: backend),
                       try BatchNorm1d(width, on: backend), ReLU()]
            channels = width
        }
        layers += [GlobalAvgPool1d(), try Linear(channels, classes, generator: &generator, on: backend)]
        return Sequential(layers)
    }
}

/// A recurrent classifier for (N, C, L) signals: a bidirectional LSTM or GRU over the time
/// steps, the mean of its outputs over time (both directions), and a linear head.
public final class RecurrentClassifier: Module, Layer {
    /// The recurrent network a `RecurrentClassifier` runs: `lstm` an `LSTM`, `gru` a `GRU` (raw values "lstm" and
    /// "gru").
    public enum Cell: String, Sendable { case lstm, gru }

    /// Which recurrent network runs.
    public let cell: Cell
    /// The bidirectional LSTM; nil unless `cell` is `.lstm`.
    public let lstm: LSTM?
    /// The bidirectional GRU; nil unless `cell` is `.gru`.
    public let gru: GRU?
    /// The linear classifier 2·hidden → classes, applied to the mean output over time (logits).
    public let head: Linear

    /// A classifier of `inChannels`-channel signals into `classes` classes: a bidirectional `layers`-layer
    /// `cell` network of `hidden` units per direction, then the head, all drawn from `generator` (uniform in
    /// ±1/√hidden for the recurrent weights, ±1/√(2·hidden) for the head). Throws `ScalpelError.invalidArgument`
    /// unless the sizes are positive.
    public init(cell: Cell, inChannels: Int, hidden: Int, layers: Int = 1, classes: Int, generator: inout SeededRandom,
                on backend: any Backend) throws {
        self.cell = cell
        lstm = cell == .lstm
            ? try LSTM(inputSize: inChannels, hiddenSize: hidden, layers: layers, bidirectional: true, generator: &generator, on: backend) : nil
        gru = cell == .gru
            ? try GRU(inputSize: inChannels, hiddenSize: hidden, layers: layers, bidirectional: true, generator: &generator, on: backend) : nil
        head = try Linear(2 * hidden, classes, generator: &generator, on: backend)
    }

    /// The logits (N, classes) of x (N, C, L); throws `ScalpelError.shapeMismatch` unless x is (N, inChannels, L)
    /// with N and L at least 1.
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        guard x.rank == 3 else { throw ScalpelError.shapeMismatch(op: "RecurrentClassifier", detail: "needs (N, C, L), got \(x.shape)") }
        let steps = try x.permuted([0, 2, 1])  // (N, L, C)
        let output = try lstm.map { try $0(steps).output } ?? gru!(steps).output
        return try head(output.mean(axes: [1]))
    }
}
