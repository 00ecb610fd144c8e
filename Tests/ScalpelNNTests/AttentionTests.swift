import Foundation
import Scalpel
import ScalpelCPU
import ScalpelCore
import ScalpelOpenCL
import ScalpelTensor
@testable import ScalpelConformance
import ScalpelTestSupport
import Testing

/// Output, the scalar Σ w·output, and the gradients of q, k, v.
struct AttentionResult {
    var output: [Double]
    var scalar: Double
    var grads: [[Double]]
}

/// Runs the fused (or composed) attention of `c` on `backend` with `inputs`, reduces the output
/// with fixed weights and back-propagates.
func runAttention(_ c: AttentionCase, on backend: any Backend, inputs: [[Double]], fused: Bool) throws -> AttentionResult {
    let q = try tensor(inputs[0], c.queryShape, on: backend, requiresGrad: true)
    let k = try tensor(inputs[1], c.keyShape, on: backend, requiresGrad: true)
    let v = try tensor(inputs[2], c.keyShape, on: backend, requiresGrad: true)
    let lengths = try c.lengths.map { try Tensor($0.map(Float.init), shape: [c.batch], on: backend) }
    let out = fused
        ? try q.scaledDotProductAttention(key: k, value: v, keyLengths: lengths, causal: c.causal, scale: c.scale)
        : try q.composedAttention(key: k, value: v, keyLengths: lengths, causal: c.causal, scale: c.scale)
    let weights = (0 ..< out.count).map { Double(($0 * 7919) % 13) / 13 - 0.4 }
    let scalar = try (out * tensor(weights, out.shape, on: backend)).sum()
    try scalar.backward()
    return AttentionResult(output: try doubles(out), scalar: try doubles(scalar)[0],
                           grads: try [q, k, v].map { try $0.grad.map(doubles) ?? [] })
}

/// Σ a·b.
func dot(_ a: ArraySlice<Double>, _ b: ArraySlice<Double>) -> Double {
    zip(a, b).reduce(0) { $0 + $1.0 * $1.1 }
}

/// The largest |a − b| and the largest |b|.
func maxError(_ a: [Double], _ b: [Double]) -> (error: Double, scale: Double) {
    precondition(a.count == b.count, "\(a.count) vs \(b.count) values")
    return (zip(a, b).map { Swift.abs($0 - $1) }.max() ?? 0, b.map(Swift.abs).max() ?? 0)
}

@Suite struct AttentionTests {
    /// The fused forward pass and its gradients of q, k and v equal the composed reference
    /// (computed in fp64) on every backend.
    @Test(arguments: AttentionBackends.names, AttentionCase.all)
    func fusedAttentionMatchesTheComposedReference(_ backendName: String, _ c: AttentionCase) throws {
        let backend = try AttentionBackends.backend(backendName)
        let x = c.inputs()
        let want = try runAttention(c, on: TensorBackends.reference, inputs: x, fused: false)
        let got = try runAttention(c, on: backend, inputs: x, fused: true)
        // fp64 agrees to rounding; fp32 to a margin scaled by the values' magnitude.
        let fp64 = (backend as? CPUBackend)?.precision == .float64
        let tolerance = fp64 ? 1e-12 : 1e-5
        for (what, a, b) in [("output", got.output, want.output), ("dq", got.grads[0], want.grads[0]),
                             ("dk", got.grads[1], want.grads[1]), ("dv", got.grads[2], want.grads[2])] {
            let (error, scale) = maxError(a, b)
            #expect(error <= tolerance * Swift.max(scale, 1), "\(c) on \(backendName): \(what) max error \(error) (scale \(scale))")
        }
        if let lengths = c.lengths, let empty = lengths.firstIndex(of: 0) {
            // A batch entry that sees no key: output 0 and no gradient to its queries.
            let rows = c.heads * c.queries * c.headSize, start = empty * rows
            #expect(got.output[start ..< start + rows].allSatisfy { $0 == 0 }, "\(c) on \(backendName): a query with no key outputs 0")
            #expect(got.grads[0][start ..< start + rows].allSatisfy { $0 == 0 }, "\(c) on \(backendName): a query with no key gets no gradient")
        }
    }

