import Foundation
import ScalpelData
import ScalpelMetrics
import ScalpelReport
import ScalpelCore
import ScalpelPrivacy

/// How a run turned its data file into model inputs, saved in every checkpoint so that a saved
/// model can score new data exactly as it was trained: the same features in the same order,
/// the training split's imputation and scaling, the same classes.
public struct DataPipeline: Codable, Sendable {
    /// The kind of data the model was trained on, which decides how a new file is read.
    public var kind: PreparedData.Kind
    /// The shape of one model input: [features], [C, H, W] or [C, L].
    public var sampleShape: [Int]
    /// The class names of reports (given with --class-names, or from the data).
    public var classNames: [String]
    /// The classes as the training file spells its labels, in class-index order (images: the
    /// label numbers). With a positive class, labels are that class against the rest.
    public var fileClasses: [String]
    /// The positive class the run was given (`--positive`), whose rows become class 1 and every
    /// other row class 0 (nil: the file's classes).
    public var positiveClass: String?
    /// A CSV table's columns and training statistics (nil for other data).
    public var table: Table?
    /// MedMNIST images' class count and training channel statistics (nil for other data).
    public var images: Images?
    /// `.npy` samples: how they were scaled.
    public var arrays: PreparedData.ArrayScaling?

    /// A CSV table's columns and the statistics fit on its training rows.
    public struct Table: Codable, Sendable {
        /// The label column's name in the training file (`--label`).
        public var labelColumn: String
        /// The columns left out of training (`--drop`).
        public var dropColumns: [String]
        /// The columns that were one-hot encoded.
        public var categoricalColumns: [String]
        /// The model's input features, in order: a numeric column's header name, or
        /// `column=category` for a one-hot feature.
        public var featureNames: [String]
        /// What each feature holds (a number, or one category of a one-hot column), parallel to
        /// `featureNames`.
        public var featureKinds: [TabularDataset.FeatureKind]
        /// The missing-value imputation fit on the training rows: a numeric feature's median, 0 for a
        /// one-hot feature.
        public var imputer: Imputer
        /// The per-feature standardisation fit on the imputed training rows.
        public var standardizer: Standardizer

        /// The original columns, in feature order, each with the features it became (a
        /// numeric column one, a categorical column one per category).
        public var columns: [(name: String, features: [Int])] {
            var result: [(name: String, features: [Int])] = []
            for (index, kind) in featureKinds.enumerated() {
                let column: String
                switch kind {
                case .numeric: column = featureNames[index]
                case let .oneHot(name, _): column = name
                }
                if result.last?.name == column { result[result.count - 1].features.append(index) } else { result.append((column, [index])) }
            }
            return result
        }
    }

    /// MedMNIST images: the file's class count and the training images' channel statistics.
    public struct Images: Codable, Sendable {
        /// The number of classes the MedMNIST file has, before a positive class is set against the
        /// rest.
        public var fileClassCount: Int
        /// The training images' mean per channel, of pixels scaled to [0, 1].
        public var mean: [Double]
        /// The training images' standard deviation per channel (at least 1e-6), of pixels scaled to
        /// [0, 1].
        public var standardDeviation: [Double]
        /// For an image folder or manifest: the size and channels every image was brought to and
        /// the DICOM window (nil: a MedMNIST `.npz`).
        public var files: LoadedImages.Geometry? = nil
    }

    /// The metadata key a checkpoint keeps the pipeline under.
    public static let metadataKey = "pipeline"

    /// The pipeline as compact JSON text, the form a checkpoint keeps under `metadataKey`; throws
    /// the encoder's error.
    public func encoded() throws -> String { String(decoding: try JSONEncoder().encode(self), as: UTF8.self) }

    /// The pipeline saved in a checkpoint's metadata.
    public static func from(metadata: [String: String], source: String) throws -> DataPipeline {
        guard let text = metadata[metadataKey] else {
            throw ScalpelError.io(path: source, reason: "the checkpoint holds no data pipeline (it was written by an older Scalpel); "
                + "train the model again to evaluate it on new data")
        }
        do {
            return try JSONDecoder().decode(DataPipeline.self, from: Data(text.utf8))
        } catch {
            throw ScalpelError.io(path: source, reason: "the checkpoint's data pipeline is unreadable: \(error)")
        }
    }
}

