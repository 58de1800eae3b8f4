// HashTable: resizing and incremental rehashing (starting a resize, migrating buckets from table 0 to
// table 1, growing and shrinking). The algorithm is described in the header of HashTable.swift.

import Glibc

// MARK: - Resizing and incremental rehashing

extension HashTable {
    @inlinable @inline(__always)
    func rehashStepIfNeeded() {
        if rehashIndex >= 0 && rehashPauses == 0 { rehash(steps: 1) }
    }

    /// Migrates up to `steps` non-empty buckets from table 0 to table 1, visiting at most 10 * steps empty
    /// ones (a long run of empty buckets must not make one step O(n)). Returns true if rehashing remains.
    @inlinable @discardableResult @_effects(releasenone)
    func rehash(steps: Int) -> Bool {
        guard rehashIndex >= 0 else { return false }
        let old = buckets0!, new = buckets1!
        let newMask = size1 - 1
        var steps = steps
        var emptyVisits = steps * 10
        while steps > 0 && used0 != 0 {
            steps -= 1
            // used0 != 0 guarantees a non-empty bucket at or after rehashIndex.
            while old[rehashIndex] == 0 {
                rehashIndex += 1
                emptyVisits -= 1
                if emptyVisits == 0 { return true }
            }
            var link = old[rehashIndex]
            while link != 0 {
                let entry = entryPointer(link)
                let next = entry.pointee.next
                let bucket = Int(entry.pointee.hash) & newMask // the cached hash: no key is rehashed
                entry.pointee.next = new[bucket]
                new[bucket] = link
                used0 -= 1
                used1 += 1
                link = next
            }
            old[rehashIndex] = 0
            rehashIndex += 1
        }
        guard used0 == 0 else { return true }
        freeBuckets(old, size0)
        (buckets0, size0, used0) = (new, size1, used1)
        (buckets1, size1, used1) = (nil, 0, 0)
        rehashIndex = -1
        return false
    }

    /// Performs up to `steps` rehash steps (the server cron's unit of work). Returns true if the table is
    /// still rehashing afterwards. Does nothing while a scan is running.
    @discardableResult
    public func rehashSteps(_ steps: Int) -> Bool {
        guard rehashPauses == 0 else { return rehashIndex >= 0 }
        return rehash(steps: steps)
    }

    /// Rehashes in batches of 100 steps for about `milliseconds` (Redis's dictRehashMilliseconds, called
    /// from the cron). Returns the number of steps performed.
    @discardableResult
    public func rehash(milliseconds: Int) -> Int {
        guard rehashPauses == 0 else { return 0 }
        let deadline = monotonicNanoseconds() + UInt64(Swift.max(0, milliseconds)) * 1_000_000
        var done = 0
        while rehash(steps: 100) {
            done += 100
            if monotonicNanoseconds() >= deadline { break }
        }
        return done
    }

    /// Makes room for `capacity` entries without further growth (e.g. before loading a snapshot).
    /// Starts an incremental resize if the table already holds entries; does nothing while rehashing.
    public func reserveCapacity(_ capacity: Int) {
        checkMutable()
        guard rehashIndex < 0 else { return }
        let size = Self.bucketCount(for: capacity)
        guard size > size0 else { return }
        if _count == 0 { capacityKept = true }
        startResize(to: size)
    }

    @inlinable
    func expandIfNeeded() {
        guard rehashIndex < 0 else { return }
        if size0 == 0 {
            startResize(to: HashTableLayout.minBuckets)
        } else if used0 >= size0 && (allowsResize || used0 / size0 > HashTableLayout.forceResizeRatio) {
            startResize(to: Self.bucketCount(for: used0 + 1))
        }
    }

    /// Redis's htNeedsResize + dictResize: shrink to the smallest power of two holding the entries.
    @inlinable
    func shrinkIfNeeded() {
        guard rehashIndex < 0, allowsResize, size0 > HashTableLayout.minBuckets,
              used0 * 100 / size0 < HashTableLayout.minFillPercent else { return }
        startResize(to: Self.bucketCount(for: used0))
    }

    /// Smallest power of two >= max(n, minBuckets).
    @inlinable
    static func bucketCount(for n: Int) -> Int {
        let n = Swift.max(n, HashTableLayout.minBuckets)
        return 1 << (Int.bitWidth - (n - 1).leadingZeroBitCount)
    }

    @usableFromInline
    func allocateBuckets(_ size: Int) -> UnsafeMutablePointer<UInt32> {
        let bytes = size * MemoryLayout<UInt32>.stride
        let raw = bytes >= HashTableLayout.directMapMinimum ? mapZeroedPages(bytes) : calloc(size, 4)!
        return raw.bindMemory(to: UInt32.self, capacity: size)
    }

    @usableFromInline
    func freeBuckets(_ buckets: UnsafeMutablePointer<UInt32>?, _ size: Int) {
        guard let buckets else { return }
        let bytes = size * MemoryLayout<UInt32>.stride
        if bytes >= HashTableLayout.directMapMinimum { unmapPages(buckets, bytes) } else { free(buckets) }
    }

    /// Allocates the new bucket table; an empty table simply adopts it.
    @usableFromInline
    func startResize(to size: Int) {
        guard size != size0 else { return }
        let buckets = allocateBuckets(size)
        if size0 == 0 || used0 == 0 {
            freeBuckets(buckets0, size0)
            (buckets0, size0) = (buckets, size)
        } else {
            (buckets1, size1, used1) = (buckets, size, 0)
            rehashIndex = 0
        }
    }
}
