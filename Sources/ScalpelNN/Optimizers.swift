import Foundation
import ScalpelCore
import ScalpelTensor

/// Updates parameters from their gradients with one fused kernel: over all of them at once
/// when they are packed in a `TensorArena` (see `Module.packTensors()`), else per tensor.
public class Optimizer {
    /// The parameters, with their names (for checkpoints).
    public let parameters: [(name: String, tensor: Tensor)]
    /// The learning rate of the next step (schedules set it).
    public var learningRate: Float
    /// Steps taken so far.
    public internal(set) var stepCount = 0
    /// Per-parameter state: first buffer (momentum / first moment), second (second moment).
    let state1: [Tensor]
    let state2: [Tensor]

    /// The update rule and its hyperparameters (learning rate and step filled in per step).
    var rule: OptimizerStep
    /// Names of the two state buffers, for checkpoints.
    let stateNames: (String, String)
    /// With packed parameters: the flat buffers of the two states, laid out as the arena's
    /// trainable regions (`state1`/`state2` are views of them).
    private let flatState: (any DeviceBuffer, any DeviceBuffer)?

    init(_ parameters: [(name: String, tensor: Tensor)], learningRate: Float, rule: OptimizerStep, stateNames: (String, String)) throws {
        self.parameters = parameters
        self.learningRate = learningRate
        self.rule = rule
        self.stateNames = stateNames
        if let arena = TensorArena.packing(parameters.map(\.tensor)) {
            let (first, second) = (try arena.makeTrainableState(), try arena.makeTrainableState())
            state1 = first.tensors
            state2 = second.tensors
            flatState = (first.flat, second.flat)
        } else {
            state1 = try parameters.map { try Tensor.zeros($0.tensor.shape, on: $0.tensor.backend) }
            state2 = try parameters.map { try Tensor.zeros($0.tensor.shape, on: $0.tensor.backend) }
            flatState = nil
        }
    }

    /// Applies one update to every parameter that has a gradient: one launch for all of them
    /// when they are packed (the same arithmetic per element as one launch per tensor).
    public func step() throws {
        stepCount += 1
        var settings = rule
        settings.learningRate = learningRate
        settings.step = stepCount
        if let (first, second) = flatState, let arena = TensorArena.packing(parameters.map(\.tensor)) {
            return try arena.backend.optimizerStep(settings, parameter: arena.storage, gradient: arena.gradients, state1: first, state2: second,
                                                   count: arena.trainableExtent)
        }
        for (index, (_, p)) in parameters.enumerated() {
            guard let grad = p.grad else { continue }
            try p.backend.optimizerStep(settings, parameter: p.storage, gradient: grad.storage, state1: state1[index].storage,
                                        state2: state2[index].storage, count: p.count)
        }
    }

    /// Zeroes every parameter's gradient (one launch when they are packed).
    public func zeroGrad() throws {
        if let arena = TensorArena.packing(parameters.map(\.tensor)) { return try arena.zeroGradients() }
        for (_, p) in parameters { try p.zeroGrad() }
    }

    /// Optimizer state as named tensors (`optimizer.<param>.state1` …), for checkpoints.
    public func namedState() -> [(name: String, tensor: Tensor)] {
        parameters.indices.flatMap { i in
            [("optimizer.\(parameters[i].name).\(stateNames.0)", state1[i]), ("optimizer.\(parameters[i].name).\(stateNames.1)", state2[i])]
        }
    }
}

/// Stochastic gradient descent with momentum, dampening, Nesterov and L2 weight decay
/// (PyTorch's `torch.optim.SGD`).
public final class SGD: Optimizer {
    public var momentum: Float { get { rule.beta1 } set { rule.beta1 = newValue } }
    public var dampening: Float { get { rule.dampening } set { rule.dampening = newValue } }
    public var nesterov: Bool { get { rule.nesterov } set { rule.nesterov = newValue } }
    public var weightDecay: Float { get { rule.weightDecay } set { rule.weightDecay = newValue } }

    public init(_ parameters: [(name: String, tensor: Tensor)], learningRate: Float, momentum: Float = 0, dampening: Float = 0,
                nesterov: Bool = false, weightDecay: Float = 0) throws {
        guard !nesterov || (momentum > 0 && dampening == 0) else {
            throw ScalpelError.invalidArgument("Nesterov momentum needs momentum > 0 and no dampening")
        }
        try super.init(parameters, learningRate: learningRate,
                       rule: OptimizerStep(kind: .sgd, learningRate: learningRate, beta1: momentum, weightDecay: weightDecay, nesterov: nesterov,
                                           dampening: dampening, step: 0),
                       stateNames: ("momentum_buffer", "unused"))
    }
}

/// Adam, or AdamW with `decoupledWeightDecay` (PyTorch's `torch.optim.Adam` / `AdamW`).
public final class Adam: Optimizer {
    public var beta1: Float { get { rule.beta1 } set { rule.beta1 = newValue } }
    public var beta2: Float { get { rule.beta2 } set { rule.beta2 = newValue } }
    public var epsilon: Float { get { rule.epsilon } set { rule.epsilon = newValue } }
    public var weightDecay: Float { get { rule.weightDecay } set { rule.weightDecay = newValue } }
    public var decoupledWeightDecay: Bool { rule.decoupledWeightDecay }

