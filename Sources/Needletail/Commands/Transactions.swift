/// Transaction commands: MULTI, EXEC, DISCARD, WATCH, UNWATCH. The queue, WATCH's index and the rules of
/// queuing live in Server/Transaction.swift.

let transactionCommands: [Command] = [
    Command("multi", arity: 1, flags: [.noscript, .loading, .stale, .fast, .allowBusy], group: "transactions",
            since: "1.2.0", summary: "Mark the start of a transaction block", complexity: "O(1)",
            transactionRole: .immediate, handler: multi),
    Command("exec", arity: 1, flags: [.noscript, .loading, .stale, .skipSlowlog], group: "transactions",
            since: "1.2.0", summary: "Execute all commands issued after MULTI",
            complexity: "Depends on commands in the transaction", transactionRole: .exec, handler: exec),
    Command("discard", arity: 1, flags: [.noscript, .loading, .stale, .fast, .allowBusy], group: "transactions",
            since: "2.0.0", summary: "Discard all commands issued after MULTI",
            complexity: "O(N), when N is the number of queued commands", transactionRole: .immediate,
            handler: discard),
    Command("watch", arity: -2, flags: [.noscript, .loading, .stale, .fast, .allowBusy], keys: (1, -1, 1),
            group: "transactions", since: "2.2.0",
            summary: "Watch the given keys to determine execution of the MULTI/EXEC block",
            complexity: "O(1) for every key.", transactionRole: .immediate, handler: watch),
    Command("unwatch", arity: 1, flags: [.noscript, .loading, .stale, .fast, .allowBusy], group: "transactions",
            since: "2.2.0", summary: "Forget about all watched keys", complexity: "O(1)", handler: unwatch),
]

private func multi(_ c: Client) {
    if c.transaction != nil { return c.reply.error("ERR MULTI calls can not be nested") }
    c.server.beginTransaction(c)
    c.reply.ok()
}

private func discard(_ c: Client) {
    if c.transaction == nil { return c.reply.error("ERR DISCARD without MULTI") }
    c.server.discardTransaction(c)
    c.reply.ok()
}

/// Runs the queued commands as one execution unit (see Server/Transaction.swift), or answers why not:
/// EXECABORT after a rejected request, the null array when a watched key changed or expired.
private func exec(_ c: Client) {
    // The queue is read through the client, never held here: discardTransaction then reuses its buffers.
    guard let aborted = c.transaction?.aborted else { return c.reply.error("ERR EXEC without MULTI") }
    let server = c.server
    if server.watchedKeyExpired(c) { c.watchTouched = true }
    if aborted || c.watchTouched {
        if aborted {
            c.reply.error("EXECABORT Transaction discarded because of previous errors.")
        } else {
            c.reply.nullArray()
        }
        return server.discardTransaction(c)
    }
    server.unwatchAll(c)  // nothing the transaction does can fail it now
    let count = c.transaction!.count
    c.reply.array(count)
    c.executingTransaction = true
    var i = 0
    while i < count, let transaction = c.transaction {  // a command that closes the client ends it
        transaction.load(i, into: &c.parser)
        let command = transaction.entries[i].command
        // Permissions may have changed since the command was queued (Redis checks again here).
        if let user = c.user, !user.unrestricted, let denial = server.acl.check(user, command, c) {
            c.reply.error(server.aclExecRefusal(c, command, denial))
        } else {
            server.call(c, command)
        }
        i += 1
    }
    c.executingTransaction = false
    c.propagation.prevent = true  // the commands that wrote were propagated, wrapped in MULTI/EXEC
    server.discardTransaction(c)
}

private func watch(_ c: Client) {
    if c.transaction != nil { return c.reply.error("ERR WATCH inside MULTI is not allowed") }
    if !c.watchTouched {  // already doomed: nothing to watch for
        for i in 1..<c.argc { c.server.watch(c, c.argBytes(i)) }
    }
    c.reply.ok()
}

private func unwatch(_ c: Client) {
    c.server.unwatchAll(c)
    c.watchTouched = false
    c.reply.ok()
}
