import Glibc
import TestSupport
import XCTest

/// The blocking family of the differential test: seeded random scenarios with two connections, run on
/// redis-server and on needletail side by side, whose transcripts must be equal (issue 12).
///
/// A scenario: a few setup writes; one to three *waiters* each send one blocking command (BLPOP, BRPOP,
/// BRPOPLPUSH, BLMOVE, BLMPOP, BZPOPMIN, BZPOPMAX or BZMPOP, over a small pool of keys, edge-biased: several
/// keys, repeated keys, the destination among the sources, COUNT); each is answered at once or blocks (a
/// BLMOVE served can feed the next waiter). Then the *writer* runs random
/// writes: pushes and ZADDs to the waited keys and others, values of the wrong type, DEL, LMOVE chains,
/// RENAME, SWAPDB, other databases, and MULTI/EXEC blocks that fill and empty a key within one transaction.
/// After each of the writer's replies the third connection reads INFO's blocked_clients, so the step at which
/// waiters were served is observed, never guessed from timing; their replies are then read. At the end the
/// waiters still blocked are released with CLIENT UNBLOCK, and every key of the pool is dumped.
///
/// Timeouts are 0 or 100 s, so no timer fires during a scenario (timeouts are pinned in BlockingTests).
/// `BLOCKING_DIFF_SCENARIOS` (default 150 per protocol) and `BLOCKING_DIFF_SEED` (one scenario) select the runs;
/// `BLOCKING_DIFF_TRACE=1` prints redis-server's transcripts.
final class BlockingDifferentialTests: XCTestCase {
    private var needletail: ServerUnderTest!
    private var redis: RawRedisServer!

    override func setUpWithError() throws {
        signal(SIGPIPE, SIG_IGN)
        guard RawRedisServer.isInstalled else { throw XCTSkip("redis-server is not installed at \(RawRedisServer.path)") }
        needletail = try ServerUnderTest.start()
        redis = try RawRedisServer()
    }

    override func tearDown() {
        needletail?.stop(keepLog: (testRun?.totalFailureCount ?? 1) > 0)
        redis?.stop()
    }

    func testSeededBlockingScenarios() throws {
        let count = Int(env("BLOCKING_DIFF_SCENARIOS") ?? "") ?? 150
        let seeds: [UInt64] = env("BLOCKING_DIFF_SEED").flatMap { UInt64($0) }.map { [$0] } ?? (1...UInt64(count)).map { $0 }
        var failures = 0
        for resp in [2, 3] {
            let sides = try [redis.port, needletail.port].map { try BlockingScenarioSide(port: $0, resp: resp) }
            for seed in seeds {
                let scenario = BlockingScenario(seed: seed &* 7919 &+ UInt64(resp))
                let transcripts: [[String]]
                do {
                    transcripts = try sides.map { try $0.run(scenario.steps) }
                } catch {
                    throw HarnessError("seed \(seed), RESP\(resp): \(error) (rerun with BLOCKING_DIFF_SEED=\(seed)); steps:\n"
                        + scenario.steps.map { "  \($0)" }.joined(separator: "\n"))
                }
                if env("BLOCKING_DIFF_TRACE") != nil { print("seed \(seed) RESP\(resp):\n  " + transcripts[0].joined(separator: "\n  ")) }
                if transcripts[0] != transcripts[1] {
                    failures += 1
                    var report = "seed \(seed), RESP\(resp): transcripts differ (rerun with BLOCKING_DIFF_SEED=\(seed))\n"
                    for (i, line) in transcripts[0].enumerated() {
                        let theirs = i < transcripts[1].count ? transcripts[1][i] : "<missing>"
                        report += (line == theirs ? "   " : " ! ") + "redis: \(line)\n"
                        if line != theirs { report += "   needletail: \(theirs)\n" }
                    }
                    XCTFail(report)
                    if failures >= 3 { return }
                }
            }
        }
    }

    private func env(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }
}

/// One scenario: who sends what, generated from a seed.
struct BlockingScenario {
    enum Step {
        case setup([String])
        case wait(Int, [String])  // waiter number, its blocking command
        case write([[String]])  // one command, or a pipelined group (MULTI ... EXEC)
    }

    private var rng: SeededRandom
    private(set) var steps: [Step] = []
    /// The keys the waiters wait on (and move to): the writer's keys are biased toward them.
    private var waited: Set<String> = []

    static let lists = ["la", "lb", "lc"]
    static let zsets = ["za", "zb"]
    static let pool = lists + zsets + ["str"]

