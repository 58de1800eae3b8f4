import XCTest
@testable import Needletail

/// Defaults and flags of every parameter against redis-server 7.0.15 (Debian, the oracle), and Debian's
/// stock redis.conf loading unchanged.
final class ConfigDefaultsTests: XCTestCase {
    /// `CONFIG GET *` of a redis-server 7.0.15 started with no config file (port shown as 6379; `dir` is
    /// the working directory and checked separately).
    static let oracleDefaults: [(String, String)] = [
        ("acl-pubsub-default", "resetchannels"),
        ("aclfile", ""),
        ("acllog-max-len", "128"),
        ("active-defrag-cycle-max", "25"),
        ("active-defrag-cycle-min", "1"),
        ("active-defrag-ignore-bytes", "104857600"),
        ("active-defrag-max-scan-fields", "1000"),
        ("active-defrag-threshold-lower", "10"),
        ("active-defrag-threshold-upper", "100"),
        ("active-expire-effort", "1"),
        ("activedefrag", "no"),
        ("activerehashing", "yes"),
        ("always-show-logo", "no"),
        ("aof-disable-auto-gc", "no"),
        ("aof-load-truncated", "yes"),
        ("aof-rewrite-incremental-fsync", "yes"),
        ("aof-timestamp-enabled", "no"),
        ("aof-use-rdb-preamble", "yes"),
        ("aof_rewrite_cpulist", ""),
        ("appenddirname", "appendonlydir"),
        ("appendfilename", "appendonly.aof"),
        ("appendfsync", "everysec"),
        ("appendonly", "no"),
        ("auto-aof-rewrite-min-size", "67108864"),
        ("auto-aof-rewrite-percentage", "100"),
        ("bgsave_cpulist", ""),
        ("bind", "* -::*"),
        ("bind-source-addr", ""),
        ("bio_cpulist", ""),
        ("busy-reply-threshold", "5000"),
        ("client-output-buffer-limit", "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"),
        ("client-query-buffer-limit", "1073741824"),
        ("cluster-allow-pubsubshard-when-down", "yes"),
        ("cluster-allow-reads-when-down", "no"),
        ("cluster-allow-replica-migration", "yes"),
        ("cluster-announce-bus-port", "0"),
        ("cluster-announce-hostname", ""),
        ("cluster-announce-ip", ""),
        ("cluster-announce-port", "0"),
        ("cluster-announce-tls-port", "0"),
        ("cluster-config-file", "nodes.conf"),
        ("cluster-enabled", "no"),
        ("cluster-link-sendbuf-limit", "0"),
        ("cluster-migration-barrier", "1"),
        ("cluster-node-timeout", "15000"),
        ("cluster-port", "0"),
        ("cluster-preferred-endpoint-type", "ip"),
        ("cluster-replica-no-failover", "no"),
        ("cluster-replica-validity-factor", "10"),
        ("cluster-require-full-coverage", "yes"),
        ("cluster-slave-no-failover", "no"),
        ("cluster-slave-validity-factor", "10"),
        ("crash-log-enabled", "yes"),
        ("crash-memcheck-enabled", "yes"),
        ("daemonize", "no"),
        ("databases", "16"),
        ("dbfilename", "dump.rdb"),
        ("disable-thp", "yes"),
        ("dynamic-hz", "yes"),
        ("enable-debug-command", "no"),
        ("enable-module-command", "no"),
        ("enable-protected-configs", "no"),
        ("hash-max-listpack-entries", "512"),
        ("hash-max-listpack-value", "64"),
        ("hash-max-ziplist-entries", "512"),
        ("hash-max-ziplist-value", "64"),
        ("hll-sparse-max-bytes", "3000"),
        ("hz", "10"),
        ("ignore-warnings", ""),
        ("io-threads", "1"),
        ("io-threads-do-reads", "no"),
        ("jemalloc-bg-thread", "yes"),
        ("latency-monitor-threshold", "0"),
        ("latency-tracking", "yes"),
        ("latency-tracking-info-percentiles", "50 99 99.9"),
        ("lazyfree-lazy-eviction", "no"),
        ("lazyfree-lazy-expire", "no"),
        ("lazyfree-lazy-server-del", "no"),
        ("lazyfree-lazy-user-del", "no"),
        ("lazyfree-lazy-user-flush", "no"),
        ("lfu-decay-time", "1"),
        ("lfu-log-factor", "10"),
        ("list-compress-depth", "0"),
        ("list-max-listpack-size", "-2"),
        ("list-max-ziplist-size", "-2"),
        ("logfile", ""),
        ("loglevel", "notice"),
        ("lua-time-limit", "5000"),
        ("masterauth", ""),
        ("masteruser", ""),
        ("maxclients", "10000"),
        ("maxmemory", "0"),
        ("maxmemory-clients", "0"),
        ("maxmemory-eviction-tenacity", "10"),
        ("maxmemory-policy", "noeviction"),
        ("maxmemory-samples", "5"),
        ("min-replicas-max-lag", "10"),
        ("min-replicas-to-write", "0"),
        ("min-slaves-max-lag", "10"),
        ("min-slaves-to-write", "0"),
        ("no-appendfsync-on-rewrite", "no"),
        ("notify-keyspace-events", ""),
        ("oom-score-adj", "no"),
        ("oom-score-adj-values", "0 200 800"),
        ("pidfile", ""),
        ("port", "6379"),
        ("proc-title-template", "{title} {listen-addr} {server-mode}"),
        ("propagation-error-behavior", "ignore"),
        ("protected-mode", "yes"),
        ("proto-max-bulk-len", "536870912"),
        ("rdb-del-sync-files", "no"),
        ("rdb-save-incremental-fsync", "yes"),
        ("rdbchecksum", "yes"),
        ("rdbcompression", "yes"),
        ("repl-backlog-size", "1048576"),
        ("repl-backlog-ttl", "3600"),
        ("repl-disable-tcp-nodelay", "no"),
        ("repl-diskless-load", "disabled"),
        ("repl-diskless-sync", "yes"),
        ("repl-diskless-sync-delay", "5"),
        ("repl-diskless-sync-max-replicas", "0"),
        ("repl-ping-replica-period", "10"),
        ("repl-ping-slave-period", "10"),
        ("repl-timeout", "60"),
        ("replica-announce-ip", ""),
        ("replica-announce-port", "0"),
        ("replica-announced", "yes"),
        ("replica-ignore-disk-write-errors", "no"),
        ("replica-ignore-maxmemory", "yes"),
        ("replica-lazy-flush", "no"),
        ("replica-priority", "100"),
        ("replica-read-only", "yes"),
        ("replica-serve-stale-data", "yes"),
        ("replicaof", ""),
        ("requirepass", ""),
        ("sanitize-dump-payload", "no"),
        ("save", "3600 1 300 100 60 10000"),
        ("server_cpulist", ""),
        ("set-max-intset-entries", "512"),
        ("set-proc-title", "yes"),
        ("shutdown-on-sigint", "default"),
        ("shutdown-on-sigterm", "default"),
        ("shutdown-timeout", "10"),
        ("slave-announce-ip", ""),
        ("slave-announce-port", "0"),
        ("slave-ignore-maxmemory", "yes"),
        ("slave-lazy-flush", "no"),
        ("slave-priority", "100"),
        ("slave-read-only", "yes"),
        ("slave-serve-stale-data", "yes"),
        ("slaveof", ""),
        ("slowlog-log-slower-than", "10000"),
        ("slowlog-max-len", "128"),
        ("socket-mark-id", "0"),
        ("stop-writes-on-bgsave-error", "yes"),
        ("stream-node-max-bytes", "4096"),
        ("stream-node-max-entries", "100"),
        ("supervised", "no"),
        ("syslog-enabled", "no"),
        ("syslog-facility", "local0"),
        ("syslog-ident", "redis"),
        ("tcp-backlog", "511"),
        ("tcp-keepalive", "300"),
        ("timeout", "0"),
        ("tls-auth-clients", "yes"),
        ("tls-ca-cert-dir", ""),
        ("tls-ca-cert-file", ""),
        ("tls-cert-file", ""),
        ("tls-ciphers", ""),
        ("tls-ciphersuites", ""),
        ("tls-client-cert-file", ""),
        ("tls-client-key-file", ""),
        ("tls-client-key-file-pass", ""),
        ("tls-cluster", "no"),
        ("tls-dh-params-file", ""),
        ("tls-key-file", ""),
        ("tls-key-file-pass", ""),
        ("tls-port", "0"),
        ("tls-prefer-server-ciphers", "no"),
        ("tls-protocols", ""),
        ("tls-replication", "no"),
        ("tls-session-cache-size", "20480"),
        ("tls-session-cache-timeout", "300"),
        ("tls-session-caching", "yes"),
        ("tracking-table-max-keys", "1000000"),
        ("unixsocket", ""),
        ("unixsocketperm", "0"),
        ("zset-max-listpack-entries", "128"),
        ("zset-max-listpack-value", "64"),
        ("zset-max-ziplist-entries", "128"),
        ("zset-max-ziplist-value", "64"),
    ]

