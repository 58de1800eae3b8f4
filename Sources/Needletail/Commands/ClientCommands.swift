/// CLIENT: the connection's own state (ID, SETNAME, GETNAME, SETINFO, INFO, REPLY, NO-EVICT, NO-TOUCH) and
/// the other connections (LIST, KILL, PAUSE). Replies as redis-server 7.0, SETINFO and NO-TOUCH as 7.2.
///
/// CLIENT LIST / CLIENT INFO lines use Redis 7.2's field order (`... resp=2 lib-name= lib-ver=`); the buffer
/// and memory fields (qbuf ... tot-mem) are mapped onto our buffers as Server/ClientMemory.swift explains.

private let connectionFlags: CommandFlags = [.noscript, .loading, .stale]
private let adminConnectionFlags: CommandFlags = [.admin, .noscript, .loading, .stale]

let clientCommands: [Command] = [
    Command("client", arity: -2, group: "connection", since: "2.4.0",
            summary: "A container for client connection commands", complexity: "Depends on subcommand.",
            subcommands: [
        Command("id", arity: 2, flags: connectionFlags, group: "connection", since: "5.0.0",
                summary: "Returns the client ID for the current connection", complexity: "O(1)", handler: clientID),
        Command("setname", arity: 3, flags: connectionFlags, group: "connection", since: "2.6.9",
                summary: "Set the current connection name", complexity: "O(1)", handler: clientSetName),
        Command("getname", arity: 2, flags: connectionFlags, group: "connection", since: "2.6.9",
                summary: "Get the current connection name", complexity: "O(1)", handler: clientGetName),
        Command("setinfo", arity: 4, flags: connectionFlags, group: "connection", since: "7.2.0",
                summary: "Sets information specific to the client or connection.", complexity: "O(1)",
                handler: clientSetInfo),
        Command("info", arity: 2, flags: connectionFlags, group: "connection", since: "6.2.0",
                summary: "Returns information about the current client connection.", complexity: "O(1)", handler: clientInfo),
        Command("list", arity: -2, flags: adminConnectionFlags, group: "connection", since: "2.4.0",
                summary: "Get the list of client connections", complexity: "O(N) where N is the number of client connections",
                handler: clientList),
        Command("kill", arity: -3, flags: adminConnectionFlags, group: "connection", since: "2.4.0",
                summary: "Kill the connection of a client",
                complexity: "O(N) where N is the number of client connections", handler: clientKill),
        Command("reply", arity: 3, flags: connectionFlags, group: "connection", since: "3.2.0",
                summary: "Instruct the server whether to reply to commands", complexity: "O(1)",
                handler: clientReply),
        Command("no-evict", arity: 3, flags: adminConnectionFlags, group: "connection", since: "7.0.0",
                summary: "Set client eviction mode for the current connection", complexity: "O(1)",
                handler: clientNoEvict),
        Command("no-touch", arity: 3, flags: connectionFlags, group: "connection", since: "7.2.0",
                summary: "Controls whether commands sent by the client affect the LRU/LFU of accessed keys.",
                complexity: "O(1)", handler: clientNoTouch),
        Command("unblock", arity: -3, flags: adminConnectionFlags, group: "connection", since: "5.0.0",
                summary: "Unblock a client blocked in a blocking command from a different connection",
                complexity: "O(log N) where N is the number of client connections", handler: clientUnblock),
        Command("pause", arity: -3, flags: adminConnectionFlags, group: "connection", since: "2.9.50",
                summary: "Stop processing commands from clients for some time", complexity: "O(1)", handler: clientPause),
        Command("unpause", arity: 2, flags: adminConnectionFlags, group: "connection", since: "6.2.0",
                summary: "Resume processing of clients that were paused",
                complexity: "O(N) Where N is the number of paused clients", handler: clientUnpause),
        Command("tracking", arity: -3, flags: connectionFlags, group: "connection", since: "6.0.0",
                summary: "Enable or disable server assisted client side caching support",
                complexity: "O(1). Some options may introduce additional complexity.", handler: clientTracking),
        Command("caching", arity: 3, flags: connectionFlags, group: "connection", since: "6.0.0",
                summary: "Instruct the server about tracking or not keys in the next request", complexity: "O(1)",
                handler: clientCaching),
        Command("getredir", arity: 2, flags: connectionFlags, group: "connection", since: "6.0.0",
                summary: "Get tracking notifications redirection client ID if any", complexity: "O(1)") {
            $0.reply.integer($0.tracking?.redirect ?? -1)
        },
        Command("trackinginfo", arity: 2, flags: connectionFlags, group: "connection", since: "6.2.0",
                summary: "Return information about server assisted client side caching for the current connection",
                complexity: "O(1)", handler: clientTrackingInfo),
        Command("help", arity: 2, flags: [.loading, .stale], group: "connection", since: "5.0.0",
                summary: "Show helpful text about the different subcommands", complexity: "O(1)",
                handler: clientHelp),
    ]),
]

