import CScripting
import Glibc

/// Lua scripting (Redis's eval.c, script.c and script_lua.c): one Lua 5.1 state with Redis's environment
/// (Sources/CScripting), the script cache, and the run of one script at a time.
///
/// A script runs on the event loop, atomically: its `redis.call`s go through the command table and `call`
/// on the engine's internal client, with the checks of Redis's scriptCall (arity, `noscript`, read-only
/// runs, -MISCONF) instead of processCommand's, so they are counted, monitored and propagated as any
/// command; the script's writes propagate as its effects (wrapped in MULTI/EXEC by `call` when there are
/// several), never as EVAL. A script still running after `busy-reply-threshold` ms makes the server
/// answer other clients between Lua instructions (`-BUSY`, except SCRIPT KILL, FUNCTION KILL/STATS and
/// SHUTDOWN NOSAVE), with the caller protected from reads until the script ends.
final class ScriptEngine {
    unowned(unsafe) let server: Server
    /// EVAL's Lua state; replaced by SCRIPT FLUSH.
    private(set) var lua: OpaquePointer
    /// FUNCTION's Lua state (a state of its own, as in Redis); replaced by FUNCTION FLUSH.
    var functionsLua: OpaquePointer
    /// FUNCTION libraries by name, and their functions by `functionKey` (one namespace across libraries, where
    /// case does not count, as in Redis's dict of functions; within a library it does).
    var libraries: [String: FunctionLibrary] = [:]
    var functions: [String: LuaFunction] = [:]
    /// The library whose code FUNCTION LOAD is running (redis.register_function adds to it).
    var loadingLibrary: FunctionLibrary?
    /// The client redis.call runs commands on (Redis's lua_client).
    let client: Client
    /// EVAL scripts by SHA1 (lowercase hex): body and shebang flags (Redis's lua_scripts).
    private(set) var scripts = HashTable<Script>()
    /// Bytes of the cached bodies (INFO `used_memory_scripts_eval`).
    private(set) var scriptsMemory = 0
    /// The script running now.
    private(set) var running: ScriptRun?
    private var runsSinceGC = 0
    /// The callbacks' table must outlive the Lua state: C keeps a pointer to it.
    private let callbacks: UnsafeMutablePointer<nt_lua_callbacks>
    /// Where a redis.call error message is handed to C (it copies it at once).
    fileprivate var errorScratch: [UInt8] = []

    final class Script {
        /// Its SHA1 in lowercase hex (the name errors give it).
        let sha: String
        let body: [UInt8]
        let flags: ScriptFlags
        /// Where the compiled function sits in the Lua registry ("f_<sha>", as Redis names it).
        var functionName = ""

        init(sha: String, body: [UInt8], flags: ScriptFlags) {
            self.sha = sha
            self.body = body
            self.flags = flags
        }
    }

    init(server: Server) {
        self.server = server
        client = server.makeInternalClient()
        client.authenticated = true
        callbacks = .allocate(capacity: 1)
        callbacks.initialize(to: nt_lua_callbacks(
            call: scriptCall, log: scriptLog, setresp: scriptSetResp, set_repl: scriptSetRepl,
            sha1hex: scriptSHA1Hex, acl_check_cmd: scriptACLCheck, interrupt: scriptInterrupt,
            register_function: scriptRegisterFunction))
        lua = OpaquePointer(bitPattern: 1)!  // replaced below, once self can be passed as the context
        functionsLua = lua
        lua = openState(mode: NT_LUA_EVAL)
        functionsLua = openState(mode: NT_LUA_FUNCTIONS)
    }

    deinit {
        nt_lua_close(lua)
        nt_lua_close(functionsLua)
        callbacks.deinitialize(count: 1)
        callbacks.deallocate()
    }

    func openState(mode: Int32) -> OpaquePointer {
        let context = Unmanaged.passUnretained(self).toOpaque()
        guard let state = nt_lua_open(callbacks, context, redisVersion, redisVersionNumber, mode) else {
            fatalError("Lua could not allocate its state")
        }
        return state
    }

