import Glibc
import XCTest

/// Transactions over TCP (Server/Transaction.swift, Commands/Transactions.swift; issue 12), against the built
/// needletail-server and redis-server 7.0 side by side, in RESP2 and RESP3.
///
/// - WATCH (`watchScenarios`): two-connection scenarios. Client `b` prepares keys and modifies them, client
///   `a` watches and finally runs MULTI / PING / EXEC. Every reply of both servers must be the same bytes, and
///   each scenario says whether EXEC fails (the null array), so a scenario that stopped testing what its name
///   says (a timing margin gone) shows up. Covered: every kind of write, no-op writes (which Redis does not
///   count as changes: SET NX that fails, LREM of nothing, SADD of a member already there...), other
///   databases, FLUSHDB/FLUSHALL/SWAPDB, RENAME/MOVE/COPY onto and from the key, keys already expired when
///   watched (their deletion is no change, Redis 7.0's rule) and keys that expire after WATCH (lazily,
///   actively, or unnoticed until EXEC), blocked clients served from a watched key, and what ends a WATCH.
/// - Queuing and EXEC (`queuingScripts`): commands rejected while queuing (unknown, wrong arity, unknown
///   subcommand, no-multi commands) and EXECABORT; `EXEC x` inside and outside MULTI; nested MULTI; WATCH
///   inside MULTI; runtime errors inside EXEC's array; HELLO switching the protocol in the middle of EXEC's
///   array; blocking commands inside MULTI answering at once; RESET and DISCARD; CLIENT INFO/LIST inside EXEC
///   and during MULTI (fields compared, not ids and sizes: see `Lockstep.normalized`).
/// - INFO commandstats/errorstats after transactions (`testCommandStatsOfTransactionsMatchRedis`).
/// - Hostile clients: 100,000 queued commands in one pipeline and 4 threads incrementing one counter with
///   WATCH retry loops (needletail alone); clients that disconnect while queuing or watching, and clients
///   blocked on keys a transaction fills, served after EXEC in FIFO order (both servers).
/// - One deliberate difference, pinned on needletail alone: `testWatchAfterAnExpiredWatcherWasDirtiedBySwapdb`.
///
/// A scenario is a script of steps (`Lockstep`) run on both servers in lockstep: each step on redis-server,
/// then on needletail, so sleeps are shared and both see the same sequence of events. Step syntax:
///
///     a SET k v            connection a sends the command and reads its reply (recorded); arguments are
///                          split as redis-cli does ("quoted \x00 bytes", '' for an empty one)
///     a EXEC => -EXECABORT the same, and the reply must start with the text after `=>`
///     c& BLPOP l 0         connection c sends without reading;  c?  reads the reply it is owed (recorded)
///     c~                   records "nothing yet" if nothing arrives on c within 50 ms
///     half c SET k v       connection c sends the request but its last 3 bytes (a request cut in the middle)
///     close a / rst a      connection a closes (FIN / RST)
///     sleep 20             waits 20 ms (once for both servers)
///     blocked 2            waits until INFO reports 2 blocked clients, on each server
///     clients 3            waits until INFO reports 3 connected clients (the script's admin connection included)
///     until b DBSIZE => :0 sends the command until the reply starts with the text (2 s at most); recorded
///
/// Connections are opened when first named (with HELLO 3 first in a RESP3 run), in the same order on both
/// servers. Each script starts after FLUSHALL, with active expiry off (DEBUG SET-ACTIVE-EXPIRE 0) unless the
/// scenario turns it on, and with no other client connected. `TX_TRACE=1` prints redis-server's transcripts.
final class TransactionTests: XCTestCase {
    private var needletail: ServerUnderTest!
    private var redis: RawRedisServer!

    override func setUpWithError() throws {
        signal(SIGPIPE, SIG_IGN)
        guard RawRedisServer.isInstalled else { throw XCTSkip("redis-server is not installed at \(RawRedisServer.path)") }
        needletail = try ServerUnderTest.start(extraArguments: DifferentialRunner.debugEnabled)
        redis = try RawRedisServer()
    }

    override func tearDown() {
        needletail?.stop(keepLog: (testRun?.totalFailureCount ?? 1) > 0)
        redis?.stop()
    }

    /// Runs `steps` on both servers and fails on the first reply where they differ; returns needletail's
    /// transcript.
    @discardableResult
    private func compare(_ name: String, _ steps: [String], resp: Int, activeExpire: Bool = false,
                         file: StaticString = #filePath, line: UInt = #line) throws -> [String] {
        let run = try Lockstep(ports: [redis.port, needletail.port], resp: resp, activeExpire: activeExpire)
        do {
            try run.run(steps)
        } catch {
            XCTFail("\(name) (RESP\(resp)): \(error)\n  so far, needletail: \(run.sides[1].transcript)", file: file, line: line)
            return run.sides[1].transcript
        }
        if getenv("TX_TRACE") != nil { print("\(name) (RESP\(resp)):\n  " + run.sides[0].transcript.joined(separator: "\n  ")) }
        for failure in run.expectationFailures { XCTFail("\(name) (RESP\(resp)): \(failure)", file: file, line: line) }
        let (r, n) = (run.sides[0].transcript, run.sides[1].transcript)
        if let i = (0..<max(r.count, n.count)).first(where: { $0 >= r.count || $0 >= n.count || r[$0] != n[$0] }) {
            XCTFail("\(name) (RESP\(resp)) differs at step \(i):\n  redis:      \(i < r.count ? r[i] : "-")\n"
                    + "  needletail: \(i < n.count ? n[i] : "-")\n  transcript (redis): \(r)", file: file, line: line)
        }
        return n
    }

    // MARK: - WATCH, from another connection

    func testWatchScenariosMatchRedis() throws {
        var failing = 0
        for resp in [2, 3] {
            for s in Self.watchScenarios {
                let steps = s.steps + ["a MULTI", "a PING", "a EXEC"]
                let before = testRun?.totalFailureCount ?? 0
                let transcript = try compare(s.name, steps, resp: resp, activeExpire: s.activeExpire)
                guard let exec = transcript.last else { continue }
                let failed = exec.hasSuffix("\"*-1\\r\\n\"") || exec.hasSuffix("\"_\\r\\n\"")
                if failed != s.fails { XCTFail("\(s.name) (RESP\(resp)): EXEC \(s.fails ? "should fail" : "should run"): \(exec)") }
                if (testRun?.totalFailureCount ?? 0) > before { failing += 1 }
            }
        }
        print("TransactionTests: \(Self.watchScenarios.count) WATCH scenarios x RESP2+RESP3, \(failing) failing")
    }

    struct WatchScenario {
        let name: String
        /// Whether a's final EXEC answers the null array (a watched key changed).
        let fails: Bool
        var activeExpire = false
        let steps: [String]
    }

    private static func W(_ name: String, fails: Bool, activeExpire: Bool = false, _ steps: String...) -> WatchScenario {
        WatchScenario(name: name, fails: fails, activeExpire: activeExpire, steps: steps)
    }