    /// Where Needletail deliberately starts differently: listen on loopback only, like the stock
    /// redis.conf (the decision), instead of Redis's compiled-in "* -::*".
    static let deliberateDifferences = ["bind": "127.0.0.1 -::1"]

    /// Parameters the oracle answers "can't set immutable config" for (CONFIG SET to the current value).
    static let oracleImmutable: Set<String> = [
        "aclfile", "always-show-logo", "aof_rewrite_cpulist", "appenddirname", "appendfilename", "bgsave_cpulist",
        "bio_cpulist", "cluster-config-file", "cluster-enabled", "cluster-port", "daemonize", "databases",
        "disable-thp", "enable-debug-command", "enable-module-command", "enable-protected-configs", "io-threads",
        "io-threads-do-reads", "logfile", "pidfile", "rdbchecksum", "replicaof", "server_cpulist",
        "set-proc-title", "slaveof", "socket-mark-id", "supervised", "syslog-enabled", "syslog-facility",
        "syslog-ident", "tcp-backlog", "unixsocket", "unixsocketperm",
    ]
    /// ... and "can't set protected config" for (enable-protected-configs no).
    static let oracleProtected: Set<String> = ["dbfilename", "dir"]
    /// Shown by exact name only.
    static let oracleHidden: [(String, String)] = [
        ("use-exit-on-panic", "no"), ("rdb-key-save-delay", "0"), ("key-load-delay", "0"),
        ("watchdog-period", "0"), ("loading-process-events-interval-bytes", "2097152"),
    ]

