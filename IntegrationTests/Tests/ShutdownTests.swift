import Glibc
import XCTest

/// SHUTDOWN with replicas, as redis-server 7.0: a redis-server replica follows the master under test and is
/// frozen with SIGSTOP after a write, so it lags. Without NOW the master waits (writes paused, the SHUTDOWN
/// client blocked) until the replica acknowledges or `shutdown-timeout` passes; SHUTDOWN ABORT from another
/// client cancels; NOW does not wait; SIGTERM and SIGINT follow `shutdown-on-sigterm` / `-sigint`. Each
/// scenario runs with Needletail and with redis-server as the master, and both must behave alike (replies,
/// whether and how long they wait, the replica holding the last write).
final class ShutdownTests: PersistenceTestCase {
    override var directoryTag: String { "shutdown" }

    /// A master under test: its port, whether it still runs, how to signal it.
    private struct Master {
        let port: Int
        let pid: pid_t
        let isRunning: () -> Bool
    }

    /// Syncs its replica at once (the default waits 5 s before a diskless transfer, for more replicas to join).
    private func master(needletail: Bool, _ extra: [String]) throws -> Master {
        let extra = ["--repl-diskless-sync-delay", "0"] + extra
        let dir = try directory()
        if needletail {
            let s = try self.needletail(dir, extra)
            return Master(port: s.port, pid: s.pid, isRunning: { s.isRunning })
        }
        let o = try oracle(dir, extra)
        return Master(port: o.port, pid: o.pid, isRunning: { o.isRunning })
    }

    /// A redis-server replica of `master`, online, then frozen after `key` reached it.
    private func frozenReplica(of master: Master) throws -> RawRedisServer {
        let replica = try oracle(try directory(), ["--replicaof", "127.0.0.1", "\(master.port)"])
        let admin = try RawClient(port: master.port)
        XCTAssertTrue(try eventually(timeoutMillis: 20_000) {
            (try admin.info("slave0", section: "replication"))?.contains("state=online") == true
        }, "the replica never came online")
        XCTAssertEqual(try admin.say("SET", "before", "1"), "+OK\r\n")
        XCTAssertTrue(try eventually(timeoutMillis: 5000) {
            try RawClient(port: replica.port).say("GET", "before") == "$1\r\n1\r\n"
        })
        kill(replica.pid, SIGSTOP)
        XCTAssertEqual(try admin.say("SET", "last", "write"), "+OK\r\n")
        return replica
    }

    private func thaw(_ replica: RawRedisServer) { kill(replica.pid, SIGCONT) }

    /// Sends SHUTDOWN (arguments after it) and returns the reply or "" when the connection closed, and the ms it took.
    private func shutdown(_ port: Int, _ args: [String] = [], timeoutMillis: Int32 = 30_000) throws -> (String, Int64) {
        let c = try RawClient(port: port, timeoutMillis: timeoutMillis)
        let started = clockMillis()
        try c.send(command: (["SHUTDOWN"] + args).map { Array($0.utf8) })
        let reply = replyText(try c.readUntilClosed())
        return (reply, clockMillis() - started)
    }

    private func waitForExit(_ m: Master) -> Bool { eventually(timeoutMillis: 10_000) { !m.isRunning() } }

    func testShutdownWaitsForALaggingReplicaUntilTheTimeout() throws {
        for needletail in [true, false] {
            let m = try master(needletail: needletail, ["--shutdown-timeout", "2"])
            let replica = try frozenReplica(of: m)
            let (reply, took) = try shutdown(m.port)
            XCTAssertEqual(reply, "", "needletail \(needletail)")
            XCTAssertGreaterThanOrEqual(took, 1900, "needletail \(needletail): did not wait")
            XCTAssertLessThan(took, 6000, "needletail \(needletail)")
            XCTAssertTrue(waitForExit(m))
            // The final stream reached the replica before the master exited.
            thaw(replica)
            XCTAssertTrue(try eventually(timeoutMillis: 5000) {
                try RawClient(port: replica.port).say("GET", "last") == "$5\r\nwrite\r\n"
            }, "needletail \(needletail): the replica lost the last write")
        }
    }

    func testShutdownEndsAsSoonAsTheReplicaCatchesUp() throws {
        for needletail in [true, false] {
            let m = try master(needletail: needletail, ["--shutdown-timeout", "20"])
            let replica = try frozenReplica(of: m)
            let thawer = Thread { usleep(1_000_000); kill(replica.pid, SIGCONT) }
            thawer.start()
            let (reply, took) = try shutdown(m.port)
            XCTAssertEqual(reply, "", "needletail \(needletail)")
            XCTAssertGreaterThanOrEqual(took, 900, "needletail \(needletail): did not wait")
            XCTAssertLessThan(took, 8000, "needletail \(needletail): waited for the timeout")
            XCTAssertTrue(waitForExit(m))
            XCTAssertEqual(try RawClient(port: replica.port).say("GET", "last"), "$5\r\nwrite\r\n")
        }
    }

