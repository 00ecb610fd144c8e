import Foundation
import ScalpelCore
import ScalpelCPU
import ScalpelNN
import ScalpelTensor
import ScalpelTestSupport
import Testing
@testable import Scalpel

/// The run folder's report, `scalpel eval` on new data and `scalpel explain`: a saved model
/// scores a reshuffled file exactly as its training run scored the same rows, data that does
/// not fit the model is a clear error, and the attributions are the quantities they claim.
@Suite struct EvalExplainTests {
    func json(_ url: URL) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
    }

    /// Every `src=`/`href=` of a report is a data URI or an anchor: the page needs nothing else.
    func expectSelfContained(_ html: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(html.hasPrefix("<!DOCTYPE html>"), sourceLocation: sourceLocation)
        for attribute in ["src=\"", "href=\""] {
            for value in html.components(separatedBy: attribute).dropFirst() {
                #expect(value.hasPrefix("data:") || value.hasPrefix("#"), "\(attribute)\(value.prefix(20))…", sourceLocation: sourceLocation)
            }
        }
    }

    func csvField(_ text: String) -> String {
        text.contains(",") || text.contains("\"") ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
    }

    @Test func aSavedTableModelScoresAReshuffledFileAsItsRunScoredTheSameRows() throws {
        let folder = try makeTemporaryDirectory("scalpel-eval")
        defer { try? FileManager.default.removeItem(at: folder) }
        let run = folder.appending(path: "run")
        let train = try runScalpel(["train", "--data", dataPath("wdbc.csv"), "--label", "diagnosis", "--positive", "M", "--epochs", "8",
                                    "--seed", "2", "--device", "cpu", "--out", run.path])
        #expect(train.status == 0, "\(train.stderr)")
        let html = try String(contentsOf: run.appending(path: "report.html"), encoding: .utf8)
        expectSelfContained(html)
        for part in ["Diagnostic performance", "95% CI", "ROC curve", "Reliability diagram", "Confusion matrix", "Permutation importance", "Loss"] {
            #expect(html.contains(part), "report.html lacks \(part)")
        }
        #expect(FileManager.default.fileExists(atPath: run.appending(path: "explanations/importance.csv").path))

        // The run's test rows, written with the columns shuffled, an extra column and the rows reversed.
        var config = TrainingConfig(data: dataPath("wdbc.csv"), label: "diagnosis", out: run.path)
        config.positiveClass = "M"
        config.seed = 2
        let prepared = try PreparedData.load(config)
        let lines = try String(contentsOfFile: dataPath("wdbc.csv"), encoding: .utf8).split(whereSeparator: \.isNewline).map(String.init)
        let header = lines[0].split(separator: ",").map(String.init)
        let permutation = Array(header.indices.reversed())
        var text = (permutation.map { header[$0] } + ["site note"]).joined(separator: ",") + "\n"
        for row in prepared.test.reversed() {
            let cells = lines[row + 1].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            text += (permutation.map { cells[$0] } + [csvField("ward 3, bed 2")]).joined(separator: ",") + "\n"
        }
        let subset = folder.appending(path: "cohort.csv")
        try text.write(to: subset, atomically: true, encoding: .utf8)
        let evaluated = folder.appending(path: "eval")
        let result = try runScalpel(["eval", "--checkpoint", run.appending(path: "best.safetensors").path, "--data", subset.path,
                                     "--device", "cpu", "--out", evaluated.path])
        #expect(result.status == 0, "\(result.stderr)")
        let before = try json(run.appending(path: "metrics.json"))["test"] as! [String: Any]
        let after = try json(evaluated.appending(path: "metrics.json"))["test"] as! [String: Any]
        for key in ["accuracy", "sensitivity", "specificity", "f1"] {
            #expect(before[key] as? Double == after[key] as? Double, "\(key): \(before[key] ?? "nil") vs \(after[key] ?? "nil")")
        }
        #expect(abs((before["auroc"] as! Double) - (after["auroc"] as! Double)) < 1e-9)
        // The decision threshold chosen on the run's validation split travels with the model.
        let chosenBefore = (before["at_validation_threshold"] as? [String: Any])?["metrics"] as? [String: Any]
        let chosenAfter = (after["at_validation_threshold"] as? [String: Any])?["metrics"] as? [String: Any]
        #expect(chosenBefore?["sensitivity"] as? Double == chosenAfter?["sensitivity"] as? Double && chosenAfter != nil)
        expectSelfContained(try String(contentsOf: evaluated.appending(path: "report.html"), encoding: .utf8))
        #expect(result.stdout.contains("Data (\(prepared.test.count) rows)"), "\(result.stdout)")

        // One class only: the metrics that need two say so instead of a number.
        let benign = folder.appending(path: "benign.csv")
        try ([lines[0]] + lines.dropFirst().filter { $0.split(separator: ",")[0] == "B" }.prefix(20)).joined(separator: "\n")
            .write(to: benign, atomically: true, encoding: .utf8)
        let single = try runScalpel(["eval", "--checkpoint", run.appending(path: "best.safetensors").path, "--data", benign.path,
                                     "--device", "cpu", "--out", evaluated.path, "--no-explanations", "--overwrite"])
        #expect(single.status == 0, "\(single.stderr)")
        let one = try json(evaluated.appending(path: "metrics.json"))["test"] as! [String: Any]
        #expect(one["auroc"] is NSNull && (one["undefinedReasons"] as? [String: String])?["auroc"] != nil, "\(one)")
    }

    @Test func dataThatDoesNotFitASavedModelIsAClearError() throws {
        let folder = try makeTemporaryDirectory("scalpel-eval")
        defer { try? FileManager.default.removeItem(at: folder) }
        let run = folder.appending(path: "run")
        #expect(try runScalpel(["train", "--data", dataPath("wdbc.csv"), "--epochs", "2", "--device", "cpu", "--out", run.path]).status == 0)
        let checkpoint = run.appending(path: "best.safetensors").path
        let lines = try String(contentsOfFile: dataPath("wdbc.csv"), encoding: .utf8).split(whereSeparator: \.isNewline).map(String.init)
        func evaluate(_ text: String, name: String = "new.csv") throws -> ProcessResult {
            let file = folder.appending(path: name)
            try text.write(to: file, atomically: true, encoding: .utf8)
            return try runScalpel(["eval", "--checkpoint", checkpoint, "--data", file.path, "--device", "cpu", "--out", folder.appending(path: "e").path])
        }
        // A column the model was trained on is missing.
        let header = lines[0].split(separator: ",").map(String.init)
        let without = ([lines[0]] + lines[1 ... 5]).map { line in
            line.split(separator: ",", omittingEmptySubsequences: false).enumerated().filter { $0.offset != 5 }.map { String($0.element) }.joined(separator: ",")
        }.joined(separator: "\n")
        let missing = try evaluate(without)
        #expect(missing.status == 2 && missing.stderr.contains("'\(header[5])'") && missing.stderr.contains("not in the header"), "\(missing.stderr)")
        // A label the model does not know, named with its line.
        var cells = lines[3].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        cells[0] = "X"
        let unknown = try evaluate(([lines[0], lines[1], lines[2], cells.joined(separator: ",")]).joined(separator: "\n"))
        #expect(unknown.status != 0 && unknown.stderr.contains("line 4") && unknown.stderr.contains("'X'"), "\(unknown.stderr)")
        // Words where the model read numbers.
        cells = lines[2].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        cells[4] = "high"
        let words = try evaluate(([lines[0], lines[1], cells.joined(separator: ",")]).joined(separator: "\n"))
        #expect(words.status != 0 && words.stderr.contains(header[4]), "\(words.stderr)")
        // Another kind of data than the model's.
        let signals = try evaluate("1\t0.5\t0.25\n2\t0.1\t0.2\n", name: "signals.tsv")
        #expect(signals.status == 2 && signals.stderr.contains("trained on table data"), "\(signals.stderr)")
        // Not a checkpoint.
        let notCheckpoint = try runScalpel(["eval", "--checkpoint", dataPath("wdbc.csv"), "--data", dataPath("wdbc.csv"), "--device", "cpu",
                                            "--out", folder.appending(path: "e").path])
        #expect(notCheckpoint.status != 0 && notCheckpoint.stderr.contains("wdbc.csv"), "\(notCheckpoint.stderr)")
    }

    @Test func permutationImportanceFindsTheColumnThatCarriesTheLabel() throws {
        let folder = try makeTemporaryDirectory("scalpel-eval")
        defer { try? FileManager.default.removeItem(at: folder) }
        var random = SeededRandom(seed: 11)
        var text = "id,noise,site,signal,outcome\n"
        for i in 0 ..< 240 {
            let signal = random.uniformArray(1)[0] * 2 - 1, noise = random.uniformArray(1)[0]
            let site = ["north", "south", "east"][Int(random.next() % 3)]
            text += "\(i),\(noise),\(site),\(signal),\(signal > 0 ? "sick" : "well")\n"
        }
        let file = folder.appending(path: "cohort.csv")
        try text.write(to: file, atomically: true, encoding: .utf8)
        let run = folder.appending(path: "run")
        let result = try runScalpel(["train", "--data", file.path, "--label", "outcome", "--drop", "id", "--epochs", "30", "--device", "cpu",
                                     "--out", run.path])
        #expect(result.status == 0, "\(result.stderr)")
        let rows = try String(contentsOf: run.appending(path: "explanations/importance.csv"), encoding: .utf8)
            .split(separator: "\n").dropFirst().map { $0.split(separator: ",").map(String.init) }
        // One row per input column (the one-hot site columns shuffled together), the signal first.
        #expect(rows.map { $0[0] }.sorted() == ["noise", "signal", "site"], "\(rows)")
        #expect(rows.first?[0] == "signal" && (Double(rows[0][3]) ?? 0) > 0.2, "\(rows)")
        for row in rows.dropFirst() { #expect(abs(Double(row[3]) ?? 1) < 0.05, "\(row)") }
    }

    @Test func gradCAMOfAGlobalPoolingModelIsItsClassActivationMap() throws {
        // After global average pooling and a linear layer, ∂logit_c/∂A_k(p) = W[c,k] / positions,
        // so Grad-CAM is ReLU(Σ_k W[c,k] A_k) / positions: the class activation map of Zhou et al.
        let cpu = CPUBackend()
        var generator = SeededRandom(seed: 5)
        let conv = try Conv2d(2, 3, kernel: 3, padding: 1, generator: &generator, on: cpu)
        let linear = try Linear(3, 4, generator: &generator, on: cpu)
        let net = Sequential([conv, ReLU(), GlobalAvgPool2d(), linear])
        let x = generator.uniformArray(2 * 2 * 5 * 6).map { $0 * 2 - 1 }
        let targets: [Int32] = [3, 1]
        let cam = try #require(try Attribution.gradCAM(net, x, shape: [2, 2, 5, 6], targets: targets, on: cpu))
        #expect(cam.spatial == [5, 6])
        let activations = try Autograd.noGrad { try ReLU()(try conv(try Tensor(x, shape: [2, 2, 5, 6], on: cpu))).array() }
        let w = try linear.weight.array()  // (out, in)
        for s in 0 ..< 2 {
            for p in 0 ..< 30 {
                var sum: Float = 0
                for k in 0 ..< 3 { sum += w[Int(targets[s]) * 3 + k] * activations[(s * 3 + k) * 30 + p] }
                #expect(abs(cam.maps[s * 30 + p] - max(sum, 0) / 30) < 1e-5, "sample \(s), position \(p)")
            }
        }
        // Parameter gradients are left at zero for a later training step.
        #expect(try conv.weight.grad.map { try $0.array().allSatisfy { $0 == 0 } } ?? true)
    }

    @Test func saliencyIsTheGradientOfThePredictedLogit() throws {
        let cpu = CPUBackend()
        var generator = SeededRandom(seed: 6)
        let linear = try Linear(6, 3, generator: &generator, on: cpu)
        let net = Sequential([Flatten(), linear])
        let x = generator.uniformArray(2 * 6)
        let gradients = try Attribution.inputGradients(net, x, shape: [2, 1, 2, 3], targets: [2, 0], on: cpu)
        let w = try linear.weight.array()
        #expect(Array(gradients[0 ..< 6]) == Array(w[12 ..< 18]))
        #expect(Array(gradients[6 ..< 12]) == Array(w[0 ..< 6]))
    }

    @Test func classWeightsAreBalancedOverTheTrainingRowsOrGiven() throws {
        #expect(try TrainingRun.classWeights("balanced", labels: [0, 0, 0, 1, 2, 2], classes: 4) == [Float(6.0 / 12), Float(6.0 / 4), Float(6.0 / 8), 0])
        #expect(try TrainingRun.classWeights("1, 2.5", labels: [0, 1], classes: 2) == [1, 2.5])
        #expect(try TrainingRun.classWeights(nil, labels: [0, 1], classes: 2) == nil)
        for bad in ["1", "1,-1", "0,0", "1,nan", "heavy"] {
            #expect(throws: ScalpelError.self, "\(bad)") { try TrainingRun.classWeights(bad, labels: [0, 1], classes: 2) }
        }
        // Weighting the rare class up moves the decisions towards it: more predicted positives.
        let folder = try makeTemporaryDirectory("scalpel-eval")
        defer { try? FileManager.default.removeItem(at: folder) }
        func predictedPositives(_ weights: String) throws -> Int {
            let out = folder.appending(path: weights)
            let result = try runScalpel(["train", "--data", dataPath("wdbc.csv"), "--positive", "M", "--epochs", "3", "--lr", "1e-4",
                                         "--class-weights", weights, "--device", "cpu", "--out", out.path])
            #expect(result.status == 0, "\(result.stderr)")
            let confusion = (try json(out.appending(path: "metrics.json"))["test"] as! [String: Any])["confusion"] as! [String: Int]
            return confusion["truePositives"]! + confusion["falsePositives"]!
        }
        #expect(try predictedPositives("1,20") > predictedPositives("20,1"))
    }

    @Test func mapsAreResizedBilinearlyWithPixelCentresAligned() {
        // PyTorch: F.interpolate([[0, 1], [2, 3]], size=4, mode="bilinear", align_corners=False).
        let resized = Attribution.resize([0, 1, 2, 3][...], from: (2, 2), to: (4, 4))
        let expected: [Float] = [0, 0.25, 0.75, 1, 0.5, 0.75, 1.25, 1.5, 1.5, 1.75, 2.25, 2.5, 2, 2.25, 2.75, 3]
        #expect(zip(resized, expected).allSatisfy { abs($0 - $1) < 1e-6 }, "\(resized)")
        #expect(Attribution.resize([7, 7, 7][...], from: (1, 3), to: (1, 10)) == [Float](repeating: 7, count: 10))
    }

    @Test func imageRunsExplainWithOverlaysAndEvaluateASplit() throws {
        let folder = try makeTemporaryDirectory("scalpel-eval")
        defer { try? FileManager.default.removeItem(at: folder) }
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appending(path: "ScalpelDataTests/Fixtures/medmnist_rgb.npz").path
        let run = folder.appending(path: "run")
        let result = try runScalpel(["train", "--data", fixture, "--model", "cnn", "--epochs", "2", "--batch-size", "4", "--device", "cpu",
                                     "--out", run.path])
        #expect(result.status == 0, "\(result.stderr)")
        let files = try FileManager.default.contentsOfDirectory(atPath: run.appending(path: "explanations").path)
        #expect(files.contains { $0.hasPrefix("gradcam-") && $0.hasSuffix(".png") } && files.contains { $0.hasPrefix("saliency-") }, "\(files)")
        let png = try Data(contentsOf: run.appending(path: "explanations/" + files.first { $0.hasPrefix("gradcam-") }!))
        #expect(Array(png.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        let html = try String(contentsOf: run.appending(path: "report.html"), encoding: .utf8)
        #expect(html.contains("data:image/png;base64,") && html.contains("Grad-CAM"))
        expectSelfContained(html)
        let explained = folder.appending(path: "explain")
        let explain = try runScalpel(["explain", "--checkpoint", run.appending(path: "best.safetensors").path, "--data", fixture,
                                      "--split", "val", "--device", "cpu", "--out", explained.path])
        #expect(explain.status == 0, "\(explain.stderr)")
        expectSelfContained(try String(contentsOf: explained.appending(path: "explanations.html"), encoding: .utf8))
        let bad = try runScalpel(["eval", "--checkpoint", run.appending(path: "best.safetensors").path, "--data", fixture,
                                  "--split", "holdout", "--device", "cpu", "--out", explained.path])
        #expect(bad.status == 2 && bad.stderr.contains("--split holdout"), "\(bad.stderr)")
    }
}
