import ScalpelData

/// A decision threshold chosen on validation scores, to be used unchanged on the test split
/// (`BinaryMetrics.compute(labels:scores:threshold:)`): a threshold tuned on the test rows would
/// flatter the test metrics.
///
/// The candidates are the distinct validation scores; a row is predicted positive when its score
/// is at least the threshold (as in `BinaryMetrics`).
public struct DecisionThreshold: Codable, Equatable, Sendable {
    /// How the threshold is chosen.
    public enum Rule: Equatable, Sendable {
        /// The maximum of Youden's J = sensitivity + specificity − 1. Of thresholds with equal J
        /// (compared exactly, in integers), the highest: the first maximum met walking the
        /// scores down, as `thresholds[argmax(tpr − fpr)]` on scikit-learn's `roc_curve`.
        case youden
        /// The highest threshold whose sensitivity is at least the target (in (0, 1]): lowering
        /// the threshold from the top score, the first that reaches it, so specificity is the
        /// most that the target allows.
        case targetSensitivity(Double)
    }

    /// The rule the threshold was chosen by.
    public let rule: Rule
    /// Predict class 1 where the score is at least this.
    public let threshold: Float
    /// The validation sensitivity at `threshold`.
    public let sensitivity: Double
    /// The validation specificity at `threshold`.
    public let specificity: Double
    /// Youden's J at `threshold` on the validation rows: sensitivity + specificity − 1.
    public let youdenJ: Double
    /// The validation rows of class 1 and of class 0.
    public let support: [Int]

    /// Chooses a threshold on validation `scores` (higher meaning class 1) against `labels`
    /// (0 or 1) by `rule`.
    /// - Throws: `ClinicDataError.invalidInput` when there are no rows, the counts differ, a
    ///   label is not 0 or 1, a score is not finite, the validation rows lack one of the
    ///   classes (then neither sensitivity nor specificity can be traded), or the target
    ///   sensitivity is not in (0, 1].
    public static func choose(labels: [Int32], scores: [Float], rule: Rule) throws(ClinicDataError) -> DecisionThreshold {
        let caller = "DecisionThreshold"
        try MetricSupport.check(labels: labels, scores: scores, scoresPerRow: 1, classCount: 2, caller: caller)
        if case .targetSensitivity(let target) = rule, !(target > 0 && target <= 1) {
            throw .invalidInput(reason: "\(caller): the target sensitivity \(target) is not in (0, 1]")
        }
        let ranking = ScoreRanking(scores)
        let (positives, negatives) = ranking.tally(weights: [Int](repeating: 1, count: labels.count)) { labels[$0] == 1 }
        let positiveTotal = positives.reduce(0, +)
        let negativeTotal = negatives.reduce(0, +)
        guard positiveTotal > 0, negativeTotal > 0 else {
            throw .invalidInput(
                reason: "\(caller): the validation rows are all class \(positiveTotal > 0 ? 1 : 0); "
                    + "choosing a threshold needs rows of both classes")
        }

        // Walk the distinct scores from the highest down: at group g, the rows predicted positive
        // are those scoring at least distinctScores[g].
        var (truePositives, falsePositives) = (0, 0)
        var chosen: (group: Int, truePositives: Int, falsePositives: Int)?
        var bestJ = Int.min
        for group in ranking.distinctScores.indices.reversed() {
            truePositives += positives[group]
            falsePositives += negatives[group]
            switch rule {
            case .youden:
                // J · P · N, exact in integers.
                let j = truePositives * negativeTotal - falsePositives * positiveTotal
                if j > bestJ { (bestJ, chosen) = (j, (group, truePositives, falsePositives)) }
            case .targetSensitivity(let target):
                if Double(truePositives) / Double(positiveTotal) >= target {
                    chosen = (group, truePositives, falsePositives)
                }
            }
            if case .targetSensitivity = rule, chosen != nil { break }
        }
        // The lowest score predicts every row positive, with sensitivity 1: some threshold is chosen.
        let choice = chosen!
        let sensitivity = Double(choice.truePositives) / Double(positiveTotal)
        let specificity = Double(negativeTotal - choice.falsePositives) / Double(negativeTotal)
        return DecisionThreshold(
            rule: rule, threshold: ranking.distinctScores[choice.group], sensitivity: sensitivity,
            specificity: specificity, youdenJ: sensitivity + specificity - 1, support: [negativeTotal, positiveTotal])
    }

    private enum CodingKeys: String, CodingKey {
        case rule, targetSensitivity, threshold, sensitivity, specificity, youdenJ, support
    }

    /// Reads the fields `encode(to:)` writes.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        switch try container.decode(String.self, forKey: .rule) {
        case "youden": rule = .youden
        case "targetSensitivity": rule = .targetSensitivity(try container.decode(Double.self, forKey: .targetSensitivity))
        case let other:
            throw DecodingError.dataCorruptedError(
                forKey: .rule, in: container, debugDescription: "unknown threshold rule \(other)")
        }
        threshold = try container.decode(Float.self, forKey: .threshold)
        sensitivity = try container.decode(Double.self, forKey: .sensitivity)
        specificity = try container.decode(Double.self, forKey: .specificity)
        youdenJ = try container.decode(Double.self, forKey: .youdenJ)
        support = try container.decode([Int].self, forKey: .support)
    }

    /// Writes the rule as `"youden"` or `"targetSensitivity"` (with `targetSensitivity`, null for
    /// Youden) and the threshold with its validation sensitivity, specificity and J.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch rule {
        case .youden:
            try container.encode("youden", forKey: .rule)
            try container.encodeNil(forKey: .targetSensitivity)
        case .targetSensitivity(let target):
            try container.encode("targetSensitivity", forKey: .rule)
            try container.encode(target, forKey: .targetSensitivity)
        }
        try container.encode(threshold, forKey: .threshold)
        try container.encode(sensitivity, forKey: .sensitivity)
        try container.encode(specificity, forKey: .specificity)
        try container.encode(youdenJ, forKey: .youdenJ)
        try container.encode(support, forKey: .support)
    }

    private init(
        rule: Rule, threshold: Float, sensitivity: Double, specificity: Double, youdenJ: Double, support: [Int]
    ) {
        self.rule = rule
        self.threshold = threshold
        self.sensitivity = sensitivity
        self.specificity = specificity
        self.youdenJ = youdenJ
        self.support = support
    }
}
