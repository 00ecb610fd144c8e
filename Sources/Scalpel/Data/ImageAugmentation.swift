import Foundation
import ScalpelCore

/// Random, seeded image augmentation for training batches of (C, H, W) images: a horizontal
/// flip (probability ½), a rotation by up to `maxDegrees` and a shift by up to `maxShift` pixels
/// in each direction, applied together as one inverse-mapped affine transform with bilinear
/// sampling; pixels that come from outside the image take the value `fill` (the image's
/// standardised zero, i.e. its mean, is a natural choice).
///
/// Training draws each sample's transform from a counter-based generator on the backend
/// (`transform(seed:sample:)`, `Backend.augmentImages`): sample n of a run's stream gets the
/// same transform on every backend, so a seeded run — and a resumed one that restores the
/// counter — repeats exactly. `apply` applies one transform on the host (data too large to keep
/// on the backend).
public struct ImageAugmentation: Sendable {
    /// The largest rotation, in degrees either way (default 10).
    public var maxDegrees: Float = 10
    /// The largest shift, in pixels in each direction (default 2).
    public var maxShift: Float = 2
    /// Whether to flip images horizontally, each with probability ½ (default true).
    public var flip = true

    /// An augmentation with these limits; the defaults are those of `scalpel train --augment`.
    public init(maxDegrees: Float = 10, maxShift: Float = 2, flip: Bool = true) {
        self.maxDegrees = maxDegrees
        self.maxShift = maxShift
        self.flip = flip
    }

    /// One random transform: whether to flip, the angle in radians, the shift (dx, dy).
    public struct Transform: Equatable, Sendable {
        /// Whether the image is flipped horizontally.
        public var flip: Bool
        /// The rotation about the image centre, in radians.
        public var angle: Float
        /// The horizontal shift, in pixels.
        public var dx: Float
        /// The vertical shift, in pixels.
        public var dy: Float

        /// A transform of this flip, angle (radians) and shift (pixels).
        public init(flip: Bool, angle: Float, dx: Float, dy: Float) {
            self.flip = flip
            self.angle = angle
            self.dx = dx
            self.dy = dy
        }
    }

    /// The backend op's parameters for images of `sampleShape` (C, H, W), with `fill` outside.
    public func parameters(sampleShape: [Int], fill: Float) -> AugmentationParameters {
        AugmentationParameters(channels: sampleShape[0], height: sampleShape[1], width: sampleShape[2], maxDegrees: maxDegrees,
                               maxShift: maxShift, flip: flip, fill: fill)
    }

    /// The transform of sample `n` of the augmentation stream under `seed`: the one
    /// `Backend.augmentImages` applies to it.
    public func transform(seed: UInt64, sample n: UInt64) -> Transform {
        let t = parameters(sampleShape: [1, 1, 1], fill: 0).transform(seed: seed, sample: n)
        return Transform(flip: t.flip, angle: t.angle, dx: t.dx, dy: t.dy)
    }

    /// Applies `t` to one image of `channels` planes of height × width (row-major) into `out`.
    public static func apply(_ t: Transform, image: ArraySlice<Float>, channels: Int, height: Int, width: Int, fill: Float,
                             into out: inout [Float], at offset: Int) {
        let parameters = AugmentationParameters(channels: channels, height: height, width: width, maxDegrees: 0, maxShift: 0, flip: false,
                                                fill: fill)
        let size = parameters.imageSize
        precondition(image.count >= size && offset >= 0 && offset + size <= out.count, "an image of \(size) values")
        image.withUnsafeBufferPointer { source in
            out.withUnsafeMutableBufferPointer { target in
                guard let base = source.baseAddress, let output = target.baseAddress else { return }
                parameters.apply(flip: t.flip, angle: t.angle, dx: t.dx, dy: t.dy, cos: Foundation.cos(t.angle), sin: Foundation.sin(t.angle),
                                 image: base, output: output + offset)
            }
        }
    }
}
