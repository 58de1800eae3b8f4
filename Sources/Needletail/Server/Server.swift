import CSystem
import Glibc

/// The server: listeners, clients, databases and the loop that runs them.
///
/// One thread owns everything here (every command is atomic, no locks), as in Redis. An iteration of
/// the loop: wait for events (epoll_wait's timeout comes from the next timer) -> accept / read -> parse
/// and execute every complete request in a client's buffer -> run due timers -> before sleeping, write
/// every client's pending replies with one write() each; EPOLLOUT is armed only after a short write.
public final class Server {
    public let config: Config
    let log = Logger()
    /// Every change of every database is reported here (Storage/KeyspaceChanges.swift).
    let keyspace = KeyspaceChanges()
    let stats: ServerStats
    let commands: CommandTable
    /// Users, the ACL LOG and the permission check (Security/).
    let acl: ACL
    private(set) var databases: [Database] = []
    let loop: EventLoop
    /// Background work that must not stall the loop (freeing big values).
    let background = ThreadPool(threads: 1)
    let lazyFree: LazyFree
    /// used_memory at start-up and its peak (Server/MemoryOverhead.swift).
    let memory = MemoryTracker()
    private let prefetcher = PipelinePrefetcher()
    /// Wall-clock µs when the current command started: read when a batch of requests starts, and after a
    /// pipeline look-ahead and after each request (estimated there from the CPU's counter, `tickClock`), so
    /// the end of one request is the start of the next (Redis 7.0 also times commands with the wall clock,
    /// `ustime()`). A duration thus includes parsing the request, a fraction of a microsecond.
    @exclusivity(unchecked) var commandClock: Int64 = 0
    /// Where `commandClock` comes from: the system clock once per batch, the CPU's counter per command.
    @exclusivity(unchecked) var tickClock = TickClock()

    // The execution unit (Server/Call.swift).
    /// Nesting of `call`: 0 when no command runs; the outermost call owns `now` and the propagation list.
    @exclusivity(unchecked) var callDepth = 0
    /// The error-reply count when commandstats last looked (Redis's `prev_err_count`): each call counts as
    /// failed only for errors since then, so EXEC is not failed for the errors of the commands it ran.
    @exclusivity(unchecked) var errorRepliesCounted = 0
    /// Where each execution unit's writes go (the AOF, later the replicas; a recorder in tests). While nil,
    /// nothing is recorded.
    @exclusivity(unchecked) var propagationSink: PropagationSink? {
        didSet {
            propagatesToStream = propagationSink != nil && propagationSink === propagationStream
            updateKeyspaceListener()
            updateCallBookkeeping()
        }
    }
    /// The sink is the server's own `propagationStream` (the AOF and the replicas, as opposed to a test's
    /// recorder): `call` hands a write to it through `propagationStreamReference`, without the retain and
    /// release that calling through the optional protocol reference costs (1.3% of a SET with the AOF on).
    @exclusivity(unchecked) private(set) var propagatesToStream = false
    /// A propagation sink or a monitor exists: `call` collects and reports what ran (Server/Call.swift).
    @exclusivity(unchecked) var callNeedsBookkeeping = false
    /// MONITOR clients, in the order they started (Server/Monitor.swift).
    @exclusivity(unchecked) var monitors: [Client] = []
    /// SLOWLOG's entries and LATENCY's events (Server/Diagnostics.swift).
    var slowLog = SlowLog()
    /// `latency-tracking`, and the lower of the slow log's and the latency monitor's thresholds in µs
    /// (Int64.max when both are off), as `call` reads them after every command (Server/Diagnostics.swift).
    @exclusivity(unchecked) var latencyTrackingOn = true
    @exclusivity(unchecked) var diagnosticsThreshold = Int64.max
    /// DEBUG PAUSE-CRON: the periodic work stops (tests use it to freeze expiry, rehashing, ...).
    var cronPaused = false
    /// MIGRATE's connections to its targets by "host:port" (Commands/Migrate.swift).
    var migrateConnections: [String: MigrateConnection] = [:]
    var latencyMonitor = LatencyMonitor()
    /// Commands the running unit will propagate when its outermost call returns.
    @exclusivity(unchecked) var pendingPropagation: [PropagatedCommand] = []
    /// The sink that fans propagated commands out to the AOF (and the replicas, later); attached while one
    /// of them listens (Persistence/AppendOnlyFile.swift).
    private(set) var propagationStream: PropagationStream!
    /// `propagationStream`, unretained (the server keeps it for its lifetime); set with it in `init`.
    @exclusivity(unchecked) private(set) var propagationStreamReference: Unmanaged<PropagationStream>!
    /// The append-only file (off unless `appendonly yes` or CONFIG SET appendonly yes).
    private(set) var aof: AppendOnlyFile!
    /// Replication, both roles (Replication/Replication.swift, Replication/ReplicaLink.swift).
    private(set) var replication: Replication!
    #if NEEDLETAIL_INVARIANTS
    /// Debug builds check the keyspace after every write command (Server/Call.swift); a test that measures
    /// the hot path itself (AllocationTests) turns it off.
    public var checksInvariants = true
    /// Write commands checked so far: every 64th checks a mid-sized database whole.
    var invariantChecks = 0
    #endif
    /// Hears the keyspace's changes after the server did (tests; later notifications and tracking).
    @exclusivity(unchecked) var keyspaceObserver: KeyspaceListener? { didSet { updateKeyspaceListener() } }

