import Glibc
import TestSupport
import XCTest

// What the persistence tests share besides Support/RDBTestSupport.swift (TemporaryDirectory, whole files,
// runProgram, `pipelined`): INFO fields, polling, starting both servers in a directory, the seeded big
// dataset.

extension RawClient {
    func say(_ args: String...) throws -> String { replyText(try call(args.map { Array($0.utf8) })) }

    /// One field of `INFO <section>` ("rdb_bgsave_in_progress"), nil when absent.
    func info(_ field: String, section: String = "persistence") throws -> String? {
        guard case .blob(_, let body?) = try RawReply.parse(call("INFO", section)) else { return nil }
        for line in String(decoding: body, as: UTF8.self).split(separator: "\r\n") where line.hasPrefix(field + ":") {
            return String(line.dropFirst(field.count + 1))
        }
        return nil
    }

    /// The field names of `INFO persistence`, in order.
    func infoFieldNames(section: String = "persistence") throws -> [String] {
        guard case .blob(_, let body?) = try RawReply.parse(call("INFO", section)) else { return [] }
        return String(decoding: body, as: UTF8.self).split(separator: "\r\n").compactMap { line in
            line.hasPrefix("#") ? nil : line.split(separator: ":").first.map(String.init)
        }
    }

    func digest() throws -> String { try say("DEBUG", "DIGEST") }
}

/// Polls `condition` every 10 ms until it holds or `timeoutMillis` passed; returns whether it held.
func eventually(timeoutMillis: Int, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = clockMillis() + Int64(timeoutMillis)
    repeat {
        if try condition() { return true }
        usleep(10_000)
    } while clockMillis() < deadline
    return try condition()
}

/// Needletail with DEBUG enabled, working in `dir` (where dump.rdb is written and loaded).
func startNeedletail(dir: TemporaryDirectory, _ extra: [String] = []) throws -> ServerUnderTest {
    try ServerUnderTest.start(extraArguments: DifferentialRunner.debugEnabled + ["--dir", dir.path] + extra)
}

/// redis-server 7.0 working in `dir`.
func startOracle(dir: TemporaryDirectory, _ extra: [String] = []) throws -> RawRedisServer {
    try RawRedisServer(extraArguments: ["--dir", dir.path] + extra)
}

/// A big seeded dataset in databases 0, 1 and 2: `strings` strings (MSET in batches), `collections` each of
/// hashes, sets, sorted sets and lists of `elements` elements, and a tenth of the keys with a TTL of an
/// hour or more (nothing expires while a test runs, so a file saved now loads the same keys later).
func bigDatasetCommands(seed: UInt64, strings: Int, collections: Int, elements: Int) -> [[[UInt8]]] {
    var rng = SeededRandom(seed: seed)
    var commands: [[[UInt8]]] = []
    func add(_ words: [String]) { commands.append(words.map { Array($0.utf8) }) }
    for db in 0..<3 {
        add(["SELECT", "\(db)"])
        let share = db == 0 ? strings - 2 * (strings / 4) : strings / 4
        var i = 0
        while i < share {
            var mset = ["MSET"]
            for j in i..<min(i + 1000, share) {
                mset += ["s:\(j)", rng.oneIn(3) ? "\(rng.below(100_000))" : String(repeating: "v", count: 1 + rng.below(40)) + "\(j)"]
            }
            add(mset)
            i += 1000
        }
        for k in 0..<(db == 0 ? collections - 2 * (collections / 4) : collections / 4) {
            var hset = ["HSET", "h:\(k)"], sadd = ["SADD", "set:\(k)"], zadd = ["ZADD", "z:\(k)"], rpush = ["RPUSH", "l:\(k)"]
            for e in 0..<elements {
                hset += ["f\(e)", "\(rng.below(1_000_000))"]
                sadd.append(k % 2 == 0 ? "\(e * 7)" : "m\(e)")
                zadd += ["\(rng.below(10_000))", "m\(e)"]
                rpush.append("e\(e)-\(rng.below(1000))")
            }
            for c in [hset, sadd, zadd, rpush] { add(c) }
        }
        for j in stride(from: 0, to: share, by: 10) { add(["EXPIRE", "s:\(j)", "\(3600 + rng.below(3600))"]) }
    }
    add(["SELECT", "0"])
    return commands
}

/// Loads `commands` in batches of 100; fails on any error reply.
func loadDataset(_ commands: [[[UInt8]]], into client: RawClient) throws {
    var i = 0
    while i < commands.count {
        let batch = Array(commands[i..<min(i + 100, commands.count)])
        for (n, reply) in try client.pipelined(batch).enumerated() where reply.first == UInt8(ascii: "-") {
            throw HarnessError("loading the dataset: \(replyText(batch[n][0])) answered \(replyText(reply))")
        }
        i += batch.count
    }
}

/// A mutex-guarded value shared by a test's threads.
final class Locked<Value> {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private var value: Value
    init(_ value: Value) {
        self.value = value
        pthread_mutex_init(mutex, nil)
    }
    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }
    func with<T>(_ body: (inout Value) -> T) -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body(&value)
    }
}

/// What SnapshotTests and PersistenceLifecycleTests share: redis-server must be installed; every server and
/// directory a test made is stopped and removed after it (a failed test keeps Needletail's log).
class PersistenceTestCase: XCTestCase {
    var directories: [TemporaryDirectory] = []
    var servers: [ServerUnderTest] = []
    var oracles: [RawRedisServer] = []
    /// The name temporary directories carry.
    var directoryTag: String { "persistence" }

    override func setUpWithError() throws {
        signal(SIGPIPE, SIG_IGN)
        guard RawRedisServer.isInstalled else { throw XCTSkip("redis-server is not installed at \(RawRedisServer.path)") }
    }

    override func tearDown() {
        let failed = (testRun?.totalFailureCount ?? 1) > 0
        for s in servers { s.stop(keepLog: failed) }
        for o in oracles { o.stop() }
        for d in directories { d.remove() }
    }

    func directory() throws -> TemporaryDirectory {
        let d = try TemporaryDirectory(directoryTag)
        directories.append(d)
        return d
    }

    func needletail(_ dir: TemporaryDirectory, _ extra: [String] = []) throws -> ServerUnderTest {
        let s = try startNeedletail(dir: dir, extra)
        servers.append(s)
        return s
    }

    func oracle(_ dir: TemporaryDirectory, _ extra: [String] = []) throws -> RawRedisServer {
        let o = try startOracle(dir: dir, extra)
        oracles.append(o)
        return o
    }
}
