import Foundation
import ScalpelData
import Testing
@testable import ScalpelMetrics

/// Choosing the decision threshold on validation scores.
@Suite struct DecisionThresholdTests {
    // From the top: 0.4 (class 1) J ½; 0.3 (class 0) J 0; 0.2 (class 1) J ½; 0.1 (class 0) J 0.
    let labels: [Int32] = [0, 1, 0, 1]
    let scores: [Float] = [0.1, 0.2, 0.3, 0.4]

    @Test func youdenTiesGoToTheHighestThreshold() throws {
        let choice = try DecisionThreshold.choose(labels: labels, scores: scores, rule: .youden)
        #expect(choice.threshold == 0.4 && choice.sensitivity == 0.5 && choice.specificity == 1)
        #expect(choice.youdenJ == 0.5 && choice.support == [2, 2] && choice.rule == .youden)
        // The threshold reproduces its sensitivity and specificity in BinaryMetrics.
        let m = try BinaryMetrics.compute(labels: labels, scores: scores, threshold: choice.threshold)
        #expect(m.sensitivity == choice.sensitivity && m.specificity == choice.specificity)
    }

    @Test func aTargetSensitivityTakesTheHighestThresholdReachingIt() throws {
        let all = try DecisionThreshold.choose(labels: labels, scores: scores, rule: .targetSensitivity(1))
        #expect(all.threshold == 0.2 && all.sensitivity == 1 && all.specificity == 0.5 && all.youdenJ == 0.5)
        let half = try DecisionThreshold.choose(labels: labels, scores: scores, rule: .targetSensitivity(0.5))
        #expect(half.threshold == 0.4 && half.sensitivity == 0.5)
        let most = try DecisionThreshold.choose(labels: labels, scores: scores, rule: .targetSensitivity(0.6))
        #expect(most.threshold == 0.2)
    }

    @Test func tiedScoresAreOneCandidate() throws {
        // Scores 0.5 hold a positive and a negative: the threshold 0.5 takes both or neither.
        let choice = try DecisionThreshold.choose(labels: [0, 1, 0, 1], scores: [0.5, 0.5, 0.1, 0.9], rule: .targetSensitivity(1))
        #expect(choice.threshold == 0.5 && choice.sensitivity == 1 && choice.specificity == 0.5)
        let youden = try DecisionThreshold.choose(labels: [0, 1, 0, 1], scores: [0.5, 0.5, 0.1, 0.9], rule: .youden)
        #expect(youden.threshold == 0.9 && youden.youdenJ == 0.5)
    }

    @Test func refusesWhatCannotChooseAThreshold() throws {
        let oneClass = try #require(throws: ClinicDataError.self) {
            try DecisionThreshold.choose(labels: [1, 1], scores: [0.2, 0.8], rule: .youden)
        }
        #expect(oneClass.description.contains("the validation rows are all class 1"))
        for target in [0.0, 1.5, .nan] {
            #expect(throws: ClinicDataError.self) {
                try DecisionThreshold.choose(labels: labels, scores: scores, rule: .targetSensitivity(target))
            }
        }
        #expect(throws: ClinicDataError.self) {
            try DecisionThreshold.choose(labels: [0, 1], scores: [0.2, .infinity], rule: .youden)
        }
    }

    @Test func isWrittenToJSONAndReadBack() throws {
        let target = try DecisionThreshold.choose(labels: labels, scores: scores, rule: .targetSensitivity(0.9))
        let youden = try DecisionThreshold.choose(labels: labels, scores: scores, rule: .youden)
        for choice in [target, youden] {
            let data = try JSONEncoder().encode(choice)
            #expect(try JSONDecoder().decode(DecisionThreshold.self, from: data) == choice)
        }
        let object = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(target)) as? [String: Any])
        #expect(object["rule"] as? String == "targetSensitivity" && object["targetSensitivity"] as? Double == 0.9)
        let y = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(youden)) as? [String: Any])
        #expect(y["rule"] as? String == "youden" && y["targetSensitivity"] is NSNull)
    }
}
