/// Stream commands (Redis 7.0's t_stream.c): every X* command over `StreamValue` (Storage/StreamValue.swift)
/// and its consumer groups (Storage/StreamGroups.swift).
///
/// Shared routines, as in Redis:
/// - `parseAddOrTrimArguments` is streamParseAddOrTrimArgsOrReply: XADD's and XTRIM's options;
/// - `replyWithRange` is streamReplyWithRange: XRANGE, XREVRANGE, XREAD, XREADGROUP ('>'), XCLAIM's and
///   XINFO's entries; with a group it moves the group's last id, counts entries read, fills the PELs and
///   propagates each delivery as XCLAIM (and the group's position as XGROUP SETID);
/// - `xreadGeneric` is XREAD and XREADGROUP.
///
/// Ids: `parseID` is streamGenericParseIDOrReply (strict: no "-"/"+"; "<ms>-*" for XADD; the numbers as
/// Redis's string2ull reads them, strtoull's leniency included).
///
/// Blocking: XREAD/XREADGROUP BLOCK park the client through Server/Blocking.swift and run again when a key
/// receives an entry. Before blocking, XREAD's "$" ids are rewritten to the stream's last id (so the command
/// run again waits for entries after it, as Redis 7.2's re-execution does); a command run again without COUNT
/// reads at most 1000 entries (XREAD_BLOCKED_DEFAULT_COUNT). A blocked XREADGROUP whose stream is deleted
/// gets "UNBLOCKED the stream key no longer exists", and one whose group is destroyed "NOGROUP the consumer
/// group this client was blocked on no longer exists", as Redis 7.0 answers.
///
/// Propagation as Redis's: XADD with the generated id; `~` trimming (XADD, XTRIM) as `=` with the threshold
/// reached (the length, or the first id left); XREADGROUP, XCLAIM and XAUTOCLAIM as one XCLAIM ... JUSTID
/// FORCE LASTID per entry delivered or claimed (and XGROUP SETID where only the group's position moved).

let streamCommands: [Command] = [
    Command("xadd", arity: -5, flags: [.write, .denyoom, .fast], keys: (1, 1, 1), group: "stream", since: "5.0.0",
            summary: "Appends a new entry to a stream",
            complexity: "O(1) when adding a new entry, O(N) when trimming where N being the number of entries evicted.",
            handler: xadd),
    Command("xlen", arity: 2, flags: [.readonly, .fast], keys: (1, 1, 1), group: "stream", since: "5.0.0",
            summary: "Return the number of entries in a stream", complexity: "O(1)", handler: xlen),
    Command("xrange", arity: -4, flags: [.readonly], keys: (1, 1, 1), group: "stream", since: "5.0.0",
            summary: "Return a range of elements in a stream, with IDs matching the specified IDs interval",
            complexity: "O(N) with N being the number of elements being returned. If N is constant (e.g. always asking "
                + "for the first 10 elements with COUNT), you can consider it O(1).",
            handler: { xrangeGeneric($0, reverse: false) }),
    Command("xrevrange", arity: -4, flags: [.readonly], keys: (1, 1, 1), group: "stream", since: "5.0.0",
            summary: "Return a range of elements in a stream, with IDs matching the specified IDs interval, in reverse "
                + "order (from greater to smaller IDs) compared to XRANGE",
            complexity: "O(N) with N being the number of elements returned. If N is constant (e.g. always asking for "
                + "the first 10 elements with COUNT), you can consider it O(1).",
            handler: { xrangeGeneric($0, reverse: true) }),
    Command("xdel", arity: -3, flags: [.write, .fast], keys: (1, 1, 1), group: "stream", since: "5.0.0",
            summary: "Removes the specified entries from the stream. Returns the number of items actually deleted, "
                + "that may be different from the number of IDs passed in case certain IDs do not exist.",
            complexity: "O(1) for each single item to delete in the stream, regardless of the stream size.",
            handler: xdel),
    Command("xtrim", arity: -4, flags: [.write], keys: (1, 1, 1), group: "stream", since: "5.0.0",
            summary: "Trims the stream to (approximately if '~' is passed) a certain size",
            complexity: "O(N), with N being the number of evicted entries. Constant times are very small however, "
                + "since entries are organized in macro nodes containing multiple entries that can be released with "
                + "a single deallocation.",
            handler: xtrim),
    Command("xread", arity: -4, flags: [.readonly, .blocking, .movableKeys], group: "stream", since: "5.0.0",
            summary: "Return never seen elements in multiple streams, with IDs greater than the ones reported by the "
                + "caller for each stream. Can block.",
            complexity: "For each stream mentioned: O(N) with N being the number of elements being returned, it means "
                + "that XREAD-ing with a fixed COUNT is O(1). Note that when the BLOCK option is used, XADD will pay "
                + "O(M) time in order to serve the M clients blocked on the stream getting new data.",
            handler: { xreadGeneric($0, group: false) }),
    Command("xreadgroup", arity: -7, flags: [.write, .blocking, .movableKeys], group: "stream", since: "5.0.0",
            summary: "Return new entries from a stream using a consumer group, or access the history of the pending "
                + "entries for a given consumer. Can block.",
            complexity: "For each stream mentioned: O(M) with M being the number of elements returned. If M is "
                + "constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1). On "
                + "the other side when XREADGROUP blocks, XADD will pay the O(N) time in order to serve the N clients "
                + "blocked on the stream getting new data.",
            handler: { xreadGeneric($0, group: true) }),
    Command("xsetid", arity: -3, flags: [.write, .denyoom, .fast], keys: (1, 1, 1), group: "stream", since: "5.0.0",
            summary: "An internal command for replicating stream values", complexity: "O(1)", handler: xsetid),
    Command("xack", arity: -4, flags: [.write, .fast], keys: (1, 1, 1), group: "stream", since: "5.0.0",
            summary: "Marks a pending message as correctly processed, effectively removing it from the pending "
                + "entries list of the consumer group. Return value of the command is the number of messages "
                + "successfully acknowledged, that is, the IDs we were actually able to resolve in the PEL.",
            complexity: "O(1) for each message ID processed.", handler: xack),
    Command("xpending", arity: -3, flags: [.readonly], keys: (1, 1, 1), group: "stream", since: "5.0.0",
            summary: "Return information and entries from a stream consumer group pending entries list, that are "
                + "messages fetched but never acknowledged.",
            complexity: "O(N) with N being the number of elements returned, so asking for a small fixed number of "
                + "entries per call is O(1). O(M), where M is the total number of entries scanned when used with the "
                + "IDLE filter. When the command returns just the summary and the list of consumers is small, it runs "
                + "in O(1) time; otherwise, an additional O(N) time for iterating every consumer.",
            handler: xpending),
    Command("xclaim", arity: -6, flags: [.write, .fast], keys: (1, 1, 1), group: "stream", since: "5.0.0",
            summary: "Changes (or acquires) ownership of a message in a consumer group, as if the message was "
                + "delivered to the specified consumer.",
            complexity: "O(log N) with N being the number of messages in the PEL of the consumer group.",
            handler: xclaim),
    Command("xautoclaim", arity: -6, flags: [.write, .fast], keys: (1, 1, 1), group: "stream", since: "6.2.0",
            summary: "Changes (or acquires) ownership of messages in a consumer group, as if the messages were "
                + "delivered to the specified consumer.",
            complexity: "O(1) if COUNT is small.", handler: xautoclaim),
    Command("xgroup", arity: -2, group: "stream", since: "5.0.0", summary: "A container for consumer groups commands",
            complexity: "Depends on subcommand.", subcommands: [
        Command("create", arity: -5, flags: [.write, .denyoom], keys: (2, 2, 1), group: "stream", since: "5.0.0",
                summary: "Create a consumer group.", complexity: "O(1)", handler: { xgroupGeneric($0, .create) }),
        Command("setid", arity: -5, flags: [.write], keys: (2, 2, 1), group: "stream", since: "5.0.0",
                summary: "Set a consumer group to an arbitrary last delivered ID value.", complexity: "O(1)",
                handler: { xgroupGeneric($0, .setid) }),
        Command("destroy", arity: 4, flags: [.write], keys: (2, 2, 1), group: "stream", since: "5.0.0",
                summary: "Destroy a consumer group.",
                complexity: "O(N) where N is the number of entries in the group's pending entries list (PEL).",
                handler: { xgroupGeneric($0, .destroy) }),
        Command("createconsumer", arity: 5, flags: [.write, .denyoom], keys: (2, 2, 1), group: "stream",
                since: "6.2.0", summary: "Create a consumer in a consumer group.", complexity: "O(1)",
                handler: { xgroupGeneric($0, .createConsumer) }),
        Command("delconsumer", arity: 5, flags: [.write], keys: (2, 2, 1), group: "stream", since: "5.0.0",
                summary: "Delete a consumer from a consumer group.", complexity: "O(1)",
                handler: { xgroupGeneric($0, .delConsumer) }),
        Command("help", arity: 2, flags: [.loading, .stale], group: "stream", since: "5.0.0",
                summary: "Show helpful text about the different subcommands", complexity: "O(1)", handler: xgroupHelp),
    ]),
    Command("xinfo", arity: -2, group: "stream", since: "5.0.0", summary: "A container for stream introspection commands",
            complexity: "Depends on subcommand.", subcommands: [
        Command("stream", arity: -3, flags: [.readonly], keys: (2, 2, 1), group: "stream", since: "5.0.0",
                summary: "Get information about a stream", complexity: "O(1)", handler: xinfoStream),
        Command("groups", arity: 3, flags: [.readonly], keys: (2, 2, 1), group: "stream", since: "5.0.0",
                summary: "List the consumer groups of a stream", complexity: "O(1)", handler: xinfoGroups),
        Command("consumers", arity: 4, flags: [.readonly], keys: (2, 2, 1), group: "stream", since: "5.0.0",
                summary: "List the consumers in a consumer group", complexity: "O(1)", handler: xinfoConsumers),
        Command("help", arity: 2, flags: [.loading, .stale], group: "stream", since: "5.0.0",
                summary: "Show helpful text about the different subcommands", complexity: "O(1)", handler: xinfoHelp),
    ]),
]

