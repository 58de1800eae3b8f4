import Glibc
import TestSupport
import XCTest

/// Replication between real processes, in every direction with redis-server 7.0: full sync of a dataset of
/// every type, a stream of mixed writes, a killed link continued with a partial resync (no second full sync),
/// chains of mixed servers, WAIT, min-replicas-to-write, a promotion continued with PSYNC2, and a replica's
/// rules (read-only, keys past their time). Each ends with equal DEBUG DIGESTs.
final class ReplicationTests: PersistenceTestCase {
    override var directoryTag: String { "replication" }

    /// One server of either kind.
    struct Node {
        let port: Int
        let isNeedletail: Bool
        func client() throws -> RawClient { try RawClient(port: port, timeoutMillis: 10_000) }
    }

    func node(needletail isNeedletail: Bool, _ extra: [String] = []) throws -> Node {
        let dir = try directory()
        let common = ["--repl-diskless-sync-delay", "0"] + extra
        if isNeedletail { return Node(port: try needletail(dir, common).port, isNeedletail: true) }
        return Node(port: try oracle(dir, common).port, isNeedletail: false)
    }

    /// A dataset of every type in three databases, some keys with TTLs. Each database holds more than 2,000
    /// keys, so debug servers skip their per-write whole-database invariant checks (far too slow for 10,000
    /// writes; the structures replication fills are checked by the other suites).
    func seedDataset(_ c: RawClient) throws {
        try loadDataset(bigDatasetCommands(seed: 15, strings: 9000, collections: 200, elements: 40), into: c)
        // Big collections: hashtable, skiplist-sized and multi-node encodings.
        var big: [[[UInt8]]] = []
        var hset = ["HSET", "bighash"], sadd = ["SADD", "bigset"], zadd = ["ZADD", "bigz"], rpush = ["RPUSH", "biglist"]
        for i in 0..<600 {
            hset += ["f\(i)", String(repeating: "x", count: i % 90)]
            sadd.append("member-\(i)")
            zadd += ["\(Double(i) / 3)", "m\(i)"]
            rpush.append(String(repeating: "e", count: i % 70))
        }
        for command in [hset, sadd, zadd, rpush] { big.append(command.map { Array($0.utf8) }) }
        try loadDataset(big, into: c)
    }

    /// `count` seeded writes of every family, pipelined in batches (errors such as WRONGTYPE are fine: both
    /// servers see the same ones).
    func mixedWrites(seed: UInt64, count: Int) -> [[[UInt8]]] {
        var rng = SeededRandom(seed: seed)
        var commands: [[[UInt8]]] = []
        for _ in 0..<count {
            let k = "k\(rng.below(300))"
            let words: [String]
            switch rng.below(16) {
            case 0: words = ["SET", k, "\(rng.below(1000))"]
            case 1: words = ["INCRBY", "n\(rng.below(50))", "\(rng.below(100))"]
            case 2: words = ["HSET", "h:\(rng.below(200))", "f\(rng.below(60))", "v\(rng.below(100))"]
            case 3: words = ["SADD", "set:\(rng.below(200))", "m\(rng.below(80))"]
            case 4: words = ["ZADD", "z:\(rng.below(200))", "\(rng.below(1000))", "m\(rng.below(80))"]
            case 5: words = ["RPUSH", "l:\(rng.below(200))", "e\(rng.below(1000))"]
            case 6: words = ["LPOP", "l:\(rng.below(200))"]
            case 7: words = ["DEL", k]
            case 8: words = ["EXPIRE", "s:\(rng.below(3000))", "\(7200 + rng.below(100))"]
            case 9: words = ["SELECT", "\(rng.below(3))"]
            case 10: words = ["APPEND", k, "abc"]
            case 11: words = ["ZINCRBY", "bigz", "1.5", "m\(rng.below(700))"]
            case 12: words = ["HINCRBYFLOAT", "bighash", "f\(rng.below(700))", "0.25"]
            case 13: words = ["SPOP", "set:\(rng.below(200))"]
            case 14: words = ["SET", "ttl:\(rng.below(100))", "v", "EX", "\(3600 + rng.below(100))"]
            default: words = ["LMOVE", "l:\(rng.below(200))", "l:\(rng.below(200))", "LEFT", "RIGHT"]
            }
            commands.append(words.map { Array($0.utf8) })
        }
        commands.append(["SELECT", "0"].map { Array($0.utf8) })
        return commands
    }

