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

    /// −self, element-wise; the gradient is −dy.
    public func neg() throws -> Tensor { try unary(.neg) }
    /// e^self, element-wise; the gradient is dy·e^self.
    public func exp() throws -> Tensor { try unary(.exp) }
    /// The natural logarithm of each element; the gradient is dy/self.
    public func log() throws -> Tensor { try unary(.log) }
    /// √self, element-wise; the gradient is dy/(2·√self).
    public func sqrt() throws -> Tensor { try unary(.sqrt) }
    /// |self|, element-wise; the gradient is dy·sign(self) (0 where self is 0).
    public func abs() throws -> Tensor { try unary(.abs) }
    /// max(self, 0), element-wise; the gradient is dy where self > 0, else 0.
    public func relu() throws -> Tensor { try unary(.relu) }
    /// σ(self) = 1/(1 + e^−self), element-wise; the gradient is dy·σ·(1 − σ).
    public func sigmoid() throws -> Tensor { try unary(.sigmoid) }
    /// tanh(self), element-wise; the gradient is dy·(1 − tanh²(self)).
    public func tanh() throws -> Tensor { try unary(.tanh) }
    /// The exact GELU, x·Φ(x) (PyTorch's default).
    public func gelu() throws -> Tensor { try unary(.gelu) }
    /// self², element-wise; the gradient is 2·self·dy.
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
    /// 1/self, element-wise; the gradient is −dy/self².
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
    /// 1 where self == other, else 0, with NumPy broadcasting; no gradient.
    public func eq(_ other: Tensor) throws -> Tensor { try binary(.equal, other) }
    /// 1 where self ≠ other, else 0, with NumPy broadcasting; no gradient.
    public func ne(_ other: Tensor) throws -> Tensor { try binary(.notEqual, other) }
    /// 1 where self < other, else 0, with NumPy broadcasting; no gradient.
    public func lt(_ other: Tensor) throws -> Tensor { try binary(.less, other) }
    /// 1 where self ≤ other, else 0, with NumPy broadcasting; no gradient.
    public func le(_ other: Tensor) throws -> Tensor { try binary(.lessEqual, other) }
    /// 1 where self > other, else 0, with NumPy broadcasting; no gradient.
    public func gt(_ other: Tensor) throws -> Tensor { try binary(.greater, other) }
    /// 1 where self ≥ other, else 0, with NumPy broadcasting; no gradient.
    public func ge(_ other: Tensor) throws -> Tensor { try binary(.greaterEqual, other) }
    /// max(self, other) with NumPy broadcasting (NaN where either is NaN); dy goes to self where
    /// self ≥ other (ties included), else to other, each summed back to its input's shape.
    public func maximum(_ other: Tensor) throws -> Tensor { try binary(.maximum, other) }
    /// min(self, other) with NumPy broadcasting (NaN where either is NaN); dy goes to self where
    /// self ≤ other (ties included), else to other, each summed back to its input's shape.
    public func minimum(_ other: Tensor) throws -> Tensor { try binary(.minimum, other) }
    /// self^exponent with NumPy broadcasting; the gradients dy·exponent·self^exponent/self (not
    /// finite where self is 0) and dy·self^exponent·log(self) are summed back to each input's shape.
    public func pow(_ exponent: Tensor) throws -> Tensor { try binary(.pow, exponent) }
    /// self^exponent for a scalar exponent; the gradient is dy·exponent·self^exponent/self (not
    /// finite where self is 0).
    public func pow(_ exponent: Float) throws -> Tensor { try binary(.pow, try Tensor.constant(exponent, on: backend)) }

    /// a + b with NumPy broadcasting; the gradient of each input, dy, is summed back to its shape.
    public static func + (a: Tensor, b: Tensor) throws -> Tensor { try a.binary(.add, b) }
    /// a − b with NumPy broadcasting; the gradients dy and −dy are summed back to each input's shape.
    public static func - (a: Tensor, b: Tensor) throws -> Tensor { try a.binary(.sub, b) }
    /// a·b with NumPy broadcasting; the gradients dy·b and dy·a are summed back to each input's shape.
    public static func * (a: Tensor, b: Tensor) throws -> Tensor { try a.binary(.mul, b) }
    /// a/b with NumPy broadcasting; the gradients dy/b and −dy·(a/b)/b are summed back to each input's shape.
    public static func / (a: Tensor, b: Tensor) throws -> Tensor { try a.binary(.div, b) }
    /// −a, as `neg()`; the gradient is −dy.
    public static prefix func - (a: Tensor) throws -> Tensor { try a.neg() }

    /// a + b, the scalar broadcast over a; the gradient of a is dy.
    public static func + (a: Tensor, b: Float) throws -> Tensor { try a.binary(.add, try .constant(b, on: a.backend)) }
    /// a − b, the scalar broadcast over a; the gradient of a is dy.
    public static func - (a: Tensor, b: Float) throws -> Tensor { try a.binary(.sub, try .constant(b, on: a.backend)) }
    /// a·b, the scalar broadcast over a; the gradient of a is dy·b.
    public static func * (a: Tensor, b: Float) throws -> Tensor { try a.binary(.mul, try .constant(b, on: a.backend)) }
    /// a/b, the scalar broadcast over a; the gradient of a is dy/b.
    public static func / (a: Tensor, b: Float) throws -> Tensor { try a.binary(.div, try .constant(b, on: a.backend)) }
    /// a + b, the scalar broadcast over b; the gradient of b is dy.
    public static func + (a: Float, b: Tensor) throws -> Tensor { try Tensor.constant(a, on: b.backend).binary(.add, b) }
    /// a − b, the scalar broadcast over b; the gradient of b is −dy.
    public static func - (a: Float, b: Tensor) throws -> Tensor { try Tensor.constant(a, on: b.backend).binary(.sub, b) }
    /// a·b, the scalar broadcast over b; the gradient of b is dy·a.
    public static func * (a: Float, b: Tensor) throws -> Tensor { try Tensor.constant(a, on: b.backend).binary(.mul, b) }
    /// a/b, the scalar broadcast over b; the gradient of b is −dy·(a/b)/b.
    public static func / (a: Float, b: Tensor) throws -> Tensor { try Tensor.constant(a, on: b.backend).binary(.div, b) }
}
