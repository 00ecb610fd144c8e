import Foundation
import ScalpelCore
import ScalpelIO
import ScalpelTensor

/// The checks a saved model's configuration passes before anything is built from it. A
/// checkpoint's metadata is text anyone can edit: a hidden size of 2e9 or a sample shape of a
/// billion values would otherwise make the model builder or the data loader ask for hundreds of
/// gigabytes and end the process. Every size must be within what Scalpel writes, and the model
/// is then built under the size of the checkpoint's largest tensor (`Tensor.initializationLimit`),
/// so no parameter can be larger than the weights the file holds.
enum SavedModelCheck {
    /// The most values one input sample may hold (a 4096 × 4096 image).
    static let maxSampleValues = 1 << 24
    /// The most values one batch of inputs may hold.
    static let maxBatchValues = 1 << 26
    static let maxHidden = 1 << 16
    static let maxBatch = 1 << 16
    static let maxClasses = 100_000

    /// Checks `config` and `pipeline` against sane limits and against the tensors of `file`;
    /// returns the element count of the file's largest tensor (the limit to build under).
    static func validate(config: TrainingConfig, pipeline: DataPipeline, file: SafeTensorsFile, source: String) throws -> Int {
        func refuse(_ what: String) -> ScalpelError { refusal(what, source: source) }
        guard let recipe = try? ModelRecipe.named(config.model), recipe.kind == pipeline.kind else {
            throw refuse("model '\(config.model)' for \(pipeline.kind.rawValue) data")
        }
        let dimensions = [PreparedData.Kind.table: 1, .images: 3, .sequences: 2][pipeline.kind]!
        let shape = pipeline.sampleShape
        guard shape.count == dimensions, shape.allSatisfy({ $0 >= 1 }) else {
            throw refuse("sample shape \(shape) for \(pipeline.kind.rawValue) data")
        }
        var sampleValues = 1
        for dimension in shape {
            let (product, overflow) = sampleValues.multipliedReportingOverflow(by: dimension)
            guard !overflow, product <= maxSampleValues else {
                throw refuse("samples of shape \(shape), more than \(maxSampleValues) values each")
            }
            sampleValues = product
        }
        guard (2...maxClasses).contains(pipeline.classNames.count), pipeline.fileClasses.count == pipeline.classNames.count else {
            throw refuse("\(pipeline.classNames.count) classes named, \(pipeline.fileClasses.count) in the file's spelling")
        }
        guard config.batchSize * sampleValues <= maxBatchValues else {
            throw refuse("batches of \(config.batchSize) samples of \(sampleValues) values")
        }
        return try validate(config: config, file: file, source: source)
    }

    /// The checks that need no data pipeline (a resumed run reads its samples from the data):
    /// the model is known, its sizes are within limits; returns the largest tensor's size.
    static func validate(config: TrainingConfig, file: SafeTensorsFile, source: String) throws -> Int {
        func refuse(_ what: String) -> ScalpelError { refusal(what, source: source) }
        guard ModelRecipe.names.contains(config.model) else { throw refuse("model '\(config.model)'") }
        guard (1...maxHidden).contains(config.hidden) else { throw refuse("hidden size \(config.hidden), at most \(maxHidden)") }
        guard (1...maxBatch).contains(config.batchSize) else { throw refuse("batches of \(config.batchSize) samples") }
        guard config.dropout >= 0, config.dropout < 1 else { throw refuse("dropout \(config.dropout)") }
        let largest = file.tensors.values.compactMap(\.elementCount).max() ?? 0
        guard largest > 0 else { throw refuse("no weights") }
        return largest
    }

    static func refusal(_ what: String, source: String) -> ScalpelError {
        .io(path: source, reason: "the checkpoint's configuration is not one Scalpel writes (\(what)): it was changed, or the file is damaged")
    }

    /// Runs `build` (which makes the model) with no parameter larger than `limit` values; a larger
    /// one is reported as a configuration that does not fit the checkpoint's weights.
    static func building<T>(under limit: Int, source: String, _ build: () throws -> T) throws -> T {
        do {
            return try Tensor.$initializationLimit.withValue(limit) { try build() }
        } catch let ScalpelError.invalidArgument(text) where text.hasPrefix("a parameter of shape") {
            throw ScalpelError.io(path: source, reason: "the checkpoint's configuration describes a model larger than the weights it holds "
                + "(\(text), the file's largest tensor): it was changed, or the file is damaged")
        }
    }
}
