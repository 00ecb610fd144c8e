import Foundation
import Testing
@testable import ScalpelClinic

/// The metrics against scikit-learn on a few hundred fixed random predictions
/// (Fixtures/clinic_golden.json, written by scripts/clinic_golden.py).
@Suite struct GoldenMetricsTests {
    struct Golden: Decodable {
        struct Binary: Decodable {
            struct Expected: Decodable {
                let accuracy, sensitivity, specificity, precision, negativePredictiveValue: Double
                let f1, balancedAccuracy, auroc: Double
                let confusion: [Int]
            }
            let name: String
            let labels: [Int32]
            let scores: [Float]
            let threshold: Float
            let expected: Expected
        }
        struct Multiclass: Decodable {
            struct Expected: Decodable {
                let accuracy, macroRecall, macroF1, macroAUROC: Double
                let recall, precision, f1, auroc: [Double]
                let support: [Int]
                let confusionMatrix: [[Int]]
            }
            let name: String
            let classCount: Int
            let labels: [Int32]
            let probabilities: [Float]
            let expected: Expected
        }
        let binary: [Binary]
        let multiclass: [Multiclass]
    }

    static let golden: Golden = {
        // A missing or broken fixture fails the test that reads it, with the decoding error.
        (try? JSONDecoder().decode(Golden.self, from: Data(contentsOf: goldenURL))) ?? Golden(binary: [], multiclass: [])
    }()

    static let tolerance = 1e-9

    @Test func fixtureHasTheExpectedCases() throws {
        let golden = try JSONDecoder().decode(Golden.self, from: Data(contentsOf: goldenURL))
        #expect(golden.binary.count == 2 && golden.multiclass.count == 2)
        #expect(golden.binary.allSatisfy { $0.labels.count == 300 && $0.scores.count == 300 })
        #expect(golden.multiclass.allSatisfy { $0.labels.count == 300 && $0.probabilities.count == 900 })
    }

    @Test(arguments: golden.binary.indices)
    func binaryMatchesScikitLearn(_ index: Int) throws {
        let c = Self.golden.binary[index]
        let m = try BinaryMetrics.compute(labels: c.labels, scores: c.scores, threshold: c.threshold)
        let e = c.expected
        let confusion = m.confusion
        #expect(
            [confusion.trueNegatives, confusion.falsePositives, confusion.falseNegatives, confusion.truePositives]
                == e.confusion, "\(c.name)")
        let pairs: [(String, Double?, Double)] = [
            ("accuracy", m.accuracy, e.accuracy), ("sensitivity", m.sensitivity, e.sensitivity),
            ("specificity", m.specificity, e.specificity), ("precision", m.precision, e.precision),
            ("npv", m.negativePredictiveValue, e.negativePredictiveValue), ("f1", m.f1, e.f1),
            ("balancedAccuracy", m.balancedAccuracy, e.balancedAccuracy), ("auroc", m.auroc, e.auroc),
        ]
        for (name, got, want) in pairs {
            #expect(close(got, want, tolerance: Self.tolerance), "\(c.name): \(name) \(String(describing: got)) vs \(want)")
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
            #expect(close(p.recall, e.recall[k], tolerance: Self.tolerance), "\(c.name): recall \(k)")
            #expect(close(p.precision, e.precision[k], tolerance: Self.tolerance), "\(c.name): precision \(k)")
            #expect(close(p.f1, e.f1[k], tolerance: Self.tolerance), "\(c.name): f1 \(k)")
            #expect(close(p.auroc, e.auroc[k], tolerance: Self.tolerance), "\(c.name): auroc \(k)")
        }
        #expect(close(m.accuracy, e.accuracy, tolerance: Self.tolerance), "\(c.name)")
        #expect(close(m.macroRecall, e.macroRecall, tolerance: Self.tolerance), "\(c.name)")
        #expect(close(m.macroF1, e.macroF1, tolerance: Self.tolerance), "\(c.name)")
        #expect(close(m.macroAUROC, e.macroAUROC, tolerance: Self.tolerance), "\(c.name)")
    }
}
