import Glibc

/// Replication (Redis's replication.c), master side: the replication stream, the backlog, replicas
/// attaching with SYNC/PSYNC, full syncs from a fork-less snapshot, acknowledgements, WAIT and
/// min-replicas-to-write. The replica side (the link to our master) is in ReplicaLink.swift, the
/// commands in Commands/ReplicationCommands.swift.
///
/// THE STREAM. Every execution unit's commands reach `PropagationStream` (Server/Call.swift); while this
/// server is a master with a backlog, they are encoded once as RESP (SELECT when the database changes,
/// exactly as the AOF encodes them: IOBuffer.appendCommand) and `feed` appends the bytes to the backlog
/// and to every replica. `offset` (master_repl_offset) counts every byte ever fed. A replica of ours that
/// is itself a replica proxies its master's stream byte for byte instead (ReplicaLink.swift), so a chain
/// keeps one offset space and one replication id, as PSYNC2 wants.
///
/// A REPLICA ATTACHING. `PSYNC <replid> <offset>` continues from the backlog when the id is ours (or our
/// previous one, `replid2`, up to `secondOffset`) and the offset is still held: `+CONTINUE`, then the
/// bytes from there. Otherwise a full sync: the replica waits (`repl-diskless-sync-delay`, for others to
/// share the snapshot) until a `FullSync` begins: `+FULLRESYNC <replid> <offset>`, then the RDB of a
/// fork-less snapshot (Persistence/Snapshot.swift) taken at that offset, serialized on the loop in slices
/// and written to the replica as it is produced, framed `$EOF:<mark>` ... `<mark>` (replicas that said
/// `capa eof`), or built in memory and sent as `$<length>` (plain SYNC, old replicas). The stream produced
/// meanwhile waits in the replica's `pending` buffer and follows the RDB: at once with a length, or on the
/// replica's first REPLCONF ACK with a mark (a replica reading up to the mark cannot tell the RDB's end
/// from the stream otherwise, so Redis waits for that ACK too).
///
/// ACKS. Replicas send `REPLCONF ACK <offset>` every second and when asked (`REPLCONF GETACK *`, which
/// WAIT's clients trigger once per loop iteration); WAIT blocks on the blocking mechanism until enough
/// replicas acknowledged the client's last write, or its timeout.
final class Replication {
    unowned(unsafe) let server: Server

    // Identity (shared by both roles).
    /// The replication id of the history this server holds, and the one before it (after a promotion).
    var replid = randomHex(40)
    var replid2 = String(repeating: "0", count: 40)
    /// master_repl_offset: bytes of the stream so far.
    var offset: Int64 = 0
    /// Up to where `replid2` is valid (-1: none).
    var secondOffset: Int64 = -1
    private(set) var backlog: ReplicationBacklog?
    /// Unix seconds since the server has had no replica (repl-backlog-ttl).
    var noReplicasSince = wallClockMillis() / 1000

    // Master side.
    /// Replicas attached (SYNC/PSYNC done), in the order they attached.
    private(set) var replicas: [Client] = []
    /// The database of the last SELECT in the stream (Redis's slaveseldb); -1 forces a SELECT.
    var selectedDB = -1
    /// Commands encoded for the stream before they are fed (reused).
    private let scratch = IOBuffer(capacity: 16 * 1024)
    /// The full sync whose snapshot is being sent, if any.
    var fullSync: FullSync?
    /// Replicas online with a recent ACK (min-replicas-to-write), kept by the cron.
    private(set) var goodReplicas = 0
    /// A client waits in WAIT: replicas are asked for an ACK before the loop sleeps.
    var ackRequested = false
    /// Clients blocked in WAIT.
    var waitingClients: [Client] = []

