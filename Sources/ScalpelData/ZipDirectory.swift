import Foundation

#if canImport(CZlib)
import CZlib
#elseif canImport(zlib)
import zlib
#endif

// The zip structure of an .npz, read and checked before ZIPFoundation (0.9.20) is given the
// archive. ZIPFoundation trusts the offsets and sizes it reads and traps on hostile ones: a ZIP64
// offset or size at or above 2^63 overflows its arithmetic or its conversion to off_t, and in
// memory (Archive(data:)) any seek past the end of the buffer traps. Its Linux inflate loop also
// never returns when a deflate stream is unfinished at the end of the file. So this walk follows
// ZIPFoundation's own (the end record it finds, the ZIP64 record it uses, the central directory
// entries it lists, the local headers and data descriptors it reads), refuses any offset that
// points outside the archive and any member whose bytes run past the end or overlap another
// member's, and deflated members are inflated here, from exactly their compressed bytes.

/// The archive's bytes, read at offsets: a file, or a buffer in memory.
struct ZipBytes {
    let length: UInt64
    private let reader: (UInt64, Int) throws -> [UInt8]

    /// Reads `count` bytes at `offset`, fewer at the end of the archive.
    func read(at offset: UInt64, count: Int) throws -> [UInt8] {
        guard offset < length, count > 0 else { return [] }
        return try reader(offset, Int(min(UInt64(count), length - offset)))
    }

    init(data: Data) {
        length = UInt64(data.count)
        reader = { offset, count in
            let start = data.startIndex + Int(offset)
            return [UInt8](data[start..<start + count])
        }
    }

    /// The file at `url`, kept open until the value is released.
    init(file url: URL) throws {
        let handle = try FileHandle(forReadingFrom: url)
        length = try handle.seekToEnd()
        let box = HandleBox(handle)
        reader = { offset, count in
            try box.handle.seek(toOffset: offset)
            return [UInt8](try box.handle.read(upToCount: count) ?? Data())
        }
    }

    private final class HandleBox {
        let handle: FileHandle
        init(_ handle: FileHandle) { self.handle = handle }
        deinit { try? handle.close() }
    }
}

/// The members of a zip archive as ZIPFoundation will list them, each checked to lie within the
/// archive.
struct ZipDirectory {
    /// One central directory entry with the values ZIPFoundation derives from it.
    struct Member {
        /// The name, for error messages.
        var name: String
        /// Where the local header starts.
        var localHeaderOffset: UInt64
        /// Where the member's (compressed) data starts, after the local header.
        var dataOffset: UInt64
        /// The compressed size ZIPFoundation reads (the central directory's, ZIP64 included).
        var compressedSize: UInt64
        /// The compression method of the local header, which ZIPFoundation extracts by.
        var method: UInt16
    }

    /// The members in directory order: member `i` is ZIPFoundation's `i`-th entry.
    let members: [Member]
    let bytes: ZipBytes

    /// Walks the directory of `bytes`; `source` names the archive in errors.
    init(_ bytes: ZipBytes, source: String) throws(ClinicDataError) {
        self.bytes = bytes
        do {
            members = try Self.walk(bytes, source: source)
        } catch let error as ClinicDataError {
            throw error
        } catch {
            throw .unreadable(.init(source: source), reason: error.localizedDescription)
        }
    }

