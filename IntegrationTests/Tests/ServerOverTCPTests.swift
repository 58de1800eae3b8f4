import Glibc
import XCTest

/// The built `needletail-server` binary over TCP, driven through hiredis (and raw sockets where a client
/// library would hide the bytes). Each test gets its own server on a free port; every test ends by checking
/// that the server is still running and answers a new connection.
final class ServerOverTCPTests: XCTestCase {
    private var server: ServerUnderTest!

    override func setUpWithError() throws {
        signal(SIGPIPE, SIG_IGN)  // a write to a connection the server closed must fail, not kill the runner
        raiseOpenFilesLimit(to: 4096)  // before the launch: the server inherits it
        server = try ServerUnderTest.start()
    }

    override func tearDown() {
        guard let server else { return }
        let running = server.isRunning
        XCTAssertTrue(running, "the server exited; log: \(server.logTail())")
        if running { XCTAssertTrue(server.answersPing(), "the server no longer answers PING; log: \(server.logTail())") }
        // (hasSucceeded is false until the run stops, so count failures instead.)
        server.stop(keepLog: (testRun?.totalFailureCount ?? 1) > 0)
        self.server = nil
    }

    private func connect() throws -> HiredisConnection { try HiredisConnection(port: server.port) }
    private func wire() throws -> WireSocket { try WireSocket(port: server.port) }

    // MARK: - Basics

    func testPingSetGet() throws {
        let c = try connect()
        XCTAssertEqual(try c.command("PING"), .status("PONG"))
        XCTAssertEqual(try c.command("PING", "hello"), .string("hello"))
        XCTAssertEqual(try c.command("SET", "greeting", "hello world"), .ok)
        XCTAssertEqual(try c.command("GET", "greeting"), .string("hello world"))
        XCTAssertEqual(try c.command("GET", "missing"), .null)
        XCTAssertEqual(try c.command("SET", "greeting", "again"), .ok)
        XCTAssertEqual(try c.command("GET", "greeting"), .string("again"))
        XCTAssertEqual(try c.command("ECHO", ""), .string(""))
        // Another connection sees the same keyspace.
        XCTAssertEqual(try connect().command("GET", "greeting"), .string("again"))
    }

    func testPipeliningTenThousandCommands() throws {
        let c = try connect()
        let n = 10_000
        for i in 0..<n {
            if i % 2 == 0 {
                try c.append([Array("SET".utf8), Array("key:\(i / 2)".utf8), Array("value:\(i)".utf8)])
            } else {
                try c.append([Array("GET".utf8), Array("key:\(i / 2)".utf8)])
            }
        }
        for i in 0..<n {
            let reply = try c.reply()
            let expected: HiredisReply = i % 2 == 0 ? .ok : .string("value:\(i - 1)")
            if reply != expected { return XCTFail("reply \(i): \(reply), expected \(expected)") }
        }
        XCTAssertEqual(try c.command("PING"), .status("PONG"))
    }

    func testBinarySafeKeysAndValues() throws {
        let c = try connect()
        let everyByte = (0...255).map { UInt8($0) }
        let values: [[UInt8]] = [
            [0], [0x61, 0, 0x62], Array("\r\n".utf8), Array("a\r\nb\r\n\r\n".utf8), Array("$-1\r\n".utf8),
            Array("*1\r\n$4\r\nPING\r\n".utf8), everyByte, everyByte + everyByte.reversed(), [],
        ]
        for (i, value) in values.enumerated() {
            let key = [0, 13, 10] + Array("key\(i)".utf8) + [0xFF]
            XCTAssertEqual(try c.command([Array("SET".utf8), key, value]), .ok)
            XCTAssertEqual(try c.command([Array("GET".utf8), key]), .string(value), "value \(i)")
        }
        // The exact bytes on the wire, for one of them.
        let w = try wire()
        try w.send(multibulkRequest([Array("GET".utf8), [0, 13, 10] + Array("key1".utf8) + [0xFF]]))
        XCTAssertEqual(try w.readReply().raw, Array("$3\r\na\0b\r\n".utf8))
    }

    func testSixtyFourMegabyteValue() throws {
        let c = try connect()
        let size = 64 * 1024 * 1024
        // Every 8-byte word differs (a multiplicative hash of its index), so a misplaced chunk shows.
        var value = [UInt8](repeating: 0, count: size)
        value.withUnsafeMutableBytes { raw in
            for i in 0..<size / 8 { raw.storeBytes(of: UInt64(i) &* 0x9E37_79B9_7F4A_7C15, toByteOffset: i * 8, as: UInt64.self) }
        }
        XCTAssertEqual(try c.command([Array("SET".utf8), Array("big".utf8), value]), .ok)
        guard case .string(let got) = try c.command("GET", "big") else { return XCTFail("GET big is not a string") }
        XCTAssertEqual(got.count, size)
        let same = got.count == size && got.withUnsafeBytes { a in value.withUnsafeBytes { b in memcmp(a.baseAddress!, b.baseAddress!, size) == 0 } }
        XCTAssertTrue(same, "the 64 MB value came back different")
        XCTAssertEqual(try c.command("PING"), .status("PONG"))
    }

