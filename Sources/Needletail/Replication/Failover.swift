/// FAILOVER [TO host port [FORCE]] [TIMEOUT ms] and FAILOVER ABORT (Redis 6.2+'s coordinated failover,
/// as 7.0 does it): a master hands its role to one of its replicas without losing a write.
///
/// 1. waiting-for-sync: writes are paused (CLIENT PAUSE WRITE's mechanism) and replicas asked for ACKs,
///    until the target (or any replica) acknowledged the whole stream. Past TIMEOUT the failover is aborted,
///    or with FORCE goes on anyway.
/// 2. failover-in-progress: the master becomes a replica of the target and sends it `PSYNC <replid>
///    <offset> FAILOVER`; the target, seeing its own master's id, promotes itself (REPLICAOF NO ONE) and
///    continues the old master from its backlog (+CONTINUE with its new id). Once that link is up, the
///    failover is over and writes resume (they now get -READONLY: this server is a replica).
extension Replication {
    enum FailoverState {
        case none, waitingForSync, inProgress

        var infoName: String {
            switch self {
            case .none: return "no-failover"
            case .waitingForSync: return "waiting-for-sync"
            case .inProgress: return "failover-in-progress"
            }
        }
    }

    /// FAILOVER's handler (arguments already parsed).
    func startFailover(_ c: Client, target: (host: String, port: Int)?, timeoutMillis: Int64, force: Bool) {
        if failover != .none { return c.reply.error("ERR FAILOVER already in progress.") }
        if isReplica { return c.reply.error("ERR FAILOVER is not valid when server is a replica.") }
        if replicas.isEmpty { return c.reply.error("ERR FAILOVER requires connected replicas.") }
        if force && (timeoutMillis == 0 || target == nil) {
            return c.reply.error("ERR FAILOVER with force option requires both a timeout and target HOST and IP.")
        }
        if let target {
            guard let replica = findReplica(host: target.host, port: target.port) else {
                return c.reply.error("ERR FAILOVER target HOST and PORT is not a replica.")
            }
            if replica.replica?.state != .online { return c.reply.error("ERR FAILOVER target replica is not online.") }
            log.notice("FAILOVER requested to \(target.host):\(target.port).")
        } else {
            log.notice("FAILOVER requested to any replica.")
        }
        failoverTarget = target
        let now = wallClockMillis()
        failoverEnd = timeoutMillis > 0 ? (timeoutMillis > Int64.max - now ? Int64.max : now + timeoutMillis) : 0
        failoverForce = force
        failover = .waitingForSync
        server.pauseClients(.write, until: Int64.max / 2)
        ackRequested = true
        c.reply.ok()
    }

    private func findReplica(host: String, port: Int) -> Client? {
        replicas.first { c in
            guard let state = c.replica else { return false }
            let ip = c.replicaIP
            return ip.lowercased() == host.lowercased() && state.listeningPort == port
        }
    }

    /// Before the loop sleeps and on each ACK while waiting for sync (Redis's updateFailoverStatus).
    func updateFailoverStatus() {
        guard failover == .waitingForSync else { return }
        var chosen: Client?
        if failoverEnd != 0 && wallClockMillis() >= failoverEnd {
            guard failoverForce, let target = failoverTarget else {
                return abortFailover("Replica never caught up before timeout")
            }
            chosen = findReplica(host: target.host, port: target.port)
            if chosen == nil { return abortFailover("Failover target is no longer a replica") }
        } else if let target = failoverTarget {
            if let replica = findReplica(host: target.host, port: target.port), replica.replica!.ackOffset == offset {
                chosen = replica
            }
        } else {
            chosen = replicas.first { $0.replica?.state == .online && $0.replica!.ackOffset == offset }
        }
        guard let chosen, let state = chosen.replica else { return }
        let host = chosen.replicaIP
        log.notice("Failover target \(host):\(state.listeningPort) is synced, failing over.")
        failover = .inProgress
        failoverTarget = (host, state.listeningPort)
        setMaster(host: host, port: state.listeningPort)
    }

    /// The link to the target is up (it accepted our PSYNC): the failover is done.
    func failoverSucceeded() {
        guard failover == .inProgress else { return }
        log.notice("Failover target \(failoverTarget?.host ?? ""):\(failoverTarget?.port ?? 0) is now master")
        clearFailoverState()
    }

    /// FAILOVER ABORT, a timeout, or a target that refused: back to being a master.
    func abortFailover(_ reason: String) {
        guard failover != .none else { return }
        log.notice("FAILOVER aborted: \(reason)")
        if failover == .inProgress { unsetMaster() }
        clearFailoverState()
    }

    private func clearFailoverState() {
        failover = .none
        failoverTarget = nil
        failoverEnd = 0
        failoverForce = false
        server.unpauseClients()
    }

    /// A replica receiving `PSYNC <replid> <offset> FAILOVER` from its master: it promotes itself when the
    /// id is its own (Redis's syncCommand). Returns false after replying an error.
    func acceptFailoverRequest(_ c: Client) -> Bool {
        guard c.argString(1) == replid else {
            c.reply.error("ERR PSYNC FAILOVER replid must match my replid.")
            return false
        }
        if isReplica {
            unsetMaster()
            log.notice("MASTER MODE enabled (failover request from '\(clientInfoLine(c))')")
        }
        return true
    }
}

/// FAILOVER [TO host port [FORCE]] [TIMEOUT ms] | FAILOVER ABORT.
func failoverCommand(_ c: Client) {
    let replication = c.server.replication!
    if c.argc == 2 && c.argIs(1, "abort") {
        if replication.failover == .none { return c.reply.error("ERR No failover in progress.") }
        replication.abortFailover("Failover manually aborted")
        return c.reply.ok()
    }
    var timeout: Int64 = 0, force = false, target: (host: String, port: Int)?
    var i = 1
    while i < c.argc {
        if c.argIs(i, "timeout") && i + 1 < c.argc && timeout == 0 {
            guard let value = c.int64Arg(i + 1) else { return }
            if value <= 0 { return c.reply.error("ERR FAILOVER timeout must be greater than 0") }
            timeout = value
            i += 2
        } else if c.argIs(i, "to") && i + 2 < c.argc && target == nil {
            guard let port = c.int64Arg(i + 2) else { return }
            target = (c.argString(i + 1), Int(truncatingIfNeeded: port))
            i += 3
        } else if c.argIs(i, "force") && !force {
            force = true
            i += 1
        } else {
            return c.replySyntaxError()
        }
    }
    replication.startFailover(c, target: target, timeoutMillis: timeout, force: force)
}
