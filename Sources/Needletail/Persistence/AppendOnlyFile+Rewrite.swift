import Glibc

/// AOF rewriting, Redis 7's scheme (aof.c rewriteAppendOnlyFileBackground, backgroundRewriteDoneHandler):
///
/// 1. The buffer is flushed and a new incr file opened; the manifest listing it is persisted, so from here
///    every write goes to the new file and a crash still finds every command (old base + old incr files +
///    new incr file).
/// 2. A new base is written from the dataset into `temp-rewriteaof-bg-<pid>.aof` (`writeBaseSnapshot`).
/// 3. The temporary file is renamed to the next base name; the manifest now lists the new base and the new
///    incr file only, the old base and incr files as history; it is persisted atomically (temp file,
///    fsync, rename, fsync of the directory); then the history files are deleted and dropped from it.
///
/// Step 2, for an RDB base (aof-use-rdb-preamble yes, the default), is a fork-less snapshot
/// (Persistence/Snapshot.swift) serialized in slices by the loop and written by a worker (`tickRewrite`
/// calls `rewriteDone` when it ends), while commands arriving meanwhile go to the new incr file. A base of
/// commands (aof-use-rdb-preamble no) is written at once in the loop (`writeBaseSnapshot`).
extension AppendOnlyFile {
    /// Whether the base is written in RDB form (aof-use-rdb-preamble yes) or as commands.
    var writesRDBBase: Bool { config.aofUseRdbPreamble }

    /// Starts a rewrite (BGREWRITEAOF, the cron, CONFIG SET appendonly yes); false when it could not start.
    @discardableResult
    func rewriteInBackground() -> Bool {
        guard rewriteStartedAt == nil else { return false }
        if server.rdb.background != nil {
            // One snapshot at a time: the rewrite starts from the cron once the BGSAVE is done (Redis's
            // aof_rewrite_scheduled while another child is active).
            rewriteScheduled = true
            return true
        }
        guard createDirectoryIfMissing(directory) else {
            log.warning("Can't open or create append-only dir \(config.appenddirname): \(errnoText(errno))")
            lastRewriteFailed = true
            consecutiveRewriteFailures += 1
            return false
        }
        // The next command written starts with a SELECT, in whichever file it lands.
        selectedDB = -1
        flush(force: true)
        guard openNewIncrForAppend() else {
            lastRewriteFailed = true
            consecutiveRewriteFailures += 1
            return false
        }
        rewriteScheduled = false
        rewriteStartedAt = monotonicMillis()
        rewrites += 1
        log.notice("Background append only file rewriting started")
        let temp = (config.dir.isEmpty ? "" : config.dir + "/") + "temp-rewriteaof-bg-\(getpid()).aof"
        if writesRDBBase {
            // The new base is a fork-less snapshot, serialized in slices by the loop (`tickRewrite`) while
            // new writes already go to the new incr file.
            rewriteTempFile = temp
            do {
                rewriteSave = try BackgroundSave(server: server, temp: temp, commitAs: nil,
                                                 aux: server.rdb.auxFields(aofBase: true))
            } catch {
                log.warning("Can't rewrite append only file in background: \(error)")
                rewriteDone(ok: false, tempFile: temp)
                return false
            }
            return true
        }
        // A base of commands (aof-use-rdb-preamble no) is written here and now.
        let ok = writeBaseSnapshot(to: temp)
        if ok { log.notice("Successfully created the temporary AOF base file \(temp.split(separator: "/").last ?? "")") }
        rewriteDone(ok: ok, tempFile: temp)
        return true
    }

    /// Writes the dataset as a complete base file at `path` and fsyncs it, at once (a base of commands; an
    /// RDB base is a background snapshot, see `rewriteInBackground`).
    func writeBaseSnapshot(to path: String) -> Bool {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else {
            log.warning("Opening the temp file for AOF rewrite in rewriteAppendOnlyFile(): \(errnoText(errno))")
            return false
        }
        defer { close(fd) }
        guard writeBase(to: fd) else {
            log.warning("Write error writing append only file on disk: \(errnoText(errno))")
            unlink(path)
            return false
        }
        return true
    }

