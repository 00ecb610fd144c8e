import Foundation
import Scalpel
import ScalpelCore
import ScalpelNN
import ScalpelTensor

/// `scalpel bench step`: the steady-state cost of one training step of a built-in model on one
/// backend — milliseconds per step, and what the profiler counts per step (kernel launches,
/// allocations, transfers, queue drains).
///
/// The step is the trainer's: zero the gradients, forward, cross-entropy, backward, add the
/// loss to a running total on the backend, clip the gradient norm (when the model's recipe
/// does), the Adam update and the weight average (when the recipe keeps one). As in training,
/// the host reads the loss total every 16 steps and at the end of each sample, not every step.
/// The data path is the trainer's too (`DeviceDataset`): a synthetic training set of the
/// model's sample shape resident on the backend, each epoch's order uploaded once without
/// waiting, each batch gathered on the backend (and augmented there with `augment`).
public enum StepBenchmark {
    /// What one benchmark trains: a model, its input and its recipe's extras.
    public struct Workload: Sendable, Codable {
        /// The built-in model's name (`ModelRecipe.names`).
        public var model: String
        /// The shape of one synthetic sample: [features], [C, H, W] or [C, L].
        public var sampleShape: [Int]
        /// The number of classes; the synthetic labels cycle through them.
        public var classes: Int
        /// Samples per step.
        public var batchSize: Int
        /// Adam's learning rate (default 1e-3).
        public var learningRate: Float
        /// Gradient clipping at this norm (nil: none).
        public var clipNorm: Float?
        /// Weight average decay per step (nil: none).
        public var ema: Float?
        /// Units per hidden layer of the MLP and the recurrent models (default 64, as
        /// `train --hidden`).
        public var hidden: Int
        /// Dropout probability of the MLP and the transformer (default 0.1, as `train --dropout`).
        public var dropout: Float
        /// Image models: augment every batch as `train --augment` does.
        public var augment: Bool

        /// A workload of `model` on samples of `sampleShape` with `classes` classes; the other
        /// settings default to `TrainingConfig`'s.
        public init(model: String, sampleShape: [Int], classes: Int, batchSize: Int, learningRate: Float = 1e-3, clipNorm: Float? = nil,
                    ema: Float? = nil, hidden: Int = 64, dropout: Float = 0.1, augment: Bool = false) {  // TrainingConfig's defaults
            self.model = model
            self.sampleShape = sampleShape
            self.classes = classes
            self.batchSize = batchSize
            self.learningRate = learningRate
            self.clipNorm = clipNorm
            self.ema = ema
            self.hidden = hidden
            self.dropout = dropout
            self.augment = augment
        }

        /// The bundled data set `model` is benchmarked on: its sample shape and classes
        /// (`ModelRecipe.benchmarkSample`).
        public static func sample(for model: String) throws -> (shape: [Int], classes: Int) {
            try ModelRecipe.named(model).benchmarkSample
        }
    }

    /// The models `bench step` knows: every built-in model.
    public static var models: [String] { ModelRecipe.names }

    /// One backend's measurement (the keys of `bench step --json`; the table is left out).
    public struct Result: Encodable, Sendable {
        /// The benchmarked model's name.
        public var model: String
        /// The backend's identifier: `cpu` or `cl:P:D`.
        public var backend: String
        /// The backend's display name.
        public var device: String
        /// Samples per step.
        public var batchSize: Int
        /// Median milliseconds per steady-state step, and the fastest and slowest sample.
        public var msPerStep: Double
        /// Milliseconds per step in the fastest sample.
        public var msMin: Double
        /// Milliseconds per step in the slowest sample.
        public var msMax: Double
        /// The number of timed samples.
        public var samples: Int
        /// Steps counted by the profiler (after one uncounted first step).
        public var profiledSteps: Int
        /// The profiler's steady-state counts per step: launches, allocations, transfers, queue
        /// drains, host random numbers and program builds.
        public var perStep: ProfileSnapshot.PerStep
        /// Each kernel's launches and time per steady-state step, most time first.
        public var kernels: [ProfileSnapshot.KernelPerStep]
        /// The profiler's table for this backend.
        public var table: String

        enum CodingKeys: String, CodingKey {
            case model, backend, device, batchSize, msPerStep, msMin, msMax, samples, profiledSteps, perStep, kernels
        }
    }

