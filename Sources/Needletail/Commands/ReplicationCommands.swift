/// Replication commands: REPLICAOF (and SLAVEOF), ROLE, WAIT, and what replicas send their master (SYNC,
/// PSYNC, REPLCONF). The mechanisms are in Replication/. Replies and errors as redis-server 7.0.

private let replicaofFlags: CommandFlags = [.admin, .noscript, .stale, .noAsyncLoading]

let replicationCommands: [Command] = [
    Command("replicaof", arity: 3, flags: replicaofFlags, group: "server", since: "5.0.0",
            summary: "Make the server a replica of another instance, or promote it as master.",
            complexity: "O(1)", handler: replicaof),
    Command("slaveof", arity: 3, flags: replicaofFlags, group: "server",
            summary: "Make the server a replica of another instance, or promote it as master.",
            complexity: "O(1)", handler: replicaof),
    Command("role", arity: 1, flags: [.noscript, .loading, .stale, .fast], group: "server", since: "2.8.12",
            summary: "Return the role of the instance in the context of replication", complexity: "O(1)",
            handler: role),
    Command("wait", arity: 3, flags: [.noscript], group: "generic", since: "3.0.0",
            summary: "Wait for the synchronous replication of all the write commands sent in the context of the current connection",
            complexity: "O(1)", handler: wait),
    Command("waitaof", arity: 4, flags: [.noscript], group: "generic", since: "7.2.0",
            summary: "Blocks until all of the preceding write commands sent by the connection are written to the append-only file of the master and/or replicas",
            complexity: "O(1)", handler: waitaof),
    Command("sync", arity: 1, flags: [.admin, .noscript, .noAsyncLoading, .noMulti], group: "server",
            summary: "Internal command used for replication", handler: { $0.server.replication.sync($0, psync: false) }),
    Command("psync", arity: -3, flags: [.admin, .noscript, .noAsyncLoading, .noMulti], group: "server",
            since: "2.8.0", summary: "Internal command used for replication",
            handler: { $0.server.replication.sync($0, psync: true) }),
    Command("failover", arity: -1, flags: [.admin, .noscript, .stale], group: "server", since: "6.2.0",
            summary: "Start a coordinated failover between this server and one of its replicas.",
            complexity: "O(1)", handler: failoverCommand),
    Command("replconf", arity: -1, flags: [.admin, .noscript, .loading, .stale, .allowBusy], group: "server",
            since: "3.0.0", summary: "An internal command for configuring the replication stream",
            complexity: "O(1)", handler: replconf),
]

/// REPLICAOF host port | NO ONE.
private func replicaof(_ c: Client) {
    let replication = c.server.replication!
    if replication.failover != .none { return c.reply.error("ERR REPLICAOF not allowed while failing over.") }
    if c.argIs(1, "no") && c.argIs(2, "one") {
        if replication.isReplica {
            replication.unsetMaster()
            c.server.log.notice("MASTER MODE enabled (user request from '\(clientInfoLine(c))')")
        }
        return c.reply.ok()
    }
    if c.replica?.attached == true { return c.reply.error("ERR Command is not valid when client is a replica.") }
    guard let port = parseInt64(c.arg(2)), (0...65535).contains(port) else {
        return c.reply.error("ERR Invalid master port")
    }
    let host = c.argString(1)
    if let current = replication.masterHost, current.lowercased() == host.lowercased(), replication.masterPort == Int(port) {
        c.server.log.notice("REPLICAOF would result into synchronization with the master we are already connected with. No operation performed.")
        return c.reply.simple("OK Already connected to specified master")
    }
    replication.setMaster(host: host, port: Int(port))
    c.server.log.notice("REPLICAOF \(host):\(port) enabled (user request from '\(clientInfoLine(c))')")
    c.reply.ok()
}

/// ROLE: ["master", offset, [[ip, port, offset] ...]] or ["slave", host, port, state, offset].
private func role(_ c: Client) {
    let replication = c.server.replication!
    if let host = replication.masterHost {
        c.reply.array(5)
        c.reply.bulk("slave")
        c.reply.bulk(host)
        c.reply.integer(replication.masterPort)
        c.reply.bulk(replication.link?.roleState ?? "connect")
        c.reply.integer(replication.master != nil ? replication.offset : -1)
        return
    }
    c.reply.array(3)
    c.reply.bulk("master")
    c.reply.integer(replication.offset)
    let replicas = replication.replicas.filter { $0.replica?.state == .online || $0.replica?.state == .waitingAck }
    c.reply.array(replicas.count)
    for replica in replicas {
        let state = replica.replica!
        c.reply.array(3)
        c.reply.bulk(replica.replicaIP)
        c.reply.bulk(String(state.listeningPort))
        c.reply.bulk(String(state.ackOffset))
    }
}

/// WAIT numreplicas timeout: the number of replicas that acknowledged this client's writes.
private func wait(_ c: Client) {
    let replication = c.server.replication!
    if replication.isReplica {
        return c.reply.error("ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.")
    }
    guard let wanted = c.int64Arg(1), let deadline = waitDeadline(c, 2) else { return }
    waitOrReply(c, ReplicaWait(offset: c.writeOffset, aofOffset: c.aofWriteOffset, replicas: Int(clamping: wanted), local: nil),
                deadline: deadline)
}

