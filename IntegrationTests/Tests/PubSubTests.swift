import Glibc
import TestSupport
import XCTest

/// Pub/sub and keyspace notifications against redis-server 7.0, frame by frame, with several connections.
///
/// A scenario is a list of steps, each a command on one of the scenario's connections. After a step, the
/// acting connection is sent `PING <sentinel>` and read up to the sentinel (its reply frames, pushes and
/// messages included), then every other connection likewise: the step's command has run by then, so any
/// message it delivered is before the sentinel. The sentinel's own frame is compared too (a `pong` array
/// in RESP2's subscribed state, a bulk string otherwise). Each scenario runs on both servers, in RESP2 and
/// RESP3, and every connection's frames must be the same bytes. Where redis-server answers in its hash
/// table's order (UNSUBSCRIBE without arguments, a channel matched by several patterns, PUBSUB CHANNELS),
/// the step is marked unordered and frames are compared as a multiset (counts stripped from (un)subscribe
/// frames, whose values then depend on the order, and checked as a sequence of their own).
final class PubSubTests: XCTestCase {
    private static var redis: RawRedisServer?
    private static var needletail: ServerUnderTest?

    override func setUpWithError() throws {
        signal(SIGPIPE, SIG_IGN)
        guard RawRedisServer.isInstalled else { throw XCTSkip("redis-server is not installed at \(RawRedisServer.path)") }
        if Self.redis == nil { Self.redis = try RawRedisServer() }
        if Self.needletail == nil { Self.needletail = try ServerUnderTest.start(extraArguments: ["--enable-debug-command", "yes"]) }
    }

    override class func tearDown() {
        redis?.stop()
        redis = nil
        needletail?.stop()
        needletail = nil
        super.tearDown()
    }

    struct Step {
        let conn: Int
        let args: [[UInt8]]
        var unordered = false
    }

    private func s(_ conn: Int, _ args: String..., unordered: Bool = false) -> Step {
        Step(conn: conn, args: args.map { Array($0.utf8) }, unordered: unordered)
    }

    // MARK: - Scenarios

    func testSubscribeFramesAndSubscribedState() throws {
        try compare(connections: 1, [
            s(0, "UNSUBSCRIBE"), s(0, "PUNSUBSCRIBE"), s(0, "SUNSUBSCRIBE"), s(0, "UNSUBSCRIBE", "never"),
            s(0, "SUBSCRIBE", "a", "b", "a"), s(0, "GET", "x"), s(0, "PING"), s(0, "PING", "hi"), s(0, "CLIENT", "LIST"),
            s(0, "PSUBSCRIBE", "p*", "p*", "q?"), s(0, "SSUBSCRIBE", "s1"), s(0, "UNSUBSCRIBE", "x"),
            s(0, "UNSUBSCRIBE", unordered: true), s(0, "SET", "k", "v"), s(0, "PUNSUBSCRIBE"), s(0, "GET", "k"),
            s(0, "SUNSUBSCRIBE"), s(0, "GET", "k"), s(0, "SUBSCRIBE"), s(0, "PUBSUB"), s(0, "PUBSUB", "NUMPAT", "x"),
            s(0, "SUBSCRIBE", "c"), s(0, "MULTI"), s(0, "HELLO"), s(0, "RESET"), s(0, "GET", "k"),
            s(0, "MULTI"), s(0, "SUBSCRIBE", "m"), s(0, "PUBLISH", "m", "inside"), s(0, "EXEC"), s(0, "UNSUBSCRIBE"),
            s(0, "PUBSUB", "HELP"), s(0, "PUBSUB", "CHANNELS", "a", "b"), s(0, "PUBSUB", "SHARDCHANNELS", "a", "b"),
            s(0, "PUBSUB", "NOSUCH"), s(0, "PUBSUB", "NUMSUB"), s(0, "PUBSUB", "SHARDNUMSUB"),
        ])
    }

    func testDeliveryToChannelsAndPatterns() throws {
        try compare(connections: 4, [
            s(0, "SUBSCRIBE", "news", "sport"), s(1, "PSUBSCRIBE", "n*", "*s"), s(2, "SUBSCRIBE", "news"),
            s(3, "PUBLISH", "news", "hello", unordered: true), s(3, "PUBLISH", "sport", "goal", unordered: true),
            s(3, "PUBLISH", "nothing", ""), s(3, "PUBLISH", "weather", "rain"),
            s(3, "PUBSUB", "NUMSUB", "news", "sport", "none"), s(3, "PUBSUB", "NUMPAT"),
            s(3, "PUBSUB", "CHANNELS", unordered: true), s(3, "PUBSUB", "CHANNELS", "s*"), s(3, "INFO", "stats"),
            s(2, "PSUBSCRIBE", "n*"), s(3, "PUBSUB", "NUMPAT"),
            s(0, "UNSUBSCRIBE", "news"), s(3, "PUBLISH", "news", "again", unordered: true),
            s(1, "PUNSUBSCRIBE", "*s"), s(3, "PUBLISH", "sport", "x"), s(3, "PUBLISH", "news", "y", unordered: true),
            s(2, "RESET"), s(3, "PUBLISH", "news", "z"), s(3, "PUBSUB", "NUMSUB", "news"), s(3, "PUBSUB", "NUMPAT"),
            s(3, "PUBLISH", "sport", Array(repeating: "0123456789", count: 2000).joined()),
            s(3, "PUBLISH", "sp\r\nort", "bin\0ary"), s(0, "SUBSCRIBE", "sp\r\nort"), s(3, "PUBLISH", "sp\r\nort", "bin\0ary"),
        ])
    }

