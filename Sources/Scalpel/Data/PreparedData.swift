import Foundation
import ScalpelData
import ScalpelMetrics
import ScalpelReport
import ScalpelCore
import ScalpelPrivacy

/// A data set ready for training: every sample's values (already normalised), the sample
/// shape, labels, and the train/validation/test split.
public struct PreparedData: Sendable {
    /// The kind of data, which decides the models that fit.
    public enum Kind: String, Sendable, Codable { case table, images, sequences }

    /// The kind of data: a table, images or signals (`sequences`).
    public var kind: Kind
    /// All samples, row-major: count × sampleShape.
    public var values: [Float]
    /// The shape of one sample: [features] for a table, [C, H, W] for images, [C, L] for signals.
    public var sampleShape: [Int]
    /// Signals of unequal length: each sample's valid time steps (zero-padded after them).
    public var lengths: [Int]? = nil
    /// Every sample's class index, in `0..<classCount`.
    public var labels: [Int32]
    /// The class names in class-index order (`--class-names`, or from the data).
    public var classNames: [String]
    /// The sample indices of the training split.
    public var train: [Int]
    /// The sample indices of the validation split (empty: no validation split).
    public var validation: [Int]
    /// The sample indices of the test split (every sample, in data prepared for a saved model).
    public var test: [Int]
    /// What was done to the data, for the report (split, normalisation).
    public var notes: [String: String]
    /// How the file became these values, for scoring new data with the trained model.
    public var pipeline: DataPipeline? = nil
    /// Whether the data (or its test file) was read from an encrypted file.
    public var encryptedSource = false
    /// Whether `labels` are the samples' true classes (false: data to predict, whose labels are
    /// placeholders).
    public var hasLabels = true
    /// How each sample is named in predictions (a CSV or UCR line, an image's path, a MedMNIST
    /// split and index); nil: by its index.
    public var sampleIDs: [String]? = nil
    /// What `sampleIDs` are, the id column of `predictions.csv`: "line", "path", "sample" or "index".
    public var sampleIDName = "index"

    /// The number of classes.
    public var classCount: Int { classNames.count }


    /// The kind of data a file holds, by its extension (nil: unknown, or an `.npy`, whose
    /// shape decides; see `kind(of:model:)`).
    public static func kind(of path: String) -> Kind? {
        if isImageCollection(path) { return .images }
        return switch DataSource.formatExtension(path) {
        case "csv": .table
        case "npz": .images
        case "tsv", "txt": .sequences
        default: nil
        }
    }

    /// The kind of data a file holds for `model`: by its extension, or for an `.npy` by the
    /// array's shape (nil when unknown or unreadable; loading it then says why).
    public static func kind(of path: String, model: String?, keys: KeyRing? = nil) -> Kind? {
        guard DataSource.formatExtension(path) == "npy" else { return kind(of: path) }
        if EncryptedFile.isEncrypted(path: path) {
            // The shape is inside the ciphertext.
            return (try? DataSource.open(path, keys: { keys }).npy()).flatMap { arrayKind($0.shape, model: model) }
        }
        guard let header = try? NPYArray.shapeAndType(of: URL(fileURLWithPath: path)) else { return nil }
        return arrayKind(header.shape, model: model)
    }

