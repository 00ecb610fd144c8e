import Foundation
import Scalpel
@testable import ScalpelConformance
import ScalpelCPU
import ScalpelCore
import ScalpelNN
import ScalpelTensor
import ScalpelTestSupport
import Testing

/// The fp32 reference kernels (the generic loops in Float), which the recurrent cases also run
/// on besides the backends of every table case.
enum RecurrentBackends {
    static let referenceFloat = CPUBackend(kernels: .reference)
}

@Suite struct RecurrentOpTests {
    /// The table's recurrent cases (`KernelCases.recurrent`, which the table test runs on every
    /// backend) also on the fp32 reference kernels: the generic loops in Float.
    @Test(arguments: KernelCases.recurrent)
    func fp32ReferenceKernelsMatchTheFp64Reference(_ testCase: KernelCase) throws {
        expectMatchesTheReference(testCase, on: RecurrentBackends.referenceFloat, named: "cpu-reference-fp32")
    }

    @Test func gradientsThroughFinalStatesAccumulateOverRepeatedBackwardPasses() throws {
        let backend = TensorBackends.cpu
        var generator = SeededRandom(seed: 5)
        let lstm = try LSTM(inputSize: 3, hiddenSize: 4, generator: &generator, on: backend)
        let x = try Tensor.uniform([2, 3, 3], generator: &generator, on: backend, requiresGrad: true)
        let r = try lstm(x)
        // Only the final cell state: its gradient alone must drive the sequence's backward pass.
        let loss = try r.c.sum()
        try loss.backward()
        let once = try x.grad!.array()
        #expect(once.contains { $0 != 0 })
        try loss.backward()
        let twice = try x.grad!.array()
        for (a, b) in zip(once, twice) { #expect(abs(2 * a - b) <= 1e-6 * max(1, abs(b)), "\(a) twice is not \(b)") }
    }

    @Test func badShapesAreClearErrors() throws {
        let backend = TensorBackends.cpu
        var generator = SeededRandom(seed: 1)
        let lstm = try LSTM(inputSize: 4, hiddenSize: 3, layers: 2, generator: &generator, on: backend)
        let gru = try GRU(inputSize: 4, hiddenSize: 3, bidirectional: true, generator: &generator, on: backend)
        let x = try Tensor.zeros([2, 5, 4], on: backend)
        #expect { try lstm(Tensor.zeros([2, 5, 3], on: backend)) } throws: { "\($0)".contains("must be (batch, time, 4)") }
        #expect { try gru(Tensor.zeros([5, 4], on: backend)) } throws: { "\($0)".contains("must be (batch, time, 4)") }
        #expect { try lstm(x, initialState: (h: Tensor.zeros([2, 2, 3], on: backend), c: Tensor.zeros([1, 2, 3], on: backend))) } throws: {
            "\($0)".contains("initial c [1, 2, 3] must be (layers·directions, batch, hidden) = [2, 2, 3]")
        }
        #expect { try gru(x, initialState: Tensor.zeros([1, 2, 3], on: backend)) } throws: { "\($0)".contains("initial h [1, 2, 3]") }
        #expect { try Tensor.lstmCell(gates: Tensor.zeros([2, 10], on: backend), cPrev: Tensor.zeros([2, 3], on: backend)) } throws: {
            "\($0)".contains("(batch, 4·hidden)")
        }
        #expect { try Tensor.gruCell(gi: Tensor.zeros([2, 9], on: backend), gh: Tensor.zeros([2, 6], on: backend), hPrev: Tensor.zeros([2, 3], on: backend)) } throws: {
            "\($0)".contains("(batch, 3·hidden)")
        }
        let w = gru.layers[0].forward
        #expect { try Tensor.gruSequence(x, weightIH: w.weightHH, weightHH: w.weightHH, biasIH: nil, biasHH: nil) } throws: {
            "\($0)".contains("weightIH [9, 3] must be (9, 4)")
        }
        #expect { try Tensor.gruSequence(x, weightIH: w.weightIH, weightHH: w.weightIH, biasIH: nil, biasHH: nil) } throws: {
            "\($0)".contains("weightHH [9, 4] must be (3·hidden, hidden)")
        }
        #expect { try GRU(inputSize: 0, hiddenSize: 3, generator: &generator, on: backend) } throws: { "\($0)".contains("positive sizes") }
        let small = try backend.makeBuffer(count: 5)
        #expect { try backend.lstmCell(gates: small, cPrev: small, c: small, h: small, batch: 2, hidden: 3) } throws: {
            "\($0)".contains("needs 24 elements")
        }
    }
}

