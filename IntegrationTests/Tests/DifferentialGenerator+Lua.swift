import TestSupport

/// The Lua scripts of the "scripting" family (DifferentialGenerator+Scripting.swift): a small grammar of
/// script bodies, each a few statements ending in a `return` (or in an error), drawn with edge-biased choices:
///
/// - literals: strings (binary, empty, escaped every way), integers and floats that Lua turns into integer
///   replies (3.99, -3.99, 1e300, -0, 1/0, 0/0), booleans and nil, arrays with holes, and the reply tables
///   {ok=}, {err=}, {double=}, {map=}, {set=}, {big_number=}, {verbatim_string=};
/// - redis.call / redis.pcall of the data families' own commands (strings, keys, expiry, hashes, sets, lists,
///   sorted sets: `scriptableCommand`), with KEYS/ARGV references, Lua numbers and inline literals as
///   arguments, one to three calls a script, and the pcall forms that hand the error table to the script;
/// - redis.setresp(3) before calls that answer maps, sets, doubles and nulls;
/// - what goes wrong: wrong arity, unknown and `noscript` commands, arguments of the wrong Lua type,
///   redis.error_reply/status_reply, error() with strings, numbers, nil and {err=} tables, runtime errors,
///   compile errors, reading undefined globals and writing globals or library tables;
/// - the libraries: cjson, cmsgpack, bit, struct, string.format, tonumber/tostring, table and string
///   functions, redis.sha1hex/log/acl_check_cmd/set_repl and friends.
///
/// Left out on purpose: math.random (its sequence is per Lua state, and states are made at different times),
/// os.clock, redis.REDIS_VERSION(_NUM) (needletail says 7.2.4), collectgarbage('count') and other memory
/// numbers, tostring of tables and functions and anything else that prints an address, and `error()` of a
/// table without an `err` field, which crashes redis-server 7.0.15 (a NULL dereference in its error handler).
///
/// Replies of the data commands called from scripts come back in the server's own order, with no
/// normalizer: commands whose reply depends on time, randomness or a hash table's order are not called.
///
/// Values reach a script through KEYS and ARGV (EVAL) or `keys` and `args` (a library function): `LuaScript`
/// collects them as the text is written, so binary values and 70 KB strings stay out of the source. A
/// function's keys and arguments come with FCALL, not with its code, so its bodies take values inline.
struct LuaScript {
    enum Mode { case eval, function }
    let mode: Mode
    var keys: [[UInt8]] = []
    var args: [[UInt8]] = []
    var lines: [String] = []

    init(_ mode: Mode) { self.mode = mode }

    var keysName: String { mode == .eval ? "KEYS" : "keys" }
    var argsName: String { mode == .eval ? "ARGV" : "args" }
    var body: [UInt8] { Array(lines.joined(separator: "\n").utf8) }

    /// A reference to `value` passed as the next key.
    mutating func key(_ value: [UInt8]) -> String {
        keys.append(value)
        return "\(keysName)[\(keys.count)]"
    }

    /// A reference to `value` passed as the next argument.
    mutating func arg(_ value: [UInt8]) -> String {
        args.append(value)
        return "\(argsName)[\(args.count)]"
    }
}

extension DiffGenerator {
    /// A script body into `s`: one of the grammar's kinds.
    mutating func luaBody(_ s: inout LuaScript) {
        switch rng.below(100) {
        case 0..<14: s.lines.append("return " + luaLiteral(&s, depth: 2))
        case 14..<36: luaCalls(&s)
        case 36..<42: luaResp3Calls(&s)
        case 42..<47: luaCallErrors(&s)
        case 47..<51: luaReplyHelpers(&s)
        case 51..<55: luaRaise(&s)
        case 55..<59: s.lines.append(rng.pick(Self.luaRuntimeErrors))
        case 59..<62: s.lines.append(rng.pick(Self.luaCompileErrors))
        case 62..<66: luaGlobals(&s)
        case 66..<72: luaJSON(&s)
        case 72..<77: luaMsgpack(&s)
        case 77..<80: luaBit(&s)
        case 80..<84: luaStruct(&s)
        case 84..<88: luaFormat(&s)
        case 88..<92: luaNumbers(&s)
        default: luaMisc(&s)
        }
    }

    // MARK: - Literals

    static let luaIntegers = ["0", "1", "-1", "2", "42", "-42", "2147483647", "2147483648", "4294967296",
                              "9007199254740992", "9007199254740993", "1e15", "2^53", "2^63", "-2^63", "0x7fffffff",
                              "0xff", "1e18", "123456789012"]
    static let luaFloats = ["3.99", "-3.99", "0.5", "-0.5", "1e300", "-1e300", "1e-300", "0", "-0", "0.0", "-0.0", "1/0",
                            "-1/0", "0/0", "2.5e-10", "123456789.987654321", "1.5", "-1.5", "0.1"]

    mutating func luaNumber() -> String { rng.oneIn(2) ? rng.pick(Self.luaIntegers) : rng.pick(Self.luaFloats) }

    /// A value for a literal: the shared pool, at most 64 bytes (long values go through ARGV).
    mutating func shortValue() -> [UInt8] {
        let v = value()
        return v.count <= 64 ? v : Array(v.prefix(rng.pick([0, 1, 64])))
    }

