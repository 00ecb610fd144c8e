import Foundation
import Scalpel
import ScalpelCPU
import ScalpelCore
import ScalpelOpenCL

/// GFLOP/s of GEMM per backend and kernel family, on data resident where it runs.
public enum GEMMBenchmark {
    /// A benchmarked shape.
    public struct Shape: Sendable, Codable, Hashable, CustomStringConvertible {
        /// Rows of op(A) and of C.
        public var m: Int
        /// Columns of op(B) and of C.
        public var n: Int
        /// Columns of op(A) and rows of op(B): the length of each dot product.
        public var k: Int
        /// Whether A is stored k×m and op(A) = Aᵀ.
        public var transA: Bool
        /// Whether B is stored n×k and op(B) = Bᵀ.
        public var transB: Bool

        /// A shape of these sizes, neither operand transposed unless said.
        public init(m: Int, n: Int, k: Int, transA: Bool = false, transB: Bool = false) {
            (self.m, self.n, self.k, self.transA, self.transB) = (m, n, k, transA, transB)
        }

        /// The GEMM call of this shape: densely packed operands, alpha 1, beta 0, one batch entry.
        public var parameters: GEMMParameters { GEMMParameters(m: m, n: n, k: k, transA: transA, transB: transB) }
        /// The shape as "M×N×K" and its transpose code, for example "256×512×784 NN".
        public var description: String { "\(m)×\(n)×\(k) \(parameters.transposeCode)" }

        /// Parses `MxNxK` or `MxNxK:TN` (transpose code).
        public init(parsing text: String) throws {
            let parts = text.split(separator: ":")
            let dims = parts[0].lowercased().split(whereSeparator: { $0 == "x" || $0 == "×" }).compactMap { Int($0) }
            guard dims.count == 3, dims.allSatisfy({ $0 > 0 }), parts.count <= 2 else {
                throw ScalpelError.invalidArgument("invalid shape '\(text)': expected MxNxK or MxNxK:NT (transposes NN, NT, TN or TT)")
            }
            let code = parts.count == 2 ? parts[1].uppercased() : "NN"
            guard ["NN", "NT", "TN", "TT"].contains(code) else {
                throw ScalpelError.invalidArgument("invalid transposes '\(code)' in '\(text)': expected NN, NT, TN or TT")
            }
            self.init(m: dims[0], n: dims[1], k: dims[2], transA: code.first == "T", transB: code.last == "T")
        }
    }

    /// n = 256…2048 squares, one dense layer 784→512 on a batch of 256: forward (NN),
    /// weight gradient Xᵀ·dY (TN) and input gradient dY·Wᵀ (NT), and the convolution weight
    /// gradients of ResNet-18's first stage.
    public static let defaultShapes: [Shape] = [
        Shape(m: 256, n: 256, k: 256), Shape(m: 512, n: 512, k: 512), Shape(m: 1024, n: 1024, k: 1024),
        Shape(m: 2048, n: 2048, k: 2048), Shape(m: 256, n: 512, k: 784), Shape(m: 784, n: 512, k: 256, transA: true),
        Shape(m: 256, n: 784, k: 512, transB: true),
    ] + resnetWeightGradientShapes

    /// The weight-gradient GEMMs dW = dY·colsᵀ (NT) of ResNet-18 (28×28 inputs, 3×3 stem
    /// without pooling) at batch 32 in its first stage, 28×28 with 64 channels: M = 64 output
    /// channels, N = input channels·9, K = images·784 output positions. The stem (N = 1·9)
    /// takes the whole batch; a 64-channel 3×3 layer (N = 576) runs in column chunks of 18
    /// images (8 Mi floats) and then 14, and would take K = 25,088 unchunked.
    public static let resnetWeightGradientShapes: [Shape] = [
        Shape(m: 64, n: 9, k: 25088, transB: true), Shape(m: 64, n: 576, k: 14112, transB: true),
        Shape(m: 64, n: 576, k: 10976, transB: true), Shape(m: 64, n: 576, k: 25088, transB: true),
    ]

    /// One thing being timed: a backend and, on OpenCL, a kernel family.
    public struct Contender: Sendable {
        /// The label of the contender in results and tables (for example "cpu-swift 16t" or
        /// "cl:0:0 tiled").
        public var name: String
        /// The backend the GEMM runs on, its operands resident there.
        public var backend: any Backend
        /// The OpenCL kernel family to use (nil: the device's own family and per-shape plan); the
        /// CPU-Swift backend ignores it.
        public var variant: GEMMTuning.Variant?

        /// A contender named `name` that runs on `backend`, with `variant` on OpenCL (nil: the
        /// device's choice).
        public init(name: String, backend: any Backend, variant: GEMMTuning.Variant? = nil) {
            self.name = name
            self.backend = backend
            self.variant = variant
        }

