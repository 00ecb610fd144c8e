import Foundation

// MedMNIST (https://medmnist.com) ships each 2-D dataset as one .npz holding six arrays:
// {train,val,test}_images as uint8 (N, H, W) for grey or (N, H, W, 3) for RGB, and
// {train,val,test}_labels as (N, 1) class indices, or (N, K) 0/1 flags for multi-label tasks.
// Networks here take channels-first input, so RGB images are transposed on load.

/// One split of an image classification dataset: images channels-first, one class per image.
public struct ImageSplit: Equatable, Sendable {
    /// The pixel values, N × C × H × W in C order: image `n`, channel `c`, row `y`, column `x`
    /// is `images[((n * channels + c) * height + y) * width + x]`.
    public let images: [Float]
    /// The class index of each image, in `0..<classCount`.
    public let labels: [Int32]
    /// The number of channels: 1 for grey, 3 for RGB.
    public let channels: Int
    /// The image height in pixels.
    public let height: Int
    /// The image width in pixels.
    public let width: Int
    /// The number of classes of the task, the same for every split of a dataset.
    public let classCount: Int

    /// The number of images.
    public var count: Int { labels.count }
    /// The number of values per image, C × H × W.
    public var valuesPerImage: Int { channels * height * width }

    /// A split built from channels-first pixel values and labels.
    ///
    /// - Throws: `ClinicDataError.invalidInput` when a dimension is not positive, `images` is not
    ///   `labels.count` × C × H × W values, or a label is outside `0..<classCount`.
    public init(
        images: [Float], labels: [Int32], channels: Int, height: Int, width: Int, classCount: Int
    ) throws(ClinicDataError) {
        guard channels > 0, height > 0, width > 0, classCount > 0 else {
            throw .invalidInput(
                reason: "ImageSplit: channels \(channels), height \(height), width \(width) and "
                    + "classCount \(classCount) must all be positive")
        }
        let (perImage, o1) = channels.multipliedReportingOverflow(by: height)
        let (values, o2) = perImage.multipliedReportingOverflow(by: width)
        let (total, o3) = values.multipliedReportingOverflow(by: labels.count)
        guard !(o1 || o2 || o3), images.count == total else {
            throw .invalidInput(
                reason: "ImageSplit: \(images.count) values for \(labels.count) images of "
                    + "\(channels)×\(height)×\(width)")
        }
        if let bad = labels.firstIndex(where: { $0 < 0 || Int($0) >= classCount }) {
            throw .invalidInput(reason: "ImageSplit: label \(labels[bad]) of image \(bad) is outside 0..<\(classCount)")
        }
        self.images = images
        self.labels = labels
        self.channels = channels
        self.height = height
        self.width = width
        self.classCount = classCount
    }

    /// The C × H × W values of image `index`.
    public func image(at index: Int) -> ArraySlice<Float> {
        images[index * valuesPerImage..<(index + 1) * valuesPerImage]
    }
}

/// Loading of image classification datasets stored as NumPy arrays.
public enum ImageDataset {
    /// Loads a 2-D MedMNIST `.npz` (any of them: grey or RGB, binary or multi-class) as its
    /// training, validation and test splits.
    ///
    /// Pixel values are scaled from uint8 to [0, 1] (float images must already be in [0, 1]) and
    /// RGB images are transposed to channels-first. Every split must have as many labels as
    /// images and the same C × H × W as the training split.
    ///
    /// - Parameters:
    ///   - url: the `.npz` file, holding `train_images`, `val_images`, `test_images`,
    ///     `train_labels`, `val_labels` and `test_labels`.
    ///   - classCount: the number of classes of the task; when `nil`, the largest label over all
    ///     splits plus one. Useful when a small split happens to miss the last classes.
    ///   - maxMemberBytes: the largest uncompressed array the archive may hold.
    ///   - maxElements: the largest array, in elements, the archive may hold.
    ///   - maxArrayBytes: the memory budget of one array (see `NPYArray.memoryBytes(count:dtype:)`),
    ///     checked from each member's `.npy` header before the member is inflated.
    /// - Throws: `ClinicDataError`: any `NPZArchive` or `NPYArray` error, `.multiLabelNotSupported`
    ///   for (N, K) labels with K > 1, and `.invalidImageData` for images that are not (N, H, W) or
    ///   (N, H, W, 3), not uint8 or float in [0, 1], of differing sizes across splits, for a label
    ///   count that differs from the image count, or for labels that are negative, not integers,
    ///   at or above `classCount`, or all of one class.
    public static func loadMedMNIST(
        from url: URL, classCount: Int? = nil, maxMemberBytes: UInt64 = NPZArchive.defaultMaxMemberBytes,
        maxElements: Int = NPYArray.defaultMaxElements, maxArrayBytes: Int = NPYArray.defaultMaxBytes
    ) throws(ClinicDataError) -> (train: ImageSplit, validation: ImageSplit, test: ImageSplit) {
        try loadMedMNIST(
            archive: NPZArchive(url: url, maxMemberBytes: maxMemberBytes, maxElements: maxElements, maxArrayBytes: maxArrayBytes),
            classCount: classCount)
    }

