import Foundation
import Scalpel
import ScalpelReport
import ScalpelTestSupport
import Testing

/// Training on a folder of images, one subfolder per class, and evaluating the checkpoint on a
/// second folder; fixed splits, manifests with patients, bad files, DICOM headers kept out.
struct ImageFolderTests {
    /// Writes `count` grey PNGs per class into `root/<class>/`: "lesion" images carry a bright
    /// disc somewhere on a noisy background, "clear" ones only the noise. Every fifth image is
    /// 20×20 instead of 24×24, so that the folder's most common size is 24×24.
    func writeFolder(_ root: URL, count: Int, seed: UInt64) throws {
        var random = SeededRandom(seed: seed)
        for name in ["clear", "lesion"] {
            let folder = root.appending(path: name)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            for i in 0 ..< count {
                let side = i % 5 == 4 ? 20 : 24
                let (cx, cy) = (Float(6 + Int(random.uniform(below: UInt64(side - 12)))), Float(6 + Int(random.uniform(below: UInt64(side - 12)))))
                var pixels = [UInt8](repeating: 0, count: side * side)
                for y in 0 ..< side {
                    for x in 0 ..< side {
                        var value = 60 + random.uniform(-30, 30)
                        if name == "lesion" && (Float(x) - cx) * (Float(x) - cx) + (Float(y) - cy) * (Float(y) - cy) < 12 { value += 120 }
                        pixels[y * side + x] = UInt8(max(0, min(255, value)))
                    }
                }
                let png = try PNGEncoder.encode(pixels: pixels, width: side, height: side, format: .grey)
                try Data(png).write(to: folder.appending(path: "\(name)-\(i).png"))
            }
        }
    }

