// What the de-identifier recognises: identifier kinds by column name, by cell value, inside free
// text; dates in the formats clinical exports use; ZIP codes and ages to generalise. Everything
// here is pure and deterministic; Deidentifier.swift decides what to do with each column.

import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Regular expressions

/// A compiled regular expression. NSRegularExpression is immutable and documented as safe to
/// use from several threads at once, hence the unchecked Sendable.
final class DeidPattern: @unchecked Sendable {
    let regex: NSRegularExpression

    /// - Parameter whole: match only the whole string (the pattern is wrapped in `\A(?:…)\z`).
    init(_ pattern: String, caseInsensitive: Bool = false, whole: Bool = false) {
        let source = whole ? "\\A(?:" + pattern + ")\\z" : pattern
        // The patterns are constants of this file, checked by the tests; a typo is a programming
        // error, not bad input.
        regex = try! NSRegularExpression(pattern: source, options: caseInsensitive ? [.caseInsensitive] : [])
    }

    /// The capture groups (0 is the whole match) of the first match, or nil when none.
    func firstMatch(_ text: String) -> [String?]? {
        guard let match = regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) else {
            return nil
        }
        return (0..<match.numberOfRanges).map { index in
            Range(match.range(at: index), in: text).map { String(text[$0]) }
        }
    }

    func matches(_ text: String) -> Bool {
        regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
    }

    func allMatches(_ text: String) -> [NSTextCheckingResult] {
        regex.matches(in: text, range: NSRange(text.startIndex..., in: text))
    }
}

// MARK: - Calendar dates

/// A proleptic Gregorian calendar date, with day arithmetic that needs no time zone.
struct DeidCivilDate: Equatable, Comparable, Sendable {
    var year: Int
    var month: Int
    var day: Int

    static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// The date, or nil when month or day is out of range.
    static func valid(year: Int, month: Int, day: Int) -> DeidCivilDate? {
        guard (1...12).contains(month), day >= 1, day <= daysInMonth(year: year, month: month) else { return nil }
        return DeidCivilDate(year: year, month: month, day: day)
    }

