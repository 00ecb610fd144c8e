import ScalpelCore
import Foundation
@testable import ScalpelData
import ScalpelMetrics
import Testing
@testable import ScalpelReport

/// The reason of the `ClinicDataError.invalidInput` that `body` throws, or nil when it throws
/// nothing (any other error is a failure of the test).
func invalidInputReason(_ body: () throws(ClinicDataError) -> Void) -> String? {
    do {
        try body()
        return nil
    } catch {
        guard case let .invalidInput(reason) = error else {
            Issue.record("expected invalidInput, got \(error)")
            return nil
        }
        return reason
    }
}

/// Whether `a` and `b` have the same length and agree element by element to `tolerance`.
func allClose(_ a: [Double], _ b: [Double], tolerance: Double = 1e-12) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= tolerance }
}

@Suite struct ClassifierCurveTests {
    @Test func rocCurveByHand() throws {
        let curve = try ClassifierCurves.roc(labels: [0, 0, 1, 1], scores: [0.1, 0.4, 0.35, 0.8])
        #expect(curve.falsePositiveRate == [0, 0, 0.5, 0.5, 1])
        #expect(curve.truePositiveRate == [0, 0.5, 0.5, 1, 1])
        #expect(ClassifierCurves.area(x: curve.falsePositiveRate, y: curve.truePositiveRate) == 0.75)
    }

    @Test func tiedScoresMakeOneDiagonalStep() throws {
        // Descending: 0.9 (positive), then 0.5 shared by a positive and a negative, then 0.2.
        let curve = try ClassifierCurves.roc(labels: [0, 1, 0, 1], scores: [0.5, 0.5, 0.2, 0.9])
        #expect(curve.falsePositiveRate == [0, 0, 0.5, 1])
        #expect(curve.truePositiveRate == [0, 0.5, 1, 1])
        #expect(ClassifierCurves.area(x: curve.falsePositiveRate, y: curve.truePositiveRate) == 0.875)
        // Every score tied: the chance diagonal in one step.
        let flat = try ClassifierCurves.roc(labels: [0, 1, 1, 0, 1], scores: [0.3, 0.3, 0.3, 0.3, 0.3])
        #expect(flat.falsePositiveRate == [0, 1] && flat.truePositiveRate == [0, 1])
    }

    @Test func anyLabelCanBeThePositiveClass() throws {
        let curve = try ClassifierCurves.roc(labels: [7, 7, 2, 2], scores: [0.1, 0.4, 0.35, 0.8], positive: 2)
        #expect(curve.falsePositiveRate == [0, 0, 0.5, 0.5, 1])
        #expect(curve.truePositiveRate == [0, 0.5, 0.5, 1, 1])
        let pr = try ClassifierCurves.precisionRecall(labels: [7, 7, 2, 2], scores: [0.1, 0.4, 0.35, 0.8], positive: 2)
        #expect(pr.recall == [1, 1, 0.5, 0.5, 0])
    }

    @Test func precisionRecallByHand() throws {
        // scikit-learn's documented example: thresholds 0.1, 0.35, 0.4, 0.8, then (recall 0, precision 1).
        let curve = try ClassifierCurves.precisionRecall(labels: [0, 0, 1, 1], scores: [0.1, 0.4, 0.35, 0.8])
        #expect(curve.recall == [1, 1, 0.5, 0.5, 0])
        #expect(allClose(curve.precision, [0.5, 2.0 / 3, 0.5, 1, 1]))
        // The step area Σ (rᵢ − rᵢ₊₁) pᵢ = 0.5 · 2/3 + 0.5 · 1 is the average precision.
        let steps = ClassifierCurves.stepPoints(recall: curve.recall, precision: curve.precision)
        #expect(steps.x == [1, 1, 0.5, 0.5, 0.5, 0])
        #expect(allClose(steps.y, [0.5, 2.0 / 3, 2.0 / 3, 0.5, 1, 1]))
        #expect(abs(ClassifierCurves.area(x: steps.x, y: steps.y) - 5.0 / 6) < 1e-12)
        let metrics = try BinaryMetrics.compute(labels: [0, 0, 1, 1], scores: [0.1, 0.4, 0.35, 0.8])
        #expect(close(metrics.auprc, 5.0 / 6))

        // Without negatives precision is 1 throughout.
        let allPositive = try ClassifierCurves.precisionRecall(labels: [1, 1], scores: [0.2, 0.7])
        #expect(allPositive.recall == [1, 0.5, 0] && allPositive.precision == [1, 1, 1])
    }

