import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A file a run read or wrote, by content: its path and SHA-256.
public struct AuditedFile: Codable, Equatable, Sendable {
    public var path: String
    public var sha256: String
    public var bytes: Int

    /// The digest of the file at `path` (nil when it cannot be read).
    public static func digest(_ path: String) -> AuditedFile? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        var hasher = SHA256()
        var total = 0
        while let chunk = try? handle.read(upToCount: 1 << 20), !chunk.isEmpty {
            hasher.update(data: chunk)
            total += chunk.count
        }
        return AuditedFile(path: path, sha256: hasher.finalize().map { String(format: "%02x", $0) }.joined(), bytes: total)
    }
}

/// One line of the audit trail: who ran what on which files, what it wrote, and what it found;
/// chained to the line before by its hash.
public struct AuditRecord: Codable, Equatable, Sendable {
    public var sequence: Int
    public var time: String
    public var user: String
    public var host: String
    public var command: String
    public var arguments: [String]
    public var inputs: [AuditedFile]
    public var outputs: [AuditedFile]
    public var metrics: [String: Double]
    /// "ok", or why the run failed.
    public var status: String
    /// The hash of the line before (64 zeros for the first line).
    public var previous: String
    /// SHA-256 of this record's canonical JSON without `hash` (sorted keys).
    public var hash: String

    /// The hash this record should carry.
    public func computedHash() throws -> String {
        var copy = self
        copy.hash = ""
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return SHA256.hash(data: try encoder.encode(copy)).map { String(format: "%02x", $0) }.joined()
    }
}

/// The append-only, hash-chained audit trail (JSON Lines). Each line carries the SHA-256 of the
/// line before, so editing, removing or reordering lines breaks the chain; a `.head` file
/// beside the log holds the count and last hash, so cutting lines off the end is found too.
/// Appends take an exclusive lock, so concurrent runs interleave whole lines.
///
/// What it cannot do: someone who can write the log may rewrite the whole chain and the head
/// consistently; keep a copy of the head elsewhere (or the log on append-only storage) to catch
/// that.
public struct AuditLog: Sendable {
    public let url: URL
    public static let genesis = String(repeating: "0", count: 64)

    public init(url: URL) { self.url = url }

    /// The log the environment names: `SCALPEL_AUDIT_LOG`, else `$XDG_DATA_HOME/scalpel/audit.log`,
    /// else `~/.local/share/scalpel/audit.log`.
    public static func standard(environment: [String: String] = ProcessInfo.processInfo.environment) -> AuditLog {
        if let path = environment["SCALPEL_AUDIT_LOG"], !path.isEmpty { return AuditLog(url: URL(fileURLWithPath: path)) }
        let base = environment["XDG_DATA_HOME"].flatMap { $0.isEmpty ? nil : URL(fileURLWithPath: $0) }
            ?? FileManager.default.homeDirectoryForCurrentUser.appending(path: ".local/share")
        return AuditLog(url: base.appending(path: "scalpel/audit.log"))
    }

    var headURL: URL { url.appendingPathExtension("head") }

