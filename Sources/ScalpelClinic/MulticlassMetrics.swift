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
        /// Why each `nil` metric is undefined, keyed by the property name.
        public let undefinedReasons: [String: String]

        private enum CodingKeys: String, CodingKey {
            case classIndex, support, predictedCount, recall, precision, f1, auroc, undefinedReasons
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
    /// `confusionMatrix[true class][predicted class]` counts rows.
    public let confusionMatrix: [[Int]]
    /// Why each `nil` macro metric is undefined, keyed by the property name.
    public let undefinedReasons: [String: String]

    /// Scores `probabilities` (row-major, `labels.count × classCount`: each row's probability of
    /// each class) against `labels`. Each row is predicted as its most probable class; on a tie,
    /// the lowest class index.
    /// - Throws: `ClinicDataError.invalidInput` when there are no rows, fewer than two classes,
    ///   the counts do not match, a label is out of range, or a probability is not finite.
    public static func compute(labels: [Int32], probabilities: [Float], classCount: Int) throws(ClinicDataError)
        -> MulticlassMetrics
    {
        guard classCount >= 2 else {
            throw .invalidInput(reason: "MulticlassMetrics: classCount must be at least 2, not \(classCount)")
        }
        try MetricSupport.check(
            labels: labels, scores: probabilities, scoresPerRow: classCount, classCount: classCount,
            caller: "MulticlassMetrics")

        var confusion = [[Int]](repeating: [Int](repeating: 0, count: classCount), count: classCount)
        for (row, label) in labels.enumerated() {
            let scores = probabilities[row * classCount..<(row + 1) * classCount]
            // The first maximum, so that ties go to the lowest class index (as numpy.argmax).
            var predicted = 0
            for (offset, score) in scores.enumerated() where score > scores[scores.startIndex + predicted] {
                predicted = offset
            }
            confusion[Int(label)][predicted] += 1
        }

        let perClass = (0..<classCount).map { classIndex in
            perClassMetrics(classIndex, confusion: confusion, labels: labels, probabilities: probabilities)
        }
        var reasons: [String: String] = [:]
        let (macroRecall, recallSkipped) = macroAverage(perClass.map(\.recall), "macroRecall", &reasons)
        let (macroF1, f1Skipped) = macroAverage(perClass.map(\.f1), "macroF1", &reasons)
        let (macroAUROC, aurocSkipped) = macroAverage(perClass.map(\.auroc), "macroAUROC", &reasons)
        let correct = (0..<classCount).reduce(0) { $0 + confusion[$1][$1] }

        return MulticlassMetrics(
            sampleCount: labels.count, classCount: classCount, accuracy: Double(correct) / Double(labels.count),
            perClass: perClass, macroRecall: macroRecall, macroRecallSkippedClasses: recallSkipped,
            macroF1: macroF1, macroF1SkippedClasses: f1Skipped, macroAUROC: macroAUROC,
            macroAUROCSkippedClasses: aurocSkipped, confusionMatrix: confusion, undefinedReasons: reasons)
    }

    private static func perClassMetrics(
        _ classIndex: Int, confusion: [[Int]], labels: [Int32], probabilities: [Float]
    ) -> PerClass {
        let classCount = confusion.count
        let truePositives = confusion[classIndex][classIndex]
        let support = confusion[classIndex].reduce(0, +)
        let predicted = confusion.reduce(0) { $0 + $1[classIndex] }
        let column = stride(from: classIndex, to: probabilities.count, by: classCount).map { probabilities[$0] }

        var reasons: [String: String] = [:]
        let recall = MetricSupport.ratio(truePositives, support)
        if recall == nil { reasons["recall"] = "class \(classIndex) has no rows" }
        let precision = MetricSupport.ratio(truePositives, predicted)
        if precision == nil { reasons["precision"] = "class \(classIndex) was never predicted" }
        let f1 = MetricSupport.f1(
            truePositives: truePositives, falsePositives: predicted - truePositives,
            falseNegatives: support - truePositives)
        if f1 == nil { reasons["f1"] = "class \(classIndex) has no rows and was never predicted" }
        let auroc = MetricSupport.auroc(scores: column, isPositive: labels.map { Int($0) == classIndex })
        if auroc == nil {
            reasons["auroc"] = support == 0
                ? "class \(classIndex) has no rows" : "every row is class \(classIndex); there is no rest to rank against"
        }
        return PerClass(
            classIndex: classIndex, support: support, predictedCount: predicted, recall: recall,
            precision: precision, f1: f1, auroc: auroc, undefinedReasons: reasons)
    }

    /// The mean of the defined values and the classes whose value was nil; nil (with a reason
    /// recorded under `name`) when no class has a value.
    private static func macroAverage(
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
        case macroF1SkippedClasses, macroAUROC, macroAUROCSkippedClasses, confusionMatrix, undefinedReasons
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
        try container.encode(confusionMatrix, forKey: .confusionMatrix)
        try container.encode(undefinedReasons, forKey: .undefinedReasons)
    }
}