    @Test func randomScoresWithTiesAgreeWithBinaryMetrics() throws {
        var generator = SeededRandom(seed: 20_240_611)
        var checked = 0
        for trial in 0..<40 {
            let count = 2 + Int(generator.uniform(below: 300))
            // Eight score levels, so most scores are tied with others of both classes.
            let scores = (0..<count).map { _ in Float(generator.uniform(below: 8)) / 8 }
            let positiveShare = UInt64(1 + trial % 9)
            let labels = (0..<count).map { _ in Int32(generator.uniform(below: 10) < positiveShare ? 1 : 0) }
            guard labels.contains(0), labels.contains(1) else { continue }
            checked += 1
            let metrics = try BinaryMetrics.compute(labels: labels, scores: scores)
            let roc = try ClassifierCurves.roc(labels: labels, scores: scores)
            #expect(roc.falsePositiveRate.first == 0 && roc.truePositiveRate.first == 0)
            #expect(roc.falsePositiveRate.last == 1 && roc.truePositiveRate.last == 1)
            #expect(zip(roc.falsePositiveRate, roc.falsePositiveRate.dropFirst()).allSatisfy { $0 <= $1 })
            #expect(zip(roc.truePositiveRate, roc.truePositiveRate.dropFirst()).allSatisfy { $0 <= $1 })
            #expect(roc.falsePositiveRate.count == Set(scores).count + 1)
            #expect(close(metrics.auroc, ClassifierCurves.area(x: roc.falsePositiveRate, y: roc.truePositiveRate)))

            let pr = try ClassifierCurves.precisionRecall(labels: labels, scores: scores)
            #expect(pr.recall.count == Set(scores).count + 1)
            #expect(pr.recall.first == 1 && pr.recall.last == 0 && pr.precision.last == 1)
            #expect(close(pr.precision.first, Double(labels.filter { $0 == 1 }.count) / Double(count)))
            #expect(zip(pr.recall, pr.recall.dropFirst()).allSatisfy { $0 >= $1 })
            let steps = ClassifierCurves.stepPoints(recall: pr.recall, precision: pr.precision)
            #expect(close(metrics.auprc, ClassifierCurves.area(x: steps.x, y: steps.y)))
        }
        #expect(checked >= 30)
    }

    @Test func trapezoidalArea() {
        #expect(ClassifierCurves.area(x: [0, 1], y: [0, 1]) == 0.5)
        #expect(ClassifierCurves.area(x: [0, 0.5, 1], y: [1, 1, 1]) == 1)
        // Listed right to left, the area is still positive.
        #expect(ClassifierCurves.area(x: [1, 0.5, 0], y: [0, 1, 1]) == 0.75)
        #expect(ClassifierCurves.area(x: [0, 1, 2], y: [2, 2]) == 2)
        #expect(ClassifierCurves.area(x: [1], y: [1]) == 0)
        #expect(ClassifierCurves.area(x: [], y: []) == 0)
    }

