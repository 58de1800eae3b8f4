import Glibc

/// One ACL selector (Redis 7.0's aclSelector, acl.c): which commands, keys and Pub/Sub channels it allows.
/// Every user has a root selector (the rules written at the top level of ACL SETUSER) and may have more,
/// written in parentheses; a command is allowed when one of them allows it all (command, keys, channels).
///
/// Commands are a bitmap indexed by `Command.aclID` (containers and subcommands each have their own bit).
/// Categories are not kept: `+@read` sets the bits of the commands in @read at that moment, as Redis does,
/// and ACL GETUSER/LIST describe the bitmap back as categories plus single commands with Redis's
/// best-fit algorithm (`describeCommandRules`). The last bit of the bitmap is reserved: only `+@all` sets
/// it, meaning "commands added later too" (describe starts from `+@all` then).
struct ACLSelector {
    static let readPermission: UInt8 = 1
    static let writePermission: UInt8 = 2
    static let allPermissions: UInt8 = 3

    struct KeyPattern: Equatable {
        let pattern: [UInt8]
        var permissions: UInt8
        /// The bytes before the first glob metacharacter: a key must start with them (checked before the glob).
        let literalPrefix: Int
        /// The pattern is its literal prefix and one `*` ("app:*"): the prefix and the key's length decide.
        let prefixThenStar: Bool

        init(pattern: [UInt8], permissions: UInt8) {
            self.pattern = pattern
            self.permissions = permissions
            let meta: Set<UInt8> = [UInt8(ascii: "*"), UInt8(ascii: "?"), UInt8(ascii: "["), UInt8(ascii: "\\")]
            literalPrefix = pattern.firstIndex { meta.contains($0) } ?? pattern.count
            prefixThenStar = literalPrefix == pattern.count - 1 && pattern.last == UInt8(ascii: "*")
        }
    }

    /// The key patterns as the per-command check reads them: plain structs in one allocation (no reference
    /// counting per pattern, where walking `[KeyPattern]` retained and released each pattern's bytes: a
    /// third of a GET's time for a user of 20 patterns), each with its literal prefix's first 8 bytes in a
    /// word, so a key is compared with most patterns by one masked compare.
    final class KeyMatcher {
        struct Entry {
            /// The literal prefix's first bytes (up to 8, little-endian) and the mask covering them.
            var head: UInt64
            var headMask: UInt64
            var prefixLength: Int
            /// The pattern's bytes in `bytes`.
            var start: Int
            var count: Int
            var permissions: UInt8
            var prefixThenStar: Bool
        }

        private let entries: UnsafeMutableBufferPointer<Entry>
        private let bytes: UnsafeMutableRawBufferPointer

        init(_ patterns: [KeyPattern]) {
            entries = .allocate(capacity: patterns.count)
            bytes = .allocate(byteCount: max(1, patterns.reduce(0) { $0 + $1.pattern.count }), alignment: 8)
            var start = 0
            for (i, p) in patterns.enumerated() {
                let headLength = min(p.literalPrefix, 8)
                var head: UInt64 = 0
                for j in 0..<headLength { head |= UInt64(p.pattern[j]) << (8 * UInt64(j)) }
                entries[i] = Entry(head: head, headMask: headLength == 8 ? ~0 : (1 << (8 * UInt64(headLength))) - 1,
                                   prefixLength: p.literalPrefix, start: start, count: p.pattern.count,
                                   permissions: p.permissions, prefixThenStar: p.prefixThenStar)
                for (j, byte) in p.pattern.enumerated() { bytes[start + j] = byte }
                start += p.pattern.count
            }
        }

        deinit {
            entries.deallocate()
            bytes.deallocate()
        }

