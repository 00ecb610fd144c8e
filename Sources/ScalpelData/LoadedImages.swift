import Foundation

/// The images of a collection decoded at one size and channel count: what training and
/// evaluation take.
public struct LoadedImages: Sendable {
    /// The images kept, in the collection's order (bad files left out when skipping).
    public var items: [ImageCollection.Item]
    /// N × channels × height × width values in [0, 1].
    public var values: [Float]
    /// Rows of every image.
    public var height: Int
    /// Columns of every image.
    public var width: Int
    /// 1 (grey) or 3 (RGB).
    public var channels: Int
    /// How many images were resized to `height` × `width`.
    public var resizedCount: Int
    /// The files left out, each with its reason (only when skipping bad images).
    public var skipped: [ImageFileError]

    /// What to decode the images to.
    public struct Geometry: Sendable, Equatable, Codable {
        /// Rows (nil: the collection's most common size).
        public var height: Int?
        /// Columns (nil: as `height`, or the most common size).
        public var width: Int?
        /// 1 or 3 (nil: 1 when every image is grey, else 3).
        public var channels: Int?
        /// The DICOM window (nil: each file's own).
        public var window: DicomWindow?

        /// A geometry; nil parts are taken from the images.
        /// - Parameters:
        ///   - height: Rows.
        ///   - width: Columns.
        ///   - channels: 1 or 3.
        ///   - window: The DICOM display window.
        public init(height: Int? = nil, width: Int? = nil, channels: Int? = nil, window: DicomWindow? = nil) {
            (self.height, self.width, self.channels, self.window) = (height, width, channels, window)
        }
    }

    /// Decodes every image of `items` (on every core), then resizes each with antialiasing to
    /// one size and converts it to one channel count.
    /// - Parameters:
    ///   - items: The files.
    ///   - geometry: The size and channels wanted; what it leaves nil comes from the images.
    ///   - skipBadImages: Whether a corrupt, truncated, empty or non-image file is left out (and
    ///     listed in `skipped`) instead of stopping the load.
    /// - Returns: The decoded images.
    /// - Throws: `ImageFileError` for the first bad file (or, when skipping, for a missing decoder
    ///   library, or when no image is left).
    public static func load(_ items: [ImageCollection.Item], geometry: Geometry, skipBadImages: Bool) throws -> LoadedImages {
        let decoded = decodeAll(items.map(\.path), window: geometry.window)
        var kept: [(ImageCollection.Item, DecodedImage)] = []
        var skipped: [ImageFileError] = []
        for (item, result) in zip(items, decoded) {
            switch result {
            case let .success(image): kept.append((item, image))
            case let .failure(error):
                if !skipBadImages || error.missingLibrary { throw error }
                skipped.append(error)
            }
        }
        guard !kept.isEmpty else {
            throw ImageFileError(path: items.first.map { URL(fileURLWithPath: $0.path).deletingLastPathComponent().path } ?? "",
                                 reason: "none of the \(items.count) files is a readable image", missingLibrary: false)
        }
        let sizes = Dictionary(kept.map { ("\($0.1.height)x\($0.1.width)", 1) }, uniquingKeysWith: +)
        let common = kept.map { ($0.1.height, $0.1.width) }.max { a, b in
            let (ca, cb) = (sizes["\(a.0)x\(a.1)"]!, sizes["\(b.0)x\(b.1)"]!)
            return ca != cb ? ca < cb : (a.0 * a.1, a.0) > (b.0 * b.1, b.0)  // ties: the smaller size
        }!
        let height = geometry.height ?? common.0, width = geometry.width ?? geometry.height ?? common.1
        let channels = geometry.channels ?? (kept.allSatisfy { $0.1.channels == 1 } ? 1 : 3)
        var values: [Float] = []
        values.reserveCapacity(kept.count * channels * height * width)
        var resized = 0
        for (_, image) in kept {
            if image.height != height || image.width != width { resized += 1 }
            values += image.resampled(height: height, width: width, channels: channels).pixels
        }
        return LoadedImages(items: kept.map(\.0), values: values, height: height, width: width, channels: channels,
                            resizedCount: resized, skipped: skipped)
    }

    /// Every file decoded, in order, on all cores.
    private static func decodeAll(_ paths: [String], window: DicomWindow?) -> [Result<DecodedImage, ImageFileError>] {
        let results = ResultSlots(count: paths.count)
        let workers = max(1, min(ProcessInfo.processInfo.activeProcessorCount, paths.count))
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            for i in stride(from: worker, to: paths.count, by: workers) {
                do { results.set(i, .success(try ImageFile.decode(path: paths[i], window: window))) } catch let error as ImageFileError {
                    results.set(i, .failure(error))
                } catch {
                    results.set(i, .failure(ImageFileError(path: paths[i], reason: "\(error)", missingLibrary: false)))
                }
            }
        }
        return results.values
    }
}

/// Decoding results written from several threads, each slot by one thread.
private final class ResultSlots: @unchecked Sendable {
    private var slots: [Result<DecodedImage, ImageFileError>?]
    private let lock = NSLock()
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ index: Int, _ value: Result<DecodedImage, ImageFileError>) { lock.withLock { slots[index] = value } }
    var values: [Result<DecodedImage, ImageFileError>] { lock.withLock { slots.map { $0! } } }
}