/// WAITAOF numlocal numreplicas timeout (Redis 7.2): [1 if this client's writes are fsynced to the local AOF,
/// the replicas that fsynced them to theirs]. Replicas report that with REPLCONF ACK ... FACK, as redis-server
/// 7.2 replicas and needletail replicas with the AOF on do (7.0 ones do not: they never count). With
/// `appendfsync no` nothing is fsynced by the server, so numlocal 1 waits for the timeout, as in Redis.
private func waitaof(_ c: Client) {
    guard let local = c.int64Arg(1) else { return }
    guard local == 0 || local == 1 else { return c.reply.error("ERR value is out of range, value must between 0 and 1") }
    guard let replicas = c.int64Arg(2) else { return }
    guard replicas >= 0 else { return c.reply.error("ERR value is out of range, must be positive") }
    guard let deadline = waitDeadline(c, 3) else { return }
    if c.server.replication.isReplica {
        return c.reply.error("ERR WAITAOF cannot be used with replica instances. Please also note that writes to replicas are just local and are not propagated.")
    }
    if local == 1 && !c.server.config.appendonly {
        return c.reply.error("ERR WAITAOF cannot be used when numlocal is set but appendonly is disabled.")
    }
    waitOrReply(c, ReplicaWait(offset: c.writeOffset, aofOffset: c.aofWriteOffset, replicas: Int(replicas), local: Int(local)),
                deadline: deadline)
}

/// WAIT's and WAITAOF's timeout argument (ms, 0 = forever) as a deadline in Unix ms (0 = never).
private func waitDeadline(_ c: Client, _ i: Int) -> Int64? {
    guard let timeout = parseInt64(c.arg(i)) else {
        c.reply.error("ERR timeout is not an integer or out of range")
        return nil
    }
    if timeout < 0 {
        c.reply.error("ERR timeout is negative")
        return nil
    }
    let now = wallClockMillis()
    return timeout == 0 ? 0 : (timeout > Int64.max - now ? 0 : now + timeout)
}

/// Replies at once when the acknowledgements are there (or the client cannot block: MULTI, scripts), else
/// blocks until they come or the deadline.
private func waitOrReply(_ c: Client, _ wait: ReplicaWait, deadline: Int64) {
    let acks = c.server.replication.acknowledgements(of: wait)
    if wait.isMet(by: acks) || !c.canBlock {
        return c.server.replyWait(c, wait, acks)
    }
    c.server.blockForReplicas(c, wait, deadline: deadline)
}

/// REPLCONF <option> <value> ...: what a replica tells its master about itself, and its ACKs.
private func replconf(_ c: Client) {
    if c.argc % 2 == 0 { return c.replySyntaxError() }
    let replication = c.server.replication!
    var i = 1
    while i < c.argc {
        if c.argIs(i, "listening-port") {
            guard let port = c.int64Arg(i + 1) else { return }
            replicaState(c).listeningPort = Int(truncatingIfNeeded: port)
        } else if c.argIs(i, "ip-address") {
            let address = c.arg(i + 1)
            guard address.count < 256 else {  // NET_HOST_STR_LEN
                return c.reply.error("ERR REPLCONF ip-address provided by replica instance is too long: \(address.count) bytes")
            }
            replicaState(c).announcedIP = c.argString(i + 1)
        } else if c.argIs(i, "capa") {
            if c.argIs(i + 1, "eof") { replicaState(c).capaEOF = true }
            if c.argIs(i + 1, "psync2") { replicaState(c).capaPSYNC2 = true }
        } else if c.argIs(i, "ack") {
            // No reply, ever: a replica reads nothing back from its ACKs.
            guard c.replica?.attached == true, let offset = parseInt64(c.arg(i + 1)) else { return }
            // 7.2 replicas add FACK <offset>: what they fsynced to their AOF (WAITAOF counts those).
            var fsynced: Int64?
            if c.argc > i + 3 && c.argIs(i + 2, "fack") {
                guard let f = parseInt64(c.arg(i + 3)) else { return }
                fsynced = f
            }
            replication.acknowledged(c, offset: offset, fsynced: fsynced)
            return
        } else if c.argIs(i, "getack") {
            if replication.isReplica && c.isMaster { replication.sendAck() }
            return
        } else if c.argIs(i, "rdb-only") {
            guard let value = parseInt64(c.arg(i + 1)) else { return c.replyNotInteger() }
            guard value == 0 || value == 1 else {
                return c.reply.error("ERR value is out of range, value must between 0 and 1")
            }
            replicaState(c).rdbOnly = value == 1
        } else {
            return c.reply.error(bytes: Array("ERR Unrecognized REPLCONF option: ".utf8) + cString(c.arg(i), max: Int.max))
        }
        i += 2
    }
    c.reply.ok()
}

private func replicaState(_ c: Client) -> ReplicaState {
    if let state = c.replica { return state }
    let state = ReplicaState()
    c.replica = state
    return state
}

extension Server {
    /// `commandToRun` checks replication's rules only while they can refuse something.
    func updateReplicationGate() {
        replicationGate = replication.isReplica || replication.minReplicasToWrite > 0
    }
}
