@testable import Needletail  // SHA1 for EVALSHA, CRC64 for FUNCTION RESTORE payloads
import TestSupport

/// The "scripting" family: EVAL, EVALSHA, their _RO forms, SCRIPT, FUNCTION and FCALL, with script bodies from
/// the grammar in DifferentialGenerator+Lua.swift.
///
/// - EVAL and EVAL_RO of a new body, sometimes after a shebang (`#!lua flags=no-writes`, every flag, bad
///   engines, options and flags, a shebang with no newline); numkeys now and then negative, too large, or no
///   number. EVAL_RO and `no-writes` scripts meet write commands from the grammar's calls.
/// - EVALSHA(_RO) of a body this sequence has run or loaded (`DiffGenerator.scripts`, with its keys and
///   arguments), in upper case now and then, of an unknown or malformed SHA (NOSCRIPT), and after SCRIPT FLUSH.
/// - SCRIPT LOAD (new bodies, compile errors, bad shebangs), EXISTS, FLUSH, KILL (NOTBUSY), HELP and DEBUG NO.
/// - FUNCTION LOAD of small libraries (`libraryCode`): functions registered by name or by table, with flags and
///   descriptions, duplicated within a library or across libraries, bad metadata, bad registrations, code that
///   fails while loading, REPLACE; FCALL/FCALL_RO of those functions (their bodies from the same grammar,
///   with the function's `keys` and `args`); FUNCTION DELETE, FLUSH, LIST (with LIBRARYNAME and WITHCODE),
///   STATS, DUMP, RESTORE (payloads built here for random libraries, with every policy, and corrupted), KILL
///   and HELP.
/// - EVAL, FCALL and the rest inside MULTI come with the "transactions" family.
///
/// Known differences by design, kept out: FUNCTION LIST's order (redis-server lists libraries and functions in
/// its hash tables' order; the runner sorts both replies, `DiffNormalizer.sortedFunctionList`), FUNCTION DUMP's
/// order of libraries (compared as a multiset of libraries, `DiffNormalizer.sameFunctionDump`), and which of
/// several clashing names FUNCTION LOAD and RESTORE report (`DiffNormalizer.nameClash`); the rest is listed in
/// the grammar's notes. SCRIPT DEBUG YES/SYNC is not generated (needletail has no debugger).
///
/// The runner clears the script cache and the libraries after a run that used them (FLUSHALL keeps both).
extension DiffFamilies {
    static let scripting = DiffFamily(name: "scripting", commands: [
        spec("eval", 18) { g in g.evalCommand("EVAL") },
        spec("eval_ro", 3) { g in g.evalCommand("EVAL_RO") },
        spec("evalsha", 6) { g in g.evalshaCommand() },
        spec("script", 5) { g in scriptCommand(&g) },
        spec("function load", 8) { g in [b("FUNCTION"), g.word("LOAD")] + (g.rng.oneIn(4) ? [g.word("REPLACE")] : []) + [g.libraryCode()] },
        spec("fcall", 8) { g in fcallCommand(&g) },
        spec("function", 5) { g in functionCommand(&g) },
    ])

    static let shebangs = [
        "#!lua\n", "#!lua flags=no-writes\n", "#!lua flags=no-writes,allow-oom\n", "#!lua flags=\n",
        "#!lua flags=allow-stale,no-cluster,allow-cross-slot-keys\n", "#!lua flags=allow-oom\n", "#!lua  flags=no-writes \n",
        "#!lua flags=bogus\n", "#!lua bogus\n", "#!luajit\n", "#!lua", "#!\n", "#!LUA\n", "#! lua\n", "#!lua flags=no-writes,\n",
        "#!lua flags=no-writes flags=allow-oom\n", "#!lua name=lib1\n", "#!lua \"flags=no-writes\"\n",
        "#!lua flags=no-writes\r\n", "#!lua\u{0}\n", "#!lua flags=no-\u{0}writes\n",
    ]

    static let unknownSHAs = [
        "0000000000000000000000000000000000000000", "da39a3ee5e6b4b0d3255bfef95601890afd80709", "abc", "",
        "ffffffffffffffffffffffffffffffffffffffff0", "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709",
    ]

