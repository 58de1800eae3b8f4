/// The ordered half of a sorted set: an AVL tree keyed by (score, member) with subtree counts.
///
/// Order. Elements are ordered by score (Double, never NaN; -0.0 == 0.0 as in Redis), then by member bytes
/// in memcmp order (shorter first on a common prefix). No two elements share a member, so the key is unique.
///
/// Augmentation. Every node caches `size`, the number of nodes in its subtree. The rank (0-based position)
/// of any key is found on the way down by adding `size(left) + 1` whenever the walk turns right, and the node
/// at a given rank is found the same way, so rank queries, offsets (ZRANGE ... LIMIT) and counts of a score
/// or lex range (difference of two ranks) are all O(log n). Redis's skiplist gets the same bounds from span
/// counters on its forward pointers.
///
/// Balance. `height` is cached too, and every insert/delete rebalances on the way back up with single or
/// double rotations so that the two children of any node differ in height by at most one: the height stays
/// below 1.44 log2(n + 2), i.e. at most 45 levels for the 2^31 nodes the pool can address. Rotations and
/// deletions relink nodes and never move an element to another slot, so a node index stays valid until that
/// element is removed (or the pool is compacted, see below).
///
/// Layout. Nodes live in one pool, a contiguous `[Node]` indexed by Int32 (-1 = none), instead of one object
/// per node: no per-node malloc header, no refcount, no 8-byte pointers. One node is 48 bytes:
///
///     offset  0  member  ByteString  24  (short members inline; longer ones point at shared heap bytes)
///     offset 24  score   Double       8
///     offset 32  left    Int32        4
///     offset 36  right   Int32        4
///     offset 40  size    Int32        4   nodes in this subtree (0 marks a free slot)
///     offset 44  height  Int8         1   leaf = 1 (0 marks a free slot)
///     (3 bytes padding)
///
/// There are no parent links: walks keep their path on a small stack (at most 64 entries), which costs
/// nothing per element. Freed slots form a free list threaded through `left`, so a delete followed by an insert
/// reuses memory. Because a Swift array never shrinks, a pool that becomes mostly free (fewer than a quarter of
/// its slots live, and at least `compactionMinimumSlots` slots) is compacted: live nodes are copied in order
/// into a fresh, exactly sized array and linked into a perfectly balanced tree in O(n). That costs O(1) amortized
/// per deletion (three quarters of the pool were deleted since the last rebuild) and invalidates node indices.
///
/// The tree knows nothing of the member -> score index: `SortedSet` pairs the two.
public struct AVLTree {
    /// A node's slot in the pool. `AVLTree.none` (-1) means "no node".
    public typealias NodeIndex = Int32
    public static let none: NodeIndex = -1

    /// An element's place: its 0-based rank in ascending order and its node.
    public struct Position: Equatable {
        public var rank: Int
        public var node: NodeIndex
    }

    struct Node {
        var member: ByteString
        var score: Double
        var left: Int32
        var right: Int32
        var size: Int32
        var height: Int8
    }

    /// Walks keep their path here; 64 > the height bound (45) for any tree of at most 2^31 nodes.
    static let maxDepth = 64
    /// Pools smaller than this are never compacted (copying them would save too little).
    static let compactionMinimumSlots = 1024

    var nodes: [Node] = []
    var root: Int32 = -1
    var freeHead: Int32 = -1
    var freeCount = 0

    public init() {}

    /// - Complexity: O(1)
    public var count: Int { root < 0 ? 0 : Int(nodes[Int(root)].size) }
    public var isEmpty: Bool { root < 0 }

    /// The member stored at `node`.
    public func member(_ node: NodeIndex) -> ByteString { nodes[Int(node)].member }
    /// The score stored at `node`.
    public func score(_ node: NodeIndex) -> Double { nodes[Int(node)].score }

    /// Bytes held by the pool itself (not counting heap bytes of long members).
    public var allocatedBytes: Int { nodes.capacity * MemoryLayout<Node>.stride }

