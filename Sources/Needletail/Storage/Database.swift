/// One of the numbered databases (SELECT n): its keys, their values and their expiry times.
///
/// Keys expire in two ways, as in Redis: lazily, when a lookup finds the key past its time, and actively,
/// by the server cron (`activeExpireCycle`). All key access goes through the lookups below so the lazy
/// path is never skipped.
///
/// Layout, as Redis's `redisDb`: two of our incrementally rehashing tables (Storage/HashTable.swift).
/// - `keys` maps a key to an `Entry`: its value (24 bytes; short strings inline) and 8 bytes of metadata
///   that fill what would otherwise be padding (see `Entry`). A pooled table entry is 64 bytes all told, plus
///   a 4-byte bucket link: no heap allocation per key for keys and values up to 22 bytes.
/// - `expires` maps the keys that have a TTL to their absolute expiry time in Unix milliseconds. Lookups
///   consult it only when it is non-empty. The active cycle walks it with the table's SCAN cursor, as
///   Redis 7 does, so every key with a TTL is visited in turn and nothing scans the whole keyspace at once.
/// Values unlinked from the keyspace go to `lazyFree`, which frees big ones off the loop.
final class Database {
    let index: Int

    /// Where every change is reported, and the keyspace counters; shared by all databases.
    let events: KeyspaceChanges
    /// Takes the big values the keyspace lets go of, to free them off the loop (Engine/LazyFree.swift).
    let disposer: ObjectDisposer

    /// A key's value and its metadata. The value takes 24 bytes; the table pads an entry to 32, and the 8
    /// bytes after the value are assigned here, so none of them grows the entry (DatabaseTests pins the size):
    ///
    ///     byte 24      hint     how Redis would encode a string value (StringHint)
    ///     bytes 25-27  access   a 24-bit stamp: LRU clock (seconds, as Redis's LRU_BITS) or LFU
    ///                           (16-bit minutes + 8-bit log counter), for OBJECT IDLETIME/FREQ and eviction
    ///     bytes 28-31  epoch    the snapshot epoch in which the entry was last written, so a fork-less
    ///                           snapshot can serialize an entry before a write changes it
    ///
    /// The access stamp is set when the entry is created and on every lookup (unless NO-TOUCH), by
    /// `KeyspaceChanges.access` (Storage/AccessClock.swift). The epoch is `KeyspaceChanges.snapshotEpoch`
    /// when the entry was stored or last saved by a snapshot.
    struct Entry {
        var value: Value
        var hint: StringHint
        var accessLow: UInt8 = 0
        var accessHigh: UInt16 = 0
        var epoch: UInt32 = 0

        init(value: Value, hint: StringHint, epoch: UInt32 = 0, access: UInt32 = 0) {
            self.value = value
            self.hint = hint
            self.epoch = epoch
            self.access = access
        }

        /// The 24-bit LRU/LFU stamp.
        var access: UInt32 {
            get { UInt32(accessHigh) << 8 | UInt32(accessLow) }
            set {
                accessLow = UInt8(truncatingIfNeeded: newValue)
                accessHigh = UInt16(truncatingIfNeeded: newValue >> 8)
            }
        }
    }

    /// How Redis would hold a string value, where that is not what SET stores for the same bytes. Redis's
    /// OBJECT ENCODING and REFCOUNT depend on the command that made the value, not only on its bytes.
    enum StringHint: UInt8 {
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

    @exclusivity(unchecked) private(set) var keys = HashTable<Entry>()

    /// The entry of a value stored now: this snapshot epoch, a new key's access stamp.
    @inline(__always) private func newEntry(_ value: consuming Value, _ hint: StringHint) -> Entry {
        Entry(value: value, hint: hint, epoch: events.snapshotEpoch, access: events.access.initial)
    }
    @exclusivity(unchecked) private(set) var expires = HashTable<Int64>()
    /// Where the active expire cycle resumes its walk of `expires` (Redis's `expires_cursor`).
    @exclusivity(unchecked) private var expireCursor: UInt64 = 0

