import Foundation
import Scalpel
import ScalpelBenchmarks
import ScalpelCPU
import ScalpelCore
import ScalpelOpenCL
import ScalpelTestSupport
import Testing

/// How GEMMTuning plans a product per shape: tiles and K slices.
@Suite struct GEMMPlanTests {
    /// A GPU-sized tile table (NVIDIA's entry) on 132 compute units.
    static var gpu: GEMMTuning {
        var tuning = GEMMTuning(variant: .tiled)
        (tuning.tileM, tuning.tileN, tuning.tileK, tuning.wptM, tuning.wptN) = (128, 128, 16, 8, 8)
        return tuning
    }

    /// ResNet-18's first-stage weight gradients (dY·colsᵀ, K the output pixels): a GPU splits
    /// K over its compute units; a CPU device reads them in place, whole (faster than packing and
    /// splitting, measured); a narrower one (M = 32) is packed and split where the device
    /// splits, direct where it never does (Intel's runtime); squares are never split.
    @Test func tallSkinnyWeightGradientsAreSplitOnAGPUAndReadInPlaceOnACPU() {
        let packed = GEMMTuning(variant: .packed)
        for shape in GEMMBenchmark.resnetWeightGradientShapes {
            let p = shape.parameters
            let tiled = Self.gpu.plan(p, variant: .tiled, computeUnits: 132)
            #expect(tiled.smallTile && tiled.splits > 1, "\(shape): \(tiled)")
            // The slices cover K exactly once: every slice non-empty, the last one short.
            #expect(tiled.sliceDepth * (tiled.splits - 1) < p.k && tiled.sliceDepth * tiled.splits >= p.k, "\(shape): \(tiled)")
            let plan = packed.plan(p, variant: .packed, computeUnits: 2)
            #expect(plan.direct && plan.splits == 1, "\(shape): \(plan)")
        }
        let narrow = GEMMParameters(m: 32, n: 288, k: 25088, transB: true)
        let split = packed.plan(narrow, variant: .packed, computeUnits: 2)
        #expect(!split.direct && split.splits > 1 && split.sliceDepth * (split.splits - 1) < narrow.k && split.sliceDepth * split.splits >= narrow.k)
        var whole = packed
        whole.packSplitK = false
        #expect(whole.plan(narrow, variant: .packed, computeUnits: 2).direct)
        let square = GEMMParameters(m: 1024, n: 1024, k: 1024)
        #expect(Self.gpu.plan(square, variant: .tiled, computeUnits: 32) == GEMMTuning.Plan(k: 1024))
        #expect(packed.plan(square, variant: .packed, computeUnits: 2) == GEMMTuning.Plan(k: 1024))
    }

    @Test func smallProductsTakeTheSmallTileAndShortKIsNeverSplit() {
        let p = GEMMParameters(m: 64, n: 64, k: 200)
        let plan = Self.gpu.plan(p, variant: .tiled, computeUnits: 16)
        #expect(plan.smallTile && plan.splits == 1)
        #expect(GEMMTuning(variant: .packed).plan(GEMMParameters(m: 4, n: 4, k: 16), variant: .packed, computeUnits: 2, forcedSplits: 5).splits == 1)
    }

    /// The packed family reads a training step's small products in place (one launch instead of
    /// three) and keeps packing the large ones and every split one; the tiled family never
    /// switches.
    @Test func smallProductsOfThePackedFamilyRunDirect() {
        let packed = GEMMTuning(variant: .packed)
        // A transformer's Linear layers at batch 16 × length 140 (forward NT, input gradient NN,
        // weight gradient TN), a small CNN's 3136 → 128 layer, an MLP's 30 → 64 layer.
        let small = [GEMMParameters(m: 2240, n: 192, k: 64, transB: true), GEMMParameters(m: 2240, n: 64, k: 192),
                     GEMMParameters(m: 192, n: 64, k: 2240, transA: true), GEMMParameters(m: 128, n: 128, k: 3136, transB: true),
                     GEMMParameters(m: 128, n: 3136, k: 128), GEMMParameters(m: 32, n: 64, k: 30, transB: true)]
        for p in small {
            #expect(packed.plan(p, variant: .packed, computeUnits: 2).direct, "\(p)")
            #expect(!Self.gpu.plan(p, variant: .tiled, computeUnits: 132).direct, "\(p)")
        }
        // A convolution's forward product (64 channels × 25,088 positions × 288) and a 1024³
        // square keep the packed path, and so does a product with B stored N×K, N ≥ 256.
        for p in [GEMMParameters(m: 64, n: 25088, k: 288), GEMMParameters(m: 1024, n: 1024, k: 1024),
                  GEMMParameters(m: 512, n: 256, k: 512, transB: true)] {
            #expect(!packed.plan(p, variant: .packed, computeUnits: 2).direct, "\(p)")
        }
        // Split products keep the packed path, whether the plan or the caller splits them (the
        // deep weight gradients that run direct instead: see the test above).
        let deep = packed.plan(GEMMParameters(m: 32, n: 288, k: 25088, transB: true), variant: .packed, computeUnits: 2)
        #expect(deep.splits > 1 && !deep.direct, "\(deep)")
        let forced = packed.plan(GEMMParameters(m: 9, n: 20, k: 100, transB: true), variant: .packed, computeUnits: 2, forcedSplits: 3)
        #expect(forced.splits == 3 && !forced.direct)
        // The direct family itself is direct, split when the caller asks.
        let direct = packed.plan(GEMMParameters(m: 9, n: 20, k: 100, transB: true), variant: .direct, computeUnits: 2, forcedSplits: 3)
        #expect(direct.splits == 3 && direct.direct)
    }

    @Test func forcedSplitsAndThePartialBufferCap() {
        let p = GEMMParameters(m: 9, n: 20, k: 100, transB: true, batch: 2)
        let plan = GEMMTuning(variant: .packed).plan(p, variant: .packed, computeUnits: 2, forcedSplits: 3)
        #expect(plan == GEMMTuning.Plan(smallTile: false, splits: 3, sliceDepth: 48))
        // A split whose partials would pass 64 MB is cut back.
        let wide = GEMMParameters(m: 2048, n: 2048, k: 1 << 16)
        let capped = GEMMTuning(variant: .packed).plan(wide, variant: .packed, computeUnits: 2, forcedSplits: 64)
        #expect(capped.splits * wide.m * wide.n <= 16 << 20)
    }

    @Test func splitGEMMOnADeviceIsDeterministicAndMatchesTheReference() throws {
        guard openCLAvailable(), let device = firstDevice else { return }
        var p = GEMMParameters(m: 64, n: 144, k: 3136, transB: true, alpha: 0.5, beta: 1)
        p.ldc = 150
        var random = SeededRandom(seed: 17)
        let a = random.uniformArray(p.requiredCountA), b = random.uniformArray(p.requiredCountB), c = random.uniformArray(p.requiredCountC)
        var good = c
        ReferenceKernels.gemm(p, a: a, b: b, c: &good)
        for variant in GEMMTuning.Variant.allCases {
            let runs = try (0 ..< 2).map { _ in
                try device.gemm(p, a: a, b: b, c: c) { da, db, dc in try device.gemm(p, a: da, b: db, c: dc, variant: variant, splits: 7) }
            }
            #expect(runs[0] == runs[1], "\(variant): two runs differ")
            for index in good.indices {
                let allowed = 1e-4 * max(1, abs(good[index]))
                #expect(abs(runs[0][index] - good[index]) <= allowed, "\(variant) at \(index)")
                if abs(runs[0][index] - good[index]) > allowed { break }
            }
        }
    }
}
