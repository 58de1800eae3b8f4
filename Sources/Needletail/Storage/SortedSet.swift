/// A Redis sorted set: members (byte strings, unique) each with a score (Double, never NaN).
///
/// Two structures hold the same elements, as in Redis's skiplist encoding:
/// - `tree`, an `AVLTree` ordered by (score, member) with subtree counts, answers everything ordered:
///   ranks, ranges by rank/score/lex, counts, pops, in O(log n) plus O(1) per element returned;
/// - `index`, member -> score in a hash table, answers ZSCORE / ZMSCORE and membership in O(1), and gives
///   the score needed to find a member in the tree (ZRANK, ZREM, ZADD updates).
/// A member's bytes are stored once when longer than 22 bytes (both sides share one `ByteStorage`);
/// short members are inline in the tree node and in the index entry. See AVLTree.swift for the node layout.
///
/// Ranks in this API are 0-based and ascending unless a method takes `reverse:`; rank ranges are
/// `Range<Int>` in ascending ranks, and a `reverse: true` walk visits such a range from its top down.
/// This is a class so the keyspace holds a reference and mutates in place (no copy-on-write of the tree), and
/// so a big set can be handed to a background thread to be freed.
public final class SortedSet {
    public typealias Element = (member: ByteString, score: Double)

    @exclusivity(unchecked) var tree = AVLTree()
    let index = MemberIndex()
    /// Heap bytes of members longer than the inline capacity (shared by tree and index, counted once).
    @exclusivity(unchecked) var memberHeapBytes = 0
    /// Whether redis-server would hold this set in its "skiplist" encoding rather than "listpack". Redis
    /// converts one way only, so this is history, not a function of the contents; the Z* commands keep it
    /// (see "Redis's encodings" in Commands/SortedSets.swift) for OBJECT ENCODING and -0 scores.
    public var skiplistEncoded = false

    public init() {}

    /// - Complexity: O(1)
    public var count: Int { tree.count }
    public var isEmpty: Bool { tree.isEmpty }
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
    /// - Complexity: O(1)
    public func score(of member: UnsafeRawBufferPointer) -> Double? { index.find(member) }

    public func score(of member: ByteString) -> Double? { member.withUnsafeBytes { index.find($0) } }

    public func contains(_ member: UnsafeRawBufferPointer) -> Bool { index.find(member) != nil }

    /// Sets `member`'s score, adding the member if needed. `updated` is true when an existing member's
    /// score changed (ZADD CH counts added + updated).
    /// - Complexity: O(log n)
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
    /// return NaN. Returns whether the member was added or its score changed, and its score afterwards (nil if
    /// it is absent afterwards).
    /// - Complexity: O(log n)
    @discardableResult
    public func upsert(member: UnsafeRawBufferPointer,
                       _ newScore: (_ current: Double?) -> Double?) -> (added: Bool, updated: Bool, score: Double?) {
        upsert(member, stored: nil, newScore)
    }

    /// `stored`, when given, is `bytes` as a ByteString already (saves a copy when adding).
    private func upsert(_ bytes: UnsafeRawBufferPointer, stored: ByteString?,
                        _ newScore: (Double?) -> Double?) -> (added: Bool, updated: Bool, score: Double?) {
        let current = index.find(bytes)
        guard let score = newScore(current) else { return (false, false, current) }
        precondition(!score.isNaN, "SortedSet: NaN score")
        if let current = current {
            if current == score { return (false, false, current) }
            tree.updateScore(member: bytes, from: current, to: score)
            index.setValue(score, forExisting: bytes)
            didMutate()
            return (false, true, score)
        }
        let member = stored ?? ByteString(bytes)
        tree.insert(member: member, score: score)
        index.insert(score, forNewKey: member)
        memberHeapBytes += member.heapBytes
        didMutate()
        return (true, false, score)
    }

    /// Fills this empty set with `elements`, which must be in strictly ascending (score, member) order with no
    /// member twice and no NaN score: the order an RDB holds a listpack's elements in (a skiplist's reversed).
    /// The tree is linked balanced in O(n) and the index sized once, instead of n inserts with rotations and
    /// rehashes. Returns false, leaving the set empty, when the elements are out of order or repeat a member;
    /// the caller then adds them one at a time (and reports a duplicate as it finds it).
    public func fillAscending(_ elements: [Element]) -> Bool {
        precondition(isEmpty, "SortedSet.fillAscending: the set is not empty")
        guard tree.buildAscending(elements) else { return false }
        index.reserveCapacity(elements.count)
        for e in elements {
            guard index.insertIfNew(e.score, forKey: e.member) else {
                removeAll()
                return false
            }
            memberHeapBytes += e.member.heapBytes
        }
        didMutate()
        return true
    }

    /// Removes `member` (ZREM). Returns false if it was not there.
    /// - Complexity: O(log n)
    @discardableResult
    public func remove(member: UnsafeRawBufferPointer) -> Bool {
        guard let score = index.removeValue(forKey: member) else { return false }
        if member.count > ByteString.inlineCapacity { memberHeapBytes -= mallocSize(32 + member.count) }
        let removed = tree.remove(member: member, score: score)
        precondition(removed, "SortedSet: member in the index but not in the tree")
        didMutate()
        return true
    }

    @discardableResult
    public func remove(member: ByteString) -> Bool { member.withUnsafeBytes { remove(member: $0) } }

    public func removeAll() {
        tree.removeAll()
        index.removeAll()
        memberHeapBytes = 0
    }

