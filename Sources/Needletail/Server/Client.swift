import Glibc

/// One client and its state: buffers, the request being parsed, the selected database, protocol version,
/// name, authentication, and the state machine of Redis's client flags:
///
///     normal ──(a blocking command finds nothing)──▶ blocked ──(key ready / timeout / CLIENT UNBLOCK)──▶ normal
///
/// subscribed (Server/Subscriptions.swift), and in MULTI (Server/Transaction.swift). A blocked client is not read from; its command runs again through
/// `Server.call` when a key it waits on is ready (Server/Blocking.swift).
///
/// Most clients are connections (`kind == .connection`). Internal clients have no socket (fd -1): scripts,
/// AOF loading, a replica's master link and tests run commands on them, with arguments the request owns,
/// and their replies go to a sink (`ReplySink`) instead of the wire.
final class Client {
    enum Kind {
        case connection
        case `internal`
    }

    /// Where an internal client's replies go.
    enum ReplySink {
        /// Written to the socket (connections).
        case wire
        /// Dropped (AOF loading, the master link's commands).
        case discard
        /// Kept in `output` for the caller to take (`Server.run(_:on:)`, scripts, tests).
        case capture
    }

    let kind: Kind
    var replySink: ReplySink
    let id: Int64
    let fd: Int32
    /// Distinguishes this client from a later one on the same fd (packed into epoll tokens).
    let generation: UInt32
    let address: String
    let localAddress: String
    let isUnixSocket: Bool
    /// Clients never outlive their server (it closes them all before it goes), so no reference counting here:
    /// the server is lent to each reader from `Unmanaged`. (An `unowned(unsafe)` reference is retained
    /// around every use; this one only around calls the compiler cannot prove release nothing, and
    /// `withDatabase` shows the way around those.)
    var server: Server { _read { yield serverReference._withUnsafeGuaranteedRef { $0 } } }
    private let serverReference: Unmanaged<Server>

    let input = IOBuffer(capacity: 16 * 1024)
    let output = IOBuffer(capacity: 16 * 1024)
    @exclusivity(unchecked) var parser = RequestParser()
    @exclusivity(unchecked) var reply: ReplyWriter

    /// Databases live as long as the server, which outlives its clients: lent to each reader as `server` is.
    var db: Database { _read { yield dbReference._withUnsafeGuaranteedRef { $0 } } }
    /// Runs `body` with the database lent for its whole run. `c.db.lookup(...)` still costs a retain and a
    /// release (an atomic pair, ~7 ns) when the lookup may call something that could release (it may expire
    /// the key, or notify a miss): the compiler cannot see that the server keeps the database alive. A
    /// handler on the hot path borrows it here instead.
    @inline(__always) func withDatabase<R>(_ body: (Database) -> R) -> R {
        dbReference._withUnsafeGuaranteedRef(body)
    }
    @exclusivity(unchecked) private var dbReference: Unmanaged<Database>
    var protocolVersion = 2 {
        didSet { reply.resp3 = protocolVersion == 3 }
    }
    @exclusivity(unchecked) var name: ByteString?
    @exclusivity(unchecked) var libraryName: ByteString?
    @exclusivity(unchecked) var libraryVersion: ByteString?
    @exclusivity(unchecked) var authenticated: Bool
    /// The ACL user it runs as (Security/); nil for our master's link, which may run anything (Redis's
    /// NULL user, shown as `(superuser)`).
    @exclusivity(unchecked) var user: ACLUser?

    let createdAt: Int64          // monotonic ms
    @exclusivity(unchecked) var lastInteraction: Int64    // monotonic ms
    /// The last command run (CLIENT LIST `cmd=`); a reference, so recording it costs nothing per request.
    @exclusivity(unchecked) unowned(unsafe) var lastCommand: Command?  // commands live as long as the server
    var lastCommandName: String { lastCommand?.fullName ?? "NULL" }