    /// Loads `config.data` by its extension: `.csv` (a table: stratified seeded split,
    /// standardisation fit on the training rows), `.npz` (MedMNIST 2-D images: the official
    /// split, pixels scaled to [0, 1] and standardised per channel with training statistics) or
    /// `.tsv` (a UCR archive file; with `config.test`, the archive's official split).
    public static func load(_ config: TrainingConfig, keys: KeyRing? = nil) throws -> PreparedData {
        let url = URL(fileURLWithPath: config.data)
        for path in [config.data] + (config.test.map { [$0] } ?? []) where !FileManager.default.fileExists(atPath: path) {
            throw ScalpelError.io(path: path, reason: "no such file")
        }
        var prepared: PreparedData
        if isImageCollection(config.data) {
            guard config.test == nil else {
                throw ScalpelError.invalidArgument("--test: an image folder is split from itself (or by its train/, val/ and test/ folders)")
            }
            do {
                prepared = try imageCollection(config)
            } catch let error as ImageFileError {
                throw ScalpelError.invalidArgument(error.description)
            }
            return try prepared.naming(config.classNames)
        }
        do {
            let source = try DataSource.open(config.data, keys: { keys })
            switch kind(of: config.data) {
            case .table?: prepared = try table(source, config, keys: keys)
            case .images?: prepared = try images(source, positive: config.positiveClass)
            case .sequences?: prepared = try sequences(source, config, keys: keys)
            case nil where source.fileExtension == "npy": prepared = try arrays(source, config, keys: keys)
            case nil:
                throw ScalpelError.invalidArgument("\(url.path): unknown data format '.\(source.fileExtension)'; expected .csv (a table), "
                    + ".npz (MedMNIST images), .tsv (a UCR archive file) or .npy (arrays, with --labels)")
            }
            prepared.encryptedSource = source.isEncrypted || (config.test.map { EncryptedFile.isEncrypted(path: $0) } ?? false)
            if config.test != nil && ![.sequences, .table].contains(prepared.kind) {
                throw ScalpelError.invalidArgument("--test takes a CSV table's or a UCR archive's test file; \(prepared.kind.rawValue) data is split from one file")
            }
        } catch let error as ScalpelError {
            throw error
        } catch {
            // The clinical layer's errors name the file, line and column.
            throw ScalpelError.invalidArgument("\(error)")
        }
        return try prepared.naming(config.classNames)
    }

    /// The data with its classes renamed `names` (`--class-names`; nil: as they are).
    func naming(_ names: [String]?) throws -> PreparedData {
        guard let names else { return self }
        guard names.count == classCount, Set(names).count == names.count, !names.contains("") else {
            // The data's class names are its label values: not shown when the data is encrypted.
            let found = encryptedSource ? "" : " (\(ClinicDataError.quotedList(classNames)))"
            throw ScalpelError.invalidArgument("--class-names gives \(names.count) names (\(names.joined(separator: ", "))); the data has "
                + "\(classCount) classes\(found), and names must be distinct and non-empty")
        }
        var renamed = self
        renamed.classNames = names
        renamed.pipeline?.classNames = names
        return renamed
    }

    /// A UCR archive file: one series per line, the label first. With a test file, both use the
    /// training file's labels; a `validationFraction` of each training class (seeded) is held
    /// out for validation. Without one, the training file is split like a table (70/15/15).
    /// Values are used as the file gives them (the archive's series are z-normalised).
    static func sequences(_ source: DataSource, _ config: TrainingConfig, keys: KeyRing?) throws -> PreparedData {
        let url = source.url
        var train = try source.ucr(), test: UCRDataset?
        if let testPath = config.test {
            // The test file takes the training file's classes; both are padded to the longer series.
            let testSet = try DataSource.open(testPath, keys: { keys }).ucr(labelMapping: train.labelMapping)
            let length = max(train.seriesLength, testSet.seriesLength)
            (train, test) = (try train.padded(to: length), try testSet.padded(to: length))
        }
        let (n, m) = (train.count, test?.count ?? 0)
        var notes = ["normalisation": "none: the series as the file gives them (UCR archive series are z-normalised)",
                     "series length": train.isVariableLength || (test?.isVariableLength ?? false)
                         ? "up to \(train.seriesLength), zero-padded and masked" : "\(train.seriesLength)"]
        var split: (train: [Int], validation: [Int], test: [Int])
        if test != nil {
            guard (0 ..< 1).contains(config.validationFraction) else {
                throw ScalpelError.invalidArgument("--validation-fraction \(config.validationFraction) must be in [0, 1)")
            }
            let (trainRows, validationRows) = heldOut(Array(0 ..< n), labels: train.labels, fraction: config.validationFraction, seed: config.seed)
            split = (trainRows, validationRows, Array(n ..< n + m))
            notes["split"] = "the archive's TRAIN/TEST files" + (validationRows.isEmpty ? ", no validation split"
                : "; validation: \(config.validationFraction) of each training class, seeded (\(config.seed))")
        } else {
            guard config.split.count == 3 else { throw ScalpelError.invalidArgument("the split takes three fractions (train, validation, test)") }
            let s = try PreparedData.split(train.labels, config, source: url.path)
            split = (s.train, s.validation, s.test)
            notes["split"] = "stratified, seeded (\(config.seed)), shares \(PreparedData.shares(config.split))"
        }
        let lengths = train.lengths + (test?.lengths ?? [])
        return PreparedData(kind: .sequences, values: train.values + (test?.values ?? []), sampleShape: [1, train.seriesLength],
                            lengths: lengths.allSatisfy { $0 == train.seriesLength } ? nil : lengths,
                            labels: train.labels + (test?.labels ?? []), classNames: train.classNames.map { "class \($0)" },
                            train: split.train, validation: split.validation, test: split.test, notes: notes,
                            pipeline: DataPipeline(kind: .sequences, sampleShape: [1, train.seriesLength], classNames: train.classNames.map { "class \($0)" },
                                                   fileClasses: train.classNames),
                            sampleIDs: (train.lineNumbers + (test?.lineNumbers ?? [])).map(String.init), sampleIDName: "line")
    }

