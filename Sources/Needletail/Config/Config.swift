/// Server configuration: embedded defaults, redis.conf, `--name value` arguments, CONFIG GET/SET.
///
/// Every parameter of redis-server 7.0 (see `ConfigParameter.all`) has a current value, kept as the exact
/// string CONFIG GET returns ("yes", "536870912", "3600 1 300 100 60 10000", "127.0.0.1 -::1"). The ones
/// the server reads are mirrored into the typed properties below, both ways: loading or CONFIG SET updates
/// the property, and assigning the property (from code or tests) updates what CONFIG GET shows.
///
/// Parameters Redis has but Needletail does not act on yet are still parsed, validated, stored and shown;
/// after loading, `notYetEffective` lists those set to something other than their default, so the server
/// can log each once.
///
/// Files: `ConfigParameter.swift` (the table), `ConfigValues.swift` (value syntax), `Config+Loading.swift`
/// (redis.conf and the command line), `Config+Commands.swift` (CONFIG GET / SET).
public final class Config {
    // MARK: - Network

    public var port: Int = 6379 { didSet { typedDidChange("port") } }
    /// Addresses to listen on; a leading '-' marks an optional one (skipped if unavailable).
    public var bind: [String] = ["127.0.0.1", "-::1"] { didSet { typedDidChange("bind") } }
    public var protectedMode: Bool = true { didSet { typedDidChange("protected-mode") } }
    public var unixsocket: String = "" { didSet { typedDidChange("unixsocket") } }
    public var unixsocketperm: UInt32 = 0 { didSet { typedDidChange("unixsocketperm") } }
    public var tcpBacklog: Int = 511 { didSet { typedDidChange("tcp-backlog") } }
    public var tcpKeepalive: Int = 300 { didSet { typedDidChange("tcp-keepalive") } }

    // MARK: - Clients and limits

    public var maxclients: Int = 10000 { didSet { typedDidChange("maxclients") } }
    /// Idle seconds before a client is closed; 0 = never.
    public var timeout: Int = 0 { didSet { typedDidChange("timeout") } }
    public var requirepass: String = "" { didSet { typedDidChange("requirepass") } }
    public var protoMaxBulkLen: Int = 512 * 1024 * 1024 { didSet { typedDidChange("proto-max-bulk-len") } }
    public var clientQueryBufferLimit: Int = 1024 * 1024 * 1024 { didSet { typedDidChange("client-query-buffer-limit") } }
    public var clientOutputBufferLimit = ClientOutputBufferLimits() { didSet { typedDidChange("client-output-buffer-limit") } }

    // MARK: - General

    public var databases: Int = 16 { didSet { typedDidChange("databases") } }
    /// Server cron frequency, kept within 1...500 as Redis does.
    public var hz: Int = 10 { didSet { typedDidChange("hz") } }
    public var dynamicHz: Bool = true { didSet { typedDidChange("dynamic-hz") } }
    /// Needletail's hidden busy-poll-us: how long the loop may spin before sleeping (Net/BusyPoll.swift).
    public var busyPollMicros: Int = 20 { didSet { typedDidChange("busy-poll-us") } }
    /// debug, verbose, notice, warning or nothing.
    public var loglevel: String = "notice" { didSet { typedDidChange("loglevel") } }
    /// Empty = standard output.
    public var logfile: String = "" { didSet { typedDidChange("logfile") } }
    public var daemonize: Bool = false { didSet { typedDidChange("daemonize") } }
    public var pidfile: String = "" { didSet { typedDidChange("pidfile") } }
    /// Absolute working directory for persistence files (Redis chdir()s there; CONFIG GET dir shows it).
    public var dir: String = "" { didSet { typedDidChange("dir") } }
    public var activerehashing: Bool = true { didSet { typedDidChange("activerehashing") } }
    public var activeExpireEffort: Int = 1 { didSet { typedDidChange("active-expire-effort") } }
    public var notifyKeyspaceEvents: KeyspaceEvents = [] { didSet { typedDidChange("notify-keyspace-events") } }
    /// Set while storing a `notify-keyspace-events` of "A" plus "n", whose string form has no "n".
    var newKeyEventsBeyondString = false

