// scalpel-fuzz: a deterministic mutation fuzzer for Scalpel's file readers (safetensors, .npy,
// .npz, CSV, UCR). Each input is written to OUT/current-<format>.bin before it is parsed, so
// when a reader traps the input that killed the process is on disk; a watchdog ends the
// process with a HANG marker when one input runs too long. scripts/fuzz.sh drives it.
import ScalpelCore
import Foundation
import ScalpelData

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

let usage = """
    usage: scalpel-fuzz [--format safetensors|npy|npz|csv|ucr|all] [--iterations N] [--seed S]
                        [--corpus DIR]... [--out DIR] [--max-seconds-per-input T] [--max-input-bytes B]
                        [--iteration I] [--verbose]
           scalpel-fuzz --format F --replay FILE...
           scalpel-fuzz --dump-seeds DIR

      --format                 the reader to fuzz, or all of them in turn (default all)
      --iterations             mutated inputs per format (default 1000)
      --seed                   the run's seed; the same seed gives the same inputs (default 1)
      --corpus                 extra seed files: *.safetensors, *.npy, *.npz, *.csv, *.tsv/*.ucr/*.txt,
                               or any file named <format>-*; may be repeated
      --out                    where current-<format>.bin, HANG and VIOLATION go (default ./fuzz-out)
      --max-seconds-per-input  the watchdog's limit for one input (default 10)
      --max-input-bytes        mutated inputs are cut to this size (default 1048576)
      --iteration              run only this iteration (to reproduce one input)
      --replay                 parse the given files and report each outcome
      --dump-seeds             write the generated seeds to DIR and exit
    """

struct Options {
    var formats: [Format] = Format.allCases
    var iterations = 1000
    var seed: UInt64 = 1
    var corpus: [URL] = []
    var out = URL(fileURLWithPath: "fuzz-out")
    var maxSeconds = 10.0
    var maxInputBytes = 1 << 20
    var onlyIteration: Int?
    var verbose = false
    var replay: [URL] = []
    var dumpSeeds: URL?
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("scalpel-fuzz: \(message)\n".utf8))
    exit(2)
}

func parseOptions(_ arguments: [String]) -> Options {
    var options = Options()
    var index = 0
    func value(_ flag: String) -> String {
        index += 1
        guard index < arguments.count else { fail("\(flag) needs a value\n\(usage)") }
        return arguments[index]
    }
    while index < arguments.count {
        let flag = arguments[index]
        switch flag {
        case "--format":
            let name = value(flag)
            if name == "all" {
                options.formats = Format.allCases
            } else if let format = Format(rawValue: name) {
                options.formats = [format]
            } else {
                fail("unknown format '\(name)'; one of \(Format.allCases.map(\.rawValue).joined(separator: ", ")), all")
            }
        case "--iterations":
            guard let count = Int(value(flag)), count >= 0 else { fail("--iterations needs a count") }
            options.iterations = count
        case "--seed":
            guard let seed = UInt64(value(flag)) else { fail("--seed needs a non-negative integer") }
            options.seed = seed
        case "--corpus":
            options.corpus.append(URL(fileURLWithPath: value(flag)))
        case "--out":
            options.out = URL(fileURLWithPath: value(flag))
        case "--max-seconds-per-input":
            guard let seconds = Double(value(flag)), seconds > 0 else { fail("--max-seconds-per-input needs a positive number") }
            options.maxSeconds = seconds
        case "--max-input-bytes":
            guard let bytes = Int(value(flag)), bytes > 0 else { fail("--max-input-bytes needs a positive count") }
            options.maxInputBytes = bytes
        case "--iteration":
            guard let iteration = Int(value(flag)), iteration >= 0 else { fail("--iteration needs an index") }
            options.onlyIteration = iteration
        case "--verbose":
            options.verbose = true
        case "--replay":
            while index + 1 < arguments.count, !arguments[index + 1].hasPrefix("--") {
                index += 1
                options.replay.append(URL(fileURLWithPath: arguments[index]))
            }
        case "--dump-seeds":
            options.dumpSeeds = URL(fileURLWithPath: value(flag))
        case "-h", "--help":
            print(usage)
            exit(0)
        default:
            fail("unknown argument '\(flag)'\n\(usage)")
        }
        index += 1
    }
    return options
}