// MARK: - The connection's own state

private func clientID(_ c: Client) { c.reply.integer(c.id) }

private func clientSetName(_ c: Client) {
    let name = c.arg(2)
    guard validClientName(name) else {
        return c.reply.error("ERR Client names cannot contain spaces, newlines or special characters.")
    }
    c.name = name.isEmpty ? nil : ByteString(name)
    c.reply.ok()
}

private func clientGetName(_ c: Client) {
    if let name = c.name { c.reply.bulk(name) } else { c.reply.null() }
}

/// CLIENT SETINFO LIB-NAME|LIB-VER value, as Redis 7.2 (redis-py and node-redis send it on connect).
private func clientSetInfo(_ c: Client) {
    let isName = c.argIs(2, "lib-name")
    guard isName || c.argIs(2, "lib-ver") else {
        return c.reply.error(bytes: Array("ERR Unrecognized option '".utf8) + Array(c.arg(2)) + [UInt8(ascii: "'")])
    }
    let value = c.arg(3)
    guard validClientName(value) else {
        return c.reply.error(bytes: Array("ERR ".utf8) + Array(c.arg(2))
            + Array(" cannot contain spaces, newlines or special characters.".utf8))
    }
    let stored = value.isEmpty ? nil : ByteString(value)
    if isName { c.libraryName = stored } else { c.libraryVersion = stored }
    c.reply.ok()
}

private func clientInfo(_ c: Client) {
    c.reply.verbatim(clientInfoLine(c) + "\n")
}

/// CLIENT REPLY ON|OFF|SKIP. OFF and SKIP have no reply of their own; the server discards the replies of the
/// commands they silence (Server.processInput), the way Redis's CLIENT_REPLY_OFF / _SKIP flags do.
private func clientReply(_ c: Client) {
    // Our master never gets replies (its link's replies are off for good: Replication/ReplicaLink.swift).
    if c.isMaster { return }
    if c.argIs(2, "on") {
        c.replyOff = false
        c.replySkip = false
        c.reply.ok()
    } else if c.argIs(2, "off") {
        c.replyOff = true
    } else if c.argIs(2, "skip") {
        if !c.replyOff { c.replySkipNext = true }
    } else {
        c.replySyntaxError()
    }
}

private func clientNoEvict(_ c: Client) {
    guard let on = onOffArg(c, 2) else { return c.replySyntaxError() }
    c.noEvict = on
    c.reply.ok()
}

private func clientNoTouch(_ c: Client) {
    guard let on = onOffArg(c, 2) else { return c.replySyntaxError() }
    c.noTouch = on
    c.reply.ok()
}

private func onOffArg(_ c: Client, _ i: Int) -> Bool? {
    if c.argIs(i, "on") { return true }
    if c.argIs(i, "off") { return false }
    return nil
}

// MARK: - Other connections

