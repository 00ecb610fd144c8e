import Foundation
import ScalpelData
import ScalpelMetrics
import ScalpelReport
import ScalpelCore
import ScalpelPrivacy

/// A data file, read from disk or, when it is encrypted (`scalpel encrypt`), decrypted in
/// memory: the plaintext is never written anywhere, nor shown: the readers are told the content
/// is confidential, so their errors name the file, line and column (or member) and never quote a
/// cell, a label, a category or the header's names.
public struct DataSource {
    /// The path, as error messages name it.
    public let path: String
    /// The extension of the format the file holds ("csv", "npz", "tsv", "npy"): the file's own,
    /// or the one an encrypted file recorded.
    public let fileExtension: String
    /// The decrypted content, or a block of a plain file (nil: the file is plain and its
    /// loaders read it from disk).
    let plaintext: Data?
    /// Whether the content was decrypted, so that errors must not quote it.
    let confidential: Bool
    /// For a block of a larger file: the line of its first record (nil: a whole file).
    let firstLine: Int?

    /// Whether the file was encrypted, so that its content is confidential.
    public var isEncrypted: Bool { confidential }
    var url: URL { URL(fileURLWithPath: path) }

    /// Opens `path`, decrypting it with `keys` when it is encrypted (its first bytes say so,
    /// whatever its name). An encrypted file without keys is an error naming what to give.
    public static func open(_ path: String, keys: () throws -> KeyRing?) throws -> DataSource {
        guard FileManager.default.fileExists(atPath: path) else { throw ScalpelError.io(path: path, reason: "no such file") }
        guard EncryptedFile.isEncrypted(path: path) else {
            return DataSource(path: path, fileExtension: URL(fileURLWithPath: path).pathExtension.lowercased(), plaintext: nil,
                              confidential: false, firstLine: nil)
        }
        do {
            guard let ring = try keys() else { throw EncryptionError.noKey }
            let (data, ext, _) = try EncryptedFile.read(URL(fileURLWithPath: path), keys: ring, source: path)
            return DataSource(path: path, fileExtension: ext, plaintext: data, confidential: true, firstLine: nil)
        } catch let error as EncryptionError {
            throw ScalpelError.io(path: path, reason: error.description.hasPrefix(path) ? String(error.description.dropFirst(path.count + 2)) : error.description)
        }
    }

    /// A block of the plain file at `path`: a CSV file's header and some of its records (the
    /// first on line `firstLine`), or some of a UCR file's lines (the first being `firstLine`).
    static func block(of path: String, bytes: Data, firstLine: Int) -> DataSource {
        DataSource(path: path, fileExtension: URL(fileURLWithPath: path).pathExtension.lowercased(), plaintext: bytes, confidential: false,
                   firstLine: firstLine)
    }

    /// How a UCR file's lines are counted: from a block's first line.
    var ucrOptions: UCRDataset.Options {
        var options = UCRDataset.Options()
        options.firstLine = firstLine ?? 1
        return options
    }

    /// The format of the file at `path` by its extension, looking through encryption.
    static func formatExtension(_ path: String) -> String {
        EncryptedFile.recordedExtension(path: path) ?? URL(fileURLWithPath: path).pathExtension.lowercased()
    }

    /// The file's bytes (the decrypted ones for an encrypted file).
    func bytes() throws -> [UInt8] {
        if let plaintext { return [UInt8](plaintext) }
        do { return [UInt8](try Data(contentsOf: url)) } catch { throw ScalpelError.io(path: path, reason: "cannot be read (\(error.localizedDescription))") }
    }

    func csv() throws -> CSVTable {
        if let plaintext { return try CSVTable(bytes: [UInt8](plaintext), source: path, confidential: confidential, firstRecordLine: firstLine) }
        return try CSVTable.load(from: url)
    }

    func ucr(labelMapping: UCRLabelMapping? = nil) throws -> UCRDataset {
        if let plaintext {
            return try UCRDataset(bytes: [UInt8](plaintext), source: path, labelMapping: labelMapping, options: ucrOptions, confidential: confidential)
        }
        return try UCRDataset(contentsOf: url, labelMapping: labelMapping)
    }

    func npy() throws -> NPYArray {
        if let plaintext { return try NPYArray(bytes: [UInt8](plaintext), source: path, confidential: true) }
        return try NPYArray.load(from: url)
    }

    func medMNIST(classCount: Int? = nil) throws -> (train: ImageSplit, validation: ImageSplit, test: ImageSplit) {
        if let plaintext {
            return try ImageDataset.loadMedMNIST(data: plaintext, source: path, classCount: classCount, confidential: true)
        }
        return try ImageDataset.loadMedMNIST(from: url, classCount: classCount)
    }
}