    /// SCRIPT FLUSH: a new Lua state without the cached scripts.
    func flush() {
        nt_lua_close(lua)
        lua = openState(mode: NT_LUA_EVAL)
        scripts = HashTable<Script>()
        scriptsMemory = 0
    }

    /// INFO `used_memory_lua` (EVAL's state) and `used_memory_vm_functions`.
    var luaMemory: Int { Int(nt_lua_memory(lua)) }
    var functionsMemory: Int { Int(nt_lua_memory(functionsLua)) }

    // MARK: - The cache

    /// Compiles and caches a script (SCRIPT LOAD, EVAL of a new body); returns its SHA1, or the error text.
    func load(_ body: [UInt8]) -> Result<Script, ScriptError> {
        let sha = SHA1.hex(SHA1.hash(body).bytes)
        if let cached = script(sha: Array(sha.utf8)) { return .success(cached) }
        let shebang: Shebang
        switch Shebang.parse(body) {
        case .failure(let error): return .failure(error)
        case .success(let parsed): shebang = parsed
        }
        // The shebang line is skipped, its newline kept, so line numbers stay those of the body.
        let status = body.withUnsafeBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: max(buffer.count, 1)) { chars in
                nt_lua_load(lua, chars + shebang.length, buffer.count - shebang.length, "@user_script")
            }
        }
        if status != 0 {
            let message = luaString(lua, at: -1) ?? []
            nt_lua_pop(lua, 1)
            return .failure(ScriptError(Array("ERR Error compiling script (new function): ".utf8) + message))
        }
        nt_lua_registry_set(lua, "f_" + sha)
        nt_lua_pop(lua, 1)
        let script = Script(sha: sha, body: body, flags: shebang.flags)
        script.functionName = "f_" + sha
        _ = scripts.updateValue(script, forKey: ByteString(Array(sha.utf8)))
        scriptsMemory += body.count
        return .success(script)
    }

    /// The cached script with this SHA1, in either case (EVALSHA, SCRIPT EXISTS); nil unless 40 bytes.
    func script(sha raw: UnsafeRawBufferPointer) -> Script? {
        guard raw.count == 40 else { return nil }
        var folded: (UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0)
        return withUnsafeMutableBytes(of: &folded) { buffer in
            for i in 0..<40 { buffer[i] = asciiLower(raw[i]) }
            return scripts.find(UnsafeRawBufferPointer(buffer))
        }
    }

    func script(sha: [UInt8]) -> Script? { sha.withUnsafeBytes { script(sha: $0) } }

    var cachedScriptCount: Int { scripts.count }

    // MARK: - Running

    /// Runs cached script `sha` for `caller` (EVAL, EVALSHA and their _RO forms), replying to it.
    func eval(_ caller: Client, script: Script, keys: Range<Int>, arguments: Range<Int>, readOnly: Bool) {
        guard prepare(caller, flags: script.flags, readOnly: readOnly) else { return }
        let run = ScriptRun(caller: caller, name: script.sha, isEval: true,
                            readOnly: readOnly || (!script.flags.contains(.evalCompatible) && script.flags.contains(.noWrites)),
                            allowOOM: !script.flags.contains(.evalCompatible) && script.flags.contains(.allowOOM))
        _ = nt_lua_registry_get(lua, script.functionName)
        withArguments(caller, keys) { nt_lua_set_global_array(lua, "KEYS", $0, $1, $2) }
        withArguments(caller, arguments) { nt_lua_set_global_array(lua, "ARGV", $0, $1, $2) }
        execute(run, in: lua, argumentCount: 0)
    }

    /// Runs `function` for `caller` (FCALL, FCALL_RO): keys and arguments are its two arguments.
    func fcall(_ caller: Client, function: LuaFunction, keys: Range<Int>, arguments: Range<Int>, readOnly: Bool) {
        guard prepare(caller, flags: function.flags, readOnly: readOnly) else { return }
        let run = ScriptRun(caller: caller, name: function.name, isEval: false,
                            readOnly: readOnly || function.flags.contains(.noWrites),
                            allowOOM: function.flags.contains(.allowOOM))
        nt_lua_push_ref(functionsLua, function.ref)
        withArguments(caller, keys) { nt_lua_push_array(functionsLua, $0, $1, $2) }
        withArguments(caller, arguments) { nt_lua_push_array(functionsLua, $0, $1, $2) }
        execute(run, in: functionsLua, argumentCount: 2)
    }

    /// The flags a script command's script declares (Redis's evalGetCommandFlags / fcallGetCommandFlags):
    /// EVAL's body (cached, or its shebang), EVALSHA's cached script, FCALL's function; nil for other
    /// commands, an unknown script or function, or a body whose shebang does not parse.
    func declaredFlags(_ client: Client, _ command: Command) -> ScriptFlags? {
        guard client.argc >= 2 else { return nil }
        switch command.name {
        case "eval", "eval_ro":
            let body = Array(client.arg(1))
            if let cached = script(sha: Array(SHA1.hex(SHA1.hash(body).bytes).utf8)) { return cached.flags }
            if case .success(let shebang) = Shebang.parse(body) { return shebang.flags }
            return nil
        case "evalsha", "evalsha_ro":
            return script(sha: client.arg(1))?.flags
        case "fcall", "fcall_ro":
            return functions[functionKey(client.argString(1))]?.flags
        default:
            return nil
        }
    }

    /// Redis's scriptPrepareForRun checks for scripts with a shebang; false after replying the refusal.
    private func prepare(_ caller: Client, flags: ScriptFlags, readOnly: Bool) -> Bool {
        guard !flags.contains(.evalCompatible) else { return true }
        if flags.contains(.noWrites) { return true }  // no-writes implies allow-oom
        if !prepareWrites(caller, readOnly: readOnly) { return false }
        if server.preCommandOOMState && server.eviction.limit > 0 && !flags.contains(.allowOOM) {
            caller.reply.error("OOM allow-oom flag is not set on the script, can not run it when used memory > 'maxmemory'")
            return false
        }
        return true
    }

    /// The checks of a script that may write.
    private func prepareWrites(_ caller: Client, readOnly: Bool) -> Bool {
        if let error = server.rdb.diskErrorReply {
            let aofPrefix = "MISCONF Errors writing to the AOF file: "
            if error.hasPrefix(aofPrefix) {
                caller.reply.error("MISCONF Redis is configured to persist data to AOF, but it's currently unable to persist to disk. Writable scripts are blocked. Use 'no-writes' flag for read only scripts. AOF error: " + error.dropFirst(aofPrefix.count))
            } else {
                caller.reply.error("MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Writable scripts are blocked. Use 'no-writes' flag for read only scripts.")
            }
            return false
        }
        if readOnly {
            caller.reply.error("ERR Can not execute a script with write flag using *_ro command.")
            return false
        }
        return true
    }

    /// Runs the function on `lua`'s stack (with `argumentCount` arguments above it) as `run`, and replies.
    private func execute(_ run: ScriptRun, in lua: OpaquePointer, argumentCount: Int32) {
        let caller = run.caller
        client.select(caller.db)
        client.protocolVersion = 2
        client.executingTransaction = true  // commands of a script never block
        running = run
        let pendingBefore = server.pendingPropagationCount
        let status = nt_lua_run(lua, argumentCount, server.config.busyReplyThreshold > 0 ? 1 : 0)
        runsSinceGC += 1
        if runsSinceGC == 50 {  // Redis's LUA_GC_CYCLE_PERIOD: small steps instead of a full cycle's latency
            nt_lua_gc_step(lua, 50)
            runsSinceGC = 0
        }
        if run.endedByShutdown {
            // Redis exits inside SHUTDOWN NOSAVE, in the middle of the script: the caller gets no reply, runs
            // nothing it pipelined, and the script's writes so far are not propagated (so not in the AOF).
            nt_lua_pop(lua, 1)
            server.dropPendingPropagation(from: pendingBefore)
            caller.closeAfterReply = true
        } else if status != 0 {
            replyError(lua, to: caller, run: run)
            nt_lua_pop(lua, 1)
        } else {
            LuaReply(lua: lua, reply: caller.reply, scriptResp3: client.protocolVersion == 3, command: run.command).write()
        }
        nt_lua_pop(lua, 1)  // the error handler, left below the result as Redis converts it
        running = nil
        if run.timedOut { server.scriptTimedOut(run) }
        caller.propagation.prevent = true  // the script's commands were propagated, not EVAL itself
    }

    /// The caller's arguments in `range` as C arrays (pointers into its query buffer, valid for the call).
    private func withArguments(_ caller: Client, _ range: Range<Int>,
                               _ body: (UnsafePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>, Int32) -> Void) {
        let empty: StaticString = ""
        withUnsafeTemporaryAllocation(of: UnsafePointer<CChar>?.self, capacity: max(range.count, 1)) { strings in
            withUnsafeTemporaryAllocation(of: Int.self, capacity: max(range.count, 1)) { lengths in
                for (j, i) in range.enumerated() {
                    let bytes = caller.arg(i)
                    strings[j] = bytes.baseAddress.map { $0.assumingMemoryBound(to: CChar.self) }
                        ?? UnsafeRawPointer(empty.utf8Start).assumingMemoryBound(to: CChar.self)
                    lengths[j] = bytes.count
                }
                body(UnsafePointer(strings.baseAddress!), UnsafePointer(lengths.baseAddress!), Int32(range.count))
            }
        }
    }

    /// A failed run: Redis's "<error> script: <name>, on <source>:<line>." from the error table.
    private func replyError(_ lua: OpaquePointer, to caller: Client, run: ScriptRun) {
        guard nt_lua_type(lua, -1) == NT_LUA_TTABLE else {
            let message = luaString(lua, at: -1).map { Array(cString($0).prefix(100)) } ?? Array("execution failure".utf8)
            caller.reply.error(bytes: Array("ERR Error running script \(run.name), ".utf8) + message)
            return
        }
        // Redis formats the three with %s: each ends at a NUL.
        let error = luaField(lua, -1, "err") ?? []
        let source = luaField(lua, -1, "source").map(cString)
        let line = luaField(lua, -1, "line").map(cString)
        nt_lua_rawget_field(lua, -1, "ignore_error_stats_update")
        let alreadyCounted = nt_lua_type(lua, -1) == NT_LUA_TBOOLEAN && nt_lua_toboolean(lua, -1) != 0
        nt_lua_pop(lua, 1)
        var message = formattedErrorText(error, trimsEnd: source == nil || line == nil)
        if let source, let line {
            message += Array(" script: \(run.name), on ".utf8) + source + [UInt8(ascii: ":")] + line + [UInt8(ascii: ".")]
        }
        caller.reply.error(bytes: message, counted: !alreadyCounted)
        // As Redis's afterErrorReply with ERR_REPLY_FLAG_NO_STATS_UPDATE: the error is the script command's
        // failure all the same.
        if alreadyCounted { run.command?.failedCalls += 1 }
    }

    /// The string (or number, as Lua formats it) at `index`, nil for other types.
    func luaString(_ lua: OpaquePointer, at index: Int32) -> [UInt8]? {
        let type = nt_lua_type(lua, index)
        guard type == NT_LUA_TSTRING || type == NT_LUA_TNUMBER else { return nil }
        var length = 0
        guard let chars = nt_lua_tolstring(lua, index, &length) else { return nil }
        return Array(UnsafeRawBufferPointer(start: chars, count: length))
    }

    /// A string field of the table at `index`, read raw (no metamethod can run).
    private func luaField(_ lua: OpaquePointer, _ index: Int32, _ name: String) -> [UInt8]? {
        nt_lua_rawget_field(lua, index, name)
        defer { nt_lua_pop(lua, 1) }
        return luaString(lua, at: -1)
    }

    // MARK: - What scripts call (from the C callbacks)

    /// redis.call / redis.pcall: Redis's scriptCall. Returns the reply (RESP in the client's protocol) or a
    /// script error message.
    fileprivate func call(_ argc: Int, _ argument: (Int) -> UnsafeRawBufferPointer) -> CallOutcome {
        guard let run = running else { return .notRunning }
        let output = client.output
        output.clear(shrinkTo: 64 * 1024)
        client.parser.load(count: argc) { i, append in append(argument(i)) }
        defer { client.parser.reset() }
        guard let command = lookup(client) else { return refused(nil, "Unknown Redis command called from script") }
        guard command.acceptsArgumentCount(argc) else {
            return refused(command, "Wrong number of args calling Redis command from script")
        }
        if command.flags.contains(.noscript) { return refused(command, "This Redis command is not allowed from script") }
        // The script runs as its caller's user (Redis's scriptVerifyACL).
        if let user = run.caller.user, !user.unrestricted, let denial = server.acl.check(user, command, client) {
            return refused(command, server.aclScriptRefusal(caller: run.caller, scriptClient: client, command, denial))
        }
        // A read-only script (EVAL_RO, FCALL_RO, no-writes) counts may-replicate commands (PUBLISH) as writes,
        // as Redis's scriptVerifyWriteCommandAllow.
        if run.readOnly && !command.flags.isDisjoint(with: [.write, .mayReplicate]) {
            return refused(command, "Write commands are not allowed from read-only scripts.")
        }
        if command.flags.contains(.write), let error = server.rdb.diskErrorReply { return refused(command, "-" + error) }
        // Redis's scriptVerifyOOM: a script may not start growing memory past maxmemory, but once it wrote
        // something it must be allowed to finish.
        if !run.allowOOM && !run.wroteDirty && server.preCommandOOMState && server.eviction.limit > 0
            && command.flags.contains(.denyoom) {
            return refused(command, "-OOM command not allowed when used memory > 'maxmemory'.")
        }
        if command.flags.contains(.write) { run.wroteDirty = true }
        client.lastCommand = command
        let pendingBefore = server.pendingPropagationCount
        server.call(client, command)
        if run.replication == 0 { server.dropPendingPropagation(from: pendingBefore) }
        return .reply(UnsafeRawBufferPointer(start: output.base + output.readIndex, count: output.readableBytes))
    }

    /// A redis.call refused before it ran, counted as Redis's scriptCall counts it (afterErrorReply, then
    /// incrCommandStatsOnError(cmd, REJECTED)): once in INFO errorstats, under ERR unless the message names
    /// its code, and as a rejected call of the command. The script's error that follows is not counted again
    /// (its error table says so), and the running EVAL or FCALL does not count it as its own failure.
    private func refused(_ command: Command?, _ message: String) -> CallOutcome {
        let code = message.hasPrefix("-") ? message.dropFirst().prefix { $0 != " " } : "ERR"
        Array(code.utf8).withUnsafeBytes { server.stats.countError($0) }
        command?.rejectedCalls += 1
        server.errorRepliesCounted = server.stats.totalErrorReplies
        return .scriptError(message)
    }

    /// redis.acl_check_cmd (Redis's luaRedisAclCheckCmdPermissionsCommand): whether the script's caller may
    /// run the command with these arguments (the command, its keys, its channels; not its arity): 1 or 0;
    /// -1 for an unknown command, 2 outside a script.
    fileprivate func aclCheck(_ argc: Int, _ argument: (Int) -> UnsafeRawBufferPointer) -> Int32 {
        guard let run = running else { return 2 }
        client.parser.load(count: argc) { i, append in append(argument(i)) }
        defer { client.parser.reset() }
        guard let command = lookup(client) else { return -1 }
        guard let user = run.caller.user, !user.unrestricted else { return 1 }
        return server.acl.check(user, command, client) == nil ? 1 : 0
    }

    /// The command or subcommand `argv` names (Redis's lookupCommand): nil if unknown.
    private func lookup(_ request: Client) -> Command? {
        guard let command = server.commands.lookup(request.arg(0)) else { return nil }
        // A container alone is found (its arity, -2, then refuses it), as Redis's lookupCommandLogic.
        guard command.hasSubcommands, request.argc >= 2 else { return command }
        return command.subcommand(named: request.arg(1))
    }

    fileprivate func log(level: Int32, message: [UInt8]) {
        let levels: [Logger.Level] = [.debug, .verbose, .notice, .warning]
        server.log.log(levels[Int(level)], String(decoding: message, as: UTF8.self))
    }

    fileprivate func setResp(_ resp: Int32) -> Bool {
        guard running != nil else { return false }
        client.protocolVersion = Int(resp)
        return true
    }

    fileprivate func setReplication(_ flags: Int32) -> Bool {
        guard let run = running else { return false }
        run.replication = Int(flags)
        return true
    }

    /// The interrupt hook (every 100,000 Lua instructions): past `busy-reply-threshold` the server serves
    /// other clients between instructions. Returns whether the script must die (SCRIPT KILL, SHUTDOWN).
    fileprivate func interrupt() -> Bool {
        guard let run = running else { return false }
        if !run.timedOut {
            let elapsed = (monotonicMicros() - run.started) / 1000
            guard elapsed >= Int64(server.config.busyReplyThreshold) else { return false }
            server.log.warning("Slow script detected: still in execution after \(elapsed) milliseconds. You can try killing the script using the \(run.isEval ? "SCRIPT KILL" : "FUNCTION KILL") command.")
            run.timedOut = true
            server.scriptTimingOut(run)
        }
        server.processEventsWhileLoading()
        return run.killed
    }

    /// SCRIPT KILL / FUNCTION KILL.
    func kill(_ client: Client, isEval: Bool) {
        guard let run = running else { return client.reply.error("NOTBUSY No scripts in execution right now.") }
        if run.wroteDirty {
            return client.reply.error("UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.")
        }
        if isEval != run.isEval { return client.reply.error(busyError) }
        run.killed = true
        client.reply.ok()
    }

    /// What others get while the running script is busy: the command that can kill it is named (Redis's
    /// slowevalerr and slowscripterr).
    var busyError: StaticString {
        running?.isEval ?? true
            ? "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
            : "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE."
    }

    /// SHUTDOWN NOSAVE while a script runs: it dies at its next interrupt, whatever it wrote.
    func killForShutdown() {
        running?.killed = true
        running?.endedByShutdown = true
    }
}

