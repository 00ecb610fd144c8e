// The typed accessors of SafeTensor: widening conversions, and errors instead of traps.
import Foundation
import Testing
@testable import ScalpelIO

@Suite struct ConversionTests {
    @Test func floatsConvertFromEveryFloatingDType() throws {
        #expect(try SafeTensor(shape: [2], doubles: [0.5, -3]).floats == [0.5, -3])
        // bfloat16 0x3FC0 is 1.5; binary16 0x0001 is the smallest subnormal, 0x7C00 is infinity.
        #expect(try SafeTensor(dtype: .bf16, shape: [1], bytes: Data([0xC0, 0x3F])).floats == [1.5])
        let half = try SafeTensor(dtype: .f16, shape: [4], bytes: Data([0x01, 0x00, 0x00, 0x7C, 0x00, 0xFC, 0xFF, 0x7B])).floats
        #expect(half == [0x1p-24, .infinity, -.infinity, 65504])
        #expect(try SafeTensor(shape: [1], floats: [0.1]).doubles == [Double(Float(0.1))])
    }

    @Test func int64sConvertFromNarrowerIntegers() throws {
        #expect(try SafeTensor(shape: [2], int32s: [-5, 6]).int64s == [-5, 6])
        #expect(try SafeTensor(dtype: .i8, shape: [2], bytes: Data([0xFF, 0x7F])).int64s == [-1, 127])
        #expect(try SafeTensor(dtype: .u16, shape: [1], bytes: Data([0xFF, 0xFF])).int64s == [65535])
        #expect(try SafeTensor(dtype: .u64, shape: [1], bytes: Data([1, 0, 0, 0, 0, 0, 0, 0])).int64s == [1])
    }

    @Test func unrepresentableValuesThrow() throws {
        let huge = SafeTensor(dtype: .u64, shape: [1], bytes: Data(repeating: 0xFF, count: 8))
        let error = #expect(throws: SafeTensorsError.self) { try huge.int64s }
        #expect(error?.kind == .unsupportedConversion)
        #expect(error?.description.contains("does not fit in Int64") == true)

        let wrongType = #expect(throws: SafeTensorsError.self) { try SafeTensor(shape: [1], int64s: [1]).floats }
        #expect(wrongType?.description == "safetensors: Float values were requested but the tensor's dtype is I64")
        #expect(throws: SafeTensorsError.self) { try SafeTensor(shape: [1], floats: [1]).int64s }
    }

    @Test func bytesThatDisagreeWithTheShapeThrowInsteadOfReadingOutOfBounds() throws {
        let short = SafeTensor(dtype: .f32, shape: [3], bytes: Data(count: 8))
        let error = #expect(throws: SafeTensorsError.self) { try short.floats }
        #expect(error?.kind == .sizeMismatch)
        #expect(error?.description.contains("holds 8 bytes but shape [3] of F32 needs 12") == true)

        let negative = SafeTensor(dtype: .f32, shape: [-1], bytes: Data())
        #expect(negative.elementCount == nil)
        #expect(throws: SafeTensorsError.self) { try negative.floats }
        let overflowing = SafeTensor(dtype: .f32, shape: [Int.max, 2], bytes: Data())
        #expect(overflowing.elementCount == nil)
        #expect(throws: SafeTensorsError.self) { try overflowing.floats }
    }
}
