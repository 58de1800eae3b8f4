import CSystem
import Glibc

/// The list type's storage (Redis's quicklist): a deque of *nodes*, each a run of consecutive elements packed
/// into one malloc'd block. Redis 7.0 reports "quicklist" for every list, and so do we.
///
/// ## An element
/// Each element is a *code* and its *data*. Redis's listpack keeps each entry's length twice (in front, to
/// walk forward, and behind, to walk back); here a node keeps its codes in one region and its data in
/// another, so one length is enough to walk either way, and a node whose elements all have the same code
/// (`uniform`) stores no codes at all:
///
///     code 0x00...0xBF   a string of that many bytes (0 to 191)
///     code 0xC1...0xC8   an integer in 1 to 8 bytes (little-endian two's complement, the fewest that hold it)
///     F0 len16 F0        a string of 192 to 65535 bytes (the trailing F0 lets a backward walk read it)
///     F1 len32 F1        a longer string
///
/// A string is stored as an integer exactly when Redis's string2ll reads it (`parseInt64`): then formatting
/// the integer gives the same bytes back, so replies, and equality with an argument, are byte-exact. (A
/// stored string is never such an integer; `checkInvariants` verifies it.) redis-benchmark's "xxx" costs 3
/// bytes (in a uniform node) and "1234567" 3 bytes, where a listpack spends 5 on each.
///
/// ## A node
/// A block holds `[front slack][codes][gap][data][back slack]`: a push at the head writes its code before
/// `codeStart` and its data before `dataStart`, a push at the tail after `codeEnd` and `dataEnd`, so pushes
/// and pops at both ends are O(1), amortised over the rare relayout that makes room. The node of a
/// one-node list grows by an eighth while under 1 KB (small lists keep little slack), by half beyond; the
/// end nodes of a longer list start at an eighth of the bound and grow by half (few reallocs per node); both are capped at the bound, and a
/// node that stops being an end node is sealed to its exact size. Element `i` of a uniform node is at
/// `dataStart + i * width`; in other nodes a walk over the 1-byte codes finds it, from the nearer end.
///
/// Measured (RSS above an empty server, against redis-server 7.0.15): one list of 10,000,000 "xxx" 29.6 MB
/// (redis 50.3 MB, 0.59x), of the integers 0...9,999,999 31.2 MB (0.60x), of 10-byte strings 98.5 MB
/// (0.82x: the strings alone are 100 MB); 100,000 lists of 50 "xxx" 33.4 MB (0.69x), of 50 10-byte
/// strings 72.4 MB (0.90x).
///
/// ## Bounds (`list-max-listpack-size`, read once when the list is created, as Redis's quicklist keeps its
/// `fill`)
/// A node's *logical size* is its data plus one code per element (whether or not the node stores them) plus
/// the extra bytes of long-string codes. Negative fill bounds it in bytes: -1 4 KB, -2 8 KB (default), -3
/// 16 KB, -4 32 KB, -5 (and below) 64 KB; positive fill bounds the element count, with an 8 KB safety limit
/// on the size. A node always takes at least one element, however large. Beyond that:
/// - no node is empty;
/// - no two adjacent nodes would fit together in one node (so nodes are at least half full on average,
///   whatever LREM or LINSERT did): pops and deletions merge a node into its neighbour when they would fit,
///   and edits in the middle re-pack the nodes they touch greedily.
/// `list-compress-depth` is accepted and kept by CONFIG, but nodes are never compressed.
///
/// The node directory is a ring buffer of `ListNode` values (power-of-two capacity), so adding or removing
/// a node at either end is O(1). Finding element `i` walks the directory's counts from the nearer end.
final class ListValue {
    /// Elements in the list.
    @exclusivity(unchecked) private(set) var count = 0
    /// `list-max-listpack-size` when the list was made.
    let fill: Int32
    @exclusivity(unchecked) var ring: UnsafeMutablePointer<ListNode>?
    @exclusivity(unchecked) var ringMask: Int32 = 0
    @exclusivity(unchecked) var ringHead: Int32 = 0
    @exclusivity(unchecked) var nodeCount: Int32 = 0

    init(fill: Int = -2) {
        self.fill = Int32(clamping: fill)
    }

