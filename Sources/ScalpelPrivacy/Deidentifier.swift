// HIPAA Safe Harbor de-identification of CSV tables (45 CFR §164.514(b)(2)): each of the 18
// identifier kinds is found by column name or by cell values and removed, generalised or
// replaced by a keyed pseudonym; free text is scrubbed. The report says what was done to each
// column and never holds a cell value; nor does any error message.

import Crypto
import Foundation
import ScalpelData

/// Removes the Safe Harbor identifiers from a CSV table.
///
/// Each column is classified, first by the options (`keep`, `drop`, `freeText`,
/// `patientColumn`), then by its name (tokens such as "first name", "zip", "dob", "mrn",
/// "years old", matched regardless of case, underscores and spaces), then by its values (a
/// column most of whose cells are email addresses is an email column, whatever its name), and
/// handled by kind. Judged by values:
///
/// - person names: a column at least half of whose present cells look like names of people
///   ("María José García-López", "Smith, John", "van der Berg, Anna", "MCDONALD, ANGUS") when
///   its name announces a person (patient, contact, physician), and otherwise at least 80% with
///   as many different names as a register has (20, or half the names, whichever is fewer). A
///   name here is two to six capitalised or all-capital words, initials, particles (de la, van
///   der) and titles, without digits or the words of diagnoses, wards and drugs ("Heart
///   Failure", "North Wing", "Insulin Glargine" are not names).
/// - ages: only under a name that hints at ages without saying "age" ("years", "old"), when 90% of
///   the cells are whole numbers 0-125 and one is over 89. Numbers alone never make ages: a
///   glucose or heart-rate column looks the same.
/// - ZIP codes: every cell five digits or ZIP+4, no prefix 000-004, and a name that hints at a
///   place (loc, area, residence), a ZIP+4 cell or a leading zero. A five-digit count under
///   another name stays.
///
/// Each kind is handled so:
///
/// - names, street addresses, cities, counties, other geographic subdivisions smaller than a
///   state, telephone and fax numbers, email addresses, social security numbers, URLs, IP
///   addresses, biometric identifiers and photographs: the column is removed. States are kept.
/// - ZIP codes: the first three digits, or 000 for the prefixes of areas of 20,000 people or fewer.
/// - dates: the year only, or (`.shift`) shifted by a per-patient number of days and written as
///   yyyy-MM-dd. A birth date that points to an age over 89 becomes "90+".
/// - ages: over 89 becomes "90+".
/// - record, health plan, account, certificate/licence, vehicle and device numbers, other
///   per-person numbers and the patient column: a keyed pseudonym, "P-" and 16 hex digits of
///   HMAC-SHA256(key, kind tag, U+001F, value), the same for the same value and key in any file.
/// - free text (by option, by name such as "notes", or when most cells are long or several
///   words): identifiers inside the text become tags such as [EMAIL], [DATE], [NAME]; the values
///   the row holds in its identifier columns (its city, record number) are tagged too, ignoring
///   case and accents, and so is every name of the table's name columns (and of a patient
///   column that holds names), in any row, part by part, whatever its case and accents
///   ("patient maria garcia", "GARCIA-LOPEZ"). Parts of one or two letters (Li) count only
///   beside a longer part, and parts that are also common words (Will, May) only when
///   capitalised or beside another part, so "will call" stays. Dates and years of birth in text
///   become [DATE] under either date rule; ages over 89, in figures or words ("ninety-four year
///   old", "nonagenarian"), become [AGE 90+].
/// - every other column is scanned cell by cell with the same scrubber, so a stray email in a
///   comment-like column is caught; numbers are left alone.
///
/// Limits: telling names, ages and ZIP codes by their values is a judgement: a column of single
/// names ("Smith") or of names mixed with other text, ages under a name with no hint, or bare
/// five-digit ZIP codes under an uninformative name are not found that way; name such columns in
/// `drop`. In free text, names are found after titles ("Dr.", "Mr.", "Patient"), after labels
/// ("Name:"), before credentials (", MD") and where they repeat the table's name columns; city
/// names without a street address or ZIP code are found only where they repeat the row's own
/// city. Review the report.
///
/// Pseudonyms are re-identification codes in the sense of §164.514(c): the key re-creates them
/// from record numbers, so it must stay with the covered entity and never go with the data.
public struct Deidentifier: Sendable {
    /// What happens to dates.
    public enum DateRule: String, Codable, Sendable, Equatable {
        /// Keep only the year.
        case yearOnly = "year only"
        /// Shift every date of a patient by the same number of days, −365…+365 but never 0,
        /// derived from the key and the patient identifier, so intervals within a patient are kept.
        /// Cells with a month but no day keep only their year. Needs `Options.patientColumn`.
        case shift = "shifted per patient"
    }

