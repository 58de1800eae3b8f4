import Glibc
import TestSupport
import XCTest

/// BGSAVE as a point-in-time snapshot, with real processes: the file a BGSAVE writes while other clients
/// keep writing holds exactly the dataset of the instant BGSAVE began (redis-server 7.0 and a fresh
/// Needletail load it with the DEBUG DIGEST recorded at that instant); a kill -9 in the middle of a BGSAVE
/// leaves the previous dump intact; FLUSHALL with save points aborts a running BGSAVE and writes an empty
/// dump at once.
final class SnapshotTests: PersistenceTestCase {
    override var directoryTag: String { "snapshot" }

    /// The digest of `dir/dump.rdb` as loaded at start-up by redis-server 7.0 and by a fresh Needletail.
    private func digestsOfDump(in dir: TemporaryDirectory) throws -> (oracle: String, needletail: String) {
        let oracle = try startOracle(dir: dir)
        defer { oracle.stop() }
        let fresh = try startNeedletail(dir: dir)
        defer { fresh.stop() }
        return (try RawClient(port: oracle.port, timeoutMillis: 30_000).digest(),
                try RawClient(port: fresh.port, timeoutMillis: 30_000).digest())
    }

    // MARK: - Point in time while writes continue

    /// For a few seeds (each its own mix of writes): a big dataset in three databases; on one connection
    /// `DEBUG DIGEST` and `BGSAVE` in one write (run back to back, so the digest is the dataset at the
    /// instant the save began); then four connections write as fast as they can until INFO says the save
    /// is over. The file must hold the recorded digest for redis-server and for a fresh Needletail, pass
    /// redis-check-rdb, and the writes must really have overlapped the save.
    func testBackgroundSaveIsPointInTimeWhileWritesContinue() throws {
        let dir = try directory()
        // rdb-key-save-delay makes each save last 2 s or more whatever the machine's speed, so many writes
        // overlap it (it paces the serialization; the loop keeps serving).
        let server = try needletail(dir, ["--rdb-key-save-delay", "200"])
        let admin = try RawClient(port: server.port, timeoutMillis: 60_000)
        for seed: UInt64 in [11, 12] {
            XCTAssertEqual(try admin.say("FLUSHALL"), "+OK\r\n")
            try loadDataset(bigDatasetCommands(seed: seed, strings: 10_000, collections: 24, elements: 1000), into: admin)
            let saving = Locked(0)  // 0 before the save, 1 while it runs, 2 once it is over
            let writesDuringSave = Locked(0)
            let failures = Locked([String]())
            var recorded = ""
            runOnThreads(5) { i in
                do {
                    if i == 0 {
                        // However this ends, the writers stop.
                        defer { saving.with { $0 = 2 } }
                        let c = try RawClient(port: server.port, timeoutMillis: 60_000)
                        try c.send(Array("DEBUG DIGEST\r\nBGSAVE\r\n".utf8))
                        recorded = replyText(try c.readReply())
                        let started = replyText(try c.readReply())
                        saving.with { $0 = 1 }
                        guard started == "+Background saving started\r\n" else { throw HarnessError("BGSAVE: \(started)") }
                        guard try eventually(timeoutMillis: 60_000, { try c.info("rdb_bgsave_in_progress") == "0" }) else {
                            throw HarnessError("the BGSAVE did not finish in 60 s")
                        }
                    } else {
                        var writer = try SnapshotWriter(seed: seed &* 31 &+ UInt64(i), port: server.port)
                        while saving.with({ $0 }) == 0 { usleep(100) }
                        while saving.with({ $0 }) == 1 {
                            let done = try writer.writeBatch()
                            if saving.with({ $0 }) == 1 { writesDuringSave.with { $0 += done } }
                        }
                    }
                } catch {
                    failures.with { $0.append("thread \(i): \(error)") }
                }
            }
            XCTAssertEqual(failures.with { $0 }, [], "seed \(seed)")
            XCTAssertEqual(try admin.info("rdb_last_bgsave_status"), "ok", "seed \(seed)")
            let overlapping = writesDuringSave.with { $0 }
            XCTAssertGreaterThan(overlapping, 2_000, "seed \(seed): too few writes overlapped the save to prove anything")
            XCTAssertTrue(recorded.hasPrefix("+") && recorded.utf8.count == 43, "seed \(seed): DEBUG DIGEST answered \(recorded)")
            XCTAssertNotEqual(try admin.digest(), recorded, "seed \(seed): the writes changed nothing")
            let loaded = try digestsOfDump(in: dir)
            XCTAssertEqual(loaded.oracle, recorded, "seed \(seed): redis-server loaded another dataset (\(overlapping) overlapping writes)")
            XCTAssertEqual(loaded.needletail, recorded, "seed \(seed): Needletail loaded another dataset")
            let check = try runProgram(["/usr/bin/redis-check-rdb", dir.file("dump.rdb")])
            XCTAssertTrue(exitedNormally(check.status) && exitCode(check.status) == 0 && check.output.contains("RDB looks OK"),
                          "seed \(seed): redis-check-rdb: \(check.output)")
        }
    }

