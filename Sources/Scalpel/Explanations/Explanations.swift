import Foundation
import ScalpelData
import ScalpelMetrics
import ScalpelReport
import ScalpelCore
import ScalpelIO
import ScalpelNN
import ScalpelTensor

/// The permutation importance of one input column of a table model: how much the metric drops
/// when that column's values are shuffled across the rows (breaking its link to the label).
public struct FeatureImportance: Codable, Sendable {
    /// The column (a one-hot encoded column is shuffled as a whole).
    public var column: String
    /// The metric that drops: "auroc" (binary), "macro_auroc" or "accuracy".
    public var metric: String
    /// The metric with nothing shuffled.
    public var baseline: Double
    /// The mean decrease over the repeats (negative: shuffling helped, the column carries nothing).
    public var decrease: Double
    /// The standard deviation of the decrease over the repeats.
    public var standardDeviation: Double
    /// The number of seeded shuffles of the column the decrease is averaged over.
    public var repeats: Int
}

/// What `explain` produced: the files it wrote and the material of the report's section.
public struct Explanations {
    /// A CSV field as spreadsheets should read it: quoted when it holds a comma, quote or line
    /// break, and a text starting with =, +, -, @, a tab or a carriage return prefixed with ',
    /// so that a column name from the data cannot run as a formula when the file is opened
    /// (CSV injection).
    static func csvField(_ text: String) -> String {
        var field = text
        if let first = field.first, "=+-@\t\r".contains(first) { field = "'" + field }
        guard field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return field }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// Overlays on input images, captioned, for a grid in the report.
    public struct Grid {
        /// The heading of the grid in the report ("Correct predictions" or "Wrong predictions").
        public var title: String
        /// Images per row of the grid.
        public var columns: Int
        /// The images as PNG bytes, each with its caption.
        public var items: [(png: [UInt8], caption: String)]
    }

    /// Paragraphs on the methods, at the top of the report's Explanations section.
    public var summary: [String] = []
    /// Images: the overlays (saliency, and Grad-CAM where the model allows) of the correct and of
    /// the wrong predictions.
    public var grids: [Grid] = []
    /// SVG figures with their captions: attention, class activation or saliency over signals, or
    /// a table's permutation-importance chart.
    public var figures: [(svg: String, caption: String)] = []
    /// Tables: the permutation importance of every column, largest decrease first (empty for other
    /// data).
    public var importance: [FeatureImportance] = []
    /// The files written, relative to the output folder.
    public var files: [String] = []
    /// Warning signs the explanations show, in words (Grad-CAM mass on the image border).
    public var warnings: [String] = []

    /// The share of a map's (non-negative) mass within `band` pixels of the image's edge.
    /// - Parameters:
    ///   - map: Height × width non-negative weights, row-major.
    ///   - height: Rows.
    ///   - width: Columns.
    ///   - band: The border's width in pixels.
    /// - Returns: The border's share of the total, in [0, 1] (0 for an empty map).
    public static func borderShare(_ map: [Float], height: Int, width: Int, band: Int) -> Double {
        var border = 0.0, total = 0.0
        for y in 0 ..< height {
            for x in 0 ..< width {
                let v = Double(max(map[y * width + x], 0))
                total += v
                if y < band || x < band || y >= height - band || x >= width - band { border += v }
            }
        }
        return total > 0 ? border / total : 0
    }

    /// The border band of an image of `height` × `width`: an eighth of its shorter side, at least one pixel.
    public static func borderBand(height: Int, width: Int) -> Int { max(1, min(height, width) / 8) }

    /// The share of Grad-CAM mass on the border above which an explanation is a warning sign
    /// (a uniform map puts 44 % there with a band of an eighth).
    public static let borderWarningShare = 0.6
}

