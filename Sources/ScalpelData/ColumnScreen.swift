import Foundation

/// The columns of a clinical table that look like identifiers or dates — a patient id, an
/// accession number, an admission date — and so are not features unless a user names them:
/// one-hot encoding them would add a feature per patient, and they identify people.
///
/// A column is left out when, over its non-missing cells (at least `minimumRows` of them):
/// - most cells (90 %) are dates or date-times (`2024-03-01`, `01/03/2024`, `2024-03-01T08:15`);
/// - its values are whole numbers or words, each different from every other (unique per row);
/// - or it holds words with more distinct values than half its cells (high-cardinality text).
/// Numbers with a fractional part are measurements, never identifiers, even when all differ.
public enum ColumnScreen {
    /// Why a column was left out.
    public enum Reason: Equatable, Sendable, CustomStringConvertible {
        /// Most cells are dates or date-times.
        case dates
        /// Every value differs from every other: an identifier.
        case uniquePerRow
        /// Words with `distinct` different values over `cells` cells.
        case highCardinalityText(distinct: Int, cells: Int)

        /// The reason in words, for the run's notes.
        public var description: String {
            switch self {
            case .dates: "dates"
            case .uniquePerRow: "unique per row, like an identifier"
            case let .highCardinalityText(distinct, cells): "\(distinct) different words in \(cells) rows, like an identifier or free text"
            }
        }
    }

    /// A column left out, and why.
    public struct Finding: Equatable, Sendable, CustomStringConvertible {
        /// The column's header name.
        public let column: String
        /// Why it was left out.
        public let reason: Reason
        /// "column (reason)".
        public var description: String { "\(column) (\(reason))" }
    }

    /// The columns of `table`, other than those in `keeping`, that look like identifiers or dates.
    /// Cells equal to one of `missingMarkers` (by default the table reader's) do not count.
    public static func screen(_ table: CSVTable, keeping: Set<String>, missingMarkers: Set<String> = TabularDataset.Options().missingMarkers,
                              minimumRows: Int = 20) -> [Finding] {
        var findings: [Finding] = []
        for (index, name) in table.columns.enumerated() where !keeping.contains(name) {
            let cells = table.rows.compactMap { row -> String? in
                guard index < row.count else { return nil }
                let cell = row[index].trimmingCharacters(in: .whitespaces)
                return missingMarkers.contains(cell) ? nil : cell
            }
            guard cells.count >= minimumRows else { continue }
            if cells.filter(isDate).count * 10 >= cells.count * 9 {
                findings.append(Finding(column: name, reason: .dates))
                continue
            }
            let numbers = cells.compactMap(Double.init)
            let distinct = Set(cells).count
            if numbers.count == cells.count {
                // Numbers: only whole numbers that never repeat look like identifiers.
                if numbers.allSatisfy({ $0.rounded() == $0 }) && distinct == cells.count {
                    findings.append(Finding(column: name, reason: .uniquePerRow))
                }
            } else if distinct == cells.count {
                findings.append(Finding(column: name, reason: .uniquePerRow))
            } else if distinct * 2 > cells.count {
                findings.append(Finding(column: name, reason: .highCardinalityText(distinct: distinct, cells: cells.count)))
            }
        }
        return findings
    }

    /// Whether `cell` is a date or a date-time: year-month-day or day/month/year (either order
    /// of day and month) with `-`, `/` or `.`, optionally followed by a time.
    static func isDate(_ cell: String) -> Bool {
        let datePart = cell.split(whereSeparator: { $0 == " " || $0 == "T" }).first.map(String.init) ?? cell
        let fields = datePart.split(whereSeparator: { $0 == "-" || $0 == "/" || $0 == "." }).map(String.init)
        guard fields.count == 3, fields.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isNumber) }) else { return false }
        let numbers = fields.compactMap { Int($0) }
        guard numbers.count == 3 else { return false }
        if fields[0].count == 4 { return (1 ... 12).contains(numbers[1]) && (1 ... 31).contains(numbers[2]) }
        if fields[2].count == 4 || fields[2].count == 2 {
            return (1 ... 31).contains(numbers[0]) && (1 ... 31).contains(numbers[1]) && min(numbers[0], numbers[1]) <= 12
        }
        return false
    }
}
