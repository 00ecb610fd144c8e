import Foundation
import ScalpelCPU
import ScalpelConformance
import ScalpelCore
import ScalpelOpenCL
import Synchronization

/// The devices a run computes on, resolved from a `DeviceSpec`, and where work goes.
///
/// * `cpu`: the CPU-Swift backend only.
/// * `auto`: the best-ranked OpenCL device that opens and passes its self-test competes with
///   the CPU-Swift backend. A training run times one step of its model on each and trains the
///   whole model on the faster (`TrainingRun.chooseBackend`); a GEMM on its own (`backend(forGEMM:)`,
///   the benchmarks) goes where its shape class measured faster. Each choice is measured once
///   and remembered on disk (see `Scheduler`). With no usable device, everything runs on the
///   CPU-Swift backend and one line says why.
/// * `cl`, `cl:P:D`: that OpenCL device for every operation; an error if it cannot be used.
public final class Runtime: Sendable {
    /// What was asked for.
    public let spec: DeviceSpec
    /// The CPU-Swift backend (always present).
    public let cpu: CPUBackend
    /// The OpenCL device in use, if any.
    public let device: OpenCLBackend?
    /// Why the run computes where it does, in a sentence.
    public let explanation: String
    /// Set when `auto` wanted an OpenCL device and had to use the CPU-Swift backend: the reason.
    public let fallbackReason: String?
    /// Self-test results of every OpenCL device opened while resolving, best-ranked first.
    public let selfTests: [(id: DeviceID, name: String, result: DeviceSelfTest)]
    /// Measured per-operation choices (used with `auto`).
    public let scheduler: Scheduler

    private init(spec: DeviceSpec, cpu: CPUBackend, device: OpenCLBackend?, explanation: String,
                 fallbackReason: String?, selfTests: [(id: DeviceID, name: String, result: DeviceSelfTest)]) {
        self.spec = spec
        self.cpu = cpu
        self.device = device
        self.explanation = explanation
        self.fallbackReason = fallbackReason
        self.selfTests = selfTests
        var identity = "cpu=\(CPUInfo.modelName)/\(cpu.threads)/\(cpu.kernels.rawValue)"
        if let device {
            identity += ";device=\(device.info.cacheIdentity);gemm=\(device.tuning);kernels=\(KernelSources.fingerprint)"
        }
        let directory = CacheDirectory.subdirectory("schedule")
        scheduler = Scheduler(url: directory.map { Scheduler.fileURL(in: $0, identity: identity) }, identity: identity)
    }

    /// Whether every operation runs on the CPU-Swift backend.
    public var cpuOnly: Bool { device == nil }

    // MARK: Opening

    private struct OpenedDevice: @unchecked Sendable {
        let backend: OpenCLBackend?
        let selfTest: DeviceSelfTest
    }

    /// Devices are opened and self-tested once per process.
    private static let opened = Mutex<[DeviceID: OpenedDevice]>([:])

    private static func open(_ info: OpenCLDeviceInfo, inventory: OpenCLInventory) -> OpenedDevice {
        if let known = opened.withLock({ $0[info.id] }) { return known }
        let result: OpenedDevice
        do {
            let backend = try OpenCLBackend(info, inventory: inventory)
            let test = DeviceSelfTest.run(on: backend)
            result = OpenedDevice(backend: test.passed ? backend : nil, selfTest: test)
        } catch {
            result = OpenedDevice(backend: nil, selfTest: DeviceSelfTest(passed: false, summary: "cannot open: \(error)"))
        }
        return opened.withLock { table in
            if let known = table[info.id] { return known }
            table[info.id] = result
            return result
        }
    }

    /// The device `SCALPEL_DEVICE` names (`auto` when it is unset: the best OpenCL device that
    /// passes its self-test, else the CPU-Swift backend), as a program's default.
    public static func open(announce: Bool = true) throws -> Runtime {
        try open(try DeviceSpec.resolve(option: nil, environment: ProcessInfo.processInfo.environment), announce: announce)
    }

    /// The backend to build a model on: the OpenCL device in use, else the CPU-Swift backend.
    public var backend: any Backend { device ?? cpu }