    /// How a table is de-identified.
    public struct Options: Sendable, Equatable {
        /// What happens to dates (`.yearOnly` by default).
        public var dates: DateRule
        /// The column that identifies the patient: pseudonymised, and the basis of date shifts.
        public var patientColumn: String?
        /// Columns asserted not to be identifiers: never changed.
        public var keep: [String]
        /// Columns always removed.
        public var drop: [String]
        /// Further columns to scrub as free text.
        public var freeText: [String]
        /// Read 05/03/2024 as 5 March rather than 3 May (a first number over 12 is a day anyway).
        public var dayFirst: Bool
        /// The day ages are reckoned at, for deciding which birth dates point to an age over 89
        /// (today by default).
        public var referenceDate: Date

        /// Options with each property set from the parameter of the same name; by default dates
        /// keep only their year, no column is named (patient, keep, drop or free text), dates are
        /// read month first and ages are reckoned as of the moment the options are made.
        public init(
            dates: DateRule = .yearOnly, patientColumn: String? = nil, keep: [String] = [], drop: [String] = [],
            freeText: [String] = [], dayFirst: Bool = false, referenceDate: Date = Date()
        ) {
            self.dates = dates
            self.patientColumn = patientColumn
            self.keep = keep
            self.drop = drop
            self.freeText = freeText
            self.dayFirst = dayFirst
            self.referenceDate = referenceDate
        }
    }

    /// The kinds of column the de-identifier tells apart: the Safe Harbor identifiers, the
    /// state (kept), free text, and columns that are none of these.
    public enum IdentifierKind: String, Codable, Sendable, CaseIterable {
        case name = "name"
        case streetAddress = "street address"
        case city = "city"
        case county = "county"
        case geographicSubdivision = "geographic subdivision"
        case state = "state"
        case zipCode = "ZIP code"
        case date = "date"
        case birthDate = "birth date"
        case age = "age"
        case phone = "telephone number"
        case fax = "fax number"
        case email = "email address"
        case ssn = "social security number"
        case medicalRecord = "medical record number"
        case healthPlan = "health plan beneficiary number"
        case account = "account number"
        case license = "certificate or licence number"
        case vehicle = "vehicle identifier"
        case device = "device identifier or serial number"
        case url = "URL"
        case ipAddress = "IP address"
        case biometric = "biometric identifier"
        case photo = "photograph"
        case otherIdentifier = "other unique identifying number"
        case patientID = "patient identifier"
        case freeText = "free text"
        case notIdentifier = "not an identifier"

        /// The tag mixed into a pseudonym: record-number kinds share "record", so that the same
        /// number maps to the same pseudonym whichever column holds it. Nil for kinds that are not
        /// pseudonymised.
        var pseudonymTag: String? {
            switch self {
            case .medicalRecord, .healthPlan, .account, .otherIdentifier, .patientID: "record"
            case .license: "licence"
            case .vehicle: "vehicle"
            case .device: "device"
            default: nil
            }
        }

        /// The tag that replaces a row's own value of this kind inside its free text.
        var textTag: String? {
            switch self {
            case .name: "[NAME]"
            case .streetAddress: "[ADDRESS]"
            case .city, .county, .geographicSubdivision: "[LOCATION]"
            case .phone, .fax: "[PHONE]"
            case .email: "[EMAIL]"
            case .ssn: "[SSN]"
            case .url: "[URL]"
            case .ipAddress: "[IP]"
            case .medicalRecord: "[MRN]"
            case .healthPlan, .account, .license, .vehicle, .device, .otherIdentifier, .patientID: "[ID]"
            case .zipCode: "[ZIP]"
            default: nil
            }
        }

