@testable import Needletail  // CRC64 for RESTORE payloads, SHA1 for EVALSHA
import TestSupport

/// The "oom" family: every other family's commands while used memory is over `maxmemory`, so that the
/// servers' rules for refusing commands are compared command by command (redis-server's processCommand,
/// getCommandFlags and script.c; needletail's `commandToRun`, `refusedWhenOutOfMemory`, `commandFlags` and
/// Server/Eviction.swift).
///
/// Each sequence starts with a prologue (`oomPrologue`): it picks a `maxmemory-policy` (noeviction in 40% of
/// the sequences; else allkeys-/volatile- lru, lfu, random, or volatile-ttl) and sets `maxmemory 10gb` (a limit
/// far away), fills 6 to 12 keys of every type (the shared pool's keys and the sort family's own), a third
/// of them with a TTL and now and then one in db 1, loads two scripts with shebang flags (for EVALSHA, whose
/// flags come from the script cache) and the library `oomlib`; then, in four sequences out of five (one in two
/// under LFU), `CONFIG SET maxmemory 1`. From then on memory is over the limit on both servers whatever their
/// allocators, and:
/// - under noeviction every command flagged denyoom answers `-OOM command not allowed when used memory >
///   'maxmemory'.` (after the arity and other earlier checks); the rest run normally;
/// - under an eviction policy, the first command evicts every key the policy may evict (all keys, or those
///   with a TTL) and then fails the same way, so the replies that follow are deterministic too.
///   `maxmemory-eviction-tenacity 100` removes the time limit (Redis's and ours check it every 16 keys);
/// - inside MULTI every command but EXEC, DISCARD, QUIT and RESET is refused and aborts the transaction; an
///   EXEC is refused when its queue holds a denyoom command, a queued script counting with the flags it
///   declares;
/// - EVAL/EVALSHA/FCALL: a script without a shebang runs and gets the OOM error from its first denyoom call
///   (`redis.call` raises it, `redis.pcall` returns it) unless an earlier write call made it dirty (even a DEL
///   of nothing); a script or function declaring flags is refused up front unless it declares `allow-oom` or
///   `no-writes`; `allow-oom` lets every call through.
///
/// Determinism: the policy is set before any key exists (a key made under an LRU policy holds a clock where
/// LFU expects a counter: its OBJECT FREQ is time), LFU runs with `lfu-log-factor 0` and `lfu-decay-time 0`
/// (each touch counts exactly one, nothing decays: OBJECT FREQ is exact), and the limit is "off" at 10gb,
/// never 0: with maxmemory 0 redis-server shares the objects of the integers 0-9999 between keys, and OBJECT
/// FREQ of such a key then reads the shared object's stamp (needletail shares nothing; a known difference).
///
/// The drawn commands are those of the enabled families (weights flattened to 1 or 2, so that each command
/// name comes up often; the transaction commands at half their weights), PUBLISH/SPUBLISH/PUBSUB from
/// "pubsub" (no SUBSCRIBE: see `DiffFamilies.enabled`), and this family's own:
/// - `CONFIG SET maxmemory 1|1kb|10gb`, from this connection (in MULTI it is queued and changes the limit
///   inside EXEC, where nothing is refused) or from another (`@admin`: see `DifferentialRunner.isAdmin`);
/// - EVAL/EVAL_RO/EVALSHA of short scripts under the OOM-relevant shebangs (`oomShebangs`, `oomBodies`);
/// - FCALL/FCALL_RO of `oomlib`'s functions (`oomFunctions`: each flag combination, reads and writes);
/// - FUNCTION LOAD/DELETE/FLUSH, SCRIPT LOAD/FLUSH, RESTORE of a valid payload, OBJECT FREQ/IDLETIME (which
///   commands touch a key), MEMORY USAGE, CONFIG GET;
/// - a scene (`oomTransaction`): the limit off, MULTI, queued scripts and commands, another client turning
///   the limit on, EXEC (or DISCARD).
/// Commands that would make the runner restart the servers (CONFIG SET of other parameters) are drawn again.
///
/// The runner sets `maxmemory 0` and the other memory parameters back before the next run
/// (`DifferentialRunner.memoryParameters`), so no other family ever runs with a limit. INFO's memory and
/// eviction fields are not compared (INFO is compared by shape, as everywhere).
///
/// `DifferentialTests.testOutOfMemorySequences` runs this family alone (DIFF_OOM_SEQUENCES seeds, default 400,
/// about 12 s); `DIFF_FAMILIES=oom DIFF_SEED=n` reruns one seed, `DIFF_FAMILIES=oom DIFF_SECONDS=600` runs
/// random seeds. Differences it found, now fixed: a read-only script could PUBLISH; EXEC ignored a queued
/// script's declared flags; SCAN touched keys. Probing the touch rules after that found EXISTS, TYPE and the
/// TTL family touching keys, SET XX (or SET over a key with a TTL), SETRANGE and INCRBYFLOAT touching twice,
/// and RENAME and MOVE losing the stamp (IntegrationTests/Corpus/oom-cases.txt and access-cases.txt keep them).
extension DiffFamilies {
    /// The families whose commands "oom" draws (all the enabled ones but "transactions", added with its weights).
    static let oomSources: [DiffFamily] = [connection, strings, keys, expiry, server, scan, sortedSets, lists, hashes,
                                           sets, sort, scripting]