    @Test func curvesRefuseUnusableInput() {
        let roc = { (labels: [Int32], scores: [Float]) throws(ClinicDataError) in
            _ = try ClassifierCurves.roc(labels: labels, scores: scores)
        }
        let pr = { (labels: [Int32], scores: [Float]) throws(ClinicDataError) in
            _ = try ClassifierCurves.precisionRecall(labels: labels, scores: scores)
        }
        #expect(invalidInputReason { () throws(ClinicDataError) in try roc([0, 1], [0.5]) }?.contains("2 labels but 1 scores") == true)
        #expect(invalidInputReason { () throws(ClinicDataError) in try roc([], []) }?.contains("no rows") == true)
        #expect(invalidInputReason { () throws(ClinicDataError) in try roc([0, 1], [0.5, .nan]) }?.contains("row 1 is not finite") == true)
        #expect(invalidInputReason { () throws(ClinicDataError) in try roc([0, 1], [.infinity, 0.5]) }?.contains("not finite") == true)
        #expect(invalidInputReason { () throws(ClinicDataError) in try roc([0, 0], [0.1, 0.2]) }?.contains("no positive cases") == true)
        #expect(invalidInputReason { () throws(ClinicDataError) in try roc([1, 1], [0.1, 0.2]) }?.contains("no negative cases") == true)
        #expect(invalidInputReason { () throws(ClinicDataError) in try pr([0, 0], [0.1, 0.2]) }?.contains("no positive cases") == true)
        #expect(invalidInputReason { () throws(ClinicDataError) in try pr([0], [0.1, 0.2]) }?.contains("1 labels but 2 scores") == true)
        #expect(invalidInputReason { () throws(ClinicDataError) in try pr([0, 1], [.nan, 0.2]) }?.contains("not finite") == true)
        #expect(invalidInputReason { () throws(ClinicDataError) in try pr([1, 1], [0.1, 0.2]) } == nil)
    }

    @Test func rocChartDrawsCurvesAndChance() throws {
        let first = try ClassifierCurves.roc(labels: [0, 0, 1, 1], scores: [0.1, 0.4, 0.35, 0.8])
        let second = try ClassifierCurves.roc(labels: [0, 1, 0, 1], scores: [0.5, 0.5, 0.2, 0.9])
        let chart = ClassifierCurves.rocChart([
            (name: "class 1 (AUROC 0.750)", falsePositiveRate: first.falsePositiveRate, truePositiveRate: first.truePositiveRate),
            (name: "class <2> (AUROC 0.875)", falsePositiveRate: second.falsePositiveRate, truePositiveRate: second.truePositiveRate),
        ])
        #expect(chart.xRange == 0...1 && chart.yRange == 0...1 && chart.showDiagonal)
        let svg = chart.svg()
        #expect(svg.contains("class &lt;2&gt; (AUROC 0.875)"))
        let parsed = try ParsedSVG(svg)
        #expect(parsed.title == "ROC curve")
        for text in [
            "class 1 (AUROC 0.750)", "class <2> (AUROC 0.875)", "chance", "1 − specificity (false-positive rate)",
            "sensitivity (true-positive rate)",
        ] {
            #expect(parsed.texts.contains(text))
        }
        let paths = parsed.elements(named: "path")
        #expect(paths.count == 3)  // the diagonal, then the two curves
        #expect(paths[1].attributes["stroke"] == PlotColor.palette[0].hex)
        #expect(paths[2].attributes["stroke"] == PlotColor.palette[1].hex)
        // A mismatched curve is drawn up to its shorter array rather than refused.
        let ragged = ClassifierCurves.rocChart([(name: "r", falsePositiveRate: [0, 0.5, 1], truePositiveRate: [0, 1])])
        #expect(ragged.series[0].x == [0, 0.5] && ragged.series[0].y == [0, 1])
    }

