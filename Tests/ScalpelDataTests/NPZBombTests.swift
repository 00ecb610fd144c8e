import Foundation
import Testing
@testable import ScalpelData

/// A raw deflate stream (RFC 1951) of `prefix` followed by `zeros` zero bytes, written with the
/// fixed Huffman codes: the prefix as literals, the zeros as one literal and then matches of
/// 258 bytes at distance 1, so a megabyte of zeros takes about 6.5 KB. Enough to build zip bombs
/// in a test without a compression library.
func deflatedZeros(prefix: [UInt8], zeros: Int) -> [UInt8] {
    var output: [UInt8] = []
    var accumulator: UInt32 = 0
    var bitCount = 0
    func bits(_ value: UInt32, _ count: Int) {
        accumulator |= value << UInt32(bitCount)
        bitCount += count
        while bitCount >= 8 {
            output.append(UInt8(accumulator & 0xFF))
            accumulator >>= 8
            bitCount -= 8
        }
    }
    // Huffman codes go most significant bit first.
    func code(_ value: UInt32, _ length: Int) {
        for shift in stride(from: length - 1, through: 0, by: -1) { bits(value >> UInt32(shift) & 1, 1) }
    }
    func literal(_ byte: UInt8) {
        if byte < 144 { code(0x30 + UInt32(byte), 8) } else { code(0x190 + UInt32(byte) - 144, 9) }
    }
    bits(1, 1)  // the final block
    bits(1, 2)  // fixed Huffman codes
    for byte in prefix { literal(byte) }
    if zeros > 0 {
        literal(0)
        var left = zeros - 1
        while left >= 258 {
            code(0xC5, 8)  // length 258 (symbol 285), no extra bits
            code(0, 5)     // distance 1
            left -= 258
        }
        for _ in 0..<left { literal(0) }
    }
    code(0, 7)  // end of block (symbol 256)
    if bitCount > 0 { output.append(UInt8(accumulator & 0xFF)) }
    return output
}

/// The zip CRC-32 of `prefix` followed by `zeros` zero bytes, table-driven so megabytes take milliseconds.
func crc32(prefix: [UInt8], zeros: Int) -> UInt32 {
    let table: [UInt32] = (0..<256).map { index in
        var crc = UInt32(index)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        return crc
    }
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in prefix { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
    for _ in 0..<zeros { crc = table[Int(crc & 0xFF)] ^ (crc >> 8) }
    return ~crc
}

/// A zip archive whose members are deflated (method 8), each able to lie about its size.
struct DeflatedZip {
    struct Member {
        var name: String
        var prefix: [UInt8]
        var zeros: Int
        /// The uncompressed size the directory declares; the true one unless set.
        var declaredSize: UInt32?
    }

    var members: [Member] = []

    /// Adds `name`.npy holding `npy` followed by `zeros` zero bytes.
    mutating func add(_ name: String, _ npy: [UInt8], zeros: Int = 0, declaredSize: UInt32? = nil) {
        members.append(Member(name: name + ".npy", prefix: npy, zeros: zeros, declaredSize: declaredSize))
    }

    var bytes: [UInt8] {
        func le16(_ value: Int) -> [UInt8] { [UInt8(value & 0xFF), UInt8(value >> 8 & 0xFF)] }
        func le32(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) } }
        var body: [UInt8] = []
        var directory: [UInt8] = []
        for member in members {
            let name = Array(member.name.utf8)
            let data = deflatedZeros(prefix: member.prefix, zeros: member.zeros)
            let size = member.declaredSize ?? UInt32(member.prefix.count + member.zeros)
            let offset = UInt32(body.count)
            let common = le16(20) + le16(0) + le16(8) + le16(0) + le16(0x21)
                + le32(crc32(prefix: member.prefix, zeros: member.zeros)) + le32(UInt32(data.count)) + le32(size)
                + le16(name.count) + le16(0)
            body += le32(0x0403_4B50) + common + name + data
            directory += le32(0x0201_4B50) + le16(20) + common + le16(0) + le16(0) + le16(0) + le32(0) + le32(offset) + name
        }
        return body + directory + le32(0x0605_4B50) + le16(0) + le16(0) + le16(members.count) + le16(members.count)
            + le32(UInt32(directory.count)) + le32(UInt32(body.count)) + le16(0)
    }
}

