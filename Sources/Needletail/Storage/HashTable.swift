import CSystem
import Glibc

// HashTable: the keyspace dictionary (and the member index of sorted sets, later hashes and sets).
//
// ALGORITHM — Redis's dict.c, incremental rehashing with two bucket tables
//
// Keys hash (SipHash-1-3, seeded per process: Storage/Hashing.swift) into a power-of-two array of buckets;
// colliding entries are chained. The table grows when it holds as many entries as buckets (load factor 1)
// and shrinks when under 10% full, like Redis. A resize never happens in one go: it allocates the new bucket
// array (zeroed pages straight from mmap for big tables: O(1), no memset) and from then on both tables are live.
// `rehashIndex` is the first bucket of the old table not yet migrated; every bucket below it is empty.
// Each operation (inserts, deletes and lookups, as Redis does) moves the chains of one more non-empty old
// bucket, visiting at most 10 empty buckets to find it, so no command ever pays for the whole resize; the
// server cron adds `rehash(milliseconds:)`. Lookups and deletes search both tables; inserts go into the new
// one. When the old table is empty it is freed and the new one takes its place.
//
// LAYOUT — entries in a chunked pool, buckets of 32-bit links, nothing allocated per entry
//
//     bucket table 0: [UInt32] ─┐         pool (chunks of 4096 entries, directory of chunk pointers)
//     bucket table 1: [UInt32] ─┼──link──▶ ┌next:UInt32┬hash:UInt32┬key: ByteString (24)┬value: Value┐
//                               │          └────┬──────┴───────────┴───────────────────┴───────────┘
//                               │               └──link──▶ next entry of the same chain
//
// - A link is an entry's pool index + 1 (0 means "none", so a calloc'ed bucket array is an empty table).
//   Both bucket tables point into the same pool, so rehashing only rewrites links; entries never move.
// - The entry caches the low 32 bits of its hash. It costs nothing (the 4 bytes would be padding after the
//   32-bit `next`) and pays three times: rehash relinks without rehashing keys, chain walks compare 4 bytes
//   before touching the key, and SCAN never hashes.
// - The pool is a directory of fixed-size chunks (4096 entries). Growing it allocates one new chunk and at
//   most doubles the small directory: no operation ever copies the pool (only chunk 0 of a small table
//   starts at 4 entries and doubles up to 4096, a bounded copy). Freed slots go on their chunk's free list
//   (threaded through the free slots' `hash` field; `next` holds a marker); new entries take the lowest
//   chunk with room (a bitmap finds it), so live entries stay packed low and chunks that empty out are
//   unmapped (one empty chunk is kept as a spare to avoid thrashing at a chunk boundary).
//   Memory freed by deletions is reused by later inserts; a table that becomes empty frees everything.
//
// Memory per entry: stride(Entry) = 8 + 24 + MemoryLayout<Value>.stride, rounded up to 8, plus 4 bytes
// per bucket at a load factor between 0.5 and 1, i.e. 4-8 bytes. With a 24-byte value (a ByteString)
// that is 56 + 4..8 = 60-64 bytes per key when key and value fit the 22-byte inline ByteString. Measured:
// 1,000,000 16-byte keys with 3-byte values cost 60.4 bytes each in RSS; redis-server 7.0 takes 104
// (used_memory) / 115 (RSS) for the same SETs (dictEntry + robj + sds key + embstr value, jemalloc
// classes). Keys longer than 22 bytes add one malloc for their bytes. Limit: 2^32 - 2 entries.
//
// WHY A FINAL CLASS (not a copy-on-write struct): a keyspace or a member index has identity; it is never
// meant to be copied. With a CoW struct, `var z = value; z.insert(...); store(z)` silently copies the
// whole table, exactly the O(n) command this design forbids. Lookups also advance the rehash, which
// mutates internal layout (never content) from a read, natural for a reference type. The class is final
// and generic over `Value` with no protocol requirements, so nothing dispatches dynamically; hot paths are
// @inlinable so they specialize across modules too. One table costs one object, not one per entry.
//
// ITERATION walks the pool by index (for-in, forEach, keys). Rehashing never moves entries, so iteration
// is unaffected by the rehash steps lookups perform, and it even tolerates deletes and inserts in the loop
// body: every entry present for the whole loop is visited exactly once. (Redis needs a "safe iterator"
// that pauses rehashing for this.) SCAN walks buckets instead, for its cursor guarantee: see `scan`.
//
// A lookup allocates nothing: `find` takes the key as raw bytes (e.g. still in the request buffer).
// Like Redis's dict, a table is not thread-safe, not even for concurrent reads (lookups rehash).

