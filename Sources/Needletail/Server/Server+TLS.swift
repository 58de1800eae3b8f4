import CSystem
import Glibc

/// TLS in the server's own loop, as Redis's tls.c: `tls-port` listens next to `port` (0 disables either),
/// and a TLS client is an ordinary `Client` whose `tls` session sits between its socket and its buffers, so
/// parsing, replies, output limits, eviction, CLIENT LIST/KILL and timeouts are the same code.
///
/// - Accepted connections handshake without blocking: each event runs one `SSL_do_handshake` step and epoll
///   is asked for the direction it wants. A garbage or stalled handshake costs one failed step or nothing;
///   the loop never waits on a peer.
/// - OpenSSL may need the other direction than the call made (a read that must write, a write that must
///   read): `TLSConnection`'s flags record it and `updateInterest` asks epoll for that direction.
/// - SSL_read returns one record at a time, and OpenSSL reads ahead (Sources/CTLS/tls.c): bytes it already
///   decrypted and records it already read are invisible to epoll. A client left
///   with such bytes is listed in `tlsPending` and read again before the loop sleeps (it polls with a zero
///   timeout while the list is not empty), so pipelined requests are never stranded.
/// - CONFIG SET of a tls-* parameter builds a new context (Redis's applyTlsCfg); open connections keep theirs.
extension Server {
    // MARK: - Context and listeners

    /// Whether TLS is needed at all: a TLS port, or TLS towards our master (or the cluster bus, which we lack).
    var tlsWanted: Bool {
        config.value(of: "tls-port") != "0" || config.value(of: "tls-replication") == "yes"
            || config.value(of: "tls-cluster") == "yes"
    }

    /// Builds the TLS context when TLS is wanted (start-up). Logs Redis's reason and returns false on failure.
    public func configureTLS() -> Bool {
        guard tlsWanted else { return true }
        return rebuildTLSContext()
    }

    private func rebuildTLSContext() -> Bool {
        switch TLSContext.make(config) {
        case .success(let context):
            tlsContext = context
            return true
        case .failure(let error):
            log.warning(error.message)
            return false
        }
    }

    /// Listens on `tls-port` at every `bind` address (nothing when it is 0).
    public func listenTLS() throws {
        let wanted = Int(config.value(of: "tls-port") ?? "0") ?? 0
        guard wanted != 0 else { return }
        var boundAny = false
        for var address in config.bind {
            let optional = address.hasPrefix("-")
            if optional { address.removeFirst() }
            var p = Int32(wanted)
            let fd = cs_tcp_listen(address, &p, Int32(config.tcpBacklog))
            if fd < 0 {
                let e = errno
                if optional && (e == EADDRNOTAVAIL || e == EAFNOSUPPORT || e == EPROTONOSUPPORT || e == EINVAL) { continue }
                log.warning("Warning: Could not create server TCP listening socket \(address):\(wanted): bind: \(String(cString: strerror(e)))")
                closeTLSListeners()
                throw SystemError(call: "bind \(address):\(wanted)", errno: e)
            }
            try addListener(fd, "\(address):\(p)", tls: true)
            tlsPort = Int(p)
            boundAny = true
        }
        if !boundAny { throw SystemError(call: "listen", errno: EADDRNOTAVAIL) }
    }

    private func closeTLSListeners() {
        for l in listeners where l.tls {
            loop.remove(fd: l.fd)
            close(l.fd)
        }
        listeners.removeAll { $0.tls }
        tlsPort = 0
    }

    /// CONFIG SET of a tls-* parameter (Redis's applyTlsCfg / applyTLSPort): nil, or the CONFIG SET error.
    func tlsConfigDidChange(_ name: String) -> String? {
        switch name {
        case "tls-auth-clients":
            return nil  // read at each accept
        case "tls-port":
            if tlsContext == nil && !rebuildTLSContext() { return "Unable to update TLS configuration. Check server logs." }
            let wanted = Int(config.value(of: "tls-port") ?? "0") ?? 0
            if wanted == tlsPort { return nil }
            closeTLSListeners()
            do { try listenTLS() } catch { return "Unable to listen on this port. Check server logs." }
            return nil
        default:
            if tlsWanted && !rebuildTLSContext() { return "Unable to update TLS configuration. Check server logs." }
            return nil
        }
    }

    // MARK: - Handshakes

    /// Starts the server side of a handshake on a client accepted on `tls-port`.
    func startTLSHandshake(_ client: Client) {
        guard let context = tlsContext,
              let tls = TLSConnection(accepting: client.fd, context: context,
                                      auth: TLSClientAuth(config.value(of: "tls-auth-clients")))
        else {
            log.warning("Error creating a TLS session for a client (addr=\(client.address))")
            return closeClient(client)
        }
        client.tls = tls  // waits for the ClientHello: the client is registered readable
    }

    /// Starts the client side of a handshake on our master link (tls-replication), once the socket connected.
    func startTLSConnect(_ client: Client) -> Bool {
        guard let context = tlsContext, let tls = TLSConnection(connecting: client.fd, context: context) else { return false }
        client.tls = tls
        continueHandshake(client)
        return true
    }