        /// Whether a pattern granting `permissions` matches `key` (Redis's ACLSelectorCheckKey: `permissions` are
        /// the read/write bits the key's spec asks for; stringmatchlen per pattern).
        @inline(__always) func allows(_ key: UnsafeRawBufferPointer, permissions: UInt8) -> Bool {
            var keyHead: UInt64 = 0
            if key.count >= 8 {
                keyHead = UInt64(littleEndian: key.loadUnaligned(as: UInt64.self))
            } else {
                for j in 0..<key.count { keyHead |= UInt64(key[j]) << (8 * UInt64(j)) }
            }
            for e in entries where e.permissions & permissions == permissions && keyHead & e.headMask == e.head {
                // (A key shorter than the head compared zero bytes above: the length check settles it.)
                if key.count < e.prefixLength { continue }
                let pattern = UnsafeRawBufferPointer(rebasing: bytes[e.start..<e.start + e.count])
                if e.prefixLength > 8 && memcmp(pattern.baseAddress! + 8, key.baseAddress! + 8, e.prefixLength - 8) != 0 {
                    continue
                }
                // (As Redis's stringmatchlen, a lone `*` does not match the empty key; "app:*" does match "app:".)
                if e.prefixThenStar {
                    if e.prefixLength > 0 || !key.isEmpty { return true }
                    continue
                }
                if globMatch(pattern: pattern, string: key, caseInsensitive: false) { return true }
            }
            return false
        }
    }

    var isRoot: Bool
    var allKeys = false
    var allChannels = false
    var allCommands = false
    var allowed: [UInt64]
    /// `+select|0`: first arguments allowed for a command whose bit is clear (commands without subcommands).
    var firstArgs: [Int: [[UInt8]]] = [:]
    var patterns: [KeyPattern] = [] { didSet { keyMatcher = KeyMatcher(patterns) } }
    /// The patterns laid out for the check on every command (ACL.check); rebuilt when they change.
    private(set) var keyMatcher = KeyMatcher([])
    var channels: [[UInt8]] = []

    init(root: Bool, registry: ACLCommandRegistry, allChannels: Bool) {
        isRoot = root
        allowed = Array(repeating: 0, count: registry.wordCount)
        self.allChannels = allChannels
    }

    // MARK: - Command bits

    @inline(__always) func bit(_ id: Int) -> Bool { Self.bit(id, in: allowed) }
    /// (For callers holding a pointer to the selector: a method called on it copies the whole selector.)
    @inline(__always) static func bit(_ id: Int, in allowed: [UInt64]) -> Bool { allowed[id >> 6] & (1 << UInt64(id & 63)) != 0 }

    mutating func setBit(_ id: Int, _ value: Bool) {
        if value {
            allowed[id >> 6] |= 1 << UInt64(id & 63)
        } else {
            allowed[id >> 6] &= ~(1 << UInt64(id & 63))
            allCommands = false
        }
    }

    /// Allows or blocks a command; a container's subcommands follow it (Redis's ACLChangeSelectorPerm).
    mutating func changePermission(_ command: Command, _ allow: Bool) {
        setBit(command.aclID, allow)
        firstArgs[command.aclID] = nil
        for id in command.aclSubcommandIDs { setBit(id, allow) }
    }

    mutating func setCategory(_ mask: UInt32, _ allow: Bool, registry: ACLCommandRegistry) {
        for command in registry.commands where command.aclCategoryMask & mask != 0 {
            changePermission(command, allow)
        }
    }

    var canRunFutureCommands: Bool { allowed[allowed.count - 1] & (1 << 63) != 0 }

    // MARK: - Rules (Redis's ACLSetSelector)

