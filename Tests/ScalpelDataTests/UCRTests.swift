import Foundation
import Testing
@testable import ScalpelData

/// The ECG5000 split of the UCR archive, kept outside the repository in ../shared/datasets.
let ecg5000TrainURL = repositoryRoot.appendingPathComponent("Data/ECG5000_TRAIN.tsv")
let ecg5000TestURL = repositoryRoot.appendingPathComponent("Data/ECG5000_TEST.tsv")

/// A fresh temporary folder holding `files` (name → text); removed by the caller.
func temporaryFolder(_ files: [String: String]) throws -> URL {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("scalpel-ucr-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    for (name, text) in files {
        try Data(text.utf8).write(to: folder.appendingPathComponent(name))
    }
    return folder
}

@Suite struct UCRFormatTests {
    func load(_ text: String, options: UCRDataset.Options = .init()) throws(ClinicDataError) -> UCRDataset {
        try UCRDataset(text: text, source: "t.tsv", options: options)
    }

    @Test func tabSeparatedFile() throws {
        let data = try load("1\t0.5\t1.5\t-2\n2\t3\t4e1\t5\n1\t-1\t0\t1\n")
        #expect(data.delimiter == .tab)
        #expect(data.count == 3)
        #expect(data.seriesLength == 3)
        #expect(data.lengths == [3, 3, 3])
        #expect(!data.isVariableLength)
        #expect(data.values == [0.5, 1.5, -2, 3, 40, 5, -1, 0, 1])
        #expect(data.labels == [0, 1, 0])
        #expect(data.classNames == ["1", "2"])
        #expect(data.classCounts == [2, 1])
        #expect(data.lineNumbers == [1, 2, 3])
        #expect(Array(data.series(at: 1)) == [3, 40, 5])
    }

    @Test func commaAndWhitespaceFilesReadLikeTabs() throws {
        let tabs = try load("1\t0.5\t1.5\n2\t3\t4\n")
        let commas = try load("1,0.5,1.5\r\n2, 3 ,4\r\n")
        let spaces = try load("   1.0000000e+00   5.0000000e-01   1.5000000e+00\n  2.0000000e+00  3  4  \n")
        #expect(commas.delimiter == .comma)
        #expect(spaces.delimiter == .whitespace)
        for other in [commas, spaces] {
            #expect(other.values == tabs.values)
            #expect(other.labels == tabs.labels)
            #expect(other.count == 2)
        }
        // The first spelling of each label is the class name.
        #expect(spaces.classNames == ["1.0000000e+00", "2.0000000e+00"])
    }

    @Test func lineEndingsByteOrderMarkAndTrailingBlankLines() throws {
        let expected = try load("1\t1\t2\n2\t3\t4\n")
        for text in ["\u{FEFF}1\t1\t2\n2\t3\t4\n", "1\t1\t2\r2\t3\t4\r", "1\t1\t2\r\n2\t3\t4", "1\t1\t2\n2\t3\t4\n\n \n\t\n"] {
            let data = try load(text)
            #expect(data.values == expected.values)
            #expect(data.labels == expected.labels)
            #expect(data.lineNumbers == [1, 2])
        }
    }

    @Test func numericLabelsAreOrderedByValue() throws {
        let data = try load("10\t1\n9\t2\n2\t3\n-1\t4\n2.0\t5\n")
        #expect(data.classNames == ["-1", "2", "9", "10"])
        #expect(data.labels == [3, 2, 1, 0, 1])
        #expect(data.labelMapping.isNumeric)
        #expect(data.labelMapping.classIndex(of: " 9.0 ") == 2)
        #expect(data.labelMapping.classIndex(of: "3") == nil)
        #expect(data.labelMapping.classIndex(of: "x") == nil)
    }

    @Test func minusOneAndOneBecomeZeroAndOne() throws {
        let data = try load("1\t0.1\n-1\t0.2\n1\t0.3\n")
        #expect(data.classNames == ["-1", "1"])
        #expect(data.labels == [1, 0, 1])
    }

    @Test func textLabelsAreOrderedAsText() throws {
        let data = try load("normal\t1\nabnormal\t2\n3\t3\n")
        #expect(!data.labelMapping.isNumeric)
        #expect(data.classNames == ["3", "abnormal", "normal"])
        #expect(data.labels == [2, 1, 0])
    }

