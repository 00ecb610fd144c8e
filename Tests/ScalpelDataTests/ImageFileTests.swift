import Foundation
@testable import ScalpelData
import Testing

/// The image fixtures of scripts/image_fixtures.py.
func imageFixture(_ name: String) -> String { fixturesURL.appendingPathComponent("images/\(name)").path }
/// The DICOM fixtures of scripts/image_fixtures.py.
func dicomFixture(_ name: String) -> String { fixturesURL.appendingPathComponent("dicom/\(name)").path }

/// Whether DICOM can be decoded here; without the plugin, a test failure when
/// SCALPEL_REQUIRE_DICOM=1 (as scripts/test.sh sets), else the DICOM tests pass over.
func dicomAvailable() -> Bool {
    do {
        _ = try ImageFile.decode(path: dicomFixture("mono2_plain.dcm"))
        return true
    } catch let error as ImageFileError where error.missingLibrary {
        if ProcessInfo.processInfo.environment["SCALPEL_REQUIRE_DICOM"] == "1" { Issue.record("\(error)") }
        return false
    } catch {
        Issue.record("\(error)")
        return false
    }
}

/// PNG and JPEG files decoded by libpng and TurboJPEG, against the patterns that wrote them.
struct ImageFileTests {
    /// A w × h plane of `level(x, y) / scale`, row-major.
    func plane(_ w: Int, _ h: Int, scale: Float = 255, _ level: (Int, Int) -> Int) -> [Float] {
        var values: [Float] = []
        for y in 0 ..< h {
            for x in 0 ..< w { values.append(Float(level(x, y)) / scale) }
        }
        return values
    }

    func grey8(_ w: Int, _ h: Int) -> [Float] { plane(w, h) { x, y in (x * 19 + y * 37) % 256 } }

    func rgb8(_ w: Int, _ h: Int) -> [Float] {
        plane(w, h) { x, _ in (x * 30) % 256 } + plane(w, h) { _, y in (y * 50) % 256 } + plane(w, h) { x, y in (x * y * 11) % 256 }
    }

