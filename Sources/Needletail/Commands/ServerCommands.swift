import CSystem
import Glibc

/// Server commands: INFO, CONFIG, DBSIZE, FLUSHDB, FLUSHALL, TIME, LASTSAVE, SAVE, BGSAVE, SHUTDOWN, DEBUG.
/// Replies as redis-server 7.0 (INFO reports `redis_version:7.2.4`, the level we are compatible with).
///
/// There is no persistence yet: SAVE and BGSAVE answer an error rather than pretend, SHUTDOWN SAVE refuses
/// (unless FORCE) as Redis does when its save fails, and INFO persistence describes a server that never saved.

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
    Command("lastsave", arity: 1, flags: [.loading, .stale, .fast], group: "server",
            summary: "Get the UNIX time stamp of the last successful save to disk", complexity: "O(1)",
            handler: lastsave),
    Command("save", arity: 1, flags: [.admin, .noscript, .noAsyncLoading, .noMulti], group: "server",
            summary: "Synchronously save the dataset to disk",
            complexity: "O(N) where N is the total number of keys in all databases", handler: save),
    Command("bgsave", arity: -1, flags: [.admin, .noscript, .noAsyncLoading], group: "server",
            summary: "Asynchronously save the dataset to disk",
            complexity: "O(1)", handler: bgsave),
    Command("shutdown", arity: -1, flags: [.admin, .noscript, .loading, .stale, .noMulti, .sentinel, .allowBusy],
            group: "server", summary: "Synchronously save the dataset to disk and then shut down the server",
            complexity: "O(N) when saving, where N is the total number of keys in all databases when saving data, otherwise O(1)",
            handler: shutdown),
    Command("debug", arity: -2, flags: [.admin, .noscript, .loading, .stale, .protected], group: "server",
            summary: "A container for debugging commands", complexity: "Depends on subcommand.", handler: debug),
]

// MARK: - Keyspace-wide commands

private func dbsize(_ c: Client) { c.reply.integer(c.db.count) }

/// FLUSHDB / FLUSHALL [ASYNC|SYNC]. ASYNC frees synchronously for now (no lazyfree worker is wired to the
/// server yet); the reply and the result are the same.
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

private func flushall(_ c: Client) {
    guard flushMode(c) else { return }
    for db in c.server.databases { db.removeAll() }
    c.server.dirty += 1  // as Redis, so even an empty FLUSHALL counts as a change
    c.reply.ok()
}

private func time(_ c: Client) {
    let now = wallClockMicros()
    c.reply.array(2)
    c.reply.bulk(now / 1_000_000)
    c.reply.bulk(now % 1_000_000)
}

private func lastsave(_ c: Client) { c.reply.integer(c.server.lastSave) }

private let noPersistence = "ERR persistence is not implemented yet: nothing was saved"

private func save(_ c: Client) { c.reply.error(noPersistence) }

/// BGSAVE [SCHEDULE]
private func bgsave(_ c: Client) {
    if c.argc > 2 || (c.argc == 2 && !c.argIs(1, "schedule")) { return c.replySyntaxError() }
    c.reply.error(noPersistence)
}

/// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]. On success Redis exits without replying; here the loop
/// finishes its iteration and closes every connection.
private func shutdown(_ c: Client) {
    var save = false, noSave = false, force = false, abort = false, other = false
    for i in 1..<c.argc {
        if c.argIs(i, "nosave") {
            noSave = true
        } else if c.argIs(i, "save") {
            save = true
        } else if c.argIs(i, "now") {
            other = true  // nothing to wait for: there are no replicas
        } else if c.argIs(i, "force") {
            force = true
        } else if c.argIs(i, "abort") {
            abort = true
        } else {
            return c.replySyntaxError()
        }
    }
    if (abort && (save || noSave || force || other)) || (save && noSave) { return c.replySyntaxError() }
    // A shutdown never waits for replicas here, so there is never one in progress to abort.
    if abort { return c.reply.error("ERR No shutdown in progress.") }
    if save && !force {
        c.server.log.warning("Error trying to save the DB: persistence is not implemented yet, can't exit.")
        return c.reply.error("ERR Errors trying to SHUTDOWN. Check logs.")
    }
    if !noSave && !c.server.config.save.isEmpty {
        // Redis would write its final snapshot here because save points are configured.
        c.server.log.warning("Not saving the final RDB snapshot: persistence is not implemented yet.")
    }
    c.server.shutdownRequested = true
    c.closeAfterReply = true  // run nothing after SHUTDOWN, as Redis exits at once
}

