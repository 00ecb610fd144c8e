import Foundation
import Testing
@testable import ScalpelData

/// A message quotes the data it is about (a cell, a label, a category, a header name) cut to a
/// few dozen characters, so a huge or hostile cell never floods the terminal or a log.
@Suite struct CellQuotingTests {
    /// A cell of about 1 MB that starts like a patient's name.
    static let hugeCell = "John Q. Smith SSN 123-45-6789 " + String(repeating: "x", count: 1 << 20)

    func message(_ body: () throws -> Void) throws -> String {
        try #require(throws: ClinicDataError.self) { try body() }.description
    }

    /// The message quotes the cell's first characters and says how much was left out, and stays short.
    func expectCut(_ message: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(message.count < 400, "a \(message.count)-character message", sourceLocation: sourceLocation)
        #expect(message.contains("'John Q. Smith SSN 123-45-6789 xxxxxxxxxx…'"), "\(message.prefix(400))", sourceLocation: sourceLocation)
        #expect(message.contains("(1.0 MB)"), "\(message.prefix(400))", sourceLocation: sourceLocation)
        #expect(!message.contains(String(repeating: "x", count: 11)), sourceLocation: sourceLocation)
    }

    @Test func aHugeCellInANumericColumnIsQuotedCut() throws {
        let text = "age,diagnosis\n50,M\n\(Self.hugeCell),B\n"
        let strict = try message { _ = try TabularDataset(table: table(text), labelColumn: "diagnosis") }
        expectCut(strict)
        #expect(strict.hasPrefix("t.csv, line 3, column 'age': 'John Q. Smith"), "\(strict.prefix(200))")
        #expect(strict.hasSuffix(" is not a number"), "\(strict.suffix(100))")
        // With categories allowed, the same cell makes a mixed column; both cells are quoted cut.
        let mixed = try message { _ = try TabularDataset(table: table(text), labelColumn: "diagnosis", options: .init()) }
        expectCut(mixed)
        #expect(mixed.contains("(line 2: '50')"), "\(mixed.prefix(300))")
    }

    @Test func aHugeLabelIsQuotedCut() throws {
        let text = "age,diagnosis\n50,M\n51,B\n52,\(Self.hugeCell)\n"
        let unknown = try message {
            _ = try TabularDataset(table: table(text), labelColumn: "diagnosis", options: .init(knownClasses: ["B", "M"]))
        }
        expectCut(unknown)
        #expect(unknown.hasPrefix("t.csv, line 4, column 'diagnosis': class label 'John Q. Smith"), "\(unknown.prefix(200))")
        // Every distinct label of a file is listed when the positive class is absent; each is cut.
        let absent = try message { _ = try TabularDataset(table: table(text), labelColumn: "diagnosis", positiveClass: "X") }
        expectCut(absent)
    }

    @Test func aHugeHeaderNameIsQuotedCut() throws {
        let duplicate = try message { _ = try table("\(Self.hugeCell),\(Self.hugeCell)\n1,2\n") }
        expectCut(duplicate)
        let missing = try message { _ = try TabularDataset(table: table("\(Self.hugeCell),b\n1,2\n"), labelColumn: "diagnosis") }
        expectCut(missing)
        #expect(missing.contains("no label column 'diagnosis'"), "\(missing.prefix(200))")
    }

    @Test func aHugeTimeSeriesCellOrLabelIsQuotedCut() throws {
        let cell = try message { _ = try UCRDataset(text: "1\t0.5\t\(Self.hugeCell)\n2\t1\t2\n", source: "t.tsv") }
        expectCut(cell)
        #expect(cell.hasPrefix("t.tsv, line 1, field 3: 'John Q. Smith"), "\(cell.prefix(200))")
        let mapping = try UCRLabelMapping(labels: ["1", "2"])
        let label = try message { _ = try UCRDataset(text: "\(Self.hugeCell)\t0.5\n", source: "t.tsv", labelMapping: mapping) }
        expectCut(label)
    }

