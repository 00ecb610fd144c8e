import Foundation
import ScalpelCore

/// What a tensor's elements mean. Storage is always fp32; integer tensors (class labels,
/// indices) hold exact integers below 2²⁴.
public enum DType: String, Sendable, Codable {
    /// Real values.
    case float32
    /// Integers (class labels, indices), stored as exact fp32 values below 2²⁴.
    case int32
}

/// An n-dimensional array on one backend, contiguous in row-major order, with an optional
/// place in the autograd graph.
///
/// Operations run as kernels on the tensor's backend, so a training step stays on the device;
/// reading values (`array()`, `item()`) synchronises. Tensors are reference types, like
/// PyTorch's: `grad` is filled in by `backward()`, and optimizers update parameters in place.
/// Not thread-safe: use a tensor from one thread at a time.
public final class Tensor: @unchecked Sendable, CustomStringConvertible {
    /// Extent of each dimension ([] for a scalar).
    public let shape: [Int]
    /// The backend the elements live on.
    public let backend: any Backend
    /// The elements (count = product of `shape`), possibly shared with reshaped views. A
    /// `TensorArena` moves a model's tensors into one flat buffer, each keeping a view of it.
    public internal(set) var storage: any DeviceBuffer
    /// The arena this tensor was packed into, if any (see `TensorArena`).
    public internal(set) weak var arena: TensorArena?
    /// What the elements mean: `float32`, or `int32` for labels and indices (stored as fp32).
    public let dtype: DType
    /// Whether gradients flow to this tensor (set on leaves you want gradients for).
    public var requiresGrad: Bool
    /// The accumulated gradient after `backward()` (same shape), for leaves with `requiresGrad`.
    public var grad: Tensor?
    /// How this tensor was computed (nil for leaves and outside autograd).
    var node: GradNode?

    /// Number of elements.
    public var count: Int { shape.reduce(1, *) }
    /// Number of dimensions.
    public var rank: Int { shape.count }

    /// Wraps existing storage (which must hold at least `shape`'s element count).
    public init(storage: any DeviceBuffer, shape: [Int], backend: any Backend, dtype: DType = .float32, requiresGrad: Bool = false) {
        precondition(storage.count >= shape.reduce(1, *), "storage holds \(storage.count) elements, shape \(shape) needs more")
        self.storage = storage
        self.shape = shape
        self.backend = backend
        self.dtype = dtype
        self.requiresGrad = requiresGrad
    }

    /// A tensor holding `values` in `shape` on `backend`.
    public convenience init(_ values: [Float], shape: [Int], on backend: any Backend, requiresGrad: Bool = false) throws {
        try Tensor.checkShape(shape)
        guard values.count == shape.reduce(1, *) else {
            throw ScalpelError.shapeMismatch(op: "Tensor", detail: "\(values.count) values do not fill shape \(shape)")
        }
        self.init(storage: try backend.makeBuffer(values), shape: shape, backend: backend, requiresGrad: requiresGrad)
    }

    /// An int32 tensor of labels or indices.
    public convenience init(labels: [Int32], shape: [Int]? = nil, on backend: any Backend) throws {
        let shape = shape ?? [labels.count]
        guard labels.count == shape.reduce(1, *) else {
            throw ScalpelError.shapeMismatch(op: "Tensor(labels:)", detail: "\(labels.count) labels do not fill shape \(shape)")
        }
        self.init(storage: try backend.makeBuffer(labels.map { Float($0) }), shape: shape, backend: backend, dtype: .int32)
    }

    static func checkShape(_ shape: [Int]) throws {
        guard shape.allSatisfy({ $0 >= 0 }) else {
            throw ScalpelError.shapeMismatch(op: "Tensor", detail: "negative dimension in \(shape)")
        }
    }

    /// An uninitialised tensor (for kernels that write every element).
    static func empty(_ shape: [Int], on backend: any Backend, dtype: DType = .float32) throws -> Tensor {
        Tensor(storage: try backend.makeBuffer(count: shape.reduce(1, *)), shape: shape, backend: backend, dtype: dtype)
    }

    /// A tensor of `shape` filled with `value`.
    public static func full(_ shape: [Int], _ value: Float, on backend: any Backend, requiresGrad: Bool = false) throws -> Tensor {
        try checkShape(shape)
        let t = try empty(shape, on: backend)
        try backend.fill(t.storage, value: value, offset: 0, count: t.count)
        t.requiresGrad = requiresGrad
        return t
    }

    /// A tensor of `shape` filled with 0.
    public static func zeros(_ shape: [Int], on backend: any Backend, requiresGrad: Bool = false) throws -> Tensor {
        try full(shape, 0, on: backend, requiresGrad: requiresGrad)
    }

