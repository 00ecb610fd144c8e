import Crypto
import Foundation
import ScalpelIO

/// A person's public keys, as shared in a `NAME.pub` file: an X25519 key that data keys are
/// wrapped to and an Ed25519 key that checks what the person signed, under a name and a
/// fingerprint people compare out of band.
public struct PublicIdentity: Codable, Equatable, Hashable, Sendable {
    /// The name the key pair was made with (letters, digits, `.`, `_` and `-`; it names the files).
    public var name: String
    /// The X25519 public key (raw, 32 bytes) that data keys are wrapped to with HPKE.
    public var agreementKey: Data
    /// The Ed25519 public key (raw, 32 bytes) that checks access lists and audit records.
    public var signingKey: Data

    /// The identity's fingerprint: the first 16 bytes of SHA-256 over both public keys, as eight
    /// groups of four hexadecimal digits (`3f2a:91bc:…`). Two files with the same fingerprint hold
    /// the same keys; the name is not part of it.
    public var fingerprint: String { Self.fingerprint(agreementKey: agreementKey, signingKey: signingKey) }

    /// Public keys of `name`; the keys are checked to be valid X25519 and Ed25519 keys.
    public init(name: String, agreementKey: Data, signingKey: Data) throws {
        guard (try? Curve25519.KeyAgreement.PublicKey(rawRepresentation: agreementKey)) != nil,
              (try? Curve25519.Signing.PublicKey(rawRepresentation: signingKey)) != nil else {
            throw EncryptionError.badKey(source: name, reason: "not an X25519 and Ed25519 public key pair")
        }
        (self.name, self.agreementKey, self.signingKey) = (name, agreementKey, signingKey)
    }

    /// The identity whose keys these are (base64), when they are valid keys whose fingerprint is
    /// `fingerprint`: how every stored copy of someone's public keys is read back.
    static func checked(name: String, agreementKey: String, signingKey: String, fingerprint: String) -> PublicIdentity? {
        guard let agreement = Data(base64Encoded: agreementKey), let signing = Data(base64Encoded: signingKey),
              let identity = try? PublicIdentity(name: name, agreementKey: agreement, signingKey: signing), identity.fingerprint == fingerprint else {
            return nil
        }
        return identity
    }

    static func fingerprint(agreementKey: Data, signingKey: Data) -> String {
        var hasher = SHA256()
        hasher.update(data: Data("scalpel identity v1".utf8))
        hasher.update(data: agreementKey)
        hasher.update(data: signingKey)
        let hex = AuditLog.hex(hasher.finalize().prefix(16))
        return stride(from: 0, to: hex.count, by: 4).map { offset in
            let start = hex.index(hex.startIndex, offsetBy: offset)
            return String(hex[start ..< hex.index(start, offsetBy: 4)])
        }.joined(separator: ":")
    }

    /// Whether `signature` is this identity's Ed25519 signature of `message`.
    public func isValidSignature(_ signature: Data, of message: Data) -> Bool {
        guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: signingKey) else { return false }
        return key.isValidSignature(signature, for: message)
    }

    /// The file format of a `.pub` file (JSON, sorted keys).
    struct File: Codable {
        var format = PublicIdentity.format
        var version = 1
        var name: String
        var fingerprint: String
        var agreementKey: String
        var signingKey: String
    }

    static let format = "scalpel-public-key"

    /// The `.pub` file's content: JSON naming the format, the name, the fingerprint and both keys
    /// (base64).
    public func fileContent() throws -> Data {
        try Identity.encoder.encode(File(name: name, fingerprint: fingerprint, agreementKey: agreementKey.base64EncodedString(),
                                         signingKey: signingKey.base64EncodedString())) + Data("\n".utf8)
    }

    /// Reads a `.pub` file (or the public half of a `.key` file). A file whose recorded fingerprint
    /// is not that of its keys was edited and is refused.
    public static func read(_ url: URL) throws -> PublicIdentity {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw EncryptionError.io(path: url.path, reason: "cannot read the public key file")
        }
        if let file = try? JSONDecoder().decode(File.self, from: data), file.format == format {
            guard file.version == 1 else {
                throw EncryptionError.badKey(source: url.path, reason: "public key format version \(file.version) is not supported (this Scalpel reads version 1)")
            }
            guard let identity = checked(name: file.name, agreementKey: file.agreementKey, signingKey: file.signingKey, fingerprint: file.fingerprint) else {
                throw EncryptionError.badKey(source: url.path, reason: "its keys are not valid or do not match its fingerprint \(file.fingerprint) (the file was edited)")
            }
            return identity
        }
        if let file = try? JSONDecoder().decode(Identity.File.self, from: data), file.format == Identity.format {
            return try Identity.publicPart(of: file, source: url.path)
        }
        throw EncryptionError.badKey(source: url.path, reason: "not a Scalpel public key (make one with `scalpel keys new --name NAME`)")
    }
}

