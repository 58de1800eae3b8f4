import Glibc

/// String commands (Redis's t_string.c): GET/SET and their variants, multi-key MGET/MSET, in-place edits
/// (APPEND, SETRANGE), ranges, counters (INCR family, INCRBYFLOAT) and LCS.
///
/// Variants share one routine each, as in Redis, so they cannot drift apart:
/// - `setGeneric` is SET with every option, SETNX (NX, replies 1/0), SETEX/PSETEX (EX/PX) and GETSET (GET);
/// - `parseExtendedOptions` parses both SET's options and GETEX's (which accepts the expire options and
///   PERSIST only);
/// - `incrDecr` is INCR, DECR, INCRBY and DECRBY.
///
/// Order of checks matters for byte-identical replies and is Redis's: option syntax, then the expire value
/// (integer, then range), then the key's type, then the NX/XX condition. Commands that edit a string in
/// place (APPEND, SETRANGE, INCR*) keep its TTL; commands that replace it (SET without KEEPTTL, MSET,
/// GETSET) drop it.
///
/// Expire times are stored absolute, in Unix milliseconds. An EXAT/PXAT already in the past is stored as
/// given by SET (the key then reads as missing and is reclaimed lazily, as redis-server 7.0 does: DBSIZE
/// still counts it), whereas GETEX deletes the key at once.

