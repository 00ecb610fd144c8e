import Crypto
import Foundation
import ScalpelIO
#if canImport(Glibc)
import Glibc
#endif

/// A file a run read or wrote, by content: its path and SHA-256.
public struct AuditedFile: Codable, Equatable, Sendable {
    /// The path the run named the file by, as given (not made absolute).
    public var path: String
    /// The SHA-256 of the file's content as 64 lowercase hexadecimal digits.
    public var sha256: String
    /// The file's size in bytes, as hashed.
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
/// chained to the line before by the digest of that line's bytes.
public struct AuditRecord: Codable, Equatable, Sendable {
    /// The record's number in the log, from 1: one more than that of the line before (a damaged
    /// line counts as one).
    public var sequence: Int
    /// When the record was made (or the `time` given to `append`): ISO 8601 in UTC, with fractional
    /// seconds.
    public var time: String
    /// The process's user: the login name from the password database, else `$USER`, else "uid"
    /// and the numeric user id.
    public var user: String
    /// The host name of the machine the run was on.
    public var host: String
    /// The name of the command that ran (the CLI records its subcommand, such as "train" or
    /// "deid").
    public var command: String
    /// The command-line arguments after the program name, verbatim: file paths and option values
    /// are stored in the clear, like the rest of the log.
    public var arguments: [String]
    /// The files the run read, each by path, SHA-256 and size; a file that cannot be read when the
    /// record is made is left out.
    public var inputs: [AuditedFile]
    /// The files the run wrote, recorded as `inputs` are (the CLI lists every file of an output
    /// folder).
    public var outputs: [AuditedFile]
    /// The run's headline numbers by name (accuracy, AUROC, …); values that are not finite are left
    /// out.
    public var metrics: [String: Double]
    /// "ok", or "failed" with the exit status for a command that did not complete.
    public var status: String
    /// The chain: SHA-256 of the exact bytes of the line before (format 2), or the `hash` of the
    /// record before (logs of the first format); 64 zeros for the first line.
    public var previous: String
    /// SHA-256 of this record's canonical JSON without `hash` (sorted keys).
    public var hash: String
    /// 2 for records chained by the bytes of the line before; absent in logs of the first format.
    public var format: Int? = nil
    /// The Scalpel that wrote the record: version and commit (absent in older records).
    public var scalpel: String? = nil
    /// The device the command computed on (absent for commands that use none, and in older records).
    public var device: String? = nil
    /// The person who ran the command, when it ran with a personal key (`--key`): absent otherwise.
    public var signer: AuditSigner? = nil
    /// The signer's Ed25519 signature, base64, of the record's canonical JSON without `hash` and
    /// `signature` (absent when unsigned).
    public var signature: String? = nil

    /// The hash this record should carry.
    public func computedHash() throws -> String {
        var copy = self
        copy.hash = ""
        return AuditLog.hex(SHA256.hash(data: try AuditLog.encode(copy)))
    }

    /// The bytes the signer signs: the canonical JSON with `hash` empty and no `signature`.
    func signedBytes() throws -> Data {
        var copy = self
        copy.hash = ""
        copy.signature = nil
        return Data("scalpel audit record v1\n".utf8) + (try AuditLog.encode(copy))
    }

    /// Whether the record carries a signature that verifies under the signer's key, whose
    /// fingerprint matches the one recorded (nil: unsigned).
    public func signatureIsValid() -> Bool? {
        guard let signer, let signature else { return signer == nil && self.signature == nil ? nil : false }
        guard let identity = try? signer.publicIdentity(), let bytes = Data(base64Encoded: signature), let message = try? signedBytes() else { return false }
        return identity.isValidSignature(bytes, of: message)
    }
}

/// Who signed an audit record: the personal key's name, fingerprint and public keys (base64).
public struct AuditSigner: Codable, Equatable, Sendable {
    /// The key's name.
    public var name: String
    /// The key's fingerprint (checked against the keys when the record is verified).
    public var fingerprint: String
    /// The X25519 public key, base64 (part of the fingerprint).
    public var agreementKey: String
    /// The Ed25519 public key, base64, that checks the signature.
    public var signingKey: String