    // Blocked clients (Server/Blocking.swift).
    /// Per database, the clients blocked on each key, in the order they blocked.
    @exclusivity(unchecked) var blockedOnKeys: [[ByteString: BlockedQueue]] = []
    /// Keys that received data while clients wait on them, in the order they did; served before sleeping.
    @exclusivity(unchecked) var readyKeys: [ReadyKey] = []
    @exclusivity(unchecked) var readyKeySet: Set<ReadyKey> = []
    @exclusivity(unchecked) var blockedClientCount = 0
    /// `serveClientsBlockedOnKeys` is running (it is not re-entrant).
    @exclusivity(unchecked) var servingBlockedClients = false
    /// Clients unblocked since the loop last slept, to resume before it sleeps again.
    @exclusivity(unchecked) var unblockedClients: [Client] = []

    // CLIENT PAUSE (Server/Blocking.swift).
    /// The pause in effect, its end (Unix ms) and its timer; clients whose commands wait for its end.
    @exclusivity(unchecked) var pause: PauseKind?
    @exclusivity(unchecked) var pauseEnd: Int64 = 0
    @exclusivity(unchecked) var pauseTimer: TimerHandle?
    @exclusivity(unchecked) var postponedClients: [Client] = []

    // WATCH (Server/Transaction.swift).
    /// Per database, the clients watching each key, and how many watched keys there are in all.
    @exclusivity(unchecked) var watchedKeys: [HashTable<WatchList>] = []
    @exclusivity(unchecked) var watchedKeyCount = 0

    // Pub/sub and keyspace notifications (Server/Subscriptions.swift).
    let pubsub = PubSubRegistry()
    // Client-side caching (Server/Tracking.swift).
    /// Key name -> ids of the clients that may cache it (keys of every database, as Redis's table).
    @exclusivity(unchecked) var trackingTable: [ByteString: Set<Int64>] = [:]
    /// The ids in the table, over all keys (INFO tracking_total_items).
    var trackingItems = 0
    /// BCAST prefixes and their clients and changed keys.
    var prefixTable: [ByteString: BroadcastState] = [:]
    @exclusivity(unchecked) var trackingClients = 0
    /// Invalidations for the running client, sent after its reply (nil: a flush).
    @exclusivity(unchecked) var trackingPendingKeys: [ByteString?] = []
    /// The flush's invalidation was sent in this execution unit (FLUSHALL empties every database).
    @exclusivity(unchecked) var trackingFlushSent = false
    /// The client whose command runs (0 outside commands), kept while something needs it (tracking's NOLOOP).
    @exclusivity(unchecked) var currentClientID: Int64 = 0
    /// Connections by id (CLIENT TRACKING's redirect, invalidations).
    var clientsByID: [Int64: Client] = [:]

    /// One message frame, encoded once per publish and copied to each subscriber.
    let frameScratch = IOBuffer(capacity: 1024)
    /// The `notify-keyspace-events` classes published, empty when nothing is (no K/E, or no class).
    @exclusivity(unchecked) var keyspaceNotifications: KeyspaceEvents = []
    /// RENAME's or MOVE's source event, published after the destination's `new` (Server/Subscriptions.swift).
    @exclusivity(unchecked) var heldNotification: (key: ByteString, db: Int, event: KeyspaceEvent)?

    struct Listener {
        let fd: Int32
        let description: String
        /// Accepts TLS connections (`tls-port`).
        var tls = false
    }
    var listeners: [Listener] = []
    /// The TLS context while `tls-port`, `tls-replication` or `tls-cluster` is set (Server/Server+TLS.swift).
    var tlsContext: TLSContext?
    /// TLS clients whose decrypted input waits in OpenSSL: read before the loop sleeps (it does not sleep
    /// while there are any), since epoll reports only what the socket holds.
    @exclusivity(unchecked) var tlsPending: [Client] = []
    /// The TLS port actually bound (0: none).
    public internal(set) var tlsPort = 0
    @exclusivity(unchecked) private(set) var clientsByFD: [Client?] = []
    /// Clients' memory totals and eviction buckets (Server/ClientMemory.swift).
    let clientMemory = ClientMemoryIndex()
    private(set) var clientCount = 0
    var nextClientID: Int64 = 1
    /// Lua scripting (Scripting/ScriptEngine.swift).
    private(set) lazy var scripting = ScriptEngine(server: self)
    /// A script has run past `busy-reply-threshold`: other clients get -BUSY (Server.commandToRun).
    @exclusivity(unchecked) var scriptBusy = false
    private var nextGeneration: UInt32 = 1
    @exclusivity(unchecked) private var pendingWrites: [Client] = []
    /// The batch `flushPendingWrites` is writing (swapped with `pendingWrites`, so neither reallocates).
    @exclusivity(unchecked) private var writingNow: [Client] = []

    /// The TCP port actually bound (differs from `config.port` when that was 0 with `ephemeralPort`).
    public private(set) var port = 0
    private let ephemeralPort: Bool

    let startedAt = monotonicMicros() / 1000
    let startedAtWall = wallClockMillis()
    /// Changes since the last save (INFO persistence, LASTSAVE), counted by the keyspace.
    var dirty: Int {
        get { keyspace.dirty }
        set { keyspace.dirty = newValue }
    }
    var lastSave = wallClockMillis() / 1000
    /// SAVE, BGSAVE, save points and loading (Persistence/RDBPersistence.swift).
    private(set) lazy var rdb = RDBPersistence(server: self)
    /// The dataset is loading or the last save failed: `commandToRun` then looks at -LOADING and -MISCONF.
    @exclusivity(unchecked) var persistenceGate = false
    /// This server is a replica, or min-replicas-to-write is set: `commandToRun` checks replication's rules.
    @exclusivity(unchecked) var replicationGate = false
    /// A BGSAVE has serialization left: the loop polls without sleeping.
    @exclusivity(unchecked) private var snapshotBusy = false
    var cronLoops = 0
    /// appendfsync always is in effect: write before read in `dispatch` (kept by the cron and CONFIG SET).
    @exclusivity(unchecked) var aofBarrier = false
    /// Whether the cron runs the active expire cycle (DEBUG SET-ACTIVE-EXPIRE flips it; lazy expiry always runs).
    var activeExpireEnabled = true