    @Test func trailingNaNIsPaddingAndLengthsAreKept() throws {
        let data = try load("1\t1\t2\t3\n2\t4\t5\tNaN\n1\t6\tnan\tNaN\n")
        #expect(data.seriesLength == 3)
        #expect(data.lengths == [3, 2, 1])
        #expect(data.isVariableLength)
        #expect(data.values == [1, 2, 3, 4, 5, 0, 6, 0, 0])
        #expect(data.mask() == [1, 1, 1, 1, 1, 0, 1, 0, 0])
        #expect(Array(data.validValues(at: 1)) == [4, 5])
    }

    @Test func longestSeriesSetsTheLengthEvenWhenAllArePadded() throws {
        let data = try load("1,1,2,NaN,NaN\n2,3,NaN,NaN,NaN\n")
        #expect(data.seriesLength == 2)
        #expect(data.lengths == [2, 1])
        #expect(data.values == [1, 2, 3, 0])
    }

    @Test func zNormalisationUsesEachSeriesOwnValues() throws {
        let data = try load("1\t1\t2\t3\n2\t7\t7\t7\n1\t2\t4\tNaN\n", options: .init(zNormalize: true))
        #expect(data.isZNormalized)
        let root = Float(1.5).squareRoot()
        let expected: [Float] = [-root, 0, root, 0, 0, 0, -1, 1, 0]
        #expect(zip(data.values, expected).allSatisfy { abs($0 - $1) < 1e-6 })
        #expect(data.values[8] == 0)  // padding stays zero
    }

    @Test func paddingFurtherAndRefusingToShrink() throws {
        let data = try load("1\t1\t2\n2\t3\tNaN\n")
        let longer = try data.padded(to: 4)
        #expect(longer.seriesLength == 4)
        #expect(longer.values == [1, 2, 0, 0, 3, 0, 0, 0])
        #expect(longer.lengths == [2, 1])
        #expect(longer.mask() == [1, 1, 0, 0, 1, 0, 0, 0])
        #expect(try data.padded(to: 2) == data)
        let error = try #require(throws: ClinicDataError.self) { try data.padded(to: 1) }
        #expect(error.description == "UCRDataset.padded: length 1 is shorter than the series length 2")
        #expect(throws: ClinicDataError.self) { try data.padded(to: 10, maxValues: 19) }
    }
}

