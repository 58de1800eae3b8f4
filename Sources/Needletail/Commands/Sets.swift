/// Set commands (Redis's t_set.c): every S* command over `SetValue` (Storage/SetValue.swift), whose two
/// encodings ("intset", "hashtable") and one-way conversion follow Redis 7.0.
///
/// Variants share one routine each, as in Redis:
/// - `sinterGeneric` is SINTER, SMEMBERS (Redis 7.0 serves SMEMBERS with sinterCommand), SINTERSTORE and
///   SINTERCARD;
/// - `sunionDiffGeneric` is SUNION, SDIFF, their STORE forms, and SPOP's reply when it takes the whole set;
/// - `spop` and `srandmember` branch into their count variants, whose cases (Redis's CASE 1-4) decide the
///   reply shapes.
///
/// What clients can see of the encodings, and where it comes from:
/// - Order. An intset iterates in ascending order, a hashtable in its table's order (arbitrary, as Redis's
///   dict). SMEMBERS and SSCAN of a set, and SINTER (which walks its smallest input), answer in the walked
///   set's order; SUNION and SDIFF answer in the order of the result set they build, which starts as an
///   intset, so a result of integers only is sorted even when the inputs are hashtables.
/// - OBJECT ENCODING of a STORE destination: the result is built the way Redis builds it (an empty intset,
///   then `add` member by member, converting when a member is not an integer or the set outgrows
///   set-max-intset-entries). SDIFF's second algorithm adds the whole first set before removing, so it can
///   convert a result that ends up small; the choice between the algorithms is Redis's.
///
/// Where a set lives: a small intset in the key's entry itself (`Value.inlineIntset`, Storage/InlineIntSet.swift),
/// every other set in a SetValue. SADD and SREM edit an inline set in place and move it to a SetValue when it
/// outgrows the entry; the other writes (SPOP, SMOVE) move it to a SetValue first (`setValue(forWrite:)`);
/// reads work on a SetValue made from it. Both are "intset" to OBJECT ENCODING and behave alike.
///
/// Replies: SMEMBERS, SINTER, SUNION, SDIFF and SPOP with a count answer a set (`~` in RESP3, `*` in RESP2);
/// SRANDMEMBER with a count answers an array.
///
/// Propagation (Redis 7.0.15, checked against its AOF): SPOP key -> SREM key member; SPOP key count that
/// takes the whole set -> DEL key (DEL even with lazyfree-lazy-server-del); otherwise one SREM key member
/// per popped member, the SPOP itself not propagated (the unit becomes MULTI ... EXEC).

