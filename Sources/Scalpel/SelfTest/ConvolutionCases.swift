import ScalpelCore
import ScalpelTensor

extension KernelCases {
    /// The forward algorithms a backend may pick for a convolution, each forced in turn.
    public static let convolutionAlgorithms: [ConvAlgorithm] = [.im2colGEMM, .direct]

    /// Whether `convolutionAlgorithms` holds `algorithm`: a switch, so that an algorithm added
    /// to `ConvAlgorithm` does not compile until it is listed here (and so checked).
    static func isChecked(_ algorithm: ConvAlgorithm) -> Bool {
        switch algorithm {
        case .im2colGEMM, .direct: convolutionAlgorithms.contains(algorithm)
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
        /// Floats of column matrix per chunk of images (1: one image per chunk).
        var columnBudget = 8 << 20
        var quick = false

        var text: String {
            var parts = ["\(shapeText(input)) ⊛ \(shapeText(weight))"]
            if bias { parts.append("bias") }
            if stride != (1, 1) { parts.append("stride \(stride.0),\(stride.1)") }
            if padding != (0, 0) { parts.append("pad \(padding.0),\(padding.1)") }
            if dilation != (1, 1) { parts.append("dilation \(dilation.0),\(dilation.1)") }
            if groups != 1 { parts.append("groups \(groups)") }
            if columnBudget < 8 << 20 { parts.append("one image per chunk") }
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
    ]

    /// Every geometry with every forward algorithm: forward, backward-data (the gradient of the
    /// input: GEMM and col2im) and backward-weight (im2col and GEMM), and the bias gradient.
    public static let convolution: [KernelCase] = convolutionShapes.flatMap { s in
        convolutionAlgorithms.map { algorithm in
            let forward = algorithm == .direct ? ["conv2d_direct"] : ["im2col"]
            return KernelCase.tensor(.convolution, "conv2d \(algorithm == .direct ? "direct" : "im2col+GEMM")",
                                     [s.input, s.weight] + (s.bias ? [[s.weight[0]]] : []), shape: s.text,
                                     inputNames: ["input", "weight", "bias"], kernels: forward + ["im2col", "col2im", "copy_strided"].filter { !forward.contains($0) },
                                     quick: s.quick) { x in
                try x[0].conv2d(weight: x[1], bias: s.bias ? x[2] : nil, stride: s.stride, padding: s.padding, dilation: s.dilation,
                                groups: s.groups, columnBudget: s.columnBudget, algorithm: algorithm)
            }
        }
    }
}
