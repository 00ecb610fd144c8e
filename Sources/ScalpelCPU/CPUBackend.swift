import Foundation
import ScalpelCore

/// Memory of the CPU backend: 64-byte aligned, freed with the buffer. Holds fp32 values, or
/// fp64 on a Double-precision reference backend (the protocol still speaks fp32 at its edges).
public final class CPUBuffer: DeviceBuffer, @unchecked Sendable {
    /// Number of elements (fp32 or fp64, as `precision` says).
    public let count: Int
    /// Always `.cpu`.
    public let owner: DeviceID = .cpu
    /// Whether the elements are fp32 or fp64 (the precision of the backend that made the buffer).
    public let precision: CPUBackend.Precision
    private let raw: UnsafeMutableRawPointer
    private let bytes: Int
    /// The buffer a view looks into (kept alive while the view lives); nil for a whole buffer.
    private let parent: CPUBuffer?

    init(count: Int, precision: CPUBackend.Precision) throws {
        guard count >= 0 else { throw ScalpelError.invalidArgument("buffer size \(count) is negative") }
        let width = precision == .float32 ? 4 : 8
        let (bytes, overflow) = max(count, 1).multipliedReportingOverflow(by: width)
        guard !overflow, let memory = BufferCache.shared.take(bytes: bytes) else {
            throw ScalpelError.outOfMemory(device: "cpu", bytes: overflow ? Int.max : bytes, detail: "posix_memalign failed")
        }
        self.count = count
        self.precision = precision
        self.bytes = bytes
        raw = memory
        parent = nil
        if Profiler.isEnabled { Profiler.shared.recordAllocation(bytes: bytes) }
    }

    /// A view of `count` elements of `parent` from element `offset` (shared memory).
    init(viewOf parent: CPUBuffer, offset: Int, count: Int) throws {
        guard offset >= 0, count >= 0, offset + count <= parent.count else {
            throw ScalpelError.shapeMismatch(op: "view", detail: "\(count) elements from \(offset) exceed a buffer of \(parent.count)")
        }
        let root = parent.parent ?? parent
        self.count = count
        precision = parent.precision
        bytes = 0
        raw = parent.raw + offset * (parent.precision == .float32 ? 4 : 8)
        self.parent = root
    }

    /// The elements of an fp32 buffer. Valid while the buffer lives.
    public var pointer: UnsafeMutablePointer<Float> {
        precondition(precision == .float32, "fp32 access to an fp64 buffer")
        return raw.assumingMemoryBound(to: Float.self)
    }

    /// The elements of an fp64 buffer. Valid while the buffer lives.
    public var doublePointer: UnsafeMutablePointer<Double> {
        precondition(precision == .float64, "fp64 access to an fp32 buffer")
        return raw.assumingMemoryBound(to: Double.self)
    }

    deinit {
        guard parent == nil else { return }
        BufferCache.shared.give(raw, bytes: bytes)
        if Profiler.isEnabled { Profiler.shared.recordRelease() }
    }
}

/// Freed tensor memory kept by size for the next allocation of the same size: a training step
/// allocates the same shapes every step, and fresh memory from the C allocator faults its
/// pages in again each time (measured: a sixth of a small MLP's step). At most `limit` bytes
/// are kept; the rest is freed.
final class BufferCache: @unchecked Sendable {
    /// A quarter of the machine's memory, at most 4 GiB.
    static let shared = BufferCache(limit: min(4 << 30, Int(ProcessInfo.processInfo.physicalMemory / 4)))

    private let lock = NSLock()
    private var free: [Int: [UnsafeMutableRawPointer]] = [:]
    private var cached = 0
    let limit: Int

    init(limit: Int) { self.limit = limit }

    /// 64-byte-aligned memory of `bytes` bytes (reused when possible), or nil when out of memory.
    func take(bytes: Int) -> UnsafeMutableRawPointer? {
        let reused: UnsafeMutableRawPointer? = lock.withLock {
            guard let pointer = free[bytes]?.popLast() else { return nil }
            cached -= bytes
            return pointer
        }
        if let reused { return reused }
        var memory: UnsafeMutableRawPointer?
        guard posix_memalign(&memory, 64, bytes) == 0 else { return nil }
        return memory
    }

