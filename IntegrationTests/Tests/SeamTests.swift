import Glibc
import XCTest
@testable import Needletail

/// The server's seams against redis-server 7.0, the oracle: what the keyspace reports (item 1), what an
/// execution unit propagates (item 2), and what an internal client captures (item 3).
///
/// Fixed scripts (`SeamScript`: every write command family, including no-op and failing forms that must
/// report nothing) run once on each side:
/// - on redis-server started with `--notify-keyspace-events KEA` and an AOF (`appendfsync always`), its
///   active expire cycle off (DEBUG SET-ACTIVE-EXPIRE 0: keys expire when a command meets them), a
///   second connection PSUBSCRIBEs to `__keyevent@*__:*` and collects (db, event, key); after each step a
///   PUBLISH of a marker on a matching channel closes the step's events, and the size of the `.incr.aof`
///   file after the step's reply closes the step's propagated commands (fsync'd before the reply);
/// - on an in-process needletail `Server` whose loop never runs: the test thread runs each step with
///   `run(_:on:)` on an internal client, a recorder is its `keyspaceObserver` (events other than `.none`)
///   and its `propagationSink` (SELECT emitted as Redis's AOF does: before a command whose db differs from
///   the last one written; MULTI carries the database of the unit's first command, as in Redis 7.0).
/// Each step's replies, events and propagated commands must be equal, in order; absolute millisecond
/// times (any integer argument > 10^12) compare as "<ms>". A mismatch lists every differing step.
///
/// `SeamScript.pops` (ZMPOP, BZMPOP, SET ... GET) is compared for replies and events only: Redis 7.0
/// propagates those as ZPOPMIN/ZPOPMAX <key> <popped count> and without GET, needletail does not (a
/// reported difference; the failing comparison is on branch seams-known-differences, off main).
///
/// `testBlockedClientsServedLaterEqualRedis` does the same over TCP for clients parked by BZPOPMIN/BZPOPMAX
/// and served by another connection's write: the in-process server's loop runs on a thread of its own.
final class SeamTests: XCTestCase {
    private static var cached: [String: (redis: SeamTranscript, needletail: SeamTranscript)] = [:]

    /// Both servers' transcripts of `script` (run once per test process).
    func transcripts(_ script: String) throws -> (redis: SeamTranscript, needletail: SeamTranscript) {
        guard RawRedisServer.isInstalled else { throw XCTSkip("redis-server is not installed at \(RawRedisServer.path)") }
        if let cached = Self.cached[script] { return cached }
        let steps = SeamScript.steps(script)
        let both = (redis: try SeamScript.runOnRedis(steps), needletail: try SeamScript.runOnNeedletail(steps))
        Self.cached[script] = both
        if getenv("SEAM_TRACE") != nil {  // SEAM_TRACE=1: what Redis did for each step
            for (i, step) in steps.enumerated() {
                print("\(step.description)  ->  \(both.redis.replies[i].first ?? "")\n    events \(both.redis.events[i])\n    aof    \(both.redis.propagated[i])")
            }
        }
        return both
    }

    // MARK: - 1. Keyspace events

    func testKeyspaceEventsEqualRedisNotifications() throws {
        for script in [SeamScript.main, SeamScript.pops] {
            let (redis, needletail) = try transcripts(script)
            XCTAssertGreaterThan(redis.events.joined().count, script == SeamScript.main ? 150 : 10, "Redis published events")
            compare(\.events, "keyspace events", script, redis, needletail)
        }
    }

    // MARK: - 2. Propagation

    func testPropagatedCommandsEqualRedisAOF() throws {
        let (redis, needletail) = try transcripts(SeamScript.main)
        XCTAssertGreaterThan(redis.propagated.joined().count, 150, "the script filled Redis's AOF")
        compare(\.propagated, "propagated commands", SeamScript.main, redis, needletail)
    }

    /// The scripts' premise: both servers did the same thing (same reply to every step).
    func testScriptRepliesEqualRedis() throws {
        for script in [SeamScript.main, SeamScript.pops] {
            let (redis, needletail) = try transcripts(script)
            compare(\.replies, "replies", script, redis, needletail)
        }
    }

    func compare(_ part: KeyPath<SeamTranscript, [[String]]>, _ what: String, _ script: String,
                 _ redis: SeamTranscript, _ needletail: SeamTranscript, file: StaticString = #filePath, line: UInt = #line) {
        let steps = SeamScript.steps(script)
        XCTAssertEqual(redis[keyPath: part].count, steps.count, file: file, line: line)
        XCTAssertEqual(needletail[keyPath: part].count, steps.count, file: file, line: line)
        var report: [String] = []
        for (i, step) in steps.enumerated() where i < redis[keyPath: part].count && i < needletail[keyPath: part].count {
            let r = redis[keyPath: part][i]
            let n = needletail[keyPath: part][i]
            if r != n {
                report.append("step \(i) (script line \(step.line)) \(step.description):\n      redis:      \(r)\n      needletail: \(n)")
            }
        }
        if !report.isEmpty {
            XCTFail("\(what) differ from redis-server's in \(report.count) steps:\n  " + report.joined(separator: "\n  "),
                    file: file, line: line)
        }
    }

    // MARK: - Blocked clients served later (over TCP)

