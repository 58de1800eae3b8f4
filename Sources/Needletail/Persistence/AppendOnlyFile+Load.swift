import Glibc

/// Start-up: the manifest, the dataset from the AOF files, and the incr file to append to (Redis's
/// aofLoadManifestFromDisk, loadAppendOnlyFiles, loadSingleAppendOnlyFile, aofOpenIfNeededOnServerStart and
/// aofDelHistoryFiles, with their log lines).
///
/// A file is replayed command by command through `call` on an internal client whose replies are dropped,
/// MULTI ... EXEC included (queued, then run as one unit, as Redis's fake AOF client). The format is read
/// exactly as Redis reads it (fgets of 1024-byte lines, `*<argc>`, `$<len>`, the bytes, CRLF; `#` lines are
/// annotations), so a file is accepted or refused as redis-server would. A file that ends in the middle of a
/// command, or inside a MULTI without its EXEC, is *truncated*: with `aof-load-truncated yes` (the default)
/// the file is cut after its last complete command and loading goes on (only for the last file); otherwise
/// the server refuses to start. Anything else malformed stops the start-up with Redis's message.
extension AppendOnlyFile {
    enum LoadResult { case ok, notExist, empty, openError, failed, truncated }

    /// Start-up failed; the reason was logged.
    struct LoadFailed: Error {}

    /// Loads the manifest (always, so the sequence numbers go on even with appendonly no), then with
    /// appendonly yes the dataset and the incr file to append to.
    func loadOnStartup() throws {
        try loadManifestFromDisk()
        if config.appendonly {
            let started = monotonicMicros()
            let result = loadFiles()
            if result == .failed || result == .openError { throw LoadFailed() }
            if result != .notExist {
                log.notice("DB loaded from append only file: \(seconds(since: started)) seconds")
            }
            state = .on
            try openOnServerStart()
            server.updatePropagationStream()
        }
        deleteHistoryFiles()
    }

    private func seconds(since started: Int64) -> String {
        let ms = max(0, (monotonicMicros() - started) / 1000)
        let fraction = String(ms % 1000)
        return "\(ms / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
    }

    // MARK: - The manifest

    func loadManifestFromDisk() throws {
        manifest = AOFManifest()
        guard directoryExists(directory) else {
            log.debug("The AOF directory \(config.appenddirname) doesn't exist")
            return
        }
        guard fileExists(path(manifestName)) else {
            log.debug("The AOF manifest file \(manifestName) doesn't exist")
            return
        }
        guard let bytes = readWholeFile(path(manifestName)) else {
            log.warning("Fatal error: can't open the AOF manifest \(manifestName) for reading: \(errnoText(errno))")
            throw LoadFailed()
        }
        do {
            manifest = try AOFManifest.parse(bytes)
        } catch let error as AOFManifest.ParseError {
            log.warning("\n*** FATAL AOF MANIFEST FILE ERROR ***\n")
            if let line = error.line {
                log.warning("Reading the manifest file, at line \(line.number)\n")
                log.warning(">>> '\(line.text)'\n")
            }
            log.warning("\(error.message)\n")
            throw LoadFailed()
        }
    }

    /// An `appendfilename` in `dir` from Redis < 7 becomes the base of a new AOF directory (Redis's
    /// aofUpgradePrepare): the manifest is written first, then the file moved.
    private func upgradeLegacyFile() -> Bool {
        guard createDirectoryIfMissing(directory) else {
            log.warning("Can't open or create append-only dir \(config.appenddirname): \(errnoText(errno))")
            return false
        }
        var next = manifest
        next.base = AOFManifest.FileInfo(name: config.appendfilename, seq: 1, type: .base)
        next.currentBaseSeq = 1
        guard persistManifest(next) else { return false }
        manifest = next
        guard rename(legacyPath, path(config.appendfilename)) == 0 else {
            log.warning("Error trying to rename the existing AOF to \(config.appendfilename) in the AOF directory \(config.appenddirname): \(errnoText(errno))")
            return false
        }
        log.notice("Successfully migrated an old-style AOF into the AOF directory \(config.appenddirname).")
        return true
    }

    // MARK: - Loading the files (Redis's loadAppendOnlyFiles)