        /// What Safe Harbor handling the kind gets by default.
        var defaultAction: Action {
            switch self {
            case .name, .streetAddress, .city, .county, .geographicSubdivision, .phone, .fax, .email, .ssn, .url,
                .ipAddress, .biometric, .photo:
                .dropped
            case .medicalRecord, .healthPlan, .account, .license, .vehicle, .device, .otherIdentifier, .patientID:
                .pseudonymised
            case .zipCode: .truncatedZIP
            case .date, .birthDate: .yearOnly
            case .age: .topCoded
            case .freeText: .scrubbed
            case .state, .notIdentifier: .kept
            }
        }
    }

    /// What was done to a column.
    public enum Action: String, Codable, Sendable {
        /// Left unchanged: a state, a column listed in `keep`, or a column that is not an
        /// identifier and in whose cells the scrubber found nothing.
        case kept = "kept"
        /// Removed from the output.
        case dropped = "dropped"
        /// Each present value replaced by its keyed pseudonym ("P-" and 16 hex digits).
        case pseudonymised = "pseudonymised"
        /// ZIP codes cut to their first three digits (000 for the prefixes of areas of 20,000
        /// people or fewer).
        case truncatedZIP = "truncated to 3 digits"
        /// Dates reduced to their year; birth dates that point to an age over 89 become "90+".
        case yearOnly = "year only"
        /// Dates moved by the patient's date shift and written as yyyy-MM-dd; dates without a day
        /// keep their year only, and birth dates that may point to an age over 89 become "90+".
        case shifted = "shifted"
        /// Ages over 89 replaced by "90+".
        case topCoded = "top-coded to 90+"
        /// Text whose identifiers were replaced by tags such as [EMAIL] and [NAME]: a free-text
        /// column, or another column in which the scrubber changed cells.
        case scrubbed = "scrubbed"
    }

    /// The rules this de-identifier applies; checked against a table's header only when the table
    /// is de-identified.
    public let options: Options
    let key: DeidentificationKey

    /// A de-identifier whose pseudonyms and date shifts are keyed by `key`. `options` is not
    /// checked here: `deidentify` throws for a column it names that the table lacks, a column given
    /// two roles, or a date shift without a patient column.
    public init(key: DeidentificationKey, options: Options = Options()) {
        self.key = key
        self.options = options
    }

    // MARK: Keyed values

    /// The pseudonym of `value` as a `kind` identifier ("P-" and 16 hex digits), or nil for a kind
    /// that is not pseudonymised. Surrounding whitespace is ignored; case is not.
    public func pseudonym(for value: String, kind: IdentifierKind) -> String? {
        kind.pseudonymTag.map { pseudonym(deidTrimmed(value), tag: $0) }
    }

    func pseudonym(_ value: String, tag: String) -> String {
        let code = HMAC<SHA256>.authenticationCode(for: Array((tag + "\u{1F}" + value).utf8), using: key.symmetricKey)
        return "P-" + deidHex(code.prefix(8))
    }

    /// The number of days every date of the patient `patientID` is moved by under `.shift`:
    /// −365…+365, never 0.
    public func dateShift(forPatient patientID: String) -> Int {
        let value = deidTrimmed(patientID)
        let code = HMAC<SHA256>.authenticationCode(for: Array(("date-shift\u{1F}" + value).utf8), using: key.symmetricKey)
        let number = code.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let step = Int(number % 730)  // the bias of 2^64 mod 730 is below 10^-16
        return step < 365 ? step - 365 : step - 364
    }

    // MARK: Planning

    /// How one column is handled.
    struct ColumnPlan {
        var index: Int
        var name: String
        var kind: IdentifierKind
        var detectedBy: String
        var action: Action
        var note: String?

        /// Whether the kind was inferred from the cells rather than the name or the options: then
        /// a cell that is not of the kind is scrubbed as text instead of being refused.
        var byValues: Bool { detectedBy.hasPrefix("values") }
    }

    /// The share of a column's cells that must match a pattern for the column to be that kind.
    static let valueShare = 0.5

    /// The most cells of a column examined to judge its kind by values.
    static let detectionSample = 4000

    private enum Role: String {
        case keep = "keep", drop = "drop", freeText = "freeText", patient = "patientColumn"
    }