@usableFromInline
enum HashTableLayout {
    /// Entries per pool chunk: 4096, so a full chunk is a whole number of pages (224 KB for 56-byte
    /// entries), mapped directly and unmapped when released (see `allocateChunk`).
    @inlinable static var chunkShift: Int { 12 }
    @inlinable static var chunkSize: Int { 1 << chunkShift }
    @inlinable static var chunkMask: Int { chunkSize - 1 }
    /// The first capacity of chunk 0, which doubles up to `chunkSize` (small tables stay small).
    @inlinable static var firstChunkCapacity: Int { 4 }
    /// `next` of a free slot. Links are index + 1 <= 2^32 - 2, so this value is never a link.
    @inlinable static var freeMark: UInt32 { .max }
    @inlinable static var maxEntries: Int { Int(UInt32.max) - 2 }
    /// Bucket tables of this many bytes or more are mapped pages rather than calloc'ed (see mapZeroedPages).
    @inlinable static var directMapMinimum: Int { 64 * 1024 }
    /// Redis: DICT_HT_INITIAL_SIZE.
    @inlinable static var minBuckets: Int { 4 }
    /// Redis: dict_force_resize_ratio; grow anyway past this load while resizing is disallowed.
    @inlinable static var forceResizeRatio: Int { 5 }
    /// Redis: HASHTABLE_MIN_FILL, in percent.
    @inlinable static var minFillPercent: Int { 10 }
}

public final class HashTable<Value> {
    @usableFromInline
    struct Entry {
        /// Link of the next entry in the bucket chain (0 = end), or `freeMark` on a free slot.
        @usableFromInline var next: UInt32
        /// Low 32 bits of the key's hash; on a free slot, the chunk's free-list link (offset + 1).
        @usableFromInline var hash: UInt32
        @usableFromInline var key: ByteString
        @usableFromInline var value: Value

        @inlinable init(next: UInt32, hash: UInt32, key: ByteString, value: Value) {
            self.next = next
            self.hash = hash
            self.key = key
            self.value = value
        }
    }

    /// One pool chunk. `used` is the high-water mark: slots at or above it were never initialised.
    @usableFromInline
    struct Chunk {
        @usableFromInline var base: UnsafeMutablePointer<Entry>? = nil
        @usableFromInline var capacity = 0
        @usableFromInline var used = 0
        @usableFromInline var live = 0
        /// Offset + 1 of the first free slot, 0 if none.
        @usableFromInline var freeHead = 0

        @inlinable init() {}
    }

    public let seed: HashSeed

    /// False while a forked child shares memory (a future BGSAVE): like Redis's dict_can_resize, the table
    /// then only grows past load factor 5 and never shrinks, to avoid copy-on-write of touched pages.
    @exclusivity(unchecked) public var allowsResize = true

    // The mutable state below opts out of dynamic exclusivity checking (swift_beginAccess on every
    // class property access costs ~10% of a lookup). Safe: a table is used from one thread, every
    // access is instantaneous, and the one long-lived access (`withValue`'s inout) goes through an
    // unsafe pointer into the pool, which `accessLock` protects against structural mutation.

