import Foundation
import ScalpelData
import ScalpelMetrics
import ScalpelReport
import ScalpelCore
import ScalpelIO
import ScalpelNN
import ScalpelPrivacy
import ScalpelTensor

/// A learning-rate schedule over a run's epochs, by the name `--schedule` takes.
public enum ScheduleKind: String, Codable, Sendable, CaseIterable {
    /// The base rate throughout.
    case constant
    /// Cosine from the base rate down to 1/100 of it at the last epoch.
    case cosine
    /// A linear warm-up over the first 5 % of the epochs, then cosine.
    case warmupCosine = "warmup-cosine"
    /// Halved whenever the training loss has not improved for `patience` epochs, down to 1/10.
    case plateau

    /// The schedule for a run of `epochs` epochs from the rate `base`.
    public func schedule(epochs: Int, base: Float, patience: Int = 50) throws -> LearningRateSchedule {
        switch self {
        case .constant: return .constant
        case .cosine: return .cosine(total: max(epochs - 1, 1), minimum: base / 100)
        case .warmupCosine:
            let warmup = max(1, epochs / 20)
            return .warmup(epochs: warmup, then: .cosine(total: max(epochs - warmup - 1, 1), minimum: base / 100))
        case .plateau:
            guard patience >= 1 else { throw ScalpelError.invalidArgument("--patience must be at least 1, got \(patience)") }
            return .plateau(patience: patience, factor: 0.5, minimum: base / 10)
        }
    }
}

/// How a run repairs its probabilities after training (`--calibrate`).
public enum CalibrationMethod: String, Codable, Sendable, CaseIterable {
    /// Temperature scaling: one T dividing every logit, fitted on the validation split
    /// (`TemperatureScaling`), stored in the checkpoint and applied by eval, predict and export.
    case temperature
}

/// How `--select` picks the reported epoch: `auto`, or one rule.
public enum SelectionOption: String, Codable, Sendable, CaseIterable {
    /// The validation AUROC when there is a validation split, else the lowest training loss.
    case auto
    /// `EpochSelection.validationAUROC`.
    case validationAUROC = "val-auroc"
    /// `EpochSelection.validationLoss`.
    case validationLoss = "val-loss"
    /// `EpochSelection.trainingLoss`.
    case trainingLoss = "train-loss"
    /// `EpochSelection.last`.
    case last

    /// The rule (nil for `auto`, which the trainer resolves from the data).
    public var rule: EpochSelection? { self == .auto ? nil : EpochSelection(rawValue: rawValue) }
}

