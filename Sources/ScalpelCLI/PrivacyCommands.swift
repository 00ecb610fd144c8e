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
    @OptionGroup var personal: IdentityOptions

    @Option(name: .customLong("key-file"), help: "A key file (64 hex characters or 32 raw bytes). Default: $SCALPEL_KEY, a passphrase, or a prompt.")
    var keyFile: String?

    @Option(name: .customLong("passphrase-file"), help: "A file holding a passphrase (stretched with scrypt). Default: $SCALPEL_PASSPHRASE.")
    var passphraseFile: String?

    @Flag(help: "Refuse key and passphrase files that other users can read (default: warn; also $SCALPEL_STRICT=1).")
    var strict = false

    mutating func validate() throws {
        if strict { setenv("SCALPEL_STRICT", "1", 1) }
        if personal.identityFile != nil && (keyFile != nil || passphraseFile != nil) {
            throw ValidationError("give a personal key (--key) or a shared key (--key-file, --passphrase-file), not both")
        }
    }

    /// The personal key file (`--key`), if given.
    var identityFile: String? { personal.identityFile }

    /// The keys the options and environment give; with none and a terminal on standard input,
    /// a passphrase typed without echo (twice when `confirm`). A personal key is opened first
    /// (asking for its passphrase when it is protected).
    func keyRing(prompt: Bool, confirm: Bool = false) throws -> KeyRing? {
        if identityFile != nil { _ = try personal.unlock() }
        if let keys = try KeyRing.resolve(keyFile: keyFile, passphraseFile: passphraseFile, identityFile: identityFile) { return keys }
        guard prompt, let typed = try promptPassphrase("Passphrase: ", confirm: confirm) else { return nil }
        guard typed.count >= 8 else { throw ScalpelError.invalidArgument("a passphrase needs at least 8 characters") }
        return KeyRing(.passphrase(typed))
    }
}

/// A personal key: `--key NAME.key`, and the passphrase of a protected one.
struct IdentityOptions: ParsableArguments {
    @Option(name: .customLong("key"), help: ArgumentHelp("A personal key (made by `scalpel keys new`): opens files encrypted to you, signs the audit record.",
                                                         valueName: "NAME.key"))
    var identityFile: String?

    @Option(name: .customLong("key-passphrase-file"), help: "The passphrase of a protected personal key. Default: $SCALPEL_KEY_PASSPHRASE, or a prompt.")
    var passphraseFile: String?

    /// The personal key, opened once for the process (nil: no --key).
    func unlock() throws -> Identity? {
        guard let identityFile else { return nil }
        return try reportingEncryption {
            guard FileManager.default.fileExists(atPath: identityFile) else { throw ScalpelError.io(path: identityFile, reason: "no such personal key file") }
            var passphrase: String?
            if Identity.isProtected(URL(fileURLWithPath: identityFile)) {
                passphrase = try readPassphrase(file: passphraseFile, variable: "SCALPEL_KEY_PASSPHRASE", prompt: "Passphrase of \(identityFile): ")
                guard passphrase != nil else {
                    throw ScalpelError.invalidArgument("\(identityFile) is protected by a passphrase: give --key-passphrase-file FILE or set SCALPEL_KEY_PASSPHRASE")
                }
            }
            return try Identity.unlock(identityFile, passphrase: passphrase)
        }
    }
}

/// A passphrase from a file (owner-only, checked), else the environment variable, else typed
/// at a terminal (twice when `confirm`); nil when none is available.
func readPassphrase(file: String?, variable: String, prompt: String, confirm: Bool = false) throws -> String? {
    if let file { return try reportingEncryption { try EncryptionSecret.readPassphraseFile(file) } }
    if let text = ProcessInfo.processInfo.environment[variable], !text.isEmpty { return text }
    return try promptPassphrase(prompt, confirm: confirm)
}

