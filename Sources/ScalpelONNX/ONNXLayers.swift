import Foundation
import ScalpelCore
import ScalpelNN
import ScalpelTensor

/// A layer that can write itself into an ONNX graph: the nodes that compute, in evaluation
/// mode, what its `callAsFunction` computes, with its tensors as constants.
public protocol ONNXExportable {
    /// Adds this layer's evaluation-mode computation of `input` (a value of `graph`) to `graph`.
    /// - Parameters:
    ///   - input: The name of the layer's input value.
    ///   - graph: The graph the nodes go into.
    /// - Returns: The name of the layer's output value.
    /// - Throws: `ScalpelError.invalidArgument` for a layer or setting ONNX export does not cover.
    func exportONNX(_ input: String, to graph: inout ONNXGraph) throws -> String
}

extension ONNXGraph {
    /// Adds `layer`'s nodes for `input`, or throws naming a layer that cannot be exported.
    /// - Parameters:
    ///   - layer: Any layer.
    ///   - input: The name of its input value.
    /// - Returns: The name of its output value.
    /// - Throws: `ScalpelError.invalidArgument` when `layer` is not `ONNXExportable` or refuses.
    public mutating func add(_ layer: any Layer, _ input: String) throws -> String {
        guard let exportable = layer as? any ONNXExportable else {
            throw ScalpelError.invalidArgument("ONNX export does not cover the layer \(type(of: layer))")
        }
        return try exportable.exportONNX(input, to: &self)
    }

    /// A constant holding `tensor`'s values and shape.
    mutating func constant(_ tensor: Tensor, hint: String) throws -> String {
        constant(try tensor.array(), shape: tensor.shape, hint: hint)
    }

    /// A float scalar constant.
    mutating func scalar(_ value: Float) -> String { constant([value], shape: [], hint: "scalar") }

    /// x·Wᵀ + b over x's last axis, any rank: MatMul with the transposed weight, then Add.
    mutating func linear(_ x: String, weight: Tensor, bias: Tensor?) throws -> String {
        let (rows, columns) = (weight.shape[0], weight.shape[1])
        let w = try weight.array()
        var transposed = [Float](repeating: 0, count: w.count)
        for r in 0 ..< rows { for c in 0 ..< columns { transposed[c * rows + r] = w[r * columns + c] } }
        let product = node("MatMul", [x, constant(transposed, shape: [columns, rows], hint: "weight_t")])
        guard let bias else { return product }
        return node("Add", [product, try constant(bias, hint: "bias")])
    }

    /// The exact GELU, x·Φ(x) = 0.5·x·(1 + erf(x/√2)) (opset 17 has no GELU operator).
    mutating func gelu(_ x: String) -> String {
        let erf = node("Erf", [node("Div", [x, scalar(Float(2).squareRoot())])])
        return node("Mul", [node("Mul", [x, node("Add", [erf, scalar(1)])]), scalar(0.5)])
    }

    /// The mean over `axes`, which are dropped.
    mutating func mean(_ x: String, axes: [Int]) -> String {
        node("ReduceMean", [x], ["axes": .ints(axes), "keepdims": .int(0)])
    }

    /// `x` reshaped to `shape` (0 keeps that axis, −1 is inferred).
    mutating func reshape(_ x: String, _ shape: [Int]) -> String {
        node("Reshape", [x, constant(int64: shape, hint: "shape")])
    }
}

extension Sequential: ONNXExportable {
    /// Each layer in turn.
    public func exportONNX(_ input: String, to graph: inout ONNXGraph) throws -> String {
        try layers.reduce(input) { try graph.add($1, $0) }
    }
}

extension Linear: ONNXExportable {
    /// MatMul by Wᵀ, then Add b.
    public func exportONNX(_ input: String, to graph: inout ONNXGraph) throws -> String {
        try graph.linear(input, weight: weight, bias: bias)
    }
}

extension ReLU: ONNXExportable {
    /// Relu.
    public func exportONNX(_ input: String, to graph: inout ONNXGraph) throws -> String { graph.node("Relu", [input]) }
}

extension GELU: ONNXExportable {
    /// 0.5·x·(1 + erf(x/√2)).
    public func exportONNX(_ input: String, to graph: inout ONNXGraph) throws -> String { graph.gelu(input) }
}