    static func scriptCommand(_ g: inout DiffGenerator) -> DiffCommand {
        switch g.rng.below(12) {
        case 0..<4:
            // A new body (remembered for EVALSHA with keys and arguments of its own), or one already run.
            if !g.scripts.isEmpty && g.rng.oneIn(4) { return [b("SCRIPT"), g.word("LOAD"), g.rng.pick(g.scripts).body] }
            return [b("SCRIPT"), g.word("LOAD"), g.newScript().body]
        case 4..<7: return [b("SCRIPT"), g.word("EXISTS")] + (0..<g.rng.between(1, 3)).map { _ in g.scriptSHA() }
        case 7: return [b("SCRIPT"), g.word("FLUSH")] + (g.rng.oneIn(2) ? [g.word(g.rng.pick(["SYNC", "ASYNC", "LAZY", ""]))] : [])
        case 8: return [b("SCRIPT"), g.word("KILL")]
        case 9: return [b("SCRIPT"), g.word("HELP")]
        case 10: return [b("SCRIPT"), g.word("DEBUG"), g.word(g.rng.pick(["NO", "NO", "maybe", ""]))]
        default: return g.rng.pick([[b("SCRIPT")], [b("SCRIPT"), b("NOSUCH")], [b("SCRIPT"), g.word("EXISTS")], [b("SCRIPT"), g.word("LOAD")]])
        }
    }

    static let libraryNames = ["lib1", "lib1", "lib1", "lib2", "lib2", "lib3", "Lib1"]
    static let functionNames = ["f1", "f1", "f1", "f2", "f2", "f3", "g1", "F1"]

    static func fcallCommand(_ g: inout DiffGenerator) -> DiffCommand {
        let name = g.rng.oneIn(15) ? b(g.rng.pick(["nosuch", "", "lib1"])) : b(g.rng.pick(functionNames))
        let keys = (0..<g.rng.pick([0, 1, 1, 1, 2])).map { _ in g.key() }
        let args = (0..<g.rng.pick([0, 1, 2, 3])).map { _ in g.shortValue() }
        return [b(g.rng.oneIn(4) ? "FCALL_RO" : "FCALL"), name, g.numkeys(keys.count, args.count)] + keys + args
    }

    static func functionCommand(_ g: inout DiffGenerator) -> DiffCommand {
        switch g.rng.below(16) {
        case 0, 1: return [b("FUNCTION"), g.word("DELETE"), b(g.rng.oneIn(8) ? "nosuch" : g.rng.pick(libraryNames))]
        case 2: return [b("FUNCTION"), g.word("FLUSH")] + (g.rng.oneIn(2) ? [g.word(g.rng.pick(["SYNC", "ASYNC", "x"]))] : [])
        case 3..<7:
            var c = [b("FUNCTION"), g.word("LIST")]
            for _ in 0..<g.rng.pick([0, 1, 1, 2]) {
                switch g.rng.below(5) {
                case 0, 1: c += [g.word("LIBRARYNAME"), b(g.rng.pick(["lib1", "lib*", "*", "LIB1", "nosuch", "lib[12]", ""]))]
                case 2, 3: c.append(g.word("WITHCODE"))
                default: c.append(b(g.rng.pick(["LIBRARYNAME", "FOO"])))
                }
            }
            return c
        case 7, 8: return [b("FUNCTION"), g.word("STATS")]
        case 9: return [b("FUNCTION"), g.word("DUMP")]
        case 10..<13:
            let policy = g.rng.oneIn(2) ? [] : [g.word(g.rng.pick(["FLUSH", "APPEND", "REPLACE", "REPLACE", "MERGE"]))]
            return [b("FUNCTION"), g.word("RESTORE"), g.functionPayload()] + policy
        case 13: return [b("FUNCTION"), g.word("KILL")]
        case 14: return [b("FUNCTION"), g.word("HELP")]
        default: return g.rng.pick([[b("FUNCTION")], [b("FUNCTION"), b("NOSUCH")], [b("FUNCTION"), g.word("LOAD")],
                                    [b("FUNCTION"), g.word("DELETE")], [b("FUNCTION"), g.word("STATS"), b("x")]])
        }
    }
}

/// An EVAL body this sequence has used, with the keys and arguments (numkeys first) it was sent with.
struct GeneratedScript {
    let body: [UInt8]
    let arguments: [[UInt8]]
}

