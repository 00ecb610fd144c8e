import ArgumentParser
import Foundation
import Scalpel
import ScalpelCore
import ScalpelCPU
import ScalpelOpenCL
import ScalpelPrivacy

extension SelectionOption: ExpressibleByArgument {}
extension ScheduleKind: ExpressibleByArgument {}
extension CalibrationMethod: ExpressibleByArgument {}

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a model and report diagnosis metrics on a held-out test split.",
        discussion: """
            CSV tables (--model mlp): a stratified, seeded train/validation/test split (--split, default \
            70/15/15; by patient with --group-column; a separate test table with --test), identifier- and \
            date-like columns left out unless named (--features), standardisation fit on the training \
            rows. MedMNIST .npz images (--model cnn or resnet18): the \
            official split, per-channel standardisation with training statistics. UCR .tsv signals (--model fcn, \
            transformer, lstm or gru) with --test for the archive's TEST file: the official split, no \
            validation split unless --validation-fraction is given. Adam and cross-entropy; the epoch the \
            selection rule picks (--select; by default the best validation AUROC, or the lowest training \
            loss without a validation split) is evaluated on the test split. Writes \
            OUT/metrics.json, OUT/config.json, OUT/best.safetensors and OUT/last.safetensors (for --resume). \
            With no options: the small CNN on the bundled BreastMNIST.
            """)

    @OptionGroup var options: DeviceOptions
    @OptionGroup var key: KeyOptions

    @Flag(name: .customLong("encrypt-outputs"), inversion: .prefixedNo,
          help: "Write checkpoints, the report and explanations encrypted (default: when the data is encrypted).")
    var encryptOutputs: Bool?

    @Option(help: "The data: a CSV table with a header, a MedMNIST 2-D .npz, a UCR .tsv (its TRAIN file), an .npy of samples, or a folder of PNG, JPEG or DICOM images with one subfolder per class (or a CSV manifest path,label[,patient]). Default: Data/breastmnist.npz.")
    var data: String?

    @Option(help: "With an .npy of samples as --data: the .npy of their integer class labels.")
    var labels: String?

    @Option(help: "A separate test file: a UCR archive's TEST file, or a CSV table (a later period, another site) prepared with the training file's statistics; the training file then gives the training and validation rows.")
    var test: String?

    @Option(name: .customLong("validation-fraction"), help: "With --test: the fraction of the training file held out (stratified) for validation (default: 0). An image folder with train/ and test/ but no val/ holds out this fraction of train/ (default: 0.15).")
    var validationFraction: Double?

    @Option(help: "How the reported epoch is chosen: auto (default), val-auroc, val-loss, train-loss or last.")
    var select: SelectionOption?

    @Option(name: .customLong("clip-norm"), help: "Clip the global gradient norm (default: 1 for the transformer, none otherwise; 0 turns it off).")
    var clipNorm: Float?

    @Option(help: "The learning rate over the epochs: constant, cosine (down to 1/100), warmup-cosine, or plateau (halved when the training loss stalls for --patience epochs, down to 1/10). Default: cosine for convnet, resnet18, fcn and transformer, constant otherwise.")
    var schedule: ScheduleKind?

    @Option(help: "Epochs without a better training loss before the plateau schedule halves the rate (default: 50).")
    var patience: Int?

    @Option(name: [.customLong("early-stop"), .customLong("early-stopping")],
            help: "Stop when the epoch rule's metric (--select; by default the validation AUROC, without a validation split the training loss) has not improved for this many epochs; the budget is then a maximum (default: with a validation split, train the whole budget; without one, under the default budget, stop once the training loss has not improved for a fifth of it).")
    var earlyStopping: Int?

    @Option(help: "Keep an exponential moving average of the weights and BatchNorm statistics with this decay per step (0.99 averages about the last 100 steps); the average is what is validated, selected, tested and saved. Default: 0.98 for convnet and resnet18, 0.99 for fcn, none otherwise; 0 turns it off.")
    var ema: Float?

    @Option(name: .customLong("weight-decay"), help: "AdamW's decoupled weight decay on every parameter (default: 0, plain Adam).")
    var weightDecay: Float?

    @Option(name: .customLong("target-sensitivity"), help: "Binary: pick the decision threshold on validation as the highest reaching this sensitivity (default: Youden's J).")
    var targetSensitivity: Double?

    @Flag(help: "Images: augment training batches with a random flip, rotation (≤ 10°) and shift (≤ 2 px), seeded.")
    var augment = false

    @Flag(help: "Draw training batches with every class equally likely (for rare classes).")
    var balanced = false

    @Option(name: .customLong("class-weights"), help: "Weigh the classes in the training loss: balanced (n / (classes × n_c)), none, or one number per class, comma-separated.")
    var classWeights: String?

    @Option(name: .customLong("class-names"), help: "Comma-separated class names, in class-index order (for reports).")
    var classNames: String?

    @Option(help: "Dropout probability (MLP and transformer; default: 0.1).")
    var dropout: Float?

    @Option(help: "CSV: the label column's name (default: diagnosis).")
    var label: String?

    @Option(help: "The positive class (binary: this value — a CSV label, or a class index of images — against the rest).")
    var positive: String?

    @Option(parsing: .upToNextOption, help: "Columns to leave out (identifiers, for example).")
    var drop: [String] = []

    @Option(parsing: .upToNextOption, help: "CSV: numeric-coded columns to one-hot encode (columns of words always are).")
    var categorical: [String] = []

    @Option(parsing: .upToNextOption, help: "CSV: columns to use as features although they look like identifiers or dates (those are left out otherwise, and the run says which).")
    var features: [String] = []

    @Option(name: .customLong("group-column"), help: "CSV: the column that groups rows (a patient id): each group's rows all go to one split, so no patient is in two.")
    var groupColumn: String?

    @Option(help: "Repair the probabilities after training: temperature (one temperature dividing the logits, fitted on the validation split; stored in the checkpoint and applied by eval, predict and export; the report shows calibration before and after).")
    var calibrate: CalibrationMethod?

    @Option(name: .customLong("subgroup-column"), help: "CSV: a column naming subgroups (sex, age band, site): the report gives each group's counts, sensitivity, specificity and AUROC with intervals.")
    var subgroupColumn: String?

    @Option(name: .customLong("intended-use"), help: "What the model is for and on whom (the report's model card; default: a research model, not validated for clinical use).")
    var intendedUse: String?

    @Option(name: .customLong("image-size"), help: "Image folders: resize every image to H or HxW pixels, with antialiasing (default: the folder's most common size).")
    var imageSize: String?

    @Option(help: "Image folders: 1 (grey) or 3 (RGB) channels (default: 1 when every image is grey, else 3).")
    var channels: Int?

    @Option(help: "Image folders: the classes in order, comma-separated (default: the class folders' names, sorted).")
    var classes: String?

    @Flag(name: .customLong("skip-bad-images"), help: "Image folders: leave out corrupt, truncated, empty and non-image files, listing them in metrics.json and the report (default: such a file stops the run, naming it).")
    var skipBadImages = false

    @Option(help: "DICOM: the display window CENTER,WIDTH in the modality's units (Hounsfield units for CT) applied to every file (default: each file's own window, else its range).")
    var window: String?

    @Option(help: "CSV, .npy and image folders without train/ and test/: the train, validation and test shares, as percentages or fractions (default: 70,15,15).")
    var split: String?

    @Option(help: ArgumentHelp("The model: " + [PreparedData.Kind.table, .images, .sequences].map { kind in
        ModelRecipe.recipes(for: kind).map(\.name).joined(separator: ", ") + " (\(kind.rawValue))" }.joined(separator: "; ")
        + ". Default: the first of each kind."))
    var model: String?

    @Option(help: "Epochs (default: from the size of the training set: at least 3,000 steps and 100 epochs for signals, 360 steps and 20 epochs for images at batch 32, 600 steps and 60 epochs for tables; shown when the run starts).")
    var epochs: Int?

    @Option(help: "Train for this many optimizer steps, rounded up to whole epochs (instead of --epochs).")
    var steps: Int?

    @Option(name: .customLong("batch-size"), help: "Samples per training step (default: 32 for tables, convnet and resnet18, 128 for the cnn, 16 for signals).")
    var batchSize: Int?

    @Option(help: "Adam's learning rate (default: 5e-4 for the transformer, 1e-3 otherwise).")
    var lr: Float?

    @Option(help: "Seed of the split, the initial weights, shuffling and dropout (default: 0).")
    var seed: UInt64?

    @Option(help: "Hidden units per layer (default: 64).")
    var hidden: Int?

    @Option(help: "The run folder (default: runs/<date>-<model>; with --resume, the checkpoint's folder). A folder that holds another run is refused.")
    var out: String?

    @Flag(help: "Replace the run in --out: its outputs are removed before this run starts.")
    var overwrite = false

    @Flag(help: "Data-parallel training over MPI: run under `mpirun -np N`; each rank takes 1/N of every batch (same global batch and rate).")
    var distributed = false

    @Option(help: "Continue an interrupted run from its last.safetensors, with the run's own options (more --epochs may be given; options that contradict the run are refused).")
    var resume: String?

    func validate() throws {
        if epochs != nil && steps != nil { throw ValidationError("give --epochs or --steps, not both") }
    }

    func run() throws {
        try runReportingErrors { try audited("train", inputs: [data, test, labels, resume], identity: key.personal) { outcome in
            // A resumed model is built no larger than the checkpoint's weights (its configuration is text anyone can edit).
            var limit: Int?
            var config = try resume.map { path in
                let (config, largest) = try resumedConfig(URL(fileURLWithPath: path))
                limit = largest
                return config
            } ?? newConfig()
            outcome.inputs = [config.data, config.test, config.labels, resume]
            (config.keyFile, config.passphraseFile, config.identityFile, config.encryptOutputs) = (key.keyFile, key.passphraseFile, key.identityFile, encryptOutputs)
            var spec = try options.spec()
            let context = distributed ? try DistributedContext.start() : nil
            defer { context?.finish() }
            if let context {
                // The machine's cores are shared by its ranks, and a rank bound to fewer (mpirun binds each of
                // 2 ranks to one core by default) gets as many threads as it has cores; on a multi-GPU machine
                // each rank takes its own GPU.
                if ProcessInfo.processInfo.environment["SCALPEL_THREADS"] == nil {
                    let share = max(1, ProcessInfo.processInfo.activeProcessorCount / max(context.localSize, 1))
                    setenv("SCALPEL_THREADS", String(min(share, CPUInfo.usableProcessorCount)), 1)
                }
                let gpus = OpenCLInventory.shared.devices.filter { $0.kind == .gpu }
                if (spec == .auto || spec == .bestOpenCL) && gpus.count > 1 {
                    let gpu = gpus[context.localRank % gpus.count]
                    spec = .openCL(platform: gpu.platformIndex, device: gpu.deviceIndex)
                }
            }
            config.device = spec.description
            // A data-parallel run's other ranks leave the record, and the folder, to the first.
            let root = context?.isRoot ?? true
            outcome.unrecorded = !root
            guard !(overwrite && resume != nil) else { throw ScalpelError.invalidArgument("give --resume or --overwrite, not both") }
            let existing: RunFolder.Existing = overwrite ? .overwrite
                : resume.map { .resume(checkpointFolder: URL(fileURLWithPath: $0).deletingLastPathComponent()) } ?? .refuse
            // Options and data are checked first (their errors say more than a busy folder), then the
            // folder is claimed, before anything is written.
            let runtime = try Runtime.open(spec, announce: root)
            let trainer = try limit.map { limit in
                try TrainingRun.building(under: limit, source: resume ?? "") { try TrainingRun(config: config, runtime: runtime, distributed: context) }
            } ?? TrainingRun(config: config, runtime: runtime, distributed: context)
            trainer.runFolder = root ? try RunFolder(config.out, existing: existing) : nil
            if root, let budget = trainer.budgetSummary { FileHandle.standardError.write(Data("scalpel: \(budget)\n".utf8)) }
            outcome.outputs = [config.out]
            let start = try resume.map { try trainer.resume(from: URL(fileURLWithPath: $0)) } ?? 0
            guard let report = try trainer.run(startEpoch: start) else { return }  // a distributed run's other ranks
            outcome.metrics = auditMetrics(report.test)
            outcome.device = report.device
            print("Selected epoch \(report.selectedEpoch) of \(report.epochs) (\(report.selectionRule)); device \(report.device)")
            printMetrics(report.test, classNames: report.classNames)
            if let summary = fallbackSummary() { print(summary.prefix(1).uppercased() + summary.dropFirst()) }
            let e = trainer.encryptsOutputs ? ".enc" : ""
            print("Wrote \(config.out)/report.html\(e), metrics.json, predictions.csv\(e), best.safetensors\(e), last.safetensors\(e), config.json, explanations/"
                + (trainer.encryptsOutputs ? " (encrypted: AES-256-GCM)" : ""))
        } }
    }

    /// `--split 70,15,15` (or 0.7,0.15,0.15): three positive shares that add up to 100 % (or 1).
    static func fractions(_ text: String) throws -> [Double] {
        let parts = text.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 3, parts.allSatisfy({ $0 != nil && $0! > 0 }) else {
            throw ScalpelError.invalidArgument("--split \(text): give three positive shares, train, validation and test, such as 70,15,15")
        }
        let values = parts.map { $0! }, total = values.reduce(0, +)
        guard abs(total - 100) < 1e-6 || abs(total - 1) < 1e-6 else {
            throw ScalpelError.invalidArgument("--split \(text): the shares add up to \(total), not 100 (or 1)")
        }
        return values.map { $0 / total }
    }

    /// `--image-size`, `--channels`, `--classes`, `--skip-bad-images` and `--window`, checked.
    func applyImageOptions(to config: inout TrainingConfig) throws {
        if let imageSize { config.imageSize = try TrainCommand.imageSize(imageSize) }
        if let channels {
            guard channels == 1 || channels == 3 else { throw ScalpelError.invalidArgument("--channels \(channels): give 1 (grey) or 3 (RGB)") }
            config.channels = channels
        }
        if let classes {
            let names = classes.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            guard names.count >= 2, Set(names).count == names.count, !names.contains("") else {
                throw ScalpelError.invalidArgument("--classes \(classes): give two or more distinct class names, comma-separated")
            }
            config.classOrder = names
        }
        if skipBadImages { config.skipBadImages = true }
        if let window { config.window = try TrainCommand.window(window) }
    }

    /// `--image-size 64` or `--image-size 64x96` (height × width), each side 4 to 4096.
    static func imageSize(_ text: String) throws -> [Int] {
        let parts = text.lowercased().split(separator: "x", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard (1 ... 2).contains(parts.count), parts.allSatisfy({ $0 != nil && (4 ... 4096).contains($0!) }) else {
            throw ScalpelError.invalidArgument("--image-size \(text): give H or HxW in pixels, each 4 to 4096, such as 64 or 64x96")
        }
        return parts.count == 1 ? [parts[0]!, parts[0]!] : [parts[0]!, parts[1]!]
    }

    /// `--window 40,400`: a DICOM window's centre and width (at least 1).
    static func window(_ text: String) throws -> DicomWindow {
        let parts = text.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 2, let center = parts[0], let width = parts[1], center.isFinite, width.isFinite, width >= 1 else {
            throw ScalpelError.invalidArgument("--window \(text): give CENTER,WIDTH with a width of at least 1, such as 40,400 (a CT soft-tissue window)")
        }
        return DicomWindow(center: center, width: width)
    }

    /// The configuration of a new run: the options given, each model's defaults for the rest.
    func newConfig() throws -> TrainingConfig {
        let data = self.data ?? "Data/breastmnist.npz"
        let kind = PreparedData.kind(of: data, model: self.model, keys: try? key.keyRing(prompt: false))
        let recipe = try self.model.map(ModelRecipe.named) ?? ModelRecipe.standard(for: kind ?? .images)
        let model = recipe.name
        let stamp = ISO8601DateFormatter().string(from: Date()).replacingOccurrences(of: ":", with: "")
        var config = TrainingConfig(data: data, label: label ?? "diagnosis", out: out ?? "runs/\(stamp)-\(model)")
        config.positiveClass = positive
        config.dropColumns = drop
        config.categoricalColumns = categorical
        config.featureColumns = features.isEmpty ? nil : features
        config.groupColumn = groupColumn
        if let split { config.split = try TrainCommand.fractions(split) }
        try applyImageOptions(to: &config)
        config.intendedUse = intendedUse
        config.calibrate = calibrate
        config.subgroupColumn = subgroupColumn
        config.model = model
        let defaults = recipe.defaults
        if let epochs {
            config.epochs = epochs
        } else if let steps {
            config.steps = steps
        } else {
            config.budgetRule = defaults.budget
        }
        config.batchSize = batchSize ?? defaults.batchSize
        config.learningRate = lr ?? defaults.learningRate
        config.test = test
        config.validationFraction = validationFraction ?? 0
        config.selection = select ?? .auto
        config.clipNorm = (clipNorm ?? defaults.clipNorm) > 0 ? (clipNorm ?? defaults.clipNorm) : nil
        config.balancedSampling = balanced
        config.classWeights = classWeights
        config.labels = labels
        config.schedule = schedule ?? defaults.schedule
        config.patience = patience ?? 50
        config.earlyStopping = earlyStopping
        let decay = ema ?? defaults.ema
        config.ema = decay == 0 ? nil : decay
        config.weightDecay = weightDecay
        config.augment = augment
        config.targetSensitivity = targetSensitivity
        config.classNames = classNames.map { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } }
        config.dropout = dropout ?? 0.1
        config.seed = seed ?? 0
        config.hidden = hidden ?? 64
        return config
    }

    /// The configuration of a continued run: the checkpoint's own, with the options given laid
    /// over it (the trainer refuses those that contradict the run, naming them); the output
    /// folder defaults to the checkpoint's.
    func resumedConfig(_ checkpoint: URL) throws -> (TrainingConfig, largestTensor: Int) {
        let (saved, largest) = try TrainingRun.checkpointConfig(checkpoint, keys: try key.keyRing(prompt: false))
        var config = saved
        if let data { config.data = data }
        if let test { config.test = test }
        if let labels { config.labels = labels }
        if let label { config.label = label }
        if let positive { config.positiveClass = positive }
        if !drop.isEmpty { config.dropColumns = drop }
        if !categorical.isEmpty { config.categoricalColumns = categorical }
        if !features.isEmpty { config.featureColumns = features }
        if let groupColumn { config.groupColumn = groupColumn }
        if let split { config.split = try TrainCommand.fractions(split) }
        try applyImageOptions(to: &config)
        if let intendedUse { config.intendedUse = intendedUse }
        if let calibrate { config.calibrate = calibrate }
        if let subgroupColumn { config.subgroupColumn = subgroupColumn }
        if let model { config.model = model }
        if let epochs { (config.epochs, config.steps, config.budgetRule) = (epochs, nil, nil) }
        if let steps { (config.steps, config.budgetRule) = (steps, nil) }
        if let batchSize { config.batchSize = batchSize }
        if let lr { config.learningRate = lr }
        if let validationFraction { config.validationFraction = validationFraction }
        if let select { config.selection = select }
        if let clipNorm { config.clipNorm = clipNorm > 0 ? clipNorm : nil }
        if balanced { config.balancedSampling = true }
        if let classWeights { config.classWeights = classWeights }
        if let schedule { config.schedule = schedule }
        if let patience { config.patience = patience }
        if let earlyStopping { config.earlyStopping = earlyStopping }
        if let ema { config.ema = ema == 0 ? nil : ema }
        if let weightDecay { config.weightDecay = weightDecay }
        if augment { config.augment = true }
        if let targetSensitivity { config.targetSensitivity = targetSensitivity }
        if let classNames { config.classNames = classNames.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } }
        if let dropout { config.dropout = dropout }
        if let seed { config.seed = seed }
        if let hidden { config.hidden = hidden }
        config.out = out ?? checkpoint.deletingLastPathComponent().path
        // Contradictions are named before the data is read or a model built.
        try config.checkResumable(from: saved, source: checkpoint.path)
        return (config, largest)
    }


}
