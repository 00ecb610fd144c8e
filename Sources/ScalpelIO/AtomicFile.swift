// Every file Scalpel writes goes through here, so that readers and crashes see either the old
// contents or the new, never a mix, and no other user can read a byte of it at any moment.
//
// On Linux the data is written to an unnamed file (O_TMPFILE) in the target's directory, synced,
// and only then given a name: a process killed while writing leaves nothing behind. Where the
// file system has no O_TMPFILE the temporary is a hidden sibling created with O_EXCL|O_NOFOLLOW
// and mode 0600; leftovers of such writers that died are removed by the next write into the same
// place. POSIX calls are used directly because Foundation's atomic write creates its temporary
// with the default mode, syncs neither the data nor the directory entry, and reports less
// precisely which step failed.
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a file could not be written; names the file and the step that failed.
public struct AtomicFileError: Error, CustomStringConvertible, LocalizedError, Sendable {
    /// The file that was to be written.
    public var path: String
    /// What failed, in words ("could not create a temporary file in '/data'").
    public var problem: String
    /// The `errno` of the failed call.
    public var code: Int32

    /// True when `AtomicFile.create` found the file already there.
    public var fileExists: Bool { code == EEXIST }

    /// The problem and the system's reason, without the path.
    public var reason: String { "\(problem): \(String(cString: strerror(code)))" }
    /// `path: reason`: the file, the step that failed and the system's reason.
    public var description: String { "\(path): \(reason)" }
    /// The same text as `description`, so that `localizedDescription` shows it.
    public var errorDescription: String? { description }
}

/// Atomic, private file writes: `write` replaces a file, `create` adds one that must not exist.
/// Files are created with mode 0600 (owner only) from their first byte, and stay so.
public enum AtomicFile {
    /// Replaces the contents of `url` with `data` (creating the file if missing): readers see the
    /// old file or the new one, and after a crash at any moment the same holds.
    public static func write(_ data: Data, to url: URL) throws(AtomicFileError) {
        try store(data, at: url, replacing: true)
    }

    /// Writes `data` as a new file at `url`; fails (`fileExists`) when something is already
    /// there, even when a concurrent writer got there first. For files that must never be
    /// replaced, such as keys.
    public static func create(_ data: Data, at url: URL) throws(AtomicFileError) {
        try store(data, at: url, replacing: false)
    }

    /// The hidden sibling a named temporary for `url` takes: `.NAME.PID.RANDOM.tmp`.
    static func temporaryName(for name: String) -> String {
        ".\(name).\(getpid()).\(String(UInt64.random(in: 0...UInt64.max), radix: 16)).tmp"
    }

