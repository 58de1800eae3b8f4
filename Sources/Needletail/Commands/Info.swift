// INFO: the command, its sections (server, clients, memory, persistence, stats, replication, cpu, commandstats,
// errorstats, keyspace, ...) and the process facts they report. Its command-table entry is in ServerCommands.swift.

import CSystem
import Glibc

// MARK: - INFO

/// INFO [section ...]: sections in Redis's order; `default` when no argument, `all` adds commandstats,
/// errorstats and latencystats, `everything` adds module sections (there are none).
private let infoSectionNames = ["server", "clients", "memory", "persistence", "stats", "replication", "cpu",
                                "modules", "commandstats", "errorstats", "latencystats", "cluster", "keyspace"]
private let infoDefaultSections: Set<String> = ["server", "clients", "memory", "persistence", "stats",
                                                "replication", "cpu", "modules", "errorstats", "cluster", "keyspace"]

func info(_ c: Client) {
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
    // Bytes, not a String: an error code in errorstats is the reply's first word as sent, in any bytes (a
    // script's error_reply can start with \xff), and Redis prints it unchanged.
    var text: [UInt8] = []
    func line(_ key: some Sequence<UInt8>, _ value: String) {
        text.append(contentsOf: key)
        text.append(UInt8(ascii: ":"))
        text.append(contentsOf: value.utf8)
        text.append(contentsOf: "\r\n".utf8)
    }
    for name in infoSectionNames where wanted.contains(name) {
        if !text.isEmpty { text.append(contentsOf: "\r\n".utf8) }
        text.append(contentsOf: ("# " + infoTitle(name) + "\r\n").utf8)
        if name == "errorstats" {
            for (code, count) in c.server.stats.errorCodes.sorted(by: { $0.key < $1.key }) {
                line("errorstat_".utf8 + code.bytes, "count=\(count)")
            }
        }
        for (key, value) in infoSection(name, c.server) { line(key.utf8, value) }
    }
    let txt: StaticString = "txt"
    text.withUnsafeBytes {
        c.reply.verbatim(bytes: $0, format: UnsafeRawBufferPointer(start: txt.utf8Start, count: txt.utf8CodeUnitCount))
    }
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
    case "persistence":
        let aof = s.aof.infoFields()
        return lines(infoPersistence(s)) + aof.always + [("module_fork_in_progress", "0"), ("module_fork_last_cow_size", "0")]
            + aof.whenOn + infoLoading(s)
    case "stats": return lines(infoStats(s))
    case "replication": return infoReplication(s)
    case "cpu": return lines(infoCPU())
    case "commandstats": return infoCommandStats(s)
    case "cluster": return [("cluster_enabled", "0")]
    case "keyspace": return infoKeyspace(s)
    // errorstats: written by `info` itself, as bytes.
    case "latencystats": return infoLatencyStats(s)
    // modules: none loaded.
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
        maxOutput = max(maxOutput, client.outputBufferMemory)  // omem, as Redis's getClientOutputBufferMemoryUsage
    }
    return [
        "connected_clients": String(s.clientCount),
        "cluster_connections": "0",
        "maxclients": String(s.config.maxclients),
        "client_recent_max_input_buffer": String(maxInput),
        "client_recent_max_output_buffer": String(maxOutput),
        "blocked_clients": String(s.blockedClientCount),
        "tracking_clients": String(s.trackingClients),
        "clients_in_timeout_table": "0",
        "total_blocking_keys": "0",
        "total_blocking_keys_on_nokey": "0",
    ]
}