/// A passphrase typed without echo at a terminal (twice when `confirm`); nil without a terminal.
func promptPassphrase(_ prompt: String, confirm: Bool) throws -> String? {
    guard isatty(STDIN_FILENO) == 1, let first = getpass(prompt).map({ String(cString: $0) }) else { return nil }
    if confirm {
        guard let second = getpass("Again: ").map({ String(cString: $0) }), second == first else {
            throw ScalpelError.invalidArgument("the passphrases differ; nothing was written")
        }
    }
    return first
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

            To named people instead of one shared key: --key YOU.key --steward YOU.pub --to BOB.pub … encrypts once \
            under a random data key wrapped for each recipient (HPKE, X25519). Readers may decrypt and train; \
            stewards may also grant and revoke (`scalpel access`). The recipient list is signed by your key, which \
            must be a steward's (with no --steward, you are the steward).
            """)

    @Argument(help: "The file to encrypt.")
    var input: String

    @Option(help: "The encrypted file to write (atomically).")
    var out: String

    @OptionGroup var key: KeyOptions

    @Option(name: .customLong("new-key-file"), help: "Create a new random key in this file (never overwritten) and encrypt with it.")
    var newKeyFile: String?

    @Option(name: .customLong("steward"), help: ArgumentHelp("A steward's public key (may read, grant and revoke); repeat for several.", valueName: "NAME.pub"))
    var stewards: [String] = []

    @Option(name: .customLong("to"), help: ArgumentHelp("A reader's public key (may decrypt and train); repeat for several.", valueName: "NAME.pub"))
    var readers: [String] = []

    /// The signed recipient list the options name; the personal key must be one of its stewards.
    func policy(signedBy identity: Identity) throws -> AccessPolicy {
        var members: [AccessMember] = []
        for (paths, role) in [(stewards, AccessRole.steward), (readers, .reader)] {
            for path in paths {
                let pub = try PublicIdentity.read(URL(fileURLWithPath: path))
                if let other = members.first(where: { $0.fingerprint == pub.fingerprint }) {
                    throw ScalpelError.invalidArgument("\(path): \(pub.name) (\(pub.fingerprint)) is already a recipient as \(other.role.rawValue); give each person once")
                }
                members.append(AccessMember(pub, role: role))
            }
        }
        if stewards.isEmpty { members.insert(AccessMember(identity.publicIdentity, role: .steward), at: 0) }
        do {
            return try AccessPolicy.issue(members: members, by: identity)
        } catch let error as AccessPolicy.Invalid {
            throw ScalpelError.invalidArgument("\(error) (--key must be one of the --steward keys)")
        }
    }

    func run() throws {
        try runReportingErrors {
            try audited("encrypt", inputs: [input], identity: key.personal) { outcome in try reportingEncryption {
                guard FileManager.default.fileExists(atPath: input) else { throw ScalpelError.io(path: input, reason: "no such file") }
                guard URL(fileURLWithPath: out).standardizedFileURL != URL(fileURLWithPath: input).standardizedFileURL else {
                    throw ScalpelError.invalidArgument("--out must differ from the input")
                }
                let plaintext = try Data(contentsOf: URL(fileURLWithPath: input))
                guard !EncryptedFile.isEncrypted(plaintext.prefix(8)) else { throw ScalpelError.invalidArgument("\(input) is already encrypted") }
                let ext = URL(fileURLWithPath: input).pathExtension
                let sealed: Data, summary: String
                if key.identityFile != nil || !stewards.isEmpty || !readers.isEmpty {
                    guard let identity = try key.personal.unlock() else {
                        throw ScalpelError.invalidArgument("--steward and --to need --key YOU.key: the recipient list is signed by a steward's personal key")
                    }
                    guard newKeyFile == nil else { throw ScalpelError.invalidArgument("--new-key-file makes a shared key; leave it out with --steward and --to") }
                    let policy = try policy(signedBy: identity)
                    sealed = try AccessControlledFile.seal(plaintext, fileExtension: ext, policy: policy, writer: identity)
                    summary = "for \(policy.members.count) recipient\(policy.members.count == 1 ? "" : "s") (AES-256-GCM, data key wrapped with HPKE), "
                        + "signed by \(identity.name):\n" + policy.summary.map { "  " + $0 }.joined(separator: "\n")
                } else {
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
                    sealed = try EncryptedFile.seal(plaintext, keys: keys, fileExtension: ext)
                    summary = "(AES-256-GCM\(newKeyFile.map { "; new key in \($0), keep it safe: without it the data is lost" } ?? ""))"
                }
                try AtomicFile.write(sealed, to: URL(fileURLWithPath: out))
                outcome.outputs = [out]
                print("Encrypted \(input) → \(out) " + summary)
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
            try audited("decrypt", inputs: [input], identity: key.personal) { outcome in try reportingEncryption {
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
        abstract: "The audit trail: every train, eval, explain, deid, encrypt, decrypt and access run appends a hash-chained line (signed with --key).",
        subcommands: [Verify.self])

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the audit log: any edited, removed or reordered line, or lines cut off its end, is reported; non-zero exit if so.")

        @Argument(help: "The log (default: $SCALPEL_AUDIT_LOG, else ~/.local/share/scalpel/audit.log).")
        var log: String?

        @Option(help: ArgumentHelp("Public keys whose signatures are trusted (a .pub file, or a folder of them); repeat for several. "
                                   + "Records unsigned or signed by any other key are then reported and fail the check.", valueName: "PUB"))
        var trust: [String] = []

        @Flag(name: .customLong("allow-unsigned"), help: "With --trust: list unsigned records (runs without --key) but do not fail on them.")
        var allowUnsigned = false

        static func ranges(_ lines: [Int]) -> String {
            var parts: [String] = []
            var index = 0
            while index < lines.count {
                var end = index
                while end + 1 < lines.count && lines[end + 1] == lines[end] + 1 { end += 1 }
                parts.append(end == index ? "\(lines[index])" : "\(lines[index])–\(lines[end])")
                index = end + 1
            }
            return parts.joined(separator: ", ")
        }

        func trustedKeys() throws -> [PublicIdentity] {
            var files: [String] = []
            for path in trust {
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw ScalpelError.io(path: path, reason: "no such file or folder") }
                if isDirectory.boolValue {
                    let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
                    files += names.filter { $0.hasSuffix(".pub") }.sorted().map { URL(fileURLWithPath: path).appending(path: $0).path }
                } else {
                    files.append(path)
                }
            }
            return try reportingEncryption { try files.map { try PublicIdentity.read(URL(fileURLWithPath: $0)) } }
        }

        func run() throws {
            try runReportingErrors {
                let audit = log.map { AuditLog(url: URL(fileURLWithPath: $0)) } ?? AuditLog.standard()
                let trusted = trust.isEmpty ? nil : try trustedKeys()
                if let trusted, trusted.isEmpty { throw ScalpelError.invalidArgument("--trust names no .pub files") }
                let result: AuditLog.Verification
                do { result = try audit.verify(trusting: trusted) } catch { throw ScalpelError.io(path: audit.url.path, reason: "\(error)") }
                var failures = result.problems
                if trusted != nil {
                    failures += result.unknownSigners.map { "line \($0.line): signed by \($0.signer.name) (\($0.signer.fingerprint)), an unknown key (not among --trust)" }
                    if !allowUnsigned && !result.unsigned.isEmpty {
                        failures.append("\(result.unsigned.count) unsigned record\(result.unsigned.count == 1 ? "" : "s") (lines \(Self.ranges(result.unsigned))): not attributable to a trusted key")
                    }
                }
                let signed = result.signers.values.sorted { $0.signer.name < $1.signer.name }
                    .map { "\($0.signer.name) (\($0.signer.fingerprint)\(trusted == nil ? ", not checked against --trust" : "")): \($0.records)" }
                if failures.isEmpty {
                    print("\(audit.url.path): intact, \(result.records) records")
                } else {
                    print("\(audit.url.path): \(failures.count) problem\(failures.count == 1 ? "" : "s") in \(result.records) records")
                    for problem in failures { print("  " + problem) }
                }
                if !signed.isEmpty { print("  signed records: " + signed.joined(separator: "; ")) }
                if !result.unsigned.isEmpty && (trusted == nil || allowUnsigned) {
                    print("  unsigned records (runs without --key): \(result.unsigned.count) (lines \(Self.ranges(result.unsigned)))")
                }
                if !failures.isEmpty { throw ExitCode(1) }
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
