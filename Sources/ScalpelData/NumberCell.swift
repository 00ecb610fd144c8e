// Reading one feature cell as a Float. Strict on purpose: in clinical data an empty cell or a
// "NaN" usually means a missing measurement, and turning it into 0 or letting NaN reach the
// loss would train on something that was never measured.

enum NumberCell {
    /// The value of `text` as a finite Float, or an error naming `location` and the text.
    /// Surrounding spaces and tabs are allowed (hand-edited files have them); nothing else is.
    static func parse(_ text: String, at location: ClinicDataError.Location) throws(ClinicDataError) -> Float {
        let trimmed = text.trimmingSpacesAndTabs()
        if trimmed.isEmpty {
            throw .invalidNumber(location, text: text, reason: "is empty; a number is required")
        }
        guard let value = Float(trimmed) else {
            throw .invalidNumber(location, text: text, reason: "is not a number")
        }
        if value.isNaN {
            throw .invalidNumber(location, text: text, reason: "is NaN; a finite number is required")
        }
        if value.isInfinite {
            // Float("1e39") is +inf too: say which of the two it was.
            let spelledInfinite = trimmed.lowercased().contains("inf")
            let reason = spelledInfinite
                ? "is infinite; a finite number is required"
                : "is outside the range of a 32-bit float"
            throw .invalidNumber(location, text: text, reason: reason)
        }
        return value
    }
}

extension String {
    fileprivate func trimmingSpacesAndTabs() -> Substring {
        let isBlank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = firstIndex(where: { !isBlank($0) }) else { return "" }
        let last = lastIndex(where: { !isBlank($0) })!
        return self[first...last]
    }
}
