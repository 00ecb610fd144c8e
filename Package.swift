// swift-tools-version: 6.1
// Scalpel: a deep-learning training runtime in Swift that runs its kernels on OpenCL devices
// and falls back to pure-Swift CPU kernels. Modules, top to bottom (docs/architecture.md):
//   scalpel (CLI) → ScalpelBenchmarks → Scalpel (runtime, data sets, model recipes, trainer, runs)
//   → ScalpelConformance, ScalpelPrivacy, ScalpelReport, ScalpelONNX → ScalpelMetrics → ScalpelData
//   → ScalpelNN → ScalpelTensor → ScalpelCore (backend protocol) ← ScalpelCPU, ScalpelOpenCL
import Foundation
import PackageDescription

// DICOM is read by DCMTK behind a plugin of Scalpel's own (libScalpelDICOM.so), loaded at run time.
// The plugin is built only where DCMTK's headers are installed (Debian libdcmtk-dev, which
// scripts/setup.sh installs); without them everything else builds and DICOM files are refused
// with what to install.
let dcmtkPrefix = ["/usr", "/usr/local", "/opt/homebrew"].first {
    FileManager.default.fileExists(atPath: "\($0)/include/dcmtk/config/osconfig.h")
}

// The fast Swift kernels are compiled for the haswell level (AVX2 + FMA, what clang calls x86-64-v3): at Swift's default SSE2
// baseline a SIMD fused multiply-add becomes a call to fmaf and runs ~100× slower. Only the
// ScalpelCPUKernels module gets the flag, and ScalpelCPU checks the CPU before calling into it,
// so the binary still starts (on the reference kernels) on an older x86 CPU.
// The AVX-512 GEMM block gets skylake-avx512 (AVX-512 F, BW, CD, DQ and VL: x86-64-v4, a name this
// Swift does not accept) in a module of its own, entered only when the CPU has all of them.
#if arch(x86_64)
let fastKernelFlags: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "haswell", "-Ounchecked"])]
let avx512KernelFlags: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "skylake-avx512", "-Ounchecked"])]
#else
let fastKernelFlags: [SwiftSetting] = [.unsafeFlags(["-Ounchecked"])]
let avx512KernelFlags: [SwiftSetting] = [.unsafeFlags(["-Ounchecked"])]
#endif

