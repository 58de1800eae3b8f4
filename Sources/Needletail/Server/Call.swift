/// Running a command: `processCommand` -> `call`, and propagation (Redis's server.c `processCommand`,
/// `call`, `alsoPropagate`, `propagatePendingCommands`).
///
/// `processCommand` does what is checked once per request arriving from a client: the lookup, the arity,
/// authentication, no-multi commands, ACL permissions, OOM, RESP2's subscribed state and monitors, each refusal
/// through `rejectCommand`; then CLIENT PAUSE may hold the request back (Server/Blocking.swift), and inside
/// MULTI it is queued (Server/Transaction.swift). `call` runs an already checked command and is re-entrant:
/// EXEC, scripts, AOF loading and a blocked client's command run again all come
/// through it. The outermost `call` is an *execution unit*:
/// - it owns `now` (`Server.now` is the time the unit started, so a key cannot expire halfway through a
///   command, nor between the commands of a transaction or a script);
/// - it collects what to propagate. After each command whose run changed the keyspace (the dirty counter
///   moved) or that forced propagation, `call` appends the command to the unit's list: its arguments as
///   sent, or the form the handler chose (`Client.propagateAs`: SET EX -> SET PXAT, EXPIRE -> PEXPIREAT,
///   INCRBYFLOAT -> SET KEEPTTL, BZPOPMIN -> ZPOPMIN). Deletions of expired keys join the list as DEL where
///   they happen (see `keyChanged`). When the outermost call returns, the list goes to the one
///   `PropagationSink` (the AOF and the replicas, later), wrapped in MULTI/EXEC when it holds more than one
///   command, so a replica applies the unit atomically as the master did.
///
/// With no sink attached nothing is recorded or copied: the hot path pays one nil check. Likewise the
/// keyspace tells the server about changes only while something needs them (`updateKeyspaceListener`).

/// How the command being run is propagated; reset by `call` before each handler.
struct CommandPropagation {
    /// The arguments to propagate instead of the request's (nil: as received).
    var argv: [ByteString]?
    /// Propagate even if the keyspace did not change (FLUSHDB of an empty database, as Redis's
    /// forceCommandPropagation).
    var force = false
    /// Do not propagate this command itself (it propagated other commands, or its effect was rewritten).
    var prevent = false
}

/// One command for the AOF and replicas: its arguments and the database it ran in.
struct PropagatedCommand: Equatable {
    let db: Int
    let argv: [ByteString]
}

/// Receives each execution unit's commands, in order: one command alone, or several already wrapped in
/// MULTI ... EXEC. A sink emits SELECT itself when the database changes between commands.
protocol PropagationSink: AnyObject {
    func propagate(_ commands: [PropagatedCommand])
    /// A unit of one command propagated as the client sent it: a sink that encodes it can read the
    /// arguments where they are instead of having them copied into a `PropagatedCommand` first (the common
    /// case of every plain write; half of the AOF's cost per SET was that copy).
    func propagate(db: Int, argumentsOf client: Client)
}

extension PropagationSink {
    func propagate(db: Int, argumentsOf client: Client) {
        propagate([PropagatedCommand(db: db, argv: client.ownedArguments())])
    }
}

/// The -MISCONF error of writes refused after a failed save (stop-writes-on-bgsave-error).
let misconfError = "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error."

extension Server {
    // MARK: - processCommand

    /// Looks up, checks and runs the client's current request (Redis's processCommand). The caller sets
    /// `commandClock` to the request's start first (processInput does, once per batch and after each request).
    func processCommand(_ client: Client) {
        guard let found = commandToRun(client) else {
            commandClock = wallClockMicros()  // a rejected request's time is not the next command's
            return
        }
        // Commands live as long as the server: borrowed, not retained (a retain and a release per request).
        found._withUnsafeGuaranteedRef { target in
            client.lastCommand = target
            if pause != nil && pauseHolds(client, target) { return postpone(client) }
            if client.transaction != nil && target.transactionRole == .queued { return queueCommand(client, target) }
            call(client, target)
        }
        // Clients blocked on keys this request filled are served before the next request (Server/Blocking.swift).
        if !readyKeys.isEmpty && callDepth == 0 { serveClientsBlockedOnKeys() }
    }

