import ArgumentParser
import Foundation
import Scalpel
import ScalpelCPU
import ScalpelCore
import ScalpelIO
import ScalpelOpenCL

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks of Scalpel's kernels.",
        subcommands: [GEMMBenchCommand.self, MLPBenchCommand.self, CNNBenchCommand.self, ConvBenchCommand.self, AttentionBenchCommand.self])
}

struct GEMMBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gemm",
        abstract: "GFLOP/s of fp32 GEMM per backend.",
        discussion: """
            Shapes default to n = 256, 512, 1024, 2048 and the dense layer 784→512 on a batch of 256 \
            (forward NN, weight gradient TN, input gradient NT). Each contender gets a warm-up call, then \
            --samples samples of at least 0.2 s; the table shows the median and [min–max] GFLOP/s. \
            bench/gemm_peers.sh runs OpenBLAS and CLBlast on the same shapes in the same run.
            """)

    @OptionGroup var options: DeviceOptions

    @Option(help: "Write every measurement as JSON to this file.")
    var json: String?

    @Option(help: "Samples per measurement.")
    var samples = 5

    @Option(parsing: .upToNextOption, help: "Shapes as MxNxK or MxNxK:TN (default: the standard list).")
    var shapes: [String] = []

    @Flag(help: "Also time the OpenCL kernel family the tuning table does not pick for the device.")
    var allVariants = false

    func run() throws {
        try runReportingErrors {
            guard samples >= 1 else { throw ScalpelError.invalidArgument("--samples must be at least 1") }
            let shapeList = try shapes.isEmpty ? GEMMBenchmark.defaultShapes : shapes.map { try GEMMBenchmark.Shape(parsing: $0) }
            let runtime = try options.runtime()
            var contenders: [GEMMBenchmark.Contender] = [.init(name: "cpu-swift \(runtime.cpu.threads)t", backend: runtime.cpu)]
            if let device = runtime.device {
                let variants = allVariants ? GEMMTuning.Variant.allCases : [device.tuning.variant]
                for variant in variants {
                    contenders.append(.init(name: "\(device.id) \(variant.rawValue)", backend: device, variant: variant))
                }
            }
            FileHandle.standardError.write(Data("Device \(runtime.spec): \(runtime.explanation)\n".utf8))
            let results = GEMMBenchmark.run(shapes: shapeList, contenders: contenders, samples: samples) { step in
                if options.verbose { FileHandle.standardError.write(Data("  timing \(step)\n".utf8)) }
            }
            // Where auto sends each shape (measured once per shape class, then remembered).
            var autoPicks: [GEMMBenchmark.Shape: String] = [:]
            if runtime.spec == .auto && !runtime.cpuOnly {
                for shape in shapeList { autoPicks[shape] = runtime.backend(forGEMM: shape.parameters).id.description }
            }
            print("GEMM fp32 GFLOP/s, median [min–max] of \(samples) samples (CPU: \(CPUInfo.modelName))")
            for contender in contenders {
                print("  \(contender.name): \(contender.backend.displayName)\((contender.backend as? OpenCLBackend).map { ", \($0.tuning.variant == contender.variant ? $0.tuning.description : (contender.variant?.rawValue ?? ""))" } ?? "")")
            }
            let width = 24
            print(pad("shape", 20) + contenders.map { pad($0.name, width) }.joined() + (autoPicks.isEmpty ? "" : "auto picks"))
            for shape in shapeList {
                var line = pad(shape.description, 20)
                for contender in contenders {
                    guard let r = results.first(where: { $0.shape == shape && $0.contender == contender.name }) else { continue }
                    if let error = r.error {
                        line += pad("error: \(error.prefix(width - 8))", width)
                    } else {
                        let cell = String(format: "%.1f [%.1f–%.1f]", r.gflopsMedian, r.gflopsMin, r.gflopsMax)
                        line += pad(r.maxRelError > 1e-4 ? cell + " WRONG" : cell, width)
                    }
                }
                print(line + (autoPicks[shape] ?? ""))
            }
            for r in results where r.error != nil {
                print("error: \(r.contender) at \(r.shape): \(r.error!)")
            }
            if let json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
                let data = try encoder.encode(results)
                try AtomicFile.write(data, to: URL(fileURLWithPath: json))
                FileHandle.standardError.write(Data("wrote \(json)\n".utf8))
            }
            if results.contains(where: { $0.error != nil || $0.maxRelError > 1e-4 }) { throw ExitCode(1) }
        }
    }
}

