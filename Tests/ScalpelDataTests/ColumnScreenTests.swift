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
