import XCTest
@testable import Needletail

/// The exact bytes of every ReplyWriter method in RESP2 and RESP3 (checked against redis-server 7.0, which
/// downgrades RESP3 types the same way for RESP2 clients).
final class ReplyWriterTests: XCTestCase {
    func testSimpleStrings() {
        assertReply(both: "+OK\r\n") { $0.ok() }
        let pong: StaticString = "PONG"
        assertReply(both: "+PONG\r\n") { $0.simple(pong) }
        let dynamic = "QUEUED"
        assertReply(both: "+QUEUED\r\n") { $0.simple(dynamic) }
        assertReply(both: "+PONG\r\n") { $0.raw("+PONG\r\n") }
    }

    func testErrors() {
        let fixed: StaticString = "ERR syntax error"
        assertReply(both: "-ERR syntax error\r\n") { $0.error(fixed) }
        // Newlines would end the reply early; Redis turns them into spaces.
        let multiline = "ERR bad\r\nthing\n"
        assertReply(both: "-ERR bad  thing \r\n") { $0.error(multiline) }
        let quoted: [UInt8] = Array("ERR unknown command '".utf8) + [0xFF, 0x00, 0x0A, 0x0D] + Array("'".utf8)
        assertReply(both: Array("-ERR unknown command '".utf8) + [0xFF, 0x00, 0x20, 0x20] + Array("'\r\n".utf8)) {
            $0.error(bytes: quoted)
        }
    }

    func testIntegers() {
        for (value, text) in [(Int64(0), "0"), (1, "1"), (-1, "-1"), (1234567890123, "1234567890123"),
                              (Int64.max, "9223372036854775807"), (Int64.min, "-9223372036854775808")] {
            assertReply(both: ":\(text)\r\n") { $0.integer(value) }
        }
        assertReply(both: ":42\r\n") { $0.integer(42 as Int) }
    }

    func testBooleans() {
        assertReply(resp2: ":1\r\n", resp3: "#t\r\n") { $0.bool(true) }
        assertReply(resp2: ":0\r\n", resp3: "#f\r\n") { $0.bool(false) }
    }

    func testDoubles() {
        assertReply(resp2: "$3\r\n1.5\r\n", resp3: ",1.5\r\n") { $0.double(1.5) }
        assertReply(resp2: "$5\r\n-0.25\r\n", resp3: ",-0.25\r\n") { $0.double(-0.25) }
        assertReply(resp2: "$3\r\ninf\r\n", resp3: ",inf\r\n") { $0.double(.infinity) }
        assertReply(resp2: "$4\r\n-inf\r\n", resp3: ",-inf\r\n") { $0.double(-.infinity) }
    }

    func testBulkStrings() {
        let binary: [UInt8] = [0, 13, 10, 0xFF, 0x24]
        assertReply(both: Array("$5\r\n".utf8) + binary + Array("\r\n".utf8)) { w in
            binary.withUnsafeBytes { w.bulk($0) }
        }
        assertReply(both: "$0\r\n\r\n") { w in [UInt8]().withUnsafeBytes { w.bulk($0) } }
        let short = ByteString("value")
        assertReply(both: "$5\r\nvalue\r\n") { $0.bulk(short) }
        let long = ByteString(String(repeating: "x", count: 100))  // beyond the inline capacity
        assertReply(both: "$100\r\n" + String(repeating: "x", count: 100) + "\r\n") { $0.bulk(long) }
        let text = "héllo"
        assertReply(both: "$6\r\nhéllo\r\n") { $0.bulk(text) }
        assertReply(both: "$4\r\n-123\r\n") { $0.bulk(Int64(-123)) }
        assertReply(both: "$1\r\n0\r\n") { $0.bulk(Int64(0)) }
        assertReply(both: "$20\r\n-9223372036854775808\r\n") { $0.bulk(Int64.min) }
        assertReply(both: "$19\r\n9223372036854775807\r\n") { $0.bulk(Int64.max) }
    }

    func testBigBulkGrowsTheBuffer() {
        let value = [UInt8](repeating: 0x61, count: 1_000_000)
        assertReply(both: Array("$1000000\r\n".utf8) + value + Array("\r\n".utf8)) { w in
            value.withUnsafeBytes { w.bulk($0) }
        }
    }

