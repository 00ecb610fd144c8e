// RFC 4180 output for de-identified tables, the inverse of ScalpelClinic's CSVTable parser.

/// Writes a header and rows as RFC 4180 CSV text with "\n" line ends.
enum CSVWriter {
    /// One field, quoted when it holds a comma, a double quote, a CR or a LF (inner quotes
    /// doubled); otherwise as it is.
    static func field(_ text: String) -> String {
        let needsQuotes = text.utf8.contains { byte in
            byte == UInt8(ascii: ",") || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\r")
                || byte == UInt8(ascii: "\n")
        }
        guard needsQuotes else { return text }
        // Unicode scalars, not Characters: a quote followed by a combining mark is one Character
        // but still a quote byte to the parser.
        var quoted = String.UnicodeScalarView()
        quoted.append("\"")
        for scalar in text.unicodeScalars {
            quoted.append(scalar)
            if scalar == "\"" { quoted.append("\"") }
        }
        quoted.append("\"")
        return String(quoted)
    }

    /// One record: the fields joined by commas, ended by "\n".
    static func record(_ fields: [String]) -> String {
        // A lone empty field would be a blank line, which a parser may skip: quote it.
        if fields.count == 1, fields[0].isEmpty { return "\"\"\n" }
        return fields.map(field).joined(separator: ",") + "\n"
    }

    /// The header and the rows (each as long as the header), in order.
    static func write(header: [String], rows: [[String]]) -> String {
        var text = record(header)
        for row in rows { text += record(row) }
        return text
    }
}