    /// The number of `rows` of each class, in class-index order.
    public func classCounts(_ rows: [Int]) -> [Int] {
        var counts = [Int](repeating: 0, count: classCount)
        for row in rows where Int(labels[row]) < classCount { counts[Int(labels[row])] += 1 }
        return counts
    }

    /// Numbers for the notes a report shows: "0.3276, 0.2105" (four decimals, no brackets).
    static func decimals(_ values: [Double]) -> String { values.map { String(format: "%.4f", $0) }.joined(separator: ", ") }

    /// Split shares for the notes: "70/15/15 %".
    static func shares(_ fractions: [Double]) -> String {
        fractions.map { String(format: "%g", ($0 * 1000).rounded() / 10) }.joined(separator: "/") + " %"
    }

    /// `fraction` of each class of `rows` (rounded, seeded) held out for validation; both parts sorted.
    static func heldOut(_ rows: [Int], labels: [Int32], fraction: Double, seed: UInt64) -> (train: [Int], validation: [Int]) {
        var random = SeededRandom(seed: seed &+ 5)
        var (trainRows, validationRows) = ([Int](), [Int]())
        for (_, members) in Dictionary(grouping: rows, by: { labels[$0] }).sorted(by: { $0.key < $1.key }) {
            var shuffled = members
            shuffled.shuffle(using: &random)
            let held = Int((fraction * Double(members.count)).rounded())
            validationRows += shuffled.prefix(held)
            trainRows += shuffled.dropFirst(held)
        }
        return (trainRows.sorted(), validationRows.sorted())
    }

    /// The stratified, seeded train/validation/test split of a file without one; an error names the file.
    static func split(_ labels: [Int32], _ config: TrainingConfig, source: String) throws -> StratifiedSplit {
        do {
            return try StratifiedSplit.split(labels: labels, fractions: (config.split[0], config.split[1], config.split[2]), seed: config.seed)
        } catch {
            throw ScalpelError.invalidArgument("\(source): \(error)")
        }
    }