    /// Running estimate of the remaining TTL of keys with one, in ms (INFO keyspace `avg_ttl`), kept by the
    /// active expiry cycle as Redis does; 0 when the database has no key with a TTL.
    @exclusivity(unchecked) private(set) var avgTTL: Int64 = 0

    init(index: Int, events: KeyspaceChanges, disposer: ObjectDisposer = ImmediateDisposer.shared) {
        self.index = index
        self.events = events
        self.disposer = disposer
        assert(keys.seed == expires.seed, "prefetch(hashes:) hashes once for both tables")
    }

    var count: Int { keys.count }
    /// The tables' free entry slots, in bytes (HashTable.slackBytes).
    var slackBytes: Int { keys.slackBytes + expires.slackBytes }
    var expiresCount: Int { expires.count }
    /// The main bucket tables' sizes (DEBUG HTSTATS).
    var bucketCount: Int { keys.size0 }
    var expiresBucketCount: Int { expires.size0 }

    // MARK: - Prefetching

    /// The hash a key is filed under, in both tables (they share the process seed).
    @inline(__always) func hash(of key: UnsafeRawBufferPointer) -> UInt64 { keys.hash(of: key) }

    /// Starts loading what lookups of the keys with these hashes will touch, in both tables: every bucket
    /// first, then the first entry of every chain, so the misses overlap (see `PipelinePrefetcher`).
    func prefetch(hashes: UnsafeBufferPointer<UInt64>) {
        let withExpires = !expires.isEmpty
        for hash in hashes {
            keys.prefetchBucket(hash: hash)
            if withExpires { expires.prefetchBucket(hash: hash) }
        }
        for hash in hashes {
            keys.prefetchChain(hash: hash)
            if withExpires { expires.prefetchChain(hash: hash) }
        }
    }

    // MARK: - Lookups

    /// How a lookup treats the key, as Redis's LOOKUP_* flags.
    struct LookupFlags: OptionSet {
        let rawValue: UInt8
        /// For a write command: counts no keyspace hit or miss (Redis's lookupKeyWrite).
        static let write = LookupFlags(rawValue: 1 << 0)
        /// Leaves the key's access time alone (CLIENT NO-TOUCH, OBJECT, TYPE-like introspection).
        static let noTouch = LookupFlags(rawValue: 1 << 1)
        /// Reports a key past its time as missing without deleting it (a replica leaves that to its master).
        static let noExpire = LookupFlags(rawValue: 1 << 2)
        /// A miss publishes no `keymiss` notification (OBJECT, as Redis's LOOKUP_NONOTIFY).
        static let noNotify = LookupFlags(rawValue: 1 << 3)
    }

    /// Finds a live key. A key past its time is reported missing and deleted (counted as expired, reported
    /// as `.deleted(.expired)`), unless `.noExpire`. A read (no `.write`) counts a keyspace hit or miss.
    /// A live key's access stamp is updated (LRU clock or LFU counter) unless `.noTouch` or the running
    /// command is a CLIENT NO-TOUCH client's.
    @inline(__always) func lookup(_ key: UnsafeRawBufferPointer, now: Int64, _ flags: LookupFlags = []) -> Value? {
        lookupStored(key, now: now, flags)?.value
    }

    /// `lookup`, answered with where the value is stored instead of a copy of it, for the hot handlers that
    /// edit a stored object in place: see `StoredValue`.
    @inline(__always) func lookupStored(_ key: UnsafeRawBufferPointer, now: Int64, _ flags: LookupFlags = []) -> StoredValue? {
        var found: StoredValue?
        if let entry = keys.findPointer(key) {
            if !expires.isEmpty, let when = expires.find(key), when <= now, !events.obeyingMaster {
                if !flags.contains(.noExpire) { expire(key) }
            } else {
                if !flags.contains(.noTouch) && !events.noTouch { touch(entry) }
                found = StoredValue(entry: entry)
            }
        }
        if !flags.contains(.write) {
            if found == nil {
                if flags.contains(.noNotify) { events.misses += 1 } else { countMiss(key) }
            } else {
                events.hits += 1
            }
        }
        return found
    }

