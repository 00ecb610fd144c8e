import Foundation
import ScalpelCore
import ScalpelIO
import ScalpelTensor

/// Model and optimizer state in the safetensors format (readable by Python's `safetensors`).
///
/// Tensors are stored under their module paths (`layers.0.weight`), optimizer state under
/// `optimizer.<parameter>.<buffer>` (`exp_avg`, `exp_avg_sq`, `momentum_buffer`), and
/// everything else a resumed run needs (epoch, step, generator states, the configuration) in
/// the string metadata. Files are written atomically, so a crash never leaves half a file in
/// place of a good checkpoint.
public enum Checkpoint {
    /// The metadata key naming the format.
    public static let formatKey = "format"
    /// The value under `formatKey` that marks a file as a Scalpel checkpoint (version 1 of the format).
    public static let formatValue = "scalpel-checkpoint-1"

    /// Writes `model` (and `optimizer`) with `metadata` to `url`.
    public static func save(model: Module, optimizer: Optimizer? = nil, metadata: [String: String] = [:], to url: URL) throws {
        try file(model: model, optimizer: optimizer, metadata: metadata).write(to: url)
    }

    /// The checkpoint of `model` (and `optimizer`, and `extra` named tensors such as a weight
    /// average's) with `metadata`, to serialise or encrypt.
    public static func file(model: Module, optimizer: Optimizer? = nil, extra: [(name: String, tensor: Tensor)] = [],
                            metadata: [String: String] = [:]) throws -> SafeTensorsFile {
        var tensors: [String: SafeTensor] = [:]
        for (name, tensor) in model.namedTensors() + extra {
            tensors[name] = SafeTensor(shape: tensor.shape, floats: try tensor.array())
        }
        var meta = metadata
        meta[formatKey] = formatValue
        if let optimizer {
            for (name, tensor) in optimizer.namedState() {
                tensors[name] = SafeTensor(shape: tensor.shape, floats: try tensor.array())
            }
            meta["optimizer.step"] = String(optimizer.stepCount)
            meta["optimizer.learning_rate"] = String(optimizer.learningRate)
        }
        return SafeTensorsFile(tensors: tensors, metadata: meta)
    }

    /// Reads a checkpoint file (validating its structure).
    public static func read(from url: URL) throws -> SafeTensorsFile {
        try validate(try SafeTensorsFile.read(from: url), source: url.path)
    }

    /// Reads a checkpoint held in memory (a decrypted file); `source` names it in errors.
    public static func read(data: Data, source: String) throws -> SafeTensorsFile {
        try validate(try SafeTensorsFile(data: data, source: source), source: source)
    }

    static func validate(_ file: SafeTensorsFile, source: String) throws -> SafeTensorsFile {
        guard file.metadata[formatKey] == formatValue else {
            throw ScalpelError.io(path: source, reason: "not a Scalpel checkpoint (metadata \(formatKey) is \(file.metadata[formatKey] ?? "missing"))")
        }
        return file
    }

    /// Copies the checkpoint's values into `model` (and `optimizer`, and `extra` named tensors
    /// such as a weight average's). Every one must be present with the same shape and finite;
    /// nothing is changed unless all are.
    public static func restore(_ file: SafeTensorsFile, into model: Module, optimizer: Optimizer? = nil,
                               extra: [(name: String, tensor: Tensor)] = [], source: String) throws {
        var targets = model.namedTensors() + extra
        if let optimizer { targets += optimizer.namedState() }
        var values: [(Tensor, [Float])] = []
        var problems: [String] = []
        for (name, tensor) in targets {
            guard let stored = file.tensors[name] else {
                problems.append("\(name) is missing")
                continue
            }
            guard stored.shape == tensor.shape else {
                problems.append("\(name) has shape \(stored.shape), the model's is \(tensor.shape)")
                continue
            }
            let floats = try stored.floats
            guard floats.allSatisfy(\.isFinite) else {
                problems.append("\(name) holds NaN or infinite values")
                continue
            }
            values.append((tensor, floats))
        }
        guard problems.isEmpty else {
            throw ScalpelError.io(path: source, reason: "checkpoint does not fit the model: " + problems.prefix(5).joined(separator: "; ")
                + (problems.count > 5 ? " (and \(problems.count - 5) more)" : ""))
        }
        for (tensor, floats) in values {
            try floats.withUnsafeBufferPointer { try tensor.backend.write($0, to: tensor.storage, at: 0) }
        }
        if let optimizer {
            optimizer.stepCount = Int(file.metadata["optimizer.step"] ?? "") ?? 0
            if let rate = file.metadata["optimizer.learning_rate"].flatMap(Float.init) { optimizer.learningRate = rate }
        }
    }
}
