import CSystem
import Glibc

/// Server commands: CONFIG, DBSIZE, FLUSHDB, FLUSHALL, TIME, SHUTDOWN, DEBUG (INFO is in Info.swift; SAVE,
/// BGSAVE, LASTSAVE, DUMP and RESTORE in Persistence.swift). Replies as redis-server 7.0 (INFO reports
/// `redis_version:7.2.4`, the level we are compatible with).

let serverCommands: [Command] = [
    Command("info", arity: -1, flags: [.loading, .stale, .sentinel], group: "server",
            summary: "Get information and statistics about the server",
            complexity: "O(1)", handler: info),
    Command("config", arity: -2, group: "server", since: "2.0.0",
            summary: "A container for server configuration commands", complexity: "Depends on subcommand.",
            subcommands: [
        Command("get", arity: -3, flags: [.admin, .noscript, .loading, .stale], group: "server", since: "2.0.0",
                summary: "Get the values of configuration parameters",
                complexity: "O(N) when N is the number of configuration parameters provided", handler: configGet),
        Command("set", arity: -4, flags: [.admin, .noscript, .loading, .stale], group: "server", since: "2.0.0",
                summary: "Set configuration parameters to the given values",
                complexity: "O(N) when N is the number of configuration parameters provided", handler: configSet),
        Command("resetstat", arity: 2, flags: [.admin, .noscript, .loading, .stale], group: "server", since: "2.0.0",
                summary: "Reset the stats returned by INFO", complexity: "O(1)", handler: configResetStat),
        Command("rewrite", arity: 2, flags: [.admin, .noscript, .loading, .stale], group: "server", since: "2.8.0",
                summary: "Rewrite the configuration file with the in memory configuration", complexity: "O(1)", handler: configRewrite),
        Command("help", arity: 2, flags: [.loading, .stale], group: "server", since: "5.0.0",
                summary: "Show helpful text about the different subcommands", complexity: "O(1)",
                handler: configHelp),
    ]),
    Command("dbsize", arity: 1, flags: [.readonly, .fast], group: "server",
            summary: "Return the number of keys in the selected database", complexity: "O(1)", handler: dbsize),
    Command("flushdb", arity: -1, flags: [.write], group: "server",
            summary: "Remove all keys from the current database",
            complexity: "O(N) where N is the number of keys in the selected database", handler: flushdb),
    Command("flushall", arity: -1, flags: [.write], group: "server",
            summary: "Remove all keys from all databases",
            complexity: "O(N) where N is the total number of keys in all databases", handler: flushall),
    Command("time", arity: 1, flags: [.loading, .stale, .fast], group: "server", since: "2.6.0",
            summary: "Return the current server time", complexity: "O(1)", handler: time),
    Command("bgrewriteaof", arity: 1, flags: [.admin, .noscript, .noAsyncLoading], group: "server", since: "1.0.0",
            summary: "Asynchronously rewrite the append-only file", complexity: "O(1)", handler: bgrewriteaof),
    Command("shutdown", arity: -1, flags: [.admin, .noscript, .loading, .stale, .noMulti, .sentinel, .allowBusy],
            group: "server", summary: "Synchronously save the dataset to disk and then shut down the server",
            complexity: "O(N) when saving, where N is the total number of keys in all databases when saving data, otherwise O(1)",
            handler: shutdown),
    Command("debug", arity: -2, flags: [.admin, .noscript, .loading, .stale, .protected], group: "server",
            summary: "A container for debugging commands", complexity: "Depends on subcommand.", handler: debug),
    Command("monitor", arity: 1, flags: [.admin, .noscript, .loading, .stale], group: "server", since: "1.0.0",
            summary: "Listen for all requests received by the server in real time", complexity: "") {
        $0.server.startMonitoring($0)
    },
]

// MARK: - Keyspace-wide commands

private func dbsize(_ c: Client) { c.reply.integer(c.db.count) }

/// FLUSHDB / FLUSHALL [ASYNC|SYNC]. Both modes detach the tables at once and hand them to the lazyfree worker
/// (Database.removeAll), so SYNC does not wait for the memory to be freed; the reply and the result are the
/// same.
private func flushMode(_ c: Client) -> Bool {
    if c.argc == 1 { return true }
    if c.argc == 2 && (c.argIs(1, "sync") || c.argIs(1, "async")) { return true }
    c.replySyntaxError()
    return false
}

