import CSystem
import Glibc

/// A Redis sorted set: members (byte strings, unique) each with a score (Double, never NaN), in one of two
/// forms, which are Redis 7.0's two encodings and which OBJECT ENCODING names:
///
/// "listpack" — PACKED, while the set is small (the Z* commands decide, at Redis's limits: see "Redis's
/// encodings" in Commands/SortedSets.swift). One malloc'ed `PackedPairs` buffer (Storage/HashValue.swift,
/// the small hash's layout) holds member/score pairs in ascending (score, member) order, as Redis's listpack
/// holds them. A score is an element whose length says how to read it (`PackedScore`): 0 bytes for 0, 1, 2 or
/// 4 for an integer that fits (little-endian), 8 for any other double (its bits, -0 included). Everything is
/// a walk of at most zset-max-listpack-entries (128) pairs, as Redis's zzl* functions walk the listpack:
/// lookups compare lengths then bytes, an insertion or a score change moves the tail, ranges and ranks
/// count pairs. ZRANGEBYLEX and its relatives scan as Redis's listpack does (from the first pair at or above
/// the minimum, or for a reverse walk from the last pair at or below the maximum), which only differs from the
/// tree's answer when the scores differ, where Redis documents the result as unspecified.
///
/// "skiplist" — `TreeForm`: two structures hold the same elements, as in Redis's skiplist encoding:
/// - `tree`, an `AVLTree` ordered by (score, member) with subtree counts, answers everything ordered:
///   ranks, ranges by rank/score/lex, counts, pops, in O(log n) plus O(1) per element returned;
/// - `index`, member -> score in a hash table, answers ZSCORE / ZMSCORE and membership in O(1), and gives
///   the score needed to find a member in the tree (ZRANK, ZREM, ZADD updates).
/// A member's bytes are stored once when longer than 22 bytes (both sides share one `ByteStorage`);
/// short members are inline in the tree node and in the index entry. See AVLTree.swift for the node layout.
///
/// The object holds one word, as HashValue's: the packed buffer's address (malloc aligns it to 16, so bit 0
/// is 0) or the retained `TreeForm` with bit 0 set; `skiplistEncoded` reads that bit, and setting it converts
/// (packed -> tree when a command breaks a limit, tree -> packed when a stored result fits). Nothing else
/// converts: a packed set holds whatever it is given, only more slowly past its limits.
///
/// MEASURED (RSS above an empty server, release build, redis-server 7.0.15 with jemalloc;
/// `python3 bench/zset_memory.py`): 100,000 sets of 10 members `member:N` with integer scores N: 309 bytes a set,
/// redis-server 301 (1.03x; before the packed form every set was a tree and an index, 2,118 bytes, 7.0x); with
/// scores N + 0.5: 357 against 393 (0.91x); 40-byte members: 582 against 613 (0.95x). Ours, for the first: the
/// keyspace entry (64 + a 4-byte bucket link), this object (32) and the buffer (4 of header + 10 pairs of 1 + 13
/// + 1 + 4 bytes = 194, a 208-byte glibc chunk). ZADD of one member to a one-member set (redis-benchmark's
/// default ZADD): 1.12 us of server CPU per request against 1.41 before and redis-server's 1.93. The price is
/// Redis's too: on a full packed set (128 members, `-P 16`) ZSCORE and ZRANK walk to their member, 1.4 us of
/// CPU against 0.9-1.0 for the tree before (redis-server 3.2-4.4), ZRANGEBYSCORE of 11 members 2.7 against 2.0
/// (6.0), ZRANGE 0 9 at par (2.3 / 2.2 / 7.9).
///
/// Ranks in this API are 0-based and ascending unless a method takes `reverse:`; rank ranges are
/// `Range<Int>` in ascending ranks, and a `reverse: true` walk visits such a range from its top down.
/// This is a class so the keyspace holds a reference and mutates in place, and so a big set can be handed to
/// a background thread to be freed.
public final class SortedSet {
    public typealias Element = (member: ByteString, score: Double)

    /// The packed buffer's address, or the tree form's retained reference with bit 0 set (see above).
    @exclusivity(unchecked) private var storage: UInt

    /// The "skiplist" encoding's structures.
    final class TreeForm {
        @exclusivity(unchecked) var tree = AVLTree()
        let index = MemberIndex()
        /// Heap bytes of members longer than the inline capacity (shared by tree and index, counted once).
        @exclusivity(unchecked) var memberHeapBytes = 0
    }

    /// An empty set in the packed form (Redis creates every sorted set as a listpack).
    public init() {
        storage = UInt(bitPattern: PackedPairs.allocate(bytes: 0))
    }

    /// A packed set of `pairs`, which it now owns (they must hold the packed form's invariants).
    fileprivate init(owning pairs: PackedPairs) {
        storage = UInt(bitPattern: pairs.base)
    }

    deinit {
        if let form = treeReference {
            form.release()
        } else {
            free(packedBase)
        }
    }

    @inline(__always) private var treeReference: Unmanaged<TreeForm>? {
        storage & 1 == 0 ? nil : Unmanaged.fromOpaque(UnsafeRawPointer(bitPattern: storage & ~1)!)
    }

    /// The tree form, nil while packed.
    @inline(__always) var treeForm: TreeForm? { treeReference?.takeUnretainedValue() }

    @inline(__always) private var packedBase: UnsafeMutableRawPointer {
        UnsafeMutableRawPointer(bitPattern: storage).unsafelyUnwrapped
    }

    @inline(__always) fileprivate var packed: PackedPairs { PackedPairs(base: packedBase) }

    /// Stores the packed buffer's address back after an edit that may have moved it.
    @inline(__always) fileprivate func store(_ pairs: PackedPairs) { storage = UInt(bitPattern: pairs.base) }

