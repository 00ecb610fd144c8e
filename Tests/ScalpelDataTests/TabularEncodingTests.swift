import Foundation
import Testing
@testable import ScalpelData

/// One-hot encoding of categorical columns, missing values, and the errors that stay errors.
@Suite struct TabularEncodingTests {
    func dataset(
        _ text: String, label: String = "dx", drop: [String] = [], options: TabularDataset.Options = .init()
    ) throws(ClinicDataError) -> TabularDataset {
        try TabularDataset(table: table(text), labelColumn: label, dropColumns: drop, options: options)
    }

    func message(
        _ text: String, label: String = "dx", drop: [String] = [], options: TabularDataset.Options = .init()
    ) throws -> String {
        try #require(throws: ClinicDataError.self) {
            try dataset(text, label: label, drop: drop, options: options)
        }.description
    }

    @Test func wordColumnsAreOneHotEncodedWithSortedCategories() throws {
        let d = try dataset("age,sex,site,dx\n50,M,north,x\n61,F,south,y\n70,M,east,x\n")
        #expect(d.featureNames == ["age", "sex=F", "sex=M", "site=east", "site=north", "site=south"])
        #expect(d.featureKinds == [
            .numeric, .oneHot(column: "sex", category: "F"), .oneHot(column: "sex", category: "M"),
            .oneHot(column: "site", category: "east"), .oneHot(column: "site", category: "north"),
            .oneHot(column: "site", category: "south"),
        ])
        #expect(d.featureColumns == ["age", "sex", "sex", "site", "site", "site"])
        #expect(d.features == [
            50, 0, 1, 0, 1, 0,
            61, 1, 0, 0, 0, 1,
            70, 0, 1, 1, 0, 0,
        ])
        #expect(d.missingCounts == [0, 0, 0, 0, 0, 0] && !d.hasMissingValues)
    }

    @Test func quotedCategoriesMayHoldCommasAndQuotes() throws {
        let d = try dataset("age,clinic,dx\n1,\"Smith, J\",x\n2,\"Doe, \"\"A\"\"\",y\n3,\"Smith, J\",x\n")
        #expect(d.featureNames == ["age", "clinic=Doe, \"A\"", "clinic=Smith, J"])
        #expect(d.features == [1, 0, 1, 2, 1, 0, 3, 0, 1])
    }

    @Test func categoriesComeFromAllRowsAndSurroundingBlanksAreTrimmed() throws {
        let d = try dataset("sex,dx\n M ,x\nF,y\nX\t,y\n")
        #expect(d.featureNames == ["sex=F", "sex=M", "sex=X"])
        // The validation/test rows of a split keep the features of categories only they have.
        let s = d.subset([0])
        #expect(s.featureNames == d.featureNames && s.featureKinds == d.featureKinds)
        #expect(s.features == [0, 1, 0])
    }

    @Test func missingCellsAreNaNAndCountedPerFeature() throws {
        let d = try dataset("age,bp,sex,dx\n50,,M,x\nNA,120,,y\n70, ? ,F,x\n80,130,M,y\n")
        #expect(d.featureNames == ["age", "bp", "sex=F", "sex=M"])
        #expect(d.missingCounts == [1, 2, 1, 1] && d.hasMissingValues)
        #expect(d.features[0] == 50 && d.features[1].isNaN)
        #expect(d.features[4].isNaN && d.features[5] == 120 && d.features[6].isNaN && d.features[7].isNaN)
        #expect(d.features[9].isNaN && d.features[10] == 1 && d.features[11] == 0)
        // A subset counts its own missing cells.
        #expect(d.subset([3, 0]).missingCounts == [0, 1, 0, 0])
        #expect(d.subset([3]).features == [80, 130, 0, 1])
    }

    @Test func missingMarkersAreConfigurable() throws {
        let na = try dataset("a,dx\n1,x\nnot measured,y\n", options: .init(missingMarkers: ["not measured"]))
        #expect(na.missingCounts == [1] && na.features[0] == 1 && na.features[1].isNaN)
        // With only the empty cell as a marker, "NA" in a numeric column is a word among numbers.
        #expect(try message("a,dx\n1,x\nNA,y\n", options: .init(missingMarkers: [""]))
            == "t.csv, line 3, column 'a': 'NA' is not a number, but the column holds numbers (line 2: '1'); "
            + "a column must hold only numbers or only categories (words)")
        // "NaN" is bad data unless it is listed as a marker.
        let nan = try dataset("a,dx\n1,x\nNaN,y\n", options: .init(missingMarkers: ["NaN"]))
        #expect(nan.missingCounts == [1])
    }

    @Test func aColumnMixingNumbersAndWordsNamesTheFirstWord() throws {
        let numbersFirst = try message("y,a,b\n1,0.5,2\n0,oops,3\n", label: "y")
        #expect(numbersFirst == "t.csv, line 3, column 'a': 'oops' is not a number, but the column holds numbers "
            + "(line 2: '0.5'); a column must hold only numbers or only categories (words)")
        let wordsFirst = try message("sex,dx\nM,x\nF,y\n1,x\n")
        #expect(wordsFirst == "t.csv, line 2, column 'sex': 'M' is not a number, but the column holds numbers "
            + "(line 4: '1'); a column must hold only numbers or only categories (words)")
    }

    @Test func nanInfinityAndOverflowRemainErrorsInEveryColumn() throws {
        #expect(try message("a,dx\n1,x\nNaN,y\n")
            == "t.csv, line 3, column 'a': 'NaN' is NaN; a finite number is required")
        #expect(try message("a,dx\n1,x\n-Infinity,y\n")
            == "t.csv, line 3, column 'a': '-Infinity' is infinite; a finite number is required")
        #expect(try message("a,dx\n1e39,x\n2,y\n")
            == "t.csv, line 2, column 'a': '1e39' is outside the range of a 32-bit float")
        // In a word column too: NaN is not a category.
        #expect(try message("sex,dx\nM,x\ninf,y\n")
            == "t.csv, line 3, column 'sex': 'inf' is infinite; a finite number is required")
        #expect(try message("cp,dx\n1,x\nnan,y\n", options: .init(categoricalColumns: ["cp"]))
            == "t.csv, line 3, column 'cp': 'nan' is NaN; a finite number is required")
    }

    @Test func theFirstBadCellInReadingOrderIsReported() throws {
        // Column b's word on line 2 comes before column a's NaN on line 3.
        #expect(try message("a,b,dx\n1,x,p\nNaN,2,q\n").hasPrefix("t.csv, line 2, column 'b': 'x' is not a number, but"))
        // On one line, the leftmost column.
        #expect(try message("a,b,dx\n1,2,p\ninf,NaN,q\n") == "t.csv, line 3, column 'a': 'inf' is infinite; a finite number is required")
    }

    @Test func aMissingLabelIsAnError() throws {
        #expect(try message("a,dx\n1,x\n2,NA\n") == "t.csv, line 3, column 'dx': missing label 'NA' (a missing-value marker); "
            + "every row needs a label")
        #expect(try message("a,dx\n1,x\n2, ?\n") == "t.csv, line 3, column 'dx': missing label ' ?' (a missing-value marker); "
            + "every row needs a label")
        #expect(try message("a,dx\n1,x\n2,\n") == "t.csv, line 3, column 'dx': empty label")
    }

    @Test func aColumnWithEveryCellMissingIsAnError() throws {
        #expect(try message("a,b,dx\n1,,x\n2,NA,y\n") == "t.csv, column 'b': every one of the 2 cells is missing; drop the column")
    }

    @Test func numericCodesCanBeDeclaredCategorical() throws {
        let d = try dataset("cp,age,dx\n4,50,x\n1,61,y\n,70,x\n2,80,y\n", options: .init(categoricalColumns: ["cp"]))
        #expect(d.featureNames == ["cp=1", "cp=2", "cp=4", "age"])
        #expect(d.features[0..<4] == [0, 0, 1, 50])
        #expect(d.missingCounts == [1, 1, 1, 0])
        // Declared categorical, a column may mix codes and words.
        let mixed = try dataset("stage,dx\n1,x\n3a,y\n", options: .init(categoricalColumns: ["stage"]))
        #expect(mixed.featureNames == ["stage=1", "stage=3a"])

        #expect(try message("a,dx\n1,x\n2,y\n", options: .init(categoricalColumns: ["cp"]))
            == "t.csv: no categorical column 'cp'; the columns are 'a', 'dx'")
        #expect(try message("a,dx\n1,x\n2,y\n", options: .init(categoricalColumns: ["dx"]))
            == "t.csv, column 'dx': listed as categorical but it is the label")
        #expect(try message("id,a,dx\n1,1,x\n2,2,y\n", drop: ["id"], options: .init(categoricalColumns: ["id"]))
            == "t.csv, column 'id': listed as categorical but it is dropped")
    }

    @Test func strictOptionsAreTheDefaultAndRefuseWordsAndGaps() throws {
        let text = "age,sex,dx\n50,M,x\n61,F,y\n"
        let strict = try #require(throws: ClinicDataError.self) {
            try TabularDataset(table: table(text), labelColumn: "dx")
        }
        #expect(strict.description == "t.csv, line 2, column 'sex': 'M' is not a number")
        #expect(try message(text, options: .strict) == strict.description)
        #expect(try message("a,dx\n1,x\n,y\n", options: .strict)
            == "t.csv, line 3, column 'a': '' is empty; a number is required")
        // Detection off, markers on: words are still errors, gaps are missing.
        let noDetection = TabularDataset.Options(detectCategorical: false)
        #expect(try message(text, options: noDetection) == "t.csv, line 2, column 'sex': 'M' is not a number")
        #expect(try dataset("a,dx\n1,x\n,y\n", options: noDetection).missingCounts == [1])
    }

    @Test func wdbcReadsTheSameWithTheClinicalOptions() throws {
        let strict = try TabularDataset.load(from: wdbcURL, labelColumn: "diagnosis", positiveClass: "M")
        let clinical = try TabularDataset.load(
            from: wdbcURL, labelColumn: "diagnosis", positiveClass: "M", dropColumns: [], options: .init())
        #expect(clinical == strict)
        #expect(clinical.featureKinds.allSatisfy { $0 == .numeric } && !clinical.hasMissingValues)
        #expect(clinical.missingCounts == [Int](repeating: 0, count: 30))
    }
}
