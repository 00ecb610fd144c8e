import ScalpelData

import Foundation

// What the SVG charts share: XML escaping, locale-free number formatting, "nice" axis ticks,
// and a small writer for the few SVG elements the charts use. The output is standalone SVG 1.1
// with no ids, scripts, styles sheets or external references, so several charts can be inlined
// into one HTML page, and the same input always gives byte-identical text.

/// Text and number helpers shared by the SVG charts (`LineChart`, `SignalWeightChart`, `Heatmap`).
public enum SVGPlot {
    /// `text` made safe for XML character data and attribute values: `&`, `<`, `>`, `"` and `'`
    /// become entity references, and characters XML 1.0 does not allow at all (control
    /// characters other than tab, line feed and carriage return, U+FFFE, U+FFFF) become U+FFFD.
    public static func escape(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&apos;"
            case "\t", "\n", "\r": escaped.unicodeScalars.append(scalar)
            default:
                let value = scalar.value
                if value < 0x20 || value == 0xFFFE || value == 0xFFFF {
                    escaped += "\u{FFFD}"
                } else {
                    escaped.unicodeScalars.append(scalar)
                }
            }
        }
        return escaped
    }

    /// `value` in plain decimal notation with at most `decimals` fraction digits (0–9), rounded
    /// half away from zero, without trailing zeros, and with no sign on zero: 1.5, 2, -0.25, 0.
    ///
    /// Independent of the locale, so output is the same everywhere. A value too large for the
    /// exact digits (|value| × 10^decimals ≥ 9e15) is written as Swift's shortest round-trip
    /// text; NaN and ±∞ as "NaN", "inf" and "-inf".
    public static func format(_ value: Double, decimals: Int = 2) -> String {
        guard value.isFinite else { return value.isNaN ? "NaN" : value < 0 ? "-inf" : "inf" }
        let places = min(max(decimals, 0), 9)
        var scale: Int64 = 1
        for _ in 0..<places { scale *= 10 }
        let scaled = (abs(value) * Double(scale)).rounded(.toNearestOrAwayFromZero)
        guard scaled < 9e15 else { return "\(value)" }
        let units = Int64(scaled)
        if units == 0 { return "0" }
        var text = value < 0 ? "-" : ""
        text += String(units / scale)
        let fraction = units % scale
        if fraction != 0 {
            var digits = String(fraction)
            digits = String(repeating: "0", count: places - digits.count) + digits
            while digits.hasSuffix("0") { digits.removeLast() }
            text += "." + digits
        }
        return text
    }

    /// About `targetCount` (2–100) evenly spaced round tick values (steps of 1, 2 or 5 × 10ᵏ)
    /// that cover `low...high`: the first tick at or below `low`, the last at or above `high`.
    ///
    /// An empty or zero-width interval is widened around its value; non-finite bounds give the
    /// ticks of 0...1, and bounds beyond ±1e300 are clamped there.
    public static func niceTicks(low: Double, high: Double, targetCount: Int = 6) -> (ticks: [Double], step: Double) {
        var low = low
        var high = high
        if !low.isFinite || !high.isFinite {
            low = 0
            high = 1
        }
        if low > high { swap(&low, &high) }
        // Beyond ±1e300 the width of the interval, and so the step, would overflow to infinity.
        low = max(low, -1e300)
        high = min(high, 1e300)
        if high - low <= max(abs(low), abs(high)) * 1e-12 {
            let pad = low == 0 ? 1 : abs(low) * 0.1
            low -= pad
            high += pad
        }
        let count = min(max(targetCount, 2), 100)
        let step = niceNumber((high - low) / Double(count - 1))
        let first = (low / step).rounded(.down)
        let last = (high / step).rounded(.up)
        let ticks = stride(from: first, through: last, by: 1).map { cleaned($0 * step, step: step) }
        return (ticks, step)
    }

    /// The label of a tick of a linear axis whose ticks are `step` apart: as many decimals as
    /// the step needs, or scientific notation (2.5e-05 as "2.5e-5") for very large or small
    /// magnitudes. A step that is not positive and finite gives three significant digits.
    public static func tickLabel(_ value: Double, step: Double) -> String {
        if value == 0 || !value.isFinite { return format(value) }
        guard step.isFinite, step > 0 else { return significant(value) }
        let magnitude = max(abs(value), step)
        if magnitude >= 1e6 || abs(step) < 1e-4 { return scientific(value) }
        let decimals = max(0, -Int((log10(abs(step)) + 1e-9).rounded(.down)))
        return format(value, decimals: decimals)
    }

    /// The label of the decade tick 10ᵏ on a logarithmic axis: plain for 1e-4 … 1e5, else "1e{k}".
    public static func decadeLabel(_ exponent: Int) -> String {
        if (-4...5).contains(exponent) {
            return format(pow(10, Double(exponent)), decimals: max(0, -exponent))
        }
        return "1e\(exponent)"
    }

    /// `value` with three significant digits: plain from 1e-4 to below 1e6, else scientific.
    static func significant(_ value: Double) -> String {
        if value == 0 || !value.isFinite { return format(value) }
        let magnitude = abs(value)
        if magnitude < 1e-4 || magnitude >= 1e6 { return scientific(value) }
        return format(value, decimals: max(0, 2 - Int(log10(magnitude).rounded(.down))))
    }

    /// `value` as mantissa and power of ten with up to three significant digits: "2.5e-5", "-1e7".
    static func scientific(_ value: Double) -> String {
        if value == 0 || !value.isFinite { return format(value) }
        var exponent = Int(log10(abs(value)).rounded(.down))
        var mantissa = (value / pow(10, Double(exponent)) * 100).rounded() / 100
        if abs(mantissa) >= 10 {
            exponent += 1
            mantissa /= 10
        }
        return format(mantissa, decimals: 2) + "e\(exponent)"
    }

    /// The round number (1, 2 or 5 × 10ᵏ) nearest above `x`'s range, for a tick step.
    private static func niceNumber(_ x: Double) -> Double {
        let exponent = log10(x).rounded(.down)
        let power = pow(10, exponent)
        let fraction = x / power
        let nice: Double = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10
        return nice * power
    }

    /// A tick value with the rounding noise of `index × step` removed, and no negative zero.
    private static func cleaned(_ value: Double, step: Double) -> Double {
        let decimals = max(0, -Int((log10(step) + 1e-9).rounded(.down)))
        let scale = pow(10, Double(min(decimals, 15)))
        let rounded = (value * scale).rounded() / scale
        return rounded == 0 ? 0 : rounded
    }
}

