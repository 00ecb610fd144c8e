import ScalpelCore

/// The processes of a data-parallel run, as the operations that must see the whole global batch
/// (synchronised batch normalisation) use them: an explicit dependency, given to the layers that
/// need it (`Module.synchronizeBatchNorm(over:)`), never a global.
///
/// Every process must make the same calls in the same order (they are collective): the
/// forward and backward passes of identical models do.
public protocol ProcessGroup: AnyObject {
    /// The number of processes.
    var size: Int { get }
    /// Sums `values` element-wise over all processes, in place (an MPI allreduce).
    func allreduceSum(_ values: inout [Float]) throws
}

extension Tensor {
    /// This tensor summed element-wise over the processes of `group` (itself with none). Its
    /// gradient is the upstream gradient summed the same way: each process's input reaches
    /// every process's output.
    public func sumAcrossProcesses(_ group: (any ProcessGroup)?) throws -> Tensor {
        guard let group else { return self }
        var values = try array()
        try group.allreduceSum(&values)
        let output = try Tensor(values, shape: shape, on: backend)
        return Tensor.record(output, "sumAcrossProcesses", [self]) { gradient in
            var summed = try gradient.array()
            try group.allreduceSum(&summed)
            return [try Tensor(summed, shape: gradient.shape, on: gradient.backend)]
        }
    }
}
