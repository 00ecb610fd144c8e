import Foundation
import ScalpelData
import Testing

@testable import ScalpelPrivacy

/// A synthetic clinical extract: every identifier is made up, in the formats real exports use.
enum SyntheticClinic {
    static let csv = """
        patient_id,name,address,city,state,zip,dob,admission_date,age,phone,email,ssn,mrn,hba1c,diagnosis,note
        PT-1001,"Doe, John",12 Elm Street,Springfield,MA,03601,1950-02-14,2024-03-05,74,(617) 555-0101,john.doe@example.com,123-45-6789,A1234567,6.1,Type 2 diabetes,"Seen by Dr. Jane Smith on 2024-03-05. Contact john.doe@example.com or 617-555-0199. MRN: 12345678. John reports fatigue."
        PT-1001,"Doe, John",12 Elm Street,Springfield,MA,03601,02/14/1950,03/15/2024 09:30,74,(617) 555-0101,john.doe@example.com,123-45-6789,A1234567,6.4,Type 2 diabetes,Follow-up visit; stable.
        PT-2002,Mary Major,"400 Oak Avenue, Apt 2",Boston,MA,02114-1234,5 Mar 1933,2024-07-01 14:30,92,+1 617 555 0144,mary.major@example.org,987-65-4320,B7654321,,"Heart failure, chronic","Pt. Mary Major, 92 y/o, said ""tired""; seen 12 Jan 2024, call (617) 555-0144."
        PT-3003,Li Wei,7 Pine Rd,Hanover,NH,03755,12/31/1985,2024-01-20T08:15:00Z,38,603.555.0123,wei.li@example.net,555-12-3456,C0000042,5.4,Asthma,"Portal login from 192.168.10.5 and 2001:db8::7334 via https://portal.example.com/p/3003
        MRN 87654321, fax 603-555-0188"

        """

    /// Every identifying value in `csv` (and in `valuePatternCSV`), none of which may survive.
    static let identifiers = [
        "PT-1001", "PT-2002", "PT-3003", "Doe, John", "John", "Mary Major", "Mary", "Li Wei", "12 Elm Street",
        "400 Oak Avenue", "7 Pine Rd", "Springfield", "Boston", "Hanover", "03601", "02114", "02114-1234", "03755",
        "1950-02-14", "02/14/1950", "5 Mar 1933", "1933", "12/31/1985", "2024-03-05", "03/15/2024", "2024-07-01",
        "2024-01-20", "12 Jan 2024", "(617) 555-0101", "555-0101", "617-555-0199", "+1 617 555 0144", "555-0144",
        "603.555.0123", "603-555-0188", "john.doe@example.com", "mary.major@example.org", "wei.li@example.net",
        "123-45-6789", "987-65-4320", "555-12-3456", "A1234567", "B7654321", "C0000042", "Jane Smith", "Jane",
        "Smith", "12345678", "87654321", "192.168.10.5", "2001:db8::7334", "portal.example.com",
        // valuePatternCSV
        "ann.lee@example.com", "bo.chan@example.com", "cy.diaz@example.com", "111-22-3333", "222-33-4444",
        "333-44-5555", "2023-11-02", "2023-12-24", "01/07/2024",
    ]

    static let valuePatternCSV = """
        contact,ref,visit,site_code
        ann.lee@example.com,111-22-3333,2023-11-02,S1
        bo.chan@example.com,222-33-4444,2023-12-24,S2
        cy.diaz@example.com,333-44-5555,01/07/2024,S1

        """

    static func table(_ text: String = csv) throws -> CSVTable { try CSVTable(text: text, source: "extract.csv") }

    /// 2025-06-01, the day ages are reckoned at in these tests.
    static let referenceDate = Date(
        timeIntervalSince1970: TimeInterval(DeidCivilDate(year: 2025, month: 6, day: 1).daysSinceEpoch * 86_400))

    static let key = try! DeidentificationKey(hex: String(repeating: "0123456789abcdef", count: 4))
    static let otherKey = try! DeidentificationKey(hex: String(repeating: "fedcba9876543210", count: 4))

    static func deidentifier(
        key: DeidentificationKey = key, dates: Deidentifier.DateRule = .yearOnly, patientColumn: String? = "patient_id",
        keep: [String] = [], drop: [String] = [], freeText: [String] = []
    ) -> Deidentifier {
        Deidentifier(
            key: key,
            options: .init(
                dates: dates, patientColumn: patientColumn, keep: keep, drop: drop, freeText: freeText,
                referenceDate: referenceDate))
    }
}

/// The output of a de-identification, read back as a table.
struct Output {
    let table: CSVTable
    let report: DeidentificationReport
    let csv: String

