import ScalpelCore
import ScalpelOpenCL

/// The GEMM shapes every kernel is checked at: sizes around tile and vector edges, all four
/// transpose pairs, batches with strides and offsets, alpha and beta, and the empty cases.
public enum GEMMCases {
    /// Sizes around the tile edges of every kernel family (vectors of 8 and 16, blocks of 6,
    /// tiles of 32, 64 and 128, cache blocks of 144 and 256).
    public static let edgeSizes = [1, 2, 31, 32, 33, 63, 64, 65, 127, 129, 255, 257, 511]

    /// One case: parameters and a seed for its data.
    public struct Case: Sendable, CustomStringConvertible {
        /// Sizes, transposes, alpha, beta, batch, offsets and strides.
        public var parameters: GEMMParameters
        /// The seed of the operands' values.
        public var seed: UInt64
        /// K slices the OpenCL families must use (split-K and its second pass); nil: the
        /// device's plan.
        public var splits: Int?
        /// The OpenCL kernel families a case of the quick list runs with in the quick
        /// selection (all of them in the full one), which stays within six OpenCL cases.
        public var quickVariants: [GEMMTuning.Variant]
        /// The epilogue: a bias along the columns, then a ReLU.
        public var bias = false
        /// Whether the epilogue applies a ReLU (after the bias, when there is one).
        public var relu = false

        /// A case of `parameters`, its data drawn from `seed`.
        public init(parameters: GEMMParameters, seed: UInt64, splits: Int? = nil, quickVariants: [GEMMTuning.Variant] = GEMMTuning.Variant.allCases,
                    bias: Bool = false, relu: Bool = false) {
            (self.parameters, self.seed, self.splits, self.quickVariants) = (parameters, seed, splits, quickVariants)
            (self.bias, self.relu) = (bias, relu)
        }

        /// The case as its self-test cases name their shape: the parameters, then split-K, +bias,
        /// ReLU, α and β where not 1 and 0, and "strided" when A has an offset or C padded rows.
        public var description: String {
            var text = parameters.description
            if let splits { text += " split-K \(splits)" }
            if bias { text += " +bias" }
            if relu { text += " ReLU" }
            if parameters.alpha != 1 || parameters.beta != 0 { text += " α=\(parameters.alpha) β=\(parameters.beta)" }
            if parameters.offsetA != 0 || parameters.ldc != parameters.n { text += " strided" }
            return text
        }

        /// Operand data: A, B and the initial C (with NaN where beta = 0 must not read C).
        public func data() -> (a: [Float], b: [Float], c: [Float]) {
            var random = SeededRandom(seed: seed)
            let p = parameters
            let a = random.uniformArray(max(p.requiredCountA, 1))
            let b = random.uniformArray(max(p.requiredCountB, 1))
            var c = random.uniformArray(max(p.requiredCountC, 1))
            if p.beta == 0 {
                // C must not be read when beta is 0: NaNs here would leak into the result.
                for i in stride(from: 0, to: c.count, by: 7) { c[i] = .nan }
                for batch in 0 ..< p.batch {
                    for i in 0 ..< p.m { for j in 0 ..< p.n { c[p.offsetC + batch * p.strideC + i * p.ldc + j] = .nan } }
                }
                // …but elements outside C's windows must come back unchanged, so keep them finite.
                for index in c.indices where c[index].isNaN && !inWindow(index) { c[index] = 0.5 }
            }
            return (a, b, c)
        }

        /// The bias of the epilogue (n values after the operands'), or nil.
        public func biasData() -> [Float]? {
            guard bias else { return nil }
            var random = SeededRandom(seed: seed &+ 0x5EED)
            return random.uniformArray(max(parameters.n, 1))
        }

        private func inWindow(_ index: Int) -> Bool {
            let p = parameters
            for batch in 0 ..< p.batch {
                let start = p.offsetC + batch * p.strideC
                let rel = index - start
                if rel >= 0 && rel < p.m * p.ldc && rel / p.ldc < p.m && rel % p.ldc < p.n { return true }
            }
            return false
        }
    }

