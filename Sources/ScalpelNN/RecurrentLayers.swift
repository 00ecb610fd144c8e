import Foundation
import ScalpelCore
import ScalpelTensor

/// The weights of one direction of one recurrent layer, in PyTorch's layouts: `weightIH`
/// (gates·hidden, input), `weightHH` (gates·hidden, hidden), `biasIH` and `biasHH`
/// (gates·hidden), gate blocks in PyTorch's order (LSTM i, f, g, o; GRU r, z, n).
public final class RecurrentWeights: Module {
    /// The input-to-hidden weight, (gates·hidden, input), PyTorch's `weight_ih_l<k>` (input: the input size in
    /// layer 0, directions·hidden after it).
    public let weightIH: Tensor
    /// The hidden-to-hidden weight, (gates·hidden, hidden), PyTorch's `weight_hh_l<k>`.
    public let weightHH: Tensor
    /// The input-to-hidden bias, (gates·hidden), PyTorch's `bias_ih_l<k>`; nil without biases.
    public let biasIH: Tensor?
    /// The hidden-to-hidden bias, (gates·hidden), PyTorch's `bias_hh_l<k>`; nil without biases.
    public let biasHH: Tensor?

    /// Every tensor uniform in ±1/√hidden, as PyTorch initialises them, drawn in PyTorch's
    /// parameter order (weight_ih, weight_hh, bias_ih, bias_hh).
    init(gates: Int, inputSize: Int, hiddenSize: Int, bias: Bool, generator: inout SeededRandom, on backend: any Backend) throws {
        let bound = 1 / Float(hiddenSize).squareRoot()
        let rows = gates * hiddenSize
        weightIH = try .uniform([rows, inputSize], low: -bound, high: bound, generator: &generator, on: backend, requiresGrad: true)
        weightHH = try .uniform([rows, hiddenSize], low: -bound, high: bound, generator: &generator, on: backend, requiresGrad: true)
        biasIH = bias ? try .uniform([rows], low: -bound, high: bound, generator: &generator, on: backend, requiresGrad: true) : nil
        biasHH = bias ? try .uniform([rows], low: -bound, high: bound, generator: &generator, on: backend, requiresGrad: true) : nil
    }
}

/// The directions of one recurrent layer: `forward` reads the sequence first to last,
/// `reverse` (bidirectional layers only) last to first.
public final class RecurrentLayerWeights: Module {
    /// The weights of the direction that reads the sequence first to last.
    public let forward: RecurrentWeights
    /// The weights of the direction that reads it last to first (PyTorch's `_reverse` keys); nil unless bidirectional.
    public let reverse: RecurrentWeights?

    init(forward: RecurrentWeights, reverse: RecurrentWeights?) {
        self.forward = forward
        self.reverse = reverse
    }
}

/// What LSTM and GRU share: sizes, stacked layers, directions, and the parameter names.
///
/// Parameters are named by their property paths, which map one to one onto PyTorch's
/// `nn.LSTM` / `nn.GRU` state_dict keys (see `pytorchName`):
///
///     layers.0.forward.weightIH   ↔ weight_ih_l0
///     layers.0.forward.weightHH   ↔ weight_hh_l0
///     layers.0.forward.biasIH     ↔ bias_ih_l0
///     layers.0.forward.biasHH     ↔ bias_hh_l0
///     layers.1.reverse.weightIH   ↔ weight_ih_l1_reverse   (and so on)
///
/// Input is batch first, (batch, time, features), every sequence of the same length.
/// Layer k > 0 reads the output of layer k − 1 (both directions concatenated, forward first).
public class RecurrentNetwork: Module {
    /// Features of each input step.
    public let inputSize: Int
    /// Units of each hidden state.
    public let hiddenSize: Int
    /// Stacked layers.
    public let layerCount: Int
    /// Whether each layer also reads the sequence backwards (output features 2·hiddenSize).
    public let bidirectional: Bool
    /// The weights, layer by layer.
    public let layers: [RecurrentLayerWeights]

    /// 2 when bidirectional, else 1.
    public var directions: Int { bidirectional ? 2 : 1 }

    let kind: String

