/// The declarative table of every redis-server 7.0 configuration parameter (as its `config.c` declares
/// them), plus the directives that only exist in redis.conf (`include`, `rename-command`, `user`,
/// `loadmodule`, `sentinel`).
///
/// Each entry says how a value is parsed and validated, its default (exactly as CONFIG GET shows it), and
/// whether CONFIG SET may change it. One table drives redis.conf and `--name value` loading, CONFIG GET
/// (glob over names and aliases, hidden ones by exact name only) and CONFIG SET. Values are kept in the
/// form CONFIG GET returns them; `Config` mirrors the ones the server reads into typed properties.
///
/// Redis registers an alias as a second, independent entry that shares the variable (so
/// `CONFIG SET replica-priority 1 slave-priority 2` is not a "duplicate parameter", and errors name the
/// alias that was used). `ConfigParameter` keeps one entry with an `alias`; `Config` reproduces the rest.
public struct ConfigParameter {
    public enum Kind {
        /// `yes` / `no` (case-insensitive).
        case bool
        /// Integers, memory sizes, percentages and octal numbers, as Redis's numeric configs.
        case number(NumberFormat)
        /// One of a fixed set of names (case-insensitive). Several names may share a value; CONFIG GET
        /// shows the first name with the stored value (`oom-score-adj relative` reads back as `yes`).
        case enumeration([(name: String, value: Int)])
        /// Several names from a set, OR-ed together (`shutdown-on-sigterm nosave now`); 0 shows its name.
        case flags([(name: String, value: Int)])
        /// Free text; an empty value is allowed (CONFIG GET shows "").
        case string
        /// Parameters with their own syntax and CONFIG GET format.
        case special(Special)
        /// A redis.conf-only directive; not a CONFIG GET/SET parameter.
        case directive
    }

    /// Redis's numeric config: bounds checked signed, or unsigned for the C types `unsigned int`,
    /// `unsigned long long` and `size_t` (bounds are then bit patterns of UInt64).
    public struct NumberFormat {
        public var min: Int64
        public var max: Int64
        public var unsignedBounds = false
        /// Accepts `memtoull` sizes (`10`, `1k`=1000, `1kb`=1024, `m`, `mb`, `g`, `gb`; CONFIG GET shows bytes).
        public var memory = false
        /// Also accepts `N%` (stored as -N, shown as `N%`).
        public var percent = false
        /// Parsed with strtoll base 8 and shown in octal (`unixsocketperm`).
        public var octal = false
    }

    public enum Special {
        case dir, save, clientOutputBufferLimit, oomScoreAdjValues, notifyKeyspaceEvents, bind, replicaof,
             latencyTrackingInfoPercentiles
    }

    public struct Flags: OptionSet {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        /// CONFIG SET answers "can't set immutable config".
        public static let immutable = Flags(rawValue: 1)
        /// CONFIG SET needs `enable-protected-configs yes` (or `local` and a local client).
        public static let protected = Flags(rawValue: 2)
        /// Left out of CONFIG GET patterns; an exact name still works.
        public static let hidden = Flags(rawValue: 4)
        /// Takes several arguments in redis.conf; CONFIG SET splits its value on single spaces.
        public static let multiArg = Flags(rawValue: 8)
        /// CONFIG SET answers -LOADING while a dataset loads.
        public static let denyLoading = Flags(rawValue: 16)
        /// Secret (redacted from SLOWLOG / MONITOR by the command layer).
        public static let sensitive = Flags(rawValue: 32)
        /// Needletail's own, not redis-server's: hidden too, and CONFIG REWRITE writes it only when changed (a
        /// forced rewrite's file must still load in redis-server).
        public static let needletailOwn = Flags(rawValue: 64)
    }

    public let name: String
    public let alias: String?
    public let kind: Kind
    /// The default, formatted as CONFIG GET returns it.
    public let defaultValue: String
    public let flags: Flags
    /// Whether Needletail acts on the value yet (others are stored, shown and reported as not effective).
    public let implemented: Bool
    /// Extra validation of a single-valued parameter: returns Redis's error text, nil when valid.
    let validate: ((String) -> String?)?

    public var isMutable: Bool { !flags.contains(.immutable) }
    public var isDirective: Bool { if case .directive = kind { return true } else { return false } }
}

// MARK: - Table builders

extension ConfigParameter {
    private typealias P = ConfigParameter

