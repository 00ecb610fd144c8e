/// The geometry of a 2-D convolution on NCHW tensors: input (N, C, H, W), weight
/// (K, C/groups, R, S), output (N, K, OH, OW).
public struct Conv2dGeometry: Hashable, Sendable, CustomStringConvertible {
    /// N: images in the batch.
    public var batch: Int
    /// C: channels of the input.
    public var inChannels: Int
    /// H: rows of each input image, before padding.
    public var height: Int
    /// W: columns of each input image, before padding.
    public var width: Int
    /// K: channels of the output (one filter each).
    public var outChannels: Int
    /// R: rows of the filter window.
    public var kernelHeight: Int
    /// S: columns of the filter window.
    public var kernelWidth: Int
    /// Input rows the window moves from one output row to the next.
    public var strideH: Int
    /// Input columns the window moves from one output column to the next.
    public var strideW: Int
    /// Rows of zeros added above and below the input (each side).
    public var padH: Int
    /// Columns of zeros added left and right of the input (each side).
    public var padW: Int
    /// Input rows from one filter tap to the next within the window (1: adjacent rows).
    public var dilationH: Int
    /// Input columns from one filter tap to the next within the window (1: adjacent columns).
    public var dilationW: Int
    /// Groups the channels are split into: output channel k sees only the C/groups input
    /// channels of its group (1: an ordinary convolution).
    public var groups: Int

    /// A geometry from the (R, S) `kernel` and the (vertical, horizontal) `stride`, `padding` and
    /// `dilation`; the defaults give stride 1, no padding, no dilation and one group. Nothing is
    /// checked until `validate()`.
    public init(batch: Int, inChannels: Int, height: Int, width: Int, outChannels: Int, kernel: (Int, Int),
                stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups: Int = 1) {
        self.batch = batch
        self.inChannels = inChannels
        self.height = height
        self.width = width
        self.outChannels = outChannels
        (kernelHeight, kernelWidth) = kernel
        (strideH, strideW) = stride
        (padH, padW) = padding
        (dilationH, dilationW) = dilation
        self.groups = groups
    }

    /// OH: rows of the output, ⌊(H + 2·padH − dilationH·(R − 1) − 1) / strideH⌋ + 1 (0 when the
    /// dilated kernel is longer than the padded input).
    public var outHeight: Int { outputs(height + 2 * padH - dilationH * (kernelHeight - 1) - 1, stride: strideH) }
    /// OW: columns of the output, ⌊(W + 2·padW − dilationW·(S − 1) − 1) / strideW⌋ + 1 (0 when the
    /// dilated kernel is longer than the padded input).
    public var outWidth: Int { outputs(width + 2 * padW - dilationW * (kernelWidth - 1) - 1, stride: strideW) }
    /// Rows of the column matrix: (C/groups)·R·S per group, C·R·S in all.
    public var columnRows: Int { inChannels * kernelHeight * kernelWidth }
    /// Columns of the column matrix: N·OH·OW.
    public var columnCount: Int { batch * outHeight * outWidth }

    /// Whether Winograd F(2×2, 3×3) computes this convolution's forward and input-gradient
    /// passes: a 3×3 window, stride 1, no dilation, one group, and padding of at most 2 (the
    /// input gradient is then a 3×3 stride-1 convolution too, padded by 2 − padding).
    public var supportsWinograd: Bool {
        kernelHeight == 3 && kernelWidth == 3 && strideH == 1 && strideW == 1 && dilationH == 1 && dilationW == 1 && groups == 1
            && (0 ... 2).contains(padH) && (0 ... 2).contains(padW)
    }

    /// One line for messages, such as `conv 8×3×32×32 → 16, 3×3 stride 1×1 pad 1×1 dilation 1×1`
    /// (followed by ` groups G` when groups > 1).
    public var description: String {
        "conv \(batch)×\(inChannels)×\(height)×\(width) → \(outChannels), \(kernelHeight)×\(kernelWidth) stride \(strideH)×\(strideW) "
            + "pad \(padH)×\(padW) dilation \(dilationH)×\(dilationW)" + (groups > 1 ? " groups \(groups)" : "")
    }

    /// Throws a `shapeMismatch` naming the first inconsistency.
    public func validate() throws {
        func fail(_ detail: String) -> ScalpelError { .shapeMismatch(op: "conv2d", detail: detail) }
        guard batch >= 1, inChannels >= 1, height >= 1, width >= 1, outChannels >= 1 else { throw fail("sizes must be positive (\(self))") }
        guard kernelHeight >= 1, kernelWidth >= 1, strideH >= 1, strideW >= 1, dilationH >= 1, dilationW >= 1, padH >= 0, padW >= 0 else {
            throw fail("kernel, stride and dilation must be positive and padding non-negative (\(self))")
        }
        guard groups >= 1, inChannels % groups == 0, outChannels % groups == 0 else {
            throw fail("groups \(groups) must divide both \(inChannels) input and \(outChannels) output channels")
        }
        guard outHeight >= 1, outWidth >= 1 else { throw fail("the kernel does not fit the padded input (\(self))") }
    }
}

