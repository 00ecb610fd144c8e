import ScalpelCore
import ScalpelTensor

extension KernelCases {
    /// The algorithms a backend may pick for a convolution, each forced in turn (on every
    /// pass it can compute).
    public static let convolutionAlgorithms: [ConvAlgorithm] = [.im2colGEMM, .direct, .implicitGEMM, .winograd]

    /// Whether `convolutionAlgorithms` holds `algorithm`: a switch, so that an algorithm added
    /// to `ConvAlgorithm` does not compile until it is listed here (and so checked).
    static func isChecked(_ algorithm: ConvAlgorithm) -> Bool {
        switch algorithm {
        case .im2colGEMM, .direct, .implicitGEMM, .winograd: convolutionAlgorithms.contains(algorithm)
        }
    }

    /// One convolution geometry of the table: the input and weight shapes, and the options.
    struct ConvShape: Sendable {
        var input: [Int]
        var weight: [Int]
        var bias = false
        var stride = (1, 1)
        var padding = (0, 0)
        var dilation = (1, 1)
        var groups = 1
        /// Floats of column matrix per chunk of images (1: one image per chunk; nil: the backend's).
        var columnBudget: Int? = nil
        var quick = false

        var text: String {
            var parts = ["\(shapeText(input)) ⊛ \(shapeText(weight))"]
            if bias { parts.append("bias") }
            if stride != (1, 1) { parts.append("stride \(stride.0),\(stride.1)") }
            if padding != (0, 0) { parts.append("pad \(padding.0),\(padding.1)") }
            if dilation != (1, 1) { parts.append("dilation \(dilation.0),\(dilation.1)") }
            if groups != 1 { parts.append("groups \(groups)") }
            if columnBudget == 1 { parts.append("one image per chunk") }
            return parts.joined(separator: " ")
        }
    }

    /// Sizes around the edges: 1×1 kernels, large kernels with stride and padding, dilation,
    /// odd extents, groups and depthwise, chunked images, and one layer with more outputs than
    /// a work-group.
    static let convolutionShapes: [ConvShape] = [
        ConvShape(input: [2, 3, 5, 6], weight: [4, 3, 3, 3], bias: true, padding: (1, 1), quick: true),
        ConvShape(input: [2, 5, 3, 4], weight: [3, 5, 1, 1]),
        ConvShape(input: [3, 2, 4, 5], weight: [4, 1, 3, 3], bias: true, padding: (1, 1), groups: 2, columnBudget: 1),
        ConvShape(input: [1, 2, 9, 7], weight: [3, 2, 7, 7], stride: (2, 2), padding: (3, 3)),
        ConvShape(input: [2, 2, 9, 8], weight: [3, 2, 3, 2], stride: (2, 1), padding: (1, 2), dilation: (2, 2)),
        ConvShape(input: [2, 4, 5, 5], weight: [6, 2, 3, 3], bias: true, padding: (1, 1), groups: 2),
        ConvShape(input: [2, 3, 6, 5], weight: [3, 1, 3, 3], stride: (2, 2), padding: (1, 1), groups: 3),
        ConvShape(input: [2, 1, 9, 7], weight: [5, 1, 3, 3], padding: (1, 1)),
        ConvShape(input: [1, 4, 8, 8], weight: [6, 2, 3, 2], stride: (2, 1), padding: (1, 0), dilation: (1, 2), groups: 2),
        ConvShape(input: [3, 3, 5, 6], weight: [3, 1, 1, 1], groups: 3),
        ConvShape(input: [2, 8, 17, 19], weight: [16, 8, 3, 3], bias: true, padding: (1, 1)),
        // Winograd's edges: no padding and padding 2 (the input gradient then has 2 and 0), an
        // odd output, a row of more than eight tiles, and its column path past a 3×3 window.
        ConvShape(input: [2, 3, 12, 21], weight: [5, 3, 3, 3], bias: true, padding: (2, 0)),
        ConvShape(input: [1, 4, 7, 36], weight: [3, 4, 3, 3], padding: (0, 2)),
        // The CPU's direct weight gradient of wide layers: 16 input channels, planes of more
        // than 196 positions, five output channels (a group of three and two left over).
        ConvShape(input: [2, 16, 15, 14], weight: [5, 16, 3, 3], bias: true, padding: (1, 1)),
        // The CPU's shifted layout at stride 2: an odd height (the last phase row past the
        // image) and an even width, seven output channels (a micro-kernel panel and one more).
        ConvShape(input: [2, 5, 13, 14], weight: [7, 5, 3, 3], bias: true, stride: (2, 2), padding: (1, 1)),
    ]

    /// The OpenCL kernels a convolution launches with `algorithm` forced: its forward kernels,
    /// then those of the backward passes (im2col + GEMM's for `direct`).
    static func convolutionKernels(_ algorithm: ConvAlgorithm) -> [String] {
        switch algorithm {
        case .im2colGEMM: ["im2col_rows", "col2im_rows", "copy_strided"]
        case .direct: ["conv2d_direct", "im2col_rows", "col2im_rows", "copy_strided"]
        case .implicitGEMM: implicitGEMMKernels
        case .winograd: []
        }
    }

    /// The implicit-GEMM kernels of the three passes (one name per pass in both the packed and
    /// the tiled family; `SCALPEL_CONV_VARIANT` picks the family on any device).
    static let implicitGEMMKernels = ["conv_igemm_forward", "conv_igemm_backward_data", "conv_igemm_backward_weight"]