/// INFO memory, in redis-server 7.0's order; the accounting is Server/MemoryOverhead.swift's.
private func infoMemory(_ s: Server) -> KeyValuePairs<String, String> {
    s.memory.samplePeak()  // as Redis's INFO: the peak is never below what it reports as used
    let mh = MemoryOverhead(s)
    let used = mh.totalAllocated, rss = mh.rss, peak = mh.peakAllocated
    let systemMemory = Int(sysconf(Int32(_SC_PHYS_PAGES))) * Int(sysconf(Int32(_SC_PAGESIZE)))
    let scripting = s.scripting
    let evalVM = scripting.luaMemory, functionsVM = scripting.functionsMemory
    let scriptsMemory = scripting.scriptsMemory, functionsMemory = scripting.librariesMemory
    func ratio(_ value: Float) -> String { cFormat("%.2f", Double(value)) }
    return [
        "used_memory": String(used),
        "used_memory_human": bytesToHuman(used),
        "used_memory_rss": String(rss),
        "used_memory_rss_human": bytesToHuman(rss),
        "used_memory_peak": String(peak),
        "used_memory_peak_human": bytesToHuman(peak),
        "used_memory_peak_perc": cFormat("%.2f%%", Double(mh.peakPercent)),
        "used_memory_overhead": String(mh.overheadTotal),
        "used_memory_startup": String(mh.startupAllocated),
        "used_memory_dataset": String(mh.dataset),
        "used_memory_dataset_perc": cFormat("%.2f%%", Double(mh.datasetPercent)),
        "allocator_allocated": String(mh.allocatorAllocated),
        "allocator_active": String(mh.allocatorActive),
        "allocator_resident": String(mh.allocatorResident),
        "total_system_memory": String(systemMemory),
        "total_system_memory_human": bytesToHuman(systemMemory),
        "used_memory_lua": String(evalVM),
        "used_memory_vm_eval": String(evalVM),
        "used_memory_lua_human": bytesToHuman(evalVM),
        "used_memory_scripts_eval": String(scriptsMemory),
        "number_of_cached_scripts": String(scripting.cachedScriptCount),
        "number_of_functions": String(scripting.functions.count),
        "number_of_libraries": String(scripting.libraries.count),
        "used_memory_vm_functions": String(functionsVM),
        "used_memory_vm_total": String(evalVM + functionsVM),
        "used_memory_vm_total_human": bytesToHuman(evalVM + functionsVM),
        "used_memory_functions": String(functionsMemory),
        "used_memory_scripts": String(scriptsMemory + functionsMemory),
        "used_memory_scripts_human": bytesToHuman(scriptsMemory + functionsMemory),
        "maxmemory": String(s.config.maxmemory),
        "maxmemory_human": bytesToHuman(s.config.maxmemory),
        "maxmemory_policy": s.config.maxmemoryPolicy,
        "allocator_frag_ratio": ratio(mh.allocatorFragRatio),
        "allocator_frag_bytes": String(max(0, mh.allocatorFragBytes)),  // %zu in Redis
        "allocator_rss_ratio": ratio(mh.allocatorRSSRatio),
        "allocator_rss_bytes": String(mh.allocatorRSSBytes),
        "rss_overhead_ratio": ratio(mh.rssOverheadRatio),
        "rss_overhead_bytes": String(mh.rssOverheadBytes),
        "mem_fragmentation_ratio": ratio(mh.fragmentationRatio),
        "mem_fragmentation_bytes": String(mh.fragmentationBytes),
        "mem_not_counted_for_evict": String(MemoryOverhead.notCountedForEviction(s)),
        "mem_replication_backlog": String(mh.replicationBacklog),
        "mem_total_replication_buffers": "0",
        "mem_clients_slaves": String(mh.clientsReplicas),
        "mem_clients_normal": String(mh.clientsNormal),
        "mem_cluster_links": String(mh.clusterLinks),
        "mem_aof_buffer": String(mh.aofBuffer),
        "mem_allocator": "libc",
        "active_defrag_running": "0",
        "lazyfree_pending_objects": String(s.lazyFree.pendingObjects),
        "lazyfreed_objects": String(s.lazyFree.freedObjects),
    ]
}

extension Server {
    /// Bytes in use, as Redis's zmalloc_used_memory: what is allocated (cs_used_memory: the allocation
    /// counter plus the keyspace's mapped pages) less the keyspace tables' free entry slots, which hold
    /// nothing and are reused by the next keys (HashTable.slackBytes): the bytes a freed dictEntry gives
    /// back to Redis's allocator. INFO used_memory and maxmemory read this.
    var usedMemory: Int { Int(cs_used_memory()) - keyspaceSlackBytes }

    var keyspaceSlackBytes: Int {
        var bytes = 0
        for db in databases { bytes += db.slackBytes }
        return bytes
    }
}

private func infoPersistence(_ s: Server) -> KeyValuePairs<String, String> {
    let rdb = s.rdb
    let save = rdb.background
    return [
        "loading": rdb.loading ? "1" : "0",
        "async_loading": "0",
        "current_cow_peak": "0",
        "current_cow_size": "0",
        "current_cow_size_age": "0",
        "current_fork_perc": "0.00",
        "current_save_keys_processed": String(save?.keysSaved ?? 0),
        "current_save_keys_total": String(save?.keysTotal ?? 0),
        "rdb_changes_since_last_save": String(s.dirty),
        "rdb_bgsave_in_progress": save != nil ? "1" : "0",
        "rdb_last_save_time": String(s.lastSave),
        "rdb_last_bgsave_status": rdb.lastBgsaveOK ? "ok" : "err",
        "rdb_last_bgsave_time_sec": String(rdb.lastBgsaveSeconds),
        "rdb_current_bgsave_time_sec": String(save?.elapsedSeconds ?? -1),
        "rdb_saves": String(rdb.saves),
        "rdb_last_cow_size": "0",
        "rdb_last_load_keys_expired": String(rdb.lastLoadKeysExpired),
        "rdb_last_load_keys_loaded": String(rdb.lastLoadKeysLoaded),
    ]
}

