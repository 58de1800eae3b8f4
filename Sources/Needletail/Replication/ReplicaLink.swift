import CSystem
import Glibc

/// The replica side of replication (Redis's syncWithMaster, readSyncBulkPayload, replicationCron): the
/// link to our master, from REPLICAOF (or `replicaof` in redis.conf) to a stream applied as it arrives.
///
///     connect ──▶ connecting ──▶ handshake ──PSYNC──▶ +FULLRESYNC ──▶ transfer ──▶ load ──▶ connected
///                                                 └──▶ +CONTINUE ─────────────────────────────▲
///
/// - The connection is a non-blocking socket registered as a client (`Client.linkPending` routes its
///   events here until the link is connected). The handshake sends PING, then AUTH (masterauth), REPLCONF
///   listening-port / ip-address / capa eof capa psync2 in one write, reads their replies in order, then
///   PSYNC <replid> <offset+1> of the history we hold (our own id and offset if we were a master: PSYNC2
///   continues across a failover), or `?` -1 after a failed load.
/// - A full sync's RDB (`$<length>` or `$EOF:<mark>` framed) goes to a temporary file in `dir`, is loaded
///   as at start-up (other clients get -LOADING meanwhile), and then renamed to `dbfilename`, as Redis's
///   disk-based load. Sub-replicas are disconnected and the backlog recreated: the history changed.
/// - Connected, the link is the master client: its commands run through processCommand/call with replies
///   dropped (CLIENT REPLY OFF's path, `Server.applyFromMaster`), they may touch keys past their time (a
///   replica never expires keys itself; its other clients see such keys as missing), and each request's
///   exact bytes are fed on to our backlog and sub-replicas, so a chain shares one offset space.
/// - Every second (and on REPLCONF GETACK) we send REPLCONF ACK <offset>; a link silent for repl-timeout is
///   dropped and reconnected (PSYNC then usually continues from the master's backlog).
final class MasterLink {
    enum State: Equatable {
        /// `tlsHandshake`: with tls-replication, the TLS handshake between the connect and the PING.
        case connecting, tlsHandshake, receivePong, receiveAuth, receivePort, receiveIP, receiveCapa, receivePSYNC
        case transfer, loading, connected
    }

    let client: Client
    var state = State.connecting
    let startedAt = monotonicMillis()
    var lastIO = monotonicMillis()
    /// Whether the handshake sent REPLCONF ip-address (its reply is then expected before capa's).
    var sentIP = false
    // Transfer.
    var masterReplid = ""
    var initialOffset: Int64 = -1
    /// The RDB's length (`$<len>`), or -1 with an EOF mark, or nil before its header line.
    var transferSize: Int?
    var eofMark: [UInt8] = []
    var tail: [UInt8] = []
    var transferRead = 0
    var transferFD: Int32 = -1
    var transferPath = ""
    var transferLastIO = monotonicMillis()

    init(client: Client) { self.client = client }

    /// ROLE's name for the state.
    var roleState: String {
        switch state {
        case .connecting, .tlsHandshake: return "connecting"
        case .transfer, .loading: return "sync"
        case .connected: return "connected"
        default: return "handshake"
        }
    }
}

extension Replication {
    // MARK: - REPLICAOF

    /// REPLICAOF host port (Redis's replicationSetMaster).
    func setMaster(host: String, port: Int) {
        let wasMaster = masterHost == nil
        masterHost = host
        masterPort = port
        server.disconnectBlockedClients()
        if let master { server.closeClient(master) }
        dropLink()
        disconnectReplicas()
        if wasMaster {
            // Our own history is what we PSYNC from: after a failover the new master continues it.
            cachedMaster = (replid, offset, 0)
            if fullSync != nil { abortFullSync() }
        }
        linkDownSince = 0
        server.updateExpiryPause()
        server.updatePropagationStream()
        server.updateReplicationGate()
        log.notice("Connecting to MASTER \(host):\(port)")
        connect()
    }

    /// REPLICAOF NO ONE (Redis's replicationUnsetMaster): the replica becomes a master of the data it has.
    func unsetMaster() {
        guard masterHost != nil else { return }
        masterHost = nil
        if let master { server.closeClient(master) }
        dropLink()
        cachedMaster = nil
        shiftReplicationID()
        disconnectReplicas()
        selectedDB = -1
        noReplicasSince = wallClockMillis() / 1000
        linkDownSince = 0
        server.updateExpiryPause()
        server.updatePropagationStream()
        server.updateReplicationGate()
    }

