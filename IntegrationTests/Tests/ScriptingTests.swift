import Glibc
import XCTest

/// Lua scripting (EVAL, SCRIPT, FUNCTION, FCALL) over TCP, against redis-server 7.0 wherever its answer is
/// deterministic: the same commands go to both servers and the replies, AOF contents, RDB files, MONITOR
/// lines, notifications and INFO counters must agree.
///
/// - Busy scripts: past `busy-reply-threshold` (100 ms here) other clients get -BUSY; SCRIPT KILL and
///   FUNCTION KILL end a script that has not written (even one that catches errors with pcall), a script
///   that wrote is UNKILLABLE and only SHUTDOWN NOSAVE stops the process, without saving; what the caller
///   pipelined behind its script is answered after the script's reply, in order.
/// - Propagation: a script's writes reach the AOF as its effects (MULTI/EXEC around several, the bare
///   command for one, nothing under REPL_NONE), FUNCTION LOAD as itself; a restart from the AOF restores
///   data and libraries.
/// - Libraries in RDB files and FUNCTION DUMP payloads, both ways between the servers.
/// - Robustness: nothing a script returns or raises may crash the server or touch other clients' data.
/// - Semantics: the caller's database, MULTI, WATCH, keyspace notifications, MONITOR, INFO commandstats and
///   errorstats.
/// Scripts of real libraries (redis-py's Lock, BullMQ) are in ScriptingTests+RealScripts.swift.
final class ScriptingTests: PersistenceTestCase {
    override var directoryTag: String { "scripting" }

    static let busyEval = "-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n"
    static let busyFunction = "-BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.\r\n"
    /// A script becomes busy (and killable) after 100 ms, not Redis's default 5 s.
    static let busyThreshold = ["--busy-reply-threshold", "100"]

    /// Needletail and redis-server 7.0, each in a directory of its own (`dirs`, in that order), with `extra`
    /// options.
    func bothServers(_ extra: [String] = []) throws -> (needletail: ServerUnderTest, oracle: RawRedisServer,
                                                          dirs: [TemporaryDirectory]) {
        let dirs = try [directory(), directory()]
        return (try needletail(dirs[0], extra), try oracle(dirs[1], extra), dirs)
    }

    /// Runs `transcript` on both servers; the lines must be equal, and are returned (Needletail's).
    @discardableResult
    func sameOnBoth(_ extra: [String] = [], file: StaticString = #filePath, line: UInt = #line,
                    _ transcript: (Int) throws -> [String]) throws -> [String] {
        let (server, oracle, _) = try bothServers(extra)
        let expected = try transcript(oracle.port)
        let got = try transcript(server.port)
        XCTAssertEqual(got.count, expected.count, "lines: redis \(expected) needletail \(got)", file: file, line: line)
        for (n, (e, g)) in zip(expected, got).enumerated() where e != g {
            XCTFail("line \(n): redis \(rawEscaped(Array(e.utf8))) needletail \(rawEscaped(Array(g.utf8)))", file: file, line: line)
        }
        return got
    }

    /// FUNCTION LIST `options` with the libraries, and each library's functions, in a canonical order:
    /// redis-server lists both in its hash tables' order, which a random seed changes at every start.
    func libraries(_ c: RawClient, _ options: String...) throws -> String {
        let reply = try c.call([Array("FUNCTION".utf8), Array("LIST".utf8)] + options.map { Array($0.utf8) })
        guard case .aggregate(let type, let libraries?) = try RawReply.parse(reply) else { return replyText(reply) }
        func before(_ a: RawReply, _ b: RawReply) -> Bool { a.encoded.lexicographicallyPrecedes(b.encoded) }
        let canonical = libraries.map { library -> RawReply in
            guard case .aggregate(let libraryType, var fields?) = library else { return library }
            for i in stride(from: 1, to: fields.count, by: 2) {
                if case .blob(_, Array("functions".utf8)?) = fields[i - 1], case .aggregate(let t, let functions?) = fields[i] {
                    fields[i] = .aggregate(t, functions.sorted(by: before))
                }
            }
            return .aggregate(libraryType, fields)
        }
        return replyText(RawReply.aggregate(type, canonical.sorted(by: before)).encoded)
    }

    // MARK: - Busy scripts

    /// Sends `command` on a new connection with PING pipelined behind it in the same write, and waits until
    /// another connection gets -BUSY (the script passed busy-reply-threshold).
    private func startBusy(port: Int, _ command: [String]) throws -> (caller: RawClient, other: RawClient) {
        let caller = try RawClient(port: port)
        let other = try RawClient(port: port)
        try caller.send(RawClient.encode(command.map { Array($0.utf8) }) + RawClient.encode(words("PING")))
        guard try eventually(timeoutMillis: 5000, { try other.say("PING").hasPrefix("-BUSY") }) else {
            throw HarnessError("\(command) never made the server busy")
        }
        return (caller, other)
    }