    static let watchScenarios: [WatchScenario] = [
        // Strings
        W("set", fails: true, "b SET k v", "a WATCH k", "b SET k v2"),
        W("set of the same value", fails: true, "b SET k v", "a WATCH k", "b SET k v"),
        W("set nx that fails", fails: false, "b SET k v", "a WATCH k", "b SET k x NX"),
        W("set xx of a missing key", fails: false, "a WATCH k", "b SET k x XX"),
        W("set of a missing key", fails: true, "a WATCH k", "b SET k x"),
        W("get only", fails: false, "b SET k v", "a WATCH k", "b GET k", "b STRLEN k", "b EXISTS k", "b TYPE k"),
        W("append of nothing", fails: true, "b SET k v", "a WATCH k", "b APPEND k ''"),
        W("setrange of nothing", fails: false, "b SET k v", "a WATCH k", "b SETRANGE k 0 ''"),
        W("setrange of nothing on a missing key", fails: false, "a WATCH k", "b SETRANGE k 5 ''"),
        W("incrby 0", fails: true, "b SET k 1", "a WATCH k", "b INCRBY k 0"),
        W("incrbyfloat 0", fails: true, "b SET k 1", "a WATCH k", "b INCRBYFLOAT k 0"),
        W("incr of a string (an error)", fails: false, "b SET k v", "a WATCH k", "b INCR k"),
        W("lpush on a string (an error)", fails: false, "b SET k v", "a WATCH k", "b LPUSH k x"),
        W("getex without options", fails: false, "b SET k v EX 100", "a WATCH k", "b GETEX k"),
        W("getex persist", fails: true, "b SET k v EX 100", "a WATCH k", "b GETEX k PERSIST"),
        W("getex px", fails: true, "b SET k v", "a WATCH k", "b GETEX k PX 100000"),
        W("getdel", fails: true, "b SET k v", "a WATCH k", "b GETDEL k"),
        W("getset", fails: true, "b SET k v", "a WATCH k", "b GETSET k v"),
        W("mset", fails: true, "a WATCH k", "b MSET a 1 k 2"),
        W("msetnx that fails", fails: false, "b SET k v", "a WATCH k", "b MSETNX a 1 k 2"),
        // Keys and expiry times
        W("del of a missing key", fails: false, "a WATCH k", "b DEL k"),
        W("del", fails: true, "b SET k v", "a WATCH k", "b DEL k"),
        W("unlink", fails: true, "b SET k v", "a WATCH k", "b UNLINK k"),
        W("touch", fails: false, "b SET k v", "a WATCH k", "b TOUCH k"),
        W("expire", fails: true, "b SET k v", "a WATCH k", "b EXPIRE k 100"),
        W("expire of a missing key", fails: false, "a WATCH k", "b EXPIRE k 100"),
        W("expire in the past", fails: true, "b SET k v", "a WATCH k", "b EXPIRE k -1"),
        W("pexpire 0", fails: true, "b SET k v", "a WATCH k", "b PEXPIRE k 0"),
        W("expire nx that fails", fails: false, "b SET k v EX 100", "a WATCH k", "b EXPIRE k 50 NX"),
        W("pexpireat of the same time", fails: true, "b SET k v PXAT 99999999999999", "a WATCH k", "b PEXPIREAT k 99999999999999"),
        W("persist without a ttl", fails: false, "b SET k v", "a WATCH k", "b PERSIST k"),
        W("persist", fails: true, "b SET k v EX 100", "a WATCH k", "b PERSIST k"),
        W("rename onto it", fails: true, "b SET j v", "a WATCH k", "b RENAME j k"),
        W("rename from it", fails: true, "b SET k v", "a WATCH k", "b RENAME k j"),
        W("rename onto itself", fails: false, "b SET k v", "a WATCH k", "b RENAME k k"),
        W("renamenx that fails", fails: false, "b SET k v", "b SET j w", "a WATCH k j", "b RENAMENX j k"),
        W("move from it", fails: true, "b SET k v", "a WATCH k", "b MOVE k 1"),
        W("move onto it in another database", fails: true, "b SET k v", "a SELECT 1", "a WATCH k", "b MOVE k 1"),
        W("move that fails (the target exists)", fails: false,
          "b SET k v", "b SELECT 1", "b SET k w", "b SELECT 0", "a WATCH k", "a SELECT 1", "a WATCH k", "b MOVE k 1"),
        W("copy onto it", fails: true, "b SET j v", "a WATCH k", "b COPY j k"),
        W("copy onto it in another database", fails: true, "b SET j v", "a SELECT 1", "a WATCH k", "b COPY j k DB 1"),
        W("copy that fails (no REPLACE)", fails: false, "b SET j v", "b SET k w", "a WATCH k", "b COPY j k"),
        W("copy replace", fails: true, "b SET j v", "b SET k w", "a WATCH k", "b COPY j k REPLACE"),
        W("copy from it", fails: false, "b SET k v", "a WATCH k", "b COPY k j"),
        // Other databases
        W("a write in another database", fails: false, "b SET k v", "a WATCH k", "b SELECT 1", "b SET k v2"),
        W("watched in database 1, written there", fails: true, "a SELECT 1", "a WATCH k", "b SELECT 1", "b SET k v"),
        W("watched in database 1, written in 0", fails: false, "a SELECT 1", "a WATCH k", "b SET k v"),
        W("watched in two databases, written in the second", fails: true,
          "a WATCH k", "a SELECT 1", "a WATCH k", "a SELECT 0", "b SELECT 1", "b SET k v"),
        // FLUSHDB, FLUSHALL, SWAPDB
        W("flushdb of the key", fails: true, "b SET k v", "a WATCH k", "b FLUSHDB"),
        W("flushdb async of the key", fails: true, "b SET k v", "a WATCH k", "b FLUSHDB ASYNC"),
        W("flushdb without the key", fails: false, "b SET j v", "a WATCH k", "b FLUSHDB"),
        W("flushdb of another database", fails: false, "b SET k v", "a WATCH k", "b SELECT 1", "b FLUSHDB"),
        W("flushall of the key in database 1", fails: true, "b SELECT 1", "b SET k v", "a SELECT 1", "a WATCH k", "b FLUSHALL"),
        W("flushall async", fails: true, "b SET k v", "a WATCH k", "b FLUSHALL ASYNC"),
        W("flushall, the key only in another database", fails: false, "b SELECT 1", "b SET k v", "a WATCH k", "b FLUSHALL"),
        W("flushall of an empty server", fails: false, "a WATCH k", "b FLUSHALL"),
        W("swapdb brings the key", fails: true, "b SELECT 1", "b SET k v", "a WATCH k", "b SWAPDB 0 1"),
        W("swapdb takes the key away", fails: true, "b SET k v", "a WATCH k", "b SWAPDB 1 0"),
        W("swapdb, watched in database 1", fails: true, "b SET k v", "a SELECT 1", "a WATCH k", "b SWAPDB 0 1"),
        W("swapdb, the key in neither", fails: false, "b SET j v", "a WATCH k", "b SWAPDB 0 1"),
        W("swapdb of other databases", fails: false, "b SET k v", "b SELECT 2", "b SET k v", "a WATCH k", "b SWAPDB 1 2"),
        W("swapdb of a database with itself", fails: false, "b SET k v", "a WATCH k", "b SWAPDB 0 0"),
        // Lists
        W("lpush", fails: true, "a WATCH l", "b LPUSH l a"),
        W("ltrim that keeps everything", fails: true, "b RPUSH l a b", "a WATCH l", "b LTRIM l 0 -1"),
        W("lrem of nothing", fails: false, "b RPUSH l a b", "a WATCH l", "b LREM l 0 zz"),
        W("linsert with no pivot", fails: false, "b RPUSH l a b", "a WATCH l", "b LINSERT l BEFORE zz x"),
        W("lset of the same value", fails: true, "b RPUSH l a b", "a WATCH l", "b LSET l 0 a"),
        W("lpop of a missing list", fails: false, "a WATCH l", "b LPOP l"),
        W("lpop of the last element", fails: true, "b RPUSH l a", "a WATCH l", "b LPOP l"),
        W("lmove onto itself", fails: true, "b RPUSH l a", "a WATCH l", "b LMOVE l l LEFT LEFT"),
        W("rpoplpush into it", fails: true, "b RPUSH l a", "a WATCH m", "b RPOPLPUSH l m"),
        W("lmpop", fails: true, "b RPUSH l a", "a WATCH l", "b LMPOP 1 l LEFT"),
        W("sort store of nothing", fails: false, "a WATCH d", "b SORT x STORE d"),
        W("sort store", fails: true, "b RPUSH l 2 1", "a WATCH d", "b SORT l STORE d"),
        // Sorted sets
        W("zadd of the same score", fails: false, "b ZADD z 1 a", "a WATCH z", "b ZADD z 1 a"),
        W("zadd nx that fails", fails: false, "b ZADD z 1 a", "a WATCH z", "b ZADD z NX 2 a"),
        W("zadd of a new score", fails: true, "b ZADD z 1 a", "a WATCH z", "b ZADD z 2 a"),
        W("zincrby 0", fails: false, "b ZADD z 1 a", "a WATCH z", "b ZINCRBY z 0 a"),
        W("zrem of nothing", fails: false, "b ZADD z 1 a", "a WATCH z", "b ZREM z b"),
        W("zremrangebyscore of nothing", fails: false, "b ZADD z 1 a", "a WATCH z", "b ZREMRANGEBYSCORE z 5 6"),
        W("zpopmin of a missing key", fails: false, "a WATCH z", "b ZPOPMIN z"),
        W("zunionstore of nothing", fails: false, "a WATCH d", "b ZUNIONSTORE d 1 x"),
        W("zrangestore of nothing", fails: false, "b ZADD z 1 a", "a WATCH d", "b ZRANGESTORE d z 5 6"),
        W("zrangestore of nothing over an existing key", fails: true, "b ZADD z 1 a", "b SET d v", "a WATCH d", "b ZRANGESTORE d z 5 6"),
        // Hashes
        W("hset of the same value", fails: true, "b HSET h f v", "a WATCH h", "b HSET h f v"),
        W("hsetnx that fails", fails: false, "b HSET h f v", "a WATCH h", "b HSETNX h f x"),
        W("hdel of nothing", fails: false, "b HSET h f v", "a WATCH h", "b HDEL h g"),
        W("hdel of the last field", fails: true, "b HSET h f v", "a WATCH h", "b HDEL h f"),
        W("hincrby 0", fails: true, "b HSET h f 1", "a WATCH h", "b HINCRBY h f 0"),
        W("hincrbyfloat 0", fails: true, "b HSET h f 1", "a WATCH h", "b HINCRBYFLOAT h f 0"),
        // Sets
        W("sadd of a member already there", fails: false, "b SADD s a", "a WATCH s", "b SADD s a"),
        W("srem of nothing", fails: false, "b SADD s a", "a WATCH s", "b SREM s b"),
        W("smove of nothing", fails: false, "b SADD s a", "b SADD t b", "a WATCH s t", "b SMOVE s t zz"),
        W("smove onto the same set", fails: false, "b SADD s a", "a WATCH s", "b SMOVE s s a"),
        W("spop", fails: true, "b SADD s a", "a WATCH s", "b SPOP s"),
        W("srandmember", fails: false, "b SADD s a", "a WATCH s", "b SRANDMEMBER s"),
        W("sinterstore of nothing", fails: false, "b SADD s a", "a WATCH d", "b SINTERSTORE d s nos"),
        W("sinterstore of nothing over an existing key", fails: true, "b SADD s a", "b SET d v", "a WATCH d", "b SINTERSTORE d s nos"),
        // Expiry: a key already expired (but still stored) when watched, or expiring after WATCH (150 ms after
        // its SET: the WATCHes on both servers come well before)
        W("expired when watched, deleted lazily by a read", fails: false, "b SET k v PX 1", "sleep 10", "a WATCH k", "b GET k"),
        W("expired when watched, nothing else", fails: false, "b SET k v PX 1", "sleep 10", "a WATCH k"),
        W("expired when watched, set again", fails: true, "b SET k v PX 1", "sleep 10", "a WATCH k", "b SET k v"),
        W("expired when watched, del", fails: false, "b SET k v PX 1", "sleep 10", "a WATCH k", "b DEL k"),
        W("expired when watched, flushdb", fails: false, "b SET k v PX 1", "sleep 10", "a WATCH k", "b FLUSHDB"),
        W("expired when watched, swapdb brings a live key", fails: true,
          "b SET k v PX 1", "b SELECT 1", "b SET k w", "sleep 10", "a WATCH k", "b SWAPDB 0 1"),
        W("expired when watched, swapdb brings an expired key", fails: false,
          "b SET k v PX 1", "b SELECT 1", "b SET k w PX 1", "sleep 10", "a WATCH k", "b SWAPDB 0 1"),
        W("missing when watched, swapdb brings an expired key", fails: false,
          "b SELECT 1", "b SET k w PX 1", "sleep 10", "a WATCH k", "b SWAPDB 0 1"),
        W("expired when watched, deleted by active expiry", fails: false,
          "b SET k v PX 1", "sleep 10", "a WATCH k", "b DEBUG SET-ACTIVE-EXPIRE 1", "until b DBSIZE => :0"),
        W("expires after WATCH, nobody looks", fails: true, "b SET k v PX 150", "a WATCH k", "sleep 250"),
        W("expires after WATCH, deleted lazily by a read", fails: true, "b SET k v PX 150", "a WATCH k", "sleep 250", "b GET k"),
        W("expires after WATCH, deleted by active expiry", fails: true, activeExpire: true,
          "b SET k v PX 150", "a WATCH k", "until b DBSIZE => :0"),
        W("expires after WATCH, persisted first", fails: true, "b SET k v PX 100000", "a WATCH k", "b PERSIST k"),
        // What a WATCH survives and what ends it
        W("unwatch", fails: false, "b SET k v", "a WATCH k", "a UNWATCH", "b SET k v2"),
        W("unwatch after the change", fails: false, "b SET k v", "a WATCH k", "b SET k v2", "a UNWATCH"),
        W("watch after the change", fails: true, "b SET k v", "a WATCH k", "b SET k v2", "a WATCH j"),
        W("one of several keys", fails: true, "b SET k v", "a WATCH a b k", "b SET b 1"),
        W("watched twice", fails: false, "b SET k v", "a WATCH k", "a WATCH k k", "b DEL q"),
        W("many keys, none touched", fails: false,
          "a WATCH k0 k1 k2 k3 k4 k5 k6 k7 k8 k9 k10 k11 k12 k13 k14 k15 k16 k17 k18 k19", "b SET k20 v"),
        W("its own write", fails: true, "a WATCH k", "a SET k v"),
        W("discard ends it", fails: false, "a WATCH k", "a MULTI", "a DISCARD", "b SET k v"),
        W("reset ends it", fails: false, "a WATCH k", "a RESET", "b SET k v"),
        W("discard forgets the change", fails: false, "a WATCH k", "b SET k v", "a MULTI", "a DISCARD"),
        W("reset forgets the change", fails: false, "a WATCH k", "b SET k v", "a RESET"),
        W("a failed exec ends it", fails: false, "a WATCH k", "b SET k v", "a MULTI", "a PING", "a EXEC", "b SET k w"),
        W("a successful exec ends it", fails: false, "a WATCH k", "a MULTI", "a GET k", "a EXEC", "b SET k v"),
        W("a transaction of another client", fails: true, "a WATCH k", "b MULTI", "b SET k v", "b EXEC"),
        W("a discarded transaction of another client", fails: false, "a WATCH k", "b MULTI", "b SET k v", "b DISCARD"),
        W("a blocked client served from it", fails: true, "a WATCH l", "c& BLPOP l 0", "blocked 1", "b LPUSH l x", "c?"),
        W("a blocked BLMOVE served into it", fails: true,
          "a WATCH m", "c& BLMOVE l m LEFT LEFT 0", "blocked 1", "b RPUSH l x", "c?"),
        W("debug populate over it", fails: true, "a WATCH key:0", "b DEBUG POPULATE 3"),
        W("watched, then blocked on it and served", fails: true,
          "a WATCH l", "a& BLPOP l 0", "blocked 1", "b MULTI", "b RPUSH l x", "b EXEC", "a?"),
    ]

