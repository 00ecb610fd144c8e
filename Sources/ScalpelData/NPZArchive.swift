import Foundation
import ZIPFoundation

// An .npz is a zip archive with one .npy member per array (numpy.savez / savez_compressed).
// The zip layer is ZIPFoundation's; what this file adds is treating the archive as untrusted:
// sizes are checked before extraction, the inflated byte count is policed while it streams,
// and the CRC-32 is compared, since ZIPFoundation's streaming extract leaves that to the caller.
// A member is bounded three times: by the zip directory's uncompressed size (itself no more
// than deflate can expand the compressed bytes to), and, as soon as the first inflated bytes
// hold the member's .npy header, by the size that header declares and by the memory budget,
// so an array too large for memory is refused before it is inflated, let alone converted.
// ZIPFoundation (0.9.20) itself traps on hostile offsets and sizes and, on Linux, never returns
// from inflating a deflate stream that is unfinished at the end of the file; so ZipDirectory
// checks the zip structure before ZIPFoundation reads it, and inflates deflated members itself.

/// A NumPy `.npz` archive: named arrays stored as `.npy` members of a zip file, stored or deflated.
///
/// The archive is opened once to list its arrays; each `array(named:)` call opens it again and
/// extracts one member, so the value holds no open file and can be shared across tasks.
public struct NPZArchive: Sendable {
    /// The most bytes one member may inflate to unless the caller says otherwise: 2 GiB.
    public static let defaultMaxMemberBytes: UInt64 = 1 << 31

    /// The archive's file URL (for an archive in memory, its `source` as a file URL).
    public let url: URL
    /// The archive's bytes when it was opened from memory (a decrypted file), else nil.
    let contents: Data?
    /// The archive's path, as named in error messages.
    public let source: String
    /// The names of the arrays in archive order, without the `.npy` extension.
    public let names: [String]
    /// Members whose declared uncompressed size is above this are refused before extraction.
    public let maxMemberBytes: UInt64
    /// Arrays with more elements than this are refused; see `NPYArray.init(bytes:source:member:maxElements:maxBytes:confidential:)`.
    public let maxElements: Int
    /// The memory budget of one array (see `NPYArray.memoryBytes(count:dtype:)`): a member whose
    /// `.npy` header declares more is refused as soon as its header has inflated.
    public let maxArrayBytes: Int
    /// Whether the archive was decrypted in memory, so errors keep its content out.
    public let isConfidential: Bool

    /// Opens the `.npz` file at `url` and lists its arrays.
    ///
    /// - Parameters:
    ///   - url: the `.npz` file.
    ///   - maxMemberBytes: the largest uncompressed member `array(named:)` will extract.
    ///   - maxElements: the largest array, in elements, `array(named:)` will return.
    ///   - maxArrayBytes: the memory budget of one array `array(named:)` will return.
    /// - Throws: `ClinicDataError.unreadable` for a missing or unreadable file,
    ///   `.notZipArchive` when the file is not a zip archive.
    public init(
        url: URL, maxMemberBytes: UInt64 = NPZArchive.defaultMaxMemberBytes,
        maxElements: Int = NPYArray.defaultMaxElements, maxArrayBytes: Int = NPYArray.defaultMaxBytes
    ) throws(ClinicDataError) {
        self.url = url
        source = url.isFileURL ? url.path : url.absoluteString
        contents = nil
        self.maxMemberBytes = maxMemberBytes
        self.maxElements = maxElements
        self.maxArrayBytes = maxArrayBytes
        isConfidential = false
        let (archive, _) = try Self.open(url, source: source)
        names = archive.compactMap { entry in
            entry.type == .file && entry.path.hasSuffix(".npy") ? String(entry.path.dropLast(4)) : nil
        }
    }

