import Glibc
import XCTest

/// MONITOR against redis-server 7.0: the same script of commands from other clients (binary arguments,
/// AUTH and HELLO AUTH redacted, SELECT, MULTI/EXEC and an aborted one, unknown and wrong-arity commands,
/// admin commands, a rejected command in RESP2's subscribed state, a blocking command served later, RESP3)
/// must produce the same lines on both servers, with the timestamp and the client's port masked; a
/// monitor may not touch the keyspace, ignores a second MONITOR, and RESET makes it a client again.
final class MonitorTests: XCTestCase {
    func testMonitorLinesMatchRedis() throws {
        guard RawRedisServer.isInstalled else { throw XCTSkip("redis-server is not installed at \(RawRedisServer.path)") }
        let redis = try RawRedisServer()
        defer { redis.stop() }
        let server = try ServerUnderTest.start(extraArguments: ["--enable-debug-command", "yes"])
        var passed = false
        defer { server.stop(keepLog: !passed) }
        let expected = try script(port: redis.port)
        let got = try script(port: server.port)
        XCTAssertEqual(got.count, expected.count)
        for (e, g) in zip(expected, got) where e != g { XCTFail("redis: \(e)\nneedletail: \(g)") }
        XCTAssertGreaterThan(expected.count, 25)
        passed = testRun?.totalFailureCount == 0
    }

    /// Runs the script and returns what the monitors received, masked, plus the monitors' own replies.
    private func script(port: Int) throws -> [String] {
        let monitor = try RawClient(port: port)
        XCTAssertEqual(try monitor.call("MONITOR"), Array("+OK\r\n".utf8))
        let c = try RawClient(port: port)
        let d = try RawClient(port: port)
        let commands: [[String]] = [
            ["SET", "k", "a b\0\u{7f}\r\n\"\\"], ["GET", "k"], ["AUTH", "x"], ["AUTH", "a", "b"],
            ["HELLO", "3", "AUTH", "default", "pw"], ["HELLO", "3", "SETNAME", "n", "AUTH", "u", "p"], ["HELLO", "x", "AUTH", "u", "p"],
            ["HELLO", "2"], ["SELECT", "1"], ["GET", "k"], ["NOSUCH", "1"], ["GET"], ["CONFIG", "GET", "hz"],
            ["CLIENT", "ID"], ["CLIENT", "LIST"], ["DEBUG", "SLEEP", "0"], ["SUBSCRIBE", "ch"], ["GET", "k"], ["PING"],
            ["RESET"], ["BLPOP", "bl", "0.01"], ["SET", "123", "456"], ["CLIENT", "SETNAME", "x"], ["ECHO", "x"],
            ["HELLO", "3"], ["PING"], ["exec"], ["RESET"],
        ]
        for command in commands { _ = try c.call(command.map { Array($0.utf8) }) }
        // Transactions: the queued commands as they run, then EXEC; an aborted one shows MULTI and EXEC.
        for command in [["MULTI"], ["SET", "a", "1"], ["INCR", "a"], ["eXeC"], ["MULTI"], ["GET"], ["EXEC"]] {
            _ = try c.call(command.map { Array($0.utf8) })
        }
        // A blocked command is listed when it first runs, not again when served.
        try d.send(command: [Array("BLPOP".utf8), Array("bl2".utf8), Array("0".utf8)])
        rawSleepMillis(50)
        _ = try c.call("RPUSH", "bl2", "v")
        _ = try d.readReply()
        // A second monitor: MONITOR again is ignored, its PING is listed, the keyspace is refused.
        let second = try RawClient(port: port)
        try second.send(RawClient.encode([Array("MONITOR".utf8)]) + RawClient.encode([Array("MONITOR".utf8)]) + RawClient.encode([Array("PING".utf8)]))
        var out: [String] = []
        out.append(rawEscaped(try second.readReply()))  // +OK
        out.append(rawEscaped(try second.readReply()))  // +PONG (the second MONITOR said nothing)
        out.append(mask(try second.readReply()))        // its own PING
        out.append(rawEscaped(try second.call("GET", "x")))
        let admin = try RawClient(port: port)
        let list = String(decoding: try admin.call("CLIENT", "LIST"), as: UTF8.self)
        out.append("monitors with flags=O: \(list.components(separatedBy: "flags=O ").count - 1)")
        out.append(rawEscaped(try second.call("RESET")))
        out.append(rawEscaped(try second.call("GET", "x")))
        _ = try c.call("ECHO", "last")
        while true {
            let line = try monitor.readReply()
            out.append(mask(line))
            if line.suffix(8) == Array("\"last\"\r\n".utf8) { break }
        }
        return out
    }

    /// `+<seconds>.<6 digits> [<db> 127.0.0.1:<port>] ...` with the time and port replaced.
    private func mask(_ line: [UInt8]) -> String {
        let text = String(decoding: line, as: UTF8.self)
        guard text.hasPrefix("+"), let space = text.firstIndex(of: " "), let close = text.firstIndex(of: "]") else { return "unexpected: " + rawEscaped(line) }
        let stamp = text[text.index(after: text.startIndex)..<space]
        let parts = stamp.split(separator: ".")
        guard parts.count == 2, parts[1].count == 6, parts.allSatisfy({ $0.allSatisfy(\.isNumber) }) else { return "bad timestamp: " + text }
        let bracket = text[text.index(after: space)...close]
        let db = bracket.dropFirst().prefix { $0 != " " }
        return "+TS [\(db) ADDR]" + rawEscaped(Array(text[text.index(after: close)...].utf8))
    }
}