extension KeyspaceEvent {
    static let xadd = KeyspaceEvent("xadd", .stream)
    static let xtrim = KeyspaceEvent("xtrim", .stream)
    static let xdel = KeyspaceEvent("xdel", .stream)
    static let xsetid = KeyspaceEvent("xsetid", .stream)
    static let xgroupCreate = KeyspaceEvent("xgroup-create", .stream)
    static let xgroupSetid = KeyspaceEvent("xgroup-setid", .stream)
    static let xgroupDestroy = KeyspaceEvent("xgroup-destroy", .stream)
    static let xgroupCreateConsumer = KeyspaceEvent("xgroup-createconsumer", .stream)
    static let xgroupDelConsumer = KeyspaceEvent("xgroup-delconsumer", .stream)
}

// MARK: - Shared helpers

private let invalidIDError: StaticString = "ERR Invalid stream ID specified as stream command argument"

/// Redis's string2ull: string2ll when it accepts the text (negative numbers refused), else strtoull's rules
/// (leading spaces, a sign, leading zeros; a minus negates modulo 2^64), the text read as a C string.
func parseStreamNumber(_ raw: UnsafeRawBufferPointer) -> UInt64? {
    if raw.count <= 20, let v = parseInt64(raw) { return v < 0 ? nil : UInt64(v) }
    var i = 0
    let n = raw.count
    while i < n, raw[i] == 0x20 || (raw[i] >= 0x09 && raw[i] <= 0x0D) { i += 1 }
    var negative = false
    if i < n, raw[i] == UInt8(ascii: "+") || raw[i] == UInt8(ascii: "-") {
        negative = raw[i] == UInt8(ascii: "-")
        i += 1
    }
    guard i < n else { return nil }
    var v: UInt64 = 0
    while i < n {
        let b = raw[i]
        guard b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") else { return nil }
        let (m, o1) = v.multipliedReportingOverflow(by: 10)
        let (s, o2) = m.addingReportingOverflow(UInt64(b - UInt8(ascii: "0")))
        if o1 || o2 { return nil }
        v = s
        i += 1
    }
    return negative ? 0 &- v : v
}

/// Redis's streamGenericParseIDOrReply without the reply: "-", "+" (unless strict), "ms", "ms-seq", and
/// "ms-*" when `allowAutoSeq` (then `seqGiven` is false). Nil when invalid.
func parseID(_ arg: UnsafeRawBufferPointer, missingSeq: UInt64, strict: Bool, allowAutoSeq: Bool = false)
    -> (id: StreamID, seqGiven: Bool)? {
    // Redis copies the argument into a 128-byte C buffer: longer is invalid, a NUL ends it.
    guard arg.count <= 127 else { return nil }
    var text = arg
    if let nul = arg.firstIndex(of: 0) { text = UnsafeRawBufferPointer(rebasing: arg[0..<nul]) }
    if text.count == 1 && (text[0] == UInt8(ascii: "-") || text[0] == UInt8(ascii: "+")) {
        if strict { return nil }
        return (text[0] == UInt8(ascii: "-") ? .zero : .max, true)
    }
    let dash = text.firstIndex(of: UInt8(ascii: "-"))
    let msPart = UnsafeRawBufferPointer(rebasing: text[0..<(dash ?? text.count)])
    guard let ms = parseStreamNumber(msPart) else { return nil }
    guard let dash else { return (StreamID(ms: ms, seq: missingSeq), true) }
    let seqPart = UnsafeRawBufferPointer(rebasing: text[(dash + 1)...])
    if allowAutoSeq && seqPart.count == 1 && seqPart[0] == UInt8(ascii: "*") {
        return (StreamID(ms: ms, seq: 0), false)
    }
    guard let seq = parseStreamNumber(seqPart) else { return nil }
    return (StreamID(ms: ms, seq: seq), true)
}

/// A strict id argument, or nil after replying Redis's error.
private func strictIDArgument(_ c: Client, _ i: Int, missingSeq: UInt64 = 0) -> StreamID? {
    guard let (id, _) = parseID(c.arg(i), missingSeq: missingSeq, strict: true) else {
        c.reply.error(invalidIDError)
        return nil
    }
    return id
}

/// Redis's streamParseIntervalIdOrReply: an id that may be exclusive ("(" prefix, then strict).
private func intervalIDArgument(_ c: Client, _ i: Int, missingSeq: UInt64) -> (id: StreamID, exclusive: Bool)? {
    let arg = c.arg(i)
    if arg.count > 1 && arg[0] == UInt8(ascii: "(") {
        guard let (id, _) = parseID(UnsafeRawBufferPointer(rebasing: arg[1...]), missingSeq: missingSeq, strict: true) else {
            c.reply.error(invalidIDError)
            return nil
        }
        return (id, true)
    }
    guard let (id, _) = parseID(arg, missingSeq: missingSeq, strict: false) else {
        c.reply.error(invalidIDError)
        return nil
    }
    return (id, false)
}

/// An integer argument (getLongLongFromObjectOrReply), or nil after replying `message` (Redis's default text
/// when nil).
private func integerArgument(_ c: Client, _ i: Int, _ message: String? = nil) -> Int64? {
    guard let v = parseInt64(c.arg(i)) else {
        if let message { c.reply.error("ERR " + message) } else { c.replyNotInteger() }
        return nil
    }
    return v
}

@inline(__always) private func isWord(_ c: Client, _ i: Int, _ word: StaticString) -> Bool { argOptionIs(c, i, word) }

/// The stream at argument `i` for reading, or nil after replying (`missing` when there is no key, WRONGTYPE).
private func lookupStream(_ c: Client, _ i: Int, forWrite: Bool = false, orReply missing: (Client) -> Void) -> StreamValue? {
    let value = forWrite ? c.db.lookup(c.arg(i), now: c.now, .write) : c.db.lookup(c.arg(i), now: c.now)
    guard let value else {
        missing(c)
        return nil
    }
    guard case .stream(let stream) = value else {
        c.replyWrongType()
        return nil
    }
    return stream
}

/// The stream at argument `i` if it exists (a read lookup), `.failure` after WRONGTYPE.
private func optionalStream(_ c: Client, _ i: Int, forWrite: Bool = false) -> Result<StreamValue?, StreamLookupError> {
    let value = forWrite ? c.db.lookup(c.arg(i), now: c.now, .write) : c.db.lookup(c.arg(i), now: c.now)
    switch value {
    case nil: return .success(nil)
    case .stream(let s)?: return .success(s)
    default:
        c.replyWrongType()
        return .failure(StreamLookupError())
    }
}

private struct StreamLookupError: Error {}

private func streamLimits(_ c: Client) -> StreamValue.Limits {
    StreamValue.Limits(maxBytes: c.server.config.streamNodeMaxBytes, maxEntries: c.server.config.streamNodeMaxEntries)
}

/// The bytes of argument `i` as a String for error messages (Redis prints them with %s: up to a NUL).
private func argText(_ c: Client, _ i: Int) -> String {
    let arg = c.arg(i)
    let end = arg.firstIndex(of: 0) ?? arg.count
    return String(decoding: UnsafeRawBufferPointer(rebasing: arg[0..<end]), as: UTF8.self)
}

