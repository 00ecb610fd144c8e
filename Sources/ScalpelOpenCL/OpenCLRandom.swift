import COpenCL
import Foundation
import ScalpelCPU
import ScalpelCore

// The randomness ops (random.cl) and the writes that do not wait, of the OpenCL backend.
extension OpenCLBackend {
    /// Enqueues random.cl's dropout, one work-item per Philox block (four elements) that elements
    /// offset ..< offset + count touch; when random.cl does not build, runs the CPU-Swift backend's
    /// `dropout` on copies of the operands, which draws the same mask.
    public func dropout(x: any DeviceBuffer, y: any DeviceBuffer, count: Int, keep: Float, scale: Float, seed: UInt64, offset: UInt64) throws {
        guard count > 0 else { return }
        // One work-item per Philox block touched by elements offset ..< offset + count.
        let blocks = Int((offset &+ UInt64(count) &+ 3) >> 2 &- (offset >> 2))
        try launch("dropout", file: "random.cl", operands: [(x, count), (y, count)]) { program, b in
            try run1D(program, "dropout", [.buffer(b[0].mem), .buffer(b[1].mem), .long(Int64(count)), .float(keep), .float(scale),
                                           .long(Int64(bitPattern: seed)), .long(Int64(bitPattern: offset))], count: blocks)
        } fallback: { cpu, b in try cpu.dropout(x: b[0], y: b[1], count: count, keep: keep, scale: scale, seed: seed, offset: offset) }
    }

    /// Enqueues random.cl's augment_images, one work-item per output pixel looping over the
    /// channels; an index that is not an integer in 0..<imageCount fills that sample with NaN
    /// rather than throwing (the CPU-Swift backend throws). When random.cl does not build, runs the
    /// CPU-Swift backend's `augmentImages` on copies of the operands.
    public func augmentImages(_ parameters: AugmentationParameters, images: any DeviceBuffer, imageCount: Int, index: any DeviceBuffer,
                              output: any DeviceBuffer, batch: Int, seed: UInt64, offset: UInt64) throws {
        let size = parameters.imageSize
        guard batch > 0, size > 0 else { return }
        let p = parameters
        try launch("augment_images", file: "random.cl", operands: [(images, imageCount * size), (index, batch), (output, batch * size)]) { program, b in
            try run1D(program, "augment_images", [.buffer(b[0].mem), .int(Int32(imageCount)), .buffer(b[1].mem), .buffer(b[2].mem),
                                                  .int(Int32(batch)), .int(Int32(p.channels)), .int(Int32(p.height)), .int(Int32(p.width)),
                                                  .float(p.maxDegrees), .float(p.maxShift), .int(p.flip ? 1 : 0), .float(p.fill),
                                                  .long(Int64(bitPattern: seed)), .long(Int64(bitPattern: offset))],
                      count: batch * p.height * p.width)
        } fallback: { cpu, b in
            try cpu.augmentImages(p, images: b[0], imageCount: imageCount, index: b[1], output: b[2], batch: batch, seed: seed, offset: offset)
        }
    }

    /// Philox-4x32-10 of each counter under its key, computed by random.cl's `philox_words`:
    /// the device's bits, for checking them against the published known answers and the host.
    public func philoxBlocks(counters: [SIMD4<UInt32>], keys: [SIMD2<UInt32>]) throws -> [SIMD4<UInt32>] {
        precondition(counters.count == keys.count, "one key per counter")
        let n = counters.count
        guard n > 0 else { return [] }
        // The words travel bit for bit in fp32 buffers (a copy never looks at the values).
        let c = try makeBuffer(counters.flatMap { v in (0 ..< 4).map { Float(bitPattern: v[$0]) } })
        let k = try makeBuffer(keys.flatMap { v in (0 ..< 2).map { Float(bitPattern: v[$0]) } })
        let out = try makeBuffer(count: 4 * n)
        try launch("philox_words", file: "random.cl", operands: [(c, 4 * n), (k, 2 * n), (out, 4 * n)]) { program, b in
            try run1D(program, "philox_words", [.buffer(b[0].mem), .buffer(b[1].mem), .buffer(b[2].mem), .int(Int32(n))], count: n)
        } fallback: { _, b in
            let (cs, ks, os) = (b[0] as! CPUBuffer, b[1] as! CPUBuffer, b[2] as! CPUBuffer)
            for i in 0 ..< n {
                let word = { (p: UnsafeMutablePointer<Float>, j: Int) in p[j].bitPattern }
                let r = Philox.block(counter: SIMD4((0 ..< 4).map { word(cs.pointer, 4 * i + $0) }),
                                     key: SIMD2((0 ..< 2).map { word(ks.pointer, 2 * i + $0) }))
                for j in 0 ..< 4 { os.pointer[4 * i + j] = Float(bitPattern: r[j]) }
            }
        }
        let words = try read(out).map(\.bitPattern)
        return (0 ..< n).map { SIMD4(words[4 * $0 ..< 4 * $0 + 4]) }
    }

