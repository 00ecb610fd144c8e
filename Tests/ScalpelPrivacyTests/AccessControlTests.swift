import Crypto
import Foundation
import Testing
@testable import ScalpelPrivacy

/// Personal keys, files encrypted to named recipients with roles, grant and revoke, outputs that
/// inherit their data's recipients, and signed audit records.
@Suite struct AccessControlTests {
    static let plaintext = Data("patient_id,glucose\nA-17,5.4\nB-22,7.9\n".utf8)
    static let cost: (logN: UInt8, r: UInt8, p: UInt8) = (10, 8, 1)
    let alice = try! Identity.generate(name: "alice")
    let bob = try! Identity.generate(name: "bob")
    let carol = try! Identity.generate(name: "carol")
    let mallory = try! Identity.generate(name: "mallory")

    /// Alice steward, Bob reader.
    func file() throws -> Data {
        let policy = try AccessPolicy.issue(members: [AccessMember(alice.publicIdentity, role: .steward), AccessMember(bob.publicIdentity, role: .reader)],
                                            by: alice)
        return try AccessControlledFile.seal(Self.plaintext, fileExtension: "csv", policy: policy, writer: alice)
    }

    func folder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appending(path: "scalpel-access-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    func isDenied(_ body: () throws -> Any) -> Bool {
        do { _ = try body() } catch let error as EncryptionError {
            if case .accessDenied = error { return true }
            Issue.record("expected access denied, got \(error)")
            return false
        } catch {
            Issue.record("expected access denied, got \(error)")
            return false
        }
        return false
    }

    func isInvalidList(_ body: () throws -> Any) -> Bool {
        do { _ = try body() } catch let error as EncryptionError {
            switch error {
            case .accessListInvalid, .authenticationFailed: return true
            default: Issue.record("expected a refused list, got \(error)"); return false
            }
        } catch {
            Issue.record("expected a refused list, got \(error)")
            return false
        }
        return false
    }

