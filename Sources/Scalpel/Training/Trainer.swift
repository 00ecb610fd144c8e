import Foundation
import ScalpelData
import ScalpelMetrics
import ScalpelReport
import ScalpelCore
import ScalpelNN
import ScalpelTensor

/// How a `Trainer` trains: epochs, batches, the learning-rate schedule and the rules that pick
/// the kept epoch and stop early.
public struct TrainerOptions: Sendable {
    /// Passes over the training rows (at most; early stopping may end sooner).
    public var epochs: Int
    /// Rows per step.
    public var batchSize: Int
    /// The learning rate over the epochs, from the optimizer's initial rate.
    public var schedule: LearningRateSchedule
    /// Clip the global gradient norm to this value before each step (nil: no clipping).
    public var clipNorm: Float?
    /// Draw each batch with every class equally likely (sampling with replacement).
    public var balancedSampling: Bool
    /// Images: augment training batches on the backend (random flip, rotation ≤ 10°, shift ≤ 2 px; seeded).
    public var augment: Bool
    /// A weight per class in the training loss (nil: none).
    public var classWeights: [Float]?
    /// The rule that picks the epoch whose weights the model keeps (nil: the highest validation
    /// AUROC when the data has a validation split, else the lowest training loss).
    public var selection: EpochSelection?
    /// Stop when the validation metric has not improved for a number of epochs (nil: never).
    public var earlyStopping: EarlyStopping?
    /// Keep an exponential moving average of the weights with this decay per step; the average
    /// is what is validated, selected and kept (nil: none).
    public var weightAverage: Float?
    /// Seeds the batch order and the augmentation (the model's initial weights are the model's).
    public var seed: UInt64
    /// Draw a progress line per epoch on standard error.
    public var showsProgress: Bool

    /// Options with PyTorch-like defaults: 10 epochs of 32 rows at a constant rate.
    public init(epochs: Int = 10, batchSize: Int = 32, schedule: LearningRateSchedule = .constant, clipNorm: Float? = nil,
                balancedSampling: Bool = false, augment: Bool = false, classWeights: [Float]? = nil, selection: EpochSelection? = nil,
                earlyStopping: EarlyStopping? = nil, weightAverage: Float? = nil, seed: UInt64 = 0, showsProgress: Bool = false) {
        self.epochs = epochs
        self.batchSize = batchSize
        self.schedule = schedule
        self.clipNorm = clipNorm
        self.balancedSampling = balancedSampling
        self.augment = augment
        self.classWeights = classWeights
        self.selection = selection
        self.earlyStopping = earlyStopping
        self.weightAverage = weightAverage
        self.seed = seed
        self.showsProgress = showsProgress
    }
}

/// Stops training when `metric` has not improved by more than `minimumImprovement` for
/// `patience` epochs in a row (Keras's `EarlyStopping`; the kept weights are still the
/// selected epoch's).
public struct EarlyStopping: Sendable, Equatable {
    /// What is watched: `.validationAUROC`, `.validationLoss` or `.trainingLoss`; nil: the
    /// trainer's selection rule's metric (with the rule `.last`, the automatic one: validation
    /// AUROC when there is a validation split, else the training loss).
    public var metric: EpochSelection?
    /// Epochs without improvement before stopping (at least 1).
    public var patience: Int
    /// The smallest change that counts as an improvement (AUROC points, or loss).
    public var minimumImprovement: Double

    /// Stop after `patience` epochs in which `metric` did not improve by more than `minimumImprovement`.
    public init(metric: EpochSelection? = nil, patience: Int, minimumImprovement: Double = 0) {
        self.metric = metric
        self.patience = patience
        self.minimumImprovement = minimumImprovement
    }

