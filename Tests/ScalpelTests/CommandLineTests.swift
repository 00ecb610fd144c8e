import Foundation
import ScalpelOpenCL
import ScalpelTestSupport
import Testing

/// The fallback paths, exercised as a user meets them: the built `scalpel` binary run in a
/// subprocess with the environment set.
@Suite struct CommandLineTests {
    /// Lines of standard error that announce the CPU-Swift fallback.
    func fallbackLines(_ result: ProcessResult) -> [String] {
        result.stderrLines.filter { $0.contains("running on the CPU-Swift backend") }
    }

    @Test func theBinaryDoesNotLinkOpenCLMPIOrTheImageDecoders() throws {
        let ldd = Process()
        ldd.executableURL = URL(fileURLWithPath: "/usr/bin/ldd")
        ldd.arguments = [scalpelBinary.path]
        let pipe = Pipe()
        ldd.standardOutput = pipe
        try ldd.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        ldd.waitUntilExit()
        #expect(output.contains("libc.so"), "ldd output: \(output)")
        #expect(!output.contains("libOpenCL"), "scalpel must dlopen OpenCL, not link it: \(output)")
        #expect(!output.contains("libmpi"), "scalpel must dlopen MPI (--distributed), not link it: \(output)")
        for decoder in ["libpng", "libturbojpeg", "libjpeg", "libdcm", "libofstd", "ScalpelDICOM"] {
            #expect(!output.contains(decoder), "scalpel must dlopen the image decoders, not link them: \(output)")
        }
    }

    @Test func withoutTheOpenCLLibraryItRunsOnCPUSwiftAndSaysWhyOnce() throws {
        let env = ["SCALPEL_OPENCL_LIBRARY": "/nonexistent/libOpenCL.so.1", "SCALPEL_DEVICE": nil]
        let result = try runScalpel(["selftest", "--quick"], environment: env)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(fallbackLines(result).count == 1, "\(result.stderr)")
        #expect(fallbackLines(result).first?.contains("OpenCL library not found") == true)
        #expect(result.stdout.contains("gemm_fast_swift") && !result.stdout.contains("gemm_packed"))
        let devices = try runScalpel(["devices"], environment: env)
        #expect(devices.status == 0)
        #expect(devices.stdout.contains("OpenCL: unavailable"))
        #expect(devices.stdout.contains("CPU-Swift fallback: in use"))
    }

    @Test func withTheSystemLibraryHiddenItStillStarts() throws {
        // A mount namespace in which libOpenCL.so.1 is an empty file, as on a machine where the
        // library is broken or missing. Needs unshare(1) and the right to mount (root).
        guard let library = OpenCLInventory.shared.library, let path = resolvedLibraryPath(library.path),
              FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare"), getuid() == 0 else { return }
        let script = "mount --bind /dev/null '\(path)' && exec '\(scalpelBinary.path)' selftest --quick"
        let unshare = Process()
        unshare.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        unshare.arguments = ["-m", "--propagation", "private", "sh", "-c", script]
        var env = ProcessInfo.processInfo.environment
        env["SCALPEL_DEVICE"] = nil
        unshare.environment = env
        let out = Pipe(), err = Pipe()
        unshare.standardOutput = out
        unshare.standardError = err
        try unshare.run()
        let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        unshare.waitUntilExit()
        if stderr.contains("mount:") || stderr.contains("unshare:") { return } // not permitted here
        #expect(unshare.terminationStatus == 0, "\(stderr)")
        #expect(stderr.split(separator: "\n").filter { $0.contains("running on the CPU-Swift backend") }.count == 1, "\(stderr)")
        #expect(stdout.contains("passed, 0 failed"))
    }

    /// The file behind a library name as the dynamic loader finds it (through ldconfig's cache).
    func resolvedLibraryPath(_ name: String) -> String? {
        if name.hasPrefix("/") { return name }
        let ldconfig = Process()
        ldconfig.executableURL = URL(fileURLWithPath: "/sbin/ldconfig")
        ldconfig.arguments = ["-p"]
        let pipe = Pipe()
        ldconfig.standardOutput = pipe
        guard (try? ldconfig.run()) != nil else { return nil }
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        ldconfig.waitUntilExit()
        return text.split(separator: "\n").first { $0.contains(name) }
            .flatMap { $0.components(separatedBy: "=> ").last }
    }

