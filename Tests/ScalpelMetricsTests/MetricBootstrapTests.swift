import ScalpelCore
import Foundation
import ScalpelData
import Testing
@testable import ScalpelMetrics

/// The percentile bootstrap of the metrics: reproducible from its seed, centred on the estimate,
/// near its nominal coverage, and honest about resamples where a metric is undefined.
@Suite struct MetricBootstrapTests {
    /// A binary test set drawn from a known population: 40% class 1, and a classifier that gets
    /// each row right with probability `accuracy` (so its true accuracy is exactly that).
    static func population(rows: Int, accuracy: Double, generator: inout SeededRandom) -> (labels: [Int32], scores: [Float]) {
        var labels: [Int32] = []
        var scores: [Float] = []
        for _ in 0..<rows {
            let label: Int32 = generator.uniform(below: 10) < 4 ? 1 : 0
            let right = Double(generator.uniform(below: 1_000_000)) / 1_000_000 < accuracy
            let margin = Float(generator.uniform(below: 500)) / 1000  // how sure: 0 ..< 0.5
            let predictsOne = (label == 1) == right
            labels.append(label)
            scores.append(predictsOne ? 0.5 + margin : 0.499 - margin)
        }
        return (labels, scores)
    }

    /// The row indices of each resample, replayed from the documented draw order.
    static func replayResamples(rows: Int, resamples: Int, seed: UInt64) -> [[Int]] {
        var generator = SeededRandom(seed: seed)
        return (0..<resamples).map { _ in (0..<rows).map { _ in Int(generator.uniform(below: UInt64(rows))) } }
    }

    static var goldenBinary: GoldenMetricsTests.Golden.Binary? { GoldenMetricsTests.golden.binary.first }

    @Test func theSeedFixesTheIntervals() throws {
        let c = try #require(Self.goldenBinary)
        let a = try MetricBootstrap.binary(
            labels: c.labels, scores: c.scores, probabilities: c.probabilities, resamples: 200, seed: 11)
        let b = try MetricBootstrap.binary(
            labels: c.labels, scores: c.scores, probabilities: c.probabilities, resamples: 200, seed: 11)
        let other = try MetricBootstrap.binary(
            labels: c.labels, scores: c.scores, probabilities: c.probabilities, resamples: 200, seed: 12)
        #expect(a == b)
        #expect(a.metrics["auroc"]?.interval != other.metrics["auroc"]?.interval)
        #expect(a.resamples == 200 && a.seed == 11 && a.confidenceLevel == 0.95 && a.perClass.isEmpty)
        #expect(Set(a.metrics.keys) == Set(MetricBootstrap.binaryMetricNames))
    }

    @Test func intervalsContainTheEstimateOnAReasonableCase() throws {
        let c = try #require(Self.goldenBinary)
        let point = try BinaryMetrics.compute(
            labels: c.labels, scores: c.scores, threshold: c.threshold, probabilities: c.probabilities)
        let b = try MetricBootstrap.binary(
            labels: c.labels, scores: c.scores, threshold: c.threshold, probabilities: c.probabilities, seed: 3)
        #expect(b.resamples == MetricBootstrap.defaultResamples)
        for name in MetricBootstrap.binaryMetricNames {
            let m = try #require(b.metrics[name])
            let interval = try #require(m.interval, "\(name): \(String(describing: m.reason))")
            let estimate = try #require(m.estimate)
            #expect(interval.low <= estimate && estimate <= interval.high, "\(name): \(interval) vs \(estimate)")
            // 300 rows: wide enough to be an interval, narrow enough to say something.
            #expect(interval.high - interval.low > 0.005 && interval.high - interval.low < 0.25, "\(name): \(interval)")
            #expect(m.definedResamples == 1000 && m.undefinedResamples == 0 && m.reason == nil)
        }
        #expect(b.metrics["auroc"]?.estimate == point.auroc && b.metrics["brierScore"]?.estimate == point.brierScore)
    }