    /// `bytes` as a Lua string literal, quoted and escaped one of several ways.
    mutating func luaString(_ bytes: [UInt8]) -> String {
        let quote: UInt8 = rng.oneIn(2) ? 39 : 34  // ' or "
        var out = String(UnicodeScalar(quote))
        for (i, c) in bytes.enumerated() {
            let digitNext = i + 1 < bytes.count && bytes[i + 1] >= 48 && bytes[i + 1] <= 57
            switch c {
            case 92: out += "\\\\"
            case quote: out += "\\" + String(UnicodeScalar(quote))
            case 10: out += rng.oneIn(2) ? "\\n" : "\\010"
            case 13: out += "\\r"
            case 32...126: out.append(Character(UnicodeScalar(c)))
            default:
                // \ddd: the short form only where no digit follows (it would be read as part of the escape).
                let d = String(c)
                out += "\\" + (digitNext || rng.oneIn(2) ? String(repeating: "0", count: 3 - d.count) : "") + d
            }
        }
        return out + String(UnicodeScalar(quote))
    }

    /// A literal expression: a scalar, or (with `depth` left) a table of the kinds a script may return.
    mutating func luaLiteral(_ s: inout LuaScript, depth: Int) -> String {
        switch rng.below(depth > 0 ? 24 : 12) {
        case 0..<3: return luaString(shortValue())
        case 3..<5: return rng.pick(Self.luaIntegers)
        case 5..<7: return rng.pick(Self.luaFloats)
        case 7: return rng.pick(["true", "false", "nil"])
        case 8, 9: return luaValue(value(), &s)
        case 10: return luaString(rng.pick([[], [0], [0xff, 0xfe, 0x00, 0x80], Array("a\r\nb".utf8)]))
        case 11: return rng.pick(["true", "false"])
        case 12..<16: return luaArray(&s, depth: depth)
        case 16: return "{ok=" + luaStatusText(&s) + "}"
        case 17: return "{err=" + luaStatusText(&s) + "}"
        case 18: return "{double=" + (rng.oneIn(6) ? luaString(Array(rng.pick(["3.5", "x", "", "1e400"]).utf8)) : luaNumber()) + "}"
        case 19: return "{big_number=" + rng.pick(["'12345678901234567890'", "'-1'", "''", "'abc'", "123", "'1\\r\\n2'"]) + "}"
        case 20: return luaVerbatim(&s)
        case 21: return "{map={" + luaEntries(&s, depth: depth, set: false) + "}}"
        case 22: return "{set={" + luaEntries(&s, depth: depth, set: true) + "}}"
        default: return rng.pick(["{ok='a', err='b'}", "{map=1}", "{set='x'}", "{double=nil}", "{err={}}", "{ok={}}",
                                  "{1, err='E x'}", "{{err='E nested'}, 2}", "{{ok='fine'}, {double=1.5}}"])
        }
    }

    /// A string for {ok=}, {err=}, error_reply and status_reply: error codes, spaces, CRLF (redis-server
    /// replies them as spaces), NUL (it cuts there), an empty one, or (unless `literal`) an argument.
    mutating func luaStatusText(_ s: inout LuaScript, literal: Bool = false) -> String {
        if !literal && rng.oneIn(5) { return luaValue(shortValue(), &s) }
        return luaString(Array(rng.pick(["My Error", "ERR custom", "-ERR dash", "", "a\r\nb", "WRONGTYPE x", "x", "OK",
                                         "ERR", " ", "E\u{0}x", "NOSCRIPT fake", "\r\nX\r\n"]).utf8))
    }

    /// `value` as a KEYS/ARGV reference (inline when writing a library function, or now and then).
    mutating func luaValue(_ value: [UInt8], _ s: inout LuaScript) -> String {
        if s.mode == .function || rng.oneIn(4) { return luaString(value.count <= 64 ? value : Array(value.prefix(64))) }
        return s.arg(value)
    }

    /// An array: elements with holes (nil, or explicit indexes past a gap), nested tables.
    mutating func luaArray(_ s: inout LuaScript, depth: Int) -> String {
        let n = rng.pick([0, 1, 2, 3, 5])
        var items: [String] = []
        for _ in 0..<n { items.append(rng.oneIn(6) ? "nil" : luaLiteral(&s, depth: depth - 1)) }
        switch rng.below(6) {
        case 0: items.append("[\(n + rng.pick([1, 2, 5]))]=" + luaLiteral(&s, depth: 0))  // a hole before it
        case 1: items.append("x=" + luaLiteral(&s, depth: 0))  // a field, not an element
        default: break
        }
        return "{" + items.joined(separator: ", ") + "}"
    }

    /// Entries of a {map=} or {set=} table: string, integer and float keys.
    mutating func luaEntries(_ s: inout LuaScript, depth: Int, set: Bool) -> String {
        var items: [String] = []
        for _ in 0..<rng.pick([0, 1, 2, 3]) {
            let key: String
            switch rng.below(4) {
            case 0: key = "[" + rng.pick(["1", "2", "-1", "1.5", "0"]) + "]"
            // Under 32 bytes: Debian's Lua 5.1 hashes longer strings by sampling, Redis's bundled Lua (what
            // redis-server 7.0.15 runs) hashes every byte, so the two iterate tables with such keys in
            // different orders (README, Scripting: a difference of the interpreter the issue chose).
            case 1: key = "[" + luaString(Array(shortValue().prefix(31))) + "]"
            default: key = rng.pick(["a", "b", "field", "x"])
            }
            items.append(key + "=" + (set ? rng.pick(["true", "true", "false", "1"]) : luaLiteral(&s, depth: depth - 1)))
        }
        return items.joined(separator: ", ")
    }

    mutating func luaVerbatim(_ s: inout LuaScript) -> String {
        let format = rng.pick(["format='txt', ", "format='txt', ", "format='mkd', ", "format='tx', ", "format='toolong', ", ""])
        let string = rng.oneIn(8) ? "" : "string=" + luaValue(shortValue(), &s)
        return "{verbatim_string={" + format + string + "}}"
    }

