import Glibc

// The one RDB value codec: SAVE, BGSAVE, DUMP/RESTORE, the AOF's RDB preamble and full syncs all encode
// and decode values here (Redis's rdbSaveObject / rdbLoadObject).
//
// WRITING picks the RDB type redis-server 7.0 writes for the encoding OBJECT ENCODING reports, with the
// same bytes where the encoding fixes them:
//   string                 RDB_TYPE_STRING      (integer, LZF or plain string form, as rdbSaveRawString)
//   list (quicklist)       RDB_TYPE_LIST_QUICKLIST_2: nodes of listpacks, cut where redis-server's
//                          quicklist would cut a list built by RPUSH (so DUMP of such a list is Redis's)
//   set intset             RDB_TYPE_SET_INTSET  (Redis's intset blob)
//   set hashtable          RDB_TYPE_SET         (members; Redis's order is its dict's, ours insertion)
//   zset listpack          RDB_TYPE_ZSET_LISTPACK (member, score-as-text pairs, ascending)
//   zset skiplist          RDB_TYPE_ZSET_2      (from the highest element down, binary scores)
//   hash listpack          RDB_TYPE_HASH_LISTPACK (field, value pairs in insertion order)
//   hash hashtable         RDB_TYPE_HASH
//   stream                 RDB_TYPE_STREAM_LISTPACKS_2 (RDBStream.swift)
// READING accepts every type redis-server 7.0 and 7.2 write except modules (streams: types 15, 19, 21): the old linked-list, ziplist, zipmap and quicklist v1 forms are converted, and
// each value gets the encoding redis-server would give it after loading (the configured listpack and
// intset limits), so OBJECT ENCODING agrees after a restart.

/// The encoding limits a loaded value is held to (the configuration at load time).
struct RDBLoadLimits {
    var hash: HashValue.Limits
    var zsetEntries: Int
    var zsetValue: Int
    var setIntsetEntries: Int
    var listFill: Int

    init(_ config: Config) {
        hash = HashValue.Limits(entries: config.hashMaxListpackEntries, value: config.hashMaxListpackValue)
        zsetEntries = config.zsetMaxListpackEntries
        zsetValue = config.zsetMaxListpackValue
        setIntsetEntries = config.setMaxIntsetEntries
        listFill = config.listMaxListpackSize
    }
}

// MARK: - Writing

extension RDBOutput {
    /// The value's RDB type byte followed by its payload (a DUMP payload's start).
    func value(_ value: Value) {
        byte(valueType(value))
        valuePayload(value)
    }

    /// The RDB type redis-server 7.0 writes for the value in its current encoding.
    func valueType(_ value: Value) -> UInt8 {
        switch value {
        case .string: return RDB.typeString
        case .list: return RDB.typeListQuicklist2
        case .set(let set): return set.isIntset ? RDB.typeSetIntset : RDB.typeSet
        case .inlineIntset: return RDB.typeSetIntset
        case .sortedSet(let zset): return zset.skiplistEncoded ? RDB.typeZset2 : RDB.typeZsetListpack
        case .hash(let hash): return hash.isPacked ? RDB.typeHashListpack : RDB.typeHash
        case .stream: return RDB.typeStreamListpacks2
        }
    }

    /// The value in the form `valueType` names.
    func valuePayload(_ value: Value) {
        switch value {
        case .string(let s):
            string(s)
        case .list(let list):
            quicklist(list)
        case .set(let set):
            if let blob = set.intsetBlob {
                blob.withUnsafeBytes { string($0) }
            } else {
                length(set.count)
                set.forEach { member in member.withUnsafeBytes { string($0) } }
            }
        case .inlineIntset(let inline):
            inline.withRedisBlob { string($0) }
        case .sortedSet(let zset):
            if zset.skiplistEncoded {
                length(zset.count)
                zset.forEach(inRanks: 0..<zset.count, reverse: true) { member, score in
                    string(member)
                    binaryDouble(score)
                }
            } else {
                var writer = listpackWriter()
                zset.forEach { member, score in
                    member.withUnsafeBytes { writer.append($0) }
                    // Redis stores d2string's text, which lpAppend keeps as an integer when it is one. d2string
                    // prints an integral score within LLONG_MAX / 2 (double2ll: 2^62 as a double) with ll2string,
                    // -0 as "-0", anything else with %.17g (writeDouble), which never reads as an integer.
                    if score.magnitude <= 0x1p62 && score == score.rounded(.towardZero) && !(score == 0 && score.sign == .minus) {
                        writer.append(integer: Int64(score))
                        return
                    }
                    var digits = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
                    withUnsafeMutableBytes(of: &digits) { buf in
                        let n = writeDouble(score, to: buf.baseAddress!)
                        writer.append(UnsafeRawBufferPointer(rebasing: buf[0..<n]))
                    }
                }
                writer.withFinishedBytes { string($0) }
            }
        case .hash(let hash):
            if hash.isPacked {
                var writer = listpackWriter()
                hash.forEach { field, value in
                    writer.append(field)
                    writer.append(value)
                }
                writer.withFinishedBytes { string($0) }
            } else {
                length(hash.count)
                hash.forEach { field, value in
                    string(field)
                    string(value)
                }
            }
        case .stream(let s):
            stream(s)
        }
    }

