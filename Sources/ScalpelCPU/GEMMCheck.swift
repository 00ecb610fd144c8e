import Foundation
import ScalpelCore

/// Compares a GEMM result with the reference, element by element, against a tolerance that
/// scales with the reduction length and the magnitude of what was summed.
///
/// For element (i, j) the allowed error is `tol · (|alpha|·Σ_l |op(A)_il·op(B)_lj| + |beta·C0_ij|)`
/// with `tol = (2·√k + 8)·ε_fp32`: blocked and fused sums in fp32 typically err by about
/// √k·ε of the summed magnitude, while an indexing or edge bug errs by the magnitude itself.
public struct GEMMCheck: Sendable, CustomStringConvertible {
    /// Largest |result − reference|.
    public var maxAbsError: Double
    /// Largest |result − reference| / Σ|op(A)·op(B)| (plus |beta·C0|): the error relative to
    /// the magnitude of what was summed, which stays meaningful where the sum cancels to 0.
    public var maxRelError: Double
    /// Largest error as a fraction of its allowance (≤ 1 passes).
    public var worstRatio: Double
    /// Where the worst element sits (batch, row, column), for the report.
    public var worstAt: (batch: Int, row: Int, column: Int)
    /// Whether every element is within its allowance (`worstRatio` ≤ 1, not NaN); an element of C
    /// outside the m×n windows that changed fails the check.
    public var passed: Bool { worstRatio <= 1 && !worstRatio.isNaN }

    /// The largest absolute and relative errors and, for a failed check, where the worst element
    /// sits and its error as a multiple of the tolerance.
    public var description: String {
        "max abs \(Self.short(maxAbsError)), max rel \(Self.short(maxRelError))"
            + (passed ? "" : ", worst at batch \(worstAt.batch) row \(worstAt.row) column \(worstAt.column) (\(Self.short(worstRatio))× the tolerance)")
    }

    static func short(_ x: Double) -> String {
        if x.isNaN { return "nan" }
        if x == 0 { return "0" }
        var text = String(describing: Float(x))
        if let e = text.firstIndex(of: "e") {
            let mantissa = Double(text[..<e]) ?? x
            text = String(format: "%.1f", mantissa) + text[e...]
        } else if let v = Double(text) {
            text = String(format: v >= 0.01 ? "%.3f" : "%.1e", v)
        }
        return text
    }

    /// Checks `result` = GEMM(p, a, b, c0) (all arrays laid out as `p` says), then the epilogue:
    /// `bias[j]` added to column j (when given), then max(0, ·) when `relu`.
    public static func check(_ p: GEMMParameters, a: [Float], b: [Float], c0: [Float], result: [Float],
                             bias: [Float]? = nil, relu: Bool = false) -> GEMMCheck {
        var expected = c0
        ReferenceKernels.gemm(p, a: a, b: b, c: &expected)
        // Magnitudes: the same GEMM on absolute values (and the bias's).
        var magnitude = p
        magnitude.alpha = abs(p.alpha)
        magnitude.beta = abs(p.beta)
        var magnitudes = c0.map { abs($0) }
        ReferenceKernels.gemm(magnitude, a: a.map { abs($0) }, b: b.map { abs($0) }, c: &magnitudes)
        if bias != nil || relu {
            for batch in 0 ..< p.batch {
                for i in 0 ..< p.m {
                    for j in 0 ..< p.n {
                        let index = p.offsetC + batch * p.strideC + i * p.ldc + j
                        if let bias {
                            expected[index] += bias[j]
                            magnitudes[index] += abs(bias[j])
                        }
                        if relu { expected[index] = expected[index] > 0 ? expected[index] : 0 }
                    }
                }
            }
        }
        let eps = Double(Float.ulpOfOne)
        let tolerance = (2 * Double(p.k).squareRoot() + 8) * eps
        var check = GEMMCheck(maxAbsError: 0, maxRelError: 0, worstRatio: 0, worstAt: (0, 0, 0))
        for batch in 0 ..< p.batch {
            for i in 0 ..< p.m {
                for j in 0 ..< p.n {
                    let index = p.offsetC + batch * p.strideC + i * p.ldc + j
                    let got = Double(result[index]), want = Double(expected[index])
                    let error = abs(got - want)
                    let allowed = tolerance * Double(magnitudes[index]) + Double(Float.leastNormalMagnitude)
                    let ratio = got.isFinite ? error / allowed : .infinity
                    check.maxAbsError = max(check.maxAbsError, error)
                    check.maxRelError = max(check.maxRelError, error / max(Double(magnitudes[index]), Double(Float.leastNormalMagnitude)))
                    if ratio > check.worstRatio || ratio.isNaN {
                        check.worstRatio = ratio
                        check.worstAt = (batch, i, j)
                    }
                }
            }
        }
        // Elements of C outside the m×n windows must be untouched.
        var touched = [Bool](repeating: false, count: result.count)
        for batch in 0 ..< p.batch {
            for i in 0 ..< p.m {
                for j in 0 ..< p.n { touched[p.offsetC + batch * p.strideC + i * p.ldc + j] = true }
            }
        }
        for index in result.indices where !touched[index] && result[index].bitPattern != c0[index].bitPattern {
            check.worstRatio = .infinity
            check.maxAbsError = max(check.maxAbsError, abs(Double(result[index]) - Double(c0[index])))
            break
        }
        return check
    }
}

extension ReferenceKernels {
    /// Array convenience for the reference GEMM.
    public static func gemm(_ p: GEMMParameters, a: [Float], b: [Float], c: inout [Float]) {
        // Empty operands (k = 0, or m or n = 0) still need a valid pointer.
        let (a, b) = (a.isEmpty ? [0] : a, b.isEmpty ? [0] : b)
        if c.isEmpty { return }
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in
                    gemm(p, a: pa.baseAddress!, b: pb.baseAddress!, c: pc.baseAddress!)
                }
            }
        }
    }
}