    // Replica side (ReplicaLink.swift).
    /// Our master when we are a replica (REPLICAOF host port), nil when we are a master.
    var masterHost: String?
    var masterPort = 0
    var link: MasterLink?
    /// The master client once the link is established and synced.
    var master: Client?
    /// Where a PSYNC to our (next) master starts: the id and offset of the history we hold.
    /// The master client's selected database travels with it: the stream after +CONTINUE selects only when
    /// the master's database changes (Redis keeps the whole cached client).
    var cachedMaster: (replid: String, offset: Int64, db: Int)?
    /// When the master client last sent us anything (monotonic ms): repl-timeout and master_last_io_seconds_ago.
    /// (Its lastInteraction moves with our ACKs too.)
    var masterLastIO: Int64 = 0
    /// The bytes of a transaction the master is sending: passed on and counted only once EXEC (or DISCARD)
    /// ends it, as Redis's commandProcessed, so a link lost in the middle resumes before its MULTI.
    let heldTransaction = IOBuffer(capacity: 256)
    /// Unix seconds since the link has been down (INFO master_link_down_since_seconds).
    var linkDownSince: Int64 = 0
    /// The number of full syncs and partial resyncs served (INFO sync_full, sync_partial_ok/err).
    var fullSyncs = 0
    var partialSyncsAccepted = 0
    var partialSyncsRefused = 0

    // FAILOVER (Replication/Failover.swift).
    var failover = FailoverState.none
    var failoverTarget: (host: String, port: Int)?
    /// Unix ms past which waiting for sync ends (0: no timeout), and whether it then goes on anyway.
    var failoverEnd: Int64 = 0
    var failoverForce = false

    init(server: Server) {
        self.server = server
    }

    var config: Config { server.config }
    var log: Logger { server.log }
    var isReplica: Bool { masterHost != nil }

    /// Whether this server feeds a stream of its own (a master with a backlog).
    var feedsStream: Bool { backlog != nil && masterHost == nil }

    // MARK: - The stream

    /// Appends stream bytes to the backlog and hands them to every replica (Redis's feedReplicationBuffer).
    func feed(_ bytes: UnsafeRawBufferPointer) {
        guard !bytes.isEmpty else { return }
        backlog?.append(bytes)
        offset += Int64(bytes.count)
        for replica in replicas { deliver(bytes, to: replica) }
    }

    private func deliver(_ bytes: UnsafeRawBufferPointer, to client: Client) {
        guard let state = client.replica, !client.isClosed else { return }
        switch state.state {
        case .online:
            client.output.append(bytes)
            server.scheduleWrite(client)
            if client.output.readableBytes > server.outputCheckBytes { server.checkOutputBuffer(client) }
        case .sendingSnapshot, .waitingAck:
            state.pending.append(bytes)
            if state.pending.readableBytes > server.outputCheckBytes { checkPendingLimit(client) }
        case .waitingSnapshot:
            break  // its snapshot has not begun: what it needs starts at the snapshot's offset
        }
    }

    /// The commands of one execution unit, from PropagationStream.
    func feed(_ commands: [PropagatedCommand]) {
        for command in commands { scratch.appendCommand(command.argv, db: command.db, selected: &selectedDB) }
        feedScratch()
    }

    /// One command as the client sent it.
    func feed(db: Int, argumentsOf client: Client) {
        scratch.selectDatabase(db, selected: &selectedDB)
        let (spans, bytes) = client.argumentSpans
        scratch.appendArguments(spans, in: bytes)
        feedScratch()
    }

    private func feedScratch() {
        feed(scratch.bytes(at: scratch.readIndex, count: scratch.readableBytes))
        scratch.clear(shrinkTo: 1024 * 1024)
    }

    /// Creates the backlog (the first replica attaches, or we sync with a master). A master that creates
    /// its backlog starts a new history: a new id, so no replica can continue an older one by mistake.
    func createBacklog() {
        guard backlog == nil else { return }
        backlog = ReplicationBacklog(capacity: backlogSize, offset: offset)
        server.updatePropagationStream()
    }

    func freeBacklog() {
        backlog = nil
        server.updatePropagationStream()
    }

    var backlogSize: Int { Int(config.value(of: "repl-backlog-size").flatMap { Int($0) } ?? 1024 * 1024) }

    /// A new history: a new id, and the old one kept as `replid2` up to this offset (Redis's
    /// shiftReplicationId, on promotion).
    func shiftReplicationID() {
        replid2 = replid
        secondOffset = offset + 1
        replid = randomHex(40)
        log.notice("Setting secondary replication ID to \(replid2), valid up to offset: \(secondOffset). New replication ID is \(replid)")
    }

    func changeReplicationID() { replid = randomHex(40) }

    func clearReplicationID2() {
        replid2 = String(repeating: "0", count: 40)
        secondOffset = -1
    }

    // MARK: - Replicas attaching (SYNC / PSYNC)

