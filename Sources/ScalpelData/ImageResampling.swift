import Foundation

extension DecodedImage {
    /// The image at `height` × `width` with `channels` channels: resized with a triangle
    /// (bilinear) filter whose support widens with the reduction, so that shrinking averages every
    /// source pixel rather than sampling a few (antialiasing, as PIL's resize does); RGB becomes
    /// grey by ITU-R BT.601 luma (0.299 R + 0.587 G + 0.114 B), grey becomes RGB by repetition.
    /// - Parameters:
    ///   - height: Rows wanted.
    ///   - width: Columns wanted.
    ///   - channels: 1 or 3.
    /// - Returns: The resampled image (self when nothing changes).
    public func resampled(height: Int, width: Int, channels: Int) -> DecodedImage {
        precondition(height > 0 && width > 0 && (channels == 1 || channels == 3), "bad target geometry")
        var planes = self.pixels
        var c = self.channels
        if c == 3 && channels == 1 {
            let plane = self.height * self.width
            // Spelled out: Swift 6.2's type checker gives up on the one-line sum.
            planes = (0 ..< plane).map { (i: Int) -> Float in
                let (red, green, blue): (Float, Float, Float) = (pixels[i], pixels[plane + i], pixels[2 * plane + i])
                return 0.299 * red + 0.587 * green + 0.114 * blue
            }
            c = 1
        }
        var image = DecodedImage(width: self.width, height: self.height, channels: c, bits: bits, pixels: planes)
        if height != self.height || width != self.width { image = image.resized(height: height, width: width) }
        if image.channels == 1 && channels == 3 { image.pixels = image.pixels + image.pixels + image.pixels; image.channels = 3 }
        return image
    }

    /// The per-output-pixel source ranges and normalised weights of a 1-D antialiased resize.
    static func filterTaps(from source: Int, to target: Int) -> [(start: Int, weights: [Float])] {
        let scale = Double(source) / Double(target)
        let support = max(scale, 1)  // the triangle's half-width, in source pixels
        return (0 ..< target).map { o in
            let center = (Double(o) + 0.5) * scale
            let lo = max(0, Int((center - support).rounded(.down)))
            let hi = min(source, Int((center + support).rounded(.up)))
            // The nearest source pixel is within half a pixel of the centre, so the total is positive.
            let weights = (lo ..< hi).map { i in max(0, 1 - abs((Double(i) + 0.5 - center) / support)) }
            let total = weights.reduce(0, +)
            return (lo, weights.map { Float($0 / total) })
        }
    }

    private func resized(height newHeight: Int, width newWidth: Int) -> DecodedImage {
        let columns = Self.filterTaps(from: width, to: newWidth), rows = Self.filterTaps(from: height, to: newHeight)
        var out = [Float](repeating: 0, count: channels * newHeight * newWidth)
        var horizontal = [Float](repeating: 0, count: height * newWidth)
        for c in 0 ..< channels {
            let plane = c * height * width
            for y in 0 ..< height {
                for (x, tap) in columns.enumerated() {
                    var sum: Float = 0
                    for (k, w) in tap.weights.enumerated() { sum += w * pixels[plane + y * width + tap.start + k] }
                    horizontal[y * newWidth + x] = sum
                }
            }
            let target = c * newHeight * newWidth
            for (y, tap) in rows.enumerated() {
                for x in 0 ..< newWidth {
                    var sum: Float = 0
                    for (k, w) in tap.weights.enumerated() { sum += w * horizontal[(tap.start + k) * newWidth + x] }
                    out[target + y * newWidth + x] = min(max(sum, 0), 1)
                }
            }
        }
        return DecodedImage(width: newWidth, height: newHeight, channels: channels, bits: bits, pixels: out)
    }
}
