/// Fills missing feature values (NaN) with statistics taken from the training rows.
///
/// Fit it on the training rows only, like `Standardizer`, and apply it to every row before
/// standardising (a `Standardizer` cannot scale a NaN): a fill value computed with the test
/// rows would leak them into training. A numeric feature's missing cells get the training
/// median or mean of its observed values; a one-hot feature's get 0, so a row whose
/// categorical cell is missing ends up with an all-zero one-hot. Codable, so it is saved with a
/// checkpoint and a deployed model fills gaps exactly as in training.
public struct Imputer: Codable, Equatable, Sendable {
    /// The statistic a numeric feature's missing cells are filled with.
    public enum Strategy: String, Codable, Equatable, Sendable {
        /// The median of the observed training values (the mean of the middle two for an even
        /// count): robust to the outliers and skew common in laboratory values.
        case median
        /// The arithmetic mean of the observed training values.
        case mean
    }

    /// The statistic used for numeric features.
    public let strategy: Strategy
    /// The feature names the imputer was fitted with, for reports.
    public let featureNames: [String]
    /// What each feature holds; one-hot features are filled with 0.
    public let featureKinds: [TabularDataset.FeatureKind]
    /// The value each feature's missing cells are replaced with.
    public let fillValues: [Float]
    /// For each feature, how many of the training rows had it missing.
    public let trainingMissingCounts: [Int]
    /// The number of training rows the statistics came from.
    public let fittedRowCount: Int

    /// The number of features this imputer expects per row.
    public var featureCount: Int { fillValues.count }

    /// How many cells of one source column an imputer filled, and with what.
    public struct ColumnReport: Equatable, Sendable, CustomStringConvertible {
        /// The source column: a numeric feature's name, or a categorical column.
        public var column: String
        /// The number of rows whose cell in this column was filled.
        public var imputedCount: Int
        /// The value filled in for a numeric column; `nil` for a categorical column, whose
        /// missing cells became an all-zero one-hot.
        public var value: Float?
        /// The strategy that gave `value`.
        public var strategy: Strategy

        /// "bp: 3 cells imputed with the training median 120.5" or "smoker: 2 cells imputed as an all-zero one-hot".
        public var description: String {
            let cells = imputedCount == 1 ? "1 cell" : "\(imputedCount) cells"
            guard let value else { return "\(column): \(cells) imputed as an all-zero one-hot" }
            return "\(column): \(cells) imputed with the training \(strategy.rawValue) \(value)"
        }
    }

    private init(
        strategy: Strategy, featureNames: [String], featureKinds: [TabularDataset.FeatureKind], fillValues: [Float],
        trainingMissingCounts: [Int], fittedRowCount: Int
    ) {
        self.strategy = strategy
        self.featureNames = featureNames
        self.featureKinds = featureKinds
        self.fillValues = fillValues
        self.trainingMissingCounts = trainingMissingCounts
        self.fittedRowCount = fittedRowCount
    }