/// The state of one script's run (Redis's scriptRunCtx).
final class ScriptRun {
    let caller: Client
    /// The script's SHA1, or the function's name, for errors.
    let name: String
    let isEval: Bool
    /// EVAL_RO, FCALL_RO, or a `no-writes` script: write commands are refused.
    let readOnly: Bool
    let allowOOM: Bool
    let started = monotonicMicros()
    /// The EVAL, EVALSHA or FCALL (or _RO form) running it, for its INFO commandstats.
    let command: Command?
    /// A write command ran: the script can no longer be killed (Redis's SCRIPT_WRITE_DIRTY).
    var wroteDirty = false
    var timedOut = false
    var killed = false
    /// Killed by SHUTDOWN NOSAVE: the server stops once the script has unwound.
    var endedByShutdown = false
    /// redis.set_repl's flags (REPL_AOF | REPL_REPLICA); 0 propagates nothing.
    var replication = 3

    init(caller: Client, name: String, isEval: Bool, readOnly: Bool, allowOOM: Bool) {
        self.caller = caller
        self.name = name
        self.isEval = isEval
        self.readOnly = readOnly
        self.allowOOM = allowOOM
        command = caller.server.commands.lookup(caller.arg(0))
    }
}

/// `bytes` up to their first NUL: what Redis's %s formatting keeps of a Lua string.
func cString(_ bytes: [UInt8]) -> [UInt8] { Array(bytes.prefix { $0 != 0 }) }