/// CLIENT LIST [TYPE normal|master|replica|pubsub] | [ID id [id ...]]
private func clientList(_ c: Client) {
    var text = ""
    if c.argc == 4 && c.argIs(2, "type") {
        guard let type = ClientType(c.arg(3)) else {
            return c.reply.error(bytes: Array("ERR Unknown client type '".utf8) + Array(c.arg(3)) + [UInt8(ascii: "'")])
        }
        for other in c.server.clients where other.type == type {
            text += clientInfoLine(other) + "\n"
        }
    } else if c.argc > 3 && c.argIs(2, "id") {
        var ids: [Int64] = []
        for i in 3..<c.argc {
            guard let id = parseInt64(c.arg(i)) else { return c.reply.error("ERR Invalid client ID") }
            ids.append(id)
        }
        for id in ids {
            if let other = c.server.client(id: id) {
                text += clientInfoLine(other) + "\n"
            }
        }
    } else if c.argc != 2 {
        return c.replySyntaxError()
    } else {
        for other in c.server.clients {
            text += clientInfoLine(other) + "\n"
        }
    }
    c.reply.verbatim(text)
}

/// CLIENT KILL ip:port (old form: +OK or an error) or CLIENT KILL <filter> <value> ... (new form: the number
/// of clients killed). The caller itself is closed only after its reply has been written.
private func clientKill(_ c: Client) {
    var id: Int64?
    var type: ClientType?
    var address: UnsafeRawBufferPointer?
    var localAddress: UnsafeRawBufferPointer?
    var user: ACLUser?
    var skipMe = true
    if c.argc == 3 {
        address = c.arg(2)
        skipMe = false
    } else {
        var i = 2
        while i < c.argc {
            guard i + 1 < c.argc else { return c.replySyntaxError() }
            let value = c.arg(i + 1)
            if c.argIs(i, "id") {
                guard let v = parseInt64(value), v >= 1 else {
                    return c.reply.error("ERR client-id should be greater than 0")
                }
                id = v
            } else if c.argIs(i, "type") {
                guard let t = ClientType(value) else {
                    return c.reply.error(bytes: Array("ERR Unknown client type '".utf8) + Array(value) + [UInt8(ascii: "'")])
                }
                type = t
            } else if c.argIs(i, "addr") {
                address = value
            } else if c.argIs(i, "laddr") {
                localAddress = value
            } else if c.argIs(i, "user") {
                guard let named = c.server.acl.user(named: value) else {
                    return c.reply.error(bytes: Array("ERR No such user '".utf8) + Array(value) + [UInt8(ascii: "'")])
                }
                user = named
            } else if c.argIs(i, "skipme") {
                if c.argIs(i + 1, "yes") {
                    skipMe = true
                } else if c.argIs(i + 1, "no") {
                    skipMe = false
                } else {
                    return c.replySyntaxError()
                }
            } else {
                return c.replySyntaxError()
            }
            i += 2
        }
    }

    var killed = 0
    for other in c.server.clients {
        if let address, !stringEquals(other.address, address) { continue }
        if let localAddress, !stringEquals(other.localAddress, localAddress) { continue }
        if let type, other.type != type { continue }
        if let id, other.id != id { continue }
        if let user, other.user !== user { continue }
        if other === c {
            if skipMe { continue }
            c.closeAfterReply = true
        } else {
            c.server.closeClient(other)
        }
        killed += 1
    }

    if c.argc == 3 {
        if killed == 0 { c.reply.error("ERR No such client") } else { c.reply.ok() }
    } else {
        c.reply.integer(killed)
    }
}

