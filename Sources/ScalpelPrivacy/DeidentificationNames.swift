// Person names: telling a column of names by its values, and finding the names a table holds
// wherever they recur in its free text, whatever their case and accents. Pure and
// deterministic, like DeidentificationPatterns.swift.

import Foundation

// MARK: - Folding

/// Letters that Unicode does not decompose into a base letter and an accent, written as the
/// base letters a person typing without them would use.
private let deidUndecomposed: [Character: String] = [
    "ø": "o", "ł": "l", "đ": "d", "ð": "d", "ħ": "h", "ı": "i", "ŀ": "l", "æ": "ae", "œ": "oe", "þ": "th",
]

/// `text` as names are compared: lower case, accents removed (María → maria, Wiśniewska →
/// wisniewska), the letters that have no decomposition spelled plainly (Ødegaard → odegaard,
/// Łukasz → lukasz, Straße → strasse) and curly apostrophes made straight (O’Neill → o'neill).
func deidFolded(_ text: String) -> String {
    if text.utf8.allSatisfy({ $0 < 0x80 }) { return text.lowercased() }
    let folded = text.folding(options: [.caseInsensitive, .diacriticInsensitive], locale: nil)
    var out = ""
    out.reserveCapacity(folded.utf8.count)
    for character in folded {
        if let plain = deidUndecomposed[character] {
            out += plain
        } else if character == "’" || character == "ʼ" || character == "‘" {
            out.append("'")
        } else {
            out.append(character)
        }
    }
    return out
}

// MARK: - Words

/// A word of a text: a run of letters and digits, with apostrophes between letters (O'Brien,
/// Emily's); hyphens, spaces and other punctuation separate words.
struct DeidWord {
    var range: Range<String.Index>
    var text: Substring
}

/// The words of `text`. A tag the scrubber put in ("[NAME]", "[AGE 90+]") comes as a word with
/// empty text: it is no name, and no name runs across it.
func deidWords(_ text: String) -> [DeidWord] {
    var words: [DeidWord] = []
    var index = text.startIndex
    var start: String.Index?
    func isApostrophe(_ character: Character) -> Bool { character == "'" || character == "’" || character == "ʼ" }
    while index < text.endIndex {
        let character = text[index]
        if character.isLetter || character.isNumber {
            if start == nil { start = index }
            index = text.index(after: index)
            continue
        }
        let next = text.index(after: index)
        if isApostrophe(character), start != nil, next < text.endIndex, text[next].isLetter,
            text[text.index(before: index)].isLetter
        {
            index = next
            continue
        }
        if let wordStart = start {
            words.append(DeidWord(range: wordStart..<index, text: text[wordStart..<index]))
            start = nil
        }
        if character == "[", let close = text[index...].prefix(16).firstIndex(of: "]"),
            text[next..<close].allSatisfy({ $0.isUppercase || $0.isNumber || $0 == " " || $0 == "+" })
        {
            // A tag: not a word, and nothing joins across it.
            words.append(DeidWord(range: index..<text.index(after: close), text: ""))
            index = text.index(after: close)
            continue
        }
        index = next
    }
    if let wordStart = start { words.append(DeidWord(range: wordStart..<text.endIndex, text: text[wordStart...])) }
    return words
}

// MARK: - Names

enum DeidPersonNames {
    /// Titles and suffixes written with a name ("Dr. Aisha Rahman", "Ivan Petrov Jr.").
    static let titlesAndSuffixes: Set<String> = [
        "dr", "mr", "mrs", "ms", "miss", "mx", "prof", "sir", "dame", "rev", "fr", "jr", "sr", "ii", "iii", "iv",
        "md", "phd", "rn", "np", "dds", "do", "esq",
    ]

    /// Lower-case particles of surnames (van der Berg, de la Cruz, bin Salem).
    static let particles: Set<String> = [
        "van", "von", "der", "den", "de", "da", "di", "du", "del", "della", "dos", "das", "do", "la", "le", "bin",
        "ibn", "bint", "al", "el", "y", "ter", "af", "zu", "st",
    ]