    // MARK: - redis.call and redis.pcall

    /// Commands whose replies depend on time, randomness or a hash table's order (the runner allows for them
    /// when they are sent themselves, but cannot inside a script's reply), and DEBUG.
    static let unscriptable: Set<String> = [
        "ttl", "pttl", "expiretime", "pexpiretime", "randomkey", "keys", "scan", "sscan", "hscan", "zscan", "smembers",
        "sinter", "sunion", "sdiff", "spop", "srandmember", "hrandfield", "zrandmember", "hgetall", "hkeys", "hvals",
        "object", "memory", "debug", "sort", "sort_ro", "dbsize",
    ]

    /// The data families whose commands scripts call.
    static let scriptableSpecs: [DiffCommandSpec] = [
        DiffFamilies.strings, DiffFamilies.keys, DiffFamilies.expiry, DiffFamilies.hashes, DiffFamilies.sets,
        DiffFamilies.lists, DiffFamilies.sortedSets,
    ].flatMap(\.commands)
    static let scriptableWeight = scriptableSpecs.reduce(0) { $0 + $1.weight }

    /// A command of the data families with a deterministic reply (see `unscriptable`).
    mutating func scriptableCommand() -> DiffCommand {
        while true {
            var r = rng.below(Self.scriptableWeight)
            var spec = Self.scriptableSpecs[0]
            for candidate in Self.scriptableSpecs {
                if r < candidate.weight { spec = candidate; break }
                r -= candidate.weight
            }
            let cmd = spec.make(&self)
            if !Self.unscriptable.contains(String(decoding: cmd[0].map(diffLower), as: UTF8.self)) { return cmd }
        }
    }

    /// The Lua argument list of `cmd`: its name as a literal, its first argument mostly a key, the others
    /// ARGV references, inline literals, or Lua numbers (which redis.call turns back into text its own way:
    /// 3.99 becomes "3.9900000000000002").
    mutating func luaArguments(_ cmd: DiffCommand, _ s: inout LuaScript) -> String {
        var out = [luaString(rng.oneIn(4) ? mixedCase(cmd[0]) : cmd[0])]
        for (i, a) in cmd.enumerated().dropFirst() {
            if i == 1 && !rng.oneIn(5) {
                out.append(s.mode == .function && !rng.oneIn(4) ? luaString(a) : s.key(a))
            } else if rng.oneIn(5), let number = luaNumberLiteral(a) {
                out.append(number)
            } else {
                out.append(luaValue(a, &s))
            }
        }
        return out.joined(separator: ", ")
    }

    /// `text` as a Lua number literal when it reads as a plain decimal number, else nil.
    func luaNumberLiteral(_ text: [UInt8]) -> String? {
        guard !text.isEmpty, text.count < 24,
              text.allSatisfy({ ($0 >= 48 && $0 <= 57) || $0 == 46 || $0 == 45 || $0 == 101 }),
              let d = Double(String(decoding: text, as: UTF8.self)), d.isFinite else { return nil }
        return String(decoding: text, as: UTF8.self)
    }

    /// One to three calls, in one of the forms scripts use: plain calls, pcall with the error table returned
    /// or inspected, results gathered in a table, the type of a result.
    mutating func luaCalls(_ s: inout LuaScript) {
        let calls = (0..<rng.pick([1, 1, 1, 2, 3])).map { _ in luaArguments(scriptableCommand(), &s) }
        let first = calls.dropLast()
        let last = calls.last!
        switch rng.below(9) {
        case 0, 1, 2:
            s.lines += first.map { "redis.call(\($0))" }
            s.lines.append("return redis.call(\(last))")
        case 3:
            s.lines += first.map { "redis.pcall(\($0))" }
            s.lines.append("return redis.pcall(\(last))")
        case 4:
            s.lines += first.map { "redis.pcall(\($0))" }
            s.lines.append("local ok = redis.pcall(\(last)) return ok")
        case 5:
            s.lines.append("local r = redis.pcall(\(last))")
            s.lines.append("if type(r) == 'table' and r.err then return 'failed: ' .. r.err end return r")
        case 6:
            s.lines.append("return {" + calls.map { "redis.pcall(\($0))" }.joined(separator: ", ") + "}")
        case 7:
            s.lines.append("local v = redis.pcall(\(last)) return {type(v), v}")
        default:
            s.lines.append("local t = {} " + calls.map { "t[#t + 1] = redis.pcall(\($0)) " }.joined() + "return #t")
        }
    }

