import Foundation
import Scalpel
import ScalpelTestSupport
import Testing

/// A hospital's export as `scalpel train` meets it: rows per admission with a patient id, an
/// admission date and a record number beside the measurements. The split keeps each patient in
/// one split; identifier- and date-like columns are not features unless named, and the run says
/// which it left out.
struct ClinicalTableSplitTests {
    /// 60 patients with 1–4 admissions each; the label depends on the first measurement.
    static func export() -> String {
        var random = SeededRandom(seed: 12)
        var lines = ["patient_id,admit_date,mrn,ward,lactate,age,outcome"]
        var record = 0
        for patient in 0 ..< 60 {
            let admissions = 1 + Int(random.uniform(below: 4))
            for visit in 0 ..< admissions {
                record += 1
                let lactate = random.uniform(0, 4)
                let outcome = lactate + random.uniform(-0.5, 0.5) > 2 ? "died" : "survived"
                let date = String(format: "2024-%02d-%02d", 1 + (patient + visit) % 12, 1 + (patient * 3 + visit) % 28)
                let ward = ["A", "B", "C"][Int(random.uniform(below: 3))]
                lines.append("P\(1000 + patient),\(date),MRN\(50_000 + record),\(ward),\(String(format: "%.3f", lactate)),\(40 + (patient * 7) % 45),\(outcome)")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    func write(_ folder: URL) throws -> String {
        let path = folder.appending(path: "export.csv").path
        try Data(Self.export().utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func aGroupedSplitKeepsEachPatientInOneSplitAndIdentifiersAreLeftOut() throws {
        let folder = try makeTemporaryDirectory("scalpel-clinical")
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = try write(folder)
        var config = TrainingConfig(data: path, label: "outcome", out: "")
        config.positiveClass = "died"
        config.groupColumn = "patient_id"
        let data = try PreparedData.load(config)
        let table = try CSVTable.load(from: URL(fileURLWithPath: path))
        let patients = table.column(named: "patient_id")!
        let splits = [data.train, data.validation, data.test].map { Set($0.map { patients[$0] }) }
        #expect(splits[0].isDisjoint(with: splits[1]) && splits[0].isDisjoint(with: splits[2]) && splits[1].isDisjoint(with: splits[2]),
                "a patient in two splits")
        #expect(splits.map(\.count).reduce(0, +) == 60 && data.train.count + data.validation.count + data.test.count == table.rowCount)
        #expect(data.notes["split"]?.contains("by patient_id: 60 groups") == true, "\(data.notes["split"] ?? "")")
        // Left out: the date and the record number; kept: the ward (3 words), lactate and age.
        let leftOut = try #require(data.notes["columns left out"])
        #expect(leftOut.contains("admit_date (dates)") && leftOut.contains("mrn (unique per row"), "\(leftOut)")
        #expect(!leftOut.contains("ward") && !leftOut.contains("lactate") && !leftOut.contains("age"), "\(leftOut)")
        #expect(data.sampleShape == [5], "lactate, age and three ward one-hots: \(data.sampleShape)")
        // Named, a column is a feature again.
        config.featureColumns = ["mrn"]
        let named = try PreparedData.load(config)
        #expect(named.notes["columns left out"]?.contains("mrn") == false && named.sampleShape[0] > 5)
    }

    /// Without the group column, the same file splits rows, not patients: some patient then has
    /// rows in two splits — what the grouped split prevents.
    @Test func anUngroupedSplitMixesPatients() throws {
        let folder = try makeTemporaryDirectory("scalpel-clinical")
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = try write(folder)
        let data = try PreparedData.load(path, label: "outcome", positiveClass: "died")
        let patients = try CSVTable.load(from: URL(fileURLWithPath: path)).column(named: "patient_id")!
        let train = Set(data.train.map { patients[$0] }), test = Set(data.test.map { patients[$0] })
        #expect(!train.isDisjoint(with: test))
    }

    /// The command: --group-column and --split, the left-out columns said in one line, and a
    /// --split that does not add up refused.
    @Test func theCommandGroupsSplitsAndSaysWhatItLeftOut() throws {
        let folder = try makeTemporaryDirectory("scalpel-clinical")
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = try write(folder)
        let run = try runScalpel(["train", "--data", path, "--label", "outcome", "--positive", "died", "--group-column", "patient_id",
                                  "--split", "60,20,20", "--epochs", "3", "--device", "cpu", "--out", folder.appending(path: "run").path])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stderr.contains("scalpel: columns left out: admit_date (dates); mrn (unique per row"), "\(run.stderr)")
        let metrics = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appending(path: "run/metrics.json"))) as! [String: Any]
        let notes = metrics["data"] as? [String: String]
        #expect(notes?["split"]?.contains("shares 60/20/20 %") == true, "\(String(describing: notes?["split"]))")
        let bad = try runScalpel(["train", "--data", path, "--label", "outcome", "--split", "70,20,20", "--device", "cpu",
                                  "--out", folder.appending(path: "bad").path])
        #expect(bad.status != 0 && bad.stderr.contains("--split 70,20,20"), "\(bad.stderr)")
        let missing = try runScalpel(["train", "--data", path, "--label", "outcome", "--group-column", "patient", "--device", "cpu",
                                      "--out", folder.appending(path: "missing").path])
        #expect(missing.status != 0 && missing.stderr.contains("no column patient"), "\(missing.stderr)")
    }
}

/// `--test FILE` for a CSV: a predefined test set (a later period, another site) goes through
/// the training file's pipeline; the training file gives the training and validation rows.
struct CSVTestFileTests {
    @Test func aSeparateTestTableIsPreparedWithTheTrainingStatistics() throws {
        let folder = try makeTemporaryDirectory("scalpel-csv-test")
        defer { try? FileManager.default.removeItem(at: folder) }
        let lines = try String(contentsOfFile: dataPath("wdbc.csv"), encoding: .utf8).split(whereSeparator: \.isNewline).map(String.init)
        let (header, rows) = (lines[0], Array(lines.dropFirst()))
        let train = folder.appending(path: "train.csv").path, test = folder.appending(path: "test.csv").path
        try ([header] + rows.prefix(400)).joined(separator: "\n").write(toFile: train, atomically: true, encoding: .utf8)
        try ([header] + rows.dropFirst(400)).joined(separator: "\n").write(toFile: test, atomically: true, encoding: .utf8)
        var config = TrainingConfig(data: train, label: "diagnosis", out: "")
        config.positiveClass = "M"
        config.test = test
        let data = try PreparedData.load(config)
        #expect(data.test == Array(400 ..< 569) && data.train.count + data.validation.count == 400)
        #expect(Set(data.train).isDisjoint(with: data.validation))
        // Standardised with the training rows' statistics: their mean is 0 per feature, the test rows' is not forced to be.
        let width = data.sampleShape[0]
        let trainMean = data.train.map { data.values[$0 * width] }.reduce(0, +) / Float(data.train.count)
        #expect(Swift.abs(trainMean) < 1e-4, "\(trainMean)")
        #expect(data.notes["split"]?.contains("the test rows are test.csv (169 rows") == true, "\(data.notes["split"] ?? "")")

        let run = try runScalpel(["train", "--data", train, "--test", test, "--label", "diagnosis", "--positive", "M", "--epochs", "5",
                                  "--device", "cpu", "--out", folder.appending(path: "run").path])
        #expect(run.status == 0, "\(run.stderr)")
        let metrics = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appending(path: "run/metrics.json"))) as! [String: Any]
        #expect((metrics["rows"] as? [String: Int])?["test"] == 169)
        // A test file without a column the model trains on is an error naming the file and the column.
        try ([header.replacingOccurrences(of: "radius_mean", with: "radius")] + rows.dropFirst(400)).joined(separator: "\n")
            .write(toFile: test, atomically: true, encoding: .utf8)
        #expect(throws: ScalpelError.self) { try PreparedData.load(config) }
        do { _ = try PreparedData.load(config) } catch { #expect("\(error)".contains("test.csv") && "\(error)".contains("radius_mean"), "\(error)") }
    }
}
