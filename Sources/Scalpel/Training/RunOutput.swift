import Foundation
import ScalpelCore
import ScalpelIO
import ScalpelNN
import ScalpelPrivacy
import ScalpelTensor

extension KeyRing {
    /// The keys a personal key (`identityFile`), a key file, `SCALPEL_KEY`, a passphrase file or
    /// `SCALPEL_PASSPHRASE` give (in that order), or nil. Nothing is derived until a file needs it.
    public static func resolve(keyFile: String?, passphraseFile: String?, identityFile: String? = nil,
                               environment: [String: String] = ProcessInfo.processInfo.environment) throws -> KeyRing? {
        do {
            return try EncryptionSecret.resolve(keyFile: keyFile, passphraseFile: passphraseFile, identityFile: identityFile,
                                                environment: environment).map { KeyRing($0) }
        } catch let error as EncryptionError {
            throw ScalpelError.invalidArgument(error.description)
        }
    }
}

extension TrainingConfig {
    /// The encryption keys of this run (see `KeyRing.resolve`).
    public func keyRing() throws -> KeyRing? { try KeyRing.resolve(keyFile: keyFile, passphraseFile: passphraseFile, identityFile: identityFile) }
}

extension TrainingRun {
    /// Where a run file goes: `out/name`, with `.enc` appended when outputs are encrypted.
    func outputURL(_ name: String) -> URL {
        URL(fileURLWithPath: config.out).appending(path: encryptsOutputs ? name + ".enc" : name)
    }

    /// Writes a run file atomically, encrypted with the run's keys when outputs are encrypted;
    /// returns the name written (relative to the run folder).
    @discardableResult
    func writeOutput(_ data: Data, _ name: String) throws -> String {
        let url = outputURL(name)
        if encryptsOutputs, let keys {
            let ext = URL(fileURLWithPath: name).pathExtension
            do {
                try AtomicFile.write(try EncryptedFile.seal(data, keys: keys, fileExtension: ext), to: url)
            } catch let error as EncryptionError {
                throw ScalpelError.io(path: url.path, reason: error.description)
            }
        } else {
            try AtomicFile.write(data, to: url)
        }
        return encryptsOutputs ? name + ".enc" : name
    }

    /// Saves the model (and optimizer) as the run file `name`, encrypted when outputs are.
    func saveCheckpoint(_ name: String, optimizer: Optimizer? = nil, extra: [(name: String, tensor: Tensor)] = [], metadata: [String: String]) throws {
        let file = try Checkpoint.file(model: model, optimizer: optimizer, extra: extra, metadata: metadata)
        if encryptsOutputs {
            try writeOutput(try file.serialized(), name)
        } else {
            try file.write(to: outputURL(name))
        }
    }

    /// Reads a checkpoint, decrypting it in memory when it is encrypted.
    static func readCheckpoint(_ url: URL, keys: KeyRing?) throws -> SafeTensorsFile {
        guard EncryptedFile.isEncrypted(path: url.path) else { return try Checkpoint.read(from: url) }
        do {
            guard let keys else { throw EncryptionError.noKey }
            let (data, _) = try EncryptedFile.open(try Data(contentsOf: url), keys: keys, source: url.path)
            return try Checkpoint.read(data: data, source: url.path)
        } catch let error as EncryptionError {
            throw ScalpelError.io(path: url.path, reason: error.description)
        }
    }
}