    /// Whether the set is in the "skiplist" encoding. Setting it converts the set (see above).
    public var skiplistEncoded: Bool {
        get { storage & 1 != 0 }
        set {
            guard newValue != skiplistEncoded else { return }
            if newValue { convertToTree() } else { convertToPacked() }
        }
    }

    /// - Complexity: O(1)
    public var count: Int { treeForm?.tree.count ?? packed.count }
    public var isEmpty: Bool { count == 0 }

    /// A copy in the same encoding (COPY).
    public func duplicate() -> SortedSet {
        let copy = SortedSet()
        if treeForm == nil {
            free(copy.packedBase)
            copy.storage = UInt(bitPattern: packed.copy())
        } else {
            copy.skiplistEncoded = true
            let filled = copy.fillAscending(elements(inRanks: 0..<count))
            precondition(filled, "SortedSet.duplicate: the source is not in order")
        }
        return copy
    }

    /// Packed -> tree: the pairs, already in order, are linked into a balanced tree and indexed.
    private func convertToTree() {
        let pairs = packed
        var elements: [Element] = []
        elements.reserveCapacity(pairs.count)
        pairs.forEach { member, score in elements.append((ByteString(member), PackedScore.decode(score))) }
        let form = TreeForm()
        if !elements.isEmpty {
            let built = form.tree.buildAscending(elements)
            precondition(built, "SortedSet: packed pairs out of order")
            form.index.reserveCapacity(elements.count)
            for e in elements {
                form.index.insert(e.score, forNewKey: e.member)
                form.memberHeapBytes += e.member.heapBytes
            }
        }
        free(pairs.base)
        storage = UInt(bitPattern: Unmanaged.passRetained(form).toOpaque()) | 1
        didMutate()
    }

    /// Tree -> packed: the elements in ascending order, appended to one exactly sized buffer.
    private func convertToPacked() {
        let form = treeReference!
        var bytes = 0
        forEach { member, score in bytes += PackedPairs.encodedSize(member.count) + 1 + PackedScore.length(score) }
        var pairs = PackedPairs(base: PackedPairs.allocate(bytes: bytes))
        forEach { member, score in
            PackedScore.withEncoding(score) { encoded in member.withUnsafeBytes { pairs.appendReserved($0, encoded) } }
        }
        storage = UInt(bitPattern: pairs.base)
        form.release()
        didMutate()
    }
}

/// FNV-1a over `bytes` (64-bit): a cheap hash for the repeat check of a small set's members.
@inline(__always) private func fnv1a(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
    return hash
}

/// A score in the packed form: an element whose length says how to read it. 0 bytes: 0 (+0 only); 1, 2, 4:
/// an integer that fits that many bytes, little-endian; 8: the double's bits, little-endian.
enum PackedScore {
    /// The encoding's length for `score`.
    @inline(__always) static func length(_ score: Double) -> Int {
        if score == 0 { return score.sign == .plus ? 0 : 8 }
        guard let v = Int32(exactly: score) else { return 8 }
        return Int8(exactly: v) != nil ? 1 : Int16(exactly: v) != nil ? 2 : 4
    }

    /// Calls `body` with `score`'s encoding (on the stack).
    @inline(__always) static func withEncoding<R>(_ score: Double, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        var word: UInt64 = 0
        return try withUnsafeMutableBytes(of: &word) { raw in
            let n = length(score)
            switch n {
            case 0: break
            case 1: raw.storeBytes(of: Int8(score), as: Int8.self)
            case 2: raw.storeBytes(of: Int16(score).littleEndian, as: Int16.self)
            case 4: raw.storeBytes(of: Int32(score).littleEndian, as: Int32.self)
            default: raw.storeBytes(of: score.bitPattern.littleEndian, as: UInt64.self)
            }
            return try body(UnsafeRawBufferPointer(rebasing: raw[0..<n]))
        }
    }

    @inline(__always) static func decode(_ bytes: UnsafeRawBufferPointer) -> Double {
        switch bytes.count {
        case 0: return 0
        case 1: return Double(bytes.load(as: Int8.self))
        case 2: return Double(Int16(littleEndian: bytes.loadUnaligned(as: Int16.self)))
        case 4: return Double(Int32(littleEndian: bytes.loadUnaligned(as: Int32.self)))
        default: return Double(bitPattern: UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self)))
        }
    }
}

/// Walks of the packed form, by byte offset from the first pair (see SortedSet's header).
extension PackedPairs {
    /// The score of the pair at `offset`.
    @inline(__always) fileprivate func score(at offset: Int) -> Double { PackedScore.decode(pair(at: offset).value) }

    /// The offset of the pair at `rank` (`used` for `count`).
    fileprivate func offset(ofRank rank: Int) -> Int {
        var p = 0
        for _ in 0..<rank { p = offset(after: p) }
        return p
    }

    /// Where (`score`, `member`) goes: the offset of the first pair above it (`used` when none is).
    fileprivate func insertionOffset(_ member: UnsafeRawBufferPointer, _ score: Double) -> Int {
        var at = used
        walk { offset, m, existing in
            if existing > score || (existing == score && compareBytes(m, member) > 0) {
                at = offset
                return false
            }
            return true
        }
        return at
    }

    /// Calls `body` with the offset, member and score of each pair from `start` (an offset) in order, until it
    /// returns false.
    fileprivate func walk(from start: Int = 0, _ body: (Int, UnsafeRawBufferPointer, Double) -> Bool) {
        let end = used
        var p = start
        while p < end {
            let (m, s) = pair(at: p)
            if !body(p, m, PackedScore.decode(s)) { return }
            p = offset(after: p)
        }
    }