let setCommands: [Command] = [
    Command("sadd", arity: -3, flags: [.write, .denyoom, .fast], keys: (1, 1, 1), group: "set", since: "1.0.0",
            summary: "Add one or more members to a set",
            complexity: "O(1) for each element added, so O(N) to add N elements when the command is called with "
                + "multiple arguments.",
            handler: sadd),
    Command("srem", arity: -3, flags: [.write, .fast], keys: (1, 1, 1), group: "set", since: "1.0.0",
            summary: "Remove one or more members from a set",
            complexity: "O(N) where N is the number of members to be removed.", handler: srem),
    Command("smove", arity: 4, flags: [.write, .fast], keys: (1, 2, 1), group: "set", since: "1.0.0",
            summary: "Move a member from one set to another", complexity: "O(1)", handler: smove),
    Command("sismember", arity: 3, flags: [.readonly, .fast], keys: (1, 1, 1), group: "set", since: "1.0.0",
            summary: "Determine if a given value is a member of a set", complexity: "O(1)", handler: sismember),
    Command("smismember", arity: -3, flags: [.readonly, .fast], keys: (1, 1, 1), group: "set", since: "6.2.0",
            summary: "Returns the membership associated with the given elements for a set",
            complexity: "O(N) where N is the number of elements being checked for membership",
            handler: smismember),
    Command("scard", arity: 2, flags: [.readonly, .fast], keys: (1, 1, 1), group: "set", since: "1.0.0",
            summary: "Get the number of members in a set", complexity: "O(1)", handler: scard),
    Command("smembers", arity: 2, flags: [.readonly], keys: (1, 1, 1), group: "set", since: "1.0.0",
            summary: "Get all the members in a set", complexity: "O(N) where N is the set cardinality.",
            handler: { sinterGeneric($0, keys: 1..<2, destination: nil) }),
    Command("spop", arity: -2, flags: [.write, .fast], keys: (1, 1, 1), group: "set", since: "1.0.0",
            summary: "Remove and return one or multiple random members from a set",
            complexity: "Without the count argument O(1), otherwise O(N) where N is the value of the passed count.",
            handler: spop),
    Command("srandmember", arity: -2, flags: [.readonly], keys: (1, 1, 1), group: "set", since: "1.0.0",
            summary: "Get one or multiple random members from a set",
            complexity: "Without the count argument O(1), otherwise O(N) where N is the absolute value of the "
                + "passed count.",
            handler: srandmember),
    Command("sinter", arity: -2, flags: [.readonly], keys: (1, -1, 1), group: "set", since: "1.0.0",
            summary: "Intersect multiple sets", complexity: interComplexity,
            handler: { sinterGeneric($0, keys: 1..<$0.argc, destination: nil) }),
    Command("sintercard", arity: -3, flags: [.readonly, .movableKeys], group: "set", since: "7.0.0",
            summary: "Intersect multiple sets and return the cardinality of the result",
            complexity: interComplexity, handler: sintercard),
    Command("sinterstore", arity: -3, flags: [.write, .denyoom], keys: (1, -1, 1), group: "set", since: "1.0.0",
            summary: "Intersect multiple sets and store the resulting set in a key", complexity: interComplexity,
            handler: { sinterGeneric($0, keys: 2..<$0.argc, destination: 1) }),
    Command("sunion", arity: -2, flags: [.readonly], keys: (1, -1, 1), group: "set", since: "1.0.0",
            summary: "Add multiple sets", complexity: totalComplexity,
            handler: { sunionDiffGeneric($0, keys: 1..<$0.argc, destination: nil, .union) }),
    Command("sunionstore", arity: -3, flags: [.write, .denyoom], keys: (1, -1, 1), group: "set", since: "1.0.0",
            summary: "Add multiple sets and store the resulting set in a key", complexity: totalComplexity,
            handler: { sunionDiffGeneric($0, keys: 2..<$0.argc, destination: 1, .union) }),
    Command("sdiff", arity: -2, flags: [.readonly], keys: (1, -1, 1), group: "set", since: "1.0.0",
            summary: "Subtract multiple sets", complexity: totalComplexity,
            handler: { sunionDiffGeneric($0, keys: 1..<$0.argc, destination: nil, .diff) }),
    Command("sdiffstore", arity: -3, flags: [.write, .denyoom], keys: (1, -1, 1), group: "set", since: "1.0.0",
            summary: "Subtract multiple sets and store the resulting set in a key", complexity: totalComplexity,
            handler: { sunionDiffGeneric($0, keys: 2..<$0.argc, destination: 1, .diff) }),
    Command("sscan", arity: -3, flags: [.readonly], keys: (1, 1, 1), group: "set", since: "2.8.0",
            summary: "Incrementally iterate Set elements",
            complexity: "O(1) for every call. O(N) for a complete iteration, including enough command calls for the "
                + "cursor to return back to 0. N is the number of elements inside the collection..",
            handler: sscan),
]

private let interComplexity = "O(N*M) worst case where N is the cardinality of the smallest set and M is the "
    + "number of sets."
private let totalComplexity = "O(N) where N is the total number of elements in all given sets."

