import Crypto
import Foundation

/// Encrypted files with recipients (version 2 of Scalpel's encrypted format): the content is
/// encrypted once under a random data key, and that key is wrapped for each recipient with HPKE
/// (RFC 9180: X25519, HKDF-SHA256, ChaCha20-Poly1305) to their personal key.
///
/// Layout: `SCALPENC`, version (2), key kind (2), the length of the content's extension (1) and
/// the extension; the length of the access block (4 bytes, big-endian) and the block (JSON: the
/// signed `AccessPolicy`, one wrapped key per recipient, a commitment to the data key, the writer's
/// fingerprint and signature); the 12-byte nonce, the AES-256-GCM ciphertext and its 16-byte tag.
/// The content authenticates the fixed header (magic to extension) as associated data. The writer
/// (any recipient) signs the fixed header, the list, the wrapped keys, the commitment and the
/// SHA-256 of nonce, ciphertext and tag, so the list travels bound to the content, and granting
/// rewrites the block without encrypting the content again.
public enum AccessControlledFile {
    /// The format version of files with recipients.
    public static let version: UInt8 = 2
    /// The key kind byte of files with recipients.
    static let kind: UInt8 = 2
    static let suite = HPKE.Ciphersuite.Curve25519_SHA256_ChachaPoly

    /// A data key wrapped for one recipient.
    struct Wrap: Codable, Equatable {
        var fingerprint: String
        /// HPKE's encapsulated key (the sender's ephemeral X25519 key), base64.
        var encapsulatedKey: String
        /// The data key sealed in HPKE's context, base64.
        var wrappedKey: String
    }

    /// The block between the header and the content.
    struct Block: Codable {
        var policy: AccessPolicy
        var wraps: [Wrap]
        /// HMAC-SHA256 of a fixed label under the data key, base64: ties the wrapped keys to one key.
        var commitment: String
        /// The fingerprint of the recipient who wrote the file.
        var writer: String
        /// The writer's Ed25519 signature of the binding (see the type's description), base64.
        var binding: String
    }

    /// A parsed file: its parts, not yet checked.
    struct Parsed {
        var header: Data
        var fileExtension: String
        var block: Block
        /// Nonce, ciphertext and tag (a slice of the file, not a copy).
        var content: Data
        /// SHA-256 of `content`, taken once: the writer's signature covers it.
        var contentDigest: Data
    }

    /// Who may open a file and who wrote it, read without any key (the list and the file's
    /// signatures are checked).
    public struct Access: Sendable {
        /// The signed recipient list.
        public var policy: AccessPolicy
        /// The recipient who wrote the file (its steward, or for a run's outputs whoever ran it).
        public var writer: AccessMember
    }

    /// What opening a file gives its recipient.
    public struct Opened: Sendable {
        /// The decrypted content.
        public var plaintext: Data
        /// The extension of the format the content is in ("csv", "safetensors", …).
        public var fileExtension: String
        /// The file's signed recipient list.
        public var policy: AccessPolicy
        /// What the opener may do.
        public var role: AccessRole
        let dataKey: SymmetricKey
    }

    static func fixedHeader(fileExtension: String) throws -> Data {
        let ext = Array(fileExtension.lowercased().utf8.prefix(16))
        guard ext.allSatisfy({ (0x21 ... 0x7E).contains($0) }) else {
            throw EncryptionError.malformed(source: "<input>", reason: "the file extension is not plain ASCII")
        }
        return Data(EncryptedFile.magic + [version, kind, UInt8(ext.count)] + ext)
    }

    static func commitment(_ key: SymmetricKey) -> String {
        Data(HMAC<SHA256>.authenticationCode(for: Data("scalpel data key commitment v1".utf8), using: key)).base64EncodedString()
    }

    static func wrapInfo(dataset: String, fingerprint: String) -> Data { Data("scalpel data key v1 \(dataset) \(fingerprint)".utf8) }

    static func bindingBytes(header: Data, block: Block, contentDigest: Data) throws -> Data {
        var message = Data("scalpel envelope v1\n".utf8) + header
        message += block.policy.digest
        message += Data(SHA256.hash(data: try AccessPolicy.canonical(block.wraps)))
        message += Data(block.commitment.utf8) + Data(block.writer.utf8)
        message += contentDigest
        return message
    }

