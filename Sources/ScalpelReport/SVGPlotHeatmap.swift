import ScalpelData

/// A matrix drawn as coloured cells with a colour bar, optional row and column labels and
/// optional numbers in the cells: for confusion matrices and attention matrices.
///
/// Row 0 is at the top. A NaN cell is drawn light grey and left unannotated.
public struct Heatmap: Equatable, Sendable {
    /// The cell values, row by row; every row has the same number of columns.
    public let values: [[Double]]
    /// A label per row, drawn left of the rows; empty for none.
    public let rowLabels: [String]
    /// A label per column, drawn under the columns (slanted when too long); empty for none.
    public let columnLabels: [String]
    /// The title above the matrix.
    public var title: String
    /// The label under the column labels, e.g. "predicted class".
    public var xLabel: String
    /// The label left of the row labels, e.g. "true class".
    public var yLabel: String
    /// The colours of the values.
    public var colormap: Colormap
    /// The values mapped to the ends of the colormap; `nil` for the finite data's minimum and
    /// maximum. Values outside are drawn in the end colours.
    public var range: ClosedRange<Double>?
    /// When set, each cell shows its value with this many decimals (0–6), in black or white,
    /// whichever reads better on the cell's colour.
    public var annotationDecimals: Int?
    /// The side of a cell, in pixels (at least 2).
    public var cellSize: Int
    /// The label of the colour bar.
    public var colorBarLabel: String

    /// A heatmap of `values`.
    ///
    /// - Throws: `ClinicDataError.invalidInput` when there are no rows or no columns, rows differ
    ///   in length, or a non-empty label list does not have one label per row or column.
    public init(
        title: String = "", values: [[Double]], rowLabels: [String] = [], columnLabels: [String] = [],
        xLabel: String = "", yLabel: String = "", colormap: Colormap = .viridis, range: ClosedRange<Double>? = nil,
        annotationDecimals: Int? = nil, cellSize: Int = 40, colorBarLabel: String = ""
    ) throws(ClinicDataError) {
        guard let columns = values.first?.count, columns > 0 else {
            throw .invalidInput(reason: "Heatmap: the matrix has no cells")
        }
        if let ragged = values.firstIndex(where: { $0.count != columns }) {
            throw .invalidInput(
                reason: "Heatmap: row \(ragged) has \(values[ragged].count) values where row 0 has \(columns)")
        }
        guard rowLabels.isEmpty || rowLabels.count == values.count else {
            throw .invalidInput(reason: "Heatmap: \(rowLabels.count) row labels for \(values.count) rows")
        }
        guard columnLabels.isEmpty || columnLabels.count == columns else {
            throw .invalidInput(reason: "Heatmap: \(columnLabels.count) column labels for \(columns) columns")
        }
        self.values = values
        self.rowLabels = rowLabels
        self.columnLabels = columnLabels
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.colormap = colormap
        self.range = range
        self.annotationDecimals = annotationDecimals
        self.cellSize = cellSize
        self.colorBarLabel = colorBarLabel
    }

    /// A confusion matrix: rows are the true classes, columns the predicted ones (as
    /// `MulticlassMetrics.confusionMatrix` lays them out), each cell annotated.
    ///
    /// - Parameters:
    ///   - counts: `counts[t][p]`, the cases of true class `t` predicted as `p`; square.
    ///   - classNames: one name per class.
    ///   - normalizeRows: show each row as shares of its true class (recall on the diagonal),
    ///     with two decimals and the range 0...1; a class without cases gets a grey row.
    /// - Throws: `ClinicDataError.invalidInput` when `counts` is not square, is empty, holds a
    ///   negative count, or `classNames` does not name every class.
    public static func confusionMatrix(
        _ counts: [[Int]], classNames: [String], normalizeRows: Bool = false, title: String = "Confusion matrix"
    ) throws(ClinicDataError) -> Heatmap {
        guard !counts.isEmpty, counts.allSatisfy({ $0.count == counts.count }) else {
            throw .invalidInput(reason: "confusion matrix: the counts are not a non-empty square matrix")
        }
        guard classNames.count == counts.count else {
            throw .invalidInput(
                reason: "confusion matrix: \(classNames.count) class names for \(counts.count) classes")
        }
        if counts.contains(where: { $0.contains { $0 < 0 } }) {
            throw .invalidInput(reason: "confusion matrix: a count is negative")
        }
        let values: [[Double]] = counts.map { row in
            let total = row.reduce(0, +)
            if !normalizeRows { return row.map(Double.init) }
            return row.map { total > 0 ? Double($0) / Double(total) : .nan }
        }
        let largest = counts.flatMap { $0 }.max() ?? 0
        return try Heatmap(
            title: title, values: values, rowLabels: classNames, columnLabels: classNames, xLabel: "predicted class",
            yLabel: "true class", colormap: .viridis, range: normalizeRows ? 0...1 : 0...Double(max(largest, 1)),
            annotationDecimals: normalizeRows ? 2 : 0, colorBarLabel: normalizeRows ? "share of true class" : "cases")
    }

