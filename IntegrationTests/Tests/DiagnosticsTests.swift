import Glibc
import XCTest

/// SLOWLOG, LATENCY and the latency histograms against redis-server 7.0: the same script on both servers
/// must leave the same slow log (ids, times, durations and client ports masked), the same latency events
/// after the same slow commands, LATENCY DOCTOR / GRAPH texts alike once numbers are masked, and INFO
/// latencystats / LATENCY HISTOGRAM in the same shapes; plus redis-cli's monitoring modes.
final class DiagnosticsTests: XCTestCase {
    private var redis: RawRedisServer!
    private var server: ServerUnderTest!

    override func setUpWithError() throws {
        guard RawRedisServer.isInstalled else { throw XCTSkip("redis-server is not installed at \(RawRedisServer.path)") }
        redis = try RawRedisServer(extraArguments: ["--enable-debug-command", "yes"])
        server = try ServerUnderTest.start(extraArguments: ["--enable-debug-command", "yes"])
    }

    override func tearDown() {
        redis?.stop()
        server?.stop(keepLog: (testRun?.totalFailureCount ?? 0) > 0)
    }

    // MARK: - SLOWLOG

    func testSlowlogMatchesRedis() throws {
        let expected = try slowlogScript(port: redis.port)
        let got = try slowlogScript(port: server.port)
        XCTAssertEqual(got.count, expected.count, "entries:\n\(got.joined(separator: "\n"))")
        for (e, g) in zip(expected, got) where e != g { XCTFail("redis: \(e)\nneedletail: \(g)") }
        XCTAssertGreaterThan(expected.count, 15)
    }

    /// Commands with everything logged, then SLOWLOG GET -1 with the volatile fields masked.
    private func slowlogScript(port: Int) throws -> [String] {
        let c = try RawClient(port: port)
        let d = try RawClient(port: port)
        XCTAssertEqual(try c.call("CONFIG", "SET", "slowlog-log-slower-than", "0", "slowlog-max-len", "100"), Array("+OK\r\n".utf8))
        _ = try c.call("SLOWLOG", "RESET")
        let many = ["RPUSH", "list"] + (0..<40).map { "e\($0)" }
        let commands: [[String]] = [
            ["SET", "k", "v"], ["GET", "k"], ["CLIENT", "SETNAME", "named"], ["ECHO", String(repeating: "x", count: 200)],
            many, ["AUTH", "nosuch"], ["AUTH", "u", "p"], ["HELLO", "2", "AUTH", "default", "wrong"],
            ["CONFIG", "SET", "requirepass", "secret", "maxmemory-samples", "5"], ["CONFIG", "SET", "requirepass", ""],
            ["EVAL", "redis.call('set', KEYS[1], 'x') return redis.call('get', KEYS[1])", "1", "lk"],
            ["NOSUCH", "command"], ["GET"], ["CLIENT", "SETNAME", ""],
            ["MULTI"], ["SET", "m", "1"], ["INCR", "m"], ["EXEC"],
        ]
        for command in commands { _ = try c.call(command.map { Array($0.utf8) }) }
        // A blocked command is logged once it is served (not when it blocks); one that times out is not (7.0).
        try d.send(command: [Array("BLPOP".utf8), Array("bl".utf8), Array("0".utf8)])
        rawSleepMillis(50)
        _ = try c.call("RPUSH", "bl", "v")
        _ = try d.readReply()
        _ = try d.call("BLPOP", "nothing", "0.01")
        _ = try c.call("CONFIG", "SET", "slowlog-log-slower-than", "-1")
        let reply = try c.call("SLOWLOG", "GET", "-1")
        guard case .aggregate(_, let entries?) = try RawReply.parse(reply) else {
            XCTFail("SLOWLOG GET: \(rawEscaped(reply))")
            return []
        }
        var out: [String] = []
        var previousID: Int?
        for entry in entries {
            guard case .aggregate(_, let fields?) = entry, fields.count == 6,
                  case .line(_, let id) = fields[0], case .line(_, let micros) = fields[2],
                  case .blob(_, let peer?) = fields[4] else {
                XCTFail("malformed entry \(entry)")
                continue
            }
            // Newest first, ids descending by one; durations are non-negative microseconds.
            let n = Int(String(decoding: id, as: UTF8.self))!
            if let previousID { XCTAssertEqual(n, previousID - 1) }
            previousID = n
            XCTAssertGreaterThanOrEqual(Int(String(decoding: micros, as: UTF8.self)) ?? -1, 0)
            let peerText = String(decoding: peer, as: UTF8.self)
            let maskedPeer = peerText.hasPrefix("127.0.0.1:") ? "127.0.0.1:*" : peerText
            out.append("\(fields[3]) \(maskedPeer) \(fields[5])")
        }
        return out
    }