    /// Set on a protocol error or QUIT: the pending replies are written, then the connection closes.
    @exclusivity(unchecked) var closeAfterReply = false
    /// Closed (or about to be): no more reads, writes or commands.
    @exclusivity(unchecked) var isClosed = false
    /// In the server's list of clients with output to write before the loop sleeps.
    @exclusivity(unchecked) var pendingWrite = false
    /// EPOLLOUT is armed because a write was short.
    @exclusivity(unchecked) var waitingWritable = false
    /// The TLS session of a client of `tls-port` (or of our master link with tls-replication); nil on plain TCP.
    @exclusivity(unchecked) var tls: TLSConnection?
    /// Reading is paused because too many replies are waiting to be read by a slow client.
    @exclusivity(unchecked) var readPaused = false
    /// Running a script that let the server serve others meanwhile: its requests (whose arguments the script
    /// still reads) stay in the query buffer, unread, until it ends (Redis's protectClient).
    @exclusivity(unchecked) var isProtected = false
    /// CLIENT REPLY state, as Redis's CLIENT_REPLY_OFF / _SKIP / _SKIP_NEXT flags: replies are discarded
    /// while `replyOff`, or for the one command after CLIENT REPLY SKIP (Server.processInput).
    @exclusivity(unchecked) var replyOff = false
    @exclusivity(unchecked) var replySkip = false
    @exclusivity(unchecked) var replySkipNext = false
    /// CLIENT NO-EVICT / CLIENT NO-TOUCH (flags `e` and `T` in CLIENT LIST).
    @exclusivity(unchecked) var noEvict = false
    @exclusivity(unchecked) var noTouch = false

    /// Set while the client waits in a blocking command (Server/Blocking.swift).
    @exclusivity(unchecked) var blocked: BlockedState?
    /// The blocked command is running again because a key it waits on is ready: a handler that still finds
    /// nothing leaves the client blocked where it was (same queue position, same deadline).
    @exclusivity(unchecked) var reprocessingBlockedCommand = false
    /// While a blocked command runs again: the key that became ready, which it is served from first (Redis
    /// 7.0 serves a blocked client from the key that received data, not the first of its keys).
    @exclusivity(unchecked) var servingReadyKey: ByteString?
    /// Set by `Server.block` when the command run again found nothing again.
    @exclusivity(unchecked) var stillBlocked = false
    /// A request the pause held back, to run first when the client resumes (Server/Blocking.swift).
    @exclusivity(unchecked) var postponedRequest: [ByteString]?
    /// When the output first exceeded its class's soft limit (monotonic ms), 0 while under it.
    @exclusivity(unchecked) var softLimitReachedAt: Int64 = 0

    // Memory accounting and client eviction (Server/ClientMemory.swift).
    /// What the client's objects themselves take (the Client, its buffers' and parser's objects): measured once.
    @exclusivity(unchecked) var objectMemory = 0
    /// The memory and type last added to the server's totals (Redis's last_memory_usage / last_memory_type).
    @exclusivity(unchecked) var lastMemoryUsage = 0
    @exclusivity(unchecked) var lastMemoryType = ClientType.normal
    /// The eviction bucket the client is listed in (-1: none, it cannot be evicted) and its slot there.
    @exclusivity(unchecked) var memoryBucket = -1
    @exclusivity(unchecked) var memoryBucketSlot = 0

    /// MULTI's queue; nil while the client is not in a transaction (Server/Transaction.swift).
    @exclusivity(unchecked) var transaction: TransactionQueue?
    /// The last transaction's emptied queue, reused by the next MULTI.
    @exclusivity(unchecked) var spareTransaction: TransactionQueue?
    /// Running EXEC's commands: they may not block (Redis's CLIENT_DENY_BLOCKING).
    @exclusivity(unchecked) var executingTransaction = false
    /// The keys it watches, and whether one changed since (Redis's CLIENT_DIRTY_CAS): EXEC then fails.
    @exclusivity(unchecked) var watchedKeys: [WatchedKey] = []
    @exclusivity(unchecked) var watchTouched = false

