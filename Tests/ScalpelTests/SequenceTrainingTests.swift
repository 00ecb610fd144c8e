import Foundation
import ScalpelTestSupport
import Testing

/// `scalpel train` on UCR-format signals: every sequence model learns a small synthetic task,
/// reports the multi-class metrics with a per-class table, the transformer draws its attention
/// maps and resumes exactly, and bad input is a clear error.
@Suite struct SequenceTrainingTests {
    /// Three separable classes of noisy waves (sine, inverted sine, square), `count` per class,
    /// in the UCR format (label first, tab-separated); `ragged` shortens every third series with
    /// trailing NaN padding as the archive does for variable-length data sets.
    static func waves(count: Int, length: Int, seed: UInt64, ragged: Bool = false) -> String {
        var state = seed
        func noise() -> Double {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Double(state >> 11) / Double(1 << 53) * 0.4 - 0.2
        }
        var lines: [String] = []
        for i in 0 ..< count {
            for label in 1 ... 3 {
                let phase = Double(i % 5) * 0.3
                let valid = ragged && i % 3 == 0 ? length - 5 : length
                let values = (0 ..< length).map { t -> String in
                    if t >= valid { return "NaN" }
                    let s = sin(Double(t) / Double(length) * 4 * .pi + phase)
                    let v = label == 1 ? s : label == 2 ? -s : (s >= 0 ? 1 : -1)
                    return String(format: "%.5f", v + noise())
                }
                lines.append(([String(label)] + values).joined(separator: "\t"))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// WAVES_TRAIN.tsv (`trainCount` series per class) and WAVES_TEST.tsv (10 per class) in `folder`.
    static func write(_ folder: URL, trainCount: Int = 12, ragged: Bool = false) throws -> (train: String, test: String) {
        let train = folder.appending(path: "WAVES_TRAIN.tsv"), test = folder.appending(path: "WAVES_TEST.tsv")
        try Self.waves(count: trainCount, length: 24, seed: 1, ragged: ragged).write(to: train, atomically: true, encoding: .utf8)
        try Self.waves(count: 10, length: 24, seed: 2, ragged: ragged).write(to: test, atomically: true, encoding: .utf8)
        return (train.path, test.path)
    }

    func metrics(_ folder: URL) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appending(path: "metrics.json"))) as! [String: Any]
    }

    @Test(arguments: ["fcn", "transformer", "lstm", "gru"])
    func everySequenceModelLearnsAndReportsPerClassMetrics(_ model: String) throws {
        let folder = try makeTemporaryDirectory("scalpel-seq")
        defer { try? FileManager.default.removeItem(at: folder) }
        let (train, test) = try Self.write(folder)
        let out = folder.appending(path: "run")
        let epochs = ["fcn": "8", "transformer": "12", "lstm": "25", "gru": "25"][model]!
        let result = try runScalpel(["train", "--data", train, "--test", test, "--model", model, "--epochs", epochs, "--batch-size", "6",
                                     "--lr", "3e-3", "--hidden", "16", "--device", "cpu", "--out", out.path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("36 train / 0 validation / 30 test"), "\(result.stderr)")
        let report = try metrics(out)
        #expect((report["selectionRule"] as? String)?.contains("lowest training loss") == true)
        let t = report["test"] as! [String: Any]
        for key in ["accuracy", "recall_macro", "f1_macro", "auroc", "perClass", "confusionMatrix"] { #expect(t[key] != nil, "test.\(key)") }
        #expect((t["perClass"] as? [[String: Any]])?.count == 3)
        #expect(((t["intervals"] as? [String: Any])?["metrics"] as? [String: Any])?["accuracy"] != nil, "test.intervals")
        #expect(t["accuracy"] as! Double >= 0.9, "\(model): test accuracy \(t["accuracy"]!)")
        // Explanations over the trace: attention (transformer), class activation (FCN), saliency (recurrent).
        let picture = ["transformer": "attention.svg", "fcn": "cam.svg", "lstm": "saliency.svg", "gru": "saliency.svg"][model]!
        let svg = try String(contentsOf: out.appending(path: "explanations/" + picture), encoding: .utf8)
        #expect(svg.hasPrefix("<?xml") && svg.contains("<path") && svg.contains("true class 1"), "\(picture)")
        #expect(try String(contentsOf: out.appending(path: "report.html"), encoding: .utf8).contains(picture == "attention.svg" ? "Attention over time" : "over time"))
        // The FCN's default recipe is the measured best: the cosine rate with a weight average of decay 0.99;
        // the transformer's, the cosine rate.
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appending(path: "config.json"))) as! [String: Any]
        #expect(config["schedule"] as? String == (["fcn", "transformer"].contains(model) ? "cosine" : "constant"), "\(model)")
        #expect((config["ema"] as? Double).map { abs($0 - 0.99) < 1e-6 } ?? false == (model == "fcn"), "\(model)")
        if model == "fcn" {
            // The saved model scores the archive's TEST file as the run did.
            let again = folder.appending(path: "eval")
            let evaluated = try runScalpel(["eval", "--checkpoint", out.appending(path: "best.safetensors").path, "--data", test, "--device", "cpu",
                                            "--out", again.path, "--no-explanations"])
            #expect(evaluated.status == 0, "\(evaluated.stderr)")
            let scored = try metrics(again)["test"] as! [String: Any]
            #expect(scored["accuracy"] as? Double == t["accuracy"] as? Double && scored["f1_macro"] as? Double == t["f1_macro"] as? Double)
            // New beats without labels ("?" where the label would be): one prediction per line, no truth column.
            let text = try String(contentsOfFile: test, encoding: .utf8)
            let unlabelled = folder.appending(path: "NEW.tsv")
            try text.split(separator: "\n").map { "?" + $0.drop { $0 != "\t" } }.joined(separator: "\n")
                .write(to: unlabelled, atomically: true, encoding: .utf8)
            let beats = folder.appending(path: "beats.csv")
            let predicted = try runScalpel(["predict", "--checkpoint", out.appending(path: "best.safetensors").path,
                                            "--data", unlabelled.path, "--device", "cpu", "--out", beats.path])
            #expect(predicted.status == 0, "\(predicted.stderr)")
            let lines = try String(contentsOf: beats, encoding: .utf8).split(separator: "\n")
            #expect(lines.first == "line,probability class 1,probability class 2,probability class 3,predicted" && lines.count == 31, "\(lines.prefix(2))")
        }
    }

