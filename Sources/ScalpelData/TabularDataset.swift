import Foundation

/// A table of numeric features and an integer class label per row, ready for training.
///
/// Built from a `CSVTable`: one column is the label, columns listed in `dropColumns` are left
/// out (identifiers, free text), and every other column becomes one or more features. How
/// cells are read is set by `Options`:
///
/// - `Options.strict` (the default of `init(table:...)` and `load(from:...)`): every feature
///   cell must hold a finite number. An empty cell, a word, NaN or ±Inf is an error that names
///   the file, line, column and the offending text (quoted cut to a few dozen characters, and
///   withheld when the table `isConfidential`).
/// - `Options()` (the clinical defaults): a column whose present cells are all words is
///   *categorical* and is one-hot encoded; a cell equal to a missing-value marker (by default
///   an empty cell, `NA` or `?`) is *missing* and stored as NaN, counted in `missingCounts`,
///   for an `Imputer` fitted on the training rows to fill in. Everything else stays an error.
///
/// In every mode the literal texts NaN, Inf and ±Infinity, and numbers beyond the range of a
/// Float, are errors: they are bad data, not missing values (list "NaN" as a marker to have it
/// read as missing). A column mixing numbers and words is an error naming the first word (it is
/// most likely a typo), and so is a column in which every cell is missing. A missing label is
/// an error: a row without a diagnosis cannot be trained or scored on.
///
/// One-hot encoding: a categorical column `c` becomes one feature per category `v`, named
/// `"c=v"`, with the categories in sorted order; a row holds 1 in the feature of its category
/// and 0 in the others. A row whose categorical cell is missing holds NaN in all of the
/// column's features (so the gap is visible and counted), which `Imputer` turns into 0, an
/// all-zero one-hot. The category *names* are taken from every row of the file, so that a
/// category seen only in the validation or test rows still has a feature; their frequencies,
/// and every statistic used to fill or scale values, come from the training rows only
/// (`Imputer`, `Standardizer`).
public struct TabularDataset: Equatable, Sendable {
    /// How feature cells are read: which columns are categorical and which cells are missing.
    public struct Options: Equatable, Sendable {
        /// Cell texts that mean "not measured", compared after trimming surrounding spaces and
        /// tabs, case-sensitively. Empty means no cell is missing, so an empty cell is an error.
        public var missingMarkers: Set<String>
        /// Whether a column whose present cells are all non-numeric is one-hot encoded (when
        /// `false`, a word in a feature column is an error).
        public var detectCategorical: Bool
        /// Columns to one-hot encode even though their cells are numbers (codes such as a chest
        /// pain type 1–4); each must be in the header and be neither the label nor dropped.
        public var categoricalColumns: [String]
        /// The classes are given (a trained model's, in its class-index order) instead of read
        /// from the labels: a label outside them is an error naming its line, and a file may hold
        /// only one of them (a new cohort to evaluate on). With a positive class, every label
        /// other than it is class 0.
        public var knownClasses: [String]?

        /// The clinical defaults: empty cells, `NA` and `?` (the marker of the UCI repository)
        /// are missing, and word columns are one-hot encoded.
        public init(
            missingMarkers: Set<String> = ["", "NA", "?"], detectCategorical: Bool = true,
            categoricalColumns: [String] = [], knownClasses: [String]? = nil
        ) {
            self.missingMarkers = missingMarkers
            self.detectCategorical = detectCategorical
            self.categoricalColumns = categoricalColumns
            self.knownClasses = knownClasses
        }

        /// Every feature cell must be a finite number: nothing missing, nothing categorical.
        public static let strict = Options(missingMarkers: [], detectCategorical: false)
    }

    /// What a feature holds.
    public enum FeatureKind: Codable, Equatable, Hashable, Sendable {
        /// The number in a numeric column (the feature is named after the column).
        case numeric
        /// 1 when the row's cell in the categorical `column` is `category`, else 0.
        case oneHot(column: String, category: String)
    }

