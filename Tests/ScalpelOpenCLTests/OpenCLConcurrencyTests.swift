import Foundation
import ScalpelCPU
import ScalpelCore
@testable import ScalpelOpenCL
import ScalpelTensor
import ScalpelTestSupport
import Testing

/// Several backends of one device (each its own context, queue and lock) used from several
/// threads at once, as Swift Testing's parallel tests and a program with two runtimes do.
struct OpenCLConcurrencyTests {
    /// Two backends of the first device run causal attention (2 heads, N = 256, d = 16: eight
    /// work-groups of 64 queries on a GPU-type device) at the same time, two rounds each; every
    /// row of every round equals the CPU's. Oclgrind 21.10, running two launches of different
    /// contexts at once, skips whole work-groups of each (their rows stay 0;
    /// scripts/oclgrind/concurrent_contexts.c); small enough for its CI pass.
    @Test func twoBackendsLaunchingAtOnceComputeEveryRow() throws {
        guard openCLAvailable(), let info = OpenCLInventory.shared.devices.first else { return }
        let (heads, n, d, rounds) = (2, 256, 16, 2)
        var random = SeededRandom(seed: 5)
        let values = (0 ..< 3).map { _ in random.uniformArray(heads * n * d, -1, 1) }
        let want = try causalAttention(values, heads: heads, n: n, d: d, on: TensorBackends.cpu)
        let backends = try (0 ..< 2).map { _ in try OpenCLBackend(info) }
        let results = Results()
        DispatchQueue.concurrentPerform(iterations: backends.count) { index in
            do {
                for round in 0 ..< rounds {
                    results.add("backend \(index), round \(round)", try causalAttention(values, heads: heads, n: n, d: d, on: backends[index]))
                }
            } catch {
                results.fail("backend \(index): \(error)")
            }
        }
        #expect(results.errors.isEmpty, "\(results.errors)")
        #expect(results.outputs.count == backends.count * rounds)
        for (run, got) in results.outputs.sorted(by: { $0.key < $1.key }) {
            let wrongRows = (0 ..< heads * n).filter { i in
                (0 ..< d).contains { c in Swift.abs(got[i * d + c] - want[i * d + c]) > 1e-4 }
            }
            #expect(wrongRows.isEmpty, "\(run): \(wrongRows.count) wrong rows, first \(wrongRows.prefix(8)) (row \(wrongRows.first ?? 0) column 0: \(wrongRows.first.map { got[$0 * d] } ?? 0))")
        }
    }

    /// Backends on an Oclgrind platform share one lock, and a buffer of one is released under
    /// it; backends elsewhere each have their own and release without one.
    @Test func oclgrindBackendsShareOneLock() throws {
        guard openCLAvailable(), let info = OpenCLInventory.shared.devices.first else { return }
        var simulator = info
        simulator.platformName = "Oclgrind"
        let (a, b) = (try OpenCLBackend(simulator), try OpenCLBackend(simulator))
        #expect(a.lock === b.lock)
        if info.platformName != "Oclgrind" {
            let (c, d) = (try OpenCLBackend(info), try OpenCLBackend(info))
            #expect(c.lock !== d.lock)
            #expect(c.bufferReleaseLock == nil)
        }
        // While one thread holds the shared lock, dropping b's last buffer in another waits.
        var buffer: (any DeviceBuffer)? = try b.makeBuffer(count: 1024)
        let held = b.allocatedBytes
        let dropped = DispatchSemaphore(value: 0)
        a.lock.lock()
        let box = Box(buffer!)
        buffer = nil
        Thread.detachNewThread {
            box.drop()
            dropped.signal()
        }
        let waited = dropped.wait(timeout: .now() + 0.3) == .timedOut
        let whileHeld = b.allocatedBytes
        a.lock.unlock()
        if waited { dropped.wait() }
        #expect(waited && whileHeld == held, "the buffer was released while another thread held the lock")
        #expect(b.allocatedBytes == held - 1024 * 4)
    }

    /// Hands the last reference to a buffer to another thread.
    private final class Box: @unchecked Sendable {
        private var buffer: (any DeviceBuffer)?
        init(_ buffer: any DeviceBuffer) { self.buffer = buffer }
        func drop() { buffer = nil }
    }

    private func causalAttention(_ values: [[Float]], heads: Int, n: Int, d: Int, on backend: any Backend) throws -> [Float] {
        let shape = [1, heads, n, d]
        let (q, k, v) = (try Tensor(values[0], shape: shape, on: backend), try Tensor(values[1], shape: shape, on: backend),
                         try Tensor(values[2], shape: shape, on: backend))
        return try Autograd.noGrad { try q.scaledDotProductAttention(key: k, value: v, causal: true) }.array()
    }

    /// What the threads computed, by backend and round.
    private final class Results: @unchecked Sendable {
        private let lock = NSLock()
        private var byRun: [String: [Float]] = [:]
        private var failures: [String] = []

        func add(_ run: String, _ values: [Float]) { lock.withLock { byRun[run] = values } }
        func fail(_ message: String) { lock.withLock { failures.append(message) } }
        var outputs: [String: [Float]] { lock.withLock { byRun } }
        var errors: [String] { lock.withLock { failures } }
    }
}