    /// While `EVAL "while true do end"` runs, others get -BUSY for everything but SCRIPT KILL (and FUNCTION
    /// STATS answers -BUSY as well); after SCRIPT KILL the caller gets the killed error, then the PING it
    /// pipelined and the ECHO it sent meanwhile, in order, and everyone is served again.
    func testScriptKillEndsABusyScript() throws {
        let lines = try sameOnBoth(Self.busyThreshold) { port in
            let (caller, other) = try self.startBusy(port: port, ["EVAL", "while true do end", "0"])
            try caller.send(command: words("ECHO", "sent while busy"))
            var out = try [other.say("GET", "k"), other.say("PING"), other.say("FUNCTION", "STATS"), other.say("SET", "k", "v"),
                           other.say("EVAL", "return 1", "0"), other.say("FUNCTION", "KILL"), other.say("SCRIPT", "KILL")]
            out += try (0..<3).map { _ in replyText(try caller.readReply()) }
            out += try [other.say("PING"), caller.say("GET", "k"), other.say("SCRIPT", "KILL")]
            return out
        }
        XCTAssertEqual(lines, [
            Self.busyEval, Self.busyEval, Self.busyEval, Self.busyEval, Self.busyEval, Self.busyEval, "+OK\r\n",
            "-ERR Script killed by user with SCRIPT KILL... script: 694a5fe1ddb97a4c6a1bf299d9537c7d3d0f84e7, on @user_script:1.\r\n",
            "+PONG\r\n", "$15\r\nsent while busy\r\n",
            "+PONG\r\n", "$-1\r\n", "-NOTBUSY No scripts in execution right now.\r\n",
        ])
    }

    /// The kill reaches scripts that catch errors (pcall and xpcall around the loop, pcall of the killed
    /// code in a loop) and a tail-recursive function (an endless loop in Lua 5.1, not a stack overflow).
    func testKillReachesScriptsThatCatchErrors() throws {
        let scripts = [
            "while true do pcall(function() while true do end end) end",
            "while true do xpcall(function() while true do end end, function(e) return e end) end",
            "local n = 0\nwhile true do\n  local ok, e = pcall(function() n = n + 1 end)\nend",
            "local function f() return f() end return f()",
        ]
        try sameOnBoth(Self.busyThreshold) { port in
            try scripts.flatMap { script -> [String] in
                let (caller, other) = try self.startBusy(port: port, ["EVAL", script, "0"])
                let killed = try other.say("SCRIPT", "KILL")
                return [killed, replyText(try caller.readReply()), replyText(try caller.readReply()), try other.say("PING")]
            }
        }
    }

    /// A script that wrote cannot be killed; SHUTDOWN must say NOSAVE; SHUTDOWN NOSAVE ends the process at
    /// once: nothing is saved although save points are configured, the caller gets no reply and nothing it
    /// sent after its script runs, and the AOF has none of the script's writes.
    func testUnkillableScriptEndsOnlyWithShutdownNosave() throws {
        let script = "redis.call('set', 'k', 'v') redis.call('set', 'k2', 'v') while true do end"
        let options = Self.busyThreshold + ["--save", "3600 1", "--appendonly", "yes", "--appendfsync", "always",
                                            "--aof-use-rdb-preamble", "no"]
        var transcripts: [[String]] = []
        for server in ["redis", "needletail"] {
            let dir = try directory()
            let (port, exited): (Int, () -> Bool)
            if server == "redis" {
                let oracle = try oracle(dir, options)
                (port, exited) = (oracle.port, { !oracle.isRunning })
            } else {
                let needletail = try needletail(dir, options)
                (port, exited) = (needletail.port, { !needletail.isRunning })
            }
            let (caller, other) = try startBusy(port: port, ["EVAL", script, "0"])
            try caller.send(command: words("SET", "after", "1"))
            var out = try [other.say("SCRIPT", "KILL"), other.say("SHUTDOWN"), other.say("SHUTDOWN", "SAVE"), other.say("GET", "k")]
            try other.send(command: words("SHUTDOWN", "NOSAVE"))
            out.append("to SHUTDOWN NOSAVE: " + replyText(try other.readUntilClosed()))
            out.append("to the caller: " + replyText(try caller.readUntilClosed()))
            XCTAssertTrue(eventually(timeoutMillis: 5000, exited), "\(server) still runs after SHUTDOWN NOSAVE")
            XCTAssertFalse(dir.entries.contains("dump.rdb"), "\(server) saved: \(dir.entries)")
            let restartPort = server == "redis" ? try oracle(dir, options).port : try needletail(dir, options).port
            out.append("after a restart: " + (try RawClient(port: restartPort).say("DBSIZE")))
            transcripts.append(out)
        }
        XCTAssertEqual(transcripts[1], transcripts[0])
        XCTAssertEqual(transcripts[1], [
            "-UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.\r\n",
            Self.busyEval, Self.busyEval, Self.busyEval, "to SHUTDOWN NOSAVE: ", "to the caller: ", "after a restart: :0\r\n",
        ])
    }

    static let spinLibrary = """
        #!lua name=spin
        redis.register_function('spin', function(keys, args) while true do end end)
        redis.register_function{function_name = 'spin_ro', callback = function() while true do end end, flags = {'no-writes'}}
        redis.register_function('spin_after_write', function(keys) redis.call('set', keys[1], 'x') while true do end end)
        """