// MARK: - INFO

/// INFO [section ...]: sections in Redis's order; `default` when no argument, `all` adds commandstats,
/// errorstats and latencystats, `everything` adds module sections (there are none).
private let infoSectionNames = ["server", "clients", "memory", "persistence", "stats", "replication", "cpu",
                                "modules", "commandstats", "errorstats", "latencystats", "cluster", "keyspace"]
private let infoDefaultSections: Set<String> = ["server", "clients", "memory", "persistence", "stats",
                                                "replication", "cpu", "modules", "errorstats", "cluster", "keyspace"]

private func info(_ c: Client) {
    var wanted = Set<String>()
    if c.argc == 1 { wanted = infoDefaultSections }
    for i in 1..<max(1, c.argc) {
        let name = c.argString(i).lowercased()
        switch name {
        case "default": wanted.formUnion(infoDefaultSections)
        case "all", "everything": wanted.formUnion(infoSectionNames)
        default: wanted.insert(name)
        }
    }
    var text = ""
    for name in infoSectionNames where wanted.contains(name) {
        if !text.isEmpty { text += "\r\n" }
        text += "# " + infoTitle(name) + "\r\n"
        for (key, value) in infoSection(name, c.server) { text += key + ":" + value + "\r\n" }
    }
    c.reply.verbatim(text)
}

private func infoTitle(_ name: String) -> String {
    switch name {
    case "cpu": return "CPU"
    default: return name.prefix(1).uppercased() + name.dropFirst()
    }
}

private func infoSection(_ name: String, _ s: Server) -> [(String, String)] {
    func lines(_ pairs: KeyValuePairs<String, String>) -> [(String, String)] { pairs.map { ($0.key, $0.value) } }
    switch name {
    case "server": return lines(infoServer(s)) + infoListeners(s)
    case "clients": return lines(infoClients(s))
    case "memory": return lines(infoMemory(s))
    case "persistence": return lines(infoPersistence(s))
    case "stats": return lines(infoStats(s))
    case "replication": return lines(infoReplication(s))
    case "cpu": return lines(infoCPU())
    case "commandstats": return infoCommandStats(s)
    case "cluster": return [("cluster_enabled", "0")]
    case "keyspace": return infoKeyspace(s)
    case "errorstats":
        return s.stats.errorCodes.sorted { $0.key < $1.key }.map { ("errorstat_\($0.key)", "count=\($0.value)") }
    // modules: none loaded. latencystats: not collected yet (the section is present, empty).
    default: return []
    }
}

private func infoServer(_ s: Server) -> KeyValuePairs<String, String> {
    let uptime = s.uptimeSeconds
    let hz = String(max(1, min(500, s.config.hz)))
    return [
        "redis_version": redisVersion,
        "redis_git_sha1": "00000000",
        "redis_git_dirty": "0",
        "redis_build_id": "0",
        "redis_mode": "standalone",
        "os": systemName,
        "arch_bits": String(MemoryLayout<Int>.size * 8),
        "monotonic_clock": "POSIX clock_gettime",
        "multiplexing_api": "epoll",
        "atomicvar_api": "c11-builtin",
        "gcc_version": "0.0.0",
        "process_id": String(getpid()),
        "process_supervised": "no",
        "run_id": serverRunID,
        "tcp_port": String(s.port),
        "server_time_usec": String(wallClockMicros()),
        "uptime_in_seconds": String(uptime),
        "uptime_in_days": String(uptime / 86400),
        "hz": hz,
        "configured_hz": hz,
        "lru_clock": String((wallClockMillis() / 1000) & ((1 << 24) - 1)),
        "executable": executablePath,
        "config_file": s.config.configFile ?? "",
        "io_threads_active": "0",
    ]
}

