import Crypto
import Foundation

/// What a recipient of an access-controlled file may do.
public enum AccessRole: String, Codable, CaseIterable, Sendable {
    /// May decrypt the file and train, evaluate, predict and explain on it.
    case reader
    /// May also grant access to others and revoke it.
    case steward
}

/// One recipient of an access-controlled file: who (name, fingerprint and public keys) and in
/// which role.
public struct AccessMember: Codable, Equatable, Sendable {
    /// The recipient's name, from their public key file.
    public var name: String
    /// The recipient's fingerprint (checked against the keys whenever a list is read).
    public var fingerprint: String
    /// What the recipient may do.
    public var role: AccessRole
    /// The recipient's X25519 public key, base64.
    public var agreementKey: String
    /// The recipient's Ed25519 public key, base64.
    public var signingKey: String

    /// The member for `identity` in `role`.
    public init(_ identity: PublicIdentity, role: AccessRole) {
        name = identity.name
        fingerprint = identity.fingerprint
        self.role = role
        agreementKey = identity.agreementKey.base64EncodedString()
        signingKey = identity.signingKey.base64EncodedString()
    }

    /// The member's public keys, checked against the fingerprint.
    public func publicIdentity() throws -> PublicIdentity {
        guard let identity = PublicIdentity.checked(name: name, agreementKey: agreementKey, signingKey: signingKey, fingerprint: fingerprint) else {
            throw AccessPolicy.Invalid("the keys of \(name) do not match the fingerprint \(fingerprint)")
        }
        return identity
    }
}

/// Who may open an access-controlled file, in which role, signed by a steward among them.
///
/// The signature covers the whole list (and the data set's identifier and the time it was
/// issued), so no one but a steward can add, remove or promote a recipient: a list changed by
/// anyone else fails to verify and the file does not open. Files derived from the data (a run's
/// checkpoints, reports, predictions) carry the same signed list, so they go to the same people.
public struct AccessPolicy: Codable, Equatable, Sendable {
    /// A random identifier of the data set, kept when access is granted or revoked.
    public var dataset: String
    /// When a steward signed this list (ISO 8601, UTC).
    public var issued: String
    /// The recipients and their roles (at least one steward).
    public var members: [AccessMember]
    /// The fingerprint of the steward who signed the list.
    public var signer: String
    /// The signer's Ed25519 signature of the list without this field, base64.
    public var signature: String

    /// Why a list does not verify (edited by someone who is not a steward, or damaged).
    public struct Invalid: Error, CustomStringConvertible {
        /// What is wrong, naming recipients by name and fingerprint only.
        public var description: String
        init(_ description: String) { self.description = description }
    }

    /// A list of `members`, signed by `steward`, who must be one of its stewards.
    public static func issue(members: [AccessMember], dataset: String? = nil, by steward: Identity, time: Date = Date()) throws -> AccessPolicy {
        let formatter = ISO8601DateFormatter()
        var policy = AccessPolicy(dataset: dataset ?? Self.randomIdentifier(), issued: formatter.string(from: time), members: members,
                                  signer: steward.fingerprint, signature: "")
        guard policy.members.contains(where: { $0.fingerprint == steward.fingerprint && $0.role == .steward }) else {
            throw Invalid("\(steward.name) (\(steward.fingerprint)) signs the access list but is not one of its stewards")
        }
        try policy.checkMembers()
        policy.signature = try steward.sign(try policy.signedBytes()).base64EncodedString()
        return policy
    }

    static func randomIdentifier() -> String { AuditLog.hex(EncryptedFile.randomBytes(16)) }

    /// The bytes the steward signs: the canonical JSON of the list with an empty signature.
    func signedBytes() throws -> Data {
        var copy = self
        copy.signature = ""
        return Data("scalpel access list v1\n".utf8) + (try Self.canonical(copy))
    }

    static func canonical(_ value: some Encodable) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value)
    }

    /// SHA-256 of the signed list (its canonical JSON, signature included).
    var digest: Data { Data(SHA256.hash(data: (try? Self.canonical(self)) ?? Data())) }

    private func checkMembers() throws {
        guard !members.isEmpty else { throw Invalid("the access list is empty") }
        guard Set(members.map(\.fingerprint)).count == members.count else { throw Invalid("a recipient appears twice in the access list") }
        guard members.contains(where: { $0.role == .steward }) else { throw Invalid("the access list has no steward") }
        for member in members { _ = try member.publicIdentity() }
    }

    /// Checks the list: every member's keys match their fingerprint, no one appears twice, there
    /// is a steward, and the signature is a steward's of exactly this list.
    public func verify() throws {
        try checkMembers()
        guard let steward = members.first(where: { $0.fingerprint == signer }) else {
            throw Invalid("the access list is signed by \(signer), who is not on it")
        }
        guard steward.role == .steward else {
            throw Invalid("the access list is signed by \(steward.name) (\(signer)), a reader; only a steward may change it")
        }
        guard let signature = Data(base64Encoded: signature), try steward.publicIdentity().isValidSignature(signature, of: try signedBytes()) else {
            throw Invalid("the access list's signature does not verify: it was changed after \(steward.name) (\(signer)) signed it")
        }
    }

    /// The member with `fingerprint`, or nil.
    public func member(_ fingerprint: String) -> AccessMember? { members.first { $0.fingerprint == fingerprint } }

    /// Whether both lists give the same people the same roles (whoever signed them, and when).
    public func sameRecipients(as other: AccessPolicy) -> Bool {
        Set(members.map { "\($0.fingerprint) \($0.role.rawValue)" }) == Set(other.members.map { "\($0.fingerprint) \($0.role.rawValue)" })
    }

    /// The recipients, one per line: role, name and fingerprint.
    public var summary: [String] {
        members.sorted { ($0.role == .steward ? 0 : 1, $0.name) < ($1.role == .steward ? 0 : 1, $1.name) }
            .map { "\($0.role.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)) \($0.name) \($0.fingerprint)" }
    }
}
