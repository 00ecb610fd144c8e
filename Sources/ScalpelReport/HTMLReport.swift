import ScalpelData

// A report as one self-contained HTML5 file: headings, text, tables, and figures inlined (SVG
// markup as it is, PNG images as base64 data URIs), styled by one inline style sheet. No
// scripts and no external resources, so the file opens offline, can be mailed or archived as
// it is, and prints legibly. The same calls always give byte-identical text.

/// A single-page HTML5 report built up block by block, in order.
///
/// Every text passed in (titles, headings, paragraphs, cells, captions) is escaped (`&`, `<`,
/// `>`, `"`, `'`), so data cannot inject markup. SVG figures are the exception: their markup is
/// inlined as it is, so it must be trusted, such as the charts of this module.
///
/// With three or more sections the page opens with a list of links to them (hidden in print).
public struct HTMLReport: Equatable, Sendable {
    /// The page title: the `<title>` and the heading at the top.
    public let title: String
    /// A line under the title (e.g. the dataset and date), or `nil`.
    public let subtitle: String?
    /// The HTML of each block added so far, in order.
    private var blocks: [String] = []
    /// The section headings, for the list of contents; section `i` has the id `section-{i+1}`.
    private var sectionHeadings: [String] = []

    /// An empty report titled `title`, with an optional `subtitle` under it.
    public init(title: String, subtitle: String? = nil) {
        self.title = title
        self.subtitle = subtitle
    }

    // MARK: Text

    /// Starts a section: a level-2 heading, linked from the list of contents.
    public mutating func section(_ heading: String) {
        sectionHeadings.append(heading)
        blocks.append("<h2 id=\"section-\(sectionHeadings.count)\">\(Self.escape(heading))</h2>")
    }

    /// A level-3 heading within the current section.
    public mutating func subsection(_ heading: String) {
        blocks.append("<h3>\(Self.escape(heading))</h3>")
    }

    /// A paragraph of plain text (escaped; white space and line breaks flow as HTML's do).
    public mutating func paragraph(_ text: String) {
        blocks.append("<p>\(Self.escape(text))</p>")
    }

    /// A muted, smaller paragraph: a caveat, a definition, how a number was computed.
    public mutating func note(_ text: String) {
        blocks.append("<p class=\"note\">\(Self.escape(text))</p>")
    }

    /// A line of `summary` that opens on a click to show `text` (a long list kept out of the way).
    /// - Parameters:
    ///   - summary: What is folded away, always shown.
    ///   - text: The folded text (escaped).
    public mutating func folded(_ summary: String, _ text: String) {
        blocks.append("<details><summary>\(Self.escape(summary))</summary>\n<p class=\"note\">\(Self.escape(text))</p></details>")
    }

    // MARK: Tables

    /// A two-column table of names (left, as row headings) and values; nothing when empty.
    public mutating func keyValues(_ pairs: [(String, String)]) {
        guard !pairs.isEmpty else { return }
        var html = "<table class=\"kv\">\n<tbody>\n"
        for (key, value) in pairs {
            html += "<tr><th scope=\"row\">\(Self.escape(key))</th><td>\(Self.escape(value))</td></tr>\n"
        }
        html += "</tbody>\n</table>"
        blocks.append(html)
    }

    /// A table with a header row and an optional caption above it.
    ///
    /// A cell that reads as a number ("0.912", "-3", "1e-5", "85.2%", with "−" taken as a minus
    /// sign) is right-aligned with digits of equal width, and so is the heading of a column
    /// whose non-empty cells are all numbers.
    ///
    /// - Throws: `ClinicDataError.invalidInput` when the header is empty or a row has a
    ///   different number of cells from it.
    public mutating func table(header: [String], rows: [[String]], caption: String? = nil) throws(ClinicDataError) {
        guard !header.isEmpty else {
            throw .invalidInput(reason: "HTML table: the header has no columns")
        }
        if let ragged = rows.firstIndex(where: { $0.count != header.count }) {
            throw .invalidInput(
                reason: "HTML table: row \(ragged) has \(rows[ragged].count) cells where the header has "
                    + "\(header.count)")
        }
        let numericColumns = header.indices.map { column in
            let filled = rows.map { $0[column] }.filter { !$0.allSatisfy(\.isWhitespace) }
            return !filled.isEmpty && filled.allSatisfy(Self.isNumeric)
        }
        var html = "<table>\n"
        if let caption { html += "<caption>\(Self.escape(caption))</caption>\n" }
        html += "<thead><tr>"
        for (column, name) in header.enumerated() {
            html += (numericColumns[column] ? "<th scope=\"col\" class=\"num\">" : "<th scope=\"col\">")
                + "\(Self.escape(name))</th>"
        }
        html += "</tr></thead>\n<tbody>\n"
        for row in rows {
            html += "<tr>"
            for cell in row {
                html += (Self.isNumeric(cell) ? "<td class=\"num\">" : "<td>") + "\(Self.escape(cell))</td>"
            }
            html += "</tr>\n"
        }
        html += "</tbody>\n</table>"
        blocks.append(html)
    }

