// AVLTree: read-only queries (find, rank, node at rank, score and lex bounds, rank ranges) and in-order walks.
// The tree's layout and algorithms are described in the doc comment of AVLTree in AVLTree.swift.

// MARK: - Queries

extension AVLTree {
    /// The node holding (score, member), if any.
    /// - Complexity: O(log n)
    public func find(member: UnsafeRawBufferPointer, score: Double) -> NodeIndex? {
        var t = root
        return nodes.withUnsafeBufferPointer { buffer -> NodeIndex? in
            guard let p = buffer.baseAddress else { return nil }
            while t >= 0 {
                let order = AVLTree.compare(score, member, p, t)
                if order == 0 { return t }
                t = order < 0 ? p[Int(t)].left : p[Int(t)].right
            }
            return nil
        }
    }

    /// The 0-based ascending rank of (score, member), or nil if it is not in the tree.
    /// - Complexity: O(log n)
    public func rank(member: UnsafeRawBufferPointer, score: Double) -> Int? {
        var t = root
        var rank = 0
        return nodes.withUnsafeBufferPointer { buffer -> Int? in
            guard let p = buffer.baseAddress else { return nil }
            while t >= 0 {
                let order = AVLTree.compare(score, member, p, t)
                if order == 0 { return rank + AVLTree.size(p, p[Int(t)].left) }
                if order < 0 {
                    t = p[Int(t)].left
                } else {
                    rank += AVLTree.size(p, p[Int(t)].left) + 1
                    t = p[Int(t)].right
                }
            }
            return nil
        }
    }

    /// The node at 0-based ascending `rank`, which must be in 0..<count.
    /// - Complexity: O(log n)
    public func node(atRank rank: Int) -> NodeIndex {
        precondition(rank >= 0 && rank < count, "AVLTree.node(atRank:): rank out of range")
        var t = root
        var r = rank
        return nodes.withUnsafeBufferPointer { buffer -> NodeIndex in
            let p = buffer.baseAddress!
            while true {
                let leftSize = AVLTree.size(p, p[Int(t)].left)
                if r == leftSize { return t }
                if r < leftSize {
                    t = p[Int(t)].left
                } else {
                    r -= leftSize + 1
                    t = p[Int(t)].right
                }
            }
        }
    }

    /// Splits the ascending order at a predicate that holds for a prefix of it ("is before the bound") and
    /// returns the last element of that prefix and the first element after it.
    @inline(__always)
    func split(_ isBefore: (ConstPool, Int32) -> Bool) -> (last: Position?, first: Position?) {
        nodes.withUnsafeBufferPointer { buffer -> (last: Position?, first: Position?) in
            guard let p = buffer.baseAddress else { return (nil, nil) }
            var t = root
            var base = 0  // rank of the leftmost node of t's subtree
            var last: Position? = nil
            var first: Position? = nil
            while t >= 0 {
                let rank = base + AVLTree.size(p, p[Int(t)].left)
                if isBefore(p, t) {
                    last = Position(rank: rank, node: t)
                    base = rank + 1
                    t = p[Int(t)].right
                } else {
                    first = Position(rank: rank, node: t)
                    t = p[Int(t)].left
                }
            }
            return (last, first)
        }
    }

    /// The first element with score >= x (score > x when `exclusive`), if any.
    /// - Complexity: O(log n)
    public func first(scoreAtLeast x: Double, exclusive: Bool = false) -> Position? {
        exclusive ? split { p, t in p[Int(t)].score <= x }.first : split { p, t in p[Int(t)].score < x }.first
    }

    /// The last element with score <= x (score < x when `exclusive`), if any.
    /// - Complexity: O(log n)
    public func last(scoreAtMost x: Double, exclusive: Bool = false) -> Position? {
        exclusive ? split { p, t in p[Int(t)].score < x }.last : split { p, t in p[Int(t)].score <= x }.last
    }