let package = Package(
    name: "Scalpel",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "scalpel", targets: ["ScalpelCLI"]),
        // Everything a program needs, with one import: the runtime, data sets, model recipes and
        // the trainer, re-exporting the engine (backends, tensors, layers, optimizers) and metrics.
        .library(name: "Scalpel", targets: ["Scalpel"]),
        // Tensors with autograd, layers, losses and optimizers, without the runtime or the trainer.
        .library(name: "ScalpelNN", targets: ["ScalpelNN"]),
        // Data files (CSV, MedMNIST, NPY, UCR), splits and preprocessing.
        .library(name: "ScalpelData", targets: ["ScalpelData"]),
        // Diagnosis metrics with bootstrap intervals.
        .library(name: "ScalpelMetrics", targets: ["ScalpelMetrics"]),
    ] + (dcmtkPrefix == nil ? [] : [
        // DCMTK behind one C entry point, loaded by the image readers when a DICOM file comes.
        .library(name: "ScalpelDICOM", type: .dynamic, targets: ["ScalpelDICOM"]),
    ]),
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", "3.0.0"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-numerics", from: "1.0.0"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.19"),
        // ONNX export: the runtime library only; the code generated from onnx.proto is committed.
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        // `swift package generate-documentation` (scripts/docs.sh): the DocC catalogs.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.4.0"),
    ],
    targets: [
        // OpenCL entry points resolved with dlopen at run time; headers only at build time.
        .target(name: "COpenCL", linkerSettings: [.linkedLibrary("dl")]),
        // CPU feature and model queries (cpuid).
        .target(name: "CScalpelSystem"),
        // Open MPI entry points resolved with dlopen at run time (data-parallel training).
        .target(name: "CScalpelMPI", linkerSettings: [.linkedLibrary("dl")]),
        // PNG (libpng), JPEG (TurboJPEG) and DICOM (the ScalpelDICOM plugin) decoders resolved
        // with dlopen at run time.
        .target(name: "CScalpelImageCodecs", linkerSettings: [.linkedLibrary("dl")]),

        // Backend protocol, device specifications, GEMM parameters, scheduler, caches.
        .target(
            name: "ScalpelCore",
            dependencies: ["ScalpelIO", .product(name: "Crypto", package: "swift-crypto")]),

        // Hot SIMD loops, compiled for AVX2+FMA; entered only through ScalpelCPU.
        .target(name: "ScalpelCPUKernels", swiftSettings: fastKernelFlags),
        // The GEMM's register block for AVX-512 (skylake-avx512); entered only through ScalpelCPU.
        .target(name: "ScalpelCPUKernelsAVX512", swiftSettings: avx512KernelFlags),

        // The pure-Swift backend: reference kernels (the truth) and fast kernels on a blocking pool.
        .target(
            name: "ScalpelCPU",
            dependencies: ["ScalpelCore", "ScalpelCPUKernels", "ScalpelCPUKernelsAVX512", "CScalpelSystem", .product(name: "Numerics", package: "swift-numerics")]),

        // The OpenCL C sources of Kernels/, embedded at build time by the EmbedKernels plugin.
        .executableTarget(name: "KernelEmbedder"),
        .plugin(name: "EmbedKernels", capability: .buildTool(), dependencies: ["KernelEmbedder"]),
        .target(name: "ScalpelKernelSources", plugins: ["EmbedKernels"]),

        // Scalpel's version and git commit, generated at build time by the EmbedBuildInfo plugin.
        .executableTarget(name: "BuildInfoEmbedder"),
        .plugin(name: "EmbedBuildInfo", capability: .buildTool(), dependencies: ["BuildInfoEmbedder"]),
        .target(name: "ScalpelBuildInfo", plugins: ["EmbedBuildInfo"]),

        // The OpenCL backend: loader, devices, program cache, buffers, kernel launches.
        .target(
            name: "ScalpelOpenCL",
            dependencies: ["ScalpelCore", "ScalpelCPU", "ScalpelIO", "COpenCL", "ScalpelKernelSources"]),

        // Tensors on any backend, reverse-mode autograd above the backends.
        .target(name: "ScalpelTensor", dependencies: ["ScalpelCore"]),

        // Modules, layers, losses, optimizers, schedules, safetensors checkpoints.
        .target(name: "ScalpelNN", dependencies: ["ScalpelTensor", "ScalpelIO"]),

        // The backend conformance matrix: every op case checked against the CPU reference on any
        // backend (the self-test a device passes before use, `scalpel selftest`, the test suite).
        .target(name: "ScalpelConformance", dependencies: ["ScalpelCore", "ScalpelCPU", "ScalpelOpenCL", "ScalpelTensor"]),

        // What users program against (one import): the runtime (device resolution), data sets
        // prepared for training, the model recipes, the trainer and a run's folder, explanations.
        .target(
            name: "Scalpel",
            dependencies: ["ScalpelCore", "ScalpelCPU", "ScalpelOpenCL", "ScalpelTensor", "ScalpelNN", "ScalpelIO", "ScalpelData",
                           "ScalpelMetrics", "ScalpelReport", "ScalpelPrivacy", "ScalpelConformance", "CScalpelMPI", "ScalpelBuildInfo",
                           "ScalpelONNX"]),

        // ONNX export: a graph builder over the types generated from ONNX's onnx.proto
        // (scripts/generate_onnx_proto.sh) and each layer's evaluation-mode nodes.
        .target(
            name: "ScalpelONNX",
            dependencies: ["ScalpelNN", "ScalpelTensor", "ScalpelCore", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            exclude: ["Proto"]),

        // Benchmarks of kernels and training steps (`scalpel bench`).
        .target(name: "ScalpelBenchmarks", dependencies: ["Scalpel"]),

        // Patient-data protection: de-identification, encryption at rest, the audit trail.
        .target(
            name: "ScalpelPrivacy",
            dependencies: ["ScalpelData", "ScalpelIO", .product(name: "Crypto", package: "swift-crypto"),
                           .product(name: "CryptoExtras", package: "swift-crypto")]),

        // A mutation fuzzer for every file parser (scripts/fuzz.sh); not part of the product.
        .executableTarget(name: "scalpel-fuzz", dependencies: ["ScalpelIO", "ScalpelData", "ScalpelCore"], path: "Sources/ScalpelFuzz"),

        .executableTarget(
            name: "ScalpelCLI",
            dependencies: ["Scalpel", "ScalpelBenchmarks", .product(name: "ArgumentParser", package: "swift-argument-parser")]),

        // Files with no dependencies: atomic, private writes and safetensors checkpoints.
        .target(name: "ScalpelIO"),
        // Data files and their preparation: CSV tables, MedMNIST .npz and .npy arrays, UCR signals,
        // stratified splits, imputation, standardisation, and the errors that name file, line and column.
        .target(name: "ScalpelData", dependencies: ["ScalpelIO", "ScalpelCore", "CScalpelImageCodecs", .product(name: "ZIPFoundation", package: "ZIPFoundation")]),
        // Diagnosis metrics: AUROC, sensitivity, specificity, calibration, curves, decision
        // thresholds and bootstrap intervals (checked against scikit-learn).
        .target(name: "ScalpelMetrics", dependencies: ["ScalpelData", "ScalpelCore"]),
        // Self-contained reports: SVG charts (curves, signals, heatmaps), PNG images, HTML pages.
        .target(name: "ScalpelReport", dependencies: ["ScalpelMetrics", "ScalpelData"]),

        // Helpers the test targets share (running the built `scalpel`, the first OpenCL device).
        .target(name: "ScalpelTestSupport", dependencies: ["ScalpelCore", "ScalpelCPU", "ScalpelOpenCL", "ScalpelTensor", "ScalpelConformance"], path: "Tests/ScalpelTestSupport"),
        // One test target per module; fixtures are read through #filePath, not bundled.
        .testTarget(name: "ScalpelCoreTests", dependencies: ["ScalpelTestSupport", "Scalpel", "ScalpelBenchmarks"]),
        .testTarget(name: "ScalpelTensorTests", dependencies: ["ScalpelTestSupport", "ScalpelTensor", "ScalpelNN", "ScalpelConformance"]),
        .testTarget(name: "ScalpelNNTests", dependencies: ["ScalpelTestSupport", "Scalpel", "ScalpelConformance"], exclude: ["Fixtures"]),
        .testTarget(name: "ScalpelOpenCLTests", dependencies: ["ScalpelTestSupport", "Scalpel", "ScalpelBenchmarks", "ScalpelConformance"]),
        .testTarget(name: "ScalpelConformanceTests", dependencies: ["ScalpelTestSupport", "Scalpel", "ScalpelConformance"]),
        // The Scalpel module and the `scalpel` command, end to end.
        .testTarget(name: "ScalpelTests", dependencies: ["ScalpelTestSupport", "Scalpel", "ScalpelBenchmarks"]),
        // A user's program: only the Scalpel product, only `import Scalpel`.
        .testTarget(name: "ScalpelLibraryTests", dependencies: ["Scalpel"]),
        .testTarget(name: "ScalpelIOTests", dependencies: ["ScalpelIO"]),
        .testTarget(name: "ScalpelDataTests", dependencies: ["ScalpelData", "ScalpelCore"], exclude: ["Fixtures"]),
        .testTarget(name: "ScalpelMetricsTests", dependencies: ["ScalpelMetrics", "ScalpelData", "ScalpelCore"], exclude: ["Fixtures"]),
        .testTarget(name: "ScalpelReportTests", dependencies: ["ScalpelReport", "ScalpelMetrics", "ScalpelData", "ScalpelCore"]),
        .testTarget(name: "ScalpelPrivacyTests", dependencies: ["ScalpelPrivacy"]),
        .testTarget(name: "ScalpelFuzzTests", dependencies: ["ScalpelIO", "ScalpelData", "ScalpelCore"], exclude: ["Regressions"]),
    ],
    swiftLanguageModes: [.v6]
)

if let dcmtkPrefix {
    package.targets.append(.target(
        name: "ScalpelDICOM",
        // /usr is on the compiler's and the linker's own paths (and -I/usr/include would break C++'s #include_next).
        cxxSettings: [.headerSearchPath("../CScalpelImageCodecs/include")]
            + (dcmtkPrefix == "/usr" ? [] : [.unsafeFlags(["-I\(dcmtkPrefix)/include"])]),
        linkerSettings: ["dcmimage", "dcmimgle", "dcmjpeg", "dcmjpls", "dcmdata", "oflog", "ofstd"].map { .linkedLibrary($0) }
            + (dcmtkPrefix == "/usr" ? [] : [.unsafeFlags(["-L\(dcmtkPrefix)/lib"])])))
}