    /// Applies one rule; the error's text is the reason ACL SETUSER gives.
    mutating func apply(_ op: [UInt8], registry: ACLCommandRegistry) -> ACLRuleError? {
        let lower = op.map(asciiLower)
        if lower == Array("allkeys".utf8) || op == Array("~*".utf8) {
            allKeys = true
            patterns.removeAll()
        } else if lower == Array("resetkeys".utf8) {
            allKeys = false
            patterns.removeAll()
        } else if lower == Array("allchannels".utf8) || op == Array("&*".utf8) {
            allChannels = true
            channels.removeAll()
        } else if lower == Array("resetchannels".utf8) {
            allChannels = false
            channels.removeAll()
        } else if lower == Array("allcommands".utf8) || lower == Array("+@all".utf8) {
            for i in allowed.indices { allowed[i] = ~0 }
            allCommands = true
            firstArgs.removeAll()
        } else if lower == Array("nocommands".utf8) || lower == Array("-@all".utf8) {
            for i in allowed.indices { allowed[i] = 0 }
            allCommands = false
            firstArgs.removeAll()
        } else if op.first == UInt8(ascii: "~") || op.first == UInt8(ascii: "%") {
            if allKeys { return .keysAfterAll }
            var permissions: UInt8 = 0
            var offset = 1
            if op[0] == UInt8(ascii: "%") {
                var ok = true
                while offset < op.count {
                    let c = op[offset]
                    if (c == UInt8(ascii: "R") || c == UInt8(ascii: "r")) && permissions & ACLSelector.readPermission == 0 {
                        permissions |= ACLSelector.readPermission
                    } else if (c == UInt8(ascii: "W") || c == UInt8(ascii: "w")) && permissions & ACLSelector.writePermission == 0 {
                        permissions |= ACLSelector.writePermission
                    } else if c == UInt8(ascii: "~") {
                        offset += 1
                        break
                    } else {
                        ok = false
                        break
                    }
                    offset += 1
                }
                if permissions == 0 || !ok { return .syntax }
            } else {
                permissions = ACLSelector.allPermissions
            }
            let pattern = Array(op[min(offset, op.count)...])
            if aclHasSpaces(pattern) { return .syntax }
            if let i = patterns.firstIndex(where: { $0.pattern == pattern }) {
                patterns[i].permissions |= permissions
            } else {
                patterns.append(KeyPattern(pattern: pattern, permissions: permissions))
            }
            allKeys = false
        } else if op.first == UInt8(ascii: "&") {
            if allChannels { return .channelsAfterAll }
            let pattern = Array(op.dropFirst())
            if aclHasSpaces(pattern) { return .syntax }
            if !channels.contains(pattern) { channels.append(pattern) }
            allChannels = false
        } else if op.count >= 2 && (op[0] == UInt8(ascii: "+") || op[0] == UInt8(ascii: "-")) && op[1] == UInt8(ascii: "@") {
            guard let mask = ACLCategory.mask(named: Array(lower.dropFirst(2))) else { return .unknownCommand }
            setCategory(mask, op[0] == UInt8(ascii: "+"), registry: registry)
        } else if op.first == UInt8(ascii: "+") {
            let name = Array(op.dropFirst())
            guard let bar = name.lastIndex(of: UInt8(ascii: "|")) else {
                guard let command = registry.lookup(name) else { return .unknownCommand }
                changePermission(command, true)
                return nil
            }
            guard let command = registry.lookup(Array(name[..<bar])) else { return .unknownCommand }
            if command.parent != nil { return .firstArgOfSubcommand }
            let sub = Array(name[(bar + 1)...])
            if sub.isEmpty { return .syntax }
            if command.hasSubcommands {
                guard let subcommand = registry.lookup(name) else { return .unknownCommand }
                changePermission(subcommand, true)
            } else {
                var list = firstArgs[command.aclID] ?? []
                if !list.contains(where: { $0.map(asciiLower) == sub.map(asciiLower) }) { list.append(sub) }
                firstArgs[command.aclID] = list
            }
        } else if op.first == UInt8(ascii: "-") {
            guard let command = registry.lookup(Array(op.dropFirst())) else { return .unknownCommand }
            changePermission(command, false)
        } else {
            return .syntax
        }
        return nil
    }

    // MARK: - Description (ACL LIST, GETUSER, SAVE)

