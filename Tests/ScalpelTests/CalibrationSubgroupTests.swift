import Foundation
import Scalpel
import ScalpelTestSupport
import Testing

/// `--calibrate temperature`, `--subgroup-column` and what config.json records.
struct CalibrationSubgroupTests {
    /// A table of 1,500 rows whose outcome follows x1 + x2 with a quarter of the labels flipped (a
    /// model that learns the training rows by heart is over-confident), and a site column.
    static func noisyTable(_ folder: URL) throws -> URL {
        var generator = SeededRandom(seed: 11)
        func normal() -> Double {
            let u = max(Double(generator.next() >> 11) / Double(1 << 53), 1e-12), v = Double(generator.next() >> 11) / Double(1 << 53)
            return (-2 * Foundation.log(u)).squareRoot() * Foundation.cos(2 * Double.pi * v)
        }
        var lines = ["x1,x2,x3,x4,site,outcome"]
        for row in 0 ..< 1500 {
            let x = (0 ..< 4).map { _ in normal() }
            var sick = x[0] + x[1] > 0
            if generator.next() % 4 == 0 { sick.toggle() }
            lines.append(x.map { String(format: "%.4f", $0) }.joined(separator: ",") + ",\(["A", "B", "C"][row % 3]),\(sick ? "yes" : "no")")
        }
        let url = folder.appending(path: "noisy.csv")
        try (lines.joined(separator: "\n") + "\n").write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    func json(_ url: URL) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
    }

    /// The probability column of each line of a predictions.csv.
    func probabilities(_ url: URL) throws -> [String: String] {
        let lines = try String(contentsOf: url, encoding: .utf8).split(whereSeparator: \.isNewline).dropFirst()
        return Dictionary(uniqueKeysWithValues: lines.map { line in
            let cells = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            return (cells[0], cells[2])
        })
    }

