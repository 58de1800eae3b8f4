/// Hash commands (Redis's t_hash.c): every H* command over `HashValue` (Storage/HashValue.swift), which
/// keeps a small hash as packed pairs in insertion order ("listpack") and a large one in a table
/// ("hashtable"), converting one way at Redis 7.0's points.
///
/// Shared routines, as in Redis:
/// - `hsetGeneric` is HSET and HMSET (they differ only in the reply);
/// - `hgetallGeneric` is HGETALL, HKEYS and HVALS;
/// - `hashForWrite` is hashTypeLookupWriteOrCreate: HSET, HSETNX, HINCRBY and HINCRBYFLOAT create the key
///   (empty, notified by nothing) before they fill it and report their own event.
///
/// Order of checks, which decides the error a bad request gets: HSET's odd argument count before the key;
/// HINCRBY/HINCRBYFLOAT parse the increment before the lookup (so a bad increment wins over WRONGTYPE);
/// HRANDFIELD parses the count and options before the lookup; HSCAN parses the cursor, then looks the key up,
/// then parses the options.
///
/// Conversion: HSET/HMSET/HSETNX hand the lengths of their arguments to `convertIfNeeded` before inserting
/// (hashTypeTryConversion), and every set checks its own field and value and then the number of pairs
/// (hashTypeSet), so HINCRBY and HINCRBYFLOAT convert on a long field or result too.
///
/// Replies: HGETALL is a map (RESP3) or a flat array (RESP2); HRANDFIELD WITHVALUES answers [field, value]
/// pairs in RESP3 and a flat array in RESP2, as Redis 7.0 does. A listpack's order is insertion order, so
/// HGETALL, HKEYS, HVALS, HSCAN and HRANDFIELD with a count covering the hash answer exactly as Redis does;
/// a table's order is its own (compare as multisets).