/// Text that Redis puts in an error reply with %s (a script's `err` field after "-", an argument quoted in a
/// message): up to its first NUL, CR and LF made spaces, even at its start (where ReplyWriter.error would drop
/// them). Trailing ones are trimmed first when `trimsEnd`: where the text ends the reply and Redis trims it
/// (addReplyErrorFormatEx does, addReplyErrorFormat does not).
func formattedErrorText(_ bytes: [UInt8], trimsEnd: Bool) -> [UInt8] {
    var text = cString(bytes)
    if trimsEnd { while text.last == 13 || text.last == 10 { text.removeLast() } }
    return text.map { $0 == 13 || $0 == 10 ? 32 : $0 }
}

/// A script error reply line (without the leading '-').
struct ScriptError: Error {
    let message: [UInt8]
    init(_ message: [UInt8]) { self.message = message }
    init(_ message: String) { self.message = Array(message.utf8) }
}

/// Flags of a script's shebang (`#!lua flags=no-writes,allow-oom`) or a function's registration.
struct ScriptFlags: OptionSet {
    let rawValue: UInt32
    // The bits CScripting uses for a function's flags (NT_SCRIPT_*).
    static let noWrites = ScriptFlags(rawValue: NT_SCRIPT_NO_WRITES)
    static let allowOOM = ScriptFlags(rawValue: NT_SCRIPT_ALLOW_OOM)
    static let allowStale = ScriptFlags(rawValue: NT_SCRIPT_ALLOW_STALE)
    static let noCluster = ScriptFlags(rawValue: NT_SCRIPT_NO_CLUSTER)
    static let allowCrossSlot = ScriptFlags(rawValue: NT_SCRIPT_ALLOW_CROSS_SLOT)
    /// No shebang: EVAL's compatibility mode (no flags checked before the run, as before 7.0).
    static let evalCompatible = ScriptFlags(rawValue: 1 << 5)