    func send(_ commands: [[[UInt8]]], to c: RawClient) throws {
        var i = 0
        while i < commands.count {
            let batch = Array(commands[i..<min(i + 200, commands.count)])
            _ = try c.pipelined(batch)
            i += batch.count
        }
    }

    /// Waits until the replica applied everything the master has sent, then compares digests.
    func assertInSync(master: RawClient, replica: RawClient, _ message: String, file: StaticString = #filePath, line: UInt = #line) throws {
        var masterOffset = "", replicaOffset = ""
        let caughtUp = try eventually(timeoutMillis: 20_000) {
            masterOffset = try master.info("master_repl_offset", section: "replication") ?? "?"
            replicaOffset = try replica.info("slave_repl_offset", section: "replication") ?? "-"
            let up = try replica.info("master_link_status", section: "replication") == "up"
            return masterOffset == replicaOffset && up
        }
        XCTAssertTrue(caughtUp, "\(message): replica at \(replicaOffset), master at \(masterOffset)", file: file, line: line)
        XCTAssertEqual(try master.digest(), try replica.digest(), "\(message): digests differ", file: file, line: line)
    }

    func replicate(_ replica: Node, from master: Node) throws {
        XCTAssertEqual(try replica.client().say("REPLICAOF", "127.0.0.1", "\(master.port)"), "+OK\r\n")
    }

    func stat(_ c: RawClient, _ name: String) throws -> Int { Int(try c.info(name, section: "stats") ?? "") ?? -1 }

    /// Full sync, 10,000 writes, a killed link continued from the backlog, and 2,000 more writes.
    func runPair(master: Node, replica: Node) throws {
        let m = try master.client()
        try seedDataset(m)
        try replicate(replica, from: master)
        let r = try replica.client()
        try assertInSync(master: m, replica: r, "after the full sync")
        try send(mixedWrites(seed: 1, count: 10_000), to: m)
        try assertInSync(master: m, replica: r, "after 10,000 writes")
        let fullSyncs = try stat(m, "sync_full"), partials = try stat(m, "sync_partial_ok")
        // The replica's side of the link goes; it reconnects and continues from the master's backlog.
        XCTAssertEqual(try r.say("CLIENT", "KILL", "TYPE", "master"), ":1\r\n")
        try send(mixedWrites(seed: 2, count: 2_000), to: m)
        try assertInSync(master: m, replica: r, "after the partial resync")
        XCTAssertEqual(try stat(m, "sync_full"), fullSyncs, "the link was continued, not synced again")
        XCTAssertEqual(try stat(m, "sync_partial_ok"), partials + 1)
        // And from the master's side.
        XCTAssertEqual(try m.say("CLIENT", "KILL", "TYPE", "replica"), ":1\r\n")
        try send(mixedWrites(seed: 3, count: 1_000), to: m)
        try assertInSync(master: m, replica: r, "after the master dropped the replica")
        XCTAssertEqual(try stat(m, "sync_full"), fullSyncs)
    }

    func testRedisReplicaOfNeedletail() throws {
        try runPair(master: try node(needletail: true), replica: try node(needletail: false))
    }

    func testNeedletailReplicaOfRedis() throws {
        try runPair(master: try node(needletail: false), replica: try node(needletail: true))
    }

    func testNeedletailReplicaOfNeedletail() throws {
        try runPair(master: try node(needletail: true), replica: try node(needletail: true))
    }

