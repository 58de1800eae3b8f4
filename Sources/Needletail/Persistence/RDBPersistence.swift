import CSystem
import Glibc

/// The RDB side of persistence (Redis's rdb.c server half): SAVE, BGSAVE without fork, save points,
/// loading at start-up, and the state INFO persistence reports.
///
/// Files are written as redis-server writes them: to `temp-<pid>.rdb` in `dir`, fsynced, renamed over
/// `dbfilename`, and the directory fsynced, so a crash at any moment leaves the previous dump intact.
///
/// BGSAVE runs a `Snapshot` (Persistence/Snapshot.swift) in slices on the loop (`tick`, once per loop
/// iteration); its output goes in 1 MB chunks to a writer thread of its own, which writes, fsyncs and
/// renames; the loop learns the outcome at a later tick.
final class RDBPersistence {
    unowned(unsafe) let server: Server

    /// The running BGSAVE.
    private(set) var background: BackgroundSave?
    /// BGSAVE SCHEDULE (or BGSAVE inside MULTI) asked for one while it could not start.
    var bgsaveScheduled = false
    var lastBgsaveOK = true { didSet { updateGate() } }
    /// Unix seconds of the last BGSAVE attempt (retries after a failure wait 5 s, as Redis).
    var lastBgsaveTry: Int64 = 0
    var lastBgsaveSeconds: Int64 = -1
    var saves = 0
    var lastLoadKeysLoaded = 0
    var lastLoadKeysExpired = 0
    /// The FUNCTION libraries' code, as RDB files hold them (Scripting/Functions.swift).
    var functions: [ByteString] { server.scripting.libraryCodes }
    /// Set while the dataset is being loaded (start-up, DEBUG RELOAD): INFO `loading:1`.
    var loading = false { didSet { updateGate() } }
    var loadingStartTime: Int64 = 0
    var loadingTotalBytes = 0
    var loadingLoadedBytes = 0
    /// DEBUG SET-SKIP-CHECKSUM-VALIDATION: RDB files and RESTORE payloads are not checksummed.
    var skipChecksumValidation = false

    init(server: Server) { self.server = server }

    /// The server's one-flag summary of "commands may be refused" (see `diskErrorReply` and `loading`).
    func updateGate() { server.persistenceGate = loading || !lastBgsaveOK || (server.aof?.lastWriteFailed ?? false) }

    var path: String { server.config.dbfilename }

    // MARK: - Saving

    /// The AUX fields redis-server 7.0 writes (rdbSaveInfoAuxFields).
    func auxFields(aofBase: Bool) -> [(String, Snapshot.AuxValue)] {
        [("redis-ver", .text(redisVersion)), ("redis-bits", .integer(64)),
         ("ctime", .integer(wallClockMillis() / 1000)), ("used-mem", .integer(Int64(cs_malloc_used_bytes()))),
         ("aof-base", .integer(aofBase ? 1 : 0))]
    }

    /// Writes the whole dataset to `output` at once (SAVE, DEBUG RELOAD, the AOF's preamble). A background
    /// snapshot still serializing is completed first (one snapshot runs at a time).
    func writeDataset(to output: RDBOutput, aofBase: Bool = false) throws {
        server.completeSnapshotSerialization()
        let snapshot = Snapshot(databases: server.databases, keyspace: server.keyspace, output: output,
                                aux: auxFields(aofBase: aofBase), functions: functions, checksum: server.config.rdbchecksum)
        defer { snapshot.detach(from: server.keyspace, databases: server.databases, disposer: server.lazyFree) }
        while try !snapshot.step(until: UInt64.max) {}
    }

    /// SAVE: writes `dbfilename` now, on the loop. Throws after logging what failed.
    func save() throws {
        let temp = "temp-\(getpid()).rdb"
        do {
            let file = try RDBFileWriter(temp: temp)
            // Compression, checksum and writes on a thread of their own while the loop serializes.
            let output = RDBOutput(compress: server.config.rdbcompression, capacity: 1 << 20, sink: { try file.write($0) },
                                   finishingThread: true)
            try writeDataset(to: output)
            try output.finishWrites()
            try file.commit(as: path)
        } catch {
            server.log.warning("Failed saving the DB: \(error)")
            unlink(temp)
            throw error
        }
        server.log.notice("DB saved on disk")
        saveSucceeded(changesSaved: server.dirty)
        lastBgsaveOK = true
    }

