import CScripting

/// A script's result as the caller's reply (Redis's luaReplyToRedisReply): strings are bulk strings,
/// numbers integers (truncated as C's cast truncates), booleans 1/null (or RESP3 booleans once the script
/// called redis.setresp(3)), tables with `err`/`ok`/`double`/`big_number`/`verbatim_string`/`map`/`set`
/// the matching reply types, other tables arrays up to their first nil. Fields are read raw, so a table's
/// metamethods never run here. Consumes the value on top of the Lua stack.
struct LuaReply {
    let lua: OpaquePointer
    let reply: ReplyWriter
    /// The script client's protocol (redis.setresp): decides how booleans are converted.
    let scriptResp3: Bool
    /// The script's command (EVAL, FCALL, ...): an error relayed without being counted again is its failure.
    let command: Command?

    /// A table being written: its elements are pushed above it one at a time, each written before the next.
    private enum OpenTable {
        /// An array: the next index to push, up to `count` (the table is on top of the Lua stack).
        case array(next: Int32, count: Int32)
        /// `{map = inner}` (outer, inner, then the last key on the stack): the key and the value of each entry;
        /// `valueOnStack` once the key's copy was written and the value lies on top.
        case map(valueOnStack: Bool)
        /// `{set = inner}` (outer, inner, last key): each key.
        case set
    }

    /// Writes the value on top of the Lua stack, and pops it.
    ///
    /// Nested tables are written with a list of the open ones instead of recursion: a script can return
    /// tables nested (or cyclic) as deep as Lua's stack allows, about 8,000 levels, where the check below
    /// answers "reached lua stack limit" as Redis does; recursing that deep would overflow the native stack
    /// (a debug build's frames are ~2 KB a level).
    func write() {
        var open: [OpenTable] = []
        while true {
            if let table = writeTop() { open.append(table) }
            // The next value to write: the next element of the innermost open table, closing finished ones.
            while let last = open.indices.last, !pushNext(&open[last]) { open.removeLast() }
            if open.isEmpty { return }
        }
    }

    /// Writes the value on top, a scalar or a special table, and pops it; or writes an aggregate's header and
    /// returns it open, its elements to follow.
    private func writeTop() -> OpenTable? {
        // As Redis: room for the four values a map entry needs, or an error reply instead of the value.
        guard nt_lua_checkstack(lua, 4) != 0 else {
            reply.error("ERR reached lua stack limit")
            nt_lua_pop(lua, 1)
            return nil
        }
        switch nt_lua_type(lua, -1) {
        case NT_LUA_TSTRING:
            var length = 0
            let chars = nt_lua_tolstring(lua, -1, &length)
            reply.bulk(UnsafeRawBufferPointer(start: chars, count: length))
        case NT_LUA_TBOOLEAN:
            let value = nt_lua_toboolean(lua, -1) != 0
            if scriptResp3 { reply.bool(value) } else if value { reply.integer(1) } else { reply.null() }
        case NT_LUA_TNUMBER:
            reply.integer(truncatedInteger(nt_lua_tonumber(lua, -1)))
        case NT_LUA_TTABLE:
            if let table = writeTable() { return table }
        default:
            reply.null()
        }
        nt_lua_pop(lua, 1)
        return nil
    }

    /// Pushes the next element of `table` to write and returns true; or, when it has no more, pops what it
    /// kept on the stack (the table, and for a map or set the inner table and the last key) and returns false.
    private func pushNext(_ table: inout OpenTable) -> Bool {
        switch table {
        case .array(let next, let count):
            guard next <= count else {
                nt_lua_pop(lua, 1)
                return false
            }
            nt_lua_rawgeti(lua, -1, next)
            table = .array(next: next + 1, count: count)
            return true
        case .map(let valueOnStack):
            if valueOnStack {  // [outer, inner, key, value]
                table = .map(valueOnStack: false)
                return true
            }
            guard nt_lua_next(lua, -2) != 0 else {  // [outer, inner]
                nt_lua_pop(lua, 2)
                return false
            }
            nt_lua_pushvalue(lua, -2)  // [outer, inner, key, value, key]: the copy is written, the key kept
            table = .map(valueOnStack: true)
            return true
        case .set:
            guard nt_lua_next(lua, -2) != 0 else {  // [outer, inner]
                nt_lua_pop(lua, 2)
                return false
            }
            nt_lua_pop(lua, 1)         // [outer, inner, key]
            nt_lua_pushvalue(lua, -1)  // [outer, inner, key, key]
            return true
        }
    }