    /// Clients parked on keys, then served by other connections' writes: the same replies, events and
    /// propagated commands (the write, then one ZPOPMIN/ZPOPMAX per client served, each its own unit) as
    /// redis-server. The needletail here is in-process, its loop on a thread, so the recorder sees it.
    func testBlockedClientsServedLaterEqualRedis() throws {
        guard RawRedisServer.isInstalled else { throw XCTSkip("redis-server is not installed at \(RawRedisServer.path)") }
        let redis = try SeamServedLater.onRedis(SeamServedLater.scenario)
        let needletail = try SeamServedLater.onNeedletail(SeamServedLater.scenario)
        XCTAssertEqual(needletail.replies, redis.replies, "replies")
        XCTAssertEqual(needletail.events, redis.events, "keyspace events")
        XCTAssertEqual(needletail.propagated, redis.propagated, "propagated commands")
        XCTAssertEqual(redis.propagated, [
            "SELECT 0", "ZADD k 1 a 2 b 3 c", "ZPOPMIN k", "ZPOPMAX k", "ZPOPMIN k", "SET k str", "DEL k", "ZADD k 5 e",
            "ZPOPMIN k", "SELECT 1", "ZADD k 9 z", "ZPOPMAX k",
        ], "the scenario did what it is meant to")
    }

    // MARK: - 3. Internal clients

    /// A server whose loop never runs: nothing else touches it, so the test thread may call `run(_:on:)`.
    private func idleServer() throws -> Server {
        let config = Config()
        config.loglevel = "nothing"
        return try Server(config: config)
    }

    func testInternalClientCapturesRepliesInRESP2AndRESP3() throws {
        let server = try idleServer()
        let client = server.makeInternalClient()
        XCTAssertEqual(reply(server.run(["SET", "k", "v"], on: client)), "+OK\r\n")
        XCTAssertEqual(reply(server.run(["GET", "k"], on: client)), "$1\r\nv\r\n")
        XCTAssertEqual(reply(server.run(["GET", "missing"], on: client)), "$-1\r\n")
        XCTAssertEqual(reply(server.run(["ZADD", "z", "1.5", "m"], on: client)), ":1\r\n")
        XCTAssertEqual(reply(server.run(["ZSCORE", "z", "m"], on: client)), "$3\r\n1.5\r\n")
        XCTAssertEqual(reply(server.run([], on: client)), "", "an empty request replies nothing")

        let hello = reply(server.run(["HELLO", "3"], on: client))
        XCTAssertTrue(hello.hasPrefix("%7\r\n$6\r\nserver\r\n"), "HELLO 3 replies a RESP3 map: \(hello.debugDescription)")
        XCTAssertTrue(hello.contains("$5\r\nproto\r\n:3\r\n"), hello.debugDescription)
        XCTAssertEqual(reply(server.run(["GET", "missing"], on: client)), "_\r\n")
        XCTAssertEqual(reply(server.run(["ZSCORE", "z", "m"], on: client)), ",1.5\r\n")
        XCTAssertEqual(reply(server.run(["ZRANGE", "z", "0", "-1", "WITHSCORES"], on: client)), "*1\r\n*2\r\n$1\r\nm\r\n,1.5\r\n")
        // An internal client cannot block: a blocking command that finds nothing times out at once.
        XCTAssertEqual(reply(server.run(["BZPOPMIN", "empty", "0"], on: client)), "_\r\n")
        XCTAssertEqual(reply(server.run(["HELLO", "2"], on: client)).prefix(4), "*14\r\n", "HELLO 2 replies a flat array")
        XCTAssertEqual(reply(server.run(["BZPOPMIN", "empty", "0"], on: client)), "*-1\r\n")
    }

    func testInternalClientCapturesErrors() throws {
        let server = try idleServer()
        let client = server.makeInternalClient()
        XCTAssertEqual(reply(server.run(["NOSUCH", "a", "b"], on: client)),
                       "-ERR unknown command 'NOSUCH', with args beginning with: 'a' 'b' \r\n")
        XCTAssertEqual(reply(server.run(["GET"], on: client)), "-ERR wrong number of arguments for 'get' command\r\n")
        XCTAssertEqual(reply(server.run(["CONFIG"], on: client)), "-ERR wrong number of arguments for 'config' command\r\n")
        XCTAssertEqual(reply(server.run(["SET", "s", "v"], on: client)), "+OK\r\n")
        XCTAssertEqual(reply(server.run(["ZADD", "s", "1", "m"], on: client)),
                       "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n")
        XCTAssertEqual(reply(server.run(["INCR", "s"], on: client)), "-ERR value is not an integer or out of range\r\n")
        XCTAssertEqual(reply(server.run(["BZPOPMIN", "z", "abc"], on: client)), "-ERR timeout is not a float or out of range\r\n")
        XCTAssertEqual(reply(server.run(["PING"], on: client)), "+PONG\r\n", "an error leaves nothing behind in the capture")
    }

