import Glibc
import TestSupport
import XCTest

/// The life of a dump file with real processes, next to redis-server 7.0 where it can do the same: SAVE,
/// BGSAVE and their INFO fields and errors, save points, SHUTDOWN and SIGTERM, -MISCONF after a failed
/// save, start-up on corrupt files, -LOADING while a load runs, DEBUG RELOAD.
final class PersistenceLifecycleTests: PersistenceTestCase {
    override var directoryTag: String { "lifecycle" }

    /// Both servers, each in a directory of its own: [redis-server, Needletail].
    private func bothSides(_ extra: [String] = []) throws -> [RawClient] {
        let o = try oracle(try directory(), extra)
        let n = try needletail(try directory(), extra)
        return try [o.port, n.port].map { try RawClient(port: $0, timeoutMillis: 30_000) }
    }

    private let defaultSavePoints = ["--save", "3600 1 300 100 60 10000"]

    // MARK: - SAVE, BGSAVE, LASTSAVE, INFO persistence

    func testSaveBackgroundSaveAndInfoFieldsAsRedis() throws {
        let sides = try bothSides()
        let names = try sides.map { try $0.infoFieldNames() }
        XCTAssertEqual(names[1], names[0], "INFO persistence field names")
        for (n, c) in sides.enumerated() {
            let side = n == 0 ? "redis" : "needletail"
            let lastSave = Int(try c.say("LASTSAVE").dropFirst().dropLast(2))!
            let saves = Int(try c.info("rdb_saves")!)!
            _ = try c.say("SET", "a", "1")
            _ = try c.say("SET", "b", "2")
            XCTAssertEqual(try c.info("rdb_changes_since_last_save"), "2", side)
            XCTAssertEqual(try c.say("SAVE"), "+OK\r\n", side)
            XCTAssertEqual(try c.info("rdb_changes_since_last_save"), "0", side)
            XCTAssertEqual(Int(try c.info("rdb_saves")!), saves + 1, side)
            XCTAssertGreaterThanOrEqual(Int(try c.say("LASTSAVE").dropFirst().dropLast(2))!, lastSave, side)
            XCTAssertEqual(try c.info("rdb_last_bgsave_status"), "ok", side)
            XCTAssertEqual(try c.info("rdb_bgsave_in_progress"), "0", side)
            _ = try c.say("SET", "c", "3")
            XCTAssertEqual(try c.say("BGSAVE"), "+Background saving started\r\n", side)
            XCTAssertTrue(try eventually(timeoutMillis: 10_000) { try c.info("rdb_bgsave_in_progress") == "0" }, side)
            XCTAssertEqual(try c.info("rdb_last_bgsave_status"), "ok", side)
            XCTAssertEqual(try c.info("rdb_changes_since_last_save"), "0", side)
            XCTAssertEqual(Int(try c.info("rdb_saves")!), saves + 2, side)
        }
        // Errors and odd forms, byte for byte. The running BGSAVE needs a dataset that takes a while here.
        let bulk = bigDatasetCommands(seed: 3, strings: 20_000, collections: 40, elements: 1000)
        for c in sides { try loadDataset(bulk, into: c) }
        let total = try sides[1].say("DBSIZE")
        for (n, c) in sides.enumerated() {
            let side = n == 0 ? "redis" : "needletail"
            let replies = try c.pipelined([["BGSAVE"], ["BGSAVE"], ["BGSAVE", "SCHEDULE"], ["SAVE"]].map { $0.map { Array($0.utf8) } })
            XCTAssertEqual(replies.map(replyText), ["+Background saving started\r\n", "-ERR Background save already in progress\r\n",
                                                    "-ERR Background save already in progress\r\n",
                                                    "-ERR Background save already in progress\r\n"], side)
            if n == 1 {
                XCTAssertEqual(try c.info("rdb_bgsave_in_progress"), "1")
                // current_save_keys_total: the keys of every database when the save began.
                let keys = Int(try c.info("current_save_keys_total") ?? "")
                XCTAssertNotNil(keys)
                XCTAssertGreaterThanOrEqual(keys ?? 0, Int(total.dropFirst().dropLast(2))!)
            }
            XCTAssertTrue(try eventually(timeoutMillis: 30_000) { try c.info("rdb_bgsave_in_progress") == "0" }, side)
        }
        var transcripts: [[String]] = []
        for c in sides {
            var t: [String] = []
            for command in [["BGSAVE", "SCHEDULE"], ["BGSAVE", "NOW"], ["BGSAVE", "a", "b"]] {
                t.append(try replyText(c.call(command.map { Array($0.utf8) })))
                _ = try eventually(timeoutMillis: 30_000) { try c.info("rdb_bgsave_in_progress") == "0" }
            }
            let saves = Int(try c.info("rdb_saves")!)!
            // BGSAVE inside MULTI is scheduled, and runs from the cron.
            for command in [["MULTI"], ["BGSAVE"], ["EXEC"], ["MULTI"], ["SAVE"], ["DISCARD"]] {
                t.append(try replyText(c.call(command.map { Array($0.utf8) })))
            }
            XCTAssertTrue(try eventually(timeoutMillis: 30_000) {
                try Int(c.info("rdb_saves")!)! > saves && c.info("rdb_bgsave_in_progress") == "0"
            }, "the BGSAVE scheduled by MULTI did not run")
            transcripts.append(t)
        }
        XCTAssertEqual(transcripts[1], transcripts[0])
        XCTAssertEqual(transcripts[0][5], "*1\r\n+Background saving scheduled\r\n")
    }

