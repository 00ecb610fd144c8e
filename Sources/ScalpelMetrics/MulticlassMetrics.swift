import ScalpelData

/// Performance of a classifier over `classCount` classes, predicting the most probable class.
///
/// Per-class metrics that the data cannot support are `nil` with a reason; each macro average
/// runs over the classes where its metric is defined and lists the classes it skipped, so a
/// class missing from a small test set shows up in the report instead of silently counting as
/// 0 or 1. Codable for `metrics.json`; undefined metrics are written as `null`.
public struct MulticlassMetrics: Codable, Equatable, Sendable {
    /// The metrics of one class against all the others.
    public struct PerClass: Codable, Equatable, Sendable {
        /// The class index.
        public let classIndex: Int
        /// The number of rows of this class.
        public let support: Int
        /// The number of rows predicted as this class.
        public let predictedCount: Int
        /// TP / support: the share of this class's rows predicted as it.
        public let recall: Double?
        /// TP / predictedCount: the share of rows predicted as this class that are.
        public let precision: Double?
        /// 2TP / (support + predictedCount).
        public let f1: Double?
        /// One-vs-rest AUROC of this class's probability column.
        public let auroc: Double?
        /// One-vs-rest specificity, TN / (TN + FP): the share of the other classes' rows not
        /// predicted as this class.
        public let specificity: Double?
        /// One-vs-rest negative predictive value, TN / (TN + FN): the share of the rows predicted
        /// as another class that are not this class.
        public let negativePredictiveValue: Double?
        /// One-vs-rest average precision of this class's probability column (scikit-learn's
        /// `average_precision_score` on `label == class`).
        public let auprc: Double?
        /// Why each `nil` metric is undefined, keyed by the property name.
        public let undefinedReasons: [String: String]

        private enum CodingKeys: String, CodingKey {
            case classIndex, support, predictedCount, recall, precision, f1, auroc, specificity
            case negativePredictiveValue, auprc, undefinedReasons
        }