    // Bucket tables. Table 0 is the table; table 1 exists only while rehashing into it.
    @exclusivity(unchecked) @usableFromInline var buckets0: UnsafeMutablePointer<UInt32>? = nil
    @exclusivity(unchecked) @usableFromInline var size0 = 0
    @exclusivity(unchecked) @usableFromInline var used0 = 0
    @exclusivity(unchecked) @usableFromInline var buckets1: UnsafeMutablePointer<UInt32>? = nil
    @exclusivity(unchecked) @usableFromInline var size1 = 0
    @exclusivity(unchecked) @usableFromInline var used1 = 0
    /// First bucket of table 0 not yet migrated, or -1 when not rehashing.
    @exclusivity(unchecked) @usableFromInline var rehashIndex = -1
    /// > 0 while a scan runs: rehash steps (e.g. from a lookup in the scan body) are skipped.
    @exclusivity(unchecked) @usableFromInline var rehashPauses = 0
    /// > 0 while `scan` or `withValue` hands out entries: mutations would invalidate them and trap.
    @exclusivity(unchecked) @usableFromInline var accessLock = 0
    @exclusivity(unchecked) @usableFromInline var _count = 0

    // Entry pool.
    @exclusivity(unchecked) @usableFromInline var chunks: UnsafeMutablePointer<Chunk>? = nil
    @exclusivity(unchecked) @usableFromInline var chunkCount = 0
    @exclusivity(unchecked) @usableFromInline var chunkCapacity = 0
    /// Entry slots in allocated chunks, live or free (see `slackBytes`).
    @exclusivity(unchecked) @usableFromInline var slotCapacity = 0
    /// Bit k set when chunk k (k < chunkCount) can take an entry: unallocated, has a free slot, or below
    /// its full size. Stored after the chunk directory, in the same allocation.
    @exclusivity(unchecked) @usableFromInline var roomBits: UnsafeMutablePointer<UInt64>? = nil
    /// Every word of `roomBits` below this one is zero.
    @exclusivity(unchecked) @usableFromInline var roomHint = 0
    /// The one empty chunk kept allocated, or -1.
    @exclusivity(unchecked) @usableFromInline var spareChunk = -1
    /// Set by `removeAll(keepingCapacity: true)` and `reserveCapacity` on an empty table: storage is kept
    /// on purpose while empty (otherwise an empty table holds none).
    @exclusivity(unchecked) @usableFromInline var capacityKept = false

    /// A table hashing with `seed`; the default is the random per-process seed.
    public init(seed: HashSeed = .process) {
        self.seed = seed
    }

    deinit {
        destroyEntries()
        releaseStorage()
    }

    public var count: Int { _count }
    public var isEmpty: Bool { _count == 0 }
}

// MARK: - Lookup

extension HashTable {
    /// The value stored under `key`, given as raw bytes (e.g. still in the request buffer).
    /// Advances an ongoing rehash by one step, as Redis's dictFind does.
    /// - Complexity: O(1) on average; allocates nothing.
    @inlinable
    public func find(_ key: UnsafeRawBufferPointer) -> Value? {
        guard _count > 0 else { return nil }
        rehashStepIfNeeded()
        return lookup(key, hash: hashBytes(key, seed: seed))?.pointee.value
    }

    /// Bytes of allocated entry slots that hold no entry: free-list slots and the untouched end of a chunk,
    /// taken by the next insertions. To the allocator they are in use; to maxmemory they are free memory,
    /// as a freed dictEntry is to Redis (Server/Eviction.swift). O(1).
    public var slackBytes: Int { (slotCapacity - _count) * MemoryLayout<Entry>.stride }

    /// The entry stored under `key`, in place: valid until the next insertion or removal (the pool never
    /// moves entries, but a removal frees the slot). For callers in this module that read and update an
    /// entry's metadata with one probe (Database's access stamps).
    @inlinable
    func findPointer(_ key: UnsafeRawBufferPointer) -> UnsafeMutablePointer<Entry>? {
        guard _count > 0 else { return nil }
        rehashStepIfNeeded()
        return lookup(key, hash: hashBytes(key, seed: seed))
    }

    /// The key as the table stores it, with its value: `find` for callers that need the stored key's own
    /// allocation (MEMORY USAGE).
    @inlinable
    public func findEntry(_ key: UnsafeRawBufferPointer) -> Element? {
        guard _count > 0 else { return nil }
        rehashStepIfNeeded()
        guard let entry = lookup(key, hash: hashBytes(key, seed: seed)) else { return nil }
        return (entry.pointee.key, entry.pointee.value)
    }

