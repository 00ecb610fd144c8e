import Foundation

/// Temperature scaling (Guo et al. 2017): one number T > 0 that divides every logit, fitted to
/// minimise the negative log-likelihood on held-out (validation) rows. It leaves every row's
/// most probable class and the ranking of the scores unchanged (AUROC too) and repairs a model
/// that is over-confident (T > 1) or under-confident (T < 1).
public struct TemperatureScaling: Codable, Sendable, Equatable {
    /// The checkpoint metadata key a fitted temperature is stored under.
    public static let metadataKey = "temperature"

    /// The temperature T the logits are divided by.
    public let temperature: Float

    /// A scaling by a known temperature.
    /// - Parameter temperature: T, positive and finite.
    public init(temperature: Float) { self.temperature = temperature }

    /// Fits T on rows whose log-probabilities (or logits: the fit is the same, softmax being blind
    /// to a shift per row) and labels are given: Newton's method on β = 1/T, where the mean
    /// negative log-likelihood is convex, kept to T in [0.01, 100].
    /// - Parameters:
    ///   - logProbabilities: rows × classes log-probabilities (or logits) of the model as trained.
    ///   - labels: Each row's class, in 0..<classes.
    ///   - classes: The number of classes (at least 2).
    /// - Returns: The fitted scaling.
    /// - Throws: `TemperatureScalingError` when there are no rows, the shapes disagree, a label is out of range or a score is not finite.
    public static func fit(logProbabilities: [Float], labels: [Int32], classes: Int) throws -> TemperatureScaling {
        guard classes >= 2, !labels.isEmpty, logProbabilities.count == labels.count * classes else {
            throw TemperatureScalingError("temperature scaling needs rows × classes scores and one label per row "
                + "(\(logProbabilities.count) scores, \(labels.count) labels, \(classes) classes)")
        }
        guard labels.allSatisfy({ $0 >= 0 && Int($0) < classes }) else {
            throw TemperatureScalingError("temperature scaling: a label lies outside 0..<\(classes)")
        }
        guard logProbabilities.allSatisfy(\.isFinite) else {
            throw TemperatureScalingError("temperature scaling: a score is not finite")
        }
        let z = logProbabilities.map(Double.init)
        let n = labels.count
        // The mean NLL at β, its first and second derivatives: per row, log Σ exp(β z) − β z_y;
        // d/dβ = E_p[z] − z_y, d²/dβ² = Var_p[z] (p = softmax(β z)).
        func objective(_ beta: Double) -> (value: Double, slope: Double, curvature: Double) {
            var value = 0.0, slope = 0.0, curvature = 0.0
            for r in 0 ..< n {
                let row = z[(r * classes) ..< ((r + 1) * classes)]
                let top = row.max()! * beta
                var sum = 0.0, first = 0.0, second = 0.0
                for v in row {
                    let e = Foundation.exp(beta * v - top)
                    sum += e
                    first += e * v
                    second += e * v * v
                }
                let mean = first / sum
                value += top + Foundation.log(sum) - beta * z[r * classes + Int(labels[r])]
                slope += mean - z[r * classes + Int(labels[r])]
                curvature += second / sum - mean * mean
            }
            return (value / Double(n), slope / Double(n), curvature / Double(n))
        }
        let (low, high) = (0.01, 100.0)
        var beta = 1.0
        var current = objective(beta)
        for _ in 0 ..< 100 {
            guard abs(current.slope) > 1e-10 else { break }
            // A Newton step where the curvature is positive, else a gradient step; halved until it lowers the NLL.
            var step = current.curvature > 1e-12 ? -current.slope / current.curvature : -current.slope
            var improved = false
            for _ in 0 ..< 50 {
                let candidate = min(max(beta + step, low), high)
                let next = objective(candidate)
                if next.value <= current.value {
                    improved = candidate != beta
                    (beta, current) = (candidate, next)
                    break
                }
                step /= 2
            }
            guard improved else { break }
        }
        return TemperatureScaling(temperature: Float(1 / beta))
    }

    /// `logProbabilities` (rows × classes) rescaled: log softmax(z / T) for each row.
    /// - Parameters:
    ///   - logProbabilities: The model's log-probabilities or logits.
    ///   - classes: The number of classes.
    /// - Returns: The calibrated log-probabilities.
    public func apply(logProbabilities: [Float], classes: Int) -> [Float] {
        var out = [Float](repeating: 0, count: logProbabilities.count)
        let t = Double(temperature)
        for r in 0 ..< logProbabilities.count / classes {
            let row = (r * classes) ..< ((r + 1) * classes)
            let scaled = logProbabilities[row].map { Double($0) / t }
            let top = scaled.max()!
            let logSum = top + Foundation.log(scaled.reduce(0) { $0 + Foundation.exp($1 - top) })
            for (offset, v) in scaled.enumerated() { out[r * classes + offset] = Float(v - logSum) }
        }
        return out
    }
}

/// Why a temperature could not be fitted.
public struct TemperatureScalingError: Error, CustomStringConvertible {
    /// What was wrong.
    public let description: String
    init(_ description: String) { self.description = description }
}