let hashCommands: [Command] = [
    Command("hset", arity: -4, flags: [.write, .denyoom, .fast], keys: (1, 1, 1), group: "hash", since: "2.0.0",
            summary: "Set the string value of a hash field",
            complexity: "O(1) for each field/value pair added, so O(N) to add N field/value pairs when the command is "
                + "called with multiple field/value pairs.",
            handler: { hsetGeneric($0, hmset: false) }),
    Command("hsetnx", arity: 4, flags: [.write, .denyoom, .fast], keys: (1, 1, 1), group: "hash", since: "2.0.0",
            summary: "Set the value of a hash field, only if the field does not exist", complexity: "O(1)",
            handler: hsetnx),
    Command("hmset", arity: -4, flags: [.write, .denyoom, .fast], keys: (1, 1, 1), group: "hash", since: "2.0.0",
            summary: "Set multiple hash fields to multiple values",
            complexity: "O(N) where N is the number of fields being set.",
            handler: { hsetGeneric($0, hmset: true) }),
    Command("hget", arity: 3, flags: [.readonly, .fast], keys: (1, 1, 1), group: "hash", since: "2.0.0",
            summary: "Get the value of a hash field", complexity: "O(1)", handler: hget),
    Command("hmget", arity: -3, flags: [.readonly, .fast], keys: (1, 1, 1), group: "hash", since: "2.0.0",
            summary: "Get the values of all the given hash fields",
            complexity: "O(N) where N is the number of fields being requested.", handler: hmget),
    Command("hgetall", arity: 2, flags: [.readonly], keys: (1, 1, 1), group: "hash", since: "2.0.0",
            summary: "Get all the fields and values in a hash", complexity: "O(N) where N is the size of the hash.",
            handler: { hgetallGeneric($0, fields: true, values: true) }),
    Command("hdel", arity: -3, flags: [.write, .fast], keys: (1, 1, 1), group: "hash", since: "2.0.0",
            summary: "Delete one or more hash fields",
            complexity: "O(N) where N is the number of fields to be removed.", handler: hdel),
    Command("hexists", arity: 3, flags: [.readonly, .fast], keys: (1, 1, 1), group: "hash", since: "2.0.0",
            summary: "Determine if a hash field exists", complexity: "O(1)", handler: hexists),
    Command("hlen", arity: 2, flags: [.readonly, .fast], keys: (1, 1, 1), group: "hash", since: "2.0.0",
            summary: "Get the number of fields in a hash", complexity: "O(1)", handler: hlen),
    Command("hstrlen", arity: 3, flags: [.readonly, .fast], keys: (1, 1, 1), group: "hash", since: "3.2.0",
            summary: "Get the length of the value of a hash field", complexity: "O(1)", handler: hstrlen),
    Command("hkeys", arity: 2, flags: [.readonly], keys: (1, 1, 1), group: "hash", since: "2.0.0",
            summary: "Get all the fields in a hash", complexity: "O(N) where N is the size of the hash.",
            handler: { hgetallGeneric($0, fields: true, values: false) }),
    Command("hvals", arity: 2, flags: [.readonly], keys: (1, 1, 1), group: "hash", since: "2.0.0",
            summary: "Get all the values in a hash", complexity: "O(N) where N is the size of the hash.",
            handler: { hgetallGeneric($0, fields: false, values: true) }),
    Command("hincrby", arity: 4, flags: [.write, .denyoom, .fast], keys: (1, 1, 1), group: "hash", since: "2.0.0",
            summary: "Increment the integer value of a hash field by the given number", complexity: "O(1)",
            handler: hincrby),
    Command("hincrbyfloat", arity: 4, flags: [.write, .denyoom, .fast], keys: (1, 1, 1), group: "hash",
            since: "2.6.0", summary: "Increment the float value of a hash field by the given amount",
            complexity: "O(1)", handler: hincrbyfloat),
    Command("hrandfield", arity: -2, flags: [.readonly], keys: (1, 1, 1), group: "hash", since: "6.2.0",
            summary: "Get one or multiple random fields from a hash",
            complexity: "O(N) where N is the number of fields returned", handler: hrandfield),
    Command("hscan", arity: -3, flags: [.readonly], keys: (1, 1, 1), group: "hash", since: "2.8.0",
            summary: "Incrementally iterate hash fields and associated values",
            complexity: "O(1) for every call. O(N) for a complete iteration, including enough command calls for the "
                + "cursor to return back to 0. N is the number of elements inside the collection..",
            handler: hscan),
]

extension KeyspaceEvent {
    static let hset = KeyspaceEvent("hset", .hash)
    static let hdel = KeyspaceEvent("hdel", .hash)
    static let hincrby = KeyspaceEvent("hincrby", .hash)
    static let hincrbyfloat = KeyspaceEvent("hincrbyfloat", .hash)
}

// MARK: - Shared helpers

/// The conversion thresholds in force now (CONFIG SET applies to later conversions, as in Redis).
@inline(__always) private func limits(_ c: Client) -> HashValue.Limits {
    HashValue.Limits(entries: c.server.config.hashMaxListpackEntries, value: c.server.config.hashMaxListpackValue)
}

/// The hash at argument `i`, or nil after replying: `missing` when there is no such key, WRONGTYPE when it
/// holds another type. A read counts a keyspace hit or miss; a write (`forWrite`) does not.
@inline(__always)
private func lookupHash(_ c: Client, _ i: Int, forWrite: Bool = false, orReply missing: (Client) -> Void) -> HashValue? {
    let key = c.arg(i)
    let now = c.now
    guard let value = forWrite ? c.db.lookup(key, now: now, .write) : c.db.lookup(key, now: now) else {
        missing(c)
        return nil
    }
    guard case .hash(let hash) = value else {
        c.replyWrongType()
        return nil
    }
    return hash
}

/// Redis's hashTypeLookupWriteOrCreate: the hash at argument 1, created empty when missing (added with no
/// event and no change: the command reports its own); nil after WRONGTYPE. The hash is the stored object,
/// not retained (`Database.StoredValue`): HSET uses it as lent; the others take a reference of their own.
@inline(__always) private func hashForWrite(_ c: Client, in db: Database) -> (hash: Unmanaged<HashValue>, created: Bool)? {
    var created = false
    let hash = objectForWrite(c, in: db, \.hash) {
        let hash = HashValue()
        db.add(c.argBytes(1), .hash(hash), event: .none, changes: 0)
        created = true
        return hash
    }
    return hash.map { ($0, created) }
}

