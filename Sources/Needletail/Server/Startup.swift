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
        if !config.dir.isEmpty && chdir(config.dir) != 0 {
            log.warning("Can't chdir to '\(config.dir)': \(String(cString: strerror(errno)))")
            throw StartupFailed()
        }
        if config.port == 0 && config.unixsocket.isEmpty {
            log.warning("Configured to not listen anywhere, exiting.")
            throw StartupFailed()
        }
        do {
            try server.listen()
        } catch {
            log.warning("Failed listening on port \(config.port) (tcp), aborting.")
            throw StartupFailed()
        }
        let pidfile = config.pidfile.isEmpty && config.daemonize ? "/var/run/redis_\(config.port).pid" : config.pidfile
        if !pidfile.isEmpty, let f = fopen(pidfile, "w") {
            fputs("\(getpid())\n", f)
            fclose(f)
        }
        log.notice("Server initialized")
        log.notice("Ready to accept connections\(config.port != 0 ? " tcp" : "")\(config.unixsocket.isEmpty ? "" : " unix")")
        server.run(handleSignals: true)
        if !pidfile.isEmpty { unlink(pidfile) }
    }
}