    deinit {
        for i in 0..<Int(nodeCount) { free(node(i).pointee.base) }
        ring?.deallocate()
    }

    var isEmpty: Bool { count == 0 }
    var encodingName: StaticString { "quicklist" }
    /// Redis's lazyfreeGetFreeEffort for a quicklist: its node count.
    var freeEffort: Int { Int(nodeCount) }

    // MARK: - Node bounds

    /// The byte limit of a node: Redis's optimization_level for negative fill, SIZE_SAFETY_LIMIT otherwise.
    var sizeLimit: Int {
        guard fill < 0 else { return 8192 }
        return 4096 << min(Int(-fill) - 1, 4)
    }

    /// Whether one node may hold `count` elements of `logical` bytes.
    @inline(__always) func fits(count: Int, logical: Int) -> Bool {
        if count <= 1 { return true }
        if fill < 0 { return logical <= sizeLimit }
        return logical <= 8192 && count <= Int(fill)
    }

    // MARK: - The node ring

    @inline(__always) func node(_ i: Int) -> UnsafeMutablePointer<ListNode> {
        ring! + ((Int(ringHead) + i) & Int(ringMask))
    }

    var nodes: Int { Int(nodeCount) }

    private func growRing() {
        let oldCapacity = ring == nil ? 0 : Int(ringMask) + 1
        let newCapacity = max(1, oldCapacity * 2)
        let fresh = UnsafeMutablePointer<ListNode>.allocate(capacity: newCapacity)
        for i in 0..<Int(nodeCount) { (fresh + i).initialize(to: node(i).pointee) }
        ring?.deallocate()
        ring = fresh
        ringMask = Int32(newCapacity - 1)
        ringHead = 0
    }

    /// Inserts `n` as node `i`, shifting the shorter side of the ring.
    func insertNode(_ n: ListNode, at i: Int) {
        if ring == nil || Int(nodeCount) == Int(ringMask) + 1 { growRing() }
        let total = Int(nodeCount)
        if i < total - i {
            ringHead = (ringHead - 1) & ringMask
            for j in 0..<i { node(j).pointee = node(j + 1).pointee }
        } else {
            var j = total
            while j > i { node(j).pointee = node(j - 1).pointee; j -= 1 }
        }
        nodeCount += 1
        node(i).pointee = n
    }

    /// Removes node `i` from the ring (its block is the caller's to free or keep).
    func removeNode(at i: Int) {
        let total = Int(nodeCount)
        if i < total - 1 - i {
            var j = i
            while j > 0 { node(j).pointee = node(j - 1).pointee; j -= 1 }
            ringHead = (ringHead + 1) & ringMask
        } else {
            for j in i..<(total - 1) { node(j).pointee = node(j + 1).pointee }
        }
        nodeCount -= 1
    }

    /// Frees node `i` and takes it out of the ring.
    func dropNode(at i: Int) {
        free(node(i).pointee.base)
        removeNode(at: i)
    }

    /// Adjusts the element count after an edit made node by node (Storage/ListValue+Edit.swift).
    func adjustCount(by delta: Int) { count += delta }

    // MARK: - Pushes

    /// Adds an element at the tail (RPUSH). O(1) amortised.
    func append(_ bytes: UnsafeRawBufferPointer) {
        push(PackedElement(bytes), atHead: false)
    }

    /// Adds an element at the head (LPUSH). O(1) amortised.
    func prepend(_ bytes: UnsafeRawBufferPointer) {
        push(PackedElement(bytes), atHead: true)
    }

    func append(_ bytes: ByteString) { bytes.withUnsafeBytes { append($0) } }
    func prepend(_ bytes: ByteString) { bytes.withUnsafeBytes { prepend($0) } }

    @inline(__always) func push(_ e: PackedElement, atHead: Bool) {
        count += 1
        if nodeCount > 0 {
            let end = node(atHead ? 0 : Int(nodeCount) - 1)
            if fits(count: Int(end.pointee.count) + 1, logical: end.pointee.logicalSize + e.size) {
                // A list of several nodes is a big one: its end nodes grow fast (they will fill up); a list of
                // one node may stay small, and its node grows by little steps.
                let eager = nodeCount > 1
                if atHead {
                    end.pointee.prepend(e, bound: sizeLimit, eager: eager)
                } else {
                    end.pointee.append(e, bound: sizeLimit, eager: eager)
                }
                return
            }
            // The end node is full: it becomes an inner node (unless it is also the other end) and is sealed.
            end.pointee.seal()
        }
        // A node after a full one starts with an eighth of the bound as room; the first one with little.
        let room = nodeCount > 0 ? sizeLimit / 8 : 16 + e.size / 2
        insertNode(ListNode(e, atHead: atHead, room: room), at: atHead ? 0 : Int(nodeCount))
    }

