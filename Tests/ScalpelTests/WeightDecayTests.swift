import Foundation
import ScalpelCore
import ScalpelIO
import ScalpelTestSupport
import Testing

/// `--weight-decay`: AdamW's decoupled decay, checked through a training run. One full-batch
/// step from the same seeded weights w0 gives w0 − adam(g) without decay and
/// w0·(1 − rate·λ) − adam(g) with it (Adam's first step does not depend on λ when the decay is
/// decoupled), so the change the decay makes is −rate·λ·w0: linear in λ, for every tensor.
/// Decay fed through the gradient (Adam's L2 rule) would be normalised away and fail this.
@Suite struct WeightDecayTests {
    @Test func decoupledDecayShrinksTheFirstStepLinearlyInTheDecay() throws {
        let folder = try makeTemporaryDirectory("scalpel-wd")
        defer { try? FileManager.default.removeItem(at: folder) }
        let (train, test) = try SequenceTrainingTests.write(folder, trainCount: 4)
        let common = ["train", "--data", train, "--test", test, "--model", "fcn", "--batch-size", "12", "--lr", "0.05", // 4 × 3 classes = 12 rows: one step
                      "--epochs", "1", "--device", "cpu", "--seed", "5", "--select", "last"]
        func weights(_ decay: String?) throws -> [String: [Float]] {
            let out = folder.appending(path: "wd-\(decay ?? "none")")
            let run = try runScalpel(common + ["--out", out.path] + (decay.map { ["--weight-decay", $0] } ?? []))
            #expect(run.status == 0, "\(run.stderr)")
            let file = try SafeTensorsFile.read(from: out.appending(path: "best.safetensors"))
            let notes = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appending(path: "metrics.json"))) as! [String: Any]
            #expect(((notes["data"] as! [String: String])["weight decay"] != nil) == (decay != nil))
            return try Dictionary(uniqueKeysWithValues: file.tensors.filter { !$0.key.hasPrefix("optimizer.") && !$0.key.contains("running") }
                .map { ($0.key, try $0.value.floats) })
        }
        let plain = try weights(nil), one = try weights("1"), two = try weights("2")
        #expect(plain.keys.contains { $0.hasSuffix("weight") } && plain.keys == one.keys && plain.keys == two.keys)
        var largest: Float = 0
        for (name, base) in plain {
            let d1 = zip(one[name]!, base).map { $0 - $1 }, d2 = zip(two[name]!, base).map { $0 - $1 }
            for (a, b) in zip(d1, d2) {
                #expect(abs(b - 2 * a) <= 2e-6 + 1e-3 * abs(b), "\(name): \(a) then \(b)")
            }
            largest = max(largest, d2.map(abs).max() ?? 0)
        }
        #expect(largest > 1e-3, "the decay changed the weights")
        let bad = try runScalpel(common + ["--out", folder.appending(path: "bad").path, "--weight-decay", "30"])
        #expect(bad.status != 0 && bad.stderr.contains("--weight-decay 30"), "\(bad.stderr)")
    }
}
