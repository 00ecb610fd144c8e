import Foundation
import ScalpelCore
#if canImport(Glibc)
import Glibc
#endif

/// The folder a run writes into, held for the run's lifetime so that its files all come from
/// one run: an exclusive lock (`flock` on the folder) keeps a second run out while this one
/// writes, and a folder that already holds another run's outputs is refused unless the run
/// continues it (`--resume`) or replaces it (`--overwrite`, which first removes those outputs).
public final class RunFolder: @unchecked Sendable {
    /// The files and folders a training or evaluation run writes; their presence marks a run.
    public static let outputNames = [
        "config.json", "metrics.json", "best.safetensors", "last.safetensors", "report.html", "predictions.csv",
        "explanations", "explanations.html", "profile.json",
    ]

    /// What to do with a folder that holds another run.
    public enum Existing: Sendable {
        /// Refuse it (the default).
        case refuse
        /// Continue the run whose checkpoint lies in `folder` (a resume): allowed when it is this folder.
        case resume(checkpointFolder: URL)
        /// Remove its outputs first.
        case overwrite
    }

    /// The files and folders `scalpel explain` writes.
    public static let explanationNames = ["explanations", "explanations.html"]

    /// The folder's standardised file URL.
    public let url: URL
    private let descriptor: Int32

    /// Creates (if needed), checks and locks `path` for a run; see `Existing` for a folder that
    /// already holds any of `outputs` (plain or encrypted). Errors name the folder and say what
    /// to do.
    public init(_ path: String, existing: Existing = .refuse, outputs names: [String] = RunFolder.outputNames) throws {
        guard !path.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw ScalpelError.invalidArgument("--out is empty: give the run folder to write into")
        }
        url = URL(fileURLWithPath: path).standardizedFileURL
        let shown = path
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue {
            throw ScalpelError.io(path: shown, reason: "is a file; --out takes a folder (it is created if missing)")
        }
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        } catch {
            let reason = access(url.deletingLastPathComponent().path, W_OK) != 0
                ? "cannot be created: \(url.deletingLastPathComponent().path) is not writable (or does not exist)"
                : "cannot be created (\((error as NSError).localizedFailureReason ?? "\(error)"))"
            throw ScalpelError.io(path: shown, reason: reason)
        }
        guard access(url.path, W_OK | X_OK) == 0 else {
            throw ScalpelError.io(path: shown, reason: "is not writable: choose another --out")
        }
        let fd = open(url.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw ScalpelError.io(path: shown, reason: "cannot be opened: \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw ScalpelError.io(path: shown, reason: "another scalpel run is writing into this folder; wait for it, or choose another --out")
        }
        descriptor = fd

        let present = RunFolder.outputs(in: url, names: names)
        guard !present.isEmpty else { return }
        switch existing {
        case .refuse:
            close(fd)
            throw ScalpelError.invalidArgument("\(shown) holds another run (\(present.joined(separator: ", "))): continue it with --resume "
                + "\(shown)/last.safetensors, replace it with --overwrite, or choose another --out")
        case let .resume(checkpointFolder):
            guard checkpointFolder.standardizedFileURL.resolvingSymlinksInPath().path == url.resolvingSymlinksInPath().path else {
                close(fd)
                throw ScalpelError.invalidArgument("\(shown) holds another run (\(present.joined(separator: ", "))), not the one being resumed: "
                    + "resume into the checkpoint's own folder, replace this one with --overwrite, or choose another --out")
            }
        case .overwrite:
            for name in present {
                do {
                    try FileManager.default.removeItem(at: url.appending(path: name))
                } catch {
                    close(fd)
                    throw ScalpelError.io(path: url.appending(path: name).path, reason: "cannot be removed for --overwrite")
                }
            }
        }
    }

    deinit { close(descriptor) }

    /// Which of `names` (plain or encrypted) are present in `folder`.
    public static func outputs(in folder: URL, names: [String] = outputNames) -> [String] {
        let present = Set((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [])
        return names.flatMap { [$0, $0 + ".enc"] }.filter(present.contains)
    }
}