    /// The signer for `identity`.
    public init(_ identity: PublicIdentity) {
        (name, fingerprint) = (identity.name, identity.fingerprint)
        (agreementKey, signingKey) = (identity.agreementKey.base64EncodedString(), identity.signingKey.base64EncodedString())
    }

    /// The public keys, checked against the fingerprint.
    public func publicIdentity() throws -> PublicIdentity {
        guard let identity = PublicIdentity.checked(name: name, agreementKey: agreementKey, signingKey: signingKey, fingerprint: fingerprint) else {
            throw AccessPolicy.Invalid("the keys of \(name) do not match the fingerprint \(fingerprint)")
        }
        return identity
    }
}

/// The append-only, hash-chained audit trail (JSON Lines). Each line carries the SHA-256 of the
/// exact bytes of the line before, so editing (even re-spacing or repeating a key), removing or
/// reordering lines breaks the chain, and a damaged line is reported without stopping later
/// appends; a line must also be exactly the canonical JSON of the record it holds. A `.head`
/// file beside the log holds the count and the digest of the last line, so cutting lines off
/// the end is found too. Appends take an exclusive lock, so concurrent runs interleave whole
/// lines; the log and its head are never written through a symbolic link.
///
/// What it cannot do alone: someone who can write the log may rewrite the whole chain and the
/// head consistently; keep a copy of the head elsewhere (or the log on append-only storage) to
/// catch that. Records signed with personal keys cannot be rewritten without those keys:
/// `verify(trusting:)` reports records unsigned or signed by other keys.
public struct AuditLog: Sendable {
    /// The log file (JSON Lines); its head is kept beside it, at the same path with `.head`
    /// appended.
    public let url: URL
    /// The `previous` of the first record: 64 zeros.
    public static let genesis = String(repeating: "0", count: 64)
    /// The format new records are written in.
    static let currentFormat = 2

    /// The log at `url`; nothing is opened or created until `checkWritable`, `append` or `verify`
    /// runs.
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

    static func encode(_ record: AuditRecord) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(record)
    }

    static func hex(_ digest: some Sequence<UInt8>) -> String { digest.map { String(format: "%02x", $0) }.joined() }

    static func lineDigest(_ line: some DataProtocol) -> String { hex(SHA256.hash(data: Data(line))) }

