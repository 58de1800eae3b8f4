import Glibc

/// Redis 7's multi-part append-only file (aof.c), interchangeable with redis-server 7.0's.
///
/// Files, in `dir`/`appenddirname` (see AOFManifest.swift): one base holding the dataset when it was
/// written, then incremental files holding the commands since, listed in order by the manifest.
///
/// Writing. The propagation stream (PropagationStream below) hands every execution unit's commands to
/// `feed`, which encodes them as RESP multibulk into `buffer`, with a SELECT whenever the database differs
/// from the previous command's (and `#TS:<unix time>` annotations with `aof-timestamp-enabled`), exactly as
/// Redis's feedAppendOnlyFile / catAppendOnlyGenericCommand. Before the loop writes replies, `flush`
/// writes the buffer to the current incr file with one write() (Redis's flushAppendOnlyFile in
/// beforeSleep), so no reply leaves before its write reached the kernel:
/// - `appendfsync always`: fdatasync right after the write, on the loop: one fsync per loop iteration for
///   every client served in it (group commit), and replies leave only after it.
/// - `everysec`: at most once a second an fdatasync job goes to the AOF's own worker thread. If the
///   previous one has not finished, the write itself is postponed (up to 2 s, then it is done anyway and
///   counted in aof_delayed_fsync), because a write() to a file being fsynced would block the loop.
/// - `no`: never; the kernel writes back when it likes.
///
/// Rewriting (AppendOnlyFile+Rewrite.swift): a new incr file is opened first, so writes from then on go
/// there; a new base is written from the dataset; the manifest is replaced to list the new base and the new
/// incr file, the old ones turning into history files that are then deleted.
///
/// Loading (AppendOnlyFile+Load.swift): at start-up, the base, then each incr file, replayed through
/// `call` on an internal client.
final class AppendOnlyFile {
    /// Redis's aof_state: `waitRewrite` is the time between CONFIG SET appendonly yes and the end of the
    /// rewrite that creates the files; commands are buffered and written to a temporary incr file.
    enum State { case off, on, waitRewrite }

    unowned let server: Server
    /// The server's (held here so that the per-command path reads it without going through `server`).
    let config: Config
    var log: Logger { server.log }

    @exclusivity(unchecked) var state: State = .off
    var manifest = AOFManifest()
    /// The incr file being appended to (-1 when none).
    @exclusivity(unchecked) var fd: Int32 = -1
    /// Commands fed since the last write (Redis's aof_buf).
    /// RESP for the incr file, written before replies go out; a raw growable buffer, filled without String
    /// interpolation (the per-command cost of the AOF is mostly here).
    let buffer = IOBuffer(capacity: 16 * 1024)
    /// The database of the last command in the file; -1 forces a SELECT (new file).
    @exclusivity(unchecked) var selectedDB = -1
    /// The Unix second of the last `#TS:` annotation.
    @exclusivity(unchecked) private var timestampWritten: Int64 = 0

    // Sizes, in bytes (Redis's aof_current_size, aof_last_incr_size, aof_rewrite_base_size, aof_fsync_offset).
    var currentSize: Int64 = 0
    var lastIncrSize: Int64 = 0
    var rewriteBaseSize: Int64 = 0
    var fsyncOffset: Int64 = 0
    /// Unix seconds of the last fsync scheduled or done.
    var lastFsync: Int64 = 0
    /// Unix seconds since a write has been postponed behind a background fsync (0: none).
    private var flushPostponedStart: Int64 = 0
    private(set) var delayedFsyncs = 0
    private(set) var lastWriteFailed = false { didSet { server.rdb.updateGate() } }
    private(set) var lastWriteErrno: Int32 = 0
    private var lastWriteErrorLogged: Int64 = 0

    // Rewrites (AppendOnlyFile+Rewrite.swift).
    var rewriteScheduled = false
    var rewriteStartedAt: Int64?
    /// The running rewrite's fork-less snapshot writing the new RDB base (Persistence/Snapshot.swift), and
    /// its temporary file.
    var rewriteSave: BackgroundSave?
    var rewriteTempFile = ""
    var lastRewriteSeconds: Int64 = -1
    var lastRewriteFailed = false
    var rewrites = 0
    var consecutiveRewriteFailures = 0

