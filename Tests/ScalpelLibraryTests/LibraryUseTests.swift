// A program that depends on the `Scalpel` product alone: one import gives it tensors,
// autograd, layers, optimizers and backends. If a re-export goes missing, this target stops
// compiling.
import Foundation
import Scalpel
import Testing

@Suite struct LibraryUseTests {
    /// A model of the user's own: a Module subclass with a Sequential body.
    final class Classifier: Module, Layer {
        let body: Sequential

        init(generator: inout SeededRandom, on backend: any Backend) throws {
            body = Sequential([try Linear(2, 16, generator: &generator, on: backend), ReLU(),
                               try Linear(16, 2, generator: &generator, on: backend)])
        }

        func callAsFunction(_ x: Tensor) throws -> Tensor { try body(x) }
    }

    /// The README's library example, as written there (with the data path made absolute):
    /// a model of the program's own, the WDBC file, the Trainer with early stopping.
    @Test func theReadmeExampleTrainsOnAFile() throws {
        final class Classifier: Module, Layer {
            let body: Sequential
            init(features: Int, classes: Int, generator: inout SeededRandom, on backend: any Backend) throws {
                body = Sequential([try Linear(features, 32, generator: &generator, on: backend), ReLU(),
                                   try Linear(32, classes, generator: &generator, on: backend)])
            }
            func callAsFunction(_ x: Tensor) throws -> Tensor { try body(x) }
        }
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appending(path: "../../Data/wdbc.csv").path
        let data = try PreparedData.load(path, label: "diagnosis", positiveClass: "M")
        let backend = try Runtime.open(.cpu, announce: false).backend
        var generator = SeededRandom(seed: 1)
        let model = try Classifier(features: data.sampleShape[0], classes: data.classCount, generator: &generator, on: backend)
        let trainer = try Trainer(model: model, data: data, optimizer: try Adam(model.namedParameters()),
                                  options: TrainerOptions(epochs: 60, earlyStopping: EarlyStopping(patience: 10)), on: backend)
        var epochs = 0
        trainer.onEpochEnd = { _ in epochs += 1 }
        let result = try trainer.fit()
        #expect(epochs == result.history.count && data.classNames == ["B", "M"])
        #expect(try #require(trainer.evaluate(data.test).metrics.auroc) > 0.98)
    }

    /// A hand-written training loop (forward, loss, backward, step) on the CPU backend learns two separable classes: the loss falls and the training accuracy
    /// reaches 95 %.
    @Test func aModelDefinedInSwiftTrainsWithOneImport() throws {
        let runtime = try Runtime.open(.cpu, announce: false)
        let backend: any Backend = runtime.device ?? runtime.cpu
        var generator = SeededRandom(seed: 3)
        let model = try Classifier(generator: &generator, on: backend)
        let optimizer = try Adam(model.namedParameters(), learningRate: 0.05)
        // Class 1 where x₀ + x₁ > 0.
        let points = generator.uniformArray(2 * 128, -1, 1)
        let labels = (0 ..< 128).map { points[2 * $0] + points[2 * $0 + 1] > 0 ? Int32(1) : 0 }
        let x = try Tensor(points, shape: [128, 2], on: backend)
        let y = try Tensor(labels: labels, on: backend)
        var losses: [Float] = []
        for _ in 0 ..< 60 {
            try optimizer.zeroGrad()
            let loss = try model(x).crossEntropy(labels: y)
            try loss.backward()
            try optimizer.step()
            losses.append(try loss.item())
        }
        let predicted = try model(x).argmax(axis: 1).array()
        let accuracy = Double(zip(predicted, labels).filter { Int32($0) == $1 }.count) / Double(labels.count)
        #expect(losses.last! < losses.first! / 4, "loss \(losses.first!) → \(losses.last!)")
        #expect(accuracy >= 0.95, "training accuracy \(accuracy)")
    }
}