        /// Encodes every metric, an undefined one as `null`.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(classIndex, forKey: .classIndex)
            try container.encode(support, forKey: .support)
            try container.encode(predictedCount, forKey: .predictedCount)
            try container.encode(recall, forKey: .recall)
            try container.encode(precision, forKey: .precision)
            try container.encode(f1, forKey: .f1)
            try container.encode(auroc, forKey: .auroc)
            try container.encode(specificity, forKey: .specificity)
            try container.encode(negativePredictiveValue, forKey: .negativePredictiveValue)
            try container.encode(auprc, forKey: .auprc)
            try container.encode(undefinedReasons, forKey: .undefinedReasons)
        }
    }

    /// The number of rows scored.
    public let sampleCount: Int
    /// The number of classes.
    public let classCount: Int
    /// The share of rows whose most probable class is their label.
    public let accuracy: Double
    /// The metrics of each class, indexed by class.
    public let perClass: [PerClass]
    /// The mean recall over the classes present (balanced accuracy).
    public let macroRecall: Double?
    /// The classes left out of `macroRecall` because they have no rows.
    public let macroRecallSkippedClasses: [Int]
    /// The mean F1 over the classes where F1 is defined.
    public let macroF1: Double?
    /// The classes left out of `macroF1` (no rows and never predicted).
    public let macroF1SkippedClasses: [Int]
    /// The mean one-vs-rest AUROC over the classes where it is defined.
    public let macroAUROC: Double?
    /// The classes left out of `macroAUROC` (no rows, or every row of that class).
    public let macroAUROCSkippedClasses: [Int]
    /// The mean one-vs-rest average precision over the classes where it is defined.
    public let macroAUPRC: Double?
    /// The classes left out of `macroAUPRC` (no rows).
    public let macroAUPRCSkippedClasses: [Int]
    /// Balanced accuracy: the mean recall over the classes present, the same number as
    /// `macroRecall` (and scikit-learn's `balanced_accuracy_score`), under the name a report uses.
    public let balancedAccuracy: Double?
    /// The multiclass Brier score of the calibration probabilities, `mean over rows of Σₖ (pₖ − yₖ)²`
    /// with y one-hot (in [0, 2]; scikit-learn's `brier_score_loss(..., scale_by_half=False)`,
    /// which for two classes is twice the binary Brier score).
    public let brierScore: Double?
    /// The top-label expected calibration error of the calibration probabilities: each row's
    /// confidence is its largest probability and its outcome whether that class (the first, on
    /// a tie) is its label; the rows go in 15 equal-width bins of the confidence (`[b/15, (b+1)/15)`,
    /// the last also holding 1), and `ECE = Σ_b (n_b / N) |accuracy in b − mean confidence in b|`.
    public let expectedCalibrationError: Double?
    /// `confusionMatrix[true class][predicted class]` counts rows.
    public let confusionMatrix: [[Int]]
    /// Why each `nil` overall metric (a macro average, the Brier score, the ECE) is undefined,
    /// keyed by the property name.
    public let undefinedReasons: [String: String]

    /// The number of equal-width probability bins behind `expectedCalibrationError`.
    public static let calibrationBinCount = MetricSupport.calibrationBinCount

    /// Scores `probabilities` (row-major, `labels.count × classCount`: each row's probability of
    /// each class, or any score monotonic in it, such as a log-probability) against `labels`.
    /// Each row is predicted as its highest-scoring class; on a tie, the lowest class index.
    ///
    /// The calibration metrics (Brier score, ECE) need true probabilities: `calibrationProbabilities`
    /// (the same layout) when given, else `probabilities` themselves if every row of them is a
    /// distribution (values in [0, 1] summing to 1 within 1e-3); otherwise they are nil with the
    /// reason. Pass the softmax in `calibrationProbabilities` when `probabilities` holds
    /// log-probabilities.
    /// - Throws: `ClinicDataError.invalidInput` when there are no rows, fewer than two classes,
    ///   the counts do not match, a label is out of range, a probability is not finite, or the
    ///   rows of `calibrationProbabilities` are not distributions.
    public static func compute(
        labels: [Int32], probabilities: [Float], classCount: Int, calibrationProbabilities: [Float]? = nil
    ) throws(ClinicDataError) -> MulticlassMetrics {
        let inputs = try MulticlassMetricInputs(
            labels: labels, probabilities: probabilities, classCount: classCount,
            calibrationProbabilities: calibrationProbabilities)
        return inputs.metrics(weights: [Int](repeating: 1, count: labels.count))
    }

    /// The mean of the defined values and the classes whose value was nil; nil (with a reason
    /// recorded under `name`) when no class has a value.
    static func macroAverage(
        _ values: [Double?], _ name: String, _ reasons: inout [String: String]
    ) -> (Double?, [Int]) {
        let defined = values.compactMap { $0 }
        let skipped = values.indices.filter { values[$0] == nil }
        if defined.isEmpty {
            reasons[name] = "undefined for every class"
            return (nil, skipped)
        }
        return (defined.reduce(0, +) / Double(defined.count), skipped)
    }

    private enum CodingKeys: String, CodingKey {
        case sampleCount, classCount, accuracy, perClass, macroRecall, macroRecallSkippedClasses, macroF1
        case macroF1SkippedClasses, macroAUROC, macroAUROCSkippedClasses, macroAUPRC, macroAUPRCSkippedClasses
        case balancedAccuracy, brierScore, expectedCalibrationError, confusionMatrix, undefinedReasons
    }

    /// Encodes every metric, an undefined macro average as `null`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(sampleCount, forKey: .sampleCount)
        try container.encode(classCount, forKey: .classCount)
        try container.encode(accuracy, forKey: .accuracy)
        try container.encode(perClass, forKey: .perClass)
        try container.encode(macroRecall, forKey: .macroRecall)
        try container.encode(macroRecallSkippedClasses, forKey: .macroRecallSkippedClasses)
        try container.encode(macroF1, forKey: .macroF1)
        try container.encode(macroF1SkippedClasses, forKey: .macroF1SkippedClasses)
        try container.encode(macroAUROC, forKey: .macroAUROC)
        try container.encode(macroAUROCSkippedClasses, forKey: .macroAUROCSkippedClasses)
        try container.encode(macroAUPRC, forKey: .macroAUPRC)
        try container.encode(macroAUPRCSkippedClasses, forKey: .macroAUPRCSkippedClasses)
        try container.encode(balancedAccuracy, forKey: .balancedAccuracy)
        try container.encode(brierScore, forKey: .brierScore)
        try container.encode(expectedCalibrationError, forKey: .expectedCalibrationError)
        try container.encode(confusionMatrix, forKey: .confusionMatrix)
        try container.encode(undefinedReasons, forKey: .undefinedReasons)
    }
}

