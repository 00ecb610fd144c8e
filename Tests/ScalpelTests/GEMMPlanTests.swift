import Foundation
import Scalpel
import ScalpelCPU
import ScalpelCore
import ScalpelOpenCL
import Testing

/// How GEMMTuning plans a product per shape: tiles and K slices.
@Suite struct GEMMPlanTests {
    /// A GPU-sized tile table (NVIDIA's entry) on 132 compute units.
    static var gpu: GEMMTuning {
        var tuning = GEMMTuning(variant: .tiled)
        (tuning.tileM, tuning.tileN, tuning.tileK, tuning.wptM, tuning.wptN) = (128, 128, 16, 8, 8)
        return tuning
    }

    @Test func tallSkinnyWeightGradientsAreSplitAndSquaresAreNot() {
        for shape in GEMMBenchmark.resnetWeightGradientShapes {
            let p = shape.parameters
            let tiled = Self.gpu.plan(p, variant: .tiled, computeUnits: 132)
            #expect(tiled.smallTile && tiled.splits > 1, "\(shape): \(tiled)")
            let packed = GEMMTuning(variant: .packed).plan(p, variant: .packed, computeUnits: 2)
            #expect(packed.splits > 1, "\(shape): \(packed)")
            for plan in [tiled, packed] {
                // The slices cover K exactly once: every slice non-empty, the last one short.
                #expect(plan.sliceDepth * (plan.splits - 1) < p.k && plan.sliceDepth * plan.splits >= p.k, "\(shape): \(plan)")
            }
        }
        let square = GEMMParameters(m: 1024, n: 1024, k: 1024)
        #expect(Self.gpu.plan(square, variant: .tiled, computeUnits: 32) == GEMMTuning.Plan(k: 1024))
        #expect(GEMMTuning(variant: .packed).plan(square, variant: .packed, computeUnits: 2) == GEMMTuning.Plan(k: 1024))
    }

    @Test func smallProductsTakeTheSmallTileAndShortKIsNeverSplit() {
        let p = GEMMParameters(m: 64, n: 64, k: 200)
        let plan = Self.gpu.plan(p, variant: .tiled, computeUnits: 16)
        #expect(plan.smallTile && plan.splits == 1)
        #expect(GEMMTuning(variant: .packed).plan(GEMMParameters(m: 4, n: 4, k: 16), variant: .packed, computeUnits: 2, forcedSplits: 5).splits == 1)
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