private func flushdb(_ c: Client) {
    guard flushMode(c) else { return }
    c.db.removeAll()
    c.forcePropagation()  // even an empty database's FLUSHDB reaches replicas, as in Redis
    c.reply.ok()
}

/// FLUSHALL also stops a running BGSAVE and, when save points are configured, saves the empty dataset
/// at once, as redis-server 7.0's flushAllDataAndResetRDB.
private func flushall(_ c: Client) {
    guard flushMode(c) else { return }
    for db in c.server.databases { db.removeAll() }
    let rdb = c.server.rdb
    rdb.abortBackgroundSave()
    if c.server.config.save.isEmpty {
        c.server.dirty += 1  // as Redis, so even an empty FLUSHALL counts as a change
    } else {
        try? rdb.save()  // leaves rdb_changes_since_last_save at 0, as redis-server 7.0.15 reports
    }
    c.forcePropagation()
    c.reply.ok()
}

private func time(_ c: Client) {
    let now = wallClockMicros()
    c.reply.array(2)
    c.reply.bulk(now / 1_000_000)
    c.reply.bulk(now % 1_000_000)
}

/// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT] (Server/Shutdown.swift). On success Redis exits without
/// replying; here the loop finishes its iteration and closes every connection. While lagging replicas are
/// waited for, the client stays blocked.
private func shutdown(_ c: Client) {
    var flags: ShutdownFlags = []
    var abort = false
    for i in 1..<c.argc {
        if c.argIs(i, "nosave") {
            flags.insert(.noSave)
        } else if c.argIs(i, "save") {
            flags.insert(.save)
        } else if c.argIs(i, "now") {
            flags.insert(.now)
        } else if c.argIs(i, "force") {
            flags.insert(.force)
        } else if c.argIs(i, "abort") {
            abort = true
        } else {
            return c.replySyntaxError()
        }
    }
    if (abort && !flags.isEmpty) || flags.isSuperset(of: [.save, .noSave]) { return c.replySyntaxError() }
    if abort { return c.server.abortShutdown() ? c.reply.ok() : c.reply.error("ERR No shutdown in progress.") }
    // A busy script allows SHUTDOWN NOSAVE only; the script then dies at its next interrupt.
    if c.server.scriptBusy {
        guard flags.contains(.noSave) else {
            return c.reply.error(c.server.scripting.busyError)
        }
        c.server.scripting.killForShutdown()
    }
    switch c.server.prepareShutdown(flags) {
    case .exit: c.closeAfterReply = true  // run nothing after SHUTDOWN, as Redis exits at once
    case .waiting: c.server.blockForShutdown(c)
    case .failed: c.reply.error("ERR Errors trying to SHUTDOWN. Check logs.")
    }
}

// MARK: - CONFIG

/// CONFIG GET parameter [parameter ...]: the Config layer matches names, aliases and glob patterns.
private func configGet(_ c: Client) {
    let found = c.server.config.get((2..<c.argc).map { c.argString($0) })
    c.reply.map(found.count)
    for (name, value) in found {
        c.reply.bulk(name)
        c.reply.bulk(value)
    }
}

/// CONFIG SET parameter value [parameter value ...]: all or nothing, validated by the Config layer.
private func configSet(_ c: Client) {
    let arguments = (2..<c.argc).map { c.argString($0) }
    if let error = c.server.config.set(arguments: arguments, clientIsLocal: isLocalClient(c)) {
        c.reply.error(error)
    } else {
        c.server.updateKeyspaceNotifications()
        c.server.updateKeyspaceListener()
        c.reply.ok()
    }
}

/// Redis's islocalClient: a Unix socket or a loopback peer (enable-protected-configs/-debug-command local).
func isLocalClient(_ c: Client) -> Bool {
    if c.isUnixSocket { return true }
    var host = Substring(c.address)
    if let colon = host.lastIndex(of: ":") { host = host[..<colon] }
    if host.hasPrefix("[") && host.hasSuffix("]") { host = host.dropFirst().dropLast() }
    return host == "127.0.0.1" || host == "::1"
}