    /// The backend call's log-sum-exp is log Σ_j exp(scale·q·k_j) over the visible keys, and
    /// −∞ (with output 0) for a query that sees none.
    @Test(arguments: AttentionBackends.names)
    func logSumExpCoversTheVisibleKeys(_ backendName: String) throws {
        let backend = try AttentionBackends.backend(backendName)
        let c = AttentionCase(batch: 2, heads: 1, queries: 9, keys: 11, headSize: 6, causal: true, lengths: [4, 0])
        let x = c.inputs(seed: 5)
        let g = AttentionGeometry(batch: 2, heads: 1, queryLength: 9, keyLength: 11, headSize: 6, causal: true)
        let q = try tensor(x[0], c.queryShape, on: backend), k = try tensor(x[1], c.keyShape, on: backend)
        let v = try tensor(x[2], c.keyShape, on: backend), lengths = try Tensor([4, 0], shape: [2], on: backend)
        let out = try backend.makeBuffer(count: g.queryCount), lse = try backend.makeBuffer(count: g.rowCount)
        try backend.attention(g, q: q.storage, k: k.storage, v: v.storage, keyLengths: lengths.storage, output: out, logSumExp: lse)
        let got = try backend.read(lse), outputs = try backend.read(out)
        for b in 0 ..< 2 {
            for i in 0 ..< 9 {
                let row = b * 9 + i, visible = min(b == 0 ? 4 : 0, i + 1)
                if visible == 0 {
                    #expect(got[row] == -.infinity, "\(backendName): row \(row) sees no key, lse \(got[row])")
                    #expect(outputs[row * 6 ..< row * 6 + 6].allSatisfy { $0 == 0 })
                    continue
                }
                let scores: [Double] = (0 ..< visible).map { j in
                    Double(g.scale) * dot(x[0][(row * 6) ..< (row * 6 + 6)], x[1][((b * 11 + j) * 6) ..< ((b * 11 + j) * 6 + 6)])
                }
                let peak = scores.max()!
                let want = peak + Foundation.log(scores.map { Foundation.exp($0 - peak) }.reduce(0, +))
                #expect(Swift.abs(Double(got[row]) - want) <= 1e-5 * Swift.max(1, Swift.abs(want)), "\(backendName): row \(row) lse \(got[row]) vs \(want)")
            }
        }
    }

    /// No keys at all (Nk = 0): every query outputs 0 and gets no gradient, on every backend.
    @Test(arguments: AttentionBackends.names)
    func noKeysGiveZeroOutputs(_ backendName: String) throws {
        let backend = try AttentionBackends.backend(backendName)
        let q = try Tensor.ones([2, 1, 3, 4], on: backend, requiresGrad: true)
        let k = try Tensor.zeros([2, 1, 0, 4], on: backend, requiresGrad: true)
        let out = try q.scaledDotProductAttention(key: k, value: k, causal: true)
        #expect(out.shape == [2, 1, 3, 4])
        #expect(try out.array().allSatisfy { $0 == 0 }, "\(backendName)")
        try out.sum().backward()
        #expect(try q.grad?.array().allSatisfy { $0 == 0 } == true, "\(backendName)")
    }