    /// A deliberate difference from redis-server 7.0: there, a watcher whose key had expired when it watched
    /// stays in the key's list after SWAPDB dirtied it, and touchWatchedKey's loop stops (`break`) at such a
    /// watcher while the key exists, so a client that watched the key afterwards is never told of a later
    /// SET and its EXEC runs. needletail unwatches a dirtied client at once, so the later watcher's EXEC fails,
    /// as WATCH promises. (redis-server 7.0.15 answers `*1 +PONG` to c's EXEC here.)
    func testWatchAfterAnExpiredWatcherWasDirtiedBySwapdb() throws {
        for resp in [2, 3] {
            let run = try Lockstep(ports: [needletail.port], resp: resp, activeExpire: false)
            try run.run([
                "b SET k v PX 1", "sleep 10", "a WATCH k", "b SELECT 1", "b SET k live", "b SWAPDB 0 1", "b SELECT 0",
                "c WATCH k", "b SET k v2", "c MULTI", "c PING", "c EXEC", "a MULTI", "a PING", "a EXEC",
            ])
            let null = resp == 2 ? "\"*-1\\r\\n\"" : "\"_\\r\\n\""
            XCTAssertEqual(run.sides[0].transcript.suffix(4), ["c EXEC: " + null, "a MULTI: \"+OK\\r\\n\"",
                                                               "a PING: \"+QUEUED\\r\\n\"", "a EXEC: " + null])
        }
    }

