import Glibc
import XCTest

/// client-output-buffer-limit for normal clients over TCP, against the built needletail-server (and
/// redis-server 7.0 for the hard limit, where both must behave alike).
///
/// A "flooder" pipelines GETs of a 512 KB value and never reads. Its receive buffer is shrunk (SO_RCVBUF)
/// so the kernel absorbs at most the server's send buffer (tcp_wmem's maximum, 4 MB here) plus a little;
/// the pipelines are sized well past that, so the replies pile up in the server's output buffer.
/// - hard limit (`normal 1mb 0 0`): 64 GETs (32 MB) -> disconnected at once, the close logged as Redis logs
///   it, and the server goes on serving the others (a client reading its 512 KB replies one at a time stays);
/// - soft limit (`normal 0 256kb 1`): 12 GETs (6 MB, under needletail's 8 MB read-pause threshold, so its
///   later requests are still read) then, more than a second later, one more GET -> disconnected; a client
///   that sends its extra GET within the second is not, and receives every reply intact.
/// The server re-reads the limits in its cron (hz 10), so each CONFIG SET is followed by a 250 ms wait.
/// Disconnection is observed through INFO's connected_clients, never by reading the flooder's socket
/// (reading would drain the very output the limit is about).
final class OutputBufferLimitTests: XCTestCase {
    static let big = [UInt8](repeating: UInt8(ascii: "x"), count: 512 * 1024)
    static let bigReply = Array("$\(512 * 1024)\r\n".utf8) + big + Array("\r\n".utf8)
    static let closeLogLine = "scheduled to be closed ASAP for overcoming of output buffer limits."

    override func setUp() {
        signal(SIGPIPE, SIG_IGN)
    }

    // MARK: - Hard limit

    func testHardLimitDisconnectsAClientThatNeverReads() throws {
        let server = try ServerUnderTest.start()
        var passed = false
        defer { server.stop(keepLog: !passed) }
        try hardLimitScenario(port: server.port, log: { server.logTail(8000) })
        passed = testRun?.totalFailureCount == 0
    }

    func testHardLimitOnRedisTheSame() throws {
        guard RawRedisServer.isInstalled else { throw XCTSkip("redis-server is not installed at \(RawRedisServer.path)") }
        let redis = try RawRedisServer()
        defer { redis.stop() }
        try hardLimitScenario(port: redis.port, log: { rawTail(of: redis.logPath, 8000) })
    }

    private func hardLimitScenario(port: Int, log: () -> String, file: StaticString = #filePath, line: UInt = #line) throws {
        let admin = try RawClient(port: port)
        XCTAssertEqual(try admin.call("CONFIG", "SET", "client-output-buffer-limit", "normal 1mb 0 0"), b("+OK\r\n"))
        XCTAssertEqual(try admin.call([b("SET"), b("big"), Self.big]), b("+OK\r\n"))
        XCTAssertEqual(try admin.call("SET", "small", "v"), b("+OK\r\n"))
        rawSleepMillis(250)  // the cron picks the new limits up

        let reader = try RawClient(port: port)  // reads each reply before the next request: never over 1 MB
        let flooder = try slowReader(port: port)
        let baseline = try connectedClients(admin)
        XCTAssertEqual(baseline, 3, file: file, line: line)
        try flooder.send((0..<64).flatMap { _ in RawClient.encode([b("GET"), b("big")]) })
        try waitConnected(admin, baseline - 1)
        let received = try flooder.readUntilClosed()
        XCTAssertLessThan(received.count, 3 * Self.bigReply.count, "most replies were dropped with the client", file: file, line: line)

        // The server goes on serving the others.
        XCTAssertEqual(try admin.call("PING"), b("+PONG\r\n"), file: file, line: line)
        XCTAssertEqual(try admin.call("GET", "small"), b("$1\r\nv\r\n"), file: file, line: line)
        for _ in 0..<4 { XCTAssertTrue(try reader.call("GET", "big") == Self.bigReply, "a 512 KB reply, intact", file: file, line: line) }
        let fresh = try RawClient(port: port)
        XCTAssertEqual(try fresh.call("GET", "small"), b("$1\r\nv\r\n"), file: file, line: line)
        let logged = log()
        XCTAssertTrue(logged.contains(Self.closeLogLine), "the close is logged: \(logged.suffix(600))", file: file, line: line)
        XCTAssertTrue(logged.contains("cmd=get"), "the log line names the client's last command", file: file, line: line)
    }

