/// The keys' access stamps: how recently (LRU) or how often (LFU) each key was used, for OBJECT IDLETIME /
/// FREQ and for eviction (Server/Eviction.swift). Redis's evict.c, in the 24 bits `Database.Entry` keeps
/// for it (Redis keeps them in the object's `lru` field), with the same arithmetic, so the numbers clients
/// see (OBJECT FREQ, IDLETIME, DEBUG OBJECT's lru) mean what they mean in Redis.
///
/// - LRU (every policy but the *-lfu ones): the stamp is the LRU clock when the key was last accessed,
///   seconds modulo 2^24 (Redis's LRU_CLOCK, 1000 ms resolution, wrapping every 194 days). The idle time is
///   the clock's distance from the stamp, accounting for one wrap.
/// - LFU: the high 16 bits are the minute of the last decrement (Unix minutes modulo 2^16), the low 8 bits a
///   logarithmic access counter. New keys start at 5 (LFU_INIT_VAL) so they are not evicted before they had
///   a chance to be used; an access first decays the counter by one per `lfu-decay-time` minutes elapsed, then
///   increments it with probability 1 / ((counter - 5) * lfu-log-factor + 1), so 255 means about a million
///   accesses at the default factor 10.
///
/// The clocks are read from `lruClock`/`minutes`, refreshed by the server (cron and before each command
/// batch), so a lookup pays no clock read: the same trade Redis makes with its cached `server.lruclock`.
struct AccessClock {
    /// Redis's LRU_BITS and LRU_CLOCK_RESOLUTION.
    static let lruClockMax: UInt32 = (1 << 24) - 1
    static let lruResolutionMillis: Int64 = 1000
    /// Redis's LFU_INIT_VAL: the counter of a new key.
    static let lfuInitial: UInt32 = 5

    /// Whether the maxmemory policy is an LFU one: stamps are LFU stamps, otherwise LRU stamps.
    var lfu = false
    /// `lfu-log-factor` and `lfu-decay-time` (minutes per decrement; 0: no decay).
    var lfuLogFactor = 10
    var lfuDecayMinutes = 1
    /// The current LRU clock (seconds modulo 2^24) and LFU minute (minutes modulo 2^16).
    private(set) var lruClock: UInt32 = 0
    private(set) var minutes: UInt32 = 0
    /// The LFU counter's coin flips (SplitMix64): not Redis's rand(), but only the counter's distribution
    /// is observable, and that is the same.
    private var random = FastRandom()

    /// Sets the clocks from the wall clock (Unix milliseconds).
    mutating func update(nowMillis: Int64) {
        lruClock = UInt32(truncatingIfNeeded: nowMillis / AccessClock.lruResolutionMillis) & AccessClock.lruClockMax
        minutes = UInt32(truncatingIfNeeded: nowMillis / 60_000) & 0xFFFF
    }

    /// The stamp of a key just created (Redis's createObject).
    var initial: UInt32 { lfu ? minutes << 8 | AccessClock.lfuInitial : lruClock }

    /// The stamp after an access (Redis's lookupKey: updateLFU, or the LRU clock).
    @inline(__always) mutating func touched(_ stamp: UInt32) -> UInt32 {
        guard lfu else { return lruClock }
        return minutes << 8 | logIncrement(decayedCounter(stamp))
    }

    // MARK: LRU

    /// Milliseconds since the key was last accessed, from an LRU stamp (Redis's estimateObjectIdleTime).
    func idleMillis(_ stamp: UInt32) -> Int64 {
        let clock = lruClock, stamp = stamp & AccessClock.lruClockMax
        let ticks = clock >= stamp ? clock - stamp : clock + (AccessClock.lruClockMax - stamp)
        return Int64(ticks) * AccessClock.lruResolutionMillis
    }

    /// An LRU stamp for a key idle for `seconds` (RESTORE IDLETIME, an RDB's IDLE record), wrapping below 0
    /// as Redis's objectSetLRUOrLFU.
    func lruStamp(idleSeconds seconds: Int64) -> UInt32 {
        var absolute = Int64(lruClock) - seconds * 1000 / AccessClock.lruResolutionMillis
        if absolute < 0 { absolute += Int64(AccessClock.lruClockMax) }
        return UInt32(truncatingIfNeeded: absolute) & AccessClock.lruClockMax
    }

    // MARK: LFU

    /// An LFU stamp with `counter` as of now (RESTORE FREQ, an RDB's FREQ record).
    func lfuStamp(counter: UInt32) -> UInt32 { minutes << 8 | min(counter, 255) }

    /// The counter of an LFU stamp after the decay due since its minute (Redis's LFUDecrAndReturn); the
    /// stamp itself is not changed (OBJECT FREQ reports this without touching the key).
    func decayedCounter(_ stamp: UInt32) -> UInt32 {
        let minute = stamp >> 8 & 0xFFFF, counter = stamp & 0xFF
        guard lfuDecayMinutes > 0 else { return counter }
        let elapsed = minutes >= minute ? minutes - minute : 65535 - minute + minutes
        let periods = elapsed / UInt32(lfuDecayMinutes)
        return periods > counter ? 0 : counter - periods
    }

    /// Redis's LFULogIncr: +1 with probability 1 / ((counter - LFU_INIT_VAL) * factor + 1), saturating at 255.
    private mutating func logIncrement(_ counter: UInt32) -> UInt32 {
        if counter == 255 { return 255 }
        let base = counter > AccessClock.lfuInitial ? Double(counter - AccessClock.lfuInitial) : 0
        let p = 1.0 / (base * Double(lfuLogFactor) + 1)
        return nextUnitRandom() < p ? counter + 1 : counter
    }

    private mutating func nextUnitRandom() -> Double {
        Double(random.next() >> 11) * 0x1p-53
    }

    // MARK: Eviction

    /// How good a candidate for eviction the key is, higher is better (Redis's evictionPoolPopulate `idle`):
    /// its idle time under LRU, 255 minus its decayed counter under LFU.
    func evictionScore(_ stamp: UInt32) -> UInt64 {
        lfu ? UInt64(255 - decayedCounter(stamp)) : UInt64(idleMillis(stamp))
    }
}
