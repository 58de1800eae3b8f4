// HashTable: the entry pool (chunks of entries, their free lists, the room bitmap, the chunk directory).
// The layout is described in the header of HashTable.swift.

// MARK: - Entry pool

extension HashTable {
    @inlinable @inline(__always)
    static func isLive(_ entry: UnsafeMutablePointer<Entry>) -> Bool {
        UnsafeRawPointer(entry).load(as: UInt32.self) != HashTableLayout.freeMark
    }

    /// Takes a slot in the lowest chunk with room and returns its link. The slot is uninitialised.
    @inlinable
    func allocateSlot() -> UInt32 {
        let k = chunkWithRoom()
        let chunk = chunks! + k
        if chunk.pointee.base == nil {
            let capacity = k == 0 ? HashTableLayout.firstChunkCapacity : HashTableLayout.chunkSize
            chunk.pointee.base = Self.allocateChunk(capacity)
            chunk.pointee.capacity = capacity
            slotCapacity += capacity
        }
        let offset: Int
        if chunk.pointee.freeHead != 0 {
            offset = chunk.pointee.freeHead - 1
            let slot = UnsafeRawPointer(chunk.pointee.base! + offset)
            chunk.pointee.freeHead = Int(slot.load(fromByteOffset: 4, as: UInt32.self))
        } else {
            if chunk.pointee.used == chunk.pointee.capacity { growFirstChunk() }
            offset = chunk.pointee.used
            chunk.pointee.used += 1
        }
        chunk.pointee.live += 1
        if chunk.pointee.freeHead == 0 && chunk.pointee.used == HashTableLayout.chunkSize { clearRoom(k) }
        if spareChunk == k { spareChunk = -1 }
        return UInt32(truncatingIfNeeded: (k << HashTableLayout.chunkShift | offset) + 1)
    }

    /// Chunk 0 starts small and doubles (a bounded copy: at most 2048 entries). It is full when this
    /// runs (no free slot), so every slot below `used` is a live entry.
    @usableFromInline
    func growFirstChunk() {
        let chunk = chunks!
        let oldCapacity = chunk.pointee.capacity
        precondition(oldCapacity < HashTableLayout.chunkSize && chunk.pointee.freeHead == 0)
        let newCapacity = oldCapacity * 2
        let newBase = Self.allocateChunk(newCapacity)
        newBase.moveInitialize(from: chunk.pointee.base!, count: chunk.pointee.used)
        Self.freeChunk(chunk.pointee.base, oldCapacity)
        chunk.pointee.base = newBase
        chunk.pointee.capacity = newCapacity
        slotCapacity += newCapacity - oldCapacity
    }

    /// The entry at `link` has been moved out: put its slot on its chunk's free list.
    @inlinable
    func freeSlot(_ link: UInt32) {
        let index = Int(link) - 1
        let k = index >> HashTableLayout.chunkShift
        let offset = index & HashTableLayout.chunkMask
        let chunk = chunks! + k
        let slot = UnsafeMutableRawPointer(chunk.pointee.base! + offset)
        slot.storeBytes(of: HashTableLayout.freeMark, as: UInt32.self)
        slot.storeBytes(of: UInt32(truncatingIfNeeded: chunk.pointee.freeHead), toByteOffset: 4, as: UInt32.self)
        chunk.pointee.freeHead = offset + 1
        chunk.pointee.live -= 1
        setRoom(k)
        if chunk.pointee.live == 0 {
            if spareChunk < 0 {
                spareChunk = k
            } else {
                let victim = Swift.max(spareChunk, k)
                spareChunk = Swift.min(spareChunk, k)
                releaseChunk(victim)
            }
        }
    }

    @usableFromInline
    func releaseChunk(_ k: Int) {
        Self.freeChunk(chunks![k].base, chunks![k].capacity)
        slotCapacity -= chunks![k].capacity
        chunks![k] = Chunk()
        setRoom(k) // an unallocated chunk has room
        while chunkCount > 0 && chunks![chunkCount - 1].base == nil {
            chunkCount -= 1
            clearRoom(chunkCount)
        }
    }

