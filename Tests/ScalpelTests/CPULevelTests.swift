import Foundation
import Scalpel
import ScalpelTestSupport
import Testing

/// The CPU-Swift kernel level: chosen once at start-up, shown by `scalpel devices`, forced lower
/// with SCALPEL_CPU_LEVEL, and every level the machine runs giving the same training.
struct CPULevelTests {
    func devicesLine(_ level: String?) throws -> (line: String, stderr: String) {
        let result = try runScalpel(["devices", "--device", "cpu"], environment: ["SCALPEL_CPU_LEVEL": level])
        #expect(result.status == 0, "\(result.stderr)")
        return (result.stdout.split(separator: "\n").first { $0.hasPrefix("CPU-Swift:") }.map(String.init) ?? "", result.stderr)
    }

    @Test func devicesShowsTheLevelAndTheVariableForcesALowerOne() throws {
        let best = CPUInfo.bestLevel
        let (plain, _) = try devicesLine(nil)
        #expect(plain.contains("kernels \(best.rawValue)"), "\(plain)")
        let (forced, _) = try devicesLine("portable")
        #expect(forced.contains("kernels portable") && (best == .portable || forced.contains("this CPU's best is \(best.rawValue)")), "\(forced)")
        // A level this CPU does not run, or no level at all, is named in a warning and the best is used.
        for asked in ["avx512", "sse9"] {
            let (line, stderr) = try devicesLine(asked)
            #expect(line.contains("kernels \(best.rawValue)") && stderr.contains("SCALPEL_CPU_LEVEL=\(asked)"), "\(asked): \(line) \(stderr)")
        }
    }

    @Test func everyLevelThisCPURunsTrainsTheSameModel() throws {
        let folder = try makeTemporaryDirectory("scalpel-cpu-level")
        defer { try? FileManager.default.removeItem(at: folder) }
        var losses: [String: Double] = [:]
        for level in Set([CPULevel.portable, CPUInfo.bestLevel]).map(\.rawValue) {
            let out = folder.appending(path: level)
            let result = try runScalpel(["train", "--data", dataPath("wdbc.csv"), "--positive", "M", "--epochs", "3", "--device", "cpu",
                                         "--out", out.path], environment: ["SCALPEL_CPU_LEVEL": level])
            try #require(result.status == 0, "\(level): \(result.stderr)")
            let metrics = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appending(path: "metrics.json"))) as! [String: Any]
            losses[level] = (metrics["test"] as! [String: Any])["loss"] as? Double
            #expect((metrics["device"] as? String)?.contains(level == "portable" ? "reference kernels" : "thread") == true, "\(metrics["device"] ?? "")")
        }
        // The reference loops and the SIMD kernels sum in different orders: the same model to rounding.
        let values = losses.values.compactMap { $0 }
        #expect(values.count == losses.count && (values.max()! - values.min()!) < 1e-5 * max(1, values.max()!), "\(losses)")
    }
}