    func testEveryDefaultMatchesTheOracle() {
        let config = Config()
        var expected = Dictionary(uniqueKeysWithValues: Self.oracleDefaults)
        for (k, v) in Self.deliberateDifferences { expected[k] = v }
        expected["dir"] = ConfigSyntax.currentDirectory()

        let all = config.get(["*"])
        XCTAssertEqual(all.count, 192, "redis-server 7.0.15 shows 192 names for CONFIG GET *")
        XCTAssertEqual(Set(all.map { $0.name }), Set(expected.keys))
        for (name, value) in all {
            XCTAssertEqual(value, expected[name], name)
        }
        for (name, value) in Self.oracleHidden {
            XCTAssertEqual(config.value(of: name), value, name)
            XCTAssertTrue(config.get(["*" + name.dropFirst(2)]).isEmpty, "\\(name) is hidden from patterns")
            XCTAssertEqual(config.get([name]).first?.value, value)
        }
    }

    /// Needletail's own parameters are hidden, so CONFIG GET * (and tools comparing it) see redis-server's.
    func testNeedletailsOwnParametersAreHidden() {
        let config = Config()
        XCTAssertEqual(config.get(["busy-poll-us"]).first?.value, "20")
        XCTAssertTrue(config.get(["*poll*"]).isEmpty)
        XCTAssertNil(Self.oracleDefaults.first { $0.0 == "busy-poll-us" }, "not a redis-server parameter")
    }

    func testTableDefaultsAgreeWithTypedProperties() {
        // The typed mirror starts from literal defaults: they must say what the table says.
        let config = Config()
        for (name, binding) in Config.bindings {
            XCTAssertEqual(binding.read(config), config.value(of: name), name)
        }
    }

    func testImmutableAndProtectedFlagsMatchTheOracle() {
        let config = Config()
        for (name, value) in config.get(["*"]) {
            let reply = config.set(arguments: [name, value])
            if Self.oracleImmutable.contains(name) {
                XCTAssertEqual(reply, "ERR CONFIG SET failed (possibly related to argument '\(name)') - can't set immutable config")
            } else if Self.oracleProtected.contains(name) {
                XCTAssertEqual(reply, "ERR CONFIG SET failed (possibly related to argument '\(name)') - can't set protected config")
            } else {
                XCTAssertNil(reply, "CONFIG SET \\(name) '\\(value)'")
            }
            XCTAssertEqual(config.value(of: name), value, name)
        }
    }

    func testTableHasNoDuplicateNames() {
        var seen: Set<String> = []
        for p in ConfigParameter.all {
            XCTAssertTrue(seen.insert(p.name).inserted, p.name)
            if let a = p.alias { XCTAssertTrue(seen.insert(a).inserted, a) }
            XCTAssertEqual(p.name, p.name.lowercased())
        }
    }

    // MARK: - Debian's redis.conf