    /// The epoch (1-based) at which training stops given the `history` so far, or nil to go on
    /// (an unset `metric` watches the training loss here; `Trainer.earlyStopping` has it resolved).
    public func stopEpoch(_ history: [EpochRecord]) -> Int? {
        var best = -Double.infinity, since = 0
        let metric = self.metric ?? .trainingLoss
        for record in history {
            let score = metric.score(record)
            if score > best + minimumImprovement || best == -.infinity {
                best = Swift.max(best, score)
                since = 0
            } else {
                since += 1
                if since >= patience { return record.epoch }
            }
        }
        return nil
    }
}

/// What `Trainer.fit()` did: the epochs it ran, the one whose weights the model now holds,
/// and whether early stopping ended it.
public struct FitResult: Sendable {
    /// One record per epoch trained (on a resumed run, from the first epoch of the run).
    public var history: [EpochRecord]
    /// The selected epoch (1-based), whose weights the model holds after `fit()`.
    public var selectedEpoch: Int
    /// The rule that selected it.
    public var selection: EpochSelection
    /// The epoch after which early stopping ended the run (nil: it ran every epoch).
    public var stoppedEarly: Int?
}

/// Where training stands after a step, for `Trainer.onStep`.
public struct StepEvent: Sendable {
    /// The epoch (1-based) and the step within it (1-based), of `steps`.
    public var epoch: Int, step: Int, steps: Int
    /// The optimizer's total step count.
    public var globalStep: Int
}

/// Where training stands after an epoch, for `Trainer.onEpochEnd`.
public struct EpochEvent {
    /// The epoch's record (losses, validation metrics, rate, time).
    public var record: EpochRecord
    /// The validation split's metrics (nil without a validation split).
    public var validation: SplitMetrics?
    /// Whether this epoch is the best so far by the selection rule (its weights are kept).
    public var improved: Bool
}

/// What one evaluation found: the metrics, the class predicted for each row, and (binary)
/// each row's log-odds of class 1.
public struct Evaluation {
    /// Loss and diagnosis metrics (binary or multi-class).
    public var metrics: SplitMetrics
    /// The class predicted for each row (the most probable one).
    public var predicted: [Int32]
    /// Binary: each row's log-odds of class 1; multi-class: nil.
    public var scores: [Float]?
    /// The rows' labels.
    public var truth: [Int32]
    /// The rows' log-probabilities (rows × classes).
    public var logProbabilities: [Float]
}

/// Trains any classifier — a `Module` that maps a batch to logits — on prepared data:
/// cross-entropy, the optimizer you give, seeded batches gathered on the backend, validation
/// after every epoch, the best epoch's weights kept, callbacks on every step and epoch, and
/// early stopping.
///
/// ```swift
/// let trainer = try Trainer(model: model, data: data, optimizer: try Adam(model.namedParameters()),
///                           options: TrainerOptions(epochs: 20, earlyStopping: EarlyStopping(patience: 5)), on: backend)
/// trainer.onEpochEnd = { print("epoch \($0.record.epoch): AUROC \($0.validation?.auroc ?? .nan)") }
/// let result = try trainer.fit()
/// let test = try trainer.evaluate(data.test)
/// ```
public final class Trainer {
    /// The model being trained (on `backend`).
    public let model: any TrainableModel
    /// The optimizer; `options.schedule` sets its learning rate every epoch.
    public let optimizer: Optimizer
    /// The data: samples, labels and the train / validation / test rows.
    public internal(set) var data: PreparedData
    /// The backend the model and the data live on.
    public let backend: any Backend
    /// The options given.
    public let options: TrainerOptions
    /// The rule that picks the kept epoch.
    public let selection: EpochSelection
    /// The early stopping in force, its metric resolved (nil: none).
    public let earlyStopping: EarlyStopping?
    /// Called as each epoch starts, with its number (from 1), on every process of a distributed
    /// run — unfreeze layers at a given epoch here (nil: nothing).
    public var onEpochStart: ((Int) throws -> Void)?
    /// Called after every optimizer step (nil: nothing).
    public var onStep: ((StepEvent) throws -> Void)?
    /// Called after every epoch's validation (nil: nothing); `stop()` from here ends training.
    public var onEpochEnd: ((EpochEvent) throws -> Void)?
    /// Called when an epoch becomes the best so far, while the model holds its (averaged)
    /// weights: save a checkpoint here (nil: nothing).
    public var onImprovement: ((EpochRecord) throws -> Void)?
    /// The temperature `evaluate` divides the logits by (temperature scaling; nil: none). Set
    /// after training, from `TemperatureScaling.fit` on the validation split or a checkpoint.
    public var temperature: Float?
    /// Every epoch trained so far.
    public internal(set) var history: [EpochRecord] = []
    /// The MPI job of a data-parallel run (nil: a single process).
    public let distributed: DistributedContext?

