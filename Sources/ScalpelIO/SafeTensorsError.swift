// One error type for every way a safetensors file can be unreadable or unwritable, worded for a
// person reading a log: which file, which tensor, what is wrong.

/// A safetensors file could not be read or written, or a tensor could not be converted.
public struct SafeTensorsError: Error, CustomStringConvertible, Equatable {
    /// The class of problem, for code that wants to react to one kind of failure.
    public enum Kind: Sendable, Equatable {
        /// The file ends before the header length or before the header it announces.
        case truncated
        /// The announced header length exceeds `SafeTensorsLimits.maxHeaderBytes`.
        case headerTooLarge
        /// The header is not UTF-8, not JSON, or not a JSON object.
        case invalidHeader
        /// A tensor entry lacks a field, has a field of the wrong JSON type, or uses a reserved name.
        case invalidTensorEntry
        /// A tensor entry names a dtype this reader does not know.
        case unknownDType
        /// A shape has a negative or non-integer dimension, too many dimensions, or too many elements.
        case invalidShape
        /// `data_offsets` is not two integers, runs backwards, or ends beyond the data buffer.
        case invalidOffsets
        /// A tensor's byte size differs from its element count times its dtype size.
        case sizeMismatch
        /// Two tensors claim some of the same bytes.
        case overlap
        /// Some bytes of the data buffer belong to no tensor.
        case uncoveredBytes
        /// `__metadata__` is not an object mapping strings to strings.
        case invalidMetadata
        /// Two tensors, or two keys of one JSON object, have the same name.
        case duplicateName
        /// A tensor's values were requested as a type its dtype cannot convert to.
        case unsupportedConversion
        /// The operating system refused to read, write, sync or rename a file.
        case io
    }

    /// The class of problem.
    public var kind: Kind
    /// The file (or `"<memory>"` for bytes parsed in memory); `nil` for a lone tensor.
    public var source: String?
    /// The tensor the problem concerns, when there is one.
    public var tensor: String?
    /// The problem in plain words, without the file or tensor name.
    public var problem: String

    /// Creates an error; `description` assembles the parts.
    public init(kind: Kind, source: String?, tensor: String? = nil, problem: String) {
        self.kind = kind
        self.source = source
        self.tensor = tensor
        self.problem = problem
    }

    /// For example: `safetensors file 'model.safetensors', tensor 'w': data_offsets [0, 12] hold
    /// 12 bytes but shape [2, 2] of F32 needs 16`.
    public var description: String {
        var parts: [String] = []
        if let source { parts.append("safetensors file '\(source)'") }
        if let tensor { parts.append("tensor '\(tensor)'") }
        let prefix = parts.isEmpty ? "safetensors" : parts.joined(separator: ", ")
        return "\(prefix): \(problem)"
    }
}
