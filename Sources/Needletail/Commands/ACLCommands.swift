/// ACL and its subcommands (Redis 7.0's aclCommand): users, rules, the log, the aclfile. The user store
/// and the permission check live in Security/.

private let adminFlags: CommandFlags = [.admin, .noscript, .loading, .stale]
private let plainFlags: CommandFlags = [.noscript, .loading, .stale]

let aclCommands: [Command] = [
    Command("acl", arity: -2, group: "server", since: "6.0.0",
            summary: "A container for Access List Control commands ", complexity: "Depends on subcommand.", subcommands: [
        Command("cat", arity: -2, flags: plainFlags, group: "server", since: "6.0.0",
                summary: "List the ACL categories or the commands inside a category",
                complexity: "O(1) since the categories and commands are a fixed set.", handler: aclCat),
        Command("deluser", arity: -3, flags: adminFlags, group: "server", since: "6.0.0",
                summary: "Remove the specified ACL users and the associated rules",
                complexity: "O(1) amortized time considering the typical user.", handler: aclDelUser),
        Command("dryrun", arity: -4, flags: adminFlags, group: "server", since: "7.0.0",
                summary: "Returns whether the user can execute the given command without executing the command.",
                complexity: "O(1).", handler: aclDryRun),
        Command("genpass", arity: -2, flags: plainFlags, group: "server", since: "6.0.0",
                summary: "Generate a pseudorandom secure password to use for ACL users", complexity: "O(1)",
                handler: aclGenPass),
        Command("getuser", arity: 3, flags: adminFlags, group: "server", since: "6.0.0",
                summary: "Get the rules for a specific ACL user",
                complexity: "O(N). Where N is the number of password, command and pattern rules that the user has.",
                handler: aclGetUser),
        Command("help", arity: 2, flags: [.loading, .stale], group: "server", since: "6.0.0",
                summary: "Show helpful text about the different subcommands", complexity: "O(1)", handler: aclHelp),
        Command("list", arity: 2, flags: adminFlags, group: "server", since: "6.0.0",
                summary: "List the current ACL rules in ACL config file format",
                complexity: "O(N). Where N is the number of configured users.", handler: aclList),
        Command("load", arity: 2, flags: adminFlags, group: "server", since: "6.0.0",
                summary: "Reload the ACLs from the configured ACL file",
                complexity: "O(N). Where N is the number of configured users.", handler: aclLoad),
        Command("log", arity: -2, flags: adminFlags, group: "server", since: "6.0.0",
                summary: "List latest events denied because of ACLs in place",
                complexity: "O(N) with N being the number of entries shown.", handler: aclLog),
        Command("save", arity: 2, flags: adminFlags, group: "server", since: "6.0.0",
                summary: "Save the current ACL rules in the configured ACL file",
                complexity: "O(N). Where N is the number of configured users.", handler: aclSave),
        Command("setuser", arity: -3, flags: adminFlags, group: "server", since: "6.0.0",
                summary: "Modify or create the rules for a specific ACL user",
                complexity: "O(N). Where N is the number of rules provided.", handler: aclSetUser),
        Command("users", arity: 2, flags: adminFlags, group: "server", since: "6.0.0",
                summary: "List the username of all the configured ACL rules",
                complexity: "O(N). Where N is the number of configured users.", handler: aclUsers),
        Command("whoami", arity: 2, flags: plainFlags, group: "server", since: "6.0.0",
                summary: "Return the name of the user associated to the current connection", complexity: "O(1)",
                handler: aclWhoAmI),
    ]),
]

private let noACLFileError = "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration."

private func aclSetUser(_ c: Client) {
    let name = Array(c.arg(2))
    if aclHasSpaces(name) { return c.reply.error("ERR Usernames can't contain spaces or null characters") }
    let ops = (3..<c.argc).map { Array(c.arg($0)) }
    switch mergeSelectorArguments(ops) {
    case .unclosed(let start):
        c.reply.error(bytes: Array("ERR Unmatched parenthesis in acl selector starting at '".utf8) + ops[start] + Array("'.".utf8))
    case .merged(let merged):
        let server = c.server
        if let (rule, error) = server.acl.setUser(name, rules: merged) {
            return c.reply.error(bytes: Array("ERR Error in ACL SETUSER modifier '".utf8) + rule.withUnsafeBytes { cString($0, max: Int.max) }
                + Array("': \(error.text)".utf8))
        }
        if let user = server.acl.user(named: c.arg(2)) { server.disconnectRevokedSubscribers(of: user, running: c) }
        c.reply.ok()
    }
}

