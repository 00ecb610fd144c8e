import COpenCL
import Foundation
import ScalpelCore

/// The execution status of launched kernels, checked once their results have been waited for.
///
/// clEnqueueNDRangeKernel returning CL_SUCCESS says only that the launch was valid. A kernel
/// that fails while it runs — a GPU trapping an out-of-bounds access, a watchdog ending a long
/// kernel, resources that run out at dispatch — shows that in its event alone:
/// CL_EVENT_COMMAND_EXECUTION_STATUS becomes a negative error code instead of CL_COMPLETE,
/// while clFinish and a later blocking read may still return CL_SUCCESS and hand back whatever
/// the output buffer held. So each launch's event is recorded here (with the kernel's name and
/// global size), and after every wait on the in-order queue — clFinish, a blocking read or
/// write, after which every earlier command has completed or failed — `check()` reads each
/// recorded status, releases the finished events, and throws for the first failed launch.
///
/// On a queue created with profiling, the device time of each finished launch goes to the
/// profiler (credited to the step that launched it) before its event is released.
///
/// Not thread-safe: the backend's lock is held for every call. Oclgrind reports faults on
/// stderr and always completes its events, so under it this finds nothing; its log is checked
/// instead (scripts/opencl_implementations.sh).
final class LaunchStatusLog {
    /// A launch whose event is still held.
    private struct Launch {
        let event: cl_event
        let name: String
        let global: [Int]
        /// With the profiler on: whether the launch belongs to a steady-state step.
        let steady: Bool?
    }

    private let library: OpenCLLibrary
    private var pending: [Launch] = []
    /// Launches recorded without a wait in between before finished ones are checked and
    /// released without waiting (a long chain of launches holds at most this many events).
    let checkpointCount: Int

    /// Whether events carry profiling times (the queue was created with profiling).
    let readsDeviceTime: Bool

    /// Launches held at most: past it, recording waits for the oldest half to finish. Each
    /// unreleased event keeps its command — and the buffers it used — alive in some drivers
    /// (PoCL among them), so a host far ahead of the device would otherwise hold every buffer a
    /// run of steps freed: a ResNet-18 benchmark on PoCL grew to 24 GB and was killed.
    let maxPending: Int

    init(library: OpenCLLibrary, checkpointCount: Int = 256, maxPending: Int = 1024, readsDeviceTime: Bool = false) {
        self.library = library
        self.maxPending = max(maxPending, 1)
        self.readsDeviceTime = readsDeviceTime
        self.checkpointCount = max(checkpointCount, 1)
    }

    deinit {
        for launch in pending { _ = library.api.clReleaseEvent(launch.event) }
    }

    /// Events held now (launches not yet seen finished).
    var pendingCount: Int { pending.count }

    /// Takes ownership of `event`, the event of a launch of `name` over `global` (`steady`:
    /// what the profiler said of it, nil when it is off). Every `checkpointCount` launches,
    /// checks those already finished (throwing for a failed one); with `maxPending` held, waits
    /// for the oldest half first.
    func record(_ event: cl_event, name: String, global: [Int], steady: Bool? = nil) throws {
        pending.append(Launch(event: event, name: name, global: global, steady: steady))
        guard pending.count % checkpointCount == 0 || pending.count >= maxPending else { return }
        try check()
        if pending.count >= maxPending {
            var oldest = pending.prefix(max(pending.count / 2, 1)).map { Optional($0.event) }
            let status = library.api.clWaitForEvents(cl_uint(oldest.count), &oldest)
            // A failed launch makes the wait fail too: the check names it.
            try check()
            if status != CL_SUCCESS && status != CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST {
                throw ScalpelError.openCL(call: "clWaitForEvents", code: status, name: CLErrorNames.name(status),
                                          context: "waiting for \(oldest.count) launches to finish")
            }
        }
    }

    /// Reads the status of every recorded launch: a completed one is released; one still
    /// queued or running stays recorded; the first failed one throws `ScalpelError.openCL`
    /// (with the launch's status, name and global size) after every finished event has been
    /// released. A failed status query throws too. With `wait`, first waits for every
    /// recorded launch (the profiler's flush, at the end of a run).
    func check(wait: Bool = false) throws {
        if wait && !pending.isEmpty {
            var events = pending.map { Optional($0.event) }
            _ = library.api.clWaitForEvents(cl_uint(events.count), &events)
        }
        var failure: ScalpelError?
        var unfinished: [Launch] = []
        for launch in pending {
            var status: cl_int = CL_QUEUED
            let query = library.api.clGetEventInfo(launch.event, cl_event_info(CL_EVENT_COMMAND_EXECUTION_STATUS),
                                                   MemoryLayout<cl_int>.size, &status, nil)
            if query != CL_SUCCESS {
                failure = failure ?? .openCL(call: "clGetEventInfo", code: query, name: CLErrorNames.name(query),
                                             context: "reading the execution status of \(launch.name) over \(launch.global)")
            } else if status > CL_COMPLETE {
                unfinished.append(launch)
                continue
            } else if status < 0 {
                failure = failure ?? .openCL(call: "kernel execution", code: status, name: CLErrorNames.name(status),
                                             context: "\(launch.name) over \(launch.global) failed while running; its outputs, and those of the launches after it, are not valid")
            } else if readsDeviceTime, let steady = launch.steady {
                var start: cl_ulong = 0, end: cl_ulong = 0
                let a = library.api.clGetEventProfilingInfo(launch.event, cl_profiling_info(CL_PROFILING_COMMAND_START), 8, &start, nil)
                let b = library.api.clGetEventProfilingInfo(launch.event, cl_profiling_info(CL_PROFILING_COMMAND_END), 8, &end, nil)
                if a == CL_SUCCESS && b == CL_SUCCESS && end >= start {
                    Profiler.shared.recordTime(launch.name, backend: "opencl", nanoseconds: UInt64(end - start), steady: steady)
                }
            }
            _ = library.api.clReleaseEvent(launch.event)
        }
        pending = unfinished
        if let failure { throw failure }
    }
}
