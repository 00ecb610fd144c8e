import Foundation

/// Which lock serialises a backend's OpenCL calls.
///
/// The OpenCL API is thread-safe (clSetKernelArg on one kernel object aside), so each backend
/// has a lock of its own, and backends of one device — each its own context and queue — run at
/// the same time. Oclgrind (21.10, the Debian package) is not thread-safe across contexts:
/// - it runs a queue's commands in the thread that waits for them (clFinish, a blocking read
///   or write) and hands out the work-groups of every launch from one process-wide counter
///   (`static atomic<unsigned> nextGroupIndex` in src/core/KernelInvocation.cpp), which each
///   launch resets to 0; two launches at once, from two contexts, take work-groups from each
///   other, and each skips some of its own. The skipped groups' outputs keep what the buffer
///   held (Oclgrind zeroes new buffers): whole blocks of rows read 0.
/// - it keeps what each queued command retains in process-wide std::maps
///   (src/runtime/async_queue.cpp) and counts references of memory objects with plain
///   integers, with no synchronisation.
/// `scripts/oclgrind/concurrent_contexts.c` reproduces the skipped work-groups with two
/// contexts and no Scalpel code. So every backend on an Oclgrind platform shares one
/// process-wide lock, and their buffers are released under it too (a buffer is released by
/// whichever thread drops it last, which holds no backend lock otherwise).
enum OpenCLCallLock {
    /// The lock every backend on an Oclgrind platform shares. Recursive: a buffer released
    /// while the lock is held (a scratch buffer replaced, a backend closed) takes it again.
    private static let processWide = NSRecursiveLock()

    /// Whether `info`'s implementation needs all its OpenCL calls in this process serialised.
    static func isProcessWide(_ info: OpenCLDeviceInfo) -> Bool {
        info.platformName == "Oclgrind"
    }

    /// The lock for a new backend on `info`'s device: the process-wide one where the
    /// implementation needs it, else a lock of the backend's own.
    static func make(for info: OpenCLDeviceInfo) -> NSRecursiveLock {
        isProcessWide(info) ? processWide : NSRecursiveLock()
    }
}

extension OpenCLBackend {
    /// The lock a buffer of this backend takes to release its memory object: nil where the
    /// implementation's clReleaseMemObject is thread-safe.
    var bufferReleaseLock: NSRecursiveLock? {
        OpenCLCallLock.isProcessWide(info) ? lock : nil
    }
}
