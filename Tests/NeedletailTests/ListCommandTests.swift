import XCTest
@testable import Needletail

/// What list commands report to the keyspace (events) and propagate, step by step, on an in-process server
/// with an internal client. The expected values are redis-server 7.0.15's, recorded with
/// `--notify-keyspace-events KEA` (PSUBSCRIBE __keyevent@*__:*) and `--appendonly yes` (the .incr.aof
/// file), running the same steps: the order of "lpush"/"rpop"/"del", which no-ops notify ("ltrim" always,
/// LREM of nothing never), and the rewritten forms (LMPOP -> RPOP key count, BLPOP -> LPOP key, BLMOVE ->
/// LMOVE with the client's own LEFT/RIGHT, BRPOPLPUSH -> RPOPLPUSH, BLMPOP -> LPOP key count).
final class ListCommandTests: XCTestCase {
    private final class Recorder: KeyspaceListener, PropagationSink {
        var events: [String] = []
        var propagated: [String] = []

        func keyChanged(_ change: KeyChange, key: UnsafeRawBufferPointer, db: Int, event: KeyspaceEvent) {
            if !event.isNone { events.append("\(event.nameString)(\(String(decoding: key, as: UTF8.self)))") }
        }
        func databaseWillFlush(_ db: Int) {}
        func databasesWillSwap(_ first: Int, _ second: Int) {}
        func propagate(_ commands: [PropagatedCommand]) {
            for c in commands { propagated.append(c.argv.map(\.string).joined(separator: " ")) }
        }
    }

    /// (command, reply, events, propagated) as redis-server 7.0 gave them.
    private let steps: [(String, String, [String], [String])] = [
        ("rpush l a b c", ":3", ["rpush(l)"], ["rpush l a b c"]),
        ("lpush l z", ":4", ["lpush(l)"], ["lpush l z"]),
        ("rpushx nokey a", ":0", [], []),
        ("lpop l", "$1 z", ["lpop(l)"], ["lpop l"]),
        ("rpop l 5", "*3 $1 c $1 b $1 a", ["rpop(l)", "del(l)"], ["rpop l 5"]),
        ("rpush l a b c d e f", ":6", ["rpush(l)"], ["rpush l a b c d e f"]),
        ("lset l 0 x", "+OK", ["lset(l)"], ["lset l 0 x"]),
        ("linsert l before b y", ":7", ["linsert(l)"], ["linsert l before b y"]),
        ("linsert l before nothere y", ":-1", [], []),
        ("lrem l 0 y", ":1", ["lrem(l)"], ["lrem l 0 y"]),
        ("lrem l 0 nothere", ":0", [], []),
        ("ltrim l 0 -1", "+OK", ["ltrim(l)"], []),
        ("ltrim l 1 -2", "+OK", ["ltrim(l)"], ["ltrim l 1 -2"]),
        ("lmove l m left right", "$1 b", ["rpush(m)", "lpop(l)"], ["lmove l m left right"]),
        ("rpoplpush l l", "$1 e", ["lpush(l)", "rpop(l)"], ["rpoplpush l l"]),
        ("lmpop 2 nokey l right count 2", "*2 $1 l *2 $1 d $1 c", ["rpop(l)"], ["RPOP l 2"]),
        ("rpush l p q", ":3", ["rpush(l)"], ["rpush l p q"]),
        ("blpop nokey l 0", "*2 $1 l $1 e", ["lpop(l)"], ["LPOP l"]),
        ("blmove l m right left 0", "$1 q", ["lpush(m)", "rpop(l)"], ["LMOVE l m right left"]),
        ("brpoplpush m m 0", "$1 b", ["lpush(m)", "rpop(m)"], ["RPOPLPUSH m m"]),
        ("blmpop 0 1 m left count 10", "*2 $1 m *2 $1 b $1 q", ["lpop(m)", "del(m)"], ["LPOP m 2"]),
        ("rpush m a", ":1", ["rpush(m)"], ["rpush m a"]),
        ("ltrim m 5 10", "+OK", ["ltrim(m)", "del(m)"], ["ltrim m 5 10"]),
        ("lpush t a", ":1", ["lpush(t)"], ["lpush t a"]),
        ("ltrim t 0 0", "+OK", ["ltrim(t)"], []),
    ]

    /// A RESP2 reply with its CRLFs as spaces and bulk lengths kept, e.g. "*2 $1 l $1 e".
    private func flat(_ reply: [UInt8]) -> String {
        String(decoding: reply, as: UTF8.self).replacingOccurrences(of: "\r\n", with: " ")
            .trimmingCharacters(in: .whitespaces)
    }

    func testEventsAndPropagationEqualRedis() throws {
        let config = Config()
        config.port = 0
        let server = try Server(config: config, ephemeralPort: true)
        let recorder = Recorder()
        server.keyspaceObserver = recorder
        server.propagationSink = recorder
        let client = server.makeInternalClient()
        for (command, reply, events, propagated) in steps {
            recorder.events.removeAll()
            recorder.propagated.removeAll()
            let argv = command.split(separator: " ").map { ByteString(String($0)) }
            let got = server.run(argv, on: client) ?? []
            XCTAssertEqual(flat(got), reply, command)
            XCTAssertEqual(recorder.events, events, command)
            XCTAssertEqual(recorder.propagated.filter { !$0.hasPrefix("SELECT") }, propagated, command)
        }
    }

    /// A client that cannot block (an internal one; later MULTI and scripts) gets the timeout's null array,
    /// or a null from BLMOVE and BRPOPLPUSH, as Redis's CLIENT_DENY_BLOCKING paths answer.
    func testBlockingPopsCannotBlockAnInternalClient() throws {
        let config = Config()
        config.port = 0
        let server = try Server(config: config, ephemeralPort: true)
        let client = server.makeInternalClient()
        for (command, reply) in [("blpop a b 0", "*-1"), ("brpop a 0", "*-1"), ("blmpop 0 1 a left", "*-1"),
                                 ("brpoplpush a b 0", "$-1"), ("blmove a b left left 0", "$-1")] {
            let argv = command.split(separator: " ").map { ByteString(String($0)) }
            XCTAssertEqual(flat(server.run(argv, on: client) ?? []), reply, command)
        }
    }
}
