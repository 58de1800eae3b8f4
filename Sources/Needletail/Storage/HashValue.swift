import CSystem
import Glibc

// HashValue: the storage of the hash type (Redis's t_hash.c storage half), in two encodings that
// OBJECT ENCODING names as Redis 7.0 does.
//
// "listpack" — PACKED PAIRS IN ONE BUFFER
//
// A small hash is one malloc'ed buffer holding its field/value pairs in insertion order, as Redis's
// listpack does:
//
//     ┌header: 4 bytes┬len│field bytes│len│value bytes│code│len│value bytes│...┐
//     └───────────────┴───┴───────────┴───┴───────────┴────┴───┴───────────┴───┘
//      used and count  elements, each a length prefix and its bytes, or (a field) a FieldNames code
//
// The header holds the bytes of the pairs and their number (4 bytes while small, 8 past 128 KB or 16,383
// pairs: see PackedPairs). A length prefix is 1 byte for up to 127 bytes (0xxxxxxx), 2 bytes for up to 16383
// (10xxxxxx xxxxxxxx, big-endian) and 5 bytes beyond (0xC0, then a little-endian UInt32). A field whose
// name many hashes share is a 1- or 3-byte code instead (a first byte above 0xC0): its bytes are kept once,
// in Storage/FieldNames.swift, and decoding yields them, so readers see plain bytes. An element costs its
// bytes plus one prefix byte in the common case; a listpack costs one more (its back-length byte, which lets
// Redis walk backwards; nothing here needs to). Lookups walk the pairs comparing lengths first, then bytes,
// as lpFind does: O(n) with n at most hash-max-listpack-entries (512 by default). The buffer is sized exactly
// (realloc when it grows or gives back 32 bytes or more); its capacity is what malloc_usable_size says.
// HSET of an existing field rewrites its value in place (moving the tail when the length changes), HDEL
// closes the gap: the order of the remaining pairs never changes, so HGETALL, HKEYS, HVALS and HSCAN
// answer in insertion order exactly as Redis does.
//
// "hashtable" — our HashTable<ByteString>, field -> value (Storage/HashTable.swift): 56 bytes a pair in
// the pool plus a 4-byte bucket link, no allocation per pair for fields and values up to 22 bytes.
//
// CONVERSION is one way, at Redis 7.0's points (hashTypeTryConversion, hashTypeSet): before inserting,
// when a field or value of the command's arguments is longer than hash-max-listpack-value
// (`convertIfNeeded(longestArgument:totalArgumentBytes:limits:)`, which the command calls first), or when
// a set would store one (`set`); after a set, when the hash holds more than hash-max-listpack-entries
// pairs. Nothing converts back (HDEL never does). Limits are passed in, so CONFIG SET takes effect for
// later conversions, as in Redis.
//
// THE OBJECT is 24 bytes (a 32-byte malloc chunk): its one word holds either the buffer's address (malloc
// aligns it to 16, so its low bit is 0) or a retained reference to the table with the low bit set. Two
// optional fields would make it a 48-byte chunk: 16 bytes more for each of a million small hashes.
//
// MEASURED (RSS above an empty server, release build, redis-server 7.0.15 with jemalloc; `bench/hash_memory.sh`;
// README "Performance"):
// - 1,000,000 hashes of 10 pairs (fields `field0`..`field9`, values of 2-8 bytes): 212 bytes a hash,
//   redis-server 275 (0.77x). Ours: the keyspace entry (64 + a 4-byte bucket link), this object (32) and
//   the buffer (4 of header + ~100 of pairs, each field a 1-byte code = a 112-byte glibc chunk).
//   redis-server: dictEntry, key sds, robj and a 187-byte listpack in a 192-byte jemalloc class. Before the
//   field codes (every name in every hash) it was 276 bytes, 1.00x; hashes whose field names are their own
//   (names seen in fewer than 8 hashes) still cost that (276 for the same data with each hash's ten 6-byte
//   names unique, redis-server 275): the entry (68) and the pairs in their glibc chunk
//   are the floor of this layout, and only one allocation for the object and the pairs (a ManagedBuffer,
//   replaced in the keyspace when it grows) or no object at all would go lower.
// - one hash of 1,000,000 pairs: 60 bytes a pair, redis-server 82 (0.74x).
final class HashValue {
    /// The packed buffer's address, or the table's retained reference with bit 0 set (see the header).
    private var storage: UInt

