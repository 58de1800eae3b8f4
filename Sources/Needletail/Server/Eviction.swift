import CSystem
import Glibc

// maxmemory: keeping the dataset under a memory limit by evicting keys (Redis's evict.c).
//
// WHEN — before every command while `maxmemory` is set (`commandToRun`), and from a timer while an eviction
// that ran out of time has more to do. `performEvictions` compares `used_memory` (the allocation counter,
// Sources/CAllocator, minus what Redis does not count: the AOF buffer, and values waiting for the lazyfree
// worker) with the limit and evicts until it is under. Under `noeviction`, or when nothing can be evicted,
// it fails, and `commandToRun` refuses the commands flagged denyoom (and anything queued in MULTI, and
// scripts declared without allow-oom) with Redis's -OOM error.
//
// WHICH KEY — the policy's, as Redis:
// - allkeys-/volatile-random: a uniformly random key of the next database (round-robin), from the keys table
//   or from the table of keys with a TTL.
// - LRU, LFU and TTL: Redis's approximation with an eviction pool. Each round samples `maxmemory-samples`
//   keys of every non-empty database (all keys, or those with a TTL for volatile-*), scores them
//   (idle time; 255 minus the decayed LFU counter; the nearest expiry time first) and merges them into a pool
//   of the 16 best candidates seen so far, kept across rounds, sorted by score. The best candidate still
//   stored is evicted. With 5 samples this is close to true LRU at a fraction of its cost; the pool is what
//   makes it so, since good candidates from earlier rounds are not forgotten.
//   Our sampling draws independent uniform entries (HashTable.forEachSample), where Redis's dictGetSomeKeys
//   takes neighbours from consecutive buckets.
//
// HOW — an evicted key leaves through `Database.evict`, the keyspace's write path with reason `.evicted`:
// WATCH is invalidated, the `evicted` notification published, DEL (UNLINK with lazyfree-lazy-eviction)
// propagated to the AOF and replicas, tracking invalidated, `evicted_keys` counted. Big values go to the
// lazyfree worker (as every deletion here), so evicting a huge key costs the loop O(1); the bytes it will
// free count as freed at once (`LazyFree.pendingBytes`), so the loop does not over-evict while the worker
// catches up.
//
// HOW LONG — at most `maxmemory-eviction-tenacity`'s time slice per call (Redis's evictionTimeLimitUs:
// 50 µs x tenacity up to 10, growing 15% per step above, unlimited at 100), checked every 16 keys. When time
// runs out with memory still over, a timer continues in the next loop iterations and commands are not refused
// meanwhile (EVICT_RUNNING): a burst of writes far over the limit never stalls the server.

/// The eviction engine's state (Redis's EvictionPoolLRU and its statics).
final class Eviction {
    enum Policy: Equatable {
        case noEviction
        case random(volatile: Bool)
        /// LRU, LFU or TTL through the eviction pool (the access clock says LRU or LFU).
        case pool(volatile: Bool, ttl: Bool)

        init(_ name: String) {
            switch name {
            case "allkeys-lru", "allkeys-lfu": self = .pool(volatile: false, ttl: false)
            case "volatile-lru", "volatile-lfu": self = .pool(volatile: true, ttl: false)
            case "volatile-ttl": self = .pool(volatile: true, ttl: true)
            case "allkeys-random": self = .random(volatile: false)
            case "volatile-random": self = .random(volatile: true)
            default: self = .noEviction
            }
        }
    }

    enum Result { case ok, running, fail }

    struct Candidate {
        var score: UInt64
        var key: ByteString
        var db: Int
    }

    /// Redis's EVPOOL_SIZE.
    static let poolSize = 16

    var policy = Policy.noEviction
    /// `maxmemory` in bytes; 0 is no limit.
    @exclusivity(unchecked) var limit = 0
    var samples = 5
    var tenacity = 10
    /// Candidates by ascending score: the best is last.
    private(set) var pool: [Candidate] = []
    /// The database allkeys-/volatile-random draws from next (Redis's static `next_db`).
    var nextRandomDB = 0
    /// The timer that continues an eviction that ran out of time (Redis's isEvictionProcRunning).
    var timer: TimerHandle?
    var random = FastRandom()
    /// Since when memory has been over the limit (monotonic µs, 0: not over), and the total time it was,
    /// for INFO's current_/total_eviction_exceeded_time.
    var exceededSince: Int64 = 0
    var exceededTotalMicros: Int64 = 0

    init() { pool.reserveCapacity(Eviction.poolSize) }

    /// Redis's evictionTimeLimitUs.
    var timeLimitMicros: Int64 {
        if tenacity <= 10 { return 50 * Int64(tenacity) }
        if tenacity < 100 { return Int64(500.0 * Glibc.pow(1.15, Double(tenacity - 10))) }
        return Int64.max
    }

