import CSystem

/// MEMORY (Redis's memoryCommand in object.c): USAGE of a key, STATS and DOCTOR (the accounting of
/// Server/MemoryOverhead.swift, shared with INFO memory), HELP, and the allocator subcommands that have a
/// truthful answer with glibc's malloc, given as a Redis built without jemalloc gives them: PURGE
/// (malloc_trim, +OK) and MALLOC-STATS (no statistics for this allocator).
///
/// MEMORY USAGE reports needletail's own cost of the key (see `Database.memoryUsage` and
/// `Value.memoryUsage`), not what redis-server would spend on it: the numbers differ between the servers
/// (short keys and values live inside the keyspace entry here), the replies, errors and sampling rules are
/// Redis's. `redis-cli --memkeys` and `--bigkeys` read it.

let memoryCommands: [Command] = [
    Command("memory", arity: -2, group: "server", since: "4.0.0",
            summary: "A container for memory diagnostics commands", complexity: "Depends on subcommand.",
            subcommands: [
        Command("usage", arity: -3, flags: [.readonly], keys: (2, 2, 1), group: "server", since: "4.0.0",
                summary: "Estimate the memory usage of a key", complexity: "O(N) where N is the number of samples.",
                handler: memoryUsage),
        Command("stats", arity: 2, group: "server", since: "4.0.0",
                summary: "Show memory usage details", complexity: "O(1)", handler: memoryStats),
        Command("doctor", arity: 2, group: "server", since: "4.0.0",
                summary: "Outputs memory problems report", complexity: "O(1)", handler: memoryDoctor),
        Command("purge", arity: 2, group: "server", since: "4.0.0",
                summary: "Ask the allocator to release memory",
                complexity: "Depends on how much memory is allocated, could be slow", handler: memoryPurge),
        Command("malloc-stats", arity: 2, group: "server", since: "4.0.0",
                summary: "Show allocator internal stats",
                complexity: "Depends on how much memory is allocated, could be slow", handler: memoryMallocStats),
        Command("help", arity: 2, flags: [.loading, .stale], group: "server", since: "4.0.0",
                summary: "Show helpful text about the different subcommands", complexity: "O(1)", handler: memoryHelp),
    ]),
]

/// Redis's OBJ_COMPUTE_SIZE_DEF_SAMPLES.
private let defaultMemorySamples = 5

/// MEMORY USAGE key [SAMPLES count]: options are checked before the key is looked up (a missing key with a
/// bad option gets the error); SAMPLES may repeat (the last one counts), 0 means every element, a negative
/// count is a syntax error.
private func memoryUsage(_ c: Client) {
    var samples = defaultMemorySamples
    var j = 3
    while j < c.argc {
        guard argOptionIs(c, j, "samples") && j + 1 < c.argc else { return c.replySyntaxError() }
        guard let n = c.int64Arg(j + 1) else { return }
        if n < 0 { return c.replySyntaxError() }
        samples = n == 0 ? Int.max : Int(n)
        j += 2
    }
    guard let bytes = c.db.memoryUsage(of: c.arg(2), samples: samples) else { return c.reply.null() }
    c.reply.integer(bytes)
}