    /// FCALL of a looping function: -BUSY naming FUNCTION KILL (SCRIPT KILL refused the same way), FUNCTION
    /// STATS describing the run, FUNCTION KILL ending it; a function that wrote is UNKILLABLE.
    func testFunctionKillEndsABusyFunction() throws {
        let lines = try sameOnBoth(Self.busyThreshold) { port in
            let admin = try RawClient(port: port)
            var out = [try admin.say("FUNCTION", "LOAD", Self.spinLibrary)]
            for function in ["spin", "spin_ro"] {
                let (caller, other) = try self.startBusy(port: port, ["FCALL", function, "1", "key", "arg"])
                out += try [other.say("GET", "k"), other.say("SCRIPT", "KILL"), self.maskingDuration(other.say("FUNCTION", "STATS")),
                            other.say("FUNCTION", "KILL")]
                out += try (0..<2).map { _ in replyText(try caller.readReply()) }
                out.append(try self.maskingDuration(other.say("FUNCTION", "STATS")))
            }
            let (caller, other) = try self.startBusy(port: port, ["FCALL", "spin_after_write", "1", "w"])
            out += try [other.say("FUNCTION", "KILL"), other.say("SCRIPT", "KILL")]
            try other.send(command: words("SHUTDOWN", "NOSAVE"))
            out.append(replyText(try other.readUntilClosed()) + replyText(try caller.readUntilClosed()))
            return out
        }
        XCTAssertEqual(Array(lines[1...2]), [Self.busyFunction, Self.busyFunction])  // GET, SCRIPT KILL
        XCTAssertTrue(lines[3].contains("$4\r\nname\r\n$4\r\nspin\r\n$7\r\ncommand\r\n*5\r\n$5\r\nFCALL\r\n"), lines[3])
        // Redis 7.0 names SCRIPT KILL in the error whichever command killed the function.
        XCTAssertEqual(Array(lines[4...6]), ["+OK\r\n", "-ERR Script killed by user with SCRIPT KILL... script: spin, on @user_function:2.\r\n",
                                             "+PONG\r\n"])
        XCTAssertTrue(lines[16].hasPrefix("-UNKILLABLE "), lines[16])
    }

    /// FUNCTION STATS with its `duration_ms` value replaced by N.
    private func maskingDuration(_ reply: String) -> String {
        guard let range = reply.range(of: "$11\r\nduration_ms\r\n:") else { return reply }
        let rest = reply[range.upperBound...]
        return String(reply[..<range.upperBound]) + "N" + rest.drop { $0.isNumber }
    }

    // MARK: - Propagation to the AOF

    static let writerLibrary = """
        #!lua name=writers
        redis.register_function('setkey', function(keys, args) return redis.call('set', keys[1], args[1]) end)
        redis.register_function('setboth', function(keys, args)
          redis.call('set', keys[1], 'one')
          redis.call('set', keys[2], 'two')
          return redis.call('mget', keys[1], keys[2])
        end)
        redis.register_function{function_name = 'getkey', callback = function(keys) return redis.call('get', keys[1]) end,
                                flags = {'no-writes'}}
        """

