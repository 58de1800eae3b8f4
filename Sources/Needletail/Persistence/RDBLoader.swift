import Glibc

/// Reads a whole RDB stream into the databases (Redis's rdbLoadRio): the file at start-up and DEBUG
/// RELOAD, the AOF's RDB base and preamble, later a replica's full sync.
///
/// Anything malformed throws an `RDBError` naming the problem; the caller decides what that means (exit
/// at start-up, as redis-server does, never a half-loaded dataset served as whole). Keys already past their
/// time are skipped (as a master does), as are empty collections; a duplicate key is an error.
struct RDBLoader {
    var limits: RDBLoadLimits
    /// Unix ms: keys expiring at or before this are not loaded.
    var now: Int64
    /// Called every so often with the bytes read so far (start-up serves -LOADING meanwhile).
    var progress: ((Int) -> Void)?
    /// Keys past their time are skipped (a master loading its RDB), or loaded (an AOF's preamble).
    var skipsExpired = true
    /// A key already in the database is replaced (DEBUG RELOAD MERGE) instead of failing the load.
    var replacesDuplicates = false
    /// DEBUG SET-SKIP-CHECKSUM-VALIDATION 1.
    var skipsChecksum = false
    /// Microseconds to sleep after each key (the hidden `key-load-delay`, which tests use to observe a load).
    var keyLoadDelay = 0

    struct Result {
        var keysLoaded = 0
        var keysExpired = 0
        var emptyKeysSkipped = 0
        var version = 0
        /// FUNCTION libraries' code (RDB_OPCODE_FUNCTION2), kept until scripting can load them.
        var functions: [ByteString] = []
        /// The RDB's bytes, up to and including its checksum (an AOF preamble continues after it).
        var length = 0
        /// Values the decoding threads could not take (streams, values whose framing is bad), decoded in order
        /// on the loading thread.
        var valuesDecodedInOrder = 0
    }

    /// Threads decoding values (0: each value is decoded where it is read).
    var decodingThreads = defaultDecodingThreads
    /// A batch of keys handed to those threads closes at this many keys or this many bytes of values: big
    /// enough that handing it over costs little, small enough that the threads start early and end together.
    var batchKeys = 1024
    var batchBytes = 128 << 10

