// HashTable: introspection (bucket and entry counts, load factor, allocated bytes) and `checkInvariants`,
// which verifies every structural invariant described in the header of HashTable.swift.

// MARK: - Introspection and invariants

extension HashTable {
    /// Bucket counts of table 0 and of table 1 (0 when not rehashing).
    public var bucketCounts: (table0: Int, table1: Int) { (size0, size1) }
    /// Entries in table 0 and in table 1.
    public var entryCounts: (table0: Int, table1: Int) { (used0, used1) }
    public var isRehashing: Bool { rehashIndex >= 0 }
    /// The next bucket of table 0 to migrate, nil when not rehashing.
    public var rehashPosition: Int? { rehashIndex >= 0 ? rehashIndex : nil }
    /// Entries per bucket of the table entries are inserted into (the new one while rehashing).
    public var loadFactor: Double {
        let size = rehashIndex >= 0 ? size1 : size0
        return size == 0 ? 0 : Double(_count) / Double(size)
    }
    /// Allocated pool chunks and total slots they hold.
    public var poolCapacity: (chunks: Int, slots: Int) {
        var chunksAllocated = 0, slots = 0
        for k in 0..<chunkCount where chunks![k].base != nil {
            chunksAllocated += 1
            slots += chunks![k].capacity
        }
        return (chunksAllocated, slots)
    }
    /// Bytes this table has allocated (buckets, pool, directory), excluding heap key bytes and anything
    /// values own. For INFO memory / MEMORY USAGE.
    public var allocatedBytes: Int {
        (size0 + size1) * 4 + poolCapacity.slots * MemoryLayout<Entry>.stride
            + chunkCapacity * MemoryLayout<Chunk>.stride + (chunkCapacity + 63) / 64 * 8
    }
    /// The part of `allocatedBytes` that holds no key and no value (MEMORY STATS' overhead.hashtable.main):
    /// the bucket arrays, the chunk directory and room bitmap, pool slots that are free or never used, and in
    /// each live entry everything but its key field and the first `valueBytes` bytes of its value field, i.e.
    /// the link and cached hash (8 bytes) plus what the value type keeps per entry beyond those bytes (the
    /// keyspace's access stamp and snapshot epoch) and padding.
    /// - Complexity: O(number of pool chunks).
    public func overheadBytes(valueBytes: Int = MemoryLayout<Value>.size) -> Int {
        let keyField = MemoryLayout<Entry>.offset(of: \Entry.value)! - MemoryLayout<Entry>.offset(of: \Entry.key)!
        return allocatedBytes - _count * (keyField + valueBytes)
    }
    /// Bytes one entry occupies in the pool.
    public static var entryStride: Int { MemoryLayout<Entry>.stride }

    /// MEMORY USAGE of a collection held in this table: the table object, its arrays (`allocatedBytes`),
    /// and what its entries own outside the pool (`elementBytes`: long keys' and values' allocations),
    /// measured on the first `samples` entries in pool order and scaled to the count, as Redis's
    /// objectComputeSize samples a dict.
    /// - Complexity: O(min(samples, count)) plus the number of pool chunks.
    func memoryUsage(samples: Int, _ elementBytes: (ByteString, Value) -> Int) -> Int {
        var bytes = allocationSize(of: self) + allocatedBytes
        let wanted = Swift.min(samples, _count)
        guard wanted > 0 else { return bytes }
        var measured = 0, seen = 0
        for (key, value) in self {
            measured += elementBytes(key, value)
            seen += 1
            if seen == wanted { break }
        }
        bytes += seen == _count ? measured : Int(Double(measured) / Double(seen) * Double(_count))
        return bytes
    }