    /// Redis's hash-max-listpack-entries and hash-max-listpack-value, as read at the time of a command.
    struct Limits {
        var entries: Int
        var value: Int
    }

    /// An empty hash in the compact encoding (Redis creates every hash as a listpack).
    init() {
        storage = UInt(bitPattern: PackedPairs.allocate(bytes: 0))
    }

    /// A hash in the table encoding holding `table`'s pairs (COPY, tests).
    init(table: HashTable<ByteString>) {
        storage = UInt(bitPattern: Unmanaged.passRetained(table).toOpaque()) | 1
    }

    private init(packedBuffer: UnsafeMutableRawPointer) {
        storage = UInt(bitPattern: packedBuffer)
    }

    deinit {
        if let table = tableReference {
            table.release()
        } else {
            free(packedBase)
        }
    }

    // MARK: - Encoding

    @inline(__always) private var tableReference: Unmanaged<HashTable<ByteString>>? {
        storage & 1 == 0 ? nil : Unmanaged.fromOpaque(UnsafeRawPointer(bitPattern: storage & ~1)!)
    }

    @inline(__always) private var packedBase: UnsafeMutableRawPointer {
        UnsafeMutableRawPointer(bitPattern: storage).unsafelyUnwrapped
    }

    @inline(__always) private var packed: PackedPairs { PackedPairs(base: packedBase) }

    /// The table of a "hashtable" hash; nil while packed.
    var table: HashTable<ByteString>? { tableReference?.takeUnretainedValue() }

    /// Whether the hash is in its compact encoding ("listpack").
    @inline(__always) var isPacked: Bool { storage & 1 == 0 }

    /// The name OBJECT ENCODING reports.
    var encodingName: StaticString { isPacked ? "listpack" : "hashtable" }

    /// Number of field/value pairs.
    var count: Int { isPacked ? packed.count : table!.count }

    var isEmpty: Bool { count == 0 }

    /// Bytes of the encoded pairs while packed (tests: field codes and literal fields).
    var packedBytes: Int? { isPacked ? packed.used : nil }

    /// Converts to the table encoding (Redis's hashTypeConvertListpack): the pairs move into a table
    /// sized for them, and the buffer is freed. Nothing converts back.
    func convertToTable() {
        guard isPacked else { return }
        let pairs = packed
        let table = HashTable<ByteString>()
        table.reserveCapacity(pairs.count)
        pairs.forEach { field, value in table.updateValue(ByteString(value), forKey: field) }
        free(pairs.base)
        storage = UInt(bitPattern: Unmanaged.passRetained(table).toOpaque()) | 1
    }

    /// Redis's hashTypeTryConversion, called with the field and value arguments of HSET/HMSET/HSETNX
    /// before anything is inserted: a compact hash converts when one argument is longer than
    /// `limits.value`, or when adding them all could take the buffer past 1 GB (lpSafeToAdd).
    func convertIfNeeded(longestArgument: Int, totalArgumentBytes: Int, limits: Limits) {
        guard isPacked else { return }
        if longestArgument > limits.value || packed.used + totalArgumentBytes > PackedPairs.safetyLimit {
            convertToTable()
        }
    }

    // MARK: - Reads

    /// Calls `body` with the value of `field` and returns its result; nil when the field is absent.
    /// The bytes are valid only inside `body`.
    /// - Complexity: O(n) packed, O(1) in a table.
    @inline(__always)
    func withValue<R>(of field: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> R) -> R? {
        if isPacked {
            let pairs = packed
            guard let offset = pairs.find(field) else { return nil }
            return body(pairs.pair(at: offset).value)
        }
        guard let value = table!.find(field) else { return nil }
        return value.withUnsafeBytes(body)
    }

    /// The value of `field` as a new string; nil when absent.
    func value(of field: UnsafeRawBufferPointer) -> ByteString? { withValue(of: field) { ByteString($0) } }

    func value(of field: ByteString) -> ByteString? { field.withUnsafeBytes { value(of: $0) } }

    func contains(_ field: UnsafeRawBufferPointer) -> Bool {
        isPacked ? packed.find(field) != nil : table!.contains(field)
    }

