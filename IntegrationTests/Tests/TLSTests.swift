import Glibc
import XCTest

/// TLS (`tls-port` and the tls-* parameters), protected mode and `rename-command`, each against redis-server
/// 7.0 started with the same options where the oracle can say what is right.
///
/// The certificates (a CA, a server and a client certificate signed by it) are made with the `openssl` tool
/// in a temporary directory per test class. TLS clients are redis-cli (`--tls`), redis-benchmark and a
/// small Python program (its `ssl` module: pipelines, hostile handshakes, connections from a non-loopback
/// address); redis-py's `ssl=True` when python3-redis is installed.
final class TLSTests: XCTestCase {
    private static var certificates: String?
    private static let cli = "/usr/bin/redis-cli"
    private static let python = "/usr/bin/python3"

    private var dir: String { Self.certificates! }
    private var servers: [ServerUnderTest] = []
    private var oracles: [RawRedisServer] = []

    override class func setUp() {
        super.setUp()
        guard access("/usr/bin/openssl", X_OK) == 0 else { return }
        let path = "/tmp/needletail-tls-\(getpid())"
        mkdir(path, 0o755)
        // The CA, server and client certificates, then a client certificate from a CA the server does not know.
        let repository = String(#filePath.dropLast("IntegrationTests/Tests/TLSTests.swift".count))
        let script = """
            set -e; \(repository)scripts/gen-test-certs.sh \(path); cd \(path)
            openssl genrsa -out other-ca.key 2048 2>/dev/null
            openssl req -x509 -new -nodes -sha256 -key other-ca.key -days 30 -subj '/CN=Other CA' -out other-ca.crt
            openssl genrsa -out stranger.key 2048 2>/dev/null
            openssl req -new -sha256 -subj '/CN=stranger' -key stranger.key |
              openssl x509 -req -sha256 -CA other-ca.crt -CAkey other-ca.key -CAcreateserial -days 30 -out stranger.crt 2>/dev/null
            """
        if let r = try? runProgram(["/bin/sh", "-c", script]), exitedNormally(r.status) && exitCode(r.status) == 0 {
            certificates = path
            try? writeFileBytes(path + "/client.py", Array(pythonClient.utf8))
        }
    }

    override class func tearDown() {
        if let dir = certificates { _ = try? runProgram(["/bin/rm", "-rf", dir]) }
        super.tearDown()
    }

    override func setUpWithError() throws {
        signal(SIGPIPE, SIG_IGN)
        guard Self.certificates != nil else { throw XCTSkip("no test certificates (is the openssl tool installed?)") }
        guard access(Self.cli, X_OK) == 0 else { throw XCTSkip("redis-cli is not installed") }
    }

    override func tearDown() {
        for s in servers {
            if !s.isRunning { XCTFail("needletail died: \(s.logTail())") }
            s.stop()
        }
        servers.removeAll()
        oracles.removeAll()
    }

    // MARK: - Helpers

    /// The tls-* arguments for a server listening on `tlsPort` with our certificates.
    private func tlsArguments(_ tlsPort: Int, _ extra: [String] = []) -> [String] {
        ["--tls-port", "\(tlsPort)", "--tls-cert-file", "\(dir)/server.crt", "--tls-key-file", "\(dir)/server.key",
         "--tls-ca-cert-file", "\(dir)/ca.crt"] + extra
    }

    private func startNeedletail(tlsPort: Int, _ extra: [String] = []) throws -> ServerUnderTest {
        let s = try ServerUnderTest.start(extraArguments: tlsArguments(tlsPort, extra))
        servers.append(s)
        return s
    }

    private func startOracle(tlsPort: Int, _ extra: [String] = []) throws -> RawRedisServer {
        guard RawRedisServer.isInstalled else { throw XCTSkip("redis-server is not installed") }
        let o = try RawRedisServer(extraArguments: tlsArguments(tlsPort, extra))
        oracles.append(o)
        return o
    }

    /// redis-cli over TLS; `certificate` false leaves the client certificate out.
    private func cliTLS(_ port: Int, certificate: Bool = true, cert: String = "client", _ args: [String]) throws -> String {
        var command = [Self.cli, "-p", "\(port)", "--tls", "--cacert", "\(dir)/ca.crt"]
        if certificate { command += ["--cert", "\(dir)/\(cert).crt", "--key", "\(dir)/\(cert).key"] }
        return try runProgram(command + args).output
    }

    /// The Python TLS client (`pythonClient` below); skips when python3 is missing.
    private func python(_ args: [String]) throws -> String {
        guard access(Self.python, X_OK) == 0 else { throw XCTSkip("python3 is not installed") }
        return try runProgram([Self.python, "\(dir)/client.py"] + args).output
    }

    /// Waits until redis-cli over TLS gets PONG on `port`.
    private func waitForTLS(_ port: Int, timeoutMillis: Int64 = 15_000) throws -> Bool {
        let deadline = clockMillis() + timeoutMillis
        while clockMillis() < deadline {
            if try cliTLS(port, ["PING"]).hasPrefix("PONG") { return true }
            rawSleepMillis(50)
        }
        return false
    }

    // MARK: - Clients with and without certificates

    /// tls-auth-clients yes/no/optional: redis-cli with a certificate of our CA always connects; without one
    /// it is refused only under `yes`; one signed by another CA is refused under yes and optional. As redis-server.
    func testClientCertificatesPerAuthMode() throws {
        for mode in ["yes", "no", "optional"] {
            var outcomes: [[Bool]] = []
            for server in ["needletail", "redis-server"] {
                let tlsPort = freeTCPPort()
                if server == "needletail" {
                    _ = try startNeedletail(tlsPort: tlsPort, ["--tls-auth-clients", mode])
                } else {
                    _ = try startOracle(tlsPort: tlsPort, ["--tls-auth-clients", mode])
                }
                let withCert = try cliTLS(tlsPort, ["PING"]).hasPrefix("PONG")
                let without = try cliTLS(tlsPort, certificate: false, ["PING"]).hasPrefix("PONG")
                let stranger = try cliTLS(tlsPort, cert: "stranger", ["PING"]).hasPrefix("PONG")
                outcomes.append([withCert, without, stranger])
            }
            XCTAssertEqual(outcomes[0], outcomes[1], "tls-auth-clients \(mode): needletail against redis-server")
            XCTAssertEqual(outcomes[0], [true, mode != "yes", mode == "no"], "tls-auth-clients \(mode)")
        }
    }

    /// Plain `port` and `tls-port` serve the same data side by side; CLIENT LIST shows the TLS client with
    /// the usual fields; `port 0` leaves only TLS.
    func testPlainAndTLSPortsSideBySide() throws {
        let tlsPort = freeTCPPort()
        let server = try startNeedletail(tlsPort: tlsPort)
        XCTAssertEqual(try cliTLS(tlsPort, ["SET", "k", "over-tls"]), "OK\n")
        let plain = try RawClient(port: server.port)
        XCTAssertReply(try plain.call("GET", "k"), b("$8\r\nover-tls\r\n"))
        let list = try cliTLS(tlsPort, ["CLIENT", "LIST"])
        XCTAssertTrue(list.contains("laddr=127.0.0.1:\(tlsPort) "), list)
        XCTAssertTrue(list.contains(" cmd=client|list "), list)
        XCTAssertEqual(try cliTLS(tlsPort, ["CONFIG", "GET", "tls-port"]), "tls-port\n\(tlsPort)\n")
        // A TLS client killed by CLIENT KILL from a plain one.
        XCTAssertEqual(try python(["kill-me", "\(tlsPort)", "\(server.port)"]), "killed\n")

        let onlyTLS = freeTCPPort()
        let tlsOnly = try ServerUnderTest.launch(extraArguments: tlsArguments(onlyTLS, ["--port", "0"]))
        servers.append(tlsOnly)
        XCTAssertTrue(try waitForTLS(onlyTLS), tlsOnly.logTail())
        XCTAssertNil(try? RawClient(port: tlsOnly.port), "port 0: nothing listens in plain TCP")
    }

    /// A pipeline of large replies and one of large requests, each sent in one write, come back complete and
    /// in order over TLS (OpenSSL's already-decrypted bytes are not stranded).
    func testPipelinedLargeRequestsAndRepliesOverTLS() throws {
        let tlsPort = freeTCPPort()
        _ = try startNeedletail(tlsPort: tlsPort)
        XCTAssertEqual(try python(["pipeline", "\(tlsPort)"]), "ok\n")
    }

    /// OpenSSL reads ahead: 200 small records sent in one TCP write arrive in one read(), and all but the first
    /// wait, still encrypted, where epoll cannot see them; every one must be answered. Then a record split in
    /// two writes 1 s apart: the half in OpenSSL's buffer must neither strand the request nor make the loop
    /// spin (the server's CPU time over that second stays well under a second).
    func testRecordsReadAheadAreAllAnsweredWithoutSpinning() throws {
        let tlsPort = freeTCPPort()
        let server = try startNeedletail(tlsPort: tlsPort)
        XCTAssertEqual(try python(["records", "\(tlsPort)", "\(server.pid)"]), "ok\n")
    }

    /// redis-benchmark over TLS, pipelined, runs without an error and gets every reply.
    func testRedisBenchmarkOverTLS() throws {
        let tlsPort = freeTCPPort()
        let server = try startNeedletail(tlsPort: tlsPort)
        let out = try runProgram(["/usr/bin/redis-benchmark", "-p", "\(tlsPort)", "--tls", "--cacert", "\(dir)/ca.crt",
                                  "--cert", "\(dir)/client.crt", "--key", "\(dir)/client.key", "-t", "set,get,lrange_100",
                                  "-n", "20000", "-P", "16", "-q", "--csv"]).output
        XCTAssertTrue(out.contains("\"SET\"") && out.contains("\"GET\"") && out.contains("\"LRANGE_100"), out)
        XCTAssertFalse(out.lowercased().contains("error"), out)
        let plain = try RawClient(port: server.port)
        XCTAssertReply(try plain.call("EXISTS", "key:__rand_int__"), b(":1\r\n"))
    }

    /// redis-py with ssl=True, with and without a client certificate (tls-auth-clients optional): the
    /// clients venv's redis-py (IntegrationTests/clients) when there is one, else Debian's python3-redis.
    func testRedisPy() throws {
        let tlsPort = freeTCPPort()
        _ = try startNeedletail(tlsPort: tlsPort, ["--tls-auth-clients", "optional"])
        let venv = (getenv("CLIENTS_VENV").map { String(cString: $0) } ?? (getenv("HOME").map { String(cString: $0) } ?? "")
            + "/.cache/needletail-clients/venv") + "/bin/python3"
        let interpreter = access(venv, X_OK) == 0 ? venv : Self.python
        let out = try runProgram([interpreter, "\(dir)/client.py", "redis-py", "\(tlsPort)"]).output
        if out.hasPrefix("skip") { throw XCTSkip("redis-py is not installed (python3-redis or the clients venv)") }
        XCTAssertEqual(out, "b'v1' b'v2'\n")
    }

    /// A TLS client is held to the output buffer limits and the idle timeout as any other.
    func testTLSClientsKeepLimitsAndTimeouts() throws {
        let tlsPort = freeTCPPort()
        let server = try startNeedletail(tlsPort: tlsPort)
        let plain = try RawClient(port: server.port)
        XCTAssertReply(try plain.call([b("SET"), b("big"), [UInt8](repeating: 120, count: 1 << 20)]), b("+OK\r\n"))
        XCTAssertReply(try plain.call("CONFIG", "SET", "client-output-buffer-limit", "normal 100000 0 0"), b("+OK\r\n"))
        XCTAssertEqual(try python(["get-big", "\(tlsPort)"]), "closed\n")
        XCTAssertTrue(server.logTail(4000).contains("for overcoming of output buffer limits."), server.logTail())
        XCTAssertReply(try plain.call("CONFIG", "SET", "client-output-buffer-limit", "normal 0 0 0"), b("+OK\r\n"))
        XCTAssertEqual(try python(["get-big", "\(tlsPort)"]), "read 1048576\n")
        XCTAssertReply(try plain.call("CONFIG", "SET", "timeout", "1"), b("+OK\r\n"))
        XCTAssertEqual(try python(["idle", "\(tlsPort)"]), "closed\n")
    }

    // MARK: - Hostile clients

    /// Garbage instead of a ClientHello, handshakes that stall (nothing sent, half a record header, a
    /// ClientHello and nothing more) and handshakes cut off by a reset never hold up anyone else: while they
    /// sit there, TLS and plain clients are served at once, and the server lives on.
    func testHostileHandshakesNeverBlockTheLoop() throws {
        let tlsPort = freeTCPPort()
        let server = try startNeedletail(tlsPort: tlsPort)
        let plain = try RawClient(port: server.port)
        XCTAssertReply(try plain.call("SET", "canary", "alive"), b("+OK\r\n"))

        // Stalled: 50 connections that say nothing, 50 that send a record header announcing 16 KB and stop.
        var stalled: [RawClient] = []
        for i in 0..<100 {
            let c = try RawClient(port: tlsPort, timeoutMillis: 200)
            if i % 2 == 1 { try c.send([0x16, 0x03, 0x01, 0x40, 0x00, 0x01]) }
            stalled.append(c)
        }
        // Garbage: the server answers with an alert or closes, and goes on.
        for pattern in [b("GET foo\r\n"), [UInt8](repeating: 0xFF, count: 4096), [0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5]] {
            let c = try RawClient(port: tlsPort, timeoutMillis: 3000)
            try c.send(pattern)
            _ = try? c.readUntilClosed()
        }
        // Real ClientHellos cut off (a reset after the ClientHello, after part of the server's reply, half a hello).
        XCTAssertEqual(try python(["cut-handshakes", "\(tlsPort)"]), "done\n")

        let started = clockMillis()
        XCTAssertEqual(try cliTLS(tlsPort, ["GET", "canary"]), "alive\n")
        XCTAssertReply(try plain.call("GET", "canary"), b("$5\r\nalive\r\n"))
        XCTAssertLessThan(clockMillis() - started, 5000, "clients were served while handshakes stalled")
        // The stalled handshakes are clients (as in Redis); the closed ones are gone.
        let count = try cliTLS(tlsPort, ["INFO", "clients"])
        XCTAssertTrue(count.contains("connected_clients:102\r"), count)
        stalled.removeAll()
        rawSleepMillis(200)
        XCTAssertTrue(try cliTLS(tlsPort, ["INFO", "clients"]).contains("connected_clients:2\r"))
        XCTAssertTrue(server.isRunning)
    }

    // MARK: - CONFIG SET

    /// CONFIG SET of tls-* rebuilds the context as Redis's applyTlsCfg: a bad file is refused with Redis's
    /// error and the old context stays; tls-port moves the listener; open TLS connections are unaffected.
    func testConfigSetReloadsTheContext() throws {
        let tlsPort = freeTCPPort()
        let server = try startNeedletail(tlsPort: tlsPort)
        let oracle = try startOracle(tlsPort: freeTCPPort())
        for port in [server.port, oracle.port] {
            let c = try RawClient(port: port)
            XCTAssertReply(try c.call("CONFIG", "SET", "tls-cert-file", "/nonexistent.crt"),
                           b("-ERR CONFIG SET failed (possibly related to argument 'tls-cert-file') - Unable to update TLS configuration. Check server logs.\r\n"))
            XCTAssertReply(try c.call("CONFIG", "SET", "tls-protocols", "TLSv9"),
                           b("-ERR CONFIG SET failed (possibly related to argument 'tls-protocols') - Unable to update TLS configuration. Check server logs.\r\n"))
            XCTAssertReply(try c.call("CONFIG", "GET", "tls-cert-file"), b("*2\r\n$13\r\ntls-cert-file\r\n$\(dir.utf8.count + 11)\r\n\(dir)/server.crt\r\n"))
        }
        XCTAssertEqual(try cliTLS(tlsPort, ["PING"]), "PONG\n")
        // The client certificate can serve as the server's: a new context, and new connections use it.
        let c = try RawClient(port: server.port)
        XCTAssertReply(try c.call("CONFIG", "SET", "tls-cert-file", "\(dir)/client.crt", "tls-key-file", "\(dir)/client.key"), b("+OK\r\n"))
        XCTAssertEqual(try python(["peer-cn", "\(tlsPort)"]), "client\n")
        let moved = freeTCPPort()
        XCTAssertReply(try c.call("CONFIG", "SET", "tls-port", "\(moved)"), b("+OK\r\n"))
        XCTAssertEqual(try cliTLS(moved, ["PING"]), "PONG\n")
        XCTAssertNil(try? RawClient(port: tlsPort), "the old TLS port is closed")
        XCTAssertReply(try c.call("CONFIG", "SET", "tls-port", "0"), b("+OK\r\n"))
        XCTAssertNil(try? RawClient(port: moved))
    }

    // MARK: - Replication over TLS

    /// tls-replication yes: a needletail replica syncs from a master's tls-port and follows its writes, for
    /// needletail -> needletail, redis-server -> needletail and needletail -> redis-server.
    func testReplicationOverTLS() throws {
        // No 5 s wait before each diskless transfer (the default delay, for more replicas to join it).
        let noDelay = ["--repl-diskless-sync-delay", "0"]
        let masterTLS = freeTCPPort()
        let master = try startNeedletail(tlsPort: masterTLS, noDelay)
        let m = try RawClient(port: master.port)
        XCTAssertReply(try m.call("SET", "before", "sync"), b("+OK\r\n"))
        let replica = try startNeedletail(tlsPort: freeTCPPort(), ["--tls-replication", "yes", "--replicaof", "127.0.0.1", "\(masterTLS)"])
        try assertReplicates(master: m, replica: RawClient(port: replica.port), tag: "needletail -> needletail")
        let roles = try cliTLS(masterTLS, ["INFO", "replication"])
        XCTAssertTrue(roles.contains("connected_slaves:1"), roles)

        let oracleTLS = freeTCPPort()
        let oracle = try startOracle(tlsPort: oracleTLS, ["--tls-replication", "yes"] + noDelay)
        let o = try RawClient(port: oracle.port)
        let fromOracle = try startNeedletail(tlsPort: freeTCPPort(), ["--tls-replication", "yes", "--replicaof", "127.0.0.1", "\(oracleTLS)"])
        try assertReplicates(master: o, replica: RawClient(port: fromOracle.port), tag: "redis-server -> needletail")

        let oracleReplica = try startOracle(tlsPort: freeTCPPort(), ["--tls-replication", "yes", "--replicaof", "127.0.0.1", "\(masterTLS)"])
        try assertReplicates(master: m, replica: RawClient(port: oracleReplica.port), tag: "needletail -> redis-server")
    }

    private func assertReplicates(master: RawClient, replica: RawClient, tag: String) throws {
        let key = "key-\(clockMillis())"
        let value = String(repeating: "v", count: 100_000)
        XCTAssertReply(try master.call("SET", key, value), b("+OK\r\n"))
        XCTAssertReply(try master.call("RPUSH", key + ":list", "a", "b", "c"), b(":3\r\n"))
        let deadline = clockMillis() + 20_000
        while clockMillis() < deadline {
            if try replica.call("LLEN", key + ":list") == b(":3\r\n") { break }
            rawSleepMillis(50)
        }
        XCTAssertReply(try replica.call("LLEN", key + ":list"), b(":3\r\n"), tag)
        XCTAssertReply(try replica.call("STRLEN", key), b(":100000\r\n"), tag)
        let info = replyText(try replica.call("INFO", "replication"))
        XCTAssertTrue(info.contains("master_link_status:up"), "\(tag): \(info)")
    }

    // MARK: - Protected mode

    /// protected-mode yes with no password: a connection from a non-loopback address of this machine gets
    /// redis-server 7.0's DENIED text, byte for byte, and is closed (even with an explicit bind, as 7.0); over
    /// TLS the text comes after the handshake. A password, protected-mode no, or loopback lets it in.
    func testProtectedModeRefusesNonLoopbackClients() throws {
        guard let address = nonLoopbackIPv4() else { throw XCTSkip("no non-loopback IPv4 address") }
        let tlsPort = freeTCPPort()
        let server = try startNeedletail(tlsPort: tlsPort, ["--bind", "* -::*"])
        let oracle = try startOracle(tlsPort: freeTCPPort(), ["--bind", "* -::*"])
        let denied = try python(["probe", address, "\(oracle.port)"])
        XCTAssertTrue(denied.hasPrefix("-DENIED Redis is running in protected mode"), denied)
        XCTAssertEqual(try python(["probe", address, "\(server.port)"]), denied)
        XCTAssertEqual(try python(["probe-tls", address, "\(tlsPort)"]), denied)
        XCTAssertEqual(try python(["probe", "127.0.0.1", "\(server.port)"]), "+PONG\r\n")
        let c = try RawClient(port: server.port)
        XCTAssertTrue(replyText(try c.call("INFO", "stats")).contains("rejected_connections:2\r"))
        XCTAssertReply(try c.call("CONFIG", "SET", "requirepass", "secret"), b("+OK\r\n"))
        XCTAssertEqual(try python(["probe", address, "\(server.port)"]), "-NOAUTH Authentication required.\r\n")
        XCTAssertReply(try c.call("AUTH", "secret"), b("+OK\r\n"))
        XCTAssertReply(try c.call("CONFIG", "SET", "requirepass", "", "protected-mode", "no"), b("+OK\r\n"))
        XCTAssertEqual(try python(["probe", address, "\(server.port)"]), "+PONG\r\n")
    }

    private func nonLoopbackIPv4() -> String? {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0 else { return nil }
        defer { freeifaddrs(list) }
        var p = list
        while let entry = p {
            defer { p = entry.pointee.ifa_next }
            guard let sa = entry.pointee.ifa_addr, sa.pointee.sa_family == UInt16(AF_INET) else { continue }
            var host = [CChar](repeating: 0, count: 64)
            let sin = UnsafeRawPointer(sa).assumingMemoryBound(to: sockaddr_in.self)
            var addr = sin.pointee.sin_addr
            inet_ntop(AF_INET, &addr, &host, socklen_t(host.count))
            let text = String(cString: host)
            if !text.hasPrefix("127.") { return text }
        }
        return nil
    }

    // MARK: - rename-command

    /// rename-command to another name (longer than any command's too) and to "": the same replies as
    /// redis-server for the old and new names, COMMAND INFO / COUNT / GETKEYS, scripts and commandstats.
    func testRenameCommandAsRedis() throws {
        guard RawRedisServer.isInstalled else { throw XCTSkip("redis-server is not installed") }
        let long = "b840fc02d524045429941cc15f59e41cb7be6c52extra"
        let renames = ["--rename-command", "get", "mYget", "--rename-command", "flushall", "", "--rename-command", "config", long]
        let server = try ServerUnderTest.start(extraArguments: renames)
        servers.append(server)
        let oracle = try RawRedisServer(extraArguments: renames)
        oracles.append(oracle)
        let requests: [[String]] = [
            ["SET", "k", "v"], ["GET", "k"], ["myget", "k"], ["MYGET", "k"], ["FLUSHALL"], ["config", "get", "maxmemory"],
            [long, "GET", "maxmemory"], [long.uppercased(), "GET", "maxmemory"], ["COMMAND", "INFO", "get", "myget", "flushall", "set"],
            ["COMMAND", "GETKEYS", "myget", "k"], ["COMMAND", "GETKEYS", "get", "k"], ["COMMAND", "DOCS", "myget"],
            ["EVAL", "return redis.call('myget', 'k')", "0"], ["EVAL", "return redis.call('get', 'k')", "0"],
            ["MULTI"], ["myget", "k"], ["get", "k"], ["EXEC"],
        ]
        let n = try RawClient(port: server.port)
        let o = try RawClient(port: oracle.port)
        for request in requests {
            XCTAssertReply(try n.call(request.map { Array($0.utf8) }), try o.call(request.map { Array($0.utf8) }), "\(request)")
        }
        // The command keeps its own name in CLIENT LIST (of another connection) and commandstats.
        for port in [server.port, oracle.port] {
            let other = try RawClient(port: port)
            _ = try other.call("myget", "k")
            let id = String(decoding: try other.call("CLIENT", "ID").dropFirst().dropLast(2), as: UTF8.self)
            _ = try other.call("myget", "k")
            let list = replyText(try RawClient(port: port).call("CLIENT", "LIST", "ID", id))
            XCTAssertTrue(list.contains(" cmd=get "), list)
            let stats = replyText(try other.call("INFO", "commandstats"))
            XCTAssertTrue(stats.contains("cmdstat_get:calls="), stats)
            XCTAssertFalse(stats.lowercased().contains("myget"), stats)
        }
    }
}

private func b(_ s: String) -> [UInt8] { Array(s.utf8) }

/// XCTAssertEqual for reply bytes, both sides shown escaped.
private func XCTAssertReply(_ actual: @autoclosure () throws -> [UInt8], _ expected: @autoclosure () throws -> [UInt8],
                            _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
    do {
        let (a, e) = (try actual(), try expected())
        if a != e { XCTFail("\(rawEscaped(a)) is not \(rawEscaped(e)) \(message)", file: file, line: line) }
    } catch {
        XCTFail("\(error) \(message)", file: file, line: line)
    }
}

/// The Python side of the tests: TLS clients driven by the standard `ssl` module.
private let pythonClient = #"""
import os, socket, ssl, sys, time
d = os.path.dirname(os.path.abspath(__file__))

def context(cert=True):
    ctx = ssl.create_default_context(cafile=d + "/ca.crt")
    ctx.check_hostname = False
    if cert:
        ctx.load_cert_chain(d + "/client.crt", d + "/client.key")
    return ctx

def connect(port, host="127.0.0.1"):
    return context().wrap_socket(socket.create_connection((host, port), timeout=20))

def command(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out

def read_exactly(s, n):
    data = bytearray()
    while len(data) < n:
        chunk = s.recv(min(1 << 20, n - len(data)))
        if not chunk:
            raise Exception("closed after %d of %d bytes" % (len(data), n))
        data += chunk
    return bytes(data)

def until_closed(s):
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, ssl.SSLError, socket.timeout):
        pass
    return data

mode = sys.argv[1]
if mode == "pipeline":
    s = connect(int(sys.argv[2]))
    big = os.urandom(1 << 20)
    # 100 requests of 64 KB in one write, then 40 GETs of 1 MB and 2000 INCRs in another.
    upload = b"".join(command("SET", "up:%d" % i, big[i * 100: i * 100 + 65536]) for i in range(100))
    s.sendall(upload)
    if read_exactly(s, 5 * 100) != b"+OK\r\n" * 100:
        print("bad upload replies"); sys.exit(1)
    s.sendall(command("SET", "big", big))
    read_exactly(s, 5)
    s.sendall(command("GET", "up:99") + b"".join(command("GET", "big") for _ in range(40))
              + b"".join(command("INCR", "n") for _ in range(2000)) + command("PING"))
    expected = b"$65536\r\n" + big[9900:9900 + 65536] + b"\r\n"
    expected += (b"$%d\r\n" % len(big) + big + b"\r\n") * 40
    expected += b"".join(b":%d\r\n" % i for i in range(1, 2001)) + b"+PONG\r\n"
    got = read_exactly(s, len(expected))
    print("ok" if got == expected else "mismatch")
elif mode == "records":
    port, pid = int(sys.argv[2]), int(sys.argv[3])
    raw = socket.create_connection(("127.0.0.1", port), timeout=20)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context().wrap_bio(incoming, outgoing)
    def flush():
        data = outgoing.read()
        if data:
            raw.sendall(data)
    def receive():
        chunk = raw.recv(65536)
        if not chunk:
            raise Exception("closed")
        incoming.write(chunk)
    while True:
        try:
            tls.do_handshake()
            flush()
            break
        except ssl.SSLWantReadError:
            flush()
            receive()
    def replies(n):
        data = b""
        while len(data) < n:
            try:
                data += tls.read(65536)
            except ssl.SSLWantReadError:
                receive()
        return data
    def cpu_ticks():
        fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    for i in range(200):
        tls.write(command("INCR", "records"))  # one record each
    flush()
    expected = b"".join(b":%d\r\n" % i for i in range(1, 201))
    got = replies(len(expected))
    if got != expected:
        print("bad replies: %r" % got[-40:]); sys.exit(1)
    tls.write(command("PING"))
    record = outgoing.read()
    raw.sendall(record[: len(record) // 2])
    before = cpu_ticks()
    time.sleep(1)
    spent = cpu_ticks() - before
    raw.sendall(record[len(record) // 2 :])
    got = replies(7)
    ticks = os.sysconf("SC_CLK_TCK")
    print("ok" if got == b"+PONG\r\n" and spent < ticks // 2 else "reply %r, %d of %d ticks" % (got, spent, ticks))
elif mode == "kill-me":
    s = connect(int(sys.argv[2]))
    s.sendall(command("CLIENT", "ID"))
    cid = s.recv(100).split(b"\r\n")[0][1:]
    p = socket.create_connection(("127.0.0.1", int(sys.argv[3])), timeout=5)
    p.sendall(command("CLIENT", "KILL", "ID", cid))
    reply = p.recv(100)
    print("killed" if reply == b":1\r\n" and until_closed(s) == b"" else "not killed: %r" % reply)
elif mode == "get-big":
    s = connect(int(sys.argv[2]))
    s.sendall(command("GET", "big"))
    time.sleep(0.5)
    try:
        data = read_exactly(s, (1 << 20) + 12)
        print("read %d" % (len(data) - 12) if data.startswith(b"$1048576\r\n") else "bad reply")
    except Exception:
        print("closed")
elif mode == "idle":
    s = connect(int(sys.argv[2]))
    s.sendall(command("PING"))
    if s.recv(100) != b"+PONG\r\n":
        print("no pong"); sys.exit(1)
    s.settimeout(10)
    print("closed" if until_closed(s) == b"" else "open")
elif mode == "peer-cn":
    s = connect(int(sys.argv[2]))
    subject = dict(x[0] for x in s.getpeercert()["subject"])
    print(subject["commonName"])
elif mode == "cut-handshakes":
    port = int(sys.argv[2])
    for i in range(60):
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = context().wrap_bio(incoming, outgoing)
        try:
            tls.do_handshake()
        except ssl.SSLWantReadError:
            pass
        hello = outgoing.read()
        raw = socket.create_connection(("127.0.0.1", port), timeout=5)
        if i % 3 == 0:
            raw.sendall(hello[: len(hello) // 2])
        elif i % 3 == 1:
            raw.sendall(hello)
        else:
            raw.sendall(hello)
            raw.recv(100)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        raw.close()
    print("done")
elif mode == "probe":
    s = socket.create_connection((sys.argv[2], int(sys.argv[3])), timeout=3)
    s.sendall(b"PING\r\n")
    data = b""
    try:
        while not data.endswith(b"\r\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, socket.timeout):
        pass
    sys.stdout.write(data.decode())
elif mode == "probe-tls":
    s = connect(int(sys.argv[3]), sys.argv[2])
    s.sendall(b"PING\r\n")
    sys.stdout.write(until_closed(s).decode())
elif mode == "redis-py":
    try:
        import redis
    except ImportError:
        print("skip"); sys.exit(0)
    port = int(sys.argv[2])
    with_cert = redis.Redis(port=port, ssl=True, ssl_ca_certs=d + "/ca.crt", ssl_certfile=d + "/client.crt",
                            ssl_keyfile=d + "/client.key", ssl_check_hostname=False)
    without = redis.Redis(port=port, ssl=True, ssl_ca_certs=d + "/ca.crt", ssl_check_hostname=False)
    with_cert.set("k1", "v1")
    without.set("k2", "v2")
    print(without.get("k1"), with_cert.get("k2"))
"""#