    init(seed: UInt64) {
        rng = SeededRandom(seed: seed)
        for _ in 0..<rng.below(4) { steps.append(.setup(write())) }
        // One to three waiters (BlockingScenarioSide.waiterCount), the later ones often on the same keys.
        for w in 0..<rng.between(1, BlockingScenarioSide.waiterCount) {
            let wait = blockingCommand()
            waited.formUnion(wait.filter { Self.pool.contains($0) })
            steps.append(.wait(w, wait))
        }
        for _ in 0..<rng.between(1, 8) {
            if rng.oneIn(6) {
                let inner = (0..<rng.between(1, 4)).map { _ in write() }
                steps.append(.write([["MULTI"]] + inner + [["EXEC"]]))
            } else {
                steps.append(.write([write()]))
            }
        }
    }

    private mutating func list() -> String {
        if rng.oneIn(10) { return rng.pick(["str", "za"]) }
        let targets = Self.lists.filter { waited.contains($0) }
        return !targets.isEmpty && rng.oneIn(2) ? rng.pick(targets) : rng.pick(Self.lists)
    }

    private mutating func zset() -> String {
        if rng.oneIn(10) { return rng.pick(["str", "la"]) }
        let targets = Self.zsets.filter { waited.contains($0) }
        return !targets.isEmpty && rng.oneIn(2) ? rng.pick(targets) : rng.pick(Self.zsets)
    }
    private mutating func end() -> String { rng.pick(["LEFT", "RIGHT", "left"]) }
    private mutating func timeout() -> String { rng.pick(["0", "0", "0", "100", "0.0"]) }
    private mutating func elements() -> [String] { (0..<rng.between(1, 3)).map { _ in "e\(rng.below(100))" } }

    private mutating func keys(_ pick: (inout BlockingScenario) -> String) -> [String] {
        (0..<rng.between(1, 3)).map { _ in pick(&self) }
    }

    private mutating func blockingCommand() -> [String] {
        switch rng.below(8) {
        case 0: return ["BLPOP"] + keys { $0.list() } + [timeout()]
        case 1: return ["BRPOP"] + keys { $0.list() } + [timeout()]
        case 2: return ["BRPOPLPUSH", list(), list(), timeout()]
        case 3: return ["BLMOVE", list(), list(), end(), end(), timeout()]
        case 4:
            let k = keys { $0.list() }
            var c = ["BLMPOP", timeout(), String(k.count)] + k + [rng.pick(["LEFT", "RIGHT"])]
            if rng.oneIn(2) { c += ["COUNT", rng.pick(["1", "2", "10"])] }
            return c
        case 5: return ["BZPOPMIN"] + keys { $0.zset() } + [timeout()]
        case 6: return ["BZPOPMAX"] + keys { $0.zset() } + [timeout()]
        default:
            let k = keys { $0.zset() }
            var c = ["BZMPOP", timeout(), String(k.count)] + k + [rng.pick(["MIN", "MAX"])]
            if rng.oneIn(2) { c += ["COUNT", rng.pick(["1", "3"])] }
            return c
        }
    }

    private mutating func write() -> [String] {
        switch rng.below(16) {
        case 0, 1, 2: return [rng.pick(["LPUSH", "RPUSH"]), list()] + elements()
        case 3: return [rng.pick(["LPUSHX", "RPUSHX"]), list()] + elements()
        case 4, 5: return ["ZADD", zset()] + (0..<rng.between(1, 3)).flatMap { _ in [String(rng.below(10)), "m\(rng.below(20))"] }
        case 6: return ["DEL", rng.pick(Self.pool)]
        case 7: return ["SET", rng.pick(Self.pool), "v"]
        case 8: return ["LMOVE", list(), list(), end(), end()]
        case 9: return ["RPOPLPUSH", list(), list()]
        case 10: return ["RENAME", rng.pick(Self.pool), rng.pick(Self.pool)]
        case 11: return ["SWAPDB", "0", "1"]
        case 12: return ["LPOP", list()]
        case 13: return ["ZPOPMIN", zset()]
        case 14: return ["ZINCRBY", zset(), "1", "m\(rng.below(20))"]
        default: return [rng.pick(["LPUSH", "ZADD"]), "other"] + (rng.oneIn(2) ? ["1", "x"] : ["x"])
        }
    }
}

/// One server's connections for the scenarios: the waiters, the writer and an admin (RESP2, INFO).
final class BlockingScenarioSide {
    static let waiterCount = 3
    private let waiters: [RawClient]
    private let waiterIDs: [String]
    private let writer: RawClient
    private let admin: RawClient

