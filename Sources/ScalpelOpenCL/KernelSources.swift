import Foundation
import ScalpelCore
import ScalpelKernelSources

/// Where OpenCL C sources come from: embedded in the binary at build time, or — for kernel
/// work without rebuilding — from the folder named by `SCALPEL_KERNELS`, whose files replace
/// the embedded ones of the same name.
public enum KernelSources {
    /// The environment variable naming an override folder.
    public static let environmentVariable = "SCALPEL_KERNELS"

    /// The override folder, if set.
    public static var overrideDirectory: String? {
        ProcessInfo.processInfo.environment[environmentVariable].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The names of the embedded sources.
    public static var embeddedNames: [String] { EmbeddedKernels.sources.keys.sorted() }

    /// The text of `name` (for example `gemm.cl`) as it is built, and where it came from: a
    /// `.cl` file comes after the op codes (`KernelOpCodes.definitions`) and `common.h`, with
    /// a `#line` directive so that build logs keep the file's own line numbers.
    public static func source(named name: String) throws -> (text: String, origin: String) {
        let (text, origin) = try file(named: name)
        guard name.hasSuffix(".cl") else { return (text, origin) }
        let common = try file(named: "common.h").text
        return (KernelOpCodes.definitions + common + "\n#line 1\n" + text, origin)
    }

    /// The text of the file `name`, unchanged, and where it came from.
    public static func file(named name: String) throws -> (text: String, origin: String) {
        if let directory = overrideDirectory {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ScalpelError.kernelSource(name: name, reason: "\(environmentVariable)=\(directory) is not a folder")
            }
            let path = URL(fileURLWithPath: directory).appending(path: name).path
            if FileManager.default.fileExists(atPath: path) {
                do {
                    return (try String(contentsOfFile: path, encoding: .utf8), path)
                } catch {
                    throw ScalpelError.kernelSource(name: name, reason: "cannot read \(path): \(error.localizedDescription)")
                }
            }
        }
        guard let text = EmbeddedKernels.sources[name] else {
            throw ScalpelError.kernelSource(name: name, reason: "no such kernel source (embedded: \(embeddedNames.joined(separator: ", ")))")
        }
        return (text, "embedded")
    }

    /// A digest of every source as it would be used now, for cache identities.
    public static var fingerprint: String {
        let parts = embeddedNames.map { name in
            "\(name)=\((try? source(named: name).text).map { Digest.sha256Hex($0) } ?? "missing")"
        }
        return Digest.sha256Hex(parts.joined(separator: ";"))
    }
}