    func loadFiles() -> LoadResult {
        if fileExists(legacyPath) {
            let base = manifest.base
            if !directoryExists(directory) || manifest.isEmpty
                || (base?.name == config.appendfilename && manifest.incr.isEmpty && !fileExists(path(config.appendfilename))) {
                if !upgradeLegacyFile() { return .failed }
            }
        }
        if manifest.isEmpty { return .notExist }
        let files = (manifest.base.map { [$0] } ?? []) + manifest.incr
        var totalSize: Int64 = 0
        for info in files {
            guard let size = storedFileSize(path(info.name)) else {
                log.warning("Unable to obtain the AOF file \(info.name) length. stat: \(errnoText(errno))")
                return .failed
            }
            totalSize += size
        }
        if totalSize == 0 { return .empty }
        var baseSize: Int64 = 0
        for (i, info) in files.enumerated() {
            let isLast = i == files.count - 1
            if info.type == .base { baseSize = storedFileSize(path(info.name)) ?? 0 }
            let started = monotonicMicros()
            var result = loadSingleFile(info.name)
            if result == .ok || (result == .truncated && isLast) {
                let kind = info.type == .base ? "base" : "incr"
                log.notice("DB loaded from \(kind) file \(info.name): \(seconds(since: started)) seconds")
            }
            if result == .truncated && !isLast {
                log.warning("Fatal error: the truncated file is not the last file")
                result = .failed
            }
            if result == .openError || result == .failed { return result }
        }
        currentSize = totalSize
        // Not persisted anywhere: after a restart the next automatic rewrite compares with the base alone.
        rewriteBaseSize = baseSize
        fsyncOffset = currentSize
        return .ok
    }

    /// Replays one file (Redis's loadSingleAppendOnlyFile).
    func loadSingleFile(_ name: String) -> LoadResult {
        let filePath = path(name)
        guard let fp = fopen(filePath, "r") else {
            log.warning("Fatal error: can't open the append log file \(name) for reading: \(errnoText(errno))")
            return .openError
        }
        defer { fclose(fp) }
        var st = stat()
        if fstat(fileno(fp), &st) == 0 && st.st_size == 0 { return .empty }
        let fileLength = Int64(st.st_size)

        let client = server.makeInternalClient()
        client.replySink = .discard
        client.authenticated = true

        enum Stop { case readError, formatError, unexpectedEOF }
        var stop: Stop?
        var validUpTo: Int64 = 0
        var validBeforeMulti: Int64 = 0

        // An RDB base, or an old-style AOF with an RDB preamble, starts with "REDIS".
        var signature = [UInt8](repeating: 0, count: 5)
        if fread(&signature, 1, 5, fp) != 5 || signature != Array("REDIS".utf8) {
            if fseek(fp, 0, SEEK_SET) == -1 { stop = .readError }
        } else {
            let oldStyle = name == config.appendfilename
            log.notice(oldStyle ? "Reading RDB preamble from AOF file..." : "Reading RDB base file on AOF loading...")
            do {
                guard fseek(fp, 0, SEEK_SET) == 0 else { throw LoadFailed() }
                try loadRDBPreamble(fp, name: name)
                if oldStyle { log.notice("Reading the remaining AOF tail...") }
            } catch {
                log.warning("\(error)")
                log.warning(oldStyle ? "Error reading the RDB preamble of the AOF file \(name), AOF loading aborted"
                                     : "Error reading the RDB base file \(name), AOF loading aborted")
                stop = .readError
            }
        }

        var line = [CChar](repeating: 0, count: 1024)
        commands: while stop == nil {
            if fgets(&line, Int32(line.count), fp) == nil {
                if feof(fp) != 0 { break }
                stop = .readError
                break
            }
            if line[0] == CChar(UInt8(ascii: "#")) { continue }  // annotations (#TS:...)
            guard line[0] == CChar(UInt8(ascii: "*")) else {
                stop = .formatError
                break
            }
            if line[1] == 0 {
                stop = .readError
                break
            }
            let argc = line.withUnsafeBufferPointer { atoi($0.baseAddress! + 1) }
            guard argc >= 1 else {
                stop = .formatError
                break
            }
            var argv: [ByteString] = []
            argv.reserveCapacity(Int(argc))
            for _ in 0..<argc {
                guard fgets(&line, Int32(line.count), fp) != nil else {
                    stop = .readError
                    break commands
                }
                guard line[0] == CChar(UInt8(ascii: "$")) else {
                    stop = .formatError
                    break commands
                }
                let length = line.withUnsafeBufferPointer { strtol($0.baseAddress! + 1, nil, 10) }
                guard length >= 0 else {
                    stop = .formatError
                    break commands
                }
                // A length past the end of the file is a truncated file, not a reason to allocate it.
                guard Int64(length) + 2 <= fileLength - Int64(ftello(fp)) else {
                    stop = .unexpectedEOF
                    break commands
                }
                var complete = true
                let arg = ByteString(count: length) { buffer in
                    if length > 0 && fread(buffer.baseAddress!, length, 1, fp) == 0 { complete = false }
                }
                var crlf = (0, 0) as (UInt8, UInt8)
                guard complete, fread(&crlf, 2, 1, fp) != 0 else {
                    stop = .readError
                    break commands
                }
                argv.append(arg)
            }
            guard let command = argv[0].withUnsafeBytes({ server.commands.lookup($0) }) else {
                log.warning("Unknown command '\(argv[0].string)' reading the append only file \(name)")
                return .failed
            }
            if command.name == "multi" { validBeforeMulti = validUpTo }
            server.run(argv, on: client)
            if config.aofLoadTruncated { validUpTo = Int64(ftello(fp)) }
        }

        if stop == nil && client.transaction != nil {
            // A MULTI without its EXEC at the end of the file: as a short read, the transaction is cut off.
            log.warning("Revert incomplete MULTI/EXEC transaction in AOF file \(name)")
            validUpTo = validBeforeMulti
            stop = .unexpectedEOF
        }
        switch stop {
        case nil:
            return .ok
        case .formatError:
            log.warning("Bad file format reading the append only file \(name): make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>")
            return .failed
        case .readError where feof(fp) == 0:
            log.warning("Unrecoverable error reading the append only file \(name): \(errnoText(errno))")
            return .failed
        case .readError, .unexpectedEOF:
            break
        }
        if config.aofLoadTruncated {
            log.warning("!!! Warning: short read while loading the AOF file \(name)!!!")
            log.warning("!!! Truncating the AOF \(name) at offset \(validUpTo) !!!")
            if truncate(filePath, off_t(validUpTo)) == -1 {
                log.warning("Error truncating the AOF file \(name): \(errnoText(errno))")
            } else if fd != -1 && lseek(fd, 0, SEEK_END) == -1 {
                log.warning("Can't seek the end of the AOF file \(name): \(errnoText(errno))")
            } else {
                log.warning("AOF \(name) loaded anyway because aof-load-truncated is enabled")
                return .truncated
            }
        }
        log.warning("Unexpected end of file reading the append only file \(name). You can: 1) Make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>. 2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the server.")
        return .failed
    }