    /// What the loop's timers do (Engine/Timers.swift). Each is a one-shot timer its handler sets again.
    enum TimerEvent {
        /// The server cron, `hz` times a second.
        case cron
        /// A slice of the active expire cycle (`expirePlan` says which and how long).
        case activeExpire
        /// The least recently active client may have passed `timeout`.
        case idleClients
        /// A blocked client's timeout (the client in that fd slot, if its generation still matches).
        case blockedTimeout(fd: Int32, generation: UInt32)
        /// CLIENT PAUSE's end time may have come.
        case pauseEnd
        /// An eviction that ran out of time continues (Server/Eviction.swift).
        case evictionContinue
        /// The RDB of a full sync from our master has arrived: load it (Replication/ReplicaLink.swift), from
        /// the loop itself rather than from inside the event that completed it, since loading serves other
        /// clients with its own poll.
        case replicaLoad
    }
    let timers = TimerQueue<TimerEvent, SystemClock>(clock: SystemClock())
    /// Clients by last interaction, least recent first (slots are fds), and the timer for the head.
    @exclusivity(unchecked) private var idle = IdleClientTimeout()
    var expirePlan = ExpireCyclePlan()
    /// maxmemory's eviction engine (Server/Eviction.swift).
    let eviction = Eviction()
    /// Whether memory was over maxmemory with nothing to evict when the running command was checked
    /// (Redis's pre_command_oom_state): scripts then refuse denyoom commands until they wrote something.
    var preCommandOOMState = false
    var expireTimer: TimerHandle?
    /// The database the active expire cycle visits next (Redis's `current_db`).
    var expireNextDB = 0

    /// Set from other threads (stop()) and read by the loop; lives outside Swift's exclusivity model.
    private let stopFlag = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
    /// Set by SHUTDOWN or a signal: the loop finishes its iteration and returns.
    var shutdownRequested = false
    /// A SHUTDOWN waiting for lagging replicas (Server/Shutdown.swift).
    var shutdown = ShutdownState()

    /// Output waiting for a slow reader beyond which we stop reading its requests, so a client that never
    /// reads cannot make the server buffer without bound (client-output-buffer-limit still applies).
    static let readPauseThreshold = 8 * 1024 * 1024
    /// See `updateOutputCheckBytes`.
    @exclusivity(unchecked) var outputCheckBytes = Server.readPauseThreshold

    /// - Parameter ephemeralPort: listen on a kernel-chosen port when `config.port` is 0 (in-process use
    ///   and tests), instead of Redis's meaning of port 0 (no TCP listener).
    public init(config: Config = Config(), ephemeralPort: Bool = false) throws {
        self.config = config
        self.ephemeralPort = ephemeralPort
        commands = CommandTable.standard()
        acl = ACL(table: commands)
        for (from, to) in config.renamedCommands { commands.rename(from, to: to) }
        loop = try EventLoop()
        stopFlag.initialize(to: 0)
        log.level = Logger.Level(name: config.loglevel) ?? .notice
        log.open(path: config.logfile)
        lazyFree = LazyFree(pool: background)
        stats = ServerStats(keyspace: keyspace)
        databases = (0..<max(1, config.databases)).map { Database(index: $0, events: keyspace, disposer: lazyFree) }
        blockedOnKeys = Array(repeating: [:], count: databases.count)
        watchedKeys = (0..<databases.count).map { _ in HashTable<WatchList>() }
        updateOutputCheckBytes()
        updateBusyPoll()
        updateClientEvictionLimit()
        updateDiagnosticsSettings()
        updateKeyspaceNotifications()
        updateKeyspaceListener()
        aof = AppendOnlyFile(server: self)
        replication = Replication(server: self)
        propagationStream = PropagationStream(aof: aof, replication: replication)
        propagationStreamReference = Unmanaged.passUnretained(propagationStream)
        updateReplicationGate()
        configureACL()
        config.onChange = { [unowned self] name in configDidChange(name) }
        memory.measure = { [unowned self] in usedMemory }
        updateEvictionConfig()
        // As redis-server, the scripting engines' clients take the first ids (1: EVAL's, 2: functions').
        _ = scripting
        nextClientID = 3
        // COMMAND DOCS/INFO's metadata is static in Redis; parsed here rather than at the first COMMAND, its
        // memory (~460 KB) is start-up memory, not dataset (INFO used_memory_startup).
        _ = generatedCommandMetadata.count
        memory.recordStartup()
    }

    deinit {
        background.shutdown()
        aof.stopWorker()
        for l in listeners { close(l.fd) }
        for case let c? in clientsByFD {
            c.tls?.shutdown()
            close(c.fd)
        }
        stopFlag.deallocate()
    }

    // MARK: - Listening

    /// Binds every `bind` address on `port` and the Unix socket. Throws when nothing could be bound.
    public func listen() throws {
        if config.port != 0 || ephemeralPort {
            var boundAny = false
            for var address in config.bind {
                let optional = address.hasPrefix("-")
                if optional { address.removeFirst() }
                var p = Int32(port != 0 ? port : config.port)
                let fd = cs_tcp_listen(address, &p, Int32(config.tcpBacklog))
                if fd < 0 {
                    let e = errno
                    if optional && (e == EADDRNOTAVAIL || e == EAFNOSUPPORT || e == EPROTONOSUPPORT || e == EINVAL) { continue }
                    log.warning("Warning: Could not create server TCP listening socket \(address):\(config.port): bind: \(String(cString: strerror(e)))")
                    throw SystemError(call: "bind \(address):\(config.port)", errno: e)
                }
                port = Int(p)
                try addListener(fd, "\(address):\(p)")
                boundAny = true
            }
            if !boundAny { throw SystemError(call: "listen", errno: EADDRNOTAVAIL) }
        }
        if !config.unixsocket.isEmpty {
            let fd = cs_unix_listen(config.unixsocket, config.unixsocketperm, Int32(config.tcpBacklog))
            if fd < 0 { throw SystemError(call: "unix socket \(config.unixsocket)", errno: errno) }
            try addListener(fd, config.unixsocket)
        }
    }

