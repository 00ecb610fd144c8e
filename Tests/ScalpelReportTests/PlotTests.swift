import Foundation
@testable import ScalpelData
import ScalpelMetrics
import Testing
@testable import ScalpelReport

#if canImport(FoundationXML)
import FoundationXML
#endif

/// An SVG document parsed with Foundation's XML parser: every element with its attributes, in
/// document order, and the text inside each `text` and `title` element.
final class ParsedSVG: NSObject, XMLParserDelegate {
    struct Element {
        var name: String
        var attributes: [String: String]
    }

    private(set) var elements: [Element] = []
    private(set) var texts: [String] = []
    private(set) var title: String?
    private var openText: String?
    private var openName: String?

    /// Parses `svg`; throws when it is not well-formed XML.
    init(_ svg: String) throws {
        super.init()
        let parser = XMLParser(data: Data(svg.utf8))
        parser.delegate = self
        if !parser.parse() {
            throw ParseError(description: "\(parser.parserError.map { "\($0)" } ?? "unknown error") at line \(parser.lineNumber)")
        }
    }

    struct ParseError: Error, CustomStringConvertible {
        var description: String
    }

    var root: Element? { elements.first }

    func elements(named name: String) -> [Element] { elements.filter { $0.name == name } }

    func parser(
        _ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?, qualifiedName: String?,
        attributes: [String: String] = [:]
    ) {
        elements.append(Element(name: elementName, attributes: attributes))
        if elementName == "text" || elementName == "title" {
            openText = ""
            openName = elementName
        }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        openText? += string
    }

    func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName: String?) {
        guard elementName == openName, let text = openText else { return }
        if elementName == "title" { title = text } else { texts.append(text) }
        openText = nil
        openName = nil
    }
}

/// Every number in the attributes `names` of `elements`, for bounds checks.
func numbers(in elements: [ParsedSVG.Element], attributes names: [String]) -> [Double] {
    elements.flatMap { element in names.compactMap { element.attributes[$0].flatMap(Double.init) } }
}

@Suite struct SVGTextTests {
    @Test func escapingCoversMarkupQuotesAndForbiddenCharacters() {
        #expect(SVGPlot.escape("a<b & \"c\" 'd'>") == "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;")
        #expect(SVGPlot.escape("x\u{1}y\u{FFFE}") == "x\u{FFFD}y\u{FFFD}")
        #expect(SVGPlot.escape("tab\tline\n é ✓") == "tab\tline\n é ✓")
    }

    @Test func numberFormattingIsFixedAndTrimmed() {
        #expect(SVGPlot.format(0) == "0")
        #expect(SVGPlot.format(-0.001) == "0")
        #expect(SVGPlot.format(-0.0) == "0")
        #expect(SVGPlot.format(1.5) == "1.5")
        #expect(SVGPlot.format(2) == "2")
        #expect(SVGPlot.format(-0.25) == "-0.25")
        #expect(SVGPlot.format(1234.5678) == "1234.57")
        #expect(SVGPlot.format(0.125) == "0.13")
        #expect(SVGPlot.format(0.000123, decimals: 6) == "0.000123")
        #expect(SVGPlot.format(7.25, decimals: 0) == "7")
        #expect(SVGPlot.format(1e20) == "1e+20")
        #expect(SVGPlot.format(.nan) == "NaN")
        #expect(SVGPlot.format(-.infinity) == "-inf")
    }

    @Test func niceTicksAreRoundAndCoverTheData() {
        #expect(SVGPlot.niceTicks(low: 0, high: 1).ticks == [0, 0.2, 0.4, 0.6, 0.8, 1])
        #expect(SVGPlot.niceTicks(low: 0.13, high: 0.87).ticks == [0, 0.2, 0.4, 0.6, 0.8, 1])
        let wide = SVGPlot.niceTicks(low: -3, high: 97)
        #expect(wide.ticks == [-20, 0, 20, 40, 60, 80, 100])
        #expect(wide.step == 20)
        let flat = SVGPlot.niceTicks(low: 5, high: 5)
        #expect(flat.ticks.first! <= 5 && flat.ticks.last! >= 5 && flat.ticks.count >= 2)
        let tiny = SVGPlot.niceTicks(low: 0.1, high: 0.3)
        #expect(tiny.ticks.map { SVGPlot.tickLabel($0, step: tiny.step) } == ["0.1", "0.15", "0.2", "0.25", "0.3"])
    }