    init(port: Int, resp: Int) throws {
        admin = try RawClient(port: port)
        writer = try RawClient(port: port)
        waiters = try (0..<Self.waiterCount).map { _ in try RawClient(port: port) }
        waiterIDs = try waiters.map { String(decoding: try $0.call("CLIENT", "ID").filter { $0 >= 48 && $0 <= 57 }, as: UTF8.self) }
        if resp == 3 {
            for c in waiters + [writer] { _ = try c.call("HELLO", "3") }
        }
    }

    func run(_ steps: [BlockingScenario.Step]) throws -> [String] {
        _ = try admin.call("FLUSHALL")
        var t: [String] = []
        var blocked: [Int] = []  // waiters still blocked, in the order they blocked
        for step in steps {
            switch step {
            case .setup(let c):
                t.append("setup \(c.joined(separator: " ")) -> \(rawEscaped(try writer.call(c.map { Array($0.utf8) })))")
            case .wait(let w, let c):
                try waiters[w].send(command: c.map { Array($0.utf8) })
                let parked = try waitBlockedOrAnswered(waiters[w], blocked: blocked.count)
                t.append("wait \(w) \(c.joined(separator: " ")) -> " + (parked ? "blocked" : rawEscaped(try waiters[w].readReply())))
                if parked {
                    blocked.append(w)
                } else {
                    try collectServed(&blocked, &t)  // a BLMOVE answered at once may have fed an earlier waiter
                }
            case .write(let group):
                try writer.send(group.flatMap { RawClient.encode($0.map { Array($0.utf8) }) })
                var replies: [String] = []
                for _ in group { replies.append(rawEscaped(try writer.readReply())) }
                t.append("write \(group.map { $0.joined(separator: " ") }.joined(separator: "; ")) -> \(replies.joined(separator: " "))")
                try collectServed(&blocked, &t)
            }
        }
        for w in blocked {
            waiters[w].timeoutMillis = 5000
            t.append("unblock \(w) -> \(rawEscaped(try admin.call("CLIENT", "UNBLOCK", waiterIDs[w]))) \(rawEscaped(try waiters[w].readReply()))")
        }
        _ = try writer.call("SELECT", "0")
        for db in ["0", "1"] {
            _ = try admin.call("SELECT", db)
            for key in BlockingScenario.pool {
                let type = String(decoding: try admin.call("TYPE", key), as: UTF8.self)
                let dump: [UInt8]
                switch type {
                case "+list\r\n": dump = try admin.call("LRANGE", key, "0", "-1")
                case "+zset\r\n": dump = try admin.call("ZRANGE", key, "0", "-1", "WITHSCORES")
                case "+string\r\n": dump = try admin.call("GET", key)
                default: continue
                }
                t.append("db\(db) \(key): \(rawEscaped(dump))")
            }
        }
        _ = try admin.call("SELECT", "0")
        return t
    }

    /// Reads the replies of the blocked waiters INFO says were served (their replies were written before the
    /// server read the INFO request, so they are in their sockets), in the order they blocked.
    private func collectServed(_ blocked: inout [Int], _ t: inout [String]) throws {
        let served = try blocked.count - blockedClients(admin)
        var found: [Int] = []
        for wait in [1, 500] where served > found.count {  // a first look costs nothing; a second, patient one
            for w in blocked where !found.contains(w) {
                waiters[w].timeoutMillis = Int32(wait)
                if try waiters[w].hasReply() { found.append(w) }
            }
        }
        if found.count != served { throw HarnessError("blocked_clients fell by \(served), \(found.count) waiters got replies") }
        for w in blocked where found.contains(w) {
            t.append("  served \(w): \(rawEscaped(try waiters[w].readReply()))")
        }
        blocked.removeAll { found.contains($0) }
    }

    /// Whether the waiter's command blocked (INFO counts one more) rather than answered at once (its reply
    /// came).
    private func waitBlockedOrAnswered(_ waiter: RawClient, blocked: Int) throws -> Bool {
        let deadline = clockMillis() + 5000
        defer { waiter.timeoutMillis = 5000 }
        while clockMillis() < deadline {
            if try blockedClients(admin) == blocked + 1 { return true }
            waiter.timeoutMillis = 5
            if try waiter.hasReply() { return false }
        }
        throw HarnessError("the blocking command neither blocked nor answered")
    }
}
