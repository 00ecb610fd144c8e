import COpenCL
import ScalpelCore

/// Everything Scalpel reads about one OpenCL device, once, at enumeration.
public struct OpenCLDeviceInfo: Sendable, Hashable {
    /// The device type from CL_DEVICE_TYPE; the raw value is how it is printed.
    public enum Kind: String, Sendable {
        /// A GPU, an accelerator, a CPU device (PoCL, Intel's CPU runtime), or a type that is none
        /// of these.
        case gpu = "GPU", accelerator = "accelerator", cpu = "CPU", other = "other"

        /// GPU first, then accelerators, then CPU devices.
        var rank: Int {
            switch self {
            case .gpu: return 0
            case .accelerator: return 1
            case .cpu: return 2
            case .other: return 3
            }
        }
    }

    /// The device's identity, `.opencl(platform: platformIndex, device: deviceIndex)`.
    public var id: DeviceID
    /// The position of the device's platform in the ICD loader's platform list (clGetPlatformIDs).
    public var platformIndex: Int
    /// The position of the device in its platform's list of devices of every type (clGetDeviceIDs).
    public var deviceIndex: Int
    /// CL_PLATFORM_NAME, trimmed (empty when the query fails).
    public var platformName: String
    /// CL_PLATFORM_VENDOR, trimmed (empty when the query fails).
    public var platformVendor: String
    /// CL_PLATFORM_VERSION, trimmed (empty when the query fails).
    public var platformVersion: String
    /// CL_DEVICE_NAME, trimmed (empty when the query fails).
    public var name: String
    /// The device type (a GPU bit wins over an accelerator bit, which wins over a CPU bit).
    public var kind: Kind
    /// CL_DEVICE_VENDOR, trimmed (empty when the query fails); the GEMM tuning table matches
    /// vendors in it.
    public var vendor: String
    /// CL_DRIVER_VERSION, trimmed (empty when the query fails).
    public var driverVersion: String
    /// CL_DEVICE_VERSION, the OpenCL version the device supports, trimmed (empty when the query
    /// fails).
    public var deviceVersion: String
    /// CL_DEVICE_OPENCL_C_VERSION, the highest OpenCL C version its compiler accepts, trimmed
    /// (empty when the query fails).
    public var openCLCVersion: String
    /// CL_DEVICE_MAX_COMPUTE_UNITS (0 when the query fails).
    public var computeUnits: Int
    /// CL_DEVICE_MAX_CLOCK_FREQUENCY in MHz (0 when the query fails).
    public var clockMHz: Int
    /// CL_DEVICE_GLOBAL_MEM_SIZE in bytes (0 when the query fails).
    public var globalMemoryBytes: Int
    /// CL_DEVICE_MAX_MEM_ALLOC_SIZE: the largest single buffer, in bytes (0 when the query fails).
    public var maxAllocationBytes: Int
    /// CL_DEVICE_LOCAL_MEM_SIZE: __local memory per work-group, in bytes (0 when the query fails).
    public var localMemoryBytes: Int
    /// Whether __local memory is dedicated on-chip memory (false: ordinary memory, as on PoCL).
    public var localMemoryDedicated: Bool
    /// CL_DEVICE_MAX_WORK_GROUP_SIZE in work-items (0 when the query fails); a compiled kernel may
    /// allow fewer.
    public var maxWorkGroupSize: Int
    /// CL_DEVICE_PREFERRED_VECTOR_WIDTH_FLOAT in floats (0 when the query fails).
    public var preferredFloatVectorWidth: Int
    /// Whether the device lists the cl_khr_fp16 extension.
    public var fp16: Bool
    /// Whether the device lists cl_khr_fp64 or reports a non-zero CL_DEVICE_DOUBLE_FP_CONFIG.
    public var fp64: Bool
    /// CL_DEVICE_AVAILABLE (false when the query fails).
    public var available: Bool
    /// CL_DEVICE_COMPILER_AVAILABLE: whether the platform can build programs from source for the
    /// device, as Scalpel does (false when the query fails).
    public var compilerAvailable: Bool

    /// What the program cache and the scheduler key on: a new driver means new binaries and
    /// new measurements.
    public var cacheIdentity: String {
        "\(name)|\(vendor)|\(driverVersion)|\(platformName)|\(platformVersion)"
    }