    func addListener(_ fd: Int32, _ description: String, tls: Bool = false) throws {
        listeners.append(Listener(fd: fd, description: description, tls: tls))
        try loop.add(fd: fd, readable: true, writable: false, token: UInt64(UInt32(bitPattern: fd)))
    }

    // MARK: - The loop

    /// Runs until SHUTDOWN, a signal or `stop()`. Installs signal handlers when `handleSignals`.
    public func run(handleSignals: Bool = false) {
        if handleSignals { cs_install_signal_handlers(loop.wakeFD) }
        timers.schedule(after: cronPeriodMicros(hz: config.hz), .cron)
        while !shutdownRequested {
            loop.poll(timeoutMillis: snapshotBusy || !tlsPending.isEmpty ? 0 : timers.pollTimeoutMillis()) { token, readable, writable in
                dispatch(token, readable, writable)
            }
            if !tlsPending.isEmpty { readPendingTLSInput() }
            memory.samplePeakIfCheap()  // after the commands, before their replies are written
            // Replies first: a due expire slice then delays no reply already computed.
            serveBlockedClients()
            if trackingClients > 0 { broadcastInvalidations() }
            if replication.ackRequested { replication.requestAcks() }
            if aof.isOn { aof.flush(force: false) }
            if !replication.waitingClients.isEmpty { replication.serveWaitingClients() }  // WAITAOF's fsyncs
            flushPendingWrites()
            timers.runDue { event, deadline in fire(event, deadline: deadline) }
            if handleSignals, case let signal = cs_take_shutdown_signal(), signal != 0 { shutdownOnSignal(signal) }
            if cs_atomic_load_int(stopFlag) != 0 { shutdownRequested = true }
            beforeSleep()
        }
        finishShutdown()
    }

    /// Clients whose keys became ready are served, and unblocked clients run their waiting requests; each may
    /// make more keys ready or unblock more clients.
    private func serveBlockedClients() {
        repeat {
            serveClientsBlockedOnKeys()
            processUnblockedClients()
        } while !readyKeys.isEmpty
    }

    /// What runs before the loop sleeps, in Redis's order: clients whose keys became ready are served (their
    /// writes may make more keys ready, served in the same pass), then the AOF buffer is written (and with
    /// appendfsync always fsynced) before any reply it covers leaves, then replies are written, then lazily
    /// freed values go to a worker; clients over maxmemory-clients are evicted after the writes, as in
    /// Redis. (The loop body does the same before its first reply flush.)
    private func beforeSleep() {
        serveBlockedClients()
        if trackingClients > 0 { broadcastInvalidations() }
        if replication.ackRequested { replication.requestAcks() }
        if aof.isOn { aof.flush(force: false) }
        if !replication.waitingClients.isEmpty { replication.serveWaitingClients() }  // WAITAOF's fsyncs
        flushPendingWrites()
        // Clients over maxmemory-clients, once their replies had a chance to leave (Server/ClientMemory.swift).
        if clientMemory.evictionLimit != 0 { evictClients() }
        lazyFree.flush()
        // Reset too when an abort (FLUSHALL, DEBUG RELOAD, CONFIG SET appendonly no) ended the snapshot.
        snapshotBusy = hasBackgroundSnapshot && tickSnapshots()
    }

    /// While the dataset loads (start-up), every 2 MB: clients are accepted and served, and those that ask
    /// for anything but `loading` commands get -LOADING (Redis's processEventsWhileBlocked).
    func processEventsWhileLoading() {
        loop.poll(timeoutMillis: 0) { token, readable, writable in
            dispatch(token, readable, writable)
        }
        flushPendingWrites()
    }

    private func fire(_ event: TimerEvent, deadline: Int64) {
        switch event {
        case .cron:
            cron()
            shutdownCron()
            // hz is read each time, so CONFIG SET hz takes effect from the next tick, as in Redis.
            let period = cronPeriodMicros(hz: config.hz)
            timers.schedule(at: nextPeriodicDeadline(after: deadline, period: period, now: timers.now), .cron)
        case .activeExpire:
            expireTimer = nil
            activeExpireSlice()
        case .evictionContinue:
            evictionTimerFired()
        case .replicaLoad:
            replication.loadTransferredRDB()
        case .idleClients:
            idle.timerFired()
            closeIdleClients()
        case .blockedTimeout(let fd, let generation):
            guard Int(fd) < clientsByFD.count, let client = clientsByFD[Int(fd)], client.generation == generation else {
                return
            }
            blockedClientTimedOut(client)
        case .pauseEnd:
            pauseTimer = nil
            endPauseIfDue()
        }
    }

    /// Asks a running loop to stop; safe from any thread.
    public func stop() {
        cs_atomic_store_int(stopFlag, 1)
        loop.wake()
    }

    private func finishShutdown() {
        // Best effort: replicas (and the last replies) get what is buffered for them before the sockets close.
        flushPendingWrites()
        for l in listeners {
            loop.remove(fd: l.fd)
            close(l.fd)
        }
        listeners.removeAll()
        if !config.unixsocket.isEmpty { unlink(config.unixsocket) }
        for case let c? in clientsByFD { closeClient(c) }
        aof.shutdown()
        lazyFree.flush()
        background.shutdown()
        log.warning("Needletail is now ready to exit, bye bye...")
    }

