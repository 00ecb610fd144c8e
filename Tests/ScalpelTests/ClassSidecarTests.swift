import Foundation
import Scalpel
import ScalpelTestSupport
import Testing

/// Class names and the positive class of array files from `NAME.json` beside them: the bundled
/// BreastMNIST reports malignant as class 1 (its sensitivity is the sensitivity for
/// malignancy), names survive to metrics.json and the report, a saved model scores new data
/// with the same classes, and a sidecar that does not fit is an error naming it.
struct ClassSidecarTests {
    func json(_ url: URL) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
    }

    @Test func theBundledBreastMNISTNamesItsClassesWithMalignantPositive() throws {
        let data = try PreparedData.load(dataPath("breastmnist.npz"))
        #expect(data.classNames == ["normal or benign", "malignant"])
        // The official test split holds 42 malignant and 114 normal or benign images (Data/README.md).
        #expect(data.test.filter { data.labels[$0] == 1 }.count == 42 && data.test.count == 156)
        #expect(data.pipeline?.positiveClass == "0")
        // --positive by index or by name overrides the file's choice.
        var config = TrainingConfig(data: dataPath("breastmnist.npz"), label: "", out: "")
        config.positiveClass = "normal or benign"
        let benign = try PreparedData.load(config)
        #expect(benign.classNames == ["malignant", "normal or benign"] && benign.test.filter { benign.labels[$0] == 1 }.count == 114)
    }

    /// A run and `scalpel eval` of its checkpoint on the same file agree on the classes: the
    /// same test AUROC, the same names, malignant positive; the report states the positive class.
    @Test func aRunAndItsEvaluationUseTheNamedClasses() throws {
        let folder = try makeTemporaryDirectory("scalpel-sidecar")
        defer { try? FileManager.default.removeItem(at: folder) }
        let run = folder.appending(path: "run")
        let trained = try runScalpel(["train", "--epochs", "2", "--device", "cpu", "--out", run.path,
                                      "--intended-use", "Second reader for breast ultrasound in adult women <study only>"])
        #expect(trained.status == 0, "\(trained.stderr)")
        #expect(trained.stdout.contains("positive = malignant"), "\(trained.stdout)")
        let metrics = try json(run.appending(path: "metrics.json"))
        #expect(metrics["classNames"] as? [String] == ["normal or benign", "malignant"])
        let report = try String(contentsOf: run.appending(path: "report.html"), encoding: .utf8)
        #expect(report.contains("positive class") && report.contains("malignant (the condition"))
        #expect(!report.contains("class 0") && !report.contains("class 1"))
        // The confusion matrix at the validation threshold beside the one at p = 0.5; counts and prevalence per split
        // (BreastMNIST's official split: 147 of 546, 21 of 78 and 42 of 156 malignant); no JSON in the notes; the
        // explanation files folded away.
        #expect(report.contains("At the validation threshold (p ≥") && report.contains("At probability 0.5"))
        #expect(report.contains("Class counts per split") && report.contains("prevalence of malignant"))
        #expect(report.contains("<td class=\"num\">147</td>") && report.contains("26.9%") && report.contains("<td class=\"num\">42</td>"))
        #expect(!report.contains("[&quot;") && !report.contains("[\"") && !report.contains("[0."))
        #expect(report.contains("<details><summary>The "))
        // The model card: the intended use as given (escaped), the limits the checks found, the failures by class.
        #expect(report.contains("Model card") && report.contains("Second reader for breast ultrasound in adult women &lt;study only&gt;"))
        #expect(report.contains("Tested on a held-out part of the same data") && report.contains("Failure cases"))
        #expect(report.contains("test rows were misclassified at the validation threshold") || report.contains("No test row was misclassified"))
        let evaluated = try runScalpel(["eval", "--checkpoint", run.appending(path: "best.safetensors").path, "--data", dataPath("breastmnist.npz"),
                                        "--device", "cpu", "--no-explanations", "--out", folder.appending(path: "eval").path])
        #expect(evaluated.status == 0, "\(evaluated.stderr)")
        let scored = try json(folder.appending(path: "eval/metrics.json"))
        let (runTest, evalTest) = (metrics["test"] as? [String: Any], scored["test"] as? [String: Any])
        #expect(runTest?["auroc"] as? Double == evalTest?["auroc"] as? Double, "\(String(describing: runTest?["auroc"])) vs \(String(describing: evalTest?["auroc"]))")
        #expect(scored["classNames"] as? [String] == ["normal or benign", "malignant"])
    }

    /// Arrays too: a sidecar beside `x.npy` names the classes and picks the positive one; a
    /// sidecar that names too few classes, or a positive class it does not list, is refused,
    /// naming the sidecar.
    @Test func arraysTakeTheirNamesAndBadSidecarsAreRefused() throws {
        let folder = try makeTemporaryDirectory("scalpel-sidecar-npy")
        defer { try? FileManager.default.removeItem(at: folder) }
        let samples = ArrayDataTests.samples(120, perSample: 5, seed: 4, image: false)
        try ArrayDataTests.npy(samples.values, shape: [120, 5]).write(to: folder.appending(path: "x.npy"))
        try ArrayDataTests.npy(samples.labels, shape: [120], dtype: "<i8").write(to: folder.appending(path: "y.npy"))
        let sidecar = folder.appending(path: "x.json")
        try Data(#"{"classes": ["tumour", "healthy"], "positive": "tumour"}"#.utf8).write(to: sidecar)
        var config = TrainingConfig(data: folder.appending(path: "x.npy").path, label: "", out: "")
        config.labels = folder.appending(path: "y.npy").path
        let data = try PreparedData.load(config)
        #expect(data.classNames == ["healthy", "tumour"])
        #expect(zip(data.labels, samples.labels).allSatisfy { Float(1 - $0) == $1 }, "tumour (file label 0) became class 1")
        for bad in [#"{"classes": ["only one"]}"#, #"{"classes": ["a", "b"], "positive": "c"}"#, "not json"] {
            try Data(bad.utf8).write(to: sidecar)
            do {
                _ = try PreparedData.load(config)
                Issue.record("\(bad) was accepted")
            } catch {
                #expect("\(error)".contains("x.json"), "\(error)")
            }
        }
    }
}

