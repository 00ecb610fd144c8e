import Foundation
import ScalpelPrivacy
import ScalpelTestSupport
import Testing
@testable import Scalpel

/// Errors about encrypted data name the file, the line and the column (or field), never what
/// the data holds: no cell, no label, no category, no name from the header. The same errors about
/// a plaintext file quote the content, cut short.
@Suite struct DataErrorPrivacyTests {
    static let patient = "John Q. Smith SSN 123-45-6789"
    static let hexKey = String(repeating: "5a", count: 32)

    let keys: KeyRing = KeyRing(try! EncryptionSecret.key(hex: DataErrorPrivacyTests.hexKey, source: "test key"))

    /// Writes `text` to `folder`/`name` encrypted (recording `fileExtension`) and returns the path.
    func encrypted(_ text: String, _ name: String, fileExtension: String, in folder: URL) throws -> String {
        let url = folder.appending(path: name)
        try EncryptedFile.seal(Data(text.utf8), keys: keys, fileExtension: fileExtension).write(to: url)
        return url.path
    }

    func plain(_ text: String, _ name: String, in folder: URL) throws -> String {
        let url = folder.appending(path: name)
        try Data(text.utf8).write(to: url)
        return url.path
    }

    /// The message of the error `body` throws.
    func message(_ body: () throws -> Void) throws -> String {
        "\(try #require(throws: (any Error).self) { try body() })"
    }

    /// The message holds nothing of the patient's cell, nor any other cell named in `cells`.
    func expectWithheld(_ message: String, cells: [String] = [], sourceLocation: SourceLocation = #_sourceLocation) {
        for secret in ["Smith", "123-45-6789", "John"] + cells {
            #expect(!message.contains(secret), "'\(secret)' is in: \(message)", sourceLocation: sourceLocation)
        }
    }

    /// A table of 40 rows, two classes, with row `badRow` (0-based) holding the patient's name as its bmi.
    static func table(badRow: Int? = nil, badLabel: Int? = nil) -> String {
        var text = "age,bmi,diagnosis\n"
        for row in 0..<40 {
            let bmi = row == badRow ? patient : String(20 + row % 7) + ".5"
            let label = row == badLabel ? patient : row % 2 == 0 ? "M" : "B"
            text += "\(30 + row),\(bmi),\(label)\n"
        }
        return text
    }

    /// UCR text: 20 series of 4 values, two classes, line `badLine` (1-based) damaged by `damage`.
    static func series(badLine: Int? = nil, damage: (inout [String]) -> Void = { _ in }) -> String {
        var text = ""
        for line in 1...20 {
            var fields = [line % 2 == 0 ? "1" : "2"] + (0..<4).map { String(Double(line + $0) / 10) }
            if line == badLine { damage(&fields) }
            text += fields.joined(separator: "\t") + "\n"
        }
        return text
    }

    @Test func aCellOfAnEncryptedTableIsNeverQuoted() throws {
        let folder = try makeTemporaryDirectory("scalpel-privacy-errors")
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = try encrypted(Self.table(badRow: 2), "patients.enc", fileExtension: "csv", in: folder)
        let error = try message { _ = try PreparedData.load(TrainingConfig(data: path, label: "diagnosis", out: folder.path), keys: keys) }
        #expect(error.contains(path) && error.contains("line 4") && error.contains("column 'bmi'"), "\(error)")
        // The first number of the column (line 2) is a cell too.
        expectWithheld(error, cells: ["20.5"])
        #expect(error.contains("withheld"), "\(error)")

        // The same file in the clear says what the cell holds.
        let clear = try plain(Self.table(badRow: 2), "patients.csv", in: folder)
        let plainError = try message { _ = try PreparedData.load(TrainingConfig(data: clear, label: "diagnosis", out: folder.path)) }
        #expect(plainError.contains("'\(Self.patient)'"), "\(plainError)")
    }

    @Test func theHeaderOfAnEncryptedTableIsNotListed() throws {
        // A file without its header row has a patient's row where the names should be.
        let folder = try makeTemporaryDirectory("scalpel-privacy-errors")
        defer { try? FileManager.default.removeItem(at: folder) }
        let headless = String(Self.table(badLabel: 0).split(separator: "\n", maxSplits: 1)[1])
        let path = try encrypted(headless, "patients.enc", fileExtension: "csv", in: folder)
        let error = try message { _ = try PreparedData.load(TrainingConfig(data: path, label: "diagnosis", out: folder.path), keys: keys) }
        #expect(error.contains(path) && error.contains("no label column 'diagnosis'"), "\(error)")
        expectWithheld(error)
    }

    @Test func anUnknownLabelInAnEncryptedFileToEvaluateIsNotQuoted() throws {
        let folder = try makeTemporaryDirectory("scalpel-privacy-errors")
        defer { try? FileManager.default.removeItem(at: folder) }
        let training = try plain(Self.table(), "train.csv", in: folder)
        let pipeline = try #require(try PreparedData.load(TrainingConfig(data: training, label: "diagnosis", out: folder.path)).pipeline)
        let path = try encrypted(Self.table(badLabel: 5), "cohort.enc", fileExtension: "csv", in: folder)
        let error = try message { _ = try PreparedData.load(path, with: pipeline, keys: keys) }
        #expect(error.contains(path) && error.contains("line 7") && error.contains("column 'diagnosis'"), "\(error)")
        expectWithheld(error)
    }

