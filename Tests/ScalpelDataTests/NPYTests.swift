import Foundation
import Testing
@testable import ScalpelData

/// The fixtures written by scripts/npz_fixtures.py.
func npzFixture(_ path: String) -> URL {
    repositoryRoot.appendingPathComponent("Tests/ScalpelDataTests/Fixtures/\(path)")
}

/// A `.npy` file laid out the way NumPy writes one: magic, version, header length, the header
/// text padded with spaces and a newline to a multiple of 64 bytes, then `data`.
func npyBytes(header: String, data: [UInt8] = [], version: UInt8 = 1) -> [UInt8] {
    let preamble = version == 1 ? 10 : 12
    var text = Array(header.utf8)
    let padded = (preamble + text.count + 1 + 63) / 64 * 64
    text += [UInt8](repeating: 0x20, count: padded - preamble - text.count - 1) + [0x0A]
    var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [version, 0]
    let length = UInt32(text.count)
    bytes += version == 1
        ? [UInt8(length & 0xFF), UInt8(length >> 8)]
        : [UInt8(length & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length >> 16 & 0xFF), UInt8(length >> 24)]
    return bytes + text + data
}

/// A `.npy` file with the usual header for `descr` and `shape` (a Python tuple literal).
func npyBytes(descr: String, shape: String, data: [UInt8], fortranOrder: Bool = false, version: UInt8 = 1) -> [UInt8] {
    let order = fortranOrder ? "True" : "False"
    return npyBytes(
        header: "{'descr': '\(descr)', 'fortran_order': \(order), 'shape': \(shape), }", data: data, version: version)
}

/// The little-endian bytes of `values`.
func littleEndianBytes<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
    values.flatMap { value in (0..<MemoryLayout<T>.size).map { UInt8(truncatingIfNeeded: value.littleEndian >> ($0 * 8)) } }
}

/// The little-endian bytes of `values` as float32.
func float32Bytes(_ values: [Float]) -> [UInt8] { littleEndianBytes(values.map(\.bitPattern)) }

/// Valid `.npy` files, NumPy's own and ones built here, read back element by element.
@Suite struct NPYTests {
    /// What scripts/npz_fixtures.py writes for each dtype, as Int64.
    static let integerFixtures: [(String, NPYArray.DType, [Int64])] = [
        ("b1", .bool, [1, 0, 1, 0, 0, 1]),
        ("u1", .uint8, [0, 1, 127, 128, 200, 255]),
        ("i1", .int8, [-128, -1, 0, 1, 100, 127]),
        ("u2", .uint16, [0, 1, 255, 256, 40000, 65535]),
        ("i2", .int16, [-32768, -1, 0, 1, 300, 32767]),
        ("u4", .uint32, [0, 1, 65536, 70000, 3_000_000_000, 4_294_967_295]),
        ("i4", .int32, [Int64(Int32.min), -1, 0, 1, 100_000, Int64(Int32.max)]),
        ("u8", .uint64, [0, 1, 4_294_967_296, 5, 1 << 62, .max]),
        ("i8", .int64, [.min, -1, 0, 1, 1 << 40, .max]),
    ]

    @Test(arguments: integerFixtures) func integerDTypesMatchNumPy(name: String, dtype: NPYArray.DType, expected: [Int64]) throws {
        let array = try NPYArray.load(from: npzFixture("npy/\(name).npy"))
        #expect(array.dtype == dtype)
        #expect(array.shape == [2, 3])
        #expect(array.count == 6)
        #expect(array.int64s() == expected)
        #expect(array.floats() == expected.map { dtype == .uint64 ? Float(UInt64($0)) : Float($0) })
    }

    @Test func float32MatchesNumPy() throws {
        let array = try NPYArray.load(from: npzFixture("npy/f4.npy"))
        #expect(array.dtype == .float32)
        #expect(array.shape == [2, 3])
        // numpy rounds each Python float (a Double) to float32, so the expectation does too.
        #expect(array.floats() == [-1.5, 0, 0.25, 1e10, 3.0e-8, 255].map { Float($0 as Double) })
        #expect(array.int64s() == [-1, 0, 0, 10_000_000_000, 0, 255])
    }

    @Test func float64MatchesNumPy() throws {
        let array = try NPYArray.load(from: npzFixture("npy/f8.npy"))
        #expect(array.dtype == .float64)
        #expect(array.floats() == [-1.5, 0, Float(0.1 as Double), .infinity, 0, 255])
        #expect(array.int64s() == [-1, 0, 0, .max, 0, 255])
    }

