import Glibc
import XCTest

/// Clients' memory over TCP, each scenario on redis-server 7.0 and on needletail (Server/ClientMemory.swift):
/// - client-query-buffer-limit counts the bytes not yet parsed into arguments: a request whose one huge
///   argument arrives past the limit is closed (and logged as Redis logs it), while one under it, or one made
///   of many small arguments past it, is not;
/// - CLIENT LIST's qbuf, argv-mem, multi-mem, obl/oll/omem and tot-mem move as the buffers fill and drain
///   (the values differ between the servers, whose buffers differ; the test checks what both must show);
/// - maxmemory-clients (bytes, then a percentage of maxmemory) evicts the client using the most memory,
///   never a CLIENT NO-EVICT one, counts evicted_clients and logs each eviction; when no-evict clients alone
///   keep the total over the limit, every evictable client goes and Redis's warning is logged;
/// - client-output-buffer-limit counts only what is beyond the first 16 KB of pending replies (Redis's
///   static reply buffer), its CONFIG SET forms read back alike, and the pubsub class applies to subscribers
///   and only to them.
/// Partial requests are sent with their bulk header announcing more than is sent, so they stay in the
/// server's buffers; the servers notice evictions before sleeping and the tests poll for them.
final class ClientMemoryTests: XCTestCase {
    override func setUp() {
        signal(SIGPIPE, SIG_IGN)
    }

    /// A server under test: its port and a way to read its log.
    private struct Tested {
        let name: String
        let port: Int
        let log: () -> String
    }

    /// Runs `scenario` on redis-server 7.0, then on needletail.
    private func onBoth(_ scenario: (Tested) throws -> Void) throws {
        guard RawRedisServer.isInstalled else { throw XCTSkip("redis-server is not installed at \(RawRedisServer.path)") }
        let redis = try RawRedisServer()
        defer { redis.stop() }
        try scenario(Tested(name: "redis-server", port: redis.port, log: { rawTail(of: redis.logPath, 20_000) }))
        let server = try ServerUnderTest.start()
        var passed = false
        defer { server.stop(keepLog: !passed) }
        let failures = testRun?.totalFailureCount ?? 0
        try scenario(Tested(name: "needletail", port: server.port, log: { server.logTail(20_000) }))
        passed = testRun?.totalFailureCount == failures
    }

    // MARK: - client-query-buffer-limit

    func testQueryBufferLimitClosesAHugePartialArgumentOnly() throws {
        try onBoth { s in
            let admin = try RawClient(port: s.port)
            XCTAssertEqual(try admin.call("CONFIG", "SET", "client-query-buffer-limit", "1mb"), b("+OK\r\n"), s.name)

            let over = try RawClient(port: s.port, timeoutMillis: 3000)
            _ = try? over.send(bigArgumentRequest(announcing: 2_000_000, sending: 1_100_000), until: clockMillis() + 3000)
            XCTAssertNoThrow(try over.readUntilClosed(), "\(s.name): 1.1 MB of one argument closes the client")

            let under = try named("under", s.port)
            try under.send(bigArgumentRequest(announcing: 2_000_000, sending: 900_000))
            let many = try named("many", s.port)
            try many.send(Array("*300\r\n$4\r\nMSET\r\n".utf8)
                + (0..<150).flatMap { _ in Array("$10000\r\n".utf8) + [UInt8](repeating: 118, count: 10_000) + [13, 10] })
            XCTAssertTrue(try eventually(timeoutMillis: 3000) { try field(admin, "under", "qbuf") == 900_000 },
                          "\(s.name): \(describe(admin, "under"))")
            XCTAssertEqual(try field(admin, "under", "argv-mem"), 4, s.name)  // SET and k are arguments already
            XCTAssertTrue(try eventually(timeoutMillis: 3000) { try field(admin, "many", "argv-mem") == 1_500_004 },
                          "\(s.name): 1.5 MB of parsed arguments are not query buffer: \(describe(admin, "many"))")
            XCTAssertLessThan(try field(admin, "many", "qbuf") ?? .max, 16 * 1024, s.name)
            rawSleepMillis(200)  // a cron period: neither is closed later either
            XCTAssertNotNil(try clientLine(admin, "under"), "\(s.name): 900 KB of one argument stays")
            XCTAssertNotNil(try clientLine(admin, "many"), s.name)

            let log = s.log()
            XCTAssertTrue(log.contains("Closing client that reached max query buffer length: id="), "\(s.name): \(log.suffix(800))")
            XCTAssertTrue(log.contains("(qbuf initial bytes: \"xxxxxxxxxxxxxxxx"), "\(s.name): \(log.suffix(800))")
            XCTAssertEqual(try admin.call("CONFIG", "SET", "client-query-buffer-limit", "1gb"), b("+OK\r\n"), s.name)
        }
    }

