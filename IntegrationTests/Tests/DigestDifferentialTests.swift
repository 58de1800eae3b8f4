import Glibc
import TestSupport
import XCTest

/// DEBUG DIGEST and DEBUG DIGEST-VALUE against redis-server 7.0: the same seeded random dataset is written to
/// both servers through the protocol, then the dataset digest and every key's value digest must be equal.
/// This is what the persistence interchange tests rely on: equal digests for equal data, whatever each
/// server's encodings.
///
/// A dataset covers the five types in their small and large encodings (hashes past 128 entries or with
/// values past 64 bytes, sets past 512 integers and with strings, sorted sets past 128 members, lists long
/// enough for several nodes), long and binary strings, binary keys, integer-looking elements, several
/// databases, and TTLs set with PEXPIREAT at fixed far-future times (so both sides hold the same
/// expiry). Sorted-set scores include integers, 0.1 (hashed as "%.17g": "0.10000000000000001"), -0, 1e300,
/// subnormals and the infinities.
///
/// `DIGEST_SEEDS` (default 4) and `DIGEST_SEED` (one dataset) select the runs.
final class DigestDifferentialTests: XCTestCase {
    private var needletail: ServerUnderTest!
    private var redis: RawRedisServer!

    override func setUpWithError() throws {
        signal(SIGPIPE, SIG_IGN)
        guard RawRedisServer.isInstalled else { throw XCTSkip("redis-server is not installed at \(RawRedisServer.path)") }
        redis = try RawRedisServer()  // DEBUG enabled, as needletail here
        needletail = try ServerUnderTest.start(extraArguments: DifferentialRunner.debugEnabled)
    }

    override func tearDown() {
        needletail?.stop(keepLog: (testRun?.totalFailureCount ?? 1) > 0)
        redis?.stop()
    }

    private func clients(resp: Int = 2) throws -> [RawClient] {
        let sides = try [redis.port, needletail.port].map { try RawClient(port: $0, timeoutMillis: 30_000) }
        if resp == 3 { for c in sides { _ = try c.call("HELLO", "3") } }
        return sides
    }

    private static let zeros = "+" + String(repeating: "0", count: 40) + "\r\n"

    // MARK: - Random datasets

    func testSeededDatasetsDigestAlike() throws {
        let count = Int(env("DIGEST_SEEDS") ?? "") ?? 4
        let seeds: [UInt64] = env("DIGEST_SEED").flatMap { UInt64($0) }.map { [$0] } ?? (1...UInt64(count)).map { $0 }
        let sides = try clients()
        for seed in seeds {
            for c in sides { XCTAssertEqual(replyText(try c.call("FLUSHALL")), "+OK\r\n") }
            let dataset = DigestDataset(seed: seed)
            // Every write must have the same reply on both sides, or the datasets differ before the digest.
            let replies = try sides.map { try $0.pipelined(dataset.commands) }
            for (i, command) in dataset.commands.enumerated() where replies[0][i] != replies[1][i] {
                return XCTFail("seed \(seed): \(rawEscaped(Array(command.joined(separator: [32])), limit: 120)) answered "
                    + "\(replyText(replies[0][i])) by redis-server, \(replyText(replies[1][i])) by needletail")
            }
            let digests = try sides.map { try $0.call("DEBUG", "DIGEST") }
            XCTAssertEqual(replyText(digests[1]), replyText(digests[0]), "seed \(seed): DEBUG DIGEST (rerun with DIGEST_SEED=\(seed))")
            XCTAssertNotEqual(replyText(digests[0]), Self.zeros, "seed \(seed): empty dataset")
            for (db, keys) in dataset.keysByDatabase.sorted(by: { $0.key < $1.key }) {
                let command = [Array("DEBUG".utf8), Array("DIGEST-VALUE".utf8)] + keys + [Array("no-such-key".utf8)]
                let values = try sides.map { c -> RawReply in
                    _ = try c.call("SELECT", "\(db)")
                    return try RawReply.parse(c.call(command))
                }
                guard case .aggregate(_, let ours?) = values[0], case .aggregate(_, let theirs?) = values[1],
                      ours.count == keys.count + 1, theirs.count == ours.count else {
                    XCTFail("seed \(seed) db \(db): DIGEST-VALUE shapes differ: \(values)")
                    continue
                }
                for (i, key) in keys.enumerated() where ours[i] != theirs[i] {
                    XCTFail("seed \(seed) db \(db): DIGEST-VALUE of \(rawEscaped(key, limit: 60)) (\(dataset.kind[key] ?? "?")): "
                        + "redis \(shown(ours[i])), needletail \(shown(theirs[i])) (rerun with DIGEST_SEED=\(seed))")
                }
                XCTAssertEqual(ours.last, .line(UInt8(ascii: "+"), Array(String(repeating: "0", count: 40).utf8)))
            }
            for c in sides { _ = try c.call("SELECT", "0") }
        }
    }

