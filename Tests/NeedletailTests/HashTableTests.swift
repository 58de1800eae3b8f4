import XCTest
@testable import Needletail
import TestSupport

private let testSeed = HashSeed(k0: 0x0123_4567_89AB_CDEF, k1: 0xFEDC_BA98_7654_3210)

private func key(_ n: Int) -> ByteString { ByteString("key:\(n)") }

/// A mix of key shapes: short inline, empty, binary (NUL, CR LF, 0xFF), exactly 22 bytes (the largest
/// inline), 23 bytes (the smallest heap) and long heap keys.
private func mixedKey(_ n: Int) -> ByteString {
    switch n % 6 {
    case 0: return ByteString("k\(n)")
    case 1: return n == 1 ? ByteString.empty : ByteString([0, 0xFF, 13, 10, UInt8(n & 0xFF), UInt8(n >> 8 & 0xFF)])
    case 2: return ByteString(String(repeating: "x", count: 22 - String(n).count) + String(n))
    case 3: return ByteString(String(repeating: "y", count: 23 - String(n).count) + String(n))
    case 4: return ByteString(String(repeating: "long-key-", count: 8) + String(n))
    default: return ByteString([UInt8](repeating: 0, count: n % 40) + [UInt8(n & 0xFF), UInt8(n >> 8 & 0xFF)])
    }
}

private func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

final class HashTableTests: XCTestCase {
    // MARK: Hashing

    func testSipHash24ReferenceVectors() {
        // Key 00 01 .. 0f, message 00 01 .. (n-1): the vectors published with the SipHash reference code.
        let expected: [Int: UInt64] = [
            0: 0x726f_db47_dd0e_0e31, 1: 0x74f8_39c5_93dc_67fd, 2: 0x0d6c_8009_d9a9_4f5a,
            3: 0x8567_6696_d7fb_7e2d, 4: 0xcf27_94e0_2771_87b7, 5: 0x1876_5564_cd99_a68d,
            6: 0xcbc9_466e_58fe_e3ce, 7: 0xab02_00f5_8b01_d137, 8: 0x93f5_f579_9a93_2462,
            9: 0x9e00_82df_0ba9_e4b0, 15: 0xa129_ca61_49be_45e5, 16: 0x3f2a_cc7f_57c2_9bdb,
            63: 0x958a_324c_eb06_4572,
        ]
        let seed = HashSeed(k0: 0x0706_0504_0302_0100, k1: 0x0f0e_0d0c_0b0a_0908)
        let message = (0..<64).map { UInt8($0) }
        for (length, value) in expected {
            let h = message.withUnsafeBytes { sipHash24(UnsafeRawBufferPointer(rebasing: $0[0..<length]), seed: seed) }
            XCTAssertEqual(h, value, "SipHash-2-4 of \(length) bytes")
        }
    }

    func testSipHash13Vectors() {
        // SipHash-1-3 with an all-zero key, as published with other SipHash-1-3 implementations.
        let seed = HashSeed(k0: 0, k1: 0)
        let cases: [(String, UInt64)] = [
            ("", 0xd1fb_a762_150c_532c), ("siphash", 0x8264_ceec_cb16_bcbe), ("digest-sip_hash", 0xce31_007e_3413_0c0a),
        ]
        for (text, value) in cases {
            XCTAssertEqual(bytes(text).withUnsafeBytes { hashBytes($0, seed: seed) }, value, text)
        }
    }

    func testHashDependsOnSeedAndProcessSeedIsRandom() {
        let h1 = bytes("user:1000").withUnsafeBytes { hashBytes($0, seed: HashSeed(k0: 1, k1: 2)) }
        let h2 = bytes("user:1000").withUnsafeBytes { hashBytes($0, seed: HashSeed(k0: 1, k1: 3)) }
        XCTAssertNotEqual(h1, h2)
        XCTAssertNotEqual(HashSeed.random(), HashSeed.random())
        XCTAssertEqual(HashTable<Int>().seed, HashSeed.process)
    }

    // MARK: Basics

