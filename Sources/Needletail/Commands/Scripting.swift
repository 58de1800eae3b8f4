/// Scripting commands: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO, SCRIPT, FCALL, FCALL_RO and FUNCTION. The
/// engine (the Lua states, the cache, running a script) is Scripting/ScriptEngine.swift, the libraries
/// Scripting/Functions.swift.

private let evalFlags: CommandFlags = [.noscript, .stale, .skipMonitor, .noMandatoryKeys, .movableKeys]
/// EVAL, EVALSHA and FCALL may write: may-replicate, as in Redis (CLIENT PAUSE WRITE holds them, a monitor may not
/// send them), unless the script declares its flags (Server.commandFlags). The _RO forms are readonly.
private let writableEvalFlags = evalFlags.union(.mayReplicate)

let scriptingCommands: [Command] = [
    Command("eval", arity: -3, flags: writableEvalFlags, group: "scripting", since: "2.6.0",
            summary: "Execute a Lua script server side", complexity: "Depends on the script that is executed.") {
        eval($0, bySHA: false, readOnly: false)
    },
    Command("evalsha", arity: -3, flags: writableEvalFlags, group: "scripting", since: "2.6.0",
            summary: "Execute a Lua script server side", complexity: "Depends on the script that is executed.") {
        eval($0, bySHA: true, readOnly: false)
    },
    Command("eval_ro", arity: -3, flags: evalFlags.union(.readonly), group: "scripting", since: "7.0.0",
            summary: "Execute a read-only Lua script server side",
            complexity: "Depends on the script that is executed.") { eval($0, bySHA: false, readOnly: true) },
    Command("evalsha_ro", arity: -3, flags: evalFlags.union(.readonly), group: "scripting", since: "7.0.0",
            summary: "Execute a read-only Lua script server side",
            complexity: "Depends on the script that is executed.") { eval($0, bySHA: true, readOnly: true) },
    Command("script", arity: -2, group: "scripting", since: "2.6.0",
            summary: "A container for Lua scripts management commands", complexity: "Depends on subcommand.",
            subcommands: [
        Command("debug", arity: 3, flags: [.noscript], group: "scripting", since: "3.2.0",
                summary: "Set the debug mode for executed scripts.", complexity: "O(1)", handler: scriptDebug),
        Command("exists", arity: -3, flags: [.noscript], group: "scripting", since: "2.6.0",
                summary: "Check existence of scripts in the script cache.",
                complexity: "O(N) with N being the number of scripts to check (so checking a single script is an O(1) operation).") { c in
            c.reply.array(c.argc - 2)
            for i in 2..<c.argc {
                c.reply.integer(c.server.scripting.script(sha: c.arg(i)) != nil ? 1 : 0)
            }
        },
        Command("flush", arity: -2, flags: [.noscript], group: "scripting", since: "2.6.0",
                summary: "Remove all the scripts from the script cache.",
                complexity: "O(N) with N being the number of scripts in cache") { c in
            guard c.argc == 2 || (c.argc == 3 && (c.argIs(2, "sync") || c.argIs(2, "async"))) else {
                return c.reply.error("ERR SCRIPT FLUSH only support SYNC|ASYNC option")
            }
            c.server.scripting.flush()
            c.reply.ok()
        },
        Command("help", arity: 2, flags: [.loading, .stale], group: "scripting", since: "5.0.0",
                summary: "Show helpful text about the different subcommands", complexity: "O(1)") { c in
            replyHelp(c, "SCRIPT", [
                "DEBUG (YES|SYNC|NO)", "    Set the debug mode for subsequent scripts executed.",
                "EXISTS <sha1> [<sha1> ...]",
                "    Return information about the existence of the scripts in the script cache.",
                "FLUSH [ASYNC|SYNC]", "    Flush the Lua scripts cache. Very dangerous on replicas.",
                "    When called without the optional mode argument, the behavior is determined by the",
                "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
                "    * ASYNC: Asynchronously flush the scripts cache.",
                "    * SYNC: Synchronously flush the scripts cache.",
                "KILL", "    Kill the currently executing Lua script.",
                "LOAD <script>", "    Load a script into the scripts cache without executing it.",
            ])
        },
        Command("kill", arity: 2, flags: [.noscript, .allowBusy], group: "scripting", since: "2.6.0",
                summary: "Kill the script currently in execution.", complexity: "O(1)") { c in
            c.server.scripting.kill(c, isEval: true)
        },
        Command("load", arity: 3, flags: [.noscript, .stale], group: "scripting", since: "2.6.0",
                summary: "Load the specified Lua script into the script cache.",
                complexity: "O(N) with N being the length in bytes of the script body.") { c in
            switch c.server.scripting.load(Array(c.arg(2))) {
            case .success(let script): c.reply.bulk(script.sha)
            case .failure(let error): c.reply.error(bytes: error.message)
            }
        },
    ]),
    Command("fcall", arity: -3, flags: writableEvalFlags, group: "scripting", since: "7.0.0", summary: "Invoke a function",
            complexity: "Depends on the function that is executed.") { fcall($0, readOnly: false) },
    Command("fcall_ro", arity: -3, flags: evalFlags.union(.readonly), group: "scripting", since: "7.0.0",
            summary: "Invoke a read-only function",
            complexity: "Depends on the function that is executed.") { fcall($0, readOnly: true) },
    Command("function", arity: -2, group: "scripting", since: "7.0.0", summary: "A container for function commands",
            complexity: "Depends on subcommand.", subcommands: [
        Command("delete", arity: 3, flags: [.write, .noscript], group: "scripting", since: "7.0.0",
                summary: "Delete a function by name", complexity: "O(1)") { c in
            guard c.server.scripting.deleteLibrary(c.argString(2)) else { return c.reply.error("ERR Library not found") }
            functionsChanged(c)
            c.reply.ok()
        },
        Command("dump", arity: 2, flags: [.noscript], group: "scripting", since: "7.0.0",
                summary: "Dump all functions into a serialized binary payload",
                complexity: "O(N) where N is the number of functions") { c in
            let payload = c.server.scripting.dumpLibraries()
            payload.withUnsafeBytes { c.reply.bulk($0) }
        },
        Command("flush", arity: -2, flags: [.write, .noscript], group: "scripting", since: "7.0.0",
                summary: "Deleting all functions", complexity: "O(N) where N is the number of functions deleted") { c in
            if c.argc > 3 { return replySubcommandSyntaxError(c, "FUNCTION") }
            guard c.argc == 2 || (c.argc == 3 && (c.argIs(2, "sync") || c.argIs(2, "async"))) else {
                return c.reply.error("ERR FUNCTION FLUSH only supports SYNC|ASYNC option")
            }
            c.server.scripting.flushFunctions()
            functionsChanged(c)
            c.reply.ok()
        },
        Command("help", arity: 2, flags: [.loading, .stale], group: "scripting", since: "7.0.0",
                summary: "Show helpful text about the different subcommands", complexity: "O(1)") { c in
            replyHelp(c, "FUNCTION", functionHelp)
        },
        Command("kill", arity: 2, flags: [.noscript, .allowBusy], group: "scripting", since: "7.0.0",
                summary: "Kill the function currently in execution.", complexity: "O(1)") { c in
            c.server.scripting.kill(c, isEval: false)
        },
        Command("list", arity: -2, flags: [.noscript], group: "scripting", since: "7.0.0",
                summary: "List information about all the functions",
                complexity: "O(N) where N is the number of functions", handler: functionList),
        Command("load", arity: -3, flags: [.write, .denyoom, .noscript], group: "scripting", since: "7.0.0",
                summary: "Create a function with the given arguments (name, code, description)",
                complexity: "O(1) (considering compilation time is redundant)") { c in
            // Any number of REPLACE before the code (Redis's functionLoadCommand); an unknown option is quoted as
            // a C string, up to a NUL.
            var replace = false
            for i in 2..<(c.argc - 1) {
                guard c.argIs(i, "replace") else {
                    return c.reply.error(bytes: Array("ERR Unknown option given: ".utf8) + Array(c.arg(i).prefix { $0 != 0 }))
                }
                replace = true
            }
            switch c.server.scripting.loadLibrary(Array(c.arg(c.argc - 1)), collision: replace ? .replace : .refuse) {
            case .success(let name):
                functionsChanged(c)
                c.reply.bulk(name)
            case .failure(let error):
                c.reply.error(bytes: error.message)
            }
        },
        Command("restore", arity: -3, flags: [.write, .denyoom, .noscript], group: "scripting", since: "7.0.0",
                summary: "Restore all the functions on the given payload",
                complexity: "O(N) where N is the number of functions on the payload") { c in
            var policy = RestorePolicy.append
            if c.argc == 4 {
                if c.argIs(3, "flush") { policy = .flush } else if c.argIs(3, "append") { policy = .append } else if c.argIs(3, "replace") {
                    policy = .replace
                } else {
                    return c.reply.error("ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.")
                }
            } else if c.argc > 4 {
                return replySubcommandSyntaxError(c, "FUNCTION")
            }
            switch c.server.scripting.restoreLibraries(payload: c.arg(2), policy: policy) {
            case .success:
                functionsChanged(c)
                c.reply.ok()
            case .failure(let error):
                c.reply.error(bytes: error.message)
            }
        },
        Command("stats", arity: 2, flags: [.noscript, .allowBusy], group: "scripting", since: "7.0.0",
                summary: "Return information about the function currently running (name, description, duration)",
                complexity: "O(1)", handler: functionStats),
    ]),
]

