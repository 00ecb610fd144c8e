/// Philox-4x32-10, the counter-based generator of Salmon, Moraes, Dror and Shaw ("Parallel
/// random numbers: as easy as 1, 2, 3", SC 2011): a keyed bijection of a 128-bit counter, so
/// the random bits of any element are a pure function of (key, counter) — no state to carry
/// between draws, and a device draws element i's bits without drawing those before it.
///
/// `Kernels/random.cl` computes the same function bit for bit; `RandomTests` pins both to the
/// published known-answer vectors. How the engine lays out counters (`stream` below):
/// element n of a draw takes word n mod 4 of the block whose counter is
/// (lo32(n / 4), hi32(n / 4), stream, 0), with the key (lo32(seed), hi32(seed)).
public enum Philox {
    /// The round multipliers and the Weyl key increments (the golden ratio and √3 − 1, in 32 bits).
    @usableFromInline static let m0: UInt32 = 0xD251_1F53, m1: UInt32 = 0xCD9E_8D57
    @usableFromInline static let w0: UInt32 = 0x9E37_79B9, w1: UInt32 = 0xBB67_AE85

    /// The four 32-bit words of Philox-4x32-10 for `counter` under `key`.
    @inlinable
    public static func block(counter: SIMD4<UInt32>, key: SIMD2<UInt32>) -> SIMD4<UInt32> {
        // Scalars, not SIMD lanes: the rounds are a serial chain, and lane access in a loop
        // kept the optimiser from unrolling it (six times slower in the dropout loop).
        var (c0, c1, c2, c3) = (counter.x, counter.y, counter.z, counter.w)
        var (k0, k1) = (key.x, key.y)
        @inline(__always) func round() {
            let p0 = UInt64(m0) &* UInt64(c0), p1 = UInt64(m1) &* UInt64(c2)
            (c0, c1, c2, c3) = (UInt32(truncatingIfNeeded: p1 >> 32) ^ c1 ^ k0, UInt32(truncatingIfNeeded: p1),
                                UInt32(truncatingIfNeeded: p0 >> 32) ^ c3 ^ k1, UInt32(truncatingIfNeeded: p0))
        }
        round()
        for _ in 1 ..< 10 {
            k0 &+= w0
            k1 &+= w1
            round()
        }
        return SIMD4(c0, c1, c2, c3)
    }

    /// The key of `seed`: its low and high 32 bits.
    @inlinable
    public static func key(_ seed: UInt64) -> SIMD2<UInt32> {
        SIMD2(UInt32(truncatingIfNeeded: seed), UInt32(truncatingIfNeeded: seed >> 32))
    }

    /// The counter of block `index` of `stream`.
    @inlinable
    public static func counter(block index: UInt64, stream: Stream) -> SIMD4<UInt32> {
        SIMD4(UInt32(truncatingIfNeeded: index), UInt32(truncatingIfNeeded: index >> 32), stream.rawValue, 0)
    }

    /// The 32 random bits of element `n` of `stream` under `seed` (word n mod 4 of block n / 4).
    @inlinable
    public static func bits(seed: UInt64, stream: Stream, element n: UInt64) -> UInt32 {
        block(counter: counter(block: n >> 2, stream: stream), key: key(seed))[Int(n & 3)]
    }

    /// A uniform float in [0, 1) from 32 random bits: the top 24 bits times 2⁻²⁴ (exact in
    /// fp32, so every device computes the same value).
    @inlinable
    public static func uniform(_ bits: UInt32) -> Float { Float(bits >> 8) * 0x1p-24 }

    /// What a draw is for, the third counter word: draws of different purposes under one seed
    /// never share a block. The values are part of the kernels' contract (random.cl).
    public enum Stream: UInt32, Sendable {
        /// Dropout masks, one word per element.
        case dropout = 0
        /// Image augmentation, one block per sample: (flip, angle, shift x, shift y).
        case augmentation = 1
    }
}

/// The random affine transform of one image of a batch (see `Backend.augmentImages`): flip,
/// rotation and shift drawn from one Philox block, applied by inverse mapping with bilinear
/// sampling; pixels that come from outside the image take `fill`.
public struct AugmentationParameters: Sendable, Equatable {
    /// Planes, rows and columns of one image (C, H, W).
    public var channels: Int
    public var height: Int
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
