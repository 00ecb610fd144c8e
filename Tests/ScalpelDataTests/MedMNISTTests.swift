import Foundation
import Testing
@testable import ScalpelData

/// The BreastMNIST archive committed under Data/.
let breastMNISTURL = repositoryRoot.appendingPathComponent("Data/breastmnist.npz")

/// A zip archive of stored (uncompressed) members, written byte by byte so tests can build
/// both valid `.npz` files and precisely broken ones without a zip library.
struct StoredZip {
    /// One member; `recordedCRC` and `declaredSize` override the true values to forge damage.
    struct Member {
        var name: String
        var bytes: [UInt8]
        var recordedCRC: UInt32?
        var declaredSize: UInt32?
    }

    var members: [Member] = []

    /// Adds an `.npy` member called `name`.npy.
    mutating func add(_ name: String, _ bytes: [UInt8]) {
        members.append(Member(name: name + ".npy", bytes: bytes))
    }

    /// The archive: local headers and data, the central directory, the end record.
    var bytes: [UInt8] {
        var body: [UInt8] = []
        var directory: [UInt8] = []
        for member in members {
            let name = Array(member.name.utf8)
            let crc = member.recordedCRC ?? Self.crc32(member.bytes)
            let size = member.declaredSize ?? UInt32(member.bytes.count)
            let offset = UInt32(body.count)
            // Version, flags, method 0 (stored), time, date, CRC, sizes, name length, extra length.
            let common = le16(20) + le16(0) + le16(0) + le16(0) + le16(0x21) + le32(crc) + le32(UInt32(member.bytes.count))
                + le32(size) + le16(UInt16(name.count)) + le16(0)
            body += le32(0x0403_4B50) + common + name + member.bytes
            directory += le32(0x0201_4B50) + le16(20) + common + le16(0) + le16(0) + le16(0) + le32(0) + le32(offset) + name
        }
        let count = le16(UInt16(members.count))
        let end = le32(0x0605_4B50) + le16(0) + le16(0) + count + count
            + le32(UInt32(directory.count)) + le32(UInt32(body.count)) + le16(0)
        return body + directory + end
    }

    private func le16(_ value: UInt16) -> [UInt8] { [UInt8(value & 0xFF), UInt8(value >> 8)] }
    private func le32(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) } }

    /// The zip CRC-32 (reflected polynomial 0xEDB88320).
    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }
}

