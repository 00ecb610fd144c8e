import Foundation
@testable import ScalpelData
import Testing

/// Which columns look like identifiers or dates: what is left out, what is kept.
struct ColumnScreenTests {
    @Test func datesIdentifiersAndFreeTextAreFoundMeasurementsAreNot() throws {
        var lines = ["id,code,when,stamp,note,ward,level,count,label"]
        for i in 0 ..< 40 {
            lines.append("\(9000 + i),X\(i * 7),2023-0\(1 + i % 9)-1\(i % 10),0\(1 + i % 9)/1\(i % 3)/2024 08:15,note \(i % 30),\(["a", "b"][i % 2]),"
                + "\(Double(i) * 1.37 + 0.01),\(i % 5),\(i % 2)")
        }
        let table = try CSVTable(text: lines.joined(separator: "\n"), source: "t.csv")
        let found = ColumnScreen.screen(table, keeping: ["label"])
        #expect(found.map(\.column) == ["id", "code", "when", "stamp", "note"], "\(found)")
        #expect(found.first { $0.column == "when" }?.reason == .dates && found.first { $0.column == "id" }?.reason == .uniquePerRow)
        #expect(found.first { $0.column == "note" }?.reason == .highCardinalityText(distinct: 30, cells: 40))
        // Named columns are kept; a table of fewer than 20 rows is not screened.
        #expect(ColumnScreen.screen(table, keeping: ["label", "id", "code", "when", "stamp", "note"]).isEmpty)
        let small = try CSVTable(text: lines.prefix(15).joined(separator: "\n"), source: "t.csv")
        #expect(ColumnScreen.screen(small, keeping: ["label"]).isEmpty)
    }

    @Test func dateShapes() {
        for date in ["2024-03-01", "2024/3/1", "01/03/2024", "1.3.24", "2024-03-01T08:15:00", "2024-03-01 08:15"] {
            #expect(ColumnScreen.isDate(date), "\(date)")
        }
        for other in ["3.14", "2024", "12-40-2024", "a/b/c", "2024-13-01", "7/8", "1.2.3"] {
            #expect(!ColumnScreen.isDate(other), "\(other)")
        }
    }
}

/// A label column that is not in a long header: the closest names are suggested, not all of them.
struct ColumnHintTests {
    @Test func aMisspelledColumnGetsTheClosestNames() throws {
        let header = ["diagnosis"] + (1 ... 30).map { "feature_\($0)" }
        let text = header.joined(separator: ",") + "\n" + header.indices.map { $0 == 0 ? "M" : "1" }.joined(separator: ",") + "\n"
        let table = try CSVTable(text: text, source: "t.csv")
        for (asked, expected) in [("diagnosys", "t.csv: no label column 'diagnosys'; did you mean 'diagnosis'? (31 columns)"),
                                  ("Feature_3", "t.csv: no label column 'Feature_3'; did you mean 'feature_3' or 'feature_1' or 'feature_13'? (31 columns)"),
                                  ("outcome", "t.csv: no label column 'outcome'; none of the 31 columns is close; the first are 'diagnosis', "
                                      + "'feature_1', 'feature_2', 'feature_3', 'feature_4', …")] {
            do {
                _ = try TabularDataset(table: table, labelColumn: asked)
                Issue.record("\(asked) was accepted")
            } catch {
                #expect(error.description == expected)
            }
        }
        #expect(ClinicDataError.editDistance("kitten", "sitting") == 3 && ClinicDataError.editDistance("", "ab") == 2)
    }
}