    /// Loads a 2-D MedMNIST `.npz` held in memory (a decrypted file); `source` names it in
    /// errors, and `confidential` keeps label and pixel values out of them. See
    /// `loadMedMNIST(from:classCount:maxMemberBytes:maxElements:maxArrayBytes:)`.
    public static func loadMedMNIST(
        data: Data, source: String, classCount: Int? = nil, maxMemberBytes: UInt64 = NPZArchive.defaultMaxMemberBytes,
        maxElements: Int = NPYArray.defaultMaxElements, maxArrayBytes: Int = NPYArray.defaultMaxBytes,
        confidential: Bool = false
    ) throws(ClinicDataError) -> (train: ImageSplit, validation: ImageSplit, test: ImageSplit) {
        try loadMedMNIST(
            archive: NPZArchive(
                data: data, source: source, maxMemberBytes: maxMemberBytes, maxElements: maxElements,
                maxArrayBytes: maxArrayBytes, confidential: confidential),
            classCount: classCount)
    }

    static func loadMedMNIST(
        archive: NPZArchive, classCount: Int?
    ) throws(ClinicDataError) -> (train: ImageSplit, validation: ImageSplit, test: ImageSplit) {
        var loaded: [LoadedSplit] = []
        for prefix in ["train", "val", "test"] {
            let split = try LoadedSplit(archive: archive, prefix: prefix)
            if let first = loaded.first, split.geometry != first.geometry {
                throw .invalidImageData(
                    split.imagesAt, reason: "the images are \(split.geometry) (C×H×W) where "
                        + "\(first.prefix)_images are \(first.geometry)")
            }
            loaded.append(split)
        }
        let classes = try resolveClassCount(classCount, loaded: loaded, archive: archive)
        let splits = try loaded.map { split throws(ClinicDataError) in
            try ImageSplit(
                images: split.pixels, labels: split.labels, channels: split.geometry.channels,
                height: split.geometry.height, width: split.geometry.width, classCount: classes)
        }
        return (splits[0], splits[1], splits[2])
    }

    /// The requested class count checked against the labels, or the largest label plus one.
    private static func resolveClassCount(
        _ requested: Int?, loaded: [LoadedSplit], archive: NPZArchive
    ) throws(ClinicDataError) -> Int {
        let file = ClinicDataError.Location(source: archive.source, confidential: archive.isConfidential)
        var largest: (label: Int32, split: LoadedSplit)?
        for split in loaded {
            if let top = split.labels.max(), top > largest?.label ?? -1 { largest = (top, split) }
        }
        guard let largest else {
            throw .invalidImageData(file, reason: "the archive holds no labels")
        }
        if let requested {
            guard requested >= 2 else {
                throw .invalidInput(reason: "ImageDataset: classCount must be at least 2, not \(requested)")
            }
            guard Int(largest.label) < requested else {
                let label = largest.split.labelsAt.isConfidential ? "a label" : "label \(largest.label)"
                throw .invalidImageData(
                    largest.split.labelsAt, reason: "\(label) is outside the \(requested) classes asked for")
            }
            return requested
        }
        guard largest.label >= 1 else {
            throw .invalidImageData(file, reason: "every label is 0; at least two classes are needed")
        }
        return Int(largest.label) + 1
    }
}

/// The image size of a split, compared across splits.
private struct ImageGeometry: Equatable, CustomStringConvertible {
    let channels: Int
    let height: Int
    let width: Int

    var description: String { "\(channels)×\(height)×\(width)" }
}

/// One split's arrays, validated and converted, before the class count over all splits is known.
private struct LoadedSplit {
    let prefix: String
    let imagesAt: ClinicDataError.Location
    let labelsAt: ClinicDataError.Location
    let geometry: ImageGeometry
    let pixels: [Float]
    let labels: [Int32]

    init(archive: NPZArchive, prefix: String) throws(ClinicDataError) {
        self.prefix = prefix
        imagesAt = .init(source: archive.source, member: "\(prefix)_images.npy", confidential: archive.isConfidential)
        labelsAt = .init(source: archive.source, member: "\(prefix)_labels.npy", confidential: archive.isConfidential)
        // Labels first: they are small, and a multi-label file is refused before its images inflate.
        let labelArray = try archive.array(named: "\(prefix)_labels")
        let imageArray = try archive.array(named: "\(prefix)_images")
        let (count, geometry, channelsLast) = try Self.layout(of: imageArray, at: imagesAt)
        self.geometry = geometry
        labels = try Self.labels(labelArray, imageCount: count, at: labelsAt)
        let values = try Self.unitValues(imageArray, at: imagesAt)
        pixels = channelsLast ? Self.channelsFirst(values, count: count, geometry: geometry) : values
    }