let stringCommands: [Command] = [
    Command("get", arity: 2, flags: [.readonly, .fast], keys: (1, 1, 1), group: "string",
            summary: "Get the value of a key", complexity: "O(1)", handler: get),
    Command("set", arity: -3, flags: [.write, .denyoom], keys: (1, 1, 1), group: "string",
            summary: "Set the string value of a key", complexity: "O(1)", handler: set),
    Command("setnx", arity: 3, flags: [.write, .denyoom, .fast], keys: (1, 1, 1), group: "string",
            summary: "Set the value of a key, only if the key does not exist", complexity: "O(1)",
            handler: setnx),
    Command("setex", arity: 4, flags: [.write, .denyoom], keys: (1, 1, 1), group: "string", since: "2.0.0",
            summary: "Set the value and expiration of a key", complexity: "O(1)", handler: setex),
    Command("psetex", arity: 4, flags: [.write, .denyoom], keys: (1, 1, 1), group: "string", since: "2.6.0",
            summary: "Set the value and expiration in milliseconds of a key", complexity: "O(1)",
            handler: psetex),
    Command("getset", arity: 3, flags: [.write, .denyoom, .fast], keys: (1, 1, 1), group: "string",
            summary: "Set the string value of a key and return its old value", complexity: "O(1)",
            handler: getset),
    Command("getdel", arity: 2, flags: [.write, .fast], keys: (1, 1, 1), group: "string", since: "6.2.0",
            summary: "Get the value of a key and delete the key", complexity: "O(1)", handler: getdel),
    Command("getex", arity: -2, flags: [.write, .fast], keys: (1, 1, 1), group: "string", since: "6.2.0",
            summary: "Get the value of a key and optionally set its expiration", complexity: "O(1)",
            handler: getex),
    Command("mget", arity: -2, flags: [.readonly, .fast], keys: (1, -1, 1), group: "string",
            summary: "Get the values of all the given keys",
            complexity: "O(N) where N is the number of keys to retrieve.", handler: mget),
    Command("mset", arity: -3, flags: [.write, .denyoom], keys: (1, -1, 2), group: "string", since: "1.0.1",
            summary: "Set multiple keys to multiple values",
            complexity: "O(N) where N is the number of keys to set.", handler: mset),
    Command("msetnx", arity: -3, flags: [.write, .denyoom], keys: (1, -1, 2), group: "string", since: "1.0.1",
            summary: "Set multiple keys to multiple values, only if none of the keys exist",
            complexity: "O(N) where N is the number of keys to set.", handler: msetnx),
    Command("append", arity: 3, flags: [.write, .denyoom, .fast], keys: (1, 1, 1), group: "string",
            since: "2.0.0", summary: "Append a value to a key",
            complexity: "O(1). The amortized time complexity is O(1) assuming the appended value is small and "
                + "the already present value is of any size, since the dynamic string library used by Redis "
                + "will double the free space available on every reallocation.",
            handler: append),
    Command("strlen", arity: 2, flags: [.readonly, .fast], keys: (1, 1, 1), group: "string", since: "2.2.0",
            summary: "Get the length of the value stored in a key", complexity: "O(1)", handler: strlen),
    Command("getrange", arity: 4, flags: [.readonly], keys: (1, 1, 1), group: "string", since: "2.4.0",
            summary: "Get a substring of the string stored at a key", complexity: rangeComplexity,
            handler: getrange),
    Command("substr", arity: 4, flags: [.readonly], keys: (1, 1, 1), group: "string",
            summary: "Get a substring of the string stored at a key", complexity: rangeComplexity,
            handler: getrange),
    Command("setrange", arity: 4, flags: [.write, .denyoom], keys: (1, 1, 1), group: "string", since: "2.2.0",
            summary: "Overwrite part of a string at key starting at the specified offset",
            complexity: "O(1), not counting the time taken to copy the new string in place. Usually, this "
                + "string is very small so the amortized complexity is O(1). Otherwise, complexity is O(M) "
                + "with M being the length of the value argument.",
            handler: setrange),
    Command("incr", arity: 2, flags: [.write, .denyoom, .fast], keys: (1, 1, 1), group: "string",
            summary: "Increment the integer value of a key by one", complexity: "O(1)", handler: incr),
    Command("decr", arity: 2, flags: [.write, .denyoom, .fast], keys: (1, 1, 1), group: "string",
            summary: "Decrement the integer value of a key by one", complexity: "O(1)", handler: decr),
    Command("incrby", arity: 3, flags: [.write, .denyoom, .fast], keys: (1, 1, 1), group: "string",
            summary: "Increment the integer value of a key by the given amount", complexity: "O(1)",
            handler: incrby),
    Command("decrby", arity: 3, flags: [.write, .denyoom, .fast], keys: (1, 1, 1), group: "string",
            summary: "Decrement the integer value of a key by the given number", complexity: "O(1)",
            handler: decrby),
    Command("incrbyfloat", arity: 3, flags: [.write, .denyoom, .fast], keys: (1, 1, 1), group: "string",
            since: "2.6.0", summary: "Increment the float value of a key by the given amount",
            complexity: "O(1)", handler: incrbyfloat),
    Command("lcs", arity: -3, flags: [.readonly], keys: (1, 2, 1), group: "string", since: "7.0.0",
            summary: "Find longest common substring",
            complexity: "O(N*M) where N and M are the lengths of s1 and s2, respectively", handler: lcs),
]

private let rangeComplexity = "O(N) where N is the length of the returned string. The complexity is ultimately "
    + "determined by the returned length, but because creating a substring from an existing string is very "
    + "cheap, it can be considered O(1) for small strings."

// MARK: - GET and the SET family

/// SET's and GETEX's options, as Redis's OBJ_SET_* / OBJ_EX... flags.
private struct StringOptions: OptionSet {
    let rawValue: UInt16
    static let nx = StringOptions(rawValue: 1 << 0)
    static let xx = StringOptions(rawValue: 1 << 1)
    static let get = StringOptions(rawValue: 1 << 2)
    static let keepTTL = StringOptions(rawValue: 1 << 3)
    static let persist = StringOptions(rawValue: 1 << 4)
    static let ex = StringOptions(rawValue: 1 << 5)
    static let px = StringOptions(rawValue: 1 << 6)
    static let exat = StringOptions(rawValue: 1 << 7)
    static let pxat = StringOptions(rawValue: 1 << 8)

    static let anyExpire: StringOptions = [.ex, .px, .exat, .pxat]
}