    private static func bool(_ name: String, alias: String? = nil, _ def: Bool, _ flags: Flags = [],
                             implemented: Bool = false, validate: ((String) -> String?)? = nil) -> P {
        P(name: name, alias: alias, kind: .bool, defaultValue: def ? "yes" : "no", flags: flags,
          implemented: implemented, validate: validate)
    }

    /// Signed integer (C int, long, long long, time_t, off_t).
    private static func int(_ name: String, alias: String? = nil, _ min: Int64, _ max: Int64, _ def: Int64,
                            _ flags: Flags = [], implemented: Bool = false) -> P {
        P(name: name, alias: alias, kind: .number(NumberFormat(min: min, max: max)), defaultValue: String(def),
          flags: flags, implemented: implemented, validate: nil)
    }

    /// Unsigned integer (C unsigned int, size_t, unsigned long long): bounds compared unsigned.
    private static func uint(_ name: String, alias: String? = nil, _ min: UInt64, _ max: UInt64, _ def: UInt64,
                             _ flags: Flags = [], implemented: Bool = false) -> P {
        P(name: name, alias: alias,
          kind: .number(NumberFormat(min: Int64(bitPattern: min), max: Int64(bitPattern: max), unsignedBounds: true)),
          defaultValue: String(def), flags: flags, implemented: implemented, validate: nil)
    }

    private static func memory(_ name: String, alias: String? = nil, _ min: UInt64, _ max: UInt64, _ def: UInt64,
                               unsignedBounds: Bool, _ flags: Flags = [], implemented: Bool = false) -> P {
        P(name: name, alias: alias,
          kind: .number(NumberFormat(min: Int64(bitPattern: min), max: Int64(bitPattern: max),
                                     unsignedBounds: unsignedBounds, memory: true)),
          defaultValue: String(def), flags: flags, implemented: implemented, validate: nil)
    }

    private static func oneOf(_ name: String, _ values: [(String, Int)], _ def: String, _ flags: Flags = [],
                              implemented: Bool = false) -> P {
        P(name: name, alias: nil, kind: .enumeration(values.map { (name: $0.0, value: $0.1) }), defaultValue: def,
          flags: flags, implemented: implemented, validate: nil)
    }

    private static func oneOf(_ name: String, _ values: [String], _ def: String, _ flags: Flags = [],
                              implemented: Bool = false) -> P {
        oneOf(name, values.enumerated().map { ($0.element, $0.offset) }, def, flags, implemented: implemented)
    }

    private static func string(_ name: String, alias: String? = nil, _ def: String = "", _ flags: Flags = [],
                               implemented: Bool = false, validate: ((String) -> String?)? = nil) -> P {
        P(name: name, alias: alias, kind: .string, defaultValue: def, flags: flags, implemented: implemented,
          validate: validate)
    }

    private static func special(_ name: String, alias: String? = nil, _ kind: Special, _ def: String,
                                _ flags: Flags, implemented: Bool = false) -> P {
        P(name: name, alias: alias, kind: .special(kind), defaultValue: def, flags: flags, implemented: implemented,
          validate: nil)
    }

    private static func directive(_ name: String, implemented: Bool = false) -> P {
        P(name: name, alias: nil, kind: .directive, defaultValue: "", flags: [.immutable, .hidden],
          implemented: implemented, validate: nil)
    }
}

// MARK: - The table

private let intMax = Int64(Int32.max)
private let intMin = Int64(Int32.min)
private let longMax = Int64.max
private let uintMax = UInt64(UInt32.max)

private let protectedAction = ["no", "yes", "local"]
private let shutdownFlags: [(name: String, value: Int)] =
    [("default", 0), ("save", 1), ("nosave", 2), ("now", 4), ("force", 8)]