/// Redis 7.2's `listenerN` lines: N is the connection type (0 TCP, 1 Unix socket).
private func infoListeners(_ s: Server) -> [(String, String)] {
    var lines: [(String, String)] = []
    if s.port != 0 {
        lines.append(("listener0", "name=tcp," + s.config.bind.map { "bind=" + $0 }.joined(separator: ",") + ",port=\(s.port)"))
    }
    if !s.config.unixsocket.isEmpty { lines.append(("listener1", "name=unix,bind=" + s.config.unixsocket)) }
    return lines
}

private func infoClients(_ s: Server) -> KeyValuePairs<String, String> {
    var maxInput = 0, maxOutput = 0
    for client in s.clients {
        maxInput = max(maxInput, client.input.capacity)
        maxOutput = max(maxOutput, client.output.readableBytes)
    }
    return [
        "connected_clients": String(s.clientCount),
        "cluster_connections": "0",
        "maxclients": String(s.config.maxclients),
        "client_recent_max_input_buffer": String(maxInput),
        "client_recent_max_output_buffer": String(maxOutput),
        "blocked_clients": "0",
        "tracking_clients": "0",
        "clients_in_timeout_table": "0",
        "total_blocking_keys": "0",
        "total_blocking_keys_on_nokey": "0",
    ]
}

/// Highest `used_memory` seen by INFO (Redis samples it in its cron; INFO is where we measure).
private var usedMemoryPeak = 0

private func infoMemory(_ s: Server) -> KeyValuePairs<String, String> {
    let used = usedMemory()
    let rss = Int(cs_rss_bytes())
    usedMemoryPeak = max(usedMemoryPeak, used)
    let systemMemory = Int(sysconf(Int32(_SC_PHYS_PAGES))) * Int(sysconf(Int32(_SC_PAGESIZE)))
    var clientMemory = 0
    for client in s.clients { clientMemory += client.input.capacity + client.output.capacity }
    return [
        "used_memory": String(used),
        "used_memory_human": bytesToHuman(used),
        "used_memory_rss": String(rss),
        "used_memory_rss_human": bytesToHuman(rss),
        "used_memory_peak": String(usedMemoryPeak),
        "used_memory_peak_human": bytesToHuman(usedMemoryPeak),
        "used_memory_peak_perc": cFormat("%.2f%%", usedMemoryPeak == 0 ? 0.0 : Double(used) * 100 / Double(usedMemoryPeak)),
        "total_system_memory": String(systemMemory),
        "total_system_memory_human": bytesToHuman(systemMemory),
        "maxmemory": String(s.config.maxmemory),
        "maxmemory_human": bytesToHuman(s.config.maxmemory),
        "maxmemory_policy": s.config.maxmemoryPolicy,
        "mem_fragmentation_ratio": cFormat("%.2f", used == 0 ? 0.0 : Double(rss) / Double(used)),
        "mem_fragmentation_bytes": String(rss - used),
        "mem_not_counted_for_evict": "0",
        "mem_replication_backlog": "0",
        "mem_total_replication_buffers": "0",
        "mem_clients_slaves": "0",
        "mem_clients_normal": String(clientMemory),
        "mem_cluster_links": "0",
        "mem_aof_buffer": "0",
        "mem_allocator": "libc",
        "active_defrag_running": "0",
        "lazyfree_pending_objects": "0",
        "lazyfreed_objects": "0",
    ]
}

/// Bytes allocated through malloc and still in use (glibc's counters: arena chunks in use plus mmapped
/// blocks), the equivalent of Redis's zmalloc_used_memory().
/// Allocated bytes, as Redis's zmalloc_used_memory: malloc's count plus the pages the keyspace maps itself.
private func usedMemory() -> Int { Int(cs_malloc_used_bytes()) + Int(cs_mapped_bytes_load()) }

