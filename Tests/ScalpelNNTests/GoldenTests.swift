import Foundation
import ScalpelCore
import ScalpelNN
import ScalpelTensor
import ScalpelTestSupport
import Testing

/// The same MLP, batch and recipes as PyTorch (scripts/golden_mlp.py wrote the fixture once):
/// the loss and every gradient after one step, and the losses and weights over 10 optimizer
/// steps, on every backend.
@Suite struct GoldenTests {
    struct Golden: Decodable {
        struct Recipe: Decodable {
            var initial: [String: [Float]]
            var shapes: [String: [Int]]
            var loss_weight: [Float]?
            var label_smoothing: Float
            var loss: Float
            var grads: [String: [Float]]
            var losses: [Float]
            var final: [String: [Float]]
        }
        var x: [Float]
        var y: [Int32]
        var shape: [Int]
        var recipes: [String: Recipe]
    }

    static let golden: Golden = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appending(path: "Fixtures/golden_mlp.json")
        return try! JSONDecoder().decode(Golden.self, from: Data(contentsOf: url))
    }()

    /// PyTorch's `Sequential` indices 0, 2, 4 are the Linear layers; Scalpel names them layers.0/2/4.
    static func torchName(_ name: String) -> String { name.replacingOccurrences(of: "layers.", with: "") }

    func close(_ got: [Float], _ want: [Float], _ what: String, tolerance: Float = 2e-5) {
        #expect(got.count == want.count, "\(what)")
        let scale = max(want.map(abs).max() ?? 0, 1e-3)
        let worst = zip(got, want).map { abs($0 - $1) }.max() ?? 0
        #expect(worst <= tolerance * max(scale, 1), "\(what): max error \(worst), scale \(scale)")
    }

    @Test(arguments: TensorBackends.names, ["adam", "adamw_weighted_smoothed"])
    func mlpMatchesPyTorch(_ backendName: String, _ recipeName: String) throws {
        let backend = try TensorBackends.backend(backendName)
        let golden = Self.golden, recipe = golden.recipes[recipeName]!
        var generator = SeededRandom(seed: 0)
        let model = Sequential([try Linear(30, 16, generator: &generator, on: backend), ReLU(),
                                try Linear(16, 16, generator: &generator, on: backend), ReLU(),
                                try Linear(16, 2, generator: &generator, on: backend)])
        for (name, tensor) in model.namedTensors() {
            let values = try #require(recipe.initial[Self.torchName(name)], "\(name)")
            #expect(recipe.shapes[Self.torchName(name)] == tensor.shape)
            try values.withUnsafeBufferPointer { try backend.write($0, to: tensor.storage, at: 0) }
        }
        let x = try Tensor(golden.x, shape: golden.shape, on: backend), y = try Tensor(labels: golden.y, on: backend)
        let weight = try recipe.loss_weight.map { try Tensor($0, shape: [$0.count], on: backend) }
        func loss() throws -> Tensor {
            try model(x).crossEntropy(labels: y, classWeights: weight, labelSmoothing: recipe.label_smoothing)
        }
        let first = try loss()
        try first.backward()
        close([try first.item()], [recipe.loss], "\(backendName) \(recipeName) loss")
        for (name, p) in model.namedParameters() {
            close(try p.grad!.array(), recipe.grads[Self.torchName(name)]!, "\(backendName) \(recipeName) gradient of \(name)")
        }
        let optimizer: Adam = recipeName == "adam"
            ? try Adam(model.namedParameters(), learningRate: 1e-2)
            : try Adam.adamW(model.namedParameters(), learningRate: 1e-2, weightDecay: 0.05)
        var losses: [Float] = []
        for _ in 0 ..< 10 {
            try optimizer.zeroGrad()
            let l = try loss()
            try l.backward()
            try optimizer.step()
            losses.append(try l.item())
        }
        close(losses, recipe.losses, "\(backendName) \(recipeName) losses over 10 steps", tolerance: 1e-4)
        for (name, p) in model.namedParameters() {
            close(try p.array(), recipe.final[Self.torchName(name)]!, "\(backendName) \(recipeName) \(name) after 10 steps", tolerance: 1e-4)
        }
    }
}