    func testVerbatim() {
        assertReply(resp2: "$2\r\nhi\r\n", resp3: "=6\r\ntxt:hi\r\n") { $0.verbatim("hi") }
        assertReply(resp2: "$4\r\n# x\n\r\n", resp3: "=8\r\nmkd:# x\n\r\n") { $0.verbatim("# x\n", format: "mkd") }
        assertReply(resp2: "$0\r\n\r\n", resp3: "=4\r\ntxt:\r\n") { $0.verbatim("") }
    }

    func testNulls() {
        assertReply(resp2: "$-1\r\n", resp3: "_\r\n") { $0.null() }
        assertReply(resp2: "*-1\r\n", resp3: "_\r\n") { $0.nullArray() }
    }

    func testAggregateHeaders() {
        assertReply(both: "*3\r\n") { $0.array(3) }
        assertReply(both: "*0\r\n") { $0.array(0) }
        assertReply(resp2: "*4\r\n", resp3: "%2\r\n") { $0.map(2) }
        assertReply(resp2: "*0\r\n", resp3: "%0\r\n") { $0.map(0) }
        assertReply(resp2: "*2\r\n", resp3: "~2\r\n") { $0.set(2) }
        assertReply(resp2: "*3\r\n", resp3: ">3\r\n") { $0.push(3) }
    }

    /// HELLO's reply shape: a map holding strings, integers and an empty array, as redis-server sends it.
    func testNestedReply() {
        let body = "$6\r\nserver\r\n$5\r\nredis\r\n$5\r\nproto\r\n:3\r\n$7\r\nmodules\r\n*0\r\n"
        assertReply(resp2: "*6\r\n" + body, resp3: "%3\r\n" + body) { w in
            w.map(3)
            w.bulk("server"); w.bulk("redis")
            w.bulk("proto"); w.integer(3)
            w.bulk("modules"); w.array(0)
        }
        assertReply(resp2: "*3\r\n:1\r\n$-1\r\n$3\r\n2.5\r\n", resp3: "*3\r\n:1\r\n_\r\n,2.5\r\n") { w in
            w.array(3); w.integer(1); w.null(); w.double(2.5)
        }
    }

    func testRepliesAppendAfterUnreadOutput() {
        let buffer = IOBuffer(capacity: 8)
        var writer = ReplyWriter(buffer: buffer)
        writer.ok()
        buffer.readIndex = 2  // part of the first reply already written to the socket
        writer.resp3 = true
        writer.null()
        writer.integer(7)
        XCTAssertEqual(Array(buffer.bytes(at: buffer.readIndex, count: buffer.readableBytes)), Array("K\r\n_\r\n:7\r\n".utf8))
    }

    // MARK: - Helpers

    private func render(resp3: Bool, _ write: (ReplyWriter) -> Void) -> [UInt8] {
        // A tiny initial capacity, so every method also exercises growing the buffer.
        let buffer = IOBuffer(capacity: 4)
        var writer = ReplyWriter(buffer: buffer)
        writer.resp3 = resp3
        write(writer)
        return Array(buffer.bytes(at: buffer.readIndex, count: buffer.readableBytes))
    }

    private func assertReply(resp2: [UInt8], resp3: [UInt8], _ write: (ReplyWriter) -> Void, line: UInt = #line) {
        XCTAssertEqual(show(render(resp3: false, write)), show(resp2), "RESP2", line: line)
        XCTAssertEqual(show(render(resp3: true, write)), show(resp3), "RESP3", line: line)
    }

    private func assertReply(resp2: String, resp3: String, _ write: (ReplyWriter) -> Void, line: UInt = #line) {
        assertReply(resp2: Array(resp2.utf8), resp3: Array(resp3.utf8), write, line: line)
    }

    private func assertReply(both expected: [UInt8], _ write: (ReplyWriter) -> Void, line: UInt = #line) {
        assertReply(resp2: expected, resp3: expected, write, line: line)
    }

    private func assertReply(both expected: String, _ write: (ReplyWriter) -> Void, line: UInt = #line) {
        assertReply(resp2: Array(expected.utf8), resp3: Array(expected.utf8), write, line: line)
    }

    /// Readable form for failure messages, exact for every byte.
    private func show(_ bytes: [UInt8]) -> String {
        if bytes.count > 200 { return "<\(bytes.count) bytes, hash \(bytes.hashValue)>" }
        return bytes.map { b in
            switch b {
            case 13: return "\\r"
            case 10: return "\\n"
            case 32...126: return String(UnicodeScalar(b))
            default: return "\\x" + String(b, radix: 16)
            }
        }.joined()
    }
}