/// Which rows of a file a saved model is evaluated on.
public enum EvaluationSplit: String, Sendable, CaseIterable {
    /// A MedMNIST file's test split, or every row of a table or UCR file.
    case auto
    case train, validation, test, all

    /// The split an option names: test, validation (or val), train, all, or auto.
    /// - Parameter text: The option's value.
    /// - Returns: The split.
    /// - Throws: `ScalpelError` naming `--split` and the choices.
    public static func parse(_ text: String) throws -> EvaluationSplit {
        guard let split = EvaluationSplit(rawValue: text == "val" ? "validation" : text) else {
            throw ScalpelError.invalidArgument("--split \(text): choose test, validation, train or all")
        }
        return split
    }
}

extension PreparedData {
    /// The rows of `path` as `pipeline` prepares them, all in the test split: a table read with
    /// the training columns, categories, imputation and scaling; images scaled with the training
    /// channel statistics; UCR series padded to the trained length. `label` replaces the
    /// training label column of a table. Labels must be among the model's classes; one class
    /// present is allowed (the metrics that need two then say so).
    public static func load(_ path: String, with pipeline: DataPipeline, label: String? = nil, labels: String? = nil,
                            split: EvaluationSplit = .auto, keys: KeyRing? = nil, requireLabels: Bool = true) throws -> PreparedData {
        if isImageCollection(path) {
            do {
                return try evaluationCollection(path, pipeline, split: split, requireLabels: requireLabels)
            } catch let error as ImageFileError {
                throw ScalpelError.invalidArgument(error.description)
            }
        }
        let source = try DataSource.open(path, keys: { keys })
        if source.fileExtension == "npy" {
            do {
                return try evaluationArrays(source, pipeline, labels: labels, keys: keys, requireLabels: requireLabels)
            } catch let error as ScalpelError {
                throw error
            } catch {
                throw ScalpelError.invalidArgument("\(error)")
            }
        }
        if pipeline.arrays != nil {
            throw ScalpelError.invalidArgument("\(path): the model was trained on .npy arrays; give an .npy of samples with --labels")
        }
        return try prepare(source, path: path, with: pipeline, label: label, split: split, requireLabels: requireLabels)
    }

    /// The rows of a CSV, MedMNIST or UCR `source` (the file at `path`, or a block of it) as
    /// `pipeline` prepares them, all in the test split.
    static func prepare(_ source: DataSource, path: String, with pipeline: DataPipeline, label: String?, split: EvaluationSplit,
                        requireLabels: Bool) throws -> PreparedData {
        guard kind(of: path) == pipeline.kind else {
            throw ScalpelError.invalidArgument("\(path): the model was trained on \(pipeline.kind.rawValue) data and this file holds "
                + (kind(of: path).map { "\($0.rawValue) data" } ?? "an unknown format '.\(source.fileExtension)'"))
        }
        if split != .auto && pipeline.kind != .images && split != .all {
            throw ScalpelError.invalidArgument("--split \(split.rawValue): only a MedMNIST file has splits; a \(pipeline.kind.rawValue) file is evaluated whole")
        }
        var prepared: PreparedData
        do {
            switch pipeline.kind {
            case .table: prepared = try evaluationTable(source, pipeline, label: label, requireLabels: requireLabels)
            case .images: prepared = try evaluationImages(source, pipeline, split: split)
            case .sequences: prepared = try evaluationSequences(source, pipeline, requireLabels: requireLabels)
            }
        } catch let error as ScalpelError {
            throw error
        } catch {
            throw ScalpelError.invalidArgument("\(error)")
        }
        prepared.classNames = pipeline.classNames
        prepared.pipeline = pipeline
        guard !prepared.test.isEmpty else { throw ScalpelError.invalidArgument("\(path): no rows to evaluate") }
        return prepared
    }

