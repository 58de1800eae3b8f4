/// Expiry commands: EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT (NX XX GT LT), TTL, PTTL, EXPIRETIME, PEXPIRETIME,
/// PERSIST.
///
/// Times are absolute Unix milliseconds inside Database. Keys past their time disappear lazily, when any
/// lookup meets them, and actively, when a timer slice walks the keys with a TTL (Engine/ActiveExpire.swift).

let expiryCommands: [Command] = [
    Command("expire", arity: -3, flags: [.write, .fast], keys: (1, 1, 1), group: "generic",
            summary: "Set a key's time to live in seconds", complexity: "O(1)",
            handler: { expireGeneric($0, relative: true, seconds: true, name: "expire") }),
    Command("pexpire", arity: -3, flags: [.write, .fast], keys: (1, 1, 1), group: "generic", since: "2.6.0",
            summary: "Set a key's time to live in milliseconds", complexity: "O(1)",
            handler: { expireGeneric($0, relative: true, seconds: false, name: "pexpire") }),
    Command("expireat", arity: -3, flags: [.write, .fast], keys: (1, 1, 1), group: "generic", since: "1.2.0",
            summary: "Set the expiration for a key as a UNIX timestamp", complexity: "O(1)",
            handler: { expireGeneric($0, relative: false, seconds: true, name: "expireat") }),
    Command("pexpireat", arity: -3, flags: [.write, .fast], keys: (1, 1, 1), group: "generic", since: "2.6.0",
            summary: "Set the expiration for a key as a UNIX timestamp specified in milliseconds",
            complexity: "O(1)", handler: { expireGeneric($0, relative: false, seconds: false, name: "pexpireat") }),
    Command("ttl", arity: 2, flags: [.readonly, .fast], keys: (1, 1, 1), group: "generic",
            summary: "Get the time to live for a key in seconds", complexity: "O(1)",
            handler: { ttlGeneric($0, milliseconds: false, absolute: false) }),
    Command("pttl", arity: 2, flags: [.readonly, .fast], keys: (1, 1, 1), group: "generic", since: "2.6.0",
            summary: "Get the time to live for a key in milliseconds", complexity: "O(1)",
            handler: { ttlGeneric($0, milliseconds: true, absolute: false) }),
    Command("expiretime", arity: 2, flags: [.readonly, .fast], keys: (1, 1, 1), group: "generic", since: "7.0.0",
            summary: "Get the expiration Unix timestamp for a key", complexity: "O(1)",
            handler: { ttlGeneric($0, milliseconds: false, absolute: true) }),
    Command("pexpiretime", arity: 2, flags: [.readonly, .fast], keys: (1, 1, 1), group: "generic", since: "7.0.0",
            summary: "Get the expiration Unix timestamp for a key in milliseconds", complexity: "O(1)",
            handler: { ttlGeneric($0, milliseconds: true, absolute: true) }),
    Command("persist", arity: 2, flags: [.write, .fast], keys: (1, 1, 1), group: "generic", since: "2.2.0",
            summary: "Remove the expiration from a key", complexity: "O(1)", handler: persist),
]

// MARK: - Setting a TTL

/// The one routine behind EXPIRE, PEXPIRE, EXPIREAT and PEXPIREAT, in Redis's order of checks: options,
/// then the number, then overflow, then the key. A time already past deletes the key and still answers 1.
private func expireGeneric(_ c: Client, relative: Bool, seconds: Bool, name: StaticString) {
    var nx = false, xx = false, gt = false, lt = false
    for i in 3..<max(3, c.argc) {
        if argOptionIs(c, i, "NX") {
            nx = true
        } else if argOptionIs(c, i, "XX") {
            xx = true
        } else if argOptionIs(c, i, "GT") {
            gt = true
        } else if argOptionIs(c, i, "LT") {
            lt = true
        } else {
            return c.reply.error(bytes: Array("ERR Unsupported option ".utf8) + Array(cStringPrefix(c.arg(i))))
        }
    }
    if nx && (xx || gt || lt) {
        return c.reply.error("ERR NX and XX, GT or LT options at the same time are not compatible")
    }
    if gt && lt { return c.reply.error("ERR GT and LT options at the same time are not compatible") }

    guard var when = c.int64Arg(2) else { return }
    let now = c.now
    if seconds {
        guard when <= Int64.max / 1000 && when >= Int64.min / 1000 else { return invalidExpireTime(c, name) }
        when *= 1000
    }
    if relative {
        guard when <= Int64.max - now else { return invalidExpireTime(c, name) }
        when += now
    }

    let key = c.argBytes(1)
    guard c.db.lookup(key, now: now, .write) != nil else { return c.reply.integer(0) }
    let current = c.db.expireTime(key)
    // A key without a TTL counts as living forever: GT never beats it, LT always does.
    if (nx && current != nil) || (xx && current == nil) { return c.reply.integer(0) }
    if gt, current == nil || when <= current! { return c.reply.integer(0) }
    if lt, let current, when >= current { return c.reply.integer(0) }

    if when <= now {
        c.db.remove(key)  // a deletion ("del"), not an expiry: expired_keys is not counted, as in Redis
        c.propagateAs([c.expireDeletionCommand, key])
    } else {
        c.db.setExpire(key, at: when)
        // Propagated as PEXPIREAT key ms, keeping the options, as Redis.
        c.propagateAs(["PEXPIREAT", key, formatInt64(when)] + (3..<c.argc).map { c.argBytes($0) })
    }
    c.reply.integer(1)
}

private func invalidExpireTime(_ c: Client, _ name: StaticString) {
    c.reply.error("ERR invalid expire time in '\(name)' command")
}

private func persist(_ c: Client) {
    let key = c.argBytes(1)
    guard c.db.lookup(key, now: c.now, .write) != nil, c.db.removeExpire(key) else { return c.reply.integer(0) }
    c.reply.integer(1)
}

// MARK: - Reading a TTL

/// TTL, PTTL, EXPIRETIME, PEXPIRETIME: -2 for a missing key, -1 for a key without a TTL. Seconds are
/// rounded to the nearest (Redis's (ms + 500) / 1000, computed without overflow near Int64.max).
private func ttlGeneric(_ c: Client, milliseconds: Bool, absolute: Bool) {
    let now = c.now
    let key = c.argBytes(1)
    guard c.db.lookup(key, now: now, .noTouch) != nil else { return c.reply.integer(-2) }  // as Redis: no touch
    guard let when = c.db.expireTime(key) else { return c.reply.integer(-1) }
    let ms = max(0, absolute ? when : when - now)
    c.reply.integer(milliseconds ? ms : ms / 1000 + (ms % 1000 >= 500 ? 1 : 0))
}
