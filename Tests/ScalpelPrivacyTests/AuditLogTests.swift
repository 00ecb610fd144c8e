import Crypto
import Foundation
import Testing
@testable import ScalpelPrivacy

/// The hash-chained audit log: appends chain, and every edit, removal, reordering or cut is found.
@Suite struct AuditLogTests {
    func makeLog(_ count: Int) throws -> (AuditLog, URL) {
        let folder = FileManager.default.temporaryDirectory.appending(path: "scalpel-audit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let input = folder.appending(path: "data.csv")
        try Data("a,b\n1,2\n".utf8).write(to: input)
        let log = AuditLog(url: folder.appending(path: "audit.log"))
        for i in 0 ..< count {
            try log.append(command: "train", arguments: ["train", "--seed", "\(i)"], inputs: [input.path], outputs: [], metrics: ["auroc": 0.9 + Double(i) / 100])
        }
        return (log, folder)
    }

    func lines(_ log: AuditLog) throws -> [String] {
        try String(contentsOf: log.url, encoding: .utf8).split(separator: "\n").map(String.init)
    }

    func write(_ lines: [String], to log: AuditLog) throws {
        try (lines.joined(separator: "\n") + "\n").write(to: log.url, atomically: true, encoding: .utf8)
    }

    @Test func appendsChainAndVerify() throws {
        let (log, folder) = try makeLog(4)
        defer { try? FileManager.default.removeItem(at: folder) }
        let result = try log.verify()
        #expect(result.isIntact && result.records == 4, "\(result.problems)")
        let records = try lines(log).map { try JSONDecoder().decode(AuditRecord.self, from: Data($0.utf8)) }
        #expect(records.map(\.sequence) == [1, 2, 3, 4])
        #expect(records[0].previous == AuditLog.genesis && records.allSatisfy { $0.format == 2 })
        let digest = SHA256.hash(data: Data("a,b\n1,2\n".utf8)).map { String(format: "%02x", $0) }.joined()
        #expect(records[0].inputs.first?.sha256 == digest && records[0].inputs.first?.bytes == 8)
        #expect(records[2].metrics["auroc"] == 0.92 && !records[0].user.isEmpty)
    }

    @Test func anEditedLineIsFound() throws {
        let (log, folder) = try makeLog(3)
        defer { try? FileManager.default.removeItem(at: folder) }
        var text = try lines(log)
        text[1] = text[1].replacingOccurrences(of: "0.91", with: "0.99")
        try write(text, to: log)
        let result = try log.verify()
        #expect(!result.isIntact && result.problems.contains { $0.hasPrefix("line 2:") && $0.contains("edited") }, "\(result.problems)")
    }

    @Test func aRemovedLineIsFound() throws {
        let (log, folder) = try makeLog(4)
        defer { try? FileManager.default.removeItem(at: folder) }
        var text = try lines(log)
        text.remove(at: 1)
        try write(text, to: log)
        let result = try log.verify()
        #expect(result.problems.contains { $0.hasPrefix("line 2:") }, "\(result.problems)")
    }

    @Test func reorderedLinesAreFound() throws {
        let (log, folder) = try makeLog(4)
        defer { try? FileManager.default.removeItem(at: folder) }
        var text = try lines(log)
        text.swapAt(1, 2)
        try write(text, to: log)
        let result = try log.verify()
        #expect(result.problems.contains { $0.hasPrefix("line 2:") } && result.problems.contains { $0.hasPrefix("line 3:") }, "\(result.problems)")
    }

    @Test func linesCutFromTheEndAreFoundByTheHead() throws {
        let (log, folder) = try makeLog(4)
        defer { try? FileManager.default.removeItem(at: folder) }
        try write(Array(try lines(log).dropLast()), to: log)
        let result = try log.verify()
        #expect(result.problems.contains { $0.contains("head records 4") }, "\(result.problems)")
        // A recomputed, consistent chain with a forged line still fails on the hash of the edited content.
        let (other, folder2) = try makeLog(2)
        defer { try? FileManager.default.removeItem(at: folder2) }
        var text = try lines(other)
        text[0] = text[0].replacingOccurrences(of: "\"train\"", with: "\"eval\"")
        try write(text, to: other)
        #expect(try !other.verify().isIntact)
    }

    @Test func concurrentAppendsInterleaveWholeLines() throws {
        let (log, folder) = try makeLog(0)
        defer { try? FileManager.default.removeItem(at: folder) }
        DispatchQueue.concurrentPerform(iterations: 16) { i in
            _ = try? log.append(command: "eval", arguments: ["\(i)"], inputs: [], outputs: [])
        }
        let result = try log.verify()
        #expect(result.isIntact && result.records == 16, "\(result.problems)")
    }

    /// A key repeated inside a line changes what a reader sees (the last `"command"` wins in
    /// most JSON readers) but not the decoded record the old chain hashed: the exact bytes count.
    @Test func aRepeatedKeyInsertedIntoALineIsFound() throws {
        let (log, folder) = try makeLog(3)
        defer { try? FileManager.default.removeItem(at: folder) }
        var text = try lines(log)
        text[1] = text[1].replacingOccurrences(of: "\"command\":\"train\"", with: "\"command\":\"train\",\"command\":\"eval\"")
        try write(text, to: log)
        let result = try log.verify()
        #expect(result.problems.contains { $0.hasPrefix("line 2:") }, "\(result.problems)")
        // Spaces added between the fields: the same record to a JSON reader, other bytes.
        text = try lines(log)
        text[1] = text[1].replacingOccurrences(of: "\",\"", with: "\", \"")
        try write(text, to: log)
        #expect(try log.verify().problems.contains { $0.hasPrefix("line 2:") })
    }

    /// Each line chains to the exact bytes of the line before, so an edit shows at the edited
    /// line and at the next, whatever the edit does to the record a reader decodes.
    @Test func eachLineCarriesTheDigestOfTheBytesOfTheLineBefore() throws {
        let (log, folder) = try makeLog(3)
        defer { try? FileManager.default.removeItem(at: folder) }
        let text = try lines(log)
        let records = try text.map { try JSONDecoder().decode(AuditRecord.self, from: Data($0.utf8)) }
        #expect(records[1].previous == SHA256.hash(data: Data(text[0].utf8)).map { String(format: "%02x", $0) }.joined())
        #expect(records[2].previous == SHA256.hash(data: Data(text[1].utf8)).map { String(format: "%02x", $0) }.joined())
    }

    @Test func theHeadIsNeverWrittenThroughAPlantedLink() throws {
        let (log, folder) = try makeLog(1)
        defer { try? FileManager.default.removeItem(at: folder) }
        let victim = folder.appending(path: "victim.txt")
        try Data("precious".utf8).write(to: victim)
        // The old writer used the fixed name audit.log.head.tmp; the head itself may be a link too.
        for name in ["audit.log.head.tmp", "audit.log.head"] {
            let link = folder.appending(path: name)
            try? FileManager.default.removeItem(at: link)
            try FileManager.default.createSymbolicLink(at: link, withDestinationURL: victim)
            try log.append(command: "eval", arguments: [], inputs: [], outputs: [])
            #expect(try String(contentsOf: victim, encoding: .utf8) == "precious", "written through \(name)")
        }
        #expect(try log.verify().isIntact)
    }

    @Test func aDamagedLastLineIsReportedButBlocksNothing() throws {
        let (log, folder) = try makeLog(2)
        defer { try? FileManager.default.removeItem(at: folder) }
        // A line cut short by a crash: no newline at the end.
        let handle = try FileHandle(forWritingTo: log.url)
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("{\"command\":\"tra".utf8))
        try handle.close()
        #expect(throws: Never.self) { try log.checkWritable() }
        let record = try log.append(command: "eval", arguments: [], inputs: [], outputs: [])
        #expect(record.sequence == 4)
        let text = try lines(log)
        #expect(text.count == 4 && text[2] == "{\"command\":\"tra", "the new record was glued to the damaged line")
        #expect(record.previous == SHA256.hash(data: Data(text[2].utf8)).map { String(format: "%02x", $0) }.joined())
        let result = try log.verify()
        #expect(result.problems == ["line 3: not an audit record (edited or damaged)"], "\(result.problems)")
    }