    /// The rows of each split when rows are grouped (a patient's admissions): whole groups go to
    /// one split, stratified by each group's most frequent label, so that no group has rows in
    /// two splits. `groups` holds each row's group; a row without one is an error naming its line.
    static func groupSplit(_ labels: [Int32], groups: [String], lines: [Int], column: String, _ config: TrainingConfig,
                           source: String) throws -> (train: [Int], validation: [Int], test: [Int], groupCount: Int) {
        var rowsOf: [String: [Int]] = [:], order: [String] = []
        for (row, group) in groups.enumerated() {
            guard !TabularDataset.Options().missingMarkers.contains(group) else {
                throw ScalpelError.invalidArgument("\(source), line \(lines[row]): no \(column) (every row needs its group for a grouped split)")
            }
            if rowsOf[group] == nil { order.append(group) }
            rowsOf[group, default: []].append(row)
        }
        let groupLabels = order.map { group -> Int32 in
            var counts: [Int32: Int] = [:]
            for row in rowsOf[group]! { counts[labels[row], default: 0] += 1 }
            return counts.max { $0.value != $1.value ? $0.value < $1.value : $0.key > $1.key }!.key
        }
        let split: StratifiedSplit
        do {
            split = try StratifiedSplit.split(labels: groupLabels, fractions: (config.split[0], config.split[1], config.split[2]), seed: config.seed)
        } catch {
            throw ScalpelError.invalidArgument("\(source), grouped by \(column): \(error)")
        }
        func rows(_ indices: [Int]) -> [Int] { indices.flatMap { rowsOf[order[$0]]! }.sorted() }
        return (rows(split.train), rows(split.validation), rows(split.test), order.count)
    }

    /// A CSV table for training: identifier- and date-like columns left out, split (by group with
    /// `groupColumn`), imputed and standardised with the training rows' statistics. With
    /// `config.test`, that file is the test set (a later period, another hospital): the training
    /// file gives the training and validation rows, and the test file goes through the same
    /// pipeline, as a saved model's new data would.
    static func table(_ source: DataSource, _ config: TrainingConfig, keys: KeyRing? = nil) throws -> PreparedData {
        let url = source.url
        let csv = try source.csv()
        // Columns that look like identifiers or dates are not features unless named.
        let named = Set([config.label] + config.dropColumns + config.categoricalColumns + (config.featureColumns ?? [])
            + (config.groupColumn.map { [$0] } ?? []))
        let leftOut = ColumnScreen.screen(csv, keeping: named)
        let groups: [String]?
        if let column = config.groupColumn {
            guard let values = csv.column(named: column) else {
                throw ScalpelError.invalidArgument("\(url.path): no column \(column) to group the rows by (--group-column); the columns are "
                    + csv.columns.joined(separator: ", "))
            }
            groups = values.map { $0.trimmingCharacters(in: .whitespaces) }
        } else {
            groups = nil
        }
        let dropped = config.dropColumns + leftOut.map(\.column) + (config.groupColumn.map { [$0] } ?? [])
        // Word columns are one-hot encoded; empty, "NA" and "?" cells are missing (imputed below).
        let dataset = try TabularDataset(table: csv, labelColumn: config.label, positiveClass: config.positiveClass, dropColumns: dropped,
                                         options: TabularDataset.Options(categoricalColumns: config.categoricalColumns))
        guard config.split.count == 3 else { throw ScalpelError.invalidArgument("the split takes three fractions (train, validation, test)") }
        let split: (train: [Int], validation: [Int], test: [Int])
        var splitNote = "stratified, seeded (\(config.seed)), shares \(PreparedData.shares(config.split))"
        if let groups, let column = config.groupColumn {
            let grouped = try groupSplit(dataset.labels, groups: groups, lines: csv.lineNumbers, column: column, config, source: url.path)
            split = (grouped.train, grouped.validation, grouped.test)
            splitNote = "by \(column): \(grouped.groupCount) groups, each wholly in one split (no \(column) has rows in two), "
                + "stratified by each group's most frequent label, seeded (\(config.seed)), shares \(PreparedData.shares(config.split))"
        } else {
            let rows = try PreparedData.split(dataset.labels, config, source: url.path)
            split = (rows.train, rows.validation, rows.test)
        }
        // With a test file, the training file's test share trains (the split stays stratified and seeded).
        let trainRows = config.test == nil ? split.train : (split.train + split.test).sorted()
        // Missing values take the training rows' median (an all-zero one-hot for a category).
        let imputer = try Imputer.fit(dataset, rows: trainRows, strategy: .median)
        let imputed = try imputer.report(for: dataset.features)
        let filled = try imputer.transform(dataset.features)
        let standardizer = try Standardizer.fit(features: filled, rows: trainRows, featureCount: dataset.featureCount)
        let oneHot = Set(dataset.featureKinds.compactMap { kind -> String? in
            if case let .oneHot(column, _) = kind { return column } else { return nil }
        })
        let schema = DataPipeline.Table(labelColumn: config.label, dropColumns: dropped, categoricalColumns: oneHot.sorted(),
                                        featureNames: dataset.featureNames, featureKinds: dataset.featureKinds, imputer: imputer,
                                        standardizer: standardizer)
        let pipeline = DataPipeline(kind: .table, sampleShape: [dataset.featureCount], classNames: dataset.classNames,
                                    fileClasses: dataset.classNames, positiveClass: config.positiveClass, table: schema)
        var values = try standardizer.transform(filled), labels = dataset.labels, testRows = split.test
        var ids = dataset.lineNumbers.map(String.init)
        var extra: [String: String] = [:]
        if let testPath = config.test {
            guard PreparedData.kind(of: testPath) == .table else {
                throw ScalpelError.invalidArgument("--test \(testPath): the test file of a CSV table must be a .csv table too")
            }
            // The test file through the training file's pipeline; its rows follow the training file's.
            let test = try evaluationTable(try DataSource.open(testPath, keys: { keys }), pipeline, label: config.label)
            values += test.values
            labels += test.labels
            ids += test.sampleIDs ?? []
            testRows = Array(dataset.rowCount ..< dataset.rowCount + test.labels.count)
            splitNote += "; the test rows are \(URL(fileURLWithPath: testPath).lastPathComponent) (\(test.labels.count) rows, prepared with "
                + "the training rows' statistics), and the training file's own test share trains"
            for (key, note) in test.notes where key != "normalisation" { extra["test file: \(key)"] = note }
        }
        return PreparedData(kind: .table, values: values, sampleShape: [dataset.featureCount],
                            labels: labels, classNames: dataset.classNames, train: trainRows, validation: split.validation, test: testRows,
                            notes: extra.merging(["split": splitNote,
                                    "columns left out": leftOut.isEmpty ? "none"
                                        : leftOut.map(\.description).joined(separator: "; ")
                                            + " — not features; name them with --features or --categorical to use them",
                                    "normalisation": "standardised with the training rows' mean and standard deviation",
                                    "missing values": imputed.isEmpty ? "none" : imputed.map(\.description).joined(separator: "; ")
                                        + " (fit on the training rows)",
                                    "categorical columns": oneHot.isEmpty ? "none" : oneHot.sorted().joined(separator: ", ") + " (one-hot encoded)"]) { $1 },
                            pipeline: pipeline, sampleIDs: ids, sampleIDName: "line")
    }

