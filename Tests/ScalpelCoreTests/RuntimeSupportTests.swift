import Foundation
import Scalpel
import ScalpelCPU
import ScalpelCore
import ScalpelIO
import ScalpelOpenCL
import ScalpelKernelSources
import Synchronization
import ScalpelTestSupport
import Testing

@Suite struct SchedulerTests {
    @Test func picksTheFasterCandidateAndRemembersItOnDisk() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appending(path: "schedule.json")
        let calls = Mutex([String: Int]())
        func candidate(_ id: String, sleep microseconds: UInt32) -> Scheduler.Candidate {
            Scheduler.Candidate(id: id) {
                calls.withLock { $0[id, default: 0] += 1 }
                usleep(microseconds)
            }
        }
        let scheduler = Scheduler(url: url, identity: "test machine")
        #expect(scheduler.choose(key: "gemm k1", measuredShape: "s", candidates: [candidate("slow", sleep: 3000), candidate("fast", sleep: 200)]) == "fast")
        let measured = calls.withLock { $0 }
        #expect(measured["slow", default: 0] > 0 && measured["fast", default: 0] > 0)
        // Remembered: asking again times nothing.
        #expect(scheduler.choose(key: "gemm k1", measuredShape: "s", candidates: [candidate("slow", sleep: 3000), candidate("fast", sleep: 200)]) == "fast")
        #expect(calls.withLock { $0 } == measured)
        // A new process (a new scheduler on the same file) reads the choice back.
        let reloaded = Scheduler(url: url, identity: "test machine")
        #expect(reloaded.entry(for: "gemm k1")?.choice == "fast")
        #expect(reloaded.entry(for: "gemm k1")?.seconds.count == 2)
        // Another machine identity (new driver, changed kernels) measures afresh.
        #expect(Scheduler(url: url, identity: "another machine").entry(for: "gemm k1") == nil)
    }

    /// Choices made inside a training step (the convolution algorithms) bound their cost: with
    /// no minimum sample length each candidate runs a warm-up, a calibration and `samples`
    /// calls — however fast it is — and only the first time a key is met.
    @Test func aBoundedMeasurementRunsEachCandidateAFixedNumberOfTimes() {
        let calls = Mutex([String: Int]())
        func candidate(_ id: String) -> Scheduler.Candidate {
            Scheduler.Candidate(id: id) { calls.withLock { $0[id, default: 0] += 1 } }
        }
        let scheduler = Scheduler(url: nil, identity: "bounded")
        _ = scheduler.choose(key: "conv k", measuredShape: "s", candidates: [candidate("a"), candidate("b"), candidate("c")], samples: 3,
                             minSampleSeconds: 0)
        #expect(calls.withLock { $0 } == ["a": 5, "b": 5, "c": 5])
        _ = scheduler.choose(key: "conv k", measuredShape: "s", candidates: [candidate("a"), candidate("b"), candidate("c")], samples: 3,
                             minSampleSeconds: 0)
        #expect(calls.withLock { $0 } == ["a": 5, "b": 5, "c": 5])
    }

    @Test func aFailingCandidateIsOutOfTheRace() {
        struct Boom: Error {}
        let scheduler = Scheduler(url: nil, identity: "x")
        let choice = scheduler.choose(key: "op", measuredShape: "s", candidates: [
            .init(id: "broken") { throw Boom() }, .init(id: "working") {},
        ])
        #expect(choice == "working")
    }

    @Test func aCorruptScheduleFileIsIgnoredAndReplaced() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appending(path: "schedule.json")
        try Data("{ not json".utf8).write(to: url)
        let scheduler = Scheduler(url: url, identity: "m")
        #expect(scheduler.allEntries.isEmpty)
        _ = scheduler.choose(key: "op", measuredShape: "s", candidates: [.init(id: "a") {}, .init(id: "b") { usleep(2000) }])
        #expect(Scheduler(url: url, identity: "m").entry(for: "op")?.choice == "a")
    }

    @Test func shapeClassesGroupSimilarShapes() {
        #expect(GEMMParameters(m: 200, n: 500, k: 784).shapeClass == "NN m≤256 n≤512 k≤1024")
        #expect(GEMMParameters(m: 256, n: 512, k: 1024).shapeClass == GEMMParameters(m: 129, n: 257, k: 513).shapeClass)
        #expect(GEMMParameters(m: 256, n: 512, k: 1024, transA: true).shapeClass != GEMMParameters(m: 256, n: 512, k: 1024).shapeClass)
        #expect(GEMMParameters(m: 1, n: 1, k: 1, batch: 3).shapeClass == "NN m≤1 n≤1 k≤1 b≤4")
    }
}