    /// Verifies every structural invariant; traps with a description on the first violation. O(n).
    public func checkInvariants() {
        precondition(MemoryLayout<Entry>.offset(of: \Entry.next) == 0
                     && MemoryLayout<Entry>.offset(of: \Entry.hash) == 4, "entry header must lead the entry")
        precondition(_count == used0 + used1, "count \(_count) != used0 \(used0) + used1 \(used1)")
        precondition(_count >= 0 && used0 >= 0 && used1 >= 0)
        // Bucket tables.
        precondition((size0 == 0) == (buckets0 == nil), "table 0 allocation")
        if size0 > 0 {
            precondition(size0 >= HashTableLayout.minBuckets && size0 & (size0 - 1) == 0, "size0 \(size0)")
        }
        if rehashIndex < 0 {
            precondition(rehashIndex == -1 && buckets1 == nil && size1 == 0 && used1 == 0, "stray table 1")
        } else {
            precondition(size0 > 0 && buckets1 != nil && size1 != size0 && size1 & (size1 - 1) == 0
                         && size1 >= HashTableLayout.minBuckets, "rehash tables \(size0) -> \(size1)")
            precondition(rehashIndex <= size0, "rehashIndex \(rehashIndex) beyond table 0 (\(size0))")
        }
        if _count == 0 && !capacityKept {
            precondition(size0 == 0 && chunkCount == 0 && chunks == nil, "an empty table holds no storage")
        }
        var seenLinks = Set<UInt32>()
        var seenKeys = Set<ByteString>()
        func walk(_ buckets: UnsafeMutablePointer<UInt32>?, size: Int, table: Int) -> Int {
            guard let buckets else { return 0 }
            var reached = 0
            for bucket in 0..<size {
                var link = buckets[bucket]
                if table == 0 && bucket < rehashIndex {
                    precondition(link == 0, "old bucket \(bucket) below rehash index \(rehashIndex) not empty")
                }
                while link != 0 {
                    precondition(validLiveLink(link), "table \(table) bucket \(bucket): bad link \(link)")
                    precondition(seenLinks.insert(link).inserted, "entry \(link) reachable twice (cycle?)")
                    let entry = entryPointer(link)
                    let hash = entry.pointee.key.withUnsafeBytes { hashBytes($0, seed: seed) }
                    precondition(entry.pointee.hash == UInt32(truncatingIfNeeded: hash), "stale cached hash")
                    precondition(Int(truncatingIfNeeded: hash) & (size - 1) == bucket, "entry in wrong bucket")
                    precondition(seenKeys.insert(entry.pointee.key).inserted, "duplicate key \(entry.pointee.key)")
                    let found = entry.pointee.key.withUnsafeBytes { lookup($0, hash: hash) }
                    precondition(found == entry, "key \(entry.pointee.key.debugDescription) not findable")
                    reached += 1
                    link = entry.pointee.next
                }
            }
            return reached
        }
        precondition(walk(buckets0, size: size0, table: 0) == used0, "table 0 reaches != used0 \(used0)")
        precondition(walk(buckets1, size: size1, table: 1) == used1, "table 1 reaches != used1 \(used1)")
        // Pool.
        precondition(chunkCount <= chunkCapacity && (chunks == nil) == (chunkCapacity == 0))
        let capacities = (0..<chunkCount).reduce(0) { $0 + chunks![$1].capacity }
        precondition(slotCapacity == capacities, "slotCapacity \(slotCapacity) != \(capacities) slots in chunks")
        var live = 0, emptyChunks = 0
        for k in 0..<chunkCount {
            let chunk = chunks![k]
            let hasRoom = roomBits![k >> 6] & (1 << UInt64(k & 63)) != 0
            guard let base = chunk.base else {
                precondition(chunk.used == 0 && chunk.live == 0 && chunk.freeHead == 0 && hasRoom,
                             "unallocated chunk \(k) state")
                precondition(k != chunkCount - 1, "trailing unallocated chunk not trimmed")
                continue
            }
            let fullSize = HashTableLayout.chunkSize
            precondition(k == 0 ? (chunk.capacity >= HashTableLayout.firstChunkCapacity
                                   && chunk.capacity <= fullSize && chunk.capacity & (chunk.capacity - 1) == 0)
                                : chunk.capacity == fullSize, "chunk \(k) capacity \(chunk.capacity)")
            precondition(chunk.used <= chunk.capacity, "chunk \(k) used beyond capacity")
            var liveHere = 0
            for offset in 0..<chunk.used where Self.isLive(base + offset) { liveHere += 1 }
            precondition(liveHere == chunk.live, "chunk \(k): \(liveHere) live slots, counter says \(chunk.live)")
            var free = 0
            var link = chunk.freeHead
            while link != 0 {
                let offset = link - 1
                precondition(offset < chunk.used && !Self.isLive(base + offset), "chunk \(k): bad free slot")
                free += 1
                precondition(free <= chunk.used, "chunk \(k): free list cycle")
                link = Int(UnsafeRawPointer(base + offset).load(fromByteOffset: 4, as: UInt32.self))
            }
            precondition(free == chunk.used - chunk.live, "chunk \(k): free list holds \(free) slots")
            precondition(hasRoom == (chunk.freeHead != 0 || chunk.used < fullSize), "chunk \(k): room bit")
            if chunk.live == 0 { emptyChunks += 1 }
            live += chunk.live
        }
        precondition(live == _count && seenLinks.count == _count, "pool holds \(live) live entries, count \(_count)")
        precondition(capacityKept || emptyChunks == (spareChunk >= 0 ? 1 : 0),
                     "\(emptyChunks) empty chunks, spare \(spareChunk)")
        if spareChunk >= 0 {
            precondition(spareChunk < chunkCount && chunks![spareChunk].base != nil
                         && chunks![spareChunk].live == 0, "spare chunk \(spareChunk)")
        }
        for w in 0..<(chunkCapacity + 63) / 64 {
            if w < roomHint { precondition(roomBits![w] == 0, "room bit below hint") }
            for bit in 0..<64 where w * 64 + bit >= chunkCount {
                precondition(roomBits![w] & (1 << UInt64(bit)) == 0, "room bit beyond the directory")
            }
        }
    }

    func validLiveLink(_ link: UInt32) -> Bool {
        let index = Int(link) - 1
        let k = index >> HashTableLayout.chunkShift
        guard index >= 0, k < chunkCount, let base = chunks![k].base else { return false }
        let offset = index & HashTableLayout.chunkMask
        return offset < chunks![k].used && Self.isLive(base + offset)
    }
}
