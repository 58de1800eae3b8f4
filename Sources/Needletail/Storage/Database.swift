/// One of the numbered databases (SELECT n): its keys, their values and their expiry times.
///
/// Keys expire in two ways, as in Redis: lazily, when a lookup finds the key past its time, and actively,
/// by the server cron sampling keys that have a TTL (`activeExpireCycle`). All key access goes through the
/// lookups below so the lazy path is never skipped.
///
/// Layout (TEMPORARY, until Storage/HashTable.swift replaces the Swift Dictionary; everything below is
/// private so that swap touches only this file):
/// - `keys` maps a key to its value, its *slot* (a position in `slots`) and, when it has a TTL, its position
///   in `expiring`. One dictionary lookup answers both "does it exist" and "has it expired".
/// - `slots` lists every key at a fixed position; deleting a key leaves a hole that a later insert reuses
///   (`freeSlots`), so a key never moves while it lives. That gives SCAN a cursor (an offset into `slots`)
///   that returns every key present for the whole iteration at least once, and RANDOMKEY an O(1) random
///   pick. When holes outnumber keys 3 to 1 and few keys remain, the slots are compacted (keys move, so a
///   SCAN running across a compaction may miss keys: the HashTable's reverse-binary cursor removes that).
/// - `expiring` is a dense array of (key, time) for the keys with a TTL (removal moves the last one into
///   the hole): the active expiry cycle samples it at random in O(1) per sample, reading the time without
///   any lookup, and never scans the keyspace.
/// Positions are UInt32 (the slot's top two bits hold the value's `StringHint`): up to 2^30 keys per
/// database.
final class Database {
    let index: Int

    /// Keyspace statistics, shared by all databases (INFO stats).
    unowned let stats: ServerStats

    private struct Entry {
        var value: Value
        /// The slot in the low 30 bits, the `StringHint` in the top 2 (keeps the entry at 32 bytes).
        private var slotAndHint: UInt32
        /// Position in `expiring`, or `Entry.noExpiry`.
        var expiry: UInt32

        static let noExpiry = UInt32.max
        static let maxSlots = 1 << 30

        init(value: Value, slot: UInt32, hint: StringHint) {
            self.value = value
            slotAndHint = slot | hint.rawValue << 30
            expiry = Entry.noExpiry
        }

        var hasExpiry: Bool { expiry != Entry.noExpiry }

        var slot: UInt32 {
            get { slotAndHint & 0x3FFF_FFFF }
            set { slotAndHint = slotAndHint & 0xC000_0000 | newValue }
        }

        var hint: StringHint {
            get { StringHint(rawValue: slotAndHint >> 30)! }
            set { slotAndHint = slotAndHint & 0x3FFF_FFFF | newValue.rawValue << 30 }
        }
    }

    /// How Redis would hold a string value, where that is not what SET stores for the same bytes. Redis's
    /// OBJECT ENCODING and REFCOUNT depend on the command that made the value, not only on its bytes.
    enum StringHint: UInt32 {
        /// As SET stores it: "int" when the bytes read as an integer (shared object for 0...9999),
        /// else "embstr" up to 44 bytes, else "raw".
        case likeSet = 0
        /// An integer in its own object (refcount 1), as COPY makes of one.
        case unshared = 1
        /// Never "int": "embstr" up to 44 bytes, else "raw" (INCRBYFLOAT's result).
        case notInteger = 2
        /// Always "raw": a string grown or patched in place (APPEND to an existing key, SETRANGE).
        case raw = 3
    }

    private struct Expiring {
        let key: ByteString
        /// Absolute expiry time in Unix milliseconds.
        var when: Int64
    }

    private var keys: [ByteString: Entry] = [:]
    private var slots: [ByteString?] = []
    private var freeSlots: [UInt32] = []
    private var expiring: [Expiring] = []

    /// Running estimate of the remaining TTL of keys with one, in ms (INFO keyspace `avg_ttl`), kept by the
    /// active expiry cycle as Redis does; 0 when the database has no key with a TTL.
    private(set) var avgTTL: Int64 = 0

    /// SplitMix64 state for sampling; a syscall-free generator, since the expiry cycle draws thousands.
    private var randomState: UInt64