    /// A read that found no key: a keyspace miss and the `keymiss` notification (class m), as Redis's
    /// lookupKey. For reads that look up through a write path (PFCOUNT's cache update).
    func countMiss(_ key: UnsafeRawBufferPointer) {
        events.misses += 1
        if events.notifiesKeyMiss { events.listener?.keyMissed(key, db: index) }
    }

    @inline(__always) func lookup(_ key: ByteString, now: Int64, _ flags: LookupFlags = []) -> Value? {
        key.withUnsafeBytes { lookup($0, now: now, flags) }
    }

    /// A live key's value where the keys table holds it (`lookupStored`). Valid until the keyspace next
    /// changes: adding or deleting a key, or a lookup's rehash step, may move it.
    ///
    /// WHY. `lookup` copies the value out, and copying a set, hash, list or sorted set retains the object
    /// (and the copy's end releases it): an atomic pair, about 7 ns on the 2026 host, a few percent of a
    /// pipelined SADD's whole CPU. A handler that only edits the object in place borrows it from here
    /// instead (`set`, `hash`, `list`: the object not retained, to use while the key holds it).
    struct StoredValue {
        let entry: UnsafeMutablePointer<HashTable<Entry>.Entry>

        /// A copy of the value.
        @inline(__always) var value: Value { entry.pointee.value.value }
        @inline(__always) var set: Unmanaged<SetValue>? {
            if case .set(let set) = entry.pointee.value.value { return .passUnretained(set) }
            return nil
        }
        @inline(__always) var hash: Unmanaged<HashValue>? {
            if case .hash(let hash) = entry.pointee.value.value { return .passUnretained(hash) }
            return nil
        }
        @inline(__always) var list: Unmanaged<ListValue>? {
            if case .list(let list) = entry.pointee.value.value { return .passUnretained(list) }
            return nil
        }
        @inline(__always) var sortedSet: Unmanaged<SortedSet>? {
            if case .sortedSet(let set) = entry.pointee.value.value { return .passUnretained(set) }
            return nil
        }
    }

    @inline(__always) private func touch(_ entry: UnsafeMutablePointer<HashTable<Entry>.Entry>) {
        entry.pointee.value.access = events.access.touched(entry.pointee.value.access)
    }

    /// The access stamp of a stored key (OBJECT IDLETIME/FREQ, DEBUG OBJECT), without touching it.
    func accessStamp(_ key: UnsafeRawBufferPointer) -> UInt32? { keys.find(key)?.access }

    /// Sets the access stamp of a stored key (RESTORE IDLETIME/FREQ).
    func setAccessStamp(_ key: UnsafeRawBufferPointer, _ stamp: UInt32) {
        keys.findPointer(key)?.pointee.value.access = stamp
    }

    /// Whether `key` is stored, live or past its time (Redis's dictFind on the keyspace; WATCH's checks).
    func stores(_ key: UnsafeRawBufferPointer) -> Bool { keys.contains(key) }
    func stores(_ key: ByteString) -> Bool { key.withUnsafeBytes { keys.contains($0) } }

    /// Whether `key` exists but its time has passed (it is then still stored until something deletes it).
    func isExpired(_ key: ByteString, now: Int64) -> Bool {
        guard !expires.isEmpty, let when = key.withUnsafeBytes({ expires.find($0) }) else { return false }
        return when <= now
    }

    /// The absolute expiry time (Unix ms) of a stored key, nil when it has none. Call after a lookup, so an
    /// expired key has already been deleted.
    func expireTime(_ key: ByteString) -> Int64? {
        expires.isEmpty ? nil : key.withUnsafeBytes { expires.find($0) }
    }