    // MARK: - Hostile and broken clients

    func testProtocolErrorsCloseOnlyThatConnection() throws {
        let bystander = try connect()
        XCTAssertEqual(try bystander.command("SET", "bystander", "still here"), .ok)
        let cases: [(String, [UInt8], String)] = [
            ("bad count", Array("*abc\r\n".utf8), "invalid multibulk length"),
            ("count > INT_MAX", Array("*2147483648\r\n".utf8), "invalid multibulk length"),
            ("$-1 inside multibulk", Array("*1\r\n$-1\r\n".utf8), "invalid bulk length"),
            ("bad bulk length", Array("*1\r\n$x\r\n".utf8), "invalid bulk length"),
            ("bulk > proto-max-bulk-len", Array("*1\r\n$536870913\r\n".utf8), "invalid bulk length"),
            ("no $", Array("*1\r\nx\r\n".utf8), "expected '$', got 'x'"),
            ("unbalanced quotes", Array("SET \"a b\r\n".utf8), "unbalanced quotes in request"),
            ("64 KB count line", Array("*".utf8) + [UInt8](repeating: 0x31, count: 65536), "too big mbulk count string"),
            ("64 KB bulk length line", Array("*1\r\n$".utf8) + [UInt8](repeating: 0x31, count: 65536), "too big bulk count string"),
            ("64 KB inline", [UInt8](repeating: 0x61, count: 65537), "too big inline request"),
        ]
        for (name, request, message) in cases {
            let w = try wire()
            // A good request first: its reply is delivered before the error, as redis-server does.
            try w.send(Array("PING\r\n".utf8) + request)
            let (bytes, closed) = w.readUntilClosed()
            XCTAssertEqual(printable(bytes), printable(Array("+PONG\r\n-ERR Protocol error: \(message)\r\n".utf8)), name)
            XCTAssertTrue(closed, "\(name): the connection was not closed")
            XCTAssertEqual(try bystander.command("GET", "bystander"), .string("still here"), name)
        }
    }

    func testClientsDisconnectingMidRequest() throws {
        let bystander = try connect()
        XCTAssertEqual(try bystander.command("SET", "k", "v"), .ok)

        // Half a bulk, then silence while another client works, then a disconnect.
        let half = try wire()
        try half.send(Array("*3\r\n$3\r\nSET\r\n$4\r\nhalf\r\n$100\r\n".utf8) + [UInt8](repeating: 0x78, count: 50))
        XCTAssertEqual(try bystander.command("GET", "k"), .string("v"))
        XCTAssertEqual(try bystander.command("PING"), .status("PONG"))
        half.close()

        // Half of a 1 MB bulk (past the size where the server reserves the whole argument).
        let big = try wire()
        try big.send(Array("*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$1048576\r\n".utf8) + [UInt8](repeating: 0x79, count: 524_288))
        XCTAssertEqual(try bystander.command("PING"), .status("PONG"))
        big.close()

        // Half a header line.
        let header = try wire()
        try header.send(Array("*3\r\n$3\r\nSET\r\n$1".utf8))
        header.close()

        // A client that leaves with replies still unread: the server's writes fail (EPIPE/ECONNRESET).
        XCTAssertEqual(try bystander.command([Array("SET".utf8), Array("blob".utf8), [UInt8](repeating: 0x7A, count: 100_000)]), .ok)
        let greedy = try wire()
        try greedy.send((0..<500).flatMap { _ in multibulkRequest([Array("GET".utf8), Array("blob".utf8)]) })
        _ = greedy.read(count: 1000)
        greedy.close()

        XCTAssertEqual(try bystander.command("GET", "half"), .null, "a half request must never run")
        XCTAssertEqual(try bystander.command("GET", "big"), .null, "a half request must never run")
        XCTAssertEqual(try bystander.command("GET", "k"), .string("v"))
        XCTAssertEqual(try connect().command("PING"), .status("PONG"))
    }

    func testThousandConcurrentConnections() throws {
        let clients = 1000
        let limit = raiseOpenFilesLimit(to: 4096)
        try XCTSkipIf(limit < clients + 100, "RLIMIT_NOFILE is \(limit), too low for \(clients) connections")
        let connections = try (0..<clients).map { _ in try connect() }
        let threads = 4
        // One slot per thread: each thread writes only its own.
        let failures = UnsafeMutableBufferPointer<Int>.allocate(capacity: threads)
        failures.initialize(repeating: 0)
        defer { failures.deallocate() }
        runOnThreads(threads) { t in
            let mine = Array(stride(from: t, to: clients, by: threads))
            do {
                for round in 0..<3 {
                    // Every connection of this thread has its requests on the wire before any reply is read,
                    // so the server holds ~1000 clients with work pending at once.
                    for i in mine {
                        let key = Array("client:\(i)".utf8)
                        try connections[i].append([Array("SET".utf8), key, Array("value \(i) round \(round)".utf8)])
                        try connections[i].append([Array("GET".utf8), key])
                        try connections[i].flush()
                    }
                    for i in mine {
                        if try connections[i].reply() != .ok { failures[t] += 1 }
                        if try connections[i].reply() != .string("value \(i) round \(round)") { failures[t] += 1 }
                    }
                }
            } catch {
                failures[t] += 1_000_000
            }
        }
        XCTAssertEqual(failures.reduce(0, +), 0, "wrong replies (1000000 per thread that hit an I/O error)")
        // All connections are still usable, and their writes are all visible.
        let check = try connect()
        for i in stride(from: 0, to: clients, by: 97) {
            XCTAssertEqual(try check.command("GET", "client:\(i)"), .string("value \(i) round 2"))
        }
        XCTAssertEqual(try connections.last!.command("PING"), .status("PONG"))
    }

