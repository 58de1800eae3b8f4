import Glibc

/// SORT and SORT_RO (Redis's sort.c): sort the elements of a list, set or sorted set, numerically (each
/// element, or what BY's pattern finds for it, read as a double) or with ALPHA as strings, with LIMIT, GET
/// patterns (`#` for the element, `key*` for a string key, `key*->field` for a hash field) and, for SORT,
/// STORE into a list.
///
/// Redis's rules, kept exactly because clients see them:
/// - BY with a pattern that has no `*` (conventionally `nosort`) does not sort: lists and sorted sets come out
///   in their own order (reversed with DESC), LIMIT cutting the range directly; a set is then sorted ALPHA
///   anyway when the result is stored or a script asks (so replicas and the AOF agree), else it comes out in
///   iteration order.
/// - Numeric sorting breaks ties by comparing the elements as binary strings, so the order is total; a
///   value that is not a double ("nan", trailing bytes) fails the whole command with "One or more scores
///   can't be converted into double" (an element whose BY key is missing sorts as 0, or first with ALPHA).
/// - ALPHA compares with strcoll in the C locale (bytes up to the first NUL); stored sorts compare binary.
/// - LIMIT offset count: a negative offset is 0, a negative count means all.
/// - GET of a missing key (or a key of another type) is a null, or "" when stored.

let sortCommands: [Command] = [
    Command("sort", arity: -2, flags: [.write, .denyoom, .movableKeys], keys: (1, 1, 1), group: "generic",
            summary: "Sort the elements in a list, set or sorted set",
            complexity: "O(N+M*log(M)) where N is the number of elements in the list or set to sort, and M the "
                + "number of returned elements. When the elements are not sorted, complexity is O(N).",
            handler: { sortGeneric($0, readonly: false) }),
    Command("sort_ro", arity: -2, flags: [.readonly, .movableKeys], keys: (1, 1, 1), group: "generic", since: "7.0.0",
            summary: "Sort the elements in a list, set or sorted set. Read-only variant of SORT.",
            complexity: "O(N+M*log(M)) where N is the number of elements in the list or set to sort, and M the "
                + "number of returned elements. When the elements are not sorted, complexity is O(N).",
            handler: { sortGeneric($0, readonly: true) }),
]

extension KeyspaceEvent {
    static let sortstore = KeyspaceEvent("sortstore", .list)
}

/// One element being sorted and what it sorts by.
private struct SortItem {
    let element: ByteString
    var score = 0.0
    /// With ALPHA and BY: the value found for the element (nil when missing: sorts first).
    var compareWith: ByteString?
}

/// SORT or SORT_RO, as the ACL knows it (found under its own name even after a rename-command).
private func sortCommand(_ c: Client, readonly: Bool) -> Command? {
    let name = readonly ? "sort_ro" : "sort"
    if let command = Array(name.utf8).withUnsafeBytes({ c.server.commands.lookup($0) }), command.name == name { return command }
    return c.server.commands.all.first { $0.name == name }
}