    static func evaluationTable(_ source: DataSource, _ pipeline: DataPipeline, label: String?, requireLabels: Bool = true) throws -> PreparedData {
        let url = source.url
        guard let schema = pipeline.table else { throw ScalpelError.invalidArgument("the checkpoint's table pipeline is incomplete") }
        let labelColumn = label ?? schema.labelColumn
        var table = try source.csv()
        // Rows to predict need no label: the first class stands in for the missing column.
        let unlabelled = !requireLabels && table.columnIndex(named: labelColumn) == nil
        if unlabelled { table = table.appending(column: labelColumn, value: pipeline.fileClasses[0]) }
        // Only the trained columns are read; anything else in the file (new columns, identifiers) is left out.
        let trainedColumns = Set(schema.columns.map(\.name))
        for column in trainedColumns.sorted() where table.columnIndex(named: column) == nil {
            throw ScalpelError.invalidArgument(
                "\(url.path): column \(ClinicDataError.quoted(column)), one the model was trained on, is not in the header")
        }
        let drop = table.columns.filter { !trainedColumns.contains($0) && $0 != labelColumn }
        let dataset = try TabularDataset(table: table, labelColumn: labelColumn, positiveClass: pipeline.positiveClass, dropColumns: drop,
                                         options: TabularDataset.Options(categoricalColumns: schema.categoricalColumns,
                                                                         knownClasses: pipeline.fileClasses))
        // Map the file's features onto the trained ones: a category the file lacks is 0 (NaN
        // where the row's cell is missing); a category the model never saw is counted and
        // left as an all-zero one-hot, the imputed value of a missing category.
        let index = Dictionary(uniqueKeysWithValues: dataset.featureNames.enumerated().map { ($1, $0) })
        let count = dataset.rowCount, width = dataset.featureCount
        var values = [Float](repeating: 0, count: count * schema.featureNames.count)
        var unseen: [String: Int] = [:]
        for column in schema.columns {
            let isCategorical = schema.featureKinds[column.features[0]] != .numeric
            let fileFeatures = dataset.featureKinds.indices.filter {
                if case let .oneHot(name, _) = dataset.featureKinds[$0] { return name == column.name }
                return dataset.featureNames[$0] == column.name
            }
            if !isCategorical {
                guard let source = index[column.name], dataset.featureKinds[source] == .numeric else {
                    throw ScalpelError.invalidArgument("\(url.path), column \(ClinicDataError.quoted(column.name)): the model was "
                        + "trained on numbers here, and the file holds words")
                }
                for row in 0 ..< count { values[row * schema.featureNames.count + column.features[0]] = dataset.features[row * width + source] }
                continue
            }
            let trained = Set(column.features.map { schema.featureNames[$0] })
            for row in 0 ..< count {
                let cells = fileFeatures.map { dataset.features[row * width + $0] }
                let missing = cells.contains { $0.isNaN } || (fileFeatures.isEmpty)
                for feature in column.features {
                    let value: Float = missing ? .nan : index[schema.featureNames[feature]].map { dataset.features[row * width + $0] } ?? 0
                    values[row * schema.featureNames.count + feature] = value
                }
                if !missing, let hot = fileFeatures.first(where: { dataset.features[row * width + $0] == 1 }),
                   !trained.contains(dataset.featureNames[hot]) {
                    // The notes reach metrics.json, which is written in the clear: an encrypted
                    // file's categories (its cells) are counted by column there, not named.
                    unseen[source.isEncrypted ? column.name : dataset.featureNames[hot], default: 0] += 1
                }
            }
        }
        let missingCounts = (0 ..< schema.featureNames.count).map { f in (0 ..< count).filter { values[$0 * schema.featureNames.count + f].isNaN }.count }
        let filled = try schema.imputer.transform(values)
        var notes = ["normalisation": "the training rows' mean and standard deviation (from the checkpoint)",
                     "missing values": missingCounts.allSatisfy { $0 == 0 } ? "none"
                         : zip(schema.featureNames, missingCounts).filter { $0.1 > 0 }.map { "\($0.0): \($0.1) imputed" }.joined(separator: "; ")
                         + " (with the training rows' values)"]
        if !unseen.isEmpty {
            notes["unseen categories"] = unseen.sorted { $0.key < $1.key }.map { "\($0.key) (\($0.value) rows)" }.joined(separator: ", ")
                + ": categories the model never saw, encoded as all-zero one-hots"
                + (source.isEncrypted ? " (by column; the categories are withheld: the data is encrypted)" : "")
        }
        return PreparedData(kind: .table, values: try schema.standardizer.transform(filled), sampleShape: pipeline.sampleShape,
                            labels: dataset.labels, classNames: pipeline.classNames, train: [], validation: [], test: Array(0 ..< count),
                            notes: notes, pipeline: pipeline, hasLabels: !unlabelled, sampleIDs: dataset.lineNumbers.map(String.init), sampleIDName: "line")
    }

