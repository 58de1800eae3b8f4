import Glibc

// Snapshot: the dataset as it was at one instant, written as an RDB stream while the loop keeps serving
// reads and writes, without fork() (what BGSAVE and the AOF rewrite use, and later a replica's full sync).
//
// HOW (serialize-before-mutate, as Dragonfly's snapshotting; see DESIGN.md "Snapshots without fork")
// - Beginning a snapshot bumps the keyspace's epoch to E. Every entry of the keyspace carries the epoch in
//   which it was stored (Database.Entry.epoch, 4 bytes that were padding): the entries stamped < E are
//   exactly the ones that existed at the instant, unchanged since. Entries stored from then on get E.
// - The saver walks each database's table in the order of its entry pool (memory order; entries never
//   move while they live, so every entry present throughout is visited, whatever rehashing does) a slice at
//   a time (`step`), saves each entry stamped < E and stamps it E, so an entry is never saved twice.
// - Before any write changes or removes an entry stamped < E, the keyspace hands it to `save` first
//   (Database.preserve, called by `call` for each key of a write command and by every Database mutation
//   for what it replaces or removes, expiry included). So each entry is saved exactly once, with the value
//   and the expiry time it had at the instant.
// - FLUSHDB / FLUSHALL / SWAPDB move whole tables: the snapshot holds the tables it began with (their
//   entries are no longer written once detached), and knows which database each came from, so an entry is
//   always saved under its database at the instant.
// An entry saved early (out of the walk's order) is written after a SELECTDB of its database; the RDB
// loaders (ours and redis-server's) simply switch database there.
//
// COST: no copy of the dataset and no fork pause; memory beyond the dataset is the output not yet written
// plus nothing per key (the stamp lives in padding). The loop pays the serialization itself, in slices of
// at most a couple of milliseconds (RDBPersistence.swift schedules them), and, while a snapshot runs, each
// write command pays for finding its keys (COMMAND GETKEYS's key specs) and a lookup of each. A single huge
// value is serialized in one slice (a 1,000,000-element sorted set takes tens of ms), as redis-server's
// child would, but here on the loop.

final class Snapshot {
    let epoch: UInt32
    let output: RDBOutput

    private struct Source {
        let db: Int
        let keys: HashTable<Database.Entry>
        let expires: HashTable<Int64>
        let keyCount: Int
        let expireCount: Int
    }
    private var sources: [Source]
    private var sourceIndex = 0
    /// Where the walk of the current table's entry pool continues (HashTable.walkPool).
    private var position = 0
    private var sectionStarted = false
    /// The database of the last SELECTDB written.
    private var selectedDB = -1
    private(set) var keysSaved = 0
    private(set) var isFinished = false

    /// Starts a snapshot of `databases` at this instant: registers it with the keyspace (so writes preserve
    /// what it still needs) and writes the file's header and `aux` fields and the function libraries.
    /// Whether the file ends with its CRC64 (rdbchecksum) or with 0.
    private let checksum: Bool

    init(databases: [Database], keyspace: KeyspaceChanges, output: RDBOutput, aux: [(String, AuxValue)],
         functions: [ByteString], checksum: Bool = true) {
        self.checksum = checksum
        precondition(keyspace.snapshot == nil, "one snapshot at a time")
        keyspace.snapshotEpoch &+= 1
        epoch = keyspace.snapshotEpoch
        self.output = output
        sources = databases.map { db in
            let (keys, expires) = db.tables
            return Source(db: db.index, keys: keys, expires: expires, keyCount: keys.count, expireCount: expires.count)
        }
        keyspace.snapshot = self
        writeHeader(aux: aux, functions: functions)
    }

    enum AuxValue {
        case text(String)
        case integer(Int64)
    }

    private func writeHeader(aux: [(String, AuxValue)], functions: [ByteString]) {
        output.raw("REDIS00")
        output.raw(Array(String(RDB.version).utf8))
        for (name, value) in aux {
            output.byte(RDB.opAux)
            output.string(Array(name.utf8).withUnsafeBytes { ByteString($0) })
            switch value {
            case .text(let text): Array(text.utf8).withUnsafeBytes { output.string($0) }
            case .integer(let v): output.string(integer: v)
            }
        }
        for library in functions {
            output.byte(RDB.opFunction2)
            output.string(library)
        }
    }

    /// What a slice left: the snapshot complete, more to do at once, or keys held back by rdb-key-save-delay.
    enum SliceOutcome {
        case finished
        case more
        case paced
    }

