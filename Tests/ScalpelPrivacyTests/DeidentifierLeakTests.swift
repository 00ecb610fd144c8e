import Foundation
import ScalpelData
import Testing

@testable import ScalpelPrivacy

/// Identifiers that an earlier version let through: a column of names with an uninformative
/// header, names in free text written in another case or without their accents, spelled-out ages,
/// birth years, an age column without "age" in its name and ZIP codes under another name.
enum LeakyExtract {
    /// 24 made-up patients, their names in the forms real registers use. Each row's note holds
    /// what an earlier version missed, some of it naming the patient of another row.
    static let rows: [(patient: String, yearsOld: String, loc: String, glucose: String, heartRate: String, steps: String,
        labValue: String, note: String, expectedNote: String)] = [
        ("María José García-López", "95", "03601", "98", "72", "10234", "12345.6",
            "patient maria garcia seen; GARCIA-LOPEZ family present", "patient [NAME] seen; [NAME] family present"),
        ("Smith, John", "102", "05901", "110", "88", "10877", "23456.1", "Born 1930. Lives alone.", "Born [DATE]. Lives alone."),
        ("O'Brien Patrick", "90", "10201", "132", "95", "11020", "34567.2", "Mr. o'brien reports dizziness",
            "Mr. [NAME] reports dizziness"),
        ("van der Berg, Anna", "45", "20301", "85", "101", "12500", "45678.3", "Ninety-four year old male.",
            "[AGE 90+] male."),
        ("Nguyen Thi Lan", "67", "55601", "120", "77", "13999", "56789.4", "seen with roommate zoe odegaard",
            "seen with roommate [NAME]"),
        ("Jean-Luc Moreau", "71", "69201", "104", "64", "14210", "67890.5", "one hundred and two years old, b. 1923",
            "[AGE 90+], b. [DATE]"),
        ("Zoë Ødegaard", "88", "79001", "93", "58", "15003", "78901.6", "ninety four yo, DOB 1931", "[AGE 90+], DOB [DATE]"),
        ("Kowalski, Piotr", "89", "82101", "78", "112", "16782", "89012.7", "Eighty-nine year old, born in 1936",
            "Eighty-nine year old, born in [DATE]"),
        ("MCDONALD, ANGUS", "93", "82301", "136", "83", "17345", "90123.8", "ANGUS MCDONALD CALLED", "[NAME] CALLED"),
        ("Dr. Aisha Rahman", "30", "83001", "90", "69", "18001", "11111.9", "she will return and may call",
            "she will return and may call"),
        ("José Ángel Núñez", "55", "83101", "101", "92", "19456", "22222.1", "J. Smith (brother) visited",
            "[NAME] (brother) visited"),
        ("Fatima Al-Sayed", "96", "87801", "115", "74", "20123", "33333.2", "94yo F, aged 96 per family",
            "[AGE 90+] F, [AGE 90+] per family"),
        ("Hiroshi Tanaka", "62", "87901", "88", "103", "21789", "44444.3", "nonagenarian, in her late nineties",
            "[AGE 90+], [AGE 90+]"),
        ("Smith-Jones, Emily R.", "40", "88401", "99", "81", "22001", "55555.4", "tanaka-san prefers hiroshi",
            "[NAME]-san prefers [NAME]"),
        ("Olusegun Adebayo", "58", "89001", "126", "67", "23456", "66666.5", "Emily's mother present",
            "[NAME]'s mother present"),
        ("Ana de la Cruz", "77", "89301", "82", "96", "24680", "77777.6", "Glucose 98, HR 95, temp 99F, SpO2 in the 90s",
            "Glucose 98, HR 95, temp 99F, SpO2 in the 90s"),
        ("Robert Will", "91", "02114", "107", "71", "25001", "88888.7", "ana de la cruz", "[NAME]"),
        ("May Thompson", "84", "10001", "94", "85", "26543", "99999.8", "robert will attended", "[NAME] attended"),
        ("Ivan Petrov Jr.", "99", "94110", "131", "90", "27777", "12121.9", "May Thompson's daughter", "[NAME]'s daughter"),
        ("Chloé Dubois", "35", "60614", "72", "118", "28001", "23232.1", "PETROV IVAN", "[NAME]"),
        ("Siobhan O’Neill", "73", "30301", "118", "62", "29999", "34343.2", "chloe dubois", "[NAME]"),
        ("Katarzyna Wiśniewska", "81", "75201", "86", "99", "30303", "45454.3", "siobhan o'neill", "[NAME]"),
        ("Mohammed Hassan", "100", "98101", "140", "79", "31415", "56565.4", "katarzyna wisniewska", "[NAME]"),
        ("Ngozi Okafor", "66", "33101", "70", "87", "32768", "67676.5", "M. Hassan", "[NAME]"),
    ]