    // MARK: - Pops

    /// Removes the first element (`fromHead`) or the last one, calling `body` with it first (the entry's
    /// bytes are valid only inside `body`). Returns nil when the list is empty. O(1) amortised.
    @inline(__always) func pop<R>(fromHead: Bool, _ body: (ListEntry) -> R) -> R? {
        guard nodeCount > 0 else { return nil }
        let i = fromHead ? 0 : Int(nodeCount) - 1
        let n = node(i)
        let result: R
        if fromHead {
            var cursor = NodeCursor(n.pointee, fromStart: true)
            result = body(cursor.next())
            n.pointee.dropFirst(upTo: cursor)
        } else {
            var cursor = NodeCursor(n.pointee, fromStart: false)
            result = body(cursor.previous())
            n.pointee.dropLast(from: cursor)
        }
        count -= 1
        endShrank(atHead: fromHead)
        return result
    }

    /// After elements left an end node: drops it when empty, gives back a block mostly unused, and merges it
    /// with its neighbour when they fit in one node.
    func endShrank(atHead: Bool) {
        guard nodeCount > 0 else { return }
        let i = atHead ? 0 : Int(nodeCount) - 1
        let n = node(i)
        if n.pointee.count == 0 {
            dropNode(at: i)
            return
        }
        n.pointee.shrinkIfMostlyEmpty()
        if nodeCount > 1 { mergeIfPossible(atHead ? 0 : Int(nodeCount) - 2) }
    }

    /// Merges nodes `i` and `i + 1` when one node can hold both.
    @discardableResult func mergeIfPossible(_ i: Int) -> Bool {
        guard i >= 0 && i + 1 < Int(nodeCount) else { return false }
        let a = node(i).pointee, b = node(i + 1).pointee
        guard fits(count: Int(a.count + b.count), logical: a.logicalSize + b.logicalSize) else { return false }
        let merged = ListNode(concatenating: a, b)
        free(a.base)
        free(b.base)
        removeNode(at: i + 1)
        node(i).pointee = merged
        return true
    }

    // MARK: - Positions

    /// The node holding element `index` (0 <= index < count) and the element's index in it, found by walking
    /// the nodes' counts from the nearer end.
    func locate(_ index: Int) -> (node: Int, offset: Int) {
        precondition(index >= 0 && index < count, "list index out of range")
        if index < count - index {
            var rest = index
            var i = 0
            while true {
                let c = Int(node(i).pointee.count)
                if rest < c { return (i, rest) }
                rest -= c
                i += 1
            }
        } else {
            var rest = count - 1 - index  // distance from the tail
            var i = Int(nodeCount) - 1
            while true {
                let c = Int(node(i).pointee.count)
                if rest < c { return (i, c - 1 - rest) }
                rest -= c
                i -= 1
            }
        }
    }

    /// Calls `body` with element `index` (LINDEX). O(distance from the nearer end).
    func withElement<R>(at index: Int, _ body: (ListEntry) -> R) -> R {
        let (i, offset) = locate(index)
        var cursor = NodeCursor(node(i).pointee, at: offset)
        return body(cursor.next())
    }

    // MARK: - Walks