/// A point in SVG user units (pixels).
struct SVGPoint: Equatable {
    var x: Double
    var y: Double
}

/// Appends the few SVG elements the charts use, with fixed number formatting.
struct SVGWriter {
    private var output = ""

    /// Starts a document of `width` × `height` pixels on a white background.
    init(width: Double, height: Double, title: String) {
        let w = SVGPlot.format(width)
        let h = SVGPlot.format(height)
        output += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        output += "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"\(w)\" height=\"\(h)\" "
            + "viewBox=\"0 0 \(w) \(h)\" font-family=\"DejaVu Sans, Arial, Helvetica, sans-serif\">\n"
        if !title.isEmpty { output += "<title>\(SVGPlot.escape(title))</title>\n" }
        output += "<rect x=\"0\" y=\"0\" width=\"\(w)\" height=\"\(h)\" fill=\"#ffffff\"/>\n"
    }

    /// The finished document.
    func finished() -> String { output + "</svg>\n" }

    private func n(_ value: Double) -> String { SVGPlot.format(value) }

    /// Appends SVG markup as it is; the caller formats and escapes it.
    mutating func raw(_ markup: String) { output += markup }

    mutating func openGroup(_ attributes: String) { output += "<g \(attributes)>\n" }
    mutating func closeGroup() { output += "</g>\n" }

    mutating func rect(
        x: Double, y: Double, width: Double, height: Double, fill: String, stroke: String? = nil,
        strokeWidth: Double = 1, fillOpacity: Double? = nil, crisp: Bool = false
    ) {
        output += "<rect x=\"\(n(x))\" y=\"\(n(y))\" width=\"\(n(max(width, 0)))\" height=\"\(n(max(height, 0)))\" "
            + "fill=\"\(fill)\""
        if let fillOpacity { output += " fill-opacity=\"\(SVGPlot.format(fillOpacity, decimals: 3))\"" }
        if let stroke { output += " stroke=\"\(stroke)\" stroke-width=\"\(n(strokeWidth))\"" }
        if crisp { output += " shape-rendering=\"crispEdges\"" }
        output += "/>\n"
    }

    mutating func line(
        from a: SVGPoint, to b: SVGPoint, stroke: String, width: Double = 1, dash: String? = nil
    ) {
        output += "<line x1=\"\(n(a.x))\" y1=\"\(n(a.y))\" x2=\"\(n(b.x))\" y2=\"\(n(b.y))\" stroke=\"\(stroke)\" "
            + "stroke-width=\"\(n(width))\""
        if let dash { output += " stroke-dasharray=\"\(dash)\"" }
        output += "/>\n"
    }

