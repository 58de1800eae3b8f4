/// The server's ACL state (Redis 7.0's acl.c): the users, the `default` user every connection starts as,
/// the ACL LOG, the denial counters of INFO stats, and the permission check `processCommand`, EXEC and
/// scripts run before a command.
///
/// The check costs one test for unrestricted users (`ACLUser.unrestricted`: all commands, keys and
/// channels through the root selector, as the default user is unless configured otherwise). For others,
/// each selector is tried in order (Redis's ACLCheckAllUserCommandPerm): its command bit, then the keys
/// the command's key specs find (without allocating for the common one-range specs, `ACLKeyPlan`), then
/// the channels of PUBLISH and the SUBSCRIBE family. When every selector refuses, the reported reason is
/// the "furthest" one: a channel over a key over the command, and the later argument among equals.
final class ACL {
    enum Reason: Int { case command = 1, key = 2, auth = 3, channel = 4 }
    enum Context: String { case toplevel, multi, lua }

    struct Denial {
        let reason: Reason
        /// The argument (relative to the command name) that was refused: a key or a channel.
        let position: Int
    }

    struct LogEntry {
        var count: Int
        let reason: Reason
        let context: Context
        let object: [UInt8]
        let username: [UInt8]
        var createdMillis: Int64
        var clientInfo: String
    }

    let registry: ACLCommandRegistry
    private(set) var users: [[UInt8]: ACLUser] = [:]
    private(set) var defaultUser: ACLUser
    /// Newest first, at most acllog-max-len entries.
    private(set) var log: [LogEntry] = []
    var logMaxLength = 128
    /// acl-pubsub-default: new users and selectors start with allchannels (else resetchannels).
    var pubsubDefault = false

    // INFO stats.
    var deniedAuth = 0
    var deniedCommand = 0
    var deniedKey = 0
    var deniedChannel = 0

    init(table: CommandTable) {
        registry = ACLCommandRegistry(table: table)
        defaultUser = ACL.makeDefaultUser(registry)
        users[defaultUser.name] = defaultUser
    }

    /// `on nopass ~* &* +@all` (Redis's ACLCreateDefaultUser).
    private static func makeDefaultUser(_ registry: ACLCommandRegistry) -> ACLUser {
        let user = ACLUser(name: Array("default".utf8), registry: registry, pubsubDefault: false)
        var rules = user.rules
        for rule in ["+@all", "~*", "&*", "on", "nopass"] { _ = rules.apply(Array(rule.utf8), registry: registry, pubsubDefault: false) }
        user.rules = rules
        return user
    }

    func user(named name: UnsafeRawBufferPointer) -> ACLUser? { users[Array(name)] }

    var sortedUsers: [ACLUser] { users.values.sorted { bytesPrecede($0.name, $1.name) } }

    /// Whether a new connection must authenticate first: the default user has a password or is off.
    var authRequired: Bool { !defaultUser.rules.nopass || !defaultUser.rules.enabled }

    // MARK: - Changing users

    /// Applies `rules` to a copy of the user's (a new user's, if absent) and stores them only if all are
    /// valid; returns the failing rule and why.
    func setUser(_ name: [UInt8], rules ops: [[UInt8]]) -> (rule: [UInt8], error: ACLRuleError)? {
        let existing = users[name]
        var rules = existing?.rules ?? ACLUser(name: name, registry: registry, pubsubDefault: pubsubDefault).rules
        for op in ops {
            if let error = rules.apply(op, registry: registry, pubsubDefault: pubsubDefault) { return (op, error) }
        }
        if let existing {
            existing.rules = rules
        } else {
            let user = ACLUser(name: name, registry: registry, pubsubDefault: pubsubDefault)
            user.rules = rules
            users[name] = user
        }
        return nil
    }

    func removeUser(_ name: [UInt8]) -> ACLUser? { users.removeValue(forKey: name) }

    /// Replaces every user but keeps the default user's object (connections point at it), as ACL LOAD.
    func replaceUsers(_ loaded: [ACLUser]) {
        users = [:]
        var sawDefault = false
        for user in loaded {
            if user.name == defaultUser.name {
                defaultUser.rules = user.rules
                sawDefault = true
            } else {
                users[user.name] = user
            }
        }
        if !sawDefault { defaultUser.rules = ACL.makeDefaultUser(registry).rules }
        users[defaultUser.name] = defaultUser
    }

    /// requirepass sets the default user's only password, or nopass when empty (ACLUpdateDefaultUserPassword).
    func setDefaultPassword(_ password: String) {
        var rules = defaultUser.rules
        _ = rules.apply(Array("resetpass".utf8), registry: registry, pubsubDefault: pubsubDefault)
        let rule = password.isEmpty ? "nopass" : ">" + password
        _ = rules.apply(Array(rule.utf8), registry: registry, pubsubDefault: pubsubDefault)
        defaultUser.rules = rules
    }

    // MARK: - Checks

    /// Redis's ACLCheckAllUserCommandPerm for the request in `client`'s arguments from `offset` (the
    /// command name): nil when allowed.
    func check(_ user: ACLUser, _ command: Command, _ client: Client, offset: Int = 0) -> Denial? {
        var relevant = Denial(reason: .command, position: 0)
        var cachedKeys: [(position: Int, permissions: UInt8)]?
        return user.rules.selectors.withUnsafeBufferPointer { selectors in
            for i in selectors.indices {  // (by address: passing selectors[i] copied it, retaining its 5 references)
                guard let denial = check(selectors.baseAddress! + i, command, client, offset, &cachedKeys) else { return nil }
                if denial.reason.rawValue > relevant.reason.rawValue
                    || (denial.reason == relevant.reason && denial.position > relevant.position) {
                    relevant = denial
                }
            }
            return relevant
        }
    }

