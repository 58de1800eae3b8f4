import Glibc
import TestSupport
import XCTest

/// A full disk, for real: a 4 MB tmpfs mounted as the server's directory (skipped where mounting is not
/// allowed). Writes the AOF cannot take are refused with Redis's -MISCONF text and nothing acknowledged is
/// lost; once space is freed the server recovers by itself; a BGSAVE that runs out of space fails, leaves
/// the previous dump alone and stops writes as stop-writes-on-bgsave-error says.
final class DiskFullTests: XCTestCase {
    private var directory: TemporaryDirectory!
    private var mountPoint: String { directory.path }
    private var servers: [ServerUnderTest] = []

    override func setUpWithError() throws {
        signal(SIGPIPE, SIG_IGN)
        directory = try TemporaryDirectory("diskfull")
        if mount("tmpfs", mountPoint, "tmpfs", 0, "size=4m") != 0 {
            directory.remove()
            throw XCTSkip("cannot mount a tmpfs here: \(String(cString: strerror(errno)))")
        }
    }

    override func tearDown() {
        let failed = (testRun?.totalFailureCount ?? 1) > 0
        for s in servers { s.stop(keepLog: failed) }
        umount2(mountPoint, Int32(MNT_DETACH))
        directory.remove()
    }

    private func start(_ extra: [String]) throws -> ServerUnderTest {
        let s = try ServerUnderTest.start(extraArguments: DifferentialRunner.debugEnabled + ["--dir", mountPoint] + extra)
        servers.append(s)
        return s
    }

    /// Fills the rest of the file system with `filler` (so that freeing it makes room again).
    private func fill(_ name: String, bytes: Int) {
        let f = fopen(mountPoint + "/" + name, "wb")!
        let chunk = [UInt8](repeating: 0x5A, count: 64 * 1024)
        var written = 0
        while written < bytes && fwrite(chunk, 1, chunk.count, f) == chunk.count { written += chunk.count }
        fclose(f)
    }

    /// Writes 1 KB values until one is not acknowledged; returns the acknowledged indexes and the first
    /// reply that was not +OK ("" when the connection closed instead).
    private func fillUntilRefused(_ c: RawClient, _ value: String) -> (acknowledged: [Int], refusal: String) {
        var acknowledged: [Int] = []
        for i in 0..<10_000 {
            guard let reply = try? c.say("SET", "k\(i)", "\(value)\(i)") else { return (acknowledged, "") }
            if reply != "+OK\r\n" { return (acknowledged, reply) }
            acknowledged.append(i)
        }
        return (acknowledged, "+OK\r\n")
    }

    /// After `server` stopped: redis-check-aof accepts the files and a restart (with room again) holds
    /// every acknowledged write, plus `extraKeys` more keys.
    private func checkNothingAcknowledgedIsLost(_ acknowledged: [Int], _ value: String, extraKeys: Int) throws {
        let check = try runProgram(["/usr/bin/redis-check-aof", mountPoint + "/appendonlydir/appendonly.aof.manifest"])
        XCTAssertTrue(exitedNormally(check.status) && exitCode(check.status) == 0, "redis-check-aof: \(check.output)")
        let restarted = try start(["--appendonly", "yes", "--save", ""])
        let r = try RawClient(port: restarted.port, timeoutMillis: 10_000)
        XCTAssertEqual(try r.say("DBSIZE"), ":\(acknowledged.count + extraKeys)\r\n")
        for i in acknowledged where i % 50 == 0 || i == acknowledged.last {
            XCTAssertEqual(try r.say("GET", "k\(i)"), "$\(1000 + String(i).count)\r\n\(value)\(i)\r\n", "k\(i)")
        }
    }