    /// Calls `body` with every pair: insertion order when packed, the table's order otherwise. The bytes
    /// are valid only inside `body`, which must not modify the hash.
    func forEach(_ body: (_ field: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) -> Void) {
        if isPacked { return packed.forEach(body) }
        for (field, value) in table! {
            field.withUnsafeBytes { f in value.withUnsafeBytes { v in body(f, v) } }
        }
    }

    /// The pairs as strings, in `forEach` order (tests, COPY of a table).
    var pairs: [(field: ByteString, value: ByteString)] {
        var result: [(field: ByteString, value: ByteString)] = []
        result.reserveCapacity(count)
        forEach { result.append((ByteString($0), ByteString($1))) }
        return result
    }

    // MARK: - Writes

    /// Redis's hashTypeSet: stores `value` under `field`, replacing the value of an existing field in
    /// place. A compact hash converts first when the field or the value is longer than `limits.value`,
    /// and after, when it holds more than `limits.entries` pairs (checked after an update too, as Redis
    /// does). Returns true when the field was new.
    /// - Complexity: O(n) packed (a walk, and a move of the bytes after the pair), O(1) in a table.
    @discardableResult
    func set(_ field: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, limits: Limits) -> Bool {
        if isPacked && (field.count > limits.value || value.count > limits.value) { convertToTable() }
        if let table {
            if table.withValue(forKey: field, { $0 = ByteString(value) }) != nil { return false }
            table.updateValue(ByteString(value), forKey: field)
            return true
        }
        var pairs = packed
        let inserted: Bool
        if let offset = pairs.find(field) {
            pairs.replaceValue(ofPairAt: offset, with: value)
            inserted = false
        } else {
            pairs.append(field, value, fieldID: FieldNames.shared.idForStoring(field))
            inserted = true
        }
        storage = UInt(bitPattern: pairs.base)
        if pairs.count > limits.entries { convertToTable() }
        return inserted
    }

    /// `set` of a field the caller knows is not in the compact form (loading, which looks for repeated
    /// fields itself): appended without the walk that would look for it. Converts as `set` does; once in a
    /// table, returns false when the field was already there (its value is then replaced).
    func setNew(_ field: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, limits: Limits) -> Bool {
        if isPacked && (field.count > limits.value || value.count > limits.value) { convertToTable() }
        if let table { return table.updateValue(ByteString(value), forKey: field) == nil }
        var pairs = packed
        pairs.append(field, value, fieldID: FieldNames.shared.idForStoring(field))
        storage = UInt(bitPattern: pairs.base)
        if pairs.count > limits.entries { convertToTable() }
        return true
    }

    func set(_ field: ByteString, _ value: ByteString, limits: Limits) -> Bool {
        field.withUnsafeBytes { f in value.withUnsafeBytes { v in set(f, v, limits: limits) } }
    }

    /// Removes `field`; returns whether it was there. Never converts.
    @discardableResult
    func remove(_ field: UnsafeRawBufferPointer) -> Bool {
        if let table { return table.removeValue(forKey: field) != nil }
        var pairs = packed
        guard let offset = pairs.find(field) else { return false }
        pairs.removePair(at: offset)
        storage = UInt(bitPattern: pairs.base)
        return true
    }

    /// Makes room for pairs of `bytes` encoded bytes in all, so a command that adds several pairs
    /// (HSET of ten fields) reallocates once.
    func reserve(encodedBytes bytes: Int) {
        guard isPacked else { return }
        var pairs = packed
        pairs.reserve(additional: bytes)
        storage = UInt(bitPattern: pairs.base)
    }

    /// Gives back what `reserve` set aside and the pairs did not use (fields repeated in one HSET).
    func shrinkToFit() {
        guard isPacked else { return }
        var pairs = packed
        pairs.shrinkIfWasteful()
        storage = UInt(bitPattern: pairs.base)
    }

    /// The encoded size of a new pair in the compact form (for `reserve`): the field's code if it has one
    /// now (FieldNames), else its bytes.
    static func encodedSize(field: UnsafeRawBufferPointer, valueLength: Int) -> Int {
        var fieldSize = PackedPairs.encodedSize(field.count)
        if let id = FieldNames.shared.id(of: field), FieldNames.isWorthIt(id, field.count) {
            fieldSize = FieldNames.codeSize(id)
        }
        return fieldSize + PackedPairs.encodedSize(valueLength)
    }

