import Foundation
import ScalpelData
import Testing
@testable import ScalpelMetrics

/// The metrics against scikit-learn on a few hundred fixed random predictions
/// (Fixtures/clinic_golden.json, written by scripts/clinic_golden.py). A `null` expected value is
/// a metric scikit-learn leaves undefined (nan, or an error), which Scalpel must leave nil.
@Suite struct GoldenMetricsTests {
    struct Golden: Decodable {
        struct Binary: Decodable {
            struct Expected: Decodable {
                let accuracy: Double
                let sensitivity, specificity, precision, negativePredictiveValue: Double?
                let f1, balancedAccuracy, auroc, auprc, brierScore, expectedCalibrationError: Double?
                let confusion: [Int]
            }
            struct Choice: Decodable {
                let threshold: Float
                let sensitivity, specificity: Double
                let target: Double?
            }
            struct Thresholds: Decodable {
                let youden: Choice
                let targetSensitivity: [Choice]
            }
            let name: String
            let labels: [Int32]
            let scores: [Float]
            let threshold: Float
            let probabilities: [Float]?
            let expected: Expected
            let thresholds: Thresholds?
        }
        struct Multiclass: Decodable {
            struct Expected: Decodable {
                let accuracy: Double
                let macroRecall, macroF1, macroAUROC, macroAUPRC, balancedAccuracy: Double?
                let brierScore, expectedCalibrationError: Double?
                let recall, precision, f1, auroc, auprc, specificity, negativePredictiveValue: [Double?]
                let support: [Int]
                let confusionMatrix: [[Int]]
            }
            let name: String
            let classCount: Int
            let labels: [Int32]
            let probabilities: [Float]
            let expected: Expected
        }
        struct Bootstrap: Decodable {
            struct Interval: Decodable {
                let low, high: Double
                let defined: Int
            }
            let resamples: Int
            let seed: UInt64
            let intervals: [String: Interval]
        }
        let binary: [Binary]
        let multiclass: [Multiclass]
        let bootstrap: Bootstrap?
    }

    static let golden: Golden = {
        // A missing or broken fixture fails the test that reads it, with the decoding error.
        (try? JSONDecoder().decode(Golden.self, from: Data(contentsOf: goldenURL)))
            ?? Golden(binary: [], multiclass: [], bootstrap: nil)
    }()

    static let tolerance = 1e-9

    /// Both nil, or both defined and within the tolerance.
    func same(_ got: Double?, _ want: Double?) -> Bool {
        guard let want else { return got == nil }
        return close(got, want, tolerance: Self.tolerance)
    }

    @Test func fixtureHasTheExpectedCases() throws {
        let golden = try JSONDecoder().decode(Golden.self, from: Data(contentsOf: goldenURL))
        #expect(golden.binary.count == 4 && golden.multiclass.count == 3 && golden.bootstrap != nil)
        #expect(golden.binary.allSatisfy { $0.labels.count == $0.scores.count })
        #expect(golden.binary.filter { $0.labels.count == 300 && $0.probabilities?.count == 300 }.count == 3)
        #expect(golden.multiclass.allSatisfy { $0.labels.count == 300 && $0.probabilities.count == 300 * $0.classCount })
        // The one-class binary case and the class without rows are really there.
        #expect(golden.binary.contains { Set($0.labels).count == 1 })
        #expect(golden.multiclass.contains { $0.expected.support.contains(0) })
    }

