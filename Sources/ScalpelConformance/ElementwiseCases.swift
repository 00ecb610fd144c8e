import ScalpelCore
import ScalpelTensor

extension KernelCases {
    /// Every unary function at a small shape and at one whose size is no multiple of any
    /// work-group (37×29 = 1073), the arithmetic binary ops on same-shape inputs, comparisons,
    /// fill and axpby.
    public static let elementwise: [KernelCase] = {
        var cases: [KernelCase] = []
        for op in UnaryOp.allCases {
            for shape in [[3, 4], [37, 29]] {
                let quick = shape == [37, 29] && (op == .gelu || op == .sigmoid)
                cases.append(.tensor(.elementwise, op.rawValue, [shape], ranges: [unaryRange(op)], kernels: ["unary", "unary_backward"],
                                     quick: quick) { x in try apply(op, x[0]) })
            }
        }
        // A composed operation (its default body: sigmoid, then products and an axpby).
        cases.append(.tensor(.elementwise, "silu", [[37, 29]], ranges: [-4 ... 4], kernels: ["unary", "binary_same", "axpby"],
                             quick: false) { x in try x[0].silu() })
        for op in BinaryOp.allCases where !op.isComparison {
            let ranges: [ClosedRange<Float>] = op == .pow ? [0.5 ... 2, -1.5 ... 1.5] : op == .div ? [-1 ... 1, 0.5 ... 2] : [-1 ... 1, -1 ... 1]
            // The gradients of sub and div negate, pow's takes a logarithm: unary kernels.
            let kernels = [.sub, .div, .pow].contains(op) ? ["binary_same", "unary"] : ["binary_same"]
            cases.append(.tensor(.elementwise, op.rawValue, [[37, 29], [37, 29]], ranges: ranges, kernels: kernels,
                                 quick: op == .div) { x in try apply(op, x[0], x[1]) })
        }
        cases.append(comparisons(.elementwise, [37, 29], [37, 29], kernel: "binary_same"))
        cases.append(.buffers(.elementwise, "fill, axpby", shape: "1073 at offset 5", kernels: ["fill", "axpby"], quick: true) { backend in
            let n = 1073
            var random = SeededRandom(seed: 31)
            let x = try backend.makeBuffer(random.uniformArray(n + 10)), y = try backend.makeBuffer(random.uniformArray(n + 10))
            // A region filled in the middle of a buffer: the elements around it keep their values.
            try backend.fill(x, value: 0.625, offset: 5, count: n)
            // beta 0 must not read y: NaNs there would leak.
            let z = try backend.makeBuffer([Float](repeating: .nan, count: n))
            try backend.axpby(alpha: -1.5, x: x, beta: 0, y: z, count: n)
            try backend.axpby(alpha: 0.75, x: x, beta: -2, y: y, count: n)
            return [KernelOutput("filled", try doubles(x, on: backend)), KernelOutput("axpby β=0", try doubles(z, on: backend)),
                    KernelOutput("axpby", try doubles(y, on: backend))]
        })
        return cases
    }()

    /// Every comparison of a and b (values on a grid of quarters, so that ties occur).
    static func comparisons(_ family: KernelFamily, _ shapeA: [Int], _ shapeB: [Int], kernel: String) -> KernelCase {
        .buffers(family, "comparisons", shape: "\(shapeText(shapeA)), \(shapeText(shapeB))", kernels: [kernel]) { backend in
            var random = SeededRandom(seed: 41)
            let countA = shapeA.reduce(1, *), countB = shapeB.reduce(1, *)
            let a = try backend.makeBuffer(random.uniformArray(countA, -1, 1).map { ($0 * 4).rounded() / 4 })
            let b = try backend.makeBuffer(random.uniformArray(countB, -1, 1).map { ($0 * 4).rounded() / 4 })
            let layout = try BroadcastLayout(shapeA, shapeB, op: "comparisons")
            return try BinaryOp.allCases.filter(\.isComparison).map { op in
                let out = try backend.makeBuffer(count: layout.count)
                try backend.binary(op, a: a, b: b, out: out, layout: layout)
                return KernelOutput(op.rawValue, try doubles(out, on: backend))
            }
        }
    }

    /// Where each unary function's inputs are drawn from (inside its domain, across its bends).
    static func unaryRange(_ op: UnaryOp) -> ClosedRange<Float> {
        switch op {
        case .log, .sqrt, .reciprocal: 0.5 ... 2
        case .sigmoid: -4 ... 4
        case .tanh: -2 ... 2
        case .gelu: -3 ... 3
        case .neg, .exp, .abs, .relu, .square: -1 ... 1
        }
    }

    /// The tensor method of `op`.
    static func apply(_ op: UnaryOp, _ x: Tensor) throws -> Tensor {
        switch op {
        case .neg: try x.neg()
        case .exp: try x.exp()
        case .log: try x.log()
        case .sqrt: try x.sqrt()
        case .abs: try x.abs()
        case .relu: try x.relu()
        case .sigmoid: try x.sigmoid()
        case .tanh: try x.tanh()
        case .gelu: try x.gelu()
        case .square: try x.square()
        case .reciprocal: try x.reciprocal()
        }
    }

    /// The tensor operator of an arithmetic `op` (comparisons have no gradient: see `comparisons`).
    static func apply(_ op: BinaryOp, _ a: Tensor, _ b: Tensor) throws -> Tensor {
        switch op {
        case .add: try a + b
        case .sub: try a - b
        case .mul: try a * b
        case .div: try a / b
        case .maximum: try a.maximum(b)
        case .minimum: try a.minimum(b)
        case .pow: try a.pow(b)
        case .equal: try a.eq(b)
        case .notEqual: try a.ne(b)
        case .less: try a.lt(b)
        case .lessEqual: try a.le(b)
        case .greater: try a.gt(b)
        case .greaterEqual: try a.ge(b)
        }
    }
}
