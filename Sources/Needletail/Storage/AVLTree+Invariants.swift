// AVLTree: `invariantViolation`, which checks order, balance, heights, subtree sizes and the free list.
// The tree's layout and algorithms are described in the doc comment of AVLTree in AVLTree.swift.

// MARK: - Invariants

extension AVLTree {
    /// Verifies the whole structure and returns a description of the first violation, or nil:
    /// strict (score, member) order, no NaN, |balance| <= 1, heights and subtree sizes recomputed,
    /// every slot either reachable exactly once from the root or on the free list exactly once.
    /// - Complexity: O(n)
    public func invariantViolation() -> String? {
        let slots = nodes.count
        var seen = [Bool](repeating: false, count: slots)
        var previous: (score: Double, member: ByteString)? = nil
        var problem: String? = nil

        /// Returns (height, size) of the subtree at t, checking it; stops early once a problem is found.
        func check(_ t: Int32, depth: Int) -> (height: Int, size: Int) {
            if t < 0 || problem != nil { return (0, 0) }
            guard Int(t) < slots else { problem = "link to slot \(t) beyond pool of \(slots)"; return (0, 0) }
            guard !seen[Int(t)] else { problem = "slot \(t) reachable twice"; return (0, 0) }
            guard depth < AVLTree.maxDepth else { problem = "depth exceeds \(AVLTree.maxDepth)"; return (0, 0) }
            seen[Int(t)] = true
            let node = nodes[Int(t)]
            let l = check(node.left, depth: depth + 1)
            if problem != nil { return (0, 0) }
            if node.score.isNaN { problem = "NaN score at slot \(t)"; return (0, 0) }
            if let prev = previous {
                let ordered = prev.score < node.score || (prev.score == node.score && prev.member < node.member)
                if !ordered { problem = "order violated at slot \(t) (\(node.score), \(node.member))"; return (0, 0) }
            }
            previous = (node.score, node.member)
            let r = check(node.right, depth: depth + 1)
            if problem != nil { return (0, 0) }
            let height = max(l.height, r.height) + 1
            let size = l.size + r.size + 1
            if abs(l.height - r.height) > 1 { problem = "unbalanced at slot \(t): \(l.height) vs \(r.height)" }
            else if Int(node.height) != height { problem = "slot \(t) height \(node.height), recomputed \(height)" }
            else if Int(node.size) != size { problem = "slot \(t) size \(node.size), recomputed \(size)" }
            return (height, size)
        }

        let live = check(root, depth: 0).size
        if let problem = problem { return problem }
        var free = 0
        var f = freeHead
        while f >= 0 {
            guard Int(f) < slots else { return "free list links to slot \(f) beyond pool" }
            guard !seen[Int(f)] else { return "slot \(f) is both live and free, or the free list cycles" }
            seen[Int(f)] = true
            guard nodes[Int(f)].height == 0 && nodes[Int(f)].size == 0 else { return "free slot \(f) looks live" }
            free += 1
            f = nodes[Int(f)].left
        }
        if free != freeCount { return "free list has \(free) slots, freeCount says \(freeCount)" }
        if live + free != slots { return "\(slots - live - free) slots leaked (neither live nor free)" }
        if live != count { return "count \(count) but \(live) nodes reachable" }
        return nil
    }

    /// Traps on the first violation found by `invariantViolation()`.
    public func checkInvariants() {
        if let problem = invariantViolation() { preconditionFailure("AVLTree invariant: \(problem)") }
    }
}