extension TrainingRun {
    /// The samples explained: for each class, the first `perGroup` correctly and the first
    /// `perGroup` wrongly predicted rows (in row order, so the choice is reproducible).
    func examples(rows: [Int], predicted: [Int32], perGroup: Int) -> [(row: Int, predicted: Int32)] {
        var chosen: [(row: Int, predicted: Int32)] = []
        for c in 0 ..< Int32(data.classCount) {
            let candidates = zip(rows, predicted).filter { data.labels[$0.0] == c }
            chosen += candidates.filter { $0.1 == c }.prefix(perGroup).map { ($0.0, $0.1) }
            chosen += candidates.filter { $0.1 != c }.prefix(perGroup).map { ($0.0, $0.1) }
        }
        return chosen
    }

    /// Explains the model's predictions on `rows` (with `predicted`, its classes for them) and
    /// writes the pictures and tables under `out/explanations/`: for images, saliency (input
    /// gradients) and Grad-CAM overlaid on the image; for signals, attention (transformer),
    /// class activation over time (FCN) or saliency (recurrent models) drawn over the trace; for
    /// tables, permutation feature importance.
    func explain(rows: [Int], predicted: [Int32], perGroup: Int = 4) throws -> Explanations {
        try FileManager.default.createDirectory(at: URL(fileURLWithPath: config.out).appending(path: "explanations"), withIntermediateDirectories: true)
        switch data.kind {
        case .images: return try imageExplanations(rows: rows, predicted: predicted, perGroup: perGroup)
        case .sequences: return try signalExplanations(rows: rows, predicted: predicted)
        case .table: return try tableExplanations(rows: rows)
        }
    }

    // MARK: Gradients

    /// The gradient of each sample's `targets` logit with respect to the input (eval mode).
    func inputGradients(_ x: [Float], shape: [Int], targets: [Int32]) throws -> [Float] {
        model.eval()
        defer { model.train() }
        return try Attribution.inputGradients(model, x, shape: shape, targets: targets, on: backend)
    }

    func gradCAM(_ net: Sequential, input x: [Float], shape: [Int], targets: [Int32]) throws -> (maps: [Float], spatial: [Int])? {
        model.eval()
        defer { model.train() }
        return try Attribution.gradCAM(net, x, shape: shape, targets: targets, on: backend)
    }

    /// The standardised values of `rows`, concatenated.
    func sampleValues(_ rows: [Int]) -> [Float] {
        let per = data.sampleShape.reduce(1, *)
        return rows.flatMap { data.values[$0 * per ..< ($0 + 1) * per] }
    }

    func caption(row: Int, predicted: Int32) -> String {
        let truth = Int(data.labels[row])
        let mark = Int(predicted) == truth ? "✓" : "✗"
        return "\(mark) #\(row - (data.test.first ?? 0)): true \(data.classNames[truth]), predicted \(data.classNames[Int(predicted)])"
    }

    // MARK: Images