    /// Days since 1970-01-01 (H. Hinnant's days_from_civil).
    var daysSinceEpoch: Int {
        let shiftedYear = month <= 2 ? year - 1 : year
        let era = (shiftedYear >= 0 ? shiftedYear : shiftedYear - 399) / 400
        let yearOfEra = shiftedYear - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The date `days` days after 1970-01-01 (H. Hinnant's civil_from_days).
    init(daysSinceEpoch days: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
    }

    init(year: Int, month: Int, day: Int) {
        self.year = year
        self.month = month
        self.day = day
    }

    /// The UTC calendar date of `date`.
    init(_ date: Date) {
        self.init(daysSinceEpoch: Int((date.timeIntervalSince1970 / 86_400).rounded(.down)))
    }

    func adding(days: Int) -> DeidCivilDate { DeidCivilDate(daysSinceEpoch: daysSinceEpoch + days) }

    /// Whole years from `self` (a birth date) to `date`.
    func age(on date: DeidCivilDate) -> Int {
        var years = date.year - year
        if (date.month, date.day) < (month, day) { years -= 1 }
        return years
    }

    /// yyyy-MM-dd.
    var iso: String { deidYear(year) + "-" + deidTwoDigits(month) + "-" + deidTwoDigits(day) }

    static func < (lhs: DeidCivilDate, rhs: DeidCivilDate) -> Bool {
        (lhs.year, lhs.month, lhs.day) < (rhs.year, rhs.month, rhs.day)
    }
}

func deidTwoDigits(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }

/// A year as four digits (zero-padded; dates outside 0…9999 are not parsed in the first place).
func deidYear(_ year: Int) -> String {
    let text = String(year)
    return text.count >= 4 ? text : String(repeating: "0", count: 4 - text.count) + text
}

/// A date read from a cell, as precise as the cell was.
struct DeidParsedDate: Equatable, Sendable {
    enum Precision: Sendable { case day, month, year }
    var year: Int
    var month: Int?
    var day: Int?

    var precision: Precision { day != nil ? .day : month != nil ? .month : .year }
    var civil: DeidCivilDate? {
        guard let month, let day else { return nil }
        return DeidCivilDate(year: year, month: month, day: day)
    }
}

/// Reads dates in the forms clinical exports use. Slash and dash dates are month first
/// (03/05/2024 is 5 March) unless `dayFirst` is set or the first number is over 12; dot dates
/// (05.03.2024) are day first. Two-digit years are placed in the century that puts them at or
/// before the reference year. A time after the date is accepted and ignored.
struct DeidDateParser: Sendable {
    var dayFirst: Bool
    var referenceYear: Int

    static let monthNames =
        "(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?|"
        + "oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
    static let weekday = "(?:(?:mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)[a-z]*\\.?,?\\s+)?"
    static let time =
        "(?:(?:t|\\s+|\\s*,\\s*|\\s+at\\s+)\\d{1,2}:\\d{2}(?::\\d{2}(?:[.,]\\d+)?)?\\s*(?:[ap]\\.?m\\.?)?"
        + "\\s*(?:z|utc|gmt|[+-]\\d{2}(?::?\\d{2})?)?)?"

    private static let iso = DeidPattern("(\\d{4})([-/.])(\\d{1,2})\\2(\\d{1,2})" + time, caseInsensitive: true, whole: true)
    private static let numeric = DeidPattern(
        "(\\d{1,2})([-/.])(\\d{1,2})\\2(\\d{4}|\\d{2})" + time, caseInsensitive: true, whole: true)
    private static let dayMonthYear = DeidPattern(
        weekday + "(\\d{1,2})(?:st|nd|rd|th)?(?:\\s+of)?[\\s-]*" + monthNames + "\\.?[\\s,-]*(\\d{4}|\\d{2})" + time,
        caseInsensitive: true, whole: true)
    private static let monthDayYear = DeidPattern(
        weekday + monthNames + "\\.?[\\s-]*(\\d{1,2})(?:st|nd|rd|th)?(?:,\\s*|[\\s-]+)(\\d{4})" + time,
        caseInsensitive: true, whole: true)
    private static let monthYear = DeidPattern(monthNames + "\\.?[\\s,-]+(\\d{4})", caseInsensitive: true, whole: true)
    private static let isoMonth = DeidPattern("(\\d{4})[-/](\\d{1,2})", whole: true)
    private static let numericMonth = DeidPattern("(\\d{1,2})[-/](\\d{4})", whole: true)
    private static let compact = DeidPattern("(\\d{4})(\\d{2})(\\d{2})", whole: true)
    private static let bareYear = DeidPattern("(\\d{4})", whole: true)

    /// The month (1…12) of an English month name or abbreviation.
    static func month(named name: String) -> Int? {
        let prefixes = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
        let lower = name.lowercased()
        return prefixes.firstIndex { lower.hasPrefix($0) }.map { $0 + 1 }
    }

    private func fullYear(_ text: String) -> Int? {
        guard let value = Int(text) else { return nil }
        if text.count == 4 { return value }
        let century = referenceYear / 100 * 100
        return century + value <= referenceYear ? century + value : century - 100 + value
    }

    private func day(_ year: Int?, _ month: Int?, _ day: Int?) -> DeidParsedDate? {
        guard let year, let month, let day, DeidCivilDate.valid(year: year, month: month, day: day) != nil else {
            return nil
        }
        return DeidParsedDate(year: year, month: month, day: day)
    }

    /// The date in `text` (the whole cell, surrounding whitespace ignored), or nil.
    /// - Parameters:
    ///   - compact: also read yyyyMMdd (only where the column is known to hold dates: as a value
    ///     pattern it would take record numbers for dates).
    ///   - bareYear: also read a lone year (1800…2200), which Safe Harbor lets stand.
    func parse(_ text: String, compact: Bool, bareYear: Bool) -> DeidParsedDate? {
        // Years outside 1800…2200 are typos or codes, not dates in a clinical table.
        guard let date = parseAnyYear(text, compact: compact, bareYear: bareYear), (1800...2200).contains(date.year)
        else { return nil }
        return date
    }

    private func parseAnyYear(_ text: String, compact: Bool, bareYear: Bool) -> DeidParsedDate? {
        let cell = deidTrimmed(text)
        guard cell.count >= 4, cell.count <= 60, cell.first?.isNumber == true || cell.first?.isLetter == true else {
            return nil
        }
        if let groups = Self.iso.firstMatch(cell) {
            return day(Int(groups[1]!), Int(groups[3]!), Int(groups[4]!))
        }
        if let groups = Self.numeric.firstMatch(cell) {
            guard let first = Int(groups[1]!), let second = Int(groups[3]!), let year = fullYear(groups[4]!) else {
                return nil
            }
            let separatorIsDot = groups[2] == "."
            var firstIsDay = dayFirst || separatorIsDot
            if first > 12 { firstIsDay = true } else if second > 12 { firstIsDay = false }
            return firstIsDay ? day(year, second, first) : day(year, first, second)
        }
        if let groups = Self.dayMonthYear.firstMatch(cell) {
            return day(fullYear(groups[3]!), Self.month(named: groups[2]!), Int(groups[1]!))
        }
        if let groups = Self.monthDayYear.firstMatch(cell) {
            return day(Int(groups[3]!), Self.month(named: groups[1]!), Int(groups[2]!))
        }
        if let groups = Self.monthYear.firstMatch(cell), let year = Int(groups[2]!),
            let month = Self.month(named: groups[1]!)
        {
            return DeidParsedDate(year: year, month: month, day: nil)
        }
        if let groups = Self.isoMonth.firstMatch(cell), let year = Int(groups[1]!), let month = Int(groups[2]!),
            (1...12).contains(month)
        {
            return DeidParsedDate(year: year, month: month, day: nil)
        }
        if let groups = Self.numericMonth.firstMatch(cell), let month = Int(groups[1]!), let year = Int(groups[2]!),
            (1...12).contains(month)
        {
            return DeidParsedDate(year: year, month: month, day: nil)
        }
        if compact, let groups = Self.compact.firstMatch(cell), let year = Int(groups[1]!), (1800...2200).contains(year) {
            return day(year, Int(groups[2]!), Int(groups[3]!))
        }
        if bareYear, let groups = Self.bareYear.firstMatch(cell), let year = Int(groups[1]!),
            (1800...2200).contains(year)
        {
            return DeidParsedDate(year: year, month: nil, day: nil)
        }
        return nil
    }
}

// MARK: - Missing cells

/// Markers that mean "no value"; they carry nothing about a person and are left as they are.
let deidMissingMarkers: Set<String> = [
    "na", "n/a", "nan", "null", "none", "nil", "unknown", "unk", "missing", "?", "-", "--", ".", "#n/a",
]

/// Whether a cell holds no value: empty, whitespace, or a missing-value marker.
func deidIsMissing(_ cell: String) -> Bool {
    let trimmed = deidTrimmed(cell)
    // No marker is longer than 7 bytes: skip lowercasing real values.
    return trimmed.isEmpty || (trimmed.utf8.count <= 7 && deidMissingMarkers.contains(trimmed.lowercased()))
}

/// Whether the bytes `needle` occur in `haystack`.
func deidContains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
    guard !needle.isEmpty else { return true }
    guard haystack.count >= needle.count else { return false }
    let first = needle[0]
    for start in 0...(haystack.count - needle.count) where haystack[start] == first {
        var index = 1
        while index < needle.count, haystack[start + index] == needle[index] { index += 1 }
        if index == needle.count { return true }
    }
    return false
}

/// `text` without leading and trailing whitespace (Unicode White_Space, line breaks included);
/// the string itself when there is none, which is the common case.
func deidTrimmed(_ text: String) -> String {
    let scalars = text.unicodeScalars
    guard let first = scalars.first, let last = scalars.last else { return text }
    if !first.properties.isWhitespace, !last.properties.isWhitespace { return text }
    guard let start = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
        let end = scalars.lastIndex(where: { !$0.properties.isWhitespace })
    else { return "" }
    return String(scalars[start...end])
}

// MARK: - ZIP codes and ages

enum DeidGeneralise {
    /// The three-digit ZIP prefixes whose areas held 20,000 people or fewer (2000 census), which
    /// Safe Harbor requires to be written as 000.
    static let restrictedZIPPrefixes: Set<String> = [
        "036", "059", "063", "102", "203", "556", "692", "790", "821", "823", "830", "831", "878", "879", "884",
        "890", "893",
    ]

    // A ZIP code read as a number by a spreadsheet or pandas may come back as 2114 or 2114.0.
    private static let zip = DeidPattern(
        "(\\d{5})(?:-?\\d{4}|\\.0+)?|(\\d{4})(?:\\.0+)?|(\\d{3})(?:[xX*]{2})?", whole: true)

    /// The first three digits of a US ZIP code (5 digits, ZIP+4, a 4-digit ZIP whose leading zero a
    /// spreadsheet dropped, either with a ".0" a float column added, or an already truncated
    /// 3-digit prefix), 000 for the restricted
    /// prefixes; nil when the cell is not a ZIP code.
    static func zipPrefix(_ cell: String) -> String? {
        let trimmed = deidTrimmed(cell)
        guard let groups = zip.firstMatch(trimmed) else { return nil }
        let prefix: String
        if let five = groups[1] {
            prefix = String(five.prefix(3))
        } else if let four = groups[2] {
            prefix = "0" + four.prefix(2)
        } else {
            prefix = groups[3]!
        }
        return restrictedZIPPrefixes.contains(prefix) ? "000" : prefix
    }

    enum AgeUnit: Sendable {
        case years, months, weeks, days

        /// Units per year.
        var perYear: Double {
            switch self {
            case .years: 1
            case .months: 12
            case .weeks: 365.2425 / 7
            case .days: 365.2425
            }
        }

        init?(word: String) {
            switch word.lowercased().filter({ $0 != "." }) {
            case "y", "yr", "yrs", "year", "years", "yo", "yoa", "y/o": self = .years
            case "m", "mo", "mos", "mth", "mths", "month", "months": self = .months
            case "w", "wk", "wks", "week", "weeks": self = .weeks
            case "d", "day", "days": self = .days
            default: return nil
            }
        }
    }

    enum AgeResult: Equatable { case unchanged, replaced(String) }