private func sortGeneric(_ c: Client, readonly: Bool) {
    var desc = false, alpha = false
    var limitStart = 0, limitCount = -1
    var storeIndex = 0
    var byPattern: UnsafeRawBufferPointer?
    var dontSort = false
    var getPatterns: [Int] = []
    // Redis's user_has_full_key_access: BY with a pattern and GET read keys that no key check saw, so they
    // need a selector that runs this command on any key. Asked once, when one of them appears.
    var fullKeyAccess: Bool?
    func mayReadAnyKey() -> Bool {
        if fullKeyAccess == nil {
            fullKeyAccess = c.aclUser.map { user in
                sortCommand(c, readonly: readonly).map { c.server.acl.allowsReadingAnyKey(user, $0, c) } ?? false
            } ?? true
        }
        return fullKeyAccess!
    }
    var j = 2
    while j < c.argc {
        let left = c.argc - j - 1
        if argOptionIs(c, j, "asc") {
            desc = false
        } else if argOptionIs(c, j, "desc") {
            desc = true
        } else if argOptionIs(c, j, "alpha") {
            alpha = true
        } else if argOptionIs(c, j, "limit") && left >= 2 {
            // Redis's getLongFromObjectOrReply replies the error itself.
            guard let start = c.int64Arg(j + 1), let count = c.int64Arg(j + 2) else { return }
            limitStart = Int(start)
            limitCount = Int(count)
            j += 2
        } else if !readonly && argOptionIs(c, j, "store") && left >= 1 {
            storeIndex = j + 1
            j += 1
        } else if argOptionIs(c, j, "by") && left >= 1 {
            byPattern = c.arg(j + 1)
            // A pattern without '*' sorts nothing (BY nosort), even when a later BY has one (as Redis).
            if !cStringPrefix(c.arg(j + 1)).contains(UInt8(ascii: "*")) {
                dontSort = true
            } else if !mayReadAnyKey() {
                return c.reply.error("ERR BY option of SORT denied due to insufficient ACL permissions.")
            }
            j += 1
        } else if argOptionIs(c, j, "get") && left >= 1 {
            // (SORT_RO's error says SORT too, as Redis's.)
            if !mayReadAnyKey() { return c.reply.error("ERR GET option of SORT denied due to insufficient ACL permissions.") }
            getPatterns.append(j + 1)
            j += 1
        } else {
            return c.replySyntaxError()
        }
        j += 1
    }

    let now = c.now
    let value = c.db.lookup(c.arg(1), now: now)
    if let value {
        switch value {
        case .list, .set, .inlineIntset, .sortedSet: break
        default: return c.replyWrongType()
        }
    }
    let isSet = value?.type == .set
    // Redis converts a listpack sorted set to a skiplist for SORT (and SORT_RO), for good: OBJECT ENCODING
    // says "skiplist" afterwards, even for BY nosort.
    if case .sortedSet(let set)? = value { set.skiplistEncoded = true }
    // An unsorted set has no stable order: a stored result, or one a script reads, is sorted ALPHA so replicas
    // and the script's effects agree (Redis: storekey || CLIENT_SCRIPT).
    if dontSort && isSet && (storeIndex != 0 || c.isScriptCaller) {
        dontSort = false
        alpha = true
        byPattern = nil
    }

    // Redis clamps both to the length first (so huge values cannot overflow), then as below.
    let length = value?.elementCount ?? 0
    var start = min(max(0, limitStart), length)
    let clampedCount = min(max(limitCount, -1), length)
    var end = clampedCount < 0 ? length - 1 : start + clampedCount - 1
    if start >= length {
        start = length - 1
        end = length - 2
    }
    if end >= length { end = length - 1 }

    // Lists and sorted sets that are not sorted come out in their own order, LIMIT taken directly.
    var items: [SortItem]
    switch value {
    case .list(let list)? where dontSort:
        items = end >= start ? listRange(list, from: start, count: end - start + 1, reverse: desc).map { SortItem(element: $0) } : []
        end -= start
        start = 0
    case .sortedSet(let set)? where dontSort:
        items = []
        // DESC counts the LIMIT from the top: the `start`-th highest first, down (Redis's walk backward from
        // rank length - start).
        if end >= start {
            let ranks = desc ? (length - 1 - end)..<(length - start) : start..<(end + 1)
            set.forEach(inRanks: ranks, reverse: desc) { member, _ in items.append(SortItem(element: member)) }
        }
        end -= start
        start = 0
    case .list(let list)?:
        items = listRange(list, from: 0, count: length, reverse: false).map { SortItem(element: $0) }
    case .set?, .inlineIntset?:
        items = setMembers(value!.setForReading!).map { SortItem(element: $0) }
    case .sortedSet(let set)?:
        items = []
        items.reserveCapacity(length)
        set.forEach { member, _ in items.append(SortItem(element: member)) }
    default:
        items = []
    }

    var conversionError = false
    if !dontSort {
        for k in items.indices {
            let by: ByteString
            if let byPattern {
                guard let found = lookupByPattern(c, byPattern, items[k].element, now: now) else { continue }
                by = found
            } else {
                by = items[k].element
            }
            if alpha {
                if byPattern != nil { items[k].compareWith = by }
            } else if let score = sortScore(by) {
                items[k].score = score
            } else {
                conversionError = true
            }
        }
        let byPatternUsed = byPattern != nil
        let stored = storeIndex != 0
        let compare = { (a: SortItem, b: SortItem) -> Int in
            let cmp = sortCompare(a, b, alpha: alpha, byPattern: byPatternUsed, stored: stored)
            return desc ? -cmp : cmp
        }
        // Which of several equal elements comes first is visible (ALPHA BY ties, missing BY keys), so the
        // algorithms are Redis's: its partial quicksort for BY with a LIMIT that cuts, glibc's qsort (a
        // stable merge sort, as Swift's sort) otherwise.
        if byPatternUsed && (start != 0 || end != length - 1) {
            partialQuickSort(&items, lower: start, upper: end, compare)
        } else {
            items.sort { compare($0, $1) < 0 }
        }
    }

    let selected = end >= start ? Array(items[start...end]) : []
    if conversionError { return c.reply.error("ERR One or more scores can't be converted into double") }

    if storeIndex == 0 {
        c.reply.array(getPatterns.isEmpty ? selected.count : selected.count * getPatterns.count)
        for item in selected {
            if getPatterns.isEmpty { c.reply.bulk(item.element) }
            for p in getPatterns {
                if let v = lookupByPattern(c, c.arg(p), item.element, now: now) { c.reply.bulk(v) } else { c.reply.null() }
            }
        }
        return
    }
    var output: [ByteString] = []
    for item in selected {
        if getPatterns.isEmpty { output.append(item.element) }
        for p in getPatterns { output.append(lookupByPattern(c, c.arg(p), item.element, now: now) ?? .empty) }
    }
    let destination = c.argBytes(storeIndex)
    if output.isEmpty {
        c.db.remove(destination)
    } else {
        c.db.set(destination, .list(makeList(output, c)), event: .sortstore, changes: output.count)
    }
    c.reply.integer(output.count)
}

