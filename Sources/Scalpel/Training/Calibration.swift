import Foundation
import ScalpelCore
import ScalpelMetrics

/// What `--calibrate temperature` did, in metrics.json and the report: the temperature fitted
/// on the validation split and the calibration of the validation and test splits before and
/// after it (ECE: expected calibration error over 15 bins; Brier score).
public struct CalibrationSummary: Encodable, Sendable {
    /// The method (`temperature`).
    public var method: String
    /// The temperature T the logits are divided by (above 1: the model was over-confident).
    public var temperature: Float
    /// The validation split's ECE with the model's own probabilities.
    public var validationECEBefore: Double?
    /// The validation split's ECE after temperature scaling (the split T was fitted on).
    public var validationECEAfter: Double?
    /// The test split's ECE with the model's own probabilities.
    public var testECEBefore: Double?
    /// The test split's ECE after temperature scaling.
    public var testECEAfter: Double?
    /// The test split's Brier score (binary) or multi-class Brier score, before.
    public var testBrierBefore: Double?
    /// The test split's Brier score after temperature scaling.
    public var testBrierAfter: Double?
}

extension SplitMetrics {
    /// The expected calibration error: of class 1's probability (binary) or the top label's
    /// (multi-class); nil where it is undefined.
    public var expectedCalibrationError: Double? { binary?.expectedCalibrationError ?? multiclass?.expectedCalibrationError }
    /// The Brier score (binary) or the multi-class Brier score; nil where it is undefined.
    public var brierScore: Double? { binary?.brierScore ?? multiclass?.brierScore }
}

extension TrainingRun {
    /// Fits the temperature on `validation` (the model's evaluation of the validation split),
    /// sets it on the trainer, and returns it with the uncalibrated test evaluation.
    func calibrateTemperature(validation: Evaluation) throws -> (scaling: TemperatureScaling, uncalibratedTest: Evaluation) {
        let scaling: TemperatureScaling
        do {
            scaling = try TemperatureScaling.fit(logProbabilities: validation.logProbabilities, labels: validation.truth, classes: data.classCount)
        } catch {
            throw ScalpelError.invalidArgument("--calibrate temperature: \(error)")
        }
        trainer.temperature = nil
        let uncalibratedTest = try evaluate(data.test, intervals: false)
        trainer.temperature = scaling.temperature
        return (scaling, uncalibratedTest)
    }
}