    @Test func tickLabels() {
        #expect(SVGPlot.tickLabel(0.2, step: 0.2) == "0.2")
        #expect(SVGPlot.tickLabel(40, step: 20) == "40")
        #expect(SVGPlot.tickLabel(2e-5, step: 1e-5) == "2e-5")
        #expect(SVGPlot.tickLabel(1_500_000, step: 500_000) == "1.5e6")
        #expect(SVGPlot.decadeLabel(-2) == "0.01")
        #expect(SVGPlot.decadeLabel(3) == "1000")
        #expect(SVGPlot.decadeLabel(-7) == "1e-7")
    }

    @Test func extremeInputsStayFiniteAndParse() throws {
        let huge = SVGPlot.niceTicks(low: -.greatestFiniteMagnitude, high: .greatestFiniteMagnitude)
        #expect(huge.ticks.count >= 2 && huge.ticks.allSatisfy { $0.isFinite })
        #expect(SVGPlot.niceTicks(low: .nan, high: 3).ticks == [0, 0.2, 0.4, 0.6, 0.8, 1])
        #expect(SVGPlot.niceTicks(low: 0, high: 1, targetCount: 1_000_000).ticks.count <= 101)
        #expect(SVGPlot.tickLabel(3, step: .nan) == "3")
        #expect(SVGPlot.tickLabel(.infinity, step: 1) == "inf")
        let chart = try LineChart(series: [LineSeries(name: "s", x: [0, 1, 2], y: [-1e308, 0, 1e308])])
        let svg = chart.svg()
        #expect(!svg.contains("NaN") && !svg.contains("inf"))
        #expect(try ParsedSVG(svg).elements(named: "path").count == 1)
    }

    @Test func colormapsMatchTheirReferenceColours() {
        #expect(Colormap.viridis.color(0).hex == "#440154")
        #expect(Colormap.viridis.color(1).hex == "#fde725")
        // matplotlib's viridis(0.5) is #21918c; the eight-anchor approximation stays within a few levels.
        let middle = Colormap.viridis.color(0.5)
        #expect(abs(Int(middle.red) - 0x21) <= 4 && abs(Int(middle.green) - 0x91) <= 4 && abs(Int(middle.blue) - 0x8c) <= 4)
        #expect(Colormap.jet.color(0) == PlotColor(red: 0, green: 0, blue: 128))
        #expect(Colormap.jet.color(0.5) == PlotColor(red: 128, green: 255, blue: 128))
        #expect(Colormap.jet.color(1) == PlotColor(red: 128, green: 0, blue: 0))
        #expect(Colormap.greys.color(0.5) == PlotColor(red: 128, green: 128, blue: 128))
        #expect(Colormap.reds.color(0) == .white)
        #expect(Colormap.viridis.color(-3) == Colormap.viridis.color(0))
        #expect(Colormap.viridis.color(.nan) == Colormap.viridis.color(0))
        #expect(Colormap.viridis.color(7) == Colormap.viridis.color(1))
        #expect(PlotColor(hex: 0x0a0b0c).hex == "#0a0b0c")
    }
}

@Suite struct LineChartTests {
    func trainingCurves() -> LineChart {
        LineChart(
            title: "Loss <train & validation>", xLabel: "epoch", yLabel: "loss",
            series: [
                LineSeries(name: "train", y: [1.2, 0.8, 0.5, 0.4, 0.35]),
                LineSeries(name: "validation \"held out\"", y: [1.3, 0.9, .nan, 0.6, 0.62], dashed: true, markers: true),
            ])
    }

