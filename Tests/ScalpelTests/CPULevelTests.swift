import Foundation
import Scalpel
import ScalpelCore
import ScalpelCPU
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
        #expect(forced.contains("kernels portable") && (best == .portable || forced.contains("this CPU's default is \(best.rawValue)")), "\(forced)")
        // Every other level it runs can be forced (avx512 too where it is not the default).
        for other in CPUInfo.runnableLevels where other != .portable && other != best {
            let (line, _) = try devicesLine(other.rawValue)
            #expect(line.contains("kernels \(other.rawValue)") && line.contains("this CPU's default is \(best.rawValue)"), "\(other): \(line)")
        }
        // A level this CPU does not run, or no level at all, is named in a warning and the best is used.
        let foreign = CPULevel.allCases.first { !CPUInfo.runnableLevels.contains($0) }!
        for asked in [foreign.rawValue, "sse9"] {
            let (line, stderr) = try devicesLine(asked)
            #expect(line.contains("kernels \(best.rawValue)") && stderr.contains("SCALPEL_CPU_LEVEL=\(asked)"), "\(asked): \(line) \(stderr)")
        }
    }

    @Test func everyLevelThisCPURunsTrainsTheSameModel() throws {
        let folder = try makeTemporaryDirectory("scalpel-cpu-level")
        defer { try? FileManager.default.removeItem(at: folder) }
        var losses: [String: Double] = [:]
        for level in CPUInfo.runnableLevels.map(\.rawValue) {
            let out = folder.appending(path: level)
            let result = try runScalpel(["train", "--data", dataPath("wdbc.csv"), "--positive", "M", "--epochs", "3", "--device", "cpu",
                                         "--out", out.path], environment: ["SCALPEL_CPU_LEVEL": level])
            try #require(result.status == 0, "\(level): \(result.stderr)")
            let metrics = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appending(path: "metrics.json"))) as! [String: Any]
            losses[level] = (metrics["test"] as! [String: Any])["loss"] as? Double
            #expect((metrics["device"] as? String)?.contains(level == "portable" ? "reference kernels" : "thread") == true, "\(metrics["device"] ?? "")")
        }
        // The reference loops and the SIMD kernels (16- or 32-wide) sum in different orders: the
        // same model to rounding.
        let values = losses.values.compactMap { $0 }
        #expect(values.count == losses.count && (values.max()! - values.min()!) < 1e-5 * max(1, values.max()!), "\(losses)")
    }

    /// The GEMM at every level this CPU runs, against the reference loops: edges of both
    /// micro-kernel widths (16 and 32 columns), transposes, alpha and beta, a batch, and
    /// products that split over two threads by rows and by columns.
    static let pool = WorkerPool(size: 2)

    @Test(arguments: [(7, 45, 33, false, false), (130, 97, 300, true, false), (64, 300, 70, false, true), (200, 260, 513, true, true)])
    func everyLevelsGEMMMatchesTheReference(_ m: Int, _ n: Int, _ k: Int, _ transA: Bool, _ transB: Bool) throws {
        var generator = SeededRandom(seed: UInt64(m * 31 + n))
        var p = GEMMParameters(m: m, n: n, k: k, transA: transA, transB: transB, alpha: 0.75, beta: 0.5, batch: 2)
        p.strideA = m * k
        p.strideB = k * n
        p.strideC = m * n
        let a = generator.uniformArray(2 * m * k, -1, 1), b = generator.uniformArray(2 * k * n, -1, 1), c0 = generator.uniformArray(2 * m * n, -1, 1)
        var expected = c0
        ReferenceKernels.gemm(p, a: a, b: b, c: &expected)
        for level in CPUInfo.runnableLevels where level != .portable {
            var c = c0
            FastGEMM(pool: Self.pool, level: level).run(p, a: a, b: b, c: &c, threads: 2)
            let error = zip(c, expected).map { abs($0 - $1) }.max()!
            #expect(error < 1e-4 * Float(k), "\(level) \(m)×\(n)×\(k): \(error)")
        }
    }
}