    /// Calls `body` with the offsets of the pairs at `ranks`, on the stack (for reverse walks).
    fileprivate func withOffsets<R>(of ranks: Range<Int>, _ body: (UnsafeBufferPointer<Int32>) -> R) -> R {
        withUnsafeTemporaryAllocation(of: Int32.self, capacity: ranks.count) { offsets in
            var p = offset(ofRank: ranks.lowerBound)
            for i in 0..<ranks.count {
                offsets[i] = Int32(p)
                p = offset(after: p)
            }
            return body(UnsafeBufferPointer(offsets))
        }
    }
}

// MARK: - Bounds

extension SortedSet {
    /// A score interval as in ZRANGEBYSCORE / ZCOUNT: `(` makes an end exclusive; ends may be infinite.
    public struct ScoreRange: Equatable {
        public var min: Double
        public var minExclusive: Bool
        public var max: Double
        public var maxExclusive: Bool

        public init(min: Double, minExclusive: Bool = false, max: Double, maxExclusive: Bool = false) {
            self.min = min
            self.minExclusive = minExclusive
            self.max = max
            self.maxExclusive = maxExclusive
        }

        /// True when no score can be in the range (Redis checks this first and answers an empty reply).
        public var isEmpty: Bool { min > max || (min == max && (minExclusive || maxExclusive)) }

        public func contains(_ score: Double) -> Bool {
            (minExclusive ? score > min : score >= min) && (maxExclusive ? score < max : score <= max)
        }
    }

    /// One end of a ZRANGEBYLEX interval: `-`, `+`, `[member` or `(member`.
    public enum LexBound: Equatable {
        case minusInfinity
        case plusInfinity
        case inclusive(ByteString)
        case exclusive(ByteString)

        /// Parses Redis's syntax; nil means Redis's "ERR min or max not valid string range item".
        public init?(parsing bytes: UnsafeRawBufferPointer) {
            guard let first = bytes.first else { return nil }
            switch first {
            case UInt8(ascii: "-") where bytes.count == 1: self = .minusInfinity
            case UInt8(ascii: "+") where bytes.count == 1: self = .plusInfinity
            case UInt8(ascii: "["): self = .inclusive(ByteString(UnsafeRawBufferPointer(rebasing: bytes.dropFirst())))
            case UInt8(ascii: "("): self = .exclusive(ByteString(UnsafeRawBufferPointer(rebasing: bytes.dropFirst())))
            default: return nil
            }
        }
    }

    /// A member interval for ZRANGEBYLEX / ZLEXCOUNT / ZREMRANGEBYLEX.
    public struct LexRange: Equatable {
        public var min: LexBound
        public var max: LexBound

        public init(min: LexBound, max: LexBound) {
            self.min = min
            self.max = max
        }
    }

    /// Normalizes Redis's inclusive `start`/`end` indexes (negative = from the end) as ZRANGE,
    /// ZREMRANGEBYRANK and friends do, and returns them as ascending ranks. With `reverse`, index 0 is the
    /// highest element (ZREVRANGE), so `0, 0, reverse: true` is `count-1 ..< count`.
    public static func rankRange(start: Int, end: Int, count: Int, reverse: Bool = false) -> Range<Int> {
        var start = start, end = end
        if start < 0 { start = count &+ start }
        if end < 0 { end = count &+ end }
        if start < 0 { start = 0 }
        if start > end || start >= count { return 0..<0 }
        if end >= count { end = count - 1 }
        return reverse ? (count - 1 - end)..<(count - start) : start..<(end + 1)
    }

    /// Applies LIMIT offset count to ascending `ranks` walked in the given direction; a negative `limit` means
    /// no limit and a negative `offset` selects nothing, as in Redis.
    public static func window(_ ranks: Range<Int>, reverse: Bool, offset: Int, limit: Int) -> Range<Int> {
        if offset < 0 || offset >= ranks.count || limit == 0 { return 0..<0 }
        let available = ranks.count - offset
        let taken = limit < 0 ? available : Swift.min(available, limit)
        return reverse ? (ranks.upperBound - offset - taken)..<(ranks.upperBound - offset)
                       : (ranks.lowerBound + offset)..<(ranks.lowerBound + offset + taken)
    }
}

// MARK: - Members and scores

extension SortedSet {
    /// The member's score (ZSCORE).
    /// - Complexity: O(1); O(n) packed
    public func score(of member: UnsafeRawBufferPointer) -> Double? {
        if let form = treeForm { return form.index.find(member) }
        let pairs = packed
        return pairs.find(member).map { pairs.score(at: $0) }
    }

    public func score(of member: ByteString) -> Double? { member.withUnsafeBytes { score(of: $0) } }

    public func contains(_ member: UnsafeRawBufferPointer) -> Bool { score(of: member) != nil }

    /// Sets `member`'s score, adding the member if needed. `updated` is true when an existing member's
    /// score changed (ZADD CH counts added + updated).
    /// - Complexity: O(log n); O(n) packed
    @discardableResult
    public func set(member: ByteString, score: Double) -> (added: Bool, updated: Bool) {
        let result = member.withUnsafeBytes { bytes in upsert(bytes, stored: member) { _ in score } }
        return (result.added, result.updated)
    }

    @discardableResult
    public func set(member: UnsafeRawBufferPointer, score: Double) -> (added: Bool, updated: Bool) {
        let result = upsert(member, stored: nil) { _ in score }
        return (result.added, result.updated)
    }

    /// The one generic write (ZADD with NX/XX/GT/LT/INCR, ZINCRBY): `newScore` gets the current score (nil when
    /// the member is absent) and returns the score to store, or nil to leave the set unchanged. It must not
    /// return NaN; it may set `skiplistEncoded` (the write then goes to the new form). Returns whether the member was added or its score changed, and its score afterwards (nil if
    /// it is absent afterwards).
    /// - Complexity: O(log n); O(n) packed
    @discardableResult
    public func upsert(member: UnsafeRawBufferPointer,
                       _ newScore: (_ current: Double?) -> Double?) -> (added: Bool, updated: Bool, score: Double?) {
        upsert(member, stored: nil, newScore)
    }

