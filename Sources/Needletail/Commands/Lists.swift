import Glibc

/// List commands (Redis's t_list.c) over `ListValue` (Storage/ListValue.swift).
///
/// Variants share one routine each, as in Redis:
/// - `pushGeneric` is LPUSH, RPUSH, LPUSHX, RPUSHX;
/// - `popGeneric` is LPOP and RPOP with or without a count; `mpopGeneric` is LMPOP and BLMPOP, and
///   `blockingPopGeneric` BLPOP, BRPOP and BLMPOP's serving half;
/// - `lmoveGeneric` is LMOVE, RPOPLPUSH, BLMOVE and BRPOPLPUSH.
///
/// The order of checks is Redis's, because it decides which error a bad request gets: most commands parse
/// their numbers before the lookup (LRANGE, LTRIM, LREM, LPOS, LINSERT's BEFORE/AFTER), but LINDEX and
/// LSET look the key up first, so a missing key or WRONGTYPE wins over a bad index there.
///
/// Write path: a new list is added empty (no event, no change) and the push reports the command's event
/// worth one change per element; a pop reports "lpop"/"rpop" worth the elements popped, then, if the list
/// is empty, deletes the key ("del", no further change). LMOVE notifies the push on the destination first,
/// then the pop on the source, and counts one change, as Redis does.
///
/// Blocking: BLPOP, BRPOP, BLMPOP, BLMOVE and BRPOPLPUSH serve at once when a key holds a list, and
/// otherwise park the client (`Server.block`); a push that creates one of the keys makes it ready and the
/// command runs again (Server/Blocking.swift). Served, they are propagated as Redis 7.0 propagates them:
/// BLPOP -> LPOP key, BLMPOP -> LPOP key count, BLMOVE -> LMOVE, BRPOPLPUSH -> RPOPLPUSH; LMPOP likewise as
/// LPOP/RPOP key count.

