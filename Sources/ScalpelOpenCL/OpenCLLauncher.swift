import COpenCL
import Foundation
import ScalpelCore

/// A kernel argument.
enum KernelArgument {
    case int(Int32)
    case long(Int64)
    case float(Float)
    case buffer(cl_mem?)
    /// An OpenCL int8 vector (shapes and strides of up to 8 dimensions).
    case int8([Int32])
}

/// Puts kernels on one device's in-order queue: sets their arguments, checks that a work-group
/// fits the kernel on this device, enqueues, and hands each launch's event to the status log
/// (which checks its execution status after the next wait and, with the profiler on, reads its
/// device time). Callers hold the backend's lock: a kernel object holds its arguments, so
/// setting them and enqueueing must not interleave.
final class OpenCLLauncher: @unchecked Sendable {
    private let library: OpenCLLibrary
    private let device: cl_device_id?
    private let info: OpenCLDeviceInfo
    let queue: cl_command_queue
    /// Every launch's event until it is seen finished.
    let launches: LaunchStatusLog
    /// What each kernel may use on this device, asked once per kernel: its largest work-group
    /// (`CL_KERNEL_WORK_GROUP_SIZE`, which registers can make smaller than the device's) and
    /// the local memory it declares (`CL_KERNEL_LOCAL_MEM_SIZE`).
    private var limits: [cl_kernel: (workGroup: Int, localBytes: Int)] = [:]

    init(library: OpenCLLibrary, device: cl_device_id?, info: OpenCLDeviceInfo, queue: cl_command_queue, readsDeviceTime: Bool) {
        self.library = library
        self.device = device
        self.info = info
        self.queue = queue
        launches = LaunchStatusLog(library: library, readsDeviceTime: readsDeviceTime)
    }

    func setArguments(_ kernel: cl_kernel, _ arguments: [KernelArgument]) throws {
        for (index, argument) in arguments.enumerated() {
            let status: cl_int
            switch argument {
            case var .int(value): status = library.api.clSetKernelArg(kernel, cl_uint(index), 4, &value)
            case var .long(value): status = library.api.clSetKernelArg(kernel, cl_uint(index), 8, &value)
            case var .float(value): status = library.api.clSetKernelArg(kernel, cl_uint(index), 4, &value)
            case var .buffer(mem): status = library.api.clSetKernelArg(kernel, cl_uint(index), MemoryLayout<cl_mem?>.size, &mem)
            case let .int8(values): status = values.withUnsafeBytes { library.api.clSetKernelArg(kernel, cl_uint(index), 32, $0.baseAddress) }
            }
            if status != CL_SUCCESS {
                throw CLErrorNames.error("clSetKernelArg", status, "setting argument \(index)", device: "\(info.id) (\(info.name))")
            }
        }
    }

    /// Launches `kernel` over `global` work-items (rounded up to whole work-groups of `local`;
    /// nil: the driver chooses), counted by the profiler under `name`.
    func enqueue(_ kernel: cl_kernel, name: String, global: [Int], local: [Int]?) throws {
        if global.contains(0) { return }
        if let local { try checkFits(kernel, name: name, local: local) }
        var globalSize = global
        var event: cl_event?
        let status: cl_int
        if var localSize = local {
            for d in globalSize.indices { globalSize[d] = (globalSize[d] + localSize[d] - 1) / localSize[d] * localSize[d] }
            status = library.api.clEnqueueNDRangeKernel(queue, kernel, cl_uint(global.count), nil, &globalSize, &localSize, 0, nil, &event)
        } else {
            status = library.api.clEnqueueNDRangeKernel(queue, kernel, cl_uint(global.count), nil, &globalSize, nil, 0, nil, &event)
        }
        if status != CL_SUCCESS {
            throw CLErrorNames.error("clEnqueueNDRangeKernel", status, "launching \(name) over \(global)", device: "\(info.id) (\(info.name))")
        }
        let steady: Bool? = Profiler.isEnabled ? Profiler.shared.recordLaunch(name, backend: "opencl") : nil
        if let event { try launches.record(event, name: name, global: global, steady: steady) }
    }

    /// The largest work-group `kernel` can run in on this device (CL_KERNEL_WORK_GROUP_SIZE),
    /// for callers that size their groups to the kernel.
    func maxWorkGroup(_ kernel: cl_kernel) -> Int { kernelLimits(kernel).workGroup }

    /// Whether `kernel` as compiled for this device runs in work-groups of `workGroup` and keeps
    /// its private memory (CL_KERNEL_PRIVATE_MEM_SIZE) within `privateBytes`: a variant that
    /// spills registers or cannot take its work-group is passed over for a smaller one. A
    /// driver that cannot answer: yes.
    func fits(_ kernel: cl_kernel, workGroup: Int, privateBytes: Int) -> Bool {
        guard kernelLimits(kernel).workGroup >= workGroup else { return false }
        var privateSize: cl_ulong = 0
        if library.api.clGetKernelWorkGroupInfo(kernel, device, cl_kernel_work_group_info(CL_KERNEL_PRIVATE_MEM_SIZE), MemoryLayout<cl_ulong>.size,
                                                &privateSize, nil) == CL_SUCCESS, Int(privateSize) > privateBytes {
            return false
        }
        return true
    }

    private func kernelLimits(_ kernel: cl_kernel) -> (workGroup: Int, localBytes: Int) {
        if let known = limits[kernel] { return known }
        var workGroup = 0
        var localBytes: cl_ulong = 0
        let a = library.api.clGetKernelWorkGroupInfo(kernel, device, cl_kernel_work_group_info(CL_KERNEL_WORK_GROUP_SIZE),
                                                     MemoryLayout<Int>.size, &workGroup, nil)
        let b = library.api.clGetKernelWorkGroupInfo(kernel, device, cl_kernel_work_group_info(CL_KERNEL_LOCAL_MEM_SIZE),
                                                     MemoryLayout<cl_ulong>.size, &localBytes, nil)
        // A driver that cannot answer leaves the check to the launch itself.
        let known = (a == CL_SUCCESS && workGroup > 0 ? workGroup : Int.max, b == CL_SUCCESS ? Int(localBytes) : 0)
        limits[kernel] = known
        return known
    }

    /// Throws an error naming the kernel, what it asks for and what the device allows, when a
    /// work-group of `local` exceeds the kernel's largest work-group on this device or the
    /// kernel declares more local memory than the device has (a driver would only answer
    /// CL_INVALID_WORK_GROUP_SIZE or CL_OUT_OF_RESOURCES).
    func checkFits(_ kernel: cl_kernel, name: String, local: [Int]) throws {
        let limits = kernelLimits(kernel)
        let size = local.reduce(1, *)
        let device = "\(info.id) (\(info.name))"
        if size > limits.workGroup {
            throw ScalpelError.kernelLimit(kernel: name, device: device,
                                           detail: "it is launched in work-groups of \(local.map(String.init).joined(separator: "×")) = \(size) work-items, "
                                               + "and this device runs it in at most \(limits.workGroup) (CL_KERNEL_WORK_GROUP_SIZE)")
        }
        if info.localMemoryBytes > 0 && limits.localBytes > info.localMemoryBytes {
            throw ScalpelError.kernelLimit(kernel: name, device: device,
                                           detail: "it declares \(formatBytes(limits.localBytes)) of local memory (CL_KERNEL_LOCAL_MEM_SIZE), "
                                               + "and this device has \(formatBytes(info.localMemoryBytes))")
        }
    }
}
