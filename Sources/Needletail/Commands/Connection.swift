/// Connection commands: PING, ECHO, QUIT, SELECT, HELLO, RESET, AUTH. (CLIENT lives in Client+Commands.swift.)

let connectionCommands: [Command] = [
    Command("ping", arity: -1, flags: [.fast, .sentinel, .allowedWhileSubscribed], group: "connection",
            summary: "Ping the server", complexity: "O(1)", handler: ping),
    Command("echo", arity: 2, flags: [.loading, .stale, .fast], group: "connection",
            summary: "Echo the given string", complexity: "O(1)", handler: echo),
    Command("quit", arity: -1, flags: [.allowBusy, .noAuth, .fast, .noscript, .loading, .stale, .allowedWhileSubscribed], group: "connection",
            summary: "Close the connection", complexity: "O(1)", transactionRole: .immediate, handler: quit),
    Command("select", arity: 2, flags: [.loading, .stale, .fast], group: "connection", since: "1.0.0",
            summary: "Change the selected database for the current connection", complexity: "O(1)", handler: select),
    Command("hello", arity: -1, flags: [.noscript, .loading, .stale, .fast, .noAuth, .sentinel, .allowBusy],
            group: "connection", since: "6.0.0", summary: "Handshake with Redis",
            complexity: "O(1)", handler: hello),
    Command("reset", arity: 1, flags: [.noscript, .loading, .stale, .fast, .noAuth, .allowBusy, .allowedWhileSubscribed],
            group: "connection", since: "6.2.0", summary: "Reset the connection", complexity: "O(1)",
            transactionRole: .immediate, handler: reset),
    Command("auth", arity: -2, flags: [.noscript, .loading, .stale, .fast, .noAuth, .sentinel, .allowBusy],
            group: "connection", summary: "Authenticate to the server",
            complexity: "O(N) where N is the number of passwords defined for the user", handler: auth),
]

private func ping(_ c: Client) {
    if c.argc > 2 { return c.reply.error("ERR wrong number of arguments for 'ping' command") }
    if c.isSubscribed && c.protocolVersion == 2 {
        // RESP2's subscribed state answers a frame, so clients reading messages can tell it apart.
        c.reply.array(2)
        c.reply.raw("$4\r\npong\r\n")
        if c.argc == 2 { c.reply.bulk(c.arg(1)) } else { c.reply.raw("$0\r\n\r\n") }
        return
    }
    if c.argc == 2 { c.reply.bulk(c.arg(1)) } else { c.reply.raw("+PONG\r\n") }
}

private func echo(_ c: Client) { c.reply.bulk(c.arg(1)) }

private func quit(_ c: Client) {
    c.reply.ok()
    c.closeAfterReply = true
}

private func select(_ c: Client) {
    guard let index = parseInt64(c.arg(1)) else { return c.replyNotInteger() }
    guard index >= Int64(Int32.min), index <= Int64(Int32.max) else {
        return c.reply.error("ERR value is out of range, value must between -2147483648 and 2147483647")
    }
    guard index >= 0, index < c.server.databases.count else { return c.reply.error("ERR DB index is out of range") }
    c.select(c.server.databases[Int(index)])
    c.reply.ok()
}

private func auth(_ c: Client) {
    if c.argc > 3 { return c.replySyntaxError() }
    if c.argc == 2 && c.server.acl.defaultUser.rules.nopass {
        return c.reply.error("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")
    }
    let user = c.argc == 3 ? c.arg(1) : UnsafeRawBufferPointer(staticString: "default")
    if c.server.authenticate(c, user: user, password: c.arg(c.argc - 1)) {
        c.reply.ok()
    } else {
        c.reply.error("WRONGPASS invalid username-password pair or user is disabled.")
    }
}

/// HELLO [protover [AUTH username password] [SETNAME clientname]], as Redis 7.2.
private func hello(_ c: Client) {
    var version = c.protocolVersion
    var next = 1
    if c.argc >= 2 {
        guard let v = parseInt64(c.arg(1)) else {
            return c.reply.error("ERR Protocol version is not an integer or out of range")
        }
        next = 2
        guard v == 2 || v == 3 else { return c.reply.error("NOPROTO unsupported protocol version") }
        version = Int(v)
    }
    while next < c.argc {
        let moreArgs = c.argc - next - 1
        if c.argIs(next, "AUTH") && moreArgs >= 2 {
            if !c.server.authenticate(c, user: c.arg(next + 1), password: c.arg(next + 2)) {
                return c.reply.error("WRONGPASS invalid username-password pair or user is disabled.")
            }
            next += 3
        } else if c.argIs(next, "SETNAME") && moreArgs >= 1 {
            // Redis 7.0 sets the name as it parses, so a later bad option leaves it set.
            let setName = c.arg(next + 1)
            if !validClientName(setName) {
                return c.reply.error("ERR Client names cannot contain spaces, newlines or special characters.")
            }
            c.name = setName.isEmpty ? nil : ByteString(setName)
            next += 2
        } else {
            // Quoted with printf's %s: the option stops at its first NUL byte.
            return c.reply.error(bytes: Array("ERR Syntax error in HELLO option '".utf8) + cString(c.arg(next), max: Int.max) + [39])
        }
    }
    if !c.authenticated && c.server.acl.authRequired {
        return c.reply.error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time")
    }
    c.protocolVersion = version
    c.reply.map(7)
    c.reply.bulk("server"); c.reply.bulk("redis")
    c.reply.bulk("version"); c.reply.bulk(redisVersion)
    c.reply.bulk("proto"); c.reply.integer(version)
    c.reply.bulk("id"); c.reply.integer(c.id)
    c.reply.bulk("mode"); c.reply.bulk("standalone")
    c.reply.bulk("role"); c.reply.bulk(c.server.replication.isReplica ? "replica" : "master")
    c.reply.bulk("modules"); c.reply.array(0)
}

private func reset(_ c: Client) {
    c.server.discardTransaction(c)
    c.server.unsubscribeEverything(c)
    c.server.stopMonitoring(c)
    c.server.disableTracking(c)
    c.select(c.server.databases[0])
    c.protocolVersion = 2
    c.name = nil
    if c.user != nil { c.user = c.server.acl.defaultUser }  // our master's link stays the superuser
    c.authenticated = !c.server.acl.authRequired
    // As Redis's clearClientConnectionState: replies back on (RESET's own reply is still dropped after CLIENT
    // REPLY SKIP, whose flag it leaves), and 7.2's NO-TOUCH off (7.0 keeps NO-EVICT; so do we).
    c.replyOff = false
    c.replySkipNext = false
    c.noTouch = false
    c.reply.raw("+RESET\r\n")
}

/// Client names may not contain spaces, newlines or other characters outside '!'...'~'.
func validClientName(_ name: UnsafeRawBufferPointer) -> Bool {
    name.allSatisfy { $0 >= 33 && $0 <= 126 }
}

/// The Redis version we are compatible with and report (INFO, HELLO).
let redisVersion = "7.2.4"
/// redisVersion as Redis's REDIS_VERSION_NUM (0x00MMmmpp), for scripts' redis.REDIS_VERSION_NUM.
let redisVersionNumber: Int32 = 0x07_02_04

extension UnsafeRawBufferPointer {
    init(staticString s: StaticString) {
        self.init(start: s.utf8Start, count: s.utf8CodeUnitCount)
    }
}
