import Foundation

// A reader for NumPy's .npy format (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html).
// The file is untrusted input: every length and dimension in it is checked against the bytes
// actually present and against a caller-set element limit before anything is allocated.

/// An n-dimensional array read from a NumPy `.npy` file (format versions 1.0, 2.0 and 3.0).
///
/// Only plain little-endian numeric arrays in C (row-major) order are read; big-endian data,
/// Fortran order, structured and object arrays are refused with an error that says so. The
/// element bytes are kept as stored and converted on demand with `floats()` or `int64s()`.
public struct NPYArray: Equatable, Sendable {
    /// The element types this reader handles, named by their NumPy type string.
    public enum DType: String, CaseIterable, Equatable, Sendable {
        /// `bool`, one byte per element, 0 or 1.
        case bool = "|b1"
        /// `uint8`.
        case uint8 = "|u1"
        /// `int8`.
        case int8 = "|i1"
        /// Little-endian `uint16`.
        case uint16 = "<u2"
        /// Little-endian `int16`.
        case int16 = "<i2"
        /// Little-endian `uint32`.
        case uint32 = "<u4"
        /// Little-endian `int32`.
        case int32 = "<i4"
        /// Little-endian `uint64`.
        case uint64 = "<u8"
        /// Little-endian `int64`.
        case int64 = "<i8"
        /// Little-endian IEEE 754 single precision.
        case float32 = "<f4"
        /// Little-endian IEEE 754 double precision.
        case float64 = "<f8"

        /// The number of bytes one element takes.
        public var itemSize: Int {
            switch self {
            case .bool, .uint8, .int8: 1
            case .uint16, .int16: 2
            case .uint32, .int32, .float32: 4
            case .uint64, .int64, .float64: 8
            }
        }

        /// Whether the elements are signed or unsigned integers (`bool` is not counted as one).
        public var isInteger: Bool {
            switch self {
            case .uint8, .int8, .uint16, .int16, .uint32, .int32, .uint64, .int64: true
            case .bool, .float32, .float64: false
            }
        }

        /// Whether the elements are floating-point numbers.
        public var isFloatingPoint: Bool { self == .float32 || self == .float64 }
    }

    /// The most elements an array may hold unless the caller says otherwise: 2³¹.
    public static let defaultMaxElements = 1 << 31
    /// The environment variable that sets `defaultMaxBytes`.
    public static let budgetVariable = "SCALPEL_MAX_ARRAY_BYTES"
    /// The memory one array may take unless the caller says otherwise (see `memoryBytes(count:dtype:)`):
    /// `SCALPEL_MAX_ARRAY_BYTES` when it holds a byte count, else an eighth of physical memory.
    /// See `memoryBudget(environment:physicalMemory:)`.
    public static let defaultMaxBytes = memoryBudget(
        environment: ProcessInfo.processInfo.environment, physicalMemory: ProcessInfo.processInfo.physicalMemory)

    /// The memory budget of one array: the byte count `SCALPEL_MAX_ARRAY_BYTES` gives in
    /// `environment` (digits, optionally followed by K, M, G or T, with or without "B" or "iB",
    /// each a power of 1024: "512M", "4GiB"), else an eighth of `physicalMemory`. An eighth,
    /// since loading makes several copies of an array on its way to a model (the stored bytes,
    /// the 32-bit floats, scaled and transposed ones). A value that is not such a count is
    /// ignored.
    public static func memoryBudget(environment: [String: String], physicalMemory: UInt64) -> Int {
        if let text = environment[budgetVariable], let bytes = byteCount(text) { return bytes }
        return Int(clamping: physicalMemory / 8)
    }

