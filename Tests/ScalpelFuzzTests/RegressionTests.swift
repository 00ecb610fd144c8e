// Every input kept in Regressions/ (one that once crashed, hung or broke a reader's contract)
// goes through its reader again: it must parse, or be refused with an error of the reader's own
// type whose message names the input.
import Foundation
import Testing

/// The kept inputs, by file name; the format is the name up to the first '-'.
let regressionFiles: [String] = {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: regressionsDirectory.path)) ?? []
    return names.filter { $0.hasSuffix(".bin") }.sorted()
}()

@Suite struct RegressionTests {
    @Test(arguments: regressionFiles)
    func keptInputIsParsedOrRefusedCleanly(_ name: String) throws {
        let format = try #require(Format(rawValue: String(name.prefix { $0 != "-" })), "\(name) does not start with a format name")
        let bytes = try [UInt8](Data(contentsOf: regressionsDirectory.appendingPathComponent(name)))
        // answer(_:_:source:) throws when the error is of the wrong type or does not name the source.
        if case .refused(let message) = try answer(format, bytes, source: name) {
            #expect(!message.isEmpty)
        }
    }

    @Test func theRegressionsFolderHoldsOnlyInputsOfKnownFormats() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: regressionsDirectory.path).filter { !$0.hasPrefix(".") }
        #expect(!names.isEmpty)
        for name in names {
            #expect(name.hasSuffix(".bin") && Format(rawValue: String(name.prefix { $0 != "-" })) != nil,
                    "\(name) is not named <format>-<id>.bin, so no test would replay it")
        }
    }
}
