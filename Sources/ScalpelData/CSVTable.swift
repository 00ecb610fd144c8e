import Foundation

/// A CSV file read as text: a header row of column names and rows of string cells.
///
/// Follows RFC 4180: fields separated by commas, records by CRLF or LF (a lone CR is taken as
/// a line break too), an optional final line break, fields in double quotes may hold commas,
/// line breaks and doubled quotes (`""` for one `"`). A header row is required and its names
/// must be non-empty and distinct; every row must have as many fields as the header. A UTF-8
/// byte-order mark at the start is skipped, and blank lines at the very end are ignored.
/// Cells are kept exactly as written (no trimming, no type guessing): `TabularDataset`
/// decides what is a number.
///
/// A table parsed from decrypted bytes is *confidential* (`isConfidential`): its errors, and
/// those of a `TabularDataset` built from it, name the file, line and column but never quote a
/// cell, a label or the list of header names. The parser's own errors name a field by its
/// position only, as a file that lacks its header row holds a patient's row in its place;
/// once a column has been found by name, the header is taken to be one and its names are used.
public struct CSVTable: Equatable, Sendable {
    /// Where the table came from (the file path), used in every error message.
    public let source: String
    /// Whether the content came from an encrypted file, so errors withhold it.
    public let isConfidential: Bool
    /// The header names, in file order.
    public let columns: [String]
    /// The data rows, each with exactly `columns.count` cells.
    public let rows: [[String]]
    /// For each row, the 1-based line of the file on which it starts (the header is line 1).
    public let lineNumbers: [Int]

    /// Parses CSV text; `source` names it in error messages.
    public init(text: String, source: String = "<text>") throws(ClinicDataError) {
        try self.init(bytes: Array(text.utf8), source: source)
    }

    /// Parses CSV bytes, checking that they are UTF-8 text; `source` names them in error
    /// messages, and `confidential` (bytes decrypted in memory) keeps their content out of them.
    ///
    /// `firstRecordLine` numbers the first record after the header (nil: the line after the
    /// header's): for a block of a larger file, the header followed by some of its records.
    public init(bytes: [UInt8], source: String, confidential: Bool = false, firstRecordLine: Int? = nil) throws(ClinicDataError) {
        var parser = CSVParser(bytes: bytes, source: source, confidential: confidential, firstRecordLine: firstRecordLine)
        let parsed = try parser.parse()
        self.source = source
        isConfidential = confidential
        columns = parsed.header
        rows = parsed.rows
        lineNumbers = parsed.lineNumbers
    }

    /// Reads and parses the CSV file at `url`.
    public static func load(from url: URL) throws(ClinicDataError) -> CSVTable {
        let source = url.isFileURL ? url.path : url.absoluteString
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw .unreadable(.init(source: source), reason: error.localizedDescription)
        }
        return try CSVTable(bytes: [UInt8](data), source: source)
    }

    /// The table with one more column, `name`, holding `value` in every row (for a table that
    /// lacks a column its reader needs, such as the label of data to predict).
    /// - Parameters:
    ///   - name: The new column's header name.
    ///   - value: Every row's cell.
    /// - Returns: The widened table, its lines and source unchanged.
    public func appending(column name: String, value: String) -> CSVTable {
        CSVTable(source: source, isConfidential: isConfidential, columns: columns + [name], rows: rows.map { $0 + [value] },
                 lineNumbers: lineNumbers)
    }

    private init(source: String, isConfidential: Bool, columns: [String], rows: [[String]], lineNumbers: [Int]) {
        (self.source, self.isConfidential, self.columns, self.rows, self.lineNumbers) = (source, isConfidential, columns, rows, lineNumbers)
    }

    /// The number of data rows (the header not counted).
    public var rowCount: Int { rows.count }

    /// The 0-based position of the column named `name`, if the header has it.
    public func columnIndex(named name: String) -> Int? {
        columns.firstIndex(of: name)
    }

    /// The cells of the column named `name`, top to bottom, if the header has it.
    public func column(named name: String) -> [String]? {
        columnIndex(named: name).map { index in rows.map { $0[index] } }
    }
}