    /// "4096", "512M", "4 GiB" as bytes (powers of 1024), or nil.
    static func byteCount(_ text: String) -> Int? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let digits = trimmed.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, let value = Int(digits) else { return nil }
        let suffix = trimmed.dropFirst(digits.count).trimmingCharacters(in: .whitespaces).uppercased()
        let exponents = ["": 0, "B": 0, "K": 1, "KB": 1, "KIB": 1, "M": 2, "MB": 2, "MIB": 2, "G": 3, "GB": 3, "GIB": 3,
                         "T": 4, "TB": 4, "TIB": 4]
        guard let exponent = exponents[suffix] else { return nil }
        let (bytes, overflow) = value.multipliedReportingOverflow(by: 1 << (10 * exponent))
        return overflow ? nil : bytes
    }

    /// The memory an array of `count` elements of `dtype` is counted as taking against the
    /// budget: its stored bytes, or 4 bytes per element when that is more, since every loader
    /// converts the elements to 32-bit floats. Saturates instead of overflowing.
    public static func memoryBytes(count: Int, dtype: DType) -> UInt64 {
        let (bytes, overflow) = UInt64(max(count, 0)).multipliedReportingOverflow(by: UInt64(max(dtype.itemSize, 4)))
        return overflow ? .max : bytes
    }
    /// The longest header accepted. NumPy itself refuses headers over 10 000 bytes when loading
    /// without `allow_pickle`; a plain array's header is well under 1 KiB even at 64 dimensions.
    public static let maxHeaderBytes = 65_536

    /// The length of each axis, outermost first; empty for a 0-dimensional (scalar) array.
    public let shape: [Int]
    /// The element type.
    public let dtype: DType
    /// The element bytes as stored: little-endian, C order, exactly `count × dtype.itemSize` bytes.
    public let data: [UInt8]

    /// The number of elements, the product of `shape` (1 for a scalar).
    public var count: Int { data.count / dtype.itemSize }

    /// Parses the bytes of a whole `.npy` file.
    ///
    /// - Parameters:
    ///   - bytes: the file's bytes; the array takes them over, dropping the header in place.
    ///   - source: the file the bytes came from, named in error messages.
    ///   - member: the zip member name when the bytes come from an `.npz`, named in error messages.
    ///   - maxElements: arrays with more elements than this are refused before any allocation.
    ///   - maxBytes: the memory budget: arrays whose `memoryBytes(count:dtype:)` is above it
    ///     are refused from their header, before their elements are converted.
    ///   - confidential: the bytes were decrypted in memory; errors keep their content out.
    /// - Throws: `ClinicDataError.malformedNPY` for bad magic, an unknown version, a truncated,
    ///   oversized or unparseable header; `.unsupportedNPY` for big-endian, Fortran order or an
    ///   unsupported dtype; `.invalidShape` for negative or oversized dimensions or too many
    ///   elements; `.arrayTooLarge` above the memory budget; `.dataSizeMismatch` when the data
    ///   is not exactly shape × item size bytes.
    public init(
        bytes: consuming [UInt8], source: String = "<bytes>", member: String? = nil,
        maxElements: Int = NPYArray.defaultMaxElements, maxBytes: Int = NPYArray.defaultMaxBytes,
        confidential: Bool = false
    ) throws(ClinicDataError) {
        let at = ClinicDataError.Location(source: source, member: member, confidential: confidential)
        let layout = try Self.layout(bytes, at: at, maxElements: maxElements)
        let actualBytes = bytes.count - layout.headerEnd
        if actualBytes != layout.dataBytes {
            throw .dataSizeMismatch(at, expectedBytes: layout.dataBytes, actualBytes: actualBytes)
        }
        // The bytes are all here; what the budget guards is the conversion to floats after.
        try Self.checkBudget(layout, maxBytes: maxBytes, at: at)
        // Dropping the header in place reuses the caller's buffer instead of copying the data.
        var data = consume bytes
        data.removeSubrange(0..<layout.headerEnd)
        self.shape = layout.shape
        self.dtype = layout.dtype
        self.data = data
    }

    /// What an `.npy` header declares: where the data starts, and its shape, type and size.
    struct Layout {
        var headerEnd: Int
        var shape: [Int]
        var dtype: DType
        /// The bytes of data after the header: the element count × the item size.
        var dataBytes: Int
        /// The whole file: header and data.
        var fileBytes: Int { headerEnd + dataBytes }
    }

    /// Reads and checks the header at the start of `bytes`, which must hold all of it: the
    /// dtype, the order and the element count against `maxElements`.
    static func layout(_ bytes: [UInt8], at: ClinicDataError.Location, maxElements: Int) throws(ClinicDataError) -> Layout {
        let (headerStart, headerEnd) = try headerBounds(bytes, at: at)
        let header = try NPYHeader(bytes[headerStart..<headerEnd], at: at)
        let dtype = try Self.dtype(from: header.descr, at: at)
        if header.fortranOrder {
            throw .unsupportedNPY(at, reason: "Fortran (column-major) order is not supported; save the array in C order")
        }
        let count = try Self.elementCount(header.shape, maxElements: maxElements, at: at)
        // Cannot overflow: count ≤ maxElements was checked and the item size is at most 8,
        // but the arithmetic is checked anyway since maxElements is the caller's.
        let (dataBytes, overflow) = count.multipliedReportingOverflow(by: dtype.itemSize)
        let (fileBytes, overflow2) = dataBytes.addingReportingOverflow(headerEnd)
        if overflow || overflow2 || fileBytes < 0 {
            throw .invalidShape(at, reason: "\(Self.describe(header.shape)) of \(dtype.rawValue) is too many bytes")
        }
        return Layout(headerEnd: headerEnd, shape: header.shape, dtype: dtype, dataBytes: dataBytes)
    }

    /// Refuses an array whose `memoryBytes(count:dtype:)` is above `maxBytes`.
    static func checkBudget(_ layout: Layout, maxBytes: Int, at: ClinicDataError.Location) throws(ClinicDataError) {
        let memory = memoryBytes(count: layout.dataBytes / layout.dtype.itemSize, dtype: layout.dtype)
        let limit = UInt64(max(maxBytes, 0))
        if memory > limit {
            throw .arrayTooLarge(at, shape: layout.shape, dtype: layout.dtype.rawValue, bytes: memory, limit: limit)
        }
    }

    /// The layout the first bytes of an `.npy` stream declare once they hold the whole header,
    /// nil while more are needed; for bounding a stream (an `.npz` member as it inflates, a file
    /// before it is read) by what its header says before the rest arrives. Throws as `layout`
    /// and `checkBudget` do, and as soon as the bytes cannot start an `.npy` file.
    static func declaredLayout(
        prefix bytes: [UInt8], at: ClinicDataError.Location, maxElements: Int, maxBytes: Int
    ) throws(ClinicDataError) -> Layout? {
        let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]
        if bytes.count < 8 {
            // Too short to tell anything but a wrong start, which headerBounds names.
            if !magic.starts(with: bytes.prefix(6)) { _ = try headerBounds(bytes, at: at) }
            return nil
        }
        guard bytes.starts(with: magic), (1...3).contains(bytes[6]), bytes[7] == 0 else {
            _ = try headerBounds(bytes, at: at)
            return nil
        }
        let headerStart = bytes[6] == 1 ? 10 : 12
        if bytes.count < headerStart { return nil }
        var headerLength = 0
        for index in (8..<headerStart).reversed() { headerLength = headerLength << 8 | Int(bytes[index]) }
        if headerLength <= maxHeaderBytes, bytes.count < headerStart + headerLength { return nil }
        let found = try layout(bytes, at: at, maxElements: maxElements)
        try checkBudget(found, maxBytes: maxBytes, at: at)
        return found
    }

    /// Reads and parses the `.npy` file at `url`; see `init(bytes:source:member:maxElements:maxBytes:confidential:)`.
    ///
    /// The header is read first: an array above `maxElements` or the memory budget `maxBytes`
    /// is refused before the rest of the file is read, and so is a file larger than the
    /// biggest array `maxElements` allows.
    public static func load(
        from url: URL, maxElements: Int = NPYArray.defaultMaxElements, maxBytes: Int = NPYArray.defaultMaxBytes
    ) throws(ClinicDataError) -> NPYArray {
        let source = url.isFileURL ? url.path : url.absoluteString
        let at = ClinicDataError.Location(source: source)
        let size: Int
        do {
            let attributes = try FileManager.default.attributesOfItem(atPath: url.path)
            size = (attributes[.size] as? NSNumber)?.intValue ?? 0
        } catch {
            throw .unreadable(at, reason: error.localizedDescription)
        }
        let (dataLimit, overflow) = maxElements.multipliedReportingOverflow(by: 8)
        if !overflow && size - (12 + maxHeaderBytes) > dataLimit {
            throw .invalidShape(at, reason: "the file is \(size) bytes, more than an array of \(maxElements) elements can take")
        }
        do {
            let handle = try FileHandle(forReadingFrom: url)
            defer { try? handle.close() }
            var bytes = [UInt8](try handle.read(upToCount: 12 + maxHeaderBytes) ?? Data())
            if try declaredLayout(prefix: bytes, at: at, maxElements: maxElements, maxBytes: maxBytes) == nil {
                // The whole file is shorter than its header says: the parse below names the problem.
                return try NPYArray(bytes: bytes, source: source, maxElements: maxElements, maxBytes: maxBytes)
            }
            bytes.reserveCapacity(max(size, bytes.count))
            bytes.append(contentsOf: try handle.readToEnd() ?? Data())
            return try NPYArray(bytes: bytes, source: source, maxElements: maxElements, maxBytes: maxBytes)
        } catch let error as ClinicDataError {
            throw error
        } catch {
            throw .unreadable(at, reason: error.localizedDescription)
        }
    }

    /// The elements as `Float`, in C order. Integers convert to the nearest `Float` (exact up
    /// to 2²⁴), `float64` rounds to the nearest `Float`, `bool` gives 0 or 1.
    public func floats() -> [Float] {
        switch dtype {
        case .bool: elements(UInt8.self) { $0 == 0 ? 0 : 1 }
        case .uint8: elements(UInt8.self) { Float($0) }
        case .int8: elements(Int8.self) { Float($0) }
        case .uint16: elements(UInt16.self) { Float($0) }
        case .int16: elements(Int16.self) { Float($0) }
        case .uint32: elements(UInt32.self) { Float($0) }
        case .int32: elements(Int32.self) { Float($0) }
        case .uint64: elements(UInt64.self) { Float($0) }
        case .int64: elements(Int64.self) { Float($0) }
        case .float32: elements(UInt32.self) { Float(bitPattern: $0) }
        case .float64: elements(UInt64.self) { Float(Double(bitPattern: $0)) }
        }
    }

    /// The elements as `Int64`, in C order. `uint64` values above `Int64.max` clamp to it;
    /// floating-point values are truncated toward zero, clamped to `Int64`'s range, and NaN
    /// becomes 0, so the conversion never traps on hostile data.
    public func int64s() -> [Int64] {
        switch dtype {
        case .bool: elements(UInt8.self) { $0 == 0 ? 0 : 1 }
        case .uint8: elements(UInt8.self) { Int64($0) }
        case .int8: elements(Int8.self) { Int64($0) }
        case .uint16: elements(UInt16.self) { Int64($0) }
        case .int16: elements(Int16.self) { Int64($0) }
        case .uint32: elements(UInt32.self) { Int64($0) }
        case .int32: elements(Int32.self) { Int64($0) }
        case .uint64: elements(UInt64.self) { $0 > UInt64(Int64.max) ? .max : Int64($0) }
        case .int64: elements(Int64.self) { $0 }
        case .float32: elements(UInt32.self) { Self.clampedInt64(Double(Float(bitPattern: $0))) }
        case .float64: elements(UInt64.self) { Self.clampedInt64(Double(bitPattern: $0)) }
        }
    }

    /// Decodes every element as the little-endian integer `T` and maps it through `transform`.
    private func elements<T: FixedWidthInteger, R>(_: T.Type, _ transform: (T) -> R) -> [R] {
        let stride = MemoryLayout<T>.size
        return data.withUnsafeBytes { raw in
            [R](unsafeUninitializedCapacity: count) { buffer, initialized in
                for index in 0..<count {
                    let value = T(littleEndian: raw.loadUnaligned(fromByteOffset: index * stride, as: T.self))
                    (buffer.baseAddress! + index).initialize(to: transform(value))
                }
                initialized = count
            }
        }
    }

    /// `Int64(value)` without the trap on NaN or out-of-range values.
    private static func clampedInt64(_ value: Double) -> Int64 {
        if value.isNaN { return 0 }
        if value >= 0x1p63 { return .max }
        if value < -0x1p63 { return .min }
        return Int64(value)
    }

    /// The shape and element type of the `.npy` file at `url`, read from its header alone (the
    /// data is not read), for deciding what the array holds before loading it.
    ///
    /// - Throws: the header errors of `init(bytes:source:member:maxElements:)` and `.unreadable`.
    public static func shapeAndType(of url: URL) throws(ClinicDataError) -> (shape: [Int], dtype: DType) {
        let source = url.isFileURL ? url.path : url.absoluteString
        let at = ClinicDataError.Location(source: source)
        guard let handle = FileHandle(forReadingAtPath: url.path) else { throw .unreadable(at, reason: "cannot open the file") }
        defer { try? handle.close() }
        let head: [UInt8]
        do {
            head = [UInt8](try handle.read(upToCount: 12 + maxHeaderBytes) ?? Data())
        } catch {
            throw .unreadable(at, reason: error.localizedDescription)
        }
        let (start, end) = try headerBounds(head, at: at)
        let header = try NPYHeader(head[start..<end], at: at)
        return (header.shape, try dtype(from: header.descr, at: at))
    }

    /// Checks the magic and version and returns where the header text starts and ends.
    private static func headerBounds(_ bytes: [UInt8], at: ClinicDataError.Location) throws(ClinicDataError) -> (Int, Int) {
        let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // "\x93NUMPY"
        guard bytes.starts(with: magic), bytes.count >= 8 else {
            if magic.starts(with: bytes) || bytes.starts(with: magic) {
                throw .malformedNPY(at, reason: "the file is \(bytes.count) bytes, too short for the .npy preamble")
            }
            throw .malformedNPY(at, reason: "bad magic; a .npy file starts with \\x93NUMPY")
        }
        let (major, minor) = (bytes[6], bytes[7])
        guard (1...3).contains(major), minor == 0 else {
            throw .malformedNPY(at, reason: "format version \(major).\(minor) is not one of 1.0, 2.0, 3.0")
        }
        // Version 1.0 stores the header length in 2 bytes; 2.0 and 3.0 (UTF-8 header) in 4.
        let lengthBytes = major == 1 ? 2 : 4
        let headerStart = 8 + lengthBytes
        guard bytes.count >= headerStart else {
            throw .malformedNPY(at, reason: "the file ends inside the header length field")
        }
        var headerLength = 0
        for index in (8..<headerStart).reversed() { headerLength = headerLength << 8 | Int(bytes[index]) }
        guard headerLength <= maxHeaderBytes else {
            throw .malformedNPY(at, reason: "the header length \(headerLength) is over the \(maxHeaderBytes) bytes allowed")
        }
        guard headerLength <= bytes.count - headerStart else {
            throw .malformedNPY(
                at, reason: "the header length \(headerLength) runs past the end of the file "
                    + "(\(bytes.count - headerStart) bytes after the preamble)")
        }
        return (headerStart, headerStart + headerLength)
    }

    /// The element type named by a header's `descr`, or an error saying why it is refused.
    private static func dtype(from descr: NPYHeader.Descr, at: ClinicDataError.Location) throws(ClinicDataError) -> DType {
        let supported = DType.allCases.map(\.rawValue).joined(separator: ", ")
        guard case let .typeString(text) = descr else {
            throw .unsupportedNPY(at, reason: "structured dtypes are not supported; the supported dtypes are \(supported)")
        }
        guard let order = text.first, "<>|=".contains(order) else {
            throw .unsupportedNPY(at, reason: "dtype \(ClinicDataError.quoted(text)) is not supported; the supported dtypes are \(supported)")
        }
        let code = text.dropFirst()
        guard let dtype = DType.allCases.first(where: { $0.rawValue.dropFirst() == code }) else {
            throw .unsupportedNPY(at, reason: "dtype \(ClinicDataError.quoted(text)) is not supported; the supported dtypes are \(supported)")
        }
        // Byte order does not matter for one-byte elements, so any marker is accepted there.
        if dtype.itemSize == 1 || order == "<" { return dtype }
        if order == ">" {
            throw .unsupportedNPY(at, reason: "dtype \(ClinicDataError.quoted(text)) is big-endian; only little-endian ('<') arrays are supported")
        }
        throw .unsupportedNPY(at, reason: "dtype \(ClinicDataError.quoted(text)) does not state little-endian byte order ('<')")
    }

    /// The product of `shape`, refusing negative or oversized dimensions and overflow.
    private static func elementCount(
        _ shape: [Int], maxElements: Int, at: ClinicDataError.Location
    ) throws(ClinicDataError) -> Int {
        let text = describe(shape)
        if shape.count > 64 {
            throw .invalidShape(at, reason: "\(shape.count) dimensions is more than NumPy's limit of 64")
        }
        if let negative = shape.first(where: { $0 < 0 }) {
            throw .invalidShape(at, reason: "\(text) has a negative dimension \(negative)")
        }
        if let huge = shape.first(where: { $0 > maxElements }) {
            throw .invalidShape(at, reason: "\(text) has a dimension \(huge) above the limit of \(maxElements) elements")
        }
        var count = 1
        for dimension in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            if overflow { throw .invalidShape(at, reason: "\(text) has more elements than an Int can count") }
            count = product
        }
        if count > maxElements {
            throw .invalidShape(at, reason: "\(text) has \(count) elements, above the limit of \(maxElements)")
        }
        return count
    }

    /// A shape written the way NumPy prints it: "(546, 28, 28)", "(5,)", "()".
    static func describe(_ shape: [Int]) -> String {
        shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
    }
}

