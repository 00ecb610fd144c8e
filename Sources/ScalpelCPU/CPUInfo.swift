import CScalpelSystem
import Foundation
import ScalpelCore

/// A level of the CPU-Swift backend's kernels, chosen once at start-up: the best this CPU runs,
/// or a lower one that `SCALPEL_CPU_LEVEL` asks for (to test or compare the levels).
public enum CPULevel: String, Sendable, CaseIterable {
    /// The plain reference loops, on any CPU.
    case portable
    /// The fast kernels compiled for AVX2 + FMA (x86-64-v3).
    case avx2
    /// The avx2 level with the GEMM's micro-kernel on AVX-512 (x86-64-v4: 6×32 blocks in
    /// 512-bit registers): the GEMMs of convolutions and linear layers; attention's fused
    /// kernels and the element-wise ones stay AVX2 + FMA.
    case avx512
    /// The fast kernels on arm64's SIMD baseline (NEON).
    case neon

    /// What the level runs, in words.
    public var summary: String {
        switch self {
        case .portable: "portable (the plain reference kernels)"
        case .avx2: "avx2 (the fast kernels, AVX2 + FMA)"
        case .avx512: "avx512 (the fast kernels, the GEMM on AVX-512, the rest AVX2 + FMA)"
        case .neon: "neon (the fast kernels, arm64 SIMD)"
        }
    }
}

/// Facts about the host CPU that choose the CPU kernels.
public enum CPUInfo {
    /// Whether the fast SIMD kernels (compiled for AVX2+FMA on x86-64) can run here.
    public static let hasFastSIMD: Bool = scalpel_cpu_has_fast_simd() != 0

    /// Whether the CPU has AVX-512 Foundation: 32 vector registers of 16 floats, which CPU
    /// OpenCL runtimes compile for whatever preferred vector width they report.
    public static let hasAVX512: Bool = scalpel_cpu_has_avx512() != 0

    /// Whether the CPU runs everything the AVX-512 GEMM kernel is compiled for (x86-64-v4:
    /// AVX-512 F, BW, CD, DQ and VL on top of AVX2 + FMA).
    public static let hasAVX512Kernels: Bool = scalpel_cpu_has_avx512_kernels() != 0

    /// Whether the CPU runs each 512-bit FMA as two 256-bit halves (AMD Zen 4): its AVX-512 GEMM
    /// measured no faster than the AVX2 one (BENCHMARKS.md), so `avx2` stays its default.
    public static let splitsWideFMA: Bool = scalpel_cpu_splits_512bit_fma() != 0

    /// The default kernel level: the highest this CPU runs — `avx512` on an x86-64 CPU with the
    /// x86-64-v4 features, `avx2` on one with AVX2 and FMA, `neon` on arm64, else `portable` —
    /// except `avx2` rather than `avx512` where the CPU `splitsWideFMA`.
    public static let bestLevel: CPULevel = {
        let highest = runnableLevels.last!
        return highest == .avx512 && splitsWideFMA ? .avx2 : highest
    }()

    /// The levels this CPU runs, lowest first: `portable` everywhere, then `neon` on arm64, or
    /// `avx2` and `avx512` on x86-64 as far as the CPU goes.
    public static let runnableLevels: [CPULevel] = {
        guard hasFastSIMD else { return [.portable] }
        #if arch(arm64)
        return [.portable, .neon]
        #else
        return hasAVX512Kernels ? [.portable, .avx2, .avx512] : [.portable, .avx2]
        #endif
    }()

    /// The level in use: `SCALPEL_CPU_LEVEL` when it names a level this CPU runs (to test or
    /// compare), else the default, `bestLevel`, with a warning naming the levels it runs.
    public static let level: CPULevel = {
        guard let text = ProcessInfo.processInfo.environment["SCALPEL_CPU_LEVEL"], !text.isEmpty else { return bestLevel }
        guard let asked = CPULevel(rawValue: text.lowercased()), runnableLevels.contains(asked) else {
            Diagnostics.shared.warnOnce(key: "cpu-level", "SCALPEL_CPU_LEVEL=\(text): this CPU runs \(runnableLevels.map(\.rawValue).joined(separator: ", ")); "
                + "using \(bestLevel.rawValue)")
            return bestLevel
        }
        return asked
    }()

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
