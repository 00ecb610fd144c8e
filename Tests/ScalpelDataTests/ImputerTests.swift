import Foundation
import Testing
@testable import ScalpelData

/// Filling missing values with training-split statistics.
@Suite struct ImputerTests {
    let nan = Float.nan

    @Test func theMedianAndMeanComeFromTheTrainingRowsOnly() throws {
        // Column 0 over all rows: 1, 2, 100, 3, 50 (median 3); over the training rows 0, 1, 2,
        // 5: 1, 2, 100 and a gap, so the median is 2 and the mean 103 / 3.
        let features: [Float] = [1, 10, 2, 20, 100, nan, 3, 40, 50, 50, nan, 60]
        let training = [0, 1, 2, 5]
        let median = try Imputer.fit(features: features, rows: training, featureCount: 2, strategy: .median)
        #expect(median.fillValues == [2, 20])
        #expect(median.trainingMissingCounts == [1, 1] && median.fittedRowCount == 4)
        #expect(median.featureNames == ["feature 1", "feature 2"])
        let mean = try Imputer.fit(features: features, rows: training, featureCount: 2, strategy: .mean)
        #expect(mean.fillValues == [Float(103.0 / 3), Float(30)])
        // An even count takes the mean of the middle two.
        let even = try Imputer.fit(features: [4, 1, 10, 2], rows: [0, 1, 2, 3], featureCount: 1)
        #expect(even.fillValues == [3] && even.strategy == .median)
    }

    @Test func transformFillsOnlyTheGaps() throws {
        let imputer = try Imputer.fit(features: [1, 10, 3, nan, nan, 30], rows: [0, 1, 2], featureCount: 2)
        #expect(imputer.fillValues == [2, 20])
        let filled = try imputer.transform([nan, 5, 7, nan])
        #expect(filled == [2, 5, 7, 20])
        #expect(throws: ClinicDataError.self) { try imputer.transform([1, 2, 3]) }
        #expect(throws: ClinicDataError.self) { try imputer.transform([1, .infinity]) }
    }

    @Test func aMissingCategoryBecomesAnAllZeroOneHot() throws {
        let d = try TabularDataset(
            table: table("age,sex,dx\n50,M,x\n,F,y\n70,,x\n80,M,y\n"), labelColumn: "dx", options: .init())
        let imputer = try Imputer.fit(d, rows: [0, 1, 3], strategy: .median)
        #expect(imputer.fillValues == [65, 0, 0])
        #expect(imputer.featureKinds == d.featureKinds && imputer.featureNames == ["age", "sex=F", "sex=M"])
        let filled = try imputer.transform(d.features)
        #expect(filled == [50, 0, 1, 65, 1, 0, 70, 0, 0, 80, 0, 1])
        // Once filled, the Standardizer can fit on the rows.
        let scaled = try Standardizer.fit(features: filled, rows: [0, 1, 3], featureCount: 3).transform(filled)
        #expect(scaled.allSatisfy { $0.isFinite })
    }

    @Test func theReportGivesPerColumnCountsAndValues() throws {
        let d = try TabularDataset(
            table: table("age,bp,sex,dx\n50,,M,x\nNA,120,,y\n70,?,F,x\n80,130,M,y\n90,140,,x\n"),
            labelColumn: "dx", options: .init())
        let imputer = try Imputer.fit(d, rows: [0, 1, 3], strategy: .mean)
        let report = try imputer.report(for: d.features)
        #expect(report == [
            .init(column: "age", imputedCount: 1, value: 65, strategy: .mean),
            .init(column: "bp", imputedCount: 2, value: 125, strategy: .mean),
            .init(column: "sex", imputedCount: 2, value: nil, strategy: .mean),
        ])
        #expect(report.map(\.description) == [
            "age: 1 cell imputed with the training mean 65.0",
            "bp: 2 cells imputed with the training mean 125.0",
            "sex: 2 cells imputed as an all-zero one-hot",
        ])
        #expect(try imputer.report(for: imputer.transform(d.features)).isEmpty)
        #expect(throws: ClinicDataError.self) { try imputer.report(for: [1]) }
    }

    @Test func aColumnWithoutTrainingValuesIsAnErrorNamingIt() throws {
        let d = try TabularDataset(
            table: table("age,bp,sex,dx\n50,,M,x\n60,,,y\n70,120,F,x\n80,130,,y\n"), labelColumn: "dx", options: .init())
        let numeric = try #require(throws: ClinicDataError.self) { try Imputer.fit(d, rows: [0, 1]) }
        #expect(numeric.description == "t.csv, column 'bp': no value in the 2 training rows, so there is nothing "
            + "to impute its missing cells from; drop the column or fix the data")
        let categorical = try #require(throws: ClinicDataError.self) { try Imputer.fit(d, rows: [1, 3]) }
        #expect(categorical == .noTrainingValues(.init(source: "t.csv", column: "sex"), trainingRows: 2))
        #expect(try Imputer.fit(d, rows: [0, 2]).fillValues == [60, 120, 0, 0])
    }

    @Test func badArgumentsAreRefused() throws {
        let features: [Float] = [1, 2, 3, 4]
        #expect(throws: ClinicDataError.self) { try Imputer.fit(features: features, rows: [], featureCount: 2) }
        #expect(throws: ClinicDataError.self) { try Imputer.fit(features: features, rows: [2], featureCount: 2) }
        #expect(throws: ClinicDataError.self) { try Imputer.fit(features: features, rows: [0], featureCount: 3) }
        #expect(throws: ClinicDataError.self) { try Imputer.fit(features: features, rows: [0], featureCount: 0) }
        #expect(throws: ClinicDataError.self) {
            try Imputer.fit(features: features, rows: [0], featureCount: 2, featureKinds: [.numeric])
        }
        #expect(throws: ClinicDataError.self) {
            try Imputer.fit(features: features, rows: [0], featureCount: 2, featureNames: ["a"])
        }
        #expect(throws: ClinicDataError.self) {
            try Imputer.fit(features: [1, -.infinity], rows: [0], featureCount: 2)
        }
    }

    @Test func codableRoundTripAndCorruptCheckpointsAreRefused() throws {
        let d = try TabularDataset(
            table: table("age,sex,dx\n50,M,x\n,F,y\n70,,x\n"), labelColumn: "dx", options: .init())
        let imputer = try Imputer.fit(d, rows: [0, 1, 2])
        let data = try JSONEncoder().encode(imputer)
        let decoded = try JSONDecoder().decode(Imputer.self, from: data)
        #expect(decoded == imputer)
        #expect(try decoded.transform(d.features) == imputer.transform(d.features))

        let json = String(decoding: data, as: UTF8.self)
        // A one-hot feature filled with anything but 0.
        var object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        object["fillValues"] = [60, 1, 0]
        let oneHotNotZero = try JSONSerialization.data(withJSONObject: object)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(Imputer.self, from: oneHotNotZero) }
        object["fillValues"] = [60, 0]
        let short = try JSONSerialization.data(withJSONObject: object)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(Imputer.self, from: short) }
        object["fillValues"] = [60, 0, 0]
        object["fittedRowCount"] = 0
        let noRows = try JSONSerialization.data(withJSONObject: object)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(Imputer.self, from: noRows) }
        object["fittedRowCount"] = 3
        #expect(try JSONDecoder().decode(Imputer.self, from: JSONSerialization.data(withJSONObject: object)) == imputer)
        #expect(json.contains("\"median\""))
    }
}
