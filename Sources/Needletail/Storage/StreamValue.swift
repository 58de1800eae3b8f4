import CSystem
import Glibc

// A stream (Redis's t_stream.c over a radix tree of listpacks): an append-only log of entries, each an id
// (ms-seq, two unsigned 64-bit numbers, strictly increasing) and field/value pairs, plus consumer groups
// (StreamGroups.swift).
//
// STORAGE. Entries live in packed nodes (`StreamNode`), appended in id order; `nodes` is the index, sorted
// by each node's master id (the id of the first entry it ever held), so a seek is a binary search over the
// nodes and then a scan of one node. A node is one malloc'd buffer:
//
//     master fields: varint count, then each field as varint length + bytes
//     entries:       flags (deleted, same-fields), varint ms delta, varint seq, [varint n, n x (field, value)
//                    when the fields differ from the master's] or the values only, each as varint length + bytes
//
// The ms delta is against the previous entry of the node (the master id for the first), and the seq is the
// delta against the previous seq when the ms did not change, absolute otherwise: for entries added with `*`
// that is three bytes of id and flags per entry where a listpack spends eight (ms-diff, seq-diff, flags and
// lp-count, each with its backlen). Decoding goes forward from the node's start, so a reverse scan of a node
// first collects its entries' offsets.
//
// XDEL marks an entry deleted in place (a tombstone, as Redis does), and a node whose entries are all
// deleted is dropped from the index. Trimming removes whole nodes from the front and marks entries deleted
// in the first node left (exact trimming), or stops at the first node it cannot remove whole (`~`).
//
// Redis's node boundaries decide what `~` trims and what XINFO and the RDB show, so nodes are cut where
// redis-server cuts its listpacks: a node takes `stream-node-max-entries` entries (deleted ones included) and
// is closed when the listpack Redis would hold plus the new entry's field and value bytes reaches
// `stream-node-max-bytes`. Each node keeps that listpack's size (`listpackBytes`) as it grows, and the RDB
// writer builds the very listpack (Persistence/RDBStream.swift).

/// A stream entry id: milliseconds and a sequence number.
struct StreamID: Comparable, Hashable {
    var ms: UInt64
    var seq: UInt64

    static let zero = StreamID(ms: 0, seq: 0)
    static let max = StreamID(ms: .max, seq: .max)

    static func < (a: StreamID, b: StreamID) -> Bool { a.ms != b.ms ? a.ms < b.ms : a.seq < b.seq }

    var isZero: Bool { ms == 0 && seq == 0 }

    /// The next id (streamIncrID); nil past the maximum.
    var incremented: StreamID? {
        if seq == .max {
            if ms == .max { return nil }
            return StreamID(ms: ms + 1, seq: 0)
        }
        return StreamID(ms: ms, seq: seq + 1)
    }

    /// The previous id (streamDecrID); nil before 0-0.
    var decremented: StreamID? {
        if seq == 0 {
            if ms == 0 { return nil }
            return StreamID(ms: ms - 1, seq: .max)
        }
        return StreamID(ms: ms, seq: seq - 1)
    }

    /// "ms-seq": up to 41 bytes (20 digits, "-", 20 digits).
    var text: ByteString {
        var buffer = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        return withUnsafeMutableBytes(of: &buffer) { raw in
            let base = raw.baseAddress!
            var n = writeUInt64(ms, to: base)
            base.storeBytes(of: UInt8(ascii: "-"), toByteOffset: n, as: UInt8.self)
            n += 1
            n += writeUInt64(seq, to: base + n)
            return ByteString(UnsafeRawBufferPointer(start: base, count: n))
        }
    }

    /// The 16-byte big-endian form (the radix tree key in Redis; raw ids in the RDB's PELs).
    var bigEndianBytes: [UInt8] {
        var out = [UInt8](repeating: 0, count: 16)
        for i in 0..<8 {
            out[i] = UInt8(truncatingIfNeeded: ms >> (56 - 8 * UInt64(i)))
            out[8 + i] = UInt8(truncatingIfNeeded: seq >> (56 - 8 * UInt64(i)))
        }
        return out
    }

    init(ms: UInt64, seq: UInt64) {
        self.ms = ms
        self.seq = seq
    }

