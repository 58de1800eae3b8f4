import Glibc

/// What `needletail-server` does after parsing its command line: the start-up sequence of redis-server
/// (log banner, working directory, pidfile, listeners), then the loop until shutdown.
public enum NeedletailMain {
    public struct StartupFailed: Error {}

    public static func run(config: Config) throws {
        let server = try Server(config: config)
        let log = server.log
        log.notice("oO0OoO0OoO0Oo Needletail is starting oO0OoO0OoO0Oo")
        log.notice("Needletail version=\(redisVersion), bits=64, commit=00000000, modified=0, pid=\(getpid()), just started")
        if config.readsConfigFromStdin { log.notice("Reading config from stdin") }
        if config.configFile == nil && !config.readsConfigFromStdin {
            log.warning("Warning: no config file specified, using the default config. In order to specify a config file use needletail-server /path/to/redis.conf")
        } else {
            log.notice("Configuration loaded")
        }
        for name in config.notYetEffective {
            log.warning("Config '\(name)' is accepted but not yet effective in Needletail")
        }
        adjustOpenFilesLimit(config, log)
        if let errors = server.loadUsersAtStartup() {
            log.warning("Aborting Redis startup because of ACL errors: \(errors)")
            throw StartupFailed()
        }
        if !config.dir.isEmpty && chdir(config.dir) != 0 {
            log.warning("Can't chdir to '\(config.dir)': \(String(cString: strerror(errno)))")
            throw StartupFailed()
        }
        if !server.configureTLS() {
            log.warning("Failed to configure TLS. Check logs for more info.")
            throw StartupFailed()
        }
        if config.port == 0 && config.value(of: "tls-port") == "0" && config.unixsocket.isEmpty {
            log.warning("Configured to not listen anywhere, exiting.")
            throw StartupFailed()
        }
        do {
            try server.listen()
        } catch {
            log.warning("Failed listening on port \(config.port) (tcp), aborting.")
            throw StartupFailed()
        }
        do {
            try server.listenTLS()
        } catch {
            log.warning("Failed listening on port \(config.value(of: "tls-port") ?? "0") (tls), aborting.")
            throw StartupFailed()
        }
        let pidfile = config.pidfile.isEmpty && config.daemonize ? "/var/run/redis_\(config.port).pid" : config.pidfile
        if !pidfile.isEmpty, let f = fopen(pidfile, "w") {
            fputs("\(getpid())\n", f)
            fclose(f)
        }
        log.notice("Server initialized")
        server.memory.recordStartup()  // Redis's initial_memory_usage: before the dataset loads
        // The dataset: from the AOF when appendonly is yes (preferred over the RDB, as Redis's loadDataFromDisk).
        do {
            if config.appendonly {
                try server.aof.loadOnStartup()
            } else {
                try server.rdb.loadAtStartup()
            }
        } catch {
            throw StartupFailed()
        }
        log.notice("Ready to accept connections\(config.port != 0 ? " tcp" : "")\(config.unixsocket.isEmpty ? "" : " unix")")
        if let master = config.replicaof {
            server.replication.setMaster(host: master.host, port: master.port)
        }
        server.run(handleSignals: true)
        if !pidfile.isEmpty { unlink(pidfile) }
    }
}

/// File descriptors kept for everything but clients (listeners, epoll, logs, the AOF and RDB files), as
/// Redis's CONFIG_MIN_RESERVED_FDS.
let reservedFileDescriptors = 32

/// Redis's adjustOpenFilesLimit: `maxclients` clients need `maxclients + 32` descriptors. A lower soft limit
/// (a shell's `ulimit -n` is often 1024) is raised, soft and hard together, as far as the system allows,
/// trying 16 fewer each time; if that is still short, `maxclients` is lowered to fit, with Redis's warnings.
func adjustOpenFilesLimit(_ config: Config, _ log: Logger) {
    let wanted = rlim_t(config.maxclients + reservedFileDescriptors)
    var limit = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else {
        log.warning("Unable to obtain the current NOFILE limit (\(String(cString: strerror(errno)))), assuming 1024 and setting the max clients configuration accordingly.")
        config.maxclients = 1024 - reservedFileDescriptors
        return
    }
    let old = limit.rlim_cur
    guard old < wanted else { return }
    var best = wanted
    var failure: Int32 = 0
    while best > old {
        limit.rlim_cur = best
        limit.rlim_max = best
        if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 { break }
        failure = errno
        if best < 16 {
            best = old
            break
        }
        best -= 16
    }
    best = max(best, old)
    if best < wanted {
        let requested = config.maxclients
        config.maxclients = max(1, Int(best) - reservedFileDescriptors)
        log.warning("You requested maxclients of \(requested) requiring at least \(wanted) max file descriptors.")
        log.warning("Server can't set maximum open files to \(wanted) because of OS error: \(String(cString: strerror(failure))).")
        log.warning("Current maximum open files is \(best). maxclients has been reduced to \(config.maxclients) to compensate for low ulimit. If you need higher maxclients increase 'ulimit -n'.")
    } else {
        log.notice("Increased maximum number of open files to \(wanted) (it was originally set to \(old)).")
    }
}