/// Times a training step on each backend of the runtime and prints (and optionally saves) it.
func benchmarkSteps(_ options: DeviceOptions, samples: Int, json: String?, step: (any Backend) throws -> () throws -> Void) throws {
    let runtime = try options.runtime()
    var rows: [[String: String]] = []
    // The CPU first: PoCL's worker threads stay busy for a while after its kernels and would
    // slow a CPU measurement that follows in the same process.
    for backend in runtime.backends.reversed() {
        let run = try step(backend)
        let timing = try measure(samples: samples, minSampleSeconds: 0.2, run)
        print(String(format: "%@: %.3f ms per step [%.3f–%.3f]", backend.id.description, timing.median * 1e3, timing.min * 1e3, timing.max * 1e3)
            + " (\(backend.displayName))")
        rows.append(["backend": backend.id.description, "name": backend.displayName, "msMedian": String(timing.median * 1e3),
                     "msMin": String(timing.min * 1e3), "msMax": String(timing.max * 1e3)])
    }
    if let json {
        try AtomicFile.write(try JSONSerialization.data(withJSONObject: rows, options: [.prettyPrinted, .sortedKeys]), to: URL(fileURLWithPath: json))
    }
}

/// `scalpel bench mlp` and `scalpel bench cnn`: one model's training step per backend.
protocol StepBenchCommand: ParsableCommand {
    var options: DeviceOptions { get }
    var samples: Int { get }
    var json: String? { get }
    static func step(on backend: any Backend) throws -> () throws -> Void
}

extension StepBenchCommand {
    func run() throws {
        try runReportingErrors { try benchmarkSteps(options, samples: samples, json: json, step: Self.step) }
    }
}

struct MLPBenchCommand: StepBenchCommand {
    static let configuration = CommandConfiguration(
        commandName: "mlp",
        abstract: "Milliseconds per MLP training step (batch 256, 30→256→256→2, Adam) per backend.",
        discussion: "bench/step_peers.sh mlp runs PyTorch's CPU step on the same model in the same run.")

    @OptionGroup var options: DeviceOptions
    @Option(help: "Samples (each at least 0.2 s of steps).") var samples = 7
    @Option(help: "Write the measurements as JSON to this file.") var json: String?

    static func step(on backend: any Backend) throws -> () throws -> Void { try TrainingBenchmark.mlpStep(on: backend) }
}

struct CNNBenchCommand: StepBenchCommand {
    static let configuration = CommandConfiguration(
        commandName: "cnn",
        abstract: "Milliseconds per small-CNN training step (batch 64×1×28×28, two conv layers, Adam) per backend.",
        discussion: "bench/step_peers.sh cnn runs PyTorch's CPU step on the same model in the same run.")

    @OptionGroup var options: DeviceOptions
    @Option(help: "Samples (each at least 0.2 s of steps).") var samples = 7
    @Option(help: "Write the measurements as JSON to this file.") var json: String?

    static func step(on backend: any Backend) throws -> () throws -> Void { try TrainingBenchmark.cnnStep(on: backend) }
}

struct ConvBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conv",
        abstract: "GFLOP/s of the small CNN's convolutions, forward and forward+backward, per backend.",
        discussion: """
            Nominal FLOPs: 2 per multiply-add; forward+backward counts the forward pass plus one pass \
            for the weight gradient, and one more for the input gradient where it is computed (not for \
            the first layer, as in PyTorch where the input needs no gradient). bench/conv_peers.sh runs \
            PyTorch's CPU convolutions in the same run.
            """)

    @OptionGroup var options: DeviceOptions

    @Option(help: "Samples (each at least 0.2 s).")
    var samples = 5

    @Option(help: "Write the measurements as JSON to this file.")
    var json: String?

    func run() throws {
        try runReportingErrors {
            let runtime = try options.runtime()
            var rows: [[String: String]] = []
            for (name, shape, out) in TrainingBenchmark.convShapes {
                let inputGradient = shape[1] > 1
                let forward = TrainingBenchmark.convFlops(input: shape, outChannels: out)
                for backward in [false, true] {
                    let flops = backward ? forward * (inputGradient ? 3 : 2) : forward
                    for backend in runtime.backends.reversed() {
                        let step = try TrainingBenchmark.convStep(on: backend, input: shape, outChannels: out, backward: backward,
                                                                  inputGradient: inputGradient)
                        let timing = try measure(samples: samples, minSampleSeconds: 0.2, step)
                        let pass = backward ? (inputGradient ? "fwd+bwd (dW, dX)" : "fwd+bwd (dW)") : "fwd"
                        print(String(format: "%@ %@ on %@: %.3f ms [%.3f–%.3f], %.1f GFLOP/s", name, pass, backend.id.description,
                                     timing.median * 1e3, timing.min * 1e3, timing.max * 1e3, flops / timing.median / 1e9))
                        rows.append(["shape": name, "pass": pass, "backend": backend.id.description, "msMedian": String(timing.median * 1e3),
                                     "msMin": String(timing.min * 1e3), "msMax": String(timing.max * 1e3),
                                     "gflops": String(flops / timing.median / 1e9)])
                    }
                }
            }
            if let json {
                try AtomicFile.write(try JSONSerialization.data(withJSONObject: rows, options: [.prettyPrinted, .sortedKeys]), to: URL(fileURLWithPath: json))
            }
        }
    }
}