    /// The command (or subcommand) the request names, once it passed the arity and authentication checks;
    /// nil after replying the error that rejected it. Unretained: commands live as long as the server.
    func commandToRun(_ client: Client) -> Unmanaged<Command>? {
        guard let found = commands.lookupUnretained(client.arg(0)) else {
            rejectUnknownCommand(client)
            return nil
        }
        return found._withUnsafeGuaranteedRef { command in
            // A container alone runs its own handler when it has one (COMMAND), as in Redis.
            guard command.hasSubcommands && (client.argc >= 2 || command.handler == nil) else {
                return checkedCommand(client, command)
            }
            if client.argc < 2 {
                rejectCommand(client, command, error: Array("ERR wrong number of arguments for '\(command.name)' command".utf8))
                return nil
            }
            guard let sub = command.subcommand(named: client.arg(1)) else {
                rejectCommand(client, nil, error: Array("ERR unknown subcommand '".utf8) + cString(client.arg(1), max: 128)
                    + Array("'. Try \(command.name.uppercased()) HELP.".utf8))
                return nil
            }
            return checkedCommand(client, sub)
        }
    }

    /// `target` if the client may run it now (arity, authentication, ACL, memory, the server's state), nil
    /// after replying the error that refuses it.
    @inline(__always)
    private func checkedCommand(_ client: Client, _ target: Command) -> Unmanaged<Command>? {
        guard target.acceptsArgumentCount(client.argc) else {
            rejectCommand(client, target, error: Array("ERR wrong number of arguments for '\(target.fullName)' command".utf8))
            return nil
        }
        // DEBUG and MODULE LOAD/LOADEX/UNLOAD need enable-debug-command / enable-module-command (checked before
        // authentication, as Redis).
        if target.flags.contains(.protected) && !allowsProtectedCommand(client, target) {
            let (name, option) = target.name == "debug" ? ("DEBUG", "enable-debug-command") : ("MODULE", "enable-module-command")
            rejectCommand(client, target, error: Array("ERR \(name) command not allowed. If the \(option) option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.".utf8))
            return nil
        }
        if !client.authenticated && !target.flags.contains(.noAuth) && acl.authRequired {
            rejectCommand(client, target, error: Array("NOAUTH Authentication required.".utf8))
            return nil
        }
        if client.transaction != nil && target.flags.contains(.noMulti) {
            rejectCommand(client, target, error: Array("ERR Command not allowed inside a transaction".utf8))
            return nil
        }
        // ACL (Security/ACL.swift): one flag test for users allowed everything (the default user).
        if let user = client.user, !user.unrestricted, let denial = acl.check(user, target, client) {
            let error = aclRefusal(client, target, denial, context: client.transaction != nil ? .multi : .toplevel)
            rejectCommand(client, target, error: error)
            return nil
        }
        // maxmemory-clients (Server/ClientMemory.swift), where Redis evicts clients: before key eviction, after
        // the previous command's replies grew someone's buffer. A client that evicted itself gets no reply.
        if clientMemory.evictionLimit != 0 {
            evictClients()
            if client.isClosed { return nil }
        }
        // maxmemory: evict what the policy allows, refuse what would grow memory if still over the limit.
        if eviction.limit > 0 && !scriptBusy {
            let outOfMemory = performEvictions() == .fail
            preCommandOOMState = outOfMemory
            if outOfMemory && refusedWhenOutOfMemory(client, target) {
                rejectCommand(client, target, error: Server.oomError)
                return nil
            }
        }
        // Client-side caching's table stays within tracking-table-max-keys (Server/Tracking.swift).
        if trackingClients > 0 { enforceTrackingTableLimit() }
        // Loading, or a failed save: one flag test on the hot path (RDBPersistence keeps it). Our master's
        // writes are never refused for a disk error of ours (Redis's obey_client).
        if persistenceGate && !client.isMaster {
            if target.flags.contains(.write) || target.name == "ping", let error = rdb.diskErrorReply {
                rejectCommand(client, target, error: Array(error.utf8))
                return nil
            }
            if rdb.loading && !target.flags.contains(.loading) {
                rejectCommand(client, target, error: Array("LOADING Redis is loading the dataset in memory".utf8))
                return nil
            }
        }
        // A replica's rules, or min-replicas-to-write (one flag test otherwise; Replication/Replication.swift).
        if replicationGate && !client.isMaster, let error = replicationRefusal(client, target) {
            rejectCommand(client, target, error: Array(error.utf8))
            return nil
        }
        // A script past busy-reply-threshold lets the loop serve others only for a few commands.
        if scriptBusy && !target.flags.contains(.allowBusy) {
            let error = scripting.busyError
            rejectCommand(client, target, error: Array(UnsafeRawBufferPointer(start: error.utf8Start, count: error.utf8CodeUnitCount)))
            return nil
        }
        // Subscribed or monitoring clients (one flag test for everyone else).
        if client.restricted, let error = restrictedStateError(client, target) {
            rejectCommand(client, target, error: error)
            return nil
        }
        return Unmanaged.passUnretained(target)
    }