    /// The same requests on an internal client and on a redis-server connection: the same bytes.
    func testInternalClientRepliesEqualRedis() throws {
        guard RawRedisServer.isInstalled else { throw XCTSkip("redis-server is not installed") }
        let redis = try RawRedisServer()
        defer { redis.stop() }
        let connection = try RawClient(port: redis.port)
        let server = try idleServer()
        let client = server.makeInternalClient()
        let requests: [[String]] = [
            ["SET", "k", "v", "EX", "100"], ["GET", "k"], ["GETEX", "k", "PERSIST"], ["APPEND", "k", "w"], ["INCR", "k"],
            ["INCRBYFLOAT", "f", "1.5"], ["ZADD", "z", "1", "a", "2", "b", "inf", "c"], ["ZRANGE", "z", "0", "-1", "WITHSCORES"],
            ["ZPOPMAX", "z"], ["ZMPOP", "1", "z", "MIN", "COUNT", "5"], ["BZPOPMIN", "k", "0"], ["BZPOPMIN", "nokey", "0.01"],
            ["BZMPOP", "0.01", "1", "nokey", "MIN"], ["GET"], ["nosuch", "x"], ["SET", "k"], ["SET", "k", "v", "NX", "XX"],
            ["HELLO", "3", "SETNAME", "x y"], ["SELECT", "1"], ["SET", "k", "v"], ["GET", "k"], ["ZADD", "z", "1", "a"],
            ["ZRANGE", "z", "0", "-1", "WITHSCORES"], ["ZPOPMIN", "z"], ["BZPOPMIN", "nokey", "0.01"], ["GET", "nokey"],
            ["ZSCORE", "nokey", "a"], ["INCRBYFLOAT", "f", "1e400"], ["NOSUCH"], ["HELLO", "2"], ["GET", "nokey"],
        ]
        for request in requests {
            let expected = try connection.call(request.map { Array($0.utf8) })
            let got = server.run(request.map { ByteString($0) }, on: client) ?? []
            if request[0] == "HELLO" {
                XCTAssertEqual(got.first, expected.first, "\(request)")  // id and version differ
                continue
            }
            XCTAssertEqual(rawEscaped(got), rawEscaped(expected), "\(request)")
        }
    }

    func testDiscardSinkReturnsNilAndStillRunsTheCommand() throws {
        let server = try idleServer()
        let client = server.makeInternalClient()
        client.replySink = .discard
        XCTAssertNil(server.run(["SET", "k", "v"], on: client))
        XCTAssertNil(server.run(["NOSUCH"], on: client))
        XCTAssertNil(server.run([], on: client))
        client.replySink = .capture
        XCTAssertEqual(reply(server.run(["GET", "k"], on: client)), "$1\r\nv\r\n", "the discarded SET took effect")
    }

    /// Internal clients go through the same execution units: their writes are propagated and observed.
    func testInternalClientWritesArePropagatedAndObserved() throws {
        let server = try idleServer()
        let recorder = SeamRecorder()
        server.keyspaceObserver = recorder
        server.propagationSink = recorder
        let client = server.makeInternalClient()
        client.replySink = .discard
        server.run(["SET", "k", "1", "EX", "100"], on: client)
        server.run(["GET", "k"], on: client)
        server.run(["INCRBYFLOAT", "k", "0.5"], on: client)
        XCTAssertEqual(recorder.takeEvents(), ["0 set k", "0 expire k", "0 incrbyfloat k"])
        XCTAssertEqual(recorder.takePropagated(selected: -1).map { $0.map(normalizedTime) },
                       ["SELECT 0", "SET k 1 PXAT <ms>", "SET k 1.5 KEEPTTL"].map { $0.split(separator: " ").map(String.init) })
    }

    /// With propagation the only reason to listen to the keyspace (no watch, block, observer, notification
    /// or tracking), writes do not reach the server's listener, but a key that expires or is evicted is
    /// still propagated as its deletion; a WATCH makes the listener hear every change again.
    func testPropagationAloneHearsOnlyExpiryAndEviction() throws {
        let server = try idleServer()
        let recorder = SeamRecorder()
        server.propagationSink = recorder
        XCTAssertFalse(server.keyspace.listenerHearsAll)
        let client = server.makeInternalClient()
        client.replySink = .discard
        server.run(["SET", "k", "v", "PX", "1"], on: client)
        usleep(5000)
        server.run(["GET", "k"], on: client)
        XCTAssertEqual(recorder.takePropagated(selected: -1).map { $0.map(normalizedTime) },
                       ["SELECT 0", "SET k v PXAT <ms>", "DEL k"].map { $0.split(separator: " ").map(String.init) })
        let watcher = server.makeInternalClient()
        watcher.replySink = .discard
        server.run(["WATCH", "w"], on: watcher)
        XCTAssertTrue(server.keyspace.listenerHearsAll)
        server.run(["UNWATCH"], on: watcher)
        XCTAssertFalse(server.keyspace.listenerHearsAll)
    }

    private func reply(_ bytes: [UInt8]?) -> String {
        guard let bytes else { return "<nil>" }
        return String(decoding: bytes, as: UTF8.self)
    }
}

// MARK: - The script

/// One step of the script: a command, or a pause (lazy expiry).
struct SeamStep: CustomStringConvertible {
    let line: Int
    let argv: [String]
    let sleepMillis: Int?

    var description: String { sleepMillis.map { "(sleep \($0) ms)" } ?? argv.joined(separator: " ") }
}

