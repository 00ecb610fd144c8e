import Foundation
import ScalpelCore
import ScalpelData

/// Image folders and manifests (PNG, JPEG, DICOM) prepared for training and for a saved model.
extension PreparedData {
    /// Whether `path` is a folder of images or a CSV manifest of them (rather than a data file).
    public static func isImageCollection(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return (FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue)
            || ImageCollection.isManifest(path)
    }

    /// `values` (N × channels × plane) standardised per channel.
    static func standardised(_ values: [Float], channels: Int, plane: Int, mean: [Double], std: [Double]) -> [Float] {
        var out = values
        for i in out.indices {
            let c = (i / plane) % channels
            out[i] = Float((Double(values[i]) - mean[c]) / std[c])
        }
        return out
    }

    /// An image folder or manifest for training: every image decoded, resized and converted to one
    /// geometry; split 70/15/15 (stratified, seeded; by group where the images are grouped) unless
    /// the folder's train/, val/ and test/ folders fix it; standardised per channel with the
    /// training images' statistics.
    static func imageCollection(_ config: TrainingConfig) throws -> PreparedData {
        let collection = try ImageCollection.open(config.data, classes: config.classOrder)
        let geometry = LoadedImages.Geometry(height: config.imageSize?[0], width: config.imageSize?[1], channels: config.channels,
                                             window: config.window)
        let loaded = try LoadedImages.load(collection.items, geometry: geometry, skipBadImages: config.skipBadImages ?? false)
        let index = Dictionary(uniqueKeysWithValues: collection.classNames.enumerated().map { ($1, Int32($0)) })
        let fileLabels = loaded.items.map { index[$0.className]! }
        // Named classes: a positive class by name (or index); with two, the second is the condition.
        let choice = try ClassChoice.resolve(fileNames: collection.classNames, named: true,
                                             positive: config.positiveClass ?? (collection.classNames.count == 2 ? collection.classNames[1] : nil),
                                             kind: "image folders")
        let labels = choice.relabel(fileLabels)
        let source = config.data
        var notes: [String: String] = [:]
        var split: (train: [Int], validation: [Int], test: [Int])
        if collection.hasFixedSplit {
            let rows = { (part: ImageCollection.Split) in loaded.items.indices.filter { loaded.items[$0].split == part } }
            var (train, validation, test) = (rows(.train), rows(.validation), rows(.test))
            guard !train.isEmpty, !test.isEmpty else {
                throw ScalpelError.invalidArgument("\(source): its train/ and test/ folders must both hold images")
            }
            let fraction = config.validationFraction > 0 ? config.validationFraction : 0.15
            if validation.isEmpty { (train, validation) = heldOut(train, labels: fileLabels, fraction: fraction, seed: config.seed) }
            split = (train, validation, test)
            notes["split"] = "the folder's train/ and test/ folders" + (rows(.validation).isEmpty
                ? "; validation: \(fraction) of each training class, seeded (\(config.seed))" : " and its val/ folder")
        } else if let grouping = collection.grouping {
            let groups = loaded.items.map { $0.group ?? $0.path }
            let grouped = try groupSplit(fileLabels, groups: groups, lines: Array(loaded.items.indices), column: grouping, config, source: source)
            split = (grouped.train, grouped.validation, grouped.test)
            notes["split"] = "stratified by group, seeded (\(config.seed)), shares \(PreparedData.shares(config.split)): images grouped by \(grouping) "
                + "(\(grouped.groupCount) groups); no group has images in two splits"
        } else {
            let s = try PreparedData.split(fileLabels, config, source: source)
            split = (s.train, s.validation, s.test)
            notes["split"] = "stratified, seeded (\(config.seed)), shares \(PreparedData.shares(config.split))"
        }
        let (c, h, w) = (loaded.channels, loaded.height, loaded.width)
        let (mean, std) = channelStatistics(loaded.values, rows: split.train, channels: c, area: h * w)
        let counts = collection.classNames.map { name in loaded.items.filter { $0.className == name }.count }
        notes["images"] = "\(loaded.items.count) images of \(collection.classNames.count) classes ("
            + zip(collection.classNames, counts).map { "\($0): \($1)" }.joined(separator: ", ") + "), \(h)×\(w) \(c == 1 ? "grey" : "RGB")"
            + (loaded.resizedCount > 0 ? "; \(loaded.resizedCount) resized with antialiasing from another size" : "")
            + (config.window.map { "; DICOM window centre \($0.center), width \($0.width)" } ?? "")
        notes["classes"] = choice.names.enumerated().map { "\($0.offset) \($0.element)" }.joined(separator: ", ")
            + (choice.positive.map { "; positive: \(collection.classNames[$0])" } ?? "")
        notes["normalisation"] = "pixels in [0, 1], standardised per channel with the training images' mean "
            + "\(PreparedData.decimals(mean)) and standard deviation \(PreparedData.decimals(std))"
        if !loaded.skipped.isEmpty {
            // Paths relative to the folder: the list is about files, not about where they sit.
            let paths = relativePaths(loaded.skipped.map(\.path), under: source)
            notes["skipped images"] = "\(loaded.skipped.count) left out (--skip-bad-images): "
                + zip(paths, loaded.skipped).map { "\($0) (\($1.reason))" }.joined(separator: "; ")
        }
        let fileGeometry = LoadedImages.Geometry(height: h, width: w, channels: c, window: config.window)
        return PreparedData(kind: .images, values: standardised(loaded.values, channels: c, plane: h * w, mean: mean, std: std),
                            sampleShape: [c, h, w], labels: labels, classNames: choice.names,
                            train: split.train, validation: split.validation, test: split.test, notes: notes,
                            pipeline: DataPipeline(kind: .images, sampleShape: [c, h, w], classNames: choice.names,
                                                   fileClasses: collection.classNames, positiveClass: choice.positive.map(String.init),
                                                   images: .init(fileClassCount: collection.classNames.count, mean: mean,
                                                                 standardDeviation: std, files: fileGeometry)),
                            sampleIDs: relativePaths(loaded.items.map(\.path), under: source), sampleIDName: "path")
    }