    init?(bigEndian bytes: UnsafeRawBufferPointer) {
        guard bytes.count == 16 else { return nil }
        var ms: UInt64 = 0, seq: UInt64 = 0
        for i in 0..<8 {
            ms = ms << 8 | UInt64(bytes[i])
            seq = seq << 8 | UInt64(bytes[8 + i])
        }
        self.init(ms: ms, seq: seq)
    }
}

/// Decimal digits of an unsigned 64-bit number, written at `to` (20 bytes at most); returns the length.
func writeUInt64(_ value: UInt64, to: UnsafeMutableRawPointer) -> Int {
    var digits = (UInt64(0), UInt64(0), UInt64(0))
    return withUnsafeMutableBytes(of: &digits) { tmp in
        var v = value
        var n = 0
        repeat {
            tmp[n] = UInt8(ascii: "0") + UInt8(v % 10)
            v /= 10
            n += 1
        } while v != 0
        for i in 0..<n { to.storeBytes(of: tmp[n - 1 - i], toByteOffset: i, as: UInt8.self) }
        return n
    }
}

/// Redis's string2ull: digits only, within 64 bits (no sign, no spaces; an empty string is not a number).
func parseUInt64(_ bytes: UnsafeRawBufferPointer) -> UInt64? {
    guard !bytes.isEmpty, bytes.count <= 20 else { return nil }
    var v: UInt64 = 0
    for b in bytes {
        guard b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") else { return nil }
        let (m, o1) = v.multipliedReportingOverflow(by: 10)
        let (s, o2) = m.addingReportingOverflow(UInt64(b - UInt8(ascii: "0")))
        if o1 || o2 { return nil }
        v = s
    }
    return v
}

// MARK: - Varints

@inline(__always) func varintSize(_ v: UInt64) -> Int {
    var n = 1
    var x = v >> 7
    while x != 0 { n += 1; x >>= 7 }
    return n
}

@inline(__always) func writeVarint(_ v: UInt64, to p: UnsafeMutableRawPointer) -> Int {
    var x = v
    var n = 0
    while x >= 0x80 {
        p.storeBytes(of: UInt8(truncatingIfNeeded: x) | 0x80, toByteOffset: n, as: UInt8.self)
        x >>= 7
        n += 1
    }
    p.storeBytes(of: UInt8(x), toByteOffset: n, as: UInt8.self)
    return n + 1
}

@inline(__always) func readVarint(_ p: UnsafeRawPointer, _ offset: inout Int) -> UInt64 {
    var v: UInt64 = 0
    var shift: UInt64 = 0
    while true {
        let b = p.load(fromByteOffset: offset, as: UInt8.self)
        offset += 1
        v |= UInt64(b & 0x7F) << shift
        if b < 0x80 { return v }
        shift += 7
    }
}

// MARK: - Listpack sizes (to cut nodes where Redis cuts them)

/// Bytes an element takes in a listpack, backlen included (lpAppend of these bytes).
func listpackElementSize(_ bytes: UnsafeRawBufferPointer) -> Int {
    if bytes.count <= 20, let v = parseInt64(bytes) { return listpackIntegerSize(v) }
    let n = bytes.count
    let encoded = n < 64 ? 1 + n : n < 4096 ? 2 + n : 5 + n
    return encoded + Listpack.backlenSize(encoded)
}

/// Bytes an integer takes in a listpack, backlen included.
func listpackIntegerSize(_ v: Int64) -> Int {
    let encoded: Int
    if v >= 0 && v <= 127 { encoded = 1 }
    else if v >= -4096 && v <= 4095 { encoded = 2 }
    else if v >= -32768 && v <= 32767 { encoded = 3 }
    else if v >= -8_388_608 && v <= 8_388_607 { encoded = 4 }
    else if v >= -2_147_483_648 && v <= 2_147_483_647 { encoded = 5 }
    else { encoded = 9 }
    return encoded + 1
}

// MARK: - Nodes

/// One packed node of entries (see the file header).
final class StreamNode {
    private(set) var buffer: UnsafeMutableRawPointer
    private(set) var used = 0
    private(set) var capacity: Int
    /// The id of the first entry it held (the node's key in the index, even once that entry is deleted).
    let masterID: StreamID
    /// The id of the last entry appended (deleted or not).
    private(set) var lastID: StreamID
    /// Entries held, deleted ones included (Redis's count + deleted).
    private(set) var entryCount = 0
    private(set) var liveCount = 0
    private(set) var masterFieldCount = 0
    /// Where the entries start (after the master fields).
    private(set) var entriesStart = 0
    /// Redis's listpack size for this node without its count and deleted elements (see `listpackBytes`).
    private var listpackBytesSansCounters = 0