    /// Words written in a column of names that are not a name ("Unknown Patient", "Baby Boy",
    /// "Test Test"): a cell holding one is not counted as a name, and none is looked for in text.
    static let placeholderWords: Set<String> = [
        "unknown", "patient", "pt", "baby", "boy", "girl", "infant", "newborn", "twin", "male", "female", "test",
        "testing", "anonymous", "anon", "deceased", "expired", "redacted", "none", "null", "missing", "pending",
        "other", "self", "mother", "father", "parent", "guardian", "spouse", "staff", "nurse", "doctor", "resident",
        "unassigned", "tbd", "na", "and", "or", "the", "of", "for", "with", "without", "not", "no", "yes", "in", "on",
        "at", "to", "by", "from", "per", "via",
    ]

    /// The vocabulary of diagnoses, wards, drugs, places and categories that, capitalised, would
    /// look like a name ("Heart Failure", "North Wing", "Insulin Glargine", "White British",
    /// "Follow Up"): a cell holding one of these words is not counted as a name. Where such a
    /// word is part of a real name (Doris Day), it is looked for in text as a common word is
    /// (`ambiguousWords`).
    static let vocabularyWords: Set<String> = [
        // Diagnoses, findings and body parts.
        "acute", "chronic", "disease", "disorder", "syndrome", "failure", "heart", "cardiac", "kidney", "renal",
        "liver", "hepatic", "lung", "pulmonary", "cancer", "carcinoma", "tumour", "tumor", "fracture", "infection",
        "injury", "pain", "pneumonia", "sepsis", "stroke", "attack", "diabetes", "asthma", "anaemia", "anemia",
        "dementia", "depression", "depressive", "anxiety", "obesity", "type", "stage", "grade", "primary",
        "secondary", "benign", "malignant", "congestive", "coronary", "artery", "atrial", "ventricular", "blood",
        "pressure", "breast", "prostate", "colon", "skin", "bone", "brain", "hip", "knee", "spine", "neck", "chest",
        "abdominal", "urinary", "tract", "upper", "lower", "left", "right", "bilateral", "severe", "mild",
        "moderate", "normal", "abnormal", "positive", "negative", "high", "risk", "history", "status", "post",
        "pre", "viral", "bacterial", "community", "acquired", "essential", "obstructive", "sleep", "apnea",
        "apnoea", "cyst", "ulcer", "hernia", "lesion", "mass",
        // Care settings and services.
        "hospital", "clinic", "centre", "center", "medical", "health", "healthcare", "care", "unit", "wing",
        "floor", "room", "bed", "bay", "department", "dept", "service", "services", "surgery", "surgical",
        "medicine", "emergency", "intensive", "icu", "ccu", "nicu", "picu", "ed", "er", "theatre", "theater",
        "labour", "labor", "delivery", "maternity", "pediatrics", "paediatrics", "orthopaedics", "orthopedics",
        "psychiatry", "general", "internal", "family", "day", "outpatient", "inpatient", "rehab",
        "rehabilitation", "hospice", "home", "nursing", "university", "college", "institute", "foundation",
        "trust", "county", "city", "state", "street", "road", "avenue", "north", "south", "east", "west",
        "central", "new", "old", "main", "tower", "building", "block", "level", "lab", "laboratory", "pharmacy",
        "team", "group", "practice",
        // Demographic and administrative categories ("White British", "Roman Catholic", "Blue Cross").
        "white", "black", "asian", "african", "caribbean", "british", "american", "hispanic", "latino", "latina",
        "chinese", "indian", "pakistani", "bangladeshi", "arab", "irish", "european", "mixed", "race", "ethnic",
        "native", "pacific", "islander", "indigenous", "aboriginal", "caucasian", "english", "scottish", "welsh",
        "declined", "stated", "catholic", "roman", "protestant", "muslim", "jewish", "hindu", "sikh", "buddhist",
        "orthodox", "anglican", "baptist", "methodist", "witness", "atheist", "agnostic", "religion", "medicare",
        "medicaid", "insurance", "blue", "cross", "shield", "advantage", "plan", "commercial", "private",
        "uninsured", "united", "kingdom", "republic", "married", "single", "divorced", "widowed", "separated",
        // Visit types and statuses ("Follow Up", "Routine Visit", "Doing Well").
        "follow", "up", "visit", "routine", "annual", "checkup", "review", "consult", "consultation",
        "appointment", "admission", "discharge", "transfer", "referral", "screening", "scheduled", "unscheduled",
        "cancelled", "canceled", "completed", "active", "inactive", "resolved", "elective", "urgent", "planned",
        "unplanned", "initial", "final", "telephone", "video", "virtual", "office", "well", "doing", "stable",
        "improved", "improving", "worse", "better", "same", "change", "unchanged",
        // Drugs and treatments.
        "insulin", "tablet", "tablets", "capsule", "capsules", "injection", "infusion", "solution", "suspension",
        "cream", "ointment", "oral", "dose", "mg", "ml", "sodium", "potassium", "calcium", "chloride", "sulfate",
        "sulphate", "hydrochloride", "acid", "extended", "release", "vaccine", "therapy", "treatment", "placebo",
    ]

