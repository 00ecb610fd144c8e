import ScalpelCore
import ScalpelCPU
import ScalpelTestSupport
import Testing

/// Large element-wise passes, im2col and col2im split over the CPU backend's worker threads:
/// the parts must cover every element once, tails included, and give the one-thread result bit
/// for bit.
struct ThreadedElementwiseTests {
    /// Above the splitting threshold, odd, so that the parts end off a vector boundary.
    static let count = 100_003
    static let two = CPUBackend(threads: 2), one = CPUBackend(threads: 1)

    static func values(_ n: Int, seed: UInt64) -> [Float] {
        var generator = SeededRandom(seed: seed)
        return (0 ..< n).map { _ in Float(Int(generator.next() % 20001) - 10000) / 2500 }
    }

    /// Runs `body` on a backend with inputs `inputs` and an output of `outputCount`, returning the output.
    static func run(_ backend: CPUBackend, _ inputs: [[Float]], outputCount: Int, initial: [Float]? = nil,
                    _ body: (CPUBackend, [any DeviceBuffer], any DeviceBuffer) throws -> Void) throws -> [Float] {
        let buffers = try inputs.map { try backend.makeBuffer($0) }
        let out = try backend.makeBuffer(initial ?? [Float](repeating: .nan, count: outputCount))
        try body(backend, buffers, out)
        return try backend.read(out)
    }