/// What one server did for each step of the script: its reply, the events it published and the commands
/// it propagated (each as text, one array per step).
struct SeamTranscript {
    var replies: [[String]] = []
    var events: [[String]] = []
    var propagated: [[String]] = []
}

enum SeamScript {
    /// One command per line, split on spaces; `''` is an empty argument; `sleep N` pauses N ms; `#` comments.
    /// Times in the future are ~2100 (EXAT 4102444800) or at least 100 s ahead; in the past, 1970.
    static let main = """
    # Strings: SET and its options
    SET s1 v
    SET s1 v2 EX 100
    SET s1 v3 PX 100000
    SET s1 v4 EXAT 4102444800
    SET s1 v5 PXAT 4102444800000
    SET s1 v6 KEEPTTL
    SET s1 v7 XX
    SET s1 v8 NX
    SET s2 v NX
    SET s2 w XX
    SET s3 v XX
    SET s3 v XX GET
    SET s1 v9 GET EX 200
    SET s1 v10 NX GET
    SET past v EXAT 1
    SET past2 v PXAT 1
    EXISTS past past2
    SET past v EX 100 GET
    SET s1 v EX 0
    SET s1 v EX abc
    SETNX s4 v
    SETNX s4 w
    SETEX s5 100 v
    SETEX s5 0 v
    PSETEX s6 100000 v
    GETSET s6 w
    GETSET s7 new
    GETDEL s7
    GETDEL s7
    # GETEX
    GETEX s5 EX 100
    GETEX s5 PX 100000
    GETEX s5 EXAT 4102444800
    GETEX s5 PXAT 4102444800000
    GETEX s5 PERSIST
    GETEX s5 PERSIST
    GETEX s5
    GETEX s5 EXAT 1
    SET s5 v
    GETEX s5 PX 1 EX 1
    GETEX s5 PXAT 1
    GETEX nosuch EX 100
    GETEX s4 EX -1
    # Multi-key, append, ranges, counters
    MSET m1 a m2 b
    MSET m1 a m1 b
    MSETNX m3 c m4 d
    MSETNX m1 x m5 y
    APPEND a1 hello
    APPEND a1 world
    APPEND a1 ''
    SETRANGE r1 5 x
    SETRANGE r1 0 y
    SETRANGE r1 0 ''
    SETRANGE r2 0 ''
    SETRANGE r2 3 ''
    INCR n1
    DECR n1
    INCRBY n1 10
    DECRBY n1 3
    INCRBY n1 0
    INCRBYFLOAT n1 1.5
    INCRBYFLOAT n2 2
    SET n3 5 EX 100
    INCRBYFLOAT n3 1
    INCR n3
    INCR a1
    INCRBYFLOAT a1 1
    INCRBY n1 abc
    SET big 9223372036854775807
    INCR big
    # Wrong types and failures: nothing published, nothing propagated
    ZADD zs 1 a
    GET zs
    SET zs v XX GET
    APPEND zs x
    INCR zs
    GETDEL zs
    GETEX zs EX 100
    SETRANGE zs 0 x
    GETSET zs v
    # Keys
    DEL m1 m2 nosuch
    DEL nosuch
    UNLINK m3 nosuch
    RENAME m4 fresh
    SET other x
    RENAME fresh other
    RENAME nosuch x
    RENAME other other
    RENAMENX other a1
    RENAMENX other renamed
    SET withttl v EX 100
    RENAME withttl ttlrenamed
    COPY renamed c1
    COPY renamed c1
    COPY renamed c1 REPLACE
    COPY renamed c1 DB 1
    COPY nosuch c2
    COPY zs zcopy
    MOVE c1 2
    MOVE nosuch 2
    SET c1 again
    SELECT 2
    SET c1 there
    SELECT 0
    MOVE c1 2
    SWAPDB 1 2
    SELECT 1
    GET c1
    FLUSHDB
    SELECT 3
    FLUSHDB
    SELECT 0
    # Expiry
    SET e1 v
    EXPIRE e1 100
    EXPIRE e1 200 NX
    EXPIRE e1 300 XX
    EXPIRE e1 50 GT
    EXPIRE e1 400 GT
    EXPIRE e1 350 LT
    EXPIRE e1 500 LT
    PEXPIRE e1 500000
    PEXPIRE e1 600000 XX GT
    EXPIREAT e1 4102444800
    PEXPIREAT e1 4102444800000
    PEXPIREAT e1 4102444800000 GT
    PERSIST e1
    PERSIST e1
    EXPIRE e1 100 XX
    EXPIRE e1 100 NX
    EXPIRE e1 50 GT
    EXPIRE e1 150 LT
    EXPIRE nosuch 100
    PERSIST nosuch
    EXPIRE e1 abc
    EXPIRE e1 100 NX XX
    SET e2 v
    EXPIRE e2 -1
    SET e3 v
    PEXPIREAT e3 1
    SET e4 v
    EXPIREAT e4 1 NX
    SET e5 v
    PEXPIRE e5 0
    SET e6 v EX 100
    EXPIRE e6 -5 GT
    EXPIRE e6 -5 LT
    # Lazy expiry: a read deletes alone; a write that also changes the key is wrapped with its DEL
    SET lazy v PX 1
    sleep 20
    GET lazy
    SET lazy2 1 PX 1
    sleep 20
    INCR lazy2
    SET lazy3 v PX 1
    sleep 20
    SET lazy3 w NX
    SET lazy4 v PX 1
    sleep 20
    EXPIRE lazy4 100
    SELECT 1
    SET lazy5 a PX 1
    SELECT 0
    sleep 20
    SELECT 1
    APPEND lazy5 b
    SELECT 0
    # Sorted sets: ZADD
    ZADD z1 1 a 2 b 3 c
    ZADD z1 5 a
    ZADD z1 5 a
    ZADD z1 CH 6 a 4 d
    ZADD z1 INCR 1 a
    ZADD z1 NX 9 a
    ZADD z1 XX 9 nosuchmember
    ZADD z1 GT 1 b
    ZADD z1 LT 1 b
    ZADD z1 NX 9 e
    ZADD z1 XX CH 10 e
    ZADD z1 NX INCR 1 a
    ZADD z1 1
    ZADD z1 NX XX 1 a
    ZADD z1 nan a
    ZADD z1 INCR 1 a 2 b
    ZADD s1 1 a
    ZADD znew XX 1 a
    ZADD znew NX 1 a
    ZINCRBY z1 2 b
    ZINCRBY z2 2 b
    ZINCRBY z2 abc b
    ZINCRBY s1 1 b
    # ZREM and ranges
    ZREM z1 a nosuch
    ZREM z1 nosuch
    ZREM z2 b
    ZREM nosuch a
    ZREMRANGEBYRANK z1 0 0
    ZREMRANGEBYRANK z1 5 10
    ZREMRANGEBYSCORE z1 -inf 2
    ZREMRANGEBYSCORE z1 100 200
    ZREMRANGEBYSCORE z1 -inf +inf
    ZADD lex 0 a 0 b 0 c 0 d
    ZREMRANGEBYLEX lex [a [b
    ZREMRANGEBYLEX lex (x +
    ZREMRANGEBYLEX lex - +
    ZADD rk 1 a 2 b
    ZREMRANGEBYRANK rk 0 -1
    # Pops
    ZADD p 1 a 2 b 3 c 4 d 5 e 6 f
    ZPOPMIN p
    ZPOPMAX p 2
    ZPOPMIN p 0
    ZPOPMIN p -1
    ZPOPMIN p 10
    ZPOPMIN p
    ZADD bz 1 a 2 b 3 c
    BZPOPMIN bz 1
    BZPOPMAX nosuch bz 1
    BZPOPMIN s1 1
    BZPOPMIN bz nosuch abc
    BZPOPMIN bz 0
    ZADD bz2 1 a
    BZPOPMAX bz2 0
    # STORE commands
    ZADD src1 1 a 2 b 3 c
    ZADD src2 2 b 3 c 4 d
    ZRANGESTORE dst src1 0 1
    ZRANGESTORE dst src1 1 2
    ZRANGESTORE dst src1 5 10
    ZRANGESTORE dst2 src1 5 10
    ZRANGESTORE dst3 src1 (1 +inf BYSCORE LIMIT 0 1
    ZRANGESTORE dst3 nosuch 0 -1
    ZUNIONSTORE u 2 src1 src2
    ZUNIONSTORE u 2 src1 src2 WEIGHTS 2 3
    ZINTERSTORE i 2 src1 src2
    ZDIFFSTORE d 2 src1 src2
    ZINTERSTORE u 2 src1 nosuch
    ZDIFFSTORE d 1 nosuch
    ZUNIONSTORE nothing 1 nosuch
    ZUNIONSTORE s1 1 src1
    ZINTERSTORE i 2 src1 a1
    ZUNIONSTORE i 0 src1
    # Transactions: EXEC propagates the commands that wrote, wrapped in MULTI/EXEC when there are several
    MULTI
    SET t1 a
    GET t1
    INCR t2
    EXEC
    MULTI
    GET t1
    EXEC
    MULTI
    SET t1 b
    GET t1
    EXEC
    MULTI
    SET t3 c EX 100
    EXPIRE t3 200
    RPUSH tl a
    BLPOP tl 0
    BLPOP tl 0
    BZPOPMIN nosuch 0
    INCR t1
    EXEC
    MULTI
    SELECT 1
    SET t1 x
    SELECT 0
    DEL t1
    EXEC
    MULTI
    SET t1
    SET t1 y
    EXEC
    MULTI
    SET t1 z
    DISCARD
    EXEC foo
    # Databases last: FLUSHALL, then FLUSHDB of an empty database (still propagated)
    SELECT 4
    SET four v
    FLUSHALL
    FLUSHDB
    SELECT 0
    FLUSHDB
    SET last v
    """