    @Test func precisionRecallChartDrawsStepsAndPrevalence() throws {
        let curve = try ClassifierCurves.precisionRecall(labels: [0, 0, 1, 1], scores: [0.1, 0.4, 0.35, 0.8])
        let chart = ClassifierCurves.precisionRecallChart(
            [(name: "class 1 (AP 0.833)", recall: curve.recall, precision: curve.precision)], prevalence: 0.5)
        #expect(chart.series.count == 2)
        #expect(chart.series[0].x == [1, 1, 0.5, 0.5, 0.5, 0])
        let chance = chart.series[1]
        #expect(chance.name == "chance (prevalence 0.5)" && chance.dashed && chance.y == [0.5, 0.5])
        let parsed = try ParsedSVG(chart.svg())
        #expect(parsed.title == "Precision–recall curve")
        for text in ["class 1 (AP 0.833)", "chance (prevalence 0.5)", "recall (sensitivity)", "precision (positive predictive value)"] {
            #expect(parsed.texts.contains(text))
        }
        let paths = parsed.elements(named: "path")
        #expect(paths.count == 2)
        #expect(paths[1].attributes["stroke-dasharray"] != nil)
        // Listed by increasing recall, the same steps are drawn.
        let reversed = ClassifierCurves.precisionRecallChart(
            [(name: "class 1 (AP 0.833)", recall: curve.recall.reversed(), precision: curve.precision.reversed())],
            prevalence: 0.5)
        #expect(reversed.svg() == chart.svg())
        // No prevalence, or one outside [0, 1]: no chance line.
        #expect(ClassifierCurves.precisionRecallChart([(name: "a", recall: curve.recall, precision: curve.precision)]).series.count == 1)
        #expect(
            ClassifierCurves.precisionRecallChart(
                [(name: "a", recall: curve.recall, precision: curve.precision)], prevalence: .nan
            ).series.count == 1)
    }
}

@Suite struct HorizontalBarChartTests {
    let longLabel = "mean concave points of the nucleus contour, worst of three measurements"

    func importance() throws -> HorizontalBarChart {
        try HorizontalBarChart(
            title: "Permutation importance", labels: ["age", "tumour <size> & \"grade\"", longLabel],
            values: [0.12, -0.03, 0.05], errors: [0.02, 0.01, 0], xLabel: "decrease in AUROC when shuffled")
    }

    @Test func oneBarPerItemWithLabelsAndErrorBars() throws {
        let chart = try importance()
        let svg = chart.svg()
        #expect(svg == chart.svg())
        #expect(svg.hasPrefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg "))
        #expect(svg.contains("tumour &lt;size&gt; &amp; &quot;grade&quot;"))
        let parsed = try ParsedSVG(svg)
        #expect(parsed.title == "Permutation importance")
        #expect(parsed.texts.contains("age") && parsed.texts.contains("tumour <size> & \"grade\""))
        #expect(parsed.texts.contains("decrease in AUROC when shuffled"))
        // The long label keeps its first 39 characters and gets an ellipsis.
        #expect(parsed.texts.contains(String(longLabel.prefix(39)) + "…"))
        #expect(!parsed.texts.contains(longLabel))

        let bars = parsed.elements(named: "rect").filter { $0.attributes["fill"] == PlotColor.palette[0].hex }
        #expect(bars.count == 3)
        // Top to bottom in the given order.
        let tops = bars.compactMap { $0.attributes["y"].flatMap(Double.init) }
        #expect(tops.count == 3 && tops[0] < tops[1] && tops[1] < tops[2])
        // The negative bar ends where the positive ones start: at the zero line.
        let zeroLine = try #require(parsed.elements(named: "line").first { $0.attributes["stroke"] == "#404040" })
        let zero = try #require(zeroLine.attributes["x1"].flatMap(Double.init))
        #expect(zeroLine.attributes["x1"] == zeroLine.attributes["x2"])
        let x = bars.compactMap { $0.attributes["x"].flatMap(Double.init) }
        let widths = bars.compactMap { $0.attributes["width"].flatMap(Double.init) }
        #expect(abs(x[0] - zero) < 0.01 && abs(x[2] - zero) < 0.01)
        #expect(abs(x[1] + widths[1] - zero) < 0.01 && widths[1] > 0)
        #expect(widths[0] > widths[2] && widths[2] > widths[1])
        // Error bars for the two non-zero errors: a whisker and two caps each.
        let whiskers = parsed.elements(named: "path")
        #expect(whiskers.count == 2)
        #expect(whiskers.allSatisfy { $0.attributes["d"]!.filter { $0 == "M" }.count == 3 })
    }

