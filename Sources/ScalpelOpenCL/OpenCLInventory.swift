import COpenCL
import Foundation
import ScalpelCore

/// Every OpenCL platform and device on this machine, enumerated once per process.
///
/// ocl-icd 2.3 with PoCL 3.1 crashes when several threads make their first OpenCL calls at
/// the same time (Swift Testing runs tests in parallel), so enumeration happens in one global
/// initialiser, which Swift runs exactly once while other threads wait, before anything
/// concurrent can touch OpenCL.
public final class OpenCLInventory: Sendable {
    /// The process-wide inventory.
    public static let shared = OpenCLInventory(environment: ProcessInfo.processInfo.environment)

    /// The loaded library, or nil when OpenCL is unavailable.
    public let library: OpenCLLibrary?
    /// Devices best-first (see `OpenCLDeviceInfo.ranked`).
    public let devices: [OpenCLDeviceInfo]
    /// Why there are no devices (library missing, no platform, …); nil when there are some.
    public let unavailableReason: String?
    /// Platforms that failed to list their devices, with the reason.
    public let platformErrors: [String]
    let handles: [DeviceID: DeviceHandle]

    /// The raw handles of a device (valid for the life of the process).
    struct DeviceHandle: @unchecked Sendable {
        let platform: cl_platform_id?
        let device: cl_device_id?
    }

    init(environment: [String: String]) {
        let path = environment["SCALPEL_OPENCL_LIBRARY"].flatMap { $0.isEmpty ? nil : $0 } ?? OpenCLLibrary.defaultName
        let library: OpenCLLibrary
        do {
            library = try OpenCLLibrary(path: path)
        } catch {
            self.library = nil
            devices = []
            handles = [:]
            platformErrors = []
            let reason = (error as? ScalpelError).map { if case let .deviceUnavailable(_, r) = $0 { return r } else { return "\($0)" } } ?? "\(error)"
            unavailableReason = "OpenCL library not found (\(reason))"
            return
        }
        self.library = library
        var found: [OpenCLDeviceInfo] = []
        var handles: [DeviceID: DeviceHandle] = [:]
        var errors: [String] = []
        let platforms: [cl_platform_id?]
        do {
            platforms = try library.platformIDs()
        } catch {
            platforms = []
            errors.append("listing platforms: \(error)")
        }
        for (p, platform) in platforms.enumerated() {
            do {
                for (d, device) in try library.deviceIDs(platform).enumerated() {
                    let info = OpenCLDeviceInfo(library: library, platform: platform, platformIndex: p, device: device, deviceIndex: d)
                    found.append(info)
                    handles[info.id] = DeviceHandle(platform: platform, device: device)
                }
            } catch {
                errors.append("platform \(p) (\(library.platformString(platform, CL_PLATFORM_NAME))): \(error)")
            }
        }
        devices = OpenCLDeviceInfo.ranked(found)
        self.handles = handles
        platformErrors = errors
        if platforms.isEmpty {
            unavailableReason = "no OpenCL platform found (\(library.path) loaded, but no ICD vendor is installed or OCL_ICD_VENDORS names none)"
        } else if found.isEmpty {
            unavailableReason = "no OpenCL device found on \(platforms.count) platform\(platforms.count == 1 ? "" : "s")"
                + (errors.isEmpty ? "" : " (\(errors.joined(separator: "; ")))")
        } else {
            unavailableReason = nil
        }
    }

    /// The device with `id`, if present.
    public func device(_ id: DeviceID) -> OpenCLDeviceInfo? {
        devices.first { $0.id == id }
    }

    /// Every value `--device` accepts here, for error messages.
    public var validDeviceValues: [String] {
        ["auto", "cpu"] + (devices.isEmpty ? [] : ["cl"]) + devices
            .sorted { ($0.platformIndex, $0.deviceIndex) < ($1.platformIndex, $1.deviceIndex) }
            .map { "\($0.id) (\($0.name))" }
    }
}
