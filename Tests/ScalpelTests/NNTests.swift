import Foundation
import ScalpelCPU
import ScalpelCore
import ScalpelIO
import ScalpelNN
import ScalpelTensor
import ScalpelTestSupport
import Testing

@Suite struct NNTests {
    let cpu = TensorBackends.cpu

    final class TwoLayer: Module, Layer {
        let first: Linear
        let norm: BatchNorm1d
        let blocks: [Linear]
        let head: Linear?

        init(on backend: any Backend) throws {
            var g = SeededRandom(seed: 1)
            first = try Linear(3, 4, generator: &g, on: backend)
            norm = try BatchNorm1d(4, on: backend)
            blocks = [try Linear(4, 4, generator: &g, on: backend), try Linear(4, 4, bias: false, generator: &g, on: backend)]
            head = try Linear(4, 2, generator: &g, on: backend)
        }

        func callAsFunction(_ x: Tensor) throws -> Tensor {
            var h = try norm(first(x)).relu()
            for block in blocks { h = try block(h).relu() }
            return try head!(h)
        }
    }

    @Test func parametersAndStateAreFoundAndNamedByPath() throws {
        let model = try TwoLayer(on: cpu)
        #expect(model.namedTensors().map(\.name) == ["first.weight", "first.bias", "norm.weight", "norm.bias", "norm.runningMean", "norm.runningVar",
                                                      "blocks.0.weight", "blocks.0.bias", "blocks.1.weight", "head.weight", "head.bias"])
        #expect(model.namedParameters().count == 9)
        #expect(model.parameterCount == 12 + 4 + 4 + 4 + 20 + 16 + 8 + 2)
        model.eval()
        #expect(!model.norm.isTraining && !model.blocks[1].isTraining)
    }

    /// A Linear followed by a ReLU in a Sequential runs as one GEMM whose store adds the bias
    /// and applies the ReLU; outputs and every gradient equal those of the layers run apart,
    /// bit for bit (the epilogue performs the same fp32 operations), on every backend.
    @Test(arguments: AttentionBackends.names)
    func linearThenReLUFusesWithTheSameResults(_ backendName: String) throws {
        let backend = try AttentionBackends.backend(backendName)
        func run(fused: Bool) throws -> [[Double]] {
            var g = SeededRandom(seed: 11)
            let first = try Linear(9, 20, generator: &g, on: backend), second = try Linear(20, 3, bias: false, generator: &g, on: backend)
            let x = try Tensor(g.uniformArray(6 * 9, -1, 1), shape: [2, 3, 9], on: backend, requiresGrad: true)
            let y = fused ? try Sequential([first, ReLU(), second, ReLU()])(x) : try second(first(x).relu()).relu()
            try (y * tensor((0 ..< y.count).map { Double($0 % 5) - 1.5 }, y.shape, on: backend)).sum().backward()
            return try [doubles(y)] + [x, first.weight, first.bias!, second.weight].map { try doubles($0.grad!) }
        }
        let (fused, apart) = (try run(fused: true), try run(fused: false))
        for (index, name) in ["output", "dx", "dW1", "db1", "dW2"].enumerated() {
            #expect(fused[index] == apart[index], "\(name) on \(backendName)")
        }
        #expect(fused[0].contains(0) && fused[0].contains { $0 > 0 }, "the ReLU clamps some outputs and passes others")
    }

    /// A Conv2d followed by a ReLU: the ReLU in the implicit-GEMM forward's store (each
    /// algorithm forced, and the backend's own choice through a Sequential), with outputs and
    /// gradients equal to the layers run apart, bit for bit, on every backend.
    @Test(arguments: AttentionBackends.names)
    func conv2dThenReLUFusesWithTheSameResults(_ backendName: String) throws {
        let backend = try AttentionBackends.backend(backendName)
        func run(fused: Bool, algorithm: ConvAlgorithm?) throws -> [[Double]] {
            var g = SeededRandom(seed: 13)
            let conv = try Conv2d(3, 5, kernel: 3, padding: 1, generator: &g, on: backend)
            let x = try Tensor(g.uniformArray(2 * 3 * 7 * 6, -1, 1), shape: [2, 3, 7, 6], on: backend, requiresGrad: true)
            let y: Tensor
            if let algorithm {
                let plain = { (relu: Bool) in
                    try x.conv2d(weight: conv.weight, bias: conv.bias, padding: (1, 1), algorithm: algorithm, relu: relu)
                }
                y = fused ? try plain(true) : try plain(false).relu()
            } else {
                y = fused ? try Sequential([conv, ReLU()])(x) : try conv(x).relu()
            }
            try (y * tensor((0 ..< y.count).map { Double($0 % 7) - 3 }, y.shape, on: backend)).sum().backward()
            return try [doubles(y)] + [x, conv.weight, conv.bias!].map { try doubles($0.grad!) }
        }
        for algorithm in [ConvAlgorithm.implicitGEMM, .im2colGEMM, nil] {
            let (fused, apart) = (try run(fused: true, algorithm: algorithm), try run(fused: false, algorithm: algorithm))
            for (index, name) in ["output", "dx", "dweight", "dbias"].enumerated() {
                #expect(fused[index] == apart[index], "\(name), \(algorithm.map { "\($0)" } ?? "the backend's choice") on \(backendName)")
            }
            #expect(fused[0].contains(0) && fused[0].contains { $0 > 0 }, "the ReLU clamps some outputs and passes others")
        }
    }

    @Test func batchNormUsesBatchStatisticsInTrainingAndRunningOnesInEvaluation() throws {
        let bn = try BatchNorm1d(2, momentum: 0.5, on: cpu)
        let x = try Tensor([1, 10, 3, 20, 5, 30], shape: [3, 2], on: cpu)
        let y = try bn(x).array()
        #expect(abs(y[0] + 1.2247) < 1e-3 && abs(y[2]) < 1e-5 && abs(y[4] - 1.2247) < 1e-3)
        // running = 0.5·0 + 0.5·mean; var: 0.5·1 + 0.5·unbiased (4 and 100)
        #expect(try bn.runningMean.array() == [1.5, 10])
        let runningVar = try bn.runningVar.array()
        #expect(abs(runningVar[0] - 2.5) < 1e-5 && abs(runningVar[1] - 50.5) < 1e-4, "\(runningVar)")
        bn.eval()
        let z = try bn(x).array()
        #expect(abs(z[0] - (1 - 1.5) / Float(2.5 + 1e-5).squareRoot()) < 1e-5)
    }

    @Test func dropoutIsSeededAndOffInEvaluation() throws {
        let x = try Tensor.ones([1000], on: cpu)
        let a = try Dropout(0.3, seed: 7)(x).array(), b = try Dropout(0.3, seed: 7)(x).array()
        #expect(a == b)
        let kept = a.filter { $0 != 0 }
        #expect(abs(Float(kept.count) / 1000 - 0.7) < 0.05 && kept.allSatisfy { abs($0 - 1 / 0.7) < 1e-6 })
        let off = Dropout(0.3, seed: 7)
        off.eval()
        #expect(try off(x).array() == [Float](repeating: 1, count: 1000))
    }

    @Test func sgdFollowsPyTorchsRule() throws {
        // p = 1, g = 0.5 each step, lr 0.1, momentum 0.9, weight decay 0.1, Nesterov.
        let p = try Tensor([1], shape: [1], on: cpu, requiresGrad: true)
        let sgd = try SGD([("p", p)], learningRate: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.1)
        var value = 1.0, buffer = 0.0
        for step in 1 ... 3 {
            try sgd.zeroGrad()
            try (p * 0.5).sum().backward()
            try sgd.step()
            let d = 0.5 + 0.1 * value
            buffer = step == 1 ? d : 0.9 * buffer + d
            value -= 0.1 * (d + 0.9 * buffer)
            #expect(abs(Double(try p.item()) - value) < 1e-6, "step \(step)")
        }
    }

    @Test(arguments: [false, true])
    func adamAndAdamWFollowPyTorchsRule(_ decoupled: Bool) throws {
        let p = try Tensor([2], shape: [1], on: cpu, requiresGrad: true)
        let adam = try Adam([("p", p)], learningRate: 0.01, weightDecay: 0.1, decoupledWeightDecay: decoupled)
        var value = 2.0, m = 0.0, v = 0.0
        for t in 1 ... 4 {
            try adam.zeroGrad()
            try p.square().sum().backward() // g = 2p
            try adam.step()
            var g = 2 * value
            if decoupled { value *= 1 - 0.01 * 0.1 } else { g += 0.1 * value }
            m = 0.9 * m + 0.1 * g
            v = 0.999 * v + 0.001 * g * g
            value -= 0.01 / (1 - pow(0.9, Double(t))) * m / (v.squareRoot() / (1 - pow(0.999, Double(t))).squareRoot() + 1e-8)
            #expect(abs(Double(try p.item()) - value) < 1e-5, "step \(t)")
        }
    }

    @Test func clippingScalesTheGlobalNorm() throws {
        let a = try Tensor([0, 0], shape: [2], on: cpu, requiresGrad: true), b = try Tensor([0], shape: [1], on: cpu, requiresGrad: true)
        try (a * (try Tensor([3, 0], shape: [2], on: cpu))).sum().backward()
        try (b * 4).sum().backward()
        let norm = try clipGradientNorm([a, b], maxNorm: 1).item()
        #expect(abs(norm - 5) < 1e-5)
        #expect(try a.grad!.array().map { ($0 * 1000).rounded() / 1000 } == [0.6, 0])
        #expect(abs(try b.grad!.item() - 0.8) < 1e-4)
        // Under the limit: the gradients are left as they are.
        let unclipped = try clipGradientNorm([a, b], maxNorm: 2).item()
        #expect(abs(unclipped - 1) < 1e-4)
        #expect(try a.grad!.array().map { ($0 * 1000).rounded() / 1000 } == [0.6, 0])
    }

    @Test func schedulesGiveTheDocumentedRates() {
        #expect(LearningRateSchedule.step(stepSize: 10, gamma: 0.5).rate(base: 1, epoch: 25) == 0.25)
        #expect(abs(LearningRateSchedule.cosine(total: 10, minimum: 0).rate(base: 1, epoch: 5) - 0.5) < 1e-6)
        #expect(LearningRateSchedule.cosine(total: 10, minimum: 0.1).rate(base: 1, epoch: 10) == 0.1)
        let warm = LearningRateSchedule.warmup(epochs: 4, then: .constant)
        #expect(warm.rate(base: 1, epoch: 0) == 0.25 && warm.rate(base: 1, epoch: 3) == 1 && warm.rate(base: 1, epoch: 9) == 1)
    }

    @Test func checkpointsRoundTripAndRefuseAModelTheyDoNotFit() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appending(path: "model.safetensors")
        let model = try TwoLayer(on: cpu)
        let adam = try Adam(model.namedParameters())
        try (model(try Tensor.ones([2, 3], on: cpu))).sum().backward()
        try adam.step()
        try Checkpoint.save(model: model, optimizer: adam, metadata: ["epoch": "3"], to: url)
        let other = try TwoLayer(on: cpu)
        try other.first.weight.backend.fill(other.first.weight.storage, value: 0, offset: 0, count: 12)
        let otherAdam = try Adam(other.namedParameters())
        let file = try Checkpoint.read(from: url)
        #expect(file.metadata["epoch"] == "3")
        #expect(file.tensors["optimizer.first.weight.exp_avg"] != nil)
        try Checkpoint.restore(file, into: other, optimizer: otherAdam, source: url.path)
        for ((_, a), (_, b)) in zip(model.namedTensors(), other.namedTensors()) { #expect(try a.array() == b.array()) }
        #expect(otherAdam.stepCount == 1)
        var g = SeededRandom(seed: 3)
        let wrong = Sequential([try Linear(5, 4, generator: &g, on: cpu)])
        #expect { try Checkpoint.restore(file, into: wrong, source: url.path) } throws: { "\($0)".contains("does not fit the model") }
        // A failed save leaves the good checkpoint in place.
        let before = try Data(contentsOf: url)
        try FileManager.default.setAttributes([.posixPermissions: 0o500], ofItemAtPath: directory.path)
        defer { try? FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: directory.path) }
        if getuid() != 0 { // root ignores directory permissions
            #expect(throws: (any Error).self) { try Checkpoint.save(model: other, to: url) }
            #expect(try Data(contentsOf: url) == before)
        }
    }
}