    // MARK: - AOF rewrite while writes continue

    /// BGREWRITEAOF writes its new RDB base with the same fork-less snapshot while four connections keep
    /// writing (into the new incr file): afterwards the files hold exactly the final dataset, for a
    /// restarted Needletail and for redis-server 7.0, and redis-check-aof accepts them.
    func testAOFRewriteWhileWritesContinue() throws {
        let dir = try directory()
        let server = try needletail(dir, ["--appendonly", "yes", "--rdb-key-save-delay", "200"])
        let admin = try RawClient(port: server.port, timeoutMillis: 60_000)
        try loadDataset(bigDatasetCommands(seed: 21, strings: 10_000, collections: 24, elements: 1000), into: admin)
        let rewriting = Locked(0)  // 0 before the rewrite, 1 while it runs, 2 once it is over
        let writesDuringRewrite = Locked(0)
        let failures = Locked([String]())
        runOnThreads(5) { i in
            do {
                if i == 0 {
                    defer { rewriting.with { $0 = 2 } }
                    let c = try RawClient(port: server.port, timeoutMillis: 60_000)
                    let started = try c.say("BGREWRITEAOF")
                    rewriting.with { $0 = 1 }
                    guard started == "+Background append only file rewriting started\r\n" else { throw HarnessError("BGREWRITEAOF: \(started)") }
                    guard try eventually(timeoutMillis: 60_000, { try c.info("aof_rewrite_in_progress") == "0" }) else {
                        throw HarnessError("the rewrite did not finish in 60 s")
                    }
                } else {
                    var writer = try SnapshotWriter(seed: 77 &+ UInt64(i), port: server.port, shortTTLs: false)
                    while rewriting.with({ $0 }) == 0 { usleep(100) }
                    while rewriting.with({ $0 }) == 1 {
                        let done = try writer.writeBatch()
                        if rewriting.with({ $0 }) == 1 { writesDuringRewrite.with { $0 += done } }
                    }
                }
            } catch {
                failures.with { $0.append("thread \(i): \(error)") }
            }
        }
        XCTAssertEqual(failures.with { $0 }, [])
        XCTAssertEqual(try admin.info("aof_last_bgrewrite_status"), "ok")
        XCTAssertGreaterThan(writesDuringRewrite.with { $0 }, 2_000, "too few writes overlapped the rewrite to prove anything")
        let final = try admin.digest()
        let manifest = String(decoding: try XCTUnwrap(readFileBytes(dir.path + "/appendonlydir/appendonly.aof.manifest")), as: UTF8.self)
        XCTAssertTrue(manifest.contains(".base.rdb seq 2 type b"), manifest)
        _ = try? admin.say("SHUTDOWN", "NOSAVE")  // no reply: the server exits
        XCTAssertNotNil(server.waitForExit(timeoutMillis: 10_000), "the server did not exit")
        let check = try runProgram(["/usr/bin/redis-check-aof", dir.path + "/appendonlydir/appendonly.aof.manifest"])
        XCTAssertTrue(exitedNormally(check.status) && exitCode(check.status) == 0, "redis-check-aof: \(check.output)")
        let restarted = try needletail(dir, ["--appendonly", "yes"])
        XCTAssertEqual(try RawClient(port: restarted.port, timeoutMillis: 30_000).digest(), final, "Needletail reloaded another dataset")
        restarted.stop()
        let oracle = try startOracle(dir: dir, ["--appendonly", "yes"])
        oracles.append(oracle)
        XCTAssertEqual(try RawClient(port: oracle.port, timeoutMillis: 30_000).digest(), final, "redis-server loaded another dataset")
    }