private func configResetStat(_ c: Client) {
    c.server.stats.reset()
    func reset(_ command: Command) {
        command.calls = 0
        command.microseconds = 0
        command.rejectedCalls = 0
        command.failedCalls = 0
        command.latencyHistogram = nil
        for sub in command.sortedSubcommands { reset(sub) }
    }
    for command in c.server.commands.all { reset(command) }
    c.reply.ok()
}

/// CONFIG REWRITE: the Config layer rewrites the file as redis-server 7.0 does (Config+Rewrite.swift).
private func configRewrite(_ c: Client) {
    guard let path = c.server.config.configFile else {
        return c.reply.error("ERR The server is running without a config file")
    }
    if let error = c.server.rewriteConfigFile(path, forceAll: false) {
        let text = String(cString: strerror(error))
        c.server.log.warning("CONFIG REWRITE failed: \(text)")
        c.reply.error("ERR Rewriting config file: \(text)")
    } else {
        c.server.log.notice("CONFIG REWRITE executed with success.")
        c.reply.ok()
    }
}

extension Server {
    /// Rewrites the config file with what Redis takes from the running server: the current master, and the
    /// ACL users as ACL LIST describes them (without the leading "user ").
    func rewriteConfigFile(_ path: String, forceAll: Bool) -> Int32? {
        var context = Config.RewriteContext()
        if let replication, let host = replication.masterHost { context.replicaof = (host, replication.masterPort) }
        context.users = acl.sortedUsers.map { "\($0.nameString) \($0.describe(registry: acl.registry))" }
        return config.rewriteFile(at: path, forceAll: forceAll, context: context)
    }
}

/// DEBUG CONFIG-REWRITE-FORCE-ALL: every parameter written, defaults included. Without a config file Redis
/// passes a NULL path to fopen, hence its EFAULT text.
private func debugConfigRewriteForceAll(_ c: Client) {
    let error = c.server.config.configFile.map { c.server.rewriteConfigFile($0, forceAll: true) } ?? EFAULT
    if let error {
        c.reply.error("ERR CONFIG-REWRITE-FORCE-ALL failed: \(String(cString: strerror(error)))")
    } else {
        c.reply.ok()
    }
}

private func configHelp(_ c: Client) {
    replyHelp(c, "CONFIG", [
        "GET <pattern>",
        "    Return parameters matching the glob-like <pattern> and their values.",
        "SET <directive> <value>",
        "    Set the configuration <directive> to <value>.",
        "RESETSTAT",
        "    Reset statistics reported by the INFO command.",
        "REWRITE",
        "    Rewrite the configuration file.",
    ])
}

// MARK: - DEBUG

