import ScalpelCore
import ScalpelTensor

extension KernelCases {
    /// Gather and scatter-add: indexSelect with repeated indices (whose gradients add up) on
    /// an outer, a middle and the last axis, and the raw kernels at a size no work-group divides.
    public static let gather: [KernelCase] = [
        .tensor(.gather, "indexSelect axis 0", [[4, 3]], kernels: ["gather", "scatter_add", "fill"], quick: true) { x in
            try x[0].indexSelect(axis: 0, try Tensor([3, 0, 3, 1], shape: [4], on: x[0].backend))
        },
        .tensor(.gather, "indexSelect axis 1", [[2, 5, 3]], kernels: ["gather", "scatter_add", "fill"]) { x in
            try x[0].indexSelect(axis: 1, try Tensor([4, 4, 0, 2, 4, 1], shape: [2, 3], on: x[0].backend))
        },
        .tensor(.gather, "indexSelect last axis", [[3, 7]], kernels: ["gather", "scatter_add", "fill"]) { x in
            try x[0].indexSelect(axis: 1, try Tensor([6, 0, 6, 6, 2], shape: [5], on: x[0].backend))
        },
        .buffers(.gather, "gather, scatterAdd", shape: "outer 3, axis 257, inner 5, 301 indices", kernels: ["gather", "scatter_add"]) { backend in
            let (outer, axis, inner, count) = (3, 257, 5, 301)
            var random = SeededRandom(seed: 61)
            let index = try backend.makeBuffer((0 ..< count).map { Float(($0 * 37 + ($0 % 3) * 11) % axis) })
            let x = try backend.makeBuffer(random.uniformArray(outer * axis * inner))
            let out = try backend.makeBuffer(count: outer * count * inner)
            try backend.gather(x: x, index: index, out: out, outer: outer, axis: axis, inner: inner, count: count)
            let dy = try backend.makeBuffer(random.uniformArray(outer * count * inner))
            // scatterAdd adds to what dx holds.
            let dx = try backend.makeBuffer(random.uniformArray(outer * axis * inner))
            try backend.scatterAdd(dy: dy, index: index, dx: dx, outer: outer, axis: axis, inner: inner, count: count)
            return [KernelOutput("gathered", try doubles(out, on: backend)), KernelOutput("scattered", try doubles(dx, on: backend))]
        },
    ]
}
