/// What a GEMM applies to each element of C after C = alpha·op(A)·op(B) + beta·C: a bias added
/// along the columns (element j of the bias to column j of every row and batch entry, as a
/// Linear layer's y = x·Wᵀ + b), then a ReLU. A backend may fuse it into the GEMM's store;
/// `Backend.gemm(_:a:b:c:epilogue:)`'s default composes it from the element-wise ops.
public struct GEMMEpilogue: Sendable {
    /// The bias (at least n elements from `biasOffset`), or nil.
    public var bias: (any DeviceBuffer)?
    /// The first bias element.
    public var biasOffset: Int
    /// Whether max(0, ·) follows (v > 0 ? v : 0, as `UnaryOp.relu`).
    public var relu: Bool

    /// An epilogue of `bias` (nil: none) from `biasOffset`, then a ReLU if `relu`.
    public init(bias: (any DeviceBuffer)? = nil, biasOffset: Int = 0, relu: Bool = false) {
        (self.bias, self.biasOffset, self.relu) = (bias, biasOffset, relu)
    }

    /// No epilogue: C is the product.
    public static let none = GEMMEpilogue()

    /// Whether it changes nothing.
    public var isEmpty: Bool { bias == nil && !relu }

    /// Throws unless the bias holds `p.n` elements from `biasOffset` and C is dense (ldc = n,
    /// batch entries back to back), which the composed form needs.
    public func validate(_ p: GEMMParameters, biasCount: Int) throws {
        guard !isEmpty else { return }
        func fail(_ detail: String) -> ScalpelError { .shapeMismatch(op: "gemm \(p) with an epilogue", detail: detail) }
        guard p.ldc == p.n, p.strideC == p.m * p.n || p.batch <= 1 else { throw fail("C must be dense (ldc = n, entries back to back)") }
        guard biasOffset >= 0, bias == nil || biasOffset + p.n <= biasCount else {
            throw fail("the bias needs \(p.n) elements from \(biasOffset), its buffer holds \(biasCount)")
        }
    }
}

extension Backend {
    /// The GEMM, then `epilogue` as separate element-wise passes (`gemmComposed`).
    public func gemm(_ p: GEMMParameters, a: any DeviceBuffer, b: any DeviceBuffer, c: any DeviceBuffer, epilogue: GEMMEpilogue) throws {
        try gemmComposed(p, a: a, b: b, c: c, epilogue: epilogue)
    }

    /// C = alpha·op(A)·op(B) + beta·C, then `epilogue`: here the GEMM, a broadcast add of the
    /// bias over C's rows and a ReLU, each its own pass; backends with a fused store override it.
    public func gemmComposed(_ p: GEMMParameters, a: any DeviceBuffer, b: any DeviceBuffer, c: any DeviceBuffer, epilogue: GEMMEpilogue) throws {
        try gemm(p, a: a, b: b, c: c)
        guard !epilogue.isEmpty, p.m > 0, p.n > 0, p.batch > 0 else { return }
        try epilogue.validate(p, biasCount: epilogue.bias?.count ?? 0)
        let rows = p.batch * p.m, count = rows * p.n
        let window = p.offsetC == 0 ? c : try makeView(of: c, offset: p.offsetC, count: count)
        if let bias = epilogue.bias {
            let vector = epilogue.biasOffset == 0 ? bias : try makeView(of: bias, offset: epilogue.biasOffset, count: p.n)
            try binary(.add, a: window, b: vector, out: window, layout: BroadcastLayout([rows, p.n], [p.n], op: "gemm bias"))
        }
        if epilogue.relu { try unary(.relu, x: window, y: window, count: count) }
    }
}