    // MARK: Figures

    /// A figure of SVG markup (a chart's `svg()`), inlined with its caption under it and scaled
    /// down to the page width when wider.
    ///
    /// A leading XML declaration, DOCTYPE and comments are removed, since they are not allowed
    /// inside HTML; the rest is inlined as it is. Text that does not then begin with an `<svg>`
    /// element is not inlined: it is shown escaped, as preformatted text, above the caption.
    public mutating func figure(svg: String, caption: String) {
        blocks.append("<figure>\n\(Self.inlineSVG(svg))\n<figcaption>\(Self.escape(caption))</figcaption>\n</figure>")
    }

    /// A figure of a PNG image embedded as a base64 `data:` URI, with its caption under it (and
    /// as the image's alternative text), `width` pixels wide when given (positive) and never
    /// wider than the page. The bytes are embedded as they are, unchecked.
    public mutating func figure(png: [UInt8], caption: String, width: Int? = nil) {
        let size = width.flatMap { $0 > 0 ? " width=\"\($0)\"" : nil } ?? ""
        blocks.append(
            "<figure>\n<img src=\"data:image/png;base64,\(Self.base64(png))\" alt=\"\(Self.escape(caption))\"\(size)>\n"
                + "<figcaption>\(Self.escape(caption))</figcaption>\n</figure>")
    }

    /// A grid of small captioned PNG images, `columns` (1–12) to a row (at most two on a narrow
    /// screen), each stretched to its cell with sharp pixels: saliency or Grad-CAM overlays of
    /// correct and wrong predictions. Nothing when `items` is empty.
    public mutating func imageGrid(_ items: [(png: [UInt8], caption: String)], columns: Int) {
        guard !items.isEmpty else { return }
        let columns = min(max(columns, 1), 12)
        var html = "<div class=\"grid\" style=\"--columns:\(columns);--narrow-columns:\(min(columns, 2))\">\n"
        for item in items {
            html += "<figure><img src=\"data:image/png;base64,\(Self.base64(item.png))\" "
                + "alt=\"\(Self.escape(item.caption))\"><figcaption>\(Self.escape(item.caption))</figcaption></figure>\n"
        }
        html += "</div>"
        blocks.append(html)
    }

    /// Several SVG figures side by side, each with its caption, wrapping onto further rows when
    /// the page is too narrow (each figure is at least about 320 pixels wide). The markup is
    /// treated as in `figure(svg:caption:)`. Nothing when `svgs` is empty.
    public mutating func figureRow(_ svgs: [(svg: String, caption: String)]) {
        guard !svgs.isEmpty else { return }
        var html = "<div class=\"row\">\n"
        for figure in svgs {
            html += "<figure>\n\(Self.inlineSVG(figure.svg))\n"
                + "<figcaption>\(Self.escape(figure.caption))</figcaption>\n</figure>\n"
        }
        html += "</div>"
        blocks.append(html)
    }

    // MARK: Output

    /// The finished page: an HTML5 document in UTF-8 with its style sheet inline.
    public func html() -> String {
        var html = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        html += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        html += "<title>\(Self.escape(title))</title>\n<style>\n\(Self.styleSheet)</style>\n</head>\n<body>\n"
        html += "<header>\n<h1>\(Self.escape(title))</h1>\n"
        if let subtitle { html += "<p class=\"subtitle\">\(Self.escape(subtitle))</p>\n" }
        html += "</header>\n"
        if sectionHeadings.count >= 3 {
            html += "<nav>\n<p class=\"contents\">Contents</p>\n<ol>\n"
            for (index, heading) in sectionHeadings.enumerated() {
                html += "<li><a href=\"#section-\(index + 1)\">\(Self.escape(heading))</a></li>\n"
            }
            html += "</ol>\n</nav>\n"
        }
        html += "<main>\n"
        for block in blocks { html += block + "\n" }
        html += "</main>\n</body>\n</html>\n"
        return html
    }

    // MARK: Helpers