    /// `stored`, when given, is `bytes` as a ByteString already (saves a copy when adding).
    private func upsert(_ bytes: UnsafeRawBufferPointer, stored: ByteString?,
                        _ newScore: (Double?) -> Double?) -> (added: Bool, updated: Bool, score: Double?) {
        guard let form = treeForm else { return upsertPacked(bytes, newScore) }
        let current = form.index.find(bytes)
        guard let score = newScore(current) else { return (false, false, current) }
        precondition(!score.isNaN, "SortedSet: NaN score")
        if let current = current {
            if current == score { return (false, false, current) }
            form.tree.updateScore(member: bytes, from: current, to: score)
            form.index.setValue(score, forExisting: bytes)
            didMutate()
            return (false, true, score)
        }
        let member = stored ?? ByteString(bytes)
        form.tree.insert(member: member, score: score)
        form.index.insert(score, forNewKey: member)
        form.memberHeapBytes += member.heapBytes
        didMutate()
        return (true, false, score)
    }

    /// `upsert` of the packed form: a changed score moves the pair (out, then in at its new place).
    private func upsertPacked(_ bytes: UnsafeRawBufferPointer,
                              _ newScore: (Double?) -> Double?) -> (added: Bool, updated: Bool, score: Double?) {
        var pairs = packed
        let found = pairs.find(bytes)
        let current = found.map { pairs.score(at: $0) }
        guard let score = newScore(current) else { return (false, false, current) }
        precondition(!score.isNaN, "SortedSet: NaN score")
        // `newScore` may have converted the set (zsetAdd's willAddMember, before an addition breaks a limit):
        // `pairs` is gone, and the write goes to the tree.
        if treeForm != nil { return upsert(bytes, stored: nil) { _ in score } }
        if let current, current == score { return (false, false, current) }
        if let found { pairs.removePair(at: found) }
        let at = pairs.insertionOffset(bytes, score)
        PackedScore.withEncoding(score) { pairs.insert(bytes, $0, at: at) }
        store(pairs)
        didMutate()
        return (current == nil, current != nil, score)
    }

    /// Fills this empty set with `elements`, which must be in strictly ascending (score, member) order with no
    /// member twice and no NaN score: the order an RDB holds a listpack's elements in (a skiplist's reversed).
    /// The packed form is written in one pass into one exactly sized buffer; the tree is linked balanced in
    /// O(n) and the index sized once, instead of n inserts with rotations and rehashes. Returns false, leaving
    /// the set empty, when the elements are out of order or repeat a member; the caller then adds them one at
    /// a time (and reports a duplicate as it finds it).
    public func fillAscending(_ elements: [Element]) -> Bool {
        precondition(isEmpty, "SortedSet.fillAscending: the set is not empty")
        guard let form = treeForm else { return fillPacked(elements) }
        guard form.tree.buildAscending(elements) else { return false }
        form.index.reserveCapacity(elements.count)
        for e in elements {
            guard form.index.insertIfNew(e.score, forKey: e.member) else {
                removeAll()
                return false
            }
            form.memberHeapBytes += e.member.heapBytes
        }
        didMutate()
        return true
    }

    /// `fillAscending` of the packed form: the elements through a `PackedLoader`, into one exactly sized buffer.
    private func fillPacked(_ elements: [Element]) -> Bool {
        var bytes = 0
        for e in elements { bytes += PackedPairs.encodedSize(e.member.count) + 1 + PackedScore.length(e.score) }
        let loader = PackedLoader(capacity: bytes)
        for e in elements {
            guard e.member.withUnsafeBytes({ loader.append($0, e.score) }) else { return false }
        }
        guard let pairs = loader.take() else { return false }
        free(packedBase)
        store(pairs)
        didMutate()
        return true
    }

    /// Whether two of `n` members may be equal: each member's hash (`hash(i)`, from `memberHash`) goes into an
    /// open-addressed table on the stack, and true means two hashes are equal, which the caller settles by
    /// comparing members. O(n), no allocation for the sizes a file's listpack holds.
    fileprivate static func mayRepeat(_ n: Int, _ hash: (Int) -> UInt64) -> Bool {
        if n < 2 { return false }
        var capacity = 16
        while capacity < 2 * n { capacity <<= 1 }
        let mask = capacity - 1
        return withUnsafeTemporaryAllocation(of: UInt64.self, capacity: capacity) { table in
            table.initialize(repeating: 0)
            for k in 0..<n {
                let h = hash(k) | 1
                var i = Int(truncatingIfNeeded: h) & mask
                while table[i] != 0 {
                    if table[i] == h { return true }
                    i = (i + 1) & mask
                }
                table[i] = h
            }
            return false
        }
    }

    /// A member's hash for `mayRepeat` among `n`: FNV-1a up to 128 members (the default limit), cheap on short
    /// members (a crafted file can make its hashes collide, which only costs the exact check); beyond, SipHash
    /// with the process seed, which keeps the probing linear.
    @inline(__always) fileprivate static func memberHash(_ member: UnsafeRawBufferPointer, among n: Int) -> UInt64 {
        n <= 128 ? fnv1a(member) : hashBytes(member, seed: .process)
    }

    /// Removes `member` (ZREM). Returns false if it was not there.
    /// - Complexity: O(log n); O(n) packed
    @discardableResult
    public func remove(member: UnsafeRawBufferPointer) -> Bool {
        guard let form = treeForm else {
            var pairs = packed
            guard let found = pairs.find(member) else { return false }
            pairs.removePair(at: found)
            store(pairs)
            didMutate()
            return true
        }
        guard let score = form.index.removeValue(forKey: member) else { return false }
        if member.count > ByteString.inlineCapacity { form.memberHeapBytes -= mallocSize(32 + member.count) }
        let removed = form.tree.remove(member: member, score: score)
        precondition(removed, "SortedSet: member in the index but not in the tree")
        didMutate()
        return true
    }

