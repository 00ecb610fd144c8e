import Foundation
import ScalpelTestSupport
import Testing

/// A kernel that asks a device for more than it allows is an error naming the kernel, what it
/// asks for and the device's limit — checked on Oclgrind, whose largest work-group can be set.
@Suite struct KernelLimitTests {
    /// An ICD folder holding only Oclgrind, or nil when it is not installed.
    static func oclgrindVendors() throws -> URL? {
        let library = "/usr/lib/oclgrind/liboclgrind-rt-icd.so"
        guard FileManager.default.fileExists(atPath: library) else { return nil }
        let folder = try makeTemporaryDirectory("scalpel-oclgrind-icd")
        try (library + "\n").write(to: folder.appending(path: "oclgrind.icd"), atomically: true, encoding: .utf8)
        return folder
    }

    @Test func aWorkGroupLargerThanTheKernelMayUseNamesTheKernelAndTheLimit() throws {
        guard let vendors = try Self.oclgrindVendors() else { return }
        let cache = try makeTemporaryDirectory("scalpel-cache")
        defer {
            try? FileManager.default.removeItem(at: vendors)
            try? FileManager.default.removeItem(at: cache)
        }
        // Work-groups of at most 8 work-items: the GEMM kernels are launched in groups of 16
        // (packing) and 256 (the tiled GEMM of a GPU-type device).
        let result = try runScalpel(["selftest", "--quick", "--device", "cl", "--family", "gemm"],
                                    environment: ["OCL_ICD_VENDORS": vendors.path, "OCLGRIND_MAX_WGSIZE": "8", "XDG_CACHE_HOME": cache.path,
                                                  "SCALPEL_DEVICE": nil])
        #expect(result.status == 1, "\(result.stderr)")
        let limit = /kernel (gemm_\w+) does not fit cl:0:0 \(Oclgrind Simulator\): it is launched in work-groups of [0-9×]+ = (\d+) work-items, and this device runs it in at most 8 \(CL_KERNEL_WORK_GROUP_SIZE\)/
        let match = try #require(result.stderr.firstMatch(of: limit), "\(result.stderr)")
        #expect(Int(match.2)! > 8)
        // The self-test rows of those kernels fail with the same words.
        #expect(result.stdout.contains("does not fit cl:0:0") && result.stdout.contains("FAIL"), "\(result.stdout)")
    }
}