    /// The base file's content: the RDB form with `aof-use-rdb-preamble yes`; with `aof-use-rdb-preamble
    /// no`, the commands Redis's rewriteAppendOnlyFileRio writes:
    /// FUNCTION LOAD per library first, then per non-empty database a SELECT, then per key SET / RPUSH / SADD / ZADD / HMSET (64 items per command,
    /// AOF_REWRITE_ITEMS_PER_CMD) and PEXPIREAT for a time to live. Keys already past their time are left out.
    func writeBase(to fd: Int32) -> Bool {
        if writesRDBBase { return writeRDBBase(to: fd) }
        var out = FileWriter(fd: fd, autoSyncBytes: config.value(of: "aof-rewrite-incremental-fsync") == "yes" ? 4 << 20 : 0)
        // The base's own annotation does not move the incr file's (Redis writes it in the child process).
        if config.aofTimestampEnabled { out.append("#TS:\(unixSeconds)\r\n") }
        let now = wallClockMillis()
        for code in server.scripting.libraryCodes {
            out.append("*3\r\n$8\r\nFUNCTION\r\n$4\r\nLOAD\r\n")
            out.bulk(code)
        }
        for db in server.databases where db.count > 0 {
            out.append("*2\r\n$6\r\nSELECT\r\n")
            out.bulk(Int64(db.index))
            db.forEachStored { key, value, expireTime in
                if let expireTime, expireTime < now { return }
                writeRESP(key, value, into: &out)
                if let expireTime {
                    out.append("*3\r\n$9\r\nPEXPIREAT\r\n")
                    out.bulk(key)
                    out.bulk(expireTime)
                }
            }
            if out.failed { break }
        }
        if !out.finish() {
            errno = out.errno
            return false
        }
        return true
    }

    private func writeRESP(_ key: ByteString, _ value: Value, into out: inout FileWriter) {
        let perCommand = 64
        switch value {
        case .string(let s):
            out.append("*3\r\n$3\r\nSET\r\n")
            out.bulk(key)
            out.bulk(s)
        case .list(let list):
            var batch = BatchWriter(name: "RPUSH", key: key, total: list.count, fieldsPerItem: 1, perCommand: perCommand)
            list.forEach { entry in
                batch.item(&out)
                out.bulk(entry.byteString)
            }
        case .set(let set):
            var batch = BatchWriter(name: "SADD", key: key, total: set.count, fieldsPerItem: 1, perCommand: perCommand)
            set.forEach { member in
                batch.item(&out)
                member.withUnsafeBytes { out.bulk($0) }
            }
        case .inlineIntset(let set):
            var batch = BatchWriter(name: "SADD", key: key, total: set.count, fieldsPerItem: 1, perCommand: perCommand)
            set.forEach { v in
                batch.item(&out)
                SetMember.integer(v).withUnsafeBytes { out.bulk($0) }
            }
        case .sortedSet(let zset):
            var batch = BatchWriter(name: "ZADD", key: key, total: zset.count, fieldsPerItem: 2, perCommand: perCommand)
            zset.forEach { member, score in
                batch.item(&out)
                out.bulk(formatDouble(score))
                out.bulk(member)
            }
        case .hash(let hash):
            var batch = BatchWriter(name: "HMSET", key: key, total: hash.count, fieldsPerItem: 2, perCommand: perCommand)
            hash.forEach { field, value in
                batch.item(&out)
                out.bulk(field)
                out.bulk(value)
            }
        case .stream(let stream):
            writeStream(key, stream, into: &out)
        }
    }