    // MARK: - CLIENT LIST fields

    func testClientListFieldsFollowTheBuffers() throws {
        let big = [UInt8](repeating: UInt8(ascii: "x"), count: 512 * 1024)
        try onBoth { s in
            let admin = try RawClient(port: s.port)
            XCTAssertEqual(try admin.call([b("SET"), b("big"), big]), b("+OK\r\n"), s.name)
            let c = try slowReader(s.port)
            XCTAssertEqual(try c.call("CLIENT", "SETNAME", "watched"), b("+OK\r\n"))
            for f in ["qbuf", "argv-mem", "multi-mem", "obl", "oll", "omem"] {
                XCTAssertEqual(try field(admin, "watched", f), 0, "\(s.name): idle \(f)")
            }
            let idle = try XCTUnwrap(try field(admin, "watched", "tot-mem"))

            // A request arriving: its first argument parsed, 40,000 bytes of its 100,000-byte second one here.
            try c.send(Array("*2\r\n$3\r\nGET\r\n$100000\r\n".utf8) + [UInt8](repeating: 120, count: 40_000))
            XCTAssertTrue(try eventually(timeoutMillis: 3000) { try field(admin, "watched", "qbuf") == 40_000 },
                          "\(s.name): \(describe(admin, "watched"))")
            XCTAssertEqual(try field(admin, "watched", "argv-mem"), 3, s.name)
            XCTAssertGreaterThanOrEqual(try field(admin, "watched", "tot-mem") ?? 0, 100_000, "\(s.name): room for the argument")
            try c.send([UInt8](repeating: 120, count: 60_000) + [13, 10])
            XCTAssertEqual(try c.readReply(), b("$-1\r\n"), s.name)
            XCTAssertEqual(try field(admin, "watched", "qbuf"), 0, s.name)
            XCTAssertEqual(try field(admin, "watched", "argv-mem"), 0, s.name)

            // MULTI's queue: two SETs of 1,000-byte values, their arguments plus a little bookkeeping.
            XCTAssertEqual(try c.call("MULTI"), b("+OK\r\n"))
            let value = String(repeating: "v", count: 1000)
            XCTAssertEqual(try c.call("SET", "a", value), b("+QUEUED\r\n"))
            XCTAssertEqual(try c.call("SET", "b", value), b("+QUEUED\r\n"))
            let multi = try XCTUnwrap(try field(admin, "watched", "multi-mem"))
            XCTAssertTrue((2 * 1004)...(2 * 1004 + 400) ~= multi, "\(s.name): multi-mem=\(multi)")
            XCTAssertEqual(try c.call("DISCARD"), b("+OK\r\n"))
            XCTAssertEqual(try field(admin, "watched", "multi-mem"), 0, s.name)

            // Replies piling up: 24 GETs of 512 KB not read (more than the kernel's buffers take).
            try c.send((0..<24).flatMap { _ in RawClient.encode([b("GET"), b("big")]) })
            XCTAssertTrue(try eventually(timeoutMillis: 5000) { try field(admin, "watched", "omem") ?? 0 > 2_000_000 },
                          "\(s.name): \(describe(admin, "watched"))")
            let line = try XCTUnwrap(try clientLine(admin, "watched"))
            XCTAssertGreaterThan(try field(admin, "watched", "oll") ?? 0, 0, "\(s.name): \(line)")
            XCTAssertLessThanOrEqual(try field(admin, "watched", "obl") ?? .max, 16 * 1024, "\(s.name): \(line)")
            let pending = try XCTUnwrap(try field(admin, "watched", "tot-mem"))
            XCTAssertGreaterThan(pending, idle + 2_000_000, "\(s.name): \(line)")
            c.timeoutMillis = 10_000
            let reply = Array("$\(big.count)\r\n".utf8) + big + [13, 10]
            for n in 0..<24 { XCTAssertTrue(try c.readReply() == reply, "\(s.name): reply \(n)") }
            XCTAssertTrue(try eventually(timeoutMillis: 3000) {
                try field(admin, "watched", "omem") == 0 && field(admin, "watched", "oll") == 0
                    && field(admin, "watched", "obl") == 0
            }, "\(s.name): drained: \(describe(admin, "watched"))")
        }
    }