/// Everything a training run is given; saved as `config.json` in the run folder.
public struct TrainingConfig: Codable, Sendable {
    /// The data file (`--data`): a CSV table with a header, a MedMNIST 2-D `.npz`, a UCR `.tsv`
    /// (its TRAIN file) or an `.npy` of samples.
    public var data: String
    /// CSV: the label column's name (`--label`; `scalpel train` defaults to diagnosis).
    public var label: String
    /// The positive class (`--positive`): a binary task of this value against the rest, a CSV label
    /// value or a class index of images (nil: the classes as the data has them).
    public var positiveClass: String?
    /// CSV: columns to leave out, such as identifiers (`--drop`; default none).
    public var dropColumns: [String] = []
    /// CSV: numeric-coded columns to one-hot encode (word columns always are).
    public var categoricalColumns: [String] = []
    /// The built-in model (`--model`): mlp, cnn, resnet18, fcn, transformer, lstm or gru (default
    /// mlp; `scalpel train` defaults to the first model of the data's kind).
    public var model: String = "mlp"
    /// The number of epochs to train (`--epochs`; default 60). `scalpel train` without `--epochs`
    /// sets `budgetRule` instead, and the run replaces this with the epochs the rule gives.
    public var epochs: Int = 60
    /// Train for this many optimizer steps instead (`--steps`), rounded up to whole epochs: it
    /// sets `epochs` from the size of the training set when the run starts (nil: not given).
    public var steps: Int?
    /// The rule `epochs` is computed by from the size of the training set when neither `--epochs`
    /// nor `--steps` is given (`scalpel train` sets the model's; nil: `epochs` as it is).
    public var budgetRule: TrainingBudget?
    /// The budget the run trained under: its source, epochs, steps and the training set they were
    /// counted from (set when the run starts; config.json records it).
    public var budget: ResolvedBudget?
    /// Samples per training step (`--batch-size`; default 32, which `scalpel train` replaces with
    /// the model's default).
    public var batchSize: Int = 32
    /// Adam's base learning rate (`--lr`; default 1e-3, which `scalpel train` replaces with the
    /// model's default).
    public var learningRate: Float = 1e-3
    /// The seed of the split, the initial weights, shuffling, dropout and augmentation (`--seed`;
    /// default 0).
    public var seed: UInt64 = 0
    /// Where the run asked to compute (`--device`: auto, cpu, cl or cl:P:D; a rank of a
    /// data-parallel run records the GPU it took), as a record: the `Runtime` given to
    /// `TrainingRun` decides the backend.
    public var device: String = "auto"
    /// The run folder the outputs are written to (`--out`).
    public var out: String
    /// MLP: units per hidden layer, and dropout.
    public var hidden: Int = 64
    /// Dropout probability of the MLP and the transformer (`--dropout`; default 0.1).
    public var dropout: Float = 0.1
    /// The train, validation and test fractions of the stratified, seeded split of data without an
    /// official one (CSV tables, `.npy` arrays, a UCR file without `test`); no `scalpel train`
    /// option sets it (default 70/15/15).
    public var split: [Double] = [0.7, 0.15, 0.15]
    /// A separate test file (UCR archives ship TRAIN and TEST files); the validation split is
    /// then `validationFraction` of the training file (0: none).
    public var test: String?
    /// With `test`: the fraction of each training class held out, seeded, for validation
    /// (`--validation-fraction`, in [0, 1); default 0, no validation split).
    public var validationFraction: Double = 0
    /// How the reported epoch is chosen: auto (validation AUROC when there is a validation
    /// split, else the lowest training loss), val-auroc, val-loss, train-loss or last.
    public var selection: SelectionOption = .auto
    /// Clip the global gradient norm to this value before each step (nil: no clipping).
    public var clipNorm: Float?
    /// Names for the classes in index order (default: from the data).
    public var classNames: [String]?
    /// Draw each training batch with every class equally likely (sampling with replacement).
    public var balancedSampling = false
    /// The learning rate over the epochs: constant, cosine (to 1/100 of the base rate at the
    /// last epoch), warmup-cosine (linear warm-up over the first 5% of epochs, then cosine) or
    /// plateau (halved when the training loss has not improved for `patience` epochs, down to
    /// 1/10 of the base rate).
    public var schedule: ScheduleKind = .constant
    /// The plateau schedule's patience, in epochs (nil: 50, as Wang et al. 2017).
    public var patience: Int?
    /// Keep an exponential moving average of the weights and BatchNorm statistics with this
    /// decay per step (`WeightAverage`); the average is validated, selected, tested and saved.
    public var ema: Float?
    /// AdamW's decoupled weight decay (nil or 0: plain Adam). Applied to every parameter, as
    /// `torch.optim.AdamW(model.parameters(), weight_decay:)` does. Optional so that the
    /// configurations older checkpoints carry still decode.
    public var weightDecay: Float?
    /// Binary: choose the decision threshold on validation as the highest one whose validation
    /// sensitivity reaches this value (nil: Youden's J).
    public var targetSensitivity: Double?
    /// Images: augment training batches (random flip, rotation ≤ 10°, shift ≤ 2 px; seeded).
    public var augment = false
    /// Weights of the classes in the training loss: nil (none), "balanced" (n / (classes × n_c)
    /// over the training rows, scikit-learn's rule) or one number per class, comma-separated.
    public var classWeights: String?
    /// With an `.npy` of samples as `data`: the `.npy` of their class labels.
    public var labels: String?
    /// CSV: columns that are features although they look like identifiers or dates (`--features`).
    public var featureColumns: [String]?
    /// CSV: the column that groups rows (a patient id): whole groups go to one split (`--group-column`).
    public var groupColumn: String?
    /// Stop when the epoch rule's metric (`selection`; by default the validation AUROC, without a
    /// validation split the training loss) has not improved for this many epochs (`--early-stopping`;
    /// nil: train every epoch).
    public var earlyStopping: Int?
    /// What the model is for and on whom (`--intended-use`), for the report's model card (nil: a
    /// research model, not validated for clinical use).
    public var intendedUse: String?
    /// Repair the probabilities after training (`--calibrate`; nil: none): temperature scaling
    /// fitted on the validation split, which the run must have.
    public var calibrate: CalibrationMethod?
    /// CSV: a column whose values name subgroups (sex, age band, site) to report the test
    /// metrics of separately (`--subgroup-column`; nil: none).
    public var subgroupColumn: String?
    /// The Scalpel that wrote the run: version and commit (`ScalpelBuild.summary`; nil in
    /// configurations of older versions).
    public var scalpel: String?
    /// The device the run trained on, its identifier and name (`device` is what was asked for).
    public var deviceUsed: String?
    /// Image folders and manifests: the size images are resized to, `[height, width]`
    /// (`--image-size`; nil: the most common size of the images).
    public var imageSize: [Int]?
    /// Image folders and manifests: 1 (grey) or 3 (RGB) channels (`--channels`; nil: grey when
    /// every image is grey, else RGB).
    public var channels: Int?
    /// Image folders and manifests: the class order (`--classes`; nil: the class names sorted).
    public var classOrder: [String]?
    /// Image folders and manifests: leave out corrupt, truncated, empty and non-image files and
    /// list them in metrics.json and the report (`--skip-bad-images`; nil or false: such a file
    /// stops the run, naming it).
    public var skipBadImages: Bool?
    /// DICOM: the display window applied to every file (`--window`; nil: each file's own window,
    /// else its range).
    public var window: DicomWindow?
    /// Encryption: the key file or passphrase file (paths only; `SCALPEL_KEY` and
    /// `SCALPEL_PASSPHRASE` are read from the environment and never stored).
    public var keyFile: String?
    /// The passphrase file (`--passphrase-file`), whose passphrase is stretched with scrypt into
    /// the key when neither `keyFile` nor `SCALPEL_KEY` gives one (nil: `SCALPEL_PASSPHRASE`, if set).
    public var passphraseFile: String?
    /// A personal key (`--key NAME.key`) that opens files encrypted to named recipients; outputs
    /// then go to the same recipients (path only; a protected key's passphrase is never stored).
    public var identityFile: String?
    /// Write checkpoints, report and explanations encrypted (`.enc`); nil: when the data is.
    public var encryptOutputs: Bool?

    /// A configuration for `data` with its label column `label`, written to the run folder `out`;
    /// every other setting takes its default.
    public init(data: String, label: String, out: String) {
        self.data = data
        self.label = label
        self.out = out
    }
}

/// The metrics of one split, as written to metrics.json.
public struct SplitMetrics: Encodable {
    /// The metrics of a two-class task (nil with more classes), encoded as the split's own keys.
    public var binary: BinaryMetrics?
    /// The metrics of a task of more than two classes (nil with two), encoded as the split's own
    /// keys.
    public var multiclass: MulticlassMetrics?
    /// The mean cross-entropy over the split's rows, without class weights (key `loss`).
    public var loss: Double
    /// Bootstrap 95% intervals of the metrics (test and final validation only).
    public var intervals: MetricBootstrap? = nil
    /// Binary: the decision threshold chosen on the validation split, and this split's metrics at it.
    public var validationThreshold: ChosenThreshold? = nil

    /// Encodes the split as one flat object: the keys of the binary (or multi-class) metrics,
    /// `loss`, `intervals` and `at_validation_threshold` when set, and for a multi-class task the
    /// macro AUROC, F1 and recall again as `auroc`, `f1_macro` and `recall_macro`.
    public func encode(to encoder: any Encoder) throws {
        // Flatten: the keys of the binary (or multiclass) metrics plus the loss; a multiclass
        // report also carries the headline keys under the names the binary one uses.
        if let binary { try binary.encode(to: encoder) } else if let multiclass { try multiclass.encode(to: encoder) }
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(loss, forKey: Key(stringValue: "loss")!)
        if let intervals { try container.encode(intervals, forKey: Key(stringValue: "intervals")!) }
        if let validationThreshold { try container.encode(validationThreshold, forKey: Key(stringValue: "at_validation_threshold")!) }
        if let multiclass {
            try container.encode(multiclass.macroAUROC, forKey: Key(stringValue: "auroc")!)
            try container.encode(multiclass.macroF1, forKey: Key(stringValue: "f1_macro")!)
            try container.encode(multiclass.macroRecall, forKey: Key(stringValue: "recall_macro")!)
        }
    }

