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