    // MARK: - maxmemory-clients

    func testMaxmemoryClientsEvictsTheBiggestClientButNotANoEvictOne() throws {
        try onBoth { s in
            let admin = try named("admin", s.port)
            XCTAssertEqual(try admin.call("CLIENT", "NO-EVICT", "on"), b("+OK\r\n"))
            XCTAssertEqual(try admin.call("CONFIG", "SET", "maxmemory-clients", "1mb"), b("+OK\r\n"), s.name)
            XCTAssertEqual(try evictedClients(admin), 0, s.name)
            let small = try named("small", s.port)
            let keeper = try named("keeper", s.port)
            XCTAssertEqual(try keeper.call("CLIENT", "NO-EVICT", "on"), b("+OK\r\n"))
            try keeper.send(bigArgumentRequest(announcing: 300_000, sending: 1000))  // ~300 KB, under the limit with the others
            XCTAssertTrue(try eventually(timeoutMillis: 3000) { try field(admin, "keeper", "qbuf") == 1000 }, s.name)
            XCTAssertEqual(try evictedClients(admin), 0, "\(s.name): nobody over the limit yet")

            // 3 MB more: the biggest evictable client goes, and only it.
            let big = try named("big", s.port, timeoutMillis: 3000)
            _ = try? big.send(bigArgumentRequest(announcing: 3_000_000, sending: 200_000), until: clockMillis() + 3000)
            XCTAssertNoThrow(try big.readUntilClosed(), "\(s.name): the 3 MB client is evicted")
            XCTAssertEqual(try small.call("PING"), b("+PONG\r\n"), "\(s.name): the small client stays")
            XCTAssertNotNil(try clientLine(admin, "keeper"), "\(s.name): the no-evict client stays")
            XCTAssertEqual(try evictedClients(admin), 1, s.name)
            let log = s.log()
            XCTAssertTrue(log.contains("Evicting client: id=") && log.contains("name=big"), "\(s.name): \(log.suffix(800))")
            XCTAssertFalse(log.contains("name=small") || log.contains("name=keeper"), "\(s.name): \(log.suffix(800))")

            // A percentage of maxmemory: 5% of 100 MB leaves a no-evict 3 MB client alone; 5% of 20 MB (1 MB)
            // does not, and with only no-evict clients over it every evictable client goes.
            XCTAssertEqual(try admin.call("CONFIG", "SET", "maxmemory", "100mb", "maxmemory-clients", "5%"), b("+OK\r\n"), s.name)
            XCTAssertEqual(try admin.call("CONFIG", "GET", "maxmemory-clients"), b("*2\r\n$17\r\nmaxmemory-clients\r\n$2\r\n5%\r\n"))
            let hog = try named("hog", s.port)
            XCTAssertEqual(try hog.call("CLIENT", "NO-EVICT", "on"), b("+OK\r\n"))
            try hog.send(bigArgumentRequest(announcing: 3_000_000, sending: 1000))
            XCTAssertTrue(try eventually(timeoutMillis: 3000) { try field(admin, "hog", "qbuf") == 1000 }, s.name)
            XCTAssertEqual(try small.call("PING"), b("+PONG\r\n"), "\(s.name): under 5% of 100 MB")
            XCTAssertEqual(try admin.call("CONFIG", "SET", "maxmemory", "20mb"), b("+OK\r\n"), s.name)
            small.timeoutMillis = 3000
            XCTAssertNoThrow(try small.readUntilClosed(), "\(s.name): over 5% of 20 MB, the evictable client goes")
            XCTAssertNotNil(try clientLine(admin, "hog"), s.name)
            XCTAssertNotNil(try clientLine(admin, "keeper"), s.name)
            XCTAssertEqual(try evictedClients(admin), 2, s.name)
            XCTAssertTrue(s.log().contains("Over client maxmemory after evicting all evictable clients"), s.name)
            XCTAssertEqual(try admin.call("CONFIG", "SET", "maxmemory-clients", "0", "maxmemory", "0"), b("+OK\r\n"), s.name)
        }
    }

