import ScalpelData

import Foundation

/// One named curve of a `LineChart`: points (x, y) joined in order.
///
/// A point with a non-finite coordinate (or y ≤ 0 on a logarithmic axis) is not drawn and
/// breaks the line in two, so a missing epoch shows as a gap rather than a made-up segment.
public struct LineSeries: Equatable, Sendable {
    /// The name shown in the legend.
    public var name: String
    /// The x coordinates.
    public var x: [Double]
    /// The y coordinates, one per x.
    public var y: [Double]
    /// The line colour; `nil` takes the next colour of `PlotColor.palette`.
    public var color: PlotColor?
    /// Whether the line is dashed (e.g. validation against a solid training curve).
    public var dashed: Bool
    /// Whether each point is also marked with a dot.
    public var markers: Bool

    /// A series of the points (x[i], y[i]).
    ///
    /// - Throws: `ClinicDataError.invalidInput` when `x` and `y` differ in length.
    public init(
        name: String, x: [Double], y: [Double], color: PlotColor? = nil, dashed: Bool = false, markers: Bool = false
    ) throws(ClinicDataError) {
        guard x.count == y.count else {
            throw .invalidInput(reason: "LineSeries '\(name)': \(x.count) x values but \(y.count) y values")
        }
        self.name = name
        self.x = x
        self.y = y
        self.color = color
        self.dashed = dashed
        self.markers = markers
    }

    /// A series of `y` against 1, 2, 3, …: a value per epoch.
    public init(name: String, y: [Double], color: PlotColor? = nil, dashed: Bool = false, markers: Bool = false) {
        self.name = name
        self.x = y.indices.map { Double($0 + 1) }
        self.y = y
        self.color = color
        self.dashed = dashed
        self.markers = markers
    }
}

/// Vertical bars of a `LineChart`, each rising from zero (from the bottom edge on a logarithmic
/// axis) to its height; drawn beneath the lines, half transparent.
public struct BarSeries: Equatable, Sendable {
    /// The name shown in the legend.
    public var name: String
    /// The x coordinate of the middle of each bar.
    public var centers: [Double]
    /// The height of each bar.
    public var heights: [Double]
    /// The width of every bar, in x units.
    public var width: Double
    /// The fill colour; `nil` takes the next colour of `PlotColor.palette`.
    public var color: PlotColor?

    /// Bars of `heights` at `centers`, each `width` wide.
    ///
    /// - Throws: `ClinicDataError.invalidInput` when the arrays differ in length or `width` is
    ///   not positive and finite.
    public init(name: String, centers: [Double], heights: [Double], width: Double, color: PlotColor? = nil)
        throws(ClinicDataError)
    {
        guard centers.count == heights.count else {
            throw .invalidInput(
                reason: "BarSeries '\(name)': \(centers.count) centres but \(heights.count) heights")
        }
        guard width > 0, width.isFinite else {
            throw .invalidInput(reason: "BarSeries '\(name)': the bar width \(width) is not positive")
        }
        self.name = name
        self.centers = centers
        self.heights = heights
        self.width = width
        self.color = color
    }
}

/// Where a chart's legend goes.
public enum LegendPosition: String, Equatable, Sendable {
    /// To the right of the plot area, outside it: never covers data.
    case outside
    /// Inside the plot area, in the top-left corner.
    case topLeft
    /// Inside the plot area, in the top-right corner.
    case topRight
    /// Inside the plot area, in the bottom-left corner.
    case bottomLeft
    /// Inside the plot area, in the bottom-right corner (where ROC curves leave room).
    case bottomRight
    /// No legend.
    case none
}

