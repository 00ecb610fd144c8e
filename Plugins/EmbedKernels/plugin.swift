import Foundation
import PackagePlugin

/// Embeds every OpenCL C source in the package's top-level `Kernels/` folder into the target
/// it is applied to, as a generated Swift file. Embedding (rather than `Bundle.module`) keeps a
/// copied or statically linked `scalpel` binary self-contained.
@main
struct EmbedKernels: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let kernels = context.package.directoryURL.appending(path: "Kernels")
        let names = try FileManager.default.contentsOfDirectory(atPath: kernels.path)
            .filter { $0.hasSuffix(".cl") || $0.hasSuffix(".h") }
            .sorted()
        let inputs = names.map { kernels.appending(path: $0) }
        let output = context.pluginWorkDirectoryURL.appending(path: "EmbeddedKernels.swift")
        return [
            .buildCommand(
                displayName: "Embedding \(names.count) OpenCL kernel sources",
                executable: try context.tool(named: "KernelEmbedder").url,
                arguments: [output.path] + inputs.map(\.path),
                inputFiles: inputs,
                outputFiles: [output])
        ]
    }
}
