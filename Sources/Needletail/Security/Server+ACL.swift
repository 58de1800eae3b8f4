/// Where the server meets ACL: the users from redis.conf (`user` lines) or the aclfile at start-up,
/// authentication (AUTH, HELLO AUTH), refusing a command with Redis's NOPERM texts and logging it, and the
/// connections a user change ends (a deleted user's, ACL LOAD's, and Pub/Sub clients whose channels were
/// revoked), as Redis 7.0's acl.c.
import Glibc

extension Server {
    // MARK: - Start-up

    /// requirepass, acllog-max-len, acl-pubsub-default and `user` lines from the configuration; the
    /// aclfile is loaded by `loadUsersAtStartup`.
    func configureACL() {
        acl.logMaxLength = config.acllogMaxLen
        acl.pubsubDefault = config.value(of: "acl-pubsub-default") == "allchannels"
        if !config.requirepass.isEmpty { acl.setDefaultPassword(config.requirepass) }
    }

    /// Redis's ACLLoadUsersAtStartup: the `user` lines of redis.conf, or the aclfile (not both). An error
    /// text means the server must not start.
    func loadUsersAtStartup() -> String? {
        if !config.aclfile.isEmpty && !config.users.isEmpty {
            return "Configuring Redis with users defined in redis.conf and at the same setting an ACL file path is invalid. This setup is very likely to lead to configuration errors and security holes, please define either an ACL file or declare users directly in your redis.conf, but not both."
        }
        for line in config.users {
            let ops = line.dropFirst().map { Array($0.utf8) }
            guard case .merged(let merged) = mergeSelectorArguments(ops) else {
                return "Error in user declaration '\(line[0])': Unmatched parenthesis in acl selector"
            }
            if let (_, error) = acl.setUser(Array(line[0].utf8), rules: merged) {
                return "Error in user declaration '\(line[0])': \(error.text)"
            }
        }
        if !config.aclfile.isEmpty, let errors = loadACLFile() { return errors }
        return nil
    }

    // MARK: - aclfile