/// A line chart as standalone SVG: several named series, optional bars, axes with round ticks,
/// axis labels, a title, a legend, an optional logarithmic y axis and an optional dashed y = x
/// reference line. For training and validation curves, ROC and precision–recall curves, and
/// (with bars) reliability diagrams.
///
/// Without `xRange`/`yRange` the axes span the data, widened to round tick values; with them
/// the axes span exactly that range and lines leaving it are clipped at the frame. A range that
/// is empty, not finite, or not positive on a logarithmic axis is ignored.
public struct LineChart: Equatable, Sendable {
    /// The title above the plot.
    public var title: String
    /// The x axis label.
    public var xLabel: String
    /// The y axis label.
    public var yLabel: String
    /// The curves, drawn in order over the bars.
    public var series: [LineSeries]
    /// Bars drawn beneath the curves.
    public var bars: [BarSeries]
    /// Whether the y axis is logarithmic (base 10); y ≤ 0 is then not drawn.
    public var logY: Bool
    /// Whether to draw the dashed grey reference line y = x (chance on a ROC curve, perfect
    /// calibration on a reliability diagram).
    public var showDiagonal: Bool
    /// The legend entry for the reference line; empty for none.
    public var diagonalLabel: String
    /// A fixed x axis range, e.g. 0...1 for a ROC curve.
    public var xRange: ClosedRange<Double>?
    /// A fixed y axis range.
    public var yRange: ClosedRange<Double>?
    /// Where the legend goes.
    public var legend: LegendPosition
    /// The width of the whole image, in pixels (at least 200).
    public var width: Int
    /// The height of the whole image, in pixels (at least 150).
    public var height: Int