    static let flagDeleted: UInt8 = 1
    static let flagSameFields: UInt8 = 2

    /// A node whose master entry is the first entry, `fields` (field, value, field, value...).
    init(firstID: StreamID, fields: [UnsafeRawBufferPointer], reserve: Int) {
        masterID = firstID
        lastID = firstID
        capacity = Swift.max(reserve, 64)
        buffer = malloc(capacity)!
        let n = fields.count / 2
        var size = varintSize(UInt64(n))
        for i in stride(from: 0, to: fields.count, by: 2) { size += varintSize(UInt64(fields[i].count)) + fields[i].count }
        ensure(size)
        used += writeVarint(UInt64(n), to: buffer + used)
        for i in stride(from: 0, to: fields.count, by: 2) { appendBytes(fields[i]) }
        masterFieldCount = n
        entriesStart = used
        // Header (6) + terminator (1) + master num-fields, its fields and the master terminator "0".
        listpackBytesSansCounters = 7 + listpackIntegerSize(Int64(n)) + listpackIntegerSize(0)
        for i in stride(from: 0, to: fields.count, by: 2) { listpackBytesSansCounters += listpackElementSize(fields[i]) }
    }

    /// An empty node whose master fields and entries are filled by the RDB loader (`appendLoaded`).
    init(masterID: StreamID, masterFields: [ByteString]) {
        self.masterID = masterID
        lastID = masterID
        capacity = 64
        buffer = malloc(capacity)!
        ensure(varintSize(UInt64(masterFields.count)) + masterFields.reduce(0) { $0 + $1.count + 5 })
        used += writeVarint(UInt64(masterFields.count), to: buffer + used)
        for f in masterFields { f.withUnsafeBytes { appendBytes($0) } }
        masterFieldCount = masterFields.count
        entriesStart = used
        listpackBytesSansCounters = 7 + listpackIntegerSize(Int64(masterFields.count)) + listpackIntegerSize(0)
        for f in masterFields { listpackBytesSansCounters += f.withUnsafeBytes { listpackElementSize($0) } }
    }

    deinit { free(buffer) }

    /// The size of the listpack redis-server would hold for this node (lpBytes).
    var listpackBytes: Int {
        listpackBytesSansCounters + listpackIntegerSize(Int64(liveCount)) + listpackIntegerSize(Int64(entryCount - liveCount))
    }

    var deletedCount: Int { entryCount - liveCount }

    /// Bytes malloc gave the node's buffer and object.
    var allocatedBytes: Int { allocationSize(UnsafeRawPointer(buffer)) + allocationSize(of: self) }

    @inline(__always) private func ensure(_ extra: Int) {
        guard used + extra > capacity else { return }
        var newCapacity = capacity * 2
        while newCapacity < used + extra { newCapacity *= 2 }
        buffer = realloc(buffer, newCapacity)!
        capacity = newCapacity
    }

