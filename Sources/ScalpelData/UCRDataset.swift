import Foundation

// The UCR time-series classification archive (https://www.cs.ucr.edu/~eamonn/time_series_data_2018/)
// stores each split as a text file with one series per line: the class label first, then the
// values. The 2018 archive separates them with tabs, older copies with commas or runs of spaces.
// Variable-length datasets pad their shorter series with trailing NaN up to the longest one.
// Reading is strict in the same way as the CSV tables: anything that is not a number where a
// value belongs is an error naming the file, line and field, never a silent skip.

/// How the fields of a line are separated in a UCR time-series file.
public enum UCRDelimiter: String, Equatable, Sendable {
    /// One tab between fields (the UCR 2018 archive).
    case tab
    /// One comma between fields (older copies of the archive); spaces around a field are allowed.
    case comma
    /// One or more spaces or tabs between fields; leading and trailing blanks are ignored.
    case whitespace
}

/// The classes of a time-series dataset: which class index each label text stands for.
///
/// When every label is a finite number, the classes are ordered by numeric value, so the labels
/// −1 and 1 become classes 0 and 1, and "1", "1.0" and "1.0000000e+00" are the same class. As
/// soon as one label is not a number, every label is taken as text and the classes are ordered
/// by string comparison. Each class keeps the label text it was first seen with.
public struct UCRLabelMapping: Equatable, Sendable {
    /// The original label text of each class; class `i` is `classNames[i]`.
    public let classNames: [String]
    /// Whether the labels are compared as numbers (all finite numbers) rather than as text.
    public let isNumeric: Bool
    /// The numeric value of each class, ascending, when `isNumeric`; empty otherwise.
    private let numericValues: [Double]

    /// The mapping defined by `labels`, the label texts of a dataset in file order (repeats allowed).
    ///
    /// Surrounding spaces and tabs are ignored.
    /// - Throws: `ClinicDataError.invalidInput` when `labels` is empty or a label is empty.
    public init(labels: some Sequence<String>) throws(ClinicDataError) {
        var texts: [String] = []
        for label in labels {
            let text = String(label.trimmingBlanks())
            if text.isEmpty { throw .invalidInput(reason: "UCRLabelMapping: a class label is empty") }
            texts.append(text)
        }
        if texts.isEmpty { throw .invalidInput(reason: "UCRLabelMapping: no labels") }

        let numbers = texts.map(Self.numericValue)
        if numbers.allSatisfy({ $0 != nil }) {
            var firstText: [Double: String] = [:]
            for (text, number) in zip(texts, numbers) where firstText[number!] == nil {
                firstText[number!] = text
            }
            let values = firstText.keys.sorted()
            numericValues = values
            classNames = values.map { firstText[$0]! }
            isNumeric = true
        } else {
            numericValues = []
            classNames = Array(Set(texts)).sorted()
            isNumeric = false
        }
    }

    /// The number of classes.
    public var classCount: Int { classNames.count }

    /// The class index of `label`, or `nil` when the mapping has no such class.
    ///
    /// Numeric mappings compare by value ("2.0" finds the class of "2"), text mappings by the
    /// exact text; surrounding spaces and tabs are ignored.
    public func classIndex(of label: String) -> Int? {
        let text = String(label.trimmingBlanks())
        if isNumeric {
            guard let value = Self.numericValue(text) else { return nil }
            return Self.binarySearch(numericValues, value)
        }
        return Self.binarySearch(classNames, text)
    }

    /// The label as a finite number, or `nil`.
    private static func numericValue(_ text: String) -> Double? {
        guard let value = Double(text), value.isFinite else { return nil }
        return value == 0 ? 0 : value  // −0 and 0 are one class
    }

    private static func binarySearch<T: Comparable>(_ sorted: [T], _ key: T) -> Int? {
        var low = 0
        var high = sorted.count
        while low < high {
            let middle = (low + high) / 2
            if sorted[middle] < key { low = middle + 1 } else { high = middle }
        }
        return low < sorted.count && sorted[low] == key ? low : nil
    }
}

