import ScalpelData

// Pieces shared by the binary and multiclass metrics: safe ratios, the ranking behind AUROC and
// AUPRC, the calibration tallies and the input checks. A ratio with a zero denominator is nil
// here, never 0 or NaN: a metric that a test set cannot measure must not look like a measured
// one in a report.
//
// Every metric is computed from rows that carry an integer weight (how many times the row is
// counted). The point estimate weighs each row once; a bootstrap resample weighs each row by
// how often it was drawn. So the scores are sorted once, and a resample needs no sorting and
// no copy of the data, and it is scored by the very code that scores the full test set.

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

    /// The number of equal-width bins of the predicted probability behind the expected
    /// calibration error: bin `b` holds the probabilities in `[b/15, (b+1)/15)`, and the last
    /// bin also holds 1.
    static let calibrationBinCount = 15

    /// The calibration bin of probability `p` (in `[0, 1]`). `Double(p) * 15` is exact for a
    /// float32 `p`, so the bin edges fall where numpy's `floor(p * 15)` puts them.
    static func calibrationBin(_ p: Float) -> Int {
        min(Int((Double(p) * Double(calibrationBinCount)).rounded(.down)), calibrationBinCount - 1)
    }

    /// The area under the ROC curve and the average precision of a ranking, from the weight of
    /// the positive and of the negative rows at each distinct score (`positives[g]` and
    /// `negatives[g]`, groups in ascending order of score).
    ///
    /// AUROC is the Mann–Whitney statistic: the probability that a random positive scores above
    /// a random negative, a tie counting one half; it is summed in integers, so it is exact up
    /// to the final division. Nil when either class is absent.
    ///
    /// The average precision is scikit-learn's `average_precision_score`: walking the distinct
    /// scores from the highest down, each threshold's gain in recall times its precision,
    /// `Σ (Rₙ − Rₙ₋₁) Pₙ`, with no interpolation. Nil when there are no positives (recall is
    /// undefined); 1 when every row is positive.
    static func rankingAreas(positives: [Int], negatives: [Int]) -> (auroc: Double?, averagePrecision: Double?) {
        let positiveTotal = positives.reduce(0, +)
        let negativeTotal = negatives.reduce(0, +)
        var auroc: Double?
        if positiveTotal > 0, negativeTotal > 0 {
            // Twice the U statistic: each positive beats the negatives below it (2 each) and ties
            // with those in its own group (1 each).
            var twiceU = 0
            var negativesBelow = 0
            for group in positives.indices {
                twiceU += positives[group] * (2 * negativesBelow + negatives[group])
                negativesBelow += negatives[group]
            }
            auroc = Double(twiceU) / (2 * Double(positiveTotal) * Double(negativeTotal))
        }
        var averagePrecision: Double?
        if positiveTotal > 0 {
            var (truePositives, falsePositives, previousTruePositives) = (0, 0, 0)
            var sum = 0.0
            for group in positives.indices.reversed() {
                truePositives += positives[group]
                falsePositives += negatives[group]
                if positives[group] > 0 {
                    let recallGain = Double(truePositives - previousTruePositives) / Double(positiveTotal)
                    sum += recallGain * (Double(truePositives) / Double(truePositives + falsePositives))
                    previousTruePositives = truePositives
                }
            }
            averagePrecision = sum
        }
        return (auroc, averagePrecision)
    }

    /// Checks that `labels` is non-empty, matches `expectedCount` scores, holds only class
    /// indices below `classCount`, and that every score is finite.
    static func check(
        labels: [Int32], scores: [Float], scoresPerRow: Int, classCount: Int, caller: String
    ) throws(ClinicDataError) {
        if labels.isEmpty { throw .invalidInput(reason: "\(caller): there are no rows to score") }
        try checkCount(scores, rows: labels.count, perRow: scoresPerRow, what: "scores", caller: caller)
        if let row = labels.firstIndex(where: { $0 < 0 || Int($0) >= classCount }) {
            throw .invalidInput(
                reason: "\(caller): label \(labels[row]) of row \(row) is not a class index below \(classCount)")
        }
        try checkFinite(scores, perRow: scoresPerRow, what: "score", caller: caller)
    }

    /// Checks that `values` holds `perRow` values for each of `rows` rows.
    static func checkCount(
        _ values: [Float], rows: Int, perRow: Int, what: String, caller: String
    ) throws(ClinicDataError) {
        if values.count != rows * perRow {
            throw .invalidInput(reason: "\(caller): \(rows) labels need \(rows * perRow) \(what), got \(values.count)")
        }
    }

    /// Checks that every value is finite.
    static func checkFinite(_ values: [Float], perRow: Int, what: String, caller: String) throws(ClinicDataError) {
        if let index = values.firstIndex(where: { !$0.isFinite }) {
            throw .invalidInput(reason: "\(caller): \(what) \(values[index]) of row \(index / perRow) is not finite")
        }
    }

    /// How far a row of probabilities may sum from 1 and still count as a distribution: loose
    /// enough for a float32 softmax, far too tight for log-probabilities or logits.
    static let distributionTolerance = 1e-3

    /// Why `values` (`perRow` to a row) are not probabilities, or nil when they are: each value
    /// in `[0, 1]` and, with more than one to a row, each row summing to 1 within
    /// `distributionTolerance`.
    static func notProbabilities(_ values: [Float], perRow: Int) -> String? {
        if let index = values.firstIndex(where: { !($0 >= 0 && $0 <= 1) }) {
            return "value \(values[index]) of row \(index / perRow) is not in [0, 1]"
        }
        guard perRow > 1 else { return nil }
        for row in 0..<values.count / perRow {
            let sum = values[row * perRow..<(row + 1) * perRow].reduce(0.0) { $0 + Double($1) }
            if abs(sum - 1) > distributionTolerance { return "row \(row) sums to \(sum), not 1" }
        }
        return nil
    }
}

