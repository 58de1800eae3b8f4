/// Blocked clients (Redis's blocked.c): one mechanism for every command that waits, for data on keys
/// (BLPOP and the other list pops, BZPOPMIN and the sorted-set pops; XREAD BLOCK and WAIT later) or for
/// CLIENT PAUSE to end (Redis's BLOCKED_POSTPONE, at the end of this file).
///
/// A handler that finds nothing to serve calls `block(_:keys:wants:deadline:)`. The client is parked: its
/// request is kept (owned arguments), it is queued on each key in its database (FIFO per key), a timer is set
/// for its deadline, and it is no longer read from (pipelined requests wait in its query buffer).
///
/// Keys become *ready* through the keyspace's change stream: any key added or modified while clients wait
/// on it (Server.keyChanged). Right after the request that made them ready (a whole EXEC, later a whole
/// script), before the next request of a pipeline runs, as Redis's processCommand (and again before the loop
/// sleeps, for keys made ready elsewhere), `serveClientsBlockedOnKeys` takes the ready keys in order and, for
/// each, the clients waiting on it in the order they blocked, and runs each client's command again through
/// `call` (Redis 7.2's re-execution, which serves every blocking command with its own handler, from the key
/// that became ready: `Client.servingKeyIndex`). A key that was emptied or deleted by then leaves its clients
/// blocked; a client waiting for another type than the key holds is skipped. When the command runs again
/// and still finds nothing it stays blocked where it was (same place in the queues, same deadline).
/// Commands run this way may write and make more keys ready; those are served in the same pass.
///
/// A blocked client leaves that state by being served, by its timeout (the reply is a null array, `*-1` in
/// RESP2 and `_` in RESP3), by CLIENT UNBLOCK or by disconnecting (it is still read from, so its EOF is seen
/// and nothing is served to a dead client); then its pipelined requests run.

/// What WAIT and WAITAOF wait for: the client's last write acknowledged by `replicas` replicas (WAIT: their
/// ACK offsets; WAITAOF: their FACK offsets, what they fsynced to their AOF) and, for WAITAOF, fsynced to
/// the local AOF when `local` is 1.
struct ReplicaWait {
    /// The replication offset right after the client's last write (Client.writeOffset).
    var offset: Int64
    /// The local AOF's byte count right after it (Client.aofWriteOffset).
    var aofOffset: Int64
    var replicas: Int
    /// WAITAOF's numlocal (0 or 1); nil for WAIT.
    var local: Int?

    /// Whether acknowledgements (Replication.acknowledgements(of:)) are what it waits for.
    func isMet(by acks: (local: Int, replicas: Int)) -> Bool { acks.replicas >= replicas && acks.local >= (local ?? 0) }
}

/// What a blocked client waits for.
struct BlockedState {
    enum Reason {
        /// Data on its keys: what a ready key must hold for the command to be worth running again (Redis's
        /// btype).
        case keys(wants: ValueType)
        /// The end of CLIENT PAUSE: its command has not run yet.
        case pause
        /// WAIT and WAITAOF: acknowledgements of the client's last write (Replication/Replication.swift).
        case replicas(ReplicaWait)
        /// SHUTDOWN waiting for lagging replicas (Server/Shutdown.swift).
        case shutdown
    }

    let db: Int
    /// The keys it waits on, each once (none for a pause).
    let keys: [ByteString]
    /// Its request, run again when a key is ready or the pause ends.
    let argv: [ByteString]
    let reason: Reason
    /// Deadline in Unix ms, 0 = none.
    let deadline: Int64
    var timer: TimerHandle?
    /// Runs its command again when a key it waits on is deleted or takes another type (XREADGROUP, which
    /// then answers Redis's UNBLOCKED error).
    var wakesOnDeletion = false

    /// CLIENT UNBLOCK may end it: a wait for keys or for acknowledgements (WAIT, WAITAOF), not a pause's or
    /// SHUTDOWN's.
    var mayBeUnblocked: Bool {
        switch reason {
        case .keys, .replicas: return true
        case .pause, .shutdown: return false
        }
    }
}

