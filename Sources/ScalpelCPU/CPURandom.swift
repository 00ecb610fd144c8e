import Foundation
import ScalpelCore
import ScalpelCPUKernels

// The randomness ops of the CPU-Swift backend: the same Philox bits as random.cl, so a mask
// or a transform drawn here is the one an OpenCL device draws.
extension CPUBackend {
    /// Draws the mask from the same Philox bits as random.cl: with the fast fp32 kernels
    /// `RandomKernels.dropout`, split over the worker pool from 2¹⁵ elements; otherwise (fp64
    /// included) plain loops on the calling thread. Throws `shapeMismatch` when x or y holds fewer
    /// than `count` values.
    public func dropout(x: any DeviceBuffer, y: any DeviceBuffer, count: Int, keep: Float, scale: Float, seed: UInt64, offset: UInt64) throws {
        let span = ProfileSpan.begin("dropout"); defer { span?.end() }
        guard count > 0 else { return }
        let b = try typedBuffers("dropout", [(x, count), (y, count)])
        let key = Philox.key(seed)
        switch precision {
        case .float32:
            let (source, target) = (UnsafePointer(b[0].pointer), b[1].pointer)
            // Drawing costs more than the multiply: large tensors are split over the pool's
            // threads (each range draws its own blocks; the result is the same).
            let threads = kernels == .fast && count >= 1 << 15 ? threads : 1
            let fast = kernels == .fast
            let threshold = Self.threshold(keep)
            CPUBackend.pool(size: self.threads).run(threads: threads) { t, n in
                let range = count * t / n ..< count * (t + 1) / n
                if fast {
                    RandomKernels.dropout(source, target, start: range.lowerBound, end: range.upperBound, offset: offset, key0: key.x,
                                          key1: key.y, threshold: threshold, scale: scale)
                } else {
                    Self.dropout(source, target, range, keep: keep, scale: scale, key: key, offset: offset)
                }
            }
        case .float64:
            let (source, target) = (UnsafePointer(b[0].doublePointer), b[1].doublePointer)
            Self.dropout(source, target, 0 ..< count, keep: keep, scale: scale, key: key, offset: offset)
        }
    }

    /// y[i] = x[i]·scale where element offset + i of the dropout stream is below keep, else 0,
    /// for i in `range`, in plain loops (the reference kernels, fp64). One Philox block serves
    /// four consecutive elements.
    @inline(__always)
    static func dropout<T: BinaryFloatingPoint>(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, _ range: Range<Int>, keep: Float,
                                                scale: Float, key: SIMD2<UInt32>, offset: UInt64) {
        let factor = T(scale)
        let threshold = Self.threshold(keep)
        var i = range.lowerBound
        while i < range.upperBound {
            let n = offset &+ UInt64(i)
            let bits = Philox.block(counter: Philox.counter(block: n >> 2, stream: .dropout), key: key)
            var lane = Int(n & 3)
            while lane < 4 && i < range.upperBound {
                y[i] = bits[lane] >> 8 < threshold ? x[i] * factor : 0
                lane += 1
                i += 1
            }
        }
    }

    /// u < keep on the top 24 bits as an integer: u = (bits >> 8)·2⁻²⁴ is exact, so u < keep
    /// exactly when (bits >> 8) < ⌈keep·2²⁴⌉ (keep ≤ 1, and keep·2²⁴ is exact in Double).
    static func threshold(_ keep: Float) -> UInt32 { UInt32((Double(max(0, min(keep, 1))) * 0x1p24).rounded(.up)) }

    /// Transforms one sample at a time on the calling thread (`AugmentationParameters.apply`);
    /// throws `invalidArgument` at the first index that is not an integer in 0..<imageCount (the
    /// samples before it already written) and `shapeMismatch` when a buffer is too short.
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

    /// Copies at once with `write` (the buffer is host memory), so the copy is complete when this
    /// returns; throws `shapeMismatch` when the values do not fit from `offset`.
    public func writeWithoutWaiting(_ values: [Float], to buffer: any DeviceBuffer, at offset: Int) throws {
        // Host memory: the copy is done when write returns.
        try values.withUnsafeBufferPointer { try write($0, to: buffer, at: offset) }
    }

    /// No limit beyond the host's memory: the CPU backend's buffers are host memory.
    public var residentDataLimit: Int? { nil }
}