/// Checked multiclass inputs, with each class's column ranked once and each row's prediction
/// and calibration terms worked out, so that any weighting of the rows (the test set itself, or
/// a bootstrap resample) is scored in one pass per class.
struct MulticlassMetricInputs: Sendable {
    let classCount: Int
    let labels: [Int]
    let predicted: [Int]
    let rankings: [ScoreRanking]
    /// Nil when there are no probabilities to calibrate, with the reason in `calibrationReason`.
    let calibration: CalibrationRows?
    let calibrationReason: String

    init(
        labels: [Int32], probabilities: [Float], classCount: Int, calibrationProbabilities: [Float]?
    ) throws(ClinicDataError) {
        let caller = "MulticlassMetrics"
        guard classCount >= 2 else {
            throw .invalidInput(reason: "\(caller): classCount must be at least 2, not \(classCount)")
        }
        try MetricSupport.check(
            labels: labels, scores: probabilities, scoresPerRow: classCount, classCount: classCount, caller: caller)
        self.classCount = classCount
        self.labels = labels.map { Int($0) }
        predicted = Self.argmax(probabilities, classCount: classCount)
        rankings = (0..<classCount).map { classIndex in
            ScoreRanking(stride(from: classIndex, to: probabilities.count, by: classCount).map { probabilities[$0] })
        }

        var source = probabilities
        if let calibrationProbabilities {
            try MetricSupport.checkCount(
                calibrationProbabilities, rows: labels.count, perRow: classCount, what: "calibration probabilities",
                caller: caller)
            try MetricSupport.checkFinite(
                calibrationProbabilities, perRow: classCount, what: "calibration probability", caller: caller)
            if let problem = MetricSupport.notProbabilities(calibrationProbabilities, perRow: classCount) {
                throw .invalidInput(reason: "\(caller): calibration probabilities: \(problem)")
            }
            source = calibrationProbabilities
        } else if let problem = MetricSupport.notProbabilities(probabilities, perRow: classCount) {
            calibration = nil
            calibrationReason = "the scores are not probabilities (\(problem)) and no calibration probabilities were given"
            return
        }
        calibrationReason = ""
        let topLabel = Self.argmax(source, classCount: classCount)
        var brierTerm = [Double](repeating: 0, count: labels.count)
        var confidence = brierTerm
        var outcome = brierTerm
        var bin = [Int](repeating: 0, count: labels.count)
        for row in labels.indices {
            let rowValues = source[row * classCount..<(row + 1) * classCount]
            for (classIndex, p) in zip(0..., rowValues) {
                let error = Double(p) - (classIndex == Int(labels[row]) ? 1 : 0)
                brierTerm[row] += error * error
            }
            let top = source[row * classCount + topLabel[row]]
            confidence[row] = Double(top)
            outcome[row] = topLabel[row] == Int(labels[row]) ? 1 : 0
            bin[row] = MetricSupport.calibrationBin(top)
        }
        calibration = CalibrationRows(brierTerm: brierTerm, confidence: confidence, outcome: outcome, bin: bin)
    }

    /// Each row's highest-scoring class, the first on a tie (as numpy.argmax).
    static func argmax(_ values: [Float], classCount: Int) -> [Int] {
        (0..<values.count / classCount).map { row in
            let base = row * classCount
            var best = 0
            for classIndex in 1..<classCount where values[base + classIndex] > values[base + best] { best = classIndex }
            return best
        }
    }

