import Foundation
import Synchronization

/// Where Scalpel's one-line notices go: warnings once per key, verbose notes when asked for,
/// and a count of operations that fell back to the CPU, for the run summary. Never silent,
/// never repetitive.
public final class Diagnostics: Sendable {
    /// The process-wide instance.
    public static let shared = Diagnostics()

    private struct State {
        var verbose = ProcessInfo.processInfo.environment["SCALPEL_VERBOSE"].map { $0 != "" && $0 != "0" } ?? false
        var warned: Set<String> = []
        var fallbacks: [String: Int] = [:]
        var sink: (@Sendable (String) -> Void)?
    }
    private let state = Mutex(State())

    /// An instance with nothing warned or counted, verbose when `SCALPEL_VERBOSE` is set to
    /// anything but empty or `0`; the runtime reports through `shared`.
    public init() {}

    /// Whether `note` prints (set by `--verbose` or `SCALPEL_VERBOSE=1`).
    public var verbose: Bool {
        get { state.withLock { $0.verbose } }
        set { state.withLock { $0.verbose = newValue } }
    }

    /// Redirects output (tests); nil restores standard error.
    public func setSink(_ sink: (@Sendable (String) -> Void)?) {
        state.withLock { $0.sink = sink }
    }

    /// Prints `message` unconditionally as one `scalpel:` line on standard error.
    public func say(_ message: String) {
        emit("scalpel: \(message)")
    }

    /// Prints `warning: message` the first time `key` is seen in this process.
    public func warnOnce(key: String, _ message: @autoclosure () -> String) {
        let first = state.withLock { $0.warned.insert(key).inserted }
        if first { emit("scalpel: warning: \(message())") }
    }

    /// Prints `message` when verbose.
    public func note(_ message: @autoclosure () -> String) {
        if verbose { emit("scalpel: \(message())") }
    }

    /// Counts one call of `op` that ran on the CPU because its device kernel is unavailable.
    public func countFallback(op: String) {
        state.withLock { $0.fallbacks[op, default: 0] += 1 }
    }

    /// Operations that fell back to the CPU, with their call counts.
    public var fallbackCounts: [String: Int] { state.withLock { $0.fallbacks } }

    private func emit(_ line: String) {
        if let sink = state.withLock({ $0.sink }) {
            sink(line)
        } else {
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
    }
}