    /// An `.npz` held in memory (a file decrypted without writing it out); `source` names it in
    /// errors, and `confidential` keeps its content out of them. See `init(url:maxMemberBytes:maxElements:maxArrayBytes:)`.
    public init(
        data: Data, source: String, maxMemberBytes: UInt64 = NPZArchive.defaultMaxMemberBytes,
        maxElements: Int = NPYArray.defaultMaxElements, maxArrayBytes: Int = NPYArray.defaultMaxBytes,
        confidential: Bool = false
    ) throws(ClinicDataError) {
        url = URL(fileURLWithPath: source)
        self.source = source
        contents = data
        self.maxMemberBytes = maxMemberBytes
        self.maxElements = maxElements
        self.maxArrayBytes = maxArrayBytes
        isConfidential = confidential
        let (archive, _) = try Self.open(data, source: source)
        names = archive.compactMap { entry in
            entry.type == .file && entry.path.hasSuffix(".npy") ? String(entry.path.dropLast(4)) : nil
        }
    }

    /// Whether the archive holds an array called `name` (without `.npy`).
    public func contains(_ name: String) -> Bool {
        names.contains(Self.arrayName(name))
    }

    /// Extracts and parses the array called `name` (`"train_images"` or `"train_images.npy"`).
    ///
    /// - Throws: `ClinicDataError.missingMember` (listing the arrays present) when there is no
    ///   such member, `.memberTooLarge` when its declared size is above `maxMemberBytes`,
    ///   `.arrayTooLarge` when its `.npy` header declares more than `maxArrayBytes` of memory,
    ///   `.corruptMember` for a CRC mismatch, an inflate error, a size that does not match the
    ///   zip directory or that deflate cannot reach, or data beyond what the header declares,
    ///   and any `NPYArray` error for the member's contents.
    public func array(named name: String) throws(ClinicDataError) -> NPYArray {
        let member = Self.arrayName(name) + ".npy"
        let at = ClinicDataError.Location(source: source, member: member, confidential: isConfidential)
        let (archive, directory) = if let contents { try Self.open(contents, source: source) } else { try Self.open(url, source: source) }
        // The entry's position in the listing is its place in the checked directory.
        guard let (index, entry) = archive.enumerated().first(where: { $0.element.path == member }), entry.type == .file,
              index < directory.members.count
        else {
            throw .missingMember(.init(source: source, confidential: isConfidential), name: Self.arrayName(name), available: names)
        }
        let bytes = try extract(entry, from: archive, directory: directory, member: directory.members[index], at: at)
        return try NPYArray(
            bytes: bytes, source: source, member: member, maxElements: maxElements, maxBytes: maxArrayBytes,
            confidential: isConfidential)
    }

    /// The member's bytes, refusing it before extraction when its declared size is over the
    /// limit or beyond what its compressed bytes can hold, and during extraction as soon as it
    /// inflates past the size the zip directory or its `.npy` header declares, or its header
    /// declares an array above the memory budget.
    private func extract(
        _ entry: Entry, from archive: Archive, directory: ZipDirectory, member: ZipDirectory.Member, at: ClinicDataError.Location
    ) throws(ClinicDataError) -> [UInt8] {
        let declared = entry.uncompressedSize
        guard declared <= maxMemberBytes else {
            throw .memberTooLarge(at, uncompressedBytes: declared, limit: maxMemberBytes)
        }
        let compressed = member.compressedSize
        if member.method == 8 {
            // Deflate expands at most about 1032 to 1 (a 258-byte match in two bits, plus a
            // little for the first bytes), so a declared size beyond that is a lie.
            let (most, overflow) = compressed.multipliedReportingOverflow(by: 1032)
            if !overflow, declared > most + 1024 {
                throw .corruptMember(
                    at, reason: "the zip directory declares \(declared) bytes from \(compressed) compressed bytes, "
                        + "more than deflate can expand them to (at most 1032 to 1)")
            }
        } else if member.method == 0, declared != compressed {
            throw .corruptMember(at, reason: "it holds \(compressed) stored bytes where the zip directory declares \(declared)")
        }
        var sink = MemberSink(
            at: at, zipDeclared: declared, stored: member.method == 0, maxElements: maxElements, maxBytes: maxArrayBytes)
        let checksum: CRC32
        #if canImport(CZlib) || canImport(zlib)
        if member.method == 8 {
            // Deflated: inflated here from exactly the member's compressed bytes (see ZipDirectory).
            checksum = try directory.inflate(member, at: at) { (chunk) throws(ClinicDataError) in try sink.append(chunk) }
        } else {
            checksum = try extractWithZIPFoundation(entry, from: archive, into: &sink, at: at)
        }
        #else
        checksum = try extractWithZIPFoundation(entry, from: archive, into: &sink, at: at)
        #endif
        guard sink.count == declared else {
            throw .corruptMember(at, reason: "it holds \(sink.count) bytes where the zip directory declares \(declared)")
        }
        guard checksum == entry.checksum else {
            throw .corruptMember(
                at, reason: "CRC-32 mismatch: the data gives \(Self.hex(checksum)), the archive records \(Self.hex(entry.checksum))")
        }
        return try sink.finished()
    }

