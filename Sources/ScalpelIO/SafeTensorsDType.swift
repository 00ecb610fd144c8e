// The element types a safetensors header can name, with their sizes and the writer's ordering.

/// The element type of a tensor in a safetensors file, spelled as in the JSON header.
///
/// Only the whole-byte types are supported; sub-byte types (`F4`, `F6_*`) and complex
/// types are reported as unknown dtypes when a file uses them.
public enum SafeTensorsDType: String, Sendable, CaseIterable {
    /// Booleans, one byte each (0 or 1).
    case bool = "BOOL"
    /// Unsigned 8-bit integers.
    case u8 = "U8"
    /// Signed 8-bit integers.
    case i8 = "I8"
    /// 8-bit floats with 5 exponent and 2 mantissa bits.
    case f8e5m2 = "F8_E5M2"
    /// 8-bit floats with 4 exponent and 3 mantissa bits.
    case f8e4m3 = "F8_E4M3"
    /// Signed 16-bit integers.
    case i16 = "I16"
    /// Unsigned 16-bit integers.
    case u16 = "U16"
    /// IEEE 754 half-precision floats.
    case f16 = "F16"
    /// Brain floats: the upper 16 bits of an IEEE 754 single.
    case bf16 = "BF16"
    /// Signed 32-bit integers.
    case i32 = "I32"
    /// Unsigned 32-bit integers.
    case u32 = "U32"
    /// IEEE 754 single-precision floats.
    case f32 = "F32"
    /// IEEE 754 double-precision floats.
    case f64 = "F64"
    /// Signed 64-bit integers.
    case i64 = "I64"
    /// Unsigned 64-bit integers.
    case u64 = "U64"

    /// The size of one element in bytes.
    public var byteSize: Int {
        switch self {
        case .bool, .u8, .i8, .f8e5m2, .f8e4m3: 1
        case .i16, .u16, .f16, .bf16: 2
        case .i32, .u32, .f32: 4
        case .f64, .i64, .u64: 8
        }
    }

    /// The position of this type in the reference writer's dtype order. The reference
    /// writer lays tensors out by descending rank (then by name) so that every tensor
    /// starts aligned to its element size; matching it makes our files byte-identical.
    var writerRank: Int {
        switch self {
        case .bool: 0
        case .u8: 1
        case .i8: 2
        case .f8e5m2: 3
        case .f8e4m3: 4
        case .i16: 5
        case .u16: 6
        case .f16: 7
        case .bf16: 8
        case .i32: 9
        case .u32: 10
        case .f32: 11
        case .f64: 12
        case .i64: 13
        case .u64: 14
        }
    }
}