    /// Background fsync, close and unlink of AOF files (Redis's BIO_AOF_FSYNC and BIO_CLOSE_FILE threads),
    /// started on first use. Jobs run in order, so a file is closed only after its pending fsync.
    private var workerPool: ThreadPool?
    var worker: ThreadPool {
        if let pool = workerPool { return pool }
        let pool = ThreadPool(threads: 1)
        workerPool = pool
        return pool
    }

    init(server: Server) {
        self.server = server
        config = server.config
    }

    // MARK: - Paths

    /// `dir`/`appenddirname`: the AOF files' directory (absolute when `dir` is; Needletail keeps `dir`
    /// absolute instead of chdir-ing on CONFIG SET dir).
    var directory: String { config.dir.isEmpty ? config.appenddirname : config.dir + "/" + config.appenddirname }
    func path(_ name: String) -> String { directory + "/" + name }
    /// The pre-7.0 single file, `dir`/`appendfilename`.
    var legacyPath: String { config.dir.isEmpty ? config.appendfilename : config.dir + "/" + config.appendfilename }
    var manifestName: String { config.appendfilename + ".manifest" }
    /// Where commands go while appendonly is being turned on (Redis's getTempIncrAofName).
    var tempIncrName: String { "temp-" + config.appendfilename + ".incr" }

    var isOn: Bool { state != .off }

    // MARK: - Feeding (Redis's feedAppendOnlyFile)

    func feed(_ commands: [PropagatedCommand]) {
        for command in commands { feed(db: command.db, argv: command.argv) }
    }

    func feed(db: Int, argv: [ByteString]) {
        beginCommand(db: db, count: argv.count)
        for arg in argv { arg.withUnsafeBytes { appendArgument($0) } }
    }

    /// One command as RESP multibulk from the arguments a client sent (`client.arg(i)`), without copying
    /// them first.
    func feed(db: Int, argumentsOf client: Client) {
        if config.aofTimestampEnabled { appendTimestamp(force: false) }
        buffer.selectDatabase(db, selected: &selectedDB)
        let (spans, bytes) = client.argumentSpans
        buffer.appendArguments(spans, in: bytes)
    }

    /// What goes before a command: the timestamp annotation, SELECT when the database changed, `*<count>`.
    @inline(__always) private func beginCommand(db: Int, count: Int) {
        if config.aofTimestampEnabled { appendTimestamp(force: false) }
        buffer.appendCommandHeader(count: count, db: db, selected: &selectedDB)
    }

    @inline(__always) private func appendArgument(_ bytes: UnsafeRawBufferPointer) { buffer.appendBulkArgument(bytes) }

    /// `#TS:<unix seconds>\r\n` when the second changed since the last one (or `force`), as Redis's
    /// genAofTimestampAnnotationIfNeeded.
    func timestampAnnotation(force: Bool) -> String? {
        let now = unixSeconds
        guard force || timestampWritten < now else { return nil }
        timestampWritten = now
        return "#TS:\(now)\r\n"
    }

    private func appendTimestamp(force: Bool) {
        if let line = timestampAnnotation(force: force) { append(line) }
    }

    private func append(_ text: String) {
        var text = text
        text.withUTF8 { buffer.append(UnsafeRawBufferPointer($0)) }
    }

    var unixSeconds: Int64 { wallClockMillis() / 1000 }

    // MARK: - Writing and fsync (Redis's flushAppendOnlyFile)

    var fsyncInProgress: Bool { (workerPool?.pendingJobs ?? 0) > 0 }

    // WAITAOF's local side (Redis's fsynced_reploff, counted here in AOF bytes, which advance with or without
    // replicas): bytes written to the incr files since start, never reset; those the background fsync in
    // flight covers; those an fsync covered. A client's write is at `fedBytes` after its command.
    // The same for a replica's REPLCONF ACK ... FACK: the replication offset its written bytes covered when
    // they were written, and what the fsyncs covered.
    private var writtenBytes: Int64 = 0
    private var fsyncCoversBytes: Int64 = 0
    private var fsyncedBytes: Int64 = 0
    private var writtenStreamOffset: Int64 = 0
    private var fsyncCoversStreamOffset: Int64 = 0
    private var fsyncedStreamOffset: Int64 = 0
    /// Bytes fed so far: written, or waiting in the buffer.
    var fedBytes: Int64 { writtenBytes + Int64(buffer.readableBytes) }