    struct Key: CodingKey {
        var stringValue: String
        init?(stringValue: String) { self.stringValue = stringValue }
        var intValue: Int? { nil }
        init?(intValue: Int) { nil }
    }

    /// AUROC (binary) or one-vs-rest macro AUROC.
    public var auroc: Double? { binary?.auroc ?? multiclass?.macroAUROC }
    /// The share of rows predicted correctly (binary: at log-odds 0, probability 0.5), or NaN when
    /// neither metrics is set.
    public var accuracy: Double { binary?.accuracy ?? multiclass?.accuracy ?? .nan }
}

/// A decision threshold picked on the validation split (Youden's J: the largest sensitivity +
/// specificity − 1) and the binary metrics of a split at that threshold.
public struct ChosenThreshold: Encodable {
    /// How the threshold was chosen, in words (for example "youden (on the validation log-odds)").
    public var rule: String
    /// The threshold on the log-odds of class 1, with the validation sensitivity and specificity
    /// it gave.
    public var choice: DecisionThreshold
    /// This split's binary metrics with rows of log-odds at least `choice.threshold` predicted
    /// positive.
    public var metrics: BinaryMetrics
}

/// One epoch of history.
public struct EpochRecord: Codable, Sendable {
    /// The epoch's number, counted from 1.
    public var epoch: Int
    /// The mean training cross-entropy per sample over the epoch (with the class weights, when the
    /// run weighs classes).
    public var trainLoss: Double
    /// The mean validation cross-entropy after the epoch (nil without a validation split).
    public var validationLoss: Double?
    /// The validation AUROC after the epoch, one-vs-rest macro for more than two classes (nil
    /// without a validation split, or where it is undefined).
    public var validationAUROC: Double?
    /// The validation accuracy after the epoch (nil without a validation split).
    public var validationAccuracy: Double?
    /// The learning rate the epoch trained at, as the schedule set it.
    public var learningRate: Float
    /// Wall-clock seconds the epoch took, its validation included.
    public var seconds: Double
}

/// A model the trainer can run: a module (parameters, state, modes) that maps a tensor to logits.
public typealias TrainableModel = Module & Layer

/// The rule that picks the reported epoch (it moves results as much as the model does, so it
/// is explicit and recorded in metrics.json).
public enum EpochSelection: String, Codable, Sendable, CaseIterable {
    /// `val-auroc`: the highest validation AUROC, ties going to the lower validation loss.
    case validationAUROC = "val-auroc"
    /// `val-loss`: the lowest validation loss.
    case validationLoss = "val-loss"
    /// `train-loss`: the lowest training loss (what `auto` picks without a validation split).
    case trainingLoss = "train-loss"
    /// `last`: the last epoch trained.
    case last

    /// The rule in words, as metrics.json's `selectionRule` records it.
    public var description: String {
        switch self {
        case .validationAUROC: "the epoch with the highest validation AUROC (ties: lower validation loss)"
        case .validationLoss: "the epoch with the lowest validation loss"
        case .trainingLoss: "the epoch with the lowest training loss (no validation split; as in Wang et al. 2017)"
        case .last: "the last epoch"
        }
    }

    var needsValidation: Bool { self == .validationAUROC || self == .validationLoss }
}

/// A training run as `scalpel train` makes it: a configuration (data file, built-in model,
/// recipe) becomes a `Trainer` for the model on the backend the runtime picks, and the run
/// writes its folder — `config.json`, a checkpoint per epoch, `metrics.json`, the report and
/// the explanations — and can be resumed from its last checkpoint.
public final class TrainingRun {
    /// The configuration the run was made from, written to `config.json`.
    public let config: TrainingConfig
    /// The runtime the run's backend was chosen from (the CPU-Swift backend and any OpenCL device).
    public let runtime: Runtime
    /// The library trainer that runs the epochs, validates and selects.
    public let trainer: Trainer
    var backend: any Backend { trainer.backend }
    var data: PreparedData {
        get { trainer.data }
        set { trainer.data = newValue }
    }
    var model: any TrainableModel { trainer.model }
    var optimizer: Optimizer { trainer.optimizer }
    var selection: EpochSelection { trainer.selection }
    var dropouts: [Dropout] { trainer.dropouts }
    var average: WeightAverage? { trainer.average }
    /// Every epoch trained so far.
    public var history: [EpochRecord] { trainer.history }
    var best: (epoch: Int, score: Double, loss: Double, state: [String: [Float]])? { trainer.best }
    /// A saved model's decision threshold, chosen on its training run's validation split.
    var savedThreshold: (String, DecisionThreshold)?
    /// A saved model's validation scores and labels (binary runs with a validation split).
    var validationScores: StoredValidationScores?
    /// The run folder, held while this run writes into it (claimed by `run`, `evaluateSaved`
    /// or `explainSaved` when not set before).
    public var runFolder: RunFolder?
    /// The checkpoint `resume(from:)` continued from.
    var resumedFrom: URL?
    /// The checkpoint a saved model was read from.
    var checkpointPath: String?
    /// The keys of encrypted data and outputs (nil: none given).
    let keys: KeyRing?
    /// Whether checkpoints, the report and explanations are written encrypted.
    public let encryptsOutputs: Bool
    /// The MPI job of a data-parallel run (nil: a single process).
    public var distributed: DistributedContext? { trainer.distributed }

    /// The training configuration a checkpoint of a run carries (decrypted in memory when the
    /// checkpoint is encrypted), checked against the limits of `SavedModelCheck`, and the size of
    /// its largest tensor: build the resumed model under it (`building(under:source:_:)`).
    public static func checkpointConfig(_ url: URL, keys: KeyRing?) throws -> (config: TrainingConfig, largestTensor: Int) {
        let file = try readCheckpoint(url, keys: keys)
        guard let text = file.metadata["config"], let config = try? JSONDecoder().decode(TrainingConfig.self, from: Data(text.utf8)) else {
            throw ScalpelError.io(path: url.path, reason: "holds no readable training configuration; resume from last.safetensors of a run")
        }
        return (config, try SavedModelCheck.validate(config: config, file: file, source: url.path))
    }

