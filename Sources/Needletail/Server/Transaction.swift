/// Transactions: MULTI's queue and WATCH (Redis's multi.c), on the core seams.
///
///     normal ──MULTI──▶ queuing ──EXEC──▶ (queued commands run through `call`, one execution unit) ──▶ normal
///                          └──DISCARD / RESET / a rejected EXEC──▶ normal
///
/// QUEUING. While a client is in MULTI, `processCommand` checks each request as usual (lookup, arity,
/// authentication, commands flagged no-multi) and, instead of running it, appends it to the client's
/// `TransactionQueue` and answers `+QUEUED`. EXEC, DISCARD, MULTI, WATCH, QUIT and RESET run at once
/// (`Command.transactionRole`). A request rejected while queuing marks the transaction aborted (Redis's
/// CLIENT_DIRTY_EXEC): EXEC then answers `-EXECABORT ... previous errors.`; a rejected EXEC itself ends the
/// transaction at once with the reason (Redis's execCommandAbort).
///
/// EXEC runs the queued commands with `call`, nested in EXEC's own call: they share its time (no key
/// expires between them) and its propagation unit, so the AOF and replicas get the commands that wrote,
/// wrapped in MULTI ... EXEC, and nothing when none wrote. Blocking commands do not block inside EXEC
/// (`Client.canBlock`); clients blocked on keys the transaction filled are served after it.
///
/// WATCH. Each watched key is a `WatchedKey`, listed both by its client and by its database's index
/// (`Server.watchedKeys`). The keyspace's change stream (Server.keyChanged) touches the index: any change of
/// a watched key by anyone (write, delete, expiry, eviction, RENAME/MOVE onto or from it) marks its
/// watchers (`Client.watchTouched`, Redis's CLIENT_DIRTY_CAS) and unwatches them, as nothing can undo it;
/// FLUSHDB/FLUSHALL/SWAPDB touch the watched keys that existed on either side. A key that had already
/// expired when it was watched is Redis 7.0's special case: its deletion (lazy or active expiry) is no
/// logical change, and EXEC ignores it when checking for keys that expired after WATCH. While nobody
/// watches anything the keyspace pays nothing for WATCH (`updateKeyspaceListener`).

/// The commands a client queued since MULTI, packed: every argument's bytes in one buffer and their spans
/// in one array, so a transaction of 100,000 commands is three allocations, not 300,000.
struct TransactionQueue {
    struct Entry {
        unowned(unsafe) let command: Command  // commands live as long as the server
        let bytes: Range<Int>
        let spans: Range<Int>
    }

    private(set) var entries: [Entry] = []
    private var bytes: [UInt8] = []
    private var spans: [ArgSpan] = []
    /// The queued commands' flags OR-ed together (Redis's mstate.cmd_flags): EXEC writes if one of them does.
    private(set) var flags: CommandFlags = []
    /// A request was rejected while queuing (Redis's CLIENT_DIRTY_EXEC): EXEC aborts.
    var aborted = false

    var count: Int { entries.count }

    /// What the queued commands take, in bytes (CLIENT LIST `multi-mem`).
    var memory: Int {
        bytes.count + spans.count * MemoryLayout<ArgSpan>.stride + entries.count * MemoryLayout<Entry>.stride
    }

    /// Whether the emptied queue is worth keeping for the client's next MULTI (its buffers are small).
    var isReusable: Bool { bytes.capacity <= 16 * 1024 && entries.capacity <= 256 }

    /// Empties the queue, keeping its buffers (a client's next MULTI reuses them: no allocation per
    /// transaction).
    mutating func reset() {
        entries.removeAll(keepingCapacity: true)
        bytes.removeAll(keepingCapacity: true)
        spans.removeAll(keepingCapacity: true)
        flags = []
        aborted = false
    }

    /// Queues the client's current request. Nothing is kept once the transaction is aborted or a watched
    /// key changed: EXEC will discard it anyway (as Redis's queueMultiCommand, so a pipeline that ignores
    /// the errors does not grow memory, and CLIENT LIST's multi= stops counting).
    mutating func append(_ client: Client, _ command: Command, flags commandFlags: CommandFlags) {
        if aborted || client.watchTouched { return }
        let byteStart = bytes.count
        let spanStart = spans.count
        for i in 0..<client.argc {
            let arg = client.arg(i)
            spans.append(ArgSpan(offset: bytes.count - byteStart, count: arg.count))
            bytes.append(contentsOf: arg)
        }
        entries.append(Entry(command: command, bytes: byteStart..<bytes.count, spans: spanStart..<spans.count))
        flags.formUnion(commandFlags)
    }

    /// Makes queued command `i` the parser's current request.
    func load(_ i: Int, into parser: inout RequestParser) {
        let entry = entries[i]
        bytes.withUnsafeBytes { all in
            parser.load(packed: UnsafeRawBufferPointer(rebasing: all[entry.bytes]), spans: spans[entry.spans])
        }
    }
}

/// The clients watching one key, in the order they started (a class: found once, edited in place).
final class WatchList {
    var watchers: [WatchedKey] = []
}