/// MEMORY STATS: redis-server 7.0's fields in its order, a map (an array of pairs in RESP2), ratios as doubles
/// (Redis computes them as floats and prints the float widened to a double).
private func memoryStats(_ c: Client) {
    let mh = MemoryOverhead(c.server)
    let r = c.reply
    func field(_ name: StaticString, _ value: Int) {
        r.bulk(name)
        r.integer(value)
    }
    func field(_ name: StaticString, _ value: Float) {
        r.bulk(name)
        r.double(Double(value))
    }
    r.map(27 + mh.databases.count)
    field("peak.allocated", mh.peakAllocated)
    field("total.allocated", mh.totalAllocated)
    field("startup.allocated", mh.startupAllocated)
    field("replication.backlog", mh.replicationBacklog)
    field("clients.slaves", mh.clientsReplicas)
    field("clients.normal", mh.clientsNormal)
    field("cluster.links", mh.clusterLinks)
    field("aof.buffer", mh.aofBuffer)
    field("lua.caches", mh.luaCaches)
    field("functions.caches", mh.functionsCaches)
    for db in mh.databases {
        r.bulk("db.\(db.index)")
        r.map(3)
        field("overhead.hashtable.main", db.main)
        field("overhead.hashtable.expires", db.expires)
        field("overhead.hashtable.slot-to-keys", 0)  // cluster mode only
    }
    field("overhead.total", mh.overheadTotal)
    field("keys.count", mh.totalKeys)
    field("keys.bytes-per-key", mh.bytesPerKey)
    field("dataset.bytes", mh.dataset)
    field("dataset.percentage", mh.datasetPercent)
    field("peak.percentage", mh.peakPercent)
    field("allocator.allocated", mh.allocatorAllocated)
    field("allocator.active", mh.allocatorActive)
    field("allocator.resident", mh.allocatorResident)
    field("allocator-fragmentation.ratio", mh.allocatorFragRatio)
    field("allocator-fragmentation.bytes", mh.allocatorFragBytes)
    field("allocator-rss.ratio", mh.allocatorRSSRatio)
    field("allocator-rss.bytes", mh.allocatorRSSBytes)
    field("rss-overhead.ratio", mh.rssOverheadRatio)
    field("rss-overhead.bytes", mh.rssOverheadBytes)
    field("fragmentation", mh.fragmentationRatio)
    field("fragmentation.bytes", mh.fragmentationBytes)
}

/// MEMORY DOCTOR: a bulk string (verbatim `txt` in RESP3).
private func memoryDoctor(_ c: Client) {
    c.reply.verbatim(memoryDoctorReport(c.server))
}

