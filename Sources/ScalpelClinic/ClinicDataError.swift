// The one error type of the clinical data layer. Every case that comes from a file carries a
// `Location`, so the message a user reads points at the exact file, line and column to fix.

/// Why a clinical table, split, standardisation or metric computation was refused.
///
/// Every case that comes from a file names the file, the 1-based line and the column, so the
/// message is enough to find and fix the offending cell.
public enum ClinicDataError: Error, CustomStringConvertible, Equatable, Sendable {
    /// Where in a file a problem was found: the file, and where known the line and column.
    public struct Location: CustomStringConvertible, Equatable, Sendable {
        /// The file path (or the name given to text parsed from memory).
        public var source: String
        /// The 1-based line; for a row that spans lines (a quoted line break), the line it starts on.
        public var line: Int?
        /// The 1-based field position within the row, when known.
        public var field: Int?
        /// The header name of the column, when the field lies within the header.
        public var column: String?

        /// A location in `source`, narrowed down as far as is known.
        public init(source: String, line: Int? = nil, field: Int? = nil, column: String? = nil) {
            self.source = source
            self.line = line
            self.field = field
            self.column = column
        }

        /// "file, line 5, column 'radius_mean'", leaving out what is not known.
        public var description: String {
            var parts = [source]
            if let line { parts.append("line \(line)") }
            if let column {
                parts.append("column '\(column)'")
            } else if let field {
                parts.append("field \(field)")
            }
            return parts.joined(separator: ", ")
        }
    }

    /// The file could not be read at all (missing, no permission).
    case unreadable(Location, reason: String)
    /// The file holds no header row (zero bytes, or only line breaks).
    case emptyFile(Location)
    /// The file is not UTF-8 text: a NUL byte or an invalid UTF-8 sequence.
    case notText(Location, reason: String)
    /// A header name is empty or only whitespace.
    case emptyHeaderName(Location)
    /// Two header names are the same; `firstField` is the 1-based position of the first one.
    case duplicateHeaderName(Location, name: String, firstField: Int)
    /// A row has a different number of fields from the header.
    case raggedRow(Location, fieldCount: Int, expected: Int)
    /// A quoted field is still open at the end of the file; the location is where it opened.
    case unterminatedQuote(Location)
    /// A quote character where RFC 4180 does not allow one.
    case malformedQuote(Location, reason: String)
    /// A column asked for by name is not in the header.
    case missingColumn(Location, name: String, role: String, available: [String])
    /// A feature cell that is not a finite number.
    case invalidNumber(Location, text: String, reason: String)
    /// A label cell that cannot be used (empty).
    case invalidLabel(Location, reason: String)
    /// The requested positive class does not occur in the label column.
    case positiveClassNotFound(Location, positiveClass: String, found: [String])
    /// The label column holds fewer than two classes, so there is nothing to diagnose.
    case tooFewClasses(Location, found: [String])
    /// Every column other than the label was dropped, leaving no features.
    case noFeatureColumns(Location)
    /// Split fractions or class sizes that cannot give three non-empty stratified splits.
    case invalidSplit(reason: String)
    /// Arrays of the wrong shape or with invalid values handed to a computation.
    case invalidInput(reason: String)

    /// A message that names the file, line and column where they apply.
    public var description: String {
        switch self {
        case let .unreadable(location, reason):
            return "\(location): cannot be read: \(reason)"
        case let .emptyFile(location):
            return "\(location): the file is empty; a header row is required"
        case let .notText(location, reason):
            return "\(location): not a text file: \(reason)"
        case let .emptyHeaderName(location):
            return "\(location): empty header name; every column needs a name"
        case let .duplicateHeaderName(location, name, firstField):
            return "\(location): duplicate header name '\(name)' (already the name of field \(firstField))"
        case let .raggedRow(location, fieldCount, expected):
            let detail = fieldCount < expected ? "missing from this column on" : "extra field beyond the header"
            let fields = fieldCount == 1 ? "1 field" : "\(fieldCount) fields"
            return "\(location): the row has \(fields) where the header has \(expected) (\(detail))"
        case let .unterminatedQuote(location):
            return "\(location): a quoted field opened here is never closed"
        case let .malformedQuote(location, reason):
            return "\(location): malformed quoting: \(reason)"
        case let .missingColumn(location, name, role, available):
            let list = available.map { "'\($0)'" }.joined(separator: ", ")
            return "\(location): no \(role) column '\(name)'; the columns are \(list)"
        case let .invalidNumber(location, text, reason):
            return "\(location): '\(text)' \(reason)"
        case let .invalidLabel(location, reason):
            return "\(location): \(reason)"
        case let .positiveClassNotFound(location, positiveClass, found):
            let list = found.map { "'\($0)'" }.joined(separator: ", ")
            return "\(location): positive class '\(positiveClass)' does not occur; the values are \(list)"
        case let .tooFewClasses(location, found):
            let list = found.isEmpty ? "none" : found.map { "'\($0)'" }.joined(separator: ", ")
            return "\(location): at least two classes are needed; found \(list)"
        case let .noFeatureColumns(location):
            return "\(location): no feature columns are left besides the label"
        case let .invalidSplit(reason):
            return "stratified split: \(reason)"
        case let .invalidInput(reason):
            return reason
        }
    }
}
