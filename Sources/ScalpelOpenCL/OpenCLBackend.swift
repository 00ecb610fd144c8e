import COpenCL
import Foundation
import ScalpelCPU
import ScalpelCore

/// fp32 device memory of one OpenCL device.
final class CLBuffer: DeviceBuffer, @unchecked Sendable {
    let count: Int
    let owner: DeviceID
    let mem: cl_mem
    private let library: OpenCLLibrary
    private let ledger: AllocationLedger
    private let bytes: Int
    /// Held while releasing `mem` (see `OpenCLCallLock`); nil: released without a lock.
    private let releaseLock: NSRecursiveLock?

    init(mem: cl_mem, count: Int, bytes: Int, owner: DeviceID, library: OpenCLLibrary, ledger: AllocationLedger, releaseLock: NSRecursiveLock?) {
        self.mem = mem
        self.count = count
        self.bytes = bytes
        self.owner = owner
        self.library = library
        self.ledger = ledger
        self.releaseLock = releaseLock
        ledger.add(bytes)
        if Profiler.isEnabled { Profiler.shared.recordAllocation(bytes: bytes) }
    }

    deinit {
        if let releaseLock {
            releaseLock.withLock { _ = library.api.clReleaseMemObject(mem) }
        } else {
            _ = library.api.clReleaseMemObject(mem)
        }
        ledger.remove(bytes)
        if Profiler.isEnabled { Profiler.shared.recordRelease() }
    }
}

/// Bytes of device memory held by one backend's buffers (scratch included): now, and the most
/// at once since the last reset. Memory tests and benchmarks read it.
final class AllocationLedger: @unchecked Sendable {
    private let lock = NSLock()
    private var current = 0
    private var peak = 0

    func add(_ bytes: Int) {
        lock.withLock {
            current += bytes
            peak = max(peak, current)
        }
    }

    func remove(_ bytes: Int) { lock.withLock { current -= bytes } }

    var snapshot: (current: Int, peak: Int) { lock.withLock { (current, peak) } }

    func resetPeak() { lock.withLock { peak = current } }
}

/// A built program and the kernels made from it.
final class CLProgram: @unchecked Sendable {
    let program: cl_program
    private var kernels: [String: cl_kernel] = [:]
    private let library: OpenCLLibrary

    init(program: cl_program, library: OpenCLLibrary) {
        self.program = program
        self.library = library
    }

    /// The kernel `name` (created once; callers hold the backend's lock).
    func kernel(_ name: String) throws -> cl_kernel {
        if let kernel = kernels[name] { return kernel }
        var status: cl_int = 0
        guard let kernel = library.api.clCreateKernel(program, name, &status), status == CL_SUCCESS else {
            throw ScalpelError.openCL(call: "clCreateKernel", code: status, name: CLErrorNames.name(status), context: "creating kernel \(name)")
        }
        kernels[name] = kernel
        return kernel
    }

    deinit {
        for kernel in kernels.values { _ = library.api.clReleaseKernel(kernel) }
        _ = library.api.clReleaseProgram(program)
    }
}

/// A kernel argument.
enum KernelArgument {
    case int(Int32)
    case long(Int64)
    case float(Float)
    case buffer(cl_mem?)
    /// An OpenCL int8 vector (shapes and strides of up to 8 dimensions).
    case int8([Int32])
}

/// One OpenCL device as a `Backend`: a context, an in-order queue, programs compiled once
/// (and cached on disk), and the kernels of `Kernels/`.
///
/// Calls are serialised by a lock (kernel objects hold their arguments, so setting them and
/// enqueueing must not interleave): the backend's own, or one shared by every backend of an
/// implementation that is not thread-safe across contexts (`OpenCLCallLock`). An operation
/// whose program fails to build runs on the CPU-Swift backend instead, with one warning
/// carrying the build log and a fallback count.
public final class OpenCLBackend: Backend, @unchecked Sendable {
    public let info: OpenCLDeviceInfo
    public var id: DeviceID { info.id }
    public var displayName: String { info.name }
    /// The GEMM kernel family and knobs for this device.
    public let tuning: GEMMTuning

    let library: OpenCLLibrary
    let device: cl_device_id?
    private let context: cl_context
    let queue: cl_command_queue
    let lock: NSRecursiveLock
    private let programCache: ProgramCache
    private var programs: [String: Result<CLProgram, ScalpelError>] = [:]
    private var scratch: [String: CLBuffer] = [:]
    let cpu: CPUBackend
    /// Measured choices between kernel families of one operation (convolution algorithms).
    let convScheduler: Scheduler
    private let ledger = AllocationLedger()
    /// What each kernel may use on this device, asked once per kernel: its largest work-group
    /// (`CL_KERNEL_WORK_GROUP_SIZE`, which registers can make smaller than the device's) and
    /// the local memory it declares (`CL_KERNEL_LOCAL_MEM_SIZE`).
    private var kernelLimits: [cl_kernel: (workGroup: Int, localBytes: Int)] = [:]
    /// Every launch's event until it is seen finished: its execution status is checked, and
    /// with the profiler on its device time read.
    let launches: LaunchStatusLog

