import Foundation
import ScalpelTestSupport
import Testing

/// `scalpel train` on files that are broken or not what their extension says: one clear error
/// line naming the file (and line and column where there is one), exit status 2, no crash and
/// no run folder.
@Suite struct MalformedInputTests {
    static let cases: [(name: String, bytes: [UInt8], expected: [String])] = [
        ("image.csv", [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0xFF, 0xFE], ["image.csv", "line 1", "not a text file"]),
        ("table.npz", Array("a,b,label\n1,2,x\n".utf8), ["table.npz", "zip"]),
        ("image.tsv", [0xFF, 0xD8, 0xFF, 0xE0, 0x00], ["image.tsv", "not a text file"]),
        ("ragged.csv", Array("a,b,label\n1,2,x\n3,4\n".utf8), ["ragged.csv", "line 3", "2 fields"]),
        ("word.csv", Array("a,b,label\n1,2,x\n3,4,y\n5,6,x\n7,oops,y\n".utf8), ["word.csv", "line 5", "'b'"]),
        ("nan.csv", Array("a,b,label\n1,NaN,x\n3,4,y\n".utf8), ["nan.csv", "line 2", "'b'"]),
        ("header.csv", Array("a,,label\n1,2,x\n".utf8), ["header.csv", "line 1", "empty header name"]),
        ("tiny.csv", Array("a,b,label\n1,2,x\n3,4,y\n".utf8), ["tiny.csv", "too few"]),
        ("empty.csv", [], ["empty.csv", "empty"]),
        ("signals.tsv", Array("1\t0.5\t0.25\n2\t0.1\tInf\n".utf8), ["signals.tsv", "line 2"]),
        ("unknown.xlsx", Array("PK".utf8), ["unknown.xlsx", "unknown data format"]),
    ]

    @Test(arguments: cases.indices)
    func aMalformedFileIsOneClearError(_ index: Int) throws {
        let (name, bytes, expected) = Self.cases[index]
        let folder = try makeTemporaryDirectory("scalpel-bad")
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appending(path: name)
        try Data(bytes).write(to: file)
        let out = folder.appending(path: "run")
        let result = try runScalpel(["train", "--data", file.path, "--label", "label", "--device", "cpu", "--out", out.path])
        #expect(result.status == 2, "\(name): status \(result.status), \(result.stderr)")
        let errors = result.stderrLines.filter { $0.hasPrefix("scalpel: error:") }
        #expect(errors.count == 1, "\(name): \(result.stderr)")
        for part in expected { #expect(errors.first?.contains(part) == true, "\(name): '\(part)' missing from \(result.stderr)") }
        #expect(!FileManager.default.fileExists(atPath: out.appending(path: "metrics.json").path))
    }
}