    /// SYNC and PSYNC (Redis's syncCommand).
    func sync(_ c: Client, psync: Bool) {
        if c.replica?.attached == true { return }  // already a replica: ignored, as Redis
        // Our master hands its role to us (FAILOVER): we promote ourselves, then continue it as a replica.
        if psync && c.argc > 3 && c.argIs(3, "failover") && !acceptFailoverRequest(c) { return }
        if failover != .none { return c.reply.error("NOMASTERLINK Can't SYNC while failing over") }
        if isReplica && !linkIsUp {
            return c.reply.error("NOMASTERLINK Can't SYNC while not connected with my master")
        }
        if !c.output.isEmpty { return c.reply.error("ERR SYNC and PSYNC are invalid with pending output") }
        let state = c.replica ?? ReplicaState()
        c.replica = state
        log.notice("Replica \(replicaName(c)) asks for synchronization")
        if psync {
            guard let requestedOffset = parseInt64(c.arg(2)) else {
                log.warning("Replica \(replicaName(c)) asks for synchronization but with a wrong offset")
                return c.replyNotInteger()
            }
            if tryPartialResync(c, state, offset: requestedOffset) {
                partialSyncsAccepted += 1
                return
            }
            let requested = c.argString(1)
            if requested != "?" { partialSyncsRefused += 1 }
        } else {
            state.prePSYNC = true  // plain SYNC: no +FULLRESYNC line, an RDB with its length
        }
        fullSyncs += 1
        attach(c, state)
        state.state = .waitingSnapshot
        state.waitingSince = monotonicMillis()
        if replicas.count == 1 && backlog == nil {
            changeReplicationID()
            clearReplicationID2()
            createBacklog()
            log.notice("Replication backlog created, my new replication IDs are '\(replid)' and '\(replid2)'")
        }
        // A sync already sending: a disk-based one could share it in Redis; ours starts a new one after it.
        startFullSyncIfDue(force: !disklessSync || disklessDelay == 0)
    }

    private var disklessSync: Bool { config.value(of: "repl-diskless-sync") != "no" }
    private var disklessDelay: Int { Int(config.value(of: "repl-diskless-sync-delay") ?? "5") ?? 5 }

    private func attach(_ c: Client, _ state: ReplicaState) {
        state.attached = true
        c.replicationType = .replica
        replicas.append(c)
        server.updateClientMemoryUsage(c)
    }

    /// PSYNC's partial resynchronization (Redis's masterTryPartialResynchronization).
    private func tryPartialResync(_ c: Client, _ state: ReplicaState, offset requestedOffset: Int64) -> Bool {
        let requestedID = c.argString(1)
        let sameHistory = requestedID == replid
            || (requestedID == replid2 && requestedOffset <= secondOffset)
        guard sameHistory else {
            if requestedID != "?" {
                if requestedID != replid2 {
                    log.notice("Partial resynchronization not accepted: Replication ID mismatch (Replica asked for '\(requestedID)', my replication IDs are '\(replid)' and '\(replid2)')")
                } else {
                    log.notice("Partial resynchronization not accepted: Requested offset for second ID was \(requestedOffset), but I can reply up to \(secondOffset)")
                }
            } else {
                log.notice("Full resync requested by replica \(replicaName(c))")
            }
            return false
        }
        guard let backlog, backlog.holds(from: requestedOffset) else {
            log.notice("Unable to partial resync with replica \(replicaName(c)) for lack of backlog (Replica request was: \(requestedOffset)).")
            return false
        }
        attach(c, state)
        state.state = .online
        state.ackTime = monotonicMillis()
        let line = state.capaPSYNC2 ? "+CONTINUE \(replid)\r\n" : "+CONTINUE\r\n"
        c.output.appendText(line)
        var sent = 0
        backlog.forEachChunk(from: requestedOffset) { chunk in
            c.output.append(chunk)
            sent += chunk.count
        }
        server.scheduleWrite(c)
        log.notice("Partial resynchronization request from \(replicaName(c)) accepted. Sending \(sent) bytes of backlog starting from offset \(requestedOffset).")
        refreshGoodReplicas()
        return true
    }