private func errorWithArguments(_ c: Client, _ prefix: String, _ parts: [(String, Int)], _ suffix: String = "") {
    var bytes = Array(prefix.utf8)
    for (text, i) in parts {
        bytes += Array(text.utf8)
        let arg = c.arg(i)
        let end = arg.firstIndex(of: 0) ?? arg.count
        for b in UnsafeRawBufferPointer(rebasing: arg[0..<end]) { bytes.append(b == 0x0D || b == 0x0A ? 0x20 : b) }
    }
    bytes += Array(suffix.utf8)
    c.reply.error(bytes: bytes)
}

/// "-NOGROUP No such key '<key>' or consumer group '<group>'" (+ `suffix`).
private func replyNoGroup(_ c: Client, key: Int, group: Int, suffix: String = "") {
    errorWithArguments(c, "NOGROUP No such key '", [("", key), ("' or consumer group '", group)], "'" + suffix)
}

/// Whether the client must obey whatever it is sent (the AOF being loaded, a master link): Redis's
/// mustObeyClient, under which trimming is never limited.
private func mustObey(_ c: Client) -> Bool { c.kind == .internal && c.replySink == .discard }

// MARK: - Replies

@inline(__always) private func replyID(_ c: Client, _ id: StreamID) { c.reply.bulk(id.text) }

/// One entry: [id, [field, value, ...]].
@inline(__always) private func replyEntry(_ c: Client, _ node: StreamNode, _ cursor: StreamNode.Cursor) {
    c.reply.array(2)
    replyID(c, cursor.id)
    c.reply.array(cursor.fieldCount * 2)
    node.forEachPair(cursor) { field, value in
        c.reply.bulk(field)
        c.reply.bulk(value)
    }
}

/// What a group read adds (streamReplyWithRange's group arguments).
private struct GroupRead {
    let group: StreamGroup
    let consumer: StreamConsumer
    let noack: Bool
    let key: ByteString
    let groupName: ByteString
}

/// Redis's streamReplyWithRange: the entries of `start...end` (at most `count`, 0 = all) as an array; with a
/// group, reading moves its last id and fills the PELs (see the file header).
@discardableResult
private func replyWithRange(_ c: Client, _ s: StreamValue, _ start: StreamID, _ end: StreamID, count: Int,
                            reverse: Bool, groupRead: GroupRead? = nil, raw: Bool = false) -> Int {
    // The reply's length is known only at the end: entries are collected first (cheap: node + cursor).
    var found: [(StreamNode, StreamNode.Cursor)] = []
    s.forEach(from: start, to: end, reverse: reverse) { node, cursor in
        found.append((node, cursor))
        return count == 0 || found.count < count
    }
    if !raw { c.reply.array(found.count) }
    var propagateLastID = false
    let now = c.now
    for (node, cursor) in found {
        let id = cursor.id
        if let g = groupRead, id > g.group.lastID {
            if g.group.entriesRead != StreamGroup.invalidEntriesRead && !s.rangeHasTombstones(from: id, to: nil) {
                g.group.entriesRead &+= 1  // wraps as Redis's long long does in practice
            } else if s.entriesAdded != 0 {
                g.group.entriesRead = s.estimateDistanceFromFirstEverEntry(id)
            }
            g.group.lastID = id
            if g.noack { propagateLastID = true }
        }
        replyEntry(c, node, cursor)
        if let g = groupRead, !g.noack {
            let entry: PendingEntry
            if let existing = g.group.pending[id] {
                existing.consumer.pending.remove(id)
                existing.consumer = g.consumer
                existing.deliveryTime = now
                existing.deliveryCount = 1
                entry = existing
            } else {
                entry = PendingEntry(deliveryTime: now, deliveryCount: 1, consumer: g.consumer)
                g.group.pending.set(id, entry)
            }
            g.consumer.pending.set(id, entry)
            g.consumer.activeTime = now  // 7.2: a read that delivered (NOACK's does not count)
            propagateClaim(c, key: g.key, group: g.group, groupName: g.groupName, id: id, entry: entry)
        }
    }
    if let g = groupRead, propagateLastID { propagateGroupID(c, key: g.key, group: g.group, groupName: g.groupName) }
    return found.count
}

/// Redis's streamReplyWithRangeFromConsumerPEL: a consumer's history (XREADGROUP with an id): its pending
/// entries from `start` on (the id after the one the client gave), deleted ones as [id, nil]; each entry
/// still in the stream counted as delivered again.
private func replyWithConsumerHistory(_ c: Client, _ s: StreamValue, _ start: StreamID, count: Int,
                                      consumer: StreamConsumer) {
    let pel = consumer.pending
    var i = pel.lowerBound(start)
    var n = 0
    var ids: [StreamID] = []
    while i < pel.count && (count == 0 || n < count) {
        ids.append(pel.id(at: i))
        i += 1
        n += 1
    }
    c.reply.array(ids.count)
    let now = c.now
    for id in ids {
        if let (node, cursor) = s.find(id) {
            replyEntry(c, node, cursor)
            // Only an entry that is still there counts as delivered again.
            if let entry = pel[id] {
                entry.deliveryTime = now
                entry.deliveryCount &+= 1
            }
        } else {
            c.reply.array(2)
            replyID(c, id)
            c.reply.nullArray()
        }
    }
}

/// XCLAIM <key> <group> <consumer> 0 <id> TIME <ms> RETRYCOUNT <n> FORCE JUSTID LASTID <group's last id>.
private func propagateClaim(_ c: Client, key: ByteString, group: StreamGroup, groupName: ByteString, id: StreamID,
                            entry: PendingEntry) {
    guard c.server.isPropagating else { return }
    c.server.alsoPropagate(db: c.db.index, ["XCLAIM", key, groupName, entry.consumer.name, "0", id.text, "TIME",
                                            formatInt64(entry.deliveryTime), "RETRYCOUNT",
                                            formatInt64(Int64(bitPattern: entry.deliveryCount)), "FORCE", "JUSTID",
                                            "LASTID", group.lastID.text])
}

/// XGROUP SETID <key> <group> <last id> ENTRIESREAD <n>.
private func propagateGroupID(_ c: Client, key: ByteString, group: StreamGroup, groupName: ByteString) {
    guard c.server.isPropagating else { return }
    c.server.alsoPropagate(db: c.db.index, ["XGROUP", "SETID", key, groupName, group.lastID.text, "ENTRIESREAD",
                                            formatInt64(group.entriesRead)])
}

/// Redis's streamCreateConsumer with SCC_DEFAULT: the consumer, its creation notified and counted.
private func createConsumer(_ c: Client, _ group: StreamGroup, name: ByteString, keyIndex: Int) -> StreamConsumer {
    let consumer = group.createConsumer(name, seenTime: c.now)!
    c.db.didChangeUnsignalled(c.arg(keyIndex), .xgroupCreateConsumer)
    return consumer
}

// MARK: - XADD, XTRIM

/// Parsed XADD / XTRIM options (streamAddTrimArgs).
private struct AddTrimArguments {
    var id: StreamID?
    var seqGiven = true
    var noMakeStream = false
    var strategy: StreamValue.TrimStrategy?
    var approximate = false
    var limit = 0
    /// Index of the MAXLEN/MINID threshold argument.
    var thresholdIndex = 0
    /// Index of the id argument (XADD).
    var idIndex = 0
}

