// The secret behind de-identification pseudonyms and date shifts: a 256-bit HMAC key kept by
// the covered entity. Whoever holds it can recompute a pseudonym from a record number (that is
// what lets records link across files), so it must never travel with the de-identified data.

import Crypto
import Foundation
import ScalpelIO

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A 256-bit secret key for keyed pseudonyms (HMAC-SHA256) and per-patient date shifts.
///
/// The same key gives the same pseudonyms and shifts on every run, so tables de-identified on
/// different days still link; another key gives unrelated ones. Under HIPAA §164.514(c) the key
/// is the means of re-identification: keep it with the covered entity, never with the data.
///
/// A key file holds the key as 64 lowercase hexadecimal characters and a line break, and is
/// written with mode 0600. The key never appears in `description`, `dump` or error messages;
/// `fingerprint` (the first 8 hex digits of its SHA-256) tells keys apart without revealing them.
public struct DeidentificationKey: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    /// The key material.
    let symmetricKey: SymmetricKey

    /// The number of key bytes (256 bits).
    static let byteCount = 32

    /// The largest key file read; a key file is 65 bytes, whitespace aside.
    private static let maximumFileBytes = 4096

    private init(bytes: [UInt8]) {
        symmetricKey = SymmetricKey(data: bytes)
    }

    /// A fresh key from the system's cryptographically secure random number generator.
    public static func generate() -> DeidentificationKey {
        DeidentificationKey(bytes: SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) })
    }

    /// A key from 64 hexadecimal characters (either case); whitespace around them is ignored.
    /// - Throws: `DeidentificationError.invalidKey`, which never repeats the text.
    public init(hex: String) throws(DeidentificationError) {
        self = try Self.parse(Array(hex.utf8), source: "key text")
    }

    /// Reads a key file written by `write(to:)`: 64 hexadecimal characters, whitespace around
    /// them allowed.
    /// - Throws: `DeidentificationError.keyUnreadable` when the file cannot be read,
    ///   `.invalidKey` when it does not hold a key; neither message shows the file's content.
    public init(contentsOf url: URL) throws(DeidentificationError) {
        let path = url.isFileURL ? url.path : url.absoluteString
        guard url.isFileURL else { throw .keyUnreadable(path: path, reason: "not a file URL") }
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .keyUnreadable(path: path, reason: deidErrnoText()) }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1024)
        while bytes.count <= Self.maximumFileBytes {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw .keyUnreadable(path: path, reason: deidErrnoText())
            }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        // Wipe the copy of the file once parsed; `bytes` may hold the key.
        defer {
            for index in bytes.indices { bytes[index] = 0 }
            for index in chunk.indices { chunk[index] = 0 }
        }
        if bytes.count > Self.maximumFileBytes {
            throw .invalidKey(
                source: path, reason: "the file is larger than \(Self.maximumFileBytes) bytes; a key file holds "
                    + "64 hexadecimal characters")
        }
        self = try Self.parse(bytes, source: path)
    }

    /// Checks and decodes key text without ever quoting it in an error.
    private static func parse(_ bytes: [UInt8], source: String) throws(DeidentificationError) -> DeidentificationKey {
        func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || (0x09...0x0D).contains(byte) }
        var start = 0
        var end = bytes.count
        while start < end, isSpace(bytes[start]) { start += 1 }
        while end > start, isSpace(bytes[end - 1]) { end -= 1 }
        let text = bytes[start..<end]
        let expected = "a key is 64 hexadecimal characters (256 bits)"
        if text.isEmpty {
            throw .invalidKey(source: source, reason: "it is empty; \(expected)")
        }
        if text.count != 2 * byteCount {
            throw .invalidKey(source: source, reason: "it holds \(text.count) characters; \(expected)")
        }
        var key: [UInt8] = []
        key.reserveCapacity(byteCount)
        var high: UInt8 = 0
        for (offset, byte) in text.enumerated() {
            let nibble: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = byte - UInt8(ascii: "A") + 10
            default:
                throw .invalidKey(
                    source: source,
                    reason: "character \(offset + 1) is not a hexadecimal digit; \(expected)")
            }
            if offset % 2 == 0 { high = nibble } else { key.append(high << 4 | nibble) }
        }
        defer { for index in key.indices { key[index] = 0 } }
        return DeidentificationKey(bytes: key)
    }

    /// The key as 64 lowercase hexadecimal characters. Internal: only a key file holds it.
    var hexText: String {
        symmetricKey.withUnsafeBytes { deidHex(Array($0)) }
    }

    /// The first 8 hexadecimal digits of the SHA-256 of the key: enough to tell keys apart in a
    /// report, useless for recovering the key.
    public var fingerprint: String {
        let digest = symmetricKey.withUnsafeBytes { SHA256.hash(data: $0) }
        return String(deidHex(Array(digest)).prefix(8))
    }

    /// Writes the key file atomically with mode 0600 (`AtomicFile`): a reader never sees half a
    /// key and the key is never readable by other users, not even for a moment.
    ///
    /// - Parameter overwrite: replace an existing file. Off by default: overwriting a key makes
    ///   every pseudonym and date shift made with it impossible to reproduce, and a key already
    ///   there is never replaced, even by a concurrent writer.
    /// - Throws: `DeidentificationError.keyUnwritable` (the file exists and `overwrite` is
    ///   false, no such directory, no permission, disk full).
    public func write(to url: URL, overwrite: Bool = false) throws(DeidentificationError) {
        let path = url.isFileURL ? url.path : url.absoluteString
        guard url.isFileURL else { throw .keyUnwritable(path: path, reason: "not a file URL") }
        var content = Data((hexText + "\n").utf8)
        defer { content.resetBytes(in: 0 ..< content.count) }
        do {
            if overwrite { try AtomicFile.write(content, to: url) } else { try AtomicFile.create(content, at: url) }
        } catch {
            let reason = error.fileExists
                ? "the file already exists; refusing to replace a key (pseudonyms made with it could no longer be reproduced)"
                : error.reason
            throw .keyUnwritable(path: path, reason: reason)
        }
    }

    /// Keys are compared in constant time.
    public static func == (lhs: DeidentificationKey, rhs: DeidentificationKey) -> Bool {
        lhs.symmetricKey.withUnsafeBytes { left in
            rhs.symmetricKey.withUnsafeBytes { right in
                guard left.count == right.count else { return false }
                var difference: UInt8 = 0
                for index in 0..<left.count { difference |= left[index] ^ right[index] }
                return difference == 0
            }
        }
    }

    /// "DeidentificationKey(fingerprint: 1a2b3c4d)": never the key itself.
    public var description: String { "DeidentificationKey(fingerprint: \(fingerprint))" }
    /// The same as `description`: the fingerprint, never the key.
    public var debugDescription: String { description }
    /// A mirror whose only child is the fingerprint, so `dump` and other reflection never show the
    /// key material.
    public var customMirror: Mirror { Mirror(self, children: ["fingerprint": fingerprint]) }
}

/// Lowercase hexadecimal digits of `bytes`.
func deidHex(_ bytes: some Sequence<UInt8>) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    for byte in bytes {
        out.append(digits[Int(byte >> 4)])
        out.append(digits[Int(byte & 0x0F)])
    }
    return String(decoding: out, as: UTF8.self)
}

/// The text of the current (or given) `errno`.
func deidErrnoText(_ code: Int32 = errno) -> String {
    String(cString: strerror(code))
}
