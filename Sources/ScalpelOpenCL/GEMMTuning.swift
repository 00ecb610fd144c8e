import ScalpelCPU
import ScalpelCore

/// The GEMM kernel family and its `-D` knobs for one device, looked up kind → vendor →
/// properties, with a safe default at each level (after CLBlast's tuning database).
public struct GEMMTuning: Sendable, Hashable, CustomStringConvertible {
    /// The kernel families of gemm.cl.
    public enum Variant: String, Sendable, CaseIterable {
        /// Packed panels and explicit vectors, no __local memory: for CPU-type devices.
        case packed
        /// __local-memory tiles with register blocking: for GPUs.
        case tiled
        /// Operands read where they are, one launch (gemm_direct, or gemm_direct_nt when B is
        /// stored N×K): what the packed family runs for products too small to repay packing.
        case direct
    }

    /// The device's kernel family (`lookup`: packed for CPU-type devices, tiled otherwise); `plan`
    /// may still send a packed product to the direct kernels (`directPays`, `directPaysDeep`).
    public var variant: Variant
    /// packed and direct: rows of C per work-item, one float vector accumulator each (PACK_RM: 1,
    /// 2, 4, 6 or 8); `lookup` takes 8 for devices preferring 16-wide vectors and for CPU devices
    /// on AVX-512 hosts, else 6.
    public var packRM = 6
    /// packed and direct: columns of C per work-item, the float vector width (PACK_VW: 4, 8 or 16).
    public var packVW = 16
    /// gemm_direct and the packed implicit-convolution kernels: work-items per work-group,
    /// along the columns of C (a host-side launch knob).
    public var packGroup = 4
    /// packed: work-items per work-group of gemm_packed, along the rows of C (see gemm.cl).
    public var packedGroup = 8
    /// tiled: rows of C per work-group (TILE_M).
    public var tileM = 64
    /// tiled: columns of C per work-group (TILE_N).
    public var tileN = 64
    /// tiled: depth of each slice of op(A) and op(B) staged in __local memory (TILE_K).
    public var tileK = 16
    /// tiled: outputs per work-item along the rows of C (TILE_WPT_M); a work-group has
    /// tileM / wptM work-items along them.
    public var wptM = 4
    /// tiled: outputs per work-item along the columns of C (TILE_WPT_N); a work-group has
    /// tileN / wptN work-items along them.
    public var wptN = 4
    /// Silences the compiler's warnings: wider vectors than the device's native width make
    /// clang warn about the (internal, inlined) vector ABI of every builtin call.
    public var silenceWarnings = false

    /// packed: depth of one K slice when a tall-skinny product is split (a multiple of
    /// `packVW`): 256 keeps a slice of B for N ≈ 600 columns (600 KB) in the last-level cache
    /// while every row panel streams it.
    public var packSliceDepth = 1024
    /// packed: whether tall-skinny products are split along K. Measured on 2 Zen cores, the
    /// ResNet-18 stage-1 weight gradient (64×576×14112 NT) beside 1024³ in the same run: PoCL
    /// 68 GFLOP/s unsplit and 97 split (1024³: 185–198); Intel's CPU runtime 43–50 unsplit
    /// and 30 split (1024³: 81–92), so it keeps whole K. (With 8 rows per work-item and the
    /// packing kernel's vector-type hint, 64×576×14112 and 64×576×10976 ran 118–123 unsplit and
    /// 122–137 split, but those products now take the direct kernels, 138–149; other deep
    /// products were not measured again on Intel.)
    public var packSplitK = true
    /// packed: the largest op(A) and op(B), in floats per batch entry, of a product that runs
    /// the direct kernels instead of packing (2 MiB; see `directPays`).
    public var directMaxOperand = 1 << 19
    /// packed: the widest op(B) stored transposed (N×K) that the direct kernels take.
    public var directMaxStagedColumns = 192

    /// The defaults of `variant`'s family (the tuning table adjusts them per device).
    public init(variant: Variant) {
        self.variant = variant
    }

    /// Work-items per work-group of the tiled kernel.
    public var tileWorkGroup: (n: Int, m: Int) { (tileN / wptN, tileM / wptM) }

