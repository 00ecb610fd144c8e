import COpenCL
import Foundation
import ScalpelCore

/// fp32 device memory of one OpenCL device: a memory object lent by the device's allocator
/// (given back to its pool when the buffer dies), or a view of part of another buffer.
final class CLBuffer: DeviceBuffer, @unchecked Sendable {
    let count: Int
    let owner: DeviceID
    let mem: cl_mem
    private let allocator: OpenCLAllocator
    /// The size class `mem` was allocated in (0 for a view).
    private let sizeClass: Int
    /// The buffer a view looks into, kept alive while the view lives; nil for a whole buffer.
    let parent: CLBuffer?
    /// Where a view starts in its parent, in elements (0 for a whole buffer).
    let parentOffset: Int

    fileprivate init(mem: cl_mem, count: Int, sizeClass: Int, owner: DeviceID, allocator: OpenCLAllocator, parent: CLBuffer? = nil, parentOffset: Int = 0) {
        self.mem = mem
        self.count = count
        self.sizeClass = sizeClass
        self.owner = owner
        self.allocator = allocator
        self.parent = parent
        self.parentOffset = parentOffset
    }

    deinit {
        if parent == nil {
            allocator.recycle(mem, sizeClass: sizeClass, count: count)
        } else {
            allocator.releaseView(mem)
        }
    }
}

/// Bytes of device memory held by one backend's live buffers (scratch included): now, and the
/// most at once since the last reset. Memory tests and benchmarks read it. Memory kept in the
/// allocator's pool for reuse is not counted: no tensor holds it.
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

/// The device memory of one OpenCL backend: memory objects from `clCreateBuffer`, kept in a
/// pool by size class when their buffer dies and lent again to the next request of that class.
///
/// A training step asks for the same sizes every step, so after the first step every request
/// is served from the pool: no `clCreateBuffer`, which costs a driver call and, on a GPU, often
/// a synchronisation. Reuse is safe in queue order: the backend has one in-order queue, so a
/// command that uses a recycled buffer is enqueued after every command that used it before.
/// Size classes step by an eighth of a power of two (at most 12.5% of a buffer unused). The
/// pool keeps at most `poolLimit` bytes; when the device runs out of memory, the pool is
/// emptied and the allocation tried once more (as tinygrad's LRU allocator does).
final class OpenCLAllocator: @unchecked Sendable {
    let library: OpenCLLibrary
    let context: cl_context
    let info: OpenCLDeviceInfo
    let ledger = AllocationLedger()
    /// The most bytes the pool keeps: a quarter of the device's memory, at most 4 GiB.
    let poolLimit: Int
    /// Taken around every release of a memory object (and around giving a buffer back) where
    /// the implementation's calls must be serialised process-wide (`OpenCLCallLock`).
    let releaseLock: NSRecursiveLock?
    /// The alignment a view's start must have, in elements (CL_DEVICE_MEM_BASE_ADDR_ALIGN).
    let viewAlignment: Int

    private let poolLock = NSLock()
    private var free: [Int: [cl_mem]] = [:]
    private var pooled = 0

    init(library: OpenCLLibrary, context: cl_context, device: cl_device_id?, info: OpenCLDeviceInfo, releaseLock: NSRecursiveLock?) {
        self.library = library
        self.context = context
        self.info = info
        self.releaseLock = releaseLock
        let memory = info.globalMemoryBytes > 0 ? info.globalMemoryBytes : 1 << 30
        poolLimit = min(memory / 4, 4 << 30)
        let alignBits = Int(library.deviceValue(device, CL_DEVICE_MEM_BASE_ADDR_ALIGN, as: cl_uint.self))
        viewAlignment = max(alignBits / 8 / MemoryLayout<Float>.stride, 1)
    }

    deinit {
        let held = poolLock.withLock { () -> [cl_mem] in
            defer { free.removeAll() }
            return free.values.flatMap { $0 }
        }
        for mem in held { release(mem) }
    }

    /// Bytes kept in the pool now.
    var pooledBytes: Int { poolLock.withLock { pooled } }

    /// The size class (in bytes) of a buffer of `bytes`: 256 bytes at least, then steps of an
    /// eighth of the power of two at or below the size.
    static func sizeClass(bytes: Int) -> Int {
        guard bytes > 256 else { return 256 }
        let power = 1 << (Int.bitWidth - 1 - bytes.leadingZeroBitCount)
        let step = max(power / 8, 256)
        return (bytes + step - 1) / step * step
    }