extension KeyspaceEvent {
    static let sadd = KeyspaceEvent("sadd", .set)
    static let srem = KeyspaceEvent("srem", .set)
    static let spop = KeyspaceEvent("spop", .set)
    static let sinterstore = KeyspaceEvent("sinterstore", .set)
    static let sunionstore = KeyspaceEvent("sunionstore", .set)
    static let sdiffstore = KeyspaceEvent("sdiffstore", .set)
}

// MARK: - Shared helpers

/// The set at argument `i`, or nil after replying: `missing` (a reply chosen by the caller) when there is
/// no such key, WRONGTYPE when it holds another type. A read counts a keyspace hit or miss; a write does
/// not, as Redis's lookupKeyRead / lookupKeyWrite. An inline set is read through a SetValue made from it;
/// for a write it becomes that SetValue, stored under the key.
private func setValue(_ c: Client, _ i: Int, forWrite: Bool, orReply missing: (Client) -> Void) -> SetValue? {
    guard let value = storedSet(c, i, forWrite: forWrite, orReply: missing) else { return nil }
    return forWrite ? editableSet(c, i, value) : value.setForReading
}

/// The set at argument `i` as stored (SetValue or inline), for what answers from either without making a
/// SetValue; nil after replying as `setValue` does.
private func storedSet(_ c: Client, _ i: Int, forWrite: Bool = false, orReply missing: (Client) -> Void) -> Value? {
    let now = c.now
    guard let value = forWrite ? c.db.lookup(c.arg(i), now: now, .write) : c.db.lookup(c.arg(i), now: now) else {
        missing(c)
        return nil
    }
    guard value.type == .set else {
        c.replyWrongType()
        return nil
    }
    return value
}

/// The set `value` (looked up at argument `i` for a write) as a SetValue to edit in place: an inline set
/// becomes one, stored under the key.
private func editableSet(_ c: Client, _ i: Int, _ value: Value) -> SetValue {
    let set = value.setForReading!
    if case .inlineIntset = value { c.db.replaceValue(c.arg(i), with: .set(set)) }
    return set
}

private func replyZero(_ c: Client) { c.reply.integer(0) }
private func replyEmptyArray(_ c: Client) { c.reply.array(0) }
private func replyEmptySet(_ c: Client) { c.reply.set(0) }

@inline(__always) private func replyMember(_ c: Client, _ member: SetMember) {
    switch member {
    case .integer(let v): c.reply.bulk(v)
    case .bytes(let s): c.reply.bulk(s)
    }
}

extension Client {
    /// set-max-intset-entries, as the set conversions read it.
    @inline(__always) var maxIntsetEntries: Int { server.config.setMaxIntsetEntries }
}

// MARK: - SADD, SREM, SMOVE

/// SADD key member [member ...]. A new key starts in the encoding its first member calls for (an intset
/// when it is an integer, held inline while it fits), as Redis's setTypeCreate.
private func sadd(_ c: Client) {
    c.withDatabase { db in  // borrowed, as the stored set (`Database.StoredValue`): no retain per request
        let limit = c.maxIntsetEntries
        var added = 0
        if let stored = db.lookupStored(c.arg(1), now: c.now, .write) {
            if let set = stored.set {
                set._withUnsafeGuaranteedRef { set in
                    for i in 2..<c.argc where set.add(c.arg(i), maxIntsetEntries: limit) { added += 1 }
                }
            } else if case .inlineIntset(let inline) = stored.value {
                var value = Value.inlineIntset(inline)
                added = addMembers(c, to: &value, maxIntsetEntries: limit)
                if added > 0 { db.replaceValue(c.arg(1), with: value) }
            } else {
                return c.replyWrongType()
            }
        } else {
            var value: Value = parseInt64(c.arg(2)) != nil ? .inlineIntset(InlineIntSet()) : .set(SetValue(hashtableCapacity: 0))
            added = addMembers(c, to: &value, maxIntsetEntries: limit)
            // The change counted and notified is the command's, below.
            db.add(c.argBytes(1), value, event: .none, changes: 0)
        }
        if added > 0 { db.didModify(c.arg(1), .sadd, changes: added) }
        c.reply.integer(added)
    }
}