    // MARK: - Queuing, EXEC's replies, DISCARD, RESET

    func testQueuingAndExecMatchRedis() throws {
        for resp in [2, 3] {
            for (name, steps) in Self.queuingScripts { try compare(name, steps, resp: resp) }
        }
    }

    static let queuingScripts: [(String, [String])] = [
        ("an unknown command while queuing", [
            "a MULTI", "a SET k v => +QUEUED", "a NOSUCH x y => -ERR unknown command 'NOSUCH'", "a GET k",
            "a EXEC => -EXECABORT Transaction discarded because of previous errors.", "a GET k",
            "a EXEC => -ERR EXEC without MULTI",
        ]),
        ("a wrong arity while queuing", [
            "a MULTI", "a SET k", "a GET k", "a EXEC => -EXECABORT", "a EXISTS k => :0",
            "a MULTI", "a WATCH", "a EXEC => -EXECABORT", "a MULTI", "a DISCARD x", "a EXEC",
        ]),
        ("an unknown subcommand or a container alone while queuing", [
            "a MULTI", "a CONFIG NOSUCH", "a EXEC => -EXECABORT",
            "a MULTI", "a OBJECT", "a EXEC => -EXECABORT", "a MULTI", "a CLIENT", "a exec",
        ]),
        ("commands flagged no-multi", [
            "a MULTI", "a SET k v", "a SAVE => -ERR Command not allowed inside a transaction",
            "a SHUTDOWN NOSAVE => -ERR Command not allowed inside a transaction", "a EXEC => -EXECABORT",
            "a GET k", "a PING => +PONG",
        ]),
        ("EXECABORT wins over a touched WATCH", [
            "a WATCH k", "b SET k v", "a MULTI", "a NOSUCH", "a EXEC => -EXECABORT", "a MULTI", "a EXEC",
        ]),
        ("EXEC with an argument", [
            // Redis's rejectCommand: a rejected EXEC always answers EXECABORT, even outside MULTI.
            "a EXEC x => -EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command",
            "a MULTI", "a SET k v",
            "a EXEC x => -EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command",
            "a EXEC => -ERR EXEC without MULTI", "a GET k",
            "a MULTI", "a NOSUCH", "a EXEC x => -EXECABORT", "a EXEC => -ERR EXEC without MULTI",
        ]),
        ("nested MULTI", [
            "a MULTI", "a SET k v", "a MULTI => -ERR MULTI calls can not be nested", "a INCR n", "a multi",
            "a EXEC", "a GET k", "a MULTI x", "a EXEC",
        ]),
        ("WATCH inside MULTI", [
            "a MULTI", "a WATCH k => -ERR WATCH inside MULTI is not allowed", "a SET k v", "a UNWATCH => +QUEUED",
            "a EXEC", "a GET k",
        ]),
        ("an empty transaction, and names in any case", ["a MULTI", "a EXEC", "a multi", "a ExEc", "a mUlTi", "a dIsCaRd"]),
        ("EXEC, DISCARD and UNWATCH without MULTI", [
            "a EXEC => -ERR EXEC without MULTI", "a DISCARD => -ERR DISCARD without MULTI", "a UNWATCH => +OK",
            "a WATCH k => +OK", "a WATCH => -ERR wrong number", "a EXEC",
        ]),
        ("runtime errors stay inside EXEC's array", [
            "a SET s str", "a MULTI", "a INCR s", "a LPUSH s x", "a SET n 1", "a INCRBY n x", "a INCR n",
            "a ZADD z nan a", "a GET s", "a EXPIRE n abc", "a HGET s f", "a SELECT 99", "a EXEC", "a GET n", "a MGET s n",
        ]),
        ("binary arguments are queued exactly", [
            "a MULTI", "a SET \"a\\x00b\" \"\\r\\n\\x00\\xff\"", "a GET \"a\\x00b\"", "a ECHO ''", "a SET '' empty",
            "a GET ''", "a ECHO \"*1\\r\\n$4\\r\\nPING\\r\\n\"", "a EXEC", "a STRLEN \"a\\x00b\"",
        ]),
        ("a pipelined transaction", [
            "a& MULTI", "a& SET k v", "a& INCR n", "a& GET k", "a& EXEC", "a& GET n",
            "a?", "a?", "a?", "a?", "a?", "a?",
        ]),
        ("HELLO 3 inside EXEC switches the protocol in the middle of the array", [
            "a MULTI", "a PING", "a HELLO 3", "a PING", "a HGETALL nosuch", "a SET k 1.5", "a INCRBYFLOAT k 1",
            "a ZADD z 1 m", "a ZSCORE z m", "a GET nosuch", "a EXEC", "a PING", "a ZSCORE z m",
        ]),
        ("HELLO 2 inside EXEC", [
            "a MULTI", "a ZADD z 1 m", "a ZSCORE z m", "a HELLO 2", "a ZSCORE z m", "a GET nosuch", "a EXEC",
            "a ZSCORE z m",
        ]),
        ("HELLO with a bad protocol and AUTH inside EXEC", [
            "a MULTI", "a HELLO 4", "a AUTH x", "a CLIENT SETNAME tx", "a CLIENT GETNAME", "a EXEC",
        ]),
        ("blocking commands inside MULTI answer at once", [
            "a RPUSH full x y", "a ZADD zfull 1 m 2 n", "a MULTI",
            "a BLPOP nosuch 0", "a BRPOP nosuch other 1", "a BLMOVE nosuch dst LEFT RIGHT 0", "a BRPOPLPUSH nosuch dst 0",
            "a BLMPOP 0 1 nosuch LEFT", "a BZPOPMIN znosuch 0", "a BZPOPMAX znosuch 0", "a BZMPOP 0 1 znosuch MIN",
            "a BLPOP full 0", "a BLMOVE full dst RIGHT LEFT 0", "a BZPOPMIN zfull 0", "a BZMPOP 0 1 zfull MAX COUNT 5",
            "a BLPOP nosuch -1", "a BLPOP nosuch x", "a BLPOP full 0", "a EXEC", "a LRANGE dst 0 -1", "a EXISTS full zfull",
            "a MULTI", "a BLPOP l 0", "a RPUSH l x", "a BLPOP l 0", "a BZPOPMIN z 0", "a ZADD z 1 m", "a BZPOPMIN z 0", "a EXEC",
        ]),
        ("RESET leaves MULTI and forgets the watched keys", [
            "a WATCH k", "a MULTI", "a SET k v", "a SELECT 1", "a RESET => +RESET", "a EXEC => -ERR EXEC without MULTI",
            "a GET k", "b SET k x", "a MULTI", "a GET k", "a EXEC",
        ]),
        ("DISCARD", [
            "a WATCH k", "a MULTI", "a SET k v", "a DISCARD => +OK", "a GET k", "b SET k x", "a MULTI", "a GET k",
            "a EXEC", "a DISCARD => -ERR DISCARD without MULTI", "a MULTI", "a NOSUCH", "a DISCARD", "a EXEC",
        ]),
        ("SELECT, SWAPDB and FLUSHALL inside EXEC", [
            "a SET k zero", "a MULTI", "a SELECT 1", "a SET k one", "a SWAPDB 0 1", "a GET k", "a EXEC", "a GET k",
            "a SELECT 0", "a GET k", "a MULTI", "a FLUSHALL", "a DBSIZE", "a SET k v", "a DBSIZE", "a EXEC",
        ]),
        ("CLIENT INFO and CLIENT LIST during MULTI and inside EXEC", [
            "a MULTI", "b CLIENT LIST", "a SET k v", "a CLIENT INFO", "b CLIENT LIST", "a CLIENT LIST", "a EXEC",
            "a CLIENT INFO", "b CLIENT LIST", "a WATCH k", "b SET k w", "b CLIENT LIST", "a MULTI", "a CLIENT INFO",
            "a EXEC", "a CLIENT INFO", "a WATCH k", "b SET k x", "b CLIENT LIST", "a UNWATCH", "b CLIENT LIST",
        ]),
        // Nothing more is queued once a watched key changed, as Redis's queueMultiCommand (multi= stops).
        ("a touched WATCH stops the queue", [
            "a WATCH k", "b SET k v", "a MULTI", "a SET x 1", "a SET y 1", "b CLIENT LIST", "a EXEC",
            "a WATCH k", "a MULTI", "a SET x 1", "b SET k w", "a SET y 2", "a INCR z", "b CLIENT LIST", "a EXEC",
            "a MGET x y z", "a MULTI", "a SET x 1", "b CLIENT LIST", "a DISCARD",
        ]),
        ("every family queues and runs", [
            "a MULTI", "a SET s 1", "a INCRBY s 5", "a EXPIRE s 100", "a TTL s", "a RPUSH l a b c", "a LRANGE l 0 -1",
            "a LPOP l 2", "a HSET h f v g w", "a HGET h g", "a HLEN h", "a SADD set 1 2 3", "a SISMEMBER set 2",
            "a SCARD set", "a ZADD z 1 a 2 b", "a ZRANGE z 0 -1 WITHSCORES", "a ZINCRBY z 1.5 a", "a TYPE z",
            "a EXISTS s l h set z nosuch", "a DBSIZE", "a RENAME s t", "a OBJECT ENCODING set", "a ECHO done", "a EXEC",
        ]),
    ]

