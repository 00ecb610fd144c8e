import Foundation
import ScalpelCore
import ScalpelIO

/// Compiled OpenCL program binaries on disk, so that a program is compiled once per device,
/// driver, source and build options, not once per run.
///
/// One file per key (`programs/<sha256 of key>.clbin`) holding a header with the full key
/// and the SHA-256 of the binary. An entry whose key differs (stale) or whose binary does not
/// match its digest (corrupt, truncated) is never handed to the driver: it is reported in
/// verbose mode and rebuilt from source.
final class ProgramCache: Sendable {
    let directory: URL?

    init(directory: URL?) {
        self.directory = directory
    }

    private static let magic = "SCALPEL-CLBIN 1"

    func fileURL(for key: String) -> URL? {
        directory?.appending(path: "\(Digest.sha256Hex(key).prefix(32)).clbin")
    }

    /// The verified binary for `key`, or nil.
    func load(key: String) -> Data? {
        guard let url = fileURL(for: key), let data = try? Data(contentsOf: url) else { return nil }
        guard let separator = data.firstRange(of: Data("\n\n".utf8)) else {
            reject(url, "no header")
            return nil
        }
        let header = String(decoding: data[..<separator.lowerBound], as: UTF8.self).split(separator: "\n").map(String.init)
        let payload = data[separator.upperBound...]
        var fields: [String: String] = [:]
        for line in header.dropFirst() {
            if let colon = line.firstIndex(of: ":") {
                fields[String(line[..<colon])] = String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces)
            }
        }
        guard header.first == ProgramCache.magic else { reject(url, "unknown format"); return nil }
        guard fields["key"] == key else { reject(url, "stale (built for another key)"); return nil }
        guard fields["bytes"] == String(payload.count) else { reject(url, "truncated"); return nil }
        guard fields["sha256"] == Digest.sha256Hex(Data(payload)) else { reject(url, "corrupt (digest mismatch)"); return nil }
        return Data(payload)
    }

    /// Stores `binary` for `key` atomically (a failure only costs a rebuild next time).
    func store(key: String, binary: Data) {
        guard let url = fileURL(for: key), !binary.isEmpty else { return }
        var data = Data("\(ProgramCache.magic)\nkey: \(key)\nbytes: \(binary.count)\nsha256: \(Digest.sha256Hex(binary))\n\n".utf8)
        data.append(binary)
        do {
            try AtomicFile.write(data, to: url)
        } catch {
            Diagnostics.shared.warnOnce(key: "progcache-\(url.path)", "cannot write the program cache \(url.path): \(error)")
        }
    }

    /// Forgets an entry the driver refused.
    func remove(key: String) {
        if let url = fileURL(for: key) { try? FileManager.default.removeItem(at: url) }
    }

    private func reject(_ url: URL, _ why: String) {
        Diagnostics.shared.note("program cache entry \(url.lastPathComponent) is \(why); rebuilding it")
    }
}