    /// Runs `build` (which makes a model) with no parameter larger than `limit` values, the
    /// largest tensor of the checkpoint at `source`; a larger one is an error naming the file.
    public static func building<T>(under limit: Int, source: String, _ build: () throws -> T) throws -> T {
        try SavedModelCheck.building(under: limit, source: source, build)
    }

    /// Loads and prepares the data, builds the model on the backend the runtime picks.
    public convenience init(config: TrainingConfig, runtime: Runtime, distributed: DistributedContext? = nil) throws {
        guard config.epochs >= 1, config.batchSize >= 1, config.learningRate > 0, config.hidden >= 1 else {
            throw ScalpelError.invalidArgument("epochs, batch size, learning rate and hidden size must be positive")
        }
        let keys = try config.keyRing()
        let data = try PreparedData.load(config, keys: keys)
        var config = config
        try config.resolveBudget(trainingRows: data.train.count, hasValidation: !data.validation.isEmpty)
        try self.init(config: config, data: data, runtime: runtime, keys: keys, distributed: distributed)
    }

    /// A trainer for data already prepared (a run's, or new data for a saved model).
    init(config: TrainingConfig, data: PreparedData, runtime: Runtime, keys: KeyRing?, distributed: DistributedContext? = nil) throws {
        self.config = config
        self.runtime = runtime
        self.keys = keys
        encryptsOutputs = config.encryptOutputs ?? data.encryptedSource
        if encryptsOutputs && keys == nil {
            throw ScalpelError.invalidArgument("--encrypt-outputs needs a key: give --key NAME.key, --key-file FILE or --passphrase-file FILE, or set SCALPEL_KEY or SCALPEL_PASSPHRASE")
        }
        let recipe = try ModelRecipe.named(config.model)
        try recipe.check(kind: data.kind, sampleShape: data.sampleShape, source: config.data)
        let selection = config.selection.rule
        let schedule = try config.schedule.schedule(epochs: config.epochs, base: config.learningRate, patience: config.patience ?? 50)
        if let target = config.targetSensitivity, !(0 < target && target <= 1) || data.classCount != 2 {
            throw ScalpelError.invalidArgument("--target-sensitivity \(target) needs a value in (0, 1] and a binary task")
        }
        if config.calibrate != nil && data.validation.isEmpty {
            throw ScalpelError.invalidArgument("--calibrate \(config.calibrate!.rawValue) is fitted on the validation split, and this run has none: "
                + "give --validation-fraction (with --test), or leave --calibrate out")
        }
        if config.augment && data.kind != .images {
            throw ScalpelError.invalidArgument("--augment applies to images; \(config.data) holds \(data.kind.rawValue) data")
        }
        let weightDecay = config.weightDecay ?? 0
        guard weightDecay >= 0, weightDecay.isFinite, weightDecay * config.learningRate < 1 else {
            throw ScalpelError.invalidArgument("--weight-decay \(weightDecay): give a decay ≥ 0 whose product with the learning rate is below 1, such as 0.01")
        }
        let shape = ModelShape(sampleShape: data.sampleShape, classes: data.classCount, hidden: config.hidden, dropout: config.dropout)
        let seed = config.seed
        func build(on backend: any Backend) throws -> (any TrainableModel, [Dropout]) {
            let built = try recipe.build(shape, seed: seed, on: backend)
            return (built.model, built.dropouts)
        }
        let backend = try TrainingRun.chooseBackend(runtime: runtime, model: config.model, batch: config.batchSize, sampleShape: data.sampleShape,
                                                    classes: data.classCount, build: build)
        let (model, dropouts) = try build(on: backend)
        let optimizer = try Adam(model.namedParameters(), learningRate: config.learningRate, weightDecay: weightDecay,
                                 decoupledWeightDecay: weightDecay > 0)
        let trainLabels = data.train.map { data.labels[$0] }
        let weights = try TrainingRun.classWeights(config.classWeights, labels: trainLabels, classes: data.classCount)
        var data = data
        if let weights {
            data.notes["class weights"] = weights.map { String(format: "%.4g", $0) }.joined(separator: ", ")
                + (config.classWeights == "balanced" ? " (balanced over the training rows)" : "") + ", in the training loss only"
        }
        if weightDecay > 0 {
            data.notes["weight decay"] = "AdamW, decoupled weight decay \(weightDecay) on every parameter (each step multiplies the weights by 1 − rate × decay)"
        }
        if let decay = config.ema {
            data.notes["weight average"] = "an exponential moving average of the weights and BatchNorm statistics, decay \(decay) per step "
                + "(min(decay, (1 + t) / (10 + t)) at step t); the average is what was validated, selected, tested and saved"
        }
        let options = TrainerOptions(epochs: config.epochs, batchSize: config.batchSize, schedule: schedule, clipNorm: config.clipNorm,
                                     balancedSampling: config.balancedSampling, augment: config.augment, classWeights: weights,
                                     selection: selection,
                                     earlyStopping: config.earlyStopping.map { EarlyStopping(patience: $0) }
                                         ?? config.budget?.stallPatience.map { EarlyStopping(metric: .trainingLoss, patience: $0) },
                                     weightAverage: config.ema, seed: config.seed, showsProgress: true)
        trainer = try Trainer(model: model, data: data, optimizer: optimizer, options: options, on: backend, distributed: distributed)
        trainer.dropouts = dropouts
        // A subgroup column that cannot be read stops the run before it trains.
        if let column = config.subgroupColumn {
            if column == config.label && data.pipeline?.table != nil {
                throw ScalpelError.invalidArgument("--subgroup-column \(ClinicDataError.quoted(column)) is the label column; name a column of groups (sex, age band, site)")
            }
            _ = try SubgroupMetrics.groups(column: column, values: try subgroupValues(column, rows: data.test))
        }
    }