/// The clients blocked on one key, in the order they blocked. Clients are served from the front, and leave
/// from there in O(1) (a key with 10,000 waiting clients is served in one pass, not in 10,000 array shifts).
struct BlockedQueue {
    private var clients: [Client] = []
    private var head = 0

    var isEmpty: Bool { head == clients.count }
    /// The waiting clients, first come first.
    var waiting: ArraySlice<Client> { clients[head...] }

    mutating func append(_ client: Client) { clients.append(client) }

    mutating func remove(_ client: Client) {
        if head < clients.count && clients[head] === client {
            head += 1
        } else if let i = clients[head...].firstIndex(where: { $0 === client }) {
            clients.remove(at: i)
        }
        if head == clients.count {
            clients.removeAll()
            head = 0
        } else if head >= 64 && head * 2 >= clients.count {
            clients.removeFirst(head)  // gives back the served prefix now and then: amortised O(1)
            head = 0
        }
    }
}

/// A key of a database, as the ready list holds it.
struct ReadyKey: Hashable {
    let db: Int
    let key: ByteString
}

extension Server {
    /// Parks `client` until one of `keys` of its database holds a `wants` value or `deadline` (Unix ms,
    /// 0 = never) passes. Called by a handler that found nothing; the handler replies nothing itself.
    /// A client that cannot block (internal clients; later MULTI and scripts) gets the timeout reply at once.
    /// `argv` replaces the request run again (XREAD's "$" ids resolved); `wakesOnDeletion` runs it again
    /// when a key is deleted or changes type too.
    func block(_ client: Client, keys: [ByteString], wants: ValueType, deadline: Int64, argv: [ByteString]? = nil,
               wakesOnDeletion: Bool = false) {
        if client.reprocessingBlockedCommand {
            client.stillBlocked = true  // run again and still nothing: keep its place
            return
        }
        guard client.canBlock else { return client.reply.nullArray() }
        var unique: [ByteString] = []
        for key in keys where !unique.contains(key) { unique.append(key) }
        let db = client.db.index
        var state = BlockedState(db: db, keys: unique, argv: argv ?? client.ownedArguments(), reason: .keys(wants: wants),
                                 deadline: deadline)
        state.wakesOnDeletion = wakesOnDeletion
        for key in unique { blockedOnKeys[db][key, default: BlockedQueue()].append(client) }
        if deadline > 0 {
            let delayMicros = max(0, deadline - wallClockMillis()).multipliedReportingOverflow(by: 1000)
            let delay = delayMicros.overflow ? Int64.max / 2 : delayMicros.partialValue
            state.timer = timers.schedule(after: delay, .blockedTimeout(fd: client.fd, generation: client.generation))
        }
        client.blocked = state
        blockedClientCount += 1
        if blockedClientCount == 1 { updateKeyspaceListener() }
    }

    /// Takes `client` out of the blocked state: off every key's queue, its timer cancelled. It does not
    /// resume reading; `resume` does.
    func unblock(_ client: Client) {
        guard let state = client.blocked else { return }
        if case .pause = state.reason {
            client.blocked = nil
            postponedClients.removeAll { $0 === client }
            return
        }
        if case .replicas = state.reason { replication.waitingClients.removeAll { $0 === client } }
        if case .shutdown = state.reason { shutdown.waitingClients.removeAll { $0 === client } }
        for key in state.keys {
            blockedOnKeys[state.db][key]?.remove(client)  // in place: no copy of the queue
            if blockedOnKeys[state.db][key]?.isEmpty == true { blockedOnKeys[state.db][key] = nil }
        }
        if let timer = state.timer { _ = timers.cancel(timer) }
        client.blocked = nil
        blockedClientCount -= 1
        if blockedClientCount == 0 { updateKeyspaceListener() }
    }

    /// An unblocked client reads again and runs the requests that waited in its query buffer, before the
    /// loop sleeps (never inside the command that unblocked it: CLIENT UNBLOCK runs on another client).
    func resume(_ client: Client) {
        unblockedClients.append(client)
    }

