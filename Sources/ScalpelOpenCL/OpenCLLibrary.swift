import COpenCL
import Foundation
import ScalpelCore

/// The OpenCL ICD loader, opened with dlopen at run time, and typed wrappers around the calls
/// Scalpel makes. `SCALPEL_OPENCL_LIBRARY` names another library file to open (for example an
/// ICD loader carried next to the binary).
public final class OpenCLLibrary: @unchecked Sendable {
    let api: ScalpelCLAPI
    /// The file that was opened.
    public let path: String

    /// The library name tried when `SCALPEL_OPENCL_LIBRARY` is not set.
    public static let defaultName = "libOpenCL.so.1"

    /// Opens the loader; throws `deviceUnavailable` with dlopen's reason when it is missing.
    init(path: String) throws {
        var table = ScalpelCLAPI()
        var error = [CChar](repeating: 0, count: 1024)
        let status = scalpel_cl_open(&table, path, &error, error.count)
        guard status == 0 else {
            let reason = String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw ScalpelError.deviceUnavailable(device: "OpenCL", reason: "cannot load \(path): \(reason)")
        }
        api = table
        self.path = path
    }

    /// Throws `ScalpelError.openCL` unless `code` is CL_SUCCESS.
    func check(_ code: cl_int, _ call: String, _ context: @autoclosure () -> String = "") throws {
        if code != CL_SUCCESS {
            throw ScalpelError.openCL(call: call, code: code, name: CLErrorNames.name(code), context: context())
        }
    }

    // MARK: Info queries

    func platformIDs() throws -> [cl_platform_id?] {
        var count: cl_uint = 0
        let status = api.clGetPlatformIDs(0, nil, &count)
        // ocl-icd answers -1001 when it has no vendor files; others say 0 platforms.
        if status == -1001 || count == 0 { return [] }
        try check(status, "clGetPlatformIDs")
        var ids = [cl_platform_id?](repeating: nil, count: Int(count))
        try check(api.clGetPlatformIDs(count, &ids, nil), "clGetPlatformIDs")
        return ids
    }

    func platformString(_ platform: cl_platform_id?, _ param: Int32) -> String {
        infoString { api.clGetPlatformInfo(platform, cl_platform_info(param), $0, $1, $2) }
    }

    /// A string-valued clGet*Info query: asks for the size, then the bytes ("" on failure).
    private func infoString(_ query: (Int, UnsafeMutableRawPointer?, UnsafeMutablePointer<Int>?) -> cl_int) -> String {
        var size = 0
        guard query(0, nil, &size) == CL_SUCCESS, size > 0 else { return "" }
        var bytes = [CChar](repeating: 0, count: size)
        guard query(size, &bytes, nil) == CL_SUCCESS else { return "" }
        return Self.string(bytes)
    }

    func deviceIDs(_ platform: cl_platform_id?) throws -> [cl_device_id?] {
        var count: cl_uint = 0
        let status = api.clGetDeviceIDs(platform, cl_device_type(CL_DEVICE_TYPE_ALL), 0, nil, &count)
        if status == CL_DEVICE_NOT_FOUND || count == 0 { return [] }
        try check(status, "clGetDeviceIDs")
        var ids = [cl_device_id?](repeating: nil, count: Int(count))
        try check(api.clGetDeviceIDs(platform, cl_device_type(CL_DEVICE_TYPE_ALL), count, &ids, nil), "clGetDeviceIDs")
        return ids
    }

    func deviceString(_ device: cl_device_id?, _ param: Int32) -> String {
        infoString { api.clGetDeviceInfo(device, cl_device_info(param), $0, $1, $2) }
    }

    func deviceValue<T: FixedWidthInteger>(_ device: cl_device_id?, _ param: Int32, as: T.Type) -> T {
        var value: T = 0
        _ = api.clGetDeviceInfo(device, cl_device_info(param), MemoryLayout<T>.size, &value, nil)
        return value
    }

    static func string(_ bytes: [CChar]) -> String {
        String(decoding: bytes.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
