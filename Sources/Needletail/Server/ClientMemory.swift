import CSystem

/// Clients' memory: what each client costs, the totals INFO reports, and client eviction
/// (`maxmemory-clients`). Redis 7.0's getClientMemoryUsage, updateClientMemUsage, getClientEvictionLimit
/// and evictClients (networking.c, server.c).
///
/// WHAT A CLIENT COSTS (`Client.memoryUsage`, CLIENT LIST `tot-mem`). What its allocations really take:
/// the query buffer's and the reply buffer's capacity, the parser's span array and inline storage, the
/// Client object and the objects it owns (measured once with malloc_usable_size), MULTI's queue, and
/// estimates for its watched keys, subscriptions and tracking prefixes (per-entry costs below; the
/// server-wide indexes those live in are not per client, as in Redis). Arguments are spans into the query
/// buffer, not copies, so they cost nothing beyond it. Computing it is O(1): a dozen loads.
///
/// CLIENT LIST'S FIELDS. Redis has a 16 KB static reply buffer (`buf`) plus a list of reply blocks; we have
/// one contiguous buffer. Its pending bytes are reported as if their first 16 KB were Redis's static buffer
/// and the rest its list:
/// - `obl`: pending reply bytes within the first 16 KB (min(pending, 16 KB));
/// - `oll`: the 16 KB blocks the rest would fill (ceil((pending - 16 KB) / 16 KB));
/// - `omem`: the pending bytes beyond the first 16 KB (Redis's getClientOutputBufferMemoryUsage, which
///   leaves its static buffer out). It is also what `client-output-buffer-limit` compares, as in Redis,
///   so replies that fit in 16 KB never count against a limit. Redis's count adds its allocator's rounding
///   of each block (a 16 KB block takes 20 KB with jemalloc), so a limit within a block of the pending bytes
///   may trigger a little earlier there. The buffer's spare capacity is not in `omem` but is in `tot-mem`.
/// - `qbuf`: query buffer bytes not yet parsed into arguments (Redis moves parsed arguments out of its query
///   buffer into argv); the running client's own request counts, as Redis trims only after it ran.
///   `qbuf-free`: the room left after them. `argv-mem`: the current (or half-received) request's argument
///   lengths. `multi-mem`: MULTI's queued arguments and their spans.
///
/// TOTALS (Redis's stat_clients_type_memory). Each connection's cost is added to its type's total and
/// remembered (`Client.lastMemoryUsage`); `updateClientMemoryUsage` replaces it with a new measure where
/// Redis does: after each request while client eviction is on, after each batch of requests read, after
/// writing to the client, in the cron (every client at least once a second), and closing removes it. So the
/// totals are not instantaneous but never older than a second. INFO's `mem_clients_normal` and
/// `mem_clients_slaves` are `clientsMemory(normal:)`.
///
/// EVICTION. Evictable clients (normal and pubsub ones, not CLIENT NO-EVICT ones, as Redis's
/// clientEvictionAllowed; replicas and the master once they exist) are also listed in buckets by the power
/// of two of their memory (32 KB and less, 64 KB, ..., 8 GB and more: Redis's buckets): moving a client
/// costs O(1) (swap-remove from an array, the slot kept in the client), and the biggest clients are found
/// without looking at the others. While the normal and pubsub totals together (no-evict clients included,
/// as in Redis) reach the limit, `evictClients` closes the clients of the highest non-empty bucket, logging
/// each as Redis does and counting INFO's `evicted_clients`; once no evictable client is left it logs
/// Redis's warning and stops. It runs where Redis runs it: before each command (`commandToRun`; a client
/// that evicts itself gets no reply) and before the loop sleeps. The limit is `maxmemory-clients` bytes, or
/// a percentage of `maxmemory` (off while maxmemory is 0), never under 128 KB (Redis's floor, so that a
/// tiny setting cannot cut every connection); 0 turns eviction off.
///
/// QUERY BUFFER LIMIT. `client-query-buffer-limit` counts `qbuf` (unparsed bytes), checked after each read
/// and before the bytes are parsed; masters are exempt (once replication exists), as in Redis.