/// Redis's streamParseAddOrTrimArgsOrReply; nil after replying.
private func parseAddOrTrimArguments(_ c: Client, xadd: Bool) -> AddTrimArguments? {
    var args = AddTrimArguments()
    var limitGiven = false
    var i = 2
    while i < c.argc {
        let more = c.argc - 1 - i
        let opt = c.arg(i)
        if xadd && opt.count >= 1 && opt[0] == UInt8(ascii: "*") && (opt.count == 1 || opt[1] == 0) {
            break
        } else if (isWord(c, i, "maxlen") || isWord(c, i, "minid")) && more > 0 {
            let maxlen = isWord(c, i, "maxlen")
            if args.strategy != nil {
                c.reply.error("ERR syntax error, MAXLEN and MINID options at the same time are not compatible")
                return nil
            }
            // An optional `~` (approximate) or `=` (exact) before the threshold.
            args.approximate = false
            let next = c.arg(i + 1)
            if more >= 2 && next.count == 1 && next[0] == UInt8(ascii: "~") {
                args.approximate = true
                i += 1
            } else if more >= 2 && next.count == 1 && next[0] == UInt8(ascii: "=") {
                i += 1
            }
            if maxlen {
                guard let length = integerArgument(c, i + 1) else { return nil }
                if length < 0 {
                    c.reply.error("ERR The MAXLEN argument must be >= 0.")
                    return nil
                }
                args.strategy = .maxLength(Int(length))
            } else {
                guard let minid = strictIDArgument(c, i + 1) else { return nil }
                args.strategy = .minID(minid)
            }
            i += 1
            args.thresholdIndex = i
        } else if isWord(c, i, "limit") && more > 0 {
            guard let limit = integerArgument(c, i + 1) else { return nil }
            if limit < 0 {
                c.reply.error("ERR The LIMIT argument must be >= 0.")
                return nil
            }
            args.limit = Int(limit)
            limitGiven = true
            i += 1
        } else if xadd && isWord(c, i, "nomkstream") {
            args.noMakeStream = true
        } else if xadd {
            guard let (id, seqGiven) = parseID(opt, missingSeq: 0, strict: true, allowAutoSeq: true) else {
                c.reply.error(invalidIDError)
                return nil
            }
            args.id = id
            args.seqGiven = seqGiven
            break
        } else {
            c.replySyntaxError()
            return nil
        }
        i += 1
    }
    args.idIndex = i
    if args.limit != 0 && args.strategy == nil {
        c.reply.error("ERR syntax error, LIMIT cannot be used without specifying a trimming strategy")
        return nil
    }
    if !xadd && args.strategy == nil {
        c.reply.error("ERR syntax error, XTRIM must be called with a trimming strategy")
        return nil
    }
    if mustObey(c) {
        args.limit = 0
    } else if limitGiven {
        if !args.approximate {
            c.reply.error("ERR syntax error, LIMIT cannot be used without the special ~ option")
            return nil
        }
    } else if args.approximate {
        let limit = 100 &* c.server.config.streamNodeMaxEntries
        args.limit = limit <= 0 || limit > 1_000_000 ? 10_000 : limit
    } else {
        args.limit = 0
    }
    return args
}

/// The propagated form of a `~` trim: "=" and the threshold reached (streamRewriteApproxSpecifier and
/// streamRewriteTrimArgument).
private func rewriteApproximateTrim(_ c: Client, _ argv: inout [ByteString], _ args: AddTrimArguments, _ s: StreamValue) {
    argv[args.thresholdIndex - 1] = "="
    switch args.strategy! {
    case .maxLength: argv[args.thresholdIndex] = formatInt64(Int64(s.count))
    case .minID: argv[args.thresholdIndex] = s.firstIDWithTombstones.text
    }
}

/// When an XADD last left errno at EDOM: the server's next client id then, since redis-server's accept loop
/// (which ends on EAGAIN) resets errno with every new connection (see the exhausted-sequence case in `xadd`);
/// 0 when errno is something else.
nonisolated(unsafe) private var xaddEDOMSince: Int64 = 0

/// XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] *|id field value [field value ...]
private func xadd(_ c: Client) {
    guard let args = parseAddOrTrimArguments(c, xadd: true) else { return }
    let fieldStart = args.idIndex + 1
    if c.argc - fieldStart < 2 || (c.argc - fieldStart) % 2 == 1 {
        return c.reply.error("ERR wrong number of arguments for 'xadd' command")
    }
    if let id = args.id, args.seqGiven, id.isZero {
        return c.reply.error("ERR The ID specified in XADD must be greater than 0-0")
    }
    let stream: StreamValue
    var created = false
    switch c.db.lookup(c.arg(1), now: c.now, .write) {
    case .stream(let s)?: stream = s
    case nil:
        if args.noMakeStream { return c.reply.null() }
        stream = StreamValue()
        created = true
    default: return c.replyWrongType()
    }
    if stream.lastID == .max {
        return c.reply.error("ERR The stream has exhausted the last possible ID, unable to add more items")
    }
    // Redis's streamAppendItem: the new id.
    var id: StreamID
    if let given = args.id {
        if args.seqGiven {
            id = given
        } else if stream.lastID.ms == given.ms {
            if stream.lastID.seq == .max {
                // Redis 7.0 returns here without setting errno and answers by what errno still holds: EDOM
                // after an XADD refused an id, something else (answered as "too large") otherwise.
                return c.reply.error(xaddEDOMSince == c.server.nextClientID ? "ERR The ID specified in XADD is equal or smaller than the target stream top item"
                                                          : "ERR Elements are too large to be stored")
            }
            id = StreamID(ms: given.ms, seq: stream.lastID.seq + 1)
        } else {
            id = given
        }
    } else {
        let ms = UInt64(max(c.now, 0))
        id = stream.lastID.ms >= ms ? stream.lastID.incremented! : StreamID(ms: ms, seq: 0)
    }
    if id <= stream.lastID {
        xaddEDOMSince = c.server.nextClientID
        return c.reply.error("ERR The ID specified in XADD is equal or smaller than the target stream top item")
    }
    var total = 0
    for i in fieldStart..<c.argc { total += c.arg(i).count }
    if total > Int(UInt32.max) {
        xaddEDOMSince = 0
        return c.reply.error("ERR Elements are too large to be stored")
    }
    var fields: [UnsafeRawBufferPointer] = []
    fields.reserveCapacity(c.argc - fieldStart)
    for i in fieldStart..<c.argc { fields.append(c.arg(i)) }
    stream.append(id, fields, limits: streamLimits(c))
    if created { c.db.add(c.argBytes(1), .stream(stream), event: .none, changes: 0) }
    c.reply.bulk(id.text)
    c.db.didModify(c.arg(1), .xadd)
    var rewritten: [ByteString]? = nil
    if let strategy = args.strategy {
        if stream.trim(strategy, approximate: args.approximate, limit: args.limit) > 0 {
            c.db.didModify(c.arg(1), .xtrim, changes: 0)
        }
        if args.approximate && c.server.isPropagating {
            var argv = c.ownedArguments()
            rewriteApproximateTrim(c, &argv, args, stream)
            rewritten = argv
        }
    }
    if (args.id == nil || !args.seqGiven) && c.server.isPropagating {
        var argv = rewritten ?? c.ownedArguments()
        argv[args.idIndex] = id.text
        rewritten = argv
    }
    if let rewritten { c.propagateAs(rewritten) }
}

/// XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count]
private func xtrim(_ c: Client) {
    guard let args = parseAddOrTrimArguments(c, xadd: false) else { return }
    guard let stream = lookupStream(c, 1, forWrite: true, orReply: { $0.reply.integer(0) }) else { return }
    let deleted = stream.trim(args.strategy!, approximate: args.approximate, limit: args.limit)
    if deleted > 0 {
        if args.approximate && c.server.isPropagating {
            var argv = c.ownedArguments()
            rewriteApproximateTrim(c, &argv, args, stream)
            c.propagateAs(argv)
        }
        c.db.didModify(c.arg(1), .xtrim, changes: deleted)
    }
    c.reply.integer(deleted)
}

// MARK: - XLEN, XRANGE, XREVRANGE, XDEL

private func xlen(_ c: Client) {
    guard let stream = lookupStream(c, 1, orReply: { $0.reply.integer(0) }) else { return }
    c.reply.integer(stream.count)
}

/// XRANGE key start end [COUNT n] and XREVRANGE key end start [COUNT n].
private func xrangeGeneric(_ c: Client, reverse: Bool) {
    let startIndex = reverse ? 3 : 2, endIndex = reverse ? 2 : 3
    guard let (startArg, startExclusive) = intervalIDArgument(c, startIndex, missingSeq: 0) else { return }
    var start = startArg
    if startExclusive {
        guard let next = start.incremented else { return c.reply.error("ERR invalid start ID for the interval") }
        start = next
    }
    guard let (endArg, endExclusive) = intervalIDArgument(c, endIndex, missingSeq: .max) else { return }
    var end = endArg
    if endExclusive {
        guard let previous = end.decremented else { return c.reply.error("ERR invalid end ID for the interval") }
        end = previous
    }
    var count: Int64 = -1
    var j = 4
    while j < c.argc {
        if isWord(c, j, "count") && c.argc - j - 1 >= 1 {
            guard let n = integerArgument(c, j + 1) else { return }
            count = max(n, 0)
            j += 1
        } else {
            return c.replySyntaxError()
        }
        j += 1
    }
    guard let stream = lookupStream(c, 1, orReply: { $0.reply.array(0) }) else { return }
    if count == 0 { return c.reply.nullArray() }
    replyWithRange(c, stream, start, end, count: count == -1 ? 0 : Int(clamping: count), reverse: reverse)
}

