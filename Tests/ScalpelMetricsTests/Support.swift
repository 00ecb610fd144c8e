import Foundation

/// The scikit-learn golden values written by scripts/clinic_golden.py.
let goldenURL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/clinic_golden.json")

/// Whether `a` and `b` agree to `tolerance`, both being defined.
func close(_ a: Double?, _ b: Double, tolerance: Double = 1e-12) -> Bool {
    guard let a else { return false }
    return abs(a - b) <= tolerance
}
