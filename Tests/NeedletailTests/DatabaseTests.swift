import XCTest
@testable import Needletail
import TestSupport

/// Database: keys, TTLs, lazy and active expiry, SCAN and RANDOMKEY, checked against a Dictionary model
/// with the invariant checker run after every mutation.
final class DatabaseTests: XCTestCase {
    /// The keyspace counters and change stream every test database reports to.
    private let sharedStats = KeyspaceChanges()

    private func key(_ i: Int) -> ByteString { ByteString("key:\(i)") }

    func testSetAddRemoveAndTTLs() {
        let stats = KeyspaceChanges()
        let db = Database(index: 0, events: stats)
        db.set("a", .string("1"), event: .set)
        db.setExpire("a", at: 5000)
        XCTAssertEqual(db.expireTime("a"), 5000)
        db.set("a", .string("2"), keepTTL: true, event: .set)
        XCTAssertEqual(db.expireTime("a"), 5000)
        db.set("a", .string("3"), event: .set)
        XCTAssertNil(db.expireTime("a"), "SET without KEEPTTL clears the TTL")
        db.setExpire("a", at: 5000)
        XCTAssertNotNil(db.lookup(ByteString("a"), now: 4999, .write))
        XCTAssertNil(db.lookup(ByteString("a"), now: 5000, .write), "a key is gone at its expiry time")
        XCTAssertEqual(stats.expiredKeys, 1)
        XCTAssertEqual(db.count, 0)
        XCTAssertEqual(db.expiresCount, 0)
        db.checkInvariants()
    }

    func testLookupReadCountsHitsAndMisses() {
        let stats = KeyspaceChanges()
        let db = Database(index: 0, events: stats)
        db.add("k", .string("v"), event: .set)
        _ = db.lookup(ByteString("k"), now: 0)
        _ = db.lookup(ByteString("nokey"), now: 0)
        _ = db.lookup(ByteString("nokey"), now: 0, .write)
        XCTAssertEqual(stats.hits, 1)
        XCTAssertEqual(stats.misses, 1)
    }