let listCommands: [Command] = [
    Command("lpush", arity: -3, flags: [.write, .denyoom, .fast], keys: (1, 1, 1), group: "list", since: "1.0.0",
            summary: "Prepend one or multiple elements to a list", complexity: pushComplexity,
            handler: { pushGeneric($0, atHead: true, onlyIfExists: false) }),
    Command("rpush", arity: -3, flags: [.write, .denyoom, .fast], keys: (1, 1, 1), group: "list", since: "1.0.0",
            summary: "Append one or multiple elements to a list", complexity: pushComplexity,
            handler: { pushGeneric($0, atHead: false, onlyIfExists: false) }),
    Command("lpushx", arity: -3, flags: [.write, .denyoom, .fast], keys: (1, 1, 1), group: "list", since: "2.2.0",
            summary: "Prepend an element to a list, only if the list exists", complexity: pushComplexity,
            handler: { pushGeneric($0, atHead: true, onlyIfExists: true) }),
    Command("rpushx", arity: -3, flags: [.write, .denyoom, .fast], keys: (1, 1, 1), group: "list", since: "2.2.0",
            summary: "Append an element to a list, only if the list exists", complexity: pushComplexity,
            handler: { pushGeneric($0, atHead: false, onlyIfExists: true) }),
    Command("lpop", arity: -2, flags: [.write, .fast], keys: (1, 1, 1), group: "list", since: "1.0.0",
            summary: "Remove and get the first elements in a list",
            complexity: "O(N) where N is the number of elements returned",
            handler: { popGeneric($0, fromHead: true) }),
    Command("rpop", arity: -2, flags: [.write, .fast], keys: (1, 1, 1), group: "list", since: "1.0.0",
            summary: "Remove and get the last elements in a list",
            complexity: "O(N) where N is the number of elements returned",
            handler: { popGeneric($0, fromHead: false) }),
    Command("llen", arity: 2, flags: [.readonly, .fast], keys: (1, 1, 1), group: "list", since: "1.0.0",
            summary: "Get the length of a list", complexity: "O(1)", handler: llen),
    Command("lindex", arity: 3, flags: [.readonly], keys: (1, 1, 1), group: "list", since: "1.0.0",
            summary: "Get an element from a list by its index",
            complexity: "O(N) where N is the number of elements to traverse to get to the element at index. This "
                + "makes asking for the first or the last element of the list O(1).",
            handler: lindex),
    Command("lset", arity: 4, flags: [.write, .denyoom], keys: (1, 1, 1), group: "list", since: "1.0.0",
            summary: "Set the value of an element in a list by its index",
            complexity: "O(N) where N is the length of the list. Setting either the first or the last element of "
                + "the list is O(1).",
            handler: lset),
    Command("lrange", arity: 4, flags: [.readonly], keys: (1, 1, 1), group: "list", since: "1.0.0",
            summary: "Get a range of elements from a list",
            complexity: "O(S+N) where S is the distance of start offset from HEAD for small lists, from nearest end "
                + "(HEAD or TAIL) for large lists; and N is the number of elements in the specified range.",
            handler: lrange),
    Command("linsert", arity: 5, flags: [.write, .denyoom], keys: (1, 1, 1), group: "list", since: "2.2.0",
            summary: "Insert an element before or after another element in a list",
            complexity: "O(N) where N is the number of elements to traverse before seeing the value pivot. This "
                + "means that inserting somewhere on the left end on the list (head) can be considered O(1) and "
                + "inserting somewhere on the right end (tail) is O(N).",
            handler: linsert),
    Command("lrem", arity: 4, flags: [.write], keys: (1, 1, 1), group: "list", since: "1.0.0",
            summary: "Remove elements from a list",
            complexity: "O(N+M) where N is the length of the list and M is the number of elements removed.",
            handler: lrem),
    Command("ltrim", arity: 4, flags: [.write], keys: (1, 1, 1), group: "list", since: "1.0.0",
            summary: "Trim a list to the specified range",
            complexity: "O(N) where N is the number of elements to be removed by the operation.", handler: ltrim),
    Command("lpos", arity: -3, flags: [.readonly], keys: (1, 1, 1), group: "list", since: "6.0.6",
            summary: "Return the index of matching elements on a list",
            complexity: "O(N) where N is the number of elements in the list, for the average case. When searching "
                + "for elements near the head or the tail of the list, or when the MAXLEN option is provided, the "
                + "command may run in constant time.",
            handler: lpos),
    Command("lmove", arity: 5, flags: [.write, .denyoom], keys: (1, 2, 1), group: "list", since: "6.2.0",
            summary: "Pop an element from a list, push it to another list and return it", complexity: "O(1)",
            handler: lmove),
    Command("rpoplpush", arity: 3, flags: [.write, .denyoom], keys: (1, 2, 1), group: "list", since: "1.2.0",
            summary: "Remove the last element in a list, prepend it to another list and return it",
            complexity: "O(1)", handler: { lmoveGeneric($0, fromHead: false, toHead: true) }),
    Command("lmpop", arity: -4, flags: [.write, .movableKeys], group: "list", since: "7.0.0",
            summary: "Pop elements from a list", complexity: mpopComplexity,
            handler: { mpopGeneric($0, numkeysIndex: 1) }),
    Command("blpop", arity: -3, flags: [.write, .noscript, .blocking], keys: (1, -2, 1), group: "list",
            since: "2.0.0",
            summary: "Remove and get the first element in a list, or block until one is available",
            complexity: "O(N) where N is the number of provided keys.",
            handler: { blpopGeneric($0, fromHead: true) }),
    Command("brpop", arity: -3, flags: [.write, .noscript, .blocking], keys: (1, -2, 1), group: "list",
            since: "2.0.0",
            summary: "Remove and get the last element in a list, or block until one is available",
            complexity: "O(N) where N is the number of provided keys.",
            handler: { blpopGeneric($0, fromHead: false) }),
    Command("blmove", arity: 6, flags: [.write, .denyoom, .noscript, .blocking], keys: (1, 2, 1), group: "list",
            since: "6.2.0",
            summary: "Pop an element from a list, push it to another list and return it; or block until one is "
                + "available",
            complexity: "O(1)", handler: blmove),
    Command("brpoplpush", arity: 4, flags: [.write, .denyoom, .noscript, .blocking], keys: (1, 2, 1),
            group: "list", since: "2.2.0",
            summary: "Pop an element from a list, push it to another list and return it; or block until one is "
                + "available",
            complexity: "O(1)", handler: brpoplpush),
    Command("blmpop", arity: -5, flags: [.write, .blocking, .movableKeys], group: "list", since: "7.0.0",
            summary: "Pop elements from a list, or block until one is available", complexity: mpopComplexity,
            handler: { mpopGeneric($0, numkeysIndex: 2) }),
]

private let pushComplexity = "O(1) for each element added, so O(N) to add N elements when the command is called "
    + "with multiple arguments."
