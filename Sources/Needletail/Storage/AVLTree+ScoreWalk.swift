// MARK: - Walks from a score (GEOSEARCH's cell scans)

extension AVLTree {
    /// Calls `body(member, score)` for each element with `min <= score < max`, in ascending order, until
    /// `body` returns false: one descent to the first such element, then successors (Redis's
    /// zslFirstInRange and a forward walk). A geo search scans up to nine score ranges per query, so one
    /// descent instead of three (two rank bounds, then a walk from a rank) saves most of its cache misses.
    /// - Complexity: O(log n + k) for k elements visited.
    func forEach(scoreFrom min: Double, below max: Double, _ body: (ByteString, Double) -> Bool) {
        guard root >= 0 else { return }
        withUnsafeTemporaryAllocation(of: Int32.self, capacity: AVLTree.maxDepth) { stack in
            nodes.withUnsafeBufferPointer { buffer in
                let p = buffer.baseAddress!
                // The stack holds, nearest last, the nodes with score >= min whose right subtree is pending.
                var depth = 0
                var t = root
                while t >= 0 {
                    if p[Int(t)].score < min {
                        t = p[Int(t)].right
                    } else {
                        stack[depth] = t; depth += 1
                        t = p[Int(t)].left
                    }
                }
                while depth > 0 {
                    depth -= 1
                    let n = stack[depth]
                    let score = p[Int(n)].score
                    if score >= max || !body(p[Int(n)].member, score) { return }
                    var c = p[Int(n)].right
                    while c >= 0 { stack[depth] = c; depth += 1; c = p[Int(c)].left }
                }
            }
        }
    }
}
