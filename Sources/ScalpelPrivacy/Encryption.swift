import Crypto
import CryptoExtras
import Foundation
import ScalpelIO
#if canImport(Glibc)
import Glibc
#endif

/// Why encrypting or decrypting failed. Messages name the file and the problem, never a key,
/// a passphrase or any of the protected content.
public enum EncryptionError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file does not start with the `SCALPENC` header.
    case notEncrypted(source: String)
    /// The header's format version is not one this build reads.
    case unsupportedVersion(source: String, version: UInt8)
    /// The file ends early or its header holds a value Scalpel never writes (or, when sealing, the
    /// recorded extension is not plain ASCII).
    case malformed(source: String, reason: String)
    /// The key is wrong or the file was changed: AES-GCM's tag does not verify.
    case authenticationFailed(source: String)
    /// The secret cannot be used: key text that is not 64 hex characters, a passphrase under 8
    /// characters, a key for a passphrase file or the reverse, or in strict mode a secret file
    /// others can read.
    case badKey(source: String, reason: String)
    /// The file is encrypted and no key or passphrase was given.
    case noKey
    /// The personal key given may not do this: it is not a recipient of the file, or it is a
    /// reader where a steward is needed.
    case accessDenied(source: String, reason: String)
    /// The file's recipient list or its signatures do not verify: changed by someone who is not a
    /// steward, or damaged. Nothing is decrypted.
    case accessListInvalid(source: String, reason: String)
    /// A file (the data, a key or a passphrase file) that cannot be read or created, and why.
    case io(path: String, reason: String)

    /// A message naming the file and the problem; never a key, a passphrase or any of the protected
    /// content.
    public var description: String {
        switch self {
        case let .notEncrypted(source): "\(source): not a Scalpel encrypted file (no SCALPENC header)"
        case let .unsupportedVersion(source, version): "\(source): encrypted-file version \(version) is not supported (this Scalpel reads versions 1 and 2)"
        case let .malformed(source, reason): "\(source): damaged encrypted file: \(reason)"
        case let .authenticationFailed(source):
            "\(source): the key is wrong or the file has been tampered with (AES-GCM authentication failed); nothing was written"
        case let .badKey(source, reason): "\(source): \(reason)"
        case .noKey:
            "no key: give --key NAME.key (a personal key), --key-file FILE, or set SCALPEL_KEY (64 hex characters) or SCALPEL_PASSPHRASE, or give --passphrase-file FILE"
        case let .accessDenied(source, reason): "\(source): \(reason); nothing was written"
        case let .accessListInvalid(source, reason): "\(source): refused: \(reason); nothing was decrypted"
        case let .io(path, reason): "\(path): \(reason)"
        }
    }
}

/// Where the key comes from: 32 random bytes (a key file or `SCALPEL_KEY`), or a passphrase
/// stretched with scrypt (memory-hard: 2¹⁷ × 8 × 128 bytes = 128 MiB by default), whose salt and
/// cost travel in the file header.
public enum EncryptionSecret: Sendable {
    /// A 256-bit AES key, used as it is.
    case key(SymmetricKey)
    /// A passphrase, stretched with scrypt under the salt and cost each file's header records
    /// (`resolve` accepts only those of 8 characters or more).
    case passphrase(String)
    /// A personal key: opens files it is a recipient of, and seals outputs to the recipients of
    /// the files it opened (see `AccessControlledFile`).
    case identity(Identity)

    /// A 256-bit key from text: 64 hex characters (surrounding whitespace ignored).
    public static func key(hex text: String, source: String) throws -> EncryptionSecret {
        let hex = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard hex.count == 64, let bytes = Self.bytes(hex: hex) else {
            throw EncryptionError.badKey(source: source, reason: "a key must be 64 hexadecimal characters (256 bits); this is not one "
                + "(create one with `scalpel encrypt --new-key-file FILE`)")
        }
        return .key(SymmetricKey(data: bytes))
    }