    /// Opens the log for appending (creating it and its folder, owner-only), refusing a symbolic
    /// link or anything but a regular file.
    private func openForAppend() throws -> Int32 {
        let folder = url.deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw AuditError.io(path: url.path, reason: "cannot create its folder \(folder.path)")
        }
        let fd = open(url.path, O_RDWR | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            let reason = errno == ELOOP ? "is a symbolic link; the audit log must be a file of its own" : String(cString: strerror(errno))
            throw AuditError.io(path: url.path, reason: reason)
        }
        var status = stat()
        guard fstat(fd, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw AuditError.io(path: url.path, reason: "is not a regular file")
        }
        return fd
    }

    /// Checks, before a command acts, that a record of it can be appended: the log opens for
    /// appending and takes the lock, and its head can be replaced. A command that cannot be
    /// audited must not run.
    public func checkWritable() throws {
        let fd = try openForAppend()
        defer { close(fd) }
        guard flock(fd, LOCK_EX) == 0 else { throw AuditError.io(path: url.path, reason: "cannot lock the audit log") }
        flock(fd, LOCK_UN)
        let folder = url.deletingLastPathComponent().path
        guard access(folder, W_OK) == 0 else {
            throw AuditError.io(path: headURL.path, reason: "its folder \(folder) is not writable, so the head cannot be kept")
        }
        var status = stat()
        if lstat(headURL.path, &status) == 0, (status.st_mode & S_IFMT) == S_IFDIR {
            throw AuditError.io(path: headURL.path, reason: "is a folder, so the head cannot be kept")
        }
    }

    /// Appends a record for a run and returns it (with its sequence number and hashes), signed by
    /// `signer` when one is given.
    @discardableResult
    public func append(command: String, arguments: [String], inputs: [String], outputs: [String], metrics: [String: Double] = [:],
                       status: String = "ok", time: Date = Date(), scalpel: String? = nil, device: String? = nil,
                       signer: Identity? = nil) throws -> AuditRecord {
        let fd = try openForAppend()
        defer { close(fd) }
        guard flock(fd, LOCK_EX) == 0 else { throw AuditError.io(path: url.path, reason: "cannot lock the audit log") }
        defer { flock(fd, LOCK_UN) }
        // Read through the locked descriptor: what is chained to is what is there now.
        var contents = Data()
        lseek(fd, 0, SEEK_SET)
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n < 0, errno == EINTR { continue }
            guard n >= 0 else { throw AuditError.io(path: url.path, reason: "cannot read: \(String(cString: strerror(errno)))") }
            if n == 0 { break }
            contents.append(contentsOf: buffer[0..<n])
        }
        let tail = Self.scan(contents)
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var record = AuditRecord(sequence: tail.lastSequence + 1, time: formatter.string(from: time), user: Self.userName(),
                                 host: ProcessInfo.processInfo.hostName, command: command, arguments: arguments,
                                 inputs: inputs.compactMap(AuditedFile.digest), outputs: outputs.compactMap(AuditedFile.digest),
                                 metrics: metrics.filter { $0.value.isFinite }, status: status, previous: tail.lastLineDigest, hash: "",
                                 format: Self.currentFormat, scalpel: scalpel, device: device)
        if let signer {
            record.signer = AuditSigner(signer.publicIdentity)
            record.signature = try signer.sign(try record.signedBytes()).base64EncodedString()
        }
        record.hash = try record.computedHash()
        let encoded = try Self.encode(record)
        // A line cut short by a crash stays a line of its own (reported by verify), not glued to this one.
        var line = contents.last.map { $0 == UInt8(ascii: "\n") ? Data() : Data("\n".utf8) } ?? Data()
        line.append(encoded)
        line.append(UInt8(ascii: "\n"))
        try line.withUnsafeBytes { bytes in
            var written = 0
            while written < bytes.count {
                let n = write(fd, bytes.baseAddress! + written, bytes.count - written)
                if n < 0, errno == EINTR { continue }
                guard n > 0 else { throw AuditError.io(path: url.path, reason: "write failed: \(String(cString: strerror(errno)))") }
                written += n
            }
        }
        guard fsync(fd) == 0 else { throw AuditError.io(path: url.path, reason: "cannot sync: \(String(cString: strerror(errno)))") }
        // AtomicFile: a fresh private file renamed into place, never a write through a link.
        do {
            try AtomicFile.write(Data("\(tail.lines + 1) \(Self.lineDigest(encoded))\n".utf8), to: headURL)
        } catch {
            throw AuditError.io(path: headURL.path, reason: "cannot update the head: \(error.reason)")
        }
        return record
    }

    /// What a pass over the log found.
    struct Scan {
        /// Non-empty lines.
        var lines = 0
        /// Lines that are records.
        var records = 0
        var lastSequence = 0
        /// The digest of the last line's bytes (genesis for an empty log).
        var lastLineDigest = AuditLog.genesis
        /// The `hash` of the last line's record (for heads written before format 2).
        var lastRecordHash: String?
        var problems: [String] = []
        /// Line numbers of records without a signature.
        var unsigned: [Int] = []
        /// Line numbers and signers of records whose signature verifies.
        var signed: [(line: Int, signer: AuditSigner)] = []
    }

    /// Checks every line: that it parses and is the canonical JSON of its record, that its hash
    /// is its content's, that it follows the line before (sequence and chain).
    static func scan(_ data: Data) -> Scan {
        var result = Scan()
        var previousRecordHash: String? = AuditLog.genesis
        let lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        for (index, line) in lines.enumerated() {
            let number = index + 1
            if line.isEmpty {
                if index != lines.count - 1 { result.problems.append("line \(number): empty (a line was removed or the file was edited)") }
                continue
            }
            result.lines += 1
            let digest = lineDigest(line)
            defer { result.lastLineDigest = digest }
            guard let record = try? JSONDecoder().decode(AuditRecord.self, from: Data(line)) else {
                result.problems.append("line \(number): not an audit record (edited or damaged)")
                result.lastSequence += 1
                previousRecordHash = nil
                result.lastRecordHash = nil
                continue
            }
            result.records += 1
            if (try? encode(record)) != Data(line) {
                result.problems.append("line \(number): not written as Scalpel writes its records (a key repeated or the line reformatted: edited)")
            } else if (try? record.computedHash()) != record.hash {
                result.problems.append("line \(number): its content does not match its hash (edited)")
            }
            switch record.signatureIsValid() {
            case nil: result.unsigned.append(number)
            case false?:
                result.problems.append("line \(number): its signature by \(record.signer?.name ?? "?") (\(record.signer?.fingerprint ?? "?")) does not verify (edited)")
            case true?: result.signed.append((number, record.signer!))
            }
            if record.sequence != result.lastSequence + 1 {
                result.problems.append("line \(number): sequence \(record.sequence) where \(result.lastSequence + 1) was expected (lines removed, added or reordered)")
            }
            let follows = record.format == nil
                ? previousRecordHash.map { record.previous == $0 } ?? true
                : record.previous == result.lastLineDigest
            if !follows {
                result.problems.append("line \(number): does not follow the line before (a line before it was edited, removed or reordered)")
            }
            result.lastSequence = record.sequence
            previousRecordHash = record.hash
            result.lastRecordHash = record.hash
        }
        return result
    }

    static func userName() -> String {
        if let pw = getpwuid(getuid()), let name = pw.pointee.pw_name { return String(cString: name) }
        return ProcessInfo.processInfo.environment["USER"] ?? "uid \(getuid())"
    }

    /// What `verify` found.
    public struct Verification: Sendable {
        /// The number of non-empty lines in the log, damaged lines included.
        public var records: Int
        /// Each problem, with its line number.
        public var problems: [String]
        /// Line numbers of records that carry no signature (runs without a personal key).
        public var unsigned: [Int] = []
        /// Line numbers of records whose valid signature is by a key not among the trusted ones
        /// (empty when no trusted keys were given), with the signer they name.
        public var unknownSigners: [(line: Int, signer: AuditSigner)] = []
        /// How many records each signer's valid signature is on, by fingerprint (trusted or not).
        public var signers: [String: (signer: AuditSigner, records: Int)] = [:]
        /// Whether `problems` is empty: every line is an unedited record in sequence and chain, and
        /// the log ends where its head says. A chain rewritten together with its head still passes,
        /// unless its records must carry signatures of trusted keys (see `verify(trusting:)`).
        public var isIntact: Bool { problems.isEmpty }
    }

    /// Checks every line (see `scan`), every signature, and that the log ends where its head says;
    /// with `trusted` keys, lists the records signed by any other key as `unknownSigners`.
    public func verify(trusting trusted: [PublicIdentity]? = nil) throws -> Verification {
        guard let data = FileManager.default.contents(atPath: url.path) else { throw AuditError.io(path: url.path, reason: "no such audit log") }
        let scanned = Self.scan(data)
        var problems = scanned.problems
        if let head = FileManager.default.contents(atPath: headURL.path) {
            let parts = String(decoding: head, as: UTF8.self).split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            if parts.count == 2, let count = Int(parts[0]) {
                // Heads of the first format held the last record's hash and sequence.
                let ends = (count == scanned.lines && parts[1] == scanned.lastLineDigest)
                    || (count == scanned.lastSequence && parts[1] == scanned.lastRecordHash)
                if !ends {
                    problems.append("the log ends at record \(scanned.lines) but its head records \(count) (lines were removed from the end or the head was changed)")
                }
            } else {
                problems.append("\(headURL.path): unreadable head")
            }
        } else if scanned.lines > 0 {
            problems.append("\(headURL.path) is missing: the end of the log cannot be checked")
        }
        var verification = Verification(records: scanned.lines, problems: problems, unsigned: scanned.unsigned)
        for (line, signer) in scanned.signed {
            verification.signers[signer.fingerprint, default: (signer, 0)].records += 1
            if let trusted, !trusted.contains(where: { $0.fingerprint == signer.fingerprint && $0.signingKey.base64EncodedString() == signer.signingKey }) {
                verification.unknownSigners.append((line, signer))
            }
        }
        return verification
    }
}

/// Why the audit log or its head could not be created, opened, locked, read, written or found.
public enum AuditError: Error, CustomStringConvertible, Sendable {
    /// The file (the log or its head) and what went wrong; never the content of a record.
    case io(path: String, reason: String)

    /// "audit log PATH: REASON".
    public var description: String {
        switch self {
        case let .io(path, reason): "audit log \(path): \(reason)"
        }
    }
}