    /// The values mapped to the ends of the colour scale.
    private var effectiveRange: (low: Double, high: Double) {
        if let range, range.lowerBound.isFinite, range.upperBound.isFinite, range.lowerBound < range.upperBound {
            return (range.lowerBound, range.upperBound)
        }
        let finite = values.flatMap { $0 }.filter(\.isFinite)
        let low = finite.min() ?? 0
        let high = finite.max() ?? 1
        return low < high ? (low, high) : (low - 0.5, low + 0.5)
    }

    /// The heatmap as a standalone SVG 1.1 document.
    public func svg() -> String {
        let cell = Double(max(cellSize, 2))
        let rows = values.count
        let columns = values[0].count
        let (low, high) = effectiveRange
        let labelSize = 11.0

        let rowLabelWidth = rowLabels.isEmpty ? 0 : (rowLabels.map { estimatedTextWidth($0, size: labelSize) }.max() ?? 0) + 8
        let widestColumnLabel = columnLabels.map { estimatedTextWidth($0, size: labelSize) }.max() ?? 0
        let slanted = widestColumnLabel > cell - 4
        let columnLabelHeight = columnLabels.isEmpty ? 0 : slanted ? widestColumnLabel * 0.72 + 14 : 18

        let left = 8 + (yLabel.isEmpty ? 0 : 22) + rowLabelWidth
        let top = title.isEmpty ? 10.0 : 38.0
        let gridWidth = Double(columns) * cell
        let gridHeight = Double(rows) * cell
        let colorBarX = left + gridWidth + 16
        let width = max(colorBarX + 14 + 80, left + gridWidth + 20)
        let height = max(top + gridHeight + columnLabelHeight + (xLabel.isEmpty ? 8 : 30), top + 70)

        var svg = SVGWriter(width: width, height: height, title: title)
        if !title.isEmpty {
            svg.text(title, at: SVGPoint(x: left + gridWidth / 2, y: 18), size: 15, anchor: .middle, bold: true)
        }
        let decimals = annotationDecimals.map { min(max($0, 0), 6) }
        let annotationSize = min(12, cell * 0.32)
        for (row, rowValues) in values.enumerated() {
            for (column, value) in rowValues.enumerated() {
                let x = left + Double(column) * cell
                let y = top + Double(row) * cell
                guard value.isFinite else {
                    svg.rect(x: x, y: y, width: cell, height: cell, fill: "#d9d9d9", crisp: true)
                    continue
                }
                let color = colormap.color((value - low) / (high - low))
                svg.rect(x: x, y: y, width: cell, height: cell, fill: color.hex, crisp: true)
                if let decimals {
                    svg.text(
                        SVGPlot.format(value, decimals: decimals), at: SVGPoint(x: x + cell / 2, y: y + cell / 2),
                        size: annotationSize, anchor: .middle, fill: color.luminance < 0.5 ? "#ffffff" : "#000000")
                }
            }
        }
        svg.rect(x: left, y: top, width: gridWidth, height: gridHeight, fill: "none", stroke: "#000000")

        for (row, label) in rowLabels.enumerated() {
            svg.text(label, at: SVGPoint(x: left - 6, y: top + (Double(row) + 0.5) * cell), size: labelSize, anchor: .end)
        }
        for (column, label) in columnLabels.enumerated() {
            let x = left + (Double(column) + 0.5) * cell
            if slanted {
                svg.text(
                    label, at: SVGPoint(x: x, y: top + gridHeight + 8), size: labelSize, anchor: .end, rotation: -45)
            } else {
                svg.text(label, at: SVGPoint(x: x, y: top + gridHeight + 10), size: labelSize, anchor: .middle)
            }
        }
        if !xLabel.isEmpty {
            svg.text(
                xLabel, at: SVGPoint(x: left + gridWidth / 2, y: top + gridHeight + columnLabelHeight + 14), size: 13,
                anchor: .middle)
        }
        if !yLabel.isEmpty {
            svg.text(yLabel, at: SVGPoint(x: 16, y: top + gridHeight / 2), size: 13, anchor: .middle, rotation: -90)
        }

        let (ticks, step) = SVGPlot.niceTicks(low: low, high: high, targetCount: 5)
        let tolerance = step * 1e-9
        let barTicks = ticks.filter { $0 >= low - tolerance && $0 <= high + tolerance }
            .map { (position: ($0 - low) / (high - low), text: SVGPlot.tickLabel($0, step: step)) }
        svg.colorBar(
            x: colorBarX, y: top, width: 14, height: max(gridHeight, 60), colormap: colormap, ticks: barTicks,
            label: colorBarLabel)
        return svg.finished()
    }
}