/// Each malformed file is refused with a message naming the file, line and field.
@Suite struct UCRErrorTests {
    func message(_ text: String, options: UCRDataset.Options = .init()) throws -> String {
        try #require(throws: ClinicDataError.self) {
            try UCRDataset(text: text, source: "t.tsv", options: options)
        }.description
    }

    func message(bytes: [UInt8]) throws -> String {
        try #require(throws: ClinicDataError.self) { try UCRDataset(bytes: bytes, source: "t.tsv") }.description
    }

    @Test func nanInTheMiddleOfASeries() throws {
        #expect(
            try message("1\t1\t2\n2\t1\tNaN\t3\n")
                == "t.tsv, line 2, field 3: 'NaN' is NaN before the last value of the series (value 2); "
                + "NaN is allowed only as padding at the end")
    }

    @Test func infiniteAndOutOfRangeValues() throws {
        #expect(
            try message("1\t1\t2\n2\t1\t-inf\n")
                == "t.tsv, line 2, field 3: '-inf' is infinite; a finite number is required (value 2)")
        #expect(
            try message("1,1,2\n2,1e39,2\n")
                == "t.tsv, line 2, field 2: '1e39' is outside the range of a 32-bit float (value 1)")
    }

    @Test func notANumber() throws {
        #expect(try message("1\t1\t2\n2\t1\tabc\n") == "t.tsv, line 2, field 3: 'abc' is not a number (value 2)")
        #expect(try message("1 1 2\n2 1 2x 4\n") == "t.tsv, line 2, field 3: '2x' is not a number (value 2)")
    }

    @Test func emptyValueBetweenCommas() throws {
        #expect(try message("1,1,,3\n") == "t.tsv, line 1, field 3: '' is empty; a number is required (value 2)")
        #expect(try message("1\t1\t2\t\n") == "t.tsv, line 1, field 4: '' is empty; a number is required (value 3)")
    }

    @Test func blankLineInTheMiddle() throws {
        #expect(
            try message("1\t1\t2\n\n2\t3\t4\n")
                == "t.tsv, line 2: blank line before the last series; every line must hold one series")
        #expect(
            try message("\n1\t1\t2\n")
                == "t.tsv, line 1: blank line before the last series; every line must hold one series")
    }

    @Test func labelWithoutValues() throws {
        let expected = "t.tsv, line 2, field 2: the line holds a class label but no values (NaN padding does not "
            + "count); every series needs at least one value"
        #expect(try message("1\t1\t2\n2\n") == expected)
        #expect(try message("1\t1\t2\n2\tNaN\tNaN\n") == expected)
        #expect(try message("1 1 2\n   2   \n") == expected)
    }

    @Test func emptyLabel() throws {
        #expect(
            try message("1,1,2\n ,3,4\n") == "t.tsv, line 2, column 'label': the class label is empty")
    }

    @Test func aLineWithAnotherSeparator() throws {
        #expect(
            try message("1\t1\t2\n2,3,4\n")
                == "t.tsv, line 2, column 'label': the line separates its fields with commas, but the first line "
                + "of the file uses tabs; one separator is required throughout")
    }

    @Test func emptyFileHoldsNoSeries() throws {
        #expect(try message("") == "t.tsv: the file holds no series")
        #expect(try message("\n \r\n\t\n") == "t.tsv: the file holds no series")
    }

    @Test func binaryFileIsNotText() throws {
        let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D]
        #expect(try message(bytes: png) == "t.tsv, line 1, column 'label': not a text file: invalid UTF-8")
        #expect(
            try message(bytes: Array("1\t1\t2\n2\t3".utf8) + [0] + Array("\t4\n".utf8))
                == "t.tsv, line 2, field 2: not a text file: NUL byte")
        // The text check runs over the whole line before any number is read.
        #expect(
            try message(bytes: Array("1\tx\t".utf8) + [0xC3, 0x28])
                == "t.tsv, line 1, field 3: not a text file: invalid UTF-8")
    }

    @Test func singleClassIsRefusedWithoutAMapping() throws {
        #expect(try message("1\t1\n1\t2\n") == "t.tsv: at least two classes are needed; found '1'")
    }

    @Test func sizeLimits() throws {
        #expect(
            try message("1\t1\t2\t3\n2\t1\t2\n", options: .init(maxSeriesLength: 2))
                == "t.tsv, line 1: the series has 3 values, above the limit of 2")
        #expect(
            try message("1\t1\t2\n2\t1\t2\n", options: .init(maxBytes: 10))
                == "t.tsv: the file is 12 bytes, above the limit of 10 bytes; refusing to read it")
        #expect(
            try message("1\t1\t2\n2\t1\t2\n", options: .init(maxValues: 3))
                == "t.tsv: the series padded to one length would hold 4 values, above the limit of 3")
    }

    @Test func fileErrors() throws {
        let folder = try temporaryFolder(["big.tsv": "1\t1\t2\n2\t1\t2\n"])
        defer { try? FileManager.default.removeItem(at: folder) }
        let big = folder.appendingPathComponent("big.tsv")
        let tooLarge = try #require(throws: ClinicDataError.self) {
            try UCRDataset(contentsOf: big, options: .init(maxBytes: 5))
        }
        #expect(tooLarge == .fileTooLarge(.init(source: big.path), bytes: 12, limit: 5))

        let missing = folder.appendingPathComponent("missing.tsv")
        let unreadable = try #require(throws: ClinicDataError.self) { try UCRDataset(contentsOf: missing) }
        guard case .unreadable(let location, _) = unreadable else {
            Issue.record("expected .unreadable, got \(unreadable)")
            return
        }
        #expect(location.source == missing.path)

        let directory = try #require(throws: ClinicDataError.self) { try UCRDataset(contentsOf: folder) }
        #expect(directory == .unreadable(.init(source: folder.path), reason: "it is a directory"))
    }
}