    /// The fused op's gradients in fp64 equal central finite differences of its own forward pass.
    @Test func gradientsMatchFiniteDifferencesInDouble() throws {
        let c = AttentionCase(batch: 2, heads: 1, queries: 4, keys: 5, headSize: 3, causal: true, lengths: [5, 2], scale: 0.8)
        let x = c.inputs(seed: 3)
        let base = try runAttention(c, on: TensorBackends.reference, inputs: x, fused: true)
        let h = 1e-6
        for (input, values) in x.enumerated() {
            #expect(base.grads[input].contains { $0 != 0 }, "input \(input) got no gradient")
            for j in values.indices {
                var plus = x, minus = x
                plus[input][j] += h
                minus[input][j] -= h
                let numeric = (try runAttention(c, on: TensorBackends.reference, inputs: plus, fused: true).scalar
                    - runAttention(c, on: TensorBackends.reference, inputs: minus, fused: true).scalar) / (2 * h)
                let analytic = base.grads[input][j]
                #expect(Swift.abs(numeric - analytic) <= 1e-6 * (1 + Swift.abs(analytic)),
                        "input \(input)[\(j)]: finite difference \(numeric), autograd \(analytic)")
            }
        }
    }

    /// The fast CPU path splits one head's query blocks over threads when there are fewer heads
    /// than threads (dk, dv summed from per-chunk partials): same result as the reference, and
    /// the same bits on every run.
    @Test func fastCPUPathSplitsAHeadOverThreadsDeterministically() throws {
        let backend = CPUBackend(threads: 4)
        let c = AttentionCase(batch: 1, heads: 1, queries: 300, keys: 260, headSize: 32, lengths: [250])
        let x = c.inputs(seed: 8)
        let want = try runAttention(c, on: TensorBackends.reference, inputs: x, fused: false)
        let first = try runAttention(c, on: backend, inputs: x, fused: true)
        let second = try runAttention(c, on: backend, inputs: x, fused: true)
        for (what, a, b) in [("output", first.output, want.output), ("dq", first.grads[0], want.grads[0]),
                             ("dk", first.grads[1], want.grads[1]), ("dv", first.grads[2], want.grads[2])] {
            let (error, scale) = maxError(a, b)
            #expect(error <= 2e-5 * Swift.max(scale, 1), "\(what) max error \(error) (scale \(scale))")
        }
        #expect(first.grads == second.grads && first.output == second.output, "two runs differ")
    }

    /// OpenCL's backward pass is deterministic (no atomics): two runs give the same bits.
    @Test func openCLBackwardIsDeterministic() throws {
        guard openCLAvailable() else { return }
        for name in TensorBackends.names where name != "cpu" {
            let backend = try TensorBackends.backend(name)
            let c = AttentionCase(batch: 1, heads: 2, queries: 129, keys: 129, headSize: 32, causal: true)
            let x = c.inputs(seed: 9)
            let first = try runAttention(c, on: backend, inputs: x, fused: true)
            let second = try runAttention(c, on: backend, inputs: x, fused: true)
            #expect(first.grads == second.grads, "\(name): two backward runs differ")
        }
    }

    /// The OpenCL forward pass at N = 4096 holds O(N·d) device memory beyond its inputs, not the
    /// N×N scores (which the composed op, the control, does allocate); sampled rows are exact.
    @Test func openCLForwardMemoryGrowsWithNTimesD() throws {
        guard openCLAvailable(), let info = OpenCLInventory.shared.devices.first else { return }
        // A backend of its own: other tests running in parallel must not move its counters.
        let device = try OpenCLBackend(info)
        let (n, d) = (4096, 64)
        var random = SeededRandom(seed: 21)
        let values = (0 ..< 3).map { _ in random.uniformArray(n * d, -1, 1) }
        let q = try Tensor(values[0], shape: [1, 1, n, d], on: device)
        let k = try Tensor(values[1], shape: [1, 1, n, d], on: device)
        let v = try Tensor(values[2], shape: [1, 1, n, d], on: device)
        try device.synchronize()
        let before = device.allocatedBytes
        device.resetPeakAllocatedBytes()
        let out = try Autograd.noGrad { try q.scaledDotProductAttention(key: k, value: v, causal: true) }
        try device.synchronize()
        let growth = device.peakAllocatedBytes - before
        // Output (N·d) and log-sum-exp (N): 1 MiB + 16 KiB; the scores would be 64 MiB.
        #expect(growth <= (n * d + n) * 4 + 4096, "forward grew device memory by \(growth) bytes")
        #expect(growth < n * n * 4 / 32)
        let got = try out.array()
        let (qs, ks, vs) = (values[0].map(Double.init), values[1].map(Double.init), values[2].map(Double.init))
        for i in [0, 1, 777, n - 1] {
            let scores: [Double] = (0 ... i).map { j in dot(qs[(i * d) ..< (i * d + d)], ks[(j * d) ..< (j * d + d)]) / 8 }
            let peak = scores.max()!
            let weights: [Double] = scores.map { Foundation.exp($0 - peak) }
            let total = weights.reduce(0, +)
            for c in [0, 17, d - 1] {
                var want = 0.0
                for j in 0 ... i { want += weights[j] * vs[j * d + c] }
                want /= total
                #expect(Swift.abs(Double(got[i * d + c]) - want) <= 1e-4, "row \(i) column \(c): \(got[i * d + c]) vs \(want)")
            }
        }
        // The control: composing the same attention allocates the 1024×1024 scores (and more).
        let m = 1024
        let small = try Tensor(Array(values[0].prefix(m * d)), shape: [1, 1, m, d], on: device)
        try device.synchronize()
        let beforeComposed = device.allocatedBytes
        device.resetPeakAllocatedBytes()
        _ = try Autograd.noGrad { try small.composedAttention(key: small, value: small) }
        try device.synchronize()
        #expect(device.peakAllocatedBytes - beforeComposed >= m * m * 4, "the ledger missed the composed op's score matrix")
    }

    /// Wrong shapes are errors that name the operation and the shapes.
    @Test func badShapesAreClearErrors() throws {
        let backend = TensorBackends.cpu
        let q = try Tensor.zeros([2, 3, 5, 8], on: backend), k = try Tensor.zeros([2, 3, 7, 8], on: backend)
        func expectMismatch(_ needle: String, _ body: () throws -> Tensor) {
            #expect { _ = try body() } throws: { error in
                guard case let ScalpelError.shapeMismatch(op, detail) = error else { return false }
                return op == "scaledDotProductAttention" && detail.contains(needle)
            }
        }
        expectMismatch("must be (batch, heads, queries, head size)") { try q.reshaped([6, 5, 8]).scaledDotProductAttention(key: k, value: k) }
        expectMismatch("key [2, 3, 7, 4]") { try q.scaledDotProductAttention(key: try k.slice(axis: 3, 0 ..< 4), value: k) }
        expectMismatch("value [2, 3, 6, 8]") { try q.scaledDotProductAttention(key: k, value: try k.slice(axis: 2, 0 ..< 6)) }
        expectMismatch("keyLengths [3]") { try q.scaledDotProductAttention(key: k, value: k, keyLengths: try Tensor.zeros([3], on: backend)) }
        #expect { _ = try q.composedAttention(key: q.reshaped([2, 3, 8, 5]), value: k) } throws: { "\($0)".contains("composedAttention") }
        #expect { _ = try q.attentionProbabilities(key: q.reshaped([3, 2, 5, 8])) } throws: { "\($0)".contains("attentionProbabilities") }
    }

    /// attentionProbabilities gives the softmax weights: rows sum to 1 over the visible keys
    /// and are 0 elsewhere (a zero row for a query that sees no key), and weights · v is the output.
    @Test func attentionProbabilitiesAreTheWeights() throws {
        let backend = TensorBackends.cpu
        let c = AttentionCase(batch: 2, heads: 2, queries: 5, keys: 6, headSize: 4, causal: true, lengths: [3, 0])
        let x = c.inputs(seed: 2)
        let q = try tensor(x[0], c.queryShape, on: backend), k = try tensor(x[1], c.keyShape, on: backend), v = try tensor(x[2], c.keyShape, on: backend)
        let lengths = try Tensor([3, 0], shape: [2], on: backend)
        let p = try q.attentionProbabilities(key: k, keyLengths: lengths, causal: true)
        #expect(p.shape == [2, 2, 5, 6])
        let weights = try p.array()
        for b in 0 ..< 2 {
            for h in 0 ..< 2 {
                for i in 0 ..< 5 {
                    let row = Array(weights[(((b * 2 + h) * 5 + i) * 6) ..< (((b * 2 + h) * 5 + i) * 6 + 6)])
                    let visible = min(b == 0 ? 3 : 0, i + 1)
                    #expect(row[visible...].allSatisfy { $0 == 0 }, "masked weights of row \(i) are not 0: \(row)")
                    let total = row.reduce(0, +)
                    #expect(Swift.abs(total - (visible > 0 ? 1 : 0)) < 1e-5, "row \(i) sums to \(total)")
                }
            }
        }
        let fused = try q.scaledDotProductAttention(key: k, value: v, keyLengths: lengths, causal: true).array()
        let composed = try p.matmul(v).array()
        #expect(zip(fused, composed).allSatisfy { Swift.abs($0 - $1) < 1e-5 })
    }
}