/// Replies GET's answer for `key` (Redis's getGenericCommand). Returns whether the key exists, or nil
/// after a WRONGTYPE error.
private func getGeneric(_ c: Client, _ key: UnsafeRawBufferPointer) -> Bool? {
    guard let value = c.withDatabase({ $0.lookup(key, now: c.now) }) else {  // borrowed: no retain per request
        c.reply.null()
        return false
    }
    guard case .string(let s) = value else {
        c.replyWrongType()
        return nil
    }
    c.reply.bulk(s)
    return true
}

private func get(_ c: Client) {
    _ = getGeneric(c, c.arg(1))  // looked up straight from the request's bytes, no copy
}

private func set(_ c: Client) {
    guard let (options, expireIndex) = parseExtendedOptions(c, forGetex: false) else { return }
    setGeneric(c, options, valueIndex: 2, expireIndex: expireIndex, command: "set")
}

private func setnx(_ c: Client) {
    setGeneric(c, .nx, valueIndex: 2, command: "setnx", integerReply: true)
}

private func setex(_ c: Client) {
    setGeneric(c, .ex, valueIndex: 3, expireIndex: 2, command: "setex")
}

private func psetex(_ c: Client) {
    setGeneric(c, .px, valueIndex: 3, expireIndex: 2, command: "psetex")
}

private func getset(_ c: Client) {
    setGeneric(c, .get, valueIndex: 2, command: "getset", isGetset: true)
}

/// Every command that stores a whole string value under argument 1 (Redis's setGenericCommand).
/// - Parameters:
///   - expireIndex: the argument holding the EX/PX/EXAT/PXAT time, or 0 for none.
///   - command: the name quoted in "invalid expire time in '<command>' command".
///   - integerReply: SETNX answers 1/0 where SET answers OK/nil.
///   - isGetset: GETSET, propagated as SET.
private func setGeneric(_ c: Client, _ options: StringOptions, valueIndex: Int, expireIndex: Int = 0,
                        command: StaticString, integerReply: Bool = false, isGetset: Bool = false) {
    var expireAt: Int64 = 0
    if expireIndex != 0 {
        guard let at = expireTime(c, expireIndex, options, command: command) else { return }
        expireAt = at
    }
    // The database borrowed for the lookup and the store, and the key read where it is used (a ByteString
    // kept to the end is destroyed in the middle of the reply, which then retains the output buffer): no
    // retain per request.
    let stored = c.withDatabase { db -> Bool in
        let found: Bool
        var lookedUp = false  // touched by the lookup here (GET's read touches, then Redis's lookupKeyWrite again)
        if options.contains(.get) {
            guard let exists = getGeneric(c, c.arg(1)) else { return false }
            found = exists
        } else if !options.isDisjoint(with: [.nx, .xx]) || db.expiresCount > 0 {
            // Redis always looks the key up, which reclaims it if it has expired (counted in expired_keys,
            // and so that KEEPTTL does not keep a dead TTL). Only keys with a TTL can be expired, so a plain
            // SET skips the lookup when there are none.
            found = db.lookup(c.arg(1), now: c.now, .write) != nil
            lookedUp = found
        } else {
            found = false
        }
        if (options.contains(.nx) && found) || (options.contains(.xx) && !found) {
            if !options.contains(.get) {
                if integerReply { c.reply.integer(0) } else { c.reply.null() }
            }
            return false
        }
        // One key string for the keyspace and the expires (a long key's heap bytes shared by both), gone
        // before the reply.
        let key = c.argBytes(1)
        db.set(key, .string(c.argBytes(valueIndex)), keepTTL: options.contains(.keepTTL), event: .set, lookedUp: lookedUp)
        if expireIndex != 0 { db.setExpire(key, at: expireAt, changes: 0) }  // SET EX is one change
        return true
    }
    guard stored else { return }
    // Replicas and the AOF get an absolute time (SET key value PXAT ms), and GETSET becomes SET.
    if expireIndex != 0 && !options.contains(.pxat) {
        c.propagateAs(["SET", c.argBytes(1), c.argBytes(valueIndex), "PXAT", formatInt64(expireAt)])
    } else if isGetset {
        c.propagateAs(["SET", c.argBytes(1), c.argBytes(valueIndex)])
    } else if options.contains(.get) && expireIndex == 0 {
        // Without GET (every one of them), as Redis propagates SET ... GET when it did not rewrite it whole.
        c.propagateAs((0..<c.argc).filter { $0 < 3 || !optionIs(c, $0, "GET") }.map { c.argBytes($0) })
    }
    if !options.contains(.get) {
        if integerReply { c.reply.integer(1) } else { c.reply.ok() }
    }
}

