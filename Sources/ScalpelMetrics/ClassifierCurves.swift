import ScalpelData

// The threshold curves of a binary classifier (ROC and precision–recall), their trapezoidal
// area, and the charts that draw them. The curves walk the distinct scores from the highest
// down, as scikit-learn's `roc_curve` and `precision_recall_curve` do, so a figure drawn here
// agrees with one drawn from the same scores in Python.

/// ROC and precision–recall curves of scores against binary labels, and charts of them.
///
/// A row is predicted positive when its score is at least the threshold (as in
/// `BinaryMetrics`); every distinct score is a threshold, so rows with tied scores change
/// class together and form one step of the curve.
public enum ClassifierCurves {
    /// The ROC curve: for each distinct score `t`, from the highest down, the false-positive
    /// rate (1 − specificity) and the true-positive rate (sensitivity) of "score ≥ t ⇒ positive",
    /// with (0, 0) in front; the last point is (1, 1).
    ///
    /// Tied scores of both classes make one diagonal step, so the trapezoidal `area` of the
    /// curve is the AUROC with a tie counting one half (`BinaryMetrics.auroc`). The points are
    /// scikit-learn's `roc_curve(labels, scores, drop_intermediate=False)` with (0, 0) prepended.
    ///
    /// - Parameters:
    ///   - labels: the class of each row; `positive` is the condition, every other value a
    ///     negative.
    ///   - scores: one per row, higher meaning `positive` is more likely (a probability or a logit).
    ///   - positive: the label of the condition (default 1).
    /// - Throws: `ClinicDataError.invalidInput` when the arrays differ in length or are empty, a
    ///   score is not finite, or the rows hold no positive or no negative cases (one of the
    ///   rates is then undefined, and no curve can be drawn).
    public static func roc(
        labels: [Int32], scores: [Float], positive: Int32 = 1
    ) throws(ClinicDataError) -> (falsePositiveRate: [Double], truePositiveRate: [Double]) {
        let counts = try cumulativeCounts(labels: labels, scores: scores, positive: positive, caller: "ROC curve")
        guard counts.positives > 0 else {
            throw .invalidInput(
                reason: "ROC curve: no positive cases (label \(positive)); the true-positive rate is undefined, "
                    + "so a curve cannot be drawn")
        }
        guard counts.negatives > 0 else {
            throw .invalidInput(
                reason: "ROC curve: no negative cases (every label is \(positive)); the false-positive rate is "
                    + "undefined, so a curve cannot be drawn")
        }
        let falsePositiveRate = [0] + counts.falsePositives.map { Double($0) / Double(counts.negatives) }
        let truePositiveRate = [0] + counts.truePositives.map { Double($0) / Double(counts.positives) }
        return (falsePositiveRate, truePositiveRate)
    }

    /// The precision–recall curve, ordered by increasing threshold (so by non-increasing
    /// recall), as scikit-learn's `precision_recall_curve`: one point per distinct score `t`,
    /// from the lowest up, with the recall and precision of "score ≥ t ⇒ positive", then a last
    /// point of recall 0 and precision 1 that belongs to no threshold.
    ///
    /// The first point predicts every row positive: recall 1 and precision the prevalence. In
    /// this order, holding each point's precision until the next point's recall
    /// (`Σ (rᵢ − rᵢ₊₁) pᵢ`) gives the average precision (`BinaryMetrics.auprc`), the area of
    /// the step curve `precisionRecallChart` draws.
    ///
    /// - Parameters:
    ///   - labels: the class of each row; `positive` is the condition, every other value a
    ///     negative.
    ///   - scores: one per row, higher meaning `positive` is more likely.
    ///   - positive: the label of the condition (default 1).
    /// - Throws: `ClinicDataError.invalidInput` when the arrays differ in length or are empty, a
    ///   score is not finite, or no row is positive (recall is then undefined). Rows without a
    ///   negative are allowed: precision is then 1 throughout.
    public static func precisionRecall(
        labels: [Int32], scores: [Float], positive: Int32 = 1
    ) throws(ClinicDataError) -> (recall: [Double], precision: [Double]) {
        let counts = try cumulativeCounts(
            labels: labels, scores: scores, positive: positive, caller: "precision–recall curve")
        guard counts.positives > 0 else {
            throw .invalidInput(
                reason: "precision–recall curve: no positive cases (label \(positive)); recall is undefined, so "
                    + "a curve cannot be drawn")
        }
        var recall: [Double] = []
        var precision: [Double] = []
        recall.reserveCapacity(counts.truePositives.count + 1)
        precision.reserveCapacity(counts.truePositives.count + 1)
        for index in counts.truePositives.indices.reversed() {
            let truePositives = counts.truePositives[index]
            let predicted = truePositives + counts.falsePositives[index]
            recall.append(Double(truePositives) / Double(counts.positives))
            // Every threshold is some row's score, so at least that row is predicted positive.
            precision.append(Double(truePositives) / Double(predicted))
        }
        recall.append(0)
        precision.append(1)
        return (recall, precision)
    }

    /// The trapezoidal area under the points (x[i], y[i]) joined in order,
    /// `Σ (xᵢ₊₁ − xᵢ)(yᵢ + yᵢ₊₁) / 2`, like scikit-learn's `auc`: when `x` never increases (a
    /// curve listed from right to left, as `precisionRecall` lists recall) the sign is turned,
    /// so the area comes out positive either way.
    ///
    /// Only the first `min(x.count, y.count)` points are used; fewer than two give 0. A
    /// non-finite coordinate makes the result non-finite.
    public static func area(x: [Double], y: [Double]) -> Double {
        let count = min(x.count, y.count)
        guard count >= 2 else { return 0 }
        var sum = 0.0
        var increases = false
        for index in 1..<count {
            sum += (x[index] - x[index - 1]) * (y[index] + y[index - 1]) / 2
            if x[index] > x[index - 1] { increases = true }
        }
        return increases ? sum : -sum
    }

    /// The rows counted at each distinct score from the highest down: the positive and the
    /// negative rows scoring at least that score, and the totals of each class.
    private static func cumulativeCounts(
        labels: [Int32], scores: [Float], positive: Int32, caller: String
    ) throws(ClinicDataError) -> (truePositives: [Int], falsePositives: [Int], positives: Int, negatives: Int) {
        guard labels.count == scores.count else {
            throw .invalidInput(reason: "\(caller): \(labels.count) labels but \(scores.count) scores")
        }
        guard !labels.isEmpty else {
            throw .invalidInput(reason: "\(caller): there are no rows to score")
        }
        if let row = scores.firstIndex(where: { !$0.isFinite }) {
            throw .invalidInput(reason: "\(caller): score \(scores[row]) of row \(row) is not finite")
        }
        let order = scores.indices.sorted { scores[$0] > scores[$1] }
        var truePositives: [Int] = []
        var falsePositives: [Int] = []
        var (tp, fp) = (0, 0)
        for (position, row) in order.enumerated() {
            if labels[row] == positive { tp += 1 } else { fp += 1 }
            // A threshold closes after the last row of its score.
            let next = position + 1
            if next == order.count || scores[order[next]] != scores[row] {
                truePositives.append(tp)
                falsePositives.append(fp)
            }
        }
        return (truePositives, falsePositives, tp, fp)
    }
}
