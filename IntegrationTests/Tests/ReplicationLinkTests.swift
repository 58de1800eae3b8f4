import Glibc
import XCTest

/// Needletail as the replica of a scripted master (a socket in the test), for what a real master cannot be
/// made to do on cue: a link lost in the middle of a transaction. The replica must resume from before the
/// transaction's MULTI (its bytes were neither counted nor passed on), as Redis's commandProcessed does.
final class ReplicationLinkTests: XCTestCase {
    private var server: ServerUnderTest?

    override func tearDown() {
        server?.stop(keepLog: (testRun?.totalFailureCount ?? 1) > 0)
    }

    /// A listening socket on a free loopback port.
    private func listenLoopback() throws -> (fd: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = loopbackAddress(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && listen(fd, 4) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard ok else { throw HarnessError("listen: \(errno)") }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }

    /// Accepts the replica and answers its handshake up to its PSYNC, whose arguments it returns.
    private func acceptReplica(_ listener: Int32) throws -> (fd: Int32, psync: [String]) {
        var pollfd = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
        guard poll(&pollfd, 1, 10_000) == 1 else { throw HarnessError("the replica did not connect") }
        let fd = accept(listener, nil, nil)
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        var answered = 0
        while true {
            let n = read(fd, &buffer, buffer.count)
            guard n > 0 else { throw HarnessError("the replica closed during the handshake") }
            received += buffer[0..<n]
            // Each command the replica sent gets its reply, in order: PONG, then +OK for REPLCONFs.
            let text = String(decoding: received, as: UTF8.self)
            let commands = text.components(separatedBy: "\r\n").filter { ["PING", "REPLCONF", "AUTH", "PSYNC"].contains($0) }
            for command in commands.dropFirst(answered) where command != "PSYNC" {
                let reply = command == "PING" ? "+PONG\r\n" : "+OK\r\n"
                _ = reply.withCString { write(fd, $0, strlen($0)) }
                answered += 1
            }
            if let range = text.range(of: "PSYNC\r\n") {
                let rest = text[range.upperBound...].components(separatedBy: "\r\n")
                if rest.count >= 4 { return (fd, [rest[1], rest[3]]) }  // $len, id, $len, offset
            }
        }
    }

    func testLinkLostInsideATransactionResumesBeforeItsMulti() throws {
        let (listener, port) = try listenLoopback()
        defer { close(listener) }
        server = try ServerUnderTest.start(extraArguments: ["--replicaof", "127.0.0.1", "\(port)"])
        let first = try acceptReplica(listener)
        XCTAssertEqual(first.psync[1], "1", "a fresh replica asks from its own offset 0 + 1")
        // A full sync of an empty RDB (RDB 10, no keys, checksum 0 = not checked), then a transaction cut short.
        let replid = String(repeating: "a", count: 40)
        let rdb: [UInt8] = Array("REDIS0010".utf8) + [0xFF] + [UInt8](repeating: 0, count: 8)
        var out = Array("+FULLRESYNC \(replid) 100\r\n$\(rdb.count)\r\n".utf8) + rdb
        out += Array("*3\r\n$3\r\nSET\r\n$4\r\nkept\r\n$1\r\n1\r\n".utf8)  // 30 bytes: offset 130
        out += Array("*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n$4\r\nlost\r\n$1\r\n1\r\n".utf8)
        _ = out.withUnsafeBytes { write(first.fd, $0.baseAddress, $0.count) }
        let c = try RawClient(port: server!.port, timeoutMillis: 5000)
        XCTAssertTrue(try eventually(timeoutMillis: 10_000) { try c.say("GET", "kept") == "$1\r\n1\r\n" })
        XCTAssertEqual(try c.info("slave_repl_offset", section: "replication"), "130", "the open transaction is not counted")
        close(first.fd)
        // The replica reconnects and continues from before the MULTI.
        let second = try acceptReplica(listener)
        defer { close(second.fd) }
        XCTAssertEqual(second.psync, [replid, "131"])
        XCTAssertEqual(try RawClient(port: server!.port).say("EXISTS", "lost"), ":0\r\n")
    }
}