/// Parses SET's options (from argument 3) or GETEX's (from argument 2), as Redis's
/// parseExtendedStringArgumentsOrReply. Returns the options and the index of the expire time argument
/// (0 when none), or nil after replying a syntax error.
///
/// Repeating an option is accepted (the last expire time wins); combining conflicting ones (NX with XX,
/// two different expire units, KEEPTTL or PERSIST with an expire time) is a syntax error.
private func parseExtendedOptions(_ c: Client, forGetex: Bool) -> (StringOptions, Int)? {
    var options: StringOptions = []
    var expireIndex = 0
    var i = forGetex ? 2 : 3
    while i < c.argc {
        let hasValue = i + 1 < c.argc
        if !forGetex && optionIs(c, i, "NX") && !options.contains(.xx) {
            options.insert(.nx)
        } else if !forGetex && optionIs(c, i, "XX") && !options.contains(.nx) {
            options.insert(.xx)
        } else if !forGetex && optionIs(c, i, "GET") {
            options.insert(.get)
        } else if !forGetex && optionIs(c, i, "KEEPTTL") && options.isDisjoint(with: [.anyExpire, .persist]) {
            options.insert(.keepTTL)
        } else if forGetex && optionIs(c, i, "PERSIST") && options.isDisjoint(with: [.anyExpire, .keepTTL]) {
            options.insert(.persist)
        } else if let unit = expireOption(c, i), hasValue,
                  options.isDisjoint(with: StringOptions.anyExpire.subtracting(unit).union([.keepTTL, .persist])) {
            options.insert(unit)
            expireIndex = i + 1
            i += 1
        } else {
            c.replySyntaxError()
            return nil
        }
        i += 1
    }
    return (options, expireIndex)
}

private func expireOption(_ c: Client, _ i: Int) -> StringOptions? {
    if optionIs(c, i, "EX") { return .ex }
    if optionIs(c, i, "PX") { return .px }
    if optionIs(c, i, "EXAT") { return .exat }
    if optionIs(c, i, "PXAT") { return .pxat }
    return nil
}

/// Whether argument `i` is option `word`, ignoring ASCII case. Redis compares options as C strings, so
/// an argument with an embedded NUL ("ex\0junk") counts as the part before the NUL; kept for identical
/// replies to odd input.
private func optionIs(_ c: Client, _ i: Int, _ word: StaticString) -> Bool {
    let a = c.arg(i)
    let n = word.utf8CodeUnitCount
    guard a.count >= n, a.count == n || a[n] == 0 else { return false }
    let w = word.utf8Start
    for j in 0..<n where asciiLower(a[j]) != asciiLower(w[j]) { return false }
    return true
}

/// The absolute Unix-ms time that the expire argument `i` names (Redis's getExpireMillisecondsOrReply),
/// or nil after replying an error: not an integer, not positive, or overflowing once converted to
/// milliseconds and (for EX/PX) added to the current time.
private func expireTime(_ c: Client, _ i: Int, _ options: StringOptions, command: StaticString) -> Int64? {
    guard var when = c.int64Arg(i) else { return nil }
    let inSeconds = !options.isDisjoint(with: [.ex, .exat])
    var valid = when > 0 && !(inSeconds && when > Int64.max / 1000)
    if valid {
        if inSeconds { when *= 1000 }
        if !options.isDisjoint(with: [.ex, .px]) {
            let (sum, overflow) = when.addingReportingOverflow(c.now)
            valid = !overflow
            when = sum
        }
    }
    guard valid else {
        c.reply.error("ERR invalid expire time in '\(command)' command")
        return nil
    }
    return when
}