/// FUNCTION LOAD/DELETE/FLUSH/RESTORE change the dataset as Redis counts it (dirty) and are propagated.
private func functionsChanged(_ c: Client) {
    c.server.keyspace.dirty += 1
    c.forcePropagation()
}

/// FCALL/FCALL_RO function numkeys key... arg... (Redis's fcallCommandGeneric).
private func fcall(_ c: Client, readOnly: Bool) {
    c.server.feedMonitorsBeforeScript(c)
    let engine = c.server.scripting
    guard let function = engine.functions[functionKey(c.argString(1))] else { return c.reply.error("ERR Function not found") }
    guard let numkeys = parseInt64(c.arg(2)) else { return c.reply.error("ERR Bad number of keys provided") }
    if numkeys > Int64(c.argc - 3) { return c.reply.error("ERR Number of keys can't be greater than number of args") }
    if numkeys < 0 { return c.reply.error("ERR Number of keys can't be negative") }
    let keys = 3..<(3 + Int(numkeys))
    engine.fcall(c, function: function, keys: keys, arguments: keys.upperBound..<c.argc, readOnly: readOnly)
}

/// FUNCTION LIST [LIBRARYNAME pattern] [WITHCODE].
private func functionList(_ c: Client) {
    var withCode = false
    var pattern: [UInt8]?
    var i = 2
    while i < c.argc {
        if !withCode && c.argIs(i, "withcode") {
            withCode = true
        } else if pattern == nil && c.argIs(i, "libraryname") {
            guard i + 1 < c.argc else { return c.reply.error("ERR library name argument was not given") }
            i += 1
            pattern = Array(c.arg(i))
        } else {
            return c.reply.error(bytes: Array("ERR Unknown argument ".utf8) + formattedErrorText(Array(c.arg(i)), trimsEnd: false))
        }
        i += 1
    }
    let libraries = c.server.scripting.sortedLibraries.filter { library in
        guard let pattern else { return true }
        return pattern.withUnsafeBytes { p in
            Array(library.name.utf8).withUnsafeBytes { globMatch(pattern: p, string: $0, caseInsensitive: true) }
        }
    }
    c.reply.array(libraries.count)
    for library in libraries {
        c.reply.map(withCode ? 4 : 3)
        c.reply.bulk("library_name")
        c.reply.bulk(library.name)
        c.reply.bulk("engine")
        c.reply.bulk("LUA")
        c.reply.bulk("functions")
        let functions = library.functions.values.sorted { $0.name < $1.name }
        c.reply.array(functions.count)
        for function in functions {
            c.reply.map(3)
            c.reply.bulk("name")
            c.reply.bulk(function.name)
            c.reply.bulk("description")
            if let description = function.description { description.withUnsafeBytes { c.reply.bulk($0) } } else { c.reply.null() }
            c.reply.bulk("flags")
            let names = ScriptFlags.names.filter { function.flags.contains($0.1) }
            c.reply.set(names.count)
            for (name, _) in names { c.reply.simple(name) }
        }
        if withCode {
            c.reply.bulk("library_code")
            library.code.withUnsafeBytes { c.reply.bulk($0) }
        }
    }
}

