import ScalpelCPU
import ScalpelCore
import ScalpelOpenCL

/// `scalpel selftest`: every kernel on the chosen device against the Swift reference at the
/// edge shapes, one row per kernel and shape.
public enum KernelSelfTestSuite {
    public struct Row: Sendable {
        public var kernel: String
        public var device: String
        public var shape: String
        public var maxAbsError: Double
        public var maxRelError: Double
        public var passed: Bool
        public var note: String
    }

    /// What is tested for `runtime`: every kernel family of its OpenCL device, and the fast
    /// CPU-Swift kernels (always, since every run may use them).
    public static func contenders(for runtime: Runtime) -> [GEMMBenchmark.Contender] {
        var list: [GEMMBenchmark.Contender] = []
        if let device = runtime.device {
            for variant in GEMMTuning.Variant.allCases {
                list.append(.init(name: "gemm_\(variant.rawValue)", backend: device, variant: variant))
            }
        }
        list.append(.init(name: "gemm_fast_swift", backend: runtime.cpu))
        return list
    }

    /// Runs `cases` on every contender; `report` sees each row as it is made.
    public static func run(contenders: [GEMMBenchmark.Contender], cases: [GEMMCases.Case] = GEMMCases.all,
                           report: (Row) -> Void = { _ in }) -> [Row] {
        var rows: [Row] = []
        for contender in contenders {
            for testCase in cases {
                let p = testCase.parameters
                let (a, b, c) = testCase.data()
                let row: Row
                do {
                    let result = try contender.backend.gemm(p, a: a, b: b, c: c) { da, db, dc in try contender.gemm(p, da, db, dc) }
                    let check = GEMMCheck.check(p, a: a, b: b, c0: c, result: result)
                    row = Row(kernel: contender.name, device: contender.backend.id.description, shape: testCase.description,
                              maxAbsError: check.maxAbsError, maxRelError: check.maxRelError, passed: check.passed,
                              note: check.passed ? "" : check.description)
                } catch {
                    row = Row(kernel: contender.name, device: contender.backend.id.description, shape: testCase.description,
                              maxAbsError: .nan, maxRelError: .nan, passed: false, note: "\(error)")
                }
                rows.append(row)
                report(row)
            }
        }
        return rows
    }
}
