import Glibc
import XCTest

/// Time over TCP. The `timeout` setting: idle clients are closed on time by the server's idle timer, active
/// ones (also those busy in a long command) are kept, and CONFIG SET timeout takes effect on a running server.
/// The command clock: each request of a pipeline sees the time it starts, not the time its batch was read.
final class TimeoutTests: XCTestCase {
    private var server: ServerUnderTest!

    override func setUp() {
        signal(SIGPIPE, SIG_IGN)
    }

    override func tearDown() {
        guard let server else { return }
        let running = server.isRunning
        XCTAssertTrue(running, "the server exited; log: \(server.logTail())")
        if running { XCTAssertTrue(server.answersPing(), "the server no longer answers PING") }
        server.stop(keepLog: (testRun?.totalFailureCount ?? 1) > 0)
        self.server = nil
    }

    private func start(_ arguments: [String]) throws {
        server = try ServerUnderTest.start(extraArguments: arguments)
    }

    /// Milliseconds until the server closes `client`'s connection (a read sees end of stream).
    private func millisUntilClosed(_ client: RawClient) throws -> Int64 {
        let started = clockMillis()
        let rest = try client.readUntilClosed()
        XCTAssertEqual(rest, [], "nothing is sent before the close")
        return clockMillis() - started
    }

    func testIdleClientIsClosedAfterOneSecond() throws {
        try start(["--timeout", "1", "--loglevel", "verbose"])
        let c = try RawClient(port: server.port, timeoutMillis: 5000)
        XCTAssertEqual(try c.call("PING"), Array("+PONG\r\n".utf8))
        let elapsed = try millisUntilClosed(c)
        // Idle for more than 1 s: closed in the first millisecond after, give or take scheduling.
        XCTAssertGreaterThanOrEqual(elapsed, 950, "closed too early")
        XCTAssertLessThan(elapsed, 1500, "closed late (Redis's cron would take up to 2 s; the timer should not)")
        XCTAssertTrue(server.logTail().contains("Closing idle client"), "logged at verbose, as Redis")
    }

    func testActiveClientsStayOpenWhileIdleOnesAreClosed() throws {
        try start(["--timeout", "1"])
        let active = try RawClient(port: server.port)
        let idle = (0..<5).map { _ in try? RawClient(port: server.port, timeoutMillis: 4000) }
        for _ in 0..<8 {
            XCTAssertEqual(try active.call("PING"), Array("+PONG\r\n".utf8))
            rawSleepMillis(300)
        }
        // 2.4 s have passed: every idle connection has been closed, the active one is still served.
        for case let c? in idle { XCTAssertEqual(try c.readUntilClosed(), []) }
        XCTAssertEqual(try active.call("PING"), Array("+PONG\r\n".utf8))
        // (Split bytes, not Characters: "\r\n" is one Character in Swift.)
        let list = try active.call("CLIENT", "LIST")
        let lines = list.split(separator: UInt8(ascii: "\n")).filter { $0.starts(with: Array("id=".utf8)) }
        XCTAssertEqual(lines.count, 1, "only the active client remains: \(rawEscaped(list))")
    }

    /// A client whose own command ran past `timeout` was busy, not idle: writing its reply counts as
    /// activity (Redis's `totwritten > 0`), so the idle timer due in the same loop iteration keeps it.
    func testClientBusyInALongCommandIsNotIdle() throws {
        try start(["--timeout", "1", "--enable-debug-command", "yes"])
        let c = try RawClient(port: server.port, timeoutMillis: 5000)
        XCTAssertEqual(try c.call("DEBUG", "SLEEP", "1.6"), Array("+OK\r\n".utf8))
        rawSleepMillis(300)
        XCTAssertEqual(try c.call("PING"), Array("+PONG\r\n".utf8))
    }

    /// Requests pipelined in one write: the GET runs 50 ms after the SET with a 20 ms TTL, so the key has
    /// expired for it, though all three were read at once (the clock advances per command).
    func testEachPipelinedCommandSeesTheTimeItStarts() throws {
        try start(["--enable-debug-command", "yes"])
        let c = try RawClient(port: server.port, timeoutMillis: 5000)
        try c.send(RawClient.encode([Array("SET".utf8), Array("k".utf8), Array("v".utf8), Array("PX".utf8), Array("20".utf8)])
                   + RawClient.encode([Array("DEBUG".utf8), Array("SLEEP".utf8), Array("0.05".utf8)])
                   + RawClient.encode([Array("GET".utf8), Array("k".utf8)]))
        XCTAssertEqual(try c.readReply(), Array("+OK\r\n".utf8))
        XCTAssertEqual(try c.readReply(), Array("+OK\r\n".utf8))
        XCTAssertEqual(try c.readReply(), Array("$-1\r\n".utf8), "expired 30 ms before the GET ran")
    }

    func testConfigSetTimeoutTakesEffectOnARunningServer() throws {
        try start([])
        let admin = try RawClient(port: server.port)
        let c = try RawClient(port: server.port, timeoutMillis: 4000)
        XCTAssertEqual(try c.call("PING"), Array("+PONG\r\n".utf8))
        rawSleepMillis(1200)  // timeout 0: nothing happens to an idle client
        XCTAssertEqual(try c.call("PING"), Array("+PONG\r\n".utf8))

        XCTAssertEqual(try admin.call("CONFIG", "SET", "timeout", "1"), Array("+OK\r\n".utf8))
        let elapsed = try millisUntilClosed(c)
        XCTAssertLessThan(elapsed, 1600, "the cron re-arms the idle timer within a period of the change")
        // admin was idle as long as c: closed as well.
        XCTAssertEqual(try admin.readUntilClosed(), [])

        let d = try RawClient(port: server.port, timeoutMillis: 3000)
        XCTAssertEqual(try d.call("CONFIG", "SET", "timeout", "0"), Array("+OK\r\n".utf8))
        rawSleepMillis(1500)
        XCTAssertEqual(try d.call("PING"), Array("+PONG\r\n".utf8), "timeout 0 again: kept")
    }
}