    init(_ deidentifier: Deidentifier = SyntheticClinic.deidentifier(), text: String = SyntheticClinic.csv) throws {
        (csv, report) = try deidentifier.deidentify(try SyntheticClinic.table(text))
        table = try CSVTable(text: csv, source: "out.csv")
    }

    func column(_ name: String) throws -> [String] { try #require(table.column(named: name)) }
    func report(_ name: String) throws -> DeidentificationReport.Column {
        try #require(report.columns.first { $0.name == name })
    }
}

@Suite struct DeidentifierTableTests {
    @Test func removesDirectIdentifierColumnsAndKeepsTheRest() throws {
        let out = try Output()
        #expect(
            out.table.columns == [
                "patient_id", "state", "zip", "dob", "admission_date", "age", "mrn", "hba1c", "diagnosis", "note",
            ])
        #expect(out.table.rowCount == 4)
        for name in ["name", "address", "city", "phone", "email", "ssn"] {
            #expect(try out.report(name).action == .dropped, "\(name)")
        }
        #expect(try out.report("name").cellsChanged == 4)
        #expect(try out.column("state") == ["MA", "MA", "MA", "NH"])
        #expect(try out.column("hba1c") == ["6.1", "6.4", "", "5.4"])
        #expect(try out.column("diagnosis") == ["Type 2 diabetes", "Type 2 diabetes", "Heart failure, chronic", "Asthma"])
        #expect(out.csv.hasSuffix("\n") && !out.csv.contains("\r"))
    }

    @Test func truncatesZIPCodesAndZeroesRestrictedPrefixes() throws {
        let out = try Output()
        #expect(try out.column("zip") == ["000", "000", "021", "037"])
        #expect(try out.report("zip").action == .truncatedZIP)
        #expect(DeidGeneralise.zipPrefix("03601") == "000")
        #expect(DeidGeneralise.zipPrefix("89301-1234") == "000")
        #expect(DeidGeneralise.zipPrefix("2114") == "021")  // a spreadsheet dropped the leading zero
        #expect(DeidGeneralise.zipPrefix("100") == "100")
        #expect(DeidGeneralise.zipPrefix("2114.0") == "021")
        #expect(DeidGeneralise.zipPrefix("03601.0") == "000")
        #expect(DeidGeneralise.zipPrefix("SW1A 1AA") == nil)
        for prefix in ["036", "059", "063", "102", "203", "556", "692", "790", "821", "823", "830", "831", "878",
            "879", "884", "890", "893"]
        {
            #expect(DeidGeneralise.zipPrefix(prefix + "42") == "000")
        }
    }

    @Test func keepsOnlyTheYearOfDatesAndAggregatesBirthDatesOver89() throws {
        let out = try Output()
        #expect(try out.column("dob") == ["1950", "1950", "90+", "1985"])
        #expect(try out.column("admission_date") == ["2024", "2024", "2024", "2024"])
        #expect(try out.report("dob").kind == .birthDate)
        #expect(try out.report("dob").action == .yearOnly)
        #expect(try out.report("dob").note?.contains("1 birth date(s)") == true)
        #expect(try out.report("admission_date").kind == .date)
        #expect(out.report.dateRule == .yearOnly)
    }

    @Test func topCodesAgesOver89() throws {
        let out = try Output()
        #expect(try out.column("age") == ["74", "74", "90+", "38"])
        #expect(try out.report("age").action == .topCoded)
        #expect(try out.report("age").cellsChanged == 1)
        let years = DeidGeneralise.AgeUnit.years
        #expect(DeidGeneralise.topCodeAge("89", columnUnit: years) == .unchanged)
        #expect(DeidGeneralise.topCodeAge("90", columnUnit: years) == .replaced("90+"))
        #expect(DeidGeneralise.topCodeAge("104 years", columnUnit: years) == .replaced("90+"))
        #expect(DeidGeneralise.topCodeAge(">89", columnUnit: years) == .replaced("90+"))
        #expect(DeidGeneralise.topCodeAge("90+", columnUnit: years) == .unchanged)
        #expect(DeidGeneralise.topCodeAge("95-99", columnUnit: years) == .replaced("90+"))
        #expect(DeidGeneralise.topCodeAge("85-94", columnUnit: years) == .unchanged)
        #expect(DeidGeneralise.topCodeAge("3 months", columnUnit: years) == .unchanged)
        #expect(DeidGeneralise.topCodeAge("1100", columnUnit: .months) == .replaced("90+ years"))
        #expect(DeidGeneralise.topCodeAge("old", columnUnit: years) == nil)
    }