    /// Serializes one slice on the loop (BGSAVE, the AOF rewrite and full syncs call it each tick): about as
    /// long as the loop spent elsewhere since the last slice, between 0.25 and 2 ms, so clients and the save
    /// share the loop about evenly. With `keySaveDelay` (Redis's hidden rdb-key-save-delay, which tests use
    /// to make a save last: Redis's child sleeps that many microseconds after each key, or 1 us once in -n
    /// keys when negative), the keys saved since the snapshot began stay within one plus one per
    /// `keySaveDelay` us elapsed (n per us when negative), without sleeping: the loop keeps serving, and the
    /// caller lets it sleep (`.paced`) until its next tick. Keys a write made the snapshot save early count
    /// too.
    func serializeSlice(keySaveDelay: Int) throws -> SliceOutcome {
        let now = monotonicNanoseconds()
        var keyLimit = Int.max
        if keySaveDelay != 0 {
            let elapsed = Int((now - startedAt) / 1000)
            let allowed: Int
            if keySaveDelay > 0 {
                allowed = elapsed / keySaveDelay + 1
            } else {
                let (product, overflow) = elapsed.multipliedReportingOverflow(by: -keySaveDelay)
                allowed = overflow ? Int.max : product
            }
            keyLimit = allowed == Int.max ? Int.max : max(allowed - keysSaved, 0)
            if keyLimit == 0 { return .paced }
        }
        let budget = min(max(now - lastSliceEnd, 250_000), 2_000_000)
        let limitedTo = keyLimit == Int.max ? Int.max : keysSaved + keyLimit
        let finished = try step(until: now + budget, keyLimit: keyLimit)
        lastSliceEnd = monotonicNanoseconds()
        if finished { return .finished }
        return keysSaved >= limitedTo ? .paced : .more
    }

    /// When the snapshot began, and when its last slice ended (monotonic ns).
    private let startedAt = monotonicNanoseconds()
    private var lastSliceEnd = monotonicNanoseconds()

    /// Saves entries until `deadline` (monotonic nanoseconds) passes or `keyLimit` more keys are saved.
    /// Returns true once everything was written (EOF and checksum included); the caller then detaches the
    /// snapshot (`finish`). Throws what the output's sink threw.
    func step(until deadline: UInt64, keyLimit: Int = .max) throws -> Bool {
        let stopAt = keyLimit == .max ? Int.max : keysSaved + keyLimit
        while sourceIndex < sources.count {
            let source = sources[sourceIndex]
            var finishedSource = false
            if !sectionStarted {
                sectionStarted = true
                position = 0
                if source.keyCount > 0 {
                    select(source.db)
                    output.byte(RDB.opResizeDB)
                    output.length(source.keyCount)
                    output.length(source.expireCount)
                }
            }
            repeat {
                let next = try source.keys.walkPool(from: position, slots: min(256, stopAt - keysSaved)) { key, entry in
                    guard entry.epoch < epoch else { return }
                    let expire = source.expires.isEmpty ? nil : key.withUnsafeBytes { source.expires.find($0) }
                    record(db: source.db, key: key, entry.value, expire: expire)
                    entry.epoch = epoch
                }
                guard let next else {
                    finishedSource = true
                    break
                }
                position = next
                try output.flushIfNeeded()
            } while monotonicNanoseconds() < deadline && keysSaved < stopAt
            if finishedSource {
                sourceIndex += 1
                sectionStarted = false
            }
            try output.flushIfNeeded()
            if (monotonicNanoseconds() >= deadline || keysSaved >= stopAt) && sourceIndex < sources.count { return false }
        }
        output.byte(RDB.opEOF)
        output.littleEndian(checksum ? output.checksum : 0)
        try output.flush()
        isFinished = true
        return true
    }

    /// Saves an entry a write is about to change or remove (Database.preserve); `table` is the keys table
    /// it is in, which says its database at the instant.
    func save(from table: HashTable<Database.Entry>, key: UnsafeRawBufferPointer, _ value: Value, expire: Int64?) {
        guard let source = sources.first(where: { $0.keys === table }) else { return }
        record(db: source.db, key: ByteString(key), value, expire: expire)
    }

    private func select(_ db: Int) {
        guard selectedDB != db else { return }
        output.byte(RDB.opSelectDB)
        output.length(db)
        selectedDB = db
    }

    /// One key: SELECTDB when the database differs from the last record's, EXPIRETIME_MS, type, key, value.
    private func record(db: Int, key: ByteString, _ value: Value, expire: Int64?) {
        select(db)
        if let expire {
            output.byte(RDB.opExpireTimeMs)
            output.littleEndian(expire)
        }
        output.byte(output.valueType(value))
        output.string(key)
        output.valuePayload(value)
        keysSaved += 1
    }

    /// Detaches from the keyspace (finished or abandoned). Tables it kept that no database uses any more
    /// (flushed, or moved away by SWAPDB and flushed) go to `disposer`, so their last release happens off
    /// the loop; the others are simply let go of.
    func detach(from keyspace: KeyspaceChanges, databases: [Database], disposer: ObjectDisposer) {
        if keyspace.snapshot === self { keyspace.snapshot = nil }
        for source in sources where !databases.contains(where: { $0.tables.keys === source.keys }) {
            disposer.release(source.keys)
            disposer.release(source.expires)
        }
        sources = []
    }
}
