import Glibc

/// One replayable case: commands run on a fresh connection after FLUSHALL, on each protocol listed.
struct DiffCase {
    var name: String
    var commands: [DiffCommand]
    var protocols: [Int] = [2, 3]
    /// Indexes of commands whose replies are inherently nondeterministic (`~` lines): compared by kind only.
    var loose: Set<Int> = []
    /// Indexes of commands compared byte for byte even where `DiffNormalizer` is lenient (`=` lines), e.g.
    /// SMEMBERS of a set known to be an intset, which must answer in ascending order.
    var exact: Set<Int> = []
}

/// The regression corpus in IntegrationTests/Corpus: every `*.txt` there is replayed on every run.
///
/// Format (one file per case, see Corpus/README.md): one command per line, arguments separated by spaces
/// and quoted as redis-cli and `sdssplitargs` do (`"a b"`, `"\x00\r\n\"\\"`, `'single'`); `#` starts a
/// comment line; `#! resp 2` or `#! resp 3` limits the case to one protocol (default: both); a command
/// line starting with `~` has a nondeterministic reply (ids, times, hash order): only its kind is compared;
/// one starting with `=` is compared byte for byte, without the normalizer's allowances.
enum DiffCorpus {
    static var directory: String {
        let file = "\(#filePath)"
        let testsDir = file[..<file.lastIndex(of: "/")!]               // IntegrationTests/Tests
        let root = testsDir[..<testsDir.lastIndex(of: "/")!]          // IntegrationTests
        return root + "/Corpus"
    }

    /// Every case in the corpus directory, in file-name order; malformed files are reported as errors.
    static func load() -> (cases: [DiffCase], errors: [String]) {
        var cases: [DiffCase] = []
        var errors: [String] = []
        for name in listFiles(directory).filter({ $0.hasSuffix(".txt") }).sorted() {
            guard let text = readFile(directory + "/" + name) else {
                errors.append("\(name): unreadable")
                continue
            }
            do {
                cases.append(try parse(text, name: name))
            } catch {
                errors.append("\(name): \(error)")
            }
        }
        return (cases, errors)
    }

    static func parse(_ text: [UInt8], name: String) throws -> DiffCase {
        var c = DiffCase(name: name, commands: [])
        for (n, raw) in text.split(separator: 10, omittingEmptySubsequences: false).enumerated() {
            var line = Array(raw)
            if line.last == 13 { line.removeLast() }
            let trimmed = line.drop { $0 == 32 || $0 == 9 }
            if trimmed.isEmpty { continue }
            if trimmed.starts(with: Array("#!".utf8)) {
                let words = String(decoding: trimmed.dropFirst(2), as: UTF8.self).split(separator: " ")
                if words.count == 2 && words[0] == "resp", let v = Int(words[1]), v == 2 || v == 3 {
                    c.protocols = [v]
                } else {
                    throw RawClientError.malformed("line \(n + 1): unknown directive")
                }
                continue
            }
            if trimmed.first == UInt8(ascii: "#") { continue }
            let loose = trimmed.first == UInt8(ascii: "~")
            let exact = trimmed.first == UInt8(ascii: "=")
            guard let args = splitLine(Array(loose || exact ? trimmed.dropFirst() : trimmed)), !args.isEmpty else {
                throw RawClientError.malformed("line \(n + 1): unbalanced quotes")
            }
            if loose { c.loose.insert(c.commands.count) }
            if exact { c.exact.insert(c.commands.count) }
            c.commands.append(args)
        }
        return c
    }