    // MARK: - client-output-buffer-limit

    /// Replies that fit in 16 KB never count against a limit (Redis leaves its static reply buffer out).
    func testOutputBufferLimitCountsBeyondTheFirst16KB() throws {
        try onBoth { s in
            let admin = try RawClient(port: s.port)
            XCTAssertEqual(try admin.call([b("SET"), b("v10k"), [UInt8](repeating: 97, count: 10_000)]), b("+OK\r\n"))
            XCTAssertEqual(try admin.call([b("SET"), b("v20k"), [UInt8](repeating: 97, count: 20_000)]), b("+OK\r\n"))
            XCTAssertEqual(try admin.call("CONFIG", "SET", "client-output-buffer-limit", "normal 1 0 0"), b("+OK\r\n"), s.name)
            rawSleepMillis(250)  // needletail re-reads the limits in its cron
            let c = try RawClient(port: s.port, timeoutMillis: 3000)
            XCTAssertEqual(try c.call("GET", "v10k").count, 10_000 + 10, "\(s.name): 10 KB is within the first 16 KB")
            try c.send(command: [b("GET"), b("v20k")])
            let received = try c.readUntilClosed()
            XCTAssertLessThan(received.count, 20_000, s.name)
            let log = s.log()
            XCTAssertTrue(log.contains("scheduled to be closed ASAP for overcoming of output buffer limits.") && log.contains("cmd=get"),
                          "\(s.name): \(log.suffix(800))")
            XCTAssertEqual(try admin.call("CONFIG", "SET", "client-output-buffer-limit", "normal 0 0 0"), b("+OK\r\n"), s.name)
        }
    }

    func testOutputBufferLimitConfigFormsReadBackAsOnRedis() throws {
        guard RawRedisServer.isInstalled else { throw XCTSkip("redis-server is not installed") }
        let redis = try RawRedisServer()
        defer { redis.stop() }
        let server = try ServerUnderTest.start()
        defer { server.stop() }
        let forms = ["normal 1mb 2mb 3", "replica 1 2 3", "slave 10mb 5mb 30", "pubsub 1kb 1k 0", "Normal 4 5 6",
                     "normal 1 2 3 normal 4 5 6", "normal 99999999999999999999 0 0", "normal 0 0 99999999999", "",
                     "normal 1 2", "foo 1 2 3", "master 1 2 3", "normal -1 0 0", "normal 1x 0 0", "normal 0 0 -5",
                     "normal 1 2 3 pubsub 4 5"]
        for (label, port) in [("redis-server", redis.port), ("needletail", server.port)] {
            let c = try RawClient(port: port)
            var transcript: [String] = []
            for form in forms {
                transcript.append(text(try c.call("CONFIG", "SET", "client-output-buffer-limit", form)))
                transcript.append(text(try c.call("CONFIG", "GET", "client-output-buffer-limit")))
            }
            _ = try c.call("CONFIG", "SET", "client-output-buffer-limit", "normal 0 0 0")
            if label == "redis-server" {
                redisTranscript = transcript
            } else {
                for (i, (expected, got)) in zip(redisTranscript, transcript).enumerated() where expected != got {
                    XCTFail("form \(forms[i / 2].debugDescription): redis-server \(expected.debugDescription), needletail \(got.debugDescription)")
                }
            }
        }
    }
    private var redisTranscript: [String] = []