    /// ZIPFoundation's extraction (stored members), policing the size as the bytes stream in.
    private func extractWithZIPFoundation(
        _ entry: Entry, from archive: Archive, into sink: inout MemberSink, at: ClinicDataError.Location
    ) throws(ClinicDataError) -> CRC32 {
        let checksum: CRC32
        do {
            checksum = try archive.extract(entry, skipCRC32: false) { chunk in try sink.append([UInt8](chunk)) }
        } catch let error as ClinicDataError {
            throw error
        } catch {
            throw .corruptMember(at, reason: Self.explain(error))
        }
        return checksum
    }

    /// Opens the zip, telling a missing or unreadable file apart from one that is not a zip; its
    /// structure is checked before ZIPFoundation reads it.
    private static func open(_ url: URL, source: String) throws(ClinicDataError) -> (Archive, ZipDirectory) {
        let at = ClinicDataError.Location(source: source)
        guard FileManager.default.isReadableFile(atPath: url.path) else {
            let reason = FileManager.default.fileExists(atPath: url.path) ? "permission denied" : "no such file"
            throw .unreadable(at, reason: reason)
        }
        let bytes: ZipBytes
        do {
            bytes = try ZipBytes(file: url)
        } catch {
            throw .unreadable(at, reason: error.localizedDescription)
        }
        let directory = try ZipDirectory(bytes, source: source)
        return (try archive(at: at) { try Archive(url: url, accessMode: .read) }, directory)
    }

    /// Opens a zip held in memory; its structure is checked before ZIPFoundation reads it.
    private static func open(_ data: Data, source: String) throws(ClinicDataError) -> (Archive, ZipDirectory) {
        let at = ClinicDataError.Location(source: source)
        let directory = try ZipDirectory(ZipBytes(data: data), source: source)
        return (try archive(at: at) { try Archive(data: data, accessMode: .read) }, directory)
    }

    /// ZIPFoundation's archive `open` makes, its errors told as "not a zip archive".
    private static func archive(at: ClinicDataError.Location, _ open: () throws -> Archive) throws(ClinicDataError) -> Archive {
        do {
            return try open()
        } catch Archive.ArchiveError.missingEndOfCentralDirectoryRecord {
            throw .notZipArchive(at, reason: "no zip end-of-central-directory record")
        } catch {
            throw .notZipArchive(at, reason: explain(error))
        }
    }

    /// A reader-facing account of an error ZIPFoundation threw while reading.
    private static func explain(_ error: any Error) -> String {
        switch error {
        case Archive.ArchiveError.invalidCompressionMethod:
            return "the compression method is neither stored nor deflate"
        case Archive.ArchiveError.invalidEntrySize, Archive.ArchiveError.invalidLocalHeaderDataOffset:
            return "the zip directory gives an impossible size or offset"
        case Data.DataError.unreadableFile:
            return "a read error in the archive file"
        default:
            // ZIPFoundation's inflate errors (Data.CompressionError) are not public, so they
            // can only be named, not matched.
            let name = String(describing: error)
            if name.contains("corruptedData") || name.contains("invalidStream") {
                return "the deflate stream cannot be inflated (\(name))"
            }
            return name
        }
    }