    @Test func positiveValuesNeedNoZeroLineAndHeightGrows() throws {
        let three = try HorizontalBarChart(labels: ["a", "b", "c"], values: [3, 2, 1])
        let parsed = try ParsedSVG(three.svg())
        #expect(parsed.elements(named: "line").allSatisfy { $0.attributes["stroke"] != "#404040" })
        #expect(parsed.elements(named: "path").isEmpty)
        #expect(parsed.elements(named: "rect").filter { $0.attributes["fill"] == PlotColor.palette[0].hex }.count == 3)
        for tick in ["0", "1", "2", "3"] { #expect(parsed.texts.contains(tick)) }
        let ten = try HorizontalBarChart(labels: (0..<10).map { "f\($0)" }, values: (0..<10).map(Double.init))
        let tall = try #require(try ParsedSVG(ten.svg()).root?.attributes["height"].flatMap(Double.init))
        let short = try #require(try ParsedSVG(three.svg()).root?.attributes["height"].flatMap(Double.init))
        #expect(tall - short == 7 * HorizontalBarChart.barPitch)
        // An error bar reaching below zero brings the zero line in.
        let crossing = try HorizontalBarChart(labels: ["a"], values: [0.01], errors: [0.03])
        #expect(try ParsedSVG(crossing.svg()).elements(named: "line").contains { $0.attributes["stroke"] == "#404040" })
    }

    @Test func invalidBarsAreRefused() {
        #expect(invalidInputReason { () throws(ClinicDataError) in _ = try HorizontalBarChart(labels: [], values: []) }?.contains("no bars") == true)
        #expect(invalidInputReason { () throws(ClinicDataError) in _ = try HorizontalBarChart(labels: ["a"], values: [1, 2]) }?.contains("1 labels for 2 values") == true)
        #expect(invalidInputReason { () throws(ClinicDataError) in _ = try HorizontalBarChart(labels: ["a", "b"], values: [1, .nan]) }?.contains("bar 1 ('b') is not finite") == true)
        #expect(invalidInputReason { () throws(ClinicDataError) in _ = try HorizontalBarChart(labels: ["a"], values: [1], errors: [1, 2]) }?.contains("2 error half-widths for 1 values") == true)
        #expect(invalidInputReason { () throws(ClinicDataError) in _ = try HorizontalBarChart(labels: ["a"], values: [1], errors: [-0.1]) }?.contains("negative") == true)
        #expect(invalidInputReason { () throws(ClinicDataError) in _ = try HorizontalBarChart(labels: ["a"], values: [1], errors: [.infinity]) } != nil)
    }
}

@Suite struct HTMLReportTests {
    /// A small RGB PNG.
    func png() throws -> [UInt8] {
        try PNGEncoder.encode(pixels: [255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9], width: 2, height: 2, format: .rgb)
    }

    /// A report using every kind of block.
    func fullReport() throws -> HTMLReport {
        var report = HTMLReport(title: "Breast cancer <WDBC> report", subtitle: "test split, seed 42")
        report.section("Data")
        report.keyValues([("rows", "569"), ("positive class", "malignant")])
        report.paragraph("Scores & thresholds were chosen on validation.")
        report.note("AUROC counts ties as one half.")
        report.section("Performance")
        try report.table(
            header: ["metric", "value", "95% CI"],
            rows: [["AUROC", "0.912", "0.88–0.94"], ["sensitivity", "85.2%", "−"]], caption: "Test metrics")
        let roc = try ClassifierCurves.roc(labels: [0, 0, 1, 1], scores: [0.1, 0.4, 0.35, 0.8])
        let chart = ClassifierCurves.rocChart([(name: "model", falsePositiveRate: roc.falsePositiveRate, truePositiveRate: roc.truePositiveRate)])
        report.figure(svg: chart.svg(), caption: "ROC curve")
        report.figureRow([(svg: chart.svg(), caption: "left"), (svg: LineChart().svg(), caption: "right")])
        report.section("Explanations")
        report.subsection("Saliency")
        report.figure(png: try png(), caption: "overlay", width: 200)
        report.imageGrid([(png: try png(), caption: "correct"), (png: try png(), caption: "wrong")], columns: 4)
        return report
    }

