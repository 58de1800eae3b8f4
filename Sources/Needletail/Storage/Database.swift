/// One of the numbered databases (SELECT n): its keys and their expiry times.
///
/// Keys expire in two ways, as in Redis: lazily, when a lookup finds the key past its time, and actively,
/// by the server cron sampling keys that have a TTL. All key access goes through the lookups below so the
/// lazy path is never skipped.
final class Database {
    let index: Int
    private(set) var keys: [ByteString: Value] = [:]
    /// Absolute expiry time in Unix milliseconds, for keys that have one.
    private(set) var expires: [ByteString: Int64] = [:]

    /// Keyspace statistics, shared by all databases (INFO stats).
    unowned let stats: ServerStats

    init(index: Int, stats: ServerStats) {
        self.index = index
        self.stats = stats
    }

    var count: Int { keys.count }
    var expiresCount: Int { expires.count }

    // MARK: - Lookups

    /// Finds a live key for a read command, counting a hit or a miss.
    @inline(__always) func lookupRead(_ key: UnsafeRawBufferPointer, now: Int64) -> Value? {
        let value = lookup(key, now: now)
        if value == nil { stats.keyspaceMisses += 1 } else { stats.keyspaceHits += 1 }
        return value
    }

    /// Finds a live key without touching hit/miss statistics (writes, EXISTS-like checks).
    @inline(__always) func lookup(_ key: UnsafeRawBufferPointer, now: Int64) -> Value? {
        let k = ByteString(key)
        guard let value = keys[k] else { return nil }
        if !expires.isEmpty, let when = expires[k], when <= now {
            expire(k)
            return nil
        }
        return value
    }

    // MARK: - Mutations

    /// Stores `value` under `key`. Unless `keepTTL`, any previous expiry time is cleared (as SET does).
    func set(_ key: ByteString, _ value: Value, keepTTL: Bool = false) {
        keys[key] = value
        if !keepTTL && !expires.isEmpty { expires[key] = nil }
    }

    /// Adds a key known not to exist.
    func add(_ key: ByteString, _ value: Value) {
        keys[key] = value
    }

    /// Removes a key (live or not). Returns whether it existed.
    @discardableResult func remove(_ key: ByteString) -> Bool {
        guard keys.removeValue(forKey: key) != nil else { return false }
        if !expires.isEmpty { expires[key] = nil }
        return true
    }

    func setExpire(_ key: ByteString, at when: Int64) { expires[key] = when }

    @discardableResult func removeExpire(_ key: ByteString) -> Bool { expires.removeValue(forKey: key) != nil }

    func expireTime(_ key: ByteString) -> Int64? { expires[key] }

    func removeAll() {
        keys.removeAll()
        expires.removeAll()
    }

    /// Deletes a key whose time has passed.
    private func expire(_ key: ByteString) {
        remove(key)
        stats.expiredKeys += 1
    }

    /// All live keys (KEYS, SCAN for now).
    func allKeys(now: Int64) -> [ByteString] {
        keys.keys.filter { k in expires[k].map { $0 > now } ?? true }
    }

    func randomKey(now: Int64) -> ByteString? {
        for _ in 0..<100 {
            guard let k = keys.keys.randomElement() else { return nil }
            if let when = expires[k], when <= now { expire(k); continue }
            return k
        }
        return keys.keys.randomElement()
    }

    /// Exchanges contents with another database (SWAPDB).
    func swapContents(with other: Database) {
        swap(&keys, &other.keys)
        swap(&expires, &other.expires)
    }
}
