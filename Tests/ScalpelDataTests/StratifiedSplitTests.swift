import Testing
import ScalpelCore
@testable import ScalpelData

/// Stratified splits keep class proportions, cover every row once, and depend only on the seed.
@Suite struct StratifiedSplitTests {
    static let fractions = (train: 0.7, validation: 0.15, test: 0.15)

    func wdbcLabels() throws -> [Int32] {
        try TabularDataset.load(from: wdbcURL, labelColumn: "diagnosis", positiveClass: "M").labels
    }

    @Test func splitMix64MatchesTheReferenceOutputs() {
        // The first outputs of the reference C implementation (splitmix64.c) for seed 1234567.
        var generator = SeededRandom(seed: 1_234_567)
        let expected: [UInt64] = [
            6_457_827_717_110_365_317, 3_203_168_211_198_807_973, 9_817_491_932_198_370_423,
            4_593_380_528_125_082_431, 16_408_922_859_458_223_821,
        ]
        #expect((0..<5).map { _ in generator.next() } == expected)
    }

    @Test func shuffleIsAPermutationAndUniformStaysBelowItsBound() {
        var generator = SeededRandom(seed: 7)
        var values = Array(0..<100)
        generator.shuffle(&values)
        #expect(values.sorted() == Array(0..<100) && values != Array(0..<100))
        for bound: UInt64 in [1, 2, 3, 10, 1 << 40, .max] {
            for _ in 0..<200 { #expect(generator.uniform(below: bound) < bound) }
        }
    }

    @Test func wdbcSplitKeepsClassProportionsWithinOneRow() throws {
        let labels = try wdbcLabels()
        let split = try StratifiedSplit.split(labels: labels, fractions: Self.fractions, seed: 42)
        let shares = [Self.fractions.train, Self.fractions.validation, Self.fractions.test]
        for (rows, share) in zip([split.train, split.validation, split.test], shares) {
            for (label, classSize) in [(Int32(0), 357), (1, 212)] {
                let count = rows.filter { labels[$0] == label }.count
                #expect(abs(Double(count) - share * Double(classSize)) < 1, "class \(label): \(count) rows at \(share)")
            }
        }
        #expect(split.train.count + split.validation.count + split.test.count == 569)
        #expect(split.seed == 42)
    }

    @Test func splitsAreDisjointSortedAndCoverEveryRow() throws {
        let labels = try wdbcLabels()
        let split = try StratifiedSplit.split(labels: labels, fractions: Self.fractions, seed: 3)
        let all = split.train + split.validation + split.test
        #expect(Set(all).count == all.count)
        #expect(all.sorted() == Array(0..<labels.count))
        #expect(split.train == split.train.sorted() && split.test == split.test.sorted())
    }

    @Test func sameSeedSameSplitOtherSeedOtherSplit() throws {
        let labels = try wdbcLabels()
        let a = try StratifiedSplit.split(labels: labels, fractions: Self.fractions, seed: 1)
        let b = try StratifiedSplit.split(labels: labels, fractions: Self.fractions, seed: 1)
        let c = try StratifiedSplit.split(labels: labels, fractions: Self.fractions, seed: 2)
        #expect(a == b)
        #expect(a.train != c.train && a.test != c.test)
    }

    @Test func largestRemainderKeepsEveryShareWithinOneRow() {
        let shares = [0.6, 0.25, 0.15]
        for count in 0...300 {
            let counts = StratifiedSplit.apportion(count, shares)
            #expect(counts.reduce(0, +) == count)
            for (c, share) in zip(counts, shares) { #expect(abs(Double(c) - share * Double(count)) < 1) }
        }
    }

    @Test func aClassTooSmallForEverySplitIsRefused() throws {
        let labels: [Int32] = Array(repeating: 0, count: 20) + [1, 1]
        let error = try #require(throws: ClinicDataError.self) {
            try StratifiedSplit.split(labels: labels, fractions: Self.fractions, seed: 0)
        }
        #expect(error.description == "stratified split: class 1 has 2 rows, too few for the validation split to get one "
            + "at fractions 0.7/0.15/0.15; each class needs at least 5 rows")
        // Five rows is enough: 0.7/0.15/0.15 of 5 is 3.5/0.75/0.75, apportioned 3/1/1.
        let five: [Int32] = Array(repeating: 0, count: 20) + Array(repeating: 1, count: 5)
        let split = try StratifiedSplit.split(labels: five, fractions: Self.fractions, seed: 0)
        #expect([split.train, split.validation, split.test].map { $0.filter { five[$0] == 1 }.count } == [3, 1, 1])
    }

    @Test func badFractionsAndLabelsAreRefused() throws {
        let labels: [Int32] = Array(repeating: 0, count: 50) + Array(repeating: 1, count: 50)
        let zero = try #require(throws: ClinicDataError.self) {
            try StratifiedSplit.split(labels: labels, fractions: (0.8, 0, 0.2), seed: 0)
        }
        #expect(zero.description == "stratified split: the validation fraction is 0.0; every split needs a positive fraction")
        let sum = try #require(throws: ClinicDataError.self) {
            try StratifiedSplit.split(labels: labels, fractions: (0.8, 0.2, 0.2), seed: 0)
        }
        #expect(sum.description == "stratified split: the fractions 0.8/0.2/0.2 add up to 1.2, not 1")
        #expect(throws: ClinicDataError.self) { try StratifiedSplit.split(labels: [], fractions: Self.fractions, seed: 0) }
        #expect(throws: ClinicDataError.self) {
            try StratifiedSplit.split(labels: labels + [-1], fractions: Self.fractions, seed: 0)
        }
    }
}