    /// A chart; every part can also be set afterwards.
    public init(
        title: String = "", xLabel: String = "", yLabel: String = "", series: [LineSeries] = [],
        bars: [BarSeries] = [], logY: Bool = false, showDiagonal: Bool = false, diagonalLabel: String = "",
        xRange: ClosedRange<Double>? = nil, yRange: ClosedRange<Double>? = nil,
        legend: LegendPosition = .outside, width: Int = 640, height: Int = 420
    ) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.series = series
        self.bars = bars
        self.logY = logY
        self.showDiagonal = showDiagonal
        self.diagonalLabel = diagonalLabel
        self.xRange = xRange
        self.yRange = yRange
        self.legend = legend
        self.width = width
        self.height = height
    }

    /// A reliability (calibration) diagram of a binary classifier: predictions are binned by
    /// probability into `binCount` equal bins of [0, 1]; each non-empty bin gets a bar as high
    /// as the share of its cases that were positive, and a dot at (mean predicted probability,
    /// that share), joined into the line "model"; the diagonal is perfect calibration.
    ///
    /// - Parameters:
    ///   - probabilities: the predicted probability of the positive class, in [0, 1].
    ///   - outcomes: whether each case was in fact positive.
    /// - Throws: `ClinicDataError.invalidInput` when the arrays differ in length or are empty,
    ///   a probability is outside [0, 1] or NaN, or `binCount` is outside 1...1000.
    public static func reliabilityDiagram(
        probabilities: [Double], outcomes: [Bool], binCount: Int = 10, title: String = "Reliability diagram"
    ) throws(ClinicDataError) -> LineChart {
        guard probabilities.count == outcomes.count, !probabilities.isEmpty else {
            throw .invalidInput(
                reason: "reliability diagram: \(probabilities.count) probabilities and \(outcomes.count) outcomes; "
                    + "the same non-zero number is needed")
        }
        guard (1...1000).contains(binCount) else {
            throw .invalidInput(reason: "reliability diagram: \(binCount) bins; between 1 and 1000 are allowed")
        }
        if let bad = probabilities.firstIndex(where: { !($0 >= 0 && $0 <= 1) }) {
            throw .invalidInput(
                reason: "reliability diagram: probability \(probabilities[bad]) of case \(bad) is outside [0, 1]")
        }
        var counts = [Int](repeating: 0, count: binCount)
        var positives = [Int](repeating: 0, count: binCount)
        var sums = [Double](repeating: 0, count: binCount)
        for (probability, outcome) in zip(probabilities, outcomes) {
            let bin = min(Int(probability * Double(binCount)), binCount - 1)
            counts[bin] += 1
            sums[bin] += probability
            if outcome { positives[bin] += 1 }
        }
        let filled = counts.indices.filter { counts[$0] > 0 }
        let fractions = filled.map { Double(positives[$0]) / Double(counts[$0]) }
        let binWidth = 1 / Double(binCount)
        let bars = try BarSeries(
            name: "observed frequency", centers: filled.map { (Double($0) + 0.5) * binWidth }, heights: fractions,
            width: binWidth, color: PlotColor.palette[0])
        let model = try LineSeries(
            name: "model", x: filled.map { sums[$0] / Double(counts[$0]) }, y: fractions,
            color: PlotColor.palette[1], markers: true)
        return LineChart(
            title: title, xLabel: "mean predicted probability", yLabel: "fraction of positives", series: [model],
            bars: [bars], showDiagonal: true, diagonalLabel: "perfectly calibrated", xRange: 0...1, yRange: 0...1,
            legend: .topLeft)
    }

    /// The chart as a standalone SVG 1.1 document.
    public func svg() -> String {
        let width = Double(max(self.width, 200))
        let height = Double(max(self.height, 150))
        let xAxis = PlotAxis.make(data: xData(), fixed: xRange, logarithmic: false)
        let yAxis = PlotAxis.make(data: yData(), fixed: yRange, logarithmic: logY)
        let entries = legendEntries()

        let tickSize = 11.0
        let widestTick = yAxis.ticks.map { estimatedTextWidth($0.label, size: tickSize) }.max() ?? 0
        let left = widestTick + 14 + (yLabel.isEmpty ? 6 : 24)
        let top = title.isEmpty ? 14.0 : 38.0
        let bottom = xLabel.isEmpty ? 30.0 : 50.0
        let legendWidth = (entries.map { estimatedTextWidth($0.name, size: 11) }.max() ?? 0) + 38
        var right = 16.0
        if legend == .outside, !entries.isEmpty { right += legendWidth + 8 }
        let plot = PlotFrame(x: left, y: top, width: max(width - left - right, 40), height: max(height - top - bottom, 40))

        var svg = SVGWriter(width: width, height: height, title: title)
        svg.rect(x: plot.x, y: plot.y, width: plot.width, height: plot.height, fill: "#ffffff")
        drawGrid(&svg, plot: plot, xAxis: xAxis, yAxis: yAxis)
        drawBars(&svg, plot: plot, xAxis: xAxis, yAxis: yAxis)
        if showDiagonal { drawDiagonal(&svg, plot: plot, xAxis: xAxis, yAxis: yAxis) }
        for (index, series) in series.enumerated() {
            drawSeries(&svg, series, color: colorOfSeries(index), plot: plot, xAxis: xAxis, yAxis: yAxis)
        }
        svg.rect(x: plot.x, y: plot.y, width: plot.width, height: plot.height, fill: "none", stroke: "#000000")
        drawAxes(&svg, plot: plot, xAxis: xAxis, yAxis: yAxis, tickSize: tickSize)
        if !title.isEmpty {
            svg.text(title, at: SVGPoint(x: plot.x + plot.width / 2, y: 18), size: 15, anchor: .middle, bold: true)
        }
        if !xLabel.isEmpty {
            svg.text(xLabel, at: SVGPoint(x: plot.x + plot.width / 2, y: height - 14), size: 13, anchor: .middle)
        }
        if !yLabel.isEmpty {
            svg.text(yLabel, at: SVGPoint(x: 14, y: plot.y + plot.height / 2), size: 13, anchor: .middle, rotation: -90)
        }
        drawLegend(&svg, entries: entries, plot: plot, width: legendWidth)
        return svg.finished()
    }

    // MARK: Data and ranges

    private func xData() -> [Double] {
        var values = series.flatMap(\.x)
        for bar in bars {
            for center in bar.centers {
                values.append(center - bar.width / 2)
                values.append(center + bar.width / 2)
            }
        }
        return values
    }

    private func yData() -> [Double] {
        var values = series.flatMap(\.y)
        for bar in bars {
            values.append(contentsOf: bar.heights)
            if !logY, !bar.heights.isEmpty { values.append(0) }
        }
        return values
    }

    private func colorOfSeries(_ index: Int) -> PlotColor {
        series[index].color ?? PlotColor.palette[(bars.count + index) % PlotColor.palette.count]
    }

    private func colorOfBars(_ index: Int) -> PlotColor {
        bars[index].color ?? PlotColor.palette[index % PlotColor.palette.count]
    }

    // MARK: Drawing

    private func point(_ x: Double, _ y: Double, plot: PlotFrame, xAxis: PlotAxis, yAxis: PlotAxis) -> SVGPoint? {
        guard let fx = xAxis.fraction(x), let fy = yAxis.fraction(y) else { return nil }
        return SVGPoint(x: plot.x + fx * plot.width, y: plot.y + plot.height - fy * plot.height)
    }

    private func drawGrid(_ svg: inout SVGWriter, plot: PlotFrame, xAxis: PlotAxis, yAxis: PlotAxis) {
        svg.openGroup("stroke=\"#e5e5e5\" stroke-width=\"1\"")
        for tick in xAxis.ticks {
            let x = plot.x + xAxis.fraction(ofUnit: tick.position) * plot.width
            svg.raw("<line x1=\"\(SVGPlot.format(x))\" y1=\"\(SVGPlot.format(plot.y))\" "
                + "x2=\"\(SVGPlot.format(x))\" y2=\"\(SVGPlot.format(plot.y + plot.height))\"/>\n")
        }
        for tick in yAxis.ticks {
            let y = plot.y + plot.height - yAxis.fraction(ofUnit: tick.position) * plot.height
            svg.raw("<line x1=\"\(SVGPlot.format(plot.x))\" y1=\"\(SVGPlot.format(y))\" "
                + "x2=\"\(SVGPlot.format(plot.x + plot.width))\" y2=\"\(SVGPlot.format(y))\"/>\n")
        }
        svg.closeGroup()
    }

    private func drawBars(_ svg: inout SVGWriter, plot: PlotFrame, xAxis: PlotAxis, yAxis: PlotAxis) {
        for (index, bar) in bars.enumerated() {
            let color = colorOfBars(index).hex
            for (center, height) in zip(bar.centers, bar.heights) {
                guard let left = xAxis.fraction(center - bar.width / 2), let right = xAxis.fraction(center + bar.width / 2),
                    let top = yAxis.fraction(height)
                else { continue }
                let base = logY ? 0 : (yAxis.fraction(0) ?? 0)
                let x0 = plot.x + min(max(min(left, right), 0), 1) * plot.width
                let x1 = plot.x + min(max(max(left, right), 0), 1) * plot.width
                let y0 = plot.y + plot.height - min(max(max(top, base), 0), 1) * plot.height
                let y1 = plot.y + plot.height - min(max(min(top, base), 0), 1) * plot.height
                svg.rect(
                    x: x0, y: y0, width: x1 - x0, height: y1 - y0, fill: color, stroke: color, fillOpacity: 0.45)
            }
        }
    }

    private func drawDiagonal(_ svg: inout SVGWriter, plot: PlotFrame, xAxis: PlotAxis, yAxis: PlotAxis) {
        // y = x drawn across the x range, sampled densely enough to follow a logarithmic y axis.
        let low = xAxis.low
        let high = xAxis.high
        let steps = logY ? 64 : 1
        let points = (0...steps).map { low + (high - low) * Double($0) / Double(steps) }
            .map { point($0, $0, plot: plot, xAxis: xAxis, yAxis: yAxis) }
        svg.path(
            clippedRuns(points, plot: plot), stroke: "#808080", width: 1.5, dash: "6 4")
    }

    private func drawSeries(
        _ svg: inout SVGWriter, _ series: LineSeries, color: PlotColor, plot: PlotFrame, xAxis: PlotAxis, yAxis: PlotAxis
    ) {
        let points = zip(series.x, series.y).map { point($0, $1, plot: plot, xAxis: xAxis, yAxis: yAxis) }
        svg.path(clippedRuns(points, plot: plot), stroke: color.hex, width: 2, dash: series.dashed ? "7 4" : nil)
        if series.markers {
            for case let point? in points where plot.contains(point) {
                svg.circle(at: point, radius: 3, fill: color.hex)
            }
        }
    }

    /// Runs of consecutive drawable points, each segment clipped to the plot frame.
    private func clippedRuns(_ points: [SVGPoint?], plot: PlotFrame) -> [[SVGPoint]] {
        var runs: [[SVGPoint]] = []
        var current: [SVGPoint] = []
        let box = (minX: plot.x, minY: plot.y, maxX: plot.x + plot.width, maxY: plot.y + plot.height)
        for index in points.indices.dropFirst() {
            guard let a = points[index - 1], let b = points[index], let (start, end) = clipSegment(a, b, to: box) else {
                if current.count >= 2 { runs.append(current) }
                current = []
                continue
            }
            if let last = current.last, last == start {
                if end != start { current.append(end) }
            } else if end == start {
                // A segment that only touches the frame at one point draws nothing.
                if current.count >= 2 { runs.append(current) }
                current = []
            } else {
                if current.count >= 2 { runs.append(current) }
                current = [start, end]
            }
        }
        if current.count >= 2 { runs.append(current) }
        return runs
    }

    private func drawAxes(_ svg: inout SVGWriter, plot: PlotFrame, xAxis: PlotAxis, yAxis: PlotAxis, tickSize: Double) {
        let bottom = plot.y + plot.height
        for tick in xAxis.ticks {
            let x = plot.x + xAxis.fraction(ofUnit: tick.position) * plot.width
            svg.line(from: SVGPoint(x: x, y: bottom), to: SVGPoint(x: x, y: bottom + 5), stroke: "#000000")
            svg.text(tick.label, at: SVGPoint(x: x, y: bottom + 14), size: tickSize, anchor: .middle)
        }
        for tick in yAxis.ticks {
            let y = bottom - yAxis.fraction(ofUnit: tick.position) * plot.height
            svg.line(from: SVGPoint(x: plot.x - 5, y: y), to: SVGPoint(x: plot.x, y: y), stroke: "#000000")
            svg.text(tick.label, at: SVGPoint(x: plot.x - 8, y: y), size: tickSize, anchor: .end)
        }
    }

    // MARK: Legend

    private struct LegendEntry {
        enum Kind { case line(dashed: Bool, markers: Bool), bar, reference }
        var name: String
        var color: PlotColor
        var kind: Kind
    }

    private func legendEntries() -> [LegendEntry] {
        guard legend != .none else { return [] }
        var entries: [LegendEntry] = []
        for (index, bar) in bars.enumerated() where !bar.name.isEmpty {
            entries.append(LegendEntry(name: bar.name, color: colorOfBars(index), kind: .bar))
        }
        for (index, series) in series.enumerated() where !series.name.isEmpty {
            entries.append(
                LegendEntry(
                    name: series.name, color: colorOfSeries(index),
                    kind: .line(dashed: series.dashed, markers: series.markers)))
        }
        if showDiagonal, !diagonalLabel.isEmpty {
            entries.append(LegendEntry(name: diagonalLabel, color: PlotColor(hex: 0x808080), kind: .reference))
        }
        return entries
    }

    private func drawLegend(_ svg: inout SVGWriter, entries: [LegendEntry], plot: PlotFrame, width: Double) {
        guard !entries.isEmpty else { return }
        let rowHeight = 18.0
        let height = Double(entries.count) * rowHeight + 8
        let inset = 8.0
        let origin: SVGPoint
        switch legend {
        case .outside, .none: origin = SVGPoint(x: plot.x + plot.width + 12, y: plot.y)
        case .topLeft: origin = SVGPoint(x: plot.x + inset, y: plot.y + inset)
        case .topRight: origin = SVGPoint(x: plot.x + plot.width - inset - width, y: plot.y + inset)
        case .bottomLeft: origin = SVGPoint(x: plot.x + inset, y: plot.y + plot.height - inset - height)
        case .bottomRight:
            origin = SVGPoint(x: plot.x + plot.width - inset - width, y: plot.y + plot.height - inset - height)
        }
        svg.rect(
            x: origin.x, y: origin.y, width: width, height: height, fill: "#ffffff", stroke: "#b0b0b0",
            fillOpacity: 0.9)
        for (row, entry) in entries.enumerated() {
            let y = origin.y + 4 + rowHeight * (Double(row) + 0.5)
            let start = SVGPoint(x: origin.x + 6, y: y)
            let end = SVGPoint(x: origin.x + 28, y: y)
            switch entry.kind {
            case let .line(dashed, markers):
                svg.line(from: start, to: end, stroke: entry.color.hex, width: 2, dash: dashed ? "7 4" : nil)
                if markers { svg.circle(at: SVGPoint(x: (start.x + end.x) / 2, y: y), radius: 3, fill: entry.color.hex) }
            case .bar:
                svg.rect(
                    x: start.x + 3, y: y - 6, width: 16, height: 12, fill: entry.color.hex, stroke: entry.color.hex,
                    fillOpacity: 0.45)
            case .reference:
                svg.line(from: start, to: end, stroke: entry.color.hex, width: 1.5, dash: "6 4")
            }
            svg.text(entry.name, at: SVGPoint(x: origin.x + 34, y: y), size: 11)
        }
    }
}