@Suite struct RecurrentLayerTests {
    @Test func parametersHavePyTorchShapesAndNames() throws {
        var generator = SeededRandom(seed: 2)
        let lstm = try LSTM(inputSize: 4, hiddenSize: 6, layers: 2, bidirectional: true, generator: &generator, on: TensorBackends.cpu)
        let names = lstm.namedParameters().map(\.name)
        #expect(names.count == 16)
        #expect(Array(names.prefix(5)) == ["layers.0.forward.weightIH", "layers.0.forward.weightHH", "layers.0.forward.biasIH",
                                            "layers.0.forward.biasHH", "layers.0.reverse.weightIH"])
        #expect(names.compactMap(RecurrentNetwork.pytorchName).count == 16)
        #expect(RecurrentNetwork.pytorchName("layers.1.reverse.biasHH") == "bias_hh_l1_reverse")
        #expect(RecurrentNetwork.pytorchName("layers.0.forward.weightIH") == "weight_ih_l0")
        #expect(RecurrentNetwork.pytorchName("layers.0.sideways.weightIH") == nil)
        #expect(RecurrentNetwork.pytorchName("head.weight") == nil)
        #expect(lstm.layers[1].reverse!.weightIH.shape == [24, 12])
        #expect(lstm.layers[1].forward.weightHH.shape == [24, 6])
        let bound = 1 / Float(6).squareRoot()
        for p in lstm.parameters() { #expect(try p.array().allSatisfy { abs($0) <= bound }) }
        let gru = try GRU(inputSize: 4, hiddenSize: 5, bias: false, generator: &generator, on: TensorBackends.cpu)
        #expect(gru.namedParameters().map(\.name) == ["layers.0.forward.weightIH", "layers.0.forward.weightHH"])
        #expect(gru.layers[0].forward.weightIH.shape == [15, 4])
    }

    /// Every output, graph and gradient of the layers, sequence ops and cells is freed once the
    /// caller lets go: a backward closure holding its output (rather than the output's
    /// storage) would leak it, and with it the graph below down to the input and the weights.
    @Test func outputsAreFreedAfterBackward() throws {
        var objects: [(String, () -> AnyObject?)] = []
        func watch(_ name: String, _ t: Tensor) {
            weak let tensor = t
            weak let storage = t.storage
            objects.append(("\(name) tensor", { tensor }))
            objects.append(("\(name) storage", { storage }))
        }
        try {
            let backend = TensorBackends.cpu
            var generator = SeededRandom(seed: 3)
            let x = try Tensor.uniform([2, 3, 4], generator: &generator, on: backend, requiresGrad: true)
            let lstm = try LSTM(inputSize: 4, hiddenSize: 5, layers: 2, bidirectional: true, generator: &generator, on: backend)
            let gru = try GRU(inputSize: 4, hiddenSize: 5, layers: 2, bidirectional: true, generator: &generator, on: backend)
            let l = try lstm(x), g = try gru(x)
            let w = lstm.layers[0].forward, v = gru.layers[0].reverse!
            let ls = try Tensor.lstmSequence(x, weightIH: w.weightIH, weightHH: w.weightHH, biasIH: w.biasIH, biasHH: w.biasHH, reverse: true)
            let gs = try Tensor.gruSequence(x, weightIH: v.weightIH, weightHH: v.weightHH, biasIH: v.biasIH, biasHH: v.biasHH)
            let gates = try Tensor.uniform([2, 20], generator: &generator, on: backend, requiresGrad: true)
            let state = try Tensor.uniform([2, 5], generator: &generator, on: backend, requiresGrad: true)
            let cell = try Tensor.lstmCell(gates: gates, cPrev: state)
            let gruCell = try Tensor.gruCell(gi: gates.slice(axis: 1, 0 ..< 15), gh: gates.slice(axis: 1, 5 ..< 20), hPrev: state)
            let outputs = [("LSTM output", l.output), ("LSTM h", l.h), ("LSTM c", l.c), ("GRU output", g.output), ("GRU h", g.h),
                           ("lstmSequence output", ls.output), ("lstmSequence h", ls.h), ("lstmSequence c", ls.c),
                           ("gruSequence output", gs.output), ("gruSequence h", gs.h), ("lstmCell h", cell.h), ("lstmCell c", cell.c),
                           ("gruCell", gruCell)]
            for (name, t) in outputs { watch(name, t) }
            watch("input", x)
            watch("LSTM weight", lstm.layers[1].reverse!.weightHH)
            watch("GRU weight", gru.layers[1].forward.weightIH)
            let loss = try outputs.map { try $0.1.sum() }.reduce(try Tensor.zeros([], on: backend)) { try $0 + $1 }
            try loss.backward()
        }()
        for (name, object) in objects { #expect(object() == nil, "\(name) outlives its graph") }
    }
}

