// What the fuzz tests share: the reader of each format called as scalpel-fuzz calls it, a small
// deterministic mutation loop, and where the kept inputs and the built scalpel-fuzz binary are.
// The fuzzer itself (Sources/ScalpelFuzz) is an executable this target cannot import, so the
// full engine is exercised by running the binary, and this file keeps only a minimal loop.
import Foundation
import ScalpelData
import ScalpelIO
import Testing

/// The repository root, found from this file's path.
let repositoryRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// The inputs that once crashed, hung or broke a reader, named `<format>-<name>.bin`.
let regressionsDirectory = repositoryRoot.appendingPathComponent("Tests/ScalpelFuzzTests/Regressions")

enum Format: String, CaseIterable, Sendable {
    case safetensors, npy, npz, csv, ucr
}

/// How a reader answered: parsed, or refused with this message.
enum Answer: Equatable {
    case parsed
    case refused(String)
}

/// A reader's error, or the reason the error itself is wrong.
struct ContractBreach: Error, CustomStringConvertible {
    var description: String
}

/// The limits scalpel-fuzz parses with.
let testSafetensorsLimits = SafeTensorsLimits(maxHeaderBytes: 1 << 20, maxDimensions: 16, maxElements: 1 << 24, maxJSONDepth: 16)
let testMaxElements = 1 << 24
let testMaxMemberBytes: UInt64 = 1 << 26

/// Parses `bytes` as `format`, naming them `source`. An .npz is read both from memory and from a
/// temporary file; the answer is the file's. Throws `ContractBreach` when the reader throws an
/// error of another type, or one whose message is empty or does not name the source.
func answer(_ format: Format, _ bytes: [UInt8], source: String) throws -> Answer {
    func refused(_ error: any Error, source: String) throws -> Answer {
        let message: String
        switch error {
        case let error as SafeTensorsError: message = error.description
        case let error as ClinicDataError: message = error.description
        default: throw ContractBreach(description: "\(format) reader threw \(type(of: error)): \(error)")
        }
        guard !message.isEmpty, message.contains(source) else {
            throw ContractBreach(description: "\(format) error does not name '\(source)': \(message)")
        }
        return .refused(message)
    }
    switch format {
    case .safetensors:
        do { _ = try SafeTensorsFile(data: Data(bytes), source: source, limits: testSafetensorsLimits) } catch { return try refused(error, source: source) }
    case .npy:
        do { _ = try NPYArray(bytes: bytes, source: source, maxElements: testMaxElements) } catch { return try refused(error, source: source) }
    case .csv:
        do { _ = try CSVTable(bytes: bytes, source: source) } catch { return try refused(error, source: source) }
    case .ucr:
        let options = UCRDataset.Options(maxBytes: 1 << 22, maxSeriesLength: 1 << 16, maxValues: 1 << 22)
        do { _ = try UCRDataset(bytes: bytes, source: source, options: options) } catch { return try refused(error, source: source) }
    case .npz:
        do {
            let archive = try NPZArchive(data: Data(bytes), source: source, maxMemberBytes: testMaxMemberBytes, maxElements: testMaxElements)
            for name in archive.names.prefix(16) {
                do { _ = try archive.array(named: name) } catch { _ = try refused(error, source: source) }
            }
        } catch let breach as ContractBreach {
            throw breach
        } catch {
            _ = try refused(error, source: source)
        }
        return try withTemporaryFile(bytes, name: source) { url in
            do {
                _ = try ImageDataset.loadMedMNIST(from: url, maxMemberBytes: testMaxMemberBytes, maxElements: testMaxElements)
            } catch {
                return try refused(error, source: url.path)
            }
            return .parsed
        }
    }
    return .parsed
}

/// The message of refusing `bytes` as `format`, or a recorded issue and "" when they parse.
func refusal(_ format: Format, _ bytes: [UInt8], source: String = "bad", sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
    guard case .refused(let message) = try answer(format, bytes, source: source) else {
        Issue.record("\(format) input was accepted", sourceLocation: sourceLocation)
        return ""
    }
    return message
}

/// Writes `bytes` to a fresh temporary folder as `name`, runs `body`, removes the folder.
func withTemporaryFile<T>(_ bytes: [UInt8], name: String, _ body: (URL) throws -> T) throws -> T {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("scalpel-fuzz-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    let url = folder.appendingPathComponent(URL(fileURLWithPath: name).lastPathComponent)
    try Data(bytes).write(to: url)
    return try body(url)
}

// MARK: builders

func le64(_ value: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) } }

/// A safetensors file with `header` as its JSON text.
func safetensorsFile(_ header: String, buffer: [UInt8] = [], announcedLength: UInt64? = nil) -> [UInt8] {
    le64(announcedLength ?? UInt64(header.utf8.count)) + Array(header.utf8) + buffer
}

/// A version 1.0 `.npy` file with the header dictionary `header`, padded as NumPy pads it.
func npyFile(_ header: String, data: [UInt8] = []) -> [UInt8] {
    var text = Array(header.utf8)
    let padded = (10 + text.count + 1 + 63) / 64 * 64
    text += [UInt8](repeating: 0x20, count: padded - 10 - text.count - 1) + [0x0A]
    return [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(text.count & 0xFF), UInt8(text.count >> 8)] + text + data
}

func npyFile(descr: String, shape: String, data: [UInt8]) -> [UInt8] {
    npyFile("{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shape), }", data: data)
}