    /// Enqueues a non-blocking clEnqueueWriteBuffer from a private copy of `values`, freed at a
    /// later write once this one's event reports completion (or when the backend goes); throws
    /// `shapeMismatch` when the values do not fit from `offset`, and the driver's error when the
    /// enqueue fails.
    public func writeWithoutWaiting(_ values: [Float], to buffer: any DeviceBuffer, at offset: Int) throws {
        let target = try storage(buffer, op: "write")
        guard offset >= 0, offset + values.count <= target.count else {
            throw ScalpelError.shapeMismatch(op: "write", detail: "\(values.count) values at offset \(offset) do not fit a buffer of \(target.count)")
        }
        guard !values.isEmpty else { return }
        // The driver reads the host memory after this call returns: a copy of the values the
        // staging area owns until the write's event says it is done.
        let copy = UnsafeMutableBufferPointer<Float>.allocate(capacity: values.count)
        _ = copy.initialize(from: values)
        try lock.withLock {
            var event: cl_event?
            let status = library.api.clEnqueueWriteBuffer(queue, target.mem, cl_bool(CL_FALSE), offset * 4, values.count * 4,
                                                          copy.baseAddress, 0, nil, &event)
            if status != CL_SUCCESS {
                copy.deallocate()
                throw failure("clEnqueueWriteBuffer", status, "writing \(values.count) values without waiting")
            }
            if Profiler.isEnabled { Profiler.shared.recordTransfer(.hostToDevice, bytes: values.count * 4, blocking: false) }
            hostStaging.keep(copy, until: event)
        }
    }

    /// A quarter of the device's memory, in one allocation no larger than the device allows.
    public var residentDataLimit: Int? {
        min(info.maxAllocationBytes > 0 ? info.maxAllocationBytes : Int.max, max(info.globalMemoryBytes, 0) / 4)
    }
}

/// Host copies of values being written to the device without waiting, each kept until its
/// write's event reports completion: finished ones are freed at the next write, the rest when
/// the backend goes (after waiting for them).
final class HostStaging: @unchecked Sendable {
    private let library: OpenCLLibrary
    private let lock = NSLock()
    private var pending: [(memory: UnsafeMutableBufferPointer<Float>, event: cl_event?)] = []

    init(library: OpenCLLibrary) { self.library = library }

    /// Keeps `memory` until `event` completes, and frees what earlier writes no longer need.
    func keep(_ memory: UnsafeMutableBufferPointer<Float>, until event: cl_event?) {
        lock.withLock {
            pending = pending.filter { entry in
                guard let event = entry.event, finished(event) else { return true }
                release(entry)
                return false
            }
            pending.append((memory, event))
        }
    }

    private func finished(_ event: cl_event) -> Bool {
        var status: cl_int = 0
        let result = library.api.clGetEventInfo(event, cl_event_info(CL_EVENT_COMMAND_EXECUTION_STATUS), MemoryLayout<cl_int>.size, &status, nil)
        // An error status (negative) also ends the command; its failure surfaces at the next wait.
        return result == CL_SUCCESS && status <= CL_COMPLETE
    }

    private func release(_ entry: (memory: UnsafeMutableBufferPointer<Float>, event: cl_event?)) {
        if let event = entry.event { _ = library.api.clReleaseEvent(event) }
        entry.memory.deallocate()
    }

    deinit {
        for entry in pending {
            if entry.event != nil {
                var events: [cl_event?] = [entry.event]
                _ = library.api.clWaitForEvents(1, &events)
            }
            release(entry)
        }
    }
}
