import Foundation
import ScalpelData
import ScalpelMetrics
import ScalpelReport
import ScalpelCore
import ScalpelIO
import ScalpelNN
import ScalpelPrivacy

/// metrics.json of `scalpel eval`.
public struct EvaluationReport: Encodable {
    /// The Scalpel that wrote it: version and commit.
    public var scalpel = ScalpelBuild.summary
    /// The path of the checkpoint evaluated.
    public var checkpoint: String
    /// The path of the data file evaluated.
    public var data: String
    /// The metrics on the evaluated rows, with bootstrap 95% intervals and (binary, when the run
    /// chose a decision threshold on validation) the metrics at that threshold.
    public var test: SplitMetrics
    /// The backend that evaluated: its identifier (`cpu` or `cl:P:D`) and its display name in
    /// parentheses.
    public var device: String
    /// The model's class names, in class-index order.
    public var classNames: [String]
    /// The number of rows evaluated.
    public var rows: Int
    /// How the data was prepared for the model (normalisation, missing values, unseen categories,
    /// the split read).
    public var notes: [String: String]
    /// The metrics per subgroup of `--subgroup-column` (nil: none asked for, or the data is
    /// encrypted: its values are patient data, shown only in the encrypted report).
    public var subgroups: SubgroupMetrics? = nil
    /// What the metrics rank and threshold.
    public var scores = "binary: the log-odds of class 1 (the threshold 0 is probability 0.5); multi-class: log-probabilities"
}

extension TrainingRun {
    /// A trainer around a saved model (`best.safetensors` or `last.safetensors` of a run) and
    /// new data prepared as the model's training data was (see `PreparedData.load(_:with:)`).
    /// Encrypted checkpoints and data are decrypted in memory with the keys the options name
    /// (personal key, key file, passphrase file; or the environment); outputs are encrypted when either input
    /// was, unless `encryptOutputs` says otherwise.
    public static func saved(checkpoint: String, data path: String, label: String? = nil, labels: String? = nil, split: EvaluationSplit = .auto,
                             out: String, runtime: Runtime, keyFile: String? = nil, passphraseFile: String? = nil, identityFile: String? = nil,
                             encryptOutputs: Bool? = nil, requireLabels: Bool = true, subgroupColumn: String? = nil) throws -> TrainingRun {
        try saved(checkpoint: checkpoint, dataPath: path, label: label, labels: labels, out: out, runtime: runtime, keyFile: keyFile,
                  passphraseFile: passphraseFile, identityFile: identityFile, encryptOutputs: encryptOutputs, subgroupColumn: subgroupColumn) { pipeline, keys in
            try PreparedData.load(path, with: pipeline, label: label, labels: labels, split: split, keys: keys, requireLabels: requireLabels)
        }
    }

    /// A trainer around a saved model and the data `prepare` makes with the checkpoint's pipeline
    /// and the keys (the whole file at `dataPath`, or its first block).
    static func saved(checkpoint: String, dataPath path: String, label: String?, labels: String?, out: String, runtime: Runtime,
                      keyFile: String?, passphraseFile: String?, identityFile: String? = nil, encryptOutputs: Bool?, subgroupColumn: String?,
                      prepare: (DataPipeline, KeyRing?) throws -> PreparedData) throws -> TrainingRun {
        guard FileManager.default.fileExists(atPath: checkpoint) else { throw ScalpelError.io(path: checkpoint, reason: "no such file") }
        let url = URL(fileURLWithPath: checkpoint)
        let keys = try KeyRing.resolve(keyFile: keyFile, passphraseFile: passphraseFile, identityFile: identityFile)
        let file = try TrainingRun.readCheckpoint(url, keys: keys)
        var config = try SavedModelMetadata.config(file, source: checkpoint)
        let pipeline = try DataPipeline.from(metadata: file.metadata, source: checkpoint)
        let largestTensor = try SavedModelCheck.validate(config: config, pipeline: pipeline, file: file, source: checkpoint)
        var data = try prepare(pipeline, keys)
        data.encryptedSource = EncryptedFile.isEncrypted(path: path) || EncryptedFile.isEncrypted(path: checkpoint)
        config.out = out
        config.data = path
        config.test = nil
        config.labels = labels
        config.subgroupColumn = subgroupColumn
        config.calibrate = nil  // the run's temperature is applied from the checkpoint, not fitted again
        (config.keyFile, config.passphraseFile, config.identityFile, config.encryptOutputs) = (keyFile, passphraseFile, identityFile, encryptOutputs)
        let trainer = try SavedModelCheck.building(under: largestTensor, source: checkpoint) {
            try TrainingRun(config: config, data: data, runtime: runtime, keys: keys)
        }
        try Checkpoint.restore(file, into: trainer.model, source: checkpoint)
        trainer.savedThreshold = try SavedModelMetadata.threshold(file.metadata, source: checkpoint)
        if let text = file.metadata[StoredValidationScores.metadataKey] {
            trainer.validationScores = try? JSONDecoder().decode(StoredValidationScores.self, from: Data(text.utf8))
        }
        if let temperature = try SavedModelMetadata.temperature(file.metadata, source: checkpoint) {
            trainer.trainer.temperature = temperature
            trainer.data.notes["calibration"] = "temperature scaling from the training run: logits divided by \(temperature)"
        }
        trainer.checkpointPath = checkpoint
        return trainer
    }