    func testEmptyTable() {
        let table = HashTable<Int>(seed: testSeed)
        XCTAssertTrue(table.isEmpty)
        XCTAssertNil(table["a"])
        XCTAssertNil(table.removeValue(forKey: "a"))
        XCTAssertNil(table.randomElement())
        XCTAssertEqual(table.scan(cursor: 0) { _, _ in XCTFail() }, 0)
        XCTAssertEqual(Array(table.keys), [])
        XCTAssertEqual(table.bucketCounts.table0, 0)
        table.checkInvariants()
    }

    func testInsertFindUpdateRemoveWithBinaryEmptyAndLongKeys() {
        let table = HashTable<Int>(seed: testSeed)
        let keys: [ByteString] = [
            .empty, ByteString([0]), ByteString([0, 0]), ByteString([0xFF, 0, 13, 10]),
            ByteString(String(repeating: "a", count: 22)), ByteString(String(repeating: "a", count: 23)),
            ByteString(String(repeating: "z", count: 1000)), "key", "KEY",
        ]
        for (i, k) in keys.enumerated() {
            XCTAssertNil(table.updateValue(i, forKey: k))
            table.checkInvariants()
        }
        XCTAssertEqual(table.count, keys.count)
        for (i, k) in keys.enumerated() {
            XCTAssertEqual(table[k], i)
            XCTAssertTrue(table.contains(k))
            XCTAssertEqual(k.withUnsafeBytes { table.find($0) }, i)
        }
        XCTAssertNil(table[ByteString([0, 0, 0])])
        XCTAssertNil(table[ByteString(String(repeating: "a", count: 24))])
        // Overwrite through raw bytes returns the old value and keeps one entry.
        XCTAssertEqual(bytes("key").withUnsafeBytes { table.updateValue(100, forKey: $0) }, keys.count - 2)
        table.checkInvariants()
        XCTAssertEqual(table["key"], 100)
        XCTAssertEqual(table.count, keys.count)
        // Insert through raw bytes builds the key.
        XCTAssertNil([UInt8]([1, 2, 3]).withUnsafeBytes { table.updateValue(7, forKey: $0) })
        XCTAssertEqual(table[ByteString([1, 2, 3])], 7)
        table.checkInvariants()
        // Remove returns the stored key and value.
        let removed = table.removeValue(forKey: ByteString(String(repeating: "z", count: 1000)))
        XCTAssertEqual(removed?.key, ByteString(String(repeating: "z", count: 1000)))
        XCTAssertEqual(removed?.value, 6)
        table.checkInvariants()
        XCTAssertNil(table.removeValue(forKey: ByteString(String(repeating: "z", count: 1000))))
        XCTAssertEqual(table.removeValue(forKey: .empty)?.value, 0)
        table.checkInvariants()
        table[ByteString.empty] = 42
        XCTAssertEqual(table[.empty], 42)
        table[ByteString.empty] = nil
        XCTAssertNil(table[.empty])
        table.checkInvariants()
    }

    func testWithValueMutatesInPlace() {
        let table = HashTable<[Int]>(seed: testSeed)
        table["list"] = [1]
        let result = bytes("list").withUnsafeBytes { raw in
            table.withValue(forKey: raw) { value -> Int in
                value.append(2)
                // Lookups (which may rehash) are allowed inside the body.
                XCTAssertNotNil(table.find(raw))
                return value.count
            }
        }
        XCTAssertEqual(result, 2)
        XCTAssertEqual(table["list"], [1, 2])
        XCTAssertNil(bytes("nope").withUnsafeBytes { table.withValue(forKey: $0) { _ in 1 } })
        table.checkInvariants()

        // A table of tables, as a sorted set's member index inside the keyspace: no copy, no CoW.
        let outer = HashTable<HashTable<Int>>(seed: testSeed)
        outer["zset"] = HashTable<Int>(seed: testSeed)
        for i in 0..<100 {
            _ = bytes("zset").withUnsafeBytes { outer.withValue(forKey: $0) { $0.updateValue(i, forKey: key(i)) } }
        }
        XCTAssertEqual(outer["zset"]?.count, 100)
        outer["zset"]!.checkInvariants()
    }

    func testIterationKeysValuesForEach() {
        let table = HashTable<Int>(seed: testSeed)
        for i in 0..<5000 { table[key(i)] = i }
        var seen = Set<Int>()
        for (k, v) in table {
            XCTAssertEqual(k, key(v))
            XCTAssertTrue(seen.insert(v).inserted)
        }
        XCTAssertEqual(seen.count, 5000)
        XCTAssertEqual(Set(table.keys), Set((0..<5000).map(key)))
        XCTAssertEqual(table.values.reduce(0, +), (0..<5000).reduce(0, +))
        var total = 0
        table.forEach { _, value in total += value }
        XCTAssertEqual(total, (0..<5000).reduce(0, +))
    }

