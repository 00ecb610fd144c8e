import Foundation
import ScalpelCPU
import ScalpelCore
import ScalpelNN
import ScalpelTensor
import ScalpelTestSupport
import Testing

/// Parameter groups (a learning rate and a weight decay per group) and frozen parameters, on
/// packed and per-tensor parameters: fine-tuning's two tools.
struct ParameterGroupTests {
    /// Linear 7→13, BatchNorm1d, ReLU, Linear 13→3, Linear 3→2 (parameters of awkward sizes).
    private func model(on backend: any Backend) throws -> Sequential {
        var generator = SeededRandom(seed: 5)
        return Sequential([try Linear(7, 13, generator: &generator, on: backend), try BatchNorm1d(13, on: backend), ReLU(),
                           try Linear(13, 3, generator: &generator, on: backend), try Linear(3, 2, generator: &generator, on: backend)])
    }

    private func layer(_ net: Sequential, _ index: Int) -> Module { net.layers[index] as! Module }

    /// One forward and backward pass on a fixed batch that depends on `step`.
    private func backward(_ net: Sequential, step: Int, on backend: any Backend) throws {
        var random = SeededRandom(seed: UInt64(17 + step))
        let x = try Tensor(random.uniformArray(6 * 7, -2, 2), shape: [6, 7], on: backend)
        let y = try Tensor(labels: (0 ..< 6).map { Int32(($0 + step) % 2) }, on: backend)
        try net(x).crossEntropy(labels: y).backward()
    }

    private func values(_ net: Module) throws -> [String: [Float]] {
        var found: [String: [Float]] = [:]
        for (name, tensor) in net.namedTensors() { found[name] = try tensor.array() }
        return found
    }

    /// Groups that are not side by side in the packed buffers (the first and the last Linear
    /// in one group, the rest in the other) step exactly as two optimizers of one group each
    /// on unpacked parameters, with their own learning rates and weight decays.
    @Test(arguments: [false, true])
    func groupsStepWithTheirOwnRatesAndDecays(sgd: Bool) throws {
        let (packed, plain) = try trainGroups(sgd: sgd, on: CPUBackend())
        #expect(packed == plain)
    }

    /// The same on an OpenCL device, where each packed run is a sub-buffer view.
    @Test func groupsStepWithTheirOwnRatesOnOpenCL() throws {
        guard let device = firstDevice else { return }
        let (packed, plain) = try trainGroups(sgd: true, on: device)
        for (name, values) in plain {
            let got = try #require(packed[name])
            let worst = zip(values, got).map { Swift.abs($0 - $1) / Swift.max(1, Swift.abs($0)) }.max() ?? 0
            #expect(worst < 1e-5, "\(name): max relative difference \(worst)")
        }
    }

    /// Trains a packed model with two groups and an unpacked one with an optimizer per group;
    /// returns both models' tensors.
    private func trainGroups(sgd: Bool, on backend: any Backend) throws -> ([String: [Float]], [String: [Float]]) {
        func groups(_ net: Sequential) -> (ParameterGroup, ParameterGroup) {
            let outer = layer(net, 0).namedParameters().map { ("0." + $0.name, $0.tensor) }
                + layer(net, 4).namedParameters().map { ("4." + $0.name, $0.tensor) }
            let inner = [1, 3].flatMap { i in layer(net, i).namedParameters().map { ("\(i)." + $0.name, $0.tensor) } }
            return (ParameterGroup(outer, learningRate: 0.02, weightDecay: 0), ParameterGroup(inner))
        }
        func make(_ groups: [ParameterGroup], rate: Float) throws -> Optimizer {
            sgd ? try SGD(groups: groups, learningRate: rate, momentum: 0.9, weightDecay: 0.05)
                : try Adam(groups: groups, learningRate: rate, weightDecay: 0.05, decoupledWeightDecay: true)
        }

        let packedNet = try model(on: backend)
        try packedNet.packTensors()
        let (outer, inner) = groups(packedNet)
        let grouped = try make([outer, inner], rate: 0.1)

        let plainNet = try model(on: backend)
        let (plainOuter, plainInner) = groups(plainNet)
        let outerAlone = try make([ParameterGroup(plainOuter.parameters, weightDecay: 0)], rate: 0.02)
        let innerAlone = try make([plainInner], rate: 0.1)

        for step in 0 ..< 4 {
            try grouped.zeroGrad()
            try outerAlone.zeroGrad()
            try innerAlone.zeroGrad()
            try backward(packedNet, step: step, on: backend)
            try backward(plainNet, step: step, on: backend)
            try grouped.step()
            try outerAlone.step()
            try innerAlone.step()
        }
        #expect(grouped.learningRate(ofGroup: 0) == 0.02 && grouped.learningRate(ofGroup: 1) == 0.1)
        // A schedule halving the rate halves every group's.
        grouped.learningRate = 0.05
        #expect(Swift.abs(grouped.learningRate(ofGroup: 0) - 0.01) < 1e-9 && grouped.learningRate(ofGroup: 1) == 0.05)
        return (try values(packedNet), try values(plainNet))
    }

