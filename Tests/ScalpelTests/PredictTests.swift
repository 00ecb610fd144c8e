import Foundation
import Scalpel
import ScalpelTestSupport
import Testing

/// `scalpel predict` on unlabelled data, and the predictions.csv of `train` and `eval`.
struct PredictTests {
    /// The CSV's header cells and its rows' cells (no quoted commas in these files).
    func read(_ url: URL) throws -> (header: [String], rows: [[String]]) {
        let lines = try String(contentsOf: url, encoding: .utf8).split(whereSeparator: \.isNewline).map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        return (lines[0], Array(lines.dropFirst()))
    }

    @Test func aTableWithoutItsLabelColumnIsScoredRowByRow() throws {
        let folder = try makeTemporaryDirectory("scalpel-predict")
        defer { try? FileManager.default.removeItem(at: folder) }
        let run = folder.appending(path: "run")
        let trained = try runScalpel(["train", "--data", dataPath("wdbc.csv"), "--positive", "M", "--epochs", "5", "--device", "cpu", "--out", run.path])
        #expect(trained.status == 0, "\(trained.stderr)")
        // The run's predictions: every test row, with its line, both probabilities, the decision and the truth.
        let (header, rows) = try read(run.appending(path: "predictions.csv"))
        #expect(header == ["line", "probability B", "probability M", "predicted", "true"], "\(header)")
        let metrics = try JSONSerialization.jsonObject(with: Data(contentsOf: run.appending(path: "metrics.json"))) as! [String: Any]
        #expect(rows.count == (metrics["rows"] as! [String: Int])["test"])
        #expect(rows.allSatisfy { abs(Double($0[1])! + Double($0[2])! - 1) < 1e-5 && ["B", "M"].contains($0[3]) && ["B", "M"].contains($0[4]) })

        // New patients: the label column removed, a record number added in front.
        // (Data/wdbc.csv ends its lines with CR LF, one Character in Swift.)
        let source = try String(contentsOf: URL(fileURLWithPath: dataPath("wdbc.csv")), encoding: .utf8).split(whereSeparator: \.isNewline)
        let unlabelled = ["record," + source[0].split(separator: ",", omittingEmptySubsequences: false).dropFirst().joined(separator: ",")]
            + source.dropFirst().prefix(40).enumerated().map { "R\(1000 + $0.offset)," + $0.element.split(separator: ",", omittingEmptySubsequences: false).dropFirst().joined(separator: ",") }
        let patients = folder.appending(path: "new.csv")
        try (unlabelled.joined(separator: "\n") + "\n").write(to: patients, atomically: true, encoding: .utf8)
        let out = folder.appending(path: "predictions.csv")
        let predicted = try runScalpel(["predict", "--checkpoint", run.appending(path: "best.safetensors").path, "--data", patients.path,
                                        "--id-column", "record", "--device", "cpu", "--out", out.path])
        #expect(predicted.status == 0, "\(predicted.stderr)")
        let (newHeader, newRows) = try read(out)
        #expect(newHeader == ["record", "probability B", "probability M", "predicted"], "\(newHeader)")
        #expect(newRows.map { $0[0] } == (0 ..< 40).map { "R\(1000 + $0)" })
        // The file is private to its owner, and not replaced without --overwrite.
        let mode = try FileManager.default.attributesOfItem(atPath: out.path)[.posixPermissions] as? Int
        #expect(mode.map { $0 & 0o077 == 0 } == true)
        let again = try runScalpel(["predict", "--checkpoint", run.appending(path: "best.safetensors").path, "--data", patients.path, "--device", "cpu",
                                    "--out", out.path])
        #expect(again.status != 0 && again.stderr.contains("--overwrite"), "\(again.stderr)")

        // A stricter threshold predicts fewer positives; a sensitivity of 1 on validation at least as many as the run's.
        func positives(_ extra: [String]) throws -> Int {
            let file = folder.appending(path: "p-\(extra.joined()).csv")
            let result = try runScalpel(["predict", "--checkpoint", run.appending(path: "best.safetensors").path, "--data", patients.path,
                                         "--device", "cpu", "--out", file.path] + extra)
            #expect(result.status == 0, "\(result.stderr)")
            return try read(file).rows.filter { $0[3] == "M" }.count
        }
        let (saved, strict, sensitive) = (try positives([]), try positives(["--threshold", "0.999"]), try positives(["--target-sensitivity", "1"]))
        #expect(strict <= saved && sensitive >= saved && strict < sensitive, "\(strict) \(saved) \(sensitive)")
        let both = try runScalpel(["predict", "--checkpoint", run.appending(path: "best.safetensors").path, "--data", patients.path, "--device", "cpu",
                                   "--threshold", "0.5", "--target-sensitivity", "0.9", "--out", folder.appending(path: "x.csv").path])
        #expect(both.status != 0 && both.stderr.contains("not both"))
        let missing = try runScalpel(["predict", "--checkpoint", run.appending(path: "best.safetensors").path, "--data", patients.path, "--device", "cpu",
                                      "--id-column", "mrn", "--out", folder.appending(path: "y.csv").path])
        #expect(missing.status != 0 && missing.stderr.contains("no column 'mrn'"), "\(missing.stderr)")

        // An id that a spreadsheet would run as a formula is written as text.
        let formula = folder.appending(path: "formula.csv")
        try (unlabelled.enumerated().map { $0.offset == 1 ? "=HYPERLINK(1)" + $0.element.drop { $0 != "," } : $0.element }
            .joined(separator: "\n") + "\n").write(to: formula, atomically: true, encoding: .utf8)
        let guarded = folder.appending(path: "guarded.csv")
        #expect(try runScalpel(["predict", "--checkpoint", run.appending(path: "best.safetensors").path, "--data", formula.path,
                                "--id-column", "record", "--device", "cpu", "--out", guarded.path]).status == 0)
        #expect(try read(guarded).rows.first?.first == "'=HYPERLINK(1)")

        // Encrypted patients give encrypted predictions, and no plaintext beside them.
        let env: [String: String?] = ["SCALPEL_KEY": String(repeating: "ab", count: 32), "SCALPEL_AUDIT_LOG": folder.appending(path: "audit.log").path]
        let sealed = folder.appending(path: "new.csv.enc")
        #expect(try runScalpel(["encrypt", patients.path, "--out", sealed.path], environment: env).status == 0)
        let secret = folder.appending(path: "secret.csv")
        let encrypted = try runScalpel(["predict", "--checkpoint", run.appending(path: "best.safetensors").path, "--data", sealed.path,
                                        "--id-column", "record", "--device", "cpu", "--out", secret.path], environment: env)
        #expect(encrypted.status == 0, "\(encrypted.stderr)")
        #expect(!FileManager.default.fileExists(atPath: secret.path) && FileManager.default.fileExists(atPath: secret.path + ".enc"))
        let opened = folder.appending(path: "opened.csv")
        #expect(try runScalpel(["decrypt", secret.path + ".enc", "--out", opened.path], environment: env).status == 0)
        #expect(try read(opened).rows.map { $0[0] } == newRows.map { $0[0] })
    }

    @Test func imagesWithoutClassFoldersAreScoredByPath() throws {
        let root = try makeTemporaryDirectory("scalpel-predict-images")
        defer { try? FileManager.default.removeItem(at: root) }
        let images = root.appending(path: "images")
        try ImageFolderTests().writeFolder(images, count: 20, seed: 11)
        let run = root.appending(path: "run")
        #expect(try runScalpel(["train", "--data", images.path, "--epochs", "3", "--device", "cpu", "--out", run.path]).status == 0)
        let (header, rows) = try read(run.appending(path: "predictions.csv"))
        #expect(header == ["path", "probability clear", "probability lesion", "predicted", "true"], "\(header)")
        #expect(rows.allSatisfy { $0[0].hasPrefix("clear/") || $0[0].hasPrefix("lesion/") })
        // Today's scans, in one folder with a subfolder, no classes.
        let incoming = root.appending(path: "incoming")
        try FileManager.default.createDirectory(at: incoming.appending(path: "ward 2"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: images.appending(path: "lesion/lesion-3.png"), to: incoming.appending(path: "a.png"))
        try FileManager.default.copyItem(at: images.appending(path: "clear/clear-4.png"), to: incoming.appending(path: "ward 2/b.png"))
        let out = root.appending(path: "today.csv")
        let predicted = try runScalpel(["predict", "--checkpoint", run.appending(path: "best.safetensors").path, "--data", incoming.path,
                                        "--device", "cpu", "--out", out.path])
        #expect(predicted.status == 0, "\(predicted.stderr)")
        let (newHeader, newRows) = try read(out)
        #expect(newHeader == ["path", "probability clear", "probability lesion", "predicted"])
        #expect(newRows.map { $0[0] } == ["a.png", "ward 2/b.png"])
    }

    @Test func aLargeFileIsScoredABlockAtATimeWithTheSameResult() throws {
        let folder = try makeTemporaryDirectory("scalpel-predict-blocks")
        defer { try? FileManager.default.removeItem(at: folder) }
        let run = folder.appending(path: "run")
        #expect(try runScalpel(["train", "--data", dataPath("wdbc.csv"), "--positive", "M", "--epochs", "2", "--device", "cpu", "--out", run.path]).status == 0)
        let checkpoint = run.appending(path: "best.safetensors").path
        // New rows with a note column the model never saw, one note running over two lines inside quotes.
        let source = try String(contentsOf: URL(fileURLWithPath: dataPath("wdbc.csv")), encoding: .utf8).split(whereSeparator: \.isNewline)
        let features = source.map { $0.split(separator: ",", omittingEmptySubsequences: false).dropFirst().joined(separator: ",") }
        var lines = ["note," + features[0]]
        for (index, row) in features.dropFirst().prefix(30).enumerated() {
            lines.append((index == 4 ? "\"seen twice,\nthen discharged\"" : "n\(index)") + "," + row)
        }
        let data = folder.appending(path: "new.csv")
        try (lines.joined(separator: "\n") + "\n").write(to: data, atomically: true, encoding: .utf8)
        func predict(_ blockRows: String, _ name: String, _ extra: [String] = []) throws -> (ProcessResult, URL) {
            let out = folder.appending(path: name)
            return (try runScalpel(["predict", "--checkpoint", checkpoint, "--data", data.path, "--device", "cpu", "--block-rows", blockRows,
                                    "--out", out.path] + extra), out)
        }
        let (whole, wholeFile) = try predict("100000", "whole.csv")
        let (blocks, blockFile) = try predict("4", "blocks.csv")
        #expect(whole.status == 0 && blocks.status == 0, "\(whole.stderr)\(blocks.stderr)")
        #expect(blocks.stdout.contains("read in 8 blocks"), "\(blocks.stdout)")
        #expect(try Data(contentsOf: wholeFile) == Data(contentsOf: blockFile))
        // The ids are the lines the rows start on: the row after the two-line note starts a line later.
        let ids = try read(blockFile).rows.map { $0[0] }
        #expect(ids.count == 30 && ids[4] == "6" && ids[5] == "8" && ids.last == "32", "\(ids)")
        let (named, namedFile) = try predict("4", "named.csv", ["--id-column", "note"])
        #expect(named.status == 0, "\(named.stderr)")
        #expect(try read(namedFile).rows.map { $0[0] }.suffix(3) == ["n27", "n28", "n29"])

        // A bad cell in a later block is named by its own line, and no partial file is left.
        var broken = lines
        broken[20] = broken[20].replacingOccurrences(of: ",", with: ",abc,", options: [], range: broken[20].range(of: ","))
            .split(separator: ",", omittingEmptySubsequences: false).enumerated().filter { $0.offset != 2 }.map(\.element).joined(separator: ",")
        try (broken.joined(separator: "\n") + "\n").write(to: data, atomically: true, encoding: .utf8)
        let (failed, failedFile) = try predict("4", "failed.csv")
        #expect(failed.status != 0 && failed.stderr.contains("line 22"), "\(failed.stderr)")
        #expect(!FileManager.default.fileExists(atPath: failedFile.path))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".tmp") }
        #expect(leftovers.isEmpty, "\(leftovers)")
    }
}