    @discardableResult
    public func remove(member: ByteString) -> Bool { member.withUnsafeBytes { remove(member: $0) } }

    public func removeAll() {
        guard let form = treeForm else {
            var pairs = packed
            pairs.removePairs(from: 0, to: pairs.used, count: pairs.count)
            store(pairs)
            return
        }
        form.tree.removeAll()
        form.index.removeAll()
        form.memberHeapBytes = 0
    }

    /// Removes an element already detached from the tree from the index.
    private func dropFromIndex(_ form: TreeForm, _ element: Element) {
        form.memberHeapBytes -= element.member.heapBytes
        let score = element.member.withUnsafeBytes { form.index.removeValue(forKey: $0) }
        precondition(score != nil, "SortedSet: member in the tree but not in the index")
    }
}

// MARK: - Loading packed pairs

extension SortedSet {
    /// Builds a packed set from pairs in ascending order, written straight into the buffer: an RDB's listpack
    /// in the order the file holds them (no element array, no ByteString per member), and `fillAscending`'s
    /// elements. The buffer starts at `capacity` bytes (the listpack's size, which its pairs usually fit, or
    /// the elements' exact size) and grows when needed; order is checked pair by pair, repeats at the end.
    final class PackedLoader {
        @exclusivity(unchecked) private var pairs: PackedPairs
        /// Bytes malloc gave the buffer (headers included).
        @exclusivity(unchecked) private var capacity: Int
        /// The offset of the last pair appended, -1 before the first.
        @exclusivity(unchecked) private var last = -1

        init(capacity: Int) {
            pairs = PackedPairs(base: PackedPairs.allocate(bytes: capacity))
            self.capacity = cs_malloc_usable_size(pairs.base)
        }

        /// The pairs were handed over (`take`): the loader is spent.
        @exclusivity(unchecked) private var taken = false

        deinit { if !taken { free(pairs.base) } }

        var count: Int { pairs.count }

        /// Appends a pair; false (nothing appended) when it is not above the last one.
        func append(_ member: UnsafeRawBufferPointer, _ score: Double) -> Bool {
            if last >= 0 {
                let (m, s) = pairs.pair(at: last)
                let previous = PackedScore.decode(s)
                guard previous < score || (previous == score && compareBytes(m, member) < 0) else { return false }
            }
            let size = PackedPairs.encodedSize(member.count) + 1 + PackedScore.length(score)
            if pairs.byteCount + size > capacity {
                pairs.reserve(additional: Swift.max(size, pairs.used))
                capacity = cs_malloc_usable_size(pairs.base)
            }
            last = pairs.used
            PackedScore.withEncoding(score) { pairs.appendReserved(member, $0) }
            return true
        }

        /// The set, or nil when a member comes twice (the loader is spent either way).
        func finish() -> SortedSet? {
            guard let pairs = take() else { return nil }
            let set = SortedSet(owning: pairs)
            set.didMutate()
            return set
        }

        /// The pairs, handed over (the caller owns the buffer), or nil when a member comes twice: ascending
        /// order rules that out among equal scores only.
        fileprivate func take() -> PackedPairs? {
            let pairs = self.pairs
            let n = pairs.count
            let repeats = pairs.withOffsets(of: 0..<n) { offsets in
                SortedSet.mayRepeat(n) { i in SortedSet.memberHash(pairs.pair(at: Int(offsets[i])).field, among: n) }
                    && Set(offsets.lazy.map { ByteString(pairs.pair(at: Int($0)).field) }).count != n
            }
            if repeats { return nil }
            var owned = pairs
            owned.shrinkIfWasteful()
            taken = true
            return owned
        }
    }
}

// MARK: - Ranks

extension SortedSet {
    /// The member's rank (ZRANK; ZREVRANK with `reverse`), or nil if it is absent.
    /// - Complexity: O(log n); O(n) packed
    public func rank(of member: UnsafeRawBufferPointer, reverse: Bool = false) -> Int? {
        rankAndScore(of: member, reverse: reverse)?.rank
    }

    /// The member's rank and score (ZRANK ... WITHSCORE), or nil if it is absent.
    /// - Complexity: O(log n); O(n) packed
    public func rankAndScore(of member: UnsafeRawBufferPointer, reverse: Bool = false) -> (rank: Int, score: Double)? {
        let rank: Int
        let score: Double
        if let form = treeForm {
            guard let s = form.index.find(member), let r = form.tree.rank(member: member, score: s) else { return nil }
            (rank, score) = (r, s)
        } else {
            var found: (Int, Double)? = nil
            var r = 0
            packed.walk { _, m, s in
                if bytesEqual(m, member) { found = (r, s); return false }
                r += 1
                return true
            }
            guard let found else { return nil }
            (rank, score) = found
        }
        return (reverse ? count - 1 - rank : rank, score)
    }

    /// The element at `rank` (counted from the highest when `reverse`), or nil when out of range.
    /// - Complexity: O(log n); O(n) packed
    public func element(atRank rank: Int, reverse: Bool = false) -> Element? {
        guard rank >= 0 && rank < count else { return nil }
        let r = reverse ? count - 1 - rank : rank
        guard let form = treeForm else {
            let pairs = packed
            let (member, score) = pairs.pair(at: pairs.offset(ofRank: r))
            return (ByteString(member), PackedScore.decode(score))
        }
        let node = form.tree.node(atRank: r)
        return (form.tree.member(node), form.tree.score(node))
    }

    /// `SortedSet.rankRange(start:end:count:reverse:)` for this set.
    public func rankRange(start: Int, end: Int, reverse: Bool = false) -> Range<Int> {
        SortedSet.rankRange(start: start, end: end, count: count, reverse: reverse)
    }