    /// How a stored string value is held (OBJECT ENCODING / REFCOUNT); `.likeSet` for a missing key.
    func stringHint(_ key: ByteString) -> StringHint {
        key.withUnsafeBytes { keys.find($0)?.hint } ?? .likeSet
    }

    /// MEMORY USAGE: the bytes `key` costs, nil when it is not stored. Its entry in the keys table plus one
    /// 4-byte bucket link, the key's own block when it is too long to live in the entry, the value
    /// (`Value.memoryUsage`, sampled past `samples` elements), and the entry in the expires table when the
    /// key has a time to live. Redis counts its dictEntry, key and value the same way (not the bucket nor the
    /// expires entry: here they are part of the truth). A key past its time but still stored is counted:
    /// Redis finds it with dictFind, without the expiry check of a lookup, and does not count a hit.
    func memoryUsage(of key: UnsafeRawBufferPointer, samples: Int) -> Int? {
        guard let (storedKey, entry) = keys.findEntry(key) else { return nil }
        var bytes = HashTable<Entry>.entryStride + 4 + storedKey.allocatedBytes + entry.value.memoryUsage(samples: samples)
        if !expires.isEmpty && expires.contains(key) { bytes += HashTable<Int64>.entryStride + 4 }
        return bytes
    }

    // MARK: - Mutations (the keyspace's one write path)
    //
    // Each reports its change to `events` exactly once, with the notification the command names. A command
    // never edits a stored value behind the keyspace's back: values edited in place (a sorted set through
    // the reference a lookup returned, a string through `modify`) are reported with `didModify`.

    /// Stores `value` under `key`. Unless `keepTTL`, any previous expiry time is cleared (as SET does).
    /// `hint` says how Redis would hold the value when the command is not SET-like (see StringHint).
    /// `changes` is what the command adds to the dirty counter (SORT STORE: one per element stored).
    /// `lookedUp`: the command's own lookup already touched the key, so overwriting it touches it no more (Redis's
    /// setKey with SETKEY_ALREADY_EXIST, or an in-place edit); otherwise this is the lookup setKey does.
    func set(_ key: ByteString, _ value: Value, keepTTL: Bool = false, hint: StringHint = .likeSet,
             event: KeyspaceEvent, changes: Int = 1, lookedUp: Bool = false) {
        let old = keys.updateValue(newEntry(value, hint), forKey: key)
        if let old {
            // Redis keeps the LFU counter of a key a command overwrites (dbSetValue), after its lookup's touch.
            if events.access.lfu {
                let stamp = lookedUp || events.noTouch ? old.access : events.access.touched(old.access)
                key.withUnsafeBytes { setAccessStamp($0, stamp) }
            }
            if events.snapshot != nil { key.withUnsafeBytes { preserve(removed: old, key: $0) } }
            dispose(old.value)
            if !keepTTL && !expires.isEmpty { key.withUnsafeBytes { _ = dropExpiry($0) } }
        }
        key.withUnsafeBytes { events.emit(old == nil ? .added : .modified, key: $0, db: index, event, changes: changes) }
    }

    /// Runs `body` on the value (and StringHint) of a live key in place, with one probe of the table: a
    /// read-modify-write (INCR, APPEND) costs one lookup, and a value it grows stays uniquely referenced and
    /// can use its spare capacity. The expiry time is kept. Returns nil when the key does not exist or has
    /// expired (it is then deleted, as any lookup would). The caller reports a change with `didModify`.
    func modify<R>(_ key: UnsafeRawBufferPointer, now: Int64, _ body: (inout Value, inout StringHint) -> R) -> R? {
        if !expires.isEmpty, let when = expires.find(key), when <= now, !events.obeyingMaster {
            expire(key)
            return nil
        }
        if events.snapshot != nil { preserve(key) }
        return keys.withValue(forKey: key) { entry in
            if !events.noTouch { entry.access = events.access.touched(entry.access) }
            return body(&entry.value, &entry.hint)
        }
    }

