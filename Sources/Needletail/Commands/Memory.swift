import CSystem

/// MEMORY (Redis's memoryCommand in object.c): USAGE of a key, HELP, and the allocator subcommands that
/// have a truthful answer with glibc's malloc, given as a Redis built without jemalloc gives them: PURGE
/// (malloc_trim, +OK) and MALLOC-STATS (no statistics for this allocator). STATS and DOCTOR are not
/// implemented yet (they need the memory overhead accounting of INFO memory); they answer Redis's
/// unknown-subcommand error, as would any other name.
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