    static let oom = DiffFamily(
        name: "oom",
        commands: oomSources.flatMap { $0.commands }.map { oomBorrowed($0, weight: min($0.weight, 2)) }
            + pubsub.commands.filter { ["publish", "spublish", "pubsub"].contains($0.name) }.map { oomBorrowed($0, weight: 2) }
            + transactions.commands.map { oomBorrowed($0, weight: $0.weight / 2) }
            + [
                // The limit on or off, from this connection (queued in MULTI: it changes inside EXEC) or from
                // another one (`@admin`: between queuing and EXEC, whose queue's flags then decide).
                spec("maxmemory", 12, keepsArity: true) { g in
                    let set = [b("CONFIG"), g.word("SET"), g.word("maxmemory"), b(g.rng.pick(["1", "1", "1", "1kb", "10gb", "10gb"]))]
                    return g.rng.oneIn(2) ? [b("@admin")] + set : set
                },
                spec("oom eval", 16) { g in g.oomEval() },
                spec("oom fcall", 10) { g in
                    let name = g.rng.pick(oomFunctions.map(\.name) + ["nosuch"])
                    return [b(g.rng.oneIn(4) ? "FCALL_RO" : "FCALL"), b(name), b("1"), g.key(), g.shortValue()]
                },
                spec("oom other", 8) { g in oomOther(&g) },
                DiffCommandSpec(name: "oom transaction", weight: 6, make: { _ in [] }, scene: { g in oomTransaction(&g) }),
            ],
        prologue: { g in oomPrologue(&g) })

    /// A spec of another family, drawn again while it makes a command that would restart the servers.
    static func oomBorrowed(_ s: DiffCommandSpec, weight: Int) -> DiffCommandSpec {
        DiffCommandSpec(name: s.name, weight: max(1, weight), make: { g in
            for _ in 0..<8 {
                let c = s.make(&g)
                if !DifferentialRunner.changesServerState(c) { return c }
            }
            return [b("PING")]
        }, extraArgument: s.extraArgument, keepsArity: s.keepsArity)
    }

    static let oomPolicies = ["noeviction", "noeviction", "noeviction", "noeviction", "noeviction", "noeviction",
                              "allkeys-lru", "allkeys-lfu", "allkeys-lfu", "allkeys-random", "volatile-lru", "volatile-lfu",
                              "volatile-lfu", "volatile-random", "volatile-ttl"]

    /// Keys the prologue may fill, with the type they get (nil: any); each one at most once.
    static let oomFillKeys: [(key: [UInt8], type: String?)] = [
        (b("k1"), nil), (b("k2"), nil), (b("k3"), nil), (b("k4"), nil), ([], nil), ([0x62, 0x00, 0xff, 0x0d, 0x0a, 0x6b], nil),
        (b("K1"), nil), (b("{k1}"), nil), (b("k1 "), nil), (b("sl"), "list"), (b("si"), "intset"), (b("ss"), "set"),
        (b("sz"), "zset"), (b("sh"), "hash"), (b("lex"), "lex"), (b("lcs1"), "string"), (b("single"), "single"),
    ]

    static func oomFill(_ type: String, _ key: [UInt8], _ g: inout DiffGenerator) -> DiffCommand {
        switch type {
        case "list": return [b("RPUSH"), key] + (0..<g.rng.between(1, 4)).map { _ in g.listElement() }
        case "hash": return [b("HSET"), key, b("f"), g.shortValue()] + (g.rng.oneIn(2) ? [b("g"), b("1")] : [])
        case "set": return [b("SADD"), key] + (0..<g.rng.between(1, 4)).map { _ in g.setMember() }
        case "intset": return [b("SADD"), key, b("1"), b("2"), b("30")]
        case "zset": return [b("ZADD"), key, b("1"), b("a"), b("2"), b("b"), b("2"), b("c")]
        case "lex": return [b("ZADD"), key, b("0"), b("a"), b("0"), b("b"), b("0"), b("c")]
        case "single": return [b("SADD"), key, b("x")]
        default: return [b("SET"), key, g.value()]
        }
    }