    /// The same scripts on both servers with appendonly yes: the AOFs hold the same commands (the scripts'
    /// effects, never EVAL or FCALL), and Needletail restarted from its AOF has the data and the library.
    func testScriptEffectsInTheAOFMatchRedis() throws {
        let options = ["--appendonly", "yes", "--appendfsync", "always", "--aof-use-rdb-preamble", "no"]
        let (server, oracle, dirs) = try bothServers(options)
        let sequence: [[String]] = [
            ["SET", "before", "1"], ["SET", "str", "abc"],
            ["EVAL", "redis.call('set', KEYS[1], ARGV[1]) redis.call('incr', 'counter') redis.call('rpush', 'list', 'a', 'b') return 1", "1", "k", "v"],
            ["EVAL", "return redis.call('set', KEYS[1], 'single')", "1", "one"],
            ["EVAL", "return redis.call('get', 'one')", "0"],
            ["EVAL_RO", "return redis.call('get', 'one')", "0"],
            ["EVAL", "redis.set_repl(redis.REPL_NONE) redis.call('set', 'unreplicated', '1') redis.set_repl(redis.REPL_ALL) redis.call('set', 'replicated', '1') return 1", "0"],
            ["EVAL", "redis.set_repl(redis.REPL_NONE) redis.call('set', 'unreplicated2', '1') return 1", "0"],
            ["EVAL", "redis.call('select', 1) redis.call('set', 'in1', 'x') redis.call('select', 0) redis.call('set', 'back0', 'y') return 1", "0"],
            ["EVAL", "redis.call('set', 'partial', '1') error('boom')", "0"],
            ["EVAL", "redis.call('incr', 'str')", "0"],
            ["EVAL", "redis.call('sadd', 's', 'm') return redis.call('spop', 's')", "0"],
            ["EVAL", "return redis.call('incrbyfloat', 'f', '1.5')", "0"],
            ["EVAL", "return redis.call('pexpireat', 'k', '4102444800000')", "0"],
            ["SELECT", "2"], ["EVAL", "return redis.call('set', 'in2', 'z')", "0"], ["SELECT", "0"],
            ["FUNCTION", "LOAD", Self.writerLibrary],
            ["FCALL", "setkey", "1", "fk", "fv"], ["FCALL", "setboth", "2", "a", "b"], ["FCALL_RO", "getkey", "1", "fk"],
            ["MULTI"], ["EVAL", "return redis.call('incr', 'counter')", "0"], ["SET", "inmulti", "1"], ["EXEC"],
            ["SET", "after", "1"],
        ]
        let ours = try RawClient(port: server.port)
        let theirs = try RawClient(port: oracle.port)
        for command in sequence {
            let args = command.map { Array($0.utf8) }
            XCTAssertEqual(replyText(try ours.call(args)), replyText(try theirs.call(args)), "\(command)")
        }
        XCTAssertEqual(try ours.digest(), try theirs.digest())

        // Command names compared in upper case: Needletail writes the PEXPIREAT a script sent as "PEXPIREAT",
        // redis-server as sent ("pexpireat"), a difference of spelling outside scripting.
        let ourAOF = try aofCommands(dirs[0])
        XCTAssertEqual(ourAOF.map(upperCasedName), try aofCommands(dirs[1]).map(upperCasedName))
        XCTAssertFalse(ourAOF.contains { $0.hasPrefix("EVAL") || $0.hasPrefix("FCALL") || $0.contains("unreplicated") }, "\(ourAOF)")
        XCTAssertTrue(ourAOF.contains("set one single") && ourAOF.contains("MULTI") && ourAOF.contains("FUNCTION LOAD " + Self.writerLibrary),
                      "\(ourAOF)")

        // Both restarted from their AOFs: the same data (without the REPL_NONE writes) and the library.
        let listed = try libraries(ours, "WITHCODE")
        server.stop()
        oracle.stop()
        let again = try needletail(dirs[0], options)
        let oracleAgain = try self.oracle(dirs[1], options)
        let restarted = try RawClient(port: again.port)
        XCTAssertEqual(try restarted.digest(), try RawClient(port: oracleAgain.port).digest())
        XCTAssertEqual(try restarted.say("EXISTS", "unreplicated", "unreplicated2", "replicated"), ":1\r\n")
        XCTAssertEqual(try libraries(restarted, "WITHCODE"), listed)
        XCTAssertEqual(try restarted.say("FCALL", "setboth", "2", "x", "y"), "*2\r\n$3\r\none\r\n$3\r\ntwo\r\n")
    }

    private func upperCasedName(_ command: String) -> String {
        guard let space = command.firstIndex(of: " ") else { return command.uppercased() }
        return command[..<space].uppercased() + command[space...]
    }

    // MARK: - Libraries in RDB files and FUNCTION DUMP payloads

    static let rdbLibrary = """
        #!lua name=rdblib
        local function hello(keys, args) return 'hello ' .. (args[1] or 'nobody') end
        redis.register_function{function_name = 'hello', callback = hello, description = 'says hello', flags = {'no-writes', 'allow-stale'}}
        redis.register_function('bump', function(keys) return redis.call('incr', keys[1]) end)
        """
    static let oracleLibrary = """
        #!lua name=oraclelib
        redis.register_function{function_name = 'twice', callback = function(keys, args) return args[1] .. args[1] end, flags = {'no-writes'}}
        """

    /// Needletail's dump.rdb with a library: Needletail restarted on it and redis-server 7.0 started on it
    /// have the library (FUNCTION LIST WITHCODE, FCALL) and the data; redis-check-rdb accepts it; and
    /// Needletail started on redis-server's dump.rdb with another library has that one.
    func testLibrariesInRDBFilesBothWays() throws {
        let ourDir = try directory()
        let first = try needletail(ourDir)
        let c = try RawClient(port: first.port)
        XCTAssertEqual(try c.say("FUNCTION", "LOAD", Self.rdbLibrary), "$6\r\nrdblib\r\n")
        XCTAssertEqual(try c.say("FCALL", "bump", "1", "counter"), ":1\r\n")
        let listed = try libraries(c, "WITHCODE")
        XCTAssertEqual(try c.say("SAVE"), "+OK\r\n")
        let digest = try c.digest()
        first.stop()

        let check = try runProgram(["/usr/bin/redis-check-rdb", ourDir.file("dump.rdb")])
        XCTAssertTrue(exitedNormally(check.status) && exitCode(check.status) == 0 && check.output.contains("RDB looks OK"), check.output)

        let oracleDir = try directory()
        try ourDir.copy("dump.rdb", to: oracleDir, as: "dump.rdb")
        for port in [try needletail(ourDir).port, try oracle(oracleDir).port] {
            let r = try RawClient(port: port)
            XCTAssertEqual(try libraries(r, "WITHCODE"), listed, "port \(port)")
            XCTAssertEqual(try r.digest(), digest)
            XCTAssertEqual(try r.say("FCALL_RO", "hello", "0", "rdb"), "$9\r\nhello rdb\r\n")
            XCTAssertEqual(try r.say("FCALL", "bump", "1", "counter"), ":2\r\n")
        }

        // redis-server's file, with its library, in Needletail.
        let theirDir = try directory()
        let redis = try oracle(theirDir)
        let rc = try RawClient(port: redis.port)
        XCTAssertEqual(try rc.say("FUNCTION", "LOAD", Self.oracleLibrary), "$9\r\noraclelib\r\n")
        XCTAssertEqual(try rc.say("SET", "k", "v"), "+OK\r\n")
        XCTAssertEqual(try rc.say("SAVE"), "+OK\r\n")
        let theirLibraries = try libraries(rc, "WITHCODE")
        let loaded = try RawClient(port: needletail(theirDir).port)
        XCTAssertEqual(try libraries(loaded, "WITHCODE"), theirLibraries)
        XCTAssertEqual(try loaded.say("FCALL", "twice", "0", "ab"), "$4\r\nabab\r\n")
        XCTAssertEqual(try loaded.digest(), try rc.digest())
    }

