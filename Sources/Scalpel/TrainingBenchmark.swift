import Foundation
import ScalpelCore
import ScalpelNN
import ScalpelTensor

/// Milliseconds per training step of a model on each backend: forward, loss, backward and the
/// optimizer update, with data resident on the backend and a sync at the end of each step.
public enum TrainingBenchmark {
    /// The MLP step of the benchmark: batch 256, 30 → 256 → 256 → 2, ReLU, cross-entropy, Adam.
    public static func mlpStep(on backend: any Backend, batch: Int = 256, sizes: [Int] = [30, 256, 256, 2]) throws -> () throws -> Void {
        var generator = SeededRandom(seed: 1)
        var layers: [any Layer] = []
        for i in 0 ..< sizes.count - 1 {
            layers.append(try Linear(sizes[i], sizes[i + 1], generator: &generator, on: backend))
            if i < sizes.count - 2 { layers.append(ReLU()) }
        }
        let model = Sequential(layers)
        let optimizer = try Adam(model.namedParameters())
        let x = try Tensor.normal([batch, sizes[0]], generator: &generator, on: backend)
        let y = try Tensor(labels: (0 ..< batch).map { Int32($0 % sizes.last!) }, on: backend)
        return {
            try optimizer.zeroGrad()
            let loss = try model(x).crossEntropy(labels: y)
            try loss.backward()
            try optimizer.step()
            try backend.synchronize()
        }
    }

    /// The small CNN step of the benchmark: batch 64×1×28×28, conv 3×3 1→32, ReLU,
    /// max-pool 2, conv 3×3 32→64, ReLU, max-pool 2, linear 3136→128, ReLU, linear 128→2,
    /// cross-entropy, Adam.
    public static func cnnStep(on backend: any Backend, batch: Int = 64) throws -> () throws -> Void {
        var generator = SeededRandom(seed: 1)
        let model = try VisionModels.smallCNN(inChannels: 1, height: 28, width: 28, classes: 2, generator: &generator, on: backend)
        let optimizer = try Adam(model.namedParameters())
        let x = try Tensor.normal([batch, 1, 28, 28], generator: &generator, on: backend)
        let y = try Tensor(labels: (0 ..< batch).map { Int32($0 % 2) }, on: backend)
        return {
            try optimizer.zeroGrad()
            let loss = try model(x).crossEntropy(labels: y)
            try loss.backward()
            try optimizer.step()
            try backend.synchronize()
        }
    }
}