    /// Splits a line into arguments the way `sdssplitargs` (redis-cli) does. Nil on unbalanced quotes.
    static func splitLine(_ s: [UInt8]) -> [[UInt8]]? {
        var args: [[UInt8]] = []
        var i = 0
        func isSpace(_ c: UInt8) -> Bool { c == 32 || c == 9 || c == 10 || c == 13 || c == 11 || c == 12 }
        func hexValue(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: return c - 48
            case 97...102: return c - 87
            case 65...70: return c - 55
            default: return nil
            }
        }
        while true {
            while i < s.count && isSpace(s[i]) { i += 1 }
            if i == s.count { return args }
            var current: [UInt8] = []
            var inDouble = false
            var inSingle = false
            while true {
                if inDouble {
                    guard i < s.count else { return nil }
                    if s[i] == 92 && i + 3 < s.count && s[i + 1] == UInt8(ascii: "x"),
                       let h = hexValue(s[i + 2]), let l = hexValue(s[i + 3]) {
                        current.append(h << 4 | l)
                        i += 3
                    } else if s[i] == 92 && i + 1 < s.count {
                        i += 1
                        switch s[i] {
                        case UInt8(ascii: "n"): current.append(10)
                        case UInt8(ascii: "r"): current.append(13)
                        case UInt8(ascii: "t"): current.append(9)
                        case UInt8(ascii: "b"): current.append(8)
                        case UInt8(ascii: "a"): current.append(7)
                        default: current.append(s[i])
                        }
                    } else if s[i] == 34 {
                        // A closing quote must be followed by a space or the end of the line.
                        if i + 1 < s.count && !isSpace(s[i + 1]) { return nil }
                        i += 1
                        break
                    } else {
                        current.append(s[i])
                    }
                } else if inSingle {
                    guard i < s.count else { return nil }
                    if s[i] == 92 && i + 1 < s.count && s[i + 1] == 39 {
                        i += 1
                        current.append(39)
                    } else if s[i] == 39 {
                        if i + 1 < s.count && !isSpace(s[i + 1]) { return nil }
                        i += 1
                        break
                    } else {
                        current.append(s[i])
                    }
                } else {
                    if i == s.count || isSpace(s[i]) { break }
                    if s[i] == 34 { inDouble = true } else if s[i] == 39 { inSingle = true } else { current.append(s[i]) }
                }
                i += 1
            }
            args.append(current)
        }
    }

    /// One argument in the corpus syntax: bare when that is unambiguous, else double-quoted with escapes.
    static func formatArgument(_ a: [UInt8]) -> String {
        let bare = !a.isEmpty && a.allSatisfy { $0 > 32 && $0 < 127 && $0 != 34 && $0 != 39 && $0 != 92 }
        if bare { return String(decoding: a, as: UTF8.self) }
        return rawEscaped(a, limit: .max)
    }

    static func formatCommand(_ c: DiffCommand) -> String { c.map(formatArgument).joined(separator: " ") }

    /// A command for a report: long arguments shortened to their start and length.
    static func describe(_ c: DiffCommand) -> String {
        c.map { $0.count > 80 ? rawEscaped(Array($0.prefix(40))) + "...(\($0.count) bytes)" : formatArgument($0) }
            .joined(separator: " ")
    }

    /// Writes a case (with comment lines first) unless a file of that name exists; returns the path.
    @discardableResult
    static func write(_ c: DiffCase, comments: [String]) -> String {
        var text = comments.map { "# " + $0.replacingNewlines() }.joined(separator: "\n") + "\n"
        if c.protocols.count == 1 { text += "#! resp \(c.protocols[0])\n" }
        text += c.commands.map(formatCommand).joined(separator: "\n") + "\n"
        let path = directory + "/" + c.name
        if access(path, F_OK) == 0 { return path }
        mkdir(directory, 0o755)
        if let f = fopen(path, "w") {
            _ = Array(text.utf8).withUnsafeBytes { fwrite($0.baseAddress!, 1, $0.count, f) }
            fclose(f)
        }
        return path
    }

    // MARK: - Files

    static func listFiles(_ dir: String) -> [String] {
        guard let d = opendir(dir) else { return [] }
        defer { closedir(d) }
        var names: [String] = []
        while let entry = readdir(d) {
            let name = withUnsafePointer(to: &entry.pointee.d_name) {
                String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
            }
            if !name.hasPrefix(".") { names.append(name) }
        }
        return names
    }

    static func readFile(_ path: String) -> [UInt8]? {
        guard let f = fopen(path, "r") else { return nil }
        defer { fclose(f) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&chunk, 1, chunk.count, f)
            if n <= 0 { break }
            out += chunk[0..<n]
        }
        return out
    }
}

/// FNV-1a, to name corpus files after their content.
func fnv1a(_ bytes: [UInt8]) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
    return h
}

extension String {
    fileprivate func replacingNewlines() -> String {
        String(map { $0 == "\n" || $0 == "\r" ? " " : $0 })
    }
}
