import Glibc
import TestSupport

/// The seeded generator of command sequences for the differential test.
///
/// Commands come from family tables (`DiffFamilies`): a family is a list of command specs, each a weight and
/// a closure that builds one command from the generator's biased argument pools. Adding a family (sorted
/// sets, hashes, ...) means adding a table and naming it in `DiffFamilies.enabled` once needletail
/// implements it; nothing else changes. After a spec builds a command, `command()` may mangle it the way
/// real clients get things wrong: odd case, a missing or extra argument, an unknown command name.
///
/// The pools are biased to edge cases: empty strings, binary bytes, 64-bit boundaries, inf/nan, numbers
/// that are almost numbers, a few keys so that commands collide on them. Times are chosen so that
/// no key expires *during* a sequence (a race between the two servers): relative TTLs are either <= 0
/// (deleted at once) or >= 100 s; absolute ones are long past or far future.

typealias DiffCommand = [[UInt8]]

struct DiffCommandSpec {
    let name: String
    let weight: Int
    let make: (inout DiffGenerator) -> DiffCommand
    /// false where `command()` must not append an extra argument: a blocking pop whose last argument is its
    /// timeout would wait that many seconds (or forever) instead.
    var extraArgument = true
    /// Never drop or add an argument: for commands that either would make random (SPOP key count loses its
    /// count; SADD single x gains a second member).
    var keepsArity = false
    /// A scene instead of one command: several commands that only mean something in a row (the "oom" family's
    /// MULTI, queued scripts, another client's CONFIG SET, EXEC), inserted as they are (`make` is unused).
    var scene: ((inout DiffGenerator) -> [DiffCommand])? = nil
}

struct DiffFamily {
    let name: String
    let commands: [DiffCommandSpec]
    /// Commands every sequence of this family starts with, before the drawn ones (the "oom" family fills
    /// keys of each type, then sets maxmemory); none for most families.
    var prologue: ((inout DiffGenerator) -> [DiffCommand])? = nil
}

struct DiffGenerator {
    var rng: SeededRandom
    private let specs: [DiffCommandSpec]
    private let prologues: [(inout DiffGenerator) -> [DiffCommand]]
    /// Relative TTLs already handed out for GT/LT comparisons (see `comparedTTL`).
    private var comparedTTLs: Set<Int> = []
    /// EVAL bodies generated so far, for EVALSHA and SCRIPT EXISTS (DifferentialGenerator+Scripting.swift).
    var scripts: [GeneratedScript] = []
    private let totalWeight: Int

    init(seed: UInt64, families: [DiffFamily]) {
        rng = SeededRandom(seed: seed)
        specs = families.flatMap { $0.commands }
        prologues = families.compactMap { $0.prologue }
        totalWeight = specs.reduce(0) { $0 + $1.weight }
        precondition(totalWeight > 0, "no command family enabled")
    }

    /// `length` commands after the families' prologues. One sequence in 25 has a pause of just over 100 ms
    /// somewhere (`DEBUG SLEEP`), so the server's cron (active expiry, at hz 10) runs over the keys made so far.
    mutating func sequence(length: Int) -> [DiffCommand] {
        var start: [DiffCommand] = []
        for p in prologues { start += p(&self) }
        var out: [DiffCommand] = []
        while out.count < length { out += commands() }
        if rng.oneIn(25) { out.insert([b("DEBUG"), b("SLEEP"), b("0.11")], at: rng.below(out.count)) }
        return start + out
    }

    /// The next command, or the next scene's commands.
    mutating func commands() -> [DiffCommand] {
        var r = rng.below(totalWeight)
        var spec = specs[0]
        for s in specs {
            if r < s.weight { spec = s; break }
            r -= s.weight
        }
        if let scene = spec.scene { return scene(&self) }
        return [command(spec)]
    }

    mutating func command(_ spec: DiffCommandSpec) -> DiffCommand {
        var cmd = spec.make(&self)
        switch rng.below(100) {
        case 0..<3 where cmd.count > 1 && !spec.keepsArity: cmd.removeLast()  // wrong arity, or another meaning
        // An extra argument; not after a blocking command whose last argument is its timeout (it would
        // become the timeout, and 0 or 1000 seconds would hang the run).
        case 3..<6 where spec.extraArgument && !spec.keepsArity && !Self.timeoutLast.contains(cmd[0].map(diffLower)):
            cmd.append(value())
        // An unknown command. (Never a NUL in the name: redis-server matches command names with strcasecmp
        // after hashing all their bytes with a per-process random seed, so "GET\0" is found only sometimes.)
        case 6: cmd[0] += rng.pick([Array("x".utf8), Array(" ".utf8)])
        case 7..<22: cmd[0] = mixedCase(cmd[0])
        default: break
        }
        return cmd
    }

    /// Blocking commands whose last argument is the timeout.
    static let timeoutLast: Set<[UInt8]> = Set(["blpop", "brpop", "bzpopmin", "bzpopmax"].map { Array($0.utf8) })

    // MARK: - Argument pools

    static let keyPool: [[UInt8]] = [
        b("k1"), b("k1"), b("k1"), b("k2"), b("k2"), b("k2"), b("k3"), b("k3"), b("k4"),
        [], [0x62, 0x00, 0xff, 0x0d, 0x0a, 0x6b], b("K1"), b("{k1}"), b("k1 "),
    ]

    static let integerPool: [String] = [
        "0", "1", "-1", "2", "3", "10", "100", "-100", "12345", "4294967296",
        "9223372036854775807", "-9223372036854775808", "9223372036854775806", "-9223372036854775807",
        "9223372036854775808", "-9223372036854775809", "18446744073709551615", "4611686018427387904",
        "99999999999999999999", "00", "-0", "+1", " 1", "1 ", "1.0", "1e3", "abc", "", "0x1", "01", "-",
    ]

