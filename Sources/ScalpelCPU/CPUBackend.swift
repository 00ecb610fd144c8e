import Foundation
import ScalpelCore

/// fp32 memory of the CPU backend: 64-byte aligned, freed with the buffer.
public final class CPUBuffer: DeviceBuffer, @unchecked Sendable {
    public let count: Int
    public let owner: DeviceID = .cpu
    /// The elements. Valid while the buffer lives.
    public let pointer: UnsafeMutablePointer<Float>

    init(count: Int) throws {
        guard count >= 0 else { throw ScalpelError.invalidArgument("buffer size \(count) is negative") }
        let (bytes, overflow) = max(count, 1).multipliedReportingOverflow(by: MemoryLayout<Float>.stride)
        var raw: UnsafeMutableRawPointer?
        guard !overflow, posix_memalign(&raw, 64, bytes) == 0, let raw else {
            throw ScalpelError.outOfMemory(device: "cpu", bytes: overflow ? Int.max : bytes, detail: "posix_memalign failed")
        }
        self.count = count
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
    }

    deinit { free(pointer) }
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

    public let id: DeviceID = .cpu
    public let kernels: Kernels
    /// Threads the fast kernels use.
    public let threads: Int
    private let fastGEMM: FastGEMM?

    public var displayName: String {
        "CPU-Swift (\(CPUInfo.modelName), \(kernels == .fast ? "\(threads) thread\(threads == 1 ? "" : "s")" : "reference kernels"))"
    }

    /// A backend with `kernels`, using `threads` worker threads (default: `CPUInfo.defaultThreadCount`).
    /// Fast kernels need AVX2+FMA on x86-64; without them this backend runs the reference
    /// kernels and says so once.
    public init(kernels: Kernels = .fast, threads: Int? = nil) {
        let threadCount = max(1, threads ?? CPUInfo.defaultThreadCount)
        if kernels == .fast && !CPUInfo.hasFastSIMD {
            Diagnostics.shared.warnOnce(key: "cpu-no-simd", "this CPU lacks AVX2/FMA; the CPU backend runs its plain reference kernels (slow)")
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

    public func makeBuffer(count: Int) throws -> any DeviceBuffer {
        try CPUBuffer(count: count)
    }

    func storage(_ buffer: any DeviceBuffer, op: String) throws -> CPUBuffer {
        guard let cpu = buffer as? CPUBuffer else {
            throw ScalpelError.foreignBuffer(op: op, expected: "cpu", got: buffer.owner.description)
        }
        return cpu
    }

    public func write(_ source: UnsafeBufferPointer<Float>, to buffer: any DeviceBuffer, at offset: Int) throws {
        let target = try storage(buffer, op: "write")
        guard offset >= 0, offset + source.count <= target.count else {
            throw ScalpelError.shapeMismatch(op: "write", detail: "\(source.count) values at offset \(offset) do not fit a buffer of \(target.count)")
        }
        if let base = source.baseAddress { (target.pointer + offset).update(from: base, count: source.count) }
    }

    public func read(_ buffer: any DeviceBuffer, at offset: Int, into destination: UnsafeMutableBufferPointer<Float>) throws {
        let source = try storage(buffer, op: "read")
        guard offset >= 0, offset + destination.count <= source.count else {
            throw ScalpelError.shapeMismatch(op: "read", detail: "\(destination.count) values at offset \(offset) exceed a buffer of \(source.count)")
        }
        if let base = destination.baseAddress { base.update(from: source.pointer + offset, count: destination.count) }
    }

    public func gemm(_ p: GEMMParameters, a: any DeviceBuffer, b: any DeviceBuffer, c: any DeviceBuffer) throws {
        let (ba, bb, bc) = (try storage(a, op: "gemm"), try storage(b, op: "gemm"), try storage(c, op: "gemm"))
        try p.validate(countA: ba.count, countB: bb.count, countC: bc.count)
        if let fastGEMM {
            fastGEMM.run(p, a: ba.pointer, b: bb.pointer, c: bc.pointer, threads: threads)
        } else {
            ReferenceKernels.gemm(p, a: ba.pointer, b: bb.pointer, c: bc.pointer)
        }
    }

    public func synchronize() throws {}
}