    /// ZMPOP, BZMPOP (served at once) and SET ... GET: their replies and events are compared; their
    /// propagation differs from Redis 7.0's (see the class comment).
    static let pops = """
    SET str v
    ZADD p 1 a 2 b 3 c
    ZMPOP 1 p MIN
    ZMPOP 1 p MAX COUNT 1
    ZMPOP 2 nosuch p MAX COUNT 5
    ZMPOP 1 p MIN
    ZMPOP 1 str MIN
    ZMPOP 1 p MIN COUNT 0
    ZADD bz 1 a 2 b 3 c 4 d 5 e
    BZMPOP 1 1 bz MIN COUNT 2
    BZMPOP 1 2 nosuch bz MAX
    BZMPOP 1 1 bz MIN COUNT 0
    BZMPOP 1 1 str MIN
    ZADD bz3 1 a 2 b
    BZMPOP 0 1 bz3 MAX COUNT 10
    SET s v
    SET s w XX GET
    SET s x GET
    SET s2 y GET
    SET s2 z NX GET
    SET s3 v NX GET
    """

    static func steps(_ text: String) -> [SeamStep] {
        var out: [SeamStep] = []
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.drop { $0 == " " }
            if line.isEmpty || line.hasPrefix("#") { continue }
            let words = line.split(separator: " ").map { $0 == "''" ? "" : String($0) }
            if words[0] == "sleep" {
                out.append(SeamStep(line: n + 1, argv: [], sleepMillis: Int(words[1])!))
            } else {
                out.append(SeamStep(line: n + 1, argv: words, sleepMillis: nil))
            }
        }
        return out
    }

    // MARK: redis-server

    static func runOnRedis(_ steps: [SeamStep]) throws -> SeamTranscript {
        let redis = try RedisOracleProcess(extraArguments: [
            "--notify-keyspace-events", "KEA", "--appendonly", "yes", "--appendfsync", "always",
            "--aof-use-rdb-preamble", "yes", "--enable-debug-command", "yes",
        ])
        defer { redis.stop() }
        let subscriber = try RawClient(port: redis.port)
        _ = try subscriber.call("PSUBSCRIBE", "__keyevent@*__:*")
        let client = try RawClient(port: redis.port)
        let marking = try RawClient(port: redis.port)  // not `client`: inside MULTI its PUBLISH would be queued
        // Keys expire only when a command meets them, as on the idle in-process needletail.
        _ = try client.call("DEBUG", "SET-ACTIVE-EXPIRE", "0")
        let aof = try redis.incrementalAOFPath()
        var transcript = SeamTranscript()
        var aofOffset = fileSize(aof)
        guard aofOffset == 0 else { throw HarnessError("the AOF holds \(aofOffset) bytes before the script") }
        for (i, step) in steps.enumerated() {
            if let ms = step.sleepMillis {
                rawSleepMillis(ms)
                transcript.replies.append([])
            } else {
                transcript.replies.append([rawEscaped(try client.call(step.argv.map { Array($0.utf8) }))])
            }
            // Every event of the step was published before its reply, so before this marker.
            let marker = "__keyevent@99__:step\(i)"
            _ = try marking.call("PUBLISH", marker, "x")
            var events: [String] = []
            while true {
                guard case .aggregate(_, let m?) = try RawReply.parse(try subscriber.readReply()), m.count == 4,
                      case .blob(_, let channel?) = m[2], case .blob(_, let key?) = m[3] else {
                    throw HarnessError("unexpected frame on the subscriber")
                }
                let name = String(decoding: channel, as: UTF8.self)
                if name == marker { break }
                // __keyevent@<db>__:<event>
                let db = name.dropFirst("__keyevent@".count).prefix { $0 != "_" }
                let event = name.split(separator: ":", maxSplits: 1).last ?? ""
                events.append("\(db) \(event) \(String(decoding: key, as: UTF8.self))")
            }
            transcript.events.append(events)
            let size = fileSize(aof)
            let written = readFile(aof, from: aofOffset, count: size - aofOffset)
            aofOffset = size
            transcript.propagated.append(try parseAOF(written).map { $0.map(normalizedTime).joined(separator: " ") })
        }
        return transcript
    }

    /// The commands of an AOF fragment (RESP arrays of bulk strings).
    static func parseAOF(_ bytes: [UInt8]) throws -> [[String]] {
        var out: [[String]] = []
        var i = 0
        while i < bytes.count {
            guard let end = try RESPFrame.end(of: bytes, from: i) else { throw HarnessError("truncated AOF") }
            guard case .aggregate(_, let args?) = try RawReply.parse(Array(bytes[i..<end])) else {
                throw HarnessError("AOF entry is not an array")
            }
            out.append(args.map { arg in
                if case .blob(_, let b?) = arg { return String(decoding: b, as: UTF8.self) }
                return "?"
            })
            i = end
        }
        return out
    }

    // MARK: needletail

    static func runOnNeedletail(_ steps: [SeamStep]) throws -> SeamTranscript {
        let config = Config()
        config.loglevel = "nothing"
        let server = try Server(config: config)
        let recorder = SeamRecorder()
        server.keyspaceObserver = recorder
        server.propagationSink = recorder
        let client = server.makeInternalClient()
        var transcript = SeamTranscript()
        var selected = -1
        for step in steps {
            if let ms = step.sleepMillis {
                rawSleepMillis(ms)
                transcript.replies.append([])
            } else {
                let reply = server.run(step.argv.map { ByteString($0) }, on: client) ?? []
                transcript.replies.append([rawEscaped(reply)])
            }
            transcript.events.append(recorder.takeEvents())
            let propagated = recorder.takePropagated(selected: selected)
            selected = recorder.selectedDB
            transcript.propagated.append(propagated.map { $0.map(normalizedTime).joined(separator: " ") })
        }
        return transcript
    }
}

