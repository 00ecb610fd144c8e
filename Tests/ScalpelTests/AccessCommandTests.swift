import Foundation
import ScalpelTestSupport
import Testing

/// `scalpel keys`, `encrypt --steward/--to`, `access list/grant/revoke`, runs on access-controlled
/// data with `--key`, and signed audit records — end to end through the binary.
@Suite struct AccessCommandTests {
    func files(_ folder: URL) -> [String] {
        (FileManager.default.enumerator(atPath: folder.path)?.allObjects as? [String] ?? []).sorted()
    }

    @Test func aTeamSharesADataSetByRoleAndEveryOutputStaysWithIt() throws {
        let folder = try makeTemporaryDirectory("scalpel-access")
        defer { try? FileManager.default.removeItem(at: folder) }
        let log = folder.appending(path: "audit.log").path
        let env: [String: String?] = ["SCALPEL_AUDIT_LOG": log, "SCALPEL_KEY": nil, "SCALPEL_PASSPHRASE": nil, "SCALPEL_KEY_PASSPHRASE": nil]
        let keys = folder.appending(path: "keys")
        func path(_ name: String) -> String { keys.appending(path: name).path }
        for name in ["alice", "bob", "mallory"] {
            let made = try runScalpel(["keys", "new", "--name", name, "--out", keys.path], environment: env)
            #expect(made.status == 0 && made.stdout.contains("Fingerprint of \(name)"), "\(made.stderr)")
        }
        #expect(try runScalpel(["keys", "new", "--name", "alice", "--out", keys.path], environment: env).status != 0, "a key was overwritten")
        // Carol's key is sealed under a passphrase, read from a file of her own.
        let passphrase = folder.appending(path: "carol.pass")
        try Data("carol's long passphrase\n".utf8).write(to: passphrase)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: passphrase.path)
        #expect(try runScalpel(["keys", "new", "--name", "carol", "--out", keys.path, "--passphrase-file", passphrase.path], environment: env).status == 0)
        #expect(!(try String(contentsOfFile: path("carol.key"), encoding: .utf8)).contains("privateKeys"))

        let data = folder.appending(path: "wdbc.csv.enc").path
        let encrypt = try runScalpel(["encrypt", dataPath("wdbc.csv"), "--out", data, "--key", path("alice.key"), "--steward", path("alice.pub"),
                                      "--to", path("bob.pub")], environment: env)
        #expect(encrypt.status == 0 && encrypt.stdout.contains("for 2 recipients"), "\(encrypt.stderr)")
        // The signing key must be one of the stewards.
        let notSteward = try runScalpel(["encrypt", dataPath("wdbc.csv"), "--out", folder.appending(path: "x.enc").path, "--key", path("bob.key"),
                                         "--steward", path("alice.pub")], environment: env)
        #expect(notSteward.status != 0 && notSteward.stderr.contains("not one of its stewards"), "\(notSteward.stderr)")

        // A reader trains; every encrypted output opens for the recipients and no one else.
        let run = folder.appending(path: "run")
        let train = try runScalpel(["train", "--data", data, "--key", path("bob.key"), "--epochs", "3", "--device", "cpu", "--out", run.path], environment: env)
        #expect(train.status == 0, "\(train.stderr)")
        let sealed = files(run).filter { $0.hasSuffix(".enc") }
        #expect(sealed.contains("best.safetensors.enc") && sealed.contains("report.html.enc") && sealed.contains("predictions.csv.enc"), "\(files(run))")
        for name in sealed {
            let file = run.appending(path: name).path
            let list = try runScalpel(["access", "list", file], environment: env)
            #expect(list.status == 0 && list.stdout.contains("2 recipients") && list.stdout.contains("file written by bob"), "\(name): \(list.stdout)\(list.stderr)")
            let opened = folder.appending(path: "opened")
            #expect(try runScalpel(["decrypt", file, "--out", opened.path, "--key", path("alice.key")], environment: env).status == 0, "\(name)")
            try? FileManager.default.removeItem(at: opened)
            let outsider = try runScalpel(["decrypt", file, "--out", opened.path, "--key", path("mallory.key")], environment: env)
            #expect(outsider.status != 0 && outsider.stderr.contains("is not a recipient"), "\(name): \(outsider.stderr)")
            #expect(!FileManager.default.fileExists(atPath: opened.path))
        }

