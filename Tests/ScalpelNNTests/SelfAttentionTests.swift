import Foundation
import Scalpel
import ScalpelCPU
import ScalpelCore
import ScalpelOpenCL
import ScalpelTensor
@testable import ScalpelConformance
import ScalpelTestSupport
import Testing

/// Output, Σ w·output and the gradient of qkv of `selfAttention` (packed) or of the composition
/// it replaces (permute, slice, fused attention on contiguous operands, permute back).
func runSelfAttention(_ c: AttentionCase, on backend: any Backend, input: [Double], packed: Bool) throws -> AttentionResult {
    let qkv = try tensor(input, c.packedShape, on: backend, requiresGrad: true)
    let out = packed ? try c.selfAttention(qkv) : try c.composedSelfAttention(qkv)
    let weights = (0 ..< out.count).map { Double(($0 * 7919) % 13) / 13 - 0.4 }
    let scalar = try (out * tensor(weights, out.shape, on: backend)).sum()
    try scalar.backward()
    return AttentionResult(output: try doubles(out), scalar: try doubles(scalar)[0], grads: [try qkv.grad.map(doubles) ?? []])
}

/// Values for a (batch, L, 3·d) projection, uniform in [−1.5, 1.5) and exact in fp32.
func packedInput(_ c: AttentionCase, seed: UInt64 = 17) -> [Double] {
    var random = SeededRandom(seed: seed &+ UInt64(c.queries * 31 + c.heads * 7 + c.headSize))
    return (0 ..< c.packedShape.reduce(1, *)).map { _ in Double(Float(random.uniform(-1.5, 1.5))) }
}

@Suite struct SelfAttentionTests {
    /// Reading q, k, v in place and writing the output as (N, L, H, D) computes what the old
    /// composition did, with the same arithmetic in the same order: the same bits, forward and
    /// for the gradient of qkv, on every backend (key lengths, causal masks, odd head sizes).
    @Test(arguments: AttentionBackends.names, AttentionCase.packed)
    func packedSelfAttentionEqualsTheComposition(_ backendName: String, _ c: AttentionCase) throws {
        let backend = try AttentionBackends.backend(backendName)
        let x = packedInput(c)
        let want = try runSelfAttention(c, on: backend, input: x, packed: false)
        let got = try runSelfAttention(c, on: backend, input: x, packed: true)
        #expect(got.output == want.output, "\(c) on \(backendName): output differs by \(maxError(got.output, want.output).error)")
        #expect(got.grads[0] == want.grads[0], "\(c) on \(backendName): d qkv differs by \(maxError(got.grads[0], want.grads[0]).error)")
        #expect(got.grads[0].contains { $0 != 0 }, "\(c) on \(backendName): no gradient")
        if let lengths = c.lengths, let empty = lengths.firstIndex(of: 0) {
            // A sequence that sees no key: output 0, and its q, k, v get gradient 0 (written, not left stale).
            let width = c.heads * c.headSize, rows = c.queries
            #expect(got.output[empty * rows * width ..< (empty + 1) * rows * width].allSatisfy { $0 == 0 }, "\(c) on \(backendName)")
            #expect(got.grads[0][empty * rows * 3 * width ..< (empty + 1) * rows * 3 * width].allSatisfy { $0 == 0 }, "\(c) on \(backendName)")
        }
    }