    @inline(__always) private func appendBytes(_ bytes: UnsafeRawBufferPointer) {
        used += writeVarint(UInt64(bytes.count), to: buffer + used)
        if bytes.count > 0 { (buffer + used).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count) }
        used += bytes.count
    }

    /// Gives back the spare capacity (a node that will not grow any more).
    func shrinkToFit() {
        guard capacity > used + 16 else { return }
        buffer = realloc(buffer, Swift.max(used, 1))!
        capacity = Swift.max(used, 1)
    }

    /// Whether `fields` (field, value pairs) has exactly the master's fields in order.
    func hasMasterFields(_ fields: [UnsafeRawBufferPointer]) -> Bool {
        guard fields.count / 2 == masterFieldCount else { return false }
        var offset = 0
        _ = readVarint(buffer, &offset)
        for i in stride(from: 0, to: fields.count, by: 2) {
            let n = Int(readVarint(buffer, &offset))
            guard n == fields[i].count,
                  n == 0 || memcmp(buffer + offset, fields[i].baseAddress!, n) == 0 else { return false }
            offset += n
        }
        return true
    }

    /// Appends an entry (its id greater than `lastID`); `fields` are field, value pairs.
    func append(_ id: StreamID, _ fields: [UnsafeRawBufferPointer]) {
        let same = hasMasterFields(fields)
        appendEntry(id, fields, same: same, deleted: false)
    }

    private func appendEntry(_ id: StreamID, _ fields: [UnsafeRawBufferPointer], same: Bool, deleted: Bool) {
        let first = entryCount == 0
        let msDelta = first ? 0 : id.ms &- lastID.ms
        let seqPart = first ? 0 : msDelta == 0 ? id.seq &- lastID.seq : id.seq
        var size = 1 + varintSize(msDelta) + varintSize(seqPart)
        if !same { size += varintSize(UInt64(fields.count / 2)) }
        for i in 0..<fields.count where !same || i % 2 == 1 { size += varintSize(UInt64(fields[i].count)) + fields[i].count }
        ensure(size)
        buffer.storeBytes(of: (same ? StreamNode.flagSameFields : 0) | (deleted ? StreamNode.flagDeleted : 0),
                          toByteOffset: used, as: UInt8.self)
        used += 1
        used += writeVarint(msDelta, to: buffer + used)
        used += writeVarint(seqPart, to: buffer + used)
        if !same { used += writeVarint(UInt64(fields.count / 2), to: buffer + used) }
        for i in 0..<fields.count where !same || i % 2 == 1 { appendBytes(fields[i]) }
        lastID = id
        entryCount += 1
        if !deleted { liveCount += 1 }
        // Redis's listpack: flags, ms-diff, seq-diff, [num-fields, fields and values | values], lp-count.
        var lp = listpackIntegerSize(Int64(same ? StreamNode.flagSameFields : 0))
            + listpackIntegerSize(Int64(bitPattern: id.ms &- masterID.ms))
            + listpackIntegerSize(Int64(bitPattern: id.seq &- masterID.seq))
        let n = fields.count / 2
        if !same { lp += listpackIntegerSize(Int64(n)) }
        for i in 0..<fields.count where !same || i % 2 == 1 { lp += listpackElementSize(fields[i]) }
        lp += listpackIntegerSize(Int64(same ? n + 3 : 2 * n + 4))
        listpackBytesSansCounters += lp
    }

    /// Appends an entry read from an RDB listpack, with its deleted flag.
    func appendLoaded(_ id: StreamID, _ fields: [UnsafeRawBufferPointer], deleted: Bool) {
        appendEntry(id, fields, same: hasMasterFields(fields), deleted: deleted)
    }

    /// The master fields.
    var masterFields: [UnsafeRawBufferPointer] {
        var offset = 0
        let n = Int(readVarint(buffer, &offset))
        var out: [UnsafeRawBufferPointer] = []
        out.reserveCapacity(n)
        for _ in 0..<n {
            let len = Int(readVarint(buffer, &offset))
            out.append(UnsafeRawBufferPointer(start: buffer + offset, count: len))
            offset += len
        }
        return out
    }

    /// One decoded entry: its id, flags, and where its fields and values start.
    struct Cursor {
        var offset: Int
        var id: StreamID
        var flags: UInt8
        /// Offset of the entry's flags byte (for marking it deleted).
        var flagsOffset: Int
        /// Offset of the field/value data (the values only when same-fields).
        var dataOffset: Int
        var fieldCount: Int
        var deleted: Bool { flags & StreamNode.flagDeleted != 0 }
        var sameFields: Bool { flags & StreamNode.flagSameFields != 0 }
    }

    /// Walks every entry (deleted ones included) in order; `body` returns false to stop.
    @inline(__always) func forEachEntry(_ body: (Cursor) -> Bool) {
        var offset = entriesStart
        var prev = masterID
        var first = true
        while offset < used {
            let flagsOffset = offset
            let flags = buffer.load(fromByteOffset: offset, as: UInt8.self)
            offset += 1
            let msDelta = readVarint(buffer, &offset)
            let seqPart = readVarint(buffer, &offset)
            var id: StreamID
            if first { id = masterID; first = false }
            else if msDelta == 0 { id = StreamID(ms: prev.ms, seq: prev.seq &+ seqPart) }
            else { id = StreamID(ms: prev.ms &+ msDelta, seq: seqPart) }
            prev = id
            let same = flags & StreamNode.flagSameFields != 0
            var count = masterFieldCount
            if !same { count = Int(readVarint(buffer, &offset)) }
            let dataOffset = offset
            let items = same ? count : 2 * count
            for _ in 0..<items {
                let len = Int(readVarint(buffer, &offset))
                offset += len
            }
            let cursor = Cursor(offset: offset, id: id, flags: flags, flagsOffset: flagsOffset, dataOffset: dataOffset,
                                fieldCount: count)
            if !body(cursor) { return }
        }
    }

    /// The entries' cursors in order (for reverse scans).
    func cursors() -> [Cursor] {
        var out: [Cursor] = []
        out.reserveCapacity(entryCount)
        forEachEntry { out.append($0); return true }
        return out
    }

    /// Calls `body` with each field and value of the entry at `cursor`.
    @inline(__always) func forEachPair(_ cursor: Cursor, _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Void) {
        var offset = cursor.dataOffset
        if cursor.sameFields {
            var masterOffset = 0
            _ = readVarint(buffer, &masterOffset)
            for _ in 0..<cursor.fieldCount {
                let flen = Int(readVarint(buffer, &masterOffset))
                let field = UnsafeRawBufferPointer(start: buffer + masterOffset, count: flen)
                masterOffset += flen
                let vlen = Int(readVarint(buffer, &offset))
                let value = UnsafeRawBufferPointer(start: buffer + offset, count: vlen)
                offset += vlen
                body(field, value)
            }
        } else {
            for _ in 0..<cursor.fieldCount {
                let flen = Int(readVarint(buffer, &offset))
                let field = UnsafeRawBufferPointer(start: buffer + offset, count: flen)
                offset += flen
                let vlen = Int(readVarint(buffer, &offset))
                let value = UnsafeRawBufferPointer(start: buffer + offset, count: vlen)
                offset += vlen
                body(field, value)
            }
        }
    }

    /// Marks the entry at `cursor` deleted (it must be live).
    func markDeleted(_ cursor: Cursor) {
        let flags = buffer.load(fromByteOffset: cursor.flagsOffset, as: UInt8.self)
        precondition(flags & StreamNode.flagDeleted == 0, "StreamNode.markDeleted: already deleted")
        buffer.storeBytes(of: flags | StreamNode.flagDeleted, toByteOffset: cursor.flagsOffset, as: UInt8.self)
        liveCount -= 1
        // The listpack's flags element keeps its size (flags stay below 128).
    }

    /// A copy sharing nothing (COPY).
    func duplicate() -> StreamNode {
        let copy = StreamNode(masterID: masterID, masterFields: [])
        free(copy.buffer)
        copy.buffer = malloc(Swift.max(used, 1))!
        copy.buffer.copyMemory(from: buffer, byteCount: used)
        copy.used = used
        copy.capacity = Swift.max(used, 1)
        copy.lastID = lastID
        copy.entryCount = entryCount
        copy.liveCount = liveCount
        copy.masterFieldCount = masterFieldCount
        copy.entriesStart = entriesStart
        copy.listpackBytesSansCounters = listpackBytesSansCounters
        return copy
    }

    func checkInvariants() {
        var n = 0, live = 0
        var prev: StreamID?
        forEachEntry { c in
            if let p = prev { precondition(p < c.id, "stream node: ids out of order") }
            else { precondition(c.id == masterID, "stream node: first entry is not the master id") }
            prev = c.id
            n += 1
            if !c.deleted { live += 1 }
            precondition(c.offset <= used, "stream node: entry past the end")
            return true
        }
        precondition(n == entryCount, "stream node: entry count")
        precondition(live == liveCount, "stream node: live count")
        precondition(prev == lastID, "stream node: last id")
    }
}

