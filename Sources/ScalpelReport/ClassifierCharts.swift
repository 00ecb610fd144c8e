import ScalpelData

import ScalpelMetrics

// The charts of a binary classifier's threshold curves (ROC, precision–recall), drawn from what
// `ClassifierCurves` computes.
extension ClassifierCurves {
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
    public static func stepPoints(recall: [Double], precision: [Double]) -> (x: [Double], y: [Double]) {
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
}