    /// Ascending ranks of the elements whose score is in `range`; `.count` is ZCOUNT.
    /// - Complexity: O(log n); O(n) packed
    public func rankRange(in range: ScoreRange) -> Range<Int> {
        if range.isEmpty { return 0..<0 }
        guard let form = treeForm else {
            // Scores ascend: `low` pairs lie below the range, `high` pairs are at or below its maximum.
            var low = 0, high = 0
            packed.walk { _, _, score in
                if !(range.maxExclusive ? score < range.max : score <= range.max) { return false }
                high += 1
                if !(range.minExclusive ? score > range.min : score >= range.min) { low += 1 }
                return true
            }
            return low < high ? low..<high : 0..<0
        }
        return form.tree.ranks(scoreFrom: range.min, minExclusive: range.minExclusive,
                               to: range.max, maxExclusive: range.maxExclusive)
    }

    /// Ascending ranks of the elements whose member is in `range` (meaningful when all scores are equal, as
    /// Redis documents); `.count` is ZLEXCOUNT. A packed set is scanned as Redis scans a listpack, from the
    /// lowest element for a forward walk and from the highest for a `reverse` one (see the file header).
    /// - Complexity: O(log n); O(n) packed
    public func rankRange(in range: LexRange, reverse: Bool = false) -> Range<Int> {
        func bytes(_ bound: LexBound) -> (ByteString?, Bool)? {
            switch bound {
            case .minusInfinity, .plusInfinity: return (nil, false)
            case .inclusive(let m): return (m, false)
            case .exclusive(let m): return (m, true)
            }
        }
        // An interval starting at + or ending at - is empty, as is one whose ends cross.
        if range.min == .plusInfinity || range.max == .minusInfinity { return 0..<0 }
        let (minMember, minExclusive) = bytes(range.min)!
        let (maxMember, maxExclusive) = bytes(range.max)!
        return withOptionalBytes(minMember) { lo in
            withOptionalBytes(maxMember) { hi in
                if let form = treeForm {
                    return form.tree.ranks(memberFrom: lo, minExclusive: minExclusive, to: hi, maxExclusive: maxExclusive)
                }
                return packedLexRanks(lo, minExclusive, hi, maxExclusive, reverse: reverse)
            }
        }
    }

    /// Redis's zzlFirstInLexRange / zzlLastInLexRange and the walk after them, over the packed pairs.
    private func packedLexRanks(_ lo: UnsafeRawBufferPointer?, _ minExclusive: Bool,
                                _ hi: UnsafeRawBufferPointer?, _ maxExclusive: Bool, reverse: Bool) -> Range<Int> {
        let n = count
        if n == 0 { return 0..<0 }
        if let lo, let hi {
            let c = compareBytes(lo, hi)
            if c > 0 || (c == 0 && (minExclusive || maxExclusive)) { return 0..<0 }
        }
        func aboveMin(_ m: UnsafeRawBufferPointer) -> Bool {
            guard let lo else { return true }
            let c = compareBytes(m, lo)
            return minExclusive ? c > 0 : c >= 0
        }
        func belowMax(_ m: UnsafeRawBufferPointer) -> Bool {
            guard let hi else { return true }
            let c = compareBytes(m, hi)
            return maxExclusive ? c < 0 : c <= 0
        }
        let pairs = packed
        return pairs.withOffsets(of: 0..<n) { offsets in
            func member(_ i: Int) -> UnsafeRawBufferPointer { pairs.pair(at: Int(offsets[i])).field }
            // zzlIsInLexRange: the highest member reaches the minimum and the lowest the maximum.
            guard aboveMin(member(n - 1)) && belowMax(member(0)) else { return 0..<0 }
            if reverse {
                var last = n - 1
                while last >= 0 && !belowMax(member(last)) { last -= 1 }
                guard last >= 0 && aboveMin(member(last)) else { return 0..<0 }
                var first = last
                while first > 0 && aboveMin(member(first - 1)) { first -= 1 }
                return first..<(last + 1)
            }
            var first = 0
            while first < n && !aboveMin(member(first)) { first += 1 }
            guard first < n && belowMax(member(first)) else { return 0..<0 }
            var end = first + 1
            while end < n && belowMax(member(end)) { end += 1 }
            return first..<end
        }
    }

    public func count(in range: ScoreRange) -> Int { rankRange(in: range).count }
    public func count(in range: LexRange) -> Int { rankRange(in: range).count }
}

private func withOptionalBytes<R>(_ s: ByteString?, _ body: (UnsafeRawBufferPointer?) -> R) -> R {
    guard let s = s else { return body(nil) }
    return s.withUnsafeBytes { body($0) }
}

// MARK: - Walks

extension SortedSet {
    /// Calls `body` for the elements at ascending `ranks`, lowest first, or highest first when `reverse`
    /// (ZRANGE, ZREVRANGE and every BYSCORE/BYLEX variant once its bounds are turned into ranks).
    /// - Complexity: O(log n + ranks.count); O(n) packed
    public func forEach(inRanks ranks: Range<Int>, reverse: Bool = false, _ body: (ByteString, Double) -> Void) {
        let ranks = ranks.clamped(to: 0..<count)
        var remaining = ranks.count
        if remaining == 0 { return }
        guard let form = treeForm else {
            let pairs = packed
            if reverse {
                pairs.withOffsets(of: ranks) { offsets in
                    for offset in offsets.reversed() {
                        let (member, score) = pairs.pair(at: Int(offset))
                        body(ByteString(member), PackedScore.decode(score))
                    }
                }
            } else {
                pairs.walk(from: pairs.offset(ofRank: ranks.lowerBound)) { _, member, score in
                    body(ByteString(member), score)
                    remaining -= 1
                    return remaining > 0
                }
            }
            return
        }
        form.tree.forEach(fromRank: reverse ? ranks.upperBound - 1 : ranks.lowerBound, reverse: reverse) { node in
            body(form.tree.member(node), form.tree.score(node))
            remaining -= 1
            return remaining > 0
        }
    }