    /// INFO commandstats and errorstats after transactions: a command EXEC ran is counted (and failed) as
    /// itself; EXEC is failed only for its own error (EXECABORT), not for theirs; rejected requests, EXEC
    /// included, are rejected_calls; CONFIG RESETSTAT after an error is not failed. (Redis's
    /// incrCommandStatsOnError with its `prev_err_count`.)
    func testCommandStatsOfTransactionsMatchRedis() throws {
        let run = try Lockstep(ports: [redis.port, needletail.port], resp: 2, activeExpire: false)
        try run.run([
            "a SET s x", "a INCR s", "a CONFIG RESETSTAT",
            "a MULTI", "a SET k v", "a INCR k", "a EXEC", "a MULTI", "a NOSUCH", "a SET k", "a EXEC",
            "a EXEC x", "a MULTI", "a EXEC x", "a DISCARD", "a MULTI", "a MULTI", "a WATCH k", "a DISCARD",
            "a WATCH k", "b SET k x", "a MULTI", "a GET k", "a EXEC", "a MULTI", "a SAVE", "a EXEC",
            "a MULTI", "a BLPOP l 0", "a INCR k", "a PING", "a EXEC", "a MULTI", "a INCR k", "a EXEC",
            // A container without its subcommand is a rejected call of the container; an unknown subcommand is not.
            "a MULTI", "a CLIENT", "a CLIENT NOSUCH", "a EXEC", "a CLIENT",
        ])
        XCTAssertEqual(run.sides[1].transcript, run.sides[0].transcript)
        func stats(_ side: Lockstep.Side) throws -> [String] {
            let text = String(decoding: try side.admin.call("INFO", "commandstats") + side.admin.call("INFO", "errorstats"),
                              as: UTF8.self)
            // The times are each server's own, and so is the number of INFO calls that waited for the clients.
            return text.split(separator: "\r\n")
                .filter { ($0.hasPrefix("cmdstat_") && !$0.hasPrefix("cmdstat_info:")) || $0.hasPrefix("errorstat_") }
                .map { $0.split(separator: ",").filter { !$0.hasPrefix("usec") }.joined(separator: ",") }
                .sorted()
        }
        XCTAssertEqual(try stats(run.sides[1]), try stats(run.sides[0]), "needletail (first) and redis-server (second)")
    }