    func imageExplanations(rows: [Int], predicted: [Int32], perGroup: Int) throws -> Explanations {
        let chosen = examples(rows: rows, predicted: predicted, perGroup: perGroup)
        var result = Explanations()
        guard !chosen.isEmpty else { return result }
        let (c, h, w) = (data.sampleShape[0], data.sampleShape[1], data.sampleShape[2])
        let shape = [chosen.count] + data.sampleShape
        let x = sampleValues(chosen.map(\.row))
        let targets = chosen.map(\.predicted)
        let gradients = try inputGradients(x, shape: shape, targets: targets)
        let cam = try (model as? Sequential).flatMap { try gradCAM($0, input: x, shape: shape, targets: targets) }
        // The image as the file held it, in [0, 1]: the standardisation undone.
        let stats = data.pipeline?.images
        let scale = max(1, 112 / max(h, w))
        var correct: [(png: [UInt8], caption: String)] = [], wrong: [(png: [UInt8], caption: String)] = []
        var written: [String] = []
        var onBorder: [String] = []
        let band = Explanations.borderBand(height: h, width: w)
        for (i, sample) in chosen.enumerated() {
            var image = Array(x[i * c * h * w ..< (i + 1) * c * h * w])
            if let stats {
                for ch in 0 ..< c {
                    for p in 0 ..< h * w { image[ch * h * w + p] = Float(Double(image[ch * h * w + p]) * stats.standardDeviation[ch] + stats.mean[ch]) }
                }
            }
            // Saliency: the largest absolute gradient over the channels of each pixel.
            var saliency = [Float](repeating: 0, count: h * w)
            for ch in 0 ..< c {
                for p in 0 ..< h * w { saliency[p] = max(saliency[p], abs(gradients[(i * c + ch) * h * w + p])) }
            }
            func png(_ weights: [Float]?, _ opacity: Double) throws -> [UInt8] {
                let pixels = try SaliencyOverlay.render(image: image, channels: c == 3 ? 3 : 1, height: h, width: w,
                                                        weights: weights ?? [Float](repeating: 0, count: h * w),
                                                        opacity: opacity, normalizeWeights: true, scale: scale)
                return try PNGEncoder.encode(pixels: pixels, width: w * scale, height: h * scale, format: .rgb)
            }
            let name = "test\(sample.row - (data.test.first ?? 0))-true\(data.labels[sample.row])-pred\(sample.predicted)"
            let label = caption(row: sample.row, predicted: sample.predicted)
            var items: [(png: [UInt8], caption: String)] = [(try png(nil, 0), label)]
            let salPNG = try png(saliency, 0.5)
            written.append(try writeOutput(Data(salPNG), "explanations/saliency-\(name).png"))
            if let cam {
                let positions = cam.spatial.reduce(1, *)
                let map = cam.spatial.count == 2
                    ? Attribution.resize(cam.maps[i * positions ..< (i + 1) * positions], from: (cam.spatial[0], cam.spatial[1]), to: (h, w))
                    : [Float](repeating: 0, count: h * w)
                let camPNG = try png(map, 0.5)
                written.append(try writeOutput(Data(camPNG), "explanations/gradcam-\(name).png"))
                let share = Explanations.borderShare(map, height: h, width: w, band: band)
                if cam.spatial.count == 2 && share >= Explanations.borderWarningShare {
                    onBorder.append("#\(sample.row - (data.test.first ?? 0)) (\(Int((share * 100).rounded())) %)")
                }
                items.append((camPNG, share >= Explanations.borderWarningShare ? "Grad-CAM ⚠ border" : "Grad-CAM"))
            }
            items.append((salPNG, "saliency"))
            if Int(sample.predicted) == Int(data.labels[sample.row]) { correct += items } else { wrong += items }
        }
        let perSample = cam == nil ? 2 : 3
        result.summary.append("Saliency: the absolute gradient of the predicted class's logit with respect to each input pixel (largest over channels). "
            + (cam == nil ? "" : "Grad-CAM: the last convolutional feature maps weighted by the mean gradient of the predicted class's logit, "
                + "rectified and resized to the image. ")
            + "Each overlay is scaled from its own minimum (blue) to maximum (red). Samples: for each class, the first \(perGroup) correctly "
            + "and the first \(perGroup) wrongly predicted rows.")
        if !correct.isEmpty { result.grids.append(.init(title: "Correct predictions", columns: perSample * 2, items: correct)) }
        if !wrong.isEmpty { result.grids.append(.init(title: "Wrong predictions", columns: perSample * 2, items: wrong)) }
        result.files = written
        if !onBorder.isEmpty {
            result.warnings.append("Grad-CAM puts \(Int(Explanations.borderWarningShare * 100)) % or more of its mass within \(band) pixels of the image "
                + "border in \(onBorder.count) of \(chosen.count) explained images (\(onBorder.joined(separator: ", "))): the model may be "
                + "using the frame, burnt-in text or acquisition artefacts rather than the anatomy. Look at these images before trusting it.")
        }
        return result
    }

    // MARK: Signals

