import Glibc

/// A configuration that cannot be loaded. `message` is exactly what redis-server prints before exiting
/// with status 1, for instance
///
///     \n*** FATAL CONFIG FILE ERROR (Redis 7.2.4) ***\nReading the configuration file, at line 2\n>>> 'foo bar'\nBad directive or wrong number of arguments\n
///
/// `main` writes it to standard error and exits 1.
public struct ConfigError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }

    /// The version in the banner (Needletail reports Redis 7.2.4 compatibility everywhere).
    static let bannerVersion = "7.2.4"

    /// Redis's `loaderr:` block; without a line for the checks made after the whole text is read.
    static func fatal(line: Int? = nil, text: String = "", _ reason: String) -> ConfigError {
        var m = "\n*** FATAL CONFIG FILE ERROR (Redis \(bannerVersion)) ***\n"
        if let line { m += "Reading the configuration file, at line \(line)\n>>> '\(text)'\n" }
        return ConfigError(message: m + reason + "\n")
    }

    /// A log line as Redis writes it before the logger is configured: "pid:C 21 Nov 2026 18:24:11.462 # ...".
    static func logged(_ text: String) -> ConfigError {
        ConfigError(message: Logger.linePrefix(role: "C") + "# \(text)\n")
    }
}

/// What the command line asks for.
public enum CommandLineAction {
    /// Start a server with this configuration.
    case run(Config)
    /// `-v` / `--version`: print the text to standard output and exit 0.
    case printVersion(String)
    /// `-h` / `--help`: print the text to standard error and exit 1 (as redis-server does).
    case printHelp(String)
}

// MARK: - Command line

extension Config {
    public static let versionLine =
        "Needletail server v=\(ConfigError.bannerVersion) sha=00000000:0 malloc=libc bits=64 build=0\n"

    public static let usageText = """
        Usage: ./needletail-server [/path/to/redis.conf] [options] [-]
               ./needletail-server - (read config from stdin)
               ./needletail-server -v or --version
               ./needletail-server -h or --help

        Examples:
               ./needletail-server (run the server with default conf)
               echo 'maxmemory 128mb' | ./needletail-server -
               ./needletail-server /etc/redis/6379.conf
               ./needletail-server --port 7777
               ./needletail-server --port 7777 --replicaof 127.0.0.1 8888
               ./needletail-server /etc/myredis.conf --loglevel verbose -
               ./needletail-server /etc/myredis.conf --loglevel verbose

        """

    /// Interprets a command line exactly as redis-server 7.0's `main` (argv[0] first, as in
    /// `CommandLine.arguments`): `[config-file] [--name value ...] [-]`.
    ///
    /// Options become redis.conf lines appended after the file (and standard input), so the last
    /// occurrence wins and errors are reported with a line number in that combined text: `--port 7000`
    /// becomes `port "7000"`, values quoted with Redis's `sdscatrepr`. An option takes every following
    /// argument that does not start with `--` (`--bind 127.0.0.1 ::1`); a name without value takes the
    /// next argument whatever it is (`--daemonize --port 1` is `daemonize "--port" "1"`: an error), except
    /// `--save` which then means `--save ""`. `-` reads standard input when first or last.
    public static func parse(commandLine: [String]) throws -> CommandLineAction {
        let config = Config()
        let argv = commandLine
        guard argv.count >= 2 else { return .run(config) }

        switch argv[1] {
        case "-v", "--version": return .printVersion(versionLine)
        case "--help", "-h": return .printHelp(usageText)
        case "--test-memory", "--check-system":
            throw ConfigError(message: "Needletail does not implement \(argv[1]).\n")
        default: break
        }
        if argv.dropFirst().contains("--sentinel") || argv[0].hasSuffix("redis-sentinel") {
            throw ConfigError(message: "Needletail does not implement Sentinel mode.\n")
        }

        var j = 1
        var file: String?
        if !argv[1].hasPrefix("-") {
            file = absolutePath(argv[1])
            j = 2
        }
        var options: [UInt8] = []
        var fromStdin = false
        var handledLastArg = true
        while j < argv.count {
            let arg = argv[j]
            let bytes = Array(arg.utf8)
            if arg == "-" && (j == 1 || j == argv.count - 1) {
                fromStdin = true
            } else if handledLastArg && bytes.count >= 2 && bytes[0] == 0x2D && bytes[1] == 0x2D {
                if !options.isEmpty { options.append(0x0A) }
                options += bytes[2...]
                options.append(0x20)
                let words = bytes.withUnsafeBytes { splitArgs($0) }?.count ?? 0
                if words == 1 {
                    // A bare name: its values are the next arguments.
                    handledLastArg = false
                    let isLast = j == argv.count - 1
                    if arg.lowercased() == "--save" {
                        if !isLast && argv[j + 1].hasPrefix("--") {
                            options += Array("\"\"".utf8)
                            handledLastArg = true
                        } else if isLast {
                            options += Array("\"\"".utf8)
                        }
                    }
                } else {
                    handledLastArg = true       // "--port 6380" as one argument
                }
            } else {
                options += representation(bytes)
                options.append(0x20)
                handledLastArg = true
            }
            j += 1
        }

        config.configFile = file
        config.readsConfigFromStdin = fromStdin
        var text: [UInt8] = []
        if let file { text += try readConfigFile(file) }
        if fromStdin { text += readAll(stdin) }
        text.append(0x0A)
        text += options
        config.beginLoad()
        try config.loadText(text)
        try config.finishLoad()
        return .run(config)
    }

