// Byte-level builders for the seed inputs: .npy files, zip archives (stored or deflated members,
// NumPy's ZIP64 local headers, data descriptors, ZIP64 directories) and a small deflate encoder,
// written out here so that the fuzzer needs nothing beyond the readers it exercises.

/// A `.npy` file laid out as NumPy writes one: magic, version, header length, the header
/// dictionary padded with spaces and a newline to a multiple of 64 bytes, then the data.
func npyFile(descr: String, shape: [Int], data: [UInt8], version: UInt8 = 1, quote: String = "'",
             fortranOrder: Bool = false) -> [UInt8] {
    let dims = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
    let q = quote
    let header = "{\(q)descr\(q): \(q)\(descr)\(q), \(q)fortran_order\(q): \(fortranOrder ? "True" : "False"), "
        + "\(q)shape\(q): \(dims), }"
    return npyFile(header: header, data: data, version: version)
}

/// A `.npy` file with `header` as its dictionary text.
func npyFile(header: String, data: [UInt8], version: UInt8 = 1) -> [UInt8] {
    let preamble = version == 1 ? 10 : 12
    var text = Array(header.utf8)
    let padded = (preamble + text.count + 1 + 63) / 64 * 64
    text += [UInt8](repeating: 0x20, count: padded - preamble - text.count - 1) + [0x0A]
    var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [version, 0]
    bytes += version == 1 ? le16(UInt16(text.count)) : le32(UInt32(text.count))
    return bytes + text + data
}

func le16(_ value: UInt16) -> [UInt8] { [UInt8(value & 0xFF), UInt8(value >> 8)] }
func le32(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) } }
func le64(_ value: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) } }

/// The little-endian bytes of `values`.
func littleEndian<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
    values.flatMap { value in (0..<MemoryLayout<T>.size).map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) } }
}

