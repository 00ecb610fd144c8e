import Foundation
import ScalpelIO
import Synchronization

/// Chooses where work runs by timing the candidates once per key (a training step of a model,
/// batch and sample shape; a GEMM shape class), and remembers the winner on disk.
///
/// A device is not assumed to be faster because it is a device: on a CPU-only machine a PoCL
/// kernel and a Swift kernel compete and either may win, depending on the kernel and the
/// shape. The choices live in one JSON file per machine identity (the devices, their drivers
/// and the kernel sources), so a new driver or a kernel change measures again.
public final class Scheduler: Sendable {
    /// One remembered decision.
    public struct Entry: Codable, Sendable, Hashable {
        /// The winning candidate (a device id such as `cpu` or `cl:0:0`).
        public var choice: String
        /// Median seconds per call of each candidate that ran.
        public var seconds: [String: Double]
        /// The shape that was timed for this class.
        public var measuredShape: String
    }

    /// A contender: its id and one call of the operation on data already resident where it runs.
    public struct Candidate {
        /// The name recorded as the choice when this candidate wins: a device id such as `cpu` or
        /// `cl:0:0`, or a convolution algorithm's name.
        public var id: String
        /// One call of the operation, finished before it returns (it is timed); throwing takes the
        /// candidate out of the race.
        public var run: () throws -> Void
        /// A candidate named `id` that calls `run`.
        public init(id: String, run: @escaping () throws -> Void) {
            self.id = id
            self.run = run
        }
    }

    private struct FileFormat: Codable {
        var version: Int
        var identity: String
        var entries: [String: Entry]
    }

    /// Where the choices are stored (nil: in memory only).
    public let url: URL?
    /// What the choices are valid for.
    public let identity: String
    private let entries: Mutex<[String: Entry]>
    private let measuring = Mutex(())

    /// Loads remembered choices from `url` if it holds choices for `identity`; a corrupt or
    /// foreign file is ignored (and replaced at the next save).
    public init(url: URL?, identity: String) {
        self.url = url
        self.identity = identity
        var loaded: [String: Entry] = [:]
        if let url, let data = try? Data(contentsOf: url) {
            if let file = try? JSONDecoder().decode(FileFormat.self, from: data), file.version == 1 {
                if file.identity == identity { loaded = file.entries }
            } else {
                Diagnostics.shared.note("scheduling cache \(url.path) is unreadable; measuring again")
            }
        }
        entries = Mutex(loaded)
    }

    /// The file name for `identity` inside `directory`.
    public static func fileURL(in directory: URL, identity: String) -> URL {
        directory.appending(path: "schedule-\(Digest.sha256Hex(identity).prefix(16)).json")
    }

    /// Every remembered choice, sorted by key.
    public var allEntries: [(key: String, entry: Entry)] {
        entries.withLock { $0.map { (key: $0.key, entry: $0.value) } }.sorted { $0.key < $1.key }
    }

    /// The remembered choice for `key`, if any.
    public func entry(for key: String) -> Entry? {
        entries.withLock { $0[key] }
    }

    /// The id of the fastest candidate for `key`, measuring (once per key) when nothing is
    /// remembered. A candidate that throws is out of the race; if all throw, the first
    /// candidate's id is returned so that the caller surfaces the error where it runs.
    /// Each candidate runs a warm-up call, one calibration call and `samples` samples of calls
    /// repeated until each lasts `minSampleSeconds`; 0 bounds the cost to `samples` + 2 calls
    /// per candidate (for choices made inside a training step, where every call drains the queue).
    public func choose(key: String, measuredShape: String, candidates: [Candidate], samples: Int = 3,
                       minSampleSeconds: Double = 0.02) -> String {
        precondition(!candidates.isEmpty, "Scheduler.choose needs at least one candidate")
        if candidates.count == 1 { return candidates[0].id }
        if let known = entry(for: key), candidates.contains(where: { $0.id == known.choice }) {
            return known.choice
        }
        return measuring.withLock { _ -> String in
            // Another thread may have measured while this one waited.
            if let known = entry(for: key), candidates.contains(where: { $0.id == known.choice }) {
                return known.choice
            }
            var seconds: [String: Double] = [:]
            for candidate in candidates {
                do {
                    seconds[candidate.id] = try measure(samples: samples, minSampleSeconds: minSampleSeconds, candidate.run).median
                } catch {
                    Diagnostics.shared.warnOnce(key: "sched-\(key)-\(candidate.id)",
                                                "\(candidate.id) failed while being timed for \(key): \(error)")
                }
            }
            guard let best = seconds.min(by: { $0.value < $1.value }) else { return candidates[0].id }
            let entry = Entry(choice: best.key, seconds: seconds, measuredShape: measuredShape)
            entries.withLock { $0[key] = entry }
            let timings = seconds.sorted { $0.value < $1.value }
                .map { "\($0.key) \(String(format: "%.3f", $0.value * 1e3)) ms" }.joined(separator: ", ")
            Diagnostics.shared.note("scheduler: \(key) → \(best.key) (measured \(measuredShape): \(timings))")
            save()
            return best.key
        }
    }

    /// Writes the choices atomically, merged with what another process may have saved.
    private func save() {
        guard let url else { return }
        var merged: [String: Entry] = [:]
        if let data = try? Data(contentsOf: url),
           let file = try? JSONDecoder().decode(FileFormat.self, from: data),
           file.version == 1, file.identity == identity {
            merged = file.entries
        }
        entries.withLock { mine in merged.merge(mine) { _, new in new } }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        do {
            let data = try encoder.encode(FileFormat(version: 1, identity: identity, entries: merged))
            try AtomicFile.write(data, to: url)
        } catch {
            Diagnostics.shared.warnOnce(key: "sched-save-\(url.path)", "cannot save scheduling choices to \(url.path): \(error)")
        }
    }
}