    /// Dropout layers whose generator states a checkpoint keeps (set by the run that built the model).
    var dropouts: [Dropout] = []
    /// The moving average of the weights (`options.weightAverage`).
    let average: WeightAverage?
    var shuffle: SeededRandom
    /// The augmentation transforms are drawn on the backend: sample n of the run's augmentation
    /// stream under `augmentSeed`; `augmentCounter` is the next sample's n, checkpointed.
    let augmentSeed: UInt64
    var augmentCounter: UInt64 = 0
    let augmentation = ImageAugmentation()
    /// The best epoch so far, its score, its tie-breaking loss and its weights.
    var best: (epoch: Int, score: Double, loss: Double, state: [String: [Float]])?
    /// The samples and labels on the backend; batches are gathered there.
    private(set) var dataset: DeviceDataset
    /// Valid time steps per sample, for signals of unequal length (nil: all full length).
    private(set) var lengths: Tensor?
    let classWeights: Tensor?
    private var stopRequested = false

    /// Every label (int32) on the backend.
    var labels: Tensor { dataset.labels }

    /// A trainer of `model` (already on `backend`) on `data` with `optimizer`. Checks the
    /// options against the data (a validation rule needs a validation split, augmentation
    /// needs images) and uploads the samples to the backend once.
    public init(model: any TrainableModel, data: PreparedData, optimizer: Optimizer, options: TrainerOptions = TrainerOptions(),
                on backend: any Backend, distributed: DistributedContext? = nil) throws {
        guard options.epochs >= 1, options.batchSize >= 1 else {
            throw ScalpelError.invalidArgument("epochs and batch size must be positive, got \(options.epochs) and \(options.batchSize)")
        }
        guard data.labels.count * data.sampleShape.reduce(1, *) == data.values.count else {
            throw ScalpelError.shapeMismatch(op: "Trainer", detail: "\(data.values.count) values are not \(data.labels.count) samples of \(data.sampleShape)")
        }
        let selection = options.selection ?? (data.validation.isEmpty ? EpochSelection.trainingLoss : .validationAUROC)
        if selection.needsValidation && data.validation.isEmpty {
            throw ScalpelError.invalidArgument("--select \(selection.rawValue) needs a validation split, and this run has none "
                + "(give --validation-fraction, or select by train-loss or last)")
        }
        let automatic: EpochSelection = data.validation.isEmpty ? .trainingLoss : .validationAUROC
        if var stopping = options.earlyStopping {
            guard stopping.patience >= 1 else { throw ScalpelError.invalidArgument("early stopping needs a patience of at least 1 epoch") }
            let metric = stopping.metric ?? (selection == .last ? automatic : selection)
            if metric.needsValidation && data.validation.isEmpty {
                throw ScalpelError.invalidArgument("early stopping on \(metric.rawValue) needs a validation split, and this run has none")
            }
            guard metric != .last else { throw ScalpelError.invalidArgument("early stopping needs a metric: val-auroc, val-loss or train-loss") }
            stopping.metric = metric
            earlyStopping = stopping
        } else {
            earlyStopping = nil
        }
        if let clip = options.clipNorm, !(clip > 0) { throw ScalpelError.invalidArgument("--clip-norm must be positive, got \(clip)") }
        if options.augment && data.kind != .images {
            throw ScalpelError.invalidArgument("--augment applies to images; this data holds \(data.kind.rawValue)")
        }
        if let weights = options.classWeights, weights.count != data.classCount {
            throw ScalpelError.invalidArgument("\(weights.count) class weights for \(data.classCount) classes")
        }
        self.model = model
        self.data = data
        self.optimizer = optimizer
        self.options = options
        self.selection = selection
        self.backend = backend
        self.distributed = distributed
        if let decay = options.weightAverage {
            guard decay > 0, decay < 1 else { throw ScalpelError.invalidArgument("--ema \(decay): give a decay per step between 0 and 1, such as 0.99") }
            average = try WeightAverage(model, decay: decay)
        } else {
            average = nil
        }
        shuffle = SeededRandom(seed: options.seed &+ 4)
        augmentSeed = options.seed &+ 6
        classWeights = try options.classWeights.map { try Tensor($0, shape: [$0.count], on: backend) }
        dataset = try DeviceDataset(values: data.values, labels: data.labels, sampleShape: data.sampleShape, on: backend)
        if let note = dataset.note {
            self.data.notes["data on the device"] = note
            Diagnostics.shared.note("training data: \(note)")
        }
        lengths = try data.lengths.map { try Tensor($0.map(Float.init), shape: [$0.count], on: backend) }
    }