    /// Calls `body` with the elements from index `start` on, `length` of them, toward the tail, or toward
    /// the head when `reverse` (then `start` is the first one visited, the highest index). Stops early when
    /// `body` returns false. No allocation: LRANGE streams its reply from here.
    @inline(__always) func forEach(from start: Int, length: Int, reverse: Bool = false, _ body: (ListEntry) -> Bool) {
        guard length > 0 else { return }
        precondition(reverse ? start - length + 1 >= 0 && start < count : start >= 0 && start + length <= count)
        var (i, offset) = locate(start)
        var left = length
        if reverse {
            var cursor = NodeCursor(node(i).pointee, at: offset + 1)
            while true {
                var k = offset + 1
                while k > 0 {
                    if !body(cursor.previous()) { return }
                    left -= 1
                    if left == 0 { return }
                    k -= 1
                }
                i -= 1
                offset = Int(node(i).pointee.count) - 1
                cursor = NodeCursor(node(i).pointee, fromStart: false)
            }
        } else {
            var cursor = NodeCursor(node(i).pointee, at: offset)
            var k = Int(node(i).pointee.count) - offset
            while true {
                while k > 0 {
                    if !body(cursor.next()) { return }
                    left -= 1
                    if left == 0 { return }
                    k -= 1
                }
                i += 1
                k = Int(node(i).pointee.count)
                cursor = NodeCursor(node(i).pointee, fromStart: true)
            }
        }
    }

    /// Every element, head to tail.
    func forEach(_ body: (ListEntry) -> Void) {
        forEach(from: 0, length: count) { body($0); return true }
    }
}

// MARK: - Elements

/// A stored element as commands see it: its code and its data bytes, valid only for the duration of the
/// call that hands it out.
struct ListEntry {
    /// The element's code (see ListValue): a string length up to 191, 0xC1...0xC8 for an integer, 0xF0 or
    /// 0xF1 for a long string.
    let head: UInt8
    let data: UnsafeRawBufferPointer

    @inline(__always) var isInteger: Bool { head > 0xC0 && head <= 0xC8 }

    /// The integer an integer element holds.
    @inline(__always) var integer: Int64 { loadInteger(data.baseAddress!, width: data.count) }

    /// The element's bytes, as a client sent them.
    var byteString: ByteString {
        if isInteger {
            var digits = (UInt64(0), UInt64(0), UInt64(0))
            return withUnsafeMutableBytes(of: &digits) { raw in
                let n = writeInt64(integer, to: raw.baseAddress!)
                return ByteString(UnsafeRawBufferPointer(rebasing: raw[0..<n]))
            }
        }
        return ByteString(data)
    }

    /// Whether the element's bytes are `other`'s (an argument packed once with `PackedElement`).
    @inline(__always) func equals(_ other: PackedElement) -> Bool {
        guard head == other.code && data.count == other.dataLength else { return false }
        if isInteger { return integer == other.integer }
        return data.count == 0 || memcmp(data.baseAddress!, other.bytes.baseAddress!, data.count) == 0
    }

    /// Bytes of its code: 1, or 4 / 6 for a long string.
    @inline(__always) var codeLength: Int { head == 0xF0 ? 4 : head == 0xF1 ? 6 : 1 }
}

/// An element about to be stored (or compared): its code and data, computed once from the client's bytes.
struct PackedElement {
    let code: UInt8
    let codeLength: Int
    let dataLength: Int
    let integer: Int64
    let bytes: UnsafeRawBufferPointer

    @inline(__always) init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
        if bytes.count <= 20, let v = parseInt64(bytes) {
            integer = v
            let width = integerWidth(v)
            code = 0xC0 + UInt8(width)
            codeLength = 1
            dataLength = width
        } else {
            integer = 0
            let n = bytes.count
            dataLength = n
            if n <= 0xBF {
                code = UInt8(n)
                codeLength = 1
            } else if n <= 0xFFFF {
                code = 0xF0
                codeLength = 4
            } else {
                precondition(n <= Int(UInt32.max) - 64, "list element too large")
                code = 0xF1
                codeLength = 6
            }
        }
    }

    /// An element read from a list, to store in another one.
    @inline(__always) init(_ entry: ListEntry) {
        code = entry.head
        codeLength = entry.codeLength
        dataLength = entry.data.count
        integer = entry.isInteger ? entry.integer : 0
        bytes = entry.data
    }

    /// The logical size: code plus data.
    @inline(__always) var size: Int { codeLength + dataLength }

    @inline(__always) func writeCode(to p: UnsafeMutableRawPointer) {
        writeListCode(code, dataLength: dataLength, to: p)
    }

    @inline(__always) func writeData(to p: UnsafeMutableRawPointer) {
        if code > 0xC0 && code <= 0xC8 {
            var v = integer.littleEndian
            withUnsafeBytes(of: &v) { p.copyMemory(from: $0.baseAddress!, byteCount: dataLength) }
        } else if dataLength > 0 {
            p.copyMemory(from: bytes.baseAddress!, byteCount: dataLength)
        }
    }
}

