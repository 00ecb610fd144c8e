import Testing
@testable import ScalpelData

/// Each malformed file is refused with a message that names the file, the line and the column.
@Suite struct CSVErrorTests {
    func message(_ text: String) throws -> String {
        try #require(throws: ClinicDataError.self) { try table(text) }.description
    }

    func message(bytes: [UInt8]) throws -> String {
        try #require(throws: ClinicDataError.self) { try CSVTable(bytes: bytes, source: "t.csv") }.description
    }

    @Test func emptyFile() throws {
        #expect(try message("") == "t.csv: the file is empty; a header row is required")
        #expect(try message("\r\n\n") == "t.csv: the file is empty; a header row is required")
    }

    @Test func emptyHeaderName() throws {
        #expect(try message("a,,c\n1,2,3\n") == "t.csv, line 1, field 2: empty header name; every column needs a name")
        #expect(try message("a, \n") == "t.csv, line 1, field 2: empty header name; every column needs a name")
    }

    @Test func duplicateHeaderName() throws {
        #expect(
            try message("a,b,a\n1,2,3\n")
                == "t.csv, line 1, field 3: duplicate header name 'a' (already the name of field 1)")
    }

    @Test func rowWithTooFewFieldsNamesTheFirstMissingColumn() throws {
        #expect(
            try message("a,b,c\n1,2,3\n4,5\n")
                == "t.csv, line 3, column 'c': the row has 2 fields where the header has 3 (missing from this column on)")
    }

    @Test func rowWithTooManyFieldsNamesTheExtraField() throws {
        #expect(
            try message("a,b\n1,2\n3,4,5\n")
                == "t.csv, line 3, field 3: the row has 3 fields where the header has 2 (extra field beyond the header)")
    }

    @Test func blankLineInTheMiddleIsARaggedRow() throws {
        #expect(
            try message("a,b\n1,2\n\n3,4\n")
                == "t.csv, line 3, column 'b': the row has 1 field where the header has 2 (missing from this column on)")
    }

    @Test func lineNumbersCountLineBreaksInsideQuotes() throws {
        #expect(
            try message("a,b\r\n\"x\r\ny\",1\r\nbad\r\n")
                == "t.csv, line 4, column 'b': the row has 1 field where the header has 2 (missing from this column on)")
    }

    @Test func unterminatedQuoteNamesWhereItOpened() throws {
        #expect(
            try message("a,b\n1,\"open\n2,3\n4,5\n")
                == "t.csv, line 2, column 'b': a quoted field opened here is never closed")
    }

    @Test func textAfterAClosingQuote() throws {
        #expect(
            try message("a,b\n1,2\n\"x\"y,3\n")
                == "t.csv, line 3, column 'a': malformed quoting: text after the closing quote of a quoted field")
    }

    @Test func quoteInsideAnUnquotedField() throws {
        #expect(
            try message("a,b\n1,2 \"in\"\n")
                == "t.csv, line 2, column 'b': malformed quoting: "
                + "a quote inside an unquoted field; quote the whole field and double the inner quote")
    }

    @Test func nulByteIsNotText() throws {
        #expect(try message(bytes: Array("a,b\n1,2\n3,x".utf8) + [0] + Array("\n".utf8))
            == "t.csv, line 3, column 'b': not a text file: NUL byte")
        #expect(try message(bytes: Array("a,b\n\"1".utf8) + [0] + Array("\",2\n".utf8))
            == "t.csv, line 2, column 'a': not a text file: NUL byte")
    }

    @Test func invalidUTF8IsNotText() throws {
        #expect(try message(bytes: Array("a,b\n1,2\n".utf8) + [0xFF, 0xFE] + Array(",4\n".utf8))
            == "t.csv, line 3, column 'a': not a text file: invalid UTF-8")
        #expect(try message(bytes: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
            == "t.csv, line 1, field 1: not a text file: invalid UTF-8")
    }
}
