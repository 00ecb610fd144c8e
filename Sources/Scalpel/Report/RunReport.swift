import Foundation
import ScalpelData
import ScalpelMetrics
import ScalpelReport
import ScalpelCore

/// report.html: one self-contained page with what a clinician needs to judge a model — the
/// diagnosis metrics with their intervals, the curves, the confusion matrix, calibration,
/// training history and explanations.
struct RunReport {
    var title: String
    var subtitle: String
    /// Run facts: data, model, device, rows, selection.
    var summary: [(String, String)]
    var history: [EpochRecord] = []
    var selectedEpoch: Int?
    var evaluation: Evaluation
    /// The split the metrics are from ("test").
    var splitName: String
    var classNames: [String]
    var notes: [String: String]
    var explanations: Explanations?
    /// The rows of each class in each split, in the order shown ("train", "validation", "test").
    var classCounts: [(split: String, counts: [Int])] = []
    /// A training run's model card (nil for an evaluation).
    var modelCard: ModelCard? = nil
    /// Temperature scaling's summary and the test split's evaluation before it (nil: not calibrated).
    var calibration: (summary: CalibrationSummary, uncalibrated: Evaluation)? = nil
    /// Test metrics per subgroup of `--subgroup-column` (nil: none asked for).
    var subgroups: SubgroupMetrics? = nil

    static func format(_ value: Double?) -> String { value.map { String(format: "%.4f", $0) } ?? "—" }

    /// "0.912 (0.88–0.94)" or why the metric is undefined.
    static func withInterval(_ value: Double?, _ interval: MetricInterval?, undefined: String?) -> [String] {
        guard let value else { return ["not defined", undefined ?? "", ""] }
        guard let bounds = interval?.interval else { return [format(value), "—", interval?.reason ?? ""] }
        return [format(value), String(format: "%.4f – %.4f", bounds.low, bounds.high), ""]
    }

