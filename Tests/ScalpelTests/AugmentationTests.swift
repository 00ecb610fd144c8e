import Foundation
import Scalpel
import ScalpelCore
import ScalpelTestSupport
import Testing

/// Image augmentation: each transform maps pixels as documented, draws repeat with the seed,
/// and training with --augment runs and resumes exactly.
@Suite struct AugmentationTests {
    // A 2-channel 4×4 image whose every pixel is distinct.
    let image: [Float] = (0 ..< 32).map(Float.init)

    func apply(_ t: ImageAugmentation.Transform, fill: Float = -1) -> [Float] {
        var out = [Float](repeating: .nan, count: 32)
        ImageAugmentation.apply(t, image: image[...], channels: 2, height: 4, width: 4, fill: fill, into: &out, at: 0)
        return out
    }

    func pixel(_ values: [Float], _ c: Int, _ y: Int, _ x: Int) -> Float { values[c * 16 + y * 4 + x] }

    @Test func theIdentityLeavesTheImageAlone() {
        #expect(apply(.init(flip: false, angle: 0, dx: 0, dy: 0)) == image)
    }

    @Test func aFlipMirrorsTheColumnsOfEveryChannel() {
        let out = apply(.init(flip: true, angle: 0, dx: 0, dy: 0))
        for c in 0 ..< 2 { for y in 0 ..< 4 { for x in 0 ..< 4 { #expect(pixel(out, c, y, x) == pixel(image, c, y, 3 - x)) } } }
    }

    @Test func aShiftMovesPixelsAndFillsFromOutside() {
        let out = apply(.init(flip: false, angle: 0, dx: 1, dy: -1))
        for c in 0 ..< 2 {
            for y in 0 ..< 4 {
                for x in 0 ..< 4 {
                    let (sx, sy) = (x - 1, y + 1)
                    let want: Float = sx >= 0 && sy < 4 ? pixel(image, c, sy, sx) : -1
                    #expect(pixel(out, c, y, x) == want, "(\(c), \(y), \(x))")
                }
            }
        }
        // A half-pixel shift interpolates between neighbours.
        let half = apply(.init(flip: false, angle: 0, dx: 0.5, dy: 0))
        #expect(abs(pixel(half, 0, 2, 2) - (pixel(image, 0, 2, 1) + pixel(image, 0, 2, 2)) / 2) < 1e-5)
    }

    @Test func aQuarterTurnMapsRowsToColumns() {
        let out = apply(.init(flip: false, angle: .pi / 2, dx: 0, dy: 0))
        for y in 0 ..< 4 { for x in 0 ..< 4 { #expect(abs(pixel(out, 1, y, x) - pixel(image, 1, 3 - x, y)) < 1e-4, "(\(y), \(x))") } }
    }

    @Test func drawsRepeatWithTheSeedAndStayInRange() {
        let augmentation = ImageAugmentation()
        let first = (0 ..< 50).map { augmentation.transform(seed: 5, sample: UInt64($0)) }
        #expect(first == (0 ..< 50).map { augmentation.transform(seed: 5, sample: UInt64($0)) })
        #expect(first != (0 ..< 50).map { augmentation.transform(seed: 6, sample: UInt64($0)) })
        #expect(first.allSatisfy { abs($0.angle) <= 10 * .pi / 180 + 1e-6 && abs($0.dx) <= 2 && abs($0.dy) <= 2 })
        #expect(first.contains(where: \.flip) && first.contains { !$0.flip })
    }

    @Test func trainingWithAugmentationRunsAndResumesExactly() throws {
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appending(path: "ScalpelDataTests/Fixtures/medmnist_rgb.npz").path
        let (full, part) = (try makeTemporaryDirectory("scalpel-aug"), try makeTemporaryDirectory("scalpel-aug"))
        defer {
            try? FileManager.default.removeItem(at: full)
            try? FileManager.default.removeItem(at: part)
        }
        let common = ["train", "--data", fixture, "--model", "cnn", "--augment", "--batch-size", "4", "--device", "cpu", "--seed", "2"]
        #expect(try runScalpel(common + ["--epochs", "4", "--out", full.path]).status == 0)
        #expect(try runScalpel(common + ["--epochs", "2", "--out", part.path]).status == 0)
        let resumed = try runScalpel(common + ["--epochs", "4", "--out", part.path, "--resume", part.appending(path: "last.safetensors").path])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        func history(_ folder: URL) throws -> [Double] {
            let report = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appending(path: "metrics.json"))) as! [String: Any]
            return (report["history"] as! [[String: Any]]).map { $0["trainLoss"] as! Double }
        }
        #expect(try history(full) == history(part))
        let plain = try makeTemporaryDirectory("scalpel-aug")
        defer { try? FileManager.default.removeItem(at: plain) }
        #expect(try runScalpel(Array(common.filter { $0 != "--augment" }) + ["--epochs", "4", "--out", plain.path]).status == 0)
        #expect(try history(plain) != history(full), "augmentation changes what the model sees")
        let table = try runScalpel(["train", "--data", dataPath("wdbc.csv"), "--augment", "--device", "cpu", "--out", plain.path])
        #expect(table.status != 0 && table.stderr.contains("--augment applies to images"), "\(table.stderr)")
    }
}