    /// Checks that every column the options name exists and has one role only.
    private func roles(for table: CSVTable) throws(DeidentificationError) -> [String: Role] {
        var roles: [String: Role] = [:]
        var listed: [(String, Role)] = options.keep.map { ($0, .keep) } + options.drop.map { ($0, .drop) }
            + options.freeText.map { ($0, .freeText) }
        if let patient = options.patientColumn { listed.append((patient, .patient)) }
        for (name, role) in listed {
            guard table.columnIndex(named: name) != nil else {
                throw .unknownColumn(name: name, role: role.rawValue, available: table.columns)
            }
            if let existing = roles[name], existing != role {
                throw .conflictingRoles(column: name, roles: [existing.rawValue, role.rawValue])
            }
            roles[name] = role
        }
        if options.dates == .shift, options.patientColumn == nil { throw .dateShiftNeedsPatientColumn }
        return roles
    }

    /// The share of a column's cells that must look like person names for it to be a name
    /// column when its name does not announce a person.
    static let nameShareWithoutHint = 0.8

    /// The kind of a column judged by its name, then by its values.
    private func detect(
        name: String, cells: [String], dates: DeidDateParser
    ) -> (kind: IdentifierKind, detectedBy: String) {
        if let kind = DeidColumnNames.kind(of: name) { return (kind, "column name") }
        var present = cells.filter { !deidIsMissing($0) }
        guard !present.isEmpty else { return (.notIdentifier, "no values") }
        // A share is well estimated from a few thousand cells spread over the whole column.
        if present.count > Self.detectionSample {
            let step = Double(present.count) / Double(Self.detectionSample)
            present = (0..<Self.detectionSample).map { present[Int(Double($0) * step)] }
        }
        var counts: [IdentifierKind: Int] = [:]
        var textLike = 0
        var names = 0
        var distinctNames = Set<String>()
        let personHint = DeidPersonNames.columnNameSuggestsPerson(name)
        for cell in present {
            if let kind = DeidValues.kind(of: cell, dates: dates) { counts[kind, default: 0] += 1 }
            let trimmed = deidTrimmed(cell)
            if trimmed.count > 40 || (trimmed.contains(where: \.isWhitespace) && trimmed.contains(where: \.isLetter)) {
                textLike += 1
            }
            if DeidPersonNames.looksLikeName(trimmed, lowercase: personHint) {
                names += 1
                if distinctNames.count < 20 { distinctNames.insert(trimmed) }
            }
        }
        func percent(_ count: Int) -> Int { count * 100 / present.count }
        let order = IdentifierKind.allCases
        if let best = counts.max(by: { ($0.value, order.firstIndex(of: $1.key)!) < ($1.value, order.firstIndex(of: $0.key)!) }),
            Double(best.value) >= Self.valueShare * Double(present.count)
        {
            return (best.key, "values: \(percent(best.value))% match")
        }
        // Without a name that announces a person, the names must also be varied, as a register's
        // are: a category column ("White British", "Roman Catholic") repeats a few values.
        let nameShare = personHint ? Self.valueShare : Self.nameShareWithoutHint
        let varied = personHint || distinctNames.count >= min(20, (names + 1) / 2)
        if names > 0, varied, Double(names) >= nameShare * Double(present.count) {
            return (.name, "values: \(percent(names))% person names")
        }
        if let evidence = DeidValues.ageColumn(name: name, cells: present) { return (.age, evidence) }
        if let evidence = DeidValues.zipColumn(name: name, cells: present) { return (.zipCode, evidence) }
        if Double(textLike) > Self.valueShare * Double(present.count) {
            return (.freeText, "values: \(percent(textLike))% free text")
        }
        return (.notIdentifier, "no identifier found by column name or values")
    }