private func infoPersistence(_ s: Server) -> KeyValuePairs<String, String> {
    [
        "loading": "0",
        "async_loading": "0",
        "current_cow_peak": "0",
        "current_cow_size": "0",
        "current_cow_size_age": "0",
        "current_fork_perc": "0.00",
        "current_save_keys_processed": "0",
        "current_save_keys_total": "0",
        "rdb_changes_since_last_save": String(s.dirty),
        "rdb_bgsave_in_progress": "0",
        "rdb_last_save_time": String(s.lastSave),
        "rdb_last_bgsave_status": "ok",
        "rdb_last_bgsave_time_sec": "-1",
        "rdb_current_bgsave_time_sec": "-1",
        "rdb_saves": "0",
        "rdb_last_cow_size": "0",
        "rdb_last_load_keys_expired": "0",
        "rdb_last_load_keys_loaded": "0",
        "aof_enabled": "0",
        "aof_rewrite_in_progress": "0",
        "aof_rewrite_scheduled": "0",
        "aof_last_rewrite_time_sec": "-1",
        "aof_current_rewrite_time_sec": "-1",
        "aof_last_bgrewrite_status": "ok",
        "aof_rewrites": "0",
        "aof_rewrites_consecutive_failures": "0",
        "aof_last_write_status": "ok",
        "aof_last_cow_size": "0",
        "module_fork_in_progress": "0",
        "module_fork_last_cow_size": "0",
    ]
}

/// Rates for `instantaneous_*`: Redis samples its counters every 100 ms in the cron; here the counters are
/// sampled when INFO runs, and the rate is the one since the previous INFO (at least 100 ms earlier), so a
/// monitor polling INFO sees the rate over its polling period.
private struct RateSample {
    var at: Int64 = monotonicMicros()
    var commands = 0, input = 0, output = 0
    var opsPerSecond = 0, inputKbps = 0.0, outputKbps = 0.0
}
private var lastRateSample = RateSample()

private func sampleRates(_ stats: ServerStats) -> RateSample {
    let now = monotonicMicros()
    var sample = lastRateSample
    let elapsed = now - sample.at
    if elapsed >= 100_000 {
        let seconds = Double(elapsed) / 1_000_000
        sample.opsPerSecond = Int(Double(stats.totalCommandsProcessed - sample.commands) / seconds)
        sample.inputKbps = Double(stats.totalNetInputBytes - sample.input) / seconds / 1024
        sample.outputKbps = Double(stats.totalNetOutputBytes - sample.output) / seconds / 1024
        sample.at = now
        sample.commands = stats.totalCommandsProcessed
        sample.input = stats.totalNetInputBytes
        sample.output = stats.totalNetOutputBytes
        lastRateSample = sample
    }
    return sample
}

private func infoStats(_ s: Server) -> KeyValuePairs<String, String> {
    let st = s.stats
    let rates = sampleRates(st)
    return [
        "total_connections_received": String(st.totalConnectionsReceived),
        "total_commands_processed": String(st.totalCommandsProcessed),
        "instantaneous_ops_per_sec": String(max(0, rates.opsPerSecond)),
        "total_net_input_bytes": String(st.totalNetInputBytes),
        "total_net_output_bytes": String(st.totalNetOutputBytes),
        "total_net_repl_input_bytes": "0",
        "total_net_repl_output_bytes": "0",
        "instantaneous_input_kbps": cFormat("%.2f", max(0, rates.inputKbps)),
        "instantaneous_output_kbps": cFormat("%.2f", max(0, rates.outputKbps)),
        "instantaneous_input_repl_kbps": "0.00",
        "instantaneous_output_repl_kbps": "0.00",
        "rejected_connections": String(st.rejectedConnections),
        "sync_full": "0",
        "sync_partial_ok": "0",
        "sync_partial_err": "0",
        "expired_keys": String(st.expiredKeys),
        "expired_stale_perc": "0.00",
        "expired_time_cap_reached_count": "0",
        "expire_cycle_cpu_milliseconds": "0",
        "evicted_keys": String(st.evictedKeys),
        "evicted_clients": "0",
        "total_eviction_exceeded_time": "0",
        "current_eviction_exceeded_time": "0",
        "keyspace_hits": String(st.keyspaceHits),
        "keyspace_misses": String(st.keyspaceMisses),
        "pubsub_channels": "0",
        "pubsub_patterns": "0",
        "pubsubshard_channels": "0",
        "latest_fork_usec": "0",
        "total_forks": "0",
        "migrate_cached_sockets": "0",
        "slave_expires_tracked_keys": "0",
        "active_defrag_hits": "0",
        "active_defrag_misses": "0",
        "active_defrag_key_hits": "0",
        "active_defrag_key_misses": "0",
        "total_active_defrag_time": "0",
        "current_active_defrag_time": "0",
        "tracking_total_keys": "0",
        "tracking_total_items": "0",
        "tracking_total_prefixes": "0",
        "unexpected_error_replies": String(st.unexpectedErrorReplies),
        "total_error_replies": String(st.totalErrorReplies),
        "dump_payload_sanitizations": "0",
        "io_threaded_reads_processed": "0",
        "io_threaded_writes_processed": "0",
        "acl_access_denied_auth": "0",
        "acl_access_denied_cmd": "0",
        "acl_access_denied_key": "0",
        "acl_access_denied_channel": "0",
    ]
}