/// XDEL key id [id ...]
private func xdel(_ c: Client) {
    guard let stream = lookupStream(c, 1, forWrite: true, orReply: { $0.reply.integer(0) }) else { return }
    var ids: [StreamID] = []
    for i in 2..<c.argc {
        guard let id = strictIDArgument(c, i) else { return }
        ids.append(id)
    }
    var deleted = 0
    for id in ids where stream.delete(id) { deleted += 1 }
    if deleted > 0 { c.db.didModify(c.arg(1), .xdel, changes: deleted) }
    c.reply.integer(deleted)
}

// MARK: - XSETID

/// XSETID key last-id [ENTRIESADDED entries-added] [MAXDELETEDID max-deleted-id]
private func xsetid(_ c: Client) {
    guard let id = strictIDArgument(c, 2) else { return }
    var entriesAdded: Int64 = -1
    var maxDeleted = StreamID.zero
    var i = 3
    while i < c.argc {
        let more = c.argc - 1 - i
        if isWord(c, i, "entriesadded") && more > 0 {
            guard let n = integerArgument(c, i + 1) else { return }
            if n < 0 { return c.reply.error("ERR entries_added must be positive") }
            entriesAdded = n
            i += 2
        } else if isWord(c, i, "maxdeletedid") && more > 0 {
            guard let m = strictIDArgument(c, i + 1) else { return }
            if id < m {
                return c.reply.error("ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id")
            }
            maxDeleted = m
            i += 2
        } else {
            return c.replySyntaxError()
        }
    }
    guard let stream = lookupStream(c, 1, forWrite: true, orReply: { $0.reply.error("ERR no such key") }) else { return }
    if stream.count > 0 {
        if id < stream.lastLiveID {
            return c.reply.error("ERR The ID specified in XSETID is smaller than the target stream top item")
        }
        if entriesAdded != -1 && Int64(stream.count) > entriesAdded {
            return c.reply.error("ERR The entries_added specified in XSETID is smaller than the target stream length")
        }
    }
    stream.lastID = id
    if entriesAdded != -1 { stream.entriesAdded = UInt64(entriesAdded) }
    if !maxDeleted.isZero { stream.maxDeletedID = maxDeleted }
    c.reply.ok()
    c.db.didChangeUnsignalled(c.arg(1), .xsetid)  // redis-server 7.0 does not signal XSETID either
}

// MARK: - XREAD, XREADGROUP

/// Entries a blocked XREAD/XREADGROUP without COUNT reads when it is served (XREAD_BLOCKED_DEFAULT_COUNT).
private let blockedDefaultCount = 1000

/// XREAD [COUNT n] [BLOCK ms] STREAMS key [key ...] id [id ...] and
/// XREADGROUP GROUP group consumer [COUNT n] [BLOCK ms] [NOACK] STREAMS key [key ...] id [id ...]
private func xreadGeneric(_ c: Client, group isGroupRead: Bool) {
    var timeout: Int64 = -1
    var count: Int64 = 0
    var streamsArg = 0
    var streamCount = 0
    var noack = false
    var groupArg = 0
    var i = 1
    while i < c.argc {
        let more = c.argc - i - 1
        if isWord(c, i, "block") && more > 0 {
            if c.isScriptCaller {
                return c.reply.error("ERR \(isGroupRead ? "xreadgroup" : "xread") command is not allowed with BLOCK option from scripts")
            }
            i += 1
            guard let ms = parseInt64(c.arg(i)) else {
                return c.reply.error("ERR timeout is not an integer or out of range")
            }
            if ms < 0 { return c.reply.error("ERR timeout is negative") }
            timeout = ms
        } else if isWord(c, i, "count") && more > 0 {
            i += 1
            guard let n = integerArgument(c, i) else { return }
            count = max(n, 0)
        } else if isWord(c, i, "streams") && more > 0 {
            streamsArg = i + 1
            streamCount = c.argc - streamsArg
            if streamCount % 2 != 0 {
                // Redis 7.0 names XREAD and '$' for both commands.
                return c.reply.error("ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.")
            }
            streamCount /= 2
            break
        } else if isWord(c, i, "group") && more >= 2 {
            if !isGroupRead {
                return c.reply.error("ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.")
            }
            groupArg = i + 1
            i += 2
        } else if isWord(c, i, "noack") {
            if !isGroupRead {
                return c.reply.error("ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.")
            }
            noack = true
        } else {
            return c.replySyntaxError()
        }
        i += 1
    }
    if streamsArg == 0 { return c.replySyntaxError() }
    if isGroupRead && groupArg == 0 { return c.reply.error("ERR Missing GROUP option for XREADGROUP") }

    // Ids and groups, checked before anything is served.
    var ids: [StreamID] = []
    var groups: [StreamGroup?] = []
    var rewrittenDollar: [(Int, StreamID)] = []
    let groupName = groupArg > 0 ? c.argBytes(groupArg) : ByteString("")
    for k in 0..<streamCount {
        let keyIndex = streamsArg + k
        let idIndex = streamsArg + streamCount + k
        var stream: StreamValue?
        switch c.db.lookup(c.arg(keyIndex), now: c.now) {
        case nil: stream = nil
        case .stream(let s)?: stream = s
        default:
            // A blocked XREADGROUP whose stream was replaced by another type: as deleted (Redis 7.0).
            if isGroupRead && c.reprocessingBlockedCommand { return c.reply.error("UNBLOCKED the stream key no longer exists") }
            return c.replyWrongType()
        }
        var group: StreamGroup?
        if isGroupRead {
            group = stream?.group(named: groupName)
            if group == nil {
                if c.reprocessingBlockedCommand {
                    // Served after a change while blocked: Redis 7.0's errors for a deleted stream and a
                    // destroyed group.
                    if stream == nil { return c.reply.error("UNBLOCKED the stream key no longer exists") }
                    return c.reply.error("NOGROUP the consumer group this client was blocked on no longer exists")
                }
                return errorWithArguments(c, "NOGROUP No such key '", [("", keyIndex), ("' or consumer group '", groupArg)],
                                          "' in XREADGROUP with GROUP option")
            }
        }
        groups.append(group)
        let arg = c.arg(idIndex)
        if arg.count == 1 && arg[0] == UInt8(ascii: "$") {
            if isGroupRead {
                return c.reply.error("ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.")
            }
            let id = stream?.lastID ?? .zero
            ids.append(id)
            rewrittenDollar.append((idIndex, id))
            continue
        }
        if arg.count == 1 && arg[0] == UInt8(ascii: ">") {
            if !isGroupRead {
                return c.reply.error("ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.")
            }
            ids.append(.max)
            continue
        }
        guard let id = strictIDArgument(c, idIndex) else { return }
        ids.append(id)
    }

    if c.reprocessingBlockedCommand && count == 0 { count = Int64(blockedDefaultCount) }
    // Serve what can be served now.
    let consumerName = groupArg > 0 ? c.argBytes(groupArg + 1) : ByteString("")
    var served: [Int] = []
    var gts: [StreamID] = ids
    var histories: [Bool] = Array(repeating: false, count: streamCount)
    for k in 0..<streamCount {
        guard case .stream(let s)? = c.db.lookup(c.arg(streamsArg + k), now: c.now, [.noTouch, .write]) else { continue }
        if let group = groups[k] {
            if ids[k] != .max {
                served.append(k)
                histories[k] = true
            } else if s.count > 0 && s.lastLiveID > group.lastID {
                served.append(k)
                gts[k] = group.lastID
            }
        } else if s.count > 0 && s.lastLiveID > ids[k] {
            served.append(k)
        }
    }
    if !served.isEmpty {
        if c.reply.resp3 { c.reply.map(served.count) } else { c.reply.array(served.count) }
        for k in served {
            guard case .stream(let s)? = c.db.lookup(c.arg(streamsArg + k), now: c.now, [.noTouch, .write]) else { continue }
            if !c.reply.resp3 { c.reply.array(2) }
            c.reply.bulk(c.arg(streamsArg + k))
            if let group = groups[k] {
                var consumer = group.consumer(named: consumerName)
                if consumer == nil {
                    // Redis 7.0 does not propagate this creation (the XCLAIMs create the consumer where they run).
                    consumer = createConsumer(c, group, name: consumerName, keyIndex: streamsArg + k)
                }
                consumer!.seenTime = c.now
                if histories[k] {
                    // After the id, as for new entries (Redis increments `gt` for both): history from 0 starts
                    // at 0-1, from an entry's id at the next one. (`>` is the one id with no successor.)
                    replyWithConsumerHistory(c, s, gts[k].incremented ?? .max, count: Int(clamping: count), consumer: consumer!)
                } else {
                    let start = gts[k].incremented ?? .max
                    replyWithRange(c, s, start, .max, count: Int(clamping: count), reverse: false,
                                   groupRead: GroupRead(group: group, consumer: consumer!, noack: noack,
                                                        key: c.argBytes(streamsArg + k), groupName: groupName))
                }
                c.db.didChangeUnsignalled(c.arg(streamsArg + k), .none)
            } else {
                let start = gts[k].incremented ?? .max
                replyWithRange(c, s, start, .max, count: Int(clamping: count), reverse: false)
            }
        }
        if isGroupRead { c.propagation.prevent = true }
        return
    }
    if timeout != -1 {
        guard c.canBlock else { return c.reply.nullArray() }
        let keys = (0..<streamCount).map { c.argBytes(streamsArg + $0) }
        var argv: [ByteString]? = nil
        if !rewrittenDollar.isEmpty && !c.reprocessingBlockedCommand {
            var rewritten = c.ownedArguments()
            for (index, id) in rewrittenDollar { rewritten[index] = id.text }
            argv = rewritten
        }
        let deadline = timeout == 0 ? 0 : c.now &+ timeout
        c.server.block(c, keys: keys, wants: .stream, deadline: deadline, argv: argv, wakesOnDeletion: isGroupRead)
        return
    }
    c.reply.nullArray()
}