/// CLIENT UNBLOCK client-id [TIMEOUT|ERROR]: 1 if that client was blocked and now is not (it gets the
/// timeout reply, or the UNBLOCKED error), else 0. The reason is checked before the id, as in Redis.
private func clientUnblock(_ c: Client) {
    guard c.argc <= 4 else { return replySubcommandSyntaxError(c, "CLIENT") }
    var withError = false
    if c.argc == 4 {
        if c.argIs(3, "error") {
            withError = true
        } else if !c.argIs(3, "timeout") {
            return c.reply.error("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
        }
    }
    guard let id = c.int64Arg(2) else { return }
    // A client the pause holds back is not blocked in this sense (as Redis 7.2: only the pause's end frees it).
    guard let target = c.server.client(id: id), target.blocked?.mayBeUnblocked == true else { return c.reply.integer(0) }
    c.server.unblockOnRequest(target, withError: withError)
    c.reply.integer(1)
}

/// CLIENT PAUSE timeout [WRITE|ALL] (milliseconds; ALL by default). See Server/Blocking.swift.
private func clientPause(_ c: Client) {
    guard c.argc <= 4 else { return replySubcommandSyntaxError(c, "CLIENT") }
    var kind = PauseKind.all
    if c.argc == 4 {
        if c.argIs(3, "write") {
            kind = .write
        } else if !c.argIs(3, "all") {
            return c.reply.error("ERR CLIENT PAUSE mode must be WRITE or ALL")
        }
    }
    guard let timeout = parseInt64(c.arg(2)) else {
        return c.reply.error("ERR timeout is not an integer or out of range")
    }
    guard timeout >= 0 else { return c.reply.error("ERR timeout is negative") }
    let now = wallClockMillis()
    c.server.pauseClients(kind, until: timeout > Int64.max - now ? Int64.max : now + timeout)
    c.reply.ok()
}

private func clientUnpause(_ c: Client) {
    c.server.unpauseClients()
    c.reply.ok()
}

private func clientHelp(_ c: Client) {
    replyHelp(c, "CLIENT", [
        "CACHING (YES|NO)",
        "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
        "GETREDIR",
        "    Return the client ID we are redirecting to when tracking is enabled.",
        "GETNAME",
        "    Return the name of the current connection.",
        "ID",
        "    Return the ID of the current connection.",
        "INFO",
        "    Return information about the current client connection.",
        "KILL <ip:port>",
        "    Kill connection made from <ip:port>.",
        "KILL <option> <value> [<option> <value> [...]]",
        "    Kill connections. Options are:",
        "    * ADDR (<ip:port>|<unixsocket>:0)",
        "      Kill connections made from the specified address",
        "    * LADDR (<ip:port>|<unixsocket>:0)",
        "      Kill connections made to specified local address",
        "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
        "      Kill connections by type.",
        "    * USER <username>",
        "      Kill connections authenticated by <username>.",
        "    * SKIPME (YES|NO)",
        "      Skip killing current connection (default: yes).",
        "LIST [options ...]",
        "    Return information about client connections. Options:",
        "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
        "      Return clients of specified type.",
        "UNPAUSE",
        "    Stop the current client pause, resuming traffic.",
        "PAUSE <timeout> [WRITE|ALL]",
        "    Suspend all, or just write, clients for <timeout> milliseconds.",
        "REPLY (ON|OFF|SKIP)",
        "    Control the replies sent to the current connection.",
        "SETNAME <name>",
        "    Assign the name <name> to the current connection.",
        "SETINFO <option> <value>",
        "    Set client meta attr. Options are:",
        "    * LIB-NAME: the client lib name.",
        "    * LIB-VER: the client lib version.",
        "UNBLOCK <clientid> [TIMEOUT|ERROR]",
        "    Unblock the specified blocked client.",
        "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
        "         [OPTIN] [OPTOUT] [NOLOOP]",
        "    Control server assisted client side caching.",
        "TRACKINGINFO",
        "    Report tracking status for the current connection.",
        "NO-EVICT (ON|OFF)",
        "    Protect current client connection from eviction.",
        "NO-TOUCH (ON|OFF)",
        "    Will not touch LRU/LFU stats when this mode is on.",
    ])
}

// MARK: - Client descriptions

/// One line of CLIENT LIST / CLIENT INFO (without the newline), fields in Redis 7.2's order. A client's
/// command is recorded before it runs, as in Redis: the caller sees its own CLIENT LIST / CLIENT INFO
/// (or EXEC, inside a transaction) there.
func clientInfoLine(_ client: Client) -> String {
    let now = monotonicMillis()
    var flags = ""
    if client.isMonitor { flags += "O" } else if client.replicationType == .replica { flags += "S" }
    if client.isMaster { flags += "M" }
    if client.isSubscribed { flags += "P" }
    if client.transaction != nil { flags += "x" }
    if client.isBlocked { flags += "b" }
    if let tracking = client.tracking {
        flags += "t"
        if tracking.brokenRedirect { flags += "R" }
        if tracking.options.contains(.bcast) { flags += "B" }
    }
    if client.watchTouched { flags += "d" }
    if client.closeAfterReply { flags += "c" }
    if client.isUnixSocket { flags += "U" }
    if client.noEvict { flags += "e" }
    if client.noTouch { flags += "T" }
    if flags.isEmpty { flags = "N" }
    let outputBase = min(client.output.capacity, replyChunkBytes)  // see Server/ClientMemory.swift for the mapping
    var line = "id=\(client.id) addr=\(client.address) laddr=\(client.localAddress) fd=\(client.fd)"
    line += " name=\(client.name?.string ?? "") age=\((now - client.createdAt) / 1000)"
    line += " idle=\((now - client.lastInteraction) / 1000) flags=\(flags) db=\(client.db.index)"
    let subs = client.subscriptions
    line += " sub=\(subs?.channels.count ?? 0) psub=\(subs?.patterns.count ?? 0) ssub=\(subs?.shardChannels.count ?? 0) multi=\(client.transaction?.count ?? -1)"
    line += " qbuf=\(client.queryBufferLength) qbuf-free=\(client.input.capacity - client.input.writeIndex)"
    line += " argv-mem=\(client.parser.argumentBytes) multi-mem=\(client.transaction?.memory ?? 0)"
    line += " rbs=\(outputBase) rbp=\(outputBase)"
    line += " obl=\(client.outputBufferHead) oll=\(client.outputBlocks) omem=\(client.outputBufferMemory)"
    line += " tot-mem=\(client.memoryUsage)"
    line += " events=\(client.waitingWritable ? "rw" : "r") cmd=\(client.lastCommandName) user=\(client.user?.nameString ?? "(superuser)") redir=\(client.tracking?.redirect ?? -1)"
    line += " resp=\(client.protocolVersion)"
    line += " lib-name=\(client.libraryName?.string ?? "") lib-ver=\(client.libraryVersion?.string ?? "")"
    return line
}

private func stringEquals(_ s: String, _ bytes: UnsafeRawBufferPointer) -> Bool {
    var s = s
    return s.withUTF8 { bytesEqual(UnsafeRawBufferPointer($0), bytes) }
}

// MARK: - Client-side caching (Server/Tracking.swift)

/// CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p ...] [BCAST] [OPTIN] [OPTOUT] [NOLOOP], checked in Redis's
/// order: the options first (syntax, the redirect's existence), then their compatibility.
private func clientTracking(_ c: Client) {
    var redirect: Int64 = 0
    var options: TrackingOptions = []
    var prefixes: [ByteString] = []
    var j = 3
    while j < c.argc {
        let more = c.argc - 1 - j
        if c.argIs(j, "redirect") && more > 0 {
            j += 1
            if redirect != 0 { return c.reply.error("ERR A client can only redirect to a single other client") }
            guard let id = c.int64Arg(j) else { return }
            guard c.server.client(id: id) != nil else {
                return c.reply.error("ERR The client ID you want redirect to does not exist")
            }
            redirect = id
        } else if c.argIs(j, "bcast") {
            options.insert(.bcast)
        } else if c.argIs(j, "optin") {
            options.insert(.optin)
        } else if c.argIs(j, "optout") {
            options.insert(.optout)
        } else if c.argIs(j, "noloop") {
            options.insert(.noloop)
        } else if c.argIs(j, "prefix") && more > 0 {
            j += 1
            prefixes.append(c.argBytes(j))
        } else {
            return c.replySyntaxError()
        }
        j += 1
    }
    if c.argIs(2, "on") {
        if !options.contains(.bcast) && !prefixes.isEmpty {
            return c.reply.error("ERR PREFIX option requires BCAST mode to be enabled")
        }
        if let current = c.tracking, current.options.contains(.bcast) != options.contains(.bcast) {
            return c.reply.error("ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.")
        }
        if options.contains(.bcast) && !options.isDisjoint(with: [.optin, .optout]) {
            return c.reply.error("ERR OPTIN and OPTOUT are not compatible with BCAST")
        }
        if options.isSuperset(of: [.optin, .optout]) { return c.reply.error("ERR You can't specify both OPTIN mode and OPTOUT mode") }
        if let current = c.tracking,
           (options.contains(.optin) && current.options.contains(.optout))
            || (options.contains(.optout) && current.options.contains(.optin)) {
            return c.reply.error("ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.")
        }
        if options.contains(.bcast), let error = prefixCollision(c.tracking?.prefixes ?? [], prefixes) {
            return c.reply.error(bytes: error)
        }
        c.server.enableTracking(c, redirect: redirect, options: options, prefixes: prefixes)
    } else if c.argIs(2, "off") {
        c.server.disableTracking(c)
    } else {
        return c.replySyntaxError()
    }
    c.reply.ok()
}

/// Redis's checkPrefixCollisionsOrReply: no prefix may be a prefix of another, among the client's and the new.
private func prefixCollision(_ existing: [ByteString], _ new: [ByteString]) -> [UInt8]? {
    func overlap(_ a: ByteString, _ b: ByteString) -> Bool {
        let (x, y) = (a.bytes, b.bytes)
        let n = min(x.count, y.count)
        return x.prefix(n) == y.prefix(n)
    }
    let suffix = Array("'. Prefixes for a single client must not overlap.".utf8)
    for (i, prefix) in new.enumerated() {
        for old in existing where overlap(old, prefix) {
            return Array("ERR Prefix '".utf8) + cStringBytes(prefix) + Array("' overlaps with an existing prefix '".utf8)
                + cStringBytes(old) + suffix
        }
        for other in new[(i + 1)...] where overlap(prefix, other) {
            return Array("ERR Prefix '".utf8) + cStringBytes(prefix) + Array("' overlaps with another provided prefix '".utf8)
                + cStringBytes(other) + suffix
        }
    }
    return nil
}

/// What printf's %s prints of a string: up to its first NUL.
private func cStringBytes(_ s: ByteString) -> [UInt8] { Array(s.bytes.prefix { $0 != 0 }) }

/// CLIENT CACHING YES|NO: OPTIN's YES or OPTOUT's NO, for the next command.
private func clientCaching(_ c: Client) {
    guard let tracking = c.tracking else {
        return c.reply.error("ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled")
    }
    if c.argIs(2, "yes") {
        guard tracking.options.contains(.optin) else {
            return c.reply.error("ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.")
        }
    } else if c.argIs(2, "no") {
        guard tracking.options.contains(.optout) else {
            return c.reply.error("ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.")
        }
    } else {
        return c.replySyntaxError()
    }
    tracking.caching = true
    c.reply.ok()
}

/// CLIENT TRACKINGINFO: flags (a set), redirect, prefixes.
private func clientTrackingInfo(_ c: Client) {
    var flags: [String] = [c.tracking != nil ? "on" : "off"]
    if let t = c.tracking {
        if t.options.contains(.bcast) { flags.append("bcast") }
        if t.options.contains(.optin) {
            flags.append("optin")
            if t.caching { flags.append("caching-yes") }
        }
        if t.options.contains(.optout) {
            flags.append("optout")
            if t.caching { flags.append("caching-no") }
        }
        if t.options.contains(.noloop) { flags.append("noloop") }
        if t.brokenRedirect { flags.append("broken_redirect") }
    }
    c.reply.map(3)
    c.reply.bulk("flags")
    c.reply.set(flags.count)
    for f in flags { c.reply.bulk(f) }
    c.reply.bulk("redirect")
    c.reply.integer(c.tracking?.redirect ?? -1)
    c.reply.bulk("prefixes")
    let prefixes = c.tracking?.prefixes ?? []
    c.reply.array(prefixes.count)
    for p in prefixes { c.reply.bulk(p) }
}
