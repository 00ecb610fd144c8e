import ScalpelData

/// One trace of a `SignalWeightChart`: a 1-D signal (an ECG beat, a time series) and a weight
/// per sample (attention, saliency) in [0, 1].
public struct WeightedSignal: Equatable, Sendable {
    /// The panel title, e.g. "true N, predicted N".
    public var title: String
    /// The signal, one value per sample; a non-finite value breaks the line.
    public var values: [Double]
    /// The weight of each sample, drawn through the chart's colormap; values outside [0, 1]
    /// are clamped and NaN is taken as 0.
    public var weights: [Double]

    /// A trace with its per-sample weights.
    ///
    /// - Throws: `ClinicDataError.invalidInput` when `values` is empty or `weights` has a
    ///   different number of entries.
    public init(title: String, values: [Double], weights: [Double]) throws(ClinicDataError) {
        guard !values.isEmpty else { throw .invalidInput(reason: "WeightedSignal '\(title)': no values") }
        guard weights.count == values.count else {
            throw .invalidInput(
                reason: "WeightedSignal '\(title)': \(values.count) values but \(weights.count) weights")
        }
        self.title = title
        self.values = values
        self.weights = weights
    }
}

/// Signals drawn as black lines over their per-sample weights, in a grid of panels with a
/// shared colour bar: for attention or saliency over ECG beats and other time series.
///
/// Each sample `i` occupies an equal slot of the panel's width, and the line passes through
/// the slot centres. The weights are shown either as the panel background behind the line or
/// as a band beneath it (`style`); either way a colour bar from 0 to 1 explains the colours.
public struct SignalWeightChart: Equatable, Sendable {
    /// How the weights are shown.
    public enum Style: String, Equatable, Sendable {
        /// Each sample's slot of the panel background takes its weight's colour.
        case background
        /// A band beneath the panel is coloured slot by slot; the panel itself stays white.
        case band
    }

    /// The title above the grid.
    public var title: String
    /// The panels, filled row by row.
    public var signals: [WeightedSignal]
    /// The number of panels per row (at least 1).
    public var columns: Int
    /// How the weights are shown.
    public var style: Style
    /// The colours of the weights; `reds` (white to dark red) keeps a black line readable over
    /// a `background`, `viridis` suits a `band`.
    public var colormap: Colormap
    /// The colour bar's label, e.g. "attention".
    public var weightLabel: String
    /// The x axis label under the grid, e.g. "sample" or "time (s)".
    public var xLabel: String
    /// The x distance between samples, for the x tick labels (e.g. 1/250 for 250 Hz and seconds).
    public var sampleSpacing: Double
    /// Whether all panels share one y range (comparable amplitudes) or each fits its own.
    public var sharedYRange: Bool
    /// The width of each panel's plot area, in pixels (at least 60).
    public var panelWidth: Int
    /// The height of each panel's plot area, in pixels (at least 40).
    public var panelHeight: Int

    /// A chart; every part can also be set afterwards.
    public init(
        title: String = "", signals: [WeightedSignal], columns: Int = 2, style: Style = .background,
        colormap: Colormap = .reds, weightLabel: String = "weight", xLabel: String = "sample",
        sampleSpacing: Double = 1, sharedYRange: Bool = true, panelWidth: Int = 300, panelHeight: Int = 140
    ) {
        self.title = title
        self.signals = signals
        self.columns = columns
        self.style = style
        self.colormap = colormap
        self.weightLabel = weightLabel
        self.xLabel = xLabel
        self.sampleSpacing = sampleSpacing
        self.sharedYRange = sharedYRange
        self.panelWidth = panelWidth
        self.panelHeight = panelHeight
    }