    /// FUNCTION DUMP of one server restored into the other, both ways: the payloads are the same bytes,
    /// and after RESTORE (APPEND, then REPLACE; FLUSH) both list the same libraries and run them.
    func testFunctionDumpRestoresInTheOtherServer() throws {
        let (server, oracle, _) = try bothServers()
        let ours = try RawClient(port: server.port)
        let theirs = try RawClient(port: oracle.port)
        for c in [ours, theirs] { XCTAssertEqual(try c.say("FUNCTION", "LOAD", Self.rdbLibrary), "$6\r\nrdblib\r\n") }
        let ourPayload = try XCTUnwrap(bulkPayload(ours.call("FUNCTION", "DUMP")))
        XCTAssertEqual(ourPayload, try XCTUnwrap(bulkPayload(theirs.call("FUNCTION", "DUMP"))))

        XCTAssertEqual(try theirs.say("FUNCTION", "LOAD", Self.oracleLibrary), "$9\r\noraclelib\r\n")
        let theirPayload = try XCTUnwrap(bulkPayload(theirs.call("FUNCTION", "DUMP")))
        func restore(_ c: RawClient, _ payload: [UInt8], _ policy: String...) throws -> String {
            replyText(try c.call([Array("FUNCTION".utf8), Array("RESTORE".utf8), payload] + policy.map { Array($0.utf8) }))
        }
        // Theirs into ours: rdblib collides under APPEND (nothing restored), REPLACE takes both.
        XCTAssertEqual(try restore(ours, theirPayload), "-ERR Library rdblib already exists\r\n")
        XCTAssertEqual(try libraries(ours), try libraries(theirs, "LIBRARYNAME", "rdb*"))
        XCTAssertEqual(try restore(ours, theirPayload, "REPLACE"), "+OK\r\n")
        XCTAssertEqual(try libraries(ours, "WITHCODE"), try libraries(theirs, "WITHCODE"))
        XCTAssertEqual(try ours.say("FCALL", "twice", "0", "xy"), "$4\r\nxyxy\r\n")

        // Ours into theirs, FLUSH: only rdblib remains.
        XCTAssertEqual(try restore(theirs, ourPayload, "FLUSH"), "+OK\r\n")
        XCTAssertEqual(try ours.say("FUNCTION", "DELETE", "oraclelib"), "+OK\r\n")
        XCTAssertEqual(try libraries(theirs, "WITHCODE"), try libraries(ours, "WITHCODE"))
        XCTAssertEqual(try theirs.say("FCALL_RO", "hello", "0"), "$12\r\nhello nobody\r\n")
        // A payload with a flipped byte is refused by both alike.
        var damaged = ourPayload
        damaged[damaged.count / 2] ^= 0x20
        XCTAssertEqual(try restore(ours, damaged), try restore(theirs, damaged))
    }

    // MARK: - Robustness

    private enum Compare {
        /// The reply must be redis-server's, byte for byte.
        case oracle
        /// Only Needletail runs it (redis-server 7.0.15 crashes on it, a Lua panic on an error object whose
        /// metamethods raise): any error reply.
        case needletailError
    }