    /// Where the rows came from, for messages and reports.
    public let source: String
    /// The name of the column the labels were taken from.
    public let labelColumn: String
    /// The feature names, in the order of the values within a row of `features`: a numeric
    /// column's header name, or `"column=category"` for a one-hot feature.
    public let featureNames: [String]
    /// What each feature holds, parallel to `featureNames`.
    public let featureKinds: [FeatureKind]
    /// The feature values, row-major: row `r` is `features[r * featureCount ..< (r + 1) * featureCount]`.
    /// A missing cell is NaN (in every feature of its column, for a categorical one).
    public let features: [Float]
    /// For each feature, how many rows have it missing (NaN), parallel to `featureNames`; the
    /// features of one categorical column share the count of rows whose cell is missing.
    public let missingCounts: [Int]
    /// The class of each row, an index into `classNames`.
    public let labels: [Int32]
    /// The name of each class; class `i` is `classNames[i]`.
    public let classNames: [String]
    /// For each row, the 1-based line of the source file it came from.
    public let lineNumbers: [Int]

    /// The number of rows.
    public var rowCount: Int { labels.count }
    /// The number of feature values per row.
    public var featureCount: Int { featureNames.count }
    /// The number of classes.
    public var classCount: Int { classNames.count }
    /// Whether any feature value is missing (so an `Imputer` must run before a `Standardizer`).
    public var hasMissingValues: Bool { missingCounts.contains { $0 > 0 } }

    /// The source column of each feature: the feature's name for a numeric one, the
    /// categorical column for a one-hot one.
    public var featureColumns: [String] {
        zip(featureNames, featureKinds).map { name, kind in
            if case let .oneHot(column, _) = kind { return column }
            return name
        }
    }

    /// How many rows each class has, indexed by class.
    public var classCounts: [Int] {
        var counts = [Int](repeating: 0, count: classCount)
        for label in labels { counts[Int(label)] += 1 }
        return counts
    }