    func testSlowlogLengthAndTruncation() throws {
        for port in [redis.port, server.port] {
            let c = try RawClient(port: port)
            _ = try c.call("CONFIG", "SET", "slowlog-log-slower-than", "0", "slowlog-max-len", "3")
            for i in 0..<10 { _ = try c.call("SET", "k\(i)", "v") }
            XCTAssertEqual(try c.call("SLOWLOG", "LEN"), Array(":3\r\n".utf8))
            // A shorter limit applies at the next entry, as in Redis: logging off (that CONFIG SET is not logged),
            // the limit lowered, then logging on (that one is, and trims).
            _ = try c.call("CONFIG", "SET", "slowlog-log-slower-than", "-1")
            _ = try c.call("CONFIG", "SET", "slowlog-max-len", "1")
            XCTAssertEqual(try c.call("SLOWLOG", "LEN"), Array(":3\r\n".utf8), "port \(port)")
            _ = try c.call("CONFIG", "SET", "slowlog-log-slower-than", "0")
            XCTAssertEqual(try c.call("SLOWLOG", "LEN"), Array(":1\r\n".utf8), "port \(port)")
            // RESET empties the log, then is logged itself.
            XCTAssertEqual(try c.call("SLOWLOG", "RESET"), Array("+OK\r\n".utf8))
            XCTAssertEqual(try c.call("SLOWLOG", "LEN"), Array(":1\r\n".utf8), "port \(port)")
            _ = try c.call("CONFIG", "SET", "slowlog-log-slower-than", "-1")
            _ = try c.call("SLOWLOG", "RESET")
            XCTAssertEqual(try c.call("SLOWLOG", "LEN"), Array(":0\r\n".utf8))
        }
    }

    // MARK: - LATENCY

    /// The same slow command on both servers: one "command" event with a latency of at least its sleep, in
    /// LATEST, HISTORY, GRAPH and DOCTOR, and also in the slow log with the default threshold (10 ms).
    func testSlowCommandShowsInLatencyAndSlowlog() throws {
        var doctors: [String] = []
        var graphs: [String] = []
        for port in [redis.port, server.port] {
            let c = try RawClient(port: port)
            _ = try c.call("CONFIG", "SET", "latency-monitor-threshold", "10")
            _ = try c.call("DEBUG", "SLEEP", "0.05")
            let latest = try RawReply.parse(try c.call("LATENCY", "LATEST"))
            guard case .aggregate(_, let events?) = latest, events.count == 1, case .aggregate(_, let fields?) = events[0],
                  fields.count == 4, case .blob(_, let name?) = fields[0], case .line(_, let last) = fields[2],
                  case .line(_, let max) = fields[3] else {
                XCTFail("LATENCY LATEST on \(port): \(latest)")
                continue
            }
            XCTAssertEqual(String(decoding: name, as: UTF8.self), "command")
            XCTAssertGreaterThanOrEqual(Int(String(decoding: last, as: UTF8.self)) ?? 0, 50)
            XCTAssertEqual(last, max)
            guard case .aggregate(_, let history?) = try RawReply.parse(try c.call("LATENCY", "HISTORY", "command")) else {
                XCTFail("LATENCY HISTORY")
                continue
            }
            XCTAssertEqual(history.count, 1)
            let slow = String(decoding: try c.call("SLOWLOG", "GET", "1"), as: UTF8.self)
            XCTAssertTrue(slow.contains("$5\r\nDEBUG\r\n$5\r\nSLEEP\r\n$4\r\n0.05\r\n"), slow)
            doctors.append(maskDigits(String(decoding: try c.call("LATENCY", "DOCTOR"), as: UTF8.self)))
            graphs.append(maskDigits(String(decoding: try c.call("LATENCY", "GRAPH", "command"), as: UTF8.self)))
            XCTAssertEqual(try c.call("LATENCY", "RESET", "COMMAND", "nosuch"), Array(":1\r\n".utf8))
            XCTAssertEqual(try c.call("LATENCY", "LATEST"), Array("*0\r\n".utf8))
        }
        XCTAssertEqual(doctors[1], doctors[0])
        XCTAssertEqual(graphs[1], graphs[0])
        XCTAssertTrue(doctors[0].contains("command: N latency spikes"), doctors[0])
    }