/// DEBUG <subcommand> ... Redis parses DEBUG's subcommands itself (it is not a container), hence its own
/// error for a wrong subcommand or argument count.
///
/// As redis-server 7.0, DEBUG is refused unless `enable-debug-command` is yes (or local, from a local client):
/// processCommand checks that for protected commands (Server/Call.swift).
private func debug(_ c: Client) {
    let argc = c.argc
    if c.argIs(1, "help") && argc == 2 {
        debugHelp(c)
    } else if c.argIs(1, "sleep") && argc == 3 {
        // strtod semantics, as Redis: "abc" sleeps 0 seconds, "0.5" half a second.
        let seconds = strtod(c.argString(2), nil)
        if seconds > 0 {
            var request = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - Double(Int(seconds))) * 1e9))
            var remaining = timespec()
            while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
        }
        c.reply.ok()
    } else if c.argIs(1, "set-active-expire") && argc == 3 {
        c.server.activeExpireEnabled = atoi(c.argString(2)) != 0
        c.reply.ok()
    } else if c.argIs(1, "populate") && argc >= 3 && argc <= 5 {
        debugPopulate(c)
    } else if c.argIs(1, "log") && argc == 3 {
        c.server.log.warning("DEBUG LOG: " + c.argString(2))
        c.reply.ok()
    } else if c.argIs(1, "error") && argc == 3 {
        c.reply.error(bytes: Array(c.arg(2)))
    } else if c.argIs(1, "digest") && argc == 2 {
        c.reply.simple(SHA1.hex(datasetDigest(c.server)))
    } else if c.argIs(1, "digest-value") {
        debugDigestValue(c)
    } else if c.argIs(1, "protocol") && argc == 3 {
        debugProtocol(c)
    } else if c.argIs(1, "quicklist") && (argc == 3 || argc == 4) {
        debugQuicklist(c)
    } else if c.argIs(1, "quicklist-packed-threshold") && argc == 3 {
        debugQuicklistPackedThreshold(c)
    } else if c.argIs(1, "reload") {
        debugReload(c)
    } else if c.argIs(1, "object") && argc == 3 {
        debugObject(c)
    } else if c.argIs(1, "config-rewrite-force-all") && argc == 2 {
        debugConfigRewriteForceAll(c)
    } else if c.argIs(1, "set-skip-checksum-validation") && argc == 3 {
        c.server.rdb.skipChecksumValidation = atoi(c.argString(2)) != 0
        c.reply.ok()
    } else if c.argIs(1, "change-repl-id") && argc == 2 {
        c.server.log.warning("Changing replication IDs after receiving DEBUG change-repl-id")
        c.server.replication.changeReplicationID()
        c.server.replication.clearReplicationID2()
        c.reply.ok()
    } else if c.argIs(1, "listpack") && argc == 3 {
        debugListpack(c)
    } else if c.argIs(1, "pause-cron") && argc == 3 {
        c.server.cronPaused = atoi(c.argString(2)) != 0
        c.reply.ok()
    } else if c.argIs(1, "replybuffer") && argc == 4 {
        // Our reply buffers are not resized by a cron (Redis 7.0's reply-buffer peak tracking): the settings are
        // accepted as Redis accepts them and change nothing.
        if c.argIs(2, "peak-reset-time") || c.argIs(2, "resizing") { c.reply.ok() } else { replySubcommandSyntaxError(c, "DEBUG") }
    } else if c.argIs(1, "stringmatch-test") && argc == 2 {
        debugStringmatchTest(c)
    } else if c.argIs(1, "client-eviction") && argc == 2 {
        debugClientEviction(c)
    } else if c.argIs(1, "htstats") && argc == 3 {
        debugHashTableStats(c)
    } else if c.argIs(1, "htstats-key") && argc == 3 {
        // Which of our values use a HashTable is ours to say; Redis's answer for values not in a dict.
        guard c.db.lookup(ByteString(c.arg(2)), now: c.now, [.noTouch, .noNotify]) != nil else {
            return c.reply.error("ERR no such key")
        }
        c.reply.error("ERR The value stored at the specified key is not represented using an hash table")
    } else {
        replySubcommandSyntaxError(c, "DEBUG")
    }
}

/// DEBUG POPULATE count [prefix] [size]: adds keys `prefix:N` (default "key:N") holding "value:N", padded
/// with zero bytes or cut to `size` when given; existing keys are left alone. Not counted as changes.
private func debugPopulate(_ c: Client) {
    guard let count = parseInt64(c.arg(2)), count >= 0 else {
        return c.reply.error("ERR value is out of range, must be positive")
    }
    // Redis first sizes the table for `count` keys and fails when that allocation does: refuse counts
    // whose bucket array alone could not fit in memory rather than grow until the kernel kills us.
    let physicalMemory = Int64(sysconf(Int32(_SC_PHYS_PAGES))) * Int64(sysconf(Int32(_SC_PAGESIZE)))
    if count > physicalMemory / 8 { return c.reply.error("ERR OOM in dictTryExpand") }
    var size = 0
    if c.argc == 5 {
        guard let v = parseInt64(c.arg(4)), v >= 0 else {
            return c.reply.error("ERR value is out of range, must be positive")
        }
        // Where Redis would abort on a failed allocation, refuse values that can not fit.
        if v > physicalMemory / max(1, count) { return c.reply.error("ERR OOM in dictTryExpand") }
        size = Int(v)
    }
    // Redis formats keys into a 128-byte buffer, so a long prefix is cut to fit.
    let prefix = c.argc >= 4 ? Array(c.arg(3)) : Array("key".utf8)
    let now = c.now
    let db = c.db
    for j in 0..<count {
        let key = ByteString(Array((prefix + Array(":\(j)".utf8)).prefix(127)))
        if db.lookup(key, now: now, .write) != nil { continue }
        var value = Array("value:\(j)".utf8)
        if size > 0 {
            value = Array(value.prefix(size))
            value += [UInt8](repeating: 0, count: size - value.count)
        }
        db.add(key, .string(ByteString(value)), event: .none, changes: 0)  // Redis notifies and counts nothing
    }
    c.reply.ok()
}