/// Adds the members at arguments 2... to `value`, an inline set or a SetValue, and returns how many were new.
/// An inline set takes integers while it fits its entry and holds at most `maxIntsetEntries`; the first
/// member it cannot take moves it to a SetValue in the intset form, whose `add` converts it as Redis would
/// (to a hashtable for a member that is not an integer, or past the limit).
private func addMembers(_ c: Client, to value: inout Value, maxIntsetEntries limit: Int) -> Int {
    var added = 0
    var i = 2
    if case .inlineIntset(var inline) = value {
        members: while i < c.argc, let v = parseInt64(c.arg(i)) {
            if !inline.contains(v) {
                guard inline.count < limit else { break members }
                switch inline.insert(v) {
                case .inserted: added += 1
                case .present: break
                case .full: break members
                }
            }
            i += 1
        }
        if i == c.argc {
            value = .inlineIntset(inline)
            return added
        }
        value = .set(SetValue(inline))
    }
    guard case .set(let set) = value else { preconditionFailure("addMembers: not a set") }
    while i < c.argc {
        if set.add(c.arg(i), maxIntsetEntries: limit) { added += 1 }
        i += 1
    }
    return added
}

/// SREM key member [member ...]. The key goes as soon as the set is empty: "srem", then "del".
private func srem(_ c: Client) {
    var deleted = 0
    var isEmpty = false
    var i = 2
    switch c.db.lookup(c.arg(1), now: c.now, .write) {
    case nil:
        return c.reply.integer(0)
    case .inlineIntset(var inline)?:
        removals: while i < c.argc {
            if let v = parseInt64(c.arg(i)) {
                switch inline.remove(v) {
                case .removed: deleted += 1
                case .absent: break
                case .full: break removals  // the rest through a SetValue, below
                }
                if inline.count == 0 { break }
            }
            i += 1
        }
        if i < c.argc && inline.count > 0 {
            let set = SetValue(inline)
            c.db.replaceValue(c.arg(1), with: .set(set))
            deleted += removeMembers(c, from: set, startingAt: i)
            isEmpty = set.isEmpty
        } else {
            isEmpty = inline.count == 0
            if deleted > 0 && !isEmpty { c.db.replaceValue(c.arg(1), with: .inlineIntset(inline)) }
        }
    case .set(let set)?:
        deleted = removeMembers(c, from: set, startingAt: i)
        isEmpty = set.isEmpty
    default:
        return c.replyWrongType()
    }
    if deleted > 0 {
        c.db.didModify(c.arg(1), .srem, changes: deleted)
        if isEmpty { c.db.remove(c.arg(1), changes: 0) }
    }
    c.reply.integer(deleted)
}

/// Removes the members at arguments `first`... from `set`, stopping once it is empty; returns how many were there.
private func removeMembers(_ c: Client, from set: SetValue, startingAt first: Int) -> Int {
    var deleted = 0
    for i in first..<c.argc where set.remove(c.arg(i)) {
        deleted += 1
        if set.isEmpty { break }
    }
    return deleted
}

