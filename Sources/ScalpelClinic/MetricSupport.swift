// Pieces shared by the binary and multiclass metrics: safe ratios, the rank-based AUROC and
// the input checks. A ratio with a zero denominator is nil here, never 0 or NaN: a metric
// that a test set cannot measure must not look like a measured one in a report.

enum MetricSupport {
    /// `numerator / denominator`, or nil when the denominator is 0.
    static func ratio(_ numerator: Int, _ denominator: Int) -> Double? {
        denominator == 0 ? nil : Double(numerator) / Double(denominator)
    }

    /// F1 as `2TP / (2TP + FP + FN)`: equal to the harmonic mean of precision and recall
    /// wherever both exist, and still defined (as 0) when there are positives but none was
    /// predicted. Nil only when there are neither positives nor positive predictions.
    static func f1(truePositives: Int, falsePositives: Int, falseNegatives: Int) -> Double? {
        ratio(2 * truePositives, 2 * truePositives + falsePositives + falseNegatives)
    }

    /// The area under the ROC curve by the Mann–Whitney U statistic: the probability that a
    /// random positive scores above a random negative, counting ties as one half. Tied scores
    /// share the average of their ranks. Nil when either class is absent.
    static func auroc(scores: [Float], isPositive: [Bool]) -> Double? {
        let positives = isPositive.lazy.filter { $0 }.count
        let negatives = isPositive.count - positives
        guard positives > 0, negatives > 0 else { return nil }

        let order = scores.indices.sorted { scores[$0] < scores[$1] }
        var positiveRankSum = 0.0
        var start = 0
        while start < order.count {
            var end = start
            while end + 1 < order.count, scores[order[end + 1]] == scores[order[start]] { end += 1 }
            // Ranks are 1-based: the tie group start...end shares the mean of ranks start+1...end+1.
            let averageRank = Double(start + end + 2) / 2
            for position in start...end where isPositive[order[position]] { positiveRankSum += averageRank }
            start = end + 1
        }
        let (p, n) = (Double(positives), Double(negatives))
        return (positiveRankSum - p * (p + 1) / 2) / (p * n)
    }

    /// Checks that `labels` is non-empty, matches `expectedCount` scores, holds only class
    /// indices below `classCount`, and that every score is finite.
    static func check(
        labels: [Int32], scores: [Float], scoresPerRow: Int, classCount: Int, caller: String
    ) throws(ClinicDataError) {
        if labels.isEmpty { throw .invalidInput(reason: "\(caller): there are no rows to score") }
        if scores.count != labels.count * scoresPerRow {
            throw .invalidInput(
                reason: "\(caller): \(labels.count) labels need \(labels.count * scoresPerRow) scores, got \(scores.count)")
        }
        if let row = labels.firstIndex(where: { $0 < 0 || Int($0) >= classCount }) {
            throw .invalidInput(
                reason: "\(caller): label \(labels[row]) of row \(row) is not a class index below \(classCount)")
        }
        if let index = scores.firstIndex(where: { !$0.isFinite }) {
            throw .invalidInput(
                reason: "\(caller): score \(scores[index]) of row \(index / scoresPerRow) is not finite")
        }
    }
}