    /// Its channels, patterns and shard channels; nil while it has none (Server/Subscriptions.swift).
    @exclusivity(unchecked) var subscriptions: ClientSubscriptions? { didSet { updateRestricted() } }
    /// While a command runs under CLIENT REPLY OFF/SKIP: the message frames delivered to this client, kept
    /// when its replies are dropped (Server.executeUnderReplyControl).
    @exclusivity(unchecked) var heldPushes: [UInt8]?
    /// CLIENT TRACKING's state, nil while off (Server/Tracking.swift).
    @exclusivity(unchecked) var tracking: ClientTracking?
    /// In MONITOR mode (Server/Monitor.swift).
    @exclusivity(unchecked) var isMonitor = false
    /// Subscribed or monitoring: requests get extra checks (`Server.commandToRun`).
    @exclusivity(unchecked) var restricted = false

    /// How the running command is propagated to the AOF and replicas (Server/Call.swift).
    @exclusivity(unchecked) var propagation = CommandPropagation()

    // Replication (Replication/).
    /// A replica of ours: its sync state, acks and announced address (set by REPLCONF, SYNC, PSYNC).
    @exclusivity(unchecked) var replica: ReplicaState?
    /// Our master's connection: before it is synced (its events go to the handshake) and once synced.
    @exclusivity(unchecked) var linkPending = false
    @exclusivity(unchecked) var isMaster = false
    /// `.replica` or `.master` once it is one (Redis's CLIENT_SLAVE / CLIENT_MASTER), `.normal` otherwise.
    @exclusivity(unchecked) var replicationType = ClientType.normal
    /// The replication offset right after its last write that was propagated (WAIT waits for it).
    @exclusivity(unchecked) var writeOffset: Int64 = 0
    /// The AOF's byte count right after this client's last write went to it (WAITAOF's local fsync).
    @exclusivity(unchecked) var aofWriteOffset: Int64 = 0

    init(id: Int64, fd: Int32, generation: UInt32, address: String, localAddress: String, isUnixSocket: Bool,
         server: Server, db: Database, now: Int64, kind: Kind = .connection) {
        self.kind = kind
        self.replySink = kind == .connection ? .wire : .capture
        self.id = id
        self.fd = fd
        self.generation = generation
        self.address = address
        self.localAddress = localAddress
        self.isUnixSocket = isUnixSocket
        serverReference = Unmanaged.passUnretained(server)
        dbReference = Unmanaged.passUnretained(db)
        self.reply = ReplyWriter(buffer: output, stats: server.stats)
        self.user = server.acl.defaultUser
        self.authenticated = !server.acl.authRequired
        createdAt = now
        lastInteraction = now
        objectMemory = measureObjectMemory()
    }

    /// An internal client (no socket) on database 0, replies captured.
    static func makeInternal(server: Server, id: Int64) -> Client {
        Client(id: id, fd: -1, generation: 0, address: "", localAddress: "", isUnixSocket: false, server: server,
               db: server.databases[0], now: monotonicMillis(), kind: .internal)
    }

    var token: UInt64 { UInt64(UInt32(bitPattern: fd)) | UInt64(generation) << 32 }

    var isBlocked: Bool { blocked != nil }

    /// Redis's getClientType: the class CLIENT LIST / KILL TYPE name, `client-output-buffer-limit` applies
    /// (a master as normal) and INFO's client memory is summed by: a replica or our master first, then a
    /// subscribed client is pubsub, every other one (MONITOR too, as in Redis) normal.
    @inline(__always) var type: ClientType {
        replicationType != .normal ? replicationType : subscriptions != nil ? .pubsub : .normal
    }

    func select(_ database: Database) { dbReference = Unmanaged.passUnretained(database) }

    /// `server.now`: the running command's time, for expiry.
    @inline(__always) var now: Int64 { server.now }