    /// A frozen layer keeps its values under AdamW (whose decay would otherwise move it even
    /// with zero gradients), whether it was frozen before or after packing; unfrozen, it
    /// trains again.
    @Test(arguments: [false, true])
    func frozenLayersDoNotMove(freezeBeforePacking: Bool) throws {
        let backend = CPUBackend()
        let net = try model(on: backend)
        let first = layer(net, 0)
        if freezeBeforePacking {
            first.freeze()
            try net.packTensors()
        } else {
            try net.packTensors()
        }
        let optimizer = try Adam(net.namedParameters(), learningRate: 0.05, weightDecay: 0.1, decoupledWeightDecay: true)
        if !freezeBeforePacking { first.freeze() }
        #expect(first.hasFrozenParameters && net.hasFrozenParameters)
        #expect(!net.namedParameters().contains { $0.name.hasPrefix("layers.0.") }, "frozen parameters are not trainable")
        #expect(net.namedTensors().contains { $0.name == "layers.0.weight" }, "a checkpoint still holds them")
        let before = try values(net)
        for step in 0 ..< 3 {
            try optimizer.zeroGrad()
            try backward(net, step: step, on: backend)
            try optimizer.step()
        }
        let after = try values(net)
        for (name, value) in before {
            if name.hasPrefix("layers.0.") {
                #expect(after[name] == value, "\(name) is frozen but moved")
            } else if name.hasSuffix("weight") || name.hasSuffix("bias") {
                #expect(after[name] != value, "\(name) should train")
            }
        }

        net.unfreeze()
        #expect(!net.hasFrozenParameters && net.namedParameters().count == 8)
        let optimizerAfter: Optimizer
        if freezeBeforePacking {
            // Unpacked-region parameters join through a new group.
            try optimizer.add(ParameterGroup(first.namedParameters(), learningRate: 0.01))
            optimizerAfter = optimizer
        } else {
            optimizerAfter = optimizer
        }
        try optimizerAfter.zeroGrad()
        try backward(net, step: 9, on: backend)
        try optimizerAfter.step()
        #expect(try net.namedTensors().first { $0.name == "layers.0.weight" }!.tensor.array() != after["layers.0.weight"])
    }

    /// Freezing a parent then unfreezing a child restores only the child; running statistics
    /// (which never required gradients) are never made trainable.
    @Test func unfreezeRestoresOnlyWhatWasFrozen() throws {
        let net = try model(on: CPUBackend())
        let trainable = Set(net.namedParameters().map(\.name))
        net.freeze()
        #expect(net.namedParameters().isEmpty)
        layer(net, 3).unfreeze()
        #expect(Set(net.namedParameters().map(\.name)) == ["layers.3.weight", "layers.3.bias"])
        net.unfreeze()
        #expect(Set(net.namedParameters().map(\.name)) == trainable)
    }

    @Test func aParameterListedTwiceIsRefused() throws {
        let net = try model(on: CPUBackend())
        let parameters = net.namedParameters()
        #expect(throws: ScalpelError.self) {
            try Adam(groups: [ParameterGroup(parameters), ParameterGroup(Array(parameters.prefix(1)))])
        }
        let optimizer = try SGD(parameters, learningRate: 0.1)
        #expect(throws: ScalpelError.self) { try optimizer.setGroup(3, learningRate: 1, weightDecay: nil) }
    }
}