    func html() throws -> String {
        var page = HTMLReport(title: title, subtitle: subtitle)
        page.section("Summary")
        page.keyValues(summary)
        modelCard?.render(&page)
        let metrics = evaluation.metrics
        page.section("Diagnostic performance on the \(splitName) split")
        if let b = metrics.binary {
            let names: [(String, String, Double?)] = [
                ("accuracy", "Accuracy", b.accuracy), ("sensitivity", "Sensitivity (recall)", b.sensitivity),
                ("specificity", "Specificity", b.specificity), ("precision", "Precision (PPV)", b.precision),
                ("negativePredictiveValue", "NPV", b.negativePredictiveValue), ("f1", "F1", b.f1),
                ("balancedAccuracy", "Balanced accuracy", b.balancedAccuracy), ("auroc", "AUROC", b.auroc), ("auprc", "AUPRC", b.auprc),
                ("brierScore", "Brier score", b.brierScore), ("expectedCalibrationError", "ECE (15 bins)", b.expectedCalibrationError),
            ]
            let threshold = metrics.validationThreshold
            var rows: [[String]] = []
            for (key, label, value) in names {
                var row = [label] + Self.withInterval(value, metrics.intervals?.metrics[key], undefined: b.undefinedReasons[key])
                if let threshold {
                    let m = threshold.metrics
                    let other: Double?? = ["accuracy": m.accuracy, "sensitivity": m.sensitivity, "specificity": m.specificity,
                                           "precision": m.precision, "negativePredictiveValue": m.negativePredictiveValue, "f1": m.f1,
                                           "balancedAccuracy": m.balancedAccuracy][key]
                    row.append(other.map { Self.format($0) } ?? "(same)")
                }
                rows.append(row)
            }
            let hasNotes = rows.contains { !$0[3].isEmpty }
            try page.table(header: ["metric", "estimate (p ≥ 0.5)", "95% CI"] + (hasNotes ? ["note"] : [])
                               + (threshold == nil ? [] : ["at the validation threshold"]),
                           rows: hasNotes ? rows : rows.map { Array($0[0 ..< 3]) + Array($0[4...]) }, caption: "Positive class: \(classNames.last ?? "1"); \(b.sampleCount) rows. "
                               + (metrics.intervals.map { "Intervals: percentile bootstrap, \($0.resamples) resamples (seed \($0.seed))." } ?? ""))
            if let threshold {
                page.note("Validation threshold: \(threshold.rule); log-odds \(String(format: "%.4f", threshold.choice.threshold)).")
            }
            // The matrix at the threshold a clinician would use (chosen on validation) beside the one at p = 0.5.
            func matrix(_ c: BinaryMetrics.Confusion, _ title: String) throws -> String {
                try Heatmap.confusionMatrix([[c.trueNegatives, c.falsePositives], [c.falseNegatives, c.truePositives]],
                                            classNames: classNames, title: title).svg()
            }
            var figures = [(svg: try matrix(b.confusion, "At probability 0.5"), caption: "Confusion matrix at probability 0.5 (rows: truth, columns: prediction).")]
            if let threshold {
                let p = Predictions.probability(threshold.choice.threshold)
                figures.insert((svg: try matrix(threshold.metrics.confusion, String(format: "At the validation threshold (p ≥ %.3f)", p)),
                                caption: String(format: "Confusion matrix at the validation threshold, probability %.3f (rows: truth, columns: prediction).", p)),
                               at: 0)
            }
            page.figureRow(figures)
        } else if let m = metrics.multiclass {
            let names: [(String, String, Double?)] = [
                ("accuracy", "Accuracy", m.accuracy), ("balancedAccuracy", "Balanced accuracy (macro recall)", m.balancedAccuracy),
                ("macroF1", "Macro F1", m.macroF1), ("macroAUROC", "Macro AUROC (one-vs-rest)", m.macroAUROC),
                ("macroAUPRC", "Macro AUPRC", m.macroAUPRC), ("brierScore", "Brier score", m.brierScore),
                ("expectedCalibrationError", "ECE (top label, 15 bins)", m.expectedCalibrationError),
            ]
            let rows = names.map { [$0.1] + Self.withInterval($0.2, metrics.intervals?.metrics[$0.0], undefined: m.undefinedReasons[$0.0]) }
            let hasNotes = rows.contains { !$0[3].isEmpty }
            try page.table(header: ["metric", "estimate", "95% CI"] + (hasNotes ? ["note"] : []),
                           rows: hasNotes ? rows : rows.map { Array($0[0 ..< 3]) },
                           caption: "\(m.sampleCount) rows." + (metrics.intervals.map { " Intervals: percentile bootstrap, \($0.resamples) resamples." } ?? ""))
            let perClass = m.perClass.map { c -> [String] in
                let interval = metrics.intervals?.perClass.indices.contains(c.classIndex) == true ? metrics.intervals?.perClass[c.classIndex]["recall"] : nil
                let recall = c.recall.map { r in Self.format(r) + (interval?.interval.map { String(format: " (%.3f–%.3f)", $0.low, $0.high) } ?? "") } ?? "—"
                return [classNames[c.classIndex], String(c.support), recall, Self.format(c.specificity), Self.format(c.precision),
                        Self.format(c.negativePredictiveValue), Self.format(c.f1), Self.format(c.auroc), Self.format(c.auprc)]
            }
            try page.table(header: ["class", "support", "sensitivity (95% CI)", "specificity", "precision", "NPV", "F1", "AUROC", "AUPRC"],
                           rows: perClass, caption: "Per class, one against the rest.")
            let heatmap = try Heatmap.confusionMatrix(m.confusionMatrix, classNames: classNames)
            page.figure(svg: heatmap.svg(), caption: "Confusion matrix (rows: truth, columns: the most probable class).")
        }
        if !classCounts.isEmpty { try counts(&page) }
        if let subgroups { try subgroupTable(subgroups, &page) }
        try curves(&page)
        if !history.isEmpty { try training(&page) }
        if let explanations { try explain(explanations, &page) }
        page.section("Data")
        page.keyValues(notes.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
        return page.html()
    }

    /// The rows of each class in each split, with the positive class's prevalence (binary).
    func counts(_ page: inout HTMLReport) throws {
        page.subsection("Class counts per split")
        let binary = classNames.count == 2
        let rows = classCounts.map { split, counts -> [String] in
            let total = counts.reduce(0, +)
            return [split] + counts.map(String.init) + [String(total)]
                + (binary ? [total > 0 ? String(format: "%.1f%%", 100 * Double(counts[1]) / Double(total)) : "—"] : [])
        }
        try page.table(header: ["split"] + classNames + ["total"] + (binary ? ["prevalence of \(classNames[1])"] : []), rows: rows,
                       caption: binary ? "Prevalence: the share of rows of the positive class; predictive values depend on it." : nil)
    }

    /// ROC, precision-recall and calibration.
    func curves(_ page: inout HTMLReport) throws {
        let k = classNames.count
        let n = evaluation.truth.count
        var roc: [(name: String, falsePositiveRate: [Double], truePositiveRate: [Double])] = []
        var pr: [(name: String, recall: [Double], precision: [Double])] = []
        let classes: [Int] = k == 2 ? [1] : Array(0 ..< k)
        for c in classes {
            let scores = k == 2 ? evaluation.scores ?? [] : (0 ..< n).map { evaluation.logProbabilities[$0 * k + c] }
            guard let curve = try? ClassifierCurves.roc(labels: evaluation.truth, scores: scores, positive: Int32(c)),
                  let steps = try? ClassifierCurves.precisionRecall(labels: evaluation.truth, scores: scores, positive: Int32(c)) else { continue }
            let area = ClassifierCurves.area(x: curve.falsePositiveRate, y: curve.truePositiveRate)
            roc.append(("\(classNames[c]) (AUROC \(String(format: "%.3f", area)))", curve.falsePositiveRate, curve.truePositiveRate))
            pr.append((classNames[c], steps.recall, steps.precision))
        }
        var figures: [(svg: String, caption: String)] = []
        if !roc.isEmpty {
            figures.append((ClassifierCurves.rocChart(roc).svg(), k == 2 ? "ROC curve." : "ROC curves, each class against the rest."))
            let prevalence = k == 2 ? Double(evaluation.truth.filter { $0 == 1 }.count) / Double(max(n, 1)) : nil
            figures.append((ClassifierCurves.precisionRecallChart(pr, prevalence: prevalence).svg(),
                            k == 2 ? "Precision-recall curve." : "Precision-recall curves, each class against the rest."))
        } else {
            page.note("ROC and precision-recall curves need both positive and negative cases; this split lacks one.")
        }
        if n > 0 {
            let what = k == 2 ? "Reliability diagram: predicted probability of \(classNames[1]) against the observed frequency"
                : "Reliability diagram: the top class's probability against how often it was right"
            if let calibration {
                figures.append((try reliability(calibration.uncalibrated, title: "Before temperature scaling").svg(), what + ", the model's own probabilities."))
                figures.append((try reliability(evaluation, title: String(format: "After temperature scaling (T = %.3f)", calibration.summary.temperature)).svg(),
                                what + ", after temperature scaling."))
            } else {
                figures.append((try reliability(evaluation, title: k == 2 ? "Calibration" : "Calibration (top label)").svg(), what + "."))
            }
        }
        if !figures.isEmpty {
            page.section("Curves and calibration")
            page.figureRow(figures)
        }
        if let summary = calibration?.summary {
            try page.table(header: ["temperature scaling", "before", "after"],
                           rows: [["validation ECE (T fitted here)", Self.format(summary.validationECEBefore), Self.format(summary.validationECEAfter)],
                                  ["\(splitName) ECE", Self.format(summary.testECEBefore), Self.format(summary.testECEAfter)],
                                  ["\(splitName) Brier score", Self.format(summary.testBrierBefore), Self.format(summary.testBrierAfter)]],
                           caption: String(format: "The logits divided by T = %.4f, fitted on the validation split by the lowest negative log-likelihood. "
                               + "It changes no prediction at p = 0.5 between the most probable classes and no ranking (AUROC); "
                               + "the decision threshold was chosen on the calibrated validation scores.", summary.temperature))
        }
    }

    /// One row per subgroup: its rows, its classes and its metrics with intervals.
    func subgroupTable(_ subgroups: SubgroupMetrics, _ page: inout HTMLReport) throws {
        page.section("Subgroups by \(subgroups.column)")
        let names = SubgroupMetrics.metricNames(classes: classNames.count)
        let labels = ["sensitivity": "sensitivity", "specificity": "specificity", "auroc": "AUROC", "accuracy": "accuracy",
                      "macroRecall": "macro recall", "macroAUROC": "macro AUROC"]
        let header = [subgroups.column, "rows"] + classNames.map { "\($0) rows" } + names.flatMap { [labels[$0] ?? $0, "95% interval"] }
        let rows = subgroups.groups.map { group in
            [group.value, String(group.rows)] + group.classCounts.map(String.init) + names.flatMap { name -> [String] in
                let metric = group.metrics[name]
                guard let estimate = metric?.estimate else { return ["not defined", metric?.reason ?? ""] }
                return [Self.format(estimate), metric?.interval.map { String(format: "%.4f – %.4f", $0.low, $0.high) } ?? (metric?.reason ?? "—")]
            }
        }
        try page.table(header: header, rows: rows,
                       caption: "The \(splitName) split's metrics in each group of \(subgroups.column)"
                           + (classNames.count == 2 ? ", at \(subgroups.threshold)" : "") + ", with bootstrap 95% intervals. "
                           + "A gap between groups larger than their intervals is a warning sign; a small group gives wide intervals.")
    }

    /// The reliability diagram of `evaluation`: binary, the probability of class 1; multi-class,
    /// the top label's probability against being right.
    func reliability(_ evaluation: Evaluation, title: String) throws -> LineChart {
        let k = classNames.count
        var probabilities: [Double] = [], outcomes: [Bool] = []
        for r in 0 ..< evaluation.truth.count {
            let row = (0 ..< k).map { Double(min(Foundation.exp(evaluation.logProbabilities[r * k + $0]), 1)) }
            if k == 2 {
                probabilities.append(row[1])
                outcomes.append(evaluation.truth[r] == 1)
            } else {
                let top = row.indices.max { row[$0] < row[$1] }!
                probabilities.append(row[top])
                outcomes.append(Int(evaluation.truth[r]) == top)
            }
        }
        return try LineChart.reliabilityDiagram(probabilities: probabilities, outcomes: outcomes, title: title)
    }

    func training(_ page: inout HTMLReport) throws {
        page.section("Training")
        let epochs = history.map { Double($0.epoch) }
        var loss = [try LineSeries(name: "training loss", x: epochs, y: history.map(\.trainLoss))]
        if history.contains(where: { $0.validationLoss != nil }) {
            loss.append(try LineSeries(name: "validation loss", x: epochs, y: history.map { $0.validationLoss ?? .nan }, dashed: true))
        }
        var figures = [(svg: LineChart(title: "Loss", xLabel: "epoch", yLabel: "cross-entropy", series: loss).svg(),
                        caption: "Loss per epoch" + (selectedEpoch.map { "; the reported model is epoch \($0)." } ?? "."))]
        if history.contains(where: { $0.validationAUROC != nil }) {
            let auroc = try LineSeries(name: "validation AUROC", x: epochs, y: history.map { $0.validationAUROC ?? .nan }, markers: history.count <= 40)
            let accuracy = try LineSeries(name: "validation accuracy", x: epochs, y: history.map { $0.validationAccuracy ?? .nan }, dashed: true)
            figures.append((LineChart(title: "Validation", xLabel: "epoch", yLabel: "", series: [auroc, accuracy]).svg(),
                            "Validation AUROC and accuracy per epoch."))
        }
        page.figureRow(figures)
    }

    func explain(_ explanations: Explanations, _ page: inout HTMLReport) throws {
        page.section("Explanations")
        for warning in explanations.warnings { page.paragraph("⚠ Warning: " + warning) }
        for line in explanations.summary { page.paragraph(line) }
        for grid in explanations.grids {
            page.subsection(grid.title)
            page.imageGrid(grid.items, columns: grid.columns)
        }
        for figure in explanations.figures { page.figure(svg: figure.svg, caption: figure.caption) }
        if !explanations.importance.isEmpty {
            try page.table(header: ["column", "mean decrease", "std", "metric"],
                           rows: explanations.importance.map { [$0.column, Self.format($0.decrease), Self.format($0.standardDeviation), $0.metric] },
                           caption: "Permutation importance of every column.")
        }
        if !explanations.files.isEmpty { page.folded("The \(explanations.files.count) explanation files", explanations.files.joined(separator: ", ")) }
    }
}
