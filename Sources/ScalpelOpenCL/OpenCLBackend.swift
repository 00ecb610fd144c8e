import COpenCL
import Foundation
import ScalpelCPU
import ScalpelCore

/// One OpenCL device as a `Backend`: a context, an in-order queue, programs compiled once
/// (and cached on disk), and the kernels of `Kernels/`.
///
/// Calls are serialised by a lock (kernel objects hold their arguments, so setting them and
/// enqueueing must not interleave): the backend's own, or one shared by every backend of an
/// implementation that is not thread-safe across contexts (`OpenCLCallLock`). An operation
/// whose program fails to build runs on the CPU-Swift backend instead, with one warning
/// carrying the build log and a fallback count.
public final class OpenCLBackend: Backend, @unchecked Sendable {
    /// The device this backend runs on, as the inventory describes it.
    public let info: OpenCLDeviceInfo
    /// The device's id, from `info`.
    public var id: DeviceID { info.id }
    /// The device's name as OpenCL reports it (`info.name`).
    public var displayName: String { info.name }
    /// The GEMM kernel family and knobs for this device.
    public let tuning: GEMMTuning

    let library: OpenCLLibrary
    private let context: cl_context
    let queue: cl_command_queue
    let lock: NSRecursiveLock
    /// Source → program, with the on-disk program cache.
    let compiler: OpenCLCompiler
    /// Arguments, work-group checks, enqueueing and launch status.
    let launcher: OpenCLLauncher
    /// Device memory, pooled by size class.
    let allocator: OpenCLAllocator
    private var scratch: [String: CLBuffer] = [:]
    let cpu: CPUBackend
    /// Measured choices between kernel families of one operation (convolution algorithms).
    let convScheduler: Scheduler
    /// Every launch's event until it is seen finished: its execution status is checked, and
    /// with the profiler on its device time read.
    var launches: LaunchStatusLog { launcher.launches }
    /// Host copies of writes that do not wait (`writeWithoutWaiting`), kept until they are done.
    let hostStaging: HostStaging

    /// Bytes of device memory this backend's live buffers hold now (scratch buffers included;
    /// not the memory pooled for reuse).
    public var allocatedBytes: Int { allocator.ledger.snapshot.current }
    /// The most bytes held at once since the backend opened or `resetPeakAllocatedBytes()`.
    public var peakAllocatedBytes: Int { allocator.ledger.snapshot.peak }
    /// Starts a new peak measurement from what is held now.
    public func resetPeakAllocatedBytes() { allocator.ledger.resetPeak() }
    /// Bytes of device memory kept in the pool for reuse.
    public var pooledBytes: Int { allocator.pooledBytes }