    /// Scripts that push Lua and the conversions to their limits. After each, the server still answers PING
    /// on a new connection and a key another client wrote is intact; the reply is redis-server's where
    /// redis-server survives the script and its reply is deterministic.
    func testNothingAScriptReturnsOrRaisesCrashesTheServer() throws {
        let cases: [(String, Compare)] = [
            ("local function f() return 1 + f() end return f()", .oracle),  // stack overflow
            ("local t = {} t[1] = t return t", .oracle),  // cyclic: ~8,000 nested arrays, then "reached lua stack limit"
            ("local t = {} t[1] = {map = {a = t}} return t", .oracle),
            ("local t = {} t[1] = {set = {a = true}} t[2] = {set = {[t] = true}} return t", .oracle),
            ("local t = {} for i = 1, 200000 do t[i] = i end return t", .oracle),
            ("return string.rep('x', 2^24)", .oracle),
            ("redis.call('set', 'huge', string.rep('x', 2^24)) return redis.call('strlen', 'huge')", .oracle),
            ("error(setmetatable({}, {__index = function() error('idx') end}))", .needletailError),
            ("error(setmetatable({}, {__tostring = function() error('x') end}))", .needletailError),
            ("error(setmetatable({err = 'ERR own'}, {__index = function() error('idx') end}))", .needletailError),
            ("return setmetatable({}, {__index = function() error('idx') end})", .oracle),
            ("return setmetatable({1, 2}, {__len = function() error('len') end})", .oracle),
            ("return function() end", .oracle),
            ("return coroutine.create(function() end)", .oracle),
            ("return {1, function() end, coroutine.create(function() end), 4}", .oracle),
            ("local f = coroutine.wrap(function() return redis.call('set', 'cw', '1') end) return f()", .oracle),
            ("local co = coroutine.create(function() redis.call('incr', 'n') coroutine.yield(redis.call('get', 'n')) return redis.call('incr', 'n') end) "
                + "local _, a = coroutine.resume(co) local _, b = coroutine.resume(co) return {a, b, coroutine.status(co)}", .oracle),
            ("return {pcall(function() local co = coroutine.wrap(function() return redis.call('get', 'sentinel') end) return co() end)}", .oracle),
            ("local co = coroutine.create(function() return pcall(redis.call, 'incr', 'sentinel') end) local ok, pok, e = coroutine.resume(co) return {tostring(ok), tostring(pok), e}", .oracle),
            ("local co = coroutine.create(function() return redis.call('nosuchcommand') end) return {coroutine.resume(co)}", .oracle),
            ("local t = {} for i = 1, 10000 do t[i] = 'm' .. i end return redis.call('sadd', 'big', unpack(t))", .oracle),
            ("local t = {} for i = 1, 7000 do t[i] = 'm' .. i end return redis.call('sadd', 'big', unpack(t))", .oracle),
            ("local t = {'del', 'big'} for i = 1, 5000 do t[#t + 1] = 'nokey' .. i end return redis.call(unpack(t))", .oracle),
            ("local f, e = loadstring(string.dump(function() return redis.call('get', 'sentinel') end)) return {tostring(f == nil), e}", .oracle),
            ("local d, n = string.dump(function() return 1 end), 0 local f, e = load(function() n = n + 1 if n == 1 then return d end end) return {tostring(f == nil), e}", .oracle),
            ("return loadstring('return redis.call(\\'get\\', \\'sentinel\\')')()", .oracle),
            ("collectgarbage('collect') return collectgarbage('count') > 0", .oracle),
            ("getmetatable('').__index = {} return 1", .oracle),
            ("getmetatable('').__index.upper = nil return 1", .oracle),
            ("string.upper = nil return 1", .oracle),
            ("rawset(getmetatable(''), '__index', {}) return 1", .oracle),
            ("setmetatable(getmetatable(''), {}) return 1", .oracle),
            ("return {string.upper('still'), ('a'):rep(3)}", .oracle),
            ("redis = nil return 1", .oracle),
            ("cjson.encode = nil return 1", .oracle),
            ("return redis.call('eval', 'return 1', '0')", .oracle),
            ("return redis.pcall('function', 'flush')", .oracle),
            ("return cmsgpack.unpack(string.rep('\\145', 50000) .. '\\1')", .oracle),
            ("return cjson.decode(string.rep('[', 100000))", .oracle),
            ("return struct.unpack('>I', 'ab')", .oracle),
            ("return redis.sha1hex(string.rep('x', 2^20))", .oracle),
        ]
        let (server, oracle, _) = try bothServers()
        for port in [server.port, oracle.port] {
            _ = try RawClient(port: port).call("SET", "sentinel", "untouched")
        }
        for (script, compare) in cases {
            let ours = try RawClient(port: server.port, timeoutMillis: 20_000).call("EVAL", script, "0")
            XCTAssertTrue(server.answersPing(), "after \(script): \(server.logTail())")
            guard server.isRunning else { return XCTFail("Needletail died running \(script)") }
            XCTAssertEqual(try RawClient(port: server.port).say("GET", "sentinel"), "$9\r\nuntouched\r\n", script)
            switch compare {
            case .oracle:
                let theirs = try RawClient(port: oracle.port, timeoutMillis: 20_000).call("EVAL", script, "0")
                if ours != theirs { XCTFail("\(script):\nredis \(rawEscaped(theirs))\nneedletail \(rawEscaped(ours))") }
            case .needletailError:
                XCTAssertEqual(ours.first, UInt8(ascii: "-"), "\(script): \(rawEscaped(ours))")
            }
        }
        // An EVAL whose body is bytecode is refused as Redis refuses it.
        let dumped = try XCTUnwrap(bulkPayload(RawClient(port: oracle.port).call("EVAL", "return string.dump(function() return 1 end)", "0")))
        let bytecode = [Array("EVAL".utf8), dumped, Array("0".utf8)]
        XCTAssertEqual(replyText(try RawClient(port: server.port).call(bytecode)),
                       "-ERR Error compiling script (new function): user_script:1: unexpected symbol near 'char(27)'\r\n")
        XCTAssertEqual(try RawClient(port: server.port).call(bytecode), try RawClient(port: oracle.port).call(bytecode))
        XCTAssertEqual(try RawClient(port: server.port).digest(), try RawClient(port: oracle.port).digest())
    }

    // MARK: - Semantics

