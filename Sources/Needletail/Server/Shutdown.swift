import Glibc

/// SHUTDOWN, SIGTERM and SIGINT as redis-server 7.0 (server.c's prepareForShutdown / finishShutdown).
///
/// Without NOW, with `shutdown-timeout` > 0 and a replica whose acknowledged offset is not the master's,
/// the shutdown *waits*: writes are paused (CLIENT PAUSE WRITE's mechanism), replicas are asked for an ACK
/// (REPLCONF GETACK, unless clients were paused already), and the SHUTDOWN client stays blocked (a
/// `.shutdown` BlockedState: Blocking.swift). The server cron finishes the shutdown once every replica
/// acknowledged the master's offset or the timeout passed, logging the replicas still lagging. SHUTDOWN
/// ABORT cancels a waiting shutdown: the pause ends and every client blocked on it gets "Errors trying to
/// SHUTDOWN"; a failed final save (without FORCE) cancels it the same way. The replicas' output is written
/// once more before the connections close, so they get the stream up to the end.
///
/// Signals: SIGTERM and SIGINT shut down with the flags of `shutdown-on-sigterm` / `shutdown-on-sigint`
/// (default, save, nosave, now, force); a second SIGINT while waiting exits at once ("You insist...").

/// SHUTDOWN's flags, with Redis's values (those of the `shutdown-on-sig*` parameters too).
struct ShutdownFlags: OptionSet {
    let rawValue: Int
    static let save = ShutdownFlags(rawValue: 1)
    static let noSave = ShutdownFlags(rawValue: 2)
    static let now = ShutdownFlags(rawValue: 4)
    static let force = ShutdownFlags(rawValue: 8)
}

/// A shutdown waiting for replicas.
struct ShutdownState {
    /// When the wait ends anyway (Unix ms); 0 when no shutdown is in progress (Redis's shutdown_mstime).
    var deadline: Int64 = 0
    var flags: ShutdownFlags = []
    /// The clients whose SHUTDOWN waits.
    var waitingClients: [Client] = []

    var inProgress: Bool { deadline != 0 }
}

extension Server {
    enum ShutdownOutcome {
        /// Everything is done: the loop ends after this iteration.
        case exit
        /// Waiting for replicas (or already waiting): the caller's client blocks.
        case waiting
        /// The final save failed: the server keeps running (the error is logged).
        case failed
    }

    /// Redis's prepareForShutdown.
    func prepareShutdown(_ requested: ShutdownFlags) -> ShutdownOutcome {
        if shutdown.inProgress { return .waiting }
        var flags = requested
        // While loading the dataset is partial: never save it.
        if rdb.loading { flags.remove(.save); flags.insert(.noSave) }
        shutdown.flags = flags
        log.warning("User requested shutdown...")
        let timeout = Int64(config.value(of: "shutdown-timeout").flatMap { Int64($0) } ?? 10)
        if !flags.contains(.now) && timeout != 0 && !isReadyToShutdown() {
            shutdown.deadline = wallClockMillis() + timeout * 1000
            if pause == nil { replication.ackRequested = true }
            pauseClients(.write, until: Int64.max / 2)
            log.notice("Waiting for replicas before shutting down.")
            return .waiting
        }
        return finishShutdownSequence() ? .exit : .failed
    }

    /// Every replica acknowledged the master's offset (or there is none).
    func isReadyToShutdown() -> Bool {
        replication.replicas.allSatisfy { $0.replica?.ackOffset == replication.offset }
    }

    /// Redis's finishShutdown: logs the lagging replicas, saves, and ends the loop; on a failed save the
    /// shutdown is cancelled and false returned.
    @discardableResult
    func finishShutdownSequence() -> Bool {
        let flags = shutdown.flags
        var lagging = 0
        let now = monotonicMillis()
        for c in replication.replicas {
            guard let state = c.replica, state.ackOffset != replication.offset else { continue }
            lagging += 1
            let lag = state.state == .online ? (now - state.ackTime) / 1000 : 0
            let name: String
            switch state.state {
            case .waitingSnapshot: name = "wait_bgsave"
            case .sendingSnapshot: name = "send_bulk"
            case .waitingAck, .online: name = "online"
            }
            log.warning("Lagging replica \(replication.replicaName(c)) reported offset \(replication.offset - state.ackOffset) "
                + "behind master, lag=\(lag), state=\(name).")
        }
        let count = replication.replicas.count
        if count > 0 { log.notice("\(count - lagging) of \(count) replicas are in sync when shutting down.") }
        guard prepareForShutdown(save: flags.contains(.save), noSave: flags.contains(.noSave), force: flags.contains(.force)) else {
            log.warning("Errors trying to shut down the server. Check the logs for more information.")
            cancelShutdown()
            return false
        }
        shutdownRequested = true
        for c in shutdown.waitingClients { c.closeAfterReply = true }
        return true
    }

    /// The wait ends: the pause is lifted and the waiting SHUTDOWN clients get an error.
    func cancelShutdown() {
        shutdown.deadline = 0
        shutdown.flags = []
        let waiting = shutdown.waitingClients
        for c in waiting {
            c.reply.error("ERR Errors trying to SHUTDOWN. Check logs.")
            unblock(c)
            resume(c)
        }
        unpauseClients()
    }

    /// SHUTDOWN ABORT: false when no shutdown is in progress.
    func abortShutdown() -> Bool {
        guard shutdown.inProgress else { return false }
        cancelShutdown()
        log.warning("Shutdown manually aborted.")
        return true
    }

    /// The server cron: a waiting shutdown finishes when the replicas caught up or its time is over.
    func shutdownCron() {
        guard shutdown.inProgress else { return }
        if wallClockMillis() >= shutdown.deadline || isReadyToShutdown() { finishShutdownSequence() }
    }

    /// SIGTERM or SIGINT, taken by the loop (Redis's serverCron part for shutdown_asap).
    func shutdownOnSignal(_ signal: Int32) {
        let name = signal == SIGINT ? "SIGINT" : "SIGTERM"
        if shutdown.inProgress {
            if signal == SIGINT {
                log.warning("You insist... exiting now.")
                exit(1)
            }
            return
        }
        log.warning("Received \(name) scheduling shutdown...")
        let setting = config.value(of: signal == SIGINT ? "shutdown-on-sigint" : "shutdown-on-sigterm") ?? "default"
        var flags: ShutdownFlags = []
        for word in setting.split(separator: " ") {
            switch word {
            case "save": flags.insert(.save)
            case "nosave": flags.insert(.noSave)
            case "now": flags.insert(.now)
            case "force": flags.insert(.force)
            default: break
            }
        }
        if prepareShutdown(flags) == .failed {
            log.warning("\(name) received but errors trying to shut down the server, check the logs for more information")
        }
    }

    /// Parks a SHUTDOWN client until the shutdown finishes (it never gets a reply) or is cancelled.
    func blockForShutdown(_ client: Client) {
        client.blocked = BlockedState(db: client.db.index, keys: [], argv: client.ownedArguments(), reason: .shutdown,
                                      deadline: 0)
        blockedClientCount += 1
        if blockedClientCount == 1 { updateKeyspaceListener() }
        shutdown.waitingClients.append(client)
    }
}