/// Writes `bytes` to a fresh file in the temporary directory, hands its URL to `body`, and
/// removes the file afterwards.
func withTemporaryFile<T>(_ bytes: [UInt8], _ body: (URL) throws -> T) throws -> T {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("scalpel-npz-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    let url = folder.appendingPathComponent("t.npz")
    try Data(bytes).write(to: url)
    return try body(url)
}

/// The value scripts/npz_fixtures.py gives pixel (n, y, x, c) of a fixture split.
func fixturePixel(n: Int, y: Int, x: Int, c: Int, seed: Int) -> UInt8 {
    UInt8((n * 53 + y * 29 + x * 7 + c * 3 + seed) % 256)
}

/// Real and generated MedMNIST archives load with the right sizes, labels and layout.
@Suite struct MedMNISTTests {
    @Test func breastMNISTLoads() throws {
        let (train, validation, test) = try ImageDataset.loadMedMNIST(from: breastMNISTURL)
        #expect([train.count, validation.count, test.count] as [Int] == [546, 78, 156])
        for split in [train, validation, test] {
            #expect(split.channels == 1 && split.height == 28 && split.width == 28)
            #expect(split.classCount == 2)
            #expect(split.images.count == split.count * 784)
            #expect(split.images.allSatisfy { $0 >= 0 && $0 <= 1 })
        }
        func classCounts(_ split: ImageSplit) -> [Int] { (0..<2).map { c in split.labels.filter { $0 == c }.count } }
        // 0 = malignant, 1 = normal/benign; counts from numpy.bincount.
        #expect(classCounts(train) == [147, 399])
        #expect(classCounts(validation) == [21, 57])
        #expect(classCounts(test) == [42, 114])
        #expect(Array(train.labels.prefix(10)) == [1, 1, 1, 1, 0, 1, 1, 1, 0, 1])

        // The first training image, against numpy: its uint8 sum, mean / 255, and a few pixels.
        let first = train.image(at: 0)
        #expect(first.map { Int(($0 * 255).rounded()) }.reduce(0, +) == 79609)
        let mean = first.reduce(0.0) { $0 + Double($1) } / Double(first.count)
        #expect(abs(mean - 0.39820428171268507) < 1e-6)
        #expect(Array(first.prefix(4)) == [139, 139, 138, 139].map { Float($0) / 255 })
        #expect(first[first.startIndex + 14 * 28 + 5] == Float(118) / 255)
        #expect(first[first.startIndex + 27 * 28 + 27] == Float(40) / 255)
        #expect(test.images.map { Int(($0 * 255).rounded()) }.reduce(0, +) == 10_478_773)
    }

    @Test func breastMNISTArchiveListsItsArrays() throws {
        let archive = try NPZArchive(url: breastMNISTURL)
        #expect(archive.names == ["train_images", "val_images", "test_images", "train_labels", "val_labels", "test_labels"])
        #expect(archive.contains("val_labels") && archive.contains("val_labels.npy") && !archive.contains("labels"))
        let labels = try archive.array(named: "train_labels.npy")
        #expect(labels.dtype == .uint8 && labels.shape == [546, 1])
    }

    @Test func rgbMultiClassIsChannelsFirst() throws {
        let (train, validation, test) = try ImageDataset.loadMedMNIST(from: npzFixture("medmnist_rgb.npz"))
        for (seed, (split, count)) in [(train, 6), (validation, 3), (test, 3)].enumerated() {
            #expect(split.count == count)
            #expect(split.channels == 3 && split.height == 4 && split.width == 4 && split.classCount == 3)
            #expect(split.labels == (0..<count).map { Int32($0 % 3) })
            for n in 0..<count {
                for c in 0..<3 {
                    for y in 0..<4 {
                        for x in 0..<4 {
                            let expected = Float(fixturePixel(n: n, y: y, x: x, c: c, seed: seed)) / 255
                            #expect(split.images[((n * 3 + c) * 4 + y) * 4 + x] == expected, "n \(n) c \(c) y \(y) x \(x)")
                        }
                    }
                }
            }
        }
    }

    @Test func greyFloatNonSquareTakesClassCountFromAllSplits() throws {
        let (train, validation, test) = try ImageDataset.loadMedMNIST(from: npzFixture("medmnist_grey4.npz"))
        #expect(train.labels == [0, 1, 2, 3, 1])
        #expect(validation.labels == [3, 0])
        #expect(test.labels == [2, 1])
        for (seed, split) in [train, validation, test].enumerated() {
            #expect(split.channels == 1 && split.height == 5 && split.width == 3 && split.classCount == 4)
            for n in 0..<split.count {
                for y in 0..<5 {
                    for x in 0..<3 {
                        let expected = Float(fixturePixel(n: n, y: y, x: x, c: 0, seed: 10 + seed)) / 255
                        #expect(split.images[(n * 5 + y) * 3 + x] == expected, "n \(n) y \(y) x \(x)")
                    }
                }
            }
        }
    }

    @Test func classCountCanBeGiven() throws {
        let url = npzFixture("medmnist_grey4.npz")
        #expect(try ImageDataset.loadMedMNIST(from: url, classCount: 6).test.classCount == 6)
        let error = try #require(throws: ClinicDataError.self) { try ImageDataset.loadMedMNIST(from: url, classCount: 3) }
        #expect(error.description == "\(url.path), member 'train_labels.npy': label 3 is outside the 3 classes asked for")
    }

    @Test func imageSplitChecksItsInputs() throws {
        let split = try ImageSplit(images: [0, 1], labels: [0, 1], channels: 1, height: 1, width: 1, classCount: 2)
        #expect(split.image(at: 1) == [1])
        #expect(throws: ClinicDataError.self) {
            try ImageSplit(images: [0], labels: [0, 1], channels: 1, height: 1, width: 1, classCount: 2)
        }
        #expect(throws: ClinicDataError.self) {
            try ImageSplit(images: [0, 1], labels: [0, 2], channels: 1, height: 1, width: 1, classCount: 2)
        }
    }
}

