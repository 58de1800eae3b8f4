import CSystem

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
    /// Objects handed to workers so far (INFO `lazyfreed_objects`).
    @exclusivity(unchecked) private(set) var freedObjects = 0
    /// Estimated bytes of the values given with their size, not yet freed (by the loop's batch or a
    /// worker): eviction counts them as freed already (Server/Eviction.swift). Workers subtract, hence atomic.
    private let pendingBytesCounter = UnsafeMutablePointer<Int64>.allocate(capacity: 1)
    @exclusivity(unchecked) private var batchBytes: Int64 = 0

    init(pool: ThreadPool?) {
        self.pool = pool
        pendingBytesCounter.initialize(to: 0)
    }

    deinit { pendingBytesCounter.deallocate() }

    /// Takes an object the keyspace no longer references: a big value (Database decides which are worth
    /// it) or a whole detached table (FLUSHDB/FLUSHALL).
    func release(_ object: AnyObject) { pending.append(object) }

    func release(_ object: AnyObject, bytes: Int) {
        pending.append(object)
        batchBytes += Int64(bytes)
        cs_atomic_add_i64(pendingBytesCounter, Int64(bytes))
    }

    var pendingBytes: Int { Int(cs_atomic_load_i64(pendingBytesCounter)) }

    /// Objects waiting for a worker (INFO `lazyfree_pending_objects`).
    var pendingObjects: Int { pending.count + (pool?.pendingJobs ?? 0) }

    /// Called before the loop sleeps: ships the batch to a worker.
    @inline(__always) func flush() {
        if pending.isEmpty { return }
        freedObjects += pending.count
        let bytes = batchBytes, counter = pendingBytesCounter
        batchBytes = 0
        guard let pool else {
            pending.removeAll()
            cs_atomic_add_i64(counter, -bytes)
            return
        }
        let batch = Unmanaged.passRetained(Batch(takingFrom: &pending))
        pool.submit {
            batch.release()
            cs_atomic_add_i64(counter, -bytes)
        }
    }

    private final class Batch {
        private var objects: [AnyObject] = []
        init(takingFrom source: inout [AnyObject]) { swap(&objects, &source) }
    }
}
