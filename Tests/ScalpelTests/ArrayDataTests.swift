import Foundation
import ScalpelCore
import ScalpelTestSupport
import Testing

/// `scalpel train --data X.npy --labels y.npy`: arrays prepared in Python train as tables,
/// images (channels first or last, uint8 or float) or signals, and a saved model scores new
/// arrays; bad arrays are clear errors.
@Suite struct ArrayDataTests {
    /// An `.npy` (version 1.0, little-endian, C order) of `values` with `shape`.
    static func npy(_ values: [Float], shape: [Int], dtype: String = "<f4") -> Data {
        let dims = shape.map(String.init).joined(separator: ", ") + (shape.count == 1 ? "," : "")
        var header = "{'descr': '\(dtype)', 'fortran_order': False, 'shape': (\(dims)), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        data.append(contentsOf: [UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)])
        data.append(contentsOf: Array(header.utf8))
        switch dtype {
        case "|u1": data.append(contentsOf: values.map { UInt8(min(max($0, 0), 255)) })
        case "<i8": for v in values { withUnsafeBytes(of: Int64(v).littleEndian) { data.append(contentsOf: $0) } }
        default: for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
        }
        return data
    }

    /// Two classes told apart by the sign of feature 0 (tables) or the brighter half (images).
    static func samples(_ n: Int, perSample: Int, seed: UInt64, image: Bool) -> (values: [Float], labels: [Float]) {
        var random = SeededRandom(seed: seed)
        var values: [Float] = [], labels: [Float] = []
        for i in 0 ..< n {
            let label = Float(i % 2)
            var x = random.uniformArray(perSample, 0, 1).map { $0 * 0.5 }
            if image {
                for p in 0 ..< perSample where (p < perSample / 2) == (label == 1) { x[p] += 0.5 }
                x = x.map { ($0 * 255).rounded() }
            } else {
                x[0] = (label == 1 ? 1 : -1) * (0.5 + x[0])
            }
            values += x
            labels.append(label)
        }
        return (values, labels)
    }

    func json(_ url: URL) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
    }

    @Test func tablesAndImagesTrainFromArraysAndASavedModelScoresNewOnes() throws {
        let folder = try makeTemporaryDirectory("scalpel-npy")
        defer { try? FileManager.default.removeItem(at: folder) }
        // A table of 5 features.
        let table = Self.samples(120, perSample: 5, seed: 1, image: false)
        try Self.npy(table.values, shape: [120, 5]).write(to: folder.appending(path: "x.npy"))
        try Self.npy(table.labels, shape: [120], dtype: "<i8").write(to: folder.appending(path: "y.npy"))
        let run = folder.appending(path: "table")
        let result = try runScalpel(["train", "--data", folder.appending(path: "x.npy").path, "--labels", folder.appending(path: "y.npy").path,
                                     "--epochs", "15", "--device", "cpu", "--out", run.path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("training mlp"), "\(result.stderr)")
        #expect((try json(run.appending(path: "metrics.json"))["test"] as! [String: Any])["accuracy"] as! Double >= 0.9)
        // New rows through the saved model.
        let fresh = Self.samples(40, perSample: 5, seed: 2, image: false)
        try Self.npy(fresh.values, shape: [40, 5]).write(to: folder.appending(path: "x2.npy"))
        try Self.npy(fresh.labels, shape: [40, 1]).write(to: folder.appending(path: "y2.npy"))
        let scored = try runScalpel(["eval", "--checkpoint", run.appending(path: "best.safetensors").path, "--data", folder.appending(path: "x2.npy").path,
                                     "--labels", folder.appending(path: "y2.npy").path, "--device", "cpu", "--out", folder.appending(path: "eval").path])
        #expect(scored.status == 0, "\(scored.stderr)")
        #expect((try json(folder.appending(path: "eval/metrics.json"))["test"] as! [String: Any])["accuracy"] as! Double >= 0.9)
        // A wrong feature count is refused.
        try Self.npy(Array(fresh.values.prefix(40 * 4)), shape: [40, 4]).write(to: folder.appending(path: "x3.npy"))
        let wrong = try runScalpel(["eval", "--checkpoint", run.appending(path: "best.safetensors").path, "--data", folder.appending(path: "x3.npy").path,
                                    "--labels", folder.appending(path: "y2.npy").path, "--device", "cpu", "--out", folder.appending(path: "eval").path])
        #expect(wrong.status == 2 && wrong.stderr.contains("the model takes [5]"), "\(wrong.stderr)")

        // uint8 images, channels last (N, H, W, 1).
        let images = Self.samples(80, perSample: 8 * 8, seed: 3, image: true)
        try Self.npy(images.values, shape: [80, 8, 8, 1], dtype: "|u1").write(to: folder.appending(path: "img.npy"))
        try Self.npy(images.labels, shape: [80], dtype: "<i8").write(to: folder.appending(path: "img_y.npy"))
        let imageRun = folder.appending(path: "images")
        let trained = try runScalpel(["train", "--data", folder.appending(path: "img.npy").path, "--labels", folder.appending(path: "img_y.npy").path,
                                      "--epochs", "6", "--batch-size", "16", "--device", "cpu", "--out", imageRun.path])
        #expect(trained.status == 0, "\(trained.stderr)")
        #expect(trained.stderr.contains("training convnet"), "\(trained.stderr)")
        let notes = try json(imageRun.appending(path: "metrics.json"))["data"] as! [String: String]
        #expect(notes["normalisation"]?.contains("divided by 255") == true, "\(notes)")
    }

    @Test func badArraysAreClearErrors() throws {
        let folder = try makeTemporaryDirectory("scalpel-npy")
        defer { try? FileManager.default.removeItem(at: folder) }
        func write(_ name: String, _ data: Data) throws -> String {
            let url = folder.appending(path: name)
            try data.write(to: url)
            return url.path
        }
        let x = try write("x.npy", Self.npy([1, 2, 3, 4, 5, 6], shape: [3, 2]))
        func train(_ data: String, _ labels: String?) throws -> ProcessResult {
            try runScalpel(["train", "--data", data, "--device", "cpu", "--out", folder.appending(path: "run").path] + (labels.map { ["--labels", $0] } ?? []))
        }
        let cases: [(String, String?, String)] = [
            (x, nil, "needs --labels"),
            (x, try write("short.npy", Self.npy([0, 1], shape: [2])), "labels of shape [2] for 3 samples"),
            (x, try write("frac.npy", Self.npy([0, 1.5, 1], shape: [3])), "element 1: label 1.5"),
            (x, try write("one.npy", Self.npy([1, 1, 1], shape: [3])), "at least two classes"),
            (try write("nan.npy", Self.npy([1, 2, .nan, 4, 5, 6], shape: [3, 2])), try write("y.npy", Self.npy([0, 1, 0], shape: [3])),
             "sample 1, element 0"),
            (try write("cube.npy", Self.npy([Float](repeating: 0, count: 3 * 2 * 2 * 2 * 2), shape: [3, 2, 2, 2, 2])), folder.appending(path: "y.npy").path,
             "neither"),
            (try write("trunc.npy", Self.npy([1, 2, 3, 4, 5, 6], shape: [3, 2]).dropLast(4)), folder.appending(path: "y.npy").path, "trunc.npy"),
        ]
        for (data, labels, expected) in cases {
            let result = try train(data, labels)
            #expect(result.status == 2 && result.stderr.contains(expected), "\(expected): \(result.stderr)")
        }
    }
}