        /// Runs one GEMM with this contender's kernel family.
        public func gemm(_ p: GEMMParameters, _ a: any DeviceBuffer, _ b: any DeviceBuffer, _ c: any DeviceBuffer) throws {
            if let device = backend as? OpenCLBackend {
                try device.gemm(p, a: a, b: b, c: c, variant: variant)
            } else {
                try backend.gemm(p, a: a, b: b, c: c)
            }
        }
    }

    /// One measurement.
    public struct Result: Sendable, Codable {
        /// The shape timed.
        public var shape: Shape
        /// The contender's `name`.
        public var contender: String
        /// The backend's display name.
        public var device: String
        /// Milliseconds per call, the median over the samples (NaN when `error` is set).
        public var msMedian: Double
        /// Milliseconds per call in the fastest sample (NaN when `error` is set).
        public var msMin: Double
        /// Milliseconds per call in the slowest sample (NaN when `error` is set).
        public var msMax: Double
        /// GFLOP/s at the median time, a multiply-add counting as two operations (NaN when `error`
        /// is set).
        public var gflopsMedian: Double
        /// GFLOP/s of the slowest sample (NaN when `error` is set).
        public var gflopsMin: Double
        /// GFLOP/s of the fastest sample (NaN when `error` is set).
        public var gflopsMax: Double
        /// Largest error of 64 sampled elements against a Double dot product, relative to the
        /// magnitude of the sum.
        public var maxRelError: Double
        /// The number of timed samples (0 when `error` is set).
        public var samples: Int
        /// Why the GEMM failed on this contender (nil: it ran).
        public var error: String?
    }

    /// Times every contender on every shape: a warm-up call (compilation included), then
    /// `samples` samples of at least `minSampleSeconds`, each a run of calls ended by a sync.
    public static func run(shapes: [Shape], contenders: [Contender], samples: Int = 5, minSampleSeconds: Double = 0.2,
                           progress: (String) -> Void = { _ in }) -> [Result] {
        var results: [Result] = []
        for shape in shapes {
            let p = shape.parameters
            var random = SeededRandom(seed: UInt64(shape.m * 31 + shape.n * 17 + shape.k))
            let a = random.uniformArray(p.requiredCountA), b = random.uniformArray(p.requiredCountB)
            for contender in contenders {
                progress("gemm \(shape) on \(contender.name)")
                let backend = contender.backend
                do {
                    let (da, db, dc) = (try backend.makeBuffer(a), try backend.makeBuffer(b), try backend.makeBuffer(count: p.requiredCountC))
                    let timing = try measure(samples: samples, minSampleSeconds: minSampleSeconds) {
                        try contender.gemm(p, da, db, dc)
                        try backend.synchronize()
                    }
                    let c = try backend.read(dc)
                    let flops = p.flops
                    results.append(Result(shape: shape, contender: contender.name, device: backend.displayName,
                                          msMedian: timing.median * 1e3, msMin: timing.min * 1e3, msMax: timing.max * 1e3,
                                          gflopsMedian: flops / timing.median / 1e9, gflopsMin: flops / timing.max / 1e9,
                                          gflopsMax: flops / timing.min / 1e9,
                                          maxRelError: sampledError(p, a: a, b: b, c: c, seed: 99), samples: timing.samples, error: nil))
                } catch {
                    results.append(Result(shape: shape, contender: contender.name, device: backend.displayName, msMedian: .nan, msMin: .nan,
                                          msMax: .nan, gflopsMedian: .nan, gflopsMin: .nan, gflopsMax: .nan, maxRelError: .nan,
                                          samples: 0, error: "\(error)"))
                }
            }
        }
        return results
    }

    /// Checks 64 random elements of C against Double dot products.
    static func sampledError(_ p: GEMMParameters, a: [Float], b: [Float], c: [Float], seed: UInt64) -> Double {
        var random = SeededRandom(seed: seed)
        var worst = 0.0
        for _ in 0 ..< 64 {
            let i = Int(random.next() % UInt64(p.m)), j = Int(random.next() % UInt64(p.n))
            var sum = 0.0, magnitude = 0.0
            for l in 0 ..< p.k {
                let x = Double(p.transA ? a[l * p.lda + i] : a[i * p.lda + l])
                let y = Double(p.transB ? b[j * p.ldb + l] : b[l * p.ldb + j])
                sum += x * y
                magnitude += abs(x * y)
            }
            let error = abs(Double(c[i * p.ldc + j]) - sum) / max(magnitude, 1e-30)
            worst = max(worst, error.isNaN ? .infinity : error)
        }
        return worst
    }
}