    @Test func pseudonymisesRecordNumbersAndThePatientColumn() throws {
        let out = try Output()
        let deidentifier = SyntheticClinic.deidentifier()
        let patients = try out.column("patient_id")
        #expect(patients[0] == patients[1])
        #expect(Set(patients).count == 3)
        #expect(patients[0] == deidentifier.pseudonym(for: "PT-1001", kind: .patientID))
        for pseudonym in patients + (try out.column("mrn")) {
            #expect(pseudonym.count == 18 && pseudonym.hasPrefix("P-"))
            #expect(pseudonym.dropFirst(2).allSatisfy { "0123456789abcdef".contains($0) })
        }
        #expect(try out.column("mrn")[2] == deidentifier.pseudonym(for: "B7654321", kind: .medicalRecord))
        #expect(try out.report("mrn").kind == .medicalRecord)
        #expect(try out.report("mrn").action == .pseudonymised)
        #expect(try out.report("patient_id").kind == .patientID)
        #expect(try out.report("patient_id").detectedBy == "patient column")
        // Record-number kinds share one tag, so a number links whichever column holds it.
        #expect(
            deidentifier.pseudonym(for: "A1234567", kind: .patientID)
                == deidentifier.pseudonym(for: "A1234567", kind: .healthPlan))
        #expect(
            deidentifier.pseudonym(for: "A1234567", kind: .medicalRecord)
                != deidentifier.pseudonym(for: "A1234567", kind: .device))
        #expect(deidentifier.pseudonym(for: "A1234567", kind: .email) == nil)
    }

    @Test func pseudonymsAreStableForOneKeyAndDifferForAnother() throws {
        let first = try Output()
        let second = try Output()
        #expect(first.csv == second.csv)

        // Another file, another column name, another row order: the same record number maps the same.
        let other = """
            medical_record_number,visit_reason
            C0000042,check-up
            A1234567,follow-up

            """
        let linked = try Output(SyntheticClinic.deidentifier(patientColumn: nil), text: other)
        let mrns = try first.column("mrn")
        #expect(try linked.column("medical_record_number") == [mrns[3], mrns[0]])

        // A patient column holding record numbers maps them as the record column does.
        let byMRN = try Output(SyntheticClinic.deidentifier(patientColumn: "mrn"))
        #expect(try byMRN.column("mrn") == mrns)

        let otherKey = try Output(SyntheticClinic.deidentifier(key: SyntheticClinic.otherKey))
        #expect(Set(try otherKey.column("mrn")).isDisjoint(with: mrns))
        #expect(Set(try otherKey.column("patient_id")).isDisjoint(with: try first.column("patient_id")))
        #expect(otherKey.report.keyFingerprint != first.report.keyFingerprint)
    }

    @Test func scrubsIdentifiersInsideFreeText() throws {
        let out = try Output()
        let notes = try out.column("note")
        #expect(
            notes[0]
                == "Seen by Dr. [NAME] on [DATE]. Contact [EMAIL] or [PHONE]. [MRN]. [NAME] reports fatigue.")
        #expect(notes[1] == "Follow-up visit; stable.")
        #expect(notes[2] == "Pt. [NAME], [AGE 90+], said \"tired\"; seen [DATE], call [PHONE].")
        #expect(notes[3] == "Portal login from [IP] and [IP] via [URL]\n[MRN], [PHONE]")
        let report = try out.report("note")
        #expect(report.kind == .freeText)
        #expect(report.action == .scrubbed)
        #expect(report.cellsChanged == 3)
        #expect(
            report.tags == [
                "[NAME]": 3, "[DATE]": 2, "[EMAIL]": 1, "[PHONE]": 3, "[MRN]": 2, "[IP]": 2, "[URL]": 1,
                "[AGE 90+]": 1,
            ])
        #expect(try out.report("diagnosis").kind == .freeText)
        #expect(try out.report("diagnosis").cellsChanged == 0)
    }

    @Test func scrubberFindsEachKindOfIdentifier() {
        let scrubber = DeidTextScrubber(dates: DeidDateParser(dayFirst: false, referenceYear: 2025))
        func scrub(_ text: String) -> String {
            var counts: [String: Int] = [:]
            return scrubber.scrub(text, counts: &counts)
        }
        #expect(scrub("Mail a.b+c@mail.example.co.uk today") == "Mail [EMAIL] today")
        #expect(scrub("SSN: 123456789 on file") == "[SSN] on file")
        #expect(scrub("see www.example.org/x for more") == "see [URL] for more")
        #expect(scrub("from ::1 or fe80::1ff:fe23:4567:890a at 10:30:00") == "from [IP] or [IP] at 10:30:00")
        #expect(scrub("MRN: A1234567 and mrn 00123456") == "[MRN] and [MRN]")
        #expect(scrub("Account #: 99-1234-77") == "[ID]")
        #expect(scrub("call +44 20 7946 0958") == "call [PHONE]")
        #expect(
            scrub("on 3/5/2024, March 5, 2024, 5th of March 2024, 2024-03-05T10:00:00Z, Jan 2024 and 03/2024")
                == "on [DATE], [DATE], [DATE], [DATE], [DATE] and [DATE]")
        #expect(scrub("Seen 14 Feb; next Mar 3rd") == "Seen [DATE]; next [DATE]")
        #expect(scrub("You may 2 tablets, march on") == "You may 2 tablets, march on")
        #expect(scrub("A 93-year-old woman, aged 95; a 45 yo man") == "A [AGE 90+] woman, [AGE 90+]; a 45 yo man")
        #expect(scrub("Boston, MA 02114-1234 and zip: 10001") == "Boston, MA [ZIP] and zip: [ZIP]")
        #expect(scrub("lives at 221B Baker Street, Apt 4 now") == "lives at [ADDRESS] now")
        #expect(scrub("Mrs. O'Neil-Smith and Dr. J. Watson") == "Mrs. [NAME] and Dr. [NAME]")
        #expect(scrub("Dr. Élodie Durand-Lefèvre saw Mr. ØSTERGAARD") == "Dr. [NAME] saw Mr. [NAME]")
        #expect(scrub("Attending: Alice Jones. Bob Stone, MD") == "Attending: [NAME]. [NAME], MD")
        #expect(scrub("Patient denies pain. Patient Reports none") == "Patient denies pain. Patient Reports none")
        #expect(scrub("Hb 13.5 g/dL, BP 120/80, WBC 10500") == "Hb 13.5 g/dL, BP 120/80, WBC 10500")
        #expect(scrub("acct 12345678901") == "acct [ID]")
        #expect(scrub("with wife Susan (MRN#: 00012345)") == "with wife [NAME] ([MRN])")
        #expect(
            scrub("Strength 5/5, 2/6 murmur; seen on 3/14 and since 12/1. Take 1/2 tab.")
                == "Strength 5/5, 2/6 murmur; seen on [DATE] and since [DATE]. Take 1/2 tab.")
        #expect(scrub("72M, EF 35%, K 4.1, HR 88 at 14:35, ICD-10 E11.9") == "72M, EF 35%, K 4.1, HR 88 at 14:35, ICD-10 E11.9")
    }

    @Test func detectsIdentifierColumnsByTheirValues() throws {
        let out = try Output(SyntheticClinic.deidentifier(patientColumn: nil), text: SyntheticClinic.valuePatternCSV)
        #expect(out.table.columns == ["visit", "site_code"])
        #expect(try out.column("visit") == ["2023", "2023", "2024"])
        #expect(try out.column("site_code") == ["S1", "S2", "S1"])
        let contact = try out.report("contact")
        #expect(contact.kind == .email)
        #expect(contact.detectedBy == "values: 100% match")
        #expect(contact.action == .dropped)
        #expect(try out.report("ref").kind == .ssn)
        #expect(try out.report("ref").action == .dropped)
        #expect(try out.report("visit").kind == .date)
        #expect(try out.report("visit").detectedBy == "values: 100% match")
        #expect(try out.report("site_code").kind == .notIdentifier)

        // A column found to hold dates by its values: a cell that is not a date is scrubbed as
        // text rather than refused.
        let mixed = """
            visit
            2023-11-02
            "pending, seen Jan 5th"
            01/07/2024

            """
        let scrubbed = try Output(SyntheticClinic.deidentifier(patientColumn: nil), text: mixed)
        #expect(try scrubbed.column("visit") == ["2023", "pending, seen [DATE]", "2024"])
        #expect(try scrubbed.report("visit").tags == ["[DATE]": 1])
        #expect(try scrubbed.report("visit").note?.contains("1 cell(s)") == true)
    }

    @Test func detectsIdentifierColumnsByTheirNames() {
        let expected: [String: Deidentifier.IdentifierKind?] = [
            "patient_name": .name, "First Name": .name, "surname": .name, "LastName": .name, "street": .streetAddress,
            "Home Address": .streetAddress, "city": .city, "County": .county, "precinct": .geographicSubdivision,
            "latitude": .geographicSubdivision, "zip": .zipCode, "Postal Code": .zipCode, "zip5": .zipCode,
            "state": .state, "dob": .birthDate, "Birth Date": .birthDate, "date_of_birth": .birthDate,
            "admission date": .date, "admissionDate": .date, "Date of Death": .date, "phone": .phone,
            "home_phone": .phone, "fax": .fax, "email": .email, "E-mail": .email, "ssn": .ssn,
            "Social Security Number": .ssn, "mrn": .medicalRecord, "Medical Record Number": .medicalRecord,
            "account_number": .account, "health plan id": .healthPlan, "beneficiary": .healthPlan,
            "license": .license, "Licence No": .license, "vehicle": .vehicle, "VIN": .vehicle,
            "license plate": .vehicle, "device id": .device, "serial_number": .device, "url": .url, "ip": .ipAddress,
            "IP Address": .ipAddress, "biometric": .biometric, "photo": .photo, "age": .age, "Age (years)": .age,
            "clinical_notes": .freeText, "subject_id": .otherIdentifier, "hadm_id": .otherIdentifier,
            "drug_name": nil, "hospital_name": nil, "hba1c": nil, "country": nil, "birth_weight": nil, "ward": nil,
            "diagnosis": nil, "admission_type": nil, "device_type": nil, "stage": nil,
        ]
        for (name, kind) in expected {
            #expect(DeidColumnNames.kind(of: name) == kind, "\(name)")
        }
        #expect(DeidColumnNames.tokens("admissionDateUTC2") == ["admission", "date", "utc", "2"])
    }

    @Test func optionsOverrideDetection() throws {
        let out = try Output(
            SyntheticClinic.deidentifier(keep: ["city"], drop: ["diagnosis"], freeText: ["hba1c"]))
        #expect(try out.column("city") == ["Springfield", "Springfield", "Boston", "Hanover"])
        #expect(out.table.columnIndex(named: "diagnosis") == nil)
        let city = try out.report("city")
        #expect(city.action == .kept && city.detectedBy == "listed in keep")
        #expect(city.note?.contains("city") == true)
        #expect(try out.report("diagnosis").detectedBy == "listed in drop")
        #expect(try out.report("hba1c").kind == .freeText)
        #expect(try out.report("hba1c").detectedBy == "listed in freeText")
    }

    @Test func missingCellsStayAsTheyAre() throws {
        let text = """
            patient_id,zip,dob,age,mrn,note
            P1,,,,,
            P2,NA,unknown,n/a,N/A, 
            P3,02114,1960-01-01,50,X1,ok

            """
        let out = try Output(SyntheticClinic.deidentifier(), text: text)
        #expect(try out.column("zip") == ["", "NA", "021"])
        #expect(try out.column("dob") == ["", "unknown", "1960"])
        #expect(try out.column("age") == ["", "n/a", "50"])
        #expect(try out.column("mrn")[0...1] == ["", "N/A"])
        #expect(try out.column("note")[0...1] == ["", " "])
        #expect(try out.report("zip").cellsChanged == 1)
    }

    @Test func reportNamesEveryColumnAndNeverTheKey() throws {
        let out = try Output()
        #expect(out.report.columns.map(\.name) == (try SyntheticClinic.table()).columns)
        #expect(out.report.rows == 4)
        #expect(out.report.keyFingerprint == SyntheticClinic.key.fingerprint)
        #expect(out.report.keyFingerprint.count == 8)
        #expect(out.report.agesAsOf == "2025-06-01")
        let json = out.report.json()
        #expect(!json.contains(SyntheticClinic.key.hexText))
        #expect(json.contains("\"detectedBy\" : \"values: 75% free text\""))
        #expect(json.contains("\"action\" : \"truncated to 3 digits\""))
        #expect(
            out.report.description.contains(
                "\n  zip: ZIP code (column name) → truncated to 3 digits, 4 cells changed\n"))
        #expect(out.report.description.contains("[AGE 90+] ×1"))
        let decoded = try JSONDecoder().decode(DeidentificationReport.self, from: Data(json.utf8))
        #expect(decoded == out.report)
    }
}