    // MARK: - Edges

    func testEmptyDatasetIsZeros() throws {
        for c in try clients() {
            XCTAssertEqual(replyText(try c.call("FLUSHALL")), "+OK\r\n")
            XCTAssertEqual(replyText(try c.call("DEBUG", "DIGEST")), Self.zeros)
        }
    }

    /// The reply shapes, byte for byte, in RESP2 and RESP3: status replies, an array of them, an empty array
    /// without keys, and the wrong-arity error of DIGEST.
    func testReplyShapesInBothProtocols() throws {
        for resp in [2, 3] {
            let sides = try clients(resp: resp)
            let script: [[String]] = [
                ["FLUSHALL"], ["SET", "k", "v"], ["DEBUG", "DIGEST"], ["DEBUG", "DIGEST-VALUE", "k", "missing"],
                ["DEBUG", "DIGEST-VALUE"], ["DEBUG", "DIGEST", "extra"], ["debug", "digest-VALUE", "k"],
            ]
            for command in script {
                let replies = try sides.map { try $0.call(command.map { Array($0.utf8) }) }
                XCTAssertEqual(replyText(replies[1]), replyText(replies[0]), "RESP\(resp): \(command)")
            }
        }
    }

    /// A key past its time that is still stored (active expiry off, nothing has looked it up) counts, as in
    /// Redis: both digests see it, and DIGEST-VALUE neither deletes it nor hides it.
    func testExpiredButStoredKeysCount() throws {
        let sides = try clients()
        for c in sides {
            _ = try c.call("FLUSHALL")
            _ = try c.call("DEBUG", "SET-ACTIVE-EXPIRE", "0")
            _ = try c.call("SET", "live", "1")
            _ = try c.call("SET", "gone", "2", "PX", "1")
        }
        rawSleepMillis(20)
        let digests = try sides.map { try $0.call("DEBUG", "DIGEST") }
        XCTAssertEqual(replyText(digests[1]), replyText(digests[0]))
        let values = try sides.map { try $0.call("DEBUG", "DIGEST-VALUE", "gone") }
        XCTAssertEqual(replyText(values[1]), replyText(values[0]))
        XCTAssertNotEqual(replyText(values[0]), "*1\r\n" + Self.zeros)
        for c in sides {
            XCTAssertEqual(replyText(try c.call("DBSIZE")), ":2\r\n", "DIGEST-VALUE deleted the expired key")
            _ = try c.call("DEBUG", "SET-ACTIVE-EXPIRE", "1")
        }
    }
}

private func env(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }

/// A status reply's text (a digest), anything else as parsed.
private func shown(_ reply: RawReply) -> String {
    if case .line(_, let bytes) = reply { return String(decoding: bytes, as: UTF8.self) }
    return "\(reply)"
}

/// The commands that build one random dataset, and its keys per database.
private struct DigestDataset {
    private(set) var commands: [[[UInt8]]] = []
    private(set) var keysByDatabase: [Int: [[UInt8]]] = [:]
    /// What each key holds, for failure messages.
    private(set) var kind: [[UInt8]: String] = [:]
    private var rng: SeededRandom
    private var database = 0

    init(seed: UInt64) {
        rng = SeededRandom(seed: seed &* 0x9E37_79B9 &+ 17)
        var databases = [0, 1 + rng.below(15)]
        if rng.oneIn(2) { databases.append(1 + rng.below(15)) }
        for db in Set(databases).sorted() {
            database = db
            add(["SELECT", "\(db)"])
            for _ in 0..<rng.between(15, 30) { addKey() }
        }
        add(["SELECT", "0"])
    }

    private mutating func add(_ words: [String]) { commands.append(words.map { Array($0.utf8) }) }
    private mutating func add(_ words: [[UInt8]]) { commands.append(words) }

    // MARK: Keys

    private mutating func addKey() {
        var key: [UInt8]
        repeat {
            key = rng.oneIn(4) ? randomBytes(rng.between(1, 20)) : Array("key:\(rng.below(1_000_000))".utf8)
        } while keysByDatabase[database, default: []].contains(key)
        keysByDatabase[database, default: []].append(key)
        let type = rng.below(5)
        switch type {
        case 0: addString(key)
        case 1: addList(key)
        case 2: addSet(key)
        case 3: addSortedSet(key)
        default: addHash(key)
        }
        if rng.oneIn(4) {
            // Fixed far-future times: both servers store the same expiry and nothing expires during the test.
            add([Array("PEXPIREAT".utf8), key, Array("\(4_000_000_000_000 + rng.below(1_000_000_000))".utf8)])
            kind[key, default: ""] += " with TTL"
        }
    }

