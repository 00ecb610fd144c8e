import ArgumentParser
import Foundation
import Scalpel
import ScalpelCore

struct SelfTestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "selftest",
        abstract: "Check every kernel on the chosen device against the Swift reference at edge shapes.",
        discussion: "Prints one row per kernel and shape and exits non-zero if any fails. With --device auto the OpenCL device auto picks is tested; the fast CPU-Swift kernels are always tested.")

    @OptionGroup var options: DeviceOptions

    @Flag(help: "Only the few quick cases run when a device is opened.")
    var quick = false

    func run() throws {
        try runReportingErrors {
            let runtime = try options.runtime()
            print("Device \(runtime.spec): \(runtime.explanation)")
            print("")
            let header = [pad("kernel", 18), pad("device", 8), pad("shape", 40), pad("max abs err", 12), pad("max rel err", 12), "result"]
            print(header.joined(separator: " "))
            var failures = 0
            let rows = KernelSelfTestSuite.run(contenders: KernelSelfTestSuite.contenders(for: runtime),
                                               cases: quick ? GEMMCases.quick : GEMMCases.all) { row in
                if !row.passed { failures += 1 }
                print([pad(row.kernel, 18), pad(row.device, 8), pad(row.shape, 40), pad(format(row.maxAbsError), 12),
                       pad(format(row.maxRelError), 12), row.passed ? "pass" : "FAIL \(row.note)"].joined(separator: " "))
            }
            print("")
            print("\(rows.count - failures) passed, \(failures) failed")
            let fallbacks = Diagnostics.shared.fallbackCounts
            if !fallbacks.isEmpty {
                print("operations that ran on the CPU-Swift backend instead of the device: "
                    + fallbacks.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", "))
            }
            if failures > 0 { throw ExitCode(1) }
        }
    }
}

func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
}

func format(_ value: Double) -> String {
    value.isNaN ? "-" : String(format: "%.2e", value)
}