    // MARK: - Save points

    /// `--save "1 1"`: a write is saved by itself within a few seconds; `--save ""` never saves.
    func testSavePointsSaveByThemselvesAndEmptySaveNever() throws {
        let saving = try directory(), silent = try directory()
        let a = try RawClient(port: try needletail(saving, ["--save", "1 1"]).port)
        let b = try RawClient(port: try needletail(silent).port)
        XCTAssertEqual(try a.say("CONFIG", "GET", "save"), "*2\r\n$4\r\nsave\r\n$3\r\n1 1\r\n")
        let before = try a.say("LASTSAVE")
        for c in [a, b] { _ = try c.say("SET", "k", "v") }
        XCTAssertTrue(try eventually(timeoutMillis: 4000) { try a.say("LASTSAVE") != before }, "no save within 4 s")
        XCTAssertTrue(saving.entries.contains("dump.rdb"))
        XCTAssertEqual(try a.info("rdb_changes_since_last_save"), "0")
        XCTAssertEqual(try a.info("rdb_last_bgsave_status"), "ok")
        XCTAssertEqual(silent.entries, [])
        XCTAssertEqual(try b.info("rdb_saves"), "0")
    }

    // MARK: - SHUTDOWN and SIGTERM

    /// Sends SHUTDOWN with `options`; returns its reply, or nil when the server closed the connection.
    private func shutdown(_ c: RawClient, _ options: String...) throws -> String? {
        do {
            return replyText(try c.call((["SHUTDOWN"] + options).map { Array($0.utf8) }))
        } catch RawClientError.closed {
            return nil
        }
    }

    private func assertExitsCleanly(_ s: ServerUnderTest, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        guard let status = s.waitForExit(timeoutMillis: 10_000) else { return XCTFail("\(what): still running", file: file, line: line) }
        XCTAssertTrue(exitedNormally(status) && exitCode(status) == 0, "\(what): wait status \(status)", file: file, line: line)
    }

    /// Starts Needletail on `dir`'s dump and returns GET k.
    private func valueAfterRestart(_ dir: TemporaryDirectory) throws -> String {
        let s = try needletail(dir)
        return try RawClient(port: s.port).say("GET", "k")
    }