    /// The full list: about seventy cases.
    public static var all: [Case] {
        var cases: [Case] = []
        var seed: UInt64 = 1
        func add(_ p: GEMMParameters, splits: Int? = nil) {
            cases.append(Case(parameters: p, seed: seed, splits: splits))
            seed += 1
        }
        let transposes = [(false, false), (false, true), (true, false), (true, true)]
        for (index, s) in edgeSizes.enumerated() {
            let (ta, tb) = transposes[index % 4]
            add(GEMMParameters(m: s, n: s, k: s, transA: ta, transB: tb))
        }
        for s in edgeSizes {
            add(GEMMParameters(m: s, n: 65, k: 33))
            add(GEMMParameters(m: 31, n: s, k: 63, transA: true))
            add(GEMMParameters(m: 64, n: 33, k: s, transB: true))
            add(GEMMParameters(m: 17, n: s, k: s, transA: true, transB: true))
        }
        for (ta, tb) in transposes {
            // Batched, with alpha and beta.
            add(GEMMParameters(m: 33, n: 47, k: 65, transA: ta, transB: tb, alpha: 0.5, beta: -1.5, batch: 3))
            // Strided views: offsets, padded leading dimensions, gaps between batch entries.
            var p = GEMMParameters(m: 29, n: 35, k: 19, transA: ta, transB: tb, alpha: -0.75, beta: 0.25, batch: 2)
            p.offsetA = 5
            p.offsetB = 3
            p.offsetC = 7
            p.lda += 3
            p.ldb += 2
            p.ldc += 4
            p.strideA = (ta ? p.k : p.m) * p.lda + 11
            p.strideB = (tb ? p.n : p.k) * p.ldb + 13
            p.strideC = p.m * p.ldc + 2
            add(p)
        }
        add(GEMMParameters(m: 130, n: 129, k: 257, alpha: 2, beta: 1))
        add(GEMMParameters(m: 5, n: 7, k: 0, beta: 2))
        add(GEMMParameters(m: 1, n: 1, k: 1, batch: 5))
        add(GEMMParameters(m: 2, n: 300, k: 1000, transB: true))
        // Split-K: tall-skinny products (a convolution's weight gradient is NT) at the tile and
        // vector edges, K not a multiple of the slice depth, the last slice short, with alpha,
        // beta, batches and strided C; the slices are added by gemm_splitk_reduce.
        for (index, s) in [1, 31, 32, 33, 63, 64, 65].enumerated() {
            let (ta, tb) = transposes[(index + 1) % 4]
            add(GEMMParameters(m: s, n: 70 - s, k: 1000 + s, transA: ta, transB: tb), splits: 2 + index % 3)
        }
        add(GEMMParameters(m: 64, n: 144, k: 3136, transB: true, beta: 1), splits: 13)
        var strided = GEMMParameters(m: 29, n: 35, k: 700, transB: true, alpha: -0.75, beta: 0.25, batch: 2)
        strided.offsetC = 7
        strided.ldc += 4
        strided.strideC = strided.m * strided.ldc + 2
        add(strided, splits: 3)
        // Epilogues (bias along the columns, ReLU) in every family's store: block edges in N and
        // M, a batch, alpha and beta, K = 0, gemm_direct_nt's slices past its staged depth (the
        // epilogue on the last one only), and split K (in the second pass).
        func addEpilogue(_ p: GEMMParameters, splits: Int? = nil, bias: Bool = true, relu: Bool = true) {
            cases.append(Case(parameters: p, seed: seed, splits: splits, bias: bias, relu: relu))
            seed += 1
        }
        addEpilogue(GEMMParameters(m: 37, n: 45, k: 29))
        addEpilogue(GEMMParameters(m: 70, n: 33, k: 300, transB: true))
        addEpilogue(GEMMParameters(m: 65, n: 17, k: 64, transA: true, alpha: 0.5, beta: -1, batch: 2), relu: false)
        addEpilogue(GEMMParameters(m: 9, n: 16, k: 0), bias: false)
        addEpilogue(GEMMParameters(m: 33, n: 31, k: 1000, transB: true), splits: 3)
        return cases
    }

    /// 11×21×133 TT, batch 2, offsets, padded leading dimensions and gaps between entries: K
    /// past gemm_direct_nt's 128-deep staged slice.
    static var quickStrided: GEMMParameters {
        var p = GEMMParameters(m: 11, n: 21, k: 133, transA: true, transB: true, alpha: 1.25, batch: 2)
        (p.offsetA, p.offsetB, p.offsetC) = (3, 5, 2)
        (p.lda, p.ldb, p.ldc) = (p.m + 2, p.k + 1, p.n + 3)
        (p.strideA, p.strideB, p.strideC) = (p.k * p.lda + 4, p.n * p.ldb + 1, p.m * p.ldc + 5)
        return p
    }

