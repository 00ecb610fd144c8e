// Deterministic mutations: each input is a seed (or two spliced) put through a few byte-level
// and format-aware changes, all drawn from a SplitMix64 seeded by (seed, format, iteration),
// so any input can be regenerated from its iteration number alone.
import ScalpelCore
import ScalpelData

extension SeededRandom {
    /// A uniform integer in `0..<bound`, or 0 when `bound` is at most 1.
    mutating func below(_ bound: Int) -> Int { bound <= 1 ? 0 : Int(uniform(below: UInt64(bound))) }
    /// True with probability `numerator / denominator`.
    mutating func chance(_ numerator: Int, in denominator: Int) -> Bool { below(denominator) < numerator }
    mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }
}

/// Numbers that break size and offset arithmetic, as decimal text.
let interestingNumbers = [
    "0", "1", "-1", "2", "3", "7", "8", "255", "256", "65535", "65536", "-0", "00", "1.5", "1e3", "2.0",
    "2147483647", "2147483648", "4294967295", "4294967296", "1099511627776", "16777217",
    "4611686018427387904", "9223372036854775807", "9223372036854775808", "-9223372036854775808",
    "18446744073709551615", "18446744073709551616", "99999999999999999999", "100000000",
]

/// Integers that break binary length and offset fields.
let interestingIntegers: [UInt64] = [
    0, 1, 2, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x1_0000, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFE, 0xFFFF_FFFF,
    1 << 32, 1 << 40, 1 << 62, 1 << 63, (1 << 63) + 30, UInt64.max - 1, UInt64.max,
]

struct Mutator {
    let format: Format
    /// The inputs mutations start from: generated seeds and corpus files.
    let seeds: [[UInt8]]
    /// Inputs are cut to this size after mutation.
    let maxBytes: Int

    /// The input of one iteration: a seed through one to six mutations.
    func input(rng: inout SeededRandom) -> (bytes: [UInt8], operations: [String]) {
        var operations: [String] = []
        var bytes: [UInt8]
        if format == .npz, rng.chance(1, in: 4) {
            // A well-formed archive around a mutated .npy member, so the member parser is reached
            // past the CRC check.
            var spec = rng.pick(Seeds.cachedNPZSpecs)
            let index = rng.below(spec.members.count)
            let npyMutator = Mutator(format: .npy, seeds: [spec.members[index].bytes], maxBytes: maxBytes)
            spec.members[index].bytes = npyMutator.input(rng: &rng).bytes
            if rng.chance(1, in: 3) { spec.members[index].method = rng.pick([.stored, .deflateFixed, .deflateStoredBlocks(blockSize: 17)]) }
            bytes = spec.bytes
            operations.append("npz-member(\(spec.members[index].name))")
        } else {
            bytes = rng.pick(seeds)
        }
        let count = 1 + rng.below(rng.chance(1, in: 4) ? 6 : 3)
        for _ in 0..<count {
            operations.append(mutate(&bytes, rng: &rng))
        }
        if bytes.count > maxBytes { bytes.removeSubrange(maxBytes...) }
        // Half the time the length field is made to match the mutated header again, so the
        // input gets past the framing to the checks behind it.
        if rng.chance(1, in: 2), let repaired = repairFraming(&bytes) { operations.append(repaired) }
        return (bytes, operations)
    }

    /// Sets the header length of a safetensors or .npy input to where its header really ends.
    private func repairFraming(_ bytes: inout [UInt8]) -> String? {
        switch format {
        case .safetensors:
            guard bytes.count > 8, let end = jsonObjectEnd(bytes, from: 8) else { return nil }
            var length = end - 8
            while 8 + length < bytes.count, bytes[8 + length] == 0x20 { length += 1 }
            writeInteger(&bytes, at: 0, width: 8, value: UInt64(length))
            return "repair-length(\(length))"
        case .npy:
            guard bytes.count > 12, (1...3).contains(bytes[6]) else { return nil }
            let start = bytes[6] == 1 ? 10 : 12
            guard let newline = bytes[start...].firstIndex(of: 0x0A) else { return nil }
            writeInteger(&bytes, at: 8, width: start - 8, value: UInt64(newline + 1 - start))
            return "repair-length(\(newline + 1 - start))"
        default:
            return nil
        }
    }