    /// Word endings of medical terms (fibrillation, nephritis, fibrosis, appendectomy,
    /// neuropathy, hypoglycaemia, oncology): a word with one is not counted as a name.
    static let medicalEndings = [
        "tion", "itis", "osis", "ectomy", "otomy", "ostomy", "pathy", "plasty", "algia", "emia", "ology",
    ]

    /// Names that are also ordinary words (Will, May, Grace, Brown, Ward): in free text such a
    /// word is taken for a name only when capitalised or next to another part of a name, so that
    /// "will call", "may go home" and "brown sputum" stay.
    static let ambiguousWords: Set<String> = [
        "will", "may", "mark", "bill", "frank", "grace", "hope", "joy", "faith", "rose", "june", "april", "august",
        "summer", "dawn", "eve", "iris", "lily", "olive", "ruby", "amber", "pearl", "holly", "ivy", "heather",
        "violet", "sandy", "rusty", "glen", "lane", "ford", "banks", "burns", "fields", "woods", "waters", "sweet",
        "young", "long", "short", "small", "little", "brown", "green", "gray", "grey", "best",
        "good", "strong", "sharp", "hill", "wood", "bell", "cook", "page", "price", "love", "hunter", "bishop",
        "king", "fox", "bush", "moss", "hall", "field", "stone", "house", "hand", "foot", "hart", "wise", "chase",
        "drew", "dean", "gene", "guy", "art", "rob", "sue", "pat", "ray", "sky", "early", "late", "blank", "ball",
        "moon", "star", "carter", "mason", "baker", "cole", "rich", "miles", "jack", "nick", "don", "victor",
        "angel", "christian", "constance", "patience", "prudence", "mercy", "charity", "earnest", "ernest", "noble",
        "rush", "swift", "case", "march", "winter", "spring", "storm", "rain", "snow", "frost", "lamb", "crane",
        "finch", "fisher", "hunt", "marsh", "pierce", "read", "reed", "rice", "roe", "salt", "shepherd", "ward",
        "weaver", "bass", "cash", "gill", "pace", "park", "poll", "stern", "wolf", "dale", "booth", "head",
        "jewel", "crystal", "forest", "sunny", "major", "minor", "low", "lowe", "fine", "still", "vice", "tree",
    ]

    /// Column names that announce a person (patient, contact, attending physician): with one, a
    /// column half of whose values look like names is a name column, and lower-case names count.
    static let personColumnWords: Set<String> = [
        "patient", "patients", "pt", "person", "people", "client", "contact", "contacts", "member", "resident",
        "subject", "participant", "who", "whom", "individual", "owner", "parent", "mother", "father", "child",
        "spouse", "partner", "relative", "caregiver", "carer", "guardian", "doctor", "dr", "physician", "clinician",
        "provider", "practitioner", "gp", "pcp", "nurse", "surgeon", "attending", "consultant", "referrer",
        "referring", "referred", "by", "author", "signer", "signed", "signatory", "witness", "staff", "employee",
        "user", "recipient", "sender", "donor", "informant", "proxy", "representative", "emergency", "primary",
        "treating", "admitting", "ordering", "full", "his", "her", "their", "of",
    ]

