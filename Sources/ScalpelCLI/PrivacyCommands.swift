import ArgumentParser
import Foundation
import Scalpel
import ScalpelData
import ScalpelCore
import ScalpelIO
import ScalpelPrivacy
#if canImport(Glibc)
import Glibc
#endif

/// Where the encryption key comes from.
struct KeyOptions: ParsableArguments {
    @Option(name: .customLong("key-file"), help: "A key file (64 hex characters or 32 raw bytes). Default: $SCALPEL_KEY, a passphrase, or a prompt.")
    var keyFile: String?

    @Option(name: .customLong("passphrase-file"), help: "A file holding a passphrase (stretched with scrypt). Default: $SCALPEL_PASSPHRASE.")
    var passphraseFile: String?

    @Flag(help: "Refuse key and passphrase files that other users can read (default: warn; also $SCALPEL_STRICT=1).")
    var strict = false

    mutating func validate() throws {
        if strict { setenv("SCALPEL_STRICT", "1", 1) }
    }

    /// The keys the options and environment give; with none and a terminal on standard input,
    /// a passphrase typed without echo (twice when `confirm`).
    func keyRing(prompt: Bool, confirm: Bool = false) throws -> KeyRing? {
        if let keys = try KeyRing.resolve(keyFile: keyFile, passphraseFile: passphraseFile) { return keys }
        guard prompt, isatty(STDIN_FILENO) == 1 else { return nil }
        guard let first = getpass("Passphrase: ").map({ String(cString: $0) }), first.count >= 8 else {
            throw ScalpelError.invalidArgument("a passphrase needs at least 8 characters")
        }
        if confirm {
            guard let second = getpass("Passphrase again: ").map({ String(cString: $0) }), second == first else {
                throw ScalpelError.invalidArgument("the passphrases differ; nothing was written")
            }
        }
        return KeyRing(.passphrase(first))
    }
}

/// Turns an encryption error into Scalpel's error line.
func reportingEncryption<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let error as EncryptionError { throw ScalpelError.invalidArgument(error.description) }
}

struct EncryptCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encrypt",
        abstract: "Encrypt a data set or checkpoint with AES-256-GCM (train and eval read it without a plaintext copy).",
        discussion: """
            The key: --key-file (or --new-key-file to create one, mode 0600), $SCALPEL_KEY, --passphrase-file, \
            $SCALPEL_PASSPHRASE, or a passphrase typed at the prompt (stretched with scrypt, N = 2^17, r = 8). The \
            output records the content's format (csv, npz, tsv, npy, safetensors) so `scalpel train --data FILE.enc` \
            knows what it holds; the header is authenticated with the content.
            """)

    @Argument(help: "The file to encrypt.")
    var input: String

    @Option(help: "The encrypted file to write (atomically).")
    var out: String

    @OptionGroup var key: KeyOptions

    @Option(name: .customLong("new-key-file"), help: "Create a new random key in this file (never overwritten) and encrypt with it.")
    var newKeyFile: String?

    func run() throws {
        try runReportingErrors {
            try audited("encrypt", inputs: [input]) { outcome in try reportingEncryption {
                guard FileManager.default.fileExists(atPath: input) else { throw ScalpelError.io(path: input, reason: "no such file") }
                guard URL(fileURLWithPath: out).standardizedFileURL != URL(fileURLWithPath: input).standardizedFileURL else {
                    throw ScalpelError.invalidArgument("--out must differ from the input")
                }
                let keys: KeyRing
                if let newKeyFile {
                    guard !FileManager.default.fileExists(atPath: newKeyFile) else {
                        throw ScalpelError.invalidArgument("\(newKeyFile) exists; a key file is never overwritten (use --key-file to encrypt with it)")
                    }
                    keys = KeyRing(try EncryptionSecret.newKeyFile(URL(fileURLWithPath: newKeyFile)))
                } else {
                    guard let ring = try key.keyRing(prompt: true, confirm: true) else { throw EncryptionError.noKey }
                    keys = ring
                }
                let plaintext = try Data(contentsOf: URL(fileURLWithPath: input))
                guard !EncryptedFile.isEncrypted(plaintext.prefix(8)) else { throw ScalpelError.invalidArgument("\(input) is already encrypted") }
                let sealed = try EncryptedFile.seal(plaintext, keys: keys, fileExtension: URL(fileURLWithPath: input).pathExtension)
                try AtomicFile.write(sealed, to: URL(fileURLWithPath: out))
                outcome.outputs = [out]
                print("Encrypted \(input) → \(out) (AES-256-GCM\(newKeyFile.map { "; new key in \($0), keep it safe: without it the data is lost" } ?? ""))")
            } }
        }
    }
}