    public init(_ parameters: [(name: String, tensor: Tensor)], learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999,
                epsilon: Float = 1e-8, weightDecay: Float = 0, decoupledWeightDecay: Bool = false) throws {
        try super.init(parameters, learningRate: learningRate,
                       rule: OptimizerStep(kind: .adam, learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon,
                                           weightDecay: weightDecay, decoupledWeightDecay: decoupledWeightDecay, step: 0),
                       stateNames: ("exp_avg", "exp_avg_sq"))
    }

    /// AdamW: decoupled weight decay (default 0.01, as in PyTorch).
    public static func adamW(_ parameters: [(name: String, tensor: Tensor)], learningRate: Float = 1e-3, weightDecay: Float = 0.01) throws -> Adam {
        try Adam(parameters, learningRate: learningRate, weightDecay: weightDecay, decoupledWeightDecay: true)
    }
}

/// Scales every gradient so that their global L2 norm is at most `maxNorm` (as PyTorch's
/// `clip_grad_norm_`: by maxNorm / (norm + 1e-6) when that is below 1); returns the norm before
/// clipping as a one-element tensor. Everything stays on the device: no host read, so a
/// training step that clips does not wait for the device's queue to drain.
@discardableResult
public func clipGradientNorm(_ parameters: [Tensor], maxNorm: Float) throws -> Tensor {
    let grads = parameters.compactMap(\.grad)
    guard let first = grads.first else {
        guard let parameter = parameters.first else { throw ScalpelError.invalidArgument("clipGradientNorm: no parameters") }
        return try Tensor.zeros([1], on: parameter.backend)
    }
    let backend = first.backend
    return try Autograd.noGrad {
        // Packed parameters: the norm over the flat gradient buffer and one scaling launch.
        if let arena = TensorArena.packing(parameters) {
            let squared = Tensor(storage: try backend.makeBuffer(count: 1), shape: [1], backend: backend)
            try backend.sumOfSquares(arena.gradients, segments: arena.trainableSegments, out: squared.storage)
            let norm = try squared.sqrt()
            let scale = try (maxNorm / (norm + 1e-6)).minimum(Tensor.constant(1, on: backend))
            try backend.binary(.mul, a: arena.gradients, b: scale.storage, out: arena.gradients,
                               layout: try BroadcastLayout([arena.trainableExtent], [1], op: "clipGradientNorm"))
            return norm
        }
        // Σ of squares per gradient into one buffer, then summed.
        let partial = try backend.makeBuffer(count: grads.count)
        let square = try backend.makeBuffer(count: 1)
        for (i, grad) in grads.enumerated() {
            try backend.reduce(.sumOfSquares, x: grad.storage, out: square, outer: 1, axis: grad.count, inner: 1)
            try backend.copy(StridedCopy(shape: [1], srcStrides: [1], dstOffset: i, dstStrides: [1]), from: square, to: partial)
        }
        let norm = try Tensor(storage: partial, shape: [grads.count], backend: backend).sum().sqrt().reshaped([1])
        let scale = try (maxNorm / (norm + 1e-6)).minimum(Tensor.constant(1, on: backend))
        for grad in grads {
            try backend.binary(.mul, a: grad.storage, b: scale.storage, out: grad.storage, layout: try BroadcastLayout(grad.shape, [1], op: "clipGradientNorm"))
        }
        return norm
    }
}

/// Learning-rate schedules: the rate for a 0-based epoch (or step).
public enum LearningRateSchedule: Sendable {
    /// The base rate throughout.
    case constant
    /// × gamma every `stepSize` epochs.
    case step(stepSize: Int, gamma: Float)
    /// Cosine from the base rate down to `minimum` over `total` epochs.
    case cosine(total: Int, minimum: Float)
    /// Linear from 0 up to the base rate over `warmup` epochs, then `then`.
    indirect case warmup(epochs: Int, then: LearningRateSchedule)
    /// × `factor` whenever the monitored loss has not improved by 1e-4 for `patience` epochs,
    /// never below `minimum` (Keras's ReduceLROnPlateau, with which Wang et al. 2017 trained the
    /// FCN). It depends on the losses so far: see `rate(base:epoch:losses:)`.
    case plateau(patience: Int, factor: Float, minimum: Float)

    public func rate(base: Float, epoch: Int) -> Float {
        switch self {
        case .constant:
            return base
        case let .step(stepSize, gamma):
            return base * Foundation.pow(gamma, Float(epoch / Swift.max(stepSize, 1)))
        case let .cosine(total, minimum):
            let t = Float(Swift.min(epoch, total)) / Float(Swift.max(total, 1))
            return minimum + (base - minimum) * (1 + Foundation.cos(.pi * t)) / 2
        case let .warmup(epochs, then):
            if epoch < epochs { return base * Float(epoch + 1) / Float(epochs) }
            return then.rate(base: base, epoch: epoch - epochs)
        case .plateau:
            return base
        }
    }

    /// The rate of `epoch` given the monitored loss of each epoch before it (`losses[i]` is
    /// epoch i's). A plateau schedule replays them, so a resumed run continues exactly; the
    /// others ignore them.
    public func rate(base: Float, epoch: Int, losses: [Double]) -> Float {
        guard case let .plateau(patience, factor, minimum) = self else { return rate(base: base, epoch: epoch) }
        var rate = base, best = Double.infinity, wait = 0
        for loss in losses.prefix(epoch) {
            if loss < best - 1e-4 {
                best = loss
                wait = 0
            } else {
                wait += 1
                if wait >= Swift.max(patience, 1) {
                    rate = Swift.max(rate * factor, minimum)
                    wait = 0
                }
            }
        }
        return rate
    }
}
