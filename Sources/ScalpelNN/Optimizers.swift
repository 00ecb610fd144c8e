import Foundation
import ScalpelCore
import ScalpelTensor

/// Parameters that share a learning rate and a weight decay (PyTorch's parameter groups): a
/// pretrained backbone at a tenth of the head's rate, or biases and norms without decay.
public struct ParameterGroup {
    /// The group's parameters with their names (the names checkpoints use).
    public var parameters: [(name: String, tensor: Tensor)]
    /// The group's learning rate while the optimizer's `learningRate` is at its initial value
    /// (a schedule scales every group by the same factor); nil: the optimizer's.
    public var learningRate: Float?
    /// The group's weight decay; nil: the optimizer's.
    public var weightDecay: Float?

    /// A group of `parameters` (for example `model.head.namedParameters()`).
    public init(_ parameters: [(name: String, tensor: Tensor)], learningRate: Float? = nil, weightDecay: Float? = nil) {
        self.parameters = parameters
        self.learningRate = learningRate
        self.weightDecay = weightDecay
    }
}

/// Updates parameters from their gradients with one fused kernel: over all of them at once
/// when they are packed in a `TensorArena` (see `Module.packTensors()`), else per tensor.
///
/// Parameters come in groups (`ParameterGroup`), each with its own learning rate and weight
/// decay; packed parameters of one group that lie side by side are updated by one launch. A
/// parameter whose `requiresGrad` is off (a frozen layer, see `Module.freeze()`) is skipped:
/// neither its value nor its optimizer state moves.
public class Optimizer {
    /// Every group's parameters, in order, with their names (for checkpoints).
    public private(set) var parameters: [(name: String, tensor: Tensor)]
    /// The parameter groups, in order (`parameters` is their concatenation).
    public private(set) var groups: [ParameterGroup]
    /// The learning rate of the next step (schedules set it); a group with its own rate is
    /// scaled by `learningRate / initialLearningRate`.
    public var learningRate: Float
    /// The learning rate the optimizer was made with.
    public let initialLearningRate: Float
    /// Steps taken so far.
    public internal(set) var stepCount = 0
    /// Per-parameter state: first buffer (momentum / first moment), second (second moment).
    private(set) var state1: [Tensor]
    private(set) var state2: [Tensor]
    /// The group of each parameter.
    private var groupOf: [Int]

    /// The update rule and its hyperparameters (learning rate and step filled in per step).
    var rule: OptimizerStep
    /// Names of the two state buffers, for checkpoints.
    let stateNames: (String, String)
    /// With packed parameters: their arena, and the flat buffers of the two states laid out as
    /// the arena's trainable regions, with a view per region.
    private var packedState: (arena: TensorArena, first: any DeviceBuffer, second: any DeviceBuffer, views: [(Tensor, Tensor)])?
    /// How the next step launches, and for which state of the parameters (rebuilt when a
    /// parameter is frozen or unfrozen, a gradient rebound or a group changed).
    private var plan: UpdatePlan?

    /// One launch over a span of the flat buffers: packed parameters of one group, side by side.
    private struct PackedRun {
        let group: Int
        let parameter: any DeviceBuffer, gradient: any DeviceBuffer, state1: any DeviceBuffer, state2: any DeviceBuffer
        let count: Int
    }

    private struct UpdatePlan {
        /// Per parameter: -2 skipped (frozen, or no gradient), -1 updated alone, k ≥ 0 the arena region.
        let key: [Int]
        let runs: [PackedRun]
        let loose: [Int]
    }

    /// An optimizer over `groups` with the fused update `rule` (its learning rate, weight decay
    /// and step are filled in per group and step), naming its two state buffers `stateNames`
    /// in checkpoints. `SGD` and `Adam` are the usual ways in.
    public init(groups: [ParameterGroup], learningRate: Float, rule: OptimizerStep, stateNames: (String, String)) throws {
        parameters = []
        self.groups = []
        state1 = []
        state2 = []
        groupOf = []
        self.learningRate = learningRate
        initialLearningRate = learningRate
        self.rule = rule
        self.stateNames = stateNames
        let all = groups.flatMap { $0.parameters.map(\.tensor) }
        if let arena = all.first?.arena, all.contains(where: { arena.trainableIndex(of: $0) != nil }) {
            let (first, second) = (try arena.makeTrainableState(), try arena.makeTrainableState())
            packedState = (arena, first.flat, second.flat, Array(zip(first.tensors, second.tensors)))
        }
        for group in groups { try add(group) }
    }