    /// A script starts in its caller's database, and a SELECT inside it changes neither the caller's nor the
    /// next script's; EVAL inside MULTI/EXEC; a script's write (even one it undoes) invalidates a WATCH, a
    /// read does not.
    func testDatabasesTransactionsAndWatch() throws {
        try sameOnBoth { port in
            let c = try RawClient(port: port)
            let other = try RawClient(port: port)
            let commands: [[String]] = [
                ["SELECT", "3"], ["SET", "k", "db3"], ["EVAL", "return redis.call('get', KEYS[1])", "1", "k"],
                ["EVAL", "redis.call('select', 5) redis.call('set', KEYS[1], 'five') return redis.call('get', KEYS[1])", "1", "k"],
                ["GET", "k"], ["EVAL", "return redis.call('get', KEYS[1])", "1", "k"], ["SELECT", "5"], ["GET", "k"], ["SELECT", "0"],
                ["MULTI"], ["EVAL", "return redis.call('incr', 'm')", "0"], ["EVAL", "return redis.call('incr', 'm')", "0"],
                ["EVAL", "error('in multi')", "0"], ["EVAL", "redis.call('select', 2) return redis.call('set', 'm', 'two')", "0"],
                ["GET", "m"], ["EXEC"], ["GET", "m"],
                ["MULTI"], ["EVALSHA", "ffffffffffffffffffffffffffffffffffffffff", "0"], ["EVAL_RO", "return redis.call('set', 'x', '1')", "0"], ["EXEC"],
                ["EVAL", "return redis.call('dbsize')", "0"], ["SELECT", "2"], ["EVAL", "return redis.call('get', 'm')", "0"], ["SELECT", "0"],
            ]
            var out = try commands.map { replyText(try c.call($0.map { Array($0.utf8) })) }
            for (watched, script) in [("w", "redis.call('set', KEYS[1], '1')"), ("w", "return redis.call('get', KEYS[1])"),
                                      ("w2", "redis.call('set', KEYS[1], '1') redis.call('del', KEYS[1])"),
                                      ("w3", "return redis.call('del', KEYS[1])")] {
                out.append(try c.say("WATCH", watched))
                out.append(try other.say("EVAL", script, "1", watched))
                out += try [c.say("MULTI"), c.say("SET", "x", watched), c.say("EXEC")]
            }
            return out
        }
    }

    /// Keyspace notifications for the commands a script runs, in order, as redis-server sends them.
    func testKeyspaceNotificationsFromScripts() throws {
        try sameOnBoth { port in
            let c = try RawClient(port: port)
            XCTAssertEqual(try c.say("CONFIG", "SET", "notify-keyspace-events", "KEA"), "+OK\r\n")
            let subscriber = try RawClient(port: port)
            _ = try subscriber.call("PSUBSCRIBE", "__key*__:*")
            let scripts = [
                "redis.call('set', 'a', '1') redis.call('incr', 'a') redis.call('expire', 'a', 100) redis.call('lpush', 'l', 'x') redis.call('hset', 'h', 'f', 'v') return 1",
                "redis.call('select', 4) redis.call('set', 'in4', '1') redis.call('del', 'in4') return 1",
                "redis.call('del', 'a', 'l') redis.call('rename', 'h', 'h2') return redis.call('set', 'end', '1')",
            ]
            for script in scripts { _ = try c.call("EVAL", script, "0") }
            var messages: [String] = []
            while messages.count < 100 {
                let frame = replyText(try subscriber.readFrame())
                messages.append(frame)
                if frame.hasSuffix("__keyevent@0__:set\r\n$3\r\nend\r\n") { break }
            }
            return messages
        }
    }

    /// MONITOR shows EVAL from its client, then each command the script runs as `[<db> lua]`, as redis-server
    /// does (time and client port masked).
    func testMonitorShowsCommandsInsideScripts() throws {
        try sameOnBoth { port in
            let monitor = try RawClient(port: port)
            XCTAssertEqual(try monitor.say("MONITOR"), "+OK\r\n")
            let c = try RawClient(port: port)
            let sha = try XCTUnwrap(bulkPayload(c.call("SCRIPT", "LOAD", "return redis.call('get', KEYS[1])")))
            let commands: [[[UInt8]]] = [
                words("EVAL", "redis.call('set', KEYS[1], ARGV[1]) redis.call('select', 7) return redis.call('get', 'x')", "1", "k", "a b\r\n\"q\""),
                [Array("EVALSHA".utf8), sha, Array("1".utf8), Array("k".utf8)],
                words("SELECT", "2"), words("EVAL", "return redis.pcall('incr', 'k')", "0"), words("SELECT", "0"),
                words("EVAL", "return redis.call('nosuchcommand')", "0"),
                words("FUNCTION", "LOAD", Self.writerLibrary), words("FCALL", "setboth", "2", "p", "q"),
                words("MULTI"), words("EVAL", "return redis.call('ping')", "0"), words("EXEC"),
                words("ECHO", "last"),
            ]
            for command in commands { _ = try c.call(command) }
            var lines: [String] = []
            while lines.count < 100 {
                let line = try monitor.readReply()
                lines.append(self.maskingMonitorLine(line))
                if line.suffix(8) == Array("\"last\"\r\n".utf8) { break }
            }
            return lines
        }
    }