@Suite struct DeidentifierDateShiftTests {
    static func iso(_ text: String) throws -> DeidCivilDate {
        let date = try #require(
            DeidDateParser(dayFirst: false, referenceYear: 2025).parse(text, compact: false, bareYear: false))
        return try #require(date.civil)
    }

    @Test func shiftsEachPatientConsistently() throws {
        let deidentifier = SyntheticClinic.deidentifier(dates: .shift)
        let out = try Output(deidentifier)
        let original = try SyntheticClinic.table()
        let originalDOB = ["1950-02-14", "1950-02-14", "1933-03-05", "1985-12-31"]
        let originalAdmission = ["2024-03-05", "2024-03-15", "2024-07-01", "2024-01-20"]
        let patients = try #require(original.column(named: "patient_id"))
        let dob = try out.column("dob")
        let admission = try out.column("admission_date")

        var shifts: [Int] = []
        for row in 0..<4 {
            let shift = deidentifier.dateShift(forPatient: patients[row])
            #expect((-365...365).contains(shift) && shift != 0)
            let shiftedAdmission = try Self.iso(admission[row])
            #expect(shiftedAdmission.daysSinceEpoch - (try Self.iso(originalAdmission[row])).daysSinceEpoch == shift)
            if row == 2 {
                #expect(dob[row] == "90+")  // born 1933: over 89
                continue
            }
            let shiftedDOB = try Self.iso(dob[row])
            #expect(shiftedDOB.daysSinceEpoch - (try Self.iso(originalDOB[row])).daysSinceEpoch == shift)
            // The interval from birth to admission is the patient's own.
            #expect(
                shiftedAdmission.daysSinceEpoch - shiftedDOB.daysSinceEpoch
                    == (try Self.iso(originalAdmission[row])).daysSinceEpoch
                    - (try Self.iso(originalDOB[row])).daysSinceEpoch)
            shifts.append(shift)
        }
        #expect(shifts[0] == shifts[1])  // the two admissions of PT-1001
        let third = deidentifier.dateShift(forPatient: "PT-2002")
        #expect(Set([shifts[0], third, shifts[2]]).count == 3)
        #expect(try out.report("admission_date").action == .shifted)
        #expect(out.report.dateRule == .shift)
    }

    @Test func shiftsSpreadOverTheYearAndDependOnTheKey() {
        let deidentifier = SyntheticClinic.deidentifier(dates: .shift)
        let other = SyntheticClinic.deidentifier(key: SyntheticClinic.otherKey, dates: .shift)
        var values = Set<Int>()
        var differ = 0
        for index in 0..<2000 {
            let shift = deidentifier.dateShift(forPatient: "patient-\(index)")
            #expect((-365...365).contains(shift) && shift != 0)
            values.insert(shift)
            if shift != other.dateShift(forPatient: "patient-\(index)") { differ += 1 }
        }
        #expect(values.count > 600)
        #expect(values.contains { $0 < -300 } && values.contains { $0 > 300 })
        #expect(differ > 1900)
    }

    @Test func dateFormatsAndArithmetic() throws {
        let parser = DeidDateParser(dayFirst: false, referenceYear: 2025)
        func parse(_ text: String) -> DeidParsedDate? { parser.parse(text, compact: true, bareYear: true) }
        #expect(parse("2024-03-05") == DeidParsedDate(year: 2024, month: 3, day: 5))
        #expect(parse("03/05/2024") == DeidParsedDate(year: 2024, month: 3, day: 5))
        #expect(parse("25/12/2024") == DeidParsedDate(year: 2024, month: 12, day: 25))
        #expect(parse("05.03.2024") == DeidParsedDate(year: 2024, month: 3, day: 5))
        #expect(parse("5 Mar 2024") == DeidParsedDate(year: 2024, month: 3, day: 5))
        #expect(parse("05-MAR-24 13:45") == DeidParsedDate(year: 2024, month: 3, day: 5))
        #expect(parse("March 5, 2024 10:30 AM") == DeidParsedDate(year: 2024, month: 3, day: 5))
        #expect(parse("Tue, 5 March 2024") == DeidParsedDate(year: 2024, month: 3, day: 5))
        #expect(parse("2024-03-05T08:15:00.123+01:00") == DeidParsedDate(year: 2024, month: 3, day: 5))
        #expect(parse("20240305") == DeidParsedDate(year: 2024, month: 3, day: 5))
        #expect(parse("1950-02-14 00:00:00+00") == DeidParsedDate(year: 1950, month: 2, day: 14))
        #expect(parse("14-Feb-1950") == DeidParsedDate(year: 1950, month: 2, day: 14))
        #expect(parse("February 14th, 1950") == DeidParsedDate(year: 1950, month: 2, day: 14))
        #expect(parse("03/05/45") == DeidParsedDate(year: 1945, month: 3, day: 5))
        #expect(parse("Mar 2024") == DeidParsedDate(year: 2024, month: 3, day: nil))
        #expect(parse("1999") == DeidParsedDate(year: 1999, month: nil, day: nil))
        #expect(parse("2024-02-30") == nil)
        #expect(parse("soon") == nil)
        #expect(
            DeidDateParser(dayFirst: true, referenceYear: 2025).parse("03/05/2024", compact: false, bareYear: false)
                == DeidParsedDate(year: 2024, month: 5, day: 3))
        for days in [-800_000, -1, 0, 59, 365 * 30 + 7, 2_000_000] {
            let date = DeidCivilDate(daysSinceEpoch: days)
            #expect(date.daysSinceEpoch == days)
        }
        #expect(DeidCivilDate(year: 2024, month: 2, day: 28).adding(days: 1).iso == "2024-02-29")
        #expect(DeidCivilDate(year: 2024, month: 12, day: 31).adding(days: 1).iso == "2025-01-01")
        #expect(DeidCivilDate(year: 1970, month: 1, day: 1).daysSinceEpoch == 0)
    }
}