struct AttentionBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attention",
        abstract: "Milliseconds and memory of scaled-dot-product attention (fused, or composed of matmul and softmax) per backend.",
        discussion: """
            Shapes are batch×heads×length×head size (self-attention), by default 32x4x128x32, 4x4x1024x32 \
            and 1x4x4096x32. Each pass (forward under noGrad; forward+backward with gradients of q, k and v) \
            gets a warm-up call, then --samples samples of at least 0.2 s. Memory: the process's peak \
            resident size during the measurement (measure one shape and backend per process for a clean \
            figure) and, on an OpenCL device, the most device memory one call added. \
            bench/attention_peers.sh runs PyTorch's composed attention in the same run.
            """)

    @OptionGroup var options: DeviceOptions

    @Option(parsing: .upToNextOption, help: "Shapes as BxHxNxD (default: the standard list).")
    var shapes: [String] = []

    @Option(help: "fused, composed or all.")
    var implementation = "fused"

    @Option(help: "Which backends of the device choice to time: cpu, device (the OpenCL device) or all.")
    var backends = "all"

    @Option(help: "forward, forward+backward or all.")
    var passes = "all"

    @Option(help: "Samples per measurement.")
    var samples = 5

    @Option(help: "Write every measurement as JSON to this file.")
    var json: String?

    func run() throws {
        try runReportingErrors {
            guard samples >= 1 else { throw ScalpelError.invalidArgument("--samples must be at least 1") }
            let shapeList = try shapes.isEmpty ? AttentionBenchmark.defaultShapes : shapes.map { try AttentionBenchmark.Shape(parsing: $0) }
            let implementations = try choice(implementation, "--implementation", as: AttentionBenchmark.Implementation.self)
            let passList = try choice(passes, "--passes", as: AttentionBenchmark.Pass.self)
            let runtime = try options.runtime()
            let chosen: [any Backend]
            switch backends {
            case "all": chosen = runtime.backends.reversed() // the CPU first: PoCL's threads linger after its kernels
            case "cpu": chosen = [runtime.cpu]
            case "device":
                guard let device = runtime.device else {
                    throw ScalpelError.invalidArgument("--backends device: no OpenCL device in use (\(runtime.explanation))")
                }
                chosen = [device]
            default: throw ScalpelError.invalidArgument("--backends must be cpu, device or all, not '\(backends)'")
            }
            var results: [AttentionBenchmark.Result] = []
            for shape in shapeList {
                for backend in chosen {
                    for implementation in implementations {
                        for pass in passList {
                            let r = try AttentionBenchmark.measure(backend, shape: shape, implementation: implementation, pass: pass, samples: samples)
                            let memory = [r.peakRSSBytes.map { "peak RSS \(formatBytes($0))" }, r.devicePeakBytes.map { "device +\(formatBytes($0)) per call" }]
                                .compactMap { $0 }.joined(separator: ", ")
                            print(String(format: "%@ %@ %@ on %@: %.3f ms [%.3f–%.3f]", shape.description, implementation.rawValue, pass.rawValue,
                                         backend.id.description, r.msMedian, r.msMin, r.msMax) + (memory.isEmpty ? "" : ", \(memory)"))
                            results.append(r)
                        }
                    }
                }
            }
            if let json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                try AtomicFile.write(try encoder.encode(results), to: URL(fileURLWithPath: json))
            }
        }
    }

    /// Every case for "all", else the one named.
    private func choice<T: RawRepresentable & CaseIterable>(_ value: String, _ option: String, as type: T.Type) throws -> [T] where T.RawValue == String {
        if value == "all" { return Array(T.allCases) }
        guard let one = T(rawValue: value) else {
            throw ScalpelError.invalidArgument("\(option) must be \(T.allCases.map(\.rawValue).joined(separator: ", ")) or all, not '\(value)'")
        }
        return [one]
    }
}
