import Glibc
import Needletail

/// A `needletail-server` process started for one test on a free port, and stopped by `stop()`.
///
/// It builds nothing: `swift test` has already built the binary next to the test bundle. The child runs
/// under `setpriv --pdeathsig KILL` when available, so a crashed test run leaves no stray server behind
/// on a shared machine.
final class ServerUnderTest {
    let pid: pid_t
    let port: Int
    let logPath: String
    private var reaped = false

    /// How the server is told its port (redis-server's command line). No snapshot or AOF is written, so a
    /// test run leaves no dump.rdb behind once persistence exists.
    static func portArguments(_ port: Int) -> [String] { ["--port", "\(port)", "--save", "", "--appendonly", "no"] }
    /// The early form (the port as the second argument), tried when `portArguments` is refused.
    static func legacyPortArguments(_ port: Int) -> [String] { ["x", "\(port)"] }
    /// Which form worked last, so later tests start with it.
    private static var preferLegacy = false

    /// $NEEDLETAIL_SERVER, else `needletail-server` in the directory of the running test bundle
    /// (`<scratch>/<triple>/<config>/NeedletailPackageTests.xctest`), else `.build/debug` of the package.
    static func binaryPath() -> String? {
        if let env = getenv("NEEDLETAIL_SERVER") { return String(cString: env) }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        if n > 0 {
            var dir = String(cString: buffer)
            // Walk up: on Linux the bundle is a file in the bin directory; elsewhere it may be a directory.
            while let slash = dir.lastIndex(of: "/"), slash != dir.startIndex {
                dir = String(dir[..<slash])
                if access(dir + "/needletail-server", X_OK) == 0 { return dir + "/needletail-server" }
            }
        }
        let packageRoot = String(#filePath.split(separator: "/", omittingEmptySubsequences: false).dropLast(4)
            .joined(separator: "/"))
        let fallback = packageRoot + "/.build/debug/needletail-server"
        return access(fallback, X_OK) == 0 ? fallback : nil
    }

    /// Starts the server and waits until it answers PING. `extraArguments` follow the port arguments; with
    /// any, the legacy form (which cannot take them) is never tried, so a server that refuses to start
    /// with them fails here instead of starting without them.
    static func start(extraArguments: [String] = []) throws -> ServerUnderTest {
        guard let binary = binaryPath() else {
            throw HarnessError("needletail-server not found next to the test bundle; run `swift build` first")
        }
        var failures: [String] = []
        // A free port can be taken between probing and binding; and an older or newer binary may refuse one
        // form of the port argument. Alternate the two forms over a few fresh ports.
        for attempt in 0..<4 {
            let legacy = extraArguments.isEmpty && (attempt % 2 == 1) != preferLegacy
            let port = freeTCPPort()
            // Without a --dir of its own, the server works in the test's current directory: it gets an RDB
            // file of its own there (removed first), so it never loads a dump.rdb another test left behind.
            var isolation: [String] = []
            if !extraArguments.contains("--dir") {
                let file = "needletail-test-\(port).rdb"
                unlink(file)
                isolation = ["--dbfilename", file]
            }
            let arguments = legacy ? legacyPortArguments(port) : portArguments(port) + isolation + extraArguments
            let server = try ServerUnderTest(binary: binary, arguments: arguments, port: port)
            if server.waitUntilServing(timeoutMillis: 15_000) {
                preferLegacy = legacy
                return server
            }
            failures.append("\(arguments): \(server.logTail())")
            server.stop()
            server.removeLog()  // also when the process had exited by itself
        }
        throw HarnessError("needletail-server did not start: \(failures.joined(separator: " | "))")
    }

    /// Starts the server on a free port without waiting for it to serve: for a start-up that loads a dataset
    /// slowly (PING answers -LOADING meanwhile) or that must fail (`waitForExit`).
    static func launch(extraArguments: [String] = []) throws -> ServerUnderTest {
        guard let binary = binaryPath() else {
            throw HarnessError("needletail-server not found next to the test bundle; run `swift build` first")
        }
        let port = freeTCPPort()
        return try ServerUnderTest(binary: binary, arguments: portArguments(port) + extraArguments, port: port)
    }

    /// Waits for the process to end by itself and returns its wait status (WIFEXITED and friends), or nil
    /// when it still runs after `timeoutMillis`.
    func waitForExit(timeoutMillis: Int) -> Int32? {
        let deadline = clockMillis() + Int64(timeoutMillis)
        var status: Int32 = 0
        while clockMillis() < deadline {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid {
                reaped = true
                return status
            }
            if r < 0 { return nil }
            usleep(10_000)
        }
        return nil
    }

    /// SIGKILL and reap: the process gets no chance to save or clean up.
    func kill9() {
        if reaped { return }
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        reaped = true
    }

    private init(binary: String, arguments: [String], port: Int) throws {
        self.port = port
        logPath = "/tmp/needletail-integ-\(getpid())-\(port).log"
        pid = try spawnServerProcess([binary] + arguments, output: logPath)
    }

    deinit { stop() }

    /// Whether the process is still running (not exited, not killed).
    var isRunning: Bool {
        if reaped { return false }
        var status: Int32 = 0
        let r = waitpid(pid, &status, WNOHANG)
        if r == pid { reaped = true; return false }
        return r == 0
    }

    /// Whether a new connection gets +PONG to PING.
    func answersPing() -> Bool {
        guard let socket = try? WireSocket(port: port, timeoutMillis: 5000) else { return false }
        return (try? socket.request(["PING"])) == Array("+PONG\r\n".utf8)
    }