    /// The index just past the JSON object that starts (after whitespace) at `start`.
    private func jsonObjectEnd(_ bytes: [UInt8], from start: Int) -> Int? {
        var depth = 0
        var inString = false
        var index = start
        while index < bytes.count {
            let byte = bytes[index]
            if inString {
                if byte == UInt8(ascii: "\\") { index += 1 } else if byte == UInt8(ascii: "\"") { inString = false }
            } else if byte == UInt8(ascii: "\"") {
                inString = true
            } else if byte == UInt8(ascii: "{") || byte == UInt8(ascii: "[") {
                depth += 1
            } else if byte == UInt8(ascii: "}") || byte == UInt8(ascii: "]") {
                depth -= 1
                if depth <= 0 { return index + 1 }
            }
            index += 1
        }
        return nil
    }

    /// Applies one mutation and names it.
    func mutate(_ bytes: inout [UInt8], rng: inout SeededRandom) -> String {
        // Format-aware mutations half the time; they fall back to a byte mutation when they
        // find nothing to change.
        if rng.chance(1, in: 2) {
            let name: String? = switch format {
            case .safetensors: safetensorsMutation(&bytes, rng: &rng)
            case .npy: npyMutation(&bytes, rng: &rng)
            case .npz: zipMutation(&bytes, rng: &rng)
            case .csv, .ucr: textMutation(&bytes, rng: &rng)
            }
            if let name { return name }
        }
        return byteMutation(&bytes, rng: &rng)
    }

    // MARK: byte mutations

    private func byteMutation(_ bytes: inout [UInt8], rng: inout SeededRandom) -> String {
        let position = rng.below(bytes.count + 1)
        switch rng.below(10) {
        case 0 where !bytes.isEmpty:
            let index = min(position, bytes.count - 1)
            bytes[index] ^= 1 << UInt8(rng.below(8))
            return "flip-bit@\(index)"
        case 1 where !bytes.isEmpty:
            let index = min(position, bytes.count - 1)
            bytes[index] = rng.pick([0x00, 0xFF, 0x7F, 0x80, 0x01, 0x20, 0x22, 0x27, 0x2C, 0x0A, 0x0D, 0x09, 0x5B, 0x7B, 0x28])
            return "set-byte@\(index)"
        case 2:
            let length = 1 + rng.below(rng.chance(1, in: 8) ? 4096 : 16)
            let fill: [UInt8] = rng.chance(1, in: 2)
                ? [UInt8](repeating: UInt8(rng.below(256)), count: length)
                : (0..<length).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            bytes.insert(contentsOf: fill, at: position)
            return "insert(\(length))@\(position)"
        case 3 where !bytes.isEmpty:
            let start = min(position, bytes.count - 1)
            let end = min(bytes.count, start + 1 + rng.below(rng.chance(1, in: 4) ? bytes.count : 16))
            bytes.removeSubrange(start..<end)
            return "delete(\(end - start))@\(start)"
        case 4 where !bytes.isEmpty:
            let start = rng.below(bytes.count)
            let end = min(bytes.count, start + 1 + rng.below(64))
            let copy = Array(bytes[start..<end])
            let repeats = rng.chance(1, in: 8) ? 1 + rng.below(64) : 1
            let at = rng.below(bytes.count + 1)
            for _ in 0..<repeats { bytes.insert(contentsOf: copy, at: at) }
            return "duplicate(\(start)..<\(end) x\(repeats))@\(at)"
        case 5:
            bytes.removeSubrange(min(position, bytes.count)...)
            return "truncate@\(position)"
        case 6:
            let other = rng.pick(seeds)
            let cut = rng.below(bytes.count + 1)
            let from = rng.below(other.count + 1)
            bytes = Array(bytes[..<cut]) + Array(other[from...])
            return "splice@\(cut)+\(from)"
        case 7 where bytes.count >= 2:
            let width = rng.pick([2, 4, 8])
            let index = rng.below(max(1, bytes.count - width + 1))
            writeInteger(&bytes, at: index, width: width, value: rng.pick(interestingIntegers))
            return "integer\(width * 8)@\(index)"
        case 8 where bytes.count >= 2:
            // Swap two ranges of equal length.
            let length = 1 + rng.below(min(16, bytes.count / 2))
            let a = rng.below(bytes.count - length + 1)
            let b = rng.below(bytes.count - length + 1)
            for offset in 0..<length where a + offset != b + offset { bytes.swapAt(a + offset, b + offset) }
            return "swap(\(length))@\(a),\(b)"
        default:
            let index = min(position, bytes.count)
            let token = rng.pick(tokens)
            bytes.insert(contentsOf: token, at: index)
            return "token@\(index)"
        }
    }

