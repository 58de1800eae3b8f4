import Glibc

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

/// SplitMix64: tiny, fast, and good enough to drive a test generator reproducibly from one seed.
struct DiffRandom {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in 0..<n.
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    mutating func oneIn(_ n: Int) -> Bool { below(n) == 0 }
    mutating func pick<T>(_ a: [T]) -> T { a[below(a.count)] }
    mutating func between(_ lo: Int, _ hi: Int) -> Int { lo + below(hi - lo + 1) }
}

struct DiffCommandSpec {
    let name: String
    let weight: Int
    let make: (inout DiffGenerator) -> DiffCommand
}

struct DiffFamily {
    let name: String
    let commands: [DiffCommandSpec]
}

struct DiffGenerator {
    var rng: DiffRandom
    private let specs: [DiffCommandSpec]
    private let totalWeight: Int

    init(seed: UInt64, families: [DiffFamily]) {
        rng = DiffRandom(seed: seed)
        specs = families.flatMap { $0.commands }
        totalWeight = specs.reduce(0) { $0 + $1.weight }
        precondition(totalWeight > 0, "no command family enabled")
    }

    /// `length` commands. One sequence in 25 has a pause of just over 100 ms somewhere (`DEBUG SLEEP`, slept
    /// by the runner, not sent), so the server's cron (active expiry, at hz 10) runs over the keys made so far.
    mutating func sequence(length: Int) -> [DiffCommand] {
        var out = (0..<length).map { _ in command() }
        if rng.oneIn(25) { out.insert([b("DEBUG"), b("SLEEP"), b("0.11")], at: rng.below(out.count)) }
        return out
    }

    mutating func command() -> DiffCommand {
        var r = rng.below(totalWeight)
        var spec = specs[0]
        for s in specs {
            if r < s.weight { spec = s; break }
            r -= s.weight
        }
        var cmd = spec.make(&self)
        switch rng.below(100) {
        case 0..<3 where cmd.count > 1: cmd.removeLast()                  // wrong arity, or another meaning
        case 3..<6: cmd.append(value())                                    // extra argument
        // An unknown command. (Never a NUL in the name: redis-server matches command names with strcasecmp
        // after hashing all their bytes with a per-process random seed, so "GET\0" is found only sometimes.)
        case 6: cmd[0] += rng.pick([Array("x".utf8), Array(" ".utf8)])
        case 7..<22: cmd[0] = mixedCase(cmd[0])
        default: break
        }
        return cmd
    }

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
    /// lands (try it first: `DIFF_FAMILIES=name swift test ... --filter DifferentialTests`).
    static let enabled: [String] = ["connection", "strings", "keys", "expiry"]

    static let all: [DiffFamily] = [connection, strings, keys, expiry, server]

    static func named(_ names: [String]) -> [DiffFamily] {
        names.compactMap { n in all.first { $0.name == n } }
    }

    static func spec(_ name: String, _ weight: Int, _ make: @escaping (inout DiffGenerator) -> DiffCommand) -> DiffCommandSpec {
        DiffCommandSpec(name: name, weight: weight, make: make)
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
            switch g.rng.below(10) {
            case 0: return [b("OBJECT"), g.word("FREQ"), g.key()]
            case 1: return [b("OBJECT"), b("NOSUCH"), g.key()]
            case 2: return [b("OBJECT"), g.word("ENCODING")]
            default: return [b("OBJECT"), g.word("ENCODING"), g.key()]
            }
        },
        spec("keys", 3) { g in [b("KEYS"), b(g.rng.pick(keysPatterns))] },
        spec("dbsize", 2) { _ in [b("DBSIZE")] },
        spec("randomkey", 1) { _ in [b("RANDOMKEY")] },
    ])

    // MARK: Expiry

    static let expireOptions = ["NX", "XX", "GT", "LT"]

    static func expireFlags(_ g: inout DiffGenerator) -> [[UInt8]] {
        var out: [[UInt8]] = []
        for _ in 0..<g.rng.pick([0, 0, 1, 1, 1, 2]) { out.append(g.word(g.rng.pick(expireOptions))) }
        if g.rng.oneIn(25) { out.append(b("QUX")) }
        return out
    }

    static let expiry = DiffFamily(name: "expiry", commands: [
        spec("expire", 5) { g in [b("EXPIRE"), g.key(), g.seconds()] + expireFlags(&g) },
        spec("pexpire", 3) { g in [b("PEXPIRE"), g.key(), g.millis()] + expireFlags(&g) },
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

    // MARK: Server (enable when it lands)

    static let server = DiffFamily(name: "server", commands: [
        spec("flushdb", 1) { g in g.rng.oneIn(2) ? [b("FLUSHDB")] : [b("FLUSHDB"), g.word(g.rng.pick(["ASYNC", "SYNC", "LAZY"]))] },
        spec("dbsize", 2) { _ in [b("DBSIZE")] },
        spec("time", 1) { _ in [b("TIME")] },
        spec("lastsave", 1) { _ in [b("LASTSAVE")] },
        spec("client", 2) { g in
            switch g.rng.below(4) {
            case 0: return [b("CLIENT"), g.word("SETNAME"), b(g.rng.pick(["me", "a b", "", "x\ny"]))]
            case 1: return [b("CLIENT"), g.word("GETNAME")]
            case 2: return [b("CLIENT"), g.word("ID")]
            default: return [b("CLIENT"), b("NOSUCH")]
            }
        },
    ])
}