    func testIterationToleratesMutationAndRehash() {
        let table = HashTable<Int>(seed: testSeed)
        for i in 0..<3000 { table[key(i)] = i }
        var visits = [Int: Int]()
        var next = 3000
        for (_, v) in table {
            visits[v, default: 0] += 1
            // Delete odd keys ahead, insert new ones (forcing a grow and rehash steps), look keys up.
            if v < 3000 {
                if v % 2 == 0 { table.removeValue(forKey: key(v + 1)) }
                table[key(next)] = next
                next += 1
            }
            _ = table[key(v)]
        }
        for v in stride(from: 0, to: 3000, by: 2) {
            XCTAssertEqual(visits[v], 1, "entry \(v) present for the whole loop must be visited once")
        }
        XCTAssertTrue(visits.values.allSatisfy { $0 == 1 })
        table.checkInvariants()
    }

    // MARK: Resizing (white box)

    func testGrowStartsIncrementalRehashAndFinishes() {
        let table = HashTable<Int>(seed: testSeed)
        table[key(0)] = 0
        XCTAssertEqual(table.bucketCounts.table0, 4)
        for i in 1..<4 { table[key(i)] = i; table.checkInvariants() }
        XCTAssertFalse(table.isRehashing)
        XCTAssertEqual(table.loadFactor, 1.0)
        table[key(4)] = 4 // used == size: grow to 8
        table.checkInvariants()
        XCTAssertTrue(table.isRehashing)
        XCTAssertEqual(table.bucketCounts.table0, 4)
        XCTAssertEqual(table.bucketCounts.table1, 8)
        XCTAssertEqual(table.entryCounts.table0, 4, "the new key goes to the new table; nothing moved yet")
        XCTAssertEqual(table.entryCounts.table1, 1)
        XCTAssertEqual(table.rehashPosition, 0)
        // Lookups advance the rehash too.
        var lookups = 0
        while table.isRehashing {
            _ = table[key(0)]
            lookups += 1
            table.checkInvariants()
        }
        XCTAssertLessThanOrEqual(lookups, 4)
        XCTAssertEqual(table.bucketCounts.table0, 8)
        XCTAssertEqual(table.bucketCounts.table1, 0)
        XCTAssertNil(table.rehashPosition)
        for i in 0..<5 { XCTAssertEqual(table[key(i)], i) }
    }

    func testEachOperationMigratesABoundedNumberOfBuckets() {
        let table = HashTable<Int>(seed: testSeed)
        for i in 0..<1024 { table[key(i)] = i }
        XCTAssertFalse(table.isRehashing)
        XCTAssertEqual(table.bucketCounts.table0, 1024)
        table[key(1024)] = 1024
        XCTAssertEqual(table.bucketCounts.table0, 1024)
        XCTAssertEqual(table.bucketCounts.table1, 2048)
        var next = 1025
        var operations = 0
        while let before = table.rehashPosition {
            let movedBefore = table.entryCounts.table0
            switch operations % 3 {
            case 0: table[key(next)] = next; next += 1
            case 1: _ = table[key(operations)]
            default: table.removeValue(forKey: key(next + 10_000)) // absent key: still a step
            }
            operations += 1
            if let after = table.rehashPosition {
                XCTAssertLessThanOrEqual(after - before, 10, "one step visits at most 10 buckets")
                XCTAssertGreaterThan(after, before)
                XCTAssertLessThanOrEqual(movedBefore - table.entryCounts.table0, 16, "one chain per step")
                XCTAssertEqual(table.bucketCounts.table0, 1024)
                XCTAssertEqual(table.bucketCounts.table1, 2048)
            }
            if operations % 50 == 0 { table.checkInvariants() }
        }
        XCTAssertGreaterThan(operations, 100, "the resize is spread over many operations")
        XCTAssertEqual(table.bucketCounts.table0, 2048)
        table.checkInvariants()
        for i in 0..<next { XCTAssertEqual(table[key(i)], i) }
    }