    /// redis-server -> needletail -> redis-server, and needletail -> redis-server -> needletail: the middle
    /// server passes its master's stream on, so the whole chain shares one id and one offset.
    func testChainsOfMixedServers() throws {
        for middleIsNeedletail in [true, false] {
            let top = try node(needletail: !middleIsNeedletail)
            let middle = try node(needletail: middleIsNeedletail)
            let bottom = try node(needletail: !middleIsNeedletail)
            let t = try top.client()
            try seedDataset(t)
            try replicate(middle, from: top)
            try replicate(bottom, from: middle)
            try send(mixedWrites(seed: 4, count: 3_000), to: t)
            let b = try bottom.client()
            try assertInSync(master: t, replica: try middle.client(), "middle (needletail: \(middleIsNeedletail))")
            try assertInSync(master: t, replica: b, "bottom (needletail: \(!middleIsNeedletail))")
            XCTAssertEqual(try b.info("master_replid", section: "replication"), try t.info("master_replid", section: "replication"))
        }
    }

    func testWaitAndMinReplicasToWrite() throws {
        let master = try node(needletail: true)
        let m = try master.client()
        XCTAssertEqual(try m.say("WAIT", "0", "0"), ":0\r\n")
        XCTAssertEqual(try m.say("WAIT", "1", "50"), ":0\r\n", "no replica: the timeout's count")
        let replicas = [try node(needletail: true), try node(needletail: false)]
        for r in replicas { try replicate(r, from: master) }
        XCTAssertTrue(try eventually(timeoutMillis: 10_000) { try m.info("connected_slaves", section: "replication") == "2" })
        XCTAssertEqual(try m.say("SET", "a", "1"), "+OK\r\n")
        XCTAssertEqual(try m.say("WAIT", "2", "5000"), ":2\r\n")
        XCTAssertEqual(try m.say("INCR", "a"), ":2\r\n")
        XCTAssertEqual(try m.say("WAIT", "5", "300"), ":2\r\n", "only two replicas exist: the timeout answers 2")
        XCTAssertTrue(try m.say("WAIT", "x", "0").hasPrefix("-ERR value is not an integer"))
        XCTAssertEqual(try m.say("WAIT", "1", "-1"), "-ERR timeout is negative\r\n")
        XCTAssertTrue(try replicas[0].client().say("WAIT", "1", "0").hasPrefix("-ERR WAIT cannot be used with replica instances"))

        XCTAssertEqual(try m.say("CONFIG", "SET", "min-replicas-to-write", "3"), "+OK\r\n")
        XCTAssertEqual(try m.say("SET", "b", "1"), "-NOREPLICAS Not enough good replicas to write.\r\n")
        XCTAssertEqual(try m.say("GET", "a"), "$1\r\n2\r\n", "reads are allowed")
        XCTAssertEqual(try m.info("min_slaves_good_slaves", section: "replication"), "2")
        XCTAssertEqual(try m.say("CONFIG", "SET", "min-replicas-to-write", "2"), "+OK\r\n")
        XCTAssertEqual(try m.say("SET", "b", "1"), "+OK\r\n")
        XCTAssertEqual(try m.say("CONFIG", "SET", "min-replicas-to-write", "0"), "+OK\r\n")

        // Hostile values: a huge backlog is not allocated up front, a huge FAILOVER timeout does not overflow,
        // and REPLICAOF waits for a failover to end.
        XCTAssertEqual(try m.say("CONFIG", "SET", "repl-backlog-size", "1000000000000000"), "+OK\r\n")
        XCTAssertEqual(try m.say("SET", "after", "resize"), "+OK\r\n")
        XCTAssertEqual(try m.say("WAIT", "2", "5000"), ":2\r\n")
        XCTAssertEqual(try m.say("FAILOVER", "TO", "127.0.0.1", "1", "TIMEOUT", "9223372036854775807"),
                       "-ERR FAILOVER target HOST and PORT is not a replica.\r\n")
        XCTAssertEqual(try m.say("FAILOVER", "TIMEOUT", "9223372036854775807"), "+OK\r\n")
        XCTAssertEqual(try m.say("REPLICAOF", "127.0.0.1", "1"), "-ERR REPLICAOF not allowed while failing over.\r\n")
        XCTAssertEqual(try m.say("FAILOVER", "ABORT"), "+OK\r\n")
        XCTAssertEqual(try m.say("PING"), "+PONG\r\n")
    }