/// The geometry of 2-D pooling on NCHW tensors: input (N, C, H, W) → output (N, C, OH, OW).
/// Padding counts as −∞ for max pooling; the average divides by the full window, padding
/// included (PyTorch's default, count_include_pad=True).
public struct Pool2dGeometry: Hashable, Sendable {
    /// N: images in the batch.
    public var batch: Int
    /// C: channels, each pooled on its own.
    public var channels: Int
    /// H: rows of each input image, before padding.
    public var height: Int
    /// W: columns of each input image, before padding.
    public var width: Int
    /// Rows of the pooling window.
    public var kernelHeight: Int
    /// Columns of the pooling window.
    public var kernelWidth: Int
    /// Input rows the window moves from one output row to the next.
    public var strideH: Int
    /// Input columns the window moves from one output column to the next.
    public var strideW: Int
    /// Rows of padding above and below the input (each side); at most half the window.
    public var padH: Int
    /// Columns of padding left and right of the input (each side); at most half the window.
    public var padW: Int

    /// A geometry from the (rows, columns) `kernel`, `stride` and `padding` (default none).
    /// Nothing is checked until `validate()`.
    public init(batch: Int, channels: Int, height: Int, width: Int, kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int) = (0, 0)) {
        self.batch = batch
        self.channels = channels
        self.height = height
        self.width = width
        (kernelHeight, kernelWidth) = kernel
        (strideH, strideW) = stride
        (padH, padW) = padding
    }

    /// OH: rows of the output, ⌊(H + 2·padH − kernelHeight) / strideH⌋ + 1 (0 when the window is longer).
    public var outHeight: Int { outputs(height + 2 * padH - kernelHeight, stride: strideH) }
    /// OW: columns of the output, ⌊(W + 2·padW − kernelWidth) / strideW⌋ + 1 (0 when the window is longer).
    public var outWidth: Int { outputs(width + 2 * padW - kernelWidth, stride: strideW) }

    /// Throws a `shapeMismatch` (op `pool2d`) unless batch, channels, window and stride are
    /// positive, padding is non-negative and at most half the window, and the output has at
    /// least one row and one column.
    public func validate() throws {
        guard batch >= 1, channels >= 1, kernelHeight >= 1, kernelWidth >= 1, strideH >= 1, strideW >= 1, padH >= 0, padW >= 0,
              padH * 2 <= kernelHeight, padW * 2 <= kernelWidth, outHeight >= 1, outWidth >= 1 else {
            throw ScalpelError.shapeMismatch(op: "pool2d", detail: "kernel \(kernelHeight)×\(kernelWidth), stride \(strideH)×\(strideW), padding \(padH)×\(padW) do not fit \(height)×\(width) (padding at most half the kernel)")
        }
    }
}

/// How a backend computes one pass of a convolution.
public enum ConvAlgorithm: String, Sendable, CaseIterable {
    /// im2col (or col2im), one GEMM per group and permutes around it: the reference path.
    case im2colGEMM
    /// One output element per thread, no column matrix (few input channels). Forward only:
    /// forced on a backward pass it means im2colGEMM.
    case direct
    /// A GEMM that reads the image through the convolution's geometry and writes NCHW
    /// directly (no column matrix, no permute); the forward pass adds the bias itself.
    case implicitGEMM
    /// Winograd F(2×2, 3×3): transforms of the input and the filters around 16 GEMMs, with 16
    /// multiplies per 2×2 outputs and channel pair where a 3×3 window needs 36. Forward (which
    /// adds the bias itself), input gradient and weight gradient, at geometries that
    /// `supportsWinograd`; forced at another geometry it means im2colGEMM. Only the CPU-Swift
    /// backend has its kernels; on another backend it runs the column path.
    case winograd

    /// The algorithms that can compute `pass` with kernels of their own on every backend (what
    /// a backend that measures its choice times).
    public static func candidates(for pass: ConvPass) -> [ConvAlgorithm] {
        pass == .forward ? [.im2colGEMM, .direct, .implicitGEMM] : [.im2colGEMM, .implicitGEMM]
    }

    /// What runs for `pass` when this algorithm is forced (direct has no backward kernels).
    public func resolved(for pass: ConvPass) -> ConvAlgorithm {
        self == .direct && pass != .forward ? .im2colGEMM : self
    }

    /// What runs for `pass` at `geometry` when this algorithm is forced: `resolved(for:)`, and
    /// im2colGEMM for Winograd where the geometry does not `supportsWinograd`.
    public func resolved(for pass: ConvPass, at geometry: Conv2dGeometry) -> ConvAlgorithm {
        self == .winograd && !geometry.supportsWinograd ? .im2colGEMM : resolved(for: pass)
    }
}

/// The three passes of a convolution, each with its own measured algorithm.
public enum ConvPass: String, Sendable, CaseIterable {
    /// output from input and weight.
    case forward
    /// The input's gradient from the output's gradient and the weight.
    case backwardData = "backward-data"
    /// The weight's gradient from the input and the output's gradient.
    case backwardWeight = "backward-weight"
}

/// The number of window positions along one axis: ⌊span / stride⌋ + 1, where `span` is the
/// padded length less the window's extent; none when the window is longer than the padded input
/// (a negative span; Swift's `/` would round it toward zero and count one).
func outputs(_ span: Int, stride: Int) -> Int {
    span < 0 || stride < 1 ? 0 : span / stride + 1
}