/// Each malformed archive is refused with a message naming the file, the member and the problem.
@Suite struct MedMNISTErrorTests {
    /// uint8 grey images, (count, 2, 2).
    static func greyImages(_ count: Int) -> [UInt8] {
        npyBytes(descr: "|u1", shape: "(\(count), 2, 2)", data: (0..<count * 4).map { UInt8($0 % 256) })
    }

    /// (count, 1) uint8 labels cycling through 0 and 1.
    static func labels(_ count: Int) -> [UInt8] {
        npyBytes(descr: "|u1", shape: "(\(count), 1)", data: (0..<count).map { UInt8($0 % 2) })
    }

    /// A valid six-array archive with `replacing` members swapped in.
    static func archive(replacing: [String: [UInt8]] = [:], leavingOut: Set<String> = []) -> StoredZip {
        var zip = StoredZip()
        for (prefix, count) in [("train", 4), ("val", 2), ("test", 2)] {
            for (kind, bytes) in [("images", greyImages(count)), ("labels", labels(count))] {
                let name = "\(prefix)_\(kind)"
                if !leavingOut.contains(name) { zip.add(name, replacing[name] ?? bytes) }
            }
        }
        return zip
    }

    /// The message of loading `zip` as a MedMNIST archive, with the temporary path shown as "t.npz".
    func message(_ zip: StoredZip, maxMemberBytes: UInt64 = NPZArchive.defaultMaxMemberBytes) throws -> String {
        try message(bytes: zip.bytes, maxMemberBytes: maxMemberBytes)
    }

    /// The message of loading `bytes` as a MedMNIST archive, with the temporary path shown as "t.npz".
    func message(bytes: [UInt8], maxMemberBytes: UInt64 = NPZArchive.defaultMaxMemberBytes) throws -> String {
        try withTemporaryFile(bytes) { url in try message(url, maxMemberBytes: maxMemberBytes) }
    }