    func testAbortCancelsTheWaitAndWritesResume() throws {
        var transcripts: [[String]] = []
        for needletail in [true, false] {
            let m = try master(needletail: needletail, ["--shutdown-timeout", "30"])
            let replica = try frozenReplica(of: m)
            defer { thaw(replica) }
            let waiter = try RawClient(port: m.port, timeoutMillis: 30_000)
            try waiter.send(command: [Array("SHUTDOWN".utf8)])
            usleep(300_000)
            let writer = try RawClient(port: m.port, timeoutMillis: 1000)  // hasReply waits this long
            try writer.send(command: ["SET", "during", "pause"].map { Array($0.utf8) })
            let reader = try RawClient(port: m.port)
            var t: [String] = []
            t.append(try reader.say("GET", "last"))              // reads are not paused
            usleep(300_000)
            t.append(try writer.hasReply() ? "write not paused" : "write paused")
            t.append(try reader.say("SHUTDOWN", "ABORT"))
            t.append(replyText(try waiter.readReply()))
            t.append(replyText(try writer.readReply()))
            t.append(try reader.say("SHUTDOWN", "ABORT"))
            t.append(try reader.say("SHUTDOWN", "ABORT", "NOW"))
            t.append(m.isRunning() ? "running" : "exited")
            transcripts.append(t)
            XCTAssertEqual(try shutdown(m.port, ["NOW", "NOSAVE"]).0, "")
            XCTAssertTrue(waitForExit(m))
        }
        XCTAssertEqual(transcripts[0], ["$5\r\nwrite\r\n", "write paused", "+OK\r\n",
                                        "-ERR Errors trying to SHUTDOWN. Check logs.\r\n", "+OK\r\n",
                                        "-ERR No shutdown in progress.\r\n", "-ERR syntax error\r\n", "running"])
        XCTAssertEqual(transcripts[0], transcripts[1], "needletail vs redis-server")
    }

    func testNowDoesNotWait() throws {
        for needletail in [true, false] {
            let m = try master(needletail: needletail, ["--shutdown-timeout", "20"])
            let replica = try frozenReplica(of: m)
            defer { thaw(replica) }
            let (reply, took) = try shutdown(m.port, ["NOW"])
            XCTAssertEqual(reply, "")
            XCTAssertLessThan(took, 3000, "needletail \(needletail)")
            XCTAssertTrue(waitForExit(m))
        }
    }

    /// SIGTERM waits by default; `shutdown-on-sigterm now` does not; `shutdown-on-sigint nosave` skips the
    /// final save that the save points would make.
    func testSignalsFollowTheirShutdownFlags() throws {
        for needletail in [true, false] {
            var m = try master(needletail: needletail, ["--shutdown-timeout", "2"])
            var replica = try frozenReplica(of: m)
            var started = clockMillis()
            kill(m.pid, SIGTERM)
            XCTAssertTrue(waitForExit(m))
            XCTAssertGreaterThanOrEqual(clockMillis() - started, 1900, "needletail \(needletail): SIGTERM did not wait")
            thaw(replica)

            m = try master(needletail: needletail, ["--shutdown-timeout", "20", "--shutdown-on-sigterm", "now"])
            replica = try frozenReplica(of: m)
            started = clockMillis()
            kill(m.pid, SIGTERM)
            XCTAssertTrue(waitForExit(m))
            XCTAssertLessThan(clockMillis() - started, 3000, "needletail \(needletail): shutdown-on-sigterm now waited")
            thaw(replica)

            let dir = try directory()
            let dbfile = "signal-\(needletail).rdb"
            let extra = ["--dir", dir.path, "--dbfilename", dbfile, "--save", "3600 1", "--shutdown-on-sigint", "nosave"]
            let s: Master
            if needletail {
                let n = try self.needletail(dir, extra)
                s = Master(port: n.port, pid: n.pid, isRunning: { n.isRunning })
            } else {
                let o = try oracle(dir, extra)
                s = Master(port: o.port, pid: o.pid, isRunning: { o.isRunning })
            }
            XCTAssertEqual(try RawClient(port: s.port).say("SET", "k", "v"), "+OK\r\n")
            kill(s.pid, SIGINT)
            XCTAssertTrue(waitForExit(s))
            XCTAssertNil(readFileBytes(dir.file(dbfile)), "needletail \(needletail): SIGINT with nosave saved")
        }
    }
}