    /// Starts a full sync for the replicas waiting for one, when no snapshot runs and the diskless delay
    /// passed (or `force`).
    func startFullSyncIfDue(force: Bool = false) {
        guard fullSync == nil, !server.hasBackgroundSnapshot else { return }
        let waiting = replicas.filter { $0.replica?.state == .waitingSnapshot && !$0.isClosed }
        guard !waiting.isEmpty else { return }
        if !force && disklessSync {
            let oldest = waiting.map { $0.replica!.waitingSince }.min()!
            let maxReplicas = Int(config.value(of: "repl-diskless-sync-max-replicas") ?? "0") ?? 0
            let enough = maxReplicas > 0 && waiting.count >= maxReplicas
            if !enough && monotonicMillis() - oldest < Int64(disklessDelay) * 1000 { return }
        }
        // Every replica must understand the EOF mark for the RDB to stream; otherwise it is built first.
        let streaming = waiting.allSatisfy { $0.replica!.capaEOF && !$0.replica!.prePSYNC }
        selectedDB = -1  // the stream after the snapshot starts with a SELECT
        for c in waiting {
            let state = c.replica!
            state.state = .sendingSnapshot
            state.pending.clear()
            if !state.prePSYNC { c.output.appendText("+FULLRESYNC \(replid) \(offset)\r\n") }
            server.scheduleWrite(c)
        }
        let target = streaming ? "replicas sockets" : "memory"
        log.notice("Starting BGSAVE for SYNC with target: \(target)")
        fullSync = FullSync(server: server, replicas: waiting, streaming: streaming)
    }

    /// The running full sync has been serialized: its replicas move on (Redis's updateSlavesWaitingBgsave).
    func fullSyncEnded(_ sync: FullSync, payload: UnsafeRawBufferPointer?) {
        fullSync = nil
        for c in sync.replicas where !c.isClosed {
            guard let state = c.replica else { continue }
            if let payload {
                c.output.appendText("$\(payload.count)\r\n")
                c.output.append(payload)
                if state.rdbOnly { c.closeAfterReply = true } else { putOnline(c, state) }
            } else if state.rdbOnly {
                c.closeAfterReply = true
            } else {
                state.state = .waitingAck  // online at its first ACK: it reads the RDB up to the mark
                state.ackTime = monotonicMillis()
            }
            server.scheduleWrite(c)
            log.notice("Synchronization with replica \(replicaName(c)) succeeded")
        }
        // Replicas that arrived meanwhile get the next one from the cron: not from here, which may run inside
        // another snapshot's start (SAVE, FLUSHALL, DEBUG RELOAD complete or abort this one first).
    }

    /// Stops the running full sync and closes its replicas (they reconnect and sync again): another snapshot
    /// must run now (SAVE, DEBUG RELOAD, FLUSHALL with save points, shutdown), as Redis kills its child.
    func abortFullSync() {
        guard let sync = fullSync else { return }
        fullSync = nil
        sync.abort()
        log.warning("Replication snapshot aborted: \(sync.replicas.count) replica(s) will sync again")
        for c in sync.replicas where !c.isClosed { server.closeClient(c) }
    }

    /// The stream the replica missed while its snapshot was sent follows it.
    private func putOnline(_ c: Client, _ state: ReplicaState) {
        state.state = .online
        state.ackTime = monotonicMillis()
        if !state.pending.isEmpty {
            c.output.append(state.pending.bytes(at: state.pending.readIndex, count: state.pending.readableBytes))
            state.pending.clear(shrinkTo: 4096)
        }
        server.scheduleWrite(c)
        if c.output.readableBytes > server.outputCheckBytes { server.checkOutputBuffer(c) }
        refreshGoodReplicas()
    }

    /// A replica closed: forget it, and stop a full sync nobody waits for any more.
    func replicaClosed(_ c: Client) {
        guard let state = c.replica, state.attached else { return }
        replicas.removeAll { $0 === c }
        if let sync = fullSync {
            sync.replicas.removeAll { $0 === c }
            if sync.replicas.isEmpty {
                sync.abort()
                fullSync = nil
                log.warning("Diskless rdb transfer, last replica dropped, stopping the snapshot.")
            }
        }
        log.notice("Connection with replica \(replicaName(c)) lost.")
        if replicas.isEmpty { noReplicasSince = wallClockMillis() / 1000 }
        refreshGoodReplicas()
    }