    /// Puts new samples in place of the data, for the trained model to score (a large file's
    /// next block): the samples on the backend, their labels and lengths; the model, its
    /// weights and the temperature are kept.
    func replaceData(_ newData: PreparedData) throws {
        dataset = try DeviceDataset(values: newData.values, labels: newData.labels, sampleShape: newData.sampleShape, on: backend)
        lengths = try newData.lengths.map { try Tensor($0.map(Float.init), shape: [$0.count], on: backend) }
        data = newData
    }

    /// Ends training after the current epoch (from `onEpochEnd` or `onStep`).
    public func stop() { stopRequested = true }

    /// The selected epoch so far (1-based; nil before the first epoch).
    public var selectedEpoch: Int? { best?.epoch }

    /// Trains up to `options.epochs` epochs (from `startEpoch` when resuming), validating after
    /// each, then puts the selected epoch's weights into the model. In a distributed run every
    /// rank trains on its slice of each global batch and only rank 0 validates and selects.
    @discardableResult
    public func fit(from startEpoch: Int = 0) throws -> FitResult {
        guard !data.train.isEmpty else { throw ScalpelError.invalidArgument("nothing to train on: the data has no training rows") }
        let root = distributed?.isRoot ?? true
        stopRequested = false
        // Every rank starts from rank 0's weights (the same seed gives the same ones; a resume reads the same file).
        if let distributed { try distributed.broadcast(model.namedTensors().map(\.tensor)) }
        // While training, batch normalisation sees the global batch (its sums go across the ranks).
        if let distributed, distributed.size > 1 { model.synchronizeBatchNorm(over: distributed) }
        defer { model.synchronizeBatchNorm(over: nil) }
        let parameters = model.parameters()
        let buffers = model.namedTensors().map(\.tensor).filter { !$0.requiresGrad }
        let batchSize = options.batchSize
        let steps = (data.train.count + batchSize - 1) / batchSize
        var stoppedEarly: Int?
        if let stopping = earlyStopping, let epoch = stopping.stopEpoch(history) { stoppedEarly = epoch }
        var epoch = startEpoch
        while epoch < options.epochs && stoppedEarly == nil && !stopRequested {
            try onEpochStart?(epoch + 1)
            let started = Date()
            model.train()
            optimizer.learningRate = options.schedule.rate(base: optimizer.initialLearningRate, epoch: epoch, losses: history.map(\.trainLoss))
            let order = epochOrder()
            // The order goes to the backend once; each batch is a slice of it.
            try dataset.beginEpoch(order)
            // The loss is summed on the backend and read back every `readEvery` steps (and at
            // the epoch's end), not every step: a read waits for the device's queue to drain.
            let lossTotal = try Tensor.zeros([1], on: backend)
            let readEvery = 16
            var lossSum = 0.0, lastChecked = 0, ownRows = 0
            let bar = ProgressBar(total: steps, label: "epoch \(epoch + 1)/\(options.epochs)", silent: !root || !options.showsProgress)
            for step in 0 ..< steps {
                let globalRange = (step * batchSize) ..< min(order.count, (step + 1) * batchSize)
                let global = dataset.rows(globalRange)
                // Every sample of the global batch takes its transform's place in the stream, on
                // every rank, so that the counter stays where a single process's would.
                let augmentOffset = augmentCounter
                if options.augment { augmentCounter &+= UInt64(global.count) }
                // A last batch with fewer rows than ranks would leave a rank without rows (and its
                // collective calls unmatched): every rank skips it.
                if !(distributed.map { global.count < $0.size } ?? false) {
                    // This rank's slice of the global batch (all of it in a single process).
                    let slice = distributed?.slice(of: global.count) ?? global.indices
                    let rows = Array(global[slice])
                    ownRows += rows.count
                    if Profiler.isEnabled { Profiler.shared.stepBegan() }
                    try optimizer.zeroGrad()
                    if !rows.isEmpty {
                        let index = try dataset.index(globalRange.lowerBound + slice.lowerBound ..< globalRange.lowerBound + slice.upperBound)
                        let logits = options.augment
                            ? try model(try dataset.augmented(index: index, rows: rows, augmentation: augmentation, seed: augmentSeed,
                                                              offset: augmentOffset &+ UInt64(slice.lowerBound)))
                            : try forward(index, rows: rows)
                        let loss = try logits.crossEntropy(labels: try labels.indexSelect(axis: 0, index), classWeights: classWeights)
                        try loss.backward()
                        try backend.axpby(alpha: Float(rows.count), x: loss.storage, beta: 1, y: lossTotal.storage, count: 1)
                    }
                    // The mean loss over the global batch: each rank's mean weighted by its share.
                    try distributed?.reduceGradients(parameters, weight: Float(rows.count) / Float(global.count))
                    if let clip = options.clipNorm { try clipGradientNorm(parameters, maxNorm: clip) }
                    try optimizer.step()
                    try average?.update(step: optimizer.stepCount)
                    if Profiler.isEnabled { Profiler.shared.stepEnded() }
                    try onStep?(StepEvent(epoch: epoch + 1, step: step + 1, steps: steps, globalStep: optimizer.stepCount))
                }
                guard (step + 1) % readEvery == 0 || step + 1 == steps else { continue }
                lossSum = Double(try lossTotal.item())
                guard lossSum.isFinite else {
                    throw ScalpelError.invalidArgument("the training loss became \(lossSum) at epoch \(epoch + 1), within steps \(lastChecked + 1)–\(step + 1); lower the learning rate")
                }
                lastChecked = step + 1
                let seen = min(order.count, (step + 1) * batchSize)
                let rate = Double(seen) / Date().timeIntervalSince(started)
                bar.update(step + 1, status: String(format: "loss %.4f | %.0f rows/s", lossSum / Double(max(ownRows, 1)), rate))
            }
            epoch += 1
            if let distributed {
                // The epoch's loss over all ranks; BatchNorm's running statistics averaged over them.
                var total = [lossSum]
                try distributed.allreduceSum(&total)
                lossSum = total[0]
                try distributed.average(buffers)
                // Only rank 0 validates and selects; the others go on to the next epoch and wait for it there.
                guard root else { continue }
            }
            let validation = data.validation.isEmpty ? nil : try averaged { try evaluate(data.validation).metrics }
            let record = EpochRecord(epoch: epoch, trainLoss: lossSum / Double(order.count), validationLoss: validation?.loss,
                                     validationAUROC: validation?.auroc, validationAccuracy: validation?.accuracy,
                                     learningRate: optimizer.learningRate, seconds: Date().timeIntervalSince(started))
            history.append(record)
            if let validation {
                bar.update(steps, status: String(format: "loss %.4f | val loss %.4f, AUROC %@, accuracy %.3f | %.2fs", record.trainLoss,
                                                 validation.loss, validation.auroc.map { String(format: "%.4f", $0) } ?? "n/a",
                                                 validation.accuracy, record.seconds), final: true)
            } else {
                bar.update(steps, status: String(format: "loss %.4f | %.2fs", record.trainLoss, record.seconds), final: true)
            }
            let score = selection.score(record)
            let tieLoss = validation?.loss ?? record.trainLoss
            let improved = best == nil || score > best!.score || (score == best!.score && tieLoss < best!.loss)
            if improved {
                try averaged {
                    best = (epoch, score, tieLoss, try snapshot())
                    try onImprovement?(record)
                }
            }
            try onEpochEnd?(EpochEvent(record: record, validation: validation, improved: improved))
            if let stopping = earlyStopping { stoppedEarly = stopping.stopEpoch(history) }
        }
        // The selected epoch's weights (the live ones stay in a distributed run's other ranks).
        if root, let best { try restore(best.state) }
        return FitResult(history: history, selectedEpoch: best?.epoch ?? history.last?.epoch ?? epoch, selection: selection,
                         stoppedEarly: stoppedEarly ?? (stopRequested && epoch < options.epochs ? epoch : nil))
    }