    init(index: Int, stats: ServerStats) {
        self.index = index
        self.stats = stats
        randomState = UInt64(bitPattern: monotonicMicros()) &+ UInt64(index) &* 0x9E37_79B9_7F4A_7C15
    }

    var count: Int { keys.count }
    var expiresCount: Int { expiring.count }

    // MARK: - Lookups

    /// Finds a live key for a read command, counting a hit or a miss.
    @inline(__always) func lookupRead(_ key: UnsafeRawBufferPointer, now: Int64) -> Value? {
        lookupRead(ByteString(key), now: now)
    }

    @inline(__always) func lookupRead(_ key: ByteString, now: Int64) -> Value? {
        let value = lookup(key, now: now)
        if value == nil { stats.keyspaceMisses += 1 } else { stats.keyspaceHits += 1 }
        return value
    }

    /// Finds a live key without touching hit/miss statistics (writes, EXISTS-like checks).
    @inline(__always) func lookup(_ key: UnsafeRawBufferPointer, now: Int64) -> Value? {
        lookup(ByteString(key), now: now)
    }

    /// Finds a live key; a key past its time is deleted (and counted as expired) and reported missing.
    @inline(__always) func lookup(_ key: ByteString, now: Int64) -> Value? {
        guard let entry = keys[key] else { return nil }
        if entry.hasExpiry && expiring[Int(entry.expiry)].when <= now {
            expire(key)
            return nil
        }
        return entry.value
    }

    /// Whether `key` exists but its time has passed (it is then still stored until something deletes it).
    func isExpired(_ key: ByteString, now: Int64) -> Bool {
        guard let entry = keys[key], entry.hasExpiry else { return false }
        return expiring[Int(entry.expiry)].when <= now
    }

    /// The absolute expiry time (Unix ms) of a stored key, nil when it has none. Call after a lookup, so an
    /// expired key has already been deleted.
    func expireTime(_ key: ByteString) -> Int64? {
        guard let entry = keys[key], entry.hasExpiry else { return nil }
        return expiring[Int(entry.expiry)].when
    }

    /// How a stored string value is held (OBJECT ENCODING / REFCOUNT); `.likeSet` for a missing key.
    func stringHint(_ key: ByteString) -> StringHint { keys[key]?.hint ?? .likeSet }

    // MARK: - Mutations

    /// Stores `value` under `key`. Unless `keepTTL`, any previous expiry time is cleared (as SET does).
    /// `hint` says how Redis would hold the value when the command is not SET-like (see StringHint).
    func set(_ key: ByteString, _ value: Value, keepTTL: Bool = false, hint: StringHint = .likeSet) {
        guard let i = keys.index(forKey: key) else { return insert(key, value, hint) }
        keys.values[i].value = value
        keys.values[i].hint = hint
        if !keepTTL && keys.values[i].hasExpiry {
            let position = keys.values[i].expiry
            keys.values[i].expiry = Entry.noExpiry
            dropExpiring(at: position)
        }
    }

    /// Adds a key known not to exist.
    func add(_ key: ByteString, _ value: Value, hint: StringHint = .likeSet) {
        precondition(keys[key] == nil, "Database.add: key exists")
        insert(key, value, hint)
    }

    /// Removes a key (live or not) and its expiry time. Returns whether it existed.
    @discardableResult func remove(_ key: ByteString) -> Bool {
        guard let entry = keys.removeValue(forKey: key) else { return false }
        if entry.hasExpiry { dropExpiring(at: entry.expiry) }
        releaseSlot(entry.slot)
        return true
    }

    /// Sets the absolute expiry time (Unix ms) of an existing key.
    func setExpire(_ key: ByteString, at when: Int64) {
        guard let i = keys.index(forKey: key) else { preconditionFailure("Database.setExpire: no such key") }
        if keys.values[i].hasExpiry {
            expiring[Int(keys.values[i].expiry)].when = when
        } else {
            keys.values[i].expiry = UInt32(expiring.count)
            expiring.append(Expiring(key: key, when: when))
        }
    }

    /// Clears a key's expiry time. Returns whether it had one.
    @discardableResult func removeExpire(_ key: ByteString) -> Bool {
        guard let i = keys.index(forKey: key), keys.values[i].hasExpiry else { return false }
        let position = keys.values[i].expiry
        keys.values[i].expiry = Entry.noExpiry
        dropExpiring(at: position)
        return true
    }