    /// The `-D` options for gemm.cl.
    public var buildOptions: String { options(tileM: tileM, tileN: tileN, wptM: wptM, wptN: wptN) }

    /// The tiled kernel's half-size tile (same work-group, half the outputs per work-item along
    /// each side) for products whose large tiles would leave compute units idle; nil when the
    /// tile cannot shrink.
    public var smallTile: (m: Int, n: Int)? {
        guard wptM % 2 == 0, wptN % 2 == 0 else { return nil }
        return (tileM / 2, tileN / 2)
    }

    /// The `-D` options for gemm.cl built with the small tile.
    public var smallTileBuildOptions: String? {
        smallTile.map { options(tileM: $0.m, tileN: $0.n, wptM: wptM / 2, wptN: wptN / 2) }
    }

    private func options(tileM: Int, tileN: Int, wptM: Int, wptN: Int) -> String {
        "-DPACK_RM=\(packRM) -DPACK_VW=\(packVW) -DTILE_M=\(tileM) -DTILE_N=\(tileN) -DTILE_K=\(tileK) -DTILE_WPT_M=\(wptM) -DTILE_WPT_N=\(wptN)"
            + (silenceWarnings ? " -w" : "")
    }

    /// How one product runs: which tile (tiled family) and how many K slices.
    public struct Plan: Sendable, Hashable, CustomStringConvertible {
        /// The tiled family uses `smallTile` instead of the large one.
        public var smallTile: Bool
        /// K slices computed separately and added by gemm_splitk_reduce (1: no split).
        public var splits: Int
        /// Depth of each slice but the last (K when there is no split).
        public var sliceDepth: Int
        /// The packed family reads the operands in place instead of packing them (see
        /// `GEMMTuning.directPays`).
        public var direct = false

        /// The plan of a product over `k` that is not split.
        public init(smallTile: Bool = false, k: Int) {
            self.init(smallTile: smallTile, splits: 1, sliceDepth: k)
        }

        /// An explicit plan.
        public init(smallTile: Bool, splits: Int, sliceDepth: Int) {
            (self.smallTile, self.splits, self.sliceDepth) = (smallTile, splits, sliceDepth)
        }

        /// "direct", "small tile" or "large tile", then ", 4 K slices of 256" when K is split.
        public var description: String {
            (direct ? "direct" : smallTile ? "small tile" : "large tile") + (splits > 1 ? ", \(splits) K slices of \(sliceDepth)" : "")
        }
    }

    /// Whether a split product of `variant` computes its partials as Cᵀ = op(B)ᵀ·op(A)ᵀ: on
    /// the packed family when B is transposed and wider than A (a weight gradient dY·colsᵀ),
    /// so that the wide operand is packed as A, in contiguous runs, instead of being
    /// transposed as B.
    public static func swapsOperands(_ p: GEMMParameters, variant: Variant, splits: Int) -> Bool {
        variant == .packed && splits > 1 && p.transB && p.n > p.m
    }

    /// Largest partial-sum buffer of a split (floats): a split never costs more than 64 MB.
    static let maxPartialFloats = 16 << 20