/// needletail's side: the keyspace observer and the propagation sink. Locked, as a running loop calls it
/// on its own thread while the test thread reads it.
final class SeamRecorder: KeyspaceListener, PropagationSink {
    private var lock = pthread_mutex_t()
    private var events: [String] = []
    private var units: [[PropagatedCommand]] = []
    private(set) var selectedDB = -1

    init() { pthread_mutex_init(&lock, nil) }
    deinit { pthread_mutex_destroy(&lock) }

    private func locked<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        return body()
    }

    func keyChanged(_ change: KeyChange, key: UnsafeRawBufferPointer, db: Int, event: KeyspaceEvent) {
        // Redis publishes nothing for `.none` (and `m`/`n`, key miss and new key, are not events here).
        guard !event.isNone else { return }
        let text = "\(db) \(event.nameString) \(String(decoding: key, as: UTF8.self))"
        locked { events.append(text) }
    }

    func databaseWillFlush(_ db: Int) {}
    func databasesWillSwap(_ first: Int, _ second: Int) {}

    func propagate(_ commands: [PropagatedCommand]) { locked { units.append(commands) } }

    func takeEvents() -> [String] {
        locked {
            defer { events.removeAll() }
            return events
        }
    }

    /// The units since the last call as an AOF would hold them: SELECT before a command whose database is
    /// not the one last selected (`selected`, -1 at the start). MULTI carries its first command's database
    /// and EXEC its last's, so SELECT comes before MULTI and never before EXEC, as Redis 7.0 writes them.
    func takePropagated(selected: Int) -> [[String]] {
        let taken: [[PropagatedCommand]] = locked {
            defer { units.removeAll() }
            return units
        }
        selectedDB = selected
        var out: [[String]] = []
        for command in taken.joined() {
            let argv = command.argv.map { String(decoding: $0.bytes, as: UTF8.self) }
            if command.db != selectedDB {
                out.append(["SELECT", String(command.db)])
                selectedDB = command.db
            }
            out.append(argv)
        }
        return out
    }
}

