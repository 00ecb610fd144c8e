import ScalpelData

import Foundation
import ScalpelIO

#if canImport(CZlib)
import CZlib
#elseif canImport(zlib)
import zlib
#endif

// A minimal PNG writer (ISO/IEC 15948, RFC 2083): 8-bit grey, RGB or RGBA, no interlacing,
// every scanline with filter 0 (none), and the zlib stream (RFC 1950) compressed by zlib's
// deflate — or, on request (or should zlib fail), made of stored, that is uncompressed, deflate
// blocks (RFC 1951 §3.2.4), which every PNG reader opens too.

/// How `PNGEncoder` writes the image's zlib stream.
public enum PNGCompression: Sendable {
    /// zlib's deflate at level 6: enlarged overlays and plots shrink several-fold.
    case deflate
    /// Stored (uncompressed) deflate blocks: larger, and checkable byte by byte without an inflater.
    case stored
}

/// The pixel layouts `PNGEncoder` writes, all with 8 bits per channel.
public enum PNGPixelFormat: String, Equatable, Sendable {
    /// One grey level per pixel (PNG colour type 0).
    case grey
    /// Red, green, blue per pixel (PNG colour type 2).
    case rgb
    /// Red, green, blue, alpha per pixel, not premultiplied (PNG colour type 6).
    case rgba

    /// The bytes per pixel.
    public var channels: Int {
        switch self {
        case .grey: 1
        case .rgb: 3
        case .rgba: 4
        }
    }

    /// The PNG colour type written in IHDR.
    var colorType: UInt8 {
        switch self {
        case .grey: 0
        case .rgb: 2
        case .rgba: 6
        }
    }
}

/// Writes 8-bit images as PNG, and the checksums PNG and zlib need.
public enum PNGEncoder {
    /// The eight bytes every PNG file starts with.
    public static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// The largest IDAT chunk written; a longer image stream is split over several IDAT chunks.
    static let maxIDATLength = 1 << 20

    /// The PNG file of an image.
    ///
    /// - Parameters:
    ///   - pixels: row-major from the top-left, `format.channels` bytes per pixel, no row padding:
    ///     exactly width × height × channels bytes.
    ///   - width: pixels per row, 1 through 2³¹ − 1.
    ///   - height: rows, 1 through 2³¹ − 1.
    ///   - compression: deflated (the default) or stored blocks.
    /// - Throws: `ClinicDataError.invalidInput` for a dimension out of range or a pixel count
    ///   that does not match them.
    public static func encode(
        pixels: [UInt8], width: Int, height: Int, format: PNGPixelFormat, compression: PNGCompression = .deflate
    ) throws(ClinicDataError) -> [UInt8] {
        let limit = Int(Int32.max)
        guard (1...limit).contains(width), (1...limit).contains(height) else {
            throw .invalidInput(reason: "PNG: the size \(width)×\(height) is outside 1…\(limit) pixels per side")
        }
        let (rowBytes, o1) = width.multipliedReportingOverflow(by: format.channels)
        let (total, o2) = rowBytes.multipliedReportingOverflow(by: height)
        let (_, o3) = (rowBytes + 1).multipliedReportingOverflow(by: height)
        guard !(o1 || o2 || o3), pixels.count == total else {
            throw .invalidInput(
                reason: "PNG: \(pixels.count) bytes of pixels for a \(width)×\(height) \(format.rawValue) image "
                    + "(\(o1 || o2 ? "too many" : String(total)) needed)")
        }

        var scanlines: [UInt8] = []
        scanlines.reserveCapacity((rowBytes + 1) * height)
        for row in 0..<height {
            scanlines.append(0)  // filter type 0: the row as it is
            scanlines.append(contentsOf: pixels[row * rowBytes..<(row + 1) * rowBytes])
        }

        var header: [UInt8] = []
        appendBigEndian(UInt32(width), to: &header)
        appendBigEndian(UInt32(height), to: &header)
        header += [8, format.colorType, 0, 0, 0]  // bit depth, colour type, deflate, filter method 0, no interlace

        var file = signature
        appendChunk("IHDR", header, to: &file)
        let stream = compression == .deflate ? zlibDeflated(scanlines) ?? zlibStored(scanlines) : zlibStored(scanlines)
        var start = 0
        repeat {
            let end = min(start + maxIDATLength, stream.count)
            appendChunk("IDAT", stream[start..<end], to: &file)
            start = end
        } while start < stream.count
        appendChunk("IEND", [], to: &file)
        return file
    }