    @inlinable
    func chunkWithRoom() -> Int {
        let words = (chunkCount + 63) >> 6
        var w = roomHint
        while w < words {
            let bits = roomBits![w]
            if bits != 0 {
                roomHint = w
                return w << 6 | bits.trailingZeroBitCount
            }
            w += 1
        }
        roomHint = w
        if chunkCount == chunkCapacity { growDirectory() }
        chunks![chunkCount] = Chunk()
        setRoom(chunkCount)
        chunkCount += 1
        return chunkCount - 1
    }

    /// Full chunks are mapped pages (4096 entries of a multiple-of-8 stride: whole pages, no malloc
    /// header, returned to the kernel on release); the small first chunk of a small table uses malloc.
    @usableFromInline
    static func allocateChunk(_ capacity: Int) -> UnsafeMutablePointer<Entry> {
        if capacity == HashTableLayout.chunkSize {
            return mapZeroedPages(capacity * MemoryLayout<Entry>.stride).bindMemory(to: Entry.self, capacity: capacity)
        }
        return .allocate(capacity: capacity)
    }

    @usableFromInline
    static func freeChunk(_ base: UnsafeMutablePointer<Entry>?, _ capacity: Int) {
        guard let base else { return }
        if capacity == HashTableLayout.chunkSize {
            unmapPages(base, capacity * MemoryLayout<Entry>.stride)
        } else {
            base.deallocate()
        }
    }

    /// The chunk directory and the room bitmap share one allocation; doubling it copies one small
    /// record per chunk (1/4096 of the entries), never entries.
    @usableFromInline
    func growDirectory() {
        let newCapacity = Swift.max(4, chunkCapacity * 2)
        let (newChunks, newBits) = Self.allocateDirectory(newCapacity)
        if let old = chunks {
            newChunks.moveInitialize(from: old, count: chunkCount)
            newBits.update(from: roomBits!, count: (chunkCapacity + 63) >> 6)
            UnsafeMutableRawPointer(old).deallocate()
        }
        (chunks, roomBits, chunkCapacity) = (newChunks, newBits, newCapacity)
    }

    @usableFromInline
    static func allocateDirectory(_ capacity: Int) -> (UnsafeMutablePointer<Chunk>, UnsafeMutablePointer<UInt64>) {
        let words = (capacity + 63) >> 6
        let directoryBytes = capacity * MemoryLayout<Chunk>.stride
        let raw = UnsafeMutableRawPointer.allocate(byteCount: directoryBytes + words * 8,
                                                   alignment: Swift.max(MemoryLayout<Chunk>.alignment, 8))
        let bits = (raw + directoryBytes).bindMemory(to: UInt64.self, capacity: words)
        bits.initialize(repeating: 0, count: words)
        return (raw.bindMemory(to: Chunk.self, capacity: capacity), bits)
    }

    @inlinable @inline(__always)
    func setRoom(_ k: Int) {
        roomBits![k >> 6] |= 1 << UInt64(k & 63)
        if k >> 6 < roomHint { roomHint = k >> 6 }
    }

    @inlinable @inline(__always)
    func clearRoom(_ k: Int) {
        roomBits![k >> 6] &= ~(1 << UInt64(k & 63))
    }

    /// Deinitialises every live entry (the slots stay allocated).
    @usableFromInline
    func destroyEntries() {
        for k in 0..<chunkCount {
            guard let base = chunks![k].base else { continue }
            for offset in 0..<chunks![k].used where Self.isLive(base + offset) {
                (base + offset).deinitialize(count: 1)
            }
        }
    }

    /// Frees buckets, chunks and directory; the table is empty afterwards. Entries must be gone.
    @usableFromInline
    func releaseStorage() {
        for k in 0..<chunkCount { Self.freeChunk(chunks![k].base, chunks![k].capacity) }
        if let chunks { UnsafeMutableRawPointer(chunks).deallocate() }
        freeBuckets(buckets0, size0)
        freeBuckets(buckets1, size1)
        (chunks, roomBits, chunkCount, chunkCapacity, roomHint, spareChunk) = (nil, nil, 0, 0, 0, -1)
        slotCapacity = 0
        capacityKept = false
        (buckets0, size0, used0, buckets1, size1, used1, rehashIndex) = (nil, 0, 0, nil, 0, 0, -1)
        _count = 0
    }
}