// MARK: - XGROUP

private enum XGroupSubcommand { case create, setid, destroy, createConsumer, delConsumer }

private func xgroupGeneric(_ c: Client, _ sub: XGroupSubcommand) {
    var makeStream = false
    var entriesRead = StreamGroup.invalidEntriesRead
    if sub == .create || sub == .setid {
        // Redis 7.0 parses CREATE's and SETID's options before it looks the key up.
        var i = 5
        while i < c.argc {
            if sub == .create && isWord(c, i, "mkstream") {
                makeStream = true
                i += 1
            } else if isWord(c, i, "entriesread") && i + 1 < c.argc {
                guard let n = integerArgument(c, i + 1) else { return }
                if n < 0 && n != StreamGroup.invalidEntriesRead {
                    return c.reply.error("ERR value for ENTRIESREAD must be positive or -1")
                }
                entriesRead = n
                i += 2
            } else {
                return replySubcommandSyntaxError(c, "XGROUP")
            }
        }
    }
    var stream: StreamValue?
    switch c.db.lookup(c.arg(2), now: c.now, .write) {
    case nil: stream = nil
    case .stream(let s)?: stream = s
    default: return c.replyWrongType()
    }
    if !makeStream && stream == nil {
        return c.reply.error("ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.")
    }
    let groupName = c.argBytes(3)
    let group = stream?.group(named: groupName)
    if group == nil && (sub == .setid || sub == .createConsumer || sub == .delConsumer) {
        return errorWithArguments(c, "NOGROUP No such consumer group '", [("", 3), ("' for key name '", 2)], "'")
    }
    switch sub {
    case .create:
        if c.argc > 8 { return replySubcommandSyntaxError(c, "XGROUP") }
        var id: StreamID
        let arg = c.arg(4)
        if arg.count == 1 && arg[0] == UInt8(ascii: "$") {
            id = stream?.lastID ?? .zero
        } else {
            guard let parsed = strictIDArgument(c, 4) else { return }
            id = parsed
        }
        var target: StreamValue
        if let stream {
            target = stream
        } else {
            // MKSTREAM: the new key is signalled (Redis's signalModifiedKey), the group itself is not.
            target = StreamValue()
            c.db.add(c.argBytes(2), .stream(target), event: .none, changes: 0)
        }
        if target.createGroup(groupName, lastID: id, entriesRead: entriesRead) != nil {
            c.reply.ok()
            c.db.didChangeUnsignalled(c.arg(2), .xgroupCreate)
        } else {
            c.reply.error("BUSYGROUP Consumer Group name already exists")
        }
    case .setid:
        guard c.argc == 5 || c.argc == 7 else { return replySubcommandSyntaxError(c, "XGROUP") }
        var id: StreamID
        let arg = c.arg(4)
        if arg.count == 1 && arg[0] == UInt8(ascii: "$") {
            id = stream!.lastID
        } else {
            guard let (parsed, _) = parseID(arg, missingSeq: 0, strict: false) else { return c.reply.error(invalidIDError) }
            id = parsed
        }
        group!.lastID = id
        group!.entriesRead = entriesRead
        c.reply.ok()
        c.db.didChangeUnsignalled(c.arg(2), .xgroupSetid)
    case .destroy:
        if group != nil {
            stream!.destroyGroup(groupName)
            c.reply.integer(1)
            c.db.didChangeUnsignalled(c.arg(2), .xgroupDestroy)
            // XREADGROUP clients blocked on the group wake (and get NOGROUP), as Redis's signalKeyAsReady.
            if c.server.blockedClientCount > 0 { c.server.signalKeyAsReady(c.arg(2), db: c.db.index) }
        } else {
            c.reply.integer(0)
        }
    case .createConsumer:
        if group!.consumer(named: c.argBytes(4)) != nil { return c.reply.integer(0) }
        _ = createConsumer(c, group!, name: c.argBytes(4), keyIndex: 2)
        c.reply.integer(1)
    case .delConsumer:
        let pending = group!.deleteConsumer(c.argBytes(4)) ?? 0
        c.reply.integer(pending)
        c.db.didChangeUnsignalled(c.arg(2), .xgroupDelConsumer)
    }
}

private func xgroupHelp(_ c: Client) {
    replyHelp(c, "XGROUP", [
        "CREATE <key> <groupname> <id|$> [option]",
        "    Create a new consumer group. Options are:",
        "    * MKSTREAM",
        "      Create the empty stream if it does not exist.",
        "    * ENTRIESREAD entries_read",
        "      Set the group's entries_read counter (internal use).",
        "CREATECONSUMER <key> <groupname> <consumer>",
        "    Create a new consumer in the specified group.",
        "DELCONSUMER <key> <groupname> <consumer>",
        "    Remove the specified consumer.",
        "DESTROY <key> <groupname>",
        "    Remove the specified group.",
        "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
        "    Set the current group ID and entries_read counter.",
    ])
}

// MARK: - XACK, XPENDING

/// XACK key group id [id ...]
private func xack(_ c: Client) {
    var group: StreamGroup?
    switch optionalStream(c, 1) {
    case .failure: return
    case .success(let s): group = s?.group(named: c.argBytes(2))
    }
    guard let group else { return c.reply.integer(0) }
    var ids: [StreamID] = []
    for i in 3..<c.argc {
        guard let id = strictIDArgument(c, i) else { return }
        ids.append(id)
    }
    var acknowledged = 0
    for id in ids {
        guard let entry = group.pending.remove(id) else { continue }
        entry.consumer.pending.remove(id)
        acknowledged += 1
    }
    if acknowledged > 0 { c.db.didChangeUnsignalled(c.arg(1), .none, changes: acknowledged) }
    c.reply.integer(acknowledged)
}

/// XPENDING key group [[IDLE min-idle-time] start end count [consumer]]
private func xpending(_ c: Client) {
    let summary = c.argc == 3
    if c.argc != 3 && (c.argc < 6 || c.argc > 9) { return c.replySyntaxError() }
    var start = StreamID.zero, end = StreamID.max
    var count: Int64 = 0
    var minIdle: Int64 = 0
    var consumerArg = 0
    if c.argc >= 6 {
        var startIndex = 3
        if isWord(c, 3, "idle") {
            guard let idle = integerArgument(c, 4) else { return }
            minIdle = idle
            if c.argc < 8 { return c.replySyntaxError() }
            startIndex += 2
        }
        guard let n = integerArgument(c, startIndex + 2) else { return }
        count = max(n, 0)
        guard let (s, sx) = intervalIDArgument(c, startIndex, missingSeq: 0) else { return }
        start = s
        if sx {
            guard let next = start.incremented else { return c.reply.error("ERR invalid start ID for the interval") }
            start = next
        }
        guard let (e, ex) = intervalIDArgument(c, startIndex + 1, missingSeq: .max) else { return }
        end = e
        if ex {
            guard let previous = end.decremented else { return c.reply.error("ERR invalid end ID for the interval") }
            end = previous
        }
        if startIndex + 3 < c.argc { consumerArg = startIndex + 3 }
    }
    var stream: StreamValue?
    switch optionalStream(c, 1) {
    case .failure: return
    case .success(let s): stream = s
    }
    guard let group = stream?.group(named: c.argBytes(2)) else { return replyNoGroup(c, key: 1, group: 2) }
    if summary {
        c.reply.array(4)
        c.reply.integer(group.pending.count)
        if group.pending.isEmpty {
            c.reply.null()
            c.reply.null()
            c.reply.nullArray()
            return
        }
        replyID(c, group.pending.firstID!)
        replyID(c, group.pending.lastID!)
        let owners = group.consumers.filter { !$0.pending.isEmpty }
        c.reply.array(owners.count)
        for consumer in owners {
            c.reply.array(2)
            c.reply.bulk(consumer.name)
            c.reply.bulk(Int64(consumer.pending.count))
        }
        return
    }
    var pel = group.pending
    if consumerArg > 0 {
        guard let consumer = group.consumer(named: c.argBytes(consumerArg)) else { return c.reply.array(0) }
        pel = consumer.pending
    }
    let now = c.now
    var rows: [(StreamID, PendingEntry)] = []
    var i = pel.lowerBound(start)
    while count > 0 && i < pel.count && pel.id(at: i) <= end {
        let entry = pel.value(at: i)
        let id = pel.id(at: i)
        i += 1
        if minIdle != 0 && now &- entry.deliveryTime < minIdle { continue }
        rows.append((id, entry))
        count -= 1
    }
    c.reply.array(rows.count)
    for (id, entry) in rows {
        c.reply.array(4)
        replyID(c, id)
        c.reply.bulk(entry.consumer.name)
        c.reply.integer(max(now &- entry.deliveryTime, 0))
        c.reply.integer(Int64(bitPattern: entry.deliveryCount))
    }
}

