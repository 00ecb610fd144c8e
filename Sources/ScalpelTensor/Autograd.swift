import ScalpelCore

/// One recorded operation: its inputs and how to turn the gradient of its output into
/// gradients of its inputs (nil for inputs that need none).
final class GradNode {
    let name: String
    let inputs: [Tensor]
    let backward: (Tensor) throws -> [Tensor?]

    init(name: String, inputs: [Tensor], backward: @escaping (Tensor) throws -> [Tensor?]) {
        self.name = name
        self.inputs = inputs
        self.backward = backward
    }
}

/// Reverse-mode automatic differentiation: a tape recorded by the operations themselves.
public enum Autograd {
    @TaskLocal static var enabled = true

    /// Whether operations record gradients now.
    public static var isEnabled: Bool { enabled }

    /// Runs `body` without recording gradients (evaluation, optimizer updates).
    public static func noGrad<R>(_ body: () throws -> R) rethrows -> R {
        try $enabled.withValue(false) { try body() }
    }
}

extension Tensor {
    /// Attaches `backward` to `output` when any input needs gradients and recording is on.
    @discardableResult
    static func record(_ output: Tensor, _ name: String, _ inputs: [Tensor], _ backward: @escaping (Tensor) throws -> [Tensor?]) -> Tensor {
        if Autograd.enabled && inputs.contains(where: \.requiresGrad) {
            output.requiresGrad = true
            output.node = GradNode(name: name, inputs: inputs, backward: backward)
        }
        return output
    }

    /// Computes the gradients of this tensor with respect to every leaf that requires them,
    /// adding them to each leaf's `grad` (gradients accumulate across calls, as in PyTorch;
    /// zero them between steps). `gradient` defaults to 1 for a one-element tensor.
    public func backward(_ gradient: Tensor? = nil) throws {
        guard requiresGrad else {
            throw ScalpelError.invalidArgument("backward() on a tensor that does not require gradients (no input had requiresGrad, or it was computed under noGrad)")
        }
        let seed: Tensor
        if let gradient {
            guard gradient.shape == shape else {
                throw ScalpelError.shapeMismatch(op: "backward", detail: "gradient shape \(gradient.shape) differs from the tensor's \(shape)")
            }
            seed = gradient
        } else {
            guard count == 1 else {
                throw ScalpelError.shapeMismatch(op: "backward", detail: "an implicit gradient needs a one-element tensor, this one has shape \(shape)")
            }
            seed = try Tensor.ones(shape, on: backend)
        }
        // Topological order (inputs before outputs) by an iterative depth-first search.
        var order: [Tensor] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(Tensor, Bool)] = [(self, false)]
        while let (tensor, expanded) = stack.popLast() {
            if expanded {
                order.append(tensor)
                continue
            }
            guard visited.insert(ObjectIdentifier(tensor)).inserted else { continue }
            stack.append((tensor, true))
            for input in tensor.node?.inputs ?? [] where input.requiresGrad && !visited.contains(ObjectIdentifier(input)) {
                stack.append((input, false))
            }
        }
        try Autograd.noGrad {
            var grads: [ObjectIdentifier: Tensor] = [ObjectIdentifier(self): seed]
            for tensor in order.reversed() {
                guard let g = grads.removeValue(forKey: ObjectIdentifier(tensor)) else { continue }
                if let node = tensor.node {
                    let inputGrads = try node.backward(g)
                    for (input, inputGrad) in zip(node.inputs, inputGrads) where input.requiresGrad {
                        guard let inputGrad else { continue }
                        let key = ObjectIdentifier(input)
                        grads[key] = try grads[key].map { try $0 + inputGrad } ?? inputGrad
                    }
                } else {
                    try tensor.accumulateGrad(g)
                }
            }
        }
    }

    /// grad += g, in place once a gradient buffer exists.
    func accumulateGrad(_ g: Tensor) throws {
        if let grad {
            try backend.axpby(alpha: 1, x: g.storage, beta: 1, y: grad.storage, count: count)
        } else {
            let fresh = try Tensor.empty(shape, on: backend)
            try backend.axpby(alpha: 1, x: g.storage, beta: 0, y: fresh.storage, count: count)
            grad = fresh
        }
    }

    /// Sets the gradient to zero (keeping its buffer), as before each training step.
    public func zeroGrad() throws {
        if let grad { try backend.fill(grad.storage, value: 0, offset: 0, count: grad.count) }
    }
}