    private static let plainAge = DeidPattern(
        "(\\d{1,4}(?:[.,]\\d+)?)\\s*([a-z./]+)?", caseInsensitive: true, whole: true)
    private static let lowerBound = DeidPattern("(?:(>=|≥|>)\\s*(\\d{1,4})|(\\d{1,4})\\s*\\+)", whole: true)
    private static let upperBound = DeidPattern("(?:<=|≤|<)\\s*\\d{1,4}(?:[.,]\\d+)?", whole: true)
    private static let range = DeidPattern("(\\d{1,4})\\s*(?:-|–|to)\\s*(\\d{1,4})", caseInsensitive: true, whole: true)

    /// Top-codes an age over 89 years to "90+" ("90+ years" in a column counted in another unit);
    /// nil when the cell is not an age.
    static func topCodeAge(_ cell: String, columnUnit: AgeUnit) -> AgeResult? {
        let trimmed = deidTrimmed(cell)
        let topCoded = columnUnit == .years ? "90+" : "90+ years"
        func coded() -> AgeResult { trimmed == topCoded ? .unchanged : .replaced(topCoded) }

        if let groups = plainAge.firstMatch(trimmed) {
            guard let value = Double(String(groups[1]!.map { $0 == "," ? "." : $0 })) else { return nil }
            var unit = columnUnit
            if let word = groups[2] {
                guard let named = AgeUnit(word: word) else { return nil }
                unit = named
            }
            return value / unit.perYear > 89 ? coded() : .unchanged
        }
        if let groups = lowerBound.firstMatch(trimmed) {
            // ">89" and "90+" both mean 90 or more.
            let bound: Int
            if let strict = groups[1], let number = Int(groups[2]!) {
                bound = strict == ">" ? number + 1 : number
            } else {
                bound = Int(groups[3]!)!
            }
            return Double(bound) / columnUnit.perYear >= 90 ? coded() : .unchanged
        }
        if upperBound.matches(trimmed) { return .unchanged }
        if let groups = range.firstMatch(trimmed), let low = Int(groups[1]!) {
            // A band that starts at 90 or above singles out the oldest; one that merely reaches
            // past 89 (85-94) does not.
            return Double(low) / columnUnit.perYear >= 90 ? coded() : .unchanged
        }
        return nil
    }
}

// MARK: - Identifier values

enum DeidValues {
    static let email = DeidPattern("[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\\.[A-Za-z0-9-]+)*\\.[A-Za-z]{2,}", whole: true)
    static let ssn = DeidPattern("\\d{3}-\\d{2}-\\d{4}|\\d{3} \\d{2} \\d{4}", whole: true)
    static let usPhone = DeidPattern(
        "(?:\\+?1[\\s.-]?)?(?:\\(\\d{3}\\)\\s*|\\d{3}[\\s.-])\\d{3}[\\s.-]\\d{4}(?:\\s*(?:x|ext\\.?)\\s*\\d{1,5})?",
        caseInsensitive: true, whole: true)
    static let internationalPhone = DeidPattern("\\+\\d{1,3}(?:[\\s.-]?\\(?\\d{1,4}\\)?){2,6}", whole: true)
    static let url = DeidPattern("(?:https?|ftp)://\\S+|www\\.[A-Za-z0-9-]+(?:\\.[A-Za-z0-9-]+)+\\S*",
        caseInsensitive: true, whole: true)
    static let zipPlusFour = DeidPattern("\\d{5}-\\d{4}", whole: true)
    static let labelledRecord = DeidPattern("(?:MRN|MR#?)[\\s:#-]*[A-Za-z0-9-]*\\d[A-Za-z0-9-]*",
        caseInsensitive: true, whole: true)
    static let vin = DeidPattern("(?=[A-HJ-NPR-Z0-9]*[A-HJ-NPR-Z])(?=[A-HJ-NPR-Z0-9]*\\d)[A-HJ-NPR-Z0-9]{17}", whole: true)
    static let streetSuffixes =
        "street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|way|place|pl|terrace|ter|"
        + "circle|cir|parkway|pkwy|highway|hwy|square|sq|trail|trl"
    static let streetAddress = DeidPattern(
        "\\d{1,6}[A-Za-z]?\\s+(?:[A-Za-z0-9.'-]+\\s+){0,5}(?:" + streetSuffixes + ")\\b\\.?.*"
            + "|p\\.?\\s*o\\.?\\s*box\\s+\\d+.*",
        caseInsensitive: true, whole: true)

    static func isIPv4(_ text: String) -> Bool {
        var address = in_addr()
        return text.withCString { inet_pton(AF_INET, $0, &address) } == 1
    }

    static func isIPv6(_ text: String) -> Bool {
        guard text.contains(":"), text.contains(where: \.isHexDigit) else { return false }
        var address = in6_addr()
        return text.withCString { inet_pton(AF_INET6, $0, &address) } == 1
    }

    static func isPhone(_ text: String) -> Bool {
        if usPhone.matches(text) { return true }
        guard internationalPhone.matches(text) else { return false }
        let digits = text.filter(\.isNumber).count
        return (8...15).contains(digits)
    }

    private static let fiveDigits = DeidPattern("\\d{5}(?:-?\\d{4})?", whole: true)
    private static let wholeNumber = DeidPattern("(\\d{1,3})(?:\\.0+)?", whole: true)

    /// Why a column whose name says nothing of ZIP codes holds them, or nil. Every present cell
    /// must be five digits or ZIP+4 written as text, none starting 000 to 004 (no ZIP code does),
    /// and something besides the digits must say they are codes of places: the column name hints
    /// at a place (loc, area, residence: `DeidColumnNames.hintsPlace`), a cell is written ZIP+4,
    /// or a cell keeps a leading zero (a count or a measurement never has one). Five-digit counts,
    /// measurements and accession numbers under other names, and numbers with decimals, are not
    /// ZIP codes.
    static func zipColumn(name: String, cells: [String]) -> String? {
        guard !cells.isEmpty else { return nil }
        var plusFour = false
        var leadingZero = false
        for cell in cells {
            let text = deidTrimmed(cell)
            guard fiveDigits.matches(text), text.prefix(3) >= "005" else { return nil }
            if text.count > 5 { plusFour = true }
            if text.hasPrefix("0") { leadingZero = true }
        }
        let evidence =
            DeidColumnNames.hintsPlace(name) ? "a name that suggests a place"
            : plusFour ? "ZIP+4 codes" : leadingZero ? "leading zeros" : nil
        return evidence.map { "values: 100% five-digit ZIP codes, with \($0)" }
    }

    /// Why a column whose name does not say "age" holds ages, or nil: its name hints at ages
    /// ("years", "old": `DeidColumnNames.hintsAge`), at least 90% of its present cells are whole
    /// numbers from 0 to 125 (the others are scrubbed as text), and one is over 89, so top-coding
    /// matters. Numbers alone are never enough: glucose of 70-140 mg/dL or a heart rate of 95
    /// looks just like an age.
    static func ageColumn(name: String, cells: [String]) -> String? {
        guard !cells.isEmpty, DeidColumnNames.hintsAge(name) else { return nil }
        var ages = 0
        var over89 = 0
        for cell in cells {
            guard let groups = wholeNumber.firstMatch(deidTrimmed(cell)), let value = Int(groups[1]!), value <= 125 else {
                continue
            }
            ages += 1
            if value > 89 { over89 += 1 }
        }
        guard over89 > 0, Double(ages) >= 0.9 * Double(cells.count) else { return nil }
        return "values: \(ages * 100 / cells.count)% whole numbers 0-125, \(over89) over 89, under a name that suggests ages"
    }