@Suite struct UCRSplitTests {
    @Test func testFileUsesTheTrainingMappingAndLength() throws {
        let folder = try temporaryFolder([
            "train.tsv": "-1\t1\t2\tNaN\n1\t3\t4\tNaN\n1\t5\tNaN\tNaN\n",
            "test.tsv": "1.0\t1\t2\t3\t4\n-1\t5\tNaN\tNaN\tNaN\n",
        ])
        defer { try? FileManager.default.removeItem(at: folder) }
        let (train, test) = try UCRDataset.loadSplits(
            train: folder.appendingPathComponent("train.tsv"), test: folder.appendingPathComponent("test.tsv"))
        #expect(train.classNames == ["-1", "1"])
        #expect(test.labelMapping == train.labelMapping)
        #expect(test.labels == [1, 0])
        #expect(train.seriesLength == 4)
        #expect(test.seriesLength == 4)
        #expect(train.lengths == [2, 2, 1])
        #expect(test.lengths == [4, 1])
        #expect(train.values == [1, 2, 0, 0, 3, 4, 0, 0, 5, 0, 0, 0])
        #expect(test.values == [1, 2, 3, 4, 5, 0, 0, 0])
    }

    @Test func testOnlyClassesAreAllowedToBeFewer() throws {
        let train = try UCRDataset(text: "a\t1\nb\t2\nc\t3\n", source: "train.tsv")
        let test = try UCRDataset(text: "c\t1\nc\t2\n", source: "test.tsv", labelMapping: train.labelMapping)
        #expect(test.labels == [2, 2])
        #expect(test.classCounts == [0, 0, 2])
    }

    @Test func unseenTestLabelNamesTheFileAndLine() throws {
        let folder = try temporaryFolder(["train.tsv": "1\t1\n2\t2\n", "test.tsv": "2\t1\n3\t2\n"])
        defer { try? FileManager.default.removeItem(at: folder) }
        let test = folder.appendingPathComponent("test.tsv")
        let error = try #require(throws: ClinicDataError.self) {
            try UCRDataset.loadSplits(train: folder.appendingPathComponent("train.tsv"), test: test)
        }
        #expect(
            error.description
                == "\(test.path), line 2, column 'label': class label '3' does not occur in the label mapping in use "
                + "(the training data's); the known labels are '1', '2'")
    }

    @Test func mappingFromLabelsAndItsErrors() throws {
        let mapping = try UCRLabelMapping(labels: ["5", "3", "3.0", "4"])
        #expect(mapping.classNames == ["3", "4", "5"])
        #expect(mapping.classIndex(of: "5") == 2)
        #expect(throws: ClinicDataError.self) { try UCRLabelMapping(labels: [String]()) }
        #expect(throws: ClinicDataError.self) { try UCRLabelMapping(labels: ["1", " "]) }
    }
}

/// The real ECG5000 dataset of the UCR archive, when ../shared/datasets holds it.
@Suite(.enabled(if: FileManager.default.fileExists(atPath: ecg5000TrainURL.path)
    && FileManager.default.fileExists(atPath: ecg5000TestURL.path)))
struct ECG5000Tests {
    @Test func countsLengthsAndClassHistograms() throws {
        let (train, test) = try UCRDataset.loadSplits(train: ecg5000TrainURL, test: ecg5000TestURL)
        #expect(train.delimiter == .tab)
        #expect(train.count == 500)
        #expect(test.count == 4500)
        #expect(train.seriesLength == 140)
        #expect(test.seriesLength == 140)
        #expect(!train.isVariableLength && !test.isVariableLength)
        #expect(train.classNames == ["1", "2", "3", "4", "5"])
        #expect(train.classCounts == [292, 177, 10, 19, 2])
        #expect(test.classCounts == [2627, 1590, 86, 175, 22])
        #expect(train.values[0] == Float("-0.11252183"))
        #expect(train.values.allSatisfy { $0.isFinite })
    }

    @Test func zNormalisedSeriesHaveZeroMeanAndUnitDeviation() throws {
        let train = try UCRDataset(contentsOf: ecg5000TrainURL, options: .init(zNormalize: true))
        for index in [0, 137, 499] {
            let series = train.validValues(at: index).map(Double.init)
            let mean = series.reduce(0, +) / Double(series.count)
            let variance = series.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(series.count)
            #expect(abs(mean) < 1e-5)
            #expect(abs(variance - 1) < 1e-4)
        }
    }
}