    /// Wraps `key` for each of `members` of the data set `dataset`.
    static func wraps(_ key: SymmetricKey, for members: [AccessMember], dataset: String, header: Data) throws -> [Wrap] {
        try members.map { member in
            let recipient = try Curve25519.KeyAgreement.PublicKey(rawRepresentation: try member.publicIdentity().agreementKey)
            var sender = try HPKE.Sender(recipientKey: recipient, ciphersuite: suite, info: wrapInfo(dataset: dataset, fingerprint: member.fingerprint))
            let wrapped = try key.withUnsafeBytes { try sender.seal(Data($0), authenticating: header) }
            return Wrap(fingerprint: member.fingerprint, encapsulatedKey: sender.encapsulatedKey.base64EncodedString(),
                        wrappedKey: wrapped.base64EncodedString())
        }
    }

    static func assemble(header: Data, block: Block, content: Data) throws -> Data {
        let blockBytes = try AccessPolicy.canonical(block)
        let length = UInt32(blockBytes.count)
        return header + Data([UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)]) + blockBytes + content
    }

    /// A signed block for content whose SHA-256 is `contentDigest`, under `key`, written by
    /// `writer` (a member of `policy`); `wraps` default to wrapping `key` for every member.
    static func block(policy: AccessPolicy, key: SymmetricKey, wraps: [Wrap]? = nil, header: Data, contentDigest: Data, writer: Identity) throws -> Block {
        guard policy.member(writer.fingerprint) != nil else {
            throw AccessPolicy.Invalid("\(writer.name) (\(writer.fingerprint)) is not a recipient of the access list, so cannot write under it")
        }
        var block = Block(policy: policy, wraps: try wraps ?? Self.wraps(key, for: policy.members, dataset: policy.dataset, header: header),
                          commitment: commitment(key), writer: writer.fingerprint, binding: "")
        block.binding = try writer.sign(try bindingBytes(header: header, block: block, contentDigest: contentDigest)).base64EncodedString()
        return block
    }

    /// `plaintext` encrypted under a new data key for the recipients of `policy`, written and
    /// signed by `writer`, who must be one of them.
    public static func seal(_ plaintext: Data, fileExtension: String, policy: AccessPolicy, writer: Identity) throws -> Data {
        try policy.verify()
        let header = try fixedHeader(fileExtension: fileExtension)
        let key = SymmetricKey(size: .bits256)
        let box = try AES.GCM.seal(plaintext, using: key, authenticating: header)
        let content = Data(box.nonce) + box.ciphertext + box.tag
        let block = try block(policy: policy, key: key, header: header, contentDigest: Data(SHA256.hash(data: content)), writer: writer)
        return try assemble(header: header, block: block, content: content)
    }

    /// The file's parts; the content is a slice of `data`, not a copy (a data set may be large).
    static func parse(_ data: Data, source: String) throws -> Parsed {
        let base = data.startIndex, count = data.count
        func byte(_ i: Int) -> UInt8 { data[base + i] }
        guard EncryptedFile.isEncrypted(data) else { throw EncryptionError.notEncrypted(source: source) }
        guard count > 11 else { throw EncryptionError.malformed(source: source, reason: "the file ends inside the header") }
        if byte(8) == EncryptedFile.version {
            throw EncryptionError.badKey(source: source, reason: "this file is encrypted with a shared key or passphrase: it has no recipients (see `scalpel encrypt --help`)")
        }
        guard byte(8) == version else { throw EncryptionError.unsupportedVersion(source: source, version: byte(8)) }
        guard byte(9) == kind else { throw EncryptionError.malformed(source: source, reason: "unknown key kind \(byte(9))") }
        let extLength = Int(byte(10))
        guard extLength <= 16 else { throw EncryptionError.malformed(source: source, reason: "the recorded extension is \(extLength) bytes long") }
        var offset = 11 + extLength
        guard count >= offset + 4 else { throw EncryptionError.malformed(source: source, reason: "the file ends inside the header") }
        let header = Data(data[base ..< base + offset])
        let blockLength = (offset ..< offset + 4).reduce(0) { $0 << 8 | Int(byte($1)) }
        offset += 4
        guard blockLength <= count - offset else { throw EncryptionError.malformed(source: source, reason: "the file ends inside the access list") }
        guard let block = try? JSONDecoder().decode(Block.self, from: data[base + offset ..< base + offset + blockLength]) else {
            throw EncryptionError.accessListInvalid(source: source, reason: "the access list is not readable (edited or damaged)")
        }
        offset += blockLength
        guard count - offset >= 28 else { throw EncryptionError.malformed(source: source, reason: "the file ends before the authentication tag") }
        let content = data[(base + offset)...]
        return Parsed(header: header, fileExtension: String(decoding: header[11 ..< 11 + extLength], as: UTF8.self), block: block,
                      content: content, contentDigest: Data(SHA256.hash(data: content)))
    }

    /// Checks the list's signature, that the writer is a recipient and signed this file, and that
    /// there is one wrapped key per recipient. Needs no key.
    static func verify(_ parsed: Parsed, source: String) throws -> Access {
        let block = parsed.block
        do {
            try block.policy.verify()
        } catch let error as AccessPolicy.Invalid {
            throw EncryptionError.accessListInvalid(source: source, reason: error.description)
        }
        guard let writer = block.policy.member(block.writer) else {
            throw EncryptionError.accessListInvalid(source: source, reason: "the file was written by \(block.writer), who is not on its access list")
        }
        guard let signature = Data(base64Encoded: block.binding),
              try writer.publicIdentity().isValidSignature(signature, of: try bindingBytes(header: parsed.header, block: block, contentDigest: parsed.contentDigest)) else {
            throw EncryptionError.accessListInvalid(source: source,
                reason: "the file does not carry \(writer.name)'s valid signature over its access list, keys and content (changed after it was written)")
        }
        guard block.wraps.map(\.fingerprint).sorted() == block.policy.members.map(\.fingerprint).sorted() else {
            throw EncryptionError.accessListInvalid(source: source, reason: "the wrapped keys do not match the recipients")
        }
        return Access(policy: block.policy, writer: writer)
    }

    /// Who may open the file, checked (signatures) but without decrypting anything.
    public static func access(_ data: Data, source: String) throws -> Access { try verify(try parse(data, source: source), source: source) }

    /// Opens a file as `identity`: the list and the file's signatures are checked, the data key
    /// unwrapped with the identity's private key and the content decrypted.
    public static func open(_ data: Data, identity: Identity, source: String) throws -> Opened {
        try open(try parse(data, source: source), identity: identity, source: source)
    }

    static func open(_ parsed: Parsed, identity: Identity, source: String) throws -> Opened {
        let access = try verify(parsed, source: source)
        let key = try unwrap(parsed, identity: identity, source: source)
        do {
            let box = try AES.GCM.SealedBox(combined: parsed.content)
            return Opened(plaintext: try AES.GCM.open(box, using: key, authenticating: parsed.header), fileExtension: parsed.fileExtension,
                          policy: access.policy, role: access.policy.member(identity.fingerprint)!.role, dataKey: key)
        } catch {
            throw EncryptionError.authenticationFailed(source: source)
        }
    }

    static func unwrap(_ parsed: Parsed, identity: Identity, source: String) throws -> SymmetricKey {
        let policy = parsed.block.policy
        guard policy.member(identity.fingerprint) != nil, let wrap = parsed.block.wraps.first(where: { $0.fingerprint == identity.fingerprint }) else {
            let stewards = policy.members.filter { $0.role == .steward }.map { "\($0.name) (\($0.fingerprint))" }.joined(separator: ", ")
            throw EncryptionError.accessDenied(source: source,
                reason: "\(identity.name) (\(identity.fingerprint)) is not a recipient of this file; ask a steward to grant access: \(stewards)")
        }
        guard let encapsulated = Data(base64Encoded: wrap.encapsulatedKey), let wrapped = Data(base64Encoded: wrap.wrappedKey),
              var recipient = try? HPKE.Recipient(privateKey: identity.agreement, ciphersuite: suite,
                                                  info: wrapInfo(dataset: policy.dataset, fingerprint: identity.fingerprint), encapsulatedKey: encapsulated),
              let raw = try? recipient.open(wrapped, authenticating: parsed.header), raw.count == 32 else {
            throw EncryptionError.authenticationFailed(source: source)
        }
        let key = SymmetricKey(data: raw)
        guard commitment(key) == parsed.block.commitment else { throw EncryptionError.authenticationFailed(source: source) }
        return key
    }

    /// `steward`'s identity checked to be a steward of the file.
    static func requireSteward(_ parsed: Parsed, _ steward: Identity, action: String, source: String) throws {
        guard let member = parsed.block.policy.member(steward.fingerprint) else {
            throw EncryptionError.accessDenied(source: source, reason: "\(steward.name) (\(steward.fingerprint)) is not a recipient of this file, so cannot \(action)")
        }
        guard member.role == .steward else {
            throw EncryptionError.accessDenied(source: source, reason: "\(steward.name) (\(steward.fingerprint)) is a reader of this file; only a steward may \(action)")
        }
    }

    static func reissue(_ members: [AccessMember], dataset: String, by steward: Identity, source: String) throws -> AccessPolicy {
        do {
            return try AccessPolicy.issue(members: members, dataset: dataset, by: steward)
        } catch let error as AccessPolicy.Invalid {
            throw EncryptionError.accessDenied(source: source, reason: error.description)
        }
    }

    /// The file with `recipient` added in `role` (or a recipient's role changed), signed anew by
    /// `steward`. The data key is wrapped for the new recipient; the content is not re-encrypted.
    public static func grant(_ data: Data, to recipient: PublicIdentity, role: AccessRole, steward: Identity, source: String) throws -> Data {
        let parsed = try parse(data, source: source)
        _ = try verify(parsed, source: source)
        try requireSteward(parsed, steward, action: "grant access", source: source)
        let key = try unwrap(parsed, identity: steward, source: source)
        var members = parsed.block.policy.members
        if let index = members.firstIndex(where: { $0.fingerprint == recipient.fingerprint }) {
            guard members[index].role != role else {
                throw EncryptionError.accessDenied(source: source, reason: "\(recipient.name) (\(recipient.fingerprint)) already holds access as \(role.rawValue)")
            }
            if members[index].role == .steward && !members.contains(where: { $0.role == .steward && $0.fingerprint != recipient.fingerprint }) {
                throw EncryptionError.accessDenied(source: source, reason: "\(recipient.name) is the only steward; grant another steward first")
            }
            members[index].role = role
        } else {
            members.append(AccessMember(recipient, role: role))
        }
        let policy = try reissue(members, dataset: parsed.block.policy.dataset, by: steward, source: source)
        var wraps = parsed.block.wraps.filter { policy.member($0.fingerprint) != nil }
        if !wraps.contains(where: { $0.fingerprint == recipient.fingerprint }) {
            wraps += try Self.wraps(key, for: [AccessMember(recipient, role: role)], dataset: policy.dataset, header: parsed.header)
        }
        let block = try block(policy: policy, key: key, wraps: wraps, header: parsed.header, contentDigest: parsed.contentDigest, writer: steward)
        return try assemble(header: parsed.header, block: block, content: parsed.content)
    }

    /// The file without the recipient named `who` (a name or a fingerprint), re-encrypted under a
    /// new data key (the old one may have been kept) for the others and signed by `steward`.
    /// Returns the new file and the recipient removed.
    public static func revoke(_ data: Data, from who: String, steward: Identity, source: String) throws -> (file: Data, removed: AccessMember) {
        let parsed = try parse(data, source: source)
        try requireSteward(parsed, steward, action: "revoke access", source: source)
        let opened = try open(parsed, identity: steward, source: source)
        let matches = opened.policy.members.filter { $0.fingerprint == who || $0.name == who }
        guard matches.count == 1, let removed = matches.first else {
            throw EncryptionError.accessDenied(source: source, reason: matches.isEmpty
                ? "no recipient named \(who) holds access (see `scalpel access list`)"
                : "\(matches.count) recipients are named \(who); give the fingerprint instead")
        }
        let rest = opened.policy.members.filter { $0.fingerprint != removed.fingerprint }
        guard rest.contains(where: { $0.role == .steward }) else {
            throw EncryptionError.accessDenied(source: source, reason: "\(removed.name) is the only steward; grant another steward before revoking")
        }
        guard rest.contains(where: { $0.fingerprint == steward.fingerprint }) else {
            throw EncryptionError.accessDenied(source: source, reason: "a steward cannot sign a list without themselves; another steward must revoke \(removed.name)")
        }
        let policy = try reissue(rest, dataset: opened.policy.dataset, by: steward, source: source)
        return (try seal(opened.plaintext, fileExtension: opened.fileExtension, policy: policy, writer: steward), removed)
    }
}
