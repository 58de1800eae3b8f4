// HashTable: iteration over the pool (Sequence), random sampling (RANDOMKEY, expiry) and SCAN over the
// buckets with a reverse-binary cursor. See the header of HashTable.swift for why the two walks differ.

// MARK: - Iteration, random sampling, SCAN

extension HashTable: Sequence {
    public typealias Element = (key: ByteString, value: Value)

    /// Walks the pool in slot order. See the file header: unaffected by rehashing, and every entry present
    /// for the whole iteration is returned exactly once even if the loop body inserts or removes.
    public struct Iterator: IteratorProtocol {
        @usableFromInline let table: HashTable
        @usableFromInline var index = 0

        @inlinable init(table: HashTable) { self.table = table }

        @inlinable
        public mutating func next() -> Element? {
            while true {
                let k = index >> HashTableLayout.chunkShift
                guard k < table.chunkCount else { return nil }
                let chunk = table.chunks![k]
                let offset = index & HashTableLayout.chunkMask
                guard let base = chunk.base, offset < chunk.used else {
                    index = (k + 1) << HashTableLayout.chunkShift
                    continue
                }
                index += 1
                let entry = base + offset
                if HashTable.isLive(entry) { return (entry.pointee.key, entry.pointee.value) }
            }
        }
    }

    @inlinable public func makeIterator() -> Iterator { Iterator(table: self) }
    @inlinable public var underestimatedCount: Int { _count }

    /// The keys, in iteration order.
    @inlinable public var keys: LazyMapSequence<HashTable, ByteString> { lazy.map { $0.key } }
    /// The values, in iteration order.
    @inlinable public var values: LazyMapSequence<HashTable, Value> { lazy.map { $0.value } }
}

extension HashTable {
    // randomElement(using:) is in HashTable+Sample.swift.

    public func randomElement() -> Element? {
        var generator = SystemRandomNumberGenerator()
        return randomElement(using: &generator)
    }

    /// One step of a SCAN: calls `body` for the entries of the bucket(s) at `cursor` and returns the next
    /// cursor, 0 when the scan is complete. Start with cursor 0.
    ///
    /// Guarantee (Redis's dictScan): every entry present from the first call to the last is returned at
    /// least once, even if the table grows or shrinks between calls; entries may be returned twice.
    ///
    /// Why it works: with 2^n buckets, an entry with hash h lives in bucket h mod 2^n, the low n bits of
    /// h. The cursor is incremented on its *reversed* bits, i.e. from the high bit of the mask downwards.
    /// Under a table of 2^n buckets the cursor has visited exactly the buckets whose low-n-bit patterns are
    /// "before" it in that order. Growing to 2^(n+1) splits bucket b into b and b + 2^n, which share their
    /// low n bits, so both expansions of a visited bucket are "before" the cursor in the new order too
    /// (and are not visited again); shrinking merges buckets that share low bits, so a merged bucket may be
    /// visited again (the duplicates) but nothing is skipped. While rehashing, entries of one small-table
    /// bucket b may sit in b or in any of its expansions in the large table (the buckets whose low bits are
    /// b), so one step visits b in the small table and then every expansion of b in the large table,
    /// incrementing the high bits the small mask does not cover, before moving on.
    ///
    /// Rehashing is paused during the call, and `body` must not insert or remove (that traps).
    public func scan(cursor: UInt64, _ body: (ByteString, Value) throws -> Void) rethrows -> UInt64 {
        guard _count > 0 else { return 0 }
        rehashPauses += 1
        accessLock += 1
        defer {
            rehashPauses -= 1
            accessLock -= 1
        }
        var v = cursor
        if rehashIndex < 0 {
            let mask = UInt64(size0 - 1)
            try visitBucket(buckets0!, Int(truncatingIfNeeded: v & mask), body)
            v = Self.nextCursor(v, mask: mask)
        } else {
            let (small, smallSize, large, largeSize) = size0 <= size1
                ? (buckets0!, size0, buckets1!, size1) : (buckets1!, size1, buckets0!, size0)
            let smallMask = UInt64(smallSize - 1), largeMask = UInt64(largeSize - 1)
            try visitBucket(small, Int(truncatingIfNeeded: v & smallMask), body)
            repeat {
                try visitBucket(large, Int(truncatingIfNeeded: v & largeMask), body)
                v = Self.nextCursor(v, mask: largeMask)
            } while v & (smallMask ^ largeMask) != 0
        }
        return v
    }

