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
/// ## Prefixes
/// A sealed node whose elements are all strings of at most 191 bytes sharing their first bytes stores those
/// bytes once, at the start of its block (`[prefix][codes][data]`), when that saves at least 16 bytes; each
/// element's code and data then cover only the rest. Sealed means exactly sized: a node that stopped being
/// an end node, the node of a one-node list after a push of several elements, a node an edit re-packed. It
/// pays for ids and keys ("job:1042", "v:00012345"), documents with the same opening, and one element
/// repeated (such a node stores no data at all). A read hands out the element in two pieces
/// (`ListEntry.prefix` and `suffix`), which replies and the RDB writer copy one after the other. Pops and
/// trims at the ends keep the prefix (the elements left still share it); any other change to the node (a
/// push, an edit, a merge) first writes the prefix back into each element (`ListNode.restorePrefix`, O(node)),
/// and the node may store one again when it is next sealed. Bounds count each element whole, prefix
/// included, so prefixes never change where nodes split.
///
/// MEASURED (RSS above an empty server, release build, against redis-server 7.0.15 with jemalloc;
/// `bench/list_memory.py`, MiB): one list of 10,000,000 "xxx" 0.4 (redis 49.1: its nodes store the element
/// once), of the integers 0...9,999,999 30.5 (0.60x), of "v:%08d" 37.3 (0.32x; 96.2, 0.82x, without
/// prefixes), of 2-24-byte strings ("mixed") 119.9 (0.69x; 0.92x without), of 10 hex digits sharing no
/// prefix 105.6 (0.90x: some are integers, so nodes are mixed); 100,000 lists of 50 "xxx" 17.4 (0.37x),
/// integers 29.6 (0.63x), "v:%08d" 28.6 (0.37x), mixed 73.4 (0.64x), hex digits 65.9 (0.84x). Where the
/// bytes go:
/// - a big list costs its elements' data after the node's prefix, plus a code byte when the node is not
///   uniform (10.09 bytes a 10-byte string that shares nothing; redis-server 12.34: a listpack entry adds
///   an encoding byte and a back-length byte).
/// - a list of 50 10-byte strings sharing nothing: 675 bytes = the keyspace entry (64 + a 4-byte bucket
///   link), this object with its node slot (80-byte chunk, see "The object"), the node sized exactly after
///   the RPUSH (500 bytes in a 512-byte chunk), and ~15 bytes of heap fragmentation left by the node's growth
///   during the push; redis-server 820.
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
///
/// ## The object
/// A list is one object with room for one `ListNode` after its fields (a `ManagedBuffer`): that slot is the
/// ring of a list that has never had two nodes (`external` false), which is every small list, so a small
/// list is this 72-byte object (an 80-byte malloc chunk) and its node's block. When a second node comes,
/// the ring moves to its own allocation for good, and the slot holds the ring's address, mask and head
/// instead (`external` true). A separate ring of one node would cost a 48-byte chunk and a 64-byte object:
/// 32 bytes more for each small list.
struct ListHead {
    /// Elements in the list.
    var count = 0
    var nodeCount: Int32 = 0
    /// `list-max-listpack-size` when the list was made, clamped to -5...32767 as Redis's quicklistSetFill.
    var fill: Int16
    /// Whether the ring is its own allocation (its address, mask and head then fill the object's slot).
    var external = false
}

final class ListValue: ManagedBuffer<ListHead, ListNode> {
    /// An empty list whose nodes follow `fill` (`list-max-listpack-size`).
    static func make(fill: Int = -2) -> ListValue {
        let object = ListValue.create(minimumCapacity: 1) { _ in
            ListHead(fill: Int16(clamping: Swift.max(fill, -5)))
        }
        return unsafeDowncast(object, to: ListValue.self)
    }

    /// The fields. Through the pointer, not `header`: ManagedBuffer's `header` is a class property whose
    /// every access would pay a dynamic exclusivity check (swift_beginAccess), a third of an LPUSH.
    @inline(__always) private var head: UnsafeMutablePointer<ListHead> {
        withUnsafeMutablePointerToHeader { $0 }
    }

    /// Elements in the list.
    @inline(__always) private(set) var count: Int {
        get { head.pointee.count }
        set { head.pointee.count = newValue }
    }

    @inline(__always) var fill: Int32 { Int32(head.pointee.fill) }

    @inline(__always) var nodeCount: Int32 {
        get { head.pointee.nodeCount }
        set { head.pointee.nodeCount = newValue }
    }

    /// The object's one node slot.
    @inline(__always) private var slot: UnsafeMutableRawPointer {
        withUnsafeMutablePointerToElements { UnsafeMutableRawPointer($0) }
    }

    /// The ring: its own allocation, or the slot (capacity 1).
    @inline(__always) var ring: UnsafeMutablePointer<ListNode> {
        head.pointee.external ? slot.load(as: UnsafeMutablePointer<ListNode>.self) : slot.assumingMemoryBound(to: ListNode.self)
    }