    /// redis.setresp(3), then calls whose RESP3 replies become Lua tables ({map=}, {set=}, {double=}) or nil
    /// and go back to the client in its own protocol; or redis.setresp with bad arguments.
    mutating func luaResp3Calls(_ s: inout LuaScript) {
        if rng.oneIn(8) {
            s.lines.append("redis.setresp(" + rng.pick(["1", "4", "", "'3'", "2, 3", "nil", "2"]) + ")")
            s.lines.append("return redis.call('GET', \(s.key(key())))")
            return
        }
        s.lines.append("redis.setresp(3)")
        let k = s.key(key())
        switch rng.below(9) {
        case 0:
            s.lines.append("redis.call('DEL', \(k)) redis.call('HSET', \(k), \(luaValue(hashField(), &s)), \(luaValue(hashValue(), &s)))")
            s.lines.append("return redis.call('HGETALL', \(k))")
        case 1:
            s.lines.append("redis.call('DEL', \(k)) redis.call('SADD', \(k), \(luaValue(setMember(), &s)))")
            s.lines.append("return redis.call('SMEMBERS', \(k))")
        case 2:
            s.lines.append("redis.pcall('ZADD', \(k), \(luaValue(score(), &s)), \(luaValue(member(), &s)))")
            s.lines.append("return redis.pcall('ZRANGE', \(k), 0, -1, 'WITHSCORES')")
        case 3: s.lines.append("return redis.pcall('ZSCORE', \(k), \(luaValue(member(), &s)))")
        case 4: s.lines.append("return redis.pcall('ZMSCORE', \(k), \(luaValue(member(), &s)), 'nosuch')")
        case 5: s.lines.append("local v = redis.pcall('ZINCRBY', \(k), \(luaValue(score(), &s)), 'm') return {type(v), v}")
        case 6: s.lines.append("local v = redis.call('GET', \(k)) return {v == nil, v == false, type(v)}")
        case 7: s.lines.append("return redis.pcall('HGET', \(k), 'f')")
        default: s.lines.append("return redis.pcall(\(luaArguments(scriptableCommand(), &s)))")
        }
    }

    /// Calls that fail: wrong arity, unknown and `noscript` commands, arguments that are no strings.
    mutating func luaCallErrors(_ s: inout LuaScript) {
        let call = rng.oneIn(2) ? "redis.call" : "redis.pcall"
        let k = s.key(key())
        let args: String
        switch rng.below(4) {
        case 0: args = rng.pick(["'GET'", "'SET', \(k)", "'HSET', \(k), 'f'", "'ZADD', \(k)", "'NOSUCH', \(k)", "''",
                                 "'GET', \(k), 'x'", "'OBJECT'", "'CONFIG'", "'GET '"])
        case 1: args = rng.pick(["'SUBSCRIBE', 'c'", "'PSUBSCRIBE', 'c*'", "'MULTI'", "'EXEC'", "'DISCARD'", "'WATCH', \(k)",
                                 "'EVAL', 'return 1', '0'", "'EVALSHA', 'abc', '0'", "'SCRIPT', 'FLUSH'", "'SCRIPT', 'LOAD', 'return 1'",
                                 "'FUNCTION', 'FLUSH'", "'FCALL', 'f1', '0'", "'HELLO', '3'", "'RESET'", "'AUTH', 'x'",
                                 "'CONFIG', 'SET', 'maxmemory', '0'", "'SAVE'", "'CLIENT', 'ID'", "'MONITOR'", "'UNWATCH'"])
        case 2: args = rng.pick(["", "nil", "{}", "'GET', {}", "'GET', nil", "'GET', true", "'SET', \(k), {1}", "1",
                                 "'GET', \(s.keysName)[9]", "'SET', \(k), 1.5", "'SET', \(k), -0", "'SET', \(k), 1/0"])
        default: args = "'GET', \(k)" + String(repeating: ", 'x'", count: rng.pick([0, 1, 2]))
        }
        s.lines.append(rng.oneIn(4) ? "return {\(call)(\(args))}" : "return \(call)(\(args))")
    }

    /// redis.error_reply and redis.status_reply, well and badly used.
    mutating func luaReplyHelpers(_ s: inout LuaScript) {
        switch rng.below(6) {
        case 0, 1: s.lines.append("return redis.error_reply(" + luaStatusText(&s) + ")")
        case 2, 3: s.lines.append("return redis.status_reply(" + luaStatusText(&s) + ")")
        case 4: s.lines.append("return {redis.status_reply('a'), redis.error_reply('b'), " + luaLiteral(&s, depth: 0) + "}")
        default:
            s.lines.append(rng.pick(["return redis.error_reply()", "return redis.status_reply({})", "return redis.error_reply(1)",
                                     "local e = redis.error_reply('x') return e.err", "return redis.error_reply('a', 'b')",
                                     "return redis.error_reply(redis.error_reply('x'))", "return redis.status_reply(nil)",
                                     "local e = redis.status_reply('st') return {e.ok, type(e)}"]))
        }
    }

    /// error() and assert(), with strings, levels, numbers, nil and {err=} tables, also caught by pcall.
    mutating func luaRaise(_ s: inout LuaScript) {
        switch rng.below(4) {
        case 0: s.lines.append("error(" + luaStatusText(&s) + ")")
        // A literal: an argument missing (numkeys mangled) would raise a table without `err`, which crashes
        // redis-server 7.0.15.
        case 1: s.lines.append("error({err=" + luaStatusText(&s, literal: true) + "})")
        case 2: s.lines.append(rng.pick(["error('x', 0)", "error('x', 2)", "error(42)", "error(nil)", "error()", "error('')",
                                         "error(redis.error_reply('boo'))", "assert(false)", "assert(false, 'assertion')",
                                         "assert(nil, {err='E from assert'})", "assert(1 == 2, 42)", "error(3.99)"]))
        default: s.lines.append(rng.pick(["local ok, e = pcall(error, {err='E x'}) return e", "return pcall(error, 'x')",
                                          "return {pcall(error, 'x')}", "return {pcall(error, 'x', 0)}",
                                          "local ok, e = pcall(redis.call, 'NOSUCH') return {ok, e}",
                                          "local ok, e = pcall(redis.call, 'NOSUCH') return e",
                                          "return {xpcall(function() error('x') end, function(e) return 'handled: ' .. e end)}",
                                          "local ok, e = pcall(function() return nil + 1 end) return e"]))
        }
    }