    /// Merges a sampled key into the pool (Redis's evictionPoolPopulate insertion): ignored when the pool is
    /// full and the key scores below all of it. A key sampled twice may sit in the pool twice, as in Redis:
    /// the second is a ghost by the time it is popped.
    func offer(score: UInt64, key: ByteString, db: Int) {
        if pool.count == Eviction.poolSize && score < pool[0].score { return }
        var i = pool.count
        while i > 0 && pool[i - 1].score > score { i -= 1 }
        if pool.count == Eviction.poolSize {
            if i == 0 { return }
            pool.remove(at: 0)  // the worst goes to make room
            i -= 1
        }
        pool.insert(Candidate(score: score, key: key, db: db), at: i)
    }

    func popBest() -> Candidate? { pool.popLast() }

    /// Forgets the candidates (FLUSHALL, a policy change): they would only be ghosts.
    func clearPool() { pool.removeAll(keepingCapacity: true) }
}

extension Server {
    /// Applies the eviction settings (at start and on CONFIG SET of any of them).
    func updateEvictionConfig() {
        let policy = Eviction.Policy(config.maxmemoryPolicy)
        if policy != eviction.policy { eviction.clearPool() }
        eviction.policy = policy
        eviction.limit = config.maxmemory
        eviction.samples = max(1, config.maxmemorySamples)
        eviction.tenacity = config.maxmemoryEvictionTenacity
        keyspace.access.lfu = config.maxmemoryPolicy.hasSuffix("-lfu")
        keyspace.access.lfuLogFactor = config.lfuLogFactor
        keyspace.access.lfuDecayMinutes = config.lfuDecayTime
        keyspace.access.update(nowMillis: wallClockMillis())
    }

    /// CONFIG SET maxmemory below what is used: warn as Redis does, and start freeing memory now.
    func maxmemoryDidChange() {
        updateEvictionConfig()
        guard eviction.limit > 0 else { return }
        if usedMemory > eviction.limit {
            log.warning("WARNING: the new maxmemory value set via CONFIG SET (\(eviction.limit)) is smaller than the current memory usage (\(usedMemory)). This will result in key eviction and/or the inability to accept new write commands depending on the maxmemory-policy.")
        }
        startEvictionTimer()
    }

    /// Bytes over the limit, nil when within it (Redis's getMaxmemoryState): what Redis does not count
    /// (the AOF buffer) and what the lazyfree worker is about to free are left out.
    func memoryToFree() -> Int? {
        // The allocation counter alone first: one load when under the limit (the common case).
        guard Int(cs_used_memory()) > eviction.limit else { return nil }
        let counted = usedMemory - MemoryOverhead.notCountedForEviction(self) - lazyFree.pendingBytes
        return counted > eviction.limit ? counted - eviction.limit : nil
    }

    /// Redis's isSafeToPerformEvictions: not while loading or inside a busy script, and not while clients
    /// are paused (the dataset must stand still, as for expiry).
    private var evictionIsSafe: Bool { !rdb.loading && !scriptBusy && !keyspace.expiryPaused }

    /// Redis's performEvictions: evicts keys until memory is under the limit or the time slice is spent.
    /// `.fail` when memory is over and nothing more can be evicted (or the policy is noeviction).
    @discardableResult func performEvictions() -> Eviction.Result {
        guard evictionIsSafe else { return .ok }
        // A replica leaves eviction to its master (replica-ignore-maxmemory, the default).
        if replication.isReplica && config.value(of: "replica-ignore-maxmemory") != "no" { return .ok }
        guard let toFree = memoryToFree() else {
            noteEvictionResult(.ok)
            return .ok
        }
        var result = Eviction.Result.fail
        if eviction.policy != .noEviction {
            let limit = eviction.timeLimitMicros
            let start = monotonicMicros()
            var freed = 0, evicted = 0
            result = .ok
            while freed < toFree {
                // What the key gives back: to the allocator, as free slots of its table, or to the worker.
                let allocated = Int(cs_used_memory()), pending = lazyFree.pendingBytes
                var slack = 0
                let deleteStarted = config.latencyMonitorThreshold > 0 ? monotonicMicros() : 0
                guard let db = evictNextVictim(slackBefore: &slack) else {
                    result = .fail
                    break
                }
                if deleteStarted != 0 { addLatencySample("eviction-del", milliseconds: (monotonicMicros() - deleteStarted) / 1000) }
                freed += max(0, allocated - Int(cs_used_memory()) + db.slackBytes - slack + lazyFree.pendingBytes - pending)
                evicted += 1
                if evicted % 16 == 0 {
                    if memoryToFree() == nil { break }
                    if monotonicMicros() - start > limit {
                        startEvictionTimer()
                        break
                    }
                }
            }
            if result == .ok && eviction.timer != nil { result = .running }
            addLatencySample("eviction-cycle", milliseconds: (monotonicMicros() - start) / 1000)
        }
        noteEvictionResult(result)
        return result
    }

