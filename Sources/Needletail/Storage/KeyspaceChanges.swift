/// The keyspace's one stream of changes (Redis's signalModifiedKey + notifyKeyspaceEvent + `server.dirty++`,
/// which Redis calls side by side from every command; here `Database` makes the one call for them).
///
/// Every mutation of a key goes through `Database` (set, add, modify, remove, setExpire, removeExpire,
/// didModify for in-place edits of collections, lazy and active expiry, flush, swap), and `Database` reports
/// it here exactly once:
/// - `dirty` counts changes since the last save (INFO `rdb_changes_since_last_save`, save points), with
///   Redis's weights: ZADD of 3 new members is one event worth 3 changes, FLUSHDB is worth its key count;
/// - the `listener`, when there is one, hears the change with the notification Redis would publish for it
///   (`KeyspaceEvent`: "set", "expire", "zadd", "del", "expired", ...). The server is the listener and fans
///   out to what needs keys' changes: ready keys of blocked clients, propagation of lazy expiry, and later
///   WATCH, client tracking, keyspace notifications and snapshots.
///
/// The hot path pays one add and one nil check when nobody listens; a listener call allocates nothing
/// (keys are passed as borrowed bytes, event names are static strings).
///
/// Keyspace counters (hits, misses, expired, evicted) live here too, so the storage layer knows nothing of
/// the server's statistics.
final class KeyspaceChanges {
    /// Changes since the last save.
    @exclusivity(unchecked) var dirty = 0
    @exclusivity(unchecked) var hits = 0
    @exclusivity(unchecked) var misses = 0
    @exclusivity(unchecked) var expiredKeys = 0
    @exclusivity(unchecked) var evictedKeys = 0
    /// Set during CLIENT PAUSE: expired keys are reported missing but not deleted (Database.expire).
    @exclusivity(unchecked) var expiryPaused = false
    /// Set while a replica runs a command of its master's stream: keys past their time are still there for
    /// it (the master decides when they go and sends the DEL).
    @exclusivity(unchecked) var obeyingMaster = false
    /// `notify-keyspace-events` has the `m` class: reads that find no key tell the listener.
    @exclusivity(unchecked) var notifiesKeyMiss = false
    /// Who hears the changes; unowned because the server owns both the databases and this object.
    @exclusivity(unchecked) unowned(unsafe) var listener: KeyspaceListener?
    /// Whether the listener hears every change, or only the deletions of keys whose time passed or that were
    /// evicted: all a server needs to hear when it listens only to propagate those deletions (the AOF, a
    /// replica), so that its writes pay no call for their changes.
    @exclusivity(unchecked) var listenerHearsAll = true
    /// The fork-less snapshot being written, if any (Persistence/Snapshot.swift): `Database` hands it each
    /// entry it has not saved yet just before a write changes or removes it.
    @exclusivity(unchecked) unowned(unsafe) var snapshot: Snapshot?
    /// The epoch of the latest snapshot: stamped on every entry written since it began, so an entry whose
    /// stamp is older holds what it held when the running snapshot began and is still to be saved.
    @exclusivity(unchecked) var snapshotEpoch: UInt32 = 0
    /// The keys' access clocks and LRU/LFU arithmetic (Storage/AccessClock.swift).
    @exclusivity(unchecked) var access = AccessClock()
    /// Set for the running command of a CLIENT NO-TOUCH client: lookups leave access stamps alone.
    @exclusivity(unchecked) var noTouch = false

    #if NEEDLETAIL_INVARIANTS
    /// Debug builds: the keys changed since the server last checked invariants (Server/Call.swift's
    /// `checkKeyspaceInvariants`), at most `touchedKeysLimit` of them; beyond it, `touchedOverflow`.
    var touchedKeys: [(db: Int, key: [UInt8])] = []
    var touchedOverflow = false
    static let touchedKeysLimit = 64
    #endif

    init() {}

    @inline(__always) func emit(_ change: KeyChange, key: UnsafeRawBufferPointer, db: Int, _ event: KeyspaceEvent,
                                changes: Int) {
        dirty += changes
        #if NEEDLETAIL_INVARIANTS
        if touchedKeys.count < Self.touchedKeysLimit { touchedKeys.append((db, Array(key))) } else { touchedOverflow = true }
        #endif
        // The flag first: reading `listener` at all retains it.
        guard listenerHearsAll || change == .deleted(.expired) || change == .deleted(.evicted) else { return }
        if let listener { listener.keyChanged(change, key: key, db: db, event: event) }
    }

    /// CONFIG RESETSTAT: the counters INFO stats shows (not `dirty`, which belongs to persistence).
    func resetStats() {
        hits = 0
        misses = 0
        expiredKeys = 0
        evictedKeys = 0
    }
}