private let mpopComplexity = "O(N+M) where N is the number of provided keys and M is the number of elements "
    + "returned."

extension KeyspaceEvent {
    static let lpush = KeyspaceEvent("lpush", .list)
    static let rpush = KeyspaceEvent("rpush", .list)
    static let lpop = KeyspaceEvent("lpop", .list)
    static let rpop = KeyspaceEvent("rpop", .list)
    static let linsert = KeyspaceEvent("linsert", .list)
    static let lset = KeyspaceEvent("lset", .list)
    static let lrem = KeyspaceEvent("lrem", .list)
    static let ltrim = KeyspaceEvent("ltrim", .list)
}

// MARK: - Shared helpers

extension ReplyWriter {
    /// A list element as a bulk string (an integer element is formatted straight into the buffer).
    @inline(__always) func bulk(_ entry: ListEntry) {
        if entry.isInteger { bulk(entry.integer) } else { entry.withData { bulk($0) } }
    }
}

/// The list at argument `i`, or nil after replying: `missing` (a reply chosen by the caller) when there is
/// no such key, WRONGTYPE when it holds another type. A read counts a keyspace hit or miss, a write does
/// not (Redis's lookupKeyReadOrReply / lookupKeyWriteOrReply).
@inline(__always)
private func list(_ c: Client, _ i: Int, forWrite: Bool, orReply missing: (Client) -> Void) -> ListValue? {
    let now = c.now
    guard let value = forWrite ? c.db.lookup(c.arg(i), now: now, .write) : c.db.lookup(c.arg(i), now: now) else {
        missing(c)
        return nil
    }
    guard case .list(let list) = value else {
        c.replyWrongType()
        return nil
    }
    return list
}

private func replyZero(_ c: Client) { c.reply.integer(0) }
private func replyEmptyArray(_ c: Client) { c.reply.array(0) }
private func replyOK(_ c: Client) { c.reply.ok() }

/// A new, empty list under argument `i`, made with the `list-max-listpack-size` in force now. No event and
/// no change of its own: the command reports its push.
private func createList(_ c: Client, _ i: Int) -> ListValue {
    let list = ListValue.make(fill: c.server.config.listMaxListpackSize)
    c.db.add(c.argBytes(i), .list(list), event: .none, changes: 0)
    return list
}

/// Redis's listElementsRemoved: "lpop"/"rpop" worth `count` changes, then the key is deleted if the list
/// is empty.
@inline(__always) private func elementsRemoved(_ c: Client, key: Int, fromHead: Bool, _ list: ListValue, count: Int) {
    c.db.didModify(c.arg(key), fromHead ? .lpop : .rpop, changes: count)
    if list.isEmpty { c.db.remove(c.arg(key), changes: 0) }
}

/// Redis's getListPositionFromObjectOrReply: LEFT is the head. Nil after a syntax error.
private func listEnd(_ c: Client, _ i: Int) -> Bool? {
    if argOptionIs(c, i, "left") { return true }
    if argOptionIs(c, i, "right") { return false }
    c.replySyntaxError()
    return nil
}

/// Argument `i` as an integer in 0...Int64.max; otherwise `message` (Redis's getPositiveLongFromObjectOrReply,
/// which answers a non-integer with the same message).
private func nonNegativeArg(_ c: Client, _ i: Int, orError message: StaticString) -> Int? {
    guard let v = parseInt64(c.arg(i)), v >= 0 else {
        c.reply.error(message)
        return nil
    }
    return Int(v)
}

/// Writes `length` elements from index `start` (toward the head when `reverse`) as an array.
@inline(__always) private func replyRange(_ c: Client, _ list: ListValue, from start: Int, length: Int, reverse: Bool) {
    c.reply.array(length)
    var out = BulkStream(c.reply.buffer)
    list.forEach(from: start, length: length, reverse: reverse) { entry in
        out.write(entry)
        return true
    }
}

/// Writes list elements as bulk strings, one reservation and one copy each: the `$<length>\r\n` header is
/// formatted once for a run of elements of the same length (every element of a uniform node), and an
/// integer element is formatted straight into the buffer. LRANGE's and the counted pops' replies.
private struct BulkStream {
    let buffer: IOBuffer
    private var header: (UInt64, UInt64) = (0, 0)
    private var headerLength = 0
    private var cachedLength = -1

    init(_ buffer: IOBuffer) { self.buffer = buffer }