    func signalExplanations(rows: [Int], predicted: [Int32]) throws -> Explanations {
        var result = Explanations()
        if let transformer = model as? TransformerClassifier {
            let (svg, count) = try attentionMaps(transformer, rows: rows, predicted: predicted)
            result.files.append(try writeOutput(Data(svg.utf8), "explanations/attention.svg"))
            result.figures.append((svg, "Attention over time for \(count) test beats (the first correct and the first wrong of each class): "
                + "the attention the last encoder layer paid to each time step, averaged over heads and queries, from its minimum to its maximum."))
            return result
        }
        let chosen = examples(rows: rows, predicted: predicted, perGroup: 1)
        guard !chosen.isEmpty else { return result }
        let length = data.sampleShape[1], channels = data.sampleShape[0]
        let shape = [chosen.count] + data.sampleShape
        let x = sampleValues(chosen.map(\.row)), targets = chosen.map(\.predicted)
        var weights: [[Float]]
        let method: String, file: String
        if let net = model as? Sequential, let cam = try gradCAM(net, input: x, shape: shape, targets: targets), cam.spatial.count == 1 {
            let positions = cam.spatial[0]
            weights = (0 ..< chosen.count).map { Attribution.resize(cam.maps[$0 * positions ..< ($0 + 1) * positions], from: (1, positions), to: (1, length)) }
            method = "Class activation over time (Grad-CAM on the last convolution block, as Wang et al. 2017 draw it for the FCN)"
            file = "cam.svg"
        } else {
            let g = try inputGradients(x, shape: shape, targets: targets)
            weights = (0 ..< chosen.count).map { i in
                (0 ..< length).map { t in (0 ..< channels).map { abs(g[(i * channels + $0) * length + t]) }.max() ?? 0 }
            }
            method = "Saliency over time (the absolute gradient of the predicted class's logit with respect to each time step)"
            file = "saliency.svg"
        }
        let signals = try chosen.enumerated().map { i, sample -> WeightedSignal in
            let valid = data.lengths?[sample.row] ?? length
            let w = weights[i].prefix(valid).map(Double.init)
            let (low, high) = (w.min() ?? 0, w.max() ?? 1)
            return try WeightedSignal(title: caption(row: sample.row, predicted: sample.predicted),
                                      values: x[(i * channels * length) ..< (i * channels * length + valid)].map(Double.init),
                                      weights: w.map { high > low ? ($0 - low) / (high - low) : 0 })
        }
        let svg = SignalWeightChart(title: method, signals: signals, columns: 2, weightLabel: "weight (min to max)").svg()
        result.files.append(try writeOutput(Data(svg.utf8), "explanations/" + file))
        result.figures.append((svg, method + ", for the first correct and the first wrong beat of each class."))
        return result
    }

    // MARK: Tables