    /// Removes the named temporaries of `url` that writers which no longer run left behind (a
    /// process killed between creating and renaming its temporary). Temporaries of running
    /// processes, and of processes this user may not signal, are left alone.
    public static func removeStaleTemporaries(for url: URL) {
        let directory = url.deletingLastPathComponent().path(percentEncoded: false)
        let prefix = "." + url.lastPathComponent + "."
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: directory.isEmpty ? "." : directory) else { return }
        for entry in entries where entry.hasPrefix(prefix) && entry.hasSuffix(".tmp") {
            let middle = entry.dropFirst(prefix.count).dropLast(4).split(separator: ".", omittingEmptySubsequences: false)
            guard middle.count == 2, let pid = pid_t(middle[0]), pid > 0, !middle[1].isEmpty,
                  middle[1].allSatisfy({ $0.isHexDigit }) else { continue }
            if pid != getpid(), kill(pid, 0) != 0, errno == ESRCH {
                unlink((directory as NSString).appendingPathComponent(entry))
            }
        }
    }

    #if os(Linux)
    /// O_TMPFILE, which Glibc's module does not export (a macro of macros): __O_TMPFILE is
    /// 020000000 on every Linux architecture Swift runs on, and carries O_DIRECTORY with it.
    static let openUnnamed: Int32 = 0o20000000 | O_DIRECTORY
    #endif

    private static func store(_ data: Data, at url: URL, replacing: Bool) throws(AtomicFileError) {
        let writer = try Writer(url, replacing: replacing)
        try writer.append(data)
        try writer.commit()
    }

    /// A file written in parts and put in place at once: the parts go to a private temporary
    /// (mode 0600 from its first byte; unnamed where the file system allows), and `commit()`
    /// syncs it and gives it the final name, so that readers see the old file or the whole new
    /// one, never a part — for outputs larger than memory (predictions of a large file). A
    /// writer dropped without `commit()` leaves nothing behind.
    public final class Writer {
        private let url: URL
        private let path: String
        private let directory: String
        private let replacing: Bool
        private var descriptor: Int32 = -1
        private var named: String?
        private var finished = false

        /// Opens the temporary for `url`; `replacing` (the default) replaces a file already
        /// there, else `commit()` fails when one is.
        /// - Parameters:
        ///   - url: The final file.
        ///   - replacing: Whether an existing file is replaced.
        /// - Throws: `AtomicFileError` when the temporary cannot be made.
        public init(_ url: URL, replacing: Bool = true) throws(AtomicFileError) {
            self.url = url
            self.replacing = replacing
            path = url.path(percentEncoded: false)
            let directoryURL = url.deletingLastPathComponent()
            directory = directoryURL.path(percentEncoded: false).isEmpty ? "." : directoryURL.path(percentEncoded: false)
            guard !url.lastPathComponent.isEmpty, url.lastPathComponent != "/", !url.hasDirectoryPath else {
                throw failure("not a file name (a folder or an empty path)", EISDIR)
            }
            AtomicFile.removeStaleTemporaries(for: url)
            // Unnamed first; a named hidden sibling where the file system cannot do that.
            #if os(Linux)
            descriptor = open(directory, AtomicFile.openUnnamed | O_WRONLY | O_CLOEXEC, 0o600)
            let code = errno
            if descriptor < 0, ![EOPNOTSUPP, EISDIR, EINVAL].contains(code) {
                throw failure("could not create a temporary file in '\(directory)'", code)
            }
            #endif
            if descriptor < 0 {
                let temporary = (directory as NSString).appendingPathComponent(AtomicFile.temporaryName(for: url.lastPathComponent))
                descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
                guard descriptor >= 0 else { throw failure("could not create a temporary file in '\(directory)'") }
                named = temporary
            }
            // The umask can only take bits away; make the mode exact all the same.
            if fchmod(descriptor, 0o600) != 0 {
                let error = failure("could not make the temporary file private")
                abandon()
                throw error
            }
        }

        deinit { abandon() }

        private func failure(_ problem: String, _ code: Int32 = errno) -> AtomicFileError {
            AtomicFileError(path: path, problem: problem, code: code)
        }

        /// Appends `data` to the temporary.
        /// - Parameter data: The next part.
        /// - Throws: `AtomicFileError` when it cannot be written (the writer is then abandoned).
        public func append(_ data: Data) throws(AtomicFileError) {
            guard !finished else { throw failure("written after it was committed or abandoned", EBADF) }
            if let code = AtomicFile.writeAll(data, to: descriptor) {
                let error = failure("could not write the new contents", code)
                abandon()
                throw error
            }
        }

        /// Syncs the temporary and gives it the final name (replacing, or failing when a file is
        /// there and the writer does not replace), then syncs the directory.
        /// - Throws: `AtomicFileError` naming the step that failed; the old file, if any, is intact.
        public func commit() throws(AtomicFileError) {
            guard !finished else { throw failure("committed twice or after it was abandoned", EBADF) }
            finished = true
            var problem: AtomicFileError?
            if fsync(descriptor) != 0 { problem = failure("could not sync the new contents") }
            if problem == nil, named == nil {
                // Give the unnamed file its name: the final one when creating (link fails if taken),
                // a hidden one to rename from when replacing.
                let target = replacing ? (directory as NSString).appendingPathComponent(AtomicFile.temporaryName(for: url.lastPathComponent)) : path
                if linkat(AT_FDCWD, "/proc/self/fd/\(descriptor)", AT_FDCWD, target, AT_SYMLINK_FOLLOW) != 0 {
                    problem = errno == EEXIST && !replacing
                        ? failure("already exists; it is never replaced", EEXIST)
                        : failure("could not name the new file in '\(directory)'")
                } else if replacing {
                    named = target
                }
            }
            // close can report a deferred write error (NFS, quotas), so it counts as a failure too.
            if close(descriptor) != 0, problem == nil { problem = failure("could not close the new file") }
            descriptor = -1
            if problem == nil, let named {
                if replacing {
                    if rename(named, path) != 0 { problem = failure("could not move the new file into place") }
                } else {
                    if link(named, path) != 0 {
                        problem = errno == EEXIST ? failure("already exists; it is never replaced", EEXIST) : failure("could not name the new file")
                    }
                    unlink(named)
                }
            }
            if let problem {
                if let named, replacing { unlink(named) }
                self.named = nil
                throw problem
            }
            self.named = nil
            // Without this the new name itself may be lost in a crash, leaving the old file.
            let directoryDescriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard directoryDescriptor >= 0 else { throw failure("written, but its directory could not be opened to sync it") }
            defer { close(directoryDescriptor) }
            guard fsync(directoryDescriptor) == 0 else { throw failure("written, but syncing its directory failed") }
        }

        /// Closes and removes the temporary without touching the final file (what dropping the
        /// writer does).
        public func abandon() {
            finished = true
            if descriptor >= 0 { close(descriptor) }
            descriptor = -1
            if let named { unlink(named) }
            named = nil
        }
    }

    /// Writes every byte, retrying short writes and interrupted calls; returns the errno of a
    /// failure, or nil.
    static func writeAll(_ bytes: Data, to descriptor: Int32) -> Int32? {
        bytes.withUnsafeBytes { raw -> Int32? in
            var written = 0
            while written < raw.count {
                let result = Foundation.write(descriptor, raw.baseAddress! + written, raw.count - written)
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