private func infoReplication(_ s: Server) -> KeyValuePairs<String, String> {
    [
        "role": "master",
        "connected_slaves": "0",
        "master_failover_state": "no-failover",
        "master_replid": replicationID,
        "master_replid2": String(repeating: "0", count: 40),
        "master_repl_offset": "0",
        "second_repl_offset": "-1",
        "repl_backlog_active": "0",
        "repl_backlog_size": "1048576",
        "repl_backlog_first_byte_offset": "0",
        "repl_backlog_histlen": "0",
    ]
}

private func infoCPU() -> KeyValuePairs<String, String> {
    func seconds(_ t: timeval) -> String { cFormat("%ld.%06ld", t.tv_sec, t.tv_usec) }
    var me = rusage(), children = rusage(), thread = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &me)
    getrusage(__rusage_who_t(RUSAGE_CHILDREN.rawValue), &children)
    getrusage(1, &thread)  // RUSAGE_THREAD (hidden from Swift without _GNU_SOURCE): the loop runs INFO
    return [
        "used_cpu_sys": seconds(me.ru_stime),
        "used_cpu_user": seconds(me.ru_utime),
        "used_cpu_sys_children": seconds(children.ru_stime),
        "used_cpu_user_children": seconds(children.ru_utime),
        "used_cpu_sys_main_thread": seconds(thread.ru_stime),
        "used_cpu_user_main_thread": seconds(thread.ru_utime),
    ]
}

/// `cmdstat_<name>` for every command (and subcommand) called or rejected since the last CONFIG RESETSTAT.
private func infoCommandStats(_ s: Server) -> [(String, String)] {
    var lines: [(String, String)] = []
    func add(_ command: Command) {
        if command.calls != 0 || command.rejectedCalls != 0 || command.failedCalls != 0 {
            let perCall = command.calls == 0 ? 0.0 : Double(command.microseconds) / Double(command.calls)
            lines.append(("cmdstat_" + command.fullName,
                          "calls=\(command.calls),usec=\(command.microseconds),usec_per_call=" + cFormat("%.2f", perCall)
                          + ",rejected_calls=\(command.rejectedCalls),failed_calls=\(command.failedCalls)"))
        }
        for sub in command.sortedSubcommands { add(sub) }
    }
    for command in s.commands.all { add(command) }
    return lines
}

/// `dbN:keys=..,expires=..,avg_ttl=..` for every database holding keys.
private func infoKeyspace(_ s: Server) -> [(String, String)] {
    s.databases.filter { $0.count > 0 }.map { db in
        ("db\(db.index)", "keys=\(db.count),expires=\(db.expiresCount),avg_ttl=\(db.avgTTL)")
    }
}

// MARK: - Process facts (INFO server, INFO replication)

/// "Linux 6.1.0 x86_64", as Redis's `os:` field (uname sysname, release, machine).
private let systemName: String = {
    var u = utsname()
    guard uname(&u) == 0 else { return "Linux" }
    func field<T>(_ value: inout T) -> String {
        withUnsafeBytes(of: &value) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }
    return "\(field(&u.sysname)) \(field(&u.release)) \(field(&u.machine))"
}()

private let executablePath: String = {
    var buffer = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    return n > 0 ? String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
}()

/// 40 random hex characters, fixed for the life of the process (INFO run_id), as Redis's run id.
let serverRunID = randomHex(40)
/// The replication ID (INFO master_replid); random per start like the run id.
let replicationID = randomHex(40)