    @inline(__always) mutating func write(_ entry: ListEntry) {
        if entry.isInteger { return writeInteger(entry.integer) }
        let n = entry.dataLength
        if n != cachedLength {
            cachedLength = n
            headerLength = withUnsafeMutableBytes(of: &header) { h in
                h[0] = UInt8(ascii: "$")
                let digits = writeInt64(Int64(n), to: h.baseAddress! + 1)
                h.storeBytes(of: 0x0A0D, toByteOffset: 1 + digits, as: UInt16.self)  // "\r\n", little-endian
                return digits + 3
            }
        }
        let headerLength = headerLength
        var header = header
        buffer.append(upTo: headerLength + n + 2) { p in
            withUnsafeBytes(of: &header) { p.copyMemory(from: $0.baseAddress!, byteCount: headerLength) }
            entry.copyData(to: p + headerLength)
            p.storeBytes(of: 0x0A0D, toByteOffset: headerLength + n, as: UInt16.self)
            return headerLength + n + 2
        }
    }

    /// `$<digits>\r\n<value>\r\n`, formatted in place (the value is written first, then moved behind its
    /// header, which needs its length).
    @inline(__always) private func writeInteger(_ value: Int64) {
        buffer.append(upTo: 2 * maxInt64Length + 8) { p in
            let digits = writeInt64(value, to: p + 4)  // at most 20 digits: the header "$20\r\n" is 5 bytes
            let lengthDigits = digits >= 10 ? 2 : 1
            let headerLength = lengthDigits + 3
            if headerLength != 4 { memmove(p + headerLength, p + 4, digits) }
            p.storeBytes(of: UInt8(ascii: "$"), as: UInt8.self)
            _ = writeInt64(Int64(digits), to: p + 1)
            p.storeBytes(of: 0x0A0D, toByteOffset: 1 + lengthDigits, as: UInt16.self)
            p.storeBytes(of: 0x0A0D, toByteOffset: headerLength + digits, as: UInt16.self)
            return headerLength + digits + 2
        }
    }
}

// MARK: - LPUSH, RPUSH, LPUSHX, RPUSHX

/// Redis's pushGenericCommand: the reply is the new length; one change per element.
private func pushGeneric(_ c: Client, atHead: Bool, onlyIfExists: Bool) {
    c.withDatabase { db in  // borrowed, as the stored list (`Database.StoredValue`): no retain per request
        guard let list = objectForWrite(c, in: db, \.list, orCreate: {
            if onlyIfExists {
                c.reply.integer(0)
                return nil
            }
            return createList(c, 1)
        }) else { return }
        let argc = c.argc
        let length = list._withUnsafeGuaranteedRef { list in
            for j in 2..<argc {
                if atHead { list.prepend(c.arg(j)) } else { list.append(c.arg(j)) }
            }
            if argc > 3 { list.fitSingleNode() }
            return list.count
        }
        c.reply.integer(length)
        db.didModify(c.arg(1), atHead ? .lpush : .rpush, changes: argc - 2)
    }
}

// MARK: - LPOP, RPOP

/// Redis's popGenericCommand. Without a count: the element, or a null for a missing key. With one: an
/// array (empty for count 0), or a null array for a missing key.
private func popGeneric(_ c: Client, fromHead: Bool) {
    if c.argc > 3 {
        return c.reply.error(fromHead ? "ERR wrong number of arguments for 'lpop' command"
                                      : "ERR wrong number of arguments for 'rpop' command")
    }
    var count: Int?
    if c.argc == 3 {
        guard let n = nonNegativeArg(c, 2, orError: "ERR value is out of range, must be positive") else { return }
        count = n
    }
    guard let list = list(c, 1, forWrite: true, orReply: count == nil ? replyNull : replyNullArray) else { return }
    guard let count else {
        let reply = c.reply
        list.pop(fromHead: fromHead) { reply.bulk($0) }
        return elementsRemoved(c, key: 1, fromHead: fromHead, list, count: 1)
    }
    if count == 0 { return c.reply.array(0) }
    let popped = popRange(c, list, fromHead: fromHead, count: count)
    elementsRemoved(c, key: 1, fromHead: fromHead, list, count: popped)
}

/// Replies the first (or last) `min(count, length)` elements, in the order they are popped, and removes them.
/// Returns how many.
@discardableResult
private func popRange(_ c: Client, _ list: ListValue, fromHead: Bool, count: Int) -> Int {
    let n = min(count, list.count)
    replyRange(c, list, from: fromHead ? 0 : list.count - 1, length: n, reverse: !fromHead)
    if fromHead { list.removeFirst(n) } else { list.removeLast(n) }
    return n
}