    /// The names Redis accepts, in its order (scripts_flags_def).
    static let names: [(String, ScriptFlags)] = [
        ("no-writes", .noWrites), ("allow-oom", .allowOOM), ("allow-stale", .allowStale),
        ("no-cluster", .noCluster), ("allow-cross-slot-keys", .allowCrossSlot),
    ]
}

/// The `#!lua` line of an EVAL script (Redis's evalExtractShebangFlags).
struct Shebang {
    var flags: ScriptFlags = .evalCompatible
    /// Bytes of the shebang line, without its newline (0 without a shebang).
    var length = 0

    static func parse(_ body: [UInt8]) -> Result<Shebang, ScriptError> {
        guard body.starts(with: Array("#!".utf8)) else { return .success(Shebang()) }
        // Redis looks for the newline with strchr: not past a NUL.
        guard let newline = body.prefix(while: { $0 != 0 }).firstIndex(of: 10) else {
            return .failure(ScriptError("ERR Invalid script shebang"))
        }
        var shebang = Shebang(flags: [], length: newline)
        let line = body[0..<newline].withUnsafeBytes { splitArgs($0) }
        guard let parts = line?.map({ $0.withUnsafeBytes { Array($0) } }), !parts.isEmpty else {
            return .failure(ScriptError("ERR Invalid engine in script shebang"))
        }
        guard parts[0] == Array("#!lua".utf8) else {
            return .failure(ScriptError(Array("ERR Unexpected engine in script shebang: ".utf8) + parts[0]))
        }
        for part in parts.dropFirst() {
            guard part.starts(with: Array("flags=".utf8)) else {
                return .failure(ScriptError(Array("ERR Unknown lua shebang option: ".utf8) + part))
            }
            let list = part.dropFirst(6)
            for name in list.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false) where !list.isEmpty {
                guard let flag = ScriptFlags.names.first(where: { Array($0.0.utf8) == Array(name) }) else {
                    return .failure(ScriptError(Array("ERR Unexpected flag in script shebang: ".utf8) + Array(name)))
                }
                shebang.flags.insert(flag.1)
            }
        }
        return .success(shebang)
    }
}