    /// A list as RDB_TYPE_LIST_QUICKLIST_2: the node count, then each node's container and listpack.
    private func quicklist(_ list: ListValue) {
        // The nodes are kept in a scratch buffer until their count is known (no allocation per list).
        let blobs = nodeScratch
        blobs.clear(shrinkTo: 1 << 20)
        var nodes = nodeSpans
        nodeSpans = []  // (so that `nodes` is unique and keeps its capacity)
        nodes.removeAll(keepingCapacity: true)
        forEachQuicklistNode(list, writer: listpackWriter()) { blob, plain, _ in
            nodes.append((blobs.writeIndex, blob.count, plain))
            blobs.append(blob)
        }
        length(nodes.count)
        for node in nodes {
            length(node.plain ? RDB.containerPlain : RDB.containerPacked)
            string(UnsafeRawBufferPointer(start: blobs.base + node.offset, count: node.count))
        }
        nodeSpans = nodes
    }
}

/// A node of a list as redis-server 7.0's quicklist would hold it.
struct QuicklistNodeImage {
    /// The listpack, or a PLAIN node's element.
    var blob: [UInt8]
    var plain: Bool
    var count: Int
    var bytes: Int { blob.count }
}

/// The list's elements cut into nodes as redis-server 7.0's quicklist cuts them when they are pushed at
/// the tail one by one (`QuicklistCut`), whatever our own nodes look like: the RDB form (so DUMP of such a
/// list is Redis's) and DEBUG OBJECT's figures.
func quicklistNodes(_ list: ListValue) -> [QuicklistNodeImage] {
    var nodes: [QuicklistNodeImage] = []
    forEachQuicklistNode(list, writer: ListpackWriter()) { blob, plain, count in
        nodes.append(QuicklistNodeImage(blob: Array(blob), plain: plain, count: count))
    }
    return nodes
}

/// The same nodes one at a time: each node's listpack (or a PLAIN node's element), valid during the call,
/// whether it is PLAIN, and its element count. `writer` is reset and used for every node.
func forEachQuicklistNode(_ list: ListValue, writer: ListpackWriter,
                          _ visit: (_ blob: UnsafeRawBufferPointer, _ plain: Bool, _ count: Int) -> Void) {
    var writer = writer
    writer.reset()
    var cut = QuicklistCut(fill: Int(list.fill))
    // (The inlined walk: through the closure of `forEach(_:)` every append retained the writer's buffer.)
    list.forEach(from: 0, length: list.count) { entry in
        let size = entry.isInteger ? decimalLength(entry.integer) : entry.dataLength
        if cut.startsNewNode(elementSize: size) {
            writer.withFinishedBytes { visit($0, false, cut.count) }
            writer.reset()
            cut.reset()
        }
        if QuicklistCut.isLarge(size) {
            // Redis keeps an element of packed_threshold bytes or more alone in a PLAIN node.
            entry.byteString.withUnsafeBytes { visit($0, true, 1) }
            return true
        }
        if entry.isInteger { writer.append(integer: entry.integer) } else { entry.withData { writer.append($0) } }
        cut.added(listpackBytes: writer.byteCount)
        return true
    }
    if cut.count > 0 { writer.withFinishedBytes { visit($0, false, cut.count) } }
}