    /// The identifier kind a whole cell is, judged by its value alone, or nil. Only patterns
    /// specific enough to tell a column's kind from its values are here: a bare 5-digit number
    /// may be a ZIP code or a white cell count, so only ZIP+4 counts as a ZIP code.
    static func kind(of cell: String, dates: DeidDateParser) -> Deidentifier.IdentifierKind? {
        let text = deidTrimmed(cell)
        guard !text.isEmpty, text.count <= 200 else { return nil }
        if email.matches(text) { return .email }
        if ssn.matches(text) { return .ssn }
        if url.matches(text) { return .url }
        if isIPv4(text) || isIPv6(text) { return .ipAddress }
        if dates.parse(text, compact: false, bareYear: false) != nil { return .date }
        if isPhone(text) { return .phone }
        if zipPlusFour.matches(text) { return .zipCode }
        if labelledRecord.matches(text) { return .medicalRecord }
        if vin.matches(text) { return .vehicle }
        if streetAddress.matches(text) { return .streetAddress }
        return nil
    }
}

// MARK: - Column names

enum DeidColumnNames {
    /// The lowercase words of a column name: split at anything not a letter or digit, at
    /// lower-to-upper case changes (admissionDate), and between letters and digits (zip5).
    static func tokens(_ name: String) -> [String] {
        var tokens: [String] = []
        var current = ""
        let characters = Array(name)
        for (index, character) in characters.enumerated() {
            guard character.isLetter || character.isNumber else {
                if !current.isEmpty { tokens.append(current) }
                current = ""
                continue
            }
            if let last = current.last {
                let previous = characters[index - 1]
                let next = index + 1 < characters.count ? characters[index + 1] : nil
                let caseBreak = previous.isLowercase && character.isUppercase
                let acronymEnd = previous.isUppercase && character.isUppercase && (next?.isLowercase ?? false)
                let kindBreak = last.isNumber != character.isNumber
                if caseBreak || acronymEnd || kindBreak {
                    tokens.append(current)
                    current = ""
                }
            }
            current.append(character)
        }
        if !current.isEmpty { tokens.append(current) }
        return tokens.map { $0.lowercased() }
    }

    /// Words that say a column counts or labels something (patient_id, account_no).
    private static let idWords: Set<String> = ["id", "ids", "identifier", "number", "no", "num", "nbr", "nr", "code", "key"]
    /// Words that, with an id word, make a column a per-person identifier.
    private static let personQualifiers: Set<String> = [
        "patient", "pt", "person", "subject", "participant", "client", "member", "case", "encounter", "visit",
        "admission", "hadm", "stay", "icustay", "episode", "accession", "specimen", "sample", "record", "chart",
        "hospital", "empi", "mpi", "enterprise", "pat", "pid",
    ]
    /// Words that, with "name", mean the name of a thing rather than a person (drug_name).
    private static let thingQualifiers: Set<String> = [
        "drug", "medication", "med", "meds", "medicine", "test", "lab", "product", "hospital", "facility", "site",
        "study", "procedure", "diagnosis", "dx", "code", "file", "filename", "item", "variable", "unit",
        "department", "dept", "organism", "specimen", "ward", "brand", "generic", "gene", "protocol", "trial",
        "column", "field", "event", "scan", "series", "sequence", "model", "vaccine", "allergen", "organ",
        "anatomy", "clinic", "service", "center", "centre", "insurer", "payer", "plan", "program", "programme",
        "device", "manufacturer", "company", "species", "strain", "class", "category", "type", "group", "sample",
        "assay", "panel", "measure", "observation", "condition", "problem", "order", "form", "document", "report",
        "template", "room", "bed", "location", "region", "country", "state", "city", "county", "street", "cohort",
    ]
    private static let dateWords: Set<String> = [
        "date", "dates", "dob", "dod", "datetime", "timestamp", "birthdate", "birthday", "deathdate", "admitdate",
        "dischargedate", "visitdate", "servicedate", "dos",
    ]
    private static let freeTextWords: Set<String> = [
        "note", "notes", "comment", "comments", "narrative", "remarks", "remark", "freetext", "transcript",
        "transcription", "impression", "findings", "memo",
    ]

