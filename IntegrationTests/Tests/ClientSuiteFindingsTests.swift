import Glibc
import TestSupport
import XCTest

/// What running client libraries' own test suites against needletail and redis-server found (redis-py 8.2's
/// tests/, fakeredis 2.41's real-server tests; see the README's "Compatibility"), checked here where the
/// seeded differential test cannot: 7.2's additions that a 7.0 oracle refuses (checked against what 7.0
/// answers to the commands the 7.2 form combines), replies that need several connections' bytes or a
/// normalised time field.
final class ClientSuiteFindingsTests: XCTestCase {
    private var oracle: RawRedisServer?
    private var server: ServerUnderTest?

    override func setUpWithError() throws {
        guard RawRedisServer.isInstalled else { throw XCTSkip("redis-server is not installed") }
        oracle = try RawRedisServer()
        server = try ServerUnderTest.start(extraArguments: ["--enable-debug-command", "yes"])
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

    /// RESET turns CLIENT REPLY OFF back on (its own +RESET is then sent), leaves a pending CLIENT REPLY SKIP
    /// in force for itself, keeps CLIENT NO-EVICT as 7.0 does, and turns 7.2's NO-TOUCH off as 7.2 does
    /// (fakeredis's test_reset_clears_client_flags; needletail kept replies off after RESET).
    func testResetClearsReplyModeAndNoTouch() throws {
        func flags(_ c: RawClient) throws -> String {
            let info = String(decoding: try c.call("CLIENT", "INFO"), as: UTF8.self)
            return info.split(separator: " ").first { $0.hasPrefix("flags=") }.map(String.init) ?? "?"
        }
        var streams: [[UInt8]] = []
        for port in [oracle!.port, server!.port] {
            let c = try RawClient(port: port)
            let pipeline: [[String]] = [["CLIENT", "REPLY", "OFF"], ["SET", "k", "v"], ["RESET"], ["GET", "k"],
                                        ["CLIENT", "REPLY", "SKIP"], ["RESET"], ["PING", "after-skip"],
                                        ["CLIENT", "REPLY", "OFF"], ["CLIENT", "REPLY", "SKIP"], ["RESET"], ["PING", "end"]]
            try c.send(pipeline.flatMap { RawClient.encode($0.map { Array($0.utf8) }) })
            var got: [UInt8] = []
            while Array(got.suffix(9)) != Array("$3\r\nend\r\n".utf8) { got += try c.readFrame() }
            streams.append(got)
            _ = try c.call("CLIENT", "NO-EVICT", "ON")
            _ = try c.call("RESET")
            XCTAssertEqual(try flags(c), "flags=e", "port \(port)")
        }
        XCTAssertEqual(rawEscaped(streams[1]), rawEscaped(streams[0]))
        let c = try RawClient(port: server!.port)
        _ = try c.call("CLIENT", "NO-TOUCH", "ON")
        XCTAssertEqual(try flags(c), "flags=T")
        XCTAssertEqual(try c.call("RESET"), Array("+RESET\r\n".utf8))
        XCTAssertEqual(try flags(c), "flags=N")
    }

    /// XREADGROUP with an id reads the consumer's pending entries after it, and counts a delivery only for
    /// entries still in the stream (fakeredis's test_xreadgroup_pel_read; needletail started at the id and
    /// counted deleted entries). XPENDING's idle times are dropped from the comparison.
    func testConsumerHistoryReadsAfterTheIdAndCountsLiveEntries() throws {
        let steps: [[String]] = [
            ["XADD", "s", "1-1", "f", "a"], ["XADD", "s", "1-2", "f", "b"], ["XADD", "s", "2-0", "f", "c"],
            ["XGROUP", "CREATE", "s", "g", "0"], ["XREADGROUP", "GROUP", "g", "alice", "COUNT", "2", "STREAMS", "s", ">"],
            ["XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", "1-1"], ["XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", "0"],
            ["XREADGROUP", "GROUP", "g", "bob", "STREAMS", "s", ">"], ["XDEL", "s", "1-2"],
            ["XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", "1-1"], ["XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", "0"],
        ]
        var pending: [[String]] = []
        for port in [oracle!.port, server!.port] {
            let c = try RawClient(port: port)
            var replies: [[UInt8]] = []
            for step in steps { replies.append(try c.call(step.map { Array($0.utf8) })) }
            pending.append(replies.map { rawEscaped($0) })
            guard case .aggregate(_, let entries?) = try RawReply.parse(try c.call("XPENDING", "s", "g", "-", "+", "10")) else {
                return XCTFail("XPENDING on port \(port)")
            }
            pending.append(try entries.map { entry -> String in
                guard case .aggregate(_, let f?) = entry, f.count == 4 else { throw RawClientError.malformed("XPENDING entry") }
                return "\(f[0]) \(f[1]) \(f[3])"  // id, consumer, deliveries (not f[2], the idle time)
            })
        }
        XCTAssertEqual(pending[2], pending[0], "replies")
        XCTAssertEqual(pending[3], pending[1], "XPENDING: id, consumer, deliveries")
    }

    /// 7.2's consumer activity (redis-py's test_xinfo_consumers reads `inactive` from a 7.2 server): XINFO
    /// CONSUMERS' `inactive` and XINFO STREAM FULL's `active-time` move only when a read delivers entries (not
    /// with NOACK, not an empty read, not a history read) or a claim claims some; -1 until then. Without them
    /// the replies are redis-server 7.0's (times within a second). After DEBUG RELOAD (our RDB is version 10,
    /// which has no active time) the active time is the seen time, as 7.2 loads such files.
    func testConsumerActiveTimes() throws {
        func consumers(_ c: RawClient) throws -> [String: [String: Int64]] {
            guard case .aggregate(_, let list?) = try RawReply.parse(try c.call("XINFO", "CONSUMERS", "s", "g")) else { return [:] }
            var out: [String: [String: Int64]] = [:]
            for case .aggregate(_, let f?) in list {
                var fields: [String: Int64] = [:], name = ""
                for k in stride(from: 0, to: f.count - 1, by: 2) {
                    guard case .blob(_, let key?) = f[k] else { continue }
                    if case .blob(_, let v?) = f[k + 1] { name = String(decoding: v, as: UTF8.self) }
                    if let v = f[k + 1].integer { fields[String(decoding: key, as: UTF8.self)] = v }
                }
                out[name] = fields
            }
            return out
        }
        let r = try RawClient(port: oracle!.port), n = try RawClient(port: server!.port)
        let steps: [[String]] = [
            ["XADD", "s", "1-1", "f", "a"], ["XADD", "s", "1-2", "f", "b"], ["XGROUP", "CREATE", "s", "g", "0"],
            ["XGROUP", "CREATECONSUMER", "s", "g", "idler"], ["XREADGROUP", "GROUP", "g", "noack", "NOACK", "COUNT", "1", "STREAMS", "s", ">"],
            ["XREADGROUP", "GROUP", "g", "reader", "STREAMS", "s", ">"], ["XREADGROUP", "GROUP", "g", "empty", "STREAMS", "s", ">"],
            ["XREADGROUP", "GROUP", "g", "empty", "STREAMS", "s", "0"], ["XCLAIM", "s", "g", "nothing", "3600000", "1-2"],
        ]
        for step in steps { XCTAssertEqual(try n.call(step.map { Array($0.utf8) }), try r.call(step.map { Array($0.utf8) }), "\(step)") }
        var ours = try consumers(n)
        XCTAssertEqual(Set(ours.keys), ["idler", "noack", "reader", "empty"])  // the claim claimed nothing
        for name in ["idler", "noack", "empty"] { XCTAssertEqual(ours[name]?["inactive"], -1, name) }
        XCTAssertTrue((0...1000).contains(ours["reader"]?["inactive"] ?? -1), "\(ours)")
        XCTAssertEqual(ours.mapValues { $0.filter { $0.key != "inactive" && $0.key != "idle" } },
                       try consumers(r).mapValues { $0.filter { $0.key != "idle" } })
        // A claim that claims: `nothing` (created now) takes 1-2 (idle 0 ms is enough).
        XCTAssertEqual(try n.call("XCLAIM", "s", "g", "nothing", "0", "1-2", "JUSTID"), Array("*1\r\n$3\r\n1-2\r\n".utf8))
        ours = try consumers(n)
        XCTAssertTrue((0...1000).contains(ours["nothing"]?["inactive"] ?? -1), "\(ours)")
        // XINFO STREAM FULL: active-time is -1 or a Unix time in ms, right after seen-time; the rest is 7.0's.
        let full = try RawReply.parse(try n.call("XINFO", "STREAM", "s", "FULL"))
        let text = String(decoding: full.encoded, as: UTF8.self)
        XCTAssertTrue(text.contains("$9\r\nseen-time\r\n:"), text)
        XCTAssertTrue(text.contains("$11\r\nactive-time\r\n:-1\r\n"), text)
        XCTAssertEqual(try n.call("DEBUG", "RELOAD"), Array("+OK\r\n".utf8))
        for (name, fields) in try consumers(n) {
            XCTAssertTrue(abs((fields["inactive"] ?? .max) - (fields["idle"] ?? 0)) <= 1000, "after DEBUG RELOAD: \(name) \(fields)")
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