    static let luaRuntimeErrors = [
        "return nil + 1", "local t = nil return t.x", "return #nil", "return ('x')()", "return 'a' < 1", "return {} .. 'x'",
        "return math.floor('x')", "return string.rep()", "local a = {} return a.b.c", "return 1 + {}", "return -{}",
        "return ARGV[1] + 1", "return ('abc'):bad()", "local t = setmetatable({}, {__index = function(t, k) return k .. '!' end}) return t.x",
        "local function f(n) return 1 + f(n + 1) end return f(1)",  // (not a tail call: that would loop for ever)
        "local t = setmetatable({}, {__index = function(t, k) return t[k] end}) return t.x", "return string.sub()", "return table.concat({1, {}, 3})",
        "return #5", "return (1)[1]", "for i = 1, 'x' do end",
        // Errors of the functions the sandbox wraps, named and placed as the originals' are.
        "table.insert(nil, 1)", "table.insert({}, 1, 2, 3)", "table.insert({}, 'x', 2)", "table.sort({1, 2}, 3)",
        "table.sort({1, 2}, function(a, b)\nerror('in the comparison') end)", "table.remove(nil)", "table.remove({}, 'x')",
        "table.setn({}, 1)", "setmetatable(1, {})", "setmetatable({}, 1)", "return table.remove(string)",
        "table.insert(string, 1)", "local t = setmetatable({}, {__metatable = 1}) setmetatable(t, {})", "setmetatable(string, {})",
        "return {pcall(table.insert, nil, 1)}", "table.foreach({1}, error)", "table.sort({1, 2}, function(a, b)\nreturn redis.call('nosuch') end)",
    ]

    static let luaCompileErrors = [
        "return (", "retrun 1", "return 'unterminated", "end", "return 1 +", "local = 1", "return {1, 2",
        "if true then return 1", "return \"a\nb\"", "x ==", "return 08x", "goto x", "return [[", "\u{0}", "return 1 end",
        "return 5 // 2", "return 1\nreturn 2", "", " ", "-- only a comment", "return --[[ a comment ]] 1",
        "return 'a' .. ", "local function() end", "return ...", "return #...", "return [==[a [[ b]==]",
        // Not `[[a [[ b]]`: Debian's Lua is built with LUA_COMPAT_LSTR 1 and refuses the nesting, Redis's
        // bundled Lua accepts it (README, Scripting).
    ]

    // MARK: - Globals

    static let luaGlobalNames = ["x", "undefined_global", "os", "io", "require", "loadfile", "dofile", "debug", "package",
                                 "module", "newproxy", "setfenv", "getfenv", "print", "loadstring", "gcinfo", "_VERSION",
                                 "coroutine", "unpack", "select", "rawget", "cjson", "bit", "struct", "cmsgpack", "KEYS",
                                 "ARGV", "keys", "math", "string", "table", "redis", "_G", "__redis__err__handler"]

    /// Reading globals that are there or not, and writing globals, library tables and metatables: Redis's
    /// sandbox refuses to create globals and makes its libraries read-only.
    mutating func luaGlobals(_ s: inout LuaScript) {
        let name = rng.pick(Self.luaGlobalNames)
        switch rng.below(5) {
        case 0: s.lines.append("return type(\(name))")
        case 1: s.lines.append(rng.pick(["return \(name)", "return _G.\(name) == nil", "return rawget(_G, '\(name)') == nil",
                                         "return type(_G['\(name)'])"]))
        default:
            s.lines.append(rng.pick([
                "x = 1 return x", "function f() return 1 end return f()", "_G.x = 1 return 1", "redis = nil return 1",
                "redis.call = nil return 1", "cjson.encode = nil return 1", "string.upper = nil return 1", "KEYS = {} return 1",
                "ARGV[1] = 'changed' return ARGV[1]", "KEYS[1] = 'changed' return KEYS", "setmetatable(_G, nil) return 1",
                "rawset(_G, 'y', 1) return y", "string.x = 1 return string.x", "table.insert = nil return 1", "math.pi = 3 return 1",
                "bit.band = nil return 1", "struct.pack = nil return 1", "cmsgpack.pack = nil return 1", "_G = {} return 1",
                "local x = 1 return x", "local t = setmetatable({}, {}) t.a = 1 return t.a", "getmetatable('').__index.upper = nil return 1",
                "local mt = getmetatable(_G) return type(mt)", "redis.x = 1 return redis.x", "local s = string s.y = 1 return 1",
                "\(name) = \(name) return 1", "local t = {} t.x = 1 return t.x", "cjson.null = 1 return 1",
            ]))
        }
    }

    // MARK: - Libraries

    static let jsonTexts = [
        "[1,2,3]", "{\"a\":1,\"b\":[true,false,null]}", "\"str\\u00e9\\n\"", "1e400", "-0", "[1.5,-0.0,1e-7,123456789012345678901]",
        "null", "true", "[", "{\"a\":}", "", "   ", "[1,2,3,]", "{\"a\":1,\"a\":2}", "\"\\ud800\"", "[[[[[[[[[[1]]]]]]]]]]",
        String(repeating: "[", count: 1001) + String(repeating: "]", count: 1001), "{\"\":\"\"}", "[0x10]", "NaN", "Infinity",
        "[-]", "\"unterminated", "123abc", "{\"a\":[{\"b\":{\"c\":[1,{\"d\":2}]}}]}", "[\"a\\u0000b\"]", "[1e308, 1e-308, 5e-324]",
        "{\"x\":{\"y\":[]}}", "[\"\\/\\b\\f\\r\\t\"]", "0.1", "[9007199254740993]",
    ]