    static let floatPool: [String] = [
        "0", "1", "-1", "1.5", "-1.5", "0.1", "10.5000", "3.0e3", "1e10", "1e308", "-1e308", "1e309",
        "1.7976931348623157e308", "5e-324", "4.9e-324", "1e-400", "inf", "-inf", "+inf", "INF", "Infinity",
        "nan", "NaN", "-nan", "1e", "abc", "", " 1", "1 ", "0x1p3", "-0", "+0.0", "1.2.3", ".5", "5.",
        "12345678901234567890.123456", "9223372036854775807", "-9223372036854775808", "1e19", "2.5e-10",
    ]

    static let valuePool: [[UInt8]] = [
        [], b("v"), b("hello"), b("0"), b("1"), b("-1"), b("10"), b("12345"), b("-12345"), b("3.14"),
        b("9223372036854775807"), b("-9223372036854775808"), b("9223372036854775808"), b("1e5"), b("inf"),
        b("nan"), b(" 1"), b("01"), b("+5"), b("10.50"), b("abc"), b("a b"), b("\r\n"), [0, 0, 0], [0xff, 0xfe],
        b("héllo"), b("*1\r\n$4\r\nPING\r\n"), [UInt8](repeating: 0x61, count: 44), [UInt8](repeating: 0x61, count: 45),
        b("12345678901234567890"), b("1234567890123456789"), b("-0"), b("0.0"),
    ]

    /// Relative seconds: never a small positive TTL (a key must not expire between the two servers).
    static let secondsPool: [String] = [
        "100", "1000", "86400", "31536000", "0", "-1", "-100", "abc", "", "1.5", "9223372036854775807",
        "-9223372036854775808", "4611686018427387904", "9223372036854775", "9223372036854776", "2147483648",
        "922337203685477", "+100", "100 ",
    ]

    /// Pool values that cannot set an expiry in the future: not integers, zero or negative, or so large
    /// that the absolute time overflows (an error). Only these may meet GT/LT without risking a tie.
    static let untimedSeconds = secondsPool.filter { !settable($0, unit: 1000) }
    static let untimedMillis = millisPool.filter { !settable($0, unit: 1) }

    private static func settable(_ s: String, unit: Int64) -> Bool {
        guard let n = Int64(s), !s.hasPrefix("+"), n > 0 else { return false }
        let (ms, overflow) = n.multipliedReportingOverflow(by: unit)
        return !overflow && ms < Int64.max / 2  // plus "now" stays representable
    }

    static let millisPool: [String] = [
        "100000", "1000000", "86400000", "0", "-1", "-100000", "abc", "", "1.5", "9223372036854775807",
        "-9223372036854775808", "9223372036854775806", "9223372036854775", "2147483648000",
    ]

    /// Absolute Unix times: long past (the key goes at once) or far future.
    static let unixSecondsPool: [String] = [
        "1", "0", "-1", "1000000000", "4102444800", "32503680000", "9223372036854775807", "9223372036854775",
        "-9223372036854775808", "abc", "",
    ]

    static let unixMillisPool: [String] = [
        "1", "0", "-1", "1000000000000", "4102444800000", "32503680000000", "9223372036854775807",
        "-9223372036854775808", "abc",
    ]

    static let dbPool: [String] = [
        "0", "0", "1", "1", "2", "15", "16", "-1", "abc", "", "2147483648", "9223372036854775808", "01",
    ]

    mutating func key() -> [UInt8] { rng.pick(Self.keyPool) }

    mutating func keys(_ lo: Int, _ hi: Int) -> [[UInt8]] { (0..<rng.between(lo, hi)).map { _ in key() } }

    mutating func value() -> [UInt8] {
        switch rng.below(20) {
        case 0..<3: return Array(rng.pick(Self.integerPool).utf8)
        case 3: return Array(rng.pick(Self.floatPool).utf8)
        case 4: return (0..<rng.below(40)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        case 5 where rng.oneIn(4): return [UInt8](repeating: UInt8(ascii: "x"), count: rng.pick([100, 1000, 5000, 70000]))
        case 6: return Array(String(rng.between(-1000, 1000)).utf8)
        default: return rng.pick(Self.valuePool)
        }
    }

    mutating func integer() -> [UInt8] {
        rng.oneIn(3) ? Array(String(rng.between(-50, 50)).utf8) : Array(rng.pick(Self.integerPool).utf8)
    }

    mutating func float() -> [UInt8] {
        switch rng.below(4) {
        case 0: return Array(String(rng.between(-1000, 1000)).utf8)
        case 1: return Array("\(rng.between(-100, 100)).\(rng.below(1000))".utf8)
        default: return Array(rng.pick(Self.floatPool).utf8)
        }
    }

    mutating func seconds() -> [UInt8] { Array(rng.pick(Self.secondsPool).utf8) }

    /// A relative TTL for EXPIRE/PEXPIRE with GT or LT. Such a command compares `now + n` with the key's
    /// current expiry; if that was set from the same n, the answer depends on whether a millisecond ticked
    /// between the two commands, on each server separately. So these are fresh odd numbers, never drawn
    /// twice in a generator and never equal to any TTL from the pools (all multiples of 1000 in ms): the
    /// comparison is never a tie. Sometimes a pool value that sets no TTL (zero, negative, not a number,
    /// overflowing) tests the error and edge paths instead.
    mutating func comparedTTL(millis: Bool) -> [UInt8] {
        if rng.oneIn(4) { return Array(rng.pick(millis ? Self.untimedMillis : Self.untimedSeconds).utf8) }
        var n: Int
        repeat {
            n = (millis ? rng.between(100_000, 9_000_000_000) : rng.between(200, 9_000_000)) | 1
        } while !comparedTTLs.insert(millis ? n : n * 1000).inserted
        return Array(String(n).utf8)
    }
    mutating func millis() -> [UInt8] { Array(rng.pick(Self.millisPool).utf8) }
    mutating func unixSeconds() -> [UInt8] { Array(rng.pick(Self.unixSecondsPool).utf8) }
    mutating func unixMillis() -> [UInt8] { Array(rng.pick(Self.unixMillisPool).utf8) }
    mutating func db() -> [UInt8] { Array(rng.pick(Self.dbPool).utf8) }

    /// A keyword (option or subcommand), sometimes in odd case.
    mutating func word(_ s: String) -> [UInt8] { rng.oneIn(4) ? mixedCase(Array(s.utf8)) : Array(s.utf8) }

    mutating func mixedCase(_ bytes: [UInt8]) -> [UInt8] {
        bytes.map { c in
            guard rng.oneIn(2) else { return c }
            if c >= 97 && c <= 122 { return c - 32 }
            if c >= 65 && c <= 90 { return c + 32 }
            return c
        }
    }

    /// `count` options drawn from `options` (each a closure, as some take a value), possibly repeated.
    mutating func options(_ count: Int, _ options: [(inout DiffGenerator) -> [[UInt8]]]) -> [[UInt8]] {
        var out: [[UInt8]] = []
        for _ in 0..<count { out += rng.pick(options)(&self) }
        return out
    }
}

fileprivate func b(_ s: String) -> [UInt8] { Array(s.utf8) }

// MARK: - Families

enum DiffFamilies {
    /// Families needletail implements. A family not listed here mismatches by construction; add it once it
    /// lands on the branch (try it first: `DIFF_FAMILIES=name,strings swift test ... --filter DifferentialTests`).
    /// "pubsub" runs on its own (PubSubTests.testDifferentialSequences): mixed with "transactions", a
    /// (P|S)SUBSCRIBE of several channels inside MULTI writes several frames into EXEC's array (on both servers
    /// alike), which the runner cannot yet pair with the queued commands.
    static let enabled: [String] = ["connection", "strings", "keys", "expiry", "scan", "server", "zsets", "lists", "hashes",
                                    "sets", "sort", "scripting", "transactions", "replication", "bitmaps", "hll", "geo",
                                    "streams", "diagnostics", "acl", "operations2"]

