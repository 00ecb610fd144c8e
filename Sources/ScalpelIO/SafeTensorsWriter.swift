// Serialization in the reference writer's exact byte layout, so that a checkpoint written here
// and one written by Python's `safetensors` compare equal byte for byte.
import Foundation

struct SafeTensorsWriter {
    let source: String

    func serialize(_ file: SafeTensorsFile) throws -> Data {
        for (name, tensor) in file.tensors {
            try validate(name: name, tensor)
        }
        // Descending dtype rank, then name by UTF-8 bytes (Rust's string order, not Swift's
        // Unicode-aware one), as the reference writer does.
        let ordered = file.tensors.sorted { left, right in
            if left.value.dtype.writerRank != right.value.dtype.writerRank {
                return left.value.dtype.writerRank > right.value.dtype.writerRank
            }
            return left.key.utf8.lexicographicallyPrecedes(right.key.utf8)
        }

        var header: [UInt8] = [UInt8(ascii: "{")]
        var first = true
        func separate() {
            if !first { header.append(UInt8(ascii: ",")) }
            first = false
        }
        if !file.metadata.isEmpty {
            separate()
            Self.appendString(SafeTensorsFile.metadataKey, to: &header)
            header.append(contentsOf: Array(":{".utf8))
            let pairs = file.metadata.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
            for (index, pair) in pairs.enumerated() {
                if index > 0 { header.append(UInt8(ascii: ",")) }
                Self.appendString(pair.key, to: &header)
                header.append(UInt8(ascii: ":"))
                Self.appendString(pair.value, to: &header)
            }
            header.append(UInt8(ascii: "}"))
        }
        var offset = 0
        for (name, tensor) in ordered {
            separate()
            let end = offset + tensor.bytes.count
            Self.appendString(name, to: &header)
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            header.append(contentsOf: Array(":{\"dtype\":\"\(tensor.dtype.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(end)]}".utf8))
            offset = end
        }
        header.append(UInt8(ascii: "}"))
        // Padding keeps the data buffer 8-byte aligned in the file, hence every tensor aligned.
        header.append(contentsOf: repeatElement(UInt8(ascii: " "), count: (8 - header.count % 8) % 8))

        var output = Data(capacity: 8 + header.count + offset)
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { output.append(contentsOf: $0) }
        output.append(contentsOf: header)
        for (_, tensor) in ordered {
            output.append(tensor.bytes)
        }
        return output
    }

    private func validate(name: String, _ tensor: SafeTensor) throws {
        guard name != SafeTensorsFile.metadataKey else {
            throw SafeTensorsError(
                kind: .invalidTensorEntry, source: source, tensor: name,
                problem: "the name is reserved for the metadata and cannot hold a tensor")
        }
        do {
            _ = try tensor.checkedElementCount()
        } catch var error as SafeTensorsError {
            error.source = source
            error.tensor = name
            throw error
        }
    }

    /// JSON string escaping exactly as serde_json writes it: `"` and `\` escaped, the control
    /// characters as `\b \f \n \r \t` or `\u00xx` (lowercase hex), everything else raw UTF-8.
    static func appendString(_ text: String, to output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x08: output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
            case 0x0C: output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
            case 0x0A: output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                output.append(contentsOf: Array("\\u00".utf8))
                output.append(hex[Int(byte >> 4)])
                output.append(hex[Int(byte & 0xF)])
            default:
                output.append(byte)
            }
        }
        output.append(UInt8(ascii: "\""))
    }
}
