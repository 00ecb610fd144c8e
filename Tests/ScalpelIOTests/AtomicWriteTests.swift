// write(to:) replaces a checkpoint atomically: on success the new file is complete, on any
// failure the old one is byte-for-byte intact and no temporary file is left behind.
import Foundation
import Testing
@testable import ScalpelIO

@Suite struct AtomicWriteTests {
    let old = SafeTensorsFile(tensors: ["w": SafeTensor(shape: [2], floats: [1, 2])], metadata: ["version": "old"])

    @Test func writesReadsAndReplaces() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let target = directory.url.appendingPathComponent("model.safetensors")
        try old.write(to: target)
        #expect(try SafeTensorsFile.read(from: target) == old)

        let new = SafeTensorsFile(tensors: Sample.tensors, metadata: ["version": "new"])
        try new.write(to: target)
        #expect(try SafeTensorsFile.read(from: target) == new)
        #expect(try Data(contentsOf: target) == (try new.serialized()))
        #expect(try directory.contents() == ["model.safetensors"])
    }

    @Test func aTensorWhoseBytesDoNotMatchItsShapeLeavesTheOldFile() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let target = directory.url.appendingPathComponent("model.safetensors")
        try old.write(to: target)
        let before = try Data(contentsOf: target)

        let broken = SafeTensorsFile(tensors: ["bad": SafeTensor(dtype: .f32, shape: [3], bytes: Data(count: 4))])
        let error = #expect(throws: SafeTensorsError.self) { try broken.write(to: target) }
        #expect(error?.kind == .sizeMismatch)
        #expect(error?.description == "safetensors file '\(target.path(percentEncoded: false))', tensor 'bad': holds 4 bytes but shape [3] of F32 needs 12")
        #expect(try Data(contentsOf: target) == before)
        #expect(try directory.contents() == ["model.safetensors"])
    }

    @Test func theReservedMetadataNameCannotHoldATensor() throws {
        let file = SafeTensorsFile(tensors: ["__metadata__": SafeTensor(shape: [1], floats: [1])])
        let error = #expect(throws: SafeTensorsError.self) { try file.serialized() }
        #expect(error?.kind == .invalidTensorEntry)
        #expect(error?.description.contains("reserved") == true)
    }

    @Test func aRemovedDirectoryGivesAnIOErrorNamingTheFile() throws {
        let directory = try TemporaryDirectory()
        let target = directory.url.appendingPathComponent("gone").appendingPathComponent("model.safetensors")
        directory.remove()
        let error = #expect(throws: SafeTensorsError.self) { try old.write(to: target) }
        #expect(error?.kind == .io)
        #expect(error?.description.contains(target.path(percentEncoded: false)) == true)
        #expect(error?.description.contains("could not create a temporary file") == true)
        #expect(!FileManager.default.fileExists(atPath: directory.url.path(percentEncoded: false)))
    }

    @Test func aFailedRenameRemovesTheTemporaryAndLeavesTheTarget() throws {
        // A non-empty directory where the file should go: creating and syncing the temporary
        // succeed, the rename fails, so this exercises the cleanup after a late failure.
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let target = directory.url.appendingPathComponent("model.safetensors")
        try FileManager.default.createDirectory(at: target, withIntermediateDirectories: false)
        let keep = target.appendingPathComponent("keep")
        try Data([42]).write(to: keep)

        let error = #expect(throws: SafeTensorsError.self) { try old.write(to: target) }
        #expect(error?.kind == .io)
        #expect(error?.description.contains("could not move the new file into place") == true)
        #expect(try Data(contentsOf: keep) == Data([42]))
        #expect(try directory.contents() == ["model.safetensors"])
    }

    @Test func concurrentWritersNeverLeaveAMixedFile() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let target = directory.url.appendingPathComponent("model.safetensors")
        let versions = (0..<8).map { version in
            SafeTensorsFile(tensors: ["w": SafeTensor(shape: [1024], floats: Array(repeating: Float(version), count: 1024))],
                            metadata: ["version": String(version)])
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for version in versions {
                group.addTask { try version.write(to: target) }
            }
            try await group.waitForAll()
        }
        let final = try SafeTensorsFile.read(from: target)
        #expect(versions.contains(final))
        #expect(try directory.contents() == ["model.safetensors"])
    }
}

