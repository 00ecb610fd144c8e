import Foundation
import ScalpelCore
import ScalpelNN
import ScalpelTensor

/// The options a recipe's model is built from: the data's sample shape and classes, and the
/// sizes the command line can set.
public struct ModelShape: Sendable {
    /// One sample's shape: [features], [channels, length] or [channels, height, width].
    public var sampleShape: [Int]
    /// The number of classes (the width of the logits).
    public var classes: Int
    /// Units per hidden layer (the MLP) or the hidden state's size (LSTM and GRU).
    public var hidden: Int
    /// The dropout probability (the MLP and the transformer).
    public var dropout: Float

    /// A shape for samples of `sampleShape` in `classes` classes.
    public init(sampleShape: [Int], classes: Int, hidden: Int = 64, dropout: Float = 0.1) {
        self.sampleShape = sampleShape
        self.classes = classes
        self.hidden = hidden
        self.dropout = dropout
    }
}

/// What `scalpel train` uses for an option left out: a recipe's default training settings.
public struct RecipeDefaults: Sendable, Equatable {
    /// How long to train: at least so many steps and epochs, at most so many epochs, counted
    /// from the size of the training set (`TrainingBudget`).
    public var budget: TrainingBudget
    /// Rows per step and Adam's learning rate.
    public var batchSize: Int, learningRate: Float
    /// The gradient norm clipped to (0: no clipping).
    public var clipNorm: Float
    /// The learning-rate schedule (`TrainingConfig.schedule`).
    public var schedule: ScheduleKind
    /// The weight average's decay per step (0: no average).
    public var ema: Float
}

/// A built-in model: its name, the kind of data it takes, its default recipe and its builder —
/// the one place a model is known by name (`scalpel train --model`, saved-model checks, the
/// step benchmark).
public struct ModelRecipe: Sendable {
    /// The name `--model` takes.
    public let name: String
    /// The kind of data it takes.
    public let kind: PreparedData.Kind
    /// One line for `--help` and errors.
    public let summary: String
    /// The settings `scalpel train` uses for options left out.
    public let defaults: RecipeDefaults
    /// The bundled data set it is benchmarked on: its sample shape and classes.
    public let benchmarkSample: (shape: [Int], classes: Int)
    /// Why a sample shape does not fit (nil: it fits).
    let unfit: @Sendable (_ sampleShape: [Int]) -> String?
    /// Makes the model's layers and its dropout layers (whose generator states a checkpoint keeps).
    let make: @Sendable (_ shape: ModelShape, _ seed: UInt64, _ generator: inout SeededRandom, _ backend: any Backend) throws
        -> (any TrainableModel, [Dropout])

    /// Every built-in model, the default of each kind of data first.
    public static let all: [ModelRecipe] = [mlp, convnet, cnn, resnet18, fcn, transformer, lstm, gru]

    /// The names of every built-in model.
    public static var names: [String] { all.map(\.name) }

    /// The recipe named `name`, or an error listing the names.
    public static func named(_ name: String) throws -> ModelRecipe {
        guard let recipe = all.first(where: { $0.name == name }) else {
            throw ScalpelError.invalidArgument("unknown model '\(name)': choose \(names.sorted().joined(separator: ", "))")
        }
        return recipe
    }

    /// The recipes that take `kind` data, the default first.
    public static func recipes(for kind: PreparedData.Kind) -> [ModelRecipe] { all.filter { $0.kind == kind } }

    /// The model `scalpel train` picks for `kind` data without `--model`.
    public static func standard(for kind: PreparedData.Kind) -> ModelRecipe { recipes(for: kind)[0] }

    /// Checks that this model takes `kind` data of `sampleShape` (`source` names the data in
    /// the error).
    public func check(kind: PreparedData.Kind, sampleShape: [Int], source: String) throws {
        guard kind == self.kind else {
            throw ScalpelError.invalidArgument("model '\(name)' does not fit \(kind.rawValue) data (\(source)); "
                + "use \(ModelRecipe.recipes(for: kind).map(\.name).joined(separator: " or "))")
        }
        if let reason = unfit(sampleShape) { throw ScalpelError.invalidArgument("\(source): \(reason)") }
    }