// MARK: - XCLAIM, XAUTOCLAIM

/// XCLAIM key group consumer min-idle-time id [id ...] [IDLE ms] [TIME unix-time-milliseconds]
/// [RETRYCOUNT count] [FORCE] [JUSTID] [LASTID lastid]
private func xclaim(_ c: Client) {
    var stream: StreamValue?
    switch optionalStream(c, 1) {
    case .failure: return
    case .success(let s): stream = s
    }
    guard let s = stream, let group = s.group(named: c.argBytes(2)) else { return replyNoGroup(c, key: 1, group: 2) }
    guard var minIdle = integerArgument(c, 4, "Invalid min-idle-time argument for XCLAIM") else { return }
    if minIdle < 0 { minIdle = 0 }
    var j = 5
    var ids: [StreamID] = []
    while j < c.argc, let (id, _) = parseID(c.arg(j), missingSeq: 0, strict: true) {
        ids.append(id)
        j += 1
    }
    let now = c.now
    var force = false, justID = false
    var retryCount: Int64 = -1
    var deliveryTime: Int64 = -1
    var lastID = StreamID.zero
    while j < c.argc {
        let more = c.argc - 1 - j
        if isWord(c, j, "force") {
            force = true
        } else if isWord(c, j, "justid") {
            justID = true
        } else if isWord(c, j, "idle") && more > 0 {
            j += 1
            guard let idle = integerArgument(c, j, "Invalid IDLE option argument for XCLAIM") else { return }
            deliveryTime = now &- idle
        } else if isWord(c, j, "time") && more > 0 {
            j += 1
            guard let time = integerArgument(c, j, "Invalid TIME option argument for XCLAIM") else { return }
            deliveryTime = time
        } else if isWord(c, j, "retrycount") && more > 0 {
            j += 1
            guard let n = integerArgument(c, j, "Invalid RETRYCOUNT option argument for XCLAIM") else { return }
            retryCount = n
        } else if isWord(c, j, "lastid") && more > 0 {
            j += 1
            guard let id = strictIDArgument(c, j) else { return }
            lastID = id
        } else {
            return errorWithArguments(c, "ERR Unrecognized XCLAIM option '", [("", j)], "'")
        }
        j += 1
    }
    var propagateLastID = false
    if lastID > group.lastID {
        group.lastID = lastID
        propagateLastID = true
    }
    if deliveryTime != -1 {
        if deliveryTime < 0 || deliveryTime > now { deliveryTime = now }
    } else {
        deliveryTime = now
    }
    let key = c.argBytes(1), groupName = c.argBytes(2), name = c.argBytes(3)
    var consumer: StreamConsumer?
    var replies: [(StreamID, Bool)] = []  // (id, exists)
    var changes = 0
    for id in ids {
        var entry = group.pending[id]
        guard s.find(id) != nil else {
            if let stale = entry {
                propagateClaim(c, key: key, group: group, groupName: groupName, id: id, entry: stale)
                propagateLastID = false
                changes += 1
                group.pending.remove(id)
                stale.consumer.pending.remove(id)
            }
            continue
        }
        var created = false
        if force && entry == nil {
            created = true
        }
        guard entry != nil || created else { continue }
        if !created, let e = entry, minIdle != 0, now &- e.deliveryTime < minIdle { continue }
        if consumer == nil {
            if let existing = group.consumer(named: name) {
                existing.seenTime = now
                consumer = existing
            } else {
                consumer = createConsumer(c, group, name: name, keyIndex: 1)
            }
        }
        if created {
            entry = PendingEntry(deliveryTime: now, deliveryCount: 1, consumer: consumer!)
            group.pending.set(id, entry!)
        } else if entry!.consumer !== consumer! {
            entry!.consumer.pending.remove(id)
        }
        let e = entry!
        e.deliveryTime = deliveryTime
        if retryCount >= 0 {
            e.deliveryCount = UInt64(bitPattern: retryCount)
        } else if !justID {
            e.deliveryCount &+= 1
        }
        if created || e.consumer !== consumer! {
            consumer!.pending.set(id, e)
            e.consumer = consumer!
        }
        replies.append((id, true))
        consumer!.activeTime = now  // 7.2: a claim that claimed
        propagateClaim(c, key: key, group: group, groupName: groupName, id: id, entry: e)
        propagateLastID = false
        changes += 1
    }
    if propagateLastID {
        propagateGroupID(c, key: key, group: group, groupName: groupName)
        changes += 1
    }
    c.reply.array(replies.count)
    for (id, _) in replies {
        if justID {
            replyID(c, id)
        } else if let (node, cursor) = s.find(id) {
            replyEntry(c, node, cursor)
        }
    }
    if changes > 0 { c.db.didChangeUnsignalled(c.arg(1), .none, changes: changes) }
    c.propagation.prevent = true
}

/// XAUTOCLAIM key group consumer min-idle-time start [COUNT count] [JUSTID]
private func xautoclaim(_ c: Client) {
    // As Redis's xautoclaimCommand: the key is looked up first (a key past its time is deleted even when an
    // argument is then refused), the arguments parsed next, the type checked last.
    let value = c.db.lookup(c.arg(1), now: c.now)
    guard var minIdle = integerArgument(c, 4, "Invalid min-idle-time argument for XAUTOCLAIM") else { return }
    if minIdle < 0 { minIdle = 0 }
    guard let (startArg, exclusive) = intervalIDArgument(c, 5, missingSeq: 0) else { return }
    var start = startArg
    if exclusive {
        guard let next = start.incremented else { return c.reply.error("ERR invalid start ID for the interval") }
        start = next
    }
    var count: Int64 = 100
    var justID = false
    var j = 6
    while j < c.argc {
        let more = c.argc - 1 - j
        if isWord(c, j, "count") && more > 0 {
            let maxCount = Int64.max / 16
            guard let n = parseInt64(c.arg(j + 1)), n >= 1, n <= maxCount else {
                return c.reply.error("ERR COUNT must be > 0")
            }
            count = n
            j += 1
        } else if isWord(c, j, "justid") {
            justID = true
        } else {
            return c.replySyntaxError()
        }
        j += 1
    }
    let stream: StreamValue?
    switch value {
    case nil: stream = nil
    case .stream(let s)?: stream = s
    default: return c.replyWrongType()
    }
    guard let s = stream, let group = s.group(named: c.argBytes(2)) else { return replyNoGroup(c, key: 1, group: 2) }
    let key = c.argBytes(1), groupName = c.argBytes(2), name = c.argBytes(3)
    var attempts = count * 10
    let now = c.now
    var consumer: StreamConsumer?
    var claimed: [StreamID] = []
    var deleted: [StreamID] = []
    var changes = 0
    var i = group.pending.lowerBound(start)
    while attempts > 0 && count > 0 && i < group.pending.count {
        attempts -= 1
        let id = group.pending.id(at: i)
        let entry = group.pending.value(at: i)
        if s.find(id) == nil {
            propagateClaim(c, key: key, group: group, groupName: groupName, id: id, entry: entry)
            changes += 1
            group.pending.remove(id)
            entry.consumer.pending.remove(id)
            deleted.append(id)
            count -= 1
            continue
        }
        i += 1
        if minIdle != 0 && now &- entry.deliveryTime < minIdle { continue }
        if consumer == nil {
            if let existing = group.consumer(named: name) {
                existing.seenTime = now
                consumer = existing
            } else {
                consumer = createConsumer(c, group, name: name, keyIndex: 1)
            }
        }
        if entry.consumer !== consumer! {
            entry.consumer.pending.remove(id)
        }
        entry.deliveryTime = now
        if !justID { entry.deliveryCount &+= 1 }
        if entry.consumer !== consumer! {
            consumer!.pending.set(id, entry)
            entry.consumer = consumer!
        }
        claimed.append(id)
        consumer!.activeTime = now  // 7.2: a claim that claimed
        count -= 1
        propagateClaim(c, key: key, group: group, groupName: groupName, id: id, entry: entry)
        changes += 1
    }
    let next = i < group.pending.count ? group.pending.id(at: i) : .zero
    c.reply.array(3)
    replyID(c, next)
    c.reply.array(claimed.count)
    for id in claimed {
        if justID {
            replyID(c, id)
        } else if let (node, cursor) = s.find(id) {
            replyEntry(c, node, cursor)
        }
    }
    c.reply.array(deleted.count)
    for id in deleted { replyID(c, id) }
    if changes > 0 { c.db.didChangeUnsignalled(c.arg(1), .none, changes: changes) }
    c.propagation.prevent = true
}

