// The RFC 4180 state machine behind CSVTable. It works on bytes rather than Characters so that
// it can report invalid UTF-8 and NUL bytes with their line and column instead of failing
// to decode the whole file, and because a grapheme-cluster walk would merge "\r\n" into one
// Character and hide which line break a file uses.

private let comma = UInt8(ascii: ",")
private let quote = UInt8(ascii: "\"")
private let carriageReturn = UInt8(ascii: "\r")
private let lineFeed = UInt8(ascii: "\n")
private let nul: UInt8 = 0

struct CSVParser {
    struct Result {
        var header: [String]
        var rows: [[String]]
        var lineNumbers: [Int]
    }

    let bytes: [UInt8]
    let source: String
    /// The bytes were decrypted: locations carry the flag, and name fields by position only,
    /// since before a column is asked for by name the first row may be a patient's, not a header.
    let confidential: Bool
    private var index: Int
    private var line = 1
    private var header: [String] = []

    /// The line of the first record after the header (nil: the line after the header's), for a
    /// block of a larger file read a block at a time.
    var firstRecordLine: Int?

    init(bytes: [UInt8], source: String, confidential: Bool = false, firstRecordLine: Int? = nil) {
        self.firstRecordLine = firstRecordLine
        self.bytes = bytes
        self.source = source
        self.confidential = confidential
        // Spreadsheet programs often start UTF-8 files with a byte-order mark; it is not part of
        // the first column's name.
        index = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
    }

    mutating func parse() throws(ClinicDataError) -> Result {
        let end = lastContentEnd()
        if index >= end { throw .emptyFile(.init(source: source, confidential: confidential)) }

        header = try parseRecord(end: end)
        try validateHeader()
        if let firstRecordLine { line = firstRecordLine }
        var rows: [[String]] = []
        var lineNumbers: [Int] = []
        while index < end {
            let recordLine = line
            let fields = try parseRecord(end: end)
            if fields.count != header.count {
                throw raggedRow(fields.count, line: recordLine)
            }
            rows.append(fields)
            lineNumbers.append(recordLine)
        }
        return Result(header: header, rows: rows, lineNumbers: lineNumbers)
    }

    /// The end of the content once trailing line breaks are dropped: RFC 4180 allows one final
    /// line break, and editors often leave more; none of them starts a record.
    private func lastContentEnd() -> Int {
        var end = bytes.count
        while end > index, bytes[end - 1] == lineFeed || bytes[end - 1] == carriageReturn {
            end -= 1
        }
        return end
    }

    /// Parses one record starting at `index`, leaving `index` after its line break.
    private mutating func parseRecord(end: Int) throws(ClinicDataError) -> [String] {
        var fields: [String] = []
        while true {
            let fieldLine = line
            let raw: ArraySlice<UInt8>
            if index < end, bytes[index] == quote {
                raw = try parseQuoted(field: fields.count, end: end)
            } else {
                raw = try parseUnquoted(field: fields.count, end: end)
            }
            guard let text = String(validating: raw, as: UTF8.self) else {
                throw .notText(location(line: fieldLine, field: fields.count), reason: "invalid UTF-8")
            }
            fields.append(text)

            if index >= end { return fields }
            switch bytes[index] {
            case comma:
                index += 1
            case carriageReturn:
                index += 1
                if index < end, bytes[index] == lineFeed { index += 1 }
                line += 1
                return fields
            default:  // lineFeed: the field parsers stop only at a comma, a line break or the end
                index += 1
                line += 1
                return fields
            }
        }
    }

    /// Reads an unquoted field up to the next comma, line break or the end of the content.
    private mutating func parseUnquoted(field: Int, end: Int) throws(ClinicDataError) -> ArraySlice<UInt8> {
        let start = index
        while index < end {
            switch bytes[index] {
            case comma, carriageReturn, lineFeed:
                return bytes[start..<index]
            case quote:
                throw .malformedQuote(
                    location(line: line, field: field),
                    reason: "a quote inside an unquoted field; quote the whole field and double the inner quote")
            case nul:
                throw .notText(location(line: line, field: field), reason: "NUL byte")
            default:
                index += 1
            }
        }
        return bytes[start..<index]
    }

    /// Reads a quoted field whose opening quote is at `index`, unescaping doubled quotes.
    private mutating func parseQuoted(field: Int, end: Int) throws(ClinicDataError) -> ArraySlice<UInt8> {
        let openLine = line
        index += 1
        var value: [UInt8] = []
        while true {
            // Trailing line breaks were cut off before parsing, so a quoted field that ends in one
            // is read from the full buffer rather than stopping at `end`.
            guard index < bytes.count else {
                throw .unterminatedQuote(location(line: openLine, field: field))
            }
            let byte = bytes[index]
            switch byte {
            case quote:
                if index + 1 < bytes.count, bytes[index + 1] == quote {
                    value.append(quote)
                    index += 2
                    continue
                }
                index += 1
                if index < end, bytes[index] != comma, bytes[index] != carriageReturn, bytes[index] != lineFeed {
                    throw .malformedQuote(
                        location(line: line, field: field),
                        reason: "text after the closing quote of a quoted field")
                }
                return value[...]
            case nul:
                throw .notText(location(line: line, field: field), reason: "NUL byte")
            case lineFeed:
                line += 1
            case carriageReturn:
                if index + 1 >= bytes.count || bytes[index + 1] != lineFeed { line += 1 }
            default:
                break
            }
            value.append(byte)
            index += 1
        }
    }

    private func validateHeader() throws(ClinicDataError) {
        var firstField: [String: Int] = [:]
        for (position, name) in header.enumerated() {
            let at = ClinicDataError.Location(source: source, line: 1, field: position + 1, confidential: confidential)
            if name.allSatisfy(\.isWhitespace) { throw .emptyHeaderName(at) }
            if let first = firstField[name] {
                throw .duplicateHeaderName(at, name: name, firstField: first)
            }
            firstField[name] = position + 1
        }
    }

    private func raggedRow(_ fieldCount: Int, line: Int) -> ClinicDataError {
        // Point at the first column that is missing, or at the first field beyond the header.
        let field = min(fieldCount, header.count)
        return .raggedRow(location(line: line, field: field), fieldCount: fieldCount, expected: header.count)
    }

    /// The location of the 0-based `field`, named by the header once the header is known
    /// (by position only in confidential data).
    private func location(line: Int, field: Int) -> ClinicDataError.Location {
        let column = field < header.count && !confidential ? header[field] : nil
        return .init(source: source, line: line, field: field + 1, column: column, confidential: confidential)
    }
}