    /// One thread per core, up to 4: this thread reads the framing and stores while they decode.
    static var defaultDecodingThreads: Int { max(1, min(Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))), 4)) }

    /// Loads `bytes` (a whole RDB, or the start of an AOF with an RDB preamble) into `databases`, which
    /// should be empty. Verifies the CRC64 unless it is 0.
    ///
    /// This thread reads the file's framing (opcodes, keys) and steps over each value (`skipValue`); the
    /// values are decoded on `decodingThreads` threads a batch of keys at a time, the checksum is computed on
    /// a thread of its own, and the keys are stored here in file order as their batches come back. What is
    /// stored, and which error a bad file gets, is what a one-pass load gives: a value that fails to decode
    /// fails where it sits in the file, after the keys before it are stored and before anything after it.
    func load(_ bytes: UnsafeRawBufferPointer, into databases: [Database]) throws -> Result {
        var input = RDBInput(bytes)
        let keys = KeyStore(self, databases)
        let magic = try input.bytes(9)
        guard magic.starts(with: Array("REDIS".utf8)) else { throw RDBError("Wrong signature trying to load DB from file") }
        guard let version = Int(String(decoding: magic[5...], as: UTF8.self)), version >= 1 else {
            throw RDBError("Wrong signature trying to load DB from file")
        }
        guard version <= RDB.maxReadableVersion else { throw RDBError("Can't handle RDB format version \(version)") }
        keys.result.version = version
        // key-load-delay observes keys one at a time: no batches then.
        let decoder = decodingThreads > 0 && keyLoadDelay == 0
            ? ParallelDecoder(bytes: bytes, limits: limits, threads: decodingThreads, keys: keys,
                              batchKeys: max(batchKeys, 1), batchBytes: batchBytes) : nil
        let checksum = version >= 5 && !skipsChecksum ? RunningChecksum(bytes) : nil
        defer {
            decoder?.shutdown()
            checksum?.shutdown()
        }
        var db = 0
        var expire: Int64?
        // The next key's access record (RDB_OPCODE_FREQ / IDLE), applied as Redis's objectSetLRUOrLFU.
        var frequency: UInt32?, idle: Int?
        var nextProgress = 1 << 21
        do {
            readFile: while true {
                if input.offset >= nextProgress {
                    progress?(input.offset)
                    checksum?.add(upTo: input.offset)
                    nextProgress = input.offset + (1 << 21)
                }
                let type = try input.byte()
                switch type {
                case RDB.opExpireTime:
                    expire = Int64(try input.littleEndian(Int32.self)) * 1000
                case RDB.opExpireTimeMs:
                    expire = try input.littleEndian(Int64.self)
                case RDB.opFreq:
                    frequency = UInt32(try input.byte())
                case RDB.opIdle:
                    idle = try input.length()
                case RDB.opEOF:
                    break readFile
                case RDB.opSelectDB:
                    let index = try input.length()
                    guard index < databases.count else {
                        throw RDBError("FATAL: Data file was created with a Redis server configured to handle more than \(databases.count) databases. Exiting")
                    }
                    db = index
                case RDB.opResizeDB:
                    let keys = try input.length(), expires = try input.length()
                    // A hint: capped by what the rest of the file could hold, so a lying count reserves nothing big.
                    databases[db].reserveForLoading(keys: min(keys, input.remaining / 4), expires: min(expires, input.remaining / 12))
                case RDB.opAux:
                    _ = try input.string()  // AUX fields (redis-ver, ctime, ...) are informational
                    _ = try input.string()
                case RDB.opModuleAux:
                    throw RDBError("The RDB file contains AUX module data; Needletail does not support modules")
                case RDB.opFunction2:
                    keys.result.functions.append(try input.string())
                case RDB.opFunctionPreGA:
                    throw RDBError("Pre-release function format not supported")
                default:
                    var key = LoadedKey(key: try input.string(), db: db, type: type, expire: expire, frequency: frequency,
                                        idle: idle, start: input.offset)
                    (expire, frequency, idle) = (nil, nil, nil)
                    if let decoder {
                        if type == RDB.typeString && !input.compressedStringFollows {
                            // Cheaper here than handed over; it waits in its batch to be stored in order.
                            try decoder.add(key, value: .string(try input.string()))
                            continue
                        }
                        if (try? input.skipValue(type: type)) == true {
                            key.end = input.offset
                            try decoder.add(key)
                            continue
                        }
                        // Read by decoding it (a stream, or framing that fails): everything before it goes first.
                        try decoder.finish()
                        input.seek(to: key.start)
                        keys.result.valuesDecodedInOrder += 1
                    }
                    try keys.store(key, try input.value(type: type, limits: limits))
                    if keyLoadDelay > 0 {
                        usleep(UInt32(min(keyLoadDelay, 1_000_000)))
                        progress?(input.offset)
                    }
                }
            }
            try decoder?.finish()
        } catch {
            // A value before the point that failed to read may be bad too, and it is the one to report.
            if let decoder, !decoder.failed { try decoder.finish() }
            throw error
        }
        if version >= 5 {
            let expected = checksum?.finish(upTo: input.offset)  // nil: not checked (skipsChecksum)
            let stored = try input.littleEndian(UInt64.self)
            if let expected, stored != 0 && stored != expected { throw RDBError("Wrong RDB checksum expected: (\(hex(stored))) got: (\(hex(expected))). Aborting now.") }
        }
        keys.result.length = input.offset
        return keys.result
    }
}

/// A key read from the file, with what preceded it and where its value's bytes are.
private struct LoadedKey {
    var key: ByteString
    var db: Int
    var type: UInt8
    var expire: Int64?
    var frequency: UInt32?
    var idle: Int?
    /// The value's bytes: from `start` up to `end` (0 when decoded where it was read).
    var start: Int
    var end = 0
}

/// Stores loaded keys in their databases (on the loading thread), counting what it stores and skips.
private final class KeyStore {
    let databases: [Database]
    let now: Int64
    let skipsExpired: Bool
    let replacesDuplicates: Bool
    /// Used by the loading thread only (no dynamic exclusivity check per key).
    @exclusivity(unchecked) var result = RDBLoader.Result()

    init(_ loader: RDBLoader, _ databases: [Database]) {
        self.databases = databases
        now = loader.now
        skipsExpired = loader.skipsExpired
        replacesDuplicates = loader.replacesDuplicates
    }

    /// The keyspace hashes of the keys `prefetch` was last given, in order.
    @exclusivity(unchecked) private var hashes: [UInt64] = []