    /// WAITAOF numlocal numreplicas timeout (7.2): [this client's writes fsynced to the local AOF, replicas that
    /// reported them fsynced with REPLCONF ACK ... FACK]. Argument errors in Redis's order and texts; with
    /// `appendfsync always` a write is fsynced before WAITAOF runs, with `everysec` within about a second, with
    /// `no` never (numlocal 1 then waits for the timeout); a replica without FACK (redis-server 7.0, or an ACK
    /// without it) does not count, one with FACK does (a hand-made one, a needletail replica with its AOF on);
    /// a replica refuses WAITAOF.
    func testWaitAOF() throws {
        let plain = try node(needletail: true).client()
        XCTAssertEqual(try plain.say("WAITAOF", "0", "0", "0"), "*2\r\n:0\r\n:0\r\n")
        XCTAssertEqual(try plain.say("WAITAOF", "1", "0", "0"),
                       "-ERR WAITAOF cannot be used when numlocal is set but appendonly is disabled.\r\n")
        XCTAssertEqual(try plain.say("WAITAOF", "2", "0", "0"), "-ERR value is out of range, value must between 0 and 1\r\n")
        XCTAssertEqual(try plain.say("WAITAOF", "x", "0", "0"), "-ERR value is not an integer or out of range\r\n")
        XCTAssertEqual(try plain.say("WAITAOF", "0", "-1", "0"), "-ERR value is out of range, must be positive\r\n")
        XCTAssertEqual(try plain.say("WAITAOF", "0", "0", "-1"), "-ERR timeout is negative\r\n")
        XCTAssertEqual(try plain.say("WAITAOF", "0", "0", "x"), "-ERR timeout is not an integer or out of range\r\n")
        XCTAssertEqual(try plain.say("WAITAOF", "0", "0"), "-ERR wrong number of arguments for 'waitaof' command\r\n")
        var started = rawMonotonicMillis()
        XCTAssertEqual(try plain.say("WAITAOF", "0", "1", "200"), "*2\r\n:0\r\n:0\r\n", "no replica: the timeout's counts")
        XCTAssertGreaterThanOrEqual(rawMonotonicMillis() - started, 150)

        for (policy, fsyncs) in [("always", true), ("everysec", true), ("no", false)] {
            let c = try node(needletail: true, ["--appendonly", "yes", "--appendfsync", policy]).client()
            XCTAssertEqual(try c.say("SET", "k", policy), "+OK\r\n")
            started = rawMonotonicMillis()
            let reply = try c.say("WAITAOF", "1", "0", fsyncs ? "5000" : "300")
            XCTAssertEqual(reply, fsyncs ? "*2\r\n:1\r\n:0\r\n" : "*2\r\n:0\r\n:0\r\n", policy)
            if policy == "always" { XCTAssertLessThan(rawMonotonicMillis() - started, 100, "already fsynced") }
            if !fsyncs { XCTAssertGreaterThanOrEqual(rawMonotonicMillis() - started, 250, "waited for the timeout") }
            // Inside MULTI it cannot block: the counts as they are.
            XCTAssertEqual(try c.say("MULTI"), "+OK\r\n")
            XCTAssertEqual(try c.say("WAITAOF", "0", "1", "0"), "+QUEUED\r\n")
            XCTAssertEqual(try c.say("EXEC"), fsyncs ? "*1\r\n*2\r\n:1\r\n:0\r\n" : "*1\r\n*2\r\n:0\r\n:0\r\n", policy)
        }

        // Replicas: redis-server 7.0 sends no FACK; a hand-made replica sends ACK, then ACK ... FACK.
        let masterNode = try node(needletail: true, ["--appendonly", "yes", "--appendfsync", "always"])
        let master = try masterNode.client()
        let redisReplica = try node(needletail: false)
        try replicate(redisReplica, from: masterNode)
        let fake = try RawClient(port: masterNode.port, timeoutMillis: 10_000)
        XCTAssertEqual(try fake.say("REPLCONF", "capa", "eof", "capa", "psync2"), "+OK\r\n")
        try fake.send(RawClient.encode(["PSYNC", "?", "-1"].map { Array($0.utf8) }))
        XCTAssertTrue(try eventually(timeoutMillis: 10_000) { try master.info("connected_slaves", section: "replication") == "2" })
        XCTAssertEqual(try master.say("SET", "a", "1"), "+OK\r\n")
        let offset = try master.info("master_repl_offset", section: "replication") ?? "?"
        XCTAssertEqual(try master.say("WAIT", "1", "5000"), ":1\r\n", "redis-server's ACK")
        // Its first ACK after the snapshot was sent puts it online: ACK until WAIT counts it.
        XCTAssertTrue(try eventually(timeoutMillis: 10_000) {
            try fake.send(RawClient.encode(["REPLCONF", "ACK", offset].map { Array($0.utf8) }))
            return try master.say("WAIT", "2", "100") == ":2\r\n"
        }, "both ACKed")
        XCTAssertEqual(try master.say("WAITAOF", "1", "1", "200"), "*2\r\n:1\r\n:0\r\n", "no FACK yet")
        try fake.send(RawClient.encode(["REPLCONF", "ACK", offset, "FACK", offset].map { Array($0.utf8) }))
        XCTAssertEqual(try master.say("WAITAOF", "1", "1", "5000"), "*2\r\n:1\r\n:1\r\n", "the FACK counts")
        XCTAssertEqual(try master.say("WAITAOF", "1", "2", "200"), "*2\r\n:1\r\n:1\r\n", "redis-server 7.0 never FACKs")
        XCTAssertTrue(try redisReplica.client().say("WAITAOF", "0", "0", "0").hasPrefix("-ERR"))
        // A needletail replica with its AOF on sends FACK (everysec: within about a second of the write).
        let ourReplica = try node(needletail: true, ["--appendonly", "yes", "--appendfsync", "everysec"])
        try replicate(ourReplica, from: masterNode)
        XCTAssertTrue(try eventually(timeoutMillis: 10_000) { try master.info("connected_slaves", section: "replication") == "3" })
        XCTAssertEqual(try master.say("SET", "b", "2"), "+OK\r\n")
        XCTAssertEqual(try master.say("WAITAOF", "1", "1", "5000"), "*2\r\n:1\r\n:1\r\n", "needletail's FACK")
        XCTAssertEqual(try ourReplica.client().say("GET", "b"), "$1\r\n2\r\n")
        XCTAssertEqual(try ourReplica.client().say("WAITAOF", "0", "0", "0"),
                       "-ERR WAITAOF cannot be used with replica instances. Please also note that writes to replicas are just local and are not propagated.\r\n")
    }