@Suite struct DeidentifierPrivacyTests {
    /// Every place a value could leak: the CSV, the report as JSON and as text.
    func assertNoIdentifier(in texts: [String], _ comment: String) {
        for text in texts {
            for value in SyntheticClinic.identifiers {
                #expect(!text.contains(value), "\(comment) holds '\(value)'")
            }
        }
    }

    @Test func noIdentifierSurvivesInTheOutputOrTheReport() throws {
        let runs: [(Deidentifier, String)] = [
            (SyntheticClinic.deidentifier(dates: .yearOnly), SyntheticClinic.csv),
            (SyntheticClinic.deidentifier(dates: .shift), SyntheticClinic.csv),
            (SyntheticClinic.deidentifier(patientColumn: nil), SyntheticClinic.csv),
            (SyntheticClinic.deidentifier(patientColumn: nil), SyntheticClinic.valuePatternCSV),
        ]
        for (deidentifier, text) in runs {
            let out = try Output(deidentifier, text: text)
            assertNoIdentifier(
                in: [out.csv, out.report.json(), out.report.description], "\(deidentifier.options.dates)")
        }
    }

    @Test func errorsNameTheLineAndColumnButNeverTheCell() throws {
        let secret = "Jane Smith 12/13"
        let text = SyntheticClinic.csv.replacingOccurrences(of: "02/14/1950", with: secret)
        let error = try #require(throws: DeidentificationError.self) {
            try SyntheticClinic.deidentifier().deidentify(try SyntheticClinic.table(text))
        }
        #expect(
            error.description
                == "extract.csv, line 3, column 'dob': the cell is not a recognisable date (its content is not "
                + "shown, to protect patient data); correct it, or name the column in freeText to scrub it as text "
                + "or in drop to remove it")
        let badZIP = SyntheticClinic.csv.replacingOccurrences(of: "02114-1234", with: "Boston 02")
        let zipError = try #require(throws: DeidentificationError.self) {
            try SyntheticClinic.deidentifier().deidentify(try SyntheticClinic.table(badZIP))
        }
        #expect(zipError.description.hasPrefix("extract.csv, line 4, column 'zip': the cell is not a recognisable US ZIP code"))
        let badAge = SyntheticClinic.csv.replacingOccurrences(of: ",38,", with: ",Li Wei,")
        let ageError = try #require(throws: DeidentificationError.self) {
            try SyntheticClinic.deidentifier().deidentify(try SyntheticClinic.table(badAge))
        }
        #expect(ageError.description.hasPrefix("extract.csv, line 5, column 'age': the cell is not a recognisable age"))

        let noPatient = SyntheticClinic.csv.replacingOccurrences(of: "PT-3003,", with: ",")
        let patientError = try #require(throws: DeidentificationError.self) {
            try SyntheticClinic.deidentifier(dates: .shift).deidentify(try SyntheticClinic.table(noPatient))
        }
        #expect(patientError.description.hasPrefix("extract.csv, line 5, column 'patient_id': no patient identifier"))

        for message in [error, zipError, ageError, patientError].map(\.description) {
            assertNoIdentifier(in: [message], "error")
            #expect(!message.contains(secret) && !message.contains("Boston 02"))
        }
    }

    @Test func optionsNamingAbsentOrConflictingColumnsAreErrors() throws {
        let table = try SyntheticClinic.table()
        let unknown = try #require(throws: DeidentificationError.self) {
            try SyntheticClinic.deidentifier(keep: ["labs"]).deidentify(table)
        }
        #expect(unknown.description.hasPrefix("no column 'labs' (named in keep); the columns are 'patient_id', "))
        let patient = try #require(throws: DeidentificationError.self) {
            try SyntheticClinic.deidentifier(patientColumn: "subject").deidentify(table)
        }
        #expect(patient == .unknownColumn(name: "subject", role: "patientColumn", available: table.columns))
        #expect(throws: DeidentificationError.conflictingRoles(column: "city", roles: ["keep", "drop"])) {
            try SyntheticClinic.deidentifier(keep: ["city"], drop: ["city"]).deidentify(table)
        }
        #expect(throws: DeidentificationError.dateShiftNeedsPatientColumn) {
            try SyntheticClinic.deidentifier(dates: .shift, patientColumn: nil).deidentify(table)
        }
        #expect(throws: DeidentificationError.noColumnsLeft(source: "extract.csv")) {
            try SyntheticClinic.deidentifier(patientColumn: nil, drop: table.columns).deidentify(table)
        }
    }
}