    private func saveSucceeded(changesSaved: Int) {
        server.dirty -= changesSaved
        server.lastSave = wallClockMillis() / 1000
        saves += 1
    }

    /// BGSAVE: starts a background save; false (after logging) when it could not start.
    func startBackgroundSave() -> Bool {
        precondition(background == nil)
        lastBgsaveTry = wallClockMillis() / 1000
        do {
            background = try BackgroundSave(server: server, temp: "temp-bg-\(getpid()).rdb", commitAs: path,
                                            aux: auxFields(aofBase: false))
        } catch {
            server.log.warning("Can't save in background: \(error)")
            lastBgsaveOK = false
            return false
        }
        bgsaveScheduled = false
        server.log.notice("Background saving started")
        return true
    }

    /// Stops a running BGSAVE and removes its temporary file (SHUTDOWN, FLUSHALL), as killRDBChild.
    func abortBackgroundSave() {
        guard let save = background else { return }
        save.abort()
        background = nil
        server.log.notice("Background saving aborted")
    }

    /// Once per loop iteration: moves a running BGSAVE along, and finishes it when its file is written.
    /// Returns whether the loop should not sleep (serialization still has work).
    func tick() -> Bool {
        guard let save = background else { return false }
        switch save.advance() {
        case .running(let busy):
            return busy
        case .failed(let error):
            background = nil
            lastBgsaveOK = false
            lastBgsaveSeconds = save.elapsedSeconds
            server.log.warning("Background saving error: \(error)")
        case .succeeded:
            background = nil
            lastBgsaveOK = true
            lastBgsaveSeconds = save.elapsedSeconds
            saveSucceeded(changesSaved: save.dirtyAtStart)
            server.log.notice("DB saved on disk")
            server.log.notice("Background saving terminated with success")
        }
        return false
    }

    /// The serverCron part: save points and a scheduled BGSAVE.
    func cron() {
        guard !server.hasBackgroundSnapshot else { return }
        let now = wallClockMillis() / 1000
        let mayRetry = lastBgsaveOK || now - lastBgsaveTry > 5
        if bgsaveScheduled && mayRetry {
            _ = startBackgroundSave()
            return
        }
        for point in server.config.save where server.dirty >= point.changes && now - server.lastSave > point.seconds && mayRetry {
            server.log.notice("\(point.changes) changes in \(point.seconds) seconds. Saving...")
            _ = startBackgroundSave()
            return
        }
    }

    /// The -MISCONF error writes (and PING) get after a failed save with stop-writes-on-bgsave-error, or
    /// while the AOF cannot be written (Redis's writeCommandsDeniedByDiskError); nil when they may run.
    var diskErrorReply: String? {
        if !lastBgsaveOK && server.config.stopWritesOnBgsaveError && !server.config.save.isEmpty { return misconfError }
        if let aof = server.aof, aof.isOn, aof.lastWriteFailed {
            return "MISCONF Errors writing to the AOF file: " + String(cString: strerror(aof.lastWriteErrno))
        }
        return nil
    }

    // MARK: - Loading