    func testShardChannels() throws {
        try compare(connections: 3, [
            s(0, "SSUBSCRIBE", "s1", "s2", "s1"), s(1, "SSUBSCRIBE", "s1"), s(1, "PSUBSCRIBE", "*"),
            s(2, "SPUBLISH", "s1", "m1"), s(2, "SPUBLISH", "s2", "m2"), s(2, "PUBLISH", "s1", "plain"),
            s(2, "PUBSUB", "SHARDCHANNELS", unordered: true), s(2, "PUBSUB", "SHARDCHANNELS", "*2"),
            s(2, "PUBSUB", "SHARDNUMSUB", "s1", "s2", "s3"), s(2, "PUBSUB", "NUMSUB", "s1"),
            s(0, "SUNSUBSCRIBE", "s2"), s(0, "SUNSUBSCRIBE", unordered: true), s(0, "GET", "x"),
            s(2, "SPUBLISH", "s1", "m3"), s(2, "SSUBSCRIBE", "x"), s(2, "SPUBLISH", "x", "self"),
        ])
    }

    /// RESP3 clients run anything while subscribed; messages to themselves precede the reply.
    func testRESP3PushesInterleaveWithReplies() throws {
        try compare(connections: 2, protocols: [3], [
            s(0, "SUBSCRIBE", "a"), s(0, "SET", "k", "v"), s(0, "PUBLISH", "a", "to-myself"), s(0, "GET", "k"),
            s(1, "PUBLISH", "a", "from-other"), s(0, "PSUBSCRIBE", "a*"), s(0, "PUBLISH", "a", "twice"),
            s(0, "PING"), s(0, "PING", "x"), s(0, "HELLO", "2"), s(0, "GET", "k"), s(0, "PING"),
            s(1, "PUBLISH", "a", "now-resp2", unordered: true), s(0, "RESET"), s(0, "GET", "k"),
        ])
    }

    /// Messages are not replies: with CLIENT REPLY OFF (or SKIP) a subscriber still receives them, including
    /// those its own PUBLISH delivers to itself, while the replies are dropped.
    func testMessagesSurviveClientReplyOff() throws {
        var results: [[UInt8]] = []
        for port in [Self.redis!.port, Self.needletail!.port] {
            let c = try RawClient(port: port)
            let other = try RawClient(port: port)
            _ = try c.call("HELLO", "3")  // its reply differs (version, id)
            let pipeline: [[String]] = [["SUBSCRIBE", "c"], ["CLIENT", "REPLY", "OFF"], ["PUBLISH", "c", "self"],
                                        ["GET", "x"], ["CLIENT", "REPLY", "SKIP"], ["PUBLISH", "c", "skipped"], ["PING", "after-skip"]]
            try c.send(pipeline.flatMap { RawClient.encode($0.map { Array($0.utf8) }) })
            rawSleepMillis(50)
            _ = try other.call("PUBLISH", "c", "from-other")
            try c.send(RawClient.encode([Array("CLIENT".utf8), Array("REPLY".utf8), Array("ON".utf8)]))
            var got: [UInt8] = []
            while got.count < 6 || Array(got.suffix(5)) != Array("+OK\r\n".utf8) { got += try c.readFrame() }
            results.append(got)
        }
        XCTAssertEqual(rawEscaped(results[1], limit: 2000), rawEscaped(results[0], limit: 2000))
    }

    /// PUBLISH queued in MULTI is delivered at EXEC; a closed subscriber is forgotten.
    func testTransactionsAndClosedSubscribers() throws {
        try compare(connections: 3, [
            s(0, "SUBSCRIBE", "t"), s(1, "MULTI"), s(1, "PUBLISH", "t", "one"), s(1, "PUBLISH", "t", "two"),
            s(1, "EXEC"), s(2, "SUBSCRIBE", "t"), s(2, "CLOSE"), s(1, "PUBSUB", "NUMSUB", "t"), s(1, "PUBLISH", "t", "x"),
            s(0, "CLOSE"), s(1, "PUBSUB", "NUMSUB", "t"), s(1, "PUBSUB", "CHANNELS"), s(1, "INFO", "stats"),
        ])
    }

