import Foundation

/// One status line per epoch on standard error: a bar, the loss, speed and time left. On a
/// terminal the line is redrawn in place while the epoch runs; in a log, one line per epoch.
public struct ProgressBar {
    let total: Int
    let label: String
    let started = Date()
    let interactive = isatty(STDERR_FILENO) != 0
    /// Draws nothing (the ranks of a distributed run other than rank 0).
    let silent: Bool

    /// A bar of `total` steps headed `label`; a `silent` one draws nothing.
    public init(total: Int, label: String, silent: Bool = false) {
        self.total = total
        self.label = label
        self.silent = silent
    }

    /// Draws step `done` of `total`; `final` ends the line.
    public func update(_ done: Int, status: String, final: Bool = false) {
        guard !silent, interactive || final else { return }
        let width = 24
        let filled = total > 0 ? width * done / total : width
        let elapsed = Date().timeIntervalSince(started)
        let remaining = done > 0 ? elapsed / Double(done) * Double(total - done) : 0
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        let line = "\(label) [\(bar)] \(done)/\(total) \(status) | ETA \(ProgressBar.duration(remaining))"
        FileHandle.standardError.write(Data(((interactive ? "\r\u{1B}[K" : "") + line + (final ? "\n" : "")).utf8))
    }

    static func duration(_ seconds: Double) -> String {
        if seconds < 60 { return String(format: "%.0fs", seconds) }
        if seconds < 3600 { return String(format: "%dm%02ds", Int(seconds) / 60, Int(seconds) % 60) }
        return String(format: "%dh%02dm", Int(seconds) / 3600, Int(seconds) / 60 % 60)
    }
}
