// One tensor as stored in a safetensors file: dtype, shape and the raw little-endian bytes.
import Foundation

/// A tensor of a safetensors file: its element type, its shape and its raw bytes.
///
/// The fields are plain values and are not checked against each other when set; a tensor
/// whose byte count does not equal its element count times its dtype size is rejected by
/// `SafeTensorsFile.serialized()` and by the value accessors.
public struct SafeTensor: Sendable, Equatable {
    /// The element type.
    public var dtype: SafeTensorsDType
    /// The dimensions, outermost first; `[]` is a scalar (one element).
    public var shape: [Int]
    /// The elements in row-major order, each little-endian.
    public var bytes: Data

    /// Wraps raw little-endian bytes.
    public init(dtype: SafeTensorsDType, shape: [Int], bytes: Data) {
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }

    /// An `F32` tensor holding `floats` in row-major order.
    public init(shape: [Int], floats: [Float]) {
        self.init(dtype: .f32, shape: shape, bytes: LittleEndian.encode(floats.map(\.bitPattern)))
    }

    /// An `F64` tensor holding `doubles` in row-major order.
    public init(shape: [Int], doubles: [Double]) {
        self.init(dtype: .f64, shape: shape, bytes: LittleEndian.encode(doubles.map(\.bitPattern)))
    }

    /// An `I32` tensor holding `int32s` in row-major order.
    public init(shape: [Int], int32s: [Int32]) {
        self.init(dtype: .i32, shape: shape, bytes: LittleEndian.encode(int32s))
    }

    /// An `I64` tensor holding `int64s` in row-major order.
    public init(shape: [Int], int64s: [Int64]) {
        self.init(dtype: .i64, shape: shape, bytes: LittleEndian.encode(int64s))
    }

    /// The number of elements the shape describes, or `nil` when a dimension is negative or
    /// the product overflows `Int`.
    public var elementCount: Int? {
        var count = 1
        for dimension in shape {
            guard dimension >= 0 else { return nil }
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            guard !overflow else { return nil }
            count = product
        }
        return count
    }

    /// The values as `Float`: `F32` as stored; `F64`, `F16` and `BF16` converted (`F64` rounds).
    public var floats: [Float] {
        get throws {
            let count = try checkedElementCount()
            switch dtype {
            case .f32: return LittleEndian.decode(bytes, count: count, as: UInt32.self).map(Float.init(bitPattern:))
            case .f64: return LittleEndian.decode(bytes, count: count, as: UInt64.self).map { Float(Double(bitPattern: $0)) }
            case .f16: return LittleEndian.decode(bytes, count: count, as: UInt16.self).map(HalfFloat.float(fromHalf:))
            case .bf16: return LittleEndian.decode(bytes, count: count, as: UInt16.self).map(HalfFloat.float(fromBrain:))
            default: throw conversionError("Float")
            }
        }
    }

    /// The values as `Double`: `F64` as stored; `F32`, `F16` and `BF16` widened exactly.
    public var doubles: [Double] {
        get throws {
            switch dtype {
            case .f64:
                let count = try checkedElementCount()
                return LittleEndian.decode(bytes, count: count, as: UInt64.self).map(Double.init(bitPattern:))
            case .f32, .f16, .bf16:
                return try floats.map(Double.init)
            default:
                throw conversionError("Double")
            }
        }
    }

    /// The values as `Int64`: `I64` as stored; `BOOL`, `U8`, `I8`, `I16`, `U16`, `I32` and `U32`
    /// widened; `U64` when every value fits.
    public var int64s: [Int64] {
        get throws {
            let count = try checkedElementCount()
            switch dtype {
            case .i64: return LittleEndian.decode(bytes, count: count, as: Int64.self)
            case .i32: return LittleEndian.decode(bytes, count: count, as: Int32.self).map(Int64.init)
            case .u32: return LittleEndian.decode(bytes, count: count, as: UInt32.self).map(Int64.init)
            case .i16: return LittleEndian.decode(bytes, count: count, as: Int16.self).map(Int64.init)
            case .u16: return LittleEndian.decode(bytes, count: count, as: UInt16.self).map(Int64.init)
            case .i8: return LittleEndian.decode(bytes, count: count, as: Int8.self).map(Int64.init)
            case .u8, .bool: return LittleEndian.decode(bytes, count: count, as: UInt8.self).map(Int64.init)
            case .u64:
                let values = LittleEndian.decode(bytes, count: count, as: UInt64.self)
                if let index = values.firstIndex(where: { $0 > UInt64(Int64.max) }) {
                    throw SafeTensorsError(
                        kind: .unsupportedConversion, source: nil,
                        problem: "U64 value \(values[index]) at index \(index) does not fit in Int64")
                }
                return values.map { Int64($0) }
            default:
                throw conversionError("Int64")
            }
        }
    }

    /// The element count, after checking the shape and that the bytes match it exactly, so
    /// that decoding never reads past the buffer.
    func checkedElementCount() throws -> Int {
        guard let count = elementCount else {
            throw SafeTensorsError(
                kind: .invalidShape, source: nil,
                problem: "shape \(shape) has a negative dimension or too many elements to count")
        }
        let (needed, overflow) = count.multipliedReportingOverflow(by: dtype.byteSize)
        guard !overflow, needed == bytes.count else {
            throw SafeTensorsError(
                kind: .sizeMismatch, source: nil,
                problem: "holds \(bytes.count) bytes but shape \(shape) of \(dtype.rawValue) needs \(overflow ? "more than Int.max" : String(needed))")
        }
        return count
    }

    private func conversionError(_ target: String) -> SafeTensorsError {
        SafeTensorsError(
            kind: .unsupportedConversion, source: nil,
            problem: "\(target) values were requested but the tensor's dtype is \(dtype.rawValue)")
    }
}