    /// `paths` relative to the folder (or the manifest's folder) at `root`.
    static func relativePaths(_ paths: [String], under root: String) -> [String] {
        var base = URL(fileURLWithPath: root).standardizedFileURL
        var isDirectory: ObjCBool = false
        if !(FileManager.default.fileExists(atPath: base.path, isDirectory: &isDirectory) && isDirectory.boolValue) {
            base = base.deletingLastPathComponent()
        }
        let prefix = base.path.hasSuffix("/") ? base.path : base.path + "/"
        return paths.map { $0.hasPrefix(prefix) ? String($0.dropFirst(prefix.count)) : $0 }
    }

    /// An image folder or manifest for a saved model: its classes must be among the model's (a
    /// class may be missing); each image brought to the trained geometry and standardised with the
    /// training statistics. A folder with train/, val/ and test/ folders gives its test images
    /// (`split` chooses another).
    static func evaluationCollection(_ path: String, _ pipeline: DataPipeline, split: EvaluationSplit, requireLabels: Bool = true) throws -> PreparedData {
        guard let stats = pipeline.images, let geometry = stats.files else {
            throw ScalpelError.invalidArgument("\(path): the model was trained on \(pipeline.kind.rawValue) data "
                + (pipeline.kind == .images ? "from a MedMNIST .npz; give such a file" : "and this is an image folder"))
        }
        // Images to predict may sit in a folder of their own, without class folders.
        let labelled = requireLabels || ImageCollection.isLabelled(path, classes: pipeline.fileClasses)
        let collection = labelled ? try ImageCollection.open(path, classes: pipeline.fileClasses, allowingMissingClasses: true)
            : try ImageCollection.unlabelled(path)
        var items = collection.items
        if collection.hasFixedSplit {
            let wanted: [ImageCollection.Split] = switch split {
            case .auto, .test: [.test]
            case .validation: [.validation]
            case .train: [.train]
            case .all: ImageCollection.Split.allCases
            }
            items = items.filter { $0.split.map(wanted.contains) ?? false }
        } else if split != .auto && split != .all {
            throw ScalpelError.invalidArgument("--split \(split.rawValue): only a folder with train/, val/ and test/ folders has splits")
        }
        let loaded = try LoadedImages.load(items, geometry: geometry, skipBadImages: false)
        let index = Dictionary(uniqueKeysWithValues: pipeline.fileClasses.enumerated().map { ($1, Int32($0)) })
        let labels = ClassChoice.relabel(loaded.items.map { index[$0.className] ?? 0 }, positive: pipeline.positiveClass)
        let plane = geometry.height! * geometry.width!
        var notes = ["normalisation": "the training images' channel mean and standard deviation (from the checkpoint)",
                     "images": "\(loaded.items.count) images, brought to the trained \(geometry.height!)×\(geometry.width!) "
                         + (geometry.channels == 1 ? "grey" : "RGB")
                         + (loaded.resizedCount > 0 ? " (\(loaded.resizedCount) resized with antialiasing)" : "")]
        if collection.hasFixedSplit { notes["split"] = "the folder's \(split == .auto ? "test" : split.rawValue) images" }
        return PreparedData(kind: .images,
                            values: standardised(loaded.values, channels: geometry.channels!, plane: plane, mean: stats.mean, std: stats.standardDeviation),
                            sampleShape: pipeline.sampleShape, labels: labels, classNames: pipeline.classNames,
                            train: [], validation: [], test: Array(0 ..< labels.count), notes: notes, pipeline: pipeline, hasLabels: labelled,
                            sampleIDs: relativePaths(loaded.items.map(\.path), under: path), sampleIDName: "path")
    }
}