/// A univariate time-series classification dataset in the UCR archive format.
///
/// The file holds one series per line: the class label, then the values, separated by tabs, by
/// commas or by runs of spaces, the first line deciding which for the whole file. Lines may end
/// in LF, CRLF or CR; a UTF-8 byte-order mark and blank lines at the very end are ignored.
///
/// Series of different lengths are allowed the way the UCR archive writes them: trailing `NaN`
/// values are padding. Each series' own length is kept in `lengths`, and `values` holds every
/// series padded with zeros to `seriesLength`, so a model can mask the padding (see `mask()`).
/// Refused with a `ClinicDataError` that names the file, line and field: a non-number, ±Inf, a
/// number beyond the Float range, or NaN before the last value of a series; an empty label; a
/// line with no values; a blank line before the last series; a file that is not UTF-8 text
/// (a NUL byte, invalid UTF-8), empty, or larger than the limits in `Options`.
public struct UCRDataset: Equatable, Sendable {
    /// Limits and transformations applied while loading.
    public struct Options: Equatable, Sendable {
        /// The default `maxBytes`: 1 GiB, several times the largest file of the UCR 2018 archive.
        public static let defaultMaxBytes = 1 << 30
        /// The default `maxSeriesLength`: 1,048,576 values.
        public static let defaultMaxSeriesLength = 1 << 20
        /// The default `maxValues`: 268,435,456 values (1 GiB of Float).
        public static let defaultMaxValues = 1 << 28

        /// Whether each series is z-normalised over its own values (padding excluded): the mean
        /// subtracted and the result divided by the population standard deviation. A constant
        /// series becomes all zeros.
        public var zNormalize: Bool
        /// The largest file, in bytes, that is read.
        public var maxBytes: Int
        /// The most fields a line may hold after its label, NaN padding included.
        public var maxSeriesLength: Int
        /// The most values the dataset may hold once every series is padded to the longest.
        public var maxValues: Int
        /// The line number of the bytes' first line: 1 for a whole file, a block's first line
        /// when a larger file is read a block at a time (errors and `lineNumbers` count from it).
        public var firstLine = 1

        /// Options with the given settings; the defaults neither normalise nor restrict real data.
        public init(
            zNormalize: Bool = false, maxBytes: Int = defaultMaxBytes,
            maxSeriesLength: Int = defaultMaxSeriesLength, maxValues: Int = defaultMaxValues
        ) {
            self.zNormalize = zNormalize
            self.maxBytes = maxBytes
            self.maxSeriesLength = maxSeriesLength
            self.maxValues = maxValues
        }
    }

    /// Where the series came from (the file path), for messages and reports.
    public let source: String
    /// The field separator found in the file.
    public let delimiter: UCRDelimiter
    /// The classes: which label text each class index stands for.
    public let labelMapping: UCRLabelMapping
    /// The class of each series, an index into `classNames`.
    public let labels: [Int32]
    /// The number of values of each series, NaN padding excluded; at least 1.
    public let lengths: [Int]
    /// The length every series is padded to: the longest series, unless padded further with
    /// `padded(to:maxValues:)`.
    public let seriesLength: Int
    /// The values, row-major: series `i` is `values[i * seriesLength ..< (i + 1) * seriesLength]`,
    /// its first `lengths[i]` entries real, the rest zeros.
    public let values: [Float]
    /// For each series, the 1-based line of the file it came from.
    public let lineNumbers: [Int]
    /// Whether each series was z-normalised on load.
    public let isZNormalized: Bool

    /// The number of series.
    public var count: Int { labels.count }
    /// The number of classes.
    public var classCount: Int { labelMapping.classCount }
    /// The original label text of each class; class `i` is `classNames[i]`.
    public var classNames: [String] { labelMapping.classNames }
    /// Whether the series differ in length (some were padded).
    public var isVariableLength: Bool { lengths.contains { $0 != seriesLength } }

    /// How many series each class has, indexed by class.
    public var classCounts: [Int] {
        var counts = [Int](repeating: 0, count: classCount)
        for label in labels { counts[Int(label)] += 1 }
        return counts
    }

    /// The `seriesLength` values of series `index`, zero padding included.
    public func series(at index: Int) -> ArraySlice<Float> {
        values[index * seriesLength..<(index + 1) * seriesLength]
    }

    /// The `lengths[index]` real values of series `index`, without padding.
    public func validValues(at index: Int) -> ArraySlice<Float> {
        values[index * seriesLength..<index * seriesLength + lengths[index]]
    }

    /// A mask laid out like `values`: 1 where a value is real, 0 where it is padding.
    public func mask() -> [Float] {
        var mask = [Float](repeating: 0, count: values.count)
        for (series, length) in lengths.enumerated() {
            let start = series * seriesLength
            for index in start..<start + length { mask[index] = 1 }
        }
        return mask
    }