    /// A few quick cases for the self-test run when a device is opened: one plain (every
    /// family: gemm_direct on the direct one), one split into K slices (batched, with alpha,
    /// beta, a bias and a ReLU: the packing families, the epilogue in the second pass), one with
    /// both operands transposed in strided batch entries and beta = 0 (C holds NaN), past every
    /// block edge (the direct family: gemm_direct_nt).
    public static var quick: [Case] {
        [Case(parameters: GEMMParameters(m: 37, n: 45, k: 29), seed: 101),
         Case(parameters: GEMMParameters(m: 9, n: 20, k: 100, transB: true, alpha: 0.5, beta: 0.25, batch: 2), seed: 103, splits: 3,
              quickVariants: [.packed, .tiled], bias: true, relu: true),
         Case(parameters: quickStrided, seed: 107, quickVariants: [.direct])]
    }
}

extension KernelCases {
    /// GEMM: every `GEMMCases` case (the quick ones included) with each OpenCL kernel variant on
    /// a device and with the CPU-Swift GEMM elsewhere, then the tensor ops built on GEMM.
    /// Those ops call the device's default variant, whose kernels the variant cases claim.
    public static let gemm: [KernelCase] = {
        var cases: [KernelCase] = []
        let quick = GEMMCases.quick
        for (testCase, isQuick) in GEMMCases.all.map({ ($0, false) }) + quick.map({ ($0, true) }) {
            for variant in [GEMMTuning.Variant?.none] + GEMMTuning.Variant.allCases.map(Optional.some) {
                let quickHere = isQuick && variant.map { testCase.quickVariants.contains($0) } ?? isQuick
                cases.append(KernelCase(.gemm, variant.map { "gemm_\($0.rawValue)" } ?? "gemm_fast_swift", shape: testCase.description,
                                        kernels: gemmKernels(testCase.parameters, variant: variant, splits: testCase.splits), quick: quickHere,
                                        check: .gemm(testCase, variant: variant)))
            }
        }
        return cases + [
            .tensor(.gemm, "matmul", [[3, 4], [4, 5]], kernels: []) { try $0[0].matmul($0[1]) },
            .tensor(.gemm, "batched matmul", [[2, 3, 4], [2, 4, 5]], kernels: []) { try $0[0].matmul($0[1]) },
            .tensor(.gemm, "shared-weight matmul", [[2, 3, 4], [4, 5]], kernels: []) { try $0[0].matmul($0[1]) },
            .tensor(.gemm, "linear", [[5, 4], [3, 4], [3]], inputNames: ["input", "weight", "bias"], kernels: ["reduce_axis"]) {
                try $0[0].linear(weight: $0[1], bias: $0[2])
            },
            .tensor(.gemm, "linear", [[67, 33], [65, 33], [65]], inputNames: ["input", "weight", "bias"], kernels: ["reduce_axis"]) {
                try $0[0].linear(weight: $0[1], bias: $0[2])
            },
            .tensor(.gemm, "linear + ReLU", [[2, 3, 9], [20, 9], [20]], inputNames: ["input", "weight", "bias"],
                    kernels: ["reduce_axis", "unary_backward"]) {
                try $0[0].linear(weight: $0[1], bias: $0[2], relu: true)
            },
            .tensor(.gemm, "linear + ReLU, no bias", [[7, 5], [4, 5]], inputNames: ["input", "weight"], kernels: ["unary_backward"]) {
                try $0[0].linear(weight: $0[1], bias: nil, relu: true)
            },
        ]
    }()

    /// The kernels one GEMM launches with `variant` (none on the CPU-Swift backend, none for an
    /// empty product), with the second pass when the case forces K slices.
    static func gemmKernels(_ p: GEMMParameters, variant: GEMMTuning.Variant?, splits: Int? = nil) -> [String] {
        guard let variant, p.m > 0, p.n > 0, p.batch > 0 else { return [] }
        let second = (splits ?? 1) > 1 ? ["gemm_splitk_reduce"] : []
        switch variant {
        case .packed: return (p.k > 0 ? ["gemm_pack", "gemm_packed"] : ["gemm_packed"]) + second
        case .tiled: return ["gemm_tiled"] + second
        case .direct: return [GEMMTuning.directStagesB(p) ? "gemm_direct_nt" : "gemm_direct"] + second
        }
    }
}
