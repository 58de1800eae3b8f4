import Glibc
import TestSupport
import XCTest

/// ACL against redis-server 7.0: users, rules and their descriptions, permission errors (top level, MULTI,
/// scripts, Pub/Sub), ACL LOG, the aclfile, and command categories. Replies are compared byte for byte
/// after normalising what Redis itself does not fix: the order of single commands in a rule description
/// (Redis walks its command dictionary in its per-process random hash order), ACL LOG's age and client
/// description, and ACL CAT's command order.
final class ACLTests: XCTestCase {
    private static var redis: RawRedisServer?
    private static var needletail: ServerUnderTest?

    override func setUpWithError() throws {
        signal(SIGPIPE, SIG_IGN)
        guard RawRedisServer.isInstalled else { throw XCTSkip("redis-server is not installed at \(RawRedisServer.path)") }
        if Self.redis == nil { Self.redis = try RawRedisServer() }
        if Self.needletail == nil { Self.needletail = try ServerUnderTest.start() }
    }

    override class func tearDown() {
        redis?.stop()
        redis = nil
        needletail?.stop()
        needletail = nil
        super.tearDown()
    }

    // MARK: - Normalising

    /// Sorts the single-command rules after the last category rule of each selector description, and drops
    /// the rules of CLIENT's subcommands that 7.2 added (NO-TOUCH, SETINFO: ours, as INFO says 7.2.4, and not
    /// the 7.0 oracle's), which a user given `-client` and then `+@connection` lists one by one.
    static func normaliseDescription(_ text: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var segment: [UInt8] = []
        let only72: Set<[UInt8]> = Set(["+client|no-touch", "+client|setinfo", "-client|no-touch", "-client|setinfo"].map { Array($0.utf8) })
        func flush() {
            var tokens = segment.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false).map(Array.init)
            tokens.removeAll { only72.contains($0) }
            if let last = tokens.lastIndex(where: { $0.count >= 2 && ($0[0] == 43 || $0[0] == 45) && $0[1] == 64 }) {
                let tail = tokens[(last + 1)...].sorted { $0.lexicographicallyPrecedes($1) }
                tokens = Array(tokens[...last]) + tail
            }
            out += Array(tokens.joined(separator: [UInt8(ascii: " ")]))
            segment = []
        }
        for byte in text {
            if byte == UInt8(ascii: "(") || byte == UInt8(ascii: ")") {
                flush()
                out.append(byte)
            } else {
                segment.append(byte)
            }
        }
        flush()
        return out
    }

    static func normalise(_ reply: RawReply, sortAggregates: Bool = false) -> RawReply {
        switch reply {
        case .blob(let t, let p?):
            let s = String(decoding: p, as: UTF8.self)
            if s.contains("@all") { return .blob(t, normaliseDescription(p)) }
            return reply
        case .line(let t, let l):
            if t == UInt8(ascii: "+") && String(decoding: l, as: UTF8.self).contains("@all") {
                return .line(t, normaliseDescription(l))
            }
            return reply
        case .aggregate(let t, let items?):
            var result: [RawReply] = []
            var i = 0
            while i < items.count {
                let item = items[i]
                if case .blob(_, let key?) = item, i + 1 < items.count,
                   key == Array("age-seconds".utf8) || key == Array("client-info".utf8) {
                    result.append(item)
                    result.append(.blob(UInt8(ascii: "$"), Array("*".utf8)))
                    i += 2
                    continue
                }
                result.append(normalise(item))
                i += 1
            }
            if sortAggregates { result.sort { $0.encoded.lexicographicallyPrecedes($1.encoded) } }
            return .aggregate(t, result)
        default:
            return reply
        }
    }

    /// Runs each step (connection index, arguments) on both servers and compares the normalised replies.
    private func compare(_ steps: [(Int, [String])], connections: Int = 2, resp3: Bool = false,
                         unordered: Set<Int> = [], file: StaticString = #filePath, line: UInt = #line) throws {
        let redisPort = Self.redis!.port
        let ourPort = Self.needletail!.port
        let theirs = try (0..<connections).map { _ in try RawClient(port: redisPort) }
        let ours = try (0..<connections).map { _ in try RawClient(port: ourPort) }
        if resp3 {
            for c in theirs + ours { _ = try c.call("HELLO", "3") }
        }
        for (index, (conn, args)) in steps.enumerated() {
            let a: RawReply, b: RawReply
            do {
                a = try RawReply.parse(theirs[conn].call(args.map { Array($0.utf8) }))
                b = try RawReply.parse(ours[conn].call(args.map { Array($0.utf8) }))
            } catch {
                return XCTFail("step \(index) \(args): \(error)", file: file, line: line)
            }
            let sorted = unordered.contains(index) || (args.count == 3 && args[0] == "ACL" && args[1] == "CAT")
            let na = Self.normalise(a, sortAggregates: sorted)
            let nb = Self.normalise(b, sortAggregates: sorted)
            XCTAssertEqual(na.encoded, nb.encoded,
                           "step \(index) \(args) (resp\(resp3 ? 3 : 2)):\nredis: \(String(decoding: a.encoded, as: UTF8.self))\nours:  \(String(decoding: b.encoded, as: UTF8.self))",
                           file: file, line: line)
        }
        for c in theirs + ours { c.close() }
    }

    private func cleanUp() throws {
        for port in [Self.redis!.port, Self.needletail!.port] {
            let c = try RawClient(port: port)
            _ = try c.call("ACL", "DELUSER", "app", "u0", "u1", "u2", "u3", "ps", "sel")
            _ = try c.call("ACL", "LOG", "RESET")
            _ = try c.call("FLUSHALL")
            c.close()
        }
    }

    // MARK: - Permissions

    /// The issue's case: a user limited to `~app:* +@read` reads app:x, and gets NOPERM writing, reading
    /// other keys, inside MULTI (queue time) too; EXEC after a revocation; scripts; ACL LOG records each.
    func testRestrictedUserMatchesRedis() throws {
        for resp3 in [false, true] {
            try cleanUp()
            try compare([
                (0, ["SET", "app:x", "1"]), (0, ["SET", "other:x", "2"]),
                (0, ["ACL", "SETUSER", "app", "on", ">secret", "~app:*", "+@read"]),
                (1, ["AUTH", "app", "wrong"]), (1, ["AUTH", "nobody", "secret"]), (1, ["AUTH", "app", "secret"]),
                (1, ["ACL", "WHOAMI"]), (1, ["GET", "app:x"]), (1, ["SET", "app:x", "2"]), (1, ["GET", "other:x"]),
                (1, ["MGET", "app:x", "app:y", "other:x"]), (1, ["EXISTS", "other:x"]), (1, ["DBSIZE"]),
                (1, ["MULTI"]),
                (0, ["ACL", "SETUSER", "app", "+multi", "+exec", "+discard"]),
                (1, ["MULTI"]), (1, ["GET", "app:x"]), (1, ["GET", "other:x"]), (1, ["EXEC"]),
                (1, ["MULTI"]), (1, ["GET", "app:x"]), (0, ["ACL", "SETUSER", "app", "-get"]), (1, ["EXEC"]),
                (0, ["ACL", "SETUSER", "app", "+get", "+eval"]),
                (1, ["EVAL", "return redis.call('get', KEYS[1])", "1", "app:x"]),
                (1, ["EVAL", "return redis.call('get', 'other:x')", "0"]),
                (1, ["EVAL", "return redis.call('set', 'app:x', '3')", "0"]),
                (1, ["EVAL", "return redis.pcall('del', 'app:x')", "0"]),
                (0, ["ACL", "SETUSER", "app", "%W~w:*", "+set", "resetchannels", "&news.*", "+publish", "+subscribe", "+psubscribe"]),
                (1, ["SET", "w:1", "x"]), (1, ["SET", "w:1", "x", "GET"]), (1, ["GET", "w:1"]),
                (1, ["PUBLISH", "news.today", "m"]), (1, ["PUBLISH", "sport", "m"]), (1, ["PSUBSCRIBE", "news.*x"]),
                (0, ["ACL", "DRYRUN", "app", "get", "other:x"]), (0, ["ACL", "DRYRUN", "app", "set", "app:x", "v"]),
                (0, ["ACL", "DRYRUN", "app", "publish", "sport", "m"]), (0, ["ACL", "DRYRUN", "app", "get", "app:x"]),
                (0, ["ACL", "DRYRUN", "nobody", "get", "x"]), (0, ["ACL", "DRYRUN", "app", "nosuch"]),
                (0, ["ACL", "DRYRUN", "app", "get"]),
                (0, ["ACL", "LOG"]), (0, ["ACL", "LOG", "2"]), (0, ["ACL", "LOG", "x"]),
                (0, ["ACL", "USERS"]), (0, ["ACL", "LIST"]), (0, ["ACL", "GETUSER", "app"]),
                (0, ["ACL", "GETUSER", "nobody"]), (0, ["ACL", "DELUSER", "default"]), (0, ["ACL", "CAT"]),
                (0, ["ACL", "CAT", "nosuch"]), (0, ["ACL", "CAT", "geo"]), (0, ["ACL", "GENPASS", "0"]),
                (0, ["ACL", "GENPASS", "5000"]), (0, ["ACL", "SAVE"]), (0, ["ACL", "LOAD"]), (0, ["ACL", "HELP"]),
                (0, ["ACL", "LOG", "RESET"]), (0, ["ACL", "LOG"]),
                (0, ["ACL", "DELUSER", "app"]),
            ], resp3: resp3)
        }
    }

    /// HELLO AUTH, requirepass tied to the default user, and the INFO counters (the same on both servers
    /// for the same denials).
    func testDefaultUserAndRequirepassMatchRedis() throws {
        try cleanUp()
        try compare([
            (0, ["CONFIG", "SET", "requirepass", "pw"]), (1, ["GET", "x"]), (1, ["AUTH", "pw"]), (1, ["GET", "x"]),
            (1, ["HELLO", "3", "AUTH", "default", "bad"]),
            (0, ["ACL", "GETUSER", "default"]), (0, ["ACL", "LIST"]), (0, ["CONFIG", "SET", "requirepass", ""]),
            (0, ["ACL", "LIST"]), (1, ["AUTH", "x"]), (0, ["ACL", "SETUSER", "u0", "on", "nopass", "-@all", "+ping"]),
            (1, ["AUTH", "u0", "anything"]), (1, ["PING"]), (1, ["GET", "k"]), (1, ["CLIENT", "ID"]),
            (0, ["ACL", "SETUSER", "u0", "off"]), (1, ["PING"]), (1, ["AUTH", "u0", "x"]),
            (0, ["ACL", "SETUSER", "u1", "on", ">p1", ">p2", "<p1", "#" + String(repeating: "a", count: 64), "~*", "+@all"]),
            (0, ["ACL", "GETUSER", "u1"]), (1, ["AUTH", "u1", "p1"]), (1, ["AUTH", "u1", "p2"]), (1, ["ACL", "WHOAMI"]),
            (1, ["RESET"]), (1, ["ACL", "WHOAMI"]),
        ])
        // INFO's counters are 7.2's (7.0 has none): three failed authentications, two refused commands.
        let c = try RawClient(port: Self.needletail!.port)
        let info = String(decoding: try c.call("INFO", "stats"), as: UTF8.self)
        let counters = info.split(separator: "\r\n").filter { $0.hasPrefix("acl_access_denied") }.map(String.init)
        XCTAssertEqual(counters, ["acl_access_denied_auth:3", "acl_access_denied_cmd:2", "acl_access_denied_key:0",
                                  "acl_access_denied_channel:0"])
        let hello = String(decoding: try c.call("HELLO", "2", "AUTH", "default", "x"), as: UTF8.self)
        XCTAssertTrue(hello.hasPrefix("*14\r\n$6\r\nserver"), hello)
    }

    /// A deleted user's connections are closed; a subscriber whose channels were revoked is closed too.
    func testDeletedAndRevokedUsersAreDisconnected() throws {
        try cleanUp()
        let admin = try RawClient(port: Self.needletail!.port)
        _ = try admin.call("ACL", "SETUSER", "ps", "on", "nopass", "+@all", "~*", "resetchannels", "&news")
        let user = try RawClient(port: Self.needletail!.port)
        XCTAssertEqual(try user.call("AUTH", "ps", "x"), Array("+OK\r\n".utf8))
        let subscriber = try RawClient(port: Self.needletail!.port)
        _ = try subscriber.call("AUTH", "ps", "x")
        _ = try subscriber.call("SUBSCRIBE", "news")
        XCTAssertEqual(try admin.call("ACL", "SETUSER", "ps", "resetchannels", "&other"), Array("+OK\r\n".utf8))
        XCTAssertThrowsError(try subscriber.call("PING"))
        XCTAssertEqual(try user.call("PING"), Array("+PONG\r\n".utf8))
        XCTAssertEqual(try admin.call("ACL", "DELUSER", "ps"), Array(":1\r\n".utf8))
        XCTAssertThrowsError(try user.call("PING"))
        let list = String(decoding: try admin.call("CLIENT", "LIST"), as: UTF8.self)
        XCTAssertTrue(list.contains("user=default"), list)
    }

    // MARK: - Rules

    /// Seeded rule strings, valid and invalid, applied on both servers: SETUSER's reply, GETUSER and LIST
    /// must be the same after each.
    func testSetUserRuleStringsMatchRedis() throws {
        try cleanUp()
        let seed = getenv("ACL_SEED").flatMap { UInt64(String(cString: $0)) } ?? 20_260_414
        var rng = SeededRandom(seed: seed)
        let commands = ["get", "set", "client", "client|id", "client|kill", "config|get", "select", "select|0",
                        "select|1", "acl|whoami", "hset", "zadd", "debug", "foo", "get|x", "config|get|x", "select|", "",
                        "@read", "@write", "@all", "@hash", "@dangerous", "@foo", "@string", "@keyspace", "@admin",
                        "@fast", "@slow", "@pubsub", "@scripting", "@connection", "publish", "subscribe", "eval",
                        "object", "object|encoding", "memory", "xinfo|stream", "slowlog", "cluster|info", "GET", "@READ"]
        let words = ["~app:*", "~*", "%R~r:*", "%W~w:*", "%RW~x", "%X~a", "%~a", "%R", "~a b", "&ch*", "&*", "allkeys",
                     "resetkeys", "allchannels", "resetchannels", "on", "off", "nopass", "resetpass", ">pw", ">pw2",
                     "<pw", "<nope", "#" + String(repeating: "a", count: 64), "#abc", "!" + String(repeating: "a", count: 64),
                     "reset", "allcommands", "nocommands", "clearselectors", "sanitize-payload", "skip-sanitize-payload",
                     "(~a", "+get)", "(", "bogus", "()", "(~k* +@read)", "(+foo &c)", "(-@all %R~x &c +get)"]
        var steps: [(Int, [String])] = []
        for _ in 0..<250 {
            let user = "u\(rng.below(4))"
            var rules: [String] = []
            for _ in 0...rng.below(6) {
                rules.append(rng.oneIn(2) ? rng.pick(["+", "-"]) + rng.pick(commands) : rng.pick(words))
            }
            steps.append((0, ["ACL", "SETUSER", user] + rules))
            steps.append((0, ["ACL", "GETUSER", user]))
            steps.append((0, ["ACL", "LIST"]))
        }
        try compare(steps, connections: 1)
        try compare([(0, ["ACL", "GETUSER", "u1"]), (0, ["ACL", "SETUSER", "bad user"]), (0, ["ACL", "USERS"])],
                    connections: 1, resp3: true)
    }

    /// ACL SAVE writes what ACL LIST shows; ACL LOAD reads it back (and refuses a broken file, changing
    /// nothing).
    func testACLFileRoundTrip() throws {
        let path = "/tmp/needletail-acl-\(getpid()).acl"
        unlink(path)
        let file = fopen(path, "w")!
        fputs("user default on nopass ~* &* +@all\n", file)
        fclose(file)
        let server = try ServerUnderTest.start(extraArguments: ["--aclfile", path])
        defer { server.stop(); unlink(path) }
        let c = try RawClient(port: server.port)
        XCTAssertEqual(try c.call("ACL", "SETUSER", "sel", "on", ">pw", "~a:*", "%R~r:*", "&ch", "-@all", "+@read",
                                  "-get", "+client|id", "+select|0", "(~b:* +set)"), Array("+OK\r\n".utf8))
        // A grant of 7.2's CLIENT SETINFO (which redis-py sends at connect) is written, so it survives a reload.
        XCTAssertEqual(try c.call("ACL", "SETUSER", "lib", "on", "nopass", "-@all", "+get", "+client|setinfo"),
                       Array("+OK\r\n".utf8))
        let before = try c.call("ACL", "LIST")
        XCTAssertTrue(String(decoding: before, as: UTF8.self).contains("user lib on nopass resetchannels -@all +client|setinfo +get"))
        XCTAssertEqual(try c.call("ACL", "SAVE"), Array("+OK\r\n".utf8))
        _ = try c.call("ACL", "SETUSER", "sel", "reset")
        _ = try c.call("ACL", "SETUSER", "extra")
        XCTAssertEqual(try c.call("ACL", "LOAD"), Array("+OK\r\n".utf8))
        XCTAssertEqual(String(decoding: try c.call("ACL", "LIST"), as: UTF8.self), String(decoding: before, as: UTF8.self))
        let broken = fopen(path, "a")!  // after the lines of default, lib and sel
        fputs("user bad +nosuchcommand\nnotauser x\n", broken)
        fclose(broken)
        let error = String(decoding: try c.call("ACL", "LOAD"), as: UTF8.self)
        XCTAssertEqual(error, "-ERR \(path):4: Unknown command or category name in ACL. \(path):5: should start with user keyword. \r\n")
        XCTAssertEqual(try c.call("ACL", "LIST"), before)
        let user = try RawClient(port: server.port)
        XCTAssertEqual(try user.call("AUTH", "sel", "pw"), Array("+OK\r\n".utf8))
        XCTAssertEqual(try user.call("SELECT", "0"), Array("+OK\r\n".utf8))
        XCTAssertEqual(String(decoding: try user.call("SELECT", "1"), as: UTF8.self),
                       "-NOPERM this user has no permissions to run the 'select' command\r\n")
        XCTAssertEqual(try user.call("SET", "b:1", "x"), Array("+OK\r\n".utf8))
    }

    /// `user` lines in the configuration define users at start-up.
    func testUserLinesInConfiguration() throws {
        let server = try ServerUnderTest.start(extraArguments: ["--user", "cfg", "on", ">pw", "~c:*", "+@string"])
        defer { server.stop() }
        let c = try RawClient(port: server.port)
        XCTAssertEqual(String(decoding: try c.call("ACL", "GETUSER", "cfg").prefix(14), as: UTF8.self), "*12\r\n$5\r\nflags")
        XCTAssertEqual(try c.call("AUTH", "cfg", "pw"), Array("+OK\r\n".utf8))
        XCTAssertEqual(try c.call("SET", "c:1", "v"), Array("+OK\r\n".utf8))
        XCTAssertEqual(String(decoding: try c.call("HSET", "c:2", "f", "v"), as: UTF8.self),
                       "-NOPERM this user has no permissions to run the 'hset' command\r\n")
    }

    // MARK: - Categories

    /// Every command both servers have lists the same ACL categories in COMMAND INFO.
    func testCommandCategoriesMatchRedis() throws {
        let theirs = try RawClient(port: Self.redis!.port)
        let ours = try RawClient(port: Self.needletail!.port)
        func categories(_ c: RawClient) throws -> [String: [UInt8]] {
            guard case .aggregate(_, let all?) = try RawReply.parse(c.call("COMMAND", "INFO")) else { return [:] }
            var result: [String: [UInt8]] = [:]
            func add(_ info: RawReply) {
                guard case .aggregate(_, let fields?) = info, fields.count >= 10, case .blob(_, let name?) = fields[0] else { return }
                result[String(decoding: name, as: UTF8.self)] = fields[6].encoded
                if case .aggregate(_, let subs?) = fields[9] { subs.forEach(add) }
            }
            all.forEach(add)
            return result
        }
        let a = try categories(theirs)
        let b = try categories(ours)
        var compared = 0
        for (name, cats) in a {
            guard let mine = b[name] else { continue }
            compared += 1
            XCTAssertEqual(String(decoding: mine, as: UTF8.self), String(decoding: cats, as: UTF8.self), name)
        }
        XCTAssertGreaterThan(compared, 300)
    }
}
