import CSystem
import Glibc
import Synchronization

// FieldNames: hash field names stored once for all hashes (beyond Redis).
//
// Applications keep objects in hashes with the same fields: a million `user:N` hashes all have `name`,
// `email`, `created_at`. Redis stores those names again in every hash's listpack, where they are often half
// of its bytes. Here a field name that keeps being added to compact hashes is kept once, in this table,
// and a compact hash (Storage/HashValue.swift, "listpack") stores a short code in its place:
//
//     0xC1...0xFE          ids 0...61, one byte (the first names interned)
//     0xFF lo hi           ids 62..., three bytes (a little-endian UInt16 + 62)
//
// Literal elements' prefixes never start with a byte above 0xC0 (PackedPairs.writePrefix), so a code and a
// literal never meet. Decoding a code (`PackedPairs.element(at:)`) yields the name's bytes here, which never
// move and are never freed, so every reader of a compact hash (HGET's walk, HGETALL, RDB and DUMP, the
// digest, conversion to a table) sees plain bytes and needs no change; only storing a new field asks this
// table for a code. Codes are never written to files: the RDB codec writes the bytes.
//
// WHICH NAMES: a name of 2 to 64 bytes (hash-max-listpack-value's default; longer names convert the hash
// anyway) is interned once it has been added as a new field to compact hashes `threshold` times (additions,
// not distinct hashes: HSET and HDEL of one field in one hash count each time). `sightings` counts them,
// lossily: 1024 buckets of four tag+count slots, where a name not in its bucket replaces the least seen one,
// so names seen once, however many, rarely push out a name that keeps coming back. A name added fewer than
// `threshold` times never takes a code; names shared by many hashes (a schema's fields, and also dates or ids
// that many hashes repeat) do. Up to `capacity` names are kept, for the life of the process (no reference
// counts: a code in any hash stays valid forever); once full, new names are stored literally, as before,
// and nothing is counted or locked for them. The table costs at most ~1.5 MB (names of up to 64 bytes in the
// arena, 16 bytes an id, the index and the counters). A code is used only where it is shorter than the
// literal: a 3-byte code for names of 3 bytes or more, so 2-byte names are interned only while one-byte codes
// remain.
//
// THREADS: compact hashes are built on the loop and on the RDB loader's decoding threads. Lookups take no
// lock: an id is published by a release store of its index slot after its name is written, and found by an
// acquire load of the slot. Interning takes `lock` (it happens at most `capacity` times). Sightings are
// relaxed loads and stores: a lost count only delays an interning.
//
// MEASURED (`bench/hash_memory.sh`, 1,000,000 hashes of `field0`..`field9` with 2-8 byte values): see
// HashValue.swift's header.
final class FieldNames: @unchecked Sendable {
    static let shared = FieldNames()

    /// Most names kept: the 62 one-byte codes and 3-byte codes beyond.
    static let capacity = 62 + 16384
    /// Ids with a one-byte code.
    static let oneByteCodes = 62
    /// New-field additions of a name to compact hashes after which it is interned.
    static let threshold: UInt32 = 8
    static let minimumLength = 2
    static let maximumLength = 64

    /// Per id: the name's bytes (in `arena`) and length. Written once, before the id is published.
    private let names: UnsafeMutablePointer<UnsafeRawBufferPointer>
    /// Open addressing, linear probing: a slot holds the name hash's top 16 bits << 16 | (id + 1); 0 is empty.
    private let index: UnsafeMutablePointer<UInt32>
    private static let indexMask = (1 << 15) - 1
    /// Names being counted: buckets of four slots, tag (24 bits) << 8 | count (8 bits).
    private let sightings: UnsafeMutablePointer<UInt32>
    private static let sightingBucketMask = 1024 - 1

    /// The number of ids given, and the arena's current block, under the lock.
    private struct State {
        var count = 0
        var block: UnsafeMutableRawPointer? = nil
        var blockRoom = 0
        /// Every arena block (freed with the table: only tests' own tables ever are).
        var blocks: [UnsafeMutableRawPointer] = []
    }
    private let lock = Mutex(State())
    /// `State.count`, readable without the lock (a hint: only the lock's count decides).
    private let published: UnsafeMutablePointer<UInt32>
    private static let blockSize = 64 * 1024

    /// A table of its own (tests); hashes use `shared`.
    init() {
        names = .allocate(capacity: FieldNames.capacity)
        index = UnsafeMutablePointer<UInt32>.allocate(capacity: FieldNames.indexMask + 1)
        index.initialize(repeating: 0, count: FieldNames.indexMask + 1)
        sightings = UnsafeMutablePointer<UInt32>.allocate(capacity: (FieldNames.sightingBucketMask + 1) * 4)
        sightings.initialize(repeating: 0, count: (FieldNames.sightingBucketMask + 1) * 4)
        published = .allocate(capacity: 1)
        published.initialize(to: 0)
    }

