import ArgumentParser
import Foundation
import Scalpel
import ScalpelCPU
import ScalpelCore
import ScalpelOpenCL

/// Reads the OpenCL inventory for the CLI without exposing the OpenCL module everywhere.
enum OpenCLInventoryView {
    static var validValues: [String] { OpenCLInventory.shared.validDeviceValues }
}

struct DevicesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "devices",
        abstract: "List every OpenCL device, what auto picks and why, and the measured scheduling choices.")

    @OptionGroup var options: DeviceOptions

    func run() throws {
        try runReportingErrors {
            let spec = try options.spec()
            let inventory = OpenCLInventory.shared
            let runtime = try Runtime.open(spec, openAll: true, announce: false)
            var out = ""
            if let library = inventory.library {
                out += "OpenCL: \(library.path) loaded; \(inventory.devices.count) device\(inventory.devices.count == 1 ? "" : "s")\n"
            } else {
                out += "OpenCL: unavailable\n"
            }
            if let reason = inventory.unavailableReason { out += "  \(reason)\n" }
            for error in inventory.platformErrors { out += "  warning: \(error)\n" }
            let byPlatform = Dictionary(grouping: inventory.devices, by: \.platformIndex)
            for platform in byPlatform.keys.sorted() {
                let devices = byPlatform[platform]!.sorted { $0.deviceIndex < $1.deviceIndex }
                let first = devices[0]
                out += "\nPlatform \(platform): \(first.platformName) (\(first.platformVendor)), \(first.platformVersion)\n"
                for info in devices {
                    let rank = (inventory.devices.firstIndex { $0.id == info.id } ?? 0) + 1
                    out += "  \(info.id)  \(info.name)   [rank \(rank)]\n"
                    out += "      type \(info.kind.rawValue), vendor \(info.vendor), driver \(info.driverVersion), \(info.deviceVersion), \(info.openCLCVersion)\n"
                    out += "      \(info.computeUnits) compute units at \(info.clockMHz) MHz, work-group ≤ \(info.maxWorkGroupSize), preferred float vector \(info.preferredFloatVectorWidth)\n"
                    out += "      memory: global \(formatBytes(info.globalMemoryBytes)), max allocation \(formatBytes(info.maxAllocationBytes)), "
                        + "local \(formatBytes(info.localMemoryBytes)) (\(info.localMemoryDedicated ? "dedicated" : "global memory"))\n"
                    out += "      fp16 \(info.fp16 ? "yes" : "no"), fp64 \(info.fp64 ? "yes" : "no")\(info.available ? "" : ", NOT AVAILABLE")\(info.compilerAvailable ? "" : ", no compiler")\n"
                    out += "      gemm kernels: \(GEMMTuning.lookup(info))\n"
                    if let test = runtime.selfTests.first(where: { $0.id == info.id }) {
                        out += "      self-test: \(test.result.summary)\n"
                    }
                }
            }
            let cpu = runtime.cpu
            out += "\nCPU-Swift: \(CPUInfo.modelName), \(cpu.threads) thread\(cpu.threads == 1 ? "" : "s"), kernels \(cpu.kernels == .fast ? CPUInfo.level.summary : CPULevel.portable.summary)"
                + (CPUInfo.level != CPUInfo.bestLevel ? " — SCALPEL_CPU_LEVEL; this CPU's default is \(CPUInfo.bestLevel.rawValue)" : "")
                + (CPUInfo.hasAVX512 && !CPUInfo.hasAVX512Kernels ? "; AVX-512F present without all of BW, CD, DQ and VL (no avx512 level)" : "")
                + (CPUInfo.hasAVX512Kernels && CPUInfo.bestLevel != .avx512
                    ? "; avx512 runs here (SCALPEL_CPU_LEVEL=avx512) but is not the default: this CPU splits 512-bit FMAs in two" : "") + "\n"
            out += "\nDevice \(spec): \(runtime.explanation)\n"
            if runtime.cpuOnly {
                out += "CPU-Swift fallback: in use\(runtime.fallbackReason.map { " (\($0))" } ?? "")\n"
            } else if spec == .auto {
                out += "CPU-Swift fallback: not in use (the CPU-Swift backend competes for each model and shape)\n"
            } else {
                out += "CPU-Swift fallback: not in use\n"
            }
            let entries = runtime.scheduler.allEntries
            if !runtime.cpuOnly {
                out += "\nScheduling choices (a training step measured once per model, batch and sample shape; a GEMM once per shape class"
                out += runtime.scheduler.url.map { "; \($0.path)" } ?? "; not saved"
                out += "):\n"
                if entries.isEmpty { out += "  none measured yet (the first run of each model and shape measures it)\n" }
                for (key, entry) in entries {
                    let timings = entry.seconds.sorted { $0.value < $1.value }
                        .map { "\($0.key) \(String(format: "%.3f", $0.value * 1e3)) ms" }.joined(separator: ", ")
                    out += "  \(key) → \(entry.choice)   (\(timings); measured at \(entry.measuredShape))\n"
                }
            }
            print(out, terminator: "")
        }
    }
}
