import Foundation
import Synchronization

/// What a run costs, counted where it is spent: kernel launches by name (with device time from
/// OpenCL profiling events, or wall time per op on the CPU-Swift backend), buffer allocations and
/// releases, transfers between host and device, queue drains and program builds — for the whole
/// run and per steady-state training step (every step after the first).
///
/// Off unless `SCALPEL_PROFILE=1` is set or `--profile` is given; then every counting call site
/// costs one load of a Boolean (`Profiler.isEnabled`). Enable it before a device is opened, so
/// that OpenCL queues are created with `CL_QUEUE_PROFILING_ENABLE`.
public final class Profiler: Sendable {
    /// The process-wide profiler.
    public static let shared = Profiler()

    /// Whether counting is on. Read without a lock at every call site: set it once, before the
    /// work it should count starts.
    nonisolated(unsafe) public private(set) static var isEnabled: Bool = ProcessInfo.processInfo.environment["SCALPEL_PROFILE"].map {
        $0 != "" && $0 != "0"
    } ?? false

    /// Turns counting on (or off). Devices opened afterwards record device time per kernel.
    public static func setEnabled(_ enabled: Bool) { isEnabled = enabled }

    private struct State {
        var total = ProfileCounts()
        var steady = ProfileCounts()
        var completedSteps = 0
        var inStep = false
        var outputFolder: URL?
        var flushers: [@Sendable () -> Void] = []
        var started = monotonicSeconds()
        var steadyWallSeconds = 0.0
        var stepStarted = 0.0
    }
    private let state = Mutex(State())

    /// A profiler with nothing counted; the runtime records into `shared`.
    public init() {}

    // MARK: Recording (call only when `Profiler.isEnabled`)

    /// Whether what is recorded now belongs to a steady-state step.
    private static func steady(_ s: State) -> Bool { s.inStep && s.completedSteps >= 1 }

    private func record(_ body: (inout ProfileCounts) -> Void) {
        state.withLock { s in
            body(&s.total)
            if Self.steady(s) { body(&s.steady) }
        }
    }

    /// One kernel launch (or one CPU-Swift op) of `name` on `backend`. Returns whether it was
    /// launched inside a steady-state step, for `recordDeviceTime` to attribute it later.
    @discardableResult
    public func recordLaunch(_ name: String, backend: String) -> Bool {
        state.withLock { s in
            let key = ProfileCounts.key(name, backend)
            s.total.kernels[key, default: .init(name: name, backend: backend)].launches += 1
            let steady = Self.steady(s)
            if steady { s.steady.kernels[key, default: .init(name: name, backend: backend)].launches += 1 }
            return steady
        }
    }

    /// Time one launch of `name` took: device time from an OpenCL profiling event, or wall time
    /// of a CPU-Swift op. `steady` is what `recordLaunch` returned for it.
    public func recordTime(_ name: String, backend: String, nanoseconds: UInt64, steady: Bool) {
        state.withLock { s in
            let key = ProfileCounts.key(name, backend)
            s.total.kernels[key, default: .init(name: name, backend: backend)].add(nanoseconds)
            if steady { s.steady.kernels[key, default: .init(name: name, backend: backend)].add(nanoseconds) }
        }
    }

    /// A device buffer of `bytes` was created.
    public func recordAllocation(bytes: Int) {
        record { $0.allocations += 1; $0.allocatedBytes += bytes }
    }

    /// A device buffer was released.
    public func recordRelease() { record { $0.releases += 1 } }

    /// A copy between host and device (or within the device).
    public func recordTransfer(_ direction: TransferDirection, bytes: Int, blocking: Bool) {
        record { counts in
            switch direction {
            case .hostToDevice: counts.hostToDevice.add(bytes: bytes, blocking: blocking)
            case .deviceToHost: counts.deviceToHost.add(bytes: bytes, blocking: blocking)
            case .deviceToDevice: counts.deviceToDevice.add(bytes: bytes, blocking: blocking)
            }
        }
    }