    private func allowsProtectedCommand(_ client: Client, _ target: Command) -> Bool {
        let setting = target.name == "debug" ? config.enableDebugCommand : config.enableModuleCommand
        return config.allowsProtectedAction(setting, clientIsLocal: isLocalClient(client))
    }

    static let oomError = Array("OOM command not allowed when used memory > 'maxmemory'.".utf8)

    /// What a replica refuses (writes while replica-read-only: -READONLY; commands not flagged stale while
    /// the link is down and replica-serve-stale-data is no: -MASTERDOWN) and what a master refuses when
    /// min-replicas-to-write is not met (-NOREPLICAS), as Redis's processCommand.
    private func replicationRefusal(_ client: Client, _ target: Command) -> String? {
        let flags = commandFlags(client, target)
        let writes = flags.contains(.write)
            || (target.transactionRole == .exec && client.transaction?.flags.contains(.write) == true)
        if writes && replication.lacksGoodReplicas { return "NOREPLICAS Not enough good replicas to write." }
        guard replication.isReplica else { return nil }
        if writes && config.replicaReadOnly { return "READONLY You can't write against a read only replica." }
        if !flags.contains(.stale) && !replication.linkIsUp && config.value(of: "replica-serve-stale-data") == "no" {
            return "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."
        }
        return nil
    }

    /// What Redis refuses while memory is over maxmemory: commands flagged denyoom, an EXEC whose queue holds
    /// one, a script declared (shebang or function flags) without allow-oom or no-writes, and, in MULTI,
    /// anything but EXEC, DISCARD, QUIT and RESET.
    private func refusedWhenOutOfMemory(_ client: Client, _ target: Command) -> Bool {
        if let transaction = client.transaction {
            if target.transactionRole == .exec { return transaction.flags.contains(.denyoom) }
            return target.name != "discard" && target.name != "quit" && target.name != "reset"
        }
        return commandFlags(client, target).contains(.denyoom)
    }

    /// The flags the checks see (Redis's getCommandFlags): a script command (EVAL, EVALSHA, FCALL and their _RO
    /// forms) whose script declares flags (a shebang, a function's flags) takes write, denyoom and stale from
    /// them and loses may-replicate (scriptFlagsToCmdFlags); every other command has its table's flags. MULTI
    /// ORs them into the transaction's flags, so an EXEC holding such a script is refused when out of memory.
    func commandFlags(_ client: Client, _ command: Command) -> CommandFlags {
        // (Script commands are all flagged noscript: one bit test for the rest.)
        guard command.flags.contains(.noscript), let declared = scripting.declaredFlags(client, command),
              !declared.contains(.evalCompatible) else {
            return command.flags
        }
        var flags = command.flags.subtracting([.stale, .denyoom, .write, .mayReplicate])
        if declared.isDisjoint(with: [.allowOOM, .noWrites]) { flags.insert(.denyoom) }
        if !declared.contains(.noWrites) { flags.insert(.write) }
        if declared.contains(.allowStale) { flags.insert(.stale) }
        return flags
    }