    /// CLIENT UNBLOCK ends WAIT as its timeout would (the count so far) or with the UNBLOCKED error, as
    /// redis-server does (needletail answered 0 and left the client waiting); WAITAOF likewise.
    func testClientUnblockEndsWaits() throws {
        func run(_ port: Int, _ command: [String], _ reason: String) throws -> [String] {
            let waiter = try RawClient(port: port), other = try RawClient(port: port)
            let id = try waiter.say("CLIENT", "ID").dropFirst().prefix { $0.isNumber }
            try waiter.send(RawClient.encode(command.map { Array($0.utf8) }))
            XCTAssertTrue(try eventually(timeoutMillis: 5000) { try other.info("blocked_clients", section: "clients") == "1" })
            let unblocked = try other.say("CLIENT", "UNBLOCK", String(id), reason)
            return [unblocked, replyText(try waiter.readReply())]
        }
        let redis = try node(needletail: false), ours = try node(needletail: true, ["--appendonly", "yes", "--appendfsync", "no"])
        for reason in ["TIMEOUT", "ERROR"] {
            let expected = try run(redis.port, ["WAIT", "1", "0"], reason)
            XCTAssertEqual(try run(ours.port, ["WAIT", "1", "0"], reason), expected, reason)
        }
        XCTAssertEqual(try ours.client().say("SET", "k", "v"), "+OK\r\n")
        XCTAssertEqual(try run(ours.port, ["WAITAOF", "0", "1", "0"], "TIMEOUT"), [":1\r\n", "*2\r\n:1\r\n:0\r\n"], "never wrote: fsynced")
        let writer = try RawClient(port: ours.port)
        XCTAssertEqual(try writer.say("SET", "k", "w"), "+OK\r\n")
        let id = try writer.say("CLIENT", "ID").dropFirst().prefix { $0.isNumber }
        try writer.send(RawClient.encode(["WAITAOF", "1", "0", "0"].map { Array($0.utf8) }))  // appendfsync no: forever
        let other = try ours.client()
        XCTAssertTrue(try eventually(timeoutMillis: 5000) { try other.info("blocked_clients", section: "clients") == "1" })
        XCTAssertEqual(try other.say("CLIENT", "UNBLOCK", String(id)), ":1\r\n")
        XCTAssertEqual(replyText(try writer.readReply()), "*2\r\n:0\r\n:0\r\n")
    }