    /// The class weights `spec` asks for: "balanced" gives class c the weight n / (k · n_c) over
    /// the training `labels` (a class without training rows gets 0), a list gives one positive
    /// number per class.
    static func classWeights(_ spec: String?, labels: [Int32], classes: Int) throws -> [Float]? {
        guard let spec, spec != "none" else { return nil }
        if spec == "balanced" {
            var counts = [Int](repeating: 0, count: classes)
            for label in labels { counts[Int(label)] += 1 }
            return counts.map { $0 == 0 ? 0 : Float(labels.count) / Float(classes * $0) }
        }
        let values = spec.split(separator: ",").map { Float($0.trimmingCharacters(in: .whitespaces)) }
        guard values.count == classes, values.allSatisfy({ $0 != nil && $0!.isFinite && $0! >= 0 }), values.contains(where: { $0! > 0 }) else {
            throw ScalpelError.invalidArgument("--class-weights \(spec): give balanced, none, or \(classes) non-negative numbers (one per class, "
                + "not all 0), comma-separated")
        }
        return values.map { $0! }
    }

    /// The backend the training step runs on: with `auto` and a device, the faster of the device
    /// and the CPU-Swift backend for this model, sample shape and batch size, timed once and
    /// remembered.
    static func chooseBackend(runtime: Runtime, model name: String, batch: Int, sampleShape: [Int], classes: Int,
                              build: (any Backend) throws -> (any TrainableModel, [Dropout])) throws -> any Backend {
        guard let device = runtime.device else { return runtime.cpu }
        guard runtime.spec == .auto else { return device }
        func candidate(_ backend: any Backend) throws -> Scheduler.Candidate {
            let (model, _) = try build(backend)
            let optimizer = try Adam(model.namedParameters())
            var random = SeededRandom(seed: 9)
            let x = try Tensor(random.uniformArray(batch * sampleShape.reduce(1, *)), shape: [batch] + sampleShape, on: backend)
            let y = try Tensor(labels: (0 ..< batch).map { Int32($0 % classes) }, on: backend)
            return Scheduler.Candidate(id: backend.id.description) {
                try optimizer.zeroGrad()
                let loss = try model(x).crossEntropy(labels: y)
                try loss.backward()
                try optimizer.step()
                _ = try loss.item()
            }
        }
        let shape = sampleShape.map(String.init).joined(separator: "×")
        let key = "train \(name) \(shape) batch \(batch)"
        let choice = runtime.scheduler.choose(key: key, measuredShape: "batch \(batch) of \(shape)",
                                              // The CPU first: PoCL's threads stay busy for a while after its
                                              // kernels and would slow a CPU measurement that follows.
                                              candidates: [try candidate(runtime.cpu), try candidate(device)])
        return choice == device.id.description ? device : runtime.cpu
    }