    // MARK: - Per-type operations (Value.swift)

    /// A copy in the same encoding (COPY keeps it, as Redis's hashTypeDup does).
    func duplicate() -> HashValue {
        if isPacked { return HashValue(packedBuffer: packed.copy()) }
        let source = table!
        let copy = HashTable<ByteString>()
        copy.reserveCapacity(source.count)
        for (field, value) in source { copy.updateValue(value, forKey: field) }
        return HashValue(table: copy)
    }

    /// Allocations freeing takes (Redis's lazyfreeGetFreeEffort: the table's size, 1 for a listpack).
    var freeEffort: Int { isPacked ? 1 : table!.count }

    /// MEMORY USAGE (`Value.memoryUsage`): this object and its packed buffer, or its table with the long
    /// fields' and values' buffers sampled.
    func memoryUsage(samples: Int) -> Int {
        let own = allocationSize(of: self)
        if isPacked { return own + allocationSize(packedBase) }
        return own + table!.memoryUsage(samples: samples) { field, value in field.allocatedBytes + value.allocatedBytes }
    }

    /// Verifies the structure; traps on a violation. O(n) (O(n log n) for the duplicate check).
    func checkInvariants() {
        if let table {
            table.checkInvariants()
            return
        }
        let pairs = packed
        precondition(cs_malloc_usable_size(pairs.base) >= pairs.byteCount,
                     "HashValue: packed buffer smaller than its contents")
        var walked = 0
        var fields: [ByteString] = []
        var p = 0
        while p < pairs.used {
            let (field, value) = pairs.pair(at: p)
            precondition(field.count <= PackedPairs.maxElementLength && value.count <= PackedPairs.maxElementLength)
            if let id = PackedPairs.code(at: pairs.elements + p) {
                precondition(id < FieldNames.shared.count, "HashValue: field code \(id) names no interned field")
            }
            precondition(PackedPairs.code(at: pairs.elements + p + PackedPairs.element(at: pairs.elements + p).size) == nil,
                         "HashValue: a value stored as a field code")
            fields.append(ByteString(field))
            p = pairs.offset(after: p)
            walked += 1
        }
        precondition(p == pairs.used, "HashValue: pairs overrun their bytes (\(p) > \(pairs.used))")
        precondition(walked == pairs.count, "HashValue: count \(pairs.count) but \(walked) pairs")
        precondition(Set(fields).count == fields.count, "HashValue: duplicate field in a packed hash")
    }
}

// MARK: - Random pairs and SCAN

extension HashValue {
    /// HRANDFIELD's sampling, case by case as Redis 7.0's hrandfieldWithCountCommand (the case decides the
    /// shape of the reply, so it is Redis's):
    /// 1. `distinct` false (a negative count), or a count of 1: `count` independent uniform picks, repeats
    ///    allowed, in the order drawn;
    /// 2. `count` at least the size: every pair, in the hash's order (insertion order when packed);
    /// 3. `count * 3` more than the size: a uniformly random subset of `count` pairs (Redis copies the
    ///    hash and deletes random pairs, then answers in its dictionary's order; here the subset comes out
    ///    in random order);
    /// 4. otherwise: a uniformly random subset of `count` pairs, in the hash's order when packed (Redis's
    ///    lpRandomPairsUnique: selection sampling in one walk), in the order drawn from a table (random
    ///    picks, duplicates rejected).
    /// Calls `body` once per pair returned: `count` times for case 1, `min(count, size)` times otherwise.
    func forEachRandomPair<G: RandomNumberGenerator>(
        count: Int, distinct: Bool, using generator: inout G,
        _ body: (_ field: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) -> Void
    ) {
        let size = self.count
        guard count > 0, size > 0 else { return }
        if !distinct || count == 1 {
            if let table {
                for _ in 0..<count {
                    let (field, value) = table.randomElement(using: &generator)!
                    field.withUnsafeBytes { f in value.withUnsafeBytes { v in body(f, v) } }
                }
            } else {
                let pairs = packed
                let offsets = pairs.pairOffsets()
                for _ in 0..<count {
                    let (f, v) = pairs.pair(at: offsets[Int.random(in: 0..<size, using: &generator)])
                    body(f, v)
                }
            }
            return
        }
        if count >= size { return forEach(body) }
        if count * 3 > size {
            // Case 3: a partial Fisher-Yates shuffle of the positions picks `count` of them uniformly.
            if let table {
                var all = Array(table)
                for i in 0..<count {
                    all.swapAt(i, Int.random(in: i..<size, using: &generator))
                    all[i].key.withUnsafeBytes { f in all[i].value.withUnsafeBytes { v in body(f, v) } }
                }
            } else {
                let pairs = packed
                var offsets = pairs.pairOffsets()
                for i in 0..<count {
                    offsets.swapAt(i, Int.random(in: i..<size, using: &generator))
                    let (f, v) = pairs.pair(at: offsets[i])
                    body(f, v)
                }
            }
            return
        }
        if let table {
            var seen = Set<ByteString>()
            seen.reserveCapacity(count)
            while seen.count < count {
                let (field, value) = table.randomElement(using: &generator)!
                guard seen.insert(field).inserted else { continue }
                field.withUnsafeBytes { f in value.withUnsafeBytes { v in body(f, v) } }
            }
        } else {
            // Selection sampling (Knuth's algorithm S): pair i is taken with probability
            // (still needed) / (pairs left), which gives every subset of `count` the same chance.
            var needed = count
            var left = size
            packed.forEach { f, v in
                if needed > 0 && Int.random(in: 0..<left, using: &generator) < needed {
                    body(f, v)
                    needed -= 1
                }
                left -= 1
            }
        }
    }