    /// Every element in ascending order.
    public func forEach(_ body: (ByteString, Double) -> Void) { forEach(inRanks: 0..<count, body) }

    /// ZRANGEBYSCORE / ZREVRANGEBYSCORE with LIMIT (negative `limit` = all).
    public func forEach(in range: ScoreRange, reverse: Bool = false, offset: Int = 0, limit: Int = -1,
                        _ body: (ByteString, Double) -> Void) {
        let ranks = SortedSet.window(rankRange(in: range), reverse: reverse, offset: offset, limit: limit)
        forEach(inRanks: ranks, reverse: reverse, body)
    }

    /// ZRANGEBYLEX / ZREVRANGEBYLEX with LIMIT (negative `limit` = all).
    public func forEach(in range: LexRange, reverse: Bool = false, offset: Int = 0, limit: Int = -1,
                        _ body: (ByteString, Double) -> Void) {
        let ranks = SortedSet.window(rankRange(in: range, reverse: reverse), reverse: reverse, offset: offset, limit: limit)
        forEach(inRanks: ranks, reverse: reverse, body)
    }

    /// Calls `body(member, score)` for each element with `min <= score < max`, in ascending order, until
    /// `body` returns false (GEOSEARCH's cell scans; see AVLTree+ScoreWalk.swift).
    func forEach(scoreFrom min: Double, below max: Double, _ body: (ByteString, Double) -> Bool) {
        if let form = treeForm { return form.tree.forEach(scoreFrom: min, below: max, body) }
        packed.walk { _, member, score in
            if score < min { return true }
            return score < max && body(ByteString(member), score)
        }
    }

    /// The elements at ascending `ranks`, in walk order (for ZRANGESTORE, tests).
    public func elements(inRanks ranks: Range<Int>, reverse: Bool = false) -> [Element] {
        var result: [Element] = []
        result.reserveCapacity(ranks.clamped(to: 0..<count).count)
        forEach(inRanks: ranks, reverse: reverse) { result.append(($0, $1)) }
        return result
    }
}

// MARK: - Bulk removal and pops

extension SortedSet {
    /// Removes the elements at ascending `ranks` (ZREMRANGEBYRANK and, after turning bounds into ranks,
    /// BYSCORE / BYLEX). Returns how many were removed.
    /// - Complexity: O(k log n) for k removed elements; O(n) packed
    @discardableResult
    public func removeElements(inRanks ranks: Range<Int>) -> Int {
        let ranks = ranks.clamped(to: 0..<count)
        if ranks.isEmpty { return 0 }
        if let form = treeForm {
            for _ in ranks { dropFromIndex(form, form.tree.remove(atRank: ranks.lowerBound)) }
        } else {
            var pairs = packed
            let start = pairs.offset(ofRank: ranks.lowerBound)
            var end = start
            for _ in ranks { end = pairs.offset(after: end) }
            pairs.removePairs(from: start, to: end, count: ranks.count)
            store(pairs)
        }
        didMutate()
        return ranks.count
    }

    @discardableResult
    public func removeElements(in range: ScoreRange) -> Int { removeElements(inRanks: rankRange(in: range)) }

    @discardableResult
    public func removeElements(in range: LexRange) -> Int { removeElements(inRanks: rankRange(in: range)) }

    /// Removes and returns the lowest element (ZPOPMIN).
    /// - Complexity: O(log n); O(n) packed
    public func popMin() -> Element? { pop(atRank: 0) }

    /// Removes and returns the highest element (ZPOPMAX).
    public func popMax() -> Element? { pop(atRank: count - 1) }

    private func pop(atRank rank: Int) -> Element? {
        guard !isEmpty else { return nil }
        let element: Element
        if let form = treeForm {
            element = form.tree.remove(atRank: rank)
            dropFromIndex(form, element)
        } else {
            var pairs = packed
            let offset = pairs.offset(ofRank: rank)
            let (member, score) = pairs.pair(at: offset)
            element = (ByteString(member), PackedScore.decode(score))
            pairs.removePair(at: offset)
            store(pairs)
        }
        didMutate()
        return element
    }
}

// MARK: - Random members and scan

extension SortedSet {
    /// A uniformly random element (ZRANDMEMBER without count, and with a negative count, repeatedly).
    /// Drawn by rank, so it is exactly uniform, unlike sampling hash buckets.
    /// - Complexity: O(log n)
    public func randomElement<G: RandomNumberGenerator>(using generator: inout G) -> Element? {
        guard !isEmpty else { return nil }
        return element(atRank: Int.random(in: 0..<count, using: &generator))
    }

    /// `min(k, count)` distinct random elements in random order (ZRANDMEMBER with a positive count).
    /// Uses Floyd's sampling over ranks.
    /// - Complexity: O(k log n)
    public func randomDistinctElements<G: RandomNumberGenerator>(count k: Int, using generator: inout G) -> [Element] {
        let n = count
        if k <= 0 || n == 0 { return [] }
        if k >= n {
            var all = elements(inRanks: 0..<n)
            all.shuffle(using: &generator)
            return all
        }
        var chosen = Set<Int>(minimumCapacity: k)
        var order: [Int] = []
        order.reserveCapacity(k)
        for j in (n - k)..<n {
            let t = Int.random(in: 0...j, using: &generator)
            let pick = chosen.contains(t) ? j : t
            chosen.insert(pick)
            order.append(pick)
        }
        order.shuffle(using: &generator)
        return order.map { element(atRank: $0)! }
    }

