import Foundation
import ScalpelData

/// Whether `a` and `b` agree to `tolerance`, both being defined.
func close(_ a: Double?, _ b: Double, tolerance: Double = 1e-12) -> Bool {
    guard let a else { return false }
    return abs(a - b) <= tolerance
}

/// Parses CSV text named "t.csv", so error messages are predictable.
func table(_ text: String) throws(ClinicDataError) -> CSVTable {
    try CSVTable(text: text, source: "t.csv")
}

/// A fresh, empty temporary folder; removed by the caller.
func temporaryFolder(_ files: [String: String]) throws -> URL {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("scalpel-report-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    for (name, text) in files {
        try Data(text.utf8).write(to: folder.appendingPathComponent(name))
    }
    return folder
}