// MARK: - LLEN, LINDEX, LSET, LRANGE

private func llen(_ c: Client) {
    guard let list = list(c, 1, forWrite: false, orReply: replyZero) else { return }
    c.reply.integer(list.count)
}

/// An index counted from the tail when negative, as Redis's quicklist indexes; nil when out of range.
@inline(__always) private func normalizedIndex(_ index: Int64, count: Int) -> Int? {
    let i = index < 0 ? Int64(count) + index : index
    return i >= 0 && i < Int64(count) ? Int(i) : nil
}

/// LINDEX looks the key up before it parses the index.
private func lindex(_ c: Client) {
    guard let list = list(c, 1, forWrite: false, orReply: replyNull) else { return }
    guard let index = c.int64Arg(2) else { return }
    guard let i = normalizedIndex(index, count: list.count) else { return c.reply.null() }
    let reply = c.reply
    list.withElement(at: i) { reply.bulk($0) }
}

private func replyNoSuchKey(_ c: Client) { c.reply.error("ERR no such key") }

/// LSET looks the key up before it parses the index.
private func lset(_ c: Client) {
    guard let list = list(c, 1, forWrite: true, orReply: replyNoSuchKey) else { return }
    guard let index = c.int64Arg(2) else { return }
    guard let i = normalizedIndex(index, count: list.count) else { return c.reply.error("ERR index out of range") }
    list.replace(at: i, with: PackedElement(c.arg(3)))
    c.reply.ok()
    c.db.didModify(c.arg(1), .lset, changes: 1)
}

/// A start/end pair normalised as Redis's addListRangeReply and ltrimCommand do; nil for an empty range.
private func normalizedRange(start: Int64, end: Int64, count: Int) -> ClosedRange<Int>? {
    let length = Int64(count)
    var s = start < 0 ? length + start : start
    var e = end < 0 ? length + end : end
    if s < 0 { s = 0 }
    if s > e || s >= length { return nil }
    if e >= length { e = length - 1 }
    return Int(s)...Int(e)
}

private func lrange(_ c: Client) {
    guard let start = c.int64Arg(2), let end = c.int64Arg(3) else { return }
    guard let list = list(c, 1, forWrite: false, orReply: replyEmptyArray) else { return }
    guard let range = normalizedRange(start: start, end: end, count: list.count) else { return c.reply.array(0) }
    replyRange(c, list, from: range.lowerBound, length: range.count, reverse: false)
}

// MARK: - LINSERT, LREM, LTRIM

/// LINSERT key BEFORE|AFTER pivot element: the new length, -1 when the pivot is not there, 0 for no key.
private func linsert(_ c: Client) {
    let after: Bool
    if argOptionIs(c, 2, "after") { after = true }
    else if argOptionIs(c, 2, "before") { after = false }
    else { return c.replySyntaxError() }
    guard let list = list(c, 1, forWrite: true, orReply: replyZero) else { return }
    guard let pivot = list.firstIndex(of: PackedElement(c.arg(3))) else { return c.reply.integer(-1) }
    list.insert(PackedElement(c.arg(4)), at: after ? pivot + 1 : pivot)
    c.db.didModify(c.arg(1), .linsert, changes: 1)
    c.reply.integer(list.count)
}

/// LREM key count element: count > 0 removes the first `count` from the head, < 0 from the tail, 0 all.
private func lrem(_ c: Client) {
    guard let count = c.int64Arg(2) else { return }
    guard let list = list(c, 1, forWrite: true, orReply: replyZero) else { return }
    // Redis negates the count in C: LONG_MIN stays negative and never matches a removal count (all go).
    let limit = count == Int64.min ? 0 : Int(count.magnitude)
    let removed = list.removeAll(equalTo: PackedElement(c.arg(3)), limit: limit, fromTail: count < 0)
    if removed > 0 {
        c.db.didModify(c.arg(1), .lrem, changes: removed)
        if list.isEmpty { c.db.remove(c.arg(1), changes: 0) }
    }
    c.reply.integer(removed)
}

