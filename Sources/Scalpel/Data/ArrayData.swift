import Foundation
import ScalpelData
import ScalpelMetrics
import ScalpelReport
import ScalpelCore
import ScalpelPrivacy

/// NumPy `.npy` samples with a `.npy` of labels: what a researcher who prepared data in Python
/// hands over. The array's shape says what it holds: (N, F) a table (or, for a sequence model,
/// N signals of length F), (N, H, W) grey images, (N, C, H, W) or (N, H, W, C) images with C of
/// 1 or 3. There is no official split, so the rows are split 70/15/15, stratified and seeded,
/// and scaled with statistics of the training rows only.
extension PreparedData {
    /// Statistics a saved model needs to prepare new `.npy` samples as its training data was.
    public struct ArrayScaling: Codable, Sendable {
        /// uint8 values were divided by 255 first (images).
        public var dividedBy255: Bool
        /// Tables: per feature; images: per channel; signals: none.
        public var standardizer: Standardizer?
        /// Images: the training rows' mean per channel, after any division by 255 (nil for tables and
        /// signals).
        public var channelMean: [Double]?
        /// Images: the training rows' standard deviation per channel (at least 1e-6), after any
        /// division by 255 (nil for tables and signals).
        public var channelStandardDeviation: [Double]?
        /// (N, H, W, C) arrays are transposed to channels first.
        public var channelsLast: Bool
    }

    /// The kind of data an `.npy` of `shape` holds for `model` (nil: a shape no model takes).
    static func arrayKind(_ shape: [Int], model: String?) -> Kind? {
        switch shape.count {
        case 2: (try? ModelRecipe.named(model ?? ""))?.kind == .sequences ? .sequences : .table
        case 3: .images
        case 4 where [1, 3].contains(shape[1]) || [1, 3].contains(shape[3]): .images
        default: nil
        }
    }

    /// The samples and labels of an `.npy` pair, checked: the labels one integer class per
    /// sample (shape (N) or (N, 1)), at least two classes, every value finite.
    static func readArrays(_ source: DataSource, labels labelsPath: String?, model: String?, keys: KeyRing?, twoClasses: Bool = true,
                           requireLabels: Bool = true) throws
        -> (values: [Float], shape: [Int], labels: [Int32], kind: Kind, uint8: Bool) {
        let url = source.url
        guard labelsPath != nil || !requireLabels else {
            throw ScalpelError.invalidArgument("\(url.path): an .npy of samples needs --labels FILE.npy with one integer class per sample")
        }
        let samples = try source.npy()
        guard let kind = arrayKind(samples.shape, model: model) else {
            throw ScalpelError.invalidArgument("\(url.path): an array of shape \(samples.shape) is neither (N, F) rows, (N, H, W) grey images nor "
                + "(N, C, H, W) / (N, H, W, C) images with 1 or 3 channels")
        }
        let n = samples.shape[0]
        guard n > 0, samples.shape.dropFirst().allSatisfy({ $0 > 0 }) else {
            throw ScalpelError.invalidArgument("\(url.path): the array of shape \(samples.shape) holds no samples")
        }
        guard let labelsPath else {
            // Samples to predict: no labels (class 0 stands in for them).
            return (try finiteValues(samples, source: url.path), samples.shape, [Int32](repeating: 0, count: n), kind, samples.dtype == .uint8)
        }
        guard FileManager.default.fileExists(atPath: labelsPath) else { throw ScalpelError.io(path: labelsPath, reason: "no such file") }
        let labelArray = try DataSource.open(labelsPath, keys: { keys }).npy()
        guard labelArray.shape == [n] || labelArray.shape == [n, 1] else {
            throw ScalpelError.invalidArgument("\(labelsPath): labels of shape \(labelArray.shape) for \(n) samples; (\(n)) or (\(n), 1) is needed")
        }
        let raw = labelArray.floats()
        // A label is a patient's diagnosis: an encrypted file's are named by position only.
        let labelsEncrypted = EncryptedFile.isEncrypted(path: labelsPath)
        var labels: [Int32] = []
        labels.reserveCapacity(n)
        for (i, value) in raw.enumerated() {
            guard value.isFinite, value >= 0, value == value.rounded(), value < 1_000_000 else {
                let label = labelsEncrypted ? "the label (\(ClinicDataError.withheldNote))" : "label \(value)"
                throw ScalpelError.invalidArgument("\(labelsPath), element \(i): \(label) is not a class index (an integer ≥ 0)")
            }
            labels.append(Int32(value))
        }
        guard Set(labels).count >= 2 || !twoClasses else {
            let every = labelsEncrypted ? "every label is the same (\(ClinicDataError.withheldNote))" : "every label is \(labels[0])"
            throw ScalpelError.invalidArgument("\(labelsPath): \(every); at least two classes are needed")
        }
        return (try finiteValues(samples, source: url.path), samples.shape, labels, kind, samples.dtype == .uint8)
    }