    /// `count` random numbers were drawn on the host (by `SeededRandom`): per step they
    /// should be none, every mask and transform drawn where it is used.
    public func recordHostRandom(_ count: Int) { record { $0.hostRandomNumbers += count } }

    /// The host waited for a device queue to empty (`clFinish`).
    public func recordQueueDrain() { record { $0.queueDrains += 1 } }

    /// A program was built from source, or loaded from the program cache, in `seconds`.
    public func recordProgramBuild(fromCache: Bool, seconds: Double) {
        record { counts in
            if fromCache { counts.programCacheLoads += 1 } else { counts.programBuilds += 1 }
            counts.programBuildSeconds += seconds
        }
    }

    /// Registers a closure that collects pending device timings (an OpenCL backend's profiling
    /// events); `report` and `json` call every flusher first.
    public func addFlusher(_ flush: @escaping @Sendable () -> Void) {
        state.withLock { $0.flushers.append(flush) }
    }

    // MARK: Steps

    /// A training step starts.
    public func stepBegan() {
        state.withLock { s in
            s.inStep = true
            s.stepStarted = monotonicSeconds()
        }
    }

    /// The training step that began last has ended (its work is enqueued).
    public func stepEnded() {
        state.withLock { s in
            guard s.inStep else { return }
            if s.completedSteps >= 1 { s.steadyWallSeconds += monotonicSeconds() - s.stepStarted }
            s.inStep = false
            s.completedSteps += 1
        }
    }

    /// Where `profile.json` goes at the end of the command (the run folder), if anywhere.
    public var outputFolder: URL? {
        get { state.withLock { $0.outputFolder } }
        set { state.withLock { $0.outputFolder = newValue } }
    }

    /// Forgets everything counted so far (benchmarks profile a fresh series of steps).
    public func reset() {
        flush()
        state.withLock { s in
            s.total = ProfileCounts()
            s.steady = ProfileCounts()
            s.completedSteps = 0
            s.inStep = false
            s.started = monotonicSeconds()
            s.steadyWallSeconds = 0
        }
    }

    private func flush() {
        for flush in state.withLock({ $0.flushers }) { flush() }
    }

    // MARK: Results

    /// What was counted: the whole run, the steady-state steps and how many there were.
    public func snapshot() -> ProfileSnapshot {
        flush()
        return state.withLock { s in
            ProfileSnapshot(total: s.total, steady: s.steady, steps: s.completedSteps, steadySteps: max(s.completedSteps - 1, 0),
                            wallSeconds: monotonicSeconds() - s.started, steadyWallSeconds: s.steadyWallSeconds)
        }
    }
}

/// Which way a transfer went.
public enum TransferDirection: Sendable {
    /// Host memory to a device buffer, a device buffer to host memory, and one device buffer
    /// to another.
    case hostToDevice, deviceToHost, deviceToDevice
}

/// Copies of one direction: how many, bytes, and how many made the host wait.
public struct TransferCount: Codable, Sendable, Equatable {
    /// Copies made.
    public var count = 0
    /// Bytes copied, all copies together.
    public var bytes = 0
    /// Copies during which the host waited for the copy to finish.
    public var blocking = 0

    /// No copies.
    public init() {}

    mutating func add(bytes: Int, blocking: Bool) {
        count += 1
        self.bytes += bytes
        if blocking { self.blocking += 1 }
    }
}

/// One kernel (or CPU-Swift op): launches, and the time of those launches that were timed.
public struct KernelCount: Codable, Sendable, Equatable {
    /// The kernel's or CPU-Swift op's name, as given to `Profiler.recordLaunch`.
    public var name: String
    /// The backend that ran it: `opencl` or `cpu`.
    public var backend: String
    /// Launches counted, timed or not.
    public var launches = 0
    /// Launches with a time (all on the CPU-Swift backend; on OpenCL those with a profiling event).
    public var timedLaunches = 0
    /// Device time (OpenCL) or wall time (CPU-Swift) of the timed launches together, in nanoseconds.
    public var nanoseconds: UInt64 = 0