    // MARK: - Hostile clients

    /// 100,000 SETs queued in one pipeline: every one gets +QUEUED, the server keeps answering another
    /// client meanwhile, CLIENT LIST shows the queue (multi=, multi-mem=) and its memory goes back to 0 after
    /// EXEC, whose array has 100,000 +OK.
    func testHundredThousandQueuedCommands() throws {
        let count = 100_000
        let client = try RawClient(port: needletail.port, timeoutMillis: 20_000)
        let other = try RawClient(port: needletail.port)
        XCTAssertEqual(try client.call("MULTI"), b("+OK\r\n"))
        var pipeline: [UInt8] = []
        pipeline.reserveCapacity(count * 40)
        for i in 0..<count { pipeline += RawClient.encode([b("SET"), b("key:\(i)"), b("value:\(i)")]) }

        final class Progress {
            var queued = 0
            var badReply: [UInt8]?
            var sendError: Error?
            var pings = 0
            var slowestPing: Int64 = 0
        }
        let progress = Progress()  // each field written by one thread, read after they all ended
        let readerDone = LockedFlag()
        let started = clockMillis()
        // One thread sends, one reads the replies, one pings from another connection meanwhile.
        runOnThreads(3) { role in
            switch role {
            case 0:
                do { try client.send(pipeline) } catch { progress.sendError = error }
            case 1:
                for _ in 0..<count {
                    guard let reply = try? client.readReply() else { progress.badReply = b("<no reply>"); break }
                    if reply != b("+QUEUED\r\n") { progress.badReply = reply; break }
                    progress.queued += 1
                }
                readerDone.set()
            default:
                while !readerDone.isSet && progress.pings < 100_000 {
                    let t = clockMillis()
                    guard (try? other.call("PING")) == b("+PONG\r\n") else { progress.pings = -1; return }
                    progress.slowestPing = max(progress.slowestPing, clockMillis() - t)
                    progress.pings += 1
                }
            }
        }
        let queuing = clockMillis() - started
        XCTAssertNil(progress.sendError)
        XCTAssertNil(progress.badReply.map { rawEscaped($0) })
        XCTAssertEqual(progress.queued, count)
        XCTAssertGreaterThan(progress.pings, 0, "another client is served while the queue fills")
        XCTAssertLessThan(progress.slowestPing, 2000, "no PING waits for the whole pipeline")

        let during = try otherClientFields(other)
        XCTAssertEqual(during["flags"], "x")
        XCTAssertEqual(during["multi"], "\(count)")
        let multiMemory = Int(during["multi-mem"] ?? "") ?? 0
        XCTAssertGreaterThan(multiMemory, count * 20, "multi-mem counts the queued arguments")
        XCTAssertLessThan(multiMemory, 64 << 20, "the queue stays compact")
        XCTAssertEqual(try other.call("EXISTS", "key:0"), b(":0\r\n"), "nothing ran before EXEC")

        let execStarted = clockMillis()
        let exec = try client.call("EXEC")
        let execTime = clockMillis() - execStarted
        XCTAssertEqual(exec.count, "*\(count)\r\n".utf8.count + count * 5)
        XCTAssert(exec.starts(with: b("*\(count)\r\n+OK\r\n")) && exec.suffix(5).elementsEqual(b("+OK\r\n")))
        if case .aggregate(_, let elements?) = try RawReply.parse(exec) {
            XCTAssertEqual(elements.count, count)
            XCTAssert(elements.allSatisfy { $0 == .line(UInt8(ascii: "+"), b("OK")) })
        } else {
            XCTFail("EXEC's reply is not an array")
        }
        XCTAssertEqual(try other.call("DBSIZE"), b(":\(count)\r\n"))
        XCTAssertEqual(try other.call("GET", "key:99999"), b("$11\r\nvalue:99999\r\n"))
        let after = try otherClientFields(other)
        XCTAssertEqual(after["flags"], "N")
        XCTAssertEqual(after["multi"], "-1")
        XCTAssertEqual(after["multi-mem"], "0", "the queue's memory is released after EXEC")
        XCTAssertEqual(try client.call("PING"), b("+PONG\r\n"))
        print("TransactionTests: \(count) queued in \(queuing) ms (\(progress.pings) PINGs meanwhile, slowest \(progress.slowestPing) ms), "
              + "multi-mem \(multiMemory) bytes, EXEC in \(execTime) ms")
    }

    /// Clients that go away while queuing, while watching, or in the middle of a queued request leave
    /// nothing behind: their queued commands never run, writes to the keys they watched (and FLUSHALL,
    /// SWAPDB, which walk the watched-key index) serve the others as usual, on both servers.
    func testClientsThatDisconnectInTheMiddle() throws {
        for resp in [2, 3] {
            try compare("disconnects", [
                "a WATCH k j", "close a",
                "b WATCH k", "b MULTI", "b SET k from-b", "rst b",
                "c SELECT 1", "c WATCH k", "c MULTI", "c SET q v", "half c SET k half-sent", "close c",
                "d WATCH j", "d& MULTI", "d& SET k x", "rst d",
                "clients 1",
                "e WATCH k", "f GET k", "f SET k v", "f SET j v", "f SELECT 1", "f SET k v", "f FLUSHALL", "f SWAPDB 0 1",
                "e MULTI", "e EXEC", "f CLIENT LIST", "f DBSIZE", "f PING",
            ], resp: resp)
        }
        XCTAssert(needletail.isRunning)
        XCTAssert(needletail.answersPing())
    }

