import Foundation
import ScalpelCore

extension TrainingConfig {
    /// The settings that do not apply to a run on `data` with this configuration's model, which
    /// config.json leaves out: a table's columns for images and signals, image options for
    /// tables and signals, the hidden size and dropout of models without them, a split the data
    /// fixes itself, the plateau patience of another schedule.
    func inapplicableKeys(for data: PreparedData) -> Set<String> {
        var keys: Set<String> = []
        let csvTable = data.pipeline?.table != nil
        if !csvTable { keys.formUnion(["label", "dropColumns", "categoricalColumns", "featureColumns", "groupColumn", "subgroupColumn"]) }
        if data.kind != .images { keys.formUnion(["augment", "imageSize", "channels", "classOrder", "skipBadImages", "window"]) }
        if !["mlp", "lstm", "gru"].contains(model) { keys.insert("hidden") }
        if !["mlp", "transformer"].contains(model) { keys.insert("dropout") }
        // The fractions apply only where the data was split by them (its split note gives the shares);
        // a MedMNIST file's or an image folder's own split, or a UCR archive's TRAIN/TEST files, fix it.
        if !(data.notes["split"] ?? "").contains("shares \(PreparedData.shares(split))") { keys.insert("split") }
        if test == nil { keys.insert("validationFraction") }
        if schedule != .plateau { keys.insert("patience") }
        if data.classCount != 2 { keys.insert("targetSensitivity") }
        return keys
    }

    /// config.json: this configuration without the settings that do not apply to `data`
    /// (`inapplicableKeys(for:)`), pretty-printed with sorted keys.
    func record(for data: PreparedData) throws -> Data {
        let full = try JSONEncoder.pretty.encode(self)
        guard var object = try JSONSerialization.jsonObject(with: full) as? [String: Any] else { return full }
        for key in inapplicableKeys(for: data) { object.removeValue(forKey: key) }
        return try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
    }
}
