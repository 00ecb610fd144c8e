import Foundation
import ScalpelMetrics
import ScalpelReport

/// The report's model card: what the model is for, what it was trained and tested on, how well
/// it did (with intervals), its known limits and where it fails — the page a clinician reads
/// before signing a model off.
struct ModelCard {
    /// The intended use and population, as given (`--intended-use`) or the research default.
    var intendedUse: String
    /// The training data, in rows of name and value.
    var data: [(String, String)]
    /// The headline metrics on the test split, with their 95 % intervals.
    var metrics: [(String, String)]
    /// Known limits, each a sentence (small test set, unbalanced classes, no external test…).
    var limits: [String]
    /// Where the model fails on the test split, in words.
    var failures: String

    /// The default intended use: a research model.
    static let researchUse = "Research use only: a model trained with Scalpel for study, not a medical device. It has not been validated "
        + "for diagnosis or treatment decisions, and its population is that of the training data below."

    /// The card of a run: `config` and `data` as trained, `test` its test-split evaluation,
    /// `explanations` the warning signs they showed.
    static func make(config: TrainingConfig, data: PreparedData, test: Evaluation, explanations: Explanations?) -> ModelCard {
        let names = data.classNames
        let trainCounts = data.classCounts(data.train)
        var facts: [(String, String)] = [
            ("data", config.data + (config.test.map { "; test file \($0)" } ?? "")),
            ("rows", "\(data.train.count) train / \(data.validation.count) validation / \(data.test.count) test"),
            ("training classes", zip(names, trainCounts).map { "\($0) \($1)" }.joined(separator: ", ")),
        ]
        if names.count == 2 { facts.append(("positive class", names[1])) }
        var metrics: [(String, String)] = []
        let m = test.metrics
        func interval(_ key: String) -> String {
            m.intervals?.metrics[key]?.interval.map { String(format: " (95%% CI %.3f–%.3f)", $0.low, $0.high) } ?? ""
        }
        func value(_ x: Double?) -> String { x.map { String(format: "%.3f", $0) } ?? "not defined" }
        if let b = m.binary {
            metrics.append(("AUROC", value(b.auroc) + interval("auroc")))
            if let chosen = m.validationThreshold {
                metrics.append(("sensitivity at the validation threshold", value(chosen.metrics.sensitivity)))
                metrics.append(("specificity at the validation threshold", value(chosen.metrics.specificity)))
            }
            metrics.append(("sensitivity at p ≥ 0.5", value(b.sensitivity) + interval("sensitivity")))
            metrics.append(("specificity at p ≥ 0.5", value(b.specificity) + interval("specificity")))
        } else if let c = m.multiclass {
            metrics.append(("accuracy", value(c.accuracy) + interval("accuracy")))
            metrics.append(("macro AUROC", value(c.macroAUROC) + interval("macroAUROC")))
        }
        var limits: [String] = []
        if data.test.count < 100 {
            limits.append("Small test set: \(data.test.count) rows, so every figure above is uncertain; read the intervals, not the estimates.")
        }
        let total = max(trainCounts.reduce(0, +), 1)
        if let rarest = trainCounts.indices.min(by: { trainCounts[$0] < trainCounts[$1] }), Double(trainCounts[rarest]) / Double(total) < 0.2 {
            limits.append(String(format: "Unbalanced classes: %@ is %.0f %% of the training rows; accuracy flatters a model that favours the common class.",
                                 names[rarest], 100 * Double(trainCounts[rarest]) / Double(total)))
        }
        if data.validation.isEmpty {
            limits.append("No validation split: the reported epoch was chosen on the training loss and no decision threshold was tuned.")
        }
        if config.test == nil {
            limits.append("Tested on a held-out part of the same data (same sites, devices and period): performance on other hospitals, "
                + "scanners or years is unknown until it is measured there (`scalpel eval`).")
        }
        limits += explanations?.warnings ?? []
        // Failures: the wrong test predictions, by true class.
        let decided: [Int32]
        if let chosen = m.validationThreshold, let scores = test.scores {
            decided = scores.map { $0 >= chosen.choice.threshold ? 1 : 0 }
        } else {
            decided = test.predicted
        }
        var wrong = [Int](repeating: 0, count: names.count)
        for (truth, guess) in zip(test.truth, decided) where truth != guess { wrong[Int(truth)] += 1 }
        let testCounts = data.classCounts(data.test)
        let failures = wrong.reduce(0, +) == 0 ? "No test row was misclassified."
            : "\(wrong.reduce(0, +)) of \(data.test.count) test rows were misclassified"
                + (m.validationThreshold != nil ? " at the validation threshold" : "") + ": "
                + names.indices.filter { wrong[$0] > 0 }.map { "\(wrong[$0]) of \(testCounts[$0]) \(names[$0])" }.joined(separator: ", ")
                + (names.count == 2 && wrong[1] > 0 ? " (missed \(names[1]) cases are false negatives)" : "")
                + "." + (data.kind == .table ? "" : " The explanations below show the first wrong ones of each class.")
        return ModelCard(intendedUse: config.intendedUse ?? researchUse, data: facts, metrics: metrics, limits: limits, failures: failures)
    }

    /// The card as a section of `page`.
    func render(_ page: inout HTMLReport) {
        page.section("Model card")
        page.subsection("Intended use")
        page.paragraph(intendedUse)
        page.subsection("Training data")
        page.keyValues(data)
        page.subsection("Performance on the test split")
        page.keyValues(metrics)
        page.subsection("Known limits")
        if limits.isEmpty { page.paragraph("None found by the checks (test-set size, class balance, validation split, external test, explanations).") }
        for limit in limits { page.paragraph("• " + limit) }
        page.subsection("Failure cases")
        page.paragraph(failures)
    }
}