    static func images(_ source: DataSource, positive: String?) throws -> PreparedData {
        let (train, validation, test) = try source.medMNIST()
        // Names and the positive class from NAME.json beside the file, where there is one.
        let classes = try ClassChoice.resolve(path: source.path, classCount: train.classCount, positive: positive, kind: "images")
        let labels = classes.relabel(train.labels + validation.labels + test.labels)
        let classNames = classes.names
        let (c, hw) = (train.channels, train.height * train.width)
        // Per-channel mean and standard deviation of the training images.
        let (mean, std) = channelStatistics(train.images, rows: Array(0 ..< train.count), channels: c, area: hw)
        let values = standardised(train.images + validation.images + test.images, channels: c, plane: hw, mean: mean, std: std)
        let (a, b) = (train.count, train.count + validation.count)
        return PreparedData(kind: .images, values: values, sampleShape: [c, train.height, train.width],
                            labels: labels, classNames: classNames,
                            train: Array(0 ..< a), validation: Array(a ..< b), test: Array(b ..< b + test.count),
                            notes: ["split": "the file's official train/val/test split",
                                    "classes": classes.note ?? classNames.joined(separator: ", "),
                                    "normalisation": "pixels in [0, 1], standardised per channel with the training images' mean \(PreparedData.decimals(mean)) and standard deviation \(PreparedData.decimals(std))"],
                            pipeline: DataPipeline(kind: .images, sampleShape: [c, train.height, train.width], classNames: classNames,
                                                   fileClasses: (0 ..< train.classCount).map(String.init), positiveClass: classes.positive.map(String.init),
                                                   images: .init(fileClassCount: train.classCount, mean: mean, standardDeviation: std)),
                            sampleIDs: [("train", train.count), ("val", validation.count), ("test", test.count)].flatMap { name, count in
                                (0 ..< count).map { "\(name) \($0)" } },
                            sampleIDName: "sample")
    }
}

