import Foundation
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
}