    /// A new model for `shape`, initialised from `seed`, with its dropout layers. Its tensors
    /// are packed into flat buffers (`Module.packTensors()`), so that the optimizer, the
    /// gradient norm and the weight average each take one launch per step.
    public func build(_ shape: ModelShape, seed: UInt64, on backend: any Backend) throws -> (model: any TrainableModel, dropouts: [Dropout]) {
        var generator = SeededRandom(seed: seed &+ 1)
        let (model, dropouts) = try make(shape, seed, &generator, backend)
        try model.packTensors()
        return (model, dropouts)
    }

    /// Tables: at least 600 steps and 60 epochs (WDBC's 60 epochs of 12 steps are unchanged; a
    /// table of 50 rows gets 300 epochs), at most 1,000 epochs.
    static let tableBudget = TrainingBudget(minimumSteps: 600, minimumEpochs: 60, maximumEpochs: 1000)
    /// Images at batch 32: at least 360 steps (BreastMNIST's 20 epochs of 18 steps, the measured
    /// recipe) and 20 epochs, at most 500 epochs.
    static let imageBudget = TrainingBudget(minimumSteps: 360, minimumEpochs: 20, maximumEpochs: 500)
    /// Signals at batch 16: at least 3,000 steps (ECG5000's 100 epochs of 32 steps, the measured
    /// recipe) and 100 epochs, at most 2,000 epochs.
    static let signalBudget = TrainingBudget(minimumSteps: 3000, minimumEpochs: 100, maximumEpochs: 2000)
    private static let tableDefaults = RecipeDefaults(budget: tableBudget, batchSize: 32, learningRate: 1e-3, clipNorm: 0, schedule: .constant, ema: 0)
    private static let imageDefaults = RecipeDefaults(budget: TrainingBudget(minimumSteps: 100, minimumEpochs: 20, maximumEpochs: 500), batchSize: 128, learningRate: 1e-3, clipNorm: 0, schedule: .constant, ema: 0)
    private static let signalDefaults = RecipeDefaults(budget: signalBudget, batchSize: 16, learningRate: 1e-3, clipNorm: 0, schedule: .constant, ema: 0)
    private static let wdbc = (shape: [30], classes: 2), breastMNIST = (shape: [1, 28, 28], classes: 2), ecg5000 = (shape: [1, 140], classes: 5)

    /// Two hidden layers of `hidden` units with ReLU and dropout.
    static let mlp = ModelRecipe(name: "mlp", kind: .table, summary: "a multi-layer perceptron (two hidden layers, ReLU, dropout)",
                                 defaults: tableDefaults, benchmarkSample: wdbc, unfit: { _ in nil }) { shape, seed, generator, backend in
        let d1 = Dropout(shape.dropout, seed: seed &+ 2), d2 = Dropout(shape.dropout, seed: seed &+ 3)
        let model = Sequential([
            try Linear(shape.sampleShape[0], shape.hidden, generator: &generator, on: backend), ReLU(), d1,
            try Linear(shape.hidden, shape.hidden, generator: &generator, on: backend), ReLU(), d2,
            try Linear(shape.hidden, shape.classes, generator: &generator, on: backend),
        ])
        return (model, [d1, d2])
    }

    /// The default image model: five convolution–batch-norm–ReLU layers in three stages (32, 64,
    /// 128 channels), global average pooling. Chosen by measurement on BreastMNIST: with batch 32,
    /// the cosine rate and a weight average it meets the MedMNIST v2 ResNet-18 row in about a
    /// twentieth of ResNet-18's time (docs/results.md).
    static let convnet = ModelRecipe(name: "convnet", kind: .images,
                                     summary: "a compact CNN with batch norm (five conv–BN–ReLU layers, global average pooling)",
                                     defaults: RecipeDefaults(budget: imageBudget, batchSize: 32, learningRate: 1e-3, clipNorm: 0, schedule: .cosine, ema: 0.98),
                                     benchmarkSample: breastMNIST, unfit: { shape in
        shape[1] < 4 || shape[2] < 4
            ? "images of \(shape[1])×\(shape[2]) pixels are too small for the convnet model, which pools twice by 2 (it needs at least 4×4); "
                + "use --model resnet18 or larger images"
            : nil
    }) { shape, _, generator, backend in
        (try VisionModels.convNet(inChannels: shape.sampleShape[0], classes: shape.classes, generator: &generator, on: backend), [])
    }