    /// Redis's ACLLoadFromFile: every line must be a valid `user` line, else nothing changes and the errors
    /// are returned (each "file:line: reason. "). Clients of the replaced users (but the default user's)
    /// are disconnected.
    func loadACLFile(running: Client? = nil) -> String? {
        let path = config.aclfile
        guard let file = fopen(path, "r") else {
            return "Error loading ACLs, opening file '\(path)': \(String(cString: strerror(errno)))"
        }
        var contents: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let n = fread(&buffer, 1, buffer.count, file)
            if n <= 0 { break }
            contents += buffer[0..<n]
        }
        fclose(file)
        var errors = ""
        var loaded: [ACLUser] = []
        var seen = Set<[UInt8]>()
        let staging = ACL(table: commands)
        staging.pubsubDefault = acl.pubsubDefault
        for (index, rawLine) in contents.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            let lineNumber = index + 1
            let line = Array(rawLine).trimmingBytes(" \t\r\n")
            if line.isEmpty || line.first == UInt8(ascii: "#") { continue }
            guard let words = line.withUnsafeBytes({ splitArgs($0) }) else {
                errors += "\(path):\(lineNumber): unbalanced quotes in acl line. "
                continue
            }
            if words.isEmpty { continue }
            guard words[0].bytes.map(asciiLower) == Array("user".utf8) else {
                errors += "\(path):\(lineNumber): should start with user keyword. "
                continue
            }
            guard words.count >= 2 else {
                errors += "\(path):\(lineNumber): user name is missing. "
                continue
            }
            let name = words[1].bytes
            if aclHasSpaces(name) {
                errors += "\(path):\(lineNumber): username '\(String(decoding: name, as: UTF8.self))' contains invalid characters. "
                continue
            }
            if seen.contains(name) {
                errors += "\(path):\(lineNumber): Duplicate user '\(String(decoding: name, as: UTF8.self))' found. "
                continue
            }
            seen.insert(name)
            let ops = words.dropFirst(2).map { $0.bytes.trimmingBytes("\t\r\n") }
            guard case .merged(let merged) = mergeSelectorArguments(ops) else {
                errors += "\(path):\(lineNumber): Unmatched parenthesis in acl selector starting at '\(String(decoding: ops.first { $0.first == UInt8(ascii: "(") } ?? [], as: UTF8.self))'. "
                continue
            }
            let user = ACLUser(name: name, registry: acl.registry, pubsubDefault: acl.pubsubDefault)
            var rules = user.rules
            var failed = false
            for op in merged {
                if let error = rules.apply(op, registry: acl.registry, pubsubDefault: acl.pubsubDefault) {
                    errors += "\(path):\(lineNumber): \(error.text). "
                    failed = true
                    break
                }
            }
            if failed { continue }
            user.rules = rules
            loaded.append(user)
        }
        if !errors.isEmpty { return errors }
        let replaced = acl.users.values.filter { $0 !== acl.defaultUser }
        acl.replaceUsers(loaded)
        for user in replaced { disconnectClients(of: user, running: running) }
        return nil
    }

    /// Redis's ACLSaveToFile: every user as an ACL LIST line, written to a temporary file renamed over the
    /// aclfile. False after logging why it failed.
    func saveACLFile() -> Bool {
        let path = config.aclfile
        var text = ""
        for user in acl.sortedUsers { text += "user \(user.nameString) \(user.describe(registry: acl.registry))\n" }
        let temporary = path + ".tmp-\(getpid())"
        guard let file = fopen(temporary, "w") else {
            log.warning("Opening temp ACL file for ACL SAVE: \(String(cString: strerror(errno)))")
            return false
        }
        let bytes = Array(text.utf8)
        let written = bytes.isEmpty ? 0 : fwrite(bytes, 1, bytes.count, file)
        let flushed = fflush(file) == 0 && fsync(fileno(file)) == 0
        fclose(file)
        guard written == bytes.count, flushed, rename(temporary, path) == 0 else {
            log.warning("Writing ACL file for ACL SAVE: \(String(cString: strerror(errno)))")
            unlink(temporary)
            return false
        }
        return true
    }

    // MARK: - Authentication

    /// Redis's ACLAuthenticateUser: on success the client runs as the user; a failure is logged (reason
    /// auth) and counted.
    func authenticate(_ client: Client, user name: UnsafeRawBufferPointer, password: UnsafeRawBufferPointer) -> Bool {
        if let user = acl.user(named: name), user.accepts(password: password) {
            client.user = user
            client.authenticated = true
            return true
        }
        acl.addLogEntry(reason: .auth, context: client.transaction != nil ? .multi : .toplevel,
                        object: Array(client.arg(0)), username: Array(name),
                        clientInfo: clientInfoLine(client), now: wallClockMillis())
        return false
    }

    // MARK: - Refusals

    /// Logs a refused command and returns processCommand's error line (Redis's NOPERM texts).
    func aclRefusal(_ client: Client, _ command: Command, _ denial: ACL.Denial, context: ACL.Context) -> [UInt8] {
        logDenial(client, command, denial, context: context, user: client.user, offset: 0)
        switch denial.reason {
        case .command: return Array("NOPERM this user has no permissions to run the '\(command.fullName)' command".utf8)
        case .key: return Array("NOPERM this user has no permissions to access one of the keys used as arguments".utf8)
        case .channel: return Array("NOPERM this user has no permissions to access one of the channels used as arguments".utf8)
        case .auth: return Array("NOPERM no permission".utf8)
        }
    }

    /// EXEC's refusal of a queued command whose permission was revoked after it was queued.
    func aclExecRefusal(_ client: Client, _ command: Command, _ denial: ACL.Denial) -> String {
        logDenial(client, command, denial, context: .multi, user: client.user, offset: 0)
        let reason: String
        switch denial.reason {
        case .command: reason = "no permission to execute the command or subcommand"
        case .key: reason = "no permission to touch the specified keys"
        case .channel: reason = "no permission to access one of the channels used as arguments"
        case .auth: reason = "no permission"
        }
        return "NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: \(reason)"
    }

    /// A script's refusal (Redis's scriptVerifyACL): `scriptClient` holds the script's command, `caller`
    /// ran the script.
    func aclScriptRefusal(caller: Client, scriptClient: Client, _ command: Command, _ denial: ACL.Denial) -> String {
        let object = denial.reason == .command ? Array(command.fullName.utf8) : Array(scriptClient.arg(denial.position))
        acl.addLogEntry(reason: denial.reason, context: .lua, object: object, username: caller.user?.name ?? [],
                        clientInfo: clientInfoLine(caller), now: wallClockMillis())
        switch denial.reason {
        case .command: return "The user executing the script can't run this command or subcommand"
        case .key: return "The user executing the script can't access at least one of the keys mentioned in the command arguments"
        case .channel: return "The user executing the script can't publish to the channel mentioned in the command"
        case .auth: return "The user executing the script is lacking the permissions for the command"
        }
    }

    private func logDenial(_ client: Client, _ command: Command, _ denial: ACL.Denial, context: ACL.Context,
                           user: ACLUser?, offset: Int) {
        let object = denial.reason == .command ? Array(command.fullName.utf8) : Array(client.arg(offset + denial.position))
        acl.addLogEntry(reason: denial.reason, context: context, object: object, username: user?.name ?? [],
                        clientInfo: clientInfoLine(client), now: wallClockMillis())
    }

    // MARK: - Connections of changed users

    /// Closes the user's connections (Redis's deauthenticateAndCloseClient): the running client after its
    /// reply, the others now.
    func disconnectClients(of user: ACLUser, running: Client?) {
        for client in clients where client.user === user {
            client.user = acl.defaultUser
            client.authenticated = false
            if client === running {
                client.closeAfterReply = true
            } else {
                closeClient(client)
            }
        }
    }

    /// Redis's ACLKillPubsubClientsIfNeeded: after a change of `user`, its subscribers to a channel or
    /// pattern no selector allows any more are disconnected.
    func disconnectRevokedSubscribers(of user: ACLUser, running: Client?) {
        let selectors = user.rules.selectors
        if selectors.contains(where: \.allChannels) { return }
        for client in clients where client.user === user {
            guard let subscriptions = client.subscriptions else { continue }
            func allowed(_ channel: ByteString, _ isPattern: Bool) -> Bool {
                channel.withUnsafeBytes { c in selectors.contains { $0.allowsChannel(c, isPattern: isPattern) } }
            }
            let revoked = subscriptions.patterns.contains { !allowed($0, true) }
                || subscriptions.channels.contains { !allowed($0, false) }
                || subscriptions.shardChannels.contains { !allowed($0, false) }
            if revoked {
                if client === running { client.closeAfterReply = true } else { closeClient(client) }
            }
        }
    }
}

extension Array where Element == UInt8 {
    /// Without the leading and trailing bytes found in `set` (sdstrim).
    func trimmingBytes(_ set: StaticString) -> [UInt8] {
        let strip = Array(UnsafeRawBufferPointer(staticString: set))
        var start = 0
        var end = count
        while start < end && strip.contains(self[start]) { start += 1 }
        while end > start && strip.contains(self[end - 1]) { end -= 1 }
        return Array(self[start..<end])
    }
}