    /// Redis's `sdscatrepr`: a double-quoted, escaped rendering of an argument.
    static func representation(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x22]
        for c in bytes {
            switch c {
            case 0x5C, 0x22: out += [0x5C, c]
            case 0x0A: out += Array("\\n".utf8)
            case 0x0D: out += Array("\\r".utf8)
            case 0x09: out += Array("\\t".utf8)
            case 0x07: out += Array("\\a".utf8)
            case 0x08: out += Array("\\b".utf8)
            case 0x20...0x7E: out.append(c)
            default:
                let hex = Array("0123456789abcdef".utf8)
                out += [0x5C, UInt8(ascii: "x"), hex[Int(c >> 4)], hex[Int(c & 15)]]
            }
        }
        out.append(0x22)
        return out
    }

    /// Redis's `getAbsolutePath`: trims blanks, joins a relative path to the working directory and folds
    /// leading "../" components (only those).
    static func absolutePath(_ path: String) -> String {
        var rel = Substring(path)
        let blanks: Set<Character> = [" ", "\r", "\n", "\t"]
        while let f = rel.first, blanks.contains(f) { rel = rel.dropFirst() }
        while let l = rel.last, blanks.contains(l) { rel = rel.dropLast() }
        if rel.hasPrefix("/") { return String(rel) }
        var abs = ConfigSyntax.currentDirectory()
        if !abs.hasSuffix("/") { abs += "/" }
        while rel.hasPrefix("../") {
            rel = rel.dropFirst(3)
            if abs.count > 1 {
                abs.removeLast()                              // the trailing '/'
                while let l = abs.last, l != "/" { abs.removeLast() }
            }
        }
        return abs + rel
    }
}

// MARK: - redis.conf

extension Config {
    /// Loads redis.conf text on top of the current values, as the server would read a config file.
    public func load(text: String) throws {
        beginLoad()
        try loadText(Array(text.utf8))
        try finishLoad()
    }

    /// Loads a redis.conf file (glob patterns allowed, as for `include`).
    public func load(file path: String) throws {
        beginLoad()
        try loadFile(path)
        try finishLoad()
    }

    func beginLoad() {
        touched = []
        touchedSet = []
        saveLoaded = false
    }

