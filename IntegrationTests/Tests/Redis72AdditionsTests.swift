import Glibc
import TestSupport
import XCTest

/// Replies that redis-server 7.2 added to commands 7.0 has, which needletail gives because INFO says 7.2.4
/// and clients (redis-py's `zrank(..., withscore=True)`) send them. The oracle is 7.0, so each is checked
/// against what 7.0 answers to the commands the 7.2 form combines; and INFO errorstats, which both versions
/// print with the error code's bytes as sent.
final class Redis72AdditionsTests: XCTestCase {
    private var oracle: RawRedisServer?
    private var server: ServerUnderTest?

    override func setUpWithError() throws {
        guard RawRedisServer.isInstalled else { throw XCTSkip("redis-server is not installed") }
        oracle = try RawRedisServer()
        server = try ServerUnderTest.start()
    }

    override func tearDown() {
        server?.stop()
        oracle?.stop()
    }

    private func clients(resp3: Bool) throws -> (oracle: RawClient, ours: RawClient) {
        let r = try RawClient(port: oracle!.port), n = try RawClient(port: server!.port)
        if resp3 { _ = try r.call("HELLO", "3"); _ = try n.call("HELLO", "3") }
        return (r, n)
    }

    /// ZRANK/ZREVRANK key member WITHSCORE is [rank, score]: the oracle's ZRANK reply and its ZSCORE reply
    /// (the same double formatting) in a two-element array; a missing key or member a null array. Sorted
    /// sets in both encodings, scores that format differently (integers, fractions, exponents, infinities,
    /// -0), members that tie on score.
    func testRankWithScoreIsRankAndScore() throws {
        var rng = SeededRandom(seed: 0x72_2a)
        let scores = ["0", "-0", "1", "-1", "0.5", "1e300", "-1e-300", "inf", "-inf", "3.0000000000000004",
                      "9007199254740993", "123456789012345678", "2.5e-5", "7"]
        for resp3 in [false, true] {
            let (r, n) = try clients(resp3: resp3)
            for (key, size) in [("small", 12), ("big", 300)] {
                var args = ["ZADD", key]
                for i in 0..<size { args += [scores[Int(rng.next() % UInt64(scores.count))], "m\(i % 7 == 0 ? "" : String(i))x\(i)"] }
                XCTAssertEqual(try r.call(args.map { Array($0.utf8) }), try n.call(args.map { Array($0.utf8) }))
                XCTAssertEqual(try r.call("OBJECT", "ENCODING", key), try n.call("OBJECT", "ENCODING", key))
                for i in stride(from: 0, to: size + 3, by: size > 100 ? 7 : 1) {
                    let member = i < size ? "m\(i % 7 == 0 ? "" : String(i))x\(i)" : "absent\(i)"
                    for command in ["ZRANK", "ZREVRANK"] {
                        let rank = try r.call(command, key, member), score = try r.call("ZSCORE", key, member)
                        XCTAssertEqual(try n.call(command, key, member), rank)
                        let expected = rank.starts(with: Array(":".utf8)) ? Array("*2\r\n".utf8) + rank + score
                            : Array((resp3 ? "_\r\n" : "*-1\r\n").utf8)
                        let withScore = try n.call(command, key, member, i % 2 == 0 ? "WITHSCORE" : "withScore")
                        XCTAssertEqual(withScore, expected, "\(command) \(key) \(member) resp3=\(resp3): \(rawEscaped(withScore))")
                    }
                }
            }
            // A missing key: a null array with WITHSCORE, a null without.
            XCTAssertEqual(try n.call("ZRANK", "nokey", "m"), try r.call("ZRANK", "nokey", "m"))
            XCTAssertEqual(try n.call("ZREVRANK", "nokey", "m", "WITHSCORE"), Array((resp3 ? "_\r\n" : "*-1\r\n").utf8))
            // The option is read before the key: a wrong word is a syntax error even on a missing key or a
            // string, one argument more an arity error; the key's type is checked after.
            _ = try n.call("SET", "str", "x")
            for key in ["nokey", "str", "small"] {
                XCTAssertEqual(try n.call("ZRANK", key, "m", "WITHSCORES"), Array("-ERR syntax error\r\n".utf8))
                XCTAssertEqual(try n.call("ZREVRANK", key, "m", "WITHSCORE", "x"),
                               Array("-ERR wrong number of arguments for 'zrevrank' command\r\n".utf8))
                XCTAssertEqual(try n.call("ZRANK", key, "m", "WITHSCORE", "WITHSCORE"),
                               Array("-ERR wrong number of arguments for 'zrank' command\r\n".utf8))
            }
            XCTAssertEqual(try n.call("ZRANK", "str", "m", "WITHSCORE"),
                           Array("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n".utf8))
            XCTAssertEqual(try n.call("ZRANK", "small"), Array("-ERR wrong number of arguments for 'zrank' command\r\n".utf8))
            _ = try r.call("FLUSHALL")
            _ = try n.call("FLUSHALL")
        }
    }

    /// INFO errorstats names an error by its first word as the reply carried it, bytes that are not UTF-8
    /// included (redis-py's test_info_with_non_utf8_errorstat); needletail printed U+FFFD for them.
    func testErrorstatsKeepTheCodesBytes() throws {
        for resp3 in [false, true] {
            let (r, n) = try clients(resp3: resp3)
            for c in [r, n] {
                _ = try c.call("CONFIG", "RESETSTAT")
                _ = try c.call([Array("EVAL".utf8), Array("return redis.error_reply('\u{1}\u{7f}BAD oops')".utf8) , Array("0".utf8)])
                _ = try c.call([Array("EVAL".utf8), [UInt8]("return redis.error_reply('".utf8) + [0xff, 0xfe] + Array("BAD oops')".utf8), Array("0".utf8)])
                _ = try c.call("GET")
            }
            let expected = try r.call("INFO", "errorstats")
            XCTAssertEqual(try n.call("INFO", "errorstats"), expected, rawEscaped(expected))
            XCTAssertTrue(expected.indices.contains { expected[$0...].starts(with: Array("errorstat_".utf8) + [0xff, 0xfe]) })
        }
    }
}
