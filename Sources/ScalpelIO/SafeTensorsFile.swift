// A whole safetensors checkpoint: named tensors plus string metadata, read from and written to
// disk. Parsing lives in SafeTensorsReader, serialization in SafeTensorsWriter.
import Foundation

/// The contents of a safetensors file: named tensors and the `__metadata__` string map.
public struct SafeTensorsFile: Sendable, Equatable {
    /// The header key that holds the metadata rather than a tensor.
    static let metadataKey = "__metadata__"

    /// The tensors by name. The name `__metadata__` is reserved and cannot be written.
    public var tensors: [String: SafeTensor]
    /// Free-form string pairs stored under `__metadata__`; omitted from the file when empty.
    public var metadata: [String: String]

    /// Collects tensors and metadata to be serialized or written.
    public init(tensors: [String: SafeTensor], metadata: [String: String] = [:]) {
        self.tensors = tensors
        self.metadata = metadata
    }

    /// Parses bytes; `source` names the file in error messages.
    ///
    /// The header must be well formed and the tensors must tile the data buffer exactly, as the
    /// reference reader demands; any violation throws a `SafeTensorsError` before tensor data
    /// is copied. Each tensor gets its own copy of its bytes.
    public init(data: Data, source: String = "<memory>", limits: SafeTensorsLimits = .default) throws {
        self = try SafeTensorsReader(source: source, limits: limits).decode(data)
    }

    /// Reads and parses the file at `url`.
    ///
    /// The file is read into memory rather than mapped: a mapped file that another program
    /// truncates while it is parsed would crash the process with SIGBUS.
    public static func read(from url: URL, limits: SafeTensorsLimits = .default) throws -> SafeTensorsFile {
        let path = url.path(percentEncoded: false)
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw SafeTensorsError(kind: .io, source: path, problem: "could not read the file: \(error.localizedDescription)")
        }
        return try SafeTensorsFile(data: data, source: path, limits: limits)
    }

    /// The file's bytes, byte-identical to what the reference `safetensors` writer produces for
    /// the same tensors and at most one metadata pair (it orders several pairs at random; here
    /// they are sorted). Tensors are laid out by descending dtype size class, then by name, so
    /// each starts aligned to its element size; the header is padded with spaces to a multiple
    /// of 8 bytes.
    public func serialized() throws -> Data {
        try SafeTensorsWriter(source: "<memory>").serialize(self)
    }

    /// Atomic and private (`AtomicFile`): writes a temporary file in the same directory with mode
    /// 0600, fsyncs it, renames it over `url`, fsyncs the directory. A crash never leaves a half file in place of a good one; on any
    /// error the old file is untouched and the temporary removed.
    ///
    /// The one exception is a failure to sync the directory after the rename: the new file is
    /// then already in place, and the error reports that its durability is not assured.
    public func write(to url: URL) throws {
        let bytes = try SafeTensorsWriter(source: url.path(percentEncoded: false)).serialize(self)
        do {
            try AtomicFile.write(bytes, to: url)
        } catch {
            throw SafeTensorsError(kind: .io, source: error.path, problem: error.reason)
        }
    }
}