    static var csv: String {
        CSVWriter.write(
            header: ["patient", "years_old", "loc", "glucose", "heart_rate", "steps", "lab_value", "note"],
            rows: rows.map { [$0.patient, $0.yearsOld, $0.loc, $0.glucose, $0.heartRate, $0.steps, $0.labValue, $0.note] })
    }

    static func deidentifier() -> Deidentifier { SyntheticClinic.deidentifier(patientColumn: nil) }

    /// `text` in lower case without accents, for looking for a name however it was written.
    static func folded(_ text: String) -> String {
        text.folding(options: [.caseInsensitive, .diacriticInsensitive], locale: nil)
            .replacingOccurrences(of: "’", with: "'").replacingOccurrences(of: "ø", with: "o")
    }

    /// The words of at least three letters of every name, folded; "will" and "may" are also
    /// common words, checked apart.
    static var nameWords: Set<String> {
        var words = Set<String>()
        for row in rows {
            for word in folded(row.patient).split(whereSeparator: { !$0.isLetter && $0 != "'" }) where word.count >= 3 {
                words.insert(String(word))
            }
        }
        return words.subtracting(["will", "may", "dr.", "jr."])
    }
}

@Suite struct DeidentifierLeakTests {
    @Test func aColumnOfFullNamesIsANameColumnWhateverItsHeader() throws {
        let out = try Output(LeakyExtract.deidentifier(), text: LeakyExtract.csv)
        #expect(out.table.columnIndex(named: "patient") == nil)
        let patient = try out.report("patient")
        #expect(patient.kind == .name)
        #expect(patient.action == .dropped)
        #expect(patient.detectedBy.hasPrefix("values: "))
        #expect(patient.detectedBy.contains("person names"))
        #expect(patient.cellsChanged == 24)
        for row in LeakyExtract.rows {
            #expect(!out.csv.contains(row.patient))
        }
    }

    @Test func namesInFreeTextAreFoundWhateverTheirCaseAndAccents() throws {
        let out = try Output(LeakyExtract.deidentifier(), text: LeakyExtract.csv)
        let notes = try out.column("note")
        for (index, row) in LeakyExtract.rows.enumerated() {
            #expect(notes[index] == row.expectedNote, "row \(index + 1)")
        }
        // No word of any name survives in any case or spelling.
        for (index, note) in notes.enumerated() {
            let words = Set(LeakyExtract.folded(note).split(whereSeparator: { !$0.isLetter && $0 != "'" }).map(String.init))
            let leaked = words.intersection(LeakyExtract.nameWords)
            #expect(leaked.isEmpty, "row \(index + 1) keeps \(leaked.sorted())")
        }
        let report = try out.report("note")
        #expect(report.kind == .freeText)
        #expect(report.action == .scrubbed)
        #expect(report.cellsChanged == 22)
        #expect(report.tags == ["[NAME]": 17, "[DATE]": 4, "[AGE 90+]": 7])
    }

