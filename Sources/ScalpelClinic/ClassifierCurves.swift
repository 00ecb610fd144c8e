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

    /// A ROC chart of one or more curves (as `roc` gives them), on 0…1 axes labelled
    /// "1 − specificity (false-positive rate)" and "sensitivity (true-positive rate)", with the
    /// dashed diagonal labelled "chance" and the legend in the bottom-right corner.
    ///
    /// Curve `i` takes `PlotColor.palette[i % 10]`, as in `precisionRecallChart`, so one class
    /// has one colour in both. The names are drawn as given: put the area in them, e.g.
    /// "class 1 (AUROC 0.912)". A curve whose arrays differ in length is drawn up to the
    /// shorter one.
    public static func rocChart(
        _ curves: [(name: String, falsePositiveRate: [Double], truePositiveRate: [Double])],
        title: String = "ROC curve"
    ) -> LineChart {
        let series = curves.enumerated().map { index, curve in
            lineSeries(
                name: curve.name, x: curve.falsePositiveRate, y: curve.truePositiveRate,
                color: PlotColor.palette[index % PlotColor.palette.count])
        }
        return LineChart(
            title: title, xLabel: "1 − specificity (false-positive rate)", yLabel: "sensitivity (true-positive rate)",
            series: series, showDiagonal: true, diagonalLabel: "chance", xRange: 0...1, yRange: 0...1,
            legend: .bottomRight, width: 560, height: 480)
    }

    /// A precision–recall chart of one or more curves (as `precisionRecall` gives them), on 0…1
    /// axes labelled "recall (sensitivity)" and "precision (positive predictive value)", with
    /// the legend in the bottom-left corner.
    ///
    /// Each curve is drawn as steps: walking from the highest recall down, each point's
    /// precision is held level until the next point's recall, then the line rises or falls to
    /// that point's precision (matplotlib's `steps-post` on scikit-learn's order). The area
    /// under these steps is the average precision. A curve listed the other way round
    /// (increasing recall) is reversed first, so it is drawn the same; one whose arrays differ
    /// in length is drawn up to the shorter one.
    ///
    /// - Parameters:
    ///   - curves: named curves; curve `i` takes `PlotColor.palette[i % 10]`. The names are drawn
    ///     as given, e.g. "class 1 (AP 0.87)".
    ///   - prevalence: the share of positive cases; when it is in [0, 1], the precision of a
    ///     classifier that guesses is drawn as a dashed grey level line labelled
    ///     "chance (prevalence p)". `nil` (or a value outside [0, 1]) draws none.
    ///   - title: the title above the plot.
    public static func precisionRecallChart(
        _ curves: [(name: String, recall: [Double], precision: [Double])], prevalence: Double? = nil,
        title: String = "Precision–recall curve"
    ) -> LineChart {
        var series = curves.enumerated().map { index, curve in
            let steps = stepPoints(recall: curve.recall, precision: curve.precision)
            return lineSeries(
                name: curve.name, x: steps.x, y: steps.y, color: PlotColor.palette[index % PlotColor.palette.count])
        }
        if let prevalence, prevalence >= 0, prevalence <= 1 {
            series.append(
                lineSeries(
                    name: "chance (prevalence \(SVGPlot.format(prevalence, decimals: 3)))", x: [0, 1],
                    y: [prevalence, prevalence], color: PlotColor(hex: 0x808080), dashed: true))
        }
        return LineChart(
            title: title, xLabel: "recall (sensitivity)", yLabel: "precision (positive predictive value)",
            series: series, xRange: 0...1, yRange: 0...1, legend: .bottomLeft, width: 560, height: 480)
    }

    // MARK: Helpers

    /// A series of the first `min(x.count, y.count)` points, which cannot fail.
    private static func lineSeries(
        name: String, x: [Double], y: [Double], color: PlotColor, dashed: Bool = false
    ) -> LineSeries {
        let count = min(x.count, y.count)
        var series = LineSeries(name: name, y: Array(y.prefix(count)), color: color, dashed: dashed)
        series.x = Array(x.prefix(count))
        return series
    }

    /// The corners of the post-style step curve through the points, walked from the highest
    /// recall down: from (rᵢ, pᵢ) level to (rᵢ₊₁, pᵢ), then to (rᵢ₊₁, pᵢ₊₁).
    static func stepPoints(recall: [Double], precision: [Double]) -> (x: [Double], y: [Double]) {
        let count = min(recall.count, precision.count)
        var r = Array(recall.prefix(count))
        var p = Array(precision.prefix(count))
        if let first = r.first, let last = r.last, first < last {
            r.reverse()
            p.reverse()
        }
        guard count >= 2 else { return (r, p) }
        var x = [r[0]]
        var y = [p[0]]
        for index in 1..<count {
            if r[index] != r[index - 1] {
                x.append(r[index])
                y.append(p[index - 1])
            }
            // After the level step the last corner is (rᵢ, pᵢ₋₁); an unchanged precision adds none.
            if p[index] != y[y.count - 1] {
                x.append(r[index])
                y.append(p[index])
            }
        }
        return (x, y)
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
