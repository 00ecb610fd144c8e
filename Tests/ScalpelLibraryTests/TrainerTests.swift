// The library trainer as a program that depends on the `Scalpel` product alone uses it: any
// Module, data in memory, callbacks, early stopping and fine-tuning with frozen layers.
import Scalpel
import Testing

@Suite struct TrainerTests {
    /// 400 points in the plane, class 1 where x₀ + x₁ > 0, split 70/15/15 by class.
    private func points(seed: UInt64 = 5) throws -> PreparedData {
        var generator = SeededRandom(seed: seed)
        let values = generator.uniformArray(2 * 400, -1, 1)
        let labels = (0 ..< 400).map { values[2 * $0] + values[2 * $0 + 1] > 0 ? Int32(1) : 0 }
        return try PreparedData.split(values: values, sampleShape: [2], labels: labels, classNames: ["negative", "positive"], seed: seed)
    }

    private func model(on backend: any Backend) throws -> Sequential {
        var generator = SeededRandom(seed: 3)
        return Sequential([try Linear(2, 16, generator: &generator, on: backend), ReLU(), try Linear(16, 2, generator: &generator, on: backend)])
    }

    /// A model of the program's own trains on data in memory: the step and epoch callbacks see
    /// every step and epoch, the kept epoch is the one with the best validation AUROC, and the
    /// held-out rows score as well as that.
    @Test func anyModuleTrainsOnDataInMemoryWithCallbacks() throws {
        let backend = CPUBackend()
        let data = try points()
        let net = try model(on: backend)
        let trainer = try Trainer(model: net, data: data, optimizer: try Adam(net.namedParameters(), learningRate: 0.02),
                                  options: TrainerOptions(epochs: 6, batchSize: 32), on: backend)
        var steps = 0, epochs: [EpochEvent] = []
        trainer.onStep = { event in
            steps += 1
            #expect(event.globalStep == steps && event.steps == 9)
        }
        trainer.onEpochEnd = { epochs.append($0) }
        let result = try trainer.fit()
        #expect(steps == 6 * 9 && epochs.map(\.record.epoch) == Array(1 ... 6) && result.history.count == 6)
        #expect(result.selection == .validationAUROC && result.stoppedEarly == nil)
        let best = epochs.max { ($0.validation?.auroc ?? 0, -$0.record.epoch) < ($1.validation?.auroc ?? 0, -$1.record.epoch) }!
        #expect(result.selectedEpoch == best.record.epoch)
        let validation = try trainer.evaluate(data.validation)
        #expect(validation.metrics.auroc == best.validation?.auroc, "the model holds the selected epoch's weights")
        let test = try trainer.evaluate(data.test)
        #expect(try #require(test.metrics.auroc) > 0.97 && test.metrics.accuracy > 0.9)
    }

    /// Early stopping: with a learning rate of 0 the validation AUROC never improves, so
    /// training ends `patience` epochs after the first; `stop()` from a callback ends it too.
    @Test func earlyStoppingAndStopEndTraining() throws {
        let backend = CPUBackend()
        let data = try points()
        let net = try model(on: backend)
        let still = try Trainer(model: net, data: data, optimizer: try SGD(net.namedParameters(), learningRate: 0),
                                options: TrainerOptions(epochs: 50, earlyStopping: EarlyStopping(patience: 3)), on: backend)
        let result = try still.fit()
        #expect(result.stoppedEarly == 4 && result.history.count == 4 && result.selectedEpoch == 1)

        let other = try model(on: backend)
        let stopped = try Trainer(model: other, data: data, optimizer: try Adam(other.namedParameters()),
                                  options: TrainerOptions(epochs: 50), on: backend)
        stopped.onEpochEnd = { if $0.record.epoch == 2 { stopped.stop() } }
        let ended = try stopped.fit()
        #expect(ended.history.count == 2 && ended.stoppedEarly == 2)
        #expect(throws: ScalpelError.self) {
            try Trainer(model: other, data: data, optimizer: try Adam(other.namedParameters()),
                        options: TrainerOptions(earlyStopping: EarlyStopping(patience: 0)), on: backend)
        }
    }

    /// Gradual unfreezing from `onEpochStart`: the first layer, frozen, keeps its values through
    /// epoch 1 and trains from epoch 2, when the callback unfreezes it (the optimizer holds it
    /// from the start and skips it while it is frozen).
    @Test func onEpochStartUnfreezesALayer() throws {
        let backend = CPUBackend()
        let data = try points(seed: 9)
        let net = try model(on: backend)
        let first = net.layers[0] as! Linear
        let optimizer = try Adam(net.namedParameters(), learningRate: 0.02)
        first.freeze()
        let trainer = try Trainer(model: net, data: data, optimizer: optimizer,
                                  options: TrainerOptions(epochs: 2, selection: .last), on: backend)
        let initial = try first.weight.array()
        var afterFirst: [Float] = []
        trainer.onEpochStart = { epoch in
            if epoch == 2 {
                afterFirst = try first.weight.array()
                first.unfreeze()
            }
        }
        try trainer.fit()
        #expect(afterFirst == initial, "frozen through epoch 1")
        #expect(try first.weight.array() != initial, "trained in epoch 2")
    }

    /// Fine-tuning: a trained model's first layer frozen, its head trained further at its own
    /// rate through a parameter group; the frozen layer keeps its values to the bit.
    @Test func fineTuningKeepsFrozenLayers() throws {
        let backend = CPUBackend()
        let data = try points(seed: 8)
        let net = try model(on: backend)
        try Trainer(model: net, data: data, optimizer: try Adam(net.namedParameters(), learningRate: 0.02),
                    options: TrainerOptions(epochs: 2), on: backend).fit()
        let first = net.layers[0] as! Linear
        first.freeze()
        let frozen = try first.weight.array()
        let head = (net.layers[2] as! Linear).namedParameters()
        let optimizer = try Adam(groups: [ParameterGroup(head, learningRate: 0.01)], learningRate: 0.01)
        let tuning = try Trainer(model: net, data: data, optimizer: optimizer, options: TrainerOptions(epochs: 2), on: backend)
        try tuning.fit()
        #expect(try first.weight.array() == frozen)
        #expect(try #require(tuning.evaluate(data.test).metrics.auroc) > 0.9)
    }
}