    func testShrinksWhenUnderTenPercentFull() {
        let table = HashTable<Int>(seed: testSeed)
        for i in 0..<1000 { table[key(i)] = i }
        table.rehashSteps(1_000_000)
        XCTAssertEqual(table.bucketCounts.table0, 1024)
        var i = 0
        while !table.isRehashing {
            table.removeValue(forKey: key(i))
            i += 1
        }
        // 1024 buckets, shrink when count * 100 / 1024 < 10, i.e. at 102 entries left.
        XCTAssertEqual(table.count, 102)
        XCTAssertEqual(table.bucketCounts.table0, 1024)
        XCTAssertEqual(table.bucketCounts.table1, 128)
        table.checkInvariants()
        XCTAssertFalse(table.rehashSteps(1000))
        XCTAssertEqual(table.bucketCounts.table0, 128)
        table.checkInvariants()
        for j in i..<1000 { XCTAssertEqual(table[key(j)], j) }
        // Emptying the table releases all storage.
        for j in i..<1000 { table.removeValue(forKey: key(j)); table.checkInvariants() }
        XCTAssertEqual(table.bucketCounts.table0, 0)
        XCTAssertEqual(table.poolCapacity.slots, 0)
        XCTAssertEqual(table.allocatedBytes, 0)
    }

    /// overheadBytes (MEMORY STATS' overhead.hashtable.main) is what the table allocated that holds no key and
    /// no value: buckets, unused pool slots, the chunk directory, and each live entry's 8-byte link and hash
    /// plus the part of its value field the caller does not count as value.
    func testOverheadBytesIsWhatHoldsNoKeyOrValue() {
        let table = HashTable<Int>(seed: testSeed)
        XCTAssertEqual(table.overheadBytes(), 0)
        for n in [1, 5, 100, 5000, 9000] {
            while table.count < n { table[key(table.count)] = table.count }
            let buckets = (table.bucketCounts.table0 + table.bucketCounts.table1) * 4
            let unusedSlots = (table.poolCapacity.slots - n) * HashTable<Int>.entryStride
            let structure = buckets + unusedSlots + n * 8
            let directoryBound = 64 * (table.poolCapacity.chunks + 4)  // a few words per chunk record
            XCTAssertGreaterThanOrEqual(table.overheadBytes(), structure, "\(n) entries")
            XCTAssertLessThanOrEqual(table.overheadBytes(), structure + directoryBound, "\(n) entries")
            // Counting only half of the value field as value moves the other half into the overhead.
            XCTAssertEqual(table.overheadBytes(valueBytes: 4), table.overheadBytes() + n * 4)
            XCTAssertLessThan(table.overheadBytes(), table.allocatedBytes)
        }
        table.removeAll()
        XCTAssertEqual(table.overheadBytes(), 0)
    }

    func testRehashMillisecondsCompletesAResize() {
        let table = HashTable<Int>(seed: testSeed)
        for i in 0..<20_000 { table[key(i)] = i }
        table.rehashSteps(1_000_000)
        table.reserveCapacity(100_000) // starts a resize to 131072 buckets
        XCTAssertEqual(table.bucketCounts.table1, 131_072)
        XCTAssertGreaterThan(table.rehash(milliseconds: 1000), 0)
        XCTAssertFalse(table.isRehashing)
        XCTAssertEqual(table.bucketCounts.table0, 131_072)
        table.checkInvariants()
    }

    func testResizeDisallowedGrowsOnlyPastFiveAndNeverShrinks() {
        let table = HashTable<Int>(seed: testSeed)
        table.allowsResize = false
        for i in 0..<24 { table[key(i)] = i }
        XCTAssertEqual(table.bucketCounts.table0, 4, "load 6 is needed to force a grow")
        table[key(24)] = 24
        XCTAssertTrue(table.isRehashing)
        table.rehashSteps(100)
        for i in 0..<22 { table.removeValue(forKey: key(i)) }
        XCTAssertFalse(table.isRehashing)
        XCTAssertEqual(table.bucketCounts.table0, 32)
        table.checkInvariants()
        table.allowsResize = true
        table.removeValue(forKey: key(22))
        XCTAssertTrue(table.isRehashing, "shrinks once resizing is allowed again")
    }

    // MARK: Pool

