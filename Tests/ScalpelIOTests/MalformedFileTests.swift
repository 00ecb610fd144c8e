// Every malformed input the reader must refuse with a clear error rather than a crash or a
// huge allocation. Each case names the phrase its error description must contain.
import Foundation
import Testing
@testable import ScalpelIO

struct MalformedCase: Sendable, CustomTestStringConvertible {
    var label: String
    var data: Data
    var kind: SafeTensorsError.Kind
    var phrase: String
    var tensor: String?

    var testDescription: String { label }

    init(_ label: String, _ data: Data, _ kind: SafeTensorsError.Kind, _ phrase: String, tensor: String? = nil) {
        self.label = label
        self.data = data
        self.kind = kind
        self.phrase = phrase
        self.tensor = tensor
    }

    /// A file whose header is `{"t": <tensor>}` over `buffer`.
    static func tensor(_ label: String, _ tensorJSON: String, buffer: [UInt8] = [0, 0, 0, 0],
                       _ kind: SafeTensorsError.Kind, _ phrase: String) -> MalformedCase {
        MalformedCase(label, safetensorsBytes(header: "{\"t\":\(tensorJSON)}", buffer: buffer), kind, phrase, tensor: "t")
    }

    static let all: [MalformedCase] = [
        MalformedCase("empty file", Data(), .truncated, "0 bytes long, too short"),
        MalformedCase("shorter than 8 bytes", Data([1, 2, 3]), .truncated, "too short for the 8-byte header length"),
        MalformedCase("header above the limit",
                      safetensorsBytes(headerBytes: Array("{}".utf8), announcedLength: 200 << 20), .headerTooLarge, "above the limit"),
        MalformedCase("header length near UInt64.max",
                      safetensorsBytes(headerBytes: [], announcedLength: .max), .headerTooLarge, "above the limit"),
        MalformedCase("header longer than the file",
                      safetensorsBytes(headerBytes: Array("{}".utf8), announcedLength: 100), .truncated, "only 2 bytes follow"),
        MalformedCase("header not UTF-8", safetensorsBytes(headerBytes: [0x7B, 0xFF, 0xFE, 0x7D]), .invalidHeader, "not valid UTF-8"),
        MalformedCase("header not JSON", safetensorsBytes(header: "{\"t\":"), .invalidHeader, "not valid JSON"),
        MalformedCase("header with trailing garbage", safetensorsBytes(header: "{} x"), .invalidHeader, "unexpected text after"),
        MalformedCase("empty header", safetensorsBytes(header: ""), .invalidHeader, "unexpected end of the header"),
        MalformedCase("header an array", safetensorsBytes(header: "[1,2]"), .invalidHeader, "an array, not a JSON object"),
        MalformedCase("header nested too deep",
                      safetensorsBytes(header: String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)),
                      .invalidHeader, "nested more than 16 levels"),
        MalformedCase("lone surrogate", safetensorsBytes(header: #"{"\ud800":1}"#), .invalidHeader, "lone UTF-16 surrogate"),
        .tensor("entry not an object", "[1]", .invalidTensorEntry, "an array, not an object"),
        .tensor("missing dtype", #"{"shape":[1],"data_offsets":[0,4]}"#, .invalidTensorEntry, "no 'dtype' field"),
        .tensor("missing shape", #"{"dtype":"F32","data_offsets":[0,4]}"#, .invalidTensorEntry, "no 'shape' field"),
        .tensor("missing data_offsets", #"{"dtype":"F32","shape":[1]}"#, .invalidTensorEntry, "no 'data_offsets' field"),
        .tensor("dtype not a string", #"{"dtype":4,"shape":[1],"data_offsets":[0,4]}"#, .invalidTensorEntry, "'dtype' is a number, not a string"),
        .tensor("shape not an array", #"{"dtype":"F32","shape":"1","data_offsets":[0,4]}"#, .invalidTensorEntry, "'shape' is a string, not an array"),
        .tensor("repeated field", #"{"dtype":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]}"#, .duplicateName, "'dtype' more than once"),
        .tensor("unknown dtype", entry("Q4", offsets: "[0,4]"), .unknownDType, "unknown dtype 'Q4'"),
        .tensor("negative dimension", entry(shape: "[-1]", offsets: "[0,4]"), .invalidShape, "dimension 0 is -1, which is negative"),
        .tensor("fractional dimension", entry(shape: "[1.5]", offsets: "[0,4]"), .invalidShape, "dimension 0 is 1.5, not an integer"),
        .tensor("exponent dimension", entry(shape: "[1,1e0]", offsets: "[0,4]"), .invalidShape, "dimension 1 is 1e0, not an integer"),
        .tensor("string dimension", entry(shape: #"["1"]"#, offsets: "[0,4]"), .invalidShape, "dimension 0 is a string, not an integer"),
        .tensor("boolean dimension", entry(shape: "[true]", offsets: "[0,4]"), .invalidShape, "is a boolean, not an integer"),
        .tensor("too many dimensions", entry(shape: "[" + Array(repeating: "1", count: 17).joined(separator: ",") + "]", offsets: "[0,4]"),
                .invalidShape, "17 dimensions, above the limit of 16"),
        .tensor("element count overflow", entry(shape: "[4294967296,4294967296,4]", offsets: "[0,4]"), .invalidShape, "overflows"),
        .tensor("elements above the limit", entry(shape: "[34359738368]", offsets: "[0,4]"), .invalidShape,
                "34359738368 elements, above the limit of 17179869184"),
        .tensor("dimension beyond Int", entry(shape: "[99999999999999999999]", offsets: "[0,4]"), .invalidShape, "too large"),
        .tensor("data_offsets not an array", entry(offsets: #""0,4""#), .invalidOffsets, "'data_offsets' is a string, not an array of two integers"),
        .tensor("one offset", entry(offsets: "[0]"), .invalidOffsets, "has 1 values, not 2"),
        .tensor("three offsets", entry(offsets: "[0,4,8]"), .invalidOffsets, "has 3 values, not 2"),
        .tensor("offset a string", entry(offsets: #"[0,"4"]"#), .invalidOffsets, "end is a string, not an integer"),
        .tensor("offset fractional", entry(offsets: "[0,4.0]"), .invalidOffsets, "end is 4.0, not an integer"),
        .tensor("offset negative", entry(offsets: "[-4,0]"), .invalidOffsets, "begin is -4, which is negative"),
        .tensor("begin after end", entry(shape: "[0]", offsets: "[4,0]"), .invalidOffsets, "[4, 0] begin after they end"),
        .tensor("end beyond the buffer", entry(shape: "[2]", offsets: "[0,8]"), .invalidOffsets, "end beyond the 4-byte data buffer"),
        .tensor("size mismatch", entry(shape: "[2]", offsets: "[0,4]"), .sizeMismatch, "hold 4 bytes but shape [2] of F32 needs 8"),
        MalformedCase("overlapping tensors",
                      safetensorsBytes(header: "{\"a\":\(entry(shape: "[2]", offsets: "[0,8]")),\"b\":\(entry(shape: "[2]", offsets: "[4,12]"))}",
                                       buffer: Array(repeating: 0, count: 12)),
                      .overlap, "[4, 12] overlap tensor 'a' at [0, 8]", tensor: "b"),
        MalformedCase("empty tensor inside another",
                      safetensorsBytes(header: "{\"a\":\(entry(shape: "[2]", offsets: "[0,8]")),\"e\":\(entry(shape: "[0]", offsets: "[4,4]"))}",
                                       buffer: Array(repeating: 0, count: 8)),
                      .overlap, "overlap tensor 'a'", tensor: "e"),
        MalformedCase("hole between tensors",
                      safetensorsBytes(header: "{\"a\":\(entry(offsets: "[0,4]")),\"b\":\(entry(offsets: "[8,12]"))}",
                                       buffer: Array(repeating: 0, count: 12)),
                      .uncoveredBytes, "bytes 4..<8 of the data buffer belong to no tensor"),
        MalformedCase("leftover bytes", safetensorsBytes(header: "{\"a\":\(entry(offsets: "[0,4]"))}", buffer: Array(repeating: 0, count: 8)),
                      .uncoveredBytes, "the last 4 bytes of the data buffer (from offset 4) belong to no tensor"),
        MalformedCase("buffer but no tensors", safetensorsBytes(header: "{}", buffer: [1]), .uncoveredBytes, "the last 1 bytes"),
        MalformedCase("metadata not an object", safetensorsBytes(header: #"{"__metadata__":"x"}"#), .invalidMetadata,
                      "__metadata__ is a string, not an object of string values"),
        MalformedCase("metadata value not a string", safetensorsBytes(header: #"{"__metadata__":{"epoch":3}}"#), .invalidMetadata,
                      "value for key 'epoch' is a number, not a string"),
        MalformedCase("metadata key repeated", safetensorsBytes(header: #"{"__metadata__":{"k":"1","k":"2"}}"#), .duplicateName,
                      "has the key 'k' more than once"),
        MalformedCase("duplicate tensor names",
                      safetensorsBytes(header: "{\"a\":\(entry(offsets: "[0,4]")),\"a\":\(entry(offsets: "[4,8]"))}",
                                       buffer: Array(repeating: 0, count: 8)),
                      .duplicateName, "the header names it more than once", tensor: "a"),
    ]
}

@Suite struct MalformedFileTests {
    @Test(arguments: MalformedCase.all)
    func rejectsWithAClearError(_ malformed: MalformedCase) {
        let error = #expect(throws: SafeTensorsError.self) {
            try SafeTensorsFile(data: malformed.data, source: "bad.safetensors")
        }
        guard let error else { return }
        #expect(error.kind == malformed.kind)
        #expect(error.source == "bad.safetensors")
        #expect(error.tensor == malformed.tensor)
        #expect(error.description.hasPrefix("safetensors file 'bad.safetensors'"))
        #expect(error.description.contains(malformed.phrase), "\(error.description)")
        if let tensor = malformed.tensor {
            #expect(error.description.contains("tensor '\(tensor)'"))
        }
    }

    @Test func everyTruncationAndByteChangeOfAValidFileParsesOrThrowsCleanly() throws {
        // A crash here fails the whole run; any error other than SafeTensorsError fails the test.
        let valid = try SafeTensorsFile(tensors: Sample.tensors, metadata: Sample.pythonMetadata).serialized()
        var variants: [Data] = (0..<valid.count).map { valid.prefix($0) }
        for position in 0..<valid.count {
            for replacement: UInt8 in [0x00, 0xFF, 0x22, 0x5B, valid[position] ^ 0x01] {
                var mutated = valid
                mutated[position] = replacement
                variants.append(mutated)
            }
        }
        var rejected = 0
        for variant in variants {
            do {
                _ = try SafeTensorsFile(data: variant)
            } catch is SafeTensorsError {
                rejected += 1
            }
        }
        #expect(rejected > valid.count)
    }

    @Test func theValidCounterpartsOfTheEdgeCasesParse() throws {
        // Empty tensors may sit between others and at the end, and an empty file is fine.
        let header = "{\"a\":\(entry(offsets: "[0,4]")),\"e\":\(entry(shape: "[0,5]", offsets: "[4,4]")),\"b\":\(entry(offsets: "[4,8]")),\"z\":\(entry(shape: "[0]", offsets: "[8,8]"))}"
        let parsed = try SafeTensorsFile(data: safetensorsBytes(header: header, buffer: Array(repeating: 0, count: 8)))
        #expect(parsed.tensors.keys.sorted() == ["a", "b", "e", "z"])
        #expect(try SafeTensorsFile(data: safetensorsBytes(header: "{}")).tensors.isEmpty)
    }

    @Test func limitsCanBeTightenedAndLoosened() throws {
        let bytes = try SafeTensorsFile(tensors: ["t": SafeTensor(shape: [2, 2], floats: [1, 2, 3, 4])]).serialized()
        let tight = #expect(throws: SafeTensorsError.self) {
            try SafeTensorsFile(data: bytes, limits: SafeTensorsLimits(maxElements: 3))
        }
        #expect(tight?.kind == .invalidShape)
        #expect(throws: SafeTensorsError.self) { try SafeTensorsFile(data: bytes, limits: SafeTensorsLimits(maxHeaderBytes: 8)) }
        #expect(throws: SafeTensorsError.self) { try SafeTensorsFile(data: bytes, limits: SafeTensorsLimits(maxDimensions: 1)) }

        let deep = Array(repeating: "1", count: 20).joined(separator: ",")
        let loose = SafeTensorsLimits(maxDimensions: 20)
        let file = safetensorsBytes(header: "{\"t\":\(entry(shape: "[\(deep)]", offsets: "[0,4]"))}", buffer: [0, 0, 0, 0])
        #expect(try SafeTensorsFile(data: file, limits: loose).tensors["t"]?.shape.count == 20)
    }

    @Test func readingFromDiskNamesThePath() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let missing = directory.url.appendingPathComponent("missing.safetensors")
        let notFound = #expect(throws: SafeTensorsError.self) { try SafeTensorsFile.read(from: missing) }
        #expect(notFound?.kind == .io)
        #expect(notFound?.description.contains(missing.path(percentEncoded: false)) == true)

        let corrupt = directory.url.appendingPathComponent("corrupt.safetensors")
        try Data([1, 0, 0]).write(to: corrupt)
        let truncated = #expect(throws: SafeTensorsError.self) { try SafeTensorsFile.read(from: corrupt) }
        #expect(truncated?.description == "safetensors file '\(corrupt.path(percentEncoded: false))': the file is 3 bytes long, too short for the 8-byte header length")
    }
}
