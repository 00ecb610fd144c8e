import Foundation
import ScalpelCore
import ScalpelData
import ScalpelIO
import ScalpelMetrics
import ScalpelPrivacy

/// A binary run's validation log-odds and labels, kept in its checkpoint so that a decision
/// threshold can be chosen again later (`scalpel predict --target-sensitivity`).
public struct StoredValidationScores: Codable, Sendable {
    /// The checkpoint metadata key.
    public static let metadataKey = "validation_scores"
    /// The validation rows' classes (1: the positive class).
    public var labels: [Int32]
    /// The validation rows' log-odds of class 1.
    public var scores: [Float]
}

/// How `scalpel predict` decides a binary case.
public enum PredictionThreshold: Sendable, Equatable {
    /// The threshold the training run chose on its validation split (else the more probable class).
    case saved
    /// Class 1 where its probability is at least this (in (0, 1)).
    case probability(Double)
    /// The highest threshold whose sensitivity on the run's stored validation scores is at least this.
    case targetSensitivity(Double)
}

extension TrainingRun {
    /// The saved model's predictions on every sample of its data, labelled or not: each sample's
    /// id, the probability of every class and the decision (binary: at `threshold`; several
    /// classes: the most probable), with the true class when the data has labels.
    /// - Parameter threshold: How a binary case is decided.
    /// - Returns: The predictions, in the data's order.
    /// - Throws: `ScalpelError` for a threshold out of range or one the checkpoint cannot give.
    public func predictions(threshold: PredictionThreshold = .saved) throws -> Predictions {
        try predictions(decidedBy: try decisionThreshold(threshold))
    }

    /// The predictions of every sample of the data, binary ones decided at `chosen` (nil: the
    /// most probable class) — once per block of a large file, the threshold resolved once.
    func predictions(decidedBy chosen: (rule: String, logOdds: Float)?) throws -> Predictions {
        Predictions(try evaluate(data.test), rows: data.test, data: data, threshold: chosen, labelled: data.hasLabels)
    }

    /// The log-odds threshold `threshold` asks for and its rule in words (nil: the most probable
    /// class, for several classes or a run that chose none).
    func decisionThreshold(_ threshold: PredictionThreshold) throws -> (rule: String, logOdds: Float)? {
        var chosen: (rule: String, logOdds: Float)?
        if data.classCount == 2 {
            switch threshold {
            case .saved:
                chosen = savedThreshold.map { ($0.0, $0.1.threshold) }
            case let .probability(p):
                guard p > 0 && p < 1 else { throw ScalpelError.invalidArgument("--threshold \(p): give a probability between 0 and 1") }
                chosen = ("the threshold given", Predictions.logOdds(p))
            case let .targetSensitivity(target):
                guard target > 0 && target <= 1 else {
                    throw ScalpelError.invalidArgument("--target-sensitivity \(target): give a sensitivity in (0, 1]")
                }
                guard let stored = validationScores else {
                    throw ScalpelError.invalidArgument("\(checkpointPath ?? "the checkpoint"): it holds no validation scores to choose a threshold "
                        + "on (a run without a validation split, or of an older Scalpel); give --threshold instead")
                }
                let choice = try DecisionThreshold.choose(labels: stored.labels, scores: stored.scores, rule: .targetSensitivity(target))
                chosen = (String(format: "the highest threshold with validation sensitivity ≥ %g (%.3f; specificity %.3f)", target,
                                 choice.sensitivity, choice.specificity), choice.threshold)
            }
        } else if threshold != .saved {
            throw ScalpelError.invalidArgument("--threshold and --target-sensitivity decide between two classes; this model has \(data.classCount)")
        }
        return chosen
    }
}

extension TrainingRun {
    /// `predictions` of this run's table named by its column `column` (a record number, passed
    /// through as it is) instead of by line; an encrypted table is read with the run's keys.
    /// - Parameters:
    ///   - predictions: Predictions of the table's rows, named by line.
    ///   - column: The column whose cells name the rows.
    /// - Returns: The predictions with the column's values as ids and the column's name as the id column.
    /// - Throws: `ScalpelError` when the data is not a table or has no such column.
    public func naming(_ predictions: Predictions, byColumn column: String) throws -> Predictions {
        let path = config.data
        guard PreparedData.kind(of: path) == .table, predictions.idName == "line" else {
            throw ScalpelError.invalidArgument("--id-column \(column): only a CSV table's rows are named by a column")
        }
        // An encrypted table's header is part of its content: not listed in the error.
        return try Self.naming(predictions, byColumn: column, in: try DataSource.open(path, keys: { keys }).csv(), path: path)
    }

    /// Writes `predictions` as the CSV file `name` in the run's output folder, atomically and
    /// private to its owner, encrypted (`name.enc`) when the run's outputs are.
    /// - Parameters:
    ///   - predictions: What to write.
    ///   - name: The file's name, without `.enc`.
    /// - Returns: The file written.
    @discardableResult
    public func write(_ predictions: Predictions, as name: String) throws -> URL {
        URL(fileURLWithPath: config.out).appending(path: try writeOutput(Data(predictions.csv().utf8), name))
    }
}