    @Test func versionTwoAndThreeHeadersReadLikeVersionOne() throws {
        let reference = try NPYArray.load(from: npzFixture("npy/f4.npy"))
        for version in [2, 3] {
            let bytes = try [UInt8](Data(contentsOf: npzFixture("npy/f4_v\(version).npy")))
            #expect(bytes[6] == UInt8(version))
            let array = try NPYArray(bytes: bytes, source: "f4_v\(version).npy")
            #expect(array.shape == [2, 3])
            #expect(array.floats() == reference.floats())
        }
    }

    @Test func scalarAndEmptyArrays() throws {
        let scalar = try NPYArray.load(from: npzFixture("npy/scalar_f8.npy"))
        #expect(scalar.shape == [])
        #expect(scalar.count == 1)
        #expect(scalar.floats() == [2.5])
        let empty = try NPYArray.load(from: npzFixture("npy/empty_i4.npy"))
        #expect(empty.shape == [0, 3])
        #expect(empty.count == 0)
        #expect(empty.int64s() == [])
    }

    @Test func headerVariantsThatPythonAccepts() throws {
        // Double quotes, keys in another order, no trailing comma, Python 2 long suffixes.
        let header = #"{"shape": (2L, 1L), "fortran_order": False, "descr": "<i2"}"#
        let array = try NPYArray(bytes: npyBytes(header: header, data: littleEndianBytes([Int16(-7), 300])))
        #expect(array.shape == [2, 1])
        #expect(array.int64s() == [-7, 300])
        // Byte order is meaningless for one-byte elements, so '>u1' and '<i1' are read too.
        let bytes = try NPYArray(bytes: npyBytes(descr: ">u1", shape: "(3,)", data: [1, 2, 250]))
        #expect(bytes.dtype == .uint8 && bytes.int64s() == [1, 2, 250])
        let signed = try NPYArray(bytes: npyBytes(descr: "<i1", shape: "(1,)", data: [0xFF]))
        #expect(signed.dtype == .int8 && signed.int64s() == [-1])
    }

    @Test func version2HeaderBuiltHere() throws {
        let array = try NPYArray(
            bytes: npyBytes(descr: "<u4", shape: "(2,)", data: littleEndianBytes([UInt32(7), .max]), version: 2))
        #expect(array.int64s() == [7, 4_294_967_295])
    }

    @Test func floatToIntegerConversionNeverTraps() throws {
        let values: [Float] = [.nan, .infinity, -.infinity, 1e30, -1e30, -2.9, 2.9]
        let array = try NPYArray(bytes: npyBytes(descr: "<f4", shape: "(7,)", data: float32Bytes(values)))
        #expect(array.int64s() == [0, .max, .min, .max, .min, -2, 2])
    }

    @Test func dataKeepsOnlyTheElementBytes() throws {
        let array = try NPYArray(bytes: npyBytes(descr: "<u2", shape: "(2,)", data: [1, 0, 0, 1]))
        #expect(array.data == [1, 0, 0, 1])
        #expect(array.int64s() == [1, 256])
    }

    @Test func theShapeIsReadFromTheHeaderAlone() throws {
        let url = FileManager.default.temporaryDirectory.appending(path: "scalpel-shape-\(UUID().uuidString).npy")
        defer { try? FileManager.default.removeItem(at: url) }
        // The data is missing: the whole-file reader refuses it, the header reader does not need it.
        try Data(npyBytes(descr: "<f4", shape: "(1000, 28, 28)", data: [])).write(to: url)
        let header = try NPYArray.shapeAndType(of: url)
        #expect(header.shape == [1000, 28, 28] && header.dtype == .float32)
        #expect(throws: ClinicDataError.self) { try NPYArray.load(from: url) }
        try Data("not an array".utf8).write(to: url)
        #expect(throws: ClinicDataError.self) { try NPYArray.shapeAndType(of: url) }
    }
}

