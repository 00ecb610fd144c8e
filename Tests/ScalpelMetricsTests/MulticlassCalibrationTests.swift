import Foundation
import ScalpelData
import Testing
@testable import ScalpelMetrics

/// The multiclass one-vs-rest rates, AUPRC and calibration metrics against values worked out by hand.
@Suite struct MulticlassCalibrationTests {
    // The example of MulticlassMetricsTests. Predicted (argmax): 0, 1, 1, 1, 2, 0.
    let labels = MulticlassExample.labels
    let probabilities = MulticlassExample.probabilities

    @Test func oneVersusRestRatesByHand() throws {
        // Confusion [[1, 1, 0], [0, 2, 0], [1, 0, 1]]. Class 0: TP 1, FP 1, FN 1, TN 3;
        // class 1: TP 2, FP 1, FN 0, TN 3; class 2: TP 1, FP 0, FN 1, TN 4.
        let m = try MulticlassMetrics.compute(labels: labels, probabilities: probabilities, classCount: 3)
        #expect(m.perClass.map(\.specificity) == [0.75, 0.75, 1])
        #expect(m.perClass.map(\.negativePredictiveValue) == [0.75, 1, 0.8])
        #expect(m.balancedAccuracy == m.macroRecall && m.balancedAccuracy != nil)
    }

    @Test func averagePrecisionByHand() throws {
        let m = try MulticlassMetrics.compute(labels: labels, probabilities: probabilities, classCount: 3)
        // Class 0's column from the top: 0.7 (yes), 0.5 (no), 0.3 (yes): ½·1 + ½·⅔.
        // Class 1's: 0.8 (yes), 0.6 (no), 0.5 (yes): the same. Class 2's: its rows rank first.
        #expect(close(m.perClass[0].auprc, 5.0 / 6) && close(m.perClass[1].auprc, 5.0 / 6))
        #expect(m.perClass[2].auprc == 1)
        #expect(close(m.macroAUPRC, (5.0 / 6 + 5.0 / 6 + 1) / 3) && m.macroAUPRCSkippedClasses.isEmpty)
    }

    @Test func brierAndTopLabelCalibrationByHand() throws {
        let m = try MulticlassMetrics.compute(labels: labels, probabilities: probabilities, classCount: 3)
        // Σₖ (pₖ − yₖ)² per row: 0.14, 0.86, 0.38, 0.06, 0.24, 0.62; mean 2.3 / 6.
        #expect(close(m.brierScore, 2.3 / 6, tolerance: 1e-7))
        // Confidences 0.7 (right), 0.6 (wrong), 0.5 (right), 0.8 (right), 0.6 (right), 0.5 (wrong)
        // in bins 10, 9, 7, 12, 9, 7: |1 − 0.7| + |1 − 1.2| + |1 − 1.0| + |1 − 0.8| = 0.7, over 6.
        #expect(close(m.expectedCalibrationError, 0.7 / 6, tolerance: 1e-7))
    }

    @Test func logProbabilitiesNeedCalibrationProbabilities() throws {
        let logProbabilities = probabilities.map { Float(Foundation.log(Double($0))) }
        let m = try MulticlassMetrics.compute(labels: labels, probabilities: logProbabilities, classCount: 3)
        #expect(m.brierScore == nil && m.expectedCalibrationError == nil)
        let reason = try #require(m.undefinedReasons["brierScore"])
        #expect(reason.hasPrefix("the scores are not probabilities (value "))
        #expect(reason.hasSuffix("and no calibration probabilities were given"))
        // The rankings and predictions are the same for log-probabilities.
        let reference = try MulticlassMetrics.compute(labels: labels, probabilities: probabilities, classCount: 3)
        #expect(m.confusionMatrix == reference.confusionMatrix && m.macroAUROC == reference.macroAUROC)
        #expect(m.macroAUPRC == reference.macroAUPRC)

        let calibrated = try MulticlassMetrics.compute(
            labels: labels, probabilities: logProbabilities, classCount: 3, calibrationProbabilities: probabilities)
        #expect(calibrated.brierScore == reference.brierScore)
        #expect(calibrated.expectedCalibrationError == reference.expectedCalibrationError)
        #expect(calibrated.undefinedReasons.isEmpty)
    }

    @Test func rowsThatDoNotSumToOneAreNotCalibrated() throws {
        let m = try MulticlassMetrics.compute(labels: [0, 1], probabilities: [0.6, 0.3, 0.2, 0.8], classCount: 2)
        #expect(m.brierScore == nil)
        #expect(m.undefinedReasons["expectedCalibrationError"]?.contains("row 0 sums to 0.9") == true)
        let refused = try #require(throws: ClinicDataError.self) {
            try MulticlassMetrics.compute(
                labels: [0, 1], probabilities: [0.6, 0.3, 0.2, 0.8], classCount: 2,
                calibrationProbabilities: [0.6, 0.3, 0.2, 0.8])
        }
        #expect(refused.description.hasPrefix("MulticlassMetrics: calibration probabilities: row 0 sums to 0.9"))
        #expect(throws: ClinicDataError.self) {
            try MulticlassMetrics.compute(
                labels: [0, 1], probabilities: [0.6, 0.4, 0.2, 0.8], classCount: 2, calibrationProbabilities: [1, 0])
        }
    }

    @Test func anAbsentClassHasNoAUPRCAndEveryRowOneClassHasNoSpecificity() throws {
        // Class 2 has no rows; class 1 is never predicted.
        let m = try MulticlassMetrics.compute(
            labels: [0, 1, 1, 0], probabilities: [0.8, 0.1, 0.1, 0.6, 0.3, 0.1, 0.6, 0.3, 0.1, 0.7, 0.2, 0.1],
            classCount: 3)
        #expect(m.perClass[2].auprc == nil && m.perClass[2].undefinedReasons["auprc"] == "class 2 has no rows")
        #expect(m.macroAUPRCSkippedClasses == [2])
        // Every row predicted as class 0: its NPV is undefined; class 2's specificity is 1.
        #expect(m.perClass[0].negativePredictiveValue == nil)
        #expect(m.perClass[0].undefinedReasons["negativePredictiveValue"] == "every row was predicted as class 0")
        #expect(m.perClass[2].specificity == 1)

        let single = try MulticlassMetrics.compute(labels: [1, 1], probabilities: [0.3, 0.7, 0.6, 0.4], classCount: 2)
        #expect(single.perClass[1].specificity == nil && single.perClass[1].auprc == 1)
        #expect(single.perClass[1].undefinedReasons["specificity"] == "every row is class 1; there is no other class to clear")
    }

    @Test func newMetricsAreWrittenToJSONAndReadBack() throws {
        let m = try MulticlassMetrics.compute(labels: [0, 0], probabilities: [0.1, 0.9, 0.8, 0.2], classCount: 2)
        let data = try JSONEncoder().encode(m)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        // Class 1 has no rows: no AUPRC of its own; class 0 has only its own rows: AUPRC 1.
        #expect((object["macroAUPRC"] as? Double) == 1 && object["macroAUROC"] is NSNull && object["brierScore"] is Double)
        let perClass = try #require(object["perClass"] as? [[String: Any]])
        #expect(perClass[1]["auprc"] is NSNull && perClass[0]["specificity"] is NSNull)
        #expect(try JSONDecoder().decode(MulticlassMetrics.self, from: data) == m)
    }
}