    /// Calls `body` with a uniformly random pair (HRANDFIELD without a count) and returns its result; nil
    /// when empty. Allocates nothing.
    func withRandomPair<G: RandomNumberGenerator, R>(
        using generator: inout G, _ body: (_ field: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) -> R
    ) -> R? {
        guard !isEmpty else { return nil }
        if let table {
            let (field, value) = table.randomElement(using: &generator)!
            return field.withUnsafeBytes { f in value.withUnsafeBytes { v in body(f, v) } }
        }
        let pairs = packed
        var offset = 0
        for _ in 0..<Int.random(in: 0..<pairs.count, using: &generator) { offset = pairs.offset(after: offset) }
        let (f, v) = pairs.pair(at: offset)
        return body(f, v)
    }

    /// One step of HSCAN over a table (see HashTable.scan): the pairs of the bucket(s) at `cursor`, and the
    /// cursor to continue from, 0 when complete. A packed hash is returned whole with cursor 0, as Redis
    /// returns a listpack.
    func scan(cursor: UInt64, _ body: (ByteString, ByteString) -> Void) -> UInt64 {
        if let table { return table.scan(cursor: cursor, body) }
        packed.forEach { body(ByteString($0), ByteString($1)) }
        return 0
    }
}

// MARK: - The packed buffer

/// A view of the compact encoding's buffer (see the file header). Methods that may reallocate update
/// `base`; the owner stores it back.
///
/// THE HEADER says how many bytes the pairs take (`used`) and how many pairs there are (`count`) in 4 bytes
/// while both are small (every compact hash and sorted set within Redis's default limits), else in 8:
///
///     small: one little-endian UInt32, bit 0 clear: used in bits 1-17 (< 131,072), count in bits 18-31 (< 16,384)
///     big:   UInt32 count << 1 | 1, then UInt32 used
///
/// A buffer changes to the big form (its pairs move 4 bytes up) when an edit may outgrow the small one
/// (`fitHeader`: `reserve` asks for room for one more pair whatever the edit, `appendReserved` for its pair),
/// and never back. The 4 bytes matter: a hash of ten
/// small pairs is ~100 bytes of pairs, and 104 bytes fit a 112-byte glibc chunk where 108 take 128.
struct PackedPairs {
    var base: UnsafeMutableRawPointer

    /// The small header's limits (exclusive).
    static let smallUsedLimit = 1 << 17
    static let smallCountLimit = 1 << 14
    /// Elements are at most 4 GB - 1 (the 5-byte prefix holds a UInt32).
    static let maxElementLength = Int(UInt32.max)
    /// Redis's LISTPACK_MAX_SAFETY_SIZE: a listpack never grows past 1 GB; the hash converts instead.
    static let safetyLimit = 1 << 30