    /// Stores `value` over the value of `key`, which the command looked up, as an edit in place: the expiry
    /// time and access stamp kept, no touch and no event (the caller reports its change with `didModify`).
    /// For a value the entry holds itself (an inline set) that a command has changed or moved to a
    /// reference form; the snapshot saw the old value when `call` preserved the command's keys.
    func replaceValue(_ key: UnsafeRawBufferPointer, with value: Value) {
        let stored: Void? = keys.withValue(forKey: key) { entry in entry.value = value }
        precondition(stored != nil, "Database.replaceValue: no such key")
    }

    /// Reports that the value of `key` was changed in place (`modify`, or a collection edited through the
    /// reference a lookup returned), worth `changes` to the dirty counter (e.g. ZADD's added + updated).
    @inline(__always) func didModify(_ key: UnsafeRawBufferPointer, _ event: KeyspaceEvent, changes: Int = 1) {
        events.emit(.modified, key: key, db: index, event, changes: changes)
    }

    func didModify(_ key: ByteString, _ event: KeyspaceEvent, changes: Int = 1) {
        key.withUnsafeBytes { didModify($0, event, changes: changes) }
    }

    /// As `didModify`, for a change Redis does not signal (no signalModifiedKey: a stream's consumer groups):
    /// WATCH, tracking and blocked clients do not hear it.
    func didChangeUnsignalled(_ key: UnsafeRawBufferPointer, _ event: KeyspaceEvent, changes: Int = 1) {
        events.emit(.unsignalled, key: key, db: index, event, changes: changes)
    }

    /// Adds a key known not to exist. `changes` is 0 for a collection created empty just before the
    /// command fills it and reports that with `didModify` (ZADD), as Redis counts and notifies only that.
    func add(_ key: ByteString, _ value: Value, hint: StringHint = .likeSet, event: KeyspaceEvent, changes: Int = 1) {
        let old = keys.updateValue(newEntry(value, hint), forKey: key)
        precondition(old == nil, "Database.add: key exists")
        key.withUnsafeBytes { events.emit(.added, key: $0, db: index, event, changes: changes) }
    }

    /// Removes a key (live or not) and its expiry time. Returns whether it existed. A deletion by a command
    /// counts as one change unless `changes` says otherwise (a collection emptied by a command that counted
    /// its own changes); expiry, eviction and an overwrite count none, as in Redis.
    @discardableResult func remove(_ key: ByteString, reason: DeletionReason = .deleted,
                                   event: KeyspaceEvent = .del, changes: Int? = nil) -> Bool {
        key.withUnsafeBytes { remove($0, reason: reason, event: event, changes: changes) }
    }

    @discardableResult func remove(_ key: UnsafeRawBufferPointer, reason: DeletionReason = .deleted,
                                   event: KeyspaceEvent = .del, changes: Int? = nil) -> Bool {
        guard let removed = keys.removeValue(forKey: key) else { return false }
        if events.snapshot != nil { preserve(removed: removed.value, key: key) }
        if !expires.isEmpty { dropExpiry(key) }
        dispose(removed.value.value)
        events.emit(.deleted(reason), key: key, db: index, event, changes: changes ?? (reason == .deleted ? 1 : 0))
        return true
    }

    /// Sets the absolute expiry time (Unix ms) of an existing key.
    /// `changes` is 0 where the expiry is part of a change already counted (SET EX, RENAME's TTL).
    func setExpire(_ key: ByteString, at when: Int64, event: KeyspaceEvent = .expire, changes: Int = 1) {
        precondition(key.withUnsafeBytes { keys.contains($0) }, "Database.setExpire: no such key")
        if events.snapshot != nil { key.withUnsafeBytes { preserve($0) } }
        expires.updateValue(when, forKey: key)
        key.withUnsafeBytes { events.emit(.ttlChanged, key: $0, db: index, event, changes: changes) }
    }

