import Glibc
import XCTest

/// `maxclients` and the open-files limit, as redis-server's adjustOpenFilesLimit (Server/Startup.swift): a
/// server started under a low `ulimit -n` raises it to maxclients + 32 when the hard limit allows, and
/// otherwise lowers maxclients to fit, with Redis's log lines. Each case runs the built binary and
/// redis-server under the same `/bin/sh -c 'ulimit ...; exec server ...'` and compares.
final class OpenFilesLimitTests: XCTestCase {
    func testLowSoftLimitIsRaisedToMaxclientsPlus32() throws {
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        guard limit.rlim_max >= 1032 else { throw XCTSkip("the hard open-files limit is \(limit.rlim_max), below 1032") }
        let (nt, redis) = try bothUnder("ulimit -Sn 256", maxclients: 1000)
        XCTAssertEqual(nt.maxclients, "1000")
        XCTAssertEqual(nt.maxclients, redis.maxclients)
        XCTAssertEqual(nt.openFiles, 1032)
        XCTAssertEqual(nt.openFiles, redis.openFiles)
        XCTAssertTrue(nt.log.contains("Increased maximum number of open files to 1032 (it was originally set to 256)."), nt.log)
    }

    func testLowHardLimitLowersMaxclients() throws {
        let (nt, redis) = try bothUnder("ulimit -n 256", maxclients: 1000)
        XCTAssertEqual(nt.maxclients, "224")
        XCTAssertEqual(nt.maxclients, redis.maxclients)
        for line in ["You requested maxclients of 1000 requiring at least 1032 max file descriptors.",
                     "maxclients has been reduced to 224 to compensate for low ulimit."] {
            XCTAssertTrue(nt.log.contains(line), nt.log)
            XCTAssertTrue(redis.log.contains(line), redis.log)
        }
    }

    private struct Outcome {
        var maxclients: String
        var openFiles: Int
        var log: String
    }

    private func bothUnder(_ ulimit: String, maxclients: Int) throws -> (Outcome, Outcome) {
        guard RawRedisServer.isInstalled else { throw XCTSkip("redis-server is not installed") }
        guard let binary = ServerUnderTest.binaryPath() else { throw XCTSkip("needletail-server is not built") }
        return (try run(binary, ulimit, maxclients), try run(RawRedisServer.path, ulimit, maxclients))
    }

    private func run(_ binary: String, _ ulimit: String, _ maxclients: Int) throws -> Outcome {
        let port = freeTCPPort()
        let log = "/tmp/open-files-\(getpid())-\(port).log"
        defer { unlink(log) }
        let pid = try spawnServerProcess(["/bin/sh", "-c", "\(ulimit) && exec \(binary) --port \(port) --save '' "
            + "--appendonly no --maxclients \(maxclients)"], output: log)
        defer {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
        let deadline = clockMillis() + 5000
        var admin: RawClient?
        while admin == nil && clockMillis() < deadline {
            admin = try? RawClient(port: port)
            if admin == nil { rawSleepMillis(20) }
        }
        guard let admin else { throw HarnessError("\(binary) did not start: \(String(cString: strerror(errno)))") }
        let reply = String(decoding: try admin.call("CONFIG", "GET", "maxclients"), as: UTF8.self)
        let value = reply.split(separator: "\r\n").last.map(String.init) ?? ""
        let limits = (try? String(contentsOfFile: "/proc/\(pid)/limits", encoding: .utf8)) ?? ""
        let line = limits.split(separator: "\n").first { $0.hasPrefix("Max open files") } ?? ""
        let soft = line.dropFirst("Max open files".count).split(separator: " ").first.flatMap { Int($0) } ?? -1
        return Outcome(maxclients: value, openFiles: soft,
                       log: (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
    }
}