    /// Redis's `loadServerConfigFromString`. Lines are split on '\n', trimmed, and skipped when empty or
    /// starting with '#'; arguments follow `sdssplitargs`; the directive name is case-insensitive and
    /// the last occurrence of a parameter wins (`save` and `user` lines accumulate). Runs for the main text
    /// and again, recursively, for every `include`d file, with the final checks after each.
    func loadText(_ text: [UInt8]) throws {
        readingConfigFile = true
        let text = text.prefix { $0 != 0 }           // a C string to Redis
        let lines = text.split(separator: 0x0A, omittingEmptySubsequences: false)
        for (n, rawLine) in lines.enumerated() {
            let line = Config.trimmed(rawLine)
            if line.isEmpty || line.first == UInt8(ascii: "#") { continue }
            let lineText = String(decoding: line, as: UTF8.self)
            func fail(_ reason: String) -> ConfigError { ConfigError.fatal(line: n + 1, text: lineText, reason) }

            guard let split = Array(line).withUnsafeBytes({ splitArgs($0) }) else {
                throw fail("Unbalanced quotes in configuration line")
            }
            if split.isEmpty { continue }
            let argv = split.map { $0.string }
            let name = argv[0].lowercased()

            if let hit = Config.lookup[name], !ConfigParameter.all[hit.index].isDirective {
                let p = ConfigParameter.all[hit.index]
                if !p.flags.contains(.multiArg) && argv.count != 2 { throw fail("wrong number of arguments") }
                var values = Array(argv.dropFirst())
                // Redis 7.0 splits a multi-argument parameter's single non-empty argument on spaces, so
                // `--save "900 1"` (the line `save "900 1"`) is `save 900 1`.
                if p.flags.contains(.multiArg) && values.count == 1 && !values[0].isEmpty {
                    values = Config.splitOnSpaces(values[0])
                }
                if let error = assign(hit.index, values, fromFile: true) { throw fail(error.text) }
                noteTouched(hit.index)
                continue
            }
            if ConfigParameter.deprecated.contains(name) && argv.count == 2 { continue }

            switch name {
            case "include" where argv.count == 2:
                try loadFile(argv[1])
            case "rename-command" where argv.count == 3:
                if let error = renameCommand(argv[1], to: argv[2]) { throw fail(error) }
                noteTouched(Config.index("rename-command"))
            case "user" where argv.count >= 2:
                if let (bad, why) = Config.checkUserRules(argv) {
                    throw fail("Error in user declaration '\(bad)': \(why)")
                }
                users.append(Array(argv.dropFirst()))
                noteTouched(Config.index("user"))
            case "loadmodule" where argv.count >= 2:
                modules.append((argv[1], Array(argv.dropFirst(2))))
                noteTouched(Config.index("loadmodule"))
            case _ where name.contains("."):
                if argv.count != 2 { throw fail("Module config specified without value") }
                moduleConfigs.removeAll { $0.name == name }
                moduleConfigs.append((name, argv[1]))
            case "sentinel":
                // A bare `sentinel` only matters to main(); anything more needs sentinel mode.
                if argv.count != 1 { throw fail("sentinel directive while not in sentinel mode") }
            default:
                throw fail("Bad directive or wrong number of arguments")
            }
        }

        // Checks Redis makes after each text it reads.
        if !logfile.isEmpty && checksLogfile {
            guard let f = fopen(logfile, "a") else {
                throw ConfigError.fatal("Can't open the log file: \(String(cString: strerror(errno)))")
            }
            fclose(f)
        }
        if value(of: "cluster-enabled") == "yes" && replicaof != nil {
            throw ConfigError.fatal("replicaof directive not allowed in cluster mode")
        }
        readingConfigFile = false
    }

    /// Redis's `loadServerConfig` for a path: a glob pattern includes every match (none is fine), a plain
    /// path must open.
    func loadFile(_ path: String) throws {
        if path.contains(where: { $0 == "*" || $0 == "?" || $0 == "[" }) {
            var g = glob_t()
            defer { globfree(&g) }
            guard glob(path, 0, nil, &g) == 0 else { return }
            var text: [UInt8] = []
            for i in 0..<Int(g.gl_pathc) {
                guard let p = g.gl_pathv[i] else { continue }
                text += try Config.readConfigFile(String(cString: p))
            }
            try loadText(text)
        } else {
            try loadText(Config.readConfigFile(path))
        }
    }

    static func readConfigFile(_ path: String) throws -> [UInt8] {
        guard let f = fopen(path, "r") else {
            throw ConfigError.logged("Fatal error, can't open config file '\(path)': \(String(cString: strerror(errno)))")
        }
        defer { fclose(f) }
        return readAll(f)
    }