    private static func walk(_ bytes: ZipBytes, source: String) throws -> [Member] {
        let at = ClinicDataError.Location(source: source)
        let length = bytes.length
        let noEnd = ClinicDataError.notZipArchive(at, reason: "no zip end-of-central-directory record")
        // The end record: its signature nearest the end, at most a maximal comment before it.
        guard length >= 22 else { throw noEnd }
        let tailStart = length - min(length, 22 + 65535)
        let tail = try bytes.read(at: tailStart, count: Int(length - tailStart))
        guard let endIndex = stride(from: tail.count - 22, through: 0, by: -1).first(where: {
            tail[$0] == 0x50 && tail[$0 + 1] == 0x4B && tail[$0 + 2] == 5 && tail[$0 + 3] == 6
        }) else { throw noEnd }
        let end = Array(tail[endIndex..<endIndex + 22])
        guard UInt64(endIndex + 22) + UInt64(u16(end, 20)) <= UInt64(tail.count) else { throw noEnd }
        let endOffset = tailStart + UInt64(endIndex)
        var entryCount = UInt64(u16(end, 10))
        var directoryOffset = UInt64(u32(end, 16))
        // ZIPFoundation takes a ZIP64 end record from the fixed place before the locator.
        if endOffset > 20, endOffset - 20 > 56 {
            let locator = try bytes.read(at: endOffset - 20, count: 20)
            let record = try bytes.read(at: endOffset - 76, count: 56)
            if locator.count == 20, u32(locator, 0) == 0x0706_4B50, record.count == 56, u32(record, 0) == 0x0606_4B50,
               u16(record, 14) >= 45 {
                entryCount = u64(record, 32)
                directoryOffset = u64(record, 48)
            }
        }
        guard directoryOffset <= length else {
            throw ClinicDataError.notZipArchive(
                at, reason: "the central directory offset \(directoryOffset) lies beyond the end of the \(length)-byte archive")
        }

        var members: [Member] = []
        var position = directoryOffset
        var index: UInt64 = 0
        // ZIPFoundation ends its listing silently at the first entry it cannot read; so does this.
        while index < entryCount {
            let fixed = try bytes.read(at: position, count: 46)
            guard fixed.count == 46, u32(fixed, 0) == 0x0201_4B50 else { break }
            let (nameLength, extraLength, commentLength) = (Int(u16(fixed, 28)), Int(u16(fixed, 30)), Int(u16(fixed, 32)))
            let variable = try bytes.read(at: position + 46, count: nameLength + extraLength + commentLength)
            guard variable.count == nameLength + extraLength + commentLength else { break }
            let name = String(decoding: variable[..<nameLength], as: UTF8.self)
            let memberAt = ClinicDataError.Location(source: source, member: name)
            let flags = u16(fixed, 8)
            var compressed = UInt64(u32(fixed, 20))
            var uncompressed = UInt64(u32(fixed, 24))
            var localOffset = UInt64(u32(fixed, 42))
            if let zip64 = zip64Fields(Array(variable[nameLength..<nameLength + extraLength]), fixed: fixed) {
                if zip64.uncompressed > 0 { uncompressed = zip64.uncompressed }
                if zip64.compressed > 0 { compressed = zip64.compressed }
                if zip64.offset > 0 { localOffset = zip64.offset }
            }
            guard localOffset <= length else {
                throw ClinicDataError.corruptMember(
                    memberAt, reason: "its local header offset \(localOffset) lies beyond the end of the \(length)-byte archive")
            }
            let local = try bytes.read(at: localOffset, count: 30)
            guard local.count == 30, u32(local, 0) == 0x0403_4B50 else { break }
            let localVariable = Int(u16(local, 26)) + Int(u16(local, 28))
            guard try bytes.read(at: localOffset + 30, count: localVariable).count == localVariable else { break }
            let dataOffset = localOffset + 30 + UInt64(localVariable)
            if flags & 0x0008 != 0 {
                // The data descriptor follows the data, as long as the directory says the data is.
                let dataSize = u16(fixed, 10) != 0 ? compressed : uncompressed
                let (descriptor, overflow) = dataOffset.addingReportingOverflow(dataSize)
                guard !overflow, descriptor <= length else {
                    throw ClinicDataError.corruptMember(
                        memberAt, reason: "its data descriptor would lie beyond the end of the \(length)-byte archive")
                }
            }
            if flags & 0x0001 != 0 { break }  // encrypted: ZIPFoundation's listing ends here
            // ZIPFoundation converts the size it extracts by to Int64.
            guard uncompressed <= UInt64(Int64.max) else {
                throw ClinicDataError.corruptMember(memberAt, reason: "its uncompressed size \(uncompressed) is impossible")
            }
            let (dataEnd, overflow) = dataOffset.addingReportingOverflow(compressed)
            guard !overflow, dataEnd <= length else {
                throw ClinicDataError.corruptMember(
                    memberAt, reason: "its \(compressed) bytes of data from offset \(dataOffset) run past the end of the "
                        + "\(length)-byte archive")
            }
            members.append(Member(name: name, localHeaderOffset: localOffset, dataOffset: dataOffset, compressedSize: compressed,
                                  method: u16(local, 8)))
            position += 46 + UInt64(nameLength + extraLength + commentLength)
            index += 1
        }
        try checkOverlaps(members, source: source)
        return members
    }

    /// Members may not share bytes: each local header and its data must end before the next begins.
    private static func checkOverlaps(_ members: [Member], source: String) throws {
        let ordered = members.enumerated().sorted { ($0.element.localHeaderOffset, $0.offset) < ($1.element.localHeaderOffset, $1.offset) }
            .map(\.element)
        for (first, second) in zip(ordered, ordered.dropFirst()) where second.localHeaderOffset < first.dataOffset + first.compressedSize {
            throw ClinicDataError.corruptMember(
                .init(source: source, member: second.name),
                reason: "its bytes from offset \(second.localHeaderOffset) overlap member \(ClinicDataError.quoted(first.name)) "
                    + "(offsets \(first.localHeaderOffset)..<\(first.dataOffset + first.compressedSize))")
        }
    }