extension SiLU: ONNXExportable {
    /// x·Sigmoid(x).
    public func exportONNX(_ input: String, to graph: inout ONNXGraph) throws -> String {
        graph.node("Mul", [input, graph.node("Sigmoid", [input])])
    }
}

extension Sigmoid: ONNXExportable {
    /// Sigmoid.
    public func exportONNX(_ input: String, to graph: inout ONNXGraph) throws -> String { graph.node("Sigmoid", [input]) }
}

extension Tanh: ONNXExportable {
    /// Tanh.
    public func exportONNX(_ input: String, to graph: inout ONNXGraph) throws -> String { graph.node("Tanh", [input]) }
}

extension Dropout: ONNXExportable {
    /// Nothing: dropout is the identity in evaluation.
    public func exportONNX(_ input: String, to graph: inout ONNXGraph) throws -> String { input }
}

extension LayerNorm: ONNXExportable {
    /// LayerNormalization over the last axis.
    public func exportONNX(_ input: String, to graph: inout ONNXGraph) throws -> String {
        graph.node("LayerNormalization", [input, try graph.constant(weight, hint: "ln_scale"), try graph.constant(bias, hint: "ln_bias")],
                   ["axis": .int(-1), "epsilon": .float(epsilon)])
    }
}

extension BatchNorm: ONNXExportable {
    /// BatchNormalization with the running statistics (evaluation mode).
    public func exportONNX(_ input: String, to graph: inout ONNXGraph) throws -> String {
        graph.node("BatchNormalization", [input, try graph.constant(weight, hint: "bn_scale"), try graph.constant(bias, hint: "bn_bias"),
                                          try graph.constant(runningMean, hint: "bn_mean"), try graph.constant(runningVar, hint: "bn_var")],
                   ["epsilon": .float(epsilon)])
    }
}

extension Conv2d: ONNXExportable {
    /// Conv with the layer's stride, padding, dilation and groups.
    public func exportONNX(_ input: String, to graph: inout ONNXGraph) throws -> String {
        let inputs = [input, try graph.constant(weight, hint: "conv_weight")] + (try bias.map { [try graph.constant($0, hint: "conv_bias")] } ?? [])
        return graph.node("Conv", inputs, ["kernel_shape": .ints([weight.shape[2], weight.shape[3]]), "strides": .ints([stride.0, stride.1]),
                                           "pads": .ints([padding.0, padding.1, padding.0, padding.1]),
                                           "dilations": .ints([dilation.0, dilation.1]), "group": .int(groups)])
    }
}

extension Conv1d: ONNXExportable {
    /// Conv over the time axis; "same" padding as explicit left and right pads.
    public func exportONNX(_ input: String, to graph: inout ONNXGraph) throws -> String {
        let k = weight.shape[2]
        let pads: [Int]
        switch padding {
        case let .symmetric(p): pads = [p, p]
        case .same:
            let total = (k - 1) * dilation
            pads = [total / 2, total - total / 2]
        }
        let inputs = [input, try graph.constant(weight, hint: "conv_weight")] + (try bias.map { [try graph.constant($0, hint: "conv_bias")] } ?? [])
        return graph.node("Conv", inputs, ["kernel_shape": .ints([k]), "strides": .ints([stride]), "pads": .ints(pads),
                                           "dilations": .ints([dilation]), "group": .int(groups)])
    }
}

extension MaxPool2d: ONNXExportable {
    /// MaxPool.
    public func exportONNX(_ input: String, to graph: inout ONNXGraph) throws -> String {
        graph.node("MaxPool", [input], ["kernel_shape": .ints([kernel, kernel]), "strides": .ints([stride, stride]),
                                        "pads": .ints([padding, padding, padding, padding])])
    }
}

extension AvgPool2d: ONNXExportable {
    /// AveragePool dividing by the whole window, padding included.
    public func exportONNX(_ input: String, to graph: inout ONNXGraph) throws -> String {
        graph.node("AveragePool", [input], ["kernel_shape": .ints([kernel, kernel]), "strides": .ints([stride, stride]),
                                            "pads": .ints([padding, padding, padding, padding]), "count_include_pad": .int(1)])
    }
}

extension GlobalAvgPool2d: ONNXExportable {
    /// ReduceMean over the two spatial axes.
    public func exportONNX(_ input: String, to graph: inout ONNXGraph) throws -> String { graph.mean(input, axes: [2, 3]) }
}