    /// Whether a column's name is made only of words that announce a person ("patient",
    /// "Attending Physician", "referred_by"), so that its values are read as names more readily.
    static func columnNameSuggestsPerson(_ name: String) -> Bool {
        let words = DeidColumnNames.tokens(name)
        let qualifiers: Set<String> = ["of", "by", "full", "his", "her", "their", "primary", "emergency"]
        let significant = words.filter { !qualifiers.contains($0) }
        return !significant.isEmpty && words.allSatisfy { personColumnWords.contains($0) }
    }

    /// Whether `cell` looks like the name of a person: two to six words, no digits, at most one
    /// comma ("Smith, John"), every word a capitalised or all-capital name (O'Brien,
    /// García-López, MCDONALD), an initial (J.), a surname particle (van, de la), or a title or
    /// suffix (Dr., Jr.); at least one word of two letters or more, and no word of
    /// `placeholderWords` or `vocabularyWords` or with a medical ending. With `lowercase`,
    /// all-lower-case words count too (a column whose name announces a person: "maria garcia").
    static func looksLikeName(_ cell: String, lowercase: Bool) -> Bool {
        let text = deidTrimmed(cell)
        guard text.count >= 3, text.count <= 70 else { return false }
        var commas = 0
        for character in text {
            if character == "," {
                commas += 1
                continue
            }
            guard character.isLetter || character.isWhitespace || "'’ʼ-.".contains(character) else { return false }
        }
        guard commas <= 1 else { return false }
        if commas == 1 {
            let sides = text.split(separator: ",", omittingEmptySubsequences: false)
            guard sides.count == 2, sides.allSatisfy({ $0.contains(where: \.isLetter) }) else { return false }
        }
        let words = text.split(whereSeparator: { $0.isWhitespace || $0 == "," })
        guard (2...6).contains(words.count) else { return false }
        var nameWords = 0
        var counted = 0
        for word in words {
            let bare = word.trimmingCharacters(in: CharacterSet(charactersIn: "."))
            guard !bare.isEmpty else { return false }
            let folded = deidFolded(bare)
            if titlesAndSuffixes.contains(folded) { continue }
            if particles.contains(folded), bare.first?.isLowercase == true || bare.count <= 3 {
                counted += 1
                continue
            }
            // An initial: "J." or "J" (or "J.R.").
            if bare.filter(\.isLetter).count <= 2, bare.allSatisfy({ $0.isUppercase || $0 == "." }),
                bare.count == 1 || word.hasSuffix(".")
            {
                counted += 1
                continue
            }
            guard isNameWord(Substring(bare), lowercase: lowercase) else { return false }
            let parts = folded.split(whereSeparator: { $0 == "-" || $0 == "'" })
            for part in parts.map(String.init)
            where placeholderWords.contains(part) || vocabularyWords.contains(part)
                || medicalEndings.contains(where: part.hasSuffix)
            {
                return false
            }
            nameWords += 1
            counted += 1
        }
        return nameWords >= 1 && counted >= 2
    }

    /// Whether at least half the present cells of a column look like names (lower case
    /// allowed): for a patient column that identifies patients by name, whose names are then
    /// looked for in free text as a name column's are.
    static func mostlyNames(_ cells: [String]) -> Bool {
        var present = 0
        var names = 0
        for cell in cells where !deidIsMissing(cell) {
            present += 1
            if looksLikeName(cell, lowercase: true) { names += 1 }
            if present == 4000 { break }
        }
        return present > 0 && names * 2 >= present
    }

    /// Whether `cell` is one word that could be a given name or a surname (Maria, O'Brien,
    /// garcía-lópez), as a first-name or last-name column holds.
    static func isSingleName(_ cell: String) -> Bool {
        let text = deidTrimmed(cell)
        guard text.count >= 2, text.count <= 40, isNameWord(Substring(text), lowercase: true) else { return false }
        let folded = deidFolded(text)
        return !placeholderWords.contains(folded) && !vocabularyWords.contains(folded)
            && !medicalEndings.contains(where: folded.hasSuffix)
    }

