import Foundation
import ScalpelCore

// The randomness ops of the CPU-Swift backend: the same Philox bits as random.cl, so a mask
// or a transform drawn here is the one an OpenCL device draws.
extension CPUBackend {
    public func dropout(x: any DeviceBuffer, y: any DeviceBuffer, count: Int, keep: Float, scale: Float, seed: UInt64, offset: UInt64) throws {
        let span = ProfileSpan.begin("dropout"); defer { span?.end() }
        guard count > 0 else { return }
        let b = try typedBuffers("dropout", [(x, count), (y, count)])
        let key = Philox.key(seed)
        // One Philox block gives the bits of four consecutive elements (n = offset + i).
        var n = offset, i = 0
        while i < count {
            let bits = Philox.block(counter: Philox.counter(block: n >> 2, stream: .dropout), key: key)
            var lane = Int(n & 3)
            while lane < 4 && i < count {
                let kept = Philox.uniform(bits[lane]) < keep
                switch precision {
                case .float32: b[1].pointer[i] = kept ? b[0].pointer[i] * scale : 0
                case .float64: b[1].doublePointer[i] = kept ? b[0].doublePointer[i] * Double(scale) : 0
                }
                lane += 1
                i += 1
                n &+= 1
            }
        }
    }

    public func augmentImages(_ parameters: AugmentationParameters, images: any DeviceBuffer, imageCount: Int, index: any DeviceBuffer,
                              output: any DeviceBuffer, batch: Int, seed: UInt64, offset: UInt64) throws {
        let span = ProfileSpan.begin("augmentImages"); defer { span?.end() }
        let size = parameters.imageSize
        let b = try typedBuffers("augment_images", [(images, imageCount * size), (index, batch), (output, batch * size)])
        for sample in 0 ..< batch {
            let raw = precision == .float32 ? Double(b[1].pointer[sample]) : b[1].doublePointer[sample]
            guard raw >= 0, raw < Double(imageCount), raw == raw.rounded(.down) else {
                throw ScalpelError.invalidArgument("augment_images: index \(raw) is not a row in 0..<\(imageCount)")
            }
            let row = Int(raw)
            let t = parameters.transform(seed: seed, sample: offset &+ UInt64(sample))
            let (c, s) = (Foundation.cos(t.angle), Foundation.sin(t.angle))
            switch precision {
            case .float32:
                parameters.apply(flip: t.flip, angle: t.angle, dx: t.dx, dy: t.dy, cos: c, sin: s,
                                 image: b[0].pointer + row * size, output: b[2].pointer + sample * size)
            case .float64:
                parameters.apply(flip: t.flip, angle: t.angle, dx: t.dx, dy: t.dy, cos: c, sin: s,
                                 image: b[0].doublePointer + row * size, output: b[2].doublePointer + sample * size)
            }
        }
    }

    public func writeWithoutWaiting(_ values: [Float], to buffer: any DeviceBuffer, at offset: Int) throws {
        // Host memory: the copy is done when write returns.
        try values.withUnsafeBufferPointer { try write($0, to: buffer, at: offset) }
    }

    public var residentDataLimit: Int? { nil }
}