/// The zip CRC-32 (reflected polynomial 0xEDB88320), table driven.
func crc32(_ bytes: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes { crc = crcTable[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
    return ~crc
}

private let crcTable: [UInt32] = (0..<256).map { index in
    var crc = UInt32(index)
    for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
    return crc
}

/// How a zip member is stored.
enum ZipMethod: Sendable {
    /// Method 0, the bytes as they are.
    case stored
    /// Method 8, one fixed-Huffman block with LZ77 matches.
    case deflateFixed
    /// Method 8, stored (uncompressed) deflate blocks of at most `blockSize` bytes.
    case deflateStoredBlocks(blockSize: Int)
}

/// A zip archive written byte by byte, with the layout choices real writers make.
struct ZipSpec: Sendable {
    struct Member: Sendable {
        var name: String
        var bytes: [UInt8]
        var method: ZipMethod = .stored
    }

    var members: [Member]
    /// NumPy's `force_zip64`: local headers hold 0xFFFFFFFF sizes and a ZIP64 extra field.
    var zip64LocalHeaders = false
    /// General-purpose flag bit 3: zero CRC and sizes in the local header, a data descriptor after the data.
    var dataDescriptors = false
    /// Central directory entries with 0xFFFFFFFF sizes, the values in a ZIP64 extra field.
    var zip64Directory = false
    /// A ZIP64 end-of-central-directory record and locator before the end record.
    var zip64End = false
    /// A comment after the end record.
    var comment: [UInt8] = []

    /// The archive bytes.
    var bytes: [UInt8] {
        var body: [UInt8] = []
        var directory: [UInt8] = []
        for member in members {
            let name = Array(member.name.utf8)
            let (method, payload) = Self.encode(member)
            let crc = crc32(member.bytes)
            let offset = UInt64(body.count)
            let flags: UInt16 = dataDescriptors ? 0x0008 : 0
            let version: UInt16 = zip64LocalHeaders || zip64Directory ? 45 : 20
            // Local header.
            var local = le32(0x0403_4B50) + le16(version) + le16(flags) + le16(method) + le16(0) + le16(0x21)
            var localExtra: [UInt8] = []
            if dataDescriptors {
                local += le32(0) + le32(0) + le32(0)
            } else if zip64LocalHeaders {
                local += le32(crc) + le32(0xFFFF_FFFF) + le32(0xFFFF_FFFF)
                localExtra = le16(1) + le16(16) + le64(UInt64(member.bytes.count)) + le64(UInt64(payload.count))
            } else {
                local += le32(crc) + le32(UInt32(payload.count)) + le32(UInt32(member.bytes.count))
            }
            local += le16(UInt16(name.count)) + le16(UInt16(localExtra.count)) + name + localExtra
            body += local + payload
            if dataDescriptors {
                body += le32(0x0807_4B50) + le32(crc) + le32(UInt32(payload.count)) + le32(UInt32(member.bytes.count))
            }
            // Central directory entry.
            var central = le32(0x0201_4B50) + le16(0x031E) + le16(version) + le16(flags) + le16(method) + le16(0) + le16(0x21)
                + le32(crc)
            var centralExtra: [UInt8] = []
            if zip64Directory {
                // The sizes only, as Python's zipfile does for a member past 2 GiB in a small archive.
                central += le32(0xFFFF_FFFF) + le32(0xFFFF_FFFF)
                centralExtra = le16(1) + le16(16) + le64(UInt64(member.bytes.count)) + le64(UInt64(payload.count))
            } else {
                central += le32(UInt32(payload.count)) + le32(UInt32(member.bytes.count))
            }
            central += le16(UInt16(name.count)) + le16(UInt16(centralExtra.count)) + le16(0) + le16(0) + le16(0)
                + le32(0o100644 << 16) + le32(UInt32(offset)) + name + centralExtra
            directory += central
        }
        var end: [UInt8] = []
        let count = UInt64(members.count)
        if zip64End {
            let recordOffset = UInt64(body.count + directory.count)
            end += le32(0x0606_4B50) + le64(44) + le16(45) + le16(45) + le32(0) + le32(0) + le64(count) + le64(count)
                + le64(UInt64(directory.count)) + le64(UInt64(body.count))
            end += le32(0x0706_4B50) + le32(0) + le64(recordOffset) + le32(1)
        }
        end += le32(0x0605_4B50) + le16(0) + le16(0) + le16(UInt16(count)) + le16(UInt16(count))
            + le32(UInt32(directory.count)) + le32(UInt32(body.count)) + le16(UInt16(comment.count)) + comment
        return body + directory + end
    }

    private static func encode(_ member: Member) -> (UInt16, [UInt8]) {
        switch member.method {
        case .stored: (0, member.bytes)
        case .deflateFixed: (8, Deflate.fixedHuffman(member.bytes))
        case .deflateStoredBlocks(let size): (8, Deflate.storedBlocks(member.bytes, blockSize: size))
        }
    }
}

/// Raw deflate streams (RFC 1951) of the two simplest kinds.
enum Deflate {
    /// Uncompressed blocks: BFINAL/BTYPE=00, LEN, NLEN, the bytes.
    static func storedBlocks(_ bytes: [UInt8], blockSize: Int) -> [UInt8] {
        var output: [UInt8] = []
        var start = 0
        repeat {
            let end = min(bytes.count, start + max(1, min(blockSize, 65535)))
            let final: UInt8 = end == bytes.count ? 1 : 0
            let length = UInt16(end - start)
            output += [final] + le16(length) + le16(~length) + bytes[start..<end]
            start = end
        } while start < bytes.count
        return output
    }

    private static let lengthBase = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115,
                                     131, 163, 195, 227, 258]
    private static let lengthExtra = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
    private static let distanceBase = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025,
                                       1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577]
    private static let distanceExtra = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12,
                                        12, 13, 13]

    /// One final block with the fixed Huffman code, greedy LZ77 matches over a 3-byte hash.
    static func fixedHuffman(_ bytes: [UInt8]) -> [UInt8] {
        var writer = BitWriter()
        writer.write(1, bits: 1)  // BFINAL
        writer.write(1, bits: 2)  // BTYPE = 01, fixed Huffman
        var last: [Int: Int] = [:]
        var index = 0
        while index < bytes.count {
            var matchLength = 0
            var matchDistance = 0
            if index + 2 < bytes.count {
                let key = Int(bytes[index]) << 16 | Int(bytes[index + 1]) << 8 | Int(bytes[index + 2])
                if let previous = last[key], index - previous <= 32768 {
                    var length = 0
                    while length < 258, index + length < bytes.count, bytes[previous + length] == bytes[index + length] {
                        length += 1
                    }
                    if length >= 3 { (matchLength, matchDistance) = (length, index - previous) }
                }
                last[key] = index
            }
            if matchLength >= 3 {
                writeLength(matchLength, to: &writer)
                writeDistance(matchDistance, to: &writer)
                for position in index + 1..<min(index + matchLength, bytes.count - 2) {
                    last[Int(bytes[position]) << 16 | Int(bytes[position + 1]) << 8 | Int(bytes[position + 2])] = position
                }
                index += matchLength
            } else {
                writeSymbol(Int(bytes[index]), to: &writer)
                index += 1
            }
        }
        writeSymbol(256, to: &writer)
        return writer.finish()
    }

    private static func writeSymbol(_ symbol: Int, to writer: inout BitWriter) {
        switch symbol {
        case 0...143: writer.writeCode(0x30 + symbol, length: 8)
        case 144...255: writer.writeCode(0x190 + symbol - 144, length: 9)
        case 256...279: writer.writeCode(symbol - 256, length: 7)
        default: writer.writeCode(0xC0 + symbol - 280, length: 8)
        }
    }

    private static func writeLength(_ length: Int, to writer: inout BitWriter) {
        let code = lengthBase.lastIndex { $0 <= length }!
        writeSymbol(257 + code, to: &writer)
        writer.write(length - lengthBase[code], bits: lengthExtra[code])
    }

    private static func writeDistance(_ distance: Int, to writer: inout BitWriter) {
        let code = distanceBase.lastIndex { $0 <= distance }!
        writer.writeCode(code, length: 5)
        writer.write(distance - distanceBase[code], bits: distanceExtra[code])
    }
}

/// Packs bits least significant first, as deflate does; Huffman codes go most significant first.
private struct BitWriter {
    var bytes: [UInt8] = []
    var accumulator = 0
    var count = 0

    mutating func write(_ value: Int, bits: Int) {
        accumulator |= value << count
        count += bits
        while count >= 8 {
            bytes.append(UInt8(accumulator & 0xFF))
            accumulator >>= 8
            count -= 8
        }
    }

    mutating func writeCode(_ code: Int, length: Int) {
        var reversed = 0
        for bit in 0..<length where code >> bit & 1 == 1 { reversed |= 1 << (length - 1 - bit) }
        write(reversed, bits: length)
    }

    mutating func finish() -> [UInt8] {
        if count > 0 { bytes.append(UInt8(accumulator & 0xFF)) }
        return bytes
    }
}