    /// Adds a group (a layer unfrozen later in fine-tuning, say); its state starts at zero.
    public func add(_ group: ParameterGroup) throws {
        var seen = Set(parameters.map { ObjectIdentifier($0.tensor) })
        for (name, tensor) in group.parameters {
            guard seen.insert(ObjectIdentifier(tensor)).inserted else {
                throw ScalpelError.invalidArgument("optimizer: the parameter \(name) is listed twice")
            }
            if let packed = packedState, let region = packed.arena.trainableIndex(of: tensor) {
                state1.append(packed.views[region].0)
                state2.append(packed.views[region].1)
            } else {
                state1.append(try Tensor.zeros(tensor.shape, on: tensor.backend))
                state2.append(try Tensor.zeros(tensor.shape, on: tensor.backend))
            }
            groupOf.append(groups.count)
        }
        parameters += group.parameters
        groups.append(group)
        plan = nil
    }

    /// Sets group `index`'s own learning rate and weight decay (nil: the optimizer's).
    public func setGroup(_ index: Int, learningRate: Float?, weightDecay: Float?) throws {
        guard groups.indices.contains(index) else {
            throw ScalpelError.invalidArgument("optimizer: no parameter group \(index) (there are \(groups.count))")
        }
        groups[index].learningRate = learningRate
        groups[index].weightDecay = weightDecay
        plan = nil
    }

    /// The learning rate group `index` steps with now.
    public func learningRate(ofGroup index: Int) -> Float {
        guard let own = groups[index].learningRate else { return learningRate }
        guard learningRate != initialLearningRate, initialLearningRate != 0 else { return own }
        return own * (learningRate / initialLearningRate)
    }

    /// Applies one update to every parameter that requires a gradient and has one: one launch
    /// per group when they are packed (the same arithmetic per element as one launch per tensor).
    public func step() throws {
        stepCount += 1
        let key = currentKey()
        if plan?.key != key { plan = try makePlan(key) }
        guard let plan else { return }
        if let backend = packedState?.arena.backend {
            for run in plan.runs {
                var settings = settings(group: run.group)
                settings.step = stepCount
                try backend.optimizerStep(settings, parameter: run.parameter, gradient: run.gradient, state1: run.state1,
                                          state2: run.state2, count: run.count)
            }
        }
        for index in plan.loose {
            let p = parameters[index].tensor
            guard let grad = p.grad else { continue }
            var settings = settings(group: groupOf[index])
            settings.step = stepCount
            try p.backend.optimizerStep(settings, parameter: p.storage, gradient: grad.storage, state1: state1[index].storage,
                                        state2: state2[index].storage, count: p.count)
        }
    }

    private func settings(group: Int) -> OptimizerStep {
        var settings = rule
        settings.learningRate = learningRate(ofGroup: group)
        if let decay = groups[group].weightDecay { settings.weightDecay = decay }
        return settings
    }

    private func currentKey() -> [Int] {
        parameters.map { _, tensor in
            guard tensor.requiresGrad else { return -2 }
            if let packed = packedState, let region = packed.arena.trainableIndex(of: tensor) { return region }
            return -1
        }
    }