    /// Keyspace notifications: every class's events through K and E channels, `new`, RENAME/MOVE/COPY.
    func testKeyspaceNotifications() throws {
        let writes: [Step] = [
            s(1, "SET", "a", "1"), s(1, "SET", "a", "2"), s(1, "APPEND", "a", "x"), s(1, "INCR", "n"),
            s(1, "INCRBYFLOAT", "f", "1.5"), s(1, "SETRANGE", "a", "1", "yy"), s(1, "DEL", "a", "nosuch"),
            s(1, "LPUSH", "l", "1", "2"), s(1, "RPOP", "l"), s(1, "RPOP", "l"), s(1, "RPUSH", "q", "a", "b"),
            s(1, "LMOVE", "q", "q2", "LEFT", "RIGHT"), s(1, "LSET", "q", "0", "z"), s(1, "LTRIM", "q", "1", "0"),
            s(1, "SADD", "s", "x", "y"), s(1, "SREM", "s", "x"), s(1, "SUNIONSTORE", "su", "s", "s"),
            s(1, "HSET", "h", "f", "v"), s(1, "HINCRBY", "h", "n", "2"), s(1, "HDEL", "h", "f", "n"),
            s(1, "ZADD", "z", "1", "m"), s(1, "ZINCRBY", "z", "2", "m"), s(1, "ZINTERSTORE", "zi", "1", "z"),
            s(1, "ZPOPMIN", "zi"), s(1, "EXPIRE", "n", "100"), s(1, "PERSIST", "n"), s(1, "RENAME", "n", "m"),
            s(1, "SET", "m2", "v"), s(1, "RENAME", "m", "m2"), s(1, "COPY", "m2", "m3"), s(1, "MOVE", "m3", "1"),
            s(1, "SET", "x", "y", "EX", "100"), s(1, "GETDEL", "x"), s(1, "EXPIRE", "f", "0"),
            s(1, "SELECT", "1"), s(1, "SET", "k1", "v"), s(1, "FLUSHDB"), s(1, "SELECT", "0"),
        ]
        for flags in ["KEA", "KEAn", "Kl", "E$g", "Ex", "AK", "E"] {
            try compare(connections: 2, [
                s(1, "CONFIG", "SET", "notify-keyspace-events", flags), s(1, "CONFIG", "GET", "notify-keyspace-events"),
                s(0, "PSUBSCRIBE", "__key*__:*"),
            ] + writes + [s(1, "CONFIG", "SET", "notify-keyspace-events", "")], label: "notify-keyspace-events \(flags)")
        }
        // keymiss (class m, not in A): reads that find nothing, except OBJECT's; writes never.
        let reads: [Step] = [
            s(1, "SET", "a", "1"), s(1, "GET", "nosuch"), s(1, "GET", "a"), s(1, "MGET", "a", "b", "c"),
            s(1, "EXISTS", "a", "b"), s(1, "TYPE", "nosuch"), s(1, "OBJECT", "ENCODING", "nosuch"), s(1, "TTL", "nosuch"),
            s(1, "HGET", "h", "f"), s(1, "LRANGE", "l", "0", "-1"), s(1, "SCARD", "s"), s(1, "ZSCORE", "z", "m"),
            s(1, "STRLEN", "b"), s(1, "DUMP", "b"), s(1, "SINTER", "s", "a"), s(1, "INCR", "new"), s(1, "DEL", "gone"),
            s(1, "TOUCH", "t1", "a"), s(1, "GETEX", "nosuch"), s(1, "SORT", "nosuch"), s(1, "SET", "x", "1", "PX", "1"),
            s(1, "DEBUG", "SLEEP", "0.01"), s(1, "GET", "x"),
        ]
        for flags in ["Km", "Em", "KEAm", "KEA"] {
            try compare(connections: 2, [
                s(1, "DEBUG", "SET-ACTIVE-EXPIRE", "0"), s(1, "CONFIG", "SET", "notify-keyspace-events", flags),
                s(0, "PSUBSCRIBE", "__key*__:*"),
            ] + reads + [s(1, "CONFIG", "SET", "notify-keyspace-events", ""), s(1, "DEBUG", "SET-ACTIVE-EXPIRE", "1")],
                label: "keymiss \(flags)")
        }
        // A channel subscription receives only its own key's events, and lazy expiry's `expired` (active
        // expiry off, so the key expires when GET finds it, not at a time of the cron's choosing).
        try compare(connections: 2, [
            s(1, "DEBUG", "SET-ACTIVE-EXPIRE", "0"), s(1, "CONFIG", "SET", "notify-keyspace-events", "KEA"), s(0, "SUBSCRIBE", "__keyspace@0__:e", "__keyevent@0__:expired"),
            s(1, "SET", "e", "1", "PX", "1"), s(1, "SET", "other", "1"), s(1, "DEBUG", "SLEEP", "0.01"), s(1, "GET", "e"),
            s(1, "CONFIG", "SET", "notify-keyspace-events", ""), s(1, "DEBUG", "SET-ACTIVE-EXPIRE", "1"),
        ], label: "expired")
    }

