import ArgumentParser
import Foundation
import Scalpel
import ScalpelCore

/// Prints a split's headline metrics, and for several classes the per-class table.
func printMetrics(_ t: SplitMetrics, classNames: [String], split: String = "Test") {
    func f(_ x: Double?) -> String { x.map { String(format: "%.4f", $0) } ?? "n/a" }
    if let b = t.binary {
        print("\(split) (\(b.sampleCount) rows): accuracy \(f(b.accuracy)), AUROC \(f(b.auroc)), sensitivity \(f(b.sensitivity)), "
            + "specificity \(f(b.specificity)), precision \(f(b.precision)), F1 \(f(b.f1))")
        print("Confusion (rows truth, columns prediction; positive = \(classNames.last ?? "1")): "
            + "TN \(b.confusion.trueNegatives) FP \(b.confusion.falsePositives) FN \(b.confusion.falseNegatives) TP \(b.confusion.truePositives)")
        if let chosen = t.validationThreshold {
            let m = chosen.metrics
            print("At the validation threshold (\(chosen.rule)): sensitivity \(f(m.sensitivity)), specificity \(f(m.specificity)), "
                + "precision \(f(m.precision)), F1 \(f(m.f1))")
        }
    } else if let m = t.multiclass {
        print("\(split) (\(m.sampleCount) rows): accuracy \(f(m.accuracy)), macro AUROC \(f(m.macroAUROC)), macro recall \(f(m.macroRecall)), macro F1 \(f(m.macroF1))")
        let width = classNames.map(\.count).max() ?? 5
        print("  " + "class".padding(toLength: width, withPad: " ", startingAt: 0) + "  support  sensitivity  precision  F1      AUROC")
        for c in m.perClass {
            let name = c.classIndex < classNames.count ? classNames[c.classIndex] : "\(c.classIndex)"
            func column(_ text: String, _ width: Int) -> String { text.padding(toLength: max(width, text.count), withPad: " ", startingAt: 0) }
            print("  " + column(name, width) + String(format: "  %7d  ", c.support) + column(f(c.recall), 11) + "  "
                + column(f(c.precision), 9) + "  " + column(f(c.f1), 6) + "  " + f(c.auroc))
        }
    }
}

/// Options of the commands that read a saved model and data.
struct SavedModelOptions: ParsableArguments {
    @Option(help: "A checkpoint of a run: OUT/best.safetensors (the reported epoch) or OUT/last.safetensors.")
    var checkpoint: String

    @Option(help: "The data to score, in the kind the model was trained on: CSV, MedMNIST .npz, UCR .tsv, .npy, or an image folder (one subfolder per class, a class the model knows) or manifest.")
    var data: String

    @Option(help: "CSV: the label column (default: the one the model was trained with).")
    var label: String?

    @Option(help: "With an .npy of samples as --data: the .npy of their labels.")
    var labels: String?

    @Option(help: "MedMNIST .npz: the split to score: test (default), validation, train or all.")
    var split: String = "auto"

    @Option(help: "The output folder (a folder that holds another run's outputs is refused).")
    var out: String

    @Flag(help: "Replace the outputs already in --out (they are removed first).")
    var overwrite = false

    @OptionGroup var key: KeyOptions

    @Flag(name: .customLong("encrypt-outputs"), inversion: .prefixedNo,
          help: "Write the report and explanations encrypted (default: when the checkpoint or data is encrypted).")
    var encryptOutputs: Bool?

    /// The trainer around the saved model, holding the output folder (claimed once the model and
    /// data are checked, before anything is written: `outputs` are the names this command
    /// writes, which must not be there already).
    func trainer(_ device: DeviceOptions, outputs: [String], subgroupColumn: String? = nil) throws -> TrainingRun {
        let which = try EvaluationSplit.parse(split)
        let trainer = try TrainingRun.saved(checkpoint: checkpoint, data: data, label: label, labels: labels, split: which, out: out, runtime: try device.runtime(),
                                        keyFile: key.keyFile, passphraseFile: key.passphraseFile, identityFile: key.identityFile, encryptOutputs: encryptOutputs,
                                        subgroupColumn: subgroupColumn)
        trainer.runFolder = try RunFolder(out, existing: overwrite ? .overwrite : .refuse, outputs: outputs + (Profiler.isEnabled && !outputs.contains("profile.json") ? ["profile.json"] : []))
        if Profiler.isEnabled { Profiler.shared.outputFolder = URL(fileURLWithPath: out) }
        return trainer
    }
}

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Re-evaluate a saved model on new data, with the metrics, intervals and report of a training run.",
        discussion: """
            The data is prepared as the model's training data was, from what the checkpoint holds: the same \
            columns, categories, imputation values and standardisation for a table; the training images' \
            channel statistics for images; the trained length for signals. Labels must be among the model's \
            classes. Writes OUT/metrics.json, OUT/report.html, OUT/predictions.csv (each row's probabilities, \
            decision and true class) and OUT/explanations/.
            """)

    @OptionGroup var options: DeviceOptions
    @OptionGroup var saved: SavedModelOptions

    @Flag(name: .customLong("no-explanations"), help: "Leave out the explanations (faster).")
    var noExplanations = false

    @Option(name: .customLong("subgroup-column"), help: "CSV: a column naming subgroups (sex, age band, site): the report gives each group's counts, sensitivity, specificity and AUROC with intervals.")
    var subgroupColumn: String?

    func run() throws {
        try runReportingErrors { try audited("eval", inputs: [saved.checkpoint, saved.data, saved.labels], identity: saved.key.personal) { outcome in
            let trainer = try saved.trainer(options, outputs: RunFolder.outputNames, subgroupColumn: subgroupColumn)
            outcome.outputs = [saved.out]
            let report = try trainer.evaluateSaved(explanations: !noExplanations)
            outcome.metrics = auditMetrics(report.test)
            outcome.device = report.device
            print("Evaluated \(saved.checkpoint) on \(saved.data); device \(report.device)")
            printMetrics(report.test, classNames: report.classNames, split: "Data")
            if let summary = fallbackSummary() { print(summary.prefix(1).uppercased() + summary.dropFirst()) }
            let e = trainer.encryptsOutputs ? ".enc" : ""
            print("Wrote \(saved.out)/report.html\(e), metrics.json, predictions.csv\(e)" + (noExplanations ? "" : ", explanations/"))
        } }
    }
}

struct ExplainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Explain a saved model's predictions: saliency and Grad-CAM, attention maps, or permutation importance.",
        discussion: """
            Images: saliency maps (input gradients) and Grad-CAM overlaid on the input, for the first correctly \
            and wrongly predicted images of each class. Signals: attention over time (transformer), class \
            activation over time (FCN) or saliency (LSTM, GRU). Tables: permutation feature importance. Writes \
            OUT/explanations/ and OUT/explanations.html.
            """)

    @OptionGroup var options: DeviceOptions
    @OptionGroup var saved: SavedModelOptions

    func run() throws {
        try runReportingErrors { try audited("explain", inputs: [saved.checkpoint, saved.data, saved.labels], identity: saved.key.personal) { outcome in
            let trainer = try saved.trainer(options, outputs: RunFolder.explanationNames)
            outcome.outputs = [saved.out]
            let files = try trainer.explainSaved()
            print("Wrote " + files.map { "\(saved.out)/\($0)" }.joined(separator: ", "))
        } }
    }
}
