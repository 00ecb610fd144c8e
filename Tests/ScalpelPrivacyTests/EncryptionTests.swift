import Crypto
import Foundation
import Testing
@testable import ScalpelPrivacy

/// AES-256-GCM files: they round-trip with a key or a passphrase, record the content's format,
/// and any wrong key or changed byte — header, nonce, ciphertext or tag — fails authentication.
@Suite struct EncryptionTests {
    /// A cheap scrypt cost for tests (the format records it; the default is 2¹⁷).
    static let testCost: (logN: UInt8, r: UInt8, p: UInt8) = (10, 8, 1)
    static let plaintext = Data("patient_id,glucose\nA-17,5.4\nB-22,7.9\n".utf8)

    func keyRing() -> KeyRing { KeyRing(.key(SymmetricKey(size: .bits256))) }

    @Test func aKeyRoundTripsAndRecordsTheFormat() throws {
        let keys = keyRing()
        let sealed = try EncryptedFile.seal(Self.plaintext, keys: keys, fileExtension: "CSV")
        #expect(EncryptedFile.isEncrypted(sealed))
        #expect(sealed.range(of: Data("glucose".utf8)) == nil, "the plaintext shows through")
        let (opened, ext) = try EncryptedFile.open(sealed, keys: keys, source: "x.enc")
        #expect(opened == Self.plaintext && ext == "csv")
        // A fresh nonce each time: the same content never encrypts to the same bytes.
        #expect(try EncryptedFile.seal(Self.plaintext, keys: keys, fileExtension: "csv") != sealed)
    }

    @Test func aPassphraseRoundTripsThroughScryptWithTheCostInTheHeader() throws {
        let keys = KeyRing(.passphrase("correct horse battery"), cost: Self.testCost)
        let sealed = try EncryptedFile.seal(Self.plaintext, keys: keys, fileExtension: "npz")
        let other = KeyRing(.passphrase("correct horse battery"), cost: EncryptedFile.defaultCost)
        let (opened, ext) = try EncryptedFile.open(sealed, keys: other, source: "x.enc")
        #expect(opened == Self.plaintext && ext == "npz")
        #expect(throws: EncryptionError.authenticationFailed(source: "x.enc")) {
            try EncryptedFile.open(sealed, keys: KeyRing(.passphrase("correct horse battery!")), source: "x.enc")
        }
        // The key kind must match: a passphrase file needs a passphrase.
        #expect(throws: EncryptionError.self) { try EncryptedFile.open(sealed, keys: keyRing(), source: "x.enc") }
        // scrypt matches the RFC 7914 test vector (N = 1024, r = 8, p = 16, "password" / "NaCl").
        // (The first 32 bytes of its 64-byte output: PBKDF2's blocks do not depend on the length.)
        let vector = try EncryptedFile.derive("password", salt: Array("NaCl".utf8), cost: (10, 8, 16))
        #expect(vector.withUnsafeBytes { Data($0) }.map { String(format: "%02x", $0) }.joined()
            == "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162")
    }

    @Test func everyChangedByteAndAWrongKeyFailAuthentication() throws {
        let keys = keyRing()
        let sealed = [UInt8](try EncryptedFile.seal(Self.plaintext, keys: keys, fileExtension: "csv"))
        // Flip one bit in each region past the magic and version: key kind, extension, nonce, ciphertext, tag.
        for index in [9, 11, 13, 20, 30, sealed.count - 20, sealed.count - 1] {
            var tampered = sealed
            tampered[index] ^= 0x01
            #expect(throws: EncryptionError.self, "byte \(index)") { try EncryptedFile.open(Data(tampered), keys: keys, source: "t.enc") }
        }
        #expect(throws: EncryptionError.authenticationFailed(source: "t.enc")) {
            try EncryptedFile.open(Data(sealed), keys: keyRing(), source: "t.enc")
        }
        for length in [0, 8, 12, 30, sealed.count - 1] {
            #expect(throws: EncryptionError.self, "cut at \(length)") { try EncryptedFile.open(Data(sealed.prefix(length)), keys: keys, source: "t.enc") }
        }
        #expect(throws: EncryptionError.notEncrypted(source: "p.csv")) { try EncryptedFile.open(Self.plaintext, keys: keys, source: "p.csv") }
    }

    @Test func keyFilesAreCreatedPrivateAndReadBackAndBadOnesNamedNotEchoed() throws {
        let folder = FileManager.default.temporaryDirectory.appending(path: "scalpel-keys-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appending(path: "k.hex")
        guard case let .key(created) = try EncryptionSecret.newKeyFile(url) else { Issue.record("not a key"); return }
        let mode = try FileManager.default.attributesOfItem(atPath: url.path)[.posixPermissions] as? NSNumber
        #expect(mode?.intValue == 0o600)
        guard case let .key(read) = try EncryptionSecret.keyFile(url) else { Issue.record("not a key"); return }
        #expect(read == created)
        #expect(throws: EncryptionError.self) { try EncryptionSecret.newKeyFile(url) }  // never overwritten
        let bad = folder.appending(path: "bad.hex")
        try Data("secret-looking-text-that-is-not-a-key".utf8).write(to: bad)
        do {
            _ = try EncryptionSecret.keyFile(bad)
            Issue.record("a bad key file was accepted")
        } catch {
            #expect(!"\(error)".contains("secret-looking"), "\(error)")
        }
        let resolved = try EncryptionSecret.resolve(keyFile: nil, passphraseFile: nil, environment: ["SCALPEL_PASSPHRASE": "long enough phrase"])
        guard case .passphrase = resolved else { Issue.record("the environment passphrase was not used"); return }
        #expect(throws: EncryptionError.self) { try EncryptionSecret.resolve(keyFile: nil, passphraseFile: nil, environment: ["SCALPEL_PASSPHRASE": "short"]) }
        #expect(try EncryptionSecret.resolve(keyFile: nil, passphraseFile: nil, environment: [:]) == nil)
    }

    @Test func theRecordedExtensionIsReadableWithoutTheKey() throws {
        let folder = FileManager.default.temporaryDirectory.appending(path: "scalpel-ext-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        for (keys, ext) in [(keyRing(), "tsv"), (KeyRing(.passphrase("a passphrase here"), cost: Self.testCost), "safetensors")] {
            let url = folder.appending(path: "f.enc")
            try EncryptedFile.seal(Self.plaintext, keys: keys, fileExtension: ext).write(to: url)
            #expect(EncryptedFile.recordedExtension(path: url.path) == ext)
        }
        #expect(EncryptedFile.recordedExtension(path: "/nonexistent") == nil)
    }
}
