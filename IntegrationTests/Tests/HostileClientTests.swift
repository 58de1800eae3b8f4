import Glibc
import XCTest

/// Clients that try to hurt the server: absurd announced sizes, a slowloris, a client that never reads,
/// thousands of connections, clients killed mid-pipeline. Each test gets its own needletail; a "canary"
/// client stores a binary value first, and after each test the server must still answer PING on a new
/// connection and the canary's data (and connection) must be intact.
final class HostileClientTests: XCTestCase {
    private var server: ServerUnderTest!
    private var canary: RawClient!
    private static let canaryValue: [UInt8] = Array("canary\u{0}\r\n".utf8) + (0...255).map { UInt8($0) }

    override func setUpWithError() throws {
        signal(SIGPIPE, SIG_IGN)
        raiseOpenFilesLimit(to: 20_000)  // before the launch: the server inherits it
        server = try ServerUnderTest.start()
        canary = try RawClient(port: server.port)
        XCTAssertReply(try canary.call([b("SET"), b("canary"), Self.canaryValue]), b("+OK\r\n"))
    }

    override func tearDownWithError() throws {
        guard let server else { return }
        defer {
            server.stop()
            self.server = nil
        }
        guard server.isRunning else {
            XCTFail("needletail died; log: \(server.logTail())")
            return
        }
        let fresh = try RawClient(port: server.port)
        XCTAssertReply(try fresh.call("PING"), b("+PONG\r\n"), "a new connection gets PONG")
        let expected = b("$\(Self.canaryValue.count)\r\n") + Self.canaryValue + b("\r\n")
        XCTAssertReply(try fresh.call("GET", "canary"), expected, "the canary's data is intact")
        XCTAssertReply(try canary.call("GET", "canary"), expected, "the canary's connection still works")
    }

    private var rss: Int { rawRSSBytes(pid: server.pid) ?? 0 }

    // MARK: - Absurd sizes

    func testMultibulkAnnouncingTwoToThe31ElementsIsAProtocolError() throws {
        let c = try RawClient(port: server.port)
        try c.send(b("*2147483648\r\n"))
        XCTAssertReply(try c.readUntilClosed(), b("-ERR Protocol error: invalid multibulk length\r\n"))

        // 2^31 - 1 is a legal count: the server waits for the elements, allocating nothing in advance.
        let before = rss
        let d = try RawClient(port: server.port)
        try d.send(b("*2147483647\r\n$4\r\nPING\r\n$3\r\nfoo\r\n"))
        XCTAssertReply(try canary.call("PING"), b("+PONG\r\n"))
        XCTAssertLessThan(rss - before, 32 << 20, "announcing 2^31-1 elements must not allocate for them")
        d.close(reset: true)
    }

    func testBulkAnnouncingFourGigabytesIsAProtocolError() throws {
        let c = try RawClient(port: server.port)
        try c.send(b("*1\r\n$4294967296\r\n"))
        XCTAssertReply(try c.readUntilClosed(), b("-ERR Protocol error: invalid bulk length\r\n"))

        let d = try RawClient(port: server.port)
        try d.send(b("*2\r\n$4\r\nECHO\r\n$536870913\r\n"))  // proto-max-bulk-len + 1
        XCTAssertReply(try d.readUntilClosed(), b("-ERR Protocol error: invalid bulk length\r\n"))

        // Exactly 512 MB is legal: the server may reserve address space for it, but must not touch it.
        let before = rss
        let e = try RawClient(port: server.port)
        try e.send(b("*2\r\n$4\r\nECHO\r\n$536870912\r\n") + [UInt8](repeating: 0x61, count: 100_000))
        XCTAssertReply(try canary.call("PING"), b("+PONG\r\n"))
        XCTAssertLessThan(rss - before, 64 << 20, "a 512 MB announcement must not commit 512 MB")
        e.close()
    }

    // MARK: - Slow clients

    func testSlowlorisDoesNotStallOtherClients() throws {
        // 50 connections each holding half a request, and one sending a request a byte every 50 ms.
        let holders = try (0..<50).map { _ in try RawClient(port: server.port) }
        for h in holders { try h.send(b("*2\r\n$4\r\nECHO\r\n$10\r\nhalf")) }
        let slow = try RawClient(port: server.port)
        let request = b("*2\r\n$4\r\nECHO\r\n$3\r\nabc\r\n")  // 24 bytes
        var worst: Int64 = 0
        for byte in request {
            let tick = rawMonotonicMillis()
            try slow.send([byte])
            let t0 = rawMonotonicMillis()
            XCTAssertReply(try canary.call("PING"), b("+PONG\r\n"))
            worst = max(worst, rawMonotonicMillis() - t0)
            rawSleepMillis(max(0, Int(50 - (rawMonotonicMillis() - tick))))
        }
        XCTAssertReply(try slow.readReply(), b("$3\r\nabc\r\n"), "the slow request completes")
        XCTAssertLessThan(worst, 250, "another client's PING took \(worst) ms while a slowloris was sending")
        for h in holders { try h.send(b("ful!!!\r\n")) }
        for h in holders { XCTAssertReply(try h.readReply(), b("$10\r\nhalfful!!!\r\n")) }
    }