    /// A key file: 64 hex characters, or exactly 32 raw bytes.
    public static func keyFile(_ url: URL) throws -> EncryptionSecret {
        try SecretFilePermissions.check(url.path)
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw EncryptionError.io(path: url.path, reason: "cannot read the key file") }
        if data.count == 32 { return .key(SymmetricKey(data: data)) }
        if (try? JSONDecoder().decode(Identity.File.self, from: data))?.format == Identity.format {
            throw EncryptionError.badKey(source: url.path, reason: "this is a personal key; give it with --key, not --key-file")
        }
        return try key(hex: String(decoding: data, as: UTF8.self), source: url.path)
    }

    /// A new random key written to `url` as hex, readable by its owner only (mode 0600); an
    /// existing file is never overwritten (a lost key is lost data).
    public static func newKeyFile(_ url: URL) throws -> EncryptionSecret {
        let key = SymmetricKey(size: .bits256)
        let hex = key.withUnsafeBytes { $0.map { String(format: "%02x", $0) }.joined() } + "\n"
        // Whole or not at all, never replacing a file that is there (even one a concurrent
        // writer just made), private from the first byte.
        do {
            try AtomicFile.create(Data(hex.utf8), at: url)
        } catch {
            throw EncryptionError.io(path: url.path, reason: error.fileExists ? "exists; a key file is never overwritten" : "cannot create the key file (\(error.reason))")
        }
        return .key(key)
    }

    /// The secret the options and environment give: a personal key, then a key file, then
    /// `SCALPEL_KEY`, then a passphrase file, then `SCALPEL_PASSPHRASE` (nil: none given). A
    /// personal key sealed under a passphrase takes it from `SCALPEL_KEY_PASSPHRASE` (or
    /// `Identity.unlock` beforehand).
    public static func resolve(keyFile: String?, passphraseFile: String?, identityFile: String? = nil,
                               environment: [String: String]) throws -> EncryptionSecret? {
        if let identityFile { return .identity(try Identity.load(identityFile, environment: environment)) }
        if let keyFile { return try Self.keyFile(URL(fileURLWithPath: keyFile)) }
        if let hex = environment["SCALPEL_KEY"], !hex.isEmpty { return try key(hex: hex, source: "SCALPEL_KEY") }
        if let passphraseFile {
            return try passphrase(try readPassphraseFile(passphraseFile, environment: environment), source: passphraseFile)
        }
        if let text = environment["SCALPEL_PASSPHRASE"], !text.isEmpty { return try passphrase(text, source: "SCALPEL_PASSPHRASE") }
        return nil
    }

    /// The passphrase in the file at `path` (its trailing newline dropped), after checking that
    /// others cannot read the file (a warning, or refused in strict mode).
    public static func readPassphraseFile(_ path: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String {
        try SecretFilePermissions.check(path, environment: environment)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw EncryptionError.io(path: path, reason: "cannot read the passphrase file")
        }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .newlines)
    }

    static func passphrase(_ text: String, source: String) throws -> EncryptionSecret {
        guard text.count >= 8 else { throw EncryptionError.badKey(source: source, reason: "a passphrase needs at least 8 characters") }
        return .passphrase(text)
    }

    static func bytes(hex: String) -> [UInt8]? {
        var bytes: [UInt8] = []
        var iterator = hex.utf8.makeIterator()
        while let high = iterator.next() {
            guard let low = iterator.next(), let h = nibble(high), let l = nibble(low) else { return nil }
            bytes.append(h << 4 | l)
        }
        return bytes
    }

    static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0") ... UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a") ... UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A") ... UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// Scalpel's encrypted files: AES-256-GCM over the whole content, with an authenticated header.