    /// Closes every replica (Redis's disconnectSlaves): they reconnect and PSYNC, usually continuing.
    func disconnectReplicas() {
        for c in replicas { server.closeClient(c) }
    }

    /// The replica's pending stream counts against the `replica` class of client-output-buffer-limit.
    private func checkPendingLimit(_ c: Client) {
        let limit = config.clientOutputBufferLimit.replica
        guard let state = c.replica else { return }
        if limit.hardBytes > 0 && UInt64(state.pending.readableBytes + c.outputBufferMemory) >= limit.hardBytes {
            log.warning("Client \(clientInfoLine(c)) scheduled to be closed ASAP for overcoming of output buffer limits.")
            server.closeClient(c)
        }
    }

    func replicaName(_ c: Client) -> String {
        let ip = c.replicaIP
        return "\(ip):\(c.replica?.listeningPort ?? 0)"
    }

    // MARK: - REPLCONF ACK, WAIT, min-replicas

    /// REPLCONF ACK <offset> [FACK <aofOffset>] from a replica.
    func acknowledged(_ c: Client, offset acked: Int64, fsynced: Int64? = nil) {
        guard let state = c.replica else { return }
        if acked > state.ackOffset { state.ackOffset = acked }
        if let fsynced, fsynced > state.aofAckOffset { state.aofAckOffset = fsynced }
        state.ackTime = monotonicMillis()
        if state.state == .waitingAck { putOnline(c, state) }
        if !waitingClients.isEmpty { serveWaitingClients() }
        if failover == .waitingForSync { updateFailoverStatus() }
    }

    /// Replicas that acknowledged `offset` (REPLCONF ACK), or with `fsynced` that fsynced it to their AOF
    /// (REPLCONF ACK ... FACK, sent by redis-server 7.2 replicas).
    func replicasAcknowledging(_ offset: Int64, fsynced: Bool = false) -> Int {
        replicas.reduce(0) { n, c in
            guard let r = c.replica, r.state == .online else { return n }
            return n + ((fsynced ? r.aofAckOffset : r.ackOffset) >= offset ? 1 : 0)
        }
    }

    /// What a WAIT or WAITAOF client has now: its write fsynced locally (0 or 1; WAITAOF only) and the
    /// replicas that acknowledged it.
    func acknowledgements(of wait: ReplicaWait) -> (local: Int, replicas: Int) {
        guard wait.local != nil else { return (0, replicasAcknowledging(wait.offset)) }
        return (server.aof.hasFsynced(wait.aofOffset) ? 1 : 0, replicasAcknowledging(wait.offset, fsynced: true))
    }

    /// WAIT's and WAITAOF's clients whose acknowledgements came get their reply (Redis's
    /// processClientsWaitingReplicas): after replicas' ACKs, and after the local AOF's fsyncs.
    func serveWaitingClients() {
        for c in waitingClients {
            guard case .replicas(let wait)? = c.blocked?.reason else { continue }
            let acks = acknowledgements(of: wait)
            if wait.isMet(by: acks) { server.finishWait(c, wait, acks) }
        }
    }

    /// Before the loop sleeps: ask every replica for an ACK when a client waits (Redis's get_ack_from_slaves).
    func requestAcks() {
        ackRequested = false
        guard feedsStream else { return }
        let argv: [ByteString] = ["REPLCONF", "GETACK", "*"]
        scratch.appendCommand(argv, db: selectedDB, selected: &selectedDB)
        feedScratch()
    }

    /// min-replicas-to-write: the online replicas whose last ACK is at most min-replicas-max-lag old.
    func refreshGoodReplicas() {
        let maxLag = Int64(config.value(of: "min-replicas-max-lag").flatMap { Int($0) } ?? 10)
        let now = monotonicMillis()
        goodReplicas = replicas.filter { c in
            guard let s = c.replica, s.state == .online else { return false }
            return (now - s.ackTime) / 1000 <= maxLag
        }.count
    }

    var minReplicasToWrite: Int { Int(config.value(of: "min-replicas-to-write") ?? "0") ?? 0 }

    /// Whether writes are refused for lack of good replicas (-NOREPLICAS).
    var lacksGoodReplicas: Bool {
        guard masterHost == nil else { return false }
        let needed = minReplicasToWrite
        guard needed > 0, (Int(config.value(of: "min-replicas-max-lag") ?? "10") ?? 10) > 0 else { return false }
        return goodReplicas < needed
    }