/// The Python dictionary literal at the start of an `.npy` file, such as
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (546, 28, 28), }`, parsed without Python.
///
/// Accepts what `numpy.lib.format` writes and what `ast.literal_eval` would read back for the
/// three keys: single- or double-quoted strings, `True`/`False`, tuples of integers (with the
/// `L` suffix of Python 2 files), trailing commas and whitespace padding.
struct NPYHeader {
    /// The `descr` value: a type string, or a list describing a structured dtype.
    enum Descr: Equatable {
        /// A simple type string such as `<f4`.
        case typeString(String)
        /// A structured (record) dtype, which this reader does not support.
        case structured
    }

    /// The element type.
    let descr: Descr
    /// Whether the data is in Fortran (column-major) order.
    let fortranOrder: Bool
    /// The dimensions as written, possibly negative; checking them is the caller's job.
    let shape: [Int]

    /// Parses the header text; `at` names the file in errors.
    init(_ text: ArraySlice<UInt8>, at: ClinicDataError.Location) throws(ClinicDataError) {
        var parser = NPYHeaderParser(bytes: Array(text), at: at)
        var values: [String: NPYHeaderParser.Value] = [:]
        for (key, value) in try parser.dictionary() {
            guard ["descr", "fortran_order", "shape"].contains(key) else {
                throw parser.failure(
                    "unexpected key \(ClinicDataError.quoted(key)); a header has only 'descr', 'fortran_order' and 'shape'")
            }
            guard values.updateValue(value, forKey: key) == nil else {
                throw parser.failure("the key \(ClinicDataError.quoted(key)) appears twice")
            }
        }
        switch values["descr"] {
        case let .string(text)?: descr = .typeString(text)
        case .list?: descr = .structured
        case nil: throw parser.failure("no 'descr' key")
        default: throw parser.failure("'descr' is not a string")
        }
        switch values["fortran_order"] {
        case let .bool(flag)?: fortranOrder = flag
        case nil: throw parser.failure("no 'fortran_order' key")
        default: throw parser.failure("'fortran_order' is not True or False")
        }
        switch values["shape"] {
        case let .tuple(dimensions)?: shape = dimensions
        case nil: throw parser.failure("no 'shape' key")
        default: throw parser.failure("'shape' is not a tuple of integers")
        }
    }
}

/// A recursive-descent reader for the small subset of Python literals an `.npy` header uses.
private struct NPYHeaderParser {
    /// A parsed dictionary value.
    enum Value {
        case string(String)
        case bool(Bool)
        case tuple([Int])
        /// A list, kept only as a marker: in a header it can only be a structured dtype.
        case list
    }

    let bytes: [UInt8]
    let at: ClinicDataError.Location
    var position = 0

    init(bytes: [UInt8], at: ClinicDataError.Location) {
        self.bytes = bytes
        self.at = at
    }

    /// A malformed-header error quoting the header (cut short, and not at all from a
    /// confidential file) and what was wrong.
    func failure(_ problem: String) -> ClinicDataError {
        if at.isConfidential { return .malformedNPY(at, reason: "cannot parse the header: \(problem)") }
        let text = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        // A whole dictionary is about a hundred characters; what is cut short is quoted like a cell.
        let quoted = ClinicDataError.quoted(text, limit: 160)
        let shown = quoted.hasPrefix("'") && quoted.hasSuffix("'") ? String(quoted.dropFirst().dropLast()) : quoted
        return .malformedNPY(at, reason: "cannot parse the header \(shown): \(problem)")
    }

    /// A failure that also says where in the header parsing stopped.
    func failure(expected: String) -> ClinicDataError {
        let found = position < bytes.count ? ClinicDataError.quoted(String(Character(Unicode.Scalar(bytes[position])))) : "the end"
        return failure("expected \(expected) at character \(position + 1), found \(found)")
    }

    /// The key-value pairs of the dictionary that must make up the whole header.
    mutating func dictionary() throws(ClinicDataError) -> [(String, Value)] {
        skipSpace()
        try expect(UInt8(ascii: "{"), "'{'")
        var pairs: [(String, Value)] = []
        while true {
            skipSpace()
            if take(UInt8(ascii: "}")) { break }
            let key = try string()
            skipSpace()
            try expect(UInt8(ascii: ":"), "':' after the key \(ClinicDataError.quoted(key))")
            skipSpace()
            pairs.append((key, try value()))
            skipSpace()
            if take(UInt8(ascii: ",")) { continue }
            try expect(UInt8(ascii: "}"), "',' or '}'")
            break
        }
        skipSpace()
        guard position == bytes.count else { throw failure(expected: "only padding after the dictionary") }
        return pairs
    }

    private mutating func value() throws(ClinicDataError) -> Value {
        switch peek() {
        case UInt8(ascii: "'"), UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "("): return .tuple(try tuple())
        case UInt8(ascii: "["):
            try skipList()
            return .list
        default:
            if takeWord("True") { return .bool(true) }
            if takeWord("False") { return .bool(false) }
            throw failure(expected: "a string, True, False, a tuple or a list")
        }
    }

    /// A quoted string without escapes, which no header key or type string needs.
    private mutating func string() throws(ClinicDataError) -> String {
        guard let quote = peek(), quote == UInt8(ascii: "'") || quote == UInt8(ascii: "\"") else {
            throw failure(expected: "a quoted string")
        }
        position += 1
        let start = position
        while let byte = peek(), byte != quote {
            if byte == UInt8(ascii: "\\") { throw failure("escape sequences in header strings are not supported") }
            position += 1
        }
        guard position < bytes.count else { throw failure("a string is never closed") }
        let text = String(decoding: bytes[start..<position], as: UTF8.self)
        position += 1
        return text
    }

    /// A tuple of integers such as `(546, 28, 28)`, `(5,)` or `()`.
    private mutating func tuple() throws(ClinicDataError) -> [Int] {
        try expect(UInt8(ascii: "("), "'('")
        var items: [Int] = []
        while true {
            skipSpace()
            if take(UInt8(ascii: ")")) { return items }
            items.append(try integer())
            skipSpace()
            if take(UInt8(ascii: ",")) { continue }
            try expect(UInt8(ascii: ")"), "',' or ')' in the shape")
            return items
        }
    }

    /// A decimal integer with an optional sign and Python 2 `L` suffix; one too large for `Int`
    /// is an invalid shape rather than a parse error, since the header itself is well formed.
    private mutating func integer() throws(ClinicDataError) -> Int {
        let negative = take(UInt8(ascii: "-"))
        if !negative { _ = take(UInt8(ascii: "+")) }
        let start = position
        var magnitude = 0
        var overflow = false
        while let byte = peek(), (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) {
            let (times10, o1) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(Int(byte - UInt8(ascii: "0")))
            overflow = overflow || o1 || o2
            magnitude = sum
            position += 1
        }
        guard position > start else { throw failure(expected: "an integer dimension") }
        let digits = String(decoding: bytes[start..<position], as: UTF8.self)
        _ = take(UInt8(ascii: "L")) || take(UInt8(ascii: "l"))
        if overflow {
            // Digits only, but possibly tens of thousands of them: cut like a quoted cell.
            let number = (negative ? "-" : "") + digits
            let shown = number.count <= ClinicDataError.quoteLimit ? number : ClinicDataError.quoted(number)
            throw .invalidShape(at, reason: "the dimension \(shown) does not fit in an Int")
        }
        return negative ? -magnitude : magnitude
    }

    /// Skips a bracketed list, nested brackets and quoted strings included.
    private mutating func skipList() throws(ClinicDataError) {
        var depth = 0
        var quote: UInt8?
        while let byte = peek() {
            position += 1
            if let open = quote {
                if byte == UInt8(ascii: "\\") { position += 1 } else if byte == open { quote = nil }
            } else if byte == UInt8(ascii: "'") || byte == UInt8(ascii: "\"") {
                quote = byte
            } else if byte == UInt8(ascii: "[") || byte == UInt8(ascii: "(") {
                depth += 1
            } else if byte == UInt8(ascii: "]") || byte == UInt8(ascii: ")") {
                depth -= 1
                if depth == 0 { return }
            }
        }
        throw failure("a list is never closed")
    }

    private func peek() -> UInt8? { position < bytes.count ? bytes[position] : nil }

    private mutating func skipSpace() {
        while let byte = peek(), byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { position += 1 }
    }

    private mutating func take(_ byte: UInt8) -> Bool {
        guard peek() == byte else { return false }
        position += 1
        return true
    }

    private mutating func takeWord(_ word: String) -> Bool {
        let utf8 = Array(word.utf8)
        guard bytes[position...].starts(with: utf8) else { return false }
        position += utf8.count
        return true
    }

    private mutating func expect(_ byte: UInt8, _ what: String) throws(ClinicDataError) {
        guard take(byte) else { throw failure(expected: what) }
    }
}