    private func plan(
        _ table: CSVTable, roles: [String: Role], dates: DeidDateParser
    ) -> [ColumnPlan] {
        table.columns.enumerated().map { index, name in
            let cells = table.rows.map { $0[index] }
            let detected = detect(name: name, cells: cells, dates: dates)
            var plan = ColumnPlan(
                index: index, name: name, kind: detected.kind, detectedBy: detected.detectedBy,
                action: detected.kind.defaultAction)
            switch roles[name] {
            case .keep?:
                plan.action = .kept
                plan.detectedBy = "listed in keep"
                if detected.kind != .notIdentifier, detected.kind != .state {
                    plan.note = "kept as listed, although detection (\(detected.detectedBy)) suggests: \(detected.kind.rawValue)"
                }
                plan.kind = .notIdentifier
            case .drop?:
                plan.action = .dropped
                plan.detectedBy = "listed in drop"
            case .freeText?:
                plan.kind = .freeText
                plan.action = .scrubbed
                plan.detectedBy = "listed in freeText"
            case .patient?:
                plan.kind = .patientID
                plan.action = .pseudonymised
                plan.detectedBy = "patient column"
            case nil:
                break
            }
            if plan.action == .yearOnly, options.dates == .shift { plan.action = .shifted }
            return plan
        }
    }

    // MARK: De-identification