    /// The samples' values, each checked finite (an error names the sample and element).
    static func finiteValues(_ samples: NPYArray, source: String) throws -> [Float] {
        let values = samples.floats()
        if let bad = values.firstIndex(where: { !$0.isFinite }) {
            let per = values.count / max(samples.shape[0], 1)
            throw ScalpelError.invalidArgument("\(source), sample \(bad / per), element \(bad % per): \(values[bad]) is not a finite number")
        }
        return values
    }

    /// `values` of (N, H, W, C) as (N, C, H, W).
    static func channelsFirst(_ values: [Float], n: Int, h: Int, w: Int, c: Int) -> [Float] {
        var result = [Float](repeating: 0, count: values.count)
        for s in 0 ..< n {
            for y in 0 ..< h {
                for x in 0 ..< w {
                    for ch in 0 ..< c { result[((s * c + ch) * h + y) * w + x] = values[((s * h + y) * w + x) * c + ch] }
                }
            }
        }
        return result
    }

    /// The sample shape and channels-first values of an array of `kind`.
    static func layout(_ values: [Float], shape: [Int], kind: Kind) -> (values: [Float], sample: [Int], channelsLast: Bool) {
        switch (kind, shape.count) {
        case (.table, _): return (values, [shape[1]], false)
        case (.sequences, _): return (values, [1, shape[1]], false)
        case (_, 3): return (values, [1, shape[1], shape[2]], false)
        default:
            if [1, 3].contains(shape[1]) { return (values, [shape[1], shape[2], shape[3]], false) }
            return (channelsFirst(values, n: shape[0], h: shape[1], w: shape[2], c: shape[3]), [shape[3], shape[1], shape[2]], true)
        }
    }

    /// Per-channel mean and standard deviation of `rows` of channels-first images.
    static func channelStatistics(_ values: [Float], rows: [Int], channels: Int, area: Int) -> (mean: [Double], std: [Double]) {
        var mean = [Double](repeating: 0, count: channels), square = [Double](repeating: 0, count: channels)
        for row in rows {
            for ch in 0 ..< channels {
                let base = (row * channels + ch) * area
                for i in 0 ..< area {
                    let v = Double(values[base + i])
                    mean[ch] += v
                    square[ch] += v * v
                }
            }
        }
        let total = Double(max(rows.count * area, 1))
        let std = (0 ..< channels).map { max((square[$0] / total - (mean[$0] / total) * (mean[$0] / total)).squareRoot(), 1e-6) }
        return (mean.map { $0 / total }, std)
    }

    static func scale(_ values: inout [Float], _ scaling: ArrayScaling, sample: [Int]) throws {
        if scaling.dividedBy255 { values = values.map { $0 / 255 } }
        if let standardizer = scaling.standardizer { values = try standardizer.transform(values) }
        if let mean = scaling.channelMean, let std = scaling.channelStandardDeviation {
            values = standardised(values, channels: sample[0], plane: sample.dropFirst().reduce(1, *), mean: mean, std: std)
        }
    }