@Suite struct DeidentifierCSVTests {
    @Test func quotingRoundTripsThroughTheParser() throws {
        let rows = [
            ["plain", "with, comma", "with \"quotes\"", "line\nbreak", "cr\r\nlf", ""],
            ["", "\"", ",", " spaced ", "e\u{301}\"\u{301}", "last"],
        ]
        let header = ["a", "b,c", "d\"e", "f", "g", "h"]
        let text = CSVWriter.write(header: header, rows: rows)
        let table = try CSVTable(text: text)
        #expect(table.columns == header)
        #expect(table.rows == rows)
        #expect(CSVWriter.field("with \"quotes\"") == "\"with \"\"quotes\"\"\"")
        #expect(CSVWriter.record(["x", "y"]) == "x,y\n")
        #expect(try CSVTable(text: CSVWriter.write(header: ["only"], rows: [[""], ["v"]])).rows == [[""], ["v"]])
    }

    @Test func deidentifiedTableRoundTrips() throws {
        let out = try Output()
        let again = try CSVTable(text: out.csv)
        #expect(again.rows == out.table.rows)
        #expect(try out.column("note")[2].contains("said \"tired\";"))
        #expect(try out.column("note")[3].contains("\n"))
        #expect(CSVWriter.write(header: again.columns, rows: again.rows) == out.csv)
    }
}