/// Files are private from their first byte, and a writer killed half-way leaves nothing that
/// the next write into the same place does not clear away.
@Suite struct PrivateAtomicFileTests {
    func mode(_ url: URL) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: url.path(percentEncoded: false))[.posixPermissions] as? Int) ?? -1
    }

    @Test func newAndReplacedFilesAreReadableByTheirOwnerOnly() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let url = directory.url.appendingPathComponent("plain.csv")
        let previous = umask(0)
        defer { umask(previous) }
        try AtomicFile.write(Data("a,b\n".utf8), to: url)
        #expect(try mode(url) == 0o600)
        // A file that was made readable by others stays replaced by a private one.
        chmod(url.path(percentEncoded: false), 0o644)
        try AtomicFile.write(Data("c,d\n".utf8), to: url)
        #expect(try mode(url) == 0o600)
        #expect(try String(contentsOf: url, encoding: .utf8) == "c,d\n")
        #expect(try directory.contents() == ["plain.csv"])
    }

    /// Watches the directory while a large file is written: no entry in it may ever be readable
    /// by anyone but its owner (the old writer created its temporary with mode 0644 and
    /// narrowed it only after the rename).
    @Test func noEntryIsEverReadableByOthersWhileAFileIsWritten() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let url = directory.url.appendingPathComponent("patients.csv")
        let previous = umask(0o022)
        defer { umask(previous) }
        let data = Data(repeating: 0x41, count: 48 << 20)
        let writer = Task.detached { try AtomicFile.write(data, to: url) }
        var exposed: [String] = []
        var looks = 0
        while looks < 200_000 {
            looks += 1
            for name in (try? directory.contents()) ?? [] {
                let path = directory.url.appendingPathComponent(name)
                if let m = try? mode(path), m >= 0, m & 0o077 != 0 { exposed.append("\(name) \(String(m, radix: 8))") }
            }
            if FileManager.default.fileExists(atPath: url.path(percentEncoded: false)) { break }
        }
        try await writer.value
        #expect(exposed.isEmpty, "entries readable by others during the write: \(Set(exposed))")
        #expect(try mode(url) == 0o600)
    }

    @Test func leftoversOfADeadWriterAreRemovedByTheNextWriteButNotThoseOfALiveOne() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let url = directory.url.appendingPathComponent("rows.csv")
        // A process that has ended: its pid is free (a reuse within the test is harmless: the
        // file is then kept, which the assertion below would report).
        let finished = Process()
        finished.executableURL = URL(fileURLWithPath: "/bin/true")
        try finished.run()
        finished.waitUntilExit()
        let dead = ".rows.csv.\(finished.processIdentifier).1f2e3d.tmp"
        let live = ".rows.csv.1.abc.tmp"            // pid 1 is always running
        let ownLive = ".rows.csv.\(getpid()).beef.tmp"
        let otherName = ".other.csv.\(finished.processIdentifier).1f2e3d.tmp"
        for name in [dead, live, ownLive, otherName] {
            #expect(FileManager.default.createFile(atPath: directory.url.appendingPathComponent(name).path(percentEncoded: false),
                                                   contents: Data("secret".utf8)))
        }
        try AtomicFile.write(Data("x\n".utf8), to: url)
        #expect(try directory.contents() == [live, ownLive, otherName, "rows.csv"].sorted())
    }

    @Test func createNeverReplacesAnExistingFile() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let url = directory.url.appendingPathComponent("key.hex")
        try AtomicFile.create(Data("first\n".utf8), at: url)
        #expect(try mode(url) == 0o600)
        let error = #expect(throws: AtomicFileError.self) { try AtomicFile.create(Data("second\n".utf8), at: url) }
        #expect(error?.fileExists == true)
        #expect(try String(contentsOf: url, encoding: .utf8) == "first\n")
        #expect(try directory.contents() == ["key.hex"])
    }

    @Test func aPlantedSymlinkIsReplacedNotFollowed() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let victim = directory.url.appendingPathComponent("victim")
        try Data("keep".utf8).write(to: victim)
        let url = directory.url.appendingPathComponent("out.json")
        try FileManager.default.createSymbolicLink(at: url, withDestinationURL: victim)
        try AtomicFile.write(Data("{}".utf8), to: url)
        #expect(try String(contentsOf: victim, encoding: .utf8) == "keep")
        #expect(try String(contentsOf: url, encoding: .utf8) == "{}")
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: url.path(percentEncoded: false))) == nil)
    }

    @Test func aMissingDirectoryIsAnErrorNamingTheFile() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let url = directory.url.appendingPathComponent("missing/file")
        let error = #expect(throws: AtomicFileError.self) { try AtomicFile.write(Data(), to: url) }
        #expect(error?.description.hasPrefix(url.path(percentEncoded: false)) == true)
        #expect(error?.description.contains("No such file or directory") == true)
    }
}