/// The lines Redis adds to the persistence section while the dataset loads.
private func infoLoading(_ s: Server) -> [(String, String)] {
    let rdb = s.rdb
    guard rdb.loading else { return [] }
    let elapsed = max(0, wallClockMillis() / 1000 - rdb.loadingStartTime)
    let fraction = rdb.loadingTotalBytes > 0 ? Double(rdb.loadingLoadedBytes) / Double(rdb.loadingTotalBytes) : 0
    let eta = rdb.loadingLoadedBytes > 0 && elapsed > 0
        ? Int64(Double(rdb.loadingTotalBytes - rdb.loadingLoadedBytes) / (Double(rdb.loadingLoadedBytes) / Double(elapsed))) : 1
    let percent = Int((fraction * 10000).rounded())
    return [("loading_start_time", String(rdb.loadingStartTime)), ("loading_total_bytes", String(rdb.loadingTotalBytes)),
            ("loading_rdb_used_mem", "0"), ("loading_loaded_bytes", String(rdb.loadingLoadedBytes)),
            ("loading_loaded_perc", "\(percent / 100).\(percent % 100 < 10 ? "0" : "")\(percent % 100)"),
            ("loading_eta_seconds", String(eta))]
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
        "total_net_repl_input_bytes": String(st.totalNetReplInputBytes),
        "total_net_repl_output_bytes": String(st.totalNetReplOutputBytes),
        "instantaneous_input_kbps": cFormat("%.2f", max(0, rates.inputKbps)),
        "instantaneous_output_kbps": cFormat("%.2f", max(0, rates.outputKbps)),
        "instantaneous_input_repl_kbps": "0.00",
        "instantaneous_output_repl_kbps": "0.00",
        "rejected_connections": String(st.rejectedConnections),
        "sync_full": String(s.replication.fullSyncs),
        "sync_partial_ok": String(s.replication.partialSyncsAccepted),
        "sync_partial_err": String(s.replication.partialSyncsRefused),
        "expired_keys": String(st.expiredKeys),
        "expired_stale_perc": "0.00",
        "expired_time_cap_reached_count": "0",
        "expire_cycle_cpu_milliseconds": "0",
        "evicted_keys": String(st.evictedKeys),
        "evicted_clients": String(st.evictedClients),
        "total_eviction_exceeded_time": String(s.evictionExceededMillis.total),
        "current_eviction_exceeded_time": String(s.evictionExceededMillis.current),
        "keyspace_hits": String(st.keyspaceHits),
        "keyspace_misses": String(st.keyspaceMisses),
        "pubsub_channels": String(s.pubsub.channels.count),
        "pubsub_patterns": String(s.pubsub.patterns.count),
        "pubsubshard_channels": String(s.pubsub.shardChannels.count),
        "latest_fork_usec": "0",
        "total_forks": "0",
        "migrate_cached_sockets": String(s.migrateConnections.count),
        "slave_expires_tracked_keys": "0",
        "active_defrag_hits": "0",
        "active_defrag_misses": "0",
        "active_defrag_key_hits": "0",
        "active_defrag_key_misses": "0",
        "total_active_defrag_time": "0",
        "current_active_defrag_time": "0",
        "tracking_total_keys": String(s.trackingTable.count),
        "tracking_total_items": String(s.trackingItems),
        "tracking_total_prefixes": String(s.prefixTable.count),
        "unexpected_error_replies": String(st.unexpectedErrorReplies),
        "total_error_replies": String(st.totalErrorReplies),
        "dump_payload_sanitizations": "0",
        "total_reads_processed": String(st.totalReadsProcessed),
        "total_writes_processed": String(st.totalWritesProcessed),
        "io_threaded_reads_processed": "0",
        "io_threaded_writes_processed": "0",
        // Redis 7.0 resizes each client's reply buffer from its cron; ours are not resized that way.
        "reply_buffer_shrinks": "0",
        "reply_buffer_expands": "0",
        "acl_access_denied_auth": String(s.acl.deniedAuth),
        "acl_access_denied_cmd": String(s.acl.deniedCommand),
        "acl_access_denied_key": String(s.acl.deniedKey),
        "acl_access_denied_channel": String(s.acl.deniedChannel),
    ]
}