private enum CallOutcome {
    case reply(UnsafeRawBufferPointer)
    case scriptError(String)
    case notRunning
}

// MARK: - C callbacks (see Sources/CScripting/include/cscripting.h)

private func engine(_ context: UnsafeMutableRawPointer?) -> ScriptEngine {
    Unmanaged<ScriptEngine>.fromOpaque(context!).takeUnretainedValue()
}

private func scriptCall(_ context: UnsafeMutableRawPointer?, _ argc: Int32,
                        _ argv: UnsafePointer<UnsafePointer<CChar>?>?, _ lengths: UnsafePointer<Int>?,
                        _ reply: UnsafeMutablePointer<UnsafePointer<CChar>?>?,
                        _ replyLength: UnsafeMutablePointer<Int>?) -> Int32 {
    let engine = engine(context)
    switch engine.call(Int(argc), { UnsafeRawBufferPointer(start: argv![$0], count: lengths![$0]) }) {
    case .reply(let bytes):
        reply!.pointee = bytes.baseAddress?.assumingMemoryBound(to: CChar.self)
        replyLength!.pointee = bytes.count
        return 0
    case .scriptError(let message):
        engine.errorScratch = Array(message.utf8)
        // The array is not touched again before C has copied the message (it stays allocated until then).
        engine.errorScratch.withUnsafeBufferPointer {
            reply!.pointee = UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self)
            replyLength!.pointee = $0.count
        }
        return 1
    case .notRunning:
        return 2
    }
}