    /// Whether the AOF's bytes up to `offset` are fsynced (never while the AOF is being turned on: its first
    /// rewrite has not made the files yet). Asked by WAITAOF, and while WAITAOF clients wait by the loop
    /// after each flush (Replication.serveWaitingClients), so the write path itself does nothing for it.
    func hasFsynced(_ offset: Int64) -> Bool {
        guard state == .on else { return false }
        if fsyncedBytes < offset { noteFsyncs() }
        return fsyncedBytes >= offset
    }

    /// The replication offset this server's AOF has fsynced (a replica's FACK), nil when the AOF is not on.
    var fsyncedReplicationOffset: Int64? {
        guard state == .on else { return nil }
        noteFsyncs()
        return fsyncedStreamOffset
    }

    /// Takes in what fsyncs did since: the background fsync in flight ended; and when everything written was
    /// fsynced already (nothing new since the last fsync) so is everything, as in Redis (the stream may have
    /// moved on without the AOF: a master's PINGs), except with `appendfsync no`, where the server never fsyncs.
    private func noteFsyncs() {
        guard !fsyncInProgress else { return }
        fsyncedBytes = max(fsyncedBytes, fsyncCoversBytes)
        fsyncedStreamOffset = max(fsyncedStreamOffset, fsyncCoversStreamOffset)
        if buffer.isEmpty && fsyncOffset == currentSize && config.appendfsync != "no" {
            fsyncedBytes = writtenBytes
            fsyncedStreamOffset = max(fsyncedStreamOffset, server.replication.offset)
        }
    }

    /// Writes the buffer to the incr file and fsyncs as `appendfsync` says. Called before replies are
    /// written (every loop iteration), from the cron, and with `force` before a file is switched or closed.
    func flush(force: Bool) {
        guard fd != -1 else { return }
        let policy = config.appendfsync
        let now = unixSeconds
        var syncInProgress = false
        if buffer.isEmpty {
            // An everysec fsync is still owed for the last writes even when nothing new came (the buffer was
            // written in the second of the previous fsync).
            guard policy == "everysec" && fsyncOffset != currentSize && now > lastFsync && !fsyncInProgress else { return }
        } else {
            if policy == "everysec" { syncInProgress = fsyncInProgress }
            if policy == "everysec" && !force && syncInProgress {
                // A write() to a file being fsynced blocks until the fsync ends: wait up to 2 seconds.
                if flushPostponedStart == 0 {
                    flushPostponedStart = now
                    return
                } else if now - flushPostponedStart < 2 {
                    return
                }
                delayedFsyncs += 1
                log.notice("Asynchronous AOF fsync is taking too long (disk is busy?). Writing the AOF buffer without waiting for fsync to complete, this may slow down Redis.")
            }
            guard write(policy: policy, now: now, syncInProgress: syncInProgress) else { return }
        }
        // Redis skips the fsync while a child does disk I/O and no-appendfsync-on-rewrite is set.
        if config.noAppendfsyncOnRewrite && rewriteStartedAt != nil { return }
        if policy == "always" {
            let started = monotonicMicros()
            let synced = dataSync(fd)
            server.addLatencySample("aof-fsync-always", milliseconds: (monotonicMicros() - started) / 1000)
            if !synced {
                log.warning("Can't persist AOF for fsync error when the AOF fsync policy is 'always': \(errnoText(errno)). Exiting...")
                exit(1)
            }
            fsyncOffset = currentSize
            fsyncedBytes = writtenBytes
            fsyncedStreamOffset = writtenStreamOffset
            lastFsync = now
        } else if policy == "everysec" && now > lastFsync {
            if !syncInProgress {
                let fd = self.fd
                worker.submit { dataSync(fd) }
                fsyncOffset = currentSize
                fsyncCoversBytes = writtenBytes
                fsyncCoversStreamOffset = writtenStreamOffset
            }
            lastFsync = now
        }
    }