/// The fixtures of the clinic tests: a stored and a deflated MedMNIST-like archive.
func clinicFixture(_ name: String) throws -> [UInt8] {
    try [UInt8](Data(contentsOf: repositoryRoot.appendingPathComponent("Tests/ScalpelDataTests/Fixtures/\(name)")))
}

/// A MedMNIST-like archive of stored members, (2, 2, 2) uint8 images and (2, 1) labels per
/// split, with `replacing` members (by array name) swapped in.
func medMNISTArchive(replacing: [String: [UInt8]] = [:]) -> [UInt8] {
    var members: [(String, [UInt8])] = []
    for split in ["train", "val", "test"] {
        members.append(("\(split)_images.npy", replacing["\(split)_images"] ?? npyFile(descr: "|u1", shape: "(2, 2, 2)", data: Array(0..<8))))
        members.append(("\(split)_labels.npy", replacing["\(split)_labels"] ?? npyFile(descr: "|u1", shape: "(2, 1)", data: [0, 1])))
    }
    return storedZip(members)
}

/// A zip of stored members.
func storedZip(_ members: [(String, [UInt8])]) -> [UInt8] {
    func le16(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF)] }
    func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> ($0 * 8)) } }
    var body: [UInt8] = [], directory: [UInt8] = []
    for (name, bytes) in members {
        let nameBytes = Array(name.utf8)
        let common = le16(20) + le16(0) + le16(0) + le16(0) + le16(0x21) + le32(crc32(bytes)) + le32(UInt32(bytes.count))
            + le32(UInt32(bytes.count)) + le16(nameBytes.count) + le16(0)
        directory += le32(0x0201_4B50) + le16(20) + common + le16(0) + le16(0) + le16(0) + le32(0) + le32(UInt32(body.count)) + nameBytes
        body += le32(0x0403_4B50) + common + nameBytes + bytes
    }
    return body + directory + le32(0x0605_4B50) + le16(0) + le16(0) + le16(members.count) + le16(members.count)
        + le32(UInt32(directory.count)) + le32(UInt32(body.count)) + le16(0)
}

func crc32(_ bytes: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
    }
    return ~crc
}

// MARK: the minimal mutation loop

/// SplitMix64 steps, enough for the in-test loop.
struct TestRandom {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ bound: Int) -> Int { bound <= 1 ? 0 : Int(next() % UInt64(bound)) }
}

/// One of the byte-level mutations scalpel-fuzz applies, chosen by `random`.
func mutate(_ bytes: inout [UInt8], seeds: [[UInt8]], random: inout TestRandom) {
    let position = random.below(bytes.count + 1)
    let numbers = ["0", "-1", "4611686018427387904", "1099511627776", "18446744073709551616", "2147483648"]
    switch random.below(8) {
    case 0 where !bytes.isEmpty: bytes[min(position, bytes.count - 1)] ^= 1 << UInt8(random.below(8))
    case 1 where !bytes.isEmpty: bytes[min(position, bytes.count - 1)] = [0, 0xFF, 0x7F, 0x80][random.below(4)]
    case 2: bytes.insert(contentsOf: (0..<1 + random.below(8)).map { _ in UInt8(truncatingIfNeeded: random.next()) }, at: position)
    case 3 where !bytes.isEmpty: bytes.removeSubrange(min(position, bytes.count - 1)..<min(bytes.count, position + 1 + random.below(16)))
    case 4: bytes.removeSubrange(min(position, bytes.count)...)
    case 5:
        let other = seeds[random.below(seeds.count)]
        bytes = Array(bytes[..<position]) + Array(other[random.below(other.count + 1)...])
    case 6 where bytes.count >= 8:
        let at = random.below(bytes.count - 7)
        let value: UInt64 = [0, .max, 1 << 62, 1 << 63, 0xFFFF_FFFF][random.below(5)]
        bytes.replaceSubrange(at..<at + 8, with: le64(value))
    default:
        // A decimal number in the text rewritten to an absurd one.
        let digits = bytes.indices.filter { (0x30...0x39).contains(bytes[$0]) }
        guard let at = digits.isEmpty ? nil : digits[random.below(digits.count)] else { return }
        var end = at
        while end < bytes.count, (0x30...0x39).contains(bytes[end]) { end += 1 }
        bytes.replaceSubrange(at..<end, with: Array(numbers[random.below(numbers.count)].utf8))
    }
}

// MARK: the built fuzzer

/// The scalpel-fuzz binary built next to the test bundle (or `$SCALPEL_FUZZ_BIN`), if it exists.
let fuzzBinary: URL? = {
    if let path = ProcessInfo.processInfo.environment["SCALPEL_FUZZ_BIN"], !path.isEmpty {
        return URL(fileURLWithPath: path)
    }
    let candidates = [Bundle.main.executableURL, URL(fileURLWithPath: CommandLine.arguments[0])]
        .compactMap { $0?.deletingLastPathComponent() }
    for directory in candidates {
        for url in [directory.appending(path: "scalpel-fuzz"), directory.deletingLastPathComponent().appending(path: "scalpel-fuzz"),
                    directory.deletingLastPathComponent().deletingLastPathComponent().appending(path: "scalpel-fuzz")]
        where FileManager.default.isExecutableFile(atPath: url.path) {
            return url
        }
    }
    return nil
}()