    @Test(arguments: golden.binary.indices)
    func binaryMatchesScikitLearn(_ index: Int) throws {
        let c = Self.golden.binary[index]
        let m = try BinaryMetrics.compute(
            labels: c.labels, scores: c.scores, threshold: c.threshold, probabilities: c.probabilities)
        let e = c.expected
        let confusion = m.confusion
        #expect(
            [confusion.trueNegatives, confusion.falsePositives, confusion.falseNegatives, confusion.truePositives]
                == e.confusion, "\(c.name)")
        let pairs: [(String, Double?, Double?)] = [
            ("accuracy", m.accuracy, e.accuracy), ("sensitivity", m.sensitivity, e.sensitivity),
            ("specificity", m.specificity, e.specificity), ("precision", m.precision, e.precision),
            ("negativePredictiveValue", m.negativePredictiveValue, e.negativePredictiveValue), ("f1", m.f1, e.f1),
            ("balancedAccuracy", m.balancedAccuracy, e.balancedAccuracy), ("auroc", m.auroc, e.auroc),
            ("auprc", m.auprc, e.auprc), ("brierScore", m.brierScore, e.brierScore),
            ("expectedCalibrationError", m.expectedCalibrationError, e.expectedCalibrationError),
        ]
        for (name, got, want) in pairs {
            #expect(same(got, want), "\(c.name): \(name) \(String(describing: got)) vs \(String(describing: want))")
            // Every undefined metric says why.
            #expect((got == nil) == (m.undefinedReasons[name] != nil), "\(c.name): \(name) reason")
        }
    }

    @Test(arguments: golden.multiclass.indices)
    func multiclassMatchesScikitLearn(_ index: Int) throws {
        let c = Self.golden.multiclass[index]
        let m = try MulticlassMetrics.compute(labels: c.labels, probabilities: c.probabilities, classCount: c.classCount)
        let e = c.expected
        #expect(m.confusionMatrix == e.confusionMatrix, "\(c.name)")
        #expect(m.perClass.map(\.support) == e.support, "\(c.name)")
        for k in 0..<c.classCount {
            let p = m.perClass[k]
            let pairs: [(String, Double?, Double?)] = [
                ("recall", p.recall, e.recall[k]), ("precision", p.precision, e.precision[k]), ("f1", p.f1, e.f1[k]),
                ("auroc", p.auroc, e.auroc[k]), ("auprc", p.auprc, e.auprc[k]),
                ("specificity", p.specificity, e.specificity[k]),
                ("negativePredictiveValue", p.negativePredictiveValue, e.negativePredictiveValue[k]),
            ]
            for (name, got, want) in pairs {
                #expect(same(got, want), "\(c.name): class \(k) \(name) \(String(describing: got)) vs \(String(describing: want))")
                #expect((got == nil) == (p.undefinedReasons[name] != nil), "\(c.name): class \(k) \(name) reason")
            }
        }
        let pairs: [(String, Double?, Double?)] = [
            ("accuracy", m.accuracy, e.accuracy), ("macroRecall", m.macroRecall, e.macroRecall),
            ("balancedAccuracy", m.balancedAccuracy, e.balancedAccuracy), ("macroF1", m.macroF1, e.macroF1),
            ("macroAUROC", m.macroAUROC, e.macroAUROC), ("macroAUPRC", m.macroAUPRC, e.macroAUPRC),
            ("brierScore", m.brierScore, e.brierScore),
            ("expectedCalibrationError", m.expectedCalibrationError, e.expectedCalibrationError),
        ]
        for (name, got, want) in pairs {
            #expect(same(got, want), "\(c.name): \(name) \(String(describing: got)) vs \(String(describing: want))")
            #expect((got == nil) == (m.undefinedReasons[name] != nil), "\(c.name): \(name) reason")
        }
        // The skipped classes are exactly those without a value.
        #expect(m.macroAUROCSkippedClasses == e.auroc.indices.filter { e.auroc[$0] == nil }, "\(c.name)")
        #expect(m.macroAUPRCSkippedClasses == e.auprc.indices.filter { e.auprc[$0] == nil }, "\(c.name)")
        #expect(m.macroRecallSkippedClasses == e.recall.indices.filter { e.recall[$0] == nil }, "\(c.name)")
    }

    @Test(arguments: golden.binary.indices)
    func thresholdsMatchTheROCCurve(_ index: Int) throws {
        let c = Self.golden.binary[index]
        guard let expected = c.thresholds else {
            // One class only: no threshold can trade sensitivity for specificity.
            #expect(throws: ClinicDataError.self) {
                try DecisionThreshold.choose(labels: c.labels, scores: c.scores, rule: .youden)
            }
            return
        }
        let youden = try DecisionThreshold.choose(labels: c.labels, scores: c.scores, rule: .youden)
        #expect(youden.threshold == expected.youden.threshold, "\(c.name)")
        #expect(close(youden.sensitivity, expected.youden.sensitivity, tolerance: Self.tolerance), "\(c.name)")
        #expect(close(youden.specificity, expected.youden.specificity, tolerance: Self.tolerance), "\(c.name)")
        #expect(close(youden.youdenJ, expected.youden.sensitivity + expected.youden.specificity - 1, tolerance: Self.tolerance))
        for want in expected.targetSensitivity {
            let target = try #require(want.target)
            let got = try DecisionThreshold.choose(labels: c.labels, scores: c.scores, rule: .targetSensitivity(target))
            #expect(got.threshold == want.threshold, "\(c.name): target \(target)")
            #expect(close(got.sensitivity, want.sensitivity, tolerance: Self.tolerance) && got.sensitivity >= target)
            #expect(close(got.specificity, want.specificity, tolerance: Self.tolerance), "\(c.name): target \(target)")
        }
    }

    @Test func bootstrapMatchesResamplesScoredByScikitLearn() throws {
        // The script replays SplitMix64's draws, scores each resample with scikit-learn and takes
        // numpy's quantiles: the same intervals must come out of the rank-once weighted path.
        let expected = try #require(Self.golden.bootstrap)
        let c = try #require(Self.golden.binary.first { $0.name == "scores rounded to 0.1 (ties), threshold 0.3" })
        let b = try MetricBootstrap.binary(
            labels: c.labels, scores: c.scores, threshold: c.threshold, probabilities: c.probabilities,
            resamples: expected.resamples, seed: expected.seed)
        #expect(expected.intervals.count == 5)
        for (name, want) in expected.intervals {
            let got = try #require(b.metrics[name], "\(name)")
            #expect(got.definedResamples == want.defined && got.undefinedResamples == expected.resamples - want.defined)
            let interval = try #require(got.interval, "\(name): \(String(describing: got.reason))")
            #expect(close(interval.low, want.low, tolerance: Self.tolerance), "\(name) low \(interval.low) vs \(want.low)")
            #expect(close(interval.high, want.high, tolerance: Self.tolerance), "\(name) high \(interval.high) vs \(want.high)")
        }
    }
}