    /// Keyspace notifications over every write family, generated: a subscriber of every event (`KEA` plus
    /// `n` and `m`) watches seeded sequences of the data families' commands, frame by frame against
    /// redis-server. (Active expiry is off, so `expired` comes only from lookups, at the same command on both.)
    func testGeneratedKeyspaceNotifications() throws {
        let families = DiffFamilies.named(["strings", "keys", "expiry", "zsets", "lists", "hashes", "sets", "sort",
                                           "bitmaps", "hll", "geo"])
        let seeds = UInt64(ProcessInfo.processInfo.environment["NOTIFY_SEEDS"] ?? "") ?? 60
        for seed in UInt64(1)...seeds {
            var generator = DiffGenerator(seed: seed, families: families)
            let commands = generator.sequence(length: 30).filter { command in
                // Nothing that outlives the scenario on these shared servers, nor a wait.
                let name = String(decoding: command[0], as: UTF8.self).uppercased()
                // Nor a reply in a hash table's order or that tells the time (the runner's multiset and time
                // comparisons are not used here).
                return !["CONFIG", "DEBUG", "BLPOP", "BRPOP", "BLMOVE", "BRPOPLPUSH", "BLMPOP", "BZPOPMIN", "BZPOPMAX",
                         "BZMPOP", "WAIT", "SWAPDB", "FLUSHALL", "HVALS", "HKEYS", "HGETALL", "HRANDFIELD", "HSCAN",
                         "SMEMBERS", "SPOP", "SRANDMEMBER", "SSCAN", "SINTER", "SUNION", "SDIFF", "KEYS", "SCAN",
                         "RANDOMKEY", "SORT", "SORT_RO", "TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME", "OBJECT", "MEMORY"].contains(name)
            }
            let steps = [s(1, "DEBUG", "SET-ACTIVE-EXPIRE", "0"), s(1, "CONFIG", "SET", "notify-keyspace-events", "KEAnm"),
                         s(0, "PSUBSCRIBE", "__key*__:*")]
                + commands.map { Step(conn: 1, args: $0) }
                + [s(1, "DISCARD"), s(1, "CONFIG", "SET", "notify-keyspace-events", ""), s(1, "DEBUG", "SET-ACTIVE-EXPIRE", "1")]
            do {
                try compare(connections: 2, protocols: [2], steps, label: "seed \(seed)")
            } catch {
                XCTFail("seed \(seed): \(error); commands: \(commands.map { $0.map { String(decoding: $0, as: UTF8.self) } })")
                return
            }
        }
    }

    /// Two connections, generated: connection 0 subscribes and unsubscribes (channels, patterns, shard
    /// channels, all at once, RESET) while connection 1 publishes to the same names; every frame of both is
    /// compared with redis-server's, in both protocols (a publish's frames as a multiset: a channel matching
    /// several patterns is delivered in each server's own pattern order, and so is UNSUBSCRIBE without names).
    func testGeneratedTwoConnectionPubSub() throws {
        let subscriber = DiffFamily(name: "subscriber", commands: DiffFamilies.pubsub.commands.filter {
            ["subscribe", "unsubscribe", "psubscribe", "punsubscribe", "ssubscribe", "sunsubscribe", "ping", "reset"]
                .contains($0.name)
        })
        for seed in UInt64(1)...60 {
            var generator = DiffGenerator(seed: seed, families: [subscriber])
            var rng = SeededRandom(seed: seed)
            var steps: [Step] = []
            for command in generator.sequence(length: 24) {
                let name = String(decoding: command[0], as: UTF8.self).uppercased()
                steps.append(Step(conn: 0, args: command, unordered: name.hasSuffix("UNSUBSCRIBE")))
                for _ in 0..<rng.below(3) {
                    let publish = rng.oneIn(4) ? "SPUBLISH" : "PUBLISH"
                    steps.append(Step(conn: 1, args: [Array(publish.utf8), rng.pick(DiffFamilies.channelNames),
                                                      Array("m\(rng.below(100))".utf8)], unordered: true))
                }
            }
            try compare(connections: 2, steps, label: "seed \(seed)")
        }
    }

    /// The differential generator's "pubsub" family on its own (plus a few string commands), so most
    /// sequences subscribe early; the mixed run in DifferentialTests gives it only a small weight.
    func testDifferentialSequences() throws {
        let runner = try DifferentialRunner()
        defer { runner.stop() }
        let families = DiffFamilies.named(["pubsub"])
        var failures = 0
        for seed in UInt64(1)...300 {
            var generator = DiffGenerator(seed: seed, families: families)
            let commands = generator.sequence(length: 30)
            for resp in [2, 3] {
                for m in runner.run(commands, resp: resp) where failures < 5 {
                    failures += 1
                    XCTFail("pubsub differential, seed \(seed), RESP\(resp): \(m.description)")
                }
            }
        }
        print("pubsub differential: 300 sequences x RESP2+RESP3, \(runner.commandsCompared) commands compared")
    }

    // MARK: - Slow subscribers