///
/// Layout (version 1): `SCALPENC` (8 bytes), version (1), key kind (1: 0 a key, 1 a scrypt
/// passphrase), for a passphrase the scrypt salt (16), log₂ N (1), r (1), p (1); the length of
/// the original file's extension (1) and the extension (ASCII, so `train --data x.csv.enc` knows
/// it holds a CSV; never the file name); the 12-byte nonce; the ciphertext; the 16-byte tag.
/// Everything before the nonce is authenticated as associated data, so a changed header fails
/// like a changed ciphertext. Version 2, files encrypted to named recipients, is
/// `AccessControlledFile`'s; `open` reads both.
public enum EncryptedFile {
    /// The 8 bytes every encrypted file starts with: ASCII `SCALPENC`.
    public static let magic = Array("SCALPENC".utf8)
    /// The format version written after `magic`, and the only one `open` accepts.
    public static let version: UInt8 = 1
    /// scrypt's default cost: N = 2¹⁷, r = 8, p = 1 (128 MiB, about half a second).
    public static let defaultCost = (logN: UInt8(17), r: UInt8(8), p: UInt8(1))

    /// Whether `bytes` start like an encrypted file.
    public static func isEncrypted(_ bytes: some Collection<UInt8>) -> Bool { bytes.starts(with: magic) }

    /// `plaintext` sealed with the ring's key; `fileExtension` ("csv", "npz", …) is recorded.
    /// With a personal key the file goes to the recipients of the files the ring opened (a
    /// run's outputs inherit its data's access), or, when it opened none, to the key's owner
    /// alone as steward.
    public static func seal(_ plaintext: Data, keys: KeyRing, fileExtension: String) throws -> Data {
        if case let .identity(identity) = keys.secret {
            return try AccessControlledFile.seal(plaintext, fileExtension: fileExtension, policy: try keys.outputPolicy(), writer: identity)
        }
        let (prefix, key) = try keys.sealingKey()
        var header = magic + [version] + prefix
        let ext = Array(fileExtension.lowercased().utf8.prefix(16))
        guard ext.allSatisfy({ (0x21 ... 0x7E).contains($0) }) else {
            throw EncryptionError.malformed(source: "<input>", reason: "the file extension is not plain ASCII")
        }
        header += [UInt8(ext.count)] + ext
        let box = try AES.GCM.seal(plaintext, using: key, authenticating: Data(header))
        return Data(header) + Data(box.nonce) + box.ciphertext + box.tag
    }