    /// Trains for the configured epochs (from `startEpoch` when resuming) and returns the final
    /// report. Checkpoints `last.safetensors` after every epoch and `best.safetensors` whenever
    /// the validation AUROC improves.
    ///
    /// In a distributed run every rank trains on its slice of each global batch, and only rank
    /// 0 evaluates, writes and returns a report (the others return nil).
    public func run(startEpoch: Int = 0, log: (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }) throws -> TrainingReport? {
        let out = URL(fileURLWithPath: config.out)
        let root = distributed?.isRoot ?? true
        if root {
            if runFolder == nil {
                runFolder = try RunFolder(config.out, existing: resumedFrom.map { .resume(checkpointFolder: $0.deletingLastPathComponent()) } ?? .refuse)
            }
            try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
            if Profiler.isEnabled { Profiler.shared.outputFolder = out }
            var written = config
            (written.scalpel, written.deviceUsed) = (ScalpelBuild.summary, "\(backend.id) (\(backend.displayName))")
            // Only the settings that apply to this data and model (a table's columns are no setting of an image run).
            try AtomicFile.write(try written.record(for: data), to: out.appending(path: "config.json"))
            if let left = data.notes["columns left out"], left != "none" { log("scalpel: columns left out: \(left)") }
            log("scalpel: training \(config.model) (\(model.parameterCount) parameters) on \(backend.id) (\(backend.displayName)); "
                + "\(data.train.count) train / \(data.validation.count) validation / \(data.test.count) test samples"
                + (distributed.map { "; data-parallel over \($0.size) MPI ranks, each taking 1/\($0.size) of every batch of \(config.batchSize) "
                    + "(if a rank fails the job stops: continue with --resume \(config.out)/last.safetensors)" } ?? ""))
        }
        // A checkpoint of the best epoch while the model holds its (averaged) weights, and of
        // the last after every epoch: a run stopped at any point continues with --resume.
        trainer.onImprovement = { [unowned self] record in
            try saveCheckpoint("best.safetensors", metadata: try checkpointMetadata(epoch: record.epoch))
        }
        // Fault injection for the tests of a distributed run: "rank-exit:R:E" kills rank R as epoch E starts.
        if let distributed, let fault = ProcessInfo.processInfo.environment["SCALPEL_FAULT_INJECT"] {
            trainer.onEpochStart = { epoch in
                if fault == "rank-exit:\(distributed.rank):\(epoch)" { kill(getpid(), SIGKILL) }
            }
        }
        trainer.onEpochEnd = { [unowned self] event in
            try saveCheckpoint("last.safetensors", optimizer: optimizer, extra: average?.namedState() ?? [],
                               metadata: try checkpointMetadata(epoch: event.record.epoch))
        }
        let fit = try trainer.fit(from: startEpoch)
        if let stopped = fit.stoppedEarly, root {
            log("scalpel: stopped early after epoch \(stopped): no better \(trainer.earlyStopping?.metric?.rawValue ?? "score") "
                + "for \(trainer.earlyStopping?.patience ?? 0) epochs")
        }
        guard root else { return nil }
        if let distributed, !history.isEmpty {
            // The epochs this call ran (early stopping may end before config.epochs).
            let ran = max(fit.history.count - startEpoch, 0)
            let steps = ran * ((data.train.count + config.batchSize - 1) / config.batchSize)
            let seconds = history.suffix(ran).map(\.seconds).reduce(0, +)
            log(String(format: "scalpel: %d ranks: %.1f rows/s; allreduce %.2f ms per step on rank 0 (%.1f%% of the training time)", distributed.size,
                       Double(data.train.count * ran) / max(seconds, 1e-9), distributed.reduceSeconds * 1000 / Double(max(steps, 1)),
                       100 * distributed.reduceSeconds / max(seconds, 1e-9)))
        }
        // The model holds the selected epoch's weights: evaluate them on the test split.
        var validation = data.validation.isEmpty ? nil : try evaluate(data.validation, intervals: true)
        // --calibrate temperature: T fitted on validation; the threshold, the test metrics, the
        // predictions and the checkpoint are then those of the calibrated model.
        var calibration: (summary: CalibrationSummary, uncalibrated: Evaluation)?
        if config.calibrate == .temperature, let raw = validation {
            let (scaling, uncalibratedTest) = try calibrateTemperature(validation: raw)
            let calibrated = try evaluate(data.validation, intervals: true)
            validation = calibrated
            calibration = (CalibrationSummary(method: "temperature", temperature: scaling.temperature,
                                              validationECEBefore: raw.metrics.expectedCalibrationError,
                                              validationECEAfter: calibrated.metrics.expectedCalibrationError,
                                              testECEBefore: uncalibratedTest.metrics.expectedCalibrationError,
                                              testBrierBefore: uncalibratedTest.metrics.brierScore), uncalibratedTest)
            log(String(format: "scalpel: temperature scaling: T = %.4f; validation ECE %.4f → %.4f", scaling.temperature,
                       raw.metrics.expectedCalibrationError ?? .nan, calibrated.metrics.expectedCalibrationError ?? .nan))
        }
        // Binary: a decision threshold chosen on validation (Youden's J), applied to the test split.
        var threshold: (String, DecisionThreshold)?
        if let scores = validation?.scores, Set(data.validation.map { data.labels[$0] }).count == 2 {
            let rule: DecisionThreshold.Rule = config.targetSensitivity.map { .targetSensitivity($0) } ?? .youden
            let name = config.targetSensitivity.map { "the highest threshold with validation sensitivity ≥ \($0) (on the log-odds)" }
                ?? "youden (on the validation log-odds)"
            threshold = (name, try DecisionThreshold.choose(labels: data.validation.map { data.labels[$0] }, scores: scores, rule: rule))
        }
        let test = try evaluate(data.test, intervals: true, threshold: threshold)
        let subgroups = try subgroupMetrics(test, rows: data.test, threshold: threshold)
        if calibration != nil {
            calibration!.summary.testECEAfter = test.metrics.expectedCalibrationError
            calibration!.summary.testBrierAfter = test.metrics.brierScore
        }
        // One row per test sample: its id, every class's probability, the decision and the truth.
        let predictions = Predictions(test, rows: data.test, data: data, threshold: threshold.map { ($0.0, $0.1.threshold) }, labelled: true)
        _ = try writeOutput(Data(predictions.csv().utf8), "predictions.csv")
        let report = TrainingReport(test: test.metrics, validation: validation?.metrics, selectedEpoch: fit.selectedEpoch,
                                    selectionRule: selection.description,
                                    device: "\(backend.id) (\(backend.displayName))", epochs: config.epochs, history: history,
                                    classNames: data.classNames, rows: ["train": data.train.count, "validation": data.validation.count,
                                                                        "test": data.test.count], data: data.notes,
                                    calibration: calibration?.summary, subgroups: data.encryptedSource ? nil : subgroups)
        try AtomicFile.write(try JSONEncoder.pretty.encode(report), to: out.appending(path: "metrics.json"))
        if threshold != nil || calibration != nil {
            // The chosen threshold and temperature travel with the selected weights, for eval, predict and export.
            var metadata = try checkpointMetadata(epoch: fit.selectedEpoch)
            if let (rule, choice) = threshold {
                metadata["decision_threshold"] = String(decoding: try JSONEncoder().encode(choice), as: UTF8.self)
                metadata["decision_threshold_rule"] = rule
                // The validation scores, so that `scalpel predict --target-sensitivity` can choose another threshold.
                if let scores = validation?.scores {
                    let stored = StoredValidationScores(labels: data.validation.map { data.labels[$0] }, scores: scores)
                    metadata[StoredValidationScores.metadataKey] = String(decoding: try JSONEncoder().encode(stored), as: UTF8.self)
                }
            }
            if let calibration { metadata[TemperatureScaling.metadataKey] = String(calibration.summary.temperature) }
            try saveCheckpoint("best.safetensors", metadata: metadata)
        }
        let explanations = try explain(rows: data.test, predicted: test.predicted)
        var summary: [(String, String)] = [("data", config.data + (config.test.map { " (test: \($0))" } ?? "")), ("model", "\(config.model), \(model.parameterCount) parameters"),
                                           ("device", report.device),
                                           ("rows", "\(data.train.count) train / \(data.validation.count) validation / \(data.test.count) test"),
                                           ("classes", data.classNames.joined(separator: ", ")),
                                           ("positive class", data.classCount == 2
                                                ? "\(data.classNames[1]) (the condition sensitivity, precision and the curves are about)"
                                                : "none: one-vs-rest metrics per class"),
                                           ("epochs", "\(config.epochs), batch \(config.batchSize), Adam at \(config.learningRate), schedule \(config.schedule.rawValue)"
                                                + (config.clipNorm.map { ", gradient norm clipped at \($0)" } ?? "") + (config.augment ? ", augmented" : "")
                                                + (config.balancedSampling ? ", balanced batches" : "")),
                                           ("reported epoch", "\(report.selectedEpoch): \(report.selectionRule)"), ("seed", String(config.seed)),
                                           ("Scalpel", "\(ScalpelBuild.version), commit \(ScalpelBuild.commit)")]
        summary.append(("training time", String(format: "%.1f s", history.map(\.seconds).reduce(0, +))))
        let page = RunReport(title: "Scalpel run: \(config.model) on \(URL(fileURLWithPath: config.data).lastPathComponent)",
                             subtitle: "Written \(ISO8601DateFormatter().string(from: Date())) to \(config.out)", summary: summary,
                             history: history, selectedEpoch: report.selectedEpoch, evaluation: test, splitName: "test",
                             classNames: data.classNames, notes: data.notes, explanations: explanations,
                             classCounts: [("train", data.train), ("validation", data.validation), ("test", data.test)]
                                 .filter { !$0.1.isEmpty }.map { ($0.0, data.classCounts($0.1)) },
                             modelCard: ModelCard.make(config: config, data: data, test: test, explanations: explanations),
                             calibration: calibration, subgroups: subgroups)
        let written = try writeOutput(Data(try page.html().utf8), "report.html")
        log("scalpel: report in \(out.appending(path: written).path); explanations in \(out.appending(path: "explanations").path)"
            + (encryptsOutputs ? " (checkpoints, report and explanations encrypted: decrypt with `scalpel decrypt`)" : ""))
        return report
    }