/// Redis's getMemoryDoctorReport (7.0): its thresholds and its texts. Below 5 MB allocated the instance
/// counts as empty and nothing else is checked.
func memoryDoctorReport(_ s: Server) -> String {
    let mh = MemoryOverhead(s)
    let mb = 1024 * 1024
    var empty = false, bigPeak = false, highFrag = false, highAllocFrag = false, highAllocRSS = false
    var highProcRSS = false, bigReplicaBuffers = false, bigClientBuffers = false, manyScripts = false
    if mh.totalAllocated < 5 * mb {
        empty = true
    } else {
        // The peak is more than 150% of what is used now.
        bigPeak = Float(mh.peakAllocated) / Float(mh.totalAllocated) > 1.5
        // RSS / used above 1.4 and 10 MB.
        highFrag = mh.fragmentationRatio > 1.4 && mh.fragmentationBytes > 10 * mb
        // Allocator (external) fragmentation above 1.1 and 10 MB.
        highAllocFrag = mh.allocatorFragRatio > 1.1 && mh.allocatorFragBytes > 10 * mb
        // Allocator RSS overhead above 1.1 and 10 MB.
        highAllocRSS = mh.allocatorRSSRatio > 1.1 && mh.allocatorRSSBytes > 10 * mb
        // Non-allocator RSS above 1.1 and 10 MB.
        highProcRSS = mh.rssOverheadRatio > 1.1 && mh.rssOverheadBytes > 10 * mb
        // Clients using more than 200K each on average.
        let replicas = 0
        bigClientBuffers = mh.clientsNormal / max(1, s.clientCount - replicas) > 200 * 1024
        // Replica buffers above 10 MB (7.0 compares the total, the text says per replica).
        bigReplicaBuffers = replicas > 0 && mh.clientsReplicas > 10 * mb
        manyScripts = s.scripting.cachedScriptCount > 1000
    }
    let issues = [empty, bigPeak, highFrag, highAllocFrag, highAllocRSS, highProcRSS, bigReplicaBuffers,
                  bigClientBuffers, manyScripts].filter { $0 }.count
    if issues == 0 {
        return "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n"
    }
    if empty {
        return "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n"
    }
    var report = "Sam, I detected a few issues in this Redis instance memory implants:\n\n"
    if bigPeak {
        report += " * Peak memory: In the past this instance used more than 150% the memory that is currently using. The allocator is normally not able to release memory after a peak, so you can expect to see a big fragmentation ratio, however this is actually harmless and is only due to the memory peak, and if the Redis instance Resident Set Size (RSS) is currently bigger than expected, the memory will be used as soon as you fill the Redis instance with more data. If the memory peak was only occasional and you want to try to reclaim memory, please try the MEMORY PURGE command, otherwise the only other option is to shutdown and restart the instance.\n\n"
    }
    if highFrag {
        report += " * High total RSS: This instance has a memory fragmentation and RSS overhead greater than 1.4 (this means that the Resident Set Size of the Redis process is much larger than the sum of the logical allocations Redis performed). This problem is usually due either to a large peak memory (check if there is a peak memory entry above in the report) or may result from a workload that causes the allocator to fragment memory a lot. If the problem is a large peak memory, then there is no issue. Otherwise, make sure you are using the Jemalloc allocator and not the default libc malloc. Note: The currently used allocator is \"libc\".\n\n"
    }
    if highAllocFrag {
        report += " * High allocator fragmentation: This instance has an allocator external fragmentation greater than 1.1. This problem is usually due either to a large peak memory (check if there is a peak memory entry above in the report) or may result from a workload that causes the allocator to fragment memory a lot. You can try enabling 'activedefrag' config option.\n\n"
    }
    if highAllocRSS {
        report += " * High allocator RSS overhead: This instance has an RSS memory overhead is greater than 1.1 (this means that the Resident Set Size of the allocator is much larger than the sum what the allocator actually holds). This problem is usually due to a large peak memory (check if there is a peak memory entry above in the report), you can try the MEMORY PURGE command to reclaim it.\n\n"
    }
    if highProcRSS {
        report += " * High process RSS overhead: This instance has non-allocator RSS memory overhead is greater than 1.1 (this means that the Resident Set Size of the Redis process is much larger than the RSS the allocator holds). This problem may be due to Lua scripts or Modules.\n\n"
    }
    if bigReplicaBuffers {
        report += " * Big replica buffers: The replica output buffers in this instance are greater than 10MB for each replica (on average). This likely means that there is some replica instance that is struggling receiving data, either because it is too slow or because of networking issues. As a result, data piles on the master output buffers. Please try to identify what replica is not receiving data correctly and why. You can use the INFO output in order to check the replicas delays and the CLIENT LIST command to check the output buffers of each replica.\n\n"
    }
    if bigClientBuffers {
        report += " * Big client buffers: The clients output buffers in this instance are greater than 200K per client (on average). This may result from different causes, like Pub/Sub clients subscribed to channels bot not receiving data fast enough, so that data piles on the Redis instance output buffer, or clients sending commands with large replies or very large sequences of commands in the same pipeline. Please use the CLIENT LIST command in order to investigate the issue if it causes problems in your instance, or to understand better why certain clients are using a big amount of memory.\n\n"
    }
    if manyScripts {
        report += " * Many scripts: There seem to be many cached scripts in this instance (more than 1000). This may be because scripts are generated and `EVAL`ed, instead of being parameterized (with KEYS and ARGV), `SCRIPT LOAD`ed and `EVALSHA`ed. Unless `SCRIPT FLUSH` is called periodically, the scripts' caches may end up consuming most of your memory.\n\n"
    }
    report += "I'm here to keep you safe, Sam. I want to help you.\n"
    return report
}

/// glibc keeps freed memory in its arenas; malloc_trim gives what it can back to the system, which is what
/// jemalloc's purge does for Redis. A Redis built with libc answers +OK without doing anything.
private func memoryPurge(_ c: Client) {
    _ = cs_malloc_trim()
    c.reply.ok()
}

/// Redis answers this text when it is not built with jemalloc.
private func memoryMallocStats(_ c: Client) {
    c.reply.bulk("Stats not supported for the current allocator")
}

private func memoryHelp(_ c: Client) {
    replyHelp(c, "MEMORY", [
        "DOCTOR",
        "    Return memory problems reports.",
        "MALLOC-STATS",
        "    Return internal statistics report from the memory allocator.",
        "PURGE",
        "    Attempt to purge dirty pages for reclamation by the allocator.",
        "STATS",
        "    Return information about the memory usage of the server.",
        "USAGE <key> [SAMPLES <count>]",
        "    Return memory in bytes used by <key> and its value. Nested values are",
        "    sampled up to <count> times (default: 5, 0 means sample all).",
    ])
}