    @Test func validSVGWithTitleLegendAndAxes() throws {
        let svg = trainingCurves().svg()
        #expect(svg.hasPrefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg "))
        let parsed = try ParsedSVG(svg)
        let root = try #require(parsed.root)
        #expect(root.name == "svg")
        #expect(root.attributes["xmlns"] == "http://www.w3.org/2000/svg")
        #expect(root.attributes["version"] == "1.1")
        #expect(root.attributes["width"] == "640" && root.attributes["height"] == "420")
        #expect(parsed.title == "Loss <train & validation>")
        #expect(parsed.texts.contains("Loss <train & validation>"))
        #expect(parsed.texts.contains("validation \"held out\""))
        #expect(parsed.texts.contains("train"))
        #expect(parsed.texts.contains("epoch") && parsed.texts.contains("loss"))
        // x ticks 1…5, y ticks from 0.2 to 1.4.
        for label in ["1", "2", "3", "4", "5", "0.2", "1.4"] { #expect(parsed.texts.contains(label)) }

        let paths = parsed.elements(named: "path")
        #expect(paths.count == 2)
        #expect(paths[0].attributes["stroke"] == PlotColor.palette[0].hex)
        #expect(paths[1].attributes["stroke"] == PlotColor.palette[1].hex)
        #expect(paths[1].attributes["stroke-dasharray"] != nil)
        // The NaN breaks the validation curve into two runs; its four finite points are marked.
        #expect(paths[1].attributes["d"]!.filter { $0 == "M" }.count == 2)
        #expect(parsed.elements(named: "circle").count == 4 + 1)  // and one in the legend
    }

    @Test func outputIsDeterministic() throws {
        #expect(trainingCurves().svg() == trainingCurves().svg())
        let roc = try LineChart(
            title: "ROC", series: [LineSeries(name: "model", x: [0, 0.1, 0.4, 1], y: [0, 0.7, 0.95, 1])],
            showDiagonal: true, diagonalLabel: "chance", xRange: 0...1, yRange: 0...1, legend: .bottomRight)
        #expect(roc.svg() == roc.svg())
    }

    @Test func rocCurveWithDiagonalStaysInsideItsRange() throws {
        let chart = try LineChart(
            title: "ROC", xLabel: "1 - specificity", yLabel: "sensitivity",
            series: [LineSeries(name: "model", x: [0, 0.1, 0.4, 1, 2], y: [0, 0.7, 0.95, 1, 3])],
            showDiagonal: true, diagonalLabel: "chance", xRange: 0...1, yRange: 0...1, legend: .bottomRight)
        let parsed = try ParsedSVG(chart.svg())
        let paths = parsed.elements(named: "path")
        #expect(paths.count == 2)  // the diagonal, then the curve
        #expect(paths[0].attributes["stroke-dasharray"] == "6 4")
        #expect(parsed.texts.contains("chance"))
        #expect(["0", "0.2", "0.4", "0.6", "0.8", "1"].allSatisfy(parsed.texts.contains))
        // The point (2, 3) lies outside 0...1: the curve is clipped at the frame's corner.
        let frame = try #require(parsed.elements(named: "rect").first { $0.attributes["stroke"] == "#000000" })
        let left = Double(frame.attributes["x"]!)!
        let top = Double(frame.attributes["y"]!)!
        let right = left + Double(frame.attributes["width"]!)!
        let bottom = top + Double(frame.attributes["height"]!)!
        let coordinates = paths[1].attributes["d"]!.split(whereSeparator: { $0 == " " || $0 == "M" || $0 == "L" })
            .compactMap { Double($0) }
        #expect(coordinates.count == 8)
        for (index, value) in coordinates.enumerated() {
            if index % 2 == 0 { #expect(value >= left - 0.01 && value <= right + 0.01) }
            else { #expect(value >= top - 0.01 && value <= bottom + 0.01) }
        }
        #expect(abs(coordinates[6] - right) < 0.02 && abs(coordinates[7] - top) < 0.02)
    }

    @Test func logarithmicYAxisTicksDecadesAndSkipsNonPositiveValues() throws {
        let chart = LineChart(
            title: "loss", series: [LineSeries(name: "train", y: [2, 0.5, 0.05, 0, 0.004])], logY: true)
        let parsed = try ParsedSVG(chart.svg())
        for label in ["0.001", "0.01", "0.1", "1", "10"] { #expect(parsed.texts.contains(label)) }
        let path = try #require(parsed.elements(named: "path").first)
        // The zero cannot be drawn on a log axis: the first three points form one run, the last stands alone.
        #expect(path.attributes["d"]!.filter { $0 == "M" }.count == 1)
        #expect(path.attributes["d"]!.filter { $0 == "L" }.count == 2)
    }

    @Test func reliabilityDiagramBinsPredictions() throws {
        let probabilities = [0.05, 0.15, 0.12, 0.85, 0.95, 0.9, 0.55]
        let outcomes = [false, false, true, true, true, false, true]
        let chart = try LineChart.reliabilityDiagram(probabilities: probabilities, outcomes: outcomes, binCount: 10)
        #expect(chart.bars.count == 1)
        #expect(chart.bars[0].centers.map { SVGPlot.format($0) } == ["0.05", "0.15", "0.55", "0.85", "0.95"])
        #expect(chart.bars[0].heights.map { SVGPlot.format($0) } == ["0", "0.5", "1", "1", "0.5"])
        #expect(chart.series[0].x.map { SVGPlot.format($0, decimals: 3) } == ["0.05", "0.135", "0.55", "0.85", "0.925"])
        let parsed = try ParsedSVG(chart.svg())
        let bars = parsed.elements(named: "rect").filter { $0.attributes["fill-opacity"] == "0.45" }
        #expect(bars.count == 5 + 1)  // one per non-empty bin, one in the legend
        #expect(parsed.texts.contains("perfectly calibrated"))
        #expect(throws: ClinicDataError.self) {
            try LineChart.reliabilityDiagram(probabilities: [0.5, 1.5], outcomes: [true, false])
        }
        #expect(throws: ClinicDataError.self) {
            try LineChart.reliabilityDiagram(probabilities: [0.5], outcomes: [true, false])
        }
    }

    @Test func mismatchedSeriesAreRefused() {
        #expect(throws: ClinicDataError.self) { try LineSeries(name: "x", x: [1, 2], y: [1]) }
        #expect(throws: ClinicDataError.self) { try BarSeries(name: "b", centers: [1], heights: [1], width: 0) }
    }

    @Test func emptyChartIsStillValid() throws {
        let parsed = try ParsedSVG(LineChart().svg())
        #expect(parsed.root?.name == "svg")
        #expect(parsed.elements(named: "path").isEmpty)
    }
}

@Suite struct SignalAndHeatmapTests {
    func beats(style: SignalWeightChart.Style) throws -> SignalWeightChart {
        SignalWeightChart(
            title: "ECG attention", signals: [
                try WeightedSignal(title: "true N, predicted N", values: [0, 1, 3, 1, 0], weights: [0, 0, 1, 1, 0.5]),
                try WeightedSignal(title: "true R-on-T, predicted <N>", values: [0, -1, .nan, 2, 0], weights: [0.2, 0.2, 0.2, 0.9, 2]),
                try WeightedSignal(title: "third", values: [1, 2, 3, 4, 5], weights: [1, 1, 1, 1, 1]),
            ], columns: 2, style: style, weightLabel: "attention")
    }

    @Test func signalPanelsWithWeightsAndColourBar() throws {
        let chart = try beats(style: .background)
        let svg = chart.svg()
        #expect(svg == chart.svg())
        let parsed = try ParsedSVG(svg)
        #expect(parsed.texts.contains("true N, predicted N"))
        #expect(parsed.texts.contains("true R-on-T, predicted <N>"))
        #expect(parsed.texts.contains("attention"))
        #expect(["0", "0.5", "1"].allSatisfy(parsed.texts.contains))
        let fills = parsed.elements(named: "rect").compactMap { $0.attributes["fill"] }
        #expect(fills.contains(Colormap.reds.color(1).hex))
        #expect(fills.contains(Colormap.reds.color(0.5).hex))
        // Runs of equal weight are one rectangle: 3 + 3 (the 2 clamps to 1) + 1, all crisp;
        // the colour bar adds its 64 bands.
        let crisp = parsed.elements(named: "rect").filter { $0.attributes["shape-rendering"] == "crispEdges" }
        #expect(crisp.count == 7 + 64)
        // One trace per panel; the NaN splits the second into runs of two points.
        let paths = parsed.elements(named: "path")
        #expect(paths.count == 3)
        #expect(paths[1].attributes["d"]!.filter { $0 == "M" }.count == 2)
    }

    @Test func bandStyleKeepsThePanelWhite() throws {
        let parsed = try ParsedSVG(try beats(style: .band).svg())
        let crisp = parsed.elements(named: "rect").filter { $0.attributes["shape-rendering"] == "crispEdges" }
        #expect(crisp.count == 7 + 64)
        let heights = Set(crisp.prefix(7).compactMap { $0.attributes["height"] })
        #expect(heights == ["12"])
    }

    @Test func weightedSignalChecksItsArrays() {
        #expect(throws: ClinicDataError.self) { try WeightedSignal(title: "x", values: [1, 2], weights: [1]) }
        #expect(throws: ClinicDataError.self) { try WeightedSignal(title: "x", values: [], weights: []) }
    }

    @Test func confusionMatrixHeatmap() throws {
        let heatmap = try Heatmap.confusionMatrix(
            [[50, 2, 0], [3, 40, 1], [0, 0, 0]], classNames: ["N", "R on T", "<PVC>"], normalizeRows: false)
        let parsed = try ParsedSVG(heatmap.svg())
        #expect(parsed.title == "Confusion matrix")
        for label in ["50", "2", "3", "40", "1", "N", "R on T", "<PVC>", "predicted class", "true class"] {
            #expect(parsed.texts.contains(label))
        }
        let cells = parsed.elements(named: "rect").filter { $0.attributes["width"] == "40" && $0.attributes["height"] == "40" }
        #expect(cells.count == 9)
        #expect(cells[0].attributes["fill"] == Colormap.viridis.color(1).hex)
        #expect(cells[2].attributes["fill"] == Colormap.viridis.color(0).hex)
        // Light text on the dark cell of 0, dark text on the yellow cell of 50.
        let fiftyText = parsed.elements(named: "text")[1]
        #expect(fiftyText.attributes["fill"] == "#000000")
        #expect(heatmap.svg() == heatmap.svg())
    }

    @Test func normalisedRowsAndEmptyClasses() throws {
        let heatmap = try Heatmap.confusionMatrix([[3, 1], [0, 0]], classNames: ["a", "b"], normalizeRows: true)
        #expect(heatmap.values[0] == [0.75, 0.25])
        #expect(heatmap.values[1].allSatisfy { $0.isNaN })
        let parsed = try ParsedSVG(heatmap.svg())
        #expect(parsed.texts.contains("0.75") && parsed.texts.contains("0.25"))
        #expect(parsed.elements(named: "rect").filter { $0.attributes["fill"] == "#d9d9d9" }.count == 2)
    }

    @Test func attentionMatrixWithoutLabels() throws {
        let values = (0..<6).map { row in (0..<6).map { Double(row * $0) } }
        let heatmap = try Heatmap(title: "attention", values: values, cellSize: 8, colorBarLabel: "weight")
        let parsed = try ParsedSVG(heatmap.svg())
        #expect(parsed.elements(named: "rect").filter { $0.attributes["width"] == "8" }.count == 36)
        #expect(parsed.texts.contains("weight"))
    }

    @Test func heatmapChecksItsShape() {
        #expect(throws: ClinicDataError.self) { try Heatmap(values: []) }
        #expect(throws: ClinicDataError.self) { try Heatmap(values: [[1, 2], [3]]) }
        #expect(throws: ClinicDataError.self) { try Heatmap(values: [[1, 2]], rowLabels: ["a", "b"]) }
        #expect(throws: ClinicDataError.self) { try Heatmap.confusionMatrix([[1, 2]], classNames: ["a"]) }
        #expect(throws: ClinicDataError.self) { try Heatmap.confusionMatrix([[1, -2], [0, 0]], classNames: ["a", "b"]) }
    }

    @Test func longColumnLabelsAreSlanted() throws {
        let heatmap = try Heatmap(
            values: [[1, 2]], rowLabels: ["r"], columnLabels: ["a very long class name", "b"], cellSize: 30)
        let parsed = try ParsedSVG(heatmap.svg())
        let label = try #require(parsed.elements(named: "text").first { $0.attributes["transform"]?.hasPrefix("rotate(-45") == true })
        #expect(label.attributes["text-anchor"] == "end")
    }
}

/// A PNG written by `PNGEncoder`, read back with checks independent of the encoder: chunk CRCs
/// by the bitwise `StoredZip.crc32`, stored deflate blocks by their lengths and complements,
/// Adler-32 by the per-byte definition.
struct StoredPNG {
    var width: Int
    var height: Int
    var colorType: UInt8
    var chunkTypes: [String]
    var pixels: [UInt8]

    struct Invalid: Error, CustomStringConvertible {
        var description: String
    }

    init(_ bytes: [UInt8]) throws {
        func bigEndian(_ at: Int) -> Int { (0..<4).reduce(0) { $0 << 8 | Int(bytes[at + $1]) } }
        guard bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) else { throw Invalid(description: "signature") }
        var position = 8
        var header: [UInt8] = []
        var stream: [UInt8] = []
        chunkTypes = []
        while position < bytes.count {
            let length = bigEndian(position)
            let typeAndData = Array(bytes[position + 4..<position + 8 + length])
            let type = String(decoding: typeAndData.prefix(4), as: UTF8.self)
            guard UInt32(bigEndian(position + 8 + length)) == PNGEncoder.crc32(typeAndData) else {
                throw Invalid(description: "CRC of chunk \(type)")
            }
            chunkTypes.append(type)
            if type == "IHDR" { header = Array(typeAndData.dropFirst(4)) }
            if type == "IDAT" { stream += typeAndData.dropFirst(4) }
            position += 12 + length
        }
        guard header.count == 13 else { throw Invalid(description: "IHDR") }
        width = (0..<4).reduce(0) { $0 << 8 | Int(header[$1]) }
        height = (4..<8).reduce(0) { $0 << 8 | Int(header[$1]) }
        colorType = header[9]
        guard header[8] == 8, header[10] == 0, header[11] == 0, header[12] == 0 else { throw Invalid(description: "IHDR fields") }

        guard stream.count >= 6, stream[0] == 0x78, (Int(stream[0]) * 256 + Int(stream[1])) % 31 == 0 else {
            throw Invalid(description: "zlib header")
        }
        var inflated: [UInt8] = []
        var at = 2
        while true {
            let blockHeader = stream[at]
            guard blockHeader >> 1 == 0 else { throw Invalid(description: "not a stored block") }
            let length = Int(stream[at + 1]) | Int(stream[at + 2]) << 8
            let complement = Int(stream[at + 3]) | Int(stream[at + 4]) << 8
            guard length ^ complement == 0xFFFF else { throw Invalid(description: "LEN/NLEN") }
            inflated += stream[at + 5..<at + 5 + length]
            at += 5 + length
            if blockHeader & 1 == 1 { break }
        }
        var a = 1
        var b = 0
        for byte in inflated {
            a = (a + Int(byte)) % 65_521
            b = (b + a) % 65_521
        }
        guard Array(stream[at...]) == [UInt8(b >> 8), UInt8(b & 0xFF), UInt8(a >> 8), UInt8(a & 0xFF)] else {
            throw Invalid(description: "Adler-32")
        }
        let channels = [0: 1, 2: 3, 6: 4][Int(colorType)]!
        let rowBytes = width * channels
        guard inflated.count == height * (rowBytes + 1) else { throw Invalid(description: "scanline bytes") }
        pixels = []
        for row in 0..<height {
            guard inflated[row * (rowBytes + 1)] == 0 else { throw Invalid(description: "filter type") }
            pixels += inflated[row * (rowBytes + 1) + 1..<(row + 1) * (rowBytes + 1)]
        }
    }
}

/// The python3 on the PATH, if there is one.
let python3Path: String? = ProcessInfo.processInfo.environment["PATH"]?
    .split(separator: ":").map { "\($0)/python3" }
    .first { FileManager.default.isExecutableFile(atPath: $0) }

/// Decodes the PNG at `path` with Python's zlib (CRC-32 of every chunk, inflate, Adler-32):
/// "width height colortype chunk,types" and the pixels as hex.
func decodeWithPython(_ path: String) throws -> (summary: String, pixels: String) {
    let script = """
        import sys, struct, zlib
        data = open(sys.argv[1], 'rb').read()
        assert data[:8] == b'\\x89PNG\\r\\n\\x1a\\n'
        pos, idat, types, ihdr = 8, b'', [], None
        while pos < len(data):
            n, = struct.unpack('>I', data[pos:pos + 4])
            kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
            crc, = struct.unpack('>I', data[pos + 8 + n:pos + 12 + n])
            assert zlib.crc32(kind + body) & 0xffffffff == crc, kind
            types.append(kind.decode())
            if kind == b'IHDR': ihdr = struct.unpack('>IIBBBBB', body)
            if kind == b'IDAT': idat += body
            pos += 12 + n
        w, h, depth, ctype = ihdr[:4]
        stride = w * {0: 1, 2: 3, 6: 4}[ctype]
        raw = zlib.decompress(idat)
        assert depth == 8 and len(raw) == h * (stride + 1)
        out = bytearray()
        for r in range(h):
            assert raw[r * (stride + 1)] == 0
            out += raw[r * (stride + 1) + 1:(r + 1) * (stride + 1)]
        print(w, h, ctype, ','.join(types))
        print(out.hex())
        """
    let process = Process()
    process.executableURL = URL(fileURLWithPath: python3Path!)
    process.arguments = ["-c", script, path]
    let output = Pipe()
    process.standardOutput = output
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let lines = String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
    guard process.terminationStatus == 0, lines.count == 2 else {
        throw StoredPNG.Invalid(description: "python3 exited with \(process.terminationStatus): \(lines)")
    }
    return (lines[0], lines[1])
}

func hex(_ bytes: [UInt8]) -> String {
    bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
}

@Suite struct PNGTests {
    @Test func crc32MatchesTheStandardCheckValue() {
        #expect(PNGEncoder.crc32(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(PNGEncoder.crc32([UInt8]()) == 0)
        let bytes = (0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 7919 &+ 13) }
        #expect(PNGEncoder.crc32(bytes) == PNGEncoder.crc32(bytes))
        #expect(PNGEncoder.crc32(bytes[2000...], initial: PNGEncoder.crc32(bytes[..<2000])) == PNGEncoder.crc32(bytes))
    }

