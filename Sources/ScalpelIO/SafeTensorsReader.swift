// Parsing and validating a safetensors file held in memory. Every size the header announces
// is checked against the limits and the real buffer before anything is copied, and the
// checks follow the reference reader: the tensors must tile the data buffer exactly.
import Foundation

/// A tensor entry of the header, validated on its own but not yet against its neighbours.
private struct HeaderEntry {
    var name: String
    var dtype: SafeTensorsDType
    var shape: [Int]
    var begin: Int
    var end: Int
}

struct SafeTensorsReader {
    let source: String
    let limits: SafeTensorsLimits

    private func error(_ kind: SafeTensorsError.Kind, tensor: String? = nil, _ problem: String) -> SafeTensorsError {
        SafeTensorsError(kind: kind, source: source, tensor: tensor, problem: problem)
    }

    func decode(_ data: Data) throws -> SafeTensorsFile {
        guard data.count >= 8 else {
            throw error(.truncated, "the file is \(data.count) bytes long, too short for the 8-byte header length")
        }
        let start = data.startIndex
        var announced: UInt64 = 0
        for byte in 0..<8 { announced |= UInt64(data[start + byte]) << (8 * UInt64(byte)) }
        guard announced <= UInt64(max(0, limits.maxHeaderBytes)) else {
            throw error(.headerTooLarge, "the header length is \(announced) bytes, above the limit of \(limits.maxHeaderBytes)")
        }
        let headerLength = Int(announced)
        guard headerLength <= data.count - 8 else {
            throw error(.truncated, "the header length is \(headerLength) bytes but only \(data.count - 8) bytes follow the length field")
        }
        let headerBytes = [UInt8](data[(start + 8)..<(start + 8 + headerLength)])
        let bufferStart = start + 8 + headerLength
        let bufferLength = data.count - 8 - headerLength

        let (entries, metadata) = try parseHeader(headerBytes, bufferLength: bufferLength)
        try checkTiling(entries, bufferLength: bufferLength)

        var tensors: [String: SafeTensor] = [:]
        tensors.reserveCapacity(entries.count)
        for entry in entries {
            // A fresh Data per tensor, so tensors neither share nor pin the file's buffer.
            let bytes = Data(data[(bufferStart + entry.begin)..<(bufferStart + entry.end)])
            tensors[entry.name] = SafeTensor(dtype: entry.dtype, shape: entry.shape, bytes: bytes)
        }
        return SafeTensorsFile(tensors: tensors, metadata: metadata)
    }

    private func parseHeader(_ bytes: [UInt8], bufferLength: Int) throws -> ([HeaderEntry], [String: String]) {
        guard String(validating: bytes, as: UTF8.self) != nil else {
            throw error(.invalidHeader, "the header is not valid UTF-8")
        }
        let json: HeaderJSON
        do {
            json = try HeaderJSON.parse(bytes, maxDepth: limits.maxJSONDepth)
        } catch {
            throw self.error(.invalidHeader, "the header is not valid JSON: \(error.message) at byte \(error.offset)")
        }
        guard case .object(let members) = json else {
            throw error(.invalidHeader, "the header is \(json.typeName), not a JSON object")
        }
        var entries: [HeaderEntry] = []
        var metadata: [String: String]?
        var seen = Set<String>()
        for member in members {
            guard seen.insert(member.key).inserted else {
                throw error(.duplicateName, tensor: member.key, "the header names it more than once")
            }
            if member.key == SafeTensorsFile.metadataKey {
                metadata = try parseMetadata(member.value)
            } else {
                entries.append(try parseEntry(name: member.key, member.value, bufferLength: bufferLength))
            }
        }
        return (entries, metadata ?? [:])
    }

    private func parseMetadata(_ value: HeaderJSON) throws -> [String: String] {
        let key = SafeTensorsFile.metadataKey
        switch value {
        case .null:
            // The reference writer omits the key instead, but its reader accepts null.
            return [:]
        case .object(let members):
            var metadata: [String: String] = [:]
            for member in members {
                guard case .string(let text) = member.value else {
                    throw error(.invalidMetadata, "\(key) value for key '\(member.key)' is \(member.value.typeName), not a string")
                }
                guard metadata.updateValue(text, forKey: member.key) == nil else {
                    throw error(.duplicateName, "\(key) has the key '\(member.key)' more than once")
                }
            }
            return metadata
        default:
            throw error(.invalidMetadata, "\(key) is \(value.typeName), not an object of string values")
        }
    }