    // MARK: - Connecting and the handshake

    func connect() {
        guard let host = masterHost, link == nil else { return }
        let fd = cs_tcp_connect(host, Int32(masterPort))
        if fd < 0 {
            log.warning("Unable to connect to MASTER: \(String(cString: strerror(errno)))")
            return
        }
        guard let client = server.registerConnection(fd: fd, address: "\(host):\(masterPort)") else {
            close(fd)
            return
        }
        let link = MasterLink(client: client)
        client.linkPending = true
        self.link = link
        log.notice("MASTER <-> REPLICA sync started")
        server.setInterest(client, readable: true, writable: true)
    }

    /// An event on the link before it is connected.
    func linkEvent(_ client: Client, readable: Bool, writable: Bool) {
        guard let link, link.client === client else { return server.closeClient(client) }
        if link.state == .connecting {
            guard writable || readable else { return }
            let error = cs_socket_error(client.fd)
            if error != 0 {
                return linkFailed("Error condition on socket for SYNC: \(String(cString: strerror(error)))")
            }
            log.notice("Non blocking connect for SYNC fired the event.")
            if config.value(of: "tls-replication") == "yes" {
                link.state = .tlsHandshake
                if !server.startTLSConnect(client) { linkFailed("Unable to start TLS with MASTER") }
                return
            }
            return linkConnected(client)
        }
        if link.state == .tlsHandshake { return server.continueHandshake(client) }
        guard readable, link.state != .loading else { return }
        let input = client.input
        input.reserve(64 * 1024)
        let n: Int
        if client.tls != nil {
            guard let got = server.readTLS(client, into: input.base + input.writeIndex, count: input.writableBytes) else {
                if client.isClosed { linkFailed("Error reading from MASTER") }
                return
            }
            n = got
        } else {
            n = read(client.fd, input.base + input.writeIndex, input.writableBytes)
        }
        if n < 0 {
            if errno == EAGAIN || errno == EINTR { return }
            return linkFailed("Error reading from MASTER: \(String(cString: strerror(errno)))")
        }
        if n == 0 {
            return linkFailed(link.state == .transfer ? "I/O error trying to sync with MASTER: connection lost"
                                                       : "Master closed the connection during the handshake")
        }
        input.writeIndex += n
        server.stats.totalNetReplInputBytes += n
        link.lastIO = monotonicMillis()
        while self.link === link && !client.isClosed {
            if link.state == .transfer {
                readTransfer(link)
                return
            }
            guard link.state != .connected && link.state != .loading else { return }
            guard let line = takeLine(input) else {
                if input.readableBytes > 64 * 1024 { linkFailed("Master sent a line longer than 64 KB during the handshake") }
                return
            }
            handshakeReply(link, line)
        }
    }

    /// The link's socket is connected (and its TLS handshake done): the replication handshake starts.
    func linkConnected(_ client: Client) {
        guard let link, link.client === client else { return }
        server.setInterest(client, readable: true, writable: false)
        link.state = .receivePong
        send(["PING"])
    }

