import Glibc

extension ListValue {
    /// A copy in the same encoding (COPY): every node copied to an exact-size block, the same fill.
    func duplicate() -> ListValue {
        let copy = ListValue.make(fill: Int(fill))
        for i in 0..<nodes { copy.insertNode(node(i).pointee.copied(), at: i) }
        copy.adjustCount(by: count)
        return copy
    }

    /// Checks the whole structure (tests, and debug builds after every write command); O(n). Traps on the
    /// first violation.
    func checkInvariants() {
        if let message = invariantViolation() { preconditionFailure("ListValue: \(message)") }
    }

    /// The first broken invariant, described, or nil.
    func invariantViolation() -> String? {
        if hasExternalRing {
            let capacity = Int(ringMask) + 1
            if capacity < 2 || capacity & (capacity - 1) != 0 { return "ring capacity \(capacity) is not a power of two >= 2" }
            if nodes > capacity { return "\(nodes) nodes in a ring of \(capacity)" }
            if ringHead < 0 || Int(ringHead) >= capacity { return "ring head \(ringHead) out of range" }
        } else if nodes > 1 {
            return "\(nodes) nodes in the object's one slot"
        }
        if fill < -5 || fill > 32767 { return "fill \(fill) outside Redis's -5...32767" }
        var total = 0
        var previous: ListNode?
        for i in 0..<nodes {
            let n = node(i).pointee
            if let problem = nodeViolation(n) { return "node \(i): \(problem)" }
            if !fits(count: Int(n.count), logical: n.logicalSize) {
                return "node \(i) exceeds the bound: \(n.count) elements, \(n.logicalSize) bytes, fill \(fill)"
            }
            if let p = previous, fits(count: Int(p.count + n.count), logical: p.logicalSize + n.logicalSize) {
                return "nodes \(i - 1) and \(i) fit in one (\(p.count)+\(n.count) elements, "
                    + "\(p.logicalSize)+\(n.logicalSize) bytes)"
            }
            total += Int(n.count)
            previous = n
        }
        if total != count { return "count \(count), nodes hold \(total)" }
        return nil
    }

    private func nodeViolation(_ n: ListNode) -> String? {
        if n.count == 0 { return "empty" }
        guard n.prefixLength <= n.codeStart && n.codeStart <= n.codeEnd && n.codeEnd <= n.dataStart
              && n.dataStart <= n.dataEnd && n.dataEnd <= n.capacity else {
            return "offsets \(n.prefixLength) \(n.codeStart) \(n.codeEnd) \(n.dataStart) \(n.dataEnd) capacity \(n.capacity)"
        }
        // A prefix is stored only when its elements share it and it saves enough (ListNode.sharedPrefix);
        // pops at the ends may leave fewer elements behind, so the saving is not checked again.
        if n.prefixLength > 0 && (n.prefixLength > 0xBF || (n.isUniform && n.uniform >= 0xC0)) {
            return "prefix of \(n.prefixLength) bytes, uniform code \(n.uniform)"
        }
        if n.isUniform {
            if n.codeBytes != 0 { return "uniform node with code bytes" }
            if !(n.uniform < 0xC0 || (n.uniform > 0xC0 && n.uniform <= 0xC8)) { return "uniform code \(n.uniform)" }
            if n.dataBytes != Int(n.count) * listCodeWidth(n.uniform) { return "uniform data size" }
        }
        var cursor = NodeCursor(n, fromStart: true)
        for k in 0..<Int(n.count) {
            let codeAt = cursor.code
            let entry = cursor.next()
            if let problem = entryViolation(entry) { return "element \(k): \(problem)" }
            if !n.isUniform {
                let codeLength = cursor.code - codeAt
                if codeLength != entry.codeLength { return "element \(k): code of \(codeLength) bytes" }
                if codeLength > 1 && n.base.load(fromByteOffset: cursor.code - 1, as: UInt8.self) != entry.head {
                    return "element \(k): long code without its trailer"
                }
            }
        }
        if !n.isUniform && cursor.code != n.codeEnd { return "codes end at \(cursor.code), not \(n.codeEnd)" }
        if cursor.data != n.dataEnd { return "data ends at \(cursor.data), not \(n.dataEnd)" }
        // The backward walk must agree (it reads the codes from their other end).
        var back = NodeCursor(n, fromStart: false)
        for _ in 0..<Int(n.count) { _ = back.previous() }
        if back.data != n.dataStart || (!n.isUniform && back.code != n.codeStart) { return "backward walk differs" }
        return nil
    }

    private func entryViolation(_ e: ListEntry) -> String? {
        if e.prefix.count > 0 && !(e.head < 0xC0 && Int(e.head) == e.dataLength) {
            return "prefixed element with code \(e.head), \(e.dataLength) bytes"
        }
        switch e.head {
        case 0..<0xC0:
            if Int(e.head) != e.dataLength { return "code \(e.head) for \(e.dataLength) bytes" }
            if e.dataLength <= 20 && e.withData({ parseInt64($0) }) != nil { return "an integer stored as a string" }
        case 0xC1...0xC8:
            if integerWidth(e.integer) != e.dataLength { return "integer \(e.integer) in \(e.dataLength) bytes" }
        case 0xF0:
            if e.dataLength <= 0xBF || e.dataLength > 0xFFFF { return "F0 string of \(e.dataLength) bytes" }
        case 0xF1:
            if e.dataLength <= 0xFFFF { return "F1 string of \(e.dataLength) bytes" }
        default:
            return "code \(e.head)"
        }
        return nil
    }
}
