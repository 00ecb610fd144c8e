import Foundation
import ScalpelCore
import ScalpelData
import ScalpelIO
import ScalpelPrivacy

/// What `TrainingRun.streamPredictions` scored.
public struct StreamedPredictions: Sendable {
    /// The samples scored.
    public var count: Int
    /// The blocks the file was read in.
    public var blocks: Int
    /// The class names, in class-index order.
    public var classNames: [String]
    /// How many samples were predicted to be each class.
    public var decided: [Int]
    /// How the decisions were made, in words.
    public var rule: String
    /// The backend that scored them: its identifier and name.
    public var device: String
}

extension TrainingRun {
    /// Whether `scalpel predict` reads `path` a block at a time: a plain (not encrypted) CSV
    /// table or UCR file scored with a plain checkpoint into a plain file. Encrypted data is
    /// decrypted in memory whole, and other formats (images, arrays) are read whole.
    /// - Parameters:
    ///   - path: The data file.
    ///   - checkpoint: The checkpoint.
    ///   - encryptOutputs: Whether the predictions are written encrypted.
    /// - Returns: Whether the file streams.
    public static func streams(data path: String, checkpoint: String, encryptOutputs: Bool) -> Bool {
        guard !encryptOutputs, !EncryptedFile.isEncrypted(path: path), !EncryptedFile.isEncrypted(path: checkpoint),
              !PreparedData.isImageCollection(path) else { return false }
        return ["csv", "tsv", "txt"].contains(URL(fileURLWithPath: path).pathExtension.lowercased())
    }

    /// Scores a plain CSV table or UCR file `blockRows` records at a time — memory holds one
    /// block, so a file larger than memory is fine — and writes one CSV row per sample to
    /// `target` as `predictions(threshold:)` does, atomically and private to its owner: the file
    /// appears whole when every block is scored, and not at all when one fails.
    /// - Parameters:
    ///   - checkpoint: The saved model.
    ///   - path: The data (see `streams(data:checkpoint:encryptOutputs:)`).
    ///   - target: The CSV file to write.
    ///   - threshold: How a binary case is decided.
    ///   - idColumn: A table's column that names the rows (nil: their lines).
    ///   - blockRows: Records per block (at least 1).
    ///   - runtime: Where the model runs.
    /// - Returns: What was scored.
    /// - Throws: `ScalpelError` naming the file and line of bad data, or the checkpoint.
    public static func streamPredictions(checkpoint: String, data path: String, to target: URL, threshold: PredictionThreshold,
                                         idColumn: String?, blockRows: Int, runtime: Runtime) throws -> StreamedPredictions {
        guard blockRows >= 1 else { throw ScalpelError.invalidArgument("--block-rows \(blockRows): give at least 1") }
        let isTable = URL(fileURLWithPath: path).pathExtension.lowercased() == "csv"
        guard FileManager.default.fileExists(atPath: path) else { throw ScalpelError.io(path: path, reason: "no such file") }
        var reader = try RecordBlocks(path: path, csv: isTable, recordsPerBlock: blockRows)
        let header = reader.header ?? Data()
        func prepare(_ block: RecordBlocks.Block, _ pipeline: DataPipeline) throws -> (PreparedData, DataSource) {
            let source = DataSource.block(of: path, bytes: header + block.bytes, firstLine: block.firstLine)
            let prepared = try PreparedData.prepare(source, path: path, with: pipeline, label: nil, split: .auto, requireLabels: false)
            return (prepared, source)
        }
        guard var block = try reader.next() else { throw ScalpelError.invalidArgument("\(path): no rows to score") }
        var firstSource: DataSource?
        let run = try saved(checkpoint: checkpoint, dataPath: path, label: nil, labels: nil, out: target.deletingLastPathComponent().path,
                            runtime: runtime, keyFile: nil, passphraseFile: nil, encryptOutputs: false, subgroupColumn: nil) { pipeline, _ in
            let (prepared, source) = try prepare(block, pipeline)
            firstSource = source
            return prepared
        }
        guard let pipeline = run.data.pipeline else { throw ScalpelError.invalidArgument("\(checkpoint): the checkpoint holds no data pipeline") }
        let writer: AtomicFile.Writer
        do { writer = try AtomicFile.Writer(target) } catch { throw ScalpelError.io(path: target.path, reason: error.reason) }
        var source = firstSource!
        var summary = StreamedPredictions(count: 0, blocks: 0, classNames: pipeline.classNames, decided: [Int](repeating: 0, count: pipeline.classNames.count),
                                          rule: "", device: "\(run.backend.id) (\(run.backend.displayName))")
        var labelled: Bool?
        let chosen = try run.decisionThreshold(threshold)
        while true {
            var predictions = try run.predictions(decidedBy: chosen)
            if let idColumn { predictions = try naming(predictions, byColumn: idColumn, in: try source.csv(), path: path) }
            if labelled == nil { labelled = predictions.truth != nil }
            if labelled != (predictions.truth != nil) {
                throw ScalpelError.invalidArgument("\(path), line \(block.firstLine) on: " + (labelled! ? "rows without a known label after rows with one"
                    : "rows with known labels after rows without") + "; score the two kinds of rows apart")
            }
            do { try writer.append(Data(predictions.csv(header: summary.blocks == 0).utf8)) } catch { throw ScalpelError.io(path: target.path, reason: error.reason) }
            summary.count += predictions.ids.count
            summary.blocks += 1
            summary.rule = predictions.rule
            for decision in predictions.decisions { summary.decided[Int(decision)] += 1 }
            guard let next = try reader.next() else { break }
            block = next
            let (prepared, nextSource) = try prepare(block, pipeline)
            var scored = prepared
            scored.encryptedSource = false
            try run.trainer.replaceData(scored)
            source = nextSource
        }
        do { try writer.commit() } catch { throw ScalpelError.io(path: target.path, reason: error.reason) }
        return summary
    }

    /// `predictions` named by the cells of `column` of `table` (a block of the table at `path`).
    static func naming(_ predictions: Predictions, byColumn column: String, in table: CSVTable, path: String) throws -> Predictions {
        guard predictions.idName == "line" else {
            throw ScalpelError.invalidArgument("--id-column \(column): only a CSV table's rows are named by a column")
        }
        guard let values = table.column(named: column) else {
            throw ScalpelError.invalidArgument("\(path): no column \(ClinicDataError.quoted(column)) to name the rows by (--id-column)"
                + (table.isConfidential ? "" : "; the columns are \(ClinicDataError.quotedList(table.columns))"))
        }
        let byLine = Dictionary(uniqueKeysWithValues: zip(table.lineNumbers.map(String.init), values))
        var named = predictions
        named.ids = predictions.ids.map { byLine[$0] ?? $0 }
        named.idName = column
        return named
    }
}
