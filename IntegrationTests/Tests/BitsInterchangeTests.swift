import Glibc
import TestSupport
import XCTest

/// HyperLogLogs, bitmaps and geo sets made by each server and moved to the other, by GET/SET (their bytes)
/// and DUMP/RESTORE (the RDB payload): the receiving server reads them as the maker does (PFCOUNT, BITCOUNT,
/// BITPOS, GEOPOS), keeps editing them (PFADD, PFMERGE, SETBIT) to the same results, and both servers produce
/// the same bytes from the same commands. HLLs are made on both sides of the sparse/dense boundary.
final class BitsInterchangeTests: XCTestCase {
    private var needletail: ServerUnderTest!
    private var redis: RawRedisServer!
    /// [redis-server, needletail]
    private var sides: [RawClient] = []

    override func setUpWithError() throws {
        signal(SIGPIPE, SIG_IGN)
        guard RawRedisServer.isInstalled else { throw XCTSkip("redis-server is not installed at \(RawRedisServer.path)") }
        redis = try RawRedisServer()
        needletail = try ServerUnderTest.start(extraArguments: DifferentialRunner.debugEnabled)
        sides = try [redis.port, needletail.port].map { try RawClient(port: $0, timeoutMillis: 30_000) }
    }

    override func tearDown() {
        needletail?.stop(keepLog: (testRun?.totalFailureCount ?? 1) > 0)
        redis?.stop()
    }

    private func b(_ s: String) -> [UInt8] { Array(s.utf8) }

    /// The same commands on both servers; their replies must be equal.
    private func both(_ command: [[UInt8]], _ context: String = "", file: StaticString = #filePath, line: UInt = #line) throws {
        let replies = try sides.map { try $0.call(command) }
        XCTAssertEqual(replyText(replies[1]), replyText(replies[0]),
                       "\(context) \(rawEscaped(Array(command.joined(separator: [32])), limit: 100))", file: file, line: line)
    }

    /// Fills the same HLLs, bitmaps and geo set on both servers (pipelined).
    private func fill(_ rng: inout SeededRandom) throws -> [(key: String, kind: String)] {
        var commands: [[[UInt8]]] = []
        var keys: [(String, String)] = []
        for (name, count) in [("hll:tiny", 3), ("hll:small", 150), ("hll:edge", 900), ("hll:dense", 20_000)] {
            let base = rng.below(1_000_000)
            var batch: [[UInt8]] = [b("PFADD"), b(name)]
            for i in 0..<count {
                batch.append(b("element:\(base + i)"))
                if batch.count == 1000 { commands.append(batch); batch = [b("PFADD"), b(name)] }
            }
            commands.append(batch)
            keys.append((name, "hll"))
        }
        commands.append([b("PFMERGE"), b("hll:merged"), b("hll:small"), b("hll:edge")])
        keys.append(("hll:merged", "hll"))
        for (name, span) in [("bm:small", 64), ("bm:mid", 10_000), ("bm:big", 2_000_000)] {
            for _ in 0..<200 { commands.append([b("SETBIT"), b(name), b(String(rng.below(span))), b("1")]) }
            commands.append([b("BITFIELD"), b(name), b("SET"), b("i13"), b("#3"), b("-77"), b("INCRBY"), b("u9"), b("5"), b("300")])
            keys.append((name, "bitmap"))
        }
        var geo: [[UInt8]] = [b("GEOADD"), b("geo")]
        for i in 0..<300 {
            geo += [b(String(Double(rng.between(-180_000_000, 180_000_000)) / 1e6)),
                    b(String(Double(rng.between(-85_000_000, 85_000_000)) / 1e6)), b("p\(i)")]
        }
        commands.append(geo)
        keys.append(("geo", "geo"))
        for c in sides { _ = try c.pipelined(commands) }
        return keys
    }

