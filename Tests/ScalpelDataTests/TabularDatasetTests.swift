import Testing
@testable import ScalpelData

/// Turning a table into features and labels, and refusing cells that are not numbers.
@Suite struct TabularDatasetTests {
    func dataset(
        _ text: String, label: String = "dx", positive: String? = nil, drop: [String] = []
    ) throws(ClinicDataError) -> TabularDataset {
        try TabularDataset(table: table(text), labelColumn: label, positiveClass: positive, dropColumns: drop)
    }

    func message(
        _ text: String, label: String = "dx", positive: String? = nil, drop: [String] = []
    ) throws -> String {
        try #require(throws: ClinicDataError.self) {
            try dataset(text, label: label, positive: positive, drop: drop)
        }.description
    }

    @Test func wdbcLoadsWithMalignantAsPositive() throws {
        let wdbc = try TabularDataset.load(from: wdbcURL, labelColumn: "diagnosis", positiveClass: "M")
        #expect(wdbc.rowCount == 569)
        #expect(wdbc.featureCount == 30)
        #expect(wdbc.features.count == 569 * 30)
        #expect(wdbc.classNames == ["B", "M"])
        #expect(wdbc.classCounts == [357, 212])
        #expect(wdbc.featureNames.first == "radius_mean" && wdbc.featureNames.last == "fractal_dimension_worst")
        // The first data row (line 2) is malignant with radius_mean 17.99 and texture_mean 10.38.
        #expect(wdbc.labels[0] == 1 && wdbc.lineNumbers[0] == 2)
        #expect(wdbc.features[0] == 17.99 && wdbc.features[1] == 10.38)
        #expect(wdbc.features.allSatisfy { $0.isFinite })
    }

    @Test func withoutAPositiveClassTheClassesAreTheSortedValues() throws {
        let wdbc = try TabularDataset.load(from: wdbcURL, labelColumn: "diagnosis")
        #expect(wdbc.classNames == ["B", "M"] && wdbc.classCounts == [357, 212])

        let three = try dataset("x,dx\n1,flu\n2,cold\n3,covid\n4,cold\n")
        #expect(three.classNames == ["cold", "covid", "flu"])
        #expect(three.labels == [2, 0, 1, 0])
    }

    @Test func aPositiveClassAmongSeveralValuesMakesTheRestOneClass() throws {
        let d = try dataset("x,dx\n1,flu\n2,cold\n3,covid\n", positive: "covid")
        #expect(d.classNames == ["not covid", "covid"])
        #expect(d.labels == [0, 0, 1])
    }

    @Test func featuresAreRowMajorInHeaderOrderWithoutTheLabelOrDroppedColumns() throws {
        let d = try dataset("id,age,dx,bp\nP1,50,M,120.5\nP2, 61 ,B,-1e2\n", positive: "M", drop: ["id"])
        #expect(d.featureNames == ["age", "bp"])
        #expect(d.features == [50, 120.5, 61, -100])
        #expect(d.labels == [1, 0])
        #expect(d.labelColumn == "dx" && d.source == "t.csv")
    }

    @Test func subsetKeepsRowsInTheGivenOrder() throws {
        let d = try dataset("a,b,dx\n1,2,x\n3,4,y\n5,6,x\n")
        let s = d.subset([2, 0])
        #expect(s.features == [5, 6, 1, 2] && s.labels == [0, 0] && s.lineNumbers == [4, 2])
        #expect(s.classNames == d.classNames && s.featureNames == d.featureNames)
    }

    @Test func nonNumericCellsNameLineColumnAndText() throws {
        let header = "age,bp,dx\n"
        #expect(try message(header + "1,2,M\n3,abc,B\n") == "t.csv, line 3, column 'bp': 'abc' is not a number")
        #expect(try message(header + "1,,M\n3,4,B\n") == "t.csv, line 2, column 'bp': '' is empty; a number is required")
        #expect(try message(header + "1,2,M\nNaN,4,B\n")
            == "t.csv, line 3, column 'age': 'NaN' is NaN; a finite number is required")
        #expect(try message(header + "1,-inf,M\n3,4,B\n")
            == "t.csv, line 2, column 'bp': '-inf' is infinite; a finite number is required")
        #expect(try message(header + "1e39,2,M\n3,4,B\n")
            == "t.csv, line 2, column 'age': '1e39' is outside the range of a 32-bit float")
        #expect(try message(header + "1,2,M\n3,4 kg,B\n") == "t.csv, line 3, column 'bp': '4 kg' is not a number")
    }

    @Test func missingLabelColumnListsTheColumns() throws {
        #expect(try message("a,b\n1,2\n", label: "diagnosis")
            == "t.csv: no label column 'diagnosis'; the columns are 'a', 'b'")
        #expect(try message("a,dx\n1,x\n2,y\n", drop: ["id"])
            == "t.csv: no dropped column 'id'; the columns are 'a', 'dx'")
    }

    @Test func fewerThanTwoClassesIsRefused() throws {
        #expect(try message("a,dx\n1,B\n2,B\n") == "t.csv, column 'dx': at least two classes are needed; found 'B'")
        #expect(try message("a,dx\n") == "t.csv, column 'dx': at least two classes are needed; found none")
        #expect(try message("a,dx\n1,M\n", positive: "M")
            == "t.csv, column 'dx': at least two classes are needed; found 'M'")
    }

    @Test func aPositiveClassThatNeverOccursIsRefused() throws {
        #expect(try message("a,dx\n1,B\n2,M\n", positive: "malignant")
            == "t.csv, column 'dx': positive class 'malignant' does not occur; the values are 'B', 'M'")
    }

    @Test func anEmptyLabelIsRefused() throws {
        #expect(try message("a,dx\n1,B\n2,\n3,M\n") == "t.csv, line 3, column 'dx': empty label")
    }

    @Test func aTableWithOnlyTheLabelHasNoFeatures() throws {
        #expect(try message("id,dx\n1,B\n2,M\n", drop: ["id"]) == "t.csv: no feature columns are left besides the label")
    }
}