/// `scalpel train` end to end: targets, metrics.json, and a resumed run that continues exactly.
@Suite struct TrainingTests {
    func metrics(_ folder: URL) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appending(path: "metrics.json"))) as! [String: Any]
    }

    /// `--early-stopping N` ends a run whose validation AUROC stalls (here: a learning rate too
    /// small to move it) N epochs after its best, says so, and reports the epochs it ran.
    @Test func earlyStoppingEndsAStalledRun() throws {
        let out = try makeTemporaryDirectory("scalpel-early")
        defer { try? FileManager.default.removeItem(at: out) }
        let result = try runScalpel(["train", "--data", dataPath("wdbc.csv"), "--label", "diagnosis", "--device", "cpu", "--epochs", "40",
                                     "--lr", "1e-12", "--early-stopping", "2", "--out", out.path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("stopped early after epoch 3"), "\(result.stderr)")
        #expect((try metrics(out)["history"] as? [Any])?.count == 3)
        #expect(try metrics(out)["selectedEpoch"] as? Int == 1)
    }

    @Test func wdbcTrainsToTheTargetsAndWritesMetrics() throws {
        let out = try makeTemporaryDirectory("scalpel-run")
        defer { try? FileManager.default.removeItem(at: out) }
        let result = try runScalpel(["train", "--data", dataPath("wdbc.csv"), "--label", "diagnosis", "--model", "mlp", "--device", "cpu",
                                     "--out", out.path])
        #expect(result.status == 0, "\(result.stderr)")
        let test = try metrics(out)["test"] as! [String: Any]
        for key in ["accuracy", "auroc", "sensitivity", "specificity", "f1"] { #expect(test[key] is Double, "test.\(key)") }
        #expect(test["auroc"] as! Double >= 0.99)
        // Bootstrap intervals around the point estimates, and the Youden threshold from validation.
        let intervals = try #require((test["intervals"] as? [String: Any])?["metrics"] as? [String: Any])
        let auroc = try #require(intervals["auroc"] as? [String: Any]), bounds = try #require(auroc["interval"] as? [String: Double])
        let (low, high, estimate) = (bounds["low"] ?? .nan, bounds["high"] ?? .nan, test["auroc"] as? Double ?? .nan)
        #expect(low <= estimate && estimate <= high && low < high, "\(auroc)")
        let chosen = try #require(test["at_validation_threshold"] as? [String: Any])
        #expect((chosen["metrics"] as? [String: Any])?["sensitivity"] is Double && chosen["choice"] != nil)
        // A user's target sensitivity instead of Youden's J: met on validation at the chosen threshold.
        let strict = try runScalpel(["train", "--data", dataPath("wdbc.csv"), "--label", "diagnosis", "--model", "mlp", "--device", "cpu",
                                     "--epochs", "20", "--target-sensitivity", "0.99", "--out", out.path, "--overwrite"])
        #expect(strict.status == 0, "\(strict.stderr)")
        let picked = try #require((try metrics(out)["test"] as! [String: Any])["at_validation_threshold"] as? [String: Any])
        let choice = try #require(picked["choice"] as? [String: Any])
        #expect((choice["sensitivity"] as? Double ?? 0) >= 0.99 && (picked["rule"] as? String)?.contains("0.99") == true, "\(picked)")
        let bad = try runScalpel(["train", "--data", dataPath("wdbc.csv"), "--target-sensitivity", "1.5", "--device", "cpu", "--out", out.path])
        #expect(bad.status != 0 && bad.stderr.contains("--target-sensitivity"), "\(bad.stderr)")
        #expect(test["accuracy"] as! Double >= 0.96)
        #expect(result.stderr.contains("epoch 60/60") && result.stderr.contains("ETA"))
        for file in ["best.safetensors", "last.safetensors", "config.json"] {
            #expect(FileManager.default.fileExists(atPath: out.appending(path: file).path), "\(file)")
        }
    }

    @Test func aResumedRunContinuesBitForBit() throws {
        let full = try makeTemporaryDirectory("scalpel-run"), part = try makeTemporaryDirectory("scalpel-run")
        defer {
            try? FileManager.default.removeItem(at: full)
            try? FileManager.default.removeItem(at: part)
        }
        let common = ["train", "--data", dataPath("wdbc.csv"), "--device", "cpu", "--seed", "3"]
        #expect(try runScalpel(common + ["--epochs", "6", "--out", full.path]).status == 0)
        #expect(try runScalpel(common + ["--epochs", "3", "--out", part.path]).status == 0)
        let resumed = try runScalpel(common + ["--epochs", "6", "--out", part.path, "--resume", part.appending(path: "last.safetensors").path])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let a = try metrics(full)["history"] as! [[String: Any]], b = try metrics(part)["history"] as! [[String: Any]]
        #expect(a.count == 6 && b.count == 6)
        for (x, y) in zip(a, b) {
            #expect(x["trainLoss"] as! Double == y["trainLoss"] as! Double, "epoch \(x["epoch"]!)")
            #expect(x["validationLoss"] as! Double == y["validationLoss"] as! Double)
        }
        #expect(try Data(contentsOf: full.appending(path: "last.safetensors")) == Data(contentsOf: part.appending(path: "last.safetensors"))
                || (try SafeTensorsFile.read(from: full.appending(path: "last.safetensors")).tensors
                    == SafeTensorsFile.read(from: part.appending(path: "last.safetensors")).tensors))
    }

    @Test func imagesTrainWithTheConvNetCNNAndResNetAndReportMulticlassMetrics() throws {
        let out = try makeTemporaryDirectory("scalpel-run")
        defer { try? FileManager.default.removeItem(at: out) }
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appending(path: "ScalpelDataTests/Fixtures/medmnist_rgb.npz").path
        for model in ["convnet", "cnn", "resnet18"] {
            let result = try runScalpel(["train", "--data", fixture, "--model", model, "--epochs", "2", "--batch-size", "4", "--device", "cpu",
                                         "--out", out.path, "--overwrite"])
            #expect(result.status == 0, "\(model): \(result.stderr)")
            let test = try metrics(out)["test"] as! [String: Any]
            for key in ["accuracy", "auroc", "f1_macro", "recall_macro", "perClass", "confusionMatrix"] { #expect(test[key] != nil, "\(model): test.\(key)") }
            // The convnet and the ResNet-18 train with a cosine rate and a weight average unless told otherwise;
            // the small CNN at a constant rate, without one.
            let config = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appending(path: "config.json"))) as! [String: Any]
            #expect(config["schedule"] as? String == (model == "cnn" ? "constant" : "cosine"), "\(model)")
            #expect((config["ema"] as? Double).map { abs($0 - 0.98) < 1e-6 } ?? false == (model != "cnn"), "\(model)")
        }
        // --ema 0 turns the ResNet-18's average off.
        let plain = try runScalpel(["train", "--data", fixture, "--model", "resnet18", "--epochs", "1", "--batch-size", "4", "--ema", "0",
                                    "--device", "cpu", "--out", out.path, "--overwrite"])
        #expect(plain.status == 0, "\(plain.stderr)")
        let plainConfig = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appending(path: "config.json"))) as! [String: Any]
        let plainNotes = try metrics(out)["data"] as! [String: String]
        #expect(plainConfig["ema"] == nil && plainNotes["weight average"] == nil)
        let mlp = try runScalpel(["train", "--data", fixture, "--model", "mlp", "--out", out.path])
        #expect(mlp.status == 2 && mlp.stderr.contains("does not fit images data"), "\(mlp.stderr)")
    }

    @Test func breastMNISTIsTheDefaultAndTrainsTheConvNet() throws {
        let out = try makeTemporaryDirectory("scalpel-run")
        defer { try? FileManager.default.removeItem(at: out) }
        let result = try runScalpel(["train", "--epochs", "2", "--device", "cpu", "--out", out.path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("training convnet") && result.stderr.contains("546 train / 78 validation / 156 test"), "\(result.stderr)")
        let report = try metrics(out)
        #expect((report["test"] as! [String: Any])["auroc"] is Double)
        #expect(report["selectedEpoch"] is Int)
    }

    @Test func categoricalColumnsAndMissingValuesAreEncodedImputedAndReported() throws {
        let folder = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        // 60 patients: the outcome follows the marker and the smoking status; some cells are empty or NA.
        var lines = ["outcome,marker,smoking,site"]
        for i in 0 ..< 60 {
            let sick = i % 2 == 0
            let marker = i % 7 == 3 ? "" : String(format: "%.2f", (sick ? 2.0 : -2.0) + Double(i % 5) * 0.1)
            let smoking = i % 11 == 5 ? "NA" : (sick ? "current" : (i % 3 == 0 ? "former" : "never"))
            lines.append("\(sick ? "yes" : "no"),\(marker),\(smoking),\(i % 3 + 1)")
        }
        let csv = folder.appending(path: "patients.csv")
        try (lines.joined(separator: "\n") + "\n").write(to: csv, atomically: true, encoding: .utf8)
        let out = folder.appending(path: "run")
        let result = try runScalpel(["train", "--data", csv.path, "--label", "outcome", "--positive", "yes", "--categorical", "site",
                                     "--epochs", "30", "--device", "cpu", "--out", out.path])
        #expect(result.status == 0, "\(result.stderr)")
        let report = try metrics(out)
        let notes = report["data"] as! [String: String]
        #expect(notes["categorical columns"] == "site, smoking (one-hot encoded)", "\(notes)")
        let missing = try #require(notes["missing values"])
        #expect(missing.contains("marker: 9 cells imputed with the training median") && missing.contains("smoking: 5 cells imputed as an all-zero one-hot"),
                "\(missing)")
        #expect((report["test"] as! [String: Any])["auroc"] as! Double >= 0.9)
    }

    @Test func badTrainingInputIsAClearError() throws {
        let folder = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let csv = folder.appending(path: "bad.csv")
        try "y,a,b\n1,0.5,2\n0,oops,3\n".write(to: csv, atomically: true, encoding: .utf8)
        let result = try runScalpel(["train", "--data", csv.path, "--label", "y", "--device", "cpu", "--out", folder.appending(path: "run").path])
        #expect(result.status != 0)
        #expect(result.stderr.contains("line 3") && result.stderr.contains("oops"), "\(result.stderr)")
        let missing = try runScalpel(["train", "--data", csv.path, "--label", "nope", "--device", "cpu", "--out", folder.appending(path: "run").path])
        #expect(missing.stderr.contains("nope"), "\(missing.stderr)")
    }
}