/// LTRIM key start stop. Redis notifies "ltrim" even when nothing was removed.
private func ltrim(_ c: Client) {
    guard let start = c.int64Arg(2), let end = c.int64Arg(3) else { return }
    guard let list = list(c, 1, forWrite: true, orReply: replyOK) else { return }
    let length = list.count
    let (front, back): (Int, Int)
    if let range = normalizedRange(start: start, end: end, count: length) {
        (front, back) = (range.lowerBound, length - 1 - range.upperBound)
    } else {
        (front, back) = (length, 0)
    }
    list.removeFirst(front)
    list.removeLast(back)
    c.db.didModify(c.arg(1), .ltrim, changes: front + back)
    if list.isEmpty { c.db.remove(c.arg(1), changes: 0) }
    c.reply.ok()
}

// MARK: - LPOS

/// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]. Redis negates a negative RANK in C, so
/// LONG_MIN stays negative (every match then counts as "at or past the rank", and COUNT never stops the
/// scan): the arithmetic below wraps as Redis's does.
private func lpos(_ c: Client) {
    var rank: Int64 = 1
    var count: Int64 = -1  // -1: no COUNT
    var maxlen: Int64 = 0
    var j = 3
    while j < c.argc {
        let more = c.argc - 1 - j
        if argOptionIs(c, j, "rank") && more > 0 {
            j += 1
            guard let r = c.int64Arg(j) else { return }
            if r == 0 {
                return c.reply.error("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list")
            }
            rank = r
        } else if argOptionIs(c, j, "count") && more > 0 {
            j += 1
            guard let n = nonNegativeArg(c, j, orError: "ERR COUNT can't be negative") else { return }
            count = Int64(n)
        } else if argOptionIs(c, j, "maxlen") && more > 0 {
            j += 1
            guard let n = nonNegativeArg(c, j, orError: "ERR MAXLEN can't be negative") else { return }
            maxlen = Int64(n)
        } else {
            return c.replySyntaxError()
        }
        j += 1
    }
    let fromTail = rank < 0
    if fromTail { rank = 0 &- rank }
    guard let list = list(c, 1, forWrite: false, orReply: count != -1 ? replyEmptyArray : replyNull) else { return }

    let element = PackedElement(c.arg(2))
    let length = Int64(list.count)
    var index: Int64 = 0, matches: Int64 = 0
    var found: Int64 = -1
    var positions: [Int64] = []
    list.forEach(from: fromTail ? list.count - 1 : 0, length: list.count, reverse: fromTail) { entry in
        if maxlen != 0 && index >= maxlen { return false }
        if entry.equals(element) {
            matches += 1
            if matches >= rank {
                let position = fromTail ? length - index - 1 : index
                guard count != -1 else {
                    found = position
                    return false
                }
                positions.append(position)
                if count != 0 && matches &- rank &+ 1 >= count { return false }
            }
        }
        index += 1
        return true
    }
    if count != -1 {
        c.reply.array(positions.count)
        for p in positions { c.reply.integer(p) }
    } else if found >= 0 {
        c.reply.integer(found)
    } else {
        c.reply.null()
    }
}

// MARK: - LMOVE, RPOPLPUSH, BLMOVE, BRPOPLPUSH

private func lmove(_ c: Client) {
    guard let fromHead = listEnd(c, 3), let toHead = listEnd(c, 4) else { return }
    lmoveGeneric(c, fromHead: fromHead, toHead: toHead)
}

/// Redis's lmoveGenericCommand: pops from the source (argument 1) and pushes to the destination (argument
/// 2, created if missing), replying the element; a null when the source does not exist. Both types are
/// checked before anything moves. Returns whether an element moved.
@discardableResult
private func lmoveGeneric(_ c: Client, fromHead: Bool, toHead: Bool) -> Bool {
    guard let source = list(c, 1, forWrite: true, orReply: replyNull) else { return false }
    if source.isEmpty {
        c.reply.null()
        return false
    }
    var destination: ListValue?
    if let value = c.db.lookup(c.arg(2), now: c.now, .write) {
        guard case .list(let existing) = value else {
            c.replyWrongType()
            return false
        }
        destination = existing
    }
    let target = destination ?? createList(c, 2)
    let reply = c.reply
    if target === source {
        // A rotation: the element leaves its node before it comes back, so it is copied first.
        let element = source.pop(fromHead: fromHead) { $0.byteString }!
        element.withUnsafeBytes { bytes in if toHead { target.prepend(bytes) } else { target.append(bytes) } }
        reply.bulk(element)
    } else {
        source.pop(fromHead: fromHead) { entry in
            entry.withData { data in target.push(PackedElement(ListEntry(head: entry.head, data: data)), atHead: toHead) }
            reply.bulk(entry)
        }
    }
    c.db.didModify(c.arg(2), toHead ? .lpush : .rpush, changes: 1)
    c.db.didModify(c.arg(1), fromHead ? .lpop : .rpop, changes: 0)
    if source.isEmpty { c.db.remove(c.arg(1), changes: 0) }
    return true
}

/// BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout. Served, it is propagated as LMOVE: with the
/// client's own LEFT/RIGHT arguments when served at once, and as "left"/"right" (Redis's shared objects)
/// when served after blocking, as redis-server 7.0 writes them to its AOF.
private func blmove(_ c: Client) {
    guard let fromHead = listEnd(c, 3), let toHead = listEnd(c, 4) else { return }
    guard let deadline = timeoutArgument(c, 5, now: c.now) else { return }
    blmoveGeneric(c, fromHead: fromHead, toHead: toHead, deadline: deadline) {
        c.reprocessingBlockedCommand
            ? ["LMOVE", c.argBytes(1), c.argBytes(2), fromHead ? "left" : "right", toHead ? "left" : "right"]
            : ["LMOVE", c.argBytes(1), c.argBytes(2), c.argBytes(3), c.argBytes(4)]
    }
}

/// BRPOPLPUSH source destination timeout, propagated as RPOPLPUSH.
private func brpoplpush(_ c: Client) {
    guard let deadline = timeoutArgument(c, 3, now: c.now) else { return }
    blmoveGeneric(c, fromHead: false, toHead: true, deadline: deadline) { ["RPOPLPUSH", c.argBytes(1), c.argBytes(2)] }
}

/// Redis's blmoveGenericCommand: blocks on the source while it does not exist. A client that cannot block
/// gets a null (not the null array a timeout gives), as in Redis.
private func blmoveGeneric(_ c: Client, fromHead: Bool, toHead: Bool, deadline: Int64,
                           propagated: () -> [ByteString]) {
    if let value = c.db.lookup(c.arg(1), now: c.now, .write) {
        guard case .list = value else { return c.replyWrongType() }
        if lmoveGeneric(c, fromHead: fromHead, toHead: toHead) { c.propagateAs(propagated()) }
    } else if !c.canBlock {
        c.reply.null()
    } else {
        c.server.block(c, keys: [c.argBytes(1)], wants: .list, deadline: deadline)
    }
}

// MARK: - LMPOP, BLMPOP, BLPOP, BRPOP

/// LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count] (`numkeysIndex` 1) and BLMPOP timeout numkeys ...
/// (`numkeysIndex` 2), whose timeout is parsed after the rest, as Redis's lmpopGenericCommand does.
private func mpopGeneric(_ c: Client, numkeysIndex: Int) {
    guard let numkeys = parseInt64(c.arg(numkeysIndex)), numkeys >= 1 else {
        return c.reply.error("ERR numkeys should be greater than 0")
    }
    // Compared without computing numkeysIndex + numkeys + 1, which could overflow.
    guard numkeys < Int64(c.argc - numkeysIndex - 1) else { return c.replySyntaxError() }
    let whereIndex = numkeysIndex + 1 + Int(numkeys)
    guard let fromHead = listEnd(c, whereIndex) else { return }
    var count: Int?
    var j = whereIndex + 1
    while j < c.argc {
        guard count == nil && argOptionIs(c, j, "count") && j + 1 < c.argc else { return c.replySyntaxError() }
        guard let n = parseInt64(c.arg(j + 1)), n >= 1 else {
            return c.reply.error("ERR count should be greater than 0")
        }
        count = Int(n)
        j += 2
    }
    let keys = (numkeysIndex + 1)..<whereIndex
    if numkeysIndex == 2 {
        blockingPopGeneric(c, keys: keys, fromHead: fromHead, timeoutIndex: 1, count: count ?? 1)
    } else {
        guard let served = popFromFirstList(c, keys: keys, fromHead: fromHead, count: count ?? 1) else { return }
        if !served { c.reply.nullArray() }
    }
}