/// Whether a corpus file is an input for `format`.
func belongs(_ url: URL, to format: Format) -> Bool {
    let name = url.lastPathComponent.lowercased()
    if name.hasPrefix(format.rawValue + "-") { return true }
    if Format.allCases.contains(where: { name.hasPrefix($0.rawValue + "-") }) { return false }
    switch format {
    case .safetensors: return name.hasSuffix(".safetensors")
    case .npy: return name.hasSuffix(".npy")
    case .npz: return name.hasSuffix(".npz")
    case .csv: return name.hasSuffix(".csv")
    case .ucr: return name.hasSuffix(".tsv") || name.hasSuffix(".ucr") || name.hasSuffix(".txt")
    }
}

/// The corpus files of `format` no larger than `maxBytes`, in a fixed order.
func corpusFiles(_ directories: [URL], format: Format, maxBytes: Int) -> [[UInt8]] {
    var files: [URL] = []
    for directory in directories {
        guard let walker = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: [.isRegularFileKey]) else { continue }
        for case let url as URL in walker where belongs(url, to: format) {
            if (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true { files.append(url) }
        }
    }
    return files.sorted { $0.path < $1.path }.compactMap { url in
        guard let data = try? Data(contentsOf: url), data.count <= maxBytes else { return nil }
        return [UInt8](data)
    }
}

/// Writes `bytes` as the whole content of the file at `path`, through the kernel, so that it
/// is on disk even if the process dies right after.
func writeCurrent(_ bytes: [UInt8], to path: String) {
    let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard descriptor >= 0 else { fail("cannot write \(path): \(String(cString: strerror(errno)))") }
    defer { close(descriptor) }
    var written = 0
    bytes.withUnsafeBytes { buffer in
        while written < buffer.count {
            let result = write(descriptor, buffer.baseAddress! + written, buffer.count - written)
            if result <= 0 { fail("cannot write \(path): \(String(cString: strerror(errno)))") }
            written += result
        }
    }
}

/// The generator of one iteration, independent of every other iteration.
func generator(seed: UInt64, format: Format, iteration: Int) -> SeededRandom {
    let formatIndex = UInt64(Format.allCases.firstIndex(of: format)! + 1)
    return SeededRandom(seed: seed ^ (formatIndex &* 0xD1B5_4A32_D192_ED03) ^ (UInt64(iteration) &* 0x9E37_79B9_7F4A_7C15))
}

/// The peak resident memory of this process, in MiB.
func peakMemoryMiB() -> Int {
    var usage = rusage()
    #if canImport(Darwin)
    getrusage(RUSAGE_SELF, &usage)
    return Int(usage.ru_maxrss) / (1 << 20)
    #else
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return Int(usage.ru_maxrss) / 1024
    #endif
}

/// Reports a violation and ends the process; the input stays in current-<format>.bin.
func reportViolation(_ text: String, format: Format, label: String, operations: [String], out: URL) -> Never {
    let message = "VIOLATION \(format.rawValue) \(label): \(text)\n  mutations: \(operations.joined(separator: ", "))\n"
        + "  the input is current-\(format.rawValue).bin\n"
    _ = FileManager.default.createFile(atPath: out.appendingPathComponent("VIOLATION").path, contents: Data(message.utf8))
    FileHandle.standardError.write(Data(("scalpel-fuzz: " + message).utf8))
    exit(3)
}

/// Counts of one format's run.
struct Tally {
    var inputs = 0
    var parsed = 0
    var rejected: [String: Int] = [:]
    var seedsParsed = 0
    var seeds = 0
    var seconds = 0.0
    var slowest = 0.0

    var summary: String {
        let rate = seconds > 0 ? Int(Double(inputs) / seconds) : 0
        let kinds = rejected.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            .map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        return "\(inputs) inputs in \(String(format: "%.1f", seconds)) s (\(rate)/s, slowest \(String(format: "%.3f", slowest)) s): "
            + "\(parsed) parsed, \(rejected.values.reduce(0, +)) rejected; seeds \(seedsParsed)/\(seeds) parse\n"
            + "    rejected by kind: \(kinds.isEmpty ? "none" : kinds)"
    }
}

