import Foundation
import ScalpelData
import Testing
@testable import ScalpelMetrics

/// The binary ranking and calibration metrics (AUPRC, Brier score, ECE) against values worked
/// out by hand.
@Suite struct BinaryCalibrationTests {
    @Test func averagePrecisionByHand() throws {
        // scikit-learn's own example: from the top, 0.8 (positive) recall ½ at precision 1, then
        // 0.4 (negative), then 0.35 (positive) recall 1 at precision ⅔: ½·1 + ½·⅔ = ⅚.
        let m = try BinaryMetrics.compute(labels: [0, 0, 1, 1], scores: [0.1, 0.4, 0.35, 0.8])
        #expect(close(m.auprc, 5.0 / 6))
        // A tie between a positive and a negative is one threshold: recall 1 at precision ½.
        let tied = try BinaryMetrics.compute(labels: [0, 1], scores: [0.5, 0.5])
        #expect(tied.auprc == 0.5 && tied.auroc == 0.5)
        // The ranking metrics do not care whether the scores are probabilities or log-odds.
        let logOdds = try BinaryMetrics.compute(labels: [0, 0, 1, 1], scores: [-2.2, -0.4, -0.6, 1.4], threshold: 0)
        #expect(logOdds.auprc == m.auprc && logOdds.auroc == m.auroc)
    }

    @Test func averagePrecisionNeedsPositivesButNotNegatives() throws {
        let negatives = try BinaryMetrics.compute(labels: [0, 0], scores: [0.1, 0.7])
        #expect(negatives.auprc == nil)
        #expect(negatives.undefinedReasons["auprc"] == "no class 1 rows, so there is no recall to trade against precision")
        // Only positives: precision is 1 at every threshold, as in scikit-learn.
        let positives = try BinaryMetrics.compute(labels: [1, 1, 1], scores: [0.1, 0.7, 0.3])
        #expect(positives.auprc == 1 && positives.auroc == nil)
    }

    @Test func brierAndCalibrationErrorByHand() throws {
        let labels: [Int32] = [0, 1, 1, 0]
        let probabilities: [Float] = [0.1, 0.8, 0.6, 0.3]
        let m = try BinaryMetrics.compute(labels: labels, scores: probabilities, probabilities: probabilities)
        // (0.01 + 0.04 + 0.16 + 0.09) / 4, up to float32 rounding of the probabilities.
        #expect(close(m.brierScore, 0.075, tolerance: 1e-7))
        // Bins 1, 12, 9 and 4 of 15, one row each: (0.1 + 0.2 + 0.4 + 0.3) / 4.
        #expect(close(m.expectedCalibrationError, 0.25, tolerance: 1e-7))

        // 0.2 and 0.25 share bin 3 ([0.2, 0.267)): |1 − 0.45| · 2/4; 1.0 lies in the last bin,
        // and 0.0 in the first: |1 − 1| + |0 − 0| = 0.
        let shared = try BinaryMetrics.compute(
            labels: [1, 0, 1, 0], scores: [0.2, 0.25, 1, 0], probabilities: [0.2, 0.25, 1, 0])
        #expect(close(shared.expectedCalibrationError, 0.55 / 4, tolerance: 1e-7))
        #expect(MetricSupport.calibrationBin(1) == 14 && MetricSupport.calibrationBin(0) == 0)
        #expect(MetricSupport.calibrationBin(Float(1) / 15) == 1 && MetricSupport.calibrationBin(0.0666) == 0)
        #expect(BinaryMetrics.calibrationBinCount == 15)
    }

    @Test func calibrationNeedsProbabilities() throws {
        let m = try BinaryMetrics.compute(labels: [0, 1], scores: [-1.5, 2], threshold: 0)
        #expect(m.brierScore == nil && m.expectedCalibrationError == nil)
        #expect(m.undefinedReasons["brierScore"] == "no probabilities were given (the scores need not be probabilities)")
        #expect(m.undefinedReasons["expectedCalibrationError"] != nil)
        // The scores rank and threshold; the probabilities only calibrate.
        let withProbabilities = try BinaryMetrics.compute(
            labels: [0, 1], scores: [-1.5, 2], threshold: 0, probabilities: [0.25, 0.75])
        #expect(withProbabilities.brierScore == 0.0625 && withProbabilities.expectedCalibrationError == 0.25)
        #expect(withProbabilities.accuracy == 1 && withProbabilities.undefinedReasons.isEmpty)
    }

    @Test func invalidProbabilitiesAreRefused() throws {
        let range = try #require(throws: ClinicDataError.self) {
            try BinaryMetrics.compute(labels: [0, 1], scores: [0, 1], probabilities: [0.2, 1.5])
        }
        #expect(range.description == "BinaryMetrics: probabilities: value 1.5 of row 1 is not in [0, 1]")
        let count = try #require(throws: ClinicDataError.self) {
            try BinaryMetrics.compute(labels: [0, 1], scores: [0, 1], probabilities: [0.2])
        }
        #expect(count.description == "BinaryMetrics: 2 labels need 2 probabilities, got 1")
        #expect(throws: ClinicDataError.self) {
            try BinaryMetrics.compute(labels: [0, 1], scores: [0, 1], probabilities: [.nan, 0.5])
        }
    }

    @Test func newMetricsAreWrittenToJSONAndReadBack() throws {
        let m = try BinaryMetrics.compute(labels: [0, 1, 1], scores: [0.2, 0.9, 0.4])
        let data = try JSONEncoder().encode(m)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(object["brierScore"] is NSNull && object["expectedCalibrationError"] is NSNull)
        #expect((object["auprc"] as? Double) == 1)
        #expect(try JSONDecoder().decode(BinaryMetrics.self, from: data) == m)

        // A metrics.json written before these metrics existed still reads, with them nil.
        var old = object
        for key in ["auprc", "brierScore", "expectedCalibrationError"] { old[key] = nil }
        let read = try JSONDecoder().decode(BinaryMetrics.self, from: JSONSerialization.data(withJSONObject: old))
        #expect(read.auprc == nil && read.auroc == m.auroc && read.sensitivity == m.sensitivity)
    }
}