extension DiffGenerator {
    /// A new EVAL body (shebang now and then), remembered for EVALSHA and SCRIPT EXISTS.
    mutating func newScript() -> GeneratedScript {
        var s = LuaScript(.eval)
        luaBody(&s)
        let shebang = rng.oneIn(7) ? Array(rng.pick(DiffFamilies.shebangs).utf8) : []
        let script = GeneratedScript(body: shebang + s.body, arguments: [numkeys(s.keys.count, s.args.count)] + s.keys + s.args)
        scripts.append(script)
        return script
    }

    mutating func evalCommand(_ name: String) -> DiffCommand {
        let script = newScript()
        return [b(name), script.body] + script.arguments
    }

    /// EVALSHA(_RO): of a known body (with its own arguments or others), or of an unknown or malformed SHA.
    mutating func evalshaCommand() -> DiffCommand {
        let name = b(rng.oneIn(4) ? "EVALSHA_RO" : "EVALSHA")
        if !scripts.isEmpty && !rng.oneIn(5) {
            let script = rng.pick(scripts)
            let arguments = rng.oneIn(4) ? [b(String(rng.below(2)))] + keys(0, 1) : script.arguments
            return [name, scriptSHA(of: script.body)] + arguments
        }
        return [name, b(rng.pick(DiffFamilies.unknownSHAs)), b("0")]
    }

    /// A SHA for SCRIPT EXISTS: of a known body, sometimes upper-cased, or an unknown one.
    mutating func scriptSHA() -> [UInt8] {
        if !scripts.isEmpty && !rng.oneIn(3) { return scriptSHA(of: rng.pick(scripts).body) }
        return b(rng.pick(DiffFamilies.unknownSHAs))
    }

    mutating func scriptSHA(of body: [UInt8]) -> [UInt8] {
        let sha = b(SHA1.hex(SHA1.hash(body).bytes))
        return rng.oneIn(6) ? sha.map { $0 >= 97 && $0 <= 122 ? $0 - 32 : $0 } : sha
    }

    /// numkeys for `keys` keys followed by `args` arguments; now and then negative, too large or no number.
    mutating func numkeys(_ keys: Int, _ args: Int) -> [UInt8] {
        guard rng.oneIn(12) else { return b(String(keys)) }
        return b(rng.pick(["-1", "x", "", " 1", "1.5", "9223372036854775808", "-9223372036854775809", String(keys + args + 1)]))
    }

    // MARK: - Libraries

    /// A library's code: its metadata line and one to three registrations (or a broken variant of either).
    mutating func libraryCode() -> [UInt8] {
        var lines = [libraryHeader()]
        var names: [String] = []
        if rng.oneIn(8) {
            let line = rng.pick(["local function helper() return 1 end", "redis.call('SET', 'k1', 'v')", "error('load failed')",
                                 "x = 1", "return 1", "redis.setresp(3)", "local t = KEYS", "redis.log(redis.LOG_WARNING, 'loading')",
                                 "retrun", "redis.register_function('f1', function() return 'first' end)"])
            if line.contains("'f1'") { names.append("f1") }
            lines.append(line)
        }
        for _ in 0..<rng.pick([0, 1, 1, 1, 1, 2, 2, 3]) { lines.append(registration(&names)) }
        return b(lines.joined(separator: "\n"))
    }

    mutating func libraryHeader() -> String {
        let name = rng.pick(DiffFamilies.libraryNames)
        guard rng.oneIn(10) else { return "#!lua name=\(name)" }
        return rng.pick(["", "#!lua", "#!lua name=", "#!lua name=bad-name", "#!python name=\(name)", "#!LUA name=\(name)",
                         "#!lua name=\(name) foo=bar", "#!lua name=\(name) name=lib2", "#!lua  name=\(name)", "#!lua name=\"\(name)\"",
                         "#! name=\(name)", "-- #!lua name=\(name)", "#!lua name=\(name)\r", "#!lua name=\(name)\u{0}"])
    }