    /// Redis 7.0's ACLDescribeSelectorCommandRules: `+@all` or `-@all`, then the categories that fit best
    /// (each round, among the categories not used yet, the one agreeing with the bitmap on more commands
    /// than it disagrees, disagreeing least, agreeing most on ties), then the single commands still
    /// different, then allowed first arguments. Redis walks its command dictionary in hash order, which
    /// changes with each process's random seed; we walk the commands in name order.
    func describeCommandRules(registry: ACLCommandRegistry) -> String {
        var rules: [String] = []
        let additive = !canRunFutureCommands
        var fake = ACLSelector(root: false, registry: registry, allChannels: false)
        _ = fake.apply(Array((additive ? "-@all" : "+@all").utf8), registry: registry)
        rules.append(additive ? "-@all" : "+@all")
        var temp = self
        var applied = Set<Int>()
        while true {
            var best = -1
            var minDiff = Int.max
            var maxSame = 0
            for (j, category) in ACLCategory.all.enumerated() where !applied.contains(j) {
                var on = 0, off = 0
                for command in registry.describeCounted where command.aclCategoryMask & category.mask != 0 {
                    if temp.bit(command.aclID) { on += 1 } else { off += 1 }
                }
                let diff = additive ? off : on
                let same = additive ? on : off
                if same > diff && (diff < minDiff || (diff == minDiff && same > maxSame)) {
                    best = j
                    minDiff = diff
                    maxSame = same
                }
            }
            if best < 0 { break }
            let category = ACLCategory.all[best]
            fake.setCategory(category.mask, additive, registry: registry)
            temp.setCategory(category.mask, !additive, registry: registry)
            rules.append((additive ? "+@" : "-@") + category.name)
            applied.insert(best)
        }
        for command in registry.topLevel {
            describeSingle(command, &fake, &rules)
            // 7.2's subcommands (CLIENT SETINFO, NO-TOUCH): a grant is written (so ACL SAVE keeps a rule that
            // allowed one), a denial is not, so descriptions stay as 7.0 writes them ("+client -client|id ..."
            // where 7.2 would add "-client|setinfo"); after a reload such a user may set its client info.
            for sub in command.sortedSubcommands
            where !registry.newerThan70.contains(sub.aclID) || (bit(sub.aclID) && !fake.bit(sub.aclID)) {
                describeSingle(sub, &fake, &rules)
            }
            if !bit(command.aclID), let args = firstArgs[command.aclID] {
                for arg in args { rules.append("+" + command.fullName + "|" + String(decoding: arg, as: UTF8.self)) }
            }
        }
        return rules.joined(separator: " ")
    }

    private func describeSingle(_ command: Command, _ fake: inout ACLSelector, _ rules: inout [String]) {
        let mine = bit(command.aclID)
        guard mine != fake.bit(command.aclID) else { return }
        rules.append((mine ? "+" : "-") + command.fullName)
        fake.changePermission(command, mine)
    }

    /// The key patterns as ACL LIST writes them (`~p`, `%R~p`, `%W~p`).
    var keyPatternWords: [String] {
        if allKeys { return ["~*"] }
        return patterns.map { pattern in
            let prefix = pattern.permissions == ACLSelector.allPermissions ? "~"
                : pattern.permissions == ACLSelector.readPermission ? "%R~" : "%W~"
            return prefix + String(decoding: pattern.pattern, as: UTF8.self)
        }
    }

    var channelWords: [String] {
        allChannels ? ["&*"] : channels.map { "&" + String(decoding: $0, as: UTF8.self) }
    }

    /// Redis's ACLDescribeSelector: keys, channels (with `resetchannels` first unless all), command rules.
    func describe(registry: ACLCommandRegistry) -> String {
        var words = keyPatternWords
        if !allChannels { words.append("resetchannels") }
        words += channelWords
        words.append(describeCommandRules(registry: registry))
        return words.joined(separator: " ")
    }

    // MARK: - Checks

    /// Redis's ACLCheckChannelAgainstList: a pattern subscription must name an allowed pattern literally.
    func allowsChannel(_ channel: UnsafeRawBufferPointer, isPattern: Bool) -> Bool {
        allChannels || Self.allowsChannel(channel, isPattern: isPattern, in: channels)
    }