    @inline(__always) private func dispatch(_ token: UInt64, _ readable: Bool, _ writable: Bool) {
        if token == EventLoop.wakeToken {
            loop.drainWakeups()
            return
        }
        let fd = Int32(bitPattern: UInt32(truncatingIfNeeded: token))
        let generation = UInt32(truncatingIfNeeded: token >> 32)
        if generation == 0 {
            acceptClients(fd)
            return
        }
        guard Int(fd) < clientsByFD.count, let client = clientsByFD[Int(fd)], client.generation == generation else {
            return  // an event for a client closed earlier in this batch
        }
        // Our master's connection before it is synced: the handshake and the RDB transfer.
        if client.linkPending {
            replication.linkEvent(client, readable: readable, writable: writable)
            if writable && !client.isClosed && client.waitingWritable { writeToClient(client) }
            return
        }
        if client.tls != nil { return tlsEvent(client, readable: readable, writable: writable) }
        // With appendfsync always, replies computed in this iteration must not leave before the AOF fsync in
        // beforeSleep: a writable client is written first (Redis's AE_BARRIER), so only older replies go.
        if aofBarrier {
            if writable && client.waitingWritable { writeToClient(client) }
            if readable && !client.isClosed { readFromClient(client) }
            return
        }
        if readable { readFromClient(client) }
        if writable && !client.isClosed && client.waitingWritable { writeToClient(client) }
    }

    // MARK: - Accepting

    private func acceptClients(_ listenerFD: Int32) {
        let tls = listeners.first { $0.fd == listenerFD }?.tls ?? false
        // Accept a bounded number per event, as Redis does (MAX_ACCEPTS_PER_CALL), to stay fair.
        for _ in 0..<1000 {
            var addr = [CChar](repeating: 0, count: 128)
            var isUnix: Int32 = 0
            let fd = cs_accept(listenerFD, &addr, addr.count, &isUnix)
            if fd < 0 {
                let e = errno
                if e != EAGAIN && e != EWOULDBLOCK {
                    log.warning("Accepting client connection: \(String(cString: strerror(e)))")
                }
                return
            }
            stats.totalConnectionsReceived += 1
            if clientCount >= config.maxclients {
                // Over TLS the error cannot go before the handshake: the connection is just closed, as in Redis.
                let msg: StaticString = "-ERR max number of clients reached\r\n"
                if !tls { _ = Glibc.write(fd, msg.utf8Start, msg.utf8CodeUnitCount) }
                close(fd)
                stats.rejectedConnections += 1
                continue
            }
            if isUnix == 0 {
                _ = cs_set_int_sockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
                _ = cs_set_int_sockopt(fd, SOL_SOCKET, SO_KEEPALIVE, 1)
            }
            // Unix-socket clients show as "<path>:0", as in Redis's CLIENT LIST.
            let address = isUnix != 0 ? "\(config.unixsocket):0" : String(cString: addr)
            guard let client = registerConnection(fd: fd, address: address, isUnixSocket: isUnix != 0) else {
                close(fd)
                continue
            }
            // A TLS client is checked once its handshake is done (Server+TLS.swift), as Redis's clientAcceptHandler.
            if tls { startTLSHandshake(client) } else { refuseIfProtected(client) }
        }
    }

    /// Makes a client of a connected socket (accepted, or our master link) and starts reading from it.
    /// Returns nil, after logging, when the loop refused the fd (the caller closes it).
    func registerConnection(fd: Int32, address: String, isUnixSocket: Bool = false) -> Client? {
        var local = [CChar](repeating: 0, count: 128)
        if isUnixSocket { strcpy(&local, config.unixsocket) } else { _ = cs_sockname(fd, &local, local.count) }
        let generation = nextGeneration
        nextGeneration = nextGeneration == UInt32.max ? 1 : nextGeneration + 1
        let client = Client(id: nextClientID, fd: fd, generation: generation, address: address,
                            localAddress: String(cString: local), isUnixSocket: isUnixSocket, server: self,
                            db: databases[0], now: monotonicMillis())
        nextClientID += 1
        do {
            try loop.add(fd: fd, readable: true, writable: false, token: client.token)
        } catch {
            log.warning("Error registering fd event for the new client: \(error)")
            return nil
        }
        while clientsByFD.count <= Int(fd) { clientsByFD.append(nil) }
        clientsByFD[Int(fd)] = client
        clientsByID[client.id] = client
        clientCount += 1
        idle.list.touch(Int(fd), at: client.lastInteraction)
        updateClientMemoryUsage(client)
        if idle.timer == nil { idle.arm(timeout: config.timeout, in: timers, event: .idleClients) }
        return client
    }

    /// Sets a connection's epoll interest directly (the master link while it connects).
    func setInterest(_ client: Client, readable: Bool, writable: Bool) {
        do {
            try loop.modify(fd: client.fd, readable: readable, writable: writable, token: client.token)
        } catch {
            closeClient(client)
        }
    }

    // MARK: - Reading and executing