    func json(_ url: URL) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
    }

    @Test func trainsOnAFolderAndEvaluatesTheCheckpointOnAnother() throws {
        let root = try makeTemporaryDirectory("scalpel-image-folder")
        defer { try? FileManager.default.removeItem(at: root) }
        let (images, fresh, run) = (root.appending(path: "images"), root.appending(path: "new"), root.appending(path: "run"))
        try writeFolder(images, count: 40, seed: 1)
        try writeFolder(fresh, count: 15, seed: 2)
        let trained = try runScalpel(["train", "--data", images.path, "--epochs", "6", "--device", "cpu", "--out", run.path])
        #expect(trained.status == 0, "\(trained.stderr)")
        #expect(trained.stdout.contains("positive = lesion"), "\(trained.stdout)")
        let metrics = try json(run.appending(path: "metrics.json"))
        #expect(metrics["classNames"] as? [String] == ["clear", "lesion"])
        let notes = metrics["data"] as? [String: String] ?? [:]
        #expect(notes["images"]?.contains("80 images of 2 classes (clear: 40, lesion: 40), 24×24 grey; 16 resized") == true, "\(notes)")
        #expect(notes["split"]?.hasPrefix("stratified, seeded (0)") == true)
        #expect(metrics["rows"] as? [String: Int] == ["train": 56, "validation": 12, "test": 12])
        let report = try String(contentsOf: run.appending(path: "report.html"), encoding: .utf8)
        #expect(report.contains("lesion") && !report.contains("class 0"))

        // The checkpoint scores a second folder: resized to the trained size, the same classes.
        let evaluated = try runScalpel(["eval", "--checkpoint", run.appending(path: "best.safetensors").path, "--data", fresh.path,
                                        "--device", "cpu", "--no-explanations", "--out", root.appending(path: "eval").path])
        #expect(evaluated.status == 0, "\(evaluated.stderr)")
        let scored = try json(root.appending(path: "eval/metrics.json"))
        #expect(scored["classNames"] as? [String] == ["clear", "lesion"])
        let auroc = (scored["test"] as? [String: Any])?["auroc"] as? Double ?? 0
        #expect(auroc > 0.85, "new-folder AUROC \(auroc)")
        // A folder with a class the model does not know is refused, naming it.
        try FileManager.default.createDirectory(at: fresh.appending(path: "other"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: fresh.appending(path: "clear/clear-0.png"), to: fresh.appending(path: "other/x.png"))
        let unknown = try runScalpel(["eval", "--checkpoint", run.appending(path: "best.safetensors").path, "--data", fresh.path,
                                      "--device", "cpu", "--no-explanations", "--out", root.appending(path: "eval2").path])
        #expect(unknown.status != 0 && unknown.stderr.contains("unknown: other"), "\(unknown.stderr)")
    }

    @Test func badFilesStopTheRunNamingThemOrAreSkippedAndListed() throws {
        let root = try makeTemporaryDirectory("scalpel-bad-images")
        defer { try? FileManager.default.removeItem(at: root) }
        let images = root.appending(path: "images")
        try writeFolder(images, count: 12, seed: 3)
        let bad = images.appending(path: "lesion/scan-07.png")
        try Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 1, 2, 3]).write(to: bad)
        try Data("not an image".utf8).write(to: images.appending(path: "clear/notes.txt"))
        try Data("hidden".utf8).write(to: images.appending(path: "clear/.DS_Store"))  // hidden files are passed over
        let stopped = try runScalpel(["train", "--data", images.path, "--epochs", "1", "--device", "cpu", "--out", root.appending(path: "a").path])
        #expect(stopped.status != 0 && stopped.stderr.contains(images.path + "/clear/notes.txt: not a PNG, JPEG or DICOM image"), "\(stopped.stderr)")
        let skipped = try runScalpel(["train", "--data", images.path, "--epochs", "1", "--device", "cpu", "--skip-bad-images",
                                      "--out", root.appending(path: "b").path])
        #expect(skipped.status == 0, "\(skipped.stderr)")
        let notes = try json(root.appending(path: "b/metrics.json"))["data"] as? [String: String] ?? [:]
        let listed = notes["skipped images"] ?? ""
        #expect(listed.hasPrefix("2 left out") && listed.contains("lesion/scan-07.png (not a readable PNG") && listed.contains("clear/notes.txt"), "\(listed)")
        let report = try String(contentsOf: root.appending(path: "b/report.html"), encoding: .utf8)
        #expect(report.contains("scan-07.png"))
    }

    @Test func fixedSplitFoldersClassOrderAndOptions() throws {
        let root = try makeTemporaryDirectory("scalpel-fixed-split")
        defer { try? FileManager.default.removeItem(at: root) }
        try writeFolder(root.appending(path: "train"), count: 10, seed: 4)
        try writeFolder(root.appending(path: "val"), count: 3, seed: 5)
        try writeFolder(root.appending(path: "test"), count: 4, seed: 6)
        var config = TrainingConfig(data: root.path, label: "", out: "")
        config.classOrder = ["lesion", "clear"]
        config.imageSize = [16, 12]
        config.channels = 3
        let data = try PreparedData.load(config)
        #expect((data.train.count, data.validation.count, data.test.count) == (20, 6, 8))
        #expect(data.sampleShape == [3, 16, 12])
        // The second class of the order given is the positive one.
        #expect(data.classNames == ["lesion", "clear"] && data.pipeline?.fileClasses == ["lesion", "clear"])
        #expect(data.notes["split"] == "the folder's train/ and test/ folders and its val/ folder")
        config.classOrder = ["lesion", "normal"]
        #expect(throws: ScalpelError.self) { try PreparedData.load(config) }
        // A positive class by name.
        config.classOrder = nil
        config.positiveClass = "clear"
        #expect(try PreparedData.load(config).classNames == ["lesion", "clear"])
        // The options are checked as given.
        for bad in [["--image-size", "3"], ["--image-size", "64y9"], ["--channels", "2"], ["--window", "40"], ["--classes", "a"]] {
            let result = try runScalpel(["train", "--data", root.path, "--epochs", "1", "--device", "cpu", "--out", root.appending(path: "r").path] + bad)
            #expect(result.status != 0 && result.stderr.contains(bad[0]), "\(bad): \(result.stderr)")
        }
    }

    /// A manifest with a patient column: no patient's images in two splits.
    @Test func aManifestKeepsEachPatientInOneSplit() throws {
        let root = try makeTemporaryDirectory("scalpel-manifest")
        defer { try? FileManager.default.removeItem(at: root) }
        try writeFolder(root.appending(path: "pool"), count: 30, seed: 7)
        var lines = ["path,label,patient"]
        for name in ["clear", "lesion"] {
            for i in 0 ..< 30 { lines.append("pool/\(name)/\(name)-\(i).png,\(name),P\(name.prefix(1))\(i / 3)") }
        }
        let manifest = root.appending(path: "manifest.csv")
        try lines.joined(separator: "\n").write(to: manifest, atomically: true, encoding: .utf8)
        #expect(PreparedData.kind(of: manifest.path) == .images)
        let data = try PreparedData.load(TrainingConfig(data: manifest.path, label: "", out: ""))
        let patient = { (row: Int) in lines[row + 1].split(separator: ",")[2] }
        let splits = [data.train, data.validation, data.test].map { Set($0.map(patient)) }
        #expect(splits[0].isDisjoint(with: splits[1]) && splits[0].isDisjoint(with: splits[2]) && splits[1].isDisjoint(with: splits[2]))
        #expect(data.notes["split"]?.contains("the manifest's patient column (20 groups); no group has images in two splits") == true,
                "\(String(describing: data.notes["split"]))")
        // A missing file is an error naming it.
        try (lines + ["pool/clear/none.png,clear,P9"]).joined(separator: "\n").write(to: manifest, atomically: true, encoding: .utf8)
        #expect { try PreparedData.load(TrainingConfig(data: manifest.path, label: "", out: "")) } throws: { error in
            "\(error)".contains("pool/clear/none.png") && "\(error)".contains("cannot be read")
        }
    }

    /// DICOM files in class folders, each patient's series in its own subfolder: trained on, kept
    /// whole per patient, and no patient name, ID or date from their headers in any output.
    @Test func dicomSeriesTrainWithoutTheirHeadersReachingTheOutputs() throws {
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appending(path: "ScalpelDataTests/Fixtures/dicom")
        let root = try makeTemporaryDirectory("scalpel-dicom-folder")
        defer { try? FileManager.default.removeItem(at: root) }
        let images = root.appending(path: "images")
        for (name, file) in [("bright", "mono2_rescale_window.dcm"), ("dark", "mono1_rescale_window.dcm")] {
            for patient in 0 ..< 7 {
                let series = images.appending(path: "\(name)/patient\(patient)")
                try FileManager.default.createDirectory(at: series, withIntermediateDirectories: true)
                for slice in 0 ..< 3 {
                    try FileManager.default.copyItem(at: fixtures.appending(path: file), to: series.appending(path: "slice\(slice).dcm"))
                }
            }
        }
        let run = root.appending(path: "run")
        let trained = try runScalpel(["train", "--data", images.path, "--epochs", "1", "--device", "cpu", "--out", run.path])
        if trained.stderr.contains("DICOM files need DCMTK") && ProcessInfo.processInfo.environment["SCALPEL_REQUIRE_DICOM"] != "1" { return }
        #expect(trained.status == 0, "\(trained.stderr)")
        let notes = try json(run.appending(path: "metrics.json"))["data"] as? [String: String] ?? [:]
        #expect(notes["split"]?.contains("the subfolders of each class folder (14 groups)") == true, "\(notes)")
        #expect(notes["images"]?.contains("42 images of 2 classes (bright: 21, dark: 21), 6×10 grey") == true, "\(notes)")
        // Nothing the run wrote (or printed) holds the headers' patient name, ID, birth date or study date.
        var written = trained.stdout + trained.stderr
        for case let file as URL in FileManager.default.enumerator(at: run, includingPropertiesForKeys: nil)! {
            if let data = try? Data(contentsOf: file) { written += String(decoding: data, as: UTF8.self) }
        }
        for secret in ["SCALPEL-PATIENT-7731", "Doe", "Jane", "19700101", "20240102"] { #expect(!written.contains(secret), "\(secret)") }
        // Without the DICOM plugin, the error says what to install.
        let missing = try runScalpel(["train", "--data", images.path, "--epochs", "1", "--device", "cpu", "--out", root.appending(path: "x").path],
                                     environment: ["SCALPEL_DICOM_LIBRARY": "/nonexistent/libScalpelDICOM.so"])
        #expect(missing.status != 0 && missing.stderr.contains("apt-get install libdcmtk-dev"), "\(missing.stderr)")
    }
}