    func testPoolChunksAreReusedAndReleased() {
        let table = HashTable<Int>(seed: testSeed)
        let chunk = HashTableLayout.chunkSize
        for i in 0..<(3 * chunk + 10) { table[key(i)] = i }
        XCTAssertEqual(table.poolCapacity.chunks, 4)
        // Free slots are reused before any new chunk is allocated.
        for i in 0..<100 { table.removeValue(forKey: key(i)) }
        for i in 0..<100 { table[key(100_000 + i)] = i }
        XCTAssertEqual(table.poolCapacity.chunks, 4)
        table.checkInvariants()
        // Emptying chunk 1 keeps it as the spare; emptying chunk 2 too releases one of them.
        for i in chunk..<(2 * chunk) { table.removeValue(forKey: key(i)) }
        XCTAssertEqual(table.poolCapacity.chunks, 4)
        table.checkInvariants()
        for i in (2 * chunk)..<(3 * chunk) { table.removeValue(forKey: key(i)) }
        XCTAssertEqual(table.poolCapacity.chunks, 3)
        table.checkInvariants()
        // New entries fill the lowest chunk with room: the spare, before anything new is allocated.
        for i in 0..<chunk { table[key(200_000 + i)] = i }
        XCTAssertEqual(table.poolCapacity.chunks, 3)
        table.checkInvariants()
        table.removeAll()
        XCTAssertEqual(table.allocatedBytes, 0)
        table.checkInvariants()
    }

    /// Churn over several pool chunks (4096 entries each): chunks fill, empty, are kept as the spare,
    /// released and reallocated, while the buckets grow and shrink. Too big to check after every operation.
    func testChurnAcrossPoolChunksAgainstModel() {
        let seed: UInt64 = 99
        var rng = SeededRandom(seed: seed)
        let table = HashTable<Int>(seed: testSeed)
        var model = [Int: Int]()
        var present = [Int]()
        for phase in 0..<4 {
            let target = phase % 2 == 0 ? 10_000 : 300
            while phase % 2 == 0 ? model.count < target : model.count > target {
                if phase % 2 == 0 || rng.next() % 8 == 0 {
                    let n = Int(rng.next() % 20_000)
                    if table.updateValue(n, forKey: key(n)) == nil { present.append(n) }
                    model[n] = n
                } else {
                    let i = Int(rng.next() % UInt64(present.count))
                    let n = present[i]
                    present.swapAt(i, present.count - 1)
                    present.removeLast()
                    XCTAssertEqual(table.removeValue(forKey: key(n))?.value, model.removeValue(forKey: n), "seed \(seed)")
                }
                if rng.next() % 2000 == 0 { table.checkInvariants() }
            }
            table.checkInvariants()
            XCTAssertEqual(table.count, model.count, "seed \(seed), phase \(phase)")
            XCTAssertLessThanOrEqual(table.poolCapacity.chunks, 3, "10,000 entries at most: 3 chunks")
        }
        for (n, v) in model { XCTAssertEqual(table[key(n)], v, "seed \(seed)") }
        XCTAssertEqual(Set(table.keys), Set(model.keys.map(key)))
    }

    func testRemoveAllKeepingCapacity() {
        let table = HashTable<ByteString>(seed: testSeed)
        for i in 0..<10_000 { table[key(i)] = key(i) }
        table.rehashSteps(1_000_000)
        let buckets = table.bucketCounts.table0
        table.removeAll(keepingCapacity: true)
        table.checkInvariants()
        XCTAssertEqual(table.count, 0)
        XCTAssertEqual(table.bucketCounts.table0, buckets)
        XCTAssertNil(table[key(5)])
        for i in 0..<100 { table[key(i)] = key(i) }
        table.checkInvariants()
        XCTAssertEqual(table[key(5)], key(5))
        table.removeAll()
        XCTAssertEqual(table.allocatedBytes, 0)
        table.checkInvariants()
    }

    func testReserveCapacity() {
        let table = HashTable<Int>(seed: testSeed)
        table.reserveCapacity(1000)
        XCTAssertEqual(table.bucketCounts.table0, 1024)
        XCTAssertFalse(table.isRehashing)
        table.checkInvariants()
        for i in 0..<1000 { table[key(i)] = i }
        XCTAssertEqual(table.bucketCounts.table0, 1024, "no resize while filling")
        table.reserveCapacity(5000)
        XCTAssertEqual(table.bucketCounts.table1, 8192, "a non-empty table resizes incrementally")
        table.checkInvariants()
        table.reserveCapacity(10) // never shrinks
        XCTAssertEqual(table.bucketCounts.table1, 8192)
    }