private func scriptLog(_ context: UnsafeMutableRawPointer?, _ level: Int32, _ message: UnsafePointer<CChar>?,
                       _ length: Int) {
    engine(context).log(level: level, message: Array(UnsafeRawBufferPointer(start: message, count: length)))
}

private func scriptSetResp(_ context: UnsafeMutableRawPointer?, _ resp: Int32) -> Int32 {
    engine(context).setResp(resp) ? 0 : 2
}

private func scriptSetRepl(_ context: UnsafeMutableRawPointer?, _ flags: Int32) -> Int32 {
    engine(context).setReplication(flags) ? 0 : 2
}

private func scriptSHA1Hex(_ context: UnsafeMutableRawPointer?, _ data: UnsafePointer<CChar>?, _ length: Int,
                           _ out: UnsafeMutablePointer<CChar>?) {
    let hex = SHA1.hex(SHA1.hash(UnsafeRawBufferPointer(start: data, count: length)).bytes)
    for (i, byte) in hex.utf8.enumerated() { out![i] = CChar(bitPattern: byte) }
}

private func scriptACLCheck(_ context: UnsafeMutableRawPointer?, _ argc: Int32,
                            _ argv: UnsafePointer<UnsafePointer<CChar>?>?, _ lengths: UnsafePointer<Int>?) -> Int32 {
    engine(context).aclCheck(Int(argc)) { UnsafeRawBufferPointer(start: argv![$0], count: lengths![$0]) }
}