    /// The de-identified table as CSV text (RFC 4180, "\n" line ends, the header without the
    /// removed columns, the rows in order) and a report of what was done.
    /// - Throws: `DeidentificationError` for options naming absent columns, a date, ZIP code or age
    ///   cell that cannot be read (named by line and column, never by content), or a row without
    ///   a patient identifier when dates are shifted.
    public func deidentify(_ table: CSVTable) throws(DeidentificationError) -> (csv: String, report: DeidentificationReport) {
        let roles = try roles(for: table)
        let reference = DeidCivilDate(options.referenceDate)
        let dates = DeidDateParser(dayFirst: options.dayFirst, referenceYear: reference.year)
        let scrubber = DeidTextScrubber(dates: dates)
        let plans = plan(table, roles: roles, dates: dates)
        let patientIndex = options.patientColumn.flatMap { table.columnIndex(named: $0) }
        let output = plans.filter { $0.action != .dropped }
        guard !output.isEmpty else { throw .noColumnsLeft(source: table.source) }

        // The columns whose values, where they recur in the same row's free text, are tagged;
        // names are looked for in every row's free text, part by part.
        let knownColumns: [(index: Int, kind: IdentifierKind, tag: String)] = plans.compactMap { plan in
            guard plan.action != .kept, plan.kind != .freeText, plan.kind != .notIdentifier, plan.kind != .name,
                let tag = plan.kind.textTag
            else { return nil }
            return (plan.index, plan.kind, tag)
        }
        var names = DeidNameIndex()
        if plans.contains(where: { $0.kind == .freeText && $0.action == .scrubbed }) {
            for plan in plans where plan.action != .kept && (plan.kind == .name || plan.kind == .patientID) {
                let cells = table.rows.map { $0[plan.index] }
                // A patient column may identify patients by name.
                guard plan.kind == .name || DeidPersonNames.mostlyNames(cells) else { continue }
                for cell in cells { names.add(cell) }
            }
        }

        var changed = [Int](repeating: 0, count: plans.count)
        var tags = [[String: Int]](repeating: [:], count: plans.count)
        var aggregated = [Int](repeating: 0, count: plans.count)
        var yearOnlyInShift = [Int](repeating: 0, count: plans.count)
        var scrubbedAsText = [Int](repeating: 0, count: plans.count)
        var scrubMemo = [[String: (text: String, counts: [String: Int])]](repeating: [:], count: plans.count)
        var pseudonymMemo: [String: String] = [:]
        var shiftMemo: [String: Int] = [:]

        var csv = CSVWriter.record(output.map(\.name))
        for (rowIndex, row) in table.rows.enumerated() {
            let line = table.lineNumbers[rowIndex]
            func location(_ column: Int) -> ClinicDataError.Location {
                .init(source: table.source, line: line, field: column + 1, column: table.columns[column])
            }
            var shift: Int?
            func patientShift() throws(DeidentificationError) -> Int {
                if let shift { return shift }
                guard let patientIndex, !deidIsMissing(row[patientIndex]) else {
                    throw .missingPatientIdentifier(location(patientIndex ?? 0))
                }
                let patient = row[patientIndex]
                let days = shiftMemo[patient] ?? dateShift(forPatient: patient)
                shiftMemo[patient] = days
                shift = days
                return days
            }
            var needles: [(needle: String, tag: String)]?
            func rowNeedles() -> [(needle: String, tag: String)] {
                if let needles { return needles }
                var found: [(needle: String, tag: String)] = []
                for column in knownColumns {
                    var value = row[column.index]
                    if column.kind == .zipCode {
                        // Only a full ZIP code is worth looking for; its prefix stays in the table.
                        value = deidTrimmed(value)
                        guard value.count >= 5 else { continue }
                    }
                    for needle in DeidKnownValues.needles(for: value) {
                        found.append((needle, column.tag))
                    }
                }
                found.sort { $0.needle.count > $1.needle.count }
                needles = found
                return found
            }

            /// A cell of a column whose kind was inferred from its values that is not of that kind:
            /// scrubbed like any other text.
            func scrubOdd(_ plan: ColumnPlan) -> String {
                var counts: [String: Int] = [:]
                let text = scrubber.scrub(row[plan.index], counts: &counts)
                for (tag, count) in counts { tags[plan.index][tag, default: 0] += count }
                scrubbedAsText[plan.index] += 1
                return text
            }

            var fields: [String] = []
            fields.reserveCapacity(output.count)
            for plan in plans {
                let cell = row[plan.index]
                let missing = deidIsMissing(cell)
                let trimmed = deidTrimmed(cell)
                var result = cell
                switch plan.action {
                case .dropped:
                    if !trimmed.isEmpty { changed[plan.index] += 1 }
                    continue
                case .kept where plan.kind != .notIdentifier || roles[plan.name] == .keep:
                    break
                case .pseudonymised:
                    if !missing {
                        let tag = plan.kind.pseudonymTag ?? "record"
                        let memoKey = tag + "\u{1F}" + trimmed
                        if let known = pseudonymMemo[memoKey] {
                            result = known
                        } else {
                            result = pseudonym(trimmed, tag: tag)
                            pseudonymMemo[memoKey] = result
                        }
                    }
                case .truncatedZIP:
                    if !missing {
                        if let prefix = DeidGeneralise.zipPrefix(trimmed) {
                            result = prefix
                        } else if plan.byValues {
                            result = scrubOdd(plan)
                        } else {
                            throw .unrecognisedValue(location(plan.index), expected: "US ZIP code")
                        }
                    }
                case .yearOnly, .shifted:
                    if !missing {
                        if let date = dates.parse(trimmed, compact: true, bareYear: true) {
                            result = try dateCell(
                                date, birth: plan.kind == .birthDate, reference: reference, shift: patientShift,
                                aggregated: &aggregated[plan.index], yearOnly: &yearOnlyInShift[plan.index])
                        } else if plan.byValues {
                            result = scrubOdd(plan)
                        } else {
                            throw .unrecognisedValue(location(plan.index), expected: "date")
                        }
                    }
                case .topCoded:
                    if !missing {
                        let unit = DeidColumnNames.ageUnit(of: plan.name)
                        if let age = DeidGeneralise.topCodeAge(trimmed, columnUnit: unit) {
                            if case .replaced(let text) = age { result = text }
                        } else if plan.byValues {
                            result = scrubOdd(plan)
                        } else {
                            throw .unrecognisedValue(location(plan.index), expected: "age")
                        }
                    }
                case .scrubbed, .kept:
                    // Free text, or a column that is not an identifier: scan its text.
                    let isFreeText = plan.kind == .freeText
                    guard !missing, isFreeText || Double(trimmed) == nil else { break }
                    var counts: [String: Int]
                    if let memo = scrubMemo[plan.index][cell] {
                        (result, counts) = memo
                    } else {
                        counts = [:]
                        result = scrubber.scrub(cell, counts: &counts)
                        if isFreeText, !names.isEmpty {
                            var count = 0
                            result = names.tag(result, count: &count)
                            if count > 0 { counts["[NAME]", default: 0] += count }
                        }
                        // Repeated cells (categories, templated phrases) are scrubbed once.
                        if scrubMemo[plan.index].count < 20_000 { scrubMemo[plan.index][cell] = (result, counts) }
                    }
                    if isFreeText {
                        let textIsASCII = result.utf8.allSatisfy { $0 < 0x80 }
                        let lowered = Array(result.lowercased().utf8)
                        for (needle, tag) in rowNeedles() {
                            // A quick test first, where both are ASCII; case folding and accents
                            // beyond it (ß, SS, São, Sao) are left to the full search.
                            if textIsASCII, needle.utf8.allSatisfy({ $0 < 0x80 }),
                                !deidContains(lowered, Array(needle.lowercased().utf8))
                            {
                                continue
                            }
                            var count = 0
                            result = DeidKnownValues.replace(needle, with: tag, in: result, count: &count)
                            if count > 0 { counts[tag, default: 0] += count }
                        }
                    }
                    for (tag, count) in counts { tags[plan.index][tag, default: 0] += count }
                }
                if result != cell { changed[plan.index] += 1 }
                fields.append(result)
            }
            csv += CSVWriter.record(fields)
        }

        let columns = plans.map { plan -> DeidentificationReport.Column in
            var action = plan.action
            var note = plan.note
            var columnTags: [String: Int]?
            switch plan.kind {
            case .freeText where plan.action == .scrubbed:
                columnTags = tags[plan.index]
            case .notIdentifier where plan.action == .kept && roles[plan.name] != .keep:
                if changed[plan.index] > 0 {
                    action = .scrubbed
                    columnTags = tags[plan.index]
                }
            default:
                if scrubbedAsText[plan.index] > 0 { columnTags = tags[plan.index] }
            }
            var notes: [String] = note.map { [$0] } ?? []
            if aggregated[plan.index] > 0 {
                notes.append("\(aggregated[plan.index]) birth date(s) pointing to an age over 89 written as 90+")
            }
            if yearOnlyInShift[plan.index] > 0 {
                notes.append("\(yearOnlyInShift[plan.index]) date(s) without a day kept as the year only")
            }
            if scrubbedAsText[plan.index] > 0 {
                notes.append(
                    "\(scrubbedAsText[plan.index]) cell(s) not of the kind the other values show were scrubbed as text")
            }
            note = notes.isEmpty ? nil : notes.joined(separator: "; ")
            return DeidentificationReport.Column(
                name: plan.name, kind: plan.kind, detectedBy: plan.detectedBy, action: action,
                cellsChanged: changed[plan.index], tags: columnTags, note: note)
        }
        let report = DeidentificationReport(
            rows: table.rowCount, dateRule: options.dates, agesAsOf: reference.iso, keyFingerprint: key.fingerprint,
            columns: columns)
        return (csv, report)
    }