    /// Reads and parses the UCR file at `url`.
    ///
    /// - Parameters:
    ///   - url: the `.tsv` (or `.txt`) file, one series per line with its label first.
    ///   - labelMapping: the classes to map labels onto, normally the training file's, so that a
    ///     test file uses the same class indices; when `nil`, the file's own labels define them
    ///     and at least two classes are required.
    ///   - options: size limits and z-normalisation.
    /// - Throws: `ClinicDataError`: `.unreadable`, `.fileTooLarge`, `.notText`, `.noSeries`,
    ///   `.blankLine`, `.invalidLabel`, `.invalidNumber`, `.emptySeries`, `.seriesTooLong`,
    ///   `.tooManyValues`, `.tooFewClasses`, or `.unknownLabel` for a label `labelMapping` lacks.
    public init(
        contentsOf url: URL, labelMapping: UCRLabelMapping? = nil, options: Options = Options()
    ) throws(ClinicDataError) {
        let source = url.isFileURL ? url.path : url.absoluteString
        let bytes = try Self.readFile(url, source: source, maxBytes: options.maxBytes)
        try self.init(bytes: bytes, source: source, labelMapping: labelMapping, options: options)
    }

    /// Parses UCR text; `source` names it in error messages. See `init(contentsOf:labelMapping:options:)`.
    public init(
        text: String, source: String = "<text>", labelMapping: UCRLabelMapping? = nil, options: Options = Options()
    ) throws(ClinicDataError) {
        try self.init(bytes: Array(text.utf8), source: source, labelMapping: labelMapping, options: options)
    }

    /// Parses UCR bytes, checking that they are UTF-8 text; `source` names them in error
    /// messages. See `init(contentsOf:labelMapping:options:)`.
    ///
    /// When `confidential` (bytes decrypted in memory), errors name the file, line and field
    /// but never quote a value or a label.
    public init(
        bytes: [UInt8], source: String, labelMapping: UCRLabelMapping? = nil, options: Options = Options(),
        confidential: Bool = false
    ) throws(ClinicDataError) {
        let file = ClinicDataError.Location(source: source, confidential: confidential)
        if bytes.count > options.maxBytes {
            throw .fileTooLarge(file, bytes: bytes.count, limit: options.maxBytes)
        }
        let parsed = try UCRParser(
            bytes: bytes, source: source, maxSeriesLength: options.maxSeriesLength, confidential: confidential, firstLine: options.firstLine
        ).parse()

        let mapping: UCRLabelMapping
        if let labelMapping {
            mapping = labelMapping
        } else {
            mapping = try UCRLabelMapping(labels: parsed.labels)
            if mapping.classCount < 2 { throw .tooFewClasses(file, found: mapping.classNames) }
        }
        var labels: [Int32] = []
        labels.reserveCapacity(parsed.labels.count)
        for (label, line) in zip(parsed.labels, parsed.lineNumbers) {
            guard let index = mapping.classIndex(of: label) else {
                throw .unknownLabel(
                    .init(source: source, line: line, field: 1, column: "label", confidential: confidential), label: label,
                    known: mapping.classNames)
            }
            labels.append(Int32(index))
        }

        let lengths = (0..<labels.count).map { parsed.offsets[$0 + 1] - parsed.offsets[$0] }
        let longest = lengths.max() ?? 0
        var values = try Self.pad(
            parsed.values, offsets: parsed.offsets, to: longest, maxValues: options.maxValues, source: source)
        if options.zNormalize {
            for (series, length) in lengths.enumerated() {
                Self.zNormalize(&values, start: series * longest, count: length)
            }
        }
        self.init(
            source: source, delimiter: parsed.delimiter, labelMapping: mapping, labels: labels, lengths: lengths,
            seriesLength: longest, values: values, lineNumbers: parsed.lineNumbers, isZNormalized: options.zNormalize)
    }

    private init(
        source: String, delimiter: UCRDelimiter, labelMapping: UCRLabelMapping, labels: [Int32], lengths: [Int],
        seriesLength: Int, values: [Float], lineNumbers: [Int], isZNormalized: Bool
    ) {
        self.source = source
        self.delimiter = delimiter
        self.labelMapping = labelMapping
        self.labels = labels
        self.lengths = lengths
        self.seriesLength = seriesLength
        self.values = values
        self.lineNumbers = lineNumbers
        self.isZNormalized = isZNormalized
    }

