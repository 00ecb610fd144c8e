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