@Suite struct DeidentificationKeyTests {
    func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("deid-key-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test func keyFileRoundTripsWithMode0600() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("deid.key")
        let key = DeidentificationKey.generate()
        try key.write(to: url)

        let content = try String(contentsOf: url, encoding: .utf8)
        #expect(content.count == 65 && content.hasSuffix("\n"))
        #expect(content.dropLast().allSatisfy { "0123456789abcdef".contains($0) })
        let mode = try #require(FileManager.default.attributesOfItem(atPath: url.path)[.posixPermissions] as? Int)
        #expect(mode == 0o600)
        #expect(try DeidentificationKey(contentsOf: url) == key)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["deid.key"])

        // Surrounding whitespace and upper case are accepted.
        #expect(try DeidentificationKey(hex: "  \(content.dropLast().uppercased())\r\n\t") == key)
        #expect(DeidentificationKey.generate() != key)
    }

    @Test func writingNeverReplacesAKeyUnlessAsked() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("deid.key")
        let first = DeidentificationKey.generate()
        try first.write(to: url)
        let second = DeidentificationKey.generate()
        let error = try #require(throws: DeidentificationError.self) { try second.write(to: url) }
        #expect(error.description.contains("already exists"))
        #expect(try DeidentificationKey(contentsOf: url) == first)
        try second.write(to: url, overwrite: true)
        #expect(try DeidentificationKey(contentsOf: url) == second)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["deid.key"])
        #expect(throws: DeidentificationError.self) {
            try first.write(to: directory.appendingPathComponent("missing/deid.key"))
        }
    }

    @Test func badKeyFilesAreRefusedWithoutEchoingThem() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let contents = [
            "secret-patient-John-Doe-123-45-6789\n",
            String(repeating: "g", count: 64),
            String(repeating: "ab", count: 31) + "zz",
            String(repeating: "a1", count: 40),
            "",
            String(repeating: "secretsecret", count: 1000),
        ]
        for (index, content) in contents.enumerated() {
            let url = directory.appendingPathComponent("bad\(index).key")
            try Data(content.utf8).write(to: url)
            let error = try #require(throws: DeidentificationError.self) { try DeidentificationKey(contentsOf: url) }
            guard case .invalidKey(let source, _) = error else {
                Issue.record("unexpected error \(error)")
                continue
            }
            #expect(source == url.path)
            #expect(error.description.contains("not a de-identification key"))
            let message = error.description.replacingOccurrences(of: url.path, with: "")
            for fragment in ["secret", "John", "6789", "gggg", "zz", "abab", "a1a1"] {
                #expect(!message.contains(fragment), "\(message)")
            }
        }
        let missing = try #require(throws: DeidentificationError.self) {
            try DeidentificationKey(contentsOf: directory.appendingPathComponent("absent.key"))
        }
        #expect(missing.description.contains("cannot read the key file"))
        #expect(throws: DeidentificationError.self) { try DeidentificationKey(hex: "0123") }
    }

    @Test func theKeyNeverPrints() {
        let key = DeidentificationKey.generate()
        let hex = key.hexText
        #expect(hex.count == 64)
        var dumped = ""
        dump(key, to: &dumped)
        for text in [key.description, String(reflecting: key), "\(key)", dumped] {
            #expect(!text.contains(hex))
            #expect(!text.contains(String(hex.prefix(16))))
        }
        #expect(key.description == "DeidentificationKey(fingerprint: \(key.fingerprint))")
    }
}