    /// The packed op against the fp64 composed reference (softmax of the whole score matrix), so
    /// that both sides of the equality above are right.
    @Test(arguments: AttentionBackends.names)
    func packedSelfAttentionMatchesTheComposedReference(_ backendName: String) throws {
        let backend = try AttentionBackends.backend(backendName)
        let c = AttentionCase(batch: 2, heads: 3, queries: 37, keys: 37, headSize: 12, causal: true, lengths: [37, 11])
        let x = packedInput(c, seed: 4)
        let got = try runSelfAttention(c, on: backend, input: x, packed: true)
        let qkv = try tensor(x, c.packedShape, on: TensorBackends.reference, requiresGrad: true)
        let (n, length, h, d) = (c.batch, c.queries, c.heads, c.headSize)
        let split = try qkv.reshaped([n, length, 3, h, d]).permuted([2, 0, 3, 1, 4])
        let parts = try (0 ..< 3).map { try split.slice(axis: 0, $0 ..< $0 + 1).reshaped([n, h, length, d]) }
        let lengths = try Tensor(c.lengths!.map(Float.init), shape: [n], on: TensorBackends.reference)
        let out = try parts[0].composedAttention(key: parts[1], value: parts[2], keyLengths: lengths, causal: true)
            .permuted([0, 2, 1, 3]).reshaped([n, length, h * d])
        let weights = (0 ..< out.count).map { Double(($0 * 7919) % 13) / 13 - 0.4 }
        try (out * tensor(weights, out.shape, on: TensorBackends.reference)).sum().backward()
        let fp64 = (backend as? CPUBackend)?.precision == .float64
        let tolerance = fp64 ? 1e-12 : 1e-5
        for (what, a, b) in [("output", got.output, try doubles(out)), ("d qkv", got.grads[0], try doubles(try #require(qkv.grad)))] {
            let (error, scale) = maxError(a, b)
            #expect(error <= tolerance * Swift.max(scale, 1), "\(backendName): \(what) max error \(error) (scale \(scale))")
        }
    }

    /// The fast CPU path with fewer heads than threads sums dk, dv from per-chunk partials and
    /// copies them into strided rows: the same bits as the composition, run after run.
    @Test func fastCPUPathSplitsAStridedHeadOverThreads() throws {
        let backend = CPUBackend(threads: 4)
        let c = AttentionCase(batch: 1, heads: 1, queries: 300, keys: 300, headSize: 24, lengths: [250])
        let x = packedInput(c, seed: 2)
        let want = try runSelfAttention(c, on: backend, input: x, packed: false)
        let first = try runSelfAttention(c, on: backend, input: x, packed: true)
        let second = try runSelfAttention(c, on: backend, input: x, packed: true)
        #expect(first.output == want.output && first.grads == want.grads)
        #expect(first.output == second.output && first.grads == second.grads, "two runs differ")
    }

    /// The backward pass writes every element of d qkv itself (no zero fill): a gradient buffer
    /// full of NaN from earlier use comes out exactly as a fresh one.
    @Test(arguments: AttentionBackends.names)
    func backwardWritesEveryElementOfTheGradient(_ backendName: String) throws {
        let backend = try AttentionBackends.backend(backendName)
        let c = AttentionCase(batch: 2, heads: 2, queries: 9, keys: 9, headSize: 4, causal: true, lengths: [0, 5])
        let x = packedInput(c, seed: 6)
        let (n, length, d) = (c.batch, c.queries, c.heads * c.headSize)
        let g = AttentionGeometry(batch: n, heads: c.heads, queryLength: length, keyLength: length, headSize: c.headSize, causal: true,
                                  layout: .packedSelfAttention(heads: c.heads, length: length, headSize: c.headSize))
        let qkv = try tensor(x, c.packedShape, on: backend)
        let lengths = try Tensor([0, 5], shape: [n], on: backend)
        let out = try backend.makeBuffer(count: n * length * d), lse = try backend.makeBuffer(count: g.rowCount)
        try backend.attention(g, q: qkv.storage, k: qkv.storage, v: qkv.storage, keyLengths: lengths.storage, output: out, logSumExp: lse)
        let dOut = try tensor((0 ..< n * length * d).map { Double($0 % 7) / 7 - 0.5 }, [n, length, d], on: backend)
        var results: [[Double]] = []
        for stale in [Float.nan, 0] {
            let dqkv = try Tensor.full(c.packedShape, stale, on: backend)
            try backend.attentionBackward(g, q: qkv.storage, k: qkv.storage, v: qkv.storage, keyLengths: lengths.storage, output: out,
                                          logSumExp: lse, dOutput: dOut.storage, dq: dqkv.storage, dk: dqkv.storage, dv: dqkv.storage)
            results.append(try doubles(dqkv))
        }
        let written = results[0].allSatisfy { $0.isFinite }
        #expect(written, "\(backendName): an element of d qkv was left unwritten")
        #expect(results[0] == results[1], "\(backendName)")
    }

    /// When attention.cl does not build, attention runs on the CPU-Swift backend with each
    /// distinct buffer copied over and back once: with dq, dk, dv in one buffer, a copy per
    /// operand would write stale thirds back over the results (wrong gradients).
    @Test func openCLFallbackKeepsTheSharedGradientBuffer() throws {
        guard openCLAvailable() else { return }
        let folder = try editedKernels("attention.cl") { "this is not OpenCL C;\n" + $0 }
        let cache = try makeTemporaryDirectory("scalpel-cache")
        defer {
            try? FileManager.default.removeItem(at: folder)
            try? FileManager.default.removeItem(at: cache)
        }
        let run = try runScalpel(["selftest", "--quick", "--family", "attention", "--device", "cl:0:0"],
                                 environment: ["SCALPEL_KERNELS": folder.path, "XDG_CACHE_HOME": cache.path, "SCALPEL_DEVICE": nil])
        let packed = run.stdout.split(separator: "\n").filter { $0.contains("self-attention qkv") && $0.contains(" cl:") }
        #expect(!packed.isEmpty, "\(run.stdout)")
        #expect(packed.allSatisfy { $0.contains("ran on the CPU-Swift backend") && !$0.contains("wrong results") }, "\(run.stdout)")
        #expect(!run.stderr.contains("gave wrong results"), "\(run.stderr)")
    }

    /// Rows that overlap (a row stride below the head size) or a buffer too small for the
    /// layout are clear errors on every backend, before anything is written.
    @Test(arguments: AttentionBackends.names)
    func badLayoutsAreClearErrors(_ backendName: String) throws {
        let backend = try AttentionBackends.backend(backendName)
        let contiguous = AttentionRows.contiguous(heads: 1, rows: 4, width: 8)
        let overlapping = AttentionRows(batchStride: 32, headStride: 32, rowStride: 4)
        let g = AttentionGeometry(batch: 1, heads: 1, queryLength: 4, keyLength: 4, headSize: 8,
                                  layout: AttentionLayout(query: contiguous, key: contiguous, value: contiguous, output: overlapping))
        let buffers = try (0 ..< 5).map { _ in try backend.makeBuffer(count: 32) }
        #expect(throws: ScalpelError.self) {
            try backend.attention(g, q: buffers[0], k: buffers[1], v: buffers[2], keyLengths: nil, output: buffers[3], logSumExp: buffers[4])
        }
        var shifted = g
        shifted.layout = AttentionLayout(query: contiguous, key: AttentionRows(offset: 1, batchStride: 32, headStride: 32, rowStride: 8),
                                         value: contiguous, output: contiguous)
        #expect(throws: ScalpelError.self) {
            try backend.attention(shifted, q: buffers[0], k: buffers[1], v: buffers[2], keyLengths: nil, output: buffers[3], logSumExp: buffers[4])
        }
        let qkv = try Tensor.zeros([2, 5, 10], on: backend)
        #expect(throws: ScalpelError.self) { try qkv.selfAttention(heads: 3) }
        #expect(throws: ScalpelError.self) { try qkv.selfAttention(heads: 1, keyLengths: try Tensor([1, 2, 3], shape: [3], on: backend)) }
    }

    /// A geometry encoded before layouts existed decodes as contiguous, and the contiguous
    /// layout spelled out equals none.
    @Test func geometryWithoutALayoutDecodesAsContiguous() throws {
        let old = #"{"batch":2,"heads":3,"queryLength":5,"keyLength":7,"headSize":4,"scale":0.5,"causal":true}"#
        let g = try JSONDecoder().decode(AttentionGeometry.self, from: Data(old.utf8))
        #expect(g.layout == nil && g.isContiguous && g.queryExtent == g.queryCount && g.keyExtent == g.keyCount)
        var spelled = g
        spelled.layout = .contiguous(g)
        #expect(spelled.isContiguous && spelled.rows == g.rows)
        let packed = AttentionLayout.packedSelfAttention(heads: 3, length: 5, headSize: 4)
        // q, k, v of (2, 5, 36): the value's last row ends the buffer.
        #expect(packed.value.extent(batch: 2, heads: 3, rows: 5, width: 4) == 2 * 5 * 36)
        #expect(packed.output.extent(batch: 2, heads: 3, rows: 5, width: 4) == 2 * 5 * 12)
    }
}