/// DEBUG DIGEST-VALUE [key ...]: one status reply per key, the digest of its value in the current database
/// (40 zeros for a missing key). As Redis, a key past its time still counts and is neither deleted nor
/// counted as a hit or miss (a debugging command looks at what is stored).
private func debugDigestValue(_ c: Client) {
    c.reply.array(c.argc - 2)
    for j in 2..<c.argc {
        var digest = [UInt8](repeating: 0, count: 20)
        if let (value, expireTime) = c.db.stored(c.arg(j)) {
            digest = valueDigest(value, hasExpire: expireTime != nil)
        }
        c.reply.simple(SHA1.hex(digest))
    }
}

/// DEBUG PROTOCOL <type>: one reply of each RESP type, for client test suites.
private func debugProtocol(_ c: Client) {
    let r = c.reply
    let resp3 = c.protocolVersion == 3  // attributes, push and big numbers exist only in RESP3
    switch c.argString(2).lowercased() {
    case "string": r.bulk("Hello World")
    case "integer": r.integer(12345)
    case "double": r.double(3.141)
    case "bignum": if resp3 { r.raw("(1234567999999999999999999999999999999\r\n") } else { r.bulk("1234567999999999999999999999999999999") }
    case "null": r.null()
    case "array", "set":
        if c.argIs(2, "set") { r.set(3) } else { r.array(3) }
        for j in 0..<3 { r.integer(j) }
    case "map":
        r.map(3)
        for j in 0..<3 {
            r.integer(j)
            r.bool(j == 1)
        }
    case "attrib":
        if resp3 { r.raw("|1\r\n$14\r\nkey-popularity\r\n*2\r\n$7\r\nkey:123\r\n:90\r\n") }
        r.bulk("Some real reply following the attribute")
    case "push":
        guard resp3 else { return r.error("ERR RESP2 is not supported by this command") }
        r.push(2)
        r.bulk("server-cpu-usage")
        r.integer(42)
        r.bulk("Some real reply following the push reply")
    case "true": r.bool(true)
    case "false": r.bool(false)
    case "verbatim": r.verbatim("This is a verbatim\nstring")
    default:
        r.error("ERR Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false")
    }
}

/// The subcommands implemented here, in Redis's words and order.
/// DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE]: save, empty the dataset and load the file back.
private func debugReload(_ c: Client) {
    var merge = false, flush = true, save = true
    for i in 2..<c.argc {
        if c.argIs(i, "merge") {
            merge = true
        } else if c.argIs(i, "noflush") {
            flush = false
        } else if c.argIs(i, "nosave") {
            save = false
        } else {
            return c.reply.error("ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.")
        }
    }
    let rdb = c.server.rdb
    if rdb.loading { return c.reply.error("ERR DEBUG RELOAD is not allowed while loading") }
    if save {
        do { try rdb.save() } catch { return c.reply.error("ERR") }
    }
    if flush {
        rdb.abortBackgroundSave()
        for db in c.server.databases { db.removeAll() }
    }
    let fd = open(c.server.config.dbfilename, O_RDONLY | O_CLOEXEC)
    do {
        guard fd >= 0 else { throw RDBError(String(cString: strerror(errno))) }
        try rdb.load(fd: fd, replacingDuplicates: merge, flushOnFailure: flush, servingClients: false)
    } catch {
        c.server.log.warning("Error loading the RDB for DEBUG RELOAD: \(error)")
        return c.reply.error("ERR Error trying to load the RDB dump, check server logs.")
    }
    c.server.log.warning("DB reloaded by DEBUG RELOAD")
    c.reply.ok()
}

