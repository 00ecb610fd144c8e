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
        #expect(error?.description.contains("could not rename the temporary file over the target") == true)
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
