import CSystem

// Where the memory goes: Redis's getMemoryOverheadData (object.c), computed once for INFO memory, MEMORY STATS
// and MEMORY DOCTOR.
//
// used_memory (`Server.usedMemory`, the allocation counter) is split as Redis splits it:
//
//     used_memory = overhead + dataset
//     overhead    = startup + replication backlog + replica and normal client buffers + cluster links
//                   + AOF buffer + script caches (EVAL scripts, function libraries)
//                   + for each database holding keys: its main table's and its expires table's overhead
//
// and `dataset` is what is left: keys and values. Each part, for our structures:
//
// - startup: used_memory when the server finished starting, before it loads the dataset (Redis's
//   initial_memory_usage, set in InitServerLast): the Swift runtime, the command table, the two Lua VMs.
// - replication backlog, replica buffers, cluster links: 0 (no replication or cluster yet).
// - clients: Server/ClientMemory.swift's running totals by client type (each client's cost as Redis's
//   getClientMemoryUsage: buffers, parser storage, the client's objects, MULTI queue, subscriptions...).
// - AOF buffer: the capacity of the AOF's RESP buffer while AOF is on (Redis: sdsZmallocSize(aof_buf)).
// - script caches: the bodies of cached EVAL scripts and of function libraries, as INFO's
//   used_memory_scripts_eval and used_memory_functions. The Lua VMs themselves are not overhead in Redis
//   7.0 (their heap is outside zmalloc's counter there); here they allocate through the counted malloc, so
//   their idle size is part of `startup` and what they grow by later is part of `dataset` (as in Redis 7.4,
//   which moved the VMs into used_memory).
// - main table: `HashTable.overheadBytes`: bucket arrays, chunk directory, free or never-used pool slots,
//   and in each entry the 8-byte link+hash and the keyspace's 8 bytes of per-key metadata (string hint,
//   LRU/LFU stamp, snapshot epoch). The entry's key field (24 bytes: short keys inline) and value field
//   (24 bytes: short strings inline, else a reference) are dataset. Redis counts here the dictEntry
//   (24 bytes), the bucket pointer (8) and the robj header (16) of each key.
// - expires table: all of it (`allocatedBytes`): an entry holds the key again (inline, or a reference to
//   the same heap bytes) and the deadline, pure bookkeeping, as Redis counts the whole dictEntry.
//
// ALLOCATOR FIELDS. Redis reads allocated / active / resident from jemalloc; a Redis built with libc fakes
// them (active = resident = RSS minus the Lua VM, allocated = used_memory). With glibc we can say more,
// from mallinfo2 (which walks the arenas, so only INFO and MEMORY read it, never the loop):
//   allocator.allocated = used_memory (our counter's usable sizes, plus the pages the keyspace maps itself)
//   allocator.active    = what glibc holds from the kernel (every arena, in-use and free chunks alike, and
//                         its mapped blocks) plus the keyspace's own mapped pages; active - allocated is the
//                         free memory inside malloc's arenas (what MEMORY PURGE may give back), as jemalloc's
//                         active - allocated is its external fragmentation.
//   allocator.resident  = active, capped at RSS: glibc cannot tell which of its pages are resident (it never
//                         decommits inside a heap, so nearly all are), so allocator-rss is 1 / 0 bytes, and
//   rss-overhead        = RSS beyond the allocator: code, libraries, thread stacks.
// fragmentation (mem_fragmentation_ratio) is RSS / used_memory, as in Redis.
//
// PEAK. Redis samples stat_peak_memory in the cron and after every command (call()). Here `MemoryTracker`
// samples it in the cron and once per loop iteration, after the iteration's commands and before their
// replies are written (one relaxed atomic load when the allocator counter runs), and INFO raises it to
// the current value as Redis's INFO does. Like Redis, CONFIG RESETSTAT leaves it.

/// used_memory at start-up and its peak (Redis's server.initial_memory_usage and stat_peak_memory).
final class MemoryTracker {
    private(set) var startup = 0
    private(set) var peak = 0
    /// How used_memory is measured: the server sets its own (`Server.usedMemory`, less the keyspace's free slots).
    var measure: () -> Int = { Int(cs_used_memory()) }

    init() { recordStartup() }

    /// The server finished starting: what is allocated now is start-up memory.
    func recordStartup() {
        startup = measure()
        peak = max(peak, startup)
    }

    func samplePeak() {
        let used = measure()
        if used > peak { peak = used }
    }

    /// From the loop, every iteration: only when used_memory is a counter load (the server executable);
    /// processes without the counter (tests running a server in process) rely on the cron's sample.
    @inline(__always) func samplePeakIfCheap() {
        if cs_heap_counting != 0 { samplePeak() }
    }
}

