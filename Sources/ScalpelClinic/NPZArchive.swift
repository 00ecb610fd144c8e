import Foundation
import ZIPFoundation

// An .npz is a zip archive with one .npy member per array (numpy.savez / savez_compressed).
// The zip layer is ZIPFoundation's; what this file adds is treating the archive as untrusted:
// sizes are checked before extraction, the inflated byte count is policed while it streams,
// and the CRC-32 is compared, since ZIPFoundation's streaming extract leaves that to the caller.
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
    /// Arrays with more elements than this are refused; see `NPYArray.init(bytes:source:member:maxElements:)`.
    public let maxElements: Int

    /// Opens the `.npz` file at `url` and lists its arrays.
    ///
    /// - Parameters:
    ///   - maxMemberBytes: the largest uncompressed member `array(named:)` will extract.
    ///   - maxElements: the largest array, in elements, `array(named:)` will return.
    /// - Throws: `ClinicDataError.unreadable` for a missing or unreadable file,
    ///   `.notZipArchive` when the file is not a zip archive.
    public init(
        url: URL, maxMemberBytes: UInt64 = NPZArchive.defaultMaxMemberBytes,
        maxElements: Int = NPYArray.defaultMaxElements
    ) throws(ClinicDataError) {
        self.url = url
        source = url.isFileURL ? url.path : url.absoluteString
        contents = nil
        self.maxMemberBytes = maxMemberBytes
        self.maxElements = maxElements
        let (archive, _) = try Self.open(url, source: source)
        names = archive.compactMap { entry in
            entry.type == .file && entry.path.hasSuffix(".npy") ? String(entry.path.dropLast(4)) : nil
        }
    }

    /// An `.npz` held in memory (a file decrypted without writing it out); `source` names it in
    /// errors. See `init(url:maxMemberBytes:maxElements:)`.
    public init(
        data: Data, source: String, maxMemberBytes: UInt64 = NPZArchive.defaultMaxMemberBytes,
        maxElements: Int = NPYArray.defaultMaxElements
    ) throws(ClinicDataError) {
        url = URL(fileURLWithPath: source)
        self.source = source
        contents = data
        self.maxMemberBytes = maxMemberBytes
        self.maxElements = maxElements
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
    ///   `.corruptMember` for a CRC mismatch, an inflate error or a size that does not match the
    ///   zip directory, and any `NPYArray` error for the member's contents.
    public func array(named name: String) throws(ClinicDataError) -> NPYArray {
        let member = Self.arrayName(name) + ".npy"
        let at = ClinicDataError.Location(source: source, member: member)
        let (archive, directory) = if let contents { try Self.open(contents, source: source) } else { try Self.open(url, source: source) }
        // The entry's position in the listing is its place in the checked directory.
        guard let (index, entry) = archive.enumerated().first(where: { $0.element.path == member }), entry.type == .file,
              index < directory.members.count
        else {
            throw .missingMember(.init(source: source), name: Self.arrayName(name), available: names)
        }
        let bytes = try extract(entry, from: archive, directory: directory, member: directory.members[index], at: at)
        return try NPYArray(bytes: bytes, source: source, member: member, maxElements: maxElements)
    }

    /// The member's bytes, refusing it before extraction when its declared size is over the
    /// limit and during extraction as soon as it inflates past its declared size.
    private func extract(
        _ entry: Entry, from archive: Archive, directory: ZipDirectory, member: ZipDirectory.Member, at: ClinicDataError.Location
    ) throws(ClinicDataError) -> [UInt8] {
        let declared = entry.uncompressedSize
        guard declared <= maxMemberBytes else {
            throw .memberTooLarge(at, uncompressedBytes: declared, limit: maxMemberBytes)
        }
        // Deflate expands at most about 1032:1, so a declared size beyond that ratio is a lie;
        // reserving by it would let a tiny archive claim gigabytes up front.
        let plausible = entry.compressedSize.multipliedReportingOverflow(by: 1032)
        let reserve = plausible.overflow ? declared : min(declared, plausible.partialValue + 1024)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Int(reserve))
        let checksum: CRC32
        #if canImport(CZlib) || canImport(zlib)
        if member.method == 8 {
            // Deflated: inflated here from exactly the member's compressed bytes (see ZipDirectory).
            checksum = try directory.inflate(member, at: at) { (chunk) throws(ClinicDataError) in
                guard UInt64(bytes.count) + UInt64(chunk.count) <= declared else {
                    throw ClinicDataError.corruptMember(at, reason: "it inflates to more than the \(declared) bytes the zip directory declares")
                }
                bytes.append(contentsOf: chunk)
            }
        } else {
            checksum = try extractWithZIPFoundation(entry, from: archive, declared: declared, into: &bytes, at: at)
        }
        #else
        checksum = try extractWithZIPFoundation(entry, from: archive, declared: declared, into: &bytes, at: at)
        #endif
        guard UInt64(bytes.count) == declared else {
            throw .corruptMember(at, reason: "it holds \(bytes.count) bytes where the zip directory declares \(declared)")
        }
        guard checksum == entry.checksum else {
            throw .corruptMember(
                at, reason: "CRC-32 mismatch: the data gives \(Self.hex(checksum)), the archive records \(Self.hex(entry.checksum))")
        }
        return bytes
    }

    /// ZIPFoundation's extraction (stored members), policing the size as the bytes stream in.
    private func extractWithZIPFoundation(
        _ entry: Entry, from archive: Archive, declared: UInt64, into bytes: inout [UInt8], at: ClinicDataError.Location
    ) throws(ClinicDataError) -> CRC32 {
        let checksum: CRC32
        do {
            checksum = try archive.extract(entry, skipCRC32: false) { chunk in
                guard UInt64(bytes.count) + UInt64(chunk.count) <= declared else {
                    throw ClinicDataError.corruptMember(at, reason: "it inflates to more than the \(declared) bytes the zip directory declares")
                }
                bytes.append(contentsOf: chunk)
            }
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