    /// A capitalised (María, O'Brien, McDonald, García-López) or all-capital (MCDONALD) word of
    /// letters, with apostrophes and hyphens inside; or, with `lowercase`, an all-lower-case one.
    private static func isNameWord(_ word: Substring, lowercase: Bool) -> Bool {
        guard let first = word.first, first.isLetter, let last = word.last, last.isLetter else { return false }
        var previous: Character = " "
        for character in word {
            if "'’ʼ-".contains(character) {
                guard previous.isLetter else { return false }
            } else if !character.isLetter {
                return false
            }
            previous = character
        }
        if first.isUppercase { return true }
        return lowercase && word.allSatisfy { !$0.isUppercase }
    }
}

/// The names a table holds in its name columns, looked for in its free text as whole words
/// whatever their case and accents: "patient maria garcia" and "GARCIA-LOPEZ" for María José
/// García-López, "o'brien" and "OBRIEN" for O’Brien.
///
/// Each part of a name of three letters or more is looked for on its own (a hyphenated or compound
/// surname part by part, a possessive "Emily's" as Emily). Shorter parts (Li, Wu, Al), surname
/// particles (de la, van der) and initials (J., M) are tagged only next to a longer part or, for
/// two short parts, together as in the table ("Li Wu"); a lone "Li" is not. Parts that are also
/// common words (Will, May, Brown, Day: `DeidPersonNames.ambiguousWords` and
/// `vocabularyWords`), and the words of a cell that does not look like a name, are tagged when
/// capitalised or next to another part of a name, so "Will called" and "robert will" lose the
/// name while "will call" stays. Adjacent parts, with spaces, a hyphen, a comma or an initial's
/// point between them, become one tag.
struct DeidNameIndex: Sendable {
    /// Parts of three letters or more, folded, that are not common words.
    private(set) var parts: Set<String> = []
    /// Parts that are also common words, and the words of cells that do not look like names
    /// ("Declined To Provide", "Jane Doe (2)"), folded: tagged only capitalised or beside
    /// another part, so that a stray word of a name column does not take a common word out of
    /// every note.
    private(set) var ambiguous: Set<String> = []
    /// Parts of one or two letters, folded.
    private(set) var short: Set<String> = []
    /// Neighbouring words of one name, neither of them tagged alone ("li wu" and "wu li", "jane
    /// doe" from "Jane Doe (2)"), folded: together they are tagged.
    private(set) var pairs: Set<String> = []

    var isEmpty: Bool { parts.isEmpty && ambiguous.isEmpty && pairs.isEmpty }

    /// Adds the parts of the name in `cell` (missing-value markers, titles and placeholders such
    /// as "Unknown" add nothing).
    mutating func add(_ cell: String) {
        guard !deidIsMissing(cell) else { return }
        let shaped = DeidPersonNames.looksLikeName(cell, lowercase: true) || DeidPersonNames.isSingleName(cell)
        var previous: String?
        for word in deidWords(cell) where !word.text.isEmpty {
            let folded = deidFolded(String(word.text))
            guard folded.contains(where: \.isLetter), !folded.contains(where: \.isNumber),
                !DeidPersonNames.titlesAndSuffixes.contains(folded), !DeidPersonNames.placeholderWords.contains(folded)
            else {
                previous = nil
                continue
            }
            if DeidPersonNames.particles.contains(folded) {
                // Tagged only beside a part of a name, never in a pair ("de la" is Spanish too).
                previous = nil
                continue
            }
            var alone = false
            if folded.count <= 2 {
                short.insert(folded)
            } else if !shaped || DeidPersonNames.ambiguousWords.contains(folded)
                || DeidPersonNames.vocabularyWords.contains(folded)
            {
                ambiguous.insert(folded)
            } else {
                parts.insert(folded)
                alone = true
            }
            // O'Brien is also written OBrien or Obrien.
            if folded.contains("'") {
                let plain = folded.replacingOccurrences(of: "'", with: "")
                if alone { parts.insert(plain) } else { ambiguous.insert(plain) }
            }
            if alone {
                previous = nil
            } else {
                if let previous {
                    pairs.insert(previous + " " + folded)
                    pairs.insert(folded + " " + previous)
                }
                previous = folded
            }
        }
    }