// MARK: - The stream

/// A stream value (see the file header).
final class StreamValue {
    /// The index: nodes sorted by master id.
    private(set) var nodes: [StreamNode] = []
    /// Live entries (XLEN).
    private(set) var count = 0
    /// The greatest id ever added (or set by XSETID).
    var lastID = StreamID.zero
    /// The first live entry's id (0-0 when empty), as Redis 7.0's first_id.
    private(set) var firstID = StreamID.zero
    /// The greatest id ever deleted by XDEL (7.0's max_deleted_entry_id).
    var maxDeletedID = StreamID.zero
    /// Entries ever added (7.0's entries_added).
    var entriesAdded: UInt64 = 0
    /// Consumer groups, sorted by name (Redis's rax order).
    var groups: [StreamGroup] = []

    struct Limits {
        var maxBytes: Int
        var maxEntries: Int
    }

    init() {}

    var isEmpty: Bool { count == 0 }

    // MARK: Appending

    /// Appends an entry with `id` > `lastID` (the caller checked); `fields` are field, value pairs.
    /// Redis's streamAppendItem: the tail node takes it unless it is full by Redis's measures.
    func append(_ id: StreamID, _ fields: [UnsafeRawBufferPointer], limits: Limits) {
        var tail = nodes.last
        if let node = tail {
            var total = 0
            for f in fields { total += f.count }
            if limits.maxBytes > 0 && node.listpackBytes + total >= limits.maxBytes {
                tail = nil
            } else if limits.maxEntries > 0 && node.entryCount >= limits.maxEntries {
                tail = nil
            }
            if tail == nil { node.shrinkToFit() }
        }
        if let tail {
            tail.append(id, fields)
        } else {
            let node = StreamNode(firstID: id, fields: fields, reserve: 256)
            node.append(id, fields)
            nodes.append(node)
        }
        if count == 0 { firstID = id }
        count += 1
        lastID = id
        entriesAdded &+= 1
    }

