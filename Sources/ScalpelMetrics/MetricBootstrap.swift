import ScalpelCore
import ScalpelData

/// A percentile-bootstrap confidence interval for one metric.
///
/// Resamples where the metric is undefined (a resample without positives has no sensitivity)
/// are skipped and counted in `undefinedResamples`; the interval is taken over the others. When
/// too few resamples define the metric the interval is nil and `reason` says why.
public struct MetricInterval: Codable, Equatable, Sendable {
    /// The bounds of an interval.
    public struct Bounds: Codable, Equatable, Sendable {
        /// The lower bound: the (1 − confidenceLevel)/2 quantile of the defined resample values.
        public let low: Double
        /// The upper bound: the (1 + confidenceLevel)/2 quantile of the defined resample values.
        public let high: Double
    }

    /// The metric on the rows themselves (nil where it is undefined there).
    public let estimate: Double?
    /// The percentile interval, or nil (see `reason`).
    public let interval: Bounds?
    /// The resamples where the metric was defined, which the interval is taken over.
    public let definedResamples: Int
    /// The resamples skipped because the metric was undefined in them.
    public let undefinedResamples: Int
    /// Why `interval` is nil; nil when it is not.
    public let reason: String?

    private enum CodingKeys: String, CodingKey {
        case estimate, interval, definedResamples, undefinedResamples, reason
    }

    /// Encodes every field, a missing one as `null`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(estimate, forKey: .estimate)
        try container.encode(interval, forKey: .interval)
        try container.encode(definedResamples, forKey: .definedResamples)
        try container.encode(undefinedResamples, forKey: .undefinedResamples)
        try container.encode(reason, forKey: .reason)
    }
}

/// Bootstrap confidence intervals of the diagnosis metrics.
///
/// The rows are resampled with replacement (`resamples` times, as many rows as there are, drawn
/// with `SeededRandom(seed:)`, so a seed gives the same intervals on every machine) and every
/// scalar metric of `BinaryMetrics` / `MulticlassMetrics` is computed on each resample with the
/// threshold and the predictions fixed. The interval is the percentile interval: the
/// `(1 − confidenceLevel)/2` and `(1 + confidenceLevel)/2` quantiles of the defined resample
/// values, interpolated linearly between order statistics (numpy's default `quantile`).
///
/// An interval needs at least `ceil(2 / (1 − confidenceLevel))` defined resamples (40 for 95%,
/// so each tail rests on at least one value beyond the bound) and at least half of the
/// resamples defined (when most resamples lack the metric, the few that have it are not a fair
/// picture of its spread). A macro average counts as undefined in a resample that skips a class
/// the full data did not skip, so that every value in an interval averages the same classes.
///
/// The scores are ranked once; a resample is scored as row counts (how many times each row was
/// drawn), in one pass over the rows per ranking.
public struct MetricBootstrap: Codable, Equatable, Sendable {
    /// The default number of resamples.
    public static let defaultResamples = 1000

    /// The number of resamples drawn.
    public let resamples: Int
    /// The seed of the `SeededRandom` (SplitMix64) that drew them.
    public let seed: UInt64
    /// The coverage the intervals aim at, e.g. 0.95.
    public let confidenceLevel: Double
    /// The intervals of the overall metrics, keyed by the metric's property name
    /// ("accuracy", "auroc", "macroF1", ...).
    public let metrics: [String: MetricInterval]
    /// For a multiclass report, the intervals of each class's metrics ("recall", "auroc", ...),
    /// indexed by class; empty for a binary one.
    public let perClass: [[String: MetricInterval]]

    /// The overall scalar metrics of a binary report that get an interval.
    public static let binaryMetricNames = [
        "accuracy", "sensitivity", "specificity", "precision", "negativePredictiveValue", "f1", "balancedAccuracy",
        "auroc", "auprc", "brierScore", "expectedCalibrationError",
    ]
    /// The overall scalar metrics of a multiclass report that get an interval.
    public static let multiclassMetricNames = [
        "accuracy", "balancedAccuracy", "macroRecall", "macroF1", "macroAUROC", "macroAUPRC", "brierScore",
        "expectedCalibrationError",
    ]
    /// The per-class metrics of a multiclass report that get an interval.
    public static let perClassMetricNames = [
        "recall", "specificity", "precision", "negativePredictiveValue", "f1", "auroc", "auprc",
    ]