    /// A device's strength within its kind: compute units × clock, then memory.
    var throughputScore: Int { computeUnits * max(clockMHz, 1) }

    /// Sorts best first: kind (GPU, accelerator, CPU), then compute units × clock, then
    /// global memory, then enumeration order.
    static func ranked(_ devices: [OpenCLDeviceInfo]) -> [OpenCLDeviceInfo] {
        devices.sorted { a, b in
            if a.kind.rank != b.kind.rank { return a.kind.rank < b.kind.rank }
            if a.throughputScore != b.throughputScore { return a.throughputScore > b.throughputScore }
            if a.globalMemoryBytes != b.globalMemoryBytes { return a.globalMemoryBytes > b.globalMemoryBytes }
            return (a.platformIndex, a.deviceIndex) < (b.platformIndex, b.deviceIndex)
        }
    }

    init(library: OpenCLLibrary, platform: cl_platform_id?, platformIndex: Int, device: cl_device_id?, deviceIndex: Int) {
        id = .opencl(platform: platformIndex, device: deviceIndex)
        self.platformIndex = platformIndex
        self.deviceIndex = deviceIndex
        platformName = library.platformString(platform, CL_PLATFORM_NAME)
        platformVendor = library.platformString(platform, CL_PLATFORM_VENDOR)
        platformVersion = library.platformString(platform, CL_PLATFORM_VERSION)
        name = library.deviceString(device, CL_DEVICE_NAME)
        let type = library.deviceValue(device, CL_DEVICE_TYPE, as: cl_device_type.self)
        if type & cl_device_type(CL_DEVICE_TYPE_GPU) != 0 {
            kind = .gpu
        } else if type & cl_device_type(CL_DEVICE_TYPE_ACCELERATOR) != 0 {
            kind = .accelerator
        } else if type & cl_device_type(CL_DEVICE_TYPE_CPU) != 0 {
            kind = .cpu
        } else {
            kind = .other
        }
        vendor = library.deviceString(device, CL_DEVICE_VENDOR)
        driverVersion = library.deviceString(device, CL_DRIVER_VERSION)
        deviceVersion = library.deviceString(device, CL_DEVICE_VERSION)
        openCLCVersion = library.deviceString(device, CL_DEVICE_OPENCL_C_VERSION)
        computeUnits = Int(library.deviceValue(device, CL_DEVICE_MAX_COMPUTE_UNITS, as: cl_uint.self))
        clockMHz = Int(library.deviceValue(device, CL_DEVICE_MAX_CLOCK_FREQUENCY, as: cl_uint.self))
        globalMemoryBytes = Int(library.deviceValue(device, CL_DEVICE_GLOBAL_MEM_SIZE, as: cl_ulong.self))
        maxAllocationBytes = Int(library.deviceValue(device, CL_DEVICE_MAX_MEM_ALLOC_SIZE, as: cl_ulong.self))
        localMemoryBytes = Int(library.deviceValue(device, CL_DEVICE_LOCAL_MEM_SIZE, as: cl_ulong.self))
        localMemoryDedicated = library.deviceValue(device, CL_DEVICE_LOCAL_MEM_TYPE, as: cl_device_local_mem_type.self)
            == cl_device_local_mem_type(CL_LOCAL)
        maxWorkGroupSize = Int(library.deviceValue(device, CL_DEVICE_MAX_WORK_GROUP_SIZE, as: Int.self))
        preferredFloatVectorWidth = Int(library.deviceValue(device, CL_DEVICE_PREFERRED_VECTOR_WIDTH_FLOAT, as: cl_uint.self))
        let extensions = library.deviceString(device, CL_DEVICE_EXTENSIONS).split(separator: " ")
        fp16 = extensions.contains("cl_khr_fp16")
        fp64 = extensions.contains("cl_khr_fp64") || library.deviceValue(device, CL_DEVICE_DOUBLE_FP_CONFIG, as: cl_ulong.self) != 0
        available = library.deviceValue(device, CL_DEVICE_AVAILABLE, as: cl_bool.self) != 0
        compilerAvailable = library.deviceValue(device, CL_DEVICE_COMPILER_AVAILABLE, as: cl_bool.self) != 0
    }
}
