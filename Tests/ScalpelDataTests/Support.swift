import Foundation
@testable import ScalpelData

/// The repository root, found from this file's path so the tests need no resources declared.
let repositoryRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// The Wisconsin Diagnostic Breast Cancer table committed under Data/.
let wdbcURL = repositoryRoot.appendingPathComponent("Data/wdbc.csv")

/// The small MedMNIST and NPY files of this target's Fixtures folder (scripts/npz_fixtures.py).
let fixturesURL = repositoryRoot.appendingPathComponent("Tests/ScalpelDataTests/Fixtures")

/// Parses CSV text named "t.csv", so error messages are predictable.
func table(_ text: String) throws(ClinicDataError) -> CSVTable {
    try CSVTable(text: text, source: "t.csv")
}