    private func noteEvictionResult(_ result: Eviction.Result) {
        if result == .ok {
            if eviction.exceededSince != 0 {
                eviction.exceededTotalMicros += monotonicMicros() - eviction.exceededSince
                eviction.exceededSince = 0
            }
        } else if eviction.exceededSince == 0 {
            eviction.exceededSince = monotonicMicros()
        }
    }

    /// INFO stats' total_eviction_exceeded_time and current_eviction_exceeded_time, in milliseconds.
    var evictionExceededMillis: (total: Int64, current: Int64) {
        let current = eviction.exceededSince == 0 ? 0 : monotonicMicros() - eviction.exceededSince
        return ((eviction.exceededTotalMicros + current) / 1000, current / 1000)
    }

    /// Continues an eviction in the next loop iterations (Redis's startEvictionTimeProc).
    func startEvictionTimer() {
        guard eviction.timer == nil else { return }
        eviction.timer = timers.schedule(after: 0, .evictionContinue)
    }

    /// The eviction timer fired: another time slice, and again while it runs out of time.
    func evictionTimerFired() {
        eviction.timer = nil
        if eviction.limit > 0 && performEvictions() == .running { startEvictionTimer() }
    }

    /// Evicts the key the policy picks (Redis's bestkey search, then the deletion); returns its database
    /// (whose free slots before the deletion are in `slackBefore`), nil when nothing can be evicted.
    private func evictNextVictim(slackBefore: inout Int) -> Database? {
        switch eviction.policy {
        case .noEviction:
            return nil
        case .random(let volatile):
            for _ in 0..<databases.count {
                let db = databases[eviction.nextRandomDB % databases.count]
                eviction.nextRandomDB = (eviction.nextRandomDB + 1) % databases.count
                if let key = db.randomKeyForEviction(volatile: volatile, using: &eviction.random) {
                    slackBefore = db.slackBytes
                    db.evict(key)
                    return db
                }
            }
            return nil
        case .pool(let volatile, let ttl):
            while true {
                var anyKeys = false
                for db in databases where (volatile ? db.expiresCount : db.count) > 0 {
                    anyKeys = true
                    db.sampleForEviction(count: eviction.samples, volatile: volatile, ttl: ttl,
                                         using: &eviction.random) { score, key in
                        eviction.offer(score: score, key: key, db: db.index)
                    }
                }
                guard anyKeys else { return nil }
                // The best candidate still stored (still with a TTL for volatile-*); ghosts, deleted since
                // they were sampled, are dropped.
                while let best = eviction.popBest() {
                    let db = databases[best.db]
                    if volatile && db.expireTime(best.key) == nil { continue }
                    slackBefore = db.slackBytes
                    if db.evict(best.key) { return db }
                }
            }
        }
    }
}

extension Database {
    /// Removes a key to free memory: counted in `evicted_keys`, reported as `.deleted(.evicted)` with the
    /// `evicted` notification (Server/Eviction.swift).
    /// Returns false when the key is not stored.
    @discardableResult func evict(_ key: ByteString) -> Bool {
        guard remove(key, reason: .evicted, event: .evicted) else { return false }
        events.evictedKeys += 1
        return true
    }

    /// Samples `count` stored keys (those with a TTL when `volatile`) for the eviction pool, with their
    /// score: the nearest expiry first when `ttl`, else the access clock's (idle time or 255 - LFU counter).
    func sampleForEviction<G: RandomNumberGenerator>(count: Int, volatile: Bool, ttl: Bool, using generator: inout G,
                                                     _ body: (UInt64, ByteString) -> Void) {
        let clock = events.access
        if volatile {
            expires.forEachSample(count: count, using: &generator) { key, when in
                if ttl {
                    body(UInt64.max - UInt64(bitPattern: when), key)
                } else if let stamp = key.withUnsafeBytes({ accessStamp($0) }) {
                    body(clock.evictionScore(stamp), key)
                }
            }
        } else {
            keys.forEachSample(count: count, using: &generator) { key, entry in
                body(clock.evictionScore(entry.access), key)
            }
        }
    }

    /// A uniformly random stored key (with a TTL when `volatile`) for the random policies.
    func randomKeyForEviction<G: RandomNumberGenerator>(volatile: Bool, using generator: inout G) -> ByteString? {
        volatile ? expires.randomElement(using: &generator)?.key : keys.randomElement(using: &generator)?.key
    }
}