    /// Redis's documented optimistic-locking loop (WATCH, GET, MULTI, SET, EXEC; retry on the null array)
    /// from 4 threads, each with its own connection, 1,000 increments each: the counter ends at 4,000.
    func testConcurrentWatchIncrementLoops() throws {
        let threads = 4
        let increments = 1000
        let port = needletail.port
        final class Outcome {
            var retries = 0
            var error: String?
        }
        let outcomes = (0..<threads).map { _ in Outcome() }  // one per thread
        let started = clockMillis()
        runOnThreads(threads) { t in
            do {
                let c = try RawClient(port: port, timeoutMillis: 10_000)
                var done = 0
                while done < increments {
                    guard try c.call("WATCH", "counter") == b("+OK\r\n") else { throw HarnessError("WATCH failed") }
                    let value: Int
                    switch try RawReply.parse(try c.call("GET", "counter")) {
                    case .blob(_, nil): value = 0
                    case .blob(_, let v?): value = Int(String(decoding: v, as: UTF8.self))!
                    case let other: throw HarnessError("GET answered \(other)")
                    }
                    // MULTI, SET and EXEC in one write, as client libraries send a transaction.
                    try c.send(RawClient.encode([b("MULTI")]) + RawClient.encode([b("SET"), b("counter"), b("\(value + 1)")])
                        + RawClient.encode([b("EXEC")]))
                    guard try c.readReply() == b("+OK\r\n"), try c.readReply() == b("+QUEUED\r\n") else {
                        throw HarnessError("MULTI/SET not +OK/+QUEUED")
                    }
                    switch try c.readReply() {
                    case b("*1\r\n+OK\r\n"): done += 1
                    case b("*-1\r\n"): outcomes[t].retries += 1
                    case let other: throw HarnessError("EXEC answered \(rawEscaped(other))")
                    }
                }
            } catch {
                outcomes[t].error = "\(error)"
            }
        }
        for (t, o) in outcomes.enumerated() { XCTAssertNil(o.error, "thread \(t)") }
        let admin = try RawClient(port: port)
        XCTAssertEqual(try admin.call("GET", "counter"), b("$4\r\n\(threads * increments)\r\n"))
        print("TransactionTests: \(threads) x \(increments) WATCH increments in \(clockMillis() - started) ms, "
              + "\(outcomes.map(\.retries).reduce(0, +)) retries")
    }

    /// Clients blocked on a key that a transaction fills are served after EXEC (EXEC's own replies still
    /// see the elements), in the order they blocked; a transaction that fills and empties the key again
    /// leaves them blocked; a client blocked on several keys the transaction filled is served from the one
    /// that became ready first (Redis 7.0 pops from the ready key, not the first one listed). Same
    /// transcript on both servers.
    func testExecServesClientsBlockedOnItsKeys() throws {
        for resp in [2, 3] {
            try compare("served after EXEC", [
                "c& BLPOP q 0", "blocked 1", "d& BLPOP q 0", "blocked 2", "e& BRPOP q other 0", "blocked 3",
                "a MULTI", "a LPUSH q a", "a LLEN q", "a LPUSH q b c", "a RPUSH q d", "a LRANGE q 0 -1", "a EXEC",
                "c?", "d?", "e?", "a LRANGE q 0 -1",
                "c& BLPOP q2 0", "blocked 1", "d& BLMOVE q2 dst RIGHT LEFT 0", "blocked 2",
                "a MULTI", "a RPUSH q2 x y", "a LPOP q2 2", "a EXEC", "c~", "d~",
                "a MULTI", "a RPUSH q2 x y z", "a LPOP q2", "a EXEC", "c?", "d?", "a LRANGE dst 0 -1", "a LLEN q2",
                "f& BZPOPMIN z 0", "blocked 1",
                "a MULTI", "a ZADD z 2 b 1 a", "a ZCARD z", "a EXEC", "f?", "a ZRANGE z 0 -1",
                // Served by the key that became ready first in the transaction, not the first one listed.
                "g& BLPOP k1 k2 0", "blocked 1", "h& BLMPOP 0 2 m1 m2 LEFT COUNT 5", "blocked 2",
                "i& BZPOPMIN z1 z2 0", "blocked 3",
                "a MULTI", "a RPUSH k2 a", "a RPUSH k1 b", "a RPUSH m2 a b", "a RPUSH m1 c", "a ZADD z2 2 b",
                "a ZADD z1 1 a", "a EXEC", "g?", "h?", "i?",
                "a LRANGE k1 0 -1", "a LRANGE k2 0 -1", "a LRANGE m1 0 -1", "a ZRANGE z1 0 -1",
                // A transaction pipelined behind a blocked command waits for it.
                "j& BLPOP p 0", "j& MULTI", "j& INCR n", "j& LLEN p", "j& EXEC", "blocked 1", "j~",
                "a RPUSH p x y", "j?", "j?", "j?", "j?", "j?",
            ], resp: resp)
        }
    }

    // MARK: - Helpers

    /// The CLIENT LIST fields of the one client other than `admin` (which asks).
    private func otherClientFields(_ admin: RawClient) throws -> [String: String] {
        let id = String(decoding: try admin.call("CLIENT", "ID").dropFirst().dropLast(2), as: UTF8.self)
        guard case .blob(_, let text?) = try RawReply.parse(try admin.call("CLIENT", "LIST")) else {
            throw HarnessError("CLIENT LIST is not a bulk string")
        }
        let others = String(decoding: text, as: UTF8.self).split(separator: "\n").map(Lockstep.fields).filter { $0["id"] != id }
        guard others.count == 1 else { throw HarnessError("expected one other client in CLIENT LIST: \(others)") }
        return others[0]
    }
}

/// A flag one thread sets and others poll.
final class LockedFlag {
    private var lock = pthread_mutex_t()
    private var value = false

    init() { pthread_mutex_init(&lock, nil) }
    deinit { pthread_mutex_destroy(&lock) }

    func set() {
        pthread_mutex_lock(&lock)
        value = true
        pthread_mutex_unlock(&lock)
    }

    var isSet: Bool {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        return value
    }
}

// MARK: - Running a script on both servers

/// One script run on redis-server and needletail in lockstep (see the syntax in TransactionTests' header).
final class Lockstep {
    final class Side {
        let port: Int
        let admin: RawClient
        var connections: [String: RawClient] = [:]
        var transcript: [String] = []

        init(port: Int) throws {
            self.port = port
            admin = try RawClient(port: port)
        }
    }

    let sides: [Side]
    let resp: Int
    /// `=>` checks that failed, as messages.
    private(set) var expectationFailures: [String] = []