    /// The identifier kind a column name announces, or nil.
    static func kind(of name: String) -> Deidentifier.IdentifierKind? {
        let words = tokens(name)
        let set = Set(words)
        let joined = words.joined()
        func has(_ any: String...) -> Bool { any.contains { set.contains($0) } }
        func contains(_ any: String...) -> Bool { any.contains { joined.contains($0) } }
        let hasIDWord = !set.isDisjoint(with: idWords)

        if has("ssn", "ssno", "sin", "nino") || contains("socialsecurity", "socsec") { return .ssn }
        if has("email", "emails") || contains("email") { return .email }
        if has("fax", "facsimile") || contains("faxnumber", "faxno") { return .fax }
        if has("phone", "telephone", "tel", "mobile", "cellphone", "pager") || contains("phone") { return .phone }
        if has("url", "urls", "website", "webpage", "homepage", "uri") || contains("website", "webaddress") {
            return .url
        }
        if words == ["ip"] || has("ipv4", "ipv6", "ipaddr") || contains("ipaddress")
            || (has("ip") && has("address", "addr"))
        {
            return .ipAddress
        }
        if has("serial", "udi", "imei", "serialno") || contains("serialnumber", "macaddress")
            || (has("device", "implant", "pacemaker", "pump") && hasIDWord)
        {
            return .device
        }
        if has("vin", "vehicle", "plate", "numberplate", "licenseplate", "licenceplate")
            || contains("licenseplate", "licenceplate", "numberplate", "vehicle")
        {
            return .vehicle
        }
        if has("biometric", "biometrics", "fingerprint", "fingerprints", "voiceprint", "retina", "iris", "faceprint")
            || contains("biometric", "fingerprint", "voiceprint", "retinalscan", "irisscan")
        {
            return .biometric
        }
        if has("photo", "photos", "photograph", "headshot", "portrait", "selfie", "mugshot")
            || contains("photograph", "facephoto", "faceimage")
        {
            return .photo
        }
        let birth = has("dob", "birth", "birthdate", "birthday", "born", "yob") || contains("dateofbirth", "birthdate")
        if !set.isDisjoint(with: dateWords) || contains("dateofbirth", "dateofdeath", "birthdate", "deathdate")
            || (has("dt") && words.count > 1)
        {
            return birth ? .birthDate : .date
        }
        if has("yob") || (has("birth", "born") && has("year", "yr")) || contains("birthyear", "yearofbirth") {
            return .birthDate
        }
        // "years old", "yrs_old", "YearsOld" and "yo" say age as plainly as "age" does.
        if has("age", "ages", "ageyears", "ageyrs", "yo", "yoa", "yearsold", "yrsold")
            || (has("years", "year", "yrs", "yr") && has("old"))
        {
            return .age
        }
        if has("zip", "zipcode", "zip5", "zip3", "postal", "postcode", "postalcode")
            || contains("zipcode", "postalcode", "postcode")
        {
            return .zipCode
        }
        if !set.isDisjoint(with: freeTextWords) || contains("freetext", "clinicalnote", "progressnote", "dischargesummary") {
            return .freeText
        }
        if has("license", "licence", "licenses", "licences", "certificate", "certificates", "passport", "cert")
            || contains("driverslicense", "driverlicense", "driverslicence")
        {
            return .license
        }
        if contains("healthplan", "beneficiary") || has("medicaid", "medicare", "subscriber")
            || (has("insurance", "policy", "insured", "plan", "member") && hasIDWord)
        {
            return .healthPlan
        }
        if has("account", "acct", "accountno", "accountnumber", "billing") && (hasIDWord || has("account", "acct")) {
            return .account
        }
        if has("mrn", "mrno", "medrec", "emr", "ehr") || contains("medicalrecord", "medrec", "hospitalnumber")
            || (has("chart", "record") && hasIDWord)
        {
            return .medicalRecord
        }
        let personNameWord = has("name", "names", "fullname", "firstname", "lastname", "surname", "forename",
            "forenames", "givenname", "middlename", "maidenname", "nickname", "alias", "initials", "surnames")
            || contains("firstname", "lastname", "surname", "fullname", "givenname", "familyname", "middlename",
                "maidenname", "forename")
        if personNameWord && set.isDisjoint(with: thingQualifiers) { return .name }
        if has("employer", "spouse", "guardian", "nok", "kin", "nextofkin", "relative", "relatives")
            && !has("relationship", "type", "risk", "count")
            || contains("nextofkin", "emergencycontact")
        {
            return .name
        }
        if has("address", "addr", "street", "streetaddress", "address1", "address2", "addressline", "residence",
            "apartment", "apt", "pobox")
            || contains("streetaddress", "homeaddress", "mailingaddress", "addressline")
        {
            return .streetAddress
        }
        if has("city", "town", "municipality", "village", "hometown") { return .city }
        if has("county", "parish", "borough") { return .county }
        if has("precinct", "district", "neighborhood", "neighbourhood", "tract", "census", "geocode", "latitude",
            "longitude", "lat", "lon", "lng", "coordinates", "coords", "gps", "geolocation", "birthplace",
            "subdivision", "township", "ward") && !has("hospital", "clinic", "unit", "room", "bed")
            || (has("place") && has("birth"))
            || contains("birthplace", "placeofbirth", "geolocation")
        {
            // "ward" alone is a hospital ward far more often than an electoral ward.
            if words == ["ward"] { return nil }
            return .geographicSubdivision
        }
        if has("state", "province", "territory") { return .state }
        if words == ["id"] || words == ["identifier"] || (hasIDWord && !set.isDisjoint(with: personQualifiers)) {
            return .otherIdentifier
        }
        return nil
    }

    /// Words that, in a column name without "age", hint that its numbers are ages (years,
    /// yrs, old, aged): enough only together with the values (`DeidValues.ageColumn`).
    private static let ageHints: Set<String> = ["years", "yrs", "yr", "old", "aged", "elderly", "oldest"]
    /// Words that say a column counts years of something other than a life (pack_years,
    /// years_smoking, years_since_dx, yrs_education).
    private static let notAgeHints: Set<String> = [
        "pack", "packs", "smoking", "smoked", "smoker", "smoke", "tobacco", "alcohol", "drinking", "since",
        "education", "school", "schooling", "duration", "follow", "followup", "fu", "experience", "employment",
        "employed", "exposure", "service", "served", "diagnosis", "dx", "onset", "disease", "illness", "survival",
        "survived", "married", "marriage", "residence", "resident", "lived", "living", "post", "after", "before",
        "until", "remaining", "left", "lost", "ago", "use", "using", "practice", "work", "working", "months",
        "weeks", "days", "value", "score", "count", "id", "code", "treatment", "therapy", "operation", "surgery",
        "transplant", "dialysis", "hiv", "diabetes", "symptoms", "symptom", "ivdu", "injecting", "menopause",
        "menarche", "postmenopausal", "gestation", "gestational", "weight", "wt", "height", "ht", "bmi", "bp", "sbp",
        "dbp", "hr", "pulse", "rate", "glucose", "temp", "temperature", "level", "dose",
    ]

    /// Whether a column name hints at ages without saying "age": a word such as "years" or
    /// "old", and none that says years of something else.
    static func hintsAge(_ name: String) -> Bool {
        let words = Set(tokens(name))
        return !words.isDisjoint(with: ageHints) && words.isDisjoint(with: notAgeHints)
    }

    /// Words that, in a column name, hint that five-digit codes are places (loc, area, residence).
    private static let placeHints: Set<String> = [
        "loc", "location", "locality", "locale", "area", "region", "geo", "geog", "geography", "residence", "res",
        "home", "mail", "mailing", "zcta", "post", "place", "domicile", "where", "origin", "catchment", "addr",
    ]

    /// Whether a column name hints at a place, for telling five-digit ZIP codes from other
    /// five-digit numbers (`DeidValues.zipColumn`).
    static func hintsPlace(_ name: String) -> Bool { !Set(tokens(name)).isDisjoint(with: placeHints) }

    /// The unit an age column counts in, from its name (age_months); years by default.
    static func ageUnit(of name: String) -> DeidGeneralise.AgeUnit {
        let words = Set(tokens(name))
        if !words.isDisjoint(with: ["month", "months", "mo", "mos", "mths"]) { return .months }
        if !words.isDisjoint(with: ["week", "weeks", "wk", "wks"]) { return .weeks }
        if !words.isDisjoint(with: ["day", "days"]) { return .days }
        return .years
    }
}

// MARK: - Free text

/// Replaces identifiers inside free text with bracketed tags. Dates become [DATE] whatever the
/// date rule: a shifted date in prose could not be told from a real one by a reader, and a
/// missed shift would leak the real date.
struct DeidTextScrubber: Sendable {
    struct Rule: Sendable {
        let pattern: DeidPattern
        let tag: String
        /// The capture group replaced by the tag (0: the whole match).
        let group: Int
        /// Whether a match (the replaced group's text) really is an identifier.
        let accept: (@Sendable (String) -> Bool)?
        /// A capture group holding an age: the match counts only when that age is over 89.
        let over89Group: Int?
        /// Characters without which the pattern cannot match: a cheap test that spares most
        /// cells most patterns.
        let needs: Needs

        init(
            _ pattern: DeidPattern, _ tag: String, group: Int = 0, accept: (@Sendable (String) -> Bool)? = nil,
            over89Group: Int? = nil, needs: Needs
        ) {
            self.pattern = pattern
            self.tag = tag
            self.group = group
            self.accept = accept
            self.over89Group = over89Group
            self.needs = needs
        }
    }

