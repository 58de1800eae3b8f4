// needletail-server [/path/to/redis.conf] [--name value ...] — the same command line as redis-server.
import CAllocator
import Glibc
import Needletail

callocator_activate()  // used_memory from the allocation counter (Sources/CAllocator)

let config: Config
Config.commandExists = Server.isCommandName  // rename-command checks its names, as redis-server
do {
    switch try Config.parse(commandLine: CommandLine.arguments) {
    case .printVersion(let text):
        fputs(text, stdout)
        exit(0)
    case .printHelp(let text):
        fputs(text, stderr)
        exit(1)
    case .run(let parsed):
        config = parsed
    }
} catch let error as ConfigError {
    fputs(error.message, stderr)
    exit(1)
} catch {
    fputs("\(error)\n", stderr)
    exit(1)
}

if config.daemonize {
    // Classic double-duty daemonize as Redis: fork, the parent exits, the child starts a new session
    // and points stdio at /dev/null.
    let pid = fork()
    if pid < 0 { perror("fork"); exit(1) }
    if pid > 0 { exit(0) }
    setsid()
    let devnull = open("/dev/null", O_RDWR)
    if devnull >= 0 {
        dup2(devnull, 0); dup2(devnull, 1); dup2(devnull, 2)
        if devnull > 2 { close(devnull) }
    }
}

do {
    try NeedletailMain.run(config: config)
} catch {
    exit(1)
}