/// Writes the code `head` of an element of `dataLength` bytes (1, 4 or 6 bytes).
@inline(__always) func writeListCode(_ head: UInt8, dataLength: Int, to p: UnsafeMutableRawPointer) {
    p.storeBytes(of: head, as: UInt8.self)
    if head == 0xF0 {
        p.storeBytes(of: UInt16(dataLength).littleEndian, toByteOffset: 1, as: UInt16.self)
        p.storeBytes(of: head, toByteOffset: 3, as: UInt8.self)
    } else if head == 0xF1 {
        p.storeBytes(of: UInt32(dataLength).littleEndian, toByteOffset: 1, as: UInt32.self)
        p.storeBytes(of: head, toByteOffset: 5, as: UInt8.self)
    }
}

/// Bytes needed for `v` in two's complement: 1 to 8.
@inline(__always) func integerWidth(_ v: Int64) -> Int {
    let magnitude = UInt64(bitPattern: v ^ (v >> 63))
    let bits = 65 - magnitude.leadingZeroBitCount  // value bits plus the sign bit
    return (bits + 7) >> 3
}

/// Reads a `width`-byte little-endian two's complement integer.
@inline(__always) func loadInteger(_ p: UnsafeRawPointer, width: Int) -> Int64 {
    var raw: UInt64 = 0
    withUnsafeMutableBytes(of: &raw) { $0.baseAddress!.copyMemory(from: p, byteCount: width) }
    let shift = UInt64(64 - 8 * width)
    return Int64(bitPattern: UInt64(littleEndian: raw) << shift) >> shift
}

/// The data width of a one-byte code.
@inline(__always) func listCodeWidth(_ head: UInt8) -> Int {
    head < 0xC0 ? Int(head) : Int(head &- 0xC0)
}

// MARK: - Nodes

/// One node: its block and where its codes and data lie in it (see ListValue). 32-bit offsets keep the
/// directory entry at 40 bytes; an element is at most 4 GB.
struct ListNode {
    var base: UnsafeMutableRawPointer
    private var _capacity: UInt32
    private var _count: UInt32
    private var _codeStart: UInt32
    private var _codeEnd: UInt32
    private var _dataStart: UInt32
    private var _dataEnd: UInt32
    /// The code every element has when the node stores no codes, `ListNode.mixed` otherwise.
    var uniform: UInt8

    static let mixed: UInt8 = 0xFF

    @inline(__always) var capacity: Int { get { Int(_capacity) } set { _capacity = UInt32(newValue) } }
    @inline(__always) var count: UInt32 { get { _count } set { _count = newValue } }
    @inline(__always) var codeStart: Int { get { Int(_codeStart) } set { _codeStart = UInt32(newValue) } }
    @inline(__always) var codeEnd: Int { get { Int(_codeEnd) } set { _codeEnd = UInt32(newValue) } }
    @inline(__always) var dataStart: Int { get { Int(_dataStart) } set { _dataStart = UInt32(newValue) } }
    @inline(__always) var dataEnd: Int { get { Int(_dataEnd) } set { _dataEnd = UInt32(newValue) } }

    @inline(__always) var isUniform: Bool { uniform != ListNode.mixed }
    @inline(__always) var codeBytes: Int { codeEnd - codeStart }
    @inline(__always) var dataBytes: Int { dataEnd - dataStart }
    /// What the node's bound counts: data, plus one code byte per element, plus long-string code bytes.
    @inline(__always) var logicalSize: Int { (isUniform ? Int(count) : codeBytes) + dataBytes }
    /// Bytes in use in the block.
    @inline(__always) var usedBytes: Int { codeBytes + dataBytes }