    /// One date cell under the date rule.
    private func dateCell(
        _ date: DeidParsedDate, birth: Bool, reference: DeidCivilDate,
        shift: () throws(DeidentificationError) -> Int, aggregated: inout Int, yearOnly: inout Int
    ) throws(DeidentificationError) -> String {
        // A year that some person born in it would reach 90 by the reference date points to an
        // age over 89.
        let yearPointsOver89 = reference.year - date.year >= 90
        switch options.dates {
        case .yearOnly:
            if birth, yearPointsOver89 {
                aggregated += 1
                return "90+"
            }
            return deidYear(date.year)
        case .shift:
            guard let civil = date.civil else {
                if birth, yearPointsOver89 {
                    aggregated += 1
                    return "90+"
                }
                yearOnly += 1
                return deidYear(date.year)
            }
            let shifted = civil.adding(days: try shift())
            // The shift moves a date by up to a year, so a true age of 89 could read as 90 or a
            // true 90 as 89: aggregate both ways.
            if birth, civil.age(on: reference) >= 89 || shifted.age(on: reference) >= 90 {
                aggregated += 1
                return "90+"
            }
            return shifted.iso
        }
    }
}

// MARK: - Report

/// What was done to each column of a de-identified table. It holds column names, kinds, actions
/// and counts: never a cell value, and never the key (only its fingerprint).
public struct DeidentificationReport: Codable, Sendable, Equatable, CustomStringConvertible {
    /// What was done to one input column: its name, the kind found and how, the action and the
    /// number of cells changed (never a cell value).
    public struct Column: Codable, Sendable, Equatable {
        /// The header name.
        public var name: String
        /// The identifier kind found, or "not an identifier".
        public var kind: Deidentifier.IdentifierKind
        /// How the kind was found: "column name", "values: 97% match", "listed in drop", ….
        public var detectedBy: String
        /// What was done to the column.
        public var action: Deidentifier.Action
        /// The number of cells changed (for a removed column, the non-empty cells removed).
        public var cellsChanged: Int
        /// For scrubbed text, how many times each tag ("[EMAIL]", "[DATE]", …) was put in.
        public var tags: [String: Int]?
        /// Anything else worth knowing (aggregated birth dates, a kept column that looks like an
        /// identifier).
        public var note: String?
    }