private func aclGetUser(_ c: Client) {
    guard let user = c.server.acl.user(named: c.arg(2)) else { return c.reply.null() }
    let registry = c.server.acl.registry
    c.reply.map(6)
    c.reply.bulk("flags")
    let flags = user.flagNames
    c.reply.set(flags.count)
    for flag in flags { c.reply.bulk(flag) }
    c.reply.bulk("passwords")
    c.reply.array(user.rules.passwords.count)
    for hash in user.rules.passwords { hash.withUnsafeBytes { c.reply.bulk($0) } }
    replySelector(c, user.rules.selectors[0], registry)
    c.reply.bulk("selectors")
    c.reply.array(user.rules.selectors.count - 1)
    for selector in user.rules.selectors.dropFirst() {
        c.reply.map(3)
        replySelector(c, selector, registry)
    }
}

/// commands, keys and channels of one selector (Redis's aclAddReplySelectorDescription).
private func replySelector(_ c: Client, _ selector: ACLSelector, _ registry: ACLCommandRegistry) {
    c.reply.bulk("commands")
    c.reply.bulk(selector.describeCommandRules(registry: registry))
    c.reply.bulk("keys")
    c.reply.bulk(selector.keyPatternWords.joined(separator: " "))
    c.reply.bulk("channels")
    c.reply.bulk(selector.channelWords.joined(separator: " "))
}

private func aclDelUser(_ c: Client) {
    let server = c.server
    var deleted = 0
    for i in 2..<c.argc {
        if bytesEqual(c.arg(i), UnsafeRawBufferPointer(staticString: "default")) {
            return c.reply.error("ERR The 'default' user cannot be removed")
        }
    }
    for i in 2..<c.argc {
        guard let user = server.acl.removeUser(Array(c.arg(i))) else { continue }
        deleted += 1
        server.disconnectClients(of: user, running: c)
    }
    c.reply.integer(deleted)
}

private func aclList(_ c: Client) {
    let acl = c.server.acl
    let users = acl.sortedUsers
    c.reply.array(users.count)
    for user in users { c.reply.bulk("user \(user.nameString) \(user.describe(registry: acl.registry))") }
}

private func aclUsers(_ c: Client) {
    let users = c.server.acl.sortedUsers
    c.reply.array(users.count)
    for user in users { user.name.withUnsafeBytes { c.reply.bulk($0) } }
}

private func aclWhoAmI(_ c: Client) {
    guard let user = c.user else { return c.reply.null() }
    user.name.withUnsafeBytes { c.reply.bulk($0) }
}

private func aclCat(_ c: Client) {
    guard c.argc == 3 else {
        if c.argc > 3 { return replySubcommandSyntaxError(c, "ACL") }
        c.reply.array(ACLCategory.all.count)
        for category in ACLCategory.all { c.reply.bulk(category.name) }
        return
    }
    guard let mask = ACLCategory.mask(named: Array(c.arg(2))) else {
        return c.reply.error(bytes: Array("ERR Unknown category '".utf8) + cString(c.arg(2), max: 128) + [UInt8(ascii: "'")])
    }
    let names = c.server.acl.registry.commands.filter { $0.aclCategoryMask & mask != 0 }.map(\.fullName)
    c.reply.array(names.count)
    for name in names { c.reply.bulk(name) }
}

private func aclGenPass(_ c: Client) {
    var bits = 256
    if c.argc == 3 {
        guard let value = parseInt64(c.arg(2)) else { return c.replyNotInteger() }
        guard value > 0 && value <= 4096 else {
            return c.reply.error("ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096")
        }
        bits = Int(value)
    } else if c.argc > 3 {
        return replySubcommandSyntaxError(c, "ACL")
    }
    c.reply.bulk(randomHex((bits + 3) / 4))
}

