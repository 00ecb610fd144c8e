import ScalpelCore

// Element-wise operations with broadcasting, and their gradients.
extension Tensor {
    /// y = f(self) with dy·f′ as gradient.
    func unary(_ op: UnaryOp) throws -> Tensor {
        let y = try Tensor.empty(shape, on: backend)
        try backend.unary(op, x: storage, y: y.storage, count: count)
        // The closure holds the output's storage, never the output itself: the output holds the
        // closure, and a cycle would leak every step's tensors.
        return Tensor.record(y, op.rawValue, [self]) { [self, yStorage = y.storage] g in
            let dx = try Tensor.empty(shape, on: backend)
            try backend.unaryBackward(op, x: storage, y: yStorage, dy: g.storage, dx: dx.storage, count: count)
            return [dx]
        }
    }

    /// The gradient `g` of a fused op's ReLU output carried back through the ReLU: g where the
    /// output (whose storage is `output`) is positive — exactly where the ReLU's input was —,
    /// else 0.
    static func throughReLU(_ g: Tensor, output: any DeviceBuffer) throws -> Tensor {
        let dz = try Tensor.empty(g.shape, on: g.backend)
        try g.backend.unaryBackward(.relu, x: output, y: output, dy: g.storage, dx: dz.storage, count: g.count)
        return dz
    }

    public func neg() throws -> Tensor { try unary(.neg) }
    public func exp() throws -> Tensor { try unary(.exp) }
    public func log() throws -> Tensor { try unary(.log) }
    public func sqrt() throws -> Tensor { try unary(.sqrt) }
    public func abs() throws -> Tensor { try unary(.abs) }
    public func relu() throws -> Tensor { try unary(.relu) }
    public func sigmoid() throws -> Tensor { try unary(.sigmoid) }
    public func tanh() throws -> Tensor { try unary(.tanh) }
    /// The exact GELU, x·Φ(x) (PyTorch's default).
    public func gelu() throws -> Tensor { try unary(.gelu) }
    public func square() throws -> Tensor { try unary(.square) }
    /// SiLU (swish), x·σ(x), as PyTorch's `silu`: the backend's `silu`, composed from the
    /// primitives unless the backend fuses it.
    public func silu() throws -> Tensor {
        let y = try Tensor.empty(shape, on: backend)
        try backend.silu(x: storage, y: y.storage, count: count)
        return Tensor.record(y, "silu", [self]) { [self, yStorage = y.storage] g in
            let dx = try Tensor.empty(shape, on: backend)
            try backend.siluBackward(x: storage, y: yStorage, dy: g.storage, dx: dx.storage, count: count)
            return [dx]
        }
    }
    public func reciprocal() throws -> Tensor { try unary(.reciprocal) }

    /// self ⊕ other with NumPy broadcasting; gradients are summed back to each input's shape.
    func binary(_ op: BinaryOp, _ other: Tensor) throws -> Tensor {
        try sameBackend(other, op.rawValue)
        let layout = try BroadcastLayout(shape, other.shape, op: op.rawValue)
        let out = try Tensor.empty(layout.shape, on: backend)
        try backend.binary(op, a: storage, b: other.storage, out: out.storage, layout: layout)
        if op.isComparison { return out }
        let (a, b) = (self, other)
        let result = out.detached() // not `out`: see unary
        return Tensor.record(out, op.rawValue, [a, b]) { g in
            let ga: Tensor?, gb: Tensor?
            switch op {
            case .add:
                ga = a.requiresGrad ? g : nil
                gb = b.requiresGrad ? g : nil
            case .sub:
                ga = a.requiresGrad ? g : nil
                gb = b.requiresGrad ? try g.neg() : nil
            case .mul:
                ga = a.requiresGrad ? try g * b : nil
                gb = b.requiresGrad ? try g * a : nil
            case .div:
                ga = a.requiresGrad ? try g / b : nil
                gb = b.requiresGrad ? try (g * result / b).neg() : nil
            case .maximum, .minimum:
                // The gradient goes to the input that was picked (to a on ties).
                let pickA = try a.binary(op == .maximum ? .greaterEqual : .lessEqual, b)
                ga = a.requiresGrad ? try g * pickA : nil
                gb = b.requiresGrad ? try g * (1 - pickA) : nil
            case .pow:
                ga = a.requiresGrad ? try g * b * (result / a) : nil
                gb = b.requiresGrad ? try g * result * a.log() : nil
            default:
                ga = nil; gb = nil
            }
            return [try ga?.sum(to: a.shape), try gb?.sum(to: b.shape)]
        }
    }