    /// Intervals for `BinaryMetrics.compute(labels:scores:threshold:probabilities:)`.
    /// - Throws: `ClinicDataError.invalidInput` for the inputs `BinaryMetrics.compute` refuses,
    ///   fewer than one resample, or a confidence level outside (0, 1).
    public static func binary(
        labels: [Int32], scores: [Float], threshold: Float = 0.5, probabilities: [Float]? = nil,
        resamples: Int = defaultResamples, seed: UInt64, confidenceLevel: Double = 0.95
    ) throws(ClinicDataError) -> MetricBootstrap {
        try checkSettings(resamples: resamples, confidenceLevel: confidenceLevel)
        let inputs = try BinaryMetricInputs(labels: labels, scores: scores, threshold: threshold, probabilities: probabilities)
        let point = inputs.metrics(weights: [Int](repeating: 1, count: labels.count))
        let extract: (BinaryMetrics) -> [Double?] = { m in
            [
                m.accuracy, m.sensitivity, m.specificity, m.precision, m.negativePredictiveValue, m.f1,
                m.balancedAccuracy, m.auroc, m.auprc, m.brierScore, m.expectedCalibrationError,
            ]
        }
        let intervals = resampledIntervals(
            extract(point), rows: labels.count, resamples: resamples, seed: seed, confidenceLevel: confidenceLevel
        ) { weights in extract(inputs.metrics(weights: weights)) }
        return MetricBootstrap(
            resamples: resamples, seed: seed, confidenceLevel: confidenceLevel,
            metrics: Dictionary(uniqueKeysWithValues: zip(binaryMetricNames, intervals)), perClass: [])
    }

    /// Intervals for `MulticlassMetrics.compute(labels:probabilities:classCount:calibrationProbabilities:)`.
    /// - Throws: `ClinicDataError.invalidInput` for the inputs `MulticlassMetrics.compute` refuses,
    ///   fewer than one resample, or a confidence level outside (0, 1).
    public static func multiclass(
        labels: [Int32], probabilities: [Float], classCount: Int, calibrationProbabilities: [Float]? = nil,
        resamples: Int = defaultResamples, seed: UInt64, confidenceLevel: Double = 0.95
    ) throws(ClinicDataError) -> MetricBootstrap {
        try checkSettings(resamples: resamples, confidenceLevel: confidenceLevel)
        let inputs = try MulticlassMetricInputs(
            labels: labels, probabilities: probabilities, classCount: classCount,
            calibrationProbabilities: calibrationProbabilities)
        let point = inputs.metrics(weights: [Int](repeating: 1, count: labels.count))
        // A macro average over fewer classes than the full data's is not the same quantity.
        func macro(_ value: Double?, _ skipped: [Int], _ pointSkipped: [Int]) -> Double? {
            skipped.count == pointSkipped.count ? value : nil
        }
        let extract: (MulticlassMetrics) -> [Double?] = { m in
            var values: [Double?] = [
                m.accuracy, macro(m.balancedAccuracy, m.macroRecallSkippedClasses, point.macroRecallSkippedClasses),
                macro(m.macroRecall, m.macroRecallSkippedClasses, point.macroRecallSkippedClasses),
                macro(m.macroF1, m.macroF1SkippedClasses, point.macroF1SkippedClasses),
                macro(m.macroAUROC, m.macroAUROCSkippedClasses, point.macroAUROCSkippedClasses),
                macro(m.macroAUPRC, m.macroAUPRCSkippedClasses, point.macroAUPRCSkippedClasses),
                m.brierScore, m.expectedCalibrationError,
            ]
            for c in m.perClass {
                values += [c.recall, c.specificity, c.precision, c.negativePredictiveValue, c.f1, c.auroc, c.auprc]
            }
            return values
        }
        let intervals = resampledIntervals(
            extract(point), rows: labels.count, resamples: resamples, seed: seed, confidenceLevel: confidenceLevel
        ) { weights in extract(inputs.metrics(weights: weights)) }
        let overallCount = multiclassMetricNames.count
        let perClassCount = perClassMetricNames.count
        let perClass = (0..<classCount).map { classIndex in
            let start = overallCount + classIndex * perClassCount
            return Dictionary(uniqueKeysWithValues: zip(perClassMetricNames, intervals[start..<start + perClassCount]))
        }
        return MetricBootstrap(
            resamples: resamples, seed: seed, confidenceLevel: confidenceLevel,
            metrics: Dictionary(uniqueKeysWithValues: zip(multiclassMetricNames, intervals[..<overallCount])),
            perClass: perClass)
    }

