import Foundation
import Scalpel
import ScalpelCore
import ScalpelOpenCL
import ScalpelTensor

/// Milliseconds and memory of scaled-dot-product attention on (batch, heads, length, head size)
/// fp32 tensors resident on a backend: the fused op (`scaledDotProductAttention`) or the
/// composed reference (`composedAttention`, which holds the length×length scores), forward
/// alone or forward and backward (gradients of q, k and v for a fixed output gradient).
/// bench/attention_peers.sh runs PyTorch's composed attention on the same shapes in the same run.
public enum AttentionBenchmark {
    /// batch × heads × length × head size (self-attention: as many keys as queries).
    public struct Shape: Sendable, Hashable, Codable, CustomStringConvertible {
        /// Batch entries (B).
        public var batch: Int
        /// Heads per batch entry (H).
        public var heads: Int
        /// Queries per head, and as many keys and values (N).
        public var length: Int
        /// Floats per query, key and value (D).
        public var headSize: Int

        /// A shape of these sizes.
        public init(batch: Int, heads: Int, length: Int, headSize: Int) {
            self.batch = batch
            self.heads = heads
            self.length = length
            self.headSize = headSize
        }

        /// Parses "BxHxNxD", for example "32x4x128x32".
        public init(parsing text: String) throws {
            let parts = text.lowercased().split(separator: "x").map { Int($0) }
            guard parts.count == 4, parts.allSatisfy({ ($0 ?? 0) > 0 }) else {
                throw ScalpelError.invalidArgument("attention shape '\(text)' is not BxHxNxD with positive sizes (for example 32x4x128x32)")
            }
            self.init(batch: parts[0]!, heads: parts[1]!, length: parts[2]!, headSize: parts[3]!)
        }

        /// The shape as "BxHxNxD", the form `init(parsing:)` reads.
        public var description: String { "\(batch)x\(heads)x\(length)x\(headSize)" }
        var tensorShape: [Int] { [batch, heads, length, headSize] }
    }

    /// The attention code being timed.
    public enum Implementation: String, Sendable, Codable, CaseIterable {
        /// One fused kernel per pass: memory O(length·head size) per head.
        case fused
        /// matmul, softmax, matmul of existing ops: memory O(length²) per head.
        case composed
    }

    /// What one timed call runs.
    public enum Pass: String, Sendable, Codable, CaseIterable {
        /// The forward pass alone, without gradients.
        case forward
        /// The forward pass, then the backward pass of a fixed output gradient to q, k and v.
        case forwardBackward = "forward+backward"
    }

    /// The benchmark's default shapes: batch 32, 4 heads, length 128, head size 32; lengths 1024 and 4096
    /// with smaller batches.
    public static let defaultShapes: [Shape] = [
        Shape(batch: 32, heads: 4, length: 128, headSize: 32),
        Shape(batch: 4, heads: 4, length: 1024, headSize: 32),
        Shape(batch: 1, heads: 4, length: 4096, headSize: 32),
    ]

    /// One call of `pass` on `backend`, synchronised at the end (inputs made once, seeded).
    public static func step(on backend: any Backend, shape: Shape, implementation: Implementation, pass: Pass) throws -> () throws -> Void {
        var generator = SeededRandom(seed: 1)
        let q = try Tensor.normal(shape.tensorShape, generator: &generator, on: backend, requiresGrad: true)
        let k = try Tensor.normal(shape.tensorShape, generator: &generator, on: backend, requiresGrad: true)
        let v = try Tensor.normal(shape.tensorShape, generator: &generator, on: backend, requiresGrad: true)
        let gradient = try Tensor.normal(shape.tensorShape, generator: &generator, on: backend)
        func attention() throws -> Tensor {
            switch implementation {
            case .fused: return try q.scaledDotProductAttention(key: k, value: v)
            case .composed: return try q.composedAttention(key: k, value: v)
            }
        }
        return {
            switch pass {
            case .forward:
                _ = try Autograd.noGrad { try attention() }
                try backend.synchronize()
            case .forwardBackward:
                try attention().backward(gradient)
                try backend.synchronize()
                // Nothing outlives the call: the next one starts from the inputs alone.
                q.grad = nil
                k.grad = nil
                v.grad = nil
            }
        }
    }

    /// One measurement.
    public struct Result: Sendable, Codable {
        /// The shape as "BxHxNxD".
        public var shape: String
        /// The implementation's raw value: fused or composed.
        public var implementation: String
        /// The pass's raw value: forward or forward+backward.
        public var pass: String
        /// The backend's identifier: `cpu` or `cl:P:D`.
        public var backend: String
        /// The backend's display name.
        public var backendName: String
        /// Milliseconds per call, the median over the samples.
        public var msMedian: Double
        /// Milliseconds per call in the fastest sample.
        public var msMin: Double
        /// Milliseconds per call in the slowest sample.
        public var msMax: Double
        /// The process's peak resident memory (VmHWM) during the measurement, inputs included (and
        /// whatever earlier measurements of the process left cached): run one shape and backend
        /// per process for the memory a run needs.
        public var peakRSSBytes: Int?
        /// The process's resident memory when the measurement began, before its inputs.
        public var baselineRSSBytes: Int?
        /// The most device memory one call added on an OpenCL backend (its allocation ledger).
        public var devicePeakBytes: Int?
    }

    /// Times `pass` of `implementation` at `shape` on `backend`: a warm-up, then `samples`
    /// samples of at least 0.2 s (see `measure`).
    public static func measure(_ backend: any Backend, shape: Shape, implementation: Implementation, pass: Pass, samples: Int) throws -> Result {
        ProcessMemory.resetPeak()
        let baseline = ProcessMemory.residentBytes
        let step = try step(on: backend, shape: shape, implementation: implementation, pass: pass)
        var devicePeak: Int?
        if let device = backend as? OpenCLBackend {
            try step() // programs built, scratch allocated: the ledger then sees one call's needs
            try device.synchronize()
            let before = device.allocatedBytes
            device.resetPeakAllocatedBytes()
            try step()
            devicePeak = device.peakAllocatedBytes - before
        }
        let timing = try ScalpelCore.measure(samples: samples, minSampleSeconds: 0.2, step)
        return Result(shape: shape.description, implementation: implementation.rawValue, pass: pass.rawValue, backend: backend.id.description,
                      backendName: backend.displayName, msMedian: timing.median * 1e3, msMin: timing.min * 1e3, msMax: timing.max * 1e3,
                      peakRSSBytes: ProcessMemory.peakResidentBytes, baselineRSSBytes: baseline, devicePeakBytes: devicePeak)
    }
}

/// This process's resident memory, from Linux's /proc (nil elsewhere).
public enum ProcessMemory {
    /// The peak resident set size (VmHWM) in bytes.
    public static var peakResidentBytes: Int? { statusField("VmHWM") }
    /// The current resident set size (VmRSS) in bytes.
    public static var residentBytes: Int? { statusField("VmRSS") }

    /// Starts a new peak measurement from the current resident size (writes 5 to
    /// /proc/self/clear_refs); false where the kernel does not allow it.
    @discardableResult
    public static func resetPeak() -> Bool {
        guard let handle = FileHandle(forWritingAtPath: "/proc/self/clear_refs") else { return false }
        defer { try? handle.close() }
        return (try? handle.write(contentsOf: Data("5".utf8))) != nil
    }

    private static func statusField(_ name: String) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(name + ":") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if fields.count >= 2, let kilobytes = Int(fields[1]) { return kilobytes * 1024 }
        }
        return nil
    }
}