    /// ZSCAN: visits about `count` elements from `cursor` (0 starts) and returns the next cursor (0 = done).
    /// The index's reverse-binary bucket scan gives Redis's guarantee: every member present for the whole
    /// scan is returned at least once, across rehashing. Like Redis, one call visits buckets until `count`
    /// elements were emitted or `count * 10` buckets were visited.
    /// A packed set is visited whole, and the cursor returned is 0 (Redis's ZSCAN of a listpack).
    public func scan(cursor: UInt64, count: Int, _ body: (ByteString, Double) -> Void) -> UInt64 {
        guard let form = treeForm else {
            forEach(body)
            return 0
        }
        var cursor = cursor
        var emitted = 0
        var budget = Swift.max(1, count) * 10
        repeat {
            cursor = form.index.table.scan(cursor: cursor) { member, score in
                body(member, score)
                emitted += 1
            }
            budget -= 1
        } while cursor != 0 && budget > 0 && emitted < count
        return cursor
    }
}

// MARK: - Memory and invariants

extension SortedSet {
    /// MEMORY USAGE (`Value.memoryUsage`): this object and its packed buffer; or the tree form, its node pool
    /// and the member index, with the long members' buffers (shared by tree and index, counted once) sampled
    /// from the index.
    func memoryUsage(samples: Int) -> Int {
        let own = allocationSize(of: self)
        guard let form = treeForm else { return own + allocationSize(packedBase) }
        return own + allocationSize(of: form) + form.tree.allocatedBytes
            + form.index.table.memoryUsage(samples: samples) { member, _ in member.allocatedBytes }
    }

    /// The work of freeing this set, in Redis's lazyfree units (Redis's lazyfreeGetFreeEffort: 1 for a listpack,
    /// the elements for a skiplist): callers free sets above LAZYFREE_THRESHOLD (64) on the background pool.
    public var freeEffort: Int { treeForm == nil ? 1 : count }

    /// Full invariant check after every mutation when built with `-D NEEDLETAIL_CHECK_INVARIANTS`
    /// (O(n) each: tests and debugging only); nothing otherwise.
    @inline(__always) func didMutate() {
        #if NEEDLETAIL_CHECK_INVARIANTS
        checkInvariants()
        #endif
    }

    /// Packed: pairs that decode, end exactly at `used`, number `count`, ascend strictly by (score, member)
    /// with no NaN and no member twice. Tree: the tree's invariants plus agreement between tree and index
    /// (same members, same scores, same count).
    public func invariantViolation() -> String? {
        guard let form = treeForm else { return packedInvariantViolation() }
        if let problem = form.tree.invariantViolation() { return problem }
        if form.index.count != form.tree.count { return "index has \(form.index.count) members, tree \(form.tree.count)" }
        var problem: String? = nil
        var heap = 0
        forEach { member, treeScore in
            guard problem == nil else { return }
            heap += member.heapBytes
            guard let indexed = score(of: member) else { problem = "\(member) in the tree only"; return }
            if indexed != treeScore || indexed.sign != treeScore.sign {
                problem = "\(member): tree score \(treeScore), index score \(indexed)"
            }
        }
        if problem == nil && heap != form.memberHeapBytes {
            problem = "memberHeapBytes \(form.memberHeapBytes), actual \(heap)"
        }
        return problem
    }

    private func packedInvariantViolation() -> String? {
        let pairs = packed
        if cs_malloc_usable_size(pairs.base) < pairs.byteCount {
            return "packed buffer smaller than its contents"
        }
        var walked = 0
        var p = 0
        var previous: (member: ByteString, score: Double)? = nil
        var members = Set<ByteString>()
        while p < pairs.used {
            let (member, encoded) = pairs.pair(at: p)
            guard [0, 1, 2, 4, 8].contains(encoded.count) else { return "pair \(walked): a \(encoded.count)-byte score" }
            let score = PackedScore.decode(encoded)
            if score.isNaN { return "pair \(walked): NaN score" }
            if PackedScore.length(score) != encoded.count { return "pair \(walked): score \(score) not in its shortest form" }
            let m = ByteString(member)
            if let previous, !(previous.score < score || (previous.score == score && previous.member < m)) {
                return "pair \(walked) (\(m), \(score)) not above (\(previous.member), \(previous.score))"
            }
            if !members.insert(m).inserted { return "member \(m) twice" }
            previous = (m, score)
            p = pairs.offset(after: p)
            walked += 1
        }
        if p != pairs.used { return "pairs end at \(p), used is \(pairs.used)" }
        if walked != pairs.count { return "\(walked) pairs, count is \(pairs.count)" }
        return nil
    }

    public func checkInvariants() {
        if let problem = invariantViolation() { preconditionFailure("SortedSet invariant: \(problem)") }
    }
}

// MARK: - Member index

extension SortedSet {
    /// member -> score. A thin wrapper so the storage behind it changes in one place: a Swift Dictionary
    /// until Storage/HashTable.swift (our incrementally rehashing table with reverse-binary SCAN cursors) lands.
    /// member -> score, in the project's incrementally rehashing table (one pooled entry per member:
    /// 8-byte link/hash, 24-byte member, 8-byte score).
    struct MemberIndex {
        private(set) var table = HashTable<Double>()

        var count: Int { table.count }

        func find(_ member: UnsafeRawBufferPointer) -> Double? { table.find(member) }

        /// Adds a member known to be absent.
        func insert(_ score: Double, forNewKey member: ByteString) { table.updateValue(score, forKey: member) }

        func reserveCapacity(_ n: Int) { table.reserveCapacity(n) }

        /// Sets a member's score; returns whether the member was new.
        func insertIfNew(_ score: Double, forKey member: ByteString) -> Bool {
            table.updateValue(score, forKey: member) == nil
        }

        /// Changes the score of a member known to be present.
        func setValue(_ score: Double, forExisting member: UnsafeRawBufferPointer) {
            table.withValue(forKey: member) { $0 = score }
        }

        func removeValue(forKey member: UnsafeRawBufferPointer) -> Double? {
            table.removeValue(forKey: member)?.value
        }

        func removeAll() { table.removeAll() }

    }
}