    func testShutdownAndSigtermSaveAsConfigured() throws {
        // Save points (the default): SHUTDOWN saves, and a restart has the data.
        let d1 = try directory()
        let s1 = try needletail(d1, defaultSavePoints)
        let c1 = try RawClient(port: s1.port)
        _ = try c1.say("SET", "k", "one")
        XCTAssertNil(try shutdown(c1))
        assertExitsCleanly(s1, "SHUTDOWN")
        XCTAssertEqual(try valueAfterRestart(d1), "$3\r\none\r\n")

        // SHUTDOWN NOSAVE does not.
        let d2 = try directory()
        let s2 = try needletail(d2, defaultSavePoints)
        _ = try RawClient(port: s2.port).say("SET", "k", "two")
        XCTAssertNil(try shutdown(try RawClient(port: s2.port), "NOSAVE"))
        assertExitsCleanly(s2, "SHUTDOWN NOSAVE")
        XCTAssertEqual(d2.entries, [])

        // SIGTERM with save points saves.
        let d3 = try directory()
        let s3 = try needletail(d3, defaultSavePoints)
        _ = try RawClient(port: s3.port).say("SET", "k", "three")
        kill(s3.pid, SIGTERM)
        assertExitsCleanly(s3, "SIGTERM")
        XCTAssertEqual(try valueAfterRestart(d3), "$5\r\nthree\r\n")

        // No save points: SIGTERM and SHUTDOWN do not save, SHUTDOWN SAVE does.
        let d4 = try directory()
        let s4 = try needletail(d4)
        _ = try RawClient(port: s4.port).say("SET", "k", "four")
        kill(s4.pid, SIGTERM)
        assertExitsCleanly(s4, "SIGTERM without save points")
        XCTAssertEqual(d4.entries, [])
        let s5 = try needletail(d4)
        _ = try RawClient(port: s5.port).say("SET", "k", "five")
        XCTAssertNil(try shutdown(try RawClient(port: s5.port), "SAVE"))
        assertExitsCleanly(s5, "SHUTDOWN SAVE")
        XCTAssertEqual(try valueAfterRestart(d4), "$4\r\nfive\r\n")
    }

    /// When the final save fails (its directory removed after start-up), SHUTDOWN answers Redis's error and
    /// the server keeps serving; SHUTDOWN FORCE exits anyway.
    func testShutdownRefusedWhenTheSaveFailsUnlessForced() throws {
        var replies: [String?] = []
        let od = try directory()
        let o = try RawClient(port: try oracle(od, defaultSavePoints).port)
        _ = try o.say("SET", "k", "v")
        rmdir(od.path)
        replies.append(try shutdown(o))

        let nd = try directory()
        let s = try needletail(nd, defaultSavePoints)
        let c = try RawClient(port: s.port)
        _ = try c.say("SET", "k", "v")
        XCTAssertEqual(rmdir(nd.path), 0)
        replies.append(try shutdown(c))
        XCTAssertEqual(replies[1], replies[0])
        XCTAssertEqual(replies[1], "-ERR Errors trying to SHUTDOWN. Check logs.\r\n")
        XCTAssertEqual(try c.say("PING"), "+PONG\r\n")
        XCTAssertEqual(try c.say("GET", "k"), "$1\r\nv\r\n")
        XCTAssertTrue(s.isRunning)
        XCTAssertNil(try shutdown(c, "FORCE"))
        assertExitsCleanly(s, "SHUTDOWN FORCE")
    }

    // MARK: - -MISCONF

    /// stop-writes-on-bgsave-error: after a failed BGSAVE (its directory removed), writes and PING get
    /// redis-server's -MISCONF line byte for byte; reads work; turning the option off lets writes through;
    /// a successful BGSAVE clears it.
    func testFailedBackgroundSaveStopsWritesAsRedis() throws {
        let sides = try bothSides(["--save", "3600 1", "--enable-protected-configs", "yes"])
        let gone = try [directory(), directory()]
        let good = try [directory(), directory()]
        var transcripts: [[String]] = []
        for (n, c) in sides.enumerated() {
            _ = try c.say("SET", "k", "v")
            XCTAssertEqual(try c.say("CONFIG", "SET", "dir", gone[n].path), "+OK\r\n")
            XCTAssertEqual(rmdir(gone[n].path), 0)
            _ = try c.say("BGSAVE")  // redis-server forks and the child fails later; Needletail fails at once
            XCTAssertTrue(try eventually(timeoutMillis: 10_000) {
                try c.info("rdb_last_bgsave_status") == "err" && c.info("rdb_bgsave_in_progress") == "0"
            }, "side \(n): the BGSAVE did not fail")
            var t: [String] = []
            for command in [["SET", "k", "w"], ["PING"], ["GET", "k"], ["DEL", "k"], ["CONFIG", "SET", "stop-writes-on-bgsave-error", "no"],
                            ["SET", "k", "x"], ["PING"], ["CONFIG", "SET", "stop-writes-on-bgsave-error", "yes"], ["INCR", "n"],
                            ["CONFIG", "SET", "dir", good[n].path], ["BGSAVE"]] {
                t.append(try replyText(c.call(command.map { Array($0.utf8) })))
            }
            XCTAssertTrue(try eventually(timeoutMillis: 10_000) {
                try c.info("rdb_last_bgsave_status") == "ok" && c.info("rdb_bgsave_in_progress") == "0"
            }, "side \(n): the BGSAVE did not succeed")
            for command in [["SET", "k", "y"], ["PING"], ["GET", "k"]] {
                t.append(try replyText(c.call(command.map { Array($0.utf8) })))
            }
            transcripts.append(t)
        }
        XCTAssertEqual(transcripts[1], transcripts[0])
        XCTAssertTrue(transcripts[1][0].hasPrefix("-MISCONF "), transcripts[1][0])
        XCTAssertEqual(transcripts[1][1], transcripts[1][0], "PING")
        XCTAssertEqual(transcripts[1][2], "$1\r\nv\r\n", "a read")
    }

