// Shared test data: the sample checkpoint (also defined in scripts/safetensors_roundtrip.py),
// the bytes Python's safetensors wrote for it, and helpers for files and hand-made headers.
import Foundation
@testable import ScalpelIO

enum Sample {
    /// The tensors of `sample()` in scripts/safetensors_roundtrip.py.
    static let tensors: [String: SafeTensor] = [
        "weight": SafeTensor(shape: [2, 3], floats: [1.5, -2.0, 0.25, 3.0, 4.5, -0.125]),
        "scale": SafeTensor(shape: [], doubles: [0.1]),
        "step": SafeTensor(shape: [1], int64s: [7]),
        "labels": SafeTensor(shape: [4], int32s: [0, -1, 2, Int32.max]),
        "empty": SafeTensor(shape: [0, 3], floats: []),
        // 1.0 and -0.5 in binary16.
        "half": SafeTensor(dtype: .f16, shape: [2], bytes: Data([0x00, 0x3C, 0x00, 0xB8])),
        "mask": SafeTensor(dtype: .u8, shape: [3], bytes: Data([0, 1, 255])),
    ]

    /// The metadata the Python side writes.
    static let pythonMetadata = ["format": "numpy"]

    /// `python3 scripts/safetensors_roundtrip.py write x.safetensors; base64 -w0 x.safetensors`,
    /// with safetensors 0.8.0 and numpy 2.4. Kept inline so the byte-exact test needs no Python.
    static let pythonFileBase64 = """
        wAEAAAAAAAB7Il9fbWV0YWRhdGFfXyI6eyJmb3JtYXQiOiJudW1weSJ9LCJzdGVwIjp7ImR0eXBlIjoiSTY0Iiwic2hhcGUiOlsxXSwiZGF0YV9vZmZzZXRzIjpbMCw4XX0sInNjYWxlIjp7ImR0eXBlIjoiRjY0Iiwic2hhcGUiOltdLCJkYXRhX29mZnNldHMiOls4LDE2XX0sImVtcHR5Ijp7ImR0eXBlIjoiRjMyIiwic2hhcGUiOlswLDNdLCJkYXRhX29mZnNldHMiOlsxNiwxNl19LCJ3ZWlnaHQiOnsiZHR5cGUiOiJGMzIiLCJzaGFwZSI6WzIsM10sImRhdGFfb2Zmc2V0cyI6WzE2LDQwXX0sImxhYmVscyI6eyJkdHlwZSI6IkkzMiIsInNoYXBlIjpbNF0sImRhdGFfb2Zmc2V0cyI6WzQwLDU2XX0sImhhbGYiOnsiZHR5cGUiOiJGMTYiLCJzaGFwZSI6WzJdLCJkYXRhX29mZnNldHMiOls1Niw2MF19LCJtYXNrIjp7ImR0eXBlIjoiVTgiLCJzaGFwZSI6WzNdLCJkYXRhX29mZnNldHMiOls2MCw2M119fSAgBwAAAAAAAACamZmZmZm5PwAAwD8AAADAAACAPgAAQEAAAJBAAAAAvgAAAAD/////AgAAAP///38APAC4AAH/
        """

    static var pythonFile: Data { Data(base64Encoded: pythonFileBase64.trimmingCharacters(in: .whitespacesAndNewlines))! }
}

/// A fresh directory under the system temporary directory, removed by `remove()`.
struct TemporaryDirectory {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("scalpel-io-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    /// The names in the directory, hidden ones included, sorted.
    func contents() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: url.path(percentEncoded: false)).sorted()
    }

    func remove() {
        try? FileManager.default.removeItem(at: url)
    }
}

/// A file made of an 8-byte little-endian length, `header` verbatim, then `buffer`.
func safetensorsBytes(header: String, buffer: [UInt8] = []) -> Data {
    safetensorsBytes(headerBytes: Array(header.utf8), buffer: buffer)
}

func safetensorsBytes(headerBytes: [UInt8], buffer: [UInt8] = [], announcedLength: UInt64? = nil) -> Data {
    var data = Data()
    withUnsafeBytes(of: (announcedLength ?? UInt64(headerBytes.count)).littleEndian) { data.append(contentsOf: $0) }
    data.append(contentsOf: headerBytes)
    data.append(contentsOf: buffer)
    return data
}

/// One tensor entry of a hand-made header.
func entry(_ dtype: String = "F32", shape: String = "[1]", offsets: String) -> String {
    "{\"dtype\":\"\(dtype)\",\"shape\":\(shape),\"data_offsets\":\(offsets)}"
}
