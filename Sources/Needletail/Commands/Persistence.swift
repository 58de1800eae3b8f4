import Glibc

/// Persistence commands: SAVE, BGSAVE, LASTSAVE, DUMP, RESTORE (SHUTDOWN, FLUSHALL and DEBUG RELOAD, which
/// also save, are in ServerCommands.swift). Replies and errors as redis-server 7.0.

let persistenceCommands: [Command] = [
    Command("lastsave", arity: 1, flags: [.loading, .stale, .fast], group: "server",
            summary: "Get the UNIX time stamp of the last successful save to disk", complexity: "O(1)",
            handler: { $0.reply.integer($0.server.lastSave) }),
    Command("save", arity: 1, flags: [.admin, .noscript, .noAsyncLoading, .noMulti], group: "server",
            summary: "Synchronously save the dataset to disk",
            complexity: "O(N) where N is the total number of keys in all databases", handler: save),
    Command("bgsave", arity: -1, flags: [.admin, .noscript, .noAsyncLoading], group: "server",
            summary: "Asynchronously save the dataset to disk",
            complexity: "O(1)", handler: bgsave),
    Command("dump", arity: 2, flags: [.readonly], keys: (1, 1, 1), group: "generic", since: "2.6.0",
            summary: "Return a serialized version of the value stored at the specified key.",
            complexity: "O(1) to access the key and additional O(N*M) to serialize it, where N is the number of Redis objects composing the value and M their average size. For small string values the time complexity is thus O(1)+O(1*M) where M is small, so simply O(1).",
            handler: dump),
    Command("restore", arity: -4, flags: [.write, .denyoom], keys: (1, 1, 1), group: "generic", since: "2.6.0",
            summary: "Create a key using the provided serialized value, previously obtained using DUMP.",
            complexity: "O(1) to create the new key and additional O(N*M) to reconstruct the serialized value, where N is the number of Redis objects composing the value and M their average size. For small string values the time complexity is thus O(1)+O(1*M) where M is small, so simply O(1). However for sorted set values the complexity is O(N*M*log(N)) because inserting values into sorted sets is O(log(N)).",
            handler: restore),
    // Cluster's internal form of RESTORE (MIGRATE sends it to a node that is importing the slot); without
    // cluster mode it is RESTORE.
    Command("restore-asking", arity: -4, flags: [.write, .denyoom, .asking], keys: (1, 1, 1), group: "server",
            since: "3.0.0", summary: "An internal command for migrating keys in a cluster",
            complexity: "O(1) to create the new key and additional O(N*M) to reconstruct the serialized value, where N is the number of Redis objects composing the value and M their average size. For small string values the time complexity is thus O(1)+O(1*M) where M is small, so simply O(1). However for sorted set values the complexity is O(N*M*log(N)) because inserting values into sorted sets is O(log(N)).",
            handler: restore),
]

private func save(_ c: Client) {
    let rdb = c.server.rdb
    // A replica's full sync is an RDB child to Redis too.
    if rdb.background != nil || c.server.replication.fullSync != nil {
        return c.reply.error("ERR Background save already in progress")
    }
    do {
        try rdb.save()
        c.reply.ok()
    } catch {
        c.reply.error("ERR")
    }
}

/// BGSAVE [SCHEDULE]
private func bgsave(_ c: Client) {
    if c.argc > 2 || (c.argc == 2 && !c.argIs(1, "schedule")) { return c.replySyntaxError() }
    let rdb = c.server.rdb
    if rdb.background != nil || c.server.replication.fullSync != nil {
        return c.reply.error("ERR Background save already in progress")
    }
    if c.server.hasBackgroundSnapshot || c.server.callDepth > 1 {
        // An AOF rewrite's snapshot is running, or inside EXEC: scheduled for the cron, as Redis does.
        if c.server.callDepth <= 1 && c.argc == 1 {
            return c.reply.error("ERR Another child process is active (AOF?): can't BGSAVE right now. Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible.")
        }
        rdb.bgsaveScheduled = true
        return c.reply.simple("Background saving scheduled")
    }
    if rdb.startBackgroundSave() {
        c.reply.simple("Background saving started")
    } else {
        c.reply.error("ERR")
    }
}

// MARK: - DUMP / RESTORE

/// A DUMP payload: the value's RDB type and encoding, the RDB version (2 bytes) and the CRC64 of both.
func dumpPayload(_ value: Value, compress: Bool) -> [UInt8] {
    let output = RDBOutput(compress: compress)
    output.value(value)
    output.littleEndian(UInt16(RDB.version))
    output.littleEndian(output.checksum)
    return Array(output.bytes)
}

