// The one error type of the clinical data layer. Every case that comes from a file carries a
// `Location`, so the message a user reads points at the exact file, line and column to fix, or
// for binary arrays the file and the archive member.

/// Why a clinical table, image array, split, standardisation or metric computation was refused.
///
/// Every case that comes from a file names the file, and where they apply the 1-based line and
/// the column (text tables) or the archive member (`.npz` image sets), so the message is enough
/// to find and fix the offending data.
public enum ClinicDataError: Error, CustomStringConvertible, Equatable, Sendable {
    /// Where in a file a problem was found: the file, and where known the archive member, the
    /// line and the column.
    public struct Location: CustomStringConvertible, Equatable, Sendable {
        /// The file path (or the name given to text parsed from memory).
        public var source: String
        /// The member of a zip archive (an `.npz`) the problem lies in, as stored in the archive.
        public var member: String?
        /// The 1-based line; for a row that spans lines (a quoted line break), the line it starts on.
        public var line: Int?
        /// The 1-based field position within the row, when known.
        public var field: Int?
        /// The header name of the column, when the field lies within the header.
        public var column: String?

        /// A location in `source`, narrowed down as far as is known.
        public init(
            source: String, member: String? = nil, line: Int? = nil, field: Int? = nil, column: String? = nil
        ) {
            self.source = source
            self.member = member
            self.line = line
            self.field = field
            self.column = column
        }

