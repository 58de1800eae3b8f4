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
    }

    /// Loads `bytes` (a whole RDB, or the start of an AOF with an RDB preamble) into `databases`, which
    /// should be empty. Verifies the CRC64 unless it is 0.
    func load(_ bytes: UnsafeRawBufferPointer, into databases: [Database]) throws -> Result {
        var input = RDBInput(bytes)
        var result = Result()
        let magic = try input.bytes(9)
        guard magic.starts(with: Array("REDIS".utf8)) else { throw RDBError("Wrong signature trying to load DB from file") }
        guard let version = Int(String(decoding: magic[5...], as: UTF8.self)), version >= 1 else {
            throw RDBError("Wrong signature trying to load DB from file")
        }
        guard version <= RDB.maxReadableVersion else { throw RDBError("Can't handle RDB format version \(version)") }
        result.version = version
        var db = databases[0]
        var expire: Int64?
        // The next key's access record (RDB_OPCODE_FREQ / IDLE), applied as Redis's objectSetLRUOrLFU.
        var frequency: UInt32?, idle: Int?
        var nextProgress = 1 << 21
        while true {
            if let progress, input.offset >= nextProgress {
                progress(input.offset)
                nextProgress = input.offset + (1 << 21)
            }
            let type = try input.byte()
            switch type {
            case RDB.opExpireTime:
                expire = Int64(try input.littleEndian(Int32.self)) * 1000
                continue
            case RDB.opExpireTimeMs:
                expire = try input.littleEndian(Int64.self)
                continue
            case RDB.opFreq:
                frequency = UInt32(try input.byte())
                continue
            case RDB.opIdle:
                idle = try input.length()
                continue
            case RDB.opEOF:
                break
            case RDB.opSelectDB:
                let index = try input.length()
                guard index < databases.count else {
                    throw RDBError("FATAL: Data file was created with a Redis server configured to handle more than \(databases.count) databases. Exiting")
                }
                db = databases[index]
                continue
            case RDB.opResizeDB:
                let keys = try input.length(), expires = try input.length()
                // A hint: capped by what the rest of the file could hold, so a lying count reserves nothing big.
                db.reserveForLoading(keys: min(keys, input.remaining / 4), expires: min(expires, input.remaining / 12))
                continue
            case RDB.opAux:
                _ = try input.string()  // AUX fields (redis-ver, ctime, ...) are informational
                _ = try input.string()
                continue
            case RDB.opModuleAux:
                throw RDBError("The RDB file contains AUX module data; Needletail does not support modules")
            case RDB.opFunction2:
                result.functions.append(try input.string())
                continue
            case RDB.opFunctionPreGA:
                throw RDBError("Pre-release function format not supported")
            default:
                let key = try input.string()
                let value = try input.value(type: type, limits: limits)
                defer { (expire, frequency, idle) = (nil, nil, nil) }
                guard let value else {
                    result.emptyKeysSkipped += 1
                    continue
                }
                if skipsExpired, let when = expire, when < now {
                    result.keysExpired += 1
                    continue
                }
                var access: UInt32?
                if db.events.access.lfu, let frequency {
                    access = db.events.access.lfuStamp(counter: frequency)
                } else if !db.events.access.lfu, let idle {
                    access = db.events.access.lruStamp(idleSeconds: Int64(idle))
                }
                guard db.storeLoaded(key, value, expireAt: expire, access: access) || replacesDuplicates else {
                    throw RDBError("RDB has duplicated key '\(String(decoding: key.withUnsafeBytes { Array($0) }, as: UTF8.self))' in DB \(db.index)")
                }
                result.keysLoaded += 1
                if keyLoadDelay > 0 {
                    usleep(UInt32(min(keyLoadDelay, 1_000_000)))
                    if let progress { progress(input.offset) }
                }
                continue
            }
            break
        }
        if version >= 5 {
            let expected = CRC64.update(0, input.consumed)
            let stored = try input.littleEndian(UInt64.self)
            if stored != 0 && stored != expected && !skipsChecksum { throw RDBError("Wrong RDB checksum expected: (\(hex(stored))) got: (\(hex(expected))). Aborting now.") }
        }
        result.length = input.offset
        return result
    }
}

private func hex(_ v: UInt64) -> String { String(v, radix: 16) }
