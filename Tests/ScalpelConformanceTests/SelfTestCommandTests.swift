import Foundation
import Scalpel
@testable import ScalpelConformance
import ScalpelOpenCL
import ScalpelTestSupport
import Testing

/// `scalpel selftest` as a user runs it: the table on the device, its last line, its filters,
/// and a kernel the device cannot launch.
@Suite struct SelfTestCommandTests {
    /// The rows of a self-test's output that ran on an OpenCL device.
    func deviceRows(_ stdout: String) -> [String] {
        stdout.split(separator: "\n").map(String.init).filter { $0.contains(" cl:") }
    }

    @Test func theQuickSelfTestPassesOnTheDeviceAndCoversEveryFamily() throws {
        guard openCLAvailable() else { return }
        let result = try runScalpel(["selftest", "--quick", "--device", "cl"])
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        let last = try #require(lines.last)
        #expect(last.wholeMatch(of: /\d+ passed, 0 failed/) != nil, "last line: \(last)")
        #expect(lines.filter { $0.contains(" passed, ") && $0.hasSuffix(" failed") }.count == 1, "one summary line")
        let rows = deviceRows(result.stdout)
        for family in KernelFamily.allCases {
            #expect(rows.contains { $0.hasPrefix(family.rawValue + " ") && $0.hasSuffix(" pass") }, "no \(family) row on the device")
        }
        let expected = KernelCases.quick.count(where: runsOnOpenCL) + KernelCases.quick.count(where: runsOnCPU)
        #expect(last.hasPrefix("\(expected) passed"), "\(expected) quick rows expected: \(last)")
    }

    /// With --profile, every case must launch each kernel it claims (the profiler counts them),
    /// so the table's claims stay honest as kernels move.
    @Test func withTheProfilerEveryQuickCaseLaunchesTheKernelsItClaims() throws {
        guard openCLAvailable() else { return }
        let result = try runScalpel(["selftest", "--quick", "--device", "cl", "--profile"])
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
        #expect(!result.stdout.contains("claims kernels it did not launch"), "\(result.stdout)")
        // The OpenCL kernels are counted whether or not they rank among the slowest (the reference
        // checks on the CPU can fill the top of the table on a loaded machine).
        let byBackend = result.stderr.split(separator: "\n").first { $0.hasPrefix("By backend") } ?? ""
        #expect(result.stderr.contains("Whole run:") && byBackend.contains("opencl") && byBackend.contains("cpu"), "the profile: \(result.stderr)")
    }

    @Test func theFamilyOptionSelectsFamiliesAndRejectsUnknownOnes() throws {
        let result = try runScalpel(["selftest", "--quick", "--device", "cpu", "--family", "pooling", "--family", "optimizer"])
        #expect(result.status == 0, "\(result.stderr)")
        let rows = result.stdout.split(separator: "\n").filter { $0.hasSuffix(" pass") || $0.contains(" FAIL ") }
        #expect(!rows.isEmpty && rows.allSatisfy { $0.hasPrefix("pooling ") || $0.hasPrefix("optimizer ") }, "\(result.stdout)")
        let quickCount = KernelCases.select(quick: true, families: [.pooling, .optimizer]).count
        #expect(result.stdout.hasSuffix("\(quickCount) passed, 0 failed\n"), "\(result.stdout)")
        let bogus = try runScalpel(["selftest", "--family", "convolutions", "--device", "cpu"])
        #expect(bogus.status != 0)
        #expect(bogus.stderr.contains("unknown kernel family 'convolutions'") && bogus.stderr.contains("convolution, pooling"), "\(bogus.stderr)")
    }

    /// A program that builds but lacks a kernel the host launches (as when a launch fails on a
    /// device): the cases that need it fail, naming the kernel and the OpenCL error; the rest pass.
    @Test func aKernelTheDeviceCannotLaunchFailsItsCasesByName() throws {
        guard openCLAvailable() else { return }
        let folder = try editedKernels("pool.cl") {
            $0.replacingOccurrences(of: "__kernel void pool2d_backward(", with: "__kernel void pool2d_backward_renamed(")
        }
        let cache = try makeTemporaryDirectory("scalpel-cache")
        defer {
            try? FileManager.default.removeItem(at: folder)
            try? FileManager.default.removeItem(at: cache)
        }
        let result = try runScalpel(["selftest", "--device", "cl:0:0", "--family", "pooling", "--family", "convolution"],
                                    environment: ["SCALPEL_KERNELS": folder.path, "XDG_CACHE_HOME": cache.path, "SCALPEL_DEVICE": nil])
        #expect(result.status == 1)
        let rows = deviceRows(result.stdout)
        let pooling = rows.filter { $0.hasPrefix("pooling ") }, convolution = rows.filter { $0.hasPrefix("convolution ") }
        // The cases whose windows tile the input run pool2d_backward_tiles instead, and pass.
        let failing = pooling.filter { $0.contains("FAIL") }
        #expect(!failing.isEmpty && failing.allSatisfy { $0.contains("pool2d_backward") && $0.contains("CL_INVALID_KERNEL_NAME") }, "\(result.stdout)")
        #expect(pooling.allSatisfy { $0.contains("FAIL") || $0.contains("tiling the input") }, "\(result.stdout)")
        #expect(!convolution.isEmpty && convolution.allSatisfy { $0.hasSuffix(" pass") }, "the other programs still run: \(result.stdout)")
        #expect(result.stdout.hasSuffix("\(result.stdout.split(separator: "\n").count { $0.hasSuffix(" pass") }) passed, \(failing.count) failed\n"))
    }
}