    private func takeLine(_ input: IOBuffer) -> String? {
        let bytes = input.bytes(at: input.readIndex, count: input.readableBytes)
        guard let newline = bytes.firstIndex(of: UInt8(ascii: "\n")) else { return nil }
        var end = newline
        if end > 0 && bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        let line = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[0..<end]), as: UTF8.self)
        input.readIndex += newline + 1
        return line
    }

    private func send(_ argv: [ByteString]) {
        guard let link else { return }
        var selected = 0
        link.client.output.appendCommand(argv, db: 0, selected: &selected)
        server.scheduleWrite(link.client)
    }

    private func handshakeReply(_ link: MasterLink, _ line: String) {
        let isError = line.hasPrefix("-")
        switch link.state {
        case .receivePong:
            if isError && !line.hasPrefix("-NOAUTH") && !line.hasPrefix("-NOPERM") && !line.hasPrefix("-ERR operation not permitted") {
                return linkFailed("Error reply to PING from master: '\(line)'")
            }
            log.notice("Master replied to PING, replication can continue...")
            let auth = config.masterauth
            if !auth.isEmpty {
                send(config.masteruser.isEmpty ? ["AUTH", ByteString(auth)] : ["AUTH", ByteString(config.masteruser), ByteString(auth)])
            }
            send(["REPLCONF", "listening-port", ByteString(String(announcedPort))])
            let ip = config.value(of: "replica-announce-ip") ?? ""
            link.sentIP = !ip.isEmpty
            if link.sentIP { send(["REPLCONF", "ip-address", ByteString(ip)]) }
            send(["REPLCONF", "capa", "eof", "capa", "psync2"])
            link.state = auth.isEmpty ? .receivePort : .receiveAuth
        case .receiveAuth:
            if isError { return linkFailed("Unable to AUTH to MASTER: \(line)") }
            link.state = .receivePort
        case .receivePort:
            if isError { log.notice("(Non critical) Master does not understand REPLCONF listening-port: \(line)") }
            link.state = link.sentIP ? .receiveIP : .receiveCapa
        case .receiveIP:
            if isError { log.notice("(Non critical) Master does not understand REPLCONF ip-address: \(line)") }
            link.state = .receiveCapa
        case .receiveCapa:
            if isError { log.notice("(Non critical) Master does not understand REPLCONF capa: \(line)") }
            if let cached = cachedMaster {
                log.notice("Trying a partial resynchronization (request \(cached.replid):\(cached.offset + 1)).")
                var psync: [ByteString] = ["PSYNC", ByteString(cached.replid), ByteString(String(cached.offset + 1))]
                if failover == .inProgress { psync.append("FAILOVER") }  // the target promotes itself
                send(psync)
            } else {
                log.notice("Partial resynchronization not possible (no cached master)")
                send(["PSYNC", "?", "-1"])
            }
            link.state = .receivePSYNC
        case .receivePSYNC:
            if line.isEmpty { return }  // the master's keepalive newline before it replies
            if line.hasPrefix("+FULLRESYNC") {
                let parts = line.split(separator: " ")
                guard parts.count >= 3, parts[1].utf8.count == 40, let offset = Int64(parts[2]) else {
                    return linkFailed("Master replied with wrong +FULLRESYNC syntax.")
                }
                link.masterReplid = String(parts[1])
                link.initialOffset = offset
                log.notice("Full resync from master: \(link.masterReplid):\(offset)")
                cachedMaster = nil
                // A different dataset is coming: sub-replicas must sync again, and cannot continue from us.
                disconnectReplicas()
                freeBacklog()
                link.state = .transfer
            } else if line.hasPrefix("+CONTINUE") {
                partialResyncAccepted(link, line)
            } else if line.hasPrefix("-NOMASTERLINK") || line.hasPrefix("-LOADING") {
                linkFailed("Master is currently unable to PSYNC but should be in the future: \(line)")
            } else {
                linkFailed("Unexpected reply to PSYNC from master: \(line)")
            }
        default:
            break
        }
    }

    private var announcedPort: Int {
        let announced = Int(config.value(of: "replica-announce-port") ?? "0") ?? 0
        return announced != 0 ? announced : server.port
    }

    private func partialResyncAccepted(_ link: MasterLink, _ line: String) {
        log.notice("Successful partial resynchronization with master.")
        let parts = line.split(separator: " ")
        if parts.count >= 2, let cached = cachedMaster, String(parts[1]) != cached.replid {
            let newID = String(parts[1])
            replid2 = cached.replid
            secondOffset = offset + 1
            replid = newID
            log.notice("Master replication ID changed to \(newID)")
            disconnectReplicas()  // they must learn the new id
        }
        if backlog == nil { createBacklog() }
        log.notice("MASTER <-> REPLICA sync: Master accepted a Partial Resynchronization.")
        linkEstablished(link, db: cachedMaster?.db ?? 0)
    }

    // MARK: - The RDB transfer

    private func readTransfer(_ link: MasterLink) {
        let input = link.client.input
        if link.transferSize == nil {
            guard let line = takeLine(input) else { return }
            if line.isEmpty { return readTransfer(link) }  // keepalive newline
            if line.hasPrefix("-") { return linkFailed("MASTER aborted replication with an error: \(line.dropFirst())") }
            guard line.hasPrefix("$") else {
                return linkFailed("Bad protocol from MASTER, the first byte is not '$' (we received '\(line)'), are you sure the host and port are right?")
            }
            if line.hasPrefix("$EOF:") && line.utf8.count == 5 + 40 {
                link.eofMark = Array(line.utf8.dropFirst(5))
                link.transferSize = -1
                log.notice("MASTER <-> REPLICA sync: receiving streamed RDB from master with EOF to disk")
            } else if let size = Int(line.dropFirst()), size >= 0 {
                link.transferSize = size
                log.notice("MASTER <-> REPLICA sync: receiving \(size) bytes from master to disk")
            } else {
                return linkFailed("Bad protocol from MASTER: \(line)")
            }
            link.transferPath = "temp-\(wallClockMillis() / 1000).\(getpid()).rdb"
            link.transferFD = open(link.transferPath, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0o644)
            if link.transferFD < 0 {
                return linkFailed("Opening the temp file needed for MASTER <-> REPLICA synchronization: \(String(cString: strerror(errno)))")
            }
        }
        let size = link.transferSize!
        var take = input.readableBytes
        if size >= 0 { take = min(take, size - link.transferRead) }
        if take > 0 {
            let chunk = input.bytes(at: input.readIndex, count: take)
            do {
                try writeAll(link.transferFD, chunk)
            } catch {
                return linkFailed("Write error or short write writing to the DB dump file needed for MASTER <-> REPLICA synchronization: \(error)")
            }
            if size < 0 {
                link.tail.append(contentsOf: chunk.suffix(40))
                if link.tail.count > 40 { link.tail.removeFirst(link.tail.count - 40) }
            }
            input.readIndex += take
            link.transferRead += take
            link.transferLastIO = monotonicMillis()
        }
        if input.isEmpty { input.clear(shrinkTo: 1024 * 1024) }
        let done = size >= 0 ? link.transferRead == size : (link.transferRead >= 40 && link.tail == link.eofMark)
        if done { transferFinished(link) }
    }

    private func transferFinished(_ link: MasterLink) {
        let fd = link.transferFD
        link.transferFD = -1
        if link.transferSize == -1 { _ = ftruncate(fd, off_t(link.transferRead - 40)) }
        close(fd)
        link.state = .loading
        server.timers.schedule(after: 0, .replicaLoad)
    }

    /// The `.replicaLoad` timer: flush, load the RDB as at start-up, and become the master's replica.
    func loadTransferredRDB() {
        guard let link, link.state == .loading else { return }
        log.notice("MASTER <-> REPLICA sync: Flushing old data")
        server.rdb.abortBackgroundSave()  // its file would replace the synced dump (Redis kills its child)
        let aofWasOn = server.aof.isOn
        if aofWasOn { server.aof.stop() }
        for db in server.databases { db.removeAll() }
        log.notice("MASTER <-> REPLICA sync: Loading DB in memory")
        let loadFD = open(link.transferPath, O_RDONLY | O_CLOEXEC)
        do {
            guard loadFD >= 0 else { throw RDBError("open: \(String(cString: strerror(errno)))") }
            try server.rdb.load(fd: loadFD)
        } catch {
            log.warning("Failed trying to load the MASTER synchronization DB from disk: \(error)")
            unlink(link.transferPath)
            if aofWasOn { _ = server.aof.start() }
            return linkFailed("Loading the master's RDB failed")
        }
        server.dirty = 0
        // The file becomes our dump, as Redis's disk-based load (unless it only served the sync).
        if config.save.isEmpty && config.value(of: "rdb-del-sync-files") == "yes" {
            unlink(link.transferPath)
        } else if rename(link.transferPath, config.dbfilename) != 0 {
            log.warning("Failed trying to rename the temp DB into \(config.dbfilename) in MASTER <-> REPLICA synchronization: \(String(cString: strerror(errno)))")
            unlink(link.transferPath)
        }
        link.transferPath = ""
        replid = link.masterReplid
        offset = link.initialOffset
        clearReplicationID2()
        createBacklog()
        if aofWasOn { _ = server.aof.start() }
        log.notice("MASTER <-> REPLICA sync: Finished with success")
        linkEstablished(link, db: 0)
    }

    /// The link is synced: it becomes the master client.
    private func linkEstablished(_ link: MasterLink, db: Int) {
        let client = link.client
        link.state = .connected
        client.linkPending = false
        client.isMaster = true
        client.user = nil  // our master's commands are never refused for permissions
        client.replicationType = .master
        client.replyOff = true
        client.authenticated = true
        client.select(server.databases[min(max(db, 0), server.databases.count - 1)])
        master = client
        masterLastIO = monotonicMillis()
        heldTransaction.clear()
        linkDownSince = 0
        selectedDB = -1
        server.updateClientMemoryUsage(client)
        failoverSucceeded()
        sendAck()
        if !client.input.isEmpty { server.processInput(client) }
    }

    // MARK: - Acks, failures, the cron

    /// REPLCONF ACK <offset> to the master (every second, and on GETACK).
    func sendAck() {
        guard let master, !master.isClosed else { return }
        let frame = IOBuffer(capacity: 64)
        var selected = 0
        // With the AOF on, what it fsynced too (FACK, as 7.2 replicas send it: the master's WAITAOF counts it).
        var ack: [ByteString] = ["REPLCONF", "ACK", ByteString(String(offset))]
        if let fsynced = server.aof.fsyncedReplicationOffset { ack += ["FACK", ByteString(String(fsynced))] }
        frame.appendCommand(ack, db: 0, selected: &selected)
        let bytes = frame.bytes(at: 0, count: frame.readableBytes)
        // Inside a command of the master (GETACK) replies are being dropped: what is held is written.
        if master.heldPushes != nil { master.heldPushes!.append(contentsOf: bytes) } else { master.output.append(bytes) }
        server.scheduleWrite(master)
    }

    /// The master's stream, request by request, after it ran: on to our backlog and sub-replicas, a
    /// transaction only once it ended (see `heldTransaction`).
    func feedFromMaster(_ bytes: UnsafeRawBufferPointer, inTransaction: Bool) {
        masterLastIO = monotonicMillis()
        if inTransaction {
            heldTransaction.append(bytes)
        } else if !heldTransaction.isEmpty {
            heldTransaction.append(bytes)
            feed(heldTransaction.bytes(at: heldTransaction.readIndex, count: heldTransaction.readableBytes))
            heldTransaction.clear(shrinkTo: 64 * 1024)
        } else {
            feed(bytes)
        }
    }

    /// The handshake or transfer failed, or the link broke: retry from the cron.
    func linkFailed(_ reason: String) {
        log.warning(reason)
        guard let link else { return }
        let client = link.client
        dropLink()
        if !client.isClosed { server.closeClient(client) }
        if failover == .inProgress { abortFailover("Failover target rejected psync request") }
    }

    /// Forgets the link (closing it is the caller's business).
    func dropLink() {
        guard let link else { return }
        self.link = nil
        if link.transferFD >= 0 { close(link.transferFD) }
        if !link.transferPath.isEmpty { unlink(link.transferPath) }
        if !link.client.isClosed { server.closeClient(link.client) }
    }

    /// The connection to the master closed (Server.closeClient).
    func masterLinkClosed(_ client: Client) {
        if master === client {
            master = nil
            log.notice("Connection with master lost.")
            log.notice("* Caching the disconnected master state.")
            cachedMaster = (replid, offset, client.db.index)
            heldTransaction.clear(shrinkTo: 4096)
            linkDownSince = wallClockMillis() / 1000
        }
        if link?.client === client { dropLink() }
    }

    func linkCron(now: Int64) {
        guard masterHost != nil else { return }
        let timeout = Int64(Int(config.value(of: "repl-timeout") ?? "60") ?? 60) * 1000
        if let link {
            switch link.state {
            case .connected:
                if now - masterLastIO > timeout {
                    log.warning("MASTER timeout: no data nor PING received...")
                    server.closeClient(link.client)
                } else {
                    sendAck()
                }
            case .transfer:
                if now - link.lastIO > timeout {
                    linkFailed("Timeout receiving bulk data from MASTER... If the problem persists try to set the 'repl-timeout' parameter in redis.conf to a larger value.")
                }
            case .loading:
                break
            default:
                if now - link.lastIO > timeout { linkFailed("Timeout connecting to the MASTER...") }
            }
        }
        if link == nil { connect() }
    }

    /// INFO's view of the link: whether it is up, syncing, and the transfer's progress.
    var linkIsUp: Bool { link?.state == .connected }
    var syncInProgress: Bool { link?.state == .transfer || link?.state == .loading }
}