    /// Permutation importance on `rows`: each input column (a one-hot column as a whole) is
    /// shuffled across the rows `repeats` times (seeded), and the drop of AUROC (binary),
    /// macro AUROC or, where those are undefined, accuracy is averaged.
    ///
    /// A shuffle touches only its column: when the model begins with a linear layer, the first
    /// layer's output moves by (x' − x) · W[:, f] alone, so each shuffle costs rows × hidden
    /// rather than a pass over every column, and many shuffles are scored in one batch. The
    /// cost is then linear in the number of columns (a 50,000-column table no longer takes
    /// quadratic time), and a progress bar shows it on wide tables.
    func permutationImportance(rows: [Int], repeats: Int = 5) throws -> [FeatureImportance] {
        guard let schema = data.pipeline?.table else { return [] }
        let width = data.sampleShape[0], k = data.classCount, n = rows.count
        var base = sampleValues(rows)
        let truth = rows.map { data.labels[$0] }
        model.eval()
        defer { model.train() }
        /// The metric of one block of `n` rows of log-probabilities starting at `offset`.
        func metric(_ logProbabilities: [Float], offset: Int = 0) throws -> (String, Double) {
            let block = Array(logProbabilities[offset ..< offset + n * k])
            if k == 2 {
                let odds: [Float] = (0 ..< n).map { (r: Int) -> Float in block[r * 2 + 1] - block[r * 2] }
                if let auroc = try BinaryMetrics.compute(labels: truth, scores: odds, threshold: 0).auroc { return ("auroc", auroc) }
            } else if let auroc = try MulticlassMetrics.compute(labels: truth, probabilities: block, classCount: k).macroAUROC {
                return ("macro_auroc", auroc)
            }
            var correct = 0
            for r in 0 ..< n {
                let best = (0 ..< k).max { (a: Int, b: Int) -> Bool in block[r * k + a] < block[r * k + b] }
                if best == Int(truth[r]) { correct += 1 }
            }
            return ("accuracy", Double(correct) / Double(n))
        }
        func logProbabilities(_ layer: (Tensor) throws -> Tensor, _ x: [Float], columns: Int) throws -> [Float] {
            try Autograd.noGrad { try layer(try Tensor(x, shape: [x.count / columns, columns], on: backend)).logSoftmax().array() }
        }

        // The shuffles, drawn in a fixed order (column by column, repeat by repeat) from the seed.
        var random = SeededRandom(seed: config.seed &+ 7)
        let columns = schema.columns
        let bar = columns.count >= 200 ? ProgressBar(total: columns.count, label: "importance") : nil
        if bar != nil {
            FileHandle.standardError.write(Data("scalpel: permutation importance of \(columns.count) columns, \(repeats) shuffles each, on \(n) rows\n".utf8))
        }
        var drops = [[Double]](repeating: [], count: columns.count)
        let metricName: String, baseline: Double

        if let sequential = model as? Sequential, let first = sequential.layers.first as? Linear, sequential.layers.count > 1 {
            let rest = Sequential(Array(sequential.layers.dropFirst()))
            let weight = try first.weight.array()          // hidden × width
            let hidden = weight.count / width
            let bias = try first.bias?.array() ?? [Float](repeating: 0, count: hidden)
            // The first layer's output on the unshuffled rows, and W's columns by feature.
            var h0 = [Float](repeating: 0, count: n * hidden)
            for r in 0 ..< n {
                for j in 0 ..< hidden {
                    var sum = bias[j]
                    for f in 0 ..< width { sum += base[r * width + f] * weight[j * width + f] }
                    h0[r * hidden + j] = sum
                }
            }
            var byFeature = [Float](repeating: 0, count: width * hidden)
            for j in 0 ..< hidden { for f in 0 ..< width { byFeature[f * hidden + j] = weight[j * width + f] } }
            (metricName, baseline) = try metric(try logProbabilities({ try rest($0) }, h0, columns: hidden))
            let perBatch = max(1, 8192 / max(n, 1))
            var jobs: [(column: Int, order: [Int])] = []
            func flush() throws {
                guard !jobs.isEmpty else { return }
                var batch = [Float](repeating: 0, count: jobs.count * n * hidden)
                for (index, job) in jobs.enumerated() {
                    let offset = index * n * hidden
                    for i in 0 ..< n * hidden { batch[offset + i] = h0[i] }
                    for (r, source) in job.order.enumerated() where source != r {
                        for f in columns[job.column].features {
                            let delta = base[source * width + f] - base[r * width + f]
                            if delta == 0 { continue }
                            for j in 0 ..< hidden { batch[offset + r * hidden + j] += delta * byFeature[f * hidden + j] }
                        }
                    }
                }
                let scores = try logProbabilities({ try rest($0) }, batch, columns: hidden)
                for (index, job) in jobs.enumerated() { drops[job.column].append(baseline - (try metric(scores, offset: index * n * k)).1) }
                jobs.removeAll(keepingCapacity: true)
            }
            for column in columns.indices {
                for _ in 0 ..< repeats {
                    var order = Array(0 ..< n)
                    order.shuffle(using: &random)
                    jobs.append((column, order))
                    if jobs.count == perBatch { try flush() }
                }
                bar?.update(column + 1, status: "columns shuffled", final: column + 1 == columns.count)
            }
            try flush()
        } else {
            (metricName, baseline) = try metric(try logProbabilities({ try self.model($0) }, base, columns: width))
            for (index, column) in columns.enumerated() {
                let saved = column.features.map { f in (0 ..< n).map { base[$0 * width + f] } }
                for _ in 0 ..< repeats {
                    var order = Array(0 ..< n)
                    order.shuffle(using: &random)
                    // Shuffle the column in place, score, put it back: no copy of the whole table.
                    for (i, f) in column.features.enumerated() { for r in 0 ..< n { base[r * width + f] = saved[i][order[r]] } }
                    drops[index].append(baseline - (try metric(try logProbabilities({ try self.model($0) }, base, columns: width))).1)
                    for (i, f) in column.features.enumerated() { for r in 0 ..< n { base[r * width + f] = saved[i][r] } }
                }
                bar?.update(index + 1, status: "columns shuffled", final: index + 1 == columns.count)
            }
        }
        return columns.enumerated().map { index, column in
            let values = drops[index]
            let mean = values.reduce(0, +) / Double(repeats)
            let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(max(repeats - 1, 1))
            return FeatureImportance(column: column.name, metric: metricName, baseline: baseline, decrease: mean,
                                     standardDeviation: variance.squareRoot(), repeats: repeats)
        }.sorted { $0.decrease > $1.decrease }
    }