    func readFromClient(_ client: Client) {
        if client.readPaused || client.closeAfterReply || client.isProtected { return }
        let input = client.input
        if !client.parser.awaitsBigArgument || input.writableBytes == 0 { input.reserve(16 * 1024) }
        stats.totalReadsProcessed += 1
        let n: Int
        if client.tls != nil {
            guard let got = readTLS(client, into: input.base + input.writeIndex, count: input.writableBytes) else { return }
            n = got
        } else {
            let result: IOResult
            do {
                result = try nonBlockingIO("read") { Glibc.read(client.fd, input.base + input.writeIndex, input.writableBytes) }
            } catch {
                log.verbose("Reading from client: \(error)")
                closeClient(client)
                return
            }
            guard case .processed(let got) = result else { return }
            n = got
        }
        if n == 0 {
            log.verbose("Client closed connection id=\(client.id) addr=\(client.address)")
            closeClient(client)
            return
        }
        input.writeIndex += n
        // Our master's stream counts as replication traffic, as Redis's stat_net_repl_input_bytes.
        if client.isMaster { stats.totalNetReplInputBytes += n } else { stats.totalNetInputBytes += n }
        touch(client)
        // client-query-buffer-limit, before anything is parsed, as in Redis: the bytes not yet parsed into
        // arguments count (CLIENT LIST's qbuf), and a master would be exempt (Server/ClientMemory.swift).
        if client.queryBufferLength > config.clientQueryBufferLimit && client.type != .master {
            let start = input.readIndex + client.parser.parsedBytesOfPartialRequest
            let head = Array(input.bytes(at: start, count: min(64, input.writeIndex - start)))
            log.warning("Closing client that reached max query buffer length: \(clientInfoLine(client)) "
                + "(qbuf initial bytes: \(String(decoding: Config.representation(head), as: UTF8.self)))")
            closeClient(client)
            return
        }
        processInput(client)
    }

    /// Executes every complete request in the client's query buffer, in order.
    func processInput(_ client: Client) {
        let input = client.input
        commandClock = tickClock.batchStart()
        var prefetched = 0  // bytes ahead of readIndex whose requests' lookups were prefetched
        while !client.isClosed && !client.closeAfterReply && !client.readPaused && client.blocked == nil {
            if prefetched == 0 && client.parser.isAtRequestStart {
                let window = prefetcher.prefetch(input, in: client.db)
                prefetched = window.bytes
                if window.hashed { commandClock = tickClock.estimate() }  // the look-ahead is no command's time
            }
            let outcome = client.parser.parse(input, maxBulkLength: config.protoMaxBulkLen,
                                              authenticated: client.authenticated || !acl.authRequired)
            switch outcome {
            case .needMoreData:
                if input.isEmpty { input.clear(shrinkTo: 1024 * 1024) }
                scheduleWrite(client)
                updateClientMemoryUsage(client)  // a request arriving in pieces grows the query buffer
                return
            case .protocolError(let message):
                log.verbose("Protocol error (\(message)) from client: id=\(client.id) addr=\(client.address)")
                client.reply.error("ERR " + message)
                client.closeAfterReply = true
                client.parser.reset()
                input.clear()
                updateInterest(client)
            case .request(let consumed):
                if client.isMaster {
                    applyFromMaster(client, consumed: consumed)
                } else if client.argc > 0 {
                    if client.replyOff || client.replySkipNext { executeUnderReplyControl(client) } else { processCommand(client) }
                }
                input.readIndex += consumed
                prefetched = max(0, prefetched - consumed)
                client.parser.reset()
                if client.output.readableBytes > outputCheckBytes { checkOutputBuffer(client) }
                // Client eviction sees each reply's growth before the next command (as Redis measures the
                // client after each command); otherwise measuring once per batch is enough.
                if clientMemory.evictionLimit != 0 { updateClientMemoryUsage(client) }
            }
        }
        if client.closeAfterReply { updateInterest(client) }  // QUIT, CLIENT KILL of itself, ...
        scheduleWrite(client)
        updateClientMemoryUsage(client)
    }

    /// Runs a request the client sent earlier and the pause held back (Server/Blocking.swift), as
    /// processInput runs one.
    func runRequest(_ argv: [ByteString], of client: Client) {
        client.parser.load(argv)
        commandClock = wallClockMicros()
        if client.replyOff || client.replySkipNext { executeUnderReplyControl(client) } else { processCommand(client) }
        client.parser.reset()
        if client.output.readableBytes > outputCheckBytes { checkOutputBuffer(client) }
        if clientMemory.evictionLimit != 0 { updateClientMemoryUsage(client) }
    }

    /// A request of our master's stream (Replication/ReplicaLink.swift): run with its reply dropped and with
    /// keys past their time still visible (the master deletes them), then its bytes go on to our backlog and
    /// sub-replicas.
    private func applyFromMaster(_ client: Client, consumed: Int) {
        if client.argc > 0 {
            keyspace.obeyingMaster = true
            executeUnderReplyControl(client)
            keyspace.obeyingMaster = false
        }
        if !client.isClosed {
            replication.feedFromMaster(client.input.bytes(at: client.input.readIndex, count: consumed),
                                       inTransaction: client.transaction != nil)
        }
    }

    /// Runs a request while CLIENT REPLY OFF or SKIP is in effect: its replies are dropped, except CLIENT
    /// REPLY ON's own +OK (it clears the flags before replying, as in Redis).
    private func executeUnderReplyControl(_ client: Client) {
        client.replySkip = client.replySkipNext
        client.replySkipNext = false
        let kept = client.output.readableBytes  // output is not written while a command runs
        client.heldPushes = []  // pub/sub messages to itself meanwhile (Server/Subscriptions.swift)
        processCommand(client)
        if client.replyOff || client.replySkip {
            client.output.writeIndex = client.output.readIndex + kept
            // Messages are not replies: Redis (CLIENT_PUSHING) writes them even with replies off.
            client.heldPushes!.withUnsafeBytes { client.output.append($0) }
        }
        client.heldPushes = nil
        client.replySkip = false
    }

    // MARK: - Writing

    @inline(__always) func scheduleWrite(_ client: Client) {
        if !client.pendingWrite && !client.waitingWritable && !client.output.isEmpty {
            client.pendingWrite = true
            pendingWrites.append(client)
        }
    }