/// SMOVE source destination member. A missing source answers 0 before the destination's type is checked;
/// moving within one set only answers whether the member is there. Events: "srem" on the source ("del"
/// if it empties), then "sadd" on the destination if the member was new there; each side counts one change.
private func smove(_ c: Client) {
    let now = c.now
    let source = c.db.lookup(c.arg(1), now: now, .write)
    let destination = c.db.lookup(c.arg(2), now: now, .write)
    guard let source else { return c.reply.integer(0) }
    guard source.type == .set else { return c.replyWrongType() }
    if let destination, destination.type != .set { return c.replyWrongType() }
    let member = c.arg(3)
    // One key: Redis compares the two sets' addresses.
    if bytesEqual(c.arg(1), c.arg(2)) { return c.reply.integer(source.setForReading!.contains(member) ? 1 : 0) }
    guard setContains(source, member) else { return c.reply.integer(0) }
    // Both edited in place: inline sets become SetValues first.
    let src = editableSet(c, 1, source)
    let dst = destination.map { editableSet(c, 2, $0) }
    let removed = src.remove(member)
    precondition(removed, "SMOVE: the member was there")
    c.db.didModify(c.arg(1), .srem, changes: 1)
    if src.isEmpty { c.db.remove(c.arg(1), changes: 0) }
    let target: SetValue
    if let dst {
        target = dst
    } else {
        target = SetValue.makeFor(member)
        c.db.add(c.argBytes(2), .set(target), event: .none, changes: 0)  // a SetValue, as SMOVE edits it
    }
    if target.add(member, maxIntsetEntries: c.maxIntsetEntries) { c.db.didModify(c.arg(2), .sadd, changes: 1) }
    c.reply.integer(1)
}

// MARK: - SISMEMBER, SMISMEMBER, SCARD

/// Whether the set `value` holds `member`.
private func setContains(_ value: Value, _ member: UnsafeRawBufferPointer) -> Bool {
    switch value {
    case .set(let set): return set.contains(member)
    case .inlineIntset(let set): return parseInt64(member).map(set.contains) ?? false
    default: preconditionFailure("setContains: not a set")
    }
}

private func sismember(_ c: Client) {
    guard let set = storedSet(c, 1, orReply: replyZero) else { return }
    c.reply.integer(setContains(set, c.arg(2)) ? 1 : 0)
}

/// A missing key reads as an empty set: one 0 per member.
private func smismember(_ c: Client) {
    let set = c.db.lookup(c.arg(1), now: c.now)
    if let set, set.type != .set { return c.replyWrongType() }
    c.reply.array(c.argc - 2)
    for i in 2..<c.argc { c.reply.integer(set.map { setContains($0, c.arg(i)) } == true ? 1 : 0) }
}

private func scard(_ c: Client) {
    guard let set = storedSet(c, 1, orReply: replyZero) else { return }
    c.reply.integer(set.elementCount)
}

// MARK: - SPOP

/// SPOP key [count]. Without a count: one random member, propagated as SREM key member.
private func spop(_ c: Client) {
    if c.argc == 3 { return spopWithCount(c) }
    if c.argc > 3 { return c.replySyntaxError() }
    guard let set = setValue(c, 1, forWrite: true, orReply: replyNull) else { return }
    var random = FastRandom()
    let member = set.popRandom(using: &random)!
    c.db.didModify(c.arg(1), .spop, changes: 1)
    c.propagateAs(["SREM", c.argBytes(1), member.byteString])
    replyMember(c, member)
    if set.isEmpty { c.db.remove(c.arg(1), changes: 0) }
}

/// Redis's SPOP_MOVE_STRATEGY_MUL: past this ratio of popped to remaining members, building the remainder
/// as a new set is cheaper than popping one by one.
private let spopMoveStrategyMultiplier = 5

