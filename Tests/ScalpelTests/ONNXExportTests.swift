import Foundation
import Scalpel
import ScalpelTestSupport
import Testing

/// `scalpel export --format onnx`: every model Scalpel trains, checked by ONNX's own checker and
/// run by ONNX Runtime (scripts/onnx_check.py) on inputs built from the metadata alone, against
/// `scalpel predict`'s probabilities.
struct ONNXExportTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appending(path: "scripts/onnx_check.py").path
    static let rgbFixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appending(path: "ScalpelDataTests/Fixtures/medmnist_rgb.npz").path

    /// True when python3 can import onnx and onnxruntime; otherwise a failure under
    /// SCALPEL_REQUIRE_PYTHON=1, else a note and false.
    static func onnxRuntimeAvailable() throws -> Bool {
        let probe = try runProcess(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-c", "import onnx, onnxruntime, numpy"])
        if probe.status == 0 { return true }
        let why = "python3 with onnx, onnxruntime and numpy is not available: python3 -m pip install onnx onnxruntime numpy"
        if ProcessInfo.processInfo.environment["SCALPEL_REQUIRE_PYTHON"] == "1" { Issue.record("SCALPEL_REQUIRE_PYTHON=1 but \(why)") } else { print("skipping: \(why)") }
        return false
    }

    /// Trains `model` briefly on `data`, predicts with the checkpoint, exports it and runs the checker.
    func roundTrip(_ model: String, data: String, train extra: [String] = [], predictData: String? = nil, in folder: URL) throws -> String {
        let run = folder.appending(path: "run-\(model)")
        let trained = try runScalpel(["train", "--data", data, "--model", model, "--epochs", "1", "--device", "cpu", "--out", run.path] + extra)
        try #require(trained.status == 0, "\(model): \(trained.stderr)")
        let checkpoint = run.appending(path: "best.safetensors").path
        let predictions = folder.appending(path: "\(model).csv")
        let predicted = try runScalpel(["predict", "--checkpoint", checkpoint, "--data", predictData ?? data, "--device", "cpu",
                                        "--out", predictions.path])
        try #require(predicted.status == 0, "\(model): \(predicted.stderr)")
        let onnx = folder.appending(path: "\(model).onnx")
        let exported = try runScalpel(["export", "--checkpoint", checkpoint, "--format", "onnx", "--out", onnx.path])
        try #require(exported.status == 0, "\(model): \(exported.stderr)")
        #expect(exported.stdout.contains("opset 17"), "\(exported.stdout)")
        let mode = try FileManager.default.attributesOfItem(atPath: onnx.path)[.posixPermissions] as? Int
        #expect(mode.map { $0 & 0o077 == 0 } == true, "the ONNX file is private to its owner")
        let checked = try runProcess(URL(fileURLWithPath: "/usr/bin/env"), ["python3", Self.script, onnx.path, predictData ?? data, predictions.path])
        #expect(checked.status == 0, "\(model): \(checked.stdout)\(checked.stderr)")
        return checked.stdout
    }

    @Test(arguments: ["mlp", "convnet", "cnn", "resnet18", "fcn", "transformer", "lstm", "gru"])
    func everyModelExportsAndONNXRuntimeGivesPredictsProbabilities(_ model: String) throws {
        guard try Self.onnxRuntimeAvailable() else { return }
        let folder = try makeTemporaryDirectory("scalpel-onnx")
        defer { try? FileManager.default.removeItem(at: folder) }
        switch model {
        case "mlp":
            _ = try roundTrip(model, data: dataPath("wdbc.csv"), train: ["--positive", "M"], in: folder)
        case "convnet":
            _ = try roundTrip(model, data: dataPath("breastmnist.npz"), in: folder)
        case "cnn", "resnet18":
            _ = try roundTrip(model, data: Self.rgbFixture, train: ["--batch-size", "4"], in: folder)
        default:
            let (train, test) = try SequenceTrainingTests.write(folder)
            _ = try roundTrip(model, data: train, train: ["--test", test, "--hidden", "8", "--batch-size", "6"], predictData: test, in: folder)
        }
    }

    @Test func aTableWithMissingValuesAndACategoricalColumnIsPreparedInsideTheGraph() throws {
        guard try Self.onnxRuntimeAvailable() else { return }
        let folder = try makeTemporaryDirectory("scalpel-onnx-table")
        defer { try? FileManager.default.removeItem(at: folder) }
        // Two numeric columns with gaps and a categorical site; the outcome follows age and site.
        var generator = SeededRandom(seed: 7)
        var lines = ["age,bp,site,outcome"]
        let sites = ["north", "south", "east"]
        for row in 0 ..< 120 {
            let age = 30 + Int(generator.next() % 50), bp = 100 + Int(generator.next() % 60), site = sites[row % 3]
            let sick = age + (site == "north" ? 15 : 0) > 60
            lines.append("\(row % 11 == 0 ? "" : String(age)),\(row % 7 == 0 ? "NA" : String(bp)),\(row % 13 == 0 ? "" : site),\(sick ? "yes" : "no")")
        }
        let data = folder.appending(path: "clinic.csv")
        try (lines.joined(separator: "\n") + "\n").write(to: data, atomically: true, encoding: .utf8)
        let output = try roundTrip("mlp", data: data.path, train: ["--label", "outcome", "--positive", "yes", "--epochs", "20"], in: folder)
        #expect(output.contains("120 samples"), "\(output)")

        // The metadata names the columns in order, the one-hot encoding, the classes and the decision.
        let export = try ONNXExport(checkpoint: folder.appending(path: "run-mlp/best.safetensors").path)
        #expect(export.metadata["columns"] == #"["age","bp","site=east","site=north","site=south"]"#, "\(export.metadata["columns"] ?? "")")
        #expect(export.metadata["categorical_encoding"] == #"{"site":["east","north","south"]}"#)
        #expect(export.metadata["class_names"] == #"["no","yes"]"# && export.metadata["positive_class"] == "yes")
        #expect(export.metadata["decision_threshold"].flatMap(Double.init).map { $0 > 0 && $0 < 1 } == true)
        #expect(export.metadata["scalpel"] == ScalpelBuild.summary)
        #expect(export.metadata["intended_use"]?.hasPrefix("Research use only") == true)
    }

    @Test func exportRefusesWhatItCannotWrite() throws {
        let folder = try makeTemporaryDirectory("scalpel-onnx-refusals")
        defer { try? FileManager.default.removeItem(at: folder) }
        let run = folder.appending(path: "run")
        #expect(try runScalpel(["train", "--data", dataPath("wdbc.csv"), "--epochs", "1", "--device", "cpu", "--out", run.path]).status == 0)
        let checkpoint = run.appending(path: "best.safetensors").path
        let out = folder.appending(path: "model.onnx")
        let format = try runScalpel(["export", "--checkpoint", checkpoint, "--format", "tflite", "--out", out.path])
        #expect(format.status != 0 && format.stderr.contains("exports onnx"), "\(format.stderr)")
        #expect(try runScalpel(["export", "--checkpoint", checkpoint, "--out", out.path]).status == 0)
        let again = try runScalpel(["export", "--checkpoint", checkpoint, "--out", out.path])
        #expect(again.status != 0 && again.stderr.contains("--overwrite"), "\(again.stderr)")
        let notCheckpoint = try runScalpel(["export", "--checkpoint", run.appending(path: "metrics.json").path, "--out", folder.appending(path: "x.onnx").path])
        #expect(notCheckpoint.status != 0 && notCheckpoint.stderr.contains("metrics.json"), "\(notCheckpoint.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder.appending(path: "x.onnx").path))
    }
}