    /// Loads `dbfilename` at start-up when it exists. Throws (after logging) on a file that cannot be read
    /// whole; a missing file is not an error.
    func loadAtStartup() throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return }
            server.log.warning("Fatal error loading the DB: \(String(cString: strerror(errno))). Exiting.")
            throw RDBError("cannot open \(path)")
        }
        let start = monotonicMicros()
        do {
            let result = try load(fd: fd)
            let seconds = Double(monotonicMicros() - start) / 1e6
            if result.emptyKeysSkipped > 0 {
                server.log.warning("Done loading RDB, keys loaded: \(result.keysLoaded), keys expired: \(result.keysExpired), empty keys skipped: \(result.emptyKeysSkipped).")
            } else {
                server.log.notice("Done loading RDB, keys loaded: \(result.keysLoaded), keys expired: \(result.keysExpired).")
            }
            server.log.notice("DB loaded from disk: \(String(format3(seconds))) seconds")
        } catch {
            server.log.warning("Short read or OOM loading DB. Unrecoverable error, aborting now.")
            server.log.warning("Internal error in RDB reading offset 0, function at rdb.c:0 -> \(error)")
            throw error
        }
    }

    /// Loads the RDB open at `fd` (closed here) into the databases, which are normally empty: all or nothing
    /// (on failure the databases are emptied again, unless `flushOnFailure` is false: DEBUG RELOAD NOFLUSH).
    /// `servingClients`: other clients are served (-LOADING) every 2 MB, as at start-up; not for DEBUG
    /// RELOAD, whose own client is in the middle of its command.
    @discardableResult func load(fd: Int32, replacingDuplicates: Bool = false, flushOnFailure: Bool = true,
                                 servingClients: Bool = true) throws -> RDBLoader.Result {
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw RDBError("fstat: \(String(cString: strerror(errno)))") }
        let size = Int(info.st_size)
        loading = true
        loadingStartTime = wallClockMillis() / 1000
        loadingTotalBytes = size
        loadingLoadedBytes = 0
        defer { loading = false }
        let mapped = size == 0 ? nil : mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        if mapped == MAP_FAILED { throw RDBError("mmap: \(String(cString: strerror(errno)))") }
        defer { if let mapped { munmap(mapped, size) } }
        if let mapped { madvise(mapped, size, MADV_SEQUENTIAL) }
        var loader = RDBLoader(limits: RDBLoadLimits(server.config), now: wallClockMillis())
        loader.replacesDuplicates = replacingDuplicates
        loader.skipsChecksum = skipChecksumValidation
        loader.keyLoadDelay = Int(server.config.value(of: "key-load-delay") ?? "0") ?? 0
        loader.progress = { [unowned(unsafe) self] offset in
            self.loadingLoadedBytes = offset
            if servingClients { self.server.processEventsWhileLoading() }
        }
        do {
            let result = try loader.load(UnsafeRawBufferPointer(start: mapped, count: size), into: server.databases)
            guard server.scripting.restoreLibraries(result.functions) else { throw RDBError("Failed loading library") }
            lastLoadKeysLoaded = result.keysLoaded
            lastLoadKeysExpired = result.keysExpired
            loadingLoadedBytes = size
            return result
        } catch {
            if flushOnFailure {
                for db in server.databases { db.removeAll() }
                server.dirty = 0
            }
            throw error
        }
    }
}

private func format3(_ v: Double) -> String {
    let ms = Int((v * 1000).rounded())
    let frac = String(ms % 1000)
    return "\(ms / 1000).\(String(repeating: "0", count: 3 - frac.count))\(frac)"
}

// MARK: - Files

/// A file written under a temporary name in the working directory and committed by fsync + rename +
/// directory fsync (Redis's rdbSave sequence).
final class RDBFileWriter {
    let temp: String
    let fd: Int32

    init(temp: String) throws {
        self.temp = temp
        fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        if fd < 0 { throw RDBError("Failed opening the temp RDB file \(temp) (in server root dir \(ConfigSyntax.currentDirectory())) for saving: \(String(cString: strerror(errno)))") }
    }

    deinit { if fd >= 0 { close(fd) } }

    func write(_ bytes: UnsafeRawBufferPointer) throws { try writeAll(fd, bytes) }

    /// fsync, rename over `name` (nil: keep the temporary name), fsync the directory.
    func commit(as name: String?) throws {
        if fsync(fd) != 0 { throw RDBError("Write error saving DB on disk: \(String(cString: strerror(errno)))") }
        guard let name else { return }
        if rename(temp, name) != 0 {
            let e = errno
            unlink(temp)
            throw RDBError("Error moving temp DB file \(temp) on the final destination \(name) (in server root dir \(ConfigSyntax.currentDirectory())): \(String(cString: strerror(e)))")
        }
        syncDirectory(of: name)
    }
}

