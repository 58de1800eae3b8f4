import Glibc

/// The real redis-server, started as the oracle for the differential tests on a free port with no
/// persistence. (needletail itself is launched by the shared `ServerUnderTest` harness.)
final class RawRedisServer {
    let pid: pid_t
    let port: Int
    let logPath: String
    private var exited = false

    static let path = "/usr/bin/redis-server"
    static var isInstalled: Bool { access(path, X_OK) == 0 }

    /// `extraArguments` follow the defaults (redis-server keeps the last value of a repeated option), e.g.
    /// `--dir` and `--dbfilename` to load or write an RDB file of a test's own.
    init(extraArguments: [String] = []) throws {
        var lastError = ""
        // A free port can be taken between probing and binding: try a few.
        for _ in 0..<4 {
            let port = freeTCPPort()
            let log = "/tmp/redis-oracle-\(getpid())-\(port).log"
            let child = try Self.spawn(port: port, log: log, extraArguments: extraArguments)
            if Self.waitUntilServing(pid: child, port: port) {
                pid = child
                self.port = port
                logPath = log
                return
            }
            lastError = "port \(port): \(rawTail(of: log))"
            Self.terminate(child)
        }
        throw HarnessError("redis-server did not start: \(lastError)")
    }

    deinit { stop() }

    private static func spawn(port: Int, log: String, extraArguments: [String]) throws -> pid_t {
        // redis-server writes its own log file (--logfile); its stdout is discarded. Without a --dir of the test's,
        // its RDB file is its own too: with the default name it would load whatever dump.rdb another test left in
        // /tmp (keys, which FLUSHALL drops, but also function libraries, which it keeps).
        let file = extraArguments.contains("--dir") ? [] : ["--dbfilename", "redis-oracle-\(getpid())-\(port).rdb"]
        return try spawnServerProcess([path, "--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                       "--dir", "/tmp"] + file + ["--daemonize", "no", "--logfile", log]
                                       + DifferentialRunner.debugEnabled + extraArguments,
                                      output: "/dev/null")
    }

    private static func waitUntilServing(pid: pid_t, port: Int) -> Bool {
        let deadline = rawMonotonicMillis() + 15_000
        var status: Int32 = 0
        while rawMonotonicMillis() < deadline {
            if waitpid(pid, &status, WNOHANG) == pid { return false }
            if let c = try? RawClient(port: port, timeoutMillis: 2000), (try? c.call("PING")) == Array("+PONG\r\n".utf8) {
                return true
            }
            rawSleepMillis(20)
        }
        return false
    }

    /// SIGTERM, then SIGKILL after 5 s; reaps the process.
    private static func terminate(_ pid: pid_t) {
        kill(pid, SIGTERM)
        let deadline = rawMonotonicMillis() + 5000
        var status: Int32 = 0
        while rawMonotonicMillis() < deadline {
            if waitpid(pid, &status, WNOHANG) == pid { return }
            rawSleepMillis(10)
        }
        kill(pid, SIGKILL)
        waitpid(pid, &status, 0)
    }

    var isRunning: Bool {
        if exited { return false }
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == pid { exited = true }
        return !exited
    }

    func stop() {
        if exited { return }
        exited = true
        Self.terminate(pid)
    }
}

/// A process's resident set size in bytes (VmRSS in /proc/<pid>/status), nil when unreadable.
func rawRSSBytes(pid: pid_t) -> Int? {
    guard let f = fopen("/proc/\(pid)/status", "r") else { return nil }
    defer { fclose(f) }
    var line = [CChar](repeating: 0, count: 512)
    while fgets(&line, Int32(line.count), f) != nil {
        let s = String(cString: line)
        if s.hasPrefix("VmRSS:") { return Int(s.filter { $0.isNumber }).map { $0 * 1024 } }
    }
    return nil
}

/// The last `maxBytes` of a text file, for failure messages.
func rawTail(of path: String, _ maxBytes: Int = 2000) -> String {
    guard let f = fopen(path, "r") else { return "(no log)" }
    defer { fclose(f) }
    fseek(f, 0, SEEK_END)
    fseek(f, max(0, ftell(f) - maxBytes), SEEK_SET)
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = fread(&chunk, 1, chunk.count, f)
        if n <= 0 { break }
        out += chunk[0..<n]
    }
    return String(decoding: out, as: UTF8.self)
}