    /// Loss and diagnosis metrics of the model on `rows` (see `Trainer.evaluate`).
    func evaluate(_ rows: [Int], intervals: Bool = false, threshold: (String, DecisionThreshold)? = nil) throws -> Evaluation {
        try trainer.evaluate(rows, intervals: intervals, threshold: threshold)
    }

    /// The model's logits for the samples `rows` (`index`: the same row numbers on the backend).
    func forward(_ index: Tensor, rows: [Int]) throws -> Tensor { try trainer.forward(index, rows: rows) }

    /// Attention maps over the input signal: for each class, the first correctly and the first
    /// wrongly predicted sample of `rows`, drawn with the attention the last encoder layer paid
    /// to each time step (scaled from its minimum to its maximum) as the background. Returns the
    /// SVG and the number of samples drawn.
    func attentionMaps(_ transformer: TransformerClassifier, rows: [Int], predicted: [Int32]) throws -> (String, Int) {
        var chosen: [(row: Int, predicted: Int32)] = []
        for c in 0 ..< Int32(data.classCount) {
            let candidates = zip(rows, predicted).filter { data.labels[$0.0] == c }
            if let right = candidates.first(where: { $0.1 == c }) { chosen.append((right.0, right.1)) }
            if let wrong = candidates.first(where: { $0.1 != c }) { chosen.append((wrong.0, wrong.1)) }
        }
        model.eval()
        transformer.keepAttention(true)
        defer {
            transformer.keepAttention(false)
            model.train()
        }
        let index = try Tensor(chosen.map { Float($0.row) }, shape: [chosen.count], on: backend)
        _ = try Autograd.noGrad { try forward(index, rows: chosen.map(\.row)) }
        guard let (weights, shape) = transformer.attentionOverTime() else {
            throw ScalpelError.invalidArgument("the transformer kept no attention probabilities")
        }
        let length = shape[1]
        let signals = try chosen.enumerated().map { i, sample -> WeightedSignal in
            let valid = data.lengths?[sample.row] ?? length
            let start = sample.row * data.values.count / data.labels.count
            let w = weights[(i * length) ..< (i * length + valid)].map(Double.init)
            let (low, high) = (w.min() ?? 0, w.max() ?? 1)
            let truth = data.classNames[Int(data.labels[sample.row])], guess = data.classNames[Int(sample.predicted)]
            return try WeightedSignal(title: "test #\(sample.row - (data.test.first ?? 0)): true \(truth), predicted \(guess)",
                                      values: data.values[start ..< start + valid].map(Double.init),
                                      weights: w.map { high > low ? ($0 - low) / (high - low) : 0 })
        }
        let chart = SignalWeightChart(title: "Attention over time (last encoder layer, mean over heads and queries)", signals: signals,
                                      columns: 2, weightLabel: "attention (min to max)")
        return (chart.svg(), signals.count)
    }

    /// What a resumed run needs besides the tensors.
    func checkpointMetadata(epoch: Int) throws -> [String: String] {
        [
            "epoch": String(epoch),
            "shuffle_state": String(trainer.shuffle.state),
            "augment_state": String(trainer.augmentCounter),
            "dropout_states": dropouts.map { String($0.generatorState) }.joined(separator: ","),
            "history": String(decoding: try JSONEncoder().encode(history), as: UTF8.self),
            "best_epoch": best.map { String($0.epoch) } ?? "",
            "best_score": best.map { String($0.score) } ?? "",
            "best_loss": best.map { String($0.loss) } ?? "",
            "config": String(decoding: try JSONEncoder().encode(config), as: UTF8.self),
            "scalpel": ScalpelBuild.summary,
            "class_names": data.classNames.joined(separator: ","),
            DataPipeline.metadataKey: try data.pipeline?.encoded() ?? "",
        ].merging(data.notes) { old, _ in old }
    }

    /// Restores a `last.safetensors` written by an interrupted run of the same configuration;
    /// returns the epoch to continue from.
    public func resume(from url: URL) throws -> Int {
        let file = try TrainingRun.readCheckpoint(url, keys: keys)
        // Nothing is restored, and nothing written, before the checkpoint is known to be this run's.
        if let text = file.metadata["config"], let saved = try? JSONDecoder().decode(TrainingConfig.self, from: Data(text.utf8)) {
            try config.checkResumable(from: saved, source: url.path)
        }
        if let done = file.metadata["epoch"].flatMap(Int.init), done > config.epochs {
            throw ScalpelError.invalidArgument("\(url.path) has trained \(done) epochs, more than --epochs \(config.epochs): "
                + "give at least \(done) to continue it (nothing was changed)")
        }
        let keptAverage = file.tensors.keys.contains { $0.hasPrefix(WeightAverage.checkpointPrefix) }
        if keptAverage != (average != nil) {
            throw ScalpelError.io(path: url.path, reason: keptAverage ? "the run kept a weight average (--ema): resume it with the same --ema"
                : "checkpoint holds no weight average: it was written without --ema, so resume it without --ema (--ema 0 for resnet18, which averages by default)")
        }
        try Checkpoint.restore(file, into: model, optimizer: optimizer, extra: average?.namedState() ?? [], source: url.path)
        let meta = file.metadata
        guard let epoch = meta["epoch"].flatMap(Int.init), let shuffleState = meta["shuffle_state"].flatMap(UInt64.init) else {
            throw ScalpelError.io(path: url.path, reason: "not a training checkpoint (no epoch or generator state); use last.safetensors of a run")
        }
        trainer.shuffle = SeededRandom(state: shuffleState)
        resumedFrom = url
        if let state = meta["augment_state"].flatMap(UInt64.init) { trainer.augmentCounter = state }
        let states = (meta["dropout_states"] ?? "").split(separator: ",").compactMap { UInt64($0) }
        for (dropout, state) in zip(dropouts, states) { dropout.generatorState = state }
        trainer.history = try JSONDecoder().decode([EpochRecord].self, from: Data((meta["history"] ?? "[]").utf8))
        if let bestEpoch = meta["best_epoch"].flatMap(Int.init), let score = meta["best_score"].flatMap(Double.init),
           let loss = meta["best_loss"].flatMap(Double.init) {
            let bestName = url.lastPathComponent.hasSuffix(".enc") ? "best.safetensors.enc" : "best.safetensors"
            let bestFile = try TrainingRun.readCheckpoint(url.deletingLastPathComponent().appending(path: bestName), keys: keys)
            let state = try Dictionary(uniqueKeysWithValues: bestFile.tensors.filter { !$0.key.hasPrefix("optimizer.") }.map { ($0.key, try $0.value.floats) })
            trainer.best = (bestEpoch, score, loss, state)
        }
        return epoch
    }
}