/// Where redis-server 7.0's quicklist starts a new node when elements are pushed at the tail
/// (_quicklistNodeAllowInsert and quicklistNodeExceedsLimit as of 7.0.15): the node's listpack size plus the
/// element's length plus a flat SIZE_ESTIMATE_OVERHEAD of 8 bytes is the estimate. A negative fill limits
/// only that estimate (4, 8, 16, 32 or 64 KB; below -5 as -5); a positive fill limits the estimate to 8 KB
/// and the node to `fill` elements (0 counts as 1).
///
/// Releases before 7.0.15 estimated the overhead from the element's length (1 or 5 bytes of back-length
/// plus 1, 2 or 5 of encoding, the old ziplist figures) and cut at other places: DUMP of a list of a few
/// thousand mixed elements differs from 7.0.15's by where the first node ends. The oracle the integration
/// tests run (apt's 7.0.15) is the one followed here.
struct QuicklistCut {
    let fill: Int
    private(set) var count = 0
    private var bytes = 0

    /// Redis's packed_threshold (1 GB by default): larger elements get a PLAIN node of their own.
    static var packedThreshold = 1 << 30
    private static let optimizationLevels = [4096, 8192, 16384, 32768, 65536]
    private static let sizeSafetyLimit = 8192
    private static let sizeEstimateOverhead = 8

    init(fill: Int) { self.fill = fill }

    static func isLarge(_ size: Int) -> Bool { size >= packedThreshold }

    mutating func reset() {
        count = 0
        bytes = 0
    }

    mutating func added(listpackBytes: Int) {
        count += 1
        bytes = listpackBytes
    }

    /// Whether an element of `size` bytes (an integer counts its decimal digits) goes to a new node.
    func startsNewNode(elementSize size: Int) -> Bool {
        if count == 0 { return false }
        if QuicklistCut.isLarge(size) { return true }
        let newSize = bytes + size + QuicklistCut.sizeEstimateOverhead
        if fill < 0 {
            let level = min(-fill - 1, QuicklistCut.optimizationLevels.count - 1)
            return newSize > QuicklistCut.optimizationLevels[level]
        }
        if newSize > QuicklistCut.sizeSafetyLimit { return true }
        return count + 1 > max(fill, 1)
    }
}

/// Digits of `v` in decimal, with its sign.
func decimalLength(_ v: Int64) -> Int {
    var digits = (UInt64(0), UInt64(0), UInt64(0))
    return withUnsafeMutableBytes(of: &digits) { writeInt64(v, to: $0.baseAddress!) }
}

// MARK: - Reading