    // MARK: - Memory

    /// Bytes; 0 = no limit (values above Int.max read as Int.max).
    public var maxmemory: Int = 0 { didSet { typedDidChange("maxmemory") } }
    public var maxmemoryPolicy: String = "noeviction" { didSet { typedDidChange("maxmemory-policy") } }
    public var maxmemorySamples: Int = 5 { didSet { typedDidChange("maxmemory-samples") } }
    public var maxmemoryEvictionTenacity: Int = 10 { didSet { typedDidChange("maxmemory-eviction-tenacity") } }
    /// Client eviction threshold: bytes, or minus a percentage of maxmemory (`10%` is -10); 0 = off.
    public var maxmemoryClients: Int = 0 { didSet { typedDidChange("maxmemory-clients") } }
    public var lfuLogFactor: Int = 10 { didSet { typedDidChange("lfu-log-factor") } }
    public var lfuDecayTime: Int = 1 { didSet { typedDidChange("lfu-decay-time") } }
    public var lazyfreeLazyEviction: Bool = false { didSet { typedDidChange("lazyfree-lazy-eviction") } }
    public var lazyfreeLazyExpire: Bool = false { didSet { typedDidChange("lazyfree-lazy-expire") } }
    public var lazyfreeLazyServerDel: Bool = false { didSet { typedDidChange("lazyfree-lazy-server-del") } }
    public var lazyfreeLazyUserDel: Bool = false { didSet { typedDidChange("lazyfree-lazy-user-del") } }
    public var lazyfreeLazyUserFlush: Bool = false { didSet { typedDidChange("lazyfree-lazy-user-flush") } }

    // MARK: - Encodings (OBJECT ENCODING thresholds)
    // (Read by every write of these types: no dynamic exclusivity check, which would also retain the config.)

    @exclusivity(unchecked) public var hashMaxListpackEntries: Int = 512 { didSet { typedDidChange("hash-max-listpack-entries") } }
    @exclusivity(unchecked) public var hashMaxListpackValue: Int = 64 { didSet { typedDidChange("hash-max-listpack-value") } }
    @exclusivity(unchecked) public var setMaxIntsetEntries: Int = 512 { didSet { typedDidChange("set-max-intset-entries") } }
    @exclusivity(unchecked) public var zsetMaxListpackEntries: Int = 128 { didSet { typedDidChange("zset-max-listpack-entries") } }
    @exclusivity(unchecked) public var zsetMaxListpackValue: Int = 64 { didSet { typedDidChange("zset-max-listpack-value") } }
    @exclusivity(unchecked) public var listMaxListpackSize: Int = -2 { didSet { typedDidChange("list-max-listpack-size") } }
    @exclusivity(unchecked) public var listCompressDepth: Int = 0 { didSet { typedDidChange("list-compress-depth") } }
    @exclusivity(unchecked) public var streamNodeMaxBytes: Int = 4096 { didSet { typedDidChange("stream-node-max-bytes") } }
    @exclusivity(unchecked) public var streamNodeMaxEntries: Int = 100 { didSet { typedDidChange("stream-node-max-entries") } }

    // MARK: - Persistence

