import ArgumentParser
import Foundation
import Scalpel
import ScalpelCore

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a model and report diagnosis metrics on a held-out test split.",
        discussion: """
            CSV tables (--model mlp): a stratified, seeded train/validation/test split (70/15/15), \
            standardisation fit on the training rows. MedMNIST .npz images (--model cnn or resnet18): the \
            official split, per-channel standardisation with training statistics. Adam and cross-entropy; \
            the epoch with the best validation AUROC is evaluated on the test split. Writes \
            OUT/metrics.json, OUT/config.json, OUT/best.safetensors and OUT/last.safetensors (for --resume). \
            With no options: the small CNN on the bundled BreastMNIST.
            """)

    @OptionGroup var options: DeviceOptions

    @Option(help: "The data file: a CSV table with a header, or a MedMNIST 2-D .npz.")
    var data: String = "Data/breastmnist.npz"

    @Option(help: "CSV: the label column's name.")
    var label: String = "diagnosis"

    @Option(help: "The positive class (binary: this value — a CSV label, or a class index of images — against the rest).")
    var positive: String?

    @Option(parsing: .upToNextOption, help: "Columns to leave out (identifiers, for example).")
    var drop: [String] = []

    @Option(help: "The model: mlp (tables); cnn or resnet18 (images). Default: mlp for a .csv, cnn for images.")
    var model: String?

    @Option(help: "Epochs (default: 60 for tables, 20 for images).")
    var epochs: Int?

    @Option(name: .customLong("batch-size"), help: "Samples per training step (default: 32 for tables, 128 for images).")
    var batchSize: Int?

    @Option(help: "Adam's learning rate.")
    var lr: Float = 1e-3

    @Option(help: "Seed of the split, the initial weights, shuffling and dropout.")
    var seed: UInt64 = 0

    @Option(help: "Hidden units per layer.")
    var hidden: Int = 64

    @Option(help: "The run folder (default: runs/<date>-<model>).")
    var out: String?

    @Option(help: "Continue an interrupted run from its last.safetensors (same options).")
    var resume: String?

    func run() throws {
        try runReportingErrors {
            let images = !data.lowercased().hasSuffix(".csv")
            let model = self.model ?? (images ? "cnn" : "mlp")
            let known = Trainer.models.values.flatMap { $0 }
            guard known.contains(model) else {
                throw ScalpelError.invalidArgument("unknown model '\(model)': choose \(known.sorted().joined(separator: ", "))")
            }
            let stamp = ISO8601DateFormatter().string(from: Date()).replacingOccurrences(of: ":", with: "")
            var config = TrainingConfig(data: data, label: label, out: out ?? "runs/\(stamp)-\(model)")
            config.positiveClass = positive
            config.dropColumns = drop
            config.model = model
            config.epochs = epochs ?? (images ? 20 : 60)
            config.batchSize = batchSize ?? (images ? 128 : 32)
            config.learningRate = lr
            config.seed = seed
            config.hidden = hidden
            config.device = (try options.spec()).description
            let trainer = try Trainer(config: config, runtime: try options.runtime())
            let start = try resume.map { try trainer.resume(from: URL(fileURLWithPath: $0)) } ?? 0
            let report = try trainer.run(startEpoch: start)
            let t = report.test
            func f(_ x: Double?) -> String { x.map { String(format: "%.4f", $0) } ?? "n/a" }
            print("Selected epoch \(report.selectedEpoch) of \(report.epochs) (\(report.selectionRule)); device \(report.device)")
            if let b = t.binary {
                print("Test (\(b.sampleCount) rows): accuracy \(f(b.accuracy)), AUROC \(f(b.auroc)), sensitivity \(f(b.sensitivity)), "
                    + "specificity \(f(b.specificity)), precision \(f(b.precision)), F1 \(f(b.f1))")
                print("Confusion (rows truth, columns prediction; positive = \(report.classNames.last ?? "1")): "
                    + "TN \(b.confusion.trueNegatives) FP \(b.confusion.falsePositives) FN \(b.confusion.falseNegatives) TP \(b.confusion.truePositives)")
            } else if let m = t.multiclass {
                print("Test (\(m.sampleCount) rows): accuracy \(f(m.accuracy)), macro AUROC \(f(m.macroAUROC)), macro recall \(f(m.macroRecall)), macro F1 \(f(m.macroF1))")
            }
            print("Wrote \(config.out)/metrics.json, best.safetensors, last.safetensors, config.json")
        }
    }
}