/// FUNCTION STATS: the running function (nil when none) and the engines' counts.
private func functionStats(_ c: Client) {
    let engine = c.server.scripting
    if let run = engine.running, run.isEval {
        return c.reply.error(engine.busyError)
    }
    c.reply.map(2)
    c.reply.bulk("running_script")
    if let run = engine.running {
        c.reply.map(3)
        c.reply.bulk("name")
        c.reply.bulk(run.name)
        c.reply.bulk("command")
        // The caller is not read while its script runs, so its request is still the one that started it.
        c.reply.array(run.caller.argc)
        for i in 0..<run.caller.argc { c.reply.bulk(run.caller.arg(i)) }
        c.reply.bulk("duration_ms")
        c.reply.integer((monotonicMicros() - run.started) / 1000)
    } else {
        c.reply.null()
    }
    c.reply.bulk("engines")
    c.reply.map(1)
    c.reply.bulk("LUA")
    c.reply.map(2)
    c.reply.bulk("libraries_count")
    c.reply.integer(engine.libraries.count)
    c.reply.bulk("functions_count")
    c.reply.integer(engine.functions.count)
}

private let functionHelp = [
    "LOAD [REPLACE] <FUNCTION CODE>", "    Create a new library with the given library name and code.",
    "DELETE <LIBRARY NAME>", "    Delete the given library.",
    "LIST [LIBRARYNAME PATTERN] [WITHCODE]", "    Return general information on all the libraries:",
    "    * Library name", "    * The engine used to run the Library", "    * Library description",
    "    * Functions list", "    * Library code (if WITHCODE is given)",
    "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
    "STATS", "    Return information about the current function running:", "    * Function name",
    "    * Command used to run the function", "    * Duration in MS that the function is running",
    "    If no function is running, return nil", "    In addition, returns a list of available engines.",
    "KILL", "    Kill the current running function.",
    "FLUSH [ASYNC|SYNC]", "    Delete all the libraries.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the libraries.", "    * SYNC: Synchronously flush the libraries.",
    "DUMP",
    "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
    "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
    "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
    "    control how to handle existing libraries (default APPEND):",
    "    * FLUSH: delete all existing libraries.",
    "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
    "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
    "      libraries with the new libraries (notice that even on this option there is a chance of failure",
    "      in case of functions name collision with another library).",
]