    /// Removes an element already detached from the tree from the index.
    private func dropFromIndex(_ element: Element) {
        memberHeapBytes -= element.member.heapBytes
        let score = element.member.withUnsafeBytes { index.removeValue(forKey: $0) }
        precondition(score != nil, "SortedSet: member in the tree but not in the index")
    }
}

// MARK: - Ranks

extension SortedSet {
    /// The member's rank (ZRANK; ZREVRANK with `reverse`), or nil if it is absent.
    /// - Complexity: O(log n)
    public func rank(of member: UnsafeRawBufferPointer, reverse: Bool = false) -> Int? {
        guard let score = index.find(member), let rank = tree.rank(member: member, score: score) else { return nil }
        return reverse ? count - 1 - rank : rank
    }

    /// The element at `rank` (counted from the highest when `reverse`), or nil when out of range.
    /// - Complexity: O(log n)
    public func element(atRank rank: Int, reverse: Bool = false) -> Element? {
        guard rank >= 0 && rank < count else { return nil }
        let node = tree.node(atRank: reverse ? count - 1 - rank : rank)
        return (tree.member(node), tree.score(node))
    }

    /// `SortedSet.rankRange(start:end:count:reverse:)` for this set.
    public func rankRange(start: Int, end: Int, reverse: Bool = false) -> Range<Int> {
        SortedSet.rankRange(start: start, end: end, count: count, reverse: reverse)
    }

    /// Ascending ranks of the elements whose score is in `range`; `.count` is ZCOUNT.
    /// - Complexity: O(log n)
    public func rankRange(in range: ScoreRange) -> Range<Int> {
        if range.isEmpty { return 0..<0 }
        return tree.ranks(scoreFrom: range.min, minExclusive: range.minExclusive,
                          to: range.max, maxExclusive: range.maxExclusive)
    }

    /// Ascending ranks of the elements whose member is in `range` (meaningful when all scores are equal, as
    /// Redis documents); `.count` is ZLEXCOUNT.
    /// - Complexity: O(log n)
    public func rankRange(in range: LexRange) -> Range<Int> {
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
                tree.ranks(memberFrom: lo, minExclusive: minExclusive, to: hi, maxExclusive: maxExclusive)
            }
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
    /// - Complexity: O(log n + ranks.count)
    public func forEach(inRanks ranks: Range<Int>, reverse: Bool = false, _ body: (ByteString, Double) -> Void) {
        let ranks = ranks.clamped(to: 0..<count)
        var remaining = ranks.count
        if remaining == 0 { return }
        tree.forEach(fromRank: reverse ? ranks.upperBound - 1 : ranks.lowerBound, reverse: reverse) { node in
            body(tree.member(node), tree.score(node))
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
        let ranks = SortedSet.window(rankRange(in: range), reverse: reverse, offset: offset, limit: limit)
        forEach(inRanks: ranks, reverse: reverse, body)
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
    /// - Complexity: O(k log n) for k removed elements.
    @discardableResult
    public func removeElements(inRanks ranks: Range<Int>) -> Int {
        let ranks = ranks.clamped(to: 0..<count)
        for _ in ranks { dropFromIndex(tree.remove(atRank: ranks.lowerBound)) }
        didMutate()
        return ranks.count
    }

    @discardableResult
    public func removeElements(in range: ScoreRange) -> Int { removeElements(inRanks: rankRange(in: range)) }

    @discardableResult
    public func removeElements(in range: LexRange) -> Int { removeElements(inRanks: rankRange(in: range)) }

    /// Removes and returns the lowest element (ZPOPMIN).
    /// - Complexity: O(log n)
    public func popMin() -> Element? {
        guard !isEmpty else { return nil }
        let element = tree.remove(atRank: 0)
        dropFromIndex(element)
        didMutate()
        return element
    }

    /// Removes and returns the highest element (ZPOPMAX).
    public func popMax() -> Element? {
        guard !isEmpty else { return nil }
        let element = tree.remove(atRank: count - 1)
        dropFromIndex(element)
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
    public func scan(cursor: UInt64, count: Int, _ body: (ByteString, Double) -> Void) -> UInt64 {
        var cursor = cursor
        var emitted = 0
        var budget = Swift.max(1, count) * 10
        repeat {
            cursor = index.table.scan(cursor: cursor) { member, score in
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
    /// MEMORY USAGE (`Value.memoryUsage`): this object, the tree's node pool and the member index, with
    /// the long members' buffers (shared by tree and index, counted once) sampled from the index.
    func memoryUsage(samples: Int) -> Int {
        allocationSize(of: self) + tree.allocatedBytes
            + index.table.memoryUsage(samples: samples) { member, _ in member.allocatedBytes }
    }

    /// The work of freeing this set, in Redis's lazyfree units (elements): callers free sets above
    /// Redis's LAZYFREE_THRESHOLD (64) on the background pool.
    public var freeEffort: Int { count }

    /// Full invariant check after every mutation when built with `-D NEEDLETAIL_CHECK_INVARIANTS`
    /// (O(n) each: tests and debugging only); nothing otherwise.
    @inline(__always) func didMutate() {
        #if NEEDLETAIL_CHECK_INVARIANTS
        checkInvariants()
        #endif
    }

    /// Tree invariants plus agreement between tree and index (same members, same scores, same count).
    public func invariantViolation() -> String? {
        if let problem = tree.invariantViolation() { return problem }
        if index.count != tree.count { return "index has \(index.count) members, tree \(tree.count)" }
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
        if problem == nil && heap != memberHeapBytes { problem = "memberHeapBytes \(memberHeapBytes), actual \(heap)" }
        return problem
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