/// One key a client watches, shared by the client's list and its database's index.
final class WatchedKey {
    let db: Int
    let key: ByteString
    unowned(unsafe) let client: Client  // a client unwatches everything before it is closed
    /// The key had already expired (but was still stored) when WATCH was called: its deletion is no change.
    var expired: Bool

    init(db: Int, key: ByteString, client: Client, expired: Bool) {
        self.db = db
        self.key = key
        self.client = client
        self.expired = expired
    }
}

extension Server {
    // MARK: - Queuing

    /// Queues a checked request of a client in MULTI and answers +QUEUED.
    func queueCommand(_ client: Client, _ command: Command) {
        client.transaction!.append(client, command, flags: commandFlags(client, command))
        client.reply.raw("+QUEUED\r\n")
    }

    /// Leaves MULTI and forgets the watched keys (EXEC, DISCARD, RESET, a closed connection). A small queue
    /// is kept, emptied, for the client's next MULTI.
    func discardTransaction(_ client: Client) {
        if var queue = client.transaction {
            client.transaction = nil  // `queue` is now the only reference: emptied in place
            if queue.isReusable && !client.isClosed {
                queue.reset()
                client.spareTransaction = queue
            }
        }
        client.watchTouched = false
        unwatchAll(client)
    }

    /// Enters MULTI with an empty queue (the client's spare one when it has it).
    func beginTransaction(_ client: Client) {
        client.transaction = client.spareTransaction ?? TransactionQueue()
        client.spareTransaction = nil
    }

    // MARK: - WATCH

    /// Watches `key` in the client's database (once per key and database).
    func watch(_ client: Client, _ key: ByteString) {
        let db = client.db.index
        if client.watchedKeys.contains(where: { $0.db == db && $0.key == key }) { return }
        let watched = WatchedKey(db: db, key: key, client: client, expired: client.db.isExpired(key, now: now))
        if let list = watchedKeys[db][key] {
            list.watchers.append(watched)
        } else {
            let list = WatchList()
            list.watchers.append(watched)
            watchedKeys[db][key] = list
        }
        client.watchedKeys.append(watched)
        watchedKeyCount += 1
        if watchedKeyCount == 1 { updateKeyspaceListener() }
    }

    /// Forgets every key the client watches (the `watchTouched` mark is the caller's to clear).
    func unwatchAll(_ client: Client) {
        guard !client.watchedKeys.isEmpty else { return }
        for watched in client.watchedKeys {
            guard let list = watchedKeys[watched.db][watched.key] else { continue }
            list.watchers.removeAll { $0 === watched }
            if list.watchers.isEmpty { watchedKeys[watched.db][watched.key] = nil }
        }
        watchedKeyCount -= client.watchedKeys.count
        client.watchedKeys.removeAll()
        if watchedKeyCount == 0 { updateKeyspaceListener() }
    }

    /// A watched key changed (Redis's touchWatchedKey): its watchers' transactions will fail. Called from
    /// the keyspace's change stream, after the change.
    func touchWatchedKey(_ key: UnsafeRawBufferPointer, db: Int) {
        guard !watchedKeys[db].isEmpty, let list = watchedKeys[db].find(key) else { return }
        for watched in list.watchers {  // a copy: invalidating unwatches
            // An already expired key that is now gone (its lazy or active deletion): no logical change.
            if watched.expired && !databases[db].stores(key) {
                watched.expired = false
                continue
            }
            invalidateWatch(watched.client)
        }
    }

    /// FLUSHDB/FLUSHALL (`replacedWith` nil) or one direction of SWAPDB, before it happens (Redis's
    /// touchAllWatchedKeysInDb): a watched key changes if it exists on either side.
    func touchAllWatchedKeys(emptied: Int, replacedWith: Int?) {
        guard !watchedKeys[emptied].isEmpty else { return }
        let emptiedDB = databases[emptied]
        let other = replacedWith.map { databases[$0] }
        for (key, list) in Array(watchedKeys[emptied]) {  // a snapshot: invalidating unwatches
            let existsInEmptied = emptiedDB.stores(key)
            let existsInOther = other?.stores(key) ?? false
            guard existsInEmptied || existsInOther else { continue }
            for watched in list.watchers {
                if watched.expired {
                    // An expired key deleted, or replaced by another expired one: no logical change.
                    if !existsInOther { watched.expired = false; continue }
                    if other!.isExpired(key, now: now) { continue }
                } else if !existsInEmptied && other!.isExpired(key, now: now) {
                    watched.expired = true  // a missing key replaced by an expired one
                    continue
                }
                invalidateWatch(watched.client)
            }
        }
    }

    /// Whether a key the client watches expired since it was watched (EXEC then fails, as in Redis).
    func watchedKeyExpired(_ client: Client) -> Bool {
        client.watchedKeys.contains { !$0.expired && databases[$0.db].isExpired($0.key, now: now) }
    }

    private func invalidateWatch(_ client: Client) {
        client.watchTouched = true
        unwatchAll(client)  // nothing can make it clean again: stop watching at once
    }
}