/// Redis's PROTO_REPLY_CHUNK_BYTES: its static reply buffer, and the blocks of its reply list.
let replyChunkBytes = 16 * 1024

/// Estimated costs of the per-client structures that are not one allocation of known size.
enum ClientMemoryCosts {
    /// A watched key: its WatchedKey object (key, db, client) and its slots in two arrays.
    static let watchedKey = 80
    /// A channel or shard channel in the client's Set (a 24-byte name at a load factor of 3/4, metadata).
    static let channel = 40
    /// A pattern in the client's array.
    static let pattern = 24
    /// Client tracking's state object, and each BCAST prefix in it.
    static let tracking = 64
    static let trackingPrefix = 24
}

/// Redis's CLIENT_MEM_USAGE_BUCKET_MIN_LOG and _MAX_LOG: buckets of 2^15 (32 KB) ... 2^33 (8 GB) bytes.
private let bucketMinLog = 15
private let bucketMaxLog = 33

/// The server's record of its clients' memory: totals by type and the eviction buckets.
final class ClientMemoryIndex {
    /// Memory of the connections of each type, as last measured (indexed by `ClientType.rawValue`).
    @exclusivity(unchecked) var byType = [Int](repeating: 0, count: ClientType.allCases.count)
    /// Evictable clients by the power of two of their memory (index 0: 32 KB and less).
    @exclusivity(unchecked) var buckets: [[Client]] = Array(repeating: [], count: bucketMaxLog - bucketMinLog + 1)
    /// The eviction threshold in bytes, 0 while client eviction is off (Redis's getClientEvictionLimit,
    /// kept by `updateClientEvictionLimit`).
    @exclusivity(unchecked) var evictionLimit = 0
    /// The fd slot where the cron's visit of clients resumes.
    var cronCursor = 0

    /// The bucket of a client taking `memory` bytes (Redis's getMemUsageBucket).
    static func bucket(for memory: Int) -> Int {
        let log = memory > 0 ? Int.bitWidth - memory.leadingZeroBitCount : 0
        return min(max(log, bucketMinLog), bucketMaxLog) - bucketMinLog
    }
}

/// The bytes malloc gave a Swift object (its header and stored properties, plus rounding).
func heapObjectSize(_ object: AnyObject) -> Int {
    cs_malloc_usable_size(Unmanaged.passUnretained(object).toOpaque())
}

extension Client {
    /// What the Client object and the objects it always owns take (measured once, at creation).
    func measureObjectMemory() -> Int {
        heapObjectSize(self) + heapObjectSize(input) + heapObjectSize(output) + parser.objectBytes(heapObjectSize)
    }

    /// The client's memory (CLIENT LIST `tot-mem`; see the file header). O(1): a few loads in the common case
    /// (no MULTI, WATCH, subscription or tracking), as it is measured after every batch of requests.
    @inline(__always) var memoryUsage: Int {
        let total = objectMemory &+ input.capacity &+ output.capacity &+ parser.allocatedBytes
        if transaction == nil && watchedKeys.isEmpty && subscriptions == nil && tracking == nil { return total }
        return total &+ stateMemory
    }

    /// What MULTI's queue, watched keys, subscriptions and tracking take.
    @inline(never) private var stateMemory: Int {
        var total = watchedKeys.count * ClientMemoryCosts.watchedKey
        if let queue = transaction { total += queue.memory }
        if let s = subscriptions {
            total += (s.channels.count + s.shardChannels.count) * ClientMemoryCosts.channel
                + s.patterns.count * ClientMemoryCosts.pattern
        }
        if let t = tracking { total += ClientMemoryCosts.tracking + t.prefixes.count * ClientMemoryCosts.trackingPrefix }
        return total
    }

    /// CLIENT LIST `qbuf`: query buffer bytes not parsed into arguments yet (what the query buffer limit counts).
    var queryBufferLength: Int { input.readableBytes - parser.parsedBytesOfPartialRequest }

    /// CLIENT LIST `obl`: pending reply bytes within the first 16 KB (Redis's static reply buffer).
    var outputBufferHead: Int { min(output.readableBytes, replyChunkBytes) }