    /// A new buffer with room for `bytes` bytes of pairs, holding none (a small header).
    static func allocate(bytes: Int) -> UnsafeMutableRawPointer {
        guard let base = malloc(4 + bytes) else { fatalError("HashValue: out of memory") }
        base.storeBytes(of: 0, as: UInt32.self)
        return base
    }

    @inline(__always) var isBigHeader: Bool { base.load(as: UInt8.self) & 1 != 0 }

    /// 4 or 8 bytes.
    @inline(__always) var headerSize: Int { 4 << Int(base.load(as: UInt8.self) & 1) }

    /// The buffer's bytes in use: its header and pairs.
    var byteCount: Int { headerSize + used }

    @inline(__always) private var header: UInt32 { base.load(as: UInt32.self) }

    /// Bytes of the encoded pairs. Growing it past the small header's limit takes `fitHeader` first.
    var used: Int {
        get { isBigHeader ? Int(base.load(fromByteOffset: 4, as: UInt32.self)) : Int(header >> 1 & 0x1FFFF) }
        nonmutating set {
            if isBigHeader { return base.storeBytes(of: UInt32(newValue), toByteOffset: 4, as: UInt32.self) }
            precondition(newValue < PackedPairs.smallUsedLimit, "PackedPairs: header not fitted")
            base.storeBytes(of: header & ~(0x1FFFF << 1) | UInt32(newValue) << 1, as: UInt32.self)
        }
    }

    /// Number of pairs. Growing it past the small header's limit takes `fitHeader` first.
    var count: Int {
        get { isBigHeader ? Int(header >> 1) : Int(header >> 18) }
        nonmutating set {
            if isBigHeader { return base.storeBytes(of: UInt32(newValue) << 1 | 1, as: UInt32.self) }
            precondition(newValue < PackedPairs.smallCountLimit, "PackedPairs: header not fitted")
            base.storeBytes(of: header & 0x3FFFF | UInt32(newValue) << 18, as: UInt32.self)
        }
    }

    @inline(__always) var elements: UnsafeMutableRawPointer { base + headerSize }

    /// Changes a small header to the big form when `used` or `count` is about to reach these values and the
    /// small one cannot hold them: the pairs move up 4 bytes, into a buffer 4 bytes larger (so what was
    /// reserved stays reserved) and with room for `newUsed` bytes of pairs.
    mutating func fitHeader(used newUsed: Int, count newCount: Int) {
        guard !isBigHeader,
              newUsed >= PackedPairs.smallUsedLimit || newCount >= PackedPairs.smallCountLimit else { return }
        let (used, count) = (self.used, self.count)
        let room = Swift.max(cs_malloc_usable_size(base) + 4, 8 + newUsed)
        guard let grown = realloc(base, room) else { fatalError("HashValue: out of memory") }
        base = grown
        if used > 0 { (base + 8).copyMemory(from: base + 4, byteCount: used) }
        base.storeBytes(of: UInt32(count) << 1 | 1, as: UInt32.self)
        base.storeBytes(of: UInt32(used), toByteOffset: 4, as: UInt32.self)
    }

    /// A copy of the buffer, exactly sized (COPY).
    func copy() -> UnsafeMutableRawPointer {
        guard let copy = malloc(byteCount) else { fatalError("HashValue: out of memory") }
        copy.copyMemory(from: base, byteCount: byteCount)
        return copy
    }

    // MARK: Elements

    @inline(__always) static func prefixSize(_ length: Int) -> Int { length < 128 ? 1 : length < 16384 ? 2 : 5 }

    @inline(__always) static func encodedSize(_ length: Int) -> Int { prefixSize(length) + length }

    /// Writes the length prefix of an element of `length` bytes at `p`; returns its size.
    @inline(__always) static func writePrefix(_ length: Int, at p: UnsafeMutableRawPointer) -> Int {
        if length < 128 {
            p.storeBytes(of: UInt8(length), as: UInt8.self)
            return 1
        }
        if length < 16384 {
            p.storeBytes(of: UInt8(0x80 | length >> 8), as: UInt8.self)
            p.storeBytes(of: UInt8(truncatingIfNeeded: length), toByteOffset: 1, as: UInt8.self)
            return 2
        }
        precondition(length <= maxElementLength, "HashValue: element too long")
        p.storeBytes(of: UInt8(0xC0), as: UInt8.self)
        p.storeBytes(of: UInt32(length).littleEndian, toByteOffset: 1, as: UInt32.self)
        return 5
    }