    @Test func namesFromANamedColumnAreFoundWithoutTheirAccentsInAnyRow() throws {
        let text = """
            name,note
            María José García-López,"MARIA GARCIA-LOPEZ seen; garcia lopez's daughter called"
            Zoë Ødegaard,"zoe odegaard and Z. Ødegaard; garcia consulted, JOSÉ too"

            """
        let out = try Output(LeakyExtract.deidentifier(), text: text)
        #expect(
            try out.column("note") == [
                "[NAME] seen; [NAME]'s daughter called", "[NAME] and [NAME]; [NAME] consulted, [NAME] too",
            ])
        #expect(try out.report("note").tags == ["[NAME]": 6])
        #expect(try out.report("note").cellsChanged == 2)
    }

    @Test func anAgeColumnNamedYearsOldIsTopCoded() throws {
        let out = try Output(LeakyExtract.deidentifier(), text: LeakyExtract.csv)
        let expected = LeakyExtract.rows.map { Int($0.yearsOld)! > 89 ? "90+" : $0.yearsOld }
        #expect(try out.column("years_old") == expected)
        let report = try out.report("years_old")
        #expect(report.kind == .age)
        #expect(report.action == .topCoded)
        #expect(report.cellsChanged == 8)
    }

    @Test func fiveDigitZIPCodesUnderAPlaceLikeNameAreTruncated() throws {
        let out = try Output(LeakyExtract.deidentifier(), text: LeakyExtract.csv)
        let restricted = Array(repeating: "000", count: 16)
        #expect(try out.column("loc") == restricted + ["021", "100", "941", "606", "303", "752", "981", "331"])
        let report = try out.report("loc")
        #expect(report.kind == .zipCode)
        #expect(report.action == .truncatedZIP)
        #expect(report.detectedBy.hasPrefix("values: "))
        #expect(report.cellsChanged == 24)
    }

    @Test func measurementsAreNotTakenForAgesOrZIPCodes() throws {
        let out = try Output(LeakyExtract.deidentifier(), text: LeakyExtract.csv)
        #expect(try out.column("glucose") == LeakyExtract.rows.map(\.glucose))
        #expect(try out.column("heart_rate") == LeakyExtract.rows.map(\.heartRate))
        #expect(try out.column("steps") == LeakyExtract.rows.map(\.steps))
        #expect(try out.column("lab_value") == LeakyExtract.rows.map(\.labValue))
        for name in ["glucose", "heart_rate", "steps", "lab_value"] {
            let report = try out.report(name)
            #expect(report.kind == .notIdentifier, "\(name)")
            #expect(report.action == .kept, "\(name)")
            #expect(report.cellsChanged == 0, "\(name)")
        }
    }

    @Test func aNameColumnWithSomeEmptyCellsIsStillANameColumn() throws {
        let text = """
            patient,contact,outcome
            Ana Lima,Jane Doe,1
            ,Omar Haddad,0
            Tom Baker,,1
            unknown,Priya Natarajan,0
            SARA COHEN,Li Wu,1
            ,,0
            "Park, Lee",Jonas Weber,1
            Ola Nowak,Grace Kim,0

            """
        let out = try Output(LeakyExtract.deidentifier(), text: text)
        #expect(out.table.columns == ["outcome"])
        #expect(try out.report("patient").kind == .name)
        #expect(try out.report("patient").cellsChanged == 6)
        #expect(try out.report("contact").kind == .name)
        #expect(try out.report("contact").detectedBy.hasPrefix("values: "))
    }

    @Test func titleCaseDiagnosesWardsAndDrugsAreNotNames() throws {
        let text = """
            condition,unit,drug
            Heart Failure,Cardiac ICU,Insulin Glargine
            Atrial Fibrillation,General Surgery,Metformin
            Chronic Kidney Disease,North Wing,Lisinopril
            Urinary Tract Infection,Oncology East,Atorvastatin Calcium
            Hip Fracture,Emergency Department,Warfarin Sodium
            Major Depressive Disorder,Cardiac ICU,Metformin
            Breast Cancer,Labour Ward,Insulin Lispro
            Community Acquired Pneumonia,Day Surgery,Amoxicillin

            """
        let out = try Output(LeakyExtract.deidentifier(), text: text)
        #expect(out.table.columns == ["condition", "unit", "drug"])
        for name in ["condition", "unit", "drug"] {
            #expect(try out.report(name).kind != .name, "\(name)")
            #expect(try out.report(name).cellsChanged == 0, "\(name)")
        }
    }

    @Test func zipCodesNeedEvidenceBeyondFiveDigits() throws {
        let text = """
            postal,grp,steps,ref,count5
            02114-1234,02114,10234,00123,12345
            89301-1234,03601,12001,00456,20301
            036011234,01002,20301,00789,55601
            10001,10001,55601,00321,10001

            """
        let out = try Output(LeakyExtract.deidentifier(), text: text)
        #expect(try out.column("postal") == ["021", "000", "000", "100"])
        // Leading zeros: codes, not quantities.
        #expect(try out.column("grp") == ["021", "000", "010", "100"])
        #expect(try out.report("grp").kind == .zipCode)
        // Five-digit numbers without a hint in the name or a leading zero are left as they are, and
        // no ZIP code starts 000 to 004.
        #expect(try out.column("steps") == ["10234", "12001", "20301", "55601"])
        #expect(try out.column("ref") == ["00123", "00456", "00789", "00321"])
        #expect(try out.column("count5") == ["12345", "20301", "55601", "10001"])
        for name in ["steps", "ref", "count5"] {
            #expect(try out.report(name).kind == .notIdentifier, "\(name)")
        }
    }

    @Test func agesNeedAnAgeLikeNameAsWellAsAgeLikeValues() throws {
        let text = """
            years,pack_years,years_smoking,yrs_old,yo,heart_rate,year
            95,95,91,97,101,95,1995
            45,10,20,45,45,120,2003
            102,30,5,30,30,60,1932
            30,40,60,90,90,88,2024

            """
        let out = try Output(LeakyExtract.deidentifier(), text: text)
        #expect(try out.column("years") == ["90+", "45", "90+", "30"])
        #expect(try out.report("years").kind == .age)
        #expect(try out.report("years").detectedBy.hasPrefix("values: "))
        #expect(try out.column("yrs_old") == ["90+", "45", "30", "90+"])
        #expect(try out.column("yo") == ["90+", "45", "30", "90+"])
        #expect(try out.column("pack_years") == ["95", "10", "30", "40"])
        #expect(try out.column("years_smoking") == ["91", "20", "5", "60"])
        #expect(try out.column("heart_rate") == ["95", "120", "60", "88"])
        #expect(try out.column("year") == ["1995", "2003", "1932", "2024"])
        for name in ["years_old", "yrs_old", "YearsOld", "yo", "Age (yrs)"] {
            #expect(DeidColumnNames.kind(of: name) == .age, "\(name)")
        }
        for name in ["years", "pack_years", "years_smoking", "old_value", "heart_rate"] {
            #expect(DeidColumnNames.kind(of: name) == nil, "\(name)")
        }
    }

    @Test func birthYearsAndSpelledOutAgesInTextAreTagged() {
        let scrubber = DeidTextScrubber(dates: DeidDateParser(dayFirst: false, referenceYear: 2025))
        func scrub(_ text: String) -> String {
            var counts: [String: Int] = [:]
            return scrubber.scrub(text, counts: &counts)
        }
        // Birth years, whatever the age they point to.
        #expect(scrub("Born 1930.") == "Born [DATE].")
        #expect(scrub("born in 1930, widowed") == "born in [DATE], widowed")
        #expect(scrub("Pt b. 1930") == "Pt b. [DATE]")
        #expect(scrub("DOB 1930; DOB: 1931") == "DOB [DATE]; DOB: [DATE]")
        #expect(scrub("YOB 1929, year of birth: 1928") == "YOB [DATE], year of birth: [DATE]")
        #expect(scrub("born circa 1925, born in the 1920s") == "born circa [DATE], born in the [DATE]")
        #expect(scrub("born 1975") == "born [DATE]")
        // Spelled out, over 89.
        #expect(scrub("Ninety-four year old male.") == "[AGE 90+] male.")
        #expect(scrub("ninety four yo") == "[AGE 90+]")
        #expect(scrub("one hundred and two years old") == "[AGE 90+]")
        #expect(scrub("a hundred-year-old woman") == "[AGE 90+] woman")
        #expect(scrub("aged ninety-six, turned ninety last week") == "[AGE 90+], [AGE 90+] last week")
        #expect(scrub("NINETY-NINE YEARS OF AGE") == "[AGE 90+]")
        #expect(scrub("a centenarian and a nonagenarian") == "a [AGE 90+] and a [AGE 90+]")
        #expect(scrub("in his 90s, in her mid-nineties") == "[AGE 90+], [AGE 90+]")
        #expect(scrub("her ninety-fifth birthday, his 101st birthday") == "her [AGE 90+], his [AGE 90+]")
        // In figures, over 89.
        #expect(scrub("94yo, 95yoF, 96 yom") == "[AGE 90+], [AGE 90+], [AGE 90+]")
        #expect(scrub("at the age of 97; turned 91; turns 100 next month") == "at the [AGE 90+]; [AGE 90+]; [AGE 90+] next month")
        // 89 and under may stay, as Safe Harbor allows; and numbers that are not ages stay.
        for text in [
            "Eighty-nine year old", "89yo", "aged 45", "forty-five year old", "turned 50", "in his 80s",
            "HR ninety, temp 99F, sats in the 90s", "ninety minutes later", "one hundred mg", "a hundred years ago",
            "at 1930 hrs", "since 1930", "Born at term", "B12 1930 pg/mL", "DOB verified", "turned 90 degrees",
            "infant aged 95 days", "turning ninety degrees", "ninety-one percent", "in the nineties",
        ] {
            #expect(scrub(text) == text, "\(text)")
        }
    }

    @Test func aPatientColumnOfNamesIsPseudonymisedAndItsNamesStillFoundInText() throws {
        let deidentifier = SyntheticClinic.deidentifier(patientColumn: "patient")
        let out = try Output(deidentifier, text: LeakyExtract.csv)
        let patients = try out.column("patient")
        #expect(patients.allSatisfy { $0.hasPrefix("P-") && $0.count == 18 })
        #expect(try out.column("note") == LeakyExtract.rows.map(\.expectedNote))
    }

    @Test func theNameIndexFindsPartsAndLeavesCommonWords() {
        var index = DeidNameIndex()
        for name in [
            "Robert Will", "May Thompson", "Li Wu", "María José García-López", "O’Brien Patrick", "Unknown Patient",
            "Ivan Petrov Jr.", "Mary Major",
        ] {
            index.add(name)
        }
        func tag(_ text: String) -> String {
            var count = 0
            return index.tag(text, count: &count)
        }
        // Names that are also words: only capitalised, or beside another part of a name.
        #expect(tag("she will call in may; a major bleed") == "she will call in may; a major bleed")
        #expect(tag("Will called; robert will attended; mary major") == "[NAME] called; [NAME] attended; [NAME]")
        // Short parts: only beside a longer part, or together as in the table.
        #expect(tag("Li said; li wu came; WU LI left; ivan li") == "Li said; [NAME] came; [NAME] left; [NAME]")
        // Compound, hyphenated, reversed, possessive, across a line break, "surname, given
        // name" as one; whole words only.
        #expect(
            tag("GARCIA-LOPEZ; garcia lopez's son; Lopez-Garcia; jose\ngarcia; Garcia, Maria")
                == "[NAME]; [NAME]'s son; [NAME]; [NAME]; [NAME]")
        #expect(tag("garcias, garcia2, sgarcia, lopezz") == "garcias, garcia2, sgarcia, lopezz")
        #expect(tag("obrien; O'BRIEN; O’Brien; o'brien.") == "[NAME]; [NAME]; [NAME]; [NAME].")
        // Initials go with the surname; the words I and A do not.
        #expect(tag("P. O'Brien and M Garcia; Garcia I think") == "[NAME] and [NAME]; [NAME] I think")
        // Placeholders and titles in a name column are not names; tags already put in are left.
        #expect(tag("unknown patient, jr") == "unknown patient, jr")
        #expect(tag("[NAME] and maria: lopez") == "[NAME] and [NAME]: [NAME]")
        var count = 0
        _ = index.tag("maria garcia and robert; PETROV", count: &count)
        #expect(count == 3)
        #expect(deidFolded("ØDEGAARD Łukasz Straße O’Neill Núñez") == "odegaard lukasz strasse o'neill nunez")
    }

    @Test func whatLooksLikeAPersonName() {
        for cell in [
            "María José García-López", "Smith, John", "O'Brien Patrick", "van der Berg, Anna", "MCDONALD, ANGUS",
            "Dr. Aisha Rahman", "Smith-Jones, Emily R.", "J. R. Tolkien", "Li Wu", "Ana de la Cruz", "Ivan Petrov Jr.",
            "Zoë Ødegaard", "Siobhan O’Neill",
        ] {
            #expect(DeidPersonNames.looksLikeName(cell, lowercase: false), "\(cell)")
        }
        for cell in [
            "Heart Failure", "Type 2 Diabetes", "Atrial Fibrillation", "Smith", "J. K.", "john smith", "Smith, John, Jr.",
            "Call back 555", "White British", "Roman Catholic", "Blue Cross", "Insulin Glargine", "North Wing",
            "Not Applicable", "Unknown Patient", "Baby Boy", "jane@example.com", "Follow Up", "Routine Visit",
            "Doing Well",
        ] {
            #expect(!DeidPersonNames.looksLikeName(cell, lowercase: false), "\(cell)")
        }
        #expect(DeidPersonNames.looksLikeName("maria garcia", lowercase: true))
        #expect(!DeidPersonNames.looksLikeName("heart failure", lowercase: true))
        for name in ["patient", "Attending Physician", "referred_by", "contact", "PT"] {
            #expect(DeidPersonNames.columnNameSuggestsPerson(name), "\(name)")
        }
        for name in ["patient_status", "by", "diagnosis", "c1"] {
            #expect(!DeidPersonNames.columnNameSuggestsPerson(name), "\(name)")
        }
    }

    @Test func categoryColumnsOfCapitalisedWordsAreNotNamesButAVariedOneIs() throws {
        let ethnicities = ["White British", "Black Caribbean", "Other Asian", "Mixed White", "Black African"]
        let religions = ["Roman Catholic", "Church Of England", "Greek Orthodox", "Jehovah's Witness", "Sunni Muslim"]
        let insurers = ["Blue Cross", "Medicare Advantage", "United Healthcare", "Kaiser Permanente", "Aetna Better Health"]
        var rows: [[String]] = []
        for index in 0..<40 {
            rows.append([ethnicities[index % 5], religions[index % 5], insurers[index % 5], LeakyExtract.rows[index % 24].patient])
        }
        let text = CSVWriter.write(header: ["ethnicity", "religion", "payer", "c1"], rows: rows)
        let out = try Output(LeakyExtract.deidentifier(), text: text)
        #expect(out.table.columns == ["ethnicity", "religion", "payer"])
        for name in ["ethnicity", "religion", "payer"] {
            #expect(try out.report(name).kind != .name, "\(name)")
            #expect(try out.report(name).cellsChanged == 0, "\(name)")
        }
        #expect(try out.report("c1").kind == .name)
        #expect(try out.report("c1").detectedBy == "values: 100% person names")
    }

    @Test func strayWordsOfANameColumnDoNotTakeCommonWordsOutOfNotes() throws {
        let text = """
            name,note
            Declined To Provide,please provide details
            "Jane Doe (2)",jane doe called; ana de la cruz here
            Ana de la Cruz,dolor de la cabeza; Provide a list

            """
        let out = try Output(LeakyExtract.deidentifier(), text: text)
        #expect(
            try out.column("note") == [
                "please provide details", "[NAME] called; [NAME] here", "dolor de la cabeza; [NAME] a list",
            ])
    }

    @Test func aRowsCityIsFoundInItsNotesWithoutItsAccents() throws {
        let text = """
            city,note
            São Paulo,"moved from sao paulo; SÃO PAULO clinic"

            """
        let out = try Output(LeakyExtract.deidentifier(), text: text)
        #expect(try out.column("note") == ["moved from [LOCATION]; [LOCATION] clinic"])
        #expect(try out.report("note").tags == ["[LOCATION]": 2])
    }
}