    static func allowsChannel(_ channel: UnsafeRawBufferPointer, isPattern: Bool, in channels: [[UInt8]]) -> Bool {
        for allowed in channels {
            let ok = allowed.withUnsafeBytes { p in
                isPattern ? bytesEqual(p, channel) : globMatch(pattern: p, string: channel, caseInsensitive: false)
            }
            if ok { return true }
        }
        return false
    }
}

/// Why a rule was refused (Redis's errno values and ACLSetUserStringError's texts).
enum ACLRuleError: Error {
    case unknownCommand, syntax, keysAfterAll, channelsAfterAll, noSuchPassword, badHash, duplicateUser
    case firstArgOfSubcommand

    var text: String {
        switch self {
        case .unknownCommand: return "Unknown command or category name in ACL"
        case .syntax: return "Syntax error"
        case .keysAfterAll:
            return "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns"
        case .channelsAfterAll:
            return "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels"
        case .noSuchPassword: return "The password you are trying to remove from the user does not exist"
        case .badHash: return "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters"
        case .duplicateUser: return "Duplicate user found. A user can only be defined once in config files"
        case .firstArgOfSubcommand: return "Allowing first-arg of a subcommand is not supported"
        }
    }
}

/// Spaces (as C's isspace) or NUL bytes: not allowed in user names and patterns.
func aclHasSpaces(_ bytes: [UInt8]) -> Bool {
    bytes.contains { $0 == 0 || $0 == 32 || ($0 >= 9 && $0 <= 13) }
}

/// Redis's ACL categories, in its order (ACL CAT lists them so; describe tries them so).
struct ACLCategory {
    let name: String
    let mask: UInt32

    static let names = ["keyspace", "read", "write", "set", "sortedset", "list", "hash", "string", "bitmap",
                        "hyperloglog", "geo", "stream", "pubsub", "admin", "fast", "slow", "blocking", "dangerous",
                        "connection", "transaction", "scripting"]
    static let all: [ACLCategory] = names.enumerated().map { ACLCategory(name: $0.element, mask: 1 << UInt32($0.offset)) }

    static func mask(named name: [UInt8]) -> UInt32? {
        let lower = String(decoding: name.map(asciiLower), as: UTF8.self)
        return all.first { $0.name == lower }?.mask
    }

    /// The mask of categories named as COMMAND INFO lists them ("@read", ...).
    static func mask(of categories: [String]) -> UInt32 {
        var mask: UInt32 = 0
        for category in categories {
            if let m = ACLCategory.mask(named: Array(category.dropFirst().utf8)) { mask |= m }
        }
        return mask
    }
}

/// Every command and subcommand with its bit number, as ACL sees the table.
final class ACLCommandRegistry {
    /// Containers and subcommands alike, containers first, each followed by nothing else (name order).
    let commands: [Command]
    let topLevel: [Command]
    /// The commands whose bits `describeCommandRules` counts when choosing categories.
    let describeCounted: [Command]
    /// Redis 7.2's subcommands (CLIENT SETINFO, CLIENT NO-TOUCH), which 7.0's descriptions do not know.
    let newerThan70: Set<Int>
    let wordCount: Int

    /// Top-level commands by their own names: ACL rules name commands as Redis's ACL does, by their original
    /// names even after `rename-command`.
    private let byName: [String: Command]