    /// Byte strings the format's grammar gives meaning to.
    private var tokens: [[UInt8]] {
        let text: [String] = switch format {
        case .safetensors: ["{", "}", "[", "]", "\"", ":", ",", "null", "true", "-", "e", ".", "\\u", "\\ud800", "\"__metadata__\"",
                            "\"dtype\"", "\"shape\"", "\"data_offsets\"", "[0,0]", "[]", "[[[[", "\"F32\""]
        case .npy: ["{", "}", "(", ")", "[", "'", "\"", ",", ":", "True", "False", "'descr'", "'shape'", "L", "-", " ", "\n", "\\"]
        case .npz: ["PK\u{3}\u{4}", "PK\u{1}\u{2}", "PK\u{5}\u{6}", "PK\u{6}\u{6}", "PK\u{6}\u{7}", "PK\u{7}\u{8}", ".npy", "/"]
        case .csv: ["\"", ",", "\n", "\r\n", "\r", "\"\"", ",,", "NA", "?", "\u{FEFF}", " ", "\t", "é"]
        case .ucr: ["\t", ",", " ", "\n", "\r\n", "\r", "NaN", "nan", "-inf", "inf", "1e39", "3.4028236e38", "-0", "0x1p3", "1e-50",
                    "\u{FEFF}", ".", "e", "+"]
        }
        return text.map { Array($0.utf8) } + [[0x00], [0xC3, 0x28], [0xED, 0xA0, 0x80], [0xFF, 0xFE]]
    }

    // MARK: numbers in text

