// Conversions between arrays of fixed-width integers and little-endian byte buffers, the
// layout safetensors prescribes whatever the host's byte order.
import Foundation

enum LittleEndian {
    /// The values' bytes, least significant byte first.
    static func encode<T: FixedWidthInteger>(_ values: [T]) -> Data {
        #if _endian(little)
        return values.withUnsafeBufferPointer { Data(buffer: $0) }
        #else
        return values.map(\.littleEndian).withUnsafeBufferPointer { Data(buffer: $0) }
        #endif
    }

    /// Reads `count` values from `bytes`; the caller has checked that `bytes` holds exactly
    /// `count` values, so the unaligned loads stay in bounds.
    static func decode<T: FixedWidthInteger>(_ bytes: Data, count: Int, as type: T.Type) -> [T] {
        let stride = MemoryLayout<T>.size
        precondition(bytes.count == count * stride, "decode called with a byte count that does not match")
        return bytes.withUnsafeBytes { raw in
            [T](unsafeUninitializedCapacity: count) { buffer, initialized in
                for index in 0..<count {
                    buffer[index] = T(littleEndian: raw.loadUnaligned(fromByteOffset: index * stride, as: T.self))
                }
                initialized = count
            }
        }
    }
}

/// Widening of the two 16-bit float formats, done by hand because `Float16` is unavailable
/// on some of the platforms Swift targets (macOS on Intel).
enum HalfFloat {
    /// IEEE 754 binary16 to binary32; exact for every input, NaN payloads kept.
    static func float(fromHalf bits: UInt16) -> Float {
        let sign: UInt32 = UInt32(bits & 0x8000) << 16
        let exponent = UInt32(bits >> 10) & 0x1F
        let mantissa = UInt32(bits & 0x3FF)
        switch exponent {
        case 0:
            // Zero and subnormals: mantissa × 2⁻²⁴, exactly representable in a Float.
            let magnitude = Float(mantissa) * 0x1p-24
            return sign == 0 ? magnitude : -magnitude
        case 0x1F:
            return Float(bitPattern: sign | 0x7F80_0000 | mantissa << 13)
        default:
            return Float(bitPattern: sign | (exponent + 112) << 23 | mantissa << 13)
        }
    }

    /// bfloat16 is the upper half of a binary32, so widening is a shift.
    static func float(fromBrain bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }
}