    // MARK: - After loading (Redis's aofOpenIfNeededOnServerStart)

    /// Creates the base on a first start (an empty dataset), then opens the last incr file for appending,
    /// creating it when the manifest has none, and persists the manifest.
    func openOnServerStart() throws {
        guard state == .on else { return }
        guard createDirectoryIfMissing(directory) else {
            log.warning("Can't open or create append-only dir \(config.appenddirname): \(errnoText(errno))")
            throw LoadFailed()
        }
        if manifest.base == nil && manifest.incr.isEmpty {
            let baseName = manifest.newBase(prefix: config.appendfilename, rdb: writesRDBBase)
            let temp = (config.dir.isEmpty ? "" : config.dir + "/") + "temp-rewriteaof-\(getpid()).aof"
            guard writeBaseSnapshot(to: temp), rename(temp, path(baseName)) == 0 else {
                unlink(temp)
                throw LoadFailed()
            }
            log.notice("Creating AOF base file \(baseName) on server start")
        }
        let existed = !manifest.incr.isEmpty
        let incrName = manifest.incr.last?.name ?? manifest.newIncr(prefix: config.appendfilename)
        fd = open(path(incrName), O_WRONLY | O_APPEND | O_CREAT, 0o644)
        guard fd >= 0 else {
            log.warning("Can't open the append-only file \(incrName): \(errnoText(errno))")
            throw LoadFailed()
        }
        guard persistManifest(manifest) else { throw LoadFailed() }
        lastIncrSize = storedFileSize(path(incrName)) ?? 0
        log.notice(existed ? "Opening AOF incr file \(incrName) on server start"
                           : "Creating AOF incr file \(incrName) on server start")
    }
}

// MARK: - RDB bases and preambles

extension AppendOnlyFile {
    /// Loads an RDB-format base, or the RDB preamble of an old-style AOF, from `fp` (positioned at the
    /// "REDIS" signature) into the databases with the one RDB loader, leaving `fp` just after the RDB's
    /// checksum so that an old-style file's command tail is read next. Keys past their time are loaded, as
    /// Redis does for a preamble (RDBFLAGS_AOF_PREAMBLE): what follows in the AOF decides about them.
    func loadRDBPreamble(_ fp: UnsafeMutablePointer<FILE>, name: String) throws {
        let fd = fileno(fp)
        let start = ftello(fp)
        var info = stat()
        guard start >= 0, fstat(fd, &info) == 0 else { throw RDBError("Can't stat \(name): \(errnoText(errno))") }
        let size = Int(info.st_size)
        guard size > Int(start) else { throw RDBError("Unexpected EOF reading RDB file") }
        let mapped = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let mapped, mapped != MAP_FAILED else { throw RDBError("mmap: \(errnoText(errno))") }
        defer { munmap(mapped, size) }
        var loader = RDBLoader(limits: RDBLoadLimits(config), now: wallClockMillis())
        loader.skipsExpired = false
        loader.skipsChecksum = server.rdb.skipChecksumValidation
        let result = try loader.load(UnsafeRawBufferPointer(start: mapped + Int(start), count: size - Int(start)),
                                     into: server.databases)
        guard server.scripting.restoreLibraries(result.functions) else { throw RDBError("Failed loading library") }
        guard fseeko(fp, start + off_t(result.length), SEEK_SET) == 0 else { throw RDBError("fseek: \(errnoText(errno))") }
    }
}