    /// Evaluates the saved model on all rows of its data and writes metrics.json, report.html
    /// and the explanations to the output folder; returns the report.
    public func evaluateSaved(explanations wanted: Bool = true,
                              log: (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }) throws -> EvaluationReport {
        let out = URL(fileURLWithPath: config.out)
        if runFolder == nil { runFolder = try RunFolder(config.out, outputs: RunFolder.outputNames) }
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let threshold = data.classCount == 2 ? savedThreshold : nil
        let test = try evaluate(data.test, intervals: true, threshold: threshold)
        let predictions = Predictions(test, rows: data.test, data: data, threshold: threshold.map { ($0.0, $0.1.threshold) }, labelled: true)
        _ = try writeOutput(Data(predictions.csv().utf8), "predictions.csv")
        let subgroups = try subgroupMetrics(test, rows: data.test, threshold: threshold)
        let report = EvaluationReport(checkpoint: checkpointPath ?? "", data: config.data, test: test.metrics,
                                      device: "\(backend.id) (\(backend.displayName))", classNames: data.classNames, rows: data.test.count,
                                      notes: data.notes, subgroups: data.encryptedSource ? nil : subgroups)
        try AtomicFile.write(try JSONEncoder.pretty.encode(report), to: out.appending(path: "metrics.json"))
        let explained = wanted ? try explain(rows: data.test, predicted: test.predicted) : nil
        let page = RunReport(title: "Scalpel evaluation: \(config.model) on \(URL(fileURLWithPath: config.data).lastPathComponent)",
                             subtitle: "Written \(ISO8601DateFormatter().string(from: Date())) to \(config.out)",
                             summary: [("checkpoint", checkpointPath ?? ""), ("data", config.data), ("model", "\(config.model), \(model.parameterCount) parameters"),
                                       ("device", report.device), ("rows", String(data.test.count)),
                                       ("classes", data.classNames.joined(separator: ", ")),
                                       ("Scalpel", "\(ScalpelBuild.version), commit \(ScalpelBuild.commit)")],
                             evaluation: test, splitName: "evaluated", classNames: data.classNames, notes: data.notes, explanations: explained,
                             classCounts: [("evaluated", data.classCounts(data.test))], subgroups: subgroups)
        let written = try writeOutput(Data(try page.html().utf8), "report.html")
        log("scalpel: report in \(out.appending(path: written).path)")
        return report
    }

    /// Writes only the explanations (and a report of them with the metrics) for `scalpel explain`.
    public func explainSaved(log: (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }) throws -> [String] {
        let out = URL(fileURLWithPath: config.out)
        if runFolder == nil { runFolder = try RunFolder(config.out, outputs: RunFolder.explanationNames) }
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let test = try evaluate(data.test)
        let explained = try explain(rows: data.test, predicted: test.predicted)
        var page = HTMLReport(title: "Scalpel explanations: \(config.model) on \(URL(fileURLWithPath: config.data).lastPathComponent)",
                              subtitle: "Checkpoint \(checkpointPath ?? ""); \(data.test.count) rows")
        let report = RunReport(title: "", subtitle: "", summary: [], evaluation: test, splitName: "", classNames: data.classNames, notes: [:])
        try report.explain(explained, &page)
        let written = try writeOutput(Data(page.html().utf8), "explanations.html")
        log("scalpel: explanations in \(out.appending(path: "explanations").path) and \(out.appending(path: written).path)")
        return explained.files + [written]
    }
}