/// Hears every change of the keyspace (see KeyspaceChanges).
protocol KeyspaceListener: AnyObject {
    /// A key of database `db` changed. `key` is valid for the duration of the call only.
    func keyChanged(_ change: KeyChange, key: UnsafeRawBufferPointer, db: Int, event: KeyspaceEvent)
    /// Every key of a database is about to be removed at once (FLUSHDB, and FLUSHALL for each database).
    func databaseWillFlush(_ db: Int)
    /// SWAPDB is about to exchange the contents of two different databases.
    func databasesWillSwap(_ first: Int, _ second: Int)
    /// A read found no key (the `keymiss` notification), while `KeyspaceChanges.notifiesKeyMiss` is set.
    func keyMissed(_ key: UnsafeRawBufferPointer, db: Int)
}

extension KeyspaceListener {
    func keyMissed(_ key: UnsafeRawBufferPointer, db: Int) {}
}

/// What happened to a key.
enum KeyChange: Equatable {
    /// The key did not exist and now does.
    case added
    /// The key's value was replaced or edited in place.
    case modified
    /// The key's expiry time was set, changed or removed (its value is unchanged).
    case ttlChanged
    /// A part of the value changed that Redis does not signal as a modification (a stream's consumer groups:
    /// XREADGROUP, XACK, XCLAIM, XGROUP): counted and notified, but watched keys, client tracking and blocked
    /// clients are not told.
    case unsignalled
    /// The key left the keyspace.
    case deleted(DeletionReason)
}

enum DeletionReason: Equatable {
    /// By a command (DEL, a collection emptied, RENAME's source, MOVE, GETDEL, EXPIRE in the past, ...).
    case deleted
    /// Its time passed (lazily on access, or by the active expire cycle).
    case expired
    /// Removed to free memory (maxmemory).
    case evicted
    /// Replaced as a whole by another value of a command that notifies only what it wrote (RENAME onto an
    /// existing key, COPY REPLACE, a STORE command's destination): no notification of its own, as in Redis.
    case overwritten
}

/// The keyspace notification a change publishes: Redis's event name and class, e.g. ("set", string).
/// `.none` is a change Redis publishes nothing for (an overwritten destination, DEBUG POPULATE, a key
/// created empty just before the command's own event).
struct KeyspaceEvent: Equatable {
    let name: StaticString
    /// The class `notify-keyspace-events` enables it with (Config/ConfigValues.swift).
    let type: KeyspaceEvents

    init(_ name: StaticString, _ type: KeyspaceEvents) {
        self.name = name
        self.type = type
    }

    var isNone: Bool { name.utf8CodeUnitCount == 0 }
    var nameString: String { name.description }

    static func == (a: KeyspaceEvent, b: KeyspaceEvent) -> Bool {
        a.type == b.type && a.name.description == b.name.description
    }

    static let none = KeyspaceEvent("", [])

    // Generic (g)
    static let del = KeyspaceEvent("del", .generic)
    static let expire = KeyspaceEvent("expire", .generic)
    static let persist = KeyspaceEvent("persist", .generic)
    static let renameFrom = KeyspaceEvent("rename_from", .generic)
    static let renameTo = KeyspaceEvent("rename_to", .generic)
    static let copyTo = KeyspaceEvent("copy_to", .generic)
    static let moveFrom = KeyspaceEvent("move_from", .generic)
    static let moveTo = KeyspaceEvent("move_to", .generic)
    static let restore = KeyspaceEvent("restore", .generic)
    // Expired (x), evicted (e)
    static let expired = KeyspaceEvent("expired", .expired)
    static let evicted = KeyspaceEvent("evicted", .evicted)
    // Strings ($)
    static let set = KeyspaceEvent("set", .string)
    static let append = KeyspaceEvent("append", .string)
    static let setrange = KeyspaceEvent("setrange", .string)
    static let incrby = KeyspaceEvent("incrby", .string)
    static let incrbyfloat = KeyspaceEvent("incrbyfloat", .string)
    // Sorted sets (z)
    static let zadd = KeyspaceEvent("zadd", .zset)
    static let zincr = KeyspaceEvent("zincr", .zset)
    static let zrem = KeyspaceEvent("zrem", .zset)
    static let zremrangebyrank = KeyspaceEvent("zremrangebyrank", .zset)
    static let zremrangebyscore = KeyspaceEvent("zremrangebyscore", .zset)
    static let zremrangebylex = KeyspaceEvent("zremrangebylex", .zset)
    static let zpopmin = KeyspaceEvent("zpopmin", .zset)
    static let zpopmax = KeyspaceEvent("zpopmax", .zset)
    static let zunionstore = KeyspaceEvent("zunionstore", .zset)
    static let zinterstore = KeyspaceEvent("zinterstore", .zset)
    static let zdiffstore = KeyspaceEvent("zdiffstore", .zset)
    static let zrangestore = KeyspaceEvent("zrangestore", .zset)
}