    /// "oom" runs on its own too (DifferentialTests.testOutOfMemorySequences): its sequences set maxmemory.
    static let all: [DiffFamily] = [connection, strings, keys, expiry, server, scan, sortedSets, lists, hashes, sets, sort,
                                    scripting, transactions, replication, pubsub, command, oom, bitmaps, hll, geo, streams,
                                    diagnostics, acl, operations2]

    static func named(_ names: [String]) -> [DiffFamily] {
        names.compactMap { n in all.first { $0.name == n } }
    }

    static func spec(_ name: String, _ weight: Int, keepsArity: Bool = false,
                     _ make: @escaping (inout DiffGenerator) -> DiffCommand) -> DiffCommandSpec {
        DiffCommandSpec(name: name, weight: weight, make: make, keepsArity: keepsArity)
    }

    // MARK: Strings

    static let setOptions: [(inout DiffGenerator) -> [[UInt8]]] = [
        { g in [g.word("NX")] }, { g in [g.word("XX")] }, { g in [g.word("GET")] }, { g in [g.word("KEEPTTL")] },
        { g in [g.word("EX"), g.seconds()] }, { g in [g.word("PX"), g.millis()] },
        { g in [g.word("EXAT"), g.unixSeconds()] }, { g in [g.word("PXAT"), g.unixMillis()] },
        { g in [g.word("EX")] }, { g in [b("FOO")] },
    ]

    static let getexOptions: [(inout DiffGenerator) -> [[UInt8]]] = [
        { g in [g.word("EX"), g.seconds()] }, { g in [g.word("PX"), g.millis()] },
        { g in [g.word("EXAT"), g.unixSeconds()] }, { g in [g.word("PXAT"), g.unixMillis()] },
        { g in [g.word("PERSIST")] }, { g in [g.word("PX")] }, { g in [b("BAR")] },
    ]

    static let offsets = ["0", "1", "2", "5", "-1", "-2", "-5", "10", "100", "-100", "9223372036854775807",
                          "-9223372036854775808", "abc", "", "3"]
    /// SETRANGE offsets: large ones only where any non-empty value makes the result exceed 512 MB (an
    /// error, not a 512 MB allocation in both servers).
    static let setrangeOffsets = ["0", "0", "1", "3", "5", "10", "-1", "100", "4096", "536870912", "536870999",
                                  "9223372036854775807", "abc", ""]

