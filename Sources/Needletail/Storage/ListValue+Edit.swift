import Glibc

/// Edits of a list away from its ends (LSET, LINSERT, LREM) and removals of runs at its ends (LTRIM, LPOP
/// with a count). An edit in the middle re-packs the nodes it touches with `ListNodePacker` (greedily, so
/// no two of the new nodes could share one) and then merges the new nodes' outer neighbours into them when
/// they fit, which keeps ListValue's invariants: bounded, non-empty nodes, no adjacent pair that fits in one.
extension ListValue {
    // MARK: - Runs at the ends

    /// Removes the first `n` elements. O(n) for the nodes it frees wholesale counts only, plus the walk into
    /// the last node it cuts.
    func removeFirst(_ n: Int) {
        precondition(n >= 0 && n <= count)
        var left = n
        while left > 0 {
            let head = node(0)
            let c = Int(head.pointee.count)
            if left >= c {
                dropNode(at: 0)
                left -= c
            } else {
                let cursor = NodeCursor(head.pointee, at: left)
                head.pointee.dropFirst(upTo: cursor)
                left = 0
            }
        }
        adjustCount(by: -n)
        endShrank(atHead: true)
    }

    /// Removes the last `n` elements.
    func removeLast(_ n: Int) {
        precondition(n >= 0 && n <= count)
        var left = n
        while left > 0 {
            let tail = node(nodes - 1)
            let c = Int(tail.pointee.count)
            if left >= c {
                dropNode(at: nodes - 1)
                left -= c
            } else {
                let cursor = NodeCursor(tail.pointee, at: c - left)
                tail.pointee.dropLast(from: cursor)
                left = 0
            }
        }
        adjustCount(by: -n)
        endShrank(atHead: false)
    }

    // MARK: - Searches

    /// The index of the first element equal to `element`, nil when there is none (LINSERT's pivot).
    func firstIndex(of element: PackedElement) -> Int? {
        var index = 0
        var found: Int?
        forEach(from: 0, length: count) { entry in
            if entry.equals(element) {
                found = index
                return false
            }
            index += 1
            return true
        }
        return found
    }

    // MARK: - Edits in the middle

    /// Replaces element `index` (LSET). In place when the new element has the same code and size;
    /// otherwise its node is re-packed.
    func replace(at index: Int, with element: PackedElement) {
        let (i, offset) = locate(index)
        let n = node(i)
        var cursor = NodeCursor(n.pointee, at: offset)
        let old = cursor.next()
        if old.head == element.code && old.prefix.count == 0 && old.suffix.count == element.dataLength {
            element.writeData(to: UnsafeMutableRawPointer(mutating: old.suffix.baseAddress!))
            return
        }
        repack(i...i) { packer in
            var k = 0
            var walk = NodeCursor(n.pointee, fromStart: true)
            while k < Int(n.pointee.count) {
                let entry = walk.next()
                if k == offset { packer.append(element) } else { packer.append(entry) }
                k += 1
            }
        }
    }

    /// Inserts `element` so that it becomes element `index` (0...count): LINSERT. At either end this is a
    /// push; elsewhere the node holding the position is re-packed with it.
    func insert(_ element: PackedElement, at index: Int) {
        precondition(index >= 0 && index <= count)
        if index == 0 { return push(element, atHead: true) }
        if index == count { return push(element, atHead: false) }
        let (i, offset) = locate(index)
        let n = node(i)
        repack(i...i) { packer in
            var walk = NodeCursor(n.pointee, fromStart: true)
            for k in 0..<Int(n.pointee.count) {
                if k == offset { packer.append(element) }
                packer.append(walk.next())
            }
        }
        adjustCount(by: 1)
    }

    /// Removes elements equal to `element` (LREM): all of them when `limit` is 0, else the first `limit`
    /// from the head, or from the tail when `fromTail`. Returns how many it removed. One pass finds which
    /// (and which nodes hold them), a second re-packs those nodes without them.
    func removeAll(equalTo element: PackedElement, limit: Int, fromTail: Bool) -> Int {
        // Pass 1: the nodes holding the doomed elements and, with a limit, the index that bounds them.
        var matches = 0
        var firstNode = -1, lastNode = -1
        var bound = fromTail ? 0 : Int.max  // with fromTail: index >= bound; else index <= bound
        if fromTail {
            var i = nodes - 1
            var index = count
            scan: while i >= 0 {
                let n = node(i).pointee
                var cursor = NodeCursor(n, fromStart: false)
                for _ in 0..<Int(n.count) {
                    index -= 1
                    if cursor.previous().equals(element) {
                        matches += 1
                        if lastNode < 0 { lastNode = i }
                        firstNode = i
                        if matches == limit {
                            bound = index
                            break scan
                        }
                    }
                }
                i -= 1
            }
        } else {
            var index = 0
            scan: for i in 0..<nodes {
                let n = node(i).pointee
                var cursor = NodeCursor(n, fromStart: true)
                for _ in 0..<Int(n.count) {
                    if cursor.next().equals(element) {
                        matches += 1
                        if firstNode < 0 { firstNode = i }
                        lastNode = i
                        if matches == limit {
                            bound = index
                            break scan
                        }
                    }
                    index += 1
                }
            }
        }
        guard matches > 0 else { return 0 }

        // Pass 2: re-pack the span without them.
        var index = 0
        for i in 0..<firstNode { index += Int(node(i).pointee.count) }
        repack(firstNode...lastNode) { packer in
            for i in firstNode...lastNode {
                let n = node(i).pointee
                var cursor = NodeCursor(n, fromStart: true)
                for _ in 0..<Int(n.count) {
                    let entry = cursor.next()
                    let doomed = entry.equals(element) && (fromTail ? index >= bound : index <= bound)
                    if !doomed { packer.append(entry) }
                    index += 1
                }
            }
        }
        adjustCount(by: -matches)
        return matches
    }