    /// The plaintext of an encrypted file and the extension it recorded. A wrong key or any
    /// changed byte is `EncryptionError.authenticationFailed`.
    public static func open(_ data: Data, keys: KeyRing, source: String) throws -> (plaintext: Data, fileExtension: String) {
        guard isEncrypted(data) else { throw EncryptionError.notEncrypted(source: source) }
        // Files with recipients are read in place, without the copy below.
        if data.count > magic.count, data[data.startIndex + magic.count] == AccessControlledFile.version {
            guard case let .identity(identity) = keys.secret else {
                throw EncryptionError.badKey(source: source, reason: "this file is encrypted to named recipients; open it with --key NAME.key, a personal key among them")
            }
            let opened = try AccessControlledFile.open(data, identity: identity, source: source)
            try keys.inherit(opened.policy, source: source)
            return (opened.plaintext, opened.fileExtension)
        }
        let bytes = [UInt8](data)
        var offset = magic.count
        func take(_ count: Int, _ what: String) throws -> ArraySlice<UInt8> {
            guard count >= 0, offset + count <= bytes.count else {
                throw EncryptionError.malformed(source: source, reason: "the file ends inside the \(what)")
            }
            defer { offset += count }
            return bytes[offset ..< offset + count]
        }
        let version = try take(1, "header").first!
        guard version == Self.version else { throw EncryptionError.unsupportedVersion(source: source, version: version) }
        let kind = try take(1, "header").first!
        let key: SymmetricKey
        if case .identity = keys.secret {
            throw EncryptionError.badKey(source: source, reason: "this file was encrypted with a shared key or passphrase, not to personal keys; "
                + "give --key-file, --passphrase-file, SCALPEL_KEY or SCALPEL_PASSPHRASE")
        }
        switch (kind, keys.secret) {
        case let (0, .key(k)): key = k
        case (0, .passphrase):
            throw EncryptionError.badKey(source: source, reason: "this file was encrypted with a key file, not a passphrase; give --key-file or SCALPEL_KEY")
        case (1, .passphrase):
            let salt = Array(try take(16, "salt"))
            let cost = try take(3, "scrypt cost")
            let (logN, r, p) = (cost[cost.startIndex], cost[cost.startIndex + 1], cost[cost.startIndex + 2])
            guard (10 ... 22).contains(logN), (1 ... 32).contains(r), (1 ... 16).contains(p) else {
                throw EncryptionError.malformed(source: source, reason: "scrypt cost N = 2^\(logN), r = \(r), p = \(p) is outside what Scalpel writes")
            }
            key = try keys.key(salt: salt, cost: (logN, r, p))
        case (1, .key):
            throw EncryptionError.badKey(source: source, reason: "this file was encrypted with a passphrase; give --passphrase-file or SCALPEL_PASSPHRASE")
        default:
            throw EncryptionError.malformed(source: source, reason: "unknown key kind \(kind)")
        }
        let extLength = Int(try take(1, "header").first!)
        guard extLength <= 16 else { throw EncryptionError.malformed(source: source, reason: "the recorded extension is \(extLength) bytes long") }
        let ext = String(decoding: try take(extLength, "header"), as: UTF8.self)
        let header = Data(bytes[0 ..< offset])
        let nonce = try take(12, "nonce")
        guard bytes.count - offset >= 16 else { throw EncryptionError.malformed(source: source, reason: "the file ends before the authentication tag") }
        let ciphertext = try take(bytes.count - offset - 16, "ciphertext")
        let tag = try take(16, "tag")
        do {
            let box = try AES.GCM.SealedBox(nonce: AES.GCM.Nonce(data: nonce), ciphertext: ciphertext, tag: tag)
            return (try AES.GCM.open(box, using: key, authenticating: header), ext)
        } catch {
            throw EncryptionError.authenticationFailed(source: source)
        }
    }

    /// `count` bytes from the system's secure generator (salts, identifiers).
    static func randomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0 ..< count).map { _ in UInt8.random(in: 0 ... 255, using: &generator) }
    }

    static func derive(_ passphrase: String, salt: [UInt8], cost: (logN: UInt8, r: UInt8, p: UInt8)) throws -> SymmetricKey {
        let n = 1 << Int(cost.logN)
        return try KDF.Scrypt.deriveKey(from: Array(passphrase.utf8), salt: salt, outputByteCount: 32, rounds: n, blockSize: Int(cost.r),
                                        parallelism: Int(cost.p), maxMemory: 128 * n * Int(cost.r) * Int(cost.p) + (1 << 20))
    }

    /// Reads `url`, decrypting it in memory when it is encrypted (the plaintext never touches
    /// the disk). Returns the content and the extension of the format it holds. Errors name the
    /// file as `source` (default: the URL's path).
    public static func read(_ url: URL, keys: KeyRing?, source: String? = nil) throws -> (data: Data, fileExtension: String, encrypted: Bool) {
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw EncryptionError.io(path: url.path, reason: "cannot read the file") }
        guard isEncrypted(data.prefix(magic.count)) else { return (data, url.pathExtension.lowercased(), false) }
        guard let keys else { throw EncryptionError.noKey }
        let (plaintext, ext) = try open(data, keys: keys, source: source ?? url.path)
        return (plaintext, ext, true)
    }

    /// The extension an encrypted file recorded for its content (readable without the key:
    /// the header is authenticated, not secret); nil when the file is not one or is damaged.
    public static func recordedExtension(path: String) -> String? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let head = try? handle.read(upToCount: 64), isEncrypted(head), head.count > 10 else { return nil }
        let bytes = [UInt8](head)
        var offset = magic.count + 1
        switch bytes[offset] {
        case 0, 2: offset += 1
        case 1: offset += 1 + 16 + 3
        default: return nil
        }
        guard offset < bytes.count else { return nil }
        let length = Int(bytes[offset])
        guard length <= 16, offset + 1 + length <= bytes.count else { return nil }
        return String(decoding: bytes[(offset + 1) ..< (offset + 1 + length)], as: UTF8.self)
    }

    /// Whether the file at `path` starts like an encrypted file.
    public static func isEncrypted(path: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        return isEncrypted((try? handle.read(upToCount: magic.count)) ?? Data())
    }
}