    // MARK: - Corrupt files at start-up

    /// A hand-made RDB (version 10) of string keys in db 0, with `checksum` as its last 8 bytes (0: none).
    private func handMadeRDB(_ pairs: [(String, String)], lengthOverride: UInt8? = nil) -> [UInt8] {
        var b = Array("REDIS0010".utf8) + [0xFE, 0x00]
        for (k, v) in pairs {
            b += [0x00, UInt8(k.utf8.count)] + Array(k.utf8)
            b += [lengthOverride ?? UInt8(v.utf8.count)] + Array(v.utf8)
        }
        return b + [0xFF] + [UInt8](repeating: 0, count: 8)
    }

    /// Each damaged file makes start-up fail with an exit status (never a signal) and a log line naming
    /// the problem; a file with checksum 0 loads.
    func testCorruptDumpsStopStartupWithAnExitStatus() throws {
        // A real dump, from Needletail.
        let source = try directory()
        let maker = try needletail(source)
        let m = try RawClient(port: maker.port)
        try loadDataset(bigDatasetCommands(seed: 4, strings: 300, collections: 8, elements: 200), into: m)
        _ = try m.say("SET", "canary", "canaryvalue1234")
        XCTAssertEqual(try m.say("SAVE"), "+OK\r\n")
        let good = try XCTUnwrap(readFileBytes(source.file("dump.rdb")))
        maker.stop()

        var flipped = good
        let canary = Array("canaryvalue1234".utf8)
        let at = try XCTUnwrap((0...(good.count - canary.count)).first { Array(good[$0..<($0 + canary.count)]) == canary })
        flipped[at + 3] ^= 0x20
        var garbage = SeededRandom(seed: 77)
        var cases: [(String, [UInt8])] = [
            ("flipped byte", flipped),
            ("garbage", (0..<4096).map { _ in UInt8(garbage.below(256)) }),
            ("wrong magic", Array("REDIX".utf8) + good[5...]),
            ("version 12", Array("REDIS0012".utf8) + good[9...]),
            ("duplicate key", handMadeRDB([("k", "a"), ("k", "b")])),
            ("lying length", handMadeRDB([("k", "abc")], lengthOverride: 60)),
            ("empty", []),
        ]
        for cut in [5, 9, 40, good.count / 3, good.count / 2, good.count - 9, good.count - 8, good.count - 1] {
            cases.append(("truncated at \(cut) of \(good.count)", Array(good[0..<cut])))
        }
        var launched: [(String, ServerUnderTest)] = []
        for (name, bytes) in cases {
            let d = try directory()
            try writeFileBytes(d.file("dump.rdb"), bytes)
            let s = try ServerUnderTest.launch(extraArguments: ["--dir", d.path])
            servers.append(s)
            launched.append((name, s))
        }
        for (name, s) in launched {
            guard let status = s.waitForExit(timeoutMillis: 20_000) else {
                XCTFail("\(name): the server started on a corrupt file")
                continue
            }
            let log = s.logTail()
            XCTAssertNil(killedBySignal(status), "\(name): killed by signal \(killedBySignal(status) ?? 0): \(log)")
            XCTAssertTrue(exitedNormally(status) && exitCode(status) != 0, "\(name): wait status \(status)")
            XCTAssertTrue(log.contains("RDB") || log.contains("DB"), "\(name): no clear log line: \(log)")
        }
        // Checksum 0 means "not computed": accepted.
        let d = try directory()
        try writeFileBytes(d.file("dump.rdb"), handMadeRDB([("k", "a"), ("j", "b")]))
        let s = try needletail(d)
        XCTAssertEqual(try RawClient(port: s.port).say("MGET", "k", "j"), "*2\r\n$1\r\na\r\n$1\r\nb\r\n")
        // And redis-server agrees on that file.
        let o = try oracle(d)
        XCTAssertEqual(try RawClient(port: o.port).say("MGET", "k", "j"), "*2\r\n$1\r\na\r\n$1\r\nb\r\n")
    }