    // MARK: - Soft limit

    /// A client over the soft limit for less than its seconds, which then reads its replies, is not closed and
    /// loses nothing (the time over the limit starts again from zero once its output drains). That a client
    /// over it for longer is closed, with or without another command, is testSoftLimitIsEnforcedWithoutAnotherCommand.
    func testSoftLimitSparesAClientThatCatchesUpInTime() throws {
        // 6 MB of replies must stay partly in the server's buffer: the kernel may take only the send buffer.
        if let wmem = DiffCorpus.readFile("/proc/sys/net/ipv4/tcp_wmem"),
           let max = String(decoding: wmem, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" })
               .last.flatMap({ Int($0) }), max > 5 * 1024 * 1024 {
            throw XCTSkip("tcp_wmem allows a \(max)-byte send buffer: it could absorb the whole 6 MB pipeline")
        }
        let server = try ServerUnderTest.start()
        var passed = false
        defer { server.stop(keepLog: !passed) }
        let admin = try RawClient(port: server.port)
        XCTAssertEqual(try admin.call("CONFIG", "SET", "client-output-buffer-limit", "normal 0 256kb 1"), b("+OK\r\n"))
        XCTAssertEqual(try admin.call([b("SET"), b("big"), Self.big]), b("+OK\r\n"))
        rawSleepMillis(250)

        let early = try slowReader(port: server.port)  // over the soft limit for 0.3 s, then reads everything
        XCTAssertEqual(try connectedClients(admin), 2)
        try early.send((0..<12).flatMap { _ in RawClient.encode([b("GET"), b("big")]) })
        rawSleepMillis(300)
        try early.send(command: [b("GET"), b("big")])
        rawSleepMillis(300)
        XCTAssertEqual(try connectedClients(admin), 2, "over the soft limit for less than its second: still there")
        early.timeoutMillis = 10_000
        for n in 0..<13 { XCTAssertTrue(try early.readReply() == Self.bigReply, "reply \(n) intact") }
        rawSleepMillis(1_200)  // past the limit's second: the cron must not close a client that caught up
        XCTAssertEqual(try early.call("PING"), b("+PONG\r\n"))
        XCTAssertEqual(try connectedClients(admin), 2)
        XCTAssertFalse(server.logTail(8000).contains(Self.closeLogLine))
        passed = testRun?.totalFailureCount == 0
    }

    // MARK: - Helpers

    /// A connection with a small receive buffer, so the kernel holds little of what the server sends it.
    func slowReader(port: Int) throws -> RawClient {
        let c = try RawClient(port: port, timeoutMillis: 5000)
        var size: Int32 = 16 * 1024
        setsockopt(c.fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        return c
    }

    func connectedClients(_ admin: RawClient) throws -> Int {
        let info = String(decoding: try admin.call("INFO", "clients"), as: UTF8.self)
        guard let line = info.split(separator: "\r\n").first(where: { $0.hasPrefix("connected_clients:") }),
              let n = Int(line.dropFirst("connected_clients:".count)) else {
            throw HarnessError("no connected_clients in INFO clients: \(info.debugDescription)")
        }
        return n
    }

    /// Polls INFO until `count` clients are connected (5 s at most).
    func waitConnected(_ admin: RawClient, _ count: Int) throws {
        let deadline = clockMillis() + 5000
        while true {
            let n = try connectedClients(admin)
            if n == count { return }
            if clockMillis() > deadline { throw HarnessError("connected_clients stayed \(n), expected \(count)") }
            rawSleepMillis(5)
        }
    }
}

private func b(_ s: String) -> [UInt8] { Array(s.utf8) }