    /// Creates a context and queue on `info`'s device. No self-test (see `selfTest()`).
    public init(_ info: OpenCLDeviceInfo, inventory: OpenCLInventory = .shared, tuning: GEMMTuning? = nil) throws {
        guard let library = inventory.library, let handle = inventory.handles[info.id] else {
            throw ScalpelError.deviceUnavailable(device: info.id.description, reason: "not in the OpenCL inventory")
        }
        self.info = info
        self.library = library
        self.tuning = tuning ?? GEMMTuning.lookup(info)
        lock = OpenCLCallLock.make(for: info)
        var status: cl_int = 0
        var deviceList: [cl_device_id?] = [handle.device]
        var properties: [cl_context_properties] = [
            cl_context_properties(CL_CONTEXT_PLATFORM), cl_context_properties(Int(bitPattern: handle.platform)), 0,
        ]
        guard let context = library.api.clCreateContext(&properties, 1, &deviceList, nil, nil, &status), status == CL_SUCCESS else {
            throw ScalpelError.deviceUnavailable(device: "\(info.id) (\(info.name))", reason: "clCreateContext failed with \(CLErrorNames.name(status)) (\(status))")
        }
        // With the profiler on, the queue times every command (CL_QUEUE_PROFILING_ENABLE).
        let profiling = Profiler.isEnabled
        let queueProperties = profiling ? cl_command_queue_properties(CL_QUEUE_PROFILING_ENABLE) : 0
        guard let queue = library.api.clCreateCommandQueue(context, handle.device, queueProperties, &status), status == CL_SUCCESS else {
            _ = library.api.clReleaseContext(context)
            throw ScalpelError.deviceUnavailable(device: "\(info.id) (\(info.name))", reason: "clCreateCommandQueue failed with \(CLErrorNames.name(status)) (\(status))")
        }
        self.context = context
        self.queue = queue
        launcher = OpenCLLauncher(library: library, device: handle.device, info: info, queue: queue, readsDeviceTime: profiling)
        compiler = OpenCLCompiler(library: library, context: context, device: handle.device, info: info)
        allocator = OpenCLAllocator(library: library, context: context, device: handle.device, info: info,
                                    releaseLock: OpenCLCallLock.isProcessWide(info) ? lock : nil)
        hostStaging = HostStaging(library: library)
        cpu = CPUBackend()
        let identity = "device=\(info.cacheIdentity);kernels=\(KernelSources.fingerprint);algorithms;columns=\(Self.columnBudget);gemm=\(self.tuning)"
        convScheduler = Scheduler(url: CacheDirectory.subdirectory("schedule").map { Scheduler.fileURL(in: $0, identity: identity) }, identity: identity)
        if profiling {
            Profiler.shared.addFlusher { [weak self] in
                guard let self else { return }
                self.lock.withLock { try? self.launches.check(wait: true) }
            }
        }
    }

    deinit {
        lock.withLock {
            try? launches.check(wait: true)
            compiler.removeAll()
            scratch.removeAll()
            _ = library.api.clReleaseCommandQueue(queue)
            _ = library.api.clReleaseContext(context)
        }
    }

    // MARK: Buffers

    /// Device memory from the backend's allocator, which pools freed buffers by size class.
    public func makeBuffer(count: Int) throws -> any DeviceBuffer {
        try lock.withLock { try allocate(count: count, purpose: "buffer") }
    }

    /// An OpenCL sub-buffer (`clCreateSubBuffer`) of the parent's root buffer; `offset` must be a
    /// multiple of `viewAlignment`.
    public func makeView(of buffer: any DeviceBuffer, offset: Int, count: Int) throws -> any DeviceBuffer {
        let parent = try storage(buffer, op: "makeView")
        return try lock.withLock { try allocator.view(of: parent, offset: offset, count: count) }
    }

    /// CL_DEVICE_MEM_BASE_ADDR_ALIGN in elements (a sub-buffer's origin must be aligned to it).
    public var viewAlignment: Int { allocator.viewAlignment }

    func allocate(count: Int, purpose: String) throws -> CLBuffer {
        try allocator.allocate(count: count, purpose: purpose)
    }

    func storage(_ buffer: any DeviceBuffer, op: String) throws -> CLBuffer {
        guard let cl = buffer as? CLBuffer, cl.owner == id else {
            throw ScalpelError.foreignBuffer(op: op, expected: id.description, got: buffer.owner.description)
        }
        return cl
    }

    /// A blocking `clEnqueueWriteBuffer`: when it returns, the copy and every launch queued before it
    /// have finished, and their execution status has been checked.
    public func write(_ source: UnsafeBufferPointer<Float>, to buffer: any DeviceBuffer, at offset: Int) throws {
        let target = try storage(buffer, op: "write")
        guard offset >= 0, offset + source.count <= target.count else {
            throw ScalpelError.shapeMismatch(op: "write", detail: "\(source.count) values at offset \(offset) do not fit a buffer of \(target.count)")
        }
        guard let base = source.baseAddress, source.count > 0 else { return }
        try lock.withLock {
            try transfer(target, offset: offset, host: UnsafeMutableRawPointer(mutating: base), count: source.count, toHost: false,
                         what: "writing \(source.count) values")
        }
    }