extension GlobalAvgPool1d: ONNXExportable {
    /// ReduceMean over the time axis.
    public func exportONNX(_ input: String, to graph: inout ONNXGraph) throws -> String { graph.mean(input, axes: [2]) }
}

extension Flatten: ONNXExportable {
    /// Flatten from axis 1.
    public func exportONNX(_ input: String, to graph: inout ONNXGraph) throws -> String { graph.node("Flatten", [input], ["axis": .int(1)]) }
}

extension BasicBlock: ONNXExportable {
    /// The two convolutions with their batch norms, the shortcut, Add and Relu.
    public func exportONNX(_ input: String, to graph: inout ONNXGraph) throws -> String {
        let first = graph.node("Relu", [try bn1.exportONNX(try conv1.exportONNX(input, to: &graph), to: &graph)])
        let second = try bn2.exportONNX(try conv2.exportONNX(first, to: &graph), to: &graph)
        let shortcut = try downsample?.exportONNX(input, to: &graph) ?? input
        return graph.node("Relu", [graph.node("Add", [second, shortcut])])
    }
}

extension MultiheadAttention: ONNXExportable {
    /// The projection to queries, keys and values, softmax(q·kᵀ/√headSize)·v per head, and the
    /// output projection; every time step a valid key.
    public func exportONNX(_ input: String, to graph: inout ONNXGraph) throws -> String {
        guard !causal else { throw ScalpelError.invalidArgument("ONNX export does not cover causal attention") }
        let d = inputProjection.weight.shape[1], headSize = d / heads
        let qkv = try graph.linear(input, weight: inputProjection.weight, bias: inputProjection.bias)  // (N, L, 3d)
        let split = graph.node("Transpose", [graph.reshape(qkv, [0, 0, 3, heads, headSize])], ["perm": .ints([2, 0, 3, 1, 4])])
        func part(_ index: Int) -> String {
            graph.node("Gather", [split, graph.constant(int64: [index], shape: [], hint: "index")], ["axis": .int(0)])  // (N, H, L, hs)
        }
        let (q, k, v) = (part(0), part(1), part(2))
        let scores = graph.node("Mul", [graph.node("MatMul", [q, graph.node("Transpose", [k], ["perm": .ints([0, 1, 3, 2])])]),
                                        graph.scalar(1 / Float(headSize).squareRoot())])
        let attended = graph.node("MatMul", [graph.node("Softmax", [scores], ["axis": .int(-1)]), v])  // (N, H, L, hs)
        let merged = graph.reshape(graph.node("Transpose", [attended], ["perm": .ints([0, 2, 1, 3])]), [0, 0, d])
        return try graph.linear(merged, weight: outputProjection.weight, bias: outputProjection.bias)
    }
}

extension SinusoidalPositionalEncoding: ONNXExportable {
    /// Add of the (maxLength, dModel) code: the exported input has exactly maxLength steps.
    public func exportONNX(_ input: String, to graph: inout ONNXGraph) throws -> String {
        graph.node("Add", [input, graph.constant(code, shape: [maxLength, dModel], hint: "position_code")])
    }
}

extension LearnedPositionalEncoding: ONNXExportable {
    /// Add of the learned (maxLength, dModel) embedding: the exported input has exactly maxLength steps.
    public func exportONNX(_ input: String, to graph: inout ONNXGraph) throws -> String {
        graph.node("Add", [input, try graph.constant(weight, hint: "position_embedding")])
    }
}

extension TransformerEncoderLayer: ONNXExportable {
    /// x + MHA(LN₁(x)), then + W₂·GELU(W₁·LN₂(·)) (dropouts are the identity).
    public func exportONNX(_ input: String, to graph: inout ONNXGraph) throws -> String {
        let h = graph.node("Add", [input, try attention.exportONNX(try norm1.exportONNX(input, to: &graph), to: &graph)])
        let hidden = graph.gelu(try linear1.exportONNX(try norm2.exportONNX(h, to: &graph), to: &graph))
        return graph.node("Add", [h, try linear2.exportONNX(hidden, to: &graph)])
    }
}