    func give(_ pointer: UnsafeMutableRawPointer, bytes: Int) {
        let kept = lock.withLock { () -> Bool in
            guard cached + bytes <= limit else { return false }
            free[bytes, default: []].append(pointer)
            cached += bytes
            return true
        }
        if !kept { Foundation.free(pointer) }
    }
}

/// The pure-Swift backend. Runs everywhere; with `.fast` kernels it is the CPU path the
/// scheduler weighs against OpenCL devices, with `.reference` kernels it is the truth.
public final class CPUBackend: Backend {
    /// Which kernels run.
    public enum Kernels: String, Sendable {
        /// Packed, blocked, SIMD, threaded kernels.
        case fast
        /// Plain loops (the reference every kernel is tested against).
        case reference
    }

    /// The precision buffers hold and kernels compute in.
    public enum Precision: String, Sendable {
        case float32
        /// Double precision with the reference kernels: the path gradient checks run on.
        case float64
    }

    /// Always `.cpu`.
    public let id: DeviceID = .cpu
    /// The kernels that run: `.reference` whenever `precision` is `.float64` or the CPU lacks the
    /// SIMD the fast kernels need, whatever `init` was asked for.
    public let kernels: Kernels
    /// The precision buffers hold and kernels compute in.
    public let precision: Precision
    /// Threads the fast kernels use.
    public let threads: Int
    let fastGEMM: FastGEMM?

    /// "CPU-Swift" with the CPU model, the thread count (or "reference kernels") and ", fp64" in
    /// Double precision.
    public var displayName: String {
        "CPU-Swift (\(CPUInfo.modelName), \(kernels == .fast ? "\(threads) thread\(threads == 1 ? "" : "s")" : "reference kernels")\(precision == .float64 ? ", fp64" : ""))"
    }

    /// A backend with `kernels`, using `threads` worker threads (default: `CPUInfo.defaultThreadCount`).
    /// Fast kernels need AVX2+FMA on x86-64; without them this backend runs the reference
    /// kernels and says so once.
    /// With `precision` `.float64` the reference kernels run in Double (for gradient checks).
    public init(kernels: Kernels = .fast, threads: Int? = nil, precision: Precision = .float32) {
        let threadCount = max(1, threads ?? CPUInfo.defaultThreadCount)
        self.precision = precision
        if precision == .float64 {
            self.kernels = .reference
        } else if kernels == .fast && CPUInfo.level == .portable {
            if CPUInfo.bestLevel == .portable {
                Diagnostics.shared.warnOnce(key: "cpu-no-simd", "this CPU lacks AVX2/FMA; the CPU backend runs its plain reference kernels (slow)")
            }
            self.kernels = .reference
        } else {
            self.kernels = kernels
        }
        self.threads = threadCount
        fastGEMM = self.kernels == .fast ? FastGEMM(pool: CPUBackend.pool(size: threadCount)) : nil
    }

    private static let pools = NSLock()
    nonisolated(unsafe) private static var poolsBySize: [Int: WorkerPool] = [:]

    /// One pool per size for the whole process (threads are kept, never torn down).
    static func pool(size: Int) -> WorkerPool {
        pools.lock()
        defer { pools.unlock() }
        if let pool = poolsBySize[size] { return pool }
        let pool = WorkerPool(size: size)
        poolsBySize[size] = pool
        return pool
    }

    /// 64-byte-aligned host memory in the backend's precision, reused from freed buffers of the same
    /// size when possible.
    public func makeBuffer(count: Int) throws -> any DeviceBuffer {
        try CPUBuffer(count: count, precision: precision)
    }

    /// A `CPUBuffer` sharing the parent's memory (a view of a view points into the root buffer).
    public func makeView(of buffer: any DeviceBuffer, offset: Int, count: Int) throws -> any DeviceBuffer {
        try CPUBuffer(viewOf: try storage(buffer, op: "makeView"), offset: offset, count: count)
    }

    /// Any element (host memory has no alignment rule for views).
    public var viewAlignment: Int { 1 }