    public var save: [SavePoint] = [SavePoint(seconds: 3600, changes: 1), SavePoint(seconds: 300, changes: 100),
                                    SavePoint(seconds: 60, changes: 10000)] { didSet { typedDidChange("save") } }
    public var dbfilename: String = "dump.rdb" { didSet { typedDidChange("dbfilename") } }
    public var rdbcompression: Bool = true { didSet { typedDidChange("rdbcompression") } }
    public var rdbchecksum: Bool = true { didSet { typedDidChange("rdbchecksum") } }
    /// Redis's hidden rdb-key-save-delay: microseconds per key a background snapshot (BGSAVE, the AOF
    /// rewrite, a full sync; not SAVE) keeps to on average since it began, without blocking the loop
    /// (Snapshot.serializeSlice); tests use it to make a save last. Negative: -n keys per microsecond;
    /// 0 = as fast as it can.
    public var rdbKeySaveDelay: Int = 0 { didSet { typedDidChange("rdb-key-save-delay") } }
    public var stopWritesOnBgsaveError: Bool = true { didSet { typedDidChange("stop-writes-on-bgsave-error") } }
    public var appendonly: Bool = false { didSet { typedDidChange("appendonly") } }
    public var appendfilename: String = "appendonly.aof" { didSet { typedDidChange("appendfilename") } }
    public var appenddirname: String = "appendonlydir" { didSet { typedDidChange("appenddirname") } }
    /// everysec, always or no.
    public var appendfsync: String = "everysec" { didSet { typedDidChange("appendfsync") } }
    public var aofUseRdbPreamble: Bool = true { didSet { typedDidChange("aof-use-rdb-preamble") } }
    public var aofLoadTruncated: Bool = true { didSet { typedDidChange("aof-load-truncated") } }
    @exclusivity(unchecked) public var aofTimestampEnabled: Bool = false { didSet { typedDidChange("aof-timestamp-enabled") } }
    public var aofDisableAutoGC: Bool = false { didSet { typedDidChange("aof-disable-auto-gc") } }
    public var noAppendfsyncOnRewrite: Bool = false { didSet { typedDidChange("no-appendfsync-on-rewrite") } }
    /// Growth over the size after the last rewrite (percent) that starts an automatic rewrite; 0 = never.
    public var autoAofRewritePercentage: Int = 100 { didSet { typedDidChange("auto-aof-rewrite-percentage") } }
    public var autoAofRewriteMinSize: Int = 64 * 1024 * 1024 { didSet { typedDidChange("auto-aof-rewrite-min-size") } }

    // MARK: - Replication, scripting, diagnostics

    public var replicaof: (host: String, port: Int)? = nil { didSet { typedDidChange("replicaof") } }
    public var masterauth: String = "" { didSet { typedDidChange("masterauth") } }
    public var masteruser: String = "" { didSet { typedDidChange("masteruser") } }
    public var replicaReadOnly: Bool = true { didSet { typedDidChange("replica-read-only") } }
    public var busyReplyThreshold: Int = 5000 { didSet { typedDidChange("busy-reply-threshold") } }
    public var slowlogLogSlowerThan: Int = 10000 { didSet { typedDidChange("slowlog-log-slower-than") } }
    public var slowlogMaxLen: Int = 128 { didSet { typedDidChange("slowlog-max-len") } }
    public var latencyMonitorThreshold: Int = 0 { didSet { typedDidChange("latency-monitor-threshold") } }
    public var latencyTracking: Bool = true { didSet { typedDidChange("latency-tracking") } }
    public var latencyTrackingInfoPercentiles: [Double] = [50, 99, 99.9] {
        didSet { typedDidChange("latency-tracking-info-percentiles") }
    }
    public var aclfile: String = "" { didSet { typedDidChange("aclfile") } }
    public var acllogMaxLen: Int = 128 { didSet { typedDidChange("acllog-max-len") } }
    /// no, yes or local: whether DEBUG / MODULE / protected CONFIG SET are allowed.
    public var enableDebugCommand: String = "no" { didSet { typedDidChange("enable-debug-command") } }
    public var enableModuleCommand: String = "no" { didSet { typedDidChange("enable-module-command") } }
    public var enableProtectedConfigs: String = "no" { didSet { typedDidChange("enable-protected-configs") } }
    public var trackingTableMaxKeys: Int = 1_000_000 { didSet { typedDidChange("tracking-table-max-keys") } }

    // MARK: - redis.conf-only directives

    /// `rename-command old new` in order; an empty `to` removes the command.
    public internal(set) var renamedCommands: [(from: String, to: String)] = []
    /// `user <name> <rules...>` lines (arguments after `user`), for the ACL layer.
    public internal(set) var users: [[String]] = []
    /// `loadmodule <path> [args...]` lines. Needletail cannot load Redis modules.
    public internal(set) var modules: [(path: String, arguments: [String])] = []
    /// `<module>.<name> <value>` lines.
    public internal(set) var moduleConfigs: [(name: String, value: String)] = []

    // MARK: - Where the configuration came from

