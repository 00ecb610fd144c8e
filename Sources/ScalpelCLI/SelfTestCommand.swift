import ArgumentParser
import Foundation
import Scalpel
import ScalpelCPU
import ScalpelConformance
import ScalpelCore
import ScalpelOpenCL

struct SelfTestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "selftest",
        abstract: "Check every kernel family on the chosen device against the Swift reference at edge shapes.",
        discussion: """
            Runs the op cases of every kernel family (\(KernelFamily.allCases.map(\.rawValue).joined(separator: ", "))) \
            forward and backward on the OpenCL device and on the CPU-Swift backend, each against the float64 Swift reference. \
            Prints one row per case and backend and ends with one line 'N passed, M failed'; exits non-zero if any case fails. \
            A case fails on wrong values, on an OpenCL error, or when an operation ran on the CPU instead of the device because \
            its program did not build (the row quotes the build log). With --device auto the OpenCL device auto picks is tested.
            """)

    @OptionGroup var options: DeviceOptions

    @Flag(help: "Only the quick cases (a few per family), as run when a device is opened.")
    var quick = false

    @Option(name: .customLong("family"), help: ArgumentHelp("Only this kernel family (repeatable).",
                                                            discussion: "One of: \(KernelFamily.allCases.map(\.rawValue).joined(separator: ", ")).",
                                                            valueName: "name"))
    var families: [String] = []

    func validate() throws {
        for name in families where KernelFamily(rawValue: name) == nil {
            throw ValidationError("unknown kernel family '\(name)'. Valid values: \(KernelFamily.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    func run() throws {
        try runReportingErrors {
            // Before the device opens: its own check may already print a build failure, which
            // the rows then quote.
            WarningTranscript.shared.install()
            let (backends, explanation) = try backendsUnderTest()
            let cases = KernelCases.select(quick: quick, families: families.isEmpty ? nil : Set(families.compactMap(KernelFamily.init(rawValue:))))
            print("Device \(try options.spec()): \(explanation)")
            print("")
            let widths = (family: 12, kernel: 38, device: 7, shape: 44, error: 11)
            print([pad("family", widths.family), pad("case", widths.kernel), pad("device", widths.device), pad("shape", widths.shape),
                   pad("max abs err", widths.error), pad("max rel err", widths.error), "result"].joined(separator: " "))
            var failures = 0
            let started = Date()
            let rows = KernelSelfTestSuite.run(cases, on: backends) { row in
                if !row.passed { failures += 1 }
                print([pad(row.family.rawValue, widths.family), pad(row.kernel, widths.kernel), pad(row.device, widths.device),
                       pad(row.shape, widths.shape), pad(format(row.maxAbsError), widths.error), pad(format(row.maxRelError), widths.error),
                       row.passed ? "pass" : "FAIL \(row.note)"].joined(separator: " "))
            }
            print("")
            let byFamily = Dictionary(grouping: rows, by: \.family)
            print("families: " + KernelFamily.allCases.compactMap { family in
                byFamily[family].map { "\(family) \($0.filter(\.passed).count)/\($0.count)" }
            }.joined(separator: ", ") + String(format: " (%.1f s)", Date().timeIntervalSince(started)))
            if let summary = fallbackSummary() { print(summary) }
            print("\(rows.count - failures) passed, \(failures) failed")
            if failures > 0 { throw ExitCode(1) }
        }
    }
}

extension SelfTestCommand {
    /// The chosen device and the CPU-Swift backend, and how the device was chosen. A device
    /// named explicitly (cl or cl:P:D) that fails the check run at opening, which training
    /// refuses, is tested all the same: the self-test is where to see which kernels fail.
    func backendsUnderTest() throws -> (backends: [any Backend], explanation: String) {
        let spec = try options.spec()
        do {
            let runtime = try Runtime.open(spec)
            return (runtime.backends, runtime.explanation)
        } catch let error as ScalpelError {
            guard case .deviceUnavailable = error else { throw error }
            let inventory = OpenCLInventory.shared
            let info: OpenCLDeviceInfo?
            switch spec {
            case let .openCL(p, d): info = inventory.device(.opencl(platform: p, device: d))
            case .bestOpenCL: info = inventory.devices.first
            case .auto, .cpu: info = nil
            }
            guard let info else { throw error }
            FileHandle.standardError.write(Data("scalpel: \(error); the self-test checks it all the same\n".utf8))
            return ([try OpenCLBackend(info), CPUBackend()], "\(info.id) (\(info.name)), which failed the check run at opening")
        }
    }
}

func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
}

func format(_ value: Double) -> String {
    value.isNaN ? "-" : String(format: "%.2e", value)
}