/// A person's key pair: X25519 to receive data keys and Ed25519 to sign access lists and audit
/// records. Kept in `NAME.key` (mode 0600), optionally sealed under a passphrase stretched with
/// scrypt (the same cost as encrypted files); its public half goes in `NAME.pub`.
public struct Identity: Sendable {
    /// The name the key pair was made with.
    public let name: String
    let agreement: Curve25519.KeyAgreement.PrivateKey
    let signing: Curve25519.Signing.PrivateKey

    /// The public half: what others encrypt to and check signatures with.
    public var publicIdentity: PublicIdentity {
        // The keys come from valid private keys, so the check in `init` cannot fail.
        try! PublicIdentity(name: name, agreementKey: agreement.publicKey.rawRepresentation, signingKey: signing.publicKey.rawRepresentation)
    }

    /// The identity's fingerprint (see `PublicIdentity.fingerprint`).
    public var fingerprint: String { publicIdentity.fingerprint }

    /// A new random key pair for `name` (1–64 letters, digits, `.`, `_` or `-`, not starting with `.`).
    public static func generate(name: String) throws -> Identity {
        try checkName(name)
        return Identity(name: name, agreement: Curve25519.KeyAgreement.PrivateKey(), signing: Curve25519.Signing.PrivateKey())
    }

    /// Refuses names that could not be file names of their own.
    public static func checkName(_ name: String) throws {
        let allowed = name.utf8.allSatisfy { c in
            (UInt8(ascii: "a") ... UInt8(ascii: "z")).contains(c) || (UInt8(ascii: "A") ... UInt8(ascii: "Z")).contains(c)
                || (UInt8(ascii: "0") ... UInt8(ascii: "9")).contains(c) || c == UInt8(ascii: ".") || c == UInt8(ascii: "_") || c == UInt8(ascii: "-")
        }
        guard allowed, (1 ... 64).contains(name.utf8.count), !name.hasPrefix(".") else {
            throw EncryptionError.badKey(source: "--name", reason: "a key name is 1 to 64 letters, digits, '.', '_' or '-', not starting with '.'")
        }
    }

    /// Ed25519 signature of `message`.
    public func sign(_ message: Data) throws -> Data { try signing.signature(for: message) }