    /// Redis's rejectCommand: replies `error` (a full error line without the leading '-') and counts a
    /// rejected call of `command` (nil: unknown command or subcommand); inside MULTI the transaction is
    /// marked aborted, and a rejected EXEC ends it at once, with the reason.
    func rejectCommand(_ client: Client, _ command: Command?, error: [UInt8]) {
        command?.rejectedCalls += 1  // a container called without a subcommand counts too, as in Redis
        // CLIENT CACHING yes applies to the next request even when that one is refused (Redis's resetClient).
        if let tracking = client.tracking, tracking.caching, client.transaction == nil,
           command?.name != "client" && command?.parent?.name != "client" {
            tracking.caching = false
        }
        if client.transaction != nil { client.transaction!.aborted = true }
        guard let command, command.transactionRole == .exec else { return client.reply.error(bytes: error) }
        // Redis formats its own errors without "ERR " here, and keeps the code of the others (NOAUTH ...).
        let reason = error.starts(with: Array("ERR ".utf8)) ? Array(error.dropFirst(4)) : error
        discardTransaction(client)
        client.reply.error(bytes: Array("EXECABORT Transaction discarded because of: ".utf8) + reason)
    }

    /// RESP2's subscribed state (Server/Subscriptions.swift) allows only (P|S)(UN)SUBSCRIBE, PING, QUIT and
    /// RESET; a monitor (Server/Monitor.swift) is a replica to Redis and may not touch the keyspace.
    private func restrictedStateError(_ client: Client, _ target: Command) -> [UInt8]? {
        if client.subscriptions != nil && client.protocolVersion == 2 && !target.flags.contains(.allowedWhileSubscribed) {
            return Array("ERR Can't execute '\(target.fullName)': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context".utf8)
        }
        let keyspace: CommandFlags = [.write, .readonly, .mayReplicate]
        if client.isMonitor && !commandFlags(client, target).isDisjoint(with: keyspace) {
            return Array("ERR Replica can't interact with the keyspace".utf8)
        }
        return nil
    }

    /// Redis builds this text with printf's `%.*s`, so each quoted argument also stops at its first NUL byte.
    private func rejectUnknownCommand(_ client: Client) {
        var args: [UInt8] = []
        var i = 1
        while i < client.argc && args.count < 128 {
            let room = 128 - args.count  // as `'%.*s' ` with 128 - sdslen(args), taken before the quote
            args.append(UInt8(ascii: "'"))
            args.append(contentsOf: cString(client.arg(i), max: room))
            args.append(contentsOf: Array("' ".utf8))
            i += 1
        }
        rejectCommand(client, nil, error: Array("ERR unknown command '".utf8) + cString(client.arg(0), max: 128)
            + Array("', with args beginning with: ".utf8) + args)
    }

    // MARK: - call

    /// Runs a checked command with the client's current arguments: the handler, commandstats, and
    /// propagation. Re-entrant; the outermost call is the execution unit (see the file header).
    func call(_ client: Client, _ command: Command) {
        if keyspace.snapshot != nil && command.flags.contains(.write) { preserveKeys(client, command) }
        let outermost = callDepth == 0
        // CLIENT NO-TOUCH: the command's lookups (its script's too) leave access stamps alone, but TOUCH does touch.
        if outermost { keyspace.noTouch = client.noTouch && command.name != "touch" }
        let started = outermost ? commandClock : tickClock.estimate()
        errorRepliesCounted = stats.totalErrorReplies
        let dirtyBefore = keyspace.dirty
        guard callNeedsBookkeeping else {
            // Nobody listens to propagation nor monitors: what the handler says about it is not even reset.
            callDepth += 1
            command.handler!(client)
            callDepth -= 1
            return finishCall(client, command, outermost: outermost, started: started)
        }
        // EXEC's arguments, which its queued commands replace in the parser, for the monitors' line.
        let execArguments = command.transactionRole == .exec && !monitors.isEmpty ? client.ownedArguments() : nil
        if outermost { currentClientID = client.id }
        guard propagationSink != nil else {
            callDepth += 1
            command.handler!(client)
            callDepth -= 1
            afterCommand(client, command, outermost: outermost, execArguments: execArguments)
            return finishCall(client, command, outermost: outermost, started: started)
        }
        let offsetBefore = replication.offset
        let aofBefore = aof.isOn ? aof.fedBytes : 0
        let enclosing = client.propagation  // a nested call on the same client (EXEC) keeps the outer's
        client.propagation = CommandPropagation()
        callDepth += 1
        command.handler!(client)
        callDepth -= 1
        let propagation = client.propagation
        client.propagation = enclosing
        if (keyspace.dirty != dirtyBefore || propagation.force) && !propagation.prevent {
            if outermost && pendingPropagation.isEmpty && propagation.argv == nil {
                // Alone in its unit and unchanged: straight from the request (nothing can join the unit
                // after the handler: deletions of expired keys are recorded while it runs).
                if propagatesToStream {
                    propagationStreamReference._withUnsafeGuaranteedRef { $0.propagate(db: client.db.index, argumentsOf: client) }
                } else {
                    propagationSink?.propagate(db: client.db.index, argumentsOf: client)
                }
            } else {
                pendingPropagation.append(PropagatedCommand(db: client.db.index,
                                                            argv: propagation.argv ?? client.ownedArguments()))
            }
        }
        afterCommand(client, command, outermost: outermost, execArguments: execArguments)
        finishCall(client, command, outermost: outermost, started: started)
        if outermost {
            propagatePending()
            // WAIT waits for the offset right after the client's last propagated write, WAITAOF for the AOF's too.
            if replication.offset != offsetBefore { client.writeOffset = replication.offset }
            if aof.isOn, case let fed = aof.fedBytes, fed != aofBefore { client.aofWriteOffset = fed }
        }
    }

