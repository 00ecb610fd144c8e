import ScalpelCore

// How the CPU-Swift backend splits a memory-bound pass (element-wise arithmetic, activations,
// normalisation) over its worker threads.
extension CPUBackend {
    /// Elements from which a memory-bound pass is split over the worker threads: a pool round
    /// trip costs about 16 µs, which a pass over 32,768 floats takes too.
    static let parallelThreshold = 32768

    /// Runs `body(range)` over parts of 0..<count, on the pool's threads when the fast kernels
    /// run and the call touches at least `parallelThreshold` elements, else once on the calling
    /// thread. Part boundaries are multiples of `alignment` (16 floats: whole cache lines and
    /// whole vectors), so that a SIMD loop keeps its tail to the last part.
    func forParts(_ count: Int, elements: Int, alignment: Int = 1, _ body: (Range<Int>) -> Void) {
        let units = (count + alignment - 1) / alignment
        let threadCount = kernels == .fast && elements >= Self.parallelThreshold ? min(threads, units) : 1
        if threadCount <= 1 { return body(0 ..< count) }
        CPUBackend.pool(size: threads).run(threads: threadCount) { t, parts in
            let range = min(count, units * t / parts * alignment) ..< min(count, units * (t + 1) / parts * alignment)
            if !range.isEmpty { body(range) }
        }
    }
}