    struct Needs: OptionSet, Sendable {
        let rawValue: UInt8
        static let digit = Needs(rawValue: 1)
        static let at = Needs(rawValue: 2)
        static let colon = Needs(rawValue: 4)
        static let dot = Needs(rawValue: 8)
        static let upper = Needs(rawValue: 16)
        /// A word of the ages over 89 spelled out: "ninet(y, ies, ieth)", "hundred",
        /// "(non, cent)enarian", in any case.
        static let ageWord = Needs(rawValue: 32)

        private static let ageWords = ["ninet", "hundred", "enarian"].map { Array($0.utf8) }

        /// What `text` holds.
        init(of text: String) {
            var found: UInt8 = 0
            for scalar in text.unicodeScalars {
                switch scalar {
                case "0"..."9": found |= Needs.digit.rawValue
                case "@": found |= Needs.at.rawValue
                case ":": found |= Needs.colon.rawValue
                case ".": found |= Needs.dot.rawValue
                default:
                    if scalar.properties.isUppercase { found |= Needs.upper.rawValue }
                }
            }
            let lowered = text.utf8.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }
            if Self.ageWords.contains(where: { deidContains(lowered, $0) }) { found |= Needs.ageWord.rawValue }
            rawValue = found
        }

        init(rawValue: UInt8) { self.rawValue = rawValue }
    }

    let rules: [Rule]

    /// A capitalised word (Smith, O'Neil, SMITH, Élodie) or an initial (J.).
    static let nameWord = "(?:\\p{Lu}\\.|\\p{Lu}[\\p{L}\\p{M}]*(?:['’-][\\p{L}\\p{M}]+)*(?![\\p{L}\\p{M}]))"
    static let nameSequence = nameWord + "(?:\\s+" + nameWord + "){0,3}"
    static let states =
        "AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|NY|NC|ND|"
        + "OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR|VI|GU|AS|MP|Alabama|Alaska|Arizona|Arkansas|"
        + "California|Colorado|Connecticut|Delaware|Florida|Georgia|Hawaii|Idaho|Illinois|Indiana|Iowa|Kansas|"
        + "Kentucky|Louisiana|Maine|Maryland|Massachusetts|Michigan|Minnesota|Mississippi|Missouri|Montana|"
        + "Nebraska|Nevada|New Hampshire|New Jersey|New Mexico|New York|North Carolina|North Dakota|Ohio|"
        + "Oklahoma|Oregon|Pennsylvania|Rhode Island|South Carolina|South Dakota|Tennessee|Texas|Utah|Vermont|"
        + "Virginia|Washington|West Virginia|Wisconsin|Wyoming|Puerto Rico"
    static let idTail = "[A-Za-z]{0,3}-?\\d[A-Za-z0-9-]{2,}"