    /// `+<seconds>.<6 digits> [<db> 127.0.0.1:<port>] ...` with the time and the port masked (lua stays).
    private func maskingMonitorLine(_ line: [UInt8]) -> String {
        let text = replyText(line)
        guard text.hasPrefix("+"), let space = text.firstIndex(of: " "), let close = text.firstIndex(of: "]") else { return "unexpected: " + text }
        let stamp = text[text.index(after: text.startIndex)..<space].split(separator: ".")
        guard stamp.count == 2, stamp[1].count == 6, stamp.allSatisfy({ $0.allSatisfy(\.isNumber) }) else { return "bad timestamp: " + text }
        let client = text[text.index(after: space)..<close].split(separator: " ")
        let source = client.count == 2 && client[1].hasPrefix("127.0.0.1:") ? "127.0.0.1:PORT" : client.dropFirst().joined(separator: " ")
        return "+TS [\(client.first ?? "") \(source)]" + text[text.index(after: close)...]
    }

    /// INFO commandstats counts the commands scripts run (calls, failed and rejected calls), and an error
    /// raised by redis.call and re-raised or returned by the script is counted once in INFO errorstats, as
    /// redis-server counts it.
    func testCommandstatsAndErrorstatsCountScriptsAsRedis() throws {
        let library = """
            #!lua name=failing
            redis.register_function('fails', function(keys) return redis.call('incr', keys[1]) end)
            redis.register_function('catches', function(keys) return redis.pcall('incr', keys[1]) end)
            """
        let sequence: [[String]] = [
            ["SET", "str", "abc"], ["FUNCTION", "LOAD", library], ["CONFIG", "RESETSTAT"],
            ["EVAL", "return redis.call('incr', 'str')", "0"],
            ["EVAL", "return redis.pcall('incr', 'str')", "0"],
            ["EVAL", "local ok, e = pcall(redis.call, 'incr', 'str') error(e)", "0"],
            ["EVAL", "local ok, e = pcall(redis.call, 'incr', 'str') return 'caught'", "0"],
            ["EVAL", "local e = redis.pcall('incr', 'str') return {err = e.err}", "0"],
            ["EVAL", "return redis.call('nosuchcommand')", "0"],
            ["EVAL", "return redis.pcall('nosuchcommand')", "0"],
            ["EVAL", "return redis.call('set', 'onlykey')", "0"],
            ["EVAL", "error('plain')", "0"],
            ["EVAL", "return {err = 'CUSTOM my error'}", "0"],
            ["EVAL", "return redis.error_reply('MYERR x')", "0"],
            ["EVAL", "return redis.call('set', 'x', '1')", "0"], ["EVAL", "return redis.call('get', 'x')", "0"],
            ["EVALSHA", "ffffffffffffffffffffffffffffffffffffffff", "0"],
            ["EVAL_RO", "return redis.call('set', 'x', '1')", "0"],
            ["EVAL", "return 1", "-1"],
            ["FCALL", "fails", "1", "str"], ["FCALL", "catches", "1", "str"], ["FCALL", "nosuchfunction", "0"],
            ["FCALL_RO", "fails", "1", "str"],
        ]
        try sameOnBoth { port in
            let c = try RawClient(port: port)
            var out = try sequence.map { replyText(try c.call($0.map { Array($0.utf8) })) }
            out += try infoLines(c, "errorstats")
            out += try infoLines(c, "stats").filter { $0.hasPrefix("total_error_replies:") }
            out += try infoLines(c, "commandstats").filter { line in
                ["eval", "evalsha", "eval_ro", "fcall", "fcall_ro", "incr", "set", "get"].contains { line.hasPrefix("cmdstat_\($0):") }
            }.map { line in  // without the times
                line.split(separator: ",").filter { !$0.hasPrefix("usec") }.joined(separator: ",")
            }
            return out
        }
    }

    /// The lines of `INFO <section>` without its header.
    private func infoLines(_ c: RawClient, _ section: String) throws -> [String] {
        let body = try XCTUnwrap(bulkPayload(c.call("INFO", section)))
        return String(decoding: body, as: UTF8.self).split(separator: "\r\n").filter { !$0.hasPrefix("#") }.map(String.init).sorted()
    }

    /// The commands of the AOF incr file in `dir`, each as its arguments joined by spaces.
    private func aofCommands(_ dir: TemporaryDirectory) throws -> [String] {
        let bytes = try dir.read("appendonlydir/appendonly.aof.1.incr.aof")
        var commands: [String] = []
        var i = 0
        while let end = try RESPFrame.end(of: bytes, from: i) {
            guard case .aggregate(_, let parts?) = try RawReply.parse(Array(bytes[i..<end])) else {
                throw HarnessError("not a command in \(dir.path)'s AOF: \(rawEscaped(Array(bytes[i..<end])))")
            }
            commands.append(parts.map { part -> String in
                if case .blob(_, let b?) = part { return String(decoding: b, as: UTF8.self) }
                return "?"
            }.joined(separator: " "))
            i = end
        }
        XCTAssertEqual(i, bytes.count, "trailing bytes in \(dir.path)'s AOF")
        return commands
    }
}
