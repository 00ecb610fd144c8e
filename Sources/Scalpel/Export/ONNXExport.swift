import Foundation
import ScalpelCore
import ScalpelCPU
import ScalpelData
import ScalpelIO
import ScalpelMetrics
import ScalpelNN
import ScalpelONNX
import ScalpelPrivacy

/// A saved model as an ONNX file a hospital's inference service runs: the network in
/// evaluation mode with the data preparation fitted on its training rows inside the graph, so
/// that the graph takes what `scalpel predict` reads — raw features, pixel values or series —
/// and gives every class's probability.
///
/// The graph's input `input` is float32 (N, …sample shape): a table's features in the trained
/// order (NaN for a missing value; a categorical column one-hot encoded as the metadata's
/// `categorical_encoding` lists); an image's pixel values on the 0–255 scale, channels first,
/// at the trained size; a signal's values as the file gives them, at the trained length. Its
/// outputs are `probabilities` (N, classes) and `logits` (N, classes). The metadata holds
/// the class names, the positive class, the decision threshold, the columns and how to prepare
/// an input.
public struct ONNXExport: Sendable {
    /// The ONNX file's bytes.
    public var model: Data
    /// The model's metadata properties (also inside `model`).
    public var metadata: [String: String]
    /// The number of nodes in the graph.
    public var nodeCount: Int

    /// The ONNX export of the checkpoint at `checkpoint` (`best.safetensors` of a run, decrypted in
    /// memory when it is encrypted with a key from `identityFile`, `keyFile`, `passphraseFile` or the
    /// environment).
    /// - Parameters:
    ///   - checkpoint: The checkpoint's path.
    ///   - keyFile: A key file for an encrypted checkpoint.
    ///   - passphraseFile: A passphrase file for an encrypted checkpoint.
    ///   - identityFile: A personal key among the recipients of a checkpoint encrypted to them.
    /// - Throws: `ScalpelError` naming the checkpoint when it cannot be read or its model exported.
    public init(checkpoint: String, keyFile: String? = nil, passphraseFile: String? = nil, identityFile: String? = nil) throws {
        guard FileManager.default.fileExists(atPath: checkpoint) else { throw ScalpelError.io(path: checkpoint, reason: "no such file") }
        let keys = try KeyRing.resolve(keyFile: keyFile, passphraseFile: passphraseFile, identityFile: identityFile)
        let file = try TrainingRun.readCheckpoint(URL(fileURLWithPath: checkpoint), keys: keys)
        let config = try SavedModelMetadata.config(file, source: checkpoint)
        let pipeline = try DataPipeline.from(metadata: file.metadata, source: checkpoint)
        let largest = try SavedModelCheck.validate(config: config, pipeline: pipeline, file: file, source: checkpoint)
        let recipe = try ModelRecipe.named(config.model)
        let shape = ModelShape(sampleShape: pipeline.sampleShape, classes: pipeline.classNames.count, hidden: config.hidden, dropout: config.dropout)
        let network = try SavedModelCheck.building(under: largest, source: checkpoint) {
            try recipe.build(shape, seed: config.seed, on: CPUBackend()).model
        }
        try Checkpoint.restore(file, into: network, source: checkpoint)
        network.eval()

        var graph = ONNXGraph(name: "scalpel_\(config.model)")
        let input = graph.input("input", sampleShape: pipeline.sampleShape, doc: Self.inputDescription(pipeline))
        let prepared = try Self.prepare(input, pipeline, &graph, source: checkpoint)
        var logits: String
        do {
            logits = try graph.add(network, prepared)
        } catch let error as ScalpelError {
            throw ScalpelError.invalidArgument("\(checkpoint): \(error.description)")
        }
        if let temperature = try SavedModelMetadata.temperature(file.metadata, source: checkpoint) {
            logits = graph.node("Div", [logits, graph.constant([temperature], shape: [], hint: "temperature")])
        }
        let classes = pipeline.classNames.count
        graph.output(graph.node("Softmax", [logits], ["axis": .int(1)]), as: "probabilities", sampleShape: [classes],
                     doc: "each class's probability, in the order of the metadata's class_names")
        graph.output(logits, as: "logits", sampleShape: [classes], doc: "the model's logits (after any temperature scaling)")

        var metadata = try Self.metadata(config: config, pipeline: pipeline, checkpoint: file.metadata, source: checkpoint)
        metadata["input"] = Self.inputDescription(pipeline)
        self.metadata = metadata
        nodeCount = graph.nodeCount
        model = try graph.serializedModel(metadata: metadata, producer: "scalpel", version: ScalpelBuild.summary,
                                               doc: "\(recipe.summary), trained by Scalpel \(ScalpelBuild.summary)")
    }

    /// What the graph's input holds and how to make it.
    static func inputDescription(_ pipeline: DataPipeline) -> String {
        let shape = "float32 [N, " + pipeline.sampleShape.map(String.init).joined(separator: ", ") + "]"
        switch pipeline.kind {
        case .table:
            return "\(shape): each row's features in the order of the metadata's columns, as the CSV file gives them (NaN for a missing value; "
                + "a categorical column one-hot encoded as categorical_encoding lists)"
        case .images:
            let (c, h, w) = (pipeline.sampleShape[0], pipeline.sampleShape[1], pipeline.sampleShape[2])
            let grey = c == 1 ? "grey" : "RGB"
            if pipeline.images?.files != nil {
                return "\(shape): \(grey) images resized to \(h)×\(w) (antialiased), channels first, pixel values on the 0–255 scale "
                    + "(16-bit images and DICOM windows mapped to it)"
            }
            return "\(shape): \(grey) images of \(h)×\(w), channels first, pixel values on the 0–255 scale"
        case .sequences:
            return "\(shape): series of exactly \(pipeline.sampleShape[1]) values per channel, as the file gives them"
        }
    }