    func message(_ url: URL, maxMemberBytes: UInt64 = NPZArchive.defaultMaxMemberBytes) throws -> String {
        let error = try #require(throws: ClinicDataError.self) {
            try ImageDataset.loadMedMNIST(from: url, maxMemberBytes: maxMemberBytes)
        }
        return error.description.replacingOccurrences(of: url.path, with: "t.npz")
    }

    @Test func theValidBaseArchiveLoads() throws {
        let splits = try withTemporaryFile(Self.archive().bytes) { url in try ImageDataset.loadMedMNIST(from: url) }
        #expect(splits.train.count == 4 && splits.train.classCount == 2)
        #expect(splits.validation.images == (0..<8).map { Float($0) / 255 })
    }

    @Test func notAZip() throws {
        let npy = npyBytes(descr: "|u1", shape: "(1,)", data: [1])
        #expect(try message(bytes: npy)
            == "t.npz: is not an .npz (zip) archive: no zip end-of-central-directory record")
        #expect(try message(bytes: [])
            .hasPrefix("t.npz: is not an .npz (zip) archive"))
    }

    @Test func missingFile() throws {
        let url = URL(fileURLWithPath: "/nonexistent/scalpel/breastmnist.npz")
        #expect(try message(url) == "t.npz: cannot be read: no such file")
    }

    @Test func missingKeyListsTheArraysPresent() throws {
        #expect(try message(Self.archive(leavingOut: ["val_labels", "test_images", "test_labels"]))
            == "t.npz: no array 'val_labels' in the archive; the arrays are "
            + "'train_images', 'train_labels', 'val_images'")
    }

    @Test func multiLabelIsNotSupportedYet() throws {
        let chest = npyBytes(descr: "|u1", shape: "(4, 14)", data: [UInt8](repeating: 1, count: 56))
        #expect(try message(Self.archive(replacing: ["train_labels": chest]))
            == "t.npz, member 'train_labels.npy': the labels have 14 columns per image, a multi-label task; "
            + "multi-label tasks are not supported yet (only single-label (N, 1) labels)")
    }

    @Test func labelCountMustMatchImageCount() throws {
        #expect(try message(Self.archive(replacing: ["val_labels": Self.labels(3)]))
            == "t.npz, member 'val_labels.npy': 3 labels for 2 images")
    }

    @Test func imageSizeMustMatchAcrossSplits() throws {
        let rgb = npyBytes(descr: "|u1", shape: "(2, 2, 2, 3)", data: [UInt8](repeating: 9, count: 24))
        #expect(try message(Self.archive(replacing: ["test_images": rgb]))
            == "t.npz, member 'test_images.npy': the images are 3×2×2 (C×H×W) where train_images are 1×2×2")
    }

    @Test func negativeLabel() throws {
        let labels = npyBytes(descr: "|i1", shape: "(4, 1)", data: [0, 1, 0xFF, 1])
        #expect(try message(Self.archive(replacing: ["train_labels": labels]))
            == "t.npz, member 'train_labels.npy': label -1 of image 2 is negative")
    }

    @Test func floatLabels() throws {
        let labels = npyBytes(descr: "<f4", shape: "(4, 1)", data: float32Bytes([0, 1, 0, 1]))
        #expect(try message(Self.archive(replacing: ["train_labels": labels]))
            == "t.npz, member 'train_labels.npy': labels are '<f4'; integer class indices are needed")
    }

    @Test func allOneClass() throws {
        let zeros = npyBytes(descr: "|u1", shape: "(4, 1)", data: [0, 0, 0, 0])
        let twoZeros = npyBytes(descr: "|u1", shape: "(2, 1)", data: [0, 0])
        #expect(try message(Self.archive(replacing: ["train_labels": zeros, "val_labels": twoZeros, "test_labels": twoZeros]))
            == "t.npz: every label is 0; at least two classes are needed")
    }

    @Test func imagesMustBeUInt8OrUnitFloats() throws {
        let wide = npyBytes(descr: "<i2", shape: "(4, 2, 2)", data: [UInt8](repeating: 0, count: 32))
        #expect(try message(Self.archive(replacing: ["train_images": wide]))
            == "t.npz, member 'train_images.npy': images are '<i2'; uint8, or float in [0, 1], is needed")
        var values = [Float](repeating: 0.5, count: 16)
        values[5] = 255
        let unscaled = npyBytes(descr: "<f4", shape: "(4, 2, 2)", data: float32Bytes(values))
        #expect(try message(Self.archive(replacing: ["train_images": unscaled]))
            == "t.npz, member 'train_images.npy': pixel value 255.0 at element 5 is outside [0, 1]; "
            + "float images must be scaled to [0, 1]")
    }

    @Test func imageShapes() throws {
        let volume = npyBytes(descr: "|u1", shape: "(4, 2, 2, 2)", data: [UInt8](repeating: 0, count: 32))
        #expect(try message(Self.archive(replacing: ["train_images": volume]))
            == "t.npz, member 'train_images.npy': images must be (N, H, W) grey or (N, H, W, 3) RGB; "
            + "found (4, 2, 2, 2): the last axis of 2 is not 1 or 3 channels (3-D MedMNIST volumes are not supported)")
        let flat = npyBytes(descr: "|u1", shape: "(4, 4)", data: [UInt8](repeating: 0, count: 16))
        #expect(try message(Self.archive(replacing: ["train_images": flat]))
            == "t.npz, member 'train_images.npy': images must be (N, H, W) grey or (N, H, W, 3) RGB; found (4, 4)")
    }

    @Test func malformedMemberNamesTheMember() throws {
        var truncated = Self.greyImages(2)
        truncated.removeLast()
        #expect(try message(Self.archive(replacing: ["val_images": truncated]))
            == "t.npz, member 'val_images.npy': the array data is 7 bytes where its shape and dtype need 8 (truncated)")
        let bigEndian = npyBytes(descr: ">i4", shape: "(4, 1)", data: [UInt8](repeating: 0, count: 16))
        #expect(try message(Self.archive(replacing: ["train_labels": bigEndian]))
            == "t.npz, member 'train_labels.npy': unsupported .npy array: "
            + "dtype '>i4' is big-endian; only little-endian ('<') arrays are supported")
    }

    @Test func crcMismatch() throws {
        var zip = Self.archive()
        zip.members[0].recordedCRC = 0x1234_5678
        let actual = StoredZip.crc32(zip.members[0].bytes)
        let hex = String(actual, radix: 16)
        #expect(try message(zip)
            == "t.npz, member 'train_images.npy': corrupt archive member: CRC-32 mismatch: the data gives "
            + "0x\(String(repeating: "0", count: 8 - hex.count))\(hex), the archive records 0x12345678")
    }

    @Test func memberLargerThanTheLimitIsNotExtracted() throws {
        #expect(try message(Self.archive(), maxMemberBytes: 100)
            == "t.npz, member 'train_labels.npy': the member inflates to 132 bytes, above the limit of 100 bytes; "
            + "refusing to extract it")
        // A directory that claims a member is enormous is refused on the claim alone.
        var zip = Self.archive()
        zip.members[0].declaredSize = 0xFFFF_FFF0
        #expect(try message(zip)
            == "t.npz, member 'train_images.npy': the member inflates to 4294967280 bytes, above the limit of "
            + "2147483648 bytes; refusing to extract it")
    }

    @Test func storedMemberShorterThanDeclared() throws {
        var zip = Self.archive()
        let last = zip.members.count - 1
        zip.members[last].declaredSize = UInt32(zip.members[last].bytes.count + 4096)
        #expect(try message(zip).hasPrefix("t.npz, member 'test_labels.npy': corrupt archive member: it holds "))
    }

    @Test func deflatedMemberLargerThanDeclared() throws {
        // medmnist_rgb.npz is deflated; shrink the first member's size in the central directory
        // so it inflates past its claim, as a zip bomb that lies about its size would.
        var bytes = try [UInt8](Data(contentsOf: npzFixture("medmnist_rgb.npz")))
        let signature: [UInt8] = [0x50, 0x4B, 0x01, 0x02]
        let directory = try #require((0..<bytes.count - 4).first { Array(bytes[$0..<$0 + 4]) == signature })
        bytes.replaceSubrange(directory + 24..<directory + 28, with: [100, 0, 0, 0])
        #expect(try message(bytes: bytes)
            == "t.npz, member 'train_images.npy': corrupt archive member: "
            + "it inflates to more than the 100 bytes the zip directory declares")
    }

    /// medmnist_rgb.npz with byte `offset` of the first member's deflate data inverted.
    func damagedRGBFixture(at offset: Int) throws -> [UInt8] {
        var bytes = try [UInt8](Data(contentsOf: npzFixture("medmnist_rgb.npz")))
        // The data follows the 30-byte local header, the name and the extra field.
        let dataStart = 30 + Int(bytes[26]) + Int(bytes[27]) << 8 + Int(bytes[28]) + Int(bytes[29]) << 8
        bytes[dataStart + offset] ^= 0xFF
        return bytes
    }

    @Test func corruptDeflateStream() throws {
        // Inverting the first byte breaks the Huffman table (zlib: "invalid code lengths set").
        #expect(try message(bytes: damagedRGBFixture(at: 0))
            == "t.npz, member 'train_images.npy': corrupt archive member: "
            + "the deflate stream cannot be inflated (corruptedData)")
    }

    @Test func deflatedMemberWithWrongContent() throws {
        // Inverting byte 20 still inflates to 416 bytes, but different ones (checked with zlib).
        #expect(try message(bytes: damagedRGBFixture(at: 20))
            == "t.npz, member 'train_images.npy': corrupt archive member: "
            + "CRC-32 mismatch: the data gives 0x533a67a2, the archive records 0x292c385c")
    }
}