    /// The ZIP64 extended information of a central directory entry, read the way ZIPFoundation
    /// reads it: the first block with ID 1, holding exactly the fields whose 32-bit values are
    /// all ones, in order.
    private static func zip64Fields(_ extra: [UInt8], fixed: [UInt8]) -> (uncompressed: UInt64, compressed: UInt64, offset: UInt64)? {
        let present = (u32(fixed, 24) == .max, u32(fixed, 20) == .max, u32(fixed, 42) == .max, u16(fixed, 34) == .max)
        var offset = 0
        while offset < extra.count - 4 {
            let next = offset + 4 + Int(u16(extra, offset + 2))
            guard next <= extra.count else { return nil }
            if u16(extra, offset) == 1 {
                let expected = 4 + (present.0 ? 8 : 0) + (present.1 ? 8 : 0) + (present.2 ? 8 : 0) + (present.3 ? 4 : 0)
                guard next - offset == expected else { return nil }
                var field = offset + 4
                func take(_ isPresent: Bool) -> UInt64 {
                    guard isPresent else { return 0 }
                    defer { field += 8 }
                    return u64(extra, field)
                }
                return (take(present.0), take(present.1), take(present.2))
            }
            offset = next
        }
        return nil
    }

    /// Inflates member `member`'s raw deflate data, handing the output to `consumer` in chunks,
    /// and returns its CRC-32. The stream must end within the member's compressed bytes.
    func inflate(_ member: Member, at: ClinicDataError.Location, consumer: ([UInt8]) throws(ClinicDataError) -> Void) throws(ClinicDataError) -> UInt32 {
        #if canImport(CZlib) || canImport(zlib)
        var stream = z_stream()
        guard inflateInit2_(&stream, -MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw .corruptMember(at, reason: "zlib could not start inflating")
        }
        defer { inflateEnd(&stream) }
        var checksum = crc32(0, nil, 0)
        var output = [UInt8](repeating: 0, count: 1 << 16)
        var position = member.dataOffset
        var remaining = member.compressedSize
        while true {
            guard remaining > 0 else {
                throw .corruptMember(at, reason: "the deflate stream does not end within its \(member.compressedSize) compressed bytes")
            }
            let input: [UInt8]
            do {
                input = try bytes.read(at: position, count: Int(min(remaining, 1 << 16)))
            } catch {
                throw .corruptMember(at, reason: "a read error in the archive: \(error.localizedDescription)")
            }
            guard !input.isEmpty else { throw .corruptMember(at, reason: "its compressed data runs past the end of the archive") }
            position += UInt64(input.count)
            remaining -= UInt64(input.count)
            var ended = false
            try input.withUnsafeBufferPointer { (source) throws(ClinicDataError) in
                stream.next_in = UnsafeMutablePointer(mutating: source.baseAddress)
                stream.avail_in = UInt32(source.count)
                while stream.avail_in > 0 || stream.avail_out == 0 {
                    let before = stream.avail_in
                    let result = output.withUnsafeMutableBufferPointer { buffer in
                        stream.next_out = buffer.baseAddress
                        stream.avail_out = UInt32(buffer.count)
                        return zlib_inflate(&stream)
                    }
                    let produced = output.count - Int(stream.avail_out)
                    guard result == Z_OK || result == Z_STREAM_END || result == Z_BUF_ERROR else {
                        throw .corruptMember(at, reason: "the deflate stream cannot be inflated (corruptedData)")
                    }
                    if produced > 0 {
                        checksum = output.withUnsafeBufferPointer { crc32(checksum, $0.baseAddress, UInt32(produced)) }
                        try consumer(Array(output[..<produced]))
                    }
                    if result == Z_STREAM_END {
                        ended = true
                        return
                    }
                    if produced == 0, stream.avail_in == before {
                        // zlib always progresses with input and room for output, so this is more input needed.
                        guard stream.avail_in == 0 else { throw .corruptMember(at, reason: "the deflate stream makes no progress") }
                        break
                    }
                }
            }
            if ended { return UInt32(truncatingIfNeeded: checksum) }
        }
        #else
        throw .corruptMember(at, reason: "deflated members need zlib, which this build lacks")
        #endif
    }
}

#if canImport(CZlib) || canImport(zlib)
/// zlib's `inflate`, named apart from `ZipDirectory.inflate`.
private func zlib_inflate(_ stream: inout z_stream) -> Int32 { inflate(&stream, Z_NO_FLUSH) }
#endif

private func u16(_ bytes: [UInt8], _ offset: Int) -> UInt16 { UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8 }
private func u32(_ bytes: [UInt8], _ offset: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(bytes[offset + $1]) << (8 * $1) } }
private func u64(_ bytes: [UInt8], _ offset: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(bytes[offset + $1]) << (8 * $1) } }
