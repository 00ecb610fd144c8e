import ScalpelData

/// Labelled horizontal bars as standalone SVG: one bar per item, top to bottom in the given
/// order, each from zero to its value, with optional ± error bars. For the permutation feature
/// importance of a tabular model (the drop in AUROC when a feature column is shuffled, with
/// its standard deviation over repeats) and other per-item scores.
///
/// Values may be negative (a feature whose shuffling helped): the axis then extends below
/// zero and a dark vertical zero line is drawn. The image is as tall as its bars need; labels
/// longer than `maxLabelLength` characters are cut short with "…".
public struct HorizontalBarChart: Equatable, Sendable {
    /// The label of each bar, drawn left of it.
    public let labels: [String]
    /// The value of each bar; finite.
    public let values: [Double]
    /// The half-width of each bar's error bar (e.g. a standard deviation), drawn from
    /// value − error to value + error; finite and not negative. `nil` for none; a zero draws none.
    public let errors: [Double]?
    /// The title above the bars.
    public var title: String
    /// The label under the value axis, e.g. "decrease in AUROC when shuffled".
    public var xLabel: String
    /// The fill colour of the bars.
    public var color: PlotColor
    /// The most characters of a label that are shown (at least 2); a longer label keeps its
    /// first `maxLabelLength − 1` characters and gets "…".
    public var maxLabelLength: Int
    /// The width of the whole image, in pixels (at least 240; more when the labels need it).
    public var width: Int

    /// A chart of one bar per label, in the given order from top to bottom.
    ///
    /// - Throws: `ClinicDataError.invalidInput` when there are no bars, `labels`, `values` and
    ///   `errors` differ in length, a value is not finite, or an error is negative or not finite.
    public init(
        title: String = "", labels: [String], values: [Double], errors: [Double]? = nil, xLabel: String = "",
        color: PlotColor = PlotColor.palette[0], maxLabelLength: Int = 40, width: Int = 640
    ) throws(ClinicDataError) {
        guard !values.isEmpty else {
            throw .invalidInput(reason: "HorizontalBarChart: there are no bars to draw")
        }
        guard labels.count == values.count else {
            throw .invalidInput(reason: "HorizontalBarChart: \(labels.count) labels for \(values.count) values")
        }
        if let bar = values.firstIndex(where: { !$0.isFinite }) {
            throw .invalidInput(
                reason: "HorizontalBarChart: value \(values[bar]) of bar \(bar) ('\(labels[bar])') is not finite")
        }
        if let errors {
            guard errors.count == values.count else {
                throw .invalidInput(
                    reason: "HorizontalBarChart: \(errors.count) error half-widths for \(values.count) values")
            }
            if let bar = errors.firstIndex(where: { !($0 >= 0 && $0.isFinite) }) {
                throw .invalidInput(
                    reason: "HorizontalBarChart: error \(errors[bar]) of bar \(bar) ('\(labels[bar])') is "
                        + "negative or not finite; an error bar is a finite half-width ≥ 0")
            }
        }
        self.labels = labels
        self.values = values
        self.errors = errors
        self.title = title
        self.xLabel = xLabel
        self.color = color
        self.maxLabelLength = maxLabelLength
        self.width = width
    }

    /// The distance between the centres of neighbouring bars, in pixels.
    static let barPitch = 22.0
    /// The thickness of a bar, in pixels.
    static let barThickness = 14.0
    /// The space above the first bar and below the last, in pixels.
    static let barPadding = 5.0

    /// `label` as drawn: cut to `limit` characters (at least 2) with "…" when longer.
    static func truncated(_ label: String, to limit: Int) -> String {
        let limit = max(limit, 2)
        guard label.count > limit else { return label }
        return String(label.prefix(limit - 1)) + "…"
    }