    private mutating func large() -> Bool { rng.oneIn(3) }

    private mutating func addString(_ key: [UInt8]) {
        let value: [UInt8]
        switch rng.below(5) {
        case 0: value = Array("\(Int64.random(in: Int64.min...Int64.max, using: &rng))".utf8)  // "int" encoding
        case 1: value = randomBytes(rng.between(1000, 6000))
        case 2: value = []
        default: value = element()
        }
        kind[key] = "string of \(value.count) bytes"
        add([Array("SET".utf8), key, value])
    }

    private mutating func addList(_ key: [UInt8]) {
        let n = large() ? rng.between(300, 1200) : rng.between(1, 30)
        var elements: [[UInt8]] = []
        for _ in 0..<n { elements.append(rng.oneIn(20) ? randomBytes(rng.between(100, 2000)) : element()) }
        kind[key] = "list of \(n)"
        pushInBatches(key, elements, command: rng.oneIn(2) ? "RPUSH" : "LPUSH")
    }

    private mutating func addSet(_ key: [UInt8]) {
        let integers = rng.oneIn(2)
        let n = large() ? rng.between(513, 900) : rng.between(1, 40)
        var members: [[UInt8]] = []
        for _ in 0..<n {
            members.append(integers ? Array("\(rng.between(-1_000_000, 1_000_000))".utf8) : element())
        }
        kind[key] = integers ? "set of \(n) integers" : "set of \(n)"
        pushInBatches(key, members, command: "SADD")
    }

    private mutating func addSortedSet(_ key: [UInt8]) {
        let n = large() ? rng.between(129, 500) : rng.between(1, 60)
        var pairs: [[UInt8]] = []
        for _ in 0..<n {
            pairs.append(Array(score().utf8))
            pairs.append(rng.oneIn(10) ? randomBytes(rng.between(65, 200)) : element())
        }
        kind[key] = "sorted set of up to \(n)"
        pushInBatches(key, pairs, command: "ZADD", unit: 2)
    }

    private mutating func addHash(_ key: [UInt8]) {
        let n = large() ? rng.between(129, 500) : rng.between(1, 60)
        let longValues = rng.oneIn(4)
        var pairs: [[UInt8]] = []
        for _ in 0..<n {
            pairs.append(element())
            pairs.append(longValues && rng.oneIn(3) ? randomBytes(rng.between(65, 500)) : element())
        }
        kind[key] = "hash of up to \(n)"
        pushInBatches(key, pairs, command: "HSET", unit: 2)
    }

    private mutating func pushInBatches(_ key: [UInt8], _ items: [[UInt8]], command: String, unit: Int = 1) {
        var i = 0
        while i < items.count {
            let end = min(i + 100 * unit, items.count)
            add([Array(command.utf8), key] + items[i..<end])
            i = end
        }
    }

    // MARK: Elements

    /// A short element: a word, an integer (stored as one in Redis's listpacks and intsets), or binary.
    private mutating func element() -> [UInt8] {
        switch rng.below(6) {
        case 0, 1: return Array("m\(rng.below(5000))".utf8)
        case 2: return Array("\(rng.between(-100_000, 100_000))".utf8)
        case 3: return Array("\(Int64.random(in: Int64.min...Int64.max, using: &rng))".utf8)
        case 4: return randomBytes(rng.between(0, 12))
        default: return Array("field-\(rng.below(300))-".utf8) + randomBytes(rng.below(4))
        }
    }

    private mutating func score() -> String {
        switch rng.below(8) {
        case 0: return "\(rng.between(-1000, 1000))"
        case 1: return rng.pick(["1.5", "0.1", "-2.25", "1e300", "-1e300", "5e-324", "2.2250738585072014e-308",
                                 "inf", "-inf", "+inf", "-0", "0", "3.141592653589793", "9007199254740993",
                                 "123456789012345678"])
        case 2: return "\(Double(bitPattern: rng.next() & 0x7FEF_FFFF_FFFF_FFFF))"  // any finite magnitude
        default: return "\(Double(rng.between(-1_000_000, 1_000_000)) / 64)"
        }
    }

    private mutating func randomBytes(_ n: Int) -> [UInt8] {
        (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    }
}
