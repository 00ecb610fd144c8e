import Foundation
import PackagePlugin

/// Generates the target's `ScalpelBuild.version` and `ScalpelBuild.commit` from the package's
/// VERSION file and its git checkout (or the COMMIT file of a `git archive` tarball). The git
/// files that name the commit are the command's inputs, so a new commit regenerates it.
@main
struct EmbedBuildInfo: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let root = context.package.directoryURL
        let git = root.appending(path: ".git")
        var inputs = [root.appending(path: "VERSION"), root.appending(path: "COMMIT")]
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: git.path, isDirectory: &isDirectory), isDirectory.boolValue {
            inputs += [git.appending(path: "HEAD"), git.appending(path: "packed-refs")]
            if let head = try? String(contentsOf: git.appending(path: "HEAD"), encoding: .utf8), head.hasPrefix("ref: ") {
                inputs.append(git.appending(path: head.dropFirst(5).trimmingCharacters(in: .whitespacesAndNewlines)))
            }
        }
        inputs = inputs.filter { FileManager.default.fileExists(atPath: $0.path) }
        let output = context.pluginWorkDirectoryURL.appending(path: "BuildInfo.swift")
        return [
            .buildCommand(
                displayName: "Embedding Scalpel's version and commit",
                executable: try context.tool(named: "BuildInfoEmbedder").url,
                arguments: [output.path, root.path],
                inputFiles: inputs,
                outputFiles: [output])
        ]
    }
}