    /// The ranges of decimal integers (with a leading '-') in `bytes[range]`.
    private func numberRanges(_ bytes: [UInt8], in range: Range<Int>) -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        var index = range.lowerBound
        while index < range.upperBound {
            if isDigit(bytes[index]) {
                var start = index
                if start > range.lowerBound, bytes[start - 1] == UInt8(ascii: "-") { start -= 1 }
                while index < range.upperBound, isDigit(bytes[index]) { index += 1 }
                ranges.append(start..<index)
            } else {
                index += 1
            }
        }
        return ranges
    }

    private func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

    /// Replaces a number with an interesting one, a neighbour, or another number of the same
    /// text (which makes offsets overlap), or swaps two numbers.
    private func numberMutation(_ bytes: inout [UInt8], in range: Range<Int>, rng: inout SeededRandom) -> String? {
        let numbers = numberRanges(bytes, in: range)
        guard let target = numbers.isEmpty ? nil : rng.pick(numbers) else { return nil }
        let current = String(decoding: bytes[target], as: UTF8.self)
        let replacement: String
        switch rng.below(5) {
        case 0, 1:
            replacement = rng.pick(interestingNumbers)
        case 2:
            let value = Int(current) ?? 0
            replacement = String(value &+ rng.pick([-8, -4, -2, -1, 1, 2, 4, 8]))
        case 3:
            replacement = String(decoding: bytes[rng.pick(numbers)], as: UTF8.self)
        default:
            // Swap with another number.
            let other = rng.pick(numbers)
            guard other != target else { return nil }
            let (first, second) = other.lowerBound < target.lowerBound ? (other, target) : (target, other)
            guard first.upperBound <= second.lowerBound else { return nil }
            let a = Array(bytes[first]), b = Array(bytes[second])
            bytes.replaceSubrange(second, with: a)
            bytes.replaceSubrange(first, with: b)
            return "swap-numbers"
        }
        bytes.replaceSubrange(target, with: Array(replacement.utf8))
        return "number(\(current)->\(replacement))"
    }

    /// Replaces the first occurrence of one of `candidates` (picked at random) with `replacement`.
    private func replaceToken(_ bytes: inout [UInt8], in range: Range<Int>, candidates: [String], with replacement: String,
                              rng: inout SeededRandom) -> String? {
        let start = rng.below(candidates.count)
        for offset in 0..<candidates.count {
            let needle = Array(candidates[(start + offset) % candidates.count].utf8)
            if let found = firstRange(of: needle, in: bytes, within: range) {
                bytes.replaceSubrange(found, with: Array(replacement.utf8))
                return "replace(\(candidates[(start + offset) % candidates.count])->\(replacement))"
            }
        }
        return nil
    }

    private func firstRange(of needle: [UInt8], in bytes: [UInt8], within range: Range<Int>) -> Range<Int>? {
        guard !needle.isEmpty, range.count >= needle.count else { return nil }
        var index = range.lowerBound
        while index + needle.count <= range.upperBound {
            if bytes[index] == needle[0], bytes[index..<index + needle.count].elementsEqual(needle) {
                return index..<index + needle.count
            }
            index += 1
        }
        return nil
    }

    private func writeInteger(_ bytes: inout [UInt8], at index: Int, width: Int, value: UInt64) {
        for byte in 0..<width where index + byte < bytes.count {
            bytes[index + byte] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(byte)))
        }
    }

    private func readInteger(_ bytes: [UInt8], at index: Int, width: Int) -> UInt64? {
        guard index >= 0, index + width <= bytes.count else { return nil }
        var value: UInt64 = 0
        for byte in 0..<width { value |= UInt64(bytes[index + byte]) << (8 * UInt64(byte)) }
        return value
    }

    // MARK: safetensors

    private static let safetensorsDTypes = ["BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16", "BF16", "I32", "U32",
                                            "F32", "F64", "I64", "U64"]

    private func safetensorsMutation(_ bytes: inout [UInt8], rng: inout SeededRandom) -> String? {
        let announced = readInteger(bytes, at: 0, width: 8) ?? 0
        let header = min(8, bytes.count)..<min(bytes.count, 8 + Int(min(announced, UInt64(bytes.count))))
        switch rng.below(6) {
        case 0:
            // The header length field.
            let lengths: [UInt64] = [announced &+ 1, announced &- 1, announced &+ 8, UInt64(bytes.count),
                                     UInt64(max(0, bytes.count - 8)), 100 * 1024 * 1024 + 1]
            let value = rng.pick(interestingIntegers + lengths)
            writeInteger(&bytes, at: 0, width: 8, value: value)
            return "header-length(\(value))"
        case 1:
            let replacement = rng.chance(1, in: 4)
                ? rng.pick(["F4", "Q8", "", "f32", "F32 ", "C64", "STR", "__metadata__"]) : rng.pick(Self.safetensorsDTypes)
            return replaceToken(&bytes, in: header, candidates: Self.safetensorsDTypes.map { "\"\($0)\"" },
                                with: "\"\(replacement)\"", rng: &rng)
        case 2:
            let shape = rng.pick([
                "[1099511627776,1099511627776]", "[]", "[0]", "[-1]", "[4294967296,4294967296,4]", "[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]",
                "[16777217]", "[2.0]", "[\"2\"]", "[null]", "[[2]]", "{}", "[9223372036854775807,2]", "[3,0]",
            ])
            return replaceShape(&bytes, in: header, key: "\"shape\"", with: shape)
        case 3:
            let offsets = rng.pick(["[0,0]", "[4,0]", "[0,4611686018427387904]", "[-1,3]", "[0]", "[0,4,8]", "[1,5]",
                                    "[9223372036854775807,9223372036854775807]", "[18446744073709551615,0]", "null"])
            return replaceShape(&bytes, in: header, key: "\"data_offsets\"", with: offsets)
        default:
            return numberMutation(&bytes, in: header, rng: &rng)
        }
    }

    /// Replaces the bracketed value after one occurrence of `key` with `replacement`.
    private func replaceShape(_ bytes: inout [UInt8], in range: Range<Int>, key: String, with replacement: String) -> String? {
        guard let found = firstRange(of: Array(key.utf8), in: bytes, within: range) else { return nil }
        guard let open = (found.upperBound..<range.upperBound).first(where: { bytes[$0] == UInt8(ascii: "[") || bytes[$0] == UInt8(ascii: "(") })
        else { return nil }
        let close = bytes[open] == UInt8(ascii: "[") ? UInt8(ascii: "]") : UInt8(ascii: ")")
        guard let end = (open..<range.upperBound).first(where: { bytes[$0] == close }) else { return nil }
        bytes.replaceSubrange(open...end, with: Array(replacement.utf8))
        return "\(key)=\(replacement)"
    }

    // MARK: npy

    private func npyMutation(_ bytes: inout [UInt8], rng: inout SeededRandom) -> String? {
        guard bytes.count >= 10 else { return nil }
        let version = bytes[6]
        let lengthWidth = version == 1 ? 2 : 4
        let length = Int(readInteger(bytes, at: 8, width: lengthWidth) ?? 0)
        let header = min(bytes.count, 8 + lengthWidth)..<min(bytes.count, 8 + lengthWidth + length)
        switch rng.below(6) {
        case 0:
            let value = rng.pick(interestingIntegers + [UInt64(length + 1), UInt64(max(0, length - 1)), 65536, 65537])
            writeInteger(&bytes, at: 8, width: lengthWidth, value: value)
            return "header-length(\(value))"
        case 1:
            bytes[6] = rng.pick([0, 1, 2, 3, 4, 0xFF])
            if rng.chance(1, in: 4) { bytes[7] = rng.pick([0, 1]) }
            return "version(\(bytes[6]).\(bytes[7]))"
        case 2:
            let descrs = ["<f4", "<f8", "|u1", "|i1", "|b1", "<i2", "<u2", "<i4", "<u4", "<i8", "<u8"]
            let others = [">f4", "=i8", "<c8", "|O", "<U5", "<f2", "|V8", "u1", "", "<", "<i16", "|u1'", "<f4\\"]
            let replacement = rng.chance(1, in: 3) ? rng.pick(others) : rng.pick(descrs)
            return replaceToken(&bytes, in: header, candidates: descrs.map { "'\($0)'" } + descrs.map { "\"\($0)\"" },
                                with: "'\(replacement)'", rng: &rng)
        case 3:
            let shape = rng.pick([
                "(1099511627776, 1099511627776)", "()", "(0,)", "(-1, 3)", "(2147483648,)", "(16777217,)", "(65536, 65536)",
                "(9223372036854775807, 9223372036854775807)", "(99999999999999999999,)", "(1L,)", "(2, 3, 4, 5, 6, 7)",
                "(" + String(repeating: "1, ", count: 65) + ")", "[1]", "(1.5,)", "(,)", "((1,),)", "(+3,)",
            ])
            return replaceShape(&bytes, in: header, key: "shape", with: shape)
        case 4:
            let flags = ["False", "True"]
            return replaceToken(&bytes, in: header, candidates: flags, with: rng.pick(flags + ["None", "1", "'False'"]), rng: &rng)
        default:
            return numberMutation(&bytes, in: header, rng: &rng)
        }
    }

    // MARK: zip

    /// A zip structure found in the bytes: its kind, where it starts, and its fields as
    /// (offset within the structure, width).
    private struct ZipRecord {
        var kind: String
        var start: Int
        var fields: [(Int, Int)]
    }

    private func zipRecords(_ bytes: [UInt8]) -> [ZipRecord] {
        var records: [ZipRecord] = []
        var index = 0
        while index + 4 <= bytes.count {
            if bytes[index] == 0x50, bytes[index + 1] == 0x4B {
                switch (bytes[index + 2], bytes[index + 3]) {
                case (3, 4):
                    records.append(ZipRecord(kind: "local", start: index,
                                             fields: [(4, 2), (6, 2), (8, 2), (14, 4), (18, 4), (22, 4), (26, 2), (28, 2)]))
                case (1, 2):
                    records.append(ZipRecord(kind: "central", start: index,
                                             fields: [(6, 2), (8, 2), (10, 2), (16, 4), (20, 4), (24, 4), (28, 2), (30, 2), (32, 2),
                                                      (34, 2), (42, 4)]))
                case (5, 6):
                    records.append(ZipRecord(kind: "end", start: index,
                                             fields: [(4, 2), (6, 2), (8, 2), (10, 2), (12, 4), (16, 4), (20, 2)]))
                case (6, 6):
                    records.append(ZipRecord(kind: "zip64-end", start: index,
                                             fields: [(4, 8), (14, 2), (24, 8), (32, 8), (40, 8), (48, 8)]))
                case (6, 7):
                    records.append(ZipRecord(kind: "zip64-locator", start: index, fields: [(4, 4), (8, 8), (16, 4)]))
                case (7, 8):
                    records.append(ZipRecord(kind: "descriptor", start: index, fields: [(4, 4), (8, 4), (12, 4)]))
                default:
                    break
                }
            }
            index += 1
        }
        return records
    }

    private func zipMutation(_ bytes: inout [UInt8], rng: inout SeededRandom) -> String? {
        let records = zipRecords(bytes)
        switch rng.below(5) {
        case 0, 1:
            // A field of a zip structure set to an interesting value or nudged.
            guard let record = records.isEmpty ? nil : rng.pick(records) else { return nil }
            let (offset, width) = rng.pick(record.fields)
            let current = readInteger(bytes, at: record.start + offset, width: width) ?? 0
            let value = rng.chance(1, in: 3)
                ? current &+ UInt64(bitPattern: Int64(rng.pick([-64, -8, -1, 1, 8, 64, 4096])))
                : rng.pick(interestingIntegers + [8, 99, UInt64(bytes.count), UInt64(record.start), 45, 0x0008, 0x0001])
            writeInteger(&bytes, at: record.start + offset, width: width, value: value)
            return "zip-\(record.kind)+\(offset)=\(value)"
        case 2:
            // A ZIP64 extra field added to a central directory entry, its 32-bit fields set to
            // 0xFFFFFFFF so that the 64-bit values are read.
            let centrals = records.filter { $0.kind == "central" }
            guard let entry = centrals.isEmpty ? nil : rng.pick(centrals), entry.start + 46 <= bytes.count else { return nil }
            let nameLength = Int(readInteger(bytes, at: entry.start + 28, width: 2)!)
            let extraLength = Int(readInteger(bytes, at: entry.start + 30, width: 2)!)
            let at = entry.start + 46 + nameLength + extraLength
            guard at <= bytes.count else { return nil }
            let fields = 1 + rng.below(3)
            var extra = le16(1) + le16(UInt16(8 * fields))
            for _ in 0..<fields {
                extra += le64(rng.chance(1, in: 2) ? rng.pick(interestingIntegers) : UInt64(rng.below(bytes.count + 64)))
            }
            bytes.insert(contentsOf: extra, at: at)
            writeInteger(&bytes, at: entry.start + 30, width: 2, value: UInt64(extraLength + extra.count))
            writeInteger(&bytes, at: entry.start + 6, width: 2, value: 45)
            for (offset, width) in [(20, 4), (24, 4), (42, 4)].prefix(fields) where rng.chance(3, in: 4) {
                writeInteger(&bytes, at: entry.start + offset, width: width, value: 0xFFFF_FFFF)
            }
            if let end = records.last(where: { $0.kind == "end" }), end.start >= at {
                let size = readInteger(bytes, at: end.start + extra.count + 12, width: 4) ?? 0
                writeInteger(&bytes, at: end.start + extra.count + 12, width: 4, value: size + UInt64(extra.count))
            }
            return "zip64-extra(\(fields))"
        case 3:
            // A stored deflate block that claims a different length, LEN and NLEN kept consistent.
            let locals = records.filter { $0.kind == "local" && readInteger(bytes, at: $0.start + 8, width: 2) == 8 }
            guard let entry = locals.isEmpty ? nil : rng.pick(locals), entry.start + 30 <= bytes.count else { return nil }
            let data = entry.start + 30 + Int(readInteger(bytes, at: entry.start + 26, width: 2)!)
                + Int(readInteger(bytes, at: entry.start + 28, width: 2)!)
            guard data + 5 <= bytes.count, bytes[data] & 0x06 == 0 else { return nil }
            let length = UInt16(truncatingIfNeeded: rng.chance(1, in: 2) ? rng.below(65536) : Int(readInteger(bytes, at: data + 1, width: 2)!) + rng.below(64))
            if rng.chance(1, in: 3) { bytes[data] &= 0xFE }  // not the final block
            bytes.replaceSubrange(data + 1..<data + 5, with: le16(length) + le16(~length))
            return "deflate-stored-length(\(length))"
        default:
            // Numbers in the .npy headers of stored members.
            return numberMutation(&bytes, in: 0..<bytes.count, rng: &rng)
        }
    }

    // MARK: text

    private func textMutation(_ bytes: inout [UInt8], rng: inout SeededRandom) -> String? {
        let lines = lineRanges(bytes)
        switch rng.below(5) {
        case 0:
            return numberMutation(&bytes, in: 0..<bytes.count, rng: &rng)
        case 1 where !lines.isEmpty:
            // Duplicate, drop or swap whole lines.
            let line = rng.pick(lines)
            switch rng.below(3) {
            case 0:
                let copy = Array(bytes[line]) + [0x0A]
                bytes.insert(contentsOf: copy, at: rng.pick(lines).lowerBound)
                return "duplicate-line"
            case 1:
                bytes.removeSubrange(line.lowerBound..<min(bytes.count, line.upperBound + 1))
                return "delete-line"
            default:
                let other = rng.pick(lines)
                guard other != line else { return nil }
                let (first, second) = other.lowerBound < line.lowerBound ? (other, line) : (line, other)
                let a = Array(bytes[first]), b = Array(bytes[second])
                bytes.replaceSubrange(second, with: a)
                bytes.replaceSubrange(first, with: b)
                return "swap-lines"
            }
        case 2 where !lines.isEmpty:
            // A line with a great many fields: a very long series, a very wide row.
            let line = rng.pick(lines)
            let separator: [UInt8] = rng.pick([[0x09], [0x2C], [0x20]])
            let field: [UInt8] = rng.pick([Array("1".utf8), Array("NaN".utf8), Array("".utf8), Array("-2.5e-3".utf8)])
            let repeats = rng.pick([100, 1000, 70_000])
            var extra: [UInt8] = []
            extra.reserveCapacity(repeats * (field.count + 1))
            for _ in 0..<repeats { extra += separator + field }
            bytes.insert(contentsOf: extra, at: line.upperBound)
            return "wide-line(\(repeats))"
        case 3:
            // Quote games.
            let quote = UInt8(ascii: "\"")
            let quotes = bytes.indices.filter { bytes[$0] == quote }
            if let index = quotes.isEmpty ? nil : rng.pick(quotes), rng.chance(1, in: 2) {
                bytes.remove(at: index)
                return "drop-quote"
            }
            let at = rng.below(bytes.count + 1)
            bytes.insert(contentsOf: rng.pick([[quote], [quote, quote], [quote, 0x0A, quote], [0x2C, quote]]), at: at)
            return "add-quote"
        default:
            return nil
        }
    }

    /// The byte ranges of the lines, without their line breaks.
    private func lineRanges(_ bytes: [UInt8]) -> [Range<Int>] {
        var lines: [Range<Int>] = []
        var start = 0
        for (index, byte) in bytes.enumerated() where byte == 0x0A || byte == 0x0D {
            lines.append(start..<index)
            start = index + 1
        }
        if start < bytes.count { lines.append(start..<bytes.count) }
        return lines
    }
}
