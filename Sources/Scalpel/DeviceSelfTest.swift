import ScalpelCPU
import ScalpelCore
import ScalpelOpenCL

/// The small check run when a device is opened: a few GEMMs on the device against the Swift
/// reference, to catch driver miscompiles before they corrupt a training run.
public struct DeviceSelfTest: Sendable {
    /// Whether the device may be used.
    public var passed: Bool
    /// One line: what ran and how close it came, or what went wrong.
    public var summary: String

    /// Runs the quick GEMM cases on `device` with its default kernels.
    public static func run(on device: OpenCLBackend) -> DeviceSelfTest {
        var worst: GEMMCheck?
        for testCase in GEMMCases.quick {
            let (a, b, c) = testCase.data()
            let result: [Float]
            do {
                result = try device.gemm(testCase.parameters, a: a, b: b, c: c)
            } catch {
                return DeviceSelfTest(passed: false, summary: "gemm \(testCase) failed: \(error)")
            }
            let check = GEMMCheck.check(testCase.parameters, a: a, b: b, c0: c, result: result)
            if !check.passed {
                return DeviceSelfTest(passed: false, summary: "gemm \(testCase) gave wrong results (\(check))")
            }
            if worst == nil || check.worstRatio > worst!.worstRatio { worst = check }
        }
        let fallback = Diagnostics.shared.fallbackCounts["gemm"].map { _ in " (gemm itself fell back to the CPU)" } ?? ""
        return DeviceSelfTest(passed: true, summary: "passed: gemm \(GEMMCases.quick.map(\.description).joined(separator: "; ")), \(worst.map { "\($0)" } ?? "")\(fallback)")
    }
}
