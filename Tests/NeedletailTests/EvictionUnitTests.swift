import XCTest
@testable import Needletail
import TestSupport

/// The arithmetic of eviction, without a server: the access clock's LRU and LFU stamps (Redis's evict.c
/// formulas), the eviction pool's ordering, and the sampling and slack accounting of the keyspace tables.
final class EvictionUnitTests: XCTestCase {
    func testLRUIdleTimeAcrossTheClockWrap() {
        var clock = AccessClock()
        clock.update(nowMillis: 1_000_000_000_000)
        let now = clock.lruClock
        XCTAssertEqual(clock.idleMillis(now), 0)
        XCTAssertEqual(clock.idleMillis(clock.lruStamp(idleSeconds: 1000)), 1_000_000)
        // A stamp "ahead" of the clock is one from before the 24-bit wrap (Redis's estimateObjectIdleTime).
        XCTAssertEqual(clock.idleMillis((now + 10) & AccessClock.lruClockMax),
                       Int64(AccessClock.lruClockMax - 10) * 1000)
        // RESTORE IDLETIME larger than the clock wraps below zero as Redis's objectSetLRUOrLFU.
        let wrapped = clock.lruStamp(idleSeconds: Int64(now) + 5)
        XCTAssertEqual(wrapped, AccessClock.lruClockMax - 5)
    }

    func testLFUCounterGrowsLogarithmicallyAndDecays() {
        var clock = AccessClock()
        clock.lfu = true
        clock.update(nowMillis: 60_000 * 1000)
        var stamp = clock.initial
        XCTAssertEqual(stamp & 0xFF, AccessClock.lfuInitial)
        stamp = clock.touched(stamp)
        XCTAssertEqual(stamp & 0xFF, 6, "the first access always counts")
        for _ in 0..<100_000 { stamp = clock.touched(stamp) }
        let counter = stamp & 0xFF
        // Redis's table for factor 10: 100 hits -> 10, 1k -> 18, 100k -> 142, 1M -> 255 (the expected hits
        // from c to c + 1 are (c - 5) * 10 + 1). The exact value is random, its neighbourhood is not.
        XCTAssertTrue((125...170).contains(counter), "100k accesses give \(counter)")
        XCTAssertEqual(clock.decayedCounter(stamp), counter)
        // Decay: one per lfu-decay-time minutes, floored at 0; 0 disables it.
        clock.update(nowMillis: 60_000 * 1010)
        XCTAssertEqual(clock.decayedCounter(stamp), counter - 10)
        clock.update(nowMillis: 60_000 * (1000 + 300))
        XCTAssertEqual(clock.decayedCounter(stamp), 0)
        clock.lfuDecayMinutes = 0
        XCTAssertEqual(clock.decayedCounter(stamp), counter)
        clock.lfuDecayMinutes = 2
        clock.update(nowMillis: 60_000 * 1010)
        XCTAssertEqual(clock.decayedCounter(stamp), counter - 5)
        // Eviction prefers the lowest counter: the highest score.
        XCTAssertGreaterThan(clock.evictionScore(clock.lfuStamp(counter: 1)), clock.evictionScore(clock.lfuStamp(counter: 200)))
    }

    func testPoolKeepsTheSixteenBestInOrder() {
        let eviction = Eviction()
        var random = SeededRandom(seed: 7)
        var offered: [UInt64] = []
        for i in 0..<500 {
            let score = UInt64.random(in: 0..<10_000, using: &random)
            offered.append(score)
            eviction.offer(score: score, key: ByteString("k\(i)"), db: 0)
            XCTAssertEqual(eviction.pool.map(\.score), eviction.pool.map(\.score).sorted())
            XCTAssertLessThanOrEqual(eviction.pool.count, Eviction.poolSize)
        }
        XCTAssertEqual(eviction.pool.map(\.score), Array(offered.sorted().suffix(Eviction.poolSize)))
        XCTAssertEqual(eviction.popBest()?.score, offered.max())
    }

    func testSlackCountsFreeSlotsAndSamplesAreLiveEntries() {
        let table = HashTable<Int>()
        var random = SeededRandom(seed: 11)
        for i in 0..<10_000 { _ = table.updateValue(i, forKey: ByteString("key:\(i)")) }
        let full = table.slackBytes
        for i in stride(from: 0, to: 10_000, by: 2) { _ = table.removeValue(forKey: ByteString("key:\(i)")) }
        table.checkInvariants()
        XCTAssertEqual(table.slackBytes - full, 5_000 * MemoryLayout<HashTable<Int>.Entry>.stride)
        var seen = 0
        table.forEachSample(count: 1000, using: &random) { key, value in
            XCTAssertEqual(value % 2, 1)
            XCTAssertEqual(key, ByteString("key:\(value)"))
            seen += 1
        }
        XCTAssertEqual(seen, 1000)
        for i in stride(from: 0, to: 10_000, by: 2) { _ = table.updateValue(i, forKey: ByteString("key:\(i)")) }
        table.checkInvariants()
        XCTAssertEqual(table.slackBytes, full, "new keys reuse the free slots")
    }
}
