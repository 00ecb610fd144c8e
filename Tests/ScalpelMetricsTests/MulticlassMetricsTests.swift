import Foundation
import ScalpelData
import Testing
@testable import ScalpelMetrics

/// Six rows of three classes, worked through by hand in the multiclass tests.
enum MulticlassExample {
    static let labels: [Int32] = [0, 0, 1, 1, 2, 2]
    static let probabilities: [Float] = [
        0.7, 0.2, 0.1,
        0.3, 0.6, 0.1,
        0.2, 0.5, 0.3,
        0.1, 0.8, 0.1,
        0.2, 0.2, 0.6,
        0.5, 0.1, 0.4,
    ]
}

/// Multiclass metrics against values worked out by hand.
@Suite struct MulticlassMetricsTests {
    // Predicted (argmax): 0, 1, 1, 1, 2, 0.
    let labels = MulticlassExample.labels
    let probabilities = MulticlassExample.probabilities

    @Test func smallExampleByHand() throws {
        let m = try MulticlassMetrics.compute(labels: labels, probabilities: probabilities, classCount: 3)
        #expect(m.confusionMatrix == [[1, 1, 0], [0, 2, 0], [1, 0, 1]])
        #expect(close(m.accuracy, 4.0 / 6))
        #expect(m.perClass.map(\.support) == [2, 2, 2] && m.perClass.map(\.predictedCount) == [2, 3, 1])
        #expect(m.perClass.map(\.recall) == [0.5, 1, 0.5])
        #expect(m.perClass[0].precision == 0.5 && close(m.perClass[1].precision, 2.0 / 3) && m.perClass[2].precision == 1)
        #expect(m.perClass[0].f1 == 0.5 && close(m.perClass[1].f1, 0.8) && close(m.perClass[2].f1, 2.0 / 3))
        // One-vs-rest: class 0 ranks 7 of 8 pairs right, class 1 also 7 of 8, class 2 all 8.
        #expect(m.perClass.map(\.auroc) == [0.875, 0.875, 1])
        #expect(close(m.macroRecall, 2.0 / 3))
        #expect(close(m.macroF1, (0.5 + 0.8 + 2.0 / 3) / 3))
        #expect(close(m.macroAUROC, 2.75 / 3))
        #expect(m.macroRecallSkippedClasses.isEmpty && m.macroF1SkippedClasses.isEmpty && m.macroAUROCSkippedClasses.isEmpty)
        #expect(m.undefinedReasons.isEmpty && m.sampleCount == 6 && m.classCount == 3)
    }

    @Test func tiedProbabilitiesPredictTheLowestClass() throws {
        let m = try MulticlassMetrics.compute(labels: [1, 2], probabilities: [0.4, 0.4, 0.2, 0.1, 0.45, 0.45], classCount: 3)
        #expect(m.confusionMatrix == [[0, 0, 0], [1, 0, 0], [0, 1, 0]])
    }

    @Test func anAbsentClassIsSkippedAndNamed() throws {
        // Class 2 has no rows and is never predicted.
        let m = try MulticlassMetrics.compute(
            labels: [0, 1, 1, 0], probabilities: [0.8, 0.1, 0.1, 0.3, 0.6, 0.1, 0.6, 0.3, 0.1, 0.2, 0.7, 0.1],
            classCount: 3)
        let absent = m.perClass[2]
        #expect(absent.recall == nil && absent.precision == nil && absent.f1 == nil && absent.auroc == nil)
        #expect(absent.undefinedReasons["recall"] == "class 2 has no rows")
        #expect(absent.undefinedReasons["precision"] == "class 2 was never predicted")
        #expect(absent.undefinedReasons["auroc"] == "class 2 has no rows")
        #expect(m.macroRecallSkippedClasses == [2] && m.macroF1SkippedClasses == [2] && m.macroAUROCSkippedClasses == [2])
        // Classes 0 and 1 each rank two of their four pairs right and recall one of two rows.
        #expect(m.macroRecall == 0.5 && m.macroAUROC == 0.5)
    }

    @Test func aClassPredictedButAbsentHasF1ZeroAndNoRecall() throws {
        // Class 1 has no rows but is predicted once (row 0): F1 = 2·0 / (0 + 1 + 0) = 0.
        let absent = try MulticlassMetrics.compute(labels: [0, 0], probabilities: [0.1, 0.9, 0.8, 0.2], classCount: 2)
        #expect(absent.perClass[1].recall == nil && absent.perClass[1].f1 == 0 && absent.perClass[1].precision == 0)
        #expect(absent.macroAUROC == nil && absent.macroAUROCSkippedClasses == [0, 1])
        #expect(absent.undefinedReasons["macroAUROC"] == "undefined for every class")
        #expect(absent.perClass[0].undefinedReasons["auroc"] == "every row is class 0; there is no rest to rank against")
    }

    @Test func undefinedMetricsAreWrittenAsNull() throws {
        let m = try MulticlassMetrics.compute(labels: [0, 0], probabilities: [0.1, 0.9, 0.8, 0.2], classCount: 2)
        let data = try JSONEncoder().encode(m)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(object["macroAUROC"] is NSNull)
        let perClass = try #require(object["perClass"] as? [[String: Any]])
        #expect(perClass[1]["recall"] is NSNull)
        #expect(try JSONDecoder().decode(MulticlassMetrics.self, from: data) == m)
    }

    @Test func invalidInputIsRefused() throws {
        #expect(throws: ClinicDataError.self) { try MulticlassMetrics.compute(labels: [0], probabilities: [1], classCount: 1) }
        #expect(throws: ClinicDataError.self) {
            try MulticlassMetrics.compute(labels: [0, 1], probabilities: [0.5, 0.5, 0.5], classCount: 2)
        }
        #expect(throws: ClinicDataError.self) {
            try MulticlassMetrics.compute(labels: [0, 3], probabilities: [0.5, 0.5, 0.5, 0.5], classCount: 2)
        }
        #expect(throws: ClinicDataError.self) {
            try MulticlassMetrics.compute(labels: [0, 1], probabilities: [0.5, .infinity, 0.5, 0.5], classCount: 2)
        }
    }
}