    @Test(arguments: [UnaryOp.relu, .gelu, .sigmoid, .exp])
    func unaryAndItsBackwardMatchOneThread(_ op: UnaryOp) throws {
        let x = Self.values(Self.count, seed: 1), dy = Self.values(Self.count, seed: 2)
        let forward = { (b: CPUBackend) in
            try Self.run(b, [x], outputCount: Self.count) { b, i, y in try b.unary(op, x: i[0], y: y, count: Self.count) }
        }
        let y = try forward(Self.one)
        #expect(try forward(Self.two) == y)
        #expect(!y.contains { $0.isNaN }, "every element written")
        let backward = { (b: CPUBackend) in
            try Self.run(b, [x, y, dy], outputCount: Self.count) { b, i, dx in
                try b.unaryBackward(op, x: i[0], y: i[1], dy: i[2], dx: dx, count: Self.count)
            }
        }
        let dx = try backward(Self.one)
        #expect(try backward(Self.two) == dx)
        #expect(!dx.contains { $0.isNaN })
        // And the reference kernels agree.
        if op == .relu { #expect(y == x.map { max($0, 0) }) }
    }

    @Test(arguments: [BinaryOp.add, .sub, .mul, .div])
    func denseAndBroadcastArithmeticMatchOneThread(_ op: BinaryOp) throws {
        let rows = 1563, cols = 64  // 100,032 elements: rows split over the threads
        let a = Self.values(rows * cols, seed: 3), b = Self.values(rows * cols, seed: 4).map { $0 == 0 ? 1 : $0 }
        let bias = Self.values(cols, seed: 5).map { $0 == 0 ? 1 : $0 }
        for (shapeA, shapeB, left, right) in [([rows, cols], [rows, cols], a, b), ([rows, cols], [cols], a, bias), ([cols], [rows, cols], bias, b)] {
            let layout = try BroadcastLayout(shapeA, shapeB, op: op.rawValue)
            let compute = { (backend: CPUBackend) in
                try Self.run(backend, [left, right], outputCount: layout.count) { backend, i, out in
                    try backend.binary(op, a: i[0], b: i[1], out: out, layout: layout)
                }
            }
            let single = try compute(Self.one)
            #expect(try compute(Self.two) == single, "\(op) \(shapeA) \(shapeB)")
            #expect(!single.contains { $0.isNaN })
            // Spot-check against the definition.
            for index in [0, 7, 4095, layout.count - 1] {
                let (r, c) = (index / cols, index % cols)
                let l = shapeA.count == 1 ? left[c] : left[r * cols + c], rr = shapeB.count == 1 ? right[c] : right[r * cols + c]
                let expected: Float = switch op { case .add: l + rr; case .sub: l - rr; case .mul: l * rr; default: l / rr }
                #expect(single[index] == expected, "\(op) at \(index)")
            }
        }
    }

    @Test func axpbyMatchesOneThread() throws {
        let x = Self.values(Self.count, seed: 6), y = Self.values(Self.count, seed: 7)
        let compute = { (b: CPUBackend) in
            try Self.run(b, [x], outputCount: Self.count, initial: y) { b, i, out in
                try b.axpby(alpha: 0.5, x: i[0], beta: -2, y: out, count: Self.count)
            }
        }
        let single = try compute(Self.one)
        #expect(try compute(Self.two) == single)
        // Spelled out: Swift 6.2 gives up type-checking the one-expression form.
        let firstWrong = single.indices.first { index in
            let expected: Float = 0.5 * x[index] - 2 * y[index]
            let tolerance: Float = 1e-5 * max(1, abs(expected))
            return abs(single[index] - expected) > tolerance
        }
        #expect(firstWrong == nil, "axpby differs from 0.5 x - 2 y at \(firstWrong ?? -1)")
    }

    @Test(arguments: [(3, 1, 1, 1), (3, 2, 1, 1), (5, 1, 2, 2), (1, 2, 0, 1)])
    func im2colAndCol2imSplitByChannelMatchOneThread(_ kernel: Int, _ stride: Int, _ padding: Int, _ dilation: Int) throws {
        // 13 channels: the parts end inside no channel, and the threshold is passed.
        let g = Conv2dGeometry(batch: 10, inChannels: 13, height: 33, width: 31, outChannels: 8, kernel: (kernel, kernel),
                               stride: (stride, stride), padding: (padding, padding), dilation: (dilation, dilation))
        try g.validate()
        #expect(g.columnRows * g.columnCount >= 32768)
        let input = Self.values(g.batch * g.inChannels * g.height * g.width, seed: 8)
        let im2col = { (b: CPUBackend) in
            try Self.run(b, [input], outputCount: g.columnRows * g.columnCount) { b, i, columns in
                try b.im2col(g, input: i[0], offset: 0, columns: columns)
            }
        }
        let columns = try im2col(Self.one)
        #expect(try im2col(Self.two) == columns)
        #expect(!columns.contains { $0.isNaN })
        let col2im = { (b: CPUBackend) in
            try Self.run(b, [columns], outputCount: input.count) { b, i, gradInput in
                try b.col2im(g, columns: i[0], gradInput: gradInput, offset: 0)
            }
        }
        let gradInput = try col2im(Self.one)
        #expect(try col2im(Self.two) == gradInput)
        #expect(!gradInput.contains { $0.isNaN })
        // The reference backend (plain loops, one thread) agrees.
        let reference = try Self.run(CPUBackend(kernels: .reference), [columns], outputCount: input.count) { b, i, out in
            try b.col2im(g, columns: i[0], gradInput: out, offset: 0)
        }
        #expect(reference == gradInput)
    }

    /// Reductions split over the threads by outer slice, or by output position when there is one
    /// slice: every output element written, and the one-thread result bit for bit.
    @Test(arguments: [ReduceOp.sum, .sumOfSquares, .max, .argmax])
    func reductionsMatchOneThread(_ op: ReduceOp) throws {
        // (outer, axis, inner): many slices; one slice of many positions (the SIMD sum's
        // 16-column strips end off a strip boundary); one slice of few positions (the plain loop).
        for (outer, axis, inner) in [(37, 41, 67), (1, 131, 1003), (1, 50_021, 3)] {
            let x = Self.values(outer * axis * inner, seed: UInt64(outer + inner))
            let compute = { (backend: CPUBackend) in
                try Self.run(backend, [x], outputCount: outer * inner) { backend, i, out in
                    try backend.reduce(op, x: i[0], out: out, outer: outer, axis: axis, inner: inner)
                }
            }
            let one = try compute(Self.one)
            #expect(try compute(Self.two) == one, "\(op) \(outer)×\(axis)×\(inner)")
            #expect(!one.contains { $0.isNaN }, "every output written")
        }
    }
}