    /// A node holding one element, with room to grow toward the end it was pushed at.
    init(_ e: PackedElement, atHead: Bool, room slack: Int) {
        let mixed = e.codeLength != 1
        let codeLength = mixed ? e.codeLength : 0
        let codeSlack = mixed ? 8 : 0
        uniform = mixed ? ListNode.mixed : e.code
        _count = 1
        _codeStart = UInt32(atHead ? codeSlack : 0)
        _codeEnd = _codeStart + UInt32(codeLength)
        _dataStart = _codeEnd + UInt32(atHead ? slack : codeSlack)
        _dataEnd = _dataStart + UInt32(e.dataLength)
        _capacity = _dataEnd + UInt32(atHead ? 0 : slack)
        base = malloc(Int(_capacity))!
        if !atHead { _capacity = UInt32(min(cs_malloc_usable_size(base), Int(UInt32.max))) }
        if mixed { e.writeCode(to: base + Int(_codeStart)) }
        e.writeData(to: base + Int(_dataStart))
    }

    /// A sealed node from codes (nil for a uniform node with code `uniform`) and data, copied.
    init(count: Int, uniform: UInt8, codes: UnsafeRawBufferPointer, data: UnsafeRawBufferPointer) {
        let codeLength = uniform == ListNode.mixed ? codes.count : 0
        let capacity = max(1, codeLength + data.count)
        base = malloc(capacity)!
        _capacity = UInt32(capacity)
        _count = UInt32(count)
        self.uniform = uniform
        _codeStart = 0
        _codeEnd = UInt32(codeLength)
        _dataStart = _codeEnd
        _dataEnd = _dataStart + UInt32(data.count)
        if codeLength > 0 { base.copyMemory(from: codes.baseAddress!, byteCount: codeLength) }
        if data.count > 0 { (base + codeLength).copyMemory(from: data.baseAddress!, byteCount: data.count) }
    }

    /// One sealed node holding `a`'s elements then `b`'s.
    init(concatenating a: ListNode, _ b: ListNode) {
        let uniform = a.uniform == b.uniform ? a.uniform : ListNode.mixed
        let codesA = uniform == ListNode.mixed ? (a.isUniform ? Int(a.count) : a.codeBytes) : 0
        let codesB = uniform == ListNode.mixed ? (b.isUniform ? Int(b.count) : b.codeBytes) : 0
        let capacity = max(1, codesA + codesB + a.dataBytes + b.dataBytes)
        base = malloc(capacity)!
        _capacity = UInt32(capacity)
        _count = a._count + b._count
        self.uniform = uniform
        _codeStart = 0
        _codeEnd = UInt32(codesA + codesB)
        _dataStart = _codeEnd
        _dataEnd = _dataStart + UInt32(a.dataBytes + b.dataBytes)
        if uniform == ListNode.mixed {
            a.copyCodes(to: base)
            b.copyCodes(to: base + codesA)
        }
        let d = base + codesA + codesB
        if a.dataBytes > 0 { d.copyMemory(from: a.base + a.dataStart, byteCount: a.dataBytes) }
        if b.dataBytes > 0 { (d + a.dataBytes).copyMemory(from: b.base + b.dataStart, byteCount: b.dataBytes) }
    }

    /// Writes the node's codes (materialised when it is uniform) at `p`.
    func copyCodes(to p: UnsafeMutableRawPointer) {
        if isUniform {
            memset(p, Int32(uniform), Int(count))
        } else if codeBytes > 0 {
            p.copyMemory(from: base + codeStart, byteCount: codeBytes)
        }
    }

    // MARK: Pushes

    @inline(__always) mutating func append(_ e: PackedElement, bound: Int, eager: Bool) {
        if isUniform && e.code == uniform && e.codeLength == 1 {
            if capacity - dataEnd < e.dataLength { relayout(back: (0, e.dataLength), bound: bound, eager: eager) }
        } else {
            if isUniform || dataStart - codeEnd < e.codeLength || capacity - dataEnd < e.dataLength {
                relayout(back: (e.codeLength, e.dataLength), materialize: true, bound: bound, eager: eager)
            }
            e.writeCode(to: base + codeEnd)
            codeEnd += e.codeLength
        }
        e.writeData(to: base + dataEnd)
        dataEnd += e.dataLength
        count += 1
    }