    /// The policy (before any key: see the family's note), the keys, two cached scripts and `oomlib`, the limit.
    static func oomPrologue(_ g: inout DiffGenerator) -> [DiffCommand] {
        let policy = g.rng.pick(oomPolicies)
        var out: [DiffCommand] = [[b("CONFIG"), b("SET"), b("maxmemory-policy"), b(policy)],
                                  [b("CONFIG"), b("SET"), b("maxmemory"), b("10gb")]]
        if policy != "noeviction" { out.append([b("CONFIG"), b("SET"), b("maxmemory-eviction-tenacity"), b("100")]) }
        if policy.hasSuffix("lfu") {
            out.append([b("CONFIG"), b("SET"), b("lfu-log-factor"), b("0")])
            out.append([b("CONFIG"), b("SET"), b("lfu-decay-time"), b("0")])
        }
        var candidates = oomFillKeys
        candidates.shuffle(using: &g.rng)
        for (key, type) in candidates.prefix(g.rng.between(6, 12)) {
            out.append(oomFill(type ?? g.rng.pick(["string", "string", "list", "hash", "set", "intset", "zset"]), key, &g))
            if g.rng.oneIn(3) { out.append([b("EXPIRE"), key, b(g.rng.pick(["1000", "2000", "100000"]))]) }
        }
        if g.rng.oneIn(3) {
            out += [[b("SELECT"), b("1")], [b("SET"), b("k1"), b("in db 1")]]
            if g.rng.oneIn(2) { out.append([b("EXPIRE"), b("k1"), b("1000")]) }
            out.append([b("SELECT"), b("0")])
        }
        for _ in 0..<2 {
            let body = b(g.rng.pick(oomShebangs.filter { !$0.isEmpty })) + b(g.rng.pick(oomBodies))
            g.scripts.append(GeneratedScript(body: body, arguments: [b("1"), g.key(), g.shortValue()]))
            out.append([b("SCRIPT"), b("LOAD"), body])
        }
        if !g.rng.oneIn(4) { out.append([b("FUNCTION"), b("LOAD"), oomLibrary]) }
        // One sequence in five starts with the limit off (until a drawn CONFIG SET turns it on); under LFU one
        // in two, where the keys' counters then meet the drawn commands (which touch a key, and which do not).
        if !g.rng.oneIn(policy.hasSuffix("lfu") ? 2 : 5) { out.append([b("CONFIG"), b("SET"), b("maxmemory"), b("1")]) }
        return out
    }

    static let oomShebangs = ["", "", "", "#!lua\n", "#!lua flags=allow-oom\n", "#!lua flags=no-writes\n",
                              "#!lua flags=no-writes,allow-oom\n", "#!lua flags=allow-stale\n", "#!lua flags=allow-oom,allow-stale\n"]

    /// Script bodies over KEYS[1] and ARGV[1]: a denyoom write first or after a write that is not denyoom
    /// (which makes the script dirty, even when it deletes nothing), reads, pcall, nothing at all.
    static let oomBodies = [
        "return redis.call('SET', KEYS[1], ARGV[1])",
        "return redis.call('GET', KEYS[1])",
        "return redis.pcall('SET', KEYS[1], ARGV[1])",
        "return {redis.pcall('INCR', KEYS[1]), redis.pcall('GET', KEYS[1])}",
        "redis.call('DEL', KEYS[1]) return redis.call('SET', KEYS[1], ARGV[1])",
        "redis.call('UNLINK', 'nosuchkey') return redis.call('SADD', KEYS[1], ARGV[1])",
        "redis.pcall('EXPIRE', KEYS[1], 100000) return redis.pcall('LPUSH', KEYS[1], ARGV[1])",
        "return {redis.pcall('SET', KEYS[1], 'a'), redis.pcall('SET', KEYS[1], 'b')}",
        "return redis.call('HSET', KEYS[1], 'f', ARGV[1])",
        "return redis.call('PUBLISH', 'ch', ARGV[1])",
        "return redis.call('ECHO', ARGV[1])",
        "return redis.call('EXISTS', KEYS[1])",
        "return 1",
        "local t = redis.pcall('TYPE', KEYS[1]) return {t, redis.pcall('APPEND', KEYS[1], ARGV[1])}",
    ]

    static let oomFunctions: [(name: String, flags: String, body: String)] = [
        ("w", "", "return redis.call('SET', keys[1], args[1])"),
        ("wa", "'allow-oom'", "return redis.call('SET', keys[1], args[1])"),
        ("r", "", "return redis.call('GET', keys[1])"),
        ("nw", "'no-writes'", "return redis.call('GET', keys[1])"),
        ("nww", "'no-writes'", "return redis.pcall('SET', keys[1], args[1])"),
        ("nwa", "'no-writes', 'allow-oom'", "return redis.pcall('INCR', keys[1])"),
        ("dw", "", "redis.call('DEL', keys[1]) return redis.call('RPUSH', keys[1], args[1])"),
        ("e", "'allow-stale'", "return 1"),
    ]