    // MARK: Random sampling

    func testRandomElementIsRoughlyUniform() {
        let table = HashTable<Int>(seed: testSeed)
        for i in 0..<10 { table[key(i)] = i }
        var rng = SeededRandom(seed: 7)
        var hits = [Int](repeating: 0, count: 10)
        for _ in 0..<10_000 { hits[table.randomElement(using: &rng)!.value] += 1 }
        for h in hits { XCTAssertTrue((700...1300).contains(h), "\(hits)") }

        // A sparse pool (live entries scattered over chunks) falls back to bucket sampling.
        let sparse = HashTable<Int>(seed: testSeed)
        for i in 0..<20_000 { sparse[key(i)] = i }
        for i in 0..<20_000 where i % 500 != 0 { sparse.removeValue(forKey: key(i)) }
        sparse.checkInvariants()
        var seen = Set<Int>()
        for _ in 0..<2000 {
            let element = sparse.randomElement(using: &rng)!
            XCTAssertEqual(element.value % 500, 0)
            XCTAssertEqual(element.key, key(element.value))
            seen.insert(element.value)
        }
        XCTAssertEqual(seen.count, 40)
    }

    // MARK: SCAN

    /// Runs a full scan, calling `between` after each step with the step number; returns every key seen.
    private func fullScan(_ table: HashTable<Int>, between: (Int) -> Void) -> [ByteString] {
        var seen: [ByteString] = []
        var cursor: UInt64 = 0
        var step = 0
        repeat {
            cursor = table.scan(cursor: cursor) { k, _ in seen.append(k) }
            step += 1
            between(step)
            XCTAssertLessThan(step, 1_000_000)
        } while cursor != 0
        return seen
    }

    func testScanWithoutMutationReturnsEveryKeyOnce() {
        let table = HashTable<Int>(seed: testSeed)
        for i in 0..<1000 { table[key(i)] = i }
        let seen = fullScan(table) { _ in }
        XCTAssertEqual(seen.count, 1000)
        XCTAssertEqual(Set(seen), Set((0..<1000).map(key)))
    }

    func testScanAcrossGrowMidScan() {
        for growAt in [1, 5, 40, 200] {
            let table = HashTable<Int>(seed: testSeed)
            for i in 0..<500 { table[key(i)] = i }
            table.rehashSteps(1_000_000)
            var next = 500
            let seen = Set(fullScan(table) { step in
                guard step >= growAt else { return }
                // Grow through two doublings, leaving the table mid-rehash between scan steps.
                for _ in 0..<40 where next < 3000 {
                    table[key(next)] = next
                    next += 1
                }
            })
            XCTAssertTrue(Set((0..<500).map(key)).isSubset(of: seen), "grow at step \(growAt)")
            XCTAssertGreaterThan(table.bucketCounts.table0, 512)
            table.checkInvariants()
        }
    }

    func testScanWhileRehashingVisitsSmallBucketAndItsExpansions() {
        let table = HashTable<Int>(seed: testSeed)
        for i in 0..<512 { table[key(i)] = i }
        table.rehashSteps(1_000_000)
        table[key(512)] = 512
        XCTAssertTrue(table.isRehashing)
        table.rehashSteps(30) // partly migrated
        XCTAssertTrue(table.isRehashing)
        let seen = fullScan(table) { _ in }
        XCTAssertTrue(table.isRehashing, "scan never rehashes")
        XCTAssertEqual(Set(seen), Set((0...512).map(key)))
        XCTAssertEqual(seen.count, 513, "no duplicates without concurrent resizes")
    }