    /// Decodes a saved imputer, refusing one that could not have come from `fit`: a
    /// checkpoint edited by hand or cut short must fail on loading, not fill a patient's gaps
    /// with NaN or with a value for the wrong column.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        strategy = try container.decode(Strategy.self, forKey: .strategy)
        featureNames = try container.decode([String].self, forKey: .featureNames)
        featureKinds = try container.decode([TabularDataset.FeatureKind].self, forKey: .featureKinds)
        fillValues = try container.decode([Float].self, forKey: .fillValues)
        trainingMissingCounts = try container.decode([Int].self, forKey: .trainingMissingCounts)
        fittedRowCount = try container.decode(Int.self, forKey: .fittedRowCount)
        let count = fillValues.count
        let valid = count > 0 && featureNames.count == count && featureKinds.count == count
            && trainingMissingCounts.count == count && fittedRowCount > 0
            && fillValues.allSatisfy(\.isFinite)
            && trainingMissingCounts.allSatisfy { (0...fittedRowCount).contains($0) }
            && zip(featureKinds, fillValues).allSatisfy { kind, value in kind == .numeric || value == 0 }
        guard valid else {
            throw DecodingError.dataCorrupted(.init(
                codingPath: decoder.codingPath,
                debugDescription: "Imputer: \(count) fill values, \(featureNames.count) names, \(featureKinds.count) "
                    + "kinds and \(trainingMissingCounts.count) counts; they must match in number, the values be "
                    + "finite (0 for one-hot features) and the counts within the \(fittedRowCount) training rows"))
        }
    }

    /// Fits an imputer on the rows at `rows` of `dataset` (its training split), with the
    /// dataset's feature names and kinds.
    /// - Throws: as `fit(features:rows:featureCount:strategy:featureKinds:featureNames:source:)`,
    ///   naming the dataset's file.
    public static func fit(
        _ dataset: TabularDataset, rows: [Int], strategy: Strategy = .median
    ) throws(ClinicDataError) -> Imputer {
        try fit(
            features: dataset.features, rows: rows, featureCount: dataset.featureCount, strategy: strategy,
            featureKinds: dataset.featureKinds, featureNames: dataset.featureNames, source: dataset.source)
    }

    /// Computes each feature's fill value from its observed (non-NaN) values in the rows at
    /// `rows` of the row-major matrix `features`.
    ///
    /// - Parameters:
    ///   - features: the row-major matrix, `featureCount` values per row, NaN where missing.
    ///   - rows: the rows the fill values are learnt from (the training rows).
    ///   - featureCount: the number of features per row.
    ///   - strategy: the median or the mean of each feature's observed values.
    ///   - featureKinds: what each feature holds; one-hot features are filled with 0. `nil`
    ///     means all numeric.
    ///   - featureNames: names for reports and errors; `nil` means "feature 1", "feature 2", ….
    ///   - source: the file the features came from, for error messages.
    /// - Throws: `ClinicDataError.invalidInput` if `features` is not a whole number of rows,
    ///   `rows` is empty, a row index is out of range, the kinds or names do not match the
    ///   feature count, or a value is infinite; `ClinicDataError.noTrainingValues` naming the
    ///   column when a column (numeric, or all the features of a categorical one) has no
    ///   observed value in the training rows.
    public static func fit(
        features: [Float], rows: [Int], featureCount: Int, strategy: Strategy = .median,
        featureKinds: [TabularDataset.FeatureKind]? = nil, featureNames: [String]? = nil,
        source: String = "<features>"
    ) throws(ClinicDataError) -> Imputer {
        let rowCount = try checkShape(features, featureCount: featureCount)
        if rows.isEmpty { throw .invalidInput(reason: "Imputer.fit needs at least one training row") }
        if let bad = rows.first(where: { !(0..<rowCount).contains($0) }) {
            throw .invalidInput(reason: "Imputer.fit: row \(bad) is outside the \(rowCount) rows")
        }
        let kinds = featureKinds ?? Array(repeating: .numeric, count: featureCount)
        let names = featureNames ?? (1...featureCount).map { "feature \($0)" }
        guard kinds.count == featureCount, names.count == featureCount else {
            throw .invalidInput(reason: "Imputer.fit: \(kinds.count) feature kinds and \(names.count) names "
                + "for \(featureCount) features")
        }
        if let index = features.firstIndex(where: \.isInfinite) {
            throw .invalidInput(reason: "Imputer.fit: the value of row \(index / featureCount), feature "
                + "\(ClinicDataError.quoted(names[index % featureCount])) is infinite; only NaN marks a missing value")
        }

        var observed = [[Float]](repeating: [], count: featureCount)
        var missing = [Int](repeating: 0, count: featureCount)
        for row in rows {
            for column in 0..<featureCount {
                let value = features[row * featureCount + column]
                if value.isNaN { missing[column] += 1 } else { observed[column].append(value) }
            }
        }

        // A categorical column is unobserved when every training row has it missing, which
        // shows in its first one-hot feature as in all of them.
        var seenColumns = Set<String>()
        for column in 0..<featureCount where observed[column].isEmpty {
            var name = names[column]
            if case let .oneHot(categorical, _) = kinds[column] {
                guard !seenColumns.contains(categorical) else { continue }
                seenColumns.insert(categorical)
                name = categorical
            }
            throw .noTrainingValues(.init(source: source, column: name), trainingRows: rows.count)
        }

        let fills = (0..<featureCount).map { column -> Float in
            guard kinds[column] == .numeric else { return 0 }
            switch strategy {
            case .median: return median(observed[column])
            case .mean: return Float(observed[column].reduce(0.0) { $0 + Double($1) } / Double(observed[column].count))
            }
        }
        return Imputer(
            strategy: strategy, featureNames: names, featureKinds: kinds, fillValues: fills,
            trainingMissingCounts: missing, fittedRowCount: rows.count)
    }

    /// Replaces every NaN of the row-major matrix `features` with its feature's fill value.
    /// - Throws: `ClinicDataError.invalidInput` if `features` is not a whole number of rows of
    ///   `featureCount` features, or holds an infinite value.
    public func transform(_ features: [Float]) throws(ClinicDataError) -> [Float] {
        _ = try Self.checkShape(features, featureCount: featureCount)
        if let index = features.firstIndex(where: \.isInfinite) {
            throw .invalidInput(reason: "Imputer.transform: the value of row \(index / featureCount), feature "
                + "\(ClinicDataError.quoted(featureNames[index % featureCount])) is infinite; only NaN marks a missing value")
        }
        var result = features
        for index in result.indices where result[index].isNaN {
            result[index] = fillValues[index % featureCount]
        }
        return result
    }

    /// What `transform(features)` fills: per source column with at least one missing cell, in
    /// feature order, the number of rows filled and the value. Pass the whole matrix (training,
    /// validation and test rows) for the totals a report should give.
    /// - Throws: `ClinicDataError.invalidInput` for a shape mismatch.
    public func report(for features: [Float]) throws(ClinicDataError) -> [ColumnReport] {
        let rowCount = try Self.checkShape(features, featureCount: featureCount)
        var reports: [ColumnReport] = []
        var reported = Set<String>()
        for column in 0..<featureCount {
            let name: String
            if case let .oneHot(categorical, _) = featureKinds[column] {
                guard !reported.contains(categorical) else { continue }
                reported.insert(categorical)
                name = categorical
            } else {
                name = featureNames[column]
            }
            // For a categorical column, a row counts once however many of its features are NaN.
            let group = (column..<featureCount).filter { other in
                other == column || (featureKinds[column] != .numeric && Self.sameColumn(featureKinds[column], featureKinds[other]))
            }
            let count = (0..<rowCount).count { row in group.contains { features[row * featureCount + $0].isNaN } }
            if count > 0 {
                let value: Float? = featureKinds[column] == .numeric ? fillValues[column] : nil
                reports.append(ColumnReport(column: name, imputedCount: count, value: value, strategy: strategy))
            }
        }
        return reports
    }

    /// Whether two one-hot features come from the same categorical column.
    private static func sameColumn(_ a: TabularDataset.FeatureKind, _ b: TabularDataset.FeatureKind) -> Bool {
        if case let .oneHot(first, _) = a, case let .oneHot(second, _) = b { return first == second }
        return false
    }

    /// The median of a non-empty list, the mean of the middle two for an even count.
    private static func median(_ values: [Float]) -> Float {
        let sorted = values.sorted()
        let middle = sorted.count / 2
        if sorted.count % 2 == 1 { return sorted[middle] }
        return Float((Double(sorted[middle - 1]) + Double(sorted[middle])) / 2)
    }

    /// The number of rows in `features`, after checking it holds whole rows of `featureCount`.
    private static func checkShape(_ features: [Float], featureCount: Int) throws(ClinicDataError) -> Int {
        guard featureCount > 0 else {
            throw .invalidInput(reason: "Imputer: the feature count must be positive, not \(featureCount)")
        }
        guard features.count % featureCount == 0 else {
            throw .invalidInput(reason: "Imputer: \(features.count) values are not whole rows of \(featureCount) features")
        }
        return features.count / featureCount
    }
}