    private func parseEntry(name: String, _ value: HeaderJSON, bufferLength: Int) throws -> HeaderEntry {
        guard case .object(let members) = value else {
            throw error(.invalidTensorEntry, tensor: name, "the entry is \(value.typeName), not an object with dtype, shape and data_offsets")
        }
        var fields: [String: HeaderJSON] = [:]
        for member in members {
            // Unknown fields are ignored, as the reference reader does; repeated ones are ambiguous.
            guard fields.updateValue(member.value, forKey: member.key) == nil else {
                throw error(.duplicateName, tensor: name, "the entry has the field '\(member.key)' more than once")
            }
        }
        func field(_ key: String) throws -> HeaderJSON {
            guard let value = fields[key] else {
                throw error(.invalidTensorEntry, tensor: name, "the entry has no '\(key)' field")
            }
            return value
        }

        guard case .string(let dtypeName) = try field("dtype") else {
            throw error(.invalidTensorEntry, tensor: name, "'dtype' is \(try field("dtype").typeName), not a string")
        }
        guard let dtype = SafeTensorsDType(rawValue: dtypeName) else {
            let known = SafeTensorsDType.allCases.map(\.rawValue).joined(separator: ", ")
            throw error(.unknownDType, tensor: name, "unknown dtype '\(dtypeName)' (this reader knows \(known))")
        }

        guard case .array(let dimensions) = try field("shape") else {
            throw error(.invalidTensorEntry, tensor: name, "'shape' is \(try field("shape").typeName), not an array of integers")
        }
        guard dimensions.count <= limits.maxDimensions else {
            throw error(.invalidShape, tensor: name, "the shape has \(dimensions.count) dimensions, above the limit of \(limits.maxDimensions)")
        }
        var shape: [Int] = []
        for (axis, dimension) in dimensions.enumerated() {
            switch Self.nonNegativeInteger(dimension) {
            case .success(let size): shape.append(size)
            case .failure(let reason): throw error(.invalidShape, tensor: name, "shape dimension \(axis) \(reason.text)")
            }
        }
        let byteCount = try checkedByteCount(name: name, dtype: dtype, shape: shape)

        guard case .array(let offsets) = try field("data_offsets") else {
            throw error(.invalidOffsets, tensor: name, "'data_offsets' is \(try field("data_offsets").typeName), not an array of two integers")
        }
        guard offsets.count == 2 else {
            throw error(.invalidOffsets, tensor: name, "'data_offsets' has \(offsets.count) values, not 2 (begin and end)")
        }
        var bounds: [Int] = []
        for (position, offset) in zip(["begin", "end"], offsets) {
            switch Self.nonNegativeInteger(offset) {
            case .success(let value): bounds.append(value)
            case .failure(let reason): throw error(.invalidOffsets, tensor: name, "data_offsets \(position) \(reason.text)")
            }
        }
        let (begin, end) = (bounds[0], bounds[1])
        guard begin <= end else {
            throw error(.invalidOffsets, tensor: name, "data_offsets [\(begin), \(end)] begin after they end")
        }
        guard end <= bufferLength else {
            throw error(.invalidOffsets, tensor: name, "data_offsets [\(begin), \(end)] end beyond the \(bufferLength)-byte data buffer")
        }
        guard end - begin == byteCount else {
            throw error(.sizeMismatch, tensor: name, "data_offsets [\(begin), \(end)] hold \(end - begin) bytes but shape \(shape) of \(dtype.rawValue) needs \(byteCount)")
        }
        return HeaderEntry(name: name, dtype: dtype, shape: shape, begin: begin, end: end)
    }

    private func checkedByteCount(name: String, dtype: SafeTensorsDType, shape: [Int]) throws -> Int {
        var elements = 1
        for size in shape {
            let (product, overflow) = elements.multipliedReportingOverflow(by: size)
            guard !overflow else {
                throw error(.invalidShape, tensor: name, "the element count of shape \(shape) overflows a 64-bit integer")
            }
            elements = product
        }
        guard elements <= limits.maxElements else {
            throw error(.invalidShape, tensor: name, "shape \(shape) has \(elements) elements, above the limit of \(limits.maxElements)")
        }
        let (bytes, overflow) = elements.multipliedReportingOverflow(by: dtype.byteSize)
        guard !overflow else {
            throw error(.invalidShape, tensor: name, "the byte size of shape \(shape) of \(dtype.rawValue) overflows a 64-bit integer")
        }
        return bytes
    }

    /// Walks the tensors in offset order: each must start where the previous one ended, from
    /// byte 0 to the end of the buffer, so no byte is shared and none is left over.
    private func checkTiling(_ entries: [HeaderEntry], bufferLength: Int) throws {
        let ordered = entries.sorted { ($0.begin, $0.end) < ($1.begin, $1.end) }
        var cursor = 0
        var previous: HeaderEntry?
        for entry in ordered {
            if entry.begin < cursor, let previous {
                throw error(.overlap, tensor: entry.name, "data_offsets [\(entry.begin), \(entry.end)] overlap tensor '\(previous.name)' at [\(previous.begin), \(previous.end)]")
            }
            if entry.begin > cursor {
                throw error(.uncoveredBytes, "bytes \(cursor)..<\(entry.begin) of the data buffer belong to no tensor")
            }
            cursor = entry.end
            previous = entry
        }
        guard cursor == bufferLength else {
            throw error(.uncoveredBytes, "the last \(bufferLength - cursor) bytes of the data buffer (from offset \(cursor)) belong to no tensor")
        }
    }

    /// Why a JSON value is not an acceptable size or offset.
    private enum IntegerProblem: Error {
        case notNumber(String), negative(String), fractional(String), tooLarge(String)

        var text: String {
            switch self {
            case .notNumber(let type): "is \(type), not an integer"
            case .negative(let literal): "is \(literal), which is negative"
            case .fractional(let literal): "is \(literal), not an integer"
            case .tooLarge(let literal): "is \(literal), too large for a 64-bit integer"
            }
        }
    }

    /// Accepts only plain decimal integers: the reference reader rejects `2.0` and `2e0` too.
    private static func nonNegativeInteger(_ value: HeaderJSON) -> Result<Int, IntegerProblem> {
        guard case .number(let literal) = value else { return .failure(.notNumber(value.typeName)) }
        guard !literal.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) else {
            return .failure(.fractional(literal))
        }
        guard !literal.hasPrefix("-") else { return .failure(.negative(literal)) }
        guard let integer = Int(literal) else { return .failure(.tooLarge(literal)) }
        return .success(integer)
    }
}