    /// One step of a handshake; when it completes the client is checked (protected mode) and served, or our
    /// master link goes on with its replication handshake.
    func continueHandshake(_ client: Client) {
        guard let tls = client.tls, tls.handshaking else { return }
        switch tls.handshake() {
        case .bytes:
            tls.handshaking = false
            tls.handshakeWantsWrite = false
            if client.linkPending { return replication.linkConnected(client) }
            updateInterest(client)
            if refuseIfProtected(client) { return }
            readFromClient(client)  // a TLS 1.3 client's first request may have come with its last flight
        case .wantRead:
            if tls.handshakeWantsWrite {
                tls.handshakeWantsWrite = false
                updateInterest(client)
            }
        case .wantWrite:
            if !tls.handshakeWantsWrite {
                tls.handshakeWantsWrite = true
                updateInterest(client)
            }
        case .closed:
            closeClient(client)
        case .failed(let why):
            log.verbose(client.linkPending ? "TLS handshake with MASTER failed: \(why)"
                        : "Error accepting a client connection: \(why) (addr=\(client.address) laddr=\(client.localAddress))")
            closeClient(client)
        }
    }

    // MARK: - Events, reads and writes

    /// An event on a TLS client (after its handshake, or a step of it).
    func tlsEvent(_ client: Client, readable: Bool, writable: Bool) {
        guard let tls = client.tls else { return }
        if tls.handshaking { return continueHandshake(client) }
        let read = readable || (writable && tls.readWantsWrite)
        let write = client.waitingWritable && (tls.writeWantsRead ? readable : writable)
        // With appendfsync always, older replies go before new requests are read (see `dispatch`).
        if aofBarrier && write { writeToClient(client) }
        if read && !client.isClosed { readFromClient(client) }
        if !aofBarrier && write && !client.isClosed && client.waitingWritable { writeToClient(client) }
    }

    /// SSL_read into the query buffer: the bytes read (0 when the peer closed), or nil when there is nothing
    /// now or the client was closed on an error.
    func readTLS(_ client: Client, into buffer: UnsafeMutableRawPointer, count: Int) -> Int? {
        guard let tls = client.tls, !tls.handshaking else { return nil }
        let wanted = tls.readWantsWrite
        tls.readWantsWrite = false
        switch tls.read(into: buffer, count: count) {
        case .bytes(let n):
            if wanted { updateInterest(client) }
            if tls.hasPending { listPendingInput(client, tls) }
            return n
        case .wantRead:
            if wanted { updateInterest(client) }
            return nil
        case .wantWrite:
            tls.readWantsWrite = true
            if !wanted { updateInterest(client) }
            return nil
        case .closed:
            return 0
        case .failed(let why):
            log.verbose("Error reading from client: \(why)")
            closeClient(client)
            return nil
        }
    }

    /// SSL_write from the output buffer, as `nonBlockingIO` for plain sockets; nil when the client was closed.
    func writeTLS(_ client: Client, _ buffer: UnsafeRawPointer, count: Int) -> IOResult? {
        guard let tls = client.tls else { return nil }
        if tls.handshaking { return .wouldBlock }  // written once the handshake is done
        tls.writeWantsRead = false
        switch tls.write(buffer, count: count) {
        case .bytes(let n):
            return .processed(n)
        case .wantWrite:
            return .wouldBlock
        case .wantRead:
            tls.writeWantsRead = true
            return .wouldBlock
        case .closed:
            log.verbose("Error writing to client: connection closed")
            closeClient(client)
            return nil
        case .failed(let why):
            log.verbose("Error writing to client: \(why)")
            closeClient(client)
            return nil
        }
    }

    /// The epoll interest of a TLS client: what its handshake or a stalled read or write waits for.
    func tlsInterest(_ client: Client, _ tls: TLSConnection, readable: inout Bool, writable: inout Bool) {
        if tls.handshaking {
            readable = !tls.handshakeWantsWrite
            writable = tls.handshakeWantsWrite
            return
        }
        if tls.writeWantsRead && client.waitingWritable {
            readable = true
            writable = false
        }
        if tls.readWantsWrite { writable = true }
        // Reading resumes (a paused client caught up): decrypted bytes it left behind are read before sleeping.
        if readable && !client.readPaused && tls.hasPending { listPendingInput(client, tls) }
    }

    private func listPendingInput(_ client: Client, _ tls: TLSConnection) {
        guard !tls.listedPending else { return }
        tls.listedPending = true
        tlsPending.append(client)
    }

    /// A client that was not read from for a while (a busy script's caller) is read again: its decrypted
    /// bytes wait in OpenSSL.
    func resumeTLSInput(_ client: Client) {
        if let tls = client.tls, !client.isClosed, tls.hasPending { listPendingInput(client, tls) }
    }

    /// Reads the listed clients' decrypted bytes (after each poll, before anything else).
    func readPendingTLSInput() {
        var batch: [Client] = []
        swap(&batch, &tlsPending)
        for client in batch {
            client.tls?.listedPending = false
            if client.isClosed { continue }
            if client.linkPending {
                replication.linkEvent(client, readable: true, writable: false)
            } else {
                readFromClient(client)
            }
        }
    }
}