extension PreparedData {
    /// Samples already in memory with their rows already split: `values` holds
    /// `labels.count` samples of `sampleShape` row-major ([features] for a table, [C, L] for
    /// signals, [C, H, W] for images, which decides `kind`); labels are class indices into
    /// `classNames` (default "0", "1", …).
    public init(values: [Float], sampleShape: [Int], labels: [Int32], classNames: [String]? = nil,
                train: [Int], validation: [Int] = [], test: [Int] = []) throws {
        guard (1 ... 3).contains(sampleShape.count), sampleShape.allSatisfy({ $0 > 0 }) else {
            throw ScalpelError.invalidArgument("sample shape \(sampleShape): give [features], [channels, length] or [channels, height, width]")
        }
        guard labels.count * sampleShape.reduce(1, *) == values.count else {
            throw ScalpelError.shapeMismatch(op: "PreparedData", detail: "\(values.count) values are not \(labels.count) samples of \(sampleShape)")
        }
        let classes = classNames?.count ?? Int((labels.max() ?? 0) + 1)
        if let bad = labels.firstIndex(where: { $0 < 0 || Int($0) >= classes }) {
            throw ScalpelError.invalidArgument("label \(labels[bad]) of row \(bad) is not a class index below \(classes)")
        }
        guard classes >= 2 else { throw ScalpelError.invalidArgument("a classifier needs at least two classes, the labels hold \(classes)") }
        if let bad = (train + validation + test).first(where: { !labels.indices.contains($0) }) {
            throw ScalpelError.invalidArgument("row \(bad) is not one of the \(labels.count) samples")
        }
        kind = [.table, .sequences, .images][sampleShape.count - 1]
        self.values = values
        self.sampleShape = sampleShape
        self.labels = labels
        self.classNames = classNames ?? (0 ..< classes).map(String.init)
        self.train = train
        self.validation = validation
        self.test = test
        notes = ["split": "given: \(train.count) train / \(validation.count) validation / \(test.count) test rows"]
    }

    /// Samples in memory split into training, validation and test rows class by class (each
    /// split keeps the classes' proportions; seeded, so the same labels, fractions and seed give
    /// the same rows). See `init(values:sampleShape:labels:classNames:train:validation:test:)`.
    public static func split(values: [Float], sampleShape: [Int], labels: [Int32], classNames: [String]? = nil,
                             fractions: (train: Double, validation: Double, test: Double) = (0.7, 0.15, 0.15),
                             seed: UInt64 = 0) throws -> PreparedData {
        let rows: StratifiedSplit
        do {
            rows = try StratifiedSplit.split(labels: labels, fractions: fractions, seed: seed)
        } catch {
            throw ScalpelError.invalidArgument("\(error)")
        }
        var data = try PreparedData(values: values, sampleShape: sampleShape, labels: labels, classNames: classNames,
                                    train: rows.train, validation: rows.validation, test: rows.test)
        data.notes["split"] = "stratified \(fractions.train)/\(fractions.validation)/\(fractions.test), seed \(seed): "
            + "\(rows.train.count) train / \(rows.validation.count) validation / \(rows.test.count) test rows"
        return data
    }

    /// A data file as `scalpel train --data` reads it — a CSV table (`label`: the class
    /// column; `positiveClass`: the label value that becomes class 1), a MedMNIST `.npz`, a UCR
    /// `.tsv` — loaded, split (seeded) and normalised as the command does.
    public static func load(_ path: String, label: String = "label", positiveClass: String? = nil, seed: UInt64 = 0) throws -> PreparedData {
        var config = TrainingConfig(data: path, label: label, out: "")
        config.positiveClass = positiveClass
        config.seed = seed
        return try load(config)
    }
}