    @inlinable
    public func contains(_ key: UnsafeRawBufferPointer) -> Bool {
        guard _count > 0 else { return false }
        rehashStepIfNeeded()
        return lookup(key, hash: hashBytes(key, seed: seed)) != nil
    }

    @inlinable
    public func contains(_ key: ByteString) -> Bool {
        key.withUnsafeBytes { contains($0) }
    }

    /// Get: like `find`. Set: `updateValue`, or `removeValue` when assigning nil.
    @inlinable
    public subscript(key: ByteString) -> Value? {
        get { key.withUnsafeBytes { find($0) } }
        set {
            if let newValue {
                updateValue(newValue, forKey: key)
            } else {
                key.withUnsafeBytes { _ = removeValue(forKey: $0) }
            }
        }
    }

    /// Calls `body` with the value stored under `key`, in place (no copy: a value that is itself a
    /// collection, such as a sorted set, is mutated without being duplicated). Returns nil if the key is
    /// absent. `body` may look keys up in this table but must not insert or remove (that traps).
    @inlinable
    public func withValue<R>(forKey key: UnsafeRawBufferPointer, _ body: (inout Value) throws -> R) rethrows -> R? {
        checkMutable()
        guard _count > 0 else { return nil }
        rehashStepIfNeeded()
        guard let entry = lookup(key, hash: hashBytes(key, seed: seed)) else { return nil }
        accessLock += 1
        defer { accessLock -= 1 }
        return try body(&entry.pointee.value)
    }

    /// The hash this table files `key` under, for `prefetchBucket`/`prefetchChain`.
    @inlinable
    public func hash(of key: UnsafeRawBufferPointer) -> UInt64 { hashBytes(key, seed: seed) }

    /// Asks the CPU to start loading the bucket that a key of `hash` lives in, without waiting for it.
    ///
    /// For a batch of upcoming lookups (a client's pipelined requests), call this for every key, then
    /// `prefetchChain` for every key, then do the lookups: the cache misses of the whole batch (bucket,
    /// then entry) are then in flight together instead of being paid one after another. Only a hint:
    /// it changes nothing and is harmless if the key is absent or the table changes in between.
    @inlinable
    public func prefetchBucket(hash: UInt64) {
        if let bucket = bucketSlot(hash: hash) { cs_prefetch(bucket) }
    }

    /// Asks the CPU for the first entry of the chain in `hash`'s bucket (see `prefetchBucket`). Reads the
    /// bucket, so call it after `prefetchBucket` has been called for the whole batch.
    @inlinable
    public func prefetchChain(hash: UInt64) {
        if let bucket = bucketSlot(hash: hash), case let head = bucket.pointee, head != 0 {
            cs_prefetch(entryPointer(head))
        }
    }

    /// The bucket a lookup of `hash` starts in: table 0's, or table 1's where table 0's was migrated.
    @inlinable @inline(__always)
    func bucketSlot(hash: UInt64) -> UnsafeMutablePointer<UInt32>? {
        guard _count > 0 else { return nil }
        let bucket0 = Int(truncatingIfNeeded: hash) & (size0 &- 1)
        if bucket0 >= rehashIndex { return buckets0.unsafelyUnwrapped + bucket0 }
        return buckets1.unsafelyUnwrapped + (Int(truncatingIfNeeded: hash) & (size1 &- 1))
    }

    /// The entry holding `key`, searching both tables. Never rehashes. Requires `_count > 0`.
    @inlinable @_effects(releasenone)
    func lookup(_ key: UnsafeRawBufferPointer, hash: UInt64) -> UnsafeMutablePointer<Entry>? {
        let tag = UInt32(truncatingIfNeeded: hash)
        let bucket0 = Int(truncatingIfNeeded: hash) & (size0 &- 1)
        if bucket0 >= rehashIndex { // buckets below rehashIndex are empty (-1 when not rehashing)
            if let found = lookup(key, tag: tag, head: buckets0.unsafelyUnwrapped[bucket0]) { return found }
        }
        if rehashIndex >= 0 {
            let bucket1 = Int(truncatingIfNeeded: hash) & (size1 &- 1)
            return lookup(key, tag: tag, head: buckets1.unsafelyUnwrapped[bucket1])
        }
        return nil
    }