    @inline(__always) mutating func prepend(_ e: PackedElement, bound: Int, eager: Bool) {
        if isUniform && e.code == uniform && e.codeLength == 1 {
            if dataStart - codeEnd < e.dataLength { relayout(front: (0, e.dataLength), bound: bound, eager: eager) }
        } else {
            if isUniform || codeStart < e.codeLength || dataStart - codeEnd < e.dataLength {
                relayout(front: (e.codeLength, e.dataLength), materialize: true, bound: bound, eager: eager)
            }
            codeStart -= e.codeLength
            e.writeCode(to: base + codeStart)
        }
        dataStart -= e.dataLength
        e.writeData(to: base + dataStart)
        count += 1
    }

    /// Makes room for `front` (code, data) bytes before the codes and data and `back` after them, plus slack
    /// for later pushes: 1/8 more below 1 KB (small lists stay small), 1/2 more above and in `eager` mode
    /// (an end node of a list of several nodes, which will fill up), never beyond the node's size bound. The side that asked gets the new slack; the other
    /// keeps what it had (up to half of it), so pushes at one end grow the block with realloc, and pushes
    /// at both ends still find room on each side. With `materialize`, a uniform node's codes are written
    /// out.
    mutating func relayout(front: (Int, Int) = (0, 0), back: (Int, Int) = (0, 0), materialize: Bool = false,
                           bound: Int, eager: Bool = false) {
        let writesCodes = !isUniform || materialize
        let codes = isUniform ? (writesCodes ? Int(count) : 0) : codeBytes
        let data = dataBytes
        let needed = codes + data + front.0 + front.1 + back.0 + back.1
        let growth = needed < 1024 && !eager ? max(16, needed / 8) : needed / 2
        let newCapacity = min(needed + growth, max(needed, bound))
        let extra = newCapacity - needed
        let askedFront = front.0 + front.1 > 0, askedBack = back.0 + back.1 > 0
        let frontFree = isUniform && !writesCodes ? dataStart - codeEnd : codeStart
        let backFree = capacity - dataEnd
        let frontExtra: Int
        if askedFront && askedBack { frontExtra = extra / 2 }
        else if askedBack { frontExtra = min(frontFree, extra / 2) }
        else { frontExtra = extra - min(backFree, extra / 2) }
        let backExtra = extra - frontExtra
        let used = max(1, codes + data)
        let frontCodeExtra = writesCodes ? frontExtra * codes / used : 0
        let backCodeExtra = writesCodes ? backExtra * codes / used : 0

        let newCodeStart = front.0 + frontCodeExtra
        let newCodeEnd = newCodeStart + codes
        let newDataStart = newCodeEnd + back.0 + backCodeExtra + front.1 + (frontExtra - frontCodeExtra)
        let newDataEnd = newDataStart + data
        precondition(newDataEnd + back.1 + (backExtra - backCodeExtra) == newCapacity)
        let block: UnsafeMutableRawPointer
        if newCodeStart == codeStart && (newCodeEnd == codeEnd || !writesCodes) && isUniform == !writesCodes {
            // The codes stay where they are: resize in place when malloc can, and slide the data (before
            // shrinking, after growing).
            if newCapacity >= capacity {
                block = realloc(base, max(1, newCapacity))!
                if newDataStart != dataStart && data > 0 { memmove(block + newDataStart, block + dataStart, data) }
            } else {
                if newDataStart != dataStart && data > 0 { memmove(base + newDataStart, base + dataStart, data) }
                block = realloc(base, max(1, newCapacity))!
            }
        } else {
            block = malloc(max(1, newCapacity))!
            if writesCodes { copyCodes(to: block + newCodeStart) }
            if data > 0 { (block + newDataStart).copyMemory(from: base + dataStart, byteCount: data) }
            free(base)
        }
        base = block
        capacity = min(cs_malloc_usable_size(block), Int(UInt32.max))
        codeStart = newCodeStart
        codeEnd = newCodeEnd
        dataStart = newDataStart
        dataEnd = newDataEnd
        if writesCodes { uniform = ListNode.mixed }
    }

    /// Gives back the slack: the node becomes an inner node, or was left mostly empty.
    mutating func seal() {
        guard capacity > usedBytes else { return }
        if codeStart == 0 && codeEnd == dataStart {
            base = realloc(base, max(1, dataEnd))!
            capacity = dataEnd
            return
        }
        let codes = codeBytes, data = dataBytes
        let block = malloc(max(1, codes + data))!
        if codes > 0 { block.copyMemory(from: base + codeStart, byteCount: codes) }
        if data > 0 { (block + codes).copyMemory(from: base + dataStart, byteCount: data) }
        free(base)
        base = block
        capacity = codes + data
        codeStart = 0
        codeEnd = codes
        dataStart = codes
        dataEnd = codes + data
    }