    init(kind: String, gates: Int, inputSize: Int, hiddenSize: Int, layers: Int, bidirectional: Bool, bias: Bool,
         generator: inout SeededRandom, on backend: any Backend) throws {
        guard inputSize > 0, hiddenSize > 0, layers > 0 else {
            throw ScalpelError.invalidArgument("\(kind) needs positive sizes (input \(inputSize), hidden \(hiddenSize), layers \(layers))")
        }
        self.kind = kind
        self.inputSize = inputSize
        self.hiddenSize = hiddenSize
        layerCount = layers
        self.bidirectional = bidirectional
        var built: [RecurrentLayerWeights] = []
        for layer in 0 ..< layers {
            let layerInput = layer == 0 ? inputSize : hiddenSize * (bidirectional ? 2 : 1)
            let forward = try RecurrentWeights(gates: gates, inputSize: layerInput, hiddenSize: hiddenSize, bias: bias, generator: &generator, on: backend)
            let reverse = bidirectional
                ? try RecurrentWeights(gates: gates, inputSize: layerInput, hiddenSize: hiddenSize, bias: bias, generator: &generator, on: backend)
                : nil
            built.append(RecurrentLayerWeights(forward: forward, reverse: reverse))
        }
        self.layers = built
    }

    /// PyTorch's state_dict key for one of these modules' parameter paths
    /// (`layers.1.reverse.weightIH` → `weight_ih_l1_reverse`), or nil for any other name.
    public static func pytorchName(_ name: String) -> String? {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        let parameters = ["weightIH": "weight_ih", "weightHH": "weight_hh", "biasIH": "bias_ih", "biasHH": "bias_hh"]
        guard parts.count == 4, parts[0] == "layers", let layer = Int(parts[1]), layer >= 0, String(layer) == parts[1],
              parts[2] == "forward" || parts[2] == "reverse", let base = parameters[String(parts[3])] else { return nil }
        return "\(base)_l\(layer)\(parts[2] == "reverse" ? "_reverse" : "")"
    }

    /// Checks x (batch, time, inputSize) and an initial state (layers·directions, batch, hidden).
    func check(_ x: Tensor, states: [(String, Tensor?)]) throws {
        guard x.rank == 3, x.shape[2] == inputSize, x.shape[0] > 0, x.shape[1] > 0 else {
            throw ScalpelError.shapeMismatch(op: kind, detail: "input \(x.shape) must be (batch, time, \(inputSize)), batch first, with at least one sequence and one step")
        }
        let want = [layerCount * directions, x.shape[0], hiddenSize]
        for (name, state) in states {
            if let state, state.shape != want {
                throw ScalpelError.shapeMismatch(op: kind, detail: "initial \(name) \(state.shape) must be (layers·directions, batch, hidden) = \(want)")
            }
        }
    }

    /// State k (layer·directions + direction) of an initial state (layers·directions, batch, hidden).
    func initial(_ state: Tensor?, _ k: Int) throws -> Tensor? {
        guard let state else { return nil }
        return try state.slice(axis: 0, k ..< k + 1).reshaped([state.shape[1], state.shape[2]])
    }

    /// Runs every layer and direction with `step` (one direction over the sequence, returning
    /// its output and final states), concatenating directions and stacking final states.
    func run(_ x: Tensor, _ direction: (_ input: Tensor, _ weights: RecurrentWeights, _ k: Int, _ reverse: Bool) throws -> (Tensor, [Tensor]))
        throws -> (output: Tensor, states: [Tensor]) {
        var input = x
        var finals: [[Tensor]] = []
        for (index, layer) in layers.enumerated() {
            let (forwardOutput, forwardStates) = try direction(input, layer.forward, index * directions, false)
            finals.append(forwardStates)
            if let reverse = layer.reverse {
                let (reverseOutput, reverseStates) = try direction(input, reverse, index * directions + 1, true)
                finals.append(reverseStates)
                input = try Tensor.concatenate([forwardOutput, reverseOutput], axis: 2)
            } else {
                input = forwardOutput
            }
        }
        // finals[k][i]: state i of direction k → state i stacked over k, (layers·directions, batch, hidden).
        let stateCount = finals[0].count
        let stacked = try (0 ..< stateCount).map { i in
            let parts = try finals.map { try $0[i].reshaped([1] + $0[i].shape) }
            return parts.count == 1 ? parts[0] : try Tensor.concatenate(parts, axis: 0)
        }
        return (input, stacked)
    }
}