    @inlinable @inline(__always)
    func lookup(_ key: UnsafeRawBufferPointer, tag: UInt32, head: UInt32) -> UnsafeMutablePointer<Entry>? {
        var link = head
        while link != 0 {
            let entry = entryPointer(link)
            if entry.pointee.hash == tag && entry.pointee.key.equals(key) { return entry }
            link = entry.pointee.next
        }
        return nil
    }

    @inlinable @inline(__always)
    func entryPointer(_ link: UInt32) -> UnsafeMutablePointer<Entry> {
        let index = Int(truncatingIfNeeded: link &- 1)
        let chunk = chunks.unsafelyUnwrapped[index &>> HashTableLayout.chunkShift]
        return chunk.base.unsafelyUnwrapped + (index & HashTableLayout.chunkMask)
    }

    @inlinable @inline(__always)
    func checkMutable() {
        precondition(accessLock == 0, "HashTable mutated inside scan(cursor:_:) or withValue(forKey:_:)")
    }
}

// MARK: - Insert and remove

extension HashTable {
    /// Stores `value` under `key`; returns the value it replaced, or nil if the key was new. `knownHash` is
    /// `hash(of: key)` when the caller computed it already (to prefetch the bucket).
    /// - Complexity: O(1) on average, and bounded work per call even while resizing.
    @inlinable @discardableResult
    public func updateValue(_ value: consuming Value, forKey key: ByteString, hash knownHash: UInt64? = nil) -> Value? {
        checkMutable()
        rehashStepIfNeeded()
        // The value stays out of the closure: captured, it would be copied (retained) rather than moved in.
        let (hash, entry) = key.withUnsafeBytes { bytes in
            assert(knownHash == nil || knownHash == hashBytes(bytes, seed: seed), "HashTable: a wrong known hash")
            let hash = knownHash ?? hashBytes(bytes, seed: seed)
            return (hash, _count > 0 ? lookup(bytes, hash: hash) : nil)
        }
        // `consume`: the value moves into the table (a copy would retain it, and release the original).
        if let entry {
            var old = consume value
            swap(&old, &entry.pointee.value)
            return old
        }
        insertNew(key, consume value, hash: hash)
        return nil
    }

    /// Like `updateValue(_:forKey:)` with the key as raw bytes: a `ByteString` is built only if the key
    /// is new, so overwriting an existing key allocates nothing.
    @inlinable @discardableResult
    public func updateValue(_ value: consuming Value, forKey key: UnsafeRawBufferPointer) -> Value? {
        upsert(value, key) { ByteString(key) }
    }

    @inlinable
    func upsert(_ value: consuming Value, _ key: UnsafeRawBufferPointer, makeKey: () -> ByteString) -> Value? {
        checkMutable()
        rehashStepIfNeeded()
        let hash = hashBytes(key, seed: seed)
        if _count > 0, let entry = lookup(key, hash: hash) {
            var old = value
            swap(&old, &entry.pointee.value)
            return old
        }
        insertNew(makeKey(), value, hash: hash)
        return nil
    }

    /// Removes `key`; returns the stored key and value, or nil if absent.
    @inlinable
    public func removeValue(forKey key: UnsafeRawBufferPointer) -> (key: ByteString, value: Value)? {
        checkMutable()
        guard _count > 0 else { return nil }
        rehashStepIfNeeded()
        let hash = hashBytes(key, seed: seed)
        let tag = UInt32(truncatingIfNeeded: hash)
        let bucket0 = Int(truncatingIfNeeded: hash) & (size0 &- 1)
        if bucket0 >= rehashIndex, let link = unlink(key, tag: tag, from: buckets0.unsafelyUnwrapped, at: bucket0) {
            used0 -= 1
            return finishRemoval(link)
        }
        if rehashIndex >= 0 {
            let bucket1 = Int(truncatingIfNeeded: hash) & (size1 &- 1)
            if let link = unlink(key, tag: tag, from: buckets1.unsafelyUnwrapped, at: bucket1) {
                used1 -= 1
                return finishRemoval(link)
            }
        }
        return nil
    }