    @Test func variableLengthSignalsAreMaskedInTheTransformer() throws {
        let folder = try makeTemporaryDirectory("scalpel-seq")
        defer { try? FileManager.default.removeItem(at: folder) }
        let (train, test) = try Self.write(folder, ragged: true)
        let out = folder.appending(path: "run")
        let result = try runScalpel(["train", "--data", train, "--test", test, "--model", "transformer", "--epochs", "2", "--batch-size", "6",
                                     "--device", "cpu", "--out", out.path])
        #expect(result.status == 0, "\(result.stderr)")
        let notes = try metrics(out)["data"] as! [String: String]
        #expect(notes["series length"] == "up to 24, zero-padded and masked")
    }

    @Test func aResumedTransformerRunContinuesBitForBit() throws {
        let folder = try makeTemporaryDirectory("scalpel-seq")
        defer { try? FileManager.default.removeItem(at: folder) }
        let (train, test) = try Self.write(folder)
        let (full, part) = (folder.appending(path: "full"), folder.appending(path: "part"))
        // A constant rate: a cosine one is stretched over the epochs given, so more --epochs change the earlier rates.
        let common = ["train", "--data", train, "--test", test, "--model", "transformer", "--batch-size", "6", "--device", "cpu", "--seed", "4",
                      "--validation-fraction", "0.25", "--schedule", "constant"]
        #expect(try runScalpel(common + ["--epochs", "4", "--out", full.path]).status == 0)
        #expect(try runScalpel(common + ["--epochs", "2", "--out", part.path]).status == 0)
        let resumed = try runScalpel(common + ["--epochs", "4", "--out", part.path, "--resume", part.appending(path: "last.safetensors").path])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let a = try metrics(full)["history"] as! [[String: Any]], b = try metrics(part)["history"] as! [[String: Any]]
        #expect(a.count == 4 && b.count == 4)
        for (x, y) in zip(a, b) {
            #expect(x["trainLoss"] as! Double == y["trainLoss"] as! Double, "epoch \(x["epoch"]!)")
            #expect(x["validationLoss"] as! Double == y["validationLoss"] as! Double)
        }
        #expect(try metrics(full)["rows"] as! [String: Int] == ["train": 27, "validation": 9, "test": 30])
    }

    @Test func badSequenceInputIsAClearError() throws {
        let folder = try makeTemporaryDirectory("scalpel-seq")
        defer { try? FileManager.default.removeItem(at: folder) }
        let (train, _) = try Self.write(folder)
        let unknown = folder.appending(path: "UNKNOWN_TEST.tsv")
        try "1\t0.1\t0.2\n7\t0.3\t0.4\n".write(to: unknown, atomically: true, encoding: .utf8)
        let run = folder.appending(path: "run").path
        let label = try runScalpel(["train", "--data", train, "--test", unknown.path, "--device", "cpu", "--out", run])
        #expect(label.status != 0 && label.stderr.contains("UNKNOWN_TEST.tsv") && label.stderr.contains("line 2"), "\(label.stderr)")
        let selection = try runScalpel(["train", "--data", train, "--test", train, "--select", "val-auroc", "--device", "cpu", "--out", run])
        #expect(selection.status != 0 && selection.stderr.contains("needs a validation split"), "\(selection.stderr)")
        let names = try runScalpel(["train", "--data", train, "--test", train, "--class-names", "a,b", "--device", "cpu", "--out", run])
        #expect(names.status != 0 && names.stderr.contains("3 classes"), "\(names.stderr)")
        let wrongModel = try runScalpel(["train", "--data", train, "--model", "cnn", "--device", "cpu", "--out", run])
        #expect(wrongModel.status != 0 && wrongModel.stderr.contains("does not fit sequences data"), "\(wrongModel.stderr)")
        let testForTable = try runScalpel(["train", "--data", dataPath("wdbc.csv"), "--test", train, "--device", "cpu", "--out", run])
        #expect(testForTable.status != 0 && testForTable.stderr.contains("--test"), "\(testForTable.stderr)")
    }
}