    /// `name` on `backend`, with no launches counted yet.
    public init(name: String, backend: String) {
        self.name = name
        self.backend = backend
    }

    mutating func add(_ ns: UInt64) {
        timedLaunches += 1
        nanoseconds += ns
    }
}

/// Counters of one span of a run.
public struct ProfileCounts: Codable, Sendable, Equatable {
    /// By "backend kernel".
    public var kernels: [String: KernelCount] = [:]
    /// Device buffers created.
    public var allocations = 0
    /// Bytes of the device buffers created, all together (not the peak in use).
    public var allocatedBytes = 0
    /// Device buffers released.
    public var releases = 0
    /// Copies from host memory to the device.
    public var hostToDevice = TransferCount()
    /// Copies from the device to host memory.
    public var deviceToHost = TransferCount()
    /// Copies from one device buffer to another.
    public var deviceToDevice = TransferCount()
    /// Times the host waited for a device queue to empty (`clFinish`).
    public var queueDrains = 0
    /// Random numbers drawn on the host (`SeededRandom`).
    public var hostRandomNumbers = 0
    /// Programs compiled from source.
    public var programBuilds = 0
    /// Programs loaded from the program cache instead of compiled.
    public var programCacheLoads = 0
    /// Seconds spent compiling programs and loading them from the cache, together.
    public var programBuildSeconds = 0.0

    /// Every counter at zero.
    public init() {}

    static func key(_ name: String, _ backend: String) -> String { "\(backend) \(name)" }

    /// Launches of every kernel.
    public var launches: Int { kernels.values.reduce(0) { $0 + $1.launches } }
}

/// The profiler's counters at one moment.
public struct ProfileSnapshot: Sendable {
    /// Everything since the profiler started (or was reset).
    public var total: ProfileCounts
    /// The steady-state steps together (every step after the first).
    public var steady: ProfileCounts
    /// Training steps seen.
    public var steps: Int
    /// Steps in `steady`.
    public var steadySteps: Int
    /// Wall-clock seconds from the profiler's start (or last reset) to the snapshot.
    public var wallSeconds: Double
    /// Wall-clock seconds of the steady-state steps together, each from `stepBegan` to
    /// `stepEnded`.
    public var steadyWallSeconds: Double

    /// The steady state divided by its step count (nil without steady-state steps).
    public var perStep: PerStep? {
        steadySteps > 0 ? PerStep(steady, steps: steadySteps) : nil
    }

    /// Per-step averages of the steady-state counters.
    public struct PerStep: Codable, Sendable {
        /// Copies of one direction per step: count, bytes and blocking copies, each a mean.
        public struct Transfers: Codable, Sendable {
            /// Copies per step.
            public var count: Double
            /// Bytes copied per step.
            public var bytes: Double
            /// Copies per step during which the host waited.
            public var blocking: Double
            init(_ t: TransferCount, _ n: Double) {
                count = Double(t.count) / n
                bytes = Double(t.bytes) / n
                blocking = Double(t.blocking) / n
            }
        }
        /// Kernel launches (or CPU-Swift ops) per step.
        public var launches: Double
        /// Device buffers created per step.
        public var allocations: Double
        /// Device buffers released per step.
        public var releases: Double
        /// Copies from host memory to the device per step.
        public var hostToDevice: Transfers
        /// Copies from the device to host memory per step.
        public var deviceToHost: Transfers
        /// Copies from one device buffer to another per step.
        public var deviceToDevice: Transfers
        /// Waits for a device queue to empty (`clFinish`) per step.
        public var queueDrains: Double
        /// Random numbers drawn on the host (`SeededRandom`) per step.
        public var hostRandomNumbers: Double
        /// Programs compiled or loaded from the program cache per step, both together.
        public var programBuilds: Double

        init(_ c: ProfileCounts, steps: Int) {
            let n = Double(steps)
            launches = Double(c.launches) / n
            allocations = Double(c.allocations) / n
            releases = Double(c.releases) / n
            hostToDevice = Transfers(c.hostToDevice, n)
            deviceToHost = Transfers(c.deviceToHost, n)
            deviceToDevice = Transfers(c.deviceToDevice, n)
            queueDrains = Double(c.queueDrains) / n
            hostRandomNumbers = Double(c.hostRandomNumbers) / n
            programBuilds = Double(c.programBuilds + c.programCacheLoads) / n
        }
    }