    /// A `.npy` pair for training: split, scaled with training statistics.
    static func arrays(_ source: DataSource, _ config: TrainingConfig, keys: KeyRing?) throws -> PreparedData {
        let url = source.url
        let read = try readArrays(source, labels: config.labels, model: config.model, keys: keys)
        let (raw, sample, channelsLast) = layout(read.values, shape: read.shape, kind: read.kind)
        let classCount = Int(read.labels.max()!) + 1
        let split = try PreparedData.split(read.labels, config, source: url.path)
        var scaling = ArrayScaling(dividedBy255: read.uint8 && read.kind == .images, channelsLast: channelsLast)
        var values = scaling.dividedBy255 ? raw.map { $0 / 255 } : raw
        var notes = ["split": "stratified, seeded (\(config.seed)), shares \(PreparedData.shares(config.split))", "labels": config.labels ?? ""]
        switch read.kind {
        case .table:
            scaling.standardizer = try Standardizer.fit(features: values, rows: split.train, featureCount: sample[0])
            notes["normalisation"] = "standardised with the training rows' mean and standard deviation"
        case .images:
            let stats = channelStatistics(values, rows: split.train, channels: sample[0], area: sample[1] * sample[2])
            (scaling.channelMean, scaling.channelStandardDeviation) = (stats.mean, stats.std)
            notes["normalisation"] = (scaling.dividedBy255 ? "uint8 pixels divided by 255, then " : "") + "standardised per channel with the training images' "
                + "mean \(PreparedData.decimals(stats.mean)) and standard deviation \(PreparedData.decimals(stats.std))"
        case .sequences:
            notes["normalisation"] = "none: the signals as the file gives them"
        }
        values = raw
        try scale(&values, scaling, sample: sample)
        // Names and the positive class from NAME.json beside the samples, where there is one.
        let classes = try ClassChoice.resolve(path: source.path, classCount: classCount, positive: config.positiveClass, kind: "arrays")
        let (names, labels) = (classes.names, classes.relabel(read.labels))
        if let note = classes.note { notes["classes"] = note }
        return PreparedData(kind: read.kind, values: values, sampleShape: sample, labels: labels, classNames: names,
                            train: split.train, validation: split.validation, test: split.test, notes: notes,
                            pipeline: DataPipeline(kind: read.kind, sampleShape: sample, classNames: names,
                                                   fileClasses: classes.fileNames.indices.map(String.init),
                                                   positiveClass: classes.positive.map(String.init), arrays: scaling))
    }

    /// A `.npy` pair scored by a saved model: every row, scaled with the model's statistics.
    static func evaluationArrays(_ source: DataSource, _ pipeline: DataPipeline, labels: String?, keys: KeyRing?,
                                 requireLabels: Bool = true) throws -> PreparedData {
        let url = source.url
        guard let scaling = pipeline.arrays else {
            throw ScalpelError.invalidArgument("\(url.path): the model was trained on \(pipeline.kind.rawValue) data from another format, not an .npy")
        }
        let model = pipeline.kind == .sequences ? "fcn" : nil
        let read = try readArrays(source, labels: labels, model: model, keys: keys, twoClasses: false, requireLabels: requireLabels)
        var (values, sample, _) = layout(read.values, shape: read.shape, kind: read.kind)
        guard read.kind == pipeline.kind, sample == pipeline.sampleShape else {
            throw ScalpelError.invalidArgument("\(url.path): samples of shape \(sample) (\(read.kind.rawValue)); the model takes \(pipeline.sampleShape) "
                + "(\(pipeline.kind.rawValue))")
        }
        if let bad = read.labels.firstIndex(where: { Int($0) >= pipeline.fileClasses.count }) {
            let label = labels.map { EncryptedFile.isEncrypted(path: $0) } ?? false
                ? "the label (\(ClinicDataError.withheldNote))" : "label \(read.labels[bad])"
            throw ScalpelError.invalidArgument("\(labels ?? ""), element \(bad): \(label) is not one of the model's "
                + "\(pipeline.fileClasses.count) classes")
        }
        let classLabels = ClassChoice.relabel(read.labels, positive: pipeline.positiveClass)
        try scale(&values, scaling, sample: sample)
        return PreparedData(kind: read.kind, values: values, sampleShape: sample, labels: classLabels, classNames: pipeline.classNames,
                            train: [], validation: [], test: Array(0 ..< classLabels.count),
                            notes: ["normalisation": "the training statistics (from the checkpoint)", "labels": labels ?? "none"], pipeline: pipeline,
                            hasLabels: labels != nil)
    }
}