    /// Hashes `count` keys about to be stored and asks the CPU for their buckets, then for the first entry of
    /// each bucket's chain, so the cache misses of the batch's inserts overlap instead of being paid one
    /// store after another (as Server/PipelinePrefetcher.swift does for pipelined lookups). `store` then
    /// takes `prefetchedHash(i)`.
    func prefetch(_ keys: UnsafePointer<LoadedKey>, count: Int) {
        hashes.removeAll(keepingCapacity: true)
        // The tables without a retain and a release per key (the databases hold them throughout).
        let tables = databases.map { Unmanaged.passUnretained($0.keys) }
        for i in 0..<count {
            let hash = tables[keys[i].db]._withUnsafeGuaranteedRef { table in
                let hash = keys[i].key.withUnsafeBytes { table.hash(of: $0) }
                table.prefetchBucket(hash: hash)
                return hash
            }
            hashes.append(hash)
        }
        for i in 0..<count { tables[keys[i].db]._withUnsafeGuaranteedRef { $0.prefetchChain(hash: hashes[i]) } }
    }

    @inline(__always) func prefetchedHash(_ i: Int) -> UInt64 { hashes[i] }

    func store(_ key: LoadedKey, _ value: consuming Value?, hash: UInt64? = nil) throws {
        guard let value = consume value else {
            result.emptyKeysSkipped += 1
            return
        }
        if skipsExpired, let when = key.expire, when < now {
            result.keysExpired += 1
            return
        }
        let db = databases[key.db]
        var access: UInt32?
        if db.events.access.lfu, let frequency = key.frequency {
            access = db.events.access.lfuStamp(counter: frequency)
        } else if !db.events.access.lfu, let idle = key.idle {
            access = db.events.access.lruStamp(idleSeconds: Int64(idle))
        }
        // `consume`: moved into the table; a copy would retain the value, a cache miss on an object that a
        // decoding thread built on another core.
        guard db.storeLoaded(key.key, consume value, expireAt: key.expire, access: access, hash: hash) || replacesDuplicates else {
            throw RDBError("RDB has duplicated key '\(String(decoding: key.key.withUnsafeBytes { Array($0) }, as: UTF8.self))' in DB \(db.index)")
        }
        result.keysLoaded += 1
    }
}

/// The CRC64 of the file's bytes, computed on a thread of its own a range at a time as the load reads on.
private final class RunningChecksum {
    private let bytes: UnsafeRawBufferPointer
    private let thread = ThreadPool(threads: 1)
    /// Bytes handed to the thread so far.
    private var submitted = 0
    /// Written by the thread only; read after it is idle.
    private var crc: UInt64 = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    /// Checksums the bytes up to `end` (in the background).
    func add(upTo end: Int) {
        guard end > submitted else { return }
        let range = UnsafeRawBufferPointer(rebasing: bytes[submitted..<end])
        submitted = end
        thread.submit { [unowned(unsafe) self] in self.crc = CRC64.update(self.crc, range) }
    }

    /// The CRC64 of the bytes up to `end`.
    func finish(upTo end: Int) -> UInt64 {
        add(upTo: end)
        thread.waitUntilIdle()
        return crc
    }

    /// Waits for the thread (it reads the file's bytes) and stops it.
    func shutdown() { thread.shutdown() }
}

/// Grows the calling thread's malloc heap to about `bytes` ahead of use, and gives the memory back. glibc
/// extends a thread's heap (a non-main arena) as it runs out, one mprotect() per extension, of a few pages when
/// the blocks are small: a load's decoding threads made thousands, 6% of a load's CPU, each one a writer on
/// the address space's lock that the other threads' page faults wait for. The heap keeps the size it was
/// extended to once freed (its pages are returned), so the threads' later growth costs no system call.
private func reserveHeap(bytes: Int) {
    let block = 120 << 10  // under malloc's mmap threshold (128 KB): taken from the heap
    var blocks: [UnsafeMutableRawPointer] = []
    blocks.reserveCapacity(bytes / block)
    for _ in 0..<bytes / block {
        guard let p = malloc(block) else { break }
        blocks.append(p)
    }
    for p in blocks { free(p) }  // lowest first: they merge as they go, and into the top once, trimmed once
}

/// Decodes the values of batches of keys on worker threads and stores the batches in file order.
private final class ParallelDecoder {
    /// Keys and their values, in buffers the loading thread moves them out of (no reference counting).
    final class Batch {
        let keys: UnsafeMutablePointer<LoadedKey>
        let values: UnsafeMutablePointer<Value?>
        var count = 0
        /// Keys moved out (stored) so far; the rest are released with the batch.
        var taken = 0
        /// Keys whose value is still to be decoded, and their bytes.
        var undecoded = 0
        var bytes = 0
        /// The first value that failed to decode, and why.
        var failure: (index: Int, error: Error)?
        private(set) var done = Latch()

        init(capacity: Int) {
            keys = .allocate(capacity: capacity)
            values = .allocate(capacity: capacity)
        }