    /// Makes room for `n` nodes in total without reallocating.
    public mutating func reserveCapacity(_ n: Int) { nodes.reserveCapacity(n) }

    public mutating func removeAll() {
        nodes = []
        root = -1
        freeHead = -1
        freeCount = 0
    }
}

// MARK: - Pool

extension AVLTree {
    typealias Pool = UnsafeMutablePointer<Node>
    typealias ConstPool = UnsafePointer<Node>

    mutating func allocate(member: ByteString, score: Double) -> Int32 {
        let node = Node(member: member, score: score, left: -1, right: -1, size: 1, height: 1)
        if freeHead >= 0 {
            let slot = freeHead
            freeHead = nodes[Int(slot)].left
            freeCount -= 1
            nodes[Int(slot)] = node
            return slot
        }
        precondition(nodes.count < Int(Int32.max), "AVLTree: pool is full")
        nodes.append(node)
        return Int32(nodes.count - 1)
    }

    /// Returns a detached node's slot to the free list (dropping its member's reference).
    mutating func release(_ slot: Int32) {
        nodes[Int(slot)] = Node(member: .empty, score: 0, left: freeHead, right: -1, size: 0, height: 0)
        freeHead = slot
        freeCount += 1
    }

    /// Compacts the pool when at most a quarter of it is live (see the header comment).
    mutating func compactIfSparse() {
        let slots = nodes.count
        if slots >= AVLTree.compactionMinimumSlots && (slots - freeCount) * 4 < slots { compact() }
    }

    /// Copies the live nodes, in order, into an exactly sized pool and links them into a balanced tree.
    /// - Complexity: O(n)
    mutating func compact() {
        let n = count
        var fresh: [Node] = []
        fresh.reserveCapacity(n)
        forEach(fromRank: 0) { node in
            let old = nodes[Int(node)]
            fresh.append(Node(member: old.member, score: old.score, left: -1, right: -1, size: 1, height: 1))
            return true
        }
        let newRoot: Int32 = n == 0 ? -1 : fresh.withUnsafeMutableBufferPointer { buffer in
            AVLTree.linkBalanced(buffer.baseAddress!, 0, n)
        }
        nodes = fresh
        root = newRoot
        freeHead = -1
        freeCount = 0
    }

    /// Makes this empty tree hold `elements`, linked into a perfectly balanced tree in O(n) (no comparisons
    /// beyond the order check, no rotations): how a sorted set is rebuilt from an RDB, which holds its elements
    /// in order. Returns false, leaving the tree empty, unless they are in strictly ascending (score, member)
    /// order; scores must not be NaN.
    mutating func buildAscending(_ elements: [(member: ByteString, score: Double)]) -> Bool {
        precondition(nodes.isEmpty, "AVLTree.buildAscending: the tree is not empty")
        let n = elements.count
        guard n > 0 else { return true }
        for i in 1..<n {
            let (a, b) = (elements[i - 1], elements[i])
            if a.score < b.score { continue }
            guard a.score == b.score,
                  a.member.withUnsafeBytes({ x in b.member.withUnsafeBytes { compareBytes(x, $0) } }) < 0 else { return false }
        }
        nodes.reserveCapacity(n)
        for e in elements { nodes.append(Node(member: e.member, score: e.score, left: -1, right: -1, size: 1, height: 1)) }
        root = nodes.withUnsafeMutableBufferPointer { AVLTree.linkBalanced($0.baseAddress!, 0, n) }
        return true
    }

    /// Links pool slots lo..<hi, already in order, into a perfectly balanced subtree; returns its root.
    static func linkBalanced(_ p: Pool, _ lo: Int, _ hi: Int) -> Int32 {
        if lo >= hi { return -1 }
        let mid = (lo + hi) / 2
        p[mid].left = linkBalanced(p, lo, mid)
        p[mid].right = linkBalanced(p, mid + 1, hi)
        update(p, Int32(mid))
        return Int32(mid)
    }
}

// MARK: - Balancing primitives (static, over a raw pool pointer, so recursion costs no array checks)