    /// Before the loop sleeps: one write() per client with replies waiting, the most recently scheduled
    /// first (Redis's clients_pending_write is LIFO): a publisher, scheduled after the subscribers its
    /// PUBLISH reached, gets its reply before the subscribers their messages, so its next requests arrive
    /// while they are written and the next iteration serves a bigger batch (1.5x fewer writes per message
    /// at 100 subscribers). Clients scheduled meanwhile (a write that resumed reading) are written too.
    private func flushPendingWrites() {
        while !pendingWrites.isEmpty {
            swap(&pendingWrites, &writingNow)
            var i = writingNow.count - 1
            while i >= 0 {
                let client = writingNow[i]
                client.pendingWrite = false
                if !client.isClosed { writeToClient(client) }
                i -= 1
            }
            writingNow.removeAll(keepingCapacity: true)
        }
    }

    func writeToClient(_ client: Client) {
        let output = client.output
        stats.totalWritesProcessed += 1
        var wrote = false  // as Redis's `totwritten > 0`: a client busy receiving replies is not idle
        let capacity = output.capacity
        defer {
            if wrote && !client.isClosed {
                touch(client)
                // Redis measures a client after writing to it; ours changes only if the buffer shrank.
                if output.capacity != capacity { updateClientMemoryUsage(client) }
            }
        }
        while !output.isEmpty {
            let result: IOResult
            if client.tls != nil {
                guard let r = writeTLS(client, output.base + output.readIndex, count: output.readableBytes) else { return }
                result = r
            } else {
                do {
                    result = try nonBlockingIO("write") {
                        Glibc.write(client.fd, output.base + output.readIndex, output.readableBytes)
                    }
                } catch {
                    log.verbose("Error writing to client: \(error)")
                    closeClient(client)
                    return
                }
            }
            guard case .processed(let n) = result else { break }
            output.readIndex += n
            if client.replicationType == .replica { stats.totalNetReplOutputBytes += n } else { stats.totalNetOutputBytes += n }
            wrote = true
        }
        if output.isEmpty {
            output.clear(shrinkTo: 1024 * 1024)
            if client.closeAfterReply { return closeClient(client) }
            // Only touch epoll when the interest changes: the common case (a complete write, nothing armed)
            // costs no syscall beyond the write itself.
            client.softLimitReachedAt = 0
            guard client.waitingWritable || client.readPaused else { return }
            let resume = client.readPaused
            client.waitingWritable = false
            client.readPaused = false
            updateInterest(client)
            if resume { processInput(client) }
        } else if !client.waitingWritable || client.tls != nil {  // TLS: what the write waits for may have changed
            client.waitingWritable = true
            updateInterest(client)
        }
    }

    // MARK: - Output buffer limits

    /// The output size past which `checkOutputBuffer` runs after a request: the smallest limit of any class
    /// (limits count the bytes beyond the first 16 KB, `Client.outputBufferMemory`) or the read pause
    /// threshold. Kept by the cron (and at start), so CONFIG SET takes effect within a cron period and the
    /// check per request is one comparison.
    func updateOutputCheckBytes() {
        let limits = config.clientOutputBufferLimit
        let all = [limits.normal, limits.replica, limits.pubsub].flatMap { [$0.hardBytes, $0.softBytes] }
        let smallest = all.filter { $0 > 0 }.min().map { Int(clamping: $0) } ?? Int.max
        outputCheckBytes = min(smallest > Int.max - replyChunkBytes ? Int.max : smallest + replyChunkBytes - 1,
                               Server.readPauseThreshold)
    }

    /// The loop's spin budget from `busy-poll-us` (at start and on CONFIG SET): none on a machine where
    /// spinning takes CPU from others (one CPU, a cgroup quota; checked once).
    func updateBusyPoll() {
        loop.busyPoll.budget = Server.machineAllowsSpinning ? Int64(config.busyPollMicros) : 0
    }
    private static let machineAllowsSpinning = BusyPoll.machineAllowsSpinning()
    /// The loop thread's run-queue delay, which tells the spin policy when the CPU is contended.
    private let runQueue = RunQueueClock()

    /// Redis's checkClientOutputBufferLimits, with the limits of the client's class (a master's are the
    /// normal ones), over the pending reply bytes beyond the first 16 KB (`Client.outputBufferMemory`, as
    /// Redis leaves its static reply buffer out): past the hard limit, or past the soft limit for longer than
    /// its seconds, the client is closed, its pending replies dropped, and the close logged as Redis logs it
    /// (closeClientOnOutputBufferLimitReached: "scheduled to be closed ASAP" after a reply, "closed" from the
    /// cron). A client within its limits but with more than `readPauseThreshold` waiting is not read from
    /// until it catches up.
    func checkOutputBuffer(_ client: Client, fromCron: Bool = false) {
        let limits = config.clientOutputBufferLimit
        let limit: OutputBufferLimit
        switch client.type {
        case .normal, .master: limit = limits.normal
        case .replica: limit = limits.replica
        case .pubsub: limit = limits.pubsub
        }
        let used = UInt64(client.outputBufferMemory)
        var over = limit.hardBytes > 0 && used >= limit.hardBytes
        if limit.softBytes > 0 && used >= limit.softBytes {
            let now = monotonicMillis()
            if client.softLimitReachedAt == 0 {
                client.softLimitReachedAt = now
            } else if now - client.softLimitReachedAt > Int64(limit.softSeconds) * 1000 {
                over = true
            }
        } else {
            client.softLimitReachedAt = 0
        }
        if over {
            log.warning("Client \(clientInfoLine(client)) "
                + (fromCron ? "closed" : "scheduled to be closed ASAP") + " for overcoming of output buffer limits.")
            closeClient(client)
        } else if client.output.readableBytes > Server.readPauseThreshold && !client.readPaused {
            client.readPaused = true
            updateInterest(client)
        }
    }

