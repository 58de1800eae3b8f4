/// Generic keyspace commands: DEL, UNLINK, EXISTS, TYPE, RENAME, RENAMENX, TOUCH, COPY, MOVE, SWAPDB,
/// RANDOMKEY, OBJECT, KEYS, SCAN. (DBSIZE, FLUSHDB and FLUSHALL are server commands; the TTL family is
/// in Expiry.swift.)
///
/// Every lookup goes through Database, so a key past its time is deleted on the way (lazy expiry) exactly
/// where Redis's lookupKeyRead / lookupKeyWrite would delete it; read-style lookups (EXISTS, TYPE, TOUCH,
/// COPY's source, OBJECT) count keyspace hits and misses as Redis does, write-style ones do not.

let keyCommands: [Command] = [
    Command("del", arity: -2, flags: [.write], keys: (1, -1, 1), group: "generic",
            summary: "Delete a key",
            complexity: "O(N) where N is the number of keys that will be removed. When a key to remove holds a value other than a string, the individual complexity for this key is O(M) where M is the number of elements in the list, set, sorted set or hash. Removing a single key that holds a string value is O(1).",
            handler: del),
    Command("unlink", arity: -2, flags: [.write, .fast], keys: (1, -1, 1), group: "generic", since: "4.0.0",
            summary: "Delete a key asynchronously in another thread. Otherwise it is just as DEL, but non blocking.",
            complexity: "O(1) for each key removed regardless of its size. Then the command does O(N) work in a different thread in order to reclaim memory, where N is the number of allocations the deleted objects where composed of.",
            handler: del),
    Command("exists", arity: -2, flags: [.readonly, .fast], keys: (1, -1, 1), group: "generic",
            summary: "Determine if a key exists", complexity: "O(N) where N is the number of keys to check.",
            handler: exists),
    Command("type", arity: 2, flags: [.readonly, .fast], keys: (1, 1, 1), group: "generic",
            summary: "Determine the type stored at key", complexity: "O(1)", handler: type),
    Command("rename", arity: 3, flags: [.write], keys: (1, 2, 1), group: "generic",
            summary: "Rename a key", complexity: "O(1)", handler: { renameGeneric($0, onlyIfNew: false) }),
    Command("renamenx", arity: 3, flags: [.write, .fast], keys: (1, 2, 1), group: "generic",
            summary: "Rename a key, only if the new key does not exist", complexity: "O(1)",
            handler: { renameGeneric($0, onlyIfNew: true) }),
    Command("touch", arity: -2, flags: [.readonly, .fast], keys: (1, -1, 1), group: "generic", since: "3.2.1",
            summary: "Alters the last access time of a key(s). Returns the number of existing keys specified.",
            complexity: "O(N) where N is the number of keys that will be touched.", handler: touch),
    Command("copy", arity: -3, flags: [.write, .denyoom], keys: (1, 2, 1), group: "generic", since: "6.2.0",
            summary: "Copy a key",
            complexity: "O(N) worst case for collections, where N is the number of nested items. O(1) for string values.",
            handler: copy),
    Command("move", arity: 3, flags: [.write, .fast], keys: (1, 1, 1), group: "generic",
            summary: "Move a key to another database", complexity: "O(1)", handler: move),
    Command("swapdb", arity: 3, flags: [.write, .fast], group: "server", since: "4.0.0",
            summary: "Swaps two Redis databases",
            complexity: "O(N) where N is the count of clients watching or blocking on keys from both databases.",
            handler: swapdb),
    Command("randomkey", arity: 1, flags: [.readonly], group: "generic",
            summary: "Return a random key from the keyspace", complexity: "O(1)", handler: randomkey),
    Command("object", arity: -2, group: "generic", since: "2.2.3",
            summary: "A container for object introspection commands", complexity: "Depends on subcommand.",
            subcommands: [
                Command("encoding", arity: 3, flags: [.readonly], keys: (2, 2, 1), group: "generic", since: "2.2.3",
                        summary: "Inspect the internal encoding of a Redis object", complexity: "O(1)",
                        handler: objectEncoding),
                Command("freq", arity: 3, flags: [.readonly], keys: (2, 2, 1), group: "generic", since: "4.0.0",
                        summary: "Get the logarithmic access frequency counter of a Redis object",
                        complexity: "O(1)", handler: objectFreq),
                Command("idletime", arity: 3, flags: [.readonly], keys: (2, 2, 1), group: "generic", since: "2.2.3",
                        summary: "Get the time since a Redis object was last accessed", complexity: "O(1)",
                        handler: objectIdletime),
                Command("refcount", arity: 3, flags: [.readonly], keys: (2, 2, 1), group: "generic", since: "2.2.3",
                        summary: "Get the number of references to the value of the key", complexity: "O(1)",
                        handler: objectRefcount),
                Command("help", arity: 2, flags: [.loading, .stale], group: "generic", since: "6.2.0",
                        summary: "Show helpful text about the different subcommands", complexity: "O(1)",
                        handler: objectHelp),
            ]),
    Command("keys", arity: 2, flags: [.readonly], group: "generic",
            summary: "Find all keys matching the given pattern",
            complexity: "O(N) with N being the number of keys in the database, under the assumption that the key names in the database and the given pattern have limited length.",
            handler: keys),
    Command("scan", arity: -2, flags: [.readonly], group: "generic", since: "2.8.0",
            summary: "Incrementally iterate the keys space",
            complexity: "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.",
            handler: scan),
]