    /// A subscriber that never reads is closed at the pubsub class's hard limit, logged as Redis logs it, and
    /// the server's memory stays bounded while a publisher goes on.
    func testSubscriberThatNeverReadsIsDisconnected() throws {
        let server = try ServerUnderTest.start()
        var passed = false
        defer { server.stop(keepLog: !passed) }
        let admin = try RawClient(port: server.port)
        XCTAssertEqual(try admin.call("CONFIG", "GET", "client-output-buffer-limit"),
                       Array("*2\r\n$26\r\nclient-output-buffer-limit\r\n$67\r\nnormal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60\r\n".utf8))
        let subscriber = try slowReader(port: server.port)
        _ = try subscriber.call("SUBSCRIBE", "firehose")
        XCTAssertEqual(try connectedClients(admin), 2)
        let rssBefore = residentKB(server.pid)
        let publisher = try RawClient(port: server.port)
        let payload = [UInt8](repeating: UInt8(ascii: "m"), count: 256 * 1024)
        var receivers: [Int] = []
        for _ in 0..<400 {  // 100 MB published; the subscriber may hold 32 MB
            let reply = try publisher.call([Array("PUBLISH".utf8), Array("firehose".utf8), payload])
            receivers.append(Int(String(decoding: reply.dropFirst().dropLast(2), as: UTF8.self)) ?? -1)
        }
        XCTAssertEqual(receivers.first, 1)
        XCTAssertEqual(receivers.last, 0, "the subscriber was closed before the end")
        try waitConnected(admin, 2)  // admin + publisher
        XCTAssertEqual(try admin.call("PUBSUB", "NUMSUB", "firehose"), Array("*2\r\n$8\r\nfirehose\r\n:0\r\n".utf8))
        let grown = residentKB(server.pid) - rssBefore
        XCTAssertLessThan(grown, 80 * 1024, "RSS grew by \(grown) KB for 100 MB published")
        let log = server.logTail(8000)
        XCTAssertTrue(log.contains(OutputBufferLimitTests.closeLogLine), log)
        XCTAssertTrue(log.contains("flags=P") && log.contains("sub=1"), "the close names a pubsub client: \(log.suffix(600))")
        passed = testRun?.totalFailureCount == 0
    }

    private func slowReader(port: Int) throws -> RawClient {
        let c = try RawClient(port: port, timeoutMillis: 5000)
        var size: Int32 = 16 * 1024
        setsockopt(c.fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        return c
    }

    private func connectedClients(_ admin: RawClient) throws -> Int {
        let info = String(decoding: try admin.call("INFO", "clients"), as: UTF8.self)
        guard let line = info.split(separator: "\r\n").first(where: { $0.hasPrefix("connected_clients:") }),
              let n = Int(line.dropFirst("connected_clients:".count)) else { throw HarnessError("no connected_clients") }
        return n
    }

    private func waitConnected(_ admin: RawClient, _ count: Int) throws {
        let deadline = rawMonotonicMillis() + 5000
        while try connectedClients(admin) != count {
            if rawMonotonicMillis() > deadline { throw HarnessError("connected_clients never became \(count)") }
            rawSleepMillis(5)
        }
    }

    private func residentKB(_ pid: pid_t) -> Int {
        guard let status = DiffCorpus.readFile("/proc/\(pid)/status") else { return 0 }
        let text = String(decoding: status, as: UTF8.self)
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return 0 }
        return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
    }

    // MARK: - The runner

    private func compare(connections: Int, protocols: [Int] = [2, 3], _ steps: [Step], label: String = "",
                         masksIDs: Bool = false, file: StaticString = #filePath, line: UInt = #line) throws {
        for resp in protocols {
            let expected = try run(steps, connections: connections, resp: resp, port: Self.redis!.port, masksIDs: masksIDs)
            let got = try run(steps, connections: connections, resp: resp, port: Self.needletail!.port, masksIDs: masksIDs)
            XCTAssertEqual(expected.count, got.count, file: file, line: line)
            for (i, (e, g)) in zip(expected, got).enumerated() where e != g {
                let step = steps[i / connections]
                XCTFail("\(label) RESP\(resp) step \(i / connections) on conn \(step.conn) "
                        + "(\(step.args.map { String(decoding: $0, as: UTF8.self) }.joined(separator: " "))), "
                        + "frames of conn \(i % connections):\n  redis:      \(e)\n  needletail: \(g)", file: file, line: line)
                return
            }
        }
    }

