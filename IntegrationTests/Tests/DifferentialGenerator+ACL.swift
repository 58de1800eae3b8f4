import TestSupport

/// The "acl" family of the differential generator: ACL SETUSER with random rule strings (valid and not) on a
/// user "dx", GETUSER, LIST, DRYRUN, LOG, CAT, WHOAMI, and AUTH switching the sequence's connection between
/// "dx" and the default user, so that the other enabled families' commands that follow run under dx's rules
/// and meet NOPERM for commands, keys (`~k1*`, `%R~k2`, `%W~k3`...) and channels, at top level, inside MULTI
/// and in scripts. The prologue puts the connection back on the default user, resets dx, deletes dy and
/// empties the log.
///
/// The runner compares ACL replies after `ACLTests.normalise` (DiffNormalizer): the single commands at the end
/// of a rule description are sorted (redis-server lists them in its hash table's random order), ACL LOG's
/// ages and client descriptions are masked, and ACL CAT's commands compared as a set. Users are never
/// deleted while the connection may be theirs (a deleted user's connections are closed): DELUSER names
/// another user, "dy".
extension DiffFamilies {
    static let aclRules = ["on", "on", "off", "nopass", "resetpass", ">pw", "<pw", "<nope", "#abc", "reset",
                           "~k1*", "~k2", "%R~k2", "%W~k3", "%RW~k4", "%X~k", "~*", "allkeys", "resetkeys", "&ch*", "&*",
                           "allchannels", "resetchannels", "+@all", "-@all", "allcommands", "nocommands", "+@read",
                           "-@read", "+@write", "-@write", "+@string", "-@string", "+@hash", "+@keyspace", "-@keyspace",
                           "+@dangerous", "-@dangerous", "+@scripting", "+@transaction", "+@connection", "+@pubsub",
                           "+@nosuch", "+get", "-get", "+set", "-set", "+mget", "+del", "+client|id", "-client",
                           "+select|0", "+config|get", "+nosuch", "+get|x", "clearselectors", "(~k3* +@write)",
                           "(+get ~k4)", "(~a", "+get)", "(", "sanitize-payload", "skip-sanitize-payload"]

    static let acl = DiffFamily(name: "acl", commands: [
        spec("acl setuser", 14) { g in
            var rules: [[UInt8]] = []
            for _ in 0..<g.rng.between(1, 5) { rules.append(b(g.rng.pick(aclRules))) }
            return [g.word("ACL"), g.word("SETUSER"), b(g.rng.oneIn(10) ? "dy" : "dx")] + rules
        },
        spec("acl getuser", 5) { g in [g.word("ACL"), g.word("GETUSER"), b(g.rng.pick(["dx", "dx", "dy", "default", "none"]))] },
        spec("acl list", 3) { g in [g.word("ACL"), g.word("LIST")] },
        spec("acl users", 1) { g in [g.word("ACL"), g.word("USERS")] },
        spec("acl whoami", 2) { g in [g.word("ACL"), g.word("WHOAMI")] },
        spec("acl cat", 1) { g in [g.word("ACL"), g.word("CAT")] + (g.rng.oneIn(2) ? [b(g.rng.pick(["read", "hash", "nosuch", "ALL"]))] : []) },
        spec("acl log", 4) { g in [g.word("ACL"), g.word("LOG")] + (g.rng.oneIn(3) ? [b(g.rng.pick(["1", "0", "-1", "x", "RESET", "100"]))] : []) },
        spec("acl dryrun", 4) { g in
            let target = g.rng.pick([["get", "k1"], ["set", "k3", "v"], ["set", "k2", "v", "GET"], ["mget", "k1", "k2"],
                                     ["publish", "ch1", "m"], ["client", "id"], ["select", "0"], ["select", "1"], ["nosuch"], ["get"],
                                     // BITFIELD reads only while all its operations are GETs (read permission, %R~k2).
                                     ["bitfield", "k2", "get", "u8", "0"], ["bitfield", "k2", "overflow", "sat", "get", "i4", "1"],
                                     ["bitfield", "k2", "incrby", "u8", "0", "1"], ["bitfield", "k2", "get", "u8"], ["bitfield", "k2"]])
            return [g.word("ACL"), g.word("DRYRUN"), b(g.rng.pick(["dx", "dx", "nobody"]))] + target.map(b)
        },
        spec("acl deluser", 1) { g in [g.word("ACL"), g.word("DELUSER"), b("dy")] + (g.rng.oneIn(3) ? [b("default")] : []) },
        // Switching the connection's user: dx (with its password or without), and back to the default user.
        spec("auth", 8) { g in
            g.rng.oneIn(2) ? [g.word("AUTH"), b("dx"), b(g.rng.pick(["pw", "pw", "bad"]))] : [g.word("AUTH"), b("default"), b("x")]
        },
        spec("publish", 2) { g in [g.word("PUBLISH"), b(g.rng.pick(["ch1", "other"])), b("m")] },
        spec("eval acl", 2) { g in
            [g.word("EVAL"), b(g.rng.pick(["return redis.call('get', KEYS[1])", "return redis.call('set', KEYS[1], 'x')",
                                           "return redis.pcall('del', KEYS[1])"])), b("1"), g.key()]
        },
    ], prologue: { _ in
        // dy too, so that no sequence's replies depend on the rules earlier ones gave it (no connection is dy's).
        [[b("AUTH"), b("default"), b("x")], [b("ACL"), b("SETUSER"), b("dx"), b("reset"), b("on"), b(">pw")],
         [b("ACL"), b("DELUSER"), b("dy")], [b("ACL"), b("LOG"), b("RESET")]]
    })
}

fileprivate func b(_ s: String) -> [UInt8] { Array(s.utf8) }