private func randomHex(_ count: Int) -> String {
    var generator = SystemRandomNumberGenerator()
    let digits = Array("0123456789abcdef")
    return String((0..<count).map { _ in digits[Int(generator.next() % 16)] })
}

/// Redis's bytesToHuman: "943.04K", "6.43M", "0B".
func bytesToHuman(_ n: Int) -> String {
    let units = ["K", "M", "G", "T", "P"]
    if n < 1024 { return "\(n)B" }
    var scale = 1024.0
    for unit in units {
        if Double(n) < scale * 1024 || unit == "P" { return cFormat("%.2f", Double(n) / scale) + unit }
        scale *= 1024
    }
    return "\(n)B"
}

/// printf-style formatting for the few numbers Redis prints with a C format ("%.2f", "%ld.%06ld").
func cFormat(_ format: String, _ args: CVarArg...) -> String {
    withVaList(args) { va in
        var buffer = [CChar](repeating: 0, count: 128)
        let n = Int(vsnprintf(&buffer, buffer.count, format, va))
        return String(decoding: buffer[0..<min(max(n, 0), buffer.count - 1)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

// MARK: - Help replies

/// Redis's addReplyHelp: a header, the lines, then HELP, each a simple string.
func replyHelp(_ c: Client, _ command: String, _ lines: [String]) {
    c.reply.array(lines.count + 3)
    c.reply.simple("\(command) <subcommand> [<arg> [value] [opt] ...]. Subcommands are:")
    for line in lines { c.reply.simple(line) }
    c.reply.simple("HELP")
    c.reply.simple("    Prints this help.")
}

/// Redis's addReplySubcommandSyntaxError, for commands that parse their own subcommands.
func replySubcommandSyntaxError(_ c: Client, _ command: String) {
    c.reply.error(bytes: Array("ERR unknown subcommand or wrong number of arguments for '".utf8)
        + Array(c.arg(1).prefix(128)) + Array("'. Try \(command) HELP.".utf8))
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
        for sub in command.sortedSubcommands { reset(sub) }
    }
    for command in c.server.commands.all { reset(command) }
    c.reply.ok()
}

/// CONFIG REWRITE. TODO: rewriting the file (keeping its comments and order, as Redis does) is not written
/// yet, so with a config file the command fails instead of pretending.
private func configRewrite(_ c: Client) {
    if c.server.config.configFile == nil {
        c.reply.error("ERR The server is running without a config file")
    } else {
        c.server.log.warning("CONFIG REWRITE failed: rewriting the config file is not implemented yet")
        c.reply.error("ERR Rewriting config file: not implemented yet")
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
/// As redis-server 7.0, DEBUG is refused unless `enable-debug-command` is yes (or local, from a local client).
private func debug(_ c: Client) {
    guard c.server.config.allowsProtectedAction(c.server.config.enableDebugCommand, clientIsLocal: isLocalClient(c)) else {
        return c.reply.error("ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.")
    }
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
    } else if c.argIs(1, "protocol") && argc == 3 {
        debugProtocol(c)
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
    let now = c.server.now
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
private func debugHelp(_ c: Client) {
    replyHelp(c, "DEBUG", [
        "ERROR <string>",
        "    Return a Redis protocol error with <string> as message. Useful for clients",
        "    unit tests to simulate Redis errors.",
        "LOG <message>",
        "    Write <message> to the server log.",
        "POPULATE <count> [<prefix>] [<size>]",
        "    Create <count> string keys named key:<num>. If <prefix> is specified then",
        "    it is used instead of the 'key' prefix. These are not propagated to",
        "    replicas. Cluster slots are not respected so keys not belonging to the",
        "    current node can be created in cluster mode.",
        "PROTOCOL <type>",
        "    Reply with a test value of the specified type. <type> can be: string,",
        "    integer, double, bignum, null, array, set, map, attrib, push, verbatim,",
        "    true, false.",
        "SET-ACTIVE-EXPIRE <0|1>",
        "    Setting it to 0 disables expiring keys in background when they are not",
        "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
        "    default.",
        "SLEEP <seconds>",
        "    Stop the server for <seconds>. Decimals allowed.",
    ])
}