    // MARK: - -LOADING

    /// While a slow load runs (key-load-delay), PING and GET get -LOADING, INFO works and says loading:1;
    /// after it everything is there.
    func testLoadingIsServedWhileTheDatasetLoads() throws {
        let dir = try directory()
        let maker = try needletail(dir)
        let m = try RawClient(port: maker.port, timeoutMillis: 30_000)
        try loadDataset(bigDatasetCommands(seed: 8, strings: 3000, collections: 4, elements: 100), into: m)
        let digest = try m.digest()
        let keys = try [0, 1, 2].map { db -> String in _ = try m.say("SELECT", "\(db)"); return try m.say("DBSIZE") }
        XCTAssertEqual(try m.say("SAVE"), "+OK\r\n")
        maker.stop()

        let s = try ServerUnderTest.launch(extraArguments: DifferentialRunner.debugEnabled + ["--dir", dir.path, "--key-load-delay", "500"])
        servers.append(s)
        var c: RawClient?
        XCTAssertTrue(eventually(timeoutMillis: 10_000) {
            c = try? RawClient(port: s.port, timeoutMillis: 10_000)
            return c != nil
        }, "no connection while loading")
        let client = try XCTUnwrap(c)
        let loadingError = "-LOADING Redis is loading the dataset in memory\r\n"
        XCTAssertEqual(try client.say("PING"), loadingError)
        XCTAssertEqual(try client.say("GET", "s:1"), loadingError)
        XCTAssertEqual(try client.info("loading"), "1")
        XCTAssertTrue(try eventually(timeoutMillis: 20_000) { try client.say("PING") == "+PONG\r\n" }, "the load never finished")
        XCTAssertEqual(try client.info("loading"), "0")
        XCTAssertEqual(try client.digest(), digest)
        XCTAssertEqual(try [0, 1, 2].map { db -> String in _ = try client.say("SELECT", "\(db)"); return try client.say("DBSIZE") }, keys)
    }

    // MARK: - DEBUG RELOAD

    func testDebugReloadAsRedis() throws {
        let sides = try bothSides()
        var transcripts: [[String]] = []
        for c in sides {
            try loadDataset(bigDatasetCommands(seed: 2, strings: 2000, collections: 8, elements: 300), into: c)
            _ = try c.say("SET", "k", "original")
            let digest = try c.digest()
            var t: [String] = []
            t.append(try c.say("DEBUG", "RELOAD"))
            XCTAssertEqual(try c.digest(), digest, "DEBUG RELOAD changed the dataset")
            _ = try c.say("SET", "k", "changed")
            _ = try c.say("SET", "extra", "1")
            t.append(try c.say("DEBUG", "RELOAD", "NOSAVE"))
            XCTAssertEqual(try c.digest(), digest, "DEBUG RELOAD NOSAVE did not revert to the file")
            _ = try c.say("SET", "k", "changed")
            _ = try c.say("SET", "extra", "1")
            t.append(try c.say("DEBUG", "RELOAD", "NOSAVE", "NOFLUSH", "MERGE"))
            t += try ["k", "extra"].map { try c.say("GET", $0) }
            t.append(try c.digest())
            t.append(try c.say("DEBUG", "RELOAD", "bogus"))
            t.append(try c.say("DEBUG", "reload", "merge", "nosave"))
            t.append(try c.digest())
            transcripts.append(t)
        }
        XCTAssertEqual(transcripts[1], transcripts[0])
        XCTAssertEqual(transcripts[1][3], "$8\r\noriginal\r\n", "MERGE: the file's value replaces the one in memory")
        XCTAssertEqual(transcripts[1][4], "$1\r\n1\r\n", "NOFLUSH: a key only in memory stays")
    }
}
