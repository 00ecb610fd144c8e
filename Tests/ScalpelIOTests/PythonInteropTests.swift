// Round trips through Python's reference `safetensors` package, via
// scripts/safetensors_roundtrip.py. Without python3 + safetensors + numpy the tests skip with a
// note, unless SCALPEL_REQUIRE_PYTHON=1 makes a missing package a failure.
import Foundation
import Testing
@testable import ScalpelIO

@Suite struct PythonInteropTests {
    @Test func pythonLoadsWhatSwiftWrites() throws {
        guard try PythonHelper.availableOrSkip() else { return }
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let target = directory.url.appendingPathComponent("from-swift.safetensors")
        let metadata = ["format": "numpy", "producer": "scalpel", "note": "ünïcode \"quoted\""]
        try SafeTensorsFile(tensors: Sample.tensors, metadata: metadata).write(to: target)

        let metadataJSON = String(decoding: try JSONSerialization.data(withJSONObject: metadata), as: UTF8.self)
        let result = try PythonHelper.run(["check", target.path(percentEncoded: false), metadataJSON])
        #expect(result.status == 0, "Python rejected the Swift file:\n\(result.output)")
    }

    @Test func swiftReadsWhatPythonWritesByteForByte() throws {
        guard try PythonHelper.availableOrSkip() else { return }
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let target = directory.url.appendingPathComponent("from-python.safetensors")
        let result = try PythonHelper.run(["write", target.path(percentEncoded: false)])
        try #require(result.status == 0, "Python could not write:\n\(result.output)")

        let file = try SafeTensorsFile.read(from: target)
        #expect(file.tensors == Sample.tensors)
        #expect(file.metadata == Sample.pythonMetadata)
        let swiftBytes = try SafeTensorsFile(tensors: Sample.tensors, metadata: Sample.pythonMetadata).serialized()
        #expect(try Data(contentsOf: target) == swiftBytes)
    }
}

enum PythonHelper {
    static let script = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("scripts/safetensors_roundtrip.py")

    /// True when python3 can import safetensors and numpy. Otherwise records an issue if
    /// SCALPEL_REQUIRE_PYTHON=1, or prints why the test skips, and returns false.
    static func availableOrSkip() throws -> Bool {
        let probe = try? runPython(["-c", "import safetensors, numpy"])
        if probe?.status == 0 { return true }
        let why = "python3 with the safetensors and numpy packages is not available (\(probe?.output.trimmingCharacters(in: .whitespacesAndNewlines) ?? "python3 did not start"))"
        if ProcessInfo.processInfo.environment["SCALPEL_REQUIRE_PYTHON"] == "1" {
            Issue.record("SCALPEL_REQUIRE_PYTHON=1 but \(why)")
        } else {
            print("skipping the Python round trip: \(why); install them with `python3 -m pip install safetensors numpy`")
        }
        return false
    }

    static func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try runPython([script.path(percentEncoded: false)] + arguments)
    }

    private static func runPython(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3"] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        // Drain before waiting, so a chatty child cannot block on a full pipe.
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }
}