/// The rectangle of a plot area, in pixels.
struct PlotFrame {
    var x: Double
    var y: Double
    var width: Double
    var height: Double

    func contains(_ point: SVGPoint) -> Bool {
        point.x >= x - 1e-9 && point.x <= x + width + 1e-9 && point.y >= y - 1e-9 && point.y <= y + height + 1e-9
    }
}

/// One axis: its range in axis units (log10 of the value on a logarithmic axis) and its ticks.
struct PlotAxis {
    var low: Double
    var high: Double
    var logarithmic: Bool
    /// Tick positions in axis units, with their labels.
    var ticks: [(position: Double, label: String)]

    /// The position of `value` along the axis, 0 at `low` and 1 at `high`, or `nil` when it
    /// cannot be drawn (not finite, or not positive on a logarithmic axis).
    func fraction(_ value: Double) -> Double? {
        guard value.isFinite else { return nil }
        if logarithmic {
            guard value > 0 else { return nil }
            return fraction(ofUnit: log10(value))
        }
        return fraction(ofUnit: value)
    }

    func fraction(ofUnit unit: Double) -> Double { (unit - low) / (high - low) }

    /// The axis for `data` (non-finite values, and non-positive ones on a logarithmic axis, are
    /// left out), or exactly `fixed` when that is a usable range.
    static func make(data: [Double], fixed: ClosedRange<Double>?, logarithmic: Bool) -> PlotAxis {
        let usable = data.filter { $0.isFinite && (!logarithmic || $0 > 0) }
        if logarithmic {
            if let fixed, fixed.lowerBound > 0, fixed.upperBound.isFinite, fixed.lowerBound < fixed.upperBound {
                return decades(low: log10(fixed.lowerBound), high: log10(fixed.upperBound), exact: true)
            }
            guard let low = usable.min(), let high = usable.max() else { return decades(low: 0, high: 1, exact: false) }
            return decades(low: log10(low), high: log10(high), exact: false)
        }
        if let fixed, fixed.lowerBound.isFinite, fixed.upperBound.isFinite, fixed.lowerBound < fixed.upperBound {
            let (ticks, step) = SVGPlot.niceTicks(low: fixed.lowerBound, high: fixed.upperBound)
            let tolerance = step * 1e-9
            let inside = ticks.filter { $0 >= fixed.lowerBound - tolerance && $0 <= fixed.upperBound + tolerance }
            return PlotAxis(
                low: fixed.lowerBound, high: fixed.upperBound, logarithmic: false,
                ticks: inside.map { ($0, SVGPlot.tickLabel($0, step: step)) })
        }
        let (ticks, step) = SVGPlot.niceTicks(low: usable.min() ?? 0, high: usable.max() ?? 1)
        return PlotAxis(
            low: ticks.first!, high: ticks.last!, logarithmic: false,
            ticks: ticks.map { ($0, SVGPlot.tickLabel($0, step: step)) })
    }

    /// A logarithmic axis from 10^low to 10^high, widened to whole decades unless `exact`, with
    /// a tick on every decade (every second, fifth, … when there are many).
    private static func decades(low: Double, high: Double, exact: Bool) -> PlotAxis {
        var first = Int(low.rounded(.down))
        var last = Int(high.rounded(.up))
        if first == last {
            first -= 1
            last += 1
        }
        let start = exact ? low : Double(first)
        let end = exact ? high : Double(last)
        let stride = max(1, (last - first + 7) / 8)
        var ticks: [(Double, String)] = []
        var exponent = Int((start / Double(stride) - 1e-9).rounded(.up)) * stride
        while Double(exponent) <= end + 1e-9 {
            ticks.append((Double(exponent), SVGPlot.decadeLabel(exponent)))
            exponent += stride
        }
        if ticks.count < 2 {
            // A range within one decade: label both ends instead.
            ticks = [start, end].map { ($0, SVGPlot.significant(pow(10, $0))) }
        }
        return PlotAxis(low: start, high: end, logarithmic: true, ticks: ticks)
    }
}