/// A secret and the keys derived from it: a passphrase is stretched once per salt (scrypt is
/// slow on purpose), and every file one ring seals shares one fresh random salt.
public final class KeyRing: @unchecked Sendable {
    /// The key or passphrase the ring seals and opens files with.
    public let secret: EncryptionSecret
    let cost: (logN: UInt8, r: UInt8, p: UInt8)
    private let lock = NSLock()
    private var derived: [[UInt8]: SymmetricKey] = [:]
    private var sealing: (prefix: [UInt8], key: SymmetricKey)?
    private var inherited: AccessPolicy?

    /// A ring for `secret`; `cost` is the scrypt cost of the files it seals under a passphrase
    /// (opening uses the cost each file's header records). Nothing is derived until a key is
    /// needed; derived keys are cached, and the ring may be shared between threads.
    public init(_ secret: EncryptionSecret, cost: (logN: UInt8, r: UInt8, p: UInt8) = EncryptedFile.defaultCost) {
        self.secret = secret
        self.cost = cost
    }

    /// The key of a passphrase file with this salt and cost.
    func key(salt: [UInt8], cost: (logN: UInt8, r: UInt8, p: UInt8)) throws -> SymmetricKey {
        guard case let .passphrase(text) = secret else { throw EncryptionError.noKey }
        let id = salt + [cost.logN, cost.r, cost.p]
        if let key = lock.withLock({ derived[id] }) { return key }
        let key = try EncryptedFile.derive(text, salt: salt, cost: cost)
        lock.withLock { derived[id] = key }
        return key
    }

    /// Records the recipient list of a file the ring opened: what it seals next goes to the same
    /// people. Files with different recipients cannot feed one run's outputs.
    func inherit(_ policy: AccessPolicy, source: String) throws {
        try lock.withLock {
            if let inherited, !inherited.sameRecipients(as: policy) {
                throw EncryptionError.accessDenied(source: source,
                    reason: "its recipients differ from those of the files read before, so the outputs could not go to the same people; "
                        + "give inputs with the same recipients (`scalpel access list`)")
            }
            if inherited == nil { inherited = policy }
        }
    }

    /// The recipient list of the files this ring opened (nil: none with recipients).
    public var inheritedPolicy: AccessPolicy? { lock.withLock { inherited } }

    /// The list outputs are sealed to: the inherited one, else the personal key's owner alone
    /// as steward (made once per ring).
    func outputPolicy() throws -> AccessPolicy {
        guard case let .identity(identity) = secret else { throw EncryptionError.noKey }
        return try lock.withLock {
            if let inherited { return inherited }
            let own = try AccessPolicy.issue(members: [AccessMember(identity.publicIdentity, role: .steward)], by: identity)
            inherited = own
            return own
        }
    }

    /// The header bytes after the version (key kind, and for a passphrase salt and cost) and the key to seal with.
    func sealingKey() throws -> (prefix: [UInt8], key: SymmetricKey) {
        if let sealing = lock.withLock({ sealing }) { return sealing }
        let result: (prefix: [UInt8], key: SymmetricKey)
        switch secret {
        case .identity: throw EncryptionError.noKey
        case let .key(key): result = ([0], key)
        case .passphrase:
            let salt = EncryptedFile.randomBytes(16)
            result = ([1] + salt + [cost.logN, cost.r, cost.p], try key(salt: salt, cost: cost))
        }
        lock.withLock { sealing = result }
        return result
    }
}