    /// The first element whose member is >= m (> m when `exclusive`) in memcmp order, if any. Meaningful
    /// when all scores are equal (ZRANGEBYLEX), when the tree order is the member order.
    /// - Complexity: O(log n)
    public func first(memberAtLeast m: UnsafeRawBufferPointer, exclusive: Bool = false) -> Position? {
        let limit = exclusive ? 1 : 0  // before the bound while compare(member, m) < limit
        return split { p, t in p[Int(t)].member.withUnsafeBytes { compareBytes($0, m) } < limit }.first
    }

    /// The last element whose member is <= m (< m when `exclusive`), if any. See `first(memberAtLeast:)`.
    /// - Complexity: O(log n)
    public func last(memberAtMost m: UnsafeRawBufferPointer, exclusive: Bool = false) -> Position? {
        let limit = exclusive ? 0 : 1
        return split { p, t in p[Int(t)].member.withUnsafeBytes { compareBytes($0, m) } < limit }.last
    }

    /// Ascending ranks of the elements with min <= score <= max (either end exclusive on request).
    /// Its `count` is ZCOUNT.
    /// - Complexity: O(log n)
    public func ranks(scoreFrom min: Double, minExclusive: Bool = false,
                      to max: Double, maxExclusive: Bool = false) -> Range<Int> {
        guard let lo = first(scoreAtLeast: min, exclusive: minExclusive),
              let hi = last(scoreAtMost: max, exclusive: maxExclusive), lo.rank <= hi.rank else { return 0..<0 }
        return lo.rank..<(hi.rank + 1)
    }

    /// Ascending ranks of the elements whose member lies between two bounds; a nil bound is unbounded
    /// (Redis's `-` and `+`). Its `count` is ZLEXCOUNT when all scores are equal.
    /// - Complexity: O(log n)
    public func ranks(memberFrom min: UnsafeRawBufferPointer?, minExclusive: Bool = false,
                      to max: UnsafeRawBufferPointer?, maxExclusive: Bool = false) -> Range<Int> {
        let n = count
        if n == 0 { return 0..<0 }
        var lo = 0
        if let min = min {
            guard let position = first(memberAtLeast: min, exclusive: minExclusive) else { return 0..<0 }
            lo = position.rank
        }
        var hi = n - 1
        if let max = max {
            guard let position = last(memberAtMost: max, exclusive: maxExclusive) else { return 0..<0 }
            hi = position.rank
        }
        return lo <= hi ? lo..<(hi + 1) : 0..<0
    }
}

// MARK: - Walks

extension AVLTree {
    /// Calls `body` with each node in ascending order starting at rank `start` (descending, toward rank 0,
    /// when `reverse`) until `body` returns false or the tree ends. Nothing happens when `start` is not in
    /// 0..<count. `body` must not mutate the tree.
    /// - Complexity: O(log n) to start, then O(1) amortized per node.
    public func forEach(fromRank start: Int, reverse: Bool = false, _ body: (NodeIndex) throws -> Bool) rethrows {
        guard start >= 0 && start < count else { return }
        try withUnsafeTemporaryAllocation(of: Int32.self, capacity: AVLTree.maxDepth) { stack in
            try nodes.withUnsafeBufferPointer { buffer in
                let p = buffer.baseAddress!
                // The stack holds, nearest last, the nodes still to visit whose "next" subtree is pending:
                // ancestors after the start (forward) or before it (reverse), then the start node itself.
                var depth = 0
                var t = root
                var r = start
                while true {
                    let leftSize = AVLTree.size(p, p[Int(t)].left)
                    if r == leftSize {
                        stack[depth] = t; depth += 1
                        break
                    }
                    if r < leftSize {
                        if !reverse { stack[depth] = t; depth += 1 }
                        t = p[Int(t)].left
                    } else {
                        if reverse { stack[depth] = t; depth += 1 }
                        r -= leftSize + 1
                        t = p[Int(t)].right
                    }
                }
                while depth > 0 {
                    depth -= 1
                    let n = stack[depth]
                    if try !body(n) { return }
                    if reverse {
                        var c = p[Int(n)].left
                        while c >= 0 { stack[depth] = c; depth += 1; c = p[Int(c)].right }
                    } else {
                        var c = p[Int(n)].right
                        while c >= 0 { stack[depth] = c; depth += 1; c = p[Int(c)].left }
                    }
                }
            }
        }
    }
}
