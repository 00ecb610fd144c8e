// The hardening the fuzzer enforces, each case stated once: oversized headers, bad and
// overlapping offsets, data sizes that do not match the shape, and absurd dimensions are refused
// by every reader with an error that names the file and the problem. Cases the readers' own
// suites already pin down (Tests/ScalpelIOTests/MalformedFileTests.swift, NPYTests, MedMNISTTests,
// UCRTests) are not repeated; the same absurd shape is checked across every reader here.
import Foundation
import ScalpelData
import Testing

/// 2⁴⁰, an absurd dimension.
let huge = 1 << 40

@Suite struct AbsurdDimensionTests {
    @Test func safetensors() throws {
        let both = try refusal(.safetensors, safetensorsFile(#"{"t":{"dtype":"F32","shape":[\#(huge),\#(huge)],"data_offsets":[0,4]}}"#, buffer: [0, 0, 0, 0]))
        #expect(both.contains("tensor 't'") && both.contains("the element count of shape [\(huge), \(huge)] overflows a 64-bit integer"), "\(both)")
        let one = try refusal(.safetensors, safetensorsFile(#"{"t":{"dtype":"U8","shape":[\#(huge)],"data_offsets":[0,4]}}"#, buffer: [0, 0, 0, 0]))
        #expect(one.contains("shape [\(huge)] has \(huge) elements, above the limit of \(testMaxElements)"), "\(one)")
    }

    @Test func npy() throws {
        let message = try refusal(.npy, npyFile(descr: "|u1", shape: "(\(huge), \(huge))", data: []))
        #expect(message == "bad: invalid .npy shape: (\(huge), \(huge)) has a dimension \(huge) above the limit of \(testMaxElements) elements")
    }

    @Test func npzMember() throws {
        let images = npyFile(descr: "|u1", shape: "(\(huge), \(huge), 1)", data: [])
        let message = try refusal(.npz, medMNISTArchive(replacing: ["train_images": images]), source: "t.npz")
        #expect(message.contains("t.npz, member 'train_images.npy': invalid .npy shape: (\(huge), \(huge), 1) has a dimension"), "\(message)")
    }

    @Test func ucrSeriesLength() throws {
        let line = "1" + String(repeating: "\t0.5", count: 70_000) + "\n2\t1\n"
        let message = try refusal(.ucr, Array(line.utf8), source: "t.tsv")
        #expect(message == "t.tsv, line 1: the series has 70000 values, above the limit of 65536")
    }
}

@Suite struct OversizedHeaderTests {
    @Test func safetensorsHeaderAboveTheLimitIsRefusedBeforeItIsRead() throws {
        // The file is short; only the announced length is absurd, and nothing that size is allocated.
        let message = try refusal(.safetensors, safetensorsFile("{}", announcedLength: 1 << 62))
        #expect(message == "safetensors file 'bad': the header length is \(1 << 62) bytes, above the limit of \(1 << 20)")
    }

    @Test func npyHeaderAboveNumPysLimit() throws {
        var bytes = npyFile(descr: "<f4", shape: "(1,)", data: [0, 0, 0, 0])
        bytes.replaceSubrange(6..<10, with: [2, 0, 0x01, 0x00])  // version 2.0, then a 4-byte length...
        bytes.insert(contentsOf: [0x01, 0x00], at: 10)            // ...of 65537
        #expect(try refusal(.npy, bytes) == "bad: not a valid .npy array: the header length 65537 is over the 65536 bytes allowed")
    }

    @Test func npzMemberWithAnOversizedHeaderNamesTheMember() throws {
        var labels = npyFile(descr: "|u1", shape: "(2, 1)", data: [0, 1])
        labels.replaceSubrange(6..<10, with: [2, 0, 0xFF, 0xFF])
        labels.insert(contentsOf: [0xFF, 0x7F], at: 10)
        let message = try refusal(.npz, medMNISTArchive(replacing: ["val_labels": labels]), source: "t.npz")
        #expect(message.hasSuffix("t.npz, member 'val_labels.npy': not a valid .npy array: the header length 2147483647 is over the 65536 bytes allowed"),
                "\(message)")
    }
}

@Suite struct OffsetTests {
    /// Tensor "a", F32 of shape [2], and "b", F32 of shape [1], at the given offsets over 12 bytes.
    func file(a: String, b: String) -> [UInt8] {
        let header = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":["# + a + #"]},"#
            + #""b":{"dtype":"F32","shape":[1],"data_offsets":["# + b + #"]}}"#
        return safetensorsFile(header, buffer: [UInt8](repeating: 0, count: 12))
    }

    @Test func theValidLayoutParses() throws {
        #expect(try answer(.safetensors, file(a: "0,8", b: "8,12"), source: "ok") == .parsed)
    }

    @Test func swappedOffsetsNoLongerMatchTheShapes() throws {
        #expect(try refusal(.safetensors, file(a: "8,12", b: "0,8"))
            == "safetensors file 'bad', tensor 'a': data_offsets [8, 12] hold 4 bytes but shape [2] of F32 needs 8")
    }

    @Test func offsetsOverlappingAnotherTensor() throws {
        #expect(try refusal(.safetensors, file(a: "0,8", b: "4,8"))
            == "safetensors file 'bad', tensor 'b': data_offsets [4, 8] overlap tensor 'a' at [0, 8]")
    }

    @Test func offsetsFarBeyondTheBuffer() throws {
        #expect(try refusal(.safetensors, file(a: "4611686018427387904,4611686018427387912", b: "8,12"))
            == "safetensors file 'bad', tensor 'a': data_offsets [4611686018427387904, 4611686018427387912] end beyond the 12-byte data buffer")
    }
}