/// A DUMP (or FUNCTION DUMP) payload's content before its footer, once the footer's RDB version is one we
/// read and its CRC64 matches (Redis's verifyDumpPayload); nil otherwise.
func dumpPayloadBody(_ payload: UnsafeRawBufferPointer, skipChecksum: Bool = false) -> UnsafeRawBufferPointer? {
    guard payload.count >= 10 else { return nil }
    let footer = payload.count - 10
    let version = Int(payload[footer]) | Int(payload[footer + 1]) << 8
    let stored = UInt64(littleEndian: payload.loadUnaligned(fromByteOffset: payload.count - 8, as: UInt64.self))
    let computed = CRC64.update(0, UnsafeRawBufferPointer(rebasing: payload[0..<(payload.count - 8)]))
    guard version <= RDB.maxReadableVersion, skipChecksum || stored == computed else { return nil }
    return UnsafeRawBufferPointer(rebasing: payload[0..<footer])
}

/// Decodes a DUMP payload (verifyDumpPayload + rdbLoadObject); the error is the reply RESTORE gives.
func valueFromDumpPayload(_ payload: UnsafeRawBufferPointer, limits: RDBLoadLimits, skipChecksum: Bool = false) -> Result<Value, RDBError> {
    guard let body = dumpPayloadBody(payload, skipChecksum: skipChecksum) else {
        return .failure(RDBError("ERR DUMP payload version or checksum are wrong"))
    }
    var input = RDBInput(body)
    do {
        let type = try input.byte()
        guard let value = try input.value(type: type, limits: limits) else { return .failure(RDBError("ERR Bad data format")) }
        return .success(value)
    } catch {
        return .failure(RDBError("ERR Bad data format"))
    }
}

private func dump(_ c: Client) {
    guard let value = c.db.lookup(c.arg(1), now: c.now) else { return c.reply.null() }
    let payload = dumpPayload(value, compress: c.server.config.rdbcompression)
    payload.withUnsafeBytes { c.reply.bulk($0) }
}

/// RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]
private func restore(_ c: Client) {
    var replace = false, absoluteTTL = false
    var idle: Int64 = -1, frequency: Int64 = -1
    var i = 4
    while i < c.argc {
        let more = c.argc - i - 1
        if c.argIs(i, "replace") {
            replace = true
        } else if c.argIs(i, "absttl") {
            absoluteTTL = true
        } else if c.argIs(i, "idletime") && more >= 1 && frequency == -1 {
            guard let v = c.int64Arg(i + 1) else { return }
            if v < 0 { return c.reply.error("ERR Invalid IDLETIME value, must be >= 0") }
            idle = v
            i += 1
        } else if c.argIs(i, "freq") && more >= 1 && idle == -1 {
            guard let v = c.int64Arg(i + 1) else { return }
            if v < 0 || v > 255 { return c.reply.error("ERR Invalid FREQ value, must be >= 0 and <= 255") }
            frequency = v
            i += 1
        } else {
            return c.replySyntaxError()
        }
        i += 1
    }
    let now = c.now
    let key = c.argBytes(1)
    if !replace && c.db.lookup(key, now: now, .write) != nil {
        return c.reply.error("BUSYKEY Target key name already exists.")
    }
    guard var ttl = c.int64Arg(2) else { return }
    if ttl < 0 { return c.reply.error("ERR Invalid TTL value, must be >= 0") }
    let value: Value
    switch valueFromDumpPayload(c.arg(3), limits: RDBLoadLimits(c.server.config), skipChecksum: c.server.rdb.skipChecksumValidation) {
    case .success(let v): value = v
    case .failure(let error): return c.reply.error(error.description)
    }
    // Redis adds the time without an overflow check (`ttl += mstime()`): a relative TTL near Int64.max wraps
    // negative, so the key counts as already expired and is not created. The same here, for the same reply.
    if ttl != 0 && !absoluteTTL { ttl = ttl &+ now }
    if ttl != 0 && ttl <= now {
        // Already expired: nothing is stored; a replaced key is deleted, propagated as DEL.
        if replace && c.db.remove(key) {
            c.propagateAs([c.server.config.lazyfreeLazyServerDel ? "UNLINK" : "DEL", key])
        }
        return c.reply.ok()
    }
    if replace { c.db.remove(key, event: .none, changes: 0) }
    c.db.add(key, value, event: .restore)
    if ttl != 0 {
        c.db.setExpire(key, at: ttl, event: .none, changes: 0)
        if !absoluteTTL {
            var argv = c.ownedArguments()
            argv[2] = formatInt64(ttl)
            argv.append("ABSTTL")
            c.propagateAs(argv)
        }
    }
    // Redis's objectSetLRUOrLFU: FREQ under an LFU policy, IDLETIME under the others; else a new key's stamp.
    let access = c.server.keyspace.access
    if access.lfu && frequency >= 0 {
        key.withUnsafeBytes { c.db.setAccessStamp($0, access.lfuStamp(counter: UInt32(frequency))) }
    } else if !access.lfu && idle >= 0 {
        key.withUnsafeBytes { c.db.setAccessStamp($0, access.lruStamp(idleSeconds: idle)) }
    }
    c.reply.ok()
}