    /// Empties the database (FLUSHDB).
    func removeAll() {
        keys = [:]
        slots = []
        freeSlots = []
        expiring = []
        avgTTL = 0
    }

    /// Exchanges contents with another database (SWAPDB): clients keep their database number and see the
    /// other data, as in Redis.
    func swapContents(with other: Database) {
        swap(&keys, &other.keys)
        swap(&slots, &other.slots)
        swap(&freeSlots, &other.freeSlots)
        swap(&expiring, &other.expiring)
        swap(&avgTTL, &other.avgTTL)
    }

    /// Deletes a key whose time has passed.
    private func expire(_ key: ByteString) {
        remove(key)
        stats.expiredKeys += 1
    }

    private func insert(_ key: ByteString, _ value: Value, _ hint: StringHint) {
        let slot: UInt32
        if let free = freeSlots.popLast() {
            slot = free
            slots[Int(slot)] = key
        } else {
            precondition(slots.count < Entry.maxSlots, "Database: too many keys")
            slot = UInt32(slots.count)
            slots.append(key)
        }
        keys[key] = Entry(value: value, slot: slot, hint: hint)
    }

    private func releaseSlot(_ slot: UInt32) {
        if keys.isEmpty {
            // Nothing left: drop the slot array and the dictionary's capacity together.
            removeAll()
            return
        }
        slots[Int(slot)] = nil
        freeSlots.append(slot)
        // Compaction rebuilds the dictionary in one go; doing it only once few keys remain bounds that
        // pause (a few ms), at the price of sparser slots (RANDOMKEY's retries) above that size.
        if slots.count > 64 && keys.count * 4 < slots.count && keys.count <= 32_768 { compact() }
    }

    /// Removes the entry at `position` of `expiring`, moving the last one into its place.
    private func dropExpiring(at position: UInt32) {
        let last = expiring.removeLast()
        let p = Int(position)
        if p < expiring.count {
            expiring[p] = last
            keys[last.key]!.expiry = position
        }
        if expiring.isEmpty {
            expiring = []
            avgTTL = 0
        } else if expiring.capacity > 1024 && expiring.count * 8 < expiring.capacity {
            // Arrays keep their capacity when they shrink; copy into a smaller one to return the memory.
            var smaller: [Expiring] = []
            smaller.reserveCapacity(expiring.count * 2)
            smaller.append(contentsOf: expiring)
            expiring = smaller
        }
    }

    /// Packs the live keys into the first slots and rebuilds `keys` at its current size, so memory taken
    /// by a keyspace that has shrunk a lot is returned (Swift dictionaries never shrink on removal).
    private func compact() {
        var newKeys = [ByteString: Entry](minimumCapacity: keys.count)
        var newSlots: [ByteString?] = []
        newSlots.reserveCapacity(keys.count)
        // Walking the dictionary rather than the (much larger) slot array keeps this O(keys).
        for (key, var entry) in keys {
            entry.slot = UInt32(newSlots.count)
            newKeys[key] = entry
            newSlots.append(key)
        }
        keys = newKeys
        slots = newSlots
        freeSlots = []
    }

    // MARK: - Iteration

    /// Calls `body` with every live key (KEYS). Expired keys are skipped but not deleted, as in Redis 7.0.
    func forEachKey(now: Int64, _ body: (ByteString) -> Void) {
        let checkExpiry = !expiring.isEmpty
        for case let key? in slots {
            if checkExpiry && isExpired(key, now: now) { continue }
            body(key)
        }
    }

    /// All live keys.
    func allKeys(now: Int64) -> [ByteString] {
        var result: [ByteString] = []
        result.reserveCapacity(keys.count)
        forEachKey(now: now) { result.append($0) }
        return result
    }