// MARK: - DEL, UNLINK, EXISTS, TOUCH, TYPE

/// DEL and UNLINK. UNLINK will hand big values to the thread pool to free; until values can be big
/// (collections), freeing on the loop costs the same.
private func del(_ c: Client) {
    let now = c.now
    var deleted = 0
    for i in 1..<c.argc {
        let key = c.argBytes(i)
        // The lookup first, as Redis's expireIfNeeded: a key past its time counts as expired, not deleted.
        if c.db.lookup(key, now: now, .write) != nil && c.db.remove(key) { deleted += 1 }
    }
    c.reply.integer(deleted)
}

/// EXISTS and TOUCH: the number of arguments naming a live key (duplicates count each time). TOUCH refreshes
/// their access stamps (LRU clock or LFU counter); EXISTS leaves them alone, as TYPE, the TTL family and SCAN
/// do (Redis's LOOKUP_NOTOUCH).
private func exists(_ c: Client) { countLiveKeys(c, .noTouch) }

private func touch(_ c: Client) { countLiveKeys(c, []) }

private func countLiveKeys(_ c: Client, _ flags: Database.LookupFlags) {
    let now = c.now
    var found = 0
    for i in 1..<c.argc where c.db.lookup(c.arg(i), now: now, flags) != nil { found += 1 }
    c.reply.integer(found)
}

private func type(_ c: Client) {
    guard let value = c.db.lookup(c.arg(1), now: c.now, .noTouch) else { return c.reply.simple("none") }
    c.reply.simple(value.typeName)
}

// MARK: - RENAME, RENAMENX, COPY, MOVE, SWAPDB

private func renameGeneric(_ c: Client, onlyIfNew: Bool) {
    let now = c.now
    let source = c.argBytes(1)
    let destination = c.argBytes(2)
    guard let value = c.db.lookup(source, now: now, .write) else { return c.reply.error("ERR no such key") }
    if source == destination { return onlyIfNew ? c.reply.integer(0) : c.reply.ok() }
    let when = c.db.expireTime(source)
    let hint = c.db.stringHint(source)
    if c.db.lookup(destination, now: now, .write) != nil {
        if onlyIfNew { return c.reply.integer(0) }
        c.db.remove(destination, reason: .overwritten, event: .none)
    }
    // One change, notified as rename_from then rename_to. The value keeps its access stamp (Redis moves the
    // object, whose LRU/LFU field the lookup above just touched).
    let stamp = source.withUnsafeBytes { c.db.accessStamp($0) }
    c.db.remove(source, event: .renameFrom)
    c.db.add(destination, value, hint: hint, event: .renameTo, changes: 0)
    if let stamp { destination.withUnsafeBytes { c.db.setAccessStamp($0, stamp) } }
    if let when { c.db.setExpire(destination, at: when, event: .none, changes: 0) }
    onlyIfNew ? c.reply.integer(1) : c.reply.ok()
}