/// Redis's struct redisMemOverhead, filled by `init(_ server:)` (getMemoryOverheadData).
struct MemoryOverhead {
    struct DatabaseOverhead {
        let index: Int
        let main: Int
        let expires: Int
    }

    var totalAllocated = 0
    var startupAllocated = 0
    var peakAllocated = 0
    var replicationBacklog = 0
    var clientsReplicas = 0
    var clientsNormal = 0
    var clusterLinks = 0
    var aofBuffer = 0
    var luaCaches = 0
    var functionsCaches = 0
    var databases: [DatabaseOverhead] = []
    var overheadTotal = 0
    var totalKeys = 0
    var dataset = 0
    var bytesPerKey = 0
    var datasetPercent: Float = 0
    var peakPercent: Float = 0

    /// The process's resident set and the allocator's view of it (see the header).
    var rss = 0
    var allocatorAllocated = 0
    var allocatorActive = 0
    var allocatorResident = 0

    init(_ s: Server) {
        let used = s.usedMemory
        totalAllocated = used
        startupAllocated = s.memory.startup
        peakAllocated = max(s.memory.peak, 1)
        var total = startupAllocated

        replicationBacklog = s.replication.backlog?.memory ?? 0
        clientsReplicas = s.clientsMemory(normal: false)  // Server/ClientMemory.swift's running totals
        clientsNormal = s.clientsMemory(normal: true)
        total += replicationBacklog + clientsReplicas
        total += clientsNormal + clusterLinks
        aofBuffer = Self.aofBufferMemory(s)
        total += aofBuffer
        luaCaches = s.scripting.scriptsMemory
        functionsCaches = s.scripting.librariesMemory
        total += luaCaches + functionsCaches

        for db in s.databases where db.count > 0 {
            let (keys, expires) = db.tables
            let entry = DatabaseOverhead(index: db.index, main: keys.overheadBytes(valueBytes: MemoryLayout<Value>.size),
                                         expires: expires.allocatedBytes)
            databases.append(entry)
            totalKeys += db.count
            total += entry.main + entry.expires
        }

        overheadTotal = total
        // Redis's size_t subtraction would wrap if start-up memory were freed below its level; 0 is the honest floor.
        dataset = max(0, used - total)
        peakPercent = Float(used) * 100 / Float(peakAllocated)
        let netUsage = used > startupAllocated ? used - startupAllocated : 1
        datasetPercent = Float(dataset) * 100 / Float(netUsage)
        bytesPerKey = totalKeys > 0 ? netUsage / totalKeys : 0

        rss = Int(cs_rss_bytes())
        allocatorAllocated = used
        allocatorActive = Int(cs_malloc_heap_bytes()) + Int(cs_mapped_bytes_load())
        allocatorResident = rss > 0 ? min(allocatorActive, rss) : allocatorActive
    }

    // The ratios and differences Redis derives (as floats, which MEMORY STATS prints with %.17g).
    var allocatorFragRatio: Float { Float(allocatorActive) / Float(max(allocatorAllocated, 1)) }
    var allocatorFragBytes: Int { allocatorActive - allocatorAllocated }
    var allocatorRSSRatio: Float { Float(allocatorResident) / Float(max(allocatorActive, 1)) }
    var allocatorRSSBytes: Int { allocatorResident - allocatorActive }
    var rssOverheadRatio: Float { Float(rss) / Float(max(allocatorResident, 1)) }
    var rssOverheadBytes: Int { rss - allocatorResident }
    var fragmentationRatio: Float { Float(rss) / Float(max(totalAllocated, 1)) }
    var fragmentationBytes: Int { rss - totalAllocated }


    /// The AOF's buffer while AOF is on (Redis: sdsZmallocSize(server.aof_buf)).
    static func aofBufferMemory(_ s: Server) -> Int {
        s.aof.isOn ? s.aof.buffer.capacity : 0
    }

    /// Memory that maxmemory does not count against the dataset (Redis's freeMemoryGetNotCountedMemory, INFO
    /// mem_not_counted_for_evict): buffers that grow because of writes, so evicting to make room for them
    /// would feed itself. The AOF buffer and the replicas' output buffers (with what their full syncs hold
    /// back for them).
    static func notCountedForEviction(_ s: Server) -> Int {
        var replicas = 0
        for c in s.replication.replicas {
            replicas += c.output.capacity + (c.replica?.pending.capacity ?? 0)
        }
        return aofBufferMemory(s) + replicas
    }
}