    /// The element at `p`: its bytes and the size of the whole encoding. A hash field's code (a byte above
    /// 0xC0, see Storage/FieldNames.swift) yields the interned name's bytes.
    @inline(__always) static func element(at p: UnsafeRawPointer) -> (bytes: UnsafeRawBufferPointer, size: Int) {
        let b0 = p.load(as: UInt8.self)
        let length: Int, prefix: Int
        if b0 < 0x80 {
            (length, prefix) = (Int(b0), 1)
        } else if b0 < 0xC0 {
            (length, prefix) = (Int(b0 & 0x3F) << 8 | Int(p.load(fromByteOffset: 1, as: UInt8.self)), 2)
        } else if b0 == 0xC0 {
            (length, prefix) = (Int(UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 1, as: UInt32.self))), 5)
        } else {
            let id = code(at: p).unsafelyUnwrapped  // b0 > 0xC0: a field code
            return (FieldNames.shared.name(id), FieldNames.codeSize(id))
        }
        return (UnsafeRawBufferPointer(start: p + prefix, count: length), prefix + length)
    }

    /// The FieldNames id of the element at `p` when it is a code, nil when it is literal.
    @inline(__always) static func code(at p: UnsafeRawPointer) -> Int? {
        let b0 = p.load(as: UInt8.self)
        if b0 <= 0xC0 { return nil }
        if b0 != 0xFF { return Int(b0) - 0xC1 }
        return FieldNames.oneByteCodes + Int(UInt16(littleEndian: p.loadUnaligned(fromByteOffset: 1, as: UInt16.self)))
    }

    /// The size of a field stored under `id` (a FieldNames code) or, with nil, literally.
    @inline(__always) static func encodedSize(field: UnsafeRawBufferPointer, id: Int?) -> Int {
        if let id { return FieldNames.codeSize(id) }
        return encodedSize(field.count)
    }

    /// Writes the code of FieldNames id `id` at `p`; returns its size.
    @inline(__always) static func writeCode(_ id: Int, at p: UnsafeMutableRawPointer) -> Int {
        if id < FieldNames.oneByteCodes {
            p.storeBytes(of: UInt8(0xC1 + id), as: UInt8.self)
            return 1
        }
        p.storeBytes(of: 0xFF, as: UInt8.self)
        p.storeBytes(of: UInt16(id - FieldNames.oneByteCodes).littleEndian, toByteOffset: 1, as: UInt16.self)
        return 3
    }

    // MARK: Pairs (by byte offset from `elements`)

    /// The field and value of the pair at `offset`.
    @inline(__always) func pair(at offset: Int) -> (field: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        let field = PackedPairs.element(at: elements + offset)
        let value = PackedPairs.element(at: elements + offset + field.size)
        return (field.bytes, value.bytes)
    }

    /// The offset of the pair after the one at `offset`.
    @inline(__always) func offset(after offset: Int) -> Int {
        let fieldSize = PackedPairs.element(at: elements + offset).size
        return offset + fieldSize + PackedPairs.element(at: elements + offset + fieldSize).size
    }

    /// The offset of the pair whose field is `field`, nil when absent (lpFind: lengths first, then bytes).
    @inline(__always) func find(_ field: UnsafeRawBufferPointer) -> Int? {
        let end = used
        var p = 0
        while p < end {
            let f = PackedPairs.element(at: elements + p)
            if bytesEqual(f.bytes, field) { return p }
            p += f.size
            p += PackedPairs.element(at: elements + p).size
        }
        return nil
    }

    func forEach(_ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Void) {
        let end = used
        var p = 0
        while p < end {
            let f = PackedPairs.element(at: elements + p)
            let v = PackedPairs.element(at: elements + p + f.size)
            body(f.bytes, v.bytes)
            p += f.size + v.size
        }
    }

    /// The offset of every pair, in order (random access for HRANDFIELD).
    func pairOffsets() -> [Int] {
        var offsets: [Int] = []
        offsets.reserveCapacity(count)
        var p = 0
        let end = used
        while p < end {
            offsets.append(p)
            p = offset(after: p)
        }
        return offsets
    }

    // MARK: Edits

    /// Ensures room for `additional` more bytes of pairs (exact size: realloc, which glibc often does in
    /// place).
    /// The header is fitted for one more pair as well (whatever adds bytes may be adding a pair).
    mutating func reserve(additional: Int) {
        fitHeader(used: used + additional, count: count + 1)
        let needed = byteCount + additional
        if needed > cs_malloc_usable_size(base) {
            guard let grown = realloc(base, needed) else { fatalError("HashValue: out of memory") }
            base = grown
        }
    }

    /// Gives memory back when 32 bytes or more are unused (glibc splits a chunk from that size on).
    mutating func shrinkIfWasteful() {
        let needed = byteCount
        if cs_malloc_usable_size(base) - needed >= 32, let shrunk = realloc(base, needed) { base = shrunk }
    }

    /// Appends a pair (the field is known to be absent), the field as FieldNames id `fieldID` when given.
    mutating func append(_ field: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, fieldID: Int? = nil) {
        insert(field, value, at: used, fieldID: fieldID)
    }

    /// Appends a pair into room already reserved with `reserve(additional:)` (a buffer filled in one go).
    mutating func appendReserved(_ field: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) {
        fitHeader(used: used + PackedPairs.encodedSize(field.count) + PackedPairs.encodedSize(value.count), count: count + 1)
        used += write(field, value, at: elements + used, fieldID: nil)
        count += 1
    }

    /// Writes a pair's two elements at `p` (the field as FieldNames id `fieldID` when given); returns
    /// their size.
    @inline(__always) private func write(_ field: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer,
                                         at start: UnsafeMutableRawPointer, fieldID: Int?) -> Int {
        var p = start
        if let fieldID {
            p += PackedPairs.writeCode(fieldID, at: p)
        } else {
            p += PackedPairs.writePrefix(field.count, at: p)
            if field.count > 0 { p.copyMemory(from: field.baseAddress!, byteCount: field.count) }
            p += field.count
        }
        p += PackedPairs.writePrefix(value.count, at: p)
        if value.count > 0 { p.copyMemory(from: value.baseAddress!, byteCount: value.count) }
        return p + value.count - start
    }

    /// Replaces the value of the pair at `offset`, moving the bytes after it when the size changes.
    mutating func replaceValue(ofPairAt offset: Int, with value: UnsafeRawBufferPointer) {
        let valueOffset = offset + PackedPairs.element(at: elements + offset).size
        let oldSize = PackedPairs.element(at: elements + valueOffset).size
        let newSize = PackedPairs.encodedSize(value.count)
        let tail = used - valueOffset - oldSize
        if newSize > oldSize { reserve(additional: newSize - oldSize) }
        let p = elements + valueOffset
        if newSize != oldSize && tail > 0 { (p + newSize).copyMemory(from: p + oldSize, byteCount: tail) }
        let prefix = PackedPairs.writePrefix(value.count, at: p)
        if value.count > 0 { (p + prefix).copyMemory(from: value.baseAddress!, byteCount: value.count) }
        used += newSize - oldSize
        if newSize < oldSize { shrinkIfWasteful() }
    }

    /// Inserts a pair before the one at `offset` (`used` appends), moving the pairs after it; the field as
    /// FieldNames id `fieldID` when given.
    mutating func insert(_ field: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, at offset: Int,
                         fieldID: Int? = nil) {
        let size = PackedPairs.encodedSize(field: field, id: fieldID) + PackedPairs.encodedSize(value.count)
        reserve(additional: size)
        let p = elements + offset
        let tail = used - offset
        if tail > 0 { (p + size).copyMemory(from: p, byteCount: tail) }
        _ = write(field, value, at: p, fieldID: fieldID)
        used += size
        count += 1
    }

    /// Removes the pair at `offset`, closing the gap.
    mutating func removePair(at offset: Int) {
        removePairs(from: offset, to: self.offset(after: offset), count: 1)
    }

    /// Removes the `count` pairs from offset `start` up to offset `end`, closing the gap.
    mutating func removePairs(from start: Int, to end: Int, count removed: Int) {
        let tail = used - end
        if tail > 0 { (elements + start).copyMemory(from: elements + end, byteCount: tail) }
        used -= end - start
        count -= removed
        shrinkIfWasteful()
    }
}
