import ScalpelCore
import ScalpelTensor

extension KernelCases {
    /// Max and average pooling with and without padding, strides below the kernel, even sizes
    /// (the fast CPU backend's own 2×2 path, and the device's per-window backward kernel, ties
    /// included), and more outputs than a work-group.
    public static let pooling: [KernelCase] = [
        .tensor(.pooling, "maxPool2d 2×2", [[2, 3, 6, 5]], kernels: ["pool2d", "pool2d_backward"], quick: true) { try $0[0].maxPool2d(kernel: (2, 2)) },
        .tensor(.pooling, "maxPool2d 2×2, windows tiling the input", [[2, 3, 8, 10]], kernels: ["pool2d_tiles", "pool2d_backward_tiles"], quick: true) {
            try $0[0].maxPool2d(kernel: (2, 2))
        },
        .tensor(.pooling, "maxPool2d 2×2, windows tiling the input, rows of more than eight", [[2, 3, 4, 38]], kernels: ["pool2d_tiles", "pool2d_backward_tiles"]) {
            try $0[0].maxPool2d(kernel: (2, 2))
        },
        maxPoolTies(height: 4, width: 6, seed: 73, "maxPool2d 2×2 backward, ties, windows tiling the input"),
        maxPoolTies(height: 6, width: 38, seed: 74, "maxPool2d 2×2 backward, ties, windows tiling the input, rows of more than eight"),
        .tensor(.pooling, "avgPool2d 3×3, windows tiling the input", [[2, 2, 9, 6]], kernels: ["pool2d_tiles", "pool2d_backward_tiles"]) {
            try $0[0].avgPool2d(kernel: (3, 3))
        },
        .tensor(.pooling, "maxPool2d 3×3 stride 2 pad 1", [[2, 2, 7, 7]], kernels: ["pool2d", "pool2d_backward"]) {
            try $0[0].maxPool2d(kernel: (3, 3), stride: (2, 2), padding: (1, 1))
        },
        .tensor(.pooling, "maxPool2d 3×3 stride 2 pad 1", [[2, 4, 17, 15]], kernels: ["pool2d", "pool2d_backward"]) {
            try $0[0].maxPool2d(kernel: (3, 3), stride: (2, 2), padding: (1, 1))
        },
        .tensor(.pooling, "maxPool2d 2×3 stride 1", [[1, 3, 5, 8]], kernels: ["pool2d", "pool2d_backward"]) {
            try $0[0].maxPool2d(kernel: (2, 3), stride: (1, 1))
        },
        .tensor(.pooling, "avgPool2d 3×3 stride 2 pad 1", [[2, 2, 7, 6]], kernels: ["pool2d", "pool2d_backward"], quick: true) {
            try $0[0].avgPool2d(kernel: (3, 3), stride: (2, 2), padding: (1, 1))
        },
        .tensor(.pooling, "avgPool2d 2×2", [[2, 3, 33, 65]], kernels: ["pool2d", "pool2d_backward"]) { try $0[0].avgPool2d(kernel: (2, 2)) },
    ]

    /// Ties have no derivative, so this case compares the backends' gradients directly: values
    /// on a coarse grid, so that most windows hold their maximum twice or more and the gradient
    /// must go to the first, as the forward pass took it.
    static func maxPoolTies(height: Int, width: Int, seed: UInt64, _ name: String) -> KernelCase {
        .buffers(.pooling, name, shape: "2×3×\(height)×\(width)", kernels: ["pool2d_tiles", "pool2d_backward_tiles"]) { backend in
            let g = Pool2dGeometry(batch: 2, channels: 3, height: height, width: width, kernel: (2, 2), stride: (2, 2), padding: (0, 0))
            var random = SeededRandom(seed: seed)
            let count = 2 * 3 * height * width, outCount = 2 * 3 * (height / 2) * (width / 2)
            let x = try backend.makeBuffer(random.uniformArray(count, -1, 1).map { $0 > 0 ? 1 : 0 })
            let y = try backend.makeBuffer(count: outCount), dy = try backend.makeBuffer(random.uniformArray(outCount, -1, 1))
            let dx = try backend.makeBuffer(count: count)
            try backend.pool2d(g, max: true, input: x, output: y)
            try backend.pool2dBackward(g, max: true, input: x, output: y, gradOutput: dy, gradInput: dx)
            return [KernelOutput("output", try doubles(y, on: backend)), KernelOutput("d input", try doubles(dx, on: backend))]
        }
    }
}