    @Test func documentIsSelfContainedHTML5() throws {
        let html = try fullReport().html()
        #expect(html.hasPrefix("<!DOCTYPE html>\n<html lang=\"en\">"))
        #expect(html.contains("<meta charset=\"utf-8\">"))
        #expect(html == (try fullReport().html()))
        #expect(!html.lowercased().contains("<script"))
        #expect(!html.contains("url(") && !html.contains("@import"))
        // The only web address is the SVG namespace, inside xmlns attributes.
        var addresses = 0
        for scheme in ["http://", "https://"] {
            for range in html.ranges(of: scheme) {
                addresses += 1
                #expect(html[..<range.lowerBound].hasSuffix("xmlns=\""))
                #expect(html[range.lowerBound...].hasPrefix("http://www.w3.org/2000/svg\""))
            }
        }
        #expect(addresses == 3)  // one per inlined chart
        // Every src and href is a data: URI or an anchor on the page.
        var references = 0
        for attribute in ["src=", "href="] {
            for range in html.ranges(of: attribute) {
                references += 1
                let value = html[range.upperBound...]
                #expect(value.hasPrefix("\"data:") || value.hasPrefix("\"#"))
            }
        }
        #expect(references == 3 + 3)  // one figure and two grid images, three contents links
        for id in 1...3 {
            #expect(html.contains("<a href=\"#section-\(id)\">") && html.contains("<h2 id=\"section-\(id)\">"))
        }
        #expect(html.components(separatedBy: "<figure>").count == html.components(separatedBy: "</figure>").count)
    }

    @Test func everyTextIsEscaped() throws {
        var report = HTMLReport(title: "<script>alert('x')</script>", subtitle: "a \"quoted\" & <b>bold</b>")
        report.section("<script>s</script>")
        report.subsection("<i>")
        report.paragraph("<script>p</script>")
        report.note("<img src=x onerror=alert(1)>")
        report.keyValues([("<k>", "<v>")])
        try report.table(header: ["<h>"], rows: [["<c>"]], caption: "<cap>")
        report.figure(png: [1, 2, 3], caption: "\"><script>")
        report.folded("<fold>", "<script>f</script>")
        let html = report.html()
        #expect(!html.lowercased().contains("<script"))
        #expect(html.contains("<details><summary>&lt;fold&gt;</summary>"))
        #expect(html.contains("<title>&lt;script&gt;alert(&apos;x&apos;)&lt;/script&gt;</title>"))
        #expect(html.contains("a &quot;quoted&quot; &amp; &lt;b&gt;bold&lt;/b&gt;"))
        for text in ["&lt;k&gt;", "&lt;v&gt;", "&lt;h&gt;", "&lt;c&gt;", "&lt;cap&gt;", "&lt;i&gt;", "&lt;img src=x"] {
            #expect(html.contains(text))
        }
        #expect(!html.contains("<img src=x"))
        #expect(html.contains("alt=\"&quot;&gt;&lt;script&gt;\""))
    }