// MARK: - Blocked clients served later

/// A scenario over TCP with several connections, run on redis-server and on an in-process needletail.
enum SeamServedLater {
    struct Outcome {
        var replies: [String] = []
        var events: [String] = []
        var propagated: [String] = []
    }

    /// The connections: 0 is the admin, 1-3 block. A step sends a request on a connection (`expectsReply`
    /// false: it blocks, read later by `read`), reads a pending reply, or waits until `n` clients are blocked.
    enum Step {
        case send(Int, [String])
        case park(Int, [String])
        case read(Int)
        case waitBlocked(Int)
    }

    static let scenario: [Step] = [
        .park(1, ["BZPOPMIN", "k", "0"]), .waitBlocked(1),
        .park(2, ["BZPOPMAX", "k", "0"]), .waitBlocked(2),
        .park(3, ["BZPOPMIN", "k2", "k", "0"]), .waitBlocked(3),
        .send(0, ["ZADD", "k", "1", "a", "2", "b", "3", "c"]),  // serves all three, in the order they blocked
        .read(1), .read(2), .read(3),
        .park(1, ["BZPOPMIN", "k", "0"]), .waitBlocked(1),
        .send(0, ["SET", "k", "str"]),  // another type: still blocked
        .send(0, ["DEL", "k"]),
        .send(0, ["ZADD", "k", "5", "e"]),
        .read(1),
        .send(2, ["BZPOPMIN", "nokey", "0.05"]),  // times out: nothing to propagate
        .send(3, ["SELECT", "1"]),
        .park(3, ["BZPOPMAX", "k", "0"]), .waitBlocked(1),
        .send(0, ["SELECT", "1"]),
        .send(0, ["ZADD", "k", "9", "z"]),
        .read(3),
        .send(0, ["SELECT", "0"]),
    ]

    /// Runs the steps; returns the replies in order.
    static func play(_ steps: [Step], port: Int) throws -> [String] {
        let connections = try (0..<4).map { _ in try RawClient(port: port) }
        var replies: [String] = []
        for step in steps {
            switch step {
            case .send(let c, let argv):
                replies.append("\(c): " + rawEscaped(try connections[c].call(argv.map { Array($0.utf8) })))
            case .park(let c, let argv):
                try connections[c].send(command: argv.map { Array($0.utf8) })
            case .read(let c):
                replies.append("\(c): " + rawEscaped(try connections[c].readReply()))
            case .waitBlocked(let n):
                let deadline = clockMillis() + 5000
                while true {
                    let info = String(decoding: try connections[0].call("INFO", "clients"), as: UTF8.self)
                    if info.contains("blocked_clients:\(n)\r\n") { break }
                    if clockMillis() > deadline { throw HarnessError("never \(n) blocked clients: \(info)") }
                    rawSleepMillis(2)
                }
            }
        }
        return replies
    }