    /// One SCAN step: appends to `batch` the keys of up to `count` slots' worth of keys starting at slot
    /// `cursor`, visiting at most `count * 10` slots (Redis's bound on empty buckets), and returns the cursor
    /// to continue from, 0 when the iteration is complete. Keys are returned even when expired: the caller
    /// filters, as Redis's SCAN does after collecting.
    func scan(cursor: UInt64, count: Int, into batch: inout [ByteString]) -> UInt64 {
        guard cursor < UInt64(slots.count) else { return 0 }
        var i = Int(cursor)
        var budget = count.multipliedReportingOverflow(by: 10).overflow ? Int.max : count * 10
        var found = 0
        while i < slots.count && found < count && budget > 0 {
            if let key = slots[i] {
                batch.append(key)
                found += 1
            }
            i += 1
            budget -= 1
        }
        return i >= slots.count ? 0 : UInt64(i)
    }

    /// A random live key (RANDOMKEY), deleting expired keys it draws on the way; nil when empty.
    func randomKey(now: Int64) -> ByteString? {
        while !keys.isEmpty {
            // Below 32,768 keys compaction keeps at least a quarter of the slots (or one of 64) live;
            // above, at least 32,768 keys are live, so a draw finds one within slots/32,768 tries on average.
            guard let key = slots[random(below: slots.count)] else { continue }
            if isExpired(key, now: now) {
                expire(key)
                continue
            }
            return key
        }
        return nil
    }

    // MARK: - Active expiry

    /// Keys sampled per round, as Redis's ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP.
    static let expireSamplesPerRound = 20

    /// One database's share of Redis's active expire cycle: sample keys that have a TTL, delete the expired
    /// ones, and repeat while more than 25% of a sample had expired (the keyspace then likely holds many
    /// more), until `deadline` (monotonic microseconds). Also refreshes `avgTTL` from the live samples.
    /// Returns false when it stopped because the time ran out.
    ///
    /// - Complexity: O(1) per sampled key.
    func activeExpireCycle(now: Int64, deadline: Int64) -> Bool {
        var rounds = 0
        while true {
            if expiring.isEmpty {
                avgTTL = 0
                return true
            }
            let samples = min(expiring.count, Database.expireSamplesPerRound)
            var expired = 0
            var ttlSum: Int64 = 0
            var ttlSamples: Int64 = 0
            for _ in 0..<samples {
                if expiring.isEmpty { break }
                let sample = expiring[random(below: expiring.count)]
                let when = sample.when
                if when <= now {
                    expire(sample.key)
                    expired += 1
                } else {
                    ttlSum += when - now
                    ttlSamples += 1
                }
            }
            if ttlSamples > 0 {
                // Redis's running average: the new sample weighs 2%, the previous estimate 98%.
                let sampleAverage = ttlSum / ttlSamples
                if avgTTL == 0 { avgTTL = sampleAverage }
                avgTTL = (avgTTL / 50) * 49 + sampleAverage / 50
            }
            if expired * 4 <= samples { return true }
            rounds += 1
            // Reading the clock costs more than a round, so check it every 16 rounds as Redis does.
            if rounds & 15 == 0 && monotonicMicros() >= deadline { return false }
        }
    }

    @inline(__always) private func random(below n: Int) -> Int {
        randomState &+= 0x9E37_79B9_7F4A_7C15
        var z = randomState
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Int(z % UInt64(n))
    }

    // MARK: - Invariants

    /// Checks every internal cross-reference; tests call it after each mutation.
    func checkInvariants() {
        var live = 0
        for (slot, key) in slots.enumerated() {
            guard let key else { continue }
            live += 1
            precondition(keys[key].map { Int($0.slot) } == slot, "slot \(slot) does not point back to its key")
        }
        precondition(live == keys.count, "slots hold \(live) keys, dictionary \(keys.count)")
        precondition(freeSlots.count == slots.count - live, "free list out of step with holes")
        for slot in freeSlots { precondition(slots[Int(slot)] == nil, "free slot \(slot) is occupied") }
        var withExpiry = 0
        for entry in keys.values where entry.hasExpiry { withExpiry += 1 }
        precondition(withExpiry == expiring.count, "\(withExpiry) keys have a TTL, expiring has \(expiring.count)")
        for (position, e) in expiring.enumerated() {
            precondition(keys[e.key].map { Int($0.expiry) } == position, "expiring[\(position)] does not point back")
        }
        if expiring.isEmpty { precondition(avgTTL == 0, "avg_ttl without expiring keys") }
    }
}