    /// The model's logits for the samples `rows` (`index`: the same row numbers on the backend).
    func forward(_ index: Tensor, rows: [Int]) throws -> Tensor {
        let x = try dataset.samples(index: index, rows: rows)
        if let lengths, let transformer = model as? TransformerClassifier {
            return try transformer(x, lengths: lengths.indexSelect(axis: 0, index))
        }
        return try model(x)
    }

    /// The rows of one epoch's batches: a seeded shuffle of the training rows, or with balanced
    /// sampling, as many rows drawn with replacement, each class equally likely.
    func epochOrder() -> [Int] {
        guard options.balancedSampling else {
            var order = data.train
            order.shuffle(using: &shuffle)
            return order
        }
        let byClass = Dictionary(grouping: data.train) { data.labels[$0] }.sorted { $0.key < $1.key }.map(\.value)
        return (0 ..< data.train.count).map { _ in
            let rows = byClass[Int(shuffle.next() % UInt64(byClass.count))]
            return rows[Int(shuffle.next() % UInt64(rows.count))]
        }
    }

    /// Loss and diagnosis metrics of the model on `rows` of the data (evaluation mode, no
    /// gradients) — `data.test` after `fit()` for the held-out result. With `intervals`, adds
    /// bootstrap 95% intervals (1000 resamples, seeded by `options.seed`); with `threshold`
    /// (binary), the metrics at that decision threshold (on the log-odds).
    public func evaluate(_ rows: [Int], intervals: Bool = false, threshold: (String, DecisionThreshold)? = nil) throws -> Evaluation {
        guard !rows.isEmpty else { throw ScalpelError.invalidArgument("nothing to evaluate: no rows") }
        model.eval()
        defer { model.train() }
        return try Autograd.noGrad {
            // In chunks, so that evaluating a large split does not hold all activations at once.
            var lossSum = 0.0
            var logProbabilities: [Float] = []
            for start in stride(from: 0, to: rows.count, by: 256) {
                let chunk = Array(rows[start ..< min(rows.count, start + 256)])
                let index = try Tensor(chunk.map(Float.init), shape: [chunk.count], on: backend)
                var logits = try forward(index, rows: chunk)
                if let temperature { logits = try logits / temperature }
                let y = try labels.indexSelect(axis: 0, index)
                lossSum += Double(try logits.crossEntropy(labels: y).item()) * Double(chunk.count)
                // Log-probabilities, not probabilities: a confident model's fp32 softmax rounds many
                // scores to exactly 1, and the ties would distort the ranking AUROC is made of.
                logProbabilities += try logits.logSoftmax().array()
            }
            let loss = lossSum / Double(max(rows.count, 1))
            let truth = rows.map { data.labels[$0] }
            let classes = data.classCount
            let predicted = (0 ..< rows.count).map { r in
                Int32((0 ..< classes).max { logProbabilities[r * classes + $0] < logProbabilities[r * classes + $1] }!)
            }
            do {
                if classes == 2 {
                    // The log-odds of class 1: monotonic in its probability, and p ≥ 0.5 ⟺ log-odds ≥ 0.
                    let logOdds: [Float] = (0 ..< rows.count).map { (r: Int) -> Float in logProbabilities[r * 2 + 1] - logProbabilities[r * 2] }
                    let probabilities = (0 ..< rows.count).map { (r: Int) -> Float in min(Foundation.exp(logProbabilities[r * 2 + 1]), 1) }
                    var metrics = SplitMetrics(binary: try BinaryMetrics.compute(labels: truth, scores: logOdds, threshold: 0, probabilities: probabilities),
                                               multiclass: nil, loss: loss)
                    if intervals {
                        metrics.intervals = try MetricBootstrap.binary(labels: truth, scores: logOdds, threshold: 0, probabilities: probabilities,
                                                                       seed: options.seed)
                    }
                    if let (rule, choice) = threshold {
                        metrics.validationThreshold = ChosenThreshold(rule: rule, choice: choice, metrics: try BinaryMetrics.compute(
                            labels: truth, scores: logOdds, threshold: choice.threshold, probabilities: probabilities))
                    }
                    return Evaluation(metrics: metrics, predicted: predicted, scores: logOdds, truth: truth, logProbabilities: logProbabilities)
                }
                // Per-class rankings and the argmax are the same for log-probabilities.
                let probabilities = logProbabilities.map { min(Foundation.exp($0), 1) }  // exp(log p) can round past 1
                var metrics = SplitMetrics(binary: nil, multiclass: try MulticlassMetrics.compute(labels: truth, probabilities: logProbabilities,
                                                                                                  classCount: classes, calibrationProbabilities: probabilities),
                                           loss: loss)
                if intervals {
                    metrics.intervals = try MetricBootstrap.multiclass(labels: truth, probabilities: logProbabilities, classCount: classes,
                                                                       calibrationProbabilities: probabilities, seed: options.seed)
                }
                return Evaluation(metrics: metrics, predicted: predicted, scores: nil, truth: truth, logProbabilities: logProbabilities)
            } catch {
                throw ScalpelError.invalidArgument("metrics: \(error)")
            }
        }
    }

    /// Runs `body` with the weight average in the model when the trainer keeps one.
    func averaged<T>(_ body: () throws -> T) throws -> T {
        guard let average else { return try body() }
        return try average.withAverage(body)
    }

    func snapshot() throws -> [String: [Float]] {
        Dictionary(uniqueKeysWithValues: try model.namedTensors().map { ($0.name, try $0.tensor.array()) })
    }

    func restore(_ state: [String: [Float]]) throws {
        for (name, tensor) in model.namedTensors() {
            guard let values = state[name] else { continue }
            try values.withUnsafeBufferPointer { try tensor.backend.write($0, to: tensor.storage, at: 0) }
        }
    }
}

extension EpochSelection {
    /// The score this rule ranks an epoch by (higher is better).
    public func score(_ record: EpochRecord) -> Double {
        switch self {
        case .validationAUROC: record.validationAUROC ?? -(record.validationLoss ?? .infinity)
        case .validationLoss: -(record.validationLoss ?? .infinity)
        case .trainingLoss: -record.trainLoss
        case .last: Double(record.epoch)
        }
    }
}