    func tableExplanations(rows: [Int]) throws -> Explanations {
        var result = Explanations()
        let importance = try permutationImportance(rows: rows)
        guard let first = importance.first else { return result }
        result.importance = importance
        var csv = "column,metric,baseline,mean_decrease,std_decrease,repeats\n"
        for item in importance {
            csv += "\(Explanations.csvField(item.column)),\(item.metric),\(item.baseline),\(item.decrease),\(item.standardDeviation),\(item.repeats)\n"
        }
        result.files.append(try writeOutput(Data(csv.utf8), "explanations/importance.csv"))
        let shown = Array(importance.prefix(20))
        let metricName = first.metric == "auroc" ? "AUROC" : first.metric == "macro_auroc" ? "macro AUROC" : "accuracy"
        let chart = try HorizontalBarChart(title: "Permutation importance (\(shown.count) of \(importance.count) columns)",
                                           labels: shown.map(\.column), values: shown.map(\.decrease),
                                           errors: shown.map(\.standardDeviation), xLabel: "decrease in \(metricName) when shuffled")
        let svg = chart.svg()
        result.files.append(try writeOutput(Data(svg.utf8), "explanations/importance.svg"))
        result.figures.append((svg, "Permutation importance on \(rows.count) rows: the mean decrease of \(metricName) (baseline "
            + String(format: "%.4f", first.baseline) + ") over \(first.repeats) seeded shuffles of each column, ± one standard deviation. "
            + "It measures what this model relies on, not what causes the outcome; correlated columns share their importance."))
        result.summary.append("Permutation importance: each input column (a one-hot encoded column as a whole) shuffled across the rows.")
        return result
    }
}

/// Gradient-based attributions of a model's predictions (the model must be in eval mode).
enum Attribution {
    static func oneHot(_ targets: [Int32], classes: Int, on backend: any Backend) throws -> Tensor {
        var values = [Float](repeating: 0, count: targets.count * classes)
        for (i, t) in targets.enumerated() { values[i * classes + Int(t)] = 1 }
        return try Tensor(values, shape: [targets.count, classes], on: backend)
    }

    /// The gradient of each sample's `targets` logit with respect to the input `x` (saliency,
    /// Simonyan et al. 2014). The model's parameter gradients are zeroed afterwards.
    static func inputGradients(_ model: any TrainableModel, _ x: [Float], shape: [Int], targets: [Int32], on backend: any Backend) throws -> [Float] {
        let input = try Tensor(x, shape: shape, on: backend, requiresGrad: true)
        let logits = try model(input)
        defer { try? model.zeroGrad() }
        try logits.backward(try oneHot(targets, classes: logits.shape[1], on: backend))
        guard let grad = input.grad else { throw ScalpelError.invalidArgument("the model gave no gradient for its input") }
        return try grad.array()
    }