private func getex(_ c: Client) {
    guard let (options, expireIndex) = parseExtendedOptions(c, forGetex: true) else { return }
    let now = c.now
    let key = c.argBytes(1)
    guard let value = c.db.lookup(key, now: now) else { return c.reply.null() }
    guard case .string(let s) = value else { return c.replyWrongType() }
    var expireAt: Int64 = 0
    if expireIndex != 0 {
        guard let at = expireTime(c, expireIndex, options, command: "getex") else { return }
        expireAt = at
    }
    c.reply.bulk(s)
    if !options.isDisjoint(with: [.exat, .pxat]) && expireAt <= now {
        // An absolute time already past deletes the key now rather than leaving it to expire.
        c.db.remove(key)
        c.propagateAs([c.expireDeletionCommand, key])
    } else if expireIndex != 0 {
        c.db.setExpire(key, at: expireAt)
        c.propagateAs(["PEXPIREAT", key, formatInt64(expireAt)])
    } else if options.contains(.persist) {
        c.db.removeExpire(key)
        c.propagateAs(["PERSIST", key])
    }
}

private func getdel(_ c: Client) {
    let key = c.argBytes(1)
    guard key.withUnsafeBytes({ getGeneric(c, $0) }) == true else { return }
    c.db.remove(key)
    c.propagateAs(["DEL", key])
}

// MARK: - Multiple keys

private func mget(_ c: Client) {
    let now = c.now
    c.reply.array(c.argc - 1)
    for i in 1..<c.argc {
        // A key of another type reads as missing here rather than failing the whole reply.
        if case .string(let s)? = c.db.lookup(c.arg(i), now: now) { c.reply.bulk(s) } else { c.reply.null() }
    }
}

private func mset(_ c: Client) { msetGeneric(c, onlyIfNoneExist: false) }

private func msetnx(_ c: Client) { msetGeneric(c, onlyIfNoneExist: true) }

/// MSET and MSETNX. MSETNX sets nothing (and answers 0) if any of the keys exists.
private func msetGeneric(_ c: Client, onlyIfNoneExist: Bool) {
    guard c.argc % 2 == 1 else {
        return c.reply.error(onlyIfNoneExist ? "ERR wrong number of arguments for 'msetnx' command"
                                             : "ERR wrong number of arguments for 'mset' command")
    }
    if onlyIfNoneExist {
        let now = c.now
        for i in stride(from: 1, to: c.argc, by: 2) where c.db.lookup(c.arg(i), now: now, .write) != nil {
            return c.reply.integer(0)
        }
    }
    for i in stride(from: 1, to: c.argc, by: 2) {
        c.db.set(c.argBytes(i), .string(c.argBytes(i + 1)), event: .set)
    }
    if onlyIfNoneExist { c.reply.integer(1) } else { c.reply.ok() }
}

// MARK: - Editing in place