    /// Absolute path of the config file given on the command line (nil with none; INFO config_file).
    public internal(set) var configFile: String?
    /// True when `-` asked for the configuration on standard input (Redis logs "Reading config from stdin").
    public internal(set) var readsConfigFromStdin = false
    /// Canonical names of parameters and directives that were configured but that Needletail does not act
    /// on yet (parameters only when set to something other than their default), in first-seen order.
    public internal(set) var notYetEffective: [String] = []

    /// Called after CONFIG SET changed a parameter (its canonical name), once per parameter, after all the
    /// new values are stored. Return an error text to refuse: every value of that CONFIG SET is then
    /// restored (and the hook called again for each restored one) and the client gets
    /// "ERR CONFIG SET failed (possibly related to argument 'name') - <text>". Not called while loading.
    public var onChange: ((_ name: String) -> String?)?

    /// Consulted by `rename-command` while loading: whether a command exists (lowercase name). Redis fails
    /// with "No such command in rename-command"; without a lookup every name is accepted.
    public static var commandExists: ((String) -> Bool)?

    /// Parameter names Needletail acts on; starts from the table's `implemented` flags. A subsystem that
    /// starts honouring a parameter inserts its name so that it is no longer reported as not effective.
    public static var implementedParameters: Set<String> =
        Set(ConfigParameter.all.filter { $0.implemented }.map { $0.name })

    // MARK: - Storage

    /// Current value of each entry of `ConfigParameter.all`, as CONFIG GET shows it.
    var values: [String] = ConfigParameter.all.map { $0.defaultValue }
    /// Set while the typed mirror is written from `values`, so that `didSet` does not write back.
    private var syncing = false
    /// Entries first touched by the configuration being loaded, for `notYetEffective`.
    var touched: [Int] = []
    var touchedSet: Set<Int> = []
    /// Loader state reproducing Redis's `save` quirk (see `Config+Loading.swift`).
    var readingConfigFile = false
    var saveLoaded = false
    /// Test hook: skip opening `logfile` at the end of a load (Redis aborts when it cannot).
    var checksLogfile = true

    public init() {
        dir = ConfigSyntax.currentDirectory()
        values[Config.index("dir")] = dir
    }

    /// A configuration built from redis.conf text (as `needletail-server file.conf` would load it).
    public convenience init(text: String) throws {
        self.init()
        try load(text: text)
    }

    // MARK: - Lookup

    /// Index in `ConfigParameter.all` of each name and alias (lowercase), and whether the key is the alias.
    static let lookup: [String: (index: Int, isAlias: Bool)] = {
        var d: [String: (index: Int, isAlias: Bool)] = [:]
        for (i, p) in ConfigParameter.all.enumerated() {
            d[p.name] = (i, false)
            if let a = p.alias { d[a] = (i, true) }
        }
        return d
    }()

    static func index(_ name: String) -> Int {
        guard let e = lookup[name] else { preconditionFailure("no config parameter \(name)") }
        return e.index
    }

    /// The parameter named `name` or one of its aliases (any case).
    public static func parameter(named name: String) -> ConfigParameter? {
        guard let e = lookup[name.lowercased()], !ConfigParameter.all[e.index].isDirective else { return nil }
        return ConfigParameter.all[e.index]
    }

    public static func isImplemented(_ name: String) -> Bool {
        guard let p = parameter(named: name) else { return implementedParameters.contains(name.lowercased()) }
        return implementedParameters.contains(p.name)
    }

    /// Current value of a parameter (name or alias, any case; hidden ones too), as CONFIG GET shows it.
    public func value(of name: String) -> String? {
        guard let e = Config.lookup[name.lowercased()], !ConfigParameter.all[e.index].isDirective else { return nil }
        return values[e.index]
    }

    // MARK: - Typed mirror

    /// Stores a new canonical value and updates the typed property that mirrors it.
    func store(_ index: Int, _ value: String) {
        values[index] = value
        guard let binding = Config.bindings[ConfigParameter.all[index].name] else { return }
        syncing = true
        binding.write(self, value)
        syncing = false
    }

    private func typedDidChange(_ name: String) {
        if syncing { return }
        values[Config.index(name)] = Config.bindings[name]!.read(self)
    }

    /// How each typed property converts to and from its CONFIG GET string.
    struct Binding {
        let read: (Config) -> String
        let write: (Config, String) -> Void
    }

