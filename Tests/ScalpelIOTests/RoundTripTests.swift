// Serialization and parsing in Swift alone: round trips, the exact byte layout, and the
// reference writer's bytes for the same checkpoint.
import Foundation
import Testing
@testable import ScalpelIO

@Suite struct RoundTripTests {
    @Test func roundTripKeepsEveryDTypeShapeAndMetadata() throws {
        let file = SafeTensorsFile(tensors: Sample.tensors, metadata: ["format": "numpy", "epoch": "3", "note": "ünïcode ✓"])
        let parsed = try SafeTensorsFile(data: try file.serialized())
        #expect(parsed == file)
        #expect(try parsed.tensors["weight"]?.floats == [1.5, -2.0, 0.25, 3.0, 4.5, -0.125])
        #expect(try parsed.tensors["scale"]?.doubles == [0.1])
        #expect(parsed.tensors["scale"]?.shape == [])
        #expect(try parsed.tensors["step"]?.int64s == [7])
        #expect(try parsed.tensors["labels"]?.int64s == [0, -1, 2, Int64(Int32.max)])
        #expect(try parsed.tensors["empty"]?.floats == [])
        #expect(parsed.tensors["empty"]?.shape == [0, 3])
        #expect(try parsed.tensors["half"]?.floats == [1.0, -0.5])
        #expect(try parsed.tensors["mask"]?.int64s == [0, 1, 255])
    }

    @Test func emptyFileRoundTrips() throws {
        let bytes = try SafeTensorsFile(tensors: [:]).serialized()
        // What the reference writer produces for no tensors: "{}" padded to 8 bytes.
        #expect(Array(bytes) == [8, 0, 0, 0, 0, 0, 0, 0] + Array("{}      ".utf8))
        #expect(try SafeTensorsFile(data: bytes) == SafeTensorsFile(tensors: [:]))
    }

    @Test func matchesTheReferenceWriterByteForByte() throws {
        let swiftBytes = try SafeTensorsFile(tensors: Sample.tensors, metadata: Sample.pythonMetadata).serialized()
        #expect(swiftBytes == Sample.pythonFile)
        let parsed = try SafeTensorsFile(data: Sample.pythonFile, source: "python.safetensors")
        #expect(parsed.tensors == Sample.tensors)
        #expect(parsed.metadata == Sample.pythonMetadata)
    }

    @Test func serializationIsDeterministicSortedAndPadded() throws {
        var tensors: [String: SafeTensor] = [:]
        for name in ["zeta", "alpha", "mu", "beta", "Omega"] {
            tensors[name] = SafeTensor(shape: [1], floats: [1])
        }
        tensors["wide"] = SafeTensor(shape: [1], doubles: [2])
        let file = SafeTensorsFile(tensors: tensors, metadata: ["z": "1", "a": "2", "m": "3"])
        let bytes = try file.serialized()
        #expect(try SafeTensorsFile(tensors: tensors, metadata: file.metadata).serialized() == bytes)

        let length = Int(bytes.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) })
        #expect(length % 8 == 0)
        let header = String(decoding: bytes.dropFirst(8).prefix(length), as: UTF8.self)
        // Metadata first with sorted keys; the 8-byte dtype first (alignment), then names in byte order.
        let expected = #"{"__metadata__":{"a":"2","m":"3","z":"1"},"wide":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},"#
            + #""Omega":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},"alpha":{"dtype":"F32","shape":[1],"data_offsets":[12,16]},"#
            + #""beta":{"dtype":"F32","shape":[1],"data_offsets":[16,20]},"mu":{"dtype":"F32","shape":[1],"data_offsets":[20,24]},"#
            + #""zeta":{"dtype":"F32","shape":[1],"data_offsets":[24,28]}}"#
        #expect(header.trimmingCharacters(in: .whitespaces) == expected)
        #expect(header.count - expected.count == (8 - expected.utf8.count % 8) % 8)
        #expect(header.hasSuffix(String(repeating: " ", count: header.count - expected.count)))
    }

    @Test func namesNeedingJSONEscapesRoundTrip() throws {
        let names = ["quote\"d", "back\\slash", "new\nline", "tab\t", "bell\u{07}", "slash/", "ünï✓", "emoji 🧪", ""]
        var tensors: [String: SafeTensor] = [:]
        for (index, name) in names.enumerated() {
            tensors[name] = SafeTensor(shape: [1], int64s: [Int64(index)])
        }
        let bytes = try SafeTensorsFile(tensors: tensors, metadata: ["k\"ey": "va\u{01}lue"]).serialized()
        let parsed = try SafeTensorsFile(data: bytes)
        #expect(parsed.tensors == tensors)
        #expect(parsed.metadata == ["k\"ey": "va\u{01}lue"])
        // serde_json's spelling of a control character, which the byte-exact guarantee relies on.
        #expect(String(decoding: bytes, as: UTF8.self).contains(#""bell\u0007""#))
    }

    @Test func readerAcceptsJSONTheReferenceWriterDoesNotProduce() throws {
        // Whitespace, escapes, \u surrogate pairs, reordered fields, an unknown field and null metadata.
        let header = #"  { "__metadata__" : null , "\u00e9\ud83e\uddea" : { "data_offsets" : [ 0 , 4 ] , "extra" : true , "shape" : [ ] , "dtype" : "I32" } }  "#
        let parsed = try SafeTensorsFile(data: safetensorsBytes(header: header, buffer: [1, 0, 0, 0]))
        #expect(parsed.metadata == [:])
        #expect(try parsed.tensors["é🧪"]?.int64s == [1])
    }

    @Test func parsesASliceOfALargerBuffer() throws {
        let bytes = try SafeTensorsFile(tensors: Sample.tensors).serialized()
        let padded = Data([9, 9, 9]) + bytes + Data([7])
        let slice = padded[3..<(3 + bytes.count)]
        #expect(try SafeTensorsFile(data: slice).tensors == Sample.tensors)
    }
}