    /// Each step's frames on each connection (connection-major within a step), normalized.
    private func run(_ steps: [Step], connections: Int, resp: Int, port: Int, masksIDs: Bool = false) throws -> [String] {
        let admin = try RawClient(port: port)
        _ = try admin.call("FLUSHALL")
        var conns = try (0..<connections).map { _ in try RawClient(port: port) }
        var open = Array(repeating: true, count: connections)
        var inMulti = Array(repeating: false, count: connections)
        // "$ID<n>" in a step stands for connection n's id, which differs between the servers; in the frames
        // each id is written back as "$ID<n>".
        let ids: [String] = try conns.map { c in
            let reply = try c.call("CLIENT", "ID")
            return String(decoding: reply.dropFirst().dropLast(2), as: UTF8.self)
        }
        if resp == 3 { for c in conns { _ = try c.call("HELLO", "3") } }
        var out: [String] = []
        var sentinel = 0
        func drain(_ i: Int, unordered: Bool, command: [[UInt8]]?) throws -> String {
            guard open[i] else { return "<closed>" }
            sentinel += 1
            let mark = Array("sentinel-\(sentinel)".utf8)
            var frames: [[UInt8]] = []
            let name = command.map { String(decoding: $0[0], as: UTF8.self).uppercased() }
            if let command, inMulti[i] || name == "MULTI" {
                // PING would be queued: the command's one reply only.
                try conns[i].send(command: command)
                let reply = try conns[i].readFrame()
                frames.append(reply)
                if name == "MULTI" && reply == Array("+OK\r\n".utf8) { inMulti[i] = true }
                if name == "EXEC" || name == "DISCARD" || name == "RESET" { inMulti[i] = false }
            } else {
                try conns[i].send((command.map { RawClient.encode($0) } ?? []) + RawClient.encode([Array("PING".utf8), mark]))
                while true {
                    let f = try conns[i].readFrame()
                    frames.append(f)
                    if f.count >= mark.count && Array(f.suffix(mark.count + 2).prefix(mark.count)) == mark { break }
                }
            }
            return normalize(frames, unordered: unordered, command: command)
        }
        for step in steps {
            let name = String(decoding: step.args[0], as: UTF8.self).uppercased()
            if name == "CLOSE" {
                conns[step.conn].close()
                open[step.conn] = false
                rawSleepMillis(150)  // the server notices before the next step
                for i in 0..<connections { out.append(try drain(i, unordered: false, command: nil)) }
                continue
            }
            out.append("")
            let args = step.args.map { a -> [UInt8] in
                let text = String(decoding: a, as: UTF8.self)
                guard text.hasPrefix("$ID"), let n = Int(text.dropFirst(3)) else { return a }
                return Array(ids[n].utf8)
            }
            let acting = try drain(step.conn, unordered: step.unordered, command: args)
            out.removeLast()
            for i in 0..<connections {
                if i == step.conn { out.append(acting); continue }
                out.append(inMulti[i] ? "<in multi>" : try drain(i, unordered: step.unordered, command: nil))
            }
        }
        conns.removeAll()
        if !masksIDs { return out }
        return out.map { text in
            var text = text
            for (n, id) in ids.enumerated() {
                // An integer frame or element (after a quote or a line end), and CLIENT LIST's field.
                for (before, after) in [("\":\(id)\\r\\n", "\":$ID\(n)\\r\\n"), ("\\n:\(id)\\r\\n", "\\n:$ID\(n)\\r\\n"),
                                        ("redir=\(id)", "redir=$ID\(n)")] {
                    text = text.replacing(before, with: after)
                }
            }
            return text
        }
    }

    /// Frames as text; INFO keeps only its pub/sub fields; unordered steps compare as a multiset.
    private func normalize(_ frames: [[UInt8]], unordered: Bool, command: [[UInt8]]?) -> String {
        var frames = frames
        let name = command.map { String(decoding: $0[0], as: UTF8.self).uppercased() } ?? ""
        if name == "INFO" || (name == "CLIENT" && command!.count > 1) {
            frames = frames.map { f in
                guard f.first == UInt8(ascii: "$") || f.first == UInt8(ascii: "=") else { return f }
                let text = String(decoding: f, as: UTF8.self)
                let keep = text.split(separator: "\r\n").filter { $0.hasPrefix("pubsub") }
                // CLIENT LIST: the flags and subscription counts only.
                let client = text.split(separator: " ").filter {
                    $0.hasPrefix("flags=") || $0.hasPrefix("sub=") || $0.hasPrefix("psub=") || $0.hasPrefix("ssub=")
                        || $0.hasPrefix("redir=")
                }
                return Array((keep + client).joined(separator: ",").utf8)
            }
        }
        if name == "HELLO", let first = frames.first, first.first != UInt8(ascii: "-") {
            frames[0] = Array("<HELLO reply: version and id differ>".utf8)  // 7.2.4 vs 7.0.15
        }
        if name == "PUBSUB" && command!.count > 1 && String(decoding: command![1], as: UTF8.self).uppercased().hasSuffix("CHANNELS") {
            frames = frames.map { f in
                guard case .aggregate(let t, let e?)? = try? RawReply.parse(f) else { return f }
                return RawReply.aggregate(t, e.sorted { $0.encoded.lexicographicallyPrecedes($1.encoded) }).encoded
            }
        }
        guard unordered else { return frames.map { rawEscaped($0, limit: 300) }.joined(separator: " ") }
        var counts: [[UInt8]] = []
        let stripped: [[UInt8]] = frames.map { f in
            guard case .aggregate(let t, var e?)? = try? RawReply.parse(f), e.count == 3, e[2].integer != nil,
                  case .blob(_, let kind?) = e[0], String(decoding: kind, as: UTF8.self).hasSuffix("subscribe") else { return f }
            counts.append(e[2].encoded)
            e[2] = .line(UInt8(ascii: "?"), [])
            return RawReply.aggregate(t, e).encoded
        }
        return stripped.sorted { $0.lexicographicallyPrecedes($1) }.map { rawEscaped($0, limit: 300) }.joined(separator: " ")
            + " counts " + counts.map { rawEscaped($0) }.joined()
    }
}

// MARK: - Client-side caching