    /// The metrics of the rows counted `weights[row]` times each (the weights must not all be 0).
    func metrics(weights: [Int]) -> MulticlassMetrics {
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: classCount), count: classCount)
        var total = 0
        for row in weights.indices where weights[row] != 0 {
            confusion[labels[row]][predicted[row]] += weights[row]
            total += weights[row]
        }
        let perClass = (0..<classCount).map { perClassMetrics($0, confusion: confusion, total: total, weights: weights) }
        var reasons: [String: String] = [:]
        let macroAverage = MulticlassMetrics.macroAverage
        let (macroRecall, recallSkipped) = macroAverage(perClass.map(\.recall), "macroRecall", &reasons)
        let (balancedAccuracy, _) = macroAverage(perClass.map(\.recall), "balancedAccuracy", &reasons)
        let (macroF1, f1Skipped) = macroAverage(perClass.map(\.f1), "macroF1", &reasons)
        let (macroAUROC, aurocSkipped) = macroAverage(perClass.map(\.auroc), "macroAUROC", &reasons)
        let (macroAUPRC, auprcSkipped) = macroAverage(perClass.map(\.auprc), "macroAUPRC", &reasons)
        let correct = (0..<classCount).reduce(0) { $0 + confusion[$1][$1] }
        let calibrationScores = calibration?.scores(weights: weights)
        if calibrationScores == nil {
            reasons["brierScore"] = calibrationReason
            reasons["expectedCalibrationError"] = calibrationReason
        }

        return MulticlassMetrics(
            sampleCount: total, classCount: classCount, accuracy: Double(correct) / Double(total),
            perClass: perClass, macroRecall: macroRecall, macroRecallSkippedClasses: recallSkipped,
            macroF1: macroF1, macroF1SkippedClasses: f1Skipped, macroAUROC: macroAUROC,
            macroAUROCSkippedClasses: aurocSkipped, macroAUPRC: macroAUPRC, macroAUPRCSkippedClasses: auprcSkipped,
            balancedAccuracy: balancedAccuracy, brierScore: calibrationScores?.brier,
            expectedCalibrationError: calibrationScores?.ece, confusionMatrix: confusion, undefinedReasons: reasons)
    }

    private func perClassMetrics(
        _ classIndex: Int, confusion: [[Int]], total: Int, weights: [Int]
    ) -> MulticlassMetrics.PerClass {
        let truePositives = confusion[classIndex][classIndex]
        let support = confusion[classIndex].reduce(0, +)
        let predictedCount = confusion.reduce(0) { $0 + $1[classIndex] }
        let falsePositives = predictedCount - truePositives
        let falseNegatives = support - truePositives
        let trueNegatives = total - support - falsePositives

        var reasons: [String: String] = [:]
        let recall = MetricSupport.ratio(truePositives, support)
        if recall == nil { reasons["recall"] = "class \(classIndex) has no rows" }
        let precision = MetricSupport.ratio(truePositives, predictedCount)
        if precision == nil { reasons["precision"] = "class \(classIndex) was never predicted" }
        let f1 = MetricSupport.f1(
            truePositives: truePositives, falsePositives: falsePositives, falseNegatives: falseNegatives)
        if f1 == nil { reasons["f1"] = "class \(classIndex) has no rows and was never predicted" }
        let specificity = MetricSupport.ratio(trueNegatives, trueNegatives + falsePositives)
        if specificity == nil {
            reasons["specificity"] = "every row is class \(classIndex); there is no other class to clear"
        }
        let npv = MetricSupport.ratio(trueNegatives, trueNegatives + falseNegatives)
        if npv == nil { reasons["negativePredictiveValue"] = "every row was predicted as class \(classIndex)" }
        let (positives, negatives) = rankings[classIndex].tally(weights: weights) { labels[$0] == classIndex }
        let areas = MetricSupport.rankingAreas(positives: positives, negatives: negatives)
        if areas.auroc == nil {
            reasons["auroc"] = support == 0
                ? "class \(classIndex) has no rows" : "every row is class \(classIndex); there is no rest to rank against"
        }
        if areas.averagePrecision == nil { reasons["auprc"] = "class \(classIndex) has no rows" }
        return MulticlassMetrics.PerClass(
            classIndex: classIndex, support: support, predictedCount: predictedCount, recall: recall,
            precision: precision, f1: f1, auroc: areas.auroc, specificity: specificity,
            negativePredictiveValue: npv, auprc: areas.averagePrecision, undefinedReasons: reasons)
    }
}