extension TrainingConfig {
    /// The settings of this configuration that contradict `saved`, the configuration of the run
    /// a checkpoint comes from, and that a continued run must keep: each as "--option value (the
    /// run used value)". The epochs, device, output folder and keys may change; the data, split,
    /// model and every setting of the optimisation may not (a new seed even draws a new split,
    /// which would put test rows into training).
    public func resumeConflicts(with saved: TrainingConfig) -> [String] {
        func path(_ text: String?) -> String { text.map { URL(fileURLWithPath: $0).standardizedFileURL.path } ?? "none" }
        func text<T>(_ value: T?) -> String { value.map { "\($0)" } ?? "none" }
        let pairs: [(String, String, String)] = [
            ("--data", path(data), path(saved.data)), ("--test", path(test), path(saved.test)), ("--labels", path(labels), path(saved.labels)),
            ("--label", label, saved.label), ("--positive", text(positiveClass), text(saved.positiveClass)),
            ("--drop", dropColumns.joined(separator: ","), saved.dropColumns.joined(separator: ",")),
            ("--categorical", categoricalColumns.joined(separator: ","), saved.categoricalColumns.joined(separator: ",")),
            ("--model", model, saved.model), ("--seed", "\(seed)", "\(saved.seed)"),
            ("--validation-fraction", "\(validationFraction)", "\(saved.validationFraction)"), ("split", "\(split)", "\(saved.split)"),
            ("--batch-size", "\(batchSize)", "\(saved.batchSize)"), ("--lr", "\(learningRate)", "\(saved.learningRate)"),
            ("--hidden", "\(hidden)", "\(saved.hidden)"), ("--dropout", "\(dropout)", "\(saved.dropout)"),
            ("--select", selection.rawValue, saved.selection.rawValue), ("--clip-norm", text(clipNorm), text(saved.clipNorm)),
            ("--balanced", "\(balancedSampling)", "\(saved.balancedSampling)"), ("--schedule", schedule.rawValue, saved.schedule.rawValue),
            ("--patience", text(patience ?? 50), text(saved.patience ?? 50)), ("--ema", text(ema), text(saved.ema)),
            ("--weight-decay", text(weightDecay ?? 0), text(saved.weightDecay ?? 0)),
            ("--target-sensitivity", text(targetSensitivity), text(saved.targetSensitivity)),
            ("--augment", "\(augment)", "\(saved.augment)"), ("--early-stopping", text(earlyStopping), text(saved.earlyStopping)),
            ("--features", (featureColumns ?? []).joined(separator: ","), (saved.featureColumns ?? []).joined(separator: ",")),
            ("--group-column", text(groupColumn), text(saved.groupColumn)), ("--class-weights", text(classWeights), text(saved.classWeights)),
            ("--class-names", text(classNames?.joined(separator: ",")), text(saved.classNames?.joined(separator: ","))),
            ("--image-size", text(imageSize.map { $0.map(String.init).joined(separator: "x") }), text(saved.imageSize.map { $0.map(String.init).joined(separator: "x") })),
            ("--channels", text(channels), text(saved.channels)), ("--classes", text(classOrder?.joined(separator: ",")), text(saved.classOrder?.joined(separator: ","))),
            ("--skip-bad-images", "\(skipBadImages ?? false)", "\(saved.skipBadImages ?? false)"),
            ("--window", text(window.map { "\($0.center),\($0.width)" }), text(saved.window.map { "\($0.center),\($0.width)" })),
        ]
        return pairs.filter { $0.1 != $0.2 }.map { "\($0.0) \($0.1) (the run used \($0.2))" }
    }

    /// Throws, naming every option, when this configuration contradicts `saved` (see
    /// `resumeConflicts(with:)`), the configuration in the checkpoint at `source`.
    public func checkResumable(from saved: TrainingConfig, source: String) throws {
        let conflicts = resumeConflicts(with: saved)
        guard conflicts.isEmpty else {
            throw ScalpelError.invalidArgument("\(source): options that contradict the run being resumed: \(conflicts.joined(separator: "; ")). "
                + "Leave them out to keep the run's own, or start a new run in another folder")
        }
    }
}

/// metrics.json.
public struct TrainingReport: Encodable {
    /// The Scalpel that wrote it: version and commit.
    public var scalpel = ScalpelBuild.summary
    /// The test split's metrics at the selected epoch, with bootstrap 95% intervals and (binary, with
    /// a validation split) the metrics at the threshold chosen on validation.
    public var test: SplitMetrics
    /// The validation split's metrics at the selected epoch, with bootstrap 95% intervals (nil
    /// without a validation split).
    public var validation: SplitMetrics?
    /// The epoch, counted from 1, whose weights were evaluated.
    public var selectedEpoch: Int
    /// The rule that picked `selectedEpoch`, in words (`EpochSelection.description`).
    public var selectionRule: String
    /// The backend the run trained on: its identifier (`cpu` or `cl:P:D`) and its display name in
    /// parentheses.
    public var device: String
    /// The configured number of epochs (`--epochs`), which early stopping may have cut short.
    public var epochs: Int
    /// Every epoch trained, in order.
    public var history: [EpochRecord]
    /// The class names, in class-index order.
    public var classNames: [String]
    /// The number of rows of each split, under `train`, `validation` and `test`.
    public var rows: [String: Int]
    /// How the data was split and normalised.
    public var data: [String: String]
    /// What temperature scaling did (nil: the run did not calibrate).
    public var calibration: CalibrationSummary? = nil
    /// The test metrics per subgroup of `--subgroup-column` (nil: none asked for, or the data is
    /// encrypted: its values are patient data, shown only in the encrypted report).
    public var subgroups: SubgroupMetrics? = nil
    /// What the metrics rank and threshold.
    public var scores = "binary: the log-odds of class 1 (the threshold 0 is probability 0.5); multi-class: log-probabilities"
}

extension JSONEncoder {
    static var pretty: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return encoder
    }
}