    /// Redis's ACLUserCheckCmdWithUnrestrictedKeyAccess for reading (SORT's BY and GET, whose keys come from
    /// the data, unseen by the key check): whether one of the user's selectors both allows this request and
    /// reads any key (`allkeys`/`~*`, or the pattern `*` with read permission, `%R~*`).
    func allowsReadingAnyKey(_ user: ACLUser, _ command: Command, _ client: Client) -> Bool {
        if user.unrestricted { return true }
        var cachedKeys: [(position: Int, permissions: UInt8)]?
        return user.rules.selectors.withUnsafeBufferPointer { selectors in
            for i in selectors.indices {
                let selector = selectors.baseAddress! + i
                guard check(selector, command, client, 0, &cachedKeys) == nil else { continue }
                if selector.pointee.allKeys || selector.pointee.patterns.contains(where: {
                    $0.pattern == [UInt8(ascii: "*")] && $0.permissions & ACLSelector.readPermission != 0
                }) {
                    return true
                }
            }
            return false
        }
    }

    private func check(_ selector: UnsafePointer<ACLSelector>, _ command: Command, _ client: Client, _ offset: Int,
                       _ cachedKeys: inout [(position: Int, permissions: UInt8)]?) -> Denial? {
        // Fields are read one at a time through the pointer: a method called on the whole selector copies it.
        let argc = client.argc - offset
        if !selector.pointee.allCommands && !command.flags.contains(.noAuth)
            && !ACLSelector.bit(command.aclID, in: selector.pointee.allowed) {
            guard argc >= 2, let allowed = selector.pointee.firstArgs[command.aclID] else { return Denial(reason: .command, position: 0) }
            let first = client.arg(offset + (command.parent != nil ? 2 : 1))
            guard allowed.contains(where: { $0.withUnsafeBytes { equalFolded($0, first) } }) else {
                return Denial(reason: .command, position: 0)
            }
        }
        if !selector.pointee.allKeys {
            let keys = selector.pointee.keyMatcher
            let plan = command.aclKeys
            switch plan.shape {
            case .none:
                break
            case .range(let first, let lastKey, let step):
                if let positions = ACLKeyPlan.keyPositions(first: first, lastKey: lastKey, argc: argc) {
                    var permissions = plan.permissions
                    if plan.setGet { permissions = setPermissions(client, offset, argc) }
                    var i = positions.lowerBound
                    while i <= positions.upperBound {
                        if !keys.allows(client.arg(offset + i), permissions: permissions) { return Denial(reason: .key, position: i) }
                        i += step
                    }
                }
            case .general:
                if cachedKeys == nil {
                    let args = (0..<argc).map { ByteString(client.arg(offset + $0)) }
                    cachedKeys = (keyPositions(command, args) ?? []).map { ($0.position, ACLKeyPlan.permissions($0.flags)) }
                }
                for (position, permissions) in cachedKeys! where position < argc {
                    if !keys.allows(client.arg(offset + position), permissions: permissions) {
                        return Denial(reason: .key, position: position)
                    }
                }
            }
        }
        if !selector.pointee.allChannels && command.aclChannels != .none {
            let pattern = command.aclChannels == .patternSubscribe
            let last = command.aclChannels == .publish ? min(1, argc - 1) : argc - 1
            if last >= 1 {
                let channels = selector.pointee.channels
                for i in 1...last where !ACLSelector.allowsChannel(client.arg(offset + i), isPattern: pattern, in: channels) {
                    return Denial(reason: .channel, position: i)
                }
            }
        }
        return nil
    }

    /// SET's key: read too when a GET option follows (Redis's setGetKeys flags), else written over.
    private func setPermissions(_ client: Client, _ offset: Int, _ argc: Int) -> UInt8 {
        var i = 3
        while i < argc {
            if equalFolded(client.arg(offset + i), UnsafeRawBufferPointer(staticString: "get")) {
                return ACLSelector.readPermission | ACLSelector.writePermission
            }
            i += 1
        }
        return ACLSelector.writePermission
    }

    // MARK: - Log

    /// Redis's addACLLogEntry: a denial like one of the ten newest (same reason, context, object and user,
    /// within a minute) bumps that entry to the top instead of adding one.
    func addLogEntry(reason: Reason, context: Context, object: [UInt8], username: [UInt8], clientInfo: String, now: Int64) {
        switch reason {
        case .command: deniedCommand += 1
        case .key: deniedKey += 1
        case .channel: deniedChannel += 1
        case .auth: deniedAuth += 1
        }
        for i in 0..<min(10, log.count) {
            let e = log[i]
            if e.reason == reason && e.context == context && e.object == object && e.username == username
                && now - e.createdMillis <= 60_000 {
                var entry = log.remove(at: i)
                entry.count += 1
                entry.createdMillis = now
                entry.clientInfo = clientInfo
                log.insert(entry, at: 0)
                return
            }
        }
        log.insert(LogEntry(count: 1, reason: reason, context: context, object: object, username: username,
                            createdMillis: now, clientInfo: clientInfo), at: 0)
        trimLog()
    }

    func trimLog() {
        if log.count > logMaxLength { log.removeSubrange(logMaxLength...) }
    }

    func resetLog() { log.removeAll() }
}

/// Byte strings compared as ASCII case-insensitive (first arguments of `+select|0` rules).
func equalFolded(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
    guard a.count == b.count else { return false }
    for i in 0..<a.count where asciiLower(a[i]) != asciiLower(b[i]) { return false }
    return true
}

/// Byte order (memcmp, then length), as Redis's rax lists users.
func bytesPrecede(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    for i in 0..<min(a.count, b.count) where a[i] != b[i] { return a[i] < b[i] }
    return a.count < b.count
}