extension RDBInput {
    /// Reads a value of RDB type `type` (rdbLoadObject). Throws on anything malformed; an empty collection
    /// comes back as nil (Redis skips such keys when loading and RESTORE refuses them).
    mutating func value(type: UInt8, limits: RDBLoadLimits) throws -> Value? {
        switch type {
        case RDB.typeString:
            return .string(try string())
        case RDB.typeList:
            let n = try count()
            let list = ListValue.make(fill: limits.listFill)
            for _ in 0..<n { try withString { list.append($0) } }
            return n == 0 ? nil : .list(list)
        case RDB.typeListZiplist:
            let list = ListValue.make(fill: limits.listFill)
            try withString { blob in try Ziplist.forEach(blob) { list.appendElement($0) } }
            return list.isEmpty ? nil : .list(list)
        case RDB.typeListQuicklist, RDB.typeListQuicklist2:
            let nodes = try count()
            let list = ListValue.make(fill: limits.listFill)
            let scratch = self.scratch
            for _ in 0..<nodes {
                var container = RDB.containerPacked
                if type == RDB.typeListQuicklist2 {
                    container = try length()
                    guard container == RDB.containerPlain || container == RDB.containerPacked else {
                        throw RDBError("Quicklist integrity check failed.")
                    }
                }
                try withString { blob in
                    if container == RDB.containerPlain {
                        list.append(blob)
                        return
                    }
                    // Redis refuses empty nodes (quicklist integrity).
                    guard try list.appendNode(packed: blob, ziplist: type == RDB.typeListQuicklist, scratch: scratch) > 0 else {
                        throw RDBError("Quicklist integrity check failed.")
                    }
                }
            }
            return list.isEmpty ? nil : .list(list)
        case RDB.typeSet:
            let n = try count()
            guard n > 0 else { return nil }
            // The count only sizes the table up to a point: a lying count must not reserve gigabytes.
            let set = n > limits.setIntsetEntries ? SetValue(hashtableCapacity: min(n, 1 << 16)) : SetValue()
            var first = true
            for _ in 0..<n {
                try withString { member in
                    if first && parseInt64(member) == nil && set.isIntset { set.convertToHashtable(room: min(n, 1 << 16)) }
                    first = false
                    guard set.add(member, maxIntsetEntries: limits.setIntsetEntries) else {
                        throw RDBError("Duplicate set members detected")
                    }
                }
            }
            return .set(compacting: set)
        case RDB.typeSetIntset:
            let set = try withString { blob in
                do { return SetValue(intset: try IntSetBlob.intset(blob)) } catch { throw RDBError("Intset integrity check failed.") }
            }
            if set.isEmpty { return nil }
            if set.count > limits.setIntsetEntries { set.convertToHashtable() }
            return .set(compacting: set)
        case RDB.typeSetListpack:
            let set = SetValue()
            var members: [ByteString] = []
            try withString { blob in try Listpack.forEach(blob) { members.append($0.byteString) } }
            if members.isEmpty { return nil }
            if members.contains(where: { m in m.withUnsafeBytes { parseInt64($0) == nil } }) || members.count > limits.setIntsetEntries {
                set.convertToHashtable(room: members.count)
            }
            for m in members {
                guard m.withUnsafeBytes({ set.add($0, maxIntsetEntries: limits.setIntsetEntries) }) else {
                    throw RDBError("Duplicate set members detected")
                }
            }
            return .set(compacting: set)
        case RDB.typeZset, RDB.typeZset2:
            let n = try count()
            guard n > 0 else { return nil }
            var elements: [SortedSet.Element] = []
            elements.reserveCapacity(min(n, 1 << 16))
            var longest = 0
            for _ in 0..<n {
                let member = try string()
                let score = type == RDB.typeZset2 ? try binaryDouble() : try stringDouble()
                guard !score.isNaN else { throw RDBError("Zset with NAN score detected") }
                elements.append((member, score))
                longest = max(longest, member.count)
            }
            // Redis writes a skiplist from its highest element down.
            if type == RDB.typeZset2 { elements.reverse() }
            let skiplist = !(elements.count <= limits.zsetEntries && longest <= limits.zsetValue)
            return .sortedSet(try sortedSet(elements, skiplist: skiplist))
        case RDB.typeZsetZiplist, RDB.typeZsetListpack:
            // The element waiting for its score, in a box without exclusivity checks: a captured `var` got one
            // dynamic check per element (4% of loading a dataset of small hashes and sorted sets).
            let pending = scratch?.pending.reset() ?? PendingElement()
            let zset: SortedSet? = try withString { blob in
                func walk(_ visit: (ListpackElement) throws -> Void) throws {
                    if type == RDB.typeZsetZiplist { try Ziplist.forEach(blob, visit) } else { try Listpack.forEach(blob, visit) }
                }
                // Every file redis-server writes holds the pairs in ascending order: they go straight into a
                // packed set while they stay in order and within the packed form's limit.
                let loader = SortedSet.PackedLoader(capacity: blob.count)
                pending.inOrder = true
                try walk { element in
                    guard let member = pending.element else { pending.element = element; return }
                    pending.element = nil
                    let score = try zsetScore(element)
                    guard pending.inOrder else { return }
                    if !member.withBytes({ loader.append($0, score) }) || loader.count > limits.zsetEntries {
                        pending.inOrder = false
                    }
                }
                if pending.element != nil { throw RDBError("Zset listpack integrity check failed.") }
                if pending.inOrder {
                    if loader.count == 0 { return nil }
                    guard let set = loader.finish() else { throw RDBError("Duplicate zset fields detected") }
                    return set
                }
                // Out of order, or more pairs than a packed set holds: elements first, then a set of them.
                try walk { element in
                    if let m = pending.bytes {
                        pending.elements.append((m, try zsetScore(element)))
                        pending.bytes = nil
                    } else {
                        pending.bytes = element.byteString
                    }
                }
                return try sortedSet(pending.elements, skiplist: pending.elements.count > limits.zsetEntries)
            }
            return zset.map { .sortedSet($0) }
        case RDB.typeHash:
            let n = try count(minimumBytes: 2)
            guard n > 0 else { return nil }
            let hash = HashValue()
            if n > limits.hash.entries { hash.convertToTable() }
            for _ in 0..<n {
                let field = try string()
                let value = try string()
                guard hash.set(field, value, limits: limits.hash) else { throw RDBError("Duplicate hash fields detected") }
            }
            return .hash(hash)
        case RDB.typeHashZipmap, RDB.typeHashZiplist, RDB.typeHashListpack:
            let hash = HashValue()
            let pending = scratch?.pending.reset() ?? PendingElement()  // the field waiting for its value (see the sorted set's)
            try withString { blob in
                func add(_ field: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws {
                    if hash.isPacked {
                        // Only a field whose fingerprint repeats is looked for in the pairs (a walk each).
                        let print = fingerprint(field)
                        if pending.fingerprints.contains(print) && hash.contains(field) {
                            throw RDBError("Duplicate hash fields detected")
                        }
                        pending.fingerprints.append(print)
                    }
                    guard hash.setNew(field, value, limits: limits.hash) else { throw RDBError("Duplicate hash fields detected") }
                }
                if type == RDB.typeHashZipmap {
                    try Zipmap.forEachPair(blob, add)
                    return
                }
                if type == RDB.typeHashListpack { hash.reserve(encodedBytes: Listpack.stringBytesEstimate(blob)) }
                func visit(_ element: ListpackElement) throws {
                    if let f = pending.element {
                        try f.withBytes { f in try element.withBytes { try add(f, $0) } }
                        pending.element = nil
                    } else {
                        pending.element = element
                    }
                }
                if type == RDB.typeHashZiplist { try Ziplist.forEach(blob, visit) } else { try Listpack.forEach(blob, visit) }
                if pending.element != nil { throw RDBError("Hash listpack integrity check failed.") }
            }
            hash.shrinkToFit()
            return hash.isEmpty ? nil : .hash(hash)
        case RDB.typeStreamListpacks, RDB.typeStreamListpacks2, RDB.typeStreamListpacks3:
            return try stream(type: type)  // RDBStream.swift
        case RDB.typeModule, RDB.typeModule2:
            throw RDBError("The RDB file contains a module value (type \(type)); Needletail does not support modules")
        default:
            throw RDBError("Unknown RDB encoding type \(type)")
        }
    }
}

/// Buffers a thread decoding many values reuses from one to the next (`RDBInput.scratch`): each value's
/// temporaries (an LZF string's bytes, a list node's codes and data, the pair walk's state) were a malloc and a
/// free. Buffers above 1 MB are not kept.
final class DecodeScratch {
    enum Use: Int { case lzf, nodeCodes, nodeData }
    private var buffers: [(base: UnsafeMutableRawPointer?, capacity: Int)] = [(nil, 0), (nil, 0), (nil, 0)]
    fileprivate let pending = PendingElement()
    static let keptBytes = 1 << 20