    /// Redis's processUnblockedClients: a postponed request runs first, then the ones that waited behind it.
    func processUnblockedClients() {
        while !unblockedClients.isEmpty {
            let batch = unblockedClients
            unblockedClients.removeAll(keepingCapacity: true)
            // A blocked client was read all along (Server.updateInterest): nothing to change in epoll here.
            for client in batch where !client.isClosed && client.blocked == nil {
                if let argv = client.postponedRequest {
                    client.postponedRequest = nil
                    runRequest(argv, of: client)
                    if client.blocked != nil || client.isClosed { continue }  // blocked by its own command
                }
                if client.input.isEmpty { scheduleWrite(client) } else { processInput(client) }
            }
        }
    }

    /// CLIENT UNBLOCK: ends the wait as a timeout would, or with Redis's UNBLOCKED error.
    func unblockOnRequest(_ client: Client, withError: Bool) {
        guard withError else { return endAsTimedOut(client) }
        client.reply.error("UNBLOCKED client unblocked via CLIENT UNBLOCK")
        unblock(client)
        resume(client)
    }

    /// The blocked client's deadline passed (a timer event).
    func blockedClientTimedOut(_ client: Client) {
        guard client.blocked != nil else { return }
        client.blocked!.timer = nil  // it fired: nothing to cancel
        endAsTimedOut(client)
    }

    /// Redis's replyToBlockedClientTimedOut: WAIT and WAITAOF answer with the acknowledgements so far, the
    /// others with a null array.
    private func endAsTimedOut(_ client: Client) {
        if case .replicas(let wait)? = client.blocked?.reason {
            return finishWait(client, wait, replication.acknowledgements(of: wait))
        }
        client.reply.nullArray()
        unblock(client)
        resume(client)
    }

    /// WAIT / WAITAOF: parks the client until the acknowledgements `wait` asks for came or the deadline (Unix
    /// ms, 0 = never) passes.
    func blockForReplicas(_ client: Client, _ wait: ReplicaWait, deadline: Int64) {
        var state = BlockedState(db: client.db.index, keys: [], argv: client.ownedArguments(),
                                 reason: .replicas(wait), deadline: deadline)
        if deadline > 0 {
            let delay = max(0, deadline - wallClockMillis()).multipliedReportingOverflow(by: 1000)
            state.timer = timers.schedule(after: delay.overflow ? Int64.max / 2 : delay.partialValue,
                                          .blockedTimeout(fd: client.fd, generation: client.generation))
        }
        client.blocked = state
        blockedClientCount += 1
        if blockedClientCount == 1 { updateKeyspaceListener() }
        replication.waitingClients.append(client)
        replication.ackRequested = true
    }

    /// WAIT ends with the number of replicas that acknowledged, WAITAOF with [local fsync, replicas].
    func finishWait(_ client: Client, _ wait: ReplicaWait, _ acks: (local: Int, replicas: Int)) {
        replyWait(client, wait, acks)
        unblock(client)
        resume(client)
    }

    func replyWait(_ client: Client, _ wait: ReplicaWait, _ acks: (local: Int, replicas: Int)) {
        if wait.local == nil { return client.reply.integer(acks.replicas) }
        client.reply.array(2)
        client.reply.integer(acks.local)
        client.reply.integer(acks.replicas)
    }

    /// The server became a replica: clients blocked on keys get an error (Redis's
    /// disconnectAllBlockedClients); a pause's postponed clients keep waiting.
    func disconnectBlockedClients() {
        for client in clients where client.blocked != nil {
            if case .pause = client.blocked!.reason { continue }
            client.reply.error("UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)")
            unblock(client)
            resume(client)
        }
    }

    /// Keys do not expire while clients are paused, nor on a replica (its master sends the deletions).
    func updateExpiryPause() {
        keyspace.expiryPaused = pause != nil || replication.isReplica
    }

    /// A key was deleted while some client is blocked: ready for the clients that wake on deletion
    /// (Redis's signalDeletedKeyAsReady).
    func signalDeletedKeyAsReady(_ key: UnsafeRawBufferPointer, db: Int) {
        let key = ByteString(key)
        guard let queue = blockedOnKeys[db][key], queue.waiting.contains(where: { $0.blocked?.wakesOnDeletion == true }) else { return }
        let ready = ReadyKey(db: db, key: key)
        if readyKeySet.insert(ready).inserted { readyKeys.append(ready) }
    }

