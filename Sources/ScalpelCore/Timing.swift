import Foundation

/// Monotonic time in seconds.
public func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// Timings of repeated samples: median, minimum and maximum, in seconds per call.
public struct TimingSummary: Sendable, Codable, Hashable {
    /// The median sample (the mean of the middle two for an even count), in seconds per call.
    public var median: Double
    /// The fastest sample, in seconds per call.
    public var min: Double
    /// The slowest sample, in seconds per call.
    public var max: Double
    /// How many samples were summarised.
    public var samples: Int

    /// Summarises `values`, one sample each in seconds per call; traps when there are none.
    public init(samples values: [Double]) {
        let sorted = values.sorted()
        precondition(!sorted.isEmpty, "no timing samples")
        median = sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
        min = sorted.first!
        max = sorted.last!
        samples = sorted.count
    }
}

/// Times `body` (which must finish its work before returning): one warm-up call, then
/// `samples` samples, each repeating the call until it lasts at least `minSampleSeconds`.
/// Returns per-call seconds.
public func measure(samples: Int = 5, minSampleSeconds: Double = 0.05, _ body: () throws -> Void) rethrows -> TimingSummary {
    try body()
    let t0 = monotonicSeconds()
    try body()
    let single = Swift.max(monotonicSeconds() - t0, 1e-7)
    let inner = Swift.max(1, Int((minSampleSeconds / single).rounded(.up)))
    var values: [Double] = []
    for _ in 0 ..< Swift.max(1, samples) {
        let start = monotonicSeconds()
        for _ in 0 ..< inner { try body() }
        values.append((monotonicSeconds() - start) / Double(inner))
    }
    return TimingSummary(samples: values)
}