    // MARK: - Cron (once a second, Redis's replicationCron)

    func cron(loops: Int) {
        let now = monotonicMillis()
        linkCron(now: now)
        let pingPeriod = max(1, Int(config.value(of: "repl-ping-replica-period") ?? "10") ?? 10)
        // (Not during a FAILOVER: the PING would move the offset the target must reach.)
        if masterHost == nil && !replicas.isEmpty && loops % pingPeriod == 0 && failover == .none {
            let argv: [ByteString] = ["PING"]
            scratch.appendCommand(argv, db: selectedDB, selected: &selectedDB)
            feedScratch()
        }
        // A newline keeps replicas waiting for their snapshot from timing out (they ignore it).
        for c in replicas where c.replica?.state == .waitingSnapshot || (c.replica?.state == .sendingSnapshot && fullSync?.streaming == false) {
            c.output.append("\n")
            server.scheduleWrite(c)
        }
        // Replicas that stopped acknowledging.
        let timeout = Int64(Int(config.value(of: "repl-timeout") ?? "60") ?? 60) * 1000
        for c in replicas where c.replica?.state == .online && !(c.replica!.prePSYNC) && now - c.replica!.ackTime > timeout {
            log.warning("Disconnecting timedout replica (streaming sync): \(replicaName(c))")
            server.closeClient(c)
        }
        // A replica that stopped reading its snapshot, or never acknowledges it, would hold the snapshot (and
        // every replica waiting behind it) forever.
        for c in replicas where (c.replica?.state == .sendingSnapshot && now - c.lastInteraction > timeout)
            || (c.replica?.state == .waitingAck && now - c.replica!.ackTime > timeout) {
            log.warning("Disconnecting timedout replica (full sync): \(replicaName(c))")
            server.closeClient(c)
        }
        // repl-backlog-ttl: a master without replicas frees its backlog after a while.
        let ttl = Int64(Int(config.value(of: "repl-backlog-ttl") ?? "3600") ?? 3600)
        if masterHost == nil && replicas.isEmpty && ttl > 0 && backlog != nil
            && wallClockMillis() / 1000 - noReplicasSince > ttl {
            changeReplicationID()
            clearReplicationID2()
            freeBacklog()
            log.notice("Replication backlog freed after \(ttl) seconds without connected replicas.")
        }
        startFullSyncIfDue()
        refreshGoodReplicas()
        if failover == .waitingForSync {
            ackRequested = true
            updateFailoverStatus()
        }
    }

    /// CONFIG SET repl-backlog-size.
    func backlogSizeChanged() { backlog?.resize(to: backlogSize) }
}

extension Client {
    /// The address a replica is known by: the one it announced (REPLCONF ip-address), or its connection's.
    var replicaIP: String {
        if let ip = replica?.announcedIP { return ip }
        guard let colon = address.lastIndex(of: ":") else { return address }
        var ip = address[..<colon]
        if ip.hasPrefix("[") && ip.hasSuffix("]") { ip = ip.dropFirst().dropLast() }  // "[::1]:port"
        return String(ip)
    }
}

/// A replica of ours (Redis's CLIENT_SLAVE state on the client).
final class ReplicaState {
    enum State {
        /// Waiting for a full sync to begin (Redis's WAIT_BGSAVE_START).
        case waitingSnapshot
        /// Its snapshot is being serialized and sent (WAIT_BGSAVE_END / SEND_BULK).
        case sendingSnapshot
        /// The RDB (with an EOF mark) is sent; online at its first ACK.
        case waitingAck
        case online
    }

    var state = State.waitingSnapshot
    /// SYNC or PSYNC done: it is one of the server's replicas.
    var attached = false
    /// REPLCONF listening-port / ip-address / capa.
    var listeningPort = 0
    var announcedIP: String?
    var capaEOF = false
    var capaPSYNC2 = false
    /// Attached with plain SYNC (no offsets, RDB with a length).
    var prePSYNC = false
    /// The last offset it acknowledged and when (monotonic ms).
    var ackOffset: Int64 = 0
    /// The last offset it reported fsynced to its AOF (REPLCONF ACK ... FACK, from 7.2 replicas; WAITAOF).
    var aofAckOffset: Int64 = 0
    var ackTime: Int64 = 0
    var waitingSince: Int64 = 0
    /// REPLCONF rdb-only 1 (redis-cli --rdb): the snapshot only, then the connection closes.
    var rdbOnly = false
    /// The stream produced while its snapshot is being sent; it follows the snapshot.
    let pending = IOBuffer(capacity: 256)