    /// A buffer of `count` floats, from the pool when one of its size class is free. Callers
    /// hold the backend's lock.
    func allocate(count: Int, purpose: String) throws -> CLBuffer {
        guard count >= 0 else { throw ScalpelError.invalidArgument("buffer size \(count) is negative") }
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        if info.maxAllocationBytes > 0 && bytes > info.maxAllocationBytes {
            throw ScalpelError.outOfMemory(device: "\(info.id) (\(info.name))", bytes: bytes,
                                           detail: "\(purpose) exceeds the device's largest allocation, CL_DEVICE_MAX_MEM_ALLOC_SIZE = \(formatBytes(info.maxAllocationBytes))")
        }
        // A class above the device's largest allocation falls back to the exact size.
        var sizeClass = OpenCLAllocator.sizeClass(bytes: bytes)
        if info.maxAllocationBytes > 0 && sizeClass > info.maxAllocationBytes { sizeClass = bytes }
        let reused: cl_mem? = poolLock.withLock {
            guard let mem = free[sizeClass]?.popLast() else { return nil }
            pooled -= sizeClass
            return mem
        }
        let mem = try reused ?? create(bytes: sizeClass, purpose: purpose)
        ledger.add(bytes)
        return CLBuffer(mem: mem, count: count, sizeClass: sizeClass, owner: info.id, allocator: self)
    }

    /// A new memory object; on running out of memory, empties the pool and tries once more.
    private func create(bytes: Int, purpose: String) throws -> cl_mem {
        var status: cl_int = 0
        if let mem = library.api.clCreateBuffer(context, cl_mem_flags(CL_MEM_READ_WRITE), bytes, nil, &status), status == CL_SUCCESS {
            if Profiler.isEnabled { Profiler.shared.recordAllocation(bytes: bytes) }
            return mem
        }
        if CLErrorNames.isOutOfMemory(status) && pooledBytes > 0 {
            trim()
            if let mem = library.api.clCreateBuffer(context, cl_mem_flags(CL_MEM_READ_WRITE), bytes, nil, &status), status == CL_SUCCESS {
                if Profiler.isEnabled { Profiler.shared.recordAllocation(bytes: bytes) }
                return mem
            }
        }
        throw CLErrorNames.error("clCreateBuffer", status, "allocating \(formatBytes(bytes)) for \(purpose)", device: "\(info.id) (\(info.name))",
                                 bytes: bytes)
    }

    /// A view of `count` elements of `parent` from element `offset` (a sub-buffer): kernels see
    /// it as a buffer of its own. `offset` must be a multiple of `viewAlignment`.
    func view(of parent: CLBuffer, offset: Int, count: Int) throws -> CLBuffer {
        guard offset >= 0, count >= 0, offset + count <= parent.count else {
            throw ScalpelError.shapeMismatch(op: "view", detail: "\(count) elements from \(offset) exceed a buffer of \(parent.count)")
        }
        guard offset % viewAlignment == 0 else {
            throw ScalpelError.invalidArgument("a view must start at a multiple of \(viewAlignment) elements on \(info.id) (CL_DEVICE_MEM_BASE_ADDR_ALIGN), not \(offset)")
        }
        let root = parent.parent ?? parent
        let start = parent.parentOffset + offset
        var region = cl_buffer_region(origin: start * MemoryLayout<Float>.stride, size: max(count, 1) * MemoryLayout<Float>.stride)
        var status: cl_int = 0
        guard let mem = library.api.clCreateSubBuffer(root.mem, cl_mem_flags(CL_MEM_READ_WRITE), cl_buffer_create_type(CL_BUFFER_CREATE_TYPE_REGION),
                                                      &region, &status), status == CL_SUCCESS else {
            throw ScalpelError.openCL(call: "clCreateSubBuffer", code: status, name: CLErrorNames.name(status),
                                      context: "a view of \(count) elements at \(start) of a buffer of \(root.count)")
        }
        return CLBuffer(mem: mem, count: count, sizeClass: 0, owner: info.id, allocator: self, parent: root, parentOffset: start)
    }

    /// Takes back the memory of a dead buffer: into the pool, or released when the pool is full.
    func recycle(_ mem: cl_mem, sizeClass: Int, count: Int) {
        let keep = { [self] () -> Bool in
            ledger.remove(max(count, 1) * MemoryLayout<Float>.stride)
            return poolLock.withLock {
                guard pooled + sizeClass <= poolLimit else { return false }
                free[sizeClass, default: []].append(mem)
                pooled += sizeClass
                return true
            }
        }
        // Under the process-wide lock where there is one: a buffer dropped on another thread
        // must not race a launch that the lock's holder is making with the same memory.
        let kept = releaseLock.map { lock in lock.withLock(keep) } ?? keep()
        if !kept { release(mem) }
    }

    /// Releases a view's memory object (its parent's memory stays).
    func releaseView(_ mem: cl_mem) {
        if let releaseLock {
            releaseLock.withLock { _ = library.api.clReleaseMemObject(mem) }
        } else {
            _ = library.api.clReleaseMemObject(mem)
        }
    }

    /// Releases every memory object in the pool.
    func trim() {
        let held = poolLock.withLock { () -> [cl_mem] in
            defer {
                free.removeAll()
                pooled = 0
            }
            return free.values.flatMap { $0 }
        }
        for mem in held { release(mem) }
    }

    private func release(_ mem: cl_mem) {
        if let releaseLock {
            releaseLock.withLock { _ = library.api.clReleaseMemObject(mem) }
        } else {
            _ = library.api.clReleaseMemObject(mem)
        }
        if Profiler.isEnabled { Profiler.shared.recordRelease() }
    }
}