    private enum Strength { case none, weak, strong }

    /// How much a word says it is part of a name, and the part of it that is (a possessive's
    /// "'s" is not).
    private func classify(_ word: DeidWord, in text: String) -> (Strength, Range<String.Index>) {
        var range = word.range
        var strength = strength(of: word.text, followedByPoint: word.range.upperBound < text.endIndex
            && text[word.range.upperBound] == ".")
        if strength == .none, word.text.count > 3, let last = word.text.last, last == "s" || last == "S" {
            let beforeS = word.text.index(before: word.text.endIndex)
            let apostrophe = word.text.index(before: beforeS)
            if "'’ʼ".contains(word.text[apostrophe]) {
                strength = self.strength(of: word.text[..<apostrophe], followedByPoint: false)
                range = word.range.lowerBound..<apostrophe
            }
        }
        return (strength, range)
    }

    private func strength(of word: Substring, followedByPoint: Bool) -> Strength {
        guard let first = word.first else { return .none }
        let folded = deidFolded(String(word))
        if folded.count >= 3 {
            if parts.contains(folded) { return .strong }
            if ambiguous.contains(folded) { return first.isUppercase ? .strong : .weak }
            if DeidPersonNames.particles.contains(folded) { return .weak }
            return .none
        }
        if short.contains(folded) || DeidPersonNames.particles.contains(folded) { return .weak }
        // An initial: a capital letter, with a point unless it could be the word I or A.
        if word.count == 1, first.isUppercase, followedByPoint || (first != "I" && first != "A") { return .weak }
        return .none
    }

    /// Whether the characters between two words let them be parts of one name: spaces, with at
    /// most one hyphen, comma or (after an initial) point.
    private func joins(_ gap: Substring, afterInitial: Bool) -> Bool {
        var punctuation = 0
        for character in gap {
            if character.isWhitespace { continue }
            if character == "-" || character == "‐" || character == "‑" || character == "," {
                punctuation += 1
            } else if character == ".", afterInitial {
                punctuation += 1
            } else {
                return false
            }
        }
        return punctuation <= 1 && gap.count <= 4
    }

    /// `text` with the names of the index replaced by `tag`; `count` gains the number of tags put in.
    func tag(_ text: String, with tag: String = "[NAME]", count: inout Int) -> String {
        guard !isEmpty, text.contains(where: \.isLetter) else { return text }
        let words = deidWords(text)
        var replacements: [Range<String.Index>] = []
        var run: [(strength: Strength, range: Range<String.Index>, folded: String)] = []

        func closeRun() {
            defer { run.removeAll() }
            guard !run.isEmpty else { return }
            var tagged = run.contains { $0.strength == .strong }
            if !tagged, run.count >= 2 {
                tagged = zip(run, run.dropFirst()).contains { pairs.contains($0.folded + " " + $1.folded) }
            }
            // Only a run that holds a name part; a lone particle or initial stays.
            if tagged { replacements.append(run.first!.range.lowerBound..<run.last!.range.upperBound) }
        }

        for word in words {
            guard !word.text.isEmpty else {
                closeRun()
                continue
            }
            let (strength, range) = classify(word, in: text)
            guard strength != .none else {
                closeRun()
                continue
            }
            if let last = run.last {
                let gap = text[last.range.upperBound..<range.lowerBound]
                let afterInitial = text.distance(from: last.range.lowerBound, to: last.range.upperBound) == 1
                if !joins(gap, afterInitial: afterInitial) { closeRun() }
            }
            run.append((strength, range, deidFolded(String(text[range]))))
            // A possessive ends the name: "Emily's mother".
            if range.upperBound != word.range.upperBound { closeRun() }
        }
        closeRun()
        guard !replacements.isEmpty else { return text }
        var out = ""
        var cursor = text.startIndex
        for range in replacements {
            out += text[cursor..<range.lowerBound]
            out += tag
            cursor = range.upperBound
        }
        out += text[cursor...]
        count += replacements.count
        return out
    }
}