    /// Grad-CAM (Selvaraju et al. 2017) for a sequential convolutional model: the last layer
    /// whose output still has spatial axes (not a pooling layer) gives activations A (N, K, …);
    /// each channel is weighted by the mean gradient of the target logit over its positions,
    /// and the map is ReLU(Σₖ αₖ Aₖ) at that layer's resolution. Returns the maps (N × positions)
    /// and the spatial shape, or nil when the model has no such layer.
    static func gradCAM(_ net: Sequential, _ x: [Float], shape: [Int], targets: [Int32], on backend: any Backend) throws -> (maps: [Float], spatial: [Int])? {
        let input = try Tensor(x, shape: shape, on: backend)
        var shapes: [[Int]] = []
        try Autograd.noGrad {
            var h = input
            for layer in net.layers {
                h = try layer(h)
                shapes.append(h.shape)
            }
        }
        guard let split = net.layers.indices.last(where: { shapes[$0].count >= 3 && !(net.layers[$0] is MaxPool2d) && !(net.layers[$0] is AvgPool2d) }),
              split + 1 < net.layers.count else { return nil }
        let activations = try Autograd.noGrad {
            var h = input
            for layer in net.layers[...split] { h = try layer(h) }
            return h
        }
        let leaf = activations.detached()
        leaf.requiresGrad = true
        var z = leaf
        for layer in net.layers[(split + 1)...] { z = try layer(z) }
        defer { try? net.zeroGrad() }
        try z.backward(try oneHot(targets, classes: z.shape[1], on: backend))
        guard let gradTensor = leaf.grad else { return nil }
        let a = try activations.array(), g = try gradTensor.array()
        let (n, k) = (shapes[split][0], shapes[split][1])
        let spatial = Array(shapes[split].dropFirst(2))
        let positions = spatial.reduce(1, *)
        var maps = [Float](repeating: 0, count: n * positions)
        for s in 0 ..< n {
            for c in 0 ..< k {
                let base = (s * k + c) * positions
                var alpha: Float = 0
                for p in 0 ..< positions { alpha += g[base + p] }
                alpha /= Float(positions)
                for p in 0 ..< positions { maps[s * positions + p] += alpha * a[base + p] }
            }
            for p in 0 ..< positions { maps[s * positions + p] = max(maps[s * positions + p], 0) }
        }
        return (maps, spatial)
    }

    /// `map` (h × w) resized to `height` × `width` bilinearly, pixel centres aligned (as
    /// OpenCV's resize and PyTorch's interpolate with align_corners=False).
    static func resize(_ map: ArraySlice<Float>, from source: (Int, Int), to target: (Int, Int)) -> [Float] {
        let (h, w) = source, (height, width) = target
        let base = map.startIndex
        var result = [Float](repeating: 0, count: height * width)
        func coordinate(_ i: Int, _ outSize: Int, _ inSize: Int) -> (Int, Int, Float) {
            let x = max((Float(i) + 0.5) * Float(inSize) / Float(outSize) - 0.5, 0)
            let low = min(Int(x), inSize - 1)
            return (low, min(low + 1, inSize - 1), x - Float(low))
        }
        for y in 0 ..< height {
            let (y0, y1, fy) = coordinate(y, height, h)
            for x in 0 ..< width {
                let (x0, x1, fx) = coordinate(x, width, w)
                let top = map[base + y0 * w + x0] * (1 - fx) + map[base + y0 * w + x1] * fx
                let bottom = map[base + y1 * w + x0] * (1 - fx) + map[base + y1 * w + x1] * fx
                result[y * width + x] = top * (1 - fy) + bottom * fy
            }
        }
        return result
    }

}