    static func evaluationImages(_ source: DataSource, _ pipeline: DataPipeline, split: EvaluationSplit) throws -> PreparedData {
        let url = source.url
        guard let stats = pipeline.images else { throw ScalpelError.invalidArgument("the checkpoint's image pipeline is incomplete") }
        guard stats.files == nil else {
            throw ScalpelError.invalidArgument("\(url.path): the model was trained on an image folder; give a folder (one subfolder per class) or a manifest")
        }
        let (train, validation, test) = try source.medMNIST(classCount: stats.fileClassCount)
        let geometry = [train.channels, train.height, train.width]
        guard geometry == pipeline.sampleShape else {
            throw ScalpelError.invalidArgument("\(url.path): the images are \(geometry.map(String.init).joined(separator: "×")) (C×H×W); "
                + "the model takes \(pipeline.sampleShape.map(String.init).joined(separator: "×"))")
        }
        let chosen: [ImageSplit], names: [String]
        switch split {
        case .auto, .test: (chosen, names) = ([test], ["test"])
        case .validation: (chosen, names) = ([validation], ["val"])
        case .train: (chosen, names) = ([train], ["train"])
        case .all: (chosen, names) = ([train, validation, test], ["train", "val", "test"])
        }
        let labels = ClassChoice.relabel(chosen.flatMap(\.labels), positive: pipeline.positiveClass)
        let values = standardised(chosen.flatMap(\.images), channels: train.channels, plane: train.height * train.width,
                                  mean: stats.mean, std: stats.standardDeviation)
        return PreparedData(kind: .images, values: values, sampleShape: pipeline.sampleShape, labels: labels, classNames: pipeline.classNames,
                            train: [], validation: [], test: Array(0 ..< labels.count),
                            notes: ["split": "the file's \(split == .auto ? "test" : split.rawValue) split",
                                    "normalisation": "the training images' channel mean and standard deviation (from the checkpoint)"],
                            pipeline: pipeline,
                            sampleIDs: zip(names, chosen).flatMap { name, part in (0 ..< part.count).map { "\(name) \($0)" } }, sampleIDName: "sample")
    }

    static func evaluationSequences(_ source: DataSource, _ pipeline: DataPipeline, requireLabels: Bool = true) throws -> PreparedData {
        let url = source.url
        let mapping = try UCRLabelMapping(labels: pipeline.fileClasses)
        var file: UCRDataset
        var labelled = true
        do {
            file = try source.ucr(labelMapping: mapping)
        } catch let error as ClinicDataError {
            guard !requireLabels else { throw error }
            // Series to predict: the first column (the UCR layout keeps one) holds no known label, so
            // whatever it holds is read as a stand-in for one; a file bad for another reason fails again, naming it.
            file = try UCRDataset(bytes: placeholderLabels(try source.bytes(), label: pipeline.fileClasses[0]), source: source.path,
                                  labelMapping: mapping, options: source.ucrOptions, confidential: source.isEncrypted)
            labelled = false
        }
        let length = pipeline.sampleShape[1]
        guard file.seriesLength <= length else {
            throw ScalpelError.invalidArgument("\(url.path): series of up to \(file.seriesLength) values; the model takes at most \(length)")
        }
        let padded = try file.padded(to: length)
        return PreparedData(kind: .sequences, values: padded.values, sampleShape: pipeline.sampleShape,
                            lengths: padded.lengths.allSatisfy { $0 == length } ? nil : padded.lengths,
                            labels: padded.labels, classNames: pipeline.classNames, train: [], validation: [], test: Array(0 ..< padded.count),
                            notes: ["normalisation": "none: the series as the file gives them",
                                    "series length": padded.isVariableLength ? "up to \(length), zero-padded and masked" : "\(length)"],
                            pipeline: pipeline, hasLabels: labelled, sampleIDs: file.lineNumbers.map(String.init), sampleIDName: "line")
    }

    /// UCR bytes with each line's first field (up to the first tab, comma or space) replaced by `label`.
    static func placeholderLabels(_ bytes: [UInt8], label: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var atLineStart = true, inFirstField = false
        for byte in bytes {
            if atLineStart && byte != 0x0A && byte != 0x0D {
                out += Array(label.utf8)
                (atLineStart, inFirstField) = (false, true)
            }
            if inFirstField {
                guard byte == 0x09 || byte == 0x2C || byte == 0x20 || byte == 0x0A || byte == 0x0D else { continue }
                inFirstField = false
            }
            out.append(byte)
            if byte == 0x0A { atLineStart = true }
        }
        return out
    }
}