    /// The chart as a standalone SVG 1.1 document.
    public func svg() -> String {
        let columns = max(1, min(self.columns, max(signals.count, 1)))
        let rows = max(1, (signals.count + columns - 1) / columns)
        let plotWidth = Double(max(panelWidth, 60))
        let plotHeight = Double(max(panelHeight, 40))
        let bandHeight = style == .band ? 12.0 : 0
        let sharedAxis = sharedYRange ? PlotAxis.make(data: signals.flatMap(\.values), fixed: nil, logarithmic: false) : nil
        let axes = signals.map { sharedAxis ?? PlotAxis.make(data: $0.values, fixed: nil, logarithmic: false) }
        let widestTick = axes.flatMap(\.ticks).map { estimatedTextWidth($0.label, size: 10) }.max() ?? 0

        let titleHeight = 20.0
        let tickLabelHeight = 22.0
        let yTickWidth = widestTick + 12
        let cellWidth = yTickWidth + plotWidth + 16
        let cellHeight = titleHeight + plotHeight + (bandHeight > 0 ? bandHeight + 4 : 0) + tickLabelHeight
        let top = title.isEmpty ? 8.0 : 36.0
        let left = 8.0
        let bottom = xLabel.isEmpty ? 8.0 : 28.0
        let colorBarX = left + Double(columns) * cellWidth + 8
        let width = colorBarX + 16 + 64
        let height = top + Double(rows) * cellHeight + bottom

        var svg = SVGWriter(width: width, height: height, title: title)
        if !title.isEmpty {
            svg.text(title, at: SVGPoint(x: width / 2, y: 18), size: 15, anchor: .middle, bold: true)
        }
        for (index, signal) in signals.enumerated() {
            let row = index / columns
            let column = index % columns
            let plot = PlotFrame(
                x: left + Double(column) * cellWidth + yTickWidth, y: top + Double(row) * cellHeight + titleHeight,
                width: plotWidth, height: plotHeight)
            drawPanel(&svg, signal, plot: plot, yAxis: axes[index], bandHeight: bandHeight)
        }
        if !xLabel.isEmpty {
            let gridCenter = left + Double(columns) * cellWidth / 2
            svg.text(xLabel, at: SVGPoint(x: gridCenter, y: height - 14), size: 12, anchor: .middle)
        }
        svg.colorBar(
            x: colorBarX, y: top + titleHeight, width: 14, height: plotHeight + (bandHeight > 0 ? bandHeight + 4 : 0),
            colormap: colormap, ticks: [(0, "0"), (0.5, "0.5"), (1, "1")], label: weightLabel)
        return svg.finished()
    }

    private func drawPanel(
        _ svg: inout SVGWriter, _ signal: WeightedSignal, plot: PlotFrame, yAxis: PlotAxis, bandHeight: Double
    ) {
        let count = signal.values.count
        let slot = plot.width / Double(count)
        svg.text(signal.title, at: SVGPoint(x: plot.x + plot.width / 2, y: plot.y - 10), size: 12, anchor: .middle)

        // The weights, one rectangle per run of samples of the same colour.
        let colors = signal.weights.map { colormap.color($0) }
        let weightTop = style == .band ? plot.y + plot.height + 4 : plot.y
        let weightHeight = style == .band ? bandHeight : plot.height
        if style == .band {
            svg.rect(x: plot.x, y: plot.y, width: plot.width, height: plot.height, fill: "#ffffff")
        }
        var start = 0
        while start < count {
            var end = start + 1
            while end < count, colors[end] == colors[start] { end += 1 }
            svg.rect(
                x: plot.x + Double(start) * slot, y: weightTop, width: Double(end - start) * slot, height: weightHeight,
                fill: colors[start].hex, crisp: true)
            start = end
        }
        if style == .band {
            svg.rect(x: plot.x, y: weightTop, width: plot.width, height: weightHeight, fill: "none", stroke: "#000000",
                strokeWidth: 0.5)
        }

        // The trace through the slot centres, broken at non-finite values.
        var runs: [[SVGPoint]] = []
        var run: [SVGPoint] = []
        for (index, value) in signal.values.enumerated() {
            guard let fraction = yAxis.fraction(value) else {
                runs.append(run)
                run = []
                continue
            }
            run.append(SVGPoint(x: plot.x + (Double(index) + 0.5) * slot, y: plot.y + plot.height - fraction * plot.height))
        }
        runs.append(run)
        svg.path(runs, stroke: "#000000", width: 1.5)
        for single in runs where single.count == 1 { svg.circle(at: single[0], radius: 1.5, fill: "#000000") }
        svg.rect(x: plot.x, y: plot.y, width: plot.width, height: plot.height, fill: "none", stroke: "#000000")

        // Ticks: y on the left, x (sample position × spacing) under the panel.
        for tick in yAxis.ticks {
            let y = plot.y + plot.height - yAxis.fraction(ofUnit: tick.position) * plot.height
            svg.line(from: SVGPoint(x: plot.x - 4, y: y), to: SVGPoint(x: plot.x, y: y), stroke: "#000000")
            svg.text(tick.label, at: SVGPoint(x: plot.x - 6, y: y), size: 10, anchor: .end)
        }
        let spacing = sampleSpacing.isFinite && sampleSpacing > 0 ? sampleSpacing : 1
        let span = Double(count - 1) * spacing
        let (ticks, step) = SVGPlot.niceTicks(low: 0, high: max(span, spacing), targetCount: 5)
        let axisBottom = plot.y + plot.height + (style == .band ? bandHeight + 4 : 0)
        for tick in ticks where tick >= 0 && tick <= span + step * 1e-9 {
            let x = plot.x + (tick / spacing + 0.5) * slot
            svg.line(from: SVGPoint(x: x, y: axisBottom), to: SVGPoint(x: x, y: axisBottom + 4), stroke: "#000000")
            svg.text(SVGPlot.tickLabel(tick, step: step), at: SVGPoint(x: x, y: axisBottom + 12), size: 10, anchor: .middle)
        }
    }
}
