import Foundation
import ScalpelCore
import Synchronization

/// The warnings Scalpel printed in this process, kept so that a self-test row can quote the
/// build log of a program that failed to build (the backend prints that log once, in the
/// warning announcing the move to the CPU, and keeps only a fallback count afterwards).
///
/// `install()` routes `Diagnostics.shared` through the transcript: every line still goes to
/// standard error, and warnings are also kept. `scalpel selftest` installs it before opening
/// the device, so that warnings from the check run at opening are kept too.
public final class WarningTranscript: Sendable {
    /// The process-wide transcript.
    public static let shared = WarningTranscript()

    private struct State {
        var installed = false
        var warnings: [String] = []
    }
    private let state = Mutex(State())

    init() {}

    /// Starts keeping warnings (once; later calls do nothing). Lines still print on standard error.
    public func install() {
        let first = state.withLock { state -> Bool in
            defer { state.installed = true }
            return !state.installed
        }
        guard first else { return }
        Diagnostics.shared.setSink { [self] line in
            if line.hasPrefix("scalpel: warning: ") { state.withLock { $0.warnings.append(line) } }
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
    }

    /// Whether `install()` ran.
    public var isInstalled: Bool { state.withLock { $0.installed } }

    /// Every warning kept so far, in order, each as printed ("scalpel: warning: …").
    public var warnings: [String] { state.withLock { $0.warnings } }
}