    /// Every directive of Debian's /etc/redis/redis.conf (redis-server 7.0.15 package), comments included
    /// in the shapes the file has them; only `dir` points somewhere that exists on every machine.
    static let debianConf = """
        # Redis configuration file example.
        #
        # Note that in order to read the configuration file, Redis must be
        # started with the file path as first argument:
        #
        # ./redis-server /path/to/redis.conf

        # include /path/to/local.conf
        # include /path/to/other.conf
        # include /path/to/fragments/*.conf

        # loadmodule /path/to/my_module.so
        bind 127.0.0.1 -::1
        protected-mode yes
        port 6379
        tcp-backlog 511
        # unixsocket /run/redis/redis-server.sock
        # unixsocketperm 700
        timeout 0
        tcp-keepalive 300
        daemonize yes
        pidfile /run/redis/redis-server.pid
        loglevel notice
        logfile /var/log/redis/redis-server.log
        # syslog-enabled no
        databases 16
        always-show-logo no
        set-proc-title yes
        proc-title-template "{title} {listen-addr} {server-mode}"
        # save 3600 1 300 100 60 10000
        stop-writes-on-bgsave-error yes
        rdbcompression yes
        rdbchecksum yes
        dbfilename dump.rdb
        rdb-del-sync-files no
        dir /tmp
        # replicaof <masterip> <masterport>
        # masterauth <master-password>
        replica-serve-stale-data yes
        replica-read-only yes
        repl-diskless-sync yes
        repl-diskless-sync-delay 5
        repl-diskless-sync-max-replicas 0
        repl-diskless-load disabled
        repl-disable-tcp-nodelay no
        replica-priority 100
        # user worker +@list +@connection ~jobs:* on >ffa9203c493aa99
        acllog-max-len 128
        # requirepass foobared
        # rename-command CONFIG ""
        # maxclients 10000
        # maxmemory <bytes>
        # maxmemory-policy noeviction
        lazyfree-lazy-eviction no
        lazyfree-lazy-expire no
        lazyfree-lazy-server-del no
        replica-lazy-flush no
        lazyfree-lazy-user-del no
        lazyfree-lazy-user-flush no
        # io-threads 4
        oom-score-adj no
        oom-score-adj-values 0 200 800
        disable-thp yes
        appendonly no
        appendfilename "appendonly.aof"
        appenddirname "appendonlydir"
        appendfsync everysec
        no-appendfsync-on-rewrite no
        auto-aof-rewrite-percentage 100
        auto-aof-rewrite-min-size 64mb
        aof-load-truncated yes
        aof-use-rdb-preamble yes
        aof-timestamp-enabled no
        # cluster-enabled yes
        slowlog-log-slower-than 10000
        slowlog-max-len 128
        latency-monitor-threshold 0
        notify-keyspace-events ""
        hash-max-listpack-entries 512
        hash-max-listpack-value 64
        list-max-listpack-size -2
        list-compress-depth 0
        set-max-intset-entries 512
        zset-max-listpack-entries 128
        zset-max-listpack-value 64
        hll-sparse-max-bytes 3000
        stream-node-max-bytes 4096
        stream-node-max-entries 100
        activerehashing yes
        client-output-buffer-limit normal 0 0 0
        client-output-buffer-limit replica 256mb 64mb 60
        client-output-buffer-limit pubsub 32mb 8mb 60
        # client-query-buffer-limit 1gb
        # proto-max-bulk-len 512mb
        hz 10
        dynamic-hz yes
        aof-rewrite-incremental-fsync yes
        rdb-save-incremental-fsync yes
        # lfu-log-factor 10
        # lfu-decay-time 1
        # activedefrag no
        jemalloc-bg-thread yes
        # server_cpulist 0-7:2
        # ignore-warnings ARM64-COW-BUG

        """

    func testDebianConfLoads() throws {
        let config = Config()
        config.checksLogfile = false          // /var/log/redis need not exist here
        try config.load(text: Self.debianConf)
        XCTAssertEqual(config.bind, ["127.0.0.1", "-::1"])
        XCTAssertEqual(config.port, 6379)
        XCTAssertTrue(config.daemonize)
        XCTAssertEqual(config.pidfile, "/run/redis/redis-server.pid")
        XCTAssertEqual(config.logfile, "/var/log/redis/redis-server.log")
        XCTAssertEqual(config.dir, "/tmp")
        XCTAssertEqual(config.value(of: "notify-keyspace-events"), "")
        XCTAssertEqual(config.value(of: "auto-aof-rewrite-min-size"), "67108864")
        XCTAssertEqual(config.value(of: "client-output-buffer-limit"),
                       "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60")
        XCTAssertEqual(config.value(of: "save"), "3600 1 300 100 60 10000")
        // Everything it sets that Needletail does not implement is at its default: nothing to warn about.
        XCTAssertEqual(config.notYetEffective, [])
    }

    func testInstalledDebianConfLoadsUnchanged() throws {
        guard access("/etc/redis/redis.conf", R_OK) == 0 else {
            throw XCTSkip("no readable /etc/redis/redis.conf on this machine")
        }
        var st = stat()
        guard stat("/var/lib/redis", &st) == 0 else { throw XCTSkip("its dir /var/lib/redis does not exist") }
        let config = Config()
        config.checksLogfile = false
        try config.load(file: "/etc/redis/redis.conf")
        XCTAssertTrue(config.daemonize)
        XCTAssertEqual(config.dir, "/var/lib/redis")
        XCTAssertEqual(config.bind, ["127.0.0.1", "-::1"])
        XCTAssertEqual(config.notYetEffective, [])
    }
}