/// SPOP key count, Redis's spopWithCountCommand. The count is parsed before the key is looked up.
/// - CASE 1, count >= size: the whole set is the reply (as SUNION of the key builds it) and the key is
///   deleted; propagated as DEL key.
/// - CASE 2, few popped compared to what remains: pop random members one at a time.
/// - CASE 3, most of the set popped: draw the members to keep into a new set (which starts as an intset
///   when its first member is an integer, whatever the old encoding) and pop the rest in the old set's order.
/// Cases 2 and 3 propagate one SREM key member per popped member instead of the SPOP.
private func spopWithCount(_ c: Client) {
    guard let l = parseInt64(c.arg(2)), l >= 0 else { return c.reply.error("ERR value is out of range, must be positive") }
    guard let value = storedSet(c, 1, forWrite: true, orReply: replyEmptySet) else { return }
    let count = Int(l)
    if count == 0 { return c.reply.set(0) }
    let set = editableSet(c, 1, value)
    let size = set.count
    c.db.didModify(c.arg(1), .spop, changes: Swift.min(count, size))

    if count >= size {
        sunionDiffGeneric(c, keys: 1..<2, destination: nil, .union)
        c.db.remove(c.arg(1), changes: 0)
        c.propagateAs(["DEL", c.argBytes(1)])
        return
    }

    let propagating = c.server.isPropagating
    let key = propagating ? c.argBytes(1) : .empty
    @inline(__always) func popped(_ member: SetMember) {
        replyMember(c, member)
        if propagating { c.server.alsoPropagate(db: c.db.index, ["SREM", key, member.byteString]) }
    }
    c.reply.set(count)
    var random = FastRandom()
    var remaining = size - count
    if remaining * spopMoveStrategyMultiplier > count {
        for _ in 0..<count { popped(set.popRandom(using: &random)!) }
    } else {
        var kept: SetValue?
        let limit = c.maxIntsetEntries
        while remaining > 0 {
            let member = set.popRandom(using: &random)!
            if kept == nil { kept = SetValue.makeFor(member) }
            kept!.add(member, maxIntsetEntries: limit)
            remaining -= 1
        }
        set.forEach(popped)
        set.replaceContents(with: kept!)
    }
    c.propagation.prevent = true
}

// MARK: - SRANDMEMBER

/// SRANDMEMBER key [count].
private func srandmember(_ c: Client) {
    if c.argc == 3 { return srandmemberWithCount(c) }
    if c.argc > 3 { return c.replySyntaxError() }
    guard let set = setValue(c, 1, forWrite: false, orReply: replyNull) else { return }
    var random = FastRandom()
    replyMember(c, set.randomMember(using: &random)!)
}

