import CScalpelImageCodecs
import Foundation

/// An image decoded from a file: `channels` planes (1 grey, 3 RGB) of `height` × `width` values
/// in [0, 1], channel-major, rows top-down.
public struct DecodedImage: Sendable, Equatable {
    /// Columns.
    public var width: Int
    /// Rows.
    public var height: Int
    /// 1 (grey) or 3 (RGB).
    public var channels: Int
    /// Bits per sample in the file (8 or 16; DICOM: the bits stored).
    public var bits: Int
    /// channels × height × width values in [0, 1].
    public var pixels: [Float]

    /// An image of the given geometry and values.
    /// - Parameters:
    ///   - width: Columns.
    ///   - height: Rows.
    ///   - channels: 1 or 3.
    ///   - bits: Bits per sample in the file it came from.
    ///   - pixels: channels × height × width values in [0, 1], channel-major.
    public init(width: Int, height: Int, channels: Int, bits: Int = 8, pixels: [Float]) {
        (self.width, self.height, self.channels, self.bits, self.pixels) = (width, height, channels, bits, pixels)
    }
}

/// A DICOM display window: the modality values from `center - width/2` to `center + width/2`
/// become 0 to 1 (DICOM's VOI LUT function, linear).
public struct DicomWindow: Sendable, Codable, Equatable {
    /// The window's centre, in modality units (Hounsfield units for CT).
    public var center: Double
    /// The window's width (at least 1).
    public var width: Double

    /// A window of `center` and `width`.
    /// - Parameters:
    ///   - center: The centre in modality units.
    ///   - width: The width (at least 1).
    public init(center: Double, width: Double) { (self.center, self.width) = (center, width) }
}

/// Why an image file could not be read: the file and the reason, never its content (a DICOM
/// header's patient and dates included).
public struct ImageFileError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The file.
    public var path: String
    /// What is wrong with it.
    public var reason: String
    /// Whether the file may be fine and a decoder library is missing (then no file can be read,
    /// and skipping it would skip every image).
    public var missingLibrary: Bool

    /// `path: reason`.
    public var description: String { "\(path): \(reason)" }
}

/// The image formats Scalpel reads, found by their first bytes, not their names.
public enum ImageFileFormat: String, Sendable, CaseIterable {
    /// Portable Network Graphics: grey, grey+alpha, RGB, RGBA, palette; 1–16 bits.
    case png
    /// JPEG (JFIF/Exif): baseline and progressive, grey and colour.
    case jpeg
    /// DICOM Part 10 files (the "DICM" preamble) and, by their `.dcm` name, bare data sets.
    case dicom

    /// The file extensions taken for images (lower case).
    public static let extensions: Set<String> = ["png", "jpg", "jpeg", "dcm", "dicom"]

    /// The format of a file from its first bytes (and, for DICOM without a preamble, its name).
    /// - Parameters:
    ///   - header: At least the first 132 bytes of the file, when it has them.
    ///   - name: The file's name.
    /// - Returns: The format, or nil when the file is none of them.
    public static func detect(header: [UInt8], name: String) -> ImageFileFormat? {
        if header.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .png }
        if header.starts(with: [0xFF, 0xD8, 0xFF]) { return .jpeg }
        if header.count >= 132, header[128 ..< 132].elementsEqual("DICM".utf8) { return .dicom }
        let ext = URL(fileURLWithPath: name).pathExtension.lowercased()
        if (ext == "dcm" || ext == "dicom") && header.count >= 8 { return .dicom }
        return nil
    }
}

/// The text of a C error buffer (up to its terminating zero).
private func message(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Decodes PNG, JPEG and DICOM files with the field's libraries, loaded at run time (libpng,
/// libjpeg-turbo's TurboJPEG, DCMTK through Scalpel's DICOM plugin).
public enum ImageFile {
    /// Decodes the image at `path`.
    /// - Parameters:
    ///   - path: A PNG, JPEG or DICOM file.
    ///   - window: For DICOM: the display window (nil: the file's first window, else its range).
    /// - Returns: The image's pixels in [0, 1].
    /// - Throws: `ImageFileError` naming the file: empty, not an image, corrupt or truncated, or a
    ///   decoder library that is not installed.
    public static func decode(path: String, window: DicomWindow? = nil) throws -> DecodedImage {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path), options: .mappedIfSafe)
        } catch {
            throw ImageFileError(path: path, reason: "cannot be read (\((error as NSError).localizedDescription))", missingLibrary: false)
        }
        guard !data.isEmpty else { throw ImageFileError(path: path, reason: "empty file", missingLibrary: false) }
        let bytes = [UInt8](data)
        guard let format = ImageFileFormat.detect(header: Array(bytes.prefix(132)), name: path) else {
            throw ImageFileError(path: path, reason: "not a PNG, JPEG or DICOM image", missingLibrary: false)
        }
        var error = [CChar](repeating: 0, count: 512)
        let loaded: Int32
        switch format {
        case .png: loaded = scalpel_png_load(&error, error.count)
        case .jpeg: loaded = scalpel_jpeg_load(&error, error.count)
        case .dicom: loaded = scalpel_dicom_load(ProcessInfo.processInfo.environment["SCALPEL_DICOM_LIBRARY"], &error, error.count)
        }
        if loaded != 0 {
            throw ImageFileError(path: path, reason: message(error), missingLibrary: true)
        }
        var image = scalpel_image()
        let status: Int32 = switch format {
        case .png: bytes.withUnsafeBufferPointer { scalpel_png_decode($0.baseAddress, $0.count, &image, &error, error.count) }
        case .jpeg: bytes.withUnsafeBufferPointer { scalpel_jpeg_decode($0.baseAddress, $0.count, &image, &error, error.count) }
        case .dicom: scalpel_dicom_decode(path, window == nil ? 0 : 1, window?.center ?? 0, window?.width ?? 0, &image, &error, error.count)
        }
        guard status == 0, let pixels = image.pixels else {
            throw ImageFileError(path: path, reason: message(error), missingLibrary: false)
        }
        defer { scalpel_image_free(&image) }
        let count = Int(image.width) * Int(image.height) * Int(image.channels)
        return DecodedImage(width: Int(image.width), height: Int(image.height), channels: Int(image.channels), bits: Int(image.bits),
                            pixels: Array(UnsafeBufferPointer(start: pixels, count: count)))
    }
}