    /// The number of data rows.
    public var rows: Int
    /// The date rule applied.
    public var dateRule: Deidentifier.DateRule
    /// The day ages were reckoned at (yyyy-MM-dd).
    public var agesAsOf: String
    /// The first 8 hex digits of the SHA-256 of the key: which key made the pseudonyms.
    public var keyFingerprint: String
    /// Every input column, in header order.
    public var columns: [Column]

    /// The report as pretty-printed JSON with sorted keys.
    public func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        // Encoding plain strings, numbers and dictionaries of them cannot fail.
        let data = (try? encoder.encode(self)) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    /// One line per column: name, kind, how it was found, action and cells changed.
    public var description: String {
        var lines = [
            "De-identification (HIPAA Safe Harbor): \(rows) rows, dates: \(dateRule.rawValue), ages as of \(agesAsOf), "
                + "key \(keyFingerprint)"
        ]
        for column in columns {
            var line = "  \(column.name): \(column.kind.rawValue) (\(column.detectedBy)) → \(column.action.rawValue), "
                + "\(column.cellsChanged) cells changed"
            if let tags = column.tags, !tags.isEmpty {
                line += " [" + tags.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", ") + "]"
            }
            if let note = column.note { line += "; \(note)" }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }
}

// MARK: - Errors

/// Why a table could not be de-identified or a key could not be read or written. No message
/// ever holds a cell value or key material: bad cells are named by line and column.
public enum DeidentificationError: Error, CustomStringConvertible, Equatable, Sendable {
    /// A key (file or text) that is not 64 hexadecimal characters; `source` is the file path.
    case invalidKey(source: String, reason: String)
    /// A key file that cannot be read.
    case keyUnreadable(path: String, reason: String)
    /// A key file that cannot be written (or exists and may not be replaced).
    case keyUnwritable(path: String, reason: String)
    /// A column named in the options that the header lacks.
    case unknownColumn(name: String, role: String, available: [String])
    /// A column named in more than one of keep, drop, freeText and patientColumn.
    case conflictingRoles(column: String, roles: [String])
    /// `.shift` without a patient column to shift by.
    case dateShiftNeedsPatientColumn
    /// A row whose patient cell is empty although it has dates to shift.
    case missingPatientIdentifier(ClinicDataError.Location)
    /// A cell of a date, ZIP code or age column that is not one.
    case unrecognisedValue(ClinicDataError.Location, expected: String)
    /// Every column would be removed.
    case noColumnsLeft(source: String)

    /// A message naming the key file, the column or the cell's line and column, and what to do; it
    /// never quotes a cell value or key material (column names from the header are quoted).
    public var description: String {
        switch self {
        case let .invalidKey(source, reason):
            return "\(source): not a de-identification key: \(reason)"
        case let .keyUnreadable(path, reason):
            return "\(path): cannot read the key file: \(reason)"
        case let .keyUnwritable(path, reason):
            return "\(path): cannot write the key file: \(reason)"
        case let .unknownColumn(name, role, available):
            let list = available.map { "'\($0)'" }.joined(separator: ", ")
            return "no column '\(name)' (named in \(role)); the columns are \(list)"
        case let .conflictingRoles(column, roles):
            return "column '\(column)' is named in both \(roles.joined(separator: " and ")); give it one role"
        case .dateShiftNeedsPatientColumn:
            return "shifting dates needs a patient column: every date of a patient is shifted by the same days"
        case let .missingPatientIdentifier(location):
            return "\(location): no patient identifier in a row whose dates are to be shifted; fill it in, or keep "
                + "only the year of dates"
        case let .unrecognisedValue(location, expected):
            return "\(location): the cell is not a recognisable \(expected) (its content is not shown, to protect "
                + "patient data); correct it, or name the column in freeText to scrub it as text or in drop to "
                + "remove it"
        case let .noColumnsLeft(source):
            return "\(source): every column would be removed; nothing is left to write"
        }
    }
}
