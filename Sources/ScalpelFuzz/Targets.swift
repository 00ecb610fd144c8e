// Runs one input through its reader with tight limits and checks the contract: the reader
// returns a value whose parts agree with each other, or throws its own error type with a
// non-empty message that names the source. Anything else is a violation; a trap kills the
// process, which is why the input is on disk before it is parsed.
import Foundation
import ScalpelData
import ScalpelIO

/// What became of one input.
enum Outcome {
    /// Parsed; the value passed its consistency checks.
    case ok
    /// Refused with a well-formed error of this kind and message.
    case rejected(kind: String, message: String)
    /// The reader broke its contract: a wrong error type, a message that does not name the
    /// source, or a parsed value that contradicts itself.
    case violation(String)
}

/// Limits small enough that no accepted input can allocate much, large enough for every seed.
enum FuzzLimits {
    static let maxElements = 1 << 24
    static let maxMemberBytes: UInt64 = 1 << 26
    static let safetensors = SafeTensorsLimits(maxHeaderBytes: 1 << 20, maxDimensions: 16, maxElements: 1 << 24, maxJSONDepth: 16)
    static let ucr = UCRDataset.Options(zNormalize: false, maxBytes: 1 << 22, maxSeriesLength: 1 << 16, maxValues: 1 << 22)
}

struct Target {
    let format: Format
    /// The name given to in-memory inputs, which every error must mention.
    let source: String

    init(format: Format) {
        self.format = format
        source = "fuzz-input.\(format.rawValue)"
    }

    /// Parses `bytes`; `file` holds the same bytes on disk (the .npz reader only opens files).
    func run(_ bytes: [UInt8], file: URL) -> Outcome {
        switch format {
        case .safetensors: safetensors(bytes)
        case .npy: npy(bytes)
        case .npz: npz(bytes, file: file)
        case .csv: csv(bytes)
        case .ucr: ucr(bytes)
        }
    }

    // MARK: safetensors

    private func safetensors(_ bytes: [UInt8]) -> Outcome {
        let parsed: SafeTensorsFile
        do {
            parsed = try SafeTensorsFile(data: Data(bytes), source: source, limits: FuzzLimits.safetensors)
        } catch let error as SafeTensorsError {
            if error.problem.isEmpty { return .violation("empty problem in \(error)") }
            if error.source != source || !error.description.contains(source) {
                return .violation("the error does not name the source: \(error)")
            }
            return .rejected(kind: "\(error.kind)", message: error.description)
        } catch {
            return .violation("not a SafeTensorsError: \(type(of: error)): \(error)")
        }
        // Every tensor's bytes agree with its shape, so every conversion it supports succeeds.
        for (name, tensor) in parsed.tensors {
            guard let count = tensor.elementCount, count * tensor.dtype.byteSize == tensor.bytes.count else {
                return .violation("tensor '\(name)' has \(tensor.bytes.count) bytes for shape \(tensor.shape) of \(tensor.dtype)")
            }
            do {
                switch tensor.dtype {
                case .f32, .f64, .f16, .bf16:
                    if try tensor.floats.count != count { return .violation("tensor '\(name)': wrong float count") }
                case .u64:
                    // A value above Int64.max is refused; that is the only allowed failure.
                    do { _ = try tensor.int64s } catch let error as SafeTensorsError where error.kind == .unsupportedConversion {}
                case .f8e4m3, .f8e5m2:
                    break
                default:
                    if try tensor.int64s.count != count { return .violation("tensor '\(name)': wrong integer count") }
                }
            } catch {
                return .violation("tensor '\(name)' of a parsed file fails to convert: \(error)")
            }
        }
        // What was read writes back and reads again as the same file.
        do {
            let again = try SafeTensorsFile(data: parsed.serialized(), source: source, limits: FuzzLimits.safetensors)
            if again != parsed { return .violation("a parsed file does not survive a write and read back") }
        } catch {
            return .violation("a parsed file cannot be written and read back: \(error)")
        }
        return .ok
    }

    // MARK: npy

    private func npy(_ bytes: [UInt8]) -> Outcome {
        let array: NPYArray
        do {
            array = try NPYArray(bytes: bytes, source: source, maxElements: FuzzLimits.maxElements)
        } catch {
            return clinicRejection(error, source: source)
        }
        return checkArray(array)
    }

    private func checkArray(_ array: NPYArray) -> Outcome {
        let count = array.shape.reduce(1, *)
        guard count == array.count, array.data.count == count * array.dtype.itemSize, count <= FuzzLimits.maxElements else {
            return .violation("array of shape \(array.shape) and \(array.dtype) holds \(array.data.count) bytes")
        }
        guard array.floats().count == count, array.int64s().count == count else {
            return .violation("array of shape \(array.shape) converts to the wrong number of elements")
        }
        return .ok
    }

    // MARK: npz