/// Writes every byte (FileIO's writeFully), as a throwing sink for RDBOutput.
func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws {
    guard let base = bytes.baseAddress else { return }
    let (_, error) = writeFully(fd, base, bytes.count)
    if error != 0 { throw RDBError("Write error saving DB on disk: \(errnoText(error))") }
}

// MARK: - BGSAVE

/// One background save: the snapshot serialized on the loop in slices, and a writer thread that writes the
/// chunks, then fsyncs and renames. The writer's state is shared under a mutex.
final class BackgroundSave {
    let dirtyAtStart: Int
    private let startedAt = monotonicMicros()
    private let snapshot: Snapshot
    private unowned(unsafe) let server: Server
    /// The name the file is renamed to once written and fsynced (nil: left under its temporary name).
    private let commitName: String?
    private let file: RDBFileWriter
    private let writer: ThreadPool
    private let shared = WriterState()
    private var serialized = false

    /// Output waiting for the writer beyond which serialization waits (disk slower than the loop). It is
    /// most of a BGSAVE's extra memory: 64 MB made 161 MB extra under SET -P 16 on 10,000,000 keys.
    static let maxPendingBytes = 8 << 20

    var elapsedSeconds: Int64 { (monotonicMicros() - startedAt) / 1_000_000 }
    var keysSaved: Int { snapshot.keysSaved }
    let keysTotal: Int

    enum Progress {
        case running(busy: Bool)
        case succeeded
        case failed(String)
    }

    /// Starts writing the dataset as it is now to `temp` (relative to the working directory), renamed to
    /// `commitAs` when complete (BGSAVE), or left there for the caller (the AOF rewrite's new base). Both
    /// are made absolute now: CONFIG SET dir may chdir() while the writer works.
    init(server: Server, temp: String, commitAs: String?, aux: [(String, Snapshot.AuxValue)]) throws {
        self.server = server
        // `dir` as configured (absolute), not getcwd(), which fails once the directory was removed.
        let directory = server.config.dir
        func absolute(_ path: String) -> String { path.hasPrefix("/") || directory.isEmpty ? path : directory + "/" + path }
        commitName = commitAs.map(absolute)
        dirtyAtStart = server.dirty
        let compress = server.config.rdbcompression
        let file = try RDBFileWriter(temp: absolute(temp))
        self.file = file
        // The thread only once the file is open: a pool is never left behind by a failed start.
        let writer = ThreadPool(threads: 1)
        self.writer = writer
        let shared = self.shared
        let loop = server.loop
        let output = RDBOutput(compress: compress, capacity: 1 << 20, sink: { bytes in
            if let error = shared.error { throw RDBError(error) }
            let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 16)
            copy.copyMemory(from: bytes)
            shared.adjustPending(bytes.count)
            writer.submit {
                defer { copy.deallocate() }
                // After a failure (or an abort) nothing more is written.
                if shared.error == nil {
                    do { try file.write(UnsafeRawBufferPointer(copy)) } catch { shared.fail("\(error)") }
                }
                // The loop stops serializing past maxPendingBytes: wake it when the queue has drained.
                if shared.adjustPending(-copy.count) < BackgroundSave.maxPendingBytes / 2 { loop.wake() }
            }
        })
        keysTotal = server.databases.reduce(0) { $0 + $1.count }
        snapshot = Snapshot(databases: server.databases, keyspace: server.keyspace, output: output, aux: aux,
                            functions: server.rdb.functions, checksum: server.config.rdbchecksum)
    }

    /// Serializes a slice (Snapshot.serializeSlice), or checks whether the writer is done.
    func advance() -> Progress {
        if let error = shared.error {
            abort()
            return .failed(error)
        }
        if !serialized {
            if shared.pending > BackgroundSave.maxPendingBytes { return .running(busy: false) }
            let outcome: Snapshot.SliceOutcome
            do {
                outcome = try snapshot.serializeSlice(keySaveDelay: server.config.rdbKeySaveDelay)
            } catch {
                abort()
                return .failed("\(error)")
            }
            if outcome == .finished { serializationEnded() }
            return .running(busy: outcome == .more)
        }
        guard shared.isFinished else { return .running(busy: false) }
        writer.shutdown()
        if let error = shared.error {
            unlink(file.temp)
            return .failed(error)
        }
        return .succeeded
    }

    /// Serializes everything left now (a SAVE or another snapshot must start: one runs at a time). The
    /// writer still finishes the file in the background.
    func completeSerialization() {
        guard !serialized else { return }
        do {
            while try !snapshot.step(until: UInt64.max) {}
            serializationEnded()
        } catch {
            abort()  // lets go of the keyspace, so the next snapshot can begin; the next tick reports it
        }
    }

    /// The snapshot is all in the writer's queue: let go of the keyspace and have the writer commit.
    private func serializationEnded() {
        serialized = true
        snapshot.detach(from: server.keyspace, databases: server.databases, disposer: server.lazyFree)
        let file = self.file, shared = self.shared, name = commitName, loop = server.loop
        writer.submit {
            // A failed or aborted save never replaces anything: its temp file goes.
            if shared.error == nil {
                do { try file.commit(as: name) } catch { shared.fail("\(error)") }
            }
            if shared.error != nil { unlink(file.temp) }
            shared.finish()
            loop.wake()
        }
    }

    /// Abandons the save: the snapshot lets go of the keyspace, the writer stops, the temp file goes.
    func abort() {
        snapshot.detach(from: server.keyspace, databases: server.databases, disposer: server.lazyFree)
        shared.fail("aborted")  // first: the queued jobs then write and commit nothing
        writer.shutdown()
        unlink(file.temp)
    }
}