    static let strings = DiffFamily(name: "strings", commands: [
        spec("get", 12) { g in [b("GET"), g.key()] },
        spec("set", 14) { g in [b("SET"), g.key(), g.value()] + g.options(g.rng.pick([0, 0, 1, 1, 2, 3]), setOptions) },
        spec("setnx", 2) { g in [b("SETNX"), g.key(), g.value()] },
        spec("setex", 2) { g in [b("SETEX"), g.key(), g.seconds(), g.value()] },
        spec("psetex", 2) { g in [b("PSETEX"), g.key(), g.millis(), g.value()] },
        spec("getset", 2) { g in [b("GETSET"), g.key(), g.value()] },
        spec("getdel", 2) { g in [b("GETDEL"), g.key()] },
        spec("getex", 3) { g in [b("GETEX"), g.key()] + g.options(g.rng.pick([0, 1, 1, 2]), getexOptions) },
        spec("mget", 3) { g in [b("MGET")] + g.keys(1, 4) },
        spec("mset", 3) { g in [b("MSET")] + (0..<g.rng.between(1, 3)).flatMap { _ in [g.key(), g.value()] } },
        spec("msetnx", 2) { g in [b("MSETNX")] + (0..<g.rng.between(1, 3)).flatMap { _ in [g.key(), g.value()] } },
        spec("append", 4) { g in [b("APPEND"), g.key(), g.value()] },
        spec("strlen", 3) { g in [b("STRLEN"), g.key()] },
        spec("getrange", 3) { g in [b(g.rng.oneIn(5) ? "SUBSTR" : "GETRANGE"), g.key(),
                                    b(g.rng.pick(offsets)), b(g.rng.pick(offsets))] },
        spec("setrange", 3) { g in [b("SETRANGE"), g.key(), b(g.rng.pick(setrangeOffsets)),
                                    g.rng.oneIn(4) ? [] : g.value()] },
        spec("incr", 4) { g in [b("INCR"), g.key()] },
        spec("decr", 3) { g in [b("DECR"), g.key()] },
        spec("incrby", 4) { g in [b("INCRBY"), g.key(), g.integer()] },
        spec("decrby", 3) { g in [b("DECRBY"), g.key(), g.integer()] },
        spec("incrbyfloat", 5) { g in [b("INCRBYFLOAT"), g.key(), g.float()] },
        // LCS on its own keys with short values: redis-server allocates (len1+1)*(len2+1) cells.
        spec("lcs", 3) { g in
            let keys = [b("lcs1"), b("lcs2"), b("lcs1"), b("nolcs")]
            if g.rng.oneIn(3) {
                return [b("SET"), g.rng.pick(keys), (0..<g.rng.below(12)).map { _ in g.rng.pick(Array("abcdxy".utf8)) }]
            }
            var c = [b("LCS"), g.rng.pick(keys), g.rng.pick(keys)]
            for _ in 0..<g.rng.pick([0, 1, 1, 2, 3]) {
                switch g.rng.below(6) {
                case 0: c.append(g.word("LEN"))
                case 1, 2: c.append(g.word("IDX"))
                case 3: c += [g.word("MINMATCHLEN"), b(g.rng.pick(["0", "1", "2", "3", "-1", "x"]))]
                case 4: c.append(g.word("WITHMATCHLEN"))
                default: c.append(g.rng.oneIn(2) ? g.word("MINMATCHLEN") : b("FOO"))
                }
            }
            return c
        },
    ])

    // MARK: Keys

    static let keysPatterns = ["*", "*", "k*", "k?", "?1", "[a-k]*", "[^k]*", "*1", "\\*", "", "k[", "k\\",
                               "{k1}", "*\u{0}*", "K*", "[k-a]1", "b*"]

    static let keys = DiffFamily(name: "keys", commands: [
        spec("del", 5) { g in [b("DEL")] + g.keys(1, 3) },
        spec("unlink", 2) { g in [b("UNLINK")] + g.keys(1, 3) },
        spec("exists", 4) { g in [b("EXISTS")] + g.keys(1, 4) },
        spec("type", 3) { g in [b("TYPE"), g.key()] },
        spec("rename", 3) { g in [b("RENAME"), g.key(), g.key()] },
        spec("renamenx", 2) { g in [b("RENAMENX"), g.key(), g.key()] },
        spec("touch", 2) { g in [b("TOUCH")] + g.keys(1, 3) },
        spec("copy", 3) { g in
            var c = [b("COPY"), g.key(), g.key()]
            for _ in 0..<g.rng.pick([0, 0, 1, 2]) {
                c += g.rng.oneIn(2) ? [g.word("REPLACE")] : (g.rng.oneIn(6) ? [g.word("DB")] : [g.word("DB"), g.db()])
            }
            if g.rng.oneIn(20) { c.append(b("BAZ")) }
            return c
        },
        spec("move", 2) { g in [b("MOVE"), g.key(), g.db()] },
        spec("swapdb", 1) { g in [b("SWAPDB"), g.db(), g.db()] },
        spec("object", 3) { g in
            switch g.rng.below(12) {
            case 0: return [b("OBJECT"), g.word("FREQ"), g.key()]
            case 1: return [b("OBJECT"), b("NOSUCH"), g.key()]
            case 2: return [b("OBJECT"), g.word("ENCODING")]
            case 3: return [b("OBJECT"), g.word("REFCOUNT"), g.key()]
            case 4: return g.rng.oneIn(3) ? [b("OBJECT"), g.word("HELP"), b("x")] : [b("OBJECT"), g.word("HELP")]
            default: return [b("OBJECT"), g.word("ENCODING"), g.key()]
            }
        },
        spec("keys", 3) { g in [b("KEYS"), b(g.rng.pick(keysPatterns))] },
        spec("memory", 2) { g in
            switch g.rng.below(8) {
            case 0: return [b("MEMORY"), g.word("USAGE"), g.key(), g.word("SAMPLES"), b(g.rng.pick(["0", "1", "5", "-1", "x", ""]))]
            case 1: return [b("MEMORY"), g.word("USAGE"), g.key(), b(g.rng.pick(["SAMPLES", "FOO"]))]
            case 2: return [b("MEMORY"), g.rng.pick([g.word("HELP"), b("NOSUCH"), g.word("USAGE")])]
            default: return [b("MEMORY"), g.word("USAGE"), g.key()]
            }
        },
        spec("dbsize", 2) { _ in [b("DBSIZE")] },
        spec("randomkey", 1) { _ in [b("RANDOMKEY")] },
        // Byte-exact: equal data must digest alike whatever the encodings (TTLs here never lapse mid-sequence,
        // so no key is expired-but-stored on one side only).
        spec("debug-digest", 2) { g in
            g.rng.oneIn(3) ? [b("DEBUG"), g.word("DIGEST")] : [b("DEBUG"), g.word("DIGEST-VALUE")] + g.keys(1, 3)
        },
    ])

    // MARK: Expiry

    static let expireOptions = ["NX", "XX", "GT", "LT"]

    static func expireFlags(_ g: inout DiffGenerator) -> [[UInt8]] {
        var out: [[UInt8]] = []
        for _ in 0..<g.rng.pick([0, 0, 1, 1, 1, 2]) { out.append(g.word(g.rng.pick(expireOptions))) }
        if g.rng.oneIn(25) { out.append(b("QUX")) }
        return out
    }