private func aclLog(_ c: Client) {
    let acl = c.server.acl
    var count = 10
    if c.argc == 3 {
        if c.argIs(2, "reset") {
            acl.resetLog()
            return c.reply.ok()
        }
        guard let value = parseInt64(c.arg(2)) else { return c.replyNotInteger() }
        count = Int(max(0, value))
    } else if c.argc > 3 {
        return replySubcommandSyntaxError(c, "ACL")
    }
    let entries = acl.log.prefix(count)
    let now = wallClockMillis()
    c.reply.array(entries.count)
    for entry in entries {
        c.reply.map(7)
        c.reply.bulk("count"); c.reply.integer(entry.count)
        c.reply.bulk("reason")
        switch entry.reason {
        case .command: c.reply.bulk("command")
        case .key: c.reply.bulk("key")
        case .channel: c.reply.bulk("channel")
        case .auth: c.reply.bulk("auth")
        }
        c.reply.bulk("context"); c.reply.bulk(entry.context.rawValue)
        c.reply.bulk("object"); entry.object.withUnsafeBytes { c.reply.bulk($0) }
        c.reply.bulk("username"); entry.username.withUnsafeBytes { c.reply.bulk($0) }
        c.reply.bulk("age-seconds"); c.reply.double(Double(now - entry.createdMillis) / 1000)
        c.reply.bulk("client-info"); c.reply.bulk(entry.clientInfo)
    }
}

private func aclDryRun(_ c: Client) {
    let server = c.server
    guard let user = server.acl.user(named: c.arg(2)) else {
        return c.reply.error(bytes: Array("ERR User '".utf8) + cString(c.arg(2), max: Int.max) + Array("' not found".utf8))
    }
    var command = server.commands.lookup(c.arg(3))
    if let container = command, container.hasSubcommands, c.argc >= 5 { command = container.subcommand(named: c.arg(4)) }
    guard let command else {
        return c.reply.error(bytes: Array("ERR Command '".utf8) + cString(c.arg(3), max: Int.max) + Array("' not found".utf8))
    }
    guard command.acceptsArgumentCount(c.argc - 3) else {
        return c.reply.error("ERR wrong number of arguments for '\(command.fullName)' command")
    }
    guard let denial = server.acl.check(user, command, c, offset: 3) else { return c.reply.ok() }
    switch denial.reason {
    case .command: c.reply.bulk("This user has no permissions to run the '\(command.fullName)' command")
    case .key:
        replyBulk(c, Array("This user has no permissions to access the '".utf8) + Array(c.arg(3 + denial.position)) + Array("' key".utf8))
    case .channel:
        replyBulk(c, Array("This user has no permissions to access the '".utf8) + Array(c.arg(3 + denial.position)) + Array("' channel".utf8))
    case .auth: c.reply.bulk("no permission")
    }
}

private func aclSave(_ c: Client) {
    guard !c.server.config.aclfile.isEmpty else { return c.reply.error(noACLFileError) }
    guard c.server.saveACLFile() else {
        return c.reply.error("ERR There was an error trying to save the ACLs. Please check the server logs for more information")
    }
    c.reply.ok()
}

private func aclLoad(_ c: Client) {
    guard !c.server.config.aclfile.isEmpty else { return c.reply.error(noACLFileError) }
    if let errors = c.server.loadACLFile(running: c) { return c.reply.error("ERR " + errors) }
    c.reply.ok()
}

private func aclHelp(_ c: Client) {
    replyHelp(c, "ACL", [
        "CAT [<category>]",
        "    List all commands that belong to <category>, or all command categories",
        "    when no category is specified.",
        "DELUSER <username> [<username> ...]",
        "    Delete a list of users.",
        "DRYRUN <username> <command> [<arg> ...]",
        "    Returns whether the user can execute the given command without executing the command.",
        "GETUSER <username>",
        "    Get the user's details.",
        "GENPASS [<bits>]",
        "    Generate a secure 256-bit user password. The optional `bits` argument can",
        "    be used to specify a different size.",
        "LIST",
        "    Show users details in config file format.",
        "LOAD",
        "    Reload users from the ACL file.",
        "LOG [<count> | RESET]",
        "    Show the ACL log entries.",
        "SAVE",
        "    Save the current config to the ACL file.",
        "SETUSER <username> <attribute> [<attribute> ...]",
        "    Create or modify a user with the specified attributes.",
        "USERS",
        "    List all the registered usernames.",
        "WHOAMI",
        "    Return the current connection username.",
    ])
}

private func replyBulk(_ c: Client, _ bytes: [UInt8]) { bytes.withUnsafeBytes { c.reply.bulk($0) } }
