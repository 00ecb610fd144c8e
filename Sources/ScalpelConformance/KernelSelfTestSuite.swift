import Foundation
import ScalpelCPU
import ScalpelCore
import ScalpelOpenCL

/// `scalpel selftest`: the cases of `KernelCases` on the chosen device and on the CPU-Swift
/// backend, each against the float64 Swift reference, one row per case and backend.
///
/// A row fails when the values differ beyond the case's tolerance, when a call throws (an
/// OpenCL error such as CL_INVALID_WORK_GROUP_SIZE or CL_OUT_OF_RESOURCES, a program that
/// builds but lacks a kernel), or when any operation of the case ran on the CPU-Swift backend
/// instead of the device because its program did not build: the note then names the
/// operations and the source file and quotes the build log.
public enum KernelSelfTestSuite {
    /// One case on one backend.
    public struct Row: Sendable {
        /// The case's family.
        public var family: KernelFamily
        /// The case's name ("relu", "gemm_packed", "conv2d direct").
        public var kernel: String
        /// The backend's id ("cl:0:0", "cpu").
        public var device: String
        /// The case's shapes, as the table prints them.
        public var shape: String
        /// The largest |result − reference| over every output.
        public var maxAbsError: Double
        /// The largest error relative to its output's magnitude (GEMM: to the magnitude summed).
        public var maxRelError: Double
        /// Whether the case passed: values within tolerance, no error, nothing ran on the CPU instead.
        public var passed: Bool
        /// Why it failed ("" when it passed).
        public var note: String
        /// Whether the values came out right (false also when the case threw), fallbacks aside.
        public var valuesAgree: Bool
        /// Operations that ran on the CPU-Swift backend instead of the device, with call counts.
        public var fallbacks: [String: Int]
        /// The OpenCL kernels the case claims.
        public var kernels: [String]
    }

    /// The float64 reference every case is compared with.
    public static let reference = CPUBackend(kernels: .reference, precision: .float64)

    /// Runs every case of `cases` that applies to each backend (backend by backend); `report`
    /// sees each row as it is made. The build log of a program that did not build is quoted in
    /// full in the first row it fails, and referred to after; to keep such logs, `run` installs
    /// `WarningTranscript.shared` (warnings still print on standard error).
    public static func run(_ cases: [KernelCase], on backends: [any Backend], report: (Row) -> Void = { _ in }) -> [Row] {
        WarningTranscript.shared.install()
        let quoted = QuotedWarnings()
        var rows: [Row] = []
        for backend in backends {
            for testCase in cases where testCase.applies(to: backend) {
                let row = check(testCase, on: backend, quoted: quoted)
                rows.append(row)
                report(row)
            }
        }
        return rows
    }

    /// Build-failure warnings already quoted in full by an earlier row.
    final class QuotedWarnings: @unchecked Sendable {
        private let lock = NSLock()
        private var seen: Set<String> = []

        /// Whether `warning` is quoted for the first time (and from now on, seen).
        func first(_ warning: String) -> Bool { lock.withLock { seen.insert(warning).inserted } }
    }

    /// One case on one backend against the reference.
    public static func check(_ testCase: KernelCase, on backend: any Backend) -> Row {
        check(testCase, on: backend, quoted: QuotedWarnings())
    }

    static func check(_ testCase: KernelCase, on backend: any Backend, quoted: QuotedWarnings) -> Row {
        var row = Row(family: testCase.family, kernel: testCase.name, device: backend.id.description, shape: testCase.shape,
                      maxAbsError: .nan, maxRelError: .nan, passed: false, note: "", valuesAgree: false, fallbacks: [:], kernels: testCase.kernels)
        let before = Diagnostics.shared.fallbackCounts
        // With the profiler on, the case's claims are checked against what it launched.
        let launchedBefore = Profiler.isEnabled && backend is OpenCLBackend ? openCLLaunches() : nil
        do {
            let comparison = try compare(testCase, on: backend)
            row.maxAbsError = comparison.maxAbsError
            row.maxRelError = comparison.maxRelError
            row.valuesAgree = comparison.passed
            row.note = comparison.detail
        } catch {
            row.note = "\(error)"
        }
        if backend is OpenCLBackend {
            let after = Diagnostics.shared.fallbackCounts
            for (op, count) in after where count > before[op, default: 0] { row.fallbacks[op] = count - before[op, default: 0] }
        }
        if !row.fallbacks.isEmpty {
            row.note = [fallbackNote(row.fallbacks, testCase, device: row.device, quoted: quoted), row.note].filter { !$0.isEmpty }.joined(separator: "; ")
        }
        var honest = true
        if let launchedBefore, row.fallbacks.isEmpty, row.valuesAgree {
            let after = openCLLaunches()
            let missing = testCase.kernels.filter { after[$0, default: 0] <= launchedBefore[$0, default: 0] }
            if !missing.isEmpty {
                honest = false
                row.note = "claims kernels it did not launch: \(missing.joined(separator: ", ")) (a case must launch every kernel it claims)"
            }
        }
        row.passed = row.valuesAgree && row.fallbacks.isEmpty && honest
        return row
    }

    /// Launches of each OpenCL kernel the profiler has counted so far.
    static func openCLLaunches() -> [String: Int] {
        var launches: [String: Int] = [:]
        for kernel in Profiler.shared.snapshot().total.kernels.values where kernel.backend == "opencl" {
            launches[kernel.name, default: 0] += kernel.launches
        }
        return launches
    }

