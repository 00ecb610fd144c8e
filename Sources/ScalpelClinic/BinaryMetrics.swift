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
    /// The area under the ROC curve (threshold-free), by Mann–Whitney with average ranks for ties.
    public let auroc: Double?
    /// Why each `nil` metric is undefined, keyed by the property name ("auroc", "precision", ...).
    public let undefinedReasons: [String: String]

    /// Scores `scores` (the predicted probability of class 1, one per row) against `labels`
    /// (0 or 1), predicting class 1 where the score is at least `threshold`.
    /// - Throws: `ClinicDataError.invalidInput` when there are no rows, the counts differ, a
    ///   label is not 0 or 1, or a score or the threshold is not finite.
    public static func compute(labels: [Int32], scores: [Float], threshold: Float = 0.5) throws(ClinicDataError)
        -> BinaryMetrics
    {
        try MetricSupport.check(labels: labels, scores: scores, scoresPerRow: 1, classCount: 2, caller: "BinaryMetrics")
        guard threshold.isFinite else {
            throw .invalidInput(reason: "BinaryMetrics: the threshold \(threshold) is not finite")
        }
        var (tn, fp, fn, tp) = (0, 0, 0, 0)
        for (label, score) in zip(labels, scores) {
            switch (label == 1, score >= threshold) {
            case (false, false): tn += 1
            case (false, true): fp += 1
            case (true, false): fn += 1
            case (true, true): tp += 1
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
        let auroc = note(
            MetricSupport.auroc(scores: scores, isPositive: labels.map { $0 == 1 }), "auroc",
            "only class \(positives > 0 ? 1 : 0) is present; ranking needs rows of both classes")

        return BinaryMetrics(
            sampleCount: labels.count, threshold: threshold, support: [negatives, positives],
            confusion: Confusion(trueNegatives: tn, falsePositives: fp, falseNegatives: fn, truePositives: tp),
            accuracy: Double(tp + tn) / Double(labels.count), sensitivity: sensitivity, specificity: specificity,
            precision: precision, negativePredictiveValue: npv, f1: f1, balancedAccuracy: balanced, auroc: auroc,
            undefinedReasons: reasons)
    }

    private enum CodingKeys: String, CodingKey {
        case sampleCount, threshold, support, confusion, accuracy, sensitivity, specificity, precision
        case negativePredictiveValue, f1, balancedAccuracy, auroc, undefinedReasons
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
        try container.encode(undefinedReasons, forKey: .undefinedReasons)
    }
}