    @usableFromInline
    func visitBucket(_ buckets: UnsafeMutablePointer<UInt32>, _ bucket: Int,
                     _ body: (ByteString, Value) throws -> Void) rethrows {
        var link = buckets[bucket]
        while link != 0 {
            let entry = entryPointer(link)
            link = entry.pointee.next
            try body(entry.pointee.key, entry.pointee.value)
        }
    }

    /// Increments the bits of `cursor` covered by `mask` in reverse order (high bit first); the bits
    /// above the mask are set first so the carry propagates out of the masked ones.
    @usableFromInline
    static func nextCursor(_ cursor: UInt64, mask: UInt64) -> UInt64 {
        var v = cursor | ~mask
        v = reverseBits(v)
        v &+= 1
        return reverseBits(v)
    }

    @usableFromInline
    static func reverseBits(_ x: UInt64) -> UInt64 {
        var v = x
        v = ((v >> 1) & 0x5555_5555_5555_5555) | ((v & 0x5555_5555_5555_5555) << 1)
        v = ((v >> 2) & 0x3333_3333_3333_3333) | ((v & 0x3333_3333_3333_3333) << 2)
        v = ((v >> 4) & 0x0F0F_0F0F_0F0F_0F0F) | ((v & 0x0F0F_0F0F_0F0F_0F0F) << 4)
        return v.byteSwapped
    }
}

extension HashTable {
    /// `scan(cursor:_:)` with in-place access to each value (a snapshot marks the entries it saved). `body`
    /// may change the value but must not insert or remove (that traps).
    public func scanInPlace(cursor: UInt64, _ body: (ByteString, inout Value) throws -> Void) rethrows -> UInt64 {
        guard _count > 0 else { return 0 }
        rehashPauses += 1
        accessLock += 1
        defer {
            rehashPauses -= 1
            accessLock -= 1
        }
        func visit(_ buckets: UnsafeMutablePointer<UInt32>, _ bucket: Int) throws {
            var link = buckets[bucket]
            while link != 0 {
                let entry = entryPointer(link)
                link = entry.pointee.next
                try body(entry.pointee.key, &entry.pointee.value)
            }
        }
        var v = cursor
        if rehashIndex < 0 {
            let mask = UInt64(size0 - 1)
            try visit(buckets0!, Int(truncatingIfNeeded: v & mask))
            v = Self.nextCursor(v, mask: mask)
        } else {
            let (small, smallSize, large, largeSize) = size0 <= size1
                ? (buckets0!, size0, buckets1!, size1) : (buckets1!, size1, buckets0!, size0)
            let smallMask = UInt64(smallSize - 1), largeMask = UInt64(largeSize - 1)
            try visit(small, Int(truncatingIfNeeded: v & smallMask))
            repeat {
                try visit(large, Int(truncatingIfNeeded: v & largeMask))
                v = Self.nextCursor(v, mask: largeMask)
            } while v & (smallMask ^ largeMask) != 0
        }
        return v
    }
}

extension HashTable {
    /// Visits the live entries in pool order (memory order: a stream of cache lines, not one miss per entry
    /// as a bucket walk), starting at slot `position` and looking at up to `slots` slots of one chunk; returns where to
    /// continue, nil once the pool is done. Slots never move while their entry lives (the first chunk's
    /// growth copies it to the same offsets), so a walk spread over time visits every entry present from
    /// start to end exactly once; entries added meanwhile may or may not be visited. `body` may change the
    /// value but must not insert or remove (that traps). A snapshot walks the keyspace this way.
    public func walkPool(from position: Int, slots: Int, _ body: (ByteString, inout Value) throws -> Void) rethrows -> Int? {
        accessLock += 1
        defer { accessLock -= 1 }
        var k = position >> HashTableLayout.chunkShift
        var offset = position & HashTableLayout.chunkMask
        while k < chunkCount {
            let chunk = chunks! + k
            guard let base = chunk.pointee.base, offset < chunk.pointee.used else {
                k += 1
                offset = 0
                continue
            }
            // At most `slots` slots of one chunk per call.
            let end = Swift.min(chunk.pointee.used, offset + slots)
            while offset < end {
                let entry = base + offset
                offset += 1
                if Self.isLive(entry) { try body(entry.pointee.key, &entry.pointee.value) }
            }
            return k << HashTableLayout.chunkShift + offset  // + (not |): a finished chunk's offset is chunkSize
        }
        return nil
    }
}
