import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Key and passphrase files must be readable by their owner alone. One that other users can
/// read is used with a warning on standard error, or refused in strict mode
/// (`SCALPEL_STRICT=1`, which `--strict` sets).
public enum SecretFilePermissions {
    /// Whether strict mode is on in `environment`.
    public static func isStrict(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        environment["SCALPEL_STRICT"] == "1"
    }

    /// Why `path` is too open (its mode lets group or others read or write it), or nil.
    public static func problem(_ path: String) -> String? {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        let mode = Int(status.st_mode) & 0o777
        guard mode & 0o077 != 0 else { return nil }
        return "is readable or writable by other users (mode \(String(mode, radix: 8))); run `chmod 600 \(path)`"
    }

    /// Warns about, or in strict mode refuses, a secret file others can read.
    public static func check(_ path: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws(EncryptionError) {
        guard let problem = problem(path) else { return }
        if isStrict(environment) { throw .badKey(source: path, reason: problem + " (refused: strict mode)") }
        FileHandle.standardError.write(Data("scalpel: warning: \(path) \(problem)\n".utf8))
    }
}
