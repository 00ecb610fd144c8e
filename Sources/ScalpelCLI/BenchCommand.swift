import ArgumentParser
import Foundation
import Scalpel
import ScalpelBenchmarks
import ScalpelCPU
import ScalpelCore
import ScalpelIO
import ScalpelOpenCL

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks of Scalpel's kernels.",
        subcommands: [GEMMBenchCommand.self, StepBenchCommand.self, ConvBenchCommand.self, AttentionBenchCommand.self])
}

struct GEMMBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gemm",
        abstract: "GFLOP/s of fp32 GEMM per backend.",
        discussion: """
            Shapes default to n = 256, 512, 1024, 2048, the dense layer 784→512 on a batch of 256 \
            (forward NN, weight gradient TN, input gradient NT) and the convolution weight gradients (NT) of \
            ResNet-18's first stage at batch 32. An OpenCL device is timed with its own choice per shape \
            (what training runs); --all-variants adds each kernel family forced. Each contender gets a warm-up call, then \
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

    @Flag(help: "Also time every OpenCL kernel family (packed, tiled, direct) on every shape, beside the device's own choice.")
    var allVariants = false

    func run() throws {
        try runReportingErrors {
            guard samples >= 1 else { throw ScalpelError.invalidArgument("--samples must be at least 1") }
            let shapeList = try shapes.isEmpty ? GEMMBenchmark.defaultShapes : shapes.map { try GEMMBenchmark.Shape(parsing: $0) }
            let runtime = try options.runtime()
            var contenders: [GEMMBenchmark.Contender] = [.init(name: "cpu-swift \(runtime.cpu.threads)t", backend: runtime.cpu)]
            if let device = runtime.device {
                // What a training step runs: the tuning table's family and its per-shape plan
                // (a CPU device reads small and deep products in place, packs the rest).
                contenders.append(.init(name: "\(device.id) chosen", backend: device, variant: nil))
                for variant in allVariants ? GEMMTuning.Variant.allCases : [] {
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

struct StepBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "step",
        abstract: "Milliseconds per training step of a built-in model, with kernel launches, allocations, transfers and queue drains per step.",
        discussion: """
            The step is the trainer's, with the model's default recipe (batch size, learning rate, gradient clipping, \
            weight average): zero the gradients, forward, cross-entropy, backward, clip, Adam, average. Inputs are the \
            bundled data sets' shapes: BreastMNIST 1×28×28 (cnn, resnet18), ECG5000 1×140 (fcn, transformer, lstm, gru), \
            WDBC's 30 features (mlp). With --device auto both the OpenCL device and the CPU-Swift backend are measured; \
            with cpu or cl only that one. After a warm-up, --samples samples of at least 0.2 s of steps give the median \
            time; then the profiler counts 8 steps after a first one. --profile adds device time per kernel (OpenCL \
            profiling events) and prints the top kernels. bench/step_peers.sh runs PyTorch's step beside it.
            """)

    @OptionGroup var options: DeviceOptions

    @Option(help: ArgumentHelp("The model: \(StepBenchmark.models.joined(separator: ", ")).", valueName: "model"))
    var model = "cnn"

    @Option(help: "Batch size (default: the model's training default).")
    var batchSize: Int?

    @Option(help: "Samples (each at least 0.2 s of steps).")
    var samples = 5

    @Flag(help: "Image models: augment every batch on the backend, as train --augment does.")
    var augment = false

    @Option(help: "Write one JSON object per backend measured to this file.")
    var json: String?

    func run() throws {
        try runReportingErrors {
            guard samples >= 1 else { throw ScalpelError.invalidArgument("--samples must be at least 1") }
            let recipe = try ModelRecipe.named(model)
            let (sample, defaults) = (recipe.benchmarkSample, recipe.defaults)
            if let batchSize, batchSize < 1 { throw ScalpelError.invalidArgument("--batch-size must be at least 1") }
            let workload = StepBenchmark.Workload(model: model, sampleShape: sample.shape, classes: sample.classes,
                                                  batchSize: batchSize ?? defaults.batchSize, learningRate: defaults.learningRate,
                                                  clipNorm: defaults.clipNorm > 0 ? defaults.clipNorm : nil, ema: defaults.ema > 0 ? defaults.ema : nil,
                                                  augment: augment)
            let runtime = try options.runtime()
            let profiled = Profiler.isEnabled
            // auto: the device and the CPU-Swift backend; cpu or cl: that backend alone. The CPU
            // first: PoCL's worker threads stay busy for a while after its kernels and would slow
            // a CPU measurement that follows in the same process.
            let backends: [any Backend] = runtime.spec == .auto ? runtime.backends.reversed() : [runtime.backend]
            let shape = sample.shape.map(String.init).joined(separator: "×")
            print("\(model) training step, batch \(workload.batchSize) of \(shape), \(sample.classes) classes"
                + (workload.clipNorm.map { ", clip norm \($0)" } ?? "") + (workload.ema.map { ", weight average \($0)" } ?? ""))
            var results: [StepBenchmark.Result] = []
            for backend in backends {
                let result = try StepBenchmark.run(workload, on: backend, samples: samples)
                let p = result.perStep
                print(String(format: "%@: %.3f ms per step [%.3f–%.3f] (%@)", result.backend, result.msPerStep, result.msMin, result.msMax, result.device))
                print(String(format: "  per step: %.0f launches, %.0f allocations, host→device %.1f (%.1f blocking), device→host %.1f (%.1f blocking), %.1f queue drains",
                             p.launches, p.allocations, p.hostToDevice.count, p.hostToDevice.blocking, p.deviceToHost.count, p.deviceToHost.blocking, p.queueDrains))
                if profiled { print(result.table.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n")) }
                results.append(result)
            }
            // The tables are printed per backend above.
            Profiler.setEnabled(false)
            if let json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                try AtomicFile.write(try encoder.encode(results), to: URL(fileURLWithPath: json))
                FileHandle.standardError.write(Data("wrote \(json)\n".utf8))
            }
        }
    }
}

struct ConvBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conv",
        abstract: "GFLOP/s of a network's convolutions, forward and forward+backward, per backend and algorithm.",
        discussion: """
            Nominal FLOPs: 2 per multiply-add; forward+backward counts the forward pass plus one pass \
            for the weight gradient, and one more for the input gradient where it is computed (not for \
            the first layer, as in PyTorch where the input needs no gradient). --set cnn: the small \
            CNN's convolutions (batch 64); --set resnet18: ResNet-18's for 28×28 inputs (batch 32). \
            --algorithms all forces each algorithm (im2colGEMM, direct, implicitGEMM, winograd) on \
            every pass in turn, in the same run (on the CPU-Swift backend all but direct, its \
            one-thread reference loop); the default lets the backend choose per pass. \
            bench/conv_peers.sh runs PyTorch's CPU convolutions in the same run.
            """)

    @OptionGroup var options: DeviceOptions

    @Option(help: "Which convolutions: cnn or resnet18.")
    var set = "cnn"

    @Option(help: "chosen (the backend's choice per pass), all, or a comma-separated list of im2colGEMM, direct, implicitGEMM, winograd.")
    var algorithms = "chosen"

    @Option(help: ArgumentHelp("Only the convolutions of the set whose name contains this text (e.g. \"3×3/2 64\"), to time or profile one layer.",
                               valueName: "text"))
    var only: String?

    @Option(help: "Samples (each at least 0.2 s).")
    var samples = 5

    @Option(help: "Write the measurements as JSON to this file.")
    var json: String?

    func run() throws {
        try runReportingErrors {
            var shapes: [TrainingBenchmark.ConvShape]
            switch set {
            case "cnn": shapes = TrainingBenchmark.convShapes
            case "resnet18": shapes = TrainingBenchmark.resnet18ConvShapes
            default: throw ScalpelError.invalidArgument("--set must be cnn or resnet18, not \(set)")
            }
            if let only {
                shapes = shapes.filter { $0.name.contains(only) }
                guard !shapes.isEmpty else { throw ScalpelError.invalidArgument("--only \(only): no convolution of --set \(set) has that in its name") }
            }
            let forced: [ConvAlgorithm?]
            switch algorithms {
            case "chosen": forced = [nil]
            case "all": forced = ConvAlgorithm.allCases
            default:
                forced = try algorithms.split(separator: ",").map { name in
                    guard let algorithm = ConvAlgorithm(rawValue: String(name)) else {
                        throw ScalpelError.invalidArgument("unknown algorithm \(name) (\(ConvAlgorithm.allCases.map(\.rawValue).joined(separator: ", ")))")
                    }
                    return algorithm
                }
            }
            let runtime = try options.runtime()
            var rows: [[String: String]] = []
            for shape in shapes {
                let inputGradient = shape.input[1] > 1
                let forward = shape.forwardFlops
                for backward in [false, true] {
                    let flops = backward ? forward * (inputGradient ? 3 : 2) : forward
                    for backend in runtime.backends.reversed() {
                        // The CPU-Swift backend's direct loop is the reference, not a contender.
                        for algorithm in backend is CPUBackend ? forced.filter({ $0 != .direct }) : forced {
                            let step = try TrainingBenchmark.convStep(on: backend, shape: shape, backward: backward, inputGradient: inputGradient,
                                                                      algorithm: algorithm)
                            let timing = try measure(samples: samples, minSampleSeconds: 0.2, step)
                            let pass = backward ? (inputGradient ? "fwd+bwd (dW, dX)" : "fwd+bwd (dW)") : "fwd"
                            let how = algorithm?.rawValue ?? "chosen"
                            print(String(format: "%@ %@ on %@ (%@): %.3f ms [%.3f–%.3f], %.1f GFLOP/s", shape.name, pass, backend.id.description, how,
                                         timing.median * 1e3, timing.min * 1e3, timing.max * 1e3, flops / timing.median / 1e9))
                            rows.append(["shape": shape.name, "pass": pass, "backend": backend.id.description, "algorithm": how,
                                         "msMedian": String(timing.median * 1e3), "msMin": String(timing.min * 1e3), "msMax": String(timing.max * 1e3),
                                         "gflops": String(flops / timing.median / 1e9)])
                        }
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
