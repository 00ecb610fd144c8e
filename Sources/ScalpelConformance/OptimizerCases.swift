import ScalpelCore

extension KernelCases {
    /// The fused optimizer updates, three steps each from zero state (the first step
    /// initialises SGD's momentum, Adam's bias correction changes every step), on a parameter
    /// count that no work-group divides: the parameters and states after the last step.
    public static let optimizer: [KernelCase] = [
        optimizerCase("SGD", OptimizerStep(kind: .sgd, learningRate: 0.05, step: 0)),
        optimizerCase("SGD momentum, dampening, weight decay",
                      OptimizerStep(kind: .sgd, learningRate: 0.1, beta1: 0.9, weightDecay: 0.01, dampening: 0.1, step: 0), quick: true),
        optimizerCase("SGD Nesterov, weight decay", OptimizerStep(kind: .sgd, learningRate: 0.1, beta1: 0.9, weightDecay: 0.001, nesterov: true, step: 0)),
        optimizerCase("Adam, L2 weight decay",
                      OptimizerStep(kind: .adam, learningRate: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.01, step: 0)),
        optimizerCase("AdamW", OptimizerStep(kind: .adam, learningRate: 0.01, beta1: 0.8, beta2: 0.99, epsilon: 1e-6, weightDecay: 0.05,
                                             decoupledWeightDecay: true, step: 0), quick: true),
    ]

    /// The optim.cl kernel of each update rule.
    static func optimizerKernel(_ kind: OptimizerStep.Kind) -> String {
        switch kind {
        case .sgd: "sgd_step"
        case .adam: "adam_step"
        }
    }

    static func optimizerCase(_ name: String, _ rule: OptimizerStep, count: Int = 1037, steps: Int = 3, quick: Bool = false) -> KernelCase {
        .buffers(.optimizer, name, shape: "\(count) parameters, \(steps) steps", kernels: [optimizerKernel(rule.kind)],
                 quick: quick) { backend in
            var random = SeededRandom(seed: 81)
            let parameter = try backend.makeBuffer(random.uniformArray(count))
            let state1 = try backend.makeBuffer([Float](repeating: 0, count: count))
            let state2 = try backend.makeBuffer([Float](repeating: 0, count: count))
            for step in 1 ... steps {
                var settings = rule
                settings.step = step
                let gradient = try backend.makeBuffer(random.uniformArray(count))
                try backend.optimizerStep(settings, parameter: parameter, gradient: gradient, state1: state1, state2: state2, count: count)
            }
            var outputs = [KernelOutput("parameters", try doubles(parameter, on: backend))]
            if rule.kind == .adam || rule.beta1 != 0 { outputs.append(KernelOutput(rule.kind == .adam ? "first moment" : "momentum", try doubles(state1, on: backend))) }
            if rule.kind == .adam { outputs.append(KernelOutput("second moment", try doubles(state2, on: backend))) }
            return outputs
        }
    }
}