extension PubSubTests {
    /// Default mode: keys read are invalidated once when changed (by others, or by the client itself after its
    /// reply), FLUSHALL invalidates everything with a null, OPTIN/OPTOUT follow CLIENT CACHING, NOLOOP skips
    /// the client's own changes; CLIENT TRACKINGINFO/GETREDIR/LIST/INFO say so.
    func testTrackingDefaultModeRESP3() throws {
        try compare(connections: 4, protocols: [3], [
            s(0, "CLIENT", "TRACKING", "ON"), s(0, "GET", "a"), s(0, "MGET", "b", "c"), s(1, "SET", "a", "1"),
            s(1, "SET", "a", "2"), s(1, "DEL", "b", "c", "zz"), s(0, "GET", "a"), s(0, "SET", "a", "mine"),
            s(0, "GET", "a"), s(1, "EXPIRE", "a", "100"), s(0, "STRLEN", "a"), s(0, "ZRANGE", "z", "0", "-1"),
            s(1, "ZADD", "z", "1", "m"), s(0, "ZUNION", "2", "z", "y"), s(1, "SADD", "y", "m"), s(1, "ZADD", "z", "2", "m"),
            s(0, "HGET", "h", "f"), s(0, "SET", "h", "x"), s(0, "CLIENT", "TRACKINGINFO"), s(0, "CLIENT", "GETREDIR"),
            s(1, "CLIENT", "TRACKINGINFO"), s(1, "CLIENT", "GETREDIR"), s(1, "CLIENT", "LIST"), s(1, "INFO", "stats"),
            s(0, "GET", "k1"), s(0, "GET", "k2"), s(1, "FLUSHALL"), s(1, "SET", "k1", "v"),
            s(2, "CLIENT", "TRACKING", "ON", "OPTIN"), s(2, "GET", "in1"), s(2, "CLIENT", "CACHING", "YES"),
            s(2, "CLIENT", "TRACKINGINFO"), s(2, "GET", "in2"), s(2, "GET", "in3"), s(1, "MSET", "in1", "1", "in2", "2", "in3", "3"),
            s(2, "CLIENT", "CACHING", "NO"), s(2, "MULTI"), s(2, "CLIENT", "CACHING", "YES"), s(2, "EXEC"),
            s(3, "CLIENT", "TRACKING", "ON", "OPTOUT", "NOLOOP"), s(3, "CLIENT", "CACHING", "NO"), s(3, "GET", "out1"),
            s(3, "GET", "out2"), s(3, "GET", "out3"), s(3, "SET", "out3", "self"), s(1, "MSET", "out1", "1", "out2", "2"),
            s(3, "CLIENT", "TRACKINGINFO"), s(3, "CLIENT", "TRACKING", "ON", "OPTIN"), s(3, "CLIENT", "CACHING", "YES"),
            s(0, "FLUSHDB"), s(0, "CLIENT", "TRACKING", "OFF"), s(0, "GET", "off"), s(1, "SET", "off", "1"),
            s(0, "CLIENT", "TRACKINGINFO"), s(1, "INFO", "stats"), s(3, "RESET"), s(1, "INFO", "clients"),
        ], masksIDs: true)
    }

    /// CLIENT CACHING yes is used up by the next request even when that one is refused; each FLUSHALL and
    /// FLUSHDB of a transaction sends its own null.
    func testTrackingCachingAndFlushesInTransactions() throws {
        try compare(connections: 2, protocols: [3], [
            s(0, "CLIENT", "TRACKING", "ON", "OPTIN"), s(0, "CLIENT", "CACHING", "YES"), s(0, "NOSUCHCOMMAND"),
            s(0, "GET", "a"), s(1, "SET", "a", "1"), s(0, "CLIENT", "CACHING", "YES"), s(0, "GET", "a", "extra"),
            s(0, "GET", "b"), s(1, "SET", "b", "1"), s(0, "CLIENT", "CACHING", "YES"), s(0, "GET", "c"), s(1, "SET", "c", "1"),
            s(0, "CLIENT", "TRACKING", "OFF"), s(0, "CLIENT", "TRACKING", "ON"), s(0, "GET", "d"),
            s(1, "MULTI"), s(1, "FLUSHALL"), s(1, "SET", "d", "2"), s(1, "FLUSHALL"), s(1, "FLUSHDB"), s(1, "EXEC"),
            s(0, "GET", "d"), s(0, "MULTI"), s(0, "FLUSHALL"), s(0, "FLUSHALL"), s(0, "EXEC"),
        ], masksIDs: true)
    }