    @Test func temperatureScalingCalibratesAnOverConfidentModelAndTravelsWithIt() throws {
        let folder = try makeTemporaryDirectory("scalpel-calibrate")
        defer { try? FileManager.default.removeItem(at: folder) }
        let data = try Self.noisyTable(folder)
        let run = folder.appending(path: "run")
        // Deliberately over-confident: the last epoch of a wide network without dropout at a high rate.
        let trained = try runScalpel(["train", "--data", data.path, "--label", "outcome", "--positive", "yes", "--epochs", "60", "--lr", "0.01",
                                      "--hidden", "128", "--dropout", "0", "--select", "last", "--calibrate", "temperature", "--subgroup-column", "site",
                                      "--device", "cpu", "--out", run.path])
        try #require(trained.status == 0, "\(trained.stderr)")
        let metrics = try json(run.appending(path: "metrics.json"))
        let calibration = try #require(metrics["calibration"] as? [String: Any])
        let (temperature, before, after) = (calibration["temperature"] as! Double, calibration["validationECEBefore"] as! Double,
                                            calibration["validationECEAfter"] as! Double)
        #expect(temperature > 1, "an over-confident model gets T > 1: \(temperature)")
        #expect(after < 0.75 * before, "validation ECE \(before) → \(after)")
        #expect(calibration["testECEBefore"] is Double && calibration["testECEAfter"] is Double)

        // The report shows calibration before and after, and one row per site.
        let report = try String(contentsOf: run.appending(path: "report.html"), encoding: .utf8)
        #expect(report.contains("Before temperature scaling") && report.contains("After temperature scaling"))
        #expect(report.contains("Subgroups by site"))
        for site in ["A", "B", "C"] { #expect(report.contains("<td>\(site)</td>"), "row of site \(site)") }
        let subgroups = try #require(metrics["subgroups"] as? [String: Any])
        let groups = try #require(subgroups["groups"] as? [[String: Any]])
        #expect(Set(groups.map { $0["value"] as! String }) == ["A", "B", "C"])
        for group in groups {
            let named = group["metrics"] as! [String: Any]
            #expect(Set(named.keys) == ["sensitivity", "specificity", "auroc"], "\(named.keys)")
        }
        #expect(groups.map { $0["rows"] as! Int }.reduce(0, +) == (metrics["rows"] as! [String: Int])["test"])

        // eval applies the stored temperature: its probabilities of the test lines are the run's.
        let evaluated = folder.appending(path: "eval")
        let eval = try runScalpel(["eval", "--checkpoint", run.appending(path: "best.safetensors").path, "--data", data.path, "--device", "cpu",
                                   "--subgroup-column", "site", "--no-explanations", "--out", evaluated.path])
        try #require(eval.status == 0, "\(eval.stderr)")
        let trainedProbabilities = try probabilities(run.appending(path: "predictions.csv"))
        let evaluatedProbabilities = try probabilities(evaluated.appending(path: "predictions.csv"))
        #expect(!trainedProbabilities.isEmpty && trainedProbabilities.allSatisfy { evaluatedProbabilities[$0.key] == $0.value })
        let evalMetrics = try json(evaluated.appending(path: "metrics.json"))
        #expect((evalMetrics["notes"] as? [String: String])?["calibration"]?.contains("temperature") == true)
        #expect(((evalMetrics["subgroups"] as? [String: Any])?["groups"] as? [Any])?.count == 3)

        // The exported graph divides by the temperature: ONNX Runtime agrees with predict.
        guard try ONNXExportTests.onnxRuntimeAvailable() else { return }
        let predictions = folder.appending(path: "predict.csv"), onnx = folder.appending(path: "model.onnx")
        #expect(try runScalpel(["predict", "--checkpoint", run.appending(path: "best.safetensors").path, "--data", data.path, "--device", "cpu",
                                "--out", predictions.path]).status == 0)
        #expect(try runScalpel(["export", "--checkpoint", run.appending(path: "best.safetensors").path, "--out", onnx.path]).status == 0)
        let checked = try runProcess(URL(fileURLWithPath: "/usr/bin/env"), ["python3", ONNXExportTests.script, onnx.path, data.path, predictions.path])
        #expect(checked.status == 0, "\(checked.stdout)\(checked.stderr)")
    }

    @Test func calibrationAndSubgroupsRefuseWhatTheyCannotDoBeforeTraining() throws {
        let folder = try makeTemporaryDirectory("scalpel-calibrate-refusals")
        defer { try? FileManager.default.removeItem(at: folder) }
        let data = try Self.noisyTable(folder)
        func refused(_ extra: [String], _ message: String) throws {
            let result = try runScalpel(["train", "--data", data.path, "--label", "outcome", "--epochs", "1", "--device", "cpu",
                                         "--out", folder.appending(path: "run-\(extra.joined())").path] + extra)
            #expect(result.status != 0 && result.stderr.contains(message) && !result.stderr.contains("epoch 1/"), "\(extra): \(result.stderr)")
        }
        try refused(["--subgroup-column", "hospital"], "no column 'hospital'")
        try refused(["--subgroup-column", "outcome"], "is the label column")
        try refused(["--subgroup-column", "x1"], "distinct values")
        try refused(["--calibrate", "platt"], "platt")
        // Without a validation split there is nothing to fit the temperature on.
        let (train, test) = try SequenceTrainingTests.write(folder)
        let noValidation = try runScalpel(["train", "--data", train, "--test", test, "--model", "fcn", "--epochs", "1", "--calibrate", "temperature",
                                           "--device", "cpu", "--out", folder.appending(path: "seq").path])
        #expect(noValidation.status != 0 && noValidation.stderr.contains("validation split"), "\(noValidation.stderr)")
        let images = try runScalpel(["train", "--data", dataPath("breastmnist.npz"), "--epochs", "1", "--subgroup-column", "site",
                                     "--device", "cpu", "--out", folder.appending(path: "img").path])
        #expect(images.status != 0 && images.stderr.contains("not a table"), "\(images.stderr)")
    }

    @Test func configJSONRecordsOnlyTheSettingsThatApply() throws {
        let folder = try makeTemporaryDirectory("scalpel-config-record")
        defer { try? FileManager.default.removeItem(at: folder) }
        let table = folder.appending(path: "table"), images = folder.appending(path: "images")
        #expect(try runScalpel(["train", "--data", dataPath("wdbc.csv"), "--epochs", "1", "--device", "cpu", "--out", table.path]).status == 0)
        let rgb = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appending(path: "ScalpelDataTests/Fixtures/medmnist_rgb.npz").path
        #expect(try runScalpel(["train", "--data", rgb, "--epochs", "1", "--batch-size", "4", "--device", "cpu", "--out", images.path]).status == 0)
        let tableConfig = try json(table.appending(path: "config.json")), imageConfig = try json(images.appending(path: "config.json"))
        for key in ["label", "dropColumns", "hidden", "dropout", "split"] { #expect(tableConfig[key] != nil, "table run: \(key)") }
        for key in ["augment", "imageSize", "channels", "validationFraction", "patience"] { #expect(tableConfig[key] == nil, "table run: \(key)") }
        for key in ["label", "dropColumns", "categoricalColumns", "hidden", "dropout", "split", "validationFraction"] {
            #expect(imageConfig[key] == nil, "image run: \(key)")
        }
        for key in ["augment", "model", "epochs", "ema", "schedule", "scalpel", "deviceUsed"] { #expect(imageConfig[key] != nil, "image run: \(key)") }
    }
}