    /// redis.register_function by name or by table: a function from the grammar, flags, a description, or
    /// a bad argument. Never two names of one library that differ only in case (`names`, those so far):
    /// redis-server keeps both in the library, but FCALL finds the one that comes first in a hash table whose
    /// order varies from process to process.
    mutating func registration(_ names: inout [String]) -> String {
        var name = rng.oneIn(12) ? rng.pick(["bad-name", "", "f 1", "1f"]) : rng.pick(DiffFamilies.functionNames)
        name = names.first { $0.lowercased() == name.lowercased() } ?? name
        names.append(name)
        var s = LuaScript(.function)
        luaBody(&s)
        let function = "function(keys, args)\n" + s.lines.joined(separator: "\n") + "\nend"
        switch rng.below(10) {
        case 0..<5: return "redis.register_function('\(name)', \(function))"
        case 5..<9:
            var fields = ["function_name='\(name)'", "callback=" + function]
            if rng.oneIn(2) {
                fields.append("flags=" + rng.pick(["{'no-writes'}", "{'no-writes'}", "{'allow-oom', 'no-writes'}", "{}", "{'allow-stale'}",
                                                    "{'no-cluster', 'allow-cross-slot-keys'}", "{'bogus'}", "'no-writes'", "{1}"]))
            }
            if rng.oneIn(3) { fields.append("description=" + rng.pick(["'a function'", "''", "'with\\nnewline'", "1", "{}"])) }
            if rng.oneIn(12) { fields.append("bogus=1") }
            fields.shuffle(using: &rng)
            return "redis.register_function{" + fields.joined(separator: ", ") + "}"
        default:
            return rng.pick(["redis.register_function('\(name)')", "redis.register_function('\(name)', 1)", "redis.register_function()",
                             "redis.register_function{function_name='\(name)'}", "redis.register_function{callback=function() return 1 end}",
                             "redis.register_function('\(name)', function() return 1 end, 'extra')",
                             "redis.register_function{'\(name)', function() return 1 end}"])
        }
    }

    /// A FUNCTION RESTORE payload as FUNCTION DUMP writes one (Redis's rdbSaveFunctions and createDumpPayload):
    /// per library RDB_OPCODE_FUNCTION2 and its code as an RDB string, then RDB version 10 and a CRC64. Now and
    /// then a library in the record of 7.0's release candidates (name, engine and description before code
    /// without its metadata line), a record cut short or of another type under a valid checksum, or a payload
    /// corrupted after it (a byte flipped, cut short, a zero checksum, another RDB version), or empty.
    mutating func functionPayload() -> [UInt8] {
        var payload: [UInt8] = []
        for _ in 0..<rng.pick([0, 1, 1, 1, 2]) {
            let code = libraryCode()
            if rng.oneIn(10) {
                let body = Array(code.split(separator: 10, maxSplits: 1, omittingEmptySubsequences: false).last ?? [])
                payload.append(0xF6)
                payload += rdbString(b(rng.pick(DiffFamilies.libraryNames + ["bad-name", ""])))
                payload += rdbString(b(rng.pick(["LUA", "lua", "x"])))
                payload += rng.oneIn(2) ? [0] : [1] + rdbString(b("a description"))
                payload += rdbString(body)
            } else {
                payload += [0xF5] + rdbString(code)
            }
        }
        switch rng.below(20) {
        case 0: payload += [0xF5] + rdbLength(100) + b("cut short")
        case 1: payload += [rng.pick([0x00, 0xF6, 0xFF])]
        default: break
        }
        payload += [rng.oneIn(20) ? rng.pick([9, 12, 255]) : 10, 0]
        let crc = payload.withUnsafeBytes { CRC64.update(0, $0) }
        payload += withUnsafeBytes(of: crc.littleEndian) { Array($0) }
        switch rng.below(16) {
        case 0: payload[rng.below(payload.count)] ^= 0x20
        case 1: payload.removeLast(rng.between(1, payload.count))
        case 2: payload.replaceSubrange((payload.count - 8)..., with: [UInt8](repeating: 0, count: 8))
        case 3: payload = rng.pick([[], b("x"), [0xF5]])
        default: break
        }
        return payload
    }

    private func rdbString(_ bytes: [UInt8]) -> [UInt8] { rdbLength(bytes.count) + bytes }

    private func rdbLength(_ n: Int) -> [UInt8] {
        if n < 64 { return [UInt8(n)] }
        if n < 16384 { return [0x40 | UInt8(n >> 8), UInt8(n & 0xff)] }
        return [0x80] + withUnsafeBytes(of: UInt32(n).bigEndian) { Array($0) }
    }
}

fileprivate func b(_ s: String) -> [UInt8] { Array(s.utf8) }