    /// The write() part of `flush`; false when it failed (the unwritten part stays buffered).
    private func write(policy: String, now: Int64, syncInProgress: Bool) -> Bool {
        let started = monotonicMicros()
        let result = writeFully(fd, buffer.base + buffer.readIndex, buffer.readableBytes)
        // The latency monitor's AOF events, as Redis's flushAppendOnlyFile names them (a snapshot in
        // progress stands for Redis's child process).
        let latency = (monotonicMicros() - started) / 1000
        server.addLatencySample(syncInProgress ? "aof-write-pending-fsync"
            : (rewriteStartedAt != nil || server.rdb.background != nil) ? "aof-write-active-child" : "aof-write-alone",
            milliseconds: latency)
        server.addLatencySample("aof-write", milliseconds: latency)
        flushPostponedStart = 0
        var written = result.written
        if result.errno != 0 {
            // Log at most every 30 seconds (AOF_WRITE_LOG_ERROR_RATE).
            let logIt = now - lastWriteErrorLogged > 30
            if logIt { lastWriteErrorLogged = now }
            if written == 0 {
                if logIt { log.warning("Error writing to the AOF file: \(errnoText(result.errno))") }
                lastWriteErrno = result.errno
            } else {
                if logIt {
                    log.warning("Short write while writing to the AOF file: (nwritten=\(written), expected=\(buffer.readableBytes))")
                }
                // Remove the partial command, so the file stays loadable.
                if ftruncate(fd, off_t(lastIncrSize)) == -1 {
                    if logIt {
                        log.warning("Could not remove short write from the append-only file.  Redis may refuse to load the AOF the next time it starts.  ftruncate: \(errnoText(errno))")
                    }
                } else {
                    written = 0
                }
                lastWriteErrno = ENOSPC
            }
            if policy == "always" {
                log.warning("Can't recover from AOF write error when the AOF fsync policy is 'always'. Exiting...")
                exit(1)
            }
            lastWriteFailed = true
            if written > 0 {
                currentSize += Int64(written)
                lastIncrSize += Int64(written)
                writtenBytes += Int64(written)
                buffer.readIndex += written
            }
            return false
        }
        if lastWriteFailed {
            log.warning("AOF write error looks solved, Redis can write again.")
            lastWriteFailed = false
        }
        currentSize += Int64(written)
        lastIncrSize += Int64(written)
        writtenBytes += Int64(written)
        // Everything the stream brought so far is in (a replica feeds its AOF before its stream offset moves).
        writtenStreamOffset = server.replication.offset
        // Keep the buffer's memory for the next iteration unless a burst grew it past 1 MB.
        buffer.clear(shrinkTo: 1 << 20)
        return true
    }

    /// Once per cron tick: a postponed write is retried, a failed one once a second (Redis's serverCron).
    func cron(now: Int64) {
        guard state == .on else { return }
        if flushPostponedStart != 0 { flush(force: false) }
        if lastWriteFailed && now != lastWriteRetry {
            lastWriteRetry = now
            flush(force: false)
        }
    }
    private var lastWriteRetry: Int64 = 0

    /// Closes `fd` after the worker's pending fsyncs (Redis's bioCreateCloseJob).
    func closeInBackground(_ fd: Int32) {
        worker.submit { _ = close(fd) }
    }

    // MARK: - Turning the AOF on and off (Redis's startAppendOnly / stopAppendOnly)

    /// CONFIG SET appendonly yes: a rewrite creates the base and the incr file; until it finishes commands
    /// are buffered (state `waitRewrite`). Inside EXEC the rewrite is scheduled for the cron.
    func start() -> Bool {
        precondition(state == .off)
        state = .waitRewrite
        server.updatePropagationStream()
        if server.callDepth > 1 {
            rewriteScheduled = true
            log.warning("AOF was enabled during a transaction. An AOF background was scheduled to start when possible.")
        } else if !rewriteInBackground() {
            state = .off
            server.updatePropagationStream()
            log.warning("Redis needs to enable the AOF but can't trigger a background AOF rewrite operation. Check the above logs for more info about the error.")
            return false
        }
        lastFsync = unixSeconds
        return true
    }

