import Crypto
import Foundation

/// SHA-256 digests as lowercase hex, for cache keys and integrity checks.
public enum Digest {
    /// The SHA-256 digest of `data`, as 64 lowercase hex digits.
    public static func sha256Hex(_ data: Data) -> String {
        SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }

    /// The SHA-256 digest of the UTF-8 bytes of `text`, as 64 lowercase hex digits.
    public static func sha256Hex(_ text: String) -> String {
        sha256Hex(Data(text.utf8))
    }
}