    static func onRedis(_ steps: [Step]) throws -> Outcome {
        let redis = try RedisOracleProcess(extraArguments: [
            "--notify-keyspace-events", "KEA", "--appendonly", "yes", "--appendfsync", "always",
        ])
        defer { redis.stop() }
        let subscriber = try RawClient(port: redis.port)
        _ = try subscriber.call("PSUBSCRIBE", "__keyevent@*__:*")
        var outcome = Outcome()
        outcome.replies = try play(steps, port: redis.port)
        let admin = try RawClient(port: redis.port)
        _ = try admin.call("PUBLISH", "__keyevent@99__:end", "x")
        while true {
            guard case .aggregate(_, let m?) = try RawReply.parse(try subscriber.readReply()), m.count == 4,
                  case .blob(_, let channel?) = m[2], case .blob(_, let key?) = m[3] else {
                throw HarnessError("unexpected frame on the subscriber")
            }
            let name = String(decoding: channel, as: UTF8.self)
            if name == "__keyevent@99__:end" { break }
            let db = name.dropFirst("__keyevent@".count).prefix { $0 != "_" }
            outcome.events.append("\(db) \(name.split(separator: ":", maxSplits: 1).last ?? "") \(String(decoding: key, as: UTF8.self))")
        }
        let aof = try redis.incrementalAOFPath()
        outcome.propagated = try SeamScript.parseAOF(DiffCorpus.readFile(aof) ?? []).map { $0.joined(separator: " ") }
        return outcome
    }

    static func onNeedletail(_ steps: [Step]) throws -> Outcome {
        let config = Config()
        config.port = 0
        config.bind = ["127.0.0.1"]
        config.loglevel = "nothing"
        let server = try Server(config: config, ephemeralPort: true)
        let recorder = SeamRecorder()
        server.keyspaceObserver = recorder
        server.propagationSink = recorder
        try server.listen()
        let loop = try startServerLoop(server)
        defer {
            server.stop()
            pthread_join(loop, nil)
        }
        var outcome = Outcome()
        outcome.replies = try play(steps, port: server.port)
        outcome.events = recorder.takeEvents()
        outcome.propagated = recorder.takePropagated(selected: -1).map { $0.joined(separator: " ") }
        return outcome
    }
}

/// Absolute Unix milliseconds (any integer > 10^12) as "<ms>", so two runs compare.
func normalizedTime(_ argument: String) -> String {
    guard argument.count >= 13, argument.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int64(argument),
          n > 1_000_000_000_000 else { return argument }
    return "<ms>"
}

// MARK: - A redis-server with its own directory and arguments

/// redis-server on a free port with its own directory (for its AOF) and extra arguments; stopped and its
/// directory removed by `stop()`.
final class RedisOracleProcess {
    let pid: pid_t
    let port: Int
    let dir: String
    private var stopped = false

    init(extraArguments: [String]) throws {
        var template = Array("/tmp/needletail-oracle-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw HarnessError("mkdtemp: \(errno)") }
        dir = String(cString: made)
        var failures: [String] = []
        for _ in 0..<4 {
            let port = freeTCPPort()
            let log = dir + "/redis.log"
            let child = try spawnServerProcess([RawRedisServer.path, "--port", "\(port)", "--bind", "127.0.0.1",
                                                "--save", "", "--dir", dir, "--daemonize", "no", "--logfile", log]
                                               + extraArguments, output: "/dev/null")
            let deadline = rawMonotonicMillis() + 15_000
            var status: Int32 = 0
            while rawMonotonicMillis() < deadline && waitpid(child, &status, WNOHANG) == 0 {
                if let c = try? RawClient(port: port, timeoutMillis: 2000), (try? c.call("PING")) == Array("+PONG\r\n".utf8) {
                    pid = child
                    self.port = port
                    return
                }
                rawSleepMillis(20)
            }
            failures.append(rawTail(of: log))
            kill(child, SIGKILL)
            waitpid(child, &status, 0)
        }
        Self.removeDirectory(dir)
        throw HarnessError("redis-server did not start: \(failures.joined(separator: " | "))")
    }

    deinit { stop() }

    /// The incremental file of the multi-part AOF (Redis 7: appendonlydir/<name>.<n>.incr.aof).
    func incrementalAOFPath() throws -> String {
        let aofDir = dir + "/appendonlydir"
        guard let name = DiffCorpus.listFiles(aofDir).first(where: { $0.hasSuffix(".incr.aof") }) else {
            throw HarnessError("no .incr.aof in \(aofDir): \(DiffCorpus.listFiles(aofDir))")
        }
        return aofDir + "/" + name
    }

    func stop() {
        if stopped { return }
        stopped = true
        kill(pid, SIGKILL)  // nothing to save
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        Self.removeDirectory(dir)
    }

    private static func removeDirectory(_ dir: String) {
        let aofDir = dir + "/appendonlydir"
        for name in DiffCorpus.listFiles(aofDir) { unlink(aofDir + "/" + name) }
        rmdir(aofDir)
        for name in DiffCorpus.listFiles(dir) { unlink(dir + "/" + name) }
        rmdir(dir)
    }
}

private func fileSize(_ path: String) -> Int {
    var st = stat()
    return stat(path, &st) == 0 ? Int(st.st_size) : 0
}

private func readFile(_ path: String, from offset: Int, count: Int) -> [UInt8] {
    guard count > 0, let f = fopen(path, "r") else { return [] }
    defer { fclose(f) }
    fseek(f, offset, SEEK_SET)
    var out = [UInt8](repeating: 0, count: count)
    let n = fread(&out, 1, count, f)
    return Array(out.prefix(n))
}
