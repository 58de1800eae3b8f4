import Synchronization

/// Frees big values off the event loop, as Redis's lazyfree: dropping the last reference to a sorted set
/// with millions of members (or a whole keyspace table, for FLUSHALL ASYNC) means millions of `free` calls,
/// which would stall every client for the duration.
///
/// The keyspace hands over what it unlinks (`dispose`). Handing it to a worker immediately would race with
/// the command still holding its own reference (then the *loop* could end up doing the last release), so
/// objects wait in `pending` until the end of the loop iteration (`flush`, called before the loop sleeps),
/// when no command holds anything. `flush` moves the whole batch into one box whose only reference goes to
/// the worker, which releases it.
final class LazyFree: ObjectDisposer {
    /// nil: free on the calling thread at `flush` (unit tests of the keyspace).
    private let pool: ThreadPool?
    @exclusivity(unchecked) private var pending: [AnyObject] = []
    /// What `pending` is worth in Redis's units (see `weight(of:)`).
    @exclusivity(unchecked) private var pendingWeight = 0
    /// Objects shipped to a worker and not freed yet, and objects freed so far: the worker updates both,
    /// INFO reads them (Redis's lazyfree_objects and lazyfreed_objects atomics).
    private let inFlight = Atomic<Int>(0)
    private let freed = Atomic<Int>(0)
    /// Estimated bytes of the values given with their size, not yet freed (by the loop's batch or a
    /// worker): eviction counts them as freed already (Server/Eviction.swift).
    private let pendingBytesCounter = Atomic<Int>(0)
    @exclusivity(unchecked) private var batchBytes = 0

    init(pool: ThreadPool?) { self.pool = pool }

    /// Takes an object the keyspace no longer references: a big value (Database decides which are worth
    /// it) or a whole detached table (FLUSHDB/FLUSHALL).
    func release(_ object: AnyObject) {
        pending.append(object)
        pendingWeight += Self.weight(of: object)
    }

    func release(_ object: AnyObject, bytes: Int) {
        release(object)
        batchBytes += bytes
        pendingBytesCounter.add(bytes, ordering: .relaxed)
    }

    var pendingBytes: Int { pendingBytesCounter.load(ordering: .relaxed) }

    /// Objects waiting to be freed (INFO `lazyfree_pending_objects`): those of this iteration and those a
    /// worker has not finished.
    var pendingObjects: Int { pendingWeight + inFlight.load(ordering: .relaxed) }
    /// Objects freed off the loop since start (INFO `lazyfreed_objects`).
    var freedObjects: Int { freed.load(ordering: .relaxed) }

    /// Called before the loop sleeps: ships the batch to a worker.
    @inline(__always) func flush() {
        if pending.isEmpty { return }
        let weight = pendingWeight, bytes = batchBytes
        pendingWeight = 0
        batchBytes = 0
        guard let pool else {
            pending.removeAll()
            freed.add(weight, ordering: .relaxed)
            pendingBytesCounter.subtract(bytes, ordering: .relaxed)
            return
        }
        inFlight.add(weight, ordering: .relaxed)
        let batch = Unmanaged.passRetained(Batch(takingFrom: &pending))
        pool.submit { [self] in
            batch.release()
            inFlight.subtract(weight, ordering: .relaxed)
            freed.add(weight, ordering: .relaxed)
            pendingBytesCounter.subtract(bytes, ordering: .relaxed)
        }
    }

    /// Redis counts a value as one object and a flushed database as its keys (emptyDbAsync); the expires
    /// table of a flushed database goes with it and adds nothing.
    private static func weight(of object: AnyObject) -> Int {
        if let table = object as? HashTable<Database.Entry> { return table.count }
        if object is HashTable<Int64> { return 0 }
        return 1
    }

    private final class Batch {
        private var objects: [AnyObject] = []
        init(takingFrom source: inout [AnyObject]) { swap(&objects, &source) }
    }
}