    init(ports: [Int], resp: Int, activeExpire: Bool) throws {
        sides = try ports.map { try Side(port: $0) }
        self.resp = resp
        for side in sides {
            try Self.waitConnected(side.admin, 1)  // the previous script's connections are gone
            guard try side.admin.call("FLUSHALL") == Array("+OK\r\n".utf8),
                  try side.admin.call("DEBUG", "SET-ACTIVE-EXPIRE", activeExpire ? "1" : "0") == Array("+OK\r\n".utf8) else {
                throw HarnessError("port \(side.port): FLUSHALL or DEBUG SET-ACTIVE-EXPIRE failed")
            }
        }
    }

    func run(_ steps: [String]) throws {
        for step in steps { try run(step) }
    }

    private func run(_ step: String) throws {
        var text = Substring(step)
        var expected: String?
        if let arrow = step.range(of: " => ") {
            expected = String(step[arrow.upperBound...])
            text = step[..<arrow.lowerBound]
        }
        let head = String(text.prefix { $0 != " " })
        let rest = String(text.dropFirst(head.count).drop { $0 == " " })
        switch head {
        case "sleep":
            rawSleepMillis(Int(rest)!)
        case "blocked":
            for side in sides { try waitBlocked(side.admin, Int(rest)!) }
        case "clients":
            for side in sides { try Self.waitConnected(side.admin, Int(rest)!) }
        case "half":
            let name = String(rest.prefix { $0 != " " })
            let request = RawClient.encode(try Self.arguments(String(rest.dropFirst(name.count))))
            for side in sides { try connection(side, name).send(Array(request.dropLast(3))) }
        case "close", "rst":
            for side in sides { side.connections.removeValue(forKey: rest)?.close(reset: head == "rst") }
        case "until":
            let name = String(rest.prefix { $0 != " " })
            let args = try Self.arguments(String(rest.dropFirst(name.count)))
            for side in sides {
                let c = try connection(side, name)
                let deadline = clockMillis() + 2000
                var reply = try c.call(args)
                while !reply.starts(with: Array(expected!.utf8)) && clockMillis() < deadline {
                    rawSleepMillis(5)
                    reply = try c.call(args)
                }
                side.transcript.append("\(step): \(reply.starts(with: Array(expected!.utf8)) ? "reached" : "not reached: " + rawEscaped(reply))")
            }
        default:
            let mode = head.last.flatMap { "&?~".contains($0) ? $0 : nil }
            let name = mode == nil ? head : String(head.dropLast())
            let args = mode == "?" || mode == "~" ? [] : try Self.arguments(rest)
            for side in sides {
                let c = try connection(side, name)
                switch mode {
                case "&":
                    try c.send(command: args)
                case "~":
                    side.transcript.append("\(step): " + (try nothingWithin(c, 50)))
                default:
                    if mode == nil { try c.send(command: args) }
                    let reply = try c.readReply()
                    side.transcript.append("\(step): " + rawEscaped(Self.normalized(reply), limit: 2000))
                    if let expected, !reply.starts(with: Array(expected.utf8)) {
                        expectationFailures.append("port \(side.port): \(step): got \(rawEscaped(reply))")
                    }
                }
            }
        }
    }

    private func connection(_ side: Side, _ name: String) throws -> RawClient {
        if let c = side.connections[name] { return c }
        let c = try RawClient(port: side.port)
        if resp == 3 { _ = try c.call("HELLO", "3") }
        side.connections[name] = c
        return c
    }

    private static func arguments(_ text: String) throws -> [[UInt8]] {
        guard let args = DiffCorpus.splitLine(Array(text.utf8)), !args.isEmpty else {
            throw HarnessError("bad step arguments: \(text)")
        }
        return args
    }

    /// Polls INFO until `count` clients are connected (5 s at most).
    static func waitConnected(_ admin: RawClient, _ count: Int) throws {
        let deadline = clockMillis() + 5000
        while true {
            let info = String(decoding: try admin.call("INFO", "clients"), as: UTF8.self)
            let line = info.split(separator: "\r\n").first { $0.hasPrefix("connected_clients:") }
            let n = line.flatMap { Int($0.dropFirst("connected_clients:".count)) }
            if n == count { return }
            if clockMillis() > deadline { throw HarnessError("connected_clients stayed \(n ?? -1), expected \(count)") }
            rawSleepMillis(2)
        }
    }

    // MARK: Comparing client lines

    /// The CLIENT LIST fields both servers must agree on; the others (id, addresses, ages, buffer sizes) are
    /// each server's own. multi-mem is compared as zero or not.
    static let comparedClientFields = ["name", "flags", "db", "sub", "psub", "multi", "multi-mem", "cmd", "resp"]

    /// A reply with every CLIENT INFO / CLIENT LIST text in it (also inside EXEC's array) reduced to the
    /// compared fields, and HELLO's id and version masked.
    static func normalized(_ reply: [UInt8]) -> [UInt8] {
        guard let value = try? RawReply.parse(reply) else { return reply }
        let n = normalized(value)
        return n == value ? reply : n.encoded
    }

    private static func normalized(_ value: RawReply) -> RawReply {
        switch value {
        case .blob(let t, let payload?):
            let text = String(decoding: payload, as: UTF8.self)
            let verbatim = text.hasPrefix("txt:") ? "txt:" : ""
            guard text.dropFirst(verbatim.count).hasPrefix("id=") else { return value }
            let lines = text.dropFirst(verbatim.count).split(separator: "\n", omittingEmptySubsequences: false).map { line in
                guard !line.isEmpty else { return "" }
                let f = fields(of: line)
                return comparedClientFields.map { name in
                    let v = f[name] ?? "<missing>"
                    return name + "=" + (name == "multi-mem" ? (v == "0" ? "0" : "nonzero") : v)
                }.joined(separator: " ")
            }
            return .blob(t, Array((verbatim + lines.joined(separator: "\n")).utf8))
        case .aggregate(let t, var elements?):
            // HELLO's reply (also inside EXEC's array): the client id and the version are each server's own.
            if elements.first == .blob(UInt8(ascii: "$"), Array("server".utf8)) && elements.count % 2 == 0 {
                for i in stride(from: 0, to: elements.count, by: 2)
                where [Array("id".utf8), Array("version".utf8)].contains(where: { elements[i] == .blob(UInt8(ascii: "$"), $0) }) {
                    elements[i + 1] = .line(UInt8(ascii: "+"), Array("<masked>".utf8))
                }
                return .aggregate(t, elements)
            }
            return .aggregate(t, elements.map(normalized))
        default:
            return value
        }
    }

    static func fields(of line: Substring) -> [String: String] {
        var out: [String: String] = [:]
        for pair in line.split(separator: " ") {
            guard let eq = pair.firstIndex(of: "=") else { continue }
            out[String(pair[..<eq])] = String(pair[pair.index(after: eq)...])
        }
        return out
    }
}

private func b(_ s: String) -> [UInt8] { Array(s.utf8) }
