import Foundation
@testable import ScalpelClinic

/// The repository root, found from this file's path so the tests need no resources declared.
let repositoryRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// The Wisconsin Diagnostic Breast Cancer table committed under Data/.
let wdbcURL = repositoryRoot.appendingPathComponent("Data/wdbc.csv")

/// The scikit-learn golden values written by scripts/clinic_golden.py.
let goldenURL = repositoryRoot.appendingPathComponent("Tests/ScalpelClinicTests/Fixtures/clinic_golden.json")

/// Whether `a` and `b` agree to `tolerance`, both being defined.
func close(_ a: Double?, _ b: Double, tolerance: Double = 1e-12) -> Bool {
    guard let a else { return false }
    return abs(a - b) <= tolerance
}

/// Parses CSV text named "t.csv", so error messages are predictable.
func table(_ text: String) throws(ClinicDataError) -> CSVTable {
    try CSVTable(text: text, source: "t.csv")
}
