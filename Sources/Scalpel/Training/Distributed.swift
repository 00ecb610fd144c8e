import CScalpelMPI
import Foundation
import ScalpelCore
import ScalpelNN
import ScalpelTensor

/// Data-parallel training over MPI (Open MPI, loaded at run time): every rank holds the whole
/// model, takes its slice of each global batch, and the gradients are summed with allreduce
/// (weighted by each slice's share of the batch), so every rank takes the same optimizer step
/// a single process would take on the whole batch.
public final class DistributedContext: ProcessGroup, @unchecked Sendable {
    /// This process's rank in the MPI job, from 0.
    public let rank: Int
    /// The number of ranks in the job.
    public let size: Int
    /// This rank's place among the ranks on its machine, for picking a device.
    public let localRank: Int
    /// The number of ranks on this machine (`OMPI_COMM_WORLD_LOCAL_SIZE`, else `size`), for
    /// sharing its cores.
    public let localSize: Int
    /// Seconds spent in allreduce, for the benchmark.
    public private(set) var reduceSeconds = 0.0
    /// Floats per allreduce call: gradients go in buckets of at most this many.
    public static let bucketFloats = 1 << 22

    /// Whether this is rank 0, the rank that validates, selects and writes the outputs.
    public var isRoot: Bool { rank == 0 }

    private init(rank: Int, size: Int, localRank: Int, localSize: Int) {
        (self.rank, self.size, self.localRank, self.localSize) = (rank, size, localRank, localSize)
    }

    /// Loads the MPI library (`SCALPEL_MPI_LIBRARY`, else libmpi.so.40) and joins the job
    /// `mpirun` started (a process started alone is a job of one rank).
    public static func start(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> DistributedContext {
        var error = [CChar](repeating: 0, count: 512)
        let library = environment["SCALPEL_MPI_LIBRARY"]
        let loaded = library.map { scalpel_mpi_load($0, &error, error.count) } ?? scalpel_mpi_load(nil, &error, error.count)
        guard loaded == 0 else {
            throw ScalpelError.invalidArgument("--distributed: \(text(error))")
        }
        let code = scalpel_mpi_init()
        guard code == 0 else { throw ScalpelError.invalidArgument("--distributed: MPI_Init failed: \(message(code))") }
        let rank = Int(scalpel_mpi_rank()), size = Int(scalpel_mpi_size())
        let localRank = environment["OMPI_COMM_WORLD_LOCAL_RANK"].flatMap(Int.init) ?? rank
        let localSize = environment["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap(Int.init) ?? size
        return DistributedContext(rank: rank, size: size, localRank: localRank, localSize: localSize)
    }

    static func message(_ code: Int32) -> String {
        var text = [CChar](repeating: 0, count: 512)
        scalpel_mpi_error_string(code, &text, text.count)
        return Self.text(text)
    }

    static func text(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    func check(_ code: Int32, _ what: String) throws {
        guard code == 0 else {
            throw ScalpelError.io(path: "MPI", reason: "\(what) failed on rank \(rank) of \(size): \(Self.message(code)) (a rank has probably died; "
                + "the last checkpoint written is intact: resume from it)")
        }
    }

    /// Sums `values` over all ranks, in place, in buckets.
    public func allreduceSum(_ values: inout [Float]) throws {
        let started = Date()
        defer { reduceSeconds += Date().timeIntervalSince(started) }
        try values.withUnsafeMutableBufferPointer { buffer in
            var start = 0
            while start < buffer.count {
                let count = min(Self.bucketFloats, buffer.count - start)
                try check(scalpel_mpi_allreduce_sum_float(buffer.baseAddress! + start, Int32(count)), "allreduce")
                start += count
            }
        }
    }

    /// Sums `values` over all ranks, in place, in one call (not counted in `reduceSeconds`).
    public func allreduceSum(_ values: inout [Double]) throws {
        try values.withUnsafeMutableBufferPointer { try check(scalpel_mpi_allreduce_sum_double($0.baseAddress!, Int32($0.count)), "allreduce") }
    }

    /// Rank `root`'s `values` on every rank.
    public func broadcast(_ values: inout [Float], root: Int = 0) throws {
        try values.withUnsafeMutableBufferPointer { buffer in
            var start = 0
            while start < buffer.count {
                let count = min(Self.bucketFloats, buffer.count - start)
                try check(scalpel_mpi_broadcast_float(buffer.baseAddress! + start, Int32(count), Int32(root)), "broadcast")
                start += count
            }
        }
    }

    /// Waits until every rank has reached this call; throws when MPI fails, as when a rank has died.
    public func barrier() throws { try check(scalpel_mpi_barrier(), "barrier") }

    /// Ends this process's part in the MPI job (MPI_Finalize, unless MPI is already finalised).
    public func finish() { _ = scalpel_mpi_finalize() }

    /// Ends the whole job (every rank) after an error on this one.
    public func abort(_ code: Int32) -> Never {
        scalpel_mpi_abort(code)
        exit(code)
    }

    /// This rank's slice of a global batch of `count` rows: contiguous, sizes differing by at most one.
    public func slice(of count: Int) -> Range<Int> {
        (rank * count / size) ..< ((rank + 1) * count / size)
    }

    /// Makes every rank's tensors rank 0's (at the start, and after a resume).
    func broadcast(_ tensors: [Tensor]) throws {
        var flat = try tensors.flatMap { try $0.array() }
        try broadcast(&flat)
        var offset = 0
        for tensor in tensors {
            try flat[offset ..< offset + tensor.count].withUnsafeBufferPointer { try tensor.backend.write($0, to: tensor.storage, at: 0) }
            offset += tensor.count
        }
    }

    /// Sums the gradients of `parameters` over the ranks after scaling this rank's by `weight`
    /// (its share of the global batch), in place; a parameter without a gradient contributes zeros.
    func reduceGradients(_ parameters: [Tensor], weight: Float) throws {
        var flat: [Float] = []
        flat.reserveCapacity(parameters.reduce(0) { $0 + $1.count })
        for p in parameters {
            if let grad = p.grad { flat += try grad.array().map { $0 * weight } } else { flat += [Float](repeating: 0, count: p.count) }
        }
        try allreduceSum(&flat)
        var offset = 0
        for p in parameters {
            if p.grad == nil { p.grad = try Tensor.zeros(p.shape, on: p.backend) }
            try flat[offset ..< offset + p.count].withUnsafeBufferPointer { try p.grad!.backend.write($0, to: p.grad!.storage, at: 0) }
            offset += p.count
        }
    }

    /// Replaces each of `tensors` (BatchNorm's running statistics) by its mean over the ranks.
    func average(_ tensors: [Tensor]) throws {
        guard !tensors.isEmpty else { return }
        var flat = try tensors.flatMap { try $0.array() }
        try allreduceSum(&flat)
        let scale = 1 / Float(size)
        var offset = 0
        for tensor in tensors {
            let mean = flat[offset ..< offset + tensor.count].map { $0 * scale }
            try mean.withUnsafeBufferPointer { try tensor.backend.write($0, to: tensor.storage, at: 0) }
            offset += tensor.count
        }
    }
}