    /// Clears a key's expiry time. Returns whether it had one.
    @discardableResult func removeExpire(_ key: ByteString) -> Bool {
        if events.snapshot != nil && !expires.isEmpty { key.withUnsafeBytes { preserve($0) } }
        guard !expires.isEmpty, key.withUnsafeBytes({ dropExpiry($0) }) else { return false }
        key.withUnsafeBytes { events.emit(.ttlChanged, key: $0, db: index, .persist, changes: 1) }
        return true
    }

    /// Removes a key's expiry time; the TTL average goes with the last one, as in Redis.
    @discardableResult private func dropExpiry(_ key: UnsafeRawBufferPointer) -> Bool {
        guard expires.removeValue(forKey: key) != nil else { return false }
        if expires.isEmpty {
            avgTTL = 0
            expireCursor = 0
        }
        return true
    }

    /// Empties the database (FLUSHDB, FLUSHALL), worth its key count to the dirty counter. The old tables
    /// are freed by a worker.
    func removeAll() {
        events.listener?.databaseWillFlush(index)
        let removed = keys.count
        if !keys.isEmpty { disposer.release(keys) }
        if !expires.isEmpty { disposer.release(expires) }
        keys = HashTable<Entry>()
        expires = HashTable<Int64>()
        expireCursor = 0
        avgTTL = 0
        events.dirty += removed
    }

    /// Exchanges contents with another database (SWAPDB): clients keep their database number and see the
    /// other data, as in Redis. One change.
    func swapContents(with other: Database) {
        events.dirty += 1  // SWAPDB n n changes nothing but still counts, as in Redis
        guard other !== self else { return }
        events.listener?.databasesWillSwap(index, other.index)
        swap(&keys, &other.keys)
        swap(&expires, &other.expires)
        swap(&expireCursor, &other.expireCursor)
        swap(&avgTTL, &other.avgTTL)
    }

    // MARK: - Loading (Persistence/RDBLoader.swift)

    /// Sizes the tables for a load that announces its key counts (RDB's RESIZEDB), so they do not rehash
    /// while filling.
    func reserveForLoading(keys keyCount: Int, expires expireCount: Int) {
        keys.reserveCapacity(keys.count + keyCount)
        if expireCount > 0 { expires.reserveCapacity(expires.count + expireCount) }
    }

    /// Stores a loaded key with one probe of the table, without events or changes (loading is not a
    /// write, as Redis's dbAddRDBLoad). Returns false when the key existed: it was replaced.
    /// `access` is the stamp the file recorded (IDLE or FREQ), else the key is new. `hash` is
    /// `keys.hash(of: key)` when the loader computed it to prefetch the key's bucket.
    func storeLoaded(_ key: ByteString, _ value: consuming Value, expireAt: Int64?, access: UInt32? = nil,
                     hash: UInt64? = nil) -> Bool {
        var entry = newEntry(consume value, .likeSet)
        if let access { entry.access = access }
        let old = keys.updateValue(consume entry, forKey: key, hash: hash)
        if let old, events.snapshot != nil { key.withUnsafeBytes { preserve(removed: old, key: $0) } }
        if let expireAt {
            expires.updateValue(expireAt, forKey: key)
        } else if old != nil && !expires.isEmpty {
            key.withUnsafeBytes { _ = dropExpiry($0) }
        }
        if let old { dispose(old.value) }
        return old == nil
    }

    // MARK: - Snapshots (Persistence/Snapshot.swift)

    /// Before a write changes `key` in place, hands its entry to the running snapshot if the snapshot has
    /// not saved it yet (serialize-before-mutate). Commands' keys are preserved by `call` before the
    /// handler runs; the mutations above preserve what they replace or remove themselves.
    func preserve(_ key: UnsafeRawBufferPointer) {
        guard let snapshot = events.snapshot else { return }
        let epoch = events.snapshotEpoch
        let expires = self.expires
        _ = keys.withValue(forKey: key) { entry in
            guard entry.epoch < epoch else { return }
            snapshot.save(from: keys, key: key, entry.value, expire: expires.isEmpty ? nil : expires.find(key))
            entry.epoch = epoch
        }
    }