struct DecryptCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decrypt",
        abstract: "Decrypt a file written by `scalpel encrypt` or an encrypted run; a wrong key or a changed byte writes nothing.")

    @Argument(help: "The encrypted file.")
    var input: String

    @Option(help: "The plaintext file to write (atomically, mode 0600).")
    var out: String

    @OptionGroup var key: KeyOptions

    func run() throws {
        try runReportingErrors {
            try audited("decrypt", inputs: [input]) { outcome in try reportingEncryption {
                guard FileManager.default.fileExists(atPath: input) else { throw ScalpelError.io(path: input, reason: "no such file") }
                guard let keys = try key.keyRing(prompt: true) else { throw EncryptionError.noKey }
                let (plaintext, ext) = try EncryptedFile.open(try Data(contentsOf: URL(fileURLWithPath: input)), keys: keys, source: input)
                // Private from the first byte (AtomicFile): plaintext patient data.
                try AtomicFile.write(plaintext, to: URL(fileURLWithPath: out))
                outcome.outputs = [out]
                print("Decrypted \(input) → \(out) (\(plaintext.count) bytes of .\(ext))")
            } }
        }
    }
}

struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "The audit trail: every train, eval, explain, deid, encrypt and decrypt run appends a hash-chained line.",
        subcommands: [Verify.self])

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the audit log: any edited, removed or reordered line, or lines cut off its end, is reported; non-zero exit if so.")

        @Argument(help: "The log (default: $SCALPEL_AUDIT_LOG, else ~/.local/share/scalpel/audit.log).")
        var log: String?

        func run() throws {
            try runReportingErrors {
                let audit = log.map { AuditLog(url: URL(fileURLWithPath: $0)) } ?? AuditLog.standard()
                let result: AuditLog.Verification
                do { result = try audit.verify() } catch { throw ScalpelError.io(path: audit.url.path, reason: "\(error)") }
                if result.isIntact {
                    print("\(audit.url.path): intact, \(result.records) records")
                    return
                }
                print("\(audit.url.path): \(result.problems.count) problem\(result.problems.count == 1 ? "" : "s") in \(result.records) records")
                for problem in result.problems { print("  " + problem) }
                throw ExitCode(1)
            }
        }
    }
}