    @Test func adler32MatchesItsDefinition() {
        #expect(PNGEncoder.adler32(Array("Wikipedia".utf8)) == 0x11E6_0398)
        #expect(PNGEncoder.adler32([UInt8]()) == 1)
        // Long runs of 0xFF are the worst case for the deferred modulo.
        let bytes = [UInt8](repeating: 0xFF, count: 100_000) + (0..<7777).map { UInt8(truncatingIfNeeded: $0) }
        var a = 1
        var b = 0
        for byte in bytes {
            a = (a + Int(byte)) % 65_521
            b = (b + a) % 65_521
        }
        #expect(PNGEncoder.adler32(bytes) == UInt32(b << 16 | a))
    }

    @Test func zlibStreamOfStoredBlocks() {
        #expect(PNGEncoder.zlibStored([]) == [0x78, 0x01, 0x01, 0x00, 0x00, 0xFF, 0xFF, 0, 0, 0, 1])
        #expect(PNGEncoder.zlibStored([7]) == [0x78, 0x01, 0x01, 0x01, 0x00, 0xFE, 0xFF, 7, 0, 8, 0, 8])
        let stream = PNGEncoder.zlibStored([UInt8](repeating: 3, count: 70_000))
        #expect(Array(stream[2..<7]) == [0x00, 0xFF, 0xFF, 0x00, 0x00])
        #expect(Array(stream[65_542..<65_547]) == [0x01, 0x71, 0x11, 0x8E, 0xEE])  // 4465 = 0x1171
        #expect(stream.count == 2 + 5 + 65_535 + 5 + 4_465 + 4)
    }

