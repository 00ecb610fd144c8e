import ArgumentParser
import Foundation
import Scalpel
import ScalpelCore
import ScalpelIO
import ScalpelPrivacy

struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Personal keys: an X25519 key pair that data keys are wrapped to and an Ed25519 key pair that signs.",
        subcommands: [New.self, Show.self])

    struct New: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a personal key pair: DIR/NAME.key (yours alone, mode 0600) and DIR/NAME.pub (to share).",
            discussion: """
                Give NAME.pub to whoever encrypts data for you or grants you access; compare its fingerprint with \
                them by another channel (a call, in person). Keep NAME.key to yourself: with --protect or \
                --passphrase-file its private keys are sealed under a passphrase (scrypt, N = 2^17, r = 8). \
                A lost key is lost access; existing files are never overwritten.
                """)

        @Option(help: "Your name (letters, digits, '.', '_' or '-'): it names the files and appears in access lists.")
        var name: String

        @Option(help: "The folder to write NAME.key and NAME.pub into (default: the current folder).")
        var out: String = "."

        @Flag(help: "Seal the private keys under a passphrase typed at the prompt (twice).")
        var protect = false

        @Option(name: .customLong("passphrase-file"), help: "Seal the private keys under the passphrase in this file.")
        var passphraseFile: String?

        func run() throws {
            try runReportingErrors { try audited("keys new", inputs: []) { outcome in try reportingEncryption {
                let identity = try Identity.generate(name: name)
                var passphrase: String?
                if protect || passphraseFile != nil {
                    passphrase = try readPassphrase(file: passphraseFile, variable: "SCALPEL_KEY_PASSPHRASE", prompt: "Passphrase for \(name).key: ", confirm: true)
                    guard let text = passphrase, text.count >= 8 else { throw ScalpelError.invalidArgument("a passphrase needs at least 8 characters") }
                }
                let folder = URL(fileURLWithPath: out)
                do {
                    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                } catch {
                    throw ScalpelError.io(path: out, reason: "cannot create the folder")
                }
                let (keyURL, pubURL) = try identity.write(into: folder, passphrase: passphrase)
                outcome.outputs = [pubURL.path]
                outcome.signer = identity
                print("Made \(keyURL.path) (private, mode 0600\(passphrase == nil ? "" : ", sealed under your passphrase")) and \(pubURL.path) (to share)")
                print("Fingerprint of \(name): \(identity.fingerprint)")
            } } }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show the name and fingerprint of a .pub or .key file (no passphrase needed).")

        @Argument(help: "NAME.pub or NAME.key.")
        var file: String

        func run() throws {
            try runReportingErrors { try reportingEncryption {
                let pub = try PublicIdentity.read(URL(fileURLWithPath: file))
                print("\(pub.name) \(pub.fingerprint)")
            } }
        }
    }
}

struct AccessCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "access",
        abstract: "Who may open a file encrypted to named recipients: list, grant, revoke.",
        discussion: """
            Files made by `scalpel encrypt --key YOU.key --steward … --to …`, and every output of a run on one, carry a \
            recipient list signed by a steward. Readers may decrypt and train; stewards may also grant and revoke. \
            Granting wraps the data key for one more person (the content is not re-encrypted); revoking re-encrypts \
            under a new data key, since the person removed may have kept the old one. Each change is signed by the \
            steward who made it and recorded in the audit log.
            """,
        subcommands: [List.self, Grant.self, Revoke.self])

    /// Writes `data` over `input` (or to `out`) atomically: the old file stays whole until the new one is.
    static func replace(_ input: String, out: String?, with data: Data) throws -> String {
        let target = out ?? input
        try AtomicFile.write(data, to: URL(fileURLWithPath: target))
        return target
    }

    static func read(_ path: String) throws -> Data {
        guard let data = FileManager.default.contents(atPath: path) else { throw ScalpelError.io(path: path, reason: "no such file") }
        return data
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show who holds access, with roles and fingerprints; checks the list's and the file's signatures (no key needed).")

        @Argument(help: "The encrypted file.")
        var file: String

        func run() throws {
            try runReportingErrors { try reportingEncryption {
                let access = try AccessControlledFile.access(try AccessCommand.read(file), source: file)
                let policy = access.policy
                let signer = policy.member(policy.signer)!
                print("\(file): \(policy.members.count) recipient\(policy.members.count == 1 ? "" : "s") (data set \(policy.dataset))")
                print("  list signed by \(signer.name) (\(signer.fingerprint)), steward, on \(policy.issued)")
                print("  file written by \(access.writer.name) (\(access.writer.fingerprint))")
                for line in policy.summary { print("  " + line) }
            } }
        }
    }

    struct Grant: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Give one more person access (a steward's key signs the new list; no re-encryption).")

        @Argument(help: "The encrypted file.")
        var file: String

        @Option(help: ArgumentHelp("The new recipient's public key.", valueName: "NAME.pub"))
        var to: String

        @Option(help: "reader (may decrypt and train) or steward (may also grant and revoke).")
        var role: String = "reader"

        @OptionGroup var personal: IdentityOptions

        @Option(help: "Write the changed file here (default: replace the file, atomically).")
        var out: String?

        func run() throws {
            try runReportingErrors { try audited("access grant", inputs: [file], identity: personal) { outcome in try reportingEncryption {
                guard let role = AccessRole(rawValue: role) else { throw ScalpelError.invalidArgument("--role \(role): choose reader or steward") }
                guard let steward = outcome.signer else { throw ScalpelError.invalidArgument("give --key YOU.key, a steward's personal key") }
                let recipient = try PublicIdentity.read(URL(fileURLWithPath: to))
                let changed = try AccessControlledFile.grant(try AccessCommand.read(file), to: recipient, role: role, steward: steward, source: file)
                let written = try AccessCommand.replace(file, out: out, with: changed)
                outcome.outputs = [written]
                print("Granted \(recipient.name) (\(recipient.fingerprint)) \(role.rawValue) access to \(written), signed by \(steward.name)")
            } } }
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a person's access: re-encrypts under a new data key for everyone else (a steward's key signs).")

        @Argument(help: "The encrypted file.")
        var file: String

        @Option(help: "The recipient to remove: a name or a fingerprint as `scalpel access list` shows them.")
        var from: String

        @OptionGroup var personal: IdentityOptions

        @Option(help: "Write the changed file here (default: replace the file, atomically).")
        var out: String?

        func run() throws {
            try runReportingErrors { try audited("access revoke", inputs: [file], identity: personal) { outcome in try reportingEncryption {
                guard let steward = outcome.signer else { throw ScalpelError.invalidArgument("give --key YOU.key, a steward's personal key") }
                let (changed, removed) = try AccessControlledFile.revoke(try AccessCommand.read(file), from: from, steward: steward, source: file)
                let written = try AccessCommand.replace(file, out: out, with: changed)
                outcome.outputs = [written]
                print("Revoked \(removed.name) (\(removed.fingerprint)) from \(written): re-encrypted under a new data key, signed by \(steward.name)")
                print("Copies made before the revocation (and their plaintext) are beyond reach; outputs of earlier runs keep their old lists.")
            } } }
        }
    }
}
