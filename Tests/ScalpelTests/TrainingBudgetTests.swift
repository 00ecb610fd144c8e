import Foundation
@testable import Scalpel
import ScalpelTestSupport
import Testing

/// The training budget: epochs counted from the size of the training set, `--steps` and
/// `--epochs` overriding it, config.json recording it, a resume in the middle of it, and the
/// early stopping that goes with it.
@Suite struct TrainingBudgetTests {
    static let signals = TrainingBudget(minimumSteps: 3000, minimumEpochs: 100, maximumEpochs: 2000)

    @Test func theRuleCountsStepsFromTheTrainingSetAndKeepsToItsBounds() {
        #expect(TrainingBudget.stepsPerEpoch(trainingRows: 23, batchSize: 16) == 2)
        #expect(TrainingBudget.stepsPerEpoch(trainingRows: 32, batchSize: 16) == 2)
        #expect(TrainingBudget.stepsPerEpoch(trainingRows: 33, batchSize: 16) == 3)
        #expect(TrainingBudget.stepsPerEpoch(trainingRows: 0, batchSize: 16) == 1)
        // 23 series: 2 steps an epoch, 1,500 epochs for 3,000 steps.
        #expect(Self.signals.epochs(trainingRows: 23, batchSize: 16) == 1500)
        // 100 series: 7 steps an epoch; 429 epochs are the first to reach 3,000 steps.
        #expect(Self.signals.epochs(trainingRows: 100, batchSize: 16) == 429)
        // 500 series (ECG5000): 32 steps; 94 epochs would do, the minimum of 100 holds.
        #expect(Self.signals.epochs(trainingRows: 500, batchSize: 16) == 100)
        // One series: 3,000 epochs capped at 2,000.
        #expect(Self.signals.epochs(trainingRows: 1, batchSize: 16) == 2000)
        #expect(Self.signals.description == "at least 3,000 steps and 100 epochs, at most 2,000 epochs")
        // The built-in recipes: BreastMNIST's 546 images at batch 32 keep their 20 epochs; 100 get 90.
        let convnet = ModelRecipe.convnet.defaults
        #expect(convnet.budget.epochs(trainingRows: 546, batchSize: convnet.batchSize) == 20)
        #expect(convnet.budget.epochs(trainingRows: 100, batchSize: convnet.batchSize) == 90)
        #expect(ModelRecipe.fcn.defaults.budget.epochs(trainingRows: 500, batchSize: 16) == 100)
    }

    @Test func stepsEpochsAndTheRuleResolveAndAreRecorded() throws {
        var config = TrainingConfig(data: "x", label: "y", out: "o")
        config.batchSize = 16
        config.budgetRule = Self.signals
        try config.resolveBudget(trainingRows: 23, hasValidation: false)
        #expect(config.epochs == 1500 && config.budget?.source == .rule && config.budget?.steps == 3000 && config.budget?.stallPatience == 300)
        // With a validation split, or with --early-stop given, the rule does not stop on the training loss.
        try config.resolveBudget(trainingRows: 23, hasValidation: true)
        #expect(config.budget?.stallPatience == nil)
        config.earlyStopping = 7
        try config.resolveBudget(trainingRows: 23, hasValidation: false)
        #expect(config.budget?.stallPatience == nil)
        config.earlyStopping = nil
        // --steps: the fewest whole epochs holding them.
        config.steps = 25
        try config.resolveBudget(trainingRows: 23, hasValidation: false)
        #expect(config.epochs == 13 && config.budget?.source == .steps && config.budget?.steps == 26 && config.budget?.stallPatience == nil)
        config.steps = 0
        #expect(throws: ScalpelError.self) { try config.resolveBudget(trainingRows: 23, hasValidation: false) }
        // --epochs (no steps, no rule): as given.
        (config.steps, config.budgetRule, config.epochs) = (nil, nil, 7)
        try config.resolveBudget(trainingRows: 23, hasValidation: false)
        #expect(config.epochs == 7 && config.budget?.source == .epochs && config.budget?.steps == 14)
        #expect(config.budget!.summary(unit: "series").hasPrefix("training 7 epochs = 14 steps of 16 rows: the training set has 23 series (--epochs)"))
    }

