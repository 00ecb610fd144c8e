import Foundation
@testable import Scalpel
import ScalpelCore
import ScalpelIO
import ScalpelTensor
import ScalpelTestSupport
import Testing

/// The training data path: samples resident on the backend, batches gathered (and augmented)
/// there, nothing uploaded and no random number drawn on the host in a steady-state step; a
/// run with dropout resumes to the weights of an uninterrupted one.
@Suite struct DeviceDataTests {
    let cpu = TensorBackends.cpu

    func dataset(on backend: any Backend, limit: Int?? = nil) throws -> DeviceDataset {
        var random = SeededRandom(seed: 3)
        return try DeviceDataset(values: random.uniformArray(9 * 2 * 5 * 4), labels: (0 ..< 9).map { Int32($0 % 3) }, sampleShape: [2, 5, 4],
                                 on: backend, limit: limit)
    }

    @Test func residentAndHostBatchesAreTheSame() throws {
        let resident = try dataset(on: cpu), host = try dataset(on: cpu, limit: .some(64))
        #expect(resident.isResident && resident.note == nil)
        #expect(!host.isResident && (host.note ?? "").contains("gathered on the host"))
        let order = [4, 8, 0, 0, 7, 3, 2, 1, 5]
        try resident.beginEpoch(order)
        try host.beginEpoch(order)
        for range in [0 ..< 4, 4 ..< 8, 8 ..< 9] {
            let (a, b) = (try resident.index(range), try host.index(range))
            #expect(try a.array() == b.array() && (try a.array()) == order[range].map(Float.init))
            #expect(try resident.samples(index: a, rows: resident.rows(range)).array() == host.samples(index: b, rows: host.rows(range)).array())
            let augmentation = ImageAugmentation()
            #expect(try resident.augmented(index: a, rows: resident.rows(range), augmentation: augmentation, seed: 4, offset: 10).array()
                == host.augmented(index: b, rows: host.rows(range), augmentation: augmentation, seed: 4, offset: 10).array())
            #expect(try resident.labels.indexSelect(axis: 0, a).array() == order[range].map { Float($0 % 3) })
        }
    }

    @Test func aDeviceGathersAndAugmentsAsTheCPUDoes() throws {
        guard openCLAvailable() else { return }
        let reference = try dataset(on: cpu)
        let order = [3, 1, 4, 1, 5, 2, 6]
        try reference.beginEpoch(order)
        for name in TensorBackends.names where name != "cpu" {
            let device = try dataset(on: try TensorBackends.backend(name))
            #expect(device.isResident)
            try device.beginEpoch(order)
            let range = 1 ..< 6
            let (a, b) = (try device.index(range), try reference.index(range))
            #expect(try device.samples(index: a, rows: device.rows(range)).array() == reference.samples(index: b, rows: reference.rows(range)).array())
            let got = try device.augmented(index: a, rows: device.rows(range), augmentation: ImageAugmentation(), seed: 12, offset: 1).array()
            let want = try reference.augmented(index: b, rows: reference.rows(range), augmentation: ImageAugmentation(), seed: 12, offset: 1).array()
            #expect((zip(got, want).map { abs($0 - $1) }.max() ?? 1) < 1e-4, "\(name)")
        }
    }

    @Test func aWriteThatDoesNotWaitKeepsItsOwnCopyOfTheValues() throws {
        var backends: [any Backend] = [cpu]
        if openCLAvailable() { backends += try TensorBackends.names.filter { $0 != "cpu" }.map(TensorBackends.backend) }
        for backend in backends {
            let buffer = try backend.makeBuffer([Float](repeating: -1, count: 20003))
            var values = (0 ..< 20000).map(Float.init)
            try backend.writeWithoutWaiting(values, to: buffer, at: 3)
            // The caller's array may change or go at once; the device still gets what was given.
            values = [Float](repeating: 7, count: 20000)
            values = []
            let read = try backend.read(buffer)
            #expect(Array(read.prefix(3)) == [-1, -1, -1] && Array(read.dropFirst(3)) == (0 ..< 20000).map(Float.init), "\(backend.id)")
            #expect(values.isEmpty)
            // Out of bounds is refused before anything is queued.
            #expect(throws: ScalpelError.self) { try backend.writeWithoutWaiting([1, 2], to: buffer, at: 20002) }
        }
    }

    func weights(_ url: URL) throws -> [String: [Float]] {
        let file = try SafeTensorsFile.read(from: url)
        return try Dictionary(uniqueKeysWithValues: file.tensors.map { ($0.key, try $0.value.floats) })
    }

    /// Train 3 epochs straight, or 1, save, resume and train 2 more: the same weights (and
    /// optimizer state) to the bit, dropout masks included.
    @Test func aResumedRunWithDropoutEndsWithTheUninterruptedRunsWeights() throws {
        let folder = try makeTemporaryDirectory("scalpel-dropout-resume")
        defer { try? FileManager.default.removeItem(at: folder) }
        let common = ["train", "--data", dataPath("wdbc.csv"), "--model", "mlp", "--dropout", "0.3", "--batch-size", "16", "--device", "cpu",
                      "--seed", "11"]
        let full = folder.appending(path: "full"), part = folder.appending(path: "part")
        #expect(try runScalpel(common + ["--epochs", "3", "--out", full.path]).status == 0)
        #expect(try runScalpel(common + ["--epochs", "1", "--out", part.path]).status == 0)
        let resumed = try runScalpel(common + ["--epochs", "3", "--out", part.path, "--resume", part.appending(path: "last.safetensors").path])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let (a, b) = (try weights(full.appending(path: "last.safetensors")), try weights(part.appending(path: "last.safetensors")))
        #expect(!a.isEmpty && a == b)
        // Without the dropout state the masks would repeat the first epoch's: another result.
        let plain = folder.appending(path: "plain")
        #expect(try runScalpel(common.map { $0 == "0.3" ? "0" : $0 } + ["--epochs", "3", "--out", plain.path]).status == 0)
        #expect(try weights(plain.appending(path: "last.safetensors")) != a, "dropout changes the run")
    }

    /// `bench step`'s per-step counts for `model` on `device`.
    func perStep(_ model: String, device: String, extra: [String] = []) throws -> [String: Any] {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let json = dir.appending(path: "step.json").path
        let result = try runScalpel(["bench", "step", "--model", model, "--batch-size", "4", "--device", device, "--samples", "1", "--json", json] + extra)
        #expect(result.status == 0, "\(result.stderr)")
        let all = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [[String: Any]])
        return try #require(all.first?["perStep"] as? [String: Any])
    }

    func transfers(_ step: [String: Any], _ direction: String) -> (count: Double, blocking: Double) {
        let t = step[direction] as? [String: Any] ?? [:]
        return (t["count"] as? Double ?? -1, t["blocking"] as? Double ?? -1)
    }

    @Test func aSteadyStepUploadsNothingAndDrawsNoRandomNumberOnTheHost() throws {
        var runs = [("transformer", "cpu", [String]()), ("cnn", "cpu", ["--augment"])]
        if openCLAvailable() { runs += [("transformer", "cl", []), ("cnn", "cl", ["--augment"])] }
        for (model, device, extra) in runs {
            let step = try perStep(model, device: device, extra: extra)
            #expect(transfers(step, "hostToDevice").count == 0, "\(model) on \(device): \(step)")
            #expect(transfers(step, "deviceToHost").blocking == 0, "\(model) on \(device): \(step)")
            #expect(step["hostRandomNumbers"] as? Double == 0, "\(model) on \(device): \(step)")
        }
    }
}
