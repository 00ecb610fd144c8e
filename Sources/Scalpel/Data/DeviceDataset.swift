import Foundation
import ScalpelCore
import ScalpelTensor

/// A training set as the training step reads it: the samples and labels uploaded to the
/// backend once, each epoch's sample order uploaded once without waiting, and every batch
/// gathered (and augmented) on the backend — no host work and no upload per step.
///
/// When the samples do not fit the backend (`Backend.residentDataLimit`), they stay on the
/// host and each batch is gathered there and uploaded, as `note` says.
public final class DeviceDataset {
    /// The backend the samples, labels and batches live on.
    public let backend: any Backend
    /// The shape of one sample.
    public let sampleShape: [Int]
    /// Every sample (count, sampleShape…) on the backend; nil when they did not fit.
    public let features: Tensor?
    /// The samples on the host, for batches when `features` is nil.
    private let values: [Float]
    /// Every label (count), int32, on the backend.
    public let labels: Tensor
    /// Why the samples stay on the host (nil: resident).
    public let note: String?
    /// The current epoch's sample order (rows as floats) on the backend, and on the host.
    private var order: Tensor?
    private var hostOrder: [Int] = []

    /// Uploads `values` (count × sample size) and `labels` (count) when the samples fit in
    /// `limit` bytes (default: the backend's `residentDataLimit`).
    public init(values: [Float], labels: [Int32], sampleShape: [Int], on backend: any Backend, limit: Int?? = nil) throws {
        self.backend = backend
        self.sampleShape = sampleShape
        let bytes = values.count * MemoryLayout<Float>.size
        let limit = limit ?? backend.residentDataLimit
        if let limit, bytes > limit {
            features = nil
            self.values = values
            note = "the \(formatBytes(bytes)) of samples exceed what \(backend.id) should hold (\(formatBytes(limit))): "
                + "each batch is gathered on the host and uploaded"
        } else {
            features = try Tensor(values, shape: [labels.count] + sampleShape, on: backend)
            self.values = []
            note = nil
        }
        self.labels = try Tensor(labels: labels, on: backend)
    }

    /// Whether batches are gathered on the backend.
    public var isResident: Bool { features != nil }

    /// Starts an epoch that visits rows in `order`: one upload without waiting (none when the
    /// samples are on the host, whose batches upload their own indices).
    public func beginEpoch(_ order: [Int]) throws {
        hostOrder = order
        guard isResident, !order.isEmpty else {
            self.order = nil
            return
        }
        let buffer = try backend.makeBuffer(count: order.count)
        try backend.writeWithoutWaiting(order.map(Float.init), to: buffer, at: 0)
        self.order = Tensor(storage: buffer, shape: [order.count], backend: backend, dtype: .int32)
    }

    /// The rows at positions `range` of the epoch's order, as an index tensor on the backend
    /// (a slice of the uploaded order; an upload of its own when the samples are on the host).
    public func index(_ range: Range<Int>) throws -> Tensor {
        if let order { return try order.slice(axis: 0, range) }
        return try Tensor(hostOrder[range].map(Float.init), shape: [range.count], on: backend)
    }

    /// The rows of the epoch's order at positions `range`.
    public func rows(_ range: Range<Int>) -> [Int] { Array(hostOrder[range]) }

    /// The samples of `rows` (given as `index` on the backend too), (rows.count, sampleShape…).
    public func samples(index: Tensor, rows: [Int]) throws -> Tensor {
        if let features { return try features.indexSelect(axis: 0, index) }
        let size = sampleShape.reduce(1, *)
        var batch = [Float]()
        batch.reserveCapacity(rows.count * size)
        for row in rows { batch += values[row * size ..< (row + 1) * size] }
        return try Tensor(batch, shape: [rows.count] + sampleShape, on: backend)
    }

    /// The images of `rows` (`index` on the backend), sample b transformed by draw `offset + b`
    /// of the augmentation stream under `seed`: on the backend when resident, else on the host
    /// with the same transforms.
    public func augmented(index: Tensor, rows: [Int], augmentation: ImageAugmentation, seed: UInt64, offset: UInt64) throws -> Tensor {
        let parameters = augmentation.parameters(sampleShape: sampleShape, fill: 0)
        let size = parameters.imageSize
        if let features {
            let out = try backend.makeBuffer(count: max(rows.count * size, 1))
            try backend.augmentImages(parameters, images: features.storage, imageCount: features.shape[0], index: index.storage,
                                      output: out, batch: rows.count, seed: seed, offset: offset)
            return Tensor(storage: out, shape: [rows.count] + sampleShape, backend: backend)
        }
        var batch = [Float](repeating: 0, count: rows.count * size)
        for (b, row) in rows.enumerated() {
            guard row >= 0, (row + 1) * size <= values.count else { throw ScalpelError.invalidArgument("augmentation: row \(row) is outside the data") }
            ImageAugmentation.apply(augmentation.transform(seed: seed, sample: offset &+ UInt64(b)), image: values[row * size ..< (row + 1) * size],
                                    channels: parameters.channels, height: parameters.height, width: parameters.width, fill: parameters.fill,
                                    into: &batch, at: b * size)
        }
        return try Tensor(batch, shape: [rows.count] + sampleShape, on: backend)
    }
}
