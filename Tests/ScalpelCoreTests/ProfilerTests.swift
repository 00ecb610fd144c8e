import Foundation
import ScalpelTestSupport
import Testing
@testable import ScalpelCore

/// The profiler's arithmetic on an instance of its own (the backends record to the shared one,
/// which the command-line tests below check in processes of their own).
@Suite struct ProfilerCountingTests {
    @Test func theSteadyStateIsEveryStepAfterTheFirstAndNothingBetweenSteps() throws {
        let profiler = Profiler()
        profiler.recordLaunch("warm-up", backend: "opencl")
        profiler.recordProgramBuild(fromCache: false, seconds: 0.5)
        for step in 0 ..< 4 {
            profiler.stepBegan()
            // The first step launches and allocates more (programs, caches); the rest 3 launches each.
            for _ in 0 ..< (step == 0 ? 10 : 3) { profiler.recordLaunch("gemm", backend: "opencl") }
            let steady = profiler.recordLaunch("adam_step", backend: "opencl")
            #expect(steady == (step > 0), "step \(step)")
            profiler.recordTime("adam_step", backend: "opencl", nanoseconds: 2_000_000, steady: steady)
            profiler.recordAllocation(bytes: 1024)
            profiler.recordRelease()
            profiler.recordTransfer(.hostToDevice, bytes: 400, blocking: true)
            profiler.stepEnded()
            // Between steps (a validation pass, a loss read): in the run, not in the steps.
            profiler.recordTransfer(.deviceToHost, bytes: 4, blocking: true)
            profiler.recordQueueDrain()
        }
        let snapshot = profiler.snapshot()
        #expect(snapshot.steps == 4 && snapshot.steadySteps == 3)
        let perStep = try #require(snapshot.perStep)
        #expect(perStep.launches == 4)
        #expect(perStep.allocations == 1 && perStep.releases == 1)
        #expect(perStep.hostToDevice.count == 1 && perStep.hostToDevice.bytes == 400 && perStep.hostToDevice.blocking == 1)
        #expect(perStep.deviceToHost.count == 0 && perStep.queueDrains == 0)
        #expect(snapshot.total.launches == 1 + 10 + 4 + 3 * 3)
        #expect(snapshot.total.deviceToHost.count == 4 && snapshot.total.queueDrains == 4 && snapshot.total.programBuilds == 1)
        let kernels = snapshot.kernelsPerStep
        #expect(kernels.map(\.name) == ["adam_step", "gemm"], "most time first")
        #expect(kernels[0].launchesPerStep == 1 && kernels[0].msPerStep == 2)
        #expect(kernels[1].launchesPerStep == 3 && kernels[1].msPerStep == nil, "gemm had no timed launch")
        let table = snapshot.table()
        #expect(table.contains("mean of 3 steady-state steps"))
        #expect(table.contains("kernel launches  4.0"))
        #expect(table.contains("adam_step"))
        let json = try #require(try JSONSerialization.jsonObject(with: try snapshot.json()) as? [String: Any])
        #expect((json["perStep"] as? [String: Any])?["launches"] as? Double == 4)
        #expect(json["steadySteps"] as? Int == 3)
    }

    @Test func deviceTimeReadLaterCountsForTheStepThatLaunchedIt() throws {
        let profiler = Profiler()
        var flags: [Bool] = []
        for _ in 0 ..< 3 {
            profiler.stepBegan()
            flags.append(profiler.recordLaunch("conv", backend: "opencl"))
            profiler.stepEnded()
        }
        // Events are read at the next queue drain, after the steps ended.
        for flag in flags { profiler.recordTime("conv", backend: "opencl", nanoseconds: 1_000_000, steady: flag) }
        let snapshot = profiler.snapshot()
        #expect(snapshot.kernelsPerStep.first?.msPerStep == 1)
        #expect(snapshot.total.kernels.values.first?.nanoseconds == 3_000_000)
    }

    @Test func withoutStepsTheTableShowsTheWholeRun() {
        let profiler = Profiler()
        profiler.recordLaunch("fill", backend: "cpu")
        let snapshot = profiler.snapshot()
        #expect(snapshot.perStep == nil && snapshot.kernelsPerStep.isEmpty)
        #expect(snapshot.table().contains("Whole run:"))
        #expect(snapshot.table().contains("fill"))
    }
}

/// `--profile`, `SCALPEL_PROFILE=1` and `bench step --json`, each in a process of its own.
@Suite struct ProfilerCommandTests {
    struct StepResult: Decodable {
        struct Transfers: Decodable { var count: Double; var bytes: Double; var blocking: Double }
        struct PerStep: Decodable {
            var launches: Double
            var allocations: Double
            var releases: Double
            var hostToDevice: Transfers
            var deviceToHost: Transfers
            var queueDrains: Double
        }
        struct Kernel: Decodable { var name: String; var launchesPerStep: Double; var msPerStep: Double? }
        var model: String
        var backend: String
        var batchSize: Int
        var msPerStep: Double
        var perStep: PerStep
        var kernels: [Kernel]
    }