/// COPY source destination [DB destination-db] [REPLACE]
private func copy(_ c: Client) {
    var target = c.db
    var replace = false
    var i = 3
    while i < c.argc {
        if argOptionIs(c, i, "REPLACE") {
            replace = true
        } else if argOptionIs(c, i, "DB") && i + 1 < c.argc {
            guard let db = databaseArg(c, i + 1) else { return }
            target = db
            i += 1
        } else {
            return c.replySyntaxError()
        }
        i += 1
    }
    let source = c.argBytes(1)
    let destination = c.argBytes(2)
    if target === c.db && source == destination {
        return c.reply.error("ERR source and destination objects are the same")
    }
    let now = c.now
    guard let value = c.db.lookup(source, now: now) else { return c.reply.integer(0) }
    let when = c.db.expireTime(source)
    var hint = c.db.stringHint(source)
    // Redis's dupStringObject gives an integer its own object: no longer the shared one.
    if hint == .likeSet, case .string(let s) = value, stringEncoding(s) == .int { hint = .unshared }
    if target.lookup(destination, now: now, .write) != nil {
        if !replace { return c.reply.integer(0) }
        target.remove(destination, reason: .overwritten, event: .none)
    }
    target.add(destination, value.duplicate(), hint: hint, event: .copyTo)
    if let when { target.setExpire(destination, at: when, event: .none, changes: 0) }
    c.reply.integer(1)
}

private func move(_ c: Client) {
    guard let target = databaseArg(c, 2) else { return }
    if target === c.db { return c.reply.error("ERR source and destination objects are the same") }
    let now = c.now
    let key = c.argBytes(1)
    guard let value = c.db.lookup(key, now: now, .write) else { return c.reply.integer(0) }
    let when = c.db.expireTime(key)
    if target.lookup(key, now: now, .write) != nil { return c.reply.integer(0) }
    let hint = c.db.stringHint(key)
    // One change, notified as move_from (in the source database) then move_to; the value keeps its access stamp.
    let stamp = key.withUnsafeBytes { c.db.accessStamp($0) }
    c.db.remove(key, event: .moveFrom)
    target.add(key, value, hint: hint, event: .moveTo, changes: 0)
    if let stamp { key.withUnsafeBytes { target.setAccessStamp($0, stamp) } }
    if let when { target.setExpire(key, at: when, event: .none, changes: 0) }
    c.reply.integer(1)
}

private func swapdb(_ c: Client) {
    guard let first = int32Value(c.arg(1)) else { return c.reply.error("ERR invalid first DB index") }
    guard let second = int32Value(c.arg(2)) else { return c.reply.error("ERR invalid second DB index") }
    let databases = c.server.databases
    guard first >= 0, first < databases.count, second >= 0, second < databases.count else {
        return c.reply.error("ERR DB index is out of range")
    }
    databases[first].swapContents(with: databases[second])
    c.reply.ok()
}

/// A database number argument, with Redis's getIntFromObjectOrReply errors and then the range check.
private func databaseArg(_ c: Client, _ i: Int) -> Database? {
    guard let value = c.int64Arg(i) else { return nil }
    guard value >= Int64(Int32.min) && value <= Int64(Int32.max) else {
        c.reply.error("ERR value is out of range, value must between -2147483648 and 2147483647")
        return nil
    }
    guard value >= 0 && value < Int64(c.server.databases.count) else {
        c.reply.error("ERR DB index is out of range")
        return nil
    }
    return c.server.databases[Int(value)]
}

private func int32Value(_ bytes: UnsafeRawBufferPointer) -> Int? {
    guard let v = parseInt64(bytes), v >= Int64(Int32.min), v <= Int64(Int32.max) else { return nil }
    return Int(v)
}

// MARK: - RANDOMKEY, KEYS, SCAN

private func randomkey(_ c: Client) {
    guard let key = c.db.randomKey(now: c.now) else { return c.reply.null() }
    c.reply.bulk(key)
}

private func keys(_ c: Client) {
    let pattern = c.arg(1)
    let everything = pattern.count == 1 && pattern[0] == UInt8(ascii: "*")
    var matched: [ByteString] = []
    c.db.forEachKey(now: c.now) { key in
        if everything || key.withUnsafeBytes({ globMatch(pattern: pattern, string: $0) }) { matched.append(key) }
    }
    c.reply.array(matched.count)
    for key in matched { c.reply.bulk(key) }
}

/// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]. The cursor is the keyspace table's reverse-binary
/// cursor (see Database.scan): every key present for the whole scan is returned at least once. Filtering
/// happens after collecting, as in Redis, so a call may return fewer keys than COUNT, or none, with a
/// non-zero cursor.
private func scan(_ c: Client) {
    guard let cursor = parseScanCursor(c.arg(1)) else { return c.reply.error("ERR invalid cursor") }
    var count = 10
    var pattern: UnsafeRawBufferPointer?
    var typeIndex = 0
    var i = 2
    while i < c.argc {
        let remaining = c.argc - i
        if argOptionIs(c, i, "COUNT") && remaining >= 2 {
            guard let n = c.int64Arg(i + 1) else { return }
            if n < 1 { return c.replySyntaxError() }
            count = Int(n)
        } else if argOptionIs(c, i, "MATCH") && remaining >= 2 {
            let p = c.arg(i + 1)
            pattern = p.count == 1 && p[0] == UInt8(ascii: "*") ? nil : p
        } else if argOptionIs(c, i, "TYPE") && remaining >= 2 {
            typeIndex = i + 1
        } else {
            return c.replySyntaxError()
        }
        i += 2
    }

    var batch: [ByteString] = []
    let next = c.db.scan(cursor: cursor, count: count, into: &batch)
    let now = c.now
    var kept = 0
    for key in batch {
        if let pattern, !key.withUnsafeBytes({ globMatch(pattern: pattern, string: $0) }) { continue }
        if typeIndex != 0 {
            // The type lookup already reclaims an expired key, which then has type "none"; Redis 7.0's
            // expiry check that follows finds nothing left to expire, so TYPE none returns such keys.
            let name = c.db.lookup(key, now: now, .noTouch)?.typeName ?? "none"
            if !cStringEqualsIgnoringCase(c.arg(typeIndex), name) { continue }
        } else if c.db.lookup(key, now: now, [.write, .noTouch]) == nil {
            continue  // expired: deleted now, as Redis's SCAN does
        }
        batch[kept] = key
        kept += 1
    }
    c.reply.array(2)
    c.reply.bulk(Int64(bitPattern: next))
    c.reply.array(kept)
    for key in batch[0..<kept] { c.reply.bulk(key) }
}

// MARK: - OBJECT

/// The value OBJECT subcommands inspect, or nil after replying null for a missing key.
/// OBJECT's lookup (Redis's objectCommandLookup): expires as any read, but leaves the access stamp alone.
private func objectValue(_ c: Client) -> Value? {
    guard let value = c.db.lookup(c.arg(2), now: c.now, [.noTouch, .noNotify]) else {
        c.reply.null()
        return nil
    }
    return value
}

private func objectEncoding(_ c: Client) {
    guard let value = objectValue(c) else { return }
    c.reply.bulk(value.encodingName(hint: c.db.stringHint(c.argBytes(2))))
}

/// Whether the maxmemory policy is an LRU or LFU one (Redis's MAXMEMORY_FLAG_LRU / _LFU).
private func policyTracksLRU(_ c: Client) -> Bool { c.server.config.maxmemoryPolicy.hasSuffix("-lru") }
private func policyTracksLFU(_ c: Client) -> Bool { c.server.config.maxmemoryPolicy.hasSuffix("-lfu") }

/// Redis's SET shares the objects for the integers 0...9999 (refcount INT_MAX) unless an LRU/LFU policy
/// with a maxmemory limit needs a per-key access stamp; every other value has one reference.
private func objectRefcount(_ c: Client) {
    guard let value = objectValue(c) else { return }
    switch value {
    case .string(let s):
        let sharedAllowed = c.server.config.maxmemory == 0 || !(policyTracksLRU(c) || policyTracksLFU(c))
        if sharedAllowed, c.db.stringHint(c.argBytes(2)) == .likeSet, stringEncoding(s) == .int,
           let n = s.withUnsafeBytes({ parseInt64($0) }), n >= 0 && n < 10000 {
            return c.reply.integer(Int64(Int32.max))
        }
        c.reply.integer(1)
    case .list, .set, .inlineIntset, .sortedSet, .hash, .stream:
        c.reply.integer(1)
    }
}

/// OBJECT IDLETIME: seconds since the key's last access, from its LRU stamp (Storage/AccessClock.swift).
private func objectIdletime(_ c: Client) {
    guard objectValue(c) != nil, let stamp = c.db.accessStamp(c.arg(2)) else { return }
    if policyTracksLFU(c) {
        return c.reply.error("ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.")
    }
    c.reply.integer(c.server.keyspace.access.idleMillis(stamp) / 1000)
}

/// OBJECT FREQ: the key's LFU counter, decayed to now (the stamp itself is not changed).
private func objectFreq(_ c: Client) {
    guard objectValue(c) != nil, let stamp = c.db.accessStamp(c.arg(2)) else { return }
    if !policyTracksLFU(c) {
        return c.reply.error("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.")
    }
    c.reply.integer(Int(c.server.keyspace.access.decayedCounter(stamp)))
}

private let objectHelpLines: [StaticString] = [
    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
    "HELP",
    "    Prints this help.",
]

private func objectHelp(_ c: Client) {
    c.reply.array(objectHelpLines.count)
    for line in objectHelpLines { c.reply.simple(line) }
}