    /// A tensor of `shape` filled with 1.
    public static func ones(_ shape: [Int], on backend: any Backend, requiresGrad: Bool = false) throws -> Tensor {
        try full(shape, 1, on: backend, requiresGrad: requiresGrad)
    }

    /// A scalar (shape []).
    public static func scalar(_ value: Float, on backend: any Backend) throws -> Tensor {
        try full([], value, on: backend)
    }

    /// 0, 1, …, n−1.
    public static func arange(_ n: Int, on backend: any Backend) throws -> Tensor {
        try Tensor((0 ..< n).map(Float.init), shape: [n], on: backend)
    }

    /// The most elements one randomly initialised tensor (a parameter being made) may have in
    /// the current task; nil: no limit. A model built from a saved configuration is built under
    /// the size of the checkpoint's largest tensor, so a configuration that does not fit its
    /// weights is refused before anything large is allocated.
    @TaskLocal public static var initializationLimit: Int? = nil

    /// The element count of a tensor about to be initialised, checked against overflow, negative
    /// dimensions and `initializationLimit`.
    static func initializedCount(_ shape: [Int]) throws -> Int {
        try checkShape(shape)
        var count = 1
        for dimension in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            guard !overflow else { throw ScalpelError.shapeMismatch(op: "Tensor", detail: "the shape \(shape) has more elements than memory can hold") }
            count = product
        }
        if let limit = initializationLimit, count > limit {
            throw ScalpelError.invalidArgument("a parameter of shape \(shape) (\(count) values) is larger than the limit of \(limit) values")
        }
        return count
    }

    /// Normal(mean, std) values from a seeded generator (Box–Muller), reproducible across backends.
    public static func normal(_ shape: [Int], mean: Float = 0, std: Float = 1, generator: inout SeededRandom, on backend: any Backend,
                              requiresGrad: Bool = false) throws -> Tensor {
        let n = try initializedCount(shape)
        var values = [Float](repeating: 0, count: n)
        var i = 0
        while i < n {
            let u1 = Swift.max(Double(generator.next() >> 11) / Double(1 << 53), 1e-300), u2 = Double(generator.next() >> 11) / Double(1 << 53)
            let radius = (-2 * Foundation.log(u1)).squareRoot()
            values[i] = mean + std * Float(radius * Foundation.cos(2 * .pi * u2))
            if i + 1 < n { values[i + 1] = mean + std * Float(radius * Foundation.sin(2 * .pi * u2)) }
            i += 2
        }
        return try Tensor(values, shape: shape, on: backend, requiresGrad: requiresGrad)
    }

    /// Uniform [low, high) values from a seeded generator.
    public static func uniform(_ shape: [Int], low: Float = 0, high: Float = 1, generator: inout SeededRandom, on backend: any Backend,
                               requiresGrad: Bool = false) throws -> Tensor {
        try Tensor(generator.uniformArray(try initializedCount(shape), low, high), shape: shape, on: backend, requiresGrad: requiresGrad)
    }

    /// The elements, copied to the host (waits for pending work).
    public func array() throws -> [Float] {
        guard count > 0 else { return [] }
        return try [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            try backend.read(storage, at: 0, into: buffer)
            initialized = count
        }
    }

    /// The single element of a one-element tensor.
    public func item() throws -> Float {
        guard count == 1 else { throw ScalpelError.shapeMismatch(op: "item", detail: "tensor of shape \(shape) has \(count) elements, not 1") }
        return try array()[0]
    }

    /// A copy on `target` (self when already there). Not differentiable across backends.
    public func to(_ target: any Backend) throws -> Tensor {
        if target === backend { return self }
        let copy = Tensor(storage: try target.makeBuffer(try array()), shape: shape, backend: target, dtype: dtype)
        copy.requiresGrad = requiresGrad
        return copy
    }

    /// A new leaf holding the same values, outside the graph.
    public func detached() -> Tensor {
        Tensor(storage: storage, shape: shape, backend: backend, dtype: dtype)
    }

    /// One line for printing: shape, dtype, backend, whether it requires grad and at most the
    /// first 8 values, e.g. `Tensor(shape: [2], float32, on cpu: [1, 2])`; reading the values
    /// waits for pending work (`?` when the read fails).
    public var description: String {
        let preview = (try? array().prefix(8).map { String(format: "%.4g", $0) }.joined(separator: ", ")) ?? "?"
        return "Tensor(shape: \(shape), \(dtype), on \(backend.id)\(requiresGrad ? ", requires grad" : ""): [\(preview)\(count > 8 ? ", …" : "")])"
    }

    /// Throws unless `other` lives on the same backend.
    func sameBackend(_ other: Tensor, _ op: String) throws {
        guard other.backend === backend else {
            throw ScalpelError.foreignBuffer(op: op, expected: backend.id.description, got: other.backend.id.description)
        }
    }
}