struct DeidCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deid",
        abstract: "De-identify a CSV table by HIPAA Safe Harbor: drop, generalise or pseudonymise the 18 identifiers.",
        discussion: """
            Identifier columns are found by name and by their values. Names, addresses, cities, phone and fax \
            numbers, e-mail, SSN, URLs and IP addresses are dropped; ZIP codes cut to 3 digits (000 for the \
            sparsely populated prefixes); dates kept to the year (or, with --dates shift, moved by a consistent \
            per-patient offset); ages over 89 become 90+; record, account, licence and device numbers and the \
            patient column become keyed pseudonyms (HMAC-SHA256 with the key: the same value gives the same \
            pseudonym in every file de-identified with that key). Identifiers inside free text become tags. \
            Writes OUT and a report of what changed (OUT.report.json), which never contains a cell of the input. \
            Keep the key away from the de-identified data: whoever holds it can recompute the pseudonyms.
            """)

    @Argument(help: "The CSV table to de-identify.")
    var input: String

    @Option(help: "The de-identified CSV to write (atomically).")
    var out: String

    @Option(name: .customLong("key-file"), help: "The pseudonym key (64 hex characters).")
    var keyFile: String?

    @Option(name: .customLong("new-key-file"), help: "Create a new pseudonym key in this file (mode 0600, never overwritten) and use it.")
    var newKeyFile: String?

    @Option(name: .customLong("patient-column"), help: "The column identifying the patient (pseudonymised; the key of date shifts).")
    var patientColumn: String?

    @Option(help: "Dates: year (keep only the year) or shift (a consistent per-patient shift of up to a year; needs --patient-column).")
    var dates: String = "year"

    @Option(parsing: .upToNextOption, help: "Columns that are not identifiers whatever they look like (kept as they are).")
    var keep: [String] = []

    @Option(parsing: .upToNextOption, help: "Columns to drop.")
    var drop: [String] = []

    @Option(name: .customLong("free-text"), parsing: .upToNextOption, help: "Columns of free text to scrub (long text columns are found anyway).")
    var freeText: [String] = []

    @Flag(name: .customLong("day-first"), help: "Read dates like 05/03/2024 as 5 March (default: month first).")
    var dayFirst = false

    @Option(help: "Where to write the report (default: OUT.report.json).")
    var report: String?

    @Flag(help: "Refuse a key file that other users can read (default: warn; also $SCALPEL_STRICT=1).")
    var strict = false

    mutating func validate() throws {
        if strict { setenv("SCALPEL_STRICT", "1", 1) }
    }

    func run() throws {
        try runReportingErrors { try audited("deid", inputs: [input]) { outcome in
            guard FileManager.default.fileExists(atPath: input) else { throw ScalpelError.io(path: input, reason: "no such file") }
            guard URL(fileURLWithPath: out).standardizedFileURL != URL(fileURLWithPath: input).standardizedFileURL else {
                throw ScalpelError.invalidArgument("--out must differ from the input")
            }
            let rule: Deidentifier.DateRule
            switch dates {
            case "year": rule = .yearOnly
            case "shift": rule = .shift
            default: throw ScalpelError.invalidArgument("--dates \(dates): choose year or shift")
            }
            let key: DeidentificationKey
            do {
                switch (keyFile, newKeyFile) {
                case let (path?, nil):
                    do { try SecretFilePermissions.check(path) } catch { throw ScalpelError.invalidArgument("\(error)") }
                    key = try DeidentificationKey(contentsOf: URL(fileURLWithPath: path))
                case let (nil, path?):
                    key = DeidentificationKey.generate()
                    try key.write(to: URL(fileURLWithPath: path))
                default: throw ScalpelError.invalidArgument("give --key-file KEY (or --new-key-file KEY to create one), not both")
                }
            } catch let error as DeidentificationError {
                throw ScalpelError.invalidArgument(error.description)
            }
            let options = Deidentifier.Options(dates: rule, patientColumn: patientColumn, keep: keep, drop: drop, freeText: freeText, dayFirst: dayFirst)
            let result: (csv: String, report: DeidentificationReport)
            do {
                result = try Deidentifier(key: key, options: options).deidentify(try CSVTable.load(from: URL(fileURLWithPath: input)))
            } catch let error as DeidentificationError {
                throw ScalpelError.invalidArgument(error.description)
            } catch {
                throw ScalpelError.invalidArgument("\(error)")
            }
            let reportPath = report ?? out + ".report.json"
            try AtomicFile.write(Data(result.csv.utf8), to: URL(fileURLWithPath: out))
            try AtomicFile.write(Data(result.report.json().utf8), to: URL(fileURLWithPath: reportPath))
            outcome.outputs = [out, reportPath]
            let changed = result.report.columns.filter { $0.action != .kept }
            print("De-identified \(result.report.rows) rows of \(input) → \(out) (key \(key.fingerprint)); report in \(reportPath)")
            for column in changed {
                print("  \(column.name): \(column.kind.rawValue), \(column.action.rawValue) (\(column.cellsChanged) cells; found by \(column.detectedBy))")
            }
        } }
    }
}
