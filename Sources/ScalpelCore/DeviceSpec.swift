import Foundation

/// Identifies one backend instance: the pure-Swift CPU backend or one OpenCL device.
public enum DeviceID: Hashable, Sendable, CustomStringConvertible, Codable {
    /// The pure-Swift CPU backend.
    case cpu
    /// Device index `device` of platform index `platform`, as in `cl:P:D`.
    case opencl(platform: Int, device: Int)

    /// `cpu`, or `cl:P:D` for an OpenCL device: the form `encode(to:)` writes.
    public var description: String {
        switch self {
        case .cpu: return "cpu"
        case let .opencl(p, d): return "cl:\(p):\(d)"
        }
    }

    /// Decodes the string `encode(to:)` writes (`cpu` or `cl:P:D`, read as `DeviceSpec(parsing:)`
    /// reads it). Throws `DecodingError.dataCorrupted` for `auto` or `cl`, which name no single
    /// device, and `ScalpelError.invalidDevice` for text that does not parse.
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        switch try DeviceSpec(parsing: text) {
        case .cpu: self = .cpu
        case let .openCL(p, d): self = .opencl(platform: p, device: d)
        default:
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a device id: \(text)"))
        }
    }

    /// Encodes the id as one string, its `description`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// What a user asks for with `--device` or `SCALPEL_DEVICE`.
public enum DeviceSpec: Hashable, Sendable, CustomStringConvertible {
    /// Pick by ranking and measurement; fall back to the CPU-Swift backend when no device works.
    case auto
    /// The pure-Swift CPU backend only.
    case cpu
    /// The best-ranked OpenCL device.
    case bestOpenCL
    /// A specific OpenCL device: platform index, device index.
    case openCL(platform: Int, device: Int)

    /// The forms a user may write, for error messages.
    public static let forms = ["auto", "cpu", "cl", "cl:P:D"]

    /// Environment variable that sets the device when no `--device` is given.
    public static let environmentVariable = "SCALPEL_DEVICE"

    /// The spec as a user writes it: `auto`, `cpu`, `cl` or `cl:P:D`.
    public var description: String {
        switch self {
        case .auto: return "auto"
        case .cpu: return "cpu"
        case .bestOpenCL: return "cl"
        case let .openCL(p, d): return "cl:\(p):\(d)"
        }
    }

    /// Parses `auto`, `cpu`, `cl` or `cl:P:D` (case-insensitive, surrounding spaces ignored).
    public init(parsing raw: String) throws {
        let text = raw.trimmingCharacters(in: .whitespaces).lowercased()
        switch text {
        case "auto": self = .auto
        case "cpu": self = .cpu
        case "cl", "opencl": self = .bestOpenCL
        default:
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            if parts.count == 3, parts[0] == "cl" || parts[0] == "opencl",
               let p = Int(parts[1]), let d = Int(parts[2]), p >= 0, d >= 0 {
                self = .openCL(platform: p, device: d)
            } else {
                throw ScalpelError.invalidDevice(
                    value: raw, reason: "expected one of \(DeviceSpec.forms.joined(separator: ", "))",
                    valid: DeviceSpec.forms)
            }
        }
    }

    /// The spec from an explicit option, else from `SCALPEL_DEVICE`, else `auto`.
    public static func resolve(option: String?, environment: [String: String]) throws -> DeviceSpec {
        if let option { return try DeviceSpec(parsing: option) }
        if let value = environment[environmentVariable], !value.isEmpty {
            do { return try DeviceSpec(parsing: value) } catch let ScalpelError.invalidDevice(v, reason, valid) {
                throw ScalpelError.invalidDevice(value: v, reason: "\(reason) (from \(environmentVariable))", valid: valid)
            }
        }
        return .auto
    }
}