    static func readAll(_ f: UnsafeMutablePointer<FILE>) -> [UInt8] {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, f) }
            if n <= 0 { break }
            out += chunk[0..<n]
        }
        return out
    }

    /// After a whole configuration is read: Redis's module-config check, and `notYetEffective`.
    func finishLoad() throws {
        if !moduleConfigs.isEmpty && modules.isEmpty {
            throw ConfigError.logged("Module Configuration detected without loadmodule directive or no ApplyConfig call: aborting")
        }
        var pending: [String] = []
        for i in touched {
            let p = ConfigParameter.all[i]
            if Config.implementedParameters.contains(p.name) { continue }
            if !p.isDirective && values[i] == p.defaultValue { continue }
            pending.append(p.name)
        }
        if !moduleConfigs.isEmpty && !pending.contains("loadmodule") { pending.append("loadmodule") }
        notYetEffective = pending
    }

    private func noteTouched(_ index: Int) {
        if touchedSet.insert(index).inserted { touched.append(index) }
    }

    /// sdstrim(line, " \t\r\n").
    static func trimmed(_ line: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        func blank(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0D || c == 0x0A }
        var s = line
        while let f = s.first, blank(f) { s = s.dropFirst() }
        while let l = s.last, blank(l) { s = s.dropLast() }
        return s
    }

    /// `rename-command`: the command must exist (when a lookup is installed) and the new name must not.
    private func renameCommand(_ from: String, to: String) -> String? {
        let old = from.lowercased(), new = to.lowercased()
        func exists(_ name: String) -> Bool {
            if renamedCommands.contains(where: { $0.to.lowercased() == name }) { return true }
            if renamedCommands.contains(where: { $0.from.lowercased() == name }) { return false }
            return Config.commandExists?(name) ?? true
        }
        if !exists(old) { return "No such command in rename-command" }
        // Redis removes the old name first, then adds the new one.
        if !new.isEmpty && new != old && Config.commandExists != nil && exists(new) {
            return "Target command name already exists"
        }
        renamedCommands.append((from, to))
        return nil
    }

    /// A light check of `user` rules so that typos fail at start with Redis's message; the ACL layer
    /// interprets them. `argv` is the whole line. Redis names the wrong argument by the rule's position
    /// counted from the start of the line (a Redis bug kept for identical output): for
    /// `user bob on nonsense` it blames 'bob'.
    static func checkUserRules(_ argv: [String]) -> (String, String)? {
        let keywords: Set<String> = ["on", "off", "nopass", "resetpass", "reset", "allkeys", "resetkeys",
                                     "allchannels", "resetchannels", "allcommands", "nocommands",
                                     "skip-sanitize-payload", "sanitize-payload", "clearselectors"]
        let rules = Array(argv.dropFirst(2))
        var openSelector = false
        for (j, rule) in rules.enumerated() {
            func blame(_ why: String) -> (String, String) { (argv[j], why) }
            let bytes = Array(rule.utf8)
            if openSelector {
                if bytes.last == UInt8(ascii: ")") { openSelector = false }
                continue
            }
            if keywords.contains(rule.lowercased()) { continue }
            switch bytes.first {
            case UInt8(ascii: "#"), UInt8(ascii: "!"):
                let hash = bytes.dropFirst()
                let hex = hash.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }
                if hash.count != 64 || !hex {
                    return blame("The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters")
                }
            case UInt8(ascii: "%"):
                var k = 1, flags = 0
                while k < bytes.count && bytes[k] != UInt8(ascii: "~") {
                    switch bytes[k] | 0x20 {
                    case UInt8(ascii: "r") where flags & 1 == 0: flags |= 1
                    case UInt8(ascii: "w") where flags & 2 == 0: flags |= 2
                    default: return blame("Syntax error")
                    }
                    k += 1
                }
                if flags == 0 || k >= bytes.count { return blame("Syntax error") }
            case UInt8(ascii: "("):
                if bytes.last != UInt8(ascii: ")") { openSelector = true }
            case UInt8(ascii: "~"), UInt8(ascii: "&"), UInt8(ascii: "+"), UInt8(ascii: "-"),
                 UInt8(ascii: ">"), UInt8(ascii: "<"):
                continue
            default:
                return blame("Syntax error")
            }
        }
        if openSelector { return (argv[0], "Unknown command or category name in ACL") }
        return nil
    }
}