    /// One kernel per steady-state step.
    public struct KernelPerStep: Codable, Sendable {
        /// The kernel's or CPU-Swift op's name.
        public var name: String
        /// The backend that ran it: `opencl` or `cpu`.
        public var backend: String
        /// Launches per steady-state step.
        public var launchesPerStep: Double
        /// Device time (OpenCL, from profiling events) or wall time (CPU-Swift) per step, in ms;
        /// nil when none of its launches was timed.
        public var msPerStep: Double?
    }

    /// Kernels of the steady-state steps, most time first (then most launches).
    public var kernelsPerStep: [KernelPerStep] {
        guard steadySteps > 0 else { return [] }
        let n = Double(steadySteps)
        return Self.sorted(steady.kernels.values).map { k in
            KernelPerStep(name: k.name, backend: k.backend, launchesPerStep: Double(k.launches) / n,
                          msPerStep: k.timedLaunches > 0 ? Double(k.nanoseconds) / 1e6 / n * Double(k.launches) / Double(k.timedLaunches) : nil)
        }
    }

    static func sorted<S: Sequence>(_ kernels: S) -> [KernelCount] where S.Element == KernelCount {
        kernels.sorted { ($0.nanoseconds, $0.launches, $1.name) > ($1.nanoseconds, $1.launches, $0.name) }
    }

    /// A readable summary: per-step counts (when there were steps), the whole run's, and the
    /// `top` kernels by time.
    public func table(top: Int = 15) -> String {
        var lines: [String] = []
        func transfers(_ t: TransferCount, per n: Double = 1) -> String {
            String(format: "%.1f (%@, %.1f blocking)", Double(t.count) / n, formatBytes(Double(t.bytes) / n), Double(t.blocking) / n)
        }
        func block(_ c: ProfileCounts, per n: Double, title: String) {
            lines.append(title)
            lines.append(String(format: "  kernel launches  %.1f", Double(c.launches) / n))
            lines.append(String(format: "  allocations      %.1f (%@), releases %.1f", Double(c.allocations) / n,
                                formatBytes(Double(c.allocatedBytes) / n), Double(c.releases) / n))
            lines.append("  host → device    \(transfers(c.hostToDevice, per: n))")
            lines.append("  device → host    \(transfers(c.deviceToHost, per: n))")
            if c.deviceToDevice.count > 0 { lines.append("  device → device  \(transfers(c.deviceToDevice, per: n))") }
            lines.append(String(format: "  queue drains     %.1f", Double(c.queueDrains) / n))
            lines.append(String(format: "  host random      %.1f numbers", Double(c.hostRandomNumbers) / n))
            if c.programBuilds + c.programCacheLoads > 0 {
                lines.append(String(format: "  programs         %.1f built, %.1f from the cache (%.0f ms)", Double(c.programBuilds) / n,
                                    Double(c.programCacheLoads) / n, c.programBuildSeconds * 1e3 / n))
            }
        }
        let (counts, n, what) = steadySteps > 0
            ? (steady, Double(steadySteps), "per step (mean of \(steadySteps) steady-state steps, after the first)")
            : (total, 1.0, "whole run (\(String(format: "%.1f", wallSeconds)) s)")
        lines.append("Profile")
        block(counts, per: n, title: steadySteps > 0 ? "Per training step, mean of \(steadySteps) steady-state step\(steadySteps == 1 ? "" : "s") (after the first):" : "Whole run:")
        if steadySteps > 0 { block(total, per: 1, title: "Whole run (\(steps) steps, \(String(format: "%.1f", wallSeconds)) s):") }
        let kernels = Self.sorted(counts.kernels.values)
        func milliseconds(_ k: KernelCount) -> Double {
            k.timedLaunches > 0 ? Double(k.nanoseconds) / 1e6 / n * Double(k.launches) / Double(k.timedLaunches) : 0
        }
        if !kernels.isEmpty {
            // Every backend that ran something, whatever the ranking below shows.
            var backends: [String] = []
            for (backend, group) in Dictionary(grouping: kernels, by: \.backend).sorted(by: { $0.key < $1.key }) {
                let launches: Int = group.reduce(0) { $0 + $1.launches }
                let time: Double = group.reduce(0) { $0 + milliseconds($1) }
                backends.append(String(format: "%@ %.1f launches, %.3f ms", backend, Double(launches) / n, time))
            }
            lines.append("By backend, \(what): " + backends.joined(separator: "; "))
            lines.append("Top \(min(top, kernels.count)) of \(kernels.count) kernels/ops by time, \(what):")
            lines.append("  " + "launches".padding(toLength: 10, withPad: " ", startingAt: 0) + "ms".padding(toLength: 10, withPad: " ", startingAt: 0)
                + "backend".padding(toLength: 10, withPad: " ", startingAt: 0) + "kernel")
            for k in kernels.prefix(top) {
                let ms = k.timedLaunches > 0 ? String(format: "%.3f", milliseconds(k)) : "-"
                lines.append("  " + String(format: "%.1f", Double(k.launches) / n).padding(toLength: 10, withPad: " ", startingAt: 0)
                    + ms.padding(toLength: 10, withPad: " ", startingAt: 0) + k.backend.padding(toLength: 10, withPad: " ", startingAt: 0) + k.name)
            }
        }
        return lines.joined(separator: "\n")
    }