    func testScanAcrossShrinkMidScan() {
        for shrinkAt in [1, 3, 100, 600] {
            let table = HashTable<Int>(seed: testSeed)
            for i in 0..<2000 { table[key(i)] = i }
            table.rehashSteps(1_000_000)
            XCTAssertEqual(table.bucketCounts.table0, 2048)
            let kept = Set((0..<2000).filter { $0 % 20 == 0 }.map(key))
            var victims = (0..<2000).filter { $0 % 20 != 0 }
            var shrank = false
            let seen = Set(fullScan(table) { step in
                guard step >= shrinkAt else { return }
                for _ in 0..<200 {
                    guard let v = victims.popLast() else { break }
                    table.removeValue(forKey: key(v))
                }
                shrank = shrank || table.isRehashing
            })
            XCTAssertTrue(kept.isSubset(of: seen), "shrink at step \(shrinkAt)")
            XCTAssertTrue(shrank || table.bucketCounts.table0 < 2048)
            table.checkInvariants()
        }
    }

    func testScanGuaranteeUnderRandomGrowAndShrink() {
        for seed: UInt64 in [11, 12, 13, 14] {
            var rng = SeededRandom(seed: seed)
            let table = HashTable<Int>(seed: HashSeed(k0: seed, k1: ~seed))
            let stable = (0..<150).map { mixedKey($0) }
            for (i, k) in stable.enumerated() { table[k] = i }
            var volatile = Set<Int>()
            var everPresent = Set(stable)
            let seen = Set(fullScan(table) { _ in
                // Bursts of inserts or deletes of volatile keys: the table grows and shrinks repeatedly.
                let growing = rng.next() % 2 == 0
                for _ in 0..<Int(rng.next() % 100) {
                    let n = 1000 + Int(rng.next() % 1500)
                    if growing {
                        table[mixedKey(n)] = n
                        volatile.insert(n)
                        everPresent.insert(mixedKey(n))
                    } else if let v = volatile.randomElement(using: &rng) {
                        table.removeValue(forKey: mixedKey(v))
                        volatile.remove(v)
                    }
                }
                if rng.next() % 4 == 0 { table.rehashSteps(Int(rng.next() % 20)) }
            })
            XCTAssertTrue(Set(stable).isSubset(of: seen), "seed \(seed): a stable key was missed")
            XCTAssertTrue(seen.isSubset(of: everPresent), "seed \(seed): scan returned a key never inserted")
            table.checkInvariants()
        }
    }

    // MARK: Random operations against a Dictionary model

    func testRandomOperationsAgainstDictionaryModel() {
        for seed: UInt64 in [1, 2, 3, 4, 5] {
            var rng = SeededRandom(seed: seed)
            let table = HashTable<Int>(seed: HashSeed(k0: seed &* 31, k1: seed))
            var model = [ByteString: Int]()
            var failed = false
            func check(_ condition: Bool, _ message: @autoclosure () -> String, line: UInt = #line) {
                if !condition && !failed {
                    failed = true
                    XCTFail("seed \(seed): \(message())", line: line)
                }
            }
            var keySpace = 64
            var grows = 0, shrinks = 0
            for op in 0..<3000 {
                // Phases: a large key space fills the table; a tiny one, with extra removals, empties it.
                if op % 500 == 0 { keySpace = [400, 8, 64, 400, 4, 40][op / 500 % 6] }
                let n = Int(rng.next() % UInt64(keySpace))
                let k = mixedKey(n)
                let shrinking = keySpace < 10 && rng.next() % 2 == 0
                switch shrinking ? 45 : rng.next() % 100 {
                case 0..<40:
                    let v = Int(rng.next() % 1000)
                    check(table.updateValue(v, forKey: k) == model.updateValue(v, forKey: k), "update \(k)")
                case 40..<45:
                    let v = Int(rng.next() % 1000)
                    let old = k.withUnsafeBytes { table.updateValue(v, forKey: $0) }
                    check(old == model.updateValue(v, forKey: k), "raw update \(k)")
                case 45..<75:
                    // Half the removals hit any present key, so shrink phases really empty the table.
                    let k = rng.next() % 2 == 0 ? (model.keys.randomElement(using: &rng) ?? k) : k
                    let removed = k.withUnsafeBytes { table.removeValue(forKey: $0) }
                    let expected = model.removeValue(forKey: k)
                    check(removed?.value == expected && (removed == nil || removed!.key == k), "remove \(k)")
                case 75..<88:
                    // Prefetching first must be harmless, and point where the lookup will go.
                    let hash = k.withUnsafeBytes { table.hash(of: $0) }
                    table.prefetchBucket(hash: hash)
                    table.prefetchChain(hash: hash)
                    if model[k] != nil, let reason = table.prefetchMisses(k, hash: hash) { check(false, "prefetch of \(k): \(reason)") }
                    check(table[k] == model[k] && table.contains(k) == (model[k] != nil), "find \(k)")
                case 88..<94:
                    let r = k.withUnsafeBytes { table.withValue(forKey: $0) { v -> Int in v += 1; return v } }
                    if model[k] != nil { model[k]! += 1 }
                    check(r == model[k], "withValue \(k)")
                case 94..<98:
                    table.rehashSteps(Int(rng.next() % 8))
                case 98:
                    if let (rk, rv) = table.randomElement(using: &rng) { check(model[rk] == rv, "random \(rk)") }
                    else { check(model.isEmpty, "random on non-empty") }
                default:
                    if rng.next() % 8 == 0 {
                        let keep = rng.next() % 2 == 0
                        table.removeAll(keepingCapacity: keep)
                        model.removeAll()
                    }
                }
                table.checkInvariants()
                if table.isRehashing {
                    let (old, new) = table.bucketCounts
                    if new > old { grows += 1 } else { shrinks += 1 }
                }
                check(table.count == model.count, "count \(table.count) vs \(model.count) after op \(op)")
                if op % 250 == 0 {
                    check(Dictionary(uniqueKeysWithValues: table.map { ($0.key, $0.value) }) == model,
                          "contents differ at op \(op)")
                }
                if failed { return }
            }
            check(Dictionary(uniqueKeysWithValues: table.map { ($0.key, $0.value) }) == model, "final contents")
            check(grows > 0 && shrinks > 0, "the sequence should grow and shrink (\(grows), \(shrinks))")
        }
    }
}