    /// The plan for `p` with kernel family `variant` on a device of `computeUnits`, aiming at
    /// two work-groups per compute unit (GPUs) and cache-sized K slices (CPUs). `forcedSplits`
    /// (the self-test's) overrides the number of slices, rounded to what the slice depth allows.
    public func plan(_ p: GEMMParameters, variant: Variant, computeUnits: Int, forcedSplits: Int? = nil) -> Plan {
        let units = max(computeUnits, 1)
        let outputs = p.m * p.n * p.batch
        var plan = Plan(k: p.k)
        let granule: Int  // slice depths are multiples of this
        var splits: Int
        switch variant {
        case .tiled:
            granule = tileK
            func groups(_ tm: Int, _ tn: Int) -> Int { ((p.m + tm - 1) / tm) * ((p.n + tn - 1) / tn) * p.batch }
            var count = groups(tileM, tileN)
            if count < 2 * units, let small = smallTile {
                plan.smallTile = true
                count = groups(small.m, small.n)
            }
            // Enough slices to give every compute unit two work-groups, each slice at least
            // 256 deep so that the extra pass stays small beside the product.
            splits = count < 2 * units ? min((2 * units + count - 1) / count, p.k / 256) : 1
        case .direct:
            granule = packVW
            splits = 1
            plan.direct = true
        case .packed:
            granule = packVW
            // Operands that stay cached need neither packing nor K slices: the transformer's
            // weight gradients (192×64×2240 TN) ran 50 GFLOP/s packed in 2 slices on PoCL and
            // 100 direct and whole.
            if forcedSplits == nil && (directPays(p) || directPaysDeep(p)) {
                plan.direct = true
                return plan
            }
            // A product much deeper than wide streams panels of K·PACK_RM and K·PACK_VW floats
            // per work-item, far past the caches: slice K so that a slice of B stays cached.
            let deep = packSplitK && p.k >= 2 * packSliceDepth && p.k >= 4 * max(p.m, p.n)
            splits = deep ? p.k / packSliceDepth : 1
        }
        if let forcedSplits { splits = forcedSplits }
        splits = min(splits, Self.maxPartialFloats / max(outputs, 1))
        guard splits > 1, p.k > granule else { return plan }
        let depth = ((p.k + splits - 1) / splits + granule - 1) / granule * granule
        plan.splits = (p.k + depth - 1) / depth
        plan.sliceDepth = plan.splits > 1 ? depth : p.k
        return plan
    }

    /// Whether the direct family stages op(B) in __local memory (gemm_direct_nt): B stored
    /// N×K, where a row of op(B) would be a gather.
    public static func directStagesB(_ p: GEMMParameters) -> Bool { p.transB }

    /// gemm_direct_nt's work-group: row blocks that share one staged panel of op(B) (the
    /// kernel's DIRECT_GROUP).
    public static let directGroup = 8

    /// Whether a product of the packed family that is not split runs the direct kernels
    /// instead: when op(A) (M×K) and op(B) (K×N) each hold at most `directMaxOperand` floats
    /// (per batch entry), so that each stays cached while every block of C re-reads it.
    ///
    /// Measured with `scalpel bench gemm --all-variants` (GFLOP/s, packed → direct; each call
    /// ends in a sync, so the pack launches' cost is included) on 2 Zen 4 cores shared with
    /// other work, PoCL: a transformer's Linear layers at batch 16 × length 140 — 2240×64×192
    /// NN 58 → 106, 192×64×2240 TN 50 → 100 (packed split in 2), 2240×64×64 NT 54 → 61,
    /// 2240×64×128 NT 50 → 86, 2240×192×64 NT 80 → 78 — a small CNN's 3136 → 128 layer
    /// 128×3136×128 NN 94 → 107, 128×128×3136 NT 71 → 82, and 512³ NN 94 → 120; Intel's CPU
    /// runtime: 2240×64×192 NN 44 → 104, 192×64×2240 TN 40 → 101, 2240×64×64 NT 41 → 78,
    /// 2240×192×64 NT 68 → 72, 128×128×3136 NT 55 → 71, 32×64×64 NT 13 → 23. Past the
    /// bound packing wins: 1024³ NN on Intel 94 → 53 (A and B 4 MiB each), a convolution's
    /// 64×25088×288 NN (B 29 MiB) on PoCL 57 → 33, its input gradient 288×25088×64 TN (B 6 MiB)
    /// 101 → 91 on PoCL and 86 → 84 on Intel. B stored N×K (gemm_direct_nt, which stages
    /// op(B) in __local memory) stops paying from N = 256, where packing op(A) once serves 16
    /// column blocks or more: 512×256×512 NT 88 → 74 on PoCL and 79 → 65 on Intel,
    /// 128×256×1568 NT 143 → 138 and 134 → 116 (while NN and TN of the same sizes, 512×512×256
    /// NN 178 → 210 and 58 → 72, 256×512×512 TN 89 → 103 and 67 → 187, still gain).
    public func directPays(_ p: GEMMParameters) -> Bool {
        p.m * p.k <= directMaxOperand && p.k * p.n <= directMaxOperand && (!p.transB || p.n <= directMaxStagedColumns)
    }