    @Test func everyPNGColourTypeAndDepth() throws {
        let grey = try ImageFile.decode(path: imageFixture("grey8.png"))
        #expect((grey.width, grey.height, grey.channels, grey.bits) == (13, 7, 1, 8))
        #expect(grey.pixels == grey8(13, 7))

        let wide = try ImageFile.decode(path: imageFixture("grey16.png"))
        #expect((wide.width, wide.height, wide.channels, wide.bits) == (11, 5, 1, 16))
        // All 16 bits kept, not rounded to 8.
        let expected16 = plane(11, 5, scale: 65535) { x, y in (x * 4099 + y * 7919) % 65536 }
        #expect(zip(wide.pixels, expected16).allSatisfy { abs($0 - $1) < 1e-6 })

        let bits = try ImageFile.decode(path: imageFixture("grey1.png"))
        #expect(bits.pixels == plane(10, 6, scale: 1) { x, y in (x + y) % 2 })

        // Alpha is composited onto black: the transparent pixel is 0, the rest as written.
        let alpha = try ImageFile.decode(path: imageFixture("grey_alpha.png"))
        var expected = grey8(9, 6)
        expected[0] = 0
        #expect(alpha.channels == 1 && alpha.pixels == expected)

        let rgb = try ImageFile.decode(path: imageFixture("rgb.png"))
        #expect((rgb.width, rgb.height, rgb.channels) == (7, 5, 3) && rgb.pixels == rgb8(7, 5))
        let rgba = try ImageFile.decode(path: imageFixture("rgba.png"))
        var expectedRGBA = rgb8(7, 5)
        for c in 0 ..< 3 { expectedRGBA[c * 35 + 4 * 7 + 6] = 0 }
        #expect(rgba.channels == 3 && rgba.pixels == expectedRGBA)

        // A palette image: each index's colour.
        let palette = try ImageFile.decode(path: imageFixture("palette.png"))
        let colours: [[Float]] = [[0, 0, 0], [255, 0, 0], [0, 255, 0], [10, 20, 250]]
        #expect(palette.channels == 3)
        for y in 0 ..< 8 {
            for x in 0 ..< 8 {
                for c in 0 ..< 3 { #expect(palette.pixels[c * 64 + y * 8 + x] == colours[(x + y) % 4][c] / 255) }
            }
        }
    }

    @Test(arguments: ["grey_baseline.jpg", "grey_progressive.jpg", "colour_baseline.jpg", "colour_progressive.jpg"])
    func jpegBaselineAndProgressive(name: String) throws {
        let image = try ImageFile.decode(path: imageFixture(name))
        let colour = name.hasPrefix("colour")
        #expect((image.width, image.height, image.channels, image.bits) == (33, 21, colour ? 3 : 1, 8))
        let base = plane(33, 21, scale: 1) { x, y in 40 + 4 * x + 3 * y }
        let green = plane(33, 21, scale: 1) { x, y in 220 - 3 * (40 + 4 * x + 3 * y) / 4 }
        let blue = plane(33, 21, scale: 1) { x, y in 60 + (40 + 4 * x + 3 * y) / 2 }
        let expected = colour ? base + green + blue : base
        var total: Float = 0
        for (value, level) in zip(image.pixels, expected) { total += abs(value * 255 - level) }
        let error = total / Float(expected.count)
        #expect(error < 3, "mean error \(error) levels")
    }

    @Test(arguments: [("truncated.png", "corrupt or truncated PNG"), ("truncated.jpg", "not a readable JPEG"),
                      ("truncated_scan.jpg", "corrupt or truncated JPEG"),
                      ("empty.png", "empty file"), ("notes.txt", "not a PNG, JPEG or DICOM image")])
    func badFilesAreErrorsNamingTheFile(name: String, reason: String) throws {
        let error = #expect(throws: ImageFileError.self) { try ImageFile.decode(path: imageFixture(name)) }
        #expect(error?.path == imageFixture(name) && error?.missingLibrary == false)
        #expect(error?.reason.contains(reason) == true, "\(String(describing: error))")
    }

    @Test func resizingAveragesEverySourcePixelAndConvertsChannels() {
        // A 4×4 checkerboard halved is uniform grey: every output pixel averages its 2×2 block.
        let board = DecodedImage(width: 4, height: 4, channels: 1, pixels: (0 ..< 16).map { Float(($0 % 4 + $0 / 4) % 2) })
        let half = board.resampled(height: 2, width: 2, channels: 1)
        #expect(half.pixels.allSatisfy { abs($0 - 0.5) < 0.13 }, "\(half.pixels)")
        // A constant image stays constant at any size; enlarging keeps the range.
        let flat = DecodedImage(width: 5, height: 3, channels: 1, pixels: Array(repeating: 0.25, count: 15))
        #expect(flat.resampled(height: 7, width: 11, channels: 1).pixels.allSatisfy { abs($0 - 0.25) < 1e-6 })
        #expect(flat.resampled(height: 2, width: 2, channels: 3).pixels.count == 12)
        // RGB to grey by BT.601 luma; grey to RGB by repetition.
        let red = DecodedImage(width: 1, height: 1, channels: 3, pixels: [1, 0, 0])
        #expect(abs(red.resampled(height: 1, width: 1, channels: 1).pixels[0] - 0.299) < 1e-6)
        #expect(DecodedImage(width: 1, height: 1, channels: 1, pixels: [0.5]).resampled(height: 1, width: 1, channels: 3).pixels == [0.5, 0.5, 0.5])
    }
}

/// DICOM files decoded by DCMTK through Scalpel's plugin: every common transfer syntax, rescale,
/// windowing, both monochrome polarities, colour, and a truncated file.
struct DICOMFileTests {
    @Test func everyTransferSyntaxDecodesToTheSamePixels() throws {
        guard dicomAvailable() else { return }
        let reference = try ImageFile.decode(path: dicomFixture("MR_small.dcm"))
        #expect((reference.width, reference.height, reference.channels) == (64, 64, 1))
        #expect(reference.bits == 16 && Set(reference.pixels).count > 100)
        // Implicit VR, RLE, JPEG lossless and JPEG-LS lossless of the same image: the same pixels.
        for name in ["MR_small_implicit.dcm", "MR_small_RLE.dcm", "MR_small_jpeg_lossless.dcm", "MR_small_jpeg_ls_lossless.dcm"] {
            let image = try ImageFile.decode(path: dicomFixture(name))
            #expect(image.pixels == reference.pixels, "\(name)")
        }
        // Deflated explicit VR little endian; CT with rescale slope and intercept.
        let deflated = try ImageFile.decode(path: dicomFixture("image_dfl.dcm"))
        #expect(deflated.width > 0 && Set(deflated.pixels).count > 10)
        let ct = try ImageFile.decode(path: dicomFixture("CT_small.dcm"))
        #expect((ct.width, ct.height) == (128, 128))
        // JPEG baseline, grey (8-bit, lossy) and RGB.
        let plain8 = try ImageFile.decode(path: dicomFixture("mono2_8bit.dcm"))
        let jpeg8 = try ImageFile.decode(path: dicomFixture("mono2_8bit_jpeg_baseline.dcm"))
        #expect(zip(plain8.pixels, jpeg8.pixels).map { abs($0 - $1) }.max()! < 0.05)
        let rgb = try ImageFile.decode(path: dicomFixture("SC_rgb_jpeg_dcmtk.dcm"))
        #expect(rgb.channels == 3 && rgb.pixels.count == 3 * rgb.width * rgb.height)
    }

