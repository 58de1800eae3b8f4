import XCTest
@testable import Needletail
import TestSupport

/// Database: keys, TTLs, lazy and active expiry, SCAN and RANDOMKEY, checked against a Dictionary model
/// with the invariant checker run after every mutation.
final class DatabaseTests: XCTestCase {
    /// Database holds its stats unowned (the server owns them), so the tests keep one alive.
    private let sharedStats = ServerStats()

    private func key(_ i: Int) -> ByteString { ByteString("key:\(i)") }

    func testSetAddRemoveAndTTLs() {
        let stats = ServerStats()
        let db = Database(index: 0, stats: stats)
        db.set("a", .string("1"))
        db.setExpire("a", at: 5000)
        XCTAssertEqual(db.expireTime("a"), 5000)
        db.set("a", .string("2"), keepTTL: true)
        XCTAssertEqual(db.expireTime("a"), 5000)
        db.set("a", .string("3"))
        XCTAssertNil(db.expireTime("a"), "SET without KEEPTTL clears the TTL")
        db.setExpire("a", at: 5000)
        XCTAssertNotNil(db.lookup(ByteString("a"), now: 4999))
        XCTAssertNil(db.lookup(ByteString("a"), now: 5000), "a key is gone at its expiry time")
        XCTAssertEqual(stats.expiredKeys, 1)
        XCTAssertEqual(db.count, 0)
        XCTAssertEqual(db.expiresCount, 0)
        db.checkInvariants()
    }

    func testLookupReadCountsHitsAndMisses() {
        let stats = ServerStats()
        let db = Database(index: 0, stats: stats)
        db.add("k", .string("v"))
        _ = db.lookupRead(ByteString("k"), now: 0)
        _ = db.lookupRead(ByteString("nokey"), now: 0)
        _ = db.lookup(ByteString("nokey"), now: 0)
        XCTAssertEqual(stats.keyspaceHits, 1)
        XCTAssertEqual(stats.keyspaceMisses, 1)
    }

    /// Random operations against a model, with a seed printed on failure.
    func testRandomOperationsAgainstModel() {
        let seed = UInt64.random(in: 0...UInt64.max)
        var rng = SeededRandom(seed: seed)
        let db = Database(index: 0, stats: sharedStats)
        var model: [ByteString: (value: ByteString, expire: Int64?)] = [:]
        var now: Int64 = 1000
        for step in 0..<20_000 {
            let k = key(Int(rng.next() % 300))
            // As commands do, look the key up first, so one past its time is gone before any change.
            _ = db.lookup(k, now: now)
            if let e = model[k]?.expire, e <= now { model[k] = nil }
            switch rng.next() % 8 {
            case 0, 1:
                let v = ByteString("v\(step)")
                let keep = rng.next() % 2 == 0
                db.set(k, .string(v), keepTTL: keep)
                let old = model[k]?.expire
                model[k] = (v, keep ? old : nil)
            case 2:
                XCTAssertEqual(db.remove(k), model.removeValue(forKey: k) != nil, "seed \(seed)")
            case 3:
                if model[k] != nil {
                    let when = now + Int64(rng.next() % 50)
                    db.setExpire(k, at: when)
                    model[k]!.expire = when
                }
            case 4:
                XCTAssertEqual(db.removeExpire(k), model[k]?.expire != nil, "seed \(seed)")
                model[k]?.expire = nil
            case 5:
                now += Int64(rng.next() % 5)
                _ = db.activeExpireCycle(now: now, deadline: Int64.max)
                XCTAssertLessThanOrEqual(db.count, model.count, "seed \(seed)")
            default:
                let expected = model[k]?.value
                if case .string(let s)? = db.lookup(k, now: now) { XCTAssertEqual(s, expected, "seed \(seed)") } else {
                    XCTAssertNil(expected, "seed \(seed) step \(step)")
                }
            }
            db.checkInvariants()
        }
        // Every key the model still holds live must be there, and nothing else live.
        let live = Set(db.allKeys(now: now))
        let expected = Set(model.filter { $0.value.expire.map { $0 > now } ?? true }.keys)
        XCTAssertEqual(live, expected, "seed \(seed)")
    }