    init(dates: DeidDateParser) {
        let month = DeidDateParser.monthNames
        var rules: [Rule] = []
        rules.append(Rule(DeidPattern("[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\\.[A-Za-z0-9-]+)*\\.[A-Za-z]{2,}"), "[EMAIL]", needs: .at))
        rules.append(Rule(DeidPattern(
            "\\b(?:https?|ftp)://[^\\s<>\"'\\]\\[()]+|\\bwww\\.[A-Za-z0-9-]+(?:\\.[A-Za-z0-9-]+)+[^\\s<>\"'\\]\\[()]*",
            caseInsensitive: true), "[URL]", needs: []))
        rules.append(Rule(DeidPattern(
            "(?<![0-9A-Za-z:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{0,4}|\\d{1,3}(?:\\.\\d{1,3}){3})(?![0-9A-Za-z:])"),
            "[IP]", accept: { DeidValues.isIPv6($0) }, needs: .colon))
        rules.append(Rule(DeidPattern("(?<![\\d.])\\d{1,3}(?:\\.\\d{1,3}){3}(?!\\.?\\d)"), "[IP]",
            accept: { DeidValues.isIPv4($0) }, needs: [.dot, .digit]))
        rules.append(Rule(DeidPattern(
            "\\b(?:SSN|SS#|social\\s+security(?:\\s+(?:number|no\\.?|#))?)\\s*[:#]?\\s*\\d{3}[- ]?\\d{2}[- ]?\\d{4}\\b",
            caseInsensitive: true), "[SSN]", needs: .digit))
        rules.append(Rule(DeidPattern("(?<![\\d-])\\d{3}-\\d{2}-\\d{4}(?![\\d-])"), "[SSN]", needs: .digit))
        rules.append(Rule(DeidPattern(
            "\\b(?:MRN|MR\\s*#|medical\\s+record(?:\\s+(?:number|no\\.?|#))?|chart\\s*(?:number|no\\.?|#)|"
                + "hospital\\s+(?:number|no\\.?|#)|record\\s*(?:number|no\\.?|#))\\s*#?\\s*[:#]?\\s*" + Self.idTail,
            caseInsensitive: true), "[MRN]", needs: .digit))
        rules.append(Rule(DeidPattern(
            "\\b(?:acct|account|member|policy|beneficiary|insurance|medicaid|medicare|subscriber|licen[cs]e|"
                + "certificate|passport|VIN|serial|device|encounter|visit|accession|patient|pt|subject|case|"
                + "health\\s+plan)(?:\\s*(?:id|number|no\\.?|num|#)\\s*[:#]?|\\s*[:#])\\s*" + Self.idTail,
            caseInsensitive: true), "[ID]", needs: .digit))
        rules.append(Rule(DeidPattern(
            "\\b(?:phone|tel|telephone|fax|cell|mobile|pager|ph)\\.?\\s*(?:(?:no\\.?|number|#)\\s*)?[:#]?\\s*"
                + "\\+?\\(?\\d[\\d\\s().-]{5,}\\d",
            caseInsensitive: true), "[PHONE]", needs: .digit))
        rules.append(Rule(DeidPattern(
            "(?<![\\w+])(?:\\+?1[\\s.-]?)?(?:\\(\\d{3}\\)\\s*|\\d{3}[\\s.-])\\d{3}[\\s.-]\\d{4}(?!\\w)"
                + "(?:\\s*(?:x|ext\\.?)\\s*\\d{1,5})?",
            caseInsensitive: true), "[PHONE]", needs: .digit))
        rules.append(Rule(DeidPattern("(?<![\\w+])\\+\\d{1,3}(?:[\\s.-]?\\(?\\d{1,4}\\)?){2,6}(?!\\w)"), "[PHONE]",
            accept: { (8...15).contains($0.filter(\.isNumber).count) }, needs: .digit))
        // Dates, before bare numbers so that 20240305 reads as a date where it is one.
        rules.append(Rule(DeidPattern(
            "\\b\\d{4}[-/.]\\d{1,2}[-/.]\\d{1,2}(?:[T ]\\d{1,2}:\\d{2}(?::\\d{2}(?:\\.\\d+)?)?(?:Z|[+-]\\d{2}:?\\d{2})?)?\\b"),
            "[DATE]", accept: { dates.parse($0, compact: false, bareYear: false) != nil }, needs: .digit))
        rules.append(Rule(DeidPattern("(?<![\\d.])\\d{1,2}[-/.]\\d{1,2}[-/.](?:\\d{4}|\\d{2})(?![\\d]|\\.\\d)"), "[DATE]",
            accept: { dates.parse($0, compact: false, bareYear: false) != nil }, needs: .digit))
        let ordinal = "(?:st|nd|rd|th)?"
        rules.append(Rule(DeidPattern(
            "\\b(?:" + DeidDateParser.weekday + "\\d{1,2}" + ordinal + "(?:\\s+of)?[\\s-]*" + month
                + "\\b\\.?(?:[\\s,-]+(?:\\d{4}|\\d{2})\\b)?"
                + "|" + DeidDateParser.weekday + month + "\\b\\.?[\\s-]*\\d{1,2}" + ordinal + "\\b(?:,?\\s+\\d{4}\\b)?"
                + "|" + month + "\\b\\.?,?\\s+\\d{4}\\b)",
            caseInsensitive: true), "[DATE]", accept: Self.isTextDate, needs: .digit))
        // A month and day without a year (12/25) only after a word that announces a date: alone
        // it is more often a score (5/5 strength, 2/6 murmur) or a fraction.
        rules.append(Rule(DeidPattern(
            "(?i:\\b(?:on|since|from|until|till|through|thru|dated|seen|admitted|discharged|returned|visited|visit|"
                + "surgery|appt|appointment|last|next|before|after|by|of)\\s+)(\\d{1,2}/\\d{1,2})(?![\\d/]|\\.\\d)"),
            "[DATE]", group: 1, accept: { text in
                let parts = text.split(separator: "/").compactMap { Int($0) }
                return parts.count == 2 && (1...12).contains(parts[0]) && (1...31).contains(parts[1])
            }, needs: .digit))
        rules.append(Rule(DeidPattern("(?<![\\d./-])(?:\\d{1,2}/\\d{4}|\\d{4}-\\d{1,2})(?![\\d/-]|\\.\\d)"), "[DATE]",
            accept: { dates.parse($0, compact: false, bareYear: false) != nil }, needs: .digit))
        rules.append(Rule(DeidPattern("(?<![\\w.,/-])\\d{8}(?![\\w]|[.,]\\d)"), "[DATE]",
            accept: { dates.parse($0, compact: true, bareYear: false) != nil }, needs: .digit))
        // A year of birth, whatever age it points to: beside dates shifted per patient it would
        // undo the shift, and a birth year over 89 years back is an age Safe Harbor aggregates.
        rules.append(Rule(DeidPattern(
            "\\b(?:born|b\\.|dob|d\\.o\\.b\\.?|yob|date\\s+of\\s+birth|year\\s+of\\s+birth|birth\\s*year)\\s*[:#-]?\\s*"
                + "(?:(?:in|on|around|about|circa|c\\.|ca\\.|approx\\.|approximately|~|the|early|mid|late)[\\s-]*)*"
                + "((?:18|19|20)\\d{2}(?:'?s)?|'\\d{2}(?:'?s)?)(?!\\w)",
            caseInsensitive: true), "[DATE]", group: 1, needs: .digit))
        // Long bare numbers: record numbers, unformatted phone or social security numbers.
        rules.append(Rule(DeidPattern("(?<![\\w.,/-])\\d{7,}(?![\\w]|[.,]\\d)"), "[ID]", needs: .digit))
        // Ages over 89, in figures (94-year-old, 94yo, 95yoF, aged 96, age of 97, turned 91 but not
        // turned 90 degrees, 95th birthday) and in words (ninety-four year old, one hundred and
        // two years old, aged ninety, nonagenarian, in her late nineties). Ages of 89 and under
        // may stay, as Safe Harbor allows.
        rules.append(Rule(DeidPattern(
            "\\b(\\d{2,3})(?:\\s*|-)(?:years?|yrs?|y)(?:\\s*|-)(?:old|of\\s+age)\\b", caseInsensitive: true),
            "[AGE 90+]", over89Group: 1, needs: .digit))
        rules.append(Rule(DeidPattern(
            "\\b(\\d{2,3})\\s*(?:yo|y/o|y\\.o\\.|yoa)(?:[mf](?![A-Za-z])|(?![A-Za-z]))", caseInsensitive: true),
            "[AGE 90+]", over89Group: 1, needs: .digit))
        rules.append(Rule(DeidPattern(
            "(?<!\\[)\\b(?:aged?|age\\s*(?::|of)|turn(?:ed|ing|s))\\s*(\\d{2,3})\\b" + Self.notAQuantity,
            caseInsensitive: true), "[AGE 90+]", over89Group: 1, needs: .digit))
        rules.append(Rule(DeidPattern("\\b(\\d{2,3})(?:st|nd|rd|th)\\s+birthday\\b", caseInsensitive: true), "[AGE 90+]",
            over89Group: 1, needs: .digit))
        let over89 = Self.spelledOver89
        rules.append(Rule(DeidPattern(
            "\\b" + over89 + "[\\s-]*(?:years?|yrs?|y)[\\s-]*(?:old|of\\s+age)\\b", caseInsensitive: true),
            "[AGE 90+]", needs: .ageWord))
        rules.append(Rule(DeidPattern(
            "\\b" + over89 + "[\\s-]*(?:yo|y/o|y\\.o\\.|yoa)(?:[mf](?![A-Za-z])|(?![A-Za-z]))", caseInsensitive: true),
            "[AGE 90+]", needs: .ageWord))
        rules.append(Rule(DeidPattern(
            "\\b(?:aged?\\s+|age\\s*:\\s*|age\\s+of\\s+|turn(?:ed|ing|s)\\s+)" + over89 + "\\b" + Self.notAQuantity,
            caseInsensitive: true), "[AGE 90+]", needs: .ageWord))
        rules.append(Rule(DeidPattern(
            "\\b(?:(?:super)?centenarian|nonagenarian)s?\\b"
                + "|\\bin\\s+(?:his|her|their)\\s+(?:(?:early|mid|late)[\\s-]*)?(?:nineties|90'?s)(?![\\w'])"
                + "|\\b" + Self.spelledOrdinalOver89 + "\\s+birthday\\b",
            caseInsensitive: true), "[AGE 90+]", needs: .ageWord))
        // ZIP codes after a state, and labelled ones.
        rules.append(Rule(DeidPattern("\\b(?:" + Self.states + ")\\.?,?\\s+(\\d{5}(?:-\\d{4})?)\\b"), "[ZIP]", group: 1, needs: .digit))
        rules.append(Rule(DeidPattern(
            "\\b(?:zip|zip\\s*code|postal\\s*code|postcode)\\s*[:#]?\\s*(\\d{5}(?:-\\d{4})?)\\b", caseInsensitive: true),
            "[ZIP]", group: 1, needs: .digit))
        // Street addresses and post office boxes.
        rules.append(Rule(DeidPattern(
            "\\b\\d{1,6}[A-Za-z]?\\s+(?:(?:[NSEW]\\.?|North|South|East|West)\\s+)?(?:[A-Z0-9][A-Za-z0-9'-]*\\s+){1,4}"
                + "(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|"
                + "Ter|Circle|Cir|Parkway|Pkwy|Highway|Hwy|Square|Sq|Trail|Trl)\\b\\.?(?:\\s+(?:NE|NW|SE|SW|N|S|E|W)\\b\\.?)?"
                + "(?:,?\\s*(?:Apt|Apartment|Suite|Ste|Unit|#)\\.?\\s*[A-Za-z0-9-]+)?"),
            "[ADDRESS]", needs: .digit))
        rules.append(Rule(DeidPattern("\\bp\\.?\\s*o\\.?\\s*box\\s+\\d+\\b", caseInsensitive: true), "[ADDRESS]", needs: .digit))
        // Names: after a title, after a label with a colon, before a credential.
        rules.append(Rule(DeidPattern(
            "\\b(?i:dr|mr|mrs|ms|miss|mx|prof|doctor|nurse|patient|pt|sister|brother|wife|husband|spouse|partner|son|"
                + "daughter|mother|father|grandmother|grandfather|aunt|uncle|niece|nephew|cousin|friend|neighbou?r|"
                + "guardian|caregiver|fianc[eé]e?)\\b\\.?\\s+(" + Self.nameSequence + ")"),
            "[NAME]", group: 1, accept: Self.isName, needs: .upper))
        rules.append(Rule(DeidPattern(
            "\\b(?i:name|patient\\s+name|pt\\s+name|signed(?:\\s+by)?|electronically\\s+signed\\s+by|attending(?:\\s+physician)?|"
                + "physician|provider|surgeon|resident|seen\\s+by|referred\\s+by|referring\\s+physician|dictated\\s+by|"
                + "transcribed\\s+by|cc|next\\s+of\\s+kin|emergency\\s+contact|mother|father|spouse|wife|husband|son|"
                + "daughter|guardian|contact)\\s*:\\s*(" + Self.nameSequence + ")"),
            "[NAME]", group: 1, accept: Self.isName, needs: .upper))
        rules.append(Rule(DeidPattern(
            "\\b(" + Self.nameWord + "(?:\\s+" + Self.nameWord + "){1,3})(?=,?\\s+(?:MD|M\\.D\\.|DO|D\\.O\\.|RN|NP|PA-C|"
                + "PhD|DDS|MBBS|FRCP|FACS|MSN|BSN|LPN|CNP)\\b)"),
            "[NAME]", group: 1, accept: Self.isName, needs: .upper))
        self.rules = rules
    }

