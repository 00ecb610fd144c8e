import Foundation
import Testing
@testable import ScalpelData

/// Reading well-formed CSV: quoting, line breaks of both kinds, and the line numbers kept for
/// later error messages.
@Suite struct CSVTableTests {
    @Test func readsHeaderAndRows() throws {
        let t = try table("a,b,c\n1,2,3\n4,5,6\n")
        #expect(t.columns == ["a", "b", "c"])
        #expect(t.rows == [["1", "2", "3"], ["4", "5", "6"]])
        #expect(t.lineNumbers == [2, 3])
        #expect(t.source == "t.csv")
        #expect(t.column(named: "b") == ["2", "5"])
        #expect(t.columnIndex(named: "c") == 2 && t.columnIndex(named: "z") == nil)
    }

    @Test func crlfAndLFAndNoTrailingNewlineReadTheSame() throws {
        let expected = try table("a,b\n1,2\n3,4\n")
        #expect(try table("a,b\r\n1,2\r\n3,4\r\n") == expected)
        #expect(try table("a,b\r\n1,2\r\n3,4") == expected)
        #expect(try table("a,b\n1,2\n3,4") == expected)
        #expect(try table("a,b\r1,2\r3,4\r") == expected)
        #expect(try table("a,b\n1,2\n3,4\n\n\r\n") == expected)
    }

    @Test func quotedFieldsHoldCommasQuotesAndLineBreaks() throws {
        let text = "name,note\n\"Doe, Jane\",\"said \"\"ouch\"\"\"\n\"multi\r\nline\",\"\"\nlast,\"x\"\n"
        let t = try table(text)
        #expect(t.rows == [["Doe, Jane", "said \"ouch\""], ["multi\r\nline", ""], ["last", "x"]])
        // The quoted line break makes row 2 span lines 3 and 4, so row 3 starts on line 5.
        #expect(t.lineNumbers == [2, 3, 5])
    }

    @Test func emptyFieldsAndATrailingCommaAreEmptyCells() throws {
        let t = try table("a,b,c\n,,\n1,,\n")
        #expect(t.rows == [["", "", ""], ["1", "", ""]])
    }

    @Test func aHeaderWithoutRowsIsAnEmptyTable() throws {
        let t = try table("a,b\n")
        #expect(t.columns == ["a", "b"] && t.rowCount == 0)
    }

    @Test func aByteOrderMarkIsNotPartOfTheFirstName() throws {
        let t = try CSVTable(bytes: [0xEF, 0xBB, 0xBF] + Array("id,x\n1,2\n".utf8), source: "bom.csv")
        #expect(t.columns == ["id", "x"])
    }

    @Test func cellsKeepUnicodeAndSpacesAsWritten() throws {
        let t = try table("patient,site\n Zoë ,\"café, Zürich\"\n")
        #expect(t.rows == [[" Zoë ", "café, Zürich"]])
    }

    @Test func loadsAFileAndNamesItsPathInErrors() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("clinic-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let good = directory.appendingPathComponent("good.csv")
        try Data("x,y\n1,2\n".utf8).write(to: good)
        #expect(try CSVTable.load(from: good).rows == [["1", "2"]])

        let bad = directory.appendingPathComponent("bad.csv")
        try Data("x,y\n1\n".utf8).write(to: bad)
        let error = try #require(throws: ClinicDataError.self) { try CSVTable.load(from: bad) }
        #expect(error.description.hasPrefix("\(bad.path), line 2, column 'y':"))

        let missing = directory.appendingPathComponent("missing.csv")
        let unreadable = try #require(throws: ClinicDataError.self) { try CSVTable.load(from: missing) }
        guard case .unreadable = unreadable else { Issue.record("expected .unreadable, got \(unreadable)"); return }
        #expect(unreadable.description.hasPrefix("\(missing.path): cannot be read"))
    }
}