// MARK: - XINFO

private func xinfoHelp(_ c: Client) {
    replyHelp(c, "XINFO", [
        "CONSUMERS <key> <groupname>",
        "    Show consumers of <groupname>.",
        "GROUPS <key>",
        "    Show the stream consumer groups.",
        "STREAM <key> [FULL [COUNT <count>]",
        "    Show information about the stream.",
    ])
}

/// XINFO CONSUMERS key group
private func xinfoConsumers(_ c: Client) {
    guard let s = lookupStream(c, 2, orReply: { $0.reply.error("ERR no such key") }) else { return }
    guard let group = s.group(named: c.argBytes(3)) else {
        return errorWithArguments(c, "NOGROUP No such consumer group '", [("", 3), ("' for key name '", 2)], "'")
    }
    let now = wallClockMillis()
    c.reply.array(group.consumers.count)
    for consumer in group.consumers {
        // As 7.2 (INFO's version; redis-py reads `inactive` from a 7.2 server): idle since the last attempted
        // interaction, inactive since the last successful one (-1: never).
        c.reply.map(4)
        c.reply.bulk("name")
        c.reply.bulk(consumer.name)
        c.reply.bulk("pending")
        c.reply.integer(consumer.pending.count)
        c.reply.bulk("idle")
        c.reply.integer(max(now &- consumer.seenTime, 0))
        c.reply.bulk("inactive")
        c.reply.integer(consumer.activeTime == -1 ? -1 : max(now &- consumer.activeTime, 0))
    }
}

private func replyLag(_ c: Client, _ s: StreamValue, _ group: StreamGroup) {
    if let lag = s.lag(of: group) { c.reply.integer(lag) } else { c.reply.null() }
}

private func replyEntriesRead(_ c: Client, _ group: StreamGroup) {
    if group.entriesRead != StreamGroup.invalidEntriesRead { c.reply.integer(group.entriesRead) } else { c.reply.null() }
}

/// XINFO GROUPS key
private func xinfoGroups(_ c: Client) {
    guard let s = lookupStream(c, 2, orReply: { $0.reply.error("ERR no such key") }) else { return }
    c.reply.array(s.groups.count)
    for group in s.groups {
        c.reply.map(6)
        c.reply.bulk("name")
        c.reply.bulk(group.name)
        c.reply.bulk("consumers")
        c.reply.integer(group.consumers.count)
        c.reply.bulk("pending")
        c.reply.integer(group.pending.count)
        c.reply.bulk("last-delivered-id")
        replyID(c, group.lastID)
        c.reply.bulk("entries-read")
        replyEntriesRead(c, group)
        c.reply.bulk("lag")
        replyLag(c, s, group)
    }
}

/// The nodes of Redis's radix tree over the nodes' 16-byte keys (XINFO's radix-tree-nodes), as rax builds
/// it: a node per run of bytes all keys below it share (compressed), per branching point, and per key's end.
private func radixTreeNodes(_ s: StreamValue) -> Int {
    let keys = s.nodes.map { $0.masterID.bigEndianBytes }
    if keys.isEmpty { return 1 }
    func count(_ range: Range<Int>, depth: Int) -> Int {
        if depth == 16 { return 1 }
        var end = depth
        while end < 16 && keys[range].allSatisfy({ $0[end] == keys[range.lowerBound][end] }) { end += 1 }
        if end > depth { return 1 + count(range, depth: end) }
        var total = 1
        var i = range.lowerBound
        while i < range.upperBound {
            var j = i + 1
            while j < range.upperBound && keys[j][depth] == keys[i][depth] { j += 1 }
            total += count(i..<j, depth: depth + 1)
            i = j
        }
        return total
    }
    return count(0..<keys.count, depth: 0)
}

/// XINFO STREAM key [FULL [COUNT count]]
private func xinfoStream(_ c: Client) {
    guard let s = lookupStream(c, 2, orReply: { $0.reply.error("ERR no such key") }) else { return }
    var full = false
    var count: Int64 = 10
    let extra = c.argc - 3
    if extra > 0 {
        guard isWord(c, 3, "full") else { return replySubcommandSyntaxError(c, "XINFO") }
        full = true
        if extra == 3 {
            guard isWord(c, 4, "count") else { return replySubcommandSyntaxError(c, "XINFO") }
            guard let n = integerArgument(c, 5) else { return }
            count = n < 0 ? 10 : n
        } else if extra != 1 {
            return replySubcommandSyntaxError(c, "XINFO")
        }
    }
    c.reply.map(full ? 9 : 10)
    c.reply.bulk("length")
    c.reply.integer(s.count)
    c.reply.bulk("radix-tree-keys")
    c.reply.integer(s.nodes.count)
    c.reply.bulk("radix-tree-nodes")
    c.reply.integer(radixTreeNodes(s))
    c.reply.bulk("last-generated-id")
    replyID(c, s.lastID)
    c.reply.bulk("max-deleted-entry-id")
    replyID(c, s.maxDeletedID)
    c.reply.bulk("entries-added")
    c.reply.integer(Int64(bitPattern: s.entriesAdded))
    c.reply.bulk("recorded-first-entry-id")
    replyID(c, s.firstID)
    if !full {
        c.reply.bulk("groups")
        c.reply.integer(s.groups.count)
        c.reply.bulk("first-entry")
        if let (node, cursor) = s.edgeEntry(last: false) { replyEntry(c, node, cursor) } else { c.reply.null() }
        c.reply.bulk("last-entry")
        if let (node, cursor) = s.edgeEntry(last: true) { replyEntry(c, node, cursor) } else { c.reply.null() }
        return
    }
    let limit = Int(clamping: count)
    c.reply.bulk("entries")
    replyWithRange(c, s, .zero, .max, count: limit, reverse: false)
    c.reply.bulk("groups")
    c.reply.array(s.groups.count)
    for group in s.groups {
        c.reply.map(7)
        c.reply.bulk("name")
        c.reply.bulk(group.name)
        c.reply.bulk("last-delivered-id")
        replyID(c, group.lastID)
        c.reply.bulk("entries-read")
        replyEntriesRead(c, group)
        c.reply.bulk("lag")
        replyLag(c, s, group)
        c.reply.bulk("pel-count")
        c.reply.integer(group.pending.count)
        c.reply.bulk("pending")
        let shown = limit == 0 ? group.pending.count : min(limit, group.pending.count)
        c.reply.array(shown)
        for k in 0..<shown {
            let entry = group.pending.value(at: k)
            c.reply.array(4)
            replyID(c, group.pending.id(at: k))
            c.reply.bulk(entry.consumer.name)
            c.reply.integer(entry.deliveryTime)
            c.reply.integer(Int64(bitPattern: entry.deliveryCount))
        }
        c.reply.bulk("consumers")
        c.reply.array(group.consumers.count)
        for consumer in group.consumers {
            c.reply.map(5)
            c.reply.bulk("name")
            c.reply.bulk(consumer.name)
            c.reply.bulk("seen-time")
            c.reply.integer(consumer.seenTime)
            c.reply.bulk("active-time")  // 7.2's, as XINFO CONSUMERS' inactive
            c.reply.integer(consumer.activeTime)
            c.reply.bulk("pel-count")
            c.reply.integer(consumer.pending.count)
            c.reply.bulk("pending")
            let shownC = limit == 0 ? consumer.pending.count : min(limit, consumer.pending.count)
            c.reply.array(shownC)
            for k in 0..<shownC {
                let entry = consumer.pending.value(at: k)
                c.reply.array(3)
                replyID(c, consumer.pending.id(at: k))
                c.reply.integer(entry.deliveryTime)
                c.reply.integer(Int64(bitPattern: entry.deliveryCount))
            }
        }
    }
}
