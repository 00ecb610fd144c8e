import Foundation
import ScalpelMetrics
import Testing

/// Temperature scaling: the fit recovers a known over-confidence and lowers the calibration error.
struct TemperatureScalingTests {
    /// Rows whose true class probabilities are softmax(z), with labels drawn from them, and the
    /// logits a model five times too confident gives (5·z).
    func overConfident(rows: Int, classes: Int, seed: UInt64) -> (logits: [Float], labels: [Int32]) {
        var state = seed
        func uniform() -> Double {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Double(state >> 11) / Double(1 << 53)
        }
        var logits: [Float] = [], labels: [Int32] = []
        for _ in 0 ..< rows {
            let z: [Double] = (0 ..< classes).map { _ in uniform() * 2 - 1 }
            let e: [Double] = z.map { Foundation.exp($0) }
            let sum: Double = e.reduce(0, +)
            var u = uniform(), label = classes - 1
            for c in 0 ..< classes { u -= e[c] / sum; if u < 0 { label = c; break } }
            labels.append(Int32(label))
            logits += z.map { (v: Double) -> Float in Float(5 * v) }
        }
        return (logits, labels)
    }

    @Test func theFitRecoversTheOverConfidenceAndLowersTheECE() throws {
        let (logits, labels) = overConfident(rows: 4000, classes: 2, seed: 3)
        let scaling = try TemperatureScaling.fit(logProbabilities: logits, labels: labels, classes: 2)
        let temperature: Float = scaling.temperature
        #expect(abs(temperature - 5) < 0.6, "T = \(temperature)")
        func ece(_ scores: [Float]) throws -> Double {
            let logOdds: [Float] = (0 ..< labels.count).map { (r: Int) -> Float in scores[r * 2 + 1] - scores[r * 2] }
            let probabilities: [Float] = logOdds.map { (z: Float) -> Float in Float(1 / (1 + Foundation.exp(-Double(z)))) }
            return try #require(try BinaryMetrics.compute(labels: labels, scores: logOdds, threshold: 0, probabilities: probabilities).expectedCalibrationError)
        }
        let before = try ece(logits), after = try ece(scaling.apply(logProbabilities: logits, classes: 2))
        #expect(after < before / 2, "ECE \(before) → \(after)")
        // Rankings and the most probable class are unchanged.
        let calibrated = scaling.apply(logProbabilities: logits, classes: 2)
        for r in 0 ..< 50 { #expect((logits[r * 2 + 1] > logits[r * 2]) == (calibrated[r * 2 + 1] > calibrated[r * 2])) }
    }

    @Test func aCalibratedModelKeepsATemperatureNearOne() throws {
        let (logits, labels) = overConfident(rows: 4000, classes: 4, seed: 9)
        let honest = logits.map { $0 / 5 }
        let scaling = try TemperatureScaling.fit(logProbabilities: honest, labels: labels, classes: 4)
        let temperature: Float = scaling.temperature
        #expect(abs(temperature - 1) < 0.15, "T = \(temperature)")
        // The log-probabilities of each row sum (as probabilities) to 1.
        let out = scaling.apply(logProbabilities: honest, classes: 4)
        let total: Double = out[0 ..< 4].map { (v: Float) -> Double in Foundation.exp(Double(v)) }.reduce(0, +)
        #expect(abs(total - 1) < 1e-5)
    }

    @Test func badInputIsRefused() {
        #expect(throws: TemperatureScalingError.self) { try TemperatureScaling.fit(logProbabilities: [], labels: [], classes: 2) }
        #expect(throws: TemperatureScalingError.self) { try TemperatureScaling.fit(logProbabilities: [0, 1], labels: [2], classes: 2) }
        #expect(throws: TemperatureScalingError.self) { try TemperatureScaling.fit(logProbabilities: [0, .nan], labels: [1], classes: 2) }
    }
}