    func testClientThatNeverReadsKeepsServerMemoryBounded() throws {
        let megabyte = [UInt8](repeating: UInt8(ascii: "m"), count: 1 << 20)
        XCTAssertReply(try canary.call([b("SET"), b("big"), megabyte]), b("+OK\r\n"))
        let baseline = rss
        // 20,000 pipelined GETs: 20 GB of replies if the server buffered them all.
        let flood = try RawClient(port: server.port)
        let pipeline = [UInt8]((0..<20_000).map { _ in RawClient.encode([b("GET"), b("big")]) }.joined())
        let sent = try flood.send(pipeline, until: rawMonotonicMillis() + 3000)
        rawSleepMillis(500)
        var peak = rss
        // Other clients keep working, promptly, while the flood's replies pile up.
        for i in 0..<20 {
            let t0 = rawMonotonicMillis()
            XCTAssertReply(try canary.call("SET", "k\(i)", "v\(i)"), b("+OK\r\n"))
            XCTAssertReply(try canary.call("GET", "k\(i)"), b("$\(2 + (i >= 10 ? 1 : 0))\r\nv\(i)\r\n"))
            XCTAssertLessThan(rawMonotonicMillis() - t0, 500)
            peak = max(peak, rss)
            rawSleepMillis(25)
        }
        print("never-reading client: sent \(sent) of \(pipeline.count) request bytes; server RSS \(baseline >> 20) MB -> peak \(peak >> 20) MB")
        XCTAssertLessThan(peak - baseline, 200 << 20, "server RSS grew by \((peak - baseline) >> 20) MB for a client that never reads")
        // When it finally reads, the replies are intact and in order.
        flood.timeoutMillis = 20_000
        let expected = b("$1048576\r\n") + megabyte + b("\r\n")
        for i in 0..<30 {
            let reply = try flood.readReply()
            if reply != expected {
                XCTFail("reply \(i) to the flooding client is wrong: \(rawEscaped(reply, limit: 60))")
                break
            }
        }
        flood.close(reset: true)
    }

    // MARK: - Many connections, abrupt ends

    func testFiveThousandConnectionsOpenedAndDropped() throws {
        let fdsBefore = DiffCorpus.listFiles("/proc/\(server.pid)/fd").count
        let started = rawMonotonicMillis()
        var opened = 0
        for batch in 0..<10 {
            var clients: [RawClient] = []
            for _ in 0..<500 { clients.append(try RawClient(port: server.port)) }
            opened += clients.count
            for (i, c) in clients.enumerated() {
                switch i % 5 {
                case 0: try c.send(b("*1\r\n$4\r\nPING\r\n"))
                case 1: try c.send(b("*3\r\n$3\r\nSET\r\n$4\r\nhalf"))  // cut mid-request
                default: break
                }
            }
            for (i, c) in clients.enumerated() where i % 5 == 0 {
                XCTAssertReply(try c.readReply(), b("+PONG\r\n"), "batch \(batch) client \(i)")
            }
            for (i, c) in clients.enumerated() { c.close(reset: i % 2 == 0) }
            XCTAssertReply(try canary.call("PING"), b("+PONG\r\n"))
        }
        // The server must have closed every one of them (no leaked descriptors).
        var fdsAfter = 0
        for _ in 0..<100 {
            fdsAfter = DiffCorpus.listFiles("/proc/\(server.pid)/fd").count
            if fdsAfter <= fdsBefore + 2 { break }
            rawSleepMillis(50)
        }
        print("5,000 connections opened and dropped in \(rawMonotonicMillis() - started) ms; server fds \(fdsBefore) -> \(fdsAfter)")
        XCTAssertEqual(opened, 5000)
        XCTAssertLessThanOrEqual(fdsAfter, fdsBefore + 2, "descriptors leaked")
    }

    func testClientKilledMidPipeline() throws {
        // Writes cut off mid-request by a reset, at several points of a large pipeline.
        var pipeline: [UInt8] = []
        for i in 0..<20_000 { pipeline += RawClient.encode([b("SET"), b("p:\(i)"), b("value-\(i)")]) }
        for cut in [1, 1000, 77_777, pipeline.count / 2, pipeline.count - 3] {
            let c = try RawClient(port: server.port)
            try c.send(Array(pipeline[0..<cut]))
            c.close(reset: true)
        }
        // A client killed while the server is writing large replies to it.
        XCTAssertReply(try canary.call([b("SET"), b("big"), [UInt8](repeating: 0x7a, count: 1 << 20)]), b("+OK\r\n"))
        for _ in 0..<5 {
            let c = try RawClient(port: server.port)
            try c.send([UInt8]((0..<200).map { _ in RawClient.encode([b("GET"), b("big")]) }.joined()))
            _ = try c.readReply()
            c.close(reset: true)
        }
        // And one ended politely (FIN) in the middle of a bulk.
        let d = try RawClient(port: server.port)
        try d.send(b("*3\r\n$3\r\nSET\r\n$3\r\nfin\r\n$100\r\nonly-part"))
        d.close()
        rawSleepMillis(100)
        XCTAssertReply(try canary.call("GET", "fin"), b("$-1\r\n"), "a half request must not run")
    }
}

private func b(_ s: String) -> [UInt8] { Array(s.utf8) }

/// XCTAssertEqual for reply bytes, failing with both sides shown escaped rather than as byte arrays.
private func XCTAssertReply(_ actual: @autoclosure () throws -> [UInt8], _ expected: [UInt8], _ message: String = "",
                            file: StaticString = #filePath, line: UInt = #line) {
    do {
        let a = try actual()
        if a != expected { XCTFail("\(rawEscaped(a)) is not \(rawEscaped(expected)) \(message)", file: file, line: line) }
    } catch {
        XCTFail("\(error) \(message)", file: file, line: line)
    }
}