/// What an LSTM returns.
public struct LSTMOutput {
    /// The last layer's output at every step, (batch, time, directions·hidden): forward
    /// direction first, then reverse.
    public let output: Tensor
    /// The final hidden state of every layer and direction, (layers·directions, batch, hidden),
    /// ordered as PyTorch's h_n (layer 0 forward, layer 0 reverse, layer 1 forward, …).
    public let h: Tensor
    /// The final cell state, laid out like `h`.
    public let c: Tensor
}

/// What a GRU returns.
public struct GRUOutput {
    /// The last layer's output at every step, (batch, time, directions·hidden).
    public let output: Tensor
    /// The final hidden state of every layer and direction, (layers·directions, batch, hidden).
    public let h: Tensor
}

/// A long short-term memory network, PyTorch's `nn.LSTM(batch_first=True)`: stacked layers,
/// optionally bidirectional, over batches of equal-length sequences. Per layer and
/// direction the input projection of all steps is one GEMM; each step is one GEMM (h·W_hhᵀ)
/// and one fused cell kernel. Parameter names map to PyTorch's (see `RecurrentNetwork`).
public final class LSTM: RecurrentNetwork {
    /// An LSTM reading `inputSize` features per step into `hiddenSize` units, with `layers`
    /// stacked layers; weights and biases uniform in ±1/√hiddenSize from `generator`.
    public init(inputSize: Int, hiddenSize: Int, layers: Int = 1, bidirectional: Bool = false, bias: Bool = true,
                generator: inout SeededRandom, on backend: any Backend) throws {
        try super.init(kind: "LSTM", gates: 4, inputSize: inputSize, hiddenSize: hiddenSize, layers: layers, bidirectional: bidirectional,
                       bias: bias, generator: &generator, on: backend)
    }

    /// Runs x (batch, time, inputSize) from `initialState` (h0 and c0, each
    /// (layers·directions, batch, hidden); zeros when nil).
    public func callAsFunction(_ x: Tensor, initialState: (h: Tensor, c: Tensor)? = nil) throws -> LSTMOutput {
        try check(x, states: [("h", initialState?.h), ("c", initialState?.c)])
        let (output, states) = try run(x) { input, w, k, reverse in
            let r = try Tensor.lstmSequence(input, weightIH: w.weightIH, weightHH: w.weightHH, biasIH: w.biasIH, biasHH: w.biasHH,
                                            h0: try initial(initialState?.h, k), c0: try initial(initialState?.c, k), reverse: reverse)
            return (r.output, [r.h, r.c])
        }
        return LSTMOutput(output: output, h: states[0], c: states[1])
    }
}

/// A gated recurrent unit network, PyTorch's `nn.GRU(batch_first=True)`: stacked layers,
/// optionally bidirectional, over batches of equal-length sequences. Per layer and direction
/// the input projection of all steps is one GEMM; each step is one GEMM (h·W_hhᵀ + b_hh) and
/// one fused cell kernel. Parameter names map to PyTorch's (see `RecurrentNetwork`).
public final class GRU: RecurrentNetwork {
    /// A GRU reading `inputSize` features per step into `hiddenSize` units, with `layers`
    /// stacked layers; weights and biases uniform in ±1/√hiddenSize from `generator`.
    public init(inputSize: Int, hiddenSize: Int, layers: Int = 1, bidirectional: Bool = false, bias: Bool = true,
                generator: inout SeededRandom, on backend: any Backend) throws {
        try super.init(kind: "GRU", gates: 3, inputSize: inputSize, hiddenSize: hiddenSize, layers: layers, bidirectional: bidirectional,
                       bias: bias, generator: &generator, on: backend)
    }

    /// Runs x (batch, time, inputSize) from `initialState` h0 ((layers·directions, batch,
    /// hidden); zeros when nil).
    public func callAsFunction(_ x: Tensor, initialState: Tensor? = nil) throws -> GRUOutput {
        try check(x, states: [("h", initialState)])
        let (output, states) = try run(x) { input, w, k, reverse in
            let r = try Tensor.gruSequence(input, weightIH: w.weightIH, weightHH: w.weightHH, biasIH: w.biasIH, biasHH: w.biasHH,
                                           h0: try initial(initialState, k), reverse: reverse)
            return (r.output, [r.h])
        }
        return GRUOutput(output: output, h: states[0])
    }
}