    /// The name of the table's cases that force `algorithm`.
    public static func convolutionCaseName(_ algorithm: ConvAlgorithm) -> String {
        switch algorithm {
        case .im2colGEMM: "conv2d im2col+GEMM"
        case .direct: "conv2d direct"
        case .implicitGEMM: "conv2d implicit GEMM"
        case .winograd: "conv2d Winograd"
        }
    }

    /// Every geometry with every algorithm forced on all three passes: forward, backward-data
    /// (the gradient of the input) and backward-weight, and the bias gradient. Then im2col's and
    /// col2im's bounds-checked kernels (rows wider than a work-group), implicit GEMM where the
    /// weight gradient's N·OH·OW sum is split over work-groups on every device (summed again by
    /// conv_igemm_sum_splits), and the ReLU (in implicit GEMM's epilogue, after the column path).
    public static let convolution: [KernelCase] = convolutionShapes.flatMap { s in
        convolutionAlgorithms.map { algorithm in
            var testCase = KernelCase.tensor(.convolution, convolutionCaseName(algorithm), [s.input, s.weight] + (s.bias ? [[s.weight[0]]] : []),
                                             shape: s.text, inputNames: ["input", "weight", "bias"], kernels: convolutionKernels(algorithm),
                                             quick: s.quick) { x in
                try x[0].conv2d(weight: x[1], bias: s.bias ? x[2] : nil, stride: s.stride, padding: s.padding, dilation: s.dilation,
                                groups: s.groups, columnBudget: s.columnBudget, algorithm: algorithm)
            }
            // Only the CPU-Swift backend has Winograd kernels; an OpenCL device would run the
            // column path the im2col + GEMM cases check.
            testCase.cpuOnly = algorithm == .winograd
            return testCase
        }
    } + [
        // Image rows wider than any work-group: im2col's and col2im's bounds-checked kernels
        // instead of those whose work-groups tile the rows exactly.
        KernelCase.tensor(.convolution, "conv2d im2col+GEMM, rows wider than a work-group", [[1, 2, 2, 300], [2, 2, 1, 3]],
                          inputNames: ["input", "weight"], kernels: ["im2col", "col2im", "copy_strided"], quick: true) { x in
            try x[0].conv2d(weight: x[1], padding: (0, 1), algorithm: .im2colGEMM)
        },
        // 288 pixels with 3 × 18 weights: split 8 ways by the packed kernels, 4 by the tiled ones.
        KernelCase.tensor(.convolution, "conv2d implicit GEMM, split weight gradient", [[2, 2, 12, 12], [3, 2, 3, 3], [3]],
                          inputNames: ["input", "weight", "bias"], kernels: implicitGEMMKernels + ["conv_igemm_sum_splits"], quick: true) { x in
            try x[0].conv2d(weight: x[1], bias: x[2], padding: (1, 1), algorithm: .implicitGEMM)
        },
        // The tensor op with its ReLU: in the implicit-GEMM forward's store (the backward pass
        // masks the gradient by the output), or after the column path.
        KernelCase.tensor(.convolution, "conv2d implicit GEMM + ReLU", [[2, 3, 7, 6], [5, 3, 3, 3], [5]], inputNames: ["input", "weight", "bias"],
                          kernels: implicitGEMMKernels + ["unary_backward"]) { x in
            try x[0].conv2d(weight: x[1], bias: x[2], padding: (1, 1), algorithm: .implicitGEMM, relu: true)
        },
        KernelCase.tensor(.convolution, "conv2d im2col+GEMM + ReLU", [[2, 3, 7, 6], [5, 3, 3, 3], [5]], inputNames: ["input", "weight", "bias"],
                          kernels: ["im2col_rows", "col2im_rows", "copy_strided", "unary", "unary_backward"]) { x in
            try x[0].conv2d(weight: x[1], bias: x[2], padding: (1, 1), algorithm: .im2colGEMM, relu: true)
        },
        implicitReLUCase(input: [2, 3, 7, 6], weight: [5, 3, 3, 3], stride: (2, 1), padding: (1, 1), quick: true),
        implicitReLUCase(input: [1, 4, 9, 9], weight: [6, 2, 1, 1], groups: 2, quick: false),
    ]

    /// The implicit-GEMM forward kernel with bias and its ReLU epilogue, called directly; the
    /// reference computes conv, bias and ReLU apart.
    static func implicitReLUCase(input: [Int], weight: [Int], stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
                                 groups: Int = 1, quick: Bool) -> KernelCase {
        let g = Conv2dGeometry(batch: input[0], inChannels: input[1], height: input[2], width: input[3], outChannels: weight[0],
                               kernel: (weight[2], weight[3]), stride: stride, padding: padding, groups: groups)
        let shape = "\(shapeText(input)) ⊛ \(shapeText(weight)) bias ReLU" + (groups > 1 ? " groups \(groups)" : "")
        return .buffers(.convolution, "conv2d implicit GEMM forward", shape: shape, kernels: ["conv_igemm_forward"], quick: quick) { backend in
            var random = SeededRandom(seed: 47)
            let x = try backend.makeBuffer(random.uniformArray(input.reduce(1, *)))
            let w = try backend.makeBuffer(random.uniformArray(weight.reduce(1, *)))
            let b = try backend.makeBuffer(random.uniformArray(weight[0]))
            let out = try backend.makeBuffer(count: g.batch * g.outChannels * g.outHeight * g.outWidth)
            try backend.conv2dImplicitForward(g, input: x, weight: w, bias: b, relu: true, output: out)
            return [KernelOutput("forward", try doubles(out, on: backend))]
        }
    }
}