    @Test func aBadCellOrLabelOfAnEncryptedTimeSeriesFileIsNotQuoted() throws {
        let folder = try makeTemporaryDirectory("scalpel-privacy-errors")
        defer { try? FileManager.default.removeItem(at: folder) }
        let bad = try encrypted(Self.series(badLine: 3) { $0[2] = Self.patient }, "train.tsv.enc", fileExtension: "tsv", in: folder)
        let cell = try message { _ = try PreparedData.load(TrainingConfig(data: bad, label: "", out: folder.path), keys: keys) }
        #expect(cell.contains(bad) && cell.contains("line 3") && cell.contains("field 3"), "\(cell)")
        expectWithheld(cell)

        // A test file whose label the training file lacks, in training (--test) and in evaluation.
        let training = try plain(Self.series(), "train.tsv", in: folder)
        let test = try encrypted(Self.series(badLine: 4) { $0[0] = Self.patient }, "test.tsv.enc", fileExtension: "tsv", in: folder)
        var config = TrainingConfig(data: training, label: "", out: folder.path)
        config.test = test
        let label = try message { _ = try PreparedData.load(config, keys: keys) }
        #expect(label.contains(test) && label.contains("line 4"), "\(label)")
        expectWithheld(label)
        let pipeline = try #require(try PreparedData.load(TrainingConfig(data: training, label: "", out: folder.path)).pipeline)
        let evaluated = try message { _ = try PreparedData.load(test, with: pipeline, keys: keys) }
        #expect(evaluated.contains(test) && evaluated.contains("line 4"), "\(evaluated)")
        expectWithheld(evaluated)
    }

    @Test func categoriesOfAnEncryptedFileAreNotNamedInTheNotesOfMetricsJSON() throws {
        // metrics.json is written in the clear; categories the model never saw are counted by column.
        let folder = try makeTemporaryDirectory("scalpel-privacy-errors")
        defer { try? FileManager.default.removeItem(at: folder) }
        func table(newcomer: String?) -> String {
            var text = "age,ward,diagnosis\n"
            for row in 0..<40 { text += "\(30 + row),\(row == 3 ? newcomer ?? "east" : row % 3 == 0 ? "east" : "west"),\(row % 2 == 0 ? "M" : "B")\n" }
            return text
        }
        let training = try plain(table(newcomer: nil), "train.csv", in: folder)
        let pipeline = try #require(try PreparedData.load(TrainingConfig(data: training, label: "diagnosis", out: folder.path)).pipeline)
        let path = try encrypted(table(newcomer: Self.patient), "cohort.enc", fileExtension: "csv", in: folder)
        let note = try #require(try PreparedData.load(path, with: pipeline, keys: keys).notes["unseen categories"])
        #expect(note.hasPrefix("ward (1 rows)"), "\(note)")
        expectWithheld(note)
        let clear = try plain(table(newcomer: Self.patient), "cohort.csv", in: folder)
        let plainNote = try #require(try PreparedData.load(clear, with: pipeline).notes["unseen categories"])
        #expect(plainNote.hasPrefix("ward=\(Self.patient) (1 rows)"), "\(plainNote)")
    }

    /// A version 1.0 `.npy` of float32 `values` in `shape`.
    static func npy(_ shape: [Int], _ values: [Float]) -> Data {
        var header = Array("{'descr': '<f4', 'fortran_order': False, 'shape': (\(shape.map(String.init).joined(separator: ", ")),), }".utf8)
        header += [UInt8](repeating: 0x20, count: (10 + header.count + 1 + 63) / 64 * 64 - 10 - header.count - 1) + [0x0A]
        let data = values.flatMap { value in (0..<4).map { UInt8(truncatingIfNeeded: value.bitPattern >> ($0 * 8)) } }
        return Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.count & 0xFF), UInt8(header.count >> 8)] + header + data)
    }

    @Test func aLabelOfAnEncryptedLabelArrayIsNotQuoted() throws {
        let folder = try makeTemporaryDirectory("scalpel-privacy-errors")
        defer { try? FileManager.default.removeItem(at: folder) }
        let samples = folder.appending(path: "x.npy")
        try Self.npy([20, 3], (0..<60).map { Float($0) }).write(to: samples)
        var values = (0..<20).map { Float($0 % 2) }
        values[6] = 4321.5
        let labels = folder.appending(path: "y.enc")
        try EncryptedFile.seal(Self.npy([20], values), keys: keys, fileExtension: "npy").write(to: labels)
        var config = TrainingConfig(data: samples.path, label: "", out: folder.path)
        config.labels = labels.path
        let error = try message { _ = try PreparedData.load(config, keys: keys) }
        #expect(error.contains(labels.path) && error.contains("element 6"), "\(error)")
        #expect(!error.contains("4321"), "\(error)")
    }

    @Test func scalpelTrainOnAnEncryptedTableNamesTheCellNotItsContent() throws {
        let folder = try makeTemporaryDirectory("scalpel-privacy-errors")
        defer { try? FileManager.default.removeItem(at: folder) }
        let key = try plain(Self.hexKey + "\n", "key.hex", in: folder)
        let path = try encrypted(Self.table(badRow: 2), "patients.enc", fileExtension: "csv", in: folder)
        let run = try runScalpel(["train", "--data", path, "--key-file", key, "--label", "diagnosis", "--device", "cpu",
                                  "--out", folder.appending(path: "run").path],
                                 environment: ["SCALPEL_AUDIT_LOG": folder.appending(path: "audit.log").path])
        #expect(run.status != 0)
        #expect(run.stderr.contains(path) && run.stderr.contains("line 4") && run.stderr.contains("bmi"), "\(run.stderr)")
        expectWithheld(run.stderr + run.stdout, cells: ["20.5"])
    }
}