/// Redis's sortCompare: numeric scores with the elements' binary order for ties; ALPHA by the BY values
/// (missing first) or the elements, with strcoll (C locale: up to the first NUL) unless STORE, which
/// compares binary.
private func sortCompare(_ a: SortItem, _ b: SortItem, alpha: Bool, byPattern: Bool, stored: Bool) -> Int {
    if !alpha {
        if a.score > b.score { return 1 }
        if a.score < b.score { return -1 }
        return binaryCompare(a.element, b.element)
    }
    if byPattern {
        switch (a.compareWith, b.compareWith) {
        case (nil, nil): return 0
        case (nil, _): return -1
        case (_, nil): return 1
        case (let x?, let y?): return stored ? binaryCompare(x, y) : collate(x, y)
        }
    }
    return stored ? binaryCompare(a.element, b.element) : collate(a.element, b.element)
}

private func binaryCompare(_ a: ByteString, _ b: ByteString) -> Int {
    a.withUnsafeBytes { x in
        b.withUnsafeBytes { y in
            let n = min(x.count, y.count)
            let cmp = n == 0 ? 0 : memcmp(x.baseAddress!, y.baseAddress!, n)
            if cmp != 0 { return Int(cmp) }
            return x.count - y.count
        }
    }
}

/// strcoll in the C locale: strcmp of the bytes up to the first NUL.
private func collate(_ a: ByteString, _ b: ByteString) -> Int {
    a.withUnsafeBytes { x in
        b.withUnsafeBytes { y in
            let p = cStringPrefix(x), q = cStringPrefix(y)
            let n = min(p.count, q.count)
            let cmp = n == 0 ? 0 : memcmp(p.baseAddress!, q.baseAddress!, n)
            if cmp != 0 { return Int(cmp) }
            return p.count - q.count
        }
    }
}