    func testScanReturnsEveryKeyPresentThroughoutDespiteChurn() {
        let seed = UInt64.random(in: 0...UInt64.max)
        var rng = SeededRandom(seed: seed)
        let db = Database(index: 0, stats: sharedStats)
        for i in 0..<1000 { db.add(key(i), .string("v")) }
        // Keys 0..<500 stay for the whole scan; 500..<1000 are deleted and others added meanwhile.
        var seen = Set<ByteString>()
        var cursor: UInt64 = 0
        var next = 1000
        var calls = 0
        repeat {
            var batch: [ByteString] = []
            cursor = db.scan(cursor: cursor, count: 10, into: &batch)
            seen.formUnion(batch)
            for _ in 0..<3 {
                db.remove(key(500 + Int(rng.next() % 500)))
                db.set(key(next), .string("n"))
                next += 1
            }
            db.checkInvariants()
            calls += 1
        } while cursor != 0 && calls < 10_000
        for i in 0..<500 { XCTAssertTrue(seen.contains(key(i)), "key \(i) missed, seed \(seed)") }
    }

    /// Collects a full SCAN from cursor 0, returning every key seen and how many calls it took.
    private func fullScan(_ db: Database, count: Int) -> (keys: [ByteString], calls: Int) {
        var batch: [ByteString] = []
        var cursor: UInt64 = 0
        var calls = 0
        repeat {
            cursor = db.scan(cursor: cursor, count: count, into: &batch)
            calls += 1
            precondition(calls < 100_000, "scan does not terminate")
        } while cursor != 0
        return (batch, calls)
    }

    func testScanCursorEdges() {
        let db = Database(index: 0, stats: sharedStats)
        var batch: [ByteString] = []
        XCTAssertEqual(db.scan(cursor: 0, count: 10, into: &batch), 0, "an empty database completes at once")
        XCTAssertEqual(db.scan(cursor: UInt64.max, count: Int.max, into: &batch), 0)
        XCTAssertTrue(batch.isEmpty)
        for i in 0..<25 { db.add(key(i), .string("v")) }
        let small = fullScan(db, count: 10)
        XCTAssertEqual(Set(small.keys), Set((0..<25).map(key)), "a full scan returns every key")
        XCTAssertGreaterThan(small.calls, 1, "COUNT 10 over 25 keys takes several calls")
        let whole = fullScan(db, count: Int.max)
        XCTAssertEqual(whole.calls, 1, "a COUNT larger than the table returns everything in one call")
        XCTAssertEqual(whole.keys.count, 25, "no duplicates without rehashing")
        // An arbitrary cursor (a client may send anything) still terminates with valid keys.
        batch.removeAll()
        var cursor: UInt64 = 0xDEAD_BEEF
        var calls = 0
        repeat { cursor = db.scan(cursor: cursor, count: 5, into: &batch); calls += 1 } while cursor != 0 && calls < 1000
        XCTAssertEqual(cursor, 0)
        XCTAssertTrue(batch.allSatisfy { Set((0..<25).map(key)).contains($0) })
    }
    func testRandomKeySkipsAndDeletesExpiredKeys() {
        let stats = ServerStats()
        let db = Database(index: 0, stats: stats)
        XCTAssertNil(db.randomKey(now: 0))
        for i in 0..<100 {
            db.add(key(i), .string("v"))
            if i != 42 { db.setExpire(key(i), at: 10) }
        }
        XCTAssertEqual(db.randomKey(now: 5).map { _ in true }, true)
        for _ in 0..<20 { XCTAssertEqual(db.randomKey(now: 10), key(42)) }
        db.checkInvariants()
        XCTAssertEqual(stats.expiredKeys + db.count, 100)
    }

