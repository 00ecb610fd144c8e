import Foundation
import ScalpelCore
import ScalpelNN
import ScalpelTensor
import ScalpelTestSupport
import Testing

/// The sequence layers against PyTorch (scripts/golden_sequence.py wrote the fixture once): the
/// transformer classifier (conv stem, sinusoidal positions, pre-norm encoder layers with the
/// fused attention, pooling, head), and Conv1d with "same" padding (even kernel, dilation)
/// followed by BatchNorm1d on (N, C, L) — output, and the gradients of the input and of every
/// parameter, on every backend.
@Suite struct SequenceGoldenTests {
    typealias Case = GoldenLayerCase

    struct Golden: Decodable {
        var classifier: Case
        var conv_same_even: Case
        var conv_same_dilated: Case
    }

    static let golden: Golden = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appending(path: "Fixtures/golden_sequence.json")
        return try! JSONDecoder().decode(Golden.self, from: Data(contentsOf: url))
    }()

    /// Scalpel's path → PyTorch's state_dict key.
    static func torchName(_ name: String, sequential: Bool) -> String {
        var n = name
        if n.hasPrefix("layers.") {
            // Sequential's "layers.N" is PyTorch's "N"; the classifier's encoder layers are "encoder.layers.N".
            n = sequential ? String(n.dropFirst("layers.".count)) : "encoder." + n
        }
        return n.replacingOccurrences(of: "attention.inputProjection.weight", with: "self_attn.in_proj_weight")
            .replacingOccurrences(of: "attention.inputProjection.bias", with: "self_attn.in_proj_bias")
            .replacingOccurrences(of: "attention.outputProjection.", with: "self_attn.out_proj.")
            .replacingOccurrences(of: "runningMean", with: "running_mean").replacingOccurrences(of: "runningVar", with: "running_var")
    }

    func check(_ model: any Module & Layer, _ golden: Case, _ backendName: String, on backend: any Backend) throws {
        try checkAgainstGolden(model, golden, torchName: { Self.torchName($0, sequential: model is Sequential) }, tolerance: 2e-4,
                               backendName, on: backend)
    }

    @Test(arguments: TensorBackends.names)
    func transformerClassifierMatchesPyTorch(_ backendName: String) throws {
        let backend = try TensorBackends.backend(backendName)
        var generator = SeededRandom(seed: 0)
        let model = try TransformerClassifier(inChannels: 1, length: 9, classes: 3, dModel: 8, heads: 2, layers: 2, feedForward: 12, dropout: 0,
                                              generator: &generator, on: backend)
        try check(model, Self.golden.classifier, backendName, on: backend)
    }

    @Test(arguments: TensorBackends.names)
    func conv1dSamePaddingAndBatchNormMatchPyTorch(_ backendName: String) throws {
        let backend = try TensorBackends.backend(backendName)
        var generator = SeededRandom(seed: 0)
        let even = Sequential([try Conv1d(2, 3, kernel: 4, padding: .same, generator: &generator, on: backend), try BatchNorm1d(3, on: backend)])
        try check(even, Self.golden.conv_same_even, backendName, on: backend)
        let dilated = Sequential([try Conv1d(2, 3, kernel: 3, padding: .same, dilation: 2, generator: &generator, on: backend),
                                  try BatchNorm1d(3, on: backend)])
        try check(dilated, Self.golden.conv_same_dilated, backendName, on: backend)
    }

    @Test(arguments: TensorBackends.names)
    func learnedPositionsAddARowPerStepAndLearnFromEveryBatchEntry(_ backendName: String) throws {
        let backend = try TensorBackends.backend(backendName)
        var generator = SeededRandom(seed: 3)
        let positions = try LearnedPositionalEncoding(maxLength: 6, dModel: 4, generator: &generator, on: backend)
        let table = try positions.weight.array()
        let x = try Tensor((0 ..< 2 * 5 * 4).map { Float($0) / 10 }, shape: [2, 5, 4], on: backend, requiresGrad: true)
        let y = try positions(x)
        let (got, input) = (try y.array(), try x.array())
        for b in 0 ..< 2 {
            for i in 0 ..< 20 { #expect(abs(got[b * 20 + i] - (input[b * 20 + i] + table[i])) < 1e-6) }
        }
        let r = try Tensor((0 ..< 40).map { Float($0 % 7) - 3 }, shape: [2, 5, 4], on: backend)
        try (y * r).sum().backward()
        let grad = try positions.weight.grad!.array(), rv = try r.array()
        // Rows 0..<5 collect both batch entries' gradients; row 5 (past the length) gets none.
        for i in 0 ..< 20 { #expect(abs(grad[i] - (rv[i] + rv[20 + i])) < 1e-5) }
        #expect(grad[20 ..< 24].allSatisfy { $0 == 0 })
        #expect(try x.grad!.array() == rv)
        var g2 = SeededRandom(seed: 0)
        let model = try TransformerClassifier(inChannels: 1, length: 9, classes: 3, dModel: 8, heads: 2, layers: 1, feedForward: 12,
                                              learnedPositions: true, generator: &g2, on: backend)
        #expect(model.namedParameters().contains { $0.name == "learned.weight" })
        #expect(try model(try Tensor.zeros([2, 1, 9], on: backend)).shape == [2, 3])
    }

    @Test func sequenceLayersRejectWrongShapes() throws {
        let backend = try TensorBackends.backend(TensorBackends.names[0])
        var generator = SeededRandom(seed: 0)
        let conv = try Conv1d(2, 3, kernel: 3, generator: &generator, on: backend)
        #expect(throws: ScalpelError.self) { try conv(try Tensor.zeros([2, 2, 5, 1], on: backend)) }
        #expect(throws: ScalpelError.self) { try Conv1d(2, 3, kernel: 3, stride: 2, padding: .same, generator: &generator, on: backend) }
        let attention = try MultiheadAttention(8, heads: 2, generator: &generator, on: backend)
        #expect(throws: ScalpelError.self) { try attention(try Tensor.zeros([2, 5, 6], on: backend)) }
        #expect(throws: ScalpelError.self) { try MultiheadAttention(8, heads: 3, generator: &generator, on: backend) }
        let positions = SinusoidalPositionalEncoding(maxLength: 4, dModel: 8)
        #expect(throws: ScalpelError.self) { try positions(try Tensor.zeros([1, 5, 8], on: backend)) }
    }
}