    /// Two convolution–ReLU–pooling blocks, then a hidden dense layer and the head.
    static let cnn = ModelRecipe(name: "cnn", kind: .images, summary: "a small CNN (two conv–ReLU–pool blocks and a hidden dense layer)",
                                 defaults: imageDefaults, benchmarkSample: breastMNIST, unfit: { shape in
        shape[1] < 4 || shape[2] < 4
            ? "images of \(shape[1])×\(shape[2]) pixels are too small for the cnn model, which pools twice by 2 (it needs at least 4×4); "
                + "use --model resnet18 or larger images"
            : nil
    }) { shape, _, generator, backend in
        (try VisionModels.smallCNN(inChannels: shape.sampleShape[0], height: shape.sampleShape[1], width: shape.sampleShape[2],
                                   classes: shape.classes, generator: &generator, on: backend), [])
    }

    /// ResNet-18. BreastMNIST's 546 training images: five steps of 128 an epoch at a constant
    /// rate leave it short of the MedMNIST v2 table; batch 32, a cosine rate and a weight
    /// average (which steadies the epoch picked by 78 validation images) reach it (docs/results.md).
    static let resnet18 = ModelRecipe(name: "resnet18", kind: .images, summary: "ResNet-18",
                                      defaults: RecipeDefaults(budget: imageBudget, batchSize: 32, learningRate: 1e-3, clipNorm: 0, schedule: .cosine, ema: 0.98),
                                      benchmarkSample: breastMNIST, unfit: { _ in nil }) { shape, _, generator, backend in
        (try VisionModels.resnet18(inChannels: shape.sampleShape[0], classes: shape.classes, generator: &generator, on: backend), [])
    }

    /// The fully convolutional network of Wang et al. 2017. The cosine rate with a weight average
    /// meets the published ECG5000 accuracy (0.940) on every one of seeds 0–2, where a constant
    /// rate gives 0.931 (docs/results.md).
    static let fcn = ModelRecipe(name: "fcn", kind: .sequences, summary: "a fully convolutional network (Wang et al. 2017)",
                                 defaults: RecipeDefaults(budget: signalBudget, batchSize: 16, learningRate: 1e-3, clipNorm: 0, schedule: .cosine, ema: 0.99), benchmarkSample: ecg5000, unfit: { _ in nil }) { shape, _, generator, backend in
        (try SequenceModels.fcn(inChannels: shape.sampleShape[0], classes: shape.classes, generator: &generator, on: backend), [])
    }

    /// A transformer encoder on the fused attention kernel. The cosine rate is the best recipe
    /// measured on ECG5000 (0.932 over seeds 0–2, against 0.925 at a constant rate; docs/results.md).
    static let transformer = ModelRecipe(name: "transformer", kind: .sequences, summary: "a transformer encoder",
                                         defaults: RecipeDefaults(budget: signalBudget, batchSize: 16, learningRate: 5e-4, clipNorm: 1, schedule: .cosine, ema: 0),
                                         benchmarkSample: ecg5000, unfit: { _ in nil }) { shape, _, generator, backend in
        let model = try TransformerClassifier(inChannels: shape.sampleShape[0], length: shape.sampleShape[1], classes: shape.classes,
                                              dropout: shape.dropout, generator: &generator, on: backend)
        return (model, model.dropouts)
    }

    /// An LSTM of `hidden` units.
    static let lstm = recurrent("lstm", cell: .lstm)
    /// A GRU of `hidden` units.
    static let gru = recurrent("gru", cell: .gru)

    private static func recurrent(_ name: String, cell: RecurrentClassifier.Cell) -> ModelRecipe {
        ModelRecipe(name: name, kind: .sequences, summary: "a recurrent classifier (\(name.uppercased()))", defaults: signalDefaults,
                    benchmarkSample: ecg5000, unfit: { _ in nil }) { shape, _, generator, backend in
            (try RecurrentClassifier(cell: cell, inChannels: shape.sampleShape[0], hidden: shape.hidden, classes: shape.classes,
                                     generator: &generator, on: backend), [])
        }
    }
}