/// Redis's mpopGenericCommand (and the serving half of the blocking pops): pops from the first of `keys`
/// holding a list, replying [key, element] (`count` nil: BLPOP/BRPOP) or [key, [elements]], and propagates
/// it as LPOP/RPOP key [count]. Returns false when no key holds a list, nil after a WRONGTYPE error. A
/// blocked client run again for a key that became ready is served from that key, as Redis 7.0 serves it
/// (several of its keys may hold lists by then, after a transaction filled them).
private func popFromFirstList(_ c: Client, keys: Range<Int>, fromHead: Bool, count: Int?) -> Bool? {
    let now = c.now
    // Run again for a key that became ready: served from that key (Server/Blocking.swift).
    if let i = c.servingKeyIndex(in: keys), case .list(let list)? = c.db.lookup(c.arg(i), now: now, .write),
       !list.isEmpty {
        return pop(c, i, list, fromHead: fromHead, count: count)
    }
    for i in keys {
        guard let value = c.db.lookup(c.arg(i), now: now, .write) else { continue }
        guard case .list(let list) = value else {
            c.replyWrongType()
            return nil
        }
        if list.isEmpty { continue }
        return pop(c, i, list, fromHead: fromHead, count: count)
    }
    return false
}

/// Pops from the list of key `i` and replies [key, element] or [key, [elements]] (popFromFirstList).
private func pop(_ c: Client, _ i: Int, _ list: ListValue, fromHead: Bool, count: Int?) -> Bool {
    c.reply.array(2)
    c.reply.bulk(c.arg(i))
    let popped: Int
    if let count {
        popped = popRange(c, list, fromHead: fromHead, count: count)
    } else {
        let reply = c.reply
        list.pop(fromHead: fromHead) { reply.bulk($0) }
        popped = 1
    }
    elementsRemoved(c, key: i, fromHead: fromHead, list, count: popped)
    c.propagateAs(count == nil ? [fromHead ? "LPOP" : "RPOP", c.argBytes(i)]
                               : [fromHead ? "LPOP" : "RPOP", c.argBytes(i), formatInt64(Int64(popped))])
    return true
}

/// BLPOP / BRPOP key [key ...] timeout.
private func blpopGeneric(_ c: Client, fromHead: Bool) {
    blockingPopGeneric(c, keys: 1..<(c.argc - 1), fromHead: fromHead, timeoutIndex: c.argc - 1, count: nil)
}

/// Redis's blockingPopGenericCommand: the timeout is parsed first, then the first key holding a list is
/// served, or the client blocks on all of them.
private func blockingPopGeneric(_ c: Client, keys: Range<Int>, fromHead: Bool, timeoutIndex: Int, count: Int?) {
    guard let deadline = timeoutArgument(c, timeoutIndex, now: c.now) else { return }
    guard let served = popFromFirstList(c, keys: keys, fromHead: fromHead, count: count) else { return }
    if !served { c.server.block(c, keys: keys.map { c.argBytes($0) }, wants: .list, deadline: deadline) }
}

// MARK: - DEBUG QUICKLIST, DEBUG QUICKLIST-PACKED-THRESHOLD

/// DEBUG QUICKLIST key [level]: Redis prints the quicklist's nodes on standard output; so do we, one line
/// per node (its element count, logical and allocated bytes, its code when uniform, its prefix when it
/// stores one).
func debugQuicklist(_ c: Client) {
    guard let value = c.db.lookup(c.arg(2), now: c.now, [.noTouch]) else {
        return c.reply.error("ERR no such key")
    }
    guard case .list(let list) = value else { return c.reply.error("ERR Not a quicklist encoded object.") }
    var text = "{quicklist} count \(list.count) nodes \(list.nodes) fill \(list.fill)\n"
    for i in 0..<list.nodes {
        let n = list.node(i).pointee
        text += "  node \(i): \(n.count) elements, \(n.logicalSize) bytes (\(n.capacity) allocated)"
            + (n.isUniform ? ", uniform code \(n.uniform)" : "")
            + (n.prefixLength > 0 ? ", prefix of \(n.prefixLength) bytes\n" : "\n")
    }
    print(text, terminator: "")
    fflush(stdout)
    c.reply.simple("Quicklist structure printed on stdout")
}

/// DEBUG QUICKLIST-PACKED-THRESHOLD size: Redis keeps elements at least this large in "plain" nodes of
/// their own. A node here takes an element of any size (alone when it exceeds the node bound), so the size
/// is only checked as Redis checks it (up to 4 GB less 1 MB; 0 restores the default).
func debugQuicklistPackedThreshold(_ c: Client) {
    guard let size = ConfigSyntax.memToULL(c.argString(2)), size <= (1 << 32) - (1 << 20) else {
        return c.reply.error("ERR argument must be a memory value bigger than 1 and smaller than 4gb")
    }
    c.reply.ok()
}