    // MARK: - Re-packing

    /// Replaces nodes `span` by the nodes `produce` packs (it reads the old nodes, which are freed after),
    /// then merges each end of the new run with its outer neighbour when they fit: pairs inside the run
    /// cannot (the packing is greedy), and a merge at one end cannot make a pair further out mergeable.
    func repack(_ span: ClosedRange<Int>, _ produce: (inout ListNodePacker) -> Void) {
        var packer = ListNodePacker(self)
        produce(&packer)
        let fresh = packer.finish()
        replaceNodes(span, with: fresh)
        let first = span.lowerBound
        if fresh.isEmpty {
            mergeIfPossible(first - 1)
        } else {
            mergeIfPossible(first + fresh.count - 1)
            mergeIfPossible(first - 1)
        }
    }

    /// Frees nodes `span` and puts `fresh` in their place.
    private func replaceNodes(_ span: ClosedRange<Int>, with fresh: [ListNode]) {
        for i in span { free(node(i).pointee.base) }
        let old = span.count
        let shared = min(old, fresh.count)
        for k in 0..<shared { node(span.lowerBound + k).pointee = fresh[k] }
        if old - shared > 4 || fresh.count - shared > 4 {
            // Many nodes come or go (LREM over a long list): rebuild the ring once rather than shift it.
            var all: [ListNode] = []
            all.reserveCapacity(nodes - old + fresh.count)
            for i in 0..<span.lowerBound { all.append(node(i).pointee) }
            all.append(contentsOf: fresh)
            for i in (span.upperBound + 1)..<max(span.upperBound + 1, nodes) { all.append(node(i).pointee) }
            replaceRing(with: all)
            return
        }
        for _ in shared..<old { removeNode(at: span.lowerBound + shared) }
        for k in shared..<fresh.count { insertNode(fresh[k], at: span.lowerBound + k) }
    }

    private func replaceRing(with all: [ListNode]) {
        var capacity = 2
        while capacity < all.count { capacity <<= 1 }
        let fresh = UnsafeMutablePointer<ListNode>.allocate(capacity: capacity)
        for (i, n) in all.enumerated() { (fresh + i).initialize(to: n) }
        freeExternalRing()
        adoptRing(fresh, capacity: capacity)
        nodeCount = Int32(all.count)
    }
}

/// Packs elements into sealed nodes, greedily: each node takes elements while the list's bound allows.
struct ListNodePacker {
    private unowned(unsafe) let list: ListValue
    private var packed: [ListNode] = []
    private var codes: [UInt8] = []
    private var data: [UInt8] = []
    private var count = 0
    private var logical = 0
    private var firstCode: UInt8 = 0
    private var sameCodes = true

    init(_ list: ListValue) { self.list = list }

    mutating func append(_ entry: ListEntry) {
        let codeLength = entry.codeLength
        let size = codeLength + entry.dataLength
        if count > 0 && !list.fits(count: count + 1, logical: logical + size) { flush() }
        if count == 0 {
            firstCode = entry.head
            sameCodes = codeLength == 1
        } else if entry.head != firstCode || codeLength != 1 {
            sameCodes = false
        }
        var code: (UInt64) = 0
        withUnsafeMutableBytes(of: &code) { raw in
            writeListCode(entry.head, dataLength: entry.dataLength, to: raw.baseAddress!)
            codes.append(contentsOf: raw[0..<codeLength])
        }
        data.append(contentsOf: entry.prefix)
        data.append(contentsOf: entry.suffix)
        count += 1
        logical += size
    }

    mutating func append(_ element: PackedElement) {
        var payload = (UInt64(0), UInt64(0))
        withUnsafeMutableBytes(of: &payload) { raw in
            let isInteger = element.code > 0xC0 && element.code <= 0xC8
            if isInteger { element.writeData(to: raw.baseAddress!) }
            let data = isInteger ? UnsafeRawBufferPointer(rebasing: raw[0..<element.dataLength]) : element.bytes
            append(ListEntry(head: element.code, data: data))
        }
    }

    private mutating func flush() {
        guard count > 0 else { return }
        let uniform = sameCodes ? firstCode : ListNode.mixed
        var node = codes.withUnsafeBytes { c in
            data.withUnsafeBytes { d in ListNode(count: count, uniform: uniform, codes: c, data: d) }
        }
        node.seal()  // exact already; stores a shared prefix once when worth it
        packed.append(node)
        codes.removeAll(keepingCapacity: true)
        data.removeAll(keepingCapacity: true)
        count = 0
        logical = 0
    }

    mutating func finish() -> [ListNode] {
        flush()
        return packed
    }
}
