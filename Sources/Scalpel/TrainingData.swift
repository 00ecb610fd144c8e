import Foundation
import ScalpelClinic
import ScalpelCore

/// A data set ready for training: every sample's values (already normalised), the sample
/// shape, labels, and the train/validation/test split.
public struct PreparedData: Sendable {
    /// The kind of data, which decides the models that fit.
    public enum Kind: String, Sendable, Codable { case table, images }

    public var kind: Kind
    /// All samples, row-major: count × sampleShape.
    public var values: [Float]
    /// The shape of one sample: [features] for a table, [C, H, W] for images.
    public var sampleShape: [Int]
    public var labels: [Int32]
    public var classNames: [String]
    public var train: [Int]
    public var validation: [Int]
    public var test: [Int]
    /// What was done to the data, for the report (split, normalisation).
    public var notes: [String: String]

    public var classCount: Int { classNames.count }

    /// Loads `config.data` by its extension: `.csv` (a table: stratified seeded split,
    /// standardisation fit on the training rows) or `.npz` (MedMNIST 2-D images: the official
    /// split, pixels scaled to [0, 1] and standardised per channel with training statistics).
    public static func load(_ config: TrainingConfig) throws -> PreparedData {
        let url = URL(fileURLWithPath: config.data)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw ScalpelError.io(path: url.path, reason: "no such file")
        }
        do {
            switch url.pathExtension.lowercased() {
            case "csv": return try table(url, config)
            case "npz": return try images(url, positive: config.positiveClass)
            default:
                throw ScalpelError.invalidArgument("\(url.path): unknown data format '.\(url.pathExtension)'; expected .csv (a table) or .npz (MedMNIST images)")
            }
        } catch let error as ScalpelError {
            throw error
        } catch {
            // The clinical layer's errors name the file, line and column.
            throw ScalpelError.invalidArgument("\(error)")
        }
    }

    static func table(_ url: URL, _ config: TrainingConfig) throws -> PreparedData {
        let dataset = try TabularDataset.load(from: url, labelColumn: config.label, positiveClass: config.positiveClass, dropColumns: config.dropColumns)
        guard config.split.count == 3 else { throw ScalpelError.invalidArgument("the split takes three fractions (train, validation, test)") }
        let split = try StratifiedSplit.split(labels: dataset.labels, fractions: (config.split[0], config.split[1], config.split[2]), seed: config.seed)
        let standardizer = try Standardizer.fit(features: dataset.features, rows: split.train, featureCount: dataset.featureCount)
        return PreparedData(kind: .table, values: try standardizer.transform(dataset.features), sampleShape: [dataset.featureCount],
                            labels: dataset.labels, classNames: dataset.classNames, train: split.train, validation: split.validation, test: split.test,
                            notes: ["split": "stratified, seeded (\(config.seed)), fractions \(config.split)",
                                    "normalisation": "standardised with the training rows' mean and standard deviation",
                                    "standardizer": String(decoding: try JSONEncoder().encode(standardizer), as: UTF8.self)])
    }

    static func images(_ url: URL, positive: String?) throws -> PreparedData {
        let (train, validation, test) = try ImageDataset.loadMedMNIST(from: url)
        var labels = train.labels + validation.labels + test.labels
        var classNames = (0 ..< train.classCount).map { "class \($0)" }
        if let positive {
            // A chosen positive class: that class against the rest, as class 1.
            guard let p = Int32(positive), p >= 0, Int(p) < train.classCount else {
                throw ScalpelError.invalidArgument("--positive \(positive): images take a class index in 0..<\(train.classCount)")
            }
            labels = labels.map { $0 == p ? 1 : 0 }
            classNames = ["not class \(p)", "class \(p)"]
        }
        let (c, hw) = (train.channels, train.height * train.width)
        // Per-channel mean and standard deviation of the training images.
        var mean = [Double](repeating: 0, count: c), square = [Double](repeating: 0, count: c)
        for n in 0 ..< train.count {
            for ch in 0 ..< c {
                let base = (n * c + ch) * hw
                for i in 0 ..< hw {
                    let v = Double(train.images[base + i])
                    mean[ch] += v
                    square[ch] += v * v
                }
            }
        }
        let total = Double(train.count * hw)
        let std = (0 ..< c).map { ch -> Double in
            let m = mean[ch] / total
            return max((square[ch] / total - m * m).squareRoot(), 1e-6)
        }
        for ch in 0 ..< c { mean[ch] /= total }
        var values: [Float] = []
        values.reserveCapacity((train.count + validation.count + test.count) * c * hw)
        for split in [train, validation, test] {
            for n in 0 ..< split.count {
                for ch in 0 ..< c {
                    let base = (n * c + ch) * hw
                    for i in 0 ..< hw { values.append(Float((Double(split.images[base + i]) - mean[ch]) / std[ch])) }
                }
            }
        }
        let (a, b) = (train.count, train.count + validation.count)
        return PreparedData(kind: .images, values: values, sampleShape: [c, train.height, train.width],
                            labels: labels, classNames: classNames,
                            train: Array(0 ..< a), validation: Array(a ..< b), test: Array(b ..< b + test.count),
                            notes: ["split": "the file's official train/val/test split",
                                    "normalisation": "pixels in [0, 1], standardised per channel with the training images' mean \(mean.map { String(format: "%.4f", $0) }) and standard deviation \(std.map { String(format: "%.4f", $0) })"])
    }
}