    /// kill -9 in the middle of a BGREWRITEAOF: the files on disk (old base and incr files, the new incr
    /// file the manifest already lists, a temporary base) still load to the dataset as it was, and
    /// redis-check-aof accepts them.
    func testKillDuringAOFRewriteLeavesALoadableState() throws {
        let dir = try directory()
        let server = try needletail(dir, ["--appendonly", "yes", "--rdb-key-save-delay", "50"])  // a rewrite of 1 s or more
        let c = try RawClient(port: server.port, timeoutMillis: 60_000)
        try loadDataset(bigDatasetCommands(seed: 31, strings: 20_000, collections: 40, elements: 1000), into: c)
        let before = try c.digest()
        XCTAssertEqual(try c.say("BGREWRITEAOF"), "+Background append only file rewriting started\r\n")
        XCTAssertEqual(try c.info("aof_rewrite_in_progress"), "1", "the rewrite was over before the kill")
        _ = try c.say("SET", "written-during-the-rewrite", "1")
        let expected = try c.digest()
        XCTAssertNotEqual(expected, before)
        server.kill9()
        let check = try runProgram(["/usr/bin/redis-check-aof", dir.path + "/appendonlydir/appendonly.aof.manifest"])
        XCTAssertTrue(exitedNormally(check.status) && exitCode(check.status) == 0, "redis-check-aof: \(check.output)")
        let restarted = try needletail(dir, ["--appendonly", "yes"])
        XCTAssertEqual(try RawClient(port: restarted.port, timeoutMillis: 30_000).digest(), expected)
    }

    // MARK: - rdb-key-save-delay

    /// Redis's hidden rdb-key-save-delay (its tests' way to make a save last) paces a BGSAVE to a key per so
    /// many microseconds, while the loop keeps answering; CONFIG SET to 0 lets it finish at full speed.
    func testKeySaveDelayPacesBackgroundSaveWithoutBlocking() throws {
        let dir = try directory()
        let server = try needletail(dir, ["--enable-debug-command", "yes", "--rdb-key-save-delay", "2000"])
        let c = try RawClient(port: server.port, timeoutMillis: 10_000)
        XCTAssertEqual(try c.say("DEBUG", "POPULATE", "1000"), "+OK\r\n")
        XCTAssertEqual(try c.say("CONFIG", "GET", "rdb-key-save-delay"), "*2\r\n$18\r\nrdb-key-save-delay\r\n$4\r\n2000\r\n")
        XCTAssertEqual(try c.say("BGSAVE"), "+Background saving started\r\n")
        usleep(500_000)
        XCTAssertEqual(try c.say("PING"), "+PONG\r\n")
        XCTAssertEqual(try c.info("rdb_bgsave_in_progress"), "1", "1,000 keys at 2 ms each: not done after 0.5 s")
        XCTAssertEqual(try c.say("CONFIG", "SET", "rdb-key-save-delay", "0"), "+OK\r\n")
        XCTAssertTrue(try eventually(timeoutMillis: 5000) { try c.info("rdb_bgsave_in_progress") == "0" })
        XCTAssertEqual(try c.info("rdb_last_bgsave_status"), "ok")
        let saved = try c.digest()
        let fresh = try startNeedletail(dir: dir)
        defer { fresh.stop() }
        XCTAssertEqual(try RawClient(port: fresh.port, timeoutMillis: 10_000).digest(), saved)
    }

    /// A delay that allows more keys than a slice can save keeps the loop saving at full speed, rather than
    /// one slice per cron tick: -1000 (1,000 keys a microsecond, Redis's "almost none") with hz 1 saves
    /// 300,000 keys in well under a second (it took ~36 s when a paced save always waited for the next tick).
    func testNegligibleKeySaveDelayDoesNotWaitForTheCron() throws {
        let dir = try directory()
        let server = try needletail(dir, ["--enable-debug-command", "yes", "--hz", "1", "--rdb-key-save-delay", "-1000"])
        let c = try RawClient(port: server.port, timeoutMillis: 10_000)
        XCTAssertEqual(try c.say("DEBUG", "POPULATE", "300000"), "+OK\r\n")
        XCTAssertEqual(try c.say("BGSAVE"), "+Background saving started\r\n")
        XCTAssertTrue(try eventually(timeoutMillis: 10_000) { try c.info("rdb_bgsave_in_progress") == "0" },
                      "the save still runs after 10 s")
        XCTAssertEqual(try c.info("rdb_last_bgsave_status"), "ok")
    }

    // MARK: - kill -9 during a BGSAVE