    func configJSON(_ run: URL) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: run.appending(path: "config.json"))) as! [String: Any]
    }

    func history(_ run: URL) throws -> [[String: Any]] {
        let metrics = try JSONSerialization.jsonObject(with: Data(contentsOf: run.appending(path: "metrics.json"))) as! [String: Any]
        return metrics["history"] as! [[String: Any]]
    }

    @Test func theCommandShowsTheBudgetRecordsItAndTakesStepsOrEpochs() throws {
        let folder = try makeTemporaryDirectory("scalpel-budget")
        defer { try? FileManager.default.removeItem(at: folder) }
        let env: [String: String?] = ["SCALPEL_AUDIT_LOG": folder.appending(path: "audit.log").path]
        // The default: WDBC's 398 training rows at batch 32 are 13 steps an epoch; the table rule's
        // 60 epochs (780 steps) cover its 600 steps.
        let plain = folder.appending(path: "default")
        let run = try runScalpel(["train", "--data", dataPath("wdbc.csv"), "--device", "cpu", "--out", plain.path], environment: env)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stderr.contains("scalpel: training 60 epochs = 780 steps of 32 rows: the training set has 398 rows (the default budget: at least 600 steps"),
                "\(run.stderr)")
        let budget = try configJSON(plain)["budget"] as? [String: Any]
        #expect(budget?["source"] as? String == "rule" && budget?["epochs"] as? Int == 60 && budget?["steps"] as? Int == 780
            && budget?["trainingRows"] as? Int == 398, "\(String(describing: budget))")
        #expect(try history(plain).count == 60)
        // --steps 30: three epochs of 13 steps.
        let steps = folder.appending(path: "steps")
        let stepped = try runScalpel(["train", "--data", dataPath("wdbc.csv"), "--device", "cpu", "--steps", "30", "--out", steps.path], environment: env)
        #expect(stepped.status == 0 && stepped.stderr.contains("training 3 epochs = 39 steps"), "\(stepped.stderr)")
        let stepsBudget = try configJSON(steps)["budget"] as? [String: Any]
        let stepsHistory = try history(steps)
        #expect(stepsBudget?["source"] as? String == "steps" && stepsHistory.count == 3)
        let both = try runScalpel(["train", "--data", dataPath("wdbc.csv"), "--epochs", "3", "--steps", "30", "--out", folder.appending(path: "b").path],
                                  environment: env)
        #expect(both.status != 0 && both.stderr.contains("--epochs or --steps, not both"), "\(both.stderr)")
    }

    /// A budgeted run stopped part-way and resumed ends where the uninterrupted run ends, with the
    /// same budget.
    @Test func aRunResumedInTheMiddleOfItsBudgetEndsAsTheWholeRun() throws {
        let folder = try makeTemporaryDirectory("scalpel-budget")
        defer { try? FileManager.default.removeItem(at: folder) }
        setenv("SCALPEL_AUDIT_LOG", folder.appending(path: "audit.log").path, 1)
        func config(_ name: String) -> TrainingConfig {
            var config = TrainingConfig(data: dataPath("wdbc.csv"), label: "diagnosis", out: folder.appending(path: name).path)
            config.budgetRule = TrainingBudget(minimumSteps: 60, minimumEpochs: 2, maximumEpochs: 10)
            config.schedule = .cosine
            return config
        }
        let runtime = try Runtime.open(.cpu, announce: false)
        let whole = try TrainingRun(config: config("whole"), runtime: runtime)
        #expect(whole.config.epochs == 5 && whole.config.budget?.steps == 65)
        let report = try #require(try whole.run(log: { _ in }))

        struct Interrupted: Error {}
        do {  // the interrupted run lets go of its folder when it ends
            let part = try TrainingRun(config: config("part"), runtime: runtime)
            part.trainer.onEpochStart = { epoch in if epoch == 3 { throw Interrupted() } }
            #expect(throws: Interrupted.self) { try part.run(log: { _ in }) }
        }
        let resumed = try TrainingRun(config: config("part"), runtime: runtime)
        let start = try resumed.resume(from: folder.appending(path: "part/last.safetensors"))
        #expect(start == 2)
        let finished = try #require(try resumed.run(startEpoch: start, log: { _ in }))
        #expect(finished.history.count == 5 && finished.epochs == 5)
        #expect(finished.history.map(\.trainLoss) == report.history.map(\.trainLoss))
        #expect(finished.test.accuracy == report.test.accuracy && finished.selectedEpoch == report.selectedEpoch)
    }

    @Test func earlyStoppingFollowsTheBudgetWithAndWithoutAValidationSplit() throws {
        let folder = try makeTemporaryDirectory("scalpel-budget")
        defer { try? FileManager.default.removeItem(at: folder) }
        let runtime = try Runtime.open(.cpu, announce: false)
        // WDBC is split with a validation share: the default budget trains in full, --early-stop watches the selection metric.
        var table = TrainingConfig(data: dataPath("wdbc.csv"), label: "diagnosis", out: folder.appending(path: "t").path)
        table.budgetRule = ModelRecipe.mlp.defaults.budget
        #expect(try TrainingRun(config: table, runtime: runtime).trainer.earlyStopping == nil)
        table.earlyStopping = 4
        let stopping = try TrainingRun(config: table, runtime: runtime).trainer.earlyStopping
        #expect(stopping?.patience == 4 && stopping?.metric == .validationAUROC)
        // A UCR pair has no validation split: under the default budget the run stops once the
        // training loss has not improved for a fifth of it.
        var signals = TrainingConfig(data: dataPath("ECG5000_TRAIN.tsv"), label: "", out: folder.appending(path: "s").path)
        (signals.test, signals.model, signals.batchSize) = (dataPath("ECG5000_TEST.tsv"), "fcn", 16)
        signals.budgetRule = ModelRecipe.fcn.defaults.budget
        let run = try TrainingRun(config: signals, runtime: runtime)
        #expect(run.config.epochs == 100 && run.trainer.earlyStopping?.patience == 20 && run.trainer.earlyStopping?.metric == .trainingLoss)
        signals.budgetRule = nil
        signals.epochs = 100
        #expect(try TrainingRun(config: signals, runtime: runtime).trainer.earlyStopping == nil, "--epochs given: the whole run")
    }
}