    /// Called for every key added or modified while some client is blocked (Redis's signalKeyAsReady).
    func signalKeyAsReady(_ key: UnsafeRawBufferPointer, db: Int) {
        let key = ByteString(key)
        guard blockedOnKeys[db][key] != nil else { return }
        let ready = ReadyKey(db: db, key: key)
        if readyKeySet.insert(ready).inserted { readyKeys.append(ready) }
    }

    /// SWAPDB: every key with blocked clients in these databases may now hold data.
    func signalBlockedKeysAsReady(dbs: [Int]) {
        for db in dbs {
            for key in blockedOnKeys[db].keys {
                let ready = ReadyKey(db: db, key: key)
                if readyKeySet.insert(ready).inserted { readyKeys.append(ready) }
            }
        }
    }

    /// Serves the clients blocked on ready keys (Redis's handleClientsBlockedOnKeys); see the file header.
    /// Not re-entrant: a command run again that makes more keys ready leaves them to the loop here.
    func serveClientsBlockedOnKeys() {
        if servingBlockedClients { return }
        servingBlockedClients = true
        defer { servingBlockedClients = false }
        while !readyKeys.isEmpty {
            let batch = readyKeys
            readyKeys.removeAll(keepingCapacity: true)
            readyKeySet.removeAll(keepingCapacity: true)
            for ready in batch { serveClients(blockedOn: ready) }
        }
    }

    private func serveClients(blockedOn ready: ReadyKey) {
        guard let queue = blockedOnKeys[ready.db][ready.key]?.waiting else { return }
        let database = databases[ready.db]
        for client in queue {
            guard let state = client.blocked, case .keys(let wants) = state.reason, state.db == ready.db,
                  !client.isClosed else { continue }
            // Nothing (any more) for anyone waiting on this key: they stay blocked, but for XREADGROUP, which
            // answers an error then.
            let value = database.lookup(ready.key, now: wallClockMillis(), [.write, .noTouch])
            if value == nil && !state.wakesOnDeletion { continue }
            // This client waits for another type on this key (BLPOP where BZPOPMIN's set arrived): the next.
            if let value, value.type != wants && !state.wakesOnDeletion { continue }
            runBlockedCommand(client, state, readyKey: ready.key)
        }
    }

    /// Runs a blocked client's command again; unless it blocks again, the client resumes.
    private func runBlockedCommand(_ client: Client, _ state: BlockedState, readyKey: ByteString) {
        client.parser.load(state.argv)
        client.reprocessingBlockedCommand = true
        client.servingReadyKey = readyKey
        client.stillBlocked = false
        commandClock = wallClockMicros()
        processCommand(client)
        client.reprocessingBlockedCommand = false
        client.servingReadyKey = nil
        client.parser.reset()
        if client.stillBlocked { return }
        unblock(client)
        resume(client)
    }
}

extension Client {
    /// While a blocked command runs again for a key that became ready: that key's argument index among
    /// `keys`, which the command serves first (Redis 7.0 serves a blocked client from the key that received
    /// data, not from the first of its keys); nil otherwise.
    func servingKeyIndex(in keys: Range<Int>) -> Int? {
        guard let ready = servingReadyKey else { return nil }
        return keys.first { i in ready.withUnsafeBytes { bytesEqual($0, arg(i)) } }
    }

    /// Whether a blocking command may park this client (Redis's CLIENT_DENY_BLOCKING is not set): connections
    /// can, except inside EXEC; internal clients (later also scripts) get the timeout's reply at once.
    var canBlock: Bool { kind == .connection && !executingTransaction }
}

// MARK: - Timeouts