func run(_ format: Format, options: Options, watchdog: Watchdog) -> Tally {
    let target = Target(format: format)
    let generated = Seeds.generated(format)
    let corpus = corpusFiles(options.corpus, format: format, maxBytes: options.maxInputBytes)
    let mutator = Mutator(format: format, seeds: generated + corpus, maxBytes: options.maxInputBytes)
    let currentPath = options.out.appendingPathComponent("current-\(format.rawValue).bin").path
    let currentURL = URL(fileURLWithPath: currentPath)
    var tally = Tally()

    func parse(_ bytes: [UInt8], label: String, iteration: Int, operations: [String]) -> Outcome {
        writeCurrent(bytes, to: currentPath)
        let start = monotonicNanoseconds()
        watchdog.begin(format: format, iteration: iteration)
        let outcome = target.run(bytes, file: currentURL)
        watchdog.end()
        let seconds = Double(monotonicNanoseconds() - start) / 1e9
        tally.seconds += seconds
        tally.slowest = max(tally.slowest, seconds)
        if case .violation(let text) = outcome {
            reportViolation(text, format: format, label: label, operations: operations, out: options.out)
        }
        if options.verbose { print("\(format.rawValue) \(label): \(outcome) \(operations.joined(separator: ", "))") }
        return outcome
    }

    if options.onlyIteration == nil {
        for (index, seed) in (generated + corpus).enumerated() {
            tally.seeds += 1
            if case .ok = parse(seed, label: "seed \(index)", iteration: -1 - index, operations: []) {
                tally.seedsParsed += 1
            } else if index < generated.count {
                FileHandle.standardError.write(Data("scalpel-fuzz: warning: generated \(format.rawValue) seed \(index) does not parse\n".utf8))
            }
        }
    }
    let iterations = options.onlyIteration.map { $0..<$0 + 1 } ?? 0..<options.iterations
    for iteration in iterations {
        // No input on disk while the next one is made: a crash in the harness itself leaves none,
        // rather than the previous input, which parsed fine.
        unlink(currentPath)
        var rng = generator(seed: options.seed, format: format, iteration: iteration)
        let (bytes, operations) = mutator.input(rng: &rng)
        tally.inputs += 1
        switch parse(bytes, label: "iteration \(iteration)", iteration: iteration, operations: operations) {
        case .ok: tally.parsed += 1
        case .rejected(let kind, _): tally.rejected[kind, default: 0] += 1
        case .violation: break
        }
        if !options.verbose, (iteration + 1) % 5000 == 0 {
            FileHandle.standardError.write(Data("scalpel-fuzz: \(format.rawValue) \(iteration + 1)/\(options.iterations)\n".utf8))
        }
    }
    return tally
}

// MARK: main

let options = parseOptions(Array(CommandLine.arguments.dropFirst()))

if let directory = options.dumpSeeds {
    try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let extensions: [Format: String] = [.safetensors: "safetensors", .npy: "npy", .npz: "npz", .csv: "csv", .ucr: "tsv"]
    for format in Format.allCases {
        for (index, seed) in Seeds.generated(format).enumerated() {
            let url = directory.appendingPathComponent("seed-\(index).\(extensions[format]!)")
            _ = FileManager.default.createFile(atPath: url.path, contents: Data(seed))
        }
    }
    print("wrote the generated seeds to \(directory.path)")
    exit(0)
}

if !options.replay.isEmpty {
    guard options.formats.count == 1 else { fail("--replay needs one --format") }
    let target = Target(format: options.formats[0])
    var violations = 0
    for url in options.replay {
        guard let data = try? Data(contentsOf: url) else { fail("cannot read \(url.path)") }
        let outcome = target.run([UInt8](data), file: url)
        if case .violation = outcome { violations += 1 }
        switch outcome {
        case .ok: print("\(url.lastPathComponent): parsed")
        case .rejected(let kind, let message): print("\(url.lastPathComponent): rejected (\(kind)): \(message)")
        case .violation(let text): print("\(url.lastPathComponent): VIOLATION: \(text)")
        }
    }
    exit(violations == 0 ? 0 : 3)
}

do {
    try FileManager.default.createDirectory(at: options.out, withIntermediateDirectories: true)
} catch {
    fail("cannot create \(options.out.path): \(error.localizedDescription)")
}
for marker in ["HANG", "VIOLATION"] { try? FileManager.default.removeItem(at: options.out.appendingPathComponent(marker)) }
let watchdog = Watchdog(limitSeconds: options.maxSeconds, outDirectory: options.out)
watchdog.start()
print("scalpel-fuzz: seed \(options.seed), \(options.iterations) iterations per format, "
    + "\(options.maxSeconds) s per input at most, inputs up to \(options.maxInputBytes) bytes")
for format in options.formats {
    let tally = run(format, options: options, watchdog: watchdog)
    print("\(format.rawValue): \(tally.summary)")
}
print("no crash, hang or contract violation; peak memory \(peakMemoryMiB()) MiB")
exit(0)