    func testMassDeletionShrinksTheTableAndScanStillCompletes() {
        let db = Database(index: 0, stats: sharedStats)
        for i in 0..<10_000 { db.add(key(i), .string("v")) }
        let grown = db.keys.bucketCounts.0 + db.keys.bucketCounts.1
        for i in 0..<9_990 {
            db.remove(key(i))
            if i % 997 == 0 { db.checkInvariants() }
        }
        while db.rehash(milliseconds: 10) {}
        db.checkInvariants()
        XCTAssertLessThanOrEqual(db.keys.bucketCounts.0 * 64, grown, "the table shrank after mass deletion")
        XCTAssertEqual(Set(fullScan(db, count: 100).keys), Set((9_990..<10_000).map(key)))
        for i in 9_990..<10_000 { db.remove(key(i)) }
        db.checkInvariants()
        XCTAssertNil(db.randomKey(now: 0))
    }
    func testActiveExpireCycleDeletesExpiredKeysAndTracksAverageTTL() {
        let stats = ServerStats()
        let db = Database(index: 0, stats: stats)
        for i in 0..<10_000 {
            db.add(key(i), .string("v"))
            db.setExpire(key(i), at: i < 9_000 ? 100 : 1_000_000)
        }
        db.add("persistent", .string("v"))
        var cycles = 0
        while db.count > 1_001 && cycles < 10_000 {
            _ = db.activeExpireCycle(now: 100, deadline: Int64.max)
            db.checkInvariants()
            cycles += 1
        }
        // The cycle stops once 25% or fewer of a sample are expired, so a few expired keys may remain.
        XCTAssertLessThan(db.count, 1_300)
        XCTAssertEqual(stats.expiredKeys + db.count, 10_001)
        XCTAssertNotNil(db.lookup(ByteString("persistent"), now: 100))
        XCTAssertGreaterThan(db.avgTTL, 900_000)
        XCTAssertLessThanOrEqual(db.avgTTL, 999_900)
        for i in 9_000..<10_000 { db.removeExpire(key(i)) }
        for i in 0..<9_000 { db.remove(key(i)) }
        XCTAssertEqual(db.avgTTL, 0, "no key with a TTL, no average")
        db.checkInvariants()
    }

    func testActiveExpireCycleHonoursDeadline() {
        let db = Database(index: 0, stats: sharedStats)
        for i in 0..<200_000 {
            db.add(key(i), .string("v"))
            db.setExpire(key(i), at: 1)
        }
        // A deadline already past: the cycle stops at its first clock check, after 16 rounds of about 20 keys
        // (a round ends at a bucket boundary, so it may take a few more).
        XCTAssertFalse(db.activeExpireCycle(now: 2, deadline: 0))
        let deleted = 200_000 - db.count
        XCTAssertGreaterThanOrEqual(deleted, 16 * 20)
        XCTAssertLessThanOrEqual(deleted, 16 * 40)
        db.checkInvariants()
    }
    func testStringHintsFollowTheValueAndSurviveCompaction() {
        let db = Database(index: 0, stats: sharedStats)
        for i in 0..<1000 { db.add(key(i), .string("v"), hint: i % 2 == 0 ? .raw : .notInteger) }
        db.set(key(1), .string("w"), keepTTL: true)
        XCTAssertEqual(db.stringHint(key(1)), .likeSet, "a SET-like store resets the hint")
        db.set(key(3), .string("w"), hint: .unshared)
        XCTAssertEqual(db.stringHint(key(3)), .unshared)
        XCTAssertEqual(db.stringHint("missing"), .likeSet)
        for i in 4..<990 { db.remove(key(i)) }  // compacts: slots change, hints must not
        db.checkInvariants()
        for i in 990..<1000 { XCTAssertEqual(db.stringHint(key(i)), i % 2 == 0 ? .raw : .notInteger) }
        XCTAssertEqual(db.stringHint(key(0)), .raw)
    }

    func testSwapContents() {
        let stats = ServerStats()
        let a = Database(index: 0, stats: stats), b = Database(index: 1, stats: stats)
        a.add("x", .string("1"))
        a.setExpire("x", at: 100)
        b.add("y", .string("2"))
        a.swapContents(with: b)
        XCTAssertNotNil(a.lookup(ByteString("y"), now: 0))
        XCTAssertEqual(b.expireTime("x"), 100)
        a.checkInvariants()
        b.checkInvariants()
    }
}

