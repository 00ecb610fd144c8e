import Foundation
import ScalpelCore
import ScalpelIO
import ScalpelMetrics

/// What a checkpoint's metadata holds besides the weights, read once for every command that uses
/// a saved model (eval, predict, explain, export): each entry is optional, and one that is there
/// but unreadable is an error naming the checkpoint, never silently skipped.
enum SavedModelMetadata {
    /// The run's training configuration.
    static func config(_ file: SafeTensorsFile, source: String) throws -> TrainingConfig {
        guard let text = file.metadata["config"], let config = try? JSONDecoder().decode(TrainingConfig.self, from: Data(text.utf8)) else {
            throw ScalpelError.io(path: source, reason: "the checkpoint holds no readable training configuration; use best.safetensors or "
                + "last.safetensors of a run of this version of Scalpel")
        }
        return config
    }

    /// The decision threshold the run chose on validation and its rule in words (nil: none stored).
    static func threshold(_ metadata: [String: String], source: String) throws -> (rule: String, choice: DecisionThreshold)? {
        guard let text = metadata["decision_threshold"] else { return nil }
        guard let choice = try? JSONDecoder().decode(DecisionThreshold.self, from: Data(text.utf8)) else {
            throw ScalpelError.io(path: source, reason: "the checkpoint's decision threshold is unreadable")
        }
        return ("chosen on the training run's validation split: " + (metadata["decision_threshold_rule"] ?? ""), choice)
    }

    /// The temperature a calibrated run divides its logits by (nil: none stored).
    static func temperature(_ metadata: [String: String], source: String) throws -> Float? {
        guard let text = metadata[TemperatureScaling.metadataKey] else { return nil }
        guard let temperature = Float(text), temperature.isFinite, temperature > 0 else {
            throw ScalpelError.io(path: source, reason: "the checkpoint's temperature is unreadable")
        }
        return temperature
    }
}