    // MARK: - Protocol features

    /// The installed hiredis (0.14 on Debian 12) predates RESP3 and rejects its reply types, so RESP3 is
    /// checked on raw bytes, which is also the stricter test.
    func testRESP3AfterHello() throws {
        let w = try wire()
        try w.send(multibulkRequest([Array("HELLO".utf8), Array("3".utf8)]))
        let (hello, raw) = try w.readReply()
        XCTAssertTrue(raw.starts(with: Array("%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n".utf8)), printable(raw))
        guard case .map(let fields) = hello, fields.count == 14 else { return XCTFail("HELLO 3: \(printable(raw))") }
        let keys = stride(from: 0, to: 14, by: 2).map { fields[$0] }
        XCTAssertEqual(keys, ["server", "version", "proto", "id", "mode", "role", "modules"].map { .bulk(Array($0.utf8)) })
        XCTAssertEqual(fields[5], .integer(3))
        if case .integer = fields[7] {} else { XCTFail("id is not an integer: \(fields[7])") }
        XCTAssertEqual(fields[9], .bulk(Array("standalone".utf8)))
        XCTAssertEqual(fields[11], .bulk(Array("master".utf8)))
        XCTAssertEqual(fields[13], .array([]))

        XCTAssertEqual(printable(try w.request(["GET", "nothing"])), "_\\r\\n")
        XCTAssertEqual(printable(try w.request(["SET", "r3", "v"])), "+OK\\r\\n")
        XCTAssertEqual(printable(try w.request(["GET", "r3"])), "$1\\r\\nv\\r\\n")
        XCTAssertEqual(printable(try w.request(["PING"])), "+PONG\\r\\n")
        XCTAssertEqual(printable(try w.request(["GET"])), "-ERR wrong number of arguments for 'get' command\\r\\n")

        // Back to RESP2: the map becomes a flat array, null becomes $-1.
        try w.send(multibulkRequest([Array("HELLO".utf8), Array("2".utf8)]))
        XCTAssertTrue(try w.readReply().raw.starts(with: Array("*14\r\n$6\r\nserver\r\n".utf8)))
        XCTAssertEqual(printable(try w.request(["GET", "nothing"])), "$-1\\r\\n")

        // Other connections stay on RESP2.
        XCTAssertEqual(try connect().command("GET", "nothing"), .null)
    }

    func testInlineCommands() throws {
        let w = try wire()
        try w.send("PING\r\n")
        XCTAssertEqual(printable(w.read(count: 7)), "+PONG\\r\\n")
        // Several inline requests in one write, blank lines, a bare \n, quoting, then a multibulk request.
        try w.send("SET inline \"a b\\r\\n\"\r\n\r\n\nGET inline\nECHO 'it\\'s'\r\n   \r\nPING x\r\n"
                   + "*2\r\n$4\r\nECHO\r\n$2\r\nmb\r\n")
        let expected = "+OK\r\n" + "$5\r\na b\r\n\r\n" + "$4\r\nit's\r\n"
        XCTAssertEqual(printable(w.read(count: expected.utf8.count)), printable(Array(expected.utf8)))
        XCTAssertEqual(printable(w.read(count: 7)), "$1\\r\\nx\\r\\n")
        XCTAssertEqual(printable(w.read(count: 8)), "$2\\r\\nmb\\r\\n")
        XCTAssertEqual(try connect().command("GET", "inline"), .string("a b\r\n"))
    }

    func testQuit() throws {
        // Requests after QUIT in the same write are not run.
        let w = try wire()
        try w.send("SET before 1\r\nQUIT\r\nSET after 1\r\n")
        let (bytes, closed) = w.readUntilClosed()
        XCTAssertEqual(printable(bytes), "+OK\\r\\n+OK\\r\\n")
        XCTAssertTrue(closed)

        let c = try connect()
        XCTAssertEqual(try c.command("QUIT"), .ok)
        XCTAssertThrowsError(try c.command("PING"), "the connection should be closed after QUIT")

        let check = try connect()
        XCTAssertEqual(try check.command("GET", "before"), .string("1"))
        XCTAssertEqual(try check.command("GET", "after"), .null)
    }
}