@inline(__always) private func hashForWrite(_ c: Client) -> (hash: HashValue, created: Bool)? {
    hashForWrite(c, in: c.db).map { ($0.hash.takeUnretainedValue(), $0.created) }
}

/// Redis's hashTypeTryConversion over arguments `range` (fields and values about to be stored).
@inline(__always) private func tryConversion(_ c: Client, _ hash: HashValue, _ range: Range<Int>,
                                             _ limits: HashValue.Limits) {
    guard hash.isPacked else { return }
    var longest = 0, total = 0
    for i in range {
        let n = c.arg(i).count
        longest = max(longest, n)
        total += n
    }
    hash.convertIfNeeded(longestArgument: longest, totalArgumentBytes: total, limits: limits)
}

private func replyZero(_ c: Client) { c.reply.integer(0) }
private func replyEmptyArray(_ c: Client) { c.reply.array(0) }

// MARK: - HSET, HMSET, HSETNX

/// HSET key field value [field value ...] (the number of fields created) and HMSET (OK). Every pair counts
/// as a change, and the event is "hset" even when no value changed, as in Redis.
private func hsetGeneric(_ c: Client, hmset: Bool) {
    if c.argc % 2 == 1 {
        return c.reply.error(hmset ? "ERR wrong number of arguments for 'hmset' command"
                                   : "ERR wrong number of arguments for 'hset' command")
    }
    c.withDatabase { db in  // borrowed, as the stored hash (`Database.StoredValue`): no retain per request
        guard let (stored, created) = hashForWrite(c, in: db) else { return }
        let added = stored._withUnsafeGuaranteedRef { hash in
            let limits = limits(c)
            tryConversion(c, hash, 2..<c.argc, limits)
            // A new hash filled by several pairs is allocated once, at its final size.
            let reserved = created && hash.isPacked && c.argc > 4
            if reserved {
                var bytes = 0
                for i in stride(from: 2, to: c.argc, by: 2) {
                    bytes += HashValue.encodedSize(field: c.arg(i), valueLength: c.arg(i + 1).count)
                }
                hash.reserve(encodedBytes: bytes)
            }
            var added = 0
            for i in stride(from: 2, to: c.argc, by: 2) where hash.set(c.arg(i), c.arg(i + 1), limits: limits) {
                added += 1
            }
            if reserved { hash.shrinkToFit() }
            return added
        }
        if hmset { c.reply.ok() } else { c.reply.integer(added) }
        db.didModify(c.arg(1), .hset, changes: (c.argc - 2) / 2)
    }
}

/// HSETNX key field value: 1 when set, 0 (and nothing changed) when the field exists.
private func hsetnx(_ c: Client) {
    guard let (hash, created) = hashForWrite(c) else { return }
    if !created && hash.contains(c.arg(2)) { return c.reply.integer(0) }
    let limits = limits(c)
    tryConversion(c, hash, 2..<4, limits)
    hash.set(c.arg(2), c.arg(3), limits: limits)
    c.reply.integer(1)
    c.db.didModify(c.arg(1), .hset, changes: 1)
}

// MARK: - Reads

private func hget(_ c: Client) {
    guard let hash = lookupHash(c, 1, orReply: replyNull) else { return }
    if hash.withValue(of: c.arg(2), { c.reply.bulk($0) }) == nil { c.reply.null() }
}

/// HMGET key field [field ...]: a missing key reads as an empty hash (nulls), another type is WRONGTYPE.
private func hmget(_ c: Client) {
    var hash: HashValue?
    switch c.db.lookup(c.arg(1), now: c.now) {
    case nil: hash = nil
    case .hash(let h)?: hash = h
    default: return c.replyWrongType()
    }
    c.reply.array(c.argc - 2)
    for i in 2..<c.argc {
        if hash?.withValue(of: c.arg(i), { c.reply.bulk($0) }) == nil { c.reply.null() }
    }
}