extension HashTable {
    /// Why prefetching `key`, which is present, would not load the bucket its lookup starts from, or nil.
    /// While rehashing, a bucket of table 0 not yet migrated is searched first (a key inserted since sits in
    /// table 1), so that is the one to prefetch; a migrated one is empty, and table 1's is searched.
    func prefetchMisses(_ key: ByteString, hash: UInt64) -> String? {
        guard let slot = bucketSlot(hash: hash) else { return "no bucket for a present key" }
        let bucket0 = Int(truncatingIfNeeded: hash) & (size0 - 1)
        if isRehashing && bucket0 >= rehashIndex {
            return slot == buckets0! + bucket0 ? nil : "not table 0's bucket \(bucket0), which the lookup searches first"
        }
        let found = key.withUnsafeBytes { lookup($0, tag: UInt32(truncatingIfNeeded: hash), head: slot.pointee) }
        return found != nil ? nil : "not in the chain of the prefetched bucket"
    }
}

extension HashTableTests {
    /// walkPool (the snapshot's walk): across many chunks and while entries come and go between steps,
    /// every entry present from start to end is visited exactly once, nothing is visited twice, and the
    /// walk ends.
    func testWalkPoolVisitsEveryLastingEntryOnce() {
        var r = SeededRandom(seed: 99)
        let table = HashTable<Int>()
        for i in 0..<20_000 { _ = table.updateValue(i, forKey: ByteString(Array("k\(i)".utf8))) }
        var removed = Set<Int>()
        var visits: [Int: Int] = [:]
        var position: Int? = 0
        var steps = 0, added = 0
        while let p = position {
            position = table.walkPool(from: p, slots: 1 + r.below(300)) { _, value in visits[value, default: 0] += 1 }
            steps += 1
            XCTAssertLessThan(steps, 100_000, "the walk does not end")
            if steps > 100_000 { break }
            // Between steps: remove some, add some (new ones may or may not be visited).
            for _ in 0..<r.below(20) {
                let i = r.below(20_000)
                if table.removeValue(forKey: ByteString(Array("k\(i)".utf8))) != nil { removed.insert(i) }
            }
            for _ in 0..<r.below(20) {
                added += 1
                _ = table.updateValue(100_000 + added, forKey: ByteString(Array("n\(added)".utf8)))
            }
        }
        for i in 0..<20_000 where !removed.contains(i) { XCTAssertEqual(visits[i], 1, "entry \(i)") }
        XCTAssertTrue(visits.values.allSatisfy { $0 == 1 }, "an entry was visited twice")
    }
}