    // MARK: - Arguments of the request being executed

    @inline(__always) var argc: Int { parser.args.count }

    /// The bytes of argument `i` (0 is the command name). Valid until the request finishes.
    @inline(__always) func arg(_ i: Int) -> UnsafeRawBufferPointer {
        let (spans, bytes) = argumentSpans
        let span = spans[i]
        return UnsafeRawBufferPointer(start: bytes + span.offset, count: span.count)
    }

    /// Every argument of the request at once: their spans and the bytes the spans index (the query buffer
    /// or the parser's inline copy), for encoders that read them all (the AOF and the replication stream).
    @inline(__always) var argumentSpans: (spans: ArgSpans, bytes: UnsafeRawPointer) {
        switch parser.argsBase {
        case .queryBuffer: return (parser.args, UnsafeRawPointer(input.base + input.readIndex))
        case .inlineStorage: return (parser.args, UnsafeRawPointer(parser.inlineStorage.base))
        }
    }

    /// A copy of argument `i`, for storing.
    @inline(__always) func argBytes(_ i: Int) -> ByteString { ByteString(arg(i)) }

    /// A copy of every argument: the request as it can outlive its query buffer.
    func ownedArguments() -> [ByteString] { (0..<argc).map { argBytes($0) } }

    /// Argument `i` decoded as UTF-8 (error texts, options, config; never keys or values on hot paths).
    func argString(_ i: Int) -> String { String(decoding: arg(i), as: UTF8.self) }

    /// Whether argument `i` equals `word`, ignoring ASCII case (option names such as "EX", "WITHSCORES").
    @inline(__always) func argIs(_ i: Int, _ word: StaticString) -> Bool {
        let a = arg(i)
        guard a.count == word.utf8CodeUnitCount else { return false }
        let w = word.utf8Start
        for j in 0..<a.count where asciiLower(a[j]) != asciiLower(w[j]) { return false }
        return true
    }

    // MARK: - Shared error replies

    /// This is the client scripts run commands on (Redis's CLIENT_SCRIPT flag on its lua_client).
    var isScriptCaller: Bool { server.scripting.client === self }
    /// The user a command run now answers to: the client's own, or for the scripting client the running
    /// script's caller's (Redis runs a script's commands as its caller's user).
    var aclUser: ACLUser? { isScriptCaller ? server.scripting.running?.caller.user : user }

    func replyWrongType() { reply.error("WRONGTYPE Operation against a key holding the wrong kind of value") }
    func replySyntaxError() { reply.error("ERR syntax error") }
    func replyNotInteger() { reply.error("ERR value is not an integer or out of range") }
    func replyNotFloat() { reply.error("ERR value is not a valid float") }

    /// Parses argument `i` as a 64-bit integer, replying Redis's error (and returning nil) when it is not.
    func int64Arg(_ i: Int) -> Int64? {
        guard let v = parseInt64(arg(i)) else { replyNotInteger(); return nil }
        return v
    }

    /// Parses argument `i` as a double, replying Redis's error (and returning nil) when it is not.
    func doubleArg(_ i: Int) -> Double? {
        guard let v = parseDouble(arg(i)) else { replyNotFloat(); return nil }
        return v
    }
}

/// Redis's client types (CLIENT_TYPE_NORMAL, _SLAVE, _PUBSUB, _MASTER): CLIENT LIST TYPE, CLIENT KILL TYPE,
/// the output buffer limit classes and INFO's client memory. The raw values index per-type tables.
enum ClientType: Int, CaseIterable {
    case normal = 0, replica, pubsub, master

    /// Redis's getClientTypeByName (any case; "slave" is "replica").
    init?(_ name: UnsafeRawBufferPointer) {
        switch String(decoding: name, as: UTF8.self).lowercased() {
        case "normal": self = .normal
        case "slave", "replica": self = .replica
        case "pubsub": self = .pubsub
        case "master": self = .master
        default: return nil
        }
    }
}