    mutating func jsonText(_ s: inout LuaScript) -> String { luaValue(Array(rng.pick(Self.jsonTexts).utf8), &s) }

    /// cjson: encoding literals (sparse arrays, nesting, NaN, keys of every type), decoding and round trips.
    mutating func luaJSON(_ s: inout LuaScript) {
        switch rng.below(6) {
        case 0: s.lines.append("return cjson.encode(" + luaLiteral(&s, depth: 2) + ")")
        case 1: s.lines.append("return cjson.decode(" + jsonText(&s) + ")")
        case 2: s.lines.append("return cjson.encode(cjson.decode(" + jsonText(&s) + "))")
        case 3: s.lines.append("local t = cjson.decode(" + jsonText(&s) + ") if type(t) == 'table' then return {#t, t[1], t.a} end return t")
        case 4: s.lines.append("return cjson.encode(" + s.keysName + ")")
        default:
            s.lines.append(rng.pick([
                "return cjson.decode('null') == cjson.null", "return cjson.encode({cjson.null, 1})", "local t = {} t[1] = t return cjson.encode(t)",
                "return cjson.encode(function() end)", "return cjson.encode({a=1/0})", "return cjson.encode(0/0)", "return cjson.encode(1e300)",
                "return cjson.encode(0.1)", "return cjson.encode(-0)", "return cjson.encode('a\"b\\0\\127\\255/')", "return cjson.encode({[1.5]=1})",
                "return cjson.encode({[true]=1})", "return cjson.encode({1, 2, [4]=4})", "return cjson.encode({[1]=1, [11]=11})",
                "return cjson.encode({a={b={c={}}}})", "return cjson.encode()", "return cjson.decode()", "return cjson.decode(1)",
                "return cjson.encode(123456789012345678)", "return cjson.encode({[1]='a', x='b'})", "return cjson.encode(2^53)",
            ]))
        }
    }

    static let msgpackSamples: [[UInt8]] = [
        [0x93, 1, 2, 3], [0x81, 0xa1, 0x61, 0x01], [0xc0], [0xc2], [0xc3], [0xca, 0x40, 0x49, 0x0f, 0xdb],
        [0xcb, 0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18], [0xd9, 3, 0x61, 0x62, 0x63], [0xdc, 0, 2, 1, 2], [0x93, 1],
        [0xc1], [0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], [0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0], [0xff], [],
        [0xd4, 1, 0], [0x01, 0x02, 0x03], [0xa0], [0x90], [0x80], [0xda, 0, 1, 0x78], [0xdf, 0, 0, 0, 1, 0xa1, 0x6b, 0xc0],
    ]

    /// cmsgpack: packing literals (binary replies, size boundaries, nesting), unpacking samples and bytes.
    mutating func luaMsgpack(_ s: inout LuaScript) {
        switch rng.below(6) {
        case 0: s.lines.append("return cmsgpack.pack(" + luaLiteral(&s, depth: 2) + ")")
        case 1: s.lines.append("return cmsgpack.unpack(cmsgpack.pack(" + luaLiteral(&s, depth: 2) + "))")
        case 2: s.lines.append("return {cmsgpack.unpack(cmsgpack.pack(" + luaLiteral(&s, depth: 1) + ", " + luaLiteral(&s, depth: 1) + "))}")
        case 3:
            let bytes = rng.oneIn(3) ? (0..<rng.below(12)).map { _ in UInt8(truncatingIfNeeded: rng.next()) } : rng.pick(Self.msgpackSamples)
            let data = luaValue(bytes, &s)
            s.lines.append(rng.pick(["return {cmsgpack.unpack(\(data))}", "return {cmsgpack.unpack_one(\(data), \(rng.pick(["0", "1", "-1", "100"])))}",
                                     "return {cmsgpack.unpack_limit(\(data), \(rng.pick(["0", "1", "2", "-1"])), \(rng.pick(["0", "1", "-1"])))}"]))
        case 4:
            let n = rng.pick([15, 16, 31, 32, 255, 256, 65535, 65536])
            s.lines.append(rng.pick(["return cmsgpack.pack(string.rep('x', \(n)))",
                                     "local t = {} for i = 1, \(n) do t[i] = i end return #cmsgpack.pack(t)",
                                     "local t = {} for i = 1, \(min(n, 300)) do t['k' .. i] = i end return #cmsgpack.pack(t)"]))
        default:
            s.lines.append(rng.pick([
                "return cmsgpack.pack()", "local t = {} t[1] = t return cmsgpack.pack(t)", "return cmsgpack.pack(1/0, 0/0, -0, 1.5, 2^32, -2^31 - 1, 2^64)",
                "return cmsgpack.unpack()", "return cmsgpack.pack({1, nil, 3})", "return cmsgpack.pack({a=1, [1]=2})",
                "return {cmsgpack.unpack(cmsgpack.pack(-1, -32, -33, -128, -129, -32768, -32769, 127, 128, 255, 256, 65535, 65536))}",
                "return cmsgpack.pack(function() end)", "return cmsgpack.pack(true, false, nil)",
            ]))
        }
    }

    static let bitNumbers = ["0", "1", "-1", "0xff", "0x7fffffff", "0x80000000", "0xffffffff", "2^32", "2^32 + 1", "2^52", "1.5",
                             "-1.5", "0.5", "2^53", "1e300", "31", "32", "33", "'0x10'", "'7'"]

