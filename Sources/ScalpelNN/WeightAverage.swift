import Foundation
import ScalpelCore
import ScalpelTensor

/// An exponential moving average of a module's tensors — its parameters and its buffers
/// (BatchNorm's running statistics) — updated after every optimizer step, as TensorFlow's
/// `ExponentialMovingAverage` and timm's `ModelEma` keep one: the averaged weights of the last
/// few hundred steps generalise better than the last step's, which carry the noise of its
/// mini-batch.
///
/// After step t the average moves towards the live tensors at the rate 1 − d_t, where
/// d_t = min(decay, (1 + t) / (10 + t)): early on, while the first weights are far from where
/// training goes, the average follows the live weights closely; later it averages over about
/// 1 / (1 − decay) steps. The averages live on the module's backend; `withAverage` puts them
/// into the module for evaluation and the live tensors back afterwards.
public final class WeightAverage {
    /// The decay per step, in (0, 1).
    public let decay: Float
    /// The averages, named like the module's tensors.
    public let averages: [(name: String, tensor: Tensor)]
    let live: [(name: String, tensor: Tensor)]
    /// With the module's tensors packed (`Module.packTensors()`): the arena and the averages'
    /// flat buffer in its layout, so that an update is one launch.
    private let packed: (arena: TensorArena, flat: any DeviceBuffer)?

    /// The key prefix of the averages in a checkpoint (`ema.layers.0.weight`).
    public static let checkpointPrefix = "ema."

    /// Starts the average at the module's current tensors.
    public init(_ module: Module, decay: Float) throws {
        guard decay > 0, decay < 1 else {
            throw ScalpelError.invalidArgument("the weight average's decay must lie in (0, 1), got \(decay)")
        }
        self.decay = decay
        live = module.namedTensors()
        if let arena = module.arena, arena.tensors.count == live.count, live.allSatisfy({ $0.tensor.arena === arena }) {
            let copy = try arena.makeCopy()
            let index = Dictionary(uniqueKeysWithValues: arena.tensors.enumerated().map { (ObjectIdentifier($0.element), $0.offset) })
            averages = live.map { ($0.name, copy.tensors[index[ObjectIdentifier($0.tensor)]!]) }
            packed = (arena, copy.flat)
        } else {
            averages = try live.map { ($0.name, try Tensor($0.tensor.array(), shape: $0.tensor.shape, on: $0.tensor.backend)) }
            packed = nil
        }
    }

    /// The rate d_t the average keeps of itself at optimizer step `step` (1-based).
    public static func keptFraction(decay: Float, step: Int) -> Float {
        min(decay, Float(1 + step) / Float(10 + step))
    }

    /// Moves the average towards the module's tensors after optimizer step `step` (1-based).
    public func update(step: Int) throws {
        let kept = WeightAverage.keptFraction(decay: decay, step: step)
        if let (arena, flat) = packed {
            return try arena.backend.axpby(alpha: 1 - kept, x: arena.storage, beta: kept, y: flat, count: arena.extent)
        }
        for (average, current) in zip(averages, live) {
            try current.tensor.backend.axpby(alpha: 1 - kept, x: current.tensor.storage, beta: kept, y: average.tensor.storage,
                                             count: average.tensor.count)
        }
    }

    /// Runs `body` with the averages in the module, then puts the live tensors back (also when
    /// `body` throws).
    public func withAverage<T>(_ body: () throws -> T) throws -> T {
        if let (arena, flat) = packed {
            // Three copies on the backend for all tensors: the live values are kept there, not
            // read back to the host and written again.
            let backend = arena.backend
            let whole = StridedCopy(shape: [arena.extent], srcStrides: [1], dstStrides: [1])
            let saved = try backend.makeBuffer(count: arena.extent)
            try backend.copy(whole, from: arena.storage, to: saved)
            try backend.copy(whole, from: flat, to: arena.storage)
            let result: Result<T, any Error> = Result { try body() }
            try backend.copy(whole, from: saved, to: arena.storage)
            return try result.get()
        }
        let saved = try live.map { try $0.tensor.array() }
        for (average, current) in zip(averages, live) { try copy(average.tensor, into: current.tensor) }
        let result: Result<T, any Error> = Result { try body() }
        for (values, current) in zip(saved, live) {
            try values.withUnsafeBufferPointer { try current.tensor.backend.write($0, to: current.tensor.storage, at: 0) }
        }
        return try result.get()
    }

    /// The averages under their checkpoint keys.
    public func namedState() -> [(name: String, tensor: Tensor)] {
        averages.map { (WeightAverage.checkpointPrefix + $0.name, $0.tensor) }
    }

    func copy(_ source: Tensor, into destination: Tensor) throws {
        try destination.backend.copy(StridedCopy(shape: [source.count], srcStrides: [1], dstStrides: [1]), from: source.storage, to: destination.storage)
    }
}