    /// An entry just taken out of the table (overwritten or removed), saved if the snapshot still needed it;
    /// its expiry time is still in `expires`.
    private func preserve(removed entry: Entry, key: UnsafeRawBufferPointer) {
        guard let snapshot = events.snapshot, entry.epoch < events.snapshotEpoch else { return }
        snapshot.save(from: keys, key: key, entry.value, expire: expires.isEmpty ? nil : expires.find(key))
    }

    /// The tables a snapshot reads (it keeps them even if FLUSHDB or SWAPDB moves them away from here).
    var tables: (keys: HashTable<Entry>, expires: HashTable<Int64>) { (keys, expires) }

    /// Hands a value the keyspace no longer references to the disposer when freeing it is worth a worker
    /// (Redis's LAZYFREE_THRESHOLD: more than 64 allocations); smaller values are simply dropped here.
    @inline(__always) private func dispose(_ value: Value) {
        if value.freeEffort > Value.lazyFreeThreshold, let object = value.reference {
            disposer.release(object, bytes: value.memoryUsage(samples: 5))
        }
    }

    /// Deletes a key whose time has passed, unless expiry is paused (CLIENT PAUSE): the key then stays
    /// stored, though every lookup reports it missing, as Redis's expireIfNeeded during a pause.
    /// Returns whether it was deleted.
    @discardableResult private func expire(_ key: UnsafeRawBufferPointer) -> Bool {
        if events.expiryPaused { return false }
        events.expiredKeys += 1
        remove(key, reason: .expired, event: .expired)
        return true
    }

    /// Server cron work on the tables, as Redis's databasesCron: move incremental rehashing along for about
    /// `milliseconds` (activerehashing), then start any shrink a table still needs (removals only check while
    /// no rehash is running: tryResizeHashTables). Returns whether any table is still rehashing.
    @discardableResult func rehash(milliseconds: Int) -> Bool {
        if keys.isRehashing { keys.rehash(milliseconds: milliseconds) }
        if expires.isRehashing { expires.rehash(milliseconds: milliseconds) }
        keys.shrinkIfNeeded()
        expires.shrinkIfNeeded()
        return keys.isRehashing || expires.isRehashing
    }

    // MARK: - Iteration

    /// Calls `body` with every live key (KEYS). Expired keys are skipped but not deleted, as in Redis 7.0.
    func forEachKey(now: Int64, _ body: (ByteString) -> Void) {
        let checkExpiry = !expires.isEmpty
        for (key, _) in keys {
            if checkExpiry && isExpired(key, now: now) { continue }
            body(key)
        }
    }

    /// Calls `body` with every stored entry, keys past their time included, and its expiry time (Redis's
    /// dictIterator over the keyspace: DEBUG DIGEST). `body` must not change the database.
    func forEachStored(_ body: (ByteString, Value, _ expireTime: Int64?) -> Void) {
        let checkExpiry = !expires.isEmpty
        for (key, entry) in keys {
            body(key, entry.value, checkExpiry ? key.withUnsafeBytes { expires.find($0) } : nil)
        }
    }

    /// The value stored under `key`, even past its time, and its expiry time; nothing is deleted or counted
    /// (Redis's dictFind on the keyspace: DEBUG DIGEST-VALUE).
    func stored(_ key: UnsafeRawBufferPointer) -> (value: Value, expireTime: Int64?)? {
        guard let entry = keys.find(key) else { return nil }
        return (entry.value, expires.isEmpty ? nil : expires.find(key))
    }

    /// All live keys.
    func allKeys(now: Int64) -> [ByteString] {
        var result: [ByteString] = []
        result.reserveCapacity(keys.count)
        forEachKey(now: now) { result.append($0) }
        return result
    }

