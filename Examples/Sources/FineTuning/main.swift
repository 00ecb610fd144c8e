// Fine-tuning a saved model with its first layers frozen. A network is trained on the WDBC
// table and saved; a fresh copy is loaded from the file, its feature layers are frozen, and its
// head is trained further at a lower rate (a parameter group) on the rows the first run held
// out. The frozen layers must come out unchanged to the bit.
// Usage: FineTuning [EPOCHS]   (default 30; CI runs 3)
import Foundation
import Scalpel

let epochs = CommandLine.arguments.dropFirst().first.flatMap(Int.init) ?? 30
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appending(path: "../../../Data")
let data = try PreparedData.load(root.appending(path: "wdbc.csv").path, label: "diagnosis", positiveClass: "M")
let backend = try Runtime.open().backend

/// Two feature layers and a head; every copy made with the same seed has the same names and shapes.
func network(seed: UInt64) throws -> Sequential {
    var generator = SeededRandom(seed: seed)
    return Sequential([try Linear(data.sampleShape[0], 32, generator: &generator, on: backend), ReLU(),
                       try Linear(32, 16, generator: &generator, on: backend), ReLU(),
                       try Linear(16, data.classCount, generator: &generator, on: backend)])
}

// 1. Pre-train on the training rows and save.
let pretrained = try network(seed: 1)
try Trainer(model: pretrained, data: data, optimizer: try Adam(pretrained.namedParameters(), learningRate: 1e-3),
            options: TrainerOptions(epochs: epochs), on: backend).fit()
let file = FileManager.default.temporaryDirectory.appending(path: "scalpel-finetuning-\(getpid()).safetensors")
defer { try? FileManager.default.removeItem(at: file) }
try Checkpoint.save(model: pretrained, to: file)

// 2. Load it into a fresh network and freeze everything but the head.
let model = try network(seed: 99)
try Checkpoint.restore(try Checkpoint.read(from: file), into: model, source: file.path)
for layer in model.layers.dropLast() { (layer as? Module)?.freeze() }
let frozen = try model.namedTensors().filter { !$0.name.hasPrefix("layers.4.") }.map { try $0.tensor.array() }
print("trainable after freezing: \(model.namedParameters().map(\.name).joined(separator: ", "))")

// 3. Fine-tune the head on the validation rows, checking on the test rows.
var tuning = data
tuning.train = data.validation
tuning.validation = []
let head = ParameterGroup(model.namedParameters(), learningRate: 2e-4)
let trainer = try Trainer(model: model, data: tuning, optimizer: try Adam(groups: [head], learningRate: 2e-4),
                          options: TrainerOptions(epochs: max(epochs / 3, 1), batchSize: 16, selection: .last), on: backend)
try trainer.fit()
let test = try trainer.evaluate(data.test)
let unchanged = try model.namedTensors().filter { !$0.name.hasPrefix("layers.4.") }.map { try $0.tensor.array() } == frozen
print(String(format: "test AUROC %.4f after fine-tuning; frozen layers unchanged: %@", test.metrics.auroc ?? .nan, unchanged ? "yes" : "NO"))
guard unchanged, (test.metrics.auroc ?? 0) > 0.95 else { exit(1) }