    /// Redis's rewriteStreamObject: XADD per entry (or XADD MAXLEN 0 of a placeholder for an empty stream),
    /// XSETID with the counters, XGROUP CREATE per group, then XCLAIM ... JUSTID FORCE per pending entry and
    /// XGROUP CREATECONSUMER per consumer without any.
    private func writeStream(_ key: ByteString, _ stream: StreamValue, into out: inout FileWriter) {
        if stream.count > 0 {
            stream.forEach(from: .zero, to: .max) { node, cursor in
                out.append("*\(3 + 2 * cursor.fieldCount)\r\n$4\r\nXADD\r\n")
                out.bulk(key)
                out.bulk(cursor.id.text)
                node.forEachPair(cursor) { field, value in
                    out.bulk(field)
                    out.bulk(value)
                }
                return true
            }
        } else {
            out.append("*7\r\n$4\r\nXADD\r\n")
            out.bulk(key)
            out.append("$6\r\nMAXLEN\r\n$1\r\n0\r\n$3\r\n0-1\r\n$1\r\nx\r\n$1\r\ny\r\n")
        }
        out.append("*7\r\n$6\r\nXSETID\r\n")
        out.bulk(key)
        out.bulk(stream.lastID.text)
        out.append("$12\r\nENTRIESADDED\r\n")
        out.bulk(Int64(bitPattern: stream.entriesAdded))
        out.append("$12\r\nMAXDELETEDID\r\n")
        out.bulk(stream.maxDeletedID.text)
        for group in stream.groups {
            out.append("*7\r\n$6\r\nXGROUP\r\n$6\r\nCREATE\r\n")
            out.bulk(key)
            out.bulk(group.name)
            out.bulk(group.lastID.text)
            out.append("$11\r\nENTRIESREAD\r\n")
            out.bulk(group.entriesRead)
            for consumer in group.consumers {
                if consumer.pending.isEmpty {
                    out.append("*5\r\n$6\r\nXGROUP\r\n$14\r\nCREATECONSUMER\r\n")
                    out.bulk(key)
                    out.bulk(group.name)
                    out.bulk(consumer.name)
                    continue
                }
                consumer.pending.forEach { id, entry in
                    out.append("*12\r\n$6\r\nXCLAIM\r\n")
                    out.bulk(key)
                    out.bulk(group.name)
                    out.bulk(consumer.name)
                    out.append("$1\r\n0\r\n")
                    out.bulk(id.text)
                    out.append("$4\r\nTIME\r\n")
                    out.bulk(entry.deliveryTime)
                    out.append("$10\r\nRETRYCOUNT\r\n")
                    out.bulk(Int64(bitPattern: entry.deliveryCount))
                    out.append("$6\r\nJUSTID\r\n$5\r\nFORCE\r\n")
                }
            }
        }
    }

    // MARK: - Switching files

    /// Opens the incr file new writes go to and persists the manifest listing it (Redis's
    /// openNewIncrAofForAppend). While the AOF is being turned on, a temporary incr file is used instead,
    /// renamed into the manifest when the rewrite succeeds. With the AOF off there is nothing to open.
    func openNewIncrForAppend() -> Bool {
        guard isOn else { return true }
        var next = manifest
        let name = state == .waitRewrite ? tempIncrName : next.newIncr(prefix: config.appendfilename)
        let newFD = open(path(name), O_WRONLY | O_TRUNC | O_CREAT, 0o644)
        guard newFD >= 0 else {
            log.warning("Can't open the append-only file \(name): \(errnoText(errno))")
            return false
        }
        if state == .on {
            guard persistManifest(next) else {
                close(newFD)
                unlink(path(name))
                return false
            }
        }
        log.notice("Creating AOF incr file \(name) on background rewrite")
        if fd != -1 { closeInBackground(fd) }
        fd = newFD
        lastIncrSize = 0
        manifest = next
        return true
    }

    /// Once per loop iteration while the rewrite's snapshot runs: moves it along, and finishes the rewrite
    /// when the new base is written. Returns whether serialization has work left.
    func tickRewrite() -> Bool {
        guard let save = rewriteSave else { return false }
        switch save.advance() {
        case .running(let busy):
            return busy
        case .failed(let error):
            rewriteSave = nil
            log.warning("Write error writing append only file on disk: \(error)")
            rewriteDone(ok: false, tempFile: rewriteTempFile)
        case .succeeded:
            rewriteSave = nil
            log.notice("Successfully created the temporary AOF base file \(rewriteTempFile.split(separator: "/").last ?? "")")
            rewriteDone(ok: true, tempFile: rewriteTempFile)
        }
        return false
    }

    /// Stops a running rewrite's snapshot and removes its temporary file (shutdown, CONFIG SET appendonly no).
    func abortRewrite() {
        guard let save = rewriteSave else { return }
        save.abort()
        rewriteSave = nil
        rewriteStartedAt = nil
        log.notice("Background AOF rewrite aborted")
    }