    @Test func withoutAPlatformItRunsOnCPUSwiftAndSaysWhyOnce() throws {
        let result = try runScalpel(["selftest", "--quick"], environment: ["OCL_ICD_VENDORS": "/nonexistent", "SCALPEL_DEVICE": nil])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(fallbackLines(result).count == 1, "\(result.stderr)")
        #expect(fallbackLines(result).first?.contains("no OpenCL platform found") == true, "\(result.stderr)")
    }

    /// Training with a program that does not build on the device finishes: those operations
    /// run on the CPU-Swift backend, with one warning carrying the build log, and the run's
    /// summary counts them.
    @Test func trainingWithAProgramThatDoesNotBuildFallsBackPerOperationAndSaysSo() throws {
        guard openCLAvailable() else { return }
        let folder = try editedKernels("loss.cl") { "this is not OpenCL C;\n" + $0 }
        let cache = try makeTemporaryDirectory("scalpel-cache")
        let out = try makeTemporaryDirectory("scalpel-run")
        defer {
            for url in [folder, cache, out] { try? FileManager.default.removeItem(at: url) }
        }
        let result = try runScalpel(["train", "--data", dataPath("wdbc.csv"), "--epochs", "2", "--device", "cl", "--out", out.appending(path: "run").path],
                                    environment: ["SCALPEL_KERNELS": folder.path, "XDG_CACHE_HOME": cache.path, "SCALPEL_DEVICE": nil])
        #expect(result.status == 0, "\(result.stderr)")
        let warnings = result.stderrLines.filter { $0.contains("loss.cl operations run on the CPU-Swift backend instead of cl:") }
        #expect(warnings.count == 1, "one warning: \(result.stderr)")
        #expect(result.stderr.contains("Build log:"), "\(result.stderr)")
        let summary = try #require(result.stdout.split(separator: "\n").first { $0.hasPrefix("Operations that ran on the CPU-Swift backend instead of the device") },
                                   "\(result.stdout)")
        #expect(summary.contains("cross_entropy ×") && summary.contains("cross_entropy backward ×"), "\(summary)")
        // Everything else ran on the device.
        #expect(result.stdout.contains("device cl:0:0"), "\(result.stdout)")
    }

    /// A program that does not build: training runs its operations on the CPU with one warning
    /// carrying the build log, but the self-test fails every case that ran there, quoting the
    /// log in the first such row and naming the operations in each.
    @Test func aKernelThatFailsToBuildFailsTheSelfTestWithTheBuildLog() throws {
        guard openCLAvailable() else { return }
        let kernels = try makeTemporaryDirectory("scalpel-kernels")
        let cache = try makeTemporaryDirectory("scalpel-cache")
        defer {
            try? FileManager.default.removeItem(at: kernels)
            try? FileManager.default.removeItem(at: cache)
        }
        try "__kernel void gemm_packed(__global float *x) { this is not OpenCL C; }\n"
            .write(to: kernels.appending(path: "gemm.cl"), atomically: true, encoding: .utf8)
        for device in ["cl", "auto"] {
            let result = try runScalpel(["selftest", "--quick", "--device", device],
                                        environment: ["SCALPEL_KERNELS": kernels.path, "XDG_CACHE_HOME": cache.path])
            #expect(result.status == 1, "\(device): \(result.stderr)")
            let warnings = result.stderrLines.filter { $0.contains("gemm runs on the CPU-Swift backend instead of cl:") }
            #expect(warnings.count == 1, "\(device): \(result.stderr)")
            let lines = result.stdout.split(separator: "\n").map(String.init)
            let failed = lines.filter { $0.contains(" cl:") && $0.contains("FAIL ran on the CPU-Swift backend instead of cl:") }
            #expect(failed.contains { $0.hasPrefix("gemm ") && $0.contains("gemm_packed") && $0.contains("gemm ×") }, "\(result.stdout)")
            #expect(result.stdout.components(separatedBy: "Build log:").count == 2, "the log is quoted once: \(result.stdout)")
            #expect(result.stdout.contains("gemm.cl failed to build") || result.stdout.contains("gemm.cl (from"), "\(result.stdout)")
            #expect(result.stdout.contains("error"), "the build log names the compiler's error: \(result.stdout)")
            #expect(lines.contains { $0.hasPrefix("softmax ") && $0.contains(" cl:") && $0.hasSuffix("pass") }, "other programs still pass")
            #expect(lines.last?.hasSuffix("passed, \(failed.count) failed") == true, "\(lines.last ?? "")")
        }
    }

    /// A copy of the real gemm.cl in which every fma is 1% off: it builds, and computes wrong.
    func miscompiledKernels() throws -> URL {
        try editedKernels("gemm.cl") { "#define fma(a, b, c) ((a) * (b) * 1.01f + (c))\n" + $0 }
    }

    @Test func aDeviceThatFailsItsSelfTestIsNotUsedByAuto() throws {
        guard openCLAvailable() else { return }
        let kernels = try miscompiledKernels()
        let cache = try makeTemporaryDirectory("scalpel-cache")
        defer {
            try? FileManager.default.removeItem(at: kernels)
            try? FileManager.default.removeItem(at: cache)
        }
        let env = ["SCALPEL_KERNELS": kernels.path, "XDG_CACHE_HOME": cache.path, "SCALPEL_DEVICE": nil]
        let auto = try runScalpel(["selftest", "--quick"], environment: env)
        #expect(auto.status == 0, "\(auto.stderr)")
        #expect(fallbackLines(auto).count == 1, "\(auto.stderr)")
        #expect(fallbackLines(auto).first?.contains("failed its self-test") == true, "\(auto.stderr)")
        #expect(auto.stdout.contains("passed, 0 failed") && !auto.stdout.split(separator: "\n").contains { $0.hasPrefix("gemm ") && $0.contains("gemm_packed") },
                "\(auto.stdout)")
        let forced = try runScalpel(["selftest", "--quick", "--device", "cl:0:0"], environment: env)
        #expect(forced.status == 1)
        #expect(forced.stderr.contains("cannot be used") && forced.stderr.contains("gave wrong results"), "\(forced.stderr)")
        // The self-test still checks the refused device, and shows which kernels are wrong.
        #expect(forced.stdout.split(separator: "\n").contains { $0.contains("gemm_packed") && $0.contains("FAIL wrong results") }, "\(forced.stdout)")
    }

    @Test func aMiscompiledAttentionKernelFailsTheSelfTest() throws {
        guard openCLAvailable() else { return }
        // A forward kernel whose softmax runs 5% hot: it builds, and gives wrong probabilities.
        let folder = try editedKernels("attention.cl") { $0.replacingOccurrences(of: "exp(s[jj] - mNew)", with: "exp(1.05f * (s[jj] - mNew))") }
        let cache = try makeTemporaryDirectory("scalpel-cache")
        defer {
            try? FileManager.default.removeItem(at: folder)
            try? FileManager.default.removeItem(at: cache)
        }
        let forced = try runScalpel(["selftest", "--quick", "--device", "cl:0:0"],
                                    environment: ["SCALPEL_KERNELS": folder.path, "XDG_CACHE_HOME": cache.path, "SCALPEL_DEVICE": nil])
        #expect(forced.status == 1)
        #expect(forced.stderr.contains("cannot be used: self-test attention") && forced.stderr.contains("gave wrong results"), "\(forced.stderr)")
        let failed = forced.stdout.split(separator: "\n").filter { $0.contains(" cl:") && $0.contains("FAIL wrong results") }
        #expect(!failed.isEmpty && failed.allSatisfy { $0.hasPrefix("attention ") }, "only attention fails: \(forced.stdout)")
    }

    @Test(arguments: [["--device", "gpu"], ["--device", "cl:9:9"], ["--device", "cl:0"]])
    func anInvalidDeviceIsAClearErrorListingTheValidValues(_ arguments: [String]) throws {
        let result = try runScalpel(["devices"] + arguments)
        #expect(result.status == 2, "\(result.stderr)")
        #expect(result.stderr.contains("invalid device '\(arguments[1])'"), "\(result.stderr)")
        #expect(result.stderr.contains("Valid values: auto, cpu"), "\(result.stderr)")
        if let device = OpenCLInventory.shared.devices.first {
            #expect(result.stderr.contains("\(device.id) (\(device.name))"), "\(result.stderr)")
        }
    }

    @Test func theEnvironmentChoosesTheDeviceAndIsValidatedToo() throws {
        let cpu = try runScalpel(["devices"], environment: ["SCALPEL_DEVICE": "cpu"])
        #expect(cpu.status == 0)
        #expect(cpu.stdout.contains("Device cpu: --device cpu"))
        let bogus = try runScalpel(["devices"], environment: ["SCALPEL_DEVICE": "bogus"])
        #expect(bogus.status == 2)
        #expect(bogus.stderr.contains("from SCALPEL_DEVICE"), "\(bogus.stderr)")
    }

    @Test func programsAreCachedAndCorruptOrStaleEntriesRebuilt() throws {
        guard openCLAvailable() else { return }
        let cache = try makeTemporaryDirectory("scalpel-cache")
        defer { try? FileManager.default.removeItem(at: cache) }
        let env = ["XDG_CACHE_HOME": cache.path]
        let arguments = ["selftest", "--quick", "--device", "cl:0:0", "--verbose"]
        let first = try runScalpel(arguments, environment: env)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stderr.contains("gemm.cl for cl:0:0: compiled from embedded source"), "\(first.stderr)")
        let programs = cache.appending(path: "scalpel/programs")
        // One entry per program and option set the self-test builds (gemm.cl has two: its tile
        // variants); this test works on one of gemm.cl's.
        let files = try FileManager.default.contentsOfDirectory(atPath: programs.path).filter { $0.hasSuffix(".clbin") }.sorted()
        let gemmEntries = try files.filter { try Data(contentsOf: programs.appending(path: $0)).range(of: Data("key: file=gemm.cl".utf8)) != nil }
        try #require(!gemmEntries.isEmpty, "cache entries: \(files)")
        let entry = programs.appending(path: gemmEntries[0])
        let second = try runScalpel(arguments, environment: env)
        #expect(second.stderr.contains("loaded from the program cache"), "\(second.stderr)")

        let good = try Data(contentsOf: entry)
        var corrupt = good
        corrupt[corrupt.count - 10] ^= 0xFF
        try corrupt.write(to: entry)
        let third = try runScalpel(arguments, environment: env)
        #expect(third.status == 0)
        #expect(third.stderr.contains("is corrupt (digest mismatch); rebuilding it"), "\(third.stderr)")
        #expect(third.stderr.contains("compiled from embedded source"))
        let again = try runScalpel(arguments, environment: env)
        #expect(again.stderr.contains("loaded from the program cache"), "the rebuilt entry replaced the corrupt one: \(again.stderr)")

        try good.prefix(good.count / 2).write(to: entry)
        let fourth = try runScalpel(arguments, environment: env)
        #expect(fourth.status == 0 && fourth.stderr.contains("is truncated"), "\(fourth.stderr)")

        let stale = String(decoding: good, as: UTF8.self).replacingOccurrences(of: "key: file=gemm.cl", with: "key: file=old.cl")
        try Data(stale.utf8).write(to: entry)
        let fifth = try runScalpel(arguments, environment: env)
        #expect(fifth.status == 0 && fifth.stderr.contains("is stale"), "\(fifth.stderr)")
    }

    @Test func convBenchmarkTimesOnlyTheNamedLayers() throws {
        let one = try runScalpel(["bench", "conv", "--set", "cnn", "--only", "32→64", "--device", "cpu", "--samples", "1"])
        #expect(one.status == 0, "\(one.stderr)")
        let lines = one.stdout.split(separator: "\n").filter { $0.contains("GFLOP/s") }
        #expect(lines.count == 2 && lines.allSatisfy { $0.hasPrefix("conv 3×3 32→64") }, "\(one.stdout)")
        let none = try runScalpel(["bench", "conv", "--set", "cnn", "--only", "7×7", "--device", "cpu", "--samples", "1"])
        #expect(none.status != 0 && none.stderr.contains("--only 7×7"), "\(none.stderr)")
    }

    @Test func measuredSchedulingChoicesAreCachedAndShown() throws {
        guard openCLAvailable() else { return }
        let cache = try makeTemporaryDirectory("scalpel-cache")
        defer { try? FileManager.default.removeItem(at: cache) }
        let env = ["XDG_CACHE_HOME": cache.path, "SCALPEL_DEVICE": nil]
        let bench = try runScalpel(["bench", "gemm", "--shapes", "48x40x56", "--samples", "1", "--verbose"], environment: env)
        #expect(bench.status == 0, "\(bench.stderr)")
        #expect(bench.stderr.contains("scheduler: gemm NN m≤64 n≤64 k≤64 →"), "\(bench.stderr)")
        let devices = try runScalpel(["devices"], environment: env)
        #expect(devices.stdout.contains("gemm NN m≤64 n≤64 k≤64 → "), "\(devices.stdout)")
        let schedules = try FileManager.default.contentsOfDirectory(atPath: cache.appending(path: "scalpel/schedule").path)
        #expect(schedules.count == 1 && schedules[0].hasPrefix("schedule-"))
        // A forced device is not scheduled.
        let cpu = try runScalpel(["devices", "--device", "cpu"], environment: env)
        #expect(!cpu.stdout.contains("Scheduling choices"))
    }
}
