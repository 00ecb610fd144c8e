import CScalpelSystem
import Foundation

/// Facts about the host CPU that choose the CPU kernels.
public enum CPUInfo {
    /// Whether the fast SIMD kernels (compiled for AVX2+FMA on x86-64) can run here.
    public static let hasFastSIMD: Bool = scalpel_cpu_has_fast_simd() != 0

    /// Whether the CPU has AVX-512 Foundation: 32 vector registers of 16 floats, which CPU
    /// OpenCL runtimes compile for whatever preferred vector width they report.
    public static let hasAVX512: Bool = scalpel_cpu_has_avx512() != 0

    /// The CPU model name.
    public static let modelName: String = {
        var buffer = [CChar](repeating: 0, count: 128)
        scalpel_cpu_model_name(&buffer, Int32(buffer.count))
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }()

    /// Threads the CPU backend uses: `SCALPEL_THREADS` if set to a positive number, else the
    /// number of processors this process may run on.
    public static var defaultThreadCount: Int {
        if let text = ProcessInfo.processInfo.environment["SCALPEL_THREADS"], let n = Int(text), n > 0 {
            return n
        }
        return usableProcessorCount
    }

    /// The processors this process may run on: the affinity mask (taskset, a container's
    /// cpuset, or an MPI launcher binding each rank to its cores), else all active ones.
    public static var usableProcessorCount: Int {
        let all = max(1, ProcessInfo.processInfo.activeProcessorCount)
        let allowed = Int(scalpel_cpu_affinity_count())
        return allowed > 0 ? min(all, allowed) : all
    }
}