/// 2-layer bidirectional (and 1-layer) LSTMs and GRUs against PyTorch: output, final states,
/// the loss and the gradients of the input, the initial states and every parameter, on every
/// backend and in fp64 (scripts/golden_rnn.py wrote the fixture once).
@Suite struct RecurrentGoldenTests {
    struct Golden: Decodable {
        struct Case: Decodable {
            var kind: String
            var layers: Int
            var bidirectional: Bool
            var bias: Bool
            var hidden: Int
            var state: [String: [Float]]
            var shapes: [String: [Int]]
            var h0: [Float]?
            var c0: [Float]?
            var output: [Float]
            var output_shape: [Int]
            var h_n: [Float]
            var c_n: [Float]?
            var state_shape: [Int]
            var r: [Float]
            var r_h: [Float]
            var r_c: [Float]?
            var loss: Float
            var x_grad: [Float]
            var h0_grad: [Float]?
            var c0_grad: [Float]?
            var grads: [String: [Float]]
        }
        var x: [Float]
        var x_shape: [Int]
        var cases: [String: Case]
    }

    static let golden: Golden = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appending(path: "Fixtures/golden_rnn.json")
        return try! JSONDecoder().decode(Golden.self, from: Data(contentsOf: url))
    }()

    static let caseNames = ["lstm_2layer_bidirectional", "lstm_2layer_bidirectional_zero_state", "lstm_1layer_no_bias",
                            "gru_2layer_bidirectional", "gru_2layer_bidirectional_zero_state", "gru_1layer_no_bias"]

    func close(_ got: [Float], _ want: [Float], _ what: String) {
        #expect(got.count == want.count, "\(what): \(got.count) values, PyTorch has \(want.count)")
        let scale = max(want.map(abs).max() ?? 0, 1)
        let worst = zip(got, want).map { abs($0 - $1) }.max() ?? 0
        #expect(worst <= 1e-4 * scale, "\(what): max error \(worst) (scale \(scale))")
    }

    @Test(arguments: ["fp64"] + TensorBackends.names, caseNames)
    func layersMatchPyTorch(_ backendName: String, _ caseName: String) throws {
        let backend: any Backend = backendName == "fp64" ? TensorBackends.reference : try TensorBackends.backend(backendName)
        let golden = Self.golden, g = try #require(golden.cases[caseName])
        let what = "\(caseName) on \(backendName)"
        var generator = SeededRandom(seed: 0)
        let featureCount = golden.x_shape[2]
        let model: RecurrentNetwork = g.kind == "lstm"
            ? try LSTM(inputSize: featureCount, hiddenSize: g.hidden, layers: g.layers, bidirectional: g.bidirectional, bias: g.bias,
                       generator: &generator, on: backend)
            : try GRU(inputSize: featureCount, hiddenSize: g.hidden, layers: g.layers, bidirectional: g.bidirectional, bias: g.bias,
                      generator: &generator, on: backend)
        var mapped: [String] = []
        for (name, tensor) in model.namedTensors() {
            let key = try #require(RecurrentNetwork.pytorchName(name), "\(name) has no PyTorch name")
            let values = try #require(g.state[key], "\(name) → \(key) is not in PyTorch's state_dict")
            #expect(g.shapes[key] == tensor.shape, "\(name)")
            try values.withUnsafeBufferPointer { try backend.write($0, to: tensor.storage, at: 0) }
            mapped.append(key)
        }
        #expect(Set(mapped) == Set(g.state.keys), "\(what): parameters differ from PyTorch's")
        let x = try Tensor(golden.x, shape: golden.x_shape, on: backend, requiresGrad: true)
        let h0 = try g.h0.map { try Tensor($0, shape: g.state_shape, on: backend, requiresGrad: true) }
        let c0 = try g.c0.map { try Tensor($0, shape: g.state_shape, on: backend, requiresGrad: true) }
        let output: Tensor, h: Tensor, c: Tensor?
        if let lstm = model as? LSTM {
            let r = try lstm(x, initialState: h0.map { ($0, c0!) })
            (output, h, c) = (r.output, r.h, r.c)
        } else {
            let r = try (model as! GRU)(x, initialState: h0)
            (output, h, c) = (r.output, r.h, nil)
        }
        #expect(output.shape == g.output_shape && h.shape == g.state_shape, "\(what): shapes \(output.shape), \(h.shape)")
        close(try output.array(), g.output, "\(what) output")
        close(try h.array(), g.h_n, "\(what) h_n")
        if let c { close(try c.array(), g.c_n!, "\(what) c_n") }
        var loss = try (output * Tensor(g.r, shape: g.output_shape, on: backend)).sum() + (h * Tensor(g.r_h, shape: g.state_shape, on: backend)).sum()
        if let c { loss = try loss + (c * Tensor(g.r_c!, shape: g.state_shape, on: backend)).sum() }
        close([try loss.item()], [g.loss], "\(what) loss")
        try loss.backward()
        close(try x.grad!.array(), g.x_grad, "\(what) input gradient")
        if let h0 { close(try h0.grad!.array(), g.h0_grad!, "\(what) h0 gradient") }
        if let c0 { close(try c0.grad!.array(), g.c0_grad!, "\(what) c0 gradient") }
        for (name, p) in model.namedParameters() {
            let key = RecurrentNetwork.pytorchName(name)!
            close(try p.grad!.array(), try #require(g.grads[key]), "\(what) gradient of \(name) (\(key))")
        }
    }
}
