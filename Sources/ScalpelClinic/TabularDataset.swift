import Foundation

/// A table of numeric features and an integer class label per row, ready for training.
///
/// Built from a `CSVTable`: one column is the label, columns listed in `dropColumns` are left
/// out (identifiers, free text), and every other column must hold a finite number in every
/// row. Nothing is imputed or skipped silently: an empty cell, a word, NaN or ±Inf is an error
/// that names the file, line, column and the offending text.
public struct TabularDataset: Equatable, Sendable {
    /// Where the rows came from, for messages and reports.
    public let source: String
    /// The name of the column the labels were taken from.
    public let labelColumn: String
    /// The feature column names, in the order of the values within a row of `features`.
    public let featureNames: [String]
    /// The feature values, row-major: row `r` is `features[r * featureCount ..< (r + 1) * featureCount]`.
    public let features: [Float]
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

    /// How many rows each class has, indexed by class.
    public var classCounts: [Int] {
        var counts = [Int](repeating: 0, count: classCount)
        for label in labels { counts[Int(label)] += 1 }
        return counts
    }

    /// Builds a dataset from `table`.
    ///
    /// - Parameters:
    ///   - labelColumn: the header name of the column that holds the diagnosis.
    ///   - positiveClass: when given, the task is binary: rows whose label is exactly this value
    ///     are class 1 and every other row is class 0. Class 0 is named after the other value
    ///     when there is only one (for WDBC with "M": `["B", "M"]`), else "not <positive>".
    ///     When `nil`, the classes are the distinct label values in sorted order.
    ///   - dropColumns: columns to leave out of the features; each must exist in the header.
    /// - Throws: `ClinicDataError` for a missing column, a non-numeric feature cell, an empty
    ///   label, a positive class that never occurs, fewer than two classes, or no features.
    public init(
        table: CSVTable, labelColumn: String, positiveClass: String? = nil, dropColumns: [String] = []
    ) throws(ClinicDataError) {
        let file = ClinicDataError.Location(source: table.source)
        guard let labelIndex = table.columnIndex(named: labelColumn) else {
            throw .missingColumn(file, name: labelColumn, role: "label", available: table.columns)
        }
        for name in dropColumns where table.columnIndex(named: name) == nil {
            throw .missingColumn(file, name: name, role: "dropped", available: table.columns)
        }
        let dropped = Set(dropColumns).union([labelColumn])
        let featureIndices = table.columns.indices.filter { !dropped.contains(table.columns[$0]) }
        if featureIndices.isEmpty { throw .noFeatureColumns(file) }

        let rawLabels = try Self.labelCells(table, labelIndex: labelIndex)
        let (classNames, labels) = try Self.encode(
            rawLabels, positiveClass: positiveClass, at: .init(source: table.source, column: labelColumn))

        var features: [Float] = []
        features.reserveCapacity(table.rowCount * featureIndices.count)
        for (row, cells) in table.rows.enumerated() {
            for column in featureIndices {
                let at = ClinicDataError.Location(
                    source: table.source, line: table.lineNumbers[row], field: column + 1,
                    column: table.columns[column])
                features.append(try NumberCell.parse(cells[column], at: at))
            }
        }

        source = table.source
        self.labelColumn = labelColumn
        featureNames = featureIndices.map { table.columns[$0] }
        self.features = features
        self.labels = labels
        self.classNames = classNames
        lineNumbers = table.lineNumbers
    }

    /// Reads the CSV file at `url` and builds a dataset from it; see `init(table:labelColumn:positiveClass:dropColumns:)`.
    public static func load(
        from url: URL, labelColumn: String, positiveClass: String? = nil, dropColumns: [String] = []
    ) throws(ClinicDataError) -> TabularDataset {
        try TabularDataset(
            table: CSVTable.load(from: url), labelColumn: labelColumn, positiveClass: positiveClass,
            dropColumns: dropColumns)
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
            source: source, labelColumn: labelColumn, featureNames: featureNames, features: rows,
            labels: indices.map { labels[$0] }, classNames: classNames, lineNumbers: indices.map { lineNumbers[$0] })
    }

    private init(
        source: String, labelColumn: String, featureNames: [String], features: [Float], labels: [Int32],
        classNames: [String], lineNumbers: [Int]
    ) {
        self.source = source
        self.labelColumn = labelColumn
        self.featureNames = featureNames
        self.features = features
        self.labels = labels
        self.classNames = classNames
        self.lineNumbers = lineNumbers
    }

    /// The label cells, refusing empty ones: a missing diagnosis is not a class of its own.
    private static func labelCells(_ table: CSVTable, labelIndex: Int) throws(ClinicDataError) -> [String] {
        var cells: [String] = []
        cells.reserveCapacity(table.rowCount)
        for (row, fields) in table.rows.enumerated() {
            let cell = fields[labelIndex]
            if cell.allSatisfy(\.isWhitespace) {
                let at = ClinicDataError.Location(
                    source: table.source, line: table.lineNumbers[row], field: labelIndex + 1,
                    column: table.columns[labelIndex])
                throw .invalidLabel(at, reason: "empty label")
            }
            cells.append(cell)
        }
        return cells
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
