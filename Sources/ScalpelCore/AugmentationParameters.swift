/// The random affine transform of one image of a batch (see `Backend.augmentImages`): flip,
/// rotation and shift drawn from one Philox block, applied by inverse mapping with bilinear
/// sampling; pixels that come from outside the image take `fill`.
public struct AugmentationParameters: Sendable, Equatable {
    /// Planes, rows and columns of one image (C, H, W).
    public var channels: Int
    /// Rows of one image (H).
    public var height: Int
    /// Columns of one image (W).
    public var width: Int
    /// The largest rotation, in degrees either way.
    public var maxDegrees: Float
    /// The largest shift, in pixels either way along each axis.
    public var maxShift: Float
    /// Whether a horizontal flip is drawn (probability ½).
    public var flip: Bool
    /// The value of pixels that come from outside the image.
    public var fill: Float

    /// Parameters for images of (channels, height, width).
    public init(channels: Int, height: Int, width: Int, maxDegrees: Float, maxShift: Float, flip: Bool, fill: Float) {
        self.channels = channels
        self.height = height
        self.width = width
        self.maxDegrees = maxDegrees
        self.maxShift = maxShift
        self.flip = flip
        self.fill = fill
    }

    /// Values in one image.
    public var imageSize: Int { channels * height * width }

    /// The transform of sample `n` under `seed` (the block n of the augmentation stream):
    /// whether to flip, the angle in radians and the shift. random.cl's `augment_transform`
    /// computes the same floats with the same operations in the same order.
    @inlinable
    public func transform(seed: UInt64, sample n: UInt64) -> (flip: Bool, angle: Float, dx: Float, dy: Float) {
        let u = Philox.block(counter: Philox.counter(block: n, stream: .augmentation), key: Philox.key(seed))
        let degrees = -maxDegrees + 2 * maxDegrees * Philox.uniform(u[1])
        return (flip && Philox.uniform(u[0]) < 0.5, degrees * (Float.pi / 180),
                -maxShift + 2 * maxShift * Philox.uniform(u[2]), -maxShift + 2 * maxShift * Philox.uniform(u[3]))
    }
}

extension AugmentationParameters {
    /// Writes image `image` (C, H, W) under the transform (flip, angle in radians, shift) into
    /// `output` (C, H, W): each output pixel (x, y) reads the source point found by undoing the
    /// shift, the rotation about the image centre and the flip, bilinearly; neighbours outside
    /// the image count as `fill`. Coordinates are fp32 as in random.cl's `augment_images`;
    /// pixel values are `T` (fp32, or fp64 on the reference backend).
    @inlinable
    public func apply<T: BinaryFloatingPoint>(flip: Bool, angle: Float, dx: Float, dy: Float, cos c: Float, sin s: Float,
                                              image: UnsafePointer<T>, output: UnsafeMutablePointer<T>) {
        let (cx, cy) = (Float(width - 1) / 2, Float(height - 1) / 2)
        let plane = height * width
        for y in 0 ..< height {
            for x in 0 ..< width {
                let (ux, uy) = (Float(x) - cx - dx, Float(y) - cy - dy)
                var sx = c * ux + s * uy + cx
                let sy = -s * ux + c * uy + cy
                if flip { sx = Float(width - 1) - sx }
                let (fx0, fy0) = (sx.rounded(.down), sy.rounded(.down))
                let (fx, fy) = (T(sx - fx0), T(sy - fy0))
                // Far outside, every neighbour is fill (and the Int conversion must not trap).
                let inside = fx0 > -2 && fx0 < Float(width) && fy0 > -2 && fy0 < Float(height)
                let (x0, y0) = inside ? (Int(fx0), Int(fy0)) : (-2, -2)
                for ch in 0 ..< channels {
                    let base = image + ch * plane
                    func pixel(_ px: Int, _ py: Int) -> T {
                        px >= 0 && px < width && py >= 0 && py < height ? base[py * width + px] : T(fill)
                    }
                    let top = pixel(x0, y0) * (1 - fx) + pixel(x0 + 1, y0) * fx
                    let bottom = pixel(x0, y0 + 1) * (1 - fx) + pixel(x0 + 1, y0 + 1) * fx
                    output[ch * plane + y * width + x] = top * (1 - fy) + bottom * fy
                }
            }
        }
    }
}