    @inline(__always) var ringMask: Int32 {
        get { head.pointee.external ? slot.load(fromByteOffset: 8, as: Int32.self) : 0 }
        set { if head.pointee.external { slot.storeBytes(of: newValue, toByteOffset: 8, as: Int32.self) } }
    }

    @inline(__always) var ringHead: Int32 {
        get { head.pointee.external ? slot.load(fromByteOffset: 12, as: Int32.self) : 0 }
        set { if head.pointee.external { slot.storeBytes(of: newValue, toByteOffset: 12, as: Int32.self) } }
    }

    /// Whether the ring is its own allocation (tests).
    var hasExternalRing: Bool { head.pointee.external }

    /// Makes `fresh` (capacity `capacity`, a power of two) the ring; the old one is the caller's to free.
    func adoptRing(_ fresh: UnsafeMutablePointer<ListNode>, capacity: Int) {
        head.pointee.external = true
        slot.storeBytes(of: fresh, as: UnsafeMutablePointer<ListNode>.self)
        ringMask = Int32(capacity - 1)
        ringHead = 0
    }

    /// Frees the ring when it is its own allocation.
    func freeExternalRing() {
        if head.pointee.external { ring.deallocate() }
    }

    deinit {
        for i in 0..<Int(nodeCount) { free(node(i).pointee.base) }
        freeExternalRing()
    }

    var isEmpty: Bool { count == 0 }
    var encodingName: StaticString { "quicklist" }
    /// Redis's lazyfreeGetFreeEffort for a quicklist: its node count.
    var freeEffort: Int { Int(nodeCount) }

    /// MEMORY USAGE (`Value.memoryUsage`): this object (with its one inline node slot), the external node
    /// ring once there is one, and the nodes' blocks, the first `samples` of them measured and scaled to the
    /// node count, as Redis samples a quicklist's nodes.
    func memoryUsage(samples: Int) -> Int {
        var bytes = allocationSize(of: self) + (head.pointee.external ? allocationSize(UnsafeRawPointer(ring)) : 0)
        let nodes = Int(nodeCount)
        let measured = min(nodes, samples)
        guard measured > 0 else { return bytes }
        var nodeBytes = 0
        for i in 0..<measured { nodeBytes += allocationSize(node(i).pointee.base) }
        bytes += measured == nodes ? nodeBytes : Int(Double(nodeBytes) / Double(measured) * Double(nodes))
        return bytes
    }

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
        ring + ((Int(ringHead) + i) & Int(ringMask))
    }

    var nodes: Int { Int(nodeCount) }

    /// Doubles the ring (the first time, out of the object's slot into an allocation of its own).
    private func growRing() {
        let newCapacity = 2 * (Int(ringMask) + 1)
        let fresh = UnsafeMutablePointer<ListNode>.allocate(capacity: newCapacity)
        for i in 0..<Int(nodeCount) { (fresh + i).initialize(to: node(i).pointee) }
        freeExternalRing()
        adoptRing(fresh, capacity: newCapacity)
    }

    /// Inserts `n` as node `i`, shifting the shorter side of the ring.
    func insertNode(_ n: ListNode, at i: Int) {
        if Int(nodeCount) == Int(ringMask) + 1 { growRing() }
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

    /// Appends `count` elements packed as one node by the caller (their codes, ignored when `uniform` is not
    /// `ListNode.mixed`, and data; `logical` is the node's logical size): a node of a list being loaded, made
    /// in one go and sized exactly. Returns false, changing nothing, when the run cannot be a node of its own
    /// by the bounds above (it exceeds them, or would fit together with the last node): the caller then
    /// appends the elements one by one.
    func appendNode(count: Int, uniform: UInt8, codes: UnsafeRawBufferPointer, data: UnsafeRawBufferPointer,
                    logical: Int) -> Bool {
        guard count > 0, fits(count: count, logical: logical) else { return false }
        if nodeCount > 0 {
            let end = node(Int(nodeCount) - 1)
            if fits(count: Int(end.pointee.count) + count, logical: end.pointee.logicalSize + logical) { return false }
            end.pointee.seal()
        }
        insertNode(ListNode(count: count, uniform: uniform, codes: codes, data: data), at: Int(nodeCount))
        self.count += count
        return true
    }

    /// After a command pushed several elements: the node of a one-node list gives back the room it kept for
    /// more pushes and moves to an exactly sized block, as Redis's listpack is sized, so a small list built by
    /// one RPUSH costs what it holds. A later push grows it again (one realloc). Lists of several nodes keep
    /// their end nodes' room: they are the big lists that keep growing.
    func fitSingleNode() {
        if nodeCount == 1 { node(0).pointee.seal(moving: true) }
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
        node(i).pointee.restorePrefix()
        node(i + 1).pointee.restorePrefix()
        let merged = ListNode(concatenating: node(i).pointee, node(i + 1).pointee)
        free(node(i).pointee.base)
        free(node(i + 1).pointee.base)
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
