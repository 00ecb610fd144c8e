import Foundation

/// Scalpel's on-disk cache: compiled OpenCL programs and measured scheduling choices.
/// `$XDG_CACHE_HOME/scalpel`, else `~/.cache/scalpel`.
public enum CacheDirectory {
    /// The cache root for `environment` (nil when neither variable gives a usable path).
    public static func root(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL? {
        if let xdg = environment["XDG_CACHE_HOME"], xdg.hasPrefix("/") {
            return URL(fileURLWithPath: xdg).appending(path: "scalpel")
        }
        if let home = environment["HOME"], !home.isEmpty {
            return URL(fileURLWithPath: home).appending(path: ".cache/scalpel")
        }
        return nil
    }

    /// `root/name`, created if missing; nil (with a warning) when it cannot be created, in which
    /// case callers work without a cache.
    public static func subdirectory(_ name: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> URL? {
        guard let root = root(environment: environment) else {
            Diagnostics.shared.warnOnce(key: "cache-none", "no cache directory (neither XDG_CACHE_HOME nor HOME is set); nothing is cached")
            return nil
        }
        let url = root.appending(path: name)
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
            return url
        } catch {
            Diagnostics.shared.warnOnce(key: "cache-mkdir-\(url.path)", "cannot create cache directory \(url.path) (\(error.localizedDescription)); nothing is cached")
            return nil
        }
    }
}

/// Writes files so that a reader sees either the old contents or the new, never a half file:
/// the data goes to a temporary file in the same directory, is flushed to disk, and is renamed
/// over the destination.
public enum AtomicFile {
    public static func write(_ data: Data, to url: URL) throws {
        let directory = url.deletingLastPathComponent()
        let temporary = directory.appending(path: ".\(url.lastPathComponent).\(ProcessInfo.processInfo.processIdentifier).\(UInt32.random(in: 0 ... .max)).tmp")
        let fd = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else {
            throw ScalpelError.io(path: url.path, reason: "cannot create temporary file: \(String(cString: strerror(errno)))")
        }
        var ok = false
        defer {
            if !ok { unlink(temporary.path) }
        }
        let written = data.withUnsafeBytes { raw -> Bool in
            var done = 0
            while done < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + done, raw.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    return false
                }
                done += n
            }
            return true
        }
        let synced = written && fsync(fd) == 0
        let reason = String(cString: strerror(errno))
        close(fd)
        guard synced else { throw ScalpelError.io(path: url.path, reason: "write failed: \(reason)") }
        guard rename(temporary.path, url.path) == 0 else {
            throw ScalpelError.io(path: url.path, reason: "rename failed: \(String(cString: strerror(errno)))")
        }
        ok = true
    }
}
