import ArgumentParser
import Foundation
import Scalpel
import ScalpelCore
import ScalpelIO
import ScalpelPrivacy

struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Score new samples with a saved model, labels or not: one CSV row per sample with every class's probability and the decision.",
        discussion: """
            The data is prepared as the model's training data was (see `scalpel eval`). No labels are needed: a \
            table may lack its label column, an image folder may hold its images without class folders, an .npy \
            may come without --labels, a UCR file may hold anything in its label column. Each row names its sample (the --id-column of a table, else its line; an \
            image's path; a MedMNIST split and index; an array index), gives the probability of every class by \
            name, and the decision: for two classes at the threshold the training run chose on validation (or \
            --threshold, or --target-sensitivity chosen again on the run's validation scores), else the most \
            probable class. When the data has labels, a last column gives the true class. The file is written \
            atomically and private to its owner, and encrypted (OUT.enc) when the checkpoint or the data is. A plain \
            CSV or UCR file is read --block-rows rows at a time, so a file larger than memory is fine.
            """)

    @OptionGroup var options: DeviceOptions
    @OptionGroup var key: KeyOptions

    @Option(help: "A checkpoint of a run: OUT/best.safetensors (the reported epoch) or OUT/last.safetensors.")
    var checkpoint: String

    @Option(help: "The samples to score, in the kind the model was trained on: a CSV table (with or without its label column), a MedMNIST .npz, a UCR .tsv, an .npy, or an image folder or manifest.")
    var data: String

    @Option(help: "With an .npy of samples as --data: the .npy of their labels, if there is one.")
    var labels: String?

    @Option(name: .customLong("id-column"), help: "CSV: the column that names each row in the output (a record number), passed through as it is (default: the row's line in the file).")
    var idColumn: String?

    @Option(help: "Binary: predict the positive class where its probability is at least this (default: the threshold the run chose on validation).")
    var threshold: Double?

    @Option(name: .customLong("target-sensitivity"), help: "Binary: choose the threshold again on the run's validation scores, the highest whose sensitivity reaches this.")
    var targetSensitivity: Double?

    @Option(help: "MedMNIST .npz or a folder with train/, val/, test/: the split to score: test (default), validation, train or all.")
    var split: String = "auto"

    @Option(help: "The CSV file to write (predictions.csv, say). An existing file is refused unless --overwrite.")
    var out: String

    @Option(name: .customLong("block-rows"), help: "A plain CSV or UCR file is scored this many rows at a time, so that a file larger than memory is fine (default: 10000).")
    var blockRows = 10_000

    @Flag(help: "Replace --out if it exists.")
    var overwrite = false

    @Flag(name: .customLong("encrypt-outputs"), inversion: .prefixedNo,
          help: "Write the predictions encrypted (default: when the checkpoint or the data is encrypted).")
    var encryptOutputs: Bool?

    func run() throws {
        try runReportingErrors { try audited("predict", inputs: [checkpoint, data, labels], identity: key.personal) { outcome in
            guard threshold == nil || targetSensitivity == nil else {
                throw ScalpelError.invalidArgument("give --threshold or --target-sensitivity, not both")
            }
            let which = try EvaluationSplit.parse(split)
            let encrypted = encryptOutputs ?? (EncryptedFile.isEncrypted(path: checkpoint) || EncryptedFile.isEncrypted(path: data))
            // The file the run writes: --out, with .enc when encrypted (given or not).
            let given = URL(fileURLWithPath: out)
            let name = encrypted && given.pathExtension == "enc" ? given.deletingPathExtension().lastPathComponent : given.lastPathComponent
            let target = given.deletingLastPathComponent().appending(path: encrypted ? name + ".enc" : name)
            if FileManager.default.fileExists(atPath: target.path) && !overwrite {
                throw ScalpelError.invalidArgument("\(target.path) exists; give --overwrite to replace it, or another --out")
            }
            let rule: PredictionThreshold = threshold.map { .probability($0) } ?? targetSensitivity.map { .targetSensitivity($0) } ?? .saved
            if TrainingRun.streams(data: data, checkpoint: checkpoint, encryptOutputs: encrypted) && labels == nil && which == .auto {
                // A plain table or UCR file: a block at a time, straight into the file.
                let scored = try TrainingRun.streamPredictions(checkpoint: checkpoint, data: data, to: target, threshold: rule, idColumn: idColumn,
                                                               blockRows: blockRows, runtime: try options.runtime())
                outcome.outputs = [target.path]
                outcome.device = scored.device
                print("Predicted \(scored.count) samples with \(checkpoint): "
                    + scored.classNames.enumerated().map { "\($0.element) \(scored.decided[$0.offset])" }.joined(separator: ", ")
                    + " (\(scored.rule)); device \(scored.device.split(separator: " ").first ?? "")"
                    + (scored.blocks > 1 ? "; read in \(scored.blocks) blocks of up to \(blockRows) rows" : ""))
                print("Wrote \(target.path)")
                return
            }
            let run = try TrainingRun.saved(checkpoint: checkpoint, data: data, labels: labels, split: which, out: target.deletingLastPathComponent().path,
                                            runtime: try options.runtime(), keyFile: key.keyFile, passphraseFile: key.passphraseFile, identityFile: key.identityFile,
                                            encryptOutputs: encrypted, requireLabels: false)
            var predictions = try run.predictions(threshold: rule)
            if let idColumn { predictions = try run.naming(predictions, byColumn: idColumn) }
            let written = try run.write(predictions, as: name)
            outcome.outputs = [written.path]
            outcome.device = "\(run.trainer.backend.id) (\(run.trainer.backend.displayName))"
            let counts = Dictionary(predictions.decisions.map { ($0, 1) }, uniquingKeysWith: +)
            print("Predicted \(predictions.ids.count) samples with \(checkpoint): "
                + predictions.classNames.enumerated().map { "\($0.element) \(counts[Int32($0.offset)] ?? 0)" }.joined(separator: ", ")
                + " (\(predictions.rule)); device \(run.trainer.backend.id)")
            print("Wrote \(written.path)" + (encrypted ? " (encrypted: AES-256-GCM)" : ""))
        } }
    }
}