private func hexists(_ c: Client) {
    guard let hash = lookupHash(c, 1, orReply: replyZero) else { return }
    c.reply.integer(hash.contains(c.arg(2)) ? 1 : 0)
}

private func hlen(_ c: Client) {
    guard let hash = lookupHash(c, 1, orReply: replyZero) else { return }
    c.reply.integer(hash.count)
}

private func hstrlen(_ c: Client) {
    guard let hash = lookupHash(c, 1, orReply: replyZero) else { return }
    c.reply.integer(hash.withValue(of: c.arg(2)) { $0.count } ?? 0)
}

/// HGETALL (a map of fields to values), HKEYS and HVALS (arrays). A missing key is an empty map or array.
private func hgetallGeneric(_ c: Client, fields: Bool, values: Bool) {
    let both = fields && values
    guard let hash = lookupHash(c, 1, orReply: { both ? $0.reply.map(0) : $0.reply.array(0) }) else { return }
    if both { c.reply.map(hash.count) } else { c.reply.array(hash.count) }
    hash.forEach { field, value in
        if fields { c.reply.bulk(field) }
        if values { c.reply.bulk(value) }
    }
}

// MARK: - HDEL

/// HDEL key field [field ...]: the number removed. A hash emptied is deleted at once: "hdel", then "del",
/// and later fields are not even looked at (Redis stops there).
private func hdel(_ c: Client) {
    guard let hash = lookupHash(c, 1, forWrite: true, orReply: replyZero) else { return }
    var deleted = 0
    var keyRemoved = false
    for i in 2..<c.argc where hash.remove(c.arg(i)) {
        deleted += 1
        if hash.isEmpty {
            keyRemoved = true
            break
        }
    }
    if deleted > 0 {
        c.db.didModify(c.arg(1), .hdel, changes: deleted)
        if keyRemoved { c.db.remove(c.arg(1), changes: 0) }
    }
    c.reply.integer(deleted)
}

// MARK: - HINCRBY, HINCRBYFLOAT

/// HINCRBY key field increment: a missing field counts as 0; the stored value must read as a 64-bit integer
/// (string2ll: no spaces, no "+", no leading zeros).
private func hincrby(_ c: Client) {
    guard let increment = c.int64Arg(3) else { return }
    guard let (hash, _) = hashForWrite(c) else { return }
    var value: Int64 = 0
    if let stored = hash.withValue(of: c.arg(2), { parseInt64($0) }) {
        guard let stored else { return c.reply.error("ERR hash value is not an integer") }
        value = stored
    }
    let (sum, overflow) = value.addingReportingOverflow(increment)
    if overflow { return c.reply.error("ERR increment or decrement would overflow") }
    let text = formatInt64(sum)
    text.withUnsafeBytes { _ = hash.set(c.arg(2), $0, limits: limits(c)) }
    c.reply.integer(sum)
    c.db.didModify(c.arg(1), .hincrby, changes: 1)
}

/// HINCRBYFLOAT key field increment: computed in long double and stored in INCRBYFLOAT's human form
/// (Protocol/Numbers.swift). Propagated as HSET key field result, as Redis 7.0 does, so replicas store the
/// same bytes whatever their floating point.
private func hincrbyfloat(_ c: Client) {
    guard let increment = parseLongDouble(c.arg(3)) else { return c.replyNotFloat() }
    guard increment.isFinite else { return c.reply.error("ERR value is NaN or Infinity") }
    guard let (hash, _) = hashForWrite(c) else { return }
    var value: LongDouble = 0
    if let stored = hash.withValue(of: c.arg(2), { parseLongDouble($0) }) {
        guard let stored else { return c.reply.error("ERR hash value is not a float") }
        value = stored
    }
    value += increment
    guard value.isFinite else { return c.reply.error("ERR increment would produce NaN or Infinity") }
    let text = formatLongDouble(value)
    text.withUnsafeBytes { _ = hash.set(c.arg(2), $0, limits: limits(c)) }
    c.reply.bulk(text)
    c.db.didModify(c.arg(1), .hincrbyfloat, changes: 1)
    c.propagateAs(["HSET", c.argBytes(1), c.argBytes(2), text])
}

