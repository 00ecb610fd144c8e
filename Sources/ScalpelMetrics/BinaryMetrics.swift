import ScalpelData

/// Diagnostic performance of a binary classifier: class 1 is the condition (e.g. malignant).
///
/// Every ratio that the data cannot support is `nil`, with the reason in `undefinedReasons`
/// under the property's name: a test set without positives has no sensitivity, and reporting 0
/// or 1 instead would be a number nobody measured. Codable, so it goes straight into a
/// `metrics.json`; undefined metrics are written as `null`.
public struct BinaryMetrics: Codable, Equatable, Sendable {
    /// The 2×2 confusion matrix, with class 1 as positive.
    public struct Confusion: Codable, Equatable, Sendable {
        /// Class 0 rows predicted 0.
        public let trueNegatives: Int
        /// Class 0 rows predicted 1.
        public let falsePositives: Int
        /// Class 1 rows predicted 0.
        public let falseNegatives: Int
        /// Class 1 rows predicted 1.
        public let truePositives: Int
    }

    /// The number of rows scored.
    public let sampleCount: Int
    /// A row is predicted positive when its score is at least this.
    public let threshold: Float
    /// The number of rows of each class: `[class 0, class 1]`.
    public let support: [Int]
    /// The confusion matrix at `threshold`.
    public let confusion: Confusion
    /// The share of rows predicted correctly.
    public let accuracy: Double
    /// Recall of class 1, TP / (TP + FN): the share of the sick that the test finds.
    public let sensitivity: Double?
    /// Recall of class 0, TN / (TN + FP): the share of the healthy that the test clears.
    public let specificity: Double?
    /// Positive predictive value, TP / (TP + FP).
    public let precision: Double?
    /// Negative predictive value, TN / (TN + FN).
    public let negativePredictiveValue: Double?
    /// F1 of class 1, 2TP / (2TP + FP + FN).
    public let f1: Double?
    /// The mean of sensitivity and specificity.
    public let balancedAccuracy: Double?
    /// The area under the ROC curve (threshold-free), by Mann–Whitney, a tie counting one half.
    public let auroc: Double?
    /// The area under the precision–recall curve as scikit-learn's `average_precision_score`:
    /// `Σ (Rₙ − Rₙ₋₁) Pₙ` over the distinct scores from the highest down, not interpolated.
    /// Ranks `scores`, so log-odds and probabilities give the same value.
    public let auprc: Double?
    /// The mean squared error of `probabilities` against the labels, `mean (p − y)²`
    /// (scikit-learn's `brier_score_loss`). Nil when no probabilities were given.
    public let brierScore: Double?
    /// The expected calibration error of `probabilities`: the rows are put in 15 equal-width bins
    /// of the predicted probability of class 1 (`[b/15, (b+1)/15)`, the last bin also holding 1),
    /// and `ECE = Σ_b (n_b / N) |share of class 1 in b − mean probability in b|`. Nil when no
    /// probabilities were given.
    public let expectedCalibrationError: Double?
    /// Why each `nil` metric is undefined, keyed by the property name ("auroc", "precision", ...).
    public let undefinedReasons: [String: String]

    /// The number of equal-width probability bins behind `expectedCalibrationError`.
    public static let calibrationBinCount = MetricSupport.calibrationBinCount

    /// Scores `scores` (one per row, higher meaning class 1 is more likely: a probability, or a
    /// logit / log-odds) against `labels` (0 or 1), predicting class 1 where the score is at
    /// least `threshold`. The calibration metrics (Brier score, ECE) need the predicted
    /// probability of class 1 for each row, in `probabilities`; when it is nil they are nil with
    /// a reason (scores are not assumed to be probabilities, since they may be logits). Pass the
    /// same array twice when the scores are probabilities.
    /// - Throws: `ClinicDataError.invalidInput` when there are no rows, the counts differ, a
    ///   label is not 0 or 1, a score or the threshold is not finite, or a probability is not in
    ///   `[0, 1]`.
    public static func compute(
        labels: [Int32], scores: [Float], threshold: Float = 0.5, probabilities: [Float]? = nil
    ) throws(ClinicDataError) -> BinaryMetrics {
        let inputs = try BinaryMetricInputs(labels: labels, scores: scores, threshold: threshold, probabilities: probabilities)
        return inputs.metrics(weights: [Int](repeating: 1, count: labels.count))
    }

    private enum CodingKeys: String, CodingKey {
        case sampleCount, threshold, support, confusion, accuracy, sensitivity, specificity, precision
        case negativePredictiveValue, f1, balancedAccuracy, auroc, auprc, brierScore, expectedCalibrationError
        case undefinedReasons
    }

    /// Encodes every metric, writing an undefined one as `null` rather than leaving its key out,
    /// so a reader of `metrics.json` sees that it was not measurable.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(sampleCount, forKey: .sampleCount)
        try container.encode(threshold, forKey: .threshold)
        try container.encode(support, forKey: .support)
        try container.encode(confusion, forKey: .confusion)
        try container.encode(accuracy, forKey: .accuracy)
        try container.encode(sensitivity, forKey: .sensitivity)
        try container.encode(specificity, forKey: .specificity)
        try container.encode(precision, forKey: .precision)
        try container.encode(negativePredictiveValue, forKey: .negativePredictiveValue)
        try container.encode(f1, forKey: .f1)
        try container.encode(balancedAccuracy, forKey: .balancedAccuracy)
        try container.encode(auroc, forKey: .auroc)
        try container.encode(auprc, forKey: .auprc)
        try container.encode(brierScore, forKey: .brierScore)
        try container.encode(expectedCalibrationError, forKey: .expectedCalibrationError)
        try container.encode(undefinedReasons, forKey: .undefinedReasons)
    }
}

