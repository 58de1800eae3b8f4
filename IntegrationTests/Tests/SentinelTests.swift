import Glibc
import XCTest

/// Debian's redis-sentinel, unchanged, manages a group of Needletail servers: three sentinels watch a master
/// and two replicas; the master is killed with -9 under write load; Sentinel promotes a replica, the other
/// follows it, a client asking Sentinel for the master reaches the new one, and every write acknowledged by
/// both replicas (WAIT 2) before the kill is on the new master.
final class SentinelTests: PersistenceTestCase {
    override var directoryTag: String { "sentinel" }
    static let sentinelPath = "/usr/bin/redis-sentinel"
    private var sentinels: [pid_t] = []

    override func tearDown() {
        for pid in sentinels {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
        super.tearDown()
    }

    private func startSentinel(masterPort: Int, dir: TemporaryDirectory) throws -> Int {
        let port = freeTCPPort()
        let conf = dir.file("sentinel-\(port).conf")
        try writeFileBytes(conf, Array("""
            port \(port)
            bind 127.0.0.1
            dir \(dir.path)
            sentinel monitor group 127.0.0.1 \(masterPort) 2
            sentinel down-after-milliseconds group 1000
            sentinel failover-timeout group 10000
            sentinel parallel-syncs group 2

            """.utf8))
        let pid = try spawnServerProcess([SentinelTests.sentinelPath, conf, "--logfile", dir.file("sentinel-\(port).log")],
                                         output: "/dev/null")
        sentinels.append(pid)
        XCTAssertTrue(try eventually(timeoutMillis: 10_000) {
            (try? RawClient(port: port, timeoutMillis: 1000).say("PING")) == "+PONG\r\n"
        }, "sentinel on \(port) did not start")
        return port
    }

    /// SENTINEL get-master-addr-by-name's port.
    private func masterPort(askingSentinel port: Int) -> Int? {
        guard let c = try? RawClient(port: port, timeoutMillis: 2000),
              let reply = try? c.call("SENTINEL", "get-master-addr-by-name", "group"),
              case .aggregate(_, let items?)? = try? RawReply.parse(reply), items.count == 2,
              case .blob(_, let portBytes?) = items[1] else { return nil }
        return Int(String(decoding: portBytes, as: UTF8.self))
    }

    func testSentinelFailsOverAKilledMaster() throws {
        guard access(SentinelTests.sentinelPath, X_OK) == 0 else { throw XCTSkip("redis-sentinel is not installed") }
        let dir = try directory()
        let extra = ["--repl-diskless-sync-delay", "0"]
        let master = try needletail(try directory(), extra)
        let replicas = [try needletail(try directory(), extra + ["--replicaof", "127.0.0.1", "\(master.port)"]),
                        try needletail(try directory(), extra + ["--replicaof", "127.0.0.1", "\(master.port)"])]
        let m = try RawClient(port: master.port, timeoutMillis: 5000)
        XCTAssertTrue(try eventually(timeoutMillis: 10_000) { try m.info("connected_slaves", section: "replication") == "2" })
        let sentinelPorts = try (0..<3).map { _ in try startSentinel(masterPort: master.port, dir: dir) }
        // Every sentinel has discovered both replicas and the other sentinels.
        XCTAssertTrue(try eventually(timeoutMillis: 20_000) {
            try sentinelPorts.allSatisfy { port in
                let s = try RawClient(port: port, timeoutMillis: 2000)
                let info = try s.say("SENTINEL", "master", "group")
                return info.contains("num-slaves\r\n$1\r\n2") && info.contains("num-other-sentinels\r\n$1\r\n2")
            }
        }, "sentinels did not discover the group")

        // Writes under load, each followed by WAIT 2: those both replicas acknowledged must survive. The
        // master is killed while the writer runs.
        let acknowledgedWrites = Locked<[Int]>([])
        runOnThreads(2) { thread in
            if thread == 1 {
                usleep(700_000)
                master.kill9()
                return
            }
            guard let writer = try? RawClient(port: master.port, timeoutMillis: 2000) else { return }
            var i = 0
            while let set = try? writer.say("SET", "w:\(i)", "\(i)"), set == "+OK\r\n" {
                if (try? writer.say("WAIT", "2", "500")) == ":2\r\n" { acknowledgedWrites.with { $0.append(i) } }
                i += 1
            }
        }
        let acknowledged = acknowledgedWrites.with { $0 }
        XCTAssertGreaterThan(acknowledged.count, 50)

        // Sentinel promotes one replica; the other follows it.
        var newPort: Int?
        XCTAssertTrue(eventually(timeoutMillis: 30_000) {
            newPort = masterPort(askingSentinel: sentinelPorts[0])
            return newPort != nil && newPort != master.port
        }, "no failover")
        guard let promoted = newPort else { return }
        XCTAssertTrue(replicas.map(\.port).contains(promoted))
        // Sentinel kills the normal clients of the servers it reconfigures: each look is a new connection.
        func fresh(_ port: Int) throws -> RawClient { try RawClient(port: port, timeoutMillis: 5000) }
        XCTAssertTrue(eventually(timeoutMillis: 10_000) { (try? fresh(promoted).info("role", section: "replication")) == "master" })
        let other = replicas.first { $0.port != promoted }!
        XCTAssertTrue(eventually(timeoutMillis: 30_000) {
            guard let o = try? fresh(other.port) else { return false }
            return (try? o.info("master_port", section: "replication")) == "\(promoted)"
                && (try? o.info("master_link_status", section: "replication")) == "up"
        }, "the other replica does not follow the new master")
        for sentinel in sentinelPorts {
            XCTAssertTrue(eventually(timeoutMillis: 10_000) { masterPort(askingSentinel: sentinel) == promoted })
        }
        // Nothing acknowledged was lost, and the new master takes writes that reach its replica.
        let n = try fresh(promoted), o = try fresh(other.port)
        for k in acknowledged { XCTAssertEqual(try n.say("GET", "w:\(k)"), "$\("\(k)".count)\r\n\(k)\r\n") }
        XCTAssertEqual(try n.say("SET", "after", "failover"), "+OK\r\n")
        XCTAssertEqual(try n.say("WAIT", "1", "5000"), ":1\r\n")
        XCTAssertEqual(try o.say("GET", "after"), "$8\r\nfailover\r\n")
    }
}