    /// What a server reads from a value: the same on both sides for every way the value travelled.
    private func readings(_ c: RawClient, _ key: String, _ kind: String) throws -> [String] {
        switch kind {
        case "hll":
            return [replyText(try c.call("PFCOUNT", key)), replyText(try c.call("PFDEBUG", "ENCODING", key)),
                    replyText(try c.call("PFCOUNT", key, "hll:small", "hll:dense"))]
        case "bitmap":
            return [replyText(try c.call("BITCOUNT", key)), replyText(try c.call("BITPOS", key, "1")),
                    replyText(try c.call("BITPOS", key, "0")), replyText(try c.call("BITCOUNT", key, "5", "-3", "BIT")),
                    replyText(try c.call("BITFIELD_RO", key, "GET", "i13", "#3", "GET", "u9", "5"))]
        default:
            return [replyText(try c.call("ZCARD", key)), replyText(try c.call("GEOPOS", key, "p0", "p1", "p299")),
                    replyText(try c.call("GEOSEARCH", key, "FROMMEMBER", "p0", "BYRADIUS", "3000", "km", "ASC", "WITHDIST"))]
        }
    }

    func testValuesMoveBothWaysByGetSetAndDumpRestore() throws {
        for seed: UInt64 in 1...3 {
            var rng = SeededRandom(seed: seed)
            try both(words("FLUSHALL"))
            let keys = try fill(&rng)
            for (key, kind) in keys {
                let context = "seed \(seed) \(key)"
                // Made the same way, the values are the same bytes (strings) and read the same.
                if kind != "geo" { try both(words("GET", key), context) }
                let original = try sides.map { try readings($0, key, kind) }
                XCTAssertEqual(original[1], original[0], context)
                for (from, to) in [(0, 1), (1, 0)] {
                    // GET/SET (strings only) and DUMP/RESTORE, into a fresh key on the other server.
                    if kind != "geo" {
                        let bytes = try XCTUnwrap(bulkPayload(try sides[from].call("GET", key)), context)
                        XCTAssertEqual(replyText(try sides[to].call([b("SET"), b("copy"), bytes])), "+OK\r\n", context)
                        XCTAssertEqual(try readings(sides[to], "copy", kind), original[from], "\(context) SET on side \(to)")
                    }
                    let payload = try XCTUnwrap(bulkPayload(try sides[from].call("DUMP", key)), context)
                    XCTAssertEqual(replyText(try sides[to].call([b("RESTORE"), b("restored"), b("0"), payload, b("REPLACE")])),
                                   "+OK\r\n", "\(context) RESTORE on side \(to)")
                    XCTAssertEqual(try readings(sides[to], "restored", kind), original[from], "\(context) RESTORE on side \(to)")
                    // Edited after the move, the moved value keeps up with the original on the maker.
                    let edit: [[UInt8]]
                    switch kind {
                    case "hll": edit = [b("PFADD"), b("KEY"), b("late:1"), b("late:2"), b("late:3")]
                    case "bitmap": edit = [b("SETBIT"), b("KEY"), b("12345"), b("1")]
                    default: edit = [b("GEOADD"), b("KEY"), b("1.5"), b("2.5"), b("late")]
                    }
                    func with(_ k: String) -> [[UInt8]] { edit.map { $0 == b("KEY") ? b(k) : $0 } }
                    _ = try sides[to].call(with("restored"))
                    _ = try sides[from].call([b("COPY"), b(key), b("scratch"), b("REPLACE")])
                    _ = try sides[from].call(with("scratch"))
                    XCTAssertEqual(try readings(sides[to], "restored", kind), try readings(sides[from], "scratch", kind),
                                   "\(context) edited after the move to side \(to)")
                    if kind != "geo" {
                        XCTAssertEqual(replyText(try sides[to].call("GET", "restored")), replyText(try sides[from].call("GET", "scratch")),
                                       "\(context) bytes after the edit on side \(to)")
                    }
                    _ = try sides[from].call("DEL", "scratch")
                }
            }
        }
    }
}
