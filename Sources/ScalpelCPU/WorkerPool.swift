import Foundation

/// A fixed set of worker threads that sleep on a condition variable between jobs.
///
/// Workers block rather than spin: on a shared 2-core machine a spinning pool loses 5–20×
/// as soon as another process holds a core. The calling thread takes part as worker 0, so a
/// pool of `size` runs `size - 1` threads. Jobs do not nest and do not queue: a caller that
/// finds the pool busy (another thread's job, or a job calling back into the pool) runs its
/// job on its own thread alone.
public final class WorkerPool: @unchecked Sendable {
    /// Participants in a job, the caller included.
    public let size: Int

    private let condition = NSCondition()
    private let busy = NSLock()
    private var generation = 0
    private var job: ((Int, Int) -> Void)?
    private var participants = 0
    private var pending = 0

    /// A pool of `size` participants (at least 1).
    public init(size: Int) {
        self.size = max(1, size)
        for worker in 1 ..< self.size {
            // Workers hold the pool strongly: a pool lives as long as the process.
            let thread = Thread { self.workerLoop(worker) }
            thread.name = "scalpel-worker-\(worker)"
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    /// Runs `body(t, count)` for t in 0..<count on `count` threads, the caller running t = 0,
    /// and returns when all have finished. `count` is `threads` (at most `size`), or 1 when the
    /// pool is busy, in which case the caller runs `body(0, 1)` alone.
    public func run(threads requested: Int, _ body: (_ thread: Int, _ count: Int) -> Void) {
        let threads = min(max(1, requested), size)
        guard threads > 1, busy.try() else {
            body(0, 1)
            return
        }
        defer { busy.unlock() }
        withoutActuallyEscaping(body) { escapable in
            condition.lock()
            job = escapable
            participants = threads
            pending = threads - 1
            generation += 1
            condition.broadcast()
            condition.unlock()

            escapable(0, threads)

            condition.lock()
            while pending > 0 { condition.wait() }
            job = nil
            condition.unlock()
        }
    }

    private func workerLoop(_ worker: Int) {
        var seen = 0
        while true {
            condition.lock()
            while generation == seen { condition.wait() }
            seen = generation
            let participates = worker < participants
            let count = participants
            condition.unlock()
            guard participates else { continue }
            runJob(worker, count)
            condition.lock()
            pending -= 1
            if pending == 0 { condition.broadcast() }
            condition.unlock()
        }
    }

    /// Calls the current job. A separate, non-inlined function so that its reference to the
    /// job is gone before the worker reports done: run() checks, when its
    /// withoutActuallyEscaping scope ends, that the closure did not escape.
    @inline(never)
    private func runJob(_ worker: Int, _ count: Int) {
        condition.lock()
        let body = job
        condition.unlock()
        body?(worker, count)
    }
}

/// A reusable barrier for the participants of one `WorkerPool` job. Blocking, like the pool.
public final class Barrier: @unchecked Sendable {
    private let condition = NSCondition()
    private let count: Int
    private var waiting = 0
    private var phase = 0

    /// A barrier for `count` threads; with `count` ≤ 1, `wait()` returns at once.
    public init(count: Int) { self.count = count }

    /// Returns once `count` threads have called `wait()` in this phase.
    public func wait() {
        if count <= 1 { return }
        condition.lock()
        let myPhase = phase
        waiting += 1
        if waiting == count {
            waiting = 0
            phase += 1
            condition.broadcast()
        } else {
            while phase == myPhase { condition.wait() }
        }
        condition.unlock()
    }
}