    func benchStep(_ arguments: [String]) throws -> [StepResult] {
        let dir = try makeTemporaryDirectory()
        let json = dir.appending(path: "step.json").path
        let result = try runScalpel(["bench", "step", "--samples", "1", "--json", json] + arguments)
        #expect(result.status == 0, "\(result.stderr)")
        return try JSONDecoder().decode([StepResult].self, from: Data(contentsOf: URL(fileURLWithPath: json)))
    }

    @Test func benchStepCountsEveryOpOfTheStepOnTheCPU() throws {
        let results = try benchStep(["--model", "mlp", "--device", "cpu"])
        let r = try #require(results.first)
        #expect(results.count == 1 && r.model == "mlp" && r.backend == "cpu" && r.batchSize == 32)
        #expect(r.msPerStep > 0)
        #expect(r.perStep.launches > 20)
        #expect(r.kernels.reduce(0) { $0 + $1.launchesPerStep } == r.perStep.launches)
        // A step frees what it allocates: no growth in the steady state.
        #expect(r.perStep.allocations == r.perStep.releases)
        // Nothing crosses in a step: dropout masks are drawn on the backend, batches gathered
        // there from the resident data; the loss is read outside the step.
        #expect(r.perStep.hostToDevice.count == 0 && r.perStep.deviceToHost.count == 0)
        #expect(r.kernels.allSatisfy { $0.msPerStep != nil }, "wall time per op on the CPU-Swift backend")
        #expect(Set(r.kernels.map(\.name)).isSuperset(of: ["gemm", "optimizer adam", "crossEntropy", "relu"]))
    }

    @Test func benchStepOnOpenCLCountsLaunchesAndWithProfileDeviceTime() throws {
        guard openCLAvailable() else { return }
        let plain = try #require(try benchStep(["--model", "mlp", "--device", "cl"]).first)
        #expect(plain.backend.hasPrefix("cl:"))
        #expect(plain.kernels.contains { $0.name == "adam_step" })
        #expect(plain.kernels.allSatisfy { $0.msPerStep == nil }, "no profiling events without --profile")
        #expect(plain.perStep.hostToDevice.blocking == plain.perStep.hostToDevice.count, "OpenCL writes block")
        let profiled = try #require(try benchStep(["--model", "mlp", "--device", "cl", "--profile"]).first)
        #expect(profiled.perStep.launches == plain.perStep.launches)
        #expect(profiled.kernels.allSatisfy { ($0.msPerStep ?? -1) >= 0 }, "device time from profiling events")
    }

    /// The allocator's pool lends freed memory again: after the first step (which allocates what
    /// every later step needs), a convolutional step makes no device allocation and frees none.
    @Test func noDeviceAllocationAfterTheFirstStep() throws {
        guard openCLAvailable() else { return }
        let cnn = try #require(try benchStep(["--model", "cnn", "--batch-size", "8", "--device", "cl"]).first)
        #expect(cnn.perStep.allocations == 0 && cnn.perStep.releases == 0, "\(cnn.perStep.allocations) allocations per step")
    }

    @Test func trainWithProfileWritesProfileJSONAndATable() throws {
        let dir = try makeTemporaryDirectory()
        for (name, arguments, environment) in [("flag", ["--profile"], [String: String?]()), ("env", [], ["SCALPEL_PROFILE": "1"])] {
            let out = dir.appending(path: name)
            let result = try runScalpel(["train", "--data", dataPath("wdbc.csv"), "--epochs", "2", "--device", "cpu", "--out", out.path] + arguments, environment: environment)
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stderr.contains("Per training step, mean of"))
            let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: out.appending(path: "profile.json"))) as? [String: Any])
            // WDBC's training split at batch 32: 13 steps an epoch.
            let steps = try #require(json["steps"] as? Int)
            #expect(steps == 26)
            #expect(json["steadySteps"] as? Int == steps - 1)
            let perStep = try #require(json["perStep"] as? [String: Any])
            #expect((perStep["launches"] as? Double ?? 0) > 20)
            #expect(!(json["kernelsPerStep"] as? [Any] ?? []).isEmpty)
        }
        let plain = try runScalpel(["train", "--data", dataPath("wdbc.csv"), "--epochs", "1", "--device", "cpu", "--out", dir.appending(path: "plain").path])
        #expect(plain.status == 0)
        #expect(!plain.stderr.contains("Per training step"))
        #expect(!FileManager.default.fileExists(atPath: dir.appending(path: "plain/profile.json").path))
    }
}