    /// What moved to the CPU, and the warnings that carry the build log of the programs
    /// holding the case's kernels (every build-failure warning when none names them).
    static func fallbackNote(_ fallbacks: [String: Int], _ testCase: KernelCase, device: String, quoted: QuotedWarnings) -> String {
        let ops = fallbacks.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", ")
        var note = "ran on the CPU-Swift backend instead of \(device) (a program did not build): \(ops)"
        let inventory = (try? OpenCLKernelInventory.kernels()) ?? [:]
        let files = Set(testCase.kernels.compactMap { inventory[$0] })
        let buildFailures = WarningTranscript.shared.warnings.filter { $0.contains("CPU-Swift backend instead of \(device)") }
        let relevant = buildFailures.filter { warning in files.contains { warning.contains($0) } }
        let warnings = relevant.isEmpty ? buildFailures : relevant
        if warnings.isEmpty {
            note += WarningTranscript.shared.isInstalled ? "" : " (the build log was printed on standard error, in the warning about it)"
        }
        for warning in warnings {
            let text = warning.replacingOccurrences(of: "scalpel: warning: ", with: "")
            let firstLine = text.split(separator: "\n").first.map(String.init) ?? text
            note += quoted.first(warning) ? "\n    " + text.replacingOccurrences(of: "\n", with: "\n    ")
                : "; " + (firstLine.components(separatedBy: " Build log:").first ?? firstLine) + " (build log above)"
        }
        return note
    }

    /// How close one case came.
    struct Comparison {
        var maxAbsError: Double
        var maxRelError: Double
        var passed: Bool
        var detail: String
    }

    static func compare(_ testCase: KernelCase, on backend: any Backend) throws -> Comparison {
        switch testCase.check {
        case let .gemm(gemmCase, variant):
            let p = gemmCase.parameters
            let (a, b, c) = gemmCase.data()
            let bias = gemmCase.biasData()
            let biasBuffer = try bias.map { try backend.makeBuffer($0) }
            let epilogue = GEMMEpilogue(bias: biasBuffer, relu: gemmCase.relu)
            let result = try backend.gemm(p, a: a, b: b, c: c) { da, db, dc in
                if let variant, let device = backend as? OpenCLBackend {
                    try device.gemm(p, a: da, b: db, c: dc, variant: variant, splits: gemmCase.splits, epilogue: epilogue)
                } else {
                    try backend.gemm(p, a: da, b: db, c: dc, epilogue: epilogue)
                }
            }
            let check = GEMMCheck.check(p, a: a, b: b, c0: c, result: result, bias: bias, relu: gemmCase.relu)
            return Comparison(maxAbsError: check.maxAbsError, maxRelError: check.maxRelError, passed: check.passed,
                              detail: check.passed ? "" : "wrong results: \(check)")
        case let .tensor(op):
            let inputs = op.inputs(seed: testCase.seed)
            let want = op.outputs(of: try op.evaluate(on: reference, inputs: inputs))
            let got = op.outputs(of: try op.evaluate(on: backend, inputs: inputs))
            return compare(got, want, tolerance: testCase.tolerance)
        case let .buffers(body):
            let want = try body(reference)
            let got = try body(backend)
            return compare(got, want, tolerance: testCase.tolerance)
        }
    }

    /// Each output against the reference's: the error relative to the output's largest
    /// reference magnitude (at least 1) must stay within `tolerance`; NaN must match NaN and an
    /// infinity the same infinity.
    static func compare(_ got: [KernelOutput], _ want: [KernelOutput], tolerance: Double) -> Comparison {
        var result = Comparison(maxAbsError: 0, maxRelError: 0, passed: true, detail: "")
        var failures: [String] = []
        guard got.map(\.name) == want.map(\.name) else {
            return Comparison(maxAbsError: .nan, maxRelError: .nan, passed: false,
                              detail: "outputs \(got.map(\.name)) differ from the reference's \(want.map(\.name))")
        }
        for (g, w) in zip(got, want) {
            guard g.values.count == w.values.count else {
                failures.append("\(g.name): \(g.values.count) values, the reference \(w.values.count)")
                continue
            }
            let scale = max(w.values.lazy.filter(\.isFinite).map(Swift.abs).max() ?? 0, 1)
            var worst = 0.0, worstIndex = 0
            for (index, (a, b)) in zip(g.values, w.values).enumerated() {
                let error: Double
                if a == b || (a.isNaN && b.isNaN) {
                    error = 0
                } else if !a.isFinite || !b.isFinite {
                    error = .infinity
                } else {
                    error = Swift.abs(a - b)
                }
                if error > worst { (worst, worstIndex) = (error, index) }
            }
            result.maxAbsError = max(result.maxAbsError, worst)
            result.maxRelError = max(result.maxRelError, worst / scale)
            if worst > tolerance * scale {
                failures.append("\(g.name): max error \(short(worst)) at element \(worstIndex) (got \(g.values[worstIndex]), "
                    + "reference \(w.values[worstIndex])), allowed \(short(tolerance * scale))")
            }
        }
        if !failures.isEmpty {
            result.passed = false
            result.detail = "wrong results: " + failures.joined(separator: "; ")
        }
        return result
    }

    static func short(_ value: Double) -> String { String(format: "%.2e", value) }
}