/// Checked binary inputs, with the scores ranked once and each row's calibration terms worked
/// out, so that any weighting of the rows (the test set itself, or a bootstrap resample) is
/// scored in one pass.
struct BinaryMetricInputs: Sendable {
    let threshold: Float
    let isPositive: [Bool]
    let predictedPositive: [Bool]
    let ranking: ScoreRanking
    /// Nil when no probabilities were given.
    let calibration: CalibrationRows?

    init(labels: [Int32], scores: [Float], threshold: Float, probabilities: [Float]?) throws(ClinicDataError) {
        try MetricSupport.check(labels: labels, scores: scores, scoresPerRow: 1, classCount: 2, caller: "BinaryMetrics")
        guard threshold.isFinite else {
            throw .invalidInput(reason: "BinaryMetrics: the threshold \(threshold) is not finite")
        }
        self.threshold = threshold
        isPositive = labels.map { $0 == 1 }
        predictedPositive = scores.map { $0 >= threshold }
        ranking = ScoreRanking(scores)
        if let probabilities {
            try MetricSupport.checkCount(
                probabilities, rows: labels.count, perRow: 1, what: "probabilities", caller: "BinaryMetrics")
            if let problem = MetricSupport.notProbabilities(probabilities, perRow: 1) {
                throw .invalidInput(reason: "BinaryMetrics: probabilities: \(problem)")
            }
            let outcome = labels.map { Double($0) }
            let confidence = probabilities.map { Double($0) }
            calibration = CalibrationRows(
                brierTerm: zip(confidence, outcome).map { ($0 - $1) * ($0 - $1) }, confidence: confidence,
                outcome: outcome, bin: probabilities.map(MetricSupport.calibrationBin))
        } else {
            calibration = nil
        }
    }

    /// The metrics of the rows counted `weights[row]` times each (the weights must not all be 0).
    func metrics(weights: [Int]) -> BinaryMetrics {
        var (tn, fp, fn, tp) = (0, 0, 0, 0)
        for row in weights.indices where weights[row] != 0 {
            switch (isPositive[row], predictedPositive[row]) {
            case (false, false): tn += weights[row]
            case (false, true): fp += weights[row]
            case (true, false): fn += weights[row]
            case (true, true): tp += weights[row]
            }
        }
        let positives = tp + fn
        let negatives = tn + fp
        var reasons: [String: String] = [:]
        func note(_ value: Double?, _ name: String, _ reason: @autoclosure () -> String) -> Double? {
            if value == nil { reasons[name] = reason() }
            return value
        }

        let sensitivity = note(
            MetricSupport.ratio(tp, positives), "sensitivity", "no class 1 rows, so no positive is there to find")
        let specificity = note(
            MetricSupport.ratio(tn, negatives), "specificity", "no class 0 rows, so no negative is there to clear")
        let precision = note(
            MetricSupport.ratio(tp, tp + fp), "precision", "no row scored at least the threshold \(threshold)")
        let npv = note(
            MetricSupport.ratio(tn, tn + fn), "negativePredictiveValue", "no row scored below the threshold \(threshold)")
        let f1 = note(
            MetricSupport.f1(truePositives: tp, falsePositives: fp, falseNegatives: fn), "f1",
            "no class 1 rows and no positive predictions")
        let balanced = note(
            sensitivity.flatMap { s in specificity.map { (s + $0) / 2 } }, "balancedAccuracy",
            "needs rows of both classes")
        let (positiveWeights, negativeWeights) = ranking.tally(weights: weights) { isPositive[$0] }
        let areas = MetricSupport.rankingAreas(positives: positiveWeights, negatives: negativeWeights)
        let auroc = note(
            areas.auroc, "auroc", "only class \(positives > 0 ? 1 : 0) is present; ranking needs rows of both classes")
        let auprc = note(
            areas.averagePrecision, "auprc", "no class 1 rows, so there is no recall to trade against precision")
        let calibrationScores = calibration?.scores(weights: weights)
        let noProbabilities = "no probabilities were given (the scores need not be probabilities)"
        let brier = note(calibrationScores?.brier, "brierScore", noProbabilities)
        let ece = note(calibrationScores?.ece, "expectedCalibrationError", noProbabilities)

        return BinaryMetrics(
            sampleCount: positives + negatives, threshold: threshold, support: [negatives, positives],
            confusion: BinaryMetrics.Confusion(trueNegatives: tn, falsePositives: fp, falseNegatives: fn, truePositives: tp),
            accuracy: Double(tp + tn) / Double(positives + negatives), sensitivity: sensitivity,
            specificity: specificity, precision: precision, negativePredictiveValue: npv, f1: f1,
            balancedAccuracy: balanced, auroc: auroc, auprc: auprc, brierScore: brier, expectedCalibrationError: ece,
            undefinedReasons: reasons)
    }
}