    /// The bit library (LuaBitOp): 32-bit results of edge operands and shift counts, and its errors.
    mutating func luaBit(_ s: inout LuaScript) {
        switch rng.below(4) {
        case 0, 1:
            let op = rng.pick(["band", "bor", "bxor", "lshift", "rshift", "arshift", "rol", "ror"])
            s.lines.append("return bit.\(op)(\(rng.pick(Self.bitNumbers)), \(rng.pick(Self.bitNumbers)))")
        case 2: s.lines.append("return bit.\(rng.pick(["bnot", "bswap", "tobit"]))(\(rng.pick(Self.bitNumbers)))")
        default:
            s.lines.append(rng.pick(["return bit.tohex(\(rng.pick(Self.bitNumbers)))",
                                     "return bit.tohex(\(rng.pick(Self.bitNumbers)), \(rng.pick(["-8", "8", "2", "0", "-1", "9"])))",
                                     "return bit.band('x', 1)", "return bit.bor()", "return bit.band(1, 3, 5, 7)",
                                     // INT32_MIN digits: a buffer overflow in LuaBitOp before Redis's fix (CVE-2024-31449).
                                     "return bit.tohex(65535, -2147483648)", "return bit.tohex(1, 2^31)", "return bit.tohex('x')"]))
        }
    }

    static let structCases: [(format: String, values: [String])] = [
        (">I2", ["258"]), ("<I2", ["258"]), ("<i4", ["-1"]), (">i4", ["2147483648"]), ("b", ["-128"]), ("B", ["255"]), ("B", ["256"]),
        ("h", ["-32769"]), ("H", ["65535"]), ("l", ["-1"]), ("L", ["2^53"]), (">i8", ["-2^53"]), ("I3", ["16777215"]), ("f", ["3.99"]),
        ("d", ["-3.99"]), ("d", ["1/0"]), ("s", ["'abc'"]), ("c5", ["'ab'"]), ("c0", ["'hello'"]), ("x b x", ["1"]),
        ("!4 b i4", ["1", "2"]), (">!2 h b d", ["1", "2", "3.5"]), ("i4", ["'12'"]), ("i4", ["'x'"]), ("i17", ["1"]), ("Y", ["1"]),
        ("i4", []), ("c", ["'x'"]), ("<!1 i2", ["7"]), ("i0", ["1"]), ("bbbb", ["1", "2", "3", "4"]), ("s", ["'a\\0b'"]),
    ]

    /// struct.pack, unpack and size: formats with alignment, sizes and signedness at their limits, and errors.
    mutating func luaStruct(_ s: inout LuaScript) {
        let (format, values) = rng.pick(Self.structCases)
        let f = luaString(Array(format.utf8))
        let packed = "struct.pack(\(([f] + values).joined(separator: ", ")))"
        switch rng.below(5) {
        case 0: s.lines.append("return \(packed)")
        case 1, 2: s.lines.append("return {struct.unpack(\(f), \(packed))}")
        case 3: s.lines.append("return struct.size(\(f))")
        default:
            let data = luaValue((0..<rng.below(10)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }, &s)
            s.lines.append("return {struct.unpack(\(f), \(data)\(rng.pick(["", "", ", 1", ", 0", ", -1", ", 100"])))}")
        }
    }

    static let formatCases: [(format: String, values: [String])] = [
        ("%d", ["3.7"]), ("%d", ["-0"]), ("%d", ["2^63"]), ("%d", ["-3.99"]), ("%5.2f", ["3.14159"]), ("%x", ["255"]), ("%X", ["-1"]),
        ("%o", ["8"]), ("%e", ["1e300"]), ("%g", ["0.1"]), ("%.20g", ["0.1"]), ("%s", ["nil"]), ("%s", ["{}"]),
        ("%q", ["'a\\0b\\n\"\\r'"]), ("%c", ["65"]), ("%10s|%-10s|", ["'a'", "'b'"]), ("%%", []), ("%i", ["42"]), ("%5.1s", ["'abc'"]),
        ("%", []), ("%y", ["1"]), ("%d", ["'x'"]), ("%d", ["'12'"]), ("%d", []), ("%s %s", ["1"]), ("%.99f", ["1"]), ("%099d", ["1"]),
        ("%s", ["1e300"]), ("%s", ["0/0"]), ("%s", ["-0"]), ("%.3f", ["1/0"]), ("%5s", ["true"]), ("%s", ["2^63"]), ("%.14g", ["0.1"]),
        ("%a", ["1"]), ("%-+ #0d", ["5"]), ("%s", ["'\\0'"]), ("%g", ["1e15"]), ("%g", ["123456789"]),
    ]

    mutating func luaFormat(_ s: inout LuaScript) {
        if rng.oneIn(5) {
            s.lines.append("return string.format('\(rng.pick(["%d", "%s", "%q", "%5.3f", "%x"]))', \(luaValue(value(), &s)))")
            return
        }
        let (format, values) = rng.pick(Self.formatCases)
        s.lines.append("return string.format(" + ([luaString(Array(format.utf8))] + values).joined(separator: ", ") + ")")
    }

    static let numberTexts = ["0x10", "  12  ", "1e", "1e5", "inf", "nan", "-0", "0x", "1.5e", "", "12abc", "9007199254740993",
                              "1e400", "-1e400", ".5", "5.", "0b101", "\u{0}1", "1\u{0}", " \t\n12", "0X1p4", "-inf", "  ",
                              "3.99", "-3.99", "1e300", "0.1", "123456789012345678901234567890"]

