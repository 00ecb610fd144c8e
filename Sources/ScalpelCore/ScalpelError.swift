import Foundation

/// Every error Scalpel reports to a user. Each case's description names the problem and,
/// where there is one, the way out.
public enum ScalpelError: Error, CustomStringConvertible, Sendable {
    /// A `--device` / `SCALPEL_DEVICE` value that does not parse or names no device here.
    case invalidDevice(value: String, reason: String, valid: [String])
    /// An explicitly requested device cannot be used (missing, failed to open or self-test).
    case deviceUnavailable(device: String, reason: String)
    /// Operands whose sizes do not fit the operation.
    case shapeMismatch(op: String, detail: String)
    /// A buffer handed to a backend that did not create it.
    case foreignBuffer(op: String, expected: String, got: String)
    /// An OpenCL call failed.
    case openCL(call: String, code: Int32, name: String, context: String)
    /// An OpenCL program failed to build; carries the compiler's log.
    case kernelBuild(program: String, device: String, log: String)
    /// A kernel source file could not be found or read.
    case kernelSource(name: String, reason: String)
    /// A kernel asks a device for more than it allows (work-group size, local memory).
    case kernelLimit(kernel: String, device: String, detail: String)
    /// An allocation the device cannot satisfy.
    case outOfMemory(device: String, bytes: Int, detail: String)
    /// A file could not be read or written.
    case io(path: String, reason: String)
    /// A value outside what an option accepts.
    case invalidArgument(String)

    /// The message shown to the user: what failed, why and, for `invalidDevice`, the valid values.
    public var description: String {
        switch self {
        case let .invalidDevice(value, reason, valid):
            return "invalid device '\(value)': \(reason). Valid values: \(valid.joined(separator: ", "))"
        case let .deviceUnavailable(device, reason):
            return "device \(device) cannot be used: \(reason)"
        case let .shapeMismatch(op, detail):
            return "\(op): shape mismatch: \(detail)"
        case let .foreignBuffer(op, expected, got):
            return "\(op): buffer belongs to \(got), expected one made by \(expected)"
        case let .openCL(call, code, name, context):
            return "\(call) failed with \(name) (\(code))\(context.isEmpty ? "" : " while \(context)")"
        case let .kernelBuild(program, device, log):
            let trimmed = log.trimmingCharacters(in: .whitespacesAndNewlines)
            return "OpenCL program \(program) failed to build on \(device). Build log:\n\(trimmed.isEmpty ? "(empty)" : trimmed)"
        case let .kernelSource(name, reason):
            return "kernel source \(name): \(reason)"
        case let .kernelLimit(kernel, device, detail):
            return "kernel \(kernel) does not fit \(device): \(detail)"
        case let .outOfMemory(device, bytes, detail):
            return "out of memory on \(device): cannot allocate \(bytes) bytes (\(detail))"
        case let .io(path, reason):
            return "\(path): \(reason)"
        case let .invalidArgument(text):
            return text
        }
    }
}

extension ScalpelError: LocalizedError {
    /// The same text as `description`, so that `localizedDescription` shows it.
    public var errorDescription: String? { description }
}