/// DEBUG OBJECT key: Redis's low-level line; `serializedlength` is the value's RDB payload length.
private func debugObject(_ c: Client) {
    guard let value = c.db.stored(c.arg(2))?.value else { return c.reply.error("ERR no such key") }
    let output = RDBOutput(compress: c.server.config.rdbcompression)
    output.valuePayload(value)
    let hint = c.db.stringHint(c.argBytes(2))
    let address = value.reference.map { UInt(bitPattern: Unmanaged.passUnretained($0).toOpaque()) } ?? 0
    let lru = c.db.accessStamp(c.arg(2)) ?? 0
    let idle = c.server.keyspace.access.idleMillis(lru) / 1000  // as Redis, even when the stamp is an LFU one
    var line = "Value at:0x\(String(address, radix: 16)) refcount:1 encoding:\(value.encodingName(hint: hint)) "
        + "serializedlength:\(output.totalBytes) lru:\(lru) lru_seconds_idle:\(idle)"
    if case .list(let list) = value {
        let nodes = quicklistNodes(list)
        let largest = nodes.map(\.bytes).reduce(0, +)
        line += " ql_nodes:\(nodes.count) ql_avg_node:\(formatFixed2(Double(list.count) / Double(max(nodes.count, 1))))"
            + " ql_listpack_max:\(list.fill) ql_compressed:0 ql_uncompressed_size:\(largest)"
    }
    c.reply.simple(line)
}

private func formatFixed2(_ v: Double) -> String {
    let hundredths = Int((v * 100).rounded())
    let frac = hundredths % 100
    return "\(hundredths / 100).\(frac < 10 ? "0" : "")\(frac)"
}

/// DEBUG LISTPACK key: Redis prints a listpack-encoded value's entries on its stdout; we write them to the log.
private func debugListpack(_ c: Client) {
    guard let value = c.db.lookup(ByteString(c.arg(2)), now: c.now, [.noTouch, .noNotify]) else {
        return c.reply.error("ERR no such key")
    }
    guard String(describing: value.encodingName(hint: c.db.stringHint(ByteString(c.arg(2))))) == "listpack" else {
        return c.reply.error("ERR Not a listpack encoded object.")
    }
    c.server.log.notice("DEBUG LISTPACK \(c.argString(2)): \(value.typeName) in listpack encoding")
    c.reply.simple("Listpack structure printed on stdout")
}