        // Resuming reads the encrypted checkpoint with the same key; a personal key and a shared one together are refused.
        let resumed = try runScalpel(["train", "--data", data, "--key", path("bob.key"), "--epochs", "4", "--device", "cpu", "--out", run.path,
                                      "--resume", run.appending(path: "last.safetensors.enc").path], environment: env)
        #expect(resumed.status == 0 && resumed.stderr.contains("epoch 4/4"), "\(resumed.stderr)")
        let both = try runScalpel(["decrypt", data, "--out", folder.appending(path: "b.csv").path, "--key", path("bob.key"), "--key-file", path("bob.key")],
                                  environment: env)
        #expect(both.status != 0 && both.stderr.contains("not both"), "\(both.stderr)")

        // A non-recipient cannot train, and the run writes nothing.
        let denied = try runScalpel(["train", "--data", data, "--key", path("mallory.key"), "--device", "cpu", "--out", folder.appending(path: "m").path],
                                    environment: env)
        #expect(denied.status != 0 && denied.stderr.contains("mallory") && denied.stderr.contains("is not a recipient"), "\(denied.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder.appending(path: "m/metrics.json").path))

        // A reader cannot grant; a steward can, and the new reader decrypts with a protected key.
        let readerGrant = try runScalpel(["access", "grant", data, "--to", path("carol.pub"), "--key", path("bob.key")], environment: env)
        #expect(readerGrant.status != 0 && readerGrant.stderr.contains("only a steward may grant"), "\(readerGrant.stderr)")
        let grant = try runScalpel(["access", "grant", data, "--to", path("carol.pub"), "--key", path("alice.key")], environment: env)
        #expect(grant.status == 0, "\(grant.stderr)")
        let carolCopy = folder.appending(path: "carol.csv")
        let carolOpens = try runScalpel(["decrypt", data, "--out", carolCopy.path, "--key", path("carol.key"), "--key-passphrase-file", passphrase.path],
                                        environment: env)
        #expect(carolOpens.status == 0, "\(carolOpens.stderr)")
        #expect(try Data(contentsOf: carolCopy) == Data(contentsOf: URL(fileURLWithPath: dataPath("wdbc.csv"))))

        // After revoking Bob, his key opens nothing; Carol still reads it.
        let revoke = try runScalpel(["access", "revoke", data, "--from", "bob", "--key", path("alice.key")], environment: env)
        #expect(revoke.status == 0, "\(revoke.stderr)")
        let bobCopy = folder.appending(path: "bob.csv")
        let bobDenied = try runScalpel(["decrypt", data, "--out", bobCopy.path, "--key", path("bob.key")], environment: env)
        #expect(bobDenied.status != 0 && bobDenied.stderr.contains("is not a recipient"), "\(bobDenied.stderr)")
        let list = try runScalpel(["access", "list", data], environment: env)
        #expect(list.stdout.contains("steward  alice") && list.stdout.contains("reader   carol") && !list.stdout.contains("bob"), "\(list.stdout)")

        // Every command above is in the log, signed; trusting only Alice and Carol reports Bob's and Mallory's records.
        let verify = try runScalpel(["audit", "verify", log], environment: env)
        #expect(verify.status == 0 && verify.stdout.contains("intact"), "\(verify.stdout)\(verify.stderr)")
        // (The refused second `keys new --name alice` left an unsigned record: no key was made to sign it.)
        let strict = try runScalpel(["audit", "verify", log, "--trust", keys.path], environment: env)
        #expect(strict.status != 0 && strict.stdout.contains("1 unsigned record (lines 4)"), "\(strict.stdout)\(strict.stderr)")
        let team = try runScalpel(["audit", "verify", log, "--trust", keys.path, "--allow-unsigned"], environment: env)
        #expect(team.status == 0 && team.stdout.contains("intact"), "\(team.stdout)\(team.stderr)")
        let partial = try runScalpel(["audit", "verify", log, "--trust", path("alice.pub"), "--trust", path("carol.pub")], environment: env)
        #expect(partial.status != 0 && partial.stdout.contains("signed by bob") && partial.stdout.contains("an unknown key"), "\(partial.stdout)")
    }
}