    /// While a snapshot runs, hands it the keys a write command is about to change that it has not saved
    /// yet (Persistence/Snapshot.swift): found with the command's key specs, as COMMAND GETKEYS. The common
    /// shape (one range of keys: SET, MSET, HSET...) is read from the plan the ACL check also uses, in place.
    private func preserveKeys(_ client: Client, _ command: Command) {
        switch command.aclKeys.shape {
        case .none:
            return
        case .range(let first, let lastKey, let step):
            guard let keys = ACLKeyPlan.keyPositions(first: first, lastKey: lastKey, argc: client.argc) else { return }
            var i = keys.lowerBound
            while i <= keys.upperBound {
                client.db.preserve(client.arg(i))
                i += step
            }
            return
        case .general:
            break
        }
        let arguments = client.ownedArguments()
        guard let positions = keyPositions(command, arguments) else { return }
        for (position, _) in positions where position < arguments.count {
            arguments[position].withUnsafeBytes { client.db.preserve($0) }
        }
    }

    /// What the bookkeeping path does after a handler: MONITOR's line, the keys a tracking client read, and
    /// at the outermost level the invalidations held for the client itself (Redis's afterCommand).
    private func afterCommand(_ client: Client, _ command: Command, outermost: Bool, execArguments: [ByteString]?) {
        if !monitors.isEmpty { feedMonitors(client, command, arguments: execArguments) }
        if client.tracking != nil && command.flags.contains(.readonly) { trackingRememberKeys(client, command) }
        // One null per flush command (two FLUSHALLs in one EXEC send two, as Redis).
        trackingFlushSent = false
        guard outermost else { return }
        if !trackingPendingKeys.isEmpty { sendPendingInvalidations(client) }
        currentClientID = 0
        // CLIENT CACHING applies to the next command only (outside MULTI; CLIENT's own subcommands keep it).
        if let tracking = client.tracking, tracking.caching, client.transaction == nil,
           command.name != "client" && command.parent?.name != "client" {
            tracking.caching = false
        }
    }

    /// Commandstats, the command clock and (debug builds) the invariant checks, after a handler ran.
    @inline(__always)
    private func finishCall(_ client: Client, _ command: Command, outermost: Bool, started: Int64) {
        let ended = tickClock.estimate()
        if outermost { commandClock = ended }
        let micros = max(0, ended - started)  // 0 if the wall clock stepped back
        command.microseconds += Int(micros)
        command.calls += 1
        recordCommand(client, command, micros: micros)
        // As Redis's incrCommandStatsOnError: errors since the last look, which a nested call (a command
        // run by EXEC) already counted; and none after CONFIG RESETSTAT zeroed the count.
        if stats.totalErrorReplies > errorRepliesCounted { command.failedCalls += 1 }
        errorRepliesCounted = stats.totalErrorReplies
        stats.totalCommandsProcessed += 1
        #if NEEDLETAIL_INVARIANTS
        if outermost && checksInvariants
            && (command.flags.contains(.write) || command.transactionRole == .exec || command.group == "scripting") {
            checkKeyspaceInvariants(client.db)
        }
        #endif
    }

    /// Whether anything listens to propagation: handlers build a rewritten form only then.
    @inline(__always) var isPropagating: Bool { propagationSink != nil }