    private func makePlan(_ key: [Int]) throws -> UpdatePlan {
        let loose = key.indices.filter { key[$0] == -1 }
        guard let packed = packedState else { return UpdatePlan(key: key, runs: [], loose: loose) }
        let arena = packed.arena, backend = arena.backend
        // Packed parameters in arena order; regions next to each other in one group form a run.
        let regions = key.indices.filter { key[$0] >= 0 }.sorted { key[$0] < key[$1] }
        var spans: [(group: Int, first: Int, last: Int)] = []
        for index in regions {
            let region = key[index]
            if let last = spans.last, last.group == groupOf[index], last.last + 1 == region {
                spans[spans.count - 1].last = region
            } else {
                spans.append((groupOf[index], region, region))
            }
        }
        let runs = try spans.map { span -> PackedRun in
            let start = arena.offsets[span.first], end = arena.offsets[span.last] + arena.tensors[span.last].count
            func part(_ buffer: any DeviceBuffer) throws -> any DeviceBuffer {
                start == 0 ? buffer : try backend.makeView(of: buffer, offset: start, count: end - start)
            }
            return PackedRun(group: span.group, parameter: try part(arena.storage), gradient: try part(arena.gradients),
                             state1: try part(packed.first), state2: try part(packed.second), count: end - start)
        }
        return UpdatePlan(key: key, runs: runs, loose: loose)
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
    /// The momentum factor (0: plain SGD).
    public var momentum: Float { get { rule.beta1 } set { rule.beta1 = newValue } }
    /// Dampening of the momentum buffer's gradient term.
    public var dampening: Float { get { rule.dampening } set { rule.dampening = newValue } }
    /// Nesterov momentum.
    public var nesterov: Bool { get { rule.nesterov } set { rule.nesterov = newValue } }
    /// L2 weight decay of the groups without their own.
    public var weightDecay: Float { get { rule.weightDecay } set { rule.weightDecay = newValue } }

    /// SGD over `parameters` (for example `model.namedParameters()`), one group.
    public convenience init(_ parameters: [(name: String, tensor: Tensor)], learningRate: Float, momentum: Float = 0, dampening: Float = 0,
                            nesterov: Bool = false, weightDecay: Float = 0) throws {
        try self.init(groups: [ParameterGroup(parameters)], learningRate: learningRate, momentum: momentum, dampening: dampening,
                      nesterov: nesterov, weightDecay: weightDecay)
    }

    /// SGD over parameter groups; a group's own learning rate and weight decay replace these.
    public init(groups: [ParameterGroup], learningRate: Float, momentum: Float = 0, dampening: Float = 0,
                nesterov: Bool = false, weightDecay: Float = 0) throws {
        guard !nesterov || (momentum > 0 && dampening == 0) else {
            throw ScalpelError.invalidArgument("Nesterov momentum needs momentum > 0 and no dampening")
        }
        try super.init(groups: groups, learningRate: learningRate,
                       rule: OptimizerStep(kind: .sgd, learningRate: learningRate, beta1: momentum, weightDecay: weightDecay, nesterov: nesterov,
                                           dampening: dampening, step: 0),
                       stateNames: ("momentum_buffer", "unused"))
    }
}

/// Adam, or AdamW with `decoupledWeightDecay` (PyTorch's `torch.optim.Adam` / `AdamW`).
public final class Adam: Optimizer {
    /// The first moment's decay (β1).
    public var beta1: Float { get { rule.beta1 } set { rule.beta1 = newValue } }
    /// The second moment's decay (β2).
    public var beta2: Float { get { rule.beta2 } set { rule.beta2 = newValue } }
    /// Added to the second moment's square root (ε).
    public var epsilon: Float { get { rule.epsilon } set { rule.epsilon = newValue } }
    /// Weight decay of the groups without their own (through the gradient, or decoupled for AdamW).
    public var weightDecay: Float { get { rule.weightDecay } set { rule.weightDecay = newValue } }
    /// AdamW: weight decay applied to the parameters directly, not through the gradient.
    public var decoupledWeightDecay: Bool { rule.decoupledWeightDecay }

    /// Adam over `parameters` (for example `model.namedParameters()`), one group.
    public convenience init(_ parameters: [(name: String, tensor: Tensor)], learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999,
                            epsilon: Float = 1e-8, weightDecay: Float = 0, decoupledWeightDecay: Bool = false) throws {
        try self.init(groups: [ParameterGroup(parameters)], learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon,
                      weightDecay: weightDecay, decoupledWeightDecay: decoupledWeightDecay)
    }

    /// Adam over parameter groups; a group's own learning rate and weight decay replace these.
    public init(groups: [ParameterGroup], learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999,
                epsilon: Float = 1e-8, weightDecay: Float = 0, decoupledWeightDecay: Bool = false) throws {
        try super.init(groups: groups, learningRate: learningRate,
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
    /// Linear warm-up over `epochs` epochs (epoch e gets base·(e + 1)/epochs, the base rate at the
    /// last of them), then `then` from epoch 0.
    indirect case warmup(epochs: Int, then: LearningRateSchedule)
    /// × `factor` whenever the monitored loss has not improved by 1e-4 for `patience` epochs,
    /// never below `minimum` (Keras's ReduceLROnPlateau, with which Wang et al. 2017 trained the
    /// FCN). It depends on the losses so far: see `rate(base:epoch:losses:)`.
    case plateau(patience: Int, factor: Float, minimum: Float)

    /// The rate of 0-based `epoch` for the base rate `base`; a plateau schedule, which needs the losses, gives
    /// `base` here (see `rate(base:epoch:losses:)`).
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