    deinit {
        lock.withLock { state in for block in state.blocks { free(block) } }
        names.deallocate()
        index.deallocate()
        sightings.deallocate()
        published.deallocate()
    }

    @inline(__always) private static func hash(_ name: UnsafeRawBufferPointer) -> UInt64 {
        hashBytes(name, seed: .process)
    }

    /// The bytes of the name `id` (valid forever).
    @inline(__always) func name(_ id: Int) -> UnsafeRawBufferPointer { names[id] }

    /// Number of names interned.
    var count: Int { lock.withLock { $0.count } }

    /// The id of `name` if it is interned.
    func id(of name: UnsafeRawBufferPointer) -> Int? {
        guard name.count >= FieldNames.minimumLength && name.count <= FieldNames.maximumLength else { return nil }
        return find(name, hash: FieldNames.hash(name))
    }

    private func find(_ name: UnsafeRawBufferPointer, hash: UInt64) -> Int? {
        let tag = UInt32(truncatingIfNeeded: hash >> 48)
        var slot = Int(truncatingIfNeeded: hash) & FieldNames.indexMask
        while true {
            let entry = cs_load_acquire_u32(index + slot)
            if entry == 0 { return nil }
            if entry >> 16 == tag {
                let id = Int(entry & 0xFFFF) - 1
                if bytesEqual(names[id], name) { return id }
            }
            slot = (slot + 1) & FieldNames.indexMask
        }
    }

    /// The code to store `name` under as a new field of a compact hash, or nil to store it literally:
    /// counts the addition, and interns the name when it reaches the threshold.
    func idForStoring(_ name: UnsafeRawBufferPointer) -> Int? {
        guard name.count >= FieldNames.minimumLength && name.count <= FieldNames.maximumLength else { return nil }
        let hash = FieldNames.hash(name)
        if let id = find(name, hash: hash) { return FieldNames.isWorthIt(id, name.count) ? id : nil }
        // Nothing to count when the next id could not be used for this name (the table is full, or its code
        // would be 3 bytes for a 2-byte name): no lock taken for names that cannot gain.
        let next = Int(cs_load_relaxed_u32(published))
        guard next < FieldNames.capacity && FieldNames.isWorthIt(next, name.count) else { return nil }
        guard countSighting(hash) >= FieldNames.threshold, let id = intern(name, hash: hash) else { return nil }
        return FieldNames.isWorthIt(id, name.count) ? id : nil
    }

    /// Counts one more addition of the name with `hash` and returns its count so far. The name's bucket holds
    /// four names; one not there replaces the least seen of them.
    private func countSighting(_ hash: UInt64) -> UInt32 {
        let bucket = sightings + (Int(truncatingIfNeeded: hash >> 16) & FieldNames.sightingBucketMask) * 4
        let tag = UInt32(truncatingIfNeeded: hash >> 40) & 0xFF_FFFF
        var victim = 0
        var fewest = UInt32.max
        for way in 0..<4 {
            let seen = cs_load_relaxed_u32(bucket + way)
            if seen >> 8 == tag {
                let count = min((seen & 0xFF) + 1, 0xFF)
                cs_store_relaxed_u32(bucket + way, tag << 8 | count)
                return count
            }
            if seen & 0xFF < fewest { (victim, fewest) = (way, seen & 0xFF) }
        }
        cs_store_relaxed_u32(bucket + victim, tag << 8 | 1)
        return 1
    }

    /// Whether id's code is shorter than the name stored literally (a length byte and the bytes).
    @inline(__always) static func isWorthIt(_ id: Int, _ length: Int) -> Bool { codeSize(id) < 1 + length }

    @inline(__always) static func codeSize(_ id: Int) -> Int { id < oneByteCodes ? 1 : 3 }

    /// Interns `name` (its id if another thread just did); nil when the table is full.
    private func intern(_ name: UnsafeRawBufferPointer, hash: UInt64) -> Int? {
        lock.withLock { state -> Int? in
            if let id = find(name, hash: hash) { return id }
            guard state.count < FieldNames.capacity && FieldNames.isWorthIt(state.count, name.count) else { return nil }
            if state.blockRoom < name.count {
                guard let block = malloc(FieldNames.blockSize) else { return nil }
                state.blocks.append(block)
                state.block = block
                state.blockRoom = FieldNames.blockSize
            }
            let bytes = state.block!
            bytes.copyMemory(from: name.baseAddress!, byteCount: name.count)
            state.block = bytes + name.count
            state.blockRoom -= name.count
            let id = state.count
            names[id] = UnsafeRawBufferPointer(start: bytes, count: name.count)
            state.count += 1
            cs_store_relaxed_u32(published, UInt32(state.count))
            var slot = Int(truncatingIfNeeded: hash) & FieldNames.indexMask
            while index[slot] != 0 { slot = (slot + 1) & FieldNames.indexMask }
            cs_store_release_u32(index + slot, UInt32(truncatingIfNeeded: hash >> 48) << 16 | UInt32(id + 1))
            return id
        }
    }
}