    static let oomLibrary = b("#!lua name=oomlib\n" + oomFunctions.map { f in
        "redis.register_function{function_name='\(f.name)', callback=function(keys, args) \(f.body) end, flags={\(f.flags)}}"
    }.joined(separator: "\n"))

    /// A transaction queued with the limit off and run (or discarded) after another client set it, so that
    /// EXEC's own check decides: refused when a queued command's flags hold denyoom, where a script's flags
    /// are those it declares (Redis's getCommandFlags: an EVAL with a bare `#!lua` is denyoom, one without a
    /// shebang is not).
    static func oomTransaction(_ g: inout DiffGenerator) -> [DiffCommand] {
        var out: [DiffCommand] = [[b("@admin"), b("CONFIG"), b("SET"), b("maxmemory"), b("10gb")], [b("MULTI")]]
        for _ in 0..<g.rng.between(1, 3) {
            switch g.rng.below(7) {
            case 0, 1, 2: out.append(g.oomEval())
            case 3, 4:
                let name = g.rng.pick(oomFunctions.map(\.name))
                out.append([b(g.rng.oneIn(4) ? "FCALL_RO" : "FCALL"), b(name), b("1"), g.key(), g.shortValue()])
            case 5: out.append([b(g.rng.pick(["GET", "EXISTS", "TTL", "DEL", "PERSIST"])), g.key()])
            default: out.append([b(g.rng.pick(["SET", "APPEND", "GETSET"])), g.key(), g.shortValue()])
            }
        }
        if !g.rng.oneIn(4) { out.append([b("@admin"), b("CONFIG"), b("SET"), b("maxmemory"), b(g.rng.pick(["1", "1kb"]))]) }
        out.append(g.rng.oneIn(8) ? [b("DISCARD")] : [b("EXEC")])
        return out
    }

    static func oomOther(_ g: inout DiffGenerator) -> DiffCommand {
        switch g.rng.below(14) {
        case 0: return [b("FUNCTION"), g.word("LOAD")] + (g.rng.oneIn(2) ? [g.word("REPLACE")] : []) + [oomLibrary]
        case 1: return [b("FUNCTION"), g.word("DELETE"), b("oomlib")]
        case 2: return [b("SCRIPT"), g.word("LOAD"), b(g.rng.pick(oomShebangs)) + b(g.rng.pick(oomBodies))]
        case 3, 4:
            // A string as DUMP writes it: type 0, the value, RDB version 10, CRC64.
            let value = g.shortValue().prefix(60)
            var payload: [UInt8] = [0, UInt8(value.count)] + value + [10, 0]
            let crc = payload.withUnsafeBytes { CRC64.update(0, $0) }
            payload += withUnsafeBytes(of: crc.littleEndian) { Array($0) }
            if g.rng.oneIn(6) { payload[0] = 0x7f }
            return [b("RESTORE"), g.key(), b(g.rng.pick(["0", "0", "100000000", "-1"])), payload]
                + (g.rng.oneIn(2) ? [g.word("REPLACE")] : [])
        // Which commands touch a key (Redis's LOOKUP_NOTOUCH): exact counts under the LFU policies here.
        case 5, 6, 12, 13: return [b("OBJECT"), g.word(g.rng.pick(["FREQ", "FREQ", "IDLETIME"])), g.key()]
        case 7: return [b("CONFIG"), g.word("GET"), b(g.rng.pick(["maxmemory", "maxmemory-policy", "maxmemory*", "lfu-*"]))]
        case 8: return [b("MEMORY"), g.word("USAGE"), g.key()]
        case 9: return [b("FUNCTION"), g.word("FLUSH")]
        default: return [b("SCRIPT"), g.word("FLUSH")]
        }
    }
}

extension DiffGenerator {
    /// EVAL, EVAL_RO or EVALSHA of an OOM-relevant script (a shebang from `oomShebangs`, a body from `oomBodies`).
    mutating func oomEval() -> DiffCommand {
        if !scripts.isEmpty && rng.oneIn(4) {
            let script = rng.pick(scripts)
            return [b(rng.oneIn(4) ? "EVALSHA_RO" : "EVALSHA"), scriptSHA(of: script.body)] + script.arguments
        }
        let body = b(rng.pick(DiffFamilies.oomShebangs)) + b(rng.pick(DiffFamilies.oomBodies))
        let arguments = [b("1"), key(), shortValue()]
        scripts.append(GeneratedScript(body: body, arguments: arguments))
        return [b(rng.oneIn(5) ? "EVAL_RO" : "EVAL"), body] + arguments
    }
}

fileprivate func b(_ s: String) -> [UInt8] { Array(s.utf8) }
