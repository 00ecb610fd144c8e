import ArgumentParser
import Foundation
import Scalpel
import ScalpelCore
import ScalpelIO
import ScalpelPrivacy

@main
struct ScalpelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scalpel",
        abstract: "A deep-learning training runtime: OpenCL kernels, with a pure-Swift CPU fallback.",
        version: "scalpel \(ScalpelBuild.version) (commit \(ScalpelBuild.commit))",
        subcommands: [TrainCommand.self, EvalCommand.self, PredictCommand.self, ExportCommand.self, ExplainCommand.self, DeidCommand.self, EncryptCommand.self, DecryptCommand.self, KeysCommand.self, AccessCommand.self,
                      AuditCommand.self,
                      DevicesCommand.self, SelfTestCommand.self, BenchCommand.self],
        defaultSubcommand: TrainCommand.self)
}

/// Options every command takes.
struct DeviceOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Where to compute: auto, cpu, cl (best OpenCL device) or cl:P:D.",
                                            discussion: "Default: $SCALPEL_DEVICE, else auto.", valueName: "device"))
    var device: String?

    @Flag(name: [.short, .long], help: "Explain device choices, compilation and scheduling on standard error.")
    var verbose = false

    @Flag(help: ArgumentHelp("Count what the run costs: kernel launches (with device time), allocations, transfers, queue drains, program builds.",
                             discussion: "Per training step and for the whole run; a table on standard error at the end and profile.json in the run folder. Same as SCALPEL_PROFILE=1."))
    var profile = false

    /// The requested spec (flag, else environment, else auto).
    func spec() throws -> DeviceSpec {
        if verbose { Diagnostics.shared.verbose = true }
        // Before any device opens, so that its queue records profiling events.
        if profile { Profiler.setEnabled(true) }
        do {
            return try DeviceSpec.resolve(option: device, environment: ProcessInfo.processInfo.environment)
        } catch let ScalpelError.invalidDevice(value, reason, _) {
            // List what this machine actually offers.
            throw ScalpelError.invalidDevice(value: value, reason: reason, valid: OpenCLInventoryView.validValues)
        }
    }

    func runtime() throws -> Runtime {
        try Runtime.open(try spec())
    }
}

/// Runs a command body and turns Scalpel's errors into one `scalpel: error:` line and an exit
/// code: 2 for a bad request (invalid device or argument), 1 for everything else.
func runReportingErrors(_ body: () throws -> Void) throws {
    defer { reportProfile() }
    do {
        try body()
    } catch let error as ScalpelError {
        FileHandle.standardError.write(Data("scalpel: error: \(error)\n".utf8))
        switch error {
        case .invalidDevice, .invalidArgument: throw ExitCode(2)
        default: throw ExitCode(1)
        }
    } catch let error as AtomicFileError {
        FileHandle.standardError.write(Data("scalpel: error: \(error)\n".utf8))
        throw ExitCode(1)
    } catch let error as EncryptionError {
        FileHandle.standardError.write(Data("scalpel: error: \(error)\n".utf8))
        throw ExitCode(1)
    }
}

/// With the profiler on: its table on standard error, and `profile.json` in the run folder when
/// the command has one.
func reportProfile() {
    guard Profiler.isEnabled else { return }
    let snapshot = Profiler.shared.snapshot()
    FileHandle.standardError.write(Data((snapshot.table() + "\n").utf8))
    guard let folder = Profiler.shared.outputFolder else { return }
    do {
        let url = folder.appending(path: "profile.json")
        try AtomicFile.write(try snapshot.json(), to: url)
        FileHandle.standardError.write(Data("scalpel: profile written to \(url.path)\n".utf8))
    } catch {
        FileHandle.standardError.write(Data("scalpel: warning: cannot write profile.json: \(error)\n".utf8))
    }
}

/// The operations that ran on the CPU-Swift backend because their device program did not build,
/// with their call counts, as one line (nil when none did). Each was also warned about once, with
/// the build log, when it first happened.
func fallbackSummary() -> String? {
    let fallbacks = Diagnostics.shared.fallbackCounts
    guard !fallbacks.isEmpty else { return nil }
    return "operations that ran on the CPU-Swift backend instead of the device (their program did not build there): "
        + fallbacks.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", ")
}