    /// `"train_images"` for both `"train_images"` and `"train_images.npy"`.
    private static func arrayName(_ name: String) -> String {
        name.hasSuffix(".npy") ? String(name.dropLast(4)) : name
    }

    /// A CRC-32 as `0x1234abcd`.
    private static func hex(_ value: CRC32) -> String {
        let digits = String(value, radix: 16)
        return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
    }
}

/// A member's bytes as they are extracted, never more than the zip directory declares and, once
/// the first bytes hold the member's `.npy` header, never more than that header declares; the
/// buffer is then reserved once, for that size, and grows no further.
///
/// A header declaring more elements or memory than allowed stops the extraction there, and so
/// does a stored member whose size differs from its header's (both are known exactly). A header
/// that cannot be read is not reported at once: the rest of the member is still inflated and
/// checked (stream end, CRC-32) but not kept, so a damaged archive is reported as damaged, and
/// the header's own error comes only from an intact one.
private struct MemberSink {
    let at: ClinicDataError.Location
    let zipDeclared: UInt64
    /// The member is stored: `zipDeclared` is its exact size.
    let stored: Bool
    let maxElements: Int
    let maxBytes: Int
    private(set) var bytes: [UInt8] = []
    private var layout: NPYArray.Layout?
    /// The header's error, once it is known the header cannot be read; bytes are then counted, not kept.
    private var headerError: ClinicDataError?
    private var discarded: UInt64 = 0

    init(at: ClinicDataError.Location, zipDeclared: UInt64, stored: Bool, maxElements: Int, maxBytes: Int) {
        self.at = at
        self.zipDeclared = zipDeclared
        self.stored = stored
        self.maxElements = maxElements
        self.maxBytes = maxBytes
    }

    mutating func append(_ chunk: [UInt8]) throws(ClinicDataError) {
        guard UInt64(bytes.count) + discarded + UInt64(chunk.count) <= zipDeclared else {
            throw .corruptMember(at, reason: "it inflates to more than the \(zipDeclared) bytes the zip directory declares")
        }
        if headerError != nil {
            discarded += UInt64(chunk.count)
            return
        }
        if let layout, bytes.count + chunk.count > layout.fileBytes { throw pastHeader(layout) }
        bytes.append(contentsOf: chunk)
        guard layout == nil else { return }
        let found: NPYArray.Layout?
        do {
            found = try NPYArray.declaredLayout(prefix: bytes, at: at, maxElements: maxElements, maxBytes: maxBytes)
        } catch {
            switch error {
            case .arrayTooLarge, .invalidShape: throw error
            default:
                headerError = error
                return
            }
        }
        guard let found else { return }
        layout = found
        if stored, zipDeclared != UInt64(found.fileBytes) {
            let actual = Int(clamping: zipDeclared) - found.headerEnd
            throw .dataSizeMismatch(at, expectedBytes: found.dataBytes, actualBytes: actual)
        }
        if bytes.count > found.fileBytes { throw pastHeader(found) }
        bytes.reserveCapacity(Int(min(UInt64(found.fileBytes), zipDeclared)))
    }

    /// The bytes of a member whose stream and checksum were found intact; throws the header's
    /// error when the header could not be read.
    func finished() throws(ClinicDataError) -> [UInt8] {
        if let headerError { throw headerError }
        return bytes
    }

    /// How many bytes the member inflated to, kept or not.
    var count: UInt64 { UInt64(bytes.count) + discarded }

    private func pastHeader(_ layout: NPYArray.Layout) -> ClinicDataError {
        .corruptMember(
            at, reason: "it inflates to more than the \(layout.fileBytes) bytes its .npy header and shape "
                + "\(NPYArray.describe(layout.shape)) of \(layout.dtype.rawValue) declare")
    }
}
