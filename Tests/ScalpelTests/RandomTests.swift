import Foundation
import Scalpel
@testable import ScalpelConformance
import ScalpelCPU
import ScalpelCore
import ScalpelNN
import ScalpelOpenCL
import ScalpelTensor
import ScalpelTestSupport
import Testing

/// The counter-based generator and what draws from it: Philox-4x32-10 against the published
/// answers on the host and every OpenCL device, dropout masks identical on every backend and
/// resumed exactly, augmentation on the backend equal to the host's transforms.
@Suite struct RandomTests {
    let cpu = TensorBackends.cpu

    @Test func philoxGivesRandom123sKnownAnswers() {
        // Random123's kat_vectors for philox4x32 with 10 rounds: counter, key, result.
        #expect(Philox.block(counter: SIMD4(0, 0, 0, 0), key: SIMD2(0, 0)) == SIMD4(0x6627_E8D5, 0xE169_C58D, 0xBC57_AC4C, 0x9B00_DBD8))
        #expect(Philox.block(counter: SIMD4(repeating: 0xFFFF_FFFF), key: SIMD2(repeating: 0xFFFF_FFFF))
            == SIMD4(0x408F_276D, 0x41C8_3B0E, 0xA20B_C7C6, 0x6D54_51FD))
        #expect(Philox.block(counter: SIMD4(0x243F_6A88, 0x85A3_08D3, 0x1319_8A2E, 0x0370_7344), key: SIMD2(0xA409_3822, 0x299F_31D0))
            == SIMD4(0xD16C_FE09, 0x94FD_CCEB, 0x5001_E420, 0x2412_6EA1))
        // The self-test's table holds the same answers.
        for answer in KernelCases.philoxKnownAnswers {
            #expect(Philox.block(counter: answer.counter, key: answer.key) == answer.words, "\(answer)")
        }
    }

    @Test func everyOpenCLDeviceComputesTheHostsBits() throws {
        guard openCLAvailable() else { return }
        let counters = KernelCases.philoxKnownAnswers.map(\.counter) + (0 ..< 100).map { SIMD4(UInt32($0), 0xFFFF_FFFF, 7, UInt32($0) << 16) }
        let keys = KernelCases.philoxKnownAnswers.map(\.key) + (0 ..< 100).map { SIMD2(UInt32($0) &* 2_654_435_761, 0xDEAD_BEEF) }
        for name in TensorBackends.names where name != "cpu" {
            let device = try #require(try TensorBackends.backend(name) as? OpenCLBackend)
            let words = try device.philoxBlocks(counters: counters, keys: keys)
            #expect(words == zip(counters, keys).map { Philox.block(counter: $0, key: $1) }, "\(name)")
            #expect(Array(words.prefix(3)) == KernelCases.philoxKnownAnswers.map(\.words), "\(name)")
        }
    }

    @Test func uniformFloatsTakeTheTop24Bits() {
        #expect(Philox.uniform(0) == 0 && Philox.uniform(0xFF) == 0)
        #expect(Philox.uniform(0xFFFF_FFFF) == 1 - 0x1p-24)
        #expect(Philox.uniform(0x8000_0000) == 0.5)
        // The element stream: element n is word n mod 4 of block n / 4.
        let block = Philox.block(counter: Philox.counter(block: 5, stream: .dropout), key: Philox.key(9))
        #expect((20 ..< 24).map { Philox.bits(seed: 9, stream: .dropout, element: UInt64($0)) } == [block[0], block[1], block[2], block[3]])
    }

    /// The mask of `Backend.dropout` on ones, scaled back to 0/1.
    func mask(on backend: any Backend, count: Int, keep: Float, seed: UInt64, offset: UInt64) throws -> [Float] {
        let x = try backend.makeBuffer([Float](repeating: 1, count: count))
        let y = try backend.makeBuffer(count: count)
        try backend.dropout(x: x, y: y, count: count, keep: keep, scale: 1, seed: seed, offset: offset)
        return try backend.read(y)
    }

    @Test func theMaskIsElementOffsetPlusIOfTheStream() throws {
        let seed: UInt64 = 0x1234_5678_9ABC
        let whole = try mask(on: cpu, count: 40, keep: 0.5, seed: seed, offset: 0)
        #expect(whole == (0 ..< 40).map { Philox.uniform(Philox.bits(seed: seed, stream: .dropout, element: UInt64($0))) < 0.5 ? 1 : 0 })
        // A draw from an offset inside a block continues the same stream.
        #expect(try mask(on: cpu, count: 33, keep: 0.5, seed: seed, offset: 7) == Array(whole[7 ..< 40]))
        #expect(try mask(on: cpu, count: 40, keep: 0.5, seed: seed &+ 1, offset: 0) != whole, "another seed, another mask")
        let many = try mask(on: cpu, count: 20000, keep: 0.7, seed: seed, offset: 0)
        #expect(abs(many.reduce(0, +) / 20000 - 0.7) < 0.02)
    }

    @Test func theFastLoopsDrawTheReferenceMasks() throws {
        // The SIMD loop takes 32 elements from a block boundary; the edges go one by one, and
        // large tensors are split over threads at arbitrary elements.
        let reference = CPUBackend(kernels: .reference)
        for (count, offset) in [(31, 0), (100_003, 5), (70_000, (1 << 34) - 1)] as [(Int, UInt64)] {
            #expect(try mask(on: cpu, count: count, keep: 0.35, seed: 0xABCD, offset: offset)
                == mask(on: reference, count: count, keep: 0.35, seed: 0xABCD, offset: offset), "\(count) at \(offset)")
        }
    }

    @Test func openCLDrawsTheCPUsMasks() throws {
        guard openCLAvailable() else { return }
        for name in TensorBackends.names where name != "cpu" {
            let device = try TensorBackends.backend(name)
            for (count, offset) in [(1, 0), (4099, 3), (1000, (1 << 34) - 2)] as [(Int, UInt64)] {
                #expect(try mask(on: device, count: count, keep: 0.9, seed: 77, offset: offset)
                    == mask(on: cpu, count: count, keep: 0.9, seed: 77, offset: offset), "\(name), \(count) at \(offset)")
            }
        }
    }

    @Test func theGradientIsTheSameMaskAndNothingIsStored() throws {
        let x = try Tensor((0 ..< 64).map { Float($0) / 8 - 3 }, shape: [8, 8], on: cpu, requiresGrad: true)
        let y = try x.dropout(keep: 0.6, seed: 3, offset: 12)
        try y.sum().backward()
        let (values, grads, input) = (try y.array(), try #require(x.grad).array(), try x.array())
        for i in 0 ..< 64 {
            let kept = Philox.uniform(Philox.bits(seed: 3, stream: .dropout, element: UInt64(12 + i))) < 0.6
            #expect(values[i] == (kept ? input[i] * (1 / Float(0.6)) : 0))
            #expect(grads[i] == (kept ? 1 / Float(0.6) : 0))
        }
    }

    @Test func aDropoutLayerAdvancesByWholeBlocksAndResumesFromItsState() throws {
        let x = try Tensor.ones([3, 7], on: cpu)
        let layer = Dropout(0.5, seed: 41)
        let first = try layer(x).array()
        #expect(layer.generatorState == 24, "21 elements round up to 6 blocks of 4")
        let second = try layer(x).array()
        #expect(first != second)
        // A fresh layer (a resumed run's) given the saved state draws the second mask again.
        let resumed = Dropout(0.5, seed: 41)
        resumed.generatorState = 24
        #expect(try resumed(x).array() == second)
        resumed.eval()
        #expect(try resumed(x).array() == [Float](repeating: 1, count: 21))
        #expect(resumed.generatorState == 48, "evaluation draws nothing")
    }

    let parameters = AugmentationParameters(channels: 3, height: 6, width: 5, maxDegrees: 20, maxShift: 2, flip: true, fill: -0.5)

    @Test func augmentationOnTheBackendAppliesTheHostsTransforms() throws {
        var random = SeededRandom(seed: 8)
        let images = random.uniformArray(4 * parameters.imageSize)
        let rows: [Float] = [2, 2, 0, 3, 1]
        let out = try cpu.makeBuffer(count: rows.count * parameters.imageSize)
        try cpu.augmentImages(parameters, images: try cpu.makeBuffer(images), imageCount: 4, index: try cpu.makeBuffer(rows), output: out,
                              batch: rows.count, seed: 5, offset: 40)
        let got = try cpu.read(out)
        let augmentation = ImageAugmentation(maxDegrees: 20, maxShift: 2, flip: true)
        var transforms: [ImageAugmentation.Transform] = []
        for (b, row) in rows.enumerated() {
            let t = augmentation.transform(seed: 5, sample: UInt64(40 + b))
            transforms.append(t)
            var want = [Float](repeating: 0, count: parameters.imageSize)
            let size = parameters.imageSize
            ImageAugmentation.apply(t, image: images[Int(row) * size ..< (Int(row) + 1) * size], channels: 3, height: 6, width: 5, fill: -0.5,
                                    into: &want, at: 0)
            #expect(Array(got[b * size ..< (b + 1) * size]) == want, "sample \(b)")
        }
        // The draws cover the ranges: some flipped, some not; angles and shifts within bounds.
        let many = (0 ..< 200).map { augmentation.transform(seed: 5, sample: UInt64($0)) }
        #expect(many.contains { $0.flip } && many.contains { !$0.flip })
        #expect(many.allSatisfy { abs($0.angle) <= 20 * .pi / 180 && abs($0.dx) <= 2 && abs($0.dy) <= 2 })
        #expect(Set(transforms.map(\.angle)).count == rows.count, "each sample its own transform, rows repeated or not")
    }

    @Test func openCLAugmentsAsTheCPUDoes() throws {
        guard openCLAvailable() else { return }
        var random = SeededRandom(seed: 9)
        let images = random.uniformArray(7 * parameters.imageSize)
        let rows: [Float] = (0 ..< 16).map { Float(($0 * 5) % 7) }
        func run(_ backend: any Backend) throws -> [Float] {
            let out = try backend.makeBuffer(count: rows.count * parameters.imageSize)
            try backend.augmentImages(parameters, images: try backend.makeBuffer(images), imageCount: 7, index: try backend.makeBuffer(rows),
                                      output: out, batch: rows.count, seed: 1 << 40, offset: 3)
            return try backend.read(out)
        }
        let want = try run(cpu)
        for name in TensorBackends.names where name != "cpu" {
            let got = try run(try TensorBackends.backend(name))
            let worst = zip(got, want).map { abs($0 - $1) }.max() ?? .infinity
            #expect(worst < 1e-4, "\(name): largest difference \(worst)")
        }
    }
}