    /// A block at most a quarter used (and worth the copy) shrinks to what it holds.
    @inline(__always) mutating func shrinkIfMostlyEmpty() {
        if capacity > 256 && usedBytes * 4 < capacity { seal() }
    }

    // MARK: Removals at the ends

    /// Removes the elements before `cursor` (which walked forward from the start).
    @inline(__always) mutating func dropFirst(upTo cursor: NodeCursor) {
        count -= UInt32(cursor.index)
        if !isUniform { codeStart = cursor.code }
        dataStart = cursor.data
    }

    /// Removes the elements from `cursor` on (which walked backward from the end).
    @inline(__always) mutating func dropLast(from cursor: NodeCursor) {
        count = UInt32(cursor.index)
        if !isUniform { codeEnd = cursor.code }
        dataEnd = cursor.data
    }
}

/// A position between two elements of a node (before element `index`), which reads the element after it
/// (`next`) or before it (`previous`) and moves past it.
struct NodeCursor {
    let base: UnsafeMutableRawPointer
    let uniform: UInt8
    let width: Int
    /// Offsets in the block of the next element's code (mixed nodes) and data.
    var code: Int
    var data: Int
    var index: Int

    @inline(__always) init(_ node: ListNode, fromStart: Bool) {
        base = node.base
        uniform = node.uniform
        width = node.isUniform ? listCodeWidth(node.uniform) : 0
        if fromStart {
            code = node.codeStart
            data = node.dataStart
            index = 0
        } else {
            code = node.codeEnd
            data = node.dataEnd
            index = Int(node.count)
        }
    }

    /// Before element `index`, reached from the nearer end of the node.
    @inline(__always) init(_ node: ListNode, at index: Int) {
        let total = Int(node.count)
        if node.isUniform {
            self.init(node, fromStart: true)
            data += index * width
            self.index = index
        } else if index <= total - index {
            self.init(node, fromStart: true)
            for _ in 0..<index { skipForward() }
        } else {
            self.init(node, fromStart: false)
            for _ in 0..<(total - index) { skipBackward() }
        }
    }

    @inline(__always) mutating func next() -> ListEntry {
        if uniform != ListNode.mixed {
            let entry = ListEntry(head: uniform, data: UnsafeRawBufferPointer(start: base + data, count: width))
            data += width
            index += 1
            return entry
        }
        let head = base.load(fromByteOffset: code, as: UInt8.self)
        let length: Int
        switch head {
        case 0xF0:
            length = Int(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: code + 1, as: UInt16.self)))
            code += 4
        case 0xF1:
            length = Int(UInt32(littleEndian: base.loadUnaligned(fromByteOffset: code + 1, as: UInt32.self)))
            code += 6
        default:
            length = listCodeWidth(head)
            code += 1
        }
        let entry = ListEntry(head: head, data: UnsafeRawBufferPointer(start: base + data, count: length))
        data += length
        index += 1
        return entry
    }

    @inline(__always) mutating func previous() -> ListEntry {
        if uniform != ListNode.mixed {
            data -= width
            index -= 1
            return ListEntry(head: uniform, data: UnsafeRawBufferPointer(start: base + data, count: width))
        }
        let last = base.load(fromByteOffset: code - 1, as: UInt8.self)
        let length: Int
        switch last {
        case 0xF0:
            code -= 4
            length = Int(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: code + 1, as: UInt16.self)))
        case 0xF1:
            code -= 6
            length = Int(UInt32(littleEndian: base.loadUnaligned(fromByteOffset: code + 1, as: UInt32.self)))
        default:
            code -= 1
            length = listCodeWidth(last)
        }
        data -= length
        index -= 1
        return ListEntry(head: last, data: UnsafeRawBufferPointer(start: base + data, count: length))
    }

    @inline(__always) mutating func skipForward() { _ = next() }
    @inline(__always) mutating func skipBackward() { _ = previous() }
}