/// Archives built to exhaust memory are refused from what they declare, before the memory is
/// taken: the `.npy` header read from the first inflated bytes bounds the rest of the member.
@Suite struct NPZBombTests {
    /// A valid MedMNIST-like archive, deflated, with `train_images` replaced.
    static func archive(trainImages: [UInt8], zeros: Int, declaredSize: UInt32? = nil) -> DeflatedZip {
        var zip = DeflatedZip()
        for (prefix, count) in [("train", 4), ("val", 2), ("test", 2)] {
            if prefix == "train" {
                zip.add("train_images", trainImages, zeros: zeros, declaredSize: declaredSize)
            } else {
                zip.add("\(prefix)_images", MedMNISTErrorTests.greyImages(count))
            }
            zip.add("\(prefix)_labels", MedMNISTErrorTests.labels(count))
        }
        return zip
    }

    func message(_ bytes: [UInt8], maxElements: Int = NPYArray.defaultMaxElements) throws -> String {
        try withTemporaryFile(bytes) { url in
            let error = try #require(throws: ClinicDataError.self) {
                try ImageDataset.loadMedMNIST(from: url, maxElements: maxElements)
            }
            return error.description.replacingOccurrences(of: url.path, with: "t.npz")
        }
    }

    @Test func theDeflatedTestArchiveLoads() throws {
        let zip = Self.archive(trainImages: MedMNISTErrorTests.greyImages(4), zeros: 0)
        let splits = try withTemporaryFile(zip.bytes) { url in try ImageDataset.loadMedMNIST(from: url) }
        #expect(splits.train.count == 4 && splits.test.count == 2)
    }

    @Test func aMemberInflatingPastItsNPYHeaderIsStoppedThere() throws {
        // (4, 2, 2) uint8 needs 16 bytes after the header; a megabyte of zeros follows them, and
        // the zip directory declares all of it, so only the header tells that it is too much.
        let images = MedMNISTErrorTests.greyImages(4)
        let message = try message(Self.archive(trainImages: images, zeros: 1 << 20).bytes)
        #expect(message == "t.npz, member 'train_images.npy': corrupt archive member: it inflates to more than the "
            + "\(images.count) bytes its .npy header and shape (4, 2, 2) of |u1 declare", "\(message)")
    }

    @Test func aZipDirectoryClaimingMoreThanDeflateCanGiveIsRefusedUnread() throws {
        // Under the 2 GiB member limit, but far more than the few hundred compressed bytes can hold.
        let zip = Self.archive(trainImages: MedMNISTErrorTests.greyImages(4), zeros: 0, declaredSize: 0x7FFF_FFF0)
        let compressed = deflatedZeros(prefix: MedMNISTErrorTests.greyImages(4), zeros: 0).count
        let message = try message(zip.bytes)
        #expect(message == "t.npz, member 'train_images.npy': corrupt archive member: the zip directory declares "
            + "2147483632 bytes from \(compressed) compressed bytes, more than deflate can expand them to (at most 1032 to 1)",
            "\(message)")
    }

    @Test func aHugeDeclaredShapeIsRefusedAtTheHeaderWhateverTheElementLimit() throws {
        // (1000000, 1000000) float32 is 4 TB; the element limit is raised so that only the memory
        // budget stands in the way, and the megabyte of zeros after the header is never inflated.
        let header = npyBytes(descr: "<f4", shape: "(1000000, 1000000)", data: [])
        let deflated = try message(Self.archive(trainImages: header, zeros: 1 << 20).bytes, maxElements: 1 << 40)
        #expect(deflated.hasPrefix("t.npz, member 'train_images.npy': the array of shape (1000000, 1000000) and dtype <f4 "
            + "takes 4000000000000 bytes in memory, above the budget of "), "\(deflated)")
        #expect(deflated.contains("SCALPEL_MAX_ARRAY_BYTES"), "\(deflated)")
        // Stored (uncompressed) members and plain .npy files are held to the same budget.
        let stored = try message(MedMNISTErrorTests.archive(replacing: ["train_images": header + [UInt8](repeating: 0, count: 4096)]).bytes,
                                 maxElements: 1 << 40)
        #expect(stored.hasPrefix("t.npz, member 'train_images.npy': the array of shape (1000000, 1000000)"), "\(stored)")
        // A file is refused from its header, before the rest of it is read.
        let file = try withTemporaryFile(header + [0, 0, 0, 0]) { url in
            try #require(throws: ClinicDataError.self) { try NPYArray.load(from: url, maxElements: 1 << 40) }.description
        }
        #expect(file.contains("takes 4000000000000 bytes in memory"), "\(file)")
    }

    @Test func theBudgetCountsElementsAsTheFloatsTheyBecome() throws {
        // 1000 uint8 elements are 1000 bytes stored and 4000 as floats: 3999 bytes is too little.
        let bytes = npyBytes(descr: "|u1", shape: "(10, 100)", data: [UInt8](repeating: 7, count: 1000))
        let refused = try #require(throws: ClinicDataError.self) {
            try NPYArray(bytes: bytes, source: "t.npy", maxBytes: 3999)
        }
        #expect(refused.description == "t.npy: the array of shape (10, 100) and dtype |u1 takes 4000 bytes in memory, above the "
            + "budget of 3999 bytes; refusing to read it in (SCALPEL_MAX_ARRAY_BYTES sets the budget)")
        #expect(try NPYArray(bytes: bytes, source: "t.npy", maxBytes: 4000).count == 1000)
        // float64 counts its own 8 bytes.
        #expect(NPYArray.memoryBytes(count: 10, dtype: .float64) == 80 && NPYArray.memoryBytes(count: 10, dtype: .int16) == 40)
        #expect(NPYArray.memoryBytes(count: .max, dtype: .float64) == .max)
        // The archive's own budget, checked from the member's header.
        let zip = Self.archive(trainImages: npyBytes(descr: "|u1", shape: "(4, 2, 2)", data: []), zeros: 16)
        let message = try withTemporaryFile(zip.bytes) { url in
            try #require(throws: ClinicDataError.self) { try ImageDataset.loadMedMNIST(from: url, maxArrayBytes: 63) }
                .description.replacingOccurrences(of: url.path, with: "t.npz")
        }
        #expect(message.hasPrefix("t.npz, member 'train_images.npy': the array of shape (4, 2, 2) and dtype |u1 takes 64 bytes"),
                "\(message)")
        let splits = try withTemporaryFile(zip.bytes) { url in try ImageDataset.loadMedMNIST(from: url, maxArrayBytes: 64) }
        #expect(splits.train.count == 4)
    }

    @Test func theBudgetComesFromTheEnvironmentOrPhysicalMemory() {
        let gib: UInt64 = 1 << 30
        #expect(NPYArray.memoryBudget(environment: [:], physicalMemory: 16 * gib) == 2 << 30)
        for (text, bytes) in [("1048576", 1 << 20), ("512M", 512 << 20), ("4 GiB", 4 << 30), ("2gb", 2 << 30), ("64k", 64 << 10), ("0", 0)] {
            #expect(NPYArray.memoryBudget(environment: ["SCALPEL_MAX_ARRAY_BYTES": text], physicalMemory: 16 * gib) == bytes, "\(text)")
        }
        // What is not a byte count is ignored.
        for text in ["", "lots", "-5", "12 parsecs", "99999999999999999999", "9999999999T"] {
            #expect(NPYArray.memoryBudget(environment: ["SCALPEL_MAX_ARRAY_BYTES": text], physicalMemory: 16 * gib) == 2 << 30, "\(text)")
        }
    }

    @Test func anUnreadableHeaderInAnIntactMemberIsReportedAfterTheMemberIsChecked() throws {
        // The stream is whole and its CRC right, so the header's own problem is the one named.
        let bad = Array("not an array at all".utf8)
        let message = try message(Self.archive(trainImages: bad, zeros: 4096).bytes)
        #expect(message == "t.npz, member 'train_images.npy': not a valid .npy array: bad magic; a .npy file starts with \\x93NUMPY",
                "\(message)")
    }
}