    deinit { for b in buffers { free(b.base) } }

    /// A buffer of at least `bytes` for `use`, valid until the next call for the same use; nil when it would
    /// be bigger than what is kept (the caller allocates its own) or malloc refuses.
    func buffer(_ use: Use, bytes: Int) -> UnsafeMutableRawPointer? {
        guard bytes <= DecodeScratch.keptBytes else { return nil }
        if buffers[use.rawValue].capacity < bytes {
            let capacity = max(bytes, 4096)
            guard let base = realloc(buffers[use.rawValue].base, capacity) else { return nil }
            buffers[use.rawValue] = (base, capacity)
        }
        return buffers[use.rawValue].base
    }
}

/// The first of a pair of listpack elements (a member before its score, a field before its value), and the
/// sorted set's elements read so far.
private final class PendingElement {
    @exclusivity(unchecked) var bytes: ByteString?
    /// A sorted set's pairs have come in ascending order so far (`SortedSet.PackedLoader`).
    @exclusivity(unchecked) var inOrder = true
    /// A field, pointing into the blob being walked.
    @exclusivity(unchecked) var element: ListpackElement?
    @exclusivity(unchecked) var elements: [SortedSet.Element] = []
    /// The hash's fields so far, as `fingerprint`s.
    @exclusivity(unchecked) var fingerprints: [UInt64] = []

    /// Empties it for the next value (keeping the arrays' capacity).
    func reset() -> PendingElement {
        bytes = nil
        inOrder = true
        element = nil
        elements.removeAll(keepingCapacity: true)
        fingerprints.removeAll(keepingCapacity: true)
        return self
    }
}

/// A cheap summary of a field for finding repeats: equal bytes give equal fingerprints (different bytes
/// rarely do, and then cost one exact look).
@inline(__always) private func fingerprint(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
    let n = bytes.count
    var head: UInt64 = 0, tail: UInt64 = 0
    if n >= 8 {
        head = bytes.loadUnaligned(as: UInt64.self)
        tail = bytes.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self)
    } else if n > 0 {
        withUnsafeMutableBytes(of: &head) { $0.copyMemory(from: bytes) }
    }
    return head ^ (tail << 29 | tail >> 35) ^ (UInt64(n) &* 0x9E37_79B9_7F4A_7C15)
}

