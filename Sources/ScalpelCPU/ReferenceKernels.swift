import ScalpelCore

/// Plain, obviously correct kernels: the truth every other kernel is tested against.
///
/// No blocking, no SIMD, no threads; sums run in Double. The Double overloads serve
/// finite-difference gradient checks.
public enum ReferenceKernels {
    /// GEMM on fp32 data, accumulating each dot product in Double.
    public static func gemm(_ p: GEMMParameters, a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>) {
        gemmGeneric(p, a: a, b: b, c: c, alpha: Double(p.alpha), beta: Double(p.beta), widen: { Double($0) }, narrow: { Float($0) })
    }

    /// GEMM on fp64 data (alpha and beta from the parameters).
    public static func gemm(_ p: GEMMParameters, a: UnsafePointer<Double>, b: UnsafePointer<Double>, c: UnsafeMutablePointer<Double>) {
        gemmGeneric(p, a: a, b: b, c: c, alpha: Double(p.alpha), beta: Double(p.beta), widen: { $0 }, narrow: { $0 })
    }

    /// C[i][j] = alpha · Σ_l op(A)[i][l]·op(B)[l][j] + beta · C[i][j]  (C not read when beta = 0).
    @inline(__always)
    static func gemmGeneric<T>(_ p: GEMMParameters, a: UnsafePointer<T>, b: UnsafePointer<T>, c: UnsafeMutablePointer<T>,
                               alpha: Double, beta: Double, widen: (T) -> Double, narrow: (Double) -> T) {
        for batch in 0 ..< p.batch {
            let aBase = a + p.offsetA + batch * p.strideA
            let bBase = b + p.offsetB + batch * p.strideB
            let cBase = c + p.offsetC + batch * p.strideC
            for i in 0 ..< p.m {
                for j in 0 ..< p.n {
                    var sum = 0.0
                    for l in 0 ..< p.k {
                        let x = p.transA ? aBase[l * p.lda + i] : aBase[i * p.lda + l]
                        let y = p.transB ? bBase[j * p.ldb + l] : bBase[l * p.ldb + j]
                        sum += widen(x) * widen(y)
                    }
                    let old = beta == 0 ? 0 : beta * widen(cBase[i * p.ldc + j])
                    cBase[i * p.ldc + j] = narrow(alpha * sum + old)
                }
            }
        }
    }
}