    /// Appends a record for a run and returns it (with its sequence number and hashes).
    @discardableResult
    public func append(command: String, arguments: [String], inputs: [String], outputs: [String], metrics: [String: Double] = [:],
                       status: String = "ok", time: Date = Date()) throws -> AuditRecord {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let fd = open(url.path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw AuditError.io(path: url.path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        guard flock(fd, LOCK_EX) == 0 else { throw AuditError.io(path: url.path, reason: "cannot lock the audit log") }
        defer { flock(fd, LOCK_UN) }
        let last = try lastRecord()
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var record = AuditRecord(sequence: (last?.sequence ?? 0) + 1, time: formatter.string(from: time), user: Self.userName(),
                                 host: ProcessInfo.processInfo.hostName, command: command, arguments: arguments,
                                 inputs: inputs.compactMap(AuditedFile.digest), outputs: outputs.compactMap(AuditedFile.digest),
                                 metrics: metrics.filter { $0.value.isFinite }, status: status, previous: last?.hash ?? Self.genesis, hash: "")
        record.hash = try record.computedHash()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let line = try encoder.encode(record) + Data("\n".utf8)
        try line.withUnsafeBytes { buffer in
            var written = 0
            while written < buffer.count {
                let n = write(fd, buffer.baseAddress! + written, buffer.count - written)
                guard n > 0 else { throw AuditError.io(path: url.path, reason: "write failed: \(String(cString: strerror(errno)))") }
                written += n
            }
        }
        fsync(fd)
        let head = "\(record.sequence) \(record.hash)\n"
        let temporary = headURL.appendingPathExtension("tmp")
        try Data(head.utf8).write(to: temporary)
        _ = rename(temporary.path, headURL.path)
        return record
    }

    /// The last record of the log (nil for an empty or missing log), read from the end.
    func lastRecord() throws -> AuditRecord? {
        guard let data = FileManager.default.contents(atPath: url.path), !data.isEmpty else { return nil }
        let lines = data.split(separator: UInt8(ascii: "\n"))
        guard let last = lines.last else { return nil }
        guard let record = try? JSONDecoder().decode(AuditRecord.self, from: Data(last)) else {
            throw AuditError.io(path: url.path, reason: "the last line of the audit log is not a record; run `scalpel audit verify` to see what happened")
        }
        return record
    }

    static func userName() -> String {
        if let pw = getpwuid(getuid()), let name = pw.pointee.pw_name { return String(cString: name) }
        return ProcessInfo.processInfo.environment["USER"] ?? "uid \(getuid())"
    }

    /// What `verify` found.
    public struct Verification: Sendable {
        public var records: Int
        /// Each problem, with its line number.
        public var problems: [String]
        public var isIntact: Bool { problems.isEmpty }
    }

    /// Checks every line: that it parses, that its hash is its content's, that it follows the
    /// line before (sequence and previous hash), and that the log ends where its head says.
    public func verify() throws -> Verification {
        guard let data = FileManager.default.contents(atPath: url.path) else { throw AuditError.io(path: url.path, reason: "no such audit log") }
        var problems: [String] = []
        var previous = Self.genesis, expected = 1, count = 0
        let lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        for (index, line) in lines.enumerated() {
            let number = index + 1
            if line.isEmpty {
                if index != lines.count - 1 { problems.append("line \(number): empty (a line was removed or the file was edited)") }
                continue
            }
            count += 1
            guard let record = try? JSONDecoder().decode(AuditRecord.self, from: Data(line)) else {
                problems.append("line \(number): not an audit record (edited or damaged)")
                previous = ""
                continue
            }
            if (try? record.computedHash()) != record.hash { problems.append("line \(number): its content does not match its hash (edited)") }
            if record.sequence != expected {
                problems.append("line \(number): sequence \(record.sequence) where \(expected) was expected (lines removed, added or reordered)")
            }
            if record.previous != previous && !previous.isEmpty {
                problems.append("line \(number): does not follow the line before (a line before it was edited, removed or reordered)")
            }
            previous = record.hash
            expected = record.sequence + 1
        }
        if let head = FileManager.default.contents(atPath: headURL.path) {
            let parts = String(decoding: head, as: UTF8.self).split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            if parts.count == 2, let sequence = Int(parts[0]) {
                if sequence != expected - 1 || parts[1] != previous {
                    problems.append("the log ends at record \(expected - 1) but its head records \(sequence) (lines were removed from the end or the head was changed)")
                }
            } else {
                problems.append("\(headURL.path): unreadable head")
            }
        } else if count > 0 {
            problems.append("\(headURL.path) is missing: the end of the log cannot be checked")
        }
        return Verification(records: count, problems: problems)
    }
}

public enum AuditError: Error, CustomStringConvertible, Sendable {
    case io(path: String, reason: String)

    public var description: String {
        switch self {
        case let .io(path, reason): "audit log \(path): \(reason)"
        }
    }
}
