import COpenCL
import Foundation
import ScalpelCore

/// A built program and the kernels made from it.
final class CLProgram: @unchecked Sendable {
    let program: cl_program
    private var kernels: [String: cl_kernel] = [:]
    private let library: OpenCLLibrary

    init(program: cl_program, library: OpenCLLibrary) {
        self.program = program
        self.library = library
    }

    /// The kernel `name` (created once; callers hold the backend's lock).
    func kernel(_ name: String) throws -> cl_kernel {
        if let kernel = kernels[name] { return kernel }
        var status: cl_int = 0
        guard let kernel = library.api.clCreateKernel(program, name, &status), status == CL_SUCCESS else {
            throw ScalpelError.openCL(call: "clCreateKernel", code: status, name: CLErrorNames.name(status), context: "creating kernel \(name)")
        }
        kernels[name] = kernel
        return kernel
    }

    deinit {
        for kernel in kernels.values { _ = library.api.clReleaseKernel(kernel) }
        _ = library.api.clReleaseProgram(program)
    }
}

/// Turns the OpenCL C of `Kernels/` into programs for one device: built once per file and
/// option set, and kept on disk (`ProgramCache`, keyed by file, source, options and device
/// identity) so that a later run loads the binary instead of compiling. A build failure is
/// remembered and reported once, with the build log. Callers hold the backend's lock.
final class OpenCLCompiler: @unchecked Sendable {
    private let library: OpenCLLibrary
    private let context: cl_context
    private let device: cl_device_id?
    private let info: OpenCLDeviceInfo
    private let cache: ProgramCache
    private var programs: [String: Result<CLProgram, ScalpelError>] = [:]

    init(library: OpenCLLibrary, context: cl_context, device: cl_device_id?, info: OpenCLDeviceInfo) {
        self.library = library
        self.context = context
        self.device = device
        self.info = info
        cache = ProgramCache(directory: CacheDirectory.subdirectory("programs"))
    }

    /// Drops every program (the backend is closing).
    func removeAll() { programs.removeAll() }

    /// The program built from `file` with `options`.
    func program(_ file: String, options: String) throws -> CLProgram {
        let key = "\(file) \(options)"
        if let known = programs[key] { return try known.get() }
        let result: Result<CLProgram, ScalpelError>
        do {
            result = .success(try build(file, options: options))
        } catch let error as ScalpelError {
            result = .failure(error)
        } catch {
            result = .failure(.kernelSource(name: file, reason: "\(error)"))
        }
        programs[key] = result
        return try result.get()
    }

    private func build(_ file: String, options: String) throws -> CLProgram {
        let (source, origin) = try KernelSources.source(named: file)
        let id = info.id
        let cacheKey = "file=\(file) source=\(Digest.sha256Hex(source)) options=\(options) device=\(info.cacheIdentity)"
        let started = monotonicSeconds()
        if let binary = cache.load(key: cacheKey) {
            if let program = try? fromBinary(binary, options: options) {
                if Profiler.isEnabled { Profiler.shared.recordProgramBuild(fromCache: true, seconds: monotonicSeconds() - started) }
                Diagnostics.shared.note("\(file) for \(id): loaded from the program cache in \(String(format: "%.0f", (monotonicSeconds() - started) * 1e3)) ms")
                return program
            }
            Diagnostics.shared.note("\(file) for \(id): the driver refused the cached binary; rebuilding from source")
            cache.remove(key: cacheKey)
        }
        var status: cl_int = 0
        let program: cl_program? = source.withCString { text in
            var pointer: UnsafePointer<CChar>? = text
            var length = strlen(text)
            return library.api.clCreateProgramWithSource(context, 1, &pointer, &length, &status)
        }
        guard let program, status == CL_SUCCESS else {
            throw ScalpelError.openCL(call: "clCreateProgramWithSource", code: status, name: CLErrorNames.name(status), context: "loading \(file)")
        }
        var deviceList: [cl_device_id?] = [device]
        let buildStatus = library.api.clBuildProgram(program, 1, &deviceList, options, nil, nil)
        if buildStatus != CL_SUCCESS {
            // Read the log before releasing the program.
            let log = buildLog(program)
            _ = library.api.clReleaseProgram(program)
            throw ScalpelError.kernelBuild(program: file + (origin == "embedded" ? "" : " (from \(origin))"),
                                           device: "\(id) (\(info.name))",
                                           log: log.isEmpty ? "\(CLErrorNames.name(buildStatus)) (\(buildStatus))" : log)
        }
        if Profiler.isEnabled { Profiler.shared.recordProgramBuild(fromCache: false, seconds: monotonicSeconds() - started) }
        Diagnostics.shared.note("\(file) for \(id): compiled from \(origin) source in \(String(format: "%.0f", (monotonicSeconds() - started) * 1e3)) ms")
        if let binary = binary(of: program) { cache.store(key: cacheKey, binary: binary) }
        return CLProgram(program: program, library: library)
    }

    private func fromBinary(_ binary: Data, options: String) throws -> CLProgram {
        var status: cl_int = 0
        var binaryStatus: cl_int = 0
        var deviceList: [cl_device_id?] = [device]
        let program: cl_program? = binary.withUnsafeBytes { raw in
            var length = raw.count
            var pointer: UnsafePointer<UInt8>? = raw.bindMemory(to: UInt8.self).baseAddress
            return library.api.clCreateProgramWithBinary(context, 1, &deviceList, &length, &pointer, &binaryStatus, &status)
        }
        guard let program, status == CL_SUCCESS, binaryStatus == CL_SUCCESS else {
            throw ScalpelError.openCL(call: "clCreateProgramWithBinary", code: status, name: CLErrorNames.name(status), context: "")
        }
        let buildStatus = library.api.clBuildProgram(program, 1, &deviceList, options, nil, nil)
        guard buildStatus == CL_SUCCESS else {
            _ = library.api.clReleaseProgram(program)
            throw ScalpelError.openCL(call: "clBuildProgram", code: buildStatus, name: CLErrorNames.name(buildStatus), context: "from a cached binary")
        }
        return CLProgram(program: program, library: library)
    }

    private func buildLog(_ program: cl_program) -> String {
        var size = 0
        guard library.api.clGetProgramBuildInfo(program, device, cl_program_build_info(CL_PROGRAM_BUILD_LOG), 0, nil, &size) == CL_SUCCESS, size > 1 else {
            return ""
        }
        var bytes = [CChar](repeating: 0, count: size)
        _ = library.api.clGetProgramBuildInfo(program, device, cl_program_build_info(CL_PROGRAM_BUILD_LOG), size, &bytes, nil)
        return OpenCLLibrary.string(bytes)
    }

    private func binary(of program: cl_program) -> Data? {
        var size = 0
        guard library.api.clGetProgramInfo(program, cl_program_info(CL_PROGRAM_BINARY_SIZES), MemoryLayout<Int>.size, &size, nil) == CL_SUCCESS,
              size > 0 else { return nil }
        var bytes = [UInt8](repeating: 0, count: size)
        let status = bytes.withUnsafeMutableBufferPointer { buffer -> cl_int in
            var pointer: UnsafeMutablePointer<UInt8>? = buffer.baseAddress
            return library.api.clGetProgramInfo(program, cl_program_info(CL_PROGRAM_BINARIES), MemoryLayout<UnsafeMutablePointer<UInt8>?>.size, &pointer, nil)
        }
        return status == CL_SUCCESS ? Data(bytes) : nil
    }
}