    /// Loads a training and a test file with one label mapping, the training file's, and pads
    /// both to the longer of their series lengths so one model input size fits both.
    ///
    /// - Throws: any error of `init(contentsOf:labelMapping:options:)`; in particular
    ///   `.unknownLabel` naming the test file and line of a label the training file lacks.
    public static func loadSplits(
        train: URL, test: URL, options: Options = Options()
    ) throws(ClinicDataError) -> (train: UCRDataset, test: UCRDataset) {
        let trainSet = try UCRDataset(contentsOf: train, options: options)
        let testSet = try UCRDataset(contentsOf: test, labelMapping: trainSet.labelMapping, options: options)
        let length = max(trainSet.seriesLength, testSet.seriesLength)
        return (
            try trainSet.padded(to: length, maxValues: options.maxValues),
            try testSet.padded(to: length, maxValues: options.maxValues)
        )
    }

    /// The same dataset with every series padded with zeros to `length` values.
    ///
    /// - Throws: `ClinicDataError.invalidInput` when `length` is shorter than `seriesLength`,
    ///   `.tooManyValues` when the padded dataset would exceed `maxValues`.
    public func padded(
        to length: Int, maxValues: Int = Options.defaultMaxValues
    ) throws(ClinicDataError) -> UCRDataset {
        guard length >= seriesLength else {
            throw .invalidInput(
                reason: "UCRDataset.padded: length \(length) is shorter than the series length \(seriesLength)")
        }
        if length == seriesLength { return self }
        let offsets = (0...count).map { $0 * seriesLength }
        let padded = try Self.pad(values, offsets: offsets, to: length, maxValues: maxValues, source: source)
        return UCRDataset(
            source: source, delimiter: delimiter, labelMapping: labelMapping, labels: labels, lengths: lengths,
            seriesLength: length, values: padded, lineNumbers: lineNumbers, isZNormalized: isZNormalized)
    }

    /// The series `flat[offsets[i] ..< offsets[i + 1]]`, each written at `i * length` and padded with zeros.
    private static func pad(
        _ flat: [Float], offsets: [Int], to length: Int, maxValues: Int, source: String
    ) throws(ClinicDataError) -> [Float] {
        let seriesCount = offsets.count - 1
        let (total, overflow) = seriesCount.multipliedReportingOverflow(by: length)
        if overflow || total > maxValues {
            throw .tooManyValues(.init(source: source), values: overflow ? Int.max : total, limit: maxValues)
        }
        var values = [Float](repeating: 0, count: total)
        for series in 0..<seriesCount {
            let start = offsets[series]
            let end = offsets[series + 1]
            let destination = series * length
            for index in start..<end { values[destination + index - start] = flat[index] }
        }
        return values
    }

    /// Subtracts the mean of `values[start ..< start + count]` and divides by their population
    /// standard deviation; a constant run becomes zeros.
    private static func zNormalize(_ values: inout [Float], start: Int, count: Int) {
        var sum = 0.0
        for index in start..<start + count { sum += Double(values[index]) }
        let mean = sum / Double(count)
        var squares = 0.0
        for index in start..<start + count {
            let deviation = Double(values[index]) - mean
            squares += deviation * deviation
        }
        let deviation = (squares / Double(count)).squareRoot()
        for index in start..<start + count {
            values[index] = deviation > 0 ? Float((Double(values[index]) - mean) / deviation) : 0
        }
    }

    /// Reads at most `maxBytes` bytes of `url`, refusing a larger file without reading it all.
    private static func readFile(_ url: URL, source: String, maxBytes: Int) throws(ClinicDataError) -> [UInt8] {
        let file = ClinicDataError.Location(source: source)
        if let size = (try? FileManager.default.attributesOfItem(atPath: url.path))?[.size] as? NSNumber,
            size.int64Value > Int64(maxBytes)
        {
            throw .fileTooLarge(file, bytes: Int(truncatingIfNeeded: size.int64Value), limit: maxBytes)
        }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw .unreadable(file, reason: "it is a directory")
        }
        let data: Data
        do {
            let handle = try FileHandle(forReadingFrom: url)
            defer { try? handle.close() }
            data = try handle.read(upToCount: maxBytes == Int.max ? maxBytes : maxBytes + 1) ?? Data()
        } catch {
            throw .unreadable(file, reason: error.localizedDescription)
        }
        if data.count > maxBytes { throw .fileTooLarge(file, bytes: nil, limit: maxBytes) }
        return [UInt8](data)
    }
}