    /// The replica keeps its master's selected database across a partial resync: the backlog's bytes after
    /// +CONTINUE select only when the master's database changes.
    func testPartialResyncKeepsTheSelectedDatabase() throws {
        for replicaIsNeedletail in [true, false] {
            let master = try node(needletail: true), replica = try node(needletail: replicaIsNeedletail)
            try replicate(replica, from: master)
            let m = try master.client(), r = try replica.client()
            XCTAssertEqual(try m.say("SELECT", "5"), "+OK\r\n")
            XCTAssertEqual(try m.say("SET", "a", "1"), "+OK\r\n")
            try assertInSync(master: m, replica: r, "before the link drops")
            XCTAssertEqual(try m.say("CLIENT", "KILL", "TYPE", "replica"), ":1\r\n")
            XCTAssertEqual(try m.say("SET", "b", "2"), "+OK\r\n")
            try assertInSync(master: m, replica: r, "after the partial resync (replica is needletail: \(replicaIsNeedletail))")
            XCTAssertEqual(try r.say("SELECT", "5"), "+OK\r\n")
            XCTAssertEqual(try r.say("GET", "b"), "$1\r\n2\r\n")
            XCTAssertEqual(try stat(m, "sync_partial_ok"), 1)
        }
        // And a redis-server master with a Needletail replica.
        let master = try node(needletail: false), replica = try node(needletail: true)
        try replicate(replica, from: master)
        let m = try master.client(), r = try replica.client()
        XCTAssertEqual(try m.say("SELECT", "3"), "+OK\r\n")
        XCTAssertEqual(try m.say("SET", "a", "1"), "+OK\r\n")
        try assertInSync(master: m, replica: r, "redis master, before")
        XCTAssertEqual(try r.say("CLIENT", "KILL", "TYPE", "master"), ":1\r\n")
        XCTAssertEqual(try m.say("SET", "b", "2"), "+OK\r\n")
        try assertInSync(master: m, replica: r, "redis master, after the partial resync")
        XCTAssertEqual(try r.say("SELECT", "3"), "+OK\r\n")
        XCTAssertEqual(try r.say("GET", "b"), "$1\r\n2\r\n")
    }

