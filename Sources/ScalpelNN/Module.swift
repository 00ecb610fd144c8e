import ScalpelCore
import ScalpelTensor

/// Something that maps a tensor to a tensor.
public protocol Layer: AnyObject {
    /// The layer's output for `x`; throws when `x`'s shape does not fit the layer.
    func callAsFunction(_ x: Tensor) throws -> Tensor
}

/// A layer that can apply a following ReLU itself, inside its own kernels (a batch norm's, a
/// GEMM's or an implicit-GEMM convolution's store), with the same values as the two layers
/// apart. `Sequential` runs such a layer directly followed by a `ReLU` as one.
public protocol ReLUFusing: Layer {
    /// The layer's output, then max(0, ·) when `relu`.
    func callAsFunction(_ x: Tensor, relu: Bool) throws -> Tensor
}

/// The base of every model part. Parameters and state are found by reflection over stored
/// properties — `Tensor`s (parameters when they require gradients, otherwise state such as
/// running statistics), child `Module`s, and arrays or optionals of them — and named by their
/// property paths (`layers.0.weight`), the names checkpoints use.
open class Module {
    /// Training mode (dropout active, batch statistics) or evaluation mode.
    public private(set) var isTraining = true
    /// The flat buffers this module's tensors were packed into by `packTensors()`, if any.
    public private(set) var arena: TensorArena?
    /// This module's own parameters (not its children's) that `freeze()` turned off.
    private var frozenTensors: [Tensor] = []

    /// A module with no tensors of its own; subclasses declare theirs as stored properties.
    public init() {}

    /// Every tensor with its path, parameters and state alike, in declaration order.
    public func namedTensors() -> [(name: String, tensor: Tensor)] {
        var found: [(String, Tensor)] = []
        visit(prefix: "") { name, value in
            if let tensor = value as? Tensor { found.append((name, tensor)) }
        }
        return found
    }

    /// Trainable parameters (tensors that require gradients) with their paths.
    public func namedParameters() -> [(name: String, tensor: Tensor)] {
        namedTensors().filter { $0.tensor.requiresGrad }
    }

    /// Trainable parameters.
    public func parameters() -> [Tensor] { namedParameters().map(\.tensor) }

    /// Number of trainable scalars.
    public var parameterCount: Int { parameters().map(\.count).reduce(0, +) }

    /// Sets training or evaluation mode here and in every child module.
    public func train(_ on: Bool = true) {
        isTraining = on
        visit(prefix: "") { _, value in (value as? Module)?.isTraining = on }
    }

    /// Evaluation mode.
    public func eval() { train(false) }

    /// Clears every parameter's gradient (one launch when the parameters are packed).
    public func zeroGrad() throws {
        let parameters = parameters()
        if let arena = TensorArena.packing(parameters) { return try arena.zeroGradients() }
        for p in parameters { try p.zeroGrad() }
    }

    /// Packs every tensor of this module (parameters, then state such as running statistics)
    /// into one flat buffer, each tensor a view of it, with a flat buffer of gradients: the
    /// optimizer, gradient zeroing and clipping, and the weight average then take one launch
    /// each for all parameters instead of one per tensor. Values, names and checkpoints are
    /// unchanged. Call it after building the model and before making its optimizer.
    @discardableResult
    public func packTensors() throws -> TensorArena {
        if let arena { return arena }
        let packed = try TensorArena(namedTensors().map(\.tensor))
        arena = packed
        return packed
    }

    /// Freezes every parameter here and below: each stops requiring gradients, so backward
    /// passes compute none for it, `namedParameters()` leaves it out and an optimizer skips
    /// it (value and state unchanged) — the first layers of a pretrained model while its head
    /// is fine-tuned. Checkpoints still hold it (`namedTensors()`). `unfreeze()` undoes it.
    public func freeze() {
        forEachModule { module in
            let own = module.ownTensors().filter(\.requiresGrad)
            for tensor in own { tensor.requiresGrad = false }
            module.frozenTensors += own
        }
    }

    /// Makes every parameter that `freeze()` froze here or below trainable again (running
    /// statistics, which never required gradients, stay as they are).
    public func unfreeze() {
        forEachModule { module in
            for tensor in module.frozenTensors { tensor.requiresGrad = true }
            module.frozenTensors = []
        }
    }

    /// Whether `freeze()` froze parameters here or below that are still frozen.
    public var hasFrozenParameters: Bool {
        var found = false
        forEachModule { found = found || !$0.frozenTensors.isEmpty }
        return found
    }

    /// This module and every module below it, depth first.
    public func modules() -> [Module] {
        var found: [Module] = []
        forEachModule { found.append($0) }
        return found
    }

    /// Calls `body` with this module and every module below it.
    private func forEachModule(_ body: (Module) -> Void) {
        body(self)
        visit(prefix: "") { _, value in if let module = value as? Module { body(module) } }
    }

    /// The tensors this module holds itself, not through a child module.
    private func ownTensors() -> [Tensor] {
        var inChildren = Set<ObjectIdentifier>()
        var all: [Tensor] = []
        visit(prefix: "") { _, value in
            if let module = value as? Module {
                for (_, tensor) in module.namedTensors() { inChildren.insert(ObjectIdentifier(tensor)) }
            } else if let tensor = value as? Tensor {
                all.append(tensor)
            }
        }
        return all.filter { !inChildren.contains(ObjectIdentifier($0)) }
    }

    /// Calls `body` with every tensor or module below this one (not this one), depth first.
    private func visit(prefix: String, _ body: (String, Any) -> Void) {
        var mirror: Mirror? = Mirror(reflecting: self)
        var children: [(String, Any)] = []
        while let current = mirror {
            // Superclass properties first, so names follow declaration order.
            children.insert(contentsOf: current.children.compactMap { child in child.label.map { ($0, child.value) } }, at: 0)
            mirror = current.superclassMirror
        }
        for (label, value) in children where label != "isTraining" && label != "arena" && label != "frozenTensors" {
            walk(prefix + label, value, body)
        }
    }

    private func walk(_ name: String, _ value: Any, _ body: (String, Any) -> Void) {
        if let tensor = value as? Tensor {
            body(name, tensor)
        } else if let module = value as? Module {
            body(name, module)
            module.visit(prefix: name + ".", body)
        } else {
            let mirror = Mirror(reflecting: value)
            switch mirror.displayStyle {
            case .collection?:
                for (index, child) in mirror.children.enumerated() { walk("\(name).\(index)", child.value, body) }
            case .optional?:
                if let some = mirror.children.first { walk(name, some.value, body) }
            default:
                break
            }
        }
    }
}

/// Layers applied in order.
public final class Sequential: Module, Layer {
    /// The layers in the order they run; those that are modules are children named `layers.0`, `layers.1`, ….
    public let layers: [any Layer]

    /// A sequence of `layers`, run first to last (PyTorch's `nn.Sequential`).
    public init(_ layers: [any Layer]) {
        self.layers = layers
    }

    /// Runs the layers in order; a `ReLUFusing` layer (BatchNorm, Linear, Conv2d) directly
    /// followed by a ReLU runs as one fused layer, the ReLU layer then skipped.
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        var y = x
        var i = 0
        while i < layers.count {
            if let fusing = layers[i] as? any ReLUFusing, i + 1 < layers.count, layers[i + 1] is ReLU {
                y = try fusing(y, relu: true)
                i += 2
            } else {
                y = try layers[i](y)
                i += 1
            }
        }
        return y
    }
}