    /// This tensor summed over broadcast dimensions down to `target` (the gradient of a broadcast).
    public func sum(to target: [Int]) throws -> Tensor {
        if shape == target { return self }
        let extra = rank - target.count
        guard extra >= 0 else { throw ScalpelError.shapeMismatch(op: "sum(to:)", detail: "\(shape) cannot reduce to \(target)") }
        var axes: [Int] = Array(0 ..< extra)
        for (d, size) in target.enumerated() where size == 1 && shape[extra + d] != 1 { axes.append(extra + d) }
        let reduced = try sum(axes: axes, keepDims: true)
        return try reduced.reshaped(target)
    }

    /// Elements where `mask` is 1 come from `self`, the others from `other` (broadcasting).
    public func selecting(_ mask: Tensor, else other: Tensor) throws -> Tensor {
        try mask * self + (1 - mask) * other
    }

    // Comparisons: 1 where true, else 0 (no gradient).
    public func eq(_ other: Tensor) throws -> Tensor { try binary(.equal, other) }
    public func ne(_ other: Tensor) throws -> Tensor { try binary(.notEqual, other) }
    public func lt(_ other: Tensor) throws -> Tensor { try binary(.less, other) }
    public func le(_ other: Tensor) throws -> Tensor { try binary(.lessEqual, other) }
    public func gt(_ other: Tensor) throws -> Tensor { try binary(.greater, other) }
    public func ge(_ other: Tensor) throws -> Tensor { try binary(.greaterEqual, other) }
    public func maximum(_ other: Tensor) throws -> Tensor { try binary(.maximum, other) }
    public func minimum(_ other: Tensor) throws -> Tensor { try binary(.minimum, other) }
    public func pow(_ exponent: Tensor) throws -> Tensor { try binary(.pow, exponent) }
    public func pow(_ exponent: Float) throws -> Tensor { try binary(.pow, try Tensor.constant(exponent, on: backend)) }

    public static func + (a: Tensor, b: Tensor) throws -> Tensor { try a.binary(.add, b) }
    public static func - (a: Tensor, b: Tensor) throws -> Tensor { try a.binary(.sub, b) }
    public static func * (a: Tensor, b: Tensor) throws -> Tensor { try a.binary(.mul, b) }
    public static func / (a: Tensor, b: Tensor) throws -> Tensor { try a.binary(.div, b) }
    public static prefix func - (a: Tensor) throws -> Tensor { try a.neg() }

    public static func + (a: Tensor, b: Float) throws -> Tensor { try a.binary(.add, try .constant(b, on: a.backend)) }
    public static func - (a: Tensor, b: Float) throws -> Tensor { try a.binary(.sub, try .constant(b, on: a.backend)) }
    public static func * (a: Tensor, b: Float) throws -> Tensor { try a.binary(.mul, try .constant(b, on: a.backend)) }
    public static func / (a: Tensor, b: Float) throws -> Tensor { try a.binary(.div, try .constant(b, on: a.backend)) }
    public static func + (a: Float, b: Tensor) throws -> Tensor { try Tensor.constant(a, on: b.backend).binary(.add, b) }
    public static func - (a: Float, b: Tensor) throws -> Tensor { try Tensor.constant(a, on: b.backend).binary(.sub, b) }
    public static func * (a: Float, b: Tensor) throws -> Tensor { try Tensor.constant(a, on: b.backend).binary(.mul, b) }
    public static func / (a: Float, b: Tensor) throws -> Tensor { try Tensor.constant(a, on: b.backend).binary(.div, b) }
}