/// INFO replication, field for field as Redis 7.0's genRedisInfoString.
private func infoReplication(_ s: Server) -> [(String, String)] {
    let r = s.replication!
    var fields: [(String, String)] = [("role", r.isReplica ? "slave" : "master")]
    if let host = r.masterHost {
        let nowSeconds = monotonicMillis() / 1000
        let link = r.link
        fields += [("master_host", host), ("master_port", String(r.masterPort)),
                   ("master_link_status", r.linkIsUp ? "up" : "down"),
                   ("master_last_io_seconds_ago", r.master != nil ? String(nowSeconds - r.masterLastIO / 1000) : "-1"),
                   ("master_sync_in_progress", r.syncInProgress ? "1" : "0")]
        let applied = r.master != nil || r.cachedMaster != nil ? r.offset : 1
        let read = applied + Int64(r.master?.input.readableBytes ?? 0)
        fields += [("slave_read_repl_offset", String(read)), ("slave_repl_offset", String(applied))]
        if let link, link.state == .transfer {
            let total = max(0, link.transferSize ?? 0)
            let perc = total > 0 ? Double(link.transferRead) * 100 / Double(total) : 0
            fields += [("master_sync_total_bytes", String(link.transferSize ?? -1)),
                       ("master_sync_read_bytes", String(link.transferRead)),
                       ("master_sync_left_bytes", String(total - link.transferRead)),
                       ("master_sync_perc", cFormat("%.2f", perc)),
                       ("master_sync_last_io_seconds_ago", String(nowSeconds - link.transferLastIO / 1000))]
        }
        if !r.linkIsUp {
            let since = r.linkDownSince == 0 ? -1 : wallClockMillis() / 1000 - r.linkDownSince
            fields.append(("master_link_down_since_seconds", String(since)))
        }
        fields += [("slave_priority", s.config.value(of: "replica-priority") ?? "100"),
                   ("slave_read_only", s.config.replicaReadOnly ? "1" : "0"),
                   ("replica_announced", s.config.value(of: "replica-announced") == "no" ? "0" : "1")]
    }
    fields.append(("connected_slaves", String(r.replicas.count)))
    if r.minReplicasToWrite > 0 && (Int(s.config.value(of: "min-replicas-max-lag") ?? "10") ?? 10) > 0 {
        fields.append(("min_slaves_good_slaves", String(r.goodReplicas)))
    }
    let now = monotonicMillis()
    for (i, c) in r.replicas.enumerated() {
        guard let state = c.replica else { continue }
        let ip = c.replicaIP
        fields.append(("slave\(i)", "ip=\(ip),port=\(state.listeningPort),state=\(state.infoName),offset=\(state.ackOffset),lag=\((now - state.ackTime) / 1000)"))
    }
    let backlog = r.backlog
    fields += [("master_failover_state", r.failover.infoName),
               ("master_replid", r.replid), ("master_replid2", r.replid2),
               ("master_repl_offset", String(r.offset)), ("second_repl_offset", String(r.secondOffset)),
               ("repl_backlog_active", backlog == nil ? "0" : "1"),
               ("repl_backlog_size", s.config.value(of: "repl-backlog-size") ?? "1048576"),
               ("repl_backlog_first_byte_offset", String(backlog?.firstByteOffset ?? 0)),
               ("repl_backlog_histlen", String(backlog?.historyLength ?? 0))]
    return fields
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

/// `latency_percentiles_usec_<name>` for every command (and subcommand) with a latency histogram
/// (Server/Diagnostics.swift): `p<percentile>=<µs>` for each of latency-tracking-info-percentiles, as Redis's
/// fillPercentileDistributionLatencies prints them.
private func infoLatencyStats(_ s: Server) -> [(String, String)] {
    let percentiles = s.config.latencyTrackingInfoPercentiles
    var lines: [(String, String)] = []
    func add(_ command: Command) {
        if let histogram = command.latencyHistogram {
            let values = percentiles.map { p in
                "p" + ConfigSyntax.formatPercentile(p) + "=" + cFormat("%.3f", Double(histogram.value(atPercentile: p)) / 1000.0)
            }
            lines.append(("latency_percentiles_usec_" + command.fullName, values.joined(separator: ",")))
        }
        for sub in command.sortedSubcommands { add(sub) }
    }
    for command in s.commands.all { add(command) }
    return lines
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