    /// Encodes an image as PNG (see `encode(pixels:width:height:format:)`) and writes it to `url`
    /// atomically.
    ///
    /// - Throws: `ClinicDataError.invalidInput` as `encode` does, `.unwritable` when the file
    ///   cannot be written.
    public static func write(
        pixels: [UInt8], width: Int, height: Int, format: PNGPixelFormat, compression: PNGCompression = .deflate, to url: URL
    ) throws(ClinicDataError) {
        let bytes = try encode(pixels: pixels, width: width, height: height, format: format, compression: compression)
        do {
            try AtomicFile.write(Data(bytes), to: url)
        } catch {
            throw .unwritable(.init(source: url.isFileURL ? url.path : url.absoluteString), reason: error.reason)
        }
    }

    /// `data` as a zlib stream (RFC 1950) compressed by zlib's `compress2` at level 6, or nil
    /// for empty data or when zlib reports an error.
    public static func zlibDeflated(_ data: [UInt8]) -> [UInt8]? {
        var length = compressBound(uLong(data.count))
        var out = [UInt8](repeating: 0, count: Int(length))
        let status = data.withUnsafeBufferPointer { source in
            out.withUnsafeMutableBufferPointer { target in
                guard let from = source.baseAddress, let to = target.baseAddress else { return Z_DATA_ERROR }
                return compress2(to, &length, from, uLong(data.count), 6)
            }
        }
        guard status == Z_OK else { return nil }
        return Array(out.prefix(Int(length)))
    }

    /// `data` as a zlib stream (RFC 1950) of stored deflate blocks: the header 78 01, blocks of
    /// at most 65,535 bytes each with its length and the length's one's complement, the last one
    /// marked final, and the Adler-32 of `data`, big-endian. Empty data gives one empty final block.
    public static func zlibStored(_ data: [UInt8]) -> [UInt8] {
        var stream: [UInt8] = [0x78, 0x01]  // deflate, 32 KiB window; (0x78 × 256 + 0x01) % 31 == 0
        stream.reserveCapacity(data.count + data.count / 65_535 * 5 + 11)
        var start = 0
        repeat {
            let end = min(start + 65_535, data.count)
            let length = UInt16(end - start)
            stream.append(end == data.count ? 1 : 0)  // BFINAL, BTYPE 00 (stored), padding to the byte
            stream += [UInt8(length & 0xFF), UInt8(length >> 8), UInt8(~length & 0xFF), UInt8(~length >> 8)]
            stream.append(contentsOf: data[start..<end])
            start = end
        } while start < data.count
        appendBigEndian(adler32(data), to: &stream)
        return stream
    }

    /// The CRC-32 of PNG, zlib and zip (ISO 3309, reflected polynomial 0xEDB88320).
    ///
    /// - Parameter initial: the CRC of the bytes before these, to continue a running CRC;
    ///   0 to start. `crc32(b, initial: crc32(a))` equals `crc32(a + b)`.
    public static func crc32(_ bytes: some Sequence<UInt8>, initial: UInt32 = 0) -> UInt32 {
        var crc = ~initial
        for byte in bytes {
            crc = crcTable[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8)
        }
        return ~crc
    }

    /// The Adler-32 checksum of zlib (RFC 1950 §8.2): two sums modulo 65,521 packed as
    /// (sum of sums) << 16 | (1 + sum of bytes).
    public static func adler32(_ bytes: some Sequence<UInt8>) -> UInt32 {
        let modulus: UInt32 = 65_521
        var a: UInt32 = 1
        var b: UInt32 = 0
        var pending = 0
        for byte in bytes {
            a += UInt32(byte)
            b += a
            pending += 1
            // 5,552 is the most bytes after which b cannot have overflowed 32 bits.
            if pending == 5_552 {
                a %= modulus
                b %= modulus
                pending = 0
            }
        }
        return (b % modulus) << 16 | (a % modulus)
    }

    private static let crcTable: [UInt32] = (0..<256).map { index -> UInt32 in
        var value = UInt32(index)
        for _ in 0..<8 {
            value = value & 1 == 1 ? 0xEDB8_8320 ^ (value >> 1) : value >> 1
        }
        return value
    }

    private static func appendChunk(_ type: String, _ data: some Collection<UInt8>, to file: inout [UInt8]) {
        let typeBytes = Array(type.utf8)
        appendBigEndian(UInt32(data.count), to: &file)
        file += typeBytes
        file.append(contentsOf: data)
        appendBigEndian(crc32(data, initial: crc32(typeBytes)), to: &file)
    }