    /// The pubsub class's limit closes a subscriber that does not read, and not a normal client with as much
    /// waiting.
    func testPubsubLimitAppliesToSubscribersOnly() throws {
        let big = [UInt8](repeating: UInt8(ascii: "x"), count: 512 * 1024)
        try onBoth { s in
            let admin = try RawClient(port: s.port)
            XCTAssertEqual(try admin.call([b("SET"), b("big"), big]), b("+OK\r\n"))
            XCTAssertEqual(try admin.call("CONFIG", "SET", "client-output-buffer-limit", "normal 0 0 0 pubsub 256kb 0 0"),
                           b("+OK\r\n"), s.name)
            rawSleepMillis(250)
            let subscriber = try slowReader(s.port)
            XCTAssertEqual(try subscriber.call("SUBSCRIBE", "ch"), b("*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n"))
            let reader = try named("reader", s.port)  // a normal client with more than 256 KB waiting
            try reader.send((0..<24).flatMap { _ in RawClient.encode([b("GET"), b("big")]) })
            let publisher = try RawClient(port: s.port)
            let payload = [UInt8](repeating: 109, count: 64 * 1024)
            var published = 0
            while published < 400, try publisher.call([b("PUBLISH"), b("ch"), payload]) == b(":1\r\n") { published += 1 }
            XCTAssertLessThan(published, 400, "\(s.name): the subscriber was closed")
            XCTAssertEqual(try admin.call("PUBSUB", "NUMSUB", "ch"), b("*2\r\n$2\r\nch\r\n:0\r\n"), s.name)
            XCTAssertNotNil(try clientLine(admin, "reader"), "\(s.name): the normal client stays")
            let log = s.log()
            XCTAssertTrue(log.contains("flags=P") && log.contains("for overcoming of output buffer limits."),
                          "\(s.name): \(log.suffix(800))")
            XCTAssertEqual(try admin.call("CONFIG", "SET", "client-output-buffer-limit", "pubsub 32mb 8mb 60"), b("+OK\r\n"))
        }
    }

    // MARK: - Helpers

    /// A SET whose value's header announces `announced` bytes of which only `sent` follow.
    private func bigArgumentRequest(announcing announced: Int, sending sent: Int) -> [UInt8] {
        Array("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$\(announced)\r\n".utf8) + [UInt8](repeating: UInt8(ascii: "x"), count: sent)
    }

    private func named(_ name: String, _ port: Int, timeoutMillis: Int32 = 5000) throws -> RawClient {
        let c = try RawClient(port: port, timeoutMillis: timeoutMillis)
        XCTAssertEqual(try c.call("CLIENT", "SETNAME", name), b("+OK\r\n"))
        return c
    }

    /// A connection with a small receive buffer, so the kernel holds little of what the server sends it.
    private func slowReader(_ port: Int) throws -> RawClient {
        let c = try RawClient(port: port, timeoutMillis: 5000)
        var size: Int32 = 16 * 1024
        setsockopt(c.fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        return c
    }

    /// The CLIENT LIST line of the client named `name`, nil when there is none.
    private func clientLine(_ admin: RawClient, _ name: String) throws -> String? {
        text(try admin.call("CLIENT", "LIST")).split(separator: "\n").first { $0.contains(" name=\(name) ") }.map(String.init)
    }

    /// That line for a failure message.
    private func describe(_ admin: RawClient, _ name: String) -> String {
        ((try? clientLine(admin, name)) ?? nil) ?? "(no client named \(name))"
    }

    /// An integer field of that client's CLIENT LIST line.
    private func field(_ admin: RawClient, _ name: String, _ key: String) throws -> Int? {
        guard let line = try clientLine(admin, name) else { return nil }
        let prefix = key + "="
        return line.split(separator: " ").first { $0.hasPrefix(prefix) }.flatMap { Int($0.dropFirst(prefix.count)) }
    }

    private func evictedClients(_ admin: RawClient) throws -> Int? {
        text(try admin.call("INFO", "stats")).split(separator: "\r\n").first { $0.hasPrefix("evicted_clients:") }
            .flatMap { Int($0.dropFirst("evicted_clients:".count)) }
    }
}

private func b(_ s: String) -> [UInt8] { Array(s.utf8) }
private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }
