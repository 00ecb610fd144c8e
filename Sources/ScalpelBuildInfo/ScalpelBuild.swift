/// Which Scalpel this is: its version and the git commit it was built from, fixed at build time
/// (also in a build from a `git archive` tarball), as `scalpel --version`, `config.json`,
/// `metrics.json`, the report and every audit record give them.
public enum ScalpelBuild {
    /// The version and the commit's first 12 digits, such as "0.9.0 (1a2b3c4d5e6f)".
    public static var summary: String { "\(version) (\(commit.prefix(12)))" }
}