/// Each malformed `.npy` is refused with a message naming the file and the problem.
@Suite struct NPYErrorTests {
    /// The message of the error that parsing `bytes` as "t.npy" throws.
    func message(_ bytes: [UInt8], maxElements: Int = NPYArray.defaultMaxElements) throws -> String {
        try #require(throws: ClinicDataError.self) {
            try NPYArray(bytes: bytes, source: "t.npy", maxElements: maxElements)
        }.description
    }

    /// The message for a header `text` in front of no data.
    func message(header text: String) throws -> String { try message(npyBytes(header: text)) }

    var valid: [UInt8] { npyBytes(descr: "<f4", shape: "(2, 3)", data: float32Bytes([1, 2, 3, 4, 5, 6])) }

    @Test func badMagic() throws {
        #expect(try message(Array("PK\u{3}\u{4} not numpy at all".utf8))
            == #"t.npy: not a valid .npy array: bad magic; a .npy file starts with \x93NUMPY"#)
        #expect(try message(Array("NUMPY".utf8)).contains("bad magic"))
    }

    @Test func fileTooShortForThePreamble() throws {
        #expect(try message([]) == "t.npy: not a valid .npy array: the file is 0 bytes, too short for the .npy preamble")
        #expect(try message(Array(valid[..<5])).hasSuffix("the file is 5 bytes, too short for the .npy preamble"))
        #expect(try message(Array(valid[..<9])).hasSuffix("the file ends inside the header length field"))
    }

    @Test func unknownVersion() throws {
        var bytes = valid
        bytes[6] = 4
        #expect(try message(bytes) == "t.npy: not a valid .npy array: format version 4.0 is not one of 1.0, 2.0, 3.0")
        bytes[6] = 1
        bytes[7] = 1
        #expect(try message(bytes).hasSuffix("format version 1.1 is not one of 1.0, 2.0, 3.0"))
    }

    @Test func truncatedHeader() throws {
        #expect(try message(Array(valid[..<50]))
            == "t.npy: not a valid .npy array: the header length 118 runs past the end of the file (40 bytes after the preamble)")
    }

    @Test func headerLengthBeyondTheData() throws {
        var bytes = npyBytes(descr: "<f4", shape: "(1,)", data: float32Bytes([1]), version: 2)
        bytes.replaceSubrange(8..<12, with: [0xF0, 0xFF, 0xFF, 0xFF])
        #expect(try message(bytes) == "t.npy: not a valid .npy array: the header length 4294967280 is over the 65536 bytes allowed")
        bytes.replaceSubrange(8..<12, with: [0x00, 0x10, 0x00, 0x00])
        #expect(try message(bytes).hasSuffix("the header length 4096 runs past the end of the file (120 bytes after the preamble)"))
    }

    @Test func unparseableHeaders() throws {
        #expect(try message(header: "{'descr': '<f4' 'fortran_order': False, 'shape': (2,), }")
            == "t.npy: not a valid .npy array: cannot parse the header "
            + "{'descr': '<f4' 'fortran_order': False, 'shape': (2,), }: "
            + "expected ',' or '}' at character 17, found '''")
        #expect(try message(header: "not a dict").hasSuffix("expected '{' at character 1, found 'n'"))
        #expect(try message(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }")
            .hasSuffix("expected an integer dimension at character 55, found 'x'"))
        #expect(try message(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } extra")
            .hasSuffix("expected only padding after the dictionary at character 59, found 'e'"))
        #expect(try message(header: "{'descr': '<f4, 'fortran_order': False")
            .hasSuffix("expected ',' or '}' at character 18, found 'f'"))
        #expect(try message(header: "{'descr': '<f4', 'fortran_order': Fals, 'shape': (2,)}")
            .hasSuffix("expected a string, True, False, a tuple or a list at character 35, found 'F'"))
        #expect(try message(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)")
            .hasSuffix("expected ',' or '}' at character 119, found the end"))
    }

    @Test func headerKeysMustBeExactlyTheThree() throws {
        #expect(try message(header: "{'descr': '<f4', 'fortran_order': False}").hasSuffix(": no 'shape' key"))
        #expect(try message(header: "{'descr': '<f4', 'shape': (1,), 'fortran_order': False, 'x': 'y'}")
            .contains("unexpected key 'x'; a header has only 'descr', 'fortran_order' and 'shape'"))
        #expect(try message(header: "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}")
            .hasSuffix("the key 'descr' appears twice"))
        #expect(try message(header: "{'descr': '<f4', 'fortran_order': 'no', 'shape': (1,)}")
            .hasSuffix("'fortran_order' is not True or False"))
        #expect(try message(header: "{'descr': '<f4', 'fortran_order': False, 'shape': 'big'}")
            .hasSuffix("'shape' is not a tuple of integers"))
    }

    @Test func fortranOrderIsRefused() throws {
        #expect(try message(npyBytes(descr: "<f4", shape: "(2, 3)", data: float32Bytes([1, 2, 3, 4, 5, 6]), fortranOrder: true))
            == "t.npy: unsupported .npy array: Fortran (column-major) order is not supported; save the array in C order")
    }

    @Test func bigEndianIsRefused() throws {
        #expect(try message(npyBytes(descr: ">f4", shape: "(1,)", data: [0x3F, 0x80, 0, 0]))
            == "t.npy: unsupported .npy array: dtype '>f4' is big-endian; only little-endian ('<') arrays are supported")
        #expect(try message(npyBytes(descr: "=i8", shape: "(1,)", data: [UInt8](repeating: 0, count: 8)))
            .hasSuffix("dtype '=i8' does not state little-endian byte order ('<')"))
    }

    @Test func unsupportedDTypes() throws {
        let supported = "|b1, |u1, |i1, <u2, <i2, <u4, <i4, <u8, <i8, <f4, <f8"
        #expect(try message(npyBytes(descr: "<c8", shape: "(1,)", data: []))
            == "t.npy: unsupported .npy array: dtype '<c8' is not supported; the supported dtypes are \(supported)")
        #expect(try message(npyBytes(descr: "|O", shape: "(1,)", data: [])).contains("dtype '|O' is not supported"))
        #expect(try message(npyBytes(descr: "<U5", shape: "(1,)", data: [])).contains("dtype '<U5' is not supported"))
        #expect(try message(header: "{'descr': [('x', '<f4'), ('y', '<i4')], 'fortran_order': False, 'shape': (1,)}")
            == "t.npy: unsupported .npy array: structured dtypes are not supported; the supported dtypes are \(supported)")
    }

    @Test func negativeDimension() throws {
        #expect(try message(npyBytes(descr: "<f4", shape: "(-1, 3)", data: []))
            == "t.npy: invalid .npy shape: (-1, 3) has a negative dimension -1")
    }

    @Test func hugeDimensionsAreRefusedBeforeAnyAllocation() throws {
        #expect(try message(npyBytes(descr: "<f8", shape: "(99999999999999999999, 2)", data: []))
            == "t.npy: invalid .npy shape: the dimension 99999999999999999999 does not fit in an Int")
        #expect(try message(npyBytes(descr: "|u1", shape: "(3000000000,)", data: []))
            == "t.npy: invalid .npy shape: (3000000000,) has a dimension 3000000000 above the limit of 2147483648 elements")
        #expect(try message(npyBytes(descr: "|u1", shape: "(65536, 65536)", data: []))
            == "t.npy: invalid .npy shape: (65536, 65536) has 4294967296 elements, above the limit of 2147483648")
        #expect(try message(npyBytes(descr: "|u1", shape: "(2147483647, 2147483647, 2147483647)", data: []))
            == "t.npy: invalid .npy shape: (2147483647, 2147483647, 2147483647) has more elements than an Int can count")
        #expect(try message(npyBytes(descr: "<f4", shape: "(2, 3)", data: float32Bytes([1, 2, 3, 4, 5, 6])), maxElements: 5)
            == "t.npy: invalid .npy shape: (2, 3) has 6 elements, above the limit of 5")
        let manyAxes = "(" + String(repeating: "1, ", count: 65) + ")"
        #expect(try message(npyBytes(descr: "|u1", shape: manyAxes, data: [1]))
            .hasSuffix("65 dimensions is more than NumPy's limit of 64"))
    }

    @Test func dataShorterThanTheShape() throws {
        #expect(try message(Array(valid.dropLast()))
            == "t.npy: the array data is 23 bytes where its shape and dtype need 24 (truncated)")
        // A huge but allowed shape with no data is a size mismatch, found without allocating.
        #expect(try message(npyBytes(descr: "<f8", shape: "(1000000000,)", data: []))
            == "t.npy: the array data is 0 bytes where its shape and dtype need 8000000000 (truncated)")
    }

    @Test func bytesAfterTheArray() throws {
        #expect(try message(valid + [0, 0])
            == "t.npy: the array data is 26 bytes where its shape and dtype need 24 (2 extra bytes after the array)")
    }

    @Test func missingFile() throws {
        let url = URL(fileURLWithPath: "/nonexistent/scalpel/x.npy")
        let error = try #require(throws: ClinicDataError.self) { try NPYArray.load(from: url) }
        #expect(error.description.hasPrefix("/nonexistent/scalpel/x.npy: cannot be read: "))
    }
}
