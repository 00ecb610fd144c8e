import Foundation
import ScalpelCore
import ScalpelCPU
import ScalpelIO
import ScalpelNN
import ScalpelTensor
import ScalpelTestSupport
import Testing

/// The weight average (`--ema`): its recurrence, its swap in and out of the model, and a
/// training run that validates, tests and saves the average and resumes exactly.
@Suite struct WeightAverageTests {
    struct Planted: Error {}

    @Test func theAverageFollowsItsRecurrenceAndSwapsInAndOut() throws {
        let backend = CPUBackend()
        var generator = SeededRandom(seed: 3)
        let layer = try Linear(2, 1, generator: &generator, on: backend)
        let start = try layer.weight.array() + layer.bias!.array()
        let average = try WeightAverage(layer, decay: 0.9)
        // Early steps keep (1 + t) / (10 + t) of the average, later ones the decay.
        #expect(abs(WeightAverage.keptFraction(decay: 0.9, step: 1) - 2 / 11) < 1e-7)
        #expect(WeightAverage.keptFraction(decay: 0.9, step: 1000) == 0.9)
        var expected = start.map(Double.init)
        var values = start
        for step in 1 ... 30 {
            values = values.map { $0 + 0.25 }
            try Array(values[0 ..< 2]).withUnsafeBufferPointer { try backend.write($0, to: layer.weight.storage, at: 0) }
            try [values[2]].withUnsafeBufferPointer { try backend.write($0, to: layer.bias!.storage, at: 0) }
            try average.update(step: step)
            let kept = Double(WeightAverage.keptFraction(decay: 0.9, step: step))
            expected = zip(expected, values).map { kept * $0 + (1 - kept) * Double($1) }
        }
        let averaged = try average.averages.flatMap { try $0.tensor.array() }
        for (a, e) in zip(averaged, expected) { #expect(abs(Double(a) - e) < 1e-5) }
        // Moving by +0.25 a step, the average trails the live weights: by 0.25 · d / (1 − d) = 2.25 at a
        // steady d = 0.9, by less while the warm-up keeps less (0.775 after 30 steps).
        #expect(zip(averaged, values).allSatisfy { abs(($1 - $0) - 0.775) < 1e-4 })
        let inside = try average.withAverage { try layer.weight.array() + layer.bias!.array() }
        #expect(inside == averaged)
        #expect(try layer.weight.array() + layer.bias!.array() == values, "the live weights come back")
        #expect(throws: Planted.self) { try average.withAverage { throw Planted() } }
        #expect(try layer.weight.array() + layer.bias!.array() == values, "the live weights come back after a throw too")
        #expect(throws: ScalpelError.self) { try WeightAverage(layer, decay: 1) }
    }

    func metrics(_ folder: URL) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appending(path: "metrics.json"))) as! [String: Any]
    }

    @Test func aRunWithEMATestsAndSavesTheAverageAndResumesExactly() throws {
        let folder = try makeTemporaryDirectory("scalpel-ema")
        defer { try? FileManager.default.removeItem(at: folder) }
        let (train, test) = try SequenceTrainingTests.write(folder)
        let (full, part, plain) = (folder.appending(path: "full"), folder.appending(path: "part"), folder.appending(path: "plain"))
        // The FCN: convolutions and BatchNorm, whose running statistics are averaged too.
        // A constant rate: a shorter run resumed to more epochs then follows the straight run's rates.
        let common = ["train", "--data", train, "--test", test, "--model", "fcn", "--batch-size", "6", "--lr", "3e-3",
                      "--device", "cpu", "--seed", "5", "--select", "last", "--schedule", "constant"]
        let run = try runScalpel(common + ["--epochs", "4", "--ema", "0.9", "--out", full.path])
        #expect(run.status == 0, "\(run.stderr)")
        let last = try SafeTensorsFile.read(from: full.appending(path: "last.safetensors"))
        let best = try SafeTensorsFile.read(from: full.appending(path: "best.safetensors"))
        let names = best.tensors.keys.filter { !$0.hasPrefix("optimizer.") }
        #expect(names.contains { $0.hasSuffix("runningVar") })
        // The reported (last) epoch's model is the average, not the live weights, which last.safetensors also keeps.
        for name in names {
            #expect(try best.tensors[name]!.floats == last.tensors["ema." + name]!.floats, "\(name)")
        }
        #expect(try names.contains { try best.tensors[$0]!.floats != last.tensors[$0]!.floats })
        #expect((try metrics(full)["data"] as! [String: String])["weight average"]?.contains("decay 0.9") == true)
        // What was tested is what was saved: evaluating best.safetensors gives the run's test metrics.
        let evaluated = folder.appending(path: "eval")
        let eval = try runScalpel(["eval", "--checkpoint", full.appending(path: "best.safetensors").path, "--data", test,
                                   "--device", "cpu", "--out", evaluated.path])
        #expect(eval.status == 0, "\(eval.stderr)")
        let tested = try metrics(full)["test"] as! [String: Any], again = try metrics(evaluated)["test"] as! [String: Any]
        #expect(tested["accuracy"] as? Double == again["accuracy"] as? Double)
        #expect(tested["loss"] as? Double == again["loss"] as? Double)
        // Stopped after 2 epochs and resumed: the same weights, averages and history as the straight run.
        #expect(try runScalpel(common + ["--epochs", "2", "--ema", "0.9", "--out", part.path]).status == 0)
        let lastPart = part.appending(path: "last.safetensors").path
        // Resuming takes the run's own --ema; one that contradicts it is refused by name.
        let withoutEMA = try runScalpel(common + ["--epochs", "4", "--ema", "0", "--out", part.path, "--resume", lastPart])
        #expect(withoutEMA.status != 0 && withoutEMA.stderr.contains("--ema none (the run used 0.9)"), "\(withoutEMA.stderr)")
        let resumed = try runScalpel(common + ["--epochs", "4", "--ema", "0.9", "--out", part.path, "--resume", lastPart])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(try SafeTensorsFile.read(from: part.appending(path: "last.safetensors")).tensors == last.tensors)
        let history = { (folder: URL) in try (self.metrics(folder)["history"] as! [[String: Any]]).map { $0["trainLoss"] as! Double } }
        #expect(try history(full) == history(part))
        // A run without the average cannot be resumed with one.
        #expect(try runScalpel(common + ["--epochs", "2", "--ema", "0", "--out", plain.path]).status == 0)
        let withEMA = try runScalpel(common + ["--epochs", "4", "--ema", "0.9", "--out", plain.path, "--resume",
                                               plain.appending(path: "last.safetensors").path])
        #expect(withEMA.status != 0 && withEMA.stderr.contains("--ema 0.9 (the run used none)"), "\(withEMA.stderr)")
        let bad = try runScalpel(common + ["--epochs", "1", "--ema", "1", "--out", plain.path])
        #expect(bad.status != 0 && bad.stderr.contains("--ema 1"), "\(bad.stderr)")
    }
}