    @Test func smallImagesRoundTripInEveryFormat() throws {
        let cases: [(PNGPixelFormat, UInt8)] = [(.grey, 0), (.rgb, 2), (.rgba, 6)]
        for (format, colorType) in cases {
            let pixels = (0..<(3 * 2 * format.channels)).map { UInt8($0 * 11) }
            let bytes = try PNGEncoder.encode(pixels: pixels, width: 3, height: 2, format: format, compression: .stored)
            #expect(Array(bytes.prefix(8)) == PNGEncoder.signature)
            let png = try StoredPNG(bytes)
            #expect(png.chunkTypes == ["IHDR", "IDAT", "IEND"])
            #expect(png.width == 3 && png.height == 2 && png.colorType == colorType)
            #expect(png.pixels == pixels)
        }
    }

    @Test func largeImageSpansBlocksAndChunks() throws {
        let width = 620
        let height = 620
        let pixels = (0..<width * height * 3).map { UInt8(truncatingIfNeeded: $0 % 251) }
        let png = try StoredPNG(try PNGEncoder.encode(pixels: pixels, width: width, height: height, format: .rgb, compression: .stored))
        #expect(png.chunkTypes == ["IHDR", "IDAT", "IDAT", "IEND"])
        #expect(png.pixels == pixels)
    }