    /// INFO latencystats and LATENCY HISTOGRAM after the same calls: the same commands, calls and fields; the
    /// percentiles labelled as configured; CONFIG RESETSTAT clears them; latency-tracking no stops them.
    func testLatencyHistogramsAndInfo() throws {
        var shapes: [String] = []
        for port in [redis.port, server.port] {
            let c = try RawClient(port: port)
            _ = try c.call("CONFIG", "RESETSTAT")
            for i in 0..<100 { _ = try c.call("SET", "k\(i)", "v") }
            _ = try c.call("CONFIG", "SET", "latency-tracking-info-percentiles", "50 99.9 100")
            let info = String(decoding: try c.call("INFO", "latencystats"), as: UTF8.self)
            let line = info.split(separator: "\r\n").first { $0.hasPrefix("latency_percentiles_usec_set:") } ?? ""
            XCTAssertNotNil(line.range(of: #"^latency_percentiles_usec_set:p50=\d+\.\d{3},p99\.9=\d+\.\d{3},p100=\d+\.\d{3}$"#,
                                        options: .regularExpression), "\(port): \(line)")
            let histogram = try RawReply.parse(try c.call("LATENCY", "HISTOGRAM", "set", "nosuch", "config"))
            guard case .aggregate(_, let entries?) = histogram, entries.count >= 2,
                  case .aggregate(_, let fields?) = entries[1], fields.count == 4,
                  case .aggregate(_, let buckets?) = fields[3] else {
                XCTFail("LATENCY HISTOGRAM on \(port): \(histogram)")
                continue
            }
            XCTAssertEqual("\(fields[1])", "\(RawReply.line(UInt8(ascii: ":"), Array("100".utf8)))")
            // Cumulative counts at growing power-of-two buckets, the last one holding every call.
            var previous = (0, 0)
            for i in stride(from: 0, to: buckets.count, by: 2) {
                guard case .line(_, let bucket) = buckets[i], case .line(_, let count) = buckets[i + 1],
                      let b = Int(String(decoding: bucket, as: UTF8.self)), let n = Int(String(decoding: count, as: UTF8.self))
                else { XCTFail("bucket \(buckets[i])"); continue }
                XCTAssertGreaterThan(b, previous.0)
                XCTAssertGreaterThan(n, previous.1)
                previous = (b, n)
            }
            XCTAssertEqual(previous.1, 100)
            var names: [String] = []
            for i in stride(from: 0, to: entries.count, by: 2) { names.append("\(entries[i])") }
            shapes.append(names.sorted().joined(separator: ","))
            _ = try c.call("CONFIG", "RESETSTAT")
            _ = try c.call("CONFIG", "SET", "latency-tracking", "no")
            _ = try c.call("GET", "k1")
            XCTAssertEqual(try c.call("LATENCY", "HISTOGRAM", "get", "set"), Array("*0\r\n".utf8), "port \(port)")
            _ = try c.call("CONFIG", "SET", "latency-tracking", "yes")
        }
        XCTAssertEqual(shapes[1], shapes[0])
    }

    // MARK: - redis-cli's monitoring modes

    /// redis-cli --latency (raw), --latency-history, --latency-dist, --stat, --hotkeys run against needletail
    /// and print what they print against redis-server (numbers masked).
    func testRedisCliMonitoringModes() throws {
        guard access("/usr/bin/redis-cli", X_OK) == 0 else { throw XCTSkip("redis-cli is not installed") }
        var outputs: [[String]] = []
        for port in [redis.port, server.port] {
            let c = try RawClient(port: port)
            _ = try c.call("CONFIG", "SET", "maxmemory-policy", "allkeys-lfu")
            for i in 0..<20 { _ = try c.call("SET", "hot\(i)", "v") }
            for _ in 0..<50 { _ = try c.call("GET", "hot1") }
            var out: [String] = []
            out.append(maskDigits(run(["redis-cli", "-p", "\(port)", "--latency", "--raw", "-i", "1"])))
            out.append(firstLines(maskDigits(run(["timeout", "2", "stdbuf", "-o0", "redis-cli", "-p", "\(port)", "--latency-history", "-i", "1"])), 1))
            // (The memory column's unit and width follow each server's own used_memory.)
            let stat = maskDigits(run(["timeout", "2", "stdbuf", "-o0", "redis-cli", "-p", "\(port)", "--stat", "-i", "0.5"]))
            out.append(firstLines(stat.replacingOccurrences(of: #"N[BKMG]"#, with: "N", options: .regularExpression)
                .replacingOccurrences(of: #" +"#, with: " ", options: .regularExpression), 3))
            out.append(firstLines(maskDigits(run(["timeout", "2", "stdbuf", "-o0", "redis-cli", "-p", "\(port)", "--latency-dist", "-i", "1"])), 6))
            let hot = run(["redis-cli", "-p", "\(port)", "--hotkeys"])
            // The sampling order is each server's hash order; the hottest key and the summary are the same.
            out.append(maskDigits(hot.split(separator: "\n").filter { $0.hasPrefix("Sampled") || $0.hasPrefix("hot key found")
                && $0.hasSuffix("keyname: \"hot1\"") }.map(String.init).joined(separator: "\n")))
            outputs.append(out)
        }
        for (e, g) in zip(outputs[0], outputs[1]) { XCTAssertEqual(g, e) }
        XCTAssertTrue(outputs[1][4].contains("keyname: \"hotN\""), outputs[1][4])
    }

    private func run(_ argv: [String]) -> String {
        let path = "/tmp/diag-\(getpid())-\(argv.count).out"
        defer { unlink(path) }
        let command = argv.map { "'\($0)'" }.joined(separator: " ") + " > \(path) 2>&1"
        _ = system(command)
        return (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    }

    private func firstLines(_ text: String, _ n: Int) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).prefix(n).joined(separator: "\n")
    }

    /// Every run of digits (and a decimal point inside one) as "N".
    private func maskDigits(_ text: String) -> String {
        text.replacingOccurrences(of: #"[0-9]+(\.[0-9]+)?"#, with: "N", options: .regularExpression)
    }
}
