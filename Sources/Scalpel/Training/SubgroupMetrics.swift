import Foundation
import ScalpelCore
import ScalpelData
import ScalpelMetrics

/// The test metrics of each subgroup that a table's column names (sex, age band, site), with
/// bootstrap 95% intervals, so that a gap between groups shows: binary, the sensitivity and
/// specificity at the run's decision threshold and the AUROC; several classes, the accuracy,
/// the macro recall and the macro AUROC.
public struct SubgroupMetrics: Encodable, Sendable {
    /// One subgroup's rows and metrics.
    public struct Group: Encodable, Sendable {
        /// The column's value ("(empty)" for an empty cell).
        public var value: String
        /// The group's rows.
        public var rows: Int
        /// The group's rows of each class, in class-index order.
        public var classCounts: [Int]
        /// The metrics with their intervals, by name (`sensitivity`, `specificity`, `auroc`;
        /// several classes: `accuracy`, `macroRecall`, `macroAUROC`).
        public var metrics: [String: MetricInterval]
    }

    /// The column that names the groups.
    public var column: String
    /// The threshold the binary metrics are at, in words.
    public var threshold: String
    /// The groups, largest first.
    public var groups: [Group]

    /// The most groups a column may name: more are values, not groups.
    public static let maximumGroups = 20

    /// The names of the metrics shown, in order, for `classes` classes.
    public static func metricNames(classes: Int) -> [String] {
        classes == 2 ? ["sensitivity", "specificity", "auroc"] : ["accuracy", "macroRecall", "macroAUROC"]
    }

    /// The row indices of each group of `values`, or an error when there are more than `maximumGroups`.
    static func groups(column: String, values: [String]) throws -> [String: [Int]] {
        let byGroup = Dictionary(grouping: values.indices) { values[$0].trimmingCharacters(in: .whitespaces) }
        guard byGroup.count <= maximumGroups else {
            throw ScalpelError.invalidArgument("--subgroup-column \(ClinicDataError.quoted(column)): \(byGroup.count) distinct values on the evaluated rows; "
                + "give a column of at most \(maximumGroups) groups (an age band rather than the age, say)")
        }
        return byGroup
    }

    /// The metrics of `evaluation`'s rows grouped by `values` (one per row, in the same order).
    /// - Parameters:
    ///   - column: The column's name.
    ///   - values: Each evaluated row's value in the column.
    ///   - evaluation: The evaluation of those rows.
    ///   - classes: The number of classes.
    ///   - threshold: Binary: the decision threshold on the log-odds and its description.
    ///   - seed: The bootstrap's seed.
    /// - Throws: `ScalpelError` when the column names more than `maximumGroups` groups.
    init(column: String, values: [String], evaluation: Evaluation, classes: Int, threshold: (rule: String, logOdds: Float),
         seed: UInt64) throws {
        let byGroup = try Self.groups(column: column, values: values)
        self.column = column
        self.threshold = threshold.rule
        groups = try byGroup.map { value, rows in
            let labels = rows.map { evaluation.truth[$0] }
            var counts = [Int](repeating: 0, count: classes)
            for label in labels where Int(label) < classes { counts[Int(label)] += 1 }
            let bootstrap: MetricBootstrap
            do {
                if classes == 2, let scores = evaluation.scores {
                    let probabilities = rows.map { min(Foundation.exp(evaluation.logProbabilities[$0 * 2 + 1]), 1) }
                    bootstrap = try MetricBootstrap.binary(labels: labels, scores: rows.map { scores[$0] }, threshold: threshold.logOdds,
                                                           probabilities: probabilities, seed: seed)
                } else {
                    let logProbabilities = rows.flatMap { r in (0 ..< classes).map { evaluation.logProbabilities[r * classes + $0] } }
                    bootstrap = try MetricBootstrap.multiclass(labels: labels, probabilities: logProbabilities, classCount: classes,
                                                               calibrationProbabilities: logProbabilities.map { min(Foundation.exp($0), 1) }, seed: seed)
                }
            } catch {
                throw ScalpelError.invalidArgument("subgroup metrics of \(ClinicDataError.quoted(column)): \(error)")
            }
            let names = Self.metricNames(classes: classes)
            return Group(value: value.isEmpty ? "(empty)" : value, rows: rows.count, classCounts: counts,
                         metrics: bootstrap.metrics.filter { names.contains($0.key) })
        }.sorted { ($0.rows, $1.value) > ($1.rows, $0.value) }
    }
}

extension TrainingRun {
    /// The test rows' values in the table column `column` (`--subgroup-column`): the data file's
    /// cells by line, or the `--test` file's for the rows it gave.
    func subgroupValues(_ column: String, rows: [Int]) throws -> [String] {
        guard data.kind == .table, data.sampleIDName == "line", let ids = data.sampleIDs else {
            throw ScalpelError.invalidArgument("--subgroup-column \(column): subgroups are read from a CSV table's column; \(config.data) is not a table")
        }
        func cells(_ path: String) throws -> [String: String] {
            let table = try DataSource.open(path, keys: { keys }).csv()
            guard let values = table.column(named: column) else {
                // An encrypted table's header is part of its content: not listed.
                throw ScalpelError.invalidArgument("\(path): no column \(ClinicDataError.quoted(column)) to group the test rows by (--subgroup-column)"
                    + (table.isConfidential ? "" : "; the columns are \(ClinicDataError.quotedList(table.columns))"))
            }
            return Dictionary(uniqueKeysWithValues: zip(table.lineNumbers.map(String.init), values))
        }
        let own = try cells(config.data)
        // With --test, the test rows follow the training file's rows and are named by the test file's lines.
        let testFile = try config.test.map(cells)
        let firstTestFileRow = testFile == nil ? Int.max : data.test.min() ?? Int.max
        return rows.map { row in (row >= firstTestFileRow ? testFile! : own)[ids[row]] ?? "" }
    }

    /// The subgroup metrics of `evaluation` (of `rows`) when the run asked for them.
    func subgroupMetrics(_ evaluation: Evaluation, rows: [Int], threshold: (String, DecisionThreshold)?) throws -> SubgroupMetrics? {
        guard let column = config.subgroupColumn else { return nil }
        let cut: (rule: String, logOdds: Float) = threshold.map { ("the validation threshold (\($0.0))", $0.1.threshold) }
            ?? ("probability 0.5", 0)
        return try SubgroupMetrics(column: column, values: try subgroupValues(column, rows: rows), evaluation: evaluation, classes: data.classCount,
                                   threshold: cut, seed: config.seed)
    }
}
