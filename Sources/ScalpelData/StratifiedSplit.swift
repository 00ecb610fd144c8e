import ScalpelCore

/// Row indices divided into training, validation and test sets with the class proportions of
/// the whole dataset in each.
///
/// Codable so the exact rows of each split can be saved next to a run and checked later.
public struct StratifiedSplit: Codable, Equatable, Sendable {
    /// Training row indices, ascending.
    public let train: [Int]
    /// Validation row indices, ascending.
    public let validation: [Int]
    /// Test row indices, ascending.
    public let test: [Int]
    /// The seed the rows were shuffled with; the same labels, fractions and seed give the same split.
    public let seed: UInt64

    /// Splits the rows of `labels` class by class.
    ///
    /// Within each class the row indices are shuffled with `SeededRandom(seed:)` and cut by the
    /// fractions, so every split holds each class in (nearly) the dataset's proportion: the
    /// row counts are apportioned by largest remainder, which keeps each split's count of each
    /// class within one row of `fraction × class size`. Classes are visited in ascending label
    /// order, so the result depends only on the labels, the fractions and the seed.
    ///
    /// - Parameters:
    ///   - labels: the class of each row (any non-negative values; they need not be contiguous).
    ///   - fractions: the share of each class for each split; each must be positive, and they
    ///     must add up to 1.
    ///   - seed: the shuffle seed.
    /// - Throws: `ClinicDataError.invalidSplit` when there are no rows, a label is negative, the
    ///   fractions are invalid, or a class has too few rows to appear in all three splits.
    public static func split(
        labels: [Int32], fractions: (train: Double, validation: Double, test: Double), seed: UInt64
    ) throws(ClinicDataError) -> StratifiedSplit {
        let shares = try normalized(fractions)
        if labels.isEmpty { throw .invalidSplit(reason: "there are no rows to split") }
        if let negative = labels.first(where: { $0 < 0 }) {
            throw .invalidSplit(reason: "label \(negative) is negative; labels are class indices")
        }

        var rowsOfClass: [Int32: [Int]] = [:]
        for (row, label) in labels.enumerated() { rowsOfClass[label, default: []].append(row) }

        var generator = SeededRandom(seed: seed)
        var splits: [[Int]] = [[], [], []]
        for label in rowsOfClass.keys.sorted() {
            var rows = rowsOfClass[label]!
            let counts = apportion(rows.count, shares)
            if let empty = counts.firstIndex(of: 0) {
                throw .invalidSplit(
                    reason: "class \(label) has \(rows.count) rows, too few for the \(splitNames[empty]) split "
                        + "to get one at fractions \(describe(fractions)); "
                        + "each class needs at least \(minimumClassSize(shares)) rows")
            }
            generator.shuffle(&rows)
            splits[0] += rows[0..<counts[0]]
            splits[1] += rows[counts[0]..<(counts[0] + counts[1])]
            splits[2] += rows[(counts[0] + counts[1])...]
        }
        return StratifiedSplit(
            train: splits[0].sorted(), validation: splits[1].sorted(), test: splits[2].sorted(), seed: seed)
    }

    private static let splitNames = ["train", "validation", "test"]

    /// The fractions scaled to add up to exactly 1, after checking they are usable.
    private static func normalized(
        _ fractions: (train: Double, validation: Double, test: Double)
    ) throws(ClinicDataError) -> [Double] {
        let values = [fractions.train, fractions.validation, fractions.test]
        for (name, value) in zip(splitNames, values) where !(value.isFinite && value > 0) {
            throw .invalidSplit(reason: "the \(name) fraction is \(value); every split needs a positive fraction")
        }
        let total = values.reduce(0, +)
        // Decimal fractions like 0.7 + 0.15 + 0.15 do not add up to 1 exactly in binary.
        if abs(total - 1) > 1e-6 {
            // Rounded to six places so the message shows 1.2 rather than 1.2000000000000002.
            let shown = (total * 1e6).rounded() / 1e6
            throw .invalidSplit(reason: "the fractions \(describe(fractions)) add up to \(shown), not 1")
        }
        return values.map { $0 / total }
    }

    /// Divides `count` rows among the shares by largest remainder: each split first gets the
    /// whole part of its exact share, then the rows left over go to the largest fractional
    /// parts (ties to the earlier split), so no split is off its exact share by a row or more.
    static func apportion(_ count: Int, _ shares: [Double]) -> [Int] {
        let exact = shares.map { Double(count) * $0 }
        var counts = exact.map { Int($0.rounded(.down)) }
        var leftover = count - counts.reduce(0, +)
        let byRemainder = shares.indices.sorted { a, b in
            let (ra, rb) = (exact[a] - Double(counts[a]), exact[b] - Double(counts[b]))
            return ra != rb ? ra > rb : a < b
        }
        var next = 0
        while leftover > 0 {
            counts[byRemainder[next % byRemainder.count]] += 1
            leftover -= 1
            next += 1
        }
        return counts
    }

    /// The smallest class size that puts at least one row in every split.
    private static func minimumClassSize(_ shares: [Double]) -> Int {
        // At 1 / (smallest share) rows every exact share is at least one row, so the search
        // ends there; past a hundred thousand rows that bound is as useful as the exact answer.
        let bound = Int((1 / shares.min()!).rounded(.up))
        if bound > 100_000 { return bound }
        var size = shares.count
        while size < bound, apportion(size, shares).contains(0) { size += 1 }
        return size
    }

    private static func describe(_ fractions: (train: Double, validation: Double, test: Double)) -> String {
        "\(fractions.train)/\(fractions.validation)/\(fractions.test)"
    }
}