/// The elements of a node being packed (see `ListValue.appendNode(packed:ziplist:)`), in a box for the walk's
/// closure.
private final class PackedRun {
    @exclusivity(unchecked) var count = 0
    @exclusivity(unchecked) var uniform: UInt8 = 0
    @exclusivity(unchecked) var codeBytes = 0
    @exclusivity(unchecked) var dataBytes = 0
}

/// A sorted set of `elements` as an RDB lists them, in the encoding `skiplist` says: built in one pass when
/// they are in ascending order (as every file Redis writes has them), otherwise added one at a time, which
/// finds a repeated member.
private func sortedSet(_ elements: [SortedSet.Element], skiplist: Bool) throws -> SortedSet {
    let zset = SortedSet()
    zset.skiplistEncoded = skiplist
    if zset.fillAscending(elements) { return zset }
    for e in elements {
        guard zset.set(member: e.member, score: e.score).added else { throw RDBError("Duplicate zset fields detected") }
    }
    return zset
}

/// A score from a sorted set's listpack: an integer entry, or text as Redis writes it (never NaN).
private func zsetScore(_ element: ListpackElement) throws -> Double {
    switch element {
    case .integer(let v): return Double(v)
    case .bytes(let text):
        guard let d = parseDouble(text), !d.isNaN else { throw RDBError("Zset listpack integrity check failed.") }
        return d
    }
}

extension ListpackElement {
    /// Calls `body` with the element's bytes (an integer in decimal, formatted on the stack).
    @inline(__always) func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        switch self {
        case .bytes(let b): return try body(b)
        case .integer(let v):
            var digits = (UInt64(0), UInt64(0), UInt64(0))
            return try withUnsafeMutableBytes(of: &digits) { raw in
                try body(UnsafeRawBufferPointer(rebasing: raw[0..<writeInt64(v, to: raw.baseAddress!)]))
            }
        }
    }

    /// The element's bytes (an integer in decimal, as Redis hands it out).
    var byteString: ByteString {
        switch self {
        case .integer(let v): return formatInt64(v)
        case .bytes(let b): return ByteString(b)
        }
    }
}

extension ListValue {
    /// Appends the elements of a quicklist node (a listpack, or a ziplist), packed into one node of ours in
    /// one go when they make a node of their own (`appendNode`), else one by one. Returns how many.
    func appendNode(packed blob: UnsafeRawBufferPointer, ziplist: Bool, scratch: DecodeScratch? = nil) throws -> Int {
        // Every entry takes at least two bytes of the blob and at least its code and data here, so the codes
        // fit in the blob's size and so do the data.
        let room = blob.count + 8
        let reusedCodes = scratch?.buffer(.nodeCodes, bytes: room), reusedData = scratch?.buffer(.nodeData, bytes: room)
        let codes = reusedCodes ?? UnsafeMutableRawPointer.allocate(byteCount: room, alignment: 8)
        let data = reusedData ?? UnsafeMutableRawPointer.allocate(byteCount: room, alignment: 8)
        defer {
            if reusedCodes == nil { codes.deallocate() }
            if reusedData == nil { data.deallocate() }
        }
        let node = PackedRun()
        func visit(_ element: ListpackElement) {
            let e: PackedElement
            switch element {
            case .integer(let v): e = PackedElement(integer: v)
            case .bytes(let b): e = PackedElement(b)
            }
            if node.count == 0 { node.uniform = e.code }
            if e.code != node.uniform || e.codeLength != 1 { node.uniform = ListNode.mixed }
            e.writeCode(to: codes + node.codeBytes)
            e.writeData(to: data + node.dataBytes)
            node.codeBytes += e.codeLength
            node.dataBytes += e.dataLength
            node.count += 1
        }
        let count = ziplist ? try Ziplist.forEach(blob, visit) : try Listpack.forEach(blob, visit)
        guard count > 0 else { return 0 }
        if !appendNode(count: count, uniform: node.uniform, codes: UnsafeRawBufferPointer(start: codes, count: node.codeBytes),
                       data: UnsafeRawBufferPointer(start: data, count: node.dataBytes),
                       logical: node.codeBytes + node.dataBytes) {
            if ziplist { try Ziplist.forEach(blob) { appendElement($0) } } else { try Listpack.forEach(blob) { appendElement($0) } }
        }
        return count
    }

    /// Appends an element decoded from a listpack or ziplist.
    func appendElement(_ element: ListpackElement) {
        switch element {
        case .bytes(let b): append(b)
        case .integer(let v): append(formatInt64(v))
        }
    }
}