/// The plateau schedule (Keras's ReduceLROnPlateau): halved after `patience` epochs without an
/// improvement of 1e-4, never below the minimum, the same whatever epoch it is asked about.
@Suite struct PlateauScheduleTests {
    @Test func halvesAfterPatienceEpochsWithoutImprovementDownToTheMinimum() {
        let schedule = LearningRateSchedule.plateau(patience: 2, factor: 0.5, minimum: 0.2)
        let losses = [1.0, 0.9, 0.90005, 0.95, 0.8, 0.85, 0.86, 0.87, 0.88, 0.89, 0.9]
        let rates = (0 ... losses.count).map { schedule.rate(base: 1, epoch: $0, losses: losses) }
        // Epochs 2 and 3 do not improve on 0.9 by 1e-4 → halved from epoch 4; 0.8 at epoch 4 resets;
        // 5 and 6 stall → 0.25 from epoch 7; 7 and 8 stall → 0.2 (the minimum) from epoch 9.
        #expect(rates == [1, 1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.2, 0.2, 0.2])
        #expect(schedule.rate(base: 1, epoch: 3, losses: Array(losses.prefix(3))) == 1)
        #expect(LearningRateSchedule.cosine(total: 10, minimum: 0).rate(base: 1, epoch: 10, losses: losses) < 1e-6)
    }
}
