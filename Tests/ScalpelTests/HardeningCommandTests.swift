import Foundation
import ScalpelIO
import ScalpelTestSupport
import Testing

/// What an attacker or a careless user tried against the binary: plaintext left readable,
/// audit trails that could be fooled, run folders that mixed, hostile checkpoints. Each test
/// runs `scalpel` as a user would.
@Suite struct HardeningCommandTests {
    func mode(_ path: String) -> Int {
        (try? FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? -1
    }

    /// A process id that no process holds any more.
    func finishedProcessID() throws -> Int32 {
        let finished = Process()
        finished.executableURL = URL(fileURLWithPath: "/bin/true")
        try finished.run()
        finished.waitUntilExit()
        return finished.processIdentifier
    }

    @Test func decryptWritesPlaintextPrivatelyAndClearsWhatAKilledDecryptLeft() throws {
        let folder = try makeTemporaryDirectory("scalpel-hardening")
        defer { try? FileManager.default.removeItem(at: folder) }
        let env: [String: String?] = ["SCALPEL_AUDIT_LOG": folder.appending(path: "audit.log").path, "SCALPEL_KEY": nil, "SCALPEL_PASSPHRASE": nil]
        let key = folder.appending(path: "key.hex").path
        let plain = folder.appending(path: "rows.csv")
        let row = "patient,value\nMaria Garcia,1\n"
        try Data(String(repeating: row, count: 300_000).utf8).write(to: plain)
        let sealed = folder.appending(path: "rows.csv.enc").path
        let encrypt = try runScalpel(["encrypt", plain.path, "--out", sealed, "--new-key-file", key], environment: env)
        #expect(encrypt.status == 0, "\(encrypt.stderr)")
        #expect(mode(key) == 0o600)

        // What a decrypt killed half-way through left behind, in the folder it wrote into.
        let outFolder = folder.appending(path: "out")
        try FileManager.default.createDirectory(at: outFolder, withIntermediateDirectories: true)
        let leftover = outFolder.appending(path: ".rows.csv.\(try finishedProcessID()).7f3a.tmp").path
        #expect(FileManager.default.createFile(atPath: leftover, contents: Data(row.utf8), attributes: [.posixPermissions: 0o644]))

        // Watch the folder while the decrypt runs: no entry may be readable by others.
        let out = outFolder.appending(path: "rows.csv").path
        let process = Process()
        process.executableURL = scalpelBinary
        process.arguments = ["decrypt", sealed, "--out", out, "--key-file", key]
        var environment = ProcessInfo.processInfo.environment
        environment["SCALPEL_AUDIT_LOG"] = folder.appending(path: "audit.log").path
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        var exposed = Set<String>()
        while process.isRunning {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: outFolder.path)) ?? [] {
                let path = outFolder.appending(path: name).path
                // -1: renamed away between the listing and the look.
                if path != leftover, case let m = mode(path), m >= 0, m & 0o077 != 0 { exposed.insert(name) }
            }
        }
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(exposed.isEmpty, "readable by others while decrypting: \(exposed)")
        #expect(mode(out) == 0o600)
        #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == (try Data(contentsOf: plain)))
        #expect(try FileManager.default.contentsOfDirectory(atPath: outFolder.path) == ["rows.csv"],
                "the plaintext a killed decrypt left is still there")
    }

    /// The audit trail: a repeated key is found, a damaged last line blocks nothing, a log that
    /// cannot be written stops a command before it acts, and failures are recorded too.
    @Test func theAuditTrailCannotBeFooledAndRecordsWhatFailed() throws {
        let folder = try makeTemporaryDirectory("scalpel-hardening")
        defer { try? FileManager.default.removeItem(at: folder) }
        let log = folder.appending(path: "audit.log")
        let env: [String: String?] = ["SCALPEL_AUDIT_LOG": log.path, "SCALPEL_KEY": nil, "SCALPEL_PASSPHRASE": nil]
        let key = folder.appending(path: "key.hex").path, sealed = folder.appending(path: "wdbc.csv.enc").path
        #expect(try runScalpel(["encrypt", dataPath("wdbc.csv"), "--out", sealed, "--new-key-file", key], environment: env).status == 0)

        // A second "command" key: readers take the last one, the old chain hashed the first.
        let original = try String(contentsOf: log, encoding: .utf8)
        try original.replacingOccurrences(of: "\"command\":\"encrypt\"", with: "\"command\":\"encrypt\",\"command\":\"eval\"")
            .write(to: log, atomically: true, encoding: .utf8)
        let forged = try runScalpel(["audit", "verify"], environment: env)
        #expect(forged.status == 1 && forged.stdout.contains("line 1:"), "\(forged.stdout)")
        try original.write(to: log, atomically: true, encoding: .utf8)

        // A last line cut short: the next command still runs and is recorded after it.
        let handle = try FileHandle(forWritingTo: log)
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("{\"comm".utf8))
        try handle.close()
        let plain = folder.appending(path: "plain.csv").path
        let decrypt = try runScalpel(["decrypt", sealed, "--out", plain, "--key-file", key], environment: env)
        #expect(decrypt.status == 0, "\(decrypt.stderr)")
        let verify = try runScalpel(["audit", "verify"], environment: env)
        #expect(verify.stdout.contains("1 problem in 3 records") && verify.stdout.contains("line 2: not an audit record"), "\(verify.stdout)")
        #expect(try String(contentsOf: log, encoding: .utf8).split(separator: "\n").last?.contains("\"command\":\"decrypt\"") == true)

        // A failed command leaves a record saying so (and no text of the error).
        let wrongKey = folder.appending(path: "wrong.hex").path
        try Data((String(repeating: "ab", count: 32) + "\n").utf8).write(to: URL(fileURLWithPath: wrongKey))
        let refused = try runScalpel(["decrypt", sealed, "--out", folder.appending(path: "never.csv").path, "--key-file", wrongKey], environment: env)
        #expect(refused.status != 0)
        let last = try String(contentsOf: log, encoding: .utf8).split(separator: "\n").last.map(String.init) ?? ""
        #expect(last.contains("\"command\":\"decrypt\"") && last.contains("\"status\":\"failed"), "\(last)")

        // A log that cannot take a record: the command refuses before it decrypts anything.
        let blocked = folder.appending(path: "blocked")
        try FileManager.default.createDirectory(at: blocked.appending(path: "audit.log"), withIntermediateDirectories: true)
        let out = folder.appending(path: "unaudited.csv").path
        let unaudited = try runScalpel(["decrypt", sealed, "--out", out, "--key-file", key],
                                       environment: ["SCALPEL_AUDIT_LOG": blocked.appending(path: "audit.log").path])
        #expect(unaudited.status != 0 && unaudited.stderr.contains("audit log"), "\(unaudited.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out), "decrypted although the action could not be audited")
    }

    /// A checkpoint whose metadata was edited to describe a huge model or huge samples is
    /// refused with an error naming the file, before anything is built or loaded.
    @Test func aHostileCheckpointIsRefusedBeforeAnythingLargeIsAllocated() throws {
        let folder = try makeTemporaryDirectory("scalpel-hardening")
        defer { try? FileManager.default.removeItem(at: folder) }
        let env: [String: String?] = ["SCALPEL_AUDIT_LOG": folder.appending(path: "audit.log").path]
        let run = folder.appending(path: "run")
        let train = try runScalpel(["train", "--data", dataPath("wdbc.csv"), "--epochs", "1", "--device", "cpu", "--out", run.path], environment: env)
        #expect(train.status == 0, "\(train.stderr)")
        let saved = try SafeTensorsFile.read(from: run.appending(path: "best.safetensors"))
        func edited(_ key: String, _ change: (inout [String: Any]) -> Void) throws -> String {
            var file = saved
            var object = try JSONSerialization.jsonObject(with: Data(file.metadata[key]!.utf8)) as! [String: Any]
            change(&object)
            file.metadata[key] = String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
            let url = folder.appending(path: "hostile-\(UUID().uuidString).safetensors")
            try file.write(to: url)
            return url.path
        }
        func stored(_ key: String, _ text: String) throws -> String {
            var file = saved
            file.metadata[key] = text
            let url = folder.appending(path: "hostile-\(UUID().uuidString).safetensors")
            try file.write(to: url)
            return url.path
        }
        let cases: [(String, String)] = [
            (try stored("temperature", "-1"), "temperature is unreadable"), (try stored("temperature", "nan"), "temperature is unreadable"),
            (try stored("decision_threshold", "{\"threshold\": \"high\"}"), "decision threshold is unreadable"),
            (try edited("config") { $0["hidden"] = 2_000_000_000 }, "hidden size 2000000000"),
            (try edited("config") { $0["hidden"] = 60_000 }, "larger than the weights it holds"),
            (try edited("pipeline") { $0["sampleShape"] = [1_000_000_000] }, "samples of shape"),
            (try edited("pipeline") { $0["sampleShape"] = [Int.max] }, "samples of shape"),
            (try edited("config") { $0["batchSize"] = 1 << 40 }, "batches of"),
            (try edited("config") { $0["model"] = "resnet18" }, "model 'resnet18'"),
        ]
        // The same through --resume, whose model is built from the checkpoint's configuration.
        for (change, expected) in [(2_000_000_000, "hidden size 2000000000"), (60_000, "larger than the weights it holds")] {
            var file = try SafeTensorsFile.read(from: run.appending(path: "last.safetensors"))
            var object = try JSONSerialization.jsonObject(with: Data(file.metadata["config"]!.utf8)) as! [String: Any]
            object["hidden"] = change
            object["out"] = folder.appending(path: "resumed-\(change)").path
            file.metadata["config"] = String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
            let hostile = folder.appending(path: "hostile-last-\(change).safetensors")
            try file.write(to: hostile)
            let resumed = try runScalpel(["train", "--resume", hostile.path, "--device", "cpu", "--out", folder.appending(path: "resumed-\(change)").path],
                                         environment: env)
            #expect(resumed.status == 1 && resumed.stderr.contains(hostile.path) && resumed.stderr.contains(expected), "\(expected): \(resumed.stderr)")
        }
        for (checkpoint, expected) in cases {
            let eval = try runScalpel(["eval", "--checkpoint", checkpoint, "--data", dataPath("wdbc.csv"), "--device", "cpu",
                                       "--out", folder.appending(path: "eval").path], environment: env)
            #expect(eval.status == 1 && eval.stderr.contains(checkpoint) && eval.stderr.contains(expected), "\(expected): \(eval.status) \(eval.stderr)")
            // export builds the same model from the same checkpoint, under the same checks.
            let onnx = folder.appending(path: "hostile.onnx")
            let export = try runScalpel(["export", "--checkpoint", checkpoint, "--out", onnx.path], environment: env)
            #expect(export.status == 1 && export.stderr.contains(checkpoint) && export.stderr.contains(expected), "export: \(expected): \(export.stderr)")
            #expect(!FileManager.default.fileExists(atPath: onnx.path))
        }
    }

    func train(_ arguments: [String], out: URL, env: [String: String?]) throws -> ProcessResult {
        try runScalpel(["train", "--data", dataPath("wdbc.csv"), "--device", "cpu", "--out", out.path] + arguments, environment: env)
    }

    /// One run per folder: a second run into it is refused (also while the first still writes),
    /// `--overwrite` replaces it, and eval does not write into a training run's folder.
    @Test func aRunFolderHoldsOneRun() throws {
        let folder = try makeTemporaryDirectory("scalpel-hardening")
        defer { try? FileManager.default.removeItem(at: folder) }
        let env: [String: String?] = ["SCALPEL_AUDIT_LOG": folder.appending(path: "audit.log").path]
        let run = folder.appending(path: "run")
        #expect(try train(["--epochs", "1", "--seed", "1"], out: run, env: env).status == 0)
        let config = try Data(contentsOf: run.appending(path: "config.json"))
        let second = try train(["--epochs", "1", "--seed", "2"], out: run, env: env)
        #expect(second.status == 2 && second.stderr.contains("holds another run") && second.stderr.contains("--overwrite"), "\(second.stderr)")
        #expect(try Data(contentsOf: run.appending(path: "config.json")) == config)

        // While a run writes into the folder, a second one (even with --overwrite) is kept out.
        let busy = folder.appending(path: "busy")
        let first = Process()
        first.executableURL = scalpelBinary
        first.arguments = ["train", "--data", dataPath("wdbc.csv"), "--device", "cpu", "--epochs", "40", "--out", busy.path]
        first.environment = ProcessInfo.processInfo.environment.merging(["SCALPEL_AUDIT_LOG": folder.appending(path: "audit.log").path]) { $1 }
        first.standardOutput = FileHandle.nullDevice
        first.standardError = FileHandle.nullDevice
        try first.run()
        while first.isRunning && !FileManager.default.fileExists(atPath: busy.appending(path: "config.json").path) { usleep(10_000) }
        let intruder = try train(["--epochs", "1", "--overwrite"], out: busy, env: env)
        first.waitUntilExit()
        #expect(first.terminationStatus == 0)
        #expect(intruder.status != 0 && intruder.stderr.contains("another scalpel run is writing"), "\(intruder.stderr)")
        let written = try JSONSerialization.jsonObject(with: Data(contentsOf: busy.appending(path: "config.json"))) as? [String: Any]
        #expect(written?["epochs"] as? Int == 40)

        let replaced = try train(["--epochs", "1", "--seed", "3", "--overwrite"], out: run, env: env)
        #expect(replaced.status == 0, "\(replaced.stderr)")
        let now = try JSONSerialization.jsonObject(with: Data(contentsOf: run.appending(path: "config.json"))) as? [String: Any]
        #expect(now?["seed"] as? Int == 3)

        let eval = try runScalpel(["eval", "--checkpoint", run.appending(path: "best.safetensors").path, "--data", dataPath("wdbc.csv"),
                                   "--device", "cpu", "--out", run.path], environment: env)
        #expect(eval.status == 2 && eval.stderr.contains("holds another run"), "\(eval.stderr)")
        #expect(try JSONSerialization.jsonObject(with: Data(contentsOf: run.appending(path: "config.json"))) as? [String: Any] != nil)
    }

    /// --resume continues the run with its own options; options that contradict it, fewer
    /// epochs than it has done, or another run's folder are refused before anything changes.
    @Test func resumeKeepsTheRunsOwnOptionsAndRefusesContradictions() throws {
        let folder = try makeTemporaryDirectory("scalpel-hardening")
        defer { try? FileManager.default.removeItem(at: folder) }
        let env: [String: String?] = ["SCALPEL_AUDIT_LOG": folder.appending(path: "audit.log").path]
        let run = folder.appending(path: "run")
        #expect(try train(["--epochs", "2", "--seed", "5", "--hidden", "16", "--lr", "0.002"], out: run, env: env).status == 0)
        let last = run.appending(path: "last.safetensors").path
        let config = try Data(contentsOf: run.appending(path: "config.json"))
        let checkpoint = try Data(contentsOf: URL(fileURLWithPath: last))

        for (options, named) in [(["--seed", "6"], "--seed 6 (the run used 5)"), (["--lr", "0.01"], "--lr 0.01 (the run used 0.002)"),
                                 (["--model", "mlp", "--hidden", "64"], "--hidden 64 (the run used 16)"),
                                 (["--validation-fraction", "0.2"], "--validation-fraction")] {
            let refused = try runScalpel(["train", "--resume", last, "--epochs", "4", "--device", "cpu"] + options, environment: env)
            #expect(refused.status == 2 && refused.stderr.contains(named), "\(options): \(refused.stderr)")
        }
        let fewer = try runScalpel(["train", "--resume", last, "--epochs", "1", "--device", "cpu"], environment: env)
        #expect(fewer.status == 2 && fewer.stderr.contains("has trained 2 epochs"), "\(fewer.stderr)")
        let other = folder.appending(path: "other")
        #expect(try train(["--epochs", "1"], out: other, env: env).status == 0)
        let elsewhere = try runScalpel(["train", "--resume", last, "--epochs", "4", "--device", "cpu", "--out", other.path], environment: env)
        #expect(elsewhere.status == 2 && elsewhere.stderr.contains("not the one being resumed"), "\(elsewhere.stderr)")
        #expect(try Data(contentsOf: run.appending(path: "config.json")) == config && (try Data(contentsOf: URL(fileURLWithPath: last))) == checkpoint,
                "a refused resume changed the run")

        // With no other options the run continues as it was configured, in its own folder.
        let resumed = try runScalpel(["train", "--resume", last, "--epochs", "3", "--device", "cpu"], environment: env)
        #expect(resumed.status == 0 && resumed.stderr.contains("epoch 3/3"), "\(resumed.stderr)")
        let now = try JSONSerialization.jsonObject(with: Data(contentsOf: run.appending(path: "config.json"))) as? [String: Any]
        #expect(now?["seed"] as? Int == 5 && now?["hidden"] as? Int == 16 && now?["epochs"] as? Int == 3)
    }

    @Test func badOutputFoldersAreClearErrors() throws {
        let folder = try makeTemporaryDirectory("scalpel-hardening")
        defer { try? FileManager.default.removeItem(at: folder) }
        let env: [String: String?] = ["SCALPEL_AUDIT_LOG": folder.appending(path: "audit.log").path]
        let file = folder.appending(path: "a-file")
        try Data("x".utf8).write(to: file)
        let cases: [(String, String)] = [("", "--out is empty"), (file.path, "is a file"), (file.appending(path: "run").path, "cannot be created")]
        for (out, expected) in cases {
            let result = try runScalpel(["train", "--data", dataPath("wdbc.csv"), "--epochs", "1", "--device", "cpu", "--out", out], environment: env)
            #expect(result.status != 0 && result.stderr.hasPrefix("scalpel: error: ") && result.stderr.contains(expected), "\(out): \(result.stderr)")
        }
    }

    /// Smaller defects: column names that spreadsheets would run as formulas, key files others
    /// can read, images too small for the CNN, an empty --out.
    @Test func formulasKeysTinyImagesAndEmptyOutputs() throws {
        let folder = try makeTemporaryDirectory("scalpel-hardening")
        defer { try? FileManager.default.removeItem(at: folder) }
        let env: [String: String?] = ["SCALPEL_AUDIT_LOG": folder.appending(path: "audit.log").path, "SCALPEL_KEY": nil, "SCALPEL_PASSPHRASE": nil,
                                      "SCALPEL_STRICT": nil]
        // Two feature columns renamed as formulas.
        var lines = try String(contentsOfFile: dataPath("wdbc.csv"), encoding: .utf8).split(whereSeparator: \.isNewline).map(String.init)
        var header = lines[0].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        let index = header.firstIndex(of: "radius_mean")!, other = header.firstIndex(of: "texture_mean")!
        header[index] = "=HYPERLINK(\"http://x\")"
        header[other] = "@SUM(A1)"
        lines[0] = header.map { $0.contains(",") || $0.contains("\"") ? "\"" + $0.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : $0 }
            .joined(separator: ",")
        let table = folder.appending(path: "formulas.csv")
        try (lines.joined(separator: "\n") + "\n").write(to: table, atomically: true, encoding: .utf8)
        let run = folder.appending(path: "run")
        let train = try runScalpel(["train", "--data", table.path, "--epochs", "1", "--device", "cpu", "--out", run.path], environment: env)
        #expect(train.status == 0, "\(train.stderr)")
        let csv = try String(contentsOf: run.appending(path: "explanations/importance.csv"), encoding: .utf8)
        let firsts = csv.split(separator: "\n").compactMap { $0.first }
        #expect(!firsts.contains { "=+-@".contains($0) }, "a field starts with a formula character:\n\(csv)")
        #expect(csv.contains("'@SUM(A1)") && csv.contains("\"'=HYPERLINK(\"\"http://x\"\")\""), "\(csv)")

        // A key file others can read: a warning, or a refusal with --strict (nothing written).
        let key = folder.appending(path: "key.hex").path, sealed = folder.appending(path: "wdbc.csv.enc").path
        #expect(try runScalpel(["encrypt", dataPath("wdbc.csv"), "--out", sealed, "--new-key-file", key], environment: env).status == 0)
        chmod(key, 0o644)
        let warned = try runScalpel(["decrypt", sealed, "--out", folder.appending(path: "plain.csv").path, "--key-file", key], environment: env)
        #expect(warned.status == 0 && warned.stderr.contains("readable or writable by other users") && warned.stderr.contains("chmod 600"), "\(warned.stderr)")
        let strictOut = folder.appending(path: "strict.csv").path
        let refused = try runScalpel(["decrypt", sealed, "--out", strictOut, "--key-file", key, "--strict"], environment: env)
        #expect(refused.status == 2 && refused.stderr.contains("strict"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: strictOut))

        // --out "" for a file-writing command.
        let empty = try runScalpel(["decrypt", sealed, "--out", "", "--key-file", key], environment: env)
        #expect(empty.status != 0 && empty.stderr.contains("scalpel: error: ") && empty.stderr.contains("not a file name"), "\(empty.stderr)")

        // 3×3 images: the CNN pools twice by 2.
        let samples = folder.appending(path: "tiny.npy"), labels = folder.appending(path: "tiny-labels.npy")
        func npy(_ descr: String, _ shape: [Int], _ payload: Data) -> Data {
            var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': (\(shape.map(String.init).joined(separator: ", ")),), }"
            while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
            header += "\n"
            var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)])
            data.append(Data(header.utf8))
            data.append(payload)
            return data
        }
        let count = 40
        try npy("|u1", [count, 1, 3, 3], Data((0 ..< count * 9).map { UInt8($0 % 251) })).write(to: samples)
        try npy("<i8", [count], Data((0 ..< count).flatMap { withUnsafeBytes(of: Int64($0 % 2).littleEndian, Array.init) })).write(to: labels)
        let tiny = try runScalpel(["train", "--data", samples.path, "--labels", labels.path, "--model", "cnn", "--epochs", "1", "--device", "cpu",
                                   "--out", folder.appending(path: "tiny").path], environment: env)
        #expect(tiny.status == 2 && tiny.stderr.contains(samples.path) && tiny.stderr.contains("too small"), "\(tiny.stderr)")
    }
}