    private static func int(_ kp: ReferenceWritableKeyPath<Config, Int>) -> Binding {
        Binding(read: { String($0[keyPath: kp]) }, write: { $0[keyPath: kp] = Int($1) ?? 0 })
    }

    /// Memory values: CONFIG GET shows them unsigned; the property clamps at Int.max.
    private static func bytes(_ kp: ReferenceWritableKeyPath<Config, Int>) -> Binding {
        Binding(read: { String(UInt64(bitPattern: Int64($0[keyPath: kp]))) },
                write: { $0[keyPath: kp] = ConfigSyntax.clampToInt(UInt64($1) ?? 0) })
    }

    private static func bool(_ kp: ReferenceWritableKeyPath<Config, Bool>) -> Binding {
        Binding(read: { $0[keyPath: kp] ? "yes" : "no" }, write: { $0[keyPath: kp] = $1 == "yes" })
    }

    private static func string(_ kp: ReferenceWritableKeyPath<Config, String>) -> Binding {
        Binding(read: { $0[keyPath: kp] }, write: { $0[keyPath: kp] = $1 })
    }

    static let bindings: [String: Binding] = [
        "port": int(\.port),
        "bind": Binding(read: { $0.bind.joined(separator: " ") },
                        write: { $0.bind = $1.isEmpty ? [] : $1.split(separator: " ").map(String.init) }),
        "protected-mode": bool(\.protectedMode),
        "unixsocket": string(\.unixsocket),
        "unixsocketperm": Binding(read: { String($0.unixsocketperm, radix: 8) },
                                  write: { $0.unixsocketperm = UInt32($1, radix: 8) ?? 0 }),
        "tcp-backlog": int(\.tcpBacklog),
        "tcp-keepalive": int(\.tcpKeepalive),
        "maxclients": int(\.maxclients),
        "timeout": int(\.timeout),
        "requirepass": string(\.requirepass),
        "proto-max-bulk-len": bytes(\.protoMaxBulkLen),
        "client-query-buffer-limit": bytes(\.clientQueryBufferLimit),
        "client-output-buffer-limit": Binding(
            read: { ConfigSyntax.formatClientOutputBufferLimit($0.clientOutputBufferLimit) },
            write: { c, v in
                let args = v.split(separator: " ").map(String.init)
                if case .success(let l) = ConfigSyntax.clientOutputBufferLimit(args, current: ClientOutputBufferLimits()) {
                    c.clientOutputBufferLimit = l
                }
            }),
        "databases": int(\.databases),
        "hz": int(\.hz),
        "dynamic-hz": bool(\.dynamicHz),
        "loglevel": string(\.loglevel),
        "logfile": string(\.logfile),
        "daemonize": bool(\.daemonize),
        "pidfile": string(\.pidfile),
        "dir": string(\.dir),
        "activerehashing": bool(\.activerehashing),
        "active-expire-effort": int(\.activeExpireEffort),
        "notify-keyspace-events": Binding(
            read: { ConfigSyntax.formatKeyspaceEvents($0.notifyKeyspaceEvents) },
            write: { c, v in
                if case .success(let f) = ConfigSyntax.keyspaceEvents(v) {
                    c.notifyKeyspaceEvents = c.newKeyEventsBeyondString ? f.union(.newKey) : f
                }
                c.newKeyEventsBeyondString = false
            }),
        "maxmemory": bytes(\.maxmemory),
        "maxmemory-policy": string(\.maxmemoryPolicy),
        "maxmemory-samples": int(\.maxmemorySamples),
        "maxmemory-eviction-tenacity": int(\.maxmemoryEvictionTenacity),
        "maxmemory-clients": Binding(
            read: { $0.maxmemoryClients < 0 ? "\(-$0.maxmemoryClients)%" : String($0.maxmemoryClients) },
            write: { c, v in
                if v.hasSuffix("%") {
                    c.maxmemoryClients = -(Int(v.dropLast()) ?? 0)
                } else {
                    c.maxmemoryClients = Int(v) ?? ConfigSyntax.clampToInt(UInt64(v) ?? 0)
                }
            }),
        "lfu-log-factor": int(\.lfuLogFactor),
        "lfu-decay-time": int(\.lfuDecayTime),
        "lazyfree-lazy-eviction": bool(\.lazyfreeLazyEviction),
        "lazyfree-lazy-expire": bool(\.lazyfreeLazyExpire),
        "lazyfree-lazy-server-del": bool(\.lazyfreeLazyServerDel),
        "lazyfree-lazy-user-del": bool(\.lazyfreeLazyUserDel),
        "lazyfree-lazy-user-flush": bool(\.lazyfreeLazyUserFlush),
        "hash-max-listpack-entries": int(\.hashMaxListpackEntries),
        "hash-max-listpack-value": bytes(\.hashMaxListpackValue),
        "set-max-intset-entries": int(\.setMaxIntsetEntries),
        "zset-max-listpack-entries": int(\.zsetMaxListpackEntries),
        "zset-max-listpack-value": bytes(\.zsetMaxListpackValue),
        "list-max-listpack-size": int(\.listMaxListpackSize),
        "list-compress-depth": int(\.listCompressDepth),
        "stream-node-max-bytes": bytes(\.streamNodeMaxBytes),
        "stream-node-max-entries": int(\.streamNodeMaxEntries),
        "save": Binding(read: { ConfigSyntax.formatSave($0.save) },
                        write: { c, v in
                            let args = v.split(separator: " ").map(String.init)
                            if case .success(let s) = ConfigSyntax.save(args) { c.save = s }
                        }),
        "dbfilename": string(\.dbfilename),
        "rdbcompression": bool(\.rdbcompression),
        "rdb-key-save-delay": int(\.rdbKeySaveDelay),
        "busy-poll-us": int(\.busyPollMicros),
        "rdbchecksum": bool(\.rdbchecksum),
        "stop-writes-on-bgsave-error": bool(\.stopWritesOnBgsaveError),
        "appendonly": bool(\.appendonly),
        "appendfilename": string(\.appendfilename),
        "appenddirname": string(\.appenddirname),
        "appendfsync": string(\.appendfsync),
        "aof-use-rdb-preamble": bool(\.aofUseRdbPreamble),
        "aof-load-truncated": bool(\.aofLoadTruncated),
        "aof-timestamp-enabled": bool(\.aofTimestampEnabled),
        "aof-disable-auto-gc": bool(\.aofDisableAutoGC),
        "no-appendfsync-on-rewrite": bool(\.noAppendfsyncOnRewrite),
        "auto-aof-rewrite-percentage": int(\.autoAofRewritePercentage),
        "auto-aof-rewrite-min-size": bytes(\.autoAofRewriteMinSize),
        "replicaof": Binding(read: { c in c.replicaof.map { "\($0.host) \($0.port)" } ?? "" },
                             write: { c, v in
                                 let parts = v.split(separator: " ").map(String.init)
                                 c.replicaof = parts.count == 2 ? (parts[0], Int(parts[1]) ?? 0) : nil
                             }),
        "masterauth": string(\.masterauth),
        "masteruser": string(\.masteruser),
        "replica-read-only": bool(\.replicaReadOnly),
        "busy-reply-threshold": int(\.busyReplyThreshold),
        "slowlog-log-slower-than": int(\.slowlogLogSlowerThan),
        "slowlog-max-len": int(\.slowlogMaxLen),
        "latency-monitor-threshold": int(\.latencyMonitorThreshold),
        "latency-tracking": bool(\.latencyTracking),
        "latency-tracking-info-percentiles": Binding(
            read: { ConfigSyntax.formatPercentiles($0.latencyTrackingInfoPercentiles) },
            write: { c, v in
                c.latencyTrackingInfoPercentiles = v.split(separator: " ").compactMap { Double(String($0)) }
            }),
        "aclfile": string(\.aclfile),
        "acllog-max-len": int(\.acllogMaxLen),
        "enable-debug-command": string(\.enableDebugCommand),
        "enable-module-command": string(\.enableModuleCommand),
        "enable-protected-configs": string(\.enableProtectedConfigs),
        "tracking-table-max-keys": int(\.trackingTableMaxKeys),
    ]
}