    init(table: CommandTable) {
        let top = table.all
        topLevel = top.sorted { $0.name < $1.name }
        byName = Dictionary(uniqueKeysWithValues: topLevel.map { ($0.name, $0) })
        var list: [Command] = []
        for command in topLevel {
            list.append(command)
            list.append(contentsOf: command.sortedSubcommands)
        }
        for (id, command) in list.enumerated() { command.aclID = id }
        for command in list {
            command.aclSubcommandIDs = command.sortedSubcommands.map(\.aclID)
            command.aclCategoryMask = ACLCategory.mask(of: aclCategories(of: command))
            command.aclKeys = ACLKeyPlan(command)
            switch command.fullName {
            case "publish", "spublish": command.aclChannels = .publish
            case "subscribe", "ssubscribe": command.aclChannels = .subscribe
            case "psubscribe": command.aclChannels = .patternSubscribe
            default: break
            }
        }
        commands = list
        // 7.2's additions are left out of the best-fit counts, so descriptions read as 7.0 writes them.
        let newer = Set(list.filter { ["client|no-touch", "client|setinfo"].contains($0.fullName) }.map(\.aclID))
        newerThan70 = newer
        describeCounted = list.filter { !newer.contains($0.aclID) }
        wordCount = list.count / 64 + 1  // the last word's top bit: "future commands" (+@all)
        precondition(list.count < wordCount * 64 - 1)
    }

    /// A command ("get") or subcommand ("config|get") by name, case-insensitively (Redis's ACLLookupCommand).
    func lookup(_ name: [UInt8]) -> Command? {
        let parts = name.split(separator: UInt8(ascii: "|"), omittingEmptySubsequences: false)
        guard parts.count <= 2, !parts[0].isEmpty else { return nil }
        guard let command = byName[String(decoding: parts[0].map(asciiLower), as: UTF8.self)] else { return nil }
        guard parts.count == 2 else { return command }
        guard command.hasSubcommands else { return nil }
        return Array(parts[1]).withUnsafeBytes { command.subcommand(named: $0) }
    }
}

/// How the ACL check finds a command's keys without allocating, for the common shape (one spec from a
/// fixed index over a range: GET, SET, MGET, MSET, HSET...); other commands go through `keyPositions`.
struct ACLKeyPlan {
    enum Shape { case none, range(first: Int, last: Int, step: Int), general }
    let shape: Shape
    let permissions: UInt8
    /// SET: read permission too when a GET option follows (Redis's setGetKeys).
    let setGet: Bool

    static let empty = ACLKeyPlan(shape: .none, permissions: 0, setGet: false)

    private init(shape: Shape, permissions: UInt8, setGet: Bool) {
        self.shape = shape
        self.permissions = permissions
        self.setGet = setGet
    }

    init(_ command: Command) {
        let specs = keySpecs(of: command).filter { !$0.flags.contains("not_key") }
        setGet = command.fullName == "set"
        guard !specs.isEmpty else {
            shape = command.fullName == "sort" ? .general : .none
            permissions = 0
            return
        }
        if specs.count == 1, case .index(let first) = specs[0].begin, case .range(let last, let step, 0) = specs[0].find,
           !specs[0].flags.contains("incomplete"), command.fullName != "sort", !hasArgumentDependentKeyFlags(command) {
            shape = .range(first: first, last: last, step: max(1, step))
            permissions = ACLKeyPlan.permissions(specs[0].flags)
        } else {
            shape = .general
            permissions = 0
        }
    }

    /// Where a `.range` plan's keys lie in a request of `argc` arguments (every `step`-th from the lower
    /// bound), or nil when they do not all fit (the request then names no keys, as COMMAND GETKEYS finds).
    @inline(__always) static func keyPositions(first: Int, lastKey: Int, argc: Int) -> ClosedRange<Int>? {
        let last = lastKey >= 0 ? first + lastKey : argc + lastKey
        return first < argc && last < argc && first <= last ? first...last : nil
    }

    /// Redis's mapping: ACCESS reads; INSERT, DELETE and UPDATE write.
    static func permissions(_ flags: [String]) -> UInt8 {
        var p: UInt8 = 0
        if flags.contains("access") { p |= ACLSelector.readPermission }
        if flags.contains("insert") || flags.contains("delete") || flags.contains("update") { p |= ACLSelector.writePermission }
        return p
    }
}

/// How a command names Pub/Sub channels, for the ACL's channel check (Redis's getChannelsFromCommand with
/// the publish and subscribe flags; unsubscribing is never refused).
enum ACLChannelUse { case none, publish, subscribe, patternSubscribe }