    /// Random operations against a model, with a seed printed on failure.
    func testRandomOperationsAgainstModel() {
        let seed = UInt64.random(in: 0...UInt64.max)
        var rng = SeededRandom(seed: seed)
        let db = Database(index: 0, events: sharedStats)
        var model: [ByteString: (value: ByteString, expire: Int64?)] = [:]
        var now: Int64 = 1000
        for step in 0..<20_000 {
            let k = key(Int(rng.next() % 300))
            // As commands do, look the key up first, so one past its time is gone before any change.
            _ = db.lookup(k, now: now, .write)
            if let e = model[k]?.expire, e <= now { model[k] = nil }
            switch rng.next() % 8 {
            case 0, 1:
                let v = ByteString("v\(step)")
                let keep = rng.next() % 2 == 0
                db.set(k, .string(v), keepTTL: keep, event: .set)
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
                if case .string(let s)? = db.lookup(k, now: now, .write) { XCTAssertEqual(s, expected, "seed \(seed)") } else {
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
        let db = Database(index: 0, events: sharedStats)
        for i in 0..<1000 { db.add(key(i), .string("v"), event: .set) }
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
                db.set(key(next), .string("n"), event: .set)
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
        let db = Database(index: 0, events: sharedStats)
        var batch: [ByteString] = []
        XCTAssertEqual(db.scan(cursor: 0, count: 10, into: &batch), 0, "an empty database completes at once")
        XCTAssertEqual(db.scan(cursor: UInt64.max, count: Int.max, into: &batch), 0)
        XCTAssertTrue(batch.isEmpty)
        for i in 0..<25 { db.add(key(i), .string("v"), event: .set) }
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
        let stats = KeyspaceChanges()
        let db = Database(index: 0, events: stats)
        XCTAssertNil(db.randomKey(now: 0))
        for i in 0..<100 {
            db.add(key(i), .string("v"), event: .set)
            if i != 42 { db.setExpire(key(i), at: 10) }
        }
        XCTAssertEqual(db.randomKey(now: 5).map { _ in true }, true)
        for _ in 0..<20 { XCTAssertEqual(db.randomKey(now: 10), key(42)) }
        db.checkInvariants()
        XCTAssertEqual(stats.expiredKeys + db.count, 100)
    }

    func testMassDeletionShrinksTheTableAndScanStillCompletes() {
        let db = Database(index: 0, events: sharedStats)
        for i in 0..<10_000 { db.add(key(i), .string("v"), event: .set) }
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
        let stats = KeyspaceChanges()
        let db = Database(index: 0, events: stats)
        for i in 0..<10_000 {
            db.add(key(i), .string("v"), event: .set)
            db.setExpire(key(i), at: i < 9_000 ? 100 : 1_000_000)
        }
        db.add("persistent", .string("v"), event: .set)
        var cycles = 0
        while db.count > 1_001 && cycles < 10_000 {
            _ = db.activeExpireCycle(now: 100, deadline: Int64.max)
            db.checkInvariants()
            cycles += 1
        }
        // The cycle stops once 25% or fewer of a sample are expired, so a few expired keys may remain.
        XCTAssertLessThan(db.count, 1_300)
        XCTAssertEqual(stats.expiredKeys + db.count, 10_001)
        XCTAssertNotNil(db.lookup(ByteString("persistent"), now: 100, .write))
        XCTAssertGreaterThan(db.avgTTL, 900_000)
        XCTAssertLessThanOrEqual(db.avgTTL, 999_900)
        for i in 9_000..<10_000 { db.removeExpire(key(i)) }
        for i in 0..<9_000 { db.remove(key(i)) }
        XCTAssertEqual(db.avgTTL, 0, "no key with a TTL, no average")
        db.checkInvariants()
    }

    func testActiveExpireCycleHonoursDeadline() {
        let db = Database(index: 0, events: sharedStats)
        for i in 0..<200_000 {
            db.add(key(i), .string("v"), event: .set)
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
        let db = Database(index: 0, events: sharedStats)
        for i in 0..<1000 { db.add(key(i), .string("v"), hint: i % 2 == 0 ? .raw : .notInteger, event: .set) }
        db.set(key(1), .string("w"), keepTTL: true, event: .set)
        XCTAssertEqual(db.stringHint(key(1)), .likeSet, "a SET-like store resets the hint")
        db.set(key(3), .string("w"), hint: .unshared, event: .set)
        XCTAssertEqual(db.stringHint(key(3)), .unshared)
        XCTAssertEqual(db.stringHint("missing"), .likeSet)
        for i in 4..<990 { db.remove(key(i)) }  // compacts: slots change, hints must not
        db.checkInvariants()
        for i in 990..<1000 { XCTAssertEqual(db.stringHint(key(i)), i % 2 == 0 ? .raw : .notInteger) }
        XCTAssertEqual(db.stringHint(key(0)), .raw)
    }

    func testSwapContents() {
        let stats = KeyspaceChanges()
        let a = Database(index: 0, events: stats), b = Database(index: 1, events: stats)
        a.add("x", .string("1"), event: .set)
        a.setExpire("x", at: 100)
        b.add("y", .string("2"), event: .set)
        a.swapContents(with: b)
        XCTAssertNotNil(a.lookup(ByteString("y"), now: 0, .write))
        XCTAssertEqual(b.expireTime("x"), 100)
        a.checkInvariants()
        b.checkInvariants()
    }

    /// The entry's metadata (hint, 24-bit access stamp, snapshot epoch) fills the value's padding: a
    /// keyspace entry stays 32 bytes of payload (64 in the table with its key and links).
    func testEntryMetadataAddsNoBytes() {
        XCTAssertEqual(MemoryLayout<Value>.size, 24)
        XCTAssertEqual(MemoryLayout<Database.Entry>.stride, 32)
        var entry = Database.Entry(value: .string("v"), hint: .raw)
        entry.access = 0xAB_CDEF
        entry.epoch = 7
        XCTAssertEqual(entry.access, 0xAB_CDEF)
        XCTAssertEqual(entry.hint, .raw)
    }

    /// Every mutation reports one change with the notification its caller names, and counts Redis's dirty.
    func testEveryMutationReportsOneChange() {
        final class Recorder: KeyspaceListener {
            var log: [String] = []
            func keyChanged(_ change: KeyChange, key: UnsafeRawBufferPointer, db: Int, event: KeyspaceEvent) {
                let what: String
                switch change {
                case .added: what = "added"
                case .modified: what = "modified"
                case .ttlChanged: what = "ttlChanged"
                case .unsignalled: what = "unsignalled"
                case .deleted(let reason): what = "deleted(\(reason))"
                }
                log.append("\(what) \(String(decoding: key, as: UTF8.self)) \(db) \(event.nameString)")
            }
            func databaseWillFlush(_ db: Int) { log.append("flushed \(db)") }
            func databasesWillSwap(_ first: Int, _ second: Int) { log.append("swapped \(first) \(second)") }
        }
        let recorder = Recorder()
        let changes = KeyspaceChanges()
        changes.listener = recorder
        let db = Database(index: 3, events: changes), other = Database(index: 4, events: changes)
        db.set("k", .string("1"), event: .set)
        db.set("k", .string("2"), event: .set)
        db.setExpire("k", at: 50)
        db.removeExpire("k")
        XCTAssertFalse(db.removeExpire("k"), "no TTL left: no change")
        ByteString("k").withUnsafeBytes { _ = db.modify($0, now: 0) { value, _ in value = .string("3") } }
        db.didModify("k", .incrby)
        db.add("z", .string("x"), event: .none, changes: 0)
        db.setExpire("z", at: 10)
        XCTAssertNil(db.lookup(ByteString("z"), now: 10), "expired on access")
        db.remove("k")
        XCTAssertFalse(db.remove("k"), "already gone: no change")
        db.swapContents(with: other)
        db.removeAll()
        XCTAssertEqual(recorder.log, [
            "added k 3 set", "modified k 3 set", "ttlChanged k 3 expire", "ttlChanged k 3 persist",
            "modified k 3 incrby", "added z 3 ", "ttlChanged z 3 expire", "deleted(expired) z 3 expired",
            "deleted(deleted) k 3 del", "swapped 3 4", "flushed 3",
        ])
        // set, set, expire, persist, incrby, expire (z), del; the expiry counts none; swap counts one.
        XCTAssertEqual(changes.dirty, 8)
        XCTAssertEqual(changes.expiredKeys, 1)
    }
}