    @inlinable @discardableResult
    public func removeValue(forKey key: ByteString) -> (key: ByteString, value: Value)? {
        key.withUnsafeBytes { removeValue(forKey: $0) }
    }

    /// Takes the entry holding `key` out of its chain and returns its link.
    @inlinable
    func unlink(_ key: UnsafeRawBufferPointer, tag: UInt32, from buckets: UnsafeMutablePointer<UInt32>,
                at bucket: Int) -> UInt32? {
        var previous: UInt32 = 0
        var link = buckets[bucket]
        while link != 0 {
            let entry = entryPointer(link)
            if entry.pointee.hash == tag && entry.pointee.key.equals(key) {
                if previous == 0 {
                    buckets[bucket] = entry.pointee.next
                } else {
                    entryPointer(previous).pointee.next = entry.pointee.next
                }
                return link
            }
            previous = link
            link = entry.pointee.next
        }
        return nil
    }

    @inlinable
    func insertNew(_ key: consuming ByteString, _ value: consuming Value, hash: UInt64) {
        precondition(_count < HashTableLayout.maxEntries, "HashTable: too many entries")
        expandIfNeeded()
        let link = allocateSlot()
        let tag = UInt32(truncatingIfNeeded: hash)
        // While rehashing, new entries go straight into the new table (the old one only drains).
        if rehashIndex >= 0 {
            let bucket = Int(truncatingIfNeeded: hash) & (size1 - 1)
            entryPointer(link).initialize(to: Entry(next: buckets1![bucket], hash: tag, key: key, value: value))
            buckets1![bucket] = link
            used1 += 1
        } else {
            let bucket = Int(truncatingIfNeeded: hash) & (size0 - 1)
            entryPointer(link).initialize(to: Entry(next: buckets0![bucket], hash: tag, key: key, value: value))
            buckets0![bucket] = link
            used0 += 1
        }
        _count += 1
    }

    /// The entry at `link` is already unlinked and counted out of its table.
    @inlinable
    func finishRemoval(_ link: UInt32) -> (key: ByteString, value: Value) {
        let entry = entryPointer(link).move()
        _count -= 1
        if _count == 0 {
            releaseStorage()
        } else {
            freeSlot(link)
            shrinkIfNeeded()
        }
        return (entry.key, entry.value)
    }

    /// Removes every entry. With `keepingCapacity`, the bucket table and the pool stay allocated.
    /// - Complexity: O(n).
    public func removeAll(keepingCapacity: Bool = false) {
        checkMutable()
        destroyEntries()
        guard keepingCapacity, _count > 0 else {
            releaseStorage()
            return
        }
        if rehashIndex >= 0 { // keep the table being rehashed into
            freeBuckets(buckets0, size0)
            (buckets0, size0) = (buckets1, size1)
            (buckets1, size1, rehashIndex) = (nil, 0, -1)
        }
        buckets0!.update(repeating: 0, count: size0)
        (used0, used1, _count) = (0, 0, 0)
        for k in 0..<chunkCount {
            chunks![k].used = 0
            chunks![k].live = 0
            chunks![k].freeHead = 0
            setRoom(k)
        }
        roomHint = 0
        spareChunk = -1
        capacityKept = true
    }
}

@usableFromInline
func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

/// Fresh zeroed pages straight from the kernel, for big bucket tables and full pool chunks. Why not malloc:
/// glibc raises its mmap threshold (up to 32 MB) each time a mapped block is freed, after which big blocks
/// come from the heap, where freeing them rarely returns memory to the kernel and calloc must memset
/// (O(n) for a bucket table, in one command). Mapped pages are zero for free and unmapped at once.
@usableFromInline
func mapZeroedPages(_ bytes: Int) -> UnsafeMutableRawPointer {
    let p = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
    guard let p, p != UnsafeMutableRawPointer(bitPattern: -1) else {
        fatalError("HashTable: mmap of \(bytes) bytes failed, errno \(errno)")
    }
    cs_mapped_bytes_add(Int64(bytes))
    return p
}

@usableFromInline
func unmapPages(_ p: UnsafeMutableRawPointer, _ bytes: Int) {
    munmap(p, bytes)
    cs_mapped_bytes_add(-Int64(bytes))
}
