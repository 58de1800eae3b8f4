import Glibc
import XCTest

/// Blocked clients in numbers and under abuse (issue 12's hostile cases), on the built needletail-server:
/// 10,000 clients blocked on one key are all served, in the order they blocked, by one push; clients that
/// disconnect (some with a reset) mid-wait are skipped and nothing is served to them. The order and replies
/// of a few clients are compared with redis-server in BlockingTests and ListBlockingTests; here the point
/// is scale and robustness.
final class BlockingStressTests: XCTestCase {
    private var needletail: ServerUnderTest!

    override func setUpWithError() throws {
        signal(SIGPIPE, SIG_IGN)
        let limit = raiseOpenFilesLimit(to: 10_300)  // each process needs one per client; the server inherits it
        guard limit >= 10_300 else { throw XCTSkip("needs 10,300 open files, the limit is \(limit)") }
        needletail = try ServerUnderTest.start(extraArguments: ["--maxclients", "10100"])
    }

    override func tearDown() {
        needletail?.stop(keepLog: (testRun?.totalFailureCount ?? 1) > 0)
    }

    func testTenThousandClientsBlockedOnOneKeyAreAllServedInOrder() throws {
        let admin = try RawClient(port: needletail.port)
        let count = 10_000
        var clients: [RawClient] = []
        clients.reserveCapacity(count)
        for i in 0..<count {
            let c = try RawClient(port: needletail.port)
            try c.send(command: [b("BLPOP"), b("queue"), b("0")])
            clients.append(c)
            if i % 1000 == 999 { try waitBlocked(admin, i + 1) }  // keeps the order of blocking = the order here
        }
        try waitBlocked(admin, count)
        XCTAssertEqual(text(try admin.call([b("RPUSH"), b("queue")] + (0..<count).map { b("e\($0)") })), ":\(count)\r\n")
        for (i, c) in clients.enumerated() {
            let reply = text(try c.readReply())
            let element = "e\(i)"
            XCTAssertEqual(reply, "*2\r\n$5\r\nqueue\r\n$\(element.utf8.count)\r\n\(element)\r\n", "client \(i)")
            if reply != "*2\r\n$5\r\nqueue\r\n$\(element.utf8.count)\r\n\(element)\r\n" { break }
        }
        XCTAssertEqual(try blockedClients(admin), 0)
        XCTAssertEqual(text(try admin.call("LLEN", "queue")), ":0\r\n")
        for c in clients { c.close() }
    }

    func testClientsThatDisconnectMidWaitAreSkipped() throws {
        let admin = try RawClient(port: needletail.port)
        var clients: [RawClient] = []
        for _ in 0..<200 {
            let c = try RawClient(port: needletail.port)
            try c.send(command: [b("BLPOP"), b("queue"), b("0")])
            clients.append(c)
            try waitBlocked(admin, clients.count)
        }
        // Every other client goes away, half of those with a reset (SO_LINGER 0), the others with a FIN.
        for (i, c) in clients.enumerated() where i % 2 == 1 { c.close(reset: i % 4 == 1) }
        try waitBlocked(admin, 100)
        XCTAssertEqual(text(try admin.call([b("RPUSH"), b("queue")] + (0..<150).map { b("e\($0)") })), ":150\r\n")
        for (n, i) in stride(from: 0, to: 200, by: 2).enumerated() {
            let element = "e\(n)"
            XCTAssertEqual(text(try clients[i].readReply()), "*2\r\n$5\r\nqueue\r\n$\(element.utf8.count)\r\n\(element)\r\n")
        }
        XCTAssertEqual(text(try admin.call("LLEN", "queue")), ":50\r\n", "nothing was served to a closed client")
        XCTAssertEqual(try blockedClients(admin), 0)
        XCTAssertEqual(text(try admin.call("PING")), "+PONG\r\n")
    }
}

private func b(_ s: String) -> [UInt8] { Array(s.utf8) }
private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }
