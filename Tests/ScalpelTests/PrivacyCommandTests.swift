import Foundation
import ScalpelTestSupport
import Testing

/// `scalpel encrypt`/`decrypt`, training and evaluating straight from encrypted files with
/// encrypted outputs, and the audit trail every run appends to — end to end through the binary.
@Suite struct PrivacyCommandTests {
    func contents(_ folder: URL) throws -> [String] {
        (FileManager.default.enumerator(atPath: folder.path)?.allObjects as? [String] ?? []).sorted()
    }

    @Test func anEncryptedDatasetTrainsEvaluatesAndResumesWithNoPlaintextOnDisk() throws {
        let folder = try makeTemporaryDirectory("scalpel-privacy")
        defer { try? FileManager.default.removeItem(at: folder) }
        let env: [String: String?] = ["SCALPEL_AUDIT_LOG": folder.appending(path: "audit.log").path]
        let key = folder.appending(path: "key.hex").path, data = folder.appending(path: "wdbc.csv.enc").path
        let encrypt = try runScalpel(["encrypt", dataPath("wdbc.csv"), "--out", data, "--new-key-file", key], environment: env)
        #expect(encrypt.status == 0, "\(encrypt.stderr)")
        let run = folder.appending(path: "run")
        let train = try runScalpel(["train", "--data", data, "--key-file", key, "--epochs", "4", "--device", "cpu", "--out", run.path], environment: env)
        #expect(train.status == 0, "\(train.stderr)")
        let files = try contents(run)
        for name in ["best.safetensors.enc", "last.safetensors.enc", "report.html.enc", "metrics.json", "config.json"] {
            #expect(files.contains(name), "\(name) missing from \(files)")
        }
        #expect(!files.contains("best.safetensors") && !files.contains("report.html") && files.contains("explanations/importance.csv.enc"), "\(files)")
        // No cell of the table, and no weight, lies anywhere in the run folder in the clear: the
        // first row's values and the safetensors header do not occur.
        let firstRow = try String(contentsOfFile: dataPath("wdbc.csv"), encoding: .utf8).split(whereSeparator: \.isNewline)[1]
        let cell = String(firstRow.split(separator: ",")[3])
        for name in files {
            let bytes = (try? Data(contentsOf: run.appending(path: name))) ?? Data()
            #expect(bytes.range(of: Data(cell.utf8)) == nil && bytes.range(of: Data("__metadata__".utf8)) == nil, "\(name)")
        }
        // Resuming reads the encrypted checkpoints; evaluation reads the encrypted model and data.
        let resumed = try runScalpel(["train", "--data", data, "--key-file", key, "--epochs", "5", "--device", "cpu", "--out", run.path,
                                      "--resume", run.appending(path: "last.safetensors.enc").path], environment: env)
        #expect(resumed.status == 0 && resumed.stderr.contains("epoch 5/5"), "\(resumed.stderr)")
        let evaluated = folder.appending(path: "eval")
        let eval = try runScalpel(["eval", "--checkpoint", run.appending(path: "best.safetensors.enc").path, "--data", data, "--key-file", key,
                                   "--device", "cpu", "--out", evaluated.path], environment: env)
        #expect(eval.status == 0, "\(eval.stderr)")
        #expect(try contents(evaluated).contains("report.html.enc"))
        // The encrypted report decrypts to the page.
        let report = folder.appending(path: "report.html")
        let decrypt = try runScalpel(["decrypt", run.appending(path: "report.html.enc").path, "--out", report.path, "--key-file", key], environment: env)
        #expect(decrypt.status == 0, "\(decrypt.stderr)")
        #expect(try String(contentsOf: report, encoding: .utf8).hasPrefix("<!DOCTYPE html>"))
        // Every run is in the audit trail, and the trail verifies.
        let verify = try runScalpel(["audit", "verify", folder.appending(path: "audit.log").path])
        #expect(verify.status == 0 && verify.stdout.contains("intact, 5 records"), "\(verify.stdout)\(verify.stderr)")
        let log = try String(contentsOf: folder.appending(path: "audit.log"), encoding: .utf8)
        for command in ["\"encrypt\"", "\"train\"", "\"eval\"", "\"decrypt\""] { #expect(log.contains("\"command\":\(command)"), "\(command)") }
        #expect(!log.contains(cell), "a data value reached the audit log")
    }

    @Test func aWrongKeyOrATamperedFileIsAClearErrorAndWritesNothing() throws {
        let folder = try makeTemporaryDirectory("scalpel-privacy")
        defer { try? FileManager.default.removeItem(at: folder) }
        let env: [String: String?] = ["SCALPEL_AUDIT_LOG": folder.appending(path: "audit.log").path, "SCALPEL_KEY": nil, "SCALPEL_PASSPHRASE": nil]
        let key = folder.appending(path: "key.hex").path, other = folder.appending(path: "other.hex").path
        let data = folder.appending(path: "wdbc.enc").path
        #expect(try runScalpel(["encrypt", dataPath("wdbc.csv"), "--out", data, "--new-key-file", key], environment: env).status == 0)
        #expect(try runScalpel(["encrypt", dataPath("wdbc.csv"), "--out", folder.appending(path: "x.enc").path, "--new-key-file", other],
                               environment: env).status == 0)
        let out = folder.appending(path: "plain.csv")
        let wrong = try runScalpel(["decrypt", data, "--out", out.path, "--key-file", other], environment: env)
        #expect(wrong.status != 0 && wrong.stderr.contains("key is wrong or the file has been tampered with"), "\(wrong.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out.path))
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: data)))
        bytes[bytes.count / 2] ^= 0x40
        let tampered = folder.appending(path: "tampered.enc")
        try Data(bytes).write(to: tampered)
        let run = folder.appending(path: "run")
        let train = try runScalpel(["train", "--data", tampered.path, "--key-file", key, "--device", "cpu", "--out", run.path], environment: env)
        #expect(train.status != 0 && train.stderr.contains("tampered"), "\(train.stderr)")
        #expect(!FileManager.default.fileExists(atPath: run.appending(path: "metrics.json").path))
        let noKey = try runScalpel(["train", "--data", data, "--device", "cpu", "--out", run.path], environment: env)
        #expect(noKey.status != 0 && noKey.stderr.contains("no key"), "\(noKey.stderr)")
        let overwrite = try runScalpel(["encrypt", dataPath("wdbc.csv"), "--out", data, "--new-key-file", key], environment: env)
        #expect(overwrite.status == 2 && overwrite.stderr.contains("never overwritten"), "\(overwrite.stderr)")
        // A passphrase from the environment works the same way.
        let env2 = env.merging(["SCALPEL_PASSPHRASE": "a long enough passphrase"]) { $1 }
        let sealed = folder.appending(path: "p.enc").path
        #expect(try runScalpel(["encrypt", dataPath("wdbc.csv"), "--out", sealed], environment: env2).status == 0)
        let opened = try runScalpel(["decrypt", sealed, "--out", out.path], environment: env2)
        #expect(opened.status == 0, "\(opened.stderr)")
        #expect(try Data(contentsOf: out) == Data(contentsOf: URL(fileURLWithPath: dataPath("wdbc.csv"))))
    }

    @Test func encryptedImagesAndSignalsTrainFromMemory() throws {
        let folder = try makeTemporaryDirectory("scalpel-privacy")
        defer { try? FileManager.default.removeItem(at: folder) }
        let env: [String: String?] = ["SCALPEL_AUDIT_LOG": folder.appending(path: "audit.log").path, "SCALPEL_KEY": String(repeating: "ab", count: 32)]
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appending(path: "ScalpelDataTests/Fixtures/medmnist_rgb.npz").path
        let images = folder.appending(path: "images.enc").path
        #expect(try runScalpel(["encrypt", fixture, "--out", images], environment: env).status == 0)
        let imageRun = try runScalpel(["train", "--data", images, "--epochs", "1", "--batch-size", "4", "--device", "cpu",
                                       "--out", folder.appending(path: "img").path], environment: env)
        #expect(imageRun.status == 0 && imageRun.stderr.contains("training convnet"), "\(imageRun.stderr)")
        // A UCR pair, both files encrypted; the model kind comes from the recorded format.
        let train = folder.appending(path: "T_TRAIN.tsv"), test = folder.appending(path: "T_TEST.tsv")
        try SequenceTrainingTests.waves(count: 4, length: 16, seed: 1).write(to: train, atomically: true, encoding: .utf8)
        try SequenceTrainingTests.waves(count: 3, length: 16, seed: 2).write(to: test, atomically: true, encoding: .utf8)
        for file in [train, test] {
            #expect(try runScalpel(["encrypt", file.path, "--out", file.path + ".enc"], environment: env).status == 0)
        }
        let signals = try runScalpel(["train", "--data", train.path + ".enc", "--test", test.path + ".enc", "--epochs", "1", "--device", "cpu",
                                      "--out", folder.appending(path: "sig").path], environment: env)
        #expect(signals.status == 0 && signals.stderr.contains("training fcn") && signals.stderr.contains("12 train / 0 validation / 9 test"),
                "\(signals.stderr)")
        #expect(FileManager.default.fileExists(atPath: folder.appending(path: "sig/best.safetensors.enc").path))
    }

    @Test func deidWritesNoIdentifierAnywhereAndIsAudited() throws {
        let folder = try makeTemporaryDirectory("scalpel-privacy")
        defer { try? FileManager.default.removeItem(at: folder) }
        let env: [String: String?] = ["SCALPEL_AUDIT_LOG": folder.appending(path: "audit.log").path]
        let raw = folder.appending(path: "raw.csv")
        let identifiers = ["Jane Smith", "03601", "1931-04-02", "555-123-4567", "jane@example.com", "MRN12345678", "John Carter", "Bob Jones",
                           "bob@site.org", "(415) 555-0100", "MRN87654321", "10.1.2.3"]
        try """
            patient_id,name,zip,dob,admission_date,age,phone,email,mrn,glucose,diagnosis,note
            P001,Jane Smith,03601,1931-04-02,2024-03-05,93,555-123-4567,jane@example.com,MRN12345678,5.4,diabetes,"Seen by Dr. John Carter on 03/05/2024, call 555-987-6543"
            P002,Bob Jones,94110,1980-11-30,2024-01-15,43,(415) 555-0100,bob@site.org,MRN87654321,7.9,healthy,"Email bob@site.org from 10.1.2.3"
            """.write(to: raw, atomically: true, encoding: .utf8)
        let out = folder.appending(path: "deid.csv"), key = folder.appending(path: "pseudonym.key")
        let result = try runScalpel(["deid", raw.path, "--out", out.path, "--new-key-file", key.path, "--patient-column", "patient_id",
                                     "--dates", "shift"], environment: env)
        #expect(result.status == 0, "\(result.stderr)")
        let written = try String(contentsOf: out, encoding: .utf8), report = try String(contentsOf: URL(fileURLWithPath: out.path + ".report.json"), encoding: .utf8)
        let log = try String(contentsOf: folder.appending(path: "audit.log"), encoding: .utf8)
        for value in identifiers {
            for (name, text) in [("output", written), ("report", report), ("stdout", result.stdout), ("stderr", result.stderr), ("audit log", log)] {
                #expect(!text.contains(value), "\(value) in the \(name)")
            }
        }
        #expect(written.hasPrefix("patient_id,zip,dob,admission_date,age,mrn,glucose,diagnosis,note") && written.contains(",5.4,diabetes,"), "\(written)")
        // The same key gives the same pseudonyms in another file; a bad option names the column, not a cell.
        let again = folder.appending(path: "again.csv")
        #expect(try runScalpel(["deid", raw.path, "--out", again.path, "--key-file", key.path, "--patient-column", "patient_id"], environment: env).status == 0)
        let first = written.split(whereSeparator: \.isNewline)[1].split(separator: ",")[0]
        #expect(try String(contentsOf: again, encoding: .utf8).contains(String(first)))
        let bad = try runScalpel(["deid", raw.path, "--out", again.path, "--key-file", key.path, "--keep", "ward"], environment: env)
        #expect(bad.status == 2 && bad.stderr.contains("ward"), "\(bad.stderr)")
        #expect(log.contains("\"command\":\"deid\""))
    }

    @Test func theAuditCommandReportsAnEditedLog() throws {
        let folder = try makeTemporaryDirectory("scalpel-privacy")
        defer { try? FileManager.default.removeItem(at: folder) }
        let log = folder.appending(path: "audit.log")
        let env: [String: String?] = ["SCALPEL_AUDIT_LOG": log.path]
        for seed in ["1", "2"] {
            #expect(try runScalpel(["train", "--data", dataPath("wdbc.csv"), "--epochs", "1", "--seed", seed, "--device", "cpu",
                                    "--out", folder.appending(path: "run-\(seed)").path], environment: env).status == 0)
        }
        #expect(try runScalpel(["audit", "verify"], environment: env).status == 0)
        let text = try String(contentsOf: log, encoding: .utf8)
        try text.replacingOccurrences(of: "\"--seed\",\"1\"", with: "\"--seed\",\"9\"").write(to: log, atomically: true, encoding: .utf8)
        let result = try runScalpel(["audit", "verify"], environment: env)
        #expect(result.status == 1 && result.stdout.contains("line 1: its content does not match its hash"), "\(result.stdout)")
    }
}
