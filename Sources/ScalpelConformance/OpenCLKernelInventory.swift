import ScalpelOpenCL

/// The `__kernel` functions of the OpenCL sources the backend builds (embedded, or replaced
/// through `SCALPEL_KERNELS`), by name, with the file each is in. The self-test's coverage
/// check compares them with the kernels the cases claim.
public enum OpenCLKernelInventory {
    /// Kernel name → source file (`gemm.cl` …) of every source.
    public static func kernels() throws -> [String: String] {
        var table: [String: String] = [:]
        for file in KernelSources.embeddedNames {
            for name in kernelNames(in: try KernelSources.source(named: file).text) { table[name] = file }
        }
        return table
    }

    /// The names of the kernels defined in OpenCL C `source`: each `__kernel` (or `kernel`)
    /// function, attributes between the qualifier and `void` allowed; comments are skipped.
    public static func kernelNames(in source: String) -> [String] {
        let code = withoutComments(source)
        var names: [String] = []
        var tokens = tokenize(code)[...]
        while let token = tokens.popFirst() {
            guard token == "__kernel" || token == "kernel" else { continue }
            // Skip attributes: __attribute__ followed by a balanced (( … )).
            while tokens.first == "__attribute__" {
                tokens.removeFirst()
                var depth = 0
                while let t = tokens.popFirst() {
                    if t == "(" { depth += 1 } else if t == ")" { depth -= 1; if depth == 0 { break } }
                }
            }
            guard tokens.first == "void" else { continue }
            tokens.removeFirst()
            if let name = tokens.popFirst(), tokens.first == "(" { names.append(name) }
        }
        return names
    }

    /// The file holding kernel `name`, if any.
    public static func file(of name: String) -> String? { (try? kernels())?[name] }

    private static func withoutComments(_ source: String) -> String {
        var result = ""
        var chars = source[...]
        while let c = chars.first {
            if chars.hasPrefix("//") {
                chars = chars.drop { $0 != "\n" }
            } else if chars.hasPrefix("/*") {
                if let end = chars.dropFirst(2).range(of: "*/") { chars = chars[end.upperBound...] } else { chars = "" }
                result.append(" ")
            } else {
                result.append(c)
                chars = chars.dropFirst()
            }
        }
        return result
    }

    /// Identifiers and single punctuation characters.
    private static func tokenize(_ code: String) -> [String] {
        var tokens: [String] = []
        var current = ""
        for c in code {
            if c.isLetter || c.isNumber || c == "_" {
                current.append(c)
            } else {
                if !current.isEmpty { tokens.append(current); current = "" }
                if !c.isWhitespace { tokens.append(String(c)) }
            }
        }
        if !current.isEmpty { tokens.append(current) }
        return tokens
    }
}