    @Test func svgPrologIsStripped() throws {
        let chart = try HorizontalBarChart(labels: ["a"], values: [1]).svg()
        #expect(chart.hasPrefix("<?xml"))
        var report = HTMLReport(title: "t")
        report.figure(svg: chart, caption: "bars")
        let html = report.html()
        #expect(!html.contains("<?xml"))
        #expect(html.contains("<figure>\n<svg xmlns=\"http://www.w3.org/2000/svg\""))
        #expect(html.contains("</svg>\n<figcaption>bars</figcaption>"))

        let withDoctype = "\u{FEFF}<?xml version=\"1.0\" standalone=\"no\"?>\n"
            + "<!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\" \"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd\" [ <!ENTITY e \"x\"> ]>\n"
            + "<!-- made by hand -->\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"4\" height=\"4\"></svg>\n"
        #expect(HTMLReport.inlineSVG(withDoctype) == "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"4\" height=\"4\"></svg>")
        // Anything else is shown as text, not inlined.
        #expect(HTMLReport.inlineSVG("<div>not svg</div>") == "<pre class=\"unrendered\">&lt;div&gt;not svg&lt;/div&gt;</pre>")
        #expect(HTMLReport.inlineSVG("<svgx/>").hasPrefix("<pre"))
        #expect(HTMLReport.inlineSVG("<?xml version=\"1.0\"").hasPrefix("<pre"))
    }

    @Test func base64MatchesFoundation() throws {
        // RFC 4648 §10 test vectors.
        let vectors = ["": "", "f": "Zg==", "fo": "Zm8=", "foo": "Zm9v", "foob": "Zm9vYg==", "fooba": "Zm9vYmE=", "foobar": "Zm9vYmFy"]
        for (text, encoded) in vectors { #expect(HTMLReport.base64(Array(text.utf8)) == encoded) }
        var generator = SeededRandom(seed: 7)
        for count in 0..<100 {
            let bytes = (0..<count).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            #expect(HTMLReport.base64(bytes) == Data(bytes).base64EncodedString())
        }
        let image = try png()
        var report = HTMLReport(title: "t")
        report.figure(png: image, caption: "c", width: 120)
        report.figure(png: image, caption: "no width", width: 0)
        let html = report.html()
        #expect(html.contains("<img src=\"data:image/png;base64,\(Data(image).base64EncodedString())\" alt=\"c\" width=\"120\">"))
        #expect(html.contains("alt=\"no width\">"))
    }

    @Test func tablesAlignNumbersAndRefuseRaggedRows() throws {
        var report = HTMLReport(title: "t")
        try report.table(header: ["name", "n", "share"], rows: [["a", "12", "−3.5%"], ["b", " 1e-3 ", ""]])
        let html = report.html()
        #expect(html.contains("<th scope=\"col\">name</th><th scope=\"col\" class=\"num\">n</th><th scope=\"col\" class=\"num\">share</th>"))
        #expect(html.contains("<tr><td>a</td><td class=\"num\">12</td><td class=\"num\">−3.5%</td></tr>"))
        #expect(!HTMLReport.isNumeric("nan") && !HTMLReport.isNumeric("inf") && !HTMLReport.isNumeric("0.88–0.94"))
        #expect(HTMLReport.isNumeric("+0.5") && HTMLReport.isNumeric("-2") && HTMLReport.isNumeric(".5"))
        #expect(
            invalidInputReason { () throws(ClinicDataError) in
                try report.table(header: ["a", "b"], rows: [["1", "2"], ["3"]])
            } == "HTML table: row 1 has 1 cells where the header has 2")
        #expect(invalidInputReason { () throws(ClinicDataError) in try report.table(header: [], rows: []) } != nil)
        // A refused table adds nothing.
        #expect(report.html() == html)
    }

    @Test func emptyBlocksAddNothingAndFewSectionsNeedNoContents() {
        var report = HTMLReport(title: "t")
        let empty = report.html()
        report.keyValues([])
        report.imageGrid([], columns: 3)
        report.figureRow([])
        #expect(report.html() == empty)
        report.section("one")
        report.section("two")
        #expect(!report.html().contains("<nav>"))
        report.imageGrid([(png: [0], caption: "x")], columns: 40)
        #expect(report.html().contains("style=\"--columns:12;--narrow-columns:2\""))
    }
}