    /// EXPIRE/PEXPIRE key <relative time> [flags]: GT/LT get a tie-free time (`comparedTTL`).
    static func relativeExpire(_ g: inout DiffGenerator, _ name: String, millis: Bool) -> [[UInt8]] {
        let key = g.key()
        let flags = expireFlags(&g)
        let compares = flags.contains { ["GT", "LT"].contains(String(decoding: $0, as: UTF8.self).uppercased()) }
        let time = compares ? g.comparedTTL(millis: millis) : (millis ? g.millis() : g.seconds())
        return [b(name), key, time] + flags
    }

    static let expiry = DiffFamily(name: "expiry", commands: [
        spec("expire", 5) { g in relativeExpire(&g, "EXPIRE", millis: false) },
        spec("pexpire", 3) { g in relativeExpire(&g, "PEXPIRE", millis: true) },
        spec("expireat", 3) { g in [b("EXPIREAT"), g.key(), g.unixSeconds()] + expireFlags(&g) },
        spec("pexpireat", 2) { g in [b("PEXPIREAT"), g.key(), g.unixMillis()] + expireFlags(&g) },
        spec("ttl", 5) { g in [b("TTL"), g.key()] },
        spec("pttl", 4) { g in [b("PTTL"), g.key()] },
        spec("expiretime", 2) { g in [b("EXPIRETIME"), g.key()] },
        spec("pexpiretime", 2) { g in [b("PEXPIRETIME"), g.key()] },
        spec("persist", 3) { g in [b("PERSIST"), g.key()] },
    ])

    // MARK: Connection

    static let connection = DiffFamily(name: "connection", commands: [
        spec("ping", 2) { g in g.rng.oneIn(2) ? [b("PING")] : [b("PING"), g.value()] },
        spec("echo", 2) { g in [b("ECHO"), g.value()] },
        spec("select", 3) { g in [b("SELECT"), g.db()] },
        spec("hello", 1) { g in
            switch g.rng.below(8) {
            case 0: return [b("HELLO")]
            case 1: return [b("HELLO"), b(g.rng.pick(["1", "4", "abc", "-1", ""]))]
            case 2: return [b("HELLO"), b(g.rng.pick(["2", "3"])), g.word("SETNAME"), b(g.rng.pick(["me", "a b", ""]))]
            case 3: return [b("HELLO"), b("3"), g.word("AUTH"), b("default"), b("pw")]
            case 4: return [b("HELLO"), b("3"), b("FOO")]
            default: return [b("HELLO"), b(g.rng.pick(["2", "3"]))]
            }
        },
    ])

    // MARK: Server

    static let configNames = ["maxmemory", "hz", "save", "appendonly", "maxmemory-policy", "databases", "timeout",
                              "proto-max-bulk-len", "nosuch", "MAXMEMORY", "max*", "*policy*", "lazyfree-lazy-user-del"]

    static let server = DiffFamily(name: "server", commands: [
        spec("flushdb", 1) { g in g.rng.oneIn(2) ? [b("FLUSHDB")] : [b("FLUSHDB"), g.word(g.rng.pick(["ASYNC", "SYNC", "LAZY"]))] },
        spec("flushall", 1) { g in g.rng.oneIn(2) ? [b("FLUSHALL")] : [b("FLUSHALL"), g.word(g.rng.pick(["ASYNC", "SYNC", "X"]))] },
        spec("dbsize", 2) { _ in [b("DBSIZE")] },
        spec("time", 1) { g in g.rng.oneIn(5) ? [b("TIME"), b("x")] : [b("TIME")] },
        spec("lastsave", 1) { _ in [b("LASTSAVE")] },
        spec("info", 1) { g in g.rng.oneIn(2) ? [b("INFO")] : [b("INFO"), g.word(g.rng.pick(["server", "keyspace", "nosuch", "all"]))] },
        spec("config", 2) { g in
            g.rng.oneIn(8) ? [b("CONFIG"), g.word("GET")] : [b("CONFIG"), g.word("GET")] + (0..<g.rng.between(1, 2)).map { _ in b(g.rng.pick(configNames)) }
        },
        spec("client", 3) { g in
            switch g.rng.below(7) {
            case 0: return [b("CLIENT"), g.word("SETNAME"), b(g.rng.pick(["me", "a b", "", "x\ny", "ok-name"]))]
            case 1: return [b("CLIENT"), g.word("GETNAME")]
            case 2: return [b("CLIENT"), g.word("ID")]
            case 3: return [b("CLIENT"), g.word("INFO")]
            // (No CLIENT SETINFO: needletail follows 7.2 there, and the oracle is 7.0.)
            case 4: return [b("CLIENT"), g.word("GETNAME"), b("extra")]
            case 5: return [b("CLIENT")]
            default: return [b("CLIENT"), b("NOSUCH")]
            }
        },
    ])

    // MARK: COMMAND introspection (over commands needletail has)
    //
    // Not enabled, and not expected to be: redis-server lists subcommands in its hash table's order (random
    // per process), COMMAND INFO with no name and COMMAND COUNT cover commands needletail does not have, and
    // some summaries follow 7.2. Useful by hand: `DIFF_FAMILIES=command`.

    static let commandNames = ["get", "set", "GET", "mset", "getex", "del", "expire", "ping", "hello", "object",
                               "object|encoding", "client|setname", "zadd", "zrange", "nosuch", "", "keys", "scan"]