/// What Redis's strtod check accepts as a sort score: the whole string (up to a NUL) parsed by strtod, no
/// ERANGE, not NaN. An empty string is 0.
private func sortScore(_ s: ByteString) -> Double? {
    s.withUnsafeBytes { bytes -> Double? in
        withCString(bytes) { p -> Double? in
            var end: UnsafeMutablePointer<CChar>? = nil
            errno = 0
            let v = strtod(p, &end)
            guard end!.pointee == 0, errno != ERANGE, !v.isNaN else { return nil }
            return v
        }
    }
}

/// Redis's lookupKeyByPattern: `#` is the element itself; otherwise the first `*` of the pattern (as a C
/// string) is replaced by the element, and the key read: a string, or with `->field` after the `*` a hash's
/// field. nil for no `*`, a missing key or the wrong type.
private func lookupByPattern(_ c: Client, _ pattern: UnsafeRawBufferPointer, _ element: ByteString, now: Int64) -> ByteString? {
    let cPattern = cStringPrefix(pattern)
    if cPattern.count == 1 && cPattern[0] == UInt8(ascii: "#") { return element }
    guard let star = cPattern.firstIndex(of: UInt8(ascii: "*")) else { return nil }
    // A hash field: "->" after the '*', followed by at least one byte (before any NUL).
    var fieldStart: Int?
    var i = star + 1
    while i + 1 < cPattern.count {
        if cPattern[i] == UInt8(ascii: "-") && cPattern[i + 1] == UInt8(ascii: ">") {
            if i + 2 < cPattern.count { fieldStart = i + 2 }
            break
        }
        i += 1
    }
    let keyEnd = fieldStart.map { $0 - 2 } ?? pattern.count
    var key = Array(pattern[0..<star])
    element.withUnsafeBytes { key.append(contentsOf: $0) }
    key.append(contentsOf: pattern[(star + 1)..<keyEnd])
    guard let value = key.withUnsafeBytes({ c.db.lookup($0, now: now) }) else { return nil }
    if let fieldStart {
        guard case .hash(let hash) = value else { return nil }
        return hashField(hash, UnsafeRawBufferPointer(rebasing: pattern[fieldStart...]))
    }
    guard case .string(let s) = value else { return nil }
    return s
}

// MARK: - Partial quicksort

/// Redis's pqsort (pqsort.c): Bentley and McIlroy's quicksort ("Engineering a Sort Function", as NetBSD's
/// qsort) that only recurses into partitions overlapping positions `lower...upper`, so those positions end
/// up holding what a full sort would put there and the rest is left partly sorted. It is not stable: SORT BY
/// with LIMIT returns equal elements in the order this exact sequence of swaps leaves them, so the steps
/// (median-of-three pivots, ninther above 40 elements, insertion sort below 7 elements, keys equal to the
/// pivot gathered at both ends and swapped to the middle) follow Redis 7.0's copy, which unlike later ones
/// has no switch to insertion sort after a pass that swapped nothing.
private func partialQuickSort<T>(_ items: inout [T], lower: Int, upper: Int, _ compare: (T, T) -> Int) {
    items.withUnsafeMutableBufferPointer { buffer in
        partialQuickSort(buffer, from: 0, count: buffer.count, lower: lower, upper: upper, compare)
    }
}