    /// A replica refuses writes, keeps keys past their time until its master deletes them (reads see them
    /// missing), and its ROLE and INFO say what it is.
    func testReplicaRules() throws {
        let master = try node(needletail: true), replica = try node(needletail: true)
        let m = try master.client()
        XCTAssertEqual(try m.say("DEBUG", "SET-ACTIVE-EXPIRE", "0"), "+OK\r\n")
        try replicate(replica, from: master)
        let r = try replica.client()
        XCTAssertEqual(try m.say("SET", "short", "v", "PX", "200"), "+OK\r\n")
        XCTAssertEqual(try m.say("SET", "x", "1"), "+OK\r\n")
        try assertInSync(master: m, replica: r, "before expiry")
        XCTAssertEqual(try r.say("SET", "y", "1"), "-READONLY You can't write against a read only replica.\r\n")
        usleep(300_000)
        XCTAssertEqual(try r.say("GET", "short"), "$-1\r\n", "a key past its time reads as missing")
        XCTAssertEqual(try r.say("DBSIZE"), ":2\r\n", "but stays until the master deletes it")
        XCTAssertEqual(try m.say("GET", "short"), "$-1\r\n", "the master's access deletes it and propagates DEL")
        XCTAssertTrue(try eventually(timeoutMillis: 5000) { try r.say("DBSIZE") == ":1\r\n" })
        let role = try r.say("ROLE")
        XCTAssertTrue(role.hasPrefix("*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n:\(master.port)\r\n$9\r\nconnected\r\n"), role)
        let masterRole = try m.say("ROLE")
        XCTAssertTrue(masterRole.hasPrefix("*3\r\n$6\r\nmaster\r\n"), masterRole)
        XCTAssertEqual(try r.say("HELLO", "3").contains("replica"), true)
        XCTAssertEqual(try r.say("REPLICAOF", "127.0.0.1", "\(master.port)"), "+OK Already connected to specified master\r\n")
        XCTAssertEqual(try r.say("REPLICAOF", "127.0.0.1", "70000"), "-ERR Invalid master port\r\n")
    }

    /// A replica promoted with REPLICAOF NO ONE keeps its history as replid2, so the old master, made its
    /// replica, continues with a partial resync (PSYNC2), in both server kinds.
    func testPromotionContinuesWithPSYNC2() throws {
        for (aIsNeedletail, bIsNeedletail) in [(true, true), (false, true), (true, false)] {
            let a = try node(needletail: aIsNeedletail), b = try node(needletail: bIsNeedletail)
            let ac = try a.client(), bc = try b.client()
            try seedDataset(ac)
            try replicate(b, from: a)
            try send(mixedWrites(seed: 5, count: 2_000), to: ac)
            try assertInSync(master: ac, replica: bc, "before the promotion")
            let oldID = try ac.info("master_replid", section: "replication")
            XCTAssertEqual(try bc.say("REPLICAOF", "NO", "ONE"), "+OK\r\n")
            XCTAssertEqual(try bc.info("master_replid2", section: "replication"), oldID)
            XCTAssertEqual(try bc.info("role", section: "replication"), "master")
            try send(mixedWrites(seed: 6, count: 500), to: bc)
            let fullSyncs = try stat(bc, "sync_full")
            try replicate(a, from: b)
            try assertInSync(master: bc, replica: ac, "the old master follows the new one (a: \(aIsNeedletail), b: \(bIsNeedletail))")
            XCTAssertEqual(try stat(bc, "sync_full"), fullSyncs, "continued with PSYNC2, not a full sync")
        }
    }