/// SRANDMEMBER key count, Redis's srandmemberWithCountCommand (the count is parsed first):
/// - CASE 1, a negative count (or 1): |count| independent draws, repeats allowed;
/// - CASE 2, count >= size: the whole set in its order;
/// - CASES 3 and 4: `count` distinct members (`SetValue.randomDistinctMembers`).
private func srandmemberWithCount(_ c: Client) {
    guard let l = parseInt64(c.arg(2)) else { return c.replyNotInteger() }
    if l == Int64.min {
        return c.reply.error("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
    }
    guard let set = setValue(c, 1, forWrite: false, orReply: replyEmptyArray) else { return }
    let count = Int(l.magnitude)
    if count == 0 { return c.reply.array(0) }
    var random = FastRandom()
    if l < 0 || count == 1 {
        c.reply.array(count)
        for _ in 0..<count { replyMember(c, set.randomMember(using: &random)!) }
    } else if count >= set.count {
        c.reply.array(set.count)
        set.forEach { replyMember(c, $0) }
    } else {
        c.reply.array(count)
        for member in set.randomDistinctMembers(count: count, using: &random) { replyMember(c, member) }
    }
}

// MARK: - SINTER, SMEMBERS, SINTERSTORE, SINTERCARD

/// SINTERCARD numkeys key [key ...] [LIMIT limit]: options are parsed before the keys are looked up.
private func sintercard(_ c: Client) {
    guard let numkeys = parseInt64(c.arg(1)), numkeys >= 1 else {
        return c.reply.error("ERR numkeys should be greater than 0")
    }
    if numkeys > Int64(c.argc - 2) { return c.reply.error("ERR Number of keys can't be greater than number of args") }
    let n = Int(numkeys)
    var limit = 0
    var j = 2 + n
    while j < c.argc {
        if argOptionIs(c, j, "limit") && j + 1 < c.argc {
            guard let l = parseInt64(c.arg(j + 1)), l >= 0 else { return c.reply.error("ERR LIMIT can't be negative") }
            limit = Int(l)
            j += 2
        } else {
            return c.replySyntaxError()
        }
    }
    sinterGeneric(c, keys: 2..<(2 + n), destination: nil, cardinalityOnly: true, limit: limit)
}

/// The sets at `keys`, looked up as reads (hits and misses counted) in order, nil for a missing key; nil
/// overall after replying WRONGTYPE for the first key of another type.
private func lookupSets(_ c: Client, _ keys: Range<Int>) -> [SetValue?]? {
    let now = c.now
    var sets: [SetValue?] = []
    sets.reserveCapacity(keys.count)
    // An inline set read twice is one SetValue, as a stored one is: SDIFF and SINTER know their inputs by
    // identity.
    var made: [ByteString: SetValue] = [:]
    for i in keys {
        switch c.db.lookup(c.arg(i), now: now) {
        case nil: sets.append(nil)
        case .set(let set)?: sets.append(set)
        case let value? where value.type == .set:
            let key = c.argBytes(i)
            if let set = made[key] {
                sets.append(set)
            } else {
                let set = value.setForReading!
                made[key] = set
                sets.append(set)
            }
        default:
            c.replyWrongType()
            return nil
        }
    }
    return sets
}

/// Redis's sinterGenericCommand: the members of the smallest input that every other input holds, in the
/// smallest input's order (inputs sorted by size, stably, like glibc's merge-sort qsort). A missing key
/// makes the intersection empty. With a `destination` (argument index) the result is stored; with
/// `cardinalityOnly` only counted, up to `limit` when it is not 0.
private func sinterGeneric(_ c: Client, keys: Range<Int>, destination: Int?, cardinalityOnly: Bool = false,
                           limit: Int = 0) {
    guard let found = lookupSets(c, keys) else { return }
    guard found.allSatisfy({ $0 != nil }) else {
        if let destination {
            c.db.remove(c.arg(destination))
            c.reply.integer(0)
        } else if cardinalityOnly {
            c.reply.integer(0)
        } else {
            c.reply.set(0)
        }
        return
    }
    let sets = found.map { $0! }.sorted { $0.count < $1.count }
    let smallest = sets[0]
    let others = sets.dropFirst().filter { $0 !== smallest }
    if others.isEmpty && destination == nil && !cardinalityOnly {
        // SMEMBERS (or SINTER of one set): the whole set, streamed without collecting it first.
        c.reply.set(smallest.count)
        smallest.forEach { replyMember(c, $0) }
        return
    }
    var cardinality = 0
    var result: [SetMember] = []
    let stored = destination != nil ? SetValue() : nil
    let maxIntset = c.maxIntsetEntries
    var done = false
    smallest.forEach { member in
        guard !done, others.allSatisfy({ $0.contains(member) }) else { return }
        cardinality += 1
        if cardinalityOnly {
            if limit != 0 && cardinality >= limit { done = true }
        } else if let stored {
            stored.add(member, maxIntsetEntries: maxIntset)
        } else {
            result.append(member)
        }
    }
    if cardinalityOnly { return c.reply.integer(cardinality) }
    if let destination, let stored {
        storeResult(c, destination: destination, stored, event: .sinterstore)
        return
    }
    c.reply.set(result.count)
    for member in result { replyMember(c, member) }
}

/// A STORE command's ending: a non-empty result replaces the destination ("sinterstore" and friends, the
/// old value and TTL gone); an empty one deletes it ("del" when it existed). The reply is the result's size.
private func storeResult(_ c: Client, destination: Int, _ result: SetValue, event: KeyspaceEvent) {
    let size = result.count
    if size > 0 {
        c.db.set(c.argBytes(destination), .set(compacting: result), event: event)
    } else {
        c.db.remove(c.arg(destination))
    }
    c.reply.integer(size)
}

// MARK: - SUNION, SDIFF, their STORE forms

private enum UnionOrDiff { case union, diff }

/// Redis's sunionDiffGenericCommand. The result is built as a set (starting as an intset) and the reply
/// walks it, so an all-integer result answers in ascending order.
///
/// SDIFF picks one of Redis's two algorithms by estimated work: (1) for each member of the first set, add
/// it unless another set holds it (the other sets sorted by decreasing size); (2) add the whole first set,
/// then remove every member of the others. They give the same members, but (2) can convert the result to a
/// hashtable on the way (more than set-max-intset-entries members before the removals), which OBJECT
/// ENCODING of an SDIFFSTORE destination shows, so the choice follows Redis's.
private func sunionDiffGeneric(_ c: Client, keys: Range<Int>, destination: Int?, _ op: UnionOrDiff) {
    guard var sets = lookupSets(c, keys) else { return }
    let result = SetValue()
    let maxIntset = c.maxIntsetEntries
    switch op {
    case .union:
        for set in sets { set?.forEach { result.add($0, maxIntsetEntries: maxIntset) } }
    case .diff:
        guard let first = sets[0] else { break }
        var algorithmOneWork = 0, algorithmTwoWork = 0
        for set in sets where set != nil {
            algorithmOneWork += first.count
            algorithmTwoWork += set!.count
        }
        // Algorithm 1 has better constant times: Redis gives it this advantage.
        algorithmOneWork /= 2
        if algorithmOneWork <= algorithmTwoWork {
            if sets.count > 1 { sets[1...].sort { ($0?.count ?? 0) > ($1?.count ?? 0) } }
            let others = sets.dropFirst().compactMap { $0 }
            first.forEach { member in
                // A later key naming the first set itself removes everything.
                if others.contains(where: { $0 === first || $0.contains(member) }) { return }
                result.add(member, maxIntsetEntries: maxIntset)
            }
        } else {
            for (j, set) in sets.enumerated() {
                guard let set else { continue }
                if j == 0 {
                    set.forEach { result.add($0, maxIntsetEntries: maxIntset) }
                } else {
                    set.forEach { result.remove($0) }
                }
                if result.isEmpty { break }
            }
        }
    }
    if let destination {
        storeResult(c, destination: destination, result, event: op == .union ? .sunionstore : .sdiffstore)
        return
    }
    c.reply.set(result.count)
    result.forEach { replyMember(c, $0) }
}

// MARK: - SSCAN

/// SSCAN key cursor [MATCH pattern] [COUNT count]. As in Redis, the cursor is parsed first, then the key is
/// looked up, then the options. An intset, or a hashtable small enough to be packed (see SetValue), is
/// returned whole with cursor 0 (whatever the cursor), as Redis returns its compact encodings; a larger one
/// is walked with the table's reverse-binary cursor. MATCH filters after collecting, so a call
/// may return fewer members than COUNT.
private func sscan(_ c: Client) {
    guard let cursor = parseScanCursor(c.arg(2)) else { return c.reply.error("ERR invalid cursor") }
    guard let set = setValue(c, 1, forWrite: false, orReply: replyEmptyScan) else { return }
    guard let (count, pattern) = collectionScanOptions(c) else { return }
    var batch: [SetMember] = []
    var next: UInt64 = 0
    if !set.hasScanCursor {
        batch = set.members
    } else {
        next = set.scan(cursor: cursor, count: count) { batch.append(.bytes($0)) }
    }
    if let pattern {
        batch.removeAll { member in !member.withUnsafeBytes { globMatch(pattern: pattern, string: $0) } }
    }
    c.reply.array(2)
    c.reply.bulk(String(next))
    c.reply.array(batch.count)
    for member in batch { replyMember(c, member) }
}

private func replyEmptyScan(_ c: Client) {
    c.reply.array(2)
    c.reply.bulk("0")
    c.reply.array(0)
}