    /// After a number, a unit that makes it a quantity rather than an age ("turned 90 degrees").
    static let notAQuantity =
        "(?!\\s*(?:°|%|degrees?\\b|deg\\b|mg\\b|ml\\b|mmhg\\b|bpm\\b|cm\\b|mm\\b|kg\\b|lbs?\\b|min(?:ute)?s?\\b|h(?:ou)?rs?\\b|days?\\b|weeks?\\b|months?\\b))"

    /// A number over 89 in words: ninety, ninety-four, ninety four, a hundred, one hundred and
    /// two, hundred-and-twelve.
    static let spelledOver89: String = {
        let units = "one|two|three|four|five|six|seven|eight|nine"
        let teens = "ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen"
        let tens = "twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety"
        return "(?:ninety(?:[\\s-]+(?:" + units + ")\\b)?|(?:(?:one|a)[\\s-]+)?hundred(?:[\\s-]+(?:and[\\s-]+)?(?:(?:"
            + tens + ")(?:[\\s-]+(?:" + units + "))?|" + teens + "|" + units + ")\\b)?)"
    }()

    /// An ordinal over 89th in words: ninetieth, ninety-fifth, hundredth, one hundred and first.
    static let spelledOrdinalOver89: String = {
        let ordinals = "first|second|third|fourth|fifth|sixth|seventh|eighth|ninth"
        return "(?:ninetieth|ninety[\\s-]+(?:" + ordinals + ")|(?:(?:one|a)[\\s-]+)?hundredth"
            + "|(?:(?:one|a)[\\s-]+)?hundred[\\s-]+(?:and[\\s-]+)?(?:" + ordinals + "|tenth))"
    }()

    /// A month-name date, except the verbs "may" and "march" written in lowercase.
    @Sendable static func isTextDate(_ text: String) -> Bool {
        let words = text.split { !$0.isLetter }
        return !words.contains { $0 == "may" || $0 == "march" }
    }

    /// Capitalised words that follow a title but are not a name ("Patient Denies" stays).
    private static let notNames: Set<String> = [
        "the", "a", "an", "is", "was", "has", "had", "and", "or", "in", "on", "at", "to", "with", "for", "of",
        "denies", "reports", "states", "presents", "presented", "complains", "id", "no", "number", "name",
    ]

    @Sendable static func isName(_ text: String) -> Bool {
        guard let first = text.split(separator: " ").first else { return false }
        return !notNames.contains(first.lowercased())
    }

    /// `text` with every identifier replaced by its tag; `counts` gains the number of each tag.
    func scrub(_ text: String, counts: inout [String: Int]) -> String {
        // What the original text holds: tags put in by earlier rules add nothing a later rule
        // should find.
        let holds = Needs(of: text)
        var text = text
        for rule in rules where holds.isSuperset(of: rule.needs) {
            text = apply(rule, to: text, counts: &counts)
        }
        return text
    }

    private func apply(_ rule: Rule, to text: String, counts: inout [String: Int]) -> String {
        let matches = rule.pattern.allMatches(text)
        guard !matches.isEmpty else { return text }
        var out = ""
        var cursor = text.startIndex
        for match in matches {
            guard let range = Range(match.range(at: rule.group), in: text), range.lowerBound >= cursor else { continue }
            let found = String(text[range])
            if let accept = rule.accept, !accept(found) { continue }
            if let group = rule.over89Group {
                guard let numberRange = Range(match.range(at: group), in: text), let age = Int(text[numberRange]),
                    age > 89
                else { continue }
            }
            out += text[cursor..<range.lowerBound]
            out += rule.tag
            cursor = range.upperBound
            counts[rule.tag, default: 0] += 1
        }
        out += text[cursor...]
        return out
    }
}

/// Replaces the values a row is known to hold (its record number, street, city) wherever they
/// recur in that row's text, whole values only and ignoring case and accents. Names are found
/// with `DeidNameIndex`, part by part and across the table.
enum DeidKnownValues {
    /// The string to look for: the whole value, when it has three characters or more.
    static func needles(for value: String) -> [String] {
        let trimmed = deidTrimmed(value)
        guard !deidIsMissing(trimmed), trimmed.count >= 3 else { return [] }
        return [trimmed]
    }

    static func replace(_ needle: String, with tag: String, in text: String, count: inout Int) -> String {
        var out = ""
        var cursor = text.startIndex
        var searchStart = text.startIndex
        while searchStart < text.endIndex,
            let range = text.range(
                of: needle, options: [.caseInsensitive, .diacriticInsensitive], range: searchStart..<text.endIndex)
        {
            let before = range.lowerBound > text.startIndex ? text[text.index(before: range.lowerBound)] : nil
            let after = range.upperBound < text.endIndex ? text[range.upperBound] : nil
            let isWord = { (character: Character?) in character.map { $0.isLetter || $0.isNumber } ?? false }
            if isWord(before) || isWord(after) {
                searchStart = text.index(after: range.lowerBound)
                continue
            }
            out += text[cursor..<range.lowerBound]
            out += tag
            cursor = range.upperBound
            searchStart = range.upperBound
            count += 1
        }
        out += text[cursor...]
        return out
    }
}