    func waitUntilServing(timeoutMillis: Int) -> Bool {
        let deadline = clockMillis() + Int64(timeoutMillis)
        while clockMillis() < deadline {
            if !isRunning { return false }
            if answersPing() { return true }
            usleep(20_000)
        }
        return false
    }

    /// SIGTERM (a clean shutdown), then SIGKILL after 5 s. The log is deleted unless `keepLog` (kept for a
    /// failed test, and always kept when the server had already died on its own).
    func stop(keepLog: Bool = false) {
        if reaped { return }
        kill(pid, SIGTERM)
        let deadline = clockMillis() + 5000
        var status: Int32 = 0
        while clockMillis() < deadline {
            if waitpid(pid, &status, WNOHANG) != 0 { reaped = true; break }
            usleep(10_000)
        }
        if !reaped {
            kill(pid, SIGKILL)
            waitpid(pid, &status, 0)
            reaped = true
        }
        if !keepLog { removeLog() }
    }

    func removeLog() { unlink(logPath) }

    /// The last lines the server logged (for failure messages).
    func logTail(_ maxBytes: Int = 2000) -> String {
        guard let file = fopen(logPath, "r") else { return "(no log)" }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = fread(&chunk, 1, chunk.count, file)
            if n <= 0 { break }
            bytes += chunk[0..<n]
            if bytes.count > maxBytes * 4 { bytes.removeFirst(bytes.count - maxBytes) }
        }
        return String(decoding: bytes.suffix(maxBytes), as: UTF8.self)
    }
}

struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Starts a server process for a test: stdin from /dev/null, stdout and stderr to `output` (truncated).
/// Under `setpriv --pdeathsig KILL` where available, so a crashed test run leaves no stray server behind.
func spawnServerProcess(_ command: [String], output: String) throws -> pid_t {
    var command = command
    let setpriv = "/usr/bin/setpriv"
    if access(setpriv, X_OK) == 0 { command = [setpriv, "--pdeathsig", "KILL", "--"] + command }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    let argv: [UnsafeMutablePointer<CChar>?] = command.map { strdup($0) } + [nil]
    defer { for a in argv { free(a) } }
    var child: pid_t = 0
    let rc = posix_spawn(&child, command[0], &actions, nil, argv, environ)
    if rc != 0 { throw HarnessError("posix_spawn \(command[0]): \(String(cString: strerror(rc)))") }
    return child
}

/// A failed socket call in a test client: its name and errno ("connect 127.0.0.1:6380: Connection refused").
struct SocketCallError: Error, CustomStringConvertible {
    let call: String
    let errno: Int32
    var description: String { "\(call): \(String(cString: strerror(errno)))" }
}

/// 127.0.0.1:`port` as a socket address.
func loopbackAddress(port: Int) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return address
}

/// A blocking TCP socket connected to 127.0.0.1:`port` (close-on-exec); the caller sets its options.
func connectLoopback(port: Int) throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    if fd < 0 { throw SocketCallError(call: "socket", errno: errno) }
    var address = loopbackAddress(port: port)
    let rc = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    if rc != 0 {
        let e = errno
        close(fd)
        throw SocketCallError(call: "connect 127.0.0.1:\(port)", errno: e)
    }
    return fd
}

/// A port nothing listens on right now: bind port 0, read the port the kernel chose, release it.
func freeTCPPort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    precondition(fd >= 0, "socket: \(errno)")
    defer { close(fd) }
    var address = loopbackAddress(port: 0)
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
        }
    }
    precondition(ok, "bind/getsockname: \(errno)")
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Raises the soft open-files limit to at least `wanted` (up to the hard limit); returns the new soft limit.
@discardableResult
func raiseOpenFilesLimit(to wanted: Int) -> Int {
    var limit = rlimit()
    getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    if limit.rlim_cur < rlim_t(wanted) {
        limit.rlim_cur = min(rlim_t(wanted), limit.rlim_max)
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }
    return Int(limit.rlim_cur)
}

func clockMillis() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
}

/// Runs `body(i)` for i in 0..<count, each on its own thread, and waits for all of them.
func runOnThreads(_ count: Int, _ body: @escaping (Int) -> Void) {
    final class Job {
        let run: () -> Void
        init(_ run: @escaping () -> Void) { self.run = run }
    }
    var threads: [pthread_t] = []
    for i in 0..<count {
        let job = Unmanaged.passRetained(Job { body(i) }).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { raw in
            Unmanaged<Job>.fromOpaque(raw!).takeRetainedValue().run()
            return nil
        }, job)
        precondition(rc == 0, "pthread_create: \(rc)")
        threads.append(thread)
    }
    for thread in threads { pthread_join(thread, nil) }
}

/// Runs an in-process server's loop on a pthread of its own (run() returns after stop()): AllocationTests,
/// SeamTests and ListBlockingTests drive a `Server` in this process.
func startServerLoop(_ server: Server) throws -> pthread_t {
    var thread = pthread_t()
    let context = Unmanaged.passRetained(server).toOpaque()
    let rc = pthread_create(&thread, nil, { context in
        let server = Unmanaged<Server>.fromOpaque(context!).takeRetainedValue()
        server.run()
        return nil
    }, context)
    if rc != 0 {
        Unmanaged<Server>.fromOpaque(context).release()
        throw HarnessError("pthread_create: \(rc)")
    }
    return thread
}
