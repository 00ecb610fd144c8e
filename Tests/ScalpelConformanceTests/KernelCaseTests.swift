import Foundation
import Scalpel
@testable import ScalpelConformance
import ScalpelCPU
import ScalpelCore
import ScalpelOpenCL
import ScalpelTestSupport
import Testing

/// Every (backend, case) pair of the table that applies: the same cases `scalpel selftest` runs.
let tableRuns: [(String, KernelCase)] = TensorBackends.names.flatMap { name in
    let backend = try? TensorBackends.backend(name)
    return KernelCases.all.filter { testCase in backend.map { testCase.applies(to: $0) } ?? true }.map { (name, $0) }
}

/// Whether `testCase` runs on an OpenCL device (every case but the CPU-only ones).
func runsOnOpenCL(_ testCase: KernelCase) -> Bool {
    if testCase.cpuOnly { return false }
    if case let .gemm(_, variant) = testCase.check { return variant != nil }
    return true
}

/// Whether `testCase` runs on the CPU-Swift backend (every case but the GEMM ones of one OpenCL variant).
func runsOnCPU(_ testCase: KernelCase) -> Bool {
    if case let .gemm(_, variant) = testCase.check { return variant == nil }
    return true
}

/// The op-case table (`KernelCases`) as `swift test` runs it, and the table's own invariants:
/// every family in the full and the quick selection, every OpenCL kernel claimed by a case.
@Suite struct KernelCaseTests {
    /// Each case forward and backward on each backend against the fp64 reference, exactly as
    /// `scalpel selftest` checks it (a fallback to the CPU fails too).
    @Test(arguments: tableRuns)
    func everyCaseMatchesTheReference(_ backendName: String, _ testCase: KernelCase) throws {
        expectMatchesTheReference(testCase, on: try TensorBackends.backend(backendName), named: backendName)
    }

    @Test func theFullAndTheQuickSelectionsCoverEveryFamilyOnEveryKindOfBackend() {
        for quick in [false, true] {
            let cases = KernelCases.select(quick: quick)
            for family in KernelFamily.allCases {
                let ofFamily = cases.filter { $0.family == family }
                #expect(ofFamily.contains(where: runsOnOpenCL), "quick \(quick): no case of \(family) runs on an OpenCL device")
                #expect(ofFamily.contains(where: runsOnCPU), "quick \(quick): no case of \(family) runs on the CPU-Swift backend")
            }
        }
        // Quick stays quick: a few cases per family and kind of backend.
        for family in KernelFamily.allCases {
            #expect(KernelCases.quick.filter { $0.family == family && runsOnOpenCL($0) }.count <= 6, "\(family) has too many quick cases")
        }
        #expect(KernelCases.select(quick: false, families: [.pooling]).allSatisfy { $0.family == .pooling })
    }

    /// A kernel added to the OpenCL sources without a case fails here: every `__kernel` is
    /// claimed by a case of the full table and by one of the quick subset (which Oclgrind runs),
    /// and every claim names a real kernel.
    @Test func everyOpenCLKernelIsClaimedByACase() throws {
        let inventory = try OpenCLKernelInventory.kernels()
        #expect(inventory.count >= 36, "the parser found only \(inventory.keys.sorted())")
        let claimed = Set(KernelCases.all.flatMap(\.kernels)), quickClaimed = Set(KernelCases.quick.flatMap(\.kernels))
        let kernels = Set(inventory.keys)
        #expect(kernels.subtracting(claimed).isEmpty, "kernels no case claims: \(kernels.subtracting(claimed).sorted())")
        #expect(kernels.subtracting(quickClaimed).isEmpty, "kernels no quick case claims: \(kernels.subtracting(quickClaimed).sorted())")
        #expect(claimed.subtracting(kernels).isEmpty, "claims of kernels that do not exist: \(claimed.subtracting(kernels).sorted())")
        for testCase in KernelCases.all where !runsOnOpenCL(testCase) {
            #expect(testCase.kernels.isEmpty, "\(testCase) never runs on OpenCL, yet claims \(testCase.kernels)")
        }
    }

    @Test func kernelNamesAreFoundPastAttributesAndComments() {
        let source = """
            // __kernel void commented_out(__global float *x) {}
            /* kernel void blocked_out(void) {} */
            #define BLOCK 32
            __kernel void plain(__global float *x, const int n) { x[0] = n; }
            __kernel __attribute__((reqd_work_group_size(BLOCK, 1, 1)))
            void with_attribute(__global const float *q) {}
            kernel void bare_qualifier(void) {}
            float helper(float x) { return x; }
            """
        #expect(OpenCLKernelInventory.kernelNames(in: source) == ["plain", "with_attribute", "bare_qualifier"])
    }

    /// A check that cannot fail is no check: values off by more than the tolerance, a NaN, a
    /// missing value and a thrown error each fail; values within the tolerance pass.
    @Test func theComparisonFailsWrongValuesNaNsAndErrors() {
        func offCase(_ got: [Double]) -> KernelCase {
            .buffers(.elementwise, "deliberately off", shape: "3", kernels: []) { backend in
                let isReference = (backend as? CPUBackend)?.precision == .float64
                return [KernelOutput("values", isReference ? [1, -2, 3] : got)]
            }
        }
        let backend = TensorBackends.cpu
        #expect(KernelSelfTestSuite.check(offCase([1, -2, 3.00001]), on: backend).passed, "within 2e-5 of the largest value")
        for wrong: [Double] in [[1, -2, 3.001], [1, .nan, 3], [1, -2, .infinity], [1, -2]] {
            let row = KernelSelfTestSuite.check(offCase(wrong), on: backend)
            #expect(!row.passed && !row.valuesAgree, "\(wrong) passed")
            #expect(row.note.contains("values"), "\(row.note)")
        }
        let throwing = KernelCase.buffers(.optimizer, "throws", shape: "-", kernels: []) { _ in
            throw ScalpelError.invalidArgument("the kernel refused to launch")
        }
        let row = KernelSelfTestSuite.check(throwing, on: backend)
        #expect(!row.passed && row.note.contains("the kernel refused to launch") && row.maxAbsError.isNaN)
    }

    /// A case that claims a kernel it never launches fails when the profiler counts launches.
    @Test func aClaimTheCaseDoesNotLaunchFailsUnderTheProfiler() throws {
        guard openCLAvailable(), let device = firstDevice else { return }
        var dishonest = try #require(KernelCases.quick.first { $0.family == .elementwise && runsOnOpenCL($0) })
        dishonest.kernels.append("no_such_kernel")
        let wasEnabled = Profiler.isEnabled
        Profiler.setEnabled(true)
        defer { Profiler.setEnabled(wasEnabled) }
        let row = KernelSelfTestSuite.check(dishonest, on: device)
        #expect(!row.passed, "\(row.note)")
        #expect(row.note.contains("claims kernels it did not launch: no_such_kernel"), "\(row.note)")
        let honest = KernelSelfTestSuite.check(try #require(KernelCases.quick.first { $0.family == .elementwise && runsOnOpenCL($0) }), on: device)
        #expect(honest.passed, "\(honest.note)")
    }

    /// The check run when a device opens covers every family, and passes here.
    @Test func theDeviceCheckRunsTheQuickCasesOfEveryFamily() throws {
        guard openCLAvailable(), let device = firstDevice else { return }
        let result = DeviceSelfTest.run(on: device)
        #expect(result.passed, "\(result.summary)")
        #expect(result.summary.contains("of \(KernelFamily.allCases.count) kernel families"), "\(result.summary)")
    }
}