    @Test func wrongSizesAreRefused() {
        #expect(throws: ClinicDataError.self) { try PNGEncoder.encode(pixels: [], width: 0, height: 1, format: .grey) }
        #expect(throws: ClinicDataError.self) { try PNGEncoder.encode(pixels: [1, 2], width: 1, height: 1, format: .grey) }
        #expect(throws: ClinicDataError.self) { try PNGEncoder.encode(pixels: [1, 2, 3], width: 1, height: 1, format: .rgba) }
        #expect(throws: ClinicDataError.self) {
            try PNGEncoder.encode(pixels: [], width: Int.max / 2, height: Int.max / 2, format: .rgb)
        }
    }

    @Test(.enabled(if: python3Path != nil)) func pythonZlibDecodesTheFiles() throws {
        let folder = try temporaryFolder([:])
        defer { try? FileManager.default.removeItem(at: folder) }
        let images: [(PNGPixelFormat, Int, Int)] = [(.grey, 5, 3), (.rgb, 4, 4), (.rgba, 2, 3), (.rgb, 150, 150)]
        for compression in [PNGCompression.deflate, .stored] {
            for (index, (format, width, height)) in images.enumerated() {
                let pixels = (0..<width * height * format.channels).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ index) }
                let url = folder.appendingPathComponent("image\(index)-\(compression).png")
                try PNGEncoder.write(pixels: pixels, width: width, height: height, format: format, compression: compression, to: url)
                let decoded = try decodeWithPython(url.path)
                let colorType = ["grey": 0, "rgb": 2, "rgba": 6][format.rawValue]!
                #expect(decoded.summary == "\(width) \(height) \(colorType) IHDR,IDAT,IEND")
                #expect(decoded.pixels == hex(pixels))
            }
        }
        // An enlarged overlay (each pixel a 4 × 4 block, as the reports draw 28 × 28 images)
        // deflates to under a fifth of its stored size, and decodes to the same pixels.
        let weights = (0..<28 * 28).map { Float(($0 * 7) % 28) / 27 }
        let image = (0..<28 * 28).map { Float(($0 * 13) % 256) / 255 }
        let stored = folder.appendingPathComponent("overlay-stored.png"), deflated = folder.appendingPathComponent("overlay.png")
        try SaliencyOverlay.writePNG(to: stored, image: image, channels: 1, height: 28, width: 28, weights: weights, scale: 4, compression: .stored)
        try SaliencyOverlay.writePNG(to: deflated, image: image, channels: 1, height: 28, width: 28, weights: weights, scale: 4)
        let (storedSize, deflatedSize) = (try Data(contentsOf: stored).count, try Data(contentsOf: deflated).count)
        #expect(deflatedSize * 5 < storedSize, "\(deflatedSize) vs \(storedSize) bytes")
        #expect(try decodeWithPython(deflated.path).pixels == decodeWithPython(stored.path).pixels)
        #expect(try decodeWithPython(deflated.path).pixels
            == hex(SaliencyOverlay.render(image: image, channels: 1, height: 28, width: 28, weights: weights, scale: 4)))
    }
}