    @Test func controlCharactersInACellAreShownEscaped() throws {
        // A terminal escape sequence in a cell must not reach the terminal as one.
        let quoted = try message { _ = try TabularDataset(table: table("age,diagnosis\n50,M\n\"\u{1B}[2J\nx\u{7}\",B\n"), labelColumn: "diagnosis") }
        #expect(!quoted.contains("\u{1B}") && !quoted.contains("\n") && !quoted.contains("\u{7}"), "\(quoted.debugDescription)")
        #expect(quoted.contains("'\\u{1B}[2J\\nx\\u{7}'"), "\(quoted.debugDescription)")
    }

    @Test func aConfidentialSourceNamesThePlaceNeverTheContent() throws {
        func confidential(_ text: String) throws(ClinicDataError) -> CSVTable {
            try CSVTable(bytes: Array(text.utf8), source: "t.enc", confidential: true)
        }
        func expectWithheld(_ message: String, _ expected: String, sourceLocation: SourceLocation = #_sourceLocation) {
            #expect(message == expected, sourceLocation: sourceLocation)
            #expect(!message.contains("Smith"), "\(message)", sourceLocation: sourceLocation)
        }
        // Before a column is found by name the first row may be a patient's: fields go by position.
        expectWithheld(try message { _ = try confidential("Smith,1\n1,2,3\n") },
                       "t.enc, line 2, field 3: the row has 3 fields where the header has 2 (extra field beyond the header)")
        expectWithheld(try message { _ = try confidential("Smith,Smith\n1,2\n") },
                       "t.enc, line 1, field 2: duplicate header name (the same as field 1's; content withheld: the data is encrypted)")
        expectWithheld(try message { _ = try TabularDataset(table: confidential("Smith,b\n1,2\n"), labelColumn: "dx") },
                       "t.enc: no label column 'dx' among the 2 names of the header (content withheld: the data is encrypted)")
        // Once the label column is found, the header is one and names the column.
        expectWithheld(try message { _ = try TabularDataset(table: confidential("a,dx\n1,x\nSmith,y\n"), labelColumn: "dx", options: .init()) },
                       "t.enc, line 3, column 'a': the cell is not a number, but the column holds numbers (the first on line 2); "
                        + "a column must hold only numbers or only categories (words) (content withheld: the data is encrypted)")
        expectWithheld(try message { _ = try TabularDataset(table: confidential("a,dx\n1,x\n2,NA\n"), labelColumn: "dx", options: .init()) },
                       "t.enc, line 3, column 'dx': missing label (a missing-value marker); every row needs a label")
        expectWithheld(try message { _ = try TabularDataset(table: confidential("a,dx\n1,Smith\n2,Smith\n"), labelColumn: "dx") },
                       "t.enc, column 'dx': at least two classes are needed; found 1 (content withheld: the data is encrypted)")
        expectWithheld(
            try message { _ = try TabularDataset(table: confidential("a,dx\n1,Smith\n2,B\n"), labelColumn: "dx", positiveClass: "M") },
            "t.enc, column 'dx': positive class 'M' does not occur among the 2 label values (content withheld: the data is encrypted)")
        expectWithheld(try message { _ = try UCRDataset(bytes: Array("1\t0.5\n2\tSmith\n".utf8), source: "t.enc", confidential: true) },
                       "t.enc, line 2, field 2: the cell is not a number (value 1) (content withheld: the data is encrypted)")
        // An .npy header is quoted from a plain file, not from a confidential one.
        let header = npyBytes(header: "{'descr': 'Smith', 'fortran_order': False, 'shape': (2,) 'x'}")
        let withheld = try message { _ = try NPYArray(bytes: header, source: "t.enc", confidential: true) }
        #expect(withheld.hasPrefix("t.enc: not a valid .npy array: cannot parse the header: expected ',' or '}' at character "), "\(withheld)")
        #expect(!withheld.contains("Smith"), "\(withheld)")
        #expect(try message { _ = try NPYArray(bytes: header, source: "t.npy") }.contains("{'descr': 'Smith'"))
    }

    @Test func shortCellsAreQuotedWhole() throws {
        #expect(try message { _ = try TabularDataset(table: table("a,y\n1,M\nabc,B\n"), labelColumn: "y") }
            == "t.csv, line 3, column 'a': 'abc' is not a number")
    }
}