    @Test func coverageIsNearTheNominalLevel() throws {
        // 80 test sets of 200 rows from a population whose accuracy is 0.8: about 95% of the 95%
        // intervals, and about half of the 50% ones, must contain 0.8.
        var generator = SeededRandom(seed: 2024)
        var (covered95, covered50) = (0, 0)
        let sets = 80
        for set in 0..<sets {
            let (labels, scores) = Self.population(rows: 200, accuracy: 0.8, generator: &generator)
            let wide = try MetricBootstrap.binary(labels: labels, scores: scores, resamples: 400, seed: UInt64(set))
            let narrow = try MetricBootstrap.binary(
                labels: labels, scores: scores, resamples: 400, seed: UInt64(set), confidenceLevel: 0.5)
            let w = try #require(wide.metrics["accuracy"]?.interval)
            let n = try #require(narrow.metrics["accuracy"]?.interval)
            if w.low <= 0.8 && 0.8 <= w.high { covered95 += 1 }
            if n.low <= 0.8 && 0.8 <= n.high { covered50 += 1 }
            #expect(w.low <= n.low && n.high <= w.high)
        }
        // Binomial spread over 80 sets: ±2 (95%) and ±4.5 (50%) for one standard deviation.
        #expect((68...80).contains(covered95), "95% intervals covered \(covered95) of \(sets)")
        #expect((26...54).contains(covered50), "50% intervals covered \(covered50) of \(sets)")
    }

    @Test func resamplesWithoutTheOnePositiveAreSkippedAndCounted() throws {
        // 30 rows with a single positive (row 7): about (29/30)^30 ≈ 36% of the resamples miss it.
        var labels = [Int32](repeating: 0, count: 30)
        labels[7] = 1
        let scores = (0..<30).map { Float($0) / 30 }
        let b = try MetricBootstrap.binary(labels: labels, scores: scores, resamples: 1000, seed: 5)
        let missing = Self.replayResamples(rows: 30, resamples: 1000, seed: 5).filter { !$0.contains(7) }.count
        #expect(missing > 250 && missing < 480)
        for name in ["sensitivity", "auroc", "auprc", "balancedAccuracy"] {
            let m = try #require(b.metrics[name])
            #expect(m.undefinedResamples == missing && m.definedResamples == 1000 - missing, "\(name)")
            #expect(m.interval != nil, "\(name): \(String(describing: m.reason))")
        }
        #expect(b.metrics["specificity"]?.undefinedResamples == 0 && b.metrics["accuracy"]?.undefinedResamples == 0)
        // No probabilities: the calibration metrics are undefined everywhere, and say so.
        let brier = try #require(b.metrics["brierScore"])
        #expect(brier.estimate == nil && brier.interval == nil && brier.undefinedResamples == 1000)
        #expect(brier.reason == "undefined on the rows themselves, and so in every resample")
    }

    @Test func tooFewDefinedResamplesGiveNoInterval() throws {
        let b = try MetricBootstrap.binary(labels: [0, 1, 0, 1, 1], scores: [0.1, 0.8, 0.4, 0.3, 0.9], resamples: 30, seed: 1)
        let accuracy = try #require(b.metrics["accuracy"])
        #expect(accuracy.interval == nil && accuracy.estimate == 0.8 && accuracy.definedResamples == 30)
        #expect(accuracy.reason == "defined in only 30 of 30 resamples; an interval needs at least 40")
        #expect(MetricBootstrap.minimumDefinedResamples(resamples: 1000, confidenceLevel: 0.95) == 500)
        #expect(MetricBootstrap.minimumDefinedResamples(resamples: 50, confidenceLevel: 0.95) == 40)
        #expect(MetricBootstrap.minimumDefinedResamples(resamples: 50, confidenceLevel: 0.99) == 200)

        // One class only: the metrics that need the other class are undefined throughout.
        let oneClass = try MetricBootstrap.binary(labels: [0, 0, 0, 0], scores: [0.1, 0.7, 0.2, 0.4], resamples: 100, seed: 1)
        #expect(oneClass.metrics["auroc"]?.interval == nil && oneClass.metrics["auroc"]?.undefinedResamples == 100)
        #expect(oneClass.metrics["specificity"]?.interval != nil)
    }

    @Test func aResampleIsScoredAsIfItsRowsWereCopied() throws {
        // The weighted pass over the ranked rows must equal scoring the drawn rows themselves.
        let c = try #require(GoldenMetricsTests.golden.binary.dropFirst().first)  // the tied scores
        let inputs = try BinaryMetricInputs(
            labels: c.labels, scores: c.scores, threshold: c.threshold, probabilities: c.probabilities)
        let probabilities = try #require(c.probabilities)
        for rows in Self.replayResamples(rows: c.labels.count, resamples: 5, seed: 99) {
            var weights = [Int](repeating: 0, count: c.labels.count)
            for row in rows { weights[row] += 1 }
            let weighted = inputs.metrics(weights: weights)
            let copied = try BinaryMetrics.compute(
                labels: rows.map { c.labels[$0] }, scores: rows.map { c.scores[$0] }, threshold: c.threshold,
                probabilities: rows.map { probabilities[$0] })
            #expect(weighted.confusion == copied.confusion && weighted.auroc == copied.auroc)
            #expect(weighted.auprc == copied.auprc && weighted.f1 == copied.f1)
            let brier = try #require(copied.brierScore)
            let ece = try #require(copied.expectedCalibrationError)
            #expect(close(weighted.brierScore, brier) && close(weighted.expectedCalibrationError, ece))
        }
    }