/// What the writer thread and the loop share.
private final class WriterState {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private var _error: String?
    private var _pending = 0
    private var _finished = false

    init() { pthread_mutex_init(mutex, nil) }
    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    private func locked<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body()
    }

    var error: String? { locked { _error } }
    var pending: Int { locked { _pending } }
    var isFinished: Bool { locked { _finished } }
    func fail(_ message: String) { locked { if _error == nil { _error = message } } }
    /// Returns the new pending byte count.
    @discardableResult func adjustPending(_ delta: Int) -> Int { locked { _pending += delta; return _pending } }
    func finish() { locked { _finished = true } }
}

extension Server {
    /// A BGSAVE or an AOF rewrite is writing a snapshot (Redis's hasActiveChildProcess).
    var hasBackgroundSnapshot: Bool { rdb.background != nil || aof.rewriteSave != nil || replication.fullSync != nil }

    /// Finishes serializing a running background snapshot, so that another can start.
    func completeSnapshotSerialization() {
        rdb.background?.completeSerialization()
        aof.rewriteSave?.completeSerialization()
        replication.abortFullSync()
    }

    /// Once per loop iteration: moves the running background snapshots along. Returns whether one still
    /// has serialization to do (the loop then polls without sleeping).
    func tickSnapshots() -> Bool {
        var busy = false
        if rdb.background != nil { busy = rdb.tick() }
        if aof.rewriteSave != nil { busy = aof.tickRewrite() || busy }
        if let sync = replication.fullSync { busy = sync.advance() || busy }
        return busy
    }

    /// What SHUTDOWN and SIGTERM do before the loop ends (Redis's prepareForShutdown): stop a running
    /// BGSAVE, then save when save points are configured (unless NOSAVE) or SAVE was asked. False when the
    /// save failed and FORCE was not given: the server keeps running.
    func prepareForShutdown(save: Bool, noSave: Bool, force: Bool) -> Bool {
        if rdb.background != nil {
            log.warning("There is a child saving an .rdb. Killing it!")
            rdb.abortBackgroundSave()
        }
        if aof.rewriteSave != nil {
            log.warning("There is a child rewriting the AOF. Killing it!")
            aof.abortRewrite()
        }
        replication.abortFullSync()
        if (!config.save.isEmpty && !noSave) || save {
            log.notice("Saving the final RDB snapshot before exiting.")
            do {
                try rdb.save()
            } catch {
                if force {
                    log.warning("Error trying to save the DB. Exit anyway.")
                } else {
                    log.warning("Error trying to save the DB, can't exit.")
                    return false
                }
            }
        }
        return true
    }
}