    static let command = DiffFamily(name: "command", commands: [
        spec("command info", 2) { g in [b("COMMAND"), g.word("INFO")] + (0..<g.rng.between(1, 3)).map { _ in b(g.rng.pick(commandNames)) } },
        spec("command docs", 1) { g in [b("COMMAND"), g.word("DOCS")] + (0..<g.rng.between(1, 2)).map { _ in b(g.rng.pick(commandNames)) } },
        spec("command getkeys", 2) { g in
            let sub = g.word(g.rng.oneIn(3) ? "GETKEYSANDFLAGS" : "GETKEYS")
            switch g.rng.below(7) {
            case 0: return [b("COMMAND"), sub, b("SET"), g.key(), g.value()]
            case 6: return [b("COMMAND"), sub, b("BITFIELD"), g.key()]
                + (g.rng.oneIn(2) ? [b("GET"), b("u8"), b("0")] : [b("SET"), b("u8"), b("0"), b("1")])
                + (g.rng.oneIn(3) ? [b("GET"), b("u8")] : [])
            case 1: return [b("COMMAND"), sub, b("MSET")] + g.keys(1, 3).flatMap { [$0, b("v")] }
            case 2:
                // Key counts the specs reject but Redis's genericGetKeys reads with atoi ("1.5" is 1).
                let count = b(g.rng.pick(["2", "2", "1", "1.5", "01", "+1", " 1", "1x", "0", "-1", "3", "99", "x"]))
                switch g.rng.below(4) {
                case 0: return [b("COMMAND"), sub, b("ZUNIONSTORE"), b("dst"), count, b("a"), b("b")]
                case 1: return [b("COMMAND"), sub, b("EVAL"), b("return 1"), count, b("a"), b("b")]
                case 2: return [b("COMMAND"), sub, b("LMPOP"), count, b("a"), b("b"), b("LEFT")]
                default: return [b("COMMAND"), sub, b("SINTERCARD"), count, b("a"), b("b")]
                }
            case 3: return [b("COMMAND"), sub, b("PING")]
            case 4: return [b("COMMAND"), sub, b("NOSUCH"), b("x")]
            default: return [b("COMMAND"), sub, b("GET")]
            }
        },
        spec("command other", 1) { g in
            g.rng.oneIn(2) ? [b("COMMAND"), b("NOSUCH")] : [b("COMMAND"), g.word("COUNT"), b("x")]
        },
    ])

    // MARK: SCAN (the runner compares the union of a full scan; only cursor 0 or invalid cursors, since a
    // mid-scan cursor means different things in differently sized tables)

    static let scanCursors = ["0", "0", "0", "0", "abc", "", " 0", "0x10", "18446744073709551616", "1.5"]
    static let scanTypes = ["string", "STRING", "zset", "hash", "none", "nosuch", ""]

    static func scanOptions(_ g: inout DiffGenerator, types: Bool) -> [[UInt8]] {
        var out: [[UInt8]] = []
        for _ in 0..<g.rng.pick([0, 0, 1, 1, 2, 3]) {
            switch g.rng.below(types ? 7 : 5) {
            case 0, 1: out += [g.word("MATCH"), b(g.rng.pick(keysPatterns))]
            case 2, 3: out += [g.word("COUNT"), b(g.rng.pick(["1", "2", "10", "100", "0", "-1", "x", ""]))]
            case 4: out += g.rng.oneIn(2) ? [g.word("COUNT")] : [b("FOO"), b("bar")]
            default: out += [g.word("TYPE"), b(g.rng.pick(scanTypes))]
            }
        }
        return out
    }

    static let scan = DiffFamily(name: "scan", commands: [
        spec("scan", 3) { g in [b("SCAN"), b(g.rng.pick(scanCursors))] + scanOptions(&g, types: true) },
    ])

    // MARK: Sorted sets

    static let members: [[UInt8]] = [b("a"), b("b"), b("c"), b("d"), b("e"), b("a"), b("b"), [], b("A"), b("aa"),
                                     b("ab"), b("1"), b("-1"), [0x6d, 0x00], [0xff], b("m e")]
    static let scores = ["0", "1", "2", "3", "-1", "1.5", "-2.5", "10", "100", "0.1", "-0", "+inf", "-inf", "inf",
                         "1e308", "-1e308", "5e-324", "nan", "abc", "", "1e400", "(1", "0x10", " 1"]
    static let scoreBounds = ["-inf", "+inf", "0", "1", "2", "(1", "(2", "(-inf", "(+inf", "3", "-1", "1.5", "(1.5",
                              "abc", "", "(", "inf", "nan", "((1", "10"]
    /// Lex-range commands are only defined when all members have the same score (redis-server's answer on
    /// mixed scores is an accident of its traversal), so they work on their own keys, filled with score 0.
    /// `lexmix` is the exception: its members have mixed scores, and it never holds more than the 16 short
    /// members above, so both servers keep it in the listpack encoding, whose traversal needletail's packed
    /// form follows (Storage/SortedSet.swift).
    static let lexKeys = [b("lex"), b("lex"), b("lex"), b("lex2"), b("nolex")]
    static let lexQueryKeys = lexKeys + [b("lexmix"), b("lexmix")]
    static let mixedLexScores = ["0", "0", "1", "2", "-1", "1.5", "-0", "+inf", "-inf"]
    static let lexBounds = ["-", "+", "[a", "(a", "[b", "(b", "[c", "[", "(", "a", "[aa", "(", "[\u{ff}", "-a", "+b"]
    static let ranks = ["0", "1", "2", "-1", "-2", "-3", "3", "10", "-10", "100", "9223372036854775807",
                        "-9223372036854775808", "abc", ""]

    static func pairs(_ g: inout DiffGenerator) -> [[UInt8]] {
        var out: [[UInt8]] = []
        for _ in 0..<g.rng.pick([1, 1, 2, 3, 4]) { out += [g.score(), g.member()] }
        if g.rng.oneIn(15) { out.append(g.score()) }  // an odd count
        return out
    }