    @Test func keyFilesArePrivateTheirPublicHalfSharableAndNeverOverwritten() throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (keyURL, pubURL) = try alice.write(into: dir)
        let mode = { (url: URL) in (try FileManager.default.attributesOfItem(atPath: url.path)[.posixPermissions] as? NSNumber)?.intValue }
        #expect(try mode(keyURL) == 0o600 && mode(pubURL) == 0o644)
        let read = try Identity.read(keyURL)
        #expect(read.fingerprint == alice.fingerprint && read.name == "alice")
        #expect(try PublicIdentity.read(pubURL) == alice.publicIdentity)
        #expect(try PublicIdentity.read(keyURL) == alice.publicIdentity, "the public half of a .key file")
        #expect(alice.fingerprint.count == 39 && alice.fingerprint.split(separator: ":").count == 8)
        #expect(throws: EncryptionError.self) { try alice.write(into: dir) }
        #expect(throws: EncryptionError.self) { try Identity.generate(name: "../evil") }
        // A public file whose key was swapped but whose fingerprint was kept is refused.
        var text = try String(contentsOf: pubURL, encoding: .utf8)
        text = text.replacingOccurrences(of: alice.publicIdentity.agreementKey.base64EncodedString(), with: bob.publicIdentity.agreementKey.base64EncodedString())
        try Data(text.utf8).write(to: pubURL)
        #expect(throws: EncryptionError.self) { try PublicIdentity.read(pubURL) }
    }

    @Test func aProtectedKeyNeedsItsPassphraseAndHoldsNoPrivateKeyInTheClear() throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (keyURL, _) = try bob.write(into: dir, passphrase: "correct horse battery", cost: Self.cost)
        #expect(Identity.isProtected(keyURL))
        let stored = try String(contentsOf: keyURL, encoding: .utf8)
        #expect(!stored.contains(bob.signing.rawRepresentation.base64EncodedString()) && !stored.contains("privateKeys"))
        #expect(try Identity.read(keyURL, passphrase: "correct horse battery").fingerprint == bob.fingerprint)
        #expect(throws: EncryptionError.self) { try Identity.read(keyURL, passphrase: "wrong horse battery") }
        #expect(throws: EncryptionError.self) { try Identity.read(keyURL) }
        // The passphrase comes from SCALPEL_KEY_PASSPHRASE when the key was not unlocked before.
        #expect(try Identity.load(keyURL.path, environment: ["SCALPEL_KEY_PASSPHRASE": "correct horse battery"]).fingerprint == bob.fingerprint)
    }

    @Test func aReaderDecryptsAndANonRecipientCannot() throws {
        let sealed = try file()
        #expect(sealed.range(of: Data("glucose".utf8)) == nil)
        let opened = try AccessControlledFile.open(sealed, identity: bob, source: "d.enc")
        #expect(opened.plaintext == Self.plaintext && opened.fileExtension == "csv" && opened.role == .reader)
        #expect(try AccessControlledFile.open(sealed, identity: alice, source: "d.enc").role == .steward)
        // A slice of a larger buffer (indices not starting at 0) is read in place the same way.
        let slice = (Data([0, 0, 0]) + sealed).dropFirst(3)
        let fromSlice = try EncryptedFile.open(slice, keys: KeyRing(.identity(bob)), source: "d.enc").plaintext
        #expect(slice.startIndex == 3 && fromSlice == Self.plaintext)
        #expect(isDenied { try AccessControlledFile.open(sealed, identity: carol, source: "d.enc") })
        // Through the key ring, as a run opens data.
        #expect(try EncryptedFile.open(sealed, keys: KeyRing(.identity(bob)), source: "d.enc").plaintext == Self.plaintext)
        // A shared key cannot open it, nor a personal key a shared-key file: each says what to give.
        #expect(throws: EncryptionError.self) { try EncryptedFile.open(sealed, keys: KeyRing(.key(SymmetricKey(size: .bits256))), source: "d.enc") }
        let shared = try EncryptedFile.seal(Self.plaintext, keys: KeyRing(.key(SymmetricKey(size: .bits256))), fileExtension: "csv")
        #expect(throws: EncryptionError.self) { try EncryptedFile.open(shared, keys: KeyRing(.identity(bob)), source: "s.enc") }
        do {
            _ = try AccessControlledFile.access(shared, source: "s.enc")
            Issue.record("a shared-key file has no recipients to list")
        } catch {
            #expect("\(error)".contains("no recipients"), "\(error)")
        }
        #expect(EncryptedFile.recordedExtension(path: try write(sealed)) == "csv")
    }

    func write(_ data: Data) throws -> String {
        let url = FileManager.default.temporaryDirectory.appending(path: "scalpel-access-\(UUID().uuidString).enc")
        try data.write(to: url)
        return url.path
    }

    @Test func aReaderCannotGrantOrRevokeAndAStewardGrantsWithoutReEncrypting() throws {
        let sealed = try file()
        #expect(isDenied { try AccessControlledFile.grant(sealed, to: carol.publicIdentity, role: .reader, steward: bob, source: "d.enc") })
        #expect(isDenied { try AccessControlledFile.revoke(sealed, from: "alice", steward: bob, source: "d.enc") })
        #expect(isDenied { try AccessControlledFile.grant(sealed, to: carol.publicIdentity, role: .reader, steward: mallory, source: "d.enc") })
        let granted = try AccessControlledFile.grant(sealed, to: carol.publicIdentity, role: .reader, steward: alice, source: "d.enc")
        #expect(try AccessControlledFile.open(granted, identity: carol, source: "d.enc").plaintext == Self.plaintext)
        #expect(try AccessControlledFile.open(granted, identity: bob, source: "d.enc").plaintext == Self.plaintext)
        // The content (nonce, ciphertext, tag) is the same bytes: only the list and the wrapped keys changed.
        #expect(granted.suffix(Self.plaintext.count + 28) == sealed.suffix(Self.plaintext.count + 28))
        let access = try AccessControlledFile.access(granted, source: "d.enc")
        #expect(access.policy.members.map(\.name).sorted() == ["alice", "bob", "carol"] && access.policy.signer == alice.fingerprint)
        // Granting the same access twice is refused; promoting a reader is a grant.
        #expect(isDenied { try AccessControlledFile.grant(granted, to: carol.publicIdentity, role: .reader, steward: alice, source: "d.enc") })
        let promoted = try AccessControlledFile.grant(granted, to: carol.publicIdentity, role: .steward, steward: alice, source: "d.enc")
        #expect(try AccessControlledFile.open(promoted, identity: carol, source: "d.enc").role == .steward)
    }

    @Test func afterRevokeTheRevokedKeyAndTheOldDataKeyOpenNothing() throws {
        let sealed = try file()
        let before = try AccessControlledFile.open(sealed, identity: bob, source: "d.enc")
        let (revoked, removed) = try AccessControlledFile.revoke(sealed, from: "bob", steward: alice, source: "d.enc")
        #expect(removed.fingerprint == bob.fingerprint)
        #expect(isDenied { try AccessControlledFile.open(revoked, identity: bob, source: "d.enc") })
        #expect(try AccessControlledFile.open(revoked, identity: alice, source: "d.enc").plaintext == Self.plaintext)
        // Bob kept the old data key: it does not open the new content.
        let parsed = try AccessControlledFile.parse(revoked, source: "d.enc")
        #expect(throws: (any Error).self) {
            try AES.GCM.open(try AES.GCM.SealedBox(combined: parsed.content), using: before.dataKey, authenticating: parsed.header)
        }
        // The last steward cannot be removed; a name no one has is an error.
        #expect(isDenied { try AccessControlledFile.revoke(revoked, from: "alice", steward: alice, source: "d.enc") })
        #expect(isDenied { try AccessControlledFile.revoke(revoked, from: "nobody", steward: alice, source: "d.enc") })
    }

    /// Rewrites the access block of `file` through `edit` (a JSON object), keeping everything else.
    func editingBlock(_ file: Data, _ edit: (inout [String: Any]) throws -> Void) throws -> Data {
        let parsed = try AccessControlledFile.parse(file, source: "d.enc")
        var object = try JSONSerialization.jsonObject(with: try AccessPolicy.canonical(parsed.block)) as! [String: Any]
        try edit(&object)
        let block = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        let length = UInt32(block.count)
        return parsed.header + Data([UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)]) + block + parsed.content
    }

    @Test func aRecipientListEditedByHandFailsToOpen() throws {
        let sealed = try file()
        // Bob promotes himself to steward by editing the list.
        let promoted = try editingBlock(sealed) { block in
            var policy = block["policy"] as! [String: Any]
            var members = policy["members"] as! [[String: Any]]
            for i in members.indices where members[i]["name"] as? String == "bob" { members[i]["role"] = "steward" }
            policy["members"] = members
            block["policy"] = policy
        }
        #expect(isInvalidList { try AccessControlledFile.open(promoted, identity: bob, source: "d.enc") })
        #expect(isInvalidList { try AccessControlledFile.access(promoted, source: "d.enc") })
        // Bob, who holds the data key, adds Mallory with a wrap of his own and signs the file: the
        // list no longer carries a steward's signature.
        let opened = try AccessControlledFile.open(sealed, identity: bob, source: "d.enc")
        let parsed = try AccessControlledFile.parse(sealed, source: "d.enc")
        var policy = parsed.block.policy
        policy.members.append(AccessMember(mallory.publicIdentity, role: .reader))
        let block = try AccessControlledFile.block(policy: policy, key: opened.dataKey, header: parsed.header, contentDigest: parsed.contentDigest, writer: bob)
        let smuggled = try AccessControlledFile.assemble(header: parsed.header, block: block, content: parsed.content)
        #expect(isInvalidList { try AccessControlledFile.open(smuggled, identity: mallory, source: "d.enc") })
        // Bob puts other content under the same data key (valid for AES-GCM): Alice's signature no
        // longer covers it.
        let forged = try AES.GCM.seal(Data("patient_id,glucose\nA-17,9.9\n".utf8), using: opened.dataKey, authenticating: parsed.header)
        let swapped = try AccessControlledFile.assemble(header: parsed.header, block: parsed.block,
                                                        content: Data(forged.nonce) + forged.ciphertext + forged.tag)
        #expect(isInvalidList { try AccessControlledFile.open(swapped, identity: bob, source: "d.enc") })
        // A changed byte of the content, of a wrapped key or of the header fails too.
        var bytes = [UInt8](sealed)
        bytes[bytes.count - 20] ^= 1
        #expect(isInvalidList { try AccessControlledFile.open(Data(bytes), identity: bob, source: "d.enc") })
        let rewrapped = try editingBlock(sealed) { block in
            var wraps = block["wraps"] as! [[String: Any]]
            wraps.swapAt(0, 1)
            wraps[0]["fingerprint"] = alice.fingerprint
            wraps[1]["fingerprint"] = bob.fingerprint
            block["wraps"] = wraps
        }
        #expect(isInvalidList { try AccessControlledFile.open(rewrapped, identity: bob, source: "d.enc") })
        var header = [UInt8](sealed)
        header[12] ^= 1  // the recorded extension
        #expect(isInvalidList { try AccessControlledFile.open(Data(header), identity: bob, source: "d.enc") })
        for length in [0, 9, 12, 40, sealed.count - 1] {
            #expect(throws: EncryptionError.self, "cut at \(length)") { try AccessControlledFile.open(sealed.prefix(length), identity: bob, source: "d.enc") }
        }
    }

    @Test func outputsGoToTheRecipientsOfTheDataAndAreSignedByWhoeverRan() throws {
        let sealed = try file()
        let ring = KeyRing(.identity(bob))
        _ = try EncryptedFile.open(sealed, keys: ring, source: "d.enc")
        let output = try EncryptedFile.seal(Data("report".utf8), keys: ring, fileExtension: "html")
        #expect(try AccessControlledFile.open(output, identity: alice, source: "r.enc").plaintext == Data("report".utf8))
        #expect(isDenied { try AccessControlledFile.open(output, identity: carol, source: "r.enc") })
        let access = try AccessControlledFile.access(output, source: "r.enc")
        #expect(access.writer.fingerprint == bob.fingerprint && access.policy.signer == alice.fingerprint)
        // A second file with other recipients cannot feed the same outputs.
        let other = try AccessControlledFile.seal(Self.plaintext, fileExtension: "csv",
                                                  policy: try AccessPolicy.issue(members: [AccessMember(bob.publicIdentity, role: .steward)], by: bob), writer: bob)
        #expect(isDenied { try EncryptedFile.open(other, keys: ring, source: "o.enc") })
        // With no encrypted input, outputs go to the key's owner alone.
        let own = try EncryptedFile.seal(Data("x".utf8), keys: KeyRing(.identity(carol)), fileExtension: "csv")
        #expect(try AccessControlledFile.access(own, source: "o.enc").policy.members.map(\.name) == ["carol"])
    }

    @Test func signedAuditRecordsVerifyAndEditedOrUnknownOnesAreReported() throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = AuditLog(url: dir.appending(path: "audit.log"))
        try log.append(command: "encrypt", arguments: [], inputs: [], outputs: [], signer: alice)
        try log.append(command: "train", arguments: [], inputs: [], outputs: [], signer: bob)
        try log.append(command: "deid", arguments: [], inputs: [], outputs: [])
        let result = try log.verify(trusting: [alice.publicIdentity])
        #expect(result.isIntact && result.unsigned == [3], "\(result.problems)")
        #expect(result.unknownSigners.map(\.line) == [2] && result.unknownSigners.first?.signer.name == "bob")
        #expect(try log.verify(trusting: [alice.publicIdentity, bob.publicIdentity]).unknownSigners.isEmpty)
        // Someone who rewrites a signed record, its hash, the chain after it and the head (what the
        // unsigned log could not catch) leaves a signature that no longer verifies.
        var lines = try String(contentsOf: log.url, encoding: .utf8).split(separator: "\n").map(String.init)
        var record = try JSONDecoder().decode(AuditRecord.self, from: Data(lines[1].utf8))
        record.command = "deid"
        record.hash = try record.computedHash()
        lines[1] = String(decoding: try AuditLog.encode(record), as: UTF8.self)
        var third = try JSONDecoder().decode(AuditRecord.self, from: Data(lines[2].utf8))
        third.previous = AuditLog.lineDigest(Data(lines[1].utf8))
        third.hash = try third.computedHash()
        lines[2] = String(decoding: try AuditLog.encode(third), as: UTF8.self)
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: log.url)
        try Data("3 \(AuditLog.lineDigest(Data(lines[2].utf8)))\n".utf8).write(to: log.url.appendingPathExtension("head"))
        let edited = try log.verify()
        #expect(edited.problems.count == 1 && edited.problems[0].contains("line 2") && edited.problems[0].contains("signature"), "\(edited.problems)")
        // A whole log rewritten and re-signed with a key of the rewriter's own is consistent, but
        // every record is reported as signed by an unknown key.
        let forged = AuditLog(url: dir.appending(path: "forged.log"))
        try forged.append(command: "encrypt", arguments: [], inputs: [], outputs: [], signer: mallory)
        let check = try forged.verify(trusting: [alice.publicIdentity, bob.publicIdentity])
        #expect(check.isIntact && check.unknownSigners.map(\.line) == [1] && check.unknownSigners[0].signer.fingerprint == mallory.fingerprint)
    }
}
