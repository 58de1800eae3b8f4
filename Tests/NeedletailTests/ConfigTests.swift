import XCTest
import Glibc
@testable import Needletail

/// redis.conf parsing, CONFIG GET/SET and the command line, each expectation checked against
/// redis-server 7.0.15 (only the version in the error banner differs: we report 7.2.4).
final class ConfigTests: XCTestCase {
    private func load(_ text: String) throws -> Config {
        let config = Config()
        config.checksLogfile = false
        try config.load(text: text)
        return config
    }

    private func loadError(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> String? {
        do {
            _ = try load(text)
            XCTFail("expected a config error", file: file, line: line)
            return nil
        } catch let e as ConfigError {
            return e.message
        } catch {
            XCTFail("unexpected \(error)", file: file, line: line)
            return nil
        }
    }

    private func fatal(_ line: Int, _ text: String, _ reason: String) -> String {
        "\n*** FATAL CONFIG FILE ERROR (Redis 7.2.4) ***\nReading the configuration file, at line \(line)\n>>> '\(text)'\n\(reason)\n"
    }

    /// A fresh directory under /tmp, removed at teardown.
    private func temporaryDirectory() -> String {
        var template = Array("/tmp/needletail-config-XXXXXX".utf8CString)
        let dir = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
        addTeardownBlock { _ = system("rm -rf '\(dir)'") }
        return dir
    }

    private func write(_ text: String, to path: String) {
        let f = fopen(path, "w")!
        fputs(text, f)
        fclose(f)
    }

    // MARK: - redis.conf syntax

    func testCommentsBlankLinesCaseAndLastOneWins() throws {
        let c = try load("""
            # a comment
               # indented comment\t
            PORT 7000
            \t
            Maxmemory 1GB
            maxmemory-policy ALLKEYS-LRU
            port 7001\r
            timeout 5 \t
            """)
        XCTAssertEqual(c.port, 7001)
        XCTAssertEqual(c.value(of: "port"), "7001")
        XCTAssertEqual(c.maxmemory, 1 << 30)
        XCTAssertEqual(c.value(of: "maxmemory"), "1073741824")
        XCTAssertEqual(c.maxmemoryPolicy, "allkeys-lru")
        XCTAssertEqual(c.value(of: "maxmemory-policy"), "allkeys-lru")
        XCTAssertEqual(c.timeout, 5)
    }

    func testQuoting() throws {
        let c = try load(#"""
            requirepass "a b\"c\x41\n"
            masterauth 'it\'s'
            logfile a"b c"
            proc-title-template "{title}  {port}"
            """#)
        XCTAssertEqual(c.requirepass, "a b\"cA\n")
        XCTAssertEqual(c.masterauth, "it's")
        XCTAssertEqual(c.logfile, "ab c")
        XCTAssertEqual(c.value(of: "proc-title-template"), "{title}  {port}")
    }

    func testAliasesShareTheValue() throws {
        let c = try load("slave-priority 7\nhash-max-ziplist-entries 9\nlist-max-ziplist-size 3\nlua-time-limit 6000\nslaveof 10.0.0.1 6380\n")
        XCTAssertEqual(c.value(of: "replica-priority"), "7")
        XCTAssertEqual(c.value(of: "slave-priority"), "7")
        XCTAssertEqual(c.hashMaxListpackEntries, 9)
        XCTAssertEqual(c.listMaxListpackSize, 3)
        XCTAssertEqual(c.busyReplyThreshold, 6000)
        XCTAssertEqual(c.value(of: "replicaof"), "10.0.0.1 6380")
        XCTAssertEqual(c.replicaof?.host, "10.0.0.1")
        XCTAssertEqual(c.replicaof?.port, 6380)
    }

    func testDeprecatedDirectivesAreIgnored() throws {
        XCTAssertNoThrow(try load("list-max-ziplist-entries 5\nlist-max-ziplist-value 6\nlua-replicate-commands yes\n"))
        XCTAssertEqual(loadError("list-max-ziplist-entries 5 6\n"),
                       fatal(1, "list-max-ziplist-entries 5 6", "Bad directive or wrong number of arguments"))
    }

    func testSaveLinesAccumulateInAFile() throws {
        XCTAssertEqual(try load("port 1\n").value(of: "save"), "3600 1 300 100 60 10000")
        XCTAssertEqual(try load("save 900 1\nsave 300 10\n").value(of: "save"), "900 1 300 10")
        XCTAssertEqual(try load("save 900 1 300 10\n").value(of: "save"), "900 1 300 10")
        XCTAssertEqual(try load("save 900 1\nsave \"\"\n").value(of: "save"), "")
        XCTAssertEqual(try load("save \"\"\nsave 60 1\n").value(of: "save"), "60 1")
        let c = try load("save 60 0\n")
        XCTAssertEqual(c.save, [SavePoint(seconds: 60, changes: 0)])
    }

    func testSaveAfterAnIncludeStartsOver() throws {
        // Redis clears its "reading a config file" flag when an included file ends.
        let dir = temporaryDirectory()
        write("save 5 5\n", to: dir + "/inc.conf")
        XCTAssertEqual(try load("save 900 1\ninclude \(dir)/inc.conf\n").value(of: "save"), "900 1 5 5")
        XCTAssertEqual(try load("save 900 1\ninclude \(dir)/inc.conf\nsave 7 7\n").value(of: "save"), "7 7")
    }

    func testMemoryUnits() throws {
        let cases: [(String, String)] = [
            ("100", "100"), ("5b", "5"), ("5B", "5"), ("1k", "1000"), ("1kb", "1024"), ("1KB", "1024"),
            ("2m", "2000000"), ("2mb", "2097152"), ("1g", "1000000000"), ("1gb", "1073741824"), ("3Gb", "3221225472"),
            ("010", "10"), ("", "0"), ("kb", "0"),
            ("18446744073709551615", "18446744073709551615"),
            ("18446744073709551616", "18446744073709551615"),           // strtoull saturates
            ("18446744073709551615kb", "18446744073709550592"),         // and the unit multiply wraps
        ]
        for (input, shown) in cases {
            let c = Config()
            XCTAssertNil(c.set(arguments: ["maxmemory", input]), input)
            XCTAssertEqual(c.value(of: "maxmemory"), shown, input)
        }
        for bad in ["-1", " 10", "10 kb", "1xb", "0x10", "1.5gb", "+5", "1t"] {
            XCTAssertEqual(Config().set(arguments: ["maxmemory", bad]),
                           "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value", bad)
        }
        XCTAssertEqual(try load("client-query-buffer-limit 2gb\n").clientQueryBufferLimit, 2 << 30)
        XCTAssertEqual(try load("proto-max-bulk-len 1mb\n").protoMaxBulkLen, 1 << 20)
    }

    func testPercentAndOctal() throws {
        let c = Config()
        XCTAssertNil(c.set(arguments: ["maxmemory-clients", "50%"]))
        XCTAssertEqual(c.value(of: "maxmemory-clients"), "50%")
        XCTAssertNil(c.set(arguments: ["maxmemory-clients", "0%"]))
        XCTAssertEqual(c.value(of: "maxmemory-clients"), "0")
        XCTAssertNil(c.set(arguments: ["maxmemory-clients", "1kb"]))
        XCTAssertEqual(c.value(of: "maxmemory-clients"), "1024")
        XCTAssertNil(c.set(arguments: ["maxmemory-clients", "18446744073709551615"]))
        XCTAssertEqual(c.value(of: "maxmemory-clients"), "1%")     // -1 read as a percentage, as Redis does
        XCTAssertEqual(c.set(arguments: ["maxmemory-clients", "101%"]),
                       "ERR CONFIG SET failed (possibly related to argument 'maxmemory-clients') - percentage argument must be less or equal to 100")
        XCTAssertEqual(c.set(arguments: ["maxmemory-clients", "-5"]),
                       "ERR CONFIG SET failed (possibly related to argument 'maxmemory-clients') - argument must be a memory or percent value")

        let u = try load("unixsocketperm 700\n")
        XCTAssertEqual(u.unixsocketperm, 0o700)
        XCTAssertEqual(u.value(of: "unixsocketperm"), "700")
        XCTAssertEqual(loadError("unixsocketperm 999\n"),
                       fatal(1, "unixsocketperm 999", "argument couldn't be parsed as an octal number"))
        XCTAssertEqual(loadError("unixsocketperm 1000\n"),
                       fatal(1, "unixsocketperm 1000", "argument must be between 0 and 777 inclusive"))
    }

    func testHzIsClamped() throws {
        XCTAssertEqual(try load("hz 0\n").hz, 1)
        XCTAssertEqual(try load("hz 1000\n").value(of: "hz"), "500")
        let c = Config()
        XCTAssertNil(c.set(arguments: ["hz", "1000"]))
        XCTAssertEqual(c.value(of: "hz"), "500")
        XCTAssertEqual(c.hz, 500)
    }

    func testSpecialParameters() throws {
        let c = Config()
        XCTAssertNil(c.set(arguments: ["client-output-buffer-limit", "replica 1mb 2k 3 pubsub 0 0 0"]))
        XCTAssertEqual(c.value(of: "client-output-buffer-limit"), "normal 0 0 0 slave 1048576 2000 3 pubsub 0 0 0")
        XCTAssertEqual(c.clientOutputBufferLimit.replica, OutputBufferLimit(hardBytes: 1 << 20, softBytes: 2000, softSeconds: 3))
        XCTAssertNil(c.set(arguments: ["client-output-buffer-limit", "NORMAL 1 1 1"]))
        XCTAssertEqual(c.clientOutputBufferLimit.normal, OutputBufferLimit(hardBytes: 1, softBytes: 1, softSeconds: 1))
        XCTAssertNil(c.set(arguments: ["client-output-buffer-limit", ""]))

        XCTAssertNil(c.set(arguments: ["notify-keyspace-events", "KEA"]))
        XCTAssertEqual(c.value(of: "notify-keyspace-events"), "AKE")
        XCTAssertNil(c.set(arguments: ["notify-keyspace-events", "Kgx"]))
        XCTAssertEqual(c.value(of: "notify-keyspace-events"), "gxK")
        XCTAssertEqual(c.notifyKeyspaceEvents, [.keyspace, .generic, .expired])
        XCTAssertNil(c.set(arguments: ["notify-keyspace-events", "An"]))
        XCTAssertEqual(c.value(of: "notify-keyspace-events"), "A")
        XCTAssertNil(c.set(arguments: ["notify-keyspace-events", "gnmd"]))
        XCTAssertEqual(c.value(of: "notify-keyspace-events"), "gdnm")

        XCTAssertNil(c.set(arguments: ["latency-tracking-info-percentiles", "1.5e1 0x10"]))
        XCTAssertEqual(c.value(of: "latency-tracking-info-percentiles"), "15 16")
        XCTAssertNil(c.set(arguments: ["latency-tracking-info-percentiles", "33.333333333"]))
        XCTAssertEqual(c.value(of: "latency-tracking-info-percentiles"), "33.333333")
        XCTAssertNil(c.set(arguments: ["latency-tracking-info-percentiles", ""]))
        XCTAssertEqual(c.value(of: "latency-tracking-info-percentiles"), "")

        XCTAssertNil(c.set(arguments: ["shutdown-on-sigint", "now save"]))
        XCTAssertEqual(c.value(of: "shutdown-on-sigint"), "save now")
        XCTAssertNil(c.set(arguments: ["shutdown-on-sigint", "force now nosave"]))
        XCTAssertEqual(c.value(of: "shutdown-on-sigint"), "nosave now force")
        XCTAssertNil(c.set(arguments: ["shutdown-on-sigint", "default"]))
        XCTAssertEqual(c.value(of: "shutdown-on-sigint"), "default")
        XCTAssertEqual(try load("shutdown-on-sigterm save now\n").value(of: "shutdown-on-sigterm"), "save now")

        XCTAssertNil(c.set(arguments: ["oom-score-adj", "relative"]))
        XCTAssertEqual(c.value(of: "oom-score-adj"), "yes")

        XCTAssertNil(c.set(arguments: ["bind", ""]))
        XCTAssertEqual(c.bind, [])
        XCTAssertNil(c.set(arguments: ["bind", "* -::*"]))
        XCTAssertEqual(c.bind, ["*", "-::*"])
        XCTAssertEqual(try load("bind 10.0.0.1 ::1\n").value(of: "bind"), "10.0.0.1 ::1")

        XCTAssertEqual(try load("replicaof no one\n").replicaof == nil, true)
    }

    func testDirIsResolved() throws {
        let dir = temporaryDirectory()
        _ = mkdir(dir + "/sub", 0o755)
        let c = try load("dir \(dir)\ndir sub\n")
        XCTAssertEqual(c.dir, dir + "/sub")
        XCTAssertEqual(c.value(of: "dir"), dir + "/sub")
        XCTAssertEqual(loadError("dir \(dir)/nope\n"), fatal(1, "dir \(dir)/nope", "No such file or directory"))
    }

    // MARK: - Load errors, exact text

    func testLoadErrors() {
        let cases: [(String, Int, String, String)] = [
            ("port 7000\nfoo bar\n", 2, "foo bar", "Bad directive or wrong number of arguments"),
            ("maxmemory abc\n", 1, "maxmemory abc", "argument must be a memory value"),
            ("maxmemory 1xb\n", 1, "maxmemory 1xb", "argument must be a memory value"),
            ("daemonize maybe\n", 1, "daemonize maybe", "argument must be 'yes' or 'no'"),
            ("port 70000\n", 1, "port 70000", "argument must be between 0 and 65535 inclusive"),
            ("port\n", 1, "port", "wrong number of arguments"),
            ("port 1 2\n", 1, "port 1 2", "wrong number of arguments"),
            ("  hz -1  \n", 1, "hz -1", "argument must be between 0 and 2147483647 inclusive"),
            ("hz 010\n", 1, "hz 010", "argument couldn't be parsed into an integer"),
            ("save 1\n", 1, "save 1", "Invalid save parameters"),
            ("save 0 1\n", 1, "save 0 1", "Invalid save parameters"),
            ("bind \"unbalanced\n", 1, "bind \"unbalanced", "Unbalanced quotes in configuration line"),
            ("requirepass \"a\"b\n", 1, "requirepass \"a\"b", "Unbalanced quotes in configuration line"),
            ("client-output-buffer-limit normal 0 0\n", 1, "client-output-buffer-limit normal 0 0",
             "Wrong number of arguments in buffer limit configuration."),
            ("client-output-buffer-limit foo 0 0 0\n", 1, "client-output-buffer-limit foo 0 0 0",
             "Invalid client class specified in buffer limit configuration."),
            ("client-output-buffer-limit master 0 0 0\n", 1, "client-output-buffer-limit master 0 0 0",
             "Invalid client class specified in buffer limit configuration."),
            ("client-output-buffer-limit normal 1 1 -1\n", 1, "client-output-buffer-limit normal 1 1 -1",
             "Error in hard, soft or soft_seconds setting in buffer limit configuration."),
            ("replicaof a\n", 1, "replicaof a", "wrong number of arguments"),
            ("replicaof a b\n", 1, "replicaof a b", "Invalid master port"),
            ("maxmemory-clients 200%\n", 1, "maxmemory-clients 200%", "percentage argument must be less or equal to 100"),
            ("sentinel monitor x\n", 1, "sentinel monitor x", "sentinel directive while not in sentinel mode"),
            ("foo.bar\n", 1, "foo.bar", "Module config specified without value"),
            ("user\n", 1, "user", "Bad directive or wrong number of arguments"),
            // Redis blames the argument at the rule's index counted from the line start.
            ("user bob nonsense\n", 1, "user bob nonsense", "Error in user declaration 'user': Syntax error"),
            ("user bob on nonsense\n", 1, "user bob on nonsense", "Error in user declaration 'bob': Syntax error"),
            ("user bob on >x ~* nonsense\n", 1, "user bob on >x ~* nonsense", "Error in user declaration '>x': Syntax error"),
            ("user bob %X~*\n", 1, "user bob %X~*", "Error in user declaration 'user': Syntax error"),
            ("user bob #abc\n", 1, "user bob #abc",
             "Error in user declaration 'user': The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters"),
            ("user bob (~x\n", 1, "user bob (~x", "Error in user declaration 'user': Unknown command or category name in ACL"),
            ("loadmodule\n", 1, "loadmodule", "Bad directive or wrong number of arguments"),
            ("rename-command get\n", 1, "rename-command get", "Bad directive or wrong number of arguments"),
            ("include\n", 1, "include", "Bad directive or wrong number of arguments"),
            ("oom-score-adj-values 1 2\n", 1, "oom-score-adj-values 1 2", "wrong number of arguments"),
            ("notify-keyspace-events xyz\n", 1, "notify-keyspace-events xyz",
             "Invalid event class character. Use 'Ag$lshzxeKEtmdn'."),
            ("dbfilename a/b\n", 1, "dbfilename a/b", "dbfilename can't be a path, just a filename"),
            ("appendfilename \"\"\n", 1, "appendfilename \"\"", "appendfilename can't be empty"),
            ("proc-title-template {bad}\n", 1, "proc-title-template {bad}",
             "template format is invalid or contains unknown variables"),
            ("activedefrag yes\n", 1, "activedefrag yes",
             "Active defragmentation cannot be enabled: it requires a Redis server compiled with a modified Jemalloc like the one shipped by default with the Redis source distribution"),
        ]
        for (text, line, shown, reason) in cases {
            XCTAssertEqual(loadError(text), fatal(line, shown, reason), text)
        }
        XCTAssertEqual(loadError("loglevel loud\n"),
                       fatal(1, "loglevel loud", "argument(s) must be one of the following: debug, verbose, notice, warning"))
        XCTAssertEqual(loadError("loglevel debug verbose\n"), fatal(1, "loglevel debug verbose", "wrong number of arguments"))
    }

    func testChecksAfterTheWholeFile() {
        XCTAssertEqual(loadError("cluster-enabled yes\nreplicaof 1.2.3.4 5\n"),
                       "\n*** FATAL CONFIG FILE ERROR (Redis 7.2.4) ***\nreplicaof directive not allowed in cluster mode\n")
        let c = Config()
        XCTAssertThrowsError(try c.load(text: "logfile /nonexistent-dir/x.log\n")) { error in
            XCTAssertEqual((error as? ConfigError)?.message,
                           "\n*** FATAL CONFIG FILE ERROR (Redis 7.2.4) ***\nCan't open the log file: No such file or directory\n")
        }
        XCTAssertThrowsError(try load("foo.bar 1\n")) { error in
            XCTAssertTrue((error as? ConfigError)?.message.hasSuffix(
                "# Module Configuration detected without loadmodule directive or no ApplyConfig call: aborting\n") ?? false)
        }
    }

    func testIncludes() throws {
        let dir = temporaryDirectory()
        write("port 7100\n", to: dir + "/a.conf")
        write("timeout 9\n", to: dir + "/b.conf")
        write("# line 1\nfoo\n", to: dir + "/bad.conf")
        let c = try load("include \(dir)/a.conf\ninclude \(dir)/*.xyz\nINCLUDE \(dir)/b.conf\n")
        XCTAssertEqual(c.port, 7100)
        XCTAssertEqual(c.timeout, 9)
        XCTAssertEqual(try load("include \(dir)/[ab].conf\n").timeout, 9)
        // An error inside an included file names the line of that file.
        XCTAssertEqual(loadError("port 1\ninclude \(dir)/bad.conf\n"), fatal(2, "foo", "Bad directive or wrong number of arguments"))
        XCTAssertThrowsError(try load("include \(dir)/missing.conf\n")) { error in
            let m = (error as? ConfigError)?.message ?? ""
            XCTAssertTrue(m.hasPrefix("\(getpid()):C "), m)
            XCTAssertTrue(m.hasSuffix(" # Fatal error, can't open config file '\(dir)/missing.conf': No such file or directory\n"), m)
        }
    }

    func testDirectivesAreKept() throws {
        Config.commandExists = { ["get", "set", "config", "flushall"].contains($0) }
        defer { Config.commandExists = nil }
        let c = try load("""
            rename-command CONFIG ""
            rename-command flushall FLUSHALL2
            user worker +@list +@connection ~jobs:* on >pw
            loadmodule /x/y.so a b
            sentinel
            """)
        XCTAssertEqual(c.renamedCommands.map { "\($0.from)>\($0.to)" }, ["CONFIG>", "flushall>FLUSHALL2"])
        XCTAssertEqual(c.users, [["worker", "+@list", "+@connection", "~jobs:*", "on", ">pw"]])
        XCTAssertEqual(c.modules.first?.path, "/x/y.so")
        XCTAssertEqual(c.modules.first?.arguments, ["a", "b"])
        XCTAssertEqual(c.notYetEffective, ["rename-command", "user", "loadmodule"])
        XCTAssertEqual(loadError("rename-command FOOBAR x\n"), fatal(1, "rename-command FOOBAR x", "No such command in rename-command"))
        XCTAssertEqual(loadError("rename-command get set\n"), fatal(1, "rename-command get set", "Target command name already exists"))
        XCTAssertEqual(loadError("rename-command config c2\nrename-command config c3\n"),
                       fatal(2, "rename-command config c3", "No such command in rename-command"))
    }

    func testNotYetEffective() throws {
        let c = try load("appendonly no\nactiverehashing yes\nio-threads 4\nport 7000\nslave-read-only no\nio-threads 2\nlazyfree-lazy-user-flush yes\n")
        XCTAssertEqual(c.notYetEffective, ["io-threads", "lazyfree-lazy-user-flush"])
        XCTAssertFalse(Config.isImplemented("io-threads"))
        XCTAssertTrue(Config.isImplemented("PORT"))
    }

    // MARK: - CONFIG GET

    func testGetPatterns() {
        let c = Config()
        XCTAssertEqual(c.get(["MAXMEMORY"]).map { "\($0.name)=\($0.value)" }, ["MAXMEMORY=0"])
        XCTAssertEqual(Set(c.get(["MAXMEM*"]).map { $0.name }),
                       ["maxmemory", "maxmemory-clients", "maxmemory-policy", "maxmemory-samples", "maxmemory-eviction-tenacity"])
        XCTAssertEqual(c.get(["maxmemory", "maxmemory", "maxmem*"]).count, 5)
        XCTAssertEqual(Set(c.get(["slave*"]).map { $0.name }),
                       ["slave-priority", "slaveof", "slave-ignore-maxmemory", "slave-lazy-flush", "slave-announce-ip",
                        "slave-read-only", "slave-announce-port", "slave-serve-stale-data"])
        XCTAssertEqual(Set(c.get(["*max*entries*"]).map { $0.name }),
                       ["zset-max-ziplist-entries", "hash-max-listpack-entries", "stream-node-max-entries",
                        "hash-max-ziplist-entries", "zset-max-listpack-entries", "set-max-intset-entries"])
        XCTAssertEqual(Set(c.get(["port", "bind", "tcp-?acklog"]).map { $0.name }), ["port", "bind", "tcp-backlog"])
        XCTAssertTrue(c.get(["list-max-ziplist-entries", "lua-replicate-commands", "include", "nosuch"]).isEmpty)
    }

    // MARK: - CONFIG SET

    func testSetErrors() {
        let c = Config()
        func failed(_ name: String, _ text: String) -> String {
            "ERR CONFIG SET failed (possibly related to argument '\(name)') - \(text)"
        }
        XCTAssertEqual(c.set(arguments: ["foo", "1"]), "ERR Unknown option or number of arguments for CONFIG SET - 'foo'")
        XCTAssertEqual(c.set(arguments: ["maxmemory", "abc"]), failed("maxmemory", "argument must be a memory value"))
        XCTAssertEqual(c.set(arguments: ["MAXMEMORY", "abc"]), failed("maxmemory", "argument must be a memory value"))
        XCTAssertEqual(c.set(arguments: ["daemonize", "yes"]), failed("daemonize", "can't set immutable config"))
        XCTAssertEqual(c.set(arguments: ["DAEMONIZE", "no"]), failed("DAEMONIZE", "can't set immutable config"))
        XCTAssertEqual(c.set(arguments: ["a", "b", "c"]), "ERR syntax error")
        XCTAssertEqual(c.set(arguments: ["maxmemory", "1", "foo", "2"]), "ERR Unknown option or number of arguments for CONFIG SET - 'foo'")
        XCTAssertEqual(c.set(arguments: ["maxmemory", "1", "maxmemory", "2"]), failed("maxmemory", "duplicate parameter"))
        XCTAssertEqual(c.set(arguments: ["maxmemory", "1", "MAXMEMORY", "2"]), failed("MAXMEMORY", "duplicate parameter"))
        XCTAssertEqual(c.set(arguments: ["maxmemory", "1", "daemonize", "no"]), failed("daemonize", "can't set immutable config"))
        XCTAssertEqual(c.set(arguments: ["daemonize", "no", "foo", "1"]), failed("daemonize", "can't set immutable config"))
        XCTAssertEqual(c.set(arguments: ["loglevel", "loud"]),
                       failed("loglevel", "argument(s) must be one of the following: debug, verbose, notice, warning"))
        XCTAssertEqual(c.set(arguments: ["loglevel", "debug verbose"]),
                       failed("loglevel", "argument(s) must be one of the following: debug, verbose, notice, warning"))
        XCTAssertEqual(c.set(arguments: ["maxmemory-policy", ""]),
                       failed("maxmemory-policy", "argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction"))
        XCTAssertEqual(c.set(arguments: ["protected-mode", ""]), failed("protected-mode", "argument must be 'yes' or 'no'"))
        XCTAssertEqual(c.set(arguments: ["hz", "abc"]), failed("hz", "argument couldn't be parsed into an integer"))
        for bad in ["010", "+5", "-0", " 5"] {
            XCTAssertEqual(c.set(arguments: ["hz", bad]), failed("hz", "argument couldn't be parsed into an integer"), bad)
        }
        XCTAssertEqual(c.set(arguments: ["timeout", "-1"]), failed("timeout", "argument must be between 0 and 2147483647 inclusive"))
        XCTAssertEqual(c.set(arguments: ["timeout", "2147483648"]), failed("timeout", "argument must be between 0 and 2147483647 inclusive"))
        XCTAssertEqual(c.set(arguments: ["maxclients", "0"]), failed("maxclients", "argument must be between 1 and 4294967295 inclusive"))
        XCTAssertEqual(c.set(arguments: ["slave-priority", "abc"]), failed("slave-priority", "argument couldn't be parsed into an integer"))
        XCTAssertEqual(c.set(arguments: ["save", "1"]), failed("save", "Invalid save parameters"))
        XCTAssertEqual(c.set(arguments: ["save", "60 1 30"]), failed("save", "Invalid save parameters"))
        XCTAssertEqual(c.set(arguments: ["save", "60 1  30 2"]), failed("save", "Invalid save parameters"))
        XCTAssertEqual(c.set(arguments: ["save", "0 1"]), failed("save", "Invalid save parameters"))
        XCTAssertEqual(c.set(arguments: ["save", "1 -1"]), failed("save", "Invalid save parameters"))
        XCTAssertEqual(c.set(arguments: ["client-output-buffer-limit", "normal 0 0"]),
                       failed("client-output-buffer-limit", "Wrong number of arguments in buffer limit configuration."))
        XCTAssertEqual(c.set(arguments: ["client-output-buffer-limit", "master 1 1 1"]),
                       failed("client-output-buffer-limit", "Invalid client class specified in buffer limit configuration."))
        XCTAssertEqual(c.set(arguments: ["client-output-buffer-limit", "normal 1 1 1x"]),
                       failed("client-output-buffer-limit", "Error in hard, soft or soft_seconds setting in buffer limit configuration."))
        XCTAssertEqual(c.set(arguments: ["dir", "/nonexistent"]), failed("dir", "can't set protected config"))
        XCTAssertEqual(c.set(arguments: ["dbfilename", "a/b"]), failed("dbfilename", "can't set protected config"))
        XCTAssertEqual(c.set(arguments: ["unixsocketperm", "700"]), failed("unixsocketperm", "can't set immutable config"))
        XCTAssertEqual(c.set(arguments: ["replicaof", "a 1"]), failed("replicaof", "can't set immutable config"))
        XCTAssertEqual(c.set(arguments: ["slaveof", "a 1"]), failed("slaveof", "can't set immutable config"))
        XCTAssertEqual(c.set(arguments: ["io-threads", "2"]), failed("io-threads", "can't set immutable config"))
        XCTAssertEqual(c.set(arguments: ["notify-keyspace-events", "xyz"]),
                       failed("notify-keyspace-events", "Invalid event class character. Use 'Ag$lshzxeKEtmdn'."))
        XCTAssertEqual(c.set(arguments: ["oom-score-adj-values", "1 2"]), failed("oom-score-adj-values", "wrong number of arguments"))
        XCTAssertEqual(c.set(arguments: ["oom-score-adj-values", "1 2 3000"]),
                       failed("oom-score-adj-values", "Invalid oom-score-adj-values, elements must be between -2000 and 2000."))
        XCTAssertEqual(c.set(arguments: ["oom-score-adj-values", "1 2 x"]),
                       failed("oom-score-adj-values", "Invalid oom-score-adj-values, elements must be between -2000 and 2000."))
        XCTAssertEqual(c.set(arguments: ["latency-tracking-info-percentiles", "abc"]),
                       failed("latency-tracking-info-percentiles", "Invalid latency-tracking-info-percentiles parameters"))
        XCTAssertEqual(c.set(arguments: ["latency-tracking-info-percentiles", "1  2"]),
                       failed("latency-tracking-info-percentiles", "Invalid latency-tracking-info-percentiles parameters"))
        XCTAssertEqual(c.set(arguments: ["latency-tracking-info-percentiles", "101"]),
                       failed("latency-tracking-info-percentiles", "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"))
        XCTAssertEqual(c.set(arguments: ["shutdown-on-sigint", "save nosave"]),
                       failed("shutdown-on-sigint", "shutdown options SAVE and NOSAVE can't be used simultaneously"))
        XCTAssertEqual(c.set(arguments: ["shutdown-on-sigint", ""]),
                       failed("shutdown-on-sigint", "argument(s) must be one of the following: default, save, nosave, now, force"))
        XCTAssertEqual(c.set(arguments: ["shutdown-on-sigint", "now  save"]),
                       failed("shutdown-on-sigint", "argument(s) must be one of the following: default, save, nosave, now, force"))
        XCTAssertEqual(c.set(arguments: ["propagation-error-behavior", "x"]),
                       failed("propagation-error-behavior", "argument(s) must be one of the following: ignore, panic, panic-on-replicas"))
        XCTAssertEqual(c.set(arguments: ["proc-title-template", "{title}"]),
                       failed("proc-title-template", "template format is invalid or contains unknown variables"))
        XCTAssertEqual(c.set(arguments: ["cluster-announce-hostname", "a_b"]),
                       failed("cluster-announce-hostname", "Hostnames may only contain alphanumeric characters, hyphens or dots"))
        XCTAssertEqual(c.set(arguments: ["appendonly", "yes"], loading: true), "LOADING Redis is loading the dataset in memory")
        XCTAssertEqual(c.set(arguments: []), "ERR wrong number of arguments for 'config|set' command")
        // Nothing above changed anything.
        XCTAssertEqual(c.value(of: "maxmemory"), "0")
        XCTAssertEqual(c.value(of: "save"), "3600 1 300 100 60 10000")
        XCTAssertEqual(c.value(of: "loglevel"), "notice")
    }

    func testSetSucceeds() {
        let c = Config()
        XCTAssertNil(c.set(arguments: ["Maxmemory-Policy", "ALLKEYS-LRU", "maxmemory", "10KB", "activerehashing", "NO"]))
        XCTAssertEqual(c.maxmemoryPolicy, "allkeys-lru")
        XCTAssertEqual(c.maxmemory, 10240)
        XCTAssertFalse(c.activerehashing)
        XCTAssertNil(c.set(arguments: ["replica-priority", "1", "slave-priority", "2"]))   // not a duplicate in Redis
        XCTAssertEqual(c.value(of: "replica-priority"), "2")
        XCTAssertNil(c.set(arguments: ["lua-time-limit", "6000", "busy-reply-threshold", "5000"]))
        XCTAssertEqual(c.busyReplyThreshold, 5000)
        XCTAssertNil(c.set(arguments: ["requirepass", "a b"]))
        XCTAssertEqual(c.requirepass, "a b")
        XCTAssertNil(c.set(arguments: ["save", "10 0"]))
        XCTAssertEqual(c.save, [SavePoint(seconds: 10, changes: 0)])
        XCTAssertNil(c.set(arguments: ["save", ""]))
        XCTAssertEqual(c.save, [])
        XCTAssertNil(c.set(arguments: ["loglevel", "Warning"]))
        XCTAssertEqual(c.loglevel, "warning")
        XCTAssertNil(c.set(arguments: ["maxmemory", "18446744073709551615"]))
        XCTAssertEqual(c.value(of: "maxmemory"), "18446744073709551615")
        XCTAssertEqual(c.maxmemory, Int.max)
    }

    func testSetIsAtomic() {
        let c = Config()
        XCTAssertEqual(c.set(arguments: ["maxmemory", "1gb", "timeout", "5", "maxmemory-policy", "bad"]),
                       "ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction")
        XCTAssertEqual(c.value(of: "maxmemory"), "0")
        XCTAssertEqual(c.maxmemory, 0)
        XCTAssertEqual(c.timeout, 0)
    }

    func testProtectedConfigs() throws {
        let dir = temporaryDirectory()
        let local = try load("enable-protected-configs local\n")
        XCTAssertEqual(local.set(arguments: ["dir", dir]),
                       "ERR CONFIG SET failed (possibly related to argument 'dir') - can't set protected config")
        XCTAssertNil(local.set(arguments: ["dir", dir], clientIsLocal: true))
        XCTAssertEqual(local.dir, dir)
        let yes = try load("enable-protected-configs yes\n")
        XCTAssertEqual(yes.set(arguments: ["dbfilename", "a/b"]),
                       "ERR CONFIG SET failed (possibly related to argument 'dbfilename') - dbfilename can't be a path, just a filename")
        XCTAssertEqual(yes.set(arguments: ["dir", dir + "/nope"]),
                       "ERR CONFIG SET failed (possibly related to argument 'dir') - No such file or directory")
    }

    func testOnChangeHookAppliesAndRollsBack() {
        let c = Config()
        var seen: [String] = []
        c.onChange = { name in
            seen.append(name)
            return name == "bind" && c.bind.contains("a") ? "Failed to bind to specified addresses." : nil
        }
        XCTAssertNil(c.set(arguments: ["hz", "20", "slave-priority", "3", "timeout", "0"]))
        XCTAssertEqual(seen, ["hz", "replica-priority"])             // timeout did not change
        seen = []
        XCTAssertEqual(c.set(arguments: ["timeout", "7", "bind", "a b"]),
                       "ERR CONFIG SET failed (possibly related to argument 'bind') - Failed to bind to specified addresses.")
        XCTAssertEqual(c.timeout, 0)
        XCTAssertEqual(c.bind, ["127.0.0.1", "-::1"])
        XCTAssertEqual(seen, ["timeout", "bind", "timeout", "bind"])   // applied, then re-applied restored
    }

    func testTypedPropertiesFeedConfigGet() {
        let c = Config()
        c.port = 0
        c.bind = ["0.0.0.0"]
        c.unixsocketperm = 0o770
        c.maxmemory = 100
        c.daemonize = true
        c.save = []
        c.clientOutputBufferLimit.pubsub.softSeconds = 5
        c.notifyKeyspaceEvents = .all
        c.replicaof = ("h", 1)
        XCTAssertEqual(c.value(of: "port"), "0")
        XCTAssertEqual(c.value(of: "bind"), "0.0.0.0")
        XCTAssertEqual(c.value(of: "unixsocketperm"), "770")
        XCTAssertEqual(c.value(of: "maxmemory"), "100")
        XCTAssertEqual(c.value(of: "daemonize"), "yes")
        XCTAssertEqual(c.value(of: "save"), "")
        XCTAssertEqual(c.value(of: "client-output-buffer-limit"),
                       "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 5")
        XCTAssertEqual(c.value(of: "notify-keyspace-events"), "A")
        XCTAssertEqual(c.value(of: "slaveof"), "h 1")
    }

    // MARK: - Command line

    private func run(_ args: [String]) throws -> Config {
        guard case .run(let config) = try Config.parse(commandLine: ["needletail-server"] + args) else {
            XCTFail("expected to run")
            return Config()
        }
        return config
    }

    private func commandLineError(_ args: [String], file: StaticString = #filePath, line: UInt = #line) -> String? {
        do {
            _ = try Config.parse(commandLine: ["needletail-server"] + args)
            XCTFail("expected an error", file: file, line: line)
        } catch {
            return (error as? ConfigError)?.message
        }
        return nil
    }

    func testCommandLineOptions() throws {
        let noArgs = try run([])
        XCTAssertNil(noArgs.configFile)
        XCTAssertEqual(noArgs.port, 6379)

        let c = try run(["--port", "7399", "--bind", "127.0.0.1", "::1", "--maxmemory 1gb", "--requirepass", "a\"b c\n"])
        XCTAssertEqual(c.port, 7399)
        XCTAssertEqual(c.bind, ["127.0.0.1", "::1"])
        XCTAssertEqual(c.maxmemory, 1 << 30)
        XCTAssertEqual(c.requirepass, "a\"b c\n")

        XCTAssertEqual(try run(["--port", "7399", "--save", "--timeout", "3"]).save, [])
        XCTAssertEqual(try run(["--port", "7399", "--save"]).save, [])
        XCTAssertEqual(try run(["--save", "", "--port", "1"]).save, [])
        XCTAssertEqual(try run(["--save", "60", "1"]).value(of: "save"), "60 1")
        XCTAssertEqual(try run(["--DAEMONIZE", "yes"]).daemonize, true)
    }

    func testCommandLineErrors() {
        XCTAssertEqual(commandLineError(["--port", "7399", "--nosuch", "1"]),
                       fatal(3, "nosuch \"1\"", "Bad directive or wrong number of arguments"))
        XCTAssertEqual(commandLineError(["--port", "7399", "--nosuch"]),
                       fatal(3, "nosuch", "Bad directive or wrong number of arguments"))
        XCTAssertEqual(commandLineError(["--port", "7399", "--bind", "127.0.0.1", "::1", "--nosuch", "x"]),
                       fatal(4, "nosuch \"x\"", "Bad directive or wrong number of arguments"))
        // A name without value swallows the next argument: no boolean flags.
        XCTAssertEqual(commandLineError(["--port", "7399", "--daemonize", "--nosuch", "x"]),
                       fatal(3, "daemonize \"--nosuch\" \"x\"", "wrong number of arguments"))
        XCTAssertEqual(commandLineError(["--daemonize"]), fatal(2, "daemonize", "wrong number of arguments"))
        XCTAssertEqual(commandLineError(["--port", "7399", "--save", "--nosuch", "x"]),
                       fatal(4, "nosuch \"x\"", "Bad directive or wrong number of arguments"))
        XCTAssertEqual(commandLineError(["--port", "7399", "a b", "--nosuch", "x"]),
                       fatal(2, "port \"7399\" \"a b\"", "wrong number of arguments"))
        XCTAssertEqual(commandLineError(["--port", "7399", "-", "--nosuch", "x"]),
                       fatal(2, "port \"7399\" \"-\"", "wrong number of arguments"))
        XCTAssertEqual(commandLineError(["--port", "5", "--version"]), fatal(3, "version", "Bad directive or wrong number of arguments"))
        XCTAssertEqual(commandLineError(["-x"]), fatal(2, "\"-x\"", "Bad directive or wrong number of arguments"))
        XCTAssertNotNil(commandLineError(["--sentinel"]))
        XCTAssertNotNil(commandLineError(["--test-memory", "10"]))
    }

    func testCommandLineEscapesValues() {
        // sdscatrepr: the quoted value reads back through sdssplitargs as the same bytes.
        XCTAssertEqual(String(decoding: Config.representation(Array("a\"b\\c\n\u{1}é".utf8)), as: UTF8.self),
                       #""a\"b\\c\n\x01\xc3\xa9""#)
        XCTAssertEqual(commandLineError(["--port", "\u{1}"]),
                       fatal(2, #"port "\x01""#, "argument couldn't be parsed into an integer"))
    }

    func testCommandLineWithConfigFile() throws {
        let dir = temporaryDirectory()
        write("port 7000\ntimeout 4\n", to: dir + "/r.conf")
        let c = try run([dir + "/r.conf", "--port", "7001"])
        XCTAssertEqual(c.port, 7001)
        XCTAssertEqual(c.timeout, 4)
        XCTAssertEqual(c.configFile, dir + "/r.conf")
        XCTAssertEqual(commandLineError([dir + "/r.conf", "--nosuch", "x"]),
                       fatal(4, "nosuch \"x\"", "Bad directive or wrong number of arguments"))
        XCTAssertEqual(commandLineError([dir + "/r.conf", "other.conf"]),
                       fatal(4, "\"other.conf\"", "Module config specified without value"))   // a '.' in the name
        let missing = commandLineError([dir + "/missing.conf"]) ?? ""
        XCTAssertTrue(missing.hasSuffix("# Fatal error, can't open config file '\(dir)/missing.conf': No such file or directory\n"), missing)
        XCTAssertEqual(Config.absolutePath("/a/b"), "/a/b")
        XCTAssertEqual(Config.absolutePath(" x.conf\n"), ConfigSyntax.currentDirectory() + "/x.conf")
    }

    func testConfigFromStandardInput() throws {
        // Point fd 0 at a pipe holding a config, as `echo 'port 7123' | needletail-server - --timeout 2`.
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        let text = "port 7123\nmaxmemory 128mb\n"
        _ = text.withCString { Glibc.write(fds[1], $0, strlen($0)) }
        close(fds[1])
        let saved = dup(0)
        dup2(fds[0], 0)
        close(fds[0])
        clearerr(stdin)
        defer {
            dup2(saved, 0)
            close(saved)
            clearerr(stdin)
        }
        let c = try run(["-", "--timeout", "2"])
        XCTAssertTrue(c.readsConfigFromStdin)
        XCTAssertEqual(c.port, 7123)
        XCTAssertEqual(c.maxmemory, 128 << 20)
        XCTAssertEqual(c.timeout, 2)
    }

    func testVersionAndHelp() throws {
        guard case .printVersion(let v) = try Config.parse(commandLine: ["needletail-server", "-v"]) else { return XCTFail() }
        XCTAssertEqual(v, "Needletail server v=7.2.4 sha=00000000:0 malloc=libc bits=64 build=0\n")
        guard case .printVersion = try Config.parse(commandLine: ["x", "--version", "--port", "1"]) else { return XCTFail() }
        guard case .printHelp(let h) = try Config.parse(commandLine: ["x", "--help"]) else { return XCTFail() }
        XCTAssertTrue(h.hasPrefix("Usage: ./needletail-server [/path/to/redis.conf] [options] [-]\n"))
        guard case .printHelp = try Config.parse(commandLine: ["x", "-h"]) else { return XCTFail() }
    }
}