        /// Empties a stored batch for reuse (fresh buffers would cost page faults batch after batch).
        func reset() {
            precondition(taken == count && failure == nil)
            (count, taken, undecoded, bytes) = (0, 0, 0, 0)
            done = Latch()
        }

        deinit {
            (keys + taken).deinitialize(count: count - taken)
            (values + taken).deinitialize(count: count - taken)
            keys.deallocate()
            values.deallocate()
        }
    }

    private let bytes: UnsafeRawBufferPointer
    private let limits: RDBLoadLimits
    private let keys: KeyStore
    private let pool: ThreadPool
    private let maxInFlight: Int
    private let batchKeys: Int
    private let batchBytes: Int
    private var filling: Batch
    private var inFlight: [Batch] = []
    /// Stored batches, for reuse.
    private var spare: [Batch] = []
    private var oldest = 0
    /// A stored batch failed (a bad value, a duplicate key): nothing more is stored.
    private(set) var failed = false

    init(bytes: UnsafeRawBufferPointer, limits: RDBLoadLimits, threads: Int, keys: KeyStore, batchKeys: Int, batchBytes: Int) {
        self.batchKeys = batchKeys
        self.batchBytes = batchBytes
        filling = Batch(capacity: batchKeys)
        self.bytes = bytes
        self.limits = limits
        self.keys = keys
        // What each thread will allocate, about: the values of its share of the file, a few times its bytes.
        let heap = min(bytes.count / threads * 3, 48 << 20)
        pool = ThreadPool(threads: threads, threadStart: { reserveHeap(bytes: heap) })
        maxInFlight = 2 * threads + 2
    }

    /// Waits for the batches being decoded (they read the file's bytes) and stops the threads.
    func shutdown() { pool.shutdown() }

    /// Adds a key whose value is still to be decoded (from `key.start` to `key.end`), or is `value`; stores
    /// the oldest batches when too many are out. Keys with their values (small strings) wait in batches too:
    /// stored a batch at a time, their inserts' cache misses overlap (KeyStore.prefetch), which loads
    /// 10,000,000 small keys in half the time of storing each as it is read.
    func add(_ key: LoadedKey, value: consuming Value? = nil) throws {
        let batch = filling
        (batch.keys + batch.count).initialize(to: key)
        (batch.values + batch.count).initialize(to: value)
        batch.count += 1
        if key.end > 0 {
            batch.undecoded += 1
            batch.bytes += key.end - key.start
        }
        if batch.count == batchKeys || batch.bytes >= batchBytes {
            submit()
            while inFlight.count - oldest > maxInFlight { try storeOldest() }
        }
    }

    /// Stores every key added so far.
    func finish() throws {
        submit()
        while oldest < inFlight.count { try storeOldest() }
    }

    private func submit() {
        let batch = filling
        guard batch.count > 0 else { return }
        filling = spare.popLast() ?? Batch(capacity: batchKeys)
        inFlight.append(batch)
        guard batch.undecoded > 0 else {
            batch.done.open()
            return
        }
        let (bytes, limits) = (self.bytes, self.limits)
        pool.submit {
            let scratch = DecodeScratch()
            for i in 0..<batch.count where batch.keys[i].end > 0 {
                let key = batch.keys + i
                var input = RDBInput(bytes, offset: key.pointee.start)
                input.scratch = scratch
                do {
                    batch.values[i] = try input.value(type: key.pointee.type, limits: limits)
                    // skipValue and value read the same structure: a difference is a bug, not a bad file.
                    guard input.offset == key.pointee.end else {
                        throw RDBError("Internal error: a value read to \(input.offset), not \(key.pointee.end)")
                    }
                } catch {
                    batch.failure = (i, error)
                    break
                }
            }
            batch.done.open()
        }
    }

    private func storeOldest() throws {
        let batch = inFlight[oldest]
        oldest += 1
        if oldest == inFlight.count {
            inFlight.removeAll(keepingCapacity: true)
            oldest = 0
        }
        batch.done.wait()
        let end = batch.failure?.index ?? batch.count
        do {
            let first = batch.taken
            keys.prefetch(batch.keys + first, count: end - first)
            while batch.taken < end {
                let i = batch.taken
                batch.taken += 1
                try keys.store((batch.keys + i).move(), (batch.values + i).move(), hash: keys.prefetchedHash(i - first))
            }
            if let failure = batch.failure { throw failure.error }
            batch.reset()
            spare.append(batch)
        } catch {
            failed = true
            throw error
        }
    }
}

private func hex(_ v: UInt64) -> String { String(v, radix: 16) }