    /// The chart as a standalone SVG 1.1 document.
    public func svg() -> String {
        let labelSize = 11.0
        let tickSize = 11.0
        let shown = labels.map { Self.truncated($0, to: maxLabelLength) }
        let labelWidth = shown.map { estimatedTextWidth($0, size: labelSize) }.max() ?? 0
        let left = 14 + labelWidth
        let right = 24.0
        let top = title.isEmpty ? 12.0 : 38.0
        let bottom = xLabel.isEmpty ? 30.0 : 50.0
        let width = max(Double(max(self.width, 240)), left + 120 + right)
        let plotHeight = Double(values.count) * Self.barPitch + 2 * Self.barPadding
        let height = top + plotHeight + bottom
        let plot = PlotFrame(x: left, y: top, width: width - left - right, height: plotHeight)

        var data = values + [0]
        if let errors {
            for (value, error) in zip(values, errors) {
                data.append(value - error)
                data.append(value + error)
            }
        }
        let axis = PlotAxis.make(data: data, fixed: nil, logarithmic: false)
        func xPosition(_ value: Double) -> Double {
            plot.x + min(max(axis.fraction(ofUnit: value), 0), 1) * plot.width
        }
        func center(_ bar: Int) -> Double { plot.y + Self.barPadding + (Double(bar) + 0.5) * Self.barPitch }

        var svg = SVGWriter(width: width, height: height, title: title)
        svg.rect(x: plot.x, y: plot.y, width: plot.width, height: plot.height, fill: "#ffffff")
        svg.openGroup("stroke=\"#e5e5e5\" stroke-width=\"1\"")
        for tick in axis.ticks {
            let x = SVGPlot.format(xPosition(tick.position))
            svg.raw("<line x1=\"\(x)\" y1=\"\(SVGPlot.format(plot.y))\" x2=\"\(x)\" "
                + "y2=\"\(SVGPlot.format(plot.y + plot.height))\"/>\n")
        }
        svg.closeGroup()

        let zero = xPosition(0)
        for (bar, value) in values.enumerated() {
            let end = xPosition(value)
            svg.rect(
                x: min(zero, end), y: center(bar) - Self.barThickness / 2, width: abs(end - zero),
                height: Self.barThickness, fill: color.hex, crisp: true)
        }
        if axis.low < 0 {
            svg.line(
                from: SVGPoint(x: zero, y: plot.y), to: SVGPoint(x: zero, y: plot.y + plot.height), stroke: "#404040",
                width: 1.5)
        }
        if let errors {
            let cap = Self.barThickness * 0.3
            for (bar, (value, error)) in zip(values, errors).enumerated() where error > 0 {
                let y = center(bar)
                let low = xPosition(value - error)
                let high = xPosition(value + error)
                svg.path(
                    [
                        [SVGPoint(x: low, y: y), SVGPoint(x: high, y: y)],
                        [SVGPoint(x: low, y: y - cap), SVGPoint(x: low, y: y + cap)],
                        [SVGPoint(x: high, y: y - cap), SVGPoint(x: high, y: y + cap)],
                    ], stroke: "#000000", width: 1.2)
            }
        }
        svg.rect(x: plot.x, y: plot.y, width: plot.width, height: plot.height, fill: "none", stroke: "#000000")

        let axisY = plot.y + plot.height
        for tick in axis.ticks {
            let x = xPosition(tick.position)
            svg.line(from: SVGPoint(x: x, y: axisY), to: SVGPoint(x: x, y: axisY + 5), stroke: "#000000")
            svg.text(tick.label, at: SVGPoint(x: x, y: axisY + 14), size: tickSize, anchor: .middle)
        }
        for (bar, label) in shown.enumerated() {
            svg.text(label, at: SVGPoint(x: plot.x - 6, y: center(bar)), size: labelSize, anchor: .end)
        }
        if !title.isEmpty {
            svg.text(title, at: SVGPoint(x: width / 2, y: 18), size: 15, anchor: .middle, bold: true)
        }
        if !xLabel.isEmpty {
            svg.text(xLabel, at: SVGPoint(x: plot.x + plot.width / 2, y: height - 14), size: 13, anchor: .middle)
        }
        return svg.finished()
    }
}