    /// BCAST: per prefix, the keys changed before the server slept, sorted, in one frame; NOLOOP leaves out
    /// the client's own keys.
    func testTrackingBroadcast() throws {
        try compare(connections: 3, protocols: [3], [
            s(0, "CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "user:", "PREFIX", "item:"),
            s(2, "CLIENT", "TRACKING", "ON", "BCAST", "NOLOOP"), s(1, "SET", "user:1", "x"),
            s(1, "MSET", "user:3", "a", "user:2", "b", "item:9", "c", "other", "d"), s(2, "SET", "user:4", "own"),
            s(2, "MSET", "user:5", "own", "x", "y"), s(1, "DEL", "user:1", "nosuch"),
            s(0, "CLIENT", "TRACKINGINFO"), s(1, "INFO", "stats"), s(1, "CLIENT", "LIST"),
            s(0, "CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "u"), s(0, "CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "zz"),
            s(0, "CLIENT", "TRACKINGINFO"), s(1, "SET", "zz1", "1"), s(1, "FLUSHALL"),
            s(0, "CLIENT", "TRACKING", "OFF"), s(1, "SET", "user:1", "y"), s(1, "INFO", "stats"),
        ], masksIDs: true)
    }

    /// REDIRECT: RESP2 trackers send to a subscriber of __redis__:invalidate; a redirect to a closed client is
    /// broken (flag R, and in RESP3 a tracking-redir-broken push).
    func testTrackingRedirect() throws {
        try compare(connections: 4, protocols: [2, 3], [
            s(0, "SUBSCRIBE", "__redis__:invalidate"), s(1, "CLIENT", "TRACKING", "ON", "REDIRECT", "$ID0"),
            s(1, "GET", "a"), s(1, "CLIENT", "GETREDIR"), s(2, "SET", "a", "1"), s(1, "GET", "b"), s(1, "FLUSHDB"),
            s(1, "CLIENT", "TRACKINGINFO"), s(3, "CLIENT", "TRACKING", "ON", "REDIRECT", "$ID2"), s(3, "GET", "c"),
            s(2, "CLOSE"), s(0, "SET", "c", "x"), s(3, "CLIENT", "TRACKINGINFO"), s(0, "CLIENT", "LIST"),
        ], masksIDs: true)
    }

    func testTrackingErrors() throws {
        try compare(connections: 2, [
            s(0, "CLIENT", "TRACKING", "MAYBE"), s(0, "CLIENT", "TRACKING", "ON", "BCAST", "OPTIN"),
            s(0, "CLIENT", "TRACKING", "ON", "PREFIX", "a"), s(0, "CLIENT", "TRACKING", "ON", "OPTIN", "OPTOUT"),
            s(0, "CLIENT", "TRACKING", "ON", "REDIRECT", "999999999"), s(0, "CLIENT", "TRACKING", "ON", "REDIRECT", "x"),
            s(0, "CLIENT", "TRACKING", "ON", "REDIRECT", "$ID1", "REDIRECT", "$ID1"), s(0, "CLIENT", "TRACKING", "ON", "FOO"),
            s(0, "CLIENT", "TRACKING", "ON", "REDIRECT"), s(0, "CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "ab", "PREFIX", "a"),
            s(0, "CLIENT", "CACHING", "YES"), s(0, "CLIENT", "TRACKING", "ON", "OPTIN"), s(0, "CLIENT", "CACHING", "NO"),
            s(0, "CLIENT", "CACHING", "MAYBE"), s(0, "CLIENT", "TRACKING", "ON", "OPTOUT"), s(0, "CLIENT", "TRACKING", "ON", "BCAST"),
            s(0, "CLIENT", "TRACKING", "OFF"), s(0, "CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "a"),
            s(0, "CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "abc"), s(0, "CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "b"),
            s(0, "CLIENT", "TRACKINGINFO"), s(0, "CLIENT", "TRACKING", "ON"), s(0, "CLIENT", "TRACKING"),
            s(0, "CLIENT", "GETREDIR", "x"), s(0, "CLIENT", "TRACKINGINFO", "x"), s(0, "CLIENT", "TRACKING", "OFF", "BCAST"),
            s(0, "CLIENT", "TRACKINGINFO"),
        ], masksIDs: true)
    }
}

extension PubSubTests {
    /// Lazy expiry invalidates like a write, also when the tracking client's own read expires the key.
    func testTrackingExpiry() throws {
        try compare(connections: 2, protocols: [3], [
            s(1, "DEBUG", "SET-ACTIVE-EXPIRE", "0"), s(0, "CLIENT", "TRACKING", "ON"), s(1, "SET", "e", "1", "PX", "400"),
            s(1, "SET", "f", "1", "PX", "400"), s(0, "GET", "e"), s(0, "GET", "f"), s(1, "DEBUG", "SLEEP", "0.5"),
            s(0, "GET", "e"), s(1, "GET", "f"), s(0, "GET", "e"), s(1, "SET", "e", "2"),
            s(1, "DEBUG", "SET-ACTIVE-EXPIRE", "1"),
        ], masksIDs: true)
    }

    /// `tracking-table-max-keys`: past it, keys are forgotten and their trackers told, until the table fits.
    func testTrackingTableLimit() throws {
        for port in [Self.redis!.port, Self.needletail!.port] {
            let admin = try RawClient(port: port)
            _ = try admin.call("FLUSHALL")
            XCTAssertEqual(try admin.call("CONFIG", "SET", "tracking-table-max-keys", "2"), Array("+OK\r\n".utf8))
            let tracker = try RawClient(port: port)
            _ = try tracker.call("HELLO", "3")
            _ = try tracker.call("CLIENT", "TRACKING", "ON")
            try tracker.send((0..<5).flatMap { RawClient.encode([Array("GET".utf8), Array("key\($0)".utf8)]) })
            rawSleepMillis(300)  // Redis trims in its cron and before sleeping
            var invalidated = 0
            tracker.timeoutMillis = 200
            while let frame = try? tracker.readFrame() {
                if case .aggregate(_, let e?)? = try? RawReply.parse(frame), e.count == 2,
                   case .aggregate(_, let keys?) = e[1] { invalidated += keys.count }
            }
            let info = String(decoding: try admin.call("INFO", "stats"), as: UTF8.self)
            XCTAssertTrue(info.contains("tracking_total_keys:2\r\n"), "port \(port): \(info)")
            XCTAssertEqual(invalidated, 3, "port \(port)")
            XCTAssertEqual(try admin.call("CONFIG", "SET", "tracking-table-max-keys", "1000000"), Array("+OK\r\n".utf8))
        }
    }
}
