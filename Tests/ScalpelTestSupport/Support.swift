// Helpers every engine and command test target shares: running the built `scalpel`, temporary
// folders, the first OpenCL device, edited kernel sources, the bundled data.
import Foundation
import ScalpelCPU
import ScalpelConformance
import ScalpelCore
import ScalpelOpenCL
import ScalpelTensor
import Testing

/// The `scalpel` binary built next to the test bundle (or `$SCALPEL_BIN`).
public let scalpelBinary: URL = {
    if let path = ProcessInfo.processInfo.environment["SCALPEL_BIN"], !path.isEmpty {
        return URL(fileURLWithPath: path)
    }
    let candidates = [Bundle.main.executableURL, URL(fileURLWithPath: CommandLine.arguments[0])]
        .compactMap { $0?.deletingLastPathComponent() }
    for directory in candidates {
        for url in [directory.appending(path: "scalpel"), directory.deletingLastPathComponent().appending(path: "scalpel")]
        where FileManager.default.isExecutableFile(atPath: url.path) {
            return url
        }
    }
    return candidates[0].appending(path: "scalpel")
}()

/// What a subprocess printed and how it ended.
public struct ProcessResult {
    /// The exit status.
    public var status: Int32
    /// What it wrote to standard output.
    public var stdout: String
    /// What it wrote to standard error.
    public var stderr: String
    /// The non-empty lines of standard error.
    public var stderrLines: [String] { stderr.split(separator: "\n").map(String.init) }
}

/// PoCL's own cache of compiled kernels, shared by every `scalpel` the tests run. PoCL keeps it
/// under $XDG_CACHE_HOME, which many tests point at a fresh folder to isolate Scalpel's program
/// cache; without this each of them would compile every kernel again (about 20 s on PoCL).
/// Its entries are keyed by source, options and device, so sharing them changes no result.
public let sharedPoCLCache = FileManager.default.temporaryDirectory.appending(path: "scalpel-tests-pocl-cache").path

/// Runs the built `scalpel` with `arguments`, the current environment plus `environment`
/// (a nil value removes a variable), as a user would from a shell.
public func runScalpel(_ arguments: [String], environment: [String: String?] = [:]) throws -> ProcessResult {
    #expect(FileManager.default.isExecutableFile(atPath: scalpelBinary.path),
            "the scalpel binary is missing at \(scalpelBinary.path): build it first (swift build)")
    var environment = environment
    if ProcessInfo.processInfo.environment["POCL_CACHE_DIR"] == nil && environment["POCL_CACHE_DIR"] == nil {
        environment["POCL_CACHE_DIR"] = sharedPoCLCache
    }
    return try runProcess(scalpelBinary, arguments, environment: environment)
}

/// Runs `executable` with `arguments` and the current environment plus `environment`,
/// collecting its exit status, standard output and standard error.
public func runProcess(_ executable: URL, _ arguments: [String], environment: [String: String?] = [:]) throws -> ProcessResult {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    var env = ProcessInfo.processInfo.environment
    for (key, value) in environment { env[key] = value }
    process.environment = env
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    // Read both pipes concurrently so that a chatty child cannot block on a full pipe.
    let errData = LockedData()
    let reader = Thread { errData.set(err.fileHandleForReading.readDataToEndOfFile()) }
    reader.start()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    while !errData.isSet { usleep(1000) }
    return ProcessResult(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                         stderr: String(decoding: errData.value, as: UTF8.self))
}

final class LockedData: @unchecked Sendable {
    private let lock = NSLock()
    private var data: Data?
    func set(_ value: Data) { lock.withLock { data = value } }
    var isSet: Bool { lock.withLock { data != nil } }
    var value: Data { lock.withLock { data ?? Data() } }
}

