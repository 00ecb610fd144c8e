import Foundation
import ScalpelCore
import ScalpelNN
import ScalpelTensor
import Testing

/// A ResNet basic block (stride 2, downsampling shortcut, training-mode batch norm) against
/// PyTorch: output, running statistics, and the gradients of the input and every parameter,
/// on every backend (scripts/golden_resnet_block.py wrote the fixture once).
@Suite struct ResNetGoldenTests {
    struct Golden: Decodable {
        var input: [Float]
        var input_shape: [Int]
        var state: [String: [Float]]
        var shapes: [String: [Int]]
        var output: [Float]
        var output_shape: [Int]
        var r: [Float]
        var running: [String: [Float]]
        var input_grad: [Float]
        var grads: [String: [Float]]
    }

    static let golden: Golden = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appending(path: "Fixtures/golden_resnet_block.json")
        return try! JSONDecoder().decode(Golden.self, from: Data(contentsOf: url))
    }()

    /// Scalpel's path → PyTorch's state_dict key.
    static func torchName(_ name: String) -> String {
        name.replacingOccurrences(of: "downsample.layers.", with: "downsample.")
            .replacingOccurrences(of: "runningMean", with: "running_mean").replacingOccurrences(of: "runningVar", with: "running_var")
    }

    func close(_ got: [Float], _ want: [Float], _ what: String) {
        #expect(got.count == want.count, "\(what)")
        let scale = max(want.map(abs).max() ?? 0, 1)
        let worst = zip(got, want).map { abs($0 - $1) }.max() ?? 0
        #expect(worst <= 1e-4 * scale, "\(what): max error \(worst) (scale \(scale))")
    }

    @Test(arguments: TensorBackends.names)
    func basicBlockMatchesPyTorch(_ backendName: String) throws {
        let backend = try TensorBackends.backend(backendName)
        let golden = Self.golden
        var generator = SeededRandom(seed: 0)
        let block = try BasicBlock(4, 8, stride: 2, generator: &generator, on: backend)
        for (name, tensor) in block.namedTensors() {
            let values = try #require(golden.state[Self.torchName(name)], "\(name) → \(Self.torchName(name))")
            #expect(golden.shapes[Self.torchName(name)] == tensor.shape, "\(name)")
            try values.withUnsafeBufferPointer { try backend.write($0, to: tensor.storage, at: 0) }
        }
        let x = try Tensor(golden.input, shape: golden.input_shape, on: backend, requiresGrad: true)
        let out = try block(x)
        close(try out.array(), golden.output, "\(backendName) output")
        try (out * (try Tensor(golden.r, shape: golden.output_shape, on: backend))).sum().backward()
        close(try x.grad!.array(), golden.input_grad, "\(backendName) input gradient")
        for (name, p) in block.namedParameters() {
            close(try p.grad!.array(), golden.grads[Self.torchName(name)]!, "\(backendName) gradient of \(name)")
        }
        for (name, t) in block.namedTensors() where name.contains("running") {
            close(try t.array(), golden.running[Self.torchName(name)]!, "\(backendName) \(name)")
        }
    }
}