/// Redis's checkStringLength: a string may not grow past `proto-max-bulk-len` (overflow included).
private func checkStringLength(_ c: Client, _ size: Int, plus extra: Int) -> Bool {
    let (total, overflow) = size.addingReportingOverflow(extra)
    if overflow || total > c.server.config.protoMaxBulkLen {
        c.reply.error("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
        return false
    }
    return true
}

private func append(_ c: Client) {
    let key = c.arg(1)
    let suffix = c.arg(2)
    // In place, with one lookup: the stored bytes are uniquely referenced and grow into their spare
    // capacity (amortized O(suffix), like Redis's sds).
    let length = c.db.modify(key, now: c.now) { value, hint -> Int? in
        guard case .string(var bytes) = value else {
            c.replyWrongType()
            return nil
        }
        guard checkStringLength(c, bytes.count, plus: suffix.count) else { return nil }
        value = .string(.empty)  // the entry lets go, so `bytes` is the only reference
        bytes.append(suffix)
        value = .string(bytes)
        hint = .raw
        return bytes.count
    }
    switch length {
    case nil:  // no such key
        c.db.add(ByteString(key), .string(ByteString(suffix)), event: .append)
        c.reply.integer(suffix.count)
    case .some(nil):  // error already replied
        return
    case .some(.some(let length)):
        c.db.didModify(key, .append)
        c.reply.integer(length)
    }
}

private func setrange(_ c: Client) {
    guard let offset64 = c.int64Arg(2) else { return }
    guard offset64 >= 0 else { return c.reply.error("ERR offset is out of range") }
    let offset = Int(offset64)
    let patch = c.arg(3)
    let key = c.argBytes(1)
    let old: ByteString
    let found: Bool
    if let value = c.db.lookup(key, now: c.now, .write) {
        guard case .string(let s) = value else { return c.replyWrongType() }
        old = s
        found = true
    } else {
        found = false
        old = .empty
    }
    // Writing nothing changes nothing, not even a missing key (which stays missing).
    if patch.isEmpty { return c.reply.integer(old.count) }
    guard checkStringLength(c, offset, plus: patch.count) else { return }
    let length = max(old.count, offset + patch.count)
    let result = old.withUnsafeBytes { oldBytes in
        ByteString(count: length) { dst in
            let base = dst.baseAddress!
            if !oldBytes.isEmpty { base.copyMemory(from: oldBytes.baseAddress!, byteCount: oldBytes.count) }
            if offset > oldBytes.count {
                (base + oldBytes.count).initializeMemory(as: UInt8.self, repeating: 0, count: offset - oldBytes.count)
            }
            (base + offset).copyMemory(from: patch.baseAddress!, byteCount: patch.count)
        }
    }
    c.db.set(key, .string(result), keepTTL: true, hint: .raw, event: .setrange, lookedUp: found)
    c.reply.integer(length)
}

// MARK: - Reading

private func strlen(_ c: Client) {
    guard let value = c.db.lookup(c.arg(1), now: c.now) else { return c.reply.integer(0) }
    guard case .string(let s) = value else { return c.replyWrongType() }
    c.reply.integer(s.count)
}

/// GETRANGE and SUBSTR: inclusive range, negative indexes count from the end, clamped to the string.
private func getrange(_ c: Client) {
    guard var start = c.int64Arg(2), var end = c.int64Arg(3) else { return }
    guard let value = c.db.lookup(c.arg(1), now: c.now) else { return c.reply.raw("$0\r\n\r\n") }
    guard case .string(let s) = value else { return c.replyWrongType() }
    let length = Int64(s.count)
    if start < 0 && end < 0 && start > end { return c.reply.raw("$0\r\n\r\n") }
    if start < 0 { start = length &+ start }
    if end < 0 { end = length &+ end }
    if start < 0 { start = 0 }
    if end < 0 { end = 0 }
    if end >= length { end = length - 1 }
    if start > end || length == 0 { return c.reply.raw("$0\r\n\r\n") }
    s.withUnsafeBytes { c.reply.bulk(UnsafeRawBufferPointer(rebasing: $0[Int(start)...Int(end)])) }
}

// MARK: - Counters

private func incr(_ c: Client) { incrDecr(c, by: 1) }

private func decr(_ c: Client) { incrDecr(c, by: -1) }

private func incrby(_ c: Client) {
    guard let increment = c.int64Arg(2) else { return }
    incrDecr(c, by: increment)
}

private func decrby(_ c: Client) {
    guard let decrement = c.int64Arg(2) else { return }
    // -Int64.min does not exist.
    guard decrement != .min else { return c.reply.error("ERR decrement would overflow") }
    incrDecr(c, by: -decrement)
}

/// INCR, DECR, INCRBY, DECRBY: a missing key counts as 0; the value must be a string that Redis's
/// string2ll accepts; the TTL is kept.
private func incrDecr(_ c: Client, by increment: Int64) {
    let key = c.arg(1)
    enum Outcome { case stored(Int64), wrongType, notInteger, overflow }
    // One lookup for an existing key: the new value replaces the old one inside the entry.
    let outcome = c.db.modify(key, now: c.now) { value, hint -> Outcome in
        guard case .string(let s) = value else { return .wrongType }
        guard let current = s.withUnsafeBytes({ parseInt64($0) }) else { return .notInteger }
        let (result, overflow) = current.addingReportingOverflow(increment)
        if overflow { return .overflow }
        value = .string(formatInt64(result))
        hint = .likeSet
        return .stored(result)
    }.map { outcome in
        if case .stored = outcome { c.db.didModify(key, .incrby) }
        return outcome
    } ?? {
        c.db.add(ByteString(key), .string(formatInt64(increment)), event: .incrby)
        return .stored(increment)
    }()
    switch outcome {
    case .wrongType: c.replyWrongType()
    case .notInteger: c.replyNotInteger()
    case .overflow: c.reply.error("ERR increment or decrement would overflow")
    case .stored(let result):
        c.reply.integer(result)
    }
}

/// Computes in C `long double` and stores the human-friendly "%.17Lf" form, as Redis does, so that
/// 0.1 + 0.1 reads back "0.2". The stored value is checked before the increment (both give the same error).
private func incrbyfloat(_ c: Client) {
    let key = c.argBytes(1)
    var current: LongDouble = 0
    var found = false
    if let value = c.db.lookup(key, now: c.now, .write) {
        guard case .string(let s) = value else { return c.replyWrongType() }
        guard let v = s.withUnsafeBytes({ parseLongDouble($0) }) else { return c.replyNotFloat() }
        current = v
        found = true
    }
    guard let increment = parseLongDouble(c.arg(2)) else { return c.replyNotFloat() }
    let result = current + increment
    guard result.isFinite else { return c.reply.error("ERR increment would produce NaN or Infinity") }
    let text = formatLongDouble(result)
    c.db.set(key, .string(text), keepTTL: true, hint: .notInteger, event: .incrbyfloat, lookedUp: found)
    // Floating-point results may differ between machines: replicas get the value.
    c.propagateAs(["SET", key, text, "KEEPTTL"])
    c.reply.bulk(text)
}

// MARK: - LCS

/// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN n] [WITHMATCHLEN]: the longest common subsequence by the classic
/// dynamic-programming table of LCS lengths of every prefix pair, walked back from the end to produce the
/// string or, with IDX, the matching ranges (last match first, as Redis emits them). Missing keys are
/// empty strings.
private func lcs(_ c: Client) {
    let now = c.now
    let valueA = c.db.lookup(c.arg(1), now: now)
    let valueB = c.db.lookup(c.arg(2), now: now)
    var a = ByteString.empty, b = ByteString.empty
    if let v = valueA {
        guard case .string(let s) = v else { return c.reply.error("ERR The specified keys must contain string values") }
        a = s
    }
    if let v = valueB {
        guard case .string(let s) = v else { return c.reply.error("ERR The specified keys must contain string values") }
        b = s
    }
    var wantLength = false, wantIndexes = false, withMatchLength = false
    var minMatchLength: Int64 = 0
    var i = 3
    while i < c.argc {
        if optionIs(c, i, "IDX") {
            wantIndexes = true
        } else if optionIs(c, i, "LEN") {
            wantLength = true
        } else if optionIs(c, i, "WITHMATCHLEN") {
            withMatchLength = true
        } else if optionIs(c, i, "MINMATCHLEN") && i + 1 < c.argc {
            guard let n = c.int64Arg(i + 1) else { return }
            minMatchLength = max(n, 0)
            i += 1
        } else {
            return c.replySyntaxError()
        }
        i += 1
    }
    if wantIndexes && wantLength {
        return c.reply.error("ERR If you want both the length and indexes, please just use IDX.")
    }
    if a.count >= Int(UInt32.max) - 1 || b.count >= Int(UInt32.max) - 1 {
        return c.reply.error("ERR String too long for LCS")
    }
    // The table holds (|a|+1) x (|b|+1) lengths; Redis refuses one larger than proto-max-bulk-len bytes.
    let (cells, overflow) = (a.count + 1).multipliedReportingOverflow(by: b.count + 1)
    if overflow || cells > c.server.config.protoMaxBulkLen / MemoryLayout<UInt32>.size {
        return c.reply.error("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len")
    }
    a.withUnsafeBytes { a in
        b.withUnsafeBytes { b in
            lcsReply(c, a, b, cells: cells, wantLength: wantLength, wantIndexes: wantIndexes,
                     withMatchLength: withMatchLength, minMatchLength: minMatchLength)
        }
    }
}

private func lcsReply(_ c: Client, _ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer, cells: Int,
                      wantLength: Bool, wantIndexes: Bool, withMatchLength: Bool, minMatchLength: Int64) {
    let alen = a.count, blen = b.count
    let width = blen + 1
    // table[i * width + j] = length of the LCS of a[0..<i] and b[0..<j]; row and column 0 are 0.
    guard let memory = malloc(cells * MemoryLayout<UInt32>.size) else {
        return c.reply.error("ERR Insufficient memory, failed allocating transient memory for LCS")
    }
    defer { free(memory) }
    let table = memory.bindMemory(to: UInt32.self, capacity: cells)
    table.initialize(repeating: 0, count: width)
    for i in stride(from: 1, through: alen, by: 1) {
        let row = table + i * width, above = row - width
        let ai = a[i - 1]
        row[0] = 0
        for j in stride(from: 1, through: blen, by: 1) {
            row[j] = ai == b[j - 1] ? above[j - 1] + 1 : max(above[j], row[j - 1])
        }
    }
    let total = Int(table[alen * width + blen])
    if wantLength && !wantIndexes { return c.reply.integer(total) }

    var result = [UInt8](repeating: 0, count: total)
    var ranges: [(aStart: Int, aEnd: Int, bStart: Int, bEnd: Int)] = []
    // The range being extended backwards; aStart == alen means none.
    var aStart = alen, aEnd = 0, bStart = 0, bEnd = 0
    var i = alen, j = blen, k = total
    while i > 0 && j > 0 {
        var emit = false
        if a[i - 1] == b[j - 1] {
            result[k - 1] = a[i - 1]
            if aStart == alen {
                (aStart, aEnd, bStart, bEnd) = (i - 1, i - 1, j - 1, j - 1)
            } else if aStart == i && bStart == j {
                aStart -= 1
                bStart -= 1
            } else {
                emit = true
            }
            // A match at the first byte of either string ends the walk: emit now.
            if aStart == 0 || bStart == 0 { emit = true }
            k -= 1; i -= 1; j -= 1
        } else {
            if table[(i - 1) * width + j] > table[i * width + j - 1] { i -= 1 } else { j -= 1 }
            if aStart != alen { emit = true }
        }
        if emit {
            if minMatchLength == 0 || Int64(aEnd - aStart + 1) >= minMatchLength {
                ranges.append((aStart, aEnd, bStart, bEnd))
            }
            aStart = alen
        }
    }
    guard wantIndexes else { return result.withUnsafeBytes { c.reply.bulk($0) } }
    c.reply.map(2)
    c.reply.bulk("matches")
    c.reply.array(ranges.count)
    for r in ranges {
        c.reply.array(withMatchLength ? 3 : 2)
        c.reply.array(2)
        c.reply.integer(r.aStart)
        c.reply.integer(r.aEnd)
        c.reply.array(2)
        c.reply.integer(r.bStart)
        c.reply.integer(r.bEnd)
        if withMatchLength { c.reply.integer(r.aEnd - r.aStart + 1) }
    }
    c.reply.bulk("len")
    c.reply.integer(total)
}