// MARK: - HRANDFIELD

/// HRANDFIELD key [count [WITHVALUES]]. The count and options are checked before the key (as Redis's
/// hrandfieldCommand); the cases of a count are `HashValue.forEachRandomPair`'s, which are Redis's.
private func hrandfield(_ c: Client) {
    var random = FastRandom()
    guard c.argc >= 3 else {
        guard let hash = lookupHash(c, 1, orReply: replyNull) else { return }
        _ = hash.withRandomPair(using: &random) { field, _ in c.reply.bulk(field) }
        return
    }
    guard let l = c.int64Arg(2) else { return }
    if l == Int64.min {
        return c.reply.error("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
    }
    if c.argc > 4 || (c.argc == 4 && !argOptionIs(c, 3, "withvalues")) { return c.replySyntaxError() }
    let withValues = c.argc == 4
    // Redis keeps count * 2 (the RESP2 reply length) from overflowing.
    if withValues && (l < -(Int64.max / 2) || l > Int64.max / 2) { return c.reply.error("ERR value is out of range") }
    guard let hash = lookupHash(c, 1, orReply: replyEmptyArray) else { return }
    if l == 0 { return c.reply.array(0) }
    let count = Int(l.magnitude)
    let distinct = l > 0 && count != 1
    let replied = distinct ? min(count, hash.count) : count
    let pairs = withValues && c.reply.resp3
    c.reply.array(withValues && !pairs ? replied * 2 : replied)
    let emit = { (field: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) in
        if pairs { c.reply.array(2) }
        c.reply.bulk(field)
        if withValues { c.reply.bulk(value) }
    }
    if distinct { return hash.forEachRandomPair(count: count, distinct: true, using: &random, emit) }
    // Repeats allowed: in batches, so a client being closed stops a huge count (as Redis checks
    // CLIENT_CLOSE_ASAP between its batches).
    var left = count
    while left > 0 && !c.isClosed && !c.closeAfterReply {
        let batch = min(left, 1000)
        hash.forEachRandomPair(count: batch, distinct: false, using: &random, emit)
        left -= batch
    }
}

// MARK: - HSCAN

/// HSCAN key cursor [MATCH pattern] [COUNT count]. As Redis's scanGenericCommand: a listpack is returned
/// whole with cursor 0 (whatever the cursor); a table is walked bucket by bucket until COUNT entries
/// (counting fields and values, as Redis's list of replies does) or COUNT * 10 buckets. MATCH filters the
/// fields after collecting, so a call may return fewer pairs than COUNT.
private func hscan(_ c: Client) {
    guard var cursor = parseScanCursor(c.arg(2)) else { return c.reply.error("ERR invalid cursor") }
    guard let hash = lookupHash(c, 1, orReply: replyEmptyScan) else { return }
    guard let (count, pattern) = collectionScanOptions(c) else { return }
    var batch: [(field: ByteString, value: ByteString)] = []
    if hash.isPacked {
        cursor = hash.scan(cursor: 0) { batch.append(($0, $1)) }
    } else {
        var iterations = count.multipliedReportingOverflow(by: 10).overflow ? Int.max : count * 10
        repeat {
            cursor = hash.scan(cursor: cursor) { batch.append(($0, $1)) }
            iterations -= 1
        } while cursor != 0 && iterations >= 0 && batch.count * 2 < count
    }
    if let pattern {
        batch.removeAll { pair in !pair.field.withUnsafeBytes { globMatch(pattern: pattern, string: $0) } }
    }
    c.reply.array(2)
    c.reply.bulk(String(cursor))
    c.reply.array(batch.count * 2)
    for (field, value) in batch {
        c.reply.bulk(field)
        c.reply.bulk(value)
    }
}

private func replyEmptyScan(_ c: Client) {
    c.reply.array(2)
    c.reply.bulk("0")
    c.reply.array(0)
}
