/// Per-column standardisation, `(x − mean) / std`, with statistics taken from training rows.
///
/// Fit it on the training rows only and apply the same statistics to validation, test and
/// future patients: statistics that had seen the test rows would leak them into training.
/// Codable, so it is saved with a checkpoint and a deployed model scales inputs exactly as in
/// training.
public struct Standardizer: Codable, Equatable, Sendable {
    /// The training mean of each column.
    public let means: [Float]
    /// The population standard deviation of each column over the training rows; 1 for a
    /// column that is constant there, which then maps to 0 rather than dividing by zero.
    public let standardDeviations: [Float]
    /// The columns that were constant over the training rows (their deviation was replaced by 1).
    public let constantColumns: [Int]
    /// The number of training rows the statistics came from.
    public let fittedRowCount: Int

    /// The number of columns this standardiser expects.
    public var featureCount: Int { means.count }

    private init(means: [Float], standardDeviations: [Float], constantColumns: [Int], fittedRowCount: Int) {
        self.means = means
        self.standardDeviations = standardDeviations
        self.constantColumns = constantColumns
        self.fittedRowCount = fittedRowCount
    }

    /// Decodes a saved standardiser, refusing one whose statistics could not have come from
    /// `fit`: a checkpoint edited by hand or cut short must fail on loading, not scale a
    /// patient's values by a zero or a missing deviation.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        means = try container.decode([Float].self, forKey: .means)
        standardDeviations = try container.decode([Float].self, forKey: .standardDeviations)
        constantColumns = try container.decode([Int].self, forKey: .constantColumns)
        fittedRowCount = try container.decode(Int.self, forKey: .fittedRowCount)
        let valid = !means.isEmpty && means.count == standardDeviations.count
            && means.allSatisfy(\.isFinite) && standardDeviations.allSatisfy { $0.isFinite && $0 > 0 }
            && constantColumns.allSatisfy { means.indices.contains($0) } && fittedRowCount > 0
        guard valid else {
            throw DecodingError.dataCorrupted(.init(
                codingPath: decoder.codingPath,
                debugDescription: "Standardizer: \(means.count) means and \(standardDeviations.count) deviations; "
                    + "they must match in number, be finite, and the deviations positive"))
        }
    }

    /// Computes each column's mean and population standard deviation over the rows at
    /// `rows` of the row-major matrix `features`.
    ///
    /// The sums run in Double, in two passes (mean first, then squared deviations), so that
    /// columns with a large offset and a small spread (areas in the thousands, say) keep their
    /// precision.
    /// - Throws: `ClinicDataError.invalidInput` if `features` is not a whole number of rows,
    ///   `rows` is empty, or a row index is out of range.
    public static func fit(features: [Float], rows: [Int], featureCount: Int) throws(ClinicDataError) -> Standardizer {
        let rowCount = try checkShape(features, featureCount: featureCount)
        if rows.isEmpty { throw .invalidInput(reason: "Standardizer.fit needs at least one training row") }
        if let bad = rows.first(where: { !(0..<rowCount).contains($0) }) {
            throw .invalidInput(reason: "Standardizer.fit: row \(bad) is outside the \(rowCount) rows")
        }

        var sums = [Double](repeating: 0, count: featureCount)
        for row in rows {
            for column in 0..<featureCount { sums[column] += Double(features[row * featureCount + column]) }
        }
        let means = sums.map { $0 / Double(rows.count) }
        var squares = [Double](repeating: 0, count: featureCount)
        for row in rows {
            for column in 0..<featureCount {
                let deviation = Double(features[row * featureCount + column]) - means[column]
                squares[column] += deviation * deviation
            }
        }
        let deviations = squares.map { ($0 / Double(rows.count)).squareRoot() }
        let constant = deviations.indices.filter { Float(deviations[$0]) == 0 }
        return Standardizer(
            means: means.map { Float($0) },
            standardDeviations: deviations.map { Float($0) == 0 ? 1 : Float($0) },
            constantColumns: constant,
            fittedRowCount: rows.count)
    }

    /// Standardises every row of the row-major matrix `features`.
    /// - Throws: `ClinicDataError.invalidInput` if `features` is not a whole number of rows of
    ///   `featureCount` columns.
    public func transform(_ features: [Float]) throws(ClinicDataError) -> [Float] {
        _ = try Self.checkShape(features, featureCount: featureCount)
        var result = features
        for index in result.indices {
            let column = index % featureCount
            result[index] = (result[index] - means[column]) / standardDeviations[column]
        }
        return result
    }

    /// Standardises the rows at `rows` of the row-major matrix `features`, returning them in
    /// that order as a matrix of their own.
    /// - Throws: `ClinicDataError.invalidInput` for a shape mismatch or a row out of range.
    public func transform(_ features: [Float], rows: [Int]) throws(ClinicDataError) -> [Float] {
        let rowCount = try Self.checkShape(features, featureCount: featureCount)
        var result: [Float] = []
        result.reserveCapacity(rows.count * featureCount)
        for row in rows {
            guard (0..<rowCount).contains(row) else {
                throw .invalidInput(reason: "Standardizer.transform: row \(row) is outside the \(rowCount) rows")
            }
            for column in 0..<featureCount {
                result.append((features[row * featureCount + column] - means[column]) / standardDeviations[column])
            }
        }
        return result
    }

    /// Maps standardised values back to the original units (for reporting inputs a model saw).
    /// - Throws: `ClinicDataError.invalidInput` for a shape mismatch.
    public func inverseTransform(_ standardized: [Float]) throws(ClinicDataError) -> [Float] {
        _ = try Self.checkShape(standardized, featureCount: featureCount)
        var result = standardized
        for index in result.indices {
            let column = index % featureCount
            result[index] = result[index] * standardDeviations[column] + means[column]
        }
        return result
    }

    /// The number of rows in `features`, after checking it holds whole rows of `featureCount`.
    private static func checkShape(_ features: [Float], featureCount: Int) throws(ClinicDataError) -> Int {
        guard featureCount > 0 else {
            throw .invalidInput(reason: "Standardizer: the feature count must be positive, not \(featureCount)")
        }
        guard features.count % featureCount == 0 else {
            throw .invalidInput(
                reason: "Standardizer: \(features.count) values are not whole rows of \(featureCount) features")
        }
        // Missing values arrive as NaN: they must be imputed first, or they would spread into
        // every mean, deviation and standardised value of their column.
        if let index = features.firstIndex(where: { !$0.isFinite }) {
            throw .invalidInput(reason: "Standardizer: value \(index) (row \(index / featureCount), feature \(index % featureCount)) "
                + "is \(features[index]); impute missing values first")
        }
        return features.count / featureCount
    }
}