    private static func appendBigEndian(_ value: UInt32, to bytes: inout [UInt8]) {
        bytes += [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
    }
}

/// A saliency or attention map laid over an image, as RGB pixels that `PNGEncoder` can write.
///
/// Each output pixel is (1 − opacity) × image + opacity × colour(weight), per channel, where the
/// colour comes from a `Colormap` (`jet` by default, as saliency maps are usually shown; `viridis`
/// reads better in grey and for colour-blind readers). A grey image is repeated into all three
/// channels. The image may be enlarged by a whole factor, each pixel becoming a square block,
/// so 28 × 28 MedMNIST images are big enough to see.
public enum SaliencyOverlay {
    /// The blended image, RGB, row-major, `(height × scale) × (width × scale)` pixels.
    ///
    /// - Parameters:
    ///   - image: channels-first C × H × W values in [0, 1] (as `ImageSplit.image(at:)` gives
    ///     them before standardisation); values outside are clamped, NaN is taken as 0.
    ///   - channels: 1 (grey) or 3 (RGB).
    ///   - weights: H × W row-major, one per pixel, in [0, 1]; clamped, NaN taken as 0.
    ///   - normalizeWeights: first stretch the finite weights' minimum…maximum to 0…1 (raw
    ///     gradient magnitudes, attention scores); constant weights become 0.
    ///   - opacity: the colour's share in each pixel, in [0, 1].
    ///   - scale: the enlargement factor, 1…64.
    /// - Throws: `ClinicDataError.invalidInput` for a channel count other than 1 or 3, a
    ///   non-positive size, arrays of the wrong length, an opacity outside [0, 1] or a scale
    ///   outside 1…64.
    public static func render(
        image: [Float], channels: Int, height: Int, width: Int, weights: [Float], colormap: Colormap = .jet,
        opacity: Double = 0.45, normalizeWeights: Bool = false, scale: Int = 1
    ) throws(ClinicDataError) -> [UInt8] {
        guard channels == 1 || channels == 3 else {
            throw .invalidInput(reason: "saliency overlay: \(channels) channels; 1 (grey) or 3 (RGB) are supported")
        }
        guard height > 0, width > 0, height <= 1 << 15, width <= 1 << 15 else {
            throw .invalidInput(reason: "saliency overlay: the size \(width)×\(height) is outside 1…32768 per side")
        }
        let area = height * width
        guard image.count == channels * area, weights.count == area else {
            throw .invalidInput(
                reason: "saliency overlay: \(image.count) image values and \(weights.count) weights for "
                    + "\(channels)×\(height)×\(width); \(channels * area) and \(area) are needed")
        }
        guard opacity >= 0, opacity <= 1 else {
            throw .invalidInput(reason: "saliency overlay: opacity \(opacity) is outside [0, 1]")
        }
        guard (1...64).contains(scale) else {
            throw .invalidInput(reason: "saliency overlay: scale \(scale) is outside 1…64")
        }

        var levels = weights.map { $0.isNaN ? 0 : Double($0) }
        if normalizeWeights {
            let finite = levels.filter(\.isFinite)
            let low = finite.min() ?? 0
            let high = finite.max() ?? 0
            levels = levels.map { high > low ? ($0 - low) / (high - low) : 0 }
        }

        var small = [UInt8](repeating: 0, count: area * 3)
        for pixel in 0..<area {
            let color = colormap.color(levels[pixel])
            let overlay = [color.red, color.green, color.blue]
            for channel in 0..<3 {
                let raw = image[(channels == 1 ? 0 : channel) * area + pixel]
                let base = raw.isNaN ? 0 : min(max(Double(raw), 0), 1) * 255
                let blended = (1 - opacity) * base + opacity * Double(overlay[channel])
                small[pixel * 3 + channel] = UInt8(min(max(blended.rounded(), 0), 255))
            }
        }
        if scale == 1 { return small }

        let outWidth = width * scale
        var large = [UInt8](repeating: 0, count: area * scale * scale * 3)
        for y in 0..<height * scale {
            for x in 0..<outWidth {
                let source = ((y / scale) * width + x / scale) * 3
                let target = (y * outWidth + x) * 3
                large[target] = small[source]
                large[target + 1] = small[source + 1]
                large[target + 2] = small[source + 2]
            }
        }
        return large
    }

    /// Renders the overlay (see `render`) and writes it to `url` as an RGB PNG.
    ///
    /// - Throws: the errors of `render`, and `ClinicDataError.unwritable` when the file cannot
    ///   be written.
    public static func writePNG(
        to url: URL, image: [Float], channels: Int, height: Int, width: Int, weights: [Float],
        colormap: Colormap = .jet, opacity: Double = 0.45, normalizeWeights: Bool = false, scale: Int = 1,
        compression: PNGCompression = .deflate
    ) throws(ClinicDataError) {
        let pixels = try render(
            image: image, channels: channels, height: height, width: width, weights: weights, colormap: colormap,
            opacity: opacity, normalizeWeights: normalizeWeights, scale: scale)
        try PNGEncoder.write(pixels: pixels, width: width * scale, height: height * scale, format: .rgb, compression: compression, to: url)
    }
}