    /// Ends a rewrite (Redis's backgroundRewriteDoneHandler): installs the new base, retires the files it
    /// covers and deletes them.
    func rewriteDone(ok: Bool, tempFile: String) {
        defer {
            if let started = rewriteStartedAt { lastRewriteSeconds = (monotonicMillis() - started) / 1000 }
            rewriteStartedAt = nil
        }
        guard ok else {
            log.warning("Background AOF rewrite terminated with error")
            return rewriteFailed(tempFile)
        }
        log.notice("Background AOF rewrite terminated with success")
        var next = manifest
        let baseName = next.newBase(prefix: config.appendfilename, rdb: writesRDBBase)
        let tempName = tempFile.split(separator: "/").last.map(String.init) ?? tempFile
        if rename(tempFile, path(baseName)) != 0 {
            log.warning("Error trying to rename the temporary AOF base file \(tempName) into \(baseName): \(errnoText(errno))")
            return rewriteFailed(tempFile)
        }
        log.notice("Successfully renamed the temporary AOF base file \(tempName) into \(baseName)")
        if state == .waitRewrite {
            let incrName = next.newIncr(prefix: config.appendfilename)
            if rename(path(tempIncrName), path(incrName)) != 0 {
                log.warning("Error trying to rename the temporary AOF incr file \(tempIncrName) into \(incrName): \(errnoText(errno))")
                unlink(path(baseName))
                return rewriteFailed(tempFile)
            }
            log.notice("Successfully renamed the temporary AOF incr file \(tempIncrName) into \(incrName)")
        }
        next.markRewrittenIncrAsHistory(keepLast: fd != -1)
        guard persistManifest(next) else {
            unlink(path(baseName))
            return rewriteFailed(tempFile)
        }
        manifest = next
        if fd != -1 {
            currentSize = (storedFileSize(path(baseName)) ?? 0) + lastIncrSize
            rewriteBaseSize = currentSize
            fsyncOffset = currentSize
            lastFsync = unixSeconds
        }
        deleteHistoryFiles()
        log.notice("Background AOF rewrite finished successfully")
        if state == .waitRewrite { didFinishEnabling() }
        lastRewriteFailed = false
        consecutiveRewriteFailures = 0
    }

    private func rewriteFailed(_ tempFile: String) {
        unlink(tempFile)
        lastRewriteFailed = true
        consecutiveRewriteFailures += 1
    }

    // MARK: - The manifest on disk

    /// Replaces the manifest atomically: `temp-<name>` written and fsynced, renamed over the manifest, the
    /// directory fsynced (Redis's writeAofManifestFile).
    func persistManifest(_ manifest: AOFManifest) -> Bool {
        let target = path(manifestName)
        let temp = path("temp-" + manifestName)
        let fd = open(temp, O_WRONLY | O_TRUNC | O_CREAT, 0o644)
        guard fd >= 0 else {
            log.warning("Can't open the AOF manifest file temp-\(manifestName): \(errnoText(errno))")
            return false
        }
        var out = FileWriter(fd: fd)
        out.append(manifest.text)
        let written = out.finish()
        close(fd)
        guard written else {
            log.warning("Can't persist the AOF manifest file temp-\(manifestName): \(errnoText(out.errno))")
            unlink(temp)
            return false
        }
        guard rename(temp, target) == 0 else {
            log.warning("Can't persist the AOF manifest file \(manifestName): \(errnoText(errno))")
            unlink(temp)
            return false
        }
        syncDirectory(of: target)
        return true
    }

    /// Deletes the history files and persists the manifest without them (Redis's aofDelHistoryFiles; the
    /// unlink happens on the worker, as Redis's bg_unlink). `aof-disable-auto-gc yes` keeps them.
    func deleteHistoryFiles() {
        if config.aofDisableAutoGC || manifest.history.isEmpty { return }
        for info in manifest.history {
            log.notice("Removing the history file \(info.name) in the background")
            let file = path(info.name)
            worker.submit { _ = unlink(file) }
        }
        var next = manifest
        next.history.removeAll()
        if persistManifest(next) { manifest = next }
    }

    // MARK: - Cron (Redis's serverCron AOF part)

    /// A scheduled rewrite, or an automatic one when the files grew by `auto-aof-rewrite-percentage` over
    /// their size after the last rewrite and are above `auto-aof-rewrite-min-size`.
    func rewriteCron() {
        guard rewriteStartedAt == nil, !server.hasBackgroundSnapshot else { return }
        if rewriteScheduled {
            rewriteInBackground()
            return
        }
        let percentage = config.autoAofRewritePercentage
        guard state == .on, percentage > 0, currentSize > Int64(config.autoAofRewriteMinSize) else { return }
        let base = rewriteBaseSize > 0 ? rewriteBaseSize : 1
        let growth = currentSize * 100 / base - 100
        if growth >= Int64(percentage) {
            log.notice("Starting automatic rewriting of AOF on \(growth)% growth")
            rewriteInBackground()
        }
    }
}