    /// The fitted preparation as nodes on `input`: imputation and standardisation of a table,
    /// pixel scaling and channel standardisation of images; signals pass unchanged.
    static func prepare(_ input: String, _ pipeline: DataPipeline, _ graph: inout ONNXGraph, source: String) throws -> String {
        func standardise(_ x: String, mean: [Float], std: [Float], shape: [Int]) -> String {
            graph.node("Div", [graph.node("Sub", [x, graph.constant(mean, shape: shape, hint: "mean")]), graph.constant(std, shape: shape, hint: "std")])
        }
        func fill(_ x: String, _ values: [Float]) -> String {
            let fillValues = graph.constant(values, shape: [values.count], hint: "fill")
            return graph.node("Where", [graph.node("IsNaN", [x]), graph.node("Expand", [fillValues, graph.node("Shape", [x])]), x])
        }
        let features = pipeline.sampleShape.reduce(1, *)
        if let table = pipeline.table {
            let filled = fill(input, table.imputer.fillValues)
            return standardise(filled, mean: table.standardizer.means, std: table.standardizer.standardDeviations, shape: [features])
        }
        let channels = pipeline.sampleShape.count == 3 ? pipeline.sampleShape[0] : 1
        let channelShape = [1, channels, 1, 1]
        if let images = pipeline.images {
            let scaled = graph.node("Mul", [input, graph.constant([1 / 255], shape: [], hint: "pixel_scale")])
            return standardise(scaled, mean: images.mean.map(Float.init), std: images.standardDeviation.map(Float.init), shape: channelShape)
        }
        if let arrays = pipeline.arrays {
            var x = input
            if arrays.dividedBy255 { x = graph.node("Mul", [x, graph.constant([1 / 255], shape: [], hint: "pixel_scale")]) }
            if let standardizer = arrays.standardizer, pipeline.kind == .table {
                x = standardise(x, mean: standardizer.means, std: standardizer.standardDeviations, shape: [features])
            } else if let mean = arrays.channelMean, let std = arrays.channelStandardDeviation, pipeline.kind == .images {
                x = standardise(x, mean: mean.map(Float.init), std: std.map(Float.init), shape: channelShape)
            }
            return x
        }
        return input
    }

    /// The metadata a caller needs: the classes, the decision, the columns and the provenance.
    static func metadata(config: TrainingConfig, pipeline: DataPipeline, checkpoint: [String: String], source: String) throws -> [String: String] {
        func json(_ value: some Encodable) throws -> String {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            return String(decoding: try encoder.encode(value), as: UTF8.self)
        }
        var metadata: [String: String] = [
            "scalpel": ScalpelBuild.summary,
            "model": config.model,
            "data_kind": pipeline.kind.rawValue,
            "class_names": try json(pipeline.classNames),
            "outputs": "probabilities: float32 [N, \(pipeline.classNames.count)], each class's probability in class_names order; "
                + "logits: float32 [N, \(pipeline.classNames.count)]",
            "intended_use": config.intendedUse ?? ModelCard.researchUse,
        ]
        if pipeline.classNames.count == 2 {
            metadata["positive_class"] = pipeline.classNames[1]
            if let (rule, choice) = try SavedModelMetadata.threshold(checkpoint, source: source) {
                metadata["decision_threshold"] = String(format: "%.6f", Predictions.probability(choice.threshold))
                metadata["decision_rule"] = "\(pipeline.classNames[1]) where its probability is at least decision_threshold, " + rule
            } else {
                metadata["decision_rule"] = "\(pipeline.classNames[1]) where its probability is at least 0.5 (the run chose no threshold)"
            }
        }
        if let table = pipeline.table {
            metadata["columns"] = try json(table.featureNames)
            var encoding: [String: [String]] = [:]
            for kind in table.featureKinds {
                if case let .oneHot(column, category) = kind { encoding[column, default: []].append(category) }
            }
            if !encoding.isEmpty {
                metadata["categorical_encoding"] = try json(encoding)
                metadata["categorical_rule"] = "a categorical column becomes one feature per listed category, named column=category in columns: "
                    + "1 for the row's category, else 0; all NaN when the cell is empty; all 0 for a category not listed"
            }
            metadata["preprocessing"] = "in the graph: a missing value (NaN) filled with the training rows' median (0 for a one-hot feature), "
                + "then each feature standardised with the training rows' mean and standard deviation"
        } else if let images = pipeline.images {
            metadata["preprocessing"] = "in the graph: pixel values divided by 255, then each channel standardised with the training images' mean "
                + "\(PreparedData.decimals(images.mean)) and standard deviation \(PreparedData.decimals(images.standardDeviation))"
            if let files = images.files, let window = files.window {
                metadata["dicom_window"] = "centre \(window.center), width \(window.width)"
            }
        } else if let arrays = pipeline.arrays {
            metadata["preprocessing"] = "in the graph: " + (arrays.dividedBy255 ? "values divided by 255, then " : "")
                + (pipeline.kind == .sequences ? "nothing more" : "standardised with the training rows' statistics")
            if arrays.channelsLast { metadata["layout"] = "channels first: transpose (N, H, W, C) arrays to (N, C, H, W) before the graph" }
        } else {
            metadata["preprocessing"] = "none: the series as the file gives them"
        }
        return metadata
    }
}
