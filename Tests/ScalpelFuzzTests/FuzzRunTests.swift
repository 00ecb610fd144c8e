// The fuzzer in CI: a short in-process mutation run per format with a fixed seed, and, when the
// scalpel-fuzz binary is built next to the tests, a short run of the real engine.
import Foundation
import ScalpelIO
import Testing

/// Valid inputs of each format for the in-process loop.
func testSeeds(_ format: Format) throws -> [[UInt8]] {
    switch format {
    case .safetensors:
        let file = SafeTensorsFile(
            tensors: ["w": SafeTensor(shape: [2, 3], floats: [1, 2, 3, 4, 5, 6]), "labels": SafeTensor(shape: [4], int64s: [0, 1, 1, 0]),
                      "image": SafeTensor(dtype: .u8, shape: [2, 2], bytes: Data([0, 127, 128, 255]))],
            metadata: ["format": "pt"])
        return [[UInt8](try file.serialized()),
                safetensorsFile(#"{"a":{"dtype":"I32","shape":[1],"data_offsets":[0,4]},"__metadata__":null}"#, buffer: [1, 0, 0, 0])]
    case .npy:
        return [npyFile(descr: "|u1", shape: "(3, 2, 2)", data: Array(0..<12)),
                npyFile(descr: "<i8", shape: "(2, 1)", data: le64(1) + le64(0)),
                npyFile(descr: "<f4", shape: "()", data: [0, 0, 0x80, 0x3F])]
    case .npz:
        return [medMNISTArchive(), try clinicFixture("medmnist_grey4.npz"), try clinicFixture("medmnist_rgb.npz")]
    case .csv:
        return [Array("id,age,\"name, full\",diagnosis\n1,63,\"Smith, J\",malignant\n2,,\"\"\"Q\"\"\",benign\n".utf8),
                Array("a,b\r\n1,NA\r\n?,2\r\n".utf8)]
    case .ucr:
        return [Array("1\t0.5\t1.5\tNaN\n2\t-1\t2\t3\n".utf8), Array("-1,1.0,2.0\n1,3.0,NaN\n".utf8)]
    }
}

@Suite struct FuzzRunTests {
    @Test(arguments: Format.allCases)
    func aShortMutationRunNeitherCrashesNorBreaksTheContract(_ format: Format) throws {
        let seeds = try testSeeds(format)
        for seed in seeds {
            #expect(try answer(format, seed, source: "seed") == .parsed, "a \(format) seed does not parse")
        }
        var random = TestRandom(state: 0x5CA1_9E1 &+ UInt64(Format.allCases.firstIndex(of: format)!))
        var refused = 0
        for iteration in 0..<300 {
            var bytes = seeds[random.below(seeds.count)]
            for _ in 0..<1 + random.below(3) { mutate(&bytes, seeds: seeds, random: &random) }
            if case .refused = try answer(format, bytes, source: "fuzz-\(iteration).\(format.rawValue)") { refused += 1 }
        }
        #expect(refused > 0)
    }

    @Test(.enabled(if: fuzzBinary != nil, "scalpel-fuzz is not built next to the tests (swift build --product scalpel-fuzz)"))
    func theFuzzerBinaryRunsEveryFormatCleanly() throws {
        let binary = try #require(fuzzBinary)
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("scalpel-fuzz-run-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: out) }
        let (status, output) = try run(binary, ["--format", "all", "--iterations", "150", "--seed", "7", "--out", out.path,
                                                "--corpus", regressionsDirectory.path, "--max-seconds-per-input", "60"])
        #expect(status == 0, "\(output)")
        for format in Format.allCases {
            #expect(output.contains("\(format.rawValue): 150 inputs"), "\(output)")
        }
        #expect(output.contains("no crash, hang or contract violation"))

        // The same seed gives the same inputs: one iteration reproduced on its own is identical.
        let first = try run(binary, ["--format", "csv", "--iterations", "0", "--iteration", "42", "--seed", "7", "--out", out.path, "--verbose"])
        let again = try run(binary, ["--format", "csv", "--iterations", "0", "--iteration", "42", "--seed", "7", "--out", out.path, "--verbose"])
        let line = { (output: String) in output.split(separator: "\n").first { $0.hasPrefix("csv iteration 42:") } }
        #expect(first.status == 0 && line(first.output) != nil)
        #expect(line(first.output) == line(again.output))
    }

    /// Runs `binary` and returns its status and standard output.
    private func run(_ binary: URL, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