    /// A polyline made of separate runs (each at least two points), as one path.
    mutating func path(_ runs: [[SVGPoint]], stroke: String, width: Double, dash: String? = nil) {
        let drawn = runs.filter { $0.count >= 2 }
        if drawn.isEmpty { return }
        var d = ""
        for run in drawn {
            for (index, point) in run.enumerated() {
                if !d.isEmpty { d += " " }
                d += (index == 0 ? "M" : "L") + n(point.x) + " " + n(point.y)
            }
        }
        output += "<path d=\"\(d)\" fill=\"none\" stroke=\"\(stroke)\" stroke-width=\"\(n(width))\" "
            + "stroke-linejoin=\"round\" stroke-linecap=\"round\""
        if let dash { output += " stroke-dasharray=\"\(dash)\"" }
        output += "/>\n"
    }

    mutating func circle(at center: SVGPoint, radius: Double, fill: String) {
        output += "<circle cx=\"\(n(center.x))\" cy=\"\(n(center.y))\" r=\"\(n(radius))\" fill=\"\(fill)\"/>\n"
    }

    enum Anchor: String {
        case start, middle, end
    }

    /// A text element; `rotation` in degrees turns it around its anchor point.
    mutating func text(
        _ content: String, at point: SVGPoint, size: Double, anchor: Anchor = .start, bold: Bool = false,
        fill: String = "#000000", rotation: Double? = nil, baseline: Double = 0.35
    ) {
        // The baseline shift (in em) centres the text vertically on `point` without relying on
        // dominant-baseline, which not every SVG 1.1 renderer implements.
        let y = point.y + size * baseline
        output += "<text x=\"\(n(point.x))\" y=\"\(n(y))\" font-size=\"\(n(size))\" text-anchor=\"\(anchor.rawValue)\" "
            + "fill=\"\(fill)\""
        if bold { output += " font-weight=\"bold\"" }
        if let rotation {
            output += " transform=\"rotate(\(n(rotation)) \(n(point.x)) \(n(point.y)))\""
        }
        output += ">\(SVGPlot.escape(content))</text>\n"
    }

    /// A vertical colour bar: `colormap` from 0 at the bottom to 1 at the top, in `steps` bands,
    /// framed, with `ticks` (position in [0, 1] and text) on its right and `label`, rotated,
    /// beyond them.
    mutating func colorBar(
        x: Double, y: Double, width: Double, height: Double, colormap: Colormap,
        ticks: [(position: Double, text: String)], label: String, steps: Int = 64
    ) {
        let band = height / Double(steps)
        for step in 0..<steps {
            let t = (Double(step) + 0.5) / Double(steps)
            let top = y + height - Double(step + 1) * band
            rect(x: x, y: top, width: width, height: band + 0.5, fill: colormap.color(t).hex, crisp: true)
        }
        rect(x: x, y: y, width: width, height: height, fill: "none", stroke: "#000000")
        var widest = 0
        for tick in ticks {
            let ty = y + height - tick.position * height
            line(from: SVGPoint(x: x + width, y: ty), to: SVGPoint(x: x + width + 4, y: ty), stroke: "#000000")
            text(tick.text, at: SVGPoint(x: x + width + 6, y: ty), size: 10)
            widest = max(widest, tick.text.count)
        }
        if !label.isEmpty {
            let lx = x + width + 12 + Double(widest) * 6
            text(label, at: SVGPoint(x: lx, y: y + height / 2), size: 11, anchor: .middle, rotation: -90)
        }
    }
}

/// Estimated width of `text` in pixels at `size`: SVG has no font metrics, so layout assumes an
/// average glyph of 0.6 em.
func estimatedTextWidth(_ text: String, size: Double) -> Double {
    Double(text.count) * size * 0.6
}

/// Clips the segment `a`–`b` to `box` (Liang–Barsky), or `nil` when it lies outside.
func clipSegment(_ a: SVGPoint, _ b: SVGPoint, to box: (minX: Double, minY: Double, maxX: Double, maxY: Double))
    -> (SVGPoint, SVGPoint)?
{
    let dx = b.x - a.x
    let dy = b.y - a.y
    var t0 = 0.0
    var t1 = 1.0
    let edges: [(p: Double, q: Double)] = [
        (-dx, a.x - box.minX), (dx, box.maxX - a.x), (-dy, a.y - box.minY), (dy, box.maxY - a.y),
    ]
    for (p, q) in edges {
        if p == 0 {
            if q < 0 { return nil }
            continue
        }
        let r = q / p
        if p < 0 {
            if r > t1 { return nil }
            t0 = max(t0, r)
        } else {
            if r < t0 { return nil }
            t1 = min(t1, r)
        }
    }
    return (SVGPoint(x: a.x + t0 * dx, y: a.y + t0 * dy), SVGPoint(x: a.x + t1 * dx, y: a.y + t1 * dy))
}
