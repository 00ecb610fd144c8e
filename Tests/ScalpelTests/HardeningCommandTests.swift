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
}