    private static func checkSettings(resamples: Int, confidenceLevel: Double) throws(ClinicDataError) {
        guard resamples >= 1 else {
            throw .invalidInput(reason: "MetricBootstrap: resamples must be at least 1, not \(resamples)")
        }
        guard confidenceLevel > 0, confidenceLevel < 1 else {
            throw .invalidInput(reason: "MetricBootstrap: the confidence level \(confidenceLevel) is not in (0, 1)")
        }
    }

    /// Calls `body` with the row counts of each resample: `rows` draws with replacement, in the
    /// The interval of each of `pointValues` (the metrics on the data itself): `resampled`
    /// gives the same metrics for the row weights of each seeded resample, and a metric
    /// undefined (nil) in a resample is left out of that one.
    static func resampledIntervals(
        _ pointValues: [Double?], rows: Int, resamples: Int, seed: UInt64, confidenceLevel: Double,
        resampled: ([Int]) -> [Double?]
    ) -> [MetricInterval] {
        var samples = [[Double]](repeating: [], count: pointValues.count)
        forEachResample(rows: rows, resamples: resamples, seed: seed) { weights in
            for (index, value) in resampled(weights).enumerated() {
                if let value { samples[index].append(value) }
            }
        }
        return zip(pointValues, samples).map { point, values in
            interval(estimate: point, values: values, resamples: resamples, confidenceLevel: confidenceLevel)
        }
    }

    /// order of `SeededRandom(seed:)`'s outputs.
    static func forEachResample(rows: Int, resamples: Int, seed: UInt64, _ body: ([Int]) -> Void) {
        var generator = SeededRandom(seed: seed)
        var counts = [Int](repeating: 0, count: rows)
        for _ in 0..<resamples {
            for row in counts.indices { counts[row] = 0 }
            for _ in 0..<rows { counts[Int(generator.uniform(below: UInt64(rows)))] += 1 }
            body(counts)
        }
    }

    /// The fewest defined resamples an interval at `confidenceLevel` is taken over.
    static func minimumDefinedResamples(resamples: Int, confidenceLevel: Double) -> Int {
        max(Int((2 / (1 - confidenceLevel)).rounded(.up)), (resamples + 1) / 2)
    }

    static func interval(estimate: Double?, values: [Double], resamples: Int, confidenceLevel: Double) -> MetricInterval {
        let needed = minimumDefinedResamples(resamples: resamples, confidenceLevel: confidenceLevel)
        let undefined = resamples - values.count
        guard values.count >= needed else {
            let reason = estimate == nil
                ? "undefined on the rows themselves, and so in every resample"
                : "defined in only \(values.count) of \(resamples) resamples; an interval needs at least \(needed)"
            return MetricInterval(
                estimate: estimate, interval: nil, definedResamples: values.count, undefinedResamples: undefined,
                reason: reason)
        }
        let sorted = values.sorted()
        let tail = (1 - confidenceLevel) / 2
        return MetricInterval(
            estimate: estimate,
            interval: .init(low: quantile(sorted, tail), high: quantile(sorted, 1 - tail)),
            definedResamples: values.count, undefinedResamples: undefined, reason: nil)
    }

    /// The `q` quantile of ascending `sorted`, interpolated linearly between the order
    /// statistics at `(count − 1) q` (numpy's default method).
    static func quantile(_ sorted: [Double], _ q: Double) -> Double {
        let position = Double(sorted.count - 1) * q
        let below = Int(position.rounded(.down))
        let above = min(below + 1, sorted.count - 1)
        let fraction = position - Double(below)
        return sorted[below] + (sorted[above] - sorted[below]) * fraction
    }
}