private let space = UInt8(ascii: " ")
private let tab = UInt8(ascii: "\t")
private let comma = UInt8(ascii: ",")
private let carriageReturn = UInt8(ascii: "\r")
private let lineFeed = UInt8(ascii: "\n")

/// The byte-level reader behind `UCRDataset`: lines, fields, text checks and numbers.
private struct UCRParser {
    struct Result {
        var delimiter: UCRDelimiter
        /// The label text of each series, trimmed.
        var labels: [String]
        /// The real values of every series, one after another.
        var values: [Float]
        /// Series `i` is `values[offsets[i] ..< offsets[i + 1]]`.
        var offsets: [Int]
        var lineNumbers: [Int]
    }

    let bytes: [UInt8]
    let source: String
    let maxSeriesLength: Int
    let confidential: Bool
    /// The line number of the first line of `bytes`.
    var firstLine = 1

    func parse() throws(ClinicDataError) -> Result {
        let lines = splitLines()
        guard let last = lines.lastIndex(where: { !isBlank($0) }) else {
            throw .noSeries(.init(source: source, confidential: confidential))
        }
        if isBlank(lines[0]) { throw .blankLine(.init(source: source, line: firstLine, confidential: confidential)) }
        let delimiter: UCRDelimiter =
            lines[0].contains { bytes[$0] == tab } ? .tab : lines[0].contains { bytes[$0] == comma } ? .comma : .whitespace

        var result = Result(delimiter: delimiter, labels: [], values: [], offsets: [0], lineNumbers: [])
        var lineValues: [Float] = []
        for (index, range) in lines[...last].enumerated() {
            let line = index + firstLine
            if isBlank(range) { throw .blankLine(.init(source: source, line: line, confidential: confidential)) }
            let label = try parseLine(range, line: line, delimiter: delimiter, into: &lineValues)
            result.labels.append(label)
            result.values.append(contentsOf: lineValues)
            result.offsets.append(result.values.count)
            result.lineNumbers.append(line)
        }
        return result
    }

    /// The byte ranges of the lines, split at LF, CRLF or a lone CR, after a byte-order mark.
    private func splitLines() -> [Range<Int>] {
        var lines: [Range<Int>] = []
        var index = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
        var start = index
        while index < bytes.count {
            let byte = bytes[index]
            if byte == lineFeed || byte == carriageReturn {
                lines.append(start..<index)
                index += 1
                if byte == carriageReturn, index < bytes.count, bytes[index] == lineFeed { index += 1 }
                start = index
            } else {
                index += 1
            }
        }
        if start < bytes.count { lines.append(start..<bytes.count) }
        return lines
    }

    private func isBlank(_ range: Range<Int>) -> Bool {
        range.allSatisfy { bytes[$0] == space || bytes[$0] == tab }
    }

    /// Parses one series into `values` (padding removed) and returns its label.
    private func parseLine(
        _ range: Range<Int>, line: Int, delimiter: UCRDelimiter, into values: inout [Float]
    ) throws(ClinicDataError) -> String {
        // First the whole line is checked to be text, so a binary file is called that rather
        // than a bad number, and its length is checked before any value is stored.
        var fieldCount = 0
        var fields = FieldCursor(bytes: bytes, range: range, delimiter: delimiter)
        while let field = fields.next() {
            try checkText(field, line: line, field: fieldCount)
            fieldCount += 1
        }
        if fieldCount - 1 > maxSeriesLength {
            throw .seriesTooLong(
                .init(source: source, line: line, confidential: confidential), length: fieldCount - 1, limit: maxSeriesLength)
        }

        fields = FieldCursor(bytes: bytes, range: range, delimiter: delimiter)
        let labelText = text(trimmed(fields.next()!, delimiter: delimiter))
        if labelText.isEmpty {
            throw .invalidLabel(location(line: line, field: 0), reason: "the class label is empty")
        }
        values.removeAll(keepingCapacity: true)
        var firstNaN: (field: Int, text: String)?
        var validLength = 0
        var field = 1
        while let range = fields.next() {
            let cell = text(trimmed(range, delimiter: delimiter))
            let value = try number(cell, line: line, field: field)
            if value.isNaN {
                if firstNaN == nil { firstNaN = (field, cell) }
            } else {
                validLength = field
            }
            values.append(value)
            field += 1
        }
        if fieldCount == 1, delimiter != .whitespace,
            let other = labelText.first(where: { $0 == "," || $0 == "\t" || $0 == " " })
        {
            // A line written with another separator than the first line reads as one long label.
            let name = other == "," ? "commas" : other == "\t" ? "tabs" : "spaces"
            throw .invalidLabel(
                location(line: line, field: 0),
                reason: "the line separates its fields with \(name), but the first line of the file "
                    + "uses \(delimiter == .tab ? "tabs" : "commas"); one separator is required throughout")
        }
        if validLength == 0 { throw .emptySeries(.init(source: source, line: line, field: 2, confidential: confidential)) }
        if let firstNaN, firstNaN.field < validLength {
            throw .invalidNumber(
                location(line: line, field: firstNaN.field), text: firstNaN.text,
                reason: "is NaN before the last value of the series (value \(firstNaN.field)); "
                    + "NaN is allowed only as padding at the end")
        }
        values.removeLast(values.count - validLength)
        return labelText
    }