    private func npz(_ bytes: [UInt8], file: URL) -> Outcome {
        let path = file.path
        // Every member on its own, so a bad first member does not hide the others: from the
        // bytes in memory (a decrypted archive), then from the file.
        do {
            let archive = try NPZArchive(data: Data(bytes), source: source, maxMemberBytes: FuzzLimits.maxMemberBytes,
                                         maxElements: FuzzLimits.maxElements)
            if case .violation(let text) = checkMembers(archive, source: source) { return .violation("in memory: \(text)") }
        } catch {
            if case .violation(let text) = clinicRejection(error, source: source) { return .violation("in memory: \(text)") }
        }
        do {
            let archive = try NPZArchive(url: file, maxMemberBytes: FuzzLimits.maxMemberBytes, maxElements: FuzzLimits.maxElements)
            if case .violation(let text) = checkMembers(archive, source: path) { return .violation(text) }
        } catch {
            if case .violation(let text) = clinicRejection(error, source: path) { return .violation(text) }
        }
        // Then the whole MedMNIST loader, whose outcome is the one counted.
        do {
            let (train, validation, test) = try ImageDataset.loadMedMNIST(
                from: file, maxMemberBytes: FuzzLimits.maxMemberBytes, maxElements: FuzzLimits.maxElements)
            for split in [train, validation, test] {
                guard split.images.count == split.count * split.valuesPerImage,
                      split.labels.allSatisfy({ $0 >= 0 && Int($0) < split.classCount })
                else {
                    return .violation("a loaded split contradicts itself: \(split.count) images of \(split.valuesPerImage) values")
                }
            }
            return .ok
        } catch {
            return clinicRejection(error, source: path)
        }
    }

    private func checkMembers(_ archive: NPZArchive, source: String) -> Outcome {
        for name in archive.names.prefix(16) {
            do {
                let array = try archive.array(named: name)
                if case .violation(let text) = checkArray(array) { return .violation("member '\(name)': \(text)") }
            } catch {
                if case .violation(let text) = clinicRejection(error, source: source) { return .violation(text) }
            }
        }
        return .ok
    }

    // MARK: csv

    private func csv(_ bytes: [UInt8]) -> Outcome {
        let table: CSVTable
        do {
            table = try CSVTable(bytes: bytes, source: source)
        } catch {
            return clinicRejection(error, source: source)
        }
        guard !table.columns.isEmpty, table.rows.allSatisfy({ $0.count == table.columns.count }),
              table.lineNumbers.count == table.rowCount, zip(table.lineNumbers, table.lineNumbers.dropFirst()).allSatisfy(<)
        else {
            return .violation("a parsed table contradicts itself: \(table.columns.count) columns, \(table.rowCount) rows")
        }
        return .ok
    }

    // MARK: ucr

    private func ucr(_ bytes: [UInt8]) -> Outcome {
        let dataset: UCRDataset
        do {
            dataset = try UCRDataset(bytes: bytes, source: source, options: FuzzLimits.ucr)
        } catch {
            return clinicRejection(error, source: source)
        }
        guard dataset.values.count == dataset.count * dataset.seriesLength, dataset.lengths.count == dataset.count,
              dataset.lengths.allSatisfy({ $0 >= 1 && $0 <= dataset.seriesLength }),
              dataset.labels.allSatisfy({ $0 >= 0 && Int($0) < dataset.classCount }), dataset.classCount >= 2,
              dataset.values.allSatisfy(\.isFinite), dataset.mask().count == dataset.values.count
        else {
            return .violation("a parsed dataset contradicts itself: \(dataset.count) series of \(dataset.seriesLength)")
        }
        // The same file read as a test file against its own mapping, z-normalised, gives the same series.
        do {
            let options = UCRDataset.Options(zNormalize: true, maxBytes: FuzzLimits.ucr.maxBytes,
                                             maxSeriesLength: FuzzLimits.ucr.maxSeriesLength, maxValues: FuzzLimits.ucr.maxValues)
            let again = try UCRDataset(bytes: bytes, source: source, labelMapping: dataset.labelMapping, options: options)
            guard again.labels == dataset.labels, again.lengths == dataset.lengths, again.values.allSatisfy(\.isFinite) else {
                return .violation("reading with the file's own label mapping gives other labels, lengths or non-finite values")
            }
        } catch {
            return .violation("a parsed dataset fails to parse again with its own mapping: \(error)")
        }
        return .ok
    }

    // MARK: errors

    /// A `ClinicDataError` whose message is not empty and names `source`, or a violation.
    private func clinicRejection(_ error: any Error, source: String) -> Outcome {
        guard let error = error as? ClinicDataError else {
            return .violation("not a ClinicDataError: \(type(of: error)): \(error)")
        }
        let message = error.description
        if message.isEmpty { return .violation("empty error message") }
        if !message.contains(source) { return .violation("the error does not name the source '\(source)': \(message)") }
        return .rejected(kind: Self.caseName(error), message: message)
    }

    /// The enum case name of an error, such as `invalidShape`.
    static func caseName(_ error: ClinicDataError) -> String {
        Mirror(reflecting: error).children.first?.label ?? String(describing: error)
    }
}
