import Foundation
import Scalpel
import ScalpelCore
import ScalpelPrivacy

/// What an audited command reports when it ends: the files it wrote and its headline numbers.
struct AuditOutcome {
    /// Files or folders written (a folder contributes every file in it).
    var outputs: [String] = []
    var metrics: [String: Double] = [:]
    /// The files read, when known only once the command has looked at its options (replaces
    /// those given to `audited`).
    var inputs: [String?]?
    /// Set by a process that must leave no record of its own (a data-parallel run's other ranks).
    var unrecorded = false
    /// The device the command computed on, once known.
    var device: String?
    /// The personal key that signs the record (the command's --key, once opened).
    var signer: Identity?
}

/// Runs an audited command: first makes sure the audit trail can take its record (refusing
/// before anything is read or written if not), then runs `body`, then appends the record —
/// also when `body` fails, with the status "failed" and whatever outputs exist by then.
/// No error text is recorded: an error may quote the data. With a personal key (`identity`) the
/// record names and is signed by it; the key is opened before `body` runs.
func audited(_ command: String, inputs: [String?], identity: IdentityOptions? = nil, body: (inout AuditOutcome) throws -> Void) throws {
    let log = AuditLog.standard()
    do {
        try log.checkWritable()
    } catch {
        throw ScalpelError.io(path: log.url.path, reason: "the audit log cannot take a record, so nothing was done: \(error)")
    }
    var outcome = AuditOutcome()
    do {
        outcome.signer = try identity?.unlock()
        try body(&outcome)
    } catch {
        if !outcome.unrecorded {
            var status = "failed"
            if case ScalpelError.invalidArgument = error { status = "failed: invalid input" }
            // The failure the user sees matters more than a second one from the trail.
            try? recordAudit(command: command, inputs: outcome.inputs ?? inputs, outputs: outcome.outputs, status: status, device: outcome.device,
                             signer: outcome.signer)
        }
        throw error
    }
    if !outcome.unrecorded {
        try recordAudit(command: command, inputs: outcome.inputs ?? inputs, outputs: outcome.outputs, metrics: outcome.metrics, device: outcome.device,
                        signer: outcome.signer)
    }
}

/// Appends this run to the audit trail: the command line, the inputs' and outputs' hashes
/// (an output folder contributes every file in it) and the headline metrics. No cell of the
/// data, and no error text (which can quote a cell), is ever written.
private func recordAudit(command: String, inputs: [String?], outputs: [String], metrics: [String: Double] = [:], status: String = "ok",
                         device: String? = nil, signer: Identity? = nil) throws {
    var files: [String] = []
    for path in outputs {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { continue }
        if !isDirectory.boolValue {
            files.append(path)
            continue
        }
        let root = URL(fileURLWithPath: path)
        let enumerator = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey])
        while let url = enumerator?.nextObject() as? URL {
            if (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true { files.append(url.path) }
        }
    }
    do {
        try AuditLog.standard().append(command: command, arguments: Array(CommandLine.arguments.dropFirst()), inputs: inputs.compactMap { $0 },
                                       outputs: files.sorted(), metrics: metrics, status: status, scalpel: ScalpelBuild.summary, device: device,
                                       signer: signer)
    } catch {
        throw ScalpelError.io(path: AuditLog.standard().url.path, reason: "cannot append to the audit log: \(error)")
    }
}

/// The headline numbers of a split for the audit trail.
func auditMetrics(_ metrics: SplitMetrics) -> [String: Double] {
    var result: [String: Double] = ["accuracy": metrics.accuracy]
    if let auroc = metrics.auroc { result["auroc"] = auroc }
    if let b = metrics.binary {
        if let v = b.sensitivity { result["sensitivity"] = v }
        if let v = b.specificity { result["specificity"] = v }
        if let v = b.f1 { result["f1"] = v }
    }
    if let m = metrics.multiclass {
        if let v = m.macroRecall { result["recall_macro"] = v }
        if let v = m.macroF1 { result["f1_macro"] = v }
    }
    return result
}