@Suite struct AttentionBenchCommandTests {
    /// `scalpel bench attention` times each pass of each implementation and reports memory;
    /// a malformed shape is a usage error.
    @Test func benchAttentionReportsEveryPassAndRejectsBadShapes() throws {
        let run = try runScalpel(["bench", "attention", "--device", "cpu", "--shapes", "2x2x16x8", "--implementation", "all", "--samples", "1"])
        #expect(run.status == 0, "\(run.stderr)")
        for line in ["2x2x16x8 fused forward on cpu", "2x2x16x8 fused forward+backward on cpu", "2x2x16x8 composed forward on cpu",
                     "2x2x16x8 composed forward+backward on cpu"] {
            #expect(run.stdout.contains(line), "missing '\(line)' in:\n\(run.stdout)")
        }
        let bad = try runScalpel(["bench", "attention", "--device", "cpu", "--shapes", "2x2x16", "--samples", "1"])
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("is not BxHxNxD"), "\(bad.stderr)")
    }
}

@Suite struct AttentionLifetimeTests {
    /// The fused op's output, its saved log-sum-exp and its graph are freed once the caller lets
    /// go: the backward closure holds the output's storage, never the output.
    @Test func outputIsFreedAfterBackward() throws {
        weak var output: Tensor?
        weak var storage: (any DeviceBuffer)?
        weak var query: Tensor?
        try {
            var random = SeededRandom(seed: 4)
            let q = try Tensor(random.uniformArray(2 * 2 * 5 * 4), shape: [2, 2, 5, 4], on: TensorBackends.cpu, requiresGrad: true)
            let k = try Tensor(random.uniformArray(2 * 2 * 6 * 4), shape: [2, 2, 6, 4], on: TensorBackends.cpu, requiresGrad: true)
            let lengths = try Tensor([6, 2], shape: [2], on: TensorBackends.cpu)
            let out = try q.scaledDotProductAttention(key: k, value: k, keyLengths: lengths, causal: true)
            output = out
            storage = out.storage
            query = q
            try out.sum().backward()
            #expect(q.grad != nil && k.grad != nil)
        }()
        #expect(output == nil, "the output outlives its graph")
        #expect(storage == nil, "the output's memory outlives its graph")
        #expect(query == nil, "the query outlives its graph")
    }
}