    /// A blocking `clEnqueueReadBuffer`: when it returns, the copy and every launch queued before it
    /// have finished, and their execution status has been checked.
    public func read(_ buffer: any DeviceBuffer, at offset: Int, into destination: UnsafeMutableBufferPointer<Float>) throws {
        let source = try storage(buffer, op: "read")
        guard offset >= 0, offset + destination.count <= source.count else {
            throw ScalpelError.shapeMismatch(op: "read", detail: "\(destination.count) values at offset \(offset) exceed a buffer of \(source.count)")
        }
        guard let base = destination.baseAddress, destination.count > 0 else { return }
        try lock.withLock {
            try transfer(source, offset: offset, host: UnsafeMutableRawPointer(base), count: destination.count, toHost: true,
                         what: "reading \(destination.count) values")
        }
    }

    /// A blocking copy of `count` floats between `device` (from element `offset`) and `host`,
    /// counted by the profiler. On the in-order queue every launch before it has then finished,
    /// so their execution status is checked. Callers hold the lock.
    func transfer(_ device: CLBuffer, offset: Int = 0, host: UnsafeMutableRawPointer, count: Int, toHost: Bool, what: String) throws {
        guard count > 0 else { return }
        let status = toHost
            ? library.api.clEnqueueReadBuffer(queue, device.mem, cl_bool(CL_TRUE), offset * 4, count * 4, host, 0, nil, nil)
            : library.api.clEnqueueWriteBuffer(queue, device.mem, cl_bool(CL_TRUE), offset * 4, count * 4, host, 0, nil, nil)
        if status != CL_SUCCESS { throw failure(toHost ? "clEnqueueReadBuffer" : "clEnqueueWriteBuffer", status, what) }
        if Profiler.isEnabled { Profiler.shared.recordTransfer(toHost ? .deviceToHost : .hostToDevice, bytes: count * 4, blocking: true) }
        try launches.check()
    }

    /// `clFinish` on the queue, then a check of every finished launch's execution status.
    public func synchronize() throws {
        try lock.withLock {
            let status = library.api.clFinish(queue)
            if status != CL_SUCCESS { throw failure("clFinish", status, "waiting for the queue") }
            if Profiler.isEnabled { Profiler.shared.recordQueueDrain() }
            try launches.check()
        }
    }

    // MARK: Programs and launches (see OpenCLCompiler and OpenCLLauncher; callers hold the lock)

    /// The program built from `file` with `options` (compiled once; from the disk cache when
    /// possible). A failure is remembered, so it is reported once.
    func program(_ file: String, options: String) throws -> CLProgram {
        try compiler.program(file, options: options)
    }

    func setArguments(_ kernel: cl_kernel, _ arguments: [KernelArgument]) throws {
        try launcher.setArguments(kernel, arguments)
    }

    /// Launches `kernel`; its event goes to the launch-status log.
    func enqueue(_ kernel: cl_kernel, name: String, global: [Int], local: [Int]?) throws {
        try launcher.enqueue(kernel, name: name, global: global, local: local)
    }

    /// A scratch buffer of at least `count` floats, kept for reuse (the in-order queue makes
    /// reuse by the next operation safe). Callers hold the lock.
    func scratchBuffer(_ name: String, count: Int) throws -> CLBuffer {
        if let existing = scratch[name], existing.count >= count { return existing }
        scratch[name] = nil
        let buffer = try allocate(count: max(count, 1), purpose: "\(name) scratch")
        scratch[name] = buffer
        return buffer
    }

    func failure(_ call: String, _ status: cl_int, _ context: String, bytes: Int = 0) -> ScalpelError {
        CLErrorNames.error(call, status, context, device: "\(id) (\(info.name))", bytes: bytes)
    }
}