    /// The previous dump.rdb survives a kill -9 in the middle of a BGSAVE byte for byte, and still loads
    /// with the digest it was saved with.
    func testKillDuringBackgroundSaveLeavesPreviousDumpIntact() throws {
        let dir = try directory()
        let server = try needletail(dir, ["--rdb-key-save-delay", "50"])  // a BGSAVE of 1.5 s or more
        let c = try RawClient(port: server.port, timeoutMillis: 60_000)
        try loadDataset(bigDatasetCommands(seed: 5, strings: 20_000, collections: 40, elements: 1000), into: c)
        XCTAssertEqual(try c.say("SAVE"), "+OK\r\n")
        let saved = try c.digest()
        let before = try XCTUnwrap(readFileBytes(dir.file("dump.rdb")))
        // A different dataset, bigger, so that the BGSAVE takes a while.
        try loadDataset(bigDatasetCommands(seed: 6, strings: 30_000, collections: 80, elements: 1000), into: c)
        XCTAssertEqual(try c.say("BGSAVE"), "+Background saving started\r\n")
        XCTAssertTrue(try eventually(timeoutMillis: 2000) { dir.entries.contains { $0.hasPrefix("temp-") } }, "no temp file")
        XCTAssertEqual(try c.info("rdb_bgsave_in_progress"), "1", "the BGSAVE was over before the kill")
        server.kill9()
        XCTAssertEqual(readFileBytes(dir.file("dump.rdb")), before, "dump.rdb changed")
        let loaded = try digestsOfDump(in: dir)
        XCTAssertEqual(loaded.oracle, saved)
        XCTAssertEqual(loaded.needletail, saved)
    }

    // MARK: - FLUSHALL

    /// With save points, FLUSHALL stops a running BGSAVE (no temp file left, INFO says no save runs) and
    /// writes the empty dataset at once, as redis-server 7.0's flushAllDataAndResetRDB (checked on the
    /// oracle too).
    func testFlushallWithSavePointsAbortsBackgroundSaveAndWritesEmptyDump() throws {
        let dir = try directory()
        let server = try needletail(dir, ["--save", "3600 1"])
        let c = try RawClient(port: server.port, timeoutMillis: 60_000)
        try loadDataset(bigDatasetCommands(seed: 9, strings: 30_000, collections: 100, elements: 1000), into: c)
        XCTAssertEqual(try c.say("BGSAVE"), "+Background saving started\r\n")
        XCTAssertEqual(try c.info("rdb_bgsave_in_progress"), "1")
        XCTAssertFalse(dir.entries.contains("dump.rdb"))
        XCTAssertEqual(try c.say("FLUSHALL"), "+OK\r\n")
        XCTAssertEqual(try c.info("rdb_bgsave_in_progress"), "0")
        XCTAssertEqual(dir.entries, ["dump.rdb"], "the dump is not written at once, or the temp file stays")
        let changes = try c.info("rdb_changes_since_last_save")
        let loaded = try digestsOfDump(in: dir)
        let zeros = "+" + String(repeating: "0", count: 40) + "\r\n"
        XCTAssertEqual(loaded.oracle, zeros)
        XCTAssertEqual(loaded.needletail, zeros)

        // The behaviour mirrored: redis-server 7.0 with save points writes the dump at FLUSHALL.
        let oracleDir = try directory()
        let oracle = try startOracle(dir: oracleDir, ["--save", "3600 1"])
        oracles.append(oracle)
        let o = try RawClient(port: oracle.port)
        _ = try o.say("SET", "k", "v")
        XCTAssertEqual(try o.say("FLUSHALL"), "+OK\r\n")
        XCTAssertEqual(oracleDir.entries, ["dump.rdb"])
        XCTAssertEqual(changes, try o.info("rdb_changes_since_last_save"), "rdb_changes_since_last_save after FLUSHALL")
    }
}

/// One writer connection of the point-in-time test: batches of random writes of every kind (seeded: each
/// seed weighs the kinds differently) over the dataset's keys and new ones, in databases 0 to 2.
private struct SnapshotWriter {
    private var rng: SeededRandom
    private let client: RawClient
    private let weights: [Int]
    private var counter = 0
    private let tag: UInt64
    /// Whether EXPIRE writes use TTLs of milliseconds (keys expire during the save) or of an hour (the
    /// final dataset, not the one of an instant, is compared: nothing may expire before it is reloaded).
    private let shortTTLs: Bool

    init(seed: UInt64, port: Int, shortTTLs: Bool = true) throws {
        self.shortTTLs = shortTTLs
        rng = SeededRandom(seed: seed)
        tag = seed
        client = try RawClient(port: port, timeoutMillis: 60_000)
        // Each kind's weight: rare kinds (whole-database moves and big deletions) 1, others 4 to 40.
        var r = SeededRandom(seed: seed ^ 0xABCD)
        weights = Kind.allCases.map { $0.rare ? 1 : r.between(4, 40) }
    }