    /// Sets the client's epoll interest from its state. Level-triggered epoll keeps reporting unread input,
    /// so a client we are not reading from (paused, or closing after its reply) must not ask for EPOLLIN.
    func updateInterest(_ client: Client) {
        if client.isClosed { return }
        // A blocked client is still read (not executed): its disconnection must be noticed, as in Redis.
        var readable = !client.readPaused && !client.closeAfterReply
        var writable = client.waitingWritable
        if let tls = client.tls { tlsInterest(client, tls, readable: &readable, writable: &writable) }
        do {
            try loop.modify(fd: client.fd, readable: readable, writable: writable, token: client.token)
        } catch {
            closeClient(client)
        }
    }

    // MARK: - Clients

    func closeClient(_ client: Client) {
        if client.isClosed { return }
        if client.blocked != nil { unblock(client) }
        if client.replica != nil { replication.replicaClosed(client) }
        discardTransaction(client)
        unsubscribeEverything(client)
        stopMonitoring(client)
        disableTracking(client)
        forgetClientMemory(client)
        clientsByID[client.id] = nil
        client.isClosed = true
        loop.remove(fd: client.fd)
        client.tls?.shutdown()
        close(client.fd)
        clientsByFD[Int(client.fd)] = nil
        clientCount -= 1
        idle.list.remove(Int(client.fd))
        if client.isMaster || client.linkPending { replication.masterLinkClosed(client) }
    }

    // MARK: - Idle clients

    /// Reading from or writing to a client counts as an interaction (as Redis's `lastinteraction`, which is
    /// in seconds): stamped from the coarse clock, twice per batch of requests (a precise reading each was
    /// 1-1.5% of a request's time at -P 16). A stamp may lag by up to one kernel tick (1/HZ: 4 ms here, 10 ms
    /// at HZ=100), so an idle client can be closed that much before its `timeout` seconds.
    @inline(__always) private func touch(_ client: Client, at now: Int64 = coarseMonotonicMillis()) {
        client.lastInteraction = now
        idle.list.touch(Int(client.fd), at: now)
    }

    /// Closes the clients idle for more than `timeout` seconds (the head of the idle list, while it is
    /// due), then sets the timer for the next one.
    private func closeIdleClients() {
        let now = monotonicMillis()
        while let fd = idle.nextDue(nowMillis: now, timeout: config.timeout) {
            guard let client = clientsByFD[fd] else {
                idle.list.remove(fd)
                continue
            }
            // Blocked clients have their own timeout, and replicas and our master theirs (repl-timeout), as in Redis.
            if client.blocked != nil || client.replicationType != .normal || client.linkPending {
                touch(client, at: now)
                continue
            }
            log.verbose("Closing idle client")
            closeClient(client)
        }
        idle.arm(timeout: config.timeout, in: timers, event: .idleClients)
    }

    /// Live clients, in fd order (CLIENT LIST, INFO).
    var clients: [Client] { clientsByFD.compactMap { $0 } }

    func client(id: Int64) -> Client? { clientsByID[id] }

    // MARK: - Cron

    /// Periodic work, `hz` times a second: starts the slow active expire cycle and moves rehashing along.
    /// Idle clients have their own timer; the cron only notices a changed `timeout`.
    private func cron() {
        if cronPaused { return }
        cronLoops += 1
        tickClock.calibrate()
        keyspace.access.update(nowMillis: wallClockMillis())  // the LRU clock, as Redis's server.lruclock
        memory.samplePeak()
        updateOutputCheckBytes()
        // Memory, idle buffers and soft output limits, each client at least once a second (Server/ClientMemory.swift).
        clientsCron()
        if activeExpireEnabled && !keyspace.expiryPaused { startSlowExpireCycle() }
        // Replication's cron runs once a second, as Redis's replicationCron.
        if cronLoops % max(1, config.hz) == 0 { replication.cron(loops: cronLoops / max(1, config.hz)) }
        if trackingClients > 0 { enforceTrackingTableLimit() }
        rdb.cron()
        // Active rehashing, as Redis's databasesCron: about a millisecond for the first table that needs it,
        // so a keyspace nobody touches still finishes its resize and frees the old bucket array.
        for db in databases where db.rehash(milliseconds: 1) { break }
        if config.timeout != idle.armedTimeout { idle.arm(timeout: config.timeout, in: timers, event: .idleClients) }
        if aof.isOn { aof.cron(now: aof.unixSeconds) }
        aof.rewriteCron()
        closeIdleMigrateConnections()
        aofBarrier = aof.isOn && config.appendfsync == "always"
        if loop.busyPoll.budget > 0, let (waited, interval) = runQueue.sample() {
            loop.busyPoll.noteRunQueue(waited: waited, over: interval)
        }
    }

    // MARK: - Helpers for commands

    /// The current time for expiry decisions, in Unix milliseconds. Inside a command, the time it started,
    /// as Redis 7.2's commandTimeSnapshot: a key cannot expire halfway through a command, and the one clock
    /// read per command (`commandClock`) serves its expiry decisions and its commandstats duration alike.
    @inline(__always) var now: Int64 { callDepth > 0 ? commandClock / 1000 : wallClockMillis() }

    var uptimeSeconds: Int64 { (monotonicMillis() - startedAt) / 1000 }
}

@inline(__always) func monotonicMillis() -> Int64 { monotonicMicros() / 1000 }

/// What printf's `%.<max>s` prints of `bytes`: at most `max` bytes, stopping at the first NUL.
func cString(_ bytes: UnsafeRawBufferPointer, max: Int) -> [UInt8] {
    Array(bytes.prefix(max).prefix { $0 != 0 })
}
