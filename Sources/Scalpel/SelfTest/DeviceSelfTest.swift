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
        if let failure = attentionCheck(on: device) { return DeviceSelfTest(passed: false, summary: failure) }
        let fallback = Diagnostics.shared.fallbackCounts["gemm"].map { _ in " (gemm itself fell back to the CPU)" } ?? ""
        return DeviceSelfTest(passed: true, summary: "passed: gemm \(GEMMCases.quick.map(\.description).joined(separator: "; ")), \(worst.map { "\($0)" } ?? "")\(fallback); "
            + "attention 2×2×9×8 causal, padded")
    }

    /// The fused attention forward on a small causal, padded case against the Swift reference
    /// kernels: nil when it agrees (max error ≤ 1e-4 of the largest value), else what went wrong.
    static func attentionCheck(on device: OpenCLBackend) -> String? {
        let g = AttentionGeometry(batch: 2, heads: 2, queryLength: 9, keyLength: 9, headSize: 8, causal: true)
        var random = SeededRandom(seed: 17)
        let (q, k, v) = (random.uniformArray(g.queryCount), random.uniformArray(g.keyCount), random.uniformArray(g.keyCount))
        let lengths: [Float] = [9, 5]
        func run(_ backend: any Backend) throws -> [Float] {
            let output = try backend.makeBuffer(count: g.queryCount), lse = try backend.makeBuffer(count: g.rowCount)
            try backend.attention(g, q: try backend.makeBuffer(q), k: try backend.makeBuffer(k), v: try backend.makeBuffer(v),
                                  keyLengths: try backend.makeBuffer(lengths), output: output, logSumExp: lse)
            return try backend.read(output)
        }
        do {
            let (got, want) = (try run(device), try run(CPUBackend(kernels: .reference)))
            let worst = zip(got, want).map { abs($0 - $1) }.max() ?? 0
            let scale = max(want.map(abs).max() ?? 0, 1)
            return worst <= 1e-4 * scale ? nil : "attention gave wrong results (max error \(worst))"
        } catch {
            return "attention failed: \(error)"
        }
    }
}