/// DEBUG STRINGMATCH-TEST: Redis's fuzz of its glob matcher; ours runs random patterns and strings through
/// Glob.swift's matcher (a crash would end the test, as in Redis).
private func debugStringmatchTest(_ c: Client) {
    var rng = SystemRandomNumberGenerator()
    let alphabet = Array("ab*?[]^-\\\\x".utf8)
    for _ in 0..<100_000 {
        let pattern = (0..<Int.random(in: 0...16, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }
        let string = (0..<Int.random(in: 0...16, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }
        pattern.withUnsafeBytes { p in string.withUnsafeBytes { s in _ = globMatch(pattern: p, string: s) } }
    }
    c.reply.simple("Apparently Redis did not crash: test passed")
}

/// DEBUG CLIENT-EVICTION: the memory and count of the evictable clients in each size bucket.
private func debugClientEviction(_ c: Client) {
    guard c.server.clientMemory.evictionLimit != 0 else { return c.reply.error("ERR maxmemory-clients is disabled.") }
    var text = ""
    let buckets = c.server.clientMemory.buckets
    for (i, clients) in buckets.enumerated() {
        let low = i == 0 ? 0 : 1 << (14 + i)
        let memory = clients.reduce(0) { $0 + $1.lastMemoryUsage }
        let range = i == buckets.count - 1 ? cFormat("bucket %10zu+            ", low)
            : cFormat("bucket %10zu - %10zu", low, (1 << (15 + i)) - 1)
        text += range + ": tot-mem: " + cFormat("%10zu", memory) + ", clients: \(clients.count)\n"
    }
    c.reply.bulk(text)
}

/// DEBUG HTSTATS dbid: the keyspace's tables of that database, in Redis's format.
private func debugHashTableStats(_ c: Client) {
    guard let id = parseInt64(c.arg(2)) else { return c.reply.error("ERR value is not an integer or out of range") }
    guard id >= 0 && id < c.server.databases.count else { return c.reply.error("ERR Out of range database") }
    let db = c.server.databases[Int(id)]
    var text = "[Dictionary HT]\n" + hashTableStats(size: db.bucketCount, count: db.count)
    text += "[Expires HT]\n" + hashTableStats(size: db.expiresBucketCount, count: db.expiresCount)
    c.reply.verbatim(text)
}

private func hashTableStats(size: Int, count: Int) -> String {
    if count == 0 { return "Hash table 0 stats (main hash table):\nNo stats available for empty dictionaries\n" }
    return "Hash table 0 stats (main hash table):\n table size: \(size)\n number of elements: \(count)\n"
}

private func debugHelp(_ c: Client) {
    replyHelp(c, "DEBUG", [
        "CHANGE-REPL-ID",
        "    Change the replication IDs of the instance.",
        "    Dangerous: should be used only for testing the replication subsystem.",
        "CONFIG-REWRITE-FORCE-ALL",
        "    Like CONFIG REWRITE but writes all configuration options, including",
        "    keywords not listed in original configuration file or default values.",
        "DIGEST",
        "    Output a hex signature representing the current DB content.",
        "DIGEST-VALUE <key> [<key> ...]",
        "    Output a hex signature of the values of all the specified keys.",
        "ERROR <string>",
        "    Return a Redis protocol error with <string> as message. Useful for clients",
        "    unit tests to simulate Redis errors.",
        "LOG <message>",
        "    Write <message> to the server log.",
        "HTSTATS <dbid>",
        "    Return hash table statistics of the specified Redis database.",
        "HTSTATS-KEY <key>",
        "    Like HTSTATS but for the hash table stored at <key>'s value.",
        "OBJECT <key>",
        "    Show low level info about `key` and associated value.",
        "POPULATE <count> [<prefix>] [<size>]",
        "    Create <count> string keys named key:<num>. If <prefix> is specified then",
        "    it is used instead of the 'key' prefix. These are not propagated to",
        "    replicas. Cluster slots are not respected so keys not belonging to the",
        "    current node can be created in cluster mode.",
        "PROTOCOL <type>",
        "    Reply with a test value of the specified type. <type> can be: string,",
        "    integer, double, bignum, null, array, set, map, attrib, push, verbatim,",
        "    true, false.",
        "RELOAD [option ...]",
        "    Save the RDB on disk and reload it back to memory. Valid <option> values:",
        "    * MERGE: conflicting keys will be loaded from RDB.",
        "    * NOFLUSH: the existing database will not be removed before load, but",
        "      conflicting keys will generate an exception and kill the server.",
        "    * NOSAVE: the database will be loaded from an existing RDB file.",
        "    Examples:",
        "    * DEBUG RELOAD: verify that the server is able to persist, flush and reload",
        "      the database.",
        "    * DEBUG RELOAD NOSAVE: replace the current database with the contents of an",
        "      existing RDB file.",
        "    * DEBUG RELOAD NOSAVE NOFLUSH MERGE: add the contents of an existing RDB",
        "      file to the database.",
        "SET-ACTIVE-EXPIRE <0|1>",
        "    Setting it to 0 disables expiring keys in background when they are not",
        "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
        "    default.",
        "QUICKLIST-PACKED-THRESHOLD <size>",
        "    Sets the threshold for elements to be inserted as plain vs packed nodes",
        "    Default value is 1GB, allows values up to 4GB. Setting to 0 restores to default.",
        "SET-SKIP-CHECKSUM-VALIDATION <0|1>",
        "    Enables or disables checksum checks for RDB files and RESTORE's payload.",
        "SLEEP <seconds>",
        "    Stop the server for <seconds>. Decimals allowed.",
        "STRINGMATCH-TEST",
        "    Run a fuzz tester against the stringmatchlen() function.",
        "LISTPACK <key>",
        "    Show low level info about the listpack encoding of <key>.",
        "QUICKLIST <key> [<0|1>]",
        "    Show low level info about the quicklist encoding of <key>.",
        "    The optional argument (0 by default) sets the level of detail",
        "CLIENT-EVICTION",
        "    Show low level client eviction pools info (maxmemory-clients).",
        "PAUSE-CRON <0|1>",
        "    Stop periodic cron job processing.",
        "REPLYBUFFER PEAK-RESET-TIME <NEVER||RESET|time>",
        "    Sets the time (in milliseconds) to wait between client reply buffer peak resets.",
        "    In case NEVER is provided the last observed peak will never be reset",
        "    In case RESET is provided the peak reset time will be restored to the default value",
        "REPLYBUFFER RESIZING <0|1>",
        "    Enable or disable the reply buffer resize cron job",
    ])
}
