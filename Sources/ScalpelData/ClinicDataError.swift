// The one error type of the clinical data layer. Every case that comes from a file carries a
// `Location`, so the message a user reads points at the exact file, line and column to fix, or
// for binary arrays the file and the archive member.
//
// What a file holds reaches a message only through `ClinicDataError.quoted(_:)` and
// `quotedList(_:)`: cut to a few dozen characters, control characters escaped. When the data came
// from an encrypted file (a location `isConfidential`), cells, labels, categories and the
// header's list of names do not reach it at all; the message names the place instead.

import Foundation

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
        /// Whether what the file holds is confidential (it was decrypted in memory): a message
        /// about this location names the file, line, field or column and member, and withholds
        /// cells, labels, categories and the header's list of names.
        public var isConfidential: Bool

        /// A location in `source`, narrowed down as far as is known; `confidential` when the
        /// content came from an encrypted file.
        public init(
            source: String, member: String? = nil, line: Int? = nil, field: Int? = nil, column: String? = nil,
            confidential: Bool = false
        ) {
            self.source = source
            self.member = member
            self.line = line
            self.field = field
            self.column = column
            isConfidential = confidential
        }

        /// "file, line 5, column 'radius_mean'" or "file, member 'x.npy'", leaving out what is not known.
        ///
        /// Column and member names are quoted cut (see `ClinicDataError.quoted(_:)`) and kept for
        /// confidential data too: they are the file's structure, which the user needs to find the
        /// place, not a patient's value. (Readers leave the column name out where the header row
        /// may not be one; see `CSVTable`.)
        public var description: String {
            var parts = [source]
            if let member { parts.append("member \(ClinicDataError.quoted(member))") }
            if let line { parts.append("line \(line)") }
            if let column {
                parts.append("column \(ClinicDataError.quoted(column))")
            } else if let field {
                parts.append("field \(field)")
            }
            return parts.joined(separator: ", ")
        }
    }

    /// The most characters of a file's content a message quotes.
    public static let quoteLimit = 40
    /// The most items of a list of the file's content (labels, header names) a message quotes:
    /// enough for every column of an ordinary table, few enough to keep a message to a screen.
    public static let listLimit = 50
    /// What a message about confidential data says in place of its content.
    public static let withheldNote = "content withheld: the data is encrypted"

    /// `text` as a message quotes content of a file: in single quotes, control and invisible
    /// format characters escaped (`\n`, `\u{1B}`), and when longer than `quoteLimit` characters
    /// cut there with an ellipsis and its full size: `'John Q. Smith…' (64 MB)`. Never longer
    /// than about 60 characters whatever `text` is; this is the one place content reaches a message.
    public static func quoted(_ text: some StringProtocol) -> String {
        quoted(text, limit: quoteLimit)
    }

    /// `quoted(_:)` with another length limit, for text that is useless cut at `quoteLimit`
    /// (an `.npy` header dictionary).
    static func quoted(_ text: some StringProtocol, limit: Int) -> String {
        var shown = ""
        var count = 0
        var cut = false
        // Unicode scalars, not Characters: one Character may hold any number of combining marks.
        for scalar in text.unicodeScalars {
            if count == limit {
                cut = true
                break
            }
            count += 1
            switch scalar {
            case "\n": shown += "\\n"
            case "\r": shown += "\\r"
            case "\t": shown += "\\t"
            default:
                switch scalar.properties.generalCategory {
                case .control, .format, .lineSeparator, .paragraphSeparator, .surrogate, .privateUse, .unassigned:
                    shown += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
                default:
                    shown.unicodeScalars.append(scalar)
                }
            }
        }
        guard cut else { return "'\(shown)'" }
        return "'\(shown)…' (\(size(text.utf8.count)))"
    }

    /// What to say about the columns when `name` is not among them: a short header is listed
    /// whole; a long one gives the closest names (by edit distance, ignoring case), or its size
    /// and first names when none is close.
    static func columnHint(_ name: String, _ available: [String]) -> String {
        guard available.count > 8 else { return "the columns are \(quotedList(available))" }
        let wanted = name.lowercased()
        let limit = max(2, wanted.count / 3)
        var scored: [(name: String, distance: Int)] = []
        for column in available {
            let distance = editDistance(wanted, column.lowercased())
            if distance <= limit { scored.append((column, distance)) }
        }
        scored.sort { $0.distance != $1.distance ? $0.distance < $1.distance : $0.name < $1.name }
        let close: [String] = scored.prefix(3).map { quoted($0.name) }
        if !close.isEmpty { return "did you mean \(close.joined(separator: " or "))? (\(available.count) columns)" }
        return "none of the \(available.count) columns is close; the first are \(quotedList(Array(available.prefix(5)))), …"
    }

    /// The Levenshtein distance between `a` and `b` (insertions, deletions, substitutions).
    static func editDistance(_ a: String, _ b: String) -> Int {
        let (x, y) = (Array(a), Array(b))
        guard !x.isEmpty else { return y.count }
        var previous = Array(0 ... y.count), current = previous
        for i in 1 ... x.count {
            current[0] = i
            for j in stride(from: 1, through: y.count, by: 1) {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1))
            }
            swap(&previous, &current)
        }
        return previous[y.count]
    }

    /// Up to `listLimit` items quoted cut, then how many more: `'a', 'b', … and 7 more`.
    public static func quotedList(_ items: [String]) -> String {
        var parts = items.prefix(listLimit).map { quoted($0) }
        if items.count > listLimit { parts.append("… and \(items.count - listLimit) more") }
        return parts.joined(separator: ", ")
    }

    /// A byte count as people read it: "312 bytes", "4.2 KB", "1.0 MB", "2.1 GB".
    static func size(_ bytes: Int) -> String {
        if bytes < 1000 { return "\(bytes) bytes" }
        let units = ["KB", "MB", "GB", "TB"]
        var value = Double(bytes) / 1000
        var unit = 0
        while value >= 1000, unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        return String(format: value < 100 ? "%.1f" : "%.0f", value) + " " + units[unit]
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
    /// An array whose declared shape and dtype take more memory than the budget allows (see
    /// `NPYArray.defaultMaxBytes`); `bytes` is what it would take, refused before it is read in.
    case arrayTooLarge(Location, shape: [Int], dtype: String, bytes: UInt64, limit: UInt64)
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
            if location.isConfidential {
                return "\(location): duplicate header name (the same as field \(firstField)'s; \(Self.withheldNote))"
            }
            return "\(location): duplicate header name \(Self.quoted(name)) (already the name of field \(firstField))"
        case let .raggedRow(location, fieldCount, expected):
            let detail = fieldCount < expected ? "missing from this column on" : "extra field beyond the header"
            let fields = fieldCount == 1 ? "1 field" : "\(fieldCount) fields"
            return "\(location): the row has \(fields) where the header has \(expected) (\(detail))"
        case let .unterminatedQuote(location):
            return "\(location): a quoted field opened here is never closed"
        case let .malformedQuote(location, reason):
            return "\(location): malformed quoting: \(reason)"
        case let .missingColumn(location, name, role, available):
            // `name` is the one asked for; `available` is the header, which in a file without a
            // header row is a patient's row.
            if location.isConfidential {
                return "\(location): no \(role) column \(Self.quoted(name)) among the \(available.count) names of the header "
                    + "(\(Self.withheldNote))"
            }
            return "\(location): no \(role) column \(Self.quoted(name)); " + Self.columnHint(name, available)
        case let .invalidNumber(location, text, reason):
            if location.isConfidential { return "\(location): the cell \(reason) (\(Self.withheldNote))" }
            return "\(location): \(Self.quoted(text)) \(reason)"
        case let .mixedColumn(location, text, numberLine, number):
            if location.isConfidential {
                return "\(location): the cell is not a number, but the column holds numbers (the first on line \(numberLine)); "
                    + "a column must hold only numbers or only categories (words) (\(Self.withheldNote))"
            }
            return "\(location): \(Self.quoted(text)) is not a number, but the column holds numbers (line \(numberLine): "
                + "\(Self.quoted(number))); a column must hold only numbers or only categories (words)"
        case let .emptyColumn(location, rowCount):
            return "\(location): every one of the \(rowCount) cells is missing; drop the column"
        case let .noTrainingValues(location, trainingRows):
            return "\(location): no value in the \(trainingRows) training rows, so there is nothing to impute "
                + "its missing cells from; drop the column or fix the data"
        case let .invalidLabel(location, reason):
            return "\(location): \(reason)"
        case let .positiveClassNotFound(location, positiveClass, found):
            if location.isConfidential {
                return "\(location): positive class \(Self.quoted(positiveClass)) does not occur among the \(found.count) "
                    + "label values (\(Self.withheldNote))"
            }
            return "\(location): positive class \(Self.quoted(positiveClass)) does not occur; the values are "
                + Self.quotedList(found)
        case let .tooFewClasses(location, found):
            if location.isConfidential {
                return "\(location): at least two classes are needed; found \(found.count) (\(Self.withheldNote))"
            }
            let list = found.isEmpty ? "none" : Self.quotedList(found)
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
            let list = available.isEmpty ? "none" : Self.quotedList(available)
            return "\(location): no array \(Self.quoted(name)) in the archive; the arrays are \(list)"
        case let .corruptMember(location, reason):
            return "\(location): corrupt archive member: \(reason)"
        case let .memberTooLarge(location, uncompressedBytes, limit):
            return "\(location): the member inflates to \(uncompressedBytes) bytes, above the limit of "
                + "\(limit) bytes; refusing to extract it"
        case let .arrayTooLarge(location, shape, dtype, bytes, limit):
            return "\(location): the array of shape \(NPYArray.describe(shape)) and dtype \(dtype) "
                + "takes \(bytes) bytes in memory, above the budget of \(limit) bytes; refusing to read it in "
                + "(\(NPYArray.budgetVariable) sets the budget)"
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
            if location.isConfidential {
                return "\(location): the class label does not occur in the label mapping in use (the training data's, "
                    + "of \(known.count) labels) (\(Self.withheldNote))"
            }
            return "\(location): class label \(Self.quoted(label)) does not occur in the label mapping in use "
                + "(the training data's); the known labels are \(Self.quotedList(known))"
        }
    }
}