private func partialQuickSort<T>(_ v: UnsafeMutableBufferPointer<T>, from base: Int, count: Int, lower: Int, upper: Int,
                                 _ compare: (T, T) -> Int) {
    @inline(__always) func cmp(_ i: Int, _ j: Int) -> Int { compare(v[i], v[j]) }
    @inline(__always) func medianOfThree(_ a: Int, _ b: Int, _ c: Int) -> Int {
        cmp(a, b) < 0 ? (cmp(b, c) < 0 ? b : (cmp(a, c) < 0 ? c : a))
                      : (cmp(b, c) > 0 ? b : (cmp(a, c) < 0 ? a : c))
    }
    func insertionSort(_ a: Int, _ n: Int) {
        var m = a + 1
        while m < a + n {
            var l = m
            while l > a && cmp(l - 1, l) > 0 {
                v.swapAt(l, l - 1)
                l -= 1
            }
            m += 1
        }
    }
    /// Whether `lo..<lo+n` holds any position of the wanted range.
    func overlaps(_ lo: Int, _ n: Int) -> Bool {
        !((lower < lo && upper < lo) || (lower >= lo + n && upper >= lo + n))
    }
    func swapRuns(_ a: Int, _ b: Int, _ n: Int) {
        for k in 0..<max(n, 0) { v.swapAt(a + k, b + k) }
    }

    var a = base
    var n = count
    while true {
        if n < 7 { return insertionSort(a, n) }
        var pm = a + n / 2
        if n > 7 {
            var pl = a
            var pn = a + n - 1
            if n > 40 {
                let d = n / 8
                pl = medianOfThree(pl, pl + d, pl + 2 * d)
                pm = medianOfThree(pm - d, pm, pm + d)
                pn = medianOfThree(pn - 2 * d, pn - d, pn)
            }
            pm = medianOfThree(pl, pm, pn)
        }
        v.swapAt(a, pm)
        var pa = a + 1, pb = a + 1
        var pc = a + n - 1, pd = a + n - 1
        while true {
            while pb <= pc {
                let r = cmp(pb, a)
                if r > 0 { break }
                if r == 0 {
                    v.swapAt(pa, pb)
                    pa += 1
                }
                pb += 1
            }
            while pb <= pc {
                let r = cmp(pc, a)
                if r < 0 { break }
                if r == 0 {
                    v.swapAt(pc, pd)
                    pd -= 1
                }
                pc -= 1
            }
            if pb > pc { break }
            v.swapAt(pb, pc)
            pb += 1
            pc -= 1
        }
        let end = a + n
        var r = min(pa - a, pb - pa)
        swapRuns(a, pb - r, r)
        r = min(pd - pc, end - pd - 1)
        swapRuns(pb, end - r, r)
        r = pb - pa
        if r > 1 && overlaps(a, r) {
            partialQuickSort(v, from: a, count: r, lower: lower, upper: upper, compare)
        }
        r = pd - pc
        guard r > 1 else { return }
        // The right part iteratively, as Redis does.
        a = end - r
        n = r
        guard overlaps(a, n) else { return }
    }
}

// MARK: - What SORT reads of each type

/// `count` elements from the `start`-th, toward the tail; with `reverse`, from the `start`-th counted from the
/// tail toward the head (Redis's iterator for SORT ... BY nosort DESC).
private func listRange(_ list: ListValue, from start: Int, count: Int, reverse: Bool) -> [ByteString] {
    let count = min(count, list.count - start)
    guard count > 0 else { return [] }
    var elements: [ByteString] = []
    elements.reserveCapacity(count)
    list.forEach(from: reverse ? list.count - start - 1 : start, length: count, reverse: reverse) { entry in
        elements.append(entry.byteString)
        return true
    }
    return elements
}

/// In the set's own order: ascending for an intset (as Redis), table order otherwise.
private func setMembers(_ set: SetValue) -> [ByteString] {
    var members: [ByteString] = []
    members.reserveCapacity(set.count)
    set.forEach { members.append($0.byteString) }
    return members
}

private func hashField(_ hash: HashValue, _ field: UnsafeRawBufferPointer) -> ByteString? {
    hash.value(of: field)
}

private func makeList(_ elements: [ByteString], _ c: Client) -> ListValue {
    let list = ListValue.make(fill: c.server.config.listMaxListpackSize)
    for element in elements { list.append(element) }
    return list
}
