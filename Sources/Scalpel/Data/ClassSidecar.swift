import Foundation
import ScalpelCore

/// The class names of an array file and its positive class, from a JSON file beside it:
/// `NAME.json` for `NAME.npz` or `NAME.npy` (also beside `NAME.npz.enc`), holding
/// `{"classes": ["malignant", "normal or benign"], "positive": "malignant"}` — the names in the
/// order of the file's label values 0, 1, …, and optionally the class that is the condition.
/// Array files carry only numbers; this is where their meaning is written down.
public struct ClassSidecar: Decodable, Sendable, Equatable {
    /// The name of each label value, in order.
    public var classes: [String]
    /// The class that is the condition (one of `classes`), if the file names one.
    public var positive: String?

    /// The sidecar's path for the data file at `path`.
    public static func path(beside path: String) -> String {
        var url = URL(fileURLWithPath: path)
        if url.pathExtension == "enc" { url = url.deletingPathExtension() }
        return url.deletingPathExtension().appendingPathExtension("json").path
    }

    /// The sidecar beside the data file at `path`, checked against `classCount` classes, or nil
    /// when there is none. A sidecar that cannot be read or does not fit is an error naming it.
    public static func read(beside path: String, classCount: Int) throws -> ClassSidecar? {
        let sidecar = self.path(beside: path)
        guard FileManager.default.fileExists(atPath: sidecar) else { return nil }
        let decoded: ClassSidecar
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: sidecar))
            guard data.count <= 1 << 20 else { throw ScalpelError.io(path: sidecar, reason: "larger than 1 MiB; a class list is a few names") }
            decoded = try JSONDecoder().decode(ClassSidecar.self, from: data)
        } catch let error as ScalpelError {
            throw error
        } catch {
            throw ScalpelError.io(path: sidecar, reason: "not a class list: expected {\"classes\": [names…], \"positive\": name} (\(error.localizedDescription))")
        }
        guard decoded.classes.count == classCount else {
            throw ScalpelError.io(path: sidecar, reason: "names \(decoded.classes.count) classes; the data has \(classCount)")
        }
        guard Set(decoded.classes).count == decoded.classes.count, !decoded.classes.contains(where: \.isEmpty) else {
            throw ScalpelError.io(path: sidecar, reason: "class names must be distinct and non-empty")
        }
        if let positive = decoded.positive, !decoded.classes.contains(positive) {
            throw ScalpelError.io(path: sidecar, reason: "the positive class \"\(positive)\" is not one of its classes (\(decoded.classes.joined(separator: ", ")))")
        }
        return decoded
    }
}

/// The classes a run uses for an array file of `classCount` label values: their names (from the
/// sidecar, else "class i") and, when a positive class is chosen (`--positive`, by index or
/// name, else the sidecar's), that class against the rest as class 1 — the condition the binary
/// metrics are about. Training and a saved model's new data relabel the same way.
struct ClassChoice {
    /// The names of the file's label values, in order.
    let fileNames: [String]
    /// The names of the classes the model predicts.
    let names: [String]
    /// The file label that became class 1, if a positive class was chosen.
    let positive: Int?
    /// The sidecar's file name, when one named the classes.
    let sidecar: String?

    /// The choice for the file at `path`; `kind` names the data in errors ("images", "arrays").
    static func resolve(path: String, classCount: Int, positive requested: String?, kind: String) throws -> ClassChoice {
        let sidecar = try ClassSidecar.read(beside: path, classCount: classCount)
        let fileNames = sidecar?.classes ?? (0 ..< classCount).map { "class \($0)" }
        let sidecarName = sidecar.map { _ in URL(fileURLWithPath: ClassSidecar.path(beside: path)).lastPathComponent }
        return try resolve(fileNames: fileNames, named: sidecar != nil, positive: requested ?? sidecar?.positive, kind: kind, sidecar: sidecarName)
    }

    /// The choice for classes named `fileNames` (in label order); `named` says whether the names
    /// are real ones a positive class may be given by, `sidecar` the file that named them.
    static func resolve(fileNames: [String], named: Bool, positive: String?, kind: String, sidecar: String? = nil) throws -> ClassChoice {
        guard let positive else { return ClassChoice(fileNames: fileNames, names: fileNames, positive: nil, sidecar: sidecar) }
        let classCount = fileNames.count
        guard let p = (named ? fileNames.firstIndex(of: positive) : nil) ?? Int(positive), (0 ..< classCount).contains(p) else {
            throw ScalpelError.invalidArgument("--positive \(positive): \(kind) take a class index in 0..<\(classCount)"
                + (named ? " or a class name (\(fileNames.joined(separator: ", ")))" : ""))
        }
        let names = classCount == 2 ? [fileNames[1 - p], fileNames[p]] : ["not \(fileNames[p])", fileNames[p]]
        return ClassChoice(fileNames: fileNames, names: names, positive: p, sidecar: sidecar)
    }

    /// `labels` as the model's classes: with a positive class, 1 for it and 0 for the rest.
    static func relabel(_ labels: [Int32], positive: String?) -> [Int32] {
        guard let p = positive.flatMap(Int32.init) else { return labels }
        return labels.map { $0 == p ? 1 : 0 }
    }

    /// `labels` as this choice's classes.
    func relabel(_ labels: [Int32]) -> [Int32] { ClassChoice.relabel(labels, positive: positive.map(String.init)) }

    /// The run's note on the classes (nil when nothing was named or chosen).
    var note: String? {
        guard sidecar != nil || positive != nil else { return nil }
        return names.enumerated().map { "\($0.offset) \($0.element)" }.joined(separator: ", ")
            + (positive.map { "; positive: \(names[1]) (file label \($0))" } ?? "")
            + (sidecar.map { " (named by \($0))" } ?? "")
    }
}