extension DataErrorPrivacyTests {
    /// An `.npz` whose arrays would not fit the memory budget (`SCALPEL_MAX_ARRAY_BYTES`) is refused
    /// by `scalpel train`, encrypted or not, before its arrays are read in, naming the member and the limit.
    /// (Nested here so that the suite runs with the data-error tests.)
    @Suite struct ArrayBudgetCommandTests {
        /// A stored zip of `members`.
        static func storedZip(_ members: [(String, [UInt8])]) -> [UInt8] {
            let table: [UInt32] = (0..<256).map { index in
                var crc = UInt32(index)
                for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
                return crc
            }
            func crc32(_ bytes: [UInt8]) -> UInt32 {
                ~bytes.reduce(UInt32(0xFFFF_FFFF)) { crc, byte in table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
            }
            func le16(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF)] }
            func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> ($0 * 8)) } }
            var body: [UInt8] = [], directory: [UInt8] = []
            for (name, bytes) in members {
                let nameBytes = Array(name.utf8)
                let common = le16(20) + le16(0) + le16(0) + le16(0) + le16(0x21) + le32(crc32(bytes)) + le32(UInt32(bytes.count))
                    + le32(UInt32(bytes.count)) + le16(nameBytes.count) + le16(0)
                directory += le32(0x0201_4B50) + le16(20) + common + le16(0) + le16(0) + le16(0) + le32(0) + le32(UInt32(body.count)) + nameBytes
                body += le32(0x0403_4B50) + common + nameBytes + bytes
            }
            return body + directory + le32(0x0605_4B50) + le16(0) + le16(0) + le16(members.count) + le16(members.count)
                + le32(UInt32(directory.count)) + le32(UInt32(body.count)) + le16(0)
        }

        /// A version 1.0 `.npy` of uint8 `shape`, zeros.
        static func npy(_ shape: [Int]) -> [UInt8] {
            var header = Array("{'descr': '|u1', 'fortran_order': False, 'shape': (\(shape.map(String.init).joined(separator: ", "))), }".utf8)
            header += [UInt8](repeating: 0x20, count: (10 + header.count + 1 + 63) / 64 * 64 - 10 - header.count - 1) + [0x0A]
            var file: [UInt8] = [0x93]
            file += Array("NUMPY".utf8)
            file += [1, 0, UInt8(header.count & 0xFF), UInt8(header.count >> 8)]
            file += header
            file += [UInt8](repeating: 0, count: shape.reduce(1, *))
            return file
        }

        @Test func anArrayAboveTheBudgetIsRefusedWithTheMemberAndTheLimitNamed() throws {
            let folder = try makeTemporaryDirectory("scalpel-budget")
            defer { try? FileManager.default.removeItem(at: folder) }
            // 4 images of 512 × 512: 1 MiB stored, 4 MiB as 32-bit floats. The other splits are left
            // out, so loading it whole would fail later anyway.
            let zip = Self.storedZip([("train_labels.npy", Self.npy([4, 1])), ("train_images.npy", Self.npy([4, 512, 512]))])
            let plain = folder.appending(path: "bomb.npz")
            try Data(zip).write(to: plain)
            let key = folder.appending(path: "key.hex")
            try Data((DataErrorPrivacyTests.hexKey + "\n").utf8).write(to: key)
            let ring = KeyRing(try EncryptionSecret.key(hex: DataErrorPrivacyTests.hexKey, source: "test key"))
            let sealed = folder.appending(path: "bomb.enc")
            try EncryptedFile.seal(Data(zip), keys: ring, fileExtension: "npz").write(to: sealed)
            for path in [plain.path, sealed.path] {
                let run = try runScalpel(["train", "--data", path, "--key-file", key.path, "--device", "cpu", "--out", folder.appending(path: "run").path],
                                         environment: ["SCALPEL_MAX_ARRAY_BYTES": "1048576", "SCALPEL_AUDIT_LOG": folder.appending(path: "audit.log").path])
                #expect(run.status != 0)
                #expect(run.stderr.contains("\(path), member 'train_images.npy': the array of shape (4, 512, 512) and dtype |u1 takes 4194304 bytes "
                    + "in memory, above the budget of 1048576 bytes"), "\(run.stderr)")
            }
        }
    }
}