extension AVLTree {
    @inline(__always) static func height(_ p: ConstPool, _ t: Int32) -> Int8 { t < 0 ? 0 : p[Int(t)].height }
    @inline(__always) static func size(_ p: ConstPool, _ t: Int32) -> Int { t < 0 ? 0 : Int(p[Int(t)].size) }

    /// Recomputes `t`'s height and size from its children.
    @inline(__always) static func update(_ p: Pool, _ t: Int32) {
        let l = p[Int(t)].left, r = p[Int(t)].right
        p[Int(t)].height = max(height(p, l), height(p, r)) + 1
        p[Int(t)].size = Int32(size(p, l) + size(p, r) + 1)
    }

    static func rotateRight(_ p: Pool, _ t: Int32) -> Int32 {
        let l = p[Int(t)].left
        p[Int(t)].left = p[Int(l)].right
        p[Int(l)].right = t
        update(p, t)
        update(p, l)
        return l
    }

    static func rotateLeft(_ p: Pool, _ t: Int32) -> Int32 {
        let r = p[Int(t)].right
        p[Int(t)].right = p[Int(r)].left
        p[Int(r)].left = t
        update(p, t)
        update(p, r)
        return r
    }

    /// Restores |balance| <= 1 at `t` (whose children are balanced); returns the subtree's new root.
    static func rebalance(_ p: Pool, _ t: Int32) -> Int32 {
        update(p, t)
        let l = p[Int(t)].left, r = p[Int(t)].right
        let balance = Int(height(p, l)) - Int(height(p, r))
        if balance > 1 {
            if height(p, p[Int(l)].left) < height(p, p[Int(l)].right) { p[Int(t)].left = rotateLeft(p, l) }
            return rotateRight(p, t)
        }
        if balance < -1 {
            if height(p, p[Int(r)].right) < height(p, p[Int(r)].left) { p[Int(t)].right = rotateRight(p, r) }
            return rotateLeft(p, t)
        }
        return t
    }

    /// Order of the key (score, member) relative to node `t`: <0, 0 or >0.
    @inline(__always) static func compare(_ score: Double, _ member: UnsafeRawBufferPointer,
                                          _ p: ConstPool, _ t: Int32) -> Int {
        let nodeScore = p[Int(t)].score
        if score < nodeScore { return -1 }
        if score > nodeScore { return 1 }
        return p[Int(t)].member.withUnsafeBytes { compareBytes(member, $0) }
    }

    /// Inserts detached node `n` into the subtree at `t`; returns the subtree's new root.
    static func insert(_ p: Pool, _ t: Int32, _ n: Int32, _ score: Double, _ member: UnsafeRawBufferPointer) -> Int32 {
        if t < 0 { return n }
        let order = compare(score, member, p, t)
        precondition(order != 0, "AVLTree.insert: the member is already in the tree")
        if order < 0 {
            p[Int(t)].left = insert(p, p[Int(t)].left, n, score, member)
        } else {
            p[Int(t)].right = insert(p, p[Int(t)].right, n, score, member)
        }
        return rebalance(p, t)
    }

    /// Detaches the node with key (score, member) from the subtree at `t`.
    /// Returns the subtree's new root and the detached node (-1 if the key is absent).
    static func detach(_ p: Pool, _ t: Int32, _ score: Double,
                       _ member: UnsafeRawBufferPointer) -> (root: Int32, node: Int32) {
        if t < 0 { return (-1, -1) }
        let order = compare(score, member, p, t)
        if order == 0 { return (unlink(p, t), t) }
        if order < 0 {
            let (l, n) = detach(p, p[Int(t)].left, score, member)
            if n < 0 { return (t, -1) }
            p[Int(t)].left = l
            return (rebalance(p, t), n)
        } else {
            let (r, n) = detach(p, p[Int(t)].right, score, member)
            if n < 0 { return (t, -1) }
            p[Int(t)].right = r
            return (rebalance(p, t), n)
        }
    }