extension TransformerClassifier: ONNXExportable {
    /// The stem with GELU, (N, C, L) → (N, L, d), the position code, the encoder layers, the final
    /// LayerNorm, the mean over time and the head, for inputs whose every step is valid.
    public func exportONNX(_ input: String, to graph: inout ONNXGraph) throws -> String {
        var h = graph.node("Transpose", [graph.gelu(try stem.exportONNX(input, to: &graph))], ["perm": .ints([0, 2, 1])])
        if let sinusoidal { h = try sinusoidal.exportONNX(h, to: &graph) }
        if let learned { h = try learned.exportONNX(h, to: &graph) }
        for layer in layers { h = try layer.exportONNX(h, to: &graph) }
        return try head.exportONNX(graph.mean(try norm.exportONNX(h, to: &graph), axes: [1]), to: &graph)
    }
}

extension RecurrentNetwork: ONNXExportable {
    /// ONNX LSTM or GRU nodes, one per layer (both directions in one node), on (N, L, input)
    /// batch-first input; the output is (N, L, directions·hidden), forward first, as here.
    public func exportONNX(_ input: String, to graph: inout ONNXGraph) throws -> String {
        let timeMajor = graph.node("Transpose", [input], ["perm": .ints([1, 0, 2])])
        return graph.node("Transpose", [try exportTimeMajor(timeMajor, to: &graph)], ["perm": .ints([1, 0, 2])])
    }

    /// The layers on time-major (L, N, input) input; returns (L, N, directions·hidden).
    func exportTimeMajor(_ input: String, to graph: inout ONNXGraph) throws -> String {
        let isLSTM = self is LSTM
        let gates = isLSTM ? 4 : 3
        // ONNX orders the gate blocks i, o, f, c (LSTM) and z, r, h (GRU); PyTorch's layout, kept
        // here, is i, f, g, o and r, z, n.
        let order = isLSTM ? [0, 3, 1, 2] : [1, 0, 2]
        let h = hiddenSize
        func reordered(_ values: [Float], columns: Int) -> [Float] {
            order.flatMap { block in values[(block * h * columns) ..< ((block + 1) * h * columns)] }
        }
        var x = input
        for layer in layers {
            let directions = [layer.forward] + (layer.reverse.map { [$0] } ?? [])
            var w: [Float] = [], r: [Float] = [], b: [Float] = []
            let inputSize = layer.forward.weightIH.shape[1]
            for weights in directions {
                w += reordered(try weights.weightIH.array(), columns: inputSize)
                r += reordered(try weights.weightHH.array(), columns: h)
                let zeros = [Float](repeating: 0, count: gates * h)
                b += reordered(try weights.biasIH?.array() ?? zeros, columns: 1) + reordered(try weights.biasHH?.array() ?? zeros, columns: 1)
            }
            let count = directions.count
            var attributes: [String: ONNXGraph.Attribute] = ["hidden_size": .int(h), "direction": .string(count == 2 ? "bidirectional" : "forward")]
            // PyTorch's GRU applies the reset gate after the hidden state's product (n = tanh(W_in·x + b_in + r ⊙ (W_hn·h + b_hn))).
            if !isLSTM { attributes["linear_before_reset"] = .int(1) }
            let y = graph.nodes(isLSTM ? "LSTM" : "GRU",
                                [x, graph.constant(w, shape: [count, gates * h, inputSize], hint: "rnn_w"),
                                 graph.constant(r, shape: [count, gates * h, h], hint: "rnn_r"),
                                 graph.constant(b, shape: [count, 2 * gates * h], hint: "rnn_b")],
                                attributes, outputs: 1)[0]  // (L, directions, N, h)
            x = graph.reshape(graph.node("Transpose", [y], ["perm": .ints([0, 2, 1, 3])]), [0, 0, -1])
        }
        return x
    }
}

extension RecurrentClassifier: ONNXExportable {
    /// The recurrent network on (L, N, C), the mean of its outputs over time and the head.
    public func exportONNX(_ input: String, to graph: inout ONNXGraph) throws -> String {
        let timeMajor = graph.node("Transpose", [input], ["perm": .ints([2, 0, 1])])  // (N, C, L) → (L, N, C)
        let network: RecurrentNetwork = lstm ?? gru!
        let output = try network.exportTimeMajor(timeMajor, to: &graph)
        return try head.exportONNX(graph.mean(output, axes: [0]), to: &graph)
    }
}