    /// `profile.json`: the per-step averages and kernels, and the whole run's counters.
    public func json() throws -> Data {
        struct Run: Encodable {
            var steps: Int
            var steadySteps: Int
            var wallSeconds: Double
            var msPerStep: Double?
            var perStep: PerStep?
            var kernelsPerStep: [KernelPerStep]
            var run: ProfileCounts
            var runKernels: [KernelCount]
        }
        var run = total
        let kernels = Self.sorted(run.kernels.values)
        run.kernels = [:]
        let body = Run(steps: steps, steadySteps: steadySteps, wallSeconds: wallSeconds,
                       msPerStep: steadySteps > 0 ? steadyWallSeconds * 1e3 / Double(steadySteps) : nil,
                       perStep: perStep, kernelsPerStep: kernelsPerStep, run: run, runKernels: kernels)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(body)
    }
}

/// "1.5 GiB", "512 KiB", "12 B"… for a byte count (fractional counts are per-step means).
public func formatBytes(_ bytes: Double) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var value = bytes
    var unit = 0
    while value >= 1024 && unit < units.count - 1 {
        value /= 1024
        unit += 1
    }
    return unit == 0 ? String(format: "%.0f B", value) : String(format: value >= 10 ? "%.0f %@" : "%.1f %@", value, units[unit])
}

/// "1.5 GiB", "512 KiB", …
public func formatBytes(_ bytes: Int) -> String { formatBytes(Double(bytes)) }

/// Wall time of one CPU-Swift op: `ProfileSpan.begin` at the op's start, `end()` when it returns.
public struct ProfileSpan {
    @usableFromInline let name: String
    @usableFromInline let started: UInt64
    @usableFromInline let steady: Bool

    /// nil (and no cost beyond a Boolean load) when profiling is off.
    @inlinable
    public static func begin(_ name: @autoclosure () -> String, backend: String = "cpu") -> ProfileSpan? {
        guard Profiler.isEnabled else { return nil }
        return ProfileSpan(start: name(), backend: backend)
    }

    @usableFromInline
    init(start name: String, backend: String) {
        self.name = name
        steady = Profiler.shared.recordLaunch(name, backend: backend)
        started = DispatchTime.now().uptimeNanoseconds
    }

    /// Records the op's wall time.
    public func end(backend: String = "cpu") {
        Profiler.shared.recordTime(name, backend: backend, nanoseconds: DispatchTime.now().uptimeNanoseconds &- started, steady: steady)
    }
}