    /// Whether a deep product with B stored N×K — a convolution's weight gradient dY·colsᵀ, K
    /// the images' output pixels, at least 2048 and four times M and N — runs the direct
    /// kernels, whole K, instead of packing both operands (and, on PoCL, splitting K). Measured
    /// with `scalpel bench gemm --all-variants` on 2 Zen 4 cores, GFLOP/s packed → direct, PoCL:
    /// 64×576×14112 NT 100 → 136 (1024³ NN: 203), 64×576×25088 95 → 136, 64×288×25088 86 → 138,
    /// 128×1152×6272 135 → 140, 64×9×100352 20 → 31, but 32×288×25088 63 → 50. Hence on a
    /// splitting device only from M = 64. Intel's CPU runtime (which never splits), with 8 rows
    /// per work-item and the packing kernel's vector-type hint: 64×576×14112 122 → 138,
    /// 64×576×10976 118 → 149, 128×1152×6272 160 → 152, 64×9×100352 20 → 34, 32×288×25088
    /// 57 → 73 (1024³ NN: 204). (With 6 rows the direct kernels lost on the first two: 107 → 86.)
    public func directPaysDeep(_ p: GEMMParameters) -> Bool {
        p.transB && p.k >= 2 * packSliceDepth && p.k >= 4 * max(p.m, p.n) && (p.m >= 64 || !packSplitK)
    }

    /// The family and its knobs, e.g. "packed 6×16, split-K, direct to 2 MiB operands" or
    /// "tiled 64×64×16, 4×4 per work-item".
    public var description: String {
        switch variant {
        case .packed: return "packed \(packRM)×\(packVW)" + (packSplitK ? ", split-K" : "") + ", direct to \(directMaxOperand * 4 >> 20) MiB operands"
        case .tiled: return "tiled \(tileM)×\(tileN)×\(tileK), \(wptM)×\(wptN) per work-item"
        case .direct: return "direct \(packRM)×\(packVW), op(B) stored N×K staged \(Self.directGroup) row blocks at a time"
        }
    }

    /// The entry for `device`; `hostHasAVX512` says whether a CPU device runs on a CPU with
    /// AVX-512.
    public static func lookup(_ device: OpenCLDeviceInfo, hostHasAVX512: Bool = CPUInfo.hasAVX512) -> GEMMTuning {
        var tuning = GEMMTuning(variant: device.kind == .cpu ? .packed : .tiled)
        // Packed: one float16 per row of C; 6 rows fill AVX2's 16 registers (12 accumulators,
        // B, A), 8 rows suit AVX-512's 32 (measured: 6×16 at 103–189 GFLOP/s on 2 Zen 3
        // cores; 8×16 at 110 on one Zen 4 core). Intel's CPU runtime reports a preferred width
        // of 8 on an AVX-512 CPU but uses all 32 registers: gemm_packed with 8 rows against 6
        // on 2 Zen 4 cores, 64×25088×576 205 against 164 GFLOP/s, 512×512×4608 228 against 203.
        tuning.packRM = device.preferredFloatVectorWidth >= 16 || (device.kind == .cpu && hostHasAVX512) ? 8 : 6
        tuning.silenceWarnings = device.kind == .cpu && tuning.packVW > device.preferredFloatVectorWidth
        tuning.packSplitK = !(device.kind == .cpu && device.vendor.lowercased().contains("intel"))
        if device.kind != .cpu {
            let vendor = device.vendor.lowercased()
            if vendor.contains("nvidia") || vendor.contains("advanced micro devices") || vendor.contains("amd") {
                // Large register blocks for GPUs with big register files.
                (tuning.tileM, tuning.tileN, tuning.tileK, tuning.wptM, tuning.wptN) = (128, 128, 16, 8, 8)
            }
        }
        // Stay within the device's limits, else fall back to the safe default tile.
        let (n, m) = tuning.tileWorkGroup
        let localBytes = tuning.tileK * (tuning.tileM + 1 + tuning.tileN + 1) * 4
        if n * m > device.maxWorkGroupSize || localBytes > device.localMemoryBytes {
            (tuning.tileM, tuning.tileN, tuning.tileK, tuning.wptM, tuning.wptN) = (32, 32, 8, 2, 2)
        }
        return tuning
    }
}