        /// "file, line 5, column 'radius_mean'" or "file, member 'x.npy'", leaving out what is not known.
        public var description: String {
            var parts = [source]
            if let member { parts.append("member '\(member)'") }
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
    /// A file could not be written (no such directory, no permission, disk full).
    case unwritable(Location, reason: String)
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
    /// A feature column holding both numbers and words; the location and `text` are the first
    /// word, `numberLine` and `number` the first number (one of the two is most likely a typo).
    case mixedColumn(Location, text: String, numberLine: Int, number: String)
    /// A feature column in which every one of the `rowCount` cells is missing.
    case emptyColumn(Location, rowCount: Int)
    /// A column with no observed value in the `trainingRows` rows an imputer was fitted on, so
    /// there is nothing to fill its missing cells with.
    case noTrainingValues(Location, trainingRows: Int)
    /// A label cell that cannot be used (empty, or a missing-value marker).
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
    /// Bytes that do not form a NumPy `.npy` array: bad magic, unknown format version, a
    /// truncated or unparseable header.
    case malformedNPY(Location, reason: String)
    /// A well-formed `.npy` array this reader does not handle: big-endian or Fortran order, or an
    /// element type outside the supported ones.
    case unsupportedNPY(Location, reason: String)
    /// An `.npy` shape that is negative, absurdly large, or holds more elements than allowed.
    case invalidShape(Location, reason: String)
    /// The `.npy` data after the header is not exactly shape × item size bytes long.
    case dataSizeMismatch(Location, expectedBytes: Int, actualBytes: Int)
    /// The file is not a zip archive, so it cannot be an `.npz`.
    case notZipArchive(Location, reason: String)
    /// An array asked for by name is not a member of the `.npz`; `available` lists those that are.
    case missingMember(Location, name: String, available: [String])
    /// A zip member whose data cannot be extracted intact (CRC mismatch, inflate error, short data).
    case corruptMember(Location, reason: String)
    /// A zip member that would inflate to more bytes than allowed (a guard against zip bombs).
    case memberTooLarge(Location, uncompressedBytes: UInt64, limit: UInt64)
    /// Image or label arrays that cannot form an image classification dataset.
    case invalidImageData(Location, reason: String)
    /// Labels with more than one column per image: a multi-label task, which is not supported yet.
    case multiLabelNotSupported(Location, labelsPerImage: Int)
    /// A file larger than the configured limit; `bytes` is `nil` when only a lower bound is known
    /// (the file grew while it was read, or is not a regular file).
    case fileTooLarge(Location, bytes: Int?, limit: Int)
    /// A blank line before the last series of a time-series file: every line must hold one series.
    case blankLine(Location)
    /// A time-series line with a class label and no values, or only NaN padding.
    case emptySeries(Location)
    /// A time-series file that holds no series at all (zero bytes, or only blank lines).
    case noSeries(Location)
    /// A time series longer, in values, than the configured limit.
    case seriesTooLong(Location, length: Int, limit: Int)
    /// A dataset whose series, padded to one length, would hold more values than allowed.
    case tooManyValues(Location, values: Int, limit: Int)
    /// A class label that the label mapping in use (the training file's) does not know.
    case unknownLabel(Location, label: String, known: [String])

    /// A message that names the file, line and column where they apply.
    public var description: String {
        switch self {
        case let .unreadable(location, reason):
            return "\(location): cannot be read: \(reason)"
        case let .unwritable(location, reason):
            return "\(location): cannot be written: \(reason)"
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
        case let .mixedColumn(location, text, numberLine, number):
            return "\(location): '\(text)' is not a number, but the column holds numbers (line \(numberLine): "
                + "'\(number)'); a column must hold only numbers or only categories (words)"
        case let .emptyColumn(location, rowCount):
            return "\(location): every one of the \(rowCount) cells is missing; drop the column"
        case let .noTrainingValues(location, trainingRows):
            return "\(location): no value in the \(trainingRows) training rows, so there is nothing to impute "
                + "its missing cells from; drop the column or fix the data"
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
        case let .malformedNPY(location, reason):
            return "\(location): not a valid .npy array: \(reason)"
        case let .unsupportedNPY(location, reason):
            return "\(location): unsupported .npy array: \(reason)"
        case let .invalidShape(location, reason):
            return "\(location): invalid .npy shape: \(reason)"
        case let .dataSizeMismatch(location, expectedBytes, actualBytes):
            let detail = actualBytes < expectedBytes
                ? "truncated" : "\(actualBytes - expectedBytes) extra bytes after the array"
            return "\(location): the array data is \(actualBytes) bytes where its shape and dtype need "
                + "\(expectedBytes) (\(detail))"
        case let .notZipArchive(location, reason):
            return "\(location): is not an .npz (zip) archive: \(reason)"
        case let .missingMember(location, name, available):
            let list = available.isEmpty ? "none" : available.map { "'\($0)'" }.joined(separator: ", ")
            return "\(location): no array '\(name)' in the archive; the arrays are \(list)"
        case let .corruptMember(location, reason):
            return "\(location): corrupt archive member: \(reason)"
        case let .memberTooLarge(location, uncompressedBytes, limit):
            return "\(location): the member inflates to \(uncompressedBytes) bytes, above the limit of "
                + "\(limit) bytes; refusing to extract it"
        case let .invalidImageData(location, reason):
            return "\(location): \(reason)"
        case let .multiLabelNotSupported(location, labelsPerImage):
            return "\(location): the labels have \(labelsPerImage) columns per image, a multi-label task; "
                + "multi-label tasks are not supported yet (only single-label (N, 1) labels)"
        case let .fileTooLarge(location, bytes, limit):
            let size = bytes.map { "\($0) bytes" } ?? "more than \(limit) bytes"
            return "\(location): the file is \(size), above the limit of \(limit) bytes; refusing to read it"
        case let .blankLine(location):
            return "\(location): blank line before the last series; every line must hold one series"
        case let .emptySeries(location):
            return "\(location): the line holds a class label but no values (NaN padding does not count); "
                + "every series needs at least one value"
        case let .noSeries(location):
            return "\(location): the file holds no series"
        case let .seriesTooLong(location, length, limit):
            return "\(location): the series has \(length) values, above the limit of \(limit)"
        case let .tooManyValues(location, values, limit):
            return "\(location): the series padded to one length would hold \(values) values, above the "
                + "limit of \(limit)"
        case let .unknownLabel(location, label, known):
            let list = known.map { "'\($0)'" }.joined(separator: ", ")
            return "\(location): class label '\(label)' does not occur in the label mapping in use "
                + "(the training data's); the known labels are \(list)"
        }
    }
}