    /// Appends a node read from an RDB (its entries already in it; possibly tombstones only, which Redis
    /// keeps after a MINID trim up to a deleted entry).
    func appendLoadedNode(_ node: StreamNode) {
        nodes.append(node)
    }

    /// Sets the counters read from an RDB.
    func setLoaded(count: Int, lastID: StreamID, maxDeletedID: StreamID, entriesAdded: UInt64) {
        self.count = count
        self.lastID = lastID
        self.maxDeletedID = maxDeletedID
        self.entriesAdded = entriesAdded
        refreshFirstID()
    }

    /// The live entries counted over the nodes (to check an RDB's length).
    var countedEntries: Int { nodes.reduce(0) { $0 + $1.liveCount } }

    private func refreshFirstID() {
        firstID = count == 0 ? .zero : edgeEntry(last: false)?.1.id ?? .zero
    }

    // MARK: Reading

    /// The index of the first node that may hold ids >= `id`.
    private func nodeIndex(for id: StreamID) -> Int {
        var lo = 0, hi = nodes.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if nodes[mid].masterID <= id { lo = mid + 1 } else { hi = mid }
        }
        return Swift.max(lo - 1, 0)
    }

    /// Calls `body` with every live entry whose id is in `start...end`, ascending or descending; `body`
    /// returns false to stop.
    func forEach(from start: StreamID, to end: StreamID, reverse: Bool = false,
                 _ body: (StreamNode, StreamNode.Cursor) -> Bool) {
        guard start <= end, !nodes.isEmpty else { return }
        if !reverse {
            var i = nodeIndex(for: start)
            while i < nodes.count {
                let node = nodes[i]
                if node.masterID > end { return }
                var go = true
                if node.lastID >= start {
                    node.forEachEntry { c in
                        if c.id > end { go = false; return false }
                        if c.id < start || c.deleted { return true }
                        go = body(node, c)
                        return go
                    }
                }
                if !go { return }
                i += 1
            }
        } else {
            var i = nodeIndex(for: end)
            while i >= 0 {
                let node = nodes[i]
                if node.lastID < start { return }
                if node.masterID <= end {
                    let all = node.cursors()
                    for c in all.reversed() {
                        if c.id > end || c.deleted { continue }
                        if c.id < start { return }
                        if !body(node, c) { return }
                    }
                }
                i -= 1
            }
        }
    }

    /// The entry with `id`, if live.
    func find(_ id: StreamID) -> (StreamNode, StreamNode.Cursor)? {
        var found: (StreamNode, StreamNode.Cursor)?
        forEach(from: id, to: id) { node, c in
            found = (node, c)
            return false
        }
        return found
    }

    /// The first or last live entry.
    func edgeEntry(last: Bool) -> (StreamNode, StreamNode.Cursor)? {
        var found: (StreamNode, StreamNode.Cursor)?
        forEach(from: .zero, to: .max, reverse: last) { node, c in
            found = (node, c)
            return false
        }
        return found
    }

    /// Redis's streamGetEdgeID with tombstones: the first entry held (deleted or not), or max when empty.
    var firstIDWithTombstones: StreamID { nodes.first?.masterID ?? .max }

    /// The last live entry's id (0-0 when empty).
    var lastLiveID: StreamID { edgeEntry(last: true)?.1.id ?? .zero }

    // MARK: Deleting

    /// XDEL of one id: whether a live entry was deleted.
    func delete(_ id: StreamID) -> Bool {
        guard !nodes.isEmpty else { return false }
        let i = nodeIndex(for: id)
        let node = nodes[i]
        var target: StreamNode.Cursor?
        node.forEachEntry { c in
            if c.id == id { if !c.deleted { target = c }; return false }
            return c.id < id
        }
        guard let cursor = target else { return false }
        node.markDeleted(cursor)
        if node.liveCount == 0 { nodes.remove(at: i) }
        count -= 1
        if id > maxDeletedID { maxDeletedID = id }
        if count == 0 { firstID = .zero } else if id == firstID { refreshFirstID() }
        return true
    }

    enum TrimStrategy {
        case maxLength(Int)
        case minID(StreamID)
    }

    /// Redis's streamTrim: removes entries from the front while the strategy asks; with `approximate`, only
    /// whole nodes; `limit` (> 0) caps the entries removed by whole nodes. Returns the entries removed.
    func trim(_ strategy: TrimStrategy, approximate: Bool, limit: Int) -> Int {
        var deleted = 0
        var removeNodes = 0
        var i = 0
        while i < nodes.count {
            if case .maxLength(let maxlen) = strategy, count <= maxlen { break }
            let node = nodes[i]
            let entries = node.liveCount
            if limit > 0 && deleted + entries > limit { break }
            let removeNode: Bool
            switch strategy {
            case .maxLength(let maxlen): removeNode = count - entries >= maxlen
            case .minID(let id): removeNode = node.lastID < id
            }
            if removeNode {
                count -= entries
                deleted += entries
                removeNodes += 1
                i += 1
                continue
            }
            if approximate { break }
            var marks: [StreamNode.Cursor] = []
            node.forEachEntry { c in
                switch strategy {
                case .maxLength(let maxlen): if count - marks.count <= maxlen { return false }
                case .minID(let id): if c.id >= id { return false }
                }
                if !c.deleted { marks.append(c) }
                return true
            }
            for c in marks { node.markDeleted(c) }
            count -= marks.count
            deleted += marks.count
            // A node left with tombstones only (MINID up to a deleted last entry) stays, as in Redis.
            break
        }
        if removeNodes > 0 { nodes.removeFirst(removeNodes) }
        refreshFirstID()
        return deleted
    }

    // MARK: Per-type operations

    var encodingName: StaticString { "stream" }

    func duplicate() -> StreamValue {
        let copy = StreamValue()
        copy.nodes = nodes.map { $0.duplicate() }
        copy.count = count
        copy.lastID = lastID
        copy.firstID = firstID
        copy.maxDeletedID = maxDeletedID
        copy.entriesAdded = entriesAdded
        copy.groups = groups.map { $0.duplicate() }
        return copy
    }

    /// Allocations to free: the nodes, and the groups' pending entries and consumers.
    var freeEffort: Int {
        var effort = nodes.count + 1
        for g in groups { effort += 1 + g.pending.count + g.consumers.count }
        return effort
    }

    /// As Redis's objectComputeSize for streams: the nodes measured over the first `samples` and scaled,
    /// the groups' PELs and consumers likewise.
    func memoryUsage(samples: Int) -> Int {
        var bytes = allocationSize(of: self) + nodes.capacity * 8
        let sampled = Swift.min(samples, nodes.count)
        if sampled > 0 {
            var nodeBytes = 0
            for i in 0..<sampled { nodeBytes += nodes[i].allocatedBytes }
            bytes += nodeBytes / sampled * nodes.count
        }
        let groupSamples = Swift.min(samples, groups.count)
        for i in 0..<groupSamples { bytes += groups[i].memoryUsage }
        if groupSamples > 0 && groupSamples < groups.count {
            bytes += (bytes / groupSamples) * (groups.count - groupSamples) / 8
        }
        return bytes
    }

    func checkInvariants() {
        var live = 0
        var prev: StreamID?
        for node in nodes {
            node.checkInvariants()
            if let p = prev { precondition(p < node.masterID, "stream: nodes out of order") }
            prev = node.lastID
            live += node.liveCount
        }
        precondition(live == count, "stream: count \(count) vs \(live) live entries")
        if let last = nodes.last { precondition(last.lastID <= lastID, "stream: an entry past the last id") }
        precondition((edgeEntry(last: false)?.1.id ?? .zero) == firstID, "stream: first id")
        for i in groups.indices {
            if i > 0 { precondition(groups[i - 1].name < groups[i].name, "stream: groups out of order") }
            groups[i].checkInvariants()
        }
    }
}
