import ScalpelCore

/// The GEMM kernel family and its `-D` knobs for one device, looked up kind → vendor →
/// properties, with a safe default at each level (after CLBlast's tuning database).
public struct GEMMTuning: Sendable, Hashable, CustomStringConvertible {
    /// The kernel families of gemm.cl.
    public enum Variant: String, Sendable, CaseIterable {
        /// Packed panels and explicit vectors, no __local memory: for CPU-type devices.
        case packed
        /// __local-memory tiles with register blocking: for GPUs.
        case tiled
    }

    public var variant: Variant
    public var packRM = 6
    public var packVW = 16
    /// packed: work-items per work-group, along the columns of C (a host-side launch knob).
    public var packGroup = 4
    public var tileM = 64
    public var tileN = 64
    public var tileK = 16
    public var wptM = 4
    public var wptN = 4
    /// Silences the compiler's warnings: wider vectors than the device's native width make
    /// clang warn about the (internal, inlined) vector ABI of every builtin call.
    public var silenceWarnings = false

    /// Work-items per work-group of the tiled kernel.
    public var tileWorkGroup: (n: Int, m: Int) { (tileN / wptN, tileM / wptM) }

    /// The `-D` options for gemm.cl.
    public var buildOptions: String {
        "-DPACK_RM=\(packRM) -DPACK_VW=\(packVW) -DTILE_M=\(tileM) -DTILE_N=\(tileN) -DTILE_K=\(tileK) -DTILE_WPT_M=\(wptM) -DTILE_WPT_N=\(wptN)"
            + (silenceWarnings ? " -w" : "")
    }

    public var description: String {
        switch variant {
        case .packed: return "packed \(packRM)×\(packVW)"
        case .tiled: return "tiled \(tileM)×\(tileN)×\(tileK), \(wptM)×\(wptN) per work-item"
        }
    }

    /// The entry for `device`.
    public static func lookup(_ device: OpenCLDeviceInfo) -> GEMMTuning {
        var tuning = GEMMTuning(variant: device.kind == .cpu ? .packed : .tiled)
        // Packed: one float16 per row of C; 6 rows fill AVX2's 16 registers (12 accumulators,
        // B, A), 8 rows suit AVX-512's 32 (measured: 6×16 at 103–189 GFLOP/s on 2 Zen 3
        // cores; 8×16 at 110 on one Zen 4 core).
        tuning.packRM = device.preferredFloatVectorWidth >= 16 ? 8 : 6
        tuning.silenceWarnings = device.kind == .cpu && tuning.packVW > device.preferredFloatVectorWidth
        if device.kind != .cpu {
            let vendor = device.vendor.lowercased()
            if vendor.contains("nvidia") || vendor.contains("advanced micro devices") || vendor.contains("amd") {
                // Large register blocks for GPUs with big register files.
                (tuning.tileM, tuning.tileN, tuning.tileK, tuning.wptM, tuning.wptN) = (128, 128, 16, 8, 8)
            }
        }
        // Stay within the device's limits, else fall back to the safe default tile.
        let (n, m) = tuning.tileWorkGroup
        let localBytes = tuning.tileK * (tuning.tileM + 1 + tuning.tileN + 1) * 4
        if n * m > device.maxWorkGroupSize || localBytes > device.localMemoryBytes {
            (tuning.tileM, tuning.tileN, tuning.tileK, tuning.wptM, tuning.wptN) = (32, 32, 8, 2, 2)
        }
        return tuning
    }
}