    /// Detaches the node at `rank` (valid) within the subtree at `t`.
    static func detach(_ p: Pool, _ t: Int32, rank: Int) -> (root: Int32, node: Int32) {
        let leftSize = size(p, p[Int(t)].left)
        if rank == leftSize { return (unlink(p, t), t) }
        let n: Int32
        if rank < leftSize {
            let (l, found) = detach(p, p[Int(t)].left, rank: rank)
            p[Int(t)].left = l
            n = found
        } else {
            let (r, found) = detach(p, p[Int(t)].right, rank: rank - leftSize - 1)
            p[Int(t)].right = r
            n = found
        }
        return (rebalance(p, t), n)
    }

    /// Removes `t` from the top of its own subtree, replacing it by its in-order successor (relinked, not
    /// copied, so node indices stay stable). Returns the subtree's new root.
    static func unlink(_ p: Pool, _ t: Int32) -> Int32 {
        let l = p[Int(t)].left, r = p[Int(t)].right
        if l < 0 { return r }
        if r < 0 { return l }
        let (rest, successor) = detachMin(p, r)
        p[Int(successor)].left = l
        p[Int(successor)].right = rest
        return rebalance(p, successor)
    }

    static func detachMin(_ p: Pool, _ t: Int32) -> (root: Int32, node: Int32) {
        let l = p[Int(t)].left
        if l < 0 { return (p[Int(t)].right, t) }
        let (rest, n) = detachMin(p, l)
        p[Int(t)].left = rest
        return (rebalance(p, t), n)
    }
}

// MARK: - Mutations

extension AVLTree {
    /// Inserts (score, member); the member must not be in the tree already. Returns the new node.
    /// - Complexity: O(log n)
    @discardableResult
    public mutating func insert(member: ByteString, score: Double) -> NodeIndex {
        precondition(!score.isNaN, "AVLTree.insert: NaN score")
        let n = allocate(member: member, score: score)
        let top = root
        root = member.withUnsafeBytes { m in
            nodes.withUnsafeMutableBufferPointer { AVLTree.insert($0.baseAddress!, top, n, score, m) }
        }
        return n
    }

    /// Removes the element (score, member). Returns false if it is not in the tree.
    /// - Complexity: O(log n)
    @discardableResult
    public mutating func remove(member: UnsafeRawBufferPointer, score: Double) -> Bool {
        guard root >= 0 else { return false }
        let top = root
        let (newRoot, n) = nodes.withUnsafeMutableBufferPointer {
            AVLTree.detach($0.baseAddress!, top, score, member)
        }
        if n < 0 { return false }
        root = newRoot
        release(n)
        compactIfSparse()
        return true
    }

    /// Removes and returns the element at `rank` (0-based, ascending), which must exist.
    /// - Complexity: O(log n)
    @discardableResult
    public mutating func remove(atRank rank: Int) -> (member: ByteString, score: Double) {
        precondition(rank >= 0 && rank < count, "AVLTree.remove(atRank:): rank out of range")
        let top = root
        let (newRoot, n) = nodes.withUnsafeMutableBufferPointer {
            AVLTree.detach($0.baseAddress!, top, rank: rank)
        }
        root = newRoot
        let element = (member: nodes[Int(n)].member, score: nodes[Int(n)].score)
        release(n)
        compactIfSparse()
        return element
    }

    /// Moves an element to a new score, reusing its node (and its member bytes). The element must exist.
    /// - Complexity: O(log n)
    public mutating func updateScore(member: UnsafeRawBufferPointer, from oldScore: Double, to newScore: Double) {
        precondition(!newScore.isNaN, "AVLTree.updateScore: NaN score")
        let top = root
        root = nodes.withUnsafeMutableBufferPointer { buffer -> Int32 in
            let p = buffer.baseAddress!
            let (rest, n) = AVLTree.detach(p, top, oldScore, member)
            precondition(n >= 0, "AVLTree.updateScore: the element is not in the tree")
            p[Int(n)].score = newScore
            p[Int(n)].left = -1
            p[Int(n)].right = -1
            p[Int(n)].size = 1
            p[Int(n)].height = 1
            return AVLTree.insert(p, rest, n, newScore, member)
        }
    }
}