    @Test func rescaleWindowAndPolarity() throws {
        guard dicomAvailable() else { return }
        // Raw ramp 100x + 7y, slope 2, intercept −100: modality values 200x + 14y − 100; the file's
        // window (centre 700, width 800) maps 300…1100 onto 0…1.
        let mono2 = try ImageFile.decode(path: dicomFixture("mono2_rescale_window.dcm"))
        #expect((mono2.width, mono2.height) == (10, 6))
        for y in 0 ..< 6 {
            for x in 0 ..< 10 {
                let value = Double(200 * x + 14 * y - 100)
                let expected = min(max((value - 699.5) / 799 + 0.5, 0), 1)
                #expect(abs(Double(mono2.pixels[y * 10 + x]) - expected) < 0.002, "(\(x), \(y))")
            }
        }
        // MONOCHROME1 is shown inverted: the same data, 1 − value.
        let mono1 = try ImageFile.decode(path: dicomFixture("mono1_rescale_window.dcm"))
        #expect(zip(mono1.pixels, mono2.pixels).allSatisfy { abs($0 + $1 - 1) < 0.002 })
        // A window given overrides the file's: centre 300, width 200 maps 200…400.
        let narrow = try ImageFile.decode(path: dicomFixture("mono2_rescale_window.dcm"), window: DicomWindow(center: 300, width: 200))
        #expect(narrow.pixels[2] > 0.45 && narrow.pixels[2] < 0.55 && narrow.pixels[1] == 0 && narrow.pixels[3] == 1)
        // No window in the file: its minimum to maximum.
        let plain = try ImageFile.decode(path: dicomFixture("mono2_plain.dcm"))
        #expect(plain.pixels.min() == 0 && plain.pixels.max() == 1)
    }

    @Test func aTruncatedFileIsAnErrorThatNamesOnlyTheFile() throws {
        guard dicomAvailable() else { return }
        let error = #expect(throws: ImageFileError.self) { try ImageFile.decode(path: dicomFixture("MR_truncated.dcm")) }
        #expect(error?.path == dicomFixture("MR_truncated.dcm") && error?.missingLibrary == false)
        let patient = #expect(throws: ImageFileError.self) {
            try ImageFile.decode(path: dicomFixture("mono2_rescale_window.dcm"), window: DicomWindow(center: 0, width: 0))
        }
        #expect(patient.map { !$0.description.contains("SCALPEL-PATIENT") && !$0.description.contains("Doe") } == true)
    }
}

/// A folder of mixed files becomes one geometry: the most common size, RGB when any image is
/// colour, every class's files found and sorted, hidden files passed over.
struct ImageCollectionTests {
    @Test func aMixedFolderBecomesOneGeometry() throws {
        let root = FileManager.default.temporaryDirectory.appending(path: "scalpel-mixed-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let files = ["b/1.png": "grey8.png", "b/2.png": "grey16.png", "a/3.jpg": "colour_progressive.jpg", "a/4.png": "rgba.png",
                     "a/5.jpg": "grey_baseline.jpg", "a/.hidden": "notes.txt"]
        for (target, fixture) in files {
            try FileManager.default.createDirectory(at: root.appending(path: target).deletingLastPathComponent(), withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: imageFixture(fixture), toPath: root.appending(path: target).path)
        }
        let collection = try ImageCollection.open(root.path)
        #expect(collection.classNames == ["a", "b"] && collection.items.count == 5 && !collection.hasFixedSplit && collection.grouping == nil)
        #expect(collection.items.map { URL(fileURLWithPath: $0.path).lastPathComponent } == ["3.jpg", "4.png", "5.jpg", "1.png", "2.png"])
        let loaded = try LoadedImages.load(collection.items, geometry: .init(), skipBadImages: false)
        // Two images are 33×21 (the JPEGs), one each of the other sizes: the JPEGs' size wins; one is colour, so RGB.
        #expect((loaded.height, loaded.width, loaded.channels, loaded.resizedCount) == (21, 33, 3, 3))
        #expect(loaded.values.count == 5 * 3 * 21 * 33 && loaded.values.allSatisfy { $0 >= 0 && $0 <= 1 })
        // A given size and grey.
        let small = try LoadedImages.load(collection.items, geometry: .init(height: 8, width: 12, channels: 1), skipBadImages: false)
        #expect((small.height, small.width, small.channels, small.values.count) == (8, 12, 1, 5 * 96))
        // A class order that does not match the folders is an error naming the folder's classes.
        #expect { try ImageCollection.open(root.path, classes: ["a", "c"]) } throws: { "\($0)".contains("its classes are a, b; expected a, c") }
    }
}
