import ScalpelCore
import ScalpelTensor

extension KernelCases {
    /// Strided copies: the shape ops built on them (their gradients are copies too), and raw
    /// copies with offsets, padded strides and the rank-8 limit.
    public static let copy: [KernelCase] = [
        .tensor(.copy, "reshape", [[3, 4]], kernels: ["binary_same"]) { try $0[0].reshaped([2, -1]) * $0[0].reshaped([2, 6]) },
        .tensor(.copy, "permute", [[2, 3, 4]], kernels: ["copy_strided"], quick: true) { try $0[0].permuted([2, 0, 1]) },
        .tensor(.copy, "permute", [[3, 5, 7, 11]], kernels: ["copy_strided"]) { try $0[0].permuted([3, 1, 0, 2]) },
        // Swapping the two outer axes of (N, C, H, W): H and W merge, three dimensions remain.
        .tensor(.copy, "permute outer axes", [[3, 5, 4, 6]], kernels: ["copy_strided"], quick: true) { try $0[0].permuted([1, 0, 2, 3]) },
        .tensor(.copy, "transpose", [[33, 65]], kernels: ["copy_strided"]) { try $0[0].transposed() },
        .tensor(.copy, "slice", [[5, 4]], kernels: ["copy_strided", "fill"]) { try $0[0].slice(axis: 0, 1 ..< 4) },
        .tensor(.copy, "slice inner axis", [[3, 9, 5]], kernels: ["copy_strided", "fill"]) { try $0[0].slice(axis: 2, 1 ..< 4) },
        .tensor(.copy, "concatenate", [[2, 3], [4, 3]], kernels: ["copy_strided"]) { try Tensor.concatenate([$0[0], $0[1]], axis: 0) },
        .tensor(.copy, "concatenate inner axis", [[2, 3, 5], [2, 1, 5], [2, 4, 5]], kernels: ["copy_strided"]) {
            try Tensor.concatenate([$0[0], $0[1], $0[2]], axis: 1)
        },
        .tensor(.copy, "expand", [[3, 1]], kernels: ["copy_strided", "reduce_axis"]) { try $0[0].expanded(to: [2, 3, 4]) },
        .buffers(.copy, "strided copy", shape: "rank 8, offsets 7 → 3, padded strides", kernels: ["copy_strided"], quick: true) { backend in
            let shape = [2, 3, 1, 2, 3, 2, 1, 3]
            let dense = BroadcastLayout.contiguousStrides(shape)
            // The source read with its first two axes swapped and every stride stretched; the
            // destination with gaps (its untouched elements must keep their values).
            var srcStrides = dense.map { $0 * 2 }
            srcStrides.swapAt(0, 1)
            let dstStrides = dense.map { $0 * 3 }
            let copy = StridedCopy(shape: shape, srcOffset: 7, srcStrides: srcStrides, dstOffset: 3, dstStrides: dstStrides)
            var random = SeededRandom(seed: 51)
            let source = try backend.makeBuffer(random.uniformArray(copy.srcExtent + 4))
            let destination = try backend.makeBuffer(random.uniformArray(copy.dstExtent + 4))
            try backend.copy(copy, from: source, to: destination)
            return [KernelOutput("destination", try doubles(destination, on: backend))]
        },
        .buffers(.copy, "strided copy", shape: "1-D, 100003 elements at stride 3", kernels: ["copy_strided"]) { backend in
            let copy = StridedCopy(shape: [100_003], srcOffset: 1, srcStrides: [3], dstStrides: [1])
            var random = SeededRandom(seed: 52)
            let source = try backend.makeBuffer(random.uniformArray(copy.srcExtent))
            let destination = try backend.makeBuffer(count: copy.count)
            try backend.copy(copy, from: source, to: destination)
            return [KernelOutput("destination", try doubles(destination, on: backend))]
        },
    ]
}
