import Foundation
import ScalpelCPU
import ScalpelCore
import ScalpelNN
import ScalpelOpenCL
import ScalpelTensor
import ScalpelTestSupport
import Testing

/// Packed tensors (`Module.packTensors()`): the optimizer, gradient zeroing, the gradient norm
/// and clipping and the weight average as one launch each over flat buffers, with exactly the
/// numbers of one launch per tensor on the CPU-Swift backend.
struct TensorArenaTests {
    /// A small model with parameters of awkward sizes, batch-norm state and every multi-tensor
    /// path: Linear 7→13, BatchNorm1d, ReLU, Linear 13→3 (no bias), Linear 3→2.
    private func model(on backend: any Backend) throws -> Sequential {
        var generator = SeededRandom(seed: 3)
        return Sequential([try Linear(7, 13, generator: &generator, on: backend), try BatchNorm1d(13, on: backend), ReLU(),
                           try Linear(13, 3, bias: false, generator: &generator, on: backend),
                           try Linear(3, 2, generator: &generator, on: backend)])
    }

    /// Trains `steps` steps (zero, forward, loss, backward, clip, update, average) and returns
    /// every tensor, optimizer state and average by name.
    private func train(packed: Bool, sgd: Bool, on backend: any Backend, steps: Int = 6) throws -> [String: [Float]] {
        let net = try model(on: backend)
        if packed {
            let arena = try net.packTensors()
            #expect(arena.trainableCount == net.parameters().count && arena.tensors.count == net.namedTensors().count)
        }
        let optimizer: Optimizer = sgd
            ? try SGD(net.namedParameters(), learningRate: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.01)
            : try Adam(net.namedParameters(), learningRate: 0.01, weightDecay: 0.05, decoupledWeightDecay: true)
        let average = try WeightAverage(net, decay: 0.9)
        var random = SeededRandom(seed: 11)
        for step in 0 ..< steps {
            try optimizer.zeroGrad()
            let x = try Tensor(random.uniformArray(5 * 7, -2, 2), shape: [5, 7], on: backend)
            let y = try Tensor(labels: (0 ..< 5).map { Int32(($0 + step) % 2) }, on: backend)
            try net(x).crossEntropy(labels: y).backward()
            // A limit the norm crosses in some steps and not in others.
            try clipGradientNorm(net.parameters(), maxNorm: 0.6)
            try optimizer.step()
            try average.update(step: optimizer.stepCount)
        }
        var values: [String: [Float]] = [:]
        for (name, tensor) in net.namedTensors() + optimizer.namedState() + average.namedState() {
            values[name] = try tensor.array()
        }
        try average.withAverage { for (name, tensor) in net.namedTensors() { values["during " + name] = try tensor.array() } }
        for (name, tensor) in net.namedTensors() { values["after " + name] = try tensor.array() }
        return values
    }

    @Test(arguments: [false, true])
    func packedTrainingIsBitIdenticalOnTheCPU(sgd: Bool) throws {
        let backend = CPUBackend()
        let (plain, packed) = (try train(packed: false, sgd: sgd, on: backend), try train(packed: true, sgd: sgd, on: backend))
        #expect(plain.keys.sorted() == packed.keys.sorted(), "the same names for checkpoints")
        for (name, values) in plain {
            #expect(packed[name] == values, "\(name) differs between packed and per-tensor updates")
        }
    }

    /// On an OpenCL device only the gradient norm's summation order changes (one reduction
    /// over the flat buffer instead of one per tensor). With SGD that rounding stays rounding;
    /// Adam divides by √v, which lets an element with tiny gradients turn it into a visible
    /// difference (seen: up to 3e-3 after six steps), so Adam is compared on the CPU above.
    @Test func packedTrainingMatchesPerTensorUpdatesOnOpenCL() throws {
        guard let device = firstDevice else { return }
        let reference = try train(packed: false, sgd: true, on: device)
        let packed = try train(packed: true, sgd: true, on: device)
        for (name, values) in reference {
            let got = try #require(packed[name])
            let worst = zip(values, got).map { Swift.abs($0 - $1) / Swift.max(1, Swift.abs($0)) }.max() ?? 0
            #expect(worst < 1e-5, "\(name): max relative difference \(worst)")
        }
    }

    /// A gradient replaced behind the arena's back (here: dropped) is not updated through a
    /// flat buffer it no longer shares: the per-tensor path runs.
    @Test func aReplacedGradientFallsBackToPerTensorUpdates() throws {
        let backend = CPUBackend()
        let net = try model(on: backend)
        let arena = try net.packTensors()
        let parameters = net.parameters()
        #expect(TensorArena.packing(parameters) === arena)
        let optimizer = try Adam(net.namedParameters(), learningRate: 0.1)
        let before = try parameters.map { try $0.array() }
        parameters[0].grad = nil
        #expect(TensorArena.packing(parameters) == nil)
        try parameters[1].grad!.backend.fill(parameters[1].grad!.storage, value: 1, offset: 0, count: parameters[1].count)
        try optimizer.step()
        #expect(try parameters[0].array() == before[0], "no gradient: not updated")
        #expect(try parameters[1].array() != before[1])
    }

    @Test func layoutAlignsEveryRegion() {
        let (offsets, extent) = TensorArena.layout([5, 32, 1, 0, 7], alignment: 32)
        #expect(offsets == [0, 32, 64, 96, 96] && extent == 128)
        #expect(TensorArena.layout([5, 3], alignment: 1) == ([0, 5], 8))
    }
}