    /// The table on top: a special table is written (the table stays for the caller to pop) and nil returned;
    /// a map, set or array gets its header, and is returned open with what its elements need pushed.
    private func writeTable() -> OpenTable? {
        if field("err", NT_LUA_TSTRING) {
            let message = formattedErrorText(string(at: -1), trimsEnd: true)
            nt_lua_pop(lua, 1)
            nt_lua_rawget_field(lua, -1, "ignore_error_stats_update")
            let counted = !(nt_lua_type(lua, -1) == NT_LUA_TBOOLEAN && nt_lua_toboolean(lua, -1) != 0)
            nt_lua_pop(lua, 1)
            reply.error(bytes: message, counted: counted)
            if !counted { command?.failedCalls += 1 }  // Redis's afterErrorReply with NO_STATS_UPDATE
            return nil
        }
        if field("ok", NT_LUA_TSTRING) {
            // Redis copies it as a C string (up to a NUL) and maps CR/LF to spaces.
            let text = string(at: -1).prefix(while: { $0 != 0 }).map { $0 == 13 || $0 == 10 ? 32 : $0 }
            nt_lua_pop(lua, 1)
            reply.buffer.append(UInt8(ascii: "+"))
            text.withUnsafeBytes { reply.buffer.append($0) }
            reply.buffer.append("\r\n")
            return nil
        }
        if field("double", NT_LUA_TNUMBER) {
            reply.double(nt_lua_tonumber(lua, -1))
            nt_lua_pop(lua, 1)
            return nil
        }
        if field("big_number", NT_LUA_TSTRING) {
            let digits = string(at: -1).map { $0 == 13 || $0 == 10 ? 32 : $0 }
            nt_lua_pop(lua, 1)
            digits.withUnsafeBytes { reply.bigNumber($0) }
            return nil
        }
        if field("verbatim_string", NT_LUA_TTABLE) {
            let written = writeVerbatim()
            nt_lua_pop(lua, 1)
            if written { return nil }
        }
        if field("map", NT_LUA_TTABLE) {
            reply.map(count(-1))
            nt_lua_pushnil(lua)
            return .map(valueOnStack: false)
        }
        if field("set", NT_LUA_TTABLE) {
            reply.set(count(-1))
            nt_lua_pushnil(lua)
            return .set
        }
        var length: Int32 = 0
        while true {
            nt_lua_rawgeti(lua, -1, length + 1)
            let isNil = nt_lua_type(lua, -1) == NT_LUA_TNIL
            nt_lua_pop(lua, 1)
            if isNil { break }
            length += 1
        }
        reply.array(Int(length))
        return .array(next: 1, count: length)
    }

    /// {verbatim_string = {format = 'txt', string = '...'}} with the inner table on top; false if malformed.
    private func writeVerbatim() -> Bool {
        guard field("format", NT_LUA_TSTRING) else { return false }
        let format = string(at: -1).prefix(while: { $0 != 0 })
        nt_lua_pop(lua, 1)
        guard field("string", NT_LUA_TSTRING) else { return false }
        let text = string(at: -1)
        nt_lua_pop(lua, 1)
        // Redis copies three bytes of the format, whatever its length, padding a shorter one with spaces.
        var three = Array(format.prefix(3))
        while three.count < 3 { three.append(32) }
        text.withUnsafeBytes { t in three.withUnsafeBytes { reply.verbatim(bytes: t, format: $0) } }
        return true
    }

    /// Pushes the table's raw field `name` and returns whether it has `type`; pops it if not.
    private func field(_ name: String, _ type: Int32) -> Bool {
        nt_lua_rawget_field(lua, -1, name)
        if nt_lua_type(lua, -1) == type { return true }
        nt_lua_pop(lua, 1)
        return false
    }

    private func string(at index: Int32) -> [UInt8] {
        var length = 0
        guard let chars = nt_lua_tolstring(lua, index, &length) else { return [] }
        return Array(UnsafeRawBufferPointer(start: chars, count: length))
    }

    /// The number of entries of the table at `index` (lua_next over it).
    private func count(_ index: Int32) -> Int {
        var n = 0
        nt_lua_pushnil(lua)
        while nt_lua_next(lua, index - 1) != 0 {
            nt_lua_pop(lua, 1)
            n += 1
        }
        return n
    }
}

/// C's (long long) cast of a double as x86-64 performs it: out of range and NaN give INT64_MIN (Swift's
/// conversion would trap).
func truncatedInteger(_ value: Double) -> Int64 {
    guard value >= -9_223_372_036_854_775_808.0 && value < 9_223_372_036_854_775_808.0 else { return Int64.min }
    return Int64(value)
}