    /// Times `workload`'s step on `backend` (warm-up, then `samples` samples of at least 0.2 s,
    /// with the profiler off), then counts `profiledSteps` steps after a first one with the
    /// profiler on. The profiler is left as it was found.
    public static func run(_ workload: Workload, on backend: any Backend, samples: Int = 5, profiledSteps: Int = 8) throws -> Result {
        let wasEnabled = Profiler.isEnabled
        defer { Profiler.setEnabled(wasEnabled) }
        Profiler.setEnabled(false)
        let (model, _) = try ModelRecipe.named(workload.model).build(
            ModelShape(sampleShape: workload.sampleShape, classes: workload.classes, hidden: workload.hidden, dropout: workload.dropout), seed: 1, on: backend)
        model.train()
        let optimizer = try Adam(model.namedParameters(), learningRate: workload.learningRate)
        let average = try workload.ema.map { try WeightAverage(model, decay: $0) }
        let parameters = model.parameters()
        var random = SeededRandom(seed: 5)
        let batch = workload.batchSize
        if workload.augment && workload.sampleShape.count != 3 {
            throw ScalpelError.invalidArgument("augmentation applies to image models (cnn, resnet18), not \(workload.model)")
        }
        // A synthetic training set of eight batches, as the trainer holds its data.
        let sampleCount = 8 * batch
        let dataset = try DeviceDataset(values: random.uniformArray(sampleCount * workload.sampleShape.reduce(1, *), -1, 1),
                                        labels: (0 ..< sampleCount).map { Int32($0 % workload.classes) }, sampleShape: workload.sampleShape,
                                        on: backend)
        let augmentation = ImageAugmentation()
        var shuffle = SeededRandom(seed: 6)
        var order = Array(0 ..< sampleCount), position = sampleCount, augmentCounter: UInt64 = 0
        let lossTotal = try Tensor.zeros([1], on: backend)
        func step() throws {
            // A new epoch's order between steps, as in training.
            if position + batch > sampleCount {
                order.shuffle(using: &shuffle)
                try dataset.beginEpoch(order)
                position = 0
            }
            let range = position ..< position + batch
            position += batch
            if Profiler.isEnabled { Profiler.shared.stepBegan() }
            try optimizer.zeroGrad()
            // In a scope of its own, so that the step's graph is released inside the step.
            do {
                let index = try dataset.index(range), rows = dataset.rows(range)
                let x = workload.augment
                    ? try dataset.augmented(index: index, rows: rows, augmentation: augmentation, seed: 7, offset: augmentCounter)
                    : try dataset.samples(index: index, rows: rows)
                augmentCounter &+= UInt64(batch)
                let y = try dataset.labels.indexSelect(axis: 0, index)
                let loss = try model(x).crossEntropy(labels: y)
                try loss.backward()
                try backend.axpby(alpha: Float(batch), x: loss.storage, beta: 1, y: lossTotal.storage, count: 1)
            }
            if let clip = workload.clipNorm { _ = try clipGradientNorm(parameters, maxNorm: clip) }
            try optimizer.step()
            try average?.update(step: optimizer.stepCount)
            if Profiler.isEnabled { Profiler.shared.stepEnded() }
        }
        func steps(_ count: Int) throws {
            for index in 0 ..< count {
                try step()
                if (index + 1) % 16 == 0 { _ = try lossTotal.item() }
            }
            _ = try lossTotal.item()
        }
        // Warm-up: programs built, schedules measured, caches filled.
        try steps(3)
        let t0 = monotonicSeconds()
        try steps(2)
        let single = max((monotonicSeconds() - t0) / 2, 1e-6)
        let inner = max(2, Int((0.2 / single).rounded(.up)))
        var perStep: [Double] = []
        for _ in 0 ..< max(1, samples) {
            let start = monotonicSeconds()
            try steps(inner)
            perStep.append((monotonicSeconds() - start) / Double(inner))
        }
        let timing = TimingSummary(samples: perStep)
        // Counting: one first step, then the steady state.
        Profiler.setEnabled(true)
        Profiler.shared.reset()
        try steps(1 + max(1, profiledSteps))
        let snapshot = Profiler.shared.snapshot()
        Profiler.shared.reset()
        return Result(model: workload.model, backend: backend.id.description, device: backend.displayName, batchSize: batch,
                      msPerStep: timing.median * 1e3, msMin: timing.min * 1e3, msMax: timing.max * 1e3, samples: timing.samples,
                      profiledSteps: snapshot.steadySteps, perStep: snapshot.perStep!, kernels: snapshot.kernelsPerStep,
                      table: snapshot.table())
    }
}