extension ConfigParameter {
    /// Every parameter and directive of redis-server 7.0, in config.c's order.
    public static let all: [ConfigParameter] = [
        // Bool configs
        bool("rdbchecksum", true, .immutable, implemented: true),
        bool("daemonize", false, .immutable, implemented: true),
        bool("io-threads-do-reads", false, .immutable),
        bool("always-show-logo", false, .immutable),
        bool("protected-mode", true),
        bool("rdbcompression", true, implemented: true),
        bool("rdb-del-sync-files", false),
        bool("activerehashing", true),
        bool("stop-writes-on-bgsave-error", true, implemented: true),
        bool("set-proc-title", true, .immutable),
        bool("dynamic-hz", true),
        bool("lazyfree-lazy-eviction", false),
        bool("lazyfree-lazy-expire", false),
        bool("lazyfree-lazy-server-del", false),
        bool("lazyfree-lazy-user-del", false),
        bool("lazyfree-lazy-user-flush", false),
        bool("repl-disable-tcp-nodelay", false),
        bool("repl-diskless-sync", true, implemented: true),
        bool("aof-rewrite-incremental-fsync", true),
        bool("no-appendfsync-on-rewrite", false, implemented: true),
        bool("cluster-require-full-coverage", true),
        bool("rdb-save-incremental-fsync", true),
        bool("aof-load-truncated", true, implemented: true),
        bool("aof-use-rdb-preamble", true, implemented: true),
        bool("aof-timestamp-enabled", false, implemented: true),
        bool("cluster-replica-no-failover", alias: "cluster-slave-no-failover", false),
        bool("replica-lazy-flush", alias: "slave-lazy-flush", false),
        bool("replica-serve-stale-data", alias: "slave-serve-stale-data", true, implemented: true),
        bool("replica-read-only", alias: "slave-read-only", true, implemented: true),
        bool("replica-ignore-maxmemory", alias: "slave-ignore-maxmemory", true, implemented: true),
        bool("jemalloc-bg-thread", true),
        bool("activedefrag", false, validate: { value in
            // Debian's redis-server (system jemalloc) answers the same: there is no defragmenter.
            value.lowercased() == "yes"
                ? "Active defragmentation cannot be enabled: it requires a Redis server compiled with a modified "
                    + "Jemalloc like the one shipped by default with the Redis source distribution"
                : nil
        }),
        bool("syslog-enabled", false, .immutable),
        bool("cluster-enabled", false, .immutable),
        bool("appendonly", false, .denyLoading, implemented: true),
        bool("cluster-allow-reads-when-down", false),
        bool("cluster-allow-pubsubshard-when-down", true),
        bool("crash-log-enabled", true),
        bool("crash-memcheck-enabled", true),
        bool("use-exit-on-panic", false, .hidden),
        bool("disable-thp", true, .immutable),
        bool("cluster-allow-replica-migration", true),
        bool("replica-announced", true, implemented: true),
        bool("latency-tracking", true),
        bool("aof-disable-auto-gc", false, implemented: true),
        bool("replica-ignore-disk-write-errors", false),

        // String configs
        string("aclfile", "", .immutable, implemented: true),
        string("unixsocket", "", .immutable, implemented: true),
        string("pidfile", "", .immutable, implemented: true),
        string("replica-announce-ip", alias: "slave-announce-ip", implemented: true),
        string("masteruser", "", .sensitive, implemented: true),
        string("cluster-announce-ip"),
        string("cluster-config-file", "nodes.conf", .immutable),
        string("cluster-announce-hostname", "", validate: validateAnnouncedHostname),
        string("syslog-ident", "redis", .immutable),
        string("dbfilename", "dump.rdb", .protected, implemented: true, validate: { value in
            isBaseName(value) ? nil : "dbfilename can't be a path, just a filename"
        }),
        string("appendfilename", "appendonly.aof", .immutable, implemented: true, validate: { value in
            value.isEmpty ? "appendfilename can't be empty"
                : isBaseName(value) ? nil : "appendfilename can't be a path, just a filename"
        }),
        string("appenddirname", "appendonlydir", .immutable, implemented: true, validate: { value in
            value.isEmpty ? "appenddirname can't be empty"
                : isBaseName(value) ? nil : "appenddirname can't be a path, just a dirname"
        }),
        string("server_cpulist", "", .immutable),
        string("bio_cpulist", "", .immutable),
        string("aof_rewrite_cpulist", "", .immutable),
        string("bgsave_cpulist", "", .immutable),
        string("ignore-warnings"),
        string("proc-title-template", "{title} {listen-addr} {server-mode}", validate: { value in
            isValidProcTitleTemplate(value) ? nil : "template format is invalid or contains unknown variables"
        }),
        string("bind-source-addr"),
        string("logfile", "", .immutable, implemented: true),
        string("masterauth", "", .sensitive, implemented: true),
        string("requirepass", "", .sensitive, implemented: true),

        // Enum configs
        oneOf("supervised", [("upstart", 1), ("systemd", 2), ("auto", 3), ("no", 0)], "no", .immutable),
        oneOf("syslog-facility", ["user", "local0", "local1", "local2", "local3", "local4", "local5", "local6",
                                  "local7"], "local0", .immutable),
        oneOf("repl-diskless-load", ["disabled", "on-empty-db", "swapdb"], "disabled", .denyLoading),
        // Redis 7.0's levels, so CONFIG SET's error lists the same ones (7.2 adds "nothing").
        oneOf("loglevel", ["debug", "verbose", "notice", "warning"], "notice", implemented: true),
        oneOf("maxmemory-policy", ["volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl", "allkeys-lru",
                                   "allkeys-lfu", "allkeys-random", "noeviction"], "noeviction", implemented: true),
        oneOf("appendfsync", ["everysec", "always", "no"], "everysec", implemented: true),
        oneOf("oom-score-adj", [("no", 0), ("yes", 1), ("relative", 1), ("absolute", 2)], "no"),
        oneOf("acl-pubsub-default", [("allchannels", 1), ("resetchannels", 0)], "resetchannels", implemented: true),
        oneOf("sanitize-dump-payload", ["no", "yes", "clients"], "no"),
        oneOf("enable-protected-configs", protectedAction, "no", .immutable),
        oneOf("enable-debug-command", protectedAction, "no", .immutable),
        oneOf("enable-module-command", protectedAction, "no", .immutable),
        oneOf("cluster-preferred-endpoint-type", ["ip", "hostname", "unknown-endpoint"], "ip"),
        oneOf("propagation-error-behavior", ["ignore", "panic", "panic-on-replicas"], "ignore"),
        P(name: "shutdown-on-sigint", alias: nil, kind: .flags(shutdownFlags), defaultValue: "default",
          flags: .multiArg, implemented: true, validate: nil),
        P(name: "shutdown-on-sigterm", alias: nil, kind: .flags(shutdownFlags), defaultValue: "default",
          flags: .multiArg, implemented: true, validate: nil),

        // Integer configs
        int("databases", 1, intMax, 16, .immutable, implemented: true),
        int("port", 0, 65535, 6379, implemented: true),
        int("io-threads", 1, 128, 1, .immutable),
        int("auto-aof-rewrite-percentage", 0, intMax, 100, implemented: true),
        int("cluster-replica-validity-factor", alias: "cluster-slave-validity-factor", 0, intMax, 10),
        int("list-max-listpack-size", alias: "list-max-ziplist-size", intMin, intMax, -2),
        int("tcp-keepalive", 0, intMax, 300),
        int("cluster-migration-barrier", 0, intMax, 1),
        int("active-defrag-cycle-min", 1, 99, 1),
        int("active-defrag-cycle-max", 1, 99, 25),
        int("active-defrag-threshold-lower", 0, 1000, 10),
        int("active-defrag-threshold-upper", 0, 1000, 100),
        int("lfu-log-factor", 0, intMax, 10, implemented: true),
        int("lfu-decay-time", 0, intMax, 1, implemented: true),
        int("replica-priority", alias: "slave-priority", 0, intMax, 100, implemented: true),
        int("repl-diskless-sync-delay", 0, intMax, 5, implemented: true),
        int("maxmemory-samples", 1, intMax, 5, implemented: true),
        int("maxmemory-eviction-tenacity", 0, 100, 10, implemented: true),
        int("timeout", 0, intMax, 0, implemented: true),
        int("replica-announce-port", alias: "slave-announce-port", 0, 65535, 0, implemented: true),
        int("tcp-backlog", 0, intMax, 511, .immutable, implemented: true),
        int("cluster-port", 0, 65535, 0, .immutable),
        int("cluster-announce-bus-port", 0, 65535, 0),
        int("cluster-announce-port", 0, 65535, 0),
        int("cluster-announce-tls-port", 0, 65535, 0),
        int("repl-timeout", 1, intMax, 60, implemented: true),
        int("repl-ping-replica-period", alias: "repl-ping-slave-period", 1, intMax, 10, implemented: true),
        int("list-compress-depth", 0, intMax, 0),
        int("rdb-key-save-delay", intMin, intMax, 0, .hidden, implemented: true),
        int("key-load-delay", intMin, intMax, 0, .hidden, implemented: true),
        int("active-expire-effort", 1, 10, 1),
        int("hz", 0, intMax, 10, implemented: true),
        int("min-replicas-to-write", alias: "min-slaves-to-write", 0, intMax, 0, implemented: true),
        int("min-replicas-max-lag", alias: "min-slaves-max-lag", 0, intMax, 10, implemented: true),
        int("watchdog-period", 0, intMax, 0, .hidden),
        int("shutdown-timeout", 0, intMax, 10, implemented: true),
        int("repl-diskless-sync-max-replicas", 0, intMax, 0, implemented: true),

        // Unsigned int configs
        uint("maxclients", 1, uintMax, 10000, implemented: true),
        P(name: "unixsocketperm", alias: nil,
          kind: .number(NumberFormat(min: 0, max: 0o777, unsignedBounds: true, octal: true)), defaultValue: "0",
          flags: .immutable, implemented: true, validate: nil),
        uint("socket-mark-id", 0, uintMax, 0, .immutable),

        // Unsigned long configs (bounds checked signed, as Redis does)
        int("active-defrag-max-scan-fields", 1, longMax, 1000),
        int("slowlog-max-len", 0, longMax, 128),
        int("acllog-max-len", 0, longMax, 128, implemented: true),

        // Long long configs
        int("busy-reply-threshold", alias: "lua-time-limit", 0, longMax, 5000, implemented: true),
        int("cluster-node-timeout", 0, longMax, 15000),
        int("slowlog-log-slower-than", -1, longMax, 10000),
        int("latency-monitor-threshold", 0, longMax, 0),
        memory("proto-max-bulk-len", 1024 * 1024, UInt64(longMax), 512 * 1024 * 1024, unsignedBounds: false,
               implemented: true),
        int("stream-node-max-entries", 0, longMax, 100),
        memory("repl-backlog-size", 1, UInt64(longMax), 1024 * 1024, unsignedBounds: false, implemented: true),

        // Unsigned long long configs
        memory("maxmemory", 0, UInt64.max, 0, unsignedBounds: true, implemented: true),
        memory("cluster-link-sendbuf-limit", 0, UInt64.max, 0, unsignedBounds: true),

        // size_t configs
        uint("hash-max-listpack-entries", alias: "hash-max-ziplist-entries", 0, UInt64(longMax), 512),
        uint("set-max-intset-entries", 0, UInt64(longMax), 512),
        uint("zset-max-listpack-entries", alias: "zset-max-ziplist-entries", 0, UInt64(longMax), 128),
        memory("active-defrag-ignore-bytes", 1, UInt64(longMax), 100 << 20, unsignedBounds: true),
        memory("hash-max-listpack-value", alias: "hash-max-ziplist-value", 0, UInt64(longMax), 64, unsignedBounds: true),
        memory("stream-node-max-bytes", 0, UInt64(longMax), 4096, unsignedBounds: true),
        memory("zset-max-listpack-value", alias: "zset-max-ziplist-value", 0, UInt64(longMax), 64, unsignedBounds: true),
        memory("hll-sparse-max-bytes", 0, UInt64(longMax), 3000, unsignedBounds: true),
        uint("tracking-table-max-keys", 0, UInt64(longMax), 1_000_000),
        memory("client-query-buffer-limit", 1024 * 1024, UInt64(longMax), 1024 * 1024 * 1024, unsignedBounds: true,
               implemented: true),
        P(name: "maxmemory-clients", alias: nil,
          kind: .number(NumberFormat(min: -100, max: Int64.max, memory: true, percent: true)), defaultValue: "0",
          flags: [], implemented: true, validate: nil),

        // Other numeric configs
        int("repl-backlog-ttl", 0, longMax, 3600, implemented: true),
        memory("auto-aof-rewrite-min-size", 0, UInt64(Int64.max), 64 * 1024 * 1024, unsignedBounds: false, implemented: true),
        int("loading-process-events-interval-bytes", 1024, intMax, 2 * 1024 * 1024, .hidden),

        // TLS configs (Net/TLS.swift, Server/Server+TLS.swift; tls-cluster only matters with cluster mode, which is off)
        int("tls-port", 0, 65535, 0, implemented: true),
        int("tls-session-cache-size", 0, intMax, 20 * 1024, implemented: true),
        int("tls-session-cache-timeout", 0, intMax, 300, implemented: true),
        bool("tls-cluster", false),
        bool("tls-replication", false, implemented: true),
        oneOf("tls-auth-clients", ["no", "yes", "optional"], "yes", implemented: true),
        bool("tls-prefer-server-ciphers", false, implemented: true),
        bool("tls-session-caching", true, implemented: true),
        string("tls-cert-file", implemented: true),
        string("tls-key-file", implemented: true),
        string("tls-key-file-pass", implemented: true),
        string("tls-client-cert-file", implemented: true),
        string("tls-client-key-file", implemented: true),
        string("tls-client-key-file-pass", implemented: true),
        string("tls-dh-params-file", implemented: true),
        string("tls-ca-cert-file", implemented: true),
        string("tls-ca-cert-dir", implemented: true),
        string("tls-protocols", implemented: true),
        string("tls-ciphers", implemented: true),
        string("tls-ciphersuites", implemented: true),

        // Special configs
        special("dir", .dir, "", [.protected, .denyLoading], implemented: true),
        special("save", .save, "3600 1 300 100 60 10000", .multiArg, implemented: true),
        special("client-output-buffer-limit", .clientOutputBufferLimit,
                "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60", .multiArg, implemented: true),
        special("oom-score-adj-values", .oomScoreAdjValues, "0 200 800", .multiArg),
        special("notify-keyspace-events", .notifyKeyspaceEvents, "", []),
        // Redis's compiled-in default is "* -::*"; Needletail starts like the stock redis.conf, loopback only.
        special("bind", .bind, "127.0.0.1 -::1", .multiArg, implemented: true),
        special("replicaof", alias: "slaveof", .replicaof, "", [.immutable, .multiArg], implemented: true),
        special("latency-tracking-info-percentiles", .latencyTrackingInfoPercentiles, "50 99 99.9", .multiArg),

        // Needletail's own, hidden (CONFIG GET * and COMMAND output stay redis-server's; an exact name works)
        // Microseconds the loop may spin before sleeping while requests come close together (Net/BusyPoll.swift).
        int("busy-poll-us", 0, 1000, 20, [.hidden, .needletailOwn], implemented: true),

        // redis.conf-only directives
        directive("include", implemented: true),
        directive("rename-command"),
        directive("user"),
        directive("loadmodule"),
        directive("sentinel"),
    ]