    /// FAILOVER hands the master role to a replica without a full sync, from Needletail to redis-server and
    /// back, with redis-server 7.0's errors.
    func testFailoverBothWays() throws {
        let a = try node(needletail: true), b = try node(needletail: true), c = try node(needletail: false)
        let ac = try a.client()
        XCTAssertEqual(try ac.say("FAILOVER"), "-ERR FAILOVER requires connected replicas.\r\n")
        XCTAssertEqual(try ac.say("FAILOVER", "ABORT"), "-ERR No failover in progress.\r\n")
        XCTAssertEqual(try ac.say("FAILOVER", "TIMEOUT", "0"), "-ERR FAILOVER timeout must be greater than 0\r\n")
        XCTAssertEqual(try ac.say("FAILOVER", "TO", "x"), "-ERR syntax error\r\n")
        try replicate(b, from: a)
        try replicate(c, from: a)
        try seedDataset(ac)
        let bc = try b.client(), cc = try c.client()
        try assertInSync(master: ac, replica: bc, "b before the failover")
        try assertInSync(master: ac, replica: cc, "c before the failover")
        XCTAssertEqual(try bc.say("FAILOVER"), "-ERR FAILOVER is not valid when server is a replica.\r\n")
        XCTAssertEqual(try ac.say("FAILOVER", "TO", "127.0.0.1", "1"), "-ERR FAILOVER target HOST and PORT is not a replica.\r\n")
        XCTAssertEqual(try ac.say("FAILOVER", "FORCE"), "-ERR FAILOVER with force option requires both a timeout and target HOST and IP.\r\n")
        let digest = try ac.digest()

        // Needletail -> redis-server.
        XCTAssertEqual(try ac.say("FAILOVER", "TO", "127.0.0.1", "\(c.port)"), "+OK\r\n")
        XCTAssertTrue(try eventually(timeoutMillis: 10_000) {
            try cc.info("role", section: "replication") == "master"
                && ac.info("master_link_status", section: "replication") == "up"
                && ac.info("master_failover_state", section: "replication") == "no-failover"
        }, "needletail -> redis-server failover")
        XCTAssertEqual(try ac.info("master_port", section: "replication"), "\(c.port)")
        XCTAssertEqual(try cc.digest(), digest)
        XCTAssertEqual(try stat(cc, "sync_full"), 0, "the old master continued with PSYNC")
        XCTAssertEqual(try ac.say("SET", "x", "1"), "-READONLY You can't write against a read only replica.\r\n")

        // redis-server -> Needletail: b follows c first, then takes over.
        try replicate(b, from: c)
        try send(mixedWrites(seed: 7, count: 500), to: cc)
        try assertInSync(master: cc, replica: bc, "b follows c")
        XCTAssertEqual(try cc.say("FAILOVER", "TO", "127.0.0.1", "\(b.port)", "TIMEOUT", "5000"), "+OK\r\n")
        XCTAssertTrue(try eventually(timeoutMillis: 10_000) {
            try bc.info("role", section: "replication") == "master"
                && cc.info("master_link_status", section: "replication") == "up"
        }, "redis-server -> needletail failover")
        try send(mixedWrites(seed: 8, count: 500), to: bc)
        try assertInSync(master: bc, replica: cc, "c follows b")
        XCTAssertEqual(try stat(bc, "sync_full"), 0, "c continued with PSYNC")
    }

    /// masterauth against a master with requirepass, both ways; a replica whose master is unreachable and
    /// replica-serve-stale-data no answers -MASTERDOWN.
    func testAuthenticationAndStaleData() throws {
        for masterIsNeedletail in [true, false] {
            // (requirepass set once started: the harness waits for a PONG.)
            let master = try node(needletail: masterIsNeedletail)
            let replica = try node(needletail: !masterIsNeedletail, ["--masterauth", "s3cret"])
            let m = try master.client()
            XCTAssertEqual(try m.say("CONFIG", "SET", "requirepass", "s3cret"), "+OK\r\n")
            XCTAssertEqual(try m.say("SET", "k", "v"), "+OK\r\n")
            try replicate(replica, from: master)
            let r = try replica.client()
            XCTAssertTrue(try eventually(timeoutMillis: 10_000) { try r.say("GET", "k") == "$1\r\nv\r\n" },
                          "masterauth (master is needletail: \(masterIsNeedletail))")
        }
        let lonely = try node(needletail: true, ["--replica-serve-stale-data", "no"])
        let l = try lonely.client()
        XCTAssertEqual(try l.say("REPLICAOF", "127.0.0.1", "\(freeTCPPort())"), "+OK\r\n")
        XCTAssertEqual(try l.say("GET", "k"), "-MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.\r\n")
        XCTAssertEqual(try l.say("PING"), "-MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.\r\n")
        XCTAssertEqual(try l.info("master_link_status", section: "replication"), "down")
        XCTAssertEqual(try l.say("INFO", "nosuchsection"), "$0\r\n\r\n", "INFO is allowed (stale)")
        XCTAssertEqual(try l.say("REPLICAOF", "NO", "ONE"), "+OK\r\n")
        XCTAssertEqual(try l.say("GET", "k"), "$-1\r\n")
    }
}
