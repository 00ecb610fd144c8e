import ScalpelCore

/// Sums across the processes of a data-parallel run, for the operations that must see the
/// whole global batch (synchronised batch normalisation). The distributed runtime installs
/// `reducer` (an MPI allreduce) while it trains and removes it afterwards; without one every
/// operation here is the identity, as in a single process.
///
/// Every process must make the same calls in the same order (they are collective): the
/// forward and backward passes of identical models do.
public enum CrossProcess {
    /// Sums the values over all processes, in place.
    nonisolated(unsafe) public static var reducer: ((inout [Float]) throws -> Void)?

    /// Whether a reducer is installed.
    public static var isActive: Bool { reducer != nil }

    /// `values` summed over all processes (themselves without a reducer).
    public static func sum(_ values: [Float]) throws -> [Float] {
        guard let reducer else { return values }
        var result = values
        try reducer(&result)
        return result
    }
}

extension Tensor {
    /// This tensor summed elementwise over the processes of a distributed run. Its gradient
    /// is the upstream gradient summed the same way: each process's input reaches every
    /// process's output.
    public func sumAcrossProcesses() throws -> Tensor {
        guard CrossProcess.isActive else { return self }
        let output = try Tensor(try CrossProcess.sum(try array()), shape: shape, on: backend)
        return Tensor.record(output, "sumAcrossProcesses", [self]) { gradient in
            [try Tensor(try CrossProcess.sum(try gradient.array()), shape: gradient.shape, on: gradient.backend)]
        }
    }
}
