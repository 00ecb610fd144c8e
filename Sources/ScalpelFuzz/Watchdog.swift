// A thread that watches the input being parsed and ends the process when one takes too long,
// leaving a HANG marker next to the input so that scripts/fuzz.sh can keep it.
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Monotonic nanoseconds.
func monotonicNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

final class Watchdog: Sendable {
    /// When the current input started (monotonic ns), 0 between inputs.
    private let started = Atomic<UInt64>(0)
    /// The iteration being parsed, for the marker.
    private let iteration = Atomic<Int>(-1)
    /// Which format is being parsed, as an index into `Format.allCases`.
    private let formatIndex = Atomic<Int>(0)
    private let limitNanoseconds: UInt64
    private let outDirectory: URL

    init(limitSeconds: Double, outDirectory: URL) {
        limitNanoseconds = UInt64(max(0.001, limitSeconds) * 1e9)
        self.outDirectory = outDirectory
    }

    func start() {
        let poll = min(0.05, Double(limitNanoseconds) / 4e9)
        let thread = Thread { [self] in
            while true {
                Thread.sleep(forTimeInterval: poll)
                let begin = started.load(ordering: .acquiring)
                guard begin != 0 else { continue }
                let elapsed = monotonicNanoseconds() &- begin
                // Claim the input only if it is still the one being parsed: then `end()` cannot
                // return and the main thread cannot move on to (and remove) the next input.
                if elapsed > limitNanoseconds,
                   started.compareExchange(expected: begin, desired: Self.firing, ordering: .acquiringAndReleasing).exchanged {
                    fire(seconds: Double(elapsed) / 1e9)
                }
            }
        }
        thread.stackSize = 1 << 20
        thread.start()
    }

    func begin(format: Format, iteration index: Int) {
        formatIndex.store(Format.allCases.firstIndex(of: format)!, ordering: .relaxed)
        iteration.store(index, ordering: .relaxed)
        started.store(monotonicNanoseconds(), ordering: .releasing)
    }

    func end() {
        if started.exchange(0, ordering: .acquiringAndReleasing) == Self.firing {
            // The watchdog has claimed this input and is about to abort; wait for it.
            while true { Thread.sleep(forTimeInterval: 1) }
        }
    }

    /// The value of `started` while the watchdog is ending the process.
    private static let firing = UInt64.max

    private func fire(seconds: Double) {
        let format = Format.allCases[formatIndex.load(ordering: .relaxed)]
        let index = iteration.load(ordering: .relaxed)
        let text = "HANG \(format.rawValue) iteration \(index): one input ran \(String(format: "%.3f", seconds)) s, "
            + "over the \(Double(limitNanoseconds) / 1e9) s limit; the input is current-\(format.rawValue).bin\n"
        _ = FileManager.default.createFile(atPath: outDirectory.appendingPathComponent("HANG").path, contents: Data(text.utf8))
        FileHandle.standardError.write(Data(("scalpel-fuzz: " + text).utf8))
        abort()
    }
}