    /// Adds a command to the running unit's propagation (Redis's alsoPropagate), or hands it over at once
    /// outside any command (active expiry).
    func alsoPropagate(db: Int, _ argv: [ByteString]) {
        guard propagationSink != nil else { return }
        pendingPropagation.append(PropagatedCommand(db: db, argv: argv))
        if callDepth == 0 { propagatePending() }
    }

    /// How many commands the running unit has collected so far (a script's redis.set_repl(REPL_NONE) drops
    /// what its command added: `dropPendingPropagation(from:)`).
    var pendingPropagationCount: Int { pendingPropagation.count }

    func dropPendingPropagation(from count: Int) {
        if pendingPropagation.count > count { pendingPropagation.removeSubrange(count...) }
    }

    /// Hands the unit's commands to the sink, in MULTI/EXEC when there are several.
    private func propagatePending() {
        guard let sink = propagationSink else {
            // The sink went away while the unit ran (CONFIG SET appendonly no in a transaction): what it
            // collected goes nowhere, and must not be handed to a later sink with a later unit.
            pendingPropagation.removeAll(keepingCapacity: true)
            return
        }
        guard !pendingPropagation.isEmpty else { return }
        if pendingPropagation.count > 1 {
            let db = pendingPropagation[0].db  // SELECT goes before MULTI, as Redis 7.0 propagates it
            pendingPropagation.insert(PropagatedCommand(db: db, argv: ["MULTI"]), at: 0)
            pendingPropagation.append(PropagatedCommand(db: pendingPropagation[pendingPropagation.count - 1].db, argv: ["EXEC"]))
        }
        // The sink has the unit for the duration of the call; the list's storage is then reused (no copy).
        sink.propagate(pendingPropagation)
        pendingPropagation.removeAll(keepingCapacity: true)
    }

    // MARK: - Internal clients

    /// Creates a client without a socket (scripts, AOF loading, the master link, tests).
    func makeInternalClient() -> Client {
        defer { nextClientID += 1 }
        return Client.makeInternal(server: self, id: nextClientID)
    }

    /// Runs one command on an internal client as if it had arrived on a connection (checks included) and
    /// returns its reply in the client's protocol; with `.discard` the reply is dropped and nil returned.
    @discardableResult
    func run(_ argv: [ByteString], on client: Client) -> [UInt8]? {
        precondition(client.kind == .internal, "connections run what they read")
        guard !argv.isEmpty else { return client.replySink == .capture ? [] : nil }
        client.parser.load(argv)
        if callDepth == 0 { commandClock = wallClockMicros() }
        processCommand(client)
        client.parser.reset()
        let output = client.output
        defer { output.clear(shrinkTo: 64 * 1024) }
        guard client.replySink == .capture else { return nil }
        return Array(UnsafeRawBufferPointer(start: output.base + output.readIndex, count: output.readableBytes))
    }
}

// MARK: - What handlers say about propagation

extension Client {
    /// Propagates the running command as `argv` instead of as received (SET EX as SET PXAT). The form is
    /// built only while something listens to propagation.
    @inline(__always) func propagateAs(_ argv: @autoclosure () -> [ByteString]) {
        if server.isPropagating { propagation.argv = argv() }
    }

    /// Propagates the running command even if the keyspace did not change (Redis's forceCommandPropagation).
    func forcePropagation() { propagation.force = true }

    /// The name the server uses to propagate the deletion of an expired key, and the DEL an EXPIRE or GETEX
    /// in the past turns into: UNLINK with `lazyfree-lazy-expire`, as Redis.
    var expireDeletionCommand: ByteString { server.config.lazyfreeLazyExpire ? "UNLINK" : "DEL" }
}

// MARK: - The keyspace's listener

extension Server: KeyspaceListener {
    /// Every key change lands here (Storage/KeyspaceChanges.swift) and fans out to what needs it: watched
    /// keys are touched, keys that blocked clients wait on become ready, and deletions of expired keys are
    /// propagated as DEL. The server listens to the keyspace only while it needs to: keys are watched,
    /// clients are blocked, propagation has a sink, keyspace notifications are on, or an observer is attached.
    /// Otherwise a write pays one nil check for its change; when propagation is the only reason, only the
    /// deletions of expired and evicted keys reach `keyChanged` (what it propagates).
    func updateKeyspaceListener() {
        let hearsAll = blockedClientCount > 0 || watchedKeyCount > 0 || keyspaceObserver != nil
            || !keyspaceNotifications.isEmpty || trackingActive
        keyspace.listener = hearsAll || propagationSink != nil ? self : nil
        keyspace.listenerHearsAll = hearsAll
    }

