import Foundation
import ScalpelCore

/// A text file of records read a block at a time, so that a file larger than memory can be
/// scored: a CSV table (its header kept aside and a record's quoted line breaks respected) or a
/// UCR file (one series per line). Each block holds at most `recordsPerBlock` whole records and
/// the line number of its first one; lines end in LF, CRLF or CR, as the readers accept.
public struct RecordBlocks {
    /// One block: the bytes of whole records and the line its first record starts on.
    public struct Block {
        /// The records' bytes, each ending in its line break (the last may lack one at the end of the file).
        public var bytes: Data
        /// The 1-based line of the file the first record starts on.
        public var firstLine: Int
        /// The number of records.
        public var records: Int
    }

    private let handle: FileHandle
    private let path: String
    private let quoted: Bool
    private let recordsPerBlock: Int
    private var buffer: [UInt8] = []
    private var position = 0
    private var atEnd = false
    private var line = 1
    /// The CSV header's bytes, its line break included (nil for a UCR file).
    public private(set) var header: Data?

    /// Opens `path` for reading `recordsPerBlock` records at a time; `csv` keeps the first record
    /// aside as the header and treats line breaks inside double quotes as part of a field.
    /// - Parameters:
    ///   - path: The file.
    ///   - csv: Whether it is a CSV table (else a UCR file).
    ///   - recordsPerBlock: The most records in a block (at least 1).
    /// - Throws: `ScalpelError.io` when the file cannot be opened or has no header.
    public init(path: String, csv: Bool, recordsPerBlock: Int) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw ScalpelError.io(path: path, reason: "cannot be opened for reading") }
        self.handle = handle
        self.path = path
        quoted = csv
        self.recordsPerBlock = max(recordsPerBlock, 1)
        if csv {
            guard let first = try nextRecord(), !first.isEmpty else { throw ScalpelError.io(path: path, reason: "the file is empty") }
            header = Data(first)
        }
    }

    /// The next block, or nil at the end of the file.
    /// - Throws: `ScalpelError.io` when the file cannot be read.
    public mutating func next() throws -> Block? {
        var bytes: [UInt8] = []
        var count = 0
        var first = line
        while count < recordsPerBlock {
            let start = line
            guard let record = try nextRecord() else { break }
            // A blank line before a block's first record is dropped (the readers take a file's last
            // lines blank); inside a block it stays, for the reader to report where it is.
            if count == 0 && record.allSatisfy({ $0 == 0x0A || $0 == 0x0D }) { continue }
            if count == 0 { first = start }
            bytes += record
            count += 1
        }
        return count == 0 ? nil : Block(bytes: Data(bytes), firstLine: first, records: count)
    }

    /// The next byte, reading on when the buffer is spent (nil at the end of the file).
    private mutating func byte() throws -> UInt8? {
        if position == buffer.count {
            guard !atEnd else { return nil }
            let chunk: Data?
            do { chunk = try handle.read(upToCount: 1 << 20) } catch {
                throw ScalpelError.io(path: path, reason: "cannot be read (\(error.localizedDescription))")
            }
            guard let chunk, !chunk.isEmpty else {
                atEnd = true
                return nil
            }
            buffer = [UInt8](chunk)
            position = 0
        }
        defer { position += 1 }
        return buffer[position]
    }

    /// Peeks at the next byte without consuming it.
    private mutating func peek() throws -> UInt8? {
        guard let next = try byte() else { return nil }
        position -= 1
        return next
    }

    /// One record with its line break (nil at the end of the file), counting the lines it spans.
    private mutating func nextRecord() throws -> [UInt8]? {
        var record: [UInt8] = []
        var inQuotes = false
        while let b = try byte() {
            record.append(b)
            if quoted && b == 0x22 { inQuotes.toggle() }
            if b == 0x0D, try peek() == 0x0A { record.append(try byte()!) }
            if b == 0x0A || b == 0x0D {
                line += 1
                if !inQuotes { return record }
            }
        }
        return record.isEmpty ? nil : record
    }
}