@Suite struct SaliencyOverlayTests {
    let image: [Float] = [0, 0.5, 1, .nan]
    let weights: [Float] = [0, 1, 0.5, 2]

    @Test func opacityBlendsImageAndColormap() throws {
        let plain = try SaliencyOverlay.render(image: image, channels: 1, height: 2, width: 2, weights: weights, opacity: 0)
        #expect(plain == [0, 0, 0, 128, 128, 128, 255, 255, 255, 0, 0, 0])
        let colours = try SaliencyOverlay.render(image: image, channels: 1, height: 2, width: 2, weights: weights, opacity: 1)
        let expected = weights.flatMap { weight -> [UInt8] in
            let color = Colormap.jet.color(Double(weight))
            return [color.red, color.green, color.blue]
        }
        #expect(colours == expected)
        let half = try SaliencyOverlay.render(image: image, channels: 1, height: 2, width: 2, weights: weights, opacity: 0.5)
        #expect(Array(half[3..<6]) == [128, 64, 64])  // (127.5 + 128) / 2, (127.5 + 0) / 2 twice
    }

    @Test func rgbImagesScalingAndNormalisedWeights() throws {
        let rgb: [Float] = [1, 0, 0, 1, 0, 1, 0, 0, 0, 0, 1, 0]  // channels-first: red plane, green plane, blue plane
        let out = try SaliencyOverlay.render(
            image: rgb, channels: 3, height: 1, width: 4, weights: [2, 4, 4, 6], colormap: .greys, opacity: 0.5,
            normalizeWeights: true, scale: 2)
        #expect(out.count == 2 * 8 * 3)
        // Weights 2, 4, 4, 6 stretch to 0, 0.5, 0.5, 1: grey levels 0, 128, 128, 255, half over each pixel.
        let firstRow: [UInt8] = [
            128, 0, 0, 128, 0, 0, 64, 192, 64, 64, 192, 64, 64, 64, 192, 64, 64, 192, 255, 128, 128, 255, 128, 128,
        ]
        #expect(Array(out[0..<24]) == firstRow)
        #expect(Array(out[24..<48]) == firstRow)
    }