/// Writes `<name> key` headers as Redis's rewrite*Object: a command every `perCommand` items, the last one
/// with what is left.
private struct BatchWriter {
    let name: String
    let key: ByteString
    var left: Int
    let fieldsPerItem: Int
    let perCommand: Int
    var inBatch = 0

    init(name: String, key: ByteString, total: Int, fieldsPerItem: Int, perCommand: Int) {
        self.name = name
        self.key = key
        left = total
        self.fieldsPerItem = fieldsPerItem
        self.perCommand = perCommand
    }

    /// Called before each item is written.
    mutating func item(_ out: inout FileWriter) {
        if inBatch == 0 {
            let items = min(left, perCommand)
            out.append("*\(2 + items * fieldsPerItem)\r\n$\(name.utf8.count)\r\n\(name)\r\n")
            out.bulk(key)
        }
        inBatch += 1
        if inBatch == perCommand { inBatch = 0 }
        left -= 1
    }
}

// MARK: - RDB bases

extension AppendOnlyFile {
    /// The whole dataset in RDB form with the "aof-base" aux field set (Redis's rdbSaveRio with
    /// RDBFLAGS_AOF_PREAMBLE), written to `fd` by the one RDB writer.
    func writeRDBBase(to fd: Int32) -> Bool {
        let output = RDBOutput(compress: config.rdbcompression, capacity: 1 << 20, sink: { try writeAll(fd, $0) })
        do {
            try server.rdb.writeDataset(to: output, aofBase: true)
            return fsync(fd) == 0
        } catch {
            log.warning("Write error writing append only file on disk: \(error)")
            return false
        }
    }
}

// MARK: - BGREWRITEAOF

/// BGREWRITEAOF (Redis's bgrewriteaofCommand). Inside EXEC the rewrite is scheduled for the cron.
func bgrewriteaof(_ c: Client) {
    let aof = c.server.aof!
    if aof.rewriteStartedAt != nil {
        c.reply.error("ERR Background append only file rewriting already in progress")
    } else if c.server.callDepth > 1 || c.server.rdb.background != nil {
        aof.rewriteScheduled = true
        aof.consecutiveRewriteFailures = 0
        c.reply.simple("Background append only file rewriting scheduled")
    } else if aof.rewriteInBackground() {
        c.reply.simple("Background append only file rewriting started")
    } else {
        c.reply.error("ERR Can't execute an AOF background rewriting. Please check the server logs for more information.")
    }
}

extension Server {
    /// CONFIG SET's hook (Config.onChange): the working directory, turning the AOF on or off, the client
    /// eviction limit; an error text refuses the change.
    func configDidChange(_ name: String) -> String? {
        switch name {
        case "busy-poll-us":
            updateBusyPoll()
        case "dir":
            // Files are written relative to the working directory, as redis-server chdir()s on CONFIG SET dir.
            if chdir(config.dir) != 0 { return String(cString: strerror(errno)) }
        case "appendonly":
            if config.appendonly && !aof.isOn {
                if !aof.start() { return "Unable to turn on AOF. Check server logs." }
            } else if !config.appendonly && aof.isOn {
                aof.stop()
            }
        case "appendfsync":
            updatePropagationStream()
        case "slowlog-log-slower-than", "latency-monitor-threshold", "latency-tracking":
            updateDiagnosticsSettings()
        case "client-output-buffer-limit":
            updateOutputCheckBytes()  // at once, as Redis applies new limits to the next reply (not at the next cron)
        case "maxmemory":
            maxmemoryDidChange()
            updateClientEvictionLimit()  // Server/ClientMemory.swift
        case "maxmemory-clients":
            updateClientEvictionLimit()
        case "requirepass":
            acl.setDefaultPassword(config.requirepass)
        case "acllog-max-len":
            acl.logMaxLength = config.acllogMaxLen
            acl.trimLog()
        case "acl-pubsub-default":
            acl.pubsubDefault = config.value(of: "acl-pubsub-default") == "allchannels"
        case "min-replicas-to-write", "min-replicas-max-lag":
            updateReplicationGate()
            replication.refreshGoodReplicas()
        case "repl-backlog-size":
            replication.backlogSizeChanged()
        case "maxmemory-policy", "maxmemory-samples", "maxmemory-eviction-tenacity", "lfu-log-factor", "lfu-decay-time":
            updateEvictionConfig()
        case _ where name.hasPrefix("tls-"):
            return tlsConfigDidChange(name)  // Server/Server+TLS.swift
        default:
            break
        }
        return nil
    }
}
