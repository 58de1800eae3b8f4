/// Streams with consumer groups for the interchange tests (RDB files and DUMP/RESTORE): explicit ids, small
/// nodes (stream-node-max-entries 3) so there are several nodes, tombstones inside nodes and a node emptied
/// by XDEL, an empty stream with a group, ids at the 64-bit edges, a big value, and groups with pending
/// entries, an acknowledged entry, an entry deleted while pending, and a consumer without entries.
enum StreamDataset {
    /// Keys the commands create.
    static let keys = ["s", "empty", "edge", "big", "plain"]

    /// Keys whose DUMP holds no time (no consumers): byte-identical between the servers.
    static let timeFreeKeys = ["plain", "big", "edge"]

    static var commands: [[[UInt8]]] {
        var c: [[String]] = [["CONFIG", "SET", "stream-node-max-entries", "3"]]
        for i in 1...11 { c.append(["XADD", "s", "\(i)-\(i)", "f", "\(i)", "g", "v\(i)"]) }
        c.append(["XADD", "s", "20-1", "other", "x"])
        c.append(["XDEL", "s", "3-3", "4-4", "5-5"])
        c.append(["XGROUP", "CREATE", "s", "g1", "0"])
        c.append(["XGROUP", "CREATE", "s", "g2", "$", "ENTRIESREAD", "3"])
        c.append(["XREADGROUP", "GROUP", "g1", "alice", "COUNT", "4", "STREAMS", "s", ">"])
        c.append(["XREADGROUP", "GROUP", "g1", "bob", "COUNT", "2", "STREAMS", "s", ">"])
        c.append(["XACK", "s", "g1", "2-2"])
        c.append(["XGROUP", "CREATECONSUMER", "s", "g1", "carol"])
        c.append(["XDEL", "s", "8-8"])
        c.append(["XADD", "empty", "1-1", "a", "b"])
        c.append(["XDEL", "empty", "1-1"])
        c.append(["XGROUP", "CREATE", "empty", "g", "$"])
        c.append(["XADD", "edge", "18446744073709551614-18446744073709551615", "a", "-9223372036854775808"])
        c.append(["XADD", "edge", "18446744073709551615-*", "b", "18446744073709551615"])
        c.append(["XADD", "edge", "18446744073709551615-18446744073709551615", "", ""])
        c.append(["XADD", "big", "1-1", String(repeating: "k", count: 100), String(repeating: "v", count: 5000)])
        c.append(["XADD", "big", "1-2", "n", "12345678901"])
        for i in 1...250 { c.append(["XADD", "plain", "\(1000 + i / 7)-\(i % 7)", "temp", "\(i % 40)", "hum", "\(i * 3)", "id", "sensor-\(i % 5)"]) }
        c.append(["XTRIM", "plain", "MAXLEN", "240"])
        c.append(["XDEL", "plain", "1020-0", "1030-1"])
        c.append(["XGROUP", "CREATE", "plain", "readers", "1010-0", "ENTRIESREAD", "70"])
        c.append(["CONFIG", "SET", "stream-node-max-entries", "100"])
        return c.map { $0.map { Array($0.utf8) } }
    }

    /// What a server holds of `key`, times included (a loaded copy keeps the source's times).
    /// (XINFO STREAM FULL without needletail's 7.2 "active-time", which redis-server 7.0 neither shows nor saves.)
    static func holdings(_ c: RawClient, _ key: String) throws -> [String] {
        try [["XINFO", "STREAM", key, "FULL"], ["XINFO", "GROUPS", key], ["XLEN", key], ["XRANGE", key, "-", "+"],
             ["XREVRANGE", key, "+", "-", "COUNT", "3"], ["DEBUG", "DIGEST-VALUE", key], ["TYPE", key],
             ["OBJECT", "ENCODING", key]].map { command in
            let reply = try c.call(command.map { Array($0.utf8) })
            guard command[0] == "XINFO", let parsed = try? RawReply.parse(reply) else { return replyText(reply) }
            return replyText(parsed.withoutRedis72ConsumerFields.encoded)
        }
    }
}