    /// The value of a cell: a number within the Float range, or NaN (padding, checked by the caller).
    private func number(_ cell: String, line: Int, field: Int) throws(ClinicDataError) -> Float {
        let at = location(line: line, field: field)
        if cell.isEmpty {
            throw .invalidNumber(at, text: cell, reason: "is empty; a number is required (value \(field))")
        }
        guard let value = Float(cell) else {
            throw .invalidNumber(at, text: cell, reason: "is not a number (value \(field))")
        }
        if value.isInfinite {
            let reason = cell.lowercased().contains("inf")
                ? "is infinite; a finite number is required (value \(field))"
                : "is outside the range of a 32-bit float (value \(field))"
            throw .invalidNumber(at, text: cell, reason: reason)
        }
        return value
    }

    /// Throws unless the field is UTF-8 text without NUL bytes.
    private func checkText(_ range: Range<Int>, line: Int, field: Int) throws(ClinicDataError) {
        var ascii = true
        for index in range {
            let byte = bytes[index]
            if byte == 0 { throw .notText(location(line: line, field: field), reason: "NUL byte") }
            if byte >= 0x80 { ascii = false }
        }
        if !ascii, String(validating: bytes[range], as: UTF8.self) == nil {
            throw .notText(location(line: line, field: field), reason: "invalid UTF-8")
        }
    }

    /// The range without surrounding spaces (and tabs, where a tab is not the separator).
    private func trimmed(_ range: Range<Int>, delimiter: UCRDelimiter) -> Range<Int> {
        var start = range.lowerBound
        var end = range.upperBound
        while start < end, bytes[start] == space || (delimiter != .tab && bytes[start] == tab) { start += 1 }
        while end > start, bytes[end - 1] == space || (delimiter != .tab && bytes[end - 1] == tab) { end -= 1 }
        return start..<end
    }

    private func text(_ range: Range<Int>) -> String {
        String(decoding: bytes[range], as: UTF8.self)
    }

    /// The location of the 0-based `field` (0 is the label, `k` the k-th value).
    private func location(line: Int, field: Int) -> ClinicDataError.Location {
        .init(source: source, line: line, field: field + 1, column: field == 0 ? "label" : nil, confidential: confidential)
    }
}

/// Walks the fields of one line for a given separator.
private struct FieldCursor {
    let bytes: [UInt8]
    let end: Int
    let delimiter: UCRDelimiter
    var position: Int
    var finished = false

    init(bytes: [UInt8], range: Range<Int>, delimiter: UCRDelimiter) {
        self.bytes = bytes
        end = range.upperBound
        self.delimiter = delimiter
        position = range.lowerBound
    }

    /// The next field's byte range (untrimmed for tab and comma), or `nil` after the last.
    mutating func next() -> Range<Int>? {
        if delimiter == .whitespace {
            while position < end, bytes[position] == space || bytes[position] == tab { position += 1 }
            if position >= end { return nil }
            let start = position
            while position < end, bytes[position] != space, bytes[position] != tab { position += 1 }
            return start..<position
        }
        if finished { return nil }
        let separator = delimiter == .tab ? tab : comma
        let start = position
        while position < end, bytes[position] != separator { position += 1 }
        let field = start..<position
        if position < end { position += 1 } else { finished = true }
        return field
    }
}

extension String {
    /// The text without leading and trailing spaces and tabs.
    fileprivate func trimmingBlanks() -> Substring {
        let isBlank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = firstIndex(where: { !isBlank($0) }) else { return "" }
        return self[first...lastIndex(where: { !isBlank($0) })!]
    }
}