/// EVAL/EVALSHA[_RO] script numkeys key... arg... (Redis's evalGenericCommand).
private func eval(_ c: Client, bySHA: Bool, readOnly: Bool) {
    c.server.feedMonitorsBeforeScript(c)
    guard let numkeys = c.int64Arg(2) else { return }
    if numkeys > Int64(c.argc - 3) { return c.reply.error("ERR Number of keys can't be greater than number of args") }
    if numkeys < 0 { return c.reply.error("ERR Number of keys can't be negative") }
    let engine = c.server.scripting
    let script: ScriptEngine.Script
    if bySHA {
        guard let cached = engine.script(sha: c.arg(1)) else {
            return c.reply.error("NOSCRIPT No matching script. Please use EVAL.")
        }
        script = cached
    } else {
        switch engine.load(Array(c.arg(1))) {
        case .success(let loaded): script = loaded
        case .failure(let error): return c.reply.error(bytes: error.message)
        }
    }
    let keys = 3..<(3 + Int(numkeys))
    engine.eval(c, script: script, keys: keys, arguments: keys.upperBound..<c.argc, readOnly: readOnly)
}

/// SCRIPT DEBUG: the Lua debugger (LDB) is not part of Needletail; NO, the default, is accepted.
///
/// As Redis (clientHasPendingReplies), it is refused whatever its argument while replies wait to be written:
/// after other requests of the same pipeline, and always inside EXEC, whose array is already open.
private func scriptDebug(_ c: Client) {
    if !c.output.isEmpty { return c.reply.error("ERR SCRIPT DEBUG must be called outside a pipeline") }
    if c.argIs(2, "no") { return c.reply.ok() }
    if c.argIs(2, "yes") || c.argIs(2, "sync") {
        return c.reply.error("ERR SCRIPT DEBUG is not supported: Needletail has no Lua debugger")
    }
    c.reply.error("ERR Use SCRIPT DEBUG YES/SYNC/NO")
}