    /// INFO's `state=`.
    var infoName: String {
        switch state {
        case .waitingSnapshot, .sendingSnapshot: return "wait_bgsave"
        case .waitingAck, .online: return "online"
        }
    }
}

/// One full sync: a fork-less snapshot of the dataset at the offset the replicas got in +FULLRESYNC,
/// written to them as it is serialized (`streaming`, framed with an EOF mark) or built in memory first.
final class FullSync {
    var replicas: [Client]
    let streaming: Bool
    private let mark: [UInt8]
    private let snapshot: Snapshot
    private let output: RDBOutput
    private unowned(unsafe) let server: Server
    /// Output waiting in a replica's buffer past which serialization waits for the socket to drain.
    static let maxPendingBytes = 8 << 20

    init(server: Server, replicas: [Client], streaming: Bool) {
        self.server = server
        self.replicas = replicas
        self.streaming = streaming
        mark = Array(randomHex(40).utf8)
        let targets = FullSyncTargets()
        if streaming {
            output = RDBOutput(compress: server.config.rdbcompression, capacity: 1 << 16, flushThreshold: 1 << 16,
                               sink: { bytes in targets.write(bytes) })
        } else {
            output = RDBOutput(compress: server.config.rdbcompression, capacity: 1 << 20)
        }
        if streaming {
            for c in replicas {
                c.output.append("$EOF:")
                mark.withUnsafeBytes { c.output.append($0) }
                c.output.append("\r\n")
            }
        }
        let replication = server.replication!
        var aux = server.rdb.auxFields(aofBase: false)
        aux.insert(("repl-stream-db", .integer(0)), at: aux.count - 1)
        aux.insert(("repl-id", .text(replication.replid)), at: aux.count - 1)
        aux.insert(("repl-offset", .integer(replication.offset)), at: aux.count - 1)
        snapshot = Snapshot(databases: server.databases, keyspace: server.keyspace, output: output, aux: aux,
                            functions: server.rdb.functions, checksum: server.config.rdbchecksum)
        targets.sync = self
    }

    /// A slice of serialization (as BackgroundSave's); returns whether more is left to do now.
    func advance() -> Bool {
        if streaming && replicas.contains(where: { $0.output.readableBytes > FullSync.maxPendingBytes }) {
            return false  // the sockets drain first; their writability wakes the loop
        }
        let outcome: Snapshot.SliceOutcome
        do {
            outcome = try snapshot.serializeSlice(keySaveDelay: server.config.rdbKeySaveDelay)
        } catch {
            // Never an EOF mark after a broken RDB: its replicas are closed and sync again.
            server.log.warning("Replication snapshot failed: \(error)")
            server.replication.abortFullSync()
            return false
        }
        if outcome == .finished { complete() }
        return outcome == .more
    }

    private func complete() {
        snapshot.detach(from: server.keyspace, databases: server.databases, disposer: server.lazyFree)
        if streaming {
            for c in replicas where !c.isClosed {
                mark.withUnsafeBytes { c.output.append($0) }
            }
            server.replication.fullSyncEnded(self, payload: nil)
        } else {
            server.replication.fullSyncEnded(self, payload: output.bytes)
        }
    }

    func abort() {
        snapshot.detach(from: server.keyspace, databases: server.databases, disposer: server.lazyFree)
    }

    fileprivate func write(_ bytes: UnsafeRawBufferPointer) {
        for c in replicas where !c.isClosed {
            c.output.append(bytes)
            server.scheduleWrite(c)
        }
    }
}

/// The snapshot's sink, set up before the FullSync it writes for exists.
private final class FullSyncTargets {
    weak var sync: FullSync?
    func write(_ bytes: UnsafeRawBufferPointer) { sync?.write(bytes) }
}

/// 40 random hex characters: replication ids, EOF marks, the run id.
func randomHex(_ count: Int) -> String {
    var generator = SystemRandomNumberGenerator()
    let digits = Array("0123456789abcdef")
    return String((0..<count).map { _ in digits[Int(generator.next() % 16)] })
}
