import Foundation
import Testing
@testable import ScalpelData

/// Statistics come from the training rows alone and are applied unchanged to every other row.
@Suite struct StandardizerTests {
    // Four training rows (0...3) and one far-off test row (4) that must not move the statistics.
    let features: [Float] = [
        1, 10, 5,
        2, 20, 5,
        3, 30, 5,
        4, 40, 5,
        1000, -500, 7,
    ]
    let training = [0, 1, 2, 3]

    @Test func statisticsComeFromTrainingRowsOnly() throws {
        let s = try Standardizer.fit(features: features, rows: training, featureCount: 3)
        #expect(s.means == [2.5, 25, 5])
        // Population std of 1, 2, 3, 4 is sqrt(1.25); of 10...40 it is 10 × sqrt(1.25).
        #expect(abs(s.standardDeviations[0] - Float(1.25.squareRoot())) < 1e-6)
        #expect(abs(s.standardDeviations[1] - Float(12.5.squareRoot() * 10.0.squareRoot())) < 1e-5)
        #expect(s.standardDeviations[2] == 1 && s.constantColumns == [2])
        #expect(s.fittedRowCount == 4 && s.featureCount == 3)
    }

    @Test func transformedTrainingColumnsHaveMeanZeroAndStdOne() throws {
        let s = try Standardizer.fit(features: features, rows: training, featureCount: 3)
        let z = try s.transform(features, rows: training)
        for column in 0..<2 {
            let values = training.indices.map { Double(z[$0 * 3 + column]) }
            let mean = values.reduce(0, +) / Double(values.count)
            let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)
            #expect(abs(mean) < 1e-6 && abs(variance.squareRoot() - 1) < 1e-6)
        }
        // The constant column maps to 0 instead of dividing by zero.
        #expect(training.indices.allSatisfy { z[$0 * 3 + 2] == 0 })
    }

    @Test func aTestRowUsesTheTrainingStatistics() throws {
        let s = try Standardizer.fit(features: features, rows: training, featureCount: 3)
        let row = try s.transform(features, rows: [4])
        let expected = zip(zip(features[12..<15], s.means), s.standardDeviations).map { ($0.0 - $0.1) / $1 }
        #expect(row == expected)
        #expect(abs(row[0] - (1000 - 2.5) / Float(1.25.squareRoot())) < 1e-3)
        #expect(row[2] == 2)
        // Transforming the whole matrix gives the same numbers for that row.
        #expect(Array(try s.transform(features)[12..<15]) == row)
    }

    @Test func wdbcTrainingSplitIsStandardised() throws {
        let wdbc = try TabularDataset.load(from: wdbcURL, labelColumn: "diagnosis", positiveClass: "M")
        let split = try StratifiedSplit.split(labels: wdbc.labels, fractions: (0.7, 0.15, 0.15), seed: 5)
        let s = try Standardizer.fit(features: wdbc.features, rows: split.train, featureCount: wdbc.featureCount)
        let z = try s.transform(wdbc.features, rows: split.train)
        for column in 0..<wdbc.featureCount {
            let values = split.train.indices.map { Double(z[$0 * wdbc.featureCount + column]) }
            let mean = values.reduce(0, +) / Double(values.count)
            let std = (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)).squareRoot()
            #expect(abs(mean) < 1e-5 && abs(std - 1) < 1e-4, "column \(wdbc.featureNames[column])")
        }
    }

    @Test func inverseTransformRestoresTheValues() throws {
        let s = try Standardizer.fit(features: features, rows: training, featureCount: 3)
        let back = try s.inverseTransform(s.transform(features))
        #expect(zip(back, features).allSatisfy { abs($0 - $1) <= 1e-4 * max(1, abs($1)) })
    }

    @Test func roundTripsThroughJSONAndRefusesCorruptStatistics() throws {
        let s = try Standardizer.fit(features: features, rows: training, featureCount: 3)
        let data = try JSONEncoder().encode(s)
        #expect(try JSONDecoder().decode(Standardizer.self, from: data) == s)

        let corrupt = #"{"means":[1,2],"standardDeviations":[1,0],"constantColumns":[],"fittedRowCount":3}"#
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(Standardizer.self, from: Data(corrupt.utf8)) }
        let mismatched = #"{"means":[1,2],"standardDeviations":[1],"constantColumns":[],"fittedRowCount":3}"#
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(Standardizer.self, from: Data(mismatched.utf8)) }
    }

    @Test func badShapesAndRowsAreRefused() throws {
        #expect(throws: ClinicDataError.self) { try Standardizer.fit(features: features, rows: [], featureCount: 3) }
        #expect(throws: ClinicDataError.self) { try Standardizer.fit(features: features, rows: [5], featureCount: 3) }
        #expect(throws: ClinicDataError.self) { try Standardizer.fit(features: features, rows: [0], featureCount: 4) }
        #expect(throws: ClinicDataError.self) { try Standardizer.fit(features: features, rows: [0], featureCount: 0) }
        let s = try Standardizer.fit(features: features, rows: training, featureCount: 3)
        #expect(throws: ClinicDataError.self) { try s.transform([1, 2]) }
        #expect(throws: ClinicDataError.self) { try s.transform(features, rows: [-1]) }
    }
}