    /// Builds a dataset from `table`.
    ///
    /// - Parameters:
    ///   - table: the parsed CSV file, header first.
    ///   - labelColumn: the header name of the column that holds the diagnosis.
    ///   - positiveClass: when given, the task is binary: rows whose label is exactly this value
    ///     are class 1 and every other row is class 0. Class 0 is named after the other value
    ///     when there is only one (for WDBC with "M": `["B", "M"]`), else "not <positive>".
    ///     When `nil`, the classes are the distinct label values in sorted order.
    ///   - dropColumns: columns to leave out of the features; each must exist in the header.
    ///   - options: how cells are read; `.strict` (every feature cell a finite number) unless given.
    /// - Throws: `ClinicDataError` for a missing column, a cell that is not a finite number in a
    ///   numeric column, a column mixing numbers and words, a column with every cell missing, a
    ///   missing label, a positive class that never occurs, fewer than two classes, or no
    ///   features. When several cells are bad, the first in reading order is reported.
    public init(
        table: CSVTable, labelColumn: String, positiveClass: String? = nil, dropColumns: [String] = [],
        options: Options = .strict
    ) throws(ClinicDataError) {
        let file = ClinicDataError.Location(source: table.source, confidential: table.isConfidential)
        guard let labelIndex = table.columnIndex(named: labelColumn) else {
            throw .missingColumn(file, name: labelColumn, role: "label", available: table.columns)
        }
        for name in dropColumns where table.columnIndex(named: name) == nil {
            throw .missingColumn(file, name: name, role: "dropped", available: table.columns)
        }
        let dropped = Set(dropColumns).union([labelColumn])
        for name in options.categoricalColumns {
            if table.columnIndex(named: name) == nil {
                throw .missingColumn(file, name: name, role: "categorical", available: table.columns)
            }
            if dropped.contains(name) {
                let role = name == labelColumn ? "the label" : "dropped"
                throw .invalidInput(
                    reason: "\(table.source), column \(ClinicDataError.quoted(name)): listed as categorical but it is \(role)")
            }
        }
        let featureIndices = table.columns.indices.filter { !dropped.contains(table.columns[$0]) }
        if featureIndices.isEmpty { throw .noFeatureColumns(file) }

        let rawLabels = try Self.labelCells(table, labelIndex: labelIndex, missingMarkers: options.missingMarkers)
        let classNames: [String], labels: [Int32]
        if let known = options.knownClasses {
            (classNames, labels) = try Self.encode(
                rawLabels, known: known, positiveClass: positiveClass, table: table, labelIndex: labelIndex)
        } else {
            (classNames, labels) = try Self.encode(
                rawLabels, positiveClass: positiveClass,
                at: .init(source: table.source, column: labelColumn, confidential: table.isConfidential))
        }

        // Read every column first, then report the first bad cell in reading order (row by
        // row, left to right), so the error does not depend on how columns are scanned.
        let forced = Set(options.categoricalColumns)
        var columns: [ColumnEncoding] = []
        var firstError: (row: Int, field: Int, error: ClinicDataError)?
        for column in featureIndices {
            switch ColumnEncoding.read(
                table, column: column, forceCategorical: forced.contains(table.columns[column]), options: options)
            {
            case let .success(encoding):
                columns.append(encoding)
            case let .failure(failure):
                if firstError.map({ (failure.row, column) < ($0.row, $0.field) }) ?? true {
                    firstError = (failure.row, column, failure.error)
                }
            }
        }
        if let firstError { throw firstError.error }

        var names: [String] = []
        var kinds: [FeatureKind] = []
        for encoding in columns {
            switch encoding {
            case let .numeric(name, _):
                names.append(name)
                kinds.append(.numeric)
            case let .categorical(name, categories, _):
                names += categories.map { "\(name)=\($0)" }
                kinds += categories.map { .oneHot(column: name, category: $0) }
            }
        }
        var features: [Float] = []
        features.reserveCapacity(table.rowCount * names.count)
        for row in 0..<table.rowCount {
            for encoding in columns {
                switch encoding {
                case let .numeric(_, values):
                    features.append(values[row])
                case let .categorical(_, categories, codes):
                    if let code = codes[row] {
                        for index in categories.indices { features.append(index == code ? 1 : 0) }
                    } else {
                        features.append(contentsOf: repeatElement(Float.nan, count: categories.count))
                    }
                }
            }
        }

        source = table.source
        self.labelColumn = labelColumn
        featureNames = names
        featureKinds = kinds
        self.features = features
        missingCounts = Self.countMissing(features, featureCount: names.count)
        self.labels = labels
        self.classNames = classNames
        lineNumbers = table.lineNumbers
    }

    /// Reads the CSV file at `url` and builds a dataset from it; see
    /// `init(table:labelColumn:positiveClass:dropColumns:options:)`.
    public static func load(
        from url: URL, labelColumn: String, positiveClass: String? = nil, dropColumns: [String] = [],
        options: Options = .strict
    ) throws(ClinicDataError) -> TabularDataset {
        try TabularDataset(
            table: CSVTable.load(from: url), labelColumn: labelColumn, positiveClass: positiveClass,
            dropColumns: dropColumns, options: options)
    }

    /// The rows at `indices` (in that order) as a dataset of their own, for a training,
    /// validation or test split. The class names stay those of the whole dataset.
    public func subset(_ indices: [Int]) -> TabularDataset {
        var rows: [Float] = []
        rows.reserveCapacity(indices.count * featureCount)
        for index in indices {
            rows.append(contentsOf: features[index * featureCount..<(index + 1) * featureCount])
        }
        return TabularDataset(
            source: source, labelColumn: labelColumn, featureNames: featureNames, featureKinds: featureKinds,
            features: rows, labels: indices.map { labels[$0] }, classNames: classNames,
            lineNumbers: indices.map { lineNumbers[$0] })
    }

    private init(
        source: String, labelColumn: String, featureNames: [String], featureKinds: [FeatureKind], features: [Float],
        labels: [Int32], classNames: [String], lineNumbers: [Int]
    ) {
        self.source = source
        self.labelColumn = labelColumn
        self.featureNames = featureNames
        self.featureKinds = featureKinds
        self.features = features
        missingCounts = Self.countMissing(features, featureCount: featureNames.count)
        self.labels = labels
        self.classNames = classNames
        self.lineNumbers = lineNumbers
    }

