import Foundation
import ScalpelData
import Testing
@testable import ScalpelMetrics

/// Binary diagnosis metrics against values worked out by hand.
@Suite struct BinaryMetricsTests {
    @Test func smallExampleByHand() throws {
        // Predictions at 0.5: [0, 0, 0, 1] → TN 2, FP 0, FN 1, TP 1.
        let m = try BinaryMetrics.compute(labels: [0, 0, 1, 1], scores: [0.1, 0.4, 0.35, 0.8])
        #expect(m.confusion == .init(trueNegatives: 2, falsePositives: 0, falseNegatives: 1, truePositives: 1))
        #expect(m.support == [2, 2] && m.sampleCount == 4 && m.threshold == 0.5)
        #expect(m.accuracy == 0.75)
        #expect(m.sensitivity == 0.5 && m.specificity == 1 && m.precision == 1)
        #expect(close(m.negativePredictiveValue, 2.0 / 3) && close(m.f1, 2.0 / 3))
        #expect(m.balancedAccuracy == 0.75)
        // Of the four (positive, negative) pairs only (0.35, 0.4) is ranked wrongly: 3/4.
        #expect(m.auroc == 0.75)
        // Without probabilities only the calibration metrics are undefined.
        #expect(Set(m.undefinedReasons.keys) == ["brierScore", "expectedCalibrationError"])
    }

    @Test func tiedScoresCountHalfInAUROC() throws {
        // Pairs: (0.5 vs 0.5) ½, (0.5 vs 0.2) 1, (0.9 vs 0.5) 1, (0.9 vs 0.2) 1 → 3.5 / 4.
        let m = try BinaryMetrics.compute(labels: [0, 1, 0, 1], scores: [0.5, 0.5, 0.2, 0.9])
        #expect(m.auroc == 0.875)
        let allTied = try BinaryMetrics.compute(labels: [0, 1, 1, 0, 1], scores: [0.3, 0.3, 0.3, 0.3, 0.3])
        #expect(allTied.auroc == 0.5)
        let reversed = try BinaryMetrics.compute(labels: [1, 1, 0], scores: [0.1, 0.2, 0.9])
        #expect(reversed.auroc == 0)
    }

    @Test func aScoreEqualToTheThresholdIsPositive() throws {
        let m = try BinaryMetrics.compute(labels: [0, 1, 1], scores: [0.2, 0.3, 0.7], threshold: 0.3)
        #expect(m.confusion.truePositives == 2 && m.confusion.trueNegatives == 1 && m.accuracy == 1)
    }

    @Test func oneClassPresentLeavesAUROCAndSensitivityUndefined() throws {
        let m = try BinaryMetrics.compute(labels: [0, 0, 0], scores: [0.1, 0.6, 0.2])
        #expect(m.auroc == nil && m.sensitivity == nil && m.balancedAccuracy == nil)
        #expect(m.undefinedReasons["auroc"] == "only class 0 is present; ranking needs rows of both classes")
        #expect(m.undefinedReasons["sensitivity"] == "no class 1 rows, so no positive is there to find")
        #expect(m.specificity == 2.0 / 3 && m.precision == 0 && m.f1 == 0)
        #expect(m.undefinedReasons["f1"] == nil && m.undefinedReasons["precision"] == nil)

        let positives = try BinaryMetrics.compute(labels: [1, 1], scores: [0.9, 0.2])
        #expect(positives.specificity == nil && positives.undefinedReasons["specificity"] != nil)
        #expect(positives.undefinedReasons["auroc"] == "only class 1 is present; ranking needs rows of both classes")
    }

    @Test func noPositivePredictionsLeavesPrecisionUndefined() throws {
        let m = try BinaryMetrics.compute(labels: [0, 1, 0], scores: [0.1, 0.2, 0.3])
        #expect(m.precision == nil)
        #expect(m.undefinedReasons["precision"] == "no row scored at least the threshold 0.5")
        // The positive (0.2) outranks one negative (0.1) and not the other (0.3).
        #expect(m.sensitivity == 0 && m.f1 == 0 && m.auroc == 0.5)

        let nothing = try BinaryMetrics.compute(labels: [0, 0], scores: [0.1, 0.2])
        #expect(nothing.f1 == nil && nothing.undefinedReasons["f1"] == "no class 1 rows and no positive predictions")
        let allPositive = try BinaryMetrics.compute(labels: [0, 1], scores: [0.6, 0.7])
        #expect(allPositive.negativePredictiveValue == nil && allPositive.undefinedReasons["negativePredictiveValue"] != nil)
    }

    @Test func undefinedMetricsAreWrittenAsNullAndReadBack() throws {
        let m = try BinaryMetrics.compute(labels: [0, 0], scores: [0.1, 0.2])
        let data = try JSONEncoder().encode(m)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(object["auroc"] is NSNull && object["precision"] is NSNull)
        #expect((object["undefinedReasons"] as? [String: String])?["auroc"] != nil)
        #expect(try JSONDecoder().decode(BinaryMetrics.self, from: data) == m)
    }

    @Test func invalidInputIsRefused() throws {
        #expect(throws: ClinicDataError.self) { try BinaryMetrics.compute(labels: [], scores: []) }
        #expect(throws: ClinicDataError.self) { try BinaryMetrics.compute(labels: [0, 1], scores: [0.5]) }
        let label = try #require(throws: ClinicDataError.self) {
            try BinaryMetrics.compute(labels: [0, 2], scores: [0.5, 0.5])
        }
        #expect(label.description == "BinaryMetrics: label 2 of row 1 is not a class index below 2")
        let nan = try #require(throws: ClinicDataError.self) {
            try BinaryMetrics.compute(labels: [0, 1], scores: [.nan, 0.5])
        }
        #expect(nan.description == "BinaryMetrics: score nan of row 0 is not finite")
        #expect(throws: ClinicDataError.self) { try BinaryMetrics.compute(labels: [0, 1], scores: [0, 1], threshold: .nan) }
    }
}