    @Test func multiclassIntervalsPerClassAndMacroSkips() throws {
        let c = try #require(GoldenMetricsTests.golden.multiclass.first)
        let b = try MetricBootstrap.multiclass(
            labels: c.labels, probabilities: c.probabilities, classCount: c.classCount, resamples: 300, seed: 8)
        #expect(Set(b.metrics.keys) == Set(MetricBootstrap.multiclassMetricNames) && b.perClass.count == 3)
        let point = try MulticlassMetrics.compute(labels: c.labels, probabilities: c.probabilities, classCount: 3)
        for (k, intervals) in b.perClass.enumerated() {
            #expect(Set(intervals.keys) == Set(MetricBootstrap.perClassMetricNames))
            let recall = try #require(intervals["recall"]?.interval)
            #expect(intervals["recall"]?.estimate == point.perClass[k].recall)
            #expect(recall.low <= point.perClass[k].recall! && point.perClass[k].recall! <= recall.high)
        }
        for name in MetricBootstrap.multiclassMetricNames {
            let m = try #require(b.metrics[name])
            let interval = try #require(m.interval, "\(name)")
            let estimate = try #require(m.estimate)
            #expect(interval.low <= estimate && estimate <= interval.high, "\(name)")
        }
        #expect(try MetricBootstrap.multiclass(
            labels: c.labels, probabilities: c.probabilities, classCount: 3, resamples: 300, seed: 8) == b)

        // Class 2 has a single row: a resample without it averages over two classes, which is
        // not the quantity estimated, so the macro averages count it as undefined.
        var labels: [Int32] = (0..<40).map { Int32($0 % 2) }
        labels[13] = 2
        let probabilities = (0..<40).flatMap { row -> [Float] in
            let s = Float(row % 7) / 10
            return [0.2 + s, 0.7 - s, 0.1]
        }
        let rare = try MetricBootstrap.multiclass(labels: labels, probabilities: probabilities, classCount: 3, seed: 4)
        let missing = Self.replayResamples(rows: 40, resamples: 1000, seed: 4).filter { !$0.contains(13) }.count
        #expect(missing > 250)
        for name in ["macroAUROC", "macroAUPRC", "macroRecall", "balancedAccuracy"] {
            #expect(rare.metrics[name]?.undefinedResamples == missing, "\(name)")
        }
        #expect(rare.perClass[2]["auroc"]?.undefinedResamples == missing)
        #expect(rare.metrics["accuracy"]?.undefinedResamples == 0)
    }

    @Test func badSettingsAreRefusedAndIntervalsAreWrittenToJSON() throws {
        #expect(throws: ClinicDataError.self) {
            try MetricBootstrap.binary(labels: [0, 1], scores: [0.2, 0.7], resamples: 0, seed: 1)
        }
        #expect(throws: ClinicDataError.self) {
            try MetricBootstrap.binary(labels: [0, 1], scores: [0.2, 0.7], seed: 1, confidenceLevel: 1)
        }
        #expect(throws: ClinicDataError.self) {
            try MetricBootstrap.multiclass(labels: [0, 1], probabilities: [0.2, 0.7], classCount: 2, seed: 1)
        }
        let b = try MetricBootstrap.binary(labels: [0, 1, 1, 0], scores: [0.2, 0.7, 0.6, 0.1], resamples: 100, seed: 1)
        let data = try JSONEncoder().encode(b)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let metrics = try #require(object["metrics"] as? [String: [String: Any]])
        #expect(metrics["brierScore"]?["interval"] is NSNull && metrics["brierScore"]?["estimate"] is NSNull)
        #expect(metrics["accuracy"]?["reason"] is NSNull && metrics["accuracy"]?["interval"] is [String: Any])
        #expect(try JSONDecoder().decode(MetricBootstrap.self, from: data) == b)
    }

    @Test func quantilesInterpolateLikeNumpy() {
        // numpy.quantile([1, 2, 3, 4], [0.025, 0.5, 0.975]) = [1.075, 2.5, 3.925].
        #expect(abs(MetricBootstrap.quantile([1, 2, 3, 4], 0.025) - 1.075) < 1e-12)
        #expect(MetricBootstrap.quantile([1, 2, 3, 4], 0.5) == 2.5)
        #expect(abs(MetricBootstrap.quantile([1, 2, 3, 4], 0.975) - 3.925) < 1e-12)
        #expect(MetricBootstrap.quantile([5], 0.975) == 5)
    }
}