    /// tonumber and tostring of edge numbers, number replies (truncated to integers), string coercion.
    mutating func luaNumbers(_ s: inout LuaScript) {
        let text = luaValue(Array(rng.pick(Self.numberTexts).utf8), &s)
        switch rng.below(6) {
        case 0: s.lines.append("return tostring(\(luaNumber()))")
        case 1: s.lines.append("return tostring(tonumber(\(text)))")
        case 2: s.lines.append("return tonumber(\(text))")
        case 3: s.lines.append("return tostring(tonumber(\(text), \(rng.pick(["2", "16", "36", "10", "1", "37", "8"]))))")
        case 4: s.lines.append("return \(luaNumber())")
        default:
            s.lines.append(rng.pick([
                "return tostring(2^63)", "return math.floor(-3.5)", "return math.huge", "return -math.huge", "return tostring(math.huge)",
                "return 2^53 + 1", "return tostring(1/3)", "return 7 % -3", "return -7 % 3", "return tostring(0/0)", "return tostring(-(0/0))",
                "return math.fmod(7, 0)", "return math.max(1, 'x')", "return tostring(1e15)", "return tostring(1e16)",
                "return tostring(123456789012345678)", "return tostring(-0.0)", "return '10' + 5", "return '0x10' + 0", "return ' 5 ' * 2",
                "return '1e1' + 0", "return 'x' + 0", "return {1.5, 2.5, -2.5, 0.9999999999}", "return tostring(3) .. tostring(3.0)",
                "return 1e308 * 10", "return tostring(5 % 0)", "return math.sqrt(-1)", "return tostring(2^-1074)", "return 10 / 4",
            ]))
        }
    }

    /// The rest of what scripts use: KEYS and ARGV, the redis helpers, table and string functions, loops,
    /// closures and pcall, coroutines.
    mutating func luaMisc(_ s: inout LuaScript) {
        let v = luaValue(value(), &s)
        switch rng.below(3) {
        case 0:
            s.lines.append(rng.pick([
                "return {\(s.keysName), \(s.argsName)}", "return {#\(s.keysName), #\(s.argsName)}", "return \(s.argsName)",
                "return redis.sha1hex(\(v))", "return string.len(\(v))", "return string.upper(\(v))", "return {string.byte(\(v), 1, -1)}",
                "return string.sub(\(v), \(rng.pick(["1", "2", "-1", "0", "-100"])), \(rng.pick(["1", "-1", "3", "100", "0"])))",
                "return string.reverse(\(v))", "return table.concat({\(v), \(v)}, ',')", "return #\(v)", "return \(v) .. \(v)",
                "return string.rep(\(v), \(rng.pick(["0", "1", "3", "-1"])))", "return {string.find(\(v), 'a')}",
                "return string.gsub(\(v), '%d', '#')", "return {string.match(\(v), '(%d+)')}", "return string.lower(\(v))",
            ]))
        case 1:
            s.lines.append(rng.pick([
                "return redis.sha1hex()", "redis.log(redis.LOG_WARNING, 'from a script') return 1", "redis.log(99, 'x') return 1",
                "redis.log(redis.LOG_DEBUG) return 1", "return redis.LOG_NOTICE", "return redis.breakpoint()", "redis.debug('x') return 1",
                "return redis.replicate_commands()", "redis.set_repl(redis.REPL_ALL) return 1", "redis.set_repl(99) return 1",
                "return {redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL}",
                "return redis.acl_check_cmd('get', 'x')", "return redis.acl_check_cmd('nosuch')", "return redis.acl_check_cmd()",
                "return redis.acl_check_cmd('set', 'k', 'v')", "return {redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING}",
                "return redis.set_repl()", "redis.set_repl(redis.REPL_NONE) return redis.call('SET', 'k1', 'v')",
                "return type(redis.setresp)", "return redis.call == redis.pcall", "return type(redis)", "return tostring(nil)",
                "return tostring(true)", "return redis.status_reply == nil",
            ]))
        default:
            s.lines.append(rng.pick([
                "local t = {3, 1, 2} table.sort(t) return t", "table.sort({3, 'a'}) return 1", "return table.getn({1, 2, 3})",
                "return select('#', 1, nil, 3)", "return {unpack({1, 2, 3})}", "return string.char(72, 105)", "return string.char(256)",
                "return {string.find('hello', 'l+')}", "return string.gsub('hello', 'l', 'L')", "return {string.match('key:123', '(%a+):(%d+)')}",
                "return math.floor(3.7)", "return math.max(1, 5, 3)", "local s = 0 for i = 1, 100 do s = s + i end return s",
                "local t = {} for i = 1, 10 do t[#t + 1] = i * i end return t", "return (function(...) return select('#', ...) end)(1, 2, 3)",
                "return {pcall(function() error('x') end)}", "return {pcall(redis.call, 'NOSUCH')}",
                "local co = coroutine.create(function() coroutine.yield(1) end) return {coroutine.resume(co)}",
                "return getmetatable('').__index == string", "return next({})", "return {next({7})}", "return #{1, 2, nil, 4}",
                "local t = {} t[1] = 1 t[2] = 2 t[4] = 4 return #t", "return table.remove({1, 2, 3})", "local t = {1, 2} table.insert(t, 1, 0) return t",
                "return string.format('%s', string.rep('ab', 3))", "return {math.modf(3.7)}", "return {string.byte('', 1)}",
                "return loadstring('return 1')()", "return type(loadstring)", "return tostring(tonumber('12'))",
                // Ranges whose signed count overflows: a stack overflow in Lua 5.1 before Redis's fix (CVE-2025-46817).
                "return {unpack({}, -2147483648, 2147483647)}", "return {unpack({}, 1, 2147483647)}", "return {unpack({1, 2, 3}, -1, 2)}",
                "return {unpack({1, 2, 3}, 2)}", "return {unpack(nil)}",
            ]))
        }
    }
}
