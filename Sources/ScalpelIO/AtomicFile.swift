// Replacing a file so that readers and crashes see either the old contents or the new, never
// a mix: write a temporary sibling, sync it, rename it over the target, sync the directory.
// POSIX calls are used directly because Foundation's atomic write neither syncs the data nor
// the directory entry, and reports less precisely which step failed.
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

enum AtomicFile {
    static func replaceContents(of url: URL, with bytes: Data) throws {
        let path = url.path(percentEncoded: false)
        let directoryURL = url.deletingLastPathComponent()
        let directory = directoryURL.path(percentEncoded: false)
        func failure(_ problem: String, _ code: Int32) -> SafeTensorsError {
            SafeTensorsError(kind: .io, source: path, problem: "\(problem): \(String(cString: strerror(code)))")
        }

        // A hidden, unique sibling: same file system, so the rename is atomic; O_EXCL, so two
        // writers never share a temporary.
        let suffix = String(UInt64.random(in: 0...UInt64.max), radix: 16)
        let temporary = directoryURL
            .appendingPathComponent(".\(url.lastPathComponent).\(getpid()).\(suffix).tmp")
            .path(percentEncoded: false)
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw failure("could not create a temporary file in '\(directory)'", errno)
        }

        var problem: SafeTensorsError?
        if let code = writeAll(bytes, to: descriptor) {
            problem = failure("could not write the temporary file '\(temporary)'", code)
        } else if fsync(descriptor) != 0 {
            problem = failure("could not sync the temporary file '\(temporary)'", errno)
        }
        // close can report a deferred write error (NFS, quotas), so it counts as a failure too.
        if close(descriptor) != 0, problem == nil {
            problem = failure("could not close the temporary file '\(temporary)'", errno)
        }
        if problem == nil, rename(temporary, path) != 0 {
            problem = failure("could not rename the temporary file over the target", errno)
        }
        if let problem {
            unlink(temporary)
            throw problem
        }

        // Without this the rename itself may be lost in a crash, leaving the old file.
        let directoryDescriptor = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directoryDescriptor >= 0 else {
            throw failure("the file was replaced, but its directory could not be opened to sync it", errno)
        }
        defer { close(directoryDescriptor) }
        guard fsync(directoryDescriptor) == 0 else {
            throw failure("the file was replaced, but syncing its directory failed", errno)
        }
    }

    /// Writes every byte, retrying short writes and interrupted calls; returns the errno of a
    /// failure, or nil.
    private static func writeAll(_ bytes: Data, to descriptor: Int32) -> Int32? {
        bytes.withUnsafeBytes { raw -> Int32? in
            var written = 0
            while written < raw.count {
                let result = write(descriptor, raw.baseAddress! + written, raw.count - written)
                if result < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                written += result
            }
            return nil
        }
    }
}
