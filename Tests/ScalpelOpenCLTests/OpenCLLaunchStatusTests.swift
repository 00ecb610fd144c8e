import COpenCL
import Foundation
import ScalpelCore
@testable import ScalpelOpenCL
import ScalpelTestSupport
import Testing

/// `LaunchStatusLog` against the first device's own events: user events stand in for launches,
/// since no conforming kernel can be made to fail at run time on every implementation.
struct OpenCLLaunchStatusTests {
    /// A context on the first device and the loaded library (nil without OpenCL).
    private static func context() throws -> (OpenCLLibrary, cl_context)? {
        guard openCLAvailable(), let info = OpenCLInventory.shared.devices.first, let library = OpenCLInventory.shared.library,
              let handle = OpenCLInventory.shared.handles[info.id] else { return nil }
        var status: cl_int = 0
        var devices: [cl_device_id?] = [handle.device]
        let context = library.api.clCreateContext(nil, 1, &devices, nil, nil, &status)
        try library.check(status, "clCreateContext")
        return (library, try #require(context))
    }

    private static func userEvent(_ library: OpenCLLibrary, _ context: cl_context) throws -> cl_event {
        var status: cl_int = 0
        let event = library.api.clCreateUserEvent(context, &status)
        try library.check(status, "clCreateUserEvent")
        return try #require(event)
    }

    /// A failed launch throws its status, name and global size at the check after the wait;
    /// completed ones are released; the log is empty afterwards.
    @Test func aFailedLaunchThrowsItsStatusAtTheNextCheck() throws {
        guard let (library, context) = try Self.context() else { return }
        defer { _ = library.api.clReleaseContext(context) }
        let log = LaunchStatusLog(library: library)
        let (done, failed) = (try Self.userEvent(library, context), try Self.userEvent(library, context))
        try log.record(done, name: "fill", global: [256])
        try log.record(failed, name: "attention_forward", global: [4096, 1])
        try library.check(library.api.clSetUserEventStatus(done, CL_COMPLETE), "clSetUserEventStatus")
        try library.check(library.api.clSetUserEventStatus(failed, CL_OUT_OF_RESOURCES), "clSetUserEventStatus")
        #expect {
            try log.check()
        } throws: { error in
            guard case let ScalpelError.openCL(call, code, _, detail) = error else { return false }
            return call == "kernel execution" && code == CL_OUT_OF_RESOURCES && detail.contains("attention_forward over [4096, 1]")
        }
        #expect(log.pendingCount == 0)
        try log.check()
    }

    /// A launch not yet finished stays recorded (no error) until it completes.
    @Test func anUnfinishedLaunchStaysUntilItCompletes() throws {
        guard let (library, context) = try Self.context() else { return }
        defer { _ = library.api.clReleaseContext(context) }
        let log = LaunchStatusLog(library: library)
        let event = try Self.userEvent(library, context)
        try log.record(event, name: "gemm_packed", global: [8, 8, 1])
        try log.check()
        #expect(log.pendingCount == 1)
        try library.check(library.api.clSetUserEventStatus(event, CL_COMPLETE), "clSetUserEventStatus")
        try log.check()
        #expect(log.pendingCount == 0)
    }

    /// Recording checks finished launches every `checkpointCount` launches, so a long chain
    /// without a wait holds a bounded number of events and a failure surfaces at recording.
    @Test func recordingChecksEveryCheckpoint() throws {
        guard let (library, context) = try Self.context() else { return }
        defer { _ = library.api.clReleaseContext(context) }
        let log = LaunchStatusLog(library: library, checkpointCount: 4)
        for index in 0 ..< 3 {
            let event = try Self.userEvent(library, context)
            try library.check(library.api.clSetUserEventStatus(event, index == 1 ? CL_INVALID_VALUE : CL_COMPLETE), "clSetUserEventStatus")
            try log.record(event, name: "launch \(index)", global: [1])
        }
        #expect(log.pendingCount == 3)
        let fourth = try Self.userEvent(library, context)
        #expect { try log.record(fourth, name: "launch 3", global: [1]) } throws: { "\($0)".contains("launch 1 over [1]") }
        #expect(log.pendingCount == 1)
        try library.check(library.api.clSetUserEventStatus(fourth, CL_COMPLETE), "clSetUserEventStatus")
        try log.check()
        #expect(log.pendingCount == 0)
    }

    /// A host far ahead of the device holds at most `maxPending` launches: recording one more
    /// waits for the oldest half (here, until another thread completes the first).
    @Test func recordingWaitsForTheOldestLaunchesPastTheLimit() throws {
        guard let (library, context) = try Self.context() else { return }
        defer { _ = library.api.clReleaseContext(context) }
        let log = LaunchStatusLog(library: library, checkpointCount: 64, maxPending: 2)
        let first = try Self.userEvent(library, context), second = try Self.userEvent(library, context)
        try log.record(first, name: "launch 0", global: [1])
        #expect(log.pendingCount == 1)
        nonisolated(unsafe) let pendingFirst = first
        let started = Date()
        let completer = Thread {
            Thread.sleep(forTimeInterval: 0.2)
            _ = library.api.clSetUserEventStatus(pendingFirst, CL_COMPLETE)
        }
        completer.start()
        try log.record(second, name: "launch 1", global: [1])
        #expect(Date().timeIntervalSince(started) >= 0.15, "recording past the limit waited for the oldest launch")
        #expect(log.pendingCount == 1)
        try library.check(library.api.clSetUserEventStatus(second, CL_COMPLETE), "clSetUserEventStatus")
        try log.check()
        #expect(log.pendingCount == 0)
    }
}