    enum Kind: CaseIterable {
        case set, setNew, del, incr, append, hset, hdel, sadd, srem, zadd, zrem, lpush, rpop, lset
        case mset, setrange
        case expireShort, expireBig, persist, rename, move, copy, select, multi
        case swapdb, flushdb, unlinkBig
        var rare: Bool { self == .swapdb || self == .flushdb || self == .unlinkBig }
    }

    private mutating func pick() -> Kind {
        var n = rng.below(weights.reduce(0, +))
        for (i, w) in weights.enumerated() {
            if n < w { return Kind.allCases[i] }
            n -= w
        }
        return .set
    }

    private mutating func string() -> String { "s:\(rng.below(50_000))" }
    private mutating func collection(_ prefix: String) -> String { "\(prefix):\(rng.below(200))" }

    private mutating func commands(_ kind: Kind) -> [[String]] {
        counter += 1
        switch kind {
        case .set: return [["SET", string(), "w\(counter)"]]
        case .setNew: return [["SET", "new:\(tag):\(counter)", "x"]]
        case .del: return [["DEL", string()]]
        case .incr: return [["INCR", string()]]
        case .append: return [["APPEND", string(), "+"]]
        case .hset: return [["HSET", collection("h"), "f\(rng.below(1200))", "\(counter)"]]
        case .hdel: return [["HDEL", collection("h"), "f\(rng.below(1000))"]]
        case .sadd: return [["SADD", collection("set"), "\(rng.below(10_000))"]]
        case .srem: return [["SREM", collection("set"), "m\(rng.below(1000))", "\(rng.below(1000) * 7)"]]
        case .zadd: return [["ZADD", collection("z"), "\(rng.below(100))", "m\(rng.below(1200))"]]
        case .zrem: return [["ZREM", collection("z"), "m\(rng.below(1000))"]]
        case .lpush: return [["LPUSH", collection("l"), "p\(counter)"]]
        case .rpop: return [["RPOP", collection("l")]]
        case .lset: return [["LSET", collection("l"), "\(rng.below(1000))", "set\(counter)"]]
        // Several keys of one key spec (every other argument), and a string changed in place.
        case .mset: return [["MSET", string(), "ms\(counter)", string(), "ms\(counter)", string(), "ms\(counter)"]]
        case .setrange: return [["SETRANGE", string(), "\(rng.below(4))", "r\(counter)"]]
        case .expireShort: return [["PEXPIRE", string(), "\(ttl(30))"]]
        case .expireBig:
            // Big keys that expire while the save runs.
            return [["PEXPIRE", collection(rng.pick(["h", "set", "z", "l"])), "\(ttl(50))"]]
        case .persist: return [["PERSIST", string()]]
        case .rename:
            return rng.oneIn(2) ? [["RENAME", string(), string()]] : [["RENAME", collection("h"), collection("h")]]
        case .move: return [["MOVE", string(), "\(rng.below(3))"]]
        case .copy: return [["COPY", string(), string(), "DB", "\(rng.below(3))", "REPLACE"]]
        case .select: return [["SELECT", "\(rng.below(3))"]]
        case .multi:
            return [["MULTI"], ["SET", string(), "m\(counter)"], ["INCR", string()], ["HSET", collection("h"), "mf", "1"],
                    ["ZADD", collection("z"), "1", "mm"], ["DEL", collection("l")], ["EXEC"]]
        case .swapdb: return [["SWAPDB", "0", "2"]]
        case .flushdb: return [["SELECT", "2"], ["FLUSHDB"], ["SELECT", "\(rng.below(3))"]]
        case .unlinkBig: return [["UNLINK", collection(rng.pick(["h", "set", "z", "l"])), collection("z")]]
        }
    }

    private mutating func ttl(_ shortest: Int) -> Int { (shortTTLs ? 1 : 3_600_000) + rng.below(shortest) }

    /// Sends 40 writes in one batch and reads their replies (any reply: a random write may well be refused
    /// with WRONGTYPE or "no such key"); returns how many were done.
    mutating func writeBatch() throws -> Int {
        var batch: [[[UInt8]]] = []
        for _ in 0..<40 {
            for command in commands(pick()) { batch.append(command.map { Array($0.utf8) }) }
        }
        _ = try client.pipelined(batch)
        return batch.count
    }
}
