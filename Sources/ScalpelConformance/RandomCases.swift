import ScalpelCore
import ScalpelOpenCL
import ScalpelTensor

extension KernelCases {
    /// Random123's known-answer vectors for Philox-4x32-10 (counter, key, the four words).
    public static let philoxKnownAnswers: [(counter: SIMD4<UInt32>, key: SIMD2<UInt32>, words: SIMD4<UInt32>)] = [
        (SIMD4(0, 0, 0, 0), SIMD2(0, 0), SIMD4(0x6627_E8D5, 0xE169_C58D, 0xBC57_AC4C, 0x9B00_DBD8)),
        (SIMD4(repeating: 0xFFFF_FFFF), SIMD2(repeating: 0xFFFF_FFFF), SIMD4(0x408F_276D, 0x41C8_3B0E, 0xA20B_C7C6, 0x6D54_51FD)),
        (SIMD4(0x243F_6A88, 0x85A3_08D3, 0x1319_8A2E, 0x0370_7344), SIMD2(0xA409_3822, 0x299F_31D0),
         SIMD4(0xD16C_FE09, 0x94FD_CCEB, 0x5001_E420, 0x2412_6EA1)),
    ]

    /// Philox on the device against the published answers and the host's bits, dropout (a
    /// stream offset inside a Philox block, forward and gradient) and augmentation (rows
    /// repeated, every transform part at once) against the CPU reference.
    public static let random: [KernelCase] = [
        .buffers(.random, "philox_words", shape: "3 known answers, 61 counters", kernels: ["philox_words"], quick: true, tolerance: 0) { backend in
            // Counters and keys that walk every word and carry across 32 bits.
            let extra = (0 ..< 61).map { i -> (SIMD4<UInt32>, SIMD2<UInt32>) in
                let n = UInt64(i) &* 0x9E37_79B9_7F4A_7C15
                return (SIMD4(UInt32(truncatingIfNeeded: n), UInt32(truncatingIfNeeded: n >> 32), UInt32(i), UInt32(i * i)),
                        SIMD2(UInt32(truncatingIfNeeded: n >> 7), UInt32(i) << 20))
            }
            let counters = philoxKnownAnswers.map(\.counter) + extra.map(\.0), keys = philoxKnownAnswers.map(\.key) + extra.map(\.1)
            let words: [SIMD4<UInt32>]
            if let cl = backend as? OpenCLBackend {
                words = try cl.philoxBlocks(counters: counters, keys: keys)
            } else {
                words = zip(counters, keys).map { Philox.block(counter: $0, key: $1) }
            }
            // The device must also give the published words, not only agree with the host.
            let known = zip(words, philoxKnownAnswers).map { $0 == $1.words ? 1.0 : 0.0 }
            // Words as 16-bit halves, so that an exact comparison reads every bit.
            let halves = words.flatMap { w in (0 ..< 4).flatMap { [Double(w[$0] & 0xFFFF), Double(w[$0] >> 16)] } }
            return [KernelOutput("known answers", known), KernelOutput("words (16-bit halves)", halves)]
        },
        .tensor(.random, "dropout keep 0.7, offset 6", [[7, 33]], kernels: ["dropout"], quick: true) { x in
            try x[0].dropout(keep: 0.7, seed: 0x5EED_0000_0001, offset: 6)
        },
        .buffers(.random, "dropout in place", shape: "1021 values from element 2^34 − 3", kernels: ["dropout"]) { backend in
            var random = SeededRandom(seed: 17)
            let x = try backend.makeBuffer(random.uniformArray(1021))
            // The block index crosses into its high word, and y is x.
            try backend.dropout(x: x, y: x, count: 1021, keep: 0.25, scale: 4, seed: 0xFFFF_FFFF_0000_0007, offset: (1 << 34) - 3)
            return [KernelOutput("dropped", try doubles(x, on: backend))]
        },
        .buffers(.random, "augment_images", shape: "6 of 5×2×9×11, ±30°, ±3 px, flip", kernels: ["augment_images"], quick: true,
                 tolerance: 1e-4) { backend in
            var random = SeededRandom(seed: 23)
            let parameters = AugmentationParameters(channels: 2, height: 9, width: 11, maxDegrees: 30, maxShift: 3, flip: true, fill: 0.25)
            let images = try backend.makeBuffer(random.uniformArray(5 * parameters.imageSize))
            let index = try backend.makeBuffer([3, 0, 3, 4, 1, 2])
            let out = try backend.makeBuffer(count: 6 * parameters.imageSize)
            try backend.augmentImages(parameters, images: images, imageCount: 5, index: index, output: out, batch: 6, seed: 99, offset: 17)
            return [KernelOutput("augmented", try doubles(out, on: backend))]
        },
    ]
}
