import Foundation
import ScalpelCore

/// Random, seeded image augmentation for training batches of (C, H, W) images: a horizontal
/// flip (probability ½), a rotation by up to `maxDegrees` and a shift by up to `maxShift` pixels
/// in each direction, applied together as one inverse-mapped affine transform with bilinear
/// sampling; pixels that come from outside the image take the value `fill` (the image's
/// standardised zero, i.e. its mean, is a natural choice). The same generator state gives the
/// same transforms, so a seeded run — and a resumed one — repeats exactly.
public struct ImageAugmentation: Sendable {
    public var maxDegrees: Float = 10
    public var maxShift: Float = 2
    public var flip = true

    public init(maxDegrees: Float = 10, maxShift: Float = 2, flip: Bool = true) {
        self.maxDegrees = maxDegrees
        self.maxShift = maxShift
        self.flip = flip
    }

    /// One random transform: whether to flip, the angle in radians, the shift (dx, dy).
    public struct Transform: Equatable, Sendable {
        public var flip: Bool
        public var angle: Float
        public var dx: Float
        public var dy: Float

        public init(flip: Bool, angle: Float, dx: Float, dy: Float) {
            self.flip = flip
            self.angle = angle
            self.dx = dx
            self.dy = dy
        }
    }

    /// Draws one transform from `generator`.
    public func draw(_ generator: inout SeededRandom) -> Transform {
        let flipped = flip && generator.uniform(0, 1) < 0.5
        let angle = generator.uniform(-maxDegrees, maxDegrees) * .pi / 180
        return Transform(flip: flipped, angle: angle, dx: generator.uniform(-maxShift, maxShift), dy: generator.uniform(-maxShift, maxShift))
    }

    /// Applies `t` to one image of `channels` planes of height × width (row-major) into `out`.
    public static func apply(_ t: Transform, image: ArraySlice<Float>, channels: Int, height: Int, width: Int, fill: Float,
                             into out: inout [Float], at offset: Int) {
        let (cx, cy) = (Float(width - 1) / 2, Float(height - 1) / 2)
        let (c, s) = (Foundation.cos(t.angle), Foundation.sin(t.angle))
        let base = image.startIndex
        for y in 0 ..< height {
            for x in 0 ..< width {
                // Inverse map: output (x, y) → source (sx, sy): undo the shift, the rotation, the flip.
                let (ux, uy) = (Float(x) - cx - t.dx, Float(y) - cy - t.dy)
                var sx = c * ux + s * uy + cx
                let sy = -s * ux + c * uy + cy
                if t.flip { sx = Float(width - 1) - sx }
                let (x0, y0) = (Int(sx.rounded(.down)), Int(sy.rounded(.down)))
                let (fx, fy) = (sx - Float(x0), sy - Float(y0))
                for ch in 0 ..< channels {
                    let plane = base + ch * height * width
                    func pixel(_ px: Int, _ py: Int) -> Float {
                        px >= 0 && px < width && py >= 0 && py < height ? image[plane + py * width + px] : fill
                    }
                    let top = pixel(x0, y0) * (1 - fx) + pixel(x0 + 1, y0) * fx
                    let bottom = pixel(x0, y0 + 1) * (1 - fx) + pixel(x0 + 1, y0 + 1) * fx
                    out[offset + ch * height * width + y * width + x] = top * (1 - fy) + bottom * fy
                }
            }
        }
    }
}