    func keyChanged(_ change: KeyChange, key: UnsafeRawBufferPointer, db: Int, event: KeyspaceEvent) {
        if change == .unsignalled {  // stream groups: counted and notified only, as Redis
            keyspaceObserver?.keyChanged(change, key: key, db: db, event: event)
            if !keyspaceNotifications.isEmpty { keyChangeNotified(change, key: key, db: db, event: event) }
            return
        }
        if watchedKeyCount > 0 { touchWatchedKey(key, db: db) }
        switch change {
        case .added, .modified:
            if blockedClientCount > 0 { signalKeyAsReady(key, db: db) }
        case .deleted(.expired), .deleted(.evicted):
            // Replicas and the AOF do not expire keys by themselves: the master's deletion is propagated.
            if propagationSink != nil {
                let lazy = change == .deleted(.expired) ? config.lazyfreeLazyExpire : config.lazyfreeLazyEviction
                alsoPropagate(db: db, [lazy ? "UNLINK" : "DEL", ByteString(key)])  // as expireDeletionCommand
            }
            if blockedClientCount > 0 { signalDeletedKeyAsReady(key, db: db) }
        case .deleted:
            if blockedClientCount > 0 { signalDeletedKeyAsReady(key, db: db) }  // XREADGROUP's UNBLOCKED error
        case .ttlChanged, .unsignalled:
            break
        }
        keyspaceObserver?.keyChanged(change, key: key, db: db, event: event)
        if !keyspaceNotifications.isEmpty { keyChangeNotified(change, key: key, db: db, event: event) }
        if trackingActive { trackingInvalidateKey(key, broadcast: true) }
    }

    func databaseWillFlush(_ db: Int) {
        if watchedKeyCount > 0 { touchAllWatchedKeys(emptied: db, replacedWith: nil) }
        keyspaceObserver?.databaseWillFlush(db)
        if trackingActive { trackingInvalidateOnFlush() }
    }

    func databasesWillSwap(_ first: Int, _ second: Int) {
        if watchedKeyCount > 0 {
            touchAllWatchedKeys(emptied: first, replacedWith: second)
            touchAllWatchedKeys(emptied: second, replacedWith: first)
        }
        // Clients blocked in either database may find their keys (served after the command, on the new data).
        if blockedClientCount > 0 { signalBlockedKeysAsReady(dbs: [first, second]) }
        keyspaceObserver?.databasesWillSwap(first, second)
    }
}

#if NEEDLETAIL_INVARIANTS
extension Server {
    /// Debug builds (the test configuration) check the structures a write command may have touched, so a
    /// broken structure fails the differential and integration tests instead of corrupting data silently.
    /// A small keyspace (up to 256 keys holding up to 4,000 elements: the differential tests') is checked
    /// whole after every write: its table and every collection. A bigger one would cost O(keys + elements)
    /// a write (tests filling thousands of keys or big collections spent 90% of the server's time here):
    /// there the keys the write changed are checked (those `KeyspaceChanges` recorded), and the whole
    /// database every 64th write while it holds 2,000 keys or fewer.
    func checkKeyspaceInvariants(_ db: Database) {
        let changes = keyspace
        defer {
            changes.touchedKeys.removeAll(keepingCapacity: true)
            changes.touchedOverflow = false
        }
        invariantChecks &+= 1
        var whole = db.count <= 2_000 && (changes.touchedOverflow || invariantChecks % 64 == 0)
        if !whole && db.count <= 256 {
            var elements = 0
            for (_, entry) in db.keys { elements += min(entry.value.elementCount, 4_001) }
            whole = elements <= 4_000
        }
        if whole {
            db.checkInvariants()
            for (_, entry) in db.keys where entry.value.elementCount <= 2_000 { entry.value.checkInvariants() }
            return
        }
        for (index, key) in changes.touchedKeys where index < databases.count {
            guard let value = key.withUnsafeBytes({ databases[index].keys.find($0)?.value }),
                  value.elementCount <= 2_000 else { continue }
            value.checkInvariants()
        }
    }
}
#endif