    /// Resolves `spec`. With `auto`, a fallback to the CPU-Swift backend is announced in one line
    /// on standard error (unless `announce` is false). `openAll` also opens and self-tests the
    /// devices auto did not need (for `scalpel devices`).
    public static func open(_ spec: DeviceSpec, inventory: OpenCLInventory = .shared,
                            openAll: Bool = false, announce: Bool = true) throws -> Runtime {
        let cpu = CPUBackend()
        var tests: [(id: DeviceID, name: String, result: DeviceSelfTest)] = []
        func tested(_ info: OpenCLDeviceInfo) -> OpenedDevice {
            let outcome = open(info, inventory: inventory)
            if !tests.contains(where: { $0.id == info.id }) { tests.append((info.id, info.name, outcome.selfTest)) }
            return outcome
        }
        func finish(_ runtime: Runtime) -> Runtime {
            if openAll { for info in inventory.devices { _ = tested(info) } }
            return Runtime(spec: runtime.spec, cpu: runtime.cpu, device: runtime.device, explanation: runtime.explanation,
                           fallbackReason: runtime.fallbackReason, selfTests: tests)
        }
        switch spec {
        case .cpu:
            return finish(Runtime(spec: spec, cpu: cpu, device: nil, explanation: "--device cpu: every operation runs on the CPU-Swift backend",
                                  fallbackReason: nil, selfTests: []))

        case let .openCL(p, d):
            guard let info = inventory.device(.opencl(platform: p, device: d)) else {
                throw ScalpelError.invalidDevice(
                    value: spec.description,
                    reason: inventory.devices.isEmpty ? (inventory.unavailableReason ?? "no OpenCL device") : "no such OpenCL device",
                    valid: inventory.validDeviceValues)
            }
            let outcome = tested(info)
            guard let backend = outcome.backend else {
                throw ScalpelError.deviceUnavailable(device: "\(info.id) (\(info.name))", reason: "self-test \(outcome.selfTest.summary)")
            }
            return finish(Runtime(spec: spec, cpu: cpu, device: backend, explanation: "--device \(spec): every operation runs on \(info.id) (\(info.name))",
                                  fallbackReason: nil, selfTests: []))

        case .auto, .bestOpenCL:
            var rejected: [String] = []
            for (rank, info) in inventory.devices.enumerated() {
                let outcome = tested(info)
                if let backend = outcome.backend {
                    let why = rankReason(info, rank: rank, of: inventory.devices, rejected: rejected)
                    let explanation = spec == .auto
                        ? "auto picks \(info.id) (\(info.name)): \(why); training runs a whole model where one step of it measured faster, on \(info.id) or on the CPU-Swift backend (timed once per model, batch and sample shape, then cached)"
                        : "--device cl picks \(info.id) (\(info.name)): \(why); every operation runs there"
                    return finish(Runtime(spec: spec, cpu: cpu, device: backend, explanation: explanation, fallbackReason: nil, selfTests: []))
                }
                rejected.append("\(info.id) (\(info.name)) failed its self-test: \(outcome.selfTest.summary)")
            }
            let reason = rejected.isEmpty ? (inventory.unavailableReason ?? "no OpenCL device") : rejected.joined(separator: "; ")
            if spec == .bestOpenCL {
                throw ScalpelError.deviceUnavailable(device: "cl", reason: reason)
            }
            if announce {
                Diagnostics.shared.warnOnce(key: "cpu-fallback", "no usable OpenCL device (\(reason)); running on the CPU-Swift backend")
            }
            return finish(Runtime(spec: spec, cpu: cpu, device: nil,
                                  explanation: "auto uses the CPU-Swift backend: \(reason)", fallbackReason: reason, selfTests: []))
        }
    }

    private static func rankReason(_ info: OpenCLDeviceInfo, rank: Int, of devices: [OpenCLDeviceInfo], rejected: [String]) -> String {
        var parts: [String] = []
        if devices.count == 1 {
            parts.append("the only OpenCL device")
        } else {
            parts.append("ranked \(rank + 1) of \(devices.count) (\(info.kind.rawValue); GPUs, then accelerators, then CPU devices, then compute units × clock and memory)")
        }
        if !rejected.isEmpty { parts.append("better-ranked devices failed (\(rejected.joined(separator: "; ")))") }
        parts.append("passed its self-test")
        return parts.joined(separator: ", ")
    }

    // MARK: Where operations run

    /// The backend that runs `p`: with `auto`, the faster of the device and the CPU-Swift backend
    /// for `p`'s shape class, measured once and remembered on disk.
    public func backend(forGEMM p: GEMMParameters) -> any Backend {
        guard let device else { return cpu }
        guard spec == .auto else { return device }
        // The CPU first: PoCL's threads stay busy for a while after its kernels.
        let choice = scheduler.choose(key: "gemm \(p.shapeClass)", measuredShape: p.description, candidates: [
            gemmCandidate(p, on: cpu), gemmCandidate(p, on: device),
        ])
        return choice == device.id.description ? device : cpu
    }

    /// Every backend in play, the device first.
    public var backends: [any Backend] {
        device.map { [$0, cpu] } ?? [cpu]
    }

    private func gemmCandidate(_ p: GEMMParameters, on backend: any Backend) -> Scheduler.Candidate {
        var buffers: (any DeviceBuffer, any DeviceBuffer, any DeviceBuffer)?
        return Scheduler.Candidate(id: backend.id.description) {
            if buffers == nil {
                var random = SeededRandom(seed: 7)
                buffers = (try backend.makeBuffer(random.uniformArray(max(p.requiredCountA, 1))),
                           try backend.makeBuffer(random.uniformArray(max(p.requiredCountB, 1))),
                           try backend.makeBuffer(random.uniformArray(max(p.requiredCountC, 1))))
            }
            try backend.gemm(p, a: buffers!.0, b: buffers!.1, c: buffers!.2)
            try backend.synchronize()
        }
    }

    /// C = alpha·op(A)·op(B) + beta·C on host arrays, on the backend `backend(forGEMM:)` picks.
    public func gemm(_ p: GEMMParameters, a: [Float], b: [Float], c: [Float]) throws -> [Float] {
        let backend = backend(forGEMM: p)
        Diagnostics.shared.note("gemm \(p) runs on \(backend.id)")
        return try backend.gemm(p, a: a, b: b, c: c)
    }
}