    /// For each feature, the number of NaN values in its column of `features`.
    private static func countMissing(_ features: [Float], featureCount: Int) -> [Int] {
        var counts = [Int](repeating: 0, count: featureCount)
        guard featureCount > 0 else { return counts }
        for (index, value) in features.enumerated() where value.isNaN { counts[index % featureCount] += 1 }
        return counts
    }

    /// The label cells, refusing empty ones and missing-value markers: a missing diagnosis is
    /// not a class of its own.
    private static func labelCells(
        _ table: CSVTable, labelIndex: Int, missingMarkers: Set<String>
    ) throws(ClinicDataError) -> [String] {
        var cells: [String] = []
        cells.reserveCapacity(table.rowCount)
        for (row, fields) in table.rows.enumerated() {
            let cell = fields[labelIndex]
            let at = ClinicDataError.Location(
                source: table.source, line: table.lineNumbers[row], field: labelIndex + 1,
                column: table.columns[labelIndex], confidential: table.isConfidential)
            if cell.allSatisfy(\.isWhitespace) {
                throw .invalidLabel(at, reason: "empty label")
            }
            if missingMarkers.contains(trimmedCell(cell)) {
                let marker = at.isConfidential ? "" : " \(ClinicDataError.quoted(cell))"
                throw .invalidLabel(at, reason: "missing label\(marker) (a missing-value marker); every row needs a label")
            }
            cells.append(cell)
        }
        return cells
    }

    /// Maps label strings onto given classes (a trained model's): with a positive class, it is
    /// class 1 and everything else class 0; without, each label must be one of `known`.
    private static func encode(
        _ cells: [String], known: [String], positiveClass: String?, table: CSVTable, labelIndex: Int
    ) throws(ClinicDataError) -> ([String], [Int32]) {
        if let positiveClass {
            return (known, cells.map { $0 == positiveClass ? 1 : 0 })
        }
        let index = Dictionary(known.enumerated().map { ($1, Int32($0)) }) { first, _ in first }
        var labels: [Int32] = []
        labels.reserveCapacity(cells.count)
        for (row, cell) in cells.enumerated() {
            guard let label = index[cell] else {
                throw .unknownLabel(
                    .init(source: table.source, line: table.lineNumbers[row], field: labelIndex + 1,
                          column: table.columns[labelIndex], confidential: table.isConfidential), label: cell, known: known)
            }
            labels.append(label)
        }
        return (known, labels)
    }

    /// Maps label strings to class indices, returning the class names and the labels.
    private static func encode(
        _ cells: [String], positiveClass: String?, at location: ClinicDataError.Location
    ) throws(ClinicDataError) -> ([String], [Int32]) {
        let distinct = Set(cells).sorted()
        guard let positiveClass else {
            if distinct.count < 2 { throw .tooFewClasses(location, found: distinct) }
            let index = Dictionary(uniqueKeysWithValues: distinct.enumerated().map { ($1, Int32($0)) })
            return (distinct, cells.map { index[$0]! })
        }
        guard distinct.contains(positiveClass) else {
            throw .positiveClassNotFound(location, positiveClass: positiveClass, found: distinct)
        }
        let others = distinct.filter { $0 != positiveClass }
        if others.isEmpty { throw .tooFewClasses(location, found: distinct) }
        let negativeName = others.count == 1 ? others[0] : "not \(positiveClass)"
        return ([negativeName, positiveClass], cells.map { $0 == positiveClass ? 1 : 0 })
    }
}

/// `text` without surrounding spaces and tabs, as numbers, categories and markers are compared.
private func trimmedCell(_ text: String) -> String {
    let isBlank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
    guard let first = text.firstIndex(where: { !isBlank($0) }) else { return "" }
    let last = text.lastIndex(where: { !isBlank($0) })!
    return String(text[first...last])
}