    @Test func overlayIsWrittenAsRGBPNG() throws {
        let folder = try temporaryFolder([:])
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("overlay.png")
        try SaliencyOverlay.writePNG(
            to: url, image: image, channels: 1, height: 2, width: 2, weights: weights, colormap: .viridis, scale: 3, compression: .stored)
        let png = try StoredPNG([UInt8](try Data(contentsOf: url)))
        #expect(png.width == 6 && png.height == 6 && png.colorType == 2)
        let expected = try SaliencyOverlay.render(
            image: image, channels: 1, height: 2, width: 2, weights: weights, colormap: .viridis, scale: 3)
        #expect(png.pixels == expected)
        let unwritable = try #require(throws: ClinicDataError.self) {
            try SaliencyOverlay.writePNG(
                to: folder.appendingPathComponent("missing/overlay.png"), image: image, channels: 1, height: 2,
                width: 2, weights: weights)
        }
        #expect(unwritable.description.hasPrefix(folder.appendingPathComponent("missing/overlay.png").path + ": cannot be written: "))
    }

    @Test func invalidArgumentsAreRefused() {
        #expect(throws: ClinicDataError.self) {
            try SaliencyOverlay.render(image: image, channels: 2, height: 2, width: 2, weights: weights)
        }
        #expect(throws: ClinicDataError.self) {
            try SaliencyOverlay.render(image: image, channels: 1, height: 2, width: 2, weights: [1])
        }
        #expect(throws: ClinicDataError.self) {
            try SaliencyOverlay.render(image: image, channels: 1, height: 2, width: 2, weights: weights, opacity: 1.5)
        }
        #expect(throws: ClinicDataError.self) {
            try SaliencyOverlay.render(image: image, channels: 1, height: 2, width: 2, weights: weights, scale: 0)
        }
    }
}
