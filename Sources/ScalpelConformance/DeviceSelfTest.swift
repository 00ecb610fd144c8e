import ScalpelCPU
import ScalpelCore
import ScalpelOpenCL

/// The check run when a device is opened: the quick cases of `KernelCases` (a few per kernel
/// family) on the device against the Swift reference, to catch driver miscompiles before they
/// corrupt a training run.
///
/// An operation whose program does not build runs on the CPU-Swift backend with a warning
/// carrying the build log; that does not fail this check (the device still serves the rest),
/// but the summary names it, and `scalpel selftest` fails such a case.
public struct DeviceSelfTest: Sendable {
    /// Whether the device may be used.
    public var passed: Bool
    /// One line: what ran and how close it came, or what went wrong.
    public var summary: String

    /// A result made elsewhere (a device that could not be opened at all fails with its error).
    public init(passed: Bool, summary: String) {
        self.passed = passed
        self.summary = summary
    }

    /// Runs the quick cases on `device` with its default kernels (and each GEMM variant).
    public static func run(on device: OpenCLBackend) -> DeviceSelfTest {
        let cases = KernelCases.quick.filter { $0.applies(to: device) }
        var fallbacks: [String: Int] = [:]
        var worst = 0.0
        for testCase in cases {
            let row = KernelSelfTestSuite.check(testCase, on: device)
            if !row.valuesAgree {
                let what = "\(testCase.name) \(testCase.shape)"
                let failure = row.maxAbsError.isNaN && !row.note.hasPrefix("wrong results") ? "\(what) failed: \(row.note)"
                    : "\(what) gave wrong results (\(row.note.replacingOccurrences(of: "wrong results: ", with: "")))"
                return DeviceSelfTest(passed: false, summary: failure)
            }
            worst = max(worst, row.maxRelError)
            fallbacks.merge(row.fallbacks, uniquingKeysWith: +)
        }
        let families = Set(cases.map(\.family))
        let fellBack = fallbacks.isEmpty ? "" : "; on the CPU instead (a program did not build): "
            + fallbacks.keys.sorted().joined(separator: ", ")
        return DeviceSelfTest(passed: true, summary: "passed: \(cases.count) quick cases of \(families.count) kernel families, "
            + "largest relative error \(KernelSelfTestSuite.short(worst))\(fellBack)")
    }
}
