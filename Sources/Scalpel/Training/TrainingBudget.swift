import Foundation
import ScalpelCore

/// How long a run trains when neither `--epochs` nor `--steps` is given: enough optimizer steps
/// for the model whatever the size of the training set. A fixed epoch count starves small data
/// sets (24 training series at batch 16 are 2 steps an epoch), so the rule asks for at least
/// `minimumSteps` steps and at least `minimumEpochs` epochs, and at most `maximumEpochs`.
public struct TrainingBudget: Codable, Equatable, Sendable {
    /// The fewest optimizer steps a run takes (unless `maximumEpochs` comes first).
    public var minimumSteps: Int
    /// The fewest epochs a run takes, however large its training set.
    public var minimumEpochs: Int
    /// The most epochs a run takes, however small its training set.
    public var maximumEpochs: Int

    /// A rule of at least `minimumSteps` steps and `minimumEpochs` epochs, at most `maximumEpochs`.
    public init(minimumSteps: Int, minimumEpochs: Int, maximumEpochs: Int) {
        (self.minimumSteps, self.minimumEpochs, self.maximumEpochs) = (minimumSteps, minimumEpochs, maximumEpochs)
    }

    /// Optimizer steps in one epoch: every training row once, in batches of `batchSize` (the last
    /// one may be short).
    public static func stepsPerEpoch(trainingRows: Int, batchSize: Int) -> Int {
        max(1, (trainingRows + batchSize - 1) / max(batchSize, 1))
    }

    /// The epochs this rule gives a training set of `trainingRows` at `batchSize`.
    public func epochs(trainingRows: Int, batchSize: Int) -> Int {
        let perEpoch = Self.stepsPerEpoch(trainingRows: trainingRows, batchSize: batchSize)
        let forSteps = (minimumSteps + perEpoch - 1) / perEpoch
        return max(1, min(maximumEpochs, max(minimumEpochs, forSteps)))
    }

    /// "at least 3,000 steps and 100 epochs, at most 2,000 epochs".
    public var description: String {
        "at least \(Self.grouped(minimumSteps)) steps and \(Self.grouped(minimumEpochs)) epochs, at most \(Self.grouped(maximumEpochs)) epochs"
    }

    static func grouped(_ value: Int) -> String {
        let digits = String(value)
        var result = ""
        for (index, character) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { result += "," }
            result.append(character)
        }
        return result
    }
}

/// The budget a run trained under, as config.json records it: where it came from, the epochs
/// and steps, and the training set they were counted from.
public struct ResolvedBudget: Codable, Equatable, Sendable {
    /// Where the epoch count came from.
    public enum Source: String, Codable, Sendable {
        /// The model's default rule (`TrainingBudget`), from the size of the training set.
        case rule
        /// `--epochs`.
        case epochs
        /// `--steps`: the fewest whole epochs that hold that many steps.
        case steps
    }

    /// Where the epoch count came from.
    public var source: Source
    /// The epochs to train (early stopping may end the run sooner).
    public var epochs: Int
    /// The optimizer steps those epochs take.
    public var steps: Int
    /// Optimizer steps per epoch.
    public var stepsPerEpoch: Int
    /// The training rows the steps were counted from.
    public var trainingRows: Int
    /// Rows per step.
    public var batchSize: Int
    /// The training loss's patience in epochs, when the run stops once the loss stalls (the
    /// default budget without a validation split: a fifth of the budget); nil otherwise.
    public var stallPatience: Int?

    /// One line for the start of a run, such as "training 1,500 epochs = 3,000 steps of 16 rows:
    /// the training set has 23 samples (the default budget: …)"; `rule` is the configuration's
    /// `budgetRule`, described when `source` is `rule`.
    public func summary(unit: String, rule: TrainingBudget? = nil) -> String {
        let g = TrainingBudget.grouped
        var text = "training \(g(epochs)) epoch\(epochs == 1 ? "" : "s") = \(g(steps)) steps of \(batchSize) rows: "
            + "the training set has \(g(trainingRows)) \(unit)"
        switch source {
        case .rule: text += " (the default budget: \(rule.map(\.description) ?? "the model's rule"); --epochs or --steps to choose)"
        case .epochs: text += " (--epochs)"
        case .steps: text += " (--steps, rounded up to whole epochs)"
        }
        if let stallPatience { text += "; stops early if the training loss has not improved for \(g(stallPatience)) epochs" }
        return text
    }
}

extension TrainingConfig {
    /// Sets `epochs` from the budget for a training set of `trainingRows`: `steps` when given,
    /// else `budgetRule` when set, else `epochs` as it is; records the outcome in `budget`. Under
    /// the default rule a run without a validation split (`hasValidation` false) and without
    /// `earlyStopping` stops once the training loss has not improved for a fifth of the epochs.
    public mutating func resolveBudget(trainingRows: Int, hasValidation: Bool) throws {
        if let steps, steps < 1 { throw ScalpelError.invalidArgument("--steps \(steps): give a positive number of optimizer steps") }
        let perEpoch = TrainingBudget.stepsPerEpoch(trainingRows: trainingRows, batchSize: batchSize)
        let source: ResolvedBudget.Source
        if let steps {
            epochs = (steps + perEpoch - 1) / perEpoch
            source = .steps
        } else if let budgetRule {
            guard budgetRule.minimumEpochs >= 1, budgetRule.maximumEpochs >= budgetRule.minimumEpochs, budgetRule.minimumSteps >= 0 else {
                throw ScalpelError.invalidArgument("a training budget needs 1 ≤ minimum epochs ≤ maximum epochs and minimum steps ≥ 0")
            }
            epochs = budgetRule.epochs(trainingRows: trainingRows, batchSize: batchSize)
            source = .rule
        } else {
            source = .epochs
        }
        budget = ResolvedBudget(source: source, epochs: epochs, steps: epochs * perEpoch, stepsPerEpoch: perEpoch, trainingRows: trainingRows,
                                batchSize: batchSize,
                                stallPatience: source == .rule && !hasValidation && earlyStopping == nil ? max(1, epochs / 5) : nil)
    }
}

extension TrainingRun {
    /// The budget this run trains under, in one line for its start (nil: none resolved, as for
    /// a saved model).
    public var budgetSummary: String? {
        config.budget.map { $0.summary(unit: [.images: "images", .sequences: "series", .table: "rows"][data.kind] ?? "samples", rule: config.budgetRule) }
    }
}