    static func zaddFlags(_ g: inout DiffGenerator) -> [[UInt8]] {
        (0..<g.rng.pick([0, 0, 0, 1, 1, 2, 3])).map { _ in g.word(g.rng.pick(["NX", "XX", "GT", "LT", "CH", "INCR"])) }
    }

    /// ZRANGE's range arguments for one of its three modes, plus options.
    static func zrangeTail(_ g: inout DiffGenerator) -> [[UInt8]] {
        var out: [[UInt8]]
        switch g.rng.below(3) {
        case 0: out = [b(g.rng.pick(ranks)), b(g.rng.pick(ranks))]
        case 1: out = [b(g.rng.pick(scoreBounds)), b(g.rng.pick(scoreBounds)), g.word("BYSCORE")]
        default: out = [b(g.rng.pick(lexBounds)), b(g.rng.pick(lexBounds)), g.word("BYLEX")]
        }
        if g.rng.oneIn(3) { out.append(g.word("REV")) }
        if g.rng.oneIn(3) { out += [g.word("LIMIT"), b(g.rng.pick(["0", "1", "-1", "2", "x"])), b(g.rng.pick(["1", "2", "-1", "0", "10"]))] }
        if g.rng.oneIn(2) { out.append(g.word("WITHSCORES")) }
        if g.rng.oneIn(8) { out.shuffle(using: &g.rng) }
        return out
    }

    static func limitOption(_ g: inout DiffGenerator) -> [[UInt8]] {
        g.rng.oneIn(3) ? [g.word("LIMIT"), b(g.rng.pick(["0", "1", "-1", "x"])), b(g.rng.pick(["1", "2", "-1", "0"]))] : []
    }

    /// numkeys and keys, with the count sometimes wrong.
    static func numkeys(_ g: inout DiffGenerator) -> [[UInt8]] {
        let keys = g.keys(1, 3)
        let n = g.rng.oneIn(10) ? b(g.rng.pick(["0", "-1", "x", "5", "2147483648"])) : b(String(keys.count))
        return [n] + keys
    }

    static func setOpOptions(_ g: inout DiffGenerator, count: Int, withScores: Bool) -> [[UInt8]] {
        var out: [[UInt8]] = []
        if g.rng.oneIn(3) { out += [g.word("WEIGHTS")] + (0..<(g.rng.oneIn(6) ? count + 1 : count)).map { _ in g.score() } }
        if g.rng.oneIn(3) { out += [g.word("AGGREGATE"), g.word(g.rng.pick(["SUM", "MIN", "MAX", "AVG"]))] }
        if withScores && g.rng.oneIn(2) { out.append(g.word("WITHSCORES")) }
        return out
    }

