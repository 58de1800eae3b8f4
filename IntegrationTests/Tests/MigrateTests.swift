import Glibc
import XCTest

/// MIGRATE against redis-server 7.0: the same script run with redis-server and with needletail as the
/// source, each migrating into a fresh redis-server target, gives the same replies, leaves the same keys on
/// both sides (values, TTLs, databases).
final class MigrateTests: XCTestCase {
    func testMigrateMatchesRedis() throws {
        guard RawRedisServer.isInstalled else { throw XCTSkip("redis-server is not installed at \(RawRedisServer.path)") }
        let redisSource = try RawRedisServer()
        defer { redisSource.stop() }
        let server = try ServerUnderTest.start()
        var passed = false
        defer { server.stop(keepLog: !passed) }
        let expected = try script(source: redisSource.port)
        let got = try script(source: server.port)
        XCTAssertEqual(got.count, expected.count)
        for (e, g) in zip(expected, got) where e != g { XCTFail("redis: \(e)\nneedletail: \(g)") }
        passed = testRun?.totalFailureCount == 0
    }

    private func script(source: Int) throws -> [String] {
        let target = try RawRedisServer()
        defer { target.stop() }
        let c = try RawClient(port: source)
        let t = try RawClient(port: target.port)
        _ = try t.call("CONFIG", "SET", "requirepass", "pw")
        var out: [String] = []
        func run(_ args: [String]) throws {
            let label = args.map { $0 == port ? "<target>" : $0 == closed ? "<closed>" : $0 }.joined(separator: " ")
            out.append(label + " -> " + rawEscaped(try c.call(args.map { Array($0.utf8) })))
        }
        let host = "127.0.0.1", port = "\(target.port)", closed = "\(freeTCPPort())"
        for command in [["SET", "s", "v"], ["RPUSH", "l", "a", "b", "c"], ["HSET", "h", "f", "v"], ["SET", "ttl", "x", "PX", "500000"],
                        ["ZADD", "z", "1", "m"], ["SADD", "big"] + (0..<300).map { "m\($0)" }] {
            _ = try c.call(command.map { Array($0.utf8) })
        }
        try run(["MIGRATE", host, port, "s", "0", "1000"])                            // NOAUTH from the target
        try run(["MIGRATE", host, port, "s", "0", "1000", "AUTH", "wrong"])
        try run(["MIGRATE", host, port, "s", "0", "1000", "AUTH", "pw"])
        try run(["MIGRATE", host, port, "s", "0", "1000", "AUTH", "pw"])              // gone: NOKEY
        try run(["MIGRATE", host, port, "", "3", "1000", "AUTH2", "default", "pw", "KEYS", "l", "h", "nokey", "ttl"])
        try run(["MIGRATE", host, port, "", "3", "1000", "AUTH", "pw", "COPY", "KEYS", "z", "big"])
        try run(["MIGRATE", host, port, "z", "3", "1000", "AUTH", "pw"])              // BUSYKEY
        try run(["MIGRATE", host, port, "z", "3", "1000", "AUTH", "pw", "REPLACE"])
        try run(["MIGRATE", host, port, "x", "0", "1000", "KEYS", "big"])
        try run(["MIGRATE", host, port, "big", "0", "abc"])
        try run(["MIGRATE", host, port, "big", "x", "10"])
        try run(["MIGRATE", host, port, "big", "0", "1000", "AUTH"])
        try run(["MIGRATE", host, port, "big", "0", "1000", "AUTH2", "u"])
        try run(["MIGRATE", host, port, "big", "0", "1000", "NOSUCH"])
        try run(["MIGRATE", host, closed, "big", "0", "200"])
        try run(["DBSIZE"])
        try run(["EXISTS", "big"])
        // The target's contents, database by database (TTL within the second).
        for db in ["0", "3"] {
            _ = try t.call("SELECT", db)
            let keys = String(decoding: try t.call("KEYS", "*"), as: UTF8.self).split(separator: "\r\n").filter { !$0.hasPrefix("*") && !$0.hasPrefix("$") }
            for key in keys.sorted() {
                // A hashtable set's payload lists members in its table's order (each server's own): its members instead.
                let isSet = try t.call("TYPE", String(key)) == Array("+set\r\n".utf8)
                let value = isSet ? String(decoding: try t.call("SMEMBERS", String(key)), as: UTF8.self).split(separator: "\r\n").sorted().joined(separator: ",")
                    : rawEscaped(try t.call("DUMP", String(key)))
                out.append("target \(db) \(key): \(value) ttl>0: \(String(decoding: try t.call("TTL", String(key)), as: UTF8.self).hasPrefix(":4"))")
            }
        }
        return out
    }
}