/// A fresh temporary directory, removed when the test process exits is not guaranteed:
/// callers remove it.
public func makeTemporaryDirectory(_ name: String = "scalpel-test") throws -> URL {
    let url = FileManager.default.temporaryDirectory.appending(path: "\(name)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Whether this machine has an OpenCL device. With `SCALPEL_REQUIRE_OPENCL=1` (set by the
/// project's test script, which installs PoCL) a missing device fails the test that asks.
public func openCLAvailable(sourceLocation: SourceLocation = #_sourceLocation) -> Bool {
    if !OpenCLInventory.shared.devices.isEmpty { return true }
    if ProcessInfo.processInfo.environment["SCALPEL_REQUIRE_OPENCL"] == "1" {
        Issue.record("no OpenCL device, but SCALPEL_REQUIRE_OPENCL=1: \(OpenCLInventory.shared.unavailableReason ?? "")",
                     sourceLocation: sourceLocation)
    }
    return false
}

/// The first OpenCL device, opened (once per process).
public let firstDevice: OpenCLBackend? = {
    guard let info = OpenCLInventory.shared.devices.first else { return nil }
    return try? OpenCLBackend(info)
}()

/// A new folder (for `SCALPEL_KERNELS`) holding `file`, a copy of the real `Kernels/<file>`
/// changed by `edit`; fails the test when the edit changes nothing (the text it looks for moved).
public func editedKernels(_ file: String, sourceLocation: SourceLocation = #_sourceLocation, _ edit: (String) -> String) throws -> URL {
    let real = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appending(path: "Kernels/\(file)")
    let source = try String(contentsOf: real, encoding: .utf8)
    let edited = edit(source)
    try #require(edited != source, "the edit of \(file) changed nothing: the text it replaces moved", sourceLocation: sourceLocation)
    let folder = try makeTemporaryDirectory("scalpel-kernels")
    try edited.write(to: folder.appending(path: file), atomically: true, encoding: .utf8)
    return folder
}

/// A file of the repository's Data folder.
public func dataPath(_ name: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appending(path: "Data/\(name)").path
}

/// The backends every op runs on: the fp64 reference, the fast CPU backend, each OpenCL device.
public enum TensorBackends {
    /// Every OpenCL device here, opened once per process.
    public static let devices: [DeviceID: OpenCLBackend] = {
        var table: [DeviceID: OpenCLBackend] = [:]
        for info in OpenCLInventory.shared.devices { table[info.id] = try? OpenCLBackend(info) }
        return table
    }()

    /// The float64 reference kernels (the truth).
    public static let reference = CPUBackend(kernels: .reference, precision: .float64)
    /// The fast CPU-Swift backend.
    public static let cpu = CPUBackend()
    /// "cpu", then each OpenCL device's id.
    public static let names: [String] = ["cpu"] + OpenCLInventory.shared.devices.map(\.id.description)

    /// The backend `name` names (one of `names`).
    public static func backend(_ name: String) throws -> any Backend {
        if name == "cpu" { return cpu }
        guard let device = devices.first(where: { $0.key.description == name })?.value else {
            throw ScalpelError.deviceUnavailable(device: name, reason: "could not be opened")
        }
        return device
    }
}

/// The backends the fused op runs on: the fp64 reference, the fp32 plain and fast CPU kernels,
/// each OpenCL device.
public enum AttentionBackends {
    /// The float32 reference kernels.
    public static let fp32Reference = CPUBackend(kernels: .reference)
    /// The references, then every backend of `TensorBackends`.
    public static let names: [String] = ["cpu fp64 reference", "cpu fp32 reference"] + TensorBackends.names

    /// The backend `name` names (one of `names`).
    public static func backend(_ name: String) throws -> any Backend {
        switch name {
        case "cpu fp64 reference": return TensorBackends.reference
        case "cpu fp32 reference": return fp32Reference
        default: return try TensorBackends.backend(name)
        }
    }
}

/// A tensor of Double values on `backend` (exact on an fp64 backend, rounded to fp32 elsewhere).
public func tensor(_ values: [Double], _ shape: [Int], on backend: any Backend, requiresGrad: Bool = false) throws -> Tensor {
    let t = Tensor(storage: try backend.makeBuffer(count: values.count), shape: shape, backend: backend, requiresGrad: requiresGrad)
    if let cpu = backend as? CPUBackend, cpu.precision == .float64 {
        try cpu.writeDoubles(values, to: t.storage)
    } else {
        try values.map(Float.init).withUnsafeBufferPointer { try backend.write($0, to: t.storage, at: 0) }
    }
    return t
}

/// A tensor's values as Doubles (exact on an fp64 backend).
public func doubles(_ t: Tensor) throws -> [Double] {
    if let cpu = t.backend as? CPUBackend, cpu.precision == .float64 {
        return Array(try cpu.readDoubles(t.storage).prefix(t.count))
    }
    return try t.array().map(Double.init)
}

/// `testCase` on `backend` against the fp64 reference, as `scalpel selftest` checks it.
public func expectMatchesTheReference(_ testCase: KernelCase, on backend: any Backend, named backendName: String) {
    let row = KernelSelfTestSuite.check(testCase, on: backend)
    #expect(row.passed, "\(testCase) on \(backendName): \(row.note)")
}