@Suite struct SizeMismatchTests {
    @Test func npzMemberWithBytesBeyondItsShape() throws {
        let images = npyFile(descr: "|u1", shape: "(2, 2, 2)", data: Array(0..<9))
        #expect(try refusal(.npz, medMNISTArchive(replacing: ["test_images": images]), source: "t.npz")
            .hasSuffix("t.npz, member 'test_images.npy': the array data is 9 bytes where its shape and dtype need 8 (1 extra bytes after the array)"))
    }
}

/// The zip structures that crashed or hung ZIPFoundation 0.9.20 before NPZArchive checked them
/// (the inputs are in Regressions/), refused from a file and from memory with the same message.
@Suite struct ZipStructureTests {
    static let cases: [(file: String, phrase: String)] = [
        ("npz-zip64-cd-offset.bin", "is not an .npz (zip) archive: the central directory offset 9223372036854775813 lies beyond the end of the 2234-byte archive"),
        ("npz-cd-offset-beyond.bin", "is not an .npz (zip) archive: the central directory offset 4294967040 lies beyond the end of the 2158-byte archive"),
        ("npz-zip64-local-offset.bin", "member 'train_images.npy': corrupt archive member: its local header offset 9223372036854775809 lies beyond the end of the 2170-byte archive"),
        ("npz-zip64-compressed-size.bin", "member 'train_images.npy': corrupt archive member: its 9223372036854775809 bytes of data from offset 66 run past the end of the 1813-byte archive"),
        ("npz-descriptor-overflow.bin", "member 'train_images.npy': corrupt archive member: its data descriptor would lie beyond the end of the 1813-byte archive"),
        ("npz-overlapping-members.bin", "member 'train_labels.npy': corrupt archive member: its bytes from offset 0 overlap member 'train_images.npy'"),
        ("npz-deflate-unfinished.bin", "member 'train_images.npy': corrupt archive member: the deflate stream does not end within its"),
    ]

    @Test(arguments: cases)
    func refusedWithTheProblemNamed(file: String, phrase: String) throws {
        let bytes = try [UInt8](Data(contentsOf: regressionsDirectory.appendingPathComponent(file)))
        let fromFile = try refusal(.npz, bytes, source: "t.npz")
        #expect(fromFile.contains(phrase), "\(fromFile)")
        let fromMemory = #expect(throws: ClinicDataError.self) {
            let archive = try NPZArchive(data: Data(bytes), source: "t.npz")
            for name in archive.names { _ = try archive.array(named: name) }
        }
        #expect(fromMemory?.description.contains("t.npz") == true)
        #expect(fromMemory?.description.contains(phrase) == true, "\(String(describing: fromMemory))")
    }

    @Test func ordinaryArchivesStillLoad() throws {
        // The checks refuse what ZIPFoundation cannot read safely, not ordinary archives.
        for name in ["medmnist_grey4.npz", "medmnist_rgb.npz"] {
            #expect(try answer(.npz, clinicFixture(name), source: name) == .parsed)
        }
        #expect(try answer(.npz, medMNISTArchive(), source: "t.npz") == .parsed)
    }
}

/// Archives built to exhaust memory (kept in Regressions/): refused from what the zip directory
/// and the member's `.npy` header declare, after inflating no more than a chunk past the header.
@Suite struct ZipBombTests {
    static let cases: [(file: String, phrase: String)] = [
        // A (2, 2, 2) array followed by 4 MiB of zeros that deflate to 4 KB.
        ("npz-inflates-past-header.bin", "member 'train_images.npy': corrupt archive member: it inflates to more than the 136 bytes "
            + "its .npy header and shape (2, 2, 2) of |u1 declare"),
        // A directory claiming 60 MiB for a member of a hundred-odd compressed bytes.
        ("npz-declared-beyond-deflate.bin", "member 'train_images.npy': corrupt archive member: the zip directory declares 62914560 "
            + "bytes from "),
    ]

    @Test(arguments: cases)
    func refusedWithTheLimitNamed(file: String, phrase: String) throws {
        let bytes = try [UInt8](Data(contentsOf: regressionsDirectory.appendingPathComponent(file)))
        #expect(try refusal(.npz, bytes, source: "t.npz").contains(phrase))
        let fromMemory = #expect(throws: ClinicDataError.self) {
            try ImageDataset.loadMedMNIST(data: Data(bytes), source: "t.npz")
        }
        #expect(fromMemory?.description.contains(phrase) == true, "\(String(describing: fromMemory))")
    }
}