    /// The style sheet: readable on screen, scaled figures, and page breaks kept out of
    /// figures and tables in print.
    private static let styleSheet = """
        body{font-family:"DejaVu Sans","Segoe UI",Roboto,Helvetica,Arial,sans-serif;line-height:1.5;color:#1a1a1a;\
        background:#ffffff;max-width:1100px;margin:0 auto;padding:24px 20px 48px}
        h1{font-size:1.8em;margin:0 0 .2em}
        .subtitle{color:#555555;margin:0 0 1em}
        h2{font-size:1.35em;margin:1.8em 0 .6em;padding-bottom:.2em;border-bottom:1px solid #cccccc}
        h3{font-size:1.1em;margin:1.4em 0 .5em}
        p{margin:.6em 0}
        .note{color:#666666;font-size:.88em}
        nav{border:1px solid #dddddd;padding:.4em 1em;margin:1em 0}
        nav .contents{font-weight:bold;margin:.2em 0}
        nav ol{margin:.2em 0}
        table{border-collapse:collapse;margin:.8em 0;font-size:.92em}
        th,td{border:1px solid #d0d0d0;padding:4px 10px;text-align:left;vertical-align:top}
        thead th{background:#f2f2f2}
        table.kv th{background:#f7f7f7;font-weight:600}
        .num{text-align:right;font-variant-numeric:tabular-nums}
        caption{caption-side:top;text-align:left;font-weight:bold;padding:0 0 4px}
        figure{margin:1em 0}
        figure svg,figure img{display:block;max-width:100%;height:auto}
        figcaption{color:#444444;font-size:.9em;margin-top:4px}
        .row{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start;margin:1em 0}
        .row figure{flex:1 1 320px;min-width:0;margin:0}
        .grid{display:grid;grid-template-columns:repeat(var(--columns),minmax(0,1fr));gap:10px;margin:1em 0}
        .grid figure{margin:0}
        .grid img{width:100%;image-rendering:pixelated}
        .grid figcaption{font-size:.8em;margin-top:2px}
        pre.unrendered{white-space:pre-wrap;font-size:.8em;border:1px solid #dddddd;padding:.5em}
        @media (max-width:640px){.grid{grid-template-columns:repeat(var(--narrow-columns),minmax(0,1fr))}}
        @media print{body{max-width:none;padding:0;font-size:10.5pt}nav{display:none}\
        h2,h3{break-after:avoid}figure,table,tr,.grid,.row{break-inside:avoid}}

        """

    /// `text` made safe for HTML text and attribute values (as `SVGPlot.escape`: `&`, `<`, `>`,
    /// `"` and `'` become entity references, characters not allowed in a document U+FFFD).
    static func escape(_ text: String) -> String { SVGPlot.escape(text) }

    /// Whether `cell` reads as a number: after blanks, an optional trailing "%" and a leading
    /// "−" (U+2212) read as "-", a decimal or scientific number (not "nan" or "inf").
    static func isNumeric(_ cell: String) -> Bool {
        var text = Substring(cell).drop(while: \.isWhitespace)
        while let last = text.last, last.isWhitespace { text.removeLast() }
        if text.hasSuffix("%") { text.removeLast() }
        var number = String(text)
        if number.hasPrefix("\u{2212}") { number = "-" + number.dropFirst() }
        guard let first = number.unicodeScalars.first, "0123456789+-.".unicodeScalars.contains(first) else {
            return false
        }
        guard let value = Double(number) else { return false }
        return value.isFinite
    }

    /// The SVG markup to inline: `svg` without its XML declaration, DOCTYPE and leading
    /// comments, or, when that does not begin with an `<svg>` element, the text escaped in a
    /// `<pre>`.
    static func inlineSVG(_ svg: String) -> String {
        var rest = Substring(svg)
        while true {
            rest = rest.drop { $0.isWhitespace || $0 == "\u{FEFF}" }
            if rest.hasPrefix("<?") {
                guard let end = rest.firstRange(of: "?>") else { break }
                rest = rest[end.upperBound...]
            } else if rest.hasPrefix("<!--") {
                guard let end = rest.firstRange(of: "-->") else { break }
                rest = rest[end.upperBound...]
            } else if rest.prefix(9).uppercased() == "<!DOCTYPE" {
                // The DOCTYPE ends at the first ">" outside an internal subset "[ … ]".
                var depth = 0
                guard
                    let end = rest.firstIndex(where: { character in
                        if character == "[" { depth += 1 }
                        if character == "]" { depth -= 1 }
                        return character == ">" && depth <= 0
                    })
                else { break }
                rest = rest[rest.index(after: end)...]
            } else {
                break
            }
        }
        while let last = rest.last, last.isWhitespace { rest.removeLast() }
        let afterName = rest.dropFirst(4).first
        if rest.hasPrefix("<svg"), let afterName, afterName.isWhitespace || afterName == ">" {
            return String(rest)
        }
        return "<pre class=\"unrendered\">\(escape(svg))</pre>"
    }

    /// `bytes` in base64 (RFC 4648 §4: the standard alphabet, padded with "=", no line breaks).
    static func base64(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var output: [UInt8] = []
        output.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index < bytes.count {
            let available = min(bytes.count - index, 3)
            var group: UInt32 = 0
            for offset in 0..<3 {
                group <<= 8
                if offset < available { group |= UInt32(bytes[index + offset]) }
            }
            for position in 0..<4 {
                if position <= available {
                    output.append(alphabet[Int((group >> UInt32(18 - 6 * position)) & 0x3F)])
                } else {
                    output.append(UInt8(ascii: "="))
                }
            }
            index += available
        }
        return String(decoding: output, as: UTF8.self)
    }
}
