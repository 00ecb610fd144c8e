import Foundation
import Scalpel
import ScalpelTestSupport
import Testing

/// Which Scalpel made an output: `scalpel --version`, and the version, commit and device in
/// config.json, metrics.json, the report and the audit record of a run.
struct ProvenanceTests {
    /// What git says `commit` is in this checkout ("commit"), or nil where git or the checkout is missing.
    func objectType(_ commit: String) -> String? {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        guard FileManager.default.fileExists(atPath: root.appending(path: ".git").path),
              FileManager.default.isExecutableFile(atPath: "/usr/bin/git"),
              let result = try? runProcess(URL(fileURLWithPath: "/usr/bin/git"), ["-C", root.path, "cat-file", "-t", commit])
        else { return nil }
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func theVersionNamesTheCommitAndEveryOutputCarriesIt() throws {
        let version = try runScalpel(["--version"])
        #expect(version.status == 0)
        let expected = try String(contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appending(path: "VERSION"), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(version.stdout.hasPrefix("scalpel \(expected) (commit "), "\(version.stdout)")
        // The commit of this build (a commit since then is picked up by the next build), and one the checkout has.
        #expect(version.stdout.contains("(commit \(ScalpelBuild.commit))"), "\(version.stdout)")
        if let type = objectType(ScalpelBuild.commit) { #expect(type == "commit", "\(ScalpelBuild.commit): \(type)") }
        #expect(ScalpelBuild.commit.count == 40 && ScalpelBuild.summary == "\(ScalpelBuild.version) (\(ScalpelBuild.commit.prefix(12)))")

        let folder = try makeTemporaryDirectory("scalpel-provenance")
        defer { try? FileManager.default.removeItem(at: folder) }
        let log = folder.appending(path: "audit.log")
        let run = folder.appending(path: "run")
        let trained = try runScalpel(["train", "--data", dataPath("wdbc.csv"), "--epochs", "1", "--device", "cpu", "--out", run.path],
                                     environment: ["SCALPEL_AUDIT_LOG": log.path])
        #expect(trained.status == 0, "\(trained.stderr)")
        func json(_ url: URL) throws -> [String: Any] { try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any] }
        let config = try json(run.appending(path: "config.json")), metrics = try json(run.appending(path: "metrics.json"))
        #expect(config["scalpel"] as? String == ScalpelBuild.summary && metrics["scalpel"] as? String == ScalpelBuild.summary)
        #expect((config["deviceUsed"] as? String)?.hasPrefix("cpu (CPU-Swift") == true, "\(String(describing: config["deviceUsed"]))")
        let report = try String(contentsOf: run.appending(path: "report.html"), encoding: .utf8)
        #expect(report.contains("\(ScalpelBuild.version), commit \(ScalpelBuild.commit)"))
        let line = try String(contentsOf: log, encoding: .utf8).split(separator: "\n").last.map(String.init) ?? ""
        let record = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
        #expect(record["scalpel"] as? String == ScalpelBuild.summary && (record["device"] as? String)?.hasPrefix("cpu") == true, "\(line)")
        #expect(try runScalpel(["audit", "verify", log.path]).status == 0)
    }

    /// A tarball made by `git archive` has no .git: the commit comes from COMMIT, which git fills
    /// in (export-subst); unfilled, or with neither, it is "unknown".
    @Test func aTarballTakesItsCommitFromTheCOMMITFile() throws {
        let tool = scalpelBinary.deletingLastPathComponent().appending(path: "BuildInfoEmbedder")
        guard FileManager.default.isExecutableFile(atPath: tool.path) else {
            Issue.record("no BuildInfoEmbedder beside scalpel at \(tool.path): build the package first")
            return
        }
        let folder = try makeTemporaryDirectory("scalpel-tarball")
        defer { try? FileManager.default.removeItem(at: folder) }
        let output = folder.appending(path: "BuildInfo.swift")
        func generated() throws -> String {
            #expect(try runProcess(tool, [output.path, folder.path]).status == 0)
            return try String(contentsOf: output, encoding: .utf8)
        }
        try "1.2.3\n".write(to: folder.appending(path: "VERSION"), atomically: true, encoding: .utf8)
        try "$Format:%H$\n".write(to: folder.appending(path: "COMMIT"), atomically: true, encoding: .utf8)
        #expect(try generated().contains("version = \"1.2.3\"") && generated().contains("commit = \"unknown\""))
        let hash = String(repeating: "ab12", count: 10)
        try (hash + "\n").write(to: folder.appending(path: "COMMIT"), atomically: true, encoding: .utf8)
        #expect(try generated().contains("commit = \"\(hash)\""))
        // A checkout's .git wins over COMMIT: a branch, then a packed ref.
        let git = folder.appending(path: ".git")
        try FileManager.default.createDirectory(at: git.appending(path: "refs/heads"), withIntermediateDirectories: true)
        try "ref: refs/heads/main\n".write(to: git.appending(path: "HEAD"), atomically: true, encoding: .utf8)
        let packed = String(repeating: "0f", count: 20)
        try "# pack-refs with: peeled\n\(packed) refs/heads/main\n".write(to: git.appending(path: "packed-refs"), atomically: true, encoding: .utf8)
        #expect(try generated().contains("commit = \"\(packed)\""))
        let loose = String(repeating: "9e", count: 20)
        try (loose + "\n").write(to: git.appending(path: "refs/heads/main"), atomically: true, encoding: .utf8)
        #expect(try generated().contains("commit = \"\(loose)\""))
    }
}