    func storage(_ buffer: any DeviceBuffer, op: String) throws -> CPUBuffer {
        guard let cpu = buffer as? CPUBuffer, cpu.precision == precision else {
            throw ScalpelError.foreignBuffer(op: op, expected: "cpu (\(precision.rawValue))", got: buffer.owner.description)
        }
        return cpu
    }

    /// Writes Double values into an fp64 buffer without rounding through Float (gradient checks).
    public func writeDoubles(_ values: [Double], to buffer: any DeviceBuffer) throws {
        let target = try storage(buffer, op: "writeDoubles")
        guard precision == .float64, values.count <= target.count else {
            throw ScalpelError.invalidArgument("writeDoubles needs an fp64 buffer of at least \(values.count) elements")
        }
        for (i, v) in values.enumerated() { target.doublePointer[i] = v }
    }

    /// Reads an fp64 buffer's values exactly.
    public func readDoubles(_ buffer: any DeviceBuffer) throws -> [Double] {
        let source = try storage(buffer, op: "readDoubles")
        guard precision == .float64 else { throw ScalpelError.invalidArgument("readDoubles needs an fp64 buffer") }
        return Array(UnsafeBufferPointer(start: source.doublePointer, count: source.count))
    }

    /// Copies at once into the buffer's memory (widened to Double in an fp64 buffer); throws
    /// `shapeMismatch` when the values do not fit from `offset`.
    public func write(_ source: UnsafeBufferPointer<Float>, to buffer: any DeviceBuffer, at offset: Int) throws {
        let target = try storage(buffer, op: "write")
        guard offset >= 0, offset + source.count <= target.count else {
            throw ScalpelError.shapeMismatch(op: "write", detail: "\(source.count) values at offset \(offset) do not fit a buffer of \(target.count)")
        }
        guard let base = source.baseAddress else { return }
        if Profiler.isEnabled { Profiler.shared.recordTransfer(.hostToDevice, bytes: source.count * 4, blocking: false) }
        switch precision {
        case .float32: (target.pointer + offset).update(from: base, count: source.count)
        case .float64: for i in 0 ..< source.count { target.doublePointer[offset + i] = Double(base[i]) }
        }
    }

    /// Copies at once out of the buffer's memory (rounded to Float from an fp64 buffer); throws
    /// `shapeMismatch` when the range exceeds the buffer.
    public func read(_ buffer: any DeviceBuffer, at offset: Int, into destination: UnsafeMutableBufferPointer<Float>) throws {
        let source = try storage(buffer, op: "read")
        guard offset >= 0, offset + destination.count <= source.count else {
            throw ScalpelError.shapeMismatch(op: "read", detail: "\(destination.count) values at offset \(offset) exceed a buffer of \(source.count)")
        }
        guard let base = destination.baseAddress else { return }
        if Profiler.isEnabled { Profiler.shared.recordTransfer(.deviceToHost, bytes: destination.count * 4, blocking: false) }
        switch precision {
        case .float32: base.update(from: source.pointer + offset, count: destination.count)
        case .float64: for i in 0 ..< destination.count { base[i] = Float(source.doublePointer[offset + i]) }
        }
    }

    /// With fast kernels, the packed, blocked, threaded SIMD `FastGEMM`; otherwise, and always in
    /// fp64, the plain loops of `ReferenceKernels.gemm`.
    public func gemm(_ p: GEMMParameters, a: any DeviceBuffer, b: any DeviceBuffer, c: any DeviceBuffer) throws {
        let span = ProfileSpan.begin("gemm"); defer { span?.end() }
        let (ba, bb, bc) = (try storage(a, op: "gemm"), try storage(b, op: "gemm"), try storage(c, op: "gemm"))
        try p.validate(countA: ba.count, countB: bb.count, countC: bc.count)
        if precision == .float64 {
            ReferenceKernels.gemm(p, a: ba.doublePointer, b: bb.doublePointer, c: bc.doublePointer)
        } else if let fastGEMM {
            fastGEMM.run(p, a: ba.pointer, b: bb.pointer, c: bc.pointer, threads: threads)
        } else {
            ReferenceKernels.gemm(p, a: ba.pointer, b: bb.pointer, c: bc.pointer)
        }
    }

    /// Returns at once: every CPU operation has finished when its call returns.
    public func synchronize() throws {}
}