/// One feature column of a table, read and checked: its numbers (NaN where missing), or its
/// sorted categories and each row's category index (`nil` where missing).
private enum ColumnEncoding {
    case numeric(name: String, values: [Float])
    case categorical(name: String, categories: [String], codes: [Int?])

    /// The first bad cell of a column, by its row (0-based) in the table.
    struct Failure: Error {
        var row: Int
        var error: ClinicDataError
    }

    /// What one cell holds.
    private enum Cell {
        case missing
        case number(Float)
        /// Parses as a Float but is NaN or infinite (spelled so, or out of range).
        case nonFinite
        case word
    }

    /// Reads column `column` of `table`.
    static func read(
        _ table: CSVTable, column: Int, forceCategorical: Bool, options: TabularDataset.Options
    ) -> Result<ColumnEncoding, Failure> {
        let name = table.columns[column]
        func location(_ row: Int) -> ClinicDataError.Location {
            .init(
                source: table.source, line: table.lineNumbers[row], field: column + 1, column: name,
                confidential: table.isConfidential)
        }
        /// The error `NumberCell` gives for the cell at `row` (a word, NaN, Inf, overflow, empty).
        func numberError(_ row: Int) -> Failure {
            do throws(ClinicDataError) {
                _ = try NumberCell.parse(table.rows[row][column], at: location(row))
                return Failure(row: row, error: .invalidInput(reason: "\(location(row)): unreadable cell"))
            } catch {
                return Failure(row: row, error: error)
            }
        }

        var cells: [Cell] = []
        cells.reserveCapacity(table.rowCount)
        var firstNumber: Int?
        var firstWord: Int?
        for (row, fields) in table.rows.enumerated() {
            let text = trimmedCell(fields[column])
            let cell: Cell
            if options.missingMarkers.contains(text) {
                cell = .missing
            } else if let value = text.isEmpty ? nil : Float(text) {
                cell = value.isFinite ? .number(value) : .nonFinite
            } else {
                cell = .word
            }
            switch cell {
            case .number: if firstNumber == nil { firstNumber = row }
            case .word: if firstWord == nil { firstWord = row }
            case .nonFinite:
                // NaN and ±Inf are bad data in every kind of column, never a category.
                return .failure(numberError(row))
            case .missing: break
            }
            // A word in a column that is read as numbers: report it on the spot, as it comes
            // before any later NaN or overflow.
            if case .word = cell, !forceCategorical {
                if !options.detectCategorical {
                    return .failure(numberError(row))
                }
                if let firstNumber {
                    return .failure(mixed(word: row, number: firstNumber))
                }
            }
            if case .number = cell, !forceCategorical, let firstWord {
                return .failure(mixed(word: firstWord, number: row))
            }
            cells.append(cell)
        }

        func mixed(word: Int, number: Int) -> Failure {
            Failure(row: word, error: .mixedColumn(
                location(word), text: table.rows[word][column], numberLine: table.lineNumbers[number],
                number: table.rows[number][column]))
        }

        if firstNumber == nil && firstWord == nil {
            let whole = ClinicDataError.Location(
                source: table.source, field: column + 1, column: name, confidential: table.isConfidential)
            return .failure(Failure(row: 0, error: .emptyColumn(whole, rowCount: table.rowCount)))
        }
        if forceCategorical || firstNumber == nil {
            let texts = table.rows.map { trimmedCell($0[column]) }
            var present = Set<String>()
            for (row, cell) in cells.enumerated() {
                if case .missing = cell { continue }
                present.insert(texts[row])
            }
            let categories = present.sorted()
            let index = Dictionary(uniqueKeysWithValues: categories.enumerated().map { ($1, $0) })
            let codes = cells.enumerated().map { row, cell -> Int? in
                if case .missing = cell { return nil }
                return index[texts[row]]
            }
            return .success(.categorical(name: name, categories: categories, codes: codes))
        }
        let values = cells.map { cell -> Float in
            if case let .number(value) = cell { return value }
            return .nan
        }
        return .success(.numeric(name: name, values: values))
    }
}