    /// CLIENT LIST `oll`: the 16 KB blocks the pending replies beyond the first 16 KB fill.
    var outputBlocks: Int { (outputBufferMemory + replyChunkBytes - 1) / replyChunkBytes }

    /// CLIENT LIST `omem`, and what `client-output-buffer-limit` compares: pending reply bytes beyond the
    /// first 16 KB (Redis's getClientOutputBufferMemoryUsage).
    var outputBufferMemory: Int { max(0, output.readableBytes - replyChunkBytes) }

    /// Whether `maxmemory-clients` may close this client (Redis's clientEvictionAllowed, limit aside).
    @inline(__always) var isEvictable: Bool {
        if noEvict || linkPending { return false }
        let type = self.type
        return type == .normal || type == .pubsub
    }
}

extension Server {
    // MARK: - Totals

    /// Memory of the normal, pubsub and master clients (`normal: true`, INFO `mem_clients_normal`) or of the
    /// replicas (`normal: false`, `mem_clients_slaves`), as last measured (Redis's stat_clients_type_memory).
    func clientsMemory(normal: Bool) -> Int {
        let byType = clientMemory.byType
        return normal ? byType[ClientType.normal.rawValue] + byType[ClientType.pubsub.rawValue]
            + byType[ClientType.master.rawValue] : byType[ClientType.replica.rawValue]
    }

    /// Measures the client again and moves it between totals and buckets (Redis's updateClientMemUsage).
    /// Connections only: internal clients are not counted, as Redis counts no client without a connection.
    /// The common case, nothing changed, is a few loads and compares (it runs after every batch of requests).
    @inline(__always) func updateClientMemoryUsage(_ client: Client) {
        let memory = client.memoryUsage
        if memory == client.lastMemoryUsage && client.type == client.lastMemoryType
            && client.isEvictable == (client.memoryBucket >= 0) && !client.isClosed { return }
        recordClientMemory(client, memory)
    }

    @inline(never) private func recordClientMemory(_ client: Client, _ memory: Int) {
        if client.isClosed || client.kind != .connection { return }
        let type = client.type
        let bucket = client.isEvictable ? ClientMemoryIndex.bucket(for: memory) : -1
        if memory == client.lastMemoryUsage && type == client.lastMemoryType && bucket == client.memoryBucket { return }
        let index = clientMemory
        index.byType[client.lastMemoryType.rawValue] -= client.lastMemoryUsage
        index.byType[type.rawValue] += memory
        client.lastMemoryUsage = memory
        client.lastMemoryType = type
        if bucket != client.memoryBucket {
            removeFromMemoryBucket(client)
            if bucket >= 0 {
                client.memoryBucket = bucket
                client.memoryBucketSlot = index.buckets[bucket].count
                index.buckets[bucket].append(client)
            }
        }
    }

    /// Takes a closing client out of the totals and buckets.
    func forgetClientMemory(_ client: Client) {
        clientMemory.byType[client.lastMemoryType.rawValue] -= client.lastMemoryUsage
        client.lastMemoryUsage = 0
        removeFromMemoryBucket(client)
    }

    private func removeFromMemoryBucket(_ client: Client) {
        let bucket = client.memoryBucket
        if bucket < 0 { return }
        let index = clientMemory
        let slot = client.memoryBucketSlot
        let last = index.buckets[bucket].removeLast()
        if last !== client {
            index.buckets[bucket][slot] = last
            last.memoryBucketSlot = slot
        }
        client.memoryBucket = -1
    }

    // MARK: - Eviction

    /// Recomputes the eviction threshold from `maxmemory-clients` and `maxmemory` (Redis's
    /// getClientEvictionLimit): bytes, or a percentage of maxmemory (none without maxmemory), at least
    /// 128 KB; 0 when off.
    func updateClientEvictionLimit() {
        let setting = config.maxmemoryClients
        var limit: Int
        if setting < 0 && config.maxmemory > 0 {
            let bytes = Double(config.maxmemory) * Double(-setting) / 100
            limit = bytes >= Double(Int.max) ? Int.max : Int(bytes)
        } else if setting > 0 {
            limit = setting
        } else {
            limit = 0
        }
        if limit != 0 && limit < 128 * 1024 { limit = 128 * 1024 }
        clientMemory.evictionLimit = limit
    }