/// Redis's getTimeoutFromObjectOrReply for timeouts in seconds (BZPOPMIN, BLPOP, ...): a float of seconds,
/// rounded up to milliseconds; returns the absolute deadline in Unix ms (0 for 0 = forever), or nil after
/// replying Redis's error. A value whose milliseconds do not fit 64 bits becomes negative in Redis's C cast,
/// hence "timeout is negative" for inf and 1e20.
func timeoutArgument(_ c: Client, _ i: Int, now: Int64) -> Int64? {
    guard let seconds = parseLongDouble(c.arg(i)) else {
        c.reply.error("ERR timeout is not a float or out of range")
        return nil
    }
    let millis = (seconds * 1000).rounded(.up)
    let limit: LongDouble = 9_223_372_036_854_775_808  // 2^63
    let ms: Int64 = millis < limit && millis >= -limit ? Int64(millis) : .min
    if ms < 0 {
        c.reply.error("ERR timeout is negative")
        return nil
    }
    // Redis 7.0 adds the time without a check; past 2^63 its deadline wraps and the client then waits forever
    // (7.2 answers "timeout is out of range" instead). We follow 7.0, the oracle.
    if ms == 0 || ms > Int64.max - now { return 0 }
    return ms + now
}

// MARK: - CLIENT PAUSE

/// The kinds of CLIENT PAUSE, weakest first (a second pause never weakens the first).
enum PauseKind: Int, Comparable {
    /// Commands that write or may replicate wait (EXEC too, when it queued one).
    case write
    /// Every command waits.
    case all

    static func < (a: PauseKind, b: PauseKind) -> Bool { a.rawValue < b.rawValue }
}

extension Server {
    /// CLIENT PAUSE: commands of `kind` wait until `end` (Unix ms). A pause in effect keeps its later end
    /// and stronger kind, as in Redis 7.0. Keys do not expire while paused (a replica could be taking over).
    func pauseClients(_ kind: PauseKind, until end: Int64) {
        pause = max(pause ?? kind, kind)
        pauseEnd = max(pauseEnd, end)
        updateExpiryPause()
        if let timer = pauseTimer { _ = timers.cancel(timer) }
        let delay = max(0, pauseEnd - wallClockMillis()).multipliedReportingOverflow(by: 1000)
        pauseTimer = timers.schedule(after: delay.overflow ? Int64.max / 2 : delay.partialValue, .pauseEnd)
    }

    /// CLIENT UNPAUSE, or the pause's end: the postponed clients run their commands, in the order they
    /// arrived, before the loop sleeps.
    func unpauseClients() {
        guard pause != nil else { return }
        pause = nil
        pauseEnd = 0
        updateExpiryPause()
        if let timer = pauseTimer { _ = timers.cancel(timer) }
        pauseTimer = nil
        let waiting = postponedClients
        postponedClients.removeAll()
        for client in waiting {
            client.postponedRequest = client.blocked?.argv
            client.blocked = nil
            resume(client)
        }
    }

    /// The pause timer fired (a timer may fire a little early or a pause may have been extended).
    func endPauseIfDue() {
        guard pause != nil else { return }
        if wallClockMillis() >= pauseEnd { return unpauseClients() }
        pauseClients(pause!, until: pauseEnd)  // re-arms the timer
    }

    /// Whether the pause holds this command back (Redis's processCommand): under ALL every command, under
    /// WRITE those that write or may replicate (a script by the flags it declares: `commandFlags`), and EXEC of
    /// a transaction that queued one. Internal clients, replicas (their ACKs) and our master's stream (applied
    /// as it arrives: its offset must keep moving) are never paused, nor is a blocked command run again.
    func pauseHolds(_ client: Client, _ command: Command) -> Bool {
        guard let pause, client.kind == .connection, !client.reprocessingBlockedCommand,
              client.replicationType == .normal else { return false }
        if pause == .all { return true }
        let mayReplicate: CommandFlags = [.write, .mayReplicate]
        if !commandFlags(client, command).isDisjoint(with: mayReplicate) { return true }
        return command.transactionRole == .exec && !(client.transaction?.flags.isDisjoint(with: mayReplicate) ?? true)
    }

    /// Parks a client whose command the pause holds back; the command runs when the pause ends.
    func postpone(_ client: Client) {
        client.blocked = BlockedState(db: client.db.index, keys: [], argv: client.ownedArguments(), reason: .pause,
                                      deadline: 0)
        postponedClients.append(client)
    }
}
