import Foundation
import ScalpelMetrics

/// Per-sample predictions, the rows of `predictions.csv`: each sample's id (a CSV or UCR line,
/// an image's path, an array index), the probability of every class by name, the decision, and
/// the true class when the data has one.
public struct Predictions: Sendable {
    /// The id column's name: "line", "path", "sample", "index" or the table's id column.
    public var idName: String
    /// Each sample's id.
    public var ids: [String]
    /// The class names, in class-index order (the probability columns).
    public var classNames: [String]
    /// Each sample's probability of each class (rows × classes).
    public var probabilities: [[Double]]
    /// Each sample's decided class.
    public var decisions: [Int32]
    /// Each sample's true class (nil: the data has no labels).
    public var truth: [Int32]?
    /// How the decisions were made, in words.
    public var rule: String

    /// The predictions of `evaluation` on `rows` of `data`.
    /// - Parameters:
    ///   - evaluation: The model's evaluation of `rows` (its log-probabilities and, binary, log-odds).
    ///   - rows: The sample indices evaluated, in order.
    ///   - data: The data (its sample ids and class names).
    ///   - threshold: Binary: the decision threshold on the log-odds of class 1 and its rule in words
    ///     (nil: the more probable class).
    ///   - labelled: Whether the data's labels are true classes (false: placeholders of unlabelled data).
    public init(_ evaluation: Evaluation, rows: [Int], data: PreparedData, threshold: (rule: String, logOdds: Float)?, labelled: Bool) {
        let classes = data.classCount
        idName = data.sampleIDName
        ids = rows.map { data.sampleIDs?[$0] ?? String($0) }
        classNames = data.classNames
        probabilities = (0 ..< rows.count).map { r in (0 ..< classes).map { exp(Double(evaluation.logProbabilities[r * classes + $0])) } }
        if let threshold, let scores = evaluation.scores, classes == 2 {
            decisions = scores.map { $0 >= threshold.logOdds ? 1 : 0 }
            rule = "\(data.classNames[1]) where its probability is at least \(String(format: "%.4f", Self.probability(threshold.logOdds))) "
                + "(\(threshold.rule))"
        } else {
            decisions = evaluation.predicted
            rule = "the most probable class"
        }
        truth = labelled ? evaluation.truth : nil
    }

    /// The logistic function: the probability of class 1 at log-odds `z`.
    public static func probability(_ z: Float) -> Double { 1 / (1 + exp(-Double(z))) }

    /// The log-odds of probability `p` (in (0, 1)).
    public static func logOdds(_ p: Double) -> Float { Float(log(p / (1 - p))) }

    /// The CSV text: a header (the id column, `probability <class>` for each class, `predicted`
    /// and, when known, `true`), then one line per sample; probabilities with six decimals. Text
    /// fields are quoted as needed and kept from running as spreadsheet formulas
    /// (`Explanations.csvField`).
    /// - Parameter header: Whether the header line comes first (false: the lines that continue
    ///   a file already begun, a large file's next block).
    /// - Returns: The text, ending in a line break.
    public func csv(header: Bool = true) -> String {
        var lines = header ? [([idName] + classNames.map { "probability \($0)" } + ["predicted"] + (truth == nil ? [] : ["true"]))
            .map(Explanations.csvField).joined(separator: ",")] : []
        lines.reserveCapacity(ids.count + 1)
        for (r, id) in ids.enumerated() {
            var cells = [Explanations.csvField(id)] + probabilities[r].map { String(format: "%.6f", $0) } + [Explanations.csvField(classNames[Int(decisions[r])])]
            if let truth { cells.append(Explanations.csvField(classNames[Int(truth[r])])) }
            lines.append(cells.joined(separator: ","))
        }
        return lines.isEmpty ? "" : lines.joined(separator: "\n") + "\n"
    }
}