    /// Bytes of device memory this backend's buffers hold now (scratch buffers included).
    public var allocatedBytes: Int { ledger.snapshot.current }
    /// The most bytes held at once since the backend opened or `resetPeakAllocatedBytes()`.
    public var peakAllocatedBytes: Int { ledger.snapshot.peak }
    /// Starts a new peak measurement from what is held now.
    public func resetPeakAllocatedBytes() { ledger.resetPeak() }

    /// Creates a context and queue on `info`'s device. No self-test (see `selfTest()`).
    public init(_ info: OpenCLDeviceInfo, inventory: OpenCLInventory = .shared, tuning: GEMMTuning? = nil) throws {
        guard let library = inventory.library, let handle = inventory.handles[info.id] else {
            throw ScalpelError.deviceUnavailable(device: info.id.description, reason: "not in the OpenCL inventory")
        }
        self.info = info
        self.library = library
        device = handle.device
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
        launches = LaunchStatusLog(library: library, readsDeviceTime: profiling)
        programCache = ProgramCache(directory: CacheDirectory.subdirectory("programs"))
        cpu = CPUBackend()
        let identity = "device=\(info.cacheIdentity);kernels=\(KernelSources.fingerprint);algorithms"
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
            programs.removeAll()
            scratch.removeAll()
            _ = library.api.clReleaseCommandQueue(queue)
            _ = library.api.clReleaseContext(context)
        }
    }

    // MARK: Buffers

    public func makeBuffer(count: Int) throws -> any DeviceBuffer {
        try lock.withLock { try allocate(count: count, purpose: "buffer") }
    }

    private func allocate(count: Int, purpose: String) throws -> CLBuffer {
        guard count >= 0 else { throw ScalpelError.invalidArgument("buffer size \(count) is negative") }
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        if info.maxAllocationBytes > 0 && bytes > info.maxAllocationBytes {
            throw ScalpelError.outOfMemory(device: "\(id) (\(info.name))", bytes: bytes,
                                           detail: "\(purpose) exceeds the device's largest allocation, CL_DEVICE_MAX_MEM_ALLOC_SIZE = \(formatBytes(info.maxAllocationBytes))")
        }
        var status: cl_int = 0
        guard let mem = library.api.clCreateBuffer(context, cl_mem_flags(CL_MEM_READ_WRITE), bytes, nil, &status), status == CL_SUCCESS else {
            throw failure("clCreateBuffer", status, "allocating \(formatBytes(bytes)) for \(purpose)", bytes: bytes)
        }
        return CLBuffer(mem: mem, count: count, bytes: bytes, owner: id, library: library, ledger: ledger, releaseLock: bufferReleaseLock)
    }

    func storage(_ buffer: any DeviceBuffer, op: String) throws -> CLBuffer {
        guard let cl = buffer as? CLBuffer, cl.owner == id else {
            throw ScalpelError.foreignBuffer(op: op, expected: id.description, got: buffer.owner.description)
        }
        return cl
    }

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

    public func synchronize() throws {
        try lock.withLock {
            let status = library.api.clFinish(queue)
            if status != CL_SUCCESS { throw failure("clFinish", status, "waiting for the queue") }
            if Profiler.isEnabled { Profiler.shared.recordQueueDrain() }
            try launches.check()
        }
    }

    // MARK: Programs

    /// The program built from `file` with `options` (compiled once; from the disk cache when
    /// possible). Callers hold the lock. A failure is remembered, so it is reported once.
    func program(_ file: String, options: String) throws -> CLProgram {
        let key = "\(file) \(options)"
        if let known = programs[key] { return try known.get() }
        let result: Result<CLProgram, ScalpelError>
        do {
            result = .success(try buildProgram(file, options: options))
        } catch let error as ScalpelError {
            result = .failure(error)
        } catch {
            result = .failure(.kernelSource(name: file, reason: "\(error)"))
        }
        programs[key] = result
        return try result.get()
    }

    private func buildProgram(_ file: String, options: String) throws -> CLProgram {
        let (source, origin) = try KernelSources.source(named: file)
        let cacheKey = "file=\(file) source=\(Digest.sha256Hex(source)) options=\(options) device=\(info.cacheIdentity)"
        let started = monotonicSeconds()
        if let binary = programCache.load(key: cacheKey) {
            if let program = try? programFromBinary(binary, options: options) {
                if Profiler.isEnabled { Profiler.shared.recordProgramBuild(fromCache: true, seconds: monotonicSeconds() - started) }
                Diagnostics.shared.note("\(file) for \(id): loaded from the program cache in \(String(format: "%.0f", (monotonicSeconds() - started) * 1e3)) ms")
                return program
            }
            Diagnostics.shared.note("\(file) for \(id): the driver refused the cached binary; rebuilding from source")
            programCache.remove(key: cacheKey)
        }
        var status: cl_int = 0
        let program: cl_program? = source.withCString { text in
            var pointer: UnsafePointer<CChar>? = text
            var length = strlen(text)
            return library.api.clCreateProgramWithSource(context, 1, &pointer, &length, &status)
        }
        guard let program, status == CL_SUCCESS else {
            throw ScalpelError.openCL(call: "clCreateProgramWithSource", code: status, name: CLErrorNames.name(status), context: "loading \(file)")
        }
        var deviceList: [cl_device_id?] = [device]
        let buildStatus = library.api.clBuildProgram(program, 1, &deviceList, options, nil, nil)
        if buildStatus != CL_SUCCESS {
            // Read the log before releasing the program.
            let log = buildLog(program)
            _ = library.api.clReleaseProgram(program)
            throw ScalpelError.kernelBuild(program: file + (origin == "embedded" ? "" : " (from \(origin))"),
                                           device: "\(id) (\(info.name))",
                                           log: log.isEmpty ? "\(CLErrorNames.name(buildStatus)) (\(buildStatus))" : log)
        }
        if Profiler.isEnabled { Profiler.shared.recordProgramBuild(fromCache: false, seconds: monotonicSeconds() - started) }
        Diagnostics.shared.note("\(file) for \(id): compiled from \(origin) source in \(String(format: "%.0f", (monotonicSeconds() - started) * 1e3)) ms")
        if let binary = programBinary(program) { programCache.store(key: cacheKey, binary: binary) }
        return CLProgram(program: program, library: library)
    }

    private func programFromBinary(_ binary: Data, options: String) throws -> CLProgram {
        var status: cl_int = 0
        var binaryStatus: cl_int = 0
        var deviceList: [cl_device_id?] = [device]
        let program: cl_program? = binary.withUnsafeBytes { raw in
            var length = raw.count
            var pointer: UnsafePointer<UInt8>? = raw.bindMemory(to: UInt8.self).baseAddress
            return library.api.clCreateProgramWithBinary(context, 1, &deviceList, &length, &pointer, &binaryStatus, &status)
        }
        guard let program, status == CL_SUCCESS, binaryStatus == CL_SUCCESS else {
            throw ScalpelError.openCL(call: "clCreateProgramWithBinary", code: status, name: CLErrorNames.name(status), context: "")
        }
        let buildStatus = library.api.clBuildProgram(program, 1, &deviceList, options, nil, nil)
        guard buildStatus == CL_SUCCESS else {
            _ = library.api.clReleaseProgram(program)
            throw ScalpelError.openCL(call: "clBuildProgram", code: buildStatus, name: CLErrorNames.name(buildStatus), context: "from a cached binary")
        }
        return CLProgram(program: program, library: library)
    }

    private func buildLog(_ program: cl_program) -> String {
        var size = 0
        guard library.api.clGetProgramBuildInfo(program, device, cl_program_build_info(CL_PROGRAM_BUILD_LOG), 0, nil, &size) == CL_SUCCESS, size > 1 else {
            return ""
        }
        var bytes = [CChar](repeating: 0, count: size)
        _ = library.api.clGetProgramBuildInfo(program, device, cl_program_build_info(CL_PROGRAM_BUILD_LOG), size, &bytes, nil)
        return OpenCLLibrary.string(bytes)
    }

    private func programBinary(_ program: cl_program) -> Data? {
        var size = 0
        guard library.api.clGetProgramInfo(program, cl_program_info(CL_PROGRAM_BINARY_SIZES), MemoryLayout<Int>.size, &size, nil) == CL_SUCCESS,
              size > 0 else { return nil }
        var bytes = [UInt8](repeating: 0, count: size)
        let status = bytes.withUnsafeMutableBufferPointer { buffer -> cl_int in
            var pointer: UnsafeMutablePointer<UInt8>? = buffer.baseAddress
            return library.api.clGetProgramInfo(program, cl_program_info(CL_PROGRAM_BINARIES), MemoryLayout<UnsafeMutablePointer<UInt8>?>.size, &pointer, nil)
        }
        return status == CL_SUCCESS ? Data(bytes) : nil
    }

    // MARK: Launching

    func setArguments(_ kernel: cl_kernel, _ arguments: [KernelArgument]) throws {
        for (index, argument) in arguments.enumerated() {
            let status: cl_int
            switch argument {
            case var .int(value): status = library.api.clSetKernelArg(kernel, cl_uint(index), 4, &value)
            case var .long(value): status = library.api.clSetKernelArg(kernel, cl_uint(index), 8, &value)
            case var .float(value): status = library.api.clSetKernelArg(kernel, cl_uint(index), 4, &value)
            case var .buffer(mem): status = library.api.clSetKernelArg(kernel, cl_uint(index), MemoryLayout<cl_mem?>.size, &mem)
            case let .int8(values): status = values.withUnsafeBytes { library.api.clSetKernelArg(kernel, cl_uint(index), 32, $0.baseAddress) }
            }
            if status != CL_SUCCESS { throw failure("clSetKernelArg", status, "setting argument \(index)") }
        }
    }

    /// Launches `kernel` (callers hold the lock). Its event goes to `launches`, which checks
    /// its execution status after the next wait; with the profiler on, the launch is counted
    /// under `name` and its device time read from the event.
    func enqueue(_ kernel: cl_kernel, name: String, global: [Int], local: [Int]?) throws {
        if global.contains(0) { return }
        if let local { try checkFits(kernel, name: name, local: local) }
        var globalSize = global
        var event: cl_event?
        let status: cl_int
        if var localSize = local {
            // Round the global size up to whole work-groups.
            for d in globalSize.indices { globalSize[d] = (globalSize[d] + localSize[d] - 1) / localSize[d] * localSize[d] }
            status = library.api.clEnqueueNDRangeKernel(queue, kernel, cl_uint(global.count), nil, &globalSize, &localSize, 0, nil, &event)
        } else {
            status = library.api.clEnqueueNDRangeKernel(queue, kernel, cl_uint(global.count), nil, &globalSize, nil, 0, nil, &event)
        }
        if status != CL_SUCCESS { throw failure("clEnqueueNDRangeKernel", status, "launching \(name) over \(global)") }
        let steady: Bool? = Profiler.isEnabled ? Profiler.shared.recordLaunch(name, backend: "opencl") : nil
        if let event { try launches.record(event, name: name, global: global, steady: steady) }
    }

    /// Throws an error naming the kernel, what it asks for and what the device allows, when a
    /// work-group of `local` exceeds the kernel's largest work-group on this device or the
    /// kernel declares more local memory than the device has (a driver would only answer
    /// CL_INVALID_WORK_GROUP_SIZE or CL_OUT_OF_RESOURCES). Callers hold the lock.
    func checkFits(_ kernel: cl_kernel, name: String, local: [Int]) throws {
        let limits: (workGroup: Int, localBytes: Int)
        if let known = kernelLimits[kernel] {
            limits = known
        } else {
            var workGroup = 0
            var localBytes: cl_ulong = 0
            let a = library.api.clGetKernelWorkGroupInfo(kernel, device, cl_kernel_work_group_info(CL_KERNEL_WORK_GROUP_SIZE),
                                                         MemoryLayout<Int>.size, &workGroup, nil)
            let b = library.api.clGetKernelWorkGroupInfo(kernel, device, cl_kernel_work_group_info(CL_KERNEL_LOCAL_MEM_SIZE),
                                                         MemoryLayout<cl_ulong>.size, &localBytes, nil)
            // A driver that cannot answer leaves the check to the launch itself.
            limits = (a == CL_SUCCESS && workGroup > 0 ? workGroup : Int.max, b == CL_SUCCESS ? Int(localBytes) : 0)
            kernelLimits[kernel] = limits
        }
        let size = local.reduce(1, *)
        if size > limits.workGroup {
            throw ScalpelError.kernelLimit(kernel: name, device: "\(id) (\(info.name))",
                                           detail: "it is launched in work-groups of \(local.map(String.init).joined(separator: "×")) = \(size) work-items, "
                                               + "and this device runs it in at most \(limits.workGroup) (CL_KERNEL_WORK_GROUP_SIZE)")
        }
        if info.localMemoryBytes > 0 && limits.localBytes > info.localMemoryBytes {
            throw ScalpelError.kernelLimit(kernel: name, device: "\(id) (\(info.name))",
                                           detail: "it declares \(formatBytes(limits.localBytes)) of local memory (CL_KERNEL_LOCAL_MEM_SIZE), "
                                               + "and this device has \(formatBytes(info.localMemoryBytes))")
        }
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
        if CLErrorNames.isOutOfMemory(status) {
            return .outOfMemory(device: "\(id) (\(info.name))", bytes: bytes, detail: "\(call) returned \(CLErrorNames.name(status)) while \(context)")
        }
        return .openCL(call: call, code: status, name: CLErrorNames.name(status), context: context)
    }
}