    /// While the normal and pubsub clients take the eviction limit or more, closes the evictable clients
    /// using the most memory (Redis's evictClients). A client running a script that lets others be served
    /// (protected) is passed over: closing it would pull its arguments from under the script.
    func evictClients() {
        let index = clientMemory
        let limit = index.evictionLimit
        if limit == 0 { return }
        var bucket = index.buckets.count - 1
        var slot = 0
        while index.byType[ClientType.normal.rawValue] + index.byType[ClientType.pubsub.rawValue] >= limit {
            if bucket < 0 {
                log.warning("Over client maxmemory after evicting all evictable clients")
                return
            }
            if slot >= index.buckets[bucket].count {
                bucket -= 1
                slot = 0
                continue
            }
            let client = index.buckets[bucket][slot]
            if client.isProtected {
                slot += 1
                continue
            }
            log.notice("Evicting client: \(clientInfoLine(client))")
            closeClient(client)  // swap-removes it: `slot` now holds another client, or is past the end
            stats.evictedClients += 1
        }
    }

    // MARK: - The clients cron

    /// Redis's clientsCron, `hz` times a second: visits enough clients that each is seen at least once a
    /// second (at least 5 per call), measuring its memory again, giving back the buffer space of a client
    /// idle for 2 seconds, and closing it if it has been over its soft output limit for too long (even if it
    /// sends nothing more).
    func clientsCron() {
        let slots = clientsByFD.count
        if clientCount == 0 || slots == 0 { return }
        var visits = max(clientCount / max(1, config.hz), min(clientCount, 5))
        let now = monotonicMillis()
        var fd = clientMemory.cronCursor
        var scanned = 0
        while visits > 0 && scanned < slots {
            if fd >= slots { fd = 0 }
            if let client = clientsByFD[fd] {
                visits -= 1
                resizeIdleBuffers(client, now: now)
                updateClientMemoryUsage(client)
                if client.outputBufferMemory > 0 || client.softLimitReachedAt != 0 {
                    checkOutputBuffer(client, fromCron: true)
                }
            }
            fd += 1
            scanned += 1
        }
        clientMemory.cronCursor = fd
        #if NEEDLETAIL_INVARIANTS
        checkClientMemoryInvariants()
        #endif
    }

    /// The totals are the sums of what was last added for each connection, and the buckets list exactly the
    /// connections recorded in them, each at its slot, in the bucket of its last measure. O(clients): debug
    /// builds run it from the cron.
    func checkClientMemoryInvariants() {
        let index = clientMemory
        var sums = [Int](repeating: 0, count: ClientType.allCases.count)
        var listed = 0
        for case let client? in clientsByFD {
            sums[client.lastMemoryType.rawValue] += client.lastMemoryUsage
            let bucket = client.memoryBucket
            if bucket < 0 { continue }
            listed += 1
            precondition(index.buckets[bucket][client.memoryBucketSlot] === client, "client \(client.id) not at its bucket slot")
            precondition(bucket == ClientMemoryIndex.bucket(for: client.lastMemoryUsage), "client \(client.id) in the wrong bucket")
        }
        precondition(sums == index.byType, "client memory totals \(index.byType) are not the sums \(sums)")
        precondition(listed == index.buckets.reduce(0) { $0 + $1.count }, "a bucket lists a client that is gone")
    }

    /// Redis's clientsCronResizeQueryBuffer / ResizeOutputBuffer, simplified: a client idle for more than
    /// 2 seconds with nothing pending gets its buffers back to their initial 16 KB (a big request or reply
    /// leaves them up to 1 MB).
    private func resizeIdleBuffers(_ client: Client, now: Int64) {
        if now - client.lastInteraction <= 2000 { return }
        if client.input.isEmpty && client.parser.isAtRequestStart && client.input.capacity > replyChunkBytes {
            client.input.clear(shrinkTo: replyChunkBytes)
        }
        if client.output.isEmpty && client.output.capacity > replyChunkBytes {
            client.output.clear(shrinkTo: replyChunkBytes)
        }
    }
}