    static let format = "scalpel-identity"
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return encoder
    }()

    /// The file format of a `.key` file (JSON, sorted keys). The private keys (64 bytes: X25519
    /// then Ed25519) are stored in base64, or, under a passphrase, sealed with AES-256-GCM under
    /// the scrypt-stretched passphrase, with the name and public keys as associated data.
    struct File: Codable {
        var format = Identity.format
        var version = 1
        var name: String
        var fingerprint: String
        var agreementKey: String
        var signingKey: String
        var privateKeys: String?
        var protected: Protected?

        struct Protected: Codable {
            var salt: String
            var logN: UInt8
            var r: UInt8
            var p: UInt8
            /// Nonce, ciphertext and tag of the 64 private bytes.
            var sealed: String
        }

        /// What the passphrase seal authenticates with the private keys.
        var associatedData: Data { Data("\(format) \(version) \(name) \(fingerprint) \(agreementKey) \(signingKey)".utf8) }
    }

    /// The `.key` file's content; with a passphrase the private keys are sealed under it
    /// (scrypt at `cost`).
    public func fileContent(passphrase: String? = nil, cost: (logN: UInt8, r: UInt8, p: UInt8) = EncryptedFile.defaultCost) throws -> Data {
        let pub = publicIdentity
        var file = File(name: name, fingerprint: pub.fingerprint, agreementKey: pub.agreementKey.base64EncodedString(),
                        signingKey: pub.signingKey.base64EncodedString())
        let secret = agreement.rawRepresentation + signing.rawRepresentation
        if let passphrase {
            guard passphrase.count >= 8 else { throw EncryptionError.badKey(source: "passphrase", reason: "a passphrase needs at least 8 characters") }
            let salt = EncryptedFile.randomBytes(16)
            let key = try EncryptedFile.derive(passphrase, salt: salt, cost: cost)
            let box = try AES.GCM.seal(secret, using: key, authenticating: file.associatedData)
            file.protected = File.Protected(salt: Data(salt).base64EncodedString(), logN: cost.logN, r: cost.r, p: cost.p,
                                            sealed: box.combined!.base64EncodedString())
        } else {
            file.privateKeys = secret.base64EncodedString()
        }
        return try Self.encoder.encode(file) + Data("\n".utf8)
    }

    /// Writes `NAME.key` (mode 0600 from the first byte, never replacing a file) and `NAME.pub`
    /// (readable by all) into `folder`; returns both paths. Neither is written if either exists.
    public func write(into folder: URL, passphrase: String? = nil,
                      cost: (logN: UInt8, r: UInt8, p: UInt8) = EncryptedFile.defaultCost) throws -> (key: URL, pub: URL) {
        let keyURL = folder.appending(path: name + ".key"), pubURL = folder.appending(path: name + ".pub")
        for url in [keyURL, pubURL] where FileManager.default.fileExists(atPath: url.path) {
            throw EncryptionError.io(path: url.path, reason: "exists; a key is never overwritten (choose another --name or --out)")
        }
        let keyData = try fileContent(passphrase: passphrase, cost: cost), pubData = try publicIdentity.fileContent()
        do {
            try AtomicFile.create(keyData, at: keyURL)
        } catch {
            throw EncryptionError.io(path: keyURL.path, reason: error.fileExists ? "exists; a key is never overwritten" : "cannot create the key file (\(error.reason))")
        }
        do {
            try AtomicFile.create(pubData, at: pubURL)
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: pubURL.path)
        } catch {
            // The pair belongs together: a key without its public half is removed again.
            try? FileManager.default.removeItem(at: keyURL)
            throw EncryptionError.io(path: pubURL.path, reason: "cannot create the public key file")
        }
        return (keyURL, pubURL)
    }

    /// Whether the `.key` file at `url` is sealed under a passphrase (false when it cannot be read).
    public static func isProtected(_ url: URL) -> Bool {
        guard let data = FileManager.default.contents(atPath: url.path), let file = try? JSONDecoder().decode(File.self, from: data) else { return false }
        return file.protected != nil
    }

    /// Reads a `.key` file (checking that others cannot read it, as for key files). A protected
    /// file needs `passphrase`; a wrong one is refused without saying more.
    public static func read(_ url: URL, passphrase: String? = nil) throws -> Identity {
        try SecretFilePermissions.check(url.path)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw EncryptionError.io(path: url.path, reason: "cannot read the personal key file")
        }
        guard let file = try? JSONDecoder().decode(File.self, from: data), file.format == format else {
            throw EncryptionError.badKey(source: url.path, reason: "not a Scalpel personal key (make one with `scalpel keys new --name NAME`)")
        }
        let pub = try publicPart(of: file, source: url.path)
        let secret: Data
        if let protected = file.protected {
            guard let passphrase else {
                throw EncryptionError.badKey(source: url.path, reason: "this personal key is protected by a passphrase: give --key-passphrase-file FILE or set SCALPEL_KEY_PASSPHRASE")
            }
            guard let salt = Data(base64Encoded: protected.salt), salt.count == 16, let sealed = Data(base64Encoded: protected.sealed),
                  (10 ... 22).contains(protected.logN), (1 ... 32).contains(protected.r), (1 ... 16).contains(protected.p) else {
                throw EncryptionError.malformed(source: url.path, reason: "the passphrase seal of the personal key is damaged")
            }
            let key = try EncryptedFile.derive(passphrase, salt: [UInt8](salt), cost: (protected.logN, protected.r, protected.p))
            do {
                secret = try AES.GCM.open(AES.GCM.SealedBox(combined: sealed), using: key, authenticating: file.associatedData)
            } catch {
                throw EncryptionError.badKey(source: url.path, reason: "the passphrase is wrong or the personal key file was changed")
            }
        } else {
            guard let raw = file.privateKeys.flatMap({ Data(base64Encoded: $0) }) else {
                throw EncryptionError.malformed(source: url.path, reason: "the personal key file holds no private keys")
            }
            secret = raw
        }
        guard secret.count == 64, let agreement = try? Curve25519.KeyAgreement.PrivateKey(rawRepresentation: secret.prefix(32)),
              let signing = try? Curve25519.Signing.PrivateKey(rawRepresentation: secret.suffix(32)) else {
            throw EncryptionError.malformed(source: url.path, reason: "the personal key file holds no valid private keys")
        }
        let identity = Identity(name: file.name, agreement: agreement, signing: signing)
        guard identity.publicIdentity == pub else {
            throw EncryptionError.badKey(source: url.path, reason: "its private keys do not belong to its public keys (the file was edited)")
        }
        return identity
    }

    /// Personal keys already opened in this process, by standardized path (a passphrase is asked
    /// for once, not by every part of a run that opens a file).
    nonisolated(unsafe) private static var unlocked: [String: Identity] = [:]
    private static let unlockedLock = NSLock()

    private static func cacheKey(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.path }

    /// Opens the personal key at `path` with `passphrase` and keeps it for this process, so that
    /// `load` finds it without the passphrase.
    @discardableResult
    public static func unlock(_ path: String, passphrase: String?) throws -> Identity {
        let identity = try read(URL(fileURLWithPath: path), passphrase: passphrase)
        unlockedLock.withLock { unlocked[cacheKey(path)] = identity }
        return identity
    }

    /// The personal key at `path`: one `unlock` opened, else read (a protected key takes its
    /// passphrase from `SCALPEL_KEY_PASSPHRASE` in `environment`).
    public static func load(_ path: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Identity {
        if let identity = unlockedLock.withLock({ unlocked[cacheKey(path)] }) { return identity }
        let passphrase = environment["SCALPEL_KEY_PASSPHRASE"].flatMap { $0.isEmpty ? nil : $0 }
        return try unlock(path, passphrase: passphrase)
    }

    static func publicPart(of file: File, source: String) throws -> PublicIdentity {
        guard file.version == 1 else {
            throw EncryptionError.badKey(source: source, reason: "personal key format version \(file.version) is not supported (this Scalpel reads version 1)")
        }
        guard let pub = PublicIdentity.checked(name: file.name, agreementKey: file.agreementKey, signingKey: file.signingKey, fingerprint: file.fingerprint) else {
            throw EncryptionError.badKey(source: source, reason: "its public keys are damaged or do not match its fingerprint (the file was edited)")
        }
        return pub
    }
}