    /// appendfsync everysec: a write the AOF cannot take leaves the AOF in error, and from then on writes
    /// and PING get -MISCONF (reads still work); once there is room, the cron's retry succeeds and writes
    /// are accepted again; nothing acknowledged is lost.
    func testAOFOnAFullDiskRefusesWritesAndRecovers() throws {
        fill("filler", bytes: 2 << 20)
        let server = try start(["--appendonly", "yes", "--appendfsync", "everysec", "--save", ""])
        let c = try RawClient(port: server.port, timeoutMillis: 10_000)
        let value = String(repeating: "v", count: 1000)
        let (acknowledged, refusal) = fillUntilRefused(c, value)
        XCTAssertEqual(refusal, "-MISCONF Errors writing to the AOF file: No space left on device\r\n")
        XCTAssertGreaterThan(acknowledged.count, 500)
        XCTAssertEqual(try c.say("PING"), refusal, "PING is refused too, as in Redis")
        XCTAssertEqual(try c.say("GET", "k0"), "$1001\r\n\(value)0\r\n", "reads still work")
        XCTAssertEqual(try c.info("aof_last_write_status"), "err")

        unlink(mountPoint + "/filler")
        XCTAssertTrue(try eventually(timeoutMillis: 5_000) { try c.say("SET", "after", "1") == "+OK\r\n" }, "no recovery")
        XCTAssertEqual(try c.info("aof_last_write_status"), "ok")
        _ = try? c.say("SHUTDOWN", "NOSAVE")
        XCTAssertNotNil(server.waitForExit(timeoutMillis: 10_000))
        try checkNothingAcknowledgedIsLost(acknowledged, value, extraKeys: 1)
    }

    /// appendfsync always: a write the AOF cannot take cannot be answered at all, so the server exits (as
    /// redis-server: "Can't recover from AOF write error when the AOF fsync policy is 'always'"); every
    /// acknowledged write is in the files.
    func testAOFAlwaysOnAFullDiskExitsWithoutLosingAcknowledgedWrites() throws {
        fill("filler", bytes: 2 << 20)
        let server = try start(["--appendonly", "yes", "--appendfsync", "always", "--save", ""])
        let c = try RawClient(port: server.port, timeoutMillis: 10_000)
        let value = String(repeating: "v", count: 1000)
        let (acknowledged, refusal) = fillUntilRefused(c, value)
        XCTAssertEqual(refusal, "", "the server answered instead of exiting")
        XCTAssertGreaterThan(acknowledged.count, 500)
        let status = server.waitForExit(timeoutMillis: 10_000)
        XCTAssertNotNil(status)
        if let status { XCTAssertTrue(exitedNormally(status) && exitCode(status) != 0, "status \(status)") }
        unlink(mountPoint + "/filler")
        try checkNothingAcknowledgedIsLost(acknowledged, value, extraKeys: 0)
    }

    func testBackgroundSaveOnAFullDiskFailsKeepsThePreviousDumpAndStopsWrites() throws {
        let server = try start(["--save", "3600 1"])
        let c = try RawClient(port: server.port, timeoutMillis: 10_000)
        XCTAssertEqual(try c.say("SET", "small", "1"), "+OK\r\n")
        XCTAssertEqual(try c.say("SAVE"), "+OK\r\n")
        let before = try XCTUnwrap(readFileBytes(mountPoint + "/dump.rdb"))
        // Incompressible values bigger than the free space.
        var rng = SeededRandom(seed: 3)
        let digits = Array("0123456789abcdef".utf8)
        for i in 0..<100 {
            let text = String(decoding: (0..<100_000).map { _ in digits[rng.below(16)] }, as: UTF8.self)
            XCTAssertEqual(try c.say("SET", "big\(i)", text), "+OK\r\n")
        }
        XCTAssertEqual(try c.say("BGSAVE"), "+Background saving started\r\n")
        XCTAssertTrue(try eventually(timeoutMillis: 10_000) { try c.info("rdb_bgsave_in_progress") == "0" })
        XCTAssertEqual(try c.info("rdb_last_bgsave_status"), "err")
        XCTAssertTrue(readFileBytes(mountPoint + "/dump.rdb") == before, "the previous dump changed")
        XCTAssertFalse(directory.entries.contains { $0.hasPrefix("temp-") }, "a temp file was left")
        XCTAssertTrue(try c.say("SET", "x", "1").hasPrefix("-MISCONF Redis is configured to save RDB snapshots"))
        XCTAssertEqual(try c.say("GET", "small"), "$1\r\n1\r\n")
        XCTAssertEqual(try c.say("CONFIG", "SET", "stop-writes-on-bgsave-error", "no"), "+OK\r\n")
        XCTAssertEqual(try c.say("SET", "x", "1"), "+OK\r\n")
    }
}