    /// Accepted in redis.conf with exactly one value and ignored, as Redis 7.0 does.
    static let deprecated: Set<String> = ["list-max-ziplist-entries", "list-max-ziplist-value", "lua-replicate-commands"]
}

// MARK: - Validators shared by the table

/// Redis's `pathIsBaseName`: no '/' and no '\'.
private func isBaseName(_ path: String) -> Bool {
    !path.utf8.contains(UInt8(ascii: "/")) && !path.utf8.contains(UInt8(ascii: "\\"))
}

private func validateAnnouncedHostname(_ value: String) -> String? {
    if value.utf8.count >= 256 { return "Hostnames must be less than 256 characters" }
    for c in value.utf8 {
        let ok = (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c == 45 || c == 46
        if !ok { return "Hostnames may only contain alphanumeric characters, hyphens or dots" }
    }
    return nil
}

/// Redis's `validateProcTitleTemplate`: `{name}` variables must be known, `{{` is a literal brace, and the
/// expansion (with an empty title) must not be blank.
private func isValidProcTitleTemplate(_ template: String) -> Bool {
    let known: [String: String] = ["title": "", "listen-addr": "127.0.0.1:6379", "server-mode": "",
                                   "port": "6379", "tls-port": "0", "unixsocket": "", "config-file": ""]
    let bytes = Array(template.utf8)
    var out: [UInt8] = []
    var i = 0
    while i < bytes.count {
        guard let open = bytes[i...].firstIndex(of: UInt8(ascii: "{")) else {
            out += bytes[i...]
            break
        }
        out += bytes[i..<open]
        let nameStart = open + 1
        if nameStart >= bytes.count { return false }
        if bytes[nameStart] == UInt8(ascii: "{") {
            out.append(UInt8(ascii: "{"))
            i = nameStart + 1
            continue
        }
        guard let close = bytes[nameStart...].firstIndex(of: UInt8(ascii: "}")) else { return false }
        guard let value = known[String(decoding: bytes[nameStart..<close], as: UTF8.self)] else { return false }
        out += value.utf8
        i = close + 1
    }
    return out.contains { $0 != UInt8(ascii: " ") }
}