    /// CONFIG SET appendonly no: what was buffered is written and fsynced, then the file closed.
    func stop() {
        guard state != .off else { return }
        abortRewrite()
        flush(force: true)
        if fd != -1 {
            if !dataSync(fd) { log.warning("Fail to fsync the AOF file: \(errnoText(errno))") }
            close(fd)
            fd = -1
        }
        fsyncOffset = currentSize
        lastFsync = unixSeconds
        selectedDB = -1
        state = .off
        rewriteScheduled = false
        lastIncrSize = 0
        buffer.clear(shrinkTo: 16 * 1024)
        server.updatePropagationStream()
    }

    /// Called when the rewrite that turned the AOF on finished.
    func didFinishEnabling() {
        state = .on
    }

    /// At shutdown: the buffer is written and the file fsynced (Redis's prepareForShutdown).
    func shutdown() {
        abortRewrite()
        if state != .off && fd != -1 {
            flush(force: true)
            log.notice("Calling fsync() on the AOF file.")
            dataSync(fd)
        }
        stopWorker()
    }

    /// Finishes the worker's jobs and joins it (shutdown, and a Server's deinit).
    func stopWorker() { workerPool?.shutdown() }

    // MARK: - INFO persistence

    /// The aof_* fields, in Redis 7.0's order (module_fork_* sit between the two groups).
    func infoFields() -> (always: [(String, String)], whenOn: [(String, String)]) {
        let now = monotonicMillis()
        let always: [(String, String)] = [
            ("aof_enabled", state != .off ? "1" : "0"),
            ("aof_rewrite_in_progress", rewriteStartedAt != nil ? "1" : "0"),
            ("aof_rewrite_scheduled", rewriteScheduled ? "1" : "0"),
            ("aof_last_rewrite_time_sec", String(lastRewriteSeconds)),
            ("aof_current_rewrite_time_sec", rewriteStartedAt.map { String((now - $0) / 1000) } ?? "-1"),
            ("aof_last_bgrewrite_status", lastRewriteFailed ? "err" : "ok"),
            ("aof_rewrites", String(rewrites)),
            ("aof_rewrites_consecutive_failures", String(consecutiveRewriteFailures)),
            ("aof_last_write_status", lastWriteFailed ? "err" : "ok"),
            ("aof_last_cow_size", "0"),
        ]
        guard state != .off else { return (always, []) }
        return (always, [
            ("aof_current_size", String(currentSize)),
            ("aof_base_size", String(rewriteBaseSize)),
            ("aof_pending_rewrite", rewriteScheduled ? "1" : "0"),
            ("aof_buffer_length", String(buffer.readableBytes)),
            ("aof_pending_bio_fsync", String(workerPool?.pendingJobs ?? 0)),
            ("aof_delayed_fsync", String(delayedFsyncs)),
        ])
    }
}

/// The one stream of propagated commands (Server/Call.swift hands each execution unit's commands to it).
/// It fans out to every consumer: the AOF and the replication stream (backlog and replicas), so both see
/// the same commands in the same order. A replica feeds its own replicas its master's stream as received
/// (Replication/ReplicaLink.swift), so here only its AOF hears what it runs.
final class PropagationStream: PropagationSink {
    // Constants, so that the per-command path reaches them without retaining them.
    let aof: AppendOnlyFile
    let replication: Replication

    init(aof: AppendOnlyFile, replication: Replication) {
        self.aof = aof
        self.replication = replication
    }

    func propagate(_ commands: [PropagatedCommand]) {
        if aof.isOn { aof.feed(commands) }
        if replication.feedsStream { replication.feed(commands) }
    }

    // Not inlined into `Server.call`: in its own frame `self` is guaranteed and its constants are read
    // without retaining them (inlined, the AOF was retained and released around its feed).
    @inline(never) func propagate(db: Int, argumentsOf client: Client) {
        if aof.isOn { aof.feed(db: db, argumentsOf: client) }
        if replication.feedsStream { replication.feed(db: db, argumentsOf: client) }
    }

    var hasConsumers: Bool { aof.isOn || replication.feedsStream }
}

extension Server {
    /// Attaches the propagation stream while it has a consumer (the AOF is on), so that a server without
    /// one pays nothing for propagation.
    func updatePropagationStream() {
        if propagationStream.hasConsumers {
            if propagationSink !== propagationStream { propagationSink = propagationStream }
        } else if propagationSink === propagationStream {
            propagationSink = nil
        }
        aofBarrier = aof.isOn && config.appendfsync == "always"
    }
}