    /// The image count and size, and whether channels are the last axis.
    private static func layout(
        of array: NPYArray, at: ClinicDataError.Location
    ) throws(ClinicDataError) -> (Int, ImageGeometry, Bool) {
        let shape = array.shape
        let expected = "images must be (N, H, W) grey or (N, H, W, 3) RGB; found \(NPYArray.describe(shape))"
        let geometry: ImageGeometry
        switch shape.count {
        case 3:
            geometry = ImageGeometry(channels: 1, height: shape[1], width: shape[2])
        case 4 where shape[3] == 1 || shape[3] == 3:
            geometry = ImageGeometry(channels: shape[3], height: shape[1], width: shape[2])
        case 4:
            throw .invalidImageData(
                at, reason: "\(expected): the last axis of \(shape[3]) is not 1 or 3 channels "
                    + "(3-D MedMNIST volumes are not supported)")
        default:
            throw .invalidImageData(at, reason: expected)
        }
        guard shape[0] > 0 else { throw .invalidImageData(at, reason: "the split has no images") }
        guard geometry.height > 0, geometry.width > 0 else { throw .invalidImageData(at, reason: expected) }
        return (shape[0], geometry, shape.count == 4)
    }

    /// One class index per image from (N, 1) (or (N,)) integer labels.
    private static func labels(
        _ array: NPYArray, imageCount: Int, at: ClinicDataError.Location
    ) throws(ClinicDataError) -> [Int32] {
        let shape = array.shape
        if shape.count == 2 && shape[1] > 1 { throw .multiLabelNotSupported(at, labelsPerImage: shape[1]) }
        guard shape.count == 1 || (shape.count == 2 && shape[1] == 1) else {
            throw .invalidImageData(
                at, reason: "labels must be (N, 1) class indices; found \(NPYArray.describe(shape))")
        }
        guard array.dtype.isInteger || array.dtype == .bool else {
            throw .invalidImageData(
                at, reason: "labels are '\(array.dtype.rawValue)'; integer class indices are needed")
        }
        guard shape[0] == imageCount else {
            throw .invalidImageData(at, reason: "\(shape[0]) labels for \(imageCount) images")
        }
        var labels: [Int32] = []
        labels.reserveCapacity(imageCount)
        for (index, value) in array.int64s().enumerated() {
            // A label's value is the patient's diagnosis: kept out of a confidential file's errors.
            let label = at.isConfidential ? "the label" : "label \(value)"
            guard value >= 0 else { throw .invalidImageData(at, reason: "\(label) of image \(index) is negative") }
            guard value <= Int64(Int32.max) else {
                throw .invalidImageData(at, reason: "\(label) of image \(index) is too large for a class index")
            }
            labels.append(Int32(value))
        }
        return labels
    }

    /// The pixel values in [0, 1]: uint8 divided by 255, floats checked to lie in [0, 1].
    private static func unitValues(_ array: NPYArray, at: ClinicDataError.Location) throws(ClinicDataError) -> [Float] {
        switch array.dtype {
        case .uint8:
            // Scaled in place: one array of floats, not two.
            var values = array.floats()
            for index in values.indices { values[index] /= 255 }
            return values
        case .float32, .float64:
            let values = array.floats()
            if let bad = values.firstIndex(where: { !($0 >= 0 && $0 <= 1) }) {
                let pixel = at.isConfidential ? "the pixel value" : "pixel value \(values[bad])"
                throw .invalidImageData(
                    at, reason: "\(pixel) at element \(bad) is outside [0, 1]; "
                        + "float images must be scaled to [0, 1]")
            }
            return values
        default:
            throw .invalidImageData(
                at, reason: "images are '\(array.dtype.rawValue)'; uint8, or float in [0, 1], is needed")
        }
    }

    /// N × H × W × C values rearranged as N × C × H × W.
    private static func channelsFirst(_ values: [Float], count: Int, geometry: ImageGeometry) -> [Float] {
        let (channels, plane) = (geometry.channels, geometry.height * geometry.width)
        return [Float](unsafeUninitializedCapacity: values.count) { buffer, initialized in
            for image in 0..<count {
                let base = image * channels * plane
                for pixel in 0..<plane {
                    for channel in 0..<channels {
                        buffer[base + channel * plane + pixel] = values[base + pixel * channels + channel]
                    }
                }
            }
            initialized = values.count
        }
    }
}
