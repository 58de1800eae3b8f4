/// Server configuration: embedded defaults, redis.conf, `--name value` arguments, CONFIG GET/SET.
///
/// STUB: the typed properties below are the interface the server reads; the full directive table
/// (every redis.conf 7.x directive, validation, CONFIG GET/SET) is being built behind it.
public final class Config {
    public var port: Int = 6379
    public var bind: [String] = ["127.0.0.1", "-::1"]
    public var unixsocket: String = ""
    public var unixsocketperm: UInt32 = 0
    public var tcpBacklog: Int = 511
    public var maxclients: Int = 10000
    public var timeout: Int = 0
    public var requirepass: String = ""
    public var databases: Int = 16
    public var hz: Int = 10
    public var loglevel: String = "notice"
    public var logfile: String = ""
    public var daemonize: Bool = false
    public var pidfile: String = ""
    public var dir: String = ""
    public var protoMaxBulkLen: Int = 512 * 1024 * 1024
    public var clientQueryBufferLimit: Int = 1024 * 1024 * 1024
    public var maxmemory: Int = 0
    public var maxmemoryPolicy: String = "noeviction"

    public init() {}
}