    /// One SCAN step over the table's reverse-binary cursor: appends the keys of visited buckets to `batch`
    /// until about `count` keys were collected or `count * 10` buckets were visited (Redis's bound), and
    /// returns the cursor to continue from, 0 when the iteration is complete. Every key present for the whole
    /// iteration is returned at least once, across rehashing. Keys are returned even when expired: the caller
    /// filters, as Redis's SCAN does after collecting.
    func scan(cursor: UInt64, count: Int, into batch: inout [ByteString]) -> UInt64 {
        var cursor = cursor
        var budget = count.multipliedReportingOverflow(by: 10).overflow ? Int.max : count * 10
        let start = batch.count
        repeat {
            cursor = keys.scan(cursor: cursor) { key, _ in batch.append(key) }
            budget -= 1
        } while cursor != 0 && budget > 0 && batch.count - start < count
        return cursor
    }

    /// A random live key (RANDOMKEY), deleting expired keys it draws on the way; nil when empty.
    func randomKey(now: Int64) -> ByteString? {
        var generator = SystemRandomNumberGenerator()
        var expiredDraws = 0
        while let (key, _) = keys.randomElement(using: &generator) {
            if isExpired(key, now: now) {
                // While expiry is paused expired keys stay: after 100 of them, one is the answer (as a
                // replica's RANDOMKEY), rather than drawing forever from a database of expired keys.
                if !key.withUnsafeBytes({ expire($0) }) {
                    expiredDraws += 1
                    if expiredDraws >= 100 { return key }
                }
                continue
            }
            return key
        }
        return nil
    }

    // MARK: - Active expiry

    /// Keys examined per round, as Redis's ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP.
    static let expireSamplesPerRound = 20

    /// One database's share of Redis's active expire cycle: walk `expires` from where the last call stopped,
    /// a round of about 20 keys at a time, delete the expired ones, and go on while more than 25% of a
    /// round had expired (the table then likely holds many more), until `deadline` (monotonic microseconds).
    /// Also refreshes `avgTTL` from the live keys seen. Returns false when it stopped because time ran out.
    ///
    /// - Complexity: O(1) amortised per key examined.
    func activeExpireCycle(now: Int64, deadline: Int64) -> Bool {
        var rounds = 0
        var expired: [ByteString] = []
        while true {
            if expires.isEmpty {
                avgTTL = 0
                expireCursor = 0
                return true
            }
            var examined = 0
            var ttlSum: Int64 = 0
            var ttlSamples: Int64 = 0
            var buckets = 0
            expired.removeAll(keepingCapacity: true)
            // The scan callback may not mutate the table: collect, then delete.
            repeat {
                expireCursor = expires.scan(cursor: expireCursor) { key, when in
                    examined += 1
                    if when <= now {
                        expired.append(key)
                    } else {
                        ttlSum &+= when &- now
                        ttlSamples += 1
                    }
                }
                buckets += 1
            } while examined < Database.expireSamplesPerRound && buckets < Database.expireSamplesPerRound * 20
                && expireCursor != 0
            for key in expired { _ = key.withUnsafeBytes { expire($0) } }
            if ttlSamples > 0 {
                // Redis's running average: the new sample weighs 2%, the previous estimate 98%.
                let sampleAverage = ttlSum / ttlSamples
                if avgTTL == 0 { avgTTL = sampleAverage }
                avgTTL = (avgTTL / 50) * 49 + sampleAverage / 50
            }
            if examined == 0 || expired.count * 4 <= examined { return true }
            rounds += 1
            // Reading the clock costs more than a round, so check it every 16 rounds as Redis does.
            if rounds & 15 == 0 && monotonicMicros() >= deadline { return false }
        }
    }

    // MARK: - Invariants

    /// Checks both tables and their cross-reference; tests call it after each mutation.
    func checkInvariants() {
        keys.checkInvariants()
        expires.checkInvariants()
        for (key, _) in expires {
            precondition(key.withUnsafeBytes { keys.contains($0) }, "expiry time for a key that does not exist")
        }
        if expires.isEmpty { precondition(avgTTL == 0, "avg_ttl without expiring keys") }
    }
}
