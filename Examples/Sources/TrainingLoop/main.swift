// A hand-written training loop — forward, loss, backward, step — for an MLP on the bundled
// Wisconsin breast-cancer table (WDBC), then the test split's AUROC computed from the model's
// probabilities. Usage: TrainingLoop [EPOCHS]   (default 60; CI runs 3)
import Foundation
import Scalpel

let epochs = CommandLine.arguments.dropFirst().first.flatMap(Int.init) ?? 60
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appending(path: "../../../Data")
// Standardised with training statistics, split 70/15/15 by class; malignant is class 1.
let data = try PreparedData.load(root.appending(path: "wdbc.csv").path, label: "diagnosis", positiveClass: "M")
let backend = try Runtime.open().backend
let features = data.sampleShape[0]

var generator = SeededRandom(seed: 7)
let model = Sequential([try Linear(features, 32, generator: &generator, on: backend), ReLU(),
                        try Linear(32, data.classCount, generator: &generator, on: backend)])
let optimizer = try Adam(model.namedParameters(), learningRate: 1e-3, weightDecay: 1e-4, decoupledWeightDecay: true)

/// The samples and labels of `rows` as tensors on the backend.
func batch(_ rows: [Int]) throws -> (Tensor, Tensor) {
    let values = rows.flatMap { data.values[$0 * features ..< ($0 + 1) * features] }
    return (try Tensor(values, shape: [rows.count, features], on: backend), try Tensor(labels: rows.map { data.labels[$0] }, on: backend))
}

var shuffle = SeededRandom(seed: 1)
for epoch in 1 ... epochs {
    model.train()
    var rows = data.train
    rows.shuffle(using: &shuffle)
    var total: Float = 0
    for start in stride(from: 0, to: rows.count, by: 32) {
        let (x, y) = try batch(Array(rows[start ..< min(start + 32, rows.count)]))
        try optimizer.zeroGrad()
        let loss = try model(x).crossEntropy(labels: y)
        try loss.backward()
        try optimizer.step()
        total += try loss.item() * Float(y.count)
    }
    if epoch % 10 == 0 || epoch == epochs { print(String(format: "epoch %3d  loss %.4f", epoch, total / Float(rows.count))) }
}

model.eval()
let (x, _) = try batch(data.test)
let probabilities = try Autograd.noGrad { try model(x).softmax().array() }
let malignant = data.test.indices.map { probabilities[2 * $0 + 1] }
let metrics = try BinaryMetrics.compute(labels: data.test.map { data.labels[$0] }, scores: malignant, threshold: 0.5)
let auroc = metrics.auroc ?? 0
print(String(format: "test AUROC %.4f, sensitivity %.4f, specificity %.4f", auroc, metrics.sensitivity ?? .nan, metrics.specificity ?? .nan))
guard auroc > 0.95 else { print("test AUROC \(auroc) is too low"); exit(1) }
