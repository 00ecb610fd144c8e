import ArgumentParser
import Foundation
import Scalpel
import ScalpelCore
import ScalpelIO
import ScalpelPrivacy

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export a saved model to ONNX, with its data preparation inside the graph, for an inference service.",
        discussion: """
            The graph (ONNX opset 17) takes what `scalpel predict` reads: a table's raw features in the trained column \
            order (NaN for a missing value; categorical columns one-hot encoded as the metadata lists), an image's \
            pixel values on the 0–255 scale at the trained size, or a signal's values; imputation, standardisation \
            and any temperature scaling are nodes of the graph. Its outputs are each class's probability \
            (`probabilities`) and the logits. The metadata holds the class names, the positive class, the decision \
            threshold the run chose on validation, the columns, the intended use and the Scalpel version. The file is \
            written atomically and private to its owner; it is not encrypted, so that a runtime can read it.
            """)

    @OptionGroup var key: KeyOptions

    @Option(help: "A checkpoint of a run: OUT/best.safetensors (the reported epoch) or OUT/last.safetensors.")
    var checkpoint: String

    @Option(help: "The format to write: onnx.")
    var format: String = "onnx"

    @Option(help: "The file to write (model.onnx, say). An existing file is refused unless --overwrite.")
    var out: String

    @Flag(help: "Replace --out if it exists.")
    var overwrite = false

    func run() throws {
        try runReportingErrors { try audited("export", inputs: [checkpoint], identity: key.personal) { outcome in
            guard format.lowercased() == "onnx" else {
                throw ScalpelError.invalidArgument("--format \(format): Scalpel exports onnx")
            }
            let target = URL(fileURLWithPath: out)
            if FileManager.default.fileExists(atPath: target.path) && !overwrite {
                throw ScalpelError.invalidArgument("\(target.path) exists; give --overwrite to replace it, or another --out")
            }
            let export = try ONNXExport(checkpoint: checkpoint, keyFile: key.keyFile, passphraseFile: key.passphraseFile, identityFile: key.identityFile)
            do {
                try AtomicFile.write(export.model, to: target)
            } catch {
                throw ScalpelError.io(path: target.path, reason: "\(error)")
            }
            outcome.outputs = [target.path]
            outcome.device = "cpu (the graph is built on the host)"
            let classes = (try? JSONDecoder().decode([String].self, from: Data((export.metadata["class_names"] ?? "[]").utf8))) ?? []
            print("Exported \(checkpoint) (\(export.metadata["model"] ?? "model"), \(export.nodeCount) nodes, ONNX opset \(ONNXGraph.opset)) "
                + "to \(target.path): input \(export.metadata["input"] ?? ""); outputs the probabilities of \(classes.joined(separator: ", "))"
                + (export.metadata["decision_threshold"].map { "; decision threshold \($0)" } ?? ""))
        } }
    }
}