/// Scores sorted once: each row's rank among the distinct score values, so that a ranking
/// metric over any weighting of the rows is a pass over the rows and one over the groups.
struct ScoreRanking: Sendable {
    /// The rank of each row's score among the distinct scores, 0 for the lowest.
    let groupOfRow: [Int]
    /// The distinct scores, ascending.
    let distinctScores: [Float]

    init(_ scores: [Float]) {
        let order = scores.indices.sorted { scores[$0] < scores[$1] }
        var groupOfRow = [Int](repeating: 0, count: scores.count)
        var distinct: [Float] = []
        for row in order {
            if distinct.last != scores[row] { distinct.append(scores[row]) }
            groupOfRow[row] = distinct.count - 1
        }
        self.groupOfRow = groupOfRow
        self.distinctScores = distinct
    }

    /// The weight of the positive and of the negative rows in each group.
    func tally(weights: [Int], isPositive: (Int) -> Bool) -> (positives: [Int], negatives: [Int]) {
        var positives = [Int](repeating: 0, count: distinctScores.count)
        var negatives = positives
        for row in groupOfRow.indices where weights[row] != 0 {
            if isPositive(row) {
                positives[groupOfRow[row]] += weights[row]
            } else {
                negatives[groupOfRow[row]] += weights[row]
            }
        }
        return (positives, negatives)
    }
}

/// What the Brier score and the expected calibration error need of each row: its Brier term,
/// the probability it was given (its confidence), whether that came true, and its bin.
struct CalibrationRows: Sendable {
    /// The row's squared error: `(p − y)²` for a binary probability, `Σₖ (pₖ − yₖ)²` over the
    /// classes for a multiclass one.
    let brierTerm: [Double]
    /// The probability compared with the outcome in the calibration error.
    let confidence: [Double]
    /// 1 where the event that `confidence` is the probability of happened, else 0.
    let outcome: [Double]
    /// `MetricSupport.calibrationBin` of the confidence.
    let bin: [Int]

    /// The weighted Brier score and expected calibration error,
    /// `ECE = Σ_b (n_b / N) |mean outcome_b − mean confidence_b| = Σ_b |Σ outcome − Σ confidence| / N`
    /// over the bins, N being the total weight.
    func scores(weights: [Int]) -> (brier: Double, ece: Double) {
        var brier = 0.0
        var total = 0
        var outcomeSum = [Double](repeating: 0, count: MetricSupport.calibrationBinCount)
        var confidenceSum = outcomeSum
        for row in brierTerm.indices where weights[row] != 0 {
            let weight = Double(weights[row])
            total += weights[row]
            brier += weight * brierTerm[row]
            outcomeSum[bin[row]] += weight * outcome[row]
            confidenceSum[bin[row]] += weight * confidence[row]
        }
        var gap = 0.0
        for b in outcomeSum.indices { gap += abs(outcomeSum[b] - confidenceSum[b]) }
        return (brier / Double(total), gap / Double(total))
    }
}
