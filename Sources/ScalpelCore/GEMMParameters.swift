/// One GEMM call, fp32, row-major: for each batch entry b,
/// `C_b = alpha · op(A_b) · op(B_b) + beta · C_b`, with op(X) = X or Xᵀ.
///
/// Shapes: op(A) is m×k, op(B) is k×n, C is m×n. A is stored m×k (`lda` ≥ k), or k×m
/// (`lda` ≥ m) when `transA`; B is stored k×n (`ldb` ≥ n), or n×k (`ldb` ≥ k) when `transB`;
/// C is m×n (`ldc` ≥ n). Batch entry b of X starts at `offsetX + b·strideX` elements.
/// As in BLAS, C is not read when `beta` is 0, so NaNs in an uninitialised C do not leak.
public struct GEMMParameters: Hashable, Sendable, CustomStringConvertible {
    /// Rows of op(A) and of C.
    public var m: Int
    /// Columns of op(B) and of C.
    public var n: Int
    /// Columns of op(A) and rows of op(B): the length of each dot product.
    public var k: Int
    /// Whether A is stored k×m and op(A) = Aᵀ.
    public var transA: Bool
    /// Whether B is stored n×k and op(B) = Bᵀ.
    public var transB: Bool
    /// The factor applied to op(A)·op(B).
    public var alpha: Float
    /// The factor applied to C's previous contents; 0: C is not read.
    public var beta: Float
    /// Elements from one row of A as stored to the next (at least k, or m when `transA`).
    public var lda: Int
    /// Elements from one row of B as stored to the next (at least n, or k when `transB`).
    public var ldb: Int
    /// Elements from one row of C to the next (at least n).
    public var ldc: Int
    /// Elements before batch entry 0 of A in its buffer.
    public var offsetA: Int
    /// Elements before batch entry 0 of B in its buffer.
    public var offsetB: Int
    /// Elements before batch entry 0 of C in its buffer.
    public var offsetC: Int
    /// Independent products the call computes, one per batch entry.
    public var batch: Int
    /// Elements from one batch entry of A to the next (m·k when densely packed).
    public var strideA: Int
    /// Elements from one batch entry of B to the next (k·n when densely packed).
    public var strideB: Int
    /// Elements from one batch entry of C to the next (m·n when densely packed); entries of C
    /// must not overlap.
    public var strideC: Int

    /// Densely packed operands: leading dimensions are the row lengths, batch entries follow
    /// each other.
    public init(m: Int, n: Int, k: Int, transA: Bool = false, transB: Bool = false,
                alpha: Float = 1, beta: Float = 0, batch: Int = 1) {
        self.m = m
        self.n = n
        self.k = k
        self.transA = transA
        self.transB = transB
        self.alpha = alpha
        self.beta = beta
        // At least 1, as in BLAS, so that empty operands still have valid layouts.
        self.lda = max(1, transA ? m : k)
        self.ldb = max(1, transB ? k : n)
        self.ldc = max(1, n)
        self.offsetA = 0
        self.offsetB = 0
        self.offsetC = 0
        self.batch = batch
        self.strideA = m * k
        self.strideB = k * n
        self.strideC = m * n
    }

    /// "NN", "TN", "NT" or "TT".
    public var transposeCode: String { (transA ? "T" : "N") + (transB ? "T" : "N") }

    /// The shape as m×n×k, the transpose code and, when above 1, the batch: `64×32×128 NT batch 4`.
    public var description: String {
        "\(m)×\(n)×\(k) \(transposeCode)" + (batch > 1 ? " batch \(batch)" : "")
    }

    /// Floating-point operations, counting a multiply-add as two.
    public var flops: Double { 2 * Double(m) * Double(n) * Double(k) * Double(batch) }

    /// Elements of A, B and C the call touches, ending at the last one.
    public var requiredCountA: Int { extent(rows: transA ? k : m, cols: transA ? m : k, ld: lda, offset: offsetA, stride: strideA) }
    /// Elements B's buffer must hold: one past the last element the call reads (0 when B is empty).
    public var requiredCountB: Int { extent(rows: transB ? n : k, cols: transB ? k : n, ld: ldb, offset: offsetB, stride: strideB) }
    /// Elements C's buffer must hold: one past the last element the call writes (0 when C is empty).
    public var requiredCountC: Int { extent(rows: m, cols: n, ld: ldc, offset: offsetC, stride: strideC) }

    private func extent(rows: Int, cols: Int, ld: Int, offset: Int, stride: Int) -> Int {
        if rows == 0 || cols == 0 || batch == 0 { return 0 }
        return offset + (batch - 1) * stride + (rows - 1) * ld + cols
    }

    /// Throws a `shapeMismatch` naming the first inconsistency: negative sizes, leading
    /// dimensions shorter than a row, or operands that end beyond their buffers.
    public func validate(countA: Int, countB: Int, countC: Int) throws {
        func fail(_ detail: String) -> ScalpelError { .shapeMismatch(op: "gemm \(description)", detail: detail) }
        guard m >= 0, n >= 0, k >= 0, batch >= 0 else { throw fail("sizes must be non-negative") }
        guard offsetA >= 0, offsetB >= 0, offsetC >= 0, strideA >= 0, strideB >= 0, strideC >= 0 else {
            throw fail("offsets and strides must be non-negative")
        }
        let aCols = transA ? m : k, bCols = transB ? k : n
        guard lda >= max(1, aCols) else { throw fail("lda \(lda) < \(aCols), the length of a row of A as stored") }
        guard ldb >= max(1, bCols) else { throw fail("ldb \(ldb) < \(bCols), the length of a row of B as stored") }
        guard ldc >= max(1, n) else { throw fail("ldc \(ldc) < n = \(n)") }
        guard requiredCountA <= countA else { throw fail("A needs \(requiredCountA) elements, its buffer holds \(countA)") }
        guard requiredCountB <= countB else { throw fail("B needs \(requiredCountB) elements, its buffer holds \(countB)") }
        guard requiredCountC <= countC else { throw fail("C needs \(requiredCountC) elements, its buffer holds \(countC)") }
        if batch > 1, m > 0, n > 0, strideC < (m - 1) * ldc + n {
            throw fail("strideC \(strideC) makes batch entries of C overlap")
        }
    }

    /// The scheduler's shape class: transposes plus each size rounded up to a power of two
    /// (batch likewise), so one measurement serves every shape of similar cost and layout.
    public var shapeClass: String {
        func bucket(_ x: Int) -> Int { x <= 1 ? max(x, 1) : 1 << (Int.bitWidth - (x - 1).leadingZeroBitCount) }
        return "\(transposeCode) m≤\(bucket(m)) n≤\(bucket(n)) k≤\(bucket(k))" + (batch > 1 ? " b≤\(bucket(batch))" : "")
    }
}