    @Test func aLogThatCannotBeWrittenIsRefusedBeforeAnything() throws {
        let folder = FileManager.default.temporaryDirectory.appending(path: "scalpel-audit-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.createDirectory(at: folder.appending(path: "audit.log"), withIntermediateDirectories: true)
        #expect(throws: AuditError.self) { try AuditLog(url: folder.appending(path: "audit.log")).checkWritable() }
        let linked = folder.appending(path: "linked.log")
        try FileManager.default.createSymbolicLink(at: linked, withDestinationURL: folder.appending(path: "elsewhere.log"))
        #expect(throws: AuditError.self) { try AuditLog(url: linked).checkWritable() }
        #expect(!FileManager.default.fileExists(atPath: folder.appending(path: "elsewhere.log").path))
    }

    /// Logs written before lines were chained by their bytes still verify.
    @Test func aLogOfTheFirstFormatStillVerifies() throws {
        let folder = FileManager.default.temporaryDirectory.appending(path: "scalpel-audit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let log = AuditLog(url: folder.appending(path: "audit.log"))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var previous = AuditLog.genesis, text = ""
        for sequence in 1...2 {
            var record = AuditRecord(sequence: sequence, time: "2026-01-0\(sequence)T00:00:00.000Z", user: "u", host: "h", command: "train",
                                     arguments: ["train"], inputs: [], outputs: [], metrics: ["auroc": 0.9], status: "ok",
                                     previous: previous, hash: "")
            record.hash = try record.computedHash()
            previous = record.hash
            text += String(decoding: try encoder.encode(record), as: UTF8.self) + "\n"
        }
        try text.write(to: log.url, atomically: true, encoding: .utf8)
        try "2 \(previous)\n".write(to: folder.appending(path: "audit.log.head"), atomically: true, encoding: .utf8)
        #expect(try log.verify().isIntact)
        try log.append(command: "eval", arguments: [], inputs: [], outputs: [])
        let result = try log.verify()
        #expect(result.isIntact && result.records == 3, "\(result.problems)")
    }
}