/// The Grad-CAM border check: the share of a map's mass near the image's edge.
struct GradCAMBorderTests {
    @Test func theBorderShareOfAMap() {
        let (h, w) = (16, 16)
        let band = Explanations.borderBand(height: h, width: w)
        #expect(band == 2)
        // A uniform map: the border's share of the area, 1 − (12/16)² = 0.4375, under the warning level.
        let uniform = [Float](repeating: 1, count: h * w)
        #expect(abs(Explanations.borderShare(uniform, height: h, width: w, band: band) - 0.4375) < 1e-9)
        #expect(Explanations.borderShare(uniform, height: h, width: w, band: band) < Explanations.borderWarningShare)
        // A frame: all of it on the border; a centred blob: none; an empty map: 0.
        let frame = (0 ..< h * w).map { i -> Float in (i / w < 2 || i % w < 2 || i / w >= h - 2 || i % w >= w - 2) ? 1 : 0 }
        #expect(Explanations.borderShare(frame, height: h, width: w, band: band) == 1)
        let blob = (0 ..< h * w).map { i -> Float in abs(i / w - 8) < 3 && abs(i % w - 8) < 3 ? 1 : 0 }
        #expect(Explanations.borderShare(blob, height: h, width: w, band: band) == 0)
        #expect(Explanations.borderShare([Float](repeating: 0, count: h * w), height: h, width: w, band: band) == 0)
        // Negative weights do not count.
        #expect(Explanations.borderShare(frame.map { -$0 } + [], height: h, width: w, band: band) == 0)
    }
}