private func scriptInterrupt(_ context: UnsafeMutableRawPointer?) -> Int32 {
    engine(context).interrupt() ? 1 : 0
}

private func scriptRegisterFunction(_ context: UnsafeMutableRawPointer?, _ name: UnsafePointer<CChar>?, _ nameLength: Int,
                                    _ description: UnsafePointer<CChar>?, _ descriptionLength: Int,
                                    _ hasDescription: Int32, _ flags: UInt32, _ ref: Int32,
                                    _ error: UnsafeMutablePointer<UnsafePointer<CChar>?>?,
                                    _ errorLength: UnsafeMutablePointer<Int>?) -> Int32 {
    let engine = engine(context)
    let nameBytes = Array(UnsafeRawBufferPointer(start: name, count: nameLength))
    let descriptionBytes = hasDescription != 0
        ? Array(UnsafeRawBufferPointer(start: description, count: descriptionLength)) : nil
    switch engine.register(name: nameBytes, description: descriptionBytes, flags: ScriptFlags(rawValue: flags), ref: ref) {
    case .success: return 0
    case .failure(let failure):
        guard let message = failure.message else { return 2 }
        engine.errorScratch = message
        engine.errorScratch.withUnsafeBufferPointer {
            error!.pointee = UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self)
            errorLength!.pointee = $0.count
        }
        return 1
    }
}

// MARK: - The server while a script is busy

extension Server {
    /// A script passed busy-reply-threshold: others get -BUSY, its caller is not read until it ends.
    func scriptTimingOut(_ run: ScriptRun) {
        scriptBusy = true
        run.caller.isProtected = true
        // Our master's stream waits too (its writes would get -BUSY and be lost), as Redis protects it.
        if let master = replication.master { master.isProtected = true }
    }

    /// The busy script ended.
    func scriptTimedOut(_ run: ScriptRun) {
        scriptBusy = false
        run.caller.isProtected = false
        resumeTLSInput(run.caller)  // Server/Server+TLS.swift: its decrypted bytes wait in OpenSSL
        // What the caller sent meanwhile waits in its query buffer; the loop reads it on its next input.
        // Our master's requests already read run before the loop sleeps.
        if let master = replication.master, master.isProtected, master !== run.caller {
            master.isProtected = false
            unblockedClients.append(master)
        }
    }
}