    static let sortedSets = DiffFamily(name: "zsets", commands: [
        spec("zadd", 12) { g in [b("ZADD"), g.key()] + zaddFlags(&g) + pairs(&g) },
        spec("zincrby", 3) { g in [b("ZINCRBY"), g.key(), g.score(), g.member()] },
        spec("zrem", 3) { g in [b("ZREM"), g.key()] + (0..<g.rng.between(1, 3)).map { _ in g.member() } },
        spec("zcard", 2) { g in [b("ZCARD"), g.key()] },
        spec("zscore", 3) { g in [b("ZSCORE"), g.key(), g.member()] },
        spec("zmscore", 2) { g in [b("ZMSCORE"), g.key()] + (0..<g.rng.between(1, 3)).map { _ in g.member() } },
        // No extra argument: 7.2's WITHSCORE is one (Redis72AdditionsTests checks it against ZRANK and ZSCORE).
        DiffCommandSpec(name: "zrank", weight: 3, make: { g in [b(g.rng.oneIn(2) ? "ZRANK" : "ZREVRANK"), g.key(), g.member()] },
                        extraArgument: false),
        spec("zcount", 2) { g in [b("ZCOUNT"), g.key(), b(g.rng.pick(scoreBounds)), b(g.rng.pick(scoreBounds))] },
        spec("zaddlex", 4) { g in
            if g.rng.oneIn(15) { return [b("SET"), b("lex2"), b("string")] }  // for WRONGTYPE
            if g.rng.oneIn(3) {
                return [b("ZADD"), b("lexmix")] + (0..<g.rng.between(1, 4)).flatMap { _ in [b(g.rng.pick(mixedLexScores)), g.member()] }
            }
            return [b("ZADD"), g.rng.pick(lexKeys)] + (0..<g.rng.between(1, 4)).flatMap { _ in [b("0"), g.member()] }
        },
        spec("zlexcount", 2) { g in [b("ZLEXCOUNT"), g.rng.pick(lexQueryKeys), b(g.rng.pick(lexBounds)), b(g.rng.pick(lexBounds))] },
        spec("zrange", 8) { g in
            let tail = zrangeTail(&g)
            return [b("ZRANGE"), tail.contains { $0.map(diffLower) == b("bylex") } ? g.rng.pick(lexQueryKeys) : g.key()] + tail
        },
        spec("zrangestore", 2) { g in
            let tail = zrangeTail(&g).filter { $0.map(diffLower) != b("withscores") }
            return [b("ZRANGESTORE"), g.key(), tail.contains { $0.map(diffLower) == b("bylex") } ? g.rng.pick(lexQueryKeys) : g.key()] + tail
        },
        spec("zrevrange", 2) { g in [b("ZREVRANGE"), g.key(), b(g.rng.pick(ranks)), b(g.rng.pick(ranks))] + (g.rng.oneIn(2) ? [g.word("WITHSCORES")] : []) },
        spec("zrangebyscore", 3) { g in
            [b(g.rng.oneIn(2) ? "ZRANGEBYSCORE" : "ZREVRANGEBYSCORE"), g.key(), b(g.rng.pick(scoreBounds)), b(g.rng.pick(scoreBounds))]
                + (g.rng.oneIn(2) ? [g.word("WITHSCORES")] : []) + limitOption(&g)
        },
        spec("zrangebylex", 3) { g in
            [b(g.rng.oneIn(2) ? "ZRANGEBYLEX" : "ZREVRANGEBYLEX"), g.rng.pick(lexQueryKeys), b(g.rng.pick(lexBounds)), b(g.rng.pick(lexBounds))] + limitOption(&g)
        },
        spec("zremrange", 3) { g in
            switch g.rng.below(3) {
            case 0: return [b("ZREMRANGEBYRANK"), g.key(), b(g.rng.pick(ranks)), b(g.rng.pick(ranks))]
            case 1: return [b("ZREMRANGEBYSCORE"), g.key(), b(g.rng.pick(scoreBounds)), b(g.rng.pick(scoreBounds))]
            default: return [b("ZREMRANGEBYLEX"), g.rng.pick(lexQueryKeys), b(g.rng.pick(lexBounds)), b(g.rng.pick(lexBounds))]
            }
        },
        spec("zpop", 3) { g in
            [b(g.rng.oneIn(2) ? "ZPOPMIN" : "ZPOPMAX"), g.key()] + (g.rng.oneIn(2) ? [b(g.rng.pick(["1", "2", "0", "-1", "10", "x"]))] : [])
        },
        spec("zrandmember", 1) { g in
            [b("ZRANDMEMBER"), g.key()] + (g.rng.oneIn(2) ? [b(g.rng.pick(["1", "3", "-3", "0", "100", "x"]))] + (g.rng.oneIn(2) ? [g.word("WITHSCORES")] : []) : [])
        },
        spec("zsetop", 4) { g in
            let op = g.rng.pick(["ZUNION", "ZINTER", "ZDIFF"])
            let keys = numkeys(&g)
            return [b(op)] + keys + (op == "ZDIFF" ? (g.rng.oneIn(2) ? [g.word("WITHSCORES")] : [])
                                                   : setOpOptions(&g, count: keys.count - 1, withScores: true))
        },
        spec("zsetopstore", 3) { g in
            let op = g.rng.pick(["ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE"])
            let keys = numkeys(&g)
            return [b(op), g.key()] + keys + (op == "ZDIFFSTORE" ? [] : setOpOptions(&g, count: keys.count - 1, withScores: false))
        },
        spec("zintercard", 1) { g in
            [b("ZINTERCARD")] + numkeys(&g) + (g.rng.oneIn(3) ? [g.word("LIMIT"), b(g.rng.pick(["0", "1", "-1", "x"]))] : [])
        },
        spec("zmpop", 2) { g in
            [b("ZMPOP")] + numkeys(&g) + [g.word(g.rng.pick(["MIN", "MAX", "MID"]))]
                + (g.rng.oneIn(2) ? [g.word("COUNT"), b(g.rng.pick(["1", "2", "0", "-1", "x"]))] : [])
        },
        spec("zscan", 1) { g in [b("ZSCAN"), g.key(), b(g.rng.pick(scanCursors))] + scanOptions(&g, types: false) },
        // Blocking pops (one spec for the three, they are slow): they never block for long. A valid timeout
        // is 0.1-10 ms (one in six; redis-server 7.0 takes up to a cron period, 100 ms, to time a client
        // out, so more would slow the run down), else an error; "0" (forever) only behind an error the command
        // reports before it could block. Non-empty keys are served at once; wrong-type keys are errors.
        DiffCommandSpec(name: "bzpop", weight: 1, make: { g in
            let timeout = b(g.rng.oneIn(6) ? g.rng.pick(blockingTimeouts) : g.rng.pick(blockingTimeoutErrors))
            switch g.rng.below(3) {
            case 0: return [b("BZPOPMIN")] + g.keys(1, 3) + [timeout]
            case 1: return [b("BZPOPMAX")] + g.keys(1, 3) + [timeout]
            default:
                var timeout = timeout
                var keys = numkeys(&g)
                var whereArg = g.word(g.rng.pick(["MIN", "MAX", "MIN", "MAX", "MID"]))
                var count: [[UInt8]] = g.rng.oneIn(2) ? [g.word("COUNT"), b(g.rng.pick(["1", "2", "10", "0", "-1", "x", ""]))] : []
                if g.rng.oneIn(6) {
                    timeout = b("0")
                    switch g.rng.below(3) {
                    case 0: keys[0] = b(g.rng.pick(["0", "-1", "x"]))
                    case 1: whereArg = g.word("MID")
                    default: count = [g.word("COUNT"), b(g.rng.pick(["0", "-1", "x"]))]
                    }
                }
                return [b("BZMPOP"), timeout] + keys + [whereArg] + count
            }
        }, extraArgument: false),  // BZPOPMIN's timeout is its last argument
    ])

    /// Timeouts in seconds that time out within 10 ms (rounded up to whole milliseconds).
    static let blockingTimeouts = ["0.001", "0.001", "0.0001", "1e-9", "1e-400", "0.01"]
    /// Timeouts that are errors: negative, not a float, or too large (inf and anything past 2^63 ms are
    /// "negative" in redis-server's C cast). Not among them, as both servers block for ever on them:
    /// -0.001 and -1e-9 (-0.001 * 1000 rounds up to 0 in long double), 0x10 (strtold reads hex: 16 s), and
    /// 9223372036854775 (its deadline overflows 64 bits: redis-server 7.0 waits for ever, and so does needletail).
    static let blockingTimeoutErrors = ["-1", "-0.002", "-0.5", "abc", "", "inf", "+inf", "-inf", "nan", "-nan", "1e20",
                                        "1e400", "9223372036854775807", "1.5.", "0.001x", " 1", "0,5"]
}

extension DiffGenerator {
    mutating func member() -> [UInt8] { rng.pick(DiffFamilies.members) }

    mutating func score() -> [UInt8] {
        rng.oneIn(3) ? b(String(rng.between(-5, 5))) : b(rng.pick(DiffFamilies.scores))
    }
}