@Suite struct WorkerPoolTests {
    @Test func everyThreadRunsOnceAndTheCallerWaits() {
        let pool = WorkerPool(size: 4)
        let seen = Mutex([Int]())
        pool.run(threads: 4) { t, count in
            #expect(count == 4)
            usleep(1000)
            seen.withLock { $0.append(t) }
        }
        #expect(seen.withLock { $0.sorted() } == [0, 1, 2, 3])
    }

    @Test func aNestedOrConcurrentJobRunsAloneOnItsCaller() {
        let pool = WorkerPool(size: 2)
        let inner = Mutex([Int]())
        pool.run(threads: 2) { t, _ in
            if t == 0 {
                pool.run(threads: 2) { u, count in inner.withLock { $0.append(count * 10 + u) } }
            }
        }
        #expect(inner.withLock { $0 } == [10])
    }

    @Test func aBarrierHoldsEveryoneUntilAllArrive() {
        let pool = WorkerPool(size: 3)
        let barrier = Barrier(count: 3)
        let log = Mutex([String]())
        pool.run(threads: 3) { t, _ in
            usleep(UInt32(t) * 2000)
            log.withLock { $0.append("before") }
            barrier.wait()
            log.withLock { $0.append("after") }
        }
        #expect(log.withLock { $0 } == ["before", "before", "before", "after", "after", "after"])
    }
}

@Suite struct FileAndSourceTests {
    @Test func atomicWritesReplaceWholeFilesAndLeaveNoTemporaries() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appending(path: "file.bin")
        try AtomicFile.write(Data("first".utf8), to: url)
        try AtomicFile.write(Data("second, longer".utf8), to: url)
        #expect(try String(contentsOf: url, encoding: .utf8) == "second, longer")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["file.bin"])
        #expect(throws: AtomicFileError.self) { try AtomicFile.write(Data(), to: directory.appending(path: "missing/file")) }
    }

    @Test func embeddedKernelsAreTheFilesInKernels() throws {
        let kernels = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appending(path: "Kernels")
        let files = try FileManager.default.contentsOfDirectory(atPath: kernels.path).filter { $0.hasSuffix(".cl") || $0.hasSuffix(".h") }.sorted()
        #expect(!files.isEmpty)
        #expect(EmbeddedKernels.sources.keys.sorted() == files)
        for file in files {
            #expect(EmbeddedKernels.sources[file] == (try String(contentsOf: kernels.appending(path: file), encoding: .utf8)), "\(file) is stale")
        }
    }

    /// Kernels name op codes (UNARY_RELU …, generated from the Swift enums) instead of writing
    /// the numbers again: a `case <digit>` in a switch over an op code would silently rewire when
    /// an enum gains a case. Built sources carry the definitions and common.h, then the file.
    @Test func kernelsNameTheirOpCodes() throws {
        for file in KernelSources.embeddedNames where file.hasSuffix(".cl") {
            let text = try KernelSources.file(named: file).text
            #expect(text.range(of: #"case\s+[0-9]+\s*:"#, options: .regularExpression) == nil, "\(file) switches on a numeric op code")
            let built = try KernelSources.source(named: file).text
            #expect(built.hasPrefix(KernelOpCodes.definitions) && built.hasSuffix(text) && built.contains("scalpel_sigmoid"))
        }
        #expect(KernelOpCodes.definitions.contains("#define BINARY_GREATER_EQUAL 12\n"))
        for kind in [UnaryOp.allCases.map(\.code), BinaryOp.allCases.map(\.code), ReduceOp.allCases.map(\.code)] {
            #expect(Set(kind).count == kind.count, "codes are distinct")
        }
    }

    @Test func cacheDirectoryFollowsXDGThenHome() {
        #expect(CacheDirectory.root(environment: ["XDG_CACHE_HOME": "/x/cache", "HOME": "/home/u"])?.path == "/x/cache/scalpel")
        #expect(CacheDirectory.root(environment: ["XDG_CACHE_HOME": "relative", "HOME": "/home/u"])?.path == "/home/u/.cache/scalpel")
        #expect(CacheDirectory.root(environment: [:]) == nil)
    }

    @Test func devicesAreRankedGPUFirstThenByThroughput() {
        guard openCLAvailable() else { return }
        let devices = OpenCLInventory.shared.devices
        for (a, b) in zip(devices, devices.dropFirst()) {
            let order: [OpenCLDeviceInfo.Kind] = [.gpu, .accelerator, .cpu, .other]
            #expect(order.firstIndex(of: a.kind)! <= order.firstIndex(of: b.kind)!)
        }
    }
}
